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
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import ipywidgets as widgets

from ..connection import Connection, DisconnectResult
from ..errors import QboError, QboToolkitError
from ..settings import Settings
from ..sync.api import current_sync, dismiss, retry, run_sync
from ..sync.engine import SyncResult
from ..sync.progress import ProgressState, StateReporter
from ..sync.state import SYNC_RUNS, ActivityEntry, SyncState
from ..work.store import WorkStore
from .common import AppContext, Background, Guard, button, css, html_table, replace_children, set_visible
from .matches import MatchController, MatchPanel

__all__ = ["ENTITY_LABELS", "OUTCOME_LABELS", "StatusController", "StatusScreen", "SyncSettingRow"]

ENTITY_LABELS = {"customer": "Client", "item": "Item", "invoice": "Invoice", "payment": "Payment"}
OUTCOME_LABELS = {"ok": "done", "failed": "failed", "conflict": "conflict", "skipped": "skipped",
                  "held": "waiting for a match"}
DIRECTIONS = {"to_qbo": "WORK → QuickBooks", "to_work": "QuickBooks → WORK", "both": "both ways",
              "from_file": "CSV file → WORK"}
PAGE = 200  # records shown at once: the log of a large initial sync is long; filters narrow it
FAILURE_PAGE = 50


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else str(value or "")


def _counts_text(counts: dict[str, int]) -> str:
    parts = [f"{counts[key]} {label}" for key, label in OUTCOME_LABELS.items() if counts.get(key)]
    return ", ".join(parts) or "nothing to do"


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
        self.on_progress: Callable[[], None] | None = None
        self.on_finished: Callable[[SyncResult | None], None] | None = None
        self.on_failed: Callable[[BaseException], None] | None = None
        self.on_disconnected: Callable[[DisconnectResult], None] | None = None
        self._account_names: dict[str, str] | None = None

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
        settings, conn, store = self.settings(), self.ctx.live(), self.ctx.store
        reporter = StateReporter()
        self.progress, self.dry_run, self.failed = reporter.state, dry_run, None
        self.worker.start(lambda: self._run(settings, conn, store, reporter, dry_run),
                          on_done=self._finished, tick=self._tick, interval=self.poll_interval,
                          on_error=self._failed)

    def preview(self) -> None:
        """The plan of the next run, nothing written (a dry run), in the background."""
        self.start_sync(dry_run=True)

    @classmethod
    def _run(cls, settings: Settings, conn: Connection, store: WorkStore, reporter: StateReporter,
             dry_run: bool) -> SyncResult:
        return run_sync(settings, store=store, conn=conn, reporter=reporter, dry_run=dry_run, job=cls.JOB)

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
        """Open failures (not retried, dismissed or synced since), one per record, newest first."""
        seen: set[tuple[str, int]] = set()
        out = []
        for entry in reversed(self._state().open_failures()):
            # a refused CSV row has no WORK record: each row is its own
            key = (entry.entity, entry.work_id) if entry.work_id is not None else ("entry", entry.id)
            if (entity and entry.entity != entity) or (outcome and entry.outcome != outcome) or key in seen:
                continue
            seen.add(key)
            out.append(entry)
        return out

    def retry(self, entity: str, work_id: int) -> str:
        """Send a failed record again in the next sync; returns what to tell the user."""
        retry(entity, work_id, store=self.ctx.store, realm=self.ctx.live().realm_id)
        return f"{ENTITY_LABELS.get(entity, entity)} {work_id} goes to QuickBooks again in the next sync."

    def dismiss(self, entity: str, work_id: int) -> str:
        """Stop retrying a failed record; it stays in the log, marked dismissed."""
        dismiss(entity, work_id, store=self.ctx.store, realm=self.ctx.live().realm_id)
        return f"{ENTITY_LABELS.get(entity, entity)} {work_id} is dismissed; it stays in the activity log."

    def dismiss_entry(self, entry_id: int) -> str:
        """Stop showing one refused CSV row as needing attention; it stays in the log, marked dismissed."""
        self._state().dismiss_entry(entry_id)
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
            ("Payments", "payment")], value=""), "qbo-filter-entity")
        self.outcome_filter = css(widgets.Dropdown(description="Outcome", options=[("Any outcome", "")] + [
            (label, key) for key, label in OUTCOME_LABELS.items()], value=""), "qbo-filter-outcome")
        self.records_html = css(widgets.HTML(layout=widgets.Layout(max_height="30em", overflow="auto")),
                                "qbo-records")
        self.failures_title = widgets.HTML()
        self.failure_rows = css(widgets.VBox(layout=widgets.Layout(max_height="20em", overflow="auto")),
                                "qbo-failures")

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
            widgets.HTML("<h4>Sync Settings</h4>"), self.settings_html, self.edit_button,
            self.match_panel.widget,
            widgets.HTML("<h4>Activity Log</h4>"), self.elsewhere_html, self.progress_label, self.bar,
            widgets.HBox([self.sync_button, self.preview_button]), self.preview_html,
            widgets.HTML("<b>Runs</b>"), self.runs_html,
            widgets.HBox([self.run_filter, self.entity_filter, self.outcome_filter]),
            self.failures_title, self.failure_rows, self.records_html,
        ]), "qbo-screen-status")
        set_visible(self.confirm_box, False)
        self._shown_run = 0

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
            f"A client changed on both sides: {settings.conflict_policy.replace('_', ' ')}. "
            f"A client name QuickBooks refuses: {settings.name_policy}.</p>")

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
        endings = {"ok": "finished", "failed": "stopped early", "running": "is running",
                   "interrupted": "was interrupted (the next sync continues from there)"}
        ended = endings.get(run["status"], run["status"])
        self.progress_label.value = (f"<p>{kind} {ended} ({_when(run['finished_at'] or run['started_at'])}): "
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
        """After a run: the preview's plan, or the bar at its end; then the log again."""
        self._busy(False)
        if result is None:
            return
        if result.dry_run:
            self.show_preview(result)
        else:
            self.bar.max = max(self.controller.progress.total, 1)
            self.bar.value = self.bar.max
            self.bar.bar_style = "warning" if result.counts.get("failed") else "success"
            what = "Initial sync" if result.kind == "initial" else "Sync"
            self.progress_label.value = (f"<p>{what} finished in {result.seconds:.1f} s: "
                                         f"{html.escape(_counts_text(result.counts))}.</p>")
        self.refresh()
        waiting = len(self.match_panel.controller.pending)
        if waiting and not result.dry_run:
            self.messages.info(f"{waiting} possible match(es) wait for your decision below; those clients are not "
                               "synced until you decide.")

    def sync_failed(self, _exc: BaseException | None = None) -> None:
        self._busy(False)
        if self.controller.dry_run:
            self.preview_html.value = "<p>The preview stopped: see the message above.</p>"
            return
        self.bar.bar_style = "danger"
        self.progress_label.value = "<p>The sync stopped: see the message above. Records already synced stay " \
            "synced; Sync now continues from there.</p>"

    def show_preview(self, result: SyncResult) -> None:
        counts: dict[tuple[str, str], int] = {}
        for action in result.actions:
            key = (ENTITY_LABELS.get(action.entity, action.entity), action.kind)
            counts[key] = counts.get(key, 0) + 1
        summary = html_table(["Record", "Action", "How many"], [(e, k, n) for (e, k), n in sorted(counts.items())],
                             css_class="qbo-preview-table", empty="Nothing to do: both sides agree.")
        rows = [(ENTITY_LABELS.get(a.entity, a.entity), a.kind, DIRECTIONS.get(a.direction, a.direction),
                 a.work_id or "", a.qbo_id or "", a.reason) for a in result.actions[:PAGE]]
        details = html_table(["Record", "Action", "Direction", "WORK id", "QBO id", "Why"], rows,
                             css_class="qbo-preview-actions", empty="", wrap=(5,))
        self.preview_html.value = (f"<p><b>Preview (dry run), nothing written:</b> "
                                   f"{html.escape(_counts_text(result.counts))}.</p>{summary}"
                                   f"<details><summary>The planned actions</summary>{details}</details>")

    def refresh_log(self) -> None:
        """The runs table, the run filter's choices, the filtered records and the open failures."""
        runs = self.controller.runs()
        self.runs_html.value = html_table(
            ["Run", "Kind", "Started", "Finished", "Status", "Records", "Done", "Failed", "Skipped", "Waiting",
             "Requests"],
            [(r["id"], r["kind"] + (" (dry run)" if r["dry_run"] else ""), _when(r["started_at"]),
              _when(r["finished_at"]), r["status"], r["total"], r["counts"].get("ok", 0),
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
            [(e.run_id, _when(e.at), f"{ENTITY_LABELS.get(e.entity, e.entity)} {e.work_id or ''}".strip(),
              DIRECTIONS.get(e.direction, e.direction), e.action, OUTCOME_LABELS.get(e.outcome, e.outcome),
              e.qbo_id or "", e.field or "", e.message, e.resolved or "") for e in records[:PAGE]],
            css_class="qbo-records-table", empty="No records match these filters.", wrap=(8,))
        note = f"<p><i>The newest {PAGE} records; narrow the filters to see older ones.</i></p>" if more else ""
        self.records_html.value = note + table
        self.show_failures(entity, outcome)

    def show_failures(self, entity: str | None, outcome: str | None) -> None:
        if outcome and outcome not in ("failed", "conflict"):
            self.failures_title.value = ""
            replace_children(self.failure_rows, [])
            return
        failures = self.controller.failures(entity=entity, outcome=outcome)
        self.failures_title.value = (f"<b>Needs attention: {len(failures)} record(s)</b> "
                                     "<span style='color:#555'>Retry sends a record again in the next sync "
                                     "(fix it in WORK first); Dismiss stops retrying it.</span>"
                                     if failures else "")
        replace_children(self.failure_rows, [self._failure_row(e) for e in failures[:FAILURE_PAGE]])

    def _failure_row(self, entry: ActivityEntry) -> widgets.Widget:
        label = f"{ENTITY_LABELS.get(entry.entity, entry.entity)} {entry.work_id or entry.qbo_id or ''}".strip()
        if entry.action == "import":
            label += " (CSV row)"
        text = widgets.HTML(f"<span class='qbo-failure-text' style='display:block;white-space:normal;line-height:1.3'>"
                            f"<b>{html.escape(label)}</b> "
                            f"({OUTCOME_LABELS.get(entry.outcome, entry.outcome)}, run {entry.run_id}): "
                            f"{html.escape(entry.message)}</span>", layout=widgets.Layout(width="75%"))
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
