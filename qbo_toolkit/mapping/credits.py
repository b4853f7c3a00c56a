"""WORK credit notes, credit applications and refunds -> QBO CreditMemo, Payment and RefundReceipt.

* A **credit note** is a CreditMemo with one item line (``Amount`` = the note's amount before tax,
  ``Qty`` 1, ``UnitPrice`` the amount), its number as ``DocNumber``, the tax as the company takes it
  (:func:`~qbo_toolkit.mapping.tax.sales_tax`: US TAX/NON with WORK's amount as ``TotalTax``, or the
  WORK rate's TaxCode), and the toolkit's mark in ``PrivateNote``.
* A **credit application** (``amount`` of a note used on an invoice) is a Payment of ``TotalAmt`` 0
  with two lines for the same amount: one linked to the Invoice, one to the CreditMemo (how QBO applies
  a credit memo; API_FACTS_2025). The invoice's Balance and the credit memo's remaining credit fall by
  it; the customer's balance does not move again.
* A **refund** is a RefundReceipt: one item line, tax as above, ``DepositToAccountRef`` the account
  the money is paid from (settings ``refund_account``), ``PaymentMethodRef`` when QuickBooks has the
  WORK method, ``PaymentRefNum`` the reference. It does not touch accounts receivable.

Each carries the toolkit's mark (:mod:`qbo_toolkit.mapping.markers`), so a lost answer is found again
instead of written twice. Nothing here is shortened or rounded: run the ``validate_*`` checks first.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Final

from qbo_toolkit.control_chars import control_problem
from qbo_toolkit.mapping._common import text
from qbo_toolkit.mapping.markers import with_marker
from qbo_toolkit.mapping.problems import FieldProblem
from qbo_toolkit.mapping.tax import SalesTax, TaxLine, sales_tax
from qbo_toolkit.settings import Settings
from qbo_toolkit.types import is_whole_cents
from qbo_toolkit.work.models import CreditApplication, CreditNote, Refund

__all__ = [
    "DOC_NUMBER_MAX",
    "REF_MAX",
    "credit_memo_to_qbo",
    "credit_note_label",
    "credit_note_tax",
    "credit_payment_to_qbo",
    "refund_tax",
    "refund_to_qbo",
    "validate_credit_note",
    "validate_refund",
]

DOC_NUMBER_MAX: Final = 21
REF_MAX: Final = 21
DESCRIPTION_MAX: Final = 4000


def credit_note_label(note: CreditNote) -> str:
    return f"credit note {text(note.number) or note.id}"


def _tax(amount: Decimal, rate: str, tax_amount: Decimal, settings: Settings | None, entity: str, record: str,
         label: str) -> SalesTax:
    # US companies: the line is TAX when WORK charged tax on it (the amount decides, WORK computed it)
    line = TaxLine(amount, rate, tax_amount > 0)
    return sales_tax([line], tax_amount=tax_amount, settings=settings or Settings(), entity=entity, record=record,
                     label=label)


def credit_note_tax(note: CreditNote, settings: Settings | None) -> SalesTax:
    """How the note's tax goes to this company (its problems stop the note being sent)."""
    return _tax(note.amount, note.tax_rate, note.tax_amount, settings, "credit_note", str(note.id),
                credit_note_label(note))


def refund_tax(refund: Refund, settings: Settings | None) -> SalesTax:
    return _tax(refund.amount, refund.tax_rate, refund.tax_amount, settings, "refund", str(refund.id),
                f"refund {refund.id}")


def _line(amount: Decimal, description: str, item_id: str) -> dict[str, Any]:
    line: dict[str, Any] = {
        "DetailType": "SalesItemLineDetail",
        "Amount": amount,
        "SalesItemLineDetail": {"ItemRef": {"value": str(item_id)}, "Qty": Decimal(1), "UnitPrice": amount},
    }
    if text(description):
        line["Description"] = text(description)
    return line


def _classes(payload: dict[str, Any], settings: Settings | None) -> None:
    if settings is not None and settings.class_:
        payload["ClassRef"] = {"value": settings.class_}
    if settings is not None and settings.department:
        payload["DepartmentRef"] = {"value": settings.department}


def credit_memo_to_qbo(note: CreditNote, *, customer_id: str, item_id: str, settings: Settings | None = None,
                       txn_date: date | None = None, memo: str = "") -> dict[str, Any]:
    """The QBO CreditMemo payload for ``note`` (``item_id``: the QBO item of its WORK item, or the
    default item's). ``txn_date`` replaces the date (a closed period's first open date) and ``memo``
    goes before the mark in ``PrivateNote``."""
    payload: dict[str, Any] = {
        "CustomerRef": {"value": str(customer_id)},
        "TxnDate": (txn_date or note.date).isoformat(),
        "DocNumber": text(note.number),
        "Line": [_line(note.amount, note.description, item_id)],
        "PrivateNote": with_marker(memo, "credit_note", note.id),
    }
    credit_note_tax(note, settings).apply(payload)
    _classes(payload, settings)
    return payload


def credit_payment_to_qbo(app: CreditApplication, *, customer_id: str, invoice_qbo_id: str, memo_qbo_id: str,
                          txn_date: date | None = None, memo: str = "") -> dict[str, Any]:
    """The QBO Payment that applies ``app.amount`` of CreditMemo ``memo_qbo_id`` to Invoice
    ``invoice_qbo_id``: ``TotalAmt`` 0, one line linked to each, for the same amount."""
    return {
        "CustomerRef": {"value": str(customer_id)},
        "TotalAmt": Decimal("0.00"),
        "TxnDate": (txn_date or app.date).isoformat(),
        "Line": [
            {"Amount": app.amount, "LinkedTxn": [{"TxnId": str(invoice_qbo_id), "TxnType": "Invoice"}]},
            {"Amount": app.amount, "LinkedTxn": [{"TxnId": str(memo_qbo_id), "TxnType": "CreditMemo"}]},
        ],
        "PrivateNote": with_marker(memo, "credit_applied", app.id),
    }


def refund_to_qbo(refund: Refund, *, customer_id: str, item_id: str, account_id: str, settings: Settings | None = None,
                  method_id: str | None = None, txn_date: date | None = None, memo: str = "") -> dict[str, Any]:
    """The QBO RefundReceipt payload for ``refund``, paid from account ``account_id``."""
    method = text(refund.method)
    note = "\n".join(part for part in (f"Method: {method}" if method else "", memo) if part)
    payload: dict[str, Any] = {
        "CustomerRef": {"value": str(customer_id)},
        "TxnDate": (txn_date or refund.date).isoformat(),
        "Line": [_line(refund.amount, refund.description, item_id)],
        "DepositToAccountRef": {"value": str(account_id)},
        "PrivateNote": with_marker(note, "refund", refund.id),
    }
    if text(refund.reference):
        payload["PaymentRefNum"] = text(refund.reference)
    if method_id:
        payload["PaymentMethodRef"] = {"value": str(method_id)}
    refund_tax(refund, settings).apply(payload)
    _classes(payload, settings)
    return payload


def _amount_problems(problem: Any, amount: Decimal, tax_amount: Decimal, total: Decimal) -> None:
    if not is_whole_cents(amount) or amount <= 0:
        problem("amount", f"the amount {amount} must be more than zero, in whole cents")
    if not is_whole_cents(tax_amount) or tax_amount < 0:
        problem("tax_amount", f"the tax {tax_amount} must be zero or more, in whole cents")
    if total != amount + tax_amount:
        problem("total", f"the total {total} is not the amount {amount} plus the tax {tax_amount}")


def validate_credit_note(note: CreditNote) -> list[FieldProblem]:
    """Every reason QBO would refuse ``note`` or record another total: its number (empty, over 21
    characters, a control character), its description (over 4000), its amounts."""
    record = str(note.id)
    problems: list[FieldProblem] = []
    label = credit_note_label(note)

    def problem(field: str, message: str) -> None:
        problems.append(FieldProblem("credit_note", record, field, f"{label}: {message}"))

    number = text(note.number)
    if not number:
        problem("number", "it has no number; QBO would assign its own DocNumber")
    elif len(number) > DOC_NUMBER_MAX:
        problem("number", f"{number!r} has {len(number)} characters; QBO's DocNumber allows at most "
                          f"{DOC_NUMBER_MAX}")
    elif (control := control_problem(number)) is not None:
        problem("number", f"{number!r} {control}")
    if len(text(note.description)) > DESCRIPTION_MAX:
        problem("description", f"the description has {len(text(note.description))} characters; QBO allows "
                               f"{DESCRIPTION_MAX}")
    _amount_problems(problem, note.amount, note.tax_amount, note.total)
    return problems


def validate_refund(refund: Refund) -> list[FieldProblem]:
    """Every reason QBO would refuse ``refund``: its reference (over 21 characters: PaymentRefNum),
    its description, its amounts."""
    record = str(refund.id)
    problems: list[FieldProblem] = []

    def problem(field: str, message: str) -> None:
        problems.append(FieldProblem("refund", record, field, f"refund {refund.id}: {message}"))

    reference = text(refund.reference)
    if len(reference) > REF_MAX:
        problem("reference", f"{reference!r} has {len(reference)} characters; QBO's PaymentRefNum allows at most "
                             f"{REF_MAX}")
    if len(text(refund.description)) > DESCRIPTION_MAX:
        problem("description", f"the description has {len(text(refund.description))} characters; QBO allows "
                               f"{DESCRIPTION_MAX}")
    _amount_problems(problem, refund.amount, refund.tax_amount, refund.total)
    return problems
