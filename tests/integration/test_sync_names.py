"""Every awkward demo record through the sync: names QBO refuses or already holds (reported or fixed,
never silently), names QBO takes as they are, invoices that must not go, payments in parts, and
invoices that wait for their client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from synckit import SETTINGS, SMALL_DEMO, World, check_consistent, money, open_world

REFUSED = ("colon", "spaces", "vendor_name", "employee_name")
FIXED_NAMES = {"colon": "Acme - North Branch", "spaces": "Harbor View Apartments",
               "vendor_name": "Cal Telephone (2)", "employee_name": "Emily Platt (2)"}


@pytest.fixture
def w(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with open_world(tmp_path, monkeypatch, demo=SMALL_DEMO) as world:
        # the small demo gives the colon client no invoice: add one, with a payment
        hours = world.store.item_by_name("Hours")
        assert hours is not None
        inv = world.store.add_invoice("T-COLON-1", world.awkward("colon"), date(2026, 2, 2), lines=[
            {"item_id": hours.id, "description": "Labor", "qty": Decimal("3"), "unit_price": Decimal("75.00")}])
        world.store.add_payment(inv.id, date(2026, 2, 10), Decimal("100.00"), "check", "5521")
        yield world


def customer_names(w: World) -> dict[str, str]:
    return {str(c["DisplayName"]): str(c["Id"]) for c in w.qbo("Customer")}


def test_report_policy_names_each_refused_record_and_creates_nothing_for_it(w: World) -> None:
    first = w.sync()
    links = w.state.links("customer")
    names = customer_names(w)
    failed = {e.work_id: e for e in w.activity(first, entity="customer", outcome="failed")}
    for role in REFUSED:
        client = w.store.get_client(w.awkward(role))
        assert client is not None
        entry = failed.get(client.id)
        assert entry is not None, f"{role}: not reported"
        assert entry.field == "display_name", (role, entry.field)
        assert client.display_name in entry.message, (role, entry.message)
        assert client.id not in links
        if role != "spaces":
            assert FIXED_NAMES[role] not in names and client.display_name not in names
    # the demo also has a client really named "Harbor View Apartments": that one is the QBO customer
    (namesake,) = w.client_by_name("Harbor View Apartments")
    assert names["Harbor View Apartments"] == links[namesake.id].qbo_id
    assert "colon" in failed[w.awkward("colon")].message
    assert "whitespace" in failed[w.awkward("spaces")].message
    assert "vendor" in failed[w.awkward("vendor_name")].message  # "... by another customer, vendor or employee"
    vendors = [v["DisplayName"] for v in w.qbo("Vendor")]
    assert vendors.count("Cal Telephone") == 1

    # names QBO takes as they are: 120 characters (DisplayName allows 500), a typographic apostrophe
    for role in ("long_name", "typographic_apostrophe", "apostrophe", "no_state", "parent"):
        client = w.store.get_client(w.awkward(role))
        assert client is not None and names.get(client.display_name) == links[client.id].qbo_id, role
    long_name = w.store.get_client(w.awkward("long_name"))
    assert long_name is not None and len(long_name.display_name) == 120
    sub = w.customer_of(w.awkward("sub_client"))
    assert sub["ParentRef"]["value"] == links[w.awkward("parent")].qbo_id and sub["Job"] is True
    inactive = w.customer_of(w.awkward("inactive"))
    assert inactive["Active"] is False

    # invoices that must not go, and payments in parts
    skipped = {a.work_id: a.reason for a in first.actions if a.entity == "invoice" and a.kind == "skip"}
    before = w.store.get_invoice(w.awkward("invoice_before_integration"))
    void = w.store.get_invoice(w.awkward("invoice_void"))
    assert before is not None and void is not None
    assert "not expected in QuickBooks" in skipped[before.id]
    assert "void" in skipped[void.id]
    doc_numbers = {str(i.get("DocNumber")) for i in w.qbo("Invoice")}
    assert before.number not in doc_numbers and void.number not in doc_numbers
    ilinks = w.state.links("invoice")
    assert before.id not in ilinks and void.id not in ilinks
    for role, paid_in_full in (("invoice_multi_payment", True), ("invoice_paid_in_full", True),
                               ("invoice_partial", False)):
        inv = w.store.get_invoice(w.awkward(role))
        assert inv is not None
        payments = w.store.payments(invoice_id=inv.id)
        qbo = w.invoice_of(inv.id)
        assert money(qbo["TotalAmt"]) == inv.total
        assert money(qbo["Balance"]) == inv.total - sum(p.amount for p in payments)
        assert (money(qbo["Balance"]) == 0) is paid_in_full, role
        linked = [t for t in qbo.get("LinkedTxn") or [] if t.get("TxnType") == "Payment"]
        assert len(linked) == len(payments) == (3 if role == "invoice_multi_payment" else 1)

    # the invoices of a refused client wait for it; so do their payments
    colon_invoice = w.store.invoice_by_number("T-COLON-1")
    assert colon_invoice is not None
    blocked = [e for e in w.activity(first, entity="invoice", outcome="failed") if e.work_id == colon_invoice.id]
    assert [e.field for e in blocked] == ["client_id"] and "not in QuickBooks yet" in blocked[0].message
    check_consistent(w)

    # an unchanged bad record is not reported again
    second = w.sync()
    assert second.counts["failed"] == 0 and second.counts["ok"] == 0, second.counts

    # fixed in WORK (renamed): the client goes, then its invoice, then its payment
    w.store.update_client(w.awkward("colon"), display_name="Acme - North Branch")
    third = w.sync()
    assert third.counts["customer.create.ok"] == 1, third.counts
    assert third.counts["invoice.create.ok"] == 1 and third.counts["payment.create.ok"] == 1, third.counts
    qbo = w.invoice_of(colon_invoice.id)
    assert money(qbo["TotalAmt"]) == Decimal("225.00") and money(qbo["Balance"]) == Decimal("125.00")
    assert qbo["CustomerRef"]["value"] == customer_names(w)["Acme - North Branch"]
    check_consistent(w)
    fourth = w.sync()
    assert fourth.counts["ok"] == 0 and fourth.counts["failed"] == 0, fourth.counts


def test_fix_policy_creates_fixed_names_and_says_so(w: World) -> None:
    fix = replace(SETTINGS, name_policy="fix")
    first = w.sync(fix)
    names = customer_names(w)
    links = w.state.links("customer")
    created = {e.work_id: e for e in w.activity(first, entity="customer", outcome="ok") if e.action == "create"}
    for role, fixed in FIXED_NAMES.items():
        client = w.store.get_client(w.awkward(role))
        assert client is not None
        assert names.get(fixed) == links[client.id].qbo_id, (role, fixed)
        entry = created[client.id]
        assert entry.field == "display_name" and fixed in entry.message and "name_policy 'fix'" in entry.message
        assert repr(client.display_name) in entry.message  # the WORK name, which WORK keeps
    assert w.store.get_client(w.awkward("colon")).display_name == "Acme: North Branch"  # type: ignore[union-attr]
    assert names.get("Cal Telephone") is None  # the vendor keeps its name; no customer took it
    colon_invoice = w.store.invoice_by_number("T-COLON-1")
    assert colon_invoice is not None and colon_invoice.id in w.state.links("invoice")
    check_consistent(w, fix)

    # the fixed names stay: the next run neither renames nor reports anything
    second = w.sync(fix)
    assert second.counts["ok"] == 0 and second.counts["failed"] == 0, second.counts
    assert customer_names(w) == names
    # a later WORK edit of such a client leaves its fixed QBO name alone
    w.store.update_client(w.awkward("vendor_name"), phone="(916) 555-0111")
    third = w.sync(fix)
    assert third.counts["customer.update.ok"] == 1, third.counts
    customer = w.customer_of(w.awkward("vendor_name"))
    assert customer["DisplayName"] == "Cal Telephone (2)"
    assert customer["PrimaryPhone"]["FreeFormNumber"] == "(916) 555-0111"
    assert w.sync(fix).counts["ok"] == 0
