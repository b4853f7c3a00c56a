"""Compare WORK and QBO (pure, vectorised): frames in, a frozen :class:`ReconResult` out.

How records are paired, per entity (customers, invoices, payments):

1. **By the id map.** Each link pairs a WORK id with a QBO id. Both sides are looked up with
   ``pandas.Index.get_indexer`` on ``int64`` ids (one hash lookup per row, no merge of wide frames),
   which gives for every pair the row *position* on each side, or -1 when that side has no record.
   Every later step gathers columns by those positions with numpy, so comparing a field is one
   vectorised operation over all pairs, whatever the number of rows.
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
  payments of such a client, are **waiting for a match decision**: reported, not counted.
* Anything else on one side only is **missing** on the other. A linked record whose partner is gone
  was deleted there (invoices: *voided or deleted on one side only*; payments: *missing*).
* Paired live records are compared field by field; void ones only for their status.

Money is whole cents (``int64``); a money difference counts when ``|QBO - WORK| > tolerance``,
so with the default tolerance of zero every cent counts. Open balances per customer compare WORK's
open invoices with QBO's customer ``Balance``, each side without its invoices that are not expected
on the other (so history from before the integration does not show up as a difference). A/R aging
puts each side's open invoices in scope into buckets by days past due as of ``as_of``. A linked
record counts as **changed in QBO after the sync** when its ``LastUpdatedTime`` is after both its
link's ``synced_at`` and the end of the last sync run, each taken to the whole second below
(QBO's timestamps have no fraction), so the sync's own writes are never reported.

Nothing here loops over rows in Python except to format the rows of differences that are reported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

import numpy as np
import pandas as pd

from .frames import LinkFrames, QboFrames, WorkFrames
from .money import tolerance_cents
from .result import CATEGORIES, ReconResult, Total

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


class _Columns:
    """A frame's columns as numpy arrays, converted once on first use (text as object arrays,
    timestamps as int64 microseconds with NaT as the smallest int64)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self._cache: dict[str, np.ndarray] = {}

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


def _take(values: np.ndarray, positions: np.ndarray, fill: Any) -> np.ndarray:
    """``values[positions]`` with ``fill`` where a position is -1."""
    if not len(values):
        return np.full(len(positions), fill, dtype=values.dtype if values.dtype != object else object)
    out = values[np.where(positions >= 0, positions, 0)]
    if (positions < 0).any():
        out = out.copy()
        out[positions < 0] = fill
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


def _index(values: np.ndarray) -> pd.Index:
    return pd.Index(values.astype(np.int64, copy=False), copy=False)


def _names_of(ids: np.ndarray, frame: pd.DataFrame, id_column: str) -> np.ndarray:
    """The ``display_name`` of each of ``ids`` in ``frame`` (by ``id_column``), "" where it has none."""
    cols = _Columns(frame)
    positions = _index(cols[id_column]).get_indexer(ids.astype(np.int64, copy=False))
    return _take(cols["display_name"].astype(object, copy=False), positions, "")


def _customer(w_names: np.ndarray, q_names: np.ndarray) -> np.ndarray:
    """Per pair: the WORK client's name where the WORK side has one, else the QBO customer's."""
    return np.where(w_names != "", w_names, q_names).astype(object)


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
    w_ids: np.ndarray,
    q_ids: np.ndarray,
    link_w: np.ndarray,
    link_q: np.ndarray,
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
    lw = _index(w_ids).get_indexer(link_w.astype(np.int64, copy=False))
    lq = _index(q_ids).get_indexer(link_q.astype(np.int64, copy=False))
    kept = np.flatnonzero((lw >= 0) | (lq >= 0))
    lw, lq = lw[kept], lq[kept]
    w_linked = np.zeros(len(w_ids), dtype=bool)
    w_linked[lw[lw >= 0]] = True
    q_linked = np.zeros(len(q_ids), dtype=bool)
    q_linked[lq[lq >= 0]] = True
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
        w=np.concatenate([lw, kw, w_free, none_w]).astype(np.int64),
        q=np.concatenate([lq, kq, none_q, q_free]).astype(np.int64),
        link=np.concatenate([kept, np.full(len(kw) + len(w_free) + len(q_free), _NONE)]).astype(np.int64),
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


def _changed(entity: str, pairs: _Pairs, w: _Columns, q: _Columns, links: _Columns,
             last_sync: datetime | None) -> pd.DataFrame:
    """Linked records whose QBO ``last_updated`` is after their link's ``synced_at`` and the last run."""
    rows = np.flatnonzero((pairs.source == _LINK) & (pairs.q >= 0))
    updated = _take(q["last_updated"], pairs.q[rows], _NAT)
    synced = _take(links["synced_at"], pairs.link[rows], _NAT)
    floor = np.where(synced == _NAT, _NAT, (synced // _SECOND) * _SECOND)
    if last_sync is not None:
        last = int(np.datetime64(last_sync.replace(tzinfo=None), "us").astype(np.int64))
        floor = np.maximum(floor, (last // _SECOND) * _SECOND)
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
    waiting_clients: np.ndarray  # WORK client ids held in the match preview
    counts: tuple[int, int]  # customers in scope on each side


def _customers(work: WorkFrames, qbo: QboFrames, links: LinkFrames, *, default_state: str | None) -> _CustomerOutcome:
    w, q, lk = _Columns(work.clients), _Columns(qbo.customers), _Columns(links.customers)
    pending = links.pending_matches
    w_pending = np.isin(w["work_id"], pending["work_id"].to_numpy())
    q_pending = np.isin(q["qbo_id"], pending["qbo_id"].to_numpy())
    pairs = _pair(
        w["work_id"], q["qbo_id"], lk["work_id"], lk["qbo_id"],
        w_key=lambda pos: _strip(w["display_name"][pos], fold=True),
        q_key=lambda pos: _strip(q["display_name"][pos], fold=True),
        w_keyable=~w_pending, q_keyable=~q_pending,
    )
    src, pw, pq = pairs.source, pairs.w, pairs.q
    has_w, has_q = pw >= 0, pq >= 0
    w_name = _take(w["display_name"], pw, "")
    q_name = _take(q["display_name"], pq, "")

    # one side only, or linked to a record that is gone
    w_wait = (src == _WORK_ONLY) & _take(w_pending, pw, False)
    q_wait = (src == _QBO_ONLY) & _take(q_pending, pq, False)
    unlinked = ((src != _LINK) & ~w_wait & ~q_wait) | ((src == _LINK) & ~(has_w & has_q))
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
        "name": _text(np.where(has_w[u], w_name[u], q_name[u])),
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
        "label": _text(np.where(pw[wait] >= 0, w_name[wait], q_name[wait])),
        "reason": _text(np.array(wait_reason, dtype=object)),
    })

    # field differences of pairs
    both = np.flatnonzero(has_w & has_q)
    a, b = pw[both], pq[both]
    qbo_name = _take(lk["qbo_name"], pairs.link[both], "")
    expected_name = np.where(qbo_name != "", qbo_name, w["display_name"][a])
    fields: list[pd.DataFrame] = []

    def field(name: str, pick: np.ndarray, work_values: np.ndarray, qbo_values: np.ndarray) -> None:
        fields.append(pd.DataFrame({
            "work_id": w["work_id"][a[pick]], "qbo_id": q["qbo_id"][b[pick]],
            "match": _match_labels(src[both][pick], "name").to_numpy(dtype=object),
            "field": np.full(len(pick), name, dtype=object), "work": work_values, "qbo": qbo_values,
        }))

    for name, w_vals, q_vals in (
        ("name", expected_name, q["display_name"][b]),
        ("email", w["email"][a], q["email"][b]),
        ("phone", w["phone"][a], q["phone"][b]),
    ):
        field(name, *_differing_text(w_vals, q_vals))
    pick, w_state, q_state = _differing_text(w["billing_state"][a], q["billing_state"][b])
    if default_state:
        # the sync fills an empty QBO state with the company's default state in WORK
        keep = ~((q_state == "") & (w_state == default_state.strip()))
        pick, w_state, q_state = pick[keep], w_state[keep], q_state[keep]
    field("billing_state", pick, w_state, q_state)
    fields_frame = pd.concat(fields, ignore_index=True)
    fields_frame = fields_frame.astype({"work_id": "int64", "qbo_id": "int64", "match": "str", "field": "str",
                                        "work": "str", "qbo": "str"})
    # within a record, keep the field order above
    order = fields_frame["field"].map({"name": 0, "email": 1, "phone": 2, "billing_state": 3})
    fields_frame = fields_frame.assign(_o=order).sort_values(["work_id", "_o"], kind="stable").drop(columns="_o")

    w_active, q_active = w["active"][a], q["active"][b]
    off = np.flatnonzero(w_active != q_active)
    inactive = pd.DataFrame({
        "work_id": w["work_id"][a[off]], "qbo_id": q["qbo_id"][b[off]], "name": _text(w["display_name"][a[off]]),
        "work_active": w_active[off], "qbo_active": q_active[off],
    })
    return _CustomerOutcome(
        frames={"customers_unlinked": unlinked_frame, "customers_fields": fields_frame,
                "customers_inactive_one_side": inactive},
        awaiting=awaiting,
        changed=_changed("customer", pairs, w, q, lk, links.last_sync_at),
        paired_work=w["work_id"][a].astype(np.int64),
        paired_qbo=q["qbo_id"][b].astype(np.int64),
        waiting_clients=w["work_id"][w_pending & ~np.isin(w["work_id"], w["work_id"][a])].astype(np.int64),
        counts=(int(len(w) - w_wait.sum()), int(len(q) - q_wait.sum())),
    )


# --------------------------------------------------------------------------------------------
# Invoices
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _InvoiceOutcome:
    frames: dict[str, pd.DataFrame]
    awaiting: pd.DataFrame
    changed: pd.DataFrame
    w_in: np.ndarray  # per WORK invoice row: in scope (live, expected in QBO)
    q_in: np.ndarray  # per QBO invoice row: in scope
    w_outside: np.ndarray  # per WORK row: not expected in QBO or waiting
    q_outside: np.ndarray  # per QBO row: not expected in WORK
    w_not_expected: np.ndarray  # per WORK row
    w_waiting: np.ndarray  # per WORK row
    w_state: np.ndarray
    w_customer: np.ndarray  # per WORK row: its client's name ("" if unknown)
    paired_work: np.ndarray  # WORK invoice ids with a QBO partner ...
    paired_qbo: np.ndarray  # ... and its QBO id


def _invoices(work: WorkFrames, qbo: QboFrames, links: LinkFrames, customers: _CustomerOutcome, *,
              integration_date: date | None, tol: int) -> _InvoiceOutcome:
    w, q, lk = _Columns(work.invoices), _Columns(qbo.invoices), _Columns(links.invoices)
    pairs = _pair(
        w["work_id"], q["qbo_id"], lk["work_id"], lk["qbo_id"],
        w_key=lambda pos: _strip(w["number"][pos]), q_key=lambda pos: _strip(q["doc_number"][pos]),
    )
    src, pw, pq = pairs.source, pairs.w, pairs.q
    has_w, has_q = pw >= 0, pq >= 0
    status = w["status"]
    w_state = np.select([w["deleted"], status == "void", status == "draft"], [_DELETED, _VOID, _DRAFT], _OPEN)
    ws = _take(w_state, pw, _DELETED)
    qv = _take(q["voided"], pq, False)
    both = has_w & has_q
    live = both & (ws <= _DRAFT) & ~qv
    w_names = _names_of(w["client_id"], work.clients, "work_id")  # per WORK invoice row
    customer = _customer(_take(w_names, pw, ""),
                         _take(_names_of(q["customer_qbo_id"], qbo.customers, "qbo_id"), pq, ""))  # per pair
    frames: dict[str, pd.DataFrame] = {}

    # -- status on one side only: void or deleted in one place, not the other
    gone_in_qbo = (src == _LINK) & has_w & ~has_q & (ws != _DELETED)
    one_side = np.flatnonzero((both & ~live & ~((ws == _VOID) & qv)) | gone_in_qbo)
    frames["invoices_void_or_deleted"] = pd.DataFrame({
        "work_id": _ids(w["work_id"], pw[one_side]),
        "qbo_id": pd.arrays.IntegerArray(
            np.where(has_q[one_side], _take(q["qbo_id"], pq[one_side], 0), _take(lk["qbo_id"], pairs.link[one_side], 0))
            .astype(np.int64), np.zeros(len(one_side), dtype=bool)),
        "number": _text(_take(w["number"], pw[one_side], "")),
        "customer": _text(customer[one_side]),
        "work_status": _text(_STATUS_TEXT[ws[one_side]]),
        "qbo_status": _text(np.where(~has_q[one_side], "deleted", np.where(qv[one_side], "void", "open"))
                            .astype(object)),
    })

    # -- WORK only: not expected, waiting for its client, or missing in QBO
    wo = src == _WORK_ONLY
    w_date = _take(w["issue_date"], pw, np.datetime64("NaT"))
    early = _before(w_date, integration_date)
    client = _take(w["client_id"], pw, 0)
    waiting_client = np.isin(client, customers.waiting_clients)
    client_paired = np.isin(client, customers.paired_work)
    reason_w = np.select([ws == _DELETED, ws == _VOID, ws == _DRAFT, early], [1, 2, 3, 4], 0)
    not_expected_w = wo & (reason_w > 0)
    waiting = wo & ~not_expected_w & waiting_client
    missing_q = np.flatnonzero(wo & ~not_expected_w & ~waiting)
    frames["invoices_missing_in_qbo"] = pd.DataFrame({
        "work_id": w["work_id"][pw[missing_q]],
        "number": _text(w["number"][pw[missing_q]]),
        "client_id": w["client_id"][pw[missing_q]],
        "customer": _text(customer[missing_q]),
        "date": _dates(w["issue_date"][pw[missing_q]]),
        "total_cents": w["total_cents"][pw[missing_q]],
        "balance_cents": w["balance_cents"][pw[missing_q]],
        "reason": _text(np.where(client_paired[missing_q], "not in QBO", "not in QBO; its client is not in QBO either")
                        .astype(object)),
    })

    # -- QBO only (or linked to a WORK invoice that is gone)
    qo = src == _QBO_ONLY
    q_date = _take(q["txn_date"], pq, np.datetime64("NaT"))
    not_expected_q = qo & _before(q_date, integration_date)
    orphan = (src == _LINK) & has_q & ~has_w
    missing_w = np.flatnonzero((qo & ~not_expected_q) | orphan)
    link_w = _take(lk["work_id"], pairs.link[missing_w], 0)
    frames["invoices_missing_in_work"] = pd.DataFrame({
        "qbo_id": q["qbo_id"][pq[missing_w]],
        "work_id": pd.arrays.IntegerArray(link_w.astype(np.int64), ~orphan[missing_w]),
        "doc_number": _text(q["doc_number"][pq[missing_w]]),
        "customer_qbo_id": q["customer_qbo_id"][pq[missing_w]],
        "customer": _text(customer[missing_w]),
        "date": _dates(q["txn_date"][pq[missing_w]]),
        "total_cents": q["total_cents"][pq[missing_w]],
        "balance_cents": q["balance_cents"][pq[missing_w]],
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
        "number": _text(np.where(ne_w, _take(w["number"], pw[ne], ""), _take(q["doc_number"], pq[ne], ""))),
        "customer": _text(customer[ne]),
        "date": _dates(np.where(ne_w, w_date[ne], q_date[ne])),
        "total_cents": np.where(ne_w, _take(w["total_cents"], pw[ne], 0), _take(q["total_cents"], pq[ne], 0)),
        "reason": _text(np.where(ne_w, _INVOICE_REASONS[reason_w[ne]] + ": not expected in QBO",
                                 "dated before the integration date: not expected in WORK").astype(object)),
    })
    wait_rows = np.flatnonzero(waiting)
    awaiting = pd.DataFrame({
        "entity": _text(np.full(len(wait_rows), "invoice", dtype=object)),
        "work_id": _ids(w["work_id"], pw[wait_rows]),
        "qbo_id": pd.array([pd.NA] * len(wait_rows), dtype="Int64"),
        "label": _text(w["number"][pw[wait_rows]]),
        "reason": _text(pd.Series(client[wait_rows], dtype=str).radd("its client ")
                        .add(" waits for a match decision").to_numpy(dtype=object)),
    })

    # -- field by field, for live pairs
    i = np.flatnonzero(live)
    a, b = pw[i], pq[i]
    source = src[i]

    def head(m: np.ndarray) -> dict[str, Any]:
        """The columns every field frame starts with, for the pairs ``m``."""
        return {"work_id": w["work_id"][a[m]], "qbo_id": q["qbo_id"][b[m]], "number": _text(w["number"][a[m]]),
                "customer": _text(customer[i[m]]), "match": _match_labels(source[m], "number")}

    for name, w_col, q_col in (("invoices_total", "total_cents", "total_cents"),
                               ("invoices_tax", "tax_cents", "tax_cents"),
                               ("invoices_balance", "balance_cents", "balance_cents")):
        wv, qv_ = w[w_col][a], q[q_col][b]
        delta = qv_ - wv
        m = np.flatnonzero(np.abs(delta) > tol)
        frames[name] = pd.DataFrame({**head(m), "work_cents": wv[m], "qbo_cents": qv_[m], "difference_cents": delta[m]})
    for name, w_col, q_col in (("invoices_date", "issue_date", "txn_date"),
                               ("invoices_due_date", "due_date", "due_date")):
        wd, qd = w[w_col][a], q[q_col][b]
        differs = ~np.isnat(wd) & (np.isnat(qd) | (wd != qd))
        m = np.flatnonzero(differs)
        frames[name] = pd.DataFrame({**head(m), "work_date": _dates(wd[m]), "qbo_date": _dates(qd[m]),
                                     "difference_days": _days(qd[m], wd[m])})
    clients = w["client_id"][a]
    partner_pos = _index(customers.paired_work).get_indexer(clients.astype(np.int64))
    expected = _take(customers.paired_qbo, partner_pos, 0)
    actual = q["customer_qbo_id"][b]
    m = np.flatnonzero((partner_pos < 0) | (expected != actual))
    frames["invoices_customer"] = pd.DataFrame({
        **head(m), "work_client_id": clients[m],
        "expected_qbo_customer": pd.arrays.IntegerArray(expected[m].astype(np.int64), partner_pos[m] < 0),
        "qbo_customer": actual[m],
    })
    linked = np.flatnonzero(both & (src == _LINK))
    wn, qn = w["number"][pw[linked]], q["doc_number"][pq[linked]]
    rough = np.flatnonzero(wn != qn)
    differs_n = rough[_strip(wn[rough]) != _strip(qn[rough])]
    pick = linked[differs_n]
    frames["invoices_number"] = pd.DataFrame({
        "work_id": w["work_id"][pw[pick]], "qbo_id": q["qbo_id"][pq[pick]], "customer": _text(customer[pick]),
        "match": _text(np.full(len(pick), "link", dtype=object)),
        "work_number": _text(wn[differs_n]), "qbo_number": _text(qn[differs_n]),
    })

    # -- scope flags per row, for totals, balances and aging
    w_not_expected = np.zeros(len(w), dtype=bool)
    w_not_expected[pw[not_expected_w]] = True
    w_waiting = np.zeros(len(w), dtype=bool)
    w_waiting[pw[waiting]] = True
    w_outside = w_not_expected | w_waiting
    q_outside = np.zeros(len(q), dtype=bool)
    q_outside[pq[not_expected_q]] = True
    return _InvoiceOutcome(
        frames=frames,
        awaiting=awaiting,
        changed=_changed("invoice", pairs, w, q, lk, links.last_sync_at),
        w_in=(w_state <= _DRAFT) & ~w_outside,
        q_in=~q["voided"].astype(bool) & ~q_outside,
        w_outside=w_outside,
        q_outside=q_outside,
        w_not_expected=w_not_expected,
        w_waiting=w_waiting,
        w_state=w_state,
        w_customer=w_names,
        paired_work=w["work_id"][pw[both]].astype(np.int64),
        paired_qbo=q["qbo_id"][pq[both]].astype(np.int64),
    )


# --------------------------------------------------------------------------------------------
# Payments
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PaymentOutcome:
    frames: dict[str, pd.DataFrame]
    awaiting: pd.DataFrame
    changed: pd.DataFrame
    totals: tuple[Total, Total]


def _payments(work: WorkFrames, qbo: QboFrames, links: LinkFrames, invoices: _InvoiceOutcome, *,
              integration_date: date | None, tol: int) -> _PaymentOutcome:
    w, q, lk = _Columns(work.payments), _Columns(qbo.payments), _Columns(links.payments)
    wi = _Columns(work.invoices)
    pairs = _pair(w["work_id"], q["qbo_id"], lk["work_id"], lk["qbo_id"])
    src, pw, pq = pairs.source, pairs.w, pairs.q
    has_w, has_q = pw >= 0, pq >= 0
    deleted = _take(w["deleted"], pw, True)
    frames: dict[str, pd.DataFrame] = {}

    # the invoice each WORK payment pays: its row in WORK, and its QBO partner
    inv_pos = _index(wi["work_id"]).get_indexer(_take(w["invoice_id"], pw, 0).astype(np.int64))
    inv_pos = np.where(has_w, inv_pos, _NONE)
    partner = _index(invoices.paired_work).get_indexer(_take(w["invoice_id"], pw, 0).astype(np.int64))
    partner = np.where(has_w, partner, _NONE)
    customer = _customer(_take(invoices.w_customer, inv_pos, ""),
                         _take(_names_of(q["customer_qbo_id"], qbo.customers, "qbo_id"), pq, ""))  # per pair
    expected_invoice = _take(invoices.paired_qbo, partner, 0)

    # what each QBO payment's lines apply to
    lines = qbo.payment_lines
    line_pos = _index(q["qbo_id"]).get_indexer(lines["payment_qbo_id"].to_numpy(dtype=np.int64))
    grouped = (pd.DataFrame({"p": line_pos, "inv": lines["invoice_qbo_id"].to_numpy(dtype=np.int64),
                             "amt": lines["amount_cents"].to_numpy(dtype=np.int64)})
               .loc[line_pos >= 0].groupby("p").agg(lo=("inv", "min"), hi=("inv", "max"), applied=("amt", "sum")))
    lo = np.full(len(q), _NONE, dtype=np.int64)
    hi = np.full(len(q), _NONE, dtype=np.int64)
    applied = np.zeros(len(q), dtype=np.int64)
    at = grouped.index.to_numpy(dtype=np.int64)
    lo[at], hi[at], applied[at] = grouped["lo"].to_numpy(), grouped["hi"].to_numpy(), grouped["applied"].to_numpy()

    # -- WORK only: not expected, waiting, or missing in QBO
    wo = src == _WORK_ONLY
    w_date = _take(w["date"], pw, np.datetime64("NaT"))
    inv_not_expected = _take(invoices.w_not_expected, inv_pos, False)
    inv_waiting = _take(invoices.w_waiting, inv_pos, False)
    reason_w = np.select([deleted, _before(w_date, integration_date), inv_not_expected], [1, 2, 3], 0)
    not_expected_w = wo & (reason_w > 0)
    waiting = wo & ~not_expected_w & inv_waiting
    gone_in_qbo = (src == _LINK) & has_w & ~has_q & ~deleted
    missing_q = np.flatnonzero((wo & ~not_expected_w & ~waiting) | gone_in_qbo)
    link_q = _take(lk["qbo_id"], pairs.link[missing_q], 0)
    frames["payments_missing_in_qbo"] = pd.DataFrame({
        "work_id": w["work_id"][pw[missing_q]],
        "qbo_id": pd.arrays.IntegerArray(link_q.astype(np.int64), ~gone_in_qbo[missing_q]),
        "invoice_id": w["invoice_id"][pw[missing_q]],
        "customer": _text(customer[missing_q]),
        "date": _dates(w["date"][pw[missing_q]]),
        "amount_cents": w["amount_cents"][pw[missing_q]],
        "reason": _text(np.where(gone_in_qbo[missing_q], "deleted in QBO",
                                 np.where(partner[missing_q] >= 0, "not in QBO",
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
        "customer": _text(customer[missing_w]),
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
        "customer": _text(customer[ne]),
        "date": _dates(np.where(ne_w, w_date[ne], q_date[ne])),
        "amount_cents": np.where(ne_w, _take(w["amount_cents"], pw[ne], 0), _take(q["total_cents"], pq[ne], 0)),
        "reason": _text(np.where(ne_w, _PAYMENT_REASONS[reason_w[ne]] + ": not expected in QBO",
                                 "dated before the integration date: not expected in WORK").astype(object)),
    })
    wait_rows = np.flatnonzero(waiting)
    awaiting = pd.DataFrame({
        "entity": _text(np.full(len(wait_rows), "payment", dtype=object)),
        "work_id": _ids(w["work_id"], pw[wait_rows]),
        "qbo_id": pd.array([pd.NA] * len(wait_rows), dtype="Int64"),
        "label": _text(pd.Series(w["invoice_id"][pw[wait_rows]], dtype=str).radd("on invoice ")
                       .to_numpy(dtype=object)),
        "reason": _text(np.full(len(wait_rows), "its invoice's client waits for a match decision", dtype=object)),
    })

    # -- live pairs, field by field
    i = np.flatnonzero(has_w & has_q & ~deleted)
    a, b = pw[i], pq[i]
    wv, qv = w["amount_cents"][a], q["total_cents"][b]
    delta = qv - wv
    m = np.flatnonzero(np.abs(delta) > tol)
    frames["payments_amount"] = pd.DataFrame({
        "work_id": w["work_id"][a[m]], "qbo_id": q["qbo_id"][b[m]], "customer": _text(customer[i[m]]),
        "work_cents": wv[m], "qbo_cents": qv[m], "difference_cents": delta[m],
    })
    wd, qd = w["date"][a], q["txn_date"][b]
    m = np.flatnonzero(np.isnat(qd) | (wd != qd))
    frames["payments_date"] = pd.DataFrame({
        "work_id": w["work_id"][a[m]], "qbo_id": q["qbo_id"][b[m]], "customer": _text(customer[i[m]]),
        "work_date": _dates(wd[m]), "qbo_date": _dates(qd[m]), "difference_days": _days(qd[m], wd[m]),
    })
    expected = expected_invoice[i]
    known = partner[i] >= 0
    m = np.flatnonzero(~known | (lo[b] != expected) | (hi[b] != expected))
    rows = b[m]
    applied_to = lines.assign(_p=line_pos).loc[np.isin(line_pos, rows)]
    listed = (applied_to.groupby("_p")["invoice_qbo_id"]
              .agg(lambda ids: ", ".join(str(x) for x in sorted(set(ids.tolist())))) if len(applied_to)
              else pd.Series(dtype=object))
    frames["payments_applied_to"] = pd.DataFrame({
        "work_id": w["work_id"][a[m]], "qbo_id": q["qbo_id"][rows], "customer": _text(customer[i[m]]),
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
    q_customer = np.full(len(q), "", dtype=object)  # per QBO row: its pair's customer
    q_customer[pq[has_q]] = customer[has_q]
    m = np.flatnonzero((q["unapplied_cents"] > tol) & ~q_outside)
    frames["payments_unapplied"] = pd.DataFrame({
        "qbo_id": q["qbo_id"][m], "work_id": _ids(w["work_id"], partner_w[m]),
        "customer_qbo_id": q["customer_qbo_id"][m], "customer": _text(q_customer[m]),
        "date": _dates(q["txn_date"][m]),
        "amount_cents": q["total_cents"][m], "unapplied_cents": q["unapplied_cents"][m],
    })

    w_outside = np.zeros(len(w), dtype=bool)
    w_outside[pw[not_expected_w | waiting]] = True
    w_in = ~w["deleted"].astype(bool) & ~w_outside
    q_in = ~q_outside
    totals = (
        Total("payments", "Payments", "count", int(w_in.sum()), int(q_in.sum())),
        Total("payment_amount", "Payments received", "money", int(w["amount_cents"][w_in].sum()),
              int(q["total_cents"][q_in].sum())),
    )
    return _PaymentOutcome(frames, awaiting, _changed("payment", pairs, w, q, lk, links.last_sync_at), totals)


# --------------------------------------------------------------------------------------------
# Balances and aging
# --------------------------------------------------------------------------------------------


def _sum_by(keys: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Sum of ``values`` per key, for each of ``wanted`` (0 where a key has none), exactly in int64."""
    if not len(keys):
        return np.zeros(len(wanted), dtype=np.int64)
    sums = pd.Series(values.astype(np.int64)).groupby(keys.astype(np.int64)).sum()
    return sums.reindex(wanted.astype(np.int64), fill_value=0).to_numpy(dtype=np.int64)


def _balances(work: WorkFrames, qbo: QboFrames, customers: _CustomerOutcome, invoices: _InvoiceOutcome, *,
              tol: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every paired customer's open balance on both sides (the table), and those that differ."""
    wi, qi = _Columns(work.invoices), _Columns(qbo.invoices)
    wc, qc = _Columns(work.clients), _Columns(qbo.customers)
    work_ids, qbo_ids = customers.paired_work, customers.paired_qbo
    open_rows = invoices.w_state <= _DRAFT
    balance = wi["balance_cents"]
    work_open = _sum_by(wi["client_id"][open_rows], balance[open_rows], work_ids)
    outside = open_rows & invoices.w_outside
    work_outside = _sum_by(wi["client_id"][outside], balance[outside], work_ids)
    q_pos = _index(qc["qbo_id"]).get_indexer(qbo_ids)
    qbo_balance = _take(qc["balance_cents"], q_pos, 0).astype(np.int64)
    qbo_outside = _sum_by(qi["customer_qbo_id"][invoices.q_outside], qi["balance_cents"][invoices.q_outside], qbo_ids)
    w_pos = _index(wc["work_id"]).get_indexer(work_ids)
    difference = (qbo_balance - qbo_outside) - (work_open - work_outside)
    table = pd.DataFrame({
        "work_id": work_ids, "qbo_id": qbo_ids, "name": _text(_take(wc["display_name"], w_pos, "")),
        "work_open_cents": work_open, "work_outside_cents": work_outside, "qbo_balance_cents": qbo_balance,
        "qbo_outside_cents": qbo_outside, "difference_cents": difference,
    }).sort_values("work_id", kind="stable", ignore_index=True)
    differs = table.loc[table["difference_cents"].abs() > tol].reset_index(drop=True)
    return table, differs


def _buckets(due: np.ndarray, as_of: date) -> np.ndarray:
    """Bucket index (see :data:`AGING_BUCKETS`) for each due date (datetime64[s])."""
    late = (np.datetime64(as_of, "s").astype(np.int64) - due.astype(np.int64)) // 86_400
    return np.select([late <= 0, late <= 30, late <= 60, late <= 90], [0, 1, 2, 3], 4)


def _aging(work: WorkFrames, qbo: QboFrames, invoices: _InvoiceOutcome, *, as_of: date, due_days: int,
           tol: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Open amounts per bucket on both sides (the table), and the buckets that differ."""
    wi, qi = _Columns(work.invoices), _Columns(qbo.invoices)
    offset = np.timedelta64(due_days * 86_400, "s")
    sides: list[tuple[np.ndarray, np.ndarray]] = []
    for cols, mask, date_col in ((wi, invoices.w_in, "issue_date"), (qi, invoices.q_in, "txn_date")):
        rows = mask & (cols["balance_cents"] > 0)
        due = cols["due_date"][rows]
        due = np.where(np.isnat(due), cols[date_col][rows] + offset, due)
        bucket = _buckets(due, as_of)
        counts = np.bincount(bucket, minlength=len(AGING_BUCKETS)).astype(np.int64)
        sums = _sum_by(bucket, cols["balance_cents"][rows], np.arange(len(AGING_BUCKETS)))
        sides.append((counts, sums))
    (w_count, w_sum), (q_count, q_sum) = sides
    table = pd.DataFrame({
        "bucket": _text(np.array(AGING_BUCKETS, dtype=object)), "work_count": w_count, "work_cents": w_sum,
        "qbo_count": q_count, "qbo_cents": q_sum, "difference_cents": q_sum - w_sum,
    })
    differs = table.loc[(table["difference_cents"].abs() > tol) | (table["work_count"] != table["qbo_count"])]
    return table, differs.reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# The entry point
# --------------------------------------------------------------------------------------------


def _ordered(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in a stable, readable order (by WORK id, then QBO id), columns as the category lists them."""
    columns = list(next(c for c in CATEGORIES if c.name == name).columns)
    frame = frame[columns]
    keys = [k for k in ("entity", "work_id", "qbo_id") if k in columns]
    if keys and len(frame) > 1 and name not in ("aging_buckets", "customers_fields"):
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
) -> ReconResult:
    """Compare WORK and QBO; see the module docstring for the rules.

    ``as_of`` is the day aging is measured at. ``integration_date`` (the sync's): records dated
    before it are not expected on the other side; None means every record is. ``tolerance`` (an
    amount, e.g. ``Decimal("0.01")``) is how far money may differ before it counts; by default not
    a cent. ``default_state`` is the company's default state when the sync fills it in for QBO
    customers without one (``use_default_state``): an empty QBO state then agrees with it.
    ``default_due_days``: when an invoice without a due date falls due, for aging.
    """
    tol = tolerance_cents(tolerance)
    customers = _customers(work, qbo, links, default_state=default_state)
    invoices = _invoices(work, qbo, links, customers, integration_date=integration_date, tol=tol)
    payments = _payments(work, qbo, links, invoices, integration_date=integration_date, tol=tol)
    balances, balance_differences = _balances(work, qbo, customers, invoices, tol=tol)
    aging, aging_differences = _aging(work, qbo, invoices, as_of=as_of, due_days=default_due_days, tol=tol)
    frames: dict[str, pd.DataFrame] = {
        **customers.frames, **invoices.frames, **payments.frames,
        "customer_balances": balance_differences,
        "aging_buckets": aging_differences,
        "changed_in_qbo": pd.concat([customers.changed, invoices.changed, payments.changed], ignore_index=True),
        "awaiting_match": pd.concat([customers.awaiting, invoices.awaiting, payments.awaiting], ignore_index=True),
    }
    frames = {name: _ordered(name, frame) for name, frame in frames.items()}
    wi, qi = _Columns(work.invoices), _Columns(qbo.invoices)
    totals = (
        Total("customers", "Customers", "count", *customers.counts),
        Total("invoices", "Invoices", "count", int(invoices.w_in.sum()), int(invoices.q_in.sum())),
        Total("invoice_amount", "Invoiced", "money", int(wi["total_cents"][invoices.w_in].sum()),
              int(qi["total_cents"][invoices.q_in].sum())),
        Total("open_receivables", "Open receivables", "money", int(wi["balance_cents"][invoices.w_in].sum()),
              int(qi["balance_cents"][invoices.q_in].sum())),
        *payments.totals,
    )
    return ReconResult(
        as_of=as_of,
        integration_date=integration_date,
        tolerance=tolerance,
        frames=frames,
        tables=_tables({"aging": aging, "open_balances": balances}),
        totals=totals,
    )


def _tables(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {name: frame.reset_index(drop=True) for name, frame in tables.items()}
