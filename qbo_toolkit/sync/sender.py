"""Sending a stage's creations: batch and single requests side by side, through the outbox.

QBO allows 500 requests a minute of which 40 may be batch requests (30 operations each), 10 a
second and 10 in flight. A :class:`Stream` sends batch requests while the batch window has room and
single requests in the rest of the request budget at the same time, so a stage gets all of the
ceiling and its last operations are not held back by the batch window; slots come from the realm's
:class:`~qbo_toolkit.qbo.pacing.Pacer` (nothing here touches the transport).

Safety, in three lines:

1. **The outbox.** Every request, batch or single, is written to ``sync_outbox`` (its kind, its
   requestid, its operations) before it is sent, and removed in the transaction that records its
   answers (the id-map rows, the activity entries). A crash between the two leaves it there.
2. **Keys of the record.** A request's requestid is made from its operations' record keys
   (:mod:`.keys`), so whoever resends the same change sends the same key and QBO replays its answer.
3. **Look before resending.** QBO's replay window and batch semantics are not documented, so a run
   does not trust them alone: before resending what the outbox holds, it looks the records up in QBO
   by the mark they carry (:mod:`qbo_toolkit.mapping.markers`; stage ``finders``) and adopts those
   that exist; only the others are sent (the same request if none was found, else a new one for the
   rest). Answers are recorded on the planning thread, so the WORK store has one writer.

A request QBO refuses as a whole (a batch-level 4xx fault: nothing ran) leaves the outbox and its
records are failed for the next run, with a new attempt key. A request without an answer (no
reply, 5xx or 429 after the retries) stays in the outbox; the run stops with that error once the
other answers are recorded, and the next run looks its records up first.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from ..errors import QboValidationError
from ..qbo.client import BatchOp, BatchResult, QboClient
from ..qbo.pacing import Pacer, Slot
from .context import RunContext
from .keys import batch_request_id, split_key

__all__ = ["BATCH", "SINGLE_TAIL", "Finder", "Handler", "Sender", "Stream", "Unit"]

BATCH = 30
#: A stage's last few operations go as single requests when the request budget allows: a batch
#: slot carries 30 operations, and the next stage can use it.
SINGLE_TAIL = 8
#: Seconds a stopping run waits for its requests in flight before leaving them to the outbox.
STOP_GRACE = 20.0

Handler = Callable[[BatchOp, BatchResult], None]
#: Looks up the records of create operations in QBO by their mark: {record key: QBO object (dict)}.
Finder = Callable[[Sequence[BatchOp]], Mapping[str, dict[str, Any]]]


@dataclass
class Unit:
    """One request to QBO: a ``batch`` of up to 30 operations or a ``single`` operation, its
    requestid, and the handler that records each operation's answer."""

    kind: str
    rid: str
    ops: list[BatchOp]
    handle: Handler
    slot: Slot | None = None


def _outbox_body(ops: Sequence[BatchOp]) -> list[dict[str, Any]]:
    return [{"op": o.op, "entity": o.entity, "payload": o.payload, "key": o.key} for o in ops]


class Sender:
    """The run's sending machinery: streams of creations, the outbox and its recovery."""

    #: the Stream class (tests put one that chooses its requests' kind here)
    stream_class: type[Stream]

    def __init__(self, ctx: RunContext, *, after_record: Callable[[], None] | None = None) -> None:
        self.ctx = ctx
        self.client: QboClient = ctx.client
        self.after_record = after_record or (lambda: None)

    # ------------------------------------------------------------------ streams
    def stream(self, handle: Handler) -> Stream:
        """A stream of one stage's writes: ``append`` them as they are planned, then ``finish``."""
        self.ctx.load_open()
        return self.stream_class(self, handle)

    def send(self, ops: Iterable[BatchOp], handle: Handler) -> None:
        stream = self.stream(handle)
        for op in ops:
            stream.append(op)
        stream.finish()

    def unit(self, kind: str, ops: list[BatchOp], handle: Handler) -> Unit:
        rids = [self.ctx.request_id(o.key) for o in ops]
        rid = rids[0] if kind == "single" else batch_request_id(rids)
        return Unit(kind, rid, ops, handle)

    # ------------------------------------------------------------------ one request
    def post(self, unit: Unit, pacer: Pacer | None) -> list[BatchResult]:
        """Send one request (on a worker thread; ``unit.slot``: the pacer's, taken by the dispatcher)."""
        if unit.slot is not None and pacer is not None:
            with pacer.sending(unit.slot):
                return self._post(unit)
        return self._post(unit)

    def _post(self, unit: Unit) -> list[BatchResult]:
        if unit.kind == "batch":
            rid = unit.rid
            return self.client.batch(unit.ops, request_id=lambda _i, _c: rid, raw=True)
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

    # ------------------------------------------------------------------ recording
    def record(self, outcomes: Sequence[tuple[Unit, list[BatchResult] | BaseException]]) -> None:
        """Record answers on this thread, in one transaction: every record's id-map row, activity
        entry and pending-queue change, and the removal of the requests from the outbox. A crash
        before the commit leaves all of them in the outbox; after it, none. A request refused as a
        whole (nothing ran) leaves the outbox and its records wait for the next run; a request
        without an answer stays, and its error is raised once the others are recorded."""
        ctx = self.ctx
        failure: BaseException | None = None
        with ctx.recording() as conn:
            answered: list[str] = []
            for unit, results in outcomes:
                if isinstance(results, QboValidationError):
                    # refused as a whole (a batch-level fault): nothing ran; plan the records afresh
                    for op in unit.ops:
                        entity, work_id, _, _ = split_key(op.key)
                        text, element = ctx.error_text(results, f"{entity} {work_id}")
                        ctx.fail(entity, "to_qbo", op.op, work_id, text, field=element, pending=True,
                                 refused_key=op.key)
                    answered.append(unit.rid)
                    continue
                if isinstance(results, BaseException):
                    failure = failure or results
                    continue
                for op, res in zip(unit.ops, results, strict=True):
                    unit.handle(op, res)
                answered.append(unit.rid)
            ctx.state.clear_outbox_many(conn, answered)
        self.after_record()
        if failure is not None:
            raise failure

    # ------------------------------------------------------------------ recovery
    def recover(self, handlers: Mapping[str, Handler], finders: Mapping[str, Finder]) -> None:
        """Finish what a stopped run sent but did not record. Look each create up in QBO by its
        mark and adopt what exists; send the rest (the same request, same requestid, if nothing was
        found: QBO replays or runs it; else a new request for the operations left). Up to
        ``concurrency`` at once; answers recorded in order."""
        ctx = self.ctx
        rows = ctx.state.outbox()
        if not rows:
            return
        ctx.load_open()

        def handle(op: BatchOp, res: BatchResult) -> None:
            handlers[split_key(op.key)[0]](op, res)

        units: list[Unit] = []
        for rid, kind, body in rows:
            ops = [BatchOp(b["op"], b["entity"], b["payload"], b["key"]) for b in body]
            found: dict[str, dict[str, Any]] = {}
            for entity in dict.fromkeys(split_key(o.key)[0] for o in ops):
                finder = finders.get(entity)
                creates = [o for o in ops if o.op == "create" and split_key(o.key)[0] == entity]
                if finder is not None and creates:
                    found.update(finder(creates))
            if not found:
                units.append(Unit("single" if kind == "single" else "batch", rid, ops, handle))
                continue
            rest = [o for o in ops if o.key not in found]
            replacement = self.unit("single" if len(rest) == 1 else "batch", rest, handle) if rest else None
            with ctx.recording() as conn:
                for op in ops:
                    if op.key in found:
                        handle(op, ctx.adopted_result(op.key, found[op.key]))
                if replacement is not None:
                    ctx.state.add_outbox_many(conn, [(replacement.rid, replacement.kind, _outbox_body(rest))])
                ctx.state.clear_outbox_many(conn, [rid])
            self.after_record()
            if replacement is not None:
                units.append(replacement)
        if not units:
            return
        with ThreadPoolExecutor(max_workers=max(1, min(ctx.concurrency, len(units))),
                                thread_name_prefix="qbo-resend") as pool:
            futures = [pool.submit(self.post, unit, None) for unit in units]
            for unit, future in zip(units, futures, strict=True):
                try:
                    outcome: list[BatchResult] | BaseException = future.result()
                except BaseException as exc:  # stays in the outbox for the next run
                    outcome = exc
                self.record([(unit, outcome)])


class Stream:
    """One stage's writes, sent while they are still being planned (see the module docstring)."""

    def __init__(self, sender: Sender, handle: Handler) -> None:
        self.sender = sender
        self.ctx = sender.ctx
        self.handle = handle
        self.queue: deque[BatchOp] = deque()
        self.flying: dict[Future[list[BatchResult]], Unit] = {}
        self.pool: ThreadPoolExecutor | None = None
        self.pacer = sender.client.pacer()
        self.concurrency = min(self.ctx.concurrency, self.pacer.max_in_flight)

    def append(self, op: BatchOp) -> None:
        """Queue one operation; send what the windows allow now, record what has been answered."""
        self.queue.append(op)
        self._pump(final=False)

    def finish(self) -> None:
        """Send the rest and record every answer; stop early (leaving the rest unsent) when the run
        is asked to stop."""
        try:
            self._drain()
        finally:
            for future, unit in self.flying.items():  # the run failed: what has not started never will
                if future.cancel() and unit.slot is not None:
                    unit.slot.release()
            if self.pool is not None:
                self.pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ internals
    def _pump(self, *, final: bool) -> None:
        """Record the answers that arrived, then send what the rate windows allow now (never waits)."""
        self._collect()
        units = self._take(final=final)
        if units:
            self._dispatch(units)

    def _drain(self) -> None:
        """Send the rest and record every answer, waiting for the windows and replies."""
        stop_at: float | None = None
        while self.queue or self.flying:
            if self.ctx.stopping():
                if not self.flying:
                    break
                stop_at = stop_at or time.monotonic() + STOP_GRACE
                if time.monotonic() > stop_at:
                    break  # left in the outbox: the next run looks them up and finishes them
            self._pump(final=True)
            if not self.queue and not self.flying:
                break
            timeout = 0.05
            if self.queue and len(self.flying) < self.concurrency and not self.ctx.stopping():
                needed = self.pacer.wait()
                timeout = min(needed, 0.05) if needed is not None else 0.05
            if self.flying:
                wait(list(self.flying), timeout=max(timeout, 0.0005), return_when=FIRST_COMPLETED)
            else:
                time.sleep(max(timeout, 0.0005))
        self.ctx.check()

    def _take(self, *, final: bool) -> list[Unit]:
        """The requests to send now, each with its slot.

        A batch request whenever the batch window has room and 30 operations are queued (or the
        stage has planned everything); a single request in the rest of the request budget,
        leaving a full batch queued for the next batch slot while planning goes on. The last few
        operations of a stage go as single requests when they can: a batch slot carries 30.
        """
        if self.ctx.stopping():
            return []
        queue = self.queue
        units: list[Unit] = []
        while queue and len(self.flying) + len(units) < self.concurrency:
            n = len(queue)
            if final and n <= SINGLE_TAIL and self._slot("single", units):
                continue
            if (n >= BATCH or final) and self._slot("batch", units):
                continue
            if (n > BATCH or final) and self._slot("single", units):
                continue
            break
        return units

    def _slot(self, kind: str, units: list[Unit]) -> bool:
        """Take a ``kind`` request off the queue into ``units`` if the pacer allows one now."""
        slot = self.pacer.take("batch" if kind == "batch" else "single")
        if slot is None:
            return False
        if kind == "batch":
            chunk = [self.queue.popleft() for _ in range(min(len(self.queue), BATCH))]
            unit = self.sender.unit("batch", chunk, self.handle)
        else:
            unit = self.sender.unit("single", [self.queue.popleft()], self.handle)
        unit.slot = slot
        units.append(unit)
        return True

    def _dispatch(self, units: list[Unit]) -> None:
        """Write the requests to the outbox (one transaction), then send each on a worker thread."""
        try:
            with self.ctx.state.begin() as conn:
                self.ctx.state.add_outbox_many(conn, [(u.rid, u.kind, _outbox_body(u.ops)) for u in units])
        except BaseException:
            for unit in units:
                if unit.slot is not None:
                    unit.slot.release()
            raise
        if self.pool is None:
            self.pool = ThreadPoolExecutor(max_workers=max(1, self.concurrency), thread_name_prefix="qbo-send")
        for unit in units:
            self.flying[self.pool.submit(self.sender.post, unit, self.pacer)] = unit

    def _collect(self) -> None:
        """Record the requests whose answers arrived (in the order they were sent)."""
        done = [(future, unit) for future, unit in self.flying.items() if future.done()]
        if not done:
            return
        for future, _unit in done:
            del self.flying[future]
        outcomes: list[tuple[Unit, list[BatchResult] | BaseException]] = []
        for future, unit in done:
            try:
                outcomes.append((unit, future.result()))
            except BaseException as exc:  # the request failed as a whole
                outcomes.append((unit, exc))
        self.sender.record(outcomes)


Sender.stream_class = Stream
