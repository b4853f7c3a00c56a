"""The frames a reconciliation compares: what each side holds, and the id map between them.

Three immutable containers, each a few pandas DataFrames with fixed columns and dtypes:

* :class:`WorkFrames` -- the WORK store's clients, invoices (deleted and void ones included),
  payments, credit notes, credit applications and refunds (deleted ones included), and the tax
  per rate of its documents;
* :class:`QboFrames` -- QBO's customers (inactive ones included), invoices, payments and the
  payments' applied lines, credit memos and the credit they apply to invoices (zero-amount
  Payments linking a CreditMemo), refund receipts, the tax lines of its documents, and
  (:class:`ReportFrames`, optional) its AgedReceivables and CustomerBalance reports;
* :class:`LinkFrames` -- the sync's id map per entity, the customer matches waiting for the user,
  when the last sync run finished, and the records whose sync failed and is still open.

Representation, chosen so a million rows per side compare in about a second:

* ids are ``int64`` (QBO ids are digit strings, ``"42"``, and become 42): comparisons join on
  integer keys through hash lookups, never on strings;
* money is whole cents in ``int64`` columns named ``*_cents`` (see :mod:`.money`): exact, fast,
  and no object dtype;
* dates are ``datetime64[s]`` (midnight), timestamps ``datetime64[us, UTC]``; missing ones are NaT;
* text is pandas' ``str`` dtype, with ``""`` for absent values (never NaN), so equality is plain;
* flags are ``bool`` and must not be missing; optional references are nullable ``Int64``.

Every container checks and converts its frames when built (a missing column is a ValueError naming
it), so the comparison can rely on the dtypes. Building from DataFrames that already have them
costs nothing (copy-on-write); :func:`work_frames_from_records`, :func:`qbo_frames_from_records`
and :func:`link_frames_from_records` build them from plain records (dicts), with money given as
amounts (``"12.30"``, ``Decimal``) under the name without ``_cents``, which is how tests and small
tools write them. The extractors in :mod:`.extract` fill them from the live systems.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal, TypeAlias

import numpy as np
import pandas as pd

from .money import cents_array, to_cents

__all__ = [
    "AGED_BUCKET_COLUMNS",
    "AGED_REPORT_COLUMNS",
    "BALANCE_REPORT_COLUMNS",
    "CLIENT_COLUMNS",
    "CREDIT_LINE_COLUMNS",
    "CUSTOMER_COLUMNS",
    "FAILURE_COLUMNS",
    "LINK_COLUMNS",
    "MATCH_COLUMNS",
    "PAYMENT_LINE_COLUMNS",
    "QBO_CREDIT_MEMO_COLUMNS",
    "QBO_INVOICE_COLUMNS",
    "QBO_PAYMENT_COLUMNS",
    "QBO_REFUND_COLUMNS",
    "TAX_LINE_COLUMNS",
    "WORK_CREDIT_APPLICATION_COLUMNS",
    "WORK_CREDIT_NOTE_COLUMNS",
    "WORK_INVOICE_COLUMNS",
    "WORK_PAYMENT_COLUMNS",
    "WORK_REFUND_COLUMNS",
    "LinkFrames",
    "QboFrames",
    "ReportFrames",
    "WorkFrames",
    "link_frames_from_records",
    "qbo_frames_from_records",
    "report_frames_from_records",
    "work_frames_from_records",
]

Kind: TypeAlias = Literal["id", "ref", "text", "bool", "cents", "date", "stamp"]
Records: TypeAlias = Iterable[Mapping[str, Any]] | pd.DataFrame

_DTYPES: Final[Mapping[str, str]] = {
    "id": "int64",
    "ref": "Int64",
    "text": "str",
    "bool": "bool",
    "cents": "int64",
    "date": "datetime64[s]",
    "stamp": "datetime64[us, UTC]",
}

#: WORK clients. ``billing_state`` is the billing address's state; ``active`` False for inactive clients;
#: ``billing_address`` the billing address as text (its parts joined by ", ") and ``billing_key`` the
#: address as it compares (:func:`qbo_toolkit.mapping.addresses.canonical_address` without the state,
#: which is compared on its own: "US" and "USA" are one country).
CLIENT_COLUMNS: Final[Mapping[str, Kind]] = {
    "work_id": "id",
    "display_name": "text",
    "email": "text",
    "phone": "text",
    "billing_state": "text",
    "active": "bool",
    "billing_address": "text",
    "billing_key": "text",
}
#: WORK invoices, deleted and void ones included. ``status`` is ``draft``, ``open`` or ``void``;
#: ``paid_cents`` the sum of the invoice's live payments; ``balance_cents`` what is still owed
#: (``total - paid`` for open and draft invoices, 0 for void or deleted ones).
WORK_INVOICE_COLUMNS: Final[Mapping[str, Kind]] = {
    "work_id": "id",
    "number": "text",
    "client_id": "id",
    "issue_date": "date",
    "due_date": "date",
    "status": "text",
    "deleted": "bool",
    "total_cents": "cents",
    "tax_cents": "cents",
    "paid_cents": "cents",
    "credited_cents": "cents",
    "balance_cents": "cents",
}
#: WORK payments, deleted ones included; each pays one invoice.
WORK_PAYMENT_COLUMNS: Final[Mapping[str, Kind]] = {
    "work_id": "id",
    "invoice_id": "id",
    "date": "date",
    "amount_cents": "cents",
    "deleted": "bool",
}
#: WORK credit notes, deleted ones included: credit given to a client (``total_cents`` with its tax).
WORK_CREDIT_NOTE_COLUMNS: Final[Mapping[str, Kind]] = {
    "work_id": "id",
    "number": "text",
    "client_id": "id",
    "date": "date",
    "total_cents": "cents",
    "tax_cents": "cents",
    "deleted": "bool",
}
#: WORK credit applications, deleted ones included: ``amount_cents`` of a credit note used against an invoice.
WORK_CREDIT_APPLICATION_COLUMNS: Final[Mapping[str, Kind]] = {
    "work_id": "id",
    "credit_note_id": "id",
    "invoice_id": "id",
    "date": "date",
    "amount_cents": "cents",
    "deleted": "bool",
}
#: WORK refunds, deleted ones included: money paid back to a client outside any invoice.
WORK_REFUND_COLUMNS: Final[Mapping[str, Kind]] = {
    "work_id": "id",
    "client_id": "id",
    "date": "date",
    "total_cents": "cents",
    "tax_cents": "cents",
    "deleted": "bool",
}
#: Tax per rate of a document (``document`` is ``invoice``, ``credit_note`` or ``refund``; ``doc_id`` its
#: id on that side): ``rate`` the rate's name (WORK's tax rate, QBO's TaxRateRef name or Id), ``percent``
#: its percent as text, ``net_cents`` the amount taxed at it and ``tax_cents`` the tax. QBO's lines that
#: tax the same net amount (a US company's state and county rates) are one row, their percents added.
TAX_LINE_COLUMNS: Final[Mapping[str, Kind]] = {
    "document": "text",
    "doc_id": "id",
    "rate": "text",
    "percent": "text",
    "net_cents": "cents",
    "tax_cents": "cents",
}
#: QBO credit memos. ``balance_cents`` is the credit not yet applied to an invoice (``Balance``).
QBO_CREDIT_MEMO_COLUMNS: Final[Mapping[str, Kind]] = {
    "qbo_id": "id",
    "doc_number": "text",
    "customer_qbo_id": "id",
    "txn_date": "date",
    "total_cents": "cents",
    "tax_cents": "cents",
    "balance_cents": "cents",
    "last_updated": "stamp",
}
#: One row per invoice line of a QBO Payment that applies a credit memo (no money received: its
#: ``TotalAmt`` is 0): ``amount_cents`` of credit memo ``credit_memo_qbo_id`` applied to the invoice.
CREDIT_LINE_COLUMNS: Final[Mapping[str, Kind]] = {
    "payment_qbo_id": "id",
    "invoice_qbo_id": "id",
    "credit_memo_qbo_id": "id",
    "txn_date": "date",
    "amount_cents": "cents",
}
#: QBO refund receipts.
QBO_REFUND_COLUMNS: Final[Mapping[str, Kind]] = {
    "qbo_id": "id",
    "doc_number": "text",
    "customer_qbo_id": "id",
    "txn_date": "date",
    "total_cents": "cents",
    "tax_cents": "cents",
    "last_updated": "stamp",
}
#: QBO customers, inactive ones included. ``balance_cents`` is QBO's ``Balance`` (the customer's own,
#: without sub-customers); ``last_updated`` is ``MetaData.LastUpdatedTime``.
CUSTOMER_COLUMNS: Final[Mapping[str, Kind]] = {
    "qbo_id": "id",
    "display_name": "text",
    "email": "text",
    "phone": "text",
    "billing_state": "text",
    "active": "bool",
    "billing_address": "text",
    "billing_key": "text",
    "balance_cents": "cents",
    "last_updated": "stamp",
}
#: QBO invoices (QBO's query never returns deleted ones). ``voided``: QBO marks a void invoice only by
#: zeroing its amounts and starting ``PrivateNote`` with "Voided".
QBO_INVOICE_COLUMNS: Final[Mapping[str, Kind]] = {
    "qbo_id": "id",
    "doc_number": "text",
    "customer_qbo_id": "id",
    "txn_date": "date",
    "due_date": "date",
    "total_cents": "cents",
    "tax_cents": "cents",
    "balance_cents": "cents",
    "voided": "bool",
    "last_updated": "stamp",
}
#: QBO payments. ``unapplied_cents`` is ``UnappliedAmt`` (customer credit not applied to any invoice).
QBO_PAYMENT_COLUMNS: Final[Mapping[str, Kind]] = {
    "qbo_id": "id",
    "customer_qbo_id": "id",
    "txn_date": "date",
    "total_cents": "cents",
    "unapplied_cents": "cents",
    "last_updated": "stamp",
}
#: One row per invoice a QBO payment line applies money to (``LinkedTxn`` of type Invoice).
PAYMENT_LINE_COLUMNS: Final[Mapping[str, Kind]] = {
    "payment_qbo_id": "id",
    "invoice_qbo_id": "id",
    "amount_cents": "cents",
}
#: One row per customer of QBO's AgedReceivables report (as of the reconciliation's day): the
#: customer's open amounts per aging bucket (days past due: current, 1-30, 31-60, 61-90, 91 and
#: over; blank cells are 0) and its total.
AGED_REPORT_COLUMNS: Final[Mapping[str, Kind]] = {
    "customer_qbo_id": "id",
    "name": "text",
    "current_cents": "cents",
    "days_1_30_cents": "cents",
    "days_31_60_cents": "cents",
    "days_61_90_cents": "cents",
    "days_91_over_cents": "cents",
    "total_cents": "cents",
}
#: The aged report's bucket columns, in :data:`qbo_toolkit.recon.compare.AGING_BUCKETS` order.
AGED_BUCKET_COLUMNS: Final = ("current_cents", "days_1_30_cents", "days_31_60_cents", "days_61_90_cents",
                              "days_91_over_cents")
#: One row per customer of QBO's CustomerBalance report: the customer's open balance.
BALANCE_REPORT_COLUMNS: Final[Mapping[str, Kind]] = {
    "customer_qbo_id": "id",
    "name": "text",
    "balance_cents": "cents",
}
#: The sync's id map for one entity. ``state`` is ``active``, ``voided`` or ``deleted`` (what the
#: sync did to the QBO record); ``qbo_name`` the DisplayName the sync gave a customer when it had to
#: change the WORK name ("fix" name policy), else ""; ``synced_at`` when the link was last written.
LINK_COLUMNS: Final[Mapping[str, Kind]] = {
    "work_id": "id",
    "qbo_id": "id",
    "state": "text",
    "qbo_name": "text",
    "synced_at": "stamp",
}
#: Customer matches waiting for the user's decision (weak or multiple), from the sync's match preview.
MATCH_COLUMNS: Final[Mapping[str, Kind]] = {"work_id": "id", "qbo_id": "id", "kind": "text"}
#: Records whose sync failed and is still open (not retried, dismissed or synced since), one row per
#: entry of the sync's activity log: ``entity`` is ``customer``, ``invoice``, ``payment``, ``credit_note``,
#: ``credit_applied`` or ``refund``;
#: ``work_id`` the WORK record (missing for a QBO record the sync could not bring to WORK),
#: ``qbo_id`` the QBO record when known; ``action`` what was tried (``create``, ``update``...);
#: ``field`` the field at fault ("" when none) and ``message`` the sync's sentence.
FAILURE_COLUMNS: Final[Mapping[str, Kind]] = {
    "entity": "text",
    "work_id": "ref",
    "qbo_id": "ref",
    "action": "text",
    "field": "text",
    "message": "text",
}

_DEFAULTS: Final[Mapping[str, Any]] = {
    "email": "",
    "phone": "",
    "billing_state": "",
    "billing_address": "",
    "billing_key": "",
    "active": True,
    "deleted": False,
    "voided": False,
    "status": "open",
    "number": "",
    "doc_number": "",
    "due_date": None,
    "tax_cents": 0,
    "credited_cents": 0,
    "unapplied_cents": 0,
    "balance_cents": 0,
    "last_updated": None,
    "state": "active",
    "qbo_name": "",
    "synced_at": None,
    "name": "",
    "current_cents": 0,
    "days_1_30_cents": 0,
    "days_31_60_cents": 0,
    "days_61_90_cents": 0,
    "days_91_over_cents": 0,
    "kind": "weak",
    "action": "",
    "field": "",
    "message": "",
}


def _series(frame: pd.DataFrame, column: str, kind: Kind, what: str) -> pd.Series:
    values = frame[column]
    label = f"{what}.{column}"
    if kind == "id":
        if values.isna().any():
            raise ValueError(f"{label} has missing ids")
        try:
            return values.astype("int64")
        except (TypeError, ValueError):
            raise ValueError(f"{label} must hold integer ids (QBO ids are digit strings)") from None
    if kind == "ref":
        return values.astype("Int64")
    if kind == "text":
        return values.fillna("").astype("str")
    if kind == "bool":
        if values.isna().any():
            raise ValueError(f"{label} has missing values; flags must be True or False")
        return values.astype("bool")
    if kind == "cents":
        if not pd.api.types.is_integer_dtype(values.dtype) or values.isna().any():
            raise ValueError(
                f"{label} must hold whole cents as integers; give amounts as Decimal or text under "
                f"{column.removesuffix('_cents')!r} to the *_from_records helpers"
            )
        return values.astype("int64")
    if kind == "date":
        return pd.to_datetime(values).astype("datetime64[s]")
    return pd.to_datetime(values, utc=True).astype("datetime64[us, UTC]")


def _conform(frame: pd.DataFrame, spec: Mapping[str, Kind], what: str) -> pd.DataFrame:
    """``frame`` with exactly ``spec``'s columns and dtypes (absent optional columns get defaults)."""
    missing = [column for column in spec if column not in frame.columns and column not in _DEFAULTS]
    if missing:
        raise ValueError(f"{what} lacks the column(s) {', '.join(missing)}")
    frame = frame.reset_index(drop=True)
    if not len(frame):
        return _empty(spec)
    columns: dict[str, pd.Series] = {}
    for column, kind in spec.items():
        if column not in frame.columns:
            default = _DEFAULTS[column]
            frame = frame.assign(**{column: pd.Series([default] * len(frame), dtype=object if default is None
                                                      else None, index=frame.index)})
        columns[column] = _series(frame, column, kind, what)
    out = pd.DataFrame(columns, index=frame.index, copy=False)
    return out


def _unique(frame: pd.DataFrame, column: str, what: str) -> None:
    if frame[column].duplicated().any():
        repeated = frame.loc[frame[column].duplicated(), column].iloc[0]
        raise ValueError(f"{what}.{column} repeats {repeated}")


def _empty(spec: Mapping[str, Kind]) -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series([], dtype=_DTYPES[kind]) for column, kind in spec.items()})


@dataclass(frozen=True)
class WorkFrames:
    """WORK's records as frames (columns: :data:`CLIENT_COLUMNS`, :data:`WORK_INVOICE_COLUMNS`,
    :data:`WORK_PAYMENT_COLUMNS`). Invoices without ``paid_cents`` / ``balance_cents`` get them from
    the live payments."""

    clients: pd.DataFrame = field(default_factory=lambda: _empty(CLIENT_COLUMNS))
    invoices: pd.DataFrame = field(default_factory=lambda: _empty(WORK_INVOICE_COLUMNS))
    payments: pd.DataFrame = field(default_factory=lambda: _empty(WORK_PAYMENT_COLUMNS))
    credit_notes: pd.DataFrame = field(default_factory=lambda: _empty(WORK_CREDIT_NOTE_COLUMNS))
    credit_applications: pd.DataFrame = field(default_factory=lambda: _empty(WORK_CREDIT_APPLICATION_COLUMNS))
    refunds: pd.DataFrame = field(default_factory=lambda: _empty(WORK_REFUND_COLUMNS))
    tax_lines: pd.DataFrame = field(default_factory=lambda: _empty(TAX_LINE_COLUMNS))

    def __post_init__(self) -> None:
        clients = _conform(self.clients, CLIENT_COLUMNS, "work.clients")
        payments = _conform(self.payments, WORK_PAYMENT_COLUMNS, "work.payments")
        applications = _conform(self.credit_applications, WORK_CREDIT_APPLICATION_COLUMNS, "work.credit_applications")
        invoices = self.invoices
        if "paid_cents" not in invoices.columns or "balance_cents" not in invoices.columns:
            invoices = _with_paid(invoices, payments, applications)
        invoices = _conform(invoices, WORK_INVOICE_COLUMNS, "work.invoices")
        notes = _conform(self.credit_notes, WORK_CREDIT_NOTE_COLUMNS, "work.credit_notes")
        refunds = _conform(self.refunds, WORK_REFUND_COLUMNS, "work.refunds")
        for frame, what in ((clients, "work.clients"), (invoices, "work.invoices"), (payments, "work.payments"),
                            (notes, "work.credit_notes"), (applications, "work.credit_applications"),
                            (refunds, "work.refunds")):
            _unique(frame, "work_id", what)
        object.__setattr__(self, "clients", clients)
        object.__setattr__(self, "invoices", invoices)
        object.__setattr__(self, "payments", payments)
        object.__setattr__(self, "credit_notes", notes)
        object.__setattr__(self, "credit_applications", applications)
        object.__setattr__(self, "refunds", refunds)
        object.__setattr__(self, "tax_lines", _conform(self.tax_lines, TAX_LINE_COLUMNS, "work.tax_lines"))


def _with_paid(invoices: pd.DataFrame, payments: pd.DataFrame, applications: pd.DataFrame) -> pd.DataFrame:
    """Add ``paid_cents`` (live payments per invoice), ``credited_cents`` (live credit applications)
    and ``balance_cents`` (total less both) to WORK invoices."""
    live = payments.loc[~payments["deleted"], ["invoice_id", "amount_cents"]]
    paid = live.groupby("invoice_id")["amount_cents"].sum()
    ids = invoices["work_id"].astype("int64")
    paid_cents = paid.reindex(ids.to_numpy(), fill_value=0).to_numpy(dtype=np.int64)
    used = applications.loc[~applications["deleted"], ["invoice_id", "amount_cents"]]
    credited = used.groupby("invoice_id")["amount_cents"].sum()
    credited_cents = credited.reindex(ids.to_numpy(), fill_value=0).to_numpy(dtype=np.int64)
    total = invoices["total_cents"].to_numpy(dtype=np.int64)
    status = invoices["status"] if "status" in invoices.columns else pd.Series("open", index=invoices.index)
    deleted = invoices["deleted"] if "deleted" in invoices.columns else pd.Series(False, index=invoices.index)
    owing = (status.to_numpy() != "void") & ~deleted.to_numpy(dtype=bool)
    return invoices.assign(paid_cents=paid_cents, credited_cents=credited_cents,
                           balance_cents=np.where(owing, total - paid_cents - credited_cents, 0))


@dataclass(frozen=True)
class ReportFrames:
    """QBO's own A/R reports, read for the tie-out: ``aged`` (:data:`AGED_REPORT_COLUMNS`, from
    AgedReceivables) and ``balances`` (:data:`BALANCE_REPORT_COLUMNS`, from CustomerBalance), one row
    per customer; each report's GrandTotal in cents (None when the report has none); and
    ``problems``: a sentence per report that could not be read or used (each names the report and
    why), in which case the tie-out says so instead of comparing. ``currency``: the currency the
    reports' headers name (the company's home currency, "USD"), "" when none was read."""

    aged: pd.DataFrame = field(default_factory=lambda: _empty(AGED_REPORT_COLUMNS))
    balances: pd.DataFrame = field(default_factory=lambda: _empty(BALANCE_REPORT_COLUMNS))
    aged_total_cents: int | None = None
    balance_total_cents: int | None = None
    problems: tuple[str, ...] = ()
    currency: str = ""

    def __post_init__(self) -> None:
        aged = _conform(self.aged, AGED_REPORT_COLUMNS, "reports.aged")
        balances = _conform(self.balances, BALANCE_REPORT_COLUMNS, "reports.balances")
        _unique(aged, "customer_qbo_id", "reports.aged")
        _unique(balances, "customer_qbo_id", "reports.balances")
        object.__setattr__(self, "aged", aged)
        object.__setattr__(self, "balances", balances)
        object.__setattr__(self, "problems", tuple(self.problems))


@dataclass(frozen=True)
class QboFrames:
    """QBO's records as frames (columns: :data:`CUSTOMER_COLUMNS`, :data:`QBO_INVOICE_COLUMNS`,
    :data:`QBO_PAYMENT_COLUMNS`, :data:`PAYMENT_LINE_COLUMNS`)."""

    customers: pd.DataFrame = field(default_factory=lambda: _empty(CUSTOMER_COLUMNS))
    invoices: pd.DataFrame = field(default_factory=lambda: _empty(QBO_INVOICE_COLUMNS))
    payments: pd.DataFrame = field(default_factory=lambda: _empty(QBO_PAYMENT_COLUMNS))
    payment_lines: pd.DataFrame = field(default_factory=lambda: _empty(PAYMENT_LINE_COLUMNS))
    credit_memos: pd.DataFrame = field(default_factory=lambda: _empty(QBO_CREDIT_MEMO_COLUMNS))
    credit_lines: pd.DataFrame = field(default_factory=lambda: _empty(CREDIT_LINE_COLUMNS))
    refunds: pd.DataFrame = field(default_factory=lambda: _empty(QBO_REFUND_COLUMNS))
    tax_lines: pd.DataFrame = field(default_factory=lambda: _empty(TAX_LINE_COLUMNS))
    #: QBO's AgedReceivables and CustomerBalance reports for the tie-out; None: not read (no tie-out).
    reports: ReportFrames | None = None

    def __post_init__(self) -> None:
        customers = _conform(self.customers, CUSTOMER_COLUMNS, "qbo.customers")
        invoices = _conform(self.invoices, QBO_INVOICE_COLUMNS, "qbo.invoices")
        payments = _conform(self.payments, QBO_PAYMENT_COLUMNS, "qbo.payments")
        lines = _conform(self.payment_lines, PAYMENT_LINE_COLUMNS, "qbo.payment_lines")
        for frame, what in ((customers, "qbo.customers"), (invoices, "qbo.invoices"), (payments, "qbo.payments")):
            _unique(frame, "qbo_id", what)
        object.__setattr__(self, "customers", customers)
        object.__setattr__(self, "invoices", invoices)
        object.__setattr__(self, "payments", payments)
        object.__setattr__(self, "payment_lines", lines)
        memos = _conform(self.credit_memos, QBO_CREDIT_MEMO_COLUMNS, "qbo.credit_memos")
        refunds = _conform(self.refunds, QBO_REFUND_COLUMNS, "qbo.refunds")
        _unique(memos, "qbo_id", "qbo.credit_memos")
        _unique(refunds, "qbo_id", "qbo.refunds")
        object.__setattr__(self, "credit_memos", memos)
        object.__setattr__(self, "credit_lines", _conform(self.credit_lines, CREDIT_LINE_COLUMNS, "qbo.credit_lines"))
        object.__setattr__(self, "refunds", refunds)
        object.__setattr__(self, "tax_lines", _conform(self.tax_lines, TAX_LINE_COLUMNS, "qbo.tax_lines"))


@dataclass(frozen=True)
class LinkFrames:
    """The sync's id map per entity (:data:`LINK_COLUMNS`), the pending customer matches
    (:data:`MATCH_COLUMNS`), when the last sync run finished (aware UTC, or None) and the open
    sync failures (:data:`FAILURE_COLUMNS`).

    A QBO record changed after ``max(its link's synced_at, last_sync_at)`` changed after the sync
    last saw it. The last run's end matters because a run's own later writes touch records linked
    earlier in the same run (applying a payment updates its invoice; a new invoice changes its
    customer's balance)."""

    customers: pd.DataFrame = field(default_factory=lambda: _empty(LINK_COLUMNS))
    invoices: pd.DataFrame = field(default_factory=lambda: _empty(LINK_COLUMNS))
    payments: pd.DataFrame = field(default_factory=lambda: _empty(LINK_COLUMNS))
    pending_matches: pd.DataFrame = field(default_factory=lambda: _empty(MATCH_COLUMNS))
    last_sync_at: datetime | None = None
    failures: pd.DataFrame = field(default_factory=lambda: _empty(FAILURE_COLUMNS))
    credit_notes: pd.DataFrame = field(default_factory=lambda: _empty(LINK_COLUMNS))
    refunds: pd.DataFrame = field(default_factory=lambda: _empty(LINK_COLUMNS))

    def __post_init__(self) -> None:
        object.__setattr__(self, "failures", _conform(self.failures, FAILURE_COLUMNS, "links.failures"))
        for name in ("customers", "invoices", "payments", "credit_notes", "refunds"):
            frame = _conform(getattr(self, name), LINK_COLUMNS, f"links.{name}")
            _unique(frame, "work_id", f"links.{name}")
            _unique(frame, "qbo_id", f"links.{name}")
            object.__setattr__(self, name, frame)
        object.__setattr__(self, "pending_matches", _conform(self.pending_matches, MATCH_COLUMNS, "links.pending"))
        if self.last_sync_at is not None:
            stamp = self.last_sync_at
            object.__setattr__(self, "last_sync_at", stamp.replace(tzinfo=UTC) if stamp.tzinfo is None
                               else stamp.astimezone(UTC))


# --------------------------------------------------------------------------------------------
# Building frames from plain records
# --------------------------------------------------------------------------------------------


def _frame(records: Records | None, spec: Mapping[str, Kind]) -> pd.DataFrame:
    """Records (dicts) or a DataFrame; money given as amounts under the name without ``_cents``."""
    if records is None:
        return _empty(spec)
    frame = records if isinstance(records, pd.DataFrame) else pd.DataFrame(list(records))
    if frame.empty and not len(frame.columns):
        return _empty(spec)
    for column, kind in spec.items():
        amount = column.removesuffix("_cents")
        if kind == "cents" and column not in frame.columns and amount in frame.columns:
            amounts = frame[amount]
            if _DEFAULTS.get(column) is not None and amounts.isna().any():  # an optional amount some leave out
                amounts = amounts.astype(object).where(amounts.notna(), 0)
            frame = frame.assign(**{column: cents_array(amounts.tolist())}).drop(columns=[amount])
        default = _DEFAULTS.get(column)
        if column in frame.columns and default is not None and frame[column].isna().any():
            # a key some records leave out: its default, as if every record had left it out
            filled = frame[column].astype(object).where(frame[column].notna(), default)
            frame = frame.assign(**{column: filled.infer_objects()})
    return frame


def work_frames_from_records(
    clients: Records | None = None,
    invoices: Records | None = None,
    payments: Records | None = None,
    *,
    credit_notes: Records | None = None,
    credit_applications: Records | None = None,
    refunds: Records | None = None,
    tax_lines: Records | None = None,
) -> WorkFrames:
    """:class:`WorkFrames` from dicts, e.g. ``{"work_id": 1, "number": "W-1", "client_id": 1,
    "issue_date": date(2026, 1, 5), "total": "120.00", "tax": "0"}``. Optional columns default
    (``status`` open, ``deleted`` False, empty text); ``paid``/``credited``/``balance`` follow from
    the payments and credit applications."""
    return WorkFrames(
        _frame(clients, CLIENT_COLUMNS), _frame(invoices, WORK_INVOICE_COLUMNS), _frame(payments, WORK_PAYMENT_COLUMNS),
        credit_notes=_frame(credit_notes, WORK_CREDIT_NOTE_COLUMNS),
        credit_applications=_frame(credit_applications, WORK_CREDIT_APPLICATION_COLUMNS),
        refunds=_frame(refunds, WORK_REFUND_COLUMNS),
        tax_lines=_frame(tax_lines, TAX_LINE_COLUMNS),
    )


def qbo_frames_from_records(
    customers: Records | None = None,
    invoices: Records | None = None,
    payments: Records | None = None,
    payment_lines: Records | None = None,
    reports: ReportFrames | None = None,
    *,
    credit_memos: Records | None = None,
    credit_lines: Records | None = None,
    refunds: Records | None = None,
    tax_lines: Records | None = None,
) -> QboFrames:
    """:class:`QboFrames` from dicts in the frames' own column names (``qbo_id``, ``total``, ...);
    ``reports`` (see :func:`report_frames_from_records`) for a tie-out."""
    return QboFrames(
        _frame(customers, CUSTOMER_COLUMNS),
        _frame(invoices, QBO_INVOICE_COLUMNS),
        _frame(payments, QBO_PAYMENT_COLUMNS),
        _frame(payment_lines, PAYMENT_LINE_COLUMNS),
        credit_memos=_frame(credit_memos, QBO_CREDIT_MEMO_COLUMNS),
        credit_lines=_frame(credit_lines, CREDIT_LINE_COLUMNS),
        refunds=_frame(refunds, QBO_REFUND_COLUMNS),
        tax_lines=_frame(tax_lines, TAX_LINE_COLUMNS),
        reports=reports,
    )


def link_frames_from_records(
    customers: Records | None = None,
    invoices: Records | None = None,
    payments: Records | None = None,
    pending_matches: Records | None = None,
    last_sync_at: datetime | None = None,
    failures: Records | None = None,
    *,
    credit_notes: Records | None = None,
    refunds: Records | None = None,
) -> LinkFrames:
    """:class:`LinkFrames` from ``{"work_id": 1, "qbo_id": "58", "synced_at": ...}`` dicts; ``failures``
    as ``{"entity": "invoice", "work_id": 7, "message": "..."}`` (``qbo_id`` optional)."""
    failed = _frame(failures, FAILURE_COLUMNS)
    if "qbo_id" not in failed.columns:
        failed = failed.assign(qbo_id=pd.Series([pd.NA] * len(failed), dtype="Int64", index=failed.index))
    return LinkFrames(
        _frame(customers, LINK_COLUMNS),
        _frame(invoices, LINK_COLUMNS),
        _frame(payments, LINK_COLUMNS),
        _frame(pending_matches, MATCH_COLUMNS),
        last_sync_at,
        failed,
        _frame(credit_notes, LINK_COLUMNS),
        _frame(refunds, LINK_COLUMNS),
    )


def report_frames_from_records(
    aged: Records | None = None,
    balances: Records | None = None,
    *,
    aged_total: object = None,
    balance_total: object = None,
    problems: Iterable[str] = (),
) -> ReportFrames:
    """:class:`ReportFrames` from ``{"customer_qbo_id": 58, "name": "Alpha", "current": "10.00",
    "days_91_over": "5.00", "total": "15.00"}`` rows (buckets not given are 0) and
    ``{"customer_qbo_id": 58, "balance": "15.00"}``; the grand totals as amounts."""
    return ReportFrames(
        _frame(aged, AGED_REPORT_COLUMNS),
        _frame(balances, BALANCE_REPORT_COLUMNS),
        None if aged_total is None else to_cents(aged_total),
        None if balance_total is None else to_cents(balance_total),
        tuple(problems),
    )
