"""Compare WORK and QBO (pure, vectorised): frames in, a frozen :class:`ReconResult` out.

How records are paired, per entity (customers, invoices, payments):

1. **By the id map.** Each link pairs a WORK id with a QBO id. Both sides are looked up on their
   ``int64`` ids (:class:`_Lookup`: a direct table ``id -> row`` when the ids are dense, as database
   ids are, else a hash index; never a merge of wide frames), which gives for every pair the row
   *position* on each side, or -1 when that side has no record. Every later step gathers columns by
   those positions with numpy, so comparing a field is one vectorised operation over all pairs,
   whatever the number of rows. References (an invoice's client, a payment's invoice) are followed
   the same way, to row positions.
2. **By a natural key, for what the id map does not cover.** Unlinked invoices pair on the invoice
   number (``DocNumber`` in QBO), unlinked customers on the display name (trimmed, case ignored, as
   QBO compares names). Only keys that occur once among the unlinked records of each side pair up;
   payments have no natural key. Such pairs carry ``match = "number"`` / ``"name"``.
3. What is left is on one side only. Whether that is a difference depends on why (see below).

What counts as a difference (rows of the *difference* categories) and what does not (*information*):

* A WORK invoice on its own is **not expected in QBO** when it is dated before the integration
  date, a draft, or was voided or deleted in WORK before it was ever sent; a QBO invoice on its own
  is not expected in WORK when it is dated before the integration date. Payments likewise, and a
  payment on an invoice that does not go to QBO is not expected there either.
* Customers held in the sync's match preview (weak or multiple matches), and the WORK invoices and
  payments of such a client, are **waiting for a match decision**, and records with an open sync
  failure (the sync's activity log: failed, not retried, dismissed or synced since) **failed**:
  both are *pending* (category ``pending``, with amount, customer name, number and reason). They
  are not differences, but nothing agrees while any is left. A record on one side only whose sync
  failed is listed there only, with the sync's sentence, not again as missing, and is left out of
  the totals, balances and aging like a waiting one.
* Anything else on one side only is **missing** on the other (a WORK record never sent). A linked
  record whose partner is gone was deleted there (invoices: *voided or deleted on one side only*; payments: *missing*).
* Paired live records are compared field by field; void ones only for their status.

Credit notes, refunds and tax (issue 13): WORK's credit notes pair with QBO's CreditMemos (id map, then
the number) and refunds with RefundReceipts (id map, then customer, date and amount when unique);
each is missing on one side, differs in total or tax, or is not expected (before the integration
date, or of a kind the settings do not send). Credit applications are compared per paired invoice
(WORK's applications against QBO's zero-amount Payments linking a CreditMemo), unapplied credit per
customer, and tax per rate per paired document (:func:`_tax_by_rate`). Unapplied credit lowers each
side's open balance, as QBO's customer Balance counts it. With QBO's AgedReceivables and
CustomerBalance reports in the QBO frames, :mod:`.tieout` ties WORK's receivables out to them.

Money is whole cents (``int64``); a money difference counts when ``|QBO - WORK| > tolerance``,
so with the default tolerance of zero every cent counts. Open balances per customer compare WORK's
open invoices with QBO's customer ``Balance``, each side without its invoices that are not expected
on the other (so history from before the integration does not show up as a difference). A/R aging
puts each side's open invoices in scope into buckets by days past due as of ``as_of``. A linked
record counts as **changed in QBO after the sync** when its ``LastUpdatedTime`` is after both its
link's ``synced_at`` and the end of the last sync run, each taken to the whole second below
(QBO's timestamps have no fraction), so the sync's own writes are never reported.

Nothing here loops over rows in Python except to format the rows of differences that are reported.
Text is never turned into Python strings for every row: raw texts are compared in Arrow (pandas'
``str`` columns), only the rows that differ raw are trimmed and compared again, and names and
numbers are fetched for the rows that are reported. Sums per customer and per aging bucket are
``bincount`` over row positions, exact in ``int64`` (see :func:`_sum_rows`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

import numpy as np
import pandas as pd

from ..settings import SettingsSource
from .frames import LinkFrames, QboFrames, WorkFrames
from .money import tolerance_cents
from .result import CATEGORIES, ReconResult, Total
from .tieout import ArItems, TieOut, empty_tie_out, tie_out

__all__ = ["AGING_BUCKETS", "DEFAULT_DUE_DAYS", "reconcile"]

#: Aging buckets by days past due: not yet due (0 or less), then 1-30, 31-60, 61-90 and 91 or more.
AGING_BUCKETS: Final = ("current", "1-30", "31-60", "61-90", "91+")
#: Days after its date an invoice without a due date falls due on either side (QBO's Net 30 default).
DEFAULT_DUE_DAYS: Final = 30

_NONE: Final = -1
# where a pair comes from
_LINK, _KEYED, _WORK_ONLY, _QBO_ONLY = 0, 1, 2, 3
# WORK invoice states, in this order so that "live" is "<= _DRAFT"
_OPEN, _DRAFT, _VOID, _DELETED = 0, 1, 2, 3
_STATUS_TEXT: Final = np.array(["open", "draft", "void", "deleted"], dtype=object)
_SECOND: Final = 1_000_000  # microseconds
#: Why a record on one side only is not expected on the other (index: a reason code; 0 = none).
_INVOICE_REASONS: Final = np.array(["", "deleted in WORK before it was sent", "void in WORK, never sent", "a draft",
                                    "dated before the integration date"], dtype=object)
_PAYMENT_REASONS: Final = np.array(["", "deleted in WORK before it was sent", "dated before the integration date",
                                    "its invoice does not go to QBO"], dtype=object)
_NAT: Final = np.iinfo(np.int64).min


# --------------------------------------------------------------------------------------------
# Small vectorised helpers
# --------------------------------------------------------------------------------------------


def _arrow_compute() -> Any:
    """``pyarrow.compute`` when pandas has it (its text columns are then Arrow strings), else None."""
    try:
        import pyarrow.compute as pc
    except ImportError:  # pragma: no cover - pandas without pyarrow keeps text as Python objects
        return None
    return pc


_PC: Final[Any] = _arrow_compute()


class _Lookup:
    """The row position of ids in one column of unique ``int64`` ids; -1 for an id that is absent.

    Database ids are usually dense (a counter), so when the ids span at most a few times their
    number the lookup is a direct table (``table[id - lowest]``: one gather per key, no hashing);
    otherwise it is pandas' hash index."""

    def __init__(self, ids: np.ndarray) -> None:
        ids = ids.astype(np.int64, copy=False)
        self._table: np.ndarray | None = None
        self._hash: pd.Index | None = None
        self._lo = self._hi = 0
        if not len(ids):
            return
        lo, hi = int(ids.min()), int(ids.max())
        if hi - lo < 4 * len(ids) + 1024:
            table = np.full(hi - lo + 1, _NONE, dtype=np.int64)
            table[ids - lo] = np.arange(len(ids), dtype=np.int64)
            self._table, self._lo, self._hi = table, lo, hi
        else:
            self._hash = pd.Index(ids, copy=False)

    def __call__(self, keys: np.ndarray) -> np.ndarray:
        keys = keys.astype(np.int64, copy=False)
        if self._table is not None:
            if not len(keys) or (int(keys.min()) >= self._lo and int(keys.max()) <= self._hi):
                return self._table[keys - self._lo]
            inside = (keys >= self._lo) & (keys <= self._hi)
            out = self._table[np.where(inside, keys - self._lo, 0)]
            out[~inside] = _NONE
            return out
        if self._hash is not None:
            return self._hash.get_indexer(keys).astype(np.int64, copy=False)
        return np.full(len(keys), _NONE, dtype=np.int64)


class _Columns:
    """A frame's columns as numpy arrays, converted once on first use (text as object arrays,
    timestamps as int64 microseconds with NaT as the smallest int64), and lookups on its id
    columns. Text is converted whole only when most rows are wanted: :meth:`text` takes a few rows
    and :meth:`equals` compares without making Python strings."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self._cache: dict[str, np.ndarray] = {}
        self._lookups: dict[str, _Lookup] = {}

    def __len__(self) -> int:
        return len(self.frame)

    def __getitem__(self, column: str) -> np.ndarray:
        if column not in self._cache:
            series = self.frame[column]
            if isinstance(series.dtype, pd.DatetimeTZDtype):
                values = series.to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT")).view(np.int64)
            elif series.dtype == "str":
                values = series.to_numpy(dtype=object)
            else:
                values = series.to_numpy()
            self._cache[column] = values
        return self._cache[column]

    def lookup(self, column: str) -> _Lookup:
        """Row positions by the (unique) ids of ``column``."""
        if column not in self._lookups:
            self._lookups[column] = _Lookup(self[column])
        return self._lookups[column]

    def text(self, column: str, positions: np.ndarray, fill: str = "") -> np.ndarray:
        """The text of ``column`` at ``positions`` (``fill`` where a position is -1), an object array."""
        if column in self._cache or 4 * len(positions) >= len(self.frame):
            return _take(self[column], positions, fill)
        series = self.frame[column]
        missing = positions < 0
        if not missing.any():
            return series.take(positions).to_numpy(dtype=object)
        values = series.take(np.where(missing, 0, positions)).to_numpy(dtype=object)
        values[missing] = fill
        return values

    def equals(self, column: str, value: str) -> np.ndarray:
        """``column == value`` per row (text)."""
        if column in self._cache:
            return np.asarray(self._cache[column] == value, dtype=bool)
        return (self.frame[column] == value).to_numpy(dtype=bool)


def _arrow_text(series: pd.Series) -> Any:
    """The Arrow array behind a text column stored as Arrow strings (no copy), else None."""
    dtype = series.dtype
    if _PC is None or not isinstance(dtype, pd.StringDtype) or dtype.storage != "pyarrow":
        return None
    return series.array.__arrow_array__()


def _unequal_text(w: _Columns, w_column: str, a: np.ndarray, q: _Columns, q_column: str,
                  b: np.ndarray) -> np.ndarray:
    """Per pair, whether WORK's ``w_column`` at ``a`` and QBO's ``q_column`` at ``b`` differ as raw text
    (positions all >= 0). On Arrow strings this compares bytes in Arrow, without Python strings."""
    left, right = _arrow_text(w.frame[w_column]), _arrow_text(q.frame[q_column])
    if left is not None and right is not None and len(a):
        try:
            differs = _PC.fill_null(_PC.not_equal(_PC.take(left, a), _PC.take(right, b)), True)
            return np.asarray(differs.to_numpy(), dtype=bool)
        except (TypeError, ValueError, NotImplementedError):  # pragma: no cover - an unusual Arrow type
            pass
    return np.asarray(w[w_column][a] != q[q_column][b], dtype=bool)


def _take(values: np.ndarray, positions: np.ndarray, fill: Any) -> np.ndarray:
    """``values[positions]`` with ``fill`` where a position is -1."""
    if not len(values):
        return np.full(len(positions), fill, dtype=values.dtype if values.dtype != object else object)
    out = values[positions]  # -1 takes the last row, overwritten below
    missing = positions < 0
    if missing.any():
        out[missing] = fill
    return out


def _via(lookup: _Lookup, ids: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Follow a reference: ``ids`` (one per row of a frame) at ``positions`` (-1: none), looked up
    in another frame with ``lookup``; -1 where there is no row or the id is not there."""
    out = np.full(len(positions), _NONE, dtype=np.int64)
    has = positions >= 0
    out[has] = lookup(ids[positions[has]])
    return out


def _ids(values: np.ndarray, positions: np.ndarray) -> pd.arrays.IntegerArray:
    """Ids at ``positions`` as a nullable ``Int64`` array (missing where a position is -1)."""
    taken = _take(values.astype(np.int64, copy=False), positions, 0)
    return pd.arrays.IntegerArray(taken, positions < 0)


def _text(values: np.ndarray) -> pd.Series:
    return pd.Series(values, dtype="str")


def _dates(values: np.ndarray) -> pd.Series:
    return pd.Series(values, dtype="datetime64[s]")


def _stamps(micros: np.ndarray) -> pd.Series:
    return pd.Series(micros.view("datetime64[us]")).dt.tz_localize("UTC")


def _days(later: np.ndarray, earlier: np.ndarray) -> pd.arrays.IntegerArray:
    """Whole days ``later - earlier`` (datetime64[s] arrays) as ``Int64``; missing where either is NaT."""
    missing = np.isnat(later) | np.isnat(earlier)
    delta = np.where(missing, 0, (later.astype(np.int64) - earlier.astype(np.int64)) // 86_400)
    return pd.arrays.IntegerArray(delta.astype(np.int64), missing)


def _strip(values: np.ndarray, *, fold: bool = False) -> np.ndarray:
    series = pd.Series(values, dtype=object).fillna("").astype(str).str.strip()
    if fold:
        series = series.str.casefold()
    return series.to_numpy(dtype=object)


def _before(days: np.ndarray, limit: date | None) -> np.ndarray:
    """``days < limit`` for a datetime64[s] array (False for NaT, and everywhere without a limit)."""
    if limit is None:
        return np.zeros(len(days), dtype=bool)
    return ~np.isnat(days) & (days < np.datetime64(limit, "s"))


def _names(clients: _Columns, client_rows: np.ndarray, customers: _Columns, customer_rows: np.ndarray) -> np.ndarray:
    """Per row: the WORK client's display name (at ``client_rows``) where there is one, else the QBO
    customer's (at ``customer_rows``); "" where neither is known (a row of -1)."""
    w_names = clients.text("display_name", client_rows, "")
    q_names = customers.text("display_name", customer_rows, "")
    return np.where(w_names != "", w_names, q_names).astype(object)


def _sum_rows(rows: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Exact ``int64`` sums of ``values`` per row number in ``rows`` (-1: counted nowhere), ``size`` of them.

    ``np.bincount`` adds in float64, which is exact while every partial sum stays below 2**53 cents
    (checked: the largest magnitude times the count); beyond that, ``np.add.at`` adds in int64."""
    counted = rows >= 0
    if not counted.all():
        rows, values = rows[counted], values[counted]
    values = values.astype(np.int64, copy=False)
    if not len(values):
        return np.zeros(size, dtype=np.int64)
    if max(-int(values.min()), int(values.max())) * len(values) < 2**53:
        return np.bincount(rows, weights=values, minlength=size).astype(np.int64)
    sums = np.zeros(size, dtype=np.int64)
    np.add.at(sums, rows, values)
    return sums


@dataclass(frozen=True)
class _Data:
    """Every frame of both sides and the id map, as :class:`_Columns` shared by all steps."""

    wc: _Columns
    wi: _Columns
    wp: _Columns
    qc: _Columns
    qi: _Columns
    qp: _Columns
    lc: _Columns
    li: _Columns
    lp: _Columns
    work: WorkFrames
    qbo: QboFrames
    links: LinkFrames

    @classmethod
    def of(cls, work: WorkFrames, qbo: QboFrames, links: LinkFrames) -> _Data:
        return cls(_Columns(work.clients), _Columns(work.invoices), _Columns(work.payments),
                   _Columns(qbo.customers), _Columns(qbo.invoices), _Columns(qbo.payments),
                   _Columns(links.customers), _Columns(links.invoices), _Columns(links.payments),
                   work, qbo, links)


# --------------------------------------------------------------------------------------------
# Pairing
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pairs:
    """Row positions of each pair on each side (-1: none), the link row, and where it came from."""

    w: np.ndarray
    q: np.ndarray
    link: np.ndarray
    source: np.ndarray

    @property
    def both(self) -> np.ndarray:
        return (self.w >= 0) & (self.q >= 0)

    def of(self, source: int) -> np.ndarray:
        return self.source == source


def _pair(
    w: _Columns,
    w_id: str,
    q: _Columns,
    q_id: str,
    links: _Columns,
    *,
    w_key: Callable[[np.ndarray], np.ndarray] | None = None,
    q_key: Callable[[np.ndarray], np.ndarray] | None = None,
    w_keyable: np.ndarray | None = None,
    q_keyable: np.ndarray | None = None,
) -> _Pairs:
    """Pair rows by the id map, then the unlinked ones by a key that is unique on both sides.

    ``w_key(positions)`` / ``q_key(positions)`` give the normalised keys of those rows (computed for
    unlinked rows only, which keeps string work small); ``*_keyable`` masks rows that may pair by key.
    """
    lw = w.lookup(w_id)(links["work_id"])
    lq = q.lookup(q_id)(links["qbo_id"])
    w_all, q_all = not len(lw) or lw.min() >= 0, not len(lq) or lq.min() >= 0  # every link finds its records
    if w_all or q_all:
        kept = np.arange(len(lw), dtype=np.int64)
    else:
        kept = np.flatnonzero((lw >= 0) | (lq >= 0))
        lw, lq = lw[kept], lq[kept]
    w_linked = np.zeros(len(w), dtype=bool)
    w_linked[lw if w_all else lw[lw >= 0]] = True
    q_linked = np.zeros(len(q), dtype=bool)
    q_linked[lq if q_all else lq[lq >= 0]] = True
    w_free = np.flatnonzero(~w_linked)
    q_free = np.flatnonzero(~q_linked)
    kw = kq = np.empty(0, dtype=np.int64)
    if w_key is not None and q_key is not None and len(w_free) and len(q_free):
        wf = w_free if w_keyable is None else w_free[w_keyable[w_free]]
        qf = q_free if q_keyable is None else q_free[q_keyable[q_free]]
        left = pd.DataFrame({"key": w_key(wf), "w": wf})
        right = pd.DataFrame({"key": q_key(qf), "q": qf})
        left = left[(left["key"] != "") & ~left["key"].duplicated(keep=False)]
        right = right[(right["key"] != "") & ~right["key"].duplicated(keep=False)]
        matched = left.merge(right, on="key", how="inner", sort=False)
        if len(matched):
            matched = matched.sort_values("w", kind="stable")
            kw = matched["w"].to_numpy(dtype=np.int64)
            kq = matched["q"].to_numpy(dtype=np.int64)
            w_linked[kw] = True
            q_linked[kq] = True
            w_free = np.flatnonzero(~w_linked)
            q_free = np.flatnonzero(~q_linked)
    none_w = np.full(len(q_free), _NONE, dtype=np.int64)
    none_q = np.full(len(w_free), _NONE, dtype=np.int64)
    return _Pairs(
        w=np.concatenate([lw, kw, w_free, none_w]).astype(np.int64, copy=False),
        q=np.concatenate([lq, kq, none_q, q_free]).astype(np.int64, copy=False),
        link=np.concatenate([kept, np.full(len(kw) + len(w_free) + len(q_free), _NONE)]).astype(np.int64, copy=False),
        source=np.concatenate([
            np.full(len(kept), _LINK), np.full(len(kw), _KEYED), np.full(len(w_free), _WORK_ONLY),
            np.full(len(q_free), _QBO_ONLY),
        ]).astype(np.int8),
    )


def _match_labels(source: np.ndarray, keyed: str) -> pd.Series:
    """``link`` or ``keyed`` (how a pair was found) for the pairs of ``source`` (only rows reported)."""
    return _text(np.where(source == _LINK, "link", keyed).astype(object))


def _differing_text(work: np.ndarray, qbo: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows whose trimmed texts differ, and those trimmed texts. Equal raw texts are equal trimmed,
    so only the rows that differ raw are trimmed (string work stays proportional to differences)."""
    rough = np.flatnonzero(work != qbo)
    w_clean, q_clean = _strip(work[rough]), _strip(qbo[rough])
    keep = w_clean != q_clean
    return rough[keep], w_clean[keep], q_clean[keep]


def _differing(w: _Columns, w_column: str, a: np.ndarray, q: _Columns, q_column: str,
               b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_differing_text` of WORK's ``w_column`` at ``a`` and QBO's ``q_column`` at ``b``, with the
    raw comparison done on the columns themselves (see :func:`_unequal_text`)."""
    rough = np.flatnonzero(_unequal_text(w, w_column, a, q, q_column, b))
    w_clean, q_clean = _strip(w.text(w_column, a[rough])), _strip(q.text(q_column, b[rough]))
    keep = w_clean != q_clean
    return rough[keep], w_clean[keep], q_clean[keep]


def _beyond(delta: np.ndarray, tol: int) -> np.ndarray:
    """Rows where a money difference (whole cents) counts: ``|delta| > tol``."""
    return np.flatnonzero(delta != 0 if tol == 0 else np.abs(delta) > tol)


def _changed(entity: str, pairs: _Pairs, w: _Columns, q: _Columns, links: _Columns,
             last_sync: datetime | None) -> pd.DataFrame:
    """Linked records whose QBO ``last_updated`` is after their link's ``synced_at`` and the last run.

    With a last run, only QBO records updated after its end (to the second) can qualify, so those
    are found first with one comparison over QBO's rows, and only their pairs are looked at."""
    linked = (pairs.source == _LINK) & (pairs.q >= 0)
    if last_sync is None:
        rows = np.flatnonzero(linked)
        updated = _take(q["last_updated"], pairs.q[rows], _NAT)
        synced = _take(links["synced_at"], pairs.link[rows], _NAT)
        floor = np.where(synced == _NAT, _NAT, (synced // _SECOND) * _SECOND)
    else:
        last = int(np.datetime64(last_sync.replace(tzinfo=None), "us").astype(np.int64))
        last_floor = (last // _SECOND) * _SECOND
        recent = q["last_updated"] > last_floor  # NaT is the smallest int64: never recent
        rows = np.flatnonzero(linked & _take(recent, pairs.q, False)) if recent.any() else np.empty(0, np.int64)
        updated = _take(q["last_updated"], pairs.q[rows], _NAT)
        synced = _take(links["synced_at"], pairs.link[rows], _NAT)
        # max(synced, last) to the whole second: the last run's end, except for links written after it
        floor = np.maximum(np.where(synced == _NAT, _NAT, (synced // _SECOND) * _SECOND), last_floor)
    changed = (updated != _NAT) & (floor != _NAT) & (updated > floor)
    pick = rows[changed]
    return pd.DataFrame({
        "entity": _text(np.full(len(pick), entity, dtype=object)),
        "work_id": _ids(w["work_id"], pairs.w[pick]),
        "qbo_id": _ids(q["qbo_id"], pairs.q[pick]),
        "synced_at": _stamps(synced[changed]),
        "last_updated": _stamps(updated[changed]),
    })


# --------------------------------------------------------------------------------------------
# Customers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CustomerOutcome:
    frames: dict[str, pd.DataFrame]
    awaiting: pd.DataFrame
    changed: pd.DataFrame
    paired_work: np.ndarray  # WORK client ids with a QBO partner (link or name) ...
    paired_qbo: np.ndarray  # ... and that partner's QBO id
    partner_known: np.ndarray  # per WORK client row: it has a QBO partner ...
    partner_qbo: np.ndarray  # ... whose QBO id is this (0 where none)
    waiting_clients: np.ndarray  # WORK client ids held in the match preview
    counts: tuple[int, int]  # customers in scope on each side


def _customers(d: _Data, *, default_state: str | None) -> _CustomerOutcome:
    w, q, lk = d.wc, d.qc, d.lc
    pending = d.links.pending_matches
    w_pending = np.isin(w["work_id"], pending["work_id"].to_numpy())
    q_pending = np.isin(q["qbo_id"], pending["qbo_id"].to_numpy())
    pairs = _pair(
        w, "work_id", q, "qbo_id", lk,
        w_key=lambda pos: _strip(w.text("display_name", pos), fold=True),
        q_key=lambda pos: _strip(q.text("display_name", pos), fold=True),
        w_keyable=~w_pending, q_keyable=~q_pending,
    )
    src, pw, pq = pairs.source, pairs.w, pairs.q
    has_w, has_q = pw >= 0, pq >= 0

    # one side only, or linked to a record that is gone (a record whose sync failed is pending instead)
    w_wait = (src == _WORK_ONLY) & _take(w_pending, pw, False)
    q_wait = (src == _QBO_ONLY) & _take(q_pending, pq, False)
    failed_w, failed_q = _failed(d, "customer")
    w_failed = (src == _WORK_ONLY) & _take(np.isin(w["work_id"], failed_w), pw, False)
    q_failed = (src == _QBO_ONLY) & _take(np.isin(q["qbo_id"], failed_q), pq, False)
    unlinked = ((src != _LINK) & ~w_wait & ~q_wait & ~w_failed & ~q_failed) | ((src == _LINK) & ~(has_w & has_q))
    u = np.flatnonzero(unlinked)
    side = np.where(has_w[u] & has_q[u], "both", np.where(has_w[u], "WORK", "QBO")).astype(object)
    link_w = _take(lk["work_id"], pairs.link[u], 0)
    link_q = _take(lk["qbo_id"], pairs.link[u], 0)
    reason = np.select(
        [src[u] == _KEYED, (src[u] == _LINK) & has_w[u], src[u] == _LINK, src[u] == _WORK_ONLY],
        ["same name on both sides, not in the id map",
         pd.Series(link_q, dtype=str).radd("linked to QBO customer ").add(", which QBO does not have").to_numpy(),
         pd.Series(link_w, dtype=str).radd("linked to WORK client ").add(", which WORK does not have").to_numpy(),
         "not in QBO"],
        "not in WORK",
    ).astype(object)
    unlinked_frame = pd.DataFrame({
        "side": _text(side),
        "work_id": _ids(w["work_id"], pw[u]),
        "qbo_id": _ids(q["qbo_id"], pq[u]),
        "name": _text(np.where(has_w[u], w.text("display_name", pw[u]), q.text("display_name", pq[u]))),
        "reason": _text(reason),
    })

    # held in the match preview
    kinds = dict(zip(pending["work_id"].tolist(), pending["kind"].tolist(), strict=False))
    kinds_q = dict(zip(pending["qbo_id"].tolist(), pending["kind"].tolist(), strict=False))
    wait = np.flatnonzero(w_wait | q_wait)
    wait_ids_w = _take(w["work_id"], pw[wait], 0)
    wait_ids_q = _take(q["qbo_id"], pq[wait], 0)
    wait_reason = [
        f"{kinds.get(int(wid)) if pw_ >= 0 else kinds_q.get(int(qid))} match waiting for a decision"
        for wid, qid, pw_ in zip(wait_ids_w, wait_ids_q, pw[wait], strict=True)
    ]
    awaiting = pd.DataFrame({
        "entity": _text(np.full(len(wait), "customer", dtype=object)),
        "work_id": _ids(w["work_id"], pw[wait]),
        "qbo_id": _ids(q["qbo_id"], pq[wait]),
        "label": _text(np.where(pw[wait] >= 0, w.text("display_name", pw[wait]), q.text("display_name", pq[wait]))),
        "reason": _text(np.array(wait_reason, dtype=object)),
    })

    # field differences of pairs
    both = np.flatnonzero(has_w & has_q)
    a, b = pw[both], pq[both]
    fields: list[pd.DataFrame] = []

    def field(name: str, pick: np.ndarray, work_values: np.ndarray, qbo_values: np.ndarray) -> None:
        fields.append(pd.DataFrame({
            "work_id": w["work_id"][a[pick]], "qbo_id": q["qbo_id"][b[pick]],
            "match": _match_labels(src[both][pick], "name").to_numpy(dtype=object),
            "field": np.full(len(pick), name, dtype=object), "work": work_values, "qbo": qbo_values,
        }))

    # the name QBO should have: the one the sync gave it (``qbo_name`` of the link), else WORK's
    renamed = np.flatnonzero(~_take(lk.equals("qbo_name", ""), pairs.link[both], True))
    plain = np.setdiff1d(np.arange(len(both)), renamed, assume_unique=True)
    pick_p, w_p, q_p = _differing(w, "display_name", a[plain], q, "display_name", b[plain])
    pick_r, w_r, q_r = _differing_text(lk.text("qbo_name", pairs.link[both[renamed]]),
                                       q.text("display_name", b[renamed]))
    pick = np.concatenate([plain[pick_p], renamed[pick_r]])
    order = np.argsort(pick, kind="stable")
    field("name", pick[order], np.concatenate([w_p, w_r])[order], np.concatenate([q_p, q_r])[order])
    for name in ("email", "phone"):
        field(name, *_differing(w, name, a, q, name, b))
    pick, w_state, q_state = _differing(w, "billing_state", a, q, "billing_state", b)
    if default_state:
        # the sync fills an empty QBO state with the company's default state in WORK
        keep = ~((q_state == "") & (w_state == default_state.strip()))
        pick, w_state, q_state = pick[keep], w_state[keep], q_state[keep]
    field("billing_state", pick, w_state, q_state)
    # the rest of the billing address, compared in canonical form (country codes, case, spacing)
    pick, _, _ = _differing(w, "billing_key", a, q, "billing_key", b)
    field("billing_address", pick, _strip(w.text("billing_address", a[pick])),
          _strip(q.text("billing_address", b[pick])))
    fields_frame = pd.concat(fields, ignore_index=True)
    fields_frame = fields_frame.astype({"work_id": "int64", "qbo_id": "int64", "match": "str", "field": "str",
                                        "work": "str", "qbo": "str"})
    # within a record, keep the field order above
    order = fields_frame["field"].map({"name": 0, "email": 1, "phone": 2, "billing_state": 3, "billing_address": 4})
    fields_frame = fields_frame.assign(_o=order).sort_values(["work_id", "_o"], kind="stable").drop(columns="_o")

    w_active, q_active = w["active"][a], q["active"][b]
    off = np.flatnonzero(w_active != q_active)
    inactive = pd.DataFrame({
        "work_id": w["work_id"][a[off]], "qbo_id": q["qbo_id"][b[off]], "name": _text(w["display_name"][a[off]]),
        "work_active": w_active[off], "qbo_active": q_active[off],
    })
    partner_known = np.zeros(len(w), dtype=bool)
    partner_known[a] = True
    partner_qbo = np.zeros(len(w), dtype=np.int64)
    partner_qbo[a] = q["qbo_id"][b]
    return _CustomerOutcome(
        frames={"customers_unlinked": unlinked_frame, "customers_fields": fields_frame,
                "customers_inactive_one_side": inactive},
        awaiting=awaiting,
        changed=_changed("customer", pairs, w, q, lk, d.links.last_sync_at),
        paired_work=w["work_id"][a].astype(np.int64),
        paired_qbo=q["qbo_id"][b].astype(np.int64),
        partner_known=partner_known,
        partner_qbo=partner_qbo,
        waiting_clients=w["work_id"][w_pending & ~partner_known].astype(np.int64),
        counts=(int(len(w) - w_wait.sum() - w_failed.sum()), int(len(q) - q_wait.sum() - q_failed.sum())),
    )


# --------------------------------------------------------------------------------------------
# Invoices
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _InvoiceOutcome:
    frames: dict[str, pd.DataFrame]
    changed: pd.DataFrame
    w_in: np.ndarray  # per WORK invoice row: in scope (live, expected in QBO)
    q_in: np.ndarray  # per QBO invoice row: in scope
    w_outside: np.ndarray  # per WORK row: not expected in QBO, waiting, or never sent with its sync failed
    q_outside: np.ndarray  # per QBO row: not expected in WORK
    w_not_expected: np.ndarray  # per WORK row
    w_waiting: np.ndarray  # per WORK row
    w_state: np.ndarray
    w_client_rows: np.ndarray  # per WORK row: its client's row in WORK's clients (-1 if unknown)
    w_paired: np.ndarray  # per WORK row: it has a QBO partner ...
    w_partner: np.ndarray  # ... whose QBO id is this (0 where none)


def _invoices(d: _Data, customers: _CustomerOutcome, *, integration_date: date | None, tol: int) -> _InvoiceOutcome:
    w, q, lk = d.wi, d.qi, d.li
    pairs = _pair(
        w, "work_id", q, "qbo_id", lk,
        w_key=lambda pos: _strip(w.text("number", pos)), q_key=lambda pos: _strip(q.text("doc_number", pos)),
    )
    src, pw, pq = pairs.source, pairs.w, pairs.q
    n_pairs = len(src)
    has_w, has_q = pw >= 0, pq >= 0
    is_link = src == _LINK
    # WORK state per row: deleted wins over void, void over draft
    w_state = np.where(w.equals("status", "draft"), _DRAFT, _OPEN).astype(np.int8)
    w_state[w.equals("status", "void")] = _VOID
    w_state[w["deleted"]] = _DELETED
    ws = _take(w_state, pw, _DELETED)
    qv = _take(q["voided"], pq, False)
    both = has_w & has_q
    live = both & (ws <= _DRAFT) & ~qv
    w_client_rows = d.wc.lookup("work_id")(w["client_id"])  # per WORK invoice row
    q_customer = d.qc.lookup("qbo_id")

    def customer(rows: np.ndarray) -> np.ndarray:
        """The ``customer`` column for the pairs ``rows`` (names are looked up for reported rows only)."""
        return _names(d.wc, _take(w_client_rows, pw[rows], _NONE),
                      d.qc, _via(q_customer, q["customer_qbo_id"], pq[rows]))

    frames: dict[str, pd.DataFrame] = {}

    # -- status on one side only: void or deleted in one place, not the other
    gone_in_qbo = is_link & has_w & ~has_q & (ws != _DELETED)
    one_side = np.flatnonzero((both & ~live & ~((ws == _VOID) & qv)) | gone_in_qbo)
    frames["invoices_void_or_deleted"] = pd.DataFrame({
        "work_id": _ids(w["work_id"], pw[one_side]),
        "qbo_id": pd.arrays.IntegerArray(
            np.where(has_q[one_side], _take(q["qbo_id"], pq[one_side], 0), _take(lk["qbo_id"], pairs.link[one_side], 0))
            .astype(np.int64), np.zeros(len(one_side), dtype=bool)),
        "number": _text(w.text("number", pw[one_side])),
        "customer": _text(customer(one_side)),
        "work_status": _text(_STATUS_TEXT[ws[one_side]]),
        "qbo_status": _text(np.where(~has_q[one_side], "deleted", np.where(qv[one_side], "void", "open"))
                            .astype(object)),
    })

    # -- WORK only: not expected, waiting for its client, or missing in QBO (worked out on those rows only)
    wo_rows = np.flatnonzero(src == _WORK_ONLY)
    wo_w = pw[wo_rows]
    wo_state = w_state[wo_w]
    wo_reason = np.select([wo_state == _DELETED, wo_state == _VOID, wo_state == _DRAFT,
                           _before(w["issue_date"][wo_w], integration_date)], [1, 2, 3, 4], 0).astype(np.int8)
    wo_waiting = (wo_reason == 0) & np.isin(w["client_id"][wo_w], customers.waiting_clients)
    reason_w = np.zeros(n_pairs, dtype=np.int8)
    reason_w[wo_rows] = wo_reason
    not_expected_w = reason_w > 0
    waiting = np.zeros(n_pairs, dtype=bool)
    waiting[wo_rows] = wo_waiting
    wo_failed = np.isin(w["work_id"][wo_w], _failed(d, "invoice")[0])
    missing_q = wo_rows[(wo_reason == 0) & ~wo_waiting & ~wo_failed]
    rows_w = pw[missing_q]
    frames["invoices_missing_in_qbo"] = pd.DataFrame({
        "work_id": w["work_id"][rows_w],
        "number": _text(w.text("number", rows_w)),
        "client_id": w["client_id"][rows_w],
        "customer": _text(customer(missing_q)),
        "date": _dates(w["issue_date"][rows_w]),
        "total_cents": w["total_cents"][rows_w],
        "balance_cents": w["balance_cents"][rows_w],
        "reason": _text(np.where(np.isin(w["client_id"][rows_w], customers.paired_work), "not in QBO",
                                 "not in QBO; its client is not in QBO either").astype(object)),
    })

    # -- QBO only (or linked to a WORK invoice that is gone)
    qo_rows = np.flatnonzero(src == _QBO_ONLY)
    qo_early = _before(q["txn_date"][pq[qo_rows]], integration_date)
    not_expected_q = np.zeros(n_pairs, dtype=bool)
    not_expected_q[qo_rows[qo_early]] = True
    orphan = is_link & has_q & ~has_w
    missing_w = np.union1d(qo_rows[~qo_early], np.flatnonzero(orphan))
    rows_q = pq[missing_w]
    link_w = _take(lk["work_id"], pairs.link[missing_w], 0)
    frames["invoices_missing_in_work"] = pd.DataFrame({
        "qbo_id": q["qbo_id"][rows_q],
        "work_id": pd.arrays.IntegerArray(link_w.astype(np.int64), ~orphan[missing_w]),
        "doc_number": _text(q.text("doc_number", rows_q)),
        "customer_qbo_id": q["customer_qbo_id"][rows_q],
        "customer": _text(customer(missing_w)),
        "date": _dates(q["txn_date"][rows_q]),
        "total_cents": q["total_cents"][rows_q],
        "balance_cents": q["balance_cents"][rows_q],
        "reason": _text(np.where(orphan[missing_w],
                                 pd.Series(link_w, dtype=str).radd("linked to WORK invoice ")
                                 .add(", which WORK does not have").to_numpy(),
                                 np.where(qv[missing_w], "void in QBO; not in WORK", "not in WORK")).astype(object)),
    })

    # -- not expected on the other side (information)
    ne = np.flatnonzero(not_expected_w | not_expected_q)
    ne_w = has_w[ne]
    frames["invoices_not_expected"] = pd.DataFrame({
        "side": _text(np.where(ne_w, "WORK", "QBO").astype(object)),
        "work_id": _ids(w["work_id"], pw[ne]),
        "qbo_id": _ids(q["qbo_id"], pq[ne]),
        "number": _text(np.where(ne_w, w.text("number", pw[ne]), q.text("doc_number", pq[ne]))),
        "customer": _text(customer(ne)),
        "date": _dates(np.where(ne_w, _take(w["issue_date"], pw[ne], np.datetime64("NaT")),
                                _take(q["txn_date"], pq[ne], np.datetime64("NaT")))),
        "total_cents": np.where(ne_w, _take(w["total_cents"], pw[ne], 0), _take(q["total_cents"], pq[ne], 0)),
        "reason": _text(np.where(ne_w, _INVOICE_REASONS[reason_w[ne]] + ": not expected in QBO",
                                 "dated before the integration date: not expected in WORK").astype(object)),
    })
    # -- field by field, for live pairs
    i = np.flatnonzero(live)
    a, b = pw[i], pq[i]
    source = src[i]

    def head(m: np.ndarray) -> dict[str, Any]:
        """The columns every field frame starts with, for the pairs ``m``."""
        return {"work_id": w["work_id"][a[m]], "qbo_id": q["qbo_id"][b[m]], "number": _text(w.text("number", a[m])),
                "customer": _text(customer(i[m])), "match": _match_labels(source[m], "number")}

    for name, w_col, q_col in (("invoices_total", "total_cents", "total_cents"),
                               ("invoices_tax", "tax_cents", "tax_cents"),
                               ("invoices_balance", "balance_cents", "balance_cents")):
        wv, qv_ = w[w_col][a], q[q_col][b]
        delta = qv_ - wv
        m = _beyond(delta, tol)
        frames[name] = pd.DataFrame({**head(m), "work_cents": wv[m], "qbo_cents": qv_[m], "difference_cents": delta[m]})
    for name, w_col, q_col in (("invoices_date", "issue_date", "txn_date"),
                               ("invoices_due_date", "due_date", "due_date")):
        wd, qd = w[w_col][a], q[q_col][b]
        # as int64 (NaT the smallest): a WORK date that is set and differs, a missing QBO one included
        wdi = wd.view(np.int64)
        m = np.flatnonzero((wdi != qd.view(np.int64)) & (wdi != _NAT))
        frames[name] = pd.DataFrame({**head(m), "work_date": _dates(wd[m]), "qbo_date": _dates(qd[m]),
                                     "difference_days": _days(qd[m], wd[m])})
    client_rows = w_client_rows[a]
    known = _take(customers.partner_known, client_rows, False)
    expected = _take(customers.partner_qbo, client_rows, 0)
    actual = q["customer_qbo_id"][b]
    m = np.flatnonzero(~known | (expected != actual))
    frames["invoices_customer"] = pd.DataFrame({
        **head(m), "work_client_id": w["client_id"][a[m]],
        "expected_qbo_customer": pd.arrays.IntegerArray(expected[m].astype(np.int64), ~known[m]),
        "qbo_customer": actual[m],
    })
    linked = np.flatnonzero(both & is_link)
    rough = np.flatnonzero(_unequal_text(w, "number", pw[linked], q, "doc_number", pq[linked]))
    wn, qn = w.text("number", pw[linked[rough]]), q.text("doc_number", pq[linked[rough]])
    keep = _strip(wn) != _strip(qn)
    pick = linked[rough[keep]]
    frames["invoices_number"] = pd.DataFrame({
        "work_id": w["work_id"][pw[pick]], "qbo_id": q["qbo_id"][pq[pick]], "customer": _text(customer(pick)),
        "match": _text(np.full(len(pick), "link", dtype=object)),
        "work_number": _text(wn[keep]), "qbo_number": _text(qn[keep]),
    })

    # -- scope flags per row, for totals, balances and aging
    w_not_expected = np.zeros(len(w), dtype=bool)
    w_not_expected[wo_w[wo_reason > 0]] = True
    w_waiting = np.zeros(len(w), dtype=bool)
    w_waiting[wo_w[wo_waiting]] = True
    w_failed = np.zeros(len(w), dtype=bool)  # never sent, its sync failed: pending, out of totals and aging
    w_failed[wo_w[(wo_reason == 0) & ~wo_waiting & wo_failed]] = True
    w_outside = w_not_expected | w_waiting | w_failed
    q_outside = np.zeros(len(q), dtype=bool)
    q_outside[pq[qo_rows[qo_early]]] = True
    paired = np.flatnonzero(both)
    w_paired = np.zeros(len(w), dtype=bool)
    w_paired[pw[paired]] = True
    w_partner = np.zeros(len(w), dtype=np.int64)
    w_partner[pw[paired]] = q["qbo_id"][pq[paired]]
    return _InvoiceOutcome(
        frames=frames,
        changed=_changed("invoice", pairs, w, q, lk, d.links.last_sync_at),
        w_in=(w_state <= _DRAFT) & ~w_outside,
        q_in=~q["voided"].astype(bool) & ~q_outside,
        w_outside=w_outside,
        q_outside=q_outside,
        w_not_expected=w_not_expected,
        w_waiting=w_waiting,
        w_state=w_state,
        w_client_rows=w_client_rows,
        w_paired=w_paired,
        w_partner=w_partner,
    )


# --------------------------------------------------------------------------------------------
# Payments
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PaymentOutcome:
    frames: dict[str, pd.DataFrame]
    changed: pd.DataFrame
    totals: tuple[Total, Total]
    w_waiting: np.ndarray  # per WORK payment row: its invoice's client waits for a match decision


def _payments(d: _Data, invoices: _InvoiceOutcome, *, integration_date: date | None, tol: int) -> _PaymentOutcome:
    w, q, lk, wi = d.wp, d.qp, d.lp, d.wi
    pairs = _pair(w, "work_id", q, "qbo_id", lk)
    src, pw, pq = pairs.source, pairs.w, pairs.q
    has_w, has_q = pw >= 0, pq >= 0
    deleted = _take(w["deleted"], pw, True)
    frames: dict[str, pd.DataFrame] = {}

    # the invoice each WORK payment pays: its row in WORK, and its QBO partner
    inv_pos = np.where(has_w, wi.lookup("work_id")(_take(w["invoice_id"], pw, 0)), _NONE)
    partner_known = _take(invoices.w_paired, inv_pos, False)
    expected_invoice = np.where(partner_known, _take(invoices.w_partner, inv_pos, 0), 0)
    q_customer = d.qc.lookup("qbo_id")

    def customer(rows: np.ndarray) -> np.ndarray:
        """The ``customer`` column for the pairs ``rows``: the client of the WORK payment's invoice, else
        the QBO payment's customer."""
        return _names(d.wc, _take(invoices.w_client_rows, inv_pos[rows], _NONE),
                      d.qc, _via(q_customer, q["customer_qbo_id"], pq[rows]))

    # what each QBO payment's lines apply to
    lines = d.qbo.payment_lines
    line_pos = q.lookup("qbo_id")(lines["payment_qbo_id"].to_numpy(dtype=np.int64))
    counted = line_pos >= 0
    on, line_invoice = line_pos[counted], lines["invoice_qbo_id"].to_numpy(dtype=np.int64)[counted]
    lo = np.full(len(q), np.iinfo(np.int64).max, dtype=np.int64)
    hi = np.full(len(q), np.iinfo(np.int64).min, dtype=np.int64)
    np.minimum.at(lo, on, line_invoice)
    np.maximum.at(hi, on, line_invoice)
    applied = _sum_rows(line_pos, lines["amount_cents"].to_numpy(dtype=np.int64), len(q))
    without = np.bincount(on, minlength=len(q)) == 0
    lo[without] = _NONE
    hi[without] = _NONE

    # -- WORK only: not expected, waiting, or missing in QBO
    wo = src == _WORK_ONLY
    w_date = _take(w["date"], pw, np.datetime64("NaT"))
    inv_not_expected = _take(invoices.w_not_expected, inv_pos, False)
    inv_waiting = _take(invoices.w_waiting, inv_pos, False)
    reason_w = np.select([deleted, _before(w_date, integration_date), inv_not_expected], [1, 2, 3], 0)
    not_expected_w = wo & (reason_w > 0)
    waiting = wo & ~not_expected_w & inv_waiting
    gone_in_qbo = (src == _LINK) & has_w & ~has_q & ~deleted
    failed = has_w & _take(np.isin(w["work_id"], _failed(d, "payment")[0]), pw, False)
    missing_q = np.flatnonzero(((wo & ~not_expected_w & ~waiting) | gone_in_qbo) & ~failed)
    link_q = _take(lk["qbo_id"], pairs.link[missing_q], 0)
    frames["payments_missing_in_qbo"] = pd.DataFrame({
        "work_id": w["work_id"][pw[missing_q]],
        "qbo_id": pd.arrays.IntegerArray(link_q.astype(np.int64), ~gone_in_qbo[missing_q]),
        "invoice_id": w["invoice_id"][pw[missing_q]],
        "customer": _text(customer(missing_q)),
        "date": _dates(w["date"][pw[missing_q]]),
        "amount_cents": w["amount_cents"][pw[missing_q]],
        "reason": _text(np.where(gone_in_qbo[missing_q], "deleted in QBO",
                                 np.where(partner_known[missing_q], "not in QBO",
                                          "not in QBO; its invoice is not in QBO either")).astype(object)),
    })

    # -- QBO only, linked to a WORK payment that is gone, or deleted in WORK and still in QBO
    qo = src == _QBO_ONLY
    q_date = _take(q["txn_date"], pq, np.datetime64("NaT"))
    not_expected_q = qo & _before(q_date, integration_date)
    orphan = (src == _LINK) & has_q & ~has_w
    deleted_in_work = has_w & has_q & deleted
    missing_w = np.flatnonzero((qo & ~not_expected_q) | orphan | deleted_in_work)
    link_w = _take(lk["work_id"], pairs.link[missing_w], 0)
    frames["payments_missing_in_work"] = pd.DataFrame({
        "qbo_id": q["qbo_id"][pq[missing_w]],
        "work_id": pd.arrays.IntegerArray(link_w.astype(np.int64), src[missing_w] != _LINK),
        "customer_qbo_id": q["customer_qbo_id"][pq[missing_w]],
        "customer": _text(customer(missing_w)),
        "date": _dates(q["txn_date"][pq[missing_w]]),
        "amount_cents": q["total_cents"][pq[missing_w]],
        "reason": _text(np.select(
            [orphan[missing_w], deleted_in_work[missing_w]],
            [pd.Series(link_w, dtype=str).radd("linked to WORK payment ").add(", which WORK does not have")
             .to_numpy(dtype=object), "deleted in WORK, still in QBO"],
            "not in WORK").astype(object)),
    })

    ne = np.flatnonzero(not_expected_w | not_expected_q)
    ne_w = has_w[ne]
    frames["payments_not_expected"] = pd.DataFrame({
        "side": _text(np.where(ne_w, "WORK", "QBO").astype(object)),
        "work_id": _ids(w["work_id"], pw[ne]),
        "qbo_id": _ids(q["qbo_id"], pq[ne]),
        "invoice_id": _ids(w["invoice_id"], pw[ne]),
        "customer": _text(customer(ne)),
        "date": _dates(np.where(ne_w, w_date[ne], q_date[ne])),
        "amount_cents": np.where(ne_w, _take(w["amount_cents"], pw[ne], 0), _take(q["total_cents"], pq[ne], 0)),
        "reason": _text(np.where(ne_w, _PAYMENT_REASONS[reason_w[ne]] + ": not expected in QBO",
                                 "dated before the integration date: not expected in WORK").astype(object)),
    })

    # -- live pairs, field by field
    i = np.flatnonzero(has_w & has_q & ~deleted)
    a, b = pw[i], pq[i]
    wv, qv = w["amount_cents"][a], q["total_cents"][b]
    delta = qv - wv
    m = _beyond(delta, tol)
    frames["payments_amount"] = pd.DataFrame({
        "work_id": w["work_id"][a[m]], "qbo_id": q["qbo_id"][b[m]], "customer": _text(customer(i[m])),
        "work_cents": wv[m], "qbo_cents": qv[m], "difference_cents": delta[m],
    })
    wd, qd = w["date"][a], q["txn_date"][b]
    m = np.flatnonzero(np.isnat(qd) | (wd != qd))
    frames["payments_date"] = pd.DataFrame({
        "work_id": w["work_id"][a[m]], "qbo_id": q["qbo_id"][b[m]], "customer": _text(customer(i[m])),
        "work_date": _dates(wd[m]), "qbo_date": _dates(qd[m]), "difference_days": _days(qd[m], wd[m]),
    })
    expected = expected_invoice[i]
    known = partner_known[i]
    m = np.flatnonzero(~known | (lo[b] != expected) | (hi[b] != expected))
    rows = b[m]
    applied_to = lines.assign(_p=line_pos).loc[np.isin(line_pos, rows)]
    listed = (applied_to.groupby("_p")["invoice_qbo_id"]
              .agg(lambda ids: ", ".join(str(x) for x in sorted(set(ids.tolist())))) if len(applied_to)
              else pd.Series(dtype=object))
    frames["payments_applied_to"] = pd.DataFrame({
        "work_id": w["work_id"][a[m]], "qbo_id": q["qbo_id"][rows], "customer": _text(customer(i[m])),
        "work_invoice_id": w["invoice_id"][a[m]],
        "expected_qbo_invoice": pd.arrays.IntegerArray(expected[m].astype(np.int64), ~known[m]),
        "qbo_invoices": _text(listed.reindex(rows).fillna("").to_numpy(dtype=object)),
        "qbo_applied_cents": applied[rows],
    })

    # -- QBO payments with money not applied to an invoice (in scope)
    q_outside = np.zeros(len(q), dtype=bool)
    q_outside[pq[not_expected_q]] = True
    partner_w = np.full(len(q), _NONE, dtype=np.int64)
    partner_w[pq[has_q & has_w]] = pw[has_q & has_w]
    pair_of_q = np.full(len(q), _NONE, dtype=np.int64)  # per QBO row: its pair
    pair_of_q[pq[has_q]] = np.flatnonzero(has_q)
    m = np.flatnonzero((q["unapplied_cents"] > tol) & ~q_outside)
    unapplied_customer = np.full(len(m), "", dtype=object)
    with_pair = pair_of_q[m] >= 0
    unapplied_customer[with_pair] = customer(pair_of_q[m][with_pair])
    frames["payments_unapplied"] = pd.DataFrame({
        "qbo_id": q["qbo_id"][m], "work_id": _ids(w["work_id"], partner_w[m]),
        "customer_qbo_id": q["customer_qbo_id"][m], "customer": _text(unapplied_customer),
        "date": _dates(q["txn_date"][m]),
        "amount_cents": q["total_cents"][m], "unapplied_cents": q["unapplied_cents"][m],
    })

    w_outside = np.zeros(len(w), dtype=bool)
    w_outside[pw[not_expected_w | waiting | (wo & failed)]] = True
    w_in = ~w["deleted"].astype(bool) & ~w_outside
    q_in = ~q_outside
    totals = (
        Total("payments", "Payments", "count", int(w_in.sum()), int(q_in.sum())),
        Total("payment_amount", "Payments received", "money", int(w["amount_cents"][w_in].sum()),
              int(q["total_cents"][q_in].sum())),
    )
    w_waiting = np.zeros(len(w), dtype=bool)
    w_waiting[pw[waiting]] = True
    return _PaymentOutcome(frames, _changed("payment", pairs, w, q, lk, d.links.last_sync_at), totals, w_waiting)


# --------------------------------------------------------------------------------------------
# Pending: waiting for a match decision, or an open sync failure
# --------------------------------------------------------------------------------------------


def _failed(d: _Data, entity: str) -> tuple[np.ndarray, np.ndarray]:
    """The WORK ids of ``entity`` with an open sync failure, and the QBO ids of failures that name no
    WORK record (a QBO record the sync could not bring to WORK)."""
    failures = d.links.failures
    mine = failures.loc[failures["entity"] == entity]
    work_ids = mine["work_id"].dropna().to_numpy(dtype=np.int64)
    qbo_ids = mine.loc[mine["work_id"].isna(), "qbo_id"].dropna().to_numpy(dtype=np.int64)
    return work_ids, qbo_ids


_PENDING_COLUMNS: Final = ("status", "entity", "work_id", "qbo_id", "number", "customer", "date", "amount_cents",
                           "reason")


def _pending_frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(rows, columns=list(_PENDING_COLUMNS))
    return frame.astype({"status": "str", "entity": "str", "work_id": "Int64", "qbo_id": "Int64", "number": "str",
                         "customer": "str", "date": "datetime64[s]", "amount_cents": "Int64", "reason": "str"})



def _waiting_frame(entity: str, work_ids: Any, numbers: Any, customers: Any, dates: Any, amounts: Any,
                   reasons: Any) -> pd.DataFrame:
    """Pending rows of one entity waiting for its client's match decision (the ``pending`` columns)."""
    n = len(work_ids)
    return pd.DataFrame({
        "status": _text(np.full(n, "waiting_match", dtype=object)),
        "entity": _text(np.full(n, entity, dtype=object)),
        "work_id": pd.array(work_ids, dtype="Int64"),
        "qbo_id": pd.array([pd.NA] * n, dtype="Int64"),
        "number": _text(numbers),
        "customer": _text(customers),
        "date": dates,
        "amount_cents": pd.array(amounts, dtype="Int64"),
        "reason": _text(reasons),
    })

def _pending(d: _Data, customers: _CustomerOutcome, invoices: _InvoiceOutcome,
             payments: _PaymentOutcome) -> pd.DataFrame:
    """Records WORK and QBO cannot agree on yet, one row each (see the module docstring): customers
    held in the match preview with their WORK invoices and payments (``waiting_match``), and records
    with an open sync failure (``sync_failed``, the sync's sentences as the reason). A record that
    both waits and failed (the sync fails the invoices of a held client: "its client is not in
    QuickBooks yet") is listed once, as waiting: the decision is what a person must do first. Only
    the rows listed are looked at one by one."""
    wc, qc, wi, wp = d.wc, d.qc, d.wi, d.wp
    client_at, customer_at = wc.lookup("work_id"), qc.lookup("qbo_id")
    invoice_at, payment_at = wi.lookup("work_id"), wp.lookup("work_id")
    nat = np.datetime64("NaT", "s")

    def one(lookup: _Lookup, key: Any) -> int:
        return -1 if key is None or key is pd.NA else int(lookup(np.array([int(key)], dtype=np.int64))[0])

    def client_name(work_id: Any) -> str:
        row = one(client_at, work_id)
        return str(wc["display_name"][row]) if row >= 0 else ""

    def customer_name(qbo_id: Any) -> str:
        row = one(customer_at, qbo_id)
        return str(qc["display_name"][row]) if row >= 0 else ""

    def invoice(work_id: Any) -> tuple[str, str, Any, Any]:
        row = one(invoice_at, work_id)
        if row < 0:
            return "", "", nat, pd.NA
        return (str(wi["number"][row]), client_name(wi["client_id"][row]), wi["issue_date"][row],
                int(wi["total_cents"][row]))

    notes, refunds, apps = _Columns(d.work.credit_notes), _Columns(d.work.refunds), _Columns(d.work.credit_applications)

    def credit_note(work_id: Any) -> tuple[str, str, Any, Any]:
        row = one(notes.lookup("work_id"), work_id)
        if row < 0:
            return "", "", nat, pd.NA
        return (str(notes["number"][row]), client_name(notes["client_id"][row]), notes["date"][row],
                int(notes["total_cents"][row]))

    def refund(work_id: Any) -> tuple[str, str, Any, Any]:
        row = one(refunds.lookup("work_id"), work_id)
        if row < 0:
            return "", "", nat, pd.NA
        return "", client_name(refunds["client_id"][row]), refunds["date"][row], int(refunds["total_cents"][row])

    def credit_applied(work_id: Any) -> tuple[str, str, Any, Any]:
        row = one(apps.lookup("work_id"), work_id)
        if row < 0:
            return "", "", nat, pd.NA
        number, name, _, _ = invoice(apps["invoice_id"][row])
        return number, name, apps["date"][row], int(apps["amount_cents"][row])

    def payment(work_id: Any) -> tuple[str, str, Any, Any]:
        row = one(payment_at, work_id)
        if row < 0:
            return "", "", nat, pd.NA
        number, name, _, _ = invoice(wp["invoice_id"][row])
        return number, name, wp["date"][row], int(wp["amount_cents"][row])

    rows: list[tuple[Any, ...]] = []

    # -- open sync failures, one row per record with its sentences
    failures = d.links.failures
    if len(failures):
        keyed = failures.assign(_key=failures["work_id"].astype("string").fillna("q" + failures["qbo_id"]
                                                                                  .astype("string").fillna("")))
        for (entity, _), group in keyed.groupby(["entity", "_key"], sort=False):
            work_id = group["work_id"].iloc[0]
            qbo_ids = group["qbo_id"].dropna()
            qbo_id = qbo_ids.iloc[0] if len(qbo_ids) else pd.NA
            messages = list(dict.fromkeys(m for m in group["message"].tolist() if m)) or ["the sync failed"]
            reason = "sync failed: " + "; ".join(messages)
            if entity == "customer":
                name = client_name(work_id) if work_id is not pd.NA else customer_name(qbo_id)
                rows.append(("sync_failed", "customer", work_id, qbo_id, "", name, nat, pd.NA, reason))
            else:
                number, name, when, amount = {"invoice": invoice, "payment": payment, "credit_note": credit_note,
                                              "refund": refund, "credit_applied": credit_applied}.get(
                    str(entity), payment)(work_id)
                rows.append(("sync_failed", entity, work_id, qbo_id, number, name, when, amount, reason))
    # -- held in the match preview: the WORK clients (with their candidates) and QBO customers
    matches = d.links.pending_matches
    candidates: dict[int, list[tuple[int, str]]] = {}
    for work_id, qbo_id, kind in matches[["work_id", "qbo_id", "kind"]].itertuples(index=False, name=None):
        candidates.setdefault(int(work_id), []).append((int(qbo_id), str(kind)))
    held = customers.awaiting
    listed_work = {int(w) for w in held["work_id"].dropna()}
    covered = {qbo_id for work_id in listed_work for qbo_id, _ in candidates.get(work_id, ())}
    for work_id, qbo_id, label, why in held[["work_id", "qbo_id", "label", "reason"]].itertuples(index=False,
                                                                                                 name=None):
        if work_id is not pd.NA:
            found = candidates.get(int(work_id), [])
            named = ", ".join(f"{customer_name(q) or '(not in QBO)'} ({q})" for q, _ in found)
            kind = found[0][1] if found else "weak"
            reason = (f"{kind} match with QBO customer{'s' if len(found) > 1 else ''} {named}: decide the match "
                      "(accept one, or reject) in the app" if found else why)
            single = found[0][0] if len(found) == 1 else pd.NA
            rows.append(("waiting_match", "customer", work_id, single, "", label, nat, pd.NA, reason))
        elif int(qbo_id) not in covered:
            rows.append(("waiting_match", "customer", pd.NA, qbo_id, "", label, nat, pd.NA,
                         f"QBO candidate in a {why}"))

    # -- the WORK invoices and payments of held clients (vectorised: there may be many)
    inv_rows = np.flatnonzero(invoices.w_waiting)
    inv_clients = invoices.w_client_rows[inv_rows]
    pay_rows = np.flatnonzero(payments.w_waiting)
    pay_invoices = invoice_at(wp["invoice_id"][pay_rows])
    pay_clients = _take(invoices.w_client_rows, pay_invoices, _NONE)
    waiting = [
        _pending_frame(rows),
        _waiting_frame("invoice", wi["work_id"][inv_rows], wi.text("number", inv_rows),
                       wc.text("display_name", inv_clients), _dates(wi["issue_date"][inv_rows]),
                       wi["total_cents"][inv_rows],
                       np.full(len(inv_rows), "not sent: its client is held in the match preview until the match "
                               "is decided", dtype=object)),
        _waiting_frame("payment", wp["work_id"][pay_rows], wi.text("number", pay_invoices),
                       wc.text("display_name", pay_clients), _dates(wp["date"][pay_rows]),
                       wp["amount_cents"][pay_rows],
                       pd.Series(wi.text("number", pay_invoices), dtype=object).radd("not sent: on invoice ")
                       .add(", whose client is held in the match preview until the match is decided")
                       .to_numpy(dtype=object)),
    ]
    frame = pd.concat([w for w in waiting if len(w)] or [waiting[0]], ignore_index=True)
    if len(frame):
        waits = frame.loc[frame["status"] == "waiting_match"]
        held_keys = set(zip(waits["entity"], waits["work_id"].astype("Int64").fillna(-1).astype("int64"),
                            strict=True))
        keys = zip(frame["entity"], frame["work_id"].astype("Int64").fillna(-1).astype("int64"), strict=True)
        twice = np.array([(e, i) in held_keys and i >= 0 for e, i in keys], dtype=bool)
        frame = frame.loc[~(twice & (frame["status"] == "sync_failed").to_numpy())]
    order = frame["status"].map({"waiting_match": 0, "sync_failed": 1}).fillna(2)
    return (frame.assign(_o=order).sort_values(["_o", "entity", "work_id", "qbo_id"], kind="stable",
                                               na_position="last")
            .drop(columns="_o").reset_index(drop=True))


# --------------------------------------------------------------------------------------------
# Balances and aging
# --------------------------------------------------------------------------------------------


def _balances(d: _Data, customers: _CustomerOutcome, invoices: _InvoiceOutcome, credits: _CreditOutcome, *,
              tol: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every paired customer's open balance on both sides (the table), and those that differ.
    Sums are per client (customer) row: each invoice adds to its client's row, in exact int64.
    Unapplied credit (WORK's credit notes not yet applied, QBO's credit memos' Balance) lowers the
    open balance on each side, as QBO's customer Balance counts it."""
    wi, qi, wc, qc = d.wi, d.qi, d.wc, d.qc
    work_ids, qbo_ids = customers.paired_work, customers.paired_qbo
    w_pos = wc.lookup("work_id")(work_ids)
    q_pos = qc.lookup("qbo_id")(qbo_ids)
    open_rows = invoices.w_state <= _DRAFT
    client_rows = np.where(open_rows, invoices.w_client_rows, _NONE)
    balance = wi["balance_cents"]
    note_clients = wc.lookup("work_id")(d.work.credit_notes["client_id"].to_numpy(dtype=np.int64))
    unapplied = _sum_rows(note_clients, credits.w_unapplied, len(wc))
    work_open = (_sum_rows(client_rows, balance, len(wc)) - unapplied)[w_pos]
    outside = np.flatnonzero(open_rows & invoices.w_outside)
    work_outside = _sum_rows(client_rows[outside], balance[outside], len(wc))[w_pos]
    qbo_balance = _take(qc["balance_cents"], q_pos, 0).astype(np.int64)
    q_out = np.flatnonzero(invoices.q_outside)
    qbo_outside = _sum_rows(qc.lookup("qbo_id")(qi["customer_qbo_id"][q_out]), qi["balance_cents"][q_out],
                            len(qc))[q_pos]
    memos = d.qbo.credit_memos
    m_out = np.flatnonzero(credits.q_outside)
    qbo_outside = qbo_outside - _sum_rows(qc.lookup("qbo_id")(memos["customer_qbo_id"].to_numpy(dtype=np.int64)[m_out]),
                                          memos["balance_cents"].to_numpy(dtype=np.int64)[m_out], len(qc))[q_pos]
    difference = (qbo_balance - qbo_outside) - (work_open - work_outside)
    table = pd.DataFrame({
        "work_id": work_ids, "qbo_id": qbo_ids, "name": _text(_take(wc["display_name"], w_pos, "")),
        "work_open_cents": work_open, "work_outside_cents": work_outside, "qbo_balance_cents": qbo_balance,
        "qbo_outside_cents": qbo_outside, "difference_cents": difference,
    }).sort_values("work_id", kind="stable", ignore_index=True)
    differs = table.loc[table["difference_cents"].abs() > tol].reset_index(drop=True)
    return table, differs


def _buckets(due: np.ndarray, as_of: date) -> np.ndarray:
    """Bucket index (see :data:`AGING_BUCKETS`) for each due date (datetime64[s]): the number of the
    limits 0, 30, 60 and 90 that the days past due exceed (``days > k`` is ``seconds >= (k + 1) days``)."""
    late = np.datetime64(as_of, "s").astype(np.int64) - due.astype(np.int64)  # seconds past due
    bucket = np.zeros(len(due), dtype=np.int8)
    for limit in (0, 30, 60, 90):
        bucket += late >= (limit + 1) * 86_400
    return bucket


def _aging(d: _Data, invoices: _InvoiceOutcome, *, as_of: date, due_days: int,
           tol: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Open amounts per bucket on both sides (the table), and the buckets that differ."""
    offset = np.timedelta64(due_days * 86_400, "s")
    sides: list[tuple[np.ndarray, np.ndarray]] = []
    for cols, mask, date_col in ((d.wi, invoices.w_in, "issue_date"), (d.qi, invoices.q_in, "txn_date")):
        rows = np.flatnonzero(mask & (cols["balance_cents"] > 0))
        due = cols["due_date"][rows]
        undated = np.isnat(due)
        if undated.any():
            due[undated] = cols[date_col][rows[undated]] + offset
        bucket = _buckets(due, as_of)
        counts = np.bincount(bucket, minlength=len(AGING_BUCKETS)).astype(np.int64)
        sums = _sum_rows(bucket, cols["balance_cents"][rows], len(AGING_BUCKETS))
        sides.append((counts, sums))
    (w_count, w_sum), (q_count, q_sum) = sides
    table = pd.DataFrame({
        "bucket": _text(np.array(AGING_BUCKETS, dtype=object)), "work_count": w_count, "work_cents": w_sum,
        "qbo_count": q_count, "qbo_cents": q_sum, "difference_cents": q_sum - w_sum,
    })
    differs = table.loc[(table["difference_cents"].abs() > tol) | (table["work_count"] != table["qbo_count"])]
    return table, differs.reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Credit notes, credit applications, refunds and tax per rate
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CreditOutcome:
    frames: dict[str, pd.DataFrame]
    changed: pd.DataFrame  # linked credit notes and refunds QBO changed after the sync
    totals: tuple[Total, ...]
    w_unapplied: np.ndarray  # per WORK credit note row: credit not applied (0 outside scope)
    w_in: np.ndarray  # per WORK credit note row: live and expected in QBO
    q_outside: np.ndarray  # per QBO credit memo row: dated before the integration date


def _one_side_frames(entity: str, d_w: _Columns, d_q: _Columns, pairs: _Pairs, *, w_date: str, number: bool,
                     w_customer: np.ndarray, q_customer: np.ndarray, w_expected: np.ndarray,
                     w_reason: np.ndarray, integration_date: date | None,
                     ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Missing in QBO, missing in WORK and not expected, for a document pairing; returns them and, per
    QBO row, whether it is outside the comparison (dated before the integration date)."""
    src, pw, pq = pairs.source, pairs.w, pairs.q
    has_w, has_q = pw >= 0, pq >= 0
    deleted = _take(d_w["deleted"], pw, True)
    wo = (src == _WORK_ONLY) & ~deleted
    expected = _take(w_expected, pw, False)
    gone = (src == _LINK) & has_w & ~has_q & ~deleted
    m = np.flatnonzero((wo & expected) | gone)
    names_w = w_customer
    missing_q = pd.DataFrame({
        "work_id": d_w["work_id"][pw[m]],
        **({"number": _text(d_w.text("number", pw[m]))} if number else {}),
        "customer": _text(_take(names_w, pw[m], "")),
        "date": _dates(d_w[w_date][pw[m]]),
        "total_cents": d_w["total_cents"][pw[m]],
        "reason": _text(np.where(gone[m], "deleted in QBO", "not in QBO").astype(object)),
    })
    q_early = _take(_before(d_q["txn_date"], integration_date), pq, False)
    qo = (src == _QBO_ONLY) & ~q_early
    orphan = (src == _LINK) & has_q & ~has_w
    deleted_in_work = has_w & has_q & deleted
    m = np.flatnonzero(qo | orphan | deleted_in_work)
    missing_w = pd.DataFrame({
        "qbo_id": d_q["qbo_id"][pq[m]],
        "work_id": _ids(d_w["work_id"], pw[m]),
        "doc_number": _text(d_q.text("doc_number", pq[m])),
        "customer": _text(_take(q_customer, pq[m], "")),
        "date": _dates(d_q["txn_date"][pq[m]]),
        "total_cents": d_q["total_cents"][pq[m]],
        "reason": _text(np.select([orphan[m], deleted_in_work[m]],
                                  ["linked to a WORK record that WORK does not have", "deleted in WORK, still in QBO"],
                                  "not in WORK").astype(object)),
    })
    ne_w = np.flatnonzero((src == _WORK_ONLY) & ~deleted & ~expected)
    ne_q = np.flatnonzero((src == _QBO_ONLY) & q_early)
    not_expected = pd.concat([
        pd.DataFrame({
            "entity": _text(np.full(len(ne_w), entity, dtype=object)), "side": _text(np.full(len(ne_w), "WORK",
                                                                                          dtype=object)),
            "work_id": _ids(d_w["work_id"], pw[ne_w]), "qbo_id": _ids(d_q["qbo_id"], pq[ne_w]),
            "number": _text(d_w.text("number", pw[ne_w]) if number else np.full(len(ne_w), "", dtype=object)),
            "customer": _text(_take(names_w, pw[ne_w], "")), "date": _dates(d_w[w_date][pw[ne_w]]),
            "total_cents": d_w["total_cents"][pw[ne_w]],
            "reason": _text(_take(w_reason, pw[ne_w], "")),
        }),
        pd.DataFrame({
            "entity": _text(np.full(len(ne_q), entity, dtype=object)), "side": _text(np.full(len(ne_q), "QBO",
                                                                                          dtype=object)),
            "work_id": _ids(d_w["work_id"], pw[ne_q]), "qbo_id": _ids(d_q["qbo_id"], pq[ne_q]),
            "number": _text(d_q.text("doc_number", pq[ne_q])),
            "customer": _text(_take(q_customer, pq[ne_q], "")), "date": _dates(d_q["txn_date"][pq[ne_q]]),
            "total_cents": d_q["total_cents"][pq[ne_q]],
            "reason": _text(np.full(len(ne_q), "dated before the integration date: not expected in WORK",
                                    dtype=object)),
        }),
    ], ignore_index=True)
    q_outside = np.zeros(len(d_q), dtype=bool)
    q_outside[pq[(src == _QBO_ONLY) & q_early]] = True
    return missing_q, missing_w, not_expected, q_outside


def _amount_fields(d_w: _Columns, d_q: _Columns, pairs: _Pairs, w_customer: np.ndarray, *, number: bool,
                   tol: int) -> pd.DataFrame:
    """Live pairs whose total or tax differs, one row per field."""
    pw, pq = pairs.w, pairs.q
    live = np.flatnonzero((pw >= 0) & (pq >= 0) & ~_take(d_w["deleted"], pw, True))
    a, b = pw[live], pq[live]
    parts = []
    for name, column in (("total", "total_cents"), ("tax", "tax_cents")):
        wv, qv = d_w[column][a], d_q[column][b]
        m = _beyond(qv - wv, tol)
        parts.append(pd.DataFrame({
            "work_id": d_w["work_id"][a[m]], "qbo_id": d_q["qbo_id"][b[m]],
            **({"number": _text(d_w.text("number", a[m]))} if number else {}),
            "customer": _text(_take(w_customer, a[m], "")), "field": _text(np.full(len(m), name, dtype=object)),
            "work_cents": wv[m], "qbo_cents": qv[m], "difference_cents": qv[m] - wv[m],
        }))
    return pd.concat(parts, ignore_index=True).sort_values(["work_id"], kind="stable", ignore_index=True)


def _client_names(d: _Data, client_ids: np.ndarray) -> np.ndarray:
    return d.wc.text("display_name", d.wc.lookup("work_id")(client_ids), "")


def _customer_names(d: _Data, customer_ids: np.ndarray) -> np.ndarray:
    return d.qc.text("display_name", d.qc.lookup("qbo_id")(customer_ids), "")


def _credits(d: _Data, customers: _CustomerOutcome, invoices: _InvoiceOutcome, *, integration_date: date | None,
             send_credit_notes: bool, send_refunds: bool, tol: int) -> _CreditOutcome:
    """Credit notes against QBO's credit memos (by the id map, then the number), the credit applied to
    each paired invoice, the unapplied credit per customer, refunds against refund receipts (by the
    id map, then the customer, date and amount when that is unique) and tax per rate."""
    wn, qm = _Columns(d.work.credit_notes), _Columns(d.qbo.credit_memos)
    wa, ql = _Columns(d.work.credit_applications), _Columns(d.qbo.credit_lines)
    wr, qr = _Columns(d.work.refunds), _Columns(d.qbo.refunds)
    frames: dict[str, pd.DataFrame] = {}

    # -- credit notes
    pairs = _pair(wn, "work_id", qm, "qbo_id", _Columns(d.links.credit_notes),
                  w_key=lambda pos: _strip(wn.text("number", pos)),
                  q_key=lambda pos: _strip(qm.text("doc_number", pos)))
    n_names = _client_names(d, wn["client_id"])
    m_names = _customer_names(d, qm["customer_qbo_id"])
    early = _before(wn["date"], integration_date)
    expected = ~early & send_credit_notes
    reason = np.where(early, "dated before the integration date: not expected in QBO",
                      "credit notes are not sent (setting credit_notes: false)").astype(object)
    missing_q, missing_w, not_expected_n, m_outside = _one_side_frames(
        "credit_note", wn, qm, pairs, w_date="date", number=True, w_customer=n_names, q_customer=m_names,
        w_expected=expected, w_reason=reason, integration_date=integration_date)
    missing_q = _not_failed(d, "credit_note", missing_q)
    frames["credit_notes_missing_in_qbo"] = missing_q
    frames["credit_notes_missing_in_work"] = missing_w
    frames["credit_notes_amount"] = _amount_fields(wn, qm, pairs, n_names, number=True, tol=tol)

    # -- credit applied per paired invoice: WORK's applications against QBO's credit lines
    wi, qi = d.wi, d.qi
    credited_q = _sum_rows(qi.lookup("qbo_id")(ql["invoice_qbo_id"]), ql["amount_cents"], len(qi))
    paired_w = np.flatnonzero(invoices.w_paired & (invoices.w_state <= _DRAFT))
    paired_q = qi.lookup("qbo_id")(invoices.w_partner[paired_w])
    has_q = paired_q >= 0
    paired_w, paired_q = paired_w[has_q], paired_q[has_q]
    wv, qv = wi["credited_cents"][paired_w], credited_q[paired_q]
    m = _beyond(qv - wv, tol)
    frames["credit_applied"] = pd.DataFrame({
        "work_id": wi["work_id"][paired_w[m]], "qbo_id": qi["qbo_id"][paired_q[m]],
        "number": _text(wi.text("number", paired_w[m])),
        "customer": _text(_take(_client_names(d, wi["client_id"]), paired_w[m], "")),
        "work_cents": wv[m], "qbo_cents": qv[m], "difference_cents": qv[m] - wv[m],
    })

    # -- unapplied credit per paired customer
    live_apps = ~wa["deleted"].astype(bool)
    applied = _sum_rows(np.where(live_apps, wn.lookup("work_id")(wa["credit_note_id"]), _NONE), wa["amount_cents"],
                        len(wn))
    w_in = ~wn["deleted"].astype(bool) & expected
    w_unapplied = np.where(w_in, wn["total_cents"] - applied, 0)
    w_client = d.wc.lookup("work_id")(wn["client_id"])
    work_credit = _sum_rows(w_client, w_unapplied, len(d.wc))
    q_in = ~m_outside
    q_customer_rows = d.qc.lookup("qbo_id")(qm["customer_qbo_id"])
    qbo_credit = _sum_rows(np.where(q_in, q_customer_rows, _NONE), qm["balance_cents"], len(d.qc))
    w_pos = d.wc.lookup("work_id")(customers.paired_work)
    q_pos = d.qc.lookup("qbo_id")(customers.paired_qbo)
    wv, qv = _take(work_credit, w_pos, 0), _take(qbo_credit, q_pos, 0)
    m = _beyond(qv - wv, tol)
    frames["credits_unapplied"] = pd.DataFrame({
        "work_id": customers.paired_work[m], "qbo_id": customers.paired_qbo[m],
        "name": _text(d.wc.text("display_name", w_pos[m], "")),
        "work_cents": wv[m], "qbo_cents": qv[m], "difference_cents": qv[m] - wv[m],
    })

    # -- refunds: by the id map, then by (customer, date, amount) when unique on both sides
    partner_of_client = np.where(customers.partner_known, customers.partner_qbo, -1)
    r_client = d.wc.lookup("work_id")(wr["client_id"])
    r_partner = _take(partner_of_client, r_client, -1)

    def w_key(pos: np.ndarray) -> np.ndarray:
        return pd.Series(r_partner[pos].astype(str), dtype=object).add("|").add(
            pd.Series(wr["date"][pos].astype("datetime64[D]").astype(str), dtype=object)).add("|").add(
            pd.Series(wr["total_cents"][pos].astype(str), dtype=object)).to_numpy(dtype=object)

    def q_key(pos: np.ndarray) -> np.ndarray:
        return pd.Series(qr["customer_qbo_id"][pos].astype(str), dtype=object).add("|").add(
            pd.Series(qr["txn_date"][pos].astype("datetime64[D]").astype(str), dtype=object)).add("|").add(
            pd.Series(qr["total_cents"][pos].astype(str), dtype=object)).to_numpy(dtype=object)

    r_pairs = _pair(wr, "work_id", qr, "qbo_id", _Columns(d.links.refunds), w_key=w_key, q_key=q_key,
                    w_keyable=r_partner >= 0)
    r_names = _client_names(d, wr["client_id"])
    rq_names = _customer_names(d, qr["customer_qbo_id"])
    r_early = _before(wr["date"], integration_date)
    r_expected = ~r_early & send_refunds
    r_reason = np.where(r_early, "dated before the integration date: not expected in QBO",
                        "refunds are not sent (setting refunds: false)").astype(object)
    missing_q, missing_w, not_expected_r, r_outside = _one_side_frames(
        "refund", wr, qr, r_pairs, w_date="date", number=False, w_customer=r_names, q_customer=rq_names,
        w_expected=r_expected, w_reason=r_reason, integration_date=integration_date)
    missing_q = _not_failed(d, "refund", missing_q)
    frames["refunds_missing_in_qbo"] = missing_q
    frames["refunds_missing_in_work"] = missing_w
    frames["refunds_amount"] = _amount_fields(wr, qr, r_pairs, r_names, number=False, tol=tol)
    frames["credits_not_expected"] = pd.concat([not_expected_n, not_expected_r], ignore_index=True)

    # -- tax per rate, for paired documents where both sides state it
    frames["tax_by_rate"] = _tax_by_rate(d, [
        ("invoice", invoices.w_partner, invoices.w_paired & (invoices.w_state <= _DRAFT), d.wi, "number"),
        ("credit_note", *_partners(wn, qm, pairs), wn, "number"),
        ("refund", *_partners(wr, qr, r_pairs), wr, ""),
    ], tol=tol)

    r_in = ~wr["deleted"].astype(bool) & r_expected
    r_q_in = ~r_outside
    totals: tuple[Total, ...] = ()
    if len(wn) or len(qm):  # figures only for the kinds of record either side has
        totals += (Total("credit_notes", "Credit notes", "count", int(w_in.sum()), int(q_in.sum())),
                   Total("credit_amount", "Credit given", "money", int(wn["total_cents"][w_in].sum()),
                         int(qm["total_cents"][q_in].sum())))
    if len(wr) or len(qr):
        totals += (Total("refunds", "Refunds", "count", int(r_in.sum()), int(r_q_in.sum())),
                   Total("refund_amount", "Refunded", "money", int(wr["total_cents"][r_in].sum()),
                         int(qr["total_cents"][r_q_in].sum())))
    changed = pd.concat([
        _changed("credit_note", pairs, wn, qm, _Columns(d.links.credit_notes), d.links.last_sync_at),
        _changed("refund", r_pairs, wr, qr, _Columns(d.links.refunds), d.links.last_sync_at),
    ], ignore_index=True)
    return _CreditOutcome(frames, changed, totals, w_unapplied, w_in, m_outside)


def _not_failed(d: _Data, entity: str, missing: pd.DataFrame) -> pd.DataFrame:
    """``missing`` (in QBO) without the records never sent whose sync failed and is still open: those
    are pending, with the sync's sentence (a closed period, an unmapped tax rate), not differences."""
    failed = _failed(d, entity)[0]
    if not len(failed) or not len(missing):
        return missing
    never_sent = missing["reason"] != "deleted in QBO"
    return missing.loc[~(never_sent & missing["work_id"].isin(failed))].reset_index(drop=True)


def _partners(w: _Columns, q: _Columns, pairs: _Pairs) -> tuple[np.ndarray, np.ndarray]:
    """Per WORK row: its partner's QBO id (0 where none), and whether it has a live partner."""
    both = np.flatnonzero((pairs.w >= 0) & (pairs.q >= 0))
    partner = np.zeros(len(w), dtype=np.int64)
    partner[pairs.w[both]] = q["qbo_id"][pairs.q[both]]
    known = np.zeros(len(w), dtype=bool)
    known[pairs.w[both]] = True
    return partner, known & ~w["deleted"].astype(bool)


def _tax_by_rate(d: _Data, documents: list[tuple[str, np.ndarray, np.ndarray, _Columns, str]], *,
                 tol: int) -> pd.DataFrame:
    """Per paired document that states tax per rate on both sides (WORK lines with a tax rate; QBO's
    ``TxnTaxDetail.TaxLine``), the rates matched by the amount they tax (a rate's net amount is the
    same on both sides whatever the rate is called); a rate on one side only, or whose tax differs,
    is a row. Documents without per-rate tax on one side (US pseudo codes with an explicit total)
    are compared by their total tax only (``invoices_tax``, ``credit_notes_amount``)."""
    w_tax, q_tax = d.work.tax_lines, d.qbo.tax_lines
    out: list[pd.DataFrame] = []
    for document, partner, known, cols, number_col in documents:
        wt = w_tax.loc[w_tax["document"] == document]
        qt = q_tax.loc[q_tax["document"] == document]
        if not len(wt) or not len(qt):
            continue
        rows = cols.lookup("work_id")(wt["doc_id"].to_numpy(dtype=np.int64))
        ok = (rows >= 0) & _take(known, rows, False)
        wt = wt.loc[ok].assign(qbo_id=partner[rows[ok]])
        both = set(wt["qbo_id"].tolist()) & set(qt["doc_id"].tolist())
        if not both:
            continue
        wt = wt.loc[wt["qbo_id"].isin(both)].rename(columns={"doc_id": "work_id"})
        qt = qt.loc[qt["doc_id"].isin(both)].rename(columns={"doc_id": "qbo_id"})
        # rates that tax the same amount on one document pair in the order of their tax
        wt = wt.sort_values(["qbo_id", "net_cents", "tax_cents"], kind="stable")
        qt = qt.sort_values(["qbo_id", "net_cents", "tax_cents"], kind="stable")
        wt = wt.assign(_n=wt.groupby(["qbo_id", "net_cents"]).cumcount())
        qt = qt.assign(_n=qt.groupby(["qbo_id", "net_cents"]).cumcount())
        merged = wt.merge(qt, on=["qbo_id", "net_cents", "_n"], how="outer", suffixes=("_work", "_qbo"))
        merged = merged.assign(work_id=merged.groupby("qbo_id")["work_id"].transform("max"))
        w_cents = merged["tax_cents_work"].fillna(0).astype(np.int64).to_numpy()
        q_cents = merged["tax_cents_qbo"].fillna(0).astype(np.int64).to_numpy()
        only_w, only_q = merged["tax_cents_qbo"].isna().to_numpy(), merged["tax_cents_work"].isna().to_numpy()
        zero = (w_cents == 0) & (q_cents == 0)
        differs = ((only_w | only_q) & ~zero) | (np.abs(q_cents - w_cents) > tol)
        pick = merged.loc[differs]
        if not len(pick):
            continue
        work_ids = pick["work_id"].astype(np.int64).to_numpy()
        doc_rows = cols.lookup("work_id")(work_ids)
        client_ids = cols["client_id"][doc_rows]
        out.append(pd.DataFrame({
            "document": _text(np.full(len(pick), document, dtype=object)),
            "work_id": work_ids, "qbo_id": pick["qbo_id"].astype(np.int64).to_numpy(),
            "number": _text(cols.text(number_col, doc_rows) if number_col else np.full(len(pick), "", dtype=object)),
            "customer": _text(_client_names(d, client_ids)),
            "work_rate": _text(pick["rate_work"].fillna("").to_numpy(dtype=object)),
            "qbo_rate": _text(pick["rate_qbo"].fillna("").to_numpy(dtype=object)),
            "work_percent": _text(pick["percent_work"].fillna("").to_numpy(dtype=object)),
            "qbo_percent": _text(pick["percent_qbo"].fillna("").to_numpy(dtype=object)),
            "net_cents": pick["net_cents"].astype(np.int64).to_numpy(),
            "work_cents": w_cents[differs], "qbo_cents": q_cents[differs],
            "difference_cents": q_cents[differs] - w_cents[differs],
            "reason": _text(np.select([only_w[differs], only_q[differs]],
                                      ["no QBO tax line taxes this amount", "no WORK rate taxes this amount"],
                                      "tax at this rate differs").astype(object)),
        }))
    if not out:
        return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in _TAX_COLUMNS.items()})
    return pd.concat(out, ignore_index=True).astype(_TAX_COLUMNS)


_TAX_COLUMNS: Final = {"document": "str", "work_id": "int64", "qbo_id": "int64", "number": "str", "customer": "str",
                       "work_rate": "str", "qbo_rate": "str", "work_percent": "str", "qbo_percent": "str",
                       "net_cents": "int64", "work_cents": "int64", "qbo_cents": "int64", "difference_cents": "int64",
                       "reason": "str"}


# --------------------------------------------------------------------------------------------
# Tie-out to QBO's reports
# --------------------------------------------------------------------------------------------


def _due_buckets(cols: _Columns, rows: np.ndarray, date_col: str, *, as_of: date, due_days: int) -> np.ndarray:
    """Aging bucket per invoice row: by its due date, else its date plus ``due_days``."""
    due = cols["due_date"][rows].copy()
    undated = np.isnat(due)
    if undated.any():
        due[undated] = cols[date_col][rows[undated]] + np.timedelta64(due_days * 86_400, "s")
    return _buckets(due, as_of)


def _on_or_before(days: np.ndarray, day: date) -> np.ndarray:
    """``days <= day`` (a missing date counts as on or before)."""
    return np.isnat(days) | (days <= np.datetime64(day, "s"))


def _tie_out(d: _Data, customers: _CustomerOutcome, invoices: _InvoiceOutcome, credits: _CreditOutcome, *,
             as_of: date, integration_date: date | None, due_days: int, tol: int) -> TieOut:
    """Our open A/R and QBO's history, per QBO customer, against QBO's reports (see :mod:`.tieout`)."""
    reports = d.qbo.reports
    if reports is None:
        return empty_tie_out()
    wi, qi, qp, wc, qc = d.wi, d.qi, d.qp, d.wc, d.qc
    wp, wa, ql = d.wp, _Columns(d.work.credit_applications), _Columns(d.qbo.credit_lines)
    day = np.datetime64(as_of, "s")
    # balances as of the report day: what was paid or credited after it is added back (QBO's reports
    # count the transactions dated on or before their report date)
    w_later = (_sum_rows(np.where(~wp["deleted"].astype(bool) & (wp["date"] > day),
                                  wi.lookup("work_id")(wp["invoice_id"]), _NONE), wp["amount_cents"], len(wi))
               + _sum_rows(np.where(~wa["deleted"].astype(bool) & (wa["date"] > day),
                                    wi.lookup("work_id")(wa["invoice_id"]), _NONE), wa["amount_cents"], len(wi)))
    w_balance = np.where(invoices.w_state <= _DRAFT, wi["balance_cents"] + w_later, 0)
    lines = d.qbo.payment_lines
    line_payment = qp.lookup("qbo_id")(lines["payment_qbo_id"].to_numpy(dtype=np.int64))
    line_later = (line_payment >= 0) & (_take(qp["txn_date"], line_payment, np.datetime64("NaT")) > day)
    q_later = (_sum_rows(np.where(line_later, qi.lookup("qbo_id")(lines["invoice_qbo_id"].to_numpy(dtype=np.int64)),
                                  _NONE), lines["amount_cents"].to_numpy(dtype=np.int64), len(qi))
               + _sum_rows(np.where(ql["txn_date"] > day, qi.lookup("qbo_id")(ql["invoice_qbo_id"]), _NONE),
                           ql["amount_cents"], len(qi)))
    q_balance = qi["balance_cents"] + q_later
    # WORK: open invoices in scope, dated by the report day, of clients with a QBO partner
    client_rows = invoices.w_client_rows
    partner = _take(customers.partner_known, client_rows, False)
    rows = np.flatnonzero((invoices.w_state <= _DRAFT) & ~invoices.w_outside & partner
                          & (w_balance != 0) & _on_or_before(wi["issue_date"], as_of))
    work = ArItems(_take(customers.partner_qbo, client_rows[rows], 0),
                   _due_buckets(wi, rows, "issue_date", as_of=as_of, due_days=due_days),
                   w_balance[rows], np.zeros(len(rows), dtype=bool))
    # QBO history not expected in WORK: open invoices and unapplied payments before the integration date
    q_rows = np.flatnonzero(invoices.q_outside & ~qi["voided"].astype(bool) & (q_balance != 0)
                            & _on_or_before(qi["txn_date"], as_of))
    outside_invoices = ArItems(qi["customer_qbo_id"][q_rows],
                               _due_buckets(qi, q_rows, "txn_date", as_of=as_of, due_days=due_days),
                               q_balance[q_rows], np.zeros(len(q_rows), dtype=bool))
    p_rows = np.flatnonzero(_before(qp["txn_date"], integration_date) & (qp["unapplied_cents"] != 0)
                            & _on_or_before(qp["txn_date"], as_of))
    outside_credits = ArItems(qp["customer_qbo_id"][p_rows], _buckets(qp["txn_date"][p_rows], as_of),
                              -qp["unapplied_cents"][p_rows], np.ones(len(p_rows), dtype=bool))
    # WORK's unapplied credit notes (in scope, dated by the report day) and QBO's from before the integration
    notes = _Columns(d.work.credit_notes)
    note_rows = wc.lookup("work_id")(notes["client_id"])
    n_later = _sum_rows(np.where(~wa["deleted"].astype(bool) & (wa["date"] > day),
                                 notes.lookup("work_id")(wa["credit_note_id"]), _NONE), wa["amount_cents"], len(notes))
    n_unapplied = np.where(credits.w_in, credits.w_unapplied + n_later, 0)
    n_rows = np.flatnonzero((n_unapplied != 0) & _take(customers.partner_known, note_rows, False)
                            & _on_or_before(notes["date"], as_of))
    work = ArItems.join(work, ArItems(_take(customers.partner_qbo, note_rows[n_rows], 0),
                                      _buckets(notes["date"][n_rows], as_of), -n_unapplied[n_rows],
                                      np.ones(len(n_rows), dtype=bool)))
    memos = _Columns(d.qbo.credit_memos)
    m_balance = memos["balance_cents"] + _sum_rows(np.where(ql["txn_date"] > day,
                                                            memos.lookup("qbo_id")(ql["credit_memo_qbo_id"]), _NONE),
                                                   ql["amount_cents"], len(memos))
    m_rows = np.flatnonzero(credits.q_outside & (m_balance != 0) & _on_or_before(memos["txn_date"], as_of))
    outside_memos = ArItems(memos["customer_qbo_id"][m_rows], _buckets(memos["txn_date"][m_rows], as_of),
                            -m_balance[m_rows], np.ones(len(m_rows), dtype=bool))
    partners = dict(zip(customers.paired_qbo.tolist(), customers.paired_work.tolist(), strict=True))
    names = dict(zip(qc["qbo_id"].tolist(), qc.text("display_name", np.arange(len(qc))).tolist(), strict=True))
    w_pos = wc.lookup("work_id")(customers.paired_work)
    names.update(zip(customers.paired_qbo.tolist(), wc.text("display_name", w_pos).tolist(), strict=True))
    for frame in (reports.aged, reports.balances):
        for qbo_id, name in zip(frame["customer_qbo_id"].tolist(), frame["name"].tolist(), strict=True):
            names.setdefault(int(qbo_id), str(name))
    return tie_out(reports, work, ArItems.join(outside_invoices, outside_credits, outside_memos), partners=partners,
                   names=names, tol=tol)


# --------------------------------------------------------------------------------------------
# The entry point
# --------------------------------------------------------------------------------------------


def _ordered(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in a stable, readable order (by WORK id, then QBO id), columns as the category lists them."""
    columns = list(next(c for c in CATEGORIES if c.name == name).columns)
    frame = frame[columns]
    keys = [k for k in ("entity", "work_id", "qbo_id") if k in columns]
    if keys and len(frame) > 1 and name not in ("aging_buckets", "customers_fields", "pending", "tieout_customers",
                                                "tieout_aging"):
        frame = frame.sort_values(keys, kind="stable", na_position="last")
    return frame.reset_index(drop=True)


def reconcile(
    work: WorkFrames,
    qbo: QboFrames,
    links: LinkFrames,
    *,
    as_of: date,
    integration_date: date | None = None,
    tolerance: Decimal = Decimal("0"),
    default_state: str | None = None,
    default_due_days: int = DEFAULT_DUE_DAYS,
    settings: SettingsSource | Mapping[str, Any] | None = None,
    send_credit_notes: bool = True,
    send_refunds: bool = True,
) -> ReconResult:
    """Compare WORK and QBO; see the module docstring for the rules.

    ``as_of`` is the day aging is measured at. ``integration_date`` (the sync's): records dated
    before it are not expected on the other side; None means every record is. ``tolerance`` (an
    amount, e.g. ``Decimal("0.01")``) is how far money may differ before it counts; by default not
    a cent. ``default_state`` is the company's default state when the sync fills it in for QBO
    customers without one (``use_default_state``): an empty QBO state then agrees with it.
    ``default_due_days``: when an invoice without a due date falls due, for aging. ``settings``:
    where the settings behind these arguments came from (a :class:`~qbo_toolkit.settings.SettingsSource`,
    or its ``as_dict()`` with a ``description``), kept in the result for the report to state.
    ``send_credit_notes`` / ``send_refunds``: whether the sync sends WORK's credit notes and refunds
    (the settings ``credit_notes`` and ``refunds``); when it does not, they are not expected in QBO.
    """
    tol = tolerance_cents(tolerance)
    work = _credits_in_scope(work, integration_date=integration_date, send_credit_notes=send_credit_notes)
    d = _Data.of(work, qbo, links)
    customers = _customers(d, default_state=default_state)
    invoices = _invoices(d, customers, integration_date=integration_date, tol=tol)
    payments = _payments(d, invoices, integration_date=integration_date, tol=tol)
    credits = _credits(d, customers, invoices, integration_date=integration_date,
                       send_credit_notes=send_credit_notes, send_refunds=send_refunds, tol=tol)
    balances, balance_differences = _balances(d, customers, invoices, credits, tol=tol)
    aging, aging_differences = _aging(d, invoices, as_of=as_of, due_days=default_due_days, tol=tol)
    tied = _tie_out(d, customers, invoices, credits, as_of=as_of, integration_date=integration_date,
                    due_days=default_due_days, tol=tol)
    frames: dict[str, pd.DataFrame] = {
        **customers.frames, **invoices.frames, **payments.frames, **credits.frames,
        "customer_balances": balance_differences,
        "aging_buckets": aging_differences,
        "tieout_customers": tied.customers,
        "tieout_aging": tied.aging,
        "changed_in_qbo": pd.concat([customers.changed, invoices.changed, payments.changed, credits.changed],
                                    ignore_index=True),
        "pending": _pending(d, customers, invoices, payments),
    }
    frames = {name: _ordered(name, frame) for name, frame in frames.items()}
    wi, qi = d.wi, d.qi
    totals = (
        Total("customers", "Customers", "count", *customers.counts),
        Total("invoices", "Invoices", "count", int(invoices.w_in.sum()), int(invoices.q_in.sum())),
        Total("invoice_amount", "Invoiced", "money", int(wi["total_cents"][invoices.w_in].sum()),
              int(qi["total_cents"][invoices.q_in].sum())),
        Total("open_receivables", "Open receivables", "money", int(wi["balance_cents"][invoices.w_in].sum()),
              int(qi["balance_cents"][invoices.q_in].sum())),
        *payments.totals,
        *credits.totals,
        *tied.totals,
    )
    return ReconResult(
        as_of=as_of,
        integration_date=integration_date,
        tolerance=tolerance,
        frames=frames,
        tables=_tables({"aging": aging, "open_balances": balances, "tieout": tied.table}),
        totals=totals,
        settings=_settings_record(settings),
    )


def _credits_in_scope(work: WorkFrames, *, integration_date: date | None, send_credit_notes: bool) -> WorkFrames:
    """WORK's invoices with only the credit the sync sends counted in ``credited`` and ``balance``:
    an application goes to QBO when credit notes sync and both it and its credit note are dated from
    the integration date; the others are WORK's own (like a payment on an invoice that is not sent),
    so QBO's balance is not expected to include them."""
    apps = work.credit_applications
    if not len(apps):
        return work
    notes = work.credit_notes.set_index("work_id")
    live = ~apps["deleted"].to_numpy(dtype=bool)
    note_live = apps["credit_note_id"].map(~notes["deleted"]).fillna(False).to_numpy(dtype=bool)
    expected = live & note_live & send_credit_notes
    if integration_date is not None:
        start = np.datetime64(integration_date, "s")
        note_dates = apps["credit_note_id"].map(notes["date"]).to_numpy(dtype="datetime64[s]")
        app_dates = apps["date"].to_numpy(dtype="datetime64[s]")
        expected &= (app_dates >= start) & ~np.isnat(note_dates) & (note_dates >= start)
    excluded = live & ~expected
    if not excluded.any():
        return work
    extra = apps.loc[excluded].groupby("invoice_id")["amount_cents"].sum()
    invoices = work.invoices
    add = extra.reindex(invoices["work_id"].to_numpy(), fill_value=0).to_numpy(dtype=np.int64)
    owing = (invoices["status"].to_numpy() != "void") & ~invoices["deleted"].to_numpy(dtype=bool)
    return replace(work, invoices=invoices.assign(
        credited_cents=invoices["credited_cents"].to_numpy(dtype=np.int64) - add,
        balance_cents=np.where(owing, invoices["balance_cents"].to_numpy(dtype=np.int64) + add,
                               invoices["balance_cents"].to_numpy(dtype=np.int64))))


def _settings_record(settings: SettingsSource | Mapping[str, Any] | None) -> dict[str, Any] | None:
    if settings is None:
        return None
    if isinstance(settings, SettingsSource):
        return {**settings.as_dict(), "description": settings.describe()}
    return dict(settings)


def _tables(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {name: frame.reset_index(drop=True) for name, frame in tables.items()}
