"""The ``local`` environment: find the running emulator, or start one and record where it runs.

The emulator runs as its own process (``python -m qbo_toolkit.emulator``), so the toolkit talks to
it over HTTP exactly as it would to Intuit; nothing here imports the emulator. Its info line is
kept at ``<toolkit home>/emulator/info.json`` so that a notebook and a papermill job share it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Final

import requests

from ..errors import ConfigError
from ..paths import toolkit_home

__all__ = ["DEFAULT_PORT", "emulator_info", "is_alive"]

DEFAULT_PORT: Final = 8760
START_TIMEOUT: Final = 20.0


def is_alive(info: dict[str, Any], timeout: float = 1.0) -> bool:
    try:
        return requests.get(f"{info['base_url']}/_emulator", timeout=timeout).status_code == 200
    except (requests.RequestException, KeyError):
        return False


def _load(path: Path) -> dict[str, Any] | None:
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def emulator_info(info_file: str | os.PathLike[str] | None = None, *, start: bool = True) -> dict[str, Any]:
    """The info line of a running emulator: from ``info_file``, else the recorded one, else a new one."""
    if info_file:
        path = Path(info_file)
        info = _load(path)
        if info is None or not is_alive(info):
            raise ConfigError(f"no emulator answers for the info file {path}", path=str(path))
        return info
    folder = toolkit_home() / "emulator"
    path = folder / "info.json"
    info = _load(path)
    if info is not None and is_alive(info):
        return info
    if not start:
        raise ConfigError("no local emulator is running: start one with `qbo-toolkit emulator`", path=str(path))
    return _start(folder, path)


def _start(folder: Path, path: Path) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.unlink(missing_ok=True)
    log = (folder / "emulator.log").open("ab")
    command = [sys.executable, "-m", "qbo_toolkit.emulator", "--data-dir", str(folder / "data"),
               "--info-file", str(path), "--port", str(DEFAULT_PORT)]
    process = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL,  # noqa: S603
                               start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        info = _load(path)
        if info is not None and is_alive(info):
            return info
        if process.poll() is not None:
            if "--port" in command and command[-1] != "0":  # the default port is taken: any free port
                command[-1] = "0"
                process = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL,  # noqa: S603
                                           start_new_session=True)
                continue
            break
        time.sleep(0.1)
    raise ConfigError(f"the local emulator did not start; see {folder / 'emulator.log'}", path=str(folder))
