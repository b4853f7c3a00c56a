"""The emulator is an independent oracle: it must not share code with the client side it tests.

Every module under ``qbo_toolkit/emulator/`` may import the standard library, third-party packages
other than the QBO client stack, and its own package; nothing else of ``qbo_toolkit``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import qbo_toolkit.emulator

PACKAGE = "qbo_toolkit.emulator"
PACKAGE_DIR = Path(qbo_toolkit.emulator.__file__).parent
CLIENT_STACK = frozenset({"quickbooks", "intuitlib", "requests_oauthlib", "oauthlib"})
MODULES = sorted(PACKAGE_DIR.rglob("*.py"))
OUTSIDE = "<relative import above the top-level package>"


def package_of(path: Path) -> str:
    """The dotted package a module file belongs to (its own name for an ``__init__.py``)."""
    parts = path.relative_to(PACKAGE_DIR.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1])


def imports(source: str, package: str) -> list[tuple[int, str]]:
    """(line, absolute dotted name) of everything ``source`` imports, relative imports resolved.

    ``from X import y`` yields both ``X`` and ``X.y``, since ``y`` may be a module.
    """
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                if node.level - 1 >= len(base):
                    found.append((node.lineno, OUTSIDE))
                    continue
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names if alias.name != "*"]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
            found.append((node.lineno, "<dynamic __import__>"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr == "import_module":
            found.append((node.lineno, "<dynamic importlib.import_module>"))
    return found


def violations(source: str, package: str) -> list[tuple[int, str]]:
    bad = []
    for line, name in imports(source, package):
        top = name.split(".")[0]
        if name.startswith("<") or top in CLIENT_STACK:
            bad.append((line, name))
        elif top == "qbo_toolkit" and name != PACKAGE and not name.startswith(PACKAGE + "."):
            bad.append((line, name))
    return bad


def test_every_emulator_module_is_checked() -> None:
    names = {p.name for p in MODULES}
    assert {"__init__.py", "server.py", "company.py", "oauth.py", "qsql.py", "store.py", "seed.py"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE_DIR)))
def test_imports_stay_inside_the_emulator(path: Path) -> None:
    bad = violations(path.read_text(encoding="utf-8"), package_of(path))
    assert not bad, f"{path.name} imports from outside the emulator: {bad}"


def test_the_check_can_fail() -> None:
    source = "\n".join((
        "from __future__ import annotations",
        "import json",
        "from . import faults",
        "from .clock import Clock",
        "from qbo_toolkit.emulator.store import Store",
        "from .. import auth",
        "from ..qbo.client import Client",
        "from .... import beyond",
        "import qbo_toolkit.errors",
        "from qbo_toolkit import paths",
        "import quickbooks.objects",
        "from intuitlib.client import AuthClient",
        "import requests_oauthlib",
        "from oauthlib.oauth2 import WebApplicationClient",
        "mod = __import__('qbo_toolkit.qbo')",
    ))
    bad = {name for _, name in violations(source, PACKAGE)}
    assert bad >= {"qbo_toolkit.auth", "qbo_toolkit.qbo.client", OUTSIDE, "qbo_toolkit.errors",
                   "qbo_toolkit.paths", "quickbooks.objects", "intuitlib.client", "requests_oauthlib",
                   "oauthlib.oauth2", "<dynamic __import__>"}
    assert not {n for n in bad if n.startswith(PACKAGE)} and "json" not in bad
