"""Every reconciliation run kept: what is new, what persists (and for how long), what was resolved.

Tables ``recon_*`` in the WORK store's database (created on the store's engine the way
:mod:`qbo_toolkit.sync.state` creates ``sync_*``; this module is their only door, and every write
goes through :meth:`WorkStore.begin`):

* ``recon_runs``   -- one row per run: realm, scope, as-of, period (the as-of's month, ``YYYY-MM``),
  run time, kind (``job``, ``explorer``, ``api``), result hash, verdict, difference and pending
  counts, count and amount per category, the materiality used and the WORK store's revision when
  the run was recorded.
* ``recon_items``  -- one row per difference of a run: its stable key, category, amount, day (the
  record's date when known), label, ids, when it was first seen and a fingerprint of its row.
* ``recon_notes``  -- explanations: who, when, text, attached to a difference's key within a scope;
  kept while the difference persists, retired by the first run of the scope without it.
* ``recon_signoffs`` -- sign-offs of a period (see :mod:`.signoff`).

Scope. Two runs are comparable when they compared the same thing: same realm, integration date,
settings and tolerance (to the cent: 0 and 0.00 are one). ``scope`` is the first 16 hex digits of the
sha256 of those four. The settings
count by the sha256 of their YAML without ``materiality`` when the run says which settings it used
(``History.record(settings=)``, as the reconcile job and the explorer do): materiality decides what
needs an explanation, not what differs, so changing it keeps the history going; otherwise by the
sha256 the result names (the settings file's). The *previous run* of a run is the latest run recorded
before it with the same scope and an as-of on or before its as-of.

The stable key of a difference (rule, in this order):

1. the category name;
2. the record's identity: ``W<work id>`` when the row has a WORK id, else ``Q<qbo id>``, else
   ``N<number>`` (``number``, ``doc_number``, ``work_number`` or ``name``), else nothing;
3. the qualifiers the category has, each as ``|column=value``: ``document``, ``entity``, ``status``,
   ``field``, ``bucket``, ``work_rate``, ``qbo_rate`` (one invoice may differ in total and in tax,
   one customer in e-mail and phone: each is its own difference);
4. a row whose key is already taken in the same run gets ``#2``, ``#3``, ... in frame order.

So ``invoices_total|W12``, ``customers_fields|W3|field=email``, ``aging_buckets|bucket=31-60``,
``payments_missing_in_work|Q88``. A WORK id never changes and a QBO-only record has only its QBO
id, so the same difference in two runs has the same key. Categories counted: every *difference*
and *pending* one (information rows are not differences).

Amount of a difference (``amount_cents``, used for materiality and the chart): the absolute value of
the row's ``difference_cents`` if the category has it, else of ``total_cents``, ``amount_cents`` or
``unapplied_cents`` (a record missing on one side counts for its whole amount), else 0 (a name or a
date that differs). Day: the row's ``date`` (for ``invoices_date`` and ``payments_date`` the WORK
date, else QBO's); else, for invoice and payment rows with a WORK id, the WORK record's date (an
invoice's issue date, read from the store when recording); else none.

Age. ``first_seen`` is the as-of of the first run, in the unbroken chain of previous runs, that had
the key; ``age_days`` = this run's as-of minus ``first_seen``. Ages come from as-of dates, never from
the clock, so they are deterministic (a difference seen as of 31 Oct and again as of 30 Nov is 30
days old). A difference that went away and came back is new again.

Result hash: sha256 of the run's sorted ``key fingerprint`` lines (fingerprint: a hash of the whole
row), so two runs with the same differences, values included, have the same hash.

Materiality (:func:`~qbo_toolkit.settings.check_materiality`, the one validator, in ``settings``):
``{category: {"amount": "100.00", "count": 5}}``, ``"*"`` for every category not named. A run uses the
reconcile job's ``materiality`` parameter when given, else the settings' ``materiality`` (the app's, or
the file the run names), else none; the run keeps which (``recon_runs.materiality``: JSON
``{"from": "parameter" | "settings", "overrides": bool, "thresholds": {...}}``, the thresholds in cents;
``RunHistory.materiality_text`` says it, and the report's "Needs an explanation" block shows it).
A difference is *material* when its amount is above ``amount``, or
when its category has more than ``count`` rows (then all of them are). A category with no
threshold (and no ``"*"``) is material in every row: without thresholds every difference needs an
explanation. A material difference without an explanation *needs an explanation*.

What :class:`RunHistory` (``result.history`` after :meth:`History.record`) holds, for the report
(H4's summary page reads ``new``, ``persisting``, ``resolved``, ``needs_explanation`` and
``sentence``) and the explorer::

    h = result.history                 # RunHistory, or None when the run was not recorded
    h.run_id, h.as_of, h.period, h.scope, h.result_hash
    h.previous_as_of                   # date of the previous run of the scope, or None (first run)
    h.sentence                         # "3 new, 5 persisting (oldest 61 days), 2 resolved since the run
                                       #  as of 2026-10-31."
    h.counts                           # {"new": 3, "persisting": 5, "resolved": 2, "needs_explanation": 1}
    h.items                            # DataFrame, one row per difference of this run (ITEM_COLUMNS)
    h.new, h.persisting                # the same rows, filtered by status
    h.resolved                         # rows of the previous run gone now (same columns, status "resolved")
    h.needs_explanation                # material rows without a note
    h.materiality, h.materiality_from  # thresholds used (cents), "parameter" | "settings" | ""
    h.materiality_text                 # "materiality from the settings: invoices_total above 100.00; ..."
    h.series                           # DataFrame: run_id, as_of, category, count, amount_cents (one row per
                                       # run of the scope and category with rows; runs in as-of order)
    h.signoff                          # SignoffStatus of the period (see .signoff) or None
    h.to_dict()                        # JSON-ready

``ITEM_COLUMNS``: key, category, title, status (``new`` | ``persisting`` | ``resolved``), first_seen
(date), age_days (int), amount_cents (int), day (date or None), label, work_id, qbo_id, material
(bool), note, note_by, note_at.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..errors import ConfigError
from ..settings import Settings, SettingsSource, check_materiality
from ..work.schema import UtcDateTime, ensure_tables
from .money import cents_to_decimal
from .result import CATEGORIES, ReconResult

if TYPE_CHECKING:
    from ..work.store import WorkStore
    from .signoff import SignoffStatus

__all__ = ["ITEM_COLUMNS", "RUN_KINDS", "History", "HistoryError", "RunHistory", "check_materiality",
           "difference_items", "difference_keys", "materiality_used", "period_of", "result_hash", "row_keys",
           "scope_of"]

RUN_KINDS: Final = ("job", "explorer", "api", "benchmark")
ITEM_COLUMNS: Final = ("key", "category", "title", "status", "first_seen", "age_days", "amount_cents", "day",
                       "label", "work_id", "qbo_id", "material", "note", "note_by", "note_at")
#: The categories whose rows are differences with keys (difference and pending kinds).
KEYED: Final = tuple(c.name for c in CATEGORIES if c.kind != "information")
_TITLES: Final = {c.name: c.title for c in CATEGORIES}
_ENTITY: Final = {c.name: c.entity for c in CATEGORIES}
_QUALIFIERS: Final = ("document", "entity", "status", "field", "bucket", "work_rate", "qbo_rate")
_NAMES: Final = ("number", "doc_number", "work_number", "name")
_AMOUNTS: Final = ("difference_cents", "total_cents", "amount_cents", "unapplied_cents")
#: Besides ``date``, the columns that hold the record's own date, per category (``work_date`` of
#: ``invoices_due_date`` is a due date, so it is not one of them).
_DATED: Final = {"invoices_date": ("work_date", "qbo_date"), "payments_date": ("work_date", "qbo_date")}


class HistoryError(ConfigError):
    """A history or sign-off request that cannot be done (the sentence says why and what to do;
    nothing was written). The CLI exits 2 with it."""


metadata = sa.MetaData()

runs_table = sa.Table(
    "recon_runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("realm", sa.String(32), nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("scope_detail", sa.Text, nullable=False),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("period", sa.String(7), nullable=False),
    sa.Column("run_at", UtcDateTime(), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("result_hash", sa.String(64), nullable=False),
    sa.Column("verdict", sa.Text, nullable=False),
    sa.Column("difference_count", sa.Integer, nullable=False),
    sa.Column("pending_count", sa.Integer, nullable=False),
    sa.Column("categories", sa.Text, nullable=False),  # JSON {category: [count, cents]}
    sa.Column("materiality", sa.Text, nullable=True),  # JSON, as checked
    sa.Column("work_revision", sa.BigInteger, nullable=True),  # work_revision_counter is a BIGINT too
    sa.Column("previous_id", sa.Integer, nullable=True),
    sa.Index("ix_recon_runs_scope", "realm", "scope", "as_of"),
    sa.Index("ix_recon_runs_period", "realm", "period"),
)

items_table = sa.Table(
    "recon_items", metadata,
    sa.Column("run_id", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(500), primary_key=True),
    sa.Column("category", sa.String(40), nullable=False),
    sa.Column("amount_cents", sa.BigInteger, nullable=False),
    sa.Column("day", sa.Date, nullable=True),
    sa.Column("label", sa.String(300), nullable=False, default=""),
    sa.Column("work_id", sa.BigInteger, nullable=True),
    sa.Column("qbo_id", sa.String(32), nullable=True),
    sa.Column("first_seen", sa.Date, nullable=False),
    sa.Column("fingerprint", sa.BigInteger, nullable=False),
)

notes_table = sa.Table(
    "recon_notes", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("realm", sa.String(32), nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("key", sa.String(500), nullable=False),
    sa.Column("who", sa.String(200), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("run_id", sa.Integer, nullable=False),  # the run it was written against
    sa.Column("retired_run_id", sa.Integer, nullable=True),  # the first run without the difference
    sa.Index("ix_recon_notes_key", "realm", "scope", "key"),
)

signoffs_table = sa.Table(
    "recon_signoffs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("realm", sa.String(32), nullable=False),
    sa.Column("period", sa.String(7), nullable=False),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("role", sa.String(12), nullable=False),  # preparer | reviewer
    sa.Column("who", sa.String(200), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("note", sa.Text, nullable=False, default=""),
    sa.Column("result_hash", sa.String(64), nullable=False),
    sa.Column("state", sa.String(12), nullable=False),  # signed | reopened | superseded
    sa.Column("reopened_at", UtcDateTime(), nullable=True),
    sa.Column("changes", sa.Text, nullable=True),  # JSON list of sentences: what reopened it
    sa.Index("ix_recon_signoffs_period", "realm", "period"),
)

_CHUNK: Final = 5000
#: The first key of the PostgreSQL advisory lock of a realm's history writes (the second: the realm's
#: CRC-32; ``mirror.store`` uses the key before this one for the mirror's writes).
_WRITE_LOCK: Final = 1_836_020_302


def _now() -> datetime:
    return datetime.now(UTC)


_ITEM_FIELDS: Final = ("run_id", "key", "category", "amount_cents", "day", "label", "work_id", "qbo_id", "first_seen",
                       "fingerprint")


def _marks(conn: Connection, count: int) -> str:
    """``count`` placeholders in the driver's own style (a run's rows go straight to the driver:
    building 20,000 parameter sets through SQLAlchemy costs ten times the write)."""
    style = conn.dialect.paramstyle
    if style == "qmark":
        return ", ".join("?" * count)
    if style == "numeric":
        return ", ".join(f":{i + 1}" for i in range(count))
    if style in ("format", "pyformat"):
        return ", ".join(["%s"] * count)
    raise NotImplementedError(f"database driver parameter style {style!r}")


def _insert_items(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    sql = f"INSERT INTO recon_items ({', '.join(_ITEM_FIELDS)}) VALUES ({_marks(conn, len(_ITEM_FIELDS))})"
    for start in range(0, len(rows), _CHUNK):
        conn.exec_driver_sql(sql, rows[start:start + _CHUNK])


def _as_date(value: Any, memo: dict[Any, date | None]) -> date | None:
    """A stored day as ``date`` (SQLite's driver gives ISO text back, PostgreSQL's a date)."""
    if value is None or isinstance(value, date):
        return value
    if value not in memo:
        memo[value] = date.fromisoformat(str(value)[:10])
    return memo[value]


def _read_items(conn: Connection, run_id: int) -> pd.DataFrame:
    fields = _ITEM_FIELDS[1:]
    # in a fixed order, the key's (SQLite's search of the primary key gave it unasked; PostgreSQL may not)
    rows = conn.exec_driver_sql(f"SELECT {', '.join(fields)} FROM recon_items WHERE run_id = {_marks(conn, 1)} "
                                "ORDER BY key",
                                (int(run_id),)).fetchall()
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(fields)
    memo: dict[Any, date | None] = {}
    data: dict[str, Any] = {}
    for name, values in zip(fields, columns, strict=True):
        if name in ("day", "first_seen"):
            data[name] = pd.Series([_as_date(v, memo) for v in values], dtype=object)
        elif name in ("amount_cents", "fingerprint"):
            data[name] = pd.Series(values, dtype="int64")
        elif name == "work_id":
            data[name] = pd.Series(values, dtype="Int64")
        else:
            data[name] = pd.Series(values, dtype=object)
    return pd.DataFrame(data)


def period_of(day: date) -> str:
    """The period a run as of ``day`` belongs to: its month, ``YYYY-MM``."""
    return f"{day.year:04d}-{day.month:02d}"


def check_period(text: Any, name: str = "period") -> str:
    """``YYYY-MM`` (a month), or a ConfigError naming ``name`` and the form expected."""
    value = str(text or "").strip()
    try:
        year, month = (int(part) for part in value.split("-"))
        if len(value) != 7 or not 1 <= month <= 12 or year < 1900:
            raise ValueError(value)
    except ValueError:
        raise ConfigError(f"{name} must be a month written YYYY-MM (e.g. 2026-11), not {text!r}", key=name) from None
    return value


def period_bounds(period: str) -> tuple[date, date]:
    """The first and last day of ``period`` (``YYYY-MM``)."""
    import calendar

    year, month = (int(part) for part in period.split("-"))
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _cents_text(value: Any) -> str:
    """A tolerance as text to the cent ("0.00"), however it was given (the job's "0.00", the API's 0)."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    return f"{amount:.2f}" if amount.is_finite() and amount == amount.quantize(Decimal("0.01")) else str(amount)


def scope_of(result: ReconResult, realm: str, settings: Settings | SettingsSource | None = None
             ) -> tuple[str, dict[str, Any]]:
    """The scope of a run (see the module docstring): its short hash and what it is made of.
    ``settings``: the settings the run used (then their sha256 without ``materiality``)."""
    digest = (result.settings or {}).get("sha256") if result.settings is not None else None
    if settings is not None:
        chosen = settings.settings if isinstance(settings, SettingsSource) else settings
        digest = hashlib.sha256(replace(chosen, materiality={}).to_yaml().encode()).hexdigest()
    detail = {
        "realm": realm,
        "integration_date": result.integration_date.isoformat() if result.integration_date else None,
        "settings_sha256": digest,
        "tolerance": _cents_text(result.tolerance),
    }
    text = json.dumps(detail, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16], detail


# --------------------------------------------------------------------------------------------
# Materiality
# --------------------------------------------------------------------------------------------


def _material(items: pd.DataFrame, materiality: Mapping[str, Mapping[str, Any]]) -> np.ndarray:
    """Whether each item is material (see the module docstring)."""
    if not len(items):
        return np.zeros(0, dtype=bool)
    out = np.ones(len(items), dtype=bool)
    if not materiality:
        return out
    counts = items["category"].map(items["category"].value_counts())
    for category in items["category"].unique():
        limits = materiality.get(category, materiality.get("*"))
        if limits is None:
            continue
        rows = (items["category"] == category).to_numpy()
        material = np.zeros(int(rows.sum()), dtype=bool)
        if "amount_cents" in limits:
            material |= items.loc[rows, "amount_cents"].to_numpy() > limits["amount_cents"]
        if "count" in limits:
            material |= counts[rows].to_numpy() > limits["count"]
        out[rows] = material
    return out


# --------------------------------------------------------------------------------------------
# Keys, amounts, fingerprints: a result's differences as items
# --------------------------------------------------------------------------------------------


def _ident(frame: pd.DataFrame) -> pd.Series:
    out = pd.Series("", index=frame.index, dtype=object)
    if "work_id" in frame:
        w = frame["work_id"]
        has = w.notna().to_numpy()
        out[has] = "W" + w[has].astype("int64").astype(str)
    else:
        has = np.zeros(len(frame), dtype=bool)
    if "qbo_id" in frame:
        q = frame["qbo_id"]
        take = ~has & q.notna().to_numpy()
        out[take] = "Q" + q[take].astype(str)
        has = has | take
    for name in _NAMES:
        if name in frame:
            n = frame[name]
            take = ~has & n.notna().to_numpy() & (n.astype(str) != "").to_numpy()
            out[take] = "N" + n[take].astype(str)
            has = has | take
            break
    return out


def difference_keys(category: str, frame: pd.DataFrame) -> pd.Series:
    """The stable key of each row of ``category``'s frame (the rule is in the module docstring)."""
    ident = _ident(frame)
    key = category + np.where(ident.to_numpy() == "", "", "|" + ident.astype(str))
    key = pd.Series(key, index=frame.index, dtype=object)
    for name in _QUALIFIERS:
        if name in frame:
            key = key + f"|{name}=" + frame[name].astype(str).where(frame[name].notna(), "")
    dup = key.groupby(key).cumcount().to_numpy()
    if dup.any():
        key = key.where(dup == 0, key + "#" + (dup + 1).astype(str))
    return key.astype(object)


def _keyed_frames(result: ReconResult) -> Iterator[tuple[str, pd.DataFrame]]:
    """Each difference and pending category of ``result`` that has rows, in report order."""
    for category in KEYED:
        frame = result.frames[category]
        if len(frame):
            yield category, frame


def row_keys(result: ReconResult) -> pd.Series:
    """The stable key of every difference and pending row of ``result`` (:func:`difference_keys`),
    indexed ``category:position`` (the row's place in its category's frame, as the explorer names rows),
    in report order: the one place a run's keys are made."""
    parts = [pd.Series(difference_keys(category, frame.reset_index(drop=True)).to_numpy(),
                       index=category + ":" + pd.RangeIndex(len(frame)).astype(str), dtype=object)
             for category, frame in _keyed_frames(result)]
    return pd.concat(parts) if parts else pd.Series(dtype=object)


def _amounts(frame: pd.DataFrame) -> np.ndarray:
    for name in _AMOUNTS:
        if name in frame:
            return np.abs(pd.to_numeric(frame[name], errors="coerce").fillna(0).to_numpy(dtype="int64"))
    return np.zeros(len(frame), dtype="int64")


def _days(category: str, frame: pd.DataFrame) -> pd.Series:
    for name in ("date", *_DATED.get(category, ())):
        if name in frame:
            return pd.to_datetime(frame[name], errors="coerce").dt.date.astype(object).where(frame[name].notna(), None)
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _labels(frame: pd.DataFrame) -> pd.Series:
    label = pd.Series("", index=frame.index, dtype=object)
    for name in (*_NAMES, "bucket"):
        if name in frame:
            label = frame[name].astype(str).where(frame[name].notna(), "")
            break
    if "customer" in frame:
        customer = frame["customer"].astype(str).where(frame["customer"].notna(), "")
        label = (label + " · " + customer).where((label != "") & (customer != ""), label + customer)
    return label.str.slice(0, 300)


def _fingerprints(frame: pd.DataFrame) -> np.ndarray:
    try:
        hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    except TypeError:  # cells that pandas cannot hash (lists): hash their text
        hashed = pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy()
    return hashed.view("int64")


def difference_items(result: ReconResult) -> pd.DataFrame:
    """Every difference and pending row of ``result`` as an item: key, category, amount_cents, day,
    label, work_id, qbo_id, fingerprint (one row each, in report order)."""
    parts = []
    for category, frame in _keyed_frames(result):
        parts.append(pd.DataFrame({
            "category": category,
            "amount_cents": _amounts(frame),
            "day": _days(category, frame).to_numpy(),
            "label": _labels(frame).to_numpy(),
            "work_id": (frame["work_id"].astype("Int64") if "work_id" in frame
                        else pd.Series(pd.NA, index=frame.index, dtype="Int64")).to_numpy(),
            "qbo_id": (frame["qbo_id"].astype(str).where(frame["qbo_id"].notna(), None) if "qbo_id" in frame
                       else pd.Series(None, index=frame.index, dtype=object)).to_numpy(),
            "fingerprint": _fingerprints(frame),
        }))
    if not parts:
        return pd.DataFrame({"key": pd.Series(dtype=object), "category": pd.Series(dtype=object),
                             "amount_cents": pd.Series(dtype="int64"), "day": pd.Series(dtype=object),
                             "label": pd.Series(dtype=object), "work_id": pd.Series(dtype="Int64"),
                             "qbo_id": pd.Series(dtype=object), "fingerprint": pd.Series(dtype="int64")})
    items = pd.concat(parts, ignore_index=True)
    items.insert(0, "key", row_keys(result).to_numpy())
    items["work_id"] = items["work_id"].astype("Int64")
    return items


def _hash_items(items: pd.DataFrame) -> str:
    lines = sorted(f"{k} {f}" for k, f in zip(items["key"], items["fingerprint"], strict=True))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def result_hash(result: ReconResult) -> str:
    """The sha256 of a result's differences, keys and values (see the module docstring)."""
    return _hash_items(difference_items(result))


# --------------------------------------------------------------------------------------------
# The view of one run
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class RunHistory:
    """One recorded run seen against its previous run of the same scope (shape: module docstring)."""

    run_id: int
    realm: str
    scope: str
    as_of: date
    run_at: datetime
    result_hash: str
    previous_id: int | None
    previous_as_of: date | None
    items: pd.DataFrame
    resolved: pd.DataFrame
    series: pd.DataFrame
    materiality: Mapping[str, Any] = field(default_factory=dict)
    signoff: SignoffStatus | None = None
    #: where the materiality came from: ``parameter`` (the job's), ``settings`` or "" (none given)
    materiality_from: str = ""
    #: the parameter was used although the settings have a materiality of their own
    materiality_overrides: bool = False

    @property
    def materiality_text(self) -> str:
        """Which materiality the run used and where it came from, in a sentence."""
        parts = []
        for category, limits in self.materiality.items():
            bits = []
            if "amount_cents" in limits:
                bits.append(f"above {_money(limits['amount_cents'])}")
            if "count" in limits:
                bits.append(f"more than {limits['count']} of them")
            parts.append(f"{'every other category' if category == '*' else category} {' or '.join(bits)}")
        said = "; ".join(parts) if parts else "none (every difference is material)"
        if self.materiality_from == "parameter":
            over = ", overriding the settings' materiality" if self.materiality_overrides else ""
            return f"materiality from the reconcile job's materiality parameter{over}: {said}"
        if self.materiality_from == "settings":
            return f"materiality from the settings: {said}"
        return "no materiality set (set one with materiality in the settings): every difference needs an explanation" \
            if not parts else f"materiality: {said}"

    @property
    def period(self) -> str:
        return period_of(self.as_of)

    @property
    def new(self) -> pd.DataFrame:
        return self.items[self.items["status"] == "new"].reset_index(drop=True)

    @property
    def persisting(self) -> pd.DataFrame:
        return self.items[self.items["status"] == "persisting"].reset_index(drop=True)

    @property
    def needs_explanation(self) -> pd.DataFrame:
        rows = self.items["material"].astype(bool) & self.items["note"].isna()
        return self.items[rows].reset_index(drop=True)

    @property
    def counts(self) -> dict[str, int]:
        return {"new": int((self.items["status"] == "new").sum()),
                "persisting": int((self.items["status"] == "persisting").sum()),
                "resolved": len(self.resolved), "needs_explanation": len(self.needs_explanation)}

    @property
    def sentence(self) -> str:
        c = self.counts
        if self.previous_as_of is None:
            head = f"First run of this scope: {c['new']} difference{_s(c['new'])}, all new"
        else:
            persisting = self.persisting
            oldest = f" (oldest {int(persisting['age_days'].max())} days)" if len(persisting) else ""
            head = (f"{c['new']} new, {c['persisting']} persisting{oldest}, {c['resolved']} resolved since the run "
                    f"as of {self.previous_as_of.isoformat()}")
        if c["needs_explanation"]:
            head += f"; {c['needs_explanation']} need{'s' if c['needs_explanation'] == 1 else ''} an explanation"
        return head + "."

    def by_status(self, status: str) -> pd.DataFrame:
        """Rows of ``new``, ``persisting``, ``resolved`` or ``needs_explanation``."""
        if status == "resolved":
            return self.resolved
        if status == "needs_explanation":
            return self.needs_explanation
        if status in ("new", "persisting"):
            return self.new if status == "new" else self.persisting
        raise KeyError(f"no history status {status!r}; statuses: new, persisting, resolved, needs_explanation")

    def status_of(self, key: str) -> str | None:
        """``new``, ``persisting`` or ``resolved`` for a difference key of this run or its previous one."""
        hit = self.items.loc[self.items["key"] == key, "status"]
        if len(hit):
            return str(hit.iloc[0])
        return "resolved" if (self.resolved["key"] == key).any() else None

    def to_dict(self, *, records: bool = True) -> dict[str, Any]:
        """JSON-ready; without ``records`` only the figures (counts, sentence, sign-off), not the rows."""
        def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
            out = []
            for row in frame.to_dict("records"):
                out.append({k: _plain(k, v) for k, v in row.items()})
            return out

        data: dict[str, Any] = {
            "run_id": self.run_id, "as_of": self.as_of.isoformat(), "period": self.period, "scope": self.scope,
            "result_hash": self.result_hash,
            "previous_as_of": self.previous_as_of.isoformat() if self.previous_as_of else None,
            "sentence": self.sentence, "counts": self.counts,
            "signoff": self.signoff.to_dict() if self.signoff is not None else None,
            "materiality": {"from": self.materiality_from or None, "overrides_settings": self.materiality_overrides,
                            "text": self.materiality_text,
                            "thresholds": {c: {("amount" if k == "amount_cents" else k):
                                               (str(cents_to_decimal(v)) if k == "amount_cents" else v)
                                               for k, v in limits.items()}
                                           for c, limits in self.materiality.items()}},
        }
        if records:
            data.update(new=rows(self.new), persisting=rows(self.persisting), resolved=rows(self.resolved),
                        needs_explanation=[str(k) for k in self.needs_explanation["key"]], series=rows(self.series))
        return data

    def __repr__(self) -> str:
        return f"RunHistory(run {self.run_id} as of {self.as_of.isoformat()}: {self.sentence})"


def _plain(column: str, value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if column.endswith("_cents"):
        return str(cents_to_decimal(int(value)))
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _s(n: int) -> str:
    return "" if n == 1 else "s"


# --------------------------------------------------------------------------------------------
# The door to the tables
# --------------------------------------------------------------------------------------------


class History:
    """The ``recon_*`` tables of one realm in the WORK store's database."""

    def __init__(self, store: WorkStore, realm: str) -> None:
        self.store = store
        self.engine: Engine = store.engine
        self.realm = realm
        self._ensure_tables()

    def _ensure_tables(self) -> None:
        ensure_tables(self.engine, metadata, self.store.begin)

    def serialize(self, conn: Connection) -> None:
        """Make this realm's history writers take turns until ``conn``'s transaction ends, as SQLite's
        ``BEGIN IMMEDIATE`` (``WorkStore.begin``) makes them. PostgreSQL: a transaction-scoped advisory
        lock; without it two runs recorded at once both take the run before them as their previous run,
        and two sign-offs made at once both stand (each supersedes only what it saw)."""
        if conn.dialect.name == "postgresql":
            key = (zlib.crc32(self.realm.encode()) ^ 0x80000000) - 0x80000000  # a signed int4
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_WRITE_LOCK}, {key})")

    # -- recording -------------------------------------------------------------------------------
    def record(self, result: ReconResult, *, kind: str = "api", materiality: Mapping[str, Any] | None = None,
               settings: Settings | SettingsSource | None = None, run_at: datetime | None = None,
               dates: bool = True) -> ReconResult:
        """Keep ``result`` as a run; return it with :attr:`ReconResult.history` set.

        ``materiality`` (the reconcile job's parameter) overrides the ``materiality`` of ``settings`` (the
        settings the run used); either is checked by :func:`check_materiality`. With ``dates`` the WORK dates of
        invoice and payment differences without a date column are read from the store (for the
        sign-off's "does this touch the period"). A signed-off period whose new run differs is
        reopened (:mod:`.signoff`)."""
        if kind not in RUN_KINDS:
            raise ValueError(f"run kind must be one of {', '.join(RUN_KINDS)}, not {kind!r}")
        checked, origin, overrides = materiality_used(materiality, settings)
        items = difference_items(result)
        if dates:
            self._fill_days(items)
        scope, detail = scope_of(result, self.realm, settings)
        digest = _hash_items(items)
        at = run_at or _now()
        categories = {c: [int(n), int(a)] for c, n, a in
                      items.groupby("category", sort=False).agg(n=("key", "size"), a=("amount_cents", "sum"))
                      .itertuples(name=None)}
        revision = self.store.max_revision()
        with self.store.begin() as conn:
            self.serialize(conn)
            previous = conn.execute(
                sa.select(runs_table.c.id, runs_table.c.as_of).where(
                    runs_table.c.realm == self.realm, runs_table.c.scope == scope,
                    runs_table.c.as_of <= result.as_of).order_by(runs_table.c.as_of.desc(), runs_table.c.id.desc())
                .limit(1)).first()
            prev_first: dict[str, date] = {}
            before: pd.DataFrame | None = None
            if previous is not None:
                before = _read_items(conn, previous.id)
                prev_first = dict(zip(before["key"].tolist(), before["first_seen"].tolist(), strict=True))
            items["first_seen"] = pd.Series([prev_first.get(k, result.as_of) for k in items["key"].tolist()],
                                            index=items.index, dtype=object)
            run_id = int(conn.execute(sa.insert(runs_table).values(
                realm=self.realm, scope=scope, scope_detail=json.dumps(detail, sort_keys=True), as_of=result.as_of,
                period=period_of(result.as_of), run_at=at, kind=kind, result_hash=digest, verdict=result.verdict,
                difference_count=result.difference_count, pending_count=result.pending_count,
                categories=json.dumps(categories),
                materiality=json.dumps({"from": origin, "overrides": overrides, "thresholds": checked})
                if origin else None,
                work_revision=revision, previous_id=previous.id if previous is not None else None,
            )).inserted_primary_key[0])  # type: ignore[index]
            rows = [
                (run_id, k, c, int(a), d if isinstance(d, date) else None, lb, None if w is pd.NA else int(w),
                 q if isinstance(q, str) else None, f,
                 int(fp))
                for k, c, a, d, lb, w, q, f, fp in zip(
                    items["key"].tolist(), items["category"].tolist(), items["amount_cents"].tolist(),
                    items["day"].tolist(), items["label"].tolist(), items["work_id"].tolist(),
                    items["qbo_id"].tolist(), items["first_seen"].tolist(), items["fingerprint"].tolist(), strict=True)
            ]
            _insert_items(conn, rows)
            # explanations go with their differences: retire those whose key this run no longer has
            keys = set(items["key"].tolist())
            live = conn.execute(sa.select(notes_table.c.id, notes_table.c.key).where(
                notes_table.c.realm == self.realm, notes_table.c.scope == scope,
                notes_table.c.retired_run_id.is_(None))).all()
            gone = [n.id for n in live if n.key not in keys]
            for start in range(0, len(gone), 500):
                conn.execute(sa.update(notes_table).where(notes_table.c.id.in_(gone[start:start + 500]))
                             .values(retired_run_id=run_id))
        from .signoff import SignOff

        signoff = SignOff(self)
        status = signoff.status(period_of(result.as_of)) if signoff.has_signoffs(period_of(result.as_of)) else None
        known = items[["key", "category", "amount_cents", "day", "label", "work_id", "qbo_id", "first_seen",
                       "fingerprint"]]
        return result.with_history(self.view(run_id, signoff=status, _known=(known, before)))

    def _fill_days(self, items: pd.DataFrame) -> None:
        """WORK dates for invoice and payment items that have a WORK id and no day."""
        if not len(items):
            return
        missing = items["day"].isna().to_numpy() & items["work_id"].notna().to_numpy()
        entity = items["category"].map(_ENTITY).to_numpy()
        invoices = missing & (entity == "invoices")
        if invoices.any():
            found = self.store.invoices_by_id(int(i) for i in items.loc[invoices, "work_id"])
            items.loc[invoices, "day"] = [found[int(i)].issue_date if int(i) in found else None
                                          for i in items.loc[invoices, "work_id"]]
        payments = missing & (entity == "payments")
        if payments.any():
            ids = sorted({int(i) for i in items.loc[payments, "work_id"]})
            wanted = set(ids)
            dated = {p.id: p.date for p in self.store.payments(include_deleted=True) if p.id in wanted} \
                if len(ids) > 50 else {i: getattr(self.store.get_payment(i), "date", None) for i in ids}
            items.loc[payments, "day"] = [dated.get(int(i)) for i in items.loc[payments, "work_id"]]

    # -- reading -------------------------------------------------------------------------------
    def runs(self, *, scope: str | None = None, period: str | None = None) -> pd.DataFrame:
        """The realm's runs (newest last): id, scope, as_of, period, run_at, kind, result_hash, verdict,
        difference_count, pending_count."""
        query = sa.select(runs_table.c.id, runs_table.c.scope, runs_table.c.as_of, runs_table.c.period,
                          runs_table.c.run_at, runs_table.c.kind, runs_table.c.result_hash, runs_table.c.verdict,
                          runs_table.c.difference_count, runs_table.c.pending_count).where(
            runs_table.c.realm == self.realm).order_by(runs_table.c.id)
        if scope is not None:
            query = query.where(runs_table.c.scope == scope)
        if period is not None:
            query = query.where(runs_table.c.period == period)
        with self.engine.connect() as conn:
            return pd.DataFrame(conn.execute(query).all(), columns=[
                "id", "scope", "as_of", "period", "run_at", "kind", "result_hash", "verdict", "difference_count",
                "pending_count"])

    def run_row(self, run_id: int, conn: Connection | None = None) -> Any:
        def read(c: Connection) -> Any:
            row = c.execute(sa.select(runs_table).where(runs_table.c.id == run_id,
                                                        runs_table.c.realm == self.realm)).first()
            if row is None:
                raise HistoryError(f"no reconciliation run {run_id} is recorded for company {self.realm}")
            return row
        if conn is not None:
            return read(conn)
        with self.engine.connect() as c:
            return read(c)

    def run_items(self, run_id: int, conn: Connection | None = None) -> pd.DataFrame:
        """A run's items as stored: key, category, amount_cents, day, label, work_id, qbo_id, first_seen,
        fingerprint (strings as Python objects, days as ``date``)."""
        if conn is not None:
            return _read_items(conn, run_id)
        with self.engine.connect() as c:
            return _read_items(c, run_id)

    def view(self, run_id: int, *, signoff: SignoffStatus | None = None,
             _known: tuple[pd.DataFrame, pd.DataFrame | None] | None = None) -> RunHistory:
        """Run ``run_id`` against its previous run of the same scope. (``_known``: the run's items and
        its previous run's, when :meth:`record` has them in hand, so they are not read back.)"""
        with self.engine.connect() as conn:
            run = self.run_row(run_id, conn)
            previous = self.run_row(run.previous_id, conn) if run.previous_id is not None else None
            if _known is not None:
                items, prev_items = _known[0].copy(), _known[1]
            else:
                items = self.run_items(run_id, conn)
                prev_items = self.run_items(run.previous_id, conn) if previous is not None else None
            if prev_items is None:
                prev_items = items.iloc[0:0]
            series_rows = conn.execute(sa.select(runs_table.c.id, runs_table.c.as_of, runs_table.c.categories).where(
                runs_table.c.realm == self.realm, runs_table.c.scope == run.scope, runs_table.c.id <= run_id)
                .order_by(runs_table.c.as_of, runs_table.c.id)).all()
            notes = conn.execute(sa.select(notes_table.c.key, notes_table.c.who, notes_table.c.at, notes_table.c.text)
                                 .where(notes_table.c.realm == self.realm, notes_table.c.scope == run.scope,
                                        sa.or_(notes_table.c.retired_run_id.is_(None),
                                               notes_table.c.retired_run_id > run_id),
                                        notes_table.c.run_id <= run_id)
                                 .order_by(notes_table.c.id)).all()
        stored = json.loads(run.materiality) if run.materiality else {}
        origin, overrides = "", False
        if isinstance(stored.get("thresholds"), dict) and "from" in stored:  # else a run recorded before
            origin, overrides, stored = str(stored["from"]), bool(stored.get("overrides")), stored["thresholds"]
        materiality: dict[str, Any] = stored
        as_of = run.as_of
        seen_before = set(prev_items["key"].tolist())
        latest = {n.key: n for n in notes}  # the newest note of a key wins
        items = _dress(items, as_of, np.where([k in seen_before for k in items["key"].tolist()], "persisting", "new"),
                       _material(items, materiality), latest)
        now = set(items["key"].tolist())
        resolved = _dress(prev_items.loc[np.array([k not in now for k in prev_items["key"].tolist()], dtype=bool)]
                          .copy(), as_of, "resolved", False, {})
        series = [(r.id, r.as_of, c, n, a) for r in series_rows for c, (n, a) in json.loads(r.categories).items()]
        return RunHistory(
            run_id=run_id, realm=self.realm, scope=run.scope, as_of=as_of, run_at=run.run_at,
            result_hash=run.result_hash, previous_id=run.previous_id,
            previous_as_of=previous.as_of if previous is not None else None,
            items=items, resolved=resolved,
            series=pd.DataFrame(series, columns=["run_id", "as_of", "category", "count", "amount_cents"]),
            materiality=materiality, signoff=signoff, materiality_from=origin, materiality_overrides=overrides)

    def latest(self, *, period: str | None = None) -> int | None:
        """The id of the realm's latest run (of ``period`` if given), or None."""
        query = sa.select(sa.func.max(runs_table.c.id)).where(runs_table.c.realm == self.realm)
        if period is not None:
            query = query.where(runs_table.c.period == period)
        with self.engine.connect() as conn:
            value = conn.execute(query).scalar()
        return int(value) if value is not None else None

    # -- explanations --------------------------------------------------------------------------
    def explain(self, key: str, who: str, text: str, *, run_id: int | None = None) -> dict[str, Any]:
        """Attach an explanation to the difference ``key`` of run ``run_id`` (default: the latest run);
        it stays while the difference persists in runs of the same scope."""
        who, text = (who or "").strip(), (text or "").strip()
        if not who:
            raise HistoryError("an explanation needs who writes it (a name or an e-mail address)")
        longest = getattr(notes_table.c.who.type, "length", None)  # PostgreSQL refuses longer; SQLite kept it
        if longest is not None and len(who) > longest:
            raise HistoryError(f"who explains is {len(who)} characters long: write at most {longest} (a name or an "
                               "e-mail address)")
        if not text:
            raise HistoryError(f"the explanation of {key} is empty: write why the difference is acceptable")
        run_id = run_id if run_id is not None else self.latest()
        if run_id is None:
            raise HistoryError(f"no reconciliation run is recorded for company {self.realm}: reconcile first")
        with self.store.begin() as conn:
            run = self.run_row(run_id, conn)
            if conn.execute(sa.select(items_table.c.key).where(items_table.c.run_id == run_id,
                                                               items_table.c.key == key)).first() is None:
                raise HistoryError(f"run {run_id} (as of {run.as_of.isoformat()}) has no difference {key!r}; "
                                   "explain a difference listed in that run")
            at = _now()
            conn.execute(sa.insert(notes_table).values(realm=self.realm, scope=run.scope, key=key, who=who, at=at,
                                                       text=text, run_id=run_id))
        return {"key": key, "who": who, "at": at, "text": text}

    def notes(self, *, include_retired: bool = False) -> pd.DataFrame:
        query = sa.select(notes_table.c.key, notes_table.c.scope, notes_table.c.who, notes_table.c.at,
                          notes_table.c.text, notes_table.c.run_id, notes_table.c.retired_run_id).where(
            notes_table.c.realm == self.realm).order_by(notes_table.c.id)
        if not include_retired:
            query = query.where(notes_table.c.retired_run_id.is_(None))
        with self.engine.connect() as conn:
            return pd.DataFrame(conn.execute(query).all(),
                                columns=["key", "scope", "who", "at", "text", "run_id", "retired_run_id"])


def _dress(frame: pd.DataFrame, as_of: date, status: Any, material: Any, notes: Mapping[str, Any]) -> pd.DataFrame:
    """A run's stored items (or its previous run's, for the resolved ones) with the view's columns:
    status, age from ``as_of``, title, material and the newest explanation of each key."""
    frame["status"] = status
    frame["age_days"] = [(as_of - f).days for f in frame["first_seen"]]
    frame["title"] = frame["category"].map(_TITLES)
    frame["material"] = material
    frame["note"] = frame["key"].map(lambda k: notes[k].text if k in notes else None)
    frame["note_by"] = frame["key"].map(lambda k: notes[k].who if k in notes else None)
    frame["note_at"] = frame["key"].map(lambda k: notes[k].at if k in notes else None)
    return frame[list(ITEM_COLUMNS)].reset_index(drop=True)


def materiality_used(given: Mapping[str, Any] | None, settings: Settings | SettingsSource | None
                     ) -> tuple[dict[str, dict[str, Any]], str, bool]:
    """The materiality a run uses (thresholds in cents), where from (``parameter``, ``settings`` or "")
    and whether the parameter overrides a materiality of the settings."""
    chosen = settings.settings if isinstance(settings, SettingsSource) else settings
    own = chosen.materiality if chosen is not None else {}
    if given is not None:
        return check_materiality(given), "parameter", bool(own)
    if own:
        return check_materiality(own), "settings", False
    return {}, "", False


# --------------------------------------------------------------------------------------------
# For the report (render.to_html's ``history`` and the CSV/Excel ``history`` sheet)
# --------------------------------------------------------------------------------------------

_PALETTE: Final = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#7f7f7f")
_REPORT_ROWS: Final = 200


def _money(cents: int) -> str:
    value = cents_to_decimal(int(cents))
    return f"({abs(value):,.2f})" if value < 0 else f"{value:,.2f}"


def history_frame(history: RunHistory) -> pd.DataFrame:
    """Every difference of the run and every one resolved since the previous run, with its status,
    first seen, age, materiality and explanation (the ``history`` sheet of the CSV and Excel exports)."""
    frame = pd.concat([history.items, history.resolved], ignore_index=True)
    frame["needs_explanation"] = frame["material"].astype(bool) & frame["note"].isna() & (frame["status"] != "resolved")
    frame["note_at"] = [v.isoformat() if isinstance(v, datetime) else v for v in frame["note_at"]]
    return frame[["key", "category", "title", "status", "first_seen", "age_days", "amount_cents", "day", "label",
                  "work_id", "qbo_id", "material", "needs_explanation", "note", "note_by", "note_at"]]


def history_svg(series: pd.DataFrame, *, width: int = 720) -> Any:
    """Two line charts over the runs: differences per category (count) and their absolute amount.
    The categories with the most rows in any run are drawn (six at most, the rest as "other")."""
    from markupsafe import Markup, escape

    runs = sorted(set(zip(series["run_id"], series["as_of"], strict=True)), key=lambda r: (r[1], r[0]))
    if not runs:
        return Markup('<p class="none">No run recorded yet.</p>')
    top = list(series.groupby("category")["count"].max().sort_values(ascending=False, kind="stable").index[:6])
    lines: dict[str, tuple[list[int], list[int]]] = {}
    position = {run_id: i for i, (run_id, _) in enumerate(runs)}
    for category, run_id, count, cents in zip(series["category"], series["run_id"], series["count"],
                                              series["amount_cents"], strict=True):
        name = category if category in top else "other"
        counts, amounts = lines.setdefault(name, ([0] * len(runs), [0] * len(runs)))
        counts[position[run_id]] += int(count)
        amounts[position[run_id]] += int(cents)
    panel_h, top_pad, left, right, gap = 150, 34, 70, 16, 44
    legend_h = 18 * ((len(lines) + 2) // 3)
    height = top_pad + 2 * panel_h + gap + 40 + legend_h
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart history" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" aria-label="Differences per category over the runs">']
    xs = [left + (width - left - right) * (i / max(len(runs) - 1, 1)) for i in range(len(runs))]
    if len(runs) == 1:
        xs = [left + (width - left - right) / 2]
    panels: tuple[tuple[str, int, Callable[[int], str]], ...] = (("Differences (count)", 0, str),
                                                                 ("Amount of the differences", 1, _money))
    for panel, (title, pick, fmt) in enumerate(panels):
        y0 = top_pad + panel * (panel_h + gap)
        peak = max([max(v[pick]) for v in lines.values()] + [1])
        parts.append(f'<text x="{left}" y="{y0 - 10}" class="axis-title">{escape(title)}</text>')
        parts.append(f'<line x1="{left}" y1="{y0 + panel_h}" x2="{width - right}" y2="{y0 + panel_h}" stroke="#888"/>')
        parts.append(f'<line x1="{left}" y1="{y0}" x2="{left}" y2="{y0 + panel_h}" stroke="#888"/>')
        parts.append(f'<text x="{left - 6}" y="{y0 + 4}" text-anchor="end" class="tick">{escape(fmt(peak))}</text>')
        parts.append(f'<text x="{left - 6}" y="{y0 + panel_h + 4}" text-anchor="end" class="tick">0</text>')
        for index, (name, values) in enumerate(lines.items()):
            colour = _PALETTE[index % len(_PALETTE)]
            points = [(x, y0 + panel_h - panel_h * v / peak) for x, v in zip(xs, values[pick], strict=True)]
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
                         + " ".join(f"{x:.1f},{y:.1f}" for x, y in points) + '"/>')
            for (x, y), v in zip(points, values[pick], strict=True):
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                             f'<title>{escape(name)}: {escape(fmt(v))}</title></circle>')
        if panel == 1:
            for i, (x, (_, day)) in enumerate(zip(xs, runs, strict=True)):
                # the last date ends at its run (centred, it would run past the chart's right edge)
                anchor = "end" if i == len(xs) - 1 and len(xs) > 1 else "middle"
                parts.append(f'<text x="{x:.1f}" y="{y0 + panel_h + 16}" text-anchor="{anchor}" class="tick">'
                             f'{escape(day.isoformat())}</text>')
    legend_y = top_pad + 2 * panel_h + gap + 40
    for index, name in enumerate(lines):
        x, y = left + (index % 3) * 210, legend_y + (index // 3) * 18
        colour = _PALETTE[index % len(_PALETTE)]
        title = _TITLES.get(name, "Other categories")
        parts.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{x + 14}" y="{y}">{escape(title)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text in it went through escape()


def report_context(history: RunHistory | None) -> dict[str, Any] | None:
    """What the HTML report's History section shows (None when the result was not recorded)."""
    if history is None:
        return None

    def rows(frame: pd.DataFrame) -> dict[str, Any]:
        shown = frame.head(_REPORT_ROWS)
        return {"count": len(frame), "hidden": max(len(frame) - _REPORT_ROWS, 0), "rows": [
            {"key": r.key, "title": r.title, "label": r.label, "amount": _money(r.amount_cents),
             "first_seen": r.first_seen.isoformat(), "age_days": int(r.age_days),
             "material": bool(r.material), "note": r.note or "",
             "note_by": f"{r.note_by}, {r.note_at:%Y-%m-%d}" if r.note else ""}
            for r in shown.itertuples(index=False)]}

    persisting = history.persisting.sort_values(["age_days", "key"], ascending=[False, True], kind="stable")
    signoff = history.signoff
    return {
        "sentence": history.sentence, "counts": history.counts, "run_id": history.run_id,
        "previous_as_of": history.previous_as_of.isoformat() if history.previous_as_of else None,
        "svg": history_svg(history.series),
        "blocks": [
            {"name": "needs_explanation",
             "title": f"Needs an explanation (material, no note; {history.materiality_text})",
             **rows(history.needs_explanation)},
            {"name": "new", "title": "New since the previous run", **rows(history.new)},
            {"name": "persisting", "title": "Persisting (oldest first)", **rows(persisting)},
            {"name": "resolved", "title": "Resolved since the previous run", **rows(history.resolved)},
        ],
        "signoff": signoff.to_dict() if signoff is not None else None,
    }
