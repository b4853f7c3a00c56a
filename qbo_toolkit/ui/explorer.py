"""Explore a reconciliation's differences in JupyterLab: filter, open a record, send it back to the sync.

::

    from qbo_toolkit.ui.explorer import Explorer, show_explorer
    explorer = show_explorer()   # reconciles the live systems, with the app's settings
    explorer.filter(category="invoices_total", customer="alpha", min_amount=Decimal("0.01"))
    explorer.record("invoices_total:0")          # field / WORK / QBO / differs
    explorer.send_to_retry("invoices_total:0")   # the next sync run sends WORK invoice 2 again
    explorer.filter(status="new")                # new | persisting | resolved | needs_explanation
    explorer.explain("invoices_total:0", "ana@example.com", "credit agreed by phone")
    explorer.sign_off("preparer", "ana@example.com", "tied out")   # as qbo-toolkit signoff does

Every run :func:`show_explorer` makes is kept in the reconciliation history
(:mod:`qbo_toolkit.recon.history`; ``record=False`` for an ad-hoc look), so its rows carry their
stable key, whether they are new or persisting, since when, and their explanation; the sign-off
of the run's period (:mod:`qbo_toolkit.recon.signoff`) is shown under the buttons, reopened
included, with what changed.

:class:`Explorer` is a controller with plain methods (tests and scripts call them) over one table
built once from the :class:`~qbo_toolkit.recon.result.ReconResult`: a row per difference, every
*difference* category together, with the category, entity, WORK and QBO ids, number or name,
customer, date, amount and difference (QBO − WORK) as ``Decimal``. Filters are vectorised masks
over that table; money is compared in whole cents. Its ``widget`` is a thin layer whose callbacks
are one line into the controller, wrapped in :class:`~.common.Guard` so errors become sentences.

Rows are named by a *row key*, ``"<category>:<position>"`` (position in the category's frame).

What the result does not say cannot be shown: every invoice and payment category carries its
record's ``customer``, and customer rows are named from their own ``name`` column or their ids
(resolved through the open-balances table); a row without either (an aging bucket, an invoice or
payment in ``changed_in_qbo``) has no customer and is left out by a customer filter.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import ipywidgets as widgets
import numpy as np
import pandas as pd

from ..errors import QboToolkitError
from ..recon.history import History, period_of, row_keys
from ..recon.labels import column_title, format_money
from ..recon.money import cents_to_decimal, to_cents
from ..recon.result import CATEGORIES, ReconResult
from .common import Guard, Messages, button, close_tree, css, html_table

__all__ = ["COLUMNS", "Explorer", "RecordNotFound", "RetryRefused", "show_explorer"]

RetryFn = Callable[[str, int], Any]

#: Columns of :meth:`Explorer.filter`, in order (``key`` is also the index).
COLUMNS: Final[tuple[str, ...]] = ("key", "category", "title", "entity", "work_id", "qbo_id", "number", "customer",
                                   "date", "amount", "difference")
#: The entity a category's rows are about, as the sync names it (``changed_in_qbo`` has its own column).
_ENTITY: Final[Mapping[str, str]] = {"customers": "customer", "invoices": "invoice", "payments": "payment",
                                     "receivables": "aging bucket", "credits": "credit note", "refunds": "refund",
                                     "tax": "tax rate"}
_RETRYABLE: Final = frozenset({"customer", "invoice", "payment"})
#: Columns that name a record, first found wins.
_NUMBER_COLUMNS: Final = ("number", "doc_number", "work_number", "name", "label", "bucket")
#: Columns holding a record's own amount, first found wins.
_AMOUNT_COLUMNS: Final = ("total_cents", "amount_cents", "work_cents", "work_open_cents", "qbo_applied_cents",
                           "work_ar_cents")
#: Columns holding a date, first found wins (tz-aware ones are taken in UTC).
_DATE_COLUMNS: Final = ("date", "work_date", "qbo_date", "last_updated")
#: Pairs of columns shown side by side although their names differ: (WORK, QBO, field).
_PAIRS: Final = (
    ("work_open_cents", "qbo_balance_cents", "open balance"),
    ("work_outside_cents", "qbo_outside_cents", "not expected on the other side"),
    ("expected_qbo_customer", "qbo_customer", "QBO customer id"),
    ("expected_qbo_invoice", "qbo_invoices", "QBO invoice ids"),
    ("synced_at", "last_updated", "last written (sync) / last updated (QBO)"),
)
#: Columns describing the finding rather than one side (shown above the field table).
_CONTEXT: Final = frozenset({"side", "match", "reason", "difference_cents", "difference_days", "entity", "field",
                             "work", "qbo", "work_id", "qbo_id"})
#: What ``work_cents`` / ``qbo_cents`` hold, by category (else "amount").
_CENTS_FIELD: Final[Mapping[str, str]] = {"invoices_total": "total", "invoices_tax": "tax",
                                          "invoices_balance": "balance", "aging_buckets": "open amount"}
_ALL: Final = "__all__"
#: Columns :meth:`Explorer.filter` adds when the result was kept in the history (recon/history.py).
HISTORY_COLUMNS: Final[tuple[str, ...]] = ("history_key", "status", "first_seen", "age_days", "material",
                                           "needs_explanation", "note", "note_by")
#: The history filter's choices: status -> label.
HISTORY_STATUSES: Final[Mapping[str, str]] = {"new": "New since the previous run", "persisting": "Persisting",
                                              "resolved": "Resolved since the previous run",
                                              "needs_explanation": "Needs an explanation"}
_MAX_ROWS: Final = 200


class RecordNotFound(QboToolkitError, LookupError):
    """No row with that key in this reconciliation."""


class RetryRefused(QboToolkitError):
    """The row cannot go back to the sync (no WORK record behind it); the message says why."""


# --------------------------------------------------------------------------------------------
# Building the combined table (once)
# --------------------------------------------------------------------------------------------


def _first(frame: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    return next((name for name in names if name in frame.columns), None)


def _ids(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame.columns:
        return pd.Series(pd.NA, index=frame.index, dtype="Int64")
    return frame[name].astype("Int64")


def _dates(series: pd.Series) -> pd.Series:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    return series.astype("datetime64[ns]")


def _customer_names(result: ReconResult) -> tuple[pd.Series, pd.Series]:
    """Customer names by WORK id and by QBO id, from the open-balances table and the category frames."""
    parts = [result.table("open_balances")[["work_id", "qbo_id", "name"]]]
    for name in ("customers_unlinked", "customers_inactive_one_side"):
        parts.append(result.frame(name)[["work_id", "qbo_id", "name"]])
    names = pd.concat(parts, ignore_index=True).astype({"work_id": "Int64", "qbo_id": "Int64", "name": "string"})
    by_work = names.dropna(subset=["work_id"]).drop_duplicates("work_id").set_index("work_id")["name"]
    by_qbo = names.dropna(subset=["qbo_id"]).drop_duplicates("qbo_id").set_index("qbo_id")["name"]
    return by_work, by_qbo


def _signed_missing(frame: pd.DataFrame, name: str, amount: pd.Series) -> pd.Series:
    """The difference (QBO − WORK) of a record on one side only: minus its amount when only WORK has it."""
    if name.endswith("_missing_in_qbo"):
        return -amount
    if name.endswith("_missing_in_work"):
        return amount
    if name == "payments_unapplied":
        return frame["unapplied_cents"].astype("Int64")
    return pd.Series(pd.NA, index=frame.index, dtype="Int64")


def _category_rows(result: ReconResult, name: str, by_work: pd.Series, by_qbo: pd.Series) -> pd.DataFrame:
    category = result.category(name)
    frame = result.frame(name).reset_index(drop=True)
    index = frame.index
    out = pd.DataFrame(index=index)
    out["key"] = name + ":" + pd.Series(index.astype(str), index=index)
    out["category"] = name
    out["title"] = category.title
    out["entity"] = frame["entity"].astype("string") if "entity" in frame.columns else _ENTITY.get(
        category.entity, category.entity)
    out["work_id"] = _ids(frame, "work_id")
    out["qbo_id"] = _ids(frame, "qbo_id")
    number = _first(frame, _NUMBER_COLUMNS)
    out["number"] = frame[number].astype("string") if number else pd.Series(pd.NA, index=index, dtype="string")
    customer = pd.Series(pd.NA, index=index, dtype="string")
    if category.entity == "customers" and "name" in frame.columns:
        customer = frame["name"].astype("string")
    if category.entity == "customers":
        customer = customer.fillna(out["work_id"].map(by_work)).fillna(out["qbo_id"].map(by_qbo))
    if "customer" in frame.columns:  # every invoice and payment category names its customer
        customer = frame["customer"].astype("string").replace("", pd.NA)
    out["customer"] = customer.astype("string")
    when = _first(frame, _DATE_COLUMNS)
    out["date"] = _dates(frame[when]) if when else pd.Series(pd.NaT, index=index, dtype="datetime64[ns]")
    amount = _first(frame, _AMOUNT_COLUMNS)
    out["amount_cents"] = frame[amount].astype("Int64") if amount else pd.Series(pd.NA, index=index, dtype="Int64")
    if "difference_cents" in frame.columns:
        out["difference_cents"] = frame["difference_cents"].astype("Int64")
    else:
        out["difference_cents"] = _signed_missing(frame, name, out["amount_cents"])
    return out


def _decimals(cents: pd.Series) -> pd.Series:
    """``Int64`` cents as ``Decimal`` amounts (``None`` where missing), once per table."""
    values = [None if pd.isna(v) else cents_to_decimal(int(v)) for v in cents.to_numpy(dtype=object)]
    return pd.Series(values, index=cents.index, dtype=object)


def differences_table(result: ReconResult) -> pd.DataFrame:
    """Every difference of ``result`` in one frame (columns :data:`COLUMNS` plus ``amount_cents`` and
    ``difference_cents``), indexed by row key."""
    by_work, by_qbo = _customer_names(result)
    parts = [_category_rows(result, c.name, by_work, by_qbo) for c in CATEGORIES if c.kind == "difference"]
    table = pd.concat(parts, ignore_index=True)
    customers = table["entity"] == "customer"
    table.loc[customers, "number"] = table.loc[customers, "number"].fillna(table.loc[customers, "customer"])
    table["amount"] = _decimals(table["amount_cents"])
    table["difference"] = _decimals(table["difference_cents"])
    table = table.astype({"entity": "string", "category": "string", "title": "string", "customer": "string"})
    return table.set_index("key", drop=False)


def _with_history(table: pd.DataFrame, result: ReconResult) -> pd.DataFrame:
    """``table`` with each row's history (:data:`HISTORY_COLUMNS`): its stable key, new or
    persisting, first seen, age, materiality and explanation, from ``result.history``."""
    table = table.copy()
    table["history_key"] = row_keys(result).reindex(table.index)
    items = result.history.items.set_index("key")
    for column in ("status", "first_seen", "age_days", "material", "note", "note_by"):
        table[column] = table["history_key"].map(items[column])
    table["needs_explanation"] = table["material"].fillna(False).astype(bool) & table["note"].isna()
    return table


# --------------------------------------------------------------------------------------------
# The controller
# --------------------------------------------------------------------------------------------


def _as_timestamp(day: date | str | None) -> pd.Timestamp | None:
    if day is None or day == "":
        return None
    return pd.Timestamp(day).normalize()


def _plain(value: Any, column: str) -> Any:
    """One cell for the record view: money as Decimal, dates as ``date``, missing as None."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if column.endswith("_cents"):
        return cents_to_decimal(int(value))
    if isinstance(value, pd.Timestamp):
        return value.date() if value.tzinfo is None else value.tz_convert("UTC").isoformat()
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _field_name(column: str) -> str:
    """``work_cents`` -> ``amount``, ``qbo_balance_cents`` -> ``balance``, ``work_date`` -> ``date``."""
    name = column.removeprefix("work_").removeprefix("qbo_")
    name = "amount" if name in ("cents", "") else name.removesuffix("_cents")
    return name.replace("_", " ")


class Explorer:
    """Filter a reconciliation's differences, see one record on both sides, send it back to the sync.

    ``retry(entity, work_id)`` queues a WORK record for the next sync run; it defaults to
    :func:`qbo_toolkit.sync.api.retry` with the default WORK store and the stored connection.
    """

    def __init__(self, result: ReconResult, *, retry: RetryFn | None = None, history: History | None = None) -> None:
        self.result = result
        self._retry = retry
        #: the history's tables (recon/history.py): sign-off and explanations; None when not recorded
        self.history = history
        self.table = differences_table(result)
        self._columns = list(COLUMNS)
        if result.history is not None:
            self.table = _with_history(self.table, result)
            self._columns += list(HISTORY_COLUMNS)
        self._widget: ExplorerWidget | None = None

    # -- reading -----------------------------------------------------------------------------------
    def filter(self, category: str | None = None, customer: str | None = None, date_from: date | str | None = None,
               date_to: date | str | None = None, min_amount: Decimal | int | str | None = None,
               status: str | None = None) -> pd.DataFrame:
        """The differences that pass every filter given (columns :data:`COLUMNS`, indexed by row key).

        ``customer`` is a case-insensitive substring of the customer's name; ``date_from`` /
        ``date_to`` include both ends (rows without a date are left out once either is given);
        ``min_amount`` keeps rows whose difference (or, without one, amount) is at least that much
        either way. ``status`` (a result kept in the history) is ``new``, ``persisting``,
        ``needs_explanation`` or ``resolved`` (then the rows of the previous run that are gone, from the
        history, with the category filter only). An unknown category raises KeyError."""
        if status:
            self._need_history()
            if status not in HISTORY_STATUSES:
                raise KeyError(f"no history status {status!r}; statuses: {', '.join(HISTORY_STATUSES)}")
            if status == "resolved":
                return self._resolved(category)
        table = self.table
        mask = pd.Series(True, index=table.index)
        if category:
            self.result.category(category)
            mask &= table["category"] == category
        if customer and customer.strip():
            found = table["customer"].str.contains(customer.strip(), case=False, regex=False)
            mask &= found.fillna(False).astype(bool)
        start, end = _as_timestamp(date_from), _as_timestamp(date_to)
        if start is not None:
            mask &= (table["date"] >= start).fillna(False)
        if end is not None:
            mask &= (table["date"] < end + pd.Timedelta(days=1)).fillna(False)
        if min_amount is not None and min_amount != "":
            floor = abs(to_cents(min_amount))
            stake = table["difference_cents"].fillna(table["amount_cents"]).abs()
            mask &= (stake >= floor).fillna(False).astype(bool)
        if status == "needs_explanation":
            mask &= table["needs_explanation"].astype(bool)
        elif status:
            mask &= table["status"] == status
        return table.loc[mask.to_numpy(), self._columns]

    # -- history, explanations and sign-off ------------------------------------------------------------
    def _need_history(self) -> Any:
        if self.result.history is None:
            raise QboToolkitError("this reconciliation was not kept in the history, so nothing is new, persisting or "
                                  "resolved and nothing can be explained or signed off: reconcile with the history "
                                  "on (show_explorer() keeps every run)")
        return self.result.history

    def _resolved(self, category: str | None) -> pd.DataFrame:
        gone = self._need_history().resolved
        if category:
            self.result.category(category)
            gone = gone[gone["category"] == category]
        out = pd.DataFrame({
            "key": gone["key"], "category": gone["category"], "title": gone["title"],
            "entity": gone["category"].map(lambda c: _ENTITY.get(self.result.category(c).entity, "")),
            "work_id": gone["work_id"].astype("Int64"), "qbo_id": pd.to_numeric(gone["qbo_id"], errors="coerce")
            .astype("Int64"), "number": gone["label"].astype("string"), "customer": pd.Series(pd.NA, index=gone.index,
                                                                                              dtype="string"),
            "date": pd.to_datetime(gone["day"]), "amount": _decimals(gone["amount_cents"].astype("Int64")),
            "difference": None, "history_key": gone["key"], "status": "resolved", "first_seen": gone["first_seen"],
            "age_days": gone["age_days"], "material": False, "needs_explanation": False, "note": None,
            "note_by": None})
        return out.set_index("key", drop=False)[self._columns]

    def _history_store(self) -> History:
        if self.history is None:
            raise QboToolkitError("the explorer was given a result without its WORK store, so it cannot write an "
                                  "explanation or a sign-off: open it with show_explorer()")
        return self.history

    def explain(self, row_key: str, who: str, text: str) -> str:
        """Attach an explanation (who, text) to the difference behind ``row_key``; it stays with the
        difference for as long as it persists. Returns what to tell the user."""
        history = self._need_history()
        key = str(self.row(row_key)["history_key"])
        self._history_store().explain(key, who, text, run_id=history.run_id)
        self.table.loc[row_key, ["note", "note_by", "needs_explanation"]] = [text.strip(), who.strip(), False]
        return f"Explanation kept with {key} while the difference persists."

    def sign_off(self, role: str, who: str, note: str = "", period: str | None = None) -> str:
        """Sign off the period of this run (its as-of's month, or ``period``) as ``role``: the same
        call as ``qbo-toolkit signoff``. Returns the sign-off's state as a sentence."""
        from ..recon.signoff import SignOff

        self._need_history()
        status = SignOff(self._history_store()).sign(period or period_of(self.result.as_of), role, who, note)
        return status.sentence

    def signoff_status(self, period: str | None = None) -> str:
        """Where the period's sign-off stands (reopened, and what changed, when something in it did)."""
        from ..recon.signoff import SignOff

        if self.history is None:
            return ""
        status = SignOff(self.history).status(period or period_of(self.result.as_of))
        return status.sentence + "".join(f"\n- {c}" for c in status.changes)

    def row(self, row_key: str) -> pd.Series:
        """The combined table's row ``row_key`` (RecordNotFound otherwise)."""
        if row_key not in self.table.index:
            raise RecordNotFound(f"there is no difference {row_key!r} in this reconciliation")
        return self.table.loc[row_key]

    def record(self, row_key: str) -> pd.DataFrame:
        """The record behind ``row_key``, field by field: ``field``, ``WORK``, ``QBO`` and ``differs``.

        Values come from the category frame's WORK and QBO columns (money as Decimal, dates as
        ``date``); a record on one side only has its values on that side. The ids come first
        (``differs`` when one side has none)."""
        self.row(row_key)
        name, position = row_key.rsplit(":", 1)
        frame = self.result.frame(name)
        values = {column: _plain(value, column) for column, value in frame.iloc[int(position)].items()}
        rows: list[tuple[str, Any, Any, bool]] = []
        used: set[str] = {"work_id", "qbo_id"}

        def add(field: str, work: Any, qbo: Any, *, differs: bool | None = None) -> None:
            rows.append((field, work, qbo, (work != qbo) if differs is None else differs))

        if "work_id" in values or "qbo_id" in values:
            work_id, qbo_id = values.get("work_id"), values.get("qbo_id")
            add("id", work_id, qbo_id, differs=(work_id is None) != (qbo_id is None))
        if {"field", "work", "qbo"} <= values.keys():
            add(str(values["field"]), values["work"], values["qbo"])
        for work_col, qbo_col, field in _PAIRS:
            if work_col in values and qbo_col in values:
                add(field, values[work_col], values[qbo_col])
                used |= {work_col, qbo_col}
        for column in values:
            if column.startswith("work_") and column not in used and f"qbo_{column[5:]}" in values:
                field = _CENTS_FIELD.get(name, "amount") if column == "work_cents" else _field_name(column)
                add(field, values[column], values[f"qbo_{column[5:]}"])
                used |= {column, f"qbo_{column[5:]}"}
        side = self._side(name, values.get("side"))
        for column, value in values.items():
            if column in used or column in _CONTEXT:
                continue
            if column.startswith("work_") or (side == "WORK" and not column.startswith("qbo_")):
                add(_field_name(column), value, None, differs=False)
            elif column.startswith("qbo_") or side == "QBO":
                add(_field_name(column), None, value, differs=False)
            # columns shared by both sides (a number, a name, a bucket) are in :meth:`summary`
        fields, work, qbo, differs = zip(*rows, strict=True) if rows else ((), (), (), ())
        return pd.DataFrame({"field": pd.Series(fields, dtype=object), "WORK": pd.Series(work, dtype=object),
                             "QBO": pd.Series(qbo, dtype=object), "differs": pd.Series(differs, dtype=bool)})

    @staticmethod
    def _side(name: str, side: Any) -> str:
        """Which side a category's unprefixed columns describe: WORK, QBO or both."""
        if name.endswith("_missing_in_qbo"):
            return "WORK"
        if name.endswith("_missing_in_work") or name == "payments_unapplied":
            return "QBO"
        return str(side) if side in ("WORK", "QBO") else "both"

    def summary(self, row_key: str) -> str:
        """One line about the finding: category, record, customer, match, reason, difference."""
        row = self.row(row_key)
        frame = self.result.frame(str(row["category"]))
        extra = frame.iloc[int(row_key.rsplit(":", 1)[1])]
        parts = [str(row["title"])]
        if not pd.isna(row["number"]):
            parts.append(f"{row['entity']} {row['number']}")
        if not pd.isna(row["customer"]) and (pd.isna(row["number"]) or row["customer"] != row["number"]):
            parts.append(f"customer {row['customer']}")
        for column in ("match", "reason"):
            if column in extra.index and not pd.isna(extra[column]):
                parts.append(f"{column}: {extra[column]}")
        if row["difference"] is not None:
            parts.append(f"difference (QBO − WORK) {row['difference']}")
        if "difference_days" in extra.index and not pd.isna(extra["difference_days"]):
            parts.append(f"difference {int(extra['difference_days'])} day(s)")
        if "status" in row.index and isinstance(row["status"], str):
            parts.append("new since the previous run" if row["status"] == "new" else
                         f"persisting for {int(row['age_days'])} days (first seen {row['first_seen']})")
            if isinstance(row["note"], str) and row["note"]:
                parts.append(f"explained by {row['note_by']}: {row['note']}")
            elif row["needs_explanation"]:
                parts.append("needs an explanation")
        return " · ".join(parts)

    # -- acting ------------------------------------------------------------------------------------
    def send_to_retry(self, row_key: str) -> str:
        """Queue the WORK record behind ``row_key`` for the next sync run; returns what to tell the user.

        Raises :class:`RetryRefused` (a sentence) for rows without a WORK record: on QBO's side only,
        or not a single record (an aging bucket)."""
        row = self.row(row_key)
        entity = str(row["entity"])
        label = f"{entity} {row['number']}" if not pd.isna(row["number"]) else entity
        if entity not in _RETRYABLE:
            raise RetryRefused(f"“{row['title']}” is about an {entity}, not one WORK record, so there is nothing to "
                               "send back to the sync. Open the records behind it instead.")
        if pd.isna(row["work_id"]):
            raise RetryRefused(f"The {label} has no WORK id (it is in QuickBooks only), so there is nothing to send "
                               "back to the sync. Fix it in QuickBooks, or create it in WORK first.")
        work_id = int(row["work_id"])
        retry = self._retry
        if retry is None:
            from ..sync.api import retry as sync_retry

            retry = sync_retry
        retry(entity, work_id)
        return f"The {label} (WORK id {work_id}) goes back to the sync: the next run sends it to QuickBooks again."

    # -- the widget ----------------------------------------------------------------------------------
    @property
    def widget(self) -> widgets.VBox:
        """The explorer as one widget (built on first use)."""
        if self._widget is None:
            self._widget = ExplorerWidget(self)
        return self._widget.widget

    @property
    def view(self) -> ExplorerWidget:
        """The widget layer (its controls), built on first use."""
        self.widget  # noqa: B018 - builds it
        assert self._widget is not None
        return self._widget

    def close(self) -> None:
        if self._widget is not None:
            close_tree(self._widget.widget)
            self._widget = None


# --------------------------------------------------------------------------------------------
# The widget layer: every callback is one line into the controller
# --------------------------------------------------------------------------------------------


def _money_cell(amount: Any) -> str:
    """An amount (Decimal) as the report writes it: ``"1,234.50"``, negative ``"(12.00)"``; "" when missing."""
    return "" if amount is None or pd.isna(amount) else format_money(to_cents(amount))


def _parse_amount(text: str) -> Decimal | None:
    text = text.strip().replace(",", "")
    if not text:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise QboToolkitError(f"“{text}” is not an amount: type one like 10.00") from None
    if not amount.is_finite():
        raise QboToolkitError(f"“{text}” is not an amount: type one like 10.00")
    return amount


class ExplorerWidget:
    """Filters, the results table, the record selector, the field-by-field view and the retry button."""

    def __init__(self, explorer: Explorer, *, max_rows: int = _MAX_ROWS) -> None:
        self.explorer = explorer
        self.max_rows = max_rows
        self.messages = Messages()
        self.guard = Guard(self.messages)
        counts = explorer.result.differences
        options: list[tuple[str, str]] = [(f"All differences ({len(explorer.table)})", _ALL)]
        options += [(f"{c.title} ({counts[c.name]})", c.name) for c in CATEGORIES
                    if c.kind == "difference" and counts[c.name]]
        self.category = css(widgets.Dropdown(options=options, value=_ALL, description="Category"),
                            "qbo-explorer-category")
        self.customer = css(widgets.Text(placeholder="part of a name", description="Customer"),
                            "qbo-explorer-customer")
        self.date_from = css(widgets.DatePicker(description="From"), "qbo-explorer-from")
        self.date_to = css(widgets.DatePicker(description="To"), "qbo-explorer-to")
        self.min_amount = css(widgets.Text(placeholder="0.00", description="At least"), "qbo-explorer-min-amount")
        kept_history = explorer.result.history
        materiality = (f"<br><b>Needs an explanation:</b> {html.escape(kept_history.materiality_text)}."
                       if kept_history is not None else "")
        self.settings_used = css(widgets.HTML(
            "<p style='color:#555'><b>Settings used:</b> "
            f"{html.escape(explorer.result.settings_description)}.{materiality}</p>"), "qbo-explorer-settings")
        self.count = css(widgets.HTML(), "qbo-explorer-count")
        self.results = css(widgets.HTML(), "qbo-explorer-results")
        self.selector = css(widgets.Dropdown(options=[], description="Record"), "qbo-explorer-record-selector")
        self.summary = css(widgets.HTML(), "qbo-explorer-summary")
        self.record = css(widgets.HTML(), "qbo-explorer-record")
        self.retry = button("Send back to the sync", "qbo-explorer-retry", icon="refresh")
        kept = explorer.result.history is not None
        self.status = css(widgets.Dropdown(options=[("Any", _ALL), *((v, k) for k, v in HISTORY_STATUSES.items())],
                                           value=_ALL, description="History", disabled=not kept),
                          "qbo-explorer-status")
        self.who = css(widgets.Text(placeholder="name or e-mail", description="Who"), "qbo-explorer-who")
        self.note = css(widgets.Text(placeholder="explanation or sign-off note", description="Note"),
                        "qbo-explorer-note")
        self.explain = button("Explain this difference", "qbo-explorer-explain", icon="comment")
        self.role = css(widgets.Dropdown(options=[("Preparer", "preparer"), ("Reviewer", "reviewer")],
                                         value="preparer", description="Role"), "qbo-explorer-role")
        self.sign = button(f"Sign off {period_of(explorer.result.as_of)}", "qbo-explorer-signoff", icon="check")
        self.signoff_state = css(widgets.HTML(), "qbo-explorer-signoff-state")
        for control in (self.explain, self.sign):
            control.disabled = not kept or explorer.history is None
        self.status.observe(self.guard.callback(self.refresh), names="value")
        self.explain.on_click(self.guard.callback(self.explain_selected))
        self.sign.on_click(self.guard.callback(self.sign_off))
        self.rows = explorer.table.iloc[:0]
        for control in (self.category, self.customer, self.date_from, self.date_to, self.min_amount):
            control.observe(self.guard.callback(self.refresh), names="value")
        self.selector.observe(self.guard.callback(self.show_record), names="value")
        self.retry.on_click(self.guard.callback(self.send_to_retry))
        filters = widgets.VBox([widgets.HBox([self.category, self.customer]),
                                widgets.HBox([self.date_from, self.date_to, self.min_amount])])
        self.widget = css(widgets.VBox([self.settings_used, filters, self.count, self.results, self.selector,
                                        self.summary, self.record,
                                        self.retry,
                                        widgets.HBox([self.status]), widgets.HBox([self.who, self.note]),
                                        widgets.HBox([self.explain, self.role, self.sign]), self.signoff_state,
                                        self.messages.widget]), "qbo-explorer")
        self.guard(self.show_signoff)
        self.guard(self.refresh)

    def filters(self) -> dict[str, Any]:
        """The controls' values as :meth:`Explorer.filter` arguments."""
        return {"category": None if self.category.value == _ALL else self.category.value,
                "customer": self.customer.value or None, "date_from": self.date_from.value,
                "date_to": self.date_to.value, "min_amount": _parse_amount(self.min_amount.value),
                **({"status": self.status.value} if self.status.value != _ALL else {})}

    def refresh(self) -> None:
        """Filter again; redraw the table and the record selector (keeping the record if it still shows)."""
        self.rows = self.explorer.filter(**self.filters())
        shown = self.rows.head(self.max_rows)
        hidden = len(self.rows) - len(shown)
        self.count.value = html.escape(f"{len(self.rows)} difference(s)"
                                       + (f"; the first {len(shown)} shown: narrow the filters" if hidden else ""))
        dates = shown["date"].dt.strftime("%Y-%m-%d").fillna("")
        currency = self.explorer.result.currency
        table = zip(shown["title"], shown["entity"], shown["work_id"], shown["qbo_id"], shown["number"],
                    shown["customer"], dates, shown["amount"].map(_money_cell),
                    shown["difference"].map(_money_cell), strict=True)
        self.results.value = html_table(  # the report's headers and money format (recon.labels)
            ["Category", column_title("entity"), column_title("work_id"), column_title("qbo_id"), "Number / name",
             column_title("customer"), column_title("date"), column_title("amount_cents", currency),
             column_title("difference_cents", currency)],
            ([("" if pd.isna(v) else v) for v in row] for row in table),
            css_class="qbo-explorer-table", empty="No difference passes these filters.")
        labels = (shown["title"] + " · " + shown["number"].fillna(shown["customer"]).fillna(shown["entity"])
                  + shown["difference"].map(lambda v: "" if v is None else f" · {v}").astype("string"))
        previous = self.selector.value
        self.selector.options = list(zip(labels, shown["key"], strict=True))
        keys = list(shown["key"])
        self.selector.value = previous if previous in keys else (keys[0] if keys else None)
        self.show_record()

    def show_record(self) -> None:
        key = self.selector.value
        self.retry.disabled = key is None
        if key is None:
            self.summary.value = ""
            self.record.value = ""
            return
        self.summary.value = f"<b>{html.escape(self.explorer.summary(key))}</b>"
        record = self.explorer.record(key)
        self.record.value = html_table(
            ["Field", "WORK", "QBO", ""],
            ((f, "" if w is None else w, "" if q is None else q, "≠ differs" if d else "")
             for f, w, q, d in record.itertuples(index=False, name=None)),
            css_class="qbo-explorer-fields")

    def explain_selected(self) -> None:
        if self.selector.value is None:
            raise QboToolkitError("choose a record first")
        self.messages.info(self.explorer.explain(self.selector.value, self.who.value, self.note.value))
        self.show_record()

    def sign_off(self) -> None:
        self.messages.info(self.explorer.sign_off(self.role.value, self.who.value, self.note.value))
        self.show_signoff()

    def show_signoff(self) -> None:
        text = self.explorer.signoff_status()
        self.signoff_state.value = f"<p><b>Sign-off:</b> {html.escape(text).replace(chr(10), '<br>')}</p>" if text \
            else ""

    def send_to_retry(self) -> None:
        if self.selector.value is None:
            raise QboToolkitError("choose a record first")
        self.messages.info(self.explorer.send_to_retry(self.selector.value))


# --------------------------------------------------------------------------------------------
# In a notebook
# --------------------------------------------------------------------------------------------


def show_explorer(result: ReconResult | None = None, *, settings: Any = None, work_db: str | None = None,
                  as_of: date | str | None = None, realm: str | None = None, retry: RetryFn | None = None,
                  display: bool = True, record: bool = True, fresh: bool = False) -> Explorer:
    """Build the explorer and display it; returns it.

    Without ``result``, reconcile the live systems first: the stored connection (``realm``, or the
    connected company) and the WORK store at ``work_db`` (default store when None), with
    ``settings`` (a YAML path, mapping or Settings; None: the one settings source,
    :func:`qbo_toolkit.settings.resolve_settings`, what the app saved in the toolkit home) and
    ``as_of`` (a date, ``YYYY-MM-DD`` or a relative day such as ``last_month_end``; today when None
    or ``"today"``). Retries then go to that store and company. The screen says which settings the
    comparison used (:meth:`~qbo_toolkit.settings.SettingsSource.describe`). QuickBooks is read from the
    local mirror (one change-data-capture request brings it current); ``fresh`` reads it in full."""
    history: History | None = None
    if result is None:
        from functools import partial

        from ..connection import connection
        from ..jobs.params import parse_day
        from ..recon.api import reconcile_live
        from ..settings import resolve_settings
        from ..sync.api import retry as sync_retry
        from ..work.store import WorkStore

        conn = connection(realm)
        store = WorkStore(work_db)
        day = parse_day(as_of, "as_of")
        source = resolve_settings(settings)
        result = reconcile_live(conn, store, as_of=day, settings=source, fresh=fresh)
        if retry is None:
            retry = partial(sync_retry, store=store, realm=conn.realm_id)
        if record:  # every run is kept (recon/history.py); ``record=False`` for an ad-hoc look
            history = History(store, conn.realm_id)
            result = history.record(result, kind="explorer", settings=source)  # its materiality
    explorer = Explorer(result, retry=retry, history=history)
    if display:
        from IPython.display import display as show

        show(explorer.widget)
    return explorer
