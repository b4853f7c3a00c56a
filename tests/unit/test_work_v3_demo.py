"""The demo business's schema-version-3 records (issue 13): tax rates on the taxed lines, terms,
QuickBooks-named payment methods, credit notes applied in full, in part, across two invoices and not
at all, refunds; deterministic, and the same clients, invoices and payments as before."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from qbo_toolkit.work.demo import DEMO_TAX_RATES, DemoSummary, generate_demo
from qbo_toolkit.work.models import tax_on
from qbo_toolkit.work.store import WorkStore

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SIZES = {"clients": 40, "invoices": 120, "payments": 80}


@pytest.fixture(scope="module")
def demo() -> Iterator[tuple[WorkStore, DemoSummary]]:
    with WorkStore("sqlite://") as store:
        yield store, generate_demo(store, **SIZES)


def test_us_taxed_lines_carry_the_rate_and_the_tax_is_the_rates(demo: tuple[WorkStore, DemoSummary]) -> None:
    store, summary = demo
    assert summary.tax_rates == 1 and store.tax_rate_percents() == {"CA sales tax": Decimal("7.25")}
    invoices = store.invoices()
    rated = [inv for inv in invoices if any(line.tax_rate for line in inv.lines)]
    assert len(rated) > 30
    for inv in rated:
        base = sum((line.amount for line in inv.lines if line.tax_rate == "CA sales tax"), Decimal("0.00"))
        assert inv.tax_amount == tax_on(base, Decimal("7.25"))
        assert all(line.taxable == bool(line.tax_rate) for line in inv.lines)
    assert all(inv.tax_amount == 0 for inv in invoices if inv not in rated)
    terms = Counter(inv.terms for inv in invoices)
    assert set(terms) == {"", "Net 15", "Net 30"} and terms["Net 30"] > terms["Net 15"] > 0
    assert all(inv.due_date is not None and (inv.due_date - inv.issue_date).days == int(inv.terms[4:])
               for inv in invoices if inv.terms)  # fmt: skip


def test_credit_notes_applied_in_full_in_part_across_two_and_not_at_all(
    demo: tuple[WorkStore, DemoSummary],
) -> None:
    store, summary = demo
    notes = {note.id: note for note in store.credit_notes()}
    assert (summary.credit_notes, summary.credit_applications) == (len(notes), len(store.credit_applications()))
    assert summary.credit_notes >= 3
    applied = store.applied_amounts()
    unapplied, partial = summary.awkward["credit_note_unapplied"], summary.awkward["credit_note_partial"]
    assert unapplied not in applied
    assert 0 < applied[partial] < notes[partial].total
    split = summary.awkward["credit_note_split"]
    assert len({a.invoice_id for a in store.credit_applications(credit_note_id=split)}) == 2
    invoices = store.invoices_by_id(a.invoice_id for a in store.credit_applications())
    for app in store.credit_applications():
        note, invoice = notes[app.credit_note_id], invoices[app.invoice_id]
        assert note.client_id == invoice.client_id and app.date >= note.date >= date(2026, 1, 1)
    paid, credited = store.paid_amounts(), store.credited_amounts()
    assert all(paid.get(i, 0) + amount <= invoices[i].total for i, amount in credited.items())
    assert any(note.tax_amount > 0 for note in notes.values()) and any(not note.tax_rate for note in notes.values())
    assert summary.refunds == len(store.refunds()) >= 2
    taxed = store.get_refund(summary.awkward["refund_taxed"])
    assert taxed is not None and taxed.tax_rate == "CA sales tax" and taxed.tax_amount > 0
    assert {refund.method for refund in store.refunds()} <= {"Check", "Credit Card", "Cash", "Direct Debit"}


def test_the_v3_records_are_deterministic_and_can_be_left_out(demo: tuple[WorkStore, DemoSummary]) -> None:
    store, summary = demo
    with WorkStore("sqlite://") as again, WorkStore("sqlite://") as bare:
        assert generate_demo(again, **SIZES) == summary
        assert [replace(n, updated_at=EPOCH) for n in again.credit_notes()] == [
            replace(n, updated_at=EPOCH) for n in store.credit_notes()
        ]
        assert [replace(r, updated_at=EPOCH) for r in again.refunds()] == [
            replace(r, updated_at=EPOCH) for r in store.refunds()
        ]
        plain = generate_demo(bare, **SIZES, credit_notes=0, refunds=0)
        assert (plain.credit_notes, plain.refunds) == (0, 0) and bare.credit_notes() == [] == bare.refunds()
        # the invoices and payments are the same rows with or without the credits
        assert [replace(i, updated_at=EPOCH) for i in bare.invoices()] == [
            replace(i, updated_at=EPOCH) for i in store.invoices()
        ]


@pytest.mark.parametrize("kind", ["us-manual", "uk", "ca", "au"])
def test_other_company_kinds_rate_every_line_where_they_need_to(kind: str) -> None:
    with WorkStore("sqlite://") as store:
        summary = generate_demo(store, **SIZES, tax_kind=kind)
        tax = DEMO_TAX_RATES[kind]
        assert store.tax_rate_percents() == dict(tax.rates())
        lines = [line for inv in store.invoices() for line in inv.lines]
        if tax.zero is not None:
            assert all(line.tax_rate for line in lines)
            assert all(note.tax_rate for note in store.credit_notes())
        assert any(line.tax_rate == tax.standard[0] for line in lines)
        assert summary.credit_notes >= 3 and summary.refunds >= 2
    if kind == "uk":
        assert tax.reduced is not None


def test_an_unknown_tax_kind_is_refused() -> None:
    with WorkStore("sqlite://") as store, pytest.raises(ValueError, match="tax_kind must be one of us-ast"):
        generate_demo(store, **SIZES, tax_kind="fr")
