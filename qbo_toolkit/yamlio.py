"""Reading the YAML a person writes (settings, job parameters), strictly, with errors that point.

* :func:`read_yaml_mapping` reads a file that must hold a mapping. Dates stay strings (no implicit
  timestamps: they are parsed explicitly by whoever knows the key). A syntax error names the file,
  line and column; a missing file, a folder, an unreadable or non-UTF-8 file, or a file that holds a
  list or a number each get a sentence naming the file and what to do.
* :func:`unknown_keys` refuses names nobody declared, suggesting the closest valid one
  ("dryrun: did you mean dry_run?").
* :func:`strict_bool` accepts a YAML boolean only: ``'no'`` or ``"false"`` as strings are refused,
  never read as true.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

__all__ = ["NoDatesLoader", "closest", "read_yaml_mapping", "strict_bool", "unknown_keys"]


class NoDatesLoader(yaml.SafeLoader):
    """PyYAML's safe loader without the timestamp resolver: dates stay strings, parsed explicitly."""


NoDatesLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _where(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is None:
        return ""
    return f" at line {mark.line + 1}, column {mark.column + 1}"


def read_yaml_mapping(path: str | Path, what: str = "parameters") -> dict[str, Any]:
    """The mapping a YAML file holds (an empty file is an empty mapping); ConfigError otherwise."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{what} file {path} does not exist; check the path", path=str(path))
    if path.is_dir():
        raise ConfigError(f"{what} file {path} is a folder; give the path of a YAML file", path=str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{what} file {path} is not UTF-8 text; save it as UTF-8 YAML", path=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} file {path} ({exc.strerror or type(exc).__name__}); check its "
                          "permissions", path=str(path)) from None
    if "\x00" in text:
        raise ConfigError(f"{what} file {path} holds a NUL byte; it is not a YAML text file", path=str(path))
    try:
        data = yaml.load(text, Loader=NoDatesLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"{what} file {path} is not valid YAML{_where(exc)}: {problem}; fix it there",
                          path=str(path)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{what} file {path} must hold a mapping of names to values (name: value, one per "
                          f"line), not a {type(data).__name__}", path=str(path))
    bad = [k for k in data if not isinstance(k, str)]
    if bad:
        raise ConfigError(f"{what} file {path}: {bad[0]!r} is not a name; names are words such as dry_run",
                          path=str(path))
    return data


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The valid name a typo most likely meant, if any is close."""
    options = list(choices)
    folded = {c.replace("_", "").replace("-", "").lower(): c for c in options}
    key = str(name).replace("_", "").replace("-", "").lower()
    if key in folded:
        return folded[key]
    match = difflib.get_close_matches(str(name), options, n=1, cutoff=0.6)
    return match[0] if match else None


def unknown_keys(data: Mapping[str, Any], known: Iterable[str], what: str) -> list[str]:
    """A sentence for each key not in ``known`` ("dryrun: did you mean dry_run?")."""
    known = sorted(known)
    out = []
    for key in data:
        if key in known:
            continue
        guess = closest(str(key), known)
        hint = f"did you mean {guess}?" if guess else f"{what} takes {', '.join(known)}"
        out.append(f"unknown {what} {key!r}: {hint}")
    return out


def strict_bool(value: Any, name: str, *, path: str | None = None) -> bool:
    """A boolean written as one (true/false); anything else, ``'no'`` included, is refused."""
    if isinstance(value, bool):
        return value
    raise ConfigError(f"{name} must be true or false (without quotes), not {value!r}", path=path, key=name)
