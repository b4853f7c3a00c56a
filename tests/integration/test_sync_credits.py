"""Credit notes, their applications and refunds go to QuickBooks exactly once (issue 13, point 2).

Through real HTTP to the emulator (the demo company, US with Automated Sales Tax): a WORK credit
note becomes a CreditMemo with its amounts, an application a Payment linking the Invoice and the
CreditMemo (the invoice's Balance falls by it), a refund a RefundReceipt paid from the chosen
account. A second run writes nothing; changes and deletions in WORK follow; a reply lost mid-stage
(the run dies after QBO wrote, and QBO has forgotten the requestid) is found by its mark, never
written twice. The oracle :func:`check_credits` reads QBO over HTTP and the WORK store directly.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from synckit import SETTINGS, World, check_consistent, money, open_world

from qbo_toolkit.mapping.markers import marker_owner
from qbo_toolkit.settings import Settings, TaxSettings

DEMO = {"clients": 40, "invoices": 120, "payments": 80}
START = date(2026, 1, 1)
#: Seed account 5 is Checking (Bank): refunds are paid from it.
CREDITS = replace(SETTINGS, refunds=True, refund_account="5")


def marked(rows: list[dict[str, Any]], entity: str) -> dict[int, list[dict[str, Any]]]:
    """QBO rows by the WORK id their qbo-toolkit mark names (rows without one left out)."""
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        owner = marker_owner(row.get("PrivateNote"), entity)
        if owner is not None:
            out[owner].append(row)
    return out


def check_credits(w: World, settings: Settings = CREDITS) -> dict[str, int]:
    """Every WORK credit note, application and refund due in QBO is there exactly once with WORK's
    amounts; nothing deleted in WORK is left; the credit memos' remaining credit is WORK's unapplied
    part. Read from QBO over HTTP (CreditMemo, Payment, RefundReceipt) and from the WORK store."""
    assert w.state.outbox() == []
    start = settings.integration_date
    assert start is not None
    customers = {wid: link.qbo_id for wid, link in w.state.links("customer").items() if link.state == "active"}
    # -- credit notes
    memos = w.qbo("CreditMemo")
    by_note = marked(memos, "credit_note")
    assert all(len(rows) == 1 for rows in by_note.values()), "a credit note is in QBO twice"
    numbers = Counter(str(m.get("DocNumber")) for m in memos)
    assert [n for n, k in numbers.items() if k > 1] == [], "duplicate credit memo numbers"
    apps = [a for a in w.store.credit_applications() if a.date >= start]
    notes = {n.id: n for n in w.store.credit_notes(include_deleted=True)}
    due_notes = {n.id for n in notes.values() if not n.deleted and n.date >= start and n.client_id in customers
                 and settings.credit_notes}
    assert set(by_note) == due_notes, f"credit memos for {sorted(set(by_note))}, WORK expects {sorted(due_notes)}"
    invoices = w.store.invoices_by_id(a.invoice_id for a in apps)
    due_apps = [a for a in apps if a.credit_note_id in due_notes and invoices[a.invoice_id].status == "open"
                and invoices[a.invoice_id].issue_date >= start]
    applied: dict[int, Decimal] = defaultdict(lambda: Decimal("0.00"))
    for app in due_apps:
        applied[app.credit_note_id] += app.amount
    for note_id in due_notes:
        note, [memo] = notes[note_id], by_note[note_id]
        assert memo["DocNumber"] == note.number
        assert str(memo["CustomerRef"]["value"]) == customers[note.client_id]
        assert money(memo["TotalAmt"]) == note.total, f"credit note {note.number}: {memo['TotalAmt']} != {note.total}"
        assert money((memo.get("TxnTaxDetail") or {}).get("TotalTax")) == note.tax_amount
        assert money(memo["Balance"]) == note.total - applied[note_id], f"credit note {note.number}: remaining credit"
    # -- applications: Payments of TotalAmt 0 linking the invoice and the credit memo
    by_app = marked(w.qbo("Payment"), "credit_applied")
    assert all(len(rows) == 1 for rows in by_app.values()), "a credit application is in QBO twice"
    assert set(by_app) == {a.id for a in due_apps}
    memo_ids = {note_id: str(by_note[note_id][0]["Id"]) for note_id in due_notes}
    invoice_links = w.state.links("invoice")
    for app in due_apps:
        [pay] = by_app[app.id]
        assert money(pay["TotalAmt"]) == 0
        linked = {(str(t["TxnType"]), str(t["TxnId"])): money(line["Amount"])
                  for line in pay["Line"] for t in line["LinkedTxn"]}
        assert linked == {("Invoice", invoice_links[app.invoice_id].qbo_id): app.amount,
                          ("CreditMemo", memo_ids[app.credit_note_id]): app.amount}
    # -- refunds
    receipts = marked(w.qbo("RefundReceipt"), "refund")
    assert all(len(rows) == 1 for rows in receipts.values()), "a refund is in QBO twice"
    due_refunds = {r.id: r for r in w.store.refunds() if r.date >= start and r.client_id in customers
                   and settings.refunds}
    assert set(receipts) == set(due_refunds)
    for refund_id, refund in due_refunds.items():
        [receipt] = receipts[refund_id]
        assert money(receipt["TotalAmt"]) == refund.total
        assert money((receipt.get("TxnTaxDetail") or {}).get("TotalTax")) == refund.tax_amount
        assert str(receipt["DepositToAccountRef"]["value"]) == str(settings.refund_account)
        assert str(receipt["CustomerRef"]["value"]) == customers[refund.client_id]
    return {"credit_memos": len(due_notes), "credit_payments": len(due_apps), "refunds": len(due_refunds)}


def test_credit_notes_applications_and_refunds_go_once_with_their_amounts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_world(tmp_path, monkeypatch, demo=DEMO) as w:
        assert w.demo is not None and w.demo.credit_notes >= 3 and w.demo.refunds >= 2
        first = w.sync(CREDITS)
        assert first.completed, first.message
        counts = check_credits(w)
        assert counts == {"credit_memos": w.demo.credit_notes, "credit_payments": w.demo.credit_applications,
                          "refunds": w.demo.refunds}
        assert first.counts["credit_note.create.ok"] == w.demo.credit_notes
        assert first.counts["refund.create.ok"] == w.demo.refunds
        check_consistent(w, CREDITS)  # invoices' balances: payments and applied credits
        unapplied = w.store.get_credit_note(w.awkward("credit_note_unapplied"))
        assert unapplied is not None
        [memo] = marked(w.qbo("CreditMemo"), "credit_note")[unapplied.id]
        assert money(memo["Balance"]) == unapplied.total  # an unapplied credit stays available

        mark = w.log_mark()
        again = w.sync(CREDITS)
        assert again.completed and again.counts["ok"] == 0, again.counts
        writes = [e for e in w.data_requests(mark) if e["method"] == "POST" and not e["path"].endswith("/query")]
        assert writes == [], f"a second run wrote {writes[:3]}"
        check_credits(w)


def test_changes_and_deletions_in_work_follow_in_qbo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_world(tmp_path, monkeypatch, demo=DEMO) as w:
        assert w.sync(CREDITS).completed
        store = w.store
        partial = store.get_credit_note(w.awkward("credit_note_partial"))
        assert partial is not None
        [app] = store.credit_applications(credit_note_id=partial.id)
        store.update_credit_application(app.id, amount=app.amount + Decimal("0.01"))
        # an application removed and its invoice voided in the same interval: the Payment goes first
        split = w.awkward("credit_note_split")
        split_apps = store.credit_applications(credit_note_id=split)
        target = split_apps[0]
        inv = store.get_invoice(target.invoice_id)
        assert inv is not None
        store.delete_credit_application(target.id)
        for payment in store.payments(invoice_id=inv.id):
            store.delete_payment(payment.id)
        store.void_invoice(inv.id)
        unapplied = w.awkward("credit_note_unapplied")
        store.update_credit_note(unapplied, amount=Decimal("12.34"), description="Goodwill, corrected")
        refund = store.refunds()[0]
        store.delete_refund(refund.id)
        added = store.add_refund(refund.client_id, date(2026, 3, 3), "15.00", "Cancelled visit", method="Cash")

        result = w.sync(CREDITS)
        assert result.completed, result.message
        assert result.counts["credit_applied.delete.ok"] == 1 and result.counts["refund.delete.ok"] == 1
        assert result.counts["credit_applied.update.ok"] == 1 and result.counts["credit_note.update.ok"] == 1
        assert result.counts["refund.create.ok"] == 1 and result.counts["invoice.void.ok"] == 1
        check_credits(w)
        check_consistent(w, CREDITS)
        [memo] = marked(w.qbo("CreditMemo"), "credit_note")[unapplied]
        corrected = store.get_credit_note(unapplied)
        assert corrected is not None and money(memo["TotalAmt"]) == corrected.total
        assert money(memo["Line"][0]["Amount"]) == Decimal("12.34")
        assert memo["Line"][0]["Description"] == "Goodwill, corrected"
        assert added.id in marked(w.qbo("RefundReceipt"), "refund")

        # the unapplied note deleted in WORK goes from QBO; nothing else is written
        store.delete_credit_note(unapplied)
        result = w.sync(CREDITS)
        assert result.counts["credit_note.delete.ok"] == 1 and result.counts["ok"] == 1, result.counts
        assert unapplied not in marked(w.qbo("CreditMemo"), "credit_note")
        check_credits(w)


def test_credit_notes_off_and_refunds_off_send_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_world(tmp_path, monkeypatch, demo=DEMO) as w:
        off = replace(SETTINGS, credit_notes=False)  # refunds are off by default
        assert w.sync(off).completed
        assert marked(w.qbo("CreditMemo"), "credit_note") == {} and marked(w.qbo("RefundReceipt"), "refund") == {}
        check_consistent(w, off)
        # turned on later: the stage starts from the integration date, not from the last WORK revision
        assert w.sync(CREDITS).completed
        check_credits(w)
        check_consistent(w, CREDITS)


@pytest.mark.parametrize("entity", ["CreditMemo", "Payment", "RefundReceipt"])
def test_a_reply_lost_mid_stage_is_found_by_its_mark_not_written_twice(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entity: str) -> None:
    from test_sync_exactly_once import forget_requestids
    from test_sync_resilience import Crash, CrashingEngine

    with open_world(tmp_path, monkeypatch, demo=DEMO) as w:
        # payments go in a run of their own first: the first Payment the crashing run writes is a credit's
        assert w.sync(replace(CREDITS, credit_notes=False, refunds=False)).completed
        engine = CrashingEngine(w.store, w.conn.client, CREDITS, entity=entity, when="after", kind="batch")
        with pytest.raises(Crash):
            engine.run()  # QBO wrote the batch; the run died before recording its answers
        assert w.state.outbox()
        forget_requestids(w)  # a resend with the same requestid would now run again
        result = w.sync(CREDITS)
        assert result.completed, result.message
        adopted = [e for e in w.activity(result) if e.message.startswith("found (sent earlier")]
        assert adopted, "nothing was found by its mark"
        check_credits(w)  # each once
        check_consistent(w, CREDITS)


#: Each company kind's tax settings: the demo's WORK rates (work.demo.DEMO_TAX_RATES) -> the kind's
#: TaxCodes (US manual: one code per document; the untaxed ones "Out of state").
KINDS: dict[str, TaxSettings] = {
    "us-manual": TaxSettings(codes={"California": "California"}, invoice_code="Out of state"),
    "uk": TaxSettings(mode="tax_codes", codes={"VAT 20%": "20.0% S", "VAT 5%": "5.0% R", "VAT zero rated": "0.0% Z"}),
    "ca": TaxSettings(mode="tax_codes", codes={"HST ON": "HST ON", "Zero-rated": "Zero-rated"}),
    "au": TaxSettings(mode="tax_codes", codes={"GST": "GST", "GST free": "GST free"}),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_other_company_kinds_take_credit_memos_and_refunds_with_their_tax_codes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    from qbo_toolkit.work.demo import generate_demo

    with open_world(tmp_path, monkeypatch, with_demo=False, company_kind=kind) as w:
        w.demo = generate_demo(w.store, integration_date=START, tax_kind=kind, **DEMO)
        settings = replace(CREDITS, tax=KINDS[kind])
        result = w.sync(settings)
        assert result.completed, result.message
        taxes = [e.message for e in w.activity(result) if e.field == "tax_amount"]
        assert taxes == [], taxes[:3]  # QuickBooks computed every document's tax as WORK did
        counts = check_credits(w, settings)
        assert counts["credit_memos"] == w.demo.credit_notes and counts["refunds"] == w.demo.refunds
        check_consistent(w, settings)
        assert w.sync(settings).counts["ok"] == 0



def test_a_dry_run_plans_the_credits_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_world(tmp_path, monkeypatch, demo=DEMO) as w:
        mark = w.log_mark()
        dry = w.sync(CREDITS, dry_run=True)
        assert dry.completed
        planned = Counter((a.entity, a.kind) for a in dry.actions)
        assert w.demo is not None and planned[("credit_note", "create")] == w.demo.credit_notes
        # the applications are planned against the credit memos and invoices the dry run assumed created
        assert planned[("credit_applied", "create")] == w.demo.credit_applications
        assert planned[("refund", "create")] == w.demo.refunds
        writes = [e for e in w.data_requests(mark) if e["method"] == "POST" and not e["path"].endswith("/query")]
        assert writes == []
        assert w.state.links("credit_note") == {} and w.state.links("refund") == {}


def test_credits_dated_in_closed_books_wait_with_the_sentence_then_go_on_the_first_open_day(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_sync_closed_books import close_books

    with open_world(tmp_path, monkeypatch, with_demo=False) as w:
        store = w.store
        client = store.add_client(display_name="Lakeside Dental", email="desk@lakeside.example")
        lines = [{"description": "Service", "qty": Decimal("1"), "unit_price": Decimal("120.00")}]
        inv = store.add_invoice("O-1", client.id, date(2026, 2, 10), lines=lines)
        note = store.add_credit_note("CN-1", client.id, date(2026, 1, 20), "30.00", "Goodwill")
        app = store.add_credit_application(note.id, inv.id, date(2026, 2, 11), "30.00")
        refund = store.add_refund(client.id, date(2026, 1, 25), "10.00", "Deposit back", method="Cash")
        close_books(w, "2026-01-31")
        run = w.sync(CREDITS)
        waiting = {(e.entity, e.work_id): e.message for e in w.activity(run, outcome="failed")
                   if e.field == "closed_period"}
        assert set(waiting) == {("credit_note", note.id), ("refund", refund.id)}
        assert waiting["credit_note", note.id].startswith(
            "credit note CN-1 is dated 2026-01-20, on or before QuickBooks' closing date 2026-01-31")
        assert "closed_period: first_open_date" in waiting["refund", refund.id]
        # the application waits for its credit note (not sent, not lost)
        blocked = [e for e in w.activity(run, outcome="failed") if e.entity == "credit_applied"]
        assert [e.field for e in blocked] == ["credit_note_id"]
        assert marked(w.qbo("CreditMemo"), "credit_note") == {}

        moved = replace(CREDITS, closed_period="first_open_date")
        result = w.sync(moved)
        assert result.completed, result.message
        [memo] = marked(w.qbo("CreditMemo"), "credit_note")[note.id]
        assert memo["TxnDate"] == "2026-02-01" and "Dated 2026-01-20 in WORK" in memo["PrivateNote"]
        assert app.id in marked(w.qbo("Payment"), "credit_applied")  # unblocked once its credit memo went
        [receipt] = marked(w.qbo("RefundReceipt"), "refund")[refund.id]
        assert receipt["TxnDate"] == "2026-02-01"
        assert money(w.invoice_of(inv.id)["Balance"]) == Decimal("90.00")
        assert w.sync(moved).counts["ok"] == 0


def test_doctor_finds_and_deletes_a_second_copy_of_a_credit_memo_and_a_refund(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qbo_toolkit.sync.doctor import doctor

    with open_world(tmp_path, monkeypatch, demo=DEMO) as w:
        assert w.sync(CREDITS).completed
        assert doctor(store=w.store, conn=w.conn).consistent_after
        unapplied = w.awkward("credit_note_unapplied")
        [memo] = marked(w.qbo("CreditMemo"), "credit_note")[unapplied]
        copy = {k: memo[k] for k in ("CustomerRef", "TxnDate", "Line", "PrivateNote", "TxnTaxDetail") if k in memo}
        copy["DocNumber"] = f"{memo['DocNumber']}-2"  # written twice by something that renumbered it
        twin = w.create_qbo("CreditMemo", copy)
        refund_id, [receipt] = next(iter(marked(w.qbo("RefundReceipt"), "refund").items()))
        again = w.create_qbo("RefundReceipt", {k: receipt[k] for k in ("CustomerRef", "TxnDate", "Line", "PrivateNote",
                                                                         "DepositToAccountRef", "TxnTaxDetail")
                                                 if k in receipt})
        report = doctor(store=w.store, conn=w.conn)
        kinds = {(f.kind, f.entity, f.work_id, f.qbo_id) for f in report.findings}
        assert ("duplicate", "credit_note", unapplied, str(twin["Id"])) in kinds, str(report)
        assert ("duplicate", "refund", refund_id, str(again["Id"])) in kinds, str(report)
        fixed = doctor(store=w.store, conn=w.conn, repair=True)
        assert fixed.consistent_after, str(fixed)
        check_credits(w)
        assert doctor(store=w.store, conn=w.conn).findings == []


def test_a_lowered_application_frees_its_balance_for_a_payment_of_the_same_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_world(tmp_path, monkeypatch, demo=DEMO) as w:
        assert w.sync(CREDITS).completed
        store = w.store
        app = next(a for a in store.credit_applications() if a.amount >= Decimal("2.00"))
        inv = store.get_invoice(app.invoice_id)
        assert inv is not None
        store.update_credit_application(app.id, amount=app.amount - Decimal("1.00"))
        owed = inv.total - store.paid_amounts([inv.id]).get(inv.id, Decimal("0.00")) - \
            store.credited_amounts([inv.id])[inv.id]
        pay = store.add_payment(inv.id, date(2026, 6, 1), owed, method="Check")  # uses the freed 1.00 too
        result = w.sync(CREDITS)
        assert result.completed, result.message
        assert result.counts["credit_applied.update.ok"] == 1 and result.counts["payment.create.ok"] == 1, [
            e.message for e in w.activity(result, outcome="failed")]
        assert pay.id in w.state.links("payment")
        assert money(w.invoice_of(inv.id)["Balance"]) == Decimal("0.00")
        check_credits(w)
        check_consistent(w, CREDITS)


def test_a_credit_note_on_a_held_item_waits_said_once_and_goes_once_chosen(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_world(tmp_path, monkeypatch, demo=DEMO) as w:
        ask = replace(CREDITS, existing_items="ask")  # Parts exists in QBO on another income account
        parts = next(item.id for item in w.store.items() if item.name == "Parts")
        on_parts = {n.id for n in w.store.credit_notes() if n.item_id == parts}
        assert on_parts
        first = w.sync(ask)
        held = {e.work_id for e in w.activity(first, entity="credit_note", outcome="failed")
                if e.field == "existing_items"}
        assert held == on_parts
        text = next(e.message for e in w.activity(first, entity="credit_note") if e.field == "existing_items")
        assert text.startswith("credit note CN-") and "existing_items: use_as_is" in text
        quiet = w.sync(ask)  # waiting for a person: not said again every run
        assert [e for e in w.activity(quiet, entity="credit_note") if e.field == "existing_items"] == []
        chosen = w.sync(replace(ask, existing_items="use_as_is"))
        assert chosen.counts["credit_note.create.ok"] == len(on_parts), chosen.counts
        check_credits(w)
        check_consistent(w, CREDITS)
