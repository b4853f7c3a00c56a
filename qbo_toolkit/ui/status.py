"""The status screen: Disconnect, the sync settings with ✓ and ✗, and the Activity Log.

As the seed describes it::

    QuickBooks Online Integration                                   [Disconnect]
    Sync Settings    ✓ Clients   ✓ Invoices → accounts   ✗ Payments
    Activity Log     progress bar of the initial sync
                     runs, then records (filter by run, entity, outcome), Retry / Dismiss for failures
                     [Sync now] [Preview (dry run)]

The sync runs on a background thread (:class:`~qbo_toolkit.ui.common.Background`) through
:func:`qbo_toolkit.sync.api.run_sync` with a :class:`~qbo_toolkit.sync.progress.StateReporter`; a
ticker reads the thread-safe :class:`~qbo_toolkit.sync.progress.ProgressState` every
``poll_interval`` seconds and moves the bar, so the kernel keeps answering and the engine never
waits for a widget. Disconnecting asks first, revokes, keeps the activity log and the links
(reconnecting to the same company resumes), and returns to the connect screen.

One sync per company runs at a time (:mod:`qbo_toolkit.sync.lease`): when another process holds
the company's lease (the nightly job, another browser tab: each Voila page is its own kernel), the
screen says who, since when and how far it got, disables Sync now and Preview meanwhile, and
watches the lease (``watch_interval``) until it is free.

What the screen says is what happened:

* A run's status is the run record's own words ("completed with 24 failures"); a run recorded
  ``ok`` whose counts hold failures reads "completed with N failures", never "ok". In the runs
  table, Records is Done + Failed + Skipped + Waiting (what the run recorded an outcome for).
* **Needs attention** lists what needs a person first: wrong settings, client names QuickBooks
  refuses or holds, match decisions, other records, refused CSV rows (one row however many of its
  fields are wrong). Records that go again by themselves (waiting for their client or invoice to
  reach QuickBooks, or queued after a passing error) follow as grouped counts, listed on request.
  Records are named as the user knows them: clients by their WORK name ("its client Bill's
  Windsurf Shop", never "its client 9"), invoices by number.
* **Preview** says "Nothing to do: both sides agree" only when nothing is planned and nothing is
  outstanding (the run's ``outstanding``, open failures, match decisions); otherwise it lists them.
* A notice that a sync is running goes when the sync ends.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import ipywidgets as widgets

from ..connection import Connection, DisconnectResult
from ..errors import QboError, QboToolkitError
from ..mapping.names import name_clients
from ..settings import Settings, SettingsSource
from ..sync.api import current_sync, dismiss, retry, run_sync
from ..sync.engine import SyncResult
from ..sync.progress import ProgressState, StateReporter
from ..sync.state import SYNC_RUNS, ActivityEntry, SyncState
from ..work.store import WorkStore
from .common import (
    SYNC_RUNNING,
    AppContext,
    Background,
    Guard,
    button,
    css,
    html_table,
    replace_children,
    set_visible,
)
from .matches import MatchController, MatchPanel

__all__ = ["ENTITY_LABELS", "OUTCOME_LABELS", "StatusController", "StatusScreen", "SyncSettingRow"]

ENTITY_LABELS = {"customer": "Client", "item": "Item", "invoice": "Invoice", "payment": "Payment",
                 "credit_note": "Credit note", "credit_applied": "Credit application", "refund": "Refund",
                 "meter": "QuickBooks call budget"}
OUTCOME_LABELS = {"ok": "done", "failed": "failed", "conflict": "conflict", "skipped": "skipped",
                  "held": "waiting for your decision"}
#: an activity entry's outcome as the log shows it: a record's outcomes, and warnings about the run
#: itself (the meter's budget thresholds), which are not a record's outcome and count in no total
ENTRY_OUTCOME_LABELS = {**OUTCOME_LABELS, "warning": "warning"}
DIRECTIONS = {"to_qbo": "WORK → QuickBooks", "to_work": "QuickBooks → WORK", "both": "both ways",
              "from_file": "CSV file → WORK"}
PREVIEW_NAMED = 20  # outstanding items a preview names before "and N more"
CONFLICT_WORDS = {"newest_wins": "the newest change wins", "qbo_wins": "QuickBooks wins", "work_wins": "WORK wins"}
NAME_WORDS = {"report": "report it and wait", "fix": "fix it (trim, replace ':', add a suffix such as (2))"}
PAGE = 200  # records shown at once: the log of a large initial sync is long; filters narrow it
FAILURE_PAGE = 50


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else str(value or "")


def _counts_text(counts: Mapping[str, int]) -> str:
    parts = [f"{counts[key]} {label}" for key, label in OUTCOME_LABELS.items() if counts.get(key)]
    return ", ".join(parts) or "nothing to do"


def _failures_text(failed: int) -> str:
    return f"completed with {failed} failure{'s' if failed != 1 else ''}"


def run_status_text(run: Mapping[str, Any]) -> str:
    """A run's status as the history shows it: the run record's own words when it has them, and a
    run recorded ``ok`` whose counts hold failures reads "completed with N failures", never "ok"."""
    text = str(run.get("text") or "")
    failed = int(run.get("failed") or (run.get("counts") or {}).get("failed", 0) or 0)
    status = str(run.get("status") or "")
    if status == "ok" and failed and (not text or text in ("ok", "completed")):
        return _failures_text(failed)
    if text:
        return text
    return "completed" if status == "ok" else status


def run_records(run: Mapping[str, Any]) -> int:
    """The records a run recorded an outcome for: its Done + Failed + Skipped + Waiting columns (the
    run's planned total can be smaller: follow-ups such as an item created for an invoice count too)."""
    counts = run.get("counts") or {}
    return sum(int(counts.get(key, 0) or 0) for key in OUTCOME_LABELS if key != "conflict")



_CSV_ROW = re.compile(r"^(.*? line \d+):")


@dataclass(frozen=True)
class Attention:
    """The "Needs attention" list: what needs a person first, then what will retry by itself.

    ``person``: open failures a person must act on (settings first, then client names, then other
    records, then refused CSV rows), one per record or CSV row. ``held``: clients whose name
    QuickBooks holds, waiting for the user (name policy "report" after a Reject). ``matches``: match
    decisions waiting. ``retrying``: the open failures that go again by themselves, grouped
    (``{"blocked": {entity: n}, "pending": {entity: n}}``), and ``retry_entries`` those records."""

    person: list[ActivityEntry]
    held: list[ActivityEntry]
    matches: int
    retrying: dict[str, dict[str, int]]
    retry_entries: list[ActivityEntry]

    def title(self) -> str:
        """Each count with its own noun, so each counts what it says."""
        parts: list[str] = []
        if self.matches:
            parts.append(f"{self.matches} match decision(s)")
        by_kind: dict[str, int] = {}
        for e in [*self.person, *self.held]:
            noun = ("CSV row(s)" if e.work_id is None and e.direction == "from_file"
                    else f"{ENTITY_LABELS.get(e.entity, e.entity).lower()}(s)")
            by_kind[noun] = by_kind.get(noun, 0) + 1
        parts += [f"{n} {noun}" for noun, n in by_kind.items()]
        return ", ".join(parts)


SETTING_FIELDS = frozenset({"revenue_account", "item_account", "deposit_account", "settings", "existing_items",
                            "integration_date", "closed_period", "terms", "tax_rate", "tax_amount"})


def _needs_person(entry: ActivityEntry) -> bool:
    """A failure only a person can clear (a setting, the closed books, an unmapped tax rate or term),
    even when the sync tries it again every run: retrying alone will never send it."""
    field = entry.field or ""
    return field in SETTING_FIELDS or field.endswith(".tax_rate")


@dataclass(frozen=True)
class SyncSettingRow:
    """One line of the Sync Settings panel: a green check or a red cross, and where it goes."""

    label: str
    on: bool
    detail: str


class StatusController:
    """Everything the status screen does, without widgets: sync, preview, read the log, retry,
    dismiss, disconnect. The screen registers ``on_progress`` / ``on_finished`` / ``on_disconnected``.

    ``start_sync`` returns at once; ``wait`` blocks until the sync (and its last progress update)
    ended, for tests and headless use."""

    #: how this app's syncs are named to other processes (see sync.lease)
    JOB = "the app's Sync now"

    def __init__(self, ctx: AppContext, guard: Guard, *, poll_interval: float = 0.1,
                 watch_interval: float = 2.0) -> None:
        self.ctx = ctx
        self.guard = guard
        self.poll_interval = poll_interval
        self.watch_interval = watch_interval
        self.on_elsewhere: Callable[[dict[str, Any] | None], None] | None = None
        self._watching: threading.Event | None = None
        self.worker = Background(guard, name="qbo-sync")
        self.progress = ProgressState()
        self.dry_run = False
        self.last_result: SyncResult | None = None
        self.last_preview: SyncResult | None = None
        self.failed: BaseException | None = None
        self.meter_warnings: list[str] = []  # the budget thresholds the last run crossed
        self.on_progress: Callable[[], None] | None = None
        self.on_finished: Callable[[SyncResult | None], None] | None = None
        self.on_failed: Callable[[BaseException], None] | None = None
        self.on_disconnected: Callable[[DisconnectResult], None] | None = None
        self._account_names: dict[str, str] | None = None
        self._names: dict[int, str | None] = {}  # WORK client names by id, for messages
        self._row_entries: dict[int, list[int]] = {}  # a refused CSV row's entries, by its first entry

    # -- what is set up ------------------------------------------------------------------------------
    def settings(self) -> Settings:
        enabled = self.ctx.enabled_settings()
        if enabled is None:
            raise QboToolkitError("the integration is not enabled yet: choose the settings and click Enable "
                                  "Integration first")
        return enabled

    def account_names(self) -> dict[str, str]:
        if self._account_names is None:
            from .settings_form import load_accounts

            self._account_names = {a.id: a.name for a in load_accounts(self.ctx.live())}
        return self._account_names

    def sync_settings(self) -> list[SyncSettingRow]:
        """The seed's Sync Settings: each entity with a check or a cross, and the accounts chosen."""
        s = self.settings()
        try:
            names = self.account_names()
        except QboError:  # QuickBooks unreachable: show the ids (a ReconnectNeeded still goes through)
            names = {}

        def account(account_id: str | None) -> str:
            return names.get(account_id or "", f"account {account_id}") if account_id else "not chosen"

        company = self.ctx.store.company()
        state = company.default_state if company else ""
        blank = (f"a blank state becomes {state}" if s.use_default_state and state else "blank states stay blank")
        return [
            SyncSettingRow("Clients", True, f"both ways; {blank}"),
            SyncSettingRow("Invoices", s.invoices,
                           f"invoice amounts to {account(s.revenue_account)}; items to {account(s.item_account)}"
                           if s.invoices else "not sent to QuickBooks"),
            SyncSettingRow("Payments", s.payments,
                           f"payments to {account(s.deposit_account)}" if s.payments else "not sent to QuickBooks"),
        ]

    # -- syncing ---------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.worker.running

    def start_sync(self, *, dry_run: bool = False) -> None:
        """Run the sync (or its dry run) on a background thread; returns at once."""
        if self.running:
            raise QboToolkitError("a sync is already running: wait for it to finish")
        self.settings()  # enabled, or a sentence saying to enable first
        settings, conn, store = self.ctx.settings_source(), self.ctx.live(), self.ctx.store
        reporter = StateReporter()
        self.progress, self.dry_run, self.failed = reporter.state, dry_run, None
        self.meter_warnings = []
        self.worker.start(lambda: self._run(settings, conn, store, reporter, dry_run),
                          on_done=self._finished, tick=self._tick, interval=self.poll_interval,
                          on_error=self._failed)

    def preview(self) -> None:
        """The plan of the next run, nothing written (a dry run), in the background."""
        self.start_sync(dry_run=True)

    def _run(self, settings: SettingsSource, conn: Connection, store: WorkStore, reporter: StateReporter,
             dry_run: bool) -> SyncResult:
        from ..qbo.meter import budget_scope, get_meter

        with get_meter().tally(conn.realm_id) as tally, budget_scope(settings.settings.meter.monthly_budget):
            result = run_sync(settings, store=store, conn=conn, reporter=reporter, dry_run=dry_run, job=self.JOB)
        # the budget thresholds (50, 80, 95, 100%) this run crossed, once each: in its notices and on screen
        self.meter_warnings = list(tally.warnings)
        result.notices.extend(tally.warnings)
        return result

    # -- a sync started elsewhere ----------------------------------------------------------------------
    def elsewhere(self) -> dict[str, Any] | None:
        """The sync of this company another process (or another kernel) is running now, or None.
        Its lease row: job, host, pid, started_at, stage, done, total."""
        if self.running:
            return None  # the lease is this screen's own
        return current_sync(store=self.ctx.store, realm=self.ctx.live().realm_id)

    def watch_elsewhere(self) -> dict[str, Any] | None:
        """Look for a sync running elsewhere; while there is one, keep watching it on a thread
        (every ``watch_interval`` s) and tell ``on_elsewhere`` (its row, then None once it ended)."""
        found = self.elsewhere()
        if found is not None and self._watching is None:
            stop = self._watching = threading.Event()

            def watch() -> None:
                try:
                    while not stop.wait(self.watch_interval):
                        try:
                            row = self.elsewhere()
                        except Exception:  # noqa: S112 - the store is busy or unreachable: unknown is not "free"
                            continue
                        if self.on_elsewhere is not None:
                            self.guard(self.on_elsewhere, row, clear=False)
                        if row is None:
                            return
                finally:
                    self._watching = None

            threading.Thread(target=watch, name="qbo-sync-elsewhere", daemon=True).start()
        return found

    def stop_watching(self) -> None:
        if self._watching is not None:
            self._watching.set()

    def _failed(self, exc: BaseException) -> None:
        self.failed = exc
        if self.on_failed is not None:
            self.on_failed(exc)

    def _tick(self) -> None:
        if self.on_progress is not None:
            self.on_progress()

    def _finished(self, result: SyncResult) -> None:
        if result.dry_run:
            self.last_preview = result
        else:
            self.last_result = result
        if self.on_finished is not None:
            self.on_finished(result)

    def wait(self, timeout: float | None = None) -> bool:
        return self.worker.join(timeout)

    # -- the activity log -----------------------------------------------------------------------------
    def meter_usage(self) -> Any:
        """This month's :class:`~qbo_toolkit.qbo.meter.Usage` of the connected company (None when not
        connected or the meter cannot be read: the screen then shows no meter line)."""
        from ..qbo.meter import get_meter

        conn = self.ctx.conn
        if conn is None:
            return None
        try:
            enabled = self.ctx.enabled_settings()
            return get_meter().usage(conn.realm_id, budget=enabled.meter.monthly_budget if enabled else None)
        except Exception:  # a meter never breaks the status screen
            return None

    def _state(self) -> SyncState:
        return SyncState(self.ctx.store, self.ctx.live().realm_id)

    def runs(self, limit: int = 50) -> list[dict[str, Any]]:
        """Sync runs and CSV imports, newest first."""
        return self._state().runs(limit, kinds=None)

    def last_run(self, *, dry_run: bool = False) -> dict[str, Any] | None:
        """The last sync run (imports are not syncs)."""
        return next((r for r in self._state().runs(kinds=SYNC_RUNS) if bool(r["dry_run"]) == dry_run), None)

    def records(self, *, run_id: int | None = None, entity: str | None = None, outcome: str | None = None,
                limit: int = PAGE) -> list[ActivityEntry]:
        """The newest records first, at most ``limit``."""
        return self._state().activity(run_id=run_id, entity=entity or None, outcome=outcome or None, limit=limit)

    def failures(self, *, entity: str | None = None, outcome: str | None = None) -> list[ActivityEntry]:
        """Open failures (not retried, dismissed or synced since), one per record, newest first. A
        refused CSV row has no WORK record: its entries (one per bad field) make one row, whose
        message holds each reason."""
        seen: set[tuple[Any, ...]] = set()
        out: list[ActivityEntry] = []
        rows: dict[tuple[Any, ...], int] = {}
        self._row_entries = {}  # the rows of this listing (what the screen shows, and Dismiss acts on)
        for entry in reversed(self._state().open_failures()):
            if (entity and entry.entity != entity) or (outcome and entry.outcome != outcome):
                continue
            if entry.work_id is None:
                where = _CSV_ROW.match(entry.message)
                key: tuple[Any, ...] = ("row", entry.run_id, where.group(1)) if where else ("entry", entry.id)
                if key in rows and where is not None:  # another bad field of the same row
                    first = out[rows[key]]
                    out[rows[key]] = replace(first, message=f"{first.message}; {entry.message[where.end():].strip()}")
                    self._row_entries.setdefault(first.id, [first.id]).append(entry.id)
                    continue
                rows[key] = len(out)
                self._row_entries[entry.id] = [entry.id]
            else:
                key = (entry.entity, entry.work_id)
                if key in seen:
                    continue
                seen.add(key)
            out.append(entry)
        return out

    # -- naming records as the user knows them -----------------------------------------------------------
    def client_name(self, work_id: int) -> str | None:
        """A client's WORK name (None for an id WORK does not know)."""
        if work_id not in self._names:
            client = self.ctx.store.get_client(work_id)
            self._names[work_id] = client.display_name if client is not None else None
        return self._names[work_id]

    def record_label(self, entity: str, work_id: int | None) -> str:
        """"Client Bill's Windsurf Shop", "Invoice W-10004", "Payment 12 (invoice W-10004)"."""
        label = ENTITY_LABELS.get(entity, entity)
        if work_id is None:
            return label
        if entity == "customer":
            return f"{label} {self.client_name(work_id) or work_id}"
        if entity == "invoice":
            invoice = self.ctx.store.get_invoice(work_id)
            return f"{label} {invoice.number}" if invoice is not None else f"{label} {work_id}"
        if entity == "payment":
            payment = self.ctx.store.get_payment(work_id)
            invoice = self.ctx.store.get_invoice(payment.invoice_id) if payment is not None else None
            return f"{label} {work_id}" + (f" (invoice {invoice.number})" if invoice is not None else "")
        return f"{label} {work_id}"

    def message(self, entry: ActivityEntry) -> str:
        """An entry's message with clients named by their WORK name."""
        return name_clients(entry.message, self.client_name)

    def forget_names(self) -> None:
        self._names.clear()

    # -- what needs attention ----------------------------------------------------------------------------
    def attention(self, *, entity: str | None = None, outcome: str | None = None,
                  matches: int = 0) -> Attention:
        """Open failures split into what needs a person (first) and what will retry by itself: a
        record waiting for another to reach QuickBooks (its client, its invoice), or one a passing
        error (QuickBooks busy or unreachable) put in the next run's queue."""
        state = self._state()
        failures = self.failures(entity=entity, outcome=outcome)
        retrying: dict[str, dict[str, int]] = {"blocked": {}, "pending": {}}
        retry_entries: list[ActivityEntry] = []
        waits: dict[str, tuple[set[int], set[int]]] = {}
        person: list[ActivityEntry] = []
        for entry in failures:
            if entry.work_id is not None and entry.outcome == "failed" and not _needs_person(entry):
                if entry.entity not in waits:
                    blocked = state.get_value(f"blocked:{entry.entity}", {}) or {}
                    waits[entry.entity] = ({int(w) for ids in blocked.values() for w in ids},
                                           {int(w) for w in state.get_value(f"pending:{entry.entity}", []) or []})
                blocked_ids, pending_ids = waits[entry.entity]
                group = ("blocked" if entry.work_id in blocked_ids else "pending" if entry.work_id in pending_ids
                         else None)
                if group is not None:
                    retrying[group][entry.entity] = retrying[group].get(entry.entity, 0) + 1
                    retry_entries.append(entry)
                    continue
            person.append(entry)

        def rank(entry: ActivityEntry) -> int:
            if entry.entity == "settings" or _needs_person(entry):
                return 0
            if entry.entity == "customer" and entry.field == "display_name":
                return 1
            return 3 if entry.work_id is None else 2

        person.sort(key=rank)  # stable: newest first within each kind
        held: list[ActivityEntry] = []
        if entity in (None, "", "customer") and outcome in (None, "", "held"):
            last = self.last_run()
            if last is not None:
                linked = state.links("customer")
                open_ids = {e.work_id for e in person}
                held = [e for e in state.activity(run_id=int(last["id"]), entity="customer", outcome="held")
                        if e.field == "display_name" and e.work_id not in linked and e.work_id not in open_ids]
        return Attention(person, held, matches, retrying, retry_entries)

    def retry(self, entity: str, work_id: int) -> str:
        """Send a failed record again in the next sync; returns what to tell the user."""
        retry(entity, work_id, store=self.ctx.store, realm=self.ctx.live().realm_id)
        return f"{self.record_label(entity, work_id)} goes to QuickBooks again in the next sync."

    def dismiss(self, entity: str, work_id: int) -> str:
        """Stop retrying a failed record; it stays in the log, marked dismissed."""
        dismiss(entity, work_id, store=self.ctx.store, realm=self.ctx.live().realm_id)
        return f"{self.record_label(entity, work_id)} is dismissed; it stays in the activity log."

    def dismiss_entry(self, entry_id: int) -> str:
        """Stop showing one refused CSV row as needing attention (every entry of that row); it stays
        in the log, marked dismissed."""
        state = self._state()
        for each in self._row_entries.get(entry_id, [entry_id]):
            state.dismiss_entry(each)
        return "The refused row is dismissed; it stays in the activity log."

    # -- disconnecting ----------------------------------------------------------------------------------
    def disconnect(self) -> DisconnectResult:
        """Revoke and forget the tokens; keep the log, the links and the settings."""
        if self.running:
            raise QboToolkitError("a sync is running: wait for it to finish, then disconnect")
        result = self.ctx.disconnect()
        self.ctx.conn = None
        self._account_names = None
        if self.on_disconnected is not None:
            self.on_disconnected(result)
        return result


class StatusScreen:
    """The widgets of the status screen. Callbacks are one line into :class:`StatusController`."""

    def __init__(self, controller: StatusController, guard: Guard, matches: MatchController, *,
                 on_edit_settings: Callable[[], None] | None = None) -> None:
        self.controller = controller
        self.guard = guard
        self.messages = guard.messages
        # -- header: the Disconnect button in the upper right, with a confirmation
        self.title = widgets.HTML("<h3 style='margin:0'>QuickBooks Online Integration</h3>")
        self.disconnect_button = button("Disconnect", "qbo-disconnect", button_style="danger", icon="unlink")
        self.header = css(widgets.HBox([self.title, self.disconnect_button],
                                       layout=widgets.Layout(justify_content="space-between", align_items="center",
                                                             width="100%")), "qbo-status-header")
        self.confirm_text = widgets.HTML()
        self.confirm_button = button("Yes, disconnect", "qbo-disconnect-confirm", button_style="danger")
        self.keep_button = button("Keep connected", "qbo-disconnect-cancel")
        self.confirm_box = css(widgets.VBox([self.confirm_text, widgets.HBox([self.confirm_button, self.keep_button])],
                                            layout=widgets.Layout(border="1px solid #b00020", padding="6px")),
                               "qbo-disconnect-box")
        # -- sync settings
        self.settings_html = css(widgets.HTML(), "qbo-sync-settings")
        self.meter_html = css(widgets.HTML(), "qbo-meter")
        self.edit_button = button("Change settings", "qbo-edit-settings")
        # -- matches still waiting
        self.match_panel = MatchPanel(matches, guard, title="Matches waiting for you")
        # -- activity log
        self.progress_label = css(widgets.HTML(), "qbo-progress-label")
        self.bar = css(widgets.IntProgress(min=0, max=1, value=0, layout=widgets.Layout(width="100%")),
                       "qbo-progress")
        self.elsewhere_html = css(widgets.HTML(), "qbo-sync-elsewhere")
        self.sync_button = button("Sync now", "qbo-sync-now", button_style="primary", icon="refresh")
        self.preview_button = button("Preview (dry run)", "qbo-preview", icon="eye")
        self.preview_html = css(widgets.HTML(), "qbo-preview-result")
        self.runs_html = css(widgets.HTML(layout=widgets.Layout(max_height="12em", overflow="auto")), "qbo-runs")
        self.run_filter = css(widgets.Dropdown(description="Run", options=[("All runs", 0)], value=0),
                              "qbo-filter-run")
        self.entity_filter = css(widgets.Dropdown(description="Records", options=[
            ("All records", ""), ("Clients", "customer"), ("Items", "item"), ("Invoices", "invoice"),
            ("Payments", "payment"), ("Credit notes", "credit_note"), ("Credit applications", "credit_applied"),
            ("Refunds", "refund"), ("QuickBooks call budget", "meter")], value=""), "qbo-filter-entity")
        self.outcome_filter = css(widgets.Dropdown(description="Outcome", options=[("Any outcome", "")] + [
            (label, key) for key, label in ENTRY_OUTCOME_LABELS.items()], value=""), "qbo-filter-outcome")
        self.records_html = css(widgets.HTML(layout=widgets.Layout(max_height="30em", overflow="auto")),
                                "qbo-records")
        self.failures_title = css(widgets.HTML(), "qbo-attention-title")
        self.failure_rows = css(widgets.VBox(layout=widgets.Layout(max_height="20em", overflow="auto")),
                                "qbo-failures")
        self.retry_summary = css(widgets.HTML(), "qbo-will-retry")
        self.retry_toggle = button("Show them", "qbo-will-retry-toggle")
        self.retry_rows = css(widgets.VBox(layout=widgets.Layout(max_height="20em", overflow="auto")),
                              "qbo-will-retry-rows")
        self.retry_toggle.on_click(guard.callback(self.toggle_retrying))
        set_visible(self.retry_rows, False)
        set_visible(self.retry_toggle, False)

        self.disconnect_button.on_click(guard.callback(self.ask_disconnect))
        self.keep_button.on_click(guard.callback(self.hide_confirm))
        self.confirm_button.on_click(guard.callback(controller.disconnect))
        if on_edit_settings is not None:
            self.edit_button.on_click(guard.callback(on_edit_settings))
        self.sync_button.on_click(guard.callback(self.start))
        self.preview_button.on_click(guard.callback(self.start, dry_run=True))
        for dropdown in (self.run_filter, self.entity_filter, self.outcome_filter):
            dropdown.observe(lambda _change: self.guard(self.refresh_log, clear=False), names="value")
        controller.on_progress = self.show_progress
        controller.on_finished = self.sync_finished
        controller.on_failed = self.sync_failed
        controller.on_elsewhere = self.show_elsewhere

        self.widget = css(widgets.VBox([
            self.header, self.confirm_box,
            widgets.HTML("<h4>Sync Settings</h4>"), self.settings_html, self.edit_button, self.meter_html,
            self.match_panel.widget,
            widgets.HTML("<h4>Activity Log</h4>"), self.elsewhere_html, self.progress_label, self.bar,
            widgets.HBox([self.sync_button, self.preview_button]), self.preview_html,
            widgets.HTML("<b>Runs</b>"), self.runs_html,
            widgets.HBox([self.run_filter, self.entity_filter, self.outcome_filter]),
            self.failures_title, self.failure_rows,
            widgets.HBox([self.retry_summary, self.retry_toggle], layout=widgets.Layout(align_items="center")),
            self.retry_rows, self.records_html,
        ]), "qbo-screen-status")
        set_visible(self.confirm_box, False)
        self._shown_run = 0
        self._retry_entries: list[ActivityEntry] = []

    # -- actions (each a line into the controller) ------------------------------------------------------
    def start(self, dry_run: bool = False) -> None:
        self.controller.start_sync(dry_run=dry_run)
        self._busy(True)
        if dry_run:
            self.preview_html.value = "<p><i>Planning the next sync (nothing is written)…</i></p>"
        else:
            self.show_progress()

    def ask_disconnect(self) -> None:
        conn = self.controller.ctx.conn
        company = html.escape(conn.company_name) if conn is not None else "QuickBooks"
        self.confirm_text.value = (f"<p><b>Disconnect from {company}?</b> The sync stops until you connect again. "
                                   "The activity log, the links between records and your settings are kept; "
                                   "connecting to the same company again resumes where the sync left off.</p>")
        set_visible(self.confirm_box, True)

    def hide_confirm(self) -> None:
        set_visible(self.confirm_box, False)

    # -- drawing ---------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Redraw everything from the controller (on arrival, and after a sync)."""
        self.hide_confirm()
        self.show_settings()
        self.show_meter()
        self.guard(self.match_panel.controller.reload, clear=False)
        set_visible(self.match_panel.widget, bool(self.match_panel.controller.pending))
        if not self.controller.running:
            self.show_last_run()
            self.show_elsewhere(self.controller.watch_elsewhere())
        self.refresh_log()

    def show_elsewhere(self, row: dict[str, Any] | None) -> None:
        """A sync of this company running in another process: who, since when, how far; Sync now and
        Preview wait for it. ``None``: none (any more): the buttons come back and the log is redrawn."""
        if row is None:
            was = bool(self.elsewhere_html.value)
            self.elsewhere_html.value = ""
            set_visible(self.elsewhere_html, False)
            if not self.controller.running:
                self._busy(False)
            if was:
                self.show_last_run()
                self.refresh_log()
            return
        since = _when(row.get("started_at"))
        progress = ""
        if row.get("total"):
            progress = f" It has done {int(row.get('done') or 0)} of {int(row['total'])} records"
            progress += f" ({html.escape(str(row['stage']))})." if row.get("stage") else "."
        elif row.get("stage"):
            progress = f" It is at: {html.escape(str(row['stage']))}."
        self.elsewhere_html.value = (
            "<p style='background:#fff8e1;padding:6px;border-left:4px solid #f9a825'><b>A sync of this company "
            f"is running elsewhere</b>: started by {html.escape(str(row.get('job') or 'another program'))} on "
            f"{html.escape(str(row.get('host') or 'another computer'))} (pid {row.get('pid')}) at {since}."
            f"{progress} Sync now and Preview wait until it has finished.</p>")
        set_visible(self.elsewhere_html, True)
        for b in (self.sync_button, self.preview_button):
            b.disabled = True

    def show_settings(self) -> None:
        rows = self.controller.sync_settings()
        settings = self.controller.settings()
        lines = []
        for row in rows:
            mark = ("<span class='qbo-on' style='color:#1b8a2f;font-weight:bold'>✓</span>" if row.on else
                    "<span class='qbo-off' style='color:#c62828;font-weight:bold'>✗</span>")
            lines.append(f"<tr class='qbo-setting-{row.label.lower()}'><td>{mark}</td><td><b>{row.label}</b></td>"
                         f"<td style='color:#444'>{html.escape(row.detail)}</td></tr>")
        since = settings.integration_date.isoformat() if settings.integration_date else "—"
        self.settings_html.value = (
            f"<table style='border-collapse:collapse'>{''.join(lines)}</table>"
            f"<p style='color:#555'>Invoices and payments dated from <b>{since}</b> (the integration date). "
            f"A client changed on both sides: {html.escape(CONFLICT_WORDS.get(settings.conflict_policy, ''))}. "
            f"A client name QuickBooks refuses: {html.escape(NAME_WORDS.get(settings.name_policy, ''))}.</p>"
            f"<p class='qbo-settings-source' style='color:#555'>{html.escape(self.controller.ctx.settings_text())}"
            "</p>")

    def show_meter(self) -> None:
        """This month's QuickBooks calls (:mod:`qbo_toolkit.qbo.meter`): metered and not, the budget,
        the forecast; amber from 80% of the budget, red when it is reached (optional reads stop)."""
        usage = self.controller.meter_usage()
        if usage is None:
            self.meter_html.value = ""
            return
        colour, level = {"ok": ("#555", ""), "warn": ("#b26a00", "Past 80% of the budget. "),
                         "stop": ("#c62828", "Budget reached: optional reads (the reconciliation's tie-out to "
                                             "QBO's reports) are skipped until the month ends; the sync goes on. "),
                         }[usage.level]
        self.meter_html.value = (
            f"<p class='qbo-meter-{usage.level}' style='color:{colour}'><b>QuickBooks calls this month</b> "
            f"({html.escape(usage.month)}, UTC): <b>{usage.metered:,}</b> metered (reads, queries, CDC, reports; "
            f"{usage.percent:.1f}% of the budget of {usage.budget:,}), {usage.unmetered:,} unmetered (writes); "
            f"forecast to month end {usage.forecast:,}. {html.escape(level)}"
            "<span style='color:#555'>The monthly budget is set in the settings file (meter).</span></p>"
            + "".join(f"<p class='qbo-meter-crossed' style='color:{colour}'>The last sync: {html.escape(sentence)}</p>"
                      for sentence in self.controller.meter_warnings))

    def show_last_run(self) -> None:
        run = self.controller.last_run()
        if run is None:
            self.bar.max, self.bar.value, self.bar.bar_style = 1, 0, ""
            self.progress_label.value = "<p>No sync has run yet. Click Sync now to start the initial sync.</p>"
            return
        total = max(int(run["total"] or 0), 1)
        done = sum(int(run["counts"].get(k, 0)) for k in OUTCOME_LABELS)
        self.bar.max = total
        self.bar.value = min(done, total) if run["status"] != "ok" else total
        self.bar.bar_style = "success" if run["status"] == "ok" and not run["counts"].get("failed") else (
            "danger" if run["status"] == "failed" else "warning")
        kind = "Initial sync" if run["kind"] == "initial" else "Last sync"
        self.progress_label.value = (f"<p>{kind}: {html.escape(run_status_text(run))} "
                                     f"({_when(run['finished_at'] or run['started_at'])}): "
                                     f"{html.escape(_counts_text(run['counts']))}.</p>")

    def show_progress(self) -> None:
        """Copy the running sync's progress into the bar (called by the ticker thread)."""
        if self.controller.dry_run:
            return
        state = self.controller.progress
        total, done, stage, kind = state.total, state.done, state.stage, state.kind
        if state.run_id and state.run_id != self._shown_run:  # the new run appears in the Runs table
            self._shown_run = state.run_id
            self.refresh_log()
        if total <= 0:
            self.progress_label.value = "<p>Planning the sync: reading both sides…</p>"
            self.bar.bar_style = "info"
            return
        self.bar.max = total
        self.bar.value = min(done, total)
        self.bar.bar_style = "info"
        what = "Initial sync" if kind == "initial" else "Sync"
        self.progress_label.value = f"<p>{what}: {done} of {total} records · {html.escape(stage)}</p>"

    def sync_finished(self, result: SyncResult | None) -> None:
        """After a run: the preview's plan, or the bar at its end; then the log again. A notice that
        said the sync is running is taken away: it is not true any more."""
        self._busy(False)
        self.messages.clear(SYNC_RUNNING)
        if result is None:
            return
        if result.dry_run:
            self.show_preview(result)
        else:
            failed = int(getattr(result, "failed", 0) or result.counts.get("failed", 0))
            self.bar.max = max(self.controller.progress.total, 1)
            self.bar.value = self.bar.max
            self.bar.bar_style = "warning" if failed else "success"
            what = "Initial sync" if result.kind == "initial" else "Sync"
            ended = _failures_text(failed) if failed else "completed"
            self.progress_label.value = (f"<p>{what} {html.escape(ended)} in {result.seconds:.1f} s: "
                                         f"{html.escape(_counts_text(result.counts))}.</p>")
        self.refresh()
        waiting = len(self.match_panel.controller.pending)
        if waiting and not result.dry_run:
            self.messages.info(f"{waiting} possible match(es) wait for your decision below; those clients are not "
                               "synced until you decide.")

    def sync_failed(self, _exc: BaseException | None = None) -> None:
        self._busy(False)
        self.messages.clear(SYNC_RUNNING)
        if self.controller.dry_run:
            self.preview_html.value = "<p>The preview stopped: see the message above.</p>"
            return
        self.bar.bar_style = "danger"
        self.progress_label.value = "<p>The sync stopped: see the message above. Records already synced stay " \
            "synced; Sync now continues from there.</p>"

    def show_preview(self, result: SyncResult) -> None:
        """The plan of the next run, and what is still outstanding. "Nothing to do: both sides agree"
        only when nothing is planned and nothing is outstanding: no open failure, no request without
        an answer, no parked record, no match decision waiting."""
        counts: dict[tuple[str, str], int] = {}
        for action in result.actions:
            key = (ENTITY_LABELS.get(action.entity, action.entity), action.kind)
            counts[key] = counts.get(key, 0) + 1
        outstanding = self.outstanding(result)
        agree = not result.actions and not outstanding
        summary = html_table(["Record", "Action", "How many"], [(e, k, n) for (e, k), n in sorted(counts.items())],
                             css_class="qbo-preview-table",
                             empty="Nothing to do: both sides agree." if agree else "Nothing new to send.")
        rows = [(self.controller.record_label(a.entity, a.work_id) if a.work_id else
                 ENTITY_LABELS.get(a.entity, a.entity), a.kind, DIRECTIONS.get(a.direction, a.direction),
                 a.qbo_id or "", name_clients(a.reason, self.controller.client_name)) for a in result.actions[:PAGE]]
        details = html_table(["Record", "Action", "Direction", "QBO id", "Why"], rows,
                             css_class="qbo-preview-actions", empty="", wrap=(4,))
        planned = f"<details><summary>The planned actions</summary>{details}</details>" if result.actions else ""
        waiting = ""
        if outstanding:
            items = "".join(f"<li>{html.escape(line)}</li>" for line in outstanding[:PREVIEW_NAMED])
            if len(outstanding) > PREVIEW_NAMED:
                items += f"<li>and {len(outstanding) - PREVIEW_NAMED} more (see Needs attention below)</li>"
            waiting = (f"<div class='qbo-preview-outstanding'><p><b>Not in agreement yet: {len(outstanding)} "
                       f"item(s)</b></p><ul>{items}</ul></div>")
        self.preview_html.value = (f"<p><b>Preview (dry run), nothing written:</b> "
                                   f"{html.escape(_counts_text(result.counts))}.</p>{summary}{planned}{waiting}")

    def outstanding(self, result: SyncResult) -> list[str]:
        """What keeps the two sides from agreeing after ``result``: the run's own ``outstanding``
        sentences (open failures, unanswered requests, parked records), else the open failures the
        log holds; and the match decisions waiting."""
        lines = [name_clients(line, self.controller.client_name) for line in result.outstanding]
        if not lines:
            lines = [f"{self.controller.record_label(e.entity, e.work_id)}: {self.controller.message(e)}"
                     for e in self.controller.failures()]
        matches = result.pending_matches or len(self.match_panel.controller.pending)
        if matches:  # first: a person decides these; most of the rest follows from them
            lines.insert(0, f"{matches} possible match(es) wait for your decision: those clients are not synced "
                         "until you decide")
        return lines

    def refresh_log(self) -> None:
        """The runs table, the run filter's choices, the filtered records and what needs attention."""
        self.controller.forget_names()
        runs = self.controller.runs()
        self.runs_html.value = html_table(
            ["Run", "Kind", "Started", "Finished", "Status", "Records", "Done", "Failed", "Skipped", "Waiting",
             "Requests"],
            [(r["id"], r["kind"] + (" (dry run)" if r["dry_run"] else ""), _when(r["started_at"]),
              _when(r["finished_at"]), run_status_text(r), run_records(r), r["counts"].get("ok", 0),
              r["counts"].get("failed", 0), r["counts"].get("skipped", 0), r["counts"].get("held", 0),
              r["requests"] if r["requests"] is not None else "") for r in runs],
            css_class="qbo-runs-table", empty="No sync has run yet.")
        options = [("All runs", 0)] + [(f"Run {r['id']} · {r['kind']}{' (dry run)' if r['dry_run'] else ''}",
                                        int(r["id"])) for r in runs]
        if list(self.run_filter.options) != options:
            chosen = self.run_filter.value
            self.run_filter.options = options
            self.run_filter.value = chosen if chosen in {v for _, v in options} else 0
        entity, outcome = self.entity_filter.value or None, self.outcome_filter.value or None
        records = self.controller.records(run_id=self.run_filter.value or None, entity=entity, outcome=outcome,
                                          limit=PAGE + 1)
        more = len(records) > PAGE
        table = html_table(
            ["Run", "Time", "Record", "Direction", "Action", "Outcome", "QBO id", "Field", "Message", "Resolved"],
            [(e.run_id, _when(e.at), self.controller.record_label(e.entity, e.work_id),
              DIRECTIONS.get(e.direction, e.direction), e.action, ENTRY_OUTCOME_LABELS.get(e.outcome, e.outcome),
              e.qbo_id or "", e.field or "", self.controller.message(e), e.resolved or "") for e in records[:PAGE]],
            css_class="qbo-records-table", empty="No records match these filters.", wrap=(8,))
        note = f"<p><i>The newest {PAGE} records; narrow the filters to see older ones.</i></p>" if more else ""
        self.records_html.value = note + table
        self.show_failures(entity, outcome)

    def show_failures(self, entity: str | None, outcome: str | None) -> None:
        """Needs attention: what needs a person first (settings, refused names, match decisions, other
        records, CSV rows), each with Retry and Dismiss; then what will retry by itself, as counts
        (Show them lists those records)."""
        if outcome and outcome not in ("failed", "conflict", "held"):
            self.failures_title.value = ""
            self.retry_summary.value = ""
            set_visible(self.retry_toggle, False)
            replace_children(self.failure_rows, [])
            replace_children(self.retry_rows, [])
            return
        matches = len(self.match_panel.controller.pending) if entity in (None, "", "customer") else 0
        attention = self.controller.attention(entity=entity, outcome=outcome, matches=matches)
        rows: list[widgets.Widget] = []
        if attention.matches:
            rows.append(css(widgets.HTML(
                f"<span style='display:block;white-space:normal'><b>{attention.matches} possible match(es)</b> wait "
                "for your decision (Matches waiting for you, above): those clients are not synced until you "
                "decide.</span>"), "qbo-attention-matches"))
        rows += [self._failure_row(e) for e in attention.person[:FAILURE_PAGE]]
        rows += [self._held_row(e) for e in attention.held]
        title = attention.title()
        self.failures_title.value = (f"<b>Needs your attention: {html.escape(title)}</b> "
                                     "<span style='color:#555'>Fix the record in WORK (or the setting), then Retry "
                                     "sends it again in the next sync; Dismiss stops retrying it.</span>"
                                     if title else "")
        replace_children(self.failure_rows, rows)
        groups = []
        for entity_key, n in sorted(attention.retrying["blocked"].items()):
            noun = f"{ENTITY_LABELS.get(entity_key, entity_key).lower()}(s)"
            what = "their client" if entity_key == "invoice" else "their invoice" if entity_key == "payment" else \
                "the record they depend on"
            groups.append(f"{n} {noun} wait for {what} to reach QuickBooks and go by themselves once it has")
        for entity_key, n in sorted(attention.retrying["pending"].items()):
            noun = f"{ENTITY_LABELS.get(entity_key, entity_key).lower()}(s)"
            groups.append(f"{n} {noun} met a passing error (QuickBooks busy or unreachable) and go again in the "
                          "next sync")
        self.retry_summary.value = (f"<span style='color:#555'><b>Will retry by themselves:</b> "
                                    f"{html.escape('; '.join(groups))}.</span>" if groups else "")
        set_visible(self.retry_toggle, bool(groups))
        replace_children(self.retry_rows, [self._failure_row(e) for e in attention.retry_entries[:FAILURE_PAGE]]
                         if self.retry_rows.layout.display != "none" else [])
        self._retry_entries = attention.retry_entries

    def toggle_retrying(self) -> None:
        """Show (or hide) the records that will retry by themselves."""
        shown = self.retry_rows.layout.display == "none"
        set_visible(self.retry_rows, shown)
        self.retry_toggle.description = "Hide them" if shown else "Show them"
        replace_children(self.retry_rows, [self._failure_row(e) for e in self._retry_entries[:FAILURE_PAGE]]
                         if shown else [])

    def _held_row(self, entry: ActivityEntry) -> widgets.Widget:
        label = self.controller.record_label(entry.entity, entry.work_id)
        text = widgets.HTML(f"<span class='qbo-failure-text' style='display:block;white-space:normal;line-height:1.3'>"
                            f"<b>{html.escape(label)}</b> (waiting): {html.escape(self.controller.message(entry))}"
                            "</span>")
        return css(widgets.HBox([text], layout=widgets.Layout(flex="0 0 auto")), "qbo-held-row",
                   f"qbo-held-{entry.entity}-{entry.work_id}")

    def _failure_row(self, entry: ActivityEntry) -> widgets.Widget:
        label = self.controller.record_label(entry.entity, entry.work_id)
        if entry.action == "import":
            label += " (CSV row)"
        text = widgets.HTML(f"<span class='qbo-failure-text' style='display:block;white-space:normal;line-height:1.3'>"
                            f"<b>{html.escape(label)}</b> "
                            f"({OUTCOME_LABELS.get(entry.outcome, entry.outcome)}, run {entry.run_id}): "
                            f"{html.escape(self.controller.message(entry))}</span>",
                            layout=widgets.Layout(width="75%"))
        children: list[widgets.Widget] = [text]
        if entry.work_id is not None:
            again = button("Retry", "qbo-retry", icon="repeat")
            drop = button("Dismiss", "qbo-dismiss")
            again.on_click(self.guard.callback(self._act, self.controller.retry, entry.entity, entry.work_id))
            drop.on_click(self.guard.callback(self._act, self.controller.dismiss, entry.entity, entry.work_id))
            children += [again, drop]
        else:  # a refused CSV row: fixed by importing the row again, so only Dismiss
            drop = button("Dismiss", "qbo-dismiss")
            drop.on_click(self.guard.callback(self._dismiss_entry, entry.id))
            children.append(drop)
        row = widgets.HBox(children, layout=widgets.Layout(flex="0 0 auto"))  # in the scrolling list: never squeezed
        name = entry.work_id if entry.work_id is not None else f"entry{entry.id}"
        return css(row, "qbo-failure-row", f"qbo-failure-{entry.entity}-{name}")

    def _dismiss_entry(self, entry_id: int) -> None:
        self.messages.info(self.controller.dismiss_entry(entry_id))
        self.refresh_log()

    def _act(self, action: Callable[[str, int], str], entity: str, work_id: int) -> None:
        self.messages.info(action(entity, work_id))
        self.refresh_log()

    def _busy(self, busy: bool) -> None:
        for b in (self.sync_button, self.preview_button, self.disconnect_button, self.edit_button):
            b.disabled = busy
