"""WORK payments -> QBO Payment payloads (one line linked to the paid invoice), and their values.

A WORK payment pays one invoice: the QBO Payment has ``TotalAmt`` = the amount and one line
applying all of it to that invoice (``LinkedTxn {TxnId, TxnType: Invoice}``), so nothing is left
unapplied as customer credit. WORK's free-text payment method goes into ``PrivateNote``
(``"Method: Check"``) and, when QuickBooks' PaymentMethod list has it (by the settings'
``payment_methods`` mapping or by the same name), as ``PaymentMethodRef``. ``PaymentRefNum`` (the check or
transaction number) is limited to 21 characters and is never shortened: :func:`validate_payment`
reports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any, Final

from qbo_toolkit.control_chars import control_problem
from qbo_toolkit.mapping._common import fingerprint, money_text, ref_value, text
from qbo_toolkit.mapping.dates import date_problem
from qbo_toolkit.mapping.markers import strip_marker, with_marker
from qbo_toolkit.mapping.problems import FieldProblem
from qbo_toolkit.types import is_whole_cents
from qbo_toolkit.work.models import Payment

__all__ = [
    "PAYMENT_KEYS",
    "PAYMENT_REF_MAX",
    "fingerprint",
    "payment_date_problems",
    "payment_note",
    "payment_to_qbo",
    "payment_values",
    "qbo_payment_values",
    "validate_payment",
]

PAYMENT_REF_MAX: Final = 21
PRIVATE_NOTE_MAX: Final = 4000
#: The keys of :func:`payment_values` and :func:`qbo_payment_values`, in order.
PAYMENT_KEYS: Final = ("date", "amount", "reference", "note", "customer_id", "invoice_ids", "applied")


def payment_note(payment: Payment) -> str:
    """The ``PrivateNote`` for ``payment``: ``"Method: <method>"``, or ``""`` without a method."""
    method = text(payment.method)
    return f"Method: {method}" if method else ""


def payment_to_qbo(
    payment: Payment, *, customer_id: str, invoice_qbo_id: str, deposit_account_id: str,
    method_id: str | None = None, txn_date: date | None = None, memo: str = "",
) -> dict[str, Any]:
    """The QBO Payment payload for ``payment``: ``CustomerRef``, ``TotalAmt``, ``TxnDate``, one
    line applying the whole amount to invoice ``invoice_qbo_id``, ``DepositToAccountRef``, and
    ``PaymentRefNum`` / ``PrivateNote`` when WORK has a reference / method; ``PaymentMethodRef``
    when ``method_id`` (the QBO PaymentMethod of the WORK method) is given. ``txn_date`` replaces
    the date (a closed period's first open date) and ``memo`` follows the method in ``PrivateNote``.
    Run :func:`validate_payment` first: nothing is shortened here."""
    payload: dict[str, Any] = {
        "CustomerRef": {"value": str(customer_id)},
        "TotalAmt": payment.amount,
        "TxnDate": (txn_date or payment.date).isoformat(),
        "Line": [
            {
                "Amount": payment.amount,
                "LinkedTxn": [{"TxnId": str(invoice_qbo_id), "TxnType": "Invoice"}],
            }
        ],
        "DepositToAccountRef": {"value": str(deposit_account_id)},
    }
    reference = text(payment.reference)
    if reference:
        payload["PaymentRefNum"] = reference
    if method_id:
        payload["PaymentMethodRef"] = {"value": str(method_id)}
    # the method, and the toolkit's mark (see mapping.markers): how a payment is found after a crash
    note = "\n".join(part for part in (payment_note(payment), memo) if part)
    payload["PrivateNote"] = with_marker(note, "payment", payment.id)
    return payload


def validate_payment(payment: Payment, *, invoice_total: Decimal | None) -> list[FieldProblem]:
    """What QBO would refuse in ``payment``: an amount of zero or less, with fractions of a cent,
    or above ``invoice_total`` (the paid invoice's total, when known); a reference longer than
    21 characters (``PaymentRefNum``); a method too long for ``PrivateNote`` (4000)."""
    record = str(payment.id)
    problems: list[FieldProblem] = []

    def problem(field: str, message: str) -> None:
        problems.append(FieldProblem("payment", record, field, message))

    if not is_whole_cents(payment.amount):
        problem("amount", f"{payment.amount} has fractions of a cent")
    elif payment.amount <= 0:
        problem("amount", f"{payment.amount} is not a positive amount; QBO records payments above zero")
    elif invoice_total is not None and payment.amount > invoice_total:
        problem(
            "amount",
            f"{payment.amount} is more than the invoice total {invoice_total}; QBO refuses to apply more than "
            "an invoice's balance",
        )
    reference = text(payment.reference)
    if len(reference) > PAYMENT_REF_MAX:
        problem(
            "reference",
            f"{reference!r} has {len(reference)} characters; QBO's PaymentRefNum allows at most {PAYMENT_REF_MAX}",
        )
    if len(with_marker(payment_note(payment), "payment", payment.id)) > PRIVATE_NOTE_MAX:
        problem("method", f"too long for QBO's PrivateNote (at most {PRIVATE_NOTE_MAX} characters)")
    for field, value in (("reference", reference), ("method", text(payment.method))):
        control = control_problem(value)
        if control is not None:  # never sent: a NUL, an escape, ...
            problem(field, f"{value!r} {control}")
    return problems


def payment_date_problems(payment: Payment, *, today: date) -> list[FieldProblem]:
    """``date`` before 1900 or more than 366 days after ``today`` (the run's date): a typo QBO would
    take as it is (see :mod:`qbo_toolkit.mapping.dates`)."""
    message = date_problem(payment.date, today=today)
    return [] if message is None else [FieldProblem("payment", str(payment.id), "date", f"the date {message}")]


def payment_values(payment: Payment, *, customer_id: str, invoice_qbo_id: str) -> dict[str, str]:
    """The compared fields of a WORK payment, keyed by :data:`PAYMENT_KEYS`, as text."""
    return {
        "date": payment.date.isoformat(),
        "amount": money_text(payment.amount),
        "reference": text(payment.reference),
        "note": payment_note(payment),
        "customer_id": str(customer_id),
        "invoice_ids": str(invoice_qbo_id),
        "applied": money_text(payment.amount),
    }


def qbo_payment_values(qbo_payment: Mapping[str, Any]) -> dict[str, str]:
    """The compared fields of a QBO Payment dict, over the same keys as :func:`payment_values`
    (``invoice_ids``: the linked invoices' ids, comma-separated; ``applied``: the sum of lines)."""
    invoice_ids: list[str] = []
    applied = Decimal("0.00")
    raw_lines = qbo_payment.get("Line")
    for line in raw_lines if isinstance(raw_lines, list) else []:
        if not isinstance(line, Mapping):
            continue
        links = line.get("LinkedTxn")
        for link in links if isinstance(links, list) else []:
            if isinstance(link, Mapping) and text(link.get("TxnType")) == "Invoice":
                invoice_ids.append(text(link.get("TxnId")))
        amount = money_text(line.get("Amount"))
        applied += Decimal(amount) if amount else Decimal(0)
    return {
        "date": text(qbo_payment.get("TxnDate"))[:10],
        "amount": money_text(qbo_payment.get("TotalAmt")),
        "reference": text(qbo_payment.get("PaymentRefNum")),
        "note": strip_marker(text(qbo_payment.get("PrivateNote"))),
        "customer_id": ref_value(qbo_payment, "CustomerRef"),
        "invoice_ids": ",".join(invoice_ids),
        "applied": money_text(applied),
    }

