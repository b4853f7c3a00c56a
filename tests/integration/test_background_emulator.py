"""An emulator the toolkit starts in the background is recorded, and stopped on request.

The emulator is started through the toolkit's own path (``emulator_info()`` with no emulator
running in the scratch toolkit home), as the first connect or job of a new user does.
"""

from __future__ import annotations

import json
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

from qbo_toolkit.auth.local import background_emulators, emulator_info, is_alive, stop_background_emulators
from qbo_toolkit.paths import toolkit_home

psutil = pytest.importorskip("psutil")


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_a_background_emulator_is_recorded_and_stopped() -> None:
    info = emulator_info()  # none runs in this home: the toolkit starts one in the background
    record_file = toolkit_home() / "emulator" / "background.json"
    try:
        assert is_alive(info)
        assert stat.S_IMODE(record_file.stat().st_mode) == 0o600
        (record,) = background_emulators()
        pid, port = record["pid"], record["port"]
        assert str(port) in info["base_url"] and record["data_dir"].startswith(str(toolkit_home()))
        assert record["started_at"] <= time.time()
        assert "emulator" in " ".join(psutil.Process(pid).cmdline())
        assert emulator_info() == info  # the next command reuses it: still one record
        assert len(background_emulators()) == 1
        assert not _port_free(port)
    finally:
        lines = stop_background_emulators()
    assert lines == [f"stopped the emulator pid {pid} on port {port}"]
    deadline = time.monotonic() + 30
    while not (_gone(pid) and _port_free(port)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _gone(pid) and _port_free(port)
    assert not is_alive(info)
    assert json.loads(record_file.read_text()) == {"emulators": []}
    assert stop_background_emulators() == ["no background emulator is running"]


def test_stale_records_are_dropped_and_another_program_is_never_touched(tmp_path: Path) -> None:
    stranger = subprocess.Popen(["sleep", "300"])
    dead = subprocess.Popen(["true"])
    dead.wait()
    try:
        folder = toolkit_home() / "emulator"
        folder.mkdir(parents=True, exist_ok=True)
        now = time.time()
        (folder / "background.json").write_text(json.dumps({"emulators": [
            {"pid": stranger.pid, "port": 8760, "data_dir": str(folder / "data"), "spawned_at": now,
             "started_at": now},
            {"pid": dead.pid, "port": 8761, "data_dir": str(folder / "data"), "spawned_at": now, "started_at": now},
        ]}))
        assert background_emulators() == []
        assert stop_background_emulators() == ["no background emulator is running"]
        assert stranger.poll() is None  # still running: it was not the emulator
        assert json.loads((folder / "background.json").read_text()) == {"emulators": []}
    finally:
        stranger.kill()
        stranger.wait()


def test_the_emulator_the_toolkit_starts_registers_the_chosen_redirect_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    from qbo_toolkit.connection import start_connect

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    chosen = f"http://127.0.0.1:{port}/callback"
    monkeypatch.setenv("QBO_REDIRECT_URI", chosen)
    monkeypatch.delenv("QBO_EMULATOR_INFO", raising=False)
    try:
        info = emulator_info()
        assert chosen in info["redirect_uris"] and "http://127.0.0.1:8765/callback" in info["redirect_uris"]
        attempt = start_connect("local")  # listens on the chosen port, which the emulator accepts
        try:
            assert attempt.listening and attempt.pending.credentials.redirect_uri == chosen
        finally:
            attempt.cancel()
    finally:
        stop_background_emulators()


def test_an_emulator_started_elsewhere_is_named_not_stopped() -> None:
    from qbo_toolkit.emulator import EmulatorConfig, serve

    info_file = toolkit_home() / "emulator" / "info.json"
    info_file.parent.mkdir(parents=True, exist_ok=True)
    with serve(EmulatorConfig(info_file=str(info_file))) as emu:  # not the toolkit's: no record
        (line,) = stop_background_emulators()
        assert "no background emulator started by the toolkit" in line and emu.base_url in line
        assert is_alive(emu.info)
