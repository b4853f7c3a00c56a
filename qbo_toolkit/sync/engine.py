"""The sync's orchestrator: the run's life cycle, the lease, and the stages in order.

A run:

0. checks the settings against the connected company before anything is written, dry runs
   included (:mod:`.preflight`): each chosen account exists, is active and of an allowed type;
   names resolve to Ids once, and the run record and the activity log say what each resolved to.
   A problem stops the run with :class:`~qbo_toolkit.settings.SettingsError` naming the setting;
1. takes the company's **lease** (:mod:`.lease`): one sync per company at a time, across
   processes and machines sharing the WORK store; a second one waits up to ``wait`` seconds or
   stops with :class:`~qbo_toolkit.errors.SyncBusy` naming the holder;
2. records the run, then **finishes what a stopped run left** in the outbox (:meth:`Sender.recover`:
   records found in QBO by their mark are adopted, the rest resent) and checks the records an
   id-map collision parked;
3. goes through the **stages**, each planned before it acts: customers (two ways,
   :mod:`.customers`), items (:mod:`.items`), invoices (:mod:`.invoices`), payments
   (:mod:`.payments`), then credit notes, their applications and refunds (:mod:`.credits`; with
   invoices, under the settings ``credit_notes`` and ``refunds``), sharing one
   :class:`~.context.RunContext` and one :class:`~.sender.Sender`. Applications removed or lowered
   in WORK are sent before the invoices stage (an invoice voided meanwhile is then free, a payment
   may take the balance they free);
4. records how it ended and releases the lease, whatever happened: ``ok`` (completed, nothing
   failed), ``failures`` (completed with N failed records: "completed with N failures" in the run
   history, the activity log's last line and :attr:`SyncResult.message`), ``failed`` (stopped by
   an error) or ``interrupted``.

Safety. Every QBO write carries a requestid made from its record (realm, entity, WORK id, WORK
version, operation, attempt: :mod:`.keys`), so whoever sends the same change sends the same key.
Every streamed request is written to the outbox before it is sent and removed in the transaction
that records its answers; a run first looks up and finishes what the outbox holds. The id-map
row, the activity entry and any WORK write of one record share one transaction. Hence a run
killed at any point (its process, or QBO) and run again creates no duplicate and loses nothing.

Stopping. ``stop`` (a :class:`~.context.StopFlag`: a signal handler, the screen's Stop) is
checked between records; the requests in flight are let finish (or, after a grace period, left
to the outbox), the run is recorded ``interrupted`` with a sentence, and
:class:`~qbo_toolkit.errors.SyncInterrupted` is raised.

``dry_run`` plans every stage and writes nothing to QBO (creations are assumed to succeed so
later stages can be planned); it takes the lease too, so its plan is not made against a moving
id map.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ..errors import ObjectNotFound, QboToolkitError, SyncInterrupted
from ..mapping import customers as cmap
from ..mapping.markers import marker_owner
from ..mapping.names import client_ids_named, name_clients
from ..mirror import Mirror, WriteFeed
from ..qbo.client import QboClient
from ..qbo.meter import budget_scope, get_meter, month_of
from ..settings import Settings, SettingsError, SettingsSource
from ..work.store import WorkStore
from .action import Action
from .budget import log_budget_thresholds
from .context import ENTITIES, RunContext, StopFlag
from .credits import CreditAppliedStage, CreditNoteStage, RefundStage
from .customers import CustomerStage
from .invoices import InvoiceStage
from .items import ItemStage
from .lease import Lease
from .payments import PaymentStage
from .preflight import Preflight, check_settings
from .progress import NullReporter, Reporter
from .sender import Sender
from .state import SyncState, run_text

__all__ = ["SyncEngine", "SyncResult"]

_log = logging.getLogger(__name__)

#: How many outstanding records a summary names before it says "and N more".
NAMED = 10


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
    #: records that are not in agreement after this run: open failures, requests left in the
    #: outbox, records parked by the id map (one sentence each)
    outstanding: list[str] = field(default_factory=list)
    #: how the run ended, in words: "completed with 24 failures (see the activity log)", or why it
    #: stopped early (``failed`` or ``interrupted``); empty for ``ok``
    message: str = ""
    #: records that failed in this run (status ``failures`` when the run completed with some)
    failed: int = 0
    #: what the run did once that is not a record: the accounts its settings resolved to, items
    #: posted to as they are (``existing_items: use_as_is``)
    notices: list[str] = field(default_factory=list)
    #: the accounts the settings resolved to ({setting: {chosen, id, name, type}})
    accounts: dict[str, dict[str, str]] = field(default_factory=dict)
    #: where the settings came from (:meth:`SettingsSource.as_dict`), when the engine was told
    settings_source: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        """The status in words: "completed", "completed with 24 failures", "stopped: ..."."""
        return run_text(self.status, self.failed, self.message)

    @property
    def completed(self) -> bool:
        """The run went to its end (``ok`` or ``failures``), whatever records failed."""
        return self.status in ("ok", "failures")

    def to_dict(self) -> dict[str, Any]:
        """What a job's summary.json needs: machine-readable status, failed count, words."""
        return {"run_id": self.run_id, "kind": self.kind, "dry_run": self.dry_run, "status": self.status,
                "text": self.text, "failed": self.failed, "message": self.message, "requests": self.requests,
                "seconds": round(self.seconds, 2), "pending_matches": self.pending_matches,
                "outstanding": list(self.outstanding), "notices": list(self.notices), "accounts": self.accounts,
                "settings_source": self.settings_source, "counts": dict(sorted(self.counts.items()))}

    def __str__(self) -> str:
        c = self.counts
        words = {"ok": "done", "failed": "failed (see the activity log)", "skipped": "skipped",
                 "held": "waiting for a match decision"}
        parts = [f"{c[k]} {v}" for k, v in words.items() if c.get(k)]
        detail = ", ".join(f"{k.replace('.', ' ')} {v}" for k, v in sorted(c.items()) if k.count(".") == 2)
        flags = [self.kind, *(["dry run"] if self.dry_run else []),
                 *([self.status if self.status != "failures" else self.text] if self.status != "ok" else [])]
        head = f"sync run {self.run_id} ({', '.join(flags)}, {self.requests} requests)"
        if parts:
            body = ", ".join(parts)
        elif self.outstanding or self.pending_matches or self.status != "ok":
            body = "nothing sent"
        else:
            body = "nothing to do"
        text = f"{head}: {body}" + (f"\n  {detail}" if detail else "")
        if self.message and self.status != "failures":
            text += f"\n  {self.message}"
        if self.outstanding:
            shown = self.outstanding[:NAMED]
            more = len(self.outstanding) - len(shown)
            text += f"\n  {len(self.outstanding)} record(s) still not in QuickBooks as WORK has them:"
            text += "".join(f"\n  - {line}" for line in shown)
            if more:
                text += f"\n  - and {more} more (see the activity log)"
        if self.pending_matches:
            text += f"\n  {self.pending_matches} customer match(es) wait for a decision in the match preview"
        return text


def _job_name() -> str:
    import sys

    argv0 = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
    return f"{argv0} (pid {os.getpid()})" if argv0 else "python"


class SyncEngine:

    def __init__(self, store: WorkStore, client: QboClient, settings: Settings, *,
                 reporter: Reporter | None = None, today: date | None = None, concurrency: int = 10,
                 job: str | None = None, company: str | None = None, stop: StopFlag | None = None,
                 settings_source: SettingsSource | Mapping[str, Any] | None = None) -> None:
        self.store = store
        self.client = client
        self.realm = client.realm_id
        self.settings = settings
        self.reporter: Reporter = reporter or NullReporter()
        self.state = SyncState(store, self.realm)
        self.today = today
        self.concurrency = concurrency  # requests in flight at once (QBO allows 10; the limiter keeps it)
        self.job = job or _job_name()
        self.company = company
        self.stop = stop or StopFlag()
        self.ctx: RunContext | None = None
        #: where the settings came from, recorded with each run (the job passes its SettingsSource)
        self.settings_source: dict[str, Any] | None = (
            settings_source.as_dict() if isinstance(settings_source, SettingsSource)
            else dict(settings_source) if settings_source is not None else None)
        #: the last run's settings check (the accounts its settings resolved to)
        self.preflight: Preflight | None = None
        #: the meter's month (UTC) when the last run started
        self.month: str | None = None

    # ================================================================================== public
    def run(self, *, dry_run: bool = False, wait: float = 0.0) -> SyncResult:
        """One run (initial the first time, incremental after). ``wait``: seconds to wait for another
        sync of the company to finish before stopping with :class:`SyncBusy`.

        The meter counts the run's QuickBooks calls against the settings' ``meter.monthly_budget``;
        the budget thresholds announced this month go into the activity log once each, before the
        run's last line (:mod:`.budget`)."""
        self.settings.validate()
        if self.settings.invoices and self.settings.integration_date is None:
            raise SettingsError(["Invoices sync from the integration date: enable the integration first "
                                 "(it sets integration_date)"])
        with budget_scope(self.settings.meter.monthly_budget):
            return self._run(dry_run=dry_run, wait=wait)

    def _run(self, *, dry_run: bool, wait: float) -> SyncResult:
        self.month = month_of(get_meter().clock())  # a run crossing into the next month says both months'
        lease = Lease(self.state, job=self.job, company=self.company)
        lease.acquire(wait=wait, stop=lambda: self.stop.reason if self.stop.is_set() else None)
        started = time.monotonic()
        requests_before = self.client.requests_sent()
        result: SyncResult | None = None
        try:
            initial = not self.state.get_value("initialized", False)
            kind = "initial" if initial else "incremental"
            run_id = self.state.start_run(kind, dry_run=dry_run)
            lease.attach(run_id)
            ctx = self.ctx = RunContext(self.store, self.client, self.settings, self.state, self.reporter, run_id,
                                        dry_run, self.today or date.today(), self.concurrency, self.stop, lease)
            result = SyncResult(run_id, kind, dry_run, settings_source=self.settings_source)
            status, message = "failed", ""
            # QBO's answers to this run's writes go to the local mirror (no GET after a write)
            feed = None if dry_run else Mirror(self.store, self.client).feed()
            try:
                # before any write (the recovery of a stopped run's outbox included): settings that do
                # not fit the company stop the run here, recorded as failed with the sentence
                with self.client.observing(feed) if feed is not None else nullcontext():
                    self._check_settings(ctx, result)
                    self._stages(ctx, initial)
                status = "failures" if ctx.counts.get("failed", 0) else "ok"
            except SyncInterrupted as exc:
                status, message = "interrupted", str(exc)
                raise
            except KeyboardInterrupt:
                status, message = "interrupted", "the sync was interrupted (Ctrl-C); the next run continues from there"
                raise
            except QboToolkitError as exc:
                message = f"the run stopped: {exc}"
                raise
            except BaseException as exc:
                message = f"the run stopped on an unexpected error ({type(exc).__name__}); the next run continues"
                raise
            finally:
                self._feed_mirror(feed, ctx)
                result.counts = ctx.counts
                result.actions = ctx.actions
                result.requests = self.client.requests_sent() - requests_before
                result.seconds = time.monotonic() - started
                result.status = status
                result.failed = int(ctx.counts.get("failed", 0))
                result.notices.extend(ctx.notices)
                if status == "failures":
                    message = f"{result.text} (see the activity log)"
                result.message = message if status != "ok" else ""
                self._finish(ctx, result)
        finally:
            lease.release()
            self.state.on_collision = None
            if result is not None:
                self.reporter.finish(result)
        return result

    def retry(self, entity: str, work_id: int) -> None:
        self.state.queue_retry(entity, work_id)

    def dismiss(self, entity: str, work_id: int) -> None:
        self.state.dismiss(entity, work_id)

    # ================================================================================== the run
    def _check_settings(self, ctx: RunContext, result: SyncResult) -> None:
        """Check the settings against the company (:mod:`.preflight`; SettingsError when they do not
        fit), give the run its settings with every account as its Id, and record what each
        resolved to and where the settings came from: in the run record and as activity entries
        (outcome ``info``: not a record's)."""
        if self.settings_source is not None:  # recorded even when the check refuses the settings
            with self.state.begin() as conn:
                self.state.set_run_detail(conn, ctx.run_id, {"settings_source": self.settings_source})
        pre = self.preflight = check_settings(self.client, self.settings)
        ctx.settings = pre.settings
        ctx.account_names = dict(pre.names)
        result.accounts = pre.as_dict()
        lines = pre.lines()
        if self.settings_source is not None:
            where = self.settings_source.get("path") or self.settings_source.get("origin")
            digest = str(self.settings_source.get("sha256") or "")[:12]
            lines.insert(0, f"settings from {where}" + (f" (sha256 {digest})" if digest else ""))
        result.notices.extend(lines)
        with self.state.begin() as conn:
            self.state.set_run_detail(conn, ctx.run_id, {"accounts": pre.as_dict()})
            for line in lines:
                self.state.record(conn, ctx.run_id, entity="settings", direction="none", action="check",
                                  outcome="info", message=line)

    def _stages(self, ctx: RunContext, initial: bool) -> None:
        sender = self.make_sender(ctx)
        customers = CustomerStage(ctx, sender)
        invoices = InvoiceStage(ctx, sender)
        payments = PaymentStage(ctx, sender)
        notes, applied = CreditNoteStage(ctx, sender), CreditAppliedStage(ctx, sender)
        refunds = RefundStage(ctx, sender)
        if not ctx.dry_run:
            if ctx.lease is not None:
                ctx.lease.progress(stage="recovery")  # before the reporter's start: not one of its stages
            sender.recover({"customer": customers.result, "invoice": invoices.result, "payment": payments.result,
                            "credit_note": notes.handle, "credit_applied": applied.result, "refund": refunds.result},
                           {"customer": customers.find, "invoice": invoices.find, "payment": payments.find,
                            "credit_note": notes.find, "credit_applied": applied.find, "refund": refunds.find})
            if notes.taken:  # a recovered create refused for its number: looked up like any other
                notes.resolve_taken(notes.taken)
            self._check_collisions(ctx)
        ctx.check()
        work_revision = self.store.max_revision()
        since = self._cdc_since()
        plan = customers.plan(initial, since)
        # a stage the settings turned on since the last run starts from the beginning (the integration
        # date), not from the WORK revision the last run reached: its records never went
        synced = set(self.state.get_value("stages", ["invoices", "payments"] if not initial else []))
        first = {stage: initial or stage not in synced for stage in ("invoices", "payments", "credit_notes",
                                                                       "refunds")}
        credits_on = ctx.settings.invoices and ctx.settings.credit_notes
        refunds_on = ctx.settings.invoices and ctx.settings.refunds and bool(ctx.settings.refund_account)
        total = len(plan.actions)
        if ctx.settings.invoices:
            total += invoices.estimate(first["invoices"])
            total += payments.estimate(first["payments"]) if ctx.settings.payments else 0
            if credits_on:
                total += notes.estimate(first["credit_notes"]) + applied.estimate(first["credit_notes"])
            total += refunds.estimate(first["refunds"]) if refunds_on else 0
        self.state.set_run_total(ctx.run_id, total)
        if ctx.lease is not None:
            ctx.lease.progress(total=total)
        self.reporter.start(ctx.run_id, "initial" if initial else "incremental", total)
        ctx.progress_stage("customers")
        customers.act(plan)
        if ctx.settings.invoices:
            ctx.progress_stage("items")
            items = ItemStage(ctx)
            item_ids = items.run()
            if credits_on:  # applications removed or lowered in WORK free their invoice's balance first
                applied.free_first(first["credit_notes"])
            ctx.progress_stage("invoices")
            invoices.run(first["invoices"], item_ids, payments, items.held)
            if ctx.settings.payments:
                ctx.progress_stage("payments")
                payments.run(first["payments"])
            if credits_on:
                ctx.progress_stage("credit notes")
                notes.run(first["credit_notes"], item_ids, items.held, applied)
                applied.run(first["credit_notes"])
            if refunds_on:
                ctx.progress_stage("refunds")
                refunds.run(first["refunds"], item_ids, items.held)
        ctx.check()
        if not ctx.dry_run:
            with self.state.begin() as conn:
                self.state.set_value(conn, "initialized", True)
                on = {"invoices": ctx.settings.invoices, "payments": ctx.settings.invoices and ctx.settings.payments,
                      "credit_notes": credits_on, "refunds": refunds_on}
                self.state.set_value(conn, "stages", [stage for stage, synced_now in on.items() if synced_now])
                self.state.set_value(conn, "work_revision", work_revision)
                self.state.set_value(conn, "cdc_since", plan.server_time.isoformat())
                for entity, keys in ctx.unblocked.items():
                    blocked = self.state.get_value(f"blocked:{entity}", {}, conn)
                    self.state.set_value(conn, f"blocked:{entity}",
                                         {k: v for k, v in blocked.items() if k not in keys})

    @staticmethod
    def _feed_mirror(feed: WriteFeed | None, ctx: RunContext) -> None:
        """Apply QBO's answers to the run's writes to the local mirror; a failure here is a notice, never
        the run's error (the mirror's next change-data-capture brings it current anyway)."""
        if feed is None:
            return
        try:
            feed.flush()
        except Exception as exc:  # the mirror is a copy: the run's own outcome stands
            ctx.notices.append(f"the local QBO mirror could not take this run's writes ({type(exc).__name__}: "
                               f"{exc}); the next reconciliation brings it current with change-data-capture")

    def make_sender(self, ctx: RunContext) -> Sender:
        """The run's :class:`Sender` (tests override this to crash at a chosen moment)."""
        return Sender(ctx, after_record=lambda: self._check_collisions(ctx) if ctx.collisions else None)

    def _cdc_since(self) -> datetime | None:
        value = self.state.get_value("cdc_since")
        return datetime.fromisoformat(value) if value else None

    def _finish(self, ctx: RunContext, result: SyncResult) -> None:
        """Record how the run ended and what is still outstanding (never masking the run's own error)."""
        try:
            result.pending_matches = len(self.state.matches("pending"))
            if not result.dry_run:
                result.outstanding = self.outstanding()
            self._log_budget(ctx)
            self.state.finish_run(ctx.run_id, result.status, ctx.counts, result.requests, failed=result.failed,
                                  detail={"message": result.message, "notices": result.notices},
                                  summary=f"sync run {ctx.run_id} {result.text}" + (
                                      " (dry run: nothing was written)" if result.dry_run else ""))
        except Exception:
            if result.completed:
                raise  # otherwise the run's own error is the one to report

    def _log_budget(self, ctx: RunContext) -> None:
        """The meter's budget thresholds of this month not yet in the activity log (:mod:`.budget`);
        a meter that cannot be read is logged and the run goes on (the next run says them)."""
        try:
            log_budget_thresholds(self.state, ctx.run_id, months=[self.month] if self.month else [])
        except Exception as exc:  # the meter never changes a run's outcome
            _log.warning("the budget thresholds could not be written to the activity log of company %s (%s: %s); "
                         "the next sync writes them", self.realm, type(exc).__name__, exc)

    # ================================================================================== collisions
    def _check_collisions(self, ctx: RunContext) -> None:
        """Decide whose the QBO records are that an answer and the id map both claimed (the
        ``verify:<entity>`` lists): read each, and link it to the WORK record its mark (or, for a
        customer, its name) names; the other record goes back in play for the next run."""
        ctx.collisions.clear()
        for entity in ("customer", "invoice", "payment", "credit_note", "credit_applied", "refund"):
            suspects: dict[str, str] = self.state.get_value(f"verify:{entity}", {})
            if not suspects:
                continue
            by_qbo: dict[str, list[int]] = {}
            for work_id, qbo_id in suspects.items():
                by_qbo.setdefault(str(qbo_id), []).append(int(work_id))
            for qbo_id, work_ids in by_qbo.items():
                self._settle(ctx, entity, qbo_id, work_ids)

    def _settle(self, ctx: RunContext, entity: str, qbo_id: str, work_ids: Iterable[int]) -> None:
        name = {"customer": "Customer", "invoice": "Invoice", "payment": "Payment", "credit_note": "CreditMemo",
                "credit_applied": "Payment", "refund": "RefundReceipt"}[entity]
        try:
            doc: dict[str, Any] | None = ctx.read(name, qbo_id)
        except ObjectNotFound:
            doc = None
        owner: int | None = None
        if doc is not None:
            if entity == "customer":
                for work_id in work_ids:
                    client = self.store.get_client(work_id)
                    if client is not None and cmap.customer_values(doc).get("display_name") == client.display_name:
                        owner = work_id
                        break
            else:
                owner = marker_owner(doc.get("PrivateNote"), entity)
        with self.state.begin() as conn:
            links = self.state.links(entity, conn, work_ids=list(work_ids), qbo_ids=[qbo_id])
            for link in links.values():
                if link.qbo_id == qbo_id and link.work_id != owner:
                    # the id map gave this QBO record to the wrong WORK record: forget that link, so the
                    # record is planned afresh (and looked up by its mark before anything is created)
                    self.state.drop_link(conn, entity, link.work_id)
                    ctx.add_pending(conn, entity, link.work_id)
                    # QBO's memory of the create's requestid holds that wrong answer: the next try is new
                    ctx.state.note_refusal(conn, entity, link.work_id, link.work_version)
                    whose = f" (it is WORK {entity} {owner}'s)" if owner is not None else ""
                    self.state.record(conn, ctx.run_id, entity=entity, direction="to_qbo", action="link",
                                      outcome="failed", work_id=link.work_id, qbo_id=qbo_id, field="qbo_id",
                                      message=f"QuickBooks {entity} {qbo_id} is not WORK {entity} {link.work_id}'s"
                                              f"{whose}: link removed; the record is looked up and sent again next run")
            if owner is not None and owner not in {link.work_id for link in links.values() if link.qbo_id == qbo_id}:
                existing = self.state.links(entity, conn, work_ids=[owner]).get(owner)
                if existing is None and doc is not None:
                    self.state.save_link(conn, entity, owner, qbo_id, sync_token=str(doc.get("SyncToken", "0")),
                                         work_version=0)
                    self.state.record(conn, ctx.run_id, entity=entity, direction="to_qbo", action="link",
                                      outcome="ok", work_id=owner, qbo_id=qbo_id,
                                      message=f"linked QuickBooks {entity} {qbo_id} to WORK {entity} {owner} "
                                              "(whose it is, read from QuickBooks)")
                    self.state.resolve(entity, owner, "synced", conn)
            for work_id in work_ids:
                if work_id != owner and work_id not in {link.work_id for link in links.values()}:
                    ctx.add_pending(conn, entity, work_id)
            suspects = self.state.get_value(f"verify:{entity}", {}, conn)
            for work_id in work_ids:
                suspects.pop(str(work_id), None)
            self.state.set_value(conn, f"verify:{entity}", suspects)

    # ================================================================================== summaries
    def outstanding(self) -> list[str]:
        """One sentence per record that is not where WORK says it should be: open failures (the
        last entry of each record), requests left in the outbox, records parked after a collision."""
        lines: list[str] = []
        seen: set[tuple[str, int | None]] = set()
        for entry in reversed(self.state.open_failures()):
            key = (entry.entity, entry.work_id)
            if entry.work_id is None or key in seen:  # a refused CSV row never became a WORK record
                continue
            seen.add(key)
            lines.append(f"{entry.entity} {entry.work_id}: {entry.message}")
        lines.reverse()
        outbox = self.state.outbox()
        if outbox:
            records = sum(len(body) for _, _, body in outbox)
            lines.append(f"{records} record(s) sent in {len(outbox)} request(s) without an answer: the next run "
                         "looks them up in QuickBooks and finishes them")
        for entity in ENTITIES:
            parked = self.state.get_value(f"verify:{entity}", {})
            if parked:
                lines.append(f"{len(parked)} {entity} record(s) wait for a check of whose QuickBooks record they hold")
        return self._named(lines)

    def _named(self, lines: list[str]) -> list[str]:
        """Sentences a person reads name clients by their WORK name ("its client Cool Cars"), not by id."""
        names: dict[int, str | None] = {}
        for client_id in client_ids_named(lines):
            client = self.store.get_client(client_id)
            names[client_id] = client.display_name if client is not None else None
        return [name_clients(line, names.get) for line in lines]

