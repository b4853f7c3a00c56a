"""Fixtures for the client against a real emulator over HTTP on 127.0.0.1.

Every test gets a fresh emulator (fresh seed company, fresh request log) and a client built on a
``requests_oauthlib.OAuth2Session`` holding a token from a real authorization-code exchange. Both
sides run with ``clientkit.TIME_SCALE`` (a QBO minute lasts 60 / TIME_SCALE real seconds), so
rate-limit windows and backoff stay short; throttling tests pick their own scale and limits.

Known emulator gaps that matter here are listed in ``qbo_toolkit/emulator/README.md``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from clientkit import TIME_SCALE, make_client
from historykit import SETTINGS as HISTORY_SETTINGS
from historykit import Business, RawQbo

from qbo_toolkit.emulator import EmulatorConfig, EmulatorServer, serve
from qbo_toolkit.qbo.client import QboClient
from qbo_toolkit.qbo.transport import reset_limiters


@pytest.fixture
def _client_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """requests-oauthlib refuses plain http, and the emulator is loopback only: allow it for this
    test. Each test's emulator starts with empty windows, so must the client's per-realm limiter.
    (Not autouse: other tests in this directory bring their own fixtures.)"""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    reset_limiters()
    yield
    reset_limiters()


@pytest.fixture
def start_emulator(_client_env: None) -> Iterator[Callable[..., EmulatorServer]]:
    """Start an emulator with config overrides (auto-approve on); stopped after the test."""
    with ExitStack() as stack:

        def start(**overrides: Any) -> EmulatorServer:
            config = EmulatorConfig(auto_approve=True, time_scale=TIME_SCALE)
            for key, value in overrides.items():
                setattr(config, key, value)
            return stack.enter_context(serve(config))

        yield start


@pytest.fixture
def emu(start_emulator: Callable[..., EmulatorServer]) -> EmulatorServer:
    return start_emulator()


@pytest.fixture
def client(emu: EmulatorServer) -> QboClient:
    return make_client(emu)


@pytest.fixture
def history_business(start_emulator: Callable[..., EmulatorServer], tmp_path: Path,
                     monkeypatch: pytest.MonkeyPatch) -> Iterator[Business]:
    """The history and sign-off tests' small business (``historykit``): an emulator connected as the
    app connects (``QBO_EMULATOR_INFO``), a SQLite WORK store with the demo's 20 clients, 40 invoices
    and 24 payments, synced once with ``historykit.SETTINGS``."""
    from qbo_toolkit.connection import connect_headless
    from qbo_toolkit.sync.engine import SyncEngine
    from qbo_toolkit.work.demo import generate_demo
    from qbo_toolkit.work.store import WorkStore

    emu = start_emulator(time_scale=60.0)
    info = tmp_path / "emulator.json"
    info.write_text(json.dumps(emu.info))
    monkeypatch.setenv("QBO_EMULATOR_INFO", str(info))
    conn = connect_headless()
    store = WorkStore(f"sqlite:///{tmp_path / 'work.sqlite3'}")
    generate_demo(store, clients=20, invoices=40, payments=24, integration_date=HISTORY_SETTINGS.integration_date)
    SyncEngine(store, conn.client, HISTORY_SETTINGS).run()
    yield Business(emu, conn, store, RawQbo(emu), tmp_path)
    store.close()
