"""WORK invoice -> QBO Invoice, WORK item -> QBO Item (qbo_toolkit.mapping.invoices).

Money rule under test: a line's Amount is Qty × UnitPrice rounded half-up to the cent, the unit
price is sent unrounded, and QBO's TotalAmt (sum of line Amounts + TxnTaxDetail.TotalTax) equals
WORK's total to the cent.

Totals dataset (lines as qty × unit price, T = taxable; expected WORK total = QBO TotalAmt):
  plain        2 × 45.00                                  tax 0.00   ->  90.00
  thirds       3 × 33.333 T, 1 × 10.00                    tax 8.25   -> 118.25  (99.999 -> 100.00)
  half-up      1.5 × 19.99, 1 × 0.125, 0.333 × 3          tax 0.00   ->  31.12  (29.985 -> 29.99, 0.125 -> 0.13,
                                                                                0.999 -> 1.00)
  credit line  1 × 100.00 T, -1 × 15.50                   tax 7.00   ->  91.50
  default item one line without an item (item_ids[None])  tax 0.00   ->  12.00

Validation dataset (each names its WORK field): DocNumber of 22 characters (number), no number,
no lines (lines), tax 1.005 (tax_amount), negative tax, total 10.005 (total), negative total,
total ≠ lines + tax (total), a 4001-character description (lines[1].description).
"""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from qbo_toolkit.mapping.invoices import (
    INVOICE_KEYS,
    fingerprint,
    invoice_differences,
    invoice_to_qbo,
    invoice_values,
    item_to_qbo,
    item_values,
    qbo_invoice_values,
    qbo_item_values,
    validate_invoice,
    validate_item,
)
from qbo_toolkit.work.models import Invoice, InvoiceLine, Item

D = Decimal
ITEM_IDS: dict[int | None, str] = {None: "1", 5: "7", 6: "8"}


def line(no: int, qty: str, price: str, *, taxable: bool = False, item: int | None = 5, text: str = "") -> InvoiceLine:
    return InvoiceLine(no, item, text or f"line {no}", D(qty), D(price), taxable)


def invoice(lines: tuple[InvoiceLine, ...], tax: str = "0.00", *, total: str | None = None, **changes: Any) -> Invoice:
    base = Invoice(
        id=42,
        number="INV-1001",
        client_id=1,
        issue_date=date(2024, 5, 1),
        due_date=date(2024, 5, 31),
        status="open",
        lines=lines,
        tax_amount=D(tax),
    )
    computed = base.subtotal + base.tax_amount
    return dataclasses.replace(base, total=D(total) if total is not None else computed, **changes)


TOTALS = {
    "plain": (invoice((line(1, "2", "45.00"),)), "90.00"),
    "thirds": (invoice((line(1, "3", "33.333", taxable=True), line(2, "1", "10.00")), "8.25"), "118.25"),
    "half-up": (invoice((line(1, "1.5", "19.99"), line(2, "1", "0.125"), line(3, "0.333", "3"))), "31.12"),
    "credit line": (invoice((line(1, "1", "100.00", taxable=True), line(2, "-1", "15.50")), "7.00"), "91.50"),
    "default item": (invoice((line(1, "1", "12.00", item=None),)), "12.00"),
}


def qbo_total(payload: dict[str, Any]) -> Decimal:
    """QBO's TotalAmt for a payload, by QBO's rules: each Amount must equal Qty × UnitPrice
    rounded to the cent (fault 6070 otherwise); TotalAmt = sum of Amounts + TotalTax."""
    total = Decimal("0")
    for entry in payload["Line"]:
        detail = entry["SalesItemLineDetail"]
        product = (detail["Qty"] * detail["UnitPrice"]).quantize(D("0.01"), rounding=ROUND_HALF_UP)
        assert entry["Amount"] == product, "QBO would refuse this line with 6070"
        total += entry["Amount"]
    return total + payload["TxnTaxDetail"]["TotalTax"]


@pytest.mark.parametrize("case", list(TOTALS))
def test_qbo_total_equals_work_total_to_the_cent(case: str) -> None:
    inv, expected = TOTALS[case]
    payload = invoice_to_qbo(inv, customer_id="58", item_ids=ITEM_IDS)
    assert inv.total == D(expected)
    assert qbo_total(payload) == D(expected)
    assert validate_invoice(inv) == []


def test_payload_shape() -> None:
    inv, _ = TOTALS["thirds"]
    assert invoice_to_qbo(inv, customer_id="58", item_ids=ITEM_IDS) == {
        "CustomerRef": {"value": "58"},
        "DocNumber": "INV-1001",
        "TxnDate": "2024-05-01",
        "DueDate": "2024-05-31",
        "TxnTaxDetail": {"TotalTax": D("8.25")},
        "PrivateNote": f"[qbo-toolkit invoice {inv.id}]",
        "Line": [
            {
                "DetailType": "SalesItemLineDetail",
                "Amount": D("100.00"),
                "Description": "line 1",
                "SalesItemLineDetail": {
                    "ItemRef": {"value": "7"},
                    "Qty": D("3"),
                    "UnitPrice": D("33.333"),
                    "TaxCodeRef": {"value": "TAX"},
                },
            },
            {
                "DetailType": "SalesItemLineDetail",
                "Amount": D("10.00"),
                "Description": "line 2",
                "SalesItemLineDetail": {
                    "ItemRef": {"value": "7"},
                    "Qty": D("1"),
                    "UnitPrice": D("10.00"),
                    "TaxCodeRef": {"value": "NON"},
                },
            },
        ],
    }


def test_lines_in_line_number_order_default_item_and_no_due_date() -> None:
    inv = invoice((line(2, "1", "5", item=6), line(1, "1", "7", item=None, text="  ")), due_date=None)
    payload = invoice_to_qbo(inv, customer_id="58", item_ids=ITEM_IDS)
    assert "DueDate" not in payload
    assert [entry["SalesItemLineDetail"]["ItemRef"]["value"] for entry in payload["Line"]] == ["1", "8"]
    assert "Description" not in payload["Line"][0]


def test_unknown_item_names_the_line() -> None:
    inv = invoice((line(1, "1", "5", item=99),))
    with pytest.raises(KeyError, match="line 1: no QBO item id for WORK item 99"):
        invoice_to_qbo(inv, customer_id="58", item_ids=ITEM_IDS)
    with pytest.raises(KeyError, match="default item"):
        invoice_to_qbo(invoice((line(1, "1", "5", item=None),)), customer_id="58", item_ids={5: "7"})


PLAIN, _ = TOTALS["plain"]
PROBLEMS = [
    pytest.param(dataclasses.replace(PLAIN, number="N" * 22), "number", "21", id="docnumber-22"),
    pytest.param(dataclasses.replace(PLAIN, number=" "), "number", "no number", id="no-number"),
    pytest.param(invoice(()), "lines", "no lines", id="no-lines"),
    pytest.param(invoice(PLAIN.lines, "1.005", total="91.01"), "tax_amount", "fractions of a cent", id="tax-fraction"),
    pytest.param(invoice(PLAIN.lines, "-1.00"), "tax_amount", "negative", id="tax-negative"),
    pytest.param(invoice(PLAIN.lines, total="90.005"), "total", "fractions of a cent", id="total-fraction"),
    pytest.param(invoice((line(1, "-1", "5"),)), "total", "negative", id="total-negative"),
    pytest.param(invoice(PLAIN.lines, total="90.01"), "total", "90.00", id="total-mismatch"),
    pytest.param(invoice((line(1, "1", "5", text="d" * 4001),)), "lines[1].description", "4000", id="description"),
]


@pytest.mark.parametrize(("inv", "field", "words"), PROBLEMS)
def test_validation_names_the_field(inv: Invoice, field: str, words: str) -> None:
    problems = validate_invoice(inv)
    assert [p.field for p in problems] == [field], problems
    assert problems[0].entity == "invoice"
    assert problems[0].record == "42"
    assert words in problems[0].message


def test_fractional_total_is_reported_once() -> None:
    inv = invoice(PLAIN.lines, total="90.005")
    assert len(validate_invoice(inv)) == 1  # not also "does not add up"


def qbo_invoice_reply(inv: Invoice) -> dict[str, Any]:
    """What QBO (through python-quickbooks' to_dict, floats and blank defaults) returns."""
    payload = invoice_to_qbo(inv, customer_id="58", item_ids=ITEM_IDS)
    lines = [
        {
            "Id": str(n),
            "LineNum": n,
            "Description": entry.get("Description"),
            "Amount": float(entry["Amount"]),
            "DetailType": "SalesItemLineDetail",
            "LinkedTxn": [],
            "SalesItemLineDetail": {
                "ItemRef": {"value": entry["SalesItemLineDetail"]["ItemRef"]["value"], "name": "Services", "type": ""},
                "Qty": float(entry["SalesItemLineDetail"]["Qty"]),
                "UnitPrice": float(entry["SalesItemLineDetail"]["UnitPrice"]),
                "TaxCodeRef": entry["SalesItemLineDetail"]["TaxCodeRef"],
                "ServiceDate": "",
            },
        }
        for n, entry in enumerate(payload["Line"], start=1)
    ]
    subtotal = sum(entry["Amount"] for entry in payload["Line"])
    lines.append({"Amount": float(subtotal), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
    return {
        "Id": "130",
        "SyncToken": "0",
        "DocNumber": payload["DocNumber"],
        "TxnDate": payload["TxnDate"],
        "DueDate": payload.get("DueDate", "2024-05-31"),
        "CustomerRef": {"value": "58", "name": "Cool Cars"},
        "Line": lines,
        "TxnTaxDetail": {"TotalTax": float(payload["TxnTaxDetail"]["TotalTax"])},
        "TotalAmt": float(qbo_total(payload)),
        "Balance": float(qbo_total(payload)),
        "PrivateNote": "",
    }


@pytest.mark.parametrize("case", list(TOTALS))
def test_values_agree_with_qbo_reply(case: str) -> None:
    inv, _ = TOTALS[case]
    work = invoice_values(inv, customer_id="58", item_ids=ITEM_IDS)
    qbo = qbo_invoice_values(qbo_invoice_reply(inv))
    assert list(work) == list(qbo) == list(INVOICE_KEYS)
    assert work == qbo
    assert invoice_differences(work, qbo) == []


def test_values_shape() -> None:
    inv, _ = TOTALS["thirds"]
    assert invoice_values(inv, customer_id="58", item_ids=ITEM_IDS) == {
        "number": "INV-1001",
        "date": "2024-05-01",
        "due_date": "2024-05-31",
        "customer_id": "58",
        "total": "118.25",
        "tax": "8.25",
        "lines": ("7|3|33.333|100.00|TAX|line 1", "7|1|10|10.00|NON|line 2"),
    }


def test_work_without_due_date_accepts_qbos_default() -> None:
    inv = dataclasses.replace(PLAIN, due_date=None)
    work = invoice_values(inv, customer_id="58", item_ids=ITEM_IDS)
    qbo = qbo_invoice_values(qbo_invoice_reply(inv))
    assert work["due_date"] == "" and qbo["due_date"] == "2024-05-31"
    assert invoice_differences(work, qbo) == []
    assert invoice_differences({**work, "due_date": "2024-06-01"}, qbo) == ["due_date"]


def test_differences_name_changed_fields() -> None:
    work = invoice_values(PLAIN, customer_id="58", item_ids=ITEM_IDS)
    reply = qbo_invoice_reply(PLAIN)
    reply["Line"][0]["SalesItemLineDetail"]["Qty"] = 3.0
    reply["Line"][0]["Amount"] = 135.0
    reply["TotalAmt"] = 135.0
    reply["DocNumber"] = "INV-9"
    assert invoice_differences(work, qbo_invoice_values(reply)) == ["number", "total", "lines"]


def test_invoice_fingerprint_is_sensitive_to_each_field() -> None:
    values = invoice_values(TOTALS["thirds"][0], customer_id="58", item_ids=ITEM_IDS)
    assert fingerprint(values) == fingerprint(dict(values))
    seen = {fingerprint(values)}
    for key in INVOICE_KEYS:
        value = values[key]
        seen.add(fingerprint({**values, key: (*value, "x") if isinstance(value, tuple) else value + "x"}))
    assert len(seen) == len(INVOICE_KEYS) + 1


# -- items ------------------------------------------------------------------------------------

LABOUR = Item(id=5, name="Labour", type="service", rate=D("85.00"))
PARTS = Item(id=6, name="Parts", type="product", rate=D("19.995"), active=False)


def test_item_payloads() -> None:
    assert item_to_qbo(LABOUR, income_account_id="1", expense_account_id=None) == {
        "Name": "Labour",
        "Type": "Service",
        "UnitPrice": D("85.00"),
        "Active": True,
        "IncomeAccountRef": {"value": "1"},
    }
    parts = item_to_qbo(PARTS, income_account_id="2", expense_account_id="3")
    assert parts["Type"] == "NonInventory"
    assert parts["UnitPrice"] == D("19.995")
    assert parts["Active"] is False
    assert parts["ExpenseAccountRef"] == {"value": "3"}


def test_item_values_agree_with_qbo() -> None:
    reply = {"Id": "7", "Name": "Labour", "Type": "Service", "UnitPrice": 85, "Active": True, "Description": ""}
    assert item_values(LABOUR) == qbo_item_values(reply)


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (dataclasses.replace(LABOUR, name=""), "name"),
        (dataclasses.replace(LABOUR, name="Labour:Evening"), "name"),
        (dataclasses.replace(LABOUR, name="L" * 101), "name"),
        (dataclasses.replace(LABOUR, rate=D("-1")), "rate"),
    ],
)
def test_item_problems(item: Item, field: str) -> None:
    assert [p.field for p in validate_item(item)] == [field]
    assert validate_item(LABOUR) == []
