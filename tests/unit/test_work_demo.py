"""The demo business (qbo_toolkit.work.demo): deterministic, scalable, and awkward where it should be."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from qbo_toolkit.errors import WorkDataError
from qbo_toolkit.work.demo import AWKWARD_CLIENTS, DemoSummary, generate_demo
from qbo_toolkit.work.models import Company
from qbo_toolkit.work.store import WorkStore

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
INTEGRATION = date(2026, 1, 1)


def snapshot(store: WorkStore) -> dict[str, list[Any]]:
    """Every row of the store, with the clock's ``updated_at`` blanked (the only non-seeded value)."""
    return {
        "clients": [replace(row, updated_at=EPOCH) for row in store.clients()],
        "items": [replace(row, updated_at=EPOCH) for row in store.items()],
        "invoices": [replace(row, updated_at=EPOCH) for row in store.invoices(include_deleted=True)],
        "payments": [replace(row, updated_at=EPOCH) for row in store.payments(include_deleted=True)],
    }


@pytest.fixture(scope="module")
def demo() -> Iterator[tuple[WorkStore, DemoSummary]]:
    with WorkStore("sqlite://") as store:
        yield store, generate_demo(store)


def test_same_seed_same_rows_other_seed_other_rows(demo: tuple[WorkStore, DemoSummary]) -> None:
    store, summary = demo
    with WorkStore("sqlite://") as again, WorkStore("sqlite://") as other:
        assert generate_demo(again) == summary
        assert snapshot(again) == snapshot(store)
        assert again.max_revision() == store.max_revision()
        generate_demo(other, seed=8)
        assert snapshot(other)["clients"] != snapshot(store)["clients"]


def test_counts_match_the_store(demo: tuple[WorkStore, DemoSummary]) -> None:
    store, summary = demo
    assert (summary.clients, summary.items, summary.invoices, summary.payments) == (300, 5, 1500, 1000)
    assert len(store.clients()) == 300
    assert len(store.invoices()) == 1500
    assert len(store.payments()) == 1000
    assert summary.invoice_lines == sum(len(invoice.lines) for invoice in store.invoices())
    assert store.company() == Company("Larkspur Field Services", default_state="CA")
    items = {item.name: item for item in store.items()}
    assert items["Hours"].rate == Decimal("75.00") and items["Service Call"].rate == Decimal("95.00")
    assert items["Installation"].rate == Decimal("50.00") and items["Parts"].type == "product"


def test_clients_overlap_the_emulator_seed_company(demo: tuple[WorkStore, DemoSummary]) -> None:
    store, summary = demo
    client = {key: store.get_client(summary.awkward[key]) for key in AWKWARD_CLIENTS}
    amy, cool, dukes = client["amy_exact"], client["cool_cars_weak"], client["dukes_phone"]
    assert amy and amy.display_name == "Amy's Bird Sanctuary" and amy.email == "Birds@Intuit.com"
    assert cool and cool.display_name == "Cool Cars" and cool.phone == "" and cool.email
    assert cool.email.lower() != "cool_cars@intuit.com"
    assert dukes and dukes.display_name == "Dukes Basketball Camp" and dukes.phone == "(520) 420-5638"
    bills = [c for c in store.clients() if c.display_name == "Bill's Windsurf Shop"]
    assert [c.id for c in bills] == [summary.awkward["bills_1"], summary.awkward["bills_2"]]


def test_awkward_clients_are_present(demo: tuple[WorkStore, DemoSummary]) -> None:
    store, summary = demo

    def get(key: str) -> Any:
        found = store.get_client(summary.awkward[key])
        assert found is not None
        return found

    assert "'" in get("apostrophe").display_name
    assert get("colon").display_name == "Acme: North Branch"
    assert len(get("long_name").display_name) == 120
    spaced = get("spaces").display_name
    assert spaced != spaced.strip() and spaced.startswith(" ") and spaced.endswith(" ")
    assert "’" in get("typographic_apostrophe").display_name
    assert get("no_state").billing.state == "" and get("no_state").billing.city
    assert get("inactive").active is False
    assert get("vendor_name").display_name == "Cal Telephone"
    assert get("employee_name").display_name == "Emily Platt"
    assert get("sub_client").parent_id == summary.awkward["parent"]
    sites = [c for c in store.clients() if c.parent_id is not None]
    assert len(sites) > 1  # generated sites besides the awkward one


def test_generated_clients_do_not_collide_with_seed_contacts(demo: tuple[WorkStore, DemoSummary]) -> None:
    store, summary = demo
    special = set(summary.awkward.values())
    seed_phones = {"(650) 555-3311", "(415) 444-6538", "(415) 555-9933", "(520) 420-5638", "(650) 555-4563",
                   "(505) 570-0147", "(650) 555-0199"}  # fmt: skip
    generated = [c for c in store.clients() if c.id not in special]
    assert not {c.phone for c in generated} & seed_phones
    assert not any("intuit.com" in c.email.lower() for c in generated)
    names = Counter(c.display_name for c in generated)
    assert max(names.values()) == 1


def test_invoices_are_spread_around_the_integration_date(demo: tuple[WorkStore, DemoSummary]) -> None:
    store, summary = demo
    invoices = store.invoices()
    before = [inv for inv in invoices if inv.issue_date < INTEGRATION]
    assert 0 < len(before) < len(invoices) * 0.1
    numbers = [inv.number for inv in invoices]
    assert numbers[0] == "W-10001" and len(set(numbers)) == len(numbers)
    assert Counter(inv.status for inv in invoices) == {"open": 1499, "void": 1}
    assert {len(inv.lines) for inv in invoices} >= {1, 2, 3, 4, 5, 8}
    assert sum(1 for inv in invoices if inv.tax_amount) > 100
    assert all(inv.total == inv.subtotal + inv.tax_amount and inv.total > 0 for inv in invoices)
    assert all(inv.due_date is None or inv.due_date >= inv.issue_date for inv in invoices)

    by_id = {inv.id: inv for inv in invoices}
    assert by_id[summary.awkward["invoice_void"]].status == "void"
    assert by_id[summary.awkward["invoice_taxed"]].tax_amount > 0
    assert len(by_id[summary.awkward["invoice_many_lines"]].lines) == 8
    assert by_id[summary.awkward["invoice_before_integration"]].issue_date < INTEGRATION
    assert by_id[summary.awkward["invoice_sub_client"]].client_id == summary.awkward["sub_client"]
    inactive = summary.awkward["inactive"]
    assert all(inv.client_id != inactive for inv in invoices)


def test_payments_never_exceed_their_invoice(demo: tuple[WorkStore, DemoSummary]) -> None:
    store, summary = demo
    invoices = {inv.id: inv for inv in store.invoices()}
    paid = store.paid_amounts()
    assert all(amount <= invoices[invoice_id].total for invoice_id, amount in paid.items())
    assert summary.awkward["invoice_void"] not in paid
    counts = Counter(payment.invoice_id for payment in store.payments())
    assert counts[summary.awkward["invoice_multi_payment"]] == 3
    assert paid[summary.awkward["invoice_multi_payment"]] == invoices[summary.awkward["invoice_multi_payment"]].total
    assert paid[summary.awkward["invoice_paid_in_full"]] == invoices[summary.awkward["invoice_paid_in_full"]].total
    assert 0 < paid[summary.awkward["invoice_partial"]] < invoices[summary.awkward["invoice_partial"]].total
    partly = [i for i, amount in paid.items() if amount < invoices[i].total]
    fully = [i for i, amount in paid.items() if amount == invoices[i].total]
    assert len(partly) > 50 and len(fully) > 300
    assert sum(1 for n in counts.values() if n == 2) > 10
    first = store.get_payment(summary.awkward["payment_multi_first"])
    assert first is not None and first.invoice_id == summary.awkward["invoice_multi_payment"]
    methods = {payment.method for payment in store.payments()}
    assert methods == {"Check", "Credit Card", "Cash", "Direct Debit"}  # QuickBooks' own names


def test_every_payment_budget_up_to_capacity_is_met() -> None:
    for invoices, payments in ((8, 0), (8, 5), (8, 13), (20, 37)):
        with WorkStore("sqlite://") as store:
            summary = generate_demo(store, clients=16, invoices=invoices, payments=payments)
            assert summary.payments == payments == len(store.payments())
            totals = {inv.id: inv.total for inv in store.invoices()}
            assert all(amount <= totals[i] for i, amount in store.paid_amounts().items())


def test_impossible_requests_are_refused(demo: tuple[WorkStore, DemoSummary]) -> None:
    store, _ = demo
    with pytest.raises(WorkDataError, match="empty"):
        generate_demo(store)
    with WorkStore("sqlite://") as empty:
        with pytest.raises(ValueError, match="clients"):
            generate_demo(empty, clients=3)
        with pytest.raises(ValueError, match="invoices"):
            generate_demo(empty, invoices=2)
        with pytest.raises(ValueError, match="payments"):
            generate_demo(empty, invoices=10, payments=100)
        assert empty.max_revision() == 0


def test_a_larger_demo_uses_the_bulk_path() -> None:
    with WorkStore("sqlite://") as store:
        summary = generate_demo(store, clients=5_000, invoices=5_000, payments=2_000, seed=11)
        assert (summary.clients, summary.invoices, summary.payments) == (5_000, 5_000, 2_000)
        extra = summary.credit_notes + summary.credit_applications + summary.refunds
        assert (summary.credit_notes, summary.refunds) == (50, 20)
        assert store.max_revision() == 5 + 5_000 + 5_000 + 2_000 + extra


@pytest.mark.slow
def test_100000_clients_and_invoices_well_under_a_minute() -> None:
    with WorkStore("sqlite://") as store:
        started = time.perf_counter()
        summary = generate_demo(store, clients=100_000, invoices=100_000, payments=0)
        elapsed = time.perf_counter() - started
        assert (summary.clients, summary.invoices) == (100_000, 100_000)
    assert elapsed < 60, f"took {elapsed:.1f} s"
