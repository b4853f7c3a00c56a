"""How the reconciliation's figures read to a person: column titles, money and links to the records.

One place for the words and the formats that the HTML report (:mod:`.render`) and the explorer
(:mod:`qbo_toolkit.ui.explorer`) show, so both say the same thing:

* :data:`COLUMN_TITLES` / :func:`column_title`: a human header for every column of every category
  and table (``work_count`` -> "WORK count", ``qbo_outside_cents`` -> "QBO before integration").
  A money column's title gets the currency: "Total (USD)". The CSV and Excel exports keep the
  machine names (``total``, ``qbo_outside``...): jobs and spreadsheets that parse them rely on them,
  and the Excel money columns stay numbers either way.
* :func:`format_money`: whole cents as the accountant's text, exact (integer arithmetic, never a
  float): thousands separators, two decimals, **negative amounts in parentheses**
  (``-123456`` -> ``"(1,234.56)"``), optionally with the currency's symbol (``"$1,234.56"``,
  ``"(£12.00)"``; a currency without a known symbol is written with its code, ``"NZD 5.00"``).
  The company's home currency comes from QBO (:attr:`ReconResult.currency`); "" when unknown, and
  then no symbol is shown.
* :func:`qbo_link` / :func:`work_link`: the URL of a row's record in the company's QuickBooks
  (``<app>/invoice?txnId=130``, customers ``<app>/customerdetail?nameId=58``) and in WORK (the
  ``work_record_url`` setting's template, ``https://work.example.com/invoices/{id}``). None when
  the base or the template is not known, or the row has no Id on that side: never a broken link.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final
from urllib.parse import quote

__all__ = ["COLUMN_TITLES", "CURRENCY_SYMBOLS", "QBO_PAGES", "column_title", "format_money", "is_money_column",
           "qbo_link", "work_link"]

#: A header for every column the result's frames and tables have (money columns under their ``_cents`` name).
COLUMN_TITLES: Final[Mapping[str, str]] = {
    "aged_report_cents": "QBO aged receivables report",
    "amount_cents": "Amount",
    "balance_cents": "Balance",
    "balance_difference_cents": "Balance report difference",
    "balance_report_cents": "QBO customer balance report",
    "bucket": "Days past due",
    "client_id": "WORK client",
    "customer": "Customer",
    "customer_qbo_id": "QBO customer",
    "date": "Date",
    "difference_cents": "Difference, QBO − WORK",
    "difference_days": "Difference in days",
    "doc_number": "Number",
    "document": "Document",
    "entity": "Record",
    "expected_qbo_customer": "Expected QBO customer",
    "expected_qbo_invoice": "Expected QBO invoice",
    "field": "Field",
    "invoice_id": "WORK invoice",
    "last_updated": "Changed in QBO",
    "match": "Matched by",
    "name": "Name",
    "net_cents": "Taxable amount",
    "number": "Number",
    "qbo": "QBO",
    "qbo_active": "Active in QBO",
    "qbo_applied_cents": "Applied in QBO",
    "qbo_balance_cents": "QBO balance",
    "qbo_cents": "QBO",
    "qbo_count": "QBO count",
    "qbo_customer": "QBO customer",
    "qbo_date": "QBO date",
    "qbo_id": "QBO Id",
    "qbo_invoices": "QBO invoices",
    "qbo_number": "QBO number",
    "qbo_outside_cents": "QBO before integration",
    "qbo_percent": "QBO rate %",
    "qbo_rate": "QBO tax rate",
    "qbo_status": "QBO status",
    "reason": "Reason",
    "report_cents": "QBO report",
    "side": "Side",
    "status": "Status",
    "synced_at": "Last synced",
    "total_cents": "Total",
    "unapplied_cents": "Unapplied",
    "work": "WORK",
    "work_active": "Active in WORK",
    "work_ar_cents": "WORK receivables",
    "work_cents": "WORK",
    "work_client_id": "WORK client",
    "work_count": "WORK count",
    "work_date": "WORK date",
    "work_id": "WORK Id",
    "work_invoice_id": "WORK invoice",
    "work_number": "WORK number",
    "work_open_cents": "WORK open",
    "work_outside_cents": "WORK not in QBO",
    "work_percent": "WORK rate %",
    "work_rate": "WORK tax rate",
    "work_status": "WORK status",
}

#: Symbols of the home currencies QBO companies commonly have; others are written with their code.
CURRENCY_SYMBOLS: Final[Mapping[str, str]] = {"USD": "$", "CAD": "$", "AUD": "$", "NZD": "$", "GBP": "£",
                                               "EUR": "€", "INR": "₹", "ZAR": "R"}

#: The QuickBooks page that shows a record of each kind (``entity`` column / category entity), and
#: the query parameter naming its Id there. Transactions use ``txnId``, customers ``nameId``.
QBO_PAGES: Final[Mapping[str, tuple[str, str]]] = {
    "customer": ("customerdetail", "nameId"),
    "customers": ("customerdetail", "nameId"),
    "invoice": ("invoice", "txnId"),
    "invoices": ("invoice", "txnId"),
    "payment": ("recvpayment", "txnId"),
    "payments": ("recvpayment", "txnId"),
    "credit_note": ("creditmemo", "txnId"),
    "credit_applied": ("recvpayment", "txnId"),
    "refund": ("refundreceipt", "txnId"),
}


def is_money_column(name: str) -> bool:
    return name.endswith("_cents")


def column_title(name: str, currency: str = "") -> str:
    """The human header of column ``name``: its title (the name with ``_`` as spaces when it has
    none), with `` (USD)`` after a money column's when ``currency`` is known."""
    title = COLUMN_TITLES.get(name) or name.removesuffix("_cents").replace("_", " ").capitalize()
    if currency and is_money_column(name):
        return f"{title} ({currency})"
    return title


def format_money(cents: int, currency: str = "", *, symbol: bool = False) -> str:
    """``cents`` as text: ``1234.56`` as ``"1,234.56"``, ``-1234.56`` as ``"(1,234.56)"``; with
    ``symbol`` the currency's symbol in front (``"$1,234.56"``, ``"($1,234.56)"``), or its code
    when it has no known symbol (``"NZD 1.00"``). Exact: integer arithmetic only."""
    value = int(cents)
    whole, part = divmod(abs(value), 100)
    text = f"{whole:,}.{part:02d}"
    if symbol and currency:
        mark = CURRENCY_SYMBOLS.get(currency.upper())
        text = f"{mark}{text}" if mark else f"{currency.upper()} {text}"
    return f"({text})" if value < 0 else text


def qbo_link(app_url: str | None, entity: str, qbo_id: object) -> str | None:
    """The URL of QBO record ``qbo_id`` of kind ``entity`` in the company's QuickBooks, whose app
    pages live under ``app_url`` (``https://app.qbo.intuit.com/app``); None without a base, an Id
    or a page for that kind."""
    page = QBO_PAGES.get(entity)
    ident = _id_text(qbo_id)
    if not app_url or page is None or ident is None:
        return None
    return f"{app_url.rstrip('/')}/{page[0]}?{page[1]}={ident}"


def work_link(template: str | None, work_id: object) -> str | None:
    """``template`` (the ``work_record_url`` setting, with ``{id}``) filled with ``work_id``; None
    without a template or an Id."""
    ident = _id_text(work_id)
    if not template or ident is None:
        return None
    return template.replace("{id}", quote(ident, safe=""))


def _id_text(value: object) -> str | None:
    """An Id as text (``130``, ``"130"``, ``np.int64(130)``), None when missing or not a whole number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        text = str(int(value)) if not isinstance(value, str) else value.strip()  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    return text if text.isdigit() else None
