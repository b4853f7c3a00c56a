"""The sync engine: plan, then act, one transaction per record, safe to re-run after any failure.

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

Safety. Every QBO write carries a deterministic requestid (entity, WORK id, version, operation;
for a batch, a hash of its operations). A batch is written to the outbox before it is sent and
cleared after its answers are recorded; a run first resends what the outbox holds, unchanged, so
QBO replays answers instead of writing twice. The id-map row, the activity entry and any WORK
write of one record share one transaction. Hence a run killed at any point and run again creates
no duplicate and loses nothing.

``dry_run`` plans every stage and writes nothing (creations are assumed to succeed so later stages
can be planned).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ..errors import DuplicateName, QboError, StaleObject
from ..mapping import customers as cmap
from ..mapping import invoices as imap
from ..mapping import payments as pmap
from ..mapping.names import check_display_name, suffixed_name
from ..qbo.client import BatchOp, BatchResult, QboClient, entity_class
from ..qbo.query import select
from ..settings import Settings, SettingsError
from ..work.models import Address, Client, Invoice, Payment
from ..work.store import WorkStore
from .plan import Action, plan_customer_merge, plan_customers, plan_invoice, plan_payment
from .progress import NullReporter, RecordOutcome, Reporter
from .state import Link, SyncState

__all__ = ["SyncEngine", "SyncResult"]

CDC_OVERLAP = timedelta(minutes=5)
BATCH = 30


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


def _chunk_rid(ops: Sequence[BatchOp]) -> str:
    text = json.dumps([(o.entity, o.op, o.key) for o in ops])
    return "qtb-" + hashlib.sha1(text.encode()).hexdigest()[:32]  # noqa: S324 - an id, not security


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
                 reporter: Reporter | None = None, today: date | None = None, concurrency: int = 4) -> None:
        self.store = store
        self.client = client
        self.realm = client.realm_id
        self.settings = settings
        self.reporter: Reporter = reporter or NullReporter()
        self.state = SyncState(store.engine, self.realm)
        self.today = today
        self.concurrency = concurrency  # batches in flight at once (QBO allows 10 requests in flight)
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

    def _links(self, entity: str) -> dict[int, Link]:
        """The id map of ``entity``; in a dry run with the records this run assumed created or linked."""
        links = self.state.links(entity)
        if self.dry_run:
            links.update(self.assumed.get(entity, {}))
        return links

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

    def _note(self, conn: Any, *, entity: str, direction: str, action: str, outcome: str,
              work_id: int | None = None, qbo_id: str | None = None, field: str | None = None,
              message: str = "") -> None:
        """One activity entry (inside the caller's transaction) and one progress event."""
        if conn is not None:
            self.state.record(conn, self.run_id, entity=entity, direction=direction, action=action,
                              outcome=outcome, work_id=work_id, qbo_id=qbo_id, field=field, message=message)
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
        with self.store.engine.begin() as conn:
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

    def _unblocked(self, entity: str, dependency: str, linked: Mapping[int, Link]) -> set[int]:
        """Records of ``entity`` that waited for a ``dependency`` record now linked to QBO."""
        blocked: dict[str, list[int]] = self.state.get_value(f"blocked:{entity}", {})
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

    def _clear_pending(self, conn: Any, entity: str, work_id: int) -> None:
        queue = self.state.get_value(f"pending:{entity}", [], conn)
        if work_id in queue:
            self.state.set_value(conn, f"pending:{entity}", [w for w in queue if w != work_id])
        self.state.resolve(entity, work_id, "synced", conn)

    def _error_text(self, err: QboError, label: str) -> tuple[str, str | None]:
        """The activity-log sentence for a QBO refusal, and the field it names."""
        element = err.element or None
        detail = err.detail or err.message
        return f"{label}: QuickBooks refused it ({err.code} {err.message}): {detail}", element

    # ---------------------------------------------------------------------------------- batches
    def _send(self, ops: Sequence[BatchOp], handle: Callable[[BatchOp, BatchResult], None]) -> None:
        """Send ops in chunks of 30 through the outbox; ``handle`` records each answer.

        Up to ``concurrency`` batches are in flight at once (QBO allows 10 requests in flight and the
        client's limiter keeps every rate); their answers are recorded on this thread, in the order
        the batches were sent, so the WORK store and the activity log see one writer.
        """
        chunks = [list(ops[start:start + BATCH]) for start in range(0, len(ops), BATCH)]
        in_flight: deque[tuple[list[BatchOp], str, Future[list[BatchResult]]]] = deque()

        def record(chunk: list[BatchOp], rid: str, future: Future[list[BatchResult]]) -> None:
            for op, res in zip(chunk, future.result(), strict=True):
                handle(op, res)
            with self.store.engine.begin() as conn:
                self.state.clear_outbox(conn, rid)

        with ThreadPoolExecutor(max_workers=max(1, self.concurrency), thread_name_prefix="qbo-batch") as pool:
            for chunk in chunks:
                rid = _chunk_rid(chunk)
                body = [{"op": o.op, "entity": o.entity, "payload": o.payload, "key": o.key} for o in chunk]
                with self.store.engine.begin() as conn:
                    self.state.add_outbox(conn, rid, "batch", body)
                in_flight.append((chunk, rid, pool.submit(self.client.batch, chunk, request_id=_constant(rid))))
                if len(in_flight) >= self.concurrency:
                    record(*in_flight.popleft())
            while in_flight:
                record(*in_flight.popleft())

    def _recover_outbox(self) -> None:
        """Resend what a crashed run sent but did not record (same requestid: QBO replays)."""
        for rid, _kind, body in self.state.outbox():
            ops = [BatchOp(b["op"], b["entity"], b["payload"], b["key"]) for b in body]
            results = self.client.batch(ops, request_id=_constant(rid))
            for op, res in zip(ops, results, strict=True):
                self._handle_result(op, res)
            with self.store.engine.begin() as conn:
                self.state.clear_outbox(conn, rid)

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
        links = self.state.links("customer")
        by_qbo = {link.qbo_id: link for link in links.values()}
        server_time = datetime.now(UTC)
        if initial or since is None:
            customers = {str(c["Id"]): c for c in (_as_dict(o) for o in self.client.query_all(
                select("Customer").include_inactive()))}
            clients = {c.id: c for c in self.store.clients(include_inactive=True)}
        else:
            cdc = self.client.cdc(["Customer"], since - CDC_OVERLAP)
            server_time = cdc.server_time or server_time
            customers = {str(c["Id"]): c for c in (_as_dict(o) for o in cdc.objects.get("Customer", ()))}
            changed = {c.id: c for c in self.store.changed_clients(int(self.state.get_value("work_revision", 0)))}
            waiting = set(self.state.get_value("pending:customer", []))
            waiting |= self._unblocked("customer", "customer", links)
            # matches the user decided since the last run: both sides come back into play
            for choice in self.state.matches("accepted") + self.state.matches("rejected"):
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
            clients, customers, links, dismissed=self.state.dismissed("customer"), accepted=decided,
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
            links = self.state.links("customer")
            ready = [a for a in remaining if self._parent_ready(plan.clients[int(a.work_id or 0)], links)]
            if not ready:
                break
            self._create_customers(ready, plan.clients, links)
            remaining = [a for a in remaining if a not in ready]
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
        client = self.store.get_client(work_id)
        with self.store.engine.begin() as conn:
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
        for item in self.store.items():
            if item.id in links:
                continue
            found = self.client.find_by_name("Item", "Name", item.name)
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
        waiting |= self._unblocked(entity, dependency, self.state.links(dependency))
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
        customers = self._links("customer")
        links = self.state.links("invoice")
        dismissed = self.state.dismissed("invoice")
        creates: list[BatchOp] = []
        for inv in self._invoice_candidates(initial):
            if inv.id in dismissed:
                continue
            action = plan_invoice(inv, links.get(inv.id), customers.get(inv.client_id),
                                  integration_date=settings.integration_date)
            self.actions.append(action)
            if action.kind == "skip":
                self._note(None, entity="invoice", direction="to_qbo", action="skip", outcome="skipped",
                           work_id=inv.id, message=action.reason)
                continue
            if action.kind == "fail":
                self._fail("invoice", "to_qbo", "create", inv.id, action.reason, field=action.field,
                           blocked_by=f"customer:{inv.client_id}" if action.field == "client_id" else None)
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
        if creates:
            self._send(creates, self._invoice_result)

    def _invoice_result(self, op: BatchOp, res: BatchResult) -> None:
        _, work_id, version, _ = _parse_key(op.key)
        number = op.payload.get("DocNumber", work_id)
        if not res.ok:
            assert res.error is not None
            text, element = self._error_text(res.error, f"invoice {number}")
            self._fail("invoice", "to_qbo", "create", work_id, text, field=element, pending=res.error.retryable)
            return
        qbo = _as_dict(res.obj)
        with self.store.engine.begin() as conn:
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
        invoice_links = self._links("invoice")
        customer_links = self._links("customer")
        links = self.state.links("payment")
        dismissed = self.state.dismissed("payment")
        invoices: dict[int, Invoice | None] = {}
        creates: list[BatchOp] = []
        for pay in self._payment_candidates(initial):
            if pay.id in dismissed or ("payment", pay.id) in self.acted:
                continue
            if pay.invoice_id not in invoices:
                invoices[pay.invoice_id] = self.store.get_invoice(pay.invoice_id)
            inv = invoices[pay.invoice_id]
            action = plan_payment(pay, links.get(pay.id), inv, invoice_links.get(pay.invoice_id),
                                  integration_date=settings.integration_date)
            self.actions.append(action)
            if action.kind == "skip":
                self._note(None, entity="payment", direction="to_qbo", action="skip", outcome="skipped",
                           work_id=pay.id, message=action.reason)
                continue
            if action.kind == "fail":
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
        if creates:
            self._send(creates, self._payment_result)

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
        with self.store.engine.begin() as conn:
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
