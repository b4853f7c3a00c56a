"""Shared test isolation: every test gets its own toolkit home and no QBO_* settings from the machine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolate_environment(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("QBO_"):
            monkeypatch.delenv(name, raising=False)
    home: Path = tmp_path_factory.mktemp("qbo-home")
    monkeypatch.setenv("QBO_TOOLKIT_HOME", str(home))
    yield
