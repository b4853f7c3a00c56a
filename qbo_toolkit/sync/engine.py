"""The sync engine: plan, then act, each record atomically, safe to re-run after any failure.

A run goes through four stages, each planned before it acts:

1. **customers** (two ways): the initial import matches QBO customers to WORK clients before it
   creates anything (exact matches link; weak and multiple ones wait in the match preview);
   afterwards changes found on both sides (WORK revisions; QBO CDC with an overlap window) are
   merged field by field (:mod:`.merge`); new records are created on the other side.
2. **items**: WORK items used by the invoices to send are found in QBO by name or created with the
   chosen revenue (income) and item (expense) accounts.
3. **invoices** (WORK -> QBO, from the integration date): create, sparse update with the current
   SyncToken (on a stale token: re-read, retry once, else a conflict), void, delete (after removing
   the payments QBO holds for them).
4. **payments** (WORK -> QBO, for invoices already in QBO): create, update, delete.

Sending. Creations go as the stage plans them, as batch requests (30 operations) and single
requests side by side, paced to fill QBO's ceiling (:class:`_Stream`); answers are recorded on the
planning thread.

Safety. Every QBO write carries a deterministic requestid (entity, WORK id, version, operation;
for a streamed request, a hash of the run and its operations). A streamed request, batch or single,
is written to the outbox (with its kind and requestid) before it is sent, and removed in the
transaction that records its answers; a run first resends what the outbox holds, unchanged, so QBO
replays answers instead of writing twice. The id-map row, the activity entry and any WORK write of
one record share one transaction (for a streamed request: the one that records all its answers and
removes it from the outbox). Hence a run killed at any point and run again creates no duplicate and
loses nothing.

``dry_run`` plans every stage and writes nothing (creations are assumed to succeed so later stages
can be planned).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Connection

from ..errors import DuplicateName, QboError, QboValidationError, StaleObject
from ..mapping import customers as cmap
from ..mapping import invoices as imap
from ..mapping import payments as pmap
from ..mapping.names import check_display_name, suffixed_name
from ..qbo.client import BatchOp, BatchResult, QboClient, entity_class
from ..qbo.query import select
from ..qbo.transport import Permit, RateLimits
from ..settings import Settings, SettingsError
from ..work.models import Address, Client, Invoice, Payment
from ..work.store import WorkStore
from .plan import Action, plan_customer_merge, plan_customers, plan_invoice, plan_payment
from .progress import NullReporter, RecordOutcome, Reporter
from .state import Link, SyncState

__all__ = ["SyncEngine", "SyncResult"]

CDC_OVERLAP = timedelta(minutes=5)
BATCH = 30
#: The pace a little above the windows' rates, so that the limiter's windows, not the pace, are
#: what holds a stage back once it runs: time lost to a slow moment is caught up.
PACE = 1.05
#: A stage's last few operations go as single requests when the request budget allows: a batch
#: slot carries 30 operations, and the next stage can use it.
SINGLE_TAIL = 8
#: Up to this many records in play, a stage reads their links by key instead of the whole id map.
PARTIAL_LINKS = 20_000


@dataclass
class SyncResult:
    run_id: int
    kind: str
    dry_run: bool
    counts: Counter[str] = field(default_factory=Counter)
    actions: list[Action] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0
    status: str = "ok"
    pending_matches: int = 0

    def __str__(self) -> str:
        c = self.counts
        words = {"ok": "done", "failed": "failed (see the activity log)", "skipped": "skipped",
                 "held": "waiting for a match decision"}
        parts = [f"{c[k]} {v}" for k, v in words.items() if c.get(k)]
        detail = ", ".join(f"{k.replace('.', ' ')} {v}" for k, v in sorted(c.items()) if k.count(".") == 2)
        head = f"sync run {self.run_id} ({self.kind}{', dry run' if self.dry_run else ''}, {self.requests} requests)"
        return f"{head}: {', '.join(parts) or 'nothing to do'}" + (f"\n  {detail}" if detail else "")


def _rid(*parts: object) -> str:
    text = "qt-" + "-".join(str(p) for p in parts)
    if len(text) <= 50:
        return text
    return "qt-" + hashlib.sha1(text.encode()).hexdigest()[:40]  # noqa: S324 - an id, not security


def _chunk_rid(run_id: int, ops: Sequence[BatchOp]) -> str:
    """A batch request's requestid (<= 36 characters): the run and the operations it carries. It is
    stored in the outbox before the request is sent, and a resend reads it from there. The run is in
    it so that a record sent again in a later run (after the user's retry) is really sent again,
    instead of getting the earlier refusal replayed."""
    text = json.dumps([run_id, *((o.entity, o.op, o.key) for o in ops)])
    return "qtb-" + hashlib.sha1(text.encode()).hexdigest()[:32]  # noqa: S324 - an id, not security


def _single_rid(run_id: int, op: BatchOp) -> str:
    """A single request's requestid: the run and the operation (see :func:`_chunk_rid`)."""
    text = json.dumps([run_id, op.entity, op.op, op.key])
    return "qts-" + hashlib.sha1(text.encode()).hexdigest()[:32]  # noqa: S324 - an id, not security


def _outbox_body(ops: Sequence[BatchOp]) -> list[dict[str, Any]]:
    return [{"op": o.op, "entity": o.entity, "payload": o.payload, "key": o.key} for o in ops]


class _Pace:
    """Token buckets that spread batch and single requests evenly over the minute, at the rates the
    limiter's windows allow (``batch_cap`` batches and ``minute_cap - batch_cap`` singles a minute).

    The limiter alone would let a stage send its whole minute of batch requests in the first
    seconds, and then only singles: QBO (and the emulator) would get bursts of work, and the
    answers would come back in bursts for one thread to record. Evenly spread, the same ceiling
    keeps both sides busy all the time. A small bucket lets a stage catch up after a short pause
    (a stage's planning, a slow answer); the limiter's windows remain the hard limit.
    """

    def __init__(self, limits: RateLimits, clock: Callable[[], float] = time.monotonic) -> None:
        span = limits.minute_span
        self.rate = {"batch": PACE * limits.batch_cap / span,
                     "single": PACE * max(1, limits.minute_cap - limits.batch_cap) / span}
        self.size = {"batch": 2.0, "single": 4.0}
        self.tokens = dict(self.size)
        self.clock = clock
        self.at = clock()

    def _refill(self) -> None:
        now = self.clock()
        elapsed, self.at = now - self.at, now
        for kind, rate in self.rate.items():
            self.tokens[kind] = min(self.size[kind], self.tokens[kind] + elapsed * rate)

    def ready(self, kind: str) -> bool:
        self._refill()
        return self.tokens[kind] >= 1.0

    def take(self, kind: str) -> None:
        self.tokens[kind] -= 1.0

    def wait(self, kind: str) -> float:
        """Real seconds until ``kind`` has a token."""
        self._refill()
        return max(0.0, (1.0 - self.tokens[kind]) / self.rate[kind])


@dataclass
class _Unit:
    """One request to QBO: a ``batch`` of up to 30 operations or a ``single`` operation, its
    requestid, and the handler that records each operation's answer."""

    kind: str
    rid: str
    ops: list[BatchOp]
    handle: Callable[[BatchOp, BatchResult], None]
    permit: Permit | None = None


class _Stream:
    """One stage's writes, sent while they are still being planned.

    QBO allows 500 requests a minute of which 40 may be batch requests (30 operations each), 10 a
    second and 10 in flight. The engine sends batch requests while the batch window has room and
    single requests in the rest of the request budget at the same time (:meth:`SyncEngine._take`),
    so a stage gets all of the ceiling, and its last operations are not held back by the batch
    window. Every request is written to the outbox before it is sent (with its requestid and its
    kind) and removed in the transaction that records its answers; requests go out on worker
    threads, and answers are recorded on the thread that plans (:meth:`SyncEngine._record`), so the
    WORK store and the activity log have one writer.
    """

    def __init__(self, engine: SyncEngine, handle: Callable[[BatchOp, BatchResult], None]) -> None:
        self.engine = engine
        self.handle = handle
        self.queue: deque[BatchOp] = deque()
        self.flying: dict[Future[list[BatchResult]], _Unit] = {}
        self.pool: ThreadPoolExecutor | None = None
        self.pace = _Pace(engine.client.transport.limiter.limits)

    def append(self, op: BatchOp) -> None:
        """Queue one operation; send what the windows allow now, record what has been answered."""
        self.queue.append(op)
        self.engine._pump(self, final=False)

    def finish(self) -> None:
        """Send the rest and record every answer."""
        try:
            self.engine._drain(self)
        finally:
            for future, unit in self.flying.items():  # the run failed: what has not started never will
                if future.cancel() and unit.permit is not None:
                    unit.permit.release()
            if self.pool is not None:
                self.pool.shutdown(wait=not self.flying)


def _fingerprint(payload: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _as_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    to_dict = getattr(obj, "to_dict", None)
    return dict(to_dict()) if to_dict is not None else dict(vars(obj))



def _constant(request_id: str) -> Callable[[int, Sequence[BatchOp]], str]:
    def chunk_request_id(_index: int, _chunk: Sequence[BatchOp]) -> str:
        return request_id
    return chunk_request_id


def _key(entity: str, work_id: int, version: int, op: str) -> str:
    return f"{entity}:{work_id}:{version}:{op}"


def _parse_key(key: str) -> tuple[str, int, int, str]:
    entity, work_id, version, op = key.split(":")
    return entity, int(work_id), int(version), op


class SyncEngine:
    def __init__(self, store: WorkStore, client: QboClient, settings: Settings, *,
                 reporter: Reporter | None = None, today: date | None = None, concurrency: int = 10) -> None:
        self.store = store
        self.client = client
        self.realm = client.realm_id
        self.settings = settings
        self.reporter: Reporter = reporter or NullReporter()
        self.state = SyncState(store.engine, self.realm)
        self.today = today
        self.concurrency = concurrency  # requests in flight at once (QBO allows 10; the limiter keeps it)
        self._tx: Connection | None = None  # the transaction recording a request's answers (see _record)
        self._open: tuple[int, set[tuple[str, int]]] | None = None  # (run, records to clear; see _load_open)
        self.run_id = 0
        self.counts: Counter[str] = Counter()
        self.dry_run = False
        self.actions: list[Action] = []
        self.assumed: dict[str, dict[int, Link]] = {}  # dry run: records assumed created or linked
        self.unblocked: dict[str, set[str]] = {}  # blocked:<entity> keys to clear when the run completes
        self.acted: set[tuple[str, int]] = set()  # records a later stage must not count again (progress)

    # ================================================================================== public
    def run(self, *, dry_run: bool = False) -> SyncResult:
        self.settings.validate()
        if self.settings.invoices and self.settings.integration_date is None:
            raise SettingsError(["Invoices sync from the integration date: enable the integration first "
                                     "(it sets integration_date)"])
        started = time.monotonic()
        requests_before = self._requests()
        initial = not self.state.get_value("initialized", False)
        kind = "initial" if initial else "incremental"
        self.dry_run = dry_run
        self.counts = Counter()
        self.actions = []
        self.assumed = {}
        self.unblocked = {}
        self.acted = set()
        self.run_id = self.state.start_run(kind, dry_run=dry_run)
        status = "ok"
        result = SyncResult(self.run_id, kind, dry_run)
        try:
            if not dry_run:
                self._recover_outbox()
            work_revision = self.store.max_revision()
            since = self._cdc_since()
            customers_plan = self._plan_customers(initial, since)
            total = len(customers_plan.actions) + self._estimate_transactions(initial)
            self.state.set_run_total(self.run_id, total)
            self.reporter.start(self.run_id, kind, total)
            self.reporter.stage("customers")
            self._act_customers(customers_plan)
            if self.settings.invoices:
                self.reporter.stage("items")
                item_ids = self._sync_items()
                self.reporter.stage("invoices")
                self._sync_invoices(initial, item_ids)
                if self.settings.payments:
                    self.reporter.stage("payments")
                    self._sync_payments(initial)
            if not dry_run:
                with self.store.engine.begin() as conn:
                    self.state.set_value(conn, "initialized", True)
                    self.state.set_value(conn, "work_revision", work_revision)
                    self.state.set_value(conn, "cdc_since", customers_plan.server_time.isoformat())
                    for entity, keys in self.unblocked.items():
                        blocked = self.state.get_value(f"blocked:{entity}", {}, conn)
                        self.state.set_value(conn, f"blocked:{entity}",
                                             {k: v for k, v in blocked.items() if k not in keys})
        except BaseException:
            status = "failed"
            raise
        finally:
            result.counts = self.counts
            result.actions = self.actions
            result.requests = self._requests() - requests_before
            result.seconds = time.monotonic() - started
            result.status = status
            result.pending_matches = len(self.state.matches("pending"))
            self.state.finish_run(self.run_id, status, self.counts, result.requests)
            self.reporter.finish(result)
        return result

    def retry(self, entity: str, work_id: int) -> None:
        self.state.queue_retry(entity, work_id)

    def dismiss(self, entity: str, work_id: int) -> None:
        self.state.dismiss(entity, work_id)

    # ================================================================================== helpers
    def _read(self, entity: str, qbo_id: str) -> dict[str, Any]:
        cls = entity_class(entity)
        assert cls is not None
        return _as_dict(self.client.read(cls, qbo_id))

    def _links(self, entity: str, work_ids: Iterable[int] | None = None) -> dict[int, Link]:
        """The id map of ``entity`` (only the links of ``work_ids`` when given); in a dry run with the
        records this run assumed created or linked."""
        links = self.state.links(entity, work_ids=work_ids)
        if self.dry_run:
            links.update(self.assumed.get(entity, {}))
        return links

    @staticmethod
    def _wanted(ids: Iterable[int], initial: bool) -> list[int] | None:
        """The links a stage needs: those of ``ids``, or all of them (None) for the initial run and
        for many records, where one read of the whole map costs less than reading them by key."""
        wanted = sorted(set(ids))
        return None if initial or len(wanted) > PARTIAL_LINKS else wanted

    def _assume(self, entity: str, work_id: int, qbo_id: str = "0") -> None:
        """Dry run: plan later stages as if this record were in QBO."""
        self.assumed.setdefault(entity, {})[work_id] = Link(entity, work_id, qbo_id, "0", 0, None, None, None,
                                                             "active")

    def _requests(self) -> int:
        stats = getattr(self.client.transport, "stats", None)
        return int(stats.snapshot().get("requests", 0)) if stats is not None else 0

    def _cdc_since(self) -> datetime | None:
        value = self.state.get_value("cdc_since")
        return datetime.fromisoformat(value) if value else None

    def _today(self) -> date:
        """The run's date, against which transaction dates are checked for plausibility."""
        return self.today or date.today()

    def _note(self, conn: Any, *, entity: str, direction: str, action: str, outcome: str,
              work_id: int | None = None, qbo_id: str | None = None, field: str | None = None,
              message: str = "") -> None:
        """One activity entry (inside the caller's transaction) and one progress event."""
        if conn is not None:
            self.state.record(conn, self.run_id, entity=entity, direction=direction, action=action,
                              outcome=outcome, work_id=work_id, qbo_id=qbo_id, field=field, message=message)
            if outcome in ("failed", "conflict") and work_id is not None and self._open is not None:
                self._open[1].add((entity, work_id))
        self.counts[outcome] += 1
        self.counts[f"{entity}.{action}.{outcome}"] += 1
        self.reporter.record(RecordOutcome(entity, direction, action, outcome, work_id, qbo_id, field, message))

    def _fail(self, entity: str, direction: str, action: str, work_id: int | None, message: str, *,
              qbo_id: str | None = None, field: str | None = None, pending: bool = False,
              blocked_by: str | None = None) -> None:
        """Record a failed record. ``pending``: try again next run (a passing fault); ``blocked_by``
        (``"customer:12"``): try again once that record is in QBO. Otherwise it waits for a change in
        WORK or for the user's retry, so an unchanged bad record is not reported again every run."""
        if self.dry_run:
            last = self.actions[-1] if self.actions else None
            if last is None or (last.kind, last.entity, last.work_id) != ("fail", entity, work_id):
                self.actions.append(Action("fail", entity, direction, work_id, qbo_id, {}, message, field))
            self._note(None, entity=entity, direction=direction, action=action, outcome="failed", work_id=work_id,
                       qbo_id=qbo_id, field=field, message=message)
            return
        with self._begin() as conn:
            self._note(conn, entity=entity, direction=direction, action=action, outcome="failed", work_id=work_id,
                       qbo_id=qbo_id, field=field, message=message)
            if work_id is None:
                return
            if pending:
                queue = set(self.state.get_value(f"pending:{entity}", [], conn))
                queue.add(work_id)
                self.state.set_value(conn, f"pending:{entity}", sorted(queue))
            if blocked_by is not None:
                blocked: dict[str, list[int]] = self.state.get_value(f"blocked:{entity}", {}, conn)
                ids = set(blocked.get(blocked_by, [])) | {work_id}
                blocked[blocked_by] = sorted(ids)
                self.state.set_value(conn, f"blocked:{entity}", blocked)

    def _unblocked(self, entity: str, dependency: str) -> set[int]:
        """Records of ``entity`` that waited for a ``dependency`` record now linked to QBO."""
        blocked: dict[str, list[int]] = self.state.get_value(f"blocked:{entity}", {})
        if not blocked:
            return set()
        linked = self.state.links(dependency, work_ids=[
            int(key.partition(":")[2]) for key in blocked if key.partition(":")[0] == dependency])
        ready: set[int] = set()
        for key, ids in blocked.items():
            dep, _, dep_id = key.partition(":")
            if dep == dependency and int(dep_id) in linked and linked[int(dep_id)].state == "active":
                ready.update(ids)
        if ready and not self.dry_run:
            # forgotten only when the run completes: a run that dies before sending them finds them again
            self.unblocked.setdefault(entity, set()).update(
                k for k in blocked if k.startswith(dependency + ":") and int(k.partition(":")[2]) in linked)
        return ready

    def _load_open(self) -> None:
        """Remember, for this run, which records sit in a retry queue or have open failures (outside
        any transaction: committed state). Records written later need their queue entry and their
        failures cleared only if they are among these or failed in this run (:meth:`_note`)."""
        if self._open is not None and self._open[0] == self.run_id:
            return
        keys = {(e.entity, e.work_id) for e in self.state.open_failures() if e.work_id is not None}
        for entity in ("customer", "item", "invoice", "payment"):
            keys.update((entity, int(w)) for w in self.state.get_value(f"pending:{entity}", []))
        self._open = (self.run_id, keys)

    def _clear_pending(self, conn: Any, entity: str, work_id: int) -> None:
        if self._open is not None and self._open[0] == self.run_id and (entity, work_id) not in self._open[1]:
            return  # neither queued nor failed (a retry queued by the user meanwhile stays queued: harmless)
        queue = self.state.get_value(f"pending:{entity}", [], conn)
        if work_id in queue:
            self.state.set_value(conn, f"pending:{entity}", [w for w in queue if w != work_id])
        self.state.resolve(entity, work_id, "synced", conn)

    def _error_text(self, err: QboError, label: str) -> tuple[str, str | None]:
        """The activity-log sentence for a QBO refusal, and the field it names."""
        element = err.element or None
        detail = err.detail or err.message
        return f"{label}: QuickBooks refused it ({err.code} {err.message}): {detail}", element

    # ---------------------------------------------------------------------------------- sending
    def _begin(self) -> AbstractContextManager[Connection]:
        """The transaction a record's writes go in: the one recording a whole request's answers
        while there is one (see :meth:`_record`), else a transaction of its own."""
        if self._tx is not None:
            return nullcontext(self._tx)
        return self.store.engine.begin()

    def _sender(self, handle: Callable[[BatchOp, BatchResult], None]) -> _Stream:
        """A stream of one stage's writes: ``append`` them as they are planned, then ``finish``."""
        self._load_open()
        return _Stream(self, handle)

    def _send(self, ops: Iterable[BatchOp], handle: Callable[[BatchOp, BatchResult], None]) -> None:
        """Send ``ops`` (see :class:`_Stream`); ``handle`` records each answer."""
        stream = self._sender(handle)
        for op in ops:
            stream.append(op)
        stream.finish()

    def _pump(self, stream: _Stream, *, final: bool) -> None:
        """Record the answers that arrived, then send what the rate windows allow now (never waits)."""
        self._collect(stream)
        units = self._take(stream, final=final)
        if units:
            self._dispatch(stream, units)

    def _drain(self, stream: _Stream) -> None:
        """Send the rest of ``stream`` and record every answer, waiting for the windows and replies."""
        limiter = self.client.transport.limiter
        while stream.queue or stream.flying:
            self._pump(stream, final=True)
            if not stream.queue and not stream.flying:
                break
            timeout = 0.05
            if stream.queue and len(stream.flying) < self.concurrency:
                pace = stream.pace
                waits = [max(w, pace.wait(kind)) for kind, w in (
                    ("batch", limiter.wait_needed(True)),
                    ("single", limiter.wait_needed(False, leave_for_batches=True))) if w is not None]
                timeout = min([*waits, 0.05])
            if stream.flying:
                wait(list(stream.flying), timeout=max(timeout, 0.0005), return_when=FIRST_COMPLETED)
            else:
                time.sleep(max(timeout, 0.0005))

    def _take(self, stream: _Stream, *, final: bool) -> list[tuple[_Unit, Permit]]:
        """The requests to send now, each with the limiter's permit for it.

        A batch request whenever the batch window has room and 30 operations are queued (or the
        stage has planned everything); a single request in the rest of the request budget (the
        limiter keeps the room batches still need), leaving a full batch queued for the next batch
        slot while planning goes on. The last few operations of a stage go as single requests when
        they can: a batch slot carries 30.
        """
        queue = stream.queue
        units: list[tuple[_Unit, Permit]] = []
        while queue and len(stream.flying) + len(units) < self.concurrency:
            n = len(queue)
            if final and n <= SINGLE_TAIL and self._permit(stream, "single", units, queue):
                continue
            if (n >= BATCH or final) and self._permit(stream, "batch", units, queue):
                continue
            if (n > BATCH or final) and self._permit(stream, "single", units, queue):
                continue
            break
        return units

    def _permit(self, stream: _Stream, kind: str, units: list[tuple[_Unit, Permit]], queue: deque[BatchOp]) -> bool:
        """Take a ``kind`` request off ``queue`` into ``units`` if the pace and the windows allow one now."""
        if not stream.pace.ready(kind):
            return False
        limiter = self.client.transport.limiter
        permit = limiter.try_acquire(True) if kind == "batch" else limiter.try_acquire(False, leave_for_batches=True)
        if permit is None:
            return False
        stream.pace.take(kind)
        if kind == "batch":
            chunk = [queue.popleft() for _ in range(min(len(queue), BATCH))]
            units.append((_Unit("batch", _chunk_rid(self.run_id, chunk), chunk, stream.handle), permit))
        else:
            units.append((self._single_unit(stream, queue.popleft()), permit))
        return True

    def _single_unit(self, stream: _Stream, op: BatchOp) -> _Unit:
        return _Unit("single", _single_rid(self.run_id, op), [op], stream.handle)

    def _dispatch(self, stream: _Stream, units: list[tuple[_Unit, Permit]]) -> None:
        """Write the requests to the outbox (one transaction), then send each on a worker thread."""
        try:
            with self.store.engine.begin() as conn:
                self.state.add_outbox_many(conn, [(unit.rid, unit.kind, _outbox_body(unit.ops)) for unit, _ in units])
        except BaseException:
            for _unit, permit in units:
                permit.release()
            raise
        if stream.pool is None:
            stream.pool = ThreadPoolExecutor(max_workers=max(1, self.concurrency), thread_name_prefix="qbo-send")
        for unit, permit in units:
            unit.permit = permit
            stream.flying[stream.pool.submit(self._post, unit, permit)] = unit

    def _post(self, unit: _Unit, permit: Permit | None) -> list[BatchResult]:
        """Send one request (on a worker thread; ``permit``: the limiter's, taken by the dispatcher)."""
        transport = self.client.transport
        with transport.holding(permit) if permit is not None else nullcontext():
            if unit.kind == "batch":
                return self.client.batch(unit.ops, request_id=_constant(unit.rid), raw=True)
            return [self._post_single(unit.ops[0], unit.rid)]

    def _post_single(self, op: BatchOp, rid: str) -> BatchResult:
        """One operation as its own request. QBO refusing the record is its answer; a failure of
        the request itself (no reply, 5xx or 429 after the retries, authorization) raises, as it
        does for a batch request."""
        client, payload = self.client, op.payload
        try:
            if op.op == "create":
                obj: Any = client.create_from(op.entity, payload, request_id=rid, record=op.key, raw=True)
            elif op.op == "update":
                fields = {k: v for k, v in payload.items() if k not in ("Id", "SyncToken", "sparse")}
                obj = client.sparse_update(op.entity, str(payload["Id"]), str(payload["SyncToken"]), fields,
                                           request_id=rid, record=op.key)
            elif op.op == "delete":
                obj = client.delete(op.entity, str(payload["Id"]), str(payload["SyncToken"]), request_id=rid,
                                    record=op.key)
            else:
                obj = client.void(op.entity, str(payload["Id"]), str(payload["SyncToken"]), request_id=rid,
                                  record=op.key)
        except QboValidationError as err:
            return BatchResult(op.key, False, None, err)
        return BatchResult(op.key, True, obj, None)

    def _collect(self, stream: _Stream) -> None:
        """Record the requests of ``stream`` whose answers arrived (in the order they were sent)."""
        done = [(future, unit) for future, unit in stream.flying.items() if future.done()]
        if not done:
            return
        for future, _unit in done:
            del stream.flying[future]
        outcomes: list[tuple[_Unit, list[BatchResult] | BaseException]] = []
        for future, unit in done:
            try:
                outcomes.append((unit, future.result()))
            except BaseException as exc:  # the request failed as a whole: it stays in the outbox
                outcomes.append((unit, exc))
        self._record(outcomes)

    def _record(self, outcomes: Sequence[tuple[_Unit, list[BatchResult] | BaseException]]) -> None:
        """Record answers on this thread, in one transaction: every record's id-map row, activity
        entry and pending-queue change, and the removal of the requests from the outbox. A crash
        before the commit leaves all of them in the outbox, to be resent (and replayed) by the
        next run; after it, none. A request that failed as a whole is raised once the others are
        recorded."""
        failure: BaseException | None = None
        with self.store.engine.begin() as conn:
            self._tx = conn
            try:
                answered: list[str] = []
                with self.state.batched(conn):  # the id-map rows and activity entries: two statements
                    for unit, results in outcomes:
                        if isinstance(results, BaseException):
                            failure = failure or results
                            continue
                        for op, res in zip(unit.ops, results, strict=True):
                            unit.handle(op, res)
                        answered.append(unit.rid)
                self.state.clear_outbox_many(conn, answered)
            finally:
                self._tx = None
        if failure is not None:
            raise failure

    def _recover_outbox(self) -> None:
        """Resend what a crashed run sent but did not record, exactly as it was sent (the same kind
        of request, the same requestid: QBO replays its first answer instead of writing again).
        Up to ``concurrency`` at once, each waiting for the limiter; answers recorded in order."""
        units = [_Unit("single" if kind == "single" else "batch", rid,
                       [BatchOp(b["op"], b["entity"], b["payload"], b["key"]) for b in body], self._handle_result)
                 for rid, kind, body in self.state.outbox()]
        if not units:
            return
        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(units))),
                                thread_name_prefix="qbo-resend") as pool:
            futures = [pool.submit(self._post, unit, None) for unit in units]
            for unit, future in zip(units, futures, strict=True):
                try:
                    outcome: list[BatchResult] | BaseException = future.result()
                except BaseException as exc:  # stays in the outbox for the next run
                    outcome = exc
                self._record([(unit, outcome)])

    def _find_by_names(self, entity: str, field_name: str, names: Sequence[str]) -> dict[str, Any]:
        """``client.find_by_name`` for each of ``names`` at once (reads, up to ``concurrency`` in
        flight under the limiter): the objects found, by name."""
        unique = list(dict.fromkeys(names))
        if not unique:
            return {}
        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(unique))),
                                thread_name_prefix="qbo-read") as pool:
            found = list(pool.map(lambda name: self.client.find_by_name(entity, field_name, name), unique))
        return {name: obj for name, obj in zip(unique, found, strict=True) if obj is not None}

    def _handle_result(self, op: BatchOp, res: BatchResult) -> None:
        entity = _parse_key(op.key)[0]
        handler = {"customer": self._customer_result, "invoice": self._invoice_result,
                   "payment": self._payment_result}[entity]
        handler(op, res)

    # ================================================================================== customers
    @dataclass
    class CustomerPlan:
        actions: list[Action]
        server_time: datetime
        clients: dict[int, Client]
        customers: dict[str, dict[str, Any]]

    def _plan_customers(self, initial: bool, since: datetime | None) -> CustomerPlan:
        server_time = datetime.now(UTC)
        if initial or since is None:
            links = self.state.links("customer")
            customers = {str(c["Id"]): c for c in (_as_dict(o) for o in self.client.query_all(
                select("Customer").include_inactive()))}
            clients = {c.id: c for c in self.store.clients(include_inactive=True)}
        else:
            cdc = self.client.cdc(["Customer"], since - CDC_OVERLAP)
            server_time = cdc.server_time or server_time
            customers = {str(c["Id"]): c for c in (_as_dict(o) for o in cdc.objects.get("Customer", ()))}
            changed = {c.id: c for c in self.store.changed_clients(int(self.state.get_value("work_revision", 0)))}
            waiting = set(self.state.get_value("pending:customer", []))
            waiting |= self._unblocked("customer", "customer")
            choices = self.state.matches("accepted") + self.state.matches("rejected")
            # the links of the records in play only: a run that finds little to do reads little
            links = self.state.links("customer", work_ids=[*changed, *waiting, *(c["work_id"] for c in choices)],
                                     qbo_ids=[*customers, *(c["qbo_id"] for c in choices)])
            by_qbo = {link.qbo_id: link for link in links.values()}
            # matches the user decided since the last run: both sides come back into play
            for choice in choices:
                if choice["work_id"] not in links:
                    waiting.add(int(choice["work_id"]))
                    if choice["qbo_id"] not in by_qbo and choice["qbo_id"] not in customers:
                        customers[str(choice["qbo_id"])] = self._read("Customer", str(choice["qbo_id"]))
            for work_id in waiting:
                client = self.store.get_client(int(work_id))
                if client is not None:
                    changed[client.id] = client
            clients = changed
            # a linked client changed in WORK whose customer did not change in QBO: merge against the base
            # (QBO still holds what was synced); a customer changed in QBO whose client did not change
            for qbo_id in list(customers):
                link = by_qbo.get(qbo_id)
                if link is not None and link.work_id not in clients:
                    if str(customers[qbo_id].get("SyncToken")) == link.sync_token:
                        continue  # the CDC overlap: this version was synced already, nothing new on either side
                    client = self.store.get_client(link.work_id)
                    if client is not None:
                        clients[client.id] = client
        decided = {int(m["work_id"]): str(m["qbo_id"]) for m in self.state.matches("accepted")}
        rejected = {(int(m["work_id"]), str(m["qbo_id"])) for m in self.state.matches("rejected")}
        actions, pending_rows = plan_customers(
            clients, customers, links, dismissed=self.state.dismissed("customer") if clients else set(),
            accepted=decided,
            rejected=rejected, accept_weak=self.settings.accept_weak_matches, policy=self.settings.conflict_policy,
            default_state=self._default_state())
        if pending_rows and not self.dry_run:
            self.state.save_matches(pending_rows)
        return SyncEngine.CustomerPlan(actions, server_time, clients, customers)

    def _default_state(self) -> str | None:
        """The company's default state when "use default state when blank" is on."""
        company = self.store.company() if self.settings.use_default_state else None
        return company.default_state if company is not None and company.default_state else None

    def _plan_merge(self, client: Client, customer: dict[str, Any] | None, link: Link) -> list[Action]:
        return plan_customer_merge(client, customer, link, policy=self.settings.conflict_policy,
                                   default_state=self._default_state())

    def _act_customers(self, plan: CustomerPlan) -> None:
        self.actions.extend(plan.actions)
        creates_to_qbo = [a for a in plan.actions if a.kind == "create" and a.direction == "to_qbo"]
        for action in plan.actions:
            if action.kind == "hold":
                self._note(None, entity="customer", direction="both", action="hold", outcome="held",
                           work_id=action.work_id, message=action.reason)
            elif action.kind == "link":
                self._link_pair(action, plan)
            elif action.kind == "create" and action.direction == "to_work":
                self._create_client(plan.customers[str(action.qbo_id)], action)
            elif action.kind in ("update", "rebase"):
                self._apply_merge(action, plan)
        # creations in QBO: parents before their sub-customers
        remaining = creates_to_qbo
        for _ in range(3):
            if not remaining:
                break
            parents = {plan.clients[int(a.work_id or 0)].parent_id for a in remaining}
            links = self.state.links("customer", work_ids=[p for p in parents if p is not None])  # of the parents
            ready = [a for a in remaining if self._parent_ready(plan.clients[int(a.work_id or 0)], links)]
            if not ready:
                break
            self._create_customers(ready, plan.clients, links)
            sent = {id(a) for a in ready}
            remaining = [a for a in remaining if id(a) not in sent]
        for action in remaining:
            parent_id = plan.clients[int(action.work_id or 0)].parent_id
            self._fail("customer", "to_qbo", "create", action.work_id,
                       f"client {action.work_id}: its parent client {parent_id} is not in QuickBooks yet (it will be "
                       "sent once the parent is)", field="parent_id", blocked_by=f"customer:{parent_id}")

    def _parent_ready(self, client: Client, links: Mapping[int, Link]) -> bool:
        return client.parent_id is None or client.parent_id in links or self.dry_run

    def _link_pair(self, action: Action, plan: CustomerPlan) -> None:
        work_id, qbo_id = int(action.work_id or 0), str(action.qbo_id)
        client, customer = plan.clients[work_id], plan.customers[qbo_id]
        link = Link("customer", work_id, qbo_id, str(customer.get("SyncToken", "0")), 0, None, None, None, "active")
        if self.dry_run:
            self._assume("customer", work_id, qbo_id)
            self._note(None, entity="customer", direction="both", action="link", outcome="ok", work_id=work_id,
                       qbo_id=qbo_id, message=action.reason)
            return
        with self.store.engine.begin() as conn:
            self.state.save_link(conn, "customer", work_id, qbo_id, sync_token=link.sync_token,
                                 work_version=client.version)
            self._note(conn, entity="customer", direction="both", action="link", outcome="ok", work_id=work_id,
                       qbo_id=qbo_id, message=f"linked {client.display_name!r}: {action.reason}")
        for follow in self._plan_merge(client, customer, replace(link, base=None)):
            self._apply_merge(follow, plan, quiet=True)

    def _apply_merge(self, action: Action, plan: CustomerPlan, *, quiet: bool = False) -> None:
        work_id, qbo_id = int(action.work_id or 0), str(action.qbo_id)
        client = plan.clients[work_id]
        if action.kind == "rebase":
            if not self.dry_run:
                values = action.fields["values"]
                with self.store.engine.begin() as conn:
                    self.state.save_link(conn, "customer", work_id, qbo_id, sync_token=action.fields["token"],
                                         work_version=client.version, base=values,
                                         fingerprint=cmap.fingerprint(values),
                                         qbo_name=self.state.links("customer", conn)[work_id].qbo_name)
            return
        outcome = action.fields["merge"]
        token = action.fields["token"]
        bad_states = cmap.state_problems(outcome.values, str(work_id), keys=outcome.to_qbo) if outcome.to_qbo else []
        if bad_states:  # QBO would take it, and its sales tax would then have no state to go by
            for p in bad_states:
                self._fail("customer", "to_qbo", "update", work_id, f"client {work_id} ({client.display_name}): "
                           f"{p.message}", qbo_id=qbo_id, field=p.field)
            return
        conflict_text = "; ".join(f"{c.field}: WORK {c.work_value!r} vs QuickBooks {c.qbo_value!r}, kept {c.winner}"
                                  for c in outcome.conflicts)
        if self.dry_run:
            self._note(None, entity="customer", direction="both", action="update", outcome="ok", work_id=work_id,
                       qbo_id=qbo_id, message=action.reason)
            return
        new_token = token
        if outcome.to_qbo:
            fields = cmap.sparse_customer_fields(outcome.values, outcome.to_qbo)
            try:
                updated = self.client.sparse_update("Customer", qbo_id, token, fields,
                                                    request_id=_rid("cu", work_id, client.version, token),
                                                    record=f"client {work_id}")
                new_token = str(_as_dict(updated).get("SyncToken", token))
            except StaleObject:
                fresh = _as_dict(self._read("Customer", qbo_id))
                retry = self._plan_merge(client, fresh, self.state.links("customer")[work_id])
                if retry and retry[0].kind == "update":
                    r_outcome = retry[0].fields["merge"]
                    try:
                        fields = cmap.sparse_customer_fields(r_outcome.values, r_outcome.to_qbo)
                        updated = self.client.sparse_update("Customer", qbo_id, str(fresh["SyncToken"]), fields,
                                                            request_id=_rid("cu", work_id, client.version,
                                                                            fresh["SyncToken"]),
                                                            record=f"client {work_id}")
                        new_token = str(_as_dict(updated).get("SyncToken"))
                        outcome = r_outcome
                    except QboError as err:
                        text, element = self._error_text(err, f"client {work_id} ({client.display_name})")
                        self._fail("customer", "to_qbo", "update", work_id, text, qbo_id=qbo_id, field=element,
                                   pending=err.retryable)
                        return
            except QboError as err:
                text, element = self._error_text(err, f"client {work_id} ({client.display_name})")
                if err.code == "6220":
                    text = (f"client {work_id} ({client.display_name}) is inactive in WORK but cannot be deactivated "
                            "in QuickBooks: the customer has an open balance there")
                    element = "active"
                self._fail("customer", "to_qbo", "update", work_id, text, qbo_id=qbo_id, field=element)
                return
        with self.store.engine.begin() as conn:
            if outcome.to_work:
                changes = _client_changes(client, outcome.to_work)
                client = self.store.update_client(work_id, conn=conn, **changes)
            link = self.state.links("customer", conn).get(work_id)
            self.state.save_link(conn, "customer", work_id, qbo_id, sync_token=new_token,
                                 work_version=client.version, base=outcome.values,
                                 fingerprint=cmap.fingerprint(outcome.values),
                                 qbo_name=link.qbo_name if link else None)
            where = [f"to QuickBooks: {', '.join(sorted(outcome.to_qbo))}" if outcome.to_qbo else "",
                     f"to WORK: {', '.join(sorted(outcome.to_work))}" if outcome.to_work else ""]
            message = "; ".join(w for w in where if w)
            if quiet:  # the follow-up of a link: logged, but the link already counted as this record's progress
                if outcome.changed:
                    self.state.record(conn, self.run_id, entity="customer", direction="both", action="update",
                                      outcome="ok", work_id=work_id, qbo_id=qbo_id, message=message)
            else:
                self._note(conn, entity="customer", direction="both", action="update", outcome="ok",
                           work_id=work_id, qbo_id=qbo_id, message=message)
            for conflict in outcome.conflicts:
                self.state.record(conn, self.run_id, entity="customer", direction="both", action="conflict",
                                  outcome="ok", work_id=work_id, qbo_id=qbo_id, field=conflict.field,
                                  message=f"changed on both sides ({self.settings.conflict_policy}): {conflict_text}")
            self._clear_pending(conn, "customer", work_id)

    def _create_client(self, customer: dict[str, Any], action: Action) -> None:
        qbo_id = str(customer["Id"])
        company = self.store.company()
        default_state = company.default_state if company is not None and self.settings.use_default_state else None
        fields = cmap.customer_to_client_fields(customer, default_state=default_state or None)
        if self.dry_run:
            self._note(None, entity="customer", direction="to_work", action="create", outcome="ok", qbo_id=qbo_id,
                       message=f"create client {fields.get('display_name')!r}")
            return
        parent_qbo = (customer.get("ParentRef") or {}).get("value") if isinstance(customer.get("ParentRef"),
                                                                                 dict) else None
        with self.store.engine.begin() as conn:
            if parent_qbo:
                parent_link = self.state.link_by_qbo("customer", conn).get(str(parent_qbo))
                fields["parent_id"] = parent_link.work_id if parent_link else None
            client = self.store.add_client(conn=conn, **fields)
            values = cmap.client_values(client)
            self.state.save_link(conn, "customer", client.id, qbo_id, sync_token=str(customer.get("SyncToken", "0")),
                                 work_version=client.version, base=values, fingerprint=cmap.fingerprint(values))
            self._note(conn, entity="customer", direction="to_work", action="create", outcome="ok",
                       work_id=client.id, qbo_id=qbo_id, message=f"created client {client.display_name!r}")

    def _qbo_name(self, client: Client, attempt: int = 1) -> tuple[str | None, str | None, str | None]:
        """(name to send, problem message, field) under the name policy."""
        problem = check_display_name(client.display_name)
        if problem is None:
            name = client.display_name
            return (suffixed_name(name, attempt) if attempt > 1 else name), None, None
        if self.settings.name_policy == "fix" and check_display_name(fix_name(client.display_name)) is None:
            fixed = fix_name(client.display_name)
            return (suffixed_name(fixed, attempt) if attempt > 1 else fixed), None, None
        return None, f"client {client.id}: {problem.message}", "display_name"  # the WORK field, not DisplayName

    def _create_customers(self, actions: Sequence[Action], clients: Mapping[int, Client],
                          links: Mapping[int, Link], attempt: int = 1) -> None:
        ops: list[BatchOp] = []
        for action in actions:
            client = clients[int(action.work_id or 0)]
            problems = cmap.validate_client(client)
            problems = [p for p in problems if p.field != "display_name"]
            if problems:
                for p in problems:
                    self._fail("customer", "to_qbo", "create", client.id,
                               f"client {client.id} ({client.display_name}): {p.message}", field=p.field)
                continue
            name, problem, field_name = self._qbo_name(client, attempt)
            if name is None:
                self._fail("customer", "to_qbo", "create", client.id, str(problem), field=field_name)
                continue
            parent_link = links.get(client.parent_id) if client.parent_id is not None else None
            parent = parent_link.qbo_id if parent_link is not None else None
            if client.parent_id is not None and parent is None:
                parent = "0"  # dry run: the parent is planned in this same run
            payload = cmap.client_to_customer(client, parent_qbo_id=parent, display_name=name)
            if self.dry_run:
                self._assume("customer", client.id)
                self._note(None, entity="customer", direction="to_qbo", action="create", outcome="ok",
                           work_id=client.id, message=f"create customer {name!r}")
                continue
            ops.append(BatchOp("create", "Customer", payload, _key("customer", client.id, client.version,
                                                                    f"create{attempt}")))
        if not ops:
            return
        retry: list[Action] = []

        def handle(op: BatchOp, res: BatchResult) -> None:
            if (not res.ok and isinstance(res.error, DuplicateName) and self.settings.name_policy == "fix"
                    and attempt < 9):
                work_id = _parse_key(op.key)[1]
                retry.append(Action("create", "customer", "to_qbo", work_id, None, {}, "name taken"))
                return
            self._customer_result(op, res)

        self._send(ops, handle)
        if retry:
            self._create_customers(retry, clients, self.state.links("customer"), attempt + 1)

    def _customer_result(self, op: BatchOp, res: BatchResult) -> None:
        _, work_id, version, _ = _parse_key(op.key)
        name = str(op.payload.get("DisplayName", ""))
        if not res.ok:
            assert res.error is not None
            err = res.error
            if isinstance(err, DuplicateName):
                text = (f"client {work_id}: the name {name!r} is already used in QuickBooks by another customer, "
                        "vendor or employee (active or not); rename the client, or set name_policy to 'fix' to "
                        "add a suffix")
                self._fail("customer", "to_qbo", "create", work_id, text, field="display_name")
            else:
                text, element = self._error_text(err, f"client {work_id} ({name})")
                self._fail("customer", "to_qbo", "create", work_id, text, field=element, pending=err.retryable)
            return
        customer = _as_dict(res.obj)
        client = self.store.get_client(work_id, conn=self._tx)  # inside the recording transaction, if any
        with self._begin() as conn:
            values = cmap.client_values(client) if client is not None else {}
            qbo_name = name if client is not None and name != client.display_name else None
            self.state.save_link(conn, "customer", work_id, str(customer["Id"]),
                                 sync_token=str(customer.get("SyncToken", "0")), work_version=version, base=values,
                                 fingerprint=cmap.fingerprint(values), qbo_name=qbo_name)
            message = f"created customer {name!r}"
            if qbo_name:
                message += f" (WORK name {client.display_name!r} changed as name_policy 'fix' says)" if client else ""
            self._note(conn, entity="customer", direction="to_qbo", action="create", outcome="ok", work_id=work_id,
                       qbo_id=str(customer["Id"]), field="display_name" if qbo_name else None, message=message)
            self._clear_pending(conn, "customer", work_id)

    # ================================================================================== items
    def _sync_items(self) -> dict[int | None, str]:
        links = self.state.links("item")
        out: dict[int | None, str] = {wid: link.qbo_id for wid, link in links.items()}
        default = self.state.get_value("default_item")
        if default is None:
            found = self.client.find_by_name("Item", "Name", "Services")
            if found is not None:
                default = str(_as_dict(found)["Id"])
            elif not self.dry_run:
                created = self.client.create_from("Item", {
                    "Name": "Services", "Type": "Service", "IncomeAccountRef": {"value": self.settings.revenue_account},
                    "ExpenseAccountRef": {"value": self.settings.item_account}}, request_id=_rid("item-default"))
                default = str(_as_dict(created)["Id"])
            if default is not None and not self.dry_run:
                with self.store.engine.begin() as conn:
                    self.state.set_value(conn, "default_item", default)
        out[None] = str(default or "0")
        items = [item for item in self.store.items() if item.id not in links]
        found_by_name = self._find_by_names("Item", "Name", [item.name for item in items])
        for item in items:
            found = found_by_name.get(item.name)
            if found is not None:
                qbo = _as_dict(found)
            elif self.dry_run:
                out[item.id] = "0"
                continue
            else:
                payload = imap.item_to_qbo(item, income_account_id=str(self.settings.revenue_account),
                                           expense_account_id=self.settings.item_account)
                try:
                    qbo = _as_dict(self.client.create_from("Item", payload,
                                                           request_id=_rid("item", item.id, item.version),
                                                           record=f"item {item.id}"))
                except QboError as err:
                    text, element = self._error_text(err, f"item {item.id} ({item.name})")
                    self._fail("item", "to_qbo", "create", item.id, text, field=element, pending=err.retryable)
                    continue
            out[item.id] = str(qbo["Id"])
            if not self.dry_run:
                with self.store.engine.begin() as conn:
                    self.state.save_link(conn, "item", item.id, str(qbo["Id"]),
                                         sync_token=str(qbo.get("SyncToken", "0")), work_version=item.version)
        return out

    # ================================================================================== invoices
    def _estimate_transactions(self, initial: bool) -> int:
        if not self.settings.invoices:
            return 0
        after = 0 if initial else int(self.state.get_value("work_revision", 0))
        count = len(self.store.changed_invoices(after))
        if self.settings.payments:
            count += len(self.store.changed_payments(after))
        return count

    def _candidates(self, entity: str, changed: Callable[[int], list[Any]], get: Callable[[int], Any],
                    dependency: str, initial: bool) -> list[Any]:
        """Records of ``entity`` to look at: changed in WORK since the last run, queued for a retry, or
        waiting for a ``dependency`` record that is now in QBO; in id order."""
        after = 0 if initial else int(self.state.get_value("work_revision", 0))
        found = {record.id: record for record in changed(after)}
        waiting = set(self.state.get_value(f"pending:{entity}", []))
        waiting |= self._unblocked(entity, dependency)
        for work_id in sorted(waiting):
            if int(work_id) not in found:
                record = get(int(work_id))
                if record is not None:
                    found[record.id] = record
        return [found[k] for k in sorted(found)]

    def _invoice_candidates(self, initial: bool) -> list[Invoice]:
        return self._candidates("invoice", self.store.changed_invoices, self.store.get_invoice, "customer", initial)

    def _sync_invoices(self, initial: bool, item_ids: dict[int | None, str]) -> None:
        settings = self.settings
        assert settings.integration_date is not None
        candidates = self._invoice_candidates(initial)
        customers = self._links("customer", self._wanted((inv.client_id for inv in candidates), initial))
        links = self.state.links("invoice", work_ids=self._wanted((inv.id for inv in candidates), initial))
        dismissed = self.state.dismissed("invoice") if candidates else set()
        creates = self._sender(self._invoice_result)  # sent while the rest is planned
        inactive = self.store.inactive_client_ids() if candidates else set()
        today = self._today()
        for inv in candidates:
            if inv.id in dismissed:
                continue
            action = plan_invoice(inv, links.get(inv.id), customers.get(inv.client_id),
                                  integration_date=settings.integration_date, today=today,
                                  client_active=inv.client_id not in inactive)
            self.actions.append(action)
            if action.kind == "skip":
                self._note(None, entity="invoice", direction="to_qbo", action="skip", outcome="skipped",
                           work_id=inv.id, message=action.reason)
                continue
            if action.kind == "fail":
                verb = "update" if inv.id in links else "create"
                for p in action.fields.get("problems", ()):
                    self._fail("invoice", "to_qbo", verb, inv.id, f"invoice {inv.number}: {p.message}", field=p.field)
                if not action.fields.get("problems"):
                    self._fail("invoice", "to_qbo", verb, inv.id, action.reason, field=action.field,
                               blocked_by=action.fields.get("blocked_by"))
                continue
            problems = imap.validate_invoice(inv) if action.kind in ("create", "update") else []
            if problems:
                for p in problems:
                    self._fail("invoice", "to_qbo", action.kind, inv.id, f"invoice {inv.number}: {p.message}",
                               field=p.field)
                continue
            customer_link = customers[inv.client_id] if inv.client_id in customers else None
            if action.kind == "create":
                assert customer_link is not None
                payload = imap.invoice_to_qbo(inv, customer_id=customer_link.qbo_id, item_ids=item_ids)
                if self.dry_run:
                    self._assume("invoice", inv.id)
                    self._note(None, entity="invoice", direction="to_qbo", action="create", outcome="ok",
                               work_id=inv.id, message=f"create invoice {inv.number}")
                    continue
                creates.append(BatchOp("create", "Invoice", payload, _key("invoice", inv.id, inv.version, "create")))
            elif action.kind == "update":
                assert customer_link is not None
                self._update_invoice(inv, links[inv.id], customer_link, item_ids)
            elif action.kind in ("void", "delete"):
                self._remove_invoice(inv, links[inv.id], action.kind)
        creates.finish()

    def _invoice_result(self, op: BatchOp, res: BatchResult) -> None:
        _, work_id, version, _ = _parse_key(op.key)
        number = op.payload.get("DocNumber", work_id)
        if not res.ok:
            assert res.error is not None
            text, element = self._error_text(res.error, f"invoice {number}")
            self._fail("invoice", "to_qbo", "create", work_id, text, field=element, pending=res.error.retryable)
            return
        qbo = _as_dict(res.obj)
        with self._begin() as conn:
            self.state.save_link(conn, "invoice", work_id, str(qbo["Id"]), sync_token=str(qbo.get("SyncToken", "0")),
                                 work_version=version, fingerprint=_fingerprint(op.payload))
            self._note(conn, entity="invoice", direction="to_qbo", action="create", outcome="ok", work_id=work_id,
                       qbo_id=str(qbo["Id"]), message=f"created invoice {number} for {_amount(qbo.get('TotalAmt'))}")
            self._clear_pending(conn, "invoice", work_id)

    def _update_invoice(self, inv: Invoice, link: Link, customer: Link, item_ids: dict[int | None, str]) -> None:
        payload = imap.invoice_to_qbo(inv, customer_id=customer.qbo_id, item_ids=item_ids)
        fingerprint = _fingerprint(payload)
        if fingerprint == link.fingerprint:
            if not self.dry_run and link.work_version != inv.version:
                with self.store.engine.begin() as conn:
                    self.state.save_link(conn, "invoice", inv.id, link.qbo_id, sync_token=link.sync_token,
                                         work_version=inv.version, fingerprint=fingerprint)
            self._note(None, entity="invoice", direction="to_qbo", action="skip", outcome="skipped", work_id=inv.id,
                       qbo_id=link.qbo_id, message=f"invoice {inv.number}: nothing QuickBooks holds changed")
            return
        if self.dry_run:
            self._note(None, entity="invoice", direction="to_qbo", action="update", outcome="ok", work_id=inv.id,
                       qbo_id=link.qbo_id, message=f"update invoice {inv.number}")
            return
        fields: dict[str, Any] = {k: payload[k] for k in ("DocNumber", "TxnDate", "DueDate", "CustomerRef", "Line",
                                                          "TxnTaxDetail") if k in payload}
        token = link.sync_token
        for attempt in (1, 2):
            try:
                qbo = _as_dict(self.client.sparse_update("Invoice", link.qbo_id, token, fields,
                                                         request_id=_rid("iu", inv.id, inv.version, token),
                                                         record=f"invoice {inv.number}"))
                break
            except StaleObject:
                if attempt == 2:
                    self._fail("invoice", "to_qbo", "update", inv.id,
                               f"invoice {inv.number}: changed in QuickBooks while this run updated it (stale "
                               "SyncToken twice); it will be retried", qbo_id=link.qbo_id, field="SyncToken",
                               pending=True)
                    return
                token = str(_as_dict(self._read("Invoice", link.qbo_id))["SyncToken"])
            except QboError as err:
                text, element = self._error_text(err, f"invoice {inv.number}")
                self._fail("invoice", "to_qbo", "update", inv.id, text, qbo_id=link.qbo_id, field=element,
                           pending=err.retryable)
                return
        with self.store.engine.begin() as conn:
            self.state.save_link(conn, "invoice", inv.id, link.qbo_id, sync_token=str(qbo.get("SyncToken")),
                                 work_version=inv.version, fingerprint=fingerprint)
            self._note(conn, entity="invoice", direction="to_qbo", action="update", outcome="ok", work_id=inv.id,
                       qbo_id=link.qbo_id,
                       message=f"updated invoice {inv.number}: total {_amount(qbo.get('TotalAmt'))}")
            self._clear_pending(conn, "invoice", inv.id)

    def _remove_invoice(self, inv: Invoice, link: Link, how: str) -> None:
        """Void or delete an invoice in QBO, after deleting the payments QBO holds for it."""
        if self.dry_run:
            self._note(None, entity="invoice", direction="to_qbo", action=how, outcome="ok", work_id=inv.id,
                       qbo_id=link.qbo_id, message=f"{how} invoice {inv.number}")
            return
        payment_links = self.state.links("payment")
        for payment in self.store.payments(invoice_id=inv.id, include_deleted=True):
            plink = payment_links.get(payment.id)
            if plink is not None and plink.state == "active":
                self._delete_payment(payment, plink, reason=f"invoice {inv.number} is {how}ed in WORK")
                self.acted.add(("payment", payment.id))
        token = str(_as_dict(self._read("Invoice", link.qbo_id))["SyncToken"])
        try:
            if how == "void":
                qbo = _as_dict(self.client.void("Invoice", link.qbo_id, token,
                                                request_id=_rid("iv", inv.id, inv.version),
                                                record=f"invoice {inv.number}"))
                new_token = str(qbo.get("SyncToken", token))
            else:
                self.client.delete("Invoice", link.qbo_id, token, request_id=_rid("id", inv.id, inv.version),
                                   record=f"invoice {inv.number}")
                new_token = token
        except QboError as err:
            text, element = self._error_text(err, f"invoice {inv.number}")
            self._fail("invoice", "to_qbo", how, inv.id, text, qbo_id=link.qbo_id, field=element, pending=err.retryable)
            return
        with self.store.engine.begin() as conn:
            self.state.save_link(conn, "invoice", inv.id, link.qbo_id, sync_token=new_token, work_version=inv.version,
                                 fingerprint=link.fingerprint, state="voided" if how == "void" else "deleted")
            self._note(conn, entity="invoice", direction="to_qbo", action=how, outcome="ok", work_id=inv.id,
                       qbo_id=link.qbo_id, message=f"{how}ed invoice {inv.number} in QuickBooks")
            self._clear_pending(conn, "invoice", inv.id)

    # ================================================================================== payments
    def _payment_candidates(self, initial: bool) -> list[Payment]:
        return self._candidates("payment", self.store.changed_payments, self.store.get_payment, "invoice", initial)

    def _sync_payments(self, initial: bool) -> None:
        settings = self.settings
        assert settings.integration_date is not None
        candidates = self._payment_candidates(initial)
        invoices: dict[int, Invoice | None] = dict.fromkeys({pay.invoice_id for pay in candidates})
        invoices.update(self.store.invoices_by_id(invoices))  # the invoices they pay, read at once
        invoice_links = self._links("invoice", self._wanted(invoices, initial))
        customer_links = self._links(
            "customer", self._wanted((inv.client_id for inv in invoices.values() if inv is not None), initial))
        links = self.state.links("payment", work_ids=self._wanted((pay.id for pay in candidates), initial))
        dismissed = self.state.dismissed("payment") if candidates else set()
        today = self._today()
        creates = self._sender(self._payment_result)  # sent while the rest is planned
        for pay in candidates:
            if pay.id in dismissed or ("payment", pay.id) in self.acted:
                continue
            if pay.invoice_id not in invoices:
                invoices[pay.invoice_id] = self.store.get_invoice(pay.invoice_id)
            inv = invoices[pay.invoice_id]
            action = plan_payment(pay, links.get(pay.id), inv, invoice_links.get(pay.invoice_id),
                                  integration_date=settings.integration_date, today=today)
            self.actions.append(action)
            if action.kind == "skip":
                self._note(None, entity="payment", direction="to_qbo", action="skip", outcome="skipped",
                           work_id=pay.id, message=action.reason)
                continue
            if action.kind == "fail":
                for p in action.fields.get("problems", ()):
                    self._fail("payment", "to_qbo", "create", pay.id, f"payment {pay.id}: {p.message}", field=p.field)
                if not action.fields.get("problems"):
                    self._fail("payment", "to_qbo", "create", pay.id, action.reason, field=action.field,
                               blocked_by=f"invoice:{pay.invoice_id}" if action.field == "invoice_id" else None)
                continue
            if action.kind == "delete":
                if not self.dry_run:
                    self._delete_payment(pay, links[pay.id], reason="deleted in WORK")
                else:
                    self._note(None, entity="payment", direction="to_qbo", action="delete", outcome="ok",
                               work_id=pay.id)
                continue
            assert inv is not None
            problems = pmap.validate_payment(pay, invoice_total=inv.total)
            if problems:
                for p in problems:
                    self._fail("payment", "to_qbo", action.kind, pay.id, f"payment {pay.id}: {p.message}",
                               field=p.field)
                continue
            customer = customer_links.get(inv.client_id)
            ilink = invoice_links[pay.invoice_id]
            if customer is None:
                self._fail("payment", "to_qbo", action.kind, pay.id,
                           f"payment {pay.id}: the invoice's client is not in QuickBooks", field="invoice_id")
                continue
            payload = pmap.payment_to_qbo(pay, customer_id=customer.qbo_id, invoice_qbo_id=ilink.qbo_id,
                                          deposit_account_id=str(settings.deposit_account))
            if self.dry_run:
                self._note(None, entity="payment", direction="to_qbo", action=action.kind, outcome="ok",
                           work_id=pay.id, message=f"{action.kind} payment of {pay.amount}")
                continue
            if action.kind == "create":
                creates.append(BatchOp("create", "Payment", payload, _key("payment", pay.id, pay.version, "create")))
            else:
                self._update_payment(pay, links[pay.id], payload)
        creates.finish()

    def _payment_result(self, op: BatchOp, res: BatchResult) -> None:
        _, work_id, version, _ = _parse_key(op.key)
        if not res.ok:
            assert res.error is not None
            text, element = self._error_text(res.error, f"payment {work_id}")
            if res.error.code == "6000" and "open balance" in (res.error.detail or ""):
                element = "amount"  # the WORK field at fault (QBO names its own: Line[0].Amount)
            self._fail("payment", "to_qbo", "create", work_id, text, field=element)
            return
        qbo = _as_dict(res.obj)
        with self._begin() as conn:
            self.state.save_link(conn, "payment", work_id, str(qbo["Id"]), sync_token=str(qbo.get("SyncToken", "0")),
                                 work_version=version, fingerprint=_fingerprint(op.payload))
            self._note(conn, entity="payment", direction="to_qbo", action="create", outcome="ok", work_id=work_id,
                       qbo_id=str(qbo["Id"]), message=f"created payment of {_amount(qbo.get('TotalAmt'))}")
            self._clear_pending(conn, "payment", work_id)

    def _update_payment(self, pay: Payment, link: Link, payload: Mapping[str, Any]) -> None:
        fingerprint = _fingerprint(payload)
        if fingerprint == link.fingerprint:
            self._note(None, entity="payment", direction="to_qbo", action="skip", outcome="skipped", work_id=pay.id,
                       qbo_id=link.qbo_id, message=f"payment {pay.id}: nothing QuickBooks holds changed")
            return
        fields = {k: payload[k] for k in ("TotalAmt", "TxnDate", "Line", "PaymentRefNum", "PrivateNote",
                                          "DepositToAccountRef") if k in payload}
        token = str(_as_dict(self._read("Payment", link.qbo_id))["SyncToken"])
        try:
            qbo = _as_dict(self.client.sparse_update("Payment", link.qbo_id, token, fields,
                                                     request_id=_rid("pu", pay.id, pay.version, token),
                                                     record=f"payment {pay.id}"))
        except QboError as err:
            text, element = self._error_text(err, f"payment {pay.id}")
            self._fail("payment", "to_qbo", "update", pay.id, text, qbo_id=link.qbo_id, field=element,
                       pending=err.retryable)
            return
        with self.store.engine.begin() as conn:
            self.state.save_link(conn, "payment", pay.id, link.qbo_id, sync_token=str(qbo.get("SyncToken")),
                                 work_version=pay.version, fingerprint=fingerprint)
            self._note(conn, entity="payment", direction="to_qbo", action="update", outcome="ok", work_id=pay.id,
                       qbo_id=link.qbo_id, message=f"updated payment: {_amount(qbo.get('TotalAmt'))}")
            self._clear_pending(conn, "payment", pay.id)

    def _delete_payment(self, pay: Payment, link: Link, *, reason: str) -> None:
        try:
            token = str(_as_dict(self._read("Payment", link.qbo_id))["SyncToken"])
            self.client.delete("Payment", link.qbo_id, token, request_id=_rid("pd", pay.id, pay.version),
                               record=f"payment {pay.id}")
        except QboError as err:
            if err.code != "610":  # already gone is what we wanted
                text, element = self._error_text(err, f"payment {pay.id}")
                self._fail("payment", "to_qbo", "delete", pay.id, text, qbo_id=link.qbo_id, field=element,
                           pending=err.retryable)
                return
        with self.store.engine.begin() as conn:
            self.state.save_link(conn, "payment", pay.id, link.qbo_id, sync_token=link.sync_token,
                                 work_version=pay.version, fingerprint=link.fingerprint, state="deleted")
            self._note(conn, entity="payment", direction="to_qbo", action="delete", outcome="ok", work_id=pay.id,
                       qbo_id=link.qbo_id, message=f"deleted payment in QuickBooks: {reason}")


def fix_name(name: str) -> str:
    """A name QBO accepts, for name_policy 'fix': trimmed, no colon, tab or new line, at most 490 characters."""
    text = " ".join(name.replace(":", " -").replace("\t", " ").replace("\n", " ").replace("\r", " ").split())
    return text[:490].rstrip() or "Unnamed client"



def _client_changes(client: Client, values: Mapping[str, Any]) -> dict[str, Any]:
    """WORK field changes from merged values keyed like ``email`` or ``billing.state``."""
    changes: dict[str, Any] = {}
    addresses: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        if "." in key:
            group, name = key.split(".", 1)
            addresses.setdefault(group, {})[name] = "" if value is None else value
        elif key == "active":
            changes[key] = bool(value)
        else:
            changes[key] = "" if value is None else value
    for group, parts in addresses.items():
        current: Address = getattr(client, group)
        changes[group] = replace(current, **parts)
    return changes


def _amount(value: Any) -> str:
    """Money as the activity log shows it: two decimals (QBO prints 79.2 for 79.20)."""
    try:
        return f"{Decimal(str(value)):.2f}"
    except (ArithmeticError, ValueError):
        return str(value)


def summarize(actions: Iterable[Action]) -> Counter[str]:
    return Counter(f"{a.entity}.{a.kind}" for a in actions)
