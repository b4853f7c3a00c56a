"""Closed books: nothing dated on or before QuickBooks' closing date is sent; it waits with a sentence
naming the date and what the accountant can do, and goes exactly once when it can.

Datasets (WORK, per test): one client; invoice C-1 dated 2026-01-15 (inside the closed period), invoice
O-1 dated 2026-02-10 (open), a payment on O-1 dated 2026-01-20 (closed). The books are closed up to
2026-01-31 through a Preferences update, as an accountant does in QuickBooks.

Oracle: QBO read over HTTP (invoices by DocNumber, their TxnDate and memo), the activity log's
sentences, and the emulator's request log (nothing written while records wait)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from synckit import SETTINGS, World, is_read, open_world

from qbo_toolkit.sync.engine import SyncEngine
from qbo_toolkit.sync.progress import NullReporter
from qbo_toolkit.work.models import Address

CLOSED = "2026-01-31"


@pytest.fixture
def w(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    with open_world(tmp_path, monkeypatch, with_demo=False) as world:
        yield world


def close_books(w: World, on: str) -> None:
    prefs = w.qbo("Preferences")[0]
    token = str(prefs["SyncToken"])
    w.conn.client.sparse_update("Preferences", "1", token, {"AccountingInfoPrefs": {"BookCloseDate": on}},
                                request_id=f"close-{on}-{token}")


def _setup(w: World) -> dict[str, int]:
    client = w.store.add_client(display_name="Lakeside Dental", email="desk@lakeside.example",
                                billing=Address("3 Shore Ave", "", "Chicago", "IL", "60601", "US"))
    lines = [{"item_id": None, "description": "Service", "qty": Decimal("1"), "unit_price": Decimal("120.00")}]
    closed = w.store.add_invoice("C-1", client.id, date(2026, 1, 15), lines=lines)
    opened = w.store.add_invoice("O-1", client.id, date(2026, 2, 10), lines=lines)
    pay = w.store.add_payment(opened.id, date(2026, 1, 20), Decimal("20.00"), method="Check")
    return {"closed": closed.id, "open": opened.id, "payment": pay.id}


def by_number(w: World, number: str) -> list[dict[str, Any]]:
    return [i for i in w.qbo("Invoice") if i.get("DocNumber") == number]


def writes(w: World, mark: int) -> list[str]:
    return [f"{e['method']} {e['path']}" for e in w.data_requests(mark) if not is_read(e)]


def test_records_in_the_closed_period_wait_with_the_sentence_then_go_once(w: World) -> None:
    ids = _setup(w)
    close_books(w, CLOSED)
    run = w.sync()
    assert len(by_number(w, "O-1")) == 1 and by_number(w, "C-1") == []
    waiting = {(e.entity, e.work_id): e for e in w.activity(run, outcome="failed") if e.field == "closed_period"}
    assert set(waiting) == {("invoice", ids["closed"]), ("payment", ids["payment"])}
    text = waiting["invoice", ids["closed"]].message
    assert text.startswith("invoice C-1 is dated 2026-01-15, on or before QuickBooks' closing date 2026-01-31")
    assert "reopen the period in QuickBooks" in text and "closed_period: first_open_date" in text
    assert "2026-02-01" in text
    assert waiting["payment", ids["payment"]].message.startswith("payment 1 is dated 2026-01-20, on or before")
    assert any("closed up to 2026-01-31" in n for n in run.notices)
    assert w.state.links("payment") == {}
    # waiting costs nothing: the next run writes nothing and says it again
    mark = w.log_mark()
    again = w.sync()
    assert writes(w, mark) == []
    assert {(e.entity, e.work_id) for e in w.activity(again, outcome="failed")
            if e.field == "closed_period"} == set(waiting)
    # the accountant reopens January (moves the closing date back): each goes exactly once
    close_books(w, "2025-12-31")
    reopened = w.sync()
    assert reopened.status == "ok", [e.message for e in w.activity(reopened, outcome="failed")]
    assert len(by_number(w, "C-1")) == 1 and by_number(w, "C-1")[0]["TxnDate"][:10] == "2026-01-15"
    assert ids["payment"] in w.state.links("payment")
    mark = w.log_mark()
    w.sync()
    assert writes(w, mark) == [] and len(by_number(w, "C-1")) == 1


def test_first_open_date_posts_the_day_after_with_a_memo(w: World) -> None:
    ids = _setup(w)
    close_books(w, CLOSED)
    run = w.sync(replace(SETTINGS, closed_period="first_open_date"))
    assert run.status == "ok", [e.message for e in w.activity(run, outcome="failed")]
    (moved,) = by_number(w, "C-1")
    assert moved["TxnDate"][:10] == "2026-02-01"
    assert "Dated 2026-01-15 in WORK; posted on 2026-02-01" in moved["PrivateNote"]
    assert "[qbo-toolkit invoice" in moved["PrivateNote"]  # still the toolkit's own
    paid = w.read("Payment", w.state.links("payment")[ids["payment"]].qbo_id)
    assert paid["TxnDate"][:10] == "2026-02-01" and "Dated 2026-01-20 in WORK" in paid["PrivateNote"]
    mark = w.log_mark()
    w.sync(replace(SETTINGS, closed_period="first_open_date"))
    assert writes(w, mark) == []


class CloseAfterCheck(NullReporter):
    """Closes the books once the run's check has passed (the reporter starts after it): QuickBooks'
    own refusal is what the run meets."""

    def __init__(self, w: World) -> None:
        self.w = w

    def start(self, run_id: int, kind: str, total: int) -> None:
        close_books(self.w, CLOSED)


def test_books_closed_during_the_run_make_the_same_waiting_sentence(w: World) -> None:
    ids = _setup(w)
    run = SyncEngine(w.store, w.conn.client, SETTINGS, reporter=CloseAfterCheck(w)).run()
    waiting = {(e.entity, e.work_id): e for e in w.activity(run, outcome="failed") if e.field == "closed_period"}
    assert ("invoice", ids["closed"]) in waiting and by_number(w, "C-1") == []
    text = waiting["invoice", ids["closed"]].message
    assert "QuickBooks refused it" in text and "2026-01-31" in text and "reopen the period" in text
    # one attempt each, no retry loop within the run
    tried = [e for e in w.data_requests() if e["method"] == "POST" and "batch" in e["path"]]
    assert len(tried) <= 2
    close_books(w, "2025-12-31")
    w.sync()
    assert len(by_number(w, "C-1")) == 1


def test_a_dry_run_shows_what_waits_and_writes_nothing(w: World) -> None:
    ids = _setup(w)
    close_books(w, CLOSED)
    mark = w.log_mark()
    plan = w.sync(dry_run=True)
    assert writes(w, mark) == []
    held = [a for a in plan.actions if a.kind == "fail" and a.field == "closed_period"]
    assert {(a.entity, a.work_id) for a in held} == {("invoice", ids["closed"]), ("payment", ids["payment"])}
    assert all("closing date 2026-01-31" in a.reason for a in held)


def test_the_status_screen_puts_closed_books_under_needs_a_person(w: World) -> None:
    """Records the closed books hold are tried again every run, but no run alone will send them: the
    status screen lists them with what needs a person, not under "will retry by themselves"."""
    from types import SimpleNamespace

    from qbo_toolkit.ui.common import Guard, Messages
    from qbo_toolkit.ui.status import StatusController

    ids = _setup(w)
    close_books(w, CLOSED)
    w.sync()
    ctx = SimpleNamespace(store=w.store, live=lambda: SimpleNamespace(realm_id=w.realm))
    status = StatusController(ctx, Guard(Messages()))  # type: ignore[arg-type]
    attention = status.attention(matches=0)
    person = {(e.entity, e.work_id) for e in attention.person if e.field == "closed_period"}
    assert person == {("invoice", ids["closed"]), ("payment", ids["payment"])}
    assert not any(e.field == "closed_period" for e in attention.retry_entries)
