"""The demo business dated relative to the day it is made for (issue 14, point 5): its report's A/R
aging spreads over every bucket, the same seed and day give the same business, another day the
same business moved in time, and nothing is paid, credited or refunded after that day."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from qbo_toolkit.recon import link_frames_from_records, qbo_frames_from_records, reconcile
from qbo_toolkit.recon.extract import extract_work
from qbo_toolkit.work.demo import generate_demo
from qbo_toolkit.work.store import WorkStore

INTEGRATION = date(2026, 1, 1)
SIZES: dict[str, Any] = {"clients": 60, "invoices": 300, "payments": 200}


def made(today: date | None) -> WorkStore:
    store = WorkStore("sqlite://")
    generate_demo(store, integration_date=INTEGRATION, today=today, **SIZES)
    return store


@pytest.fixture
def stores() -> Iterator[list[WorkStore]]:
    opened: list[WorkStore] = []
    yield opened
    for store in opened:
        store.close()


def rows(store: WorkStore) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "invoices": [(i.number, i.client_id, i.issue_date, i.due_date, i.total, i.status) for i in store.invoices()],
        "payments": [(p.invoice_id, p.date, p.amount) for p in store.payments()],
        "credit_notes": [(c.number, c.date, c.total) for c in store.credit_notes()],
        "refunds": [(r.client_id, r.date, r.total) for r in store.refunds()],
    }


@pytest.mark.parametrize("today", [date(2026, 12, 3), date(2027, 8, 19)])
def test_the_aging_spreads_over_every_bucket(today: date, stores: list[WorkStore]) -> None:
    store = made(today)
    stores.append(store)
    result = reconcile(extract_work(store), qbo_frames_from_records(), link_frames_from_records(), as_of=today,
                       integration_date=INTEGRATION)
    aging = result.tables["aging"].set_index("bucket")
    assert list(aging.index) == ["current", "1-30", "31-60", "61-90", "91+"]
    empty = [bucket for bucket, row in aging.iterrows() if row["work_count"] == 0 or row["work_cents"] <= 0]
    assert empty == [], aging
    # nothing is dated after the demo's day; what came before the integration date stays before it
    found = rows(store)
    assert max(r[2] for r in found["invoices"]) <= today
    assert max(r[1] for r in found["payments"]) <= today
    assert max(r[1] for r in found["credit_notes"]) <= today and max(r[1] for r in found["refunds"]) <= today
    after = [r[2] for r in found["invoices"] if r[2] >= INTEGRATION]
    assert min(after) >= today - timedelta(days=150)
    assert any(r[2] < INTEGRATION for r in found["invoices"])  # the planted "not expected" invoices


def test_a_day_gives_one_business_and_another_day_the_same_one_moved(stores: list[WorkStore]) -> None:
    first, again, later = made(date(2026, 12, 3)), made(date(2026, 12, 3)), made(date(2027, 1, 14))
    stores += [first, again, later]
    assert rows(first) == rows(again)
    one, two = rows(first), rows(later)
    moved = timedelta(days=42)
    for a, b in zip(one["invoices"], two["invoices"], strict=True):
        assert a[0] == b[0] and a[1] == b[1] and a[4] == b[4] and a[5] == b[5]  # number, client, total, status
        if a[2] >= INTEGRATION:
            assert b[2] - a[2] == moved and (a[3] is None or b[3] - a[3] == moved)
        else:
            assert a[2] == b[2]
    assert [(p[0], p[2]) for p in one["payments"]] == [(p[0], p[2]) for p in two["payments"]]


def test_without_a_day_or_too_close_to_the_integration_date_nothing_moves(stores: list[WorkStore]) -> None:
    fixed = made(None)
    stores.append(fixed)
    found = rows(fixed)
    after = [r[2] for r in found["invoices"] if r[2] >= INTEGRATION]
    assert min(after) == INTEGRATION or min(after) < INTEGRATION + timedelta(days=10)
    assert max(after) <= INTEGRATION + timedelta(days=150)
    close = made(INTEGRATION + timedelta(days=120))  # less than 150 days after: dates as without a day...
    stores.append(close)
    assert rows(close)["invoices"] == found["invoices"]
    # ...except that nothing is paid after the day
    assert max(p[1] for p in rows(close)["payments"]) <= INTEGRATION + timedelta(days=120)
