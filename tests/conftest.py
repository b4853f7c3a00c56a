"""Shared test isolation: every test gets its own toolkit home and no QBO_* settings from the machine."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark_script(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` (run as scripts, not a package) as a module, loaded once."""
    key = f"bench_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, BENCHMARKS / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


@pytest.fixture
def bench_script() -> Callable[[str], ModuleType]:
    """``bench_script("run")``, ``bench_script("chaos")``, ``bench_script("bad_input")``."""
    return load_benchmark_script


@pytest.fixture(autouse=True)
def _isolate_environment(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("QBO_"):
            monkeypatch.delenv(name, raising=False)
    home: Path = tmp_path_factory.mktemp("qbo-home")
    monkeypatch.setenv("QBO_TOOLKIT_HOME", str(home))
    yield
