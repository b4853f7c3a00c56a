"""The frozen outcome of a reconciliation: summary figures and one DataFrame per category.

:func:`qbo_toolkit.recon.compare.reconcile` computes a :class:`ReconResult`; :mod:`.render` turns it
into HTML, CSV or Excel without computing anything again; only the caller writes files. The result
is immutable (a frozen dataclass over read-only mappings; :meth:`ReconResult.frame` hands out
copies, which copy-on-write makes free), so a report, a CSV export and an exit code made from one
result always agree.

Categories (:data:`CATEGORIES`) are *differences* (they count against agreement), *pending*
(records the sync has not finished with: waiting for a customer match decision, or whose sync
failed and is still open; they count against agreement too, as "not yet in agreement") or
*information* (records that are rightly on one side only: dated before the integration date,
drafts). Every category frame has the columns listed in its :class:`Category`, even when empty.
The verdict (:attr:`ReconResult.in_agreement`, :attr:`ReconResult.verdict`) is "agree" only when
no difference and nothing pending is found. Conventions in every frame:

* money is whole cents in ``int64`` columns named ``*_cents`` (``Int64`` where it may be missing);
* ``difference*`` is always QBO minus WORK;
* ``work_id`` / ``qbo_id`` are ``Int64`` where one side may be absent;
* ``customer`` (every invoice and payment category) is the WORK client's display name when the
  record is on the WORK side, else the QBO customer's DisplayName ("" when neither is known);
* ``match`` says how a pair was found: ``link`` (the sync's id map), ``number`` (same invoice
  number, not in the id map) or ``name`` (same customer name, not in the id map).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from .money import cents_to_decimal

__all__ = ["CATEGORIES", "CATEGORY_NAMES", "PENDING_STATUSES", "Category", "ReconResult", "Total"]

#: What a category's rows mean for the verdict.
Kind = Literal["difference", "pending", "information"]
#: Why a record is pending (the ``status`` column of the ``pending`` category), with how the
#: verdict names them.
PENDING_STATUSES: Final[Mapping[str, str]] = MappingProxyType({
    "waiting_match": "waiting for a match decision",
    "sync_failed": "whose sync failed",
})


@dataclass(frozen=True)
class Category:
    """One kind of finding: its key (CSV file and Excel sheet name), the entity, whether it is a
    difference, pending or information, a title and a sentence for the report, and its columns."""

    name: str
    entity: str
    kind: Kind
    title: str
    description: str
    columns: tuple[str, ...]


def _cat(name: str, entity: str, title: str, description: str, columns: str,
         kind: Kind = "difference") -> Category:
    return Category(name, entity, kind, title, description, tuple(columns.split()))


_FIELD_PAIR: Final = "work_id qbo_id number customer match"
#: Every category, in report order.
CATEGORIES: Final[tuple[Category, ...]] = (
    _cat("customers_unlinked", "customers", "Customers not linked",
         "Clients or customers without a partner in the id map: on one side only, linked to a record that is "
         "gone, or present on both sides under the same name without a link.",
         "side work_id qbo_id name reason"),
    _cat("customers_fields", "customers", "Customer field differences",
         "Linked customers whose name, e-mail, phone, billing state or billing address differ (the name QBO is "
         "expected to have is the one the sync gave it; an empty QBO state stands for the company's default state; "
         "addresses compare in canonical form, so \"US\" and \"USA\" are one country).",
         "work_id qbo_id match field work qbo"),
    _cat("customers_inactive_one_side", "customers", "Inactive on one side only",
         "Linked customers that are active on one side and inactive on the other.",
         "work_id qbo_id name work_active qbo_active"),
    _cat("customer_balances", "customers", "Customer open balances",
         "Linked customers whose open balance differs: WORK's open invoices against QBO's customer Balance, "
         "each without the invoices that are not expected on the other side.",
         "work_id qbo_id name work_open_cents work_outside_cents qbo_balance_cents qbo_outside_cents "
         "difference_cents"),
    _cat("invoices_missing_in_qbo", "invoices", "Invoices missing in QBO",
         "WORK invoices that should be in QBO and were never sent (a linked invoice that QBO no longer has "
         "counts as deleted on one side).",
         "work_id number client_id customer date total_cents balance_cents reason"),
    _cat("invoices_missing_in_work", "invoices", "Invoices missing in WORK",
         "QBO invoices (from the integration date) that WORK does not have.",
         "qbo_id work_id doc_number customer_qbo_id customer date total_cents balance_cents reason"),
    _cat("invoices_total", "invoices", "Invoice total differences",
         "Invoices whose total differs.", f"{_FIELD_PAIR} work_cents qbo_cents difference_cents"),
    _cat("invoices_tax", "invoices", "Invoice tax differences",
         "Invoices whose sales tax differs.", f"{_FIELD_PAIR} work_cents qbo_cents difference_cents"),
    _cat("invoices_balance", "invoices", "Invoice balance differences",
         "Invoices whose open balance (total less payments) differs.",
         f"{_FIELD_PAIR} work_cents qbo_cents difference_cents"),
    _cat("invoices_date", "invoices", "Invoice date differences",
         "Invoices whose date (WORK issue date, QBO TxnDate) differs.",
         f"{_FIELD_PAIR} work_date qbo_date difference_days"),
    _cat("invoices_due_date", "invoices", "Invoice due date differences",
         "Invoices with a WORK due date that QBO does not have.",
         f"{_FIELD_PAIR} work_date qbo_date difference_days"),
    _cat("invoices_customer", "invoices", "Invoice customer differences",
         "Invoices billed to another customer than the WORK client's partner.",
         f"{_FIELD_PAIR} work_client_id expected_qbo_customer qbo_customer"),
    _cat("invoices_number", "invoices", "Invoice number differences",
         "Linked invoices whose QBO DocNumber is not the WORK invoice number.",
         "work_id qbo_id customer match work_number qbo_number"),
    _cat("invoices_void_or_deleted", "invoices", "Voided or deleted on one side only",
         "Invoices that are void or deleted on one side and not on the other.",
         "work_id qbo_id number customer work_status qbo_status"),
    _cat("payments_missing_in_qbo", "payments", "Payments missing in QBO",
         "WORK payments that should be in QBO and are not.",
         "work_id qbo_id invoice_id customer date amount_cents reason"),
    _cat("payments_missing_in_work", "payments", "Payments missing in WORK",
         "QBO payments (from the integration date) that WORK does not have, or has deleted.",
         "qbo_id work_id customer_qbo_id customer date amount_cents reason"),
    _cat("payments_amount", "payments", "Payment amount differences",
         "Linked payments whose amount differs.", "work_id qbo_id customer work_cents qbo_cents difference_cents"),
    _cat("payments_date", "payments", "Payment date differences",
         "Linked payments whose date differs.", "work_id qbo_id customer work_date qbo_date difference_days"),
    _cat("payments_applied_to", "payments", "Payments applied to another invoice",
         "Linked payments that QBO applies to other invoices than the WORK payment's invoice.",
         "work_id qbo_id customer work_invoice_id expected_qbo_invoice qbo_invoices qbo_applied_cents"),
    _cat("payments_unapplied", "payments", "Unapplied payment amounts in QBO",
         "QBO payments with money not applied to any invoice (customer credit WORK does not know of).",
         "qbo_id work_id customer_qbo_id customer date amount_cents unapplied_cents"),
    _cat("credit_notes_missing_in_qbo", "credits", "Credit notes missing in QBO",
         "WORK credit notes that should be in QBO as credit memos and are not (or that QBO no longer has).",
         "work_id number customer date total_cents reason"),
    _cat("credit_notes_missing_in_work", "credits", "Credit memos missing in WORK",
         "QBO credit memos (from the integration date) that WORK does not have, or has deleted.",
         "qbo_id work_id doc_number customer date total_cents reason"),
    _cat("credit_notes_amount", "credits", "Credit note amount differences",
         "Paired credit notes whose total or tax differs.",
         "work_id qbo_id number customer field work_cents qbo_cents difference_cents"),
    _cat("credit_applied", "credits", "Credit applied to invoices",
         "Paired invoices where the credit applied from credit notes differs (WORK's credit applications, QBO's "
         "payments linking a credit memo to the invoice).",
         "work_id qbo_id number customer work_cents qbo_cents difference_cents"),
    _cat("credits_unapplied", "credits", "Unapplied credit per customer",
         "Linked customers whose credit not yet applied to an invoice differs (WORK's credit notes less their "
         "applications, QBO's credit memos' Balance).",
         "work_id qbo_id name work_cents qbo_cents difference_cents"),
    _cat("refunds_missing_in_qbo", "refunds", "Refunds missing in QBO",
         "WORK refunds that should be in QBO as refund receipts and are not (or that QBO no longer has).",
         "work_id customer date total_cents reason"),
    _cat("refunds_missing_in_work", "refunds", "Refund receipts missing in WORK",
         "QBO refund receipts (from the integration date) that WORK does not have, or has deleted.",
         "qbo_id work_id doc_number customer date total_cents reason"),
    _cat("refunds_amount", "refunds", "Refund amount differences",
         "Paired refunds whose total or tax differs.",
         "work_id qbo_id customer field work_cents qbo_cents difference_cents"),
    _cat("tax_by_rate", "tax", "Tax per rate differences",
         "Paired invoices, credit notes and refunds whose tax differs at one rate: WORK's lines per tax rate "
         "against QBO's tax lines (TxnTaxDetail.TaxLine), matched by the amount each rate taxes.",
         "document work_id qbo_id number customer work_rate qbo_rate work_percent qbo_percent net_cents "
         "work_cents qbo_cents difference_cents reason"),
    _cat("aging_buckets", "receivables", "A/R aging differences",
         "Aging buckets (days past due as of the report date) whose open amounts differ.",
         "bucket work_count work_cents qbo_count qbo_cents difference_cents"),
    _cat("tieout_customers", "customers", "A/R tie-out to QBO's reports",
         "Customers whose open balance in WORK (open invoices less unapplied credits, with QBO's history from "
         "before the integration date added) is not what QBO's own AgedReceivables or CustomerBalance report "
         "says, or a report that could not be read or used (then nothing can be tied out).",
         "qbo_id work_id name work_ar_cents qbo_outside_cents aged_report_cents difference_cents "
         "balance_report_cents balance_difference_cents reason"),
    _cat("tieout_aging", "receivables", "A/R tie-out: aging buckets",
         "Customers and aging buckets (days past due as of the report date) where QBO's AgedReceivables report "
         "differs from WORK's open items.",
         "qbo_id work_id name bucket work_cents qbo_outside_cents report_cents difference_cents"),
    _cat("changed_in_qbo", "sync", "Changed in QBO after the sync",
         "Linked records that QBO changed after the sync last wrote or saw them.",
         "entity work_id qbo_id synced_at last_updated"),
    _cat("invoices_not_expected", "invoices", "Invoices not expected on the other side",
         "Invoices that rightly exist on one side only: dated before the integration date, drafts, and "
         "invoices voided or deleted in WORK before they were sent.",
         "side work_id qbo_id number customer date total_cents reason", "information"),
    _cat("payments_not_expected", "payments", "Payments not expected on the other side",
         "Payments that rightly exist on one side only: dated before the integration date, on invoices that "
         "do not go to QBO, or deleted in WORK before they were sent.",
         "side work_id qbo_id invoice_id customer date amount_cents reason", "information"),
    _cat("credits_not_expected", "credits", "Credit notes and refunds not expected on the other side",
         "Credit notes and refunds that rightly exist on one side only: dated before the integration date, or "
         "of a kind the settings do not send.",
         "entity side work_id qbo_id number customer date total_cents reason", "information"),
    _cat("pending", "records", "Pending: not yet in agreement",
         "Records the sync has not finished with, so WORK and QuickBooks cannot agree yet: clients held in the "
         "match preview (with their invoices and payments) until someone decides the match, and records whose "
         "sync failed and is still open (fix what the reason says, then retry or dismiss it in the app). "
         "Records never sent are listed with the differences (missing in QBO).",
         "status entity work_id qbo_id number customer date amount_cents reason", "pending"),
)
CATEGORY_NAMES: Final[tuple[str, ...]] = tuple(c.name for c in CATEGORIES)
_BY_NAME: Final[Mapping[str, Category]] = MappingProxyType({c.name: c for c in CATEGORIES})


@dataclass(frozen=True)
class Total:
    """A figure on both sides: a count, or money in cents (``unit="money"``), with QBO − WORK."""

    name: str
    title: str
    unit: Literal["count", "money"]
    work: int
    qbo: int

    @property
    def difference(self) -> int:
        return self.qbo - self.work

    def as_text(self, value: int) -> str:
        return str(cents_to_decimal(value)) if self.unit == "money" else str(value)


def _json_value(value: Any, column: str) -> Any:
    """One cell as JSON: cents as decimal text, dates as ISO text, missing as None."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if column.endswith("_cents"):
        return str(cents_to_decimal(int(value)))
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value.tzinfo is None and value == value.normalize() else value.isoformat()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


@dataclass(frozen=True, repr=False)
class ReconResult:
    """What :func:`~qbo_toolkit.recon.compare.reconcile` found.

    ``frames`` maps each name of :data:`CATEGORY_NAMES` to its frame; ``tables`` holds the full
    side-by-side tables behind some categories (``aging``: every bucket, behind ``aging_buckets``;
    ``open_balances``: every paired customer, behind ``customer_balances``; ``tieout``: every
    customer of the tie-out to QBO's reports, behind ``tieout_customers``, empty when no report was
    read); ``totals`` the figures
    on both sides (records in scope: without the *information* ones). ``counts`` (rows per
    category) is derived from ``frames``. ``settings`` says which settings the comparison used
    (``origin``, ``path``, ``sha256`` and ``description``, a sentence; see
    :class:`qbo_toolkit.settings.SettingsSource`), or is None when the caller did not say.
    ``currency``, ``qbo_app_url`` and ``work_record_urls`` are for presenting it (:mod:`.labels`):
    the home currency QBO keeps money in, and where a row's records open in QuickBooks and in WORK.
    """

    as_of: date
    integration_date: date | None
    tolerance: Decimal
    frames: Mapping[str, pd.DataFrame]
    tables: Mapping[str, pd.DataFrame]
    totals: tuple[Total, ...]
    settings: Mapping[str, Any] | None = None
    #: the company's home currency in QBO (ISO code, "USD"); "" when not read
    currency: str = ""
    #: where the company's QuickBooks shows a record (:func:`qbo_toolkit.auth.environments.qbo_app_url`), or None
    qbo_app_url: str | None = None
    #: the ``work_record_url`` setting: {record kind: URL template with ``{id}``}; empty for no WORK links
    work_record_urls: Mapping[str, str] = field(default_factory=dict)
    #: this run seen against the previous run of its scope (:class:`.history.RunHistory`), once
    #: recorded by :meth:`.history.History.record`; None for a run not kept
    history: Any = field(default=None, compare=False)
    counts: Mapping[str, int] = field(init=False)

    def __post_init__(self) -> None:
        unknown = set(self.frames) - set(CATEGORY_NAMES)
        missing = set(CATEGORY_NAMES) - set(self.frames)
        if unknown or missing:
            raise ValueError(f"categories unknown {sorted(unknown)} / missing {sorted(missing)}")
        object.__setattr__(self, "frames", MappingProxyType(dict(self.frames)))
        object.__setattr__(self, "tables", MappingProxyType(dict(self.tables)))
        if self.settings is not None:
            object.__setattr__(self, "settings", MappingProxyType(dict(self.settings)))
        object.__setattr__(self, "work_record_urls", MappingProxyType(dict(self.work_record_urls)))
        object.__setattr__(self, "counts", MappingProxyType({name: len(self.frames[name]) for name in CATEGORY_NAMES}))

    # -- reading -------------------------------------------------------------------------------
    @staticmethod
    def category(name: str) -> Category:
        """The :class:`Category` called ``name`` (KeyError listing the names otherwise)."""
        try:
            return _BY_NAME[name]
        except KeyError:
            raise KeyError(f"no category {name!r}; categories: {', '.join(CATEGORY_NAMES)}") from None

    def frame(self, name: str) -> pd.DataFrame:
        """A copy of category ``name``'s frame (free under copy-on-write; the result stays unchanged)."""
        self.category(name)
        return self.frames[name].copy()

    def table(self, name: str) -> pd.DataFrame:
        """A copy of the full table ``aging``, ``open_balances`` or ``tieout``."""
        return self.tables[name].copy()

    @property
    def differences(self) -> dict[str, int]:
        """Rows per *difference* category (zeros included), in report order."""
        return {c.name: self.counts[c.name] for c in CATEGORIES if c.kind == "difference"}

    @property
    def information(self) -> dict[str, int]:
        """Rows per *information* category."""
        return {c.name: self.counts[c.name] for c in CATEGORIES if c.kind == "information"}

    @property
    def difference_count(self) -> int:
        return sum(self.differences.values())

    @property
    def pending_count(self) -> int:
        """Records not yet in agreement because the sync has not finished with them (rows of ``pending``)."""
        return sum(self.counts[c.name] for c in CATEGORIES if c.kind == "pending")

    @property
    def pending(self) -> dict[str, dict[str, int]]:
        """Pending records per status and entity: ``{"waiting_match": {"invoice": 14, "payment": 10}}``
        (statuses and entities with none are left out; statuses in :data:`PENDING_STATUSES` order)."""
        frame = self.frames["pending"]
        out: dict[str, dict[str, int]] = {}
        for status in PENDING_STATUSES:
            entities = frame.loc[frame["status"] == status, "entity"].value_counts()
            if len(entities):
                out[status] = {str(k): int(v) for k, v in sorted(entities.items())}
        return out

    @property
    def not_sent(self) -> dict[str, int]:
        """WORK records in the sync's scope that were never sent to QBO and nothing explains (no
        match decision awaited, no open failure), per entity: the rows of ``customers_unlinked``
        (WORK only), ``invoices_missing_in_qbo`` and ``payments_missing_in_qbo`` (never linked).
        They are differences, counted in :attr:`difference_count`; the verdict names them."""
        customers = self.frames["customers_unlinked"]
        payments = self.frames["payments_missing_in_qbo"]
        found = {
            "customer": int(((customers["side"] == "WORK") & customers["qbo_id"].isna()).sum()),
            "invoice": len(self.frames["invoices_missing_in_qbo"]),
            "payment": int(payments["qbo_id"].isna().sum()),
        }
        return {entity: n for entity, n in found.items() if n}

    @property
    def tie_out(self) -> str:
        """Whether WORK's receivables were tied out to QBO's own AgedReceivables and CustomerBalance
        reports, as a sentence: not done (the reports were not read), could not be done (why), or
        done (for how many customers, how many differ)."""
        if not any(t.name == "ar_aged_report" for t in self.totals):
            return "not done: QBO's A/R reports were not read"
        rows = self.frames["tieout_customers"]
        problems = [str(r) for r in rows.loc[rows["qbo_id"].isna(), "reason"]]
        if problems:
            return "could not be done: " + "; ".join(problems)
        customers, differ = len(self.tables["tieout"]), len(rows)
        buckets = self.counts["tieout_aging"]
        if not differ and not buckets:
            return f"done: QBO's AgedReceivables and CustomerBalance agree for all {customers} customers"
        return (f"done: {differ} of {customers} customers differ from QBO's reports, {buckets} aging "
                f"bucket{_s(buckets)}")

    @property
    def settings_description(self) -> str:
        """Which settings were used, as a sentence ("the app's settings /home/.../settings.yaml (sha256
        ab12...)"), or a sentence saying nobody said."""
        if self.settings is None or not self.settings.get("description"):
            return "not stated by the caller (settings given directly to the comparison)"
        return str(self.settings["description"])

    @property
    def verdict(self) -> str:
        """The verdict as one sentence: agree, not yet (records pending), or differences found."""
        if self.in_agreement:
            return "WORK and QuickBooks agree."
        parts: list[str] = []
        if self.pending_count:
            groups = [f"{_counted(entities)} {PENDING_STATUSES[status]}" for status, entities in self.pending.items()]
            parts.append(f"{self.pending_count} record{_s(self.pending_count)} pending ({'; '.join(groups)})")
        if self.difference_count:
            unsent = self.not_sent
            sent = sum(unsent.values())
            among = (f", among them {sent} record{_s(sent)} never sent to QuickBooks ({_counted(unsent)})"
                     if unsent else "")
            parts.append(f"{self.difference_count} difference{_s(self.difference_count)} found{among}")
        if not parts:  # only totals beyond a threshold can do this, and exceeds() without thresholds checks none
            parts.append("differences found")
        head = "Not yet in agreement" if self.pending_count else "Not in agreement"
        return f"{head}: {', and '.join(parts)}."

    def total(self, name: str) -> Total:
        for total in self.totals:
            if total.name == name:
                return total
        raise KeyError(f"no total {name!r}; totals: {', '.join(t.name for t in self.totals)}")

    def with_history(self, history: Any) -> ReconResult:
        """This result with :attr:`history` set (the result itself is unchanged)."""
        return replace(self, history=history)

    # -- verdicts ------------------------------------------------------------------------------
    def exceeds(self, thresholds: Mapping[str, int | Decimal] | None = None) -> dict[str, int | Decimal]:
        """What goes beyond ``thresholds``: ``{name: found}`` (empty when within all of them).

        Keys are difference category names (the number of rows allowed), ``"total"`` (the number
        of difference rows allowed over all categories), ``"pending"`` (the number of pending
        records allowed: waiting for a match decision or whose sync failed; none unless named,
        ``"total"`` or not) or total names (the absolute QBO − WORK difference allowed, a count or
        an amount such as ``Decimal("5.00")``; totals not named are not checked). A category not
        named allows no row, unless ``"total"`` is given: then only the categories named are
        limited one by one. Money found is a Decimal. Unknown names raise KeyError, so a typo
        cannot pass silently.
        """
        thresholds = dict(thresholds or {})
        totals = {t.name: t for t in self.totals}
        for key in thresholds:
            if key != "total" and key not in totals and (key not in _BY_NAME or _BY_NAME[key].kind == "information"):
                known = [*self.differences, "total", "pending", *totals]
                raise KeyError(f"no difference category or total {key!r}; known: {', '.join(known)}")
        found: dict[str, int | Decimal] = {}
        if self.pending_count > int(thresholds.get("pending", 0)):
            found["pending"] = self.pending_count
        overall = "total" in thresholds
        if overall and self.difference_count > int(thresholds["total"]):
            found["total"] = self.difference_count
        for name, count in self.differences.items():
            if name in thresholds or not overall:
                if count > int(thresholds.get(name, 0)):
                    found[name] = count
        for name, total in totals.items():
            if name not in thresholds:
                continue
            if total.unit == "money":
                amount = abs(cents_to_decimal(total.difference))
                if amount > Decimal(str(thresholds[name])):
                    found[name] = amount
            elif abs(total.difference) > int(thresholds[name]):
                found[name] = abs(total.difference)
        return found

    @property
    def in_agreement(self) -> bool:
        """True when no difference category has a row (money already compared with ``tolerance``)
        and nothing is pending (no record waits for a match decision or has an open sync failure)."""
        return not self.exceeds()

    # -- display ---------------------------------------------------------------------------------
    def __repr__(self) -> str:
        """The verdict and the figures, for a terminal, a log or a papermill output (no frames)."""
        head = f"Reconciliation as of {self.as_of.isoformat()}: {self.verdict}"
        lines = [head, f"  Settings: {self.settings_description}", f"  Tie-out to QBO's reports: {self.tie_out}"]
        lines += [f"  Pending, {PENDING_STATUSES[s]}: {_counted(e)}" for s, e in self.pending.items()]
        lines += [f"  {self.category(n).title}: {c}" for n, c in self.differences.items() if c]
        lines += [f"  ({self.category(n).title}: {c})" for n, c in self.information.items() if c]
        lines += [f"  {t.title}: WORK {t.as_text(t.work)}, QBO {t.as_text(t.qbo)}" for t in self.totals]
        if self.history is not None:
            lines.append(f"  History: {self.history.sentence}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """In Jupyter: the whole report (summary tiles, sections, charts)."""
        from .render import to_html

        return to_html(self)

    # -- export ----------------------------------------------------------------------------------
    def to_dict(self, *, records: bool = True) -> dict[str, Any]:
        """A JSON-serialisable dict: verdict, counts, totals and tables, and (with ``records``) every
        category's rows. Money is decimal text (``"12.30"``) under the column name without ``_cents``,
        dates ISO text, missing values None."""
        data: dict[str, Any] = {
            "as_of": self.as_of.isoformat(),
            "integration_date": self.integration_date.isoformat() if self.integration_date else None,
            "tolerance": str(self.tolerance),
            "currency": self.currency or None,
            "in_agreement": self.in_agreement,
            "verdict": self.verdict,
            "settings": ({**self.settings, "description": self.settings_description} if self.settings is not None
                         else None),
            "difference_count": self.difference_count,
            "differences": self.differences,
            "pending_count": self.pending_count,
            "pending": self.pending,
            "not_sent": self.not_sent,
            "tie_out": self.tie_out,
            "information": self.information,
            "totals": {
                t.name: {"title": t.title, "unit": t.unit, "work": t.as_text(t.work), "qbo": t.as_text(t.qbo),
                         "difference": t.as_text(t.difference)}
                for t in self.totals
            },
            "tables": {name: _records(frame) for name, frame in self.tables.items()},
        }
        if self.history is not None:
            data["history"] = self.history.to_dict(records=records)
        if records:
            data["categories"] = {name: _records(self.frames[name]) for name in CATEGORY_NAMES}
        return data


def _s(count: int) -> str:
    return "" if count == 1 else "s"


_PLURALS: Final = {"customer": "customers", "invoice": "invoices", "payment": "payments",
                   "credit_note": "credit notes", "refund": "refunds", "credit_applied": "credit applications"}
_SINGULARS: Final = {"credit_note": "credit note", "credit_applied": "credit application"}


def _counted(entities: Mapping[str, int]) -> str:
    """``{"invoice": 14, "payment": 10}`` as "14 invoices, 10 payments"."""
    return ", ".join(f"{n} {_SINGULARS.get(entity, entity) if n == 1 else _PLURALS.get(entity, entity + 's')}"
                     for entity, n in entities.items())


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts; a money column loses its ``_cents`` suffix, as its value is now an amount."""
    columns = list(frame.columns)
    keys = [column.removesuffix("_cents") for column in columns]
    return [
        {key: _json_value(value, column) for key, column, value in zip(keys, columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]
