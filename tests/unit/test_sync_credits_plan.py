"""The pure side of issue 13's credit stages: the planners (a record, its links in; one action out)
and the payloads (mapping/credits.py): what QBO receives for a credit note, an application, a refund."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from qbo_toolkit.mapping import credits as cmap
from qbo_toolkit.mapping.markers import marker_owner
from qbo_toolkit.settings import CompanyFacts, Settings, TaxSettings
from qbo_toolkit.sync.credits import plan_credit_applied, plan_document
from qbo_toolkit.sync.state import Link
from qbo_toolkit.work.models import CreditApplication, CreditNote, Invoice, InvoiceLine, Refund

D = Decimal
START = date(2026, 1, 1)
TODAY = date(2026, 6, 1)
NOTE = CreditNote(7, "CN-7", 3, date(2026, 2, 1), "Returned part", 2, D("40.00"), "CA sales tax", D("3.30"),
                  D("43.30"), version=2)
REFUND = Refund(4, 3, date(2026, 2, 2), "Deposit back", None, D("50.00"), "", D("0.00"), D("50.00"), "Check", "1001")
APP = CreditApplication(5, 7, 9, date(2026, 2, 3), D("20.00"), version=1)
INVOICE = Invoice(9, "W-9", 3, date(2026, 1, 20), None, "open", (InvoiceLine(1, None, "x", D(1), D("100.00")),),
                  total=D("100.00"))


def link(entity: str, work_id: int, qbo_id: str = "77", *, version: int = 1, state: str = "active") -> Link:
    return Link(entity, work_id, qbo_id, "0", version, None, None, datetime(2026, 1, 1, tzinfo=UTC), state)


CUSTOMER = link("customer", 3, "31")


def test_plan_document_creates_waits_skips_and_deletes() -> None:
    plan = lambda doc, lk=None, cust=CUSTOMER, **kw: plan_document(  # noqa: E731
        "credit_note", doc, lk, cust, integration_date=START, today=TODAY, **kw)
    assert plan(NOTE).kind == "create"
    waiting = plan(NOTE, cust=None)
    assert (waiting.kind, waiting.field, waiting.fields["blocked_by"]) == ("fail", "client_id", "customer:3")
    assert plan(replace(NOTE, date=date(2025, 12, 31))).kind == "skip"
    typo = plan(replace(NOTE, date=date(1850, 2, 1)))
    assert typo.kind == "fail" and typo.field == "date" and "1850-02-01" in typo.reason
    assert plan(NOTE, link("credit_note", 7, version=2)).reason == "unchanged"
    assert plan(NOTE, link("credit_note", 7, version=1)).kind == "update"
    assert plan(replace(NOTE, deleted=True), link("credit_note", 7)).kind == "delete"
    assert plan(replace(NOTE, deleted=True)).kind == "skip"
    assert plan(NOTE, link("credit_note", 7, state="gone")).kind == "skip"
    inactive = plan(NOTE, client_active=False)
    assert inactive.kind == "fail" and inactive.field == "client_id" and "inactive" in inactive.reason
    refund = plan_document("refund", REFUND, None, CUSTOMER, integration_date=START, today=TODAY)
    assert refund.kind == "create" and refund.entity == "refund" and "refund 4" in refund.reason


def test_plan_credit_applied_waits_for_both_sides_and_skips_what_does_not_sync() -> None:
    memo, inv = link("credit_note", 7, "88"), link("invoice", 9, "99")

    def plan(app: CreditApplication = APP, lk: Link | None = None, note: CreditNote | None = NOTE,
             note_link: Link | None = memo, invoice: Invoice | None = INVOICE, invoice_link: Link | None = inv) -> str:
        action = plan_credit_applied(app, lk, note, note_link, invoice, invoice_link, integration_date=START,
                                     today=TODAY)
        return f"{action.kind}:{action.field or ''}:{action.fields.get('blocked_by', '')}"

    assert plan() == "create::"
    assert plan(note_link=None) == "fail:credit_note_id:credit_note:7"
    assert plan(invoice_link=None) == "fail:invoice_id:invoice:9"
    assert plan(invoice_link=None, invoice=replace(INVOICE, issue_date=date(2025, 12, 1))) == "skip::"
    assert plan(invoice_link=None, invoice=replace(INVOICE, status="void")) == "skip::"
    assert plan(note_link=None, note=replace(NOTE, date=date(2025, 12, 1))) == "skip::"
    assert plan(invoice_link=replace(inv, state="voided")) == "skip::"
    assert plan(note=None) == "fail:credit_note_id:"
    assert plan(lk=link("credit_applied", 5)) == "skip::"  # same version
    assert plan(app=replace(APP, version=2), lk=link("credit_applied", 5)) == "update::"
    assert plan(app=replace(APP, deleted=True), lk=link("credit_applied", 5)) == "delete::"
    assert plan(app=replace(APP, deleted=True)) == "skip::"


def test_credit_memo_payload_us_explicit_tax_and_mark() -> None:
    payload = cmap.credit_memo_to_qbo(NOTE, customer_id="31", item_id="12")
    assert payload["DocNumber"] == "CN-7" and payload["CustomerRef"] == {"value": "31"}
    [line] = payload["Line"]
    assert line["Amount"] == D("40.00") and line["SalesItemLineDetail"]["ItemRef"] == {"value": "12"}
    assert line["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "TAX"}
    assert payload["TxnTaxDetail"] == {"TotalTax": D("3.30")}
    assert marker_owner(payload["PrivateNote"], "credit_note") == 7
    untaxed = cmap.credit_memo_to_qbo(replace(NOTE, tax_rate="", tax_amount=D("0.00"), total=D("40.00")),
                                      customer_id="31", item_id="12")
    assert untaxed["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "NON"}


def test_credit_memo_payload_non_us_takes_the_mapped_tax_code_or_names_the_missing_one() -> None:
    company = CompanyFacts(kind="non-us", tax_codes={"3": "20.0% S"})
    settings = Settings(tax=TaxSettings(mode="tax_codes", codes={"VAT 20%": "3"}), company=company)
    vat = replace(NOTE, tax_rate="VAT 20%", tax_amount=D("8.00"), total=D("48.00"))
    payload = cmap.credit_memo_to_qbo(vat, customer_id="31", item_id="12", settings=settings)
    assert payload["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "3"}
    assert payload["GlobalTaxCalculation"] == "TaxExcluded" and "TxnTaxDetail" not in payload
    [problem] = cmap.credit_note_tax(replace(vat, tax_rate="VAT 5%"), settings).problems
    assert "credit note CN-7 line 1 has WORK tax rate 'VAT 5%'" in problem.message


def test_credit_payment_payload_links_invoice_and_credit_memo_for_the_amount() -> None:
    payload = cmap.credit_payment_to_qbo(APP, customer_id="31", invoice_qbo_id="99", memo_qbo_id="88")
    assert payload["TotalAmt"] == 0
    assert payload["Line"] == [
        {"Amount": D("20.00"), "LinkedTxn": [{"TxnId": "99", "TxnType": "Invoice"}]},
        {"Amount": D("20.00"), "LinkedTxn": [{"TxnId": "88", "TxnType": "CreditMemo"}]},
    ]
    assert marker_owner(payload["PrivateNote"], "credit_applied") == 5
    assert marker_owner(payload["PrivateNote"], "payment") is None  # never taken for a WORK payment


def test_refund_payload_and_checks() -> None:
    payload = cmap.refund_to_qbo(REFUND, customer_id="31", item_id="1", account_id="5", method_id="2",
                                 txn_date=date(2026, 4, 1), memo="moved")
    assert payload["DepositToAccountRef"] == {"value": "5"} and payload["PaymentMethodRef"] == {"value": "2"}
    assert payload["PaymentRefNum"] == "1001" and payload["TxnDate"] == "2026-04-01"
    assert payload["PrivateNote"].startswith("Method: Check\nmoved\n")
    assert marker_owner(payload["PrivateNote"], "refund") == 4
    assert cmap.validate_refund(REFUND) == []
    [long_ref] = cmap.validate_refund(replace(REFUND, reference="R" * 22))
    assert long_ref.field == "reference" and "22 characters" in long_ref.message


@pytest.mark.parametrize(("number", "field"), [("", "number"), ("N" * 22, "number"), ("CN\x1b1", "number")])
def test_credit_note_checks_name_the_field(number: str, field: str) -> None:
    [problem] = cmap.validate_credit_note(replace(NOTE, number=number))
    assert problem.field == field and problem.message.startswith("credit note")
    [total] = cmap.validate_credit_note(replace(NOTE, total=D("43.31")))
    assert total.field == "total"
