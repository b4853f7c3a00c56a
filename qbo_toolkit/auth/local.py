"""The ``local`` environment: find the running emulator, or start one and record where it runs.

The emulator runs as its own process (``python -m qbo_toolkit.emulator``), so the toolkit talks to
it over HTTP exactly as it would to Intuit; nothing here imports the emulator. Its info line is
kept at ``<toolkit home>/emulator/info.json`` so that a notebook and a papermill job share it.

An emulator started here runs in the background and outlives the command or notebook that
started it (the next one reuses it). Each one is recorded in ``<toolkit home>/emulator/
background.json`` (0600: pid, port, data folder, start time), and
:func:`stop_background_emulators` (``qbo-toolkit emulator stop``) stops them: it checks that the
pid is still that emulator (its command line and start time) before it sends SIGTERM, and drops
the records of emulators that are gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import requests

from ..errors import ConfigError
from ..files import private_dir, write_private_text
from ..paths import toolkit_home

__all__ = ["DEFAULT_PORT", "background_emulators", "emulator_info", "is_alive", "stop_background_emulators"]

DEFAULT_PORT: Final = 8760
START_TIMEOUT: Final = 20.0
STOP_TIMEOUT: Final = 15.0  # seconds for a graceful stop (requests in flight finish) before SIGKILL
RECORD_NAME: Final = "background.json"
# the emulator's own defaults (it is not imported here); the first is the callback the toolkit listens on
EMULATOR_REDIRECT_URIS: Final = ("http://127.0.0.1:8765/callback", "http://localhost:8765/callback")


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
    private_dir(folder)
    path.unlink(missing_ok=True)
    log = (folder / "emulator.log").open("ab")
    data_dir = folder / "data"
    command = [sys.executable, "-m", "qbo_toolkit.emulator", "--data-dir", str(data_dir),
               "--info-file", str(path), *_redirect_args(), "--port", str(DEFAULT_PORT)]
    spawned_at = time.time()
    process = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL,  # noqa: S603
                               start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        info = _load(path)
        if info is not None and is_alive(info):
            _record(folder, {"pid": process.pid, "port": urlsplit(str(info.get("base_url", ""))).port,
                             "data_dir": str(data_dir), "info_file": str(path), "spawned_at": spawned_at,
                             "started_at": time.time(), "log": str(folder / "emulator.log")})
            return info
        if process.poll() is not None:
            if "--port" in command and command[-1] != "0":  # the default port is taken: any free port
                command[-1] = "0"
                spawned_at = time.time()
                process = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL,  # noqa: S603
                                           start_new_session=True)
                continue
            break
        time.sleep(0.1)
    if process.poll() is None:  # it never answered: leave nothing running behind the error
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
    raise ConfigError(f"the local emulator did not start; see {folder / 'emulator.log'}", path=str(folder))


def _redirect_args() -> list[str]:
    """``--redirect-uri`` for QBO_REDIRECT_URI (another callback port), beside the emulator's defaults."""
    chosen = os.environ.get("QBO_REDIRECT_URI", "").strip()
    if not chosen or chosen in EMULATOR_REDIRECT_URIS:
        return []
    return [arg for uri in (*EMULATOR_REDIRECT_URIS, chosen) for arg in ("--redirect-uri", uri)]


# ------------------------------------------------------------------ the record of background emulators


def _record_path() -> Path:
    return toolkit_home() / "emulator" / RECORD_NAME


@contextlib.contextmanager
def _records_locked(folder: Path) -> Iterator[list[dict[str, Any]]]:
    """The records, under an exclusive lock; what the block leaves in the list is written back (0600)."""
    private_dir(folder)
    path = folder / RECORD_NAME
    with open(folder / (RECORD_NAME + ".lock"), "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            data = json.loads(path.read_text())
            records = [r for r in data.get("emulators", []) if isinstance(r, dict)] if isinstance(data, dict) else []
        except (OSError, ValueError):
            records = []
        before = json.dumps(records)
        yield records
        if json.dumps(records) != before:
            write_private_text(path, json.dumps({"emulators": records}, indent=2) + "\n")


def _record(folder: Path, record: dict[str, Any]) -> None:
    with _records_locked(folder) as records:
        records[:] = [r for r in records if r.get("pid") != record["pid"]] + [record]


def background_emulators() -> list[dict[str, Any]]:
    """The recorded background emulators that still run (pid, port, data_dir, started_at, ...)."""
    with _records_locked(_record_path().parent) as records:
        return [dict(r) for r in records if _is_that_emulator(r)]


def _cmdline(pid: int) -> str | None:
    """The command line of ``pid``, or None when no such process runs (a zombie counts as gone)."""
    proc = Path(f"/proc/{pid}")
    if proc.is_dir():
        try:
            if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return None
            return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        except (OSError, IndexError):
            return None
    if Path("/proc/self").is_dir():  # Linux, and the process is gone
        return None
    try:  # elsewhere (macOS): ask ps
        answer = subprocess.run(["ps", "-o", "stat=,args=", "-p", str(pid)], capture_output=True,  # noqa: S603,S607
                                text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    line = answer.stdout.strip()
    if answer.returncode != 0 or not line or line.startswith("Z"):
        return None
    return line.split(None, 1)[1] if " " in line else ""


def _started_at(pid: int) -> float | None:
    """When ``pid`` started (epoch seconds), where the system says (Linux); else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22 of stat: start time in clock ticks after boot
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _is_that_emulator(record: dict[str, Any]) -> bool:
    """True when the recorded pid is still the emulator that was recorded (not a reused pid)."""
    try:
        pid = int(record["pid"])
    except (KeyError, TypeError, ValueError):
        return False
    command = _cmdline(pid)
    if command is None or "emulator" not in command or str(record.get("data_dir", "")) not in command:
        return False
    started = _started_at(pid)
    spawned = record.get("spawned_at")
    if started is not None and isinstance(spawned, (int, float)):
        recorded = float(record.get("started_at", spawned))
        return spawned - 2.0 <= started <= recorded + 2.0  # boot time and ticks are rounded
    return True


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _cmdline(pid) is None:
            return True
        time.sleep(0.1)
    return _cmdline(pid) is None


def stop_background_emulators(timeout: float = STOP_TIMEOUT) -> list[str]:
    """Stop every emulator the toolkit started in the background for this toolkit home.

    Returns one sentence per emulator stopped ("stopped the emulator pid N on port P"), or
    ``["no background emulator is running"]``. A record whose pid is gone, or is now another
    program, is dropped without touching that program. Each emulator gets SIGTERM (requests in
    flight finish, its store closes), and SIGKILL after ``timeout`` seconds.
    """
    folder = _record_path().parent
    lines: list[str] = []
    with _records_locked(folder) as records:
        for record in list(records):
            records.remove(record)
            if not _is_that_emulator(record):
                continue
            pid, port = int(record["pid"]), record.get("port")
            try:
                os.kill(pid, signal.SIGTERM)
                if not _wait_gone(pid, timeout):
                    os.kill(pid, signal.SIGKILL)
                    _wait_gone(pid, 5.0)
            except ProcessLookupError:
                pass
            except PermissionError:
                records.append(record)
                lines.append(f"cannot stop the emulator pid {pid} on port {port}: it belongs to another user")
                continue
            info_file = record.get("info_file")
            if info_file:  # a killed emulator leaves its info line behind
                info = _load(Path(info_file))
                if info is not None and not is_alive(info):
                    Path(info_file).unlink(missing_ok=True)
            lines.append(f"stopped the emulator pid {pid} on port {port}")
    if not lines:  # nothing recorded: say so if an emulator this home uses still answers
        info = _load(folder / "info.json")
        if info is not None and is_alive(info):
            return [f"no background emulator started by the toolkit is running, but the emulator at "
                    f"{info.get('base_url')} (data in {info.get('data_dir')}) answers for this toolkit home: stop it "
                    "where it was started (Ctrl-C), or end its process"]
    return lines or ["no background emulator is running"]
