"""The WORK store and the sync on PostgreSQL (any SQLAlchemy URL works by configuration).

Runs when ``QBO_TEST_POSTGRES_URL`` names a PostgreSQL database its role may create schemas in, e.g.
``postgresql+psycopg://qbo:qbo@127.0.0.1:5432/work`` (Debian's postgresql plus psycopg from PyPI;
``scripts/postgres.sh`` starts a throwaway server and prints such a URL); skipped otherwise. Each
test works in a schema of its own (:func:`postgres_schema`: a new, empty one, dropped at the end),
so the database may be used again and again. (The URL is read when the module is imported: the
tests' autouse fixture clears QBO_* variables before each test.)

The lease's tests on PostgreSQL are in ``test_postgres_lease.py`` and use the helpers here.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from qbo_toolkit.connection import connect_headless
from qbo_toolkit.emulator import EmulatorConfig, serve
from qbo_toolkit.qbo.transport import reset_limiters
from qbo_toolkit.settings import Settings
from qbo_toolkit.sync.engine import SyncEngine
from qbo_toolkit.work.demo import generate_demo
from qbo_toolkit.work.store import WorkStore

URL = os.environ.get("QBO_TEST_POSTGRES_URL", "")

needs_postgres = pytest.mark.skipif(
    not URL, reason="set QBO_TEST_POSTGRES_URL to a PostgreSQL database (scripts/postgres.sh starts one) to run this")


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL of ``QBO_TEST_POSTGRES_URL``'s database whose ``search_path`` is a new, empty schema,
    dropped (with everything in it) when the block ends."""
    base = make_url(URL)
    schema = f"qbo_test_{secrets.token_hex(6)}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        options = " ".join(filter(None, [base.query.get("options", ""), f"-csearch_path={schema}"]))
        try:
            yield base.update_query_dict({"options": options}).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                # a connection some test leaked inside a transaction must not hang the run
                conn.execute(sa.text("SET lock_timeout = '20s'"))
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@needs_postgres
def test_demo_sync_on_postgresql(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with postgres_schema() as url:
        reset_limiters()  # this emulator starts with empty windows: so must this process's limiter
        store = WorkStore(url)
        try:
            assert store.max_revision() == 0, "the PostgreSQL schema must be empty"
            generate_demo(store, clients=40, invoices=80, payments=50)
            with serve(EmulatorConfig(auto_approve=True, time_scale=60)) as emu:
                info = tmp_path / "emulator.json"
                info.write_text(json.dumps(emu.info))
                monkeypatch.setenv("QBO_EMULATOR_INFO", str(info))
                conn = connect_headless()
                settings = Settings(invoices=True, revenue_account="1", item_account="9", payments=True,
                                    deposit_account="4", integration_date=date(2026, 1, 1),
                                    existing_items="use_as_is")
                first = SyncEngine(store, conn.client, settings).run()
                assert first.counts["ok"] > 100
                second = SyncEngine(store, conn.client, settings).run()
                assert second.counts.get("ok", 0) == 0 and second.requests <= 3
        finally:
            store.close()
            reset_limiters()
