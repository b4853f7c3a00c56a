"""The local mirror of a QBO company: filled once, kept current by CDC and write replies, verified.

::

    mirror = Mirror(store, client)          # per realm (the client's)
    read = mirror.bring_current()           # one CDC since its position; a full read when it must
    read.text                               # what was read, what it cost, and why
    mirror.objects("Invoice")               # the live invoices, as QBO sent them
    mirror.verify()                         # counts and newest change per month; re-read what differs

How it stays current without reading twice:

* **The sync's CDC** (:meth:`apply_cdc`): the CDC request the sync makes for customers names the
  mirrored entities too (one request, several entities, as QBO allows), and every entity's changes,
  deletions and voids are applied here. Applied only when it starts at or before the mirror's
  position (else the gap would be missed: the mirror's own CDC covers it later).
* **The sync's writes** (:class:`WriteFeed`): the client tells the feed QBO's answer to every write
  (batch items included) on the thread that sent it; the feed applies them in one transaction when
  the run ends. No GET after a write.
* **Its own CDC** (:meth:`bring_current`), before the reconciliation and the explorer read it: one
  request since its position, minus :data:`OVERLAP` (QBO stamps whole seconds; clocks differ).

A mirror never filled, whose position is older than CDC's 30-day window, or whose CDC QBO refuses is
read afresh, and :class:`MirrorRead` says so. An error while reading (no connection, a refusal of a
query) is raised: the reconciliation then stops rather than judge a stale copy.

:meth:`verify` compares, per entity and TxnDate month, QBO's ``COUNT(*)`` and newest
``MetaData.LastUpdatedTime`` (``ORDERBY MetaData.LastUpdatedTime DESC MAXRESULTS 1``: one record) with
the mirror's, and re-reads only the months that differ (customers: the whole list, compared the same
way). Checked too: rows dated before the first month and after the last one (their count must be 0).
A change that keeps a month's count and its newest stamp (a deletion plus an edit of an older row in
the same second) is not seen by this check; CDC sees it.

From time to time: :meth:`bring_current` verifies by itself (``verify=None``, the default) when the
last verification, or the last full read (which needs none), is :data:`VERIFY_EVERY` old or older
(``verified_at`` in the mirror's values, local clock); ``verify=True`` always verifies after a CDC,
``verify=False`` never. It is an optional read: at 100% of the meter's budget it is skipped, and
:attr:`MirrorRead.text` says so, as it says when an automatic verification ran and why.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ..errors import QboAuthError, QboError, QboServerError, QboThrottled, QboTransportError
from ..qbo.client import CDC_LOOKBACK, CdcResult, QboClient
from ..qbo.query import MAX_PAGE_SIZE, Select, iter_pages, select
from ..types import parse_qbo_datetime
from ..work.store import WorkStore
from .store import ENTITIES, NAME_LISTS, MirrorStore

__all__ = ["OVERLAP", "VERIFY_EVERY", "Mirror", "MirrorRead", "Verification", "WriteFeed"]

#: The next CDC starts this long before the mirror's position (as the sync's does).
OVERLAP = timedelta(minutes=5)
#: A position this close to CDC's 30-day limit is treated as past it (the request takes time).
_MARGIN = timedelta(hours=1)
#: ``bring_current(verify=None)`` verifies when the last verification (or full read) is this old.
VERIFY_EVERY = timedelta(days=7)


@dataclass
class MirrorRead:
    """How the mirror was brought current: ``mode`` ``"cdc"`` (one change-data-capture), ``"full"``
    (read afresh, ``reason`` says why) or ``"fresh"`` (asked for). ``requests``: HTTP requests sent
    (retries included); ``records``: objects QBO returned."""

    mode: str
    requests: int = 0
    records: int = 0
    seconds: float = 0.0
    changes: int = 0
    reason: str = ""
    position: datetime | None = None
    #: the verification made (asked for, or automatic), or the sentence saying why it was skipped
    verification: Verification | None = None
    skipped: str = ""
    #: why an automatic verification ran ("the last one was 9 days ago"); "" when asked for or none ran
    auto: str = ""

    @property
    def text(self) -> str:
        if self.mode == "cdc":
            text = (f"QuickBooks read from the local mirror, brought current by change-data-capture "
                    f"({self.requests} request{'s' if self.requests != 1 else ''}, {self.changes:,} change(s) applied)")
        else:
            why = "a full read was asked for (--fresh)" if self.mode == "fresh" else self.reason
            text = (f"QuickBooks read in full ({why}): {self.requests:,} requests, {self.records:,} records, "
                    f"{self.seconds:.1f} s; the local mirror now holds this read")
        if self.verification is not None:
            why = f"an automatic verification was due ({self.auto}): " if self.auto else ""
            text += f"; {why}{self.verification.text}"
        if self.skipped:
            text += f"; {self.skipped}"
        return text

    def to_dict(self) -> dict[str, Any]:
        found = self.verification
        return {"mode": self.mode, "requests": self.requests, "records": self.records,
                "seconds": round(self.seconds, 3), "changes": self.changes, "reason": self.reason,
                "position": self.position.isoformat() if self.position else None, "text": self.text,
                "skipped": self.skipped or None,
                "verification": None if found is None else {
                    "requests": found.requests, "records": found.records, "mirrored": found.mirrored,
                    "share": round(found.share, 6), "checked": found.checked, "reread": list(found.reread),
                    "automatic": self.auto or None}}


@dataclass
class Verification:
    """What :meth:`Mirror.verify` compared and read again."""

    requests: int = 0
    records: int = 0
    mirrored: int = 0
    checked: int = 0
    reread: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def share(self) -> float:
        """Records read as a share of the records the mirror holds."""
        return self.records / self.mirrored if self.mirrored else 0.0

    @property
    def text(self) -> str:
        again = f"read again: {', '.join(self.reread)}" if self.reread else "nothing differed"
        return (f"mirror verified: {self.checked} month/entity checks, {self.requests} requests, {self.records:,} "
                f"records read ({self.share:.2%} of {self.mirrored:,}); {again}")


def _fatal(exc: BaseException) -> bool:
    return isinstance(exc, QboAuthError | QboServerError | QboThrottled | QboTransportError)


def _month_start(month: str) -> date:
    return date(int(month[:4]), int(month[5:7]), 1)


def _next_month(month: str) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    return f"{year + mon // 12:04d}-{mon % 12 + 1:02d}"


class WriteFeed:
    """QBO's answers to the writes made while it observes a client, applied to the mirror at the end.
    Thread-safe (the sync's sender answers on worker threads); the mirror is written on the caller's."""

    def __init__(self, mirror: MirrorStore) -> None:
        self.mirror = mirror
        self._lock = threading.Lock()
        self._seen: list[tuple[str, Mapping[str, Any]]] = []

    def __call__(self, entity: str, operation: str, obj: Mapping[str, Any]) -> None:
        if entity in ENTITIES:
            with self._lock:
                self._seen.append((entity, obj))

    def flush(self) -> int:
        """Apply what was seen (one transaction); returns the rows written."""
        with self._lock:
            seen, self._seen = self._seen, []
        if not seen or not self.mirror.generation():
            return 0
        with self.mirror.store.begin() as conn:
            return self.mirror.apply(conn, seen)


class Mirror(MirrorStore):
    """The mirror of ``client``'s company in ``store``'s database (see the module docstring)."""

    def __init__(self, store: WorkStore, client: QboClient | None = None, *, realm: str | None = None,
                 page_size: int = MAX_PAGE_SIZE) -> None:
        super().__init__(store, realm or (client.realm_id if client is not None else ""))
        self.client = client
        self.page_size = page_size

    def _client(self) -> QboClient:
        if self.client is None:
            raise ValueError("this mirror was opened without a QBO client: it can only be read")
        return self.client

    # ------------------------------------------------------------------ fed by the sync
    def filled(self) -> bool:
        return self.generation() > 0

    def covers(self, since: datetime) -> bool:
        """Whether a CDC from ``since`` leaves no gap after the mirror's position."""
        position = self.position()
        return self.filled() and position is not None and since <= position

    def apply_cdc(self, cdc: CdcResult) -> int:
        """Apply a CDC result (changed objects as QBO sent them, deleted stubs) and move the position to
        its server time. Ignored (0) when it starts after the mirror's position. Entities whose CDC
        may have missed a deletion (``incomplete``) are marked to be read again."""
        if not self.covers(cdc.since):
            return 0
        changes: list[tuple[str, Mapping[str, Any]]] = []
        for entity in ENTITIES:
            for obj in cdc.raw.get(entity, ()):
                changes.append((entity, obj))
            for stub in cdc.deleted.get(entity, ()):
                changes.append((entity, {"Id": stub.id, "status": "Deleted",
                                         "MetaData": {"LastUpdatedTime": stub.last_updated.isoformat()}}))
        with self.store.begin() as conn:
            written = self.apply(conn, changes)
            if cdc.server_time is not None:
                self.set_position(conn, max(cdc.server_time, self.position(conn) or cdc.server_time))
            dirty = sorted(set(self.get_value("dirty", [], conn)) | (set(cdc.incomplete) & set(ENTITIES)))
            self.set_value(conn, "dirty", dirty)
        return written

    def feed(self) -> WriteFeed:
        """A :class:`WriteFeed` for ``client.observing(...)`` around a run's writes."""
        return WriteFeed(self)

    # ------------------------------------------------------------------ reading QBO
    def _select(self, entity: str) -> Select:
        sel = select(entity)
        return sel.include_inactive() if entity in NAME_LISTS else sel

    def _pages(self, sel: Select) -> Iterator[tuple[list[dict[str, Any]], datetime | None]]:
        client = self._client()
        times: list[datetime | None] = []

        def fetch(statement: str) -> list[dict[str, Any]]:
            rows, at = client.query_timed(statement)
            times.append(at)
            return rows

        for page in iter_pages(sel.order_by("Id").page, fetch, self.page_size):
            yield page, times[-1]

    def fill(self, entities: tuple[str, ...] = ENTITIES, *, mode: str = "full", reason: str = "") -> MirrorRead:
        """Read ``entities`` in full (the paging queries of a full read) into a new generation, then
        switch to it; the position is QBO's clock at the first reply."""
        client = self._client()
        started, sent = time.monotonic(), client.requests_sent()
        gen = self.begin_generation()
        records = 0
        first: datetime | None = None
        for entity in entities:
            for page, at in self._pages(self._select(entity)):
                first = first or at
                records += self.insert(gen, entity, page)
        position = first or datetime.now(UTC)
        whole = set(entities) >= set(ENTITIES)
        self.switch(gen, entities, position, filled=whole or not self.filled())
        if whole:  # a full read needs no verification: the next one is due a period from now
            with self.store.begin() as conn:
                self.set_value(conn, "verified_at", datetime.now(UTC).isoformat())
        return MirrorRead(mode, client.requests_sent() - sent, records, time.monotonic() - started, 0, reason, position)

    def bring_current(self, *, fresh: bool = False, verify: bool | None = None,
                      now: datetime | None = None) -> MirrorRead:
        """Make the mirror current: a full read with ``fresh``, when never filled, when its position is
        past CDC's window, or when QBO refuses its CDC; else one CDC since its position (entities whose
        last CDC may have missed a deletion are read again in full). Then, after a CDC (a full read needs
        no verification), :meth:`verify` it: ``verify=None`` (auto) when :meth:`verification_due` says so,
        ``True`` always, ``False`` never; an optional read the meter's budget may stop. ``now``: the
        local clock (default: now)."""
        read = self._bring_current(fresh=fresh, now=now)
        if read.mode != "cdc" or verify is False:
            return read
        due = self.verification_due(now) if verify is None else ""
        if verify is None and not due:
            return read
        from ..qbo.meter import get_meter

        refused = get_meter().refusal(self.realm, "the local mirror's verification")
        if refused is not None:
            read.skipped = refused
        else:
            read.verification = self.verify()
            read.auto = due
        return read

    def verified_at(self) -> datetime | None:
        """When the mirror was last verified or read in full (local clock), or None if never recorded
        (a mirror filled before this was kept: its ``filled_at`` then)."""
        text = self.get_value("verified_at") or self.get_value("filled_at")
        return datetime.fromisoformat(text) if text else None

    def verification_due(self, now: datetime | None = None) -> str:
        """Why an automatic verification is due ("last verified 9 days ago"), or "" when it is not
        (the last verification or full read is younger than :data:`VERIFY_EVERY`)."""
        last = self.verified_at()
        if last is None:
            return "never verified"
        age = (now or datetime.now(UTC)) - last
        if age < VERIFY_EVERY:
            return ""
        return f"last verified {age.days} day{'s' if age.days != 1 else ''} ago, on {last:%Y-%m-%d}; due every " \
               f"{VERIFY_EVERY.days} days"

    def _bring_current(self, *, fresh: bool, now: datetime | None) -> MirrorRead:
        client = self._client()
        if fresh:
            return self.fill(mode="fresh")
        position = self.position()
        if not self.filled() or position is None:
            return self.fill(reason="the local mirror was empty: its first read")
        current = now or datetime.now(UTC)
        if position < current - CDC_LOOKBACK + _MARGIN:
            return self.fill(reason=f"the local mirror was last brought current on {position:%Y-%m-%d %H:%M} UTC, "
                                    f"past the {CDC_LOOKBACK.days}-day window of QuickBooks' change-data-capture: "
                                    "read afresh")
        started, sent = time.monotonic(), client.requests_sent()
        try:
            cdc = client.cdc(list(ENTITIES), position - OVERLAP)
        except QboError as exc:
            if _fatal(exc):
                raise
            return self.fill(reason=f"QuickBooks refused the change-data-capture request ({exc}): read afresh")
        if cdc.server_time is None:
            cdc = CdcResult(cdc.since, cdc.until, cdc.objects, cdc.deleted, current, cdc.incomplete, cdc.raw)
        written = self.apply_cdc(cdc)
        read = MirrorRead("cdc", client.requests_sent() - sent, sum(len(v) for v in cdc.raw.values())
                          + sum(len(v) for v in cdc.deleted.values()), time.monotonic() - started, written, "",
                          self.position())
        dirty = tuple(e for e in ENTITIES if e in set(self.get_value("dirty", [])))
        if dirty:
            again = self.fill(dirty, reason="")
            read.requests += again.requests
            read.records += again.records
            read.seconds += again.seconds
        return read

    # ------------------------------------------------------------------ verification
    def verify(self) -> Verification:
        """Compare counts and the newest change per entity and month with QBO; re-read what differs."""
        client = self._client()
        started, sent = time.monotonic(), client.requests_sent()
        result = Verification(mirrored=sum(self.counts().values()))
        for entity in ENTITIES:
            stats = self.month_stats(entity)
            if entity in NAME_LISTS:
                count, newest = stats.get("", (0, None))
                result.checked += 1
                if self._differs(self._select(entity), count, newest, result):
                    self._reread(entity, None, result)
                    result.reread.append(entity)
                continue
            months = sorted(m for m in stats if m)
            if not months:
                sel = select(entity)
                result.checked += 1
                if self._differs(sel, 0, None, result):
                    self._reread(entity, None, result)
                    result.reread.append(entity)
                continue
            first, last = months[0], months[-1]
            month = first
            while month <= last:
                count, newest = stats.get(month, (0, None))
                sel = select(entity).where("TxnDate", ">=", _month_start(month).isoformat()).where(
                    "TxnDate", "<", _month_start(_next_month(month)).isoformat())
                result.checked += 1
                if self._differs(sel, count, newest, result):
                    self._reread(entity, sel, result, months=[month])
                    result.reread.append(f"{entity} {month}")
                month = _next_month(month)
            edges = (("before", select(entity).where("TxnDate", "<", _month_start(first).isoformat()), first),
                     ("after", select(entity).where("TxnDate", ">=", _month_start(_next_month(last)).isoformat()),
                      _next_month(last)))
            for side, sel, bound in edges:
                result.checked += 1
                if self._differs(sel, stats_outside(stats, side, bound), None, result, count_only=True):
                    if side == "before":
                        self._reread(entity, sel, result, before=bound)
                    else:
                        self._reread(entity, sel, result, after=bound)
                    result.reread.append(f"{entity} {side} {bound}")
        with self.store.begin() as conn:
            self.set_value(conn, "verified_at", datetime.now(UTC).isoformat())
        result.requests = client.requests_sent() - sent
        result.seconds = time.monotonic() - started
        return result

    def _differs(self, sel: Select, count: int, newest: datetime | None, result: Verification, *,
                 count_only: bool = False) -> bool:
        client = self._client()
        theirs = client.count(sel)
        if theirs != count:
            return True
        if count_only or theirs == 0:
            return False
        rows, _ = client.query_timed(sel.order_by("MetaData.LastUpdatedTime", desc=True).page(1, 1))
        result.records += len(rows)
        stamp = rows[0].get("MetaData", {}).get("LastUpdatedTime") if rows else None
        if not isinstance(stamp, str) or newest is None:
            return True
        return parse_qbo_datetime(stamp).astimezone(UTC).replace(microsecond=0) != newest.replace(microsecond=0)

    def _reread(self, entity: str, sel: Select | None, result: Verification, *, months: list[str] | None = None,
                before: str | None = None, after: str | None = None) -> None:
        query = self._select(entity) if sel is None else sel
        objects: list[dict[str, Any]] = []
        for page, _ in self._pages(query):
            objects.extend(page)
        result.records += len(objects)
        with self.store.begin() as conn:
            self.replace_range(conn, entity, months, objects, before=before, after=after)


def stats_outside(stats: Mapping[str, tuple[int, datetime | None]], side: str, bound: str) -> int:
    """Live rows the mirror holds dated before / from ``bound`` (0 by construction: the range is the
    mirror's own months; kept explicit so the check reads as a comparison)."""
    if side == "before":
        return sum(n for m, (n, _) in stats.items() if m and m < bound)
    return sum(n for m, (n, _) in stats.items() if m and m >= bound)
