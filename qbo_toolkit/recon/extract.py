"""Read both sides, and the sync's id map, into the frames of :mod:`.frames`.

* :func:`extract_qbo` pages through QBO's customers (inactive ones included: their names and
  balances still count), invoices, payments, credit memos and refund receipts with the toolkit's
  client (``MAXRESULTS 1000``, ordered by Id so paging neither skips nor repeats), keeping only the
  fields the comparison needs,
  page by page, so a large company never sits in memory as python-quickbooks objects.
* :func:`extract_reports` reads QBO's AgedReceivables and CustomerBalance reports for the tie-out
  (:mod:`qbo_toolkit.qbo.reports`); a report QBO refuses is kept as a problem, not raised.
* :func:`extract_work` reads the WORK store through its API (deleted and void invoices and deleted
  payments included: "deleted on one side only" needs them).
* :func:`extract_links` reads the id map with each link's ``synced_at``, the customer matches
  waiting in the match preview, when the last sync run ended, and the sync's open failures.
  Everything it reads goes through :class:`~qbo_toolkit.sync.state.SyncState`'s read methods
  (``matches``, ``runs``, ``open_failures``) or one ``SELECT`` on ``sync_links``: it never writes
  the sync's tables.

Money goes from ``Decimal`` (python-quickbooks runs with ``use_decimal=True``; WORK keeps
``Decimal``) straight to whole cents (:func:`.money.to_cents`), never through a float. An amount
with a fraction of a cent is refused with the record named. The column docs are in :mod:`.frames`;
``frames_from_records`` helpers for tests and benchmarks live there too and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Protocol

import pandas as pd
import sqlalchemy as sa

from ..errors import QboAuthError, QboError, QboServerError, QboThrottled, QboTransportError
from ..mapping.addresses import ADDRESS_PARTS, canonical_address
from ..qbo.client import QboClient
from ..qbo.meter import get_meter
from ..qbo.query import MAX_PAGE_SIZE, Select, select
from ..qbo.reports import AGING_KEYS, ReportTable, read_report
from ..sync.state import SyncState, links_table
from ..work.store import WorkStore
from .frames import (
    AGED_REPORT_COLUMNS,
    BALANCE_REPORT_COLUMNS,
    CREDIT_LINE_COLUMNS,
    CUSTOMER_COLUMNS,
    FAILURE_COLUMNS,
    LINK_COLUMNS,
    MATCH_COLUMNS,
    PAYMENT_LINE_COLUMNS,
    QBO_CREDIT_MEMO_COLUMNS,
    QBO_INVOICE_COLUMNS,
    QBO_PAYMENT_COLUMNS,
    QBO_REFUND_COLUMNS,
    TAX_LINE_COLUMNS,
    WORK_CREDIT_APPLICATION_COLUMNS,
    WORK_CREDIT_NOTE_COLUMNS,
    WORK_REFUND_COLUMNS,
    LinkFrames,
    QboFrames,
    ReportFrames,
    WorkFrames,
    link_frames_from_records,
    qbo_frames_from_records,
    work_frames_from_records,
)
from .money import to_cents

__all__ = [
    "QueryClient",
    "extract_failures",
    "extract_links",
    "extract_mirror",
    "extract_qbo",
    "extract_reports",
    "extract_work",
    "link_frames_from_records",
    "qbo_frames",
    "qbo_frames_from_records",
    "work_frames_from_records",
]

#: The sync entities whose links the reconciliation reads (the id map also holds items, and credit
#: applications, ``credit_applied``, which are compared per invoice, not one by one).
MAPPED_ENTITIES = ("customer", "invoice", "payment", "credit_note", "refund")
#: The sync entities whose open failures make records pending.
LINKED_ENTITIES = (*MAPPED_ENTITIES, "credit_applied")


class QueryClient(Protocol):
    """What extraction needs of :class:`~qbo_toolkit.qbo.client.QboClient`: paged queries."""

    def iter_query(self, query: Select, *, page_size: int = ..., raw: bool = ...) -> Iterator[list[Any]]: ...


def _as_dict(obj: Any) -> Mapping[str, Any]:
    if isinstance(obj, Mapping):
        return obj
    to_dict = getattr(obj, "to_dict", None)
    if to_dict is None:
        raise TypeError(f"cannot read a {type(obj).__name__} as a QBO record")
    return dict(to_dict())


def _get(record: Mapping[str, Any], *path: str) -> Any:
    value: Any = record
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ("" if value is None else str(value))


def _money(record: Mapping[str, Any], entity: str, *path: str) -> int:
    try:
        return to_cents(_get(record, *path))
    except ValueError as exc:
        raise ValueError(f"QBO {entity} {record.get('Id')}: {'.'.join(path)}: {exc}") from None


def _flag(value: Any) -> bool:
    """QBO's ``Active``: absent means true; python-quickbooks may hand it over as text."""
    if isinstance(value, str):
        return value.strip().lower() != "false"
    return value is not False


def _columns(rows: Iterable[Sequence[Any]], names: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame.from_records(list(rows), columns=list(names))


def _pages(client: QueryClient, query: Select, page_size: int) -> Iterator[Mapping[str, Any]]:
    for page in client.iter_query(query, page_size=page_size, raw=True):
        for obj in page:
            yield _as_dict(obj)


def address_text_and_key(address: Any) -> tuple[str, str]:
    """An address (WORK's, or QBO's PhysicalAddress dict) as readable text and as the key it compares by:
    :func:`~qbo_toolkit.mapping.addresses.canonical_address` without the state (compared on its own),
    so "US" and "USA", or a trailing space, are no difference."""
    key = canonical_address(address)
    parts = _address_parts(address)
    text = ", ".join(part.strip() for part in parts if part.strip())
    kept = [value for name, value in zip(ADDRESS_PARTS, key, strict=True) if name != "state"]
    return text, "" if not any(kept) else "\x1f".join(kept)


def _address_parts(address: Any) -> list[str]:
    if address is None:
        return []
    if isinstance(address, Mapping):
        return [_text(address.get(k)) for k in ("Line1", "Line2", "Line3", "Line4", "Line5", "City",
                                                 "CountrySubDivisionCode", "PostalCode", "Country")]
    return [_text(getattr(address, name, "")) for name in ADDRESS_PARTS]


def _customer(c: Mapping[str, Any]) -> tuple[Any, ...]:
    bill = _get(c, "BillAddr")
    text, key = address_text_and_key(bill if isinstance(bill, Mapping) else None)
    return (
        c["Id"], _text(c.get("DisplayName")), _text(_get(c, "PrimaryEmailAddr", "Address")),
        _text(_get(c, "PrimaryPhone", "FreeFormNumber")), _text(_get(c, "BillAddr", "CountrySubDivisionCode")),
        _flag(c.get("Active")), text, key, _money(c, "Customer", "Balance"), _get(c, "MetaData", "LastUpdatedTime"),
    )


def _credit_memo(c: Mapping[str, Any], taxes: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    _tax_lines("credit_note", c, "CreditMemo", taxes)
    return (c["Id"], _text(c.get("DocNumber")), _get(c, "CustomerRef", "value"), c.get("TxnDate") or None,
            _money(c, "CreditMemo", "TotalAmt"), _money(c, "CreditMemo", "TxnTaxDetail", "TotalTax"),
            _money(c, "CreditMemo", "Balance") if c.get("Balance") not in (None, "")
            else _money(c, "CreditMemo", "TotalAmt"), _get(c, "MetaData", "LastUpdatedTime"))


def _refund(r: Mapping[str, Any], taxes: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    _tax_lines("refund", r, "RefundReceipt", taxes)
    return (r["Id"], _text(r.get("DocNumber")), _get(r, "CustomerRef", "value"), r.get("TxnDate") or None,
            _money(r, "RefundReceipt", "TotalAmt"), _money(r, "RefundReceipt", "TxnTaxDetail", "TotalTax"),
            _get(r, "MetaData", "LastUpdatedTime"))


def _invoice(i: Mapping[str, Any], taxes: list[tuple[Any, ...]] | None = None) -> tuple[Any, ...]:
    if taxes is not None:
        _tax_lines("invoice", i, "Invoice", taxes)
    total = _money(i, "Invoice", "TotalAmt")
    voided = total == 0 and _text(i.get("PrivateNote")).startswith("Voided")
    return (
        i["Id"], _text(i.get("DocNumber")), _get(i, "CustomerRef", "value"), i.get("TxnDate") or None,
        i.get("DueDate") or None, total, _money(i, "Invoice", "TxnTaxDetail", "TotalTax"),
        _money(i, "Invoice", "Balance"), voided, _get(i, "MetaData", "LastUpdatedTime"),
    )


def _credit_application(p: Mapping[str, Any], credits: list[tuple[Any, ...]]) -> bool:
    """A Payment that only applies credit memos to invoices (no money received: ``TotalAmt`` 0, a line
    linked to a CreditMemo) goes to ``credits``, one row per invoice line, and is not a payment.
    Returns whether ``p`` was one."""
    memos = [t.get("TxnId") for line in (p.get("Line") or ()) for t in (_get(line, "LinkedTxn") or ())
             if _get(t, "TxnType") == "CreditMemo"]
    if not memos or _money(p, "Payment", "TotalAmt") != 0:
        return False
    for index, line in enumerate(p.get("Line") or ()):
        for txn in (_get(line, "LinkedTxn") or ())[:1]:
            if _get(txn, "TxnType") == "Invoice":
                credits.append((p["Id"], txn.get("TxnId"), memos[0], p.get("TxnDate") or None,
                                _line_amount(p, line, index)))
    return True


def _tax_lines(document: str, record: Mapping[str, Any], entity: str, rows: list[tuple[Any, ...]]) -> None:
    """A QBO document's ``TxnTaxDetail.TaxLine`` as tax-per-rate rows (:data:`.frames.TAX_LINE_COLUMNS`):
    lines that tax the same net amount are one row (their percents and amounts added)."""
    grouped: dict[int, list[Any]] = {}
    for index, line in enumerate(_get(record, "TxnTaxDetail", "TaxLine") or ()):
        detail = _get(line, "TaxLineDetail")
        if not isinstance(detail, Mapping):
            continue
        try:
            net = to_cents(detail.get("NetAmountTaxable"))
            tax = to_cents(_get(line, "Amount"))
        except ValueError as exc:
            raise ValueError(f"QBO {entity} {record.get('Id')}: TxnTaxDetail.TaxLine[{index}]: {exc}") from None
        found = detail.get("TaxRateRef")
        ref: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        name = _text(ref.get("name")) or _text(ref.get("value"))
        percent = _percent(detail.get("TaxPercent"))
        group = grouped.setdefault(net, [[], Decimal(0), 0])
        group[0].append(name)
        group[1] += percent
        group[2] += tax
    for net, (names, percent, tax) in grouped.items():
        rows.append((document, record["Id"], " + ".join(n for n in names if n), _percent_text(percent), net, tax))


def _percent(value: Any) -> Decimal:
    try:
        return Decimal(str(value).strip()) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def _percent_text(value: Decimal) -> str:
    """A percent as plain text without trailing zeros (``8.25``, ``20``)."""
    text = format(value.normalize(), "f") if value else "0"
    return text


def _payment(p: Mapping[str, Any], lines: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    """One payment row; its applied lines go to ``lines``. A line linked to several invoices (rare)
    counts its amount against the first of them."""
    applied = 0
    for index, line in enumerate(p.get("Line") or ()):
        invoices = [t for t in (_get(line, "LinkedTxn") or ()) if _get(t, "TxnType") == "Invoice"]
        amount = _line_amount(p, line, index)
        for position, txn in enumerate(invoices):
            lines.append((p["Id"], txn.get("TxnId"), amount if position == 0 else 0))
        if invoices:
            applied += amount
    total = _money(p, "Payment", "TotalAmt")
    unapplied = _money(p, "Payment", "UnappliedAmt") if p.get("UnappliedAmt") not in (None, "") else total - applied
    return (p["Id"], _get(p, "CustomerRef", "value"), p.get("TxnDate") or None, total, unapplied,
            _get(p, "MetaData", "LastUpdatedTime"))


def _line_amount(payment: Mapping[str, Any], line: Any, index: int) -> int:
    try:
        return to_cents(_get(line, "Amount"))
    except ValueError as exc:
        raise ValueError(f"QBO Payment {payment.get('Id')}: Line[{index}].Amount: {exc}") from None


def _stamps(frame: pd.DataFrame) -> pd.DataFrame:
    """QBO's ``LastUpdatedTime`` text (with its UTC offset) as UTC timestamps."""
    stamps = pd.to_datetime(frame["last_updated"], utc=True, format="ISO8601")
    return frame.assign(last_updated=stamps)


def extract_qbo(client: QueryClient, *, page_size: int = MAX_PAGE_SIZE) -> QboFrames:
    """QBO's customers (inactive included), invoices, payments and payment lines, read page by page."""
    return qbo_frames(lambda entity: _pages(client, select(entity).include_inactive() if entity == "Customer"
                                            else select(entity), page_size))


def extract_mirror(mirror: Any) -> QboFrames:
    """The same frames as :func:`extract_qbo`, built from the local mirror's rows
    (:class:`qbo_toolkit.mirror.Mirror`; bring it current first) instead of reading QBO."""
    return qbo_frames(mirror.objects)


def qbo_frames(objects: Callable[[str], Iterable[Mapping[str, Any]]]) -> QboFrames:
    """QboFrames from ``objects(entity)``: every Customer (inactive included), Invoice, Payment,
    CreditMemo and RefundReceipt a full query lists, as QBO's JSON (in Id order)."""
    customers = _columns((_customer(c) for c in objects("Customer")), list(CUSTOMER_COLUMNS))
    taxes: list[tuple[Any, ...]] = []
    invoices = _columns((_invoice(i, taxes) for i in objects("Invoice")), list(QBO_INVOICE_COLUMNS))
    lines: list[tuple[Any, ...]] = []
    credits: list[tuple[Any, ...]] = []
    payments = _columns((_payment(p, lines) for p in objects("Payment")
                         if not _credit_application(p, credits)), list(QBO_PAYMENT_COLUMNS))
    memos = _columns((_credit_memo(c, taxes) for c in objects("CreditMemo")), list(QBO_CREDIT_MEMO_COLUMNS))
    refunds = _columns((_refund(r, taxes) for r in objects("RefundReceipt")), list(QBO_REFUND_COLUMNS))
    return QboFrames(
        customers=_stamps(customers),
        invoices=_stamps(invoices),
        payments=_stamps(payments),
        payment_lines=_columns(lines, list(PAYMENT_LINE_COLUMNS)),
        credit_memos=_stamps(memos),
        credit_lines=_columns(credits, list(CREDIT_LINE_COLUMNS)),
        refunds=_stamps(refunds),
        tax_lines=_columns(taxes, list(TAX_LINE_COLUMNS)),
    )


def extract_work(store: WorkStore) -> WorkFrames:
    """The WORK store's clients (inactive included), invoices (deleted and void included), payments,
    credit notes, credit applications and refunds (deleted included), and the tax per rate of the
    live invoices, credit notes and refunds (an invoice's lines summed per WORK tax rate, its tax
    rounded half-up per rate, as WORK computes it). ``paid``/``credited``/``balance`` follow from
    the live payments and credit applications."""
    clients = _columns(
        ((c.id, c.display_name, c.email, c.phone, c.billing.state, c.active, *address_text_and_key(c.billing))
         for c in store.clients(True)),
        ["work_id", "display_name", "email", "phone", "billing_state", "active", "billing_address", "billing_key"],
    )
    all_invoices = store.invoices(include_deleted=True)
    invoices = _columns(
        ((i.id, i.number, i.client_id, i.issue_date, i.due_date, i.status, i.deleted, to_cents(i.total),
          to_cents(i.tax_amount)) for i in all_invoices),
        ["work_id", "number", "client_id", "issue_date", "due_date", "status", "deleted", "total_cents", "tax_cents"],
    )
    payments = _columns(
        ((p.id, p.invoice_id, p.date, to_cents(p.amount), p.deleted) for p in store.payments(include_deleted=True)),
        ["work_id", "invoice_id", "date", "amount_cents", "deleted"],
    )
    notes = store.credit_notes(include_deleted=True)
    refunds = store.refunds(include_deleted=True)
    percents = store.tax_rate_percents()
    taxes: list[tuple[Any, ...]] = []
    for invoice in all_invoices:
        if invoice.deleted:
            continue
        for rate, net in invoice.subtotals_by_rate().items():
            if rate:
                percent = percents.get(rate, Decimal(0))
                tax = (net * percent / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
                taxes.append(("invoice", invoice.id, rate, _percent_text(percent), to_cents(net), to_cents(tax)))
    for document, records in (("credit_note", notes), ("refund", refunds)):
        for r in records:
            if r.tax_rate and not r.deleted:
                taxes.append((document, r.id, r.tax_rate, _percent_text(percents.get(r.tax_rate, Decimal(0))),
                              to_cents(r.amount), to_cents(r.tax_amount)))
    return WorkFrames(
        clients=clients, invoices=invoices, payments=payments,
        credit_notes=_columns(((n.id, n.number, n.client_id, n.date, to_cents(n.total), to_cents(n.tax_amount),
                                n.deleted) for n in notes), list(WORK_CREDIT_NOTE_COLUMNS)),
        credit_applications=_columns(((a.id, a.credit_note_id, a.invoice_id, a.date, to_cents(a.amount), a.deleted)
                                      for a in store.credit_applications(include_deleted=True)),
                                     list(WORK_CREDIT_APPLICATION_COLUMNS)),
        refunds=_columns(((r.id, r.client_id, r.date, to_cents(r.total), to_cents(r.tax_amount), r.deleted)
                          for r in refunds), list(WORK_REFUND_COLUMNS)),
        tax_lines=_columns(taxes, list(TAX_LINE_COLUMNS)),
    )


def _utc(value: datetime | None) -> datetime | None:
    """A stored time as aware UTC (SQLite gives naive UTC back)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _qbo_ref(value: str | None) -> int | None:
    return int(value) if value is not None and str(value).strip().isdigit() else None


def extract_failures(state: SyncState) -> pd.DataFrame:
    """The sync's open failures on customers, invoices, payments, credit notes, credit applications and
    refunds (:data:`.frames.FAILURE_COLUMNS`),
    read with :meth:`SyncState.open_failures` (read-only): failed or conflicting records not yet
    retried, dismissed or synced since. Rows a CSV import refused (``from_file``) are not in WORK,
    so they are left out; so are entries that name no record at all."""
    rows = [
        (e.entity, e.work_id, _qbo_ref(e.qbo_id), e.action, e.field or "", e.message or "")
        for e in state.open_failures()
        if e.entity in LINKED_ENTITIES and e.direction != "from_file"
        and (e.work_id is not None or _qbo_ref(e.qbo_id) is not None)
    ]
    frame = _columns(rows, list(FAILURE_COLUMNS))
    return frame.astype({"work_id": "Int64", "qbo_id": "Int64"})


def extract_links(state: SyncState) -> LinkFrames:
    """The id map of customers, invoices and payments with ``synced_at``, the pending customer
    matches, the end of the last sync run that wrote (dry runs do not count), and the open sync
    failures (:func:`extract_failures`)."""
    query = sa.select(links_table.c.entity, *(links_table.c[name] for name in LINK_COLUMNS)).where(
        links_table.c.realm == state.realm, links_table.c.entity.in_(MAPPED_ENTITIES))
    with state.engine.connect() as conn:
        rows = conn.execute(query).all()
    by_entity: dict[str, list[tuple[Any, ...]]] = {entity: [] for entity in MAPPED_ENTITIES}
    for row in rows:
        entity, work_id, qbo_id, link_state, qbo_name, synced_at = tuple(row)
        by_entity[entity].append((work_id, qbo_id, link_state, qbo_name or "", _utc(synced_at)))
    frames = {entity: _columns(found, list(LINK_COLUMNS)) for entity, found in by_entity.items()}
    pending = _columns(((m["work_id"], m["qbo_id"], m["kind"]) for m in state.matches("pending")),
                       list(MATCH_COLUMNS))
    finished = [_utc(run["finished_at"]) for run in state.runs(limit=50)
                if run.get("finished_at") is not None and not run.get("dry_run")]
    last = max((stamp for stamp in finished if stamp is not None), default=None)
    return LinkFrames(frames["customer"], frames["invoice"], frames["payment"], pending, last,
                      extract_failures(state), credit_notes=frames["credit_note"], refunds=frames["refund"])


# --------------------------------------------------------------------------------------------
# QBO's A/R reports, for the tie-out
# --------------------------------------------------------------------------------------------


def _report_cents(table: ReportTable, value: Decimal | None, what: str) -> int:
    try:
        return to_cents(value)
    except ValueError as exc:
        raise ValueError(f"QBO's {table.name} report: {what}: {exc}") from None


def _report_rows(table: ReportTable, keys: tuple[str, ...], problems: list[str]) -> list[tuple[Any, ...]]:
    """``(customer id, name, cents per key...)`` per data row; a row without a numeric customer Id
    is a problem sentence instead (its amounts could be tied to no customer)."""
    rows: list[tuple[Any, ...]] = []
    nameless = [row.label or "(no name)" for row in table.rows if row.id is None or not row.id.isdigit()]
    if nameless:
        problems.append(f"QBO's {table.name} report lists {len(nameless)} row(s) without a customer Id (first: "
                        f"{nameless[0]}); their amounts cannot be tied to a customer")
    for row in table.rows:
        if row.id is None or not row.id.isdigit():
            continue
        rows.append((int(row.id), row.label,
                     *(_report_cents(table, row.amount(key), f"{row.label} {key}") for key in keys)))
    return rows


def extract_reports(client: QboClient, as_of: date) -> ReportFrames:
    """QBO's AgedReceivables (aged by the report date, ``aging_method=Report_Date``) and
    CustomerBalance reports as of ``as_of``, for the tie-out. A report QBO refuses (a fault) or
    whose columns are not what the tie-out needs is not an exception: its problem is kept in
    :attr:`ReportFrames.problems` (the tie-out then says it could not be done), so the rest of
    the reconciliation still runs. Connection and authorisation errors are raised as usual.

    The reports are optional reads (:mod:`qbo_toolkit.qbo.meter`): when this month's metered calls
    have reached the monthly budget they are not read, and the sentence saying so is the problem."""
    skipped = get_meter().refusal(client.realm_id, "the tie-out to QBO's AgedReceivables and CustomerBalance reports")
    if skipped is not None:
        return ReportFrames(aged=_columns([], list(AGED_REPORT_COLUMNS)),
                            balances=_columns([], list(BALANCE_REPORT_COLUMNS)),
                            aged_total_cents=None, balance_total_cents=None, problems=(skipped,))
    problems: list[str] = []
    aged_rows: list[tuple[Any, ...]] = []
    balance_rows: list[tuple[Any, ...]] = []
    aged_total: int | None = None
    balance_total: int | None = None
    currency = ""
    try:
        aged = read_report(client, "AgedReceivables", report_date=as_of, aging_method="Report_Date")
        currency = aged.currency
        missing = [key for key in AGING_KEYS if not aged.has(key)]
        if missing:
            problems.append(f"QBO's AgedReceivables report has no column(s) {', '.join(missing)} (its columns: "
                            f"{', '.join(c.title or c.type for c in aged.columns)}); the tie-out needs the "
                            "buckets Current, 1 - 30, 31 - 60, 61 - 90, 91 and over and Total")
        else:
            aged_rows = _report_rows(aged, AGING_KEYS, problems)
            if "total" in aged.totals:
                aged_total = _report_cents(aged, aged.totals["total"], "TOTAL")
    except (QboError, ValueError) as exc:
        if _fatal(exc):
            raise
        problems.append(f"QBO's AgedReceivables report could not be read: {exc}")
    try:
        balance = read_report(client, "CustomerBalance", report_date=as_of)
        currency = currency or balance.currency
        if not balance.has("total"):
            problems.append("QBO's CustomerBalance report has no Total column (its columns: "
                            f"{', '.join(c.title or c.type for c in balance.columns)})")
        else:
            balance_rows = _report_rows(balance, ("total",), problems)
            if "total" in balance.totals:
                balance_total = _report_cents(balance, balance.totals["total"], "TOTAL")
    except (QboError, ValueError) as exc:
        if _fatal(exc):
            raise
        problems.append(f"QBO's CustomerBalance report could not be read: {exc}")
    return ReportFrames(
        aged=_columns(aged_rows, list(AGED_REPORT_COLUMNS)),
        balances=_columns(balance_rows, list(BALANCE_REPORT_COLUMNS)),
        aged_total_cents=aged_total,
        balance_total_cents=balance_total,
        problems=tuple(problems),
        currency=currency.strip().upper(),
    )


def _fatal(exc: Exception) -> bool:
    """Errors that stop the whole reconciliation (no connection, no authorisation, throttled past the
    retries): the same as for every other read. A report QBO refuses with a validation fault, or a
    reply that is not a usable report, is a finding of the tie-out instead."""
    return isinstance(exc, QboAuthError | QboServerError | QboThrottled | QboTransportError)
