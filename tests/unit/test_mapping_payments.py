"""WORK payment -> QBO Payment (qbo_toolkit.mapping.payments).

Dataset: CHECK = payment 3 of 50.00 on 2024-05-03 by "Check", reference "1001", paying WORK
invoice 7 (QBO invoice 130, customer 58, deposit account 4); BARE = the same without method or
reference.

Expected: the payload links invoice 130 (one line, Amount = TotalAmt, TxnType Invoice), carries
PaymentRefNum only when set, PrivateNote "Method: Check" when set and always the toolkit's mark
"[qbo-toolkit payment 3]" as its last line (how the sync finds its own payment after a crash); values
agree with QBO's reply (the mark is not part of the compared note).
Problems (each naming its field): amount 0 and -5 (amount, not positive), 10.005 (amount,
fractions of a cent), 120.00 on a 100.00 invoice (amount, more than the invoice total), a
22-character reference (reference, 21).
"""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from qbo_toolkit.mapping.markers import marker_owner
from qbo_toolkit.mapping.payments import (
    PAYMENT_KEYS,
    fingerprint,
    payment_to_qbo,
    payment_values,
    qbo_payment_values,
    validate_payment,
)
from qbo_toolkit.work.models import Payment

D = Decimal
CHECK = Payment(id=3, invoice_id=7, date=date(2024, 5, 3), amount=D("50.00"), method="Check", reference="1001")
BARE = dataclasses.replace(CHECK, method="", reference="")
IDS: dict[str, str] = {"customer_id": "58", "invoice_qbo_id": "130"}


def test_payload_links_the_invoice() -> None:
    assert payment_to_qbo(CHECK, deposit_account_id="4", **IDS) == {
        "CustomerRef": {"value": "58"},
        "TotalAmt": D("50.00"),
        "TxnDate": "2024-05-03",
        "Line": [{"Amount": D("50.00"), "LinkedTxn": [{"TxnId": "130", "TxnType": "Invoice"}]}],
        "DepositToAccountRef": {"value": "4"},
        "PaymentRefNum": "1001",
        "PrivateNote": "Method: Check\n[qbo-toolkit payment 3]",
    }


def test_bare_payment_leaves_out_reference_and_carries_only_the_mark() -> None:
    payload = payment_to_qbo(BARE, deposit_account_id="4", **IDS)
    assert "PaymentRefNum" not in payload
    assert payload["PrivateNote"] == f"[qbo-toolkit payment {BARE.id}]"
    assert marker_owner(payload["PrivateNote"], "payment") == BARE.id
    assert marker_owner(payload["PrivateNote"], "invoice") is None


def test_a_note_over_the_limit_with_its_mark_is_a_problem() -> None:
    near = dataclasses.replace(CHECK, method="M" * (4000 - len("Method: ")))
    assert [p.field for p in validate_payment(near, invoice_total=None)] == ["method"]


def test_reference_is_never_shortened() -> None:
    payload = payment_to_qbo(dataclasses.replace(CHECK, reference="R" * 30), deposit_account_id="4", **IDS)
    assert payload["PaymentRefNum"] == "R" * 30


@pytest.mark.parametrize(
    ("change", "invoice_total", "field", "words"),
    [
        ({"amount": D("0.00")}, None, "amount", "not a positive amount"),
        ({"amount": D("-5.00")}, None, "amount", "not a positive amount"),
        ({"amount": D("10.005")}, None, "amount", "fractions of a cent"),
        ({"amount": D("120.00")}, D("100.00"), "amount", "more than the invoice total"),
        ({"reference": "R" * 22}, None, "reference", "21"),
    ],
)
def test_problems_name_the_field(change: dict[str, Any], invoice_total: Decimal | None, field: str, words: str) -> None:
    problems = validate_payment(dataclasses.replace(CHECK, **change), invoice_total=invoice_total)
    assert [p.field for p in problems] == [field]
    assert problems[0].entity == "payment"
    assert problems[0].record == "3"
    assert words in problems[0].message


def test_valid_payments() -> None:
    assert validate_payment(CHECK, invoice_total=D("50.00")) == []
    assert validate_payment(CHECK, invoice_total=None) == []
    assert validate_payment(dataclasses.replace(CHECK, reference="R" * 21), invoice_total=None) == []


def qbo_payment_reply(payment: Payment) -> dict[str, Any]:
    payload = payment_to_qbo(payment, deposit_account_id="4", **IDS)
    line = payload["Line"][0]
    return {
        **payload,
        "Id": "150",
        "SyncToken": "0",
        "TotalAmt": float(payload["TotalAmt"]),
        "UnappliedAmt": 0.0,
        "PaymentRefNum": payload.get("PaymentRefNum", ""),
        "PrivateNote": payload.get("PrivateNote", ""),
        "Line": [{"Amount": float(line["Amount"]), "LinkedTxn": line["LinkedTxn"], "LineEx": {"any": []}}],
    }


@pytest.mark.parametrize("payment", [CHECK, BARE], ids=["check", "bare"])
def test_values_agree_with_qbo(payment: Payment) -> None:
    work = payment_values(payment, **IDS)
    qbo = qbo_payment_values(qbo_payment_reply(payment))
    assert list(work) == list(qbo) == list(PAYMENT_KEYS)
    assert work == qbo
    assert work["invoice_ids"] == "130"


def test_payment_fingerprint_is_sensitive_to_each_field() -> None:
    values = payment_values(CHECK, **IDS)
    seen = {fingerprint(values)} | {fingerprint({**values, key: values[key] + "x"}) for key in PAYMENT_KEYS}
    assert len(seen) == len(PAYMENT_KEYS) + 1
