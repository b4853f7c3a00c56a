"""WORK invoices and items -> QBO Invoice and Item payloads, and their comparable values.

Money rule (the one QBO applies, so QBO's ``TotalAmt`` equals WORK's total to the cent): a line's
``Amount`` is ``Qty × UnitPrice`` rounded to the cent half-up (``3 × 33.333 = 99.999 -> 100.00``);
unit prices may carry more decimals than cents and are sent unrounded (QBO checks
``Amount == round(Qty × UnitPrice)``, fault 6070); the invoice total is the sum of the rounded
line amounts plus the tax. How the tax goes depends on the company (:mod:`qbo_toolkit.mapping.tax`):
on a US company each line carries ``TaxCodeRef`` ``TAX`` or ``NON`` and ``TxnTaxDetail.TotalTax`` is
WORK's ``tax_amount``, sent as it is; a non-US company gets each line's WORK tax rate as a QBO TaxCode
and computes the tax itself (the sync ties it to WORK's afterwards).
:func:`validate_invoice` refuses an invoice whose stored total disagrees with that rule.

The invoice's term goes as ``SalesTermRef`` (its QBO Term's Id, resolved by the sync), the settings'
``class`` and ``department`` as ``ClassRef`` and ``DepartmentRef``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Final, TypeAlias

from qbo_toolkit.control_chars import control_problem
from qbo_toolkit.mapping._common import changed_fields, fingerprint, get_path, money_text, number_text, ref_value, text
from qbo_toolkit.mapping.dates import date_problem
from qbo_toolkit.mapping.markers import marker, with_marker
from qbo_toolkit.mapping.problems import FieldProblem
from qbo_toolkit.mapping.tax import NON, TAX, SalesTax, invoice_tax_lines, sales_tax
from qbo_toolkit.settings import Settings
from qbo_toolkit.types import is_whole_cents
from qbo_toolkit.work.models import Invoice, InvoiceLine, Item, cents

__all__ = [
    "DOC_NUMBER_MAX",
    "INVOICE_KEYS",
    "ITEM_NAME_MAX",
    "NON",
    "OWN_ITEM_SUFFIX",
    "TAX",
    "InvoiceValue",
    "InvoiceValues",
    "fingerprint",
    "invoice_date_problems",
    "invoice_differences",
    "invoice_tax",
    "invoice_tax_problems",
    "invoice_to_qbo",
    "invoice_values",
    "item_to_qbo",
    "item_values",
    "own_item_name",
    "qbo_invoice_values",
    "qbo_item_values",
    "validate_invoice",
    "validate_item",
]

DOC_NUMBER_MAX: Final = 21
DESCRIPTION_MAX: Final = 4000
ITEM_NAME_MAX: Final = 100
_ITEM_TYPES: Final = {"service": "Service", "product": "NonInventory"}
_BAD_NAME_CHARS: Final = (":", "\t", "\n", "\r")

InvoiceValue: TypeAlias = str | tuple[str, ...]
InvoiceValues: TypeAlias = dict[str, InvoiceValue]
#: The keys of :func:`invoice_values` and :func:`qbo_invoice_values`, in order.
INVOICE_KEYS: Final = ("number", "date", "due_date", "customer_id", "total", "tax", "lines")


def _ordered(invoice: Invoice) -> list[InvoiceLine]:
    return sorted(invoice.lines, key=lambda line: line.line_no)


def _item_id(invoice: Invoice, line: InvoiceLine, item_ids: Mapping[int | None, str]) -> str:
    try:
        return str(item_ids[line.item_id])
    except KeyError:
        what = f"WORK item {line.item_id}" if line.item_id is not None else "the default item (key None)"
        raise KeyError(f"invoice {invoice.id} line {line.line_no}: no QBO item id for {what}") from None


def invoice_to_qbo(invoice: Invoice, *, customer_id: str, item_ids: Mapping[int | None, str],
                   settings: Settings | None = None, term_id: str | None = None, txn_date: date | None = None,
                   note: str = "") -> dict[str, Any]:
    """The QBO Invoice payload for ``invoice`` (create, or the body of a full update).

    ``customer_id`` is the QBO id of the invoice's client; ``item_ids`` maps WORK item ids to QBO
    item ids, with ``None`` for the default item used by lines without an item (KeyError naming the
    line when an id is missing). Lines are sent in ``line_no`` order. Run :func:`validate_invoice`
    and :func:`invoice_tax_problems` first: nothing is rounded or shortened here apart from each
    line's ``Amount``.

    ``settings`` (resolved by the sync's check: Ids, and the company) decide the tax
    (:func:`~qbo_toolkit.mapping.tax.sales_tax`; without them: TAX/NON and WORK's TotalTax), the
    ``ClassRef`` and ``DepartmentRef``; ``term_id`` is the QBO Term of the invoice's ``terms``;
    ``txn_date`` replaces the issue date (a closed period's first open date) and ``note`` goes
    before the toolkit's mark in ``PrivateNote``.
    """
    lines: list[dict[str, Any]] = []
    for line in _ordered(invoice):
        entry: dict[str, Any] = {
            "DetailType": "SalesItemLineDetail",
            "Amount": line.amount,
            "SalesItemLineDetail": {
                "ItemRef": {"value": _item_id(invoice, line, item_ids)},
                "Qty": line.qty,
                "UnitPrice": line.unit_price,
            },
        }
        description = text(line.description)
        if description:
            entry["Description"] = description
        lines.append(entry)
    payload: dict[str, Any] = {
        "CustomerRef": {"value": str(customer_id)},
        "TxnDate": (txn_date or invoice.issue_date).isoformat(),
        "Line": lines,
        # the toolkit's mark (see mapping.markers): how the invoice is told from one it did not make
        "PrivateNote": with_marker(note, "invoice", invoice.id) if note else marker("invoice", invoice.id),
    }
    invoice_tax(invoice, settings).apply(payload)
    number = text(invoice.number)
    if number:
        payload["DocNumber"] = number
    if invoice.due_date is not None:
        payload["DueDate"] = invoice.due_date.isoformat()
    if term_id:
        payload["SalesTermRef"] = {"value": str(term_id)}
    if settings is not None and settings.class_:
        payload["ClassRef"] = {"value": settings.class_}
    if settings is not None and settings.department:
        payload["DepartmentRef"] = {"value": settings.department}
    return payload


def invoice_tax(invoice: Invoice, settings: Settings | None) -> SalesTax:
    """How ``invoice``'s tax goes to QBO under ``settings`` (:func:`~qbo_toolkit.mapping.tax.sales_tax`)."""
    return sales_tax(invoice_tax_lines(_ordered(invoice)), tax_amount=invoice.tax_amount,
                     settings=settings or Settings(), entity="invoice", record=str(invoice.id),
                     label=f"invoice {text(invoice.number) or invoice.id}")


def invoice_tax_problems(invoice: Invoice, settings: Settings | None) -> list[FieldProblem]:
    """Why ``invoice``'s tax cannot go to this company as the settings say (a WORK rate no tax code
    maps, a US manual-tax invoice without a code): sentences naming the invoice, line and rate."""
    return list(invoice_tax(invoice, settings).problems)


def validate_invoice(invoice: Invoice) -> list[FieldProblem]:
    """Every reason QBO would refuse ``invoice``, or would record a different total.

    ``number``: empty (QBO would number it itself) or longer than 21 characters (DocNumber).
    ``lines``: none. ``lines[n].description``: longer than 4000. ``tax_amount``: fractional cents
    or negative. ``total``: fractional cents, negative, or not the sum of the line amounts (each
    ``Qty × UnitPrice`` rounded half-up to the cent) plus the tax.
    """
    record = str(invoice.id)
    problems: list[FieldProblem] = []

    def problem(field: str, message: str) -> None:
        problems.append(FieldProblem("invoice", record, field, message))

    number = text(invoice.number)
    if not number:
        problem("number", "the invoice has no number; QBO would assign its own DocNumber")
    elif len(number) > DOC_NUMBER_MAX:
        problem("number", f"{number!r} has {len(number)} characters; QBO's DocNumber allows at most {DOC_NUMBER_MAX}")
    elif (control := control_problem(number)) is not None:
        problem("number", f"{number!r} {control}")
    if not invoice.lines:
        problem("lines", "the invoice has no lines; QBO needs at least one")
    for line in _ordered(invoice):
        if (control := control_problem(text(line.description), multiline=True)) is not None:
            problem(f"lines[{line.line_no}].description", f"the description {control}")
        if len(text(line.description)) > DESCRIPTION_MAX:
            problem(
                f"lines[{line.line_no}].description",
                f"{len(text(line.description))} characters; QBO allows at most {DESCRIPTION_MAX} in a line Description",
            )
    if not is_whole_cents(invoice.tax_amount):
        problem("tax_amount", f"{invoice.tax_amount} has fractions of a cent")
    elif invoice.tax_amount < 0:
        problem("tax_amount", f"{invoice.tax_amount} is negative; QBO refuses a negative TotalTax")
    if not is_whole_cents(invoice.total):
        problem("total", f"{invoice.total} has fractions of a cent")
    elif invoice.total < 0:
        problem("total", f"{invoice.total} is negative; QBO refuses an invoice with a negative total")
    expected = cents(invoice.subtotal + invoice.tax_amount)
    whole = is_whole_cents(invoice.tax_amount) and is_whole_cents(invoice.total)
    if whole and invoice.lines and invoice.total != expected:
        problem(
            "total",
            f"{invoice.total} is not lines {invoice.subtotal} + tax {cents(invoice.tax_amount)} = {expected}, "
            "the total QBO would record (each line is Qty × UnitPrice rounded half-up to the cent)",
        )
    return problems


def invoice_date_problems(invoice: Invoice, *, today: date) -> list[FieldProblem]:
    """``issue_date`` or ``due_date`` before 1900 or more than 366 days after ``today`` (the run's
    date): a typo QBO would take as it is (see :mod:`qbo_toolkit.mapping.dates`)."""
    problems: list[FieldProblem] = []
    for field, value in (("issue_date", invoice.issue_date), ("due_date", invoice.due_date)):
        message = date_problem(value, today=today) if value is not None else None
        if message is not None:
            label = "issue date" if field == "issue_date" else "due date"
            problems.append(FieldProblem("invoice", str(invoice.id), field, f"the {label} {message}"))
    return problems


def _line_summary(item_id: str, qty: object, price: object, amount: object, tax_code: str, description: str) -> str:
    return "|".join((item_id, number_text(qty), number_text(price), money_text(amount), tax_code, description))


def invoice_values(
    invoice: Invoice, *, customer_id: str, item_ids: Mapping[int | None, str]
) -> InvoiceValues:
    """The compared fields of a WORK invoice, keyed by :data:`INVOICE_KEYS`, as text.

    ``lines`` summarises each line as ``item|qty|unit price|amount|TAX or NON|description``.
    ``due_date`` is ``""`` when WORK has none (QBO then sets its own: see :func:`invoice_differences`).
    """
    lines = tuple(
        _line_summary(
            _item_id(invoice, line, item_ids),
            line.qty,
            line.unit_price,
            line.amount,
            TAX if line.taxable else NON,
            text(line.description),
        )
        for line in _ordered(invoice)
    )
    return {
        "number": text(invoice.number),
        "date": invoice.issue_date.isoformat(),
        "due_date": invoice.due_date.isoformat() if invoice.due_date is not None else "",
        "customer_id": str(customer_id),
        "total": money_text(invoice.total),
        "tax": money_text(invoice.tax_amount),
        "lines": lines,
    }


def _qbo_date(value: object) -> str:
    if isinstance(value, date):
        return value.isoformat()
    return text(value)[:10]


def qbo_invoice_values(qbo_invoice: Mapping[str, Any]) -> InvoiceValues:
    """The compared fields of a QBO Invoice dict, over the same keys as :func:`invoice_values`.
    The server-made subtotal line is left out; lines of other kinds (discounts, descriptions)
    are summarised with their DetailType in place of the item."""
    lines: list[str] = []
    raw_lines = qbo_invoice.get("Line")
    for raw in raw_lines if isinstance(raw_lines, list) else []:
        if not isinstance(raw, Mapping):
            continue
        kind = text(raw.get("DetailType"))
        description = text(raw.get("Description"))
        if kind == "SubTotalLineDetail":
            continue
        if kind != "SalesItemLineDetail":
            lines.append(_line_summary(kind, None, None, raw.get("Amount"), "", description))
            continue
        detail = raw.get(kind)
        detail = detail if isinstance(detail, Mapping) else {}
        tax_code = ref_value(detail, "TaxCodeRef") or NON
        lines.append(
            _line_summary(
                ref_value(detail, "ItemRef"),
                detail.get("Qty"),
                detail.get("UnitPrice"),
                raw.get("Amount"),
                tax_code,
                description,
            )
        )
    return {
        "number": text(qbo_invoice.get("DocNumber")),
        "date": _qbo_date(qbo_invoice.get("TxnDate")),
        "due_date": _qbo_date(qbo_invoice.get("DueDate")),
        "customer_id": ref_value(qbo_invoice, "CustomerRef"),
        "total": money_text(qbo_invoice.get("TotalAmt")),
        "tax": money_text(get_path(qbo_invoice, "TxnTaxDetail", "TotalTax") or 0),
        "lines": tuple(lines),
    }


def invoice_differences(work: Mapping[str, InvoiceValue], qbo: Mapping[str, InvoiceValue]) -> list[str]:
    """The keys where a WORK invoice's values and a QBO invoice's values disagree. A WORK invoice
    without a due date accepts whatever due date QBO gave it (QBO always sets one)."""
    keys = [key for key in INVOICE_KEYS if not (key == "due_date" and work.get(key) == "")]
    return changed_fields(work, qbo, keys=keys)


# -- items -----------------------------------------------------------------------------------


#: What the toolkit's own item is called after a WORK item's name ("Installation (qbo-toolkit)"),
#: when the QBO item of that name posts elsewhere (setting ``existing_items: own_item``).
OWN_ITEM_SUFFIX: Final = " (qbo-toolkit)"


def own_item_name(name: str) -> str:
    """The toolkit's own item name for ``name``, within QBO's 100 characters."""
    room = ITEM_NAME_MAX - len(OWN_ITEM_SUFFIX)
    return text(name)[:room].rstrip() + OWN_ITEM_SUFFIX


def item_to_qbo(item: Item, *, income_account_id: str, expense_account_id: str | None = None,
                name: str | None = None) -> dict[str, Any]:
    """The QBO Item payload: ``Name`` (the WORK name, or ``name``), ``Type`` (``Service``, or
    ``NonInventory`` for a WORK product: quantities are not tracked), ``UnitPrice`` (the WORK rate),
    ``Active``, ``IncomeAccountRef`` and, when given, ``ExpenseAccountRef``. Run
    :func:`validate_item` first."""
    payload: dict[str, Any] = {
        "Name": name if name is not None else text(item.name),
        "Type": _ITEM_TYPES[item.type],
        "UnitPrice": item.rate,
        "Active": bool(item.active),
        "IncomeAccountRef": {"value": str(income_account_id)},
    }
    if expense_account_id:
        payload["ExpenseAccountRef"] = {"value": str(expense_account_id)}
    return payload


def validate_item(item: Item) -> list[FieldProblem]:
    """What QBO would refuse in ``item``: an empty name, a ``:``, tab or new line in it, more than 100
    characters, an unknown type, a negative rate."""
    record = str(item.id)
    problems: list[FieldProblem] = []
    name = text(item.name)
    if not name:
        problems.append(FieldProblem("item", record, "name", "the item has no name; QBO needs one"))
    elif any(ch in name for ch in _BAD_NAME_CHARS):
        problems.append(
            FieldProblem("item", record, "name", f"{name!r} contains a colon, tab or new line, which QBO refuses")
        )
    elif (control := control_problem(name)) is not None:
        problems.append(FieldProblem("item", record, "name", f"{name!r} {control}"))
    if len(name) > ITEM_NAME_MAX:
        problems.append(
            FieldProblem("item", record, "name", f"{len(name)} characters; QBO allows at most {ITEM_NAME_MAX}")
        )
    if item.type not in _ITEM_TYPES:
        problems.append(FieldProblem("item", record, "type", f"unknown item type {item.type!r}"))
    if item.rate < 0:
        problems.append(FieldProblem("item", record, "rate", f"{item.rate} is negative"))
    return problems


def item_values(item: Item) -> dict[str, str | bool]:
    """The compared fields of a WORK item: name, type (QBO's word), rate, active."""
    return {
        "name": text(item.name),
        "type": _ITEM_TYPES.get(item.type, item.type),
        "rate": number_text(item.rate),
        "active": bool(item.active),
    }


def qbo_item_values(qbo_item: Mapping[str, Any]) -> dict[str, str | bool]:
    """The compared fields of a QBO Item dict, over the same keys as :func:`item_values`."""
    return {
        "name": text(qbo_item.get("Name")),
        "type": text(qbo_item.get("Type")),
        "rate": number_text(qbo_item.get("UnitPrice") or 0),
        "active": qbo_item.get("Active") is not False,
    }
