"""A synced small business against a real emulator, for the history and sign-off tests, and QBO
changes made over raw HTTP (an OAuth session of its own, as another app or a person in QuickBooks
would: nothing of the toolkit's client).

The demo business is synced once; what it leaves pending (held customer matches) is simply part of
every run's differences and does not change between runs. Tests pick their records from the data
(linked invoices and their dates), never from the demo's fixed dates.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from clientkit import connect
from requests_oauthlib import OAuth2Session

from qbo_toolkit.connection import Connection
from qbo_toolkit.emulator import EmulatorServer
from qbo_toolkit.recon import ReconResult, reconcile_live
from qbo_toolkit.settings import Settings
from qbo_toolkit.sync.state import SyncState
from qbo_toolkit.work.models import Invoice
from qbo_toolkit.work.store import WorkStore

INTEGRATION = date(2026, 1, 1)
SETTINGS = Settings(invoices=True, revenue_account="1", item_account="9", payments=True, deposit_account="4",
                    integration_date=INTEGRATION, name_policy="fix", existing_items="use_as_is")


class RawQbo:
    """QBO's v3 API over plain HTTP with its own OAuth session."""

    def __init__(self, emu: EmulatorServer) -> None:
        self.emu = emu
        self.session: OAuth2Session = connect(emu)
        self.base = f"{emu.info['api_base_url']}/company/{emu.info['realm_id']}"

    def _json(self, reply: Any) -> dict[str, Any]:
        assert reply.status_code == 200, reply.text
        return dict(reply.json())

    def read(self, entity: str, id_: str) -> dict[str, Any]:
        reply = self.session.get(f"{self.base}/{entity.lower()}/{id_}", headers={"Accept": "application/json"},
                                 timeout=30)
        return dict(self._json(reply)[entity])

    def sparse_update(self, entity: str, id_: str, **fields: Any) -> dict[str, Any]:
        """Read the record for its SyncToken, then a sparse update of ``fields``."""
        current = self.read(entity, id_)
        body = {"Id": id_, "SyncToken": current["SyncToken"], "sparse": True, **fields}
        reply = self.session.post(f"{self.base}/{entity.lower()}", data=json.dumps(body),
                                  headers={"Accept": "application/json", "Content-Type": "application/json"},
                                  timeout=30)
        return dict(self._json(reply)[entity])


@dataclass
class Business:
    emu: EmulatorServer
    conn: Connection
    store: WorkStore
    qbo: RawQbo
    home: Path

    @property
    def realm(self) -> str:
        return self.conn.realm_id

    def reconcile(self, as_of: date) -> ReconResult:
        return reconcile_live(self.conn, self.store, as_of=as_of, settings=SETTINGS, tie_out=False)

    def linked_invoices(self) -> list[tuple[Invoice, str]]:
        """Open WORK invoices with their QBO Id, by id."""
        links = SyncState(self.store, self.realm).links("invoice")
        return [(inv, links[inv.id].qbo_id) for inv in self.store.invoices()
                if inv.id in links and inv.status == "open"]

    @staticmethod
    def next_second() -> None:
        """Wait for the wall clock's next whole second (at most one second): QBO stamps whole
        seconds, and a change the sign-off asks QBO about must be stamped after the run's second.
        (QBO's clock is not moved: the sign-off compares it with ours.)"""
        now = time.time()
        time.sleep(math.floor(now) + 1.02 - now)
