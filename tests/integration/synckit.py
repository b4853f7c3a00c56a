"""Helpers for the sync's integration tests: a WORK store and a connected emulator, and the checks
every scenario ends with.

``open_world(tmp_path, monkeypatch, ...)`` starts an emulator (auto-approve, ``TIME_SCALE``), writes
its info file, connects headless (a real OAuth exchange), opens a file-backed WORK store (so a
subprocess can share it) and fills it with the demo business. The :class:`World` it yields reads
QBO through the toolkit's client (never the emulator's internals for a decision the sync made), the
emulator's request log, and WORK through the store.

:func:`check_consistent` is the end-state oracle of the crash and fault scenarios: no duplicate and
nothing missing on either side, and every synced invoice's total, tax and balance equal on both.

(A separate module, not ``conftest``: ``from synckit import ...`` cannot pick up another directory's
conftest.)
"""

from __future__ import annotations

import itertools
import json
import os
from collections import Counter, defaultdict
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from qbo_toolkit.connection import Connection, connect_headless
from qbo_toolkit.emulator import EmulatorConfig, EmulatorServer, serve
from qbo_toolkit.mapping.markers import marker_owner
from qbo_toolkit.qbo.query import select
from qbo_toolkit.qbo.transport import reset_limiters
from qbo_toolkit.settings import Settings
from qbo_toolkit.sync.engine import SyncEngine, SyncResult
from qbo_toolkit.sync.state import ActivityEntry, SyncState
from qbo_toolkit.work.demo import DemoSummary, generate_demo
from qbo_toolkit.work.models import Client, cents
from qbo_toolkit.work.store import WorkStore

#: Service seconds per real second: QBO's 40 batches a minute become 40 a second.
TIME_SCALE = 60.0
INTEGRATION_DATE = date(2026, 1, 1)
#: Seed accounts: 1 Services (Income), 9 Subcontractor Costs (COGS), 4 Undeposited Funds, 5 Checking.
#: The seed's items Installation and Parts post to other income accounts: used as they are.
SETTINGS = Settings(invoices=True, revenue_account="1", item_account="9", payments=True, deposit_account="4",
                    integration_date=INTEGRATION_DATE, existing_items="use_as_is")
#: The emulator's seed company: customers 1-10, invoices 1-2 (DocNumber 1001, 1002), payment 1.
SEED_CUSTOMERS = {
    "1": "Amy's Bird Sanctuary", "2": "Bill's Windsurf Shop", "3": "Cool Cars", "4": "Dukes Basketball Camp",
    "5": "Old Shed Co", "6": "Shara Barnett", "7": "Barnett Design", "8": "Sushi by Katsuyuki",
    "9": "O'Brien & Sons Plumbing", "10": "“Green Thumb” Gardens",
}
SEED_INVOICES = {"1", "2"}
SEED_PAYMENTS = {"1"}
#: A demo small enough to be quick that still holds every awkward record.
SMALL_DEMO: dict[str, int] = {"clients": 40, "invoices": 60, "payments": 40}

_request_ids = itertools.count(1)


def money(value: Any) -> Decimal:
    return cents(Decimal(str(value if value not in (None, "") else 0)))


def as_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    return dict(obj.to_dict())


class WorkClock:
    """The WORK store's clock: real time plus an offset a test can move (``newest_wins``)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class World:
    emu: EmulatorServer
    conn: Connection
    store: WorkStore
    url: str
    info_path: Path
    home: Path
    demo: DemoSummary | None
    clock: WorkClock = field(default_factory=WorkClock)

    # -- running the sync ---------------------------------------------------------------------------
    @property
    def realm(self) -> str:
        return self.conn.realm_id

    @property
    def state(self) -> SyncState:
        return SyncState(self.store, self.realm)

    def engine(self, settings: Settings = SETTINGS, **kwargs: Any) -> SyncEngine:
        return SyncEngine(self.store, self.conn.client, settings, **kwargs)

    def sync(self, settings: Settings = SETTINGS, *, dry_run: bool = False, **kwargs: Any) -> SyncResult:
        return self.engine(settings, **kwargs).run(dry_run=dry_run)

    def activity(self, run: SyncResult | None = None, **filters: Any) -> list[ActivityEntry]:
        return self.state.activity(run_id=run.run_id if run is not None else None, **filters)

    def awkward(self, role: str) -> int:
        assert self.demo is not None
        return self.demo.awkward[role]

    # -- QBO through the API --------------------------------------------------------------------------
    def qbo(self, entity: str) -> list[dict[str, Any]]:
        """Every row of ``entity`` through the QBO client (inactive names included)."""
        query = select(entity)
        if entity in ("Customer", "Item", "Vendor", "Employee", "Account"):
            query = query.include_inactive()
        return [as_dict(row) for row in self.conn.client.query_all(query)]

    def read(self, entity: str, qbo_id: str) -> dict[str, Any]:
        from qbo_toolkit.qbo.client import entity_class

        cls = entity_class(entity)
        assert cls is not None
        return as_dict(self.conn.client.read(cls, qbo_id))

    def edit_qbo(self, entity: str, qbo_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """A user's change in QBO: a sparse update at the current SyncToken."""
        token = str(self.read(entity, qbo_id)["SyncToken"])
        reply = self.conn.client.sparse_update(entity, qbo_id, token, fields,
                                               request_id=f"test-edit-{os.getpid()}-{next(_request_ids)}")
        return as_dict(reply)

    def create_qbo(self, entity: str, payload: dict[str, Any]) -> dict[str, Any]:
        return as_dict(self.conn.client.create_from(entity, payload,
                                                    request_id=f"test-new-{os.getpid()}-{next(_request_ids)}"))

    def customer_of(self, work_id: int) -> dict[str, Any]:
        link = self.state.links("customer")[work_id]
        return self.read("Customer", link.qbo_id)

    def invoice_of(self, work_id: int) -> dict[str, Any]:
        link = self.state.links("invoice")[work_id]
        return self.read("Invoice", link.qbo_id)

    # -- the emulator's request log ---------------------------------------------------------------------
    def log_mark(self) -> int:
        return len(self.emu.emulator.log)

    def data_requests(self, since: int = 0) -> list[dict[str, Any]]:
        return [e for e in list(self.emu.emulator.log)[since:] if e["path"].startswith("/v3/")]

    def client_by_name(self, name: str) -> list[Client]:
        return [c for c in self.store.clients() if c.display_name == name]


def is_read(entry: dict[str, Any]) -> bool:
    return entry["method"] == "GET" or entry["path"].rstrip("/").endswith("/query")


@contextmanager
def open_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, demo: dict[str, int] | None = None,
               with_demo: bool = True, **config: Any) -> Iterator[World]:
    """An emulator (``config`` overrides its EmulatorConfig), a headless connection, a WORK store
    in ``tmp_path`` filled with the demo (``demo``: sizes; default the full set)."""
    reset_limiters()  # every emulator starts with empty windows: so must this process's limiter
    cfg = EmulatorConfig(auto_approve=True, time_scale=TIME_SCALE)
    for key, value in config.items():
        setattr(cfg, key, value)
    with serve(cfg) as emu:
        info_path = tmp_path / "emulator.json"
        info_path.write_text(json.dumps(emu.info))
        monkeypatch.setenv("QBO_EMULATOR_INFO", str(info_path))
        conn = connect_headless()
        url = f"sqlite:///{tmp_path}/work.sqlite3"
        clock = WorkClock()
        store = WorkStore(url, clock=clock)
        summary = generate_demo(store, integration_date=INTEGRATION_DATE, **(demo or {})) if with_demo else None
        try:
            yield World(emu, conn, store, url, info_path, Path(os.environ["QBO_TOOLKIT_HOME"]), summary, clock)
        finally:
            store.close()
            reset_limiters()


# ------------------------------------------------------------------------------------------------------
# The end-state oracle
# ------------------------------------------------------------------------------------------------------


def _payment_invoice(payment: dict[str, Any]) -> str | None:
    for line in payment.get("Line") or []:
        for link in line.get("LinkedTxn") or []:
            if link.get("TxnType") == "Invoice":
                return str(link.get("TxnId"))
    return None


def credits_due(w: World, settings: Settings, customers: Collection[int]) -> dict[int, Decimal]:
    """The WORK credit applications QBO should hold, summed per invoice id: live, from the
    integration date, of a live credit note from the integration date whose client is in QBO, on an
    open invoice from the integration date (only when credit notes sync)."""
    out: dict[int, Decimal] = defaultdict(lambda: Decimal("0.00"))
    if not (settings.invoices and settings.credit_notes) or settings.integration_date is None:
        return out
    start = settings.integration_date
    notes = {note.id: note for note in w.store.credit_notes()}
    invoices = w.store.invoices_by_id(app.invoice_id for app in w.store.credit_applications())
    for app in w.store.credit_applications():
        note, inv = notes.get(app.credit_note_id), invoices.get(app.invoice_id)
        if (note is None or inv is None or note.date < start or app.date < start or note.client_id not in customers
                or inv.deleted or inv.status != "open" or inv.issue_date < start):
            continue
        out[app.invoice_id] += app.amount
    return out


def check_consistent(w: World, settings: Settings = SETTINGS, *, demo_clients: int | None = None,
                     failing: Mapping[str, Collection[int]] | None = None) -> dict[str, int]:
    """No duplicate and nothing missing on either side; totals, taxes and balances equal.

    ``failing`` names the WORK records expected to fail (``{"invoice": {ids}, "payment": {ids}}``, a
    bad-input corpus): such an invoice is not due in QBO, such a payment is not counted on its invoice.

    * QBO customers: names unique; every one not in the seed is linked to exactly one WORK client;
      every link points at a customer that exists; every seed customer is linked or held.
    * WORK clients: every client beyond the demo's was imported from QBO and is linked (no duplicate).
    * Invoices: every WORK invoice due in QBO (open, not deleted, from the integration date, client in
      QBO) is linked; every QBO invoice beyond the seed is linked; DocNumbers unique; TotalAmt and
      TotalTax equal WORK's to the cent; Balance = total - payments on both sides.
    * Payments: per invoice, the QBO payments' amounts are exactly WORK's (count and amounts).
    * Credits (issue 13): an invoice's Balance also drops by the WORK credit applications due in QBO
      (``settings.credit_notes``, the note and the application from the integration date); the QBO
      Payments that apply a credit memo (``TotalAmt`` 0, marked ``credit_applied``) are not WORK
      payments (``check_credits`` judges them).
    * The outbox is empty.
    Returns a few counts for the caller's own assertions.
    """
    state = w.state
    assert state.outbox() == [], "the outbox still holds writes whose answers were not recorded"
    # -- customers
    customers = w.qbo("Customer")
    by_id = {str(c["Id"]): c for c in customers}
    names = Counter(str(c["DisplayName"]).casefold() for c in customers)
    assert [n for n, k in names.items() if k > 1] == []
    clinks = {k: v for k, v in state.links("customer").items()}
    linked_qbo = Counter(link.qbo_id for link in clinks.values())
    assert [q for q, k in linked_qbo.items() if k > 1] == [], "a QBO customer linked to two WORK clients"
    missing = [link for link in clinks.values() if link.qbo_id not in by_id]
    assert missing == [], f"links to customers QBO does not have: {missing[:3]}"
    orphans = [(qid, c["DisplayName"]) for qid, c in by_id.items()
               if qid not in SEED_CUSTOMERS and qid not in linked_qbo]
    assert orphans == [], f"QBO customers no WORK client is linked to (duplicates?): {orphans[:5]}"
    # waiting for a decision, or rejected (a namesake of the client that rejected it stays in QBO only)
    pending = {str(m["qbo_id"]) for m in state.matches("pending") + state.matches("rejected")}
    unaccounted = [qid for qid in SEED_CUSTOMERS if qid not in linked_qbo and qid not in pending]
    assert unaccounted == [], f"seed customers neither linked nor waiting for a match decision: {unaccounted}"
    clients = w.store.clients()
    base = demo_clients if demo_clients is not None else (w.demo.clients if w.demo else 0)
    imported = [c for c in clients if c.id > base]
    assert all(c.id in clinks for c in imported), "a client created from QBO without its link"
    assert len(imported) == len({clinks[c.id].qbo_id for c in imported})
    assert [n for n, k in Counter(c.display_name for c in imported).items() if k > 1] == []
    if not settings.invoices:
        return {"customers": len(customers), "clients": len(clients)}
    assert settings.integration_date is not None
    # -- invoices
    invoices = w.qbo("Invoice")
    qinv = {str(i["Id"]): i for i in invoices}
    docs = Counter(str(i.get("DocNumber")) for i in invoices)
    assert [d for d, k in docs.items() if k > 1] == [], "duplicate DocNumbers in QBO"
    ilinks = state.links("invoice")
    assert len({link.qbo_id for link in ilinks.values()}) == len(ilinks)
    inv_orphans = [(qid, i.get("DocNumber")) for qid, i in qinv.items()
                   if qid not in SEED_INVOICES and qid not in {link.qbo_id for link in ilinks.values()}]
    assert inv_orphans == [], f"QBO invoices no WORK invoice is linked to: {inv_orphans[:5]}"
    failing_invoices = set((failing or {}).get("invoice", ()))
    failing_payments = set((failing or {}).get("payment", ()))
    work_payments: dict[int, list[Decimal]] = defaultdict(list)
    for pay in w.store.payments():
        if pay.id not in failing_payments:
            work_payments[pay.invoice_id].append(pay.amount)
    credited = credits_due(w, settings, {wid for wid, link in clinks.items() if link.state == "active"})
    active_customers = {wid for wid, link in clinks.items() if link.state == "active"}
    due = 0
    for inv in w.store.invoices(include_deleted=True):
        link = ilinks.get(inv.id)
        expected = (not inv.deleted and inv.status == "open" and inv.issue_date >= settings.integration_date
                    and inv.client_id in active_customers and inv.id not in failing_invoices)
        if expected:
            due += 1
            assert link is not None and link.state == "active", f"invoice {inv.number} is missing in QBO"
        if link is None or link.state == "deleted":
            if link is not None:
                assert link.qbo_id not in qinv, f"invoice {inv.number} deleted in WORK is still in QBO"
            continue
        q = qinv[link.qbo_id]
        assert q.get("DocNumber") == inv.number
        assert str(q["CustomerRef"]["value"]) == clinks[inv.client_id].qbo_id
        if link.state == "voided":
            assert money(q.get("TotalAmt")) == 0 and money(q.get("Balance")) == 0
            continue
        paid = sum(work_payments.get(inv.id, []), Decimal("0.00")) + credited.get(inv.id, Decimal("0.00"))
        assert money(q.get("TotalAmt")) == inv.total, f"invoice {inv.number}: total {q.get('TotalAmt')} != {inv.total}"
        assert money((q.get("TxnTaxDetail") or {}).get("TotalTax")) == inv.tax_amount, f"invoice {inv.number}: tax"
        assert money(q.get("Balance")) == inv.total - paid, (
            f"invoice {inv.number}: QBO balance {q.get('Balance')} != {inv.total} - {paid} (payments and credits)")
    # -- payments
    payments = [p for p in w.qbo("Payment") if marker_owner(p.get("PrivateNote"), "credit_applied") is None]
    plinks = state.links("payment")
    assert len({link.qbo_id for link in plinks.values()}) == len(plinks)
    linked_payments = {link.qbo_id for link in plinks.values() if link.state == "active"}
    pay_orphans = [p["Id"] for p in payments
                   if str(p["Id"]) not in SEED_PAYMENTS and str(p["Id"]) not in linked_payments]
    assert pay_orphans == [], f"QBO payments no WORK payment is linked to (duplicates?): {pay_orphans[:5]}"
    qbo_amounts: dict[str, list[Decimal]] = defaultdict(list)
    for p in payments:
        invoice_id = _payment_invoice(p)
        if invoice_id is not None:
            qbo_amounts[invoice_id].append(money(p.get("TotalAmt")))
    for inv_id, link in ilinks.items():
        if link.state != "active":
            continue
        assert sorted(qbo_amounts.get(link.qbo_id, [])) == sorted(work_payments.get(inv_id, [])), (
            f"invoice {inv_id}: QBO payments {sorted(qbo_amounts.get(link.qbo_id, []))} != WORK's "
            f"{sorted(work_payments.get(inv_id, []))}")
    return {"customers": len(customers), "clients": len(clients), "invoices_due": due,
            "qbo_invoices": len(invoices), "qbo_payments": len(payments)}
