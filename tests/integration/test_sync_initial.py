"""The initial sync of the whole demo business, the run after it, dry runs and progress events."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from synckit import SETTINGS, SMALL_DEMO, World, check_consistent, is_read, open_world

from qbo_toolkit.sync.progress import ProgressState, RecordOutcome, StateReporter


@pytest.fixture
def full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with open_world(tmp_path, monkeypatch) as world:
        yield world


@pytest.fixture
def small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with open_world(tmp_path, monkeypatch, demo=SMALL_DEMO) as world:
        yield world


@pytest.mark.slow
def test_whole_demo_syncs_then_the_next_run_does_nothing(full: World) -> None:
    w = full
    assert w.demo is not None and (w.demo.clients, w.demo.invoices, w.demo.payments) == (300, 1500, 1000)
    progress = StateReporter()
    first = w.sync(reporter=progress)
    assert first.kind == "initial" and first.status == "failures"  # the awkward names (below)
    assert progress.state.done == progress.state.total > 2500 and progress.state.fraction == 1.0
    assert first.counts["invoice.create.ok"] > 1300 and first.counts["payment.create.ok"] > 850
    assert first.pending_matches == 3  # Cool Cars (weak) and Bill's Windsurf Shop x2 (multiple)
    counts = check_consistent(w)
    assert counts["clients"] == 300 + 6  # six seed customers imported (Amy's and Dukes linked, 2 held)
    # every failure is one of the awkward names or waits for it (its invoices and their payments)
    awkward_failures = {w.awkward(k) for k in ("colon", "spaces", "vendor_name", "employee_name")}
    failed = w.activity(first, outcome="failed")
    assert {e.work_id for e in failed if e.entity == "customer"} == awkward_failures
    assert {e.field for e in failed if e.entity == "invoice"} <= {"client_id"}
    assert {e.field for e in failed if e.entity == "payment"} <= {"invoice_id"}

    mark = w.log_mark()
    second = w.sync()
    assert second.kind == "incremental" and second.status == "ok"
    assert second.requests <= 3, second.requests
    assert second.counts["ok"] == 0, second.counts
    assert [(e.entity, e.action) for e in w.activity(second) if e.outcome in ("ok", "failed")] == []
    assert all(is_read(e) for e in w.data_requests(mark)), "the second run wrote to QBO"
    check_consistent(w)


def test_dry_run_writes_nothing_and_lists_the_plan(small: World) -> None:
    w = small
    revision = w.store.max_revision()
    clients = w.store.clients()
    qbo_before = {e: len(w.qbo(e)) for e in ("Customer", "Invoice", "Payment", "Item")}
    mark = w.log_mark()
    plan = w.sync(dry_run=True)
    assert plan.dry_run and plan.status == "failures"  # the awkward names would fail
    requests = w.data_requests(mark)
    assert requests and all(is_read(e) for e in requests), [e for e in requests if not is_read(e)]
    assert w.store.max_revision() == revision and w.store.clients() == clients
    assert {e: len(w.qbo(e)) for e in qbo_before} == qbo_before
    state = w.state
    assert state.links("customer") == {} and state.links("invoice") == {} and state.outbox() == []
    assert state.matches() == []  # the preview is not saved by a dry run
    kinds = {(a.entity, a.kind) for a in plan.actions}
    assert {("customer", "create"), ("customer", "link"), ("customer", "hold"), ("invoice", "create"),
            ("payment", "create")} <= kinds
    assert plan.counts["invoice.create.ok"] > 0 and plan.counts["payment.create.ok"] > 0
    # the plan names the records: the awkward names fail, the pre-integration invoice is skipped
    failing = {a.work_id for a in plan.actions if a.entity == "customer" and a.kind == "fail"}
    assert {w.awkward("colon"), w.awkward("spaces")} <= failing
    skipped = {a.work_id: a.reason for a in plan.actions if a.entity == "invoice" and a.kind == "skip"}
    assert "not expected in QuickBooks" in skipped[w.awkward("invoice_before_integration")]

    # a dry run after the real one plans nothing new and still writes nothing
    w.sync()
    mark = w.log_mark()
    revision = w.store.max_revision()
    again = w.sync(dry_run=True)
    assert all(is_read(e) for e in w.data_requests(mark))
    assert w.store.max_revision() == revision
    assert [a for a in again.actions if a.kind in ("create", "update", "delete", "void", "link")] == []


class Recorder(StateReporter):
    """A StateReporter that also remembers what it saw when the run started."""

    def __init__(self) -> None:
        super().__init__(ProgressState())
        self.started_total: int | None = None
        self.stages: list[str] = []
        self.seen_done: list[int] = []

    def start(self, run_id: int, kind: str, total: int) -> None:
        super().start(run_id, kind, total)
        self.started_total = total

    def stage(self, name: str) -> None:
        super().stage(name)
        self.stages.append(name)

    def record(self, outcome: RecordOutcome) -> None:
        super().record(outcome)
        self.seen_done.append(self.state.done)


def test_progress_total_is_known_up_front_and_reached(small: World) -> None:
    w = small
    reporter = Recorder()
    result = w.sync(reporter=reporter)
    state = reporter.state
    assert reporter.started_total is not None and reporter.started_total > 0
    assert state.total == reporter.started_total
    assert reporter.stages == ["customers", "items", "invoices", "payments", "credit notes"]  # refunds off
    assert state.finished and state.fraction == 1.0
    assert state.done == state.total, (state.done, state.total, result.counts)
    assert reporter.seen_done == list(range(1, state.total + 1))
    assert state.counts["ok"] == result.counts["ok"]
    assert w.state.runs(1)[0]["total"] == state.total

    # incremental runs: a client edit; an invoice deleted with its payments (removed by the invoice
    # stage, not counted again by the payment stage); an invoice touched without a change QBO holds
    w.store.update_client(w.awkward("amy_exact"), notes="Prefers morning visits")
    doomed = w.awkward("invoice_multi_payment")
    for pay in w.store.payments(invoice_id=doomed):
        w.store.delete_payment(pay.id)
    w.store.delete_invoice(doomed)
    reporter = Recorder()
    run = w.sync(SETTINGS, reporter=reporter)
    assert run.counts["payment.delete.ok"] == 3 and run.counts["invoice.delete.ok"] == 1, run.counts
    assert reporter.state.total == 5 and reporter.state.done == reporter.state.total, run.counts
    # a draft round trip: two versions later the invoice is what QBO already has
    partial = w.awkward("invoice_partial")
    inv = w.store.get_invoice(partial)
    assert inv is not None and inv.due_date != date(2026, 7, 1)
    w.store.update_invoice(partial, due_date=date(2026, 7, 1))
    w.store.update_invoice(partial, due_date=inv.due_date)
    reporter = Recorder()
    run = w.sync(SETTINGS, reporter=reporter)
    assert run.counts["ok"] == 0, run.counts
    assert reporter.state.total == 1 and reporter.state.done == 1, run.counts
