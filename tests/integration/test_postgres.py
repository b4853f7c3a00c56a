"""The WORK store and the sync on PostgreSQL (any SQLAlchemy URL works by configuration).

Runs when ``QBO_TEST_POSTGRES_URL`` names an empty database, e.g.
``postgresql+psycopg://qbo:qbo@127.0.0.1:5432/work`` (Debian's postgresql plus psycopg from PyPI);
skipped otherwise, since CI machines have no PostgreSQL server. (The URL is read when the module is
imported: the tests' autouse fixture clears QBO_* variables before each test.)
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import pytest

from qbo_toolkit.connection import connect_headless
from qbo_toolkit.emulator import EmulatorConfig, serve
from qbo_toolkit.settings import Settings
from qbo_toolkit.sync.engine import SyncEngine
from qbo_toolkit.work.demo import generate_demo
from qbo_toolkit.work.store import WorkStore

URL = os.environ.get("QBO_TEST_POSTGRES_URL", "")


@pytest.mark.skipif(not URL, reason="set QBO_TEST_POSTGRES_URL to an empty PostgreSQL database to run this")
def test_demo_sync_on_postgresql(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = WorkStore(URL)
    assert store.max_revision() == 0, "the PostgreSQL database must be empty"
    generate_demo(store, clients=40, invoices=80, payments=50)
    with serve(EmulatorConfig(auto_approve=True, time_scale=60)) as emu:
        info = tmp_path / "emulator.json"
        info.write_text(json.dumps(emu.info))
        monkeypatch.setenv("QBO_EMULATOR_INFO", str(info))
        conn = connect_headless()
        settings = Settings(invoices=True, revenue_account="1", item_account="9", payments=True,
                            deposit_account="4", integration_date=date(2026, 1, 1))
        first = SyncEngine(store, conn.client, settings).run()
        assert first.counts["ok"] > 100
        second = SyncEngine(store, conn.client, settings).run()
        assert second.counts.get("ok", 0) == 0 and second.requests <= 3
