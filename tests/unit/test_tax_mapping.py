"""Sales tax per kind of company (mapping/tax.py), the invoice payload it makes, the closed-period
rule's sentences and the fault that names it.

Datasets: one invoice with a taxable line at WORK rate "VAT 20%" (100.00), an untaxed line
(50.00, no rate) and WORK tax 20.00; companies us-ast (default), us-manual, non-us (GB)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from qbo_toolkit.errors import ClosedPeriod, StaleObject, fault_to_error
from qbo_toolkit.mapping.invoices import invoice_tax_problems, invoice_to_qbo
from qbo_toolkit.mapping.tax import SalesTax, TaxLine, sales_tax, tax_difference
from qbo_toolkit.settings import CompanyFacts, Settings, TaxSettings
from qbo_toolkit.sync.preflight import closed_books_sentence, first_open_date, resolve_names
from qbo_toolkit.work.models import Invoice, InvoiceLine

LINES = (InvoiceLine(1, 7, "Pump", Decimal("1"), Decimal("100.00"), True, "VAT 20%"),
         InvoiceLine(2, 7, "Labour", Decimal("2"), Decimal("25.00"), False, ""))
INVOICE = Invoice(1, "1042", 3, date(2026, 3, 10), None, "open", LINES, Decimal("20.00"), Decimal("170.00"))
ITEMS = {7: "11", None: "1"}
UK = CompanyFacts("non-us", "GB", None, {"1": "20.0% S", "4": "Exempt"})
MANUAL = CompanyFacts("us-manual", "US", None, {"5": "California", "6": "Out of state"})


def _codes(payload: dict) -> list[str]:
    return [line["SalesItemLineDetail"]["TaxCodeRef"]["value"] for line in payload["Line"]]


def test_us_ast_is_what_the_toolkit_always_sent() -> None:
    payload = invoice_to_qbo(INVOICE, customer_id="9", item_ids=ITEMS)
    assert _codes(payload) == ["TAX", "NON"]
    assert payload["TxnTaxDetail"] == {"TotalTax": Decimal("20.00")}
    assert "GlobalTaxCalculation" not in payload and "SalesTermRef" not in payload and "ClassRef" not in payload
    ast = Settings(company=CompanyFacts("us-ast"))
    assert invoice_to_qbo(INVOICE, customer_id="9", item_ids=ITEMS, settings=ast) == payload


def test_non_us_sends_each_lines_tax_code_and_no_total() -> None:
    settings = Settings(tax=TaxSettings("tax_codes", {"VAT 20%": "1", "": "4"}), company=UK)
    payload = invoice_to_qbo(INVOICE, customer_id="9", item_ids=ITEMS, settings=settings)
    assert _codes(payload) == ["1", "4"]
    assert payload["GlobalTaxCalculation"] == "TaxExcluded" and "TxnTaxDetail" not in payload
    assert invoice_tax_problems(INVOICE, settings) == []


def test_non_us_names_the_unmapped_rate_and_the_closest_code() -> None:
    settings = Settings(tax=TaxSettings("tax_codes", {"": "4"}), company=UK)
    (problem,) = invoice_tax_problems(INVOICE, settings)
    assert problem.field == "lines[1].tax_rate"
    assert "invoice 1042 line 1 has WORK tax rate 'VAT 20%'" in problem.message
    assert "tax.codes" in problem.message and "20.0% S" in problem.message
    no_blank = Settings(tax=TaxSettings("tax_codes", {"VAT 20%": "1"}), company=UK)
    (blank,) = invoice_tax_problems(INVOICE, no_blank)
    assert blank.field == "lines[2].tax_rate" and "\"\": \"Exempt\"" in blank.message


def test_us_manual_sends_one_code_per_invoice() -> None:
    mapped = Settings(tax=TaxSettings("explicit_total", {"VAT 20%": "5"}), company=MANUAL)
    payload = invoice_to_qbo(INVOICE, customer_id="9", item_ids=ITEMS, settings=mapped)
    assert _codes(payload) == ["TAX", "NON"]
    assert payload["TxnTaxDetail"] == {"TxnTaxCodeRef": {"value": "5"}, "TotalTax": Decimal("20.00")}
    fallback = Settings(tax=TaxSettings("explicit_total", {}, "6"), company=MANUAL)
    assert invoice_to_qbo(INVOICE, customer_id="9", item_ids=ITEMS,
                          settings=fallback)["TxnTaxDetail"]["TxnTaxCodeRef"] == {"value": "6"}
    (problem,) = invoice_tax_problems(INVOICE, Settings(company=MANUAL))
    assert "manual sales tax" in problem.message and "tax.invoice_code" in problem.message
    untaxed = replace(INVOICE, lines=(LINES[1],), tax_amount=Decimal("0.00"), total=Decimal("50.00"))
    assert invoice_tax_problems(untaxed, Settings(company=MANUAL)) == []


def test_terms_class_department_and_the_first_open_date() -> None:
    settings = Settings(class_="2", department="1")
    payload = invoice_to_qbo(INVOICE, customer_id="9", item_ids=ITEMS, settings=settings, term_id="3",
                             txn_date=date(2026, 4, 1), note="moved")
    assert payload["SalesTermRef"] == {"value": "3"} and payload["ClassRef"] == {"value": "2"}
    assert payload["DepartmentRef"] == {"value": "1"} and payload["TxnDate"] == "2026-04-01"
    assert payload["PrivateNote"] == "moved\n[qbo-toolkit invoice 1]"


def test_sales_tax_applies_to_item_lines_in_order() -> None:
    tax = sales_tax([TaxLine(Decimal("10"), "A", True)], tax_amount=Decimal("1.00"), settings=Settings())
    assert isinstance(tax, SalesTax) and tax.line_codes == ("TAX",)
    payload = {"Line": [{"DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {}}]}
    assert tax.apply(payload)["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "TAX"}


def test_tax_difference_names_the_invoice_and_both_amounts() -> None:
    qbo = {"TxnTaxDetail": {"TotalTax": 19.5, "TaxLine": [
        {"Amount": 19.5, "TaxLineDetail": {"TaxRateRef": {"value": "3", "name": "20.0% S"}, "TaxPercent": 19.5,
                                           "NetAmountTaxable": 100}}]}}
    text = tax_difference(Decimal("20.00"), qbo, label="invoice 1042")
    assert text is not None and text.startswith("invoice 1042: QuickBooks computed tax 19.50")
    assert "WORK has 20.00" in text and "difference -0.50" in text and "20.0% S" in text
    assert tax_difference(Decimal("19.50"), qbo, label="invoice 1042") is None


def test_closed_books_sentences_and_the_first_open_date() -> None:
    text = closed_books_sentence("invoice 1042", date(2026, 3, 10), date(2026, 3, 31))
    assert "invoice 1042 is dated 2026-03-10" in text and "closing date 2026-03-31" in text
    assert "reopen the period" in text and "closed_period: first_open_date" in text and "2026-04-01" in text
    assert "first_open_date" not in closed_books_sentence("invoice 1", date(2026, 3, 1), date(2026, 3, 31), "void",
                                                          movable=False)
    moved_out = closed_books_sentence("invoice 7", date(2026, 4, 5), date(2026, 3, 31), "update", refused=True)
    assert moved_out.startswith("invoice 7 (dated 2026-04-05 in WORK): the copy QuickBooks holds is dated on or "
                                "before QuickBooks' closing date 2026-03-31")
    assert "first_open_date" not in moved_out and "reopen the period" in moved_out
    assert first_open_date(date(2026, 3, 10), date(2026, 3, 31), "wait") == (None, "")
    moved, memo = first_open_date(date(2026, 3, 10), date(2026, 3, 31), "first_open_date")
    assert moved == date(2026, 4, 1) and "Dated 2026-03-10 in WORK" in memo
    assert first_open_date(date(2026, 4, 2), date(2026, 3, 31), "first_open_date") == (None, "")


def test_the_closed_period_fault_is_known_by_its_text_whatever_its_code() -> None:
    words = ("The account period has closed and the account books cannot be updated through the QBO Services "
             "API, please use the QBO website")
    for code, message in (("5010", "Account Period Closed"), ("6210", "Business Validation Error")):
        err = fault_to_error({"Fault": {"Error": [{"code": code, "Message": message, "Detail": words}]}})
        assert isinstance(err, ClosedPeriod) and not err.retryable
    stale = fault_to_error({"Fault": {"Error": [{"code": "5010", "Message": "Stale Object Error",
                                                  "Detail": "Stale Object Error : You and root were working on this "
                                                            "at the same time."}]}})
    assert isinstance(stale, StaleObject)


def test_names_resolve_by_name_or_id_with_the_closest() -> None:
    rows = [{"Id": "1", "Name": "Due on receipt"}, {"Id": "2", "Name": "Net 15"}, {"Id": "9", "Name": "Old",
                                                                                   "Active": False}]
    ids, problems = resolve_names(rows, {"a": "net 15", "b": "1"}, setting="terms", what="term")
    assert ids == {"a": "2", "b": "1"} and problems == []
    ids, problems = resolve_names(rows, {"x": "Net 16", "y": "Old"}, setting="terms", what="term")
    assert ids == {} and "did you mean Net 15?" in problems[0] and "no active term 'Old'" in problems[1]


def test_non_us_refuses_an_explicit_tax_without_rated_lines() -> None:
    settings = Settings(tax=TaxSettings("tax_codes", {"": "4"}), company=UK)
    explicit = replace(INVOICE, lines=(replace(LINES[0], tax_rate=""),), tax_amount=Decimal("8.00"),
                       total=Decimal("108.00"))
    (problem,) = invoice_tax_problems(explicit, settings)
    assert problem.field == "tax_amount" and "tax amount of 8.00 but no line has a WORK tax rate" in problem.message
