"""What the stages of one run share: the run's bookkeeping, in one place.

A :class:`RunContext` is made by the orchestrator (:mod:`.engine`) for each run and handed to every
stage (:mod:`.customers`, :mod:`.items`, :mod:`.invoices`, :mod:`.payments`) and to the
:class:`~.sender.Sender`. It holds the run's counts and plan, the activity log writer
(:meth:`note`, :meth:`fail`), the retry queues (``pending:<entity>``, ``blocked:<entity>``), the
idempotency keys (:meth:`request_id`), the transaction a request's answers are recorded in
(:meth:`begin`), the records parked after an id-map collision, and the stop flag (a signal, the
screen's Stop, a lost lease) that the stages and the sender check between records.

Every write goes through the WORK store's own transaction (``state.begin()``).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.engine import Connection

from ..errors import QboError, SyncInterrupted
from ..qbo.client import BatchResult, QboClient, entity_class
from ..qbo.query import is_latin1, select
from ..settings import Settings
from ..work.store import WorkStore
from .action import Action
from .keys import request_id, split_key
from .lease import Lease
from .progress import RecordOutcome, Reporter
from .state import Collision, Link, SyncState

__all__ = ["ENTITIES", "PARTIAL_LINKS", "RecordStage", "RunContext", "StopFlag", "as_dict"]

ENTITIES = ("customer", "item", "invoice", "payment", "credit_note", "credit_applied", "refund")
#: Up to this many records in play, a stage reads their links by key instead of the whole id map.
PARTIAL_LINKS = 20_000


def as_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    to_dict = getattr(obj, "to_dict", None)
    return dict(to_dict()) if to_dict is not None else dict(vars(obj))


class StopFlag:
    """Asks a run to stop between records: a signal handler, the screen's Stop button, a test."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reason = ""
        self.signal: int | None = None

    def request(self, reason: str, *, signal: int | None = None) -> None:
        if not self.event.is_set():
            self.reason = reason
            self.signal = signal
            self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set()


@dataclass
class RunContext:
    store: WorkStore
    client: QboClient
    settings: Settings
    state: SyncState
    reporter: Reporter
    run_id: int
    dry_run: bool
    today: date
    concurrency: int
    stop: StopFlag
    lease: Lease | None = None

    def __post_init__(self) -> None:
        self.realm = self.client.realm_id
        self.counts: Counter[str] = Counter()
        self.actions: list[Action] = []
        self.assumed: dict[str, dict[int, Link]] = {}  # dry run: records assumed created or linked
        self.unblocked: dict[str, set[str]] = {}  # blocked:<entity> keys to clear when the run completes
        self.acted: set[tuple[str, int]] = set()  # records a later stage must not count again (progress)
        self.tx: Connection | None = None  # the transaction recording a request's answers (see Sender)
        self._open: set[tuple[str, int]] | None = None
        self._refusals: dict[str, dict[int, tuple[int, int]]] = {}
        self.adopted: set[str] = set()  # record keys found in QBO (not created by this run's request)
        self.collisions: list[Collision] = []  # parked by the id map's one-record rule, to check after commit
        self.done = 0
        #: sentences about the run rather than a record (an item used as it is), for its result
        self.notices: list[str] = []
        #: the company's account names by Id (the engine fills it from its settings check)
        self.account_names: dict[str, str] = {}
        self.state.on_collision = self._on_collision

    # ------------------------------------------------------------------ stop
    def check(self) -> None:
        """Raise :class:`SyncInterrupted` when the run was asked to stop or lost its lease."""
        if self.lease is not None and self.lease.lost.is_set():
            self.stop.request("another sync took over this company's lease (this run stopped renewing it for "
                              "longer than its time-out)")
        if self.stop.is_set():
            raise SyncInterrupted(f"the sync was interrupted ({self.stop.reason}) after {self.done} record(s); "
                                  "what QuickBooks answered is recorded, and the next run continues from there",
                                  signal=self.stop.signal)

    def stopping(self) -> bool:
        if self.lease is not None and self.lease.lost.is_set():
            return True
        return self.stop.is_set()

    # ------------------------------------------------------------------ transactions
    def begin(self) -> AbstractContextManager[Connection]:
        """The transaction a record's writes go in: the one recording a whole request's answers
        while there is one (see :meth:`Sender.record`), else a transaction of its own."""
        if self.tx is not None:
            return nullcontext(self.tx)
        return self.state.begin()

    @contextmanager
    def recording(self) -> Iterator[Connection]:
        """One transaction for the answers of one or more requests (their id-map rows and activity
        entries written in two statements at the end)."""
        with self.state.begin() as conn:
            self.tx = conn
            try:
                with self.state.batched(conn):
                    yield conn
            finally:
                self.tx = None

    # ------------------------------------------------------------------ keys
    def attempt(self, entity: str, work_id: int, version: int) -> int:
        """How many times QBO refused this record at ``version`` (part of its key; see :mod:`.keys`)."""
        if entity not in self._refusals:
            self._refusals[entity] = self.state.refusals(entity)
        found = self._refusals[entity].get(work_id)
        return found[1] if found is not None and found[0] == version else 0

    def request_id(self, key: str) -> str:
        """The requestid of the record change ``key`` at its current attempt."""
        entity, work_id, version, _ = split_key(key)
        return request_id(self.realm, key, self.attempt(entity, work_id, version))

    def refused(self, conn: Connection, key: str) -> None:
        """QBO refused the write ``key``: its next attempt is a new request (see :mod:`.keys`)."""
        entity, work_id, version, _ = split_key(key)
        count = self.state.note_refusal(conn, entity, work_id, version)
        self._refusals.setdefault(entity, {})[work_id] = (version, count)

    def adopted_result(self, key: str, doc: dict[str, Any]) -> BatchResult:
        """The answer to record for the create ``key`` whose record was found in QBO (an earlier
        request's, its answer lost): the stage's handler links it and logs it as found, not created."""
        self.adopted.add(key)
        return BatchResult(key, True, doc, None)

    # ------------------------------------------------------------------ the activity log
    def note(self, conn: Any, *, entity: str, direction: str, action: str, outcome: str,
             work_id: int | None = None, qbo_id: str | None = None, field: str | None = None,
             message: str = "") -> None:
        """One activity entry (inside the caller's transaction) and one progress event."""
        if conn is not None:
            self.state.record(conn, self.run_id, entity=entity, direction=direction, action=action,
                              outcome=outcome, work_id=work_id, qbo_id=qbo_id, field=field, message=message)
            if outcome in ("failed", "conflict") and work_id is not None and self._open is not None:
                self._open.add((entity, work_id))
        self.counts[outcome] += 1
        self.counts[f"{entity}.{action}.{outcome}"] += 1
        self.done += 1
        if self.lease is not None:
            self.lease.progress(done=self.done)
        self.reporter.record(RecordOutcome(entity, direction, action, outcome, work_id, qbo_id, field, message))

    def fail(self, entity: str, direction: str, action: str, work_id: int | None, message: str, *,
             qbo_id: str | None = None, field: str | None = None, pending: bool = False,
             blocked_by: str | None = None, refused_key: str | None = None) -> None:
        """Record a failed record. ``pending``: try again next run (a passing fault); ``blocked_by``
        (``"customer:12"``): try again once that record is in QBO. Otherwise it waits for a change in
        WORK or for the user's retry, so an unchanged bad record is not reported again every run.
        ``refused_key``: the record change QBO refused (its next attempt gets a new key)."""
        if self.dry_run:
            last = self.actions[-1] if self.actions else None
            if last is None or (last.kind, last.entity, last.work_id) != ("fail", entity, work_id):
                self.actions.append(Action("fail", entity, direction, work_id, qbo_id, {}, message, field))
            self.note(None, entity=entity, direction=direction, action=action, outcome="failed", work_id=work_id,
                      qbo_id=qbo_id, field=field, message=message)
            return
        with self.begin() as conn:
            self.note(conn, entity=entity, direction=direction, action=action, outcome="failed", work_id=work_id,
                      qbo_id=qbo_id, field=field, message=message)
            if refused_key is not None:
                self.refused(conn, refused_key)
            if work_id is None:
                return
            if pending:
                self.add_pending(conn, entity, work_id)
            if blocked_by is not None:
                blocked: dict[str, list[int]] = self.state.get_value(f"blocked:{entity}", {}, conn)
                ids = set(blocked.get(blocked_by, [])) | {work_id}
                blocked[blocked_by] = sorted(ids)
                self.state.set_value(conn, f"blocked:{entity}", blocked)

    def add_pending(self, conn: Connection, entity: str, work_id: int) -> None:
        queue = set(self.state.get_value(f"pending:{entity}", [], conn))
        if work_id not in queue:
            queue.add(work_id)
            self.state.set_value(conn, f"pending:{entity}", sorted(queue))

    @staticmethod
    def error_text(err: QboError, label: str) -> tuple[str, str | None]:
        """The activity-log sentence for a QBO refusal, and the field it names."""
        element = err.element or None
        detail = err.detail or err.message
        return f"{label}: QuickBooks refused it ({err.code} {err.message}): {detail}", element

    # ------------------------------------------------------------------ queues
    def unblocked_records(self, entity: str, dependency: str) -> set[int]:
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

    def load_open(self) -> None:
        """Remember which records sit in a retry queue or have open failures (committed state).
        Records written later need their queue entry and their failures cleared only if they are
        among these or failed in this run (:meth:`note`)."""
        if self._open is not None:
            return
        keys = {(e.entity, e.work_id) for e in self.state.open_failures() if e.work_id is not None}
        for entity in ENTITIES:
            keys.update((entity, int(w)) for w in self.state.get_value(f"pending:{entity}", []))
        self._open = keys

    def clear_pending(self, conn: Any, entity: str, work_id: int) -> None:
        if self._open is not None and (entity, work_id) not in self._open:
            return  # neither queued nor failed (a retry queued by the user meanwhile stays queued: harmless)
        queue = self.state.get_value(f"pending:{entity}", [], conn)
        if work_id in queue:
            self.state.set_value(conn, f"pending:{entity}", [w for w in queue if w != work_id])
        self.state.resolve(entity, work_id, "synced", conn)

    def candidates(self, entity: str, changed: Callable[[int], list[Any]], get: Callable[[int], Any],
                   dependency: str, initial: bool) -> list[Any]:
        """Records of ``entity`` to look at: changed in WORK since the last run, queued for a retry, or
        waiting for a ``dependency`` record that is now in QBO; in id order."""
        after = 0 if initial else int(self.state.get_value("work_revision", 0))
        found = {record.id: record for record in changed(after)}
        waiting = set(self.state.get_value(f"pending:{entity}", []))
        waiting |= self.unblocked_records(entity, dependency)
        for work_id in sorted(waiting):
            if int(work_id) not in found:
                record = get(int(work_id))
                if record is not None:
                    found[record.id] = record
        return [found[k] for k in sorted(found)]

    # ------------------------------------------------------------------ the id map
    def links(self, entity: str, work_ids: Iterable[int] | None = None) -> dict[int, Link]:
        """The id map of ``entity`` (only the links of ``work_ids`` when given); in a dry run with the
        records this run assumed created or linked."""
        links = self.state.links(entity, work_ids=work_ids)
        if self.dry_run:
            links.update(self.assumed.get(entity, {}))
        return links

    def assume(self, entity: str, work_id: int, qbo_id: str = "0") -> None:
        """Dry run: plan later stages as if this record were in QBO."""
        self.assumed.setdefault(entity, {})[work_id] = Link(entity, work_id, qbo_id, "0", 0, None, None, None,
                                                             "active")

    def _on_collision(self, conn: Connection, collision: Collision) -> None:
        """The id map refused a link (its QBO record is another WORK record's): park the record with a
        sentence, and remember to check whose the QBO record is once this transaction is committed
        (``verify:<entity>``, kept in the database so a crash before the check does not lose it)."""
        entity = collision.entity
        suspects: dict[str, str] = self.state.get_value(f"verify:{entity}", {}, conn)
        suspects[str(collision.work_id)] = collision.qbo_id
        suspects.setdefault(str(collision.other_work_id), collision.qbo_id)
        self.state.set_value(conn, f"verify:{entity}", suspects)
        self.state.record(conn, self.run_id, entity=entity, direction="to_qbo", action="link", outcome="failed",
                          work_id=collision.work_id, qbo_id=collision.qbo_id, field="qbo_id",
                          message=(f"QuickBooks answered WORK {entity} {collision.work_id} with {entity} "
                                   f"{collision.qbo_id}, which the id map links to WORK {entity} "
                                   f"{collision.other_work_id}: not linked; the sync checks in QuickBooks whose "
                                   "it is and links it to that record"))
        self.counts["failed"] += 1
        self.collisions.append(collision)

    # ------------------------------------------------------------------ reads
    def read(self, entity: str, qbo_id: str) -> dict[str, Any]:
        cls = entity_class(entity)
        assert cls is not None
        return as_dict(self.client.read(cls, qbo_id))

    def query(self, statement: Any) -> list[dict[str, Any]]:
        """Every row of a :class:`~qbo_toolkit.qbo.query.Select`, as dicts."""
        return [as_dict(row) for row in self.client.query_all(statement)]

    def by_doc_numbers(self, entity: str, numbers: Iterable[str]) -> list[dict[str, Any]]:
        """The ``entity`` rows (Invoice, CreditMemo, ...) holding any of ``numbers``: 30 numbers a
        query where QBO's query language can say them, one lookup each where it cannot (non-Latin-1)."""
        wanted = sorted(set(numbers))
        plain = [n for n in wanted if is_latin1(n)]
        rows: list[dict[str, Any]] = []
        for start in range(0, len(plain), 30):
            rows += self.query(select(entity).where("DocNumber", "IN", plain[start:start + 30]))
        for n in wanted:
            if not is_latin1(n):
                obj = self.client.find_by_name(entity, "DocNumber", n, include_inactive=False)
                if obj is not None:
                    rows.append(as_dict(obj))
        return rows

    def find_by_names(self, entity: str, field_name: str, names: Sequence[str]) -> dict[str, Any]:
        """``client.find_by_name`` for each of ``names`` at once (reads, up to ``concurrency`` in
        flight under the limiter): the objects found, by name."""
        unique = list(dict.fromkeys(names))
        if not unique:
            return {}
        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(unique))),
                                thread_name_prefix="qbo-read") as pool:
            found = list(pool.map(lambda name: self.client.find_by_name(entity, field_name, name), unique))
        return {name: obj for name, obj in zip(unique, found, strict=True) if obj is not None}

    @staticmethod
    def wanted(ids: Iterable[int], initial: bool, limit: int) -> list[int] | None:
        """The links a stage needs: those of ``ids``, or all of them (None) for the initial run and
        for many records, where one read of the whole map costs less than reading them by key."""
        chosen = sorted(set(ids))
        return None if initial or len(chosen) > limit else chosen

    def progress_stage(self, name: str) -> None:
        self.reporter.stage(name)
        if self.lease is not None:
            self.lease.progress(stage=name)



class RecordStage:
    """What the invoice and payment stages share: their context and sender, and the records in play
    (changed in WORK since the last run, queued for a retry, or waiting for a ``dependency`` record
    that is now in QBO)."""

    entity: str
    dependency: str

    def __init__(self, ctx: RunContext, sender: Any) -> None:
        self.ctx = ctx
        self.sender = sender

    def changed(self, after: int) -> list[Any]:
        raise NotImplementedError

    def get(self, work_id: int) -> Any:
        raise NotImplementedError

    def candidates(self, initial: bool) -> list[Any]:
        return self.ctx.candidates(self.entity, self.changed, self.get, self.dependency, initial)

    def estimate(self, initial: bool) -> int:
        after = 0 if initial else int(self.ctx.state.get_value("work_revision", 0))
        return len(self.changed(after))
