"""The meter's budget thresholds reach the sync's activity log (``qbo_toolkit.sync.budget``), against
the emulator over HTTP: a sync job whose own calls cross 50 and 80% of a small monthly budget leaves
one entry per threshold crossed, with the numbers, and a second run in the same month repeats none; a
threshold crossed by a reconciliation goes into its summary.json (not into the sync's log) and into
the activity log by the next sync; at 100% the entry is what needs a person (an open failure naming no
record, which changes no run's verdict), resolved once the budget is raised.

The activity log is read from the WORK store's ``sync_activity`` table with plain SQL, not through the
engine's objects; the calls are the meter's (``meter.sqlite3``), which ``test_meter_live`` holds equal
to the emulator's own meter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from synckit import SMALL_DEMO, World, open_world
from test_meter_live import emulator_totals, settings_file

from qbo_toolkit.auth.tokens import TokenStore
from qbo_toolkit.jobs.reconcile import reconcile_job
from qbo_toolkit.jobs.sync import sync_job
from qbo_toolkit.qbo.meter import FREE_TIER, THRESHOLDS, Meter, budget_scope, get_meter, month_of, set_budget

BUDGET = 40
SENTENCE = re.compile(r"reached (\d+)% of the monthly budget: ([\d,]+) of ([\d,]+) \(meter\.monthly_budget\) "
                      r"in (\d{4}-\d{2}) \(UTC\), forecast ([\d,]+) by month end")


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    set_budget(None)
    with open_world(tmp_path, monkeypatch, demo=SMALL_DEMO) as w:
        yield w
    set_budget(None)


def activity(w: World, **where: Any) -> list[dict[str, Any]]:
    """The company's activity entries, straight from the table (oldest first)."""
    clauses = "".join(f" AND {column} = :{column}" for column in where)
    engine = sa.create_engine(w.url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT id, run_id, entity, direction, work_id, action, outcome, field, message, resolved "
                f"FROM sync_activity WHERE realm = :realm{clauses} ORDER BY id"), {"realm": w.realm, **where})
            return [dict(row._mapping) for row in rows]
    finally:
        engine.dispose()


def meter_entries(w: World) -> list[dict[str, Any]]:
    return activity(w, entity="meter")


def bring_to(w: World, used: int) -> None:
    """Other processes' metered calls this month, as the shared meter file records them (counted
    under the default budget: they announce nothing)."""
    meter = get_meter()
    now = meter.usage(w.realm).metered
    assert now <= used, (now, used)
    meter.count(w.realm, metered=used - now)


def crossed(before: int, after: int, budget: int = BUDGET) -> list[int]:
    """The thresholds passed between ``before`` and ``after`` metered calls."""
    return [t for t in THRESHOLDS if before * 100 < t * budget <= after * 100]


def summary(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "summary.json").read_text())


def check_sentence(entry: dict[str, Any], threshold: int, *, budget: int = BUDGET, at_most: int) -> None:
    """The entry says the threshold, the calls when it was crossed, of which budget, the month, the
    forecast, what stops at 100% and what to do."""
    match = SENTENCE.search(entry["message"])
    assert match, entry["message"]
    percent, used, of, month, expected = match.groups()
    used_n, forecast_n = int(used.replace(",", "")), int(expected.replace(",", ""))
    assert int(percent) == threshold and int(of.replace(",", "")) == budget
    assert threshold * budget <= used_n * 100 and used_n <= at_most  # the count when it was crossed
    assert month == month_of(datetime.now(UTC)) and forecast_n >= used_n
    assert "Optional reads (the reconciliation's tie-out to QBO's reports, the mirror's verification)" in \
        entry["message"]
    assert "raise meter.monthly_budget in the settings" in entry["message"]
    assert "wait for the month to end" in entry["message"]
    assert (entry["entity"], entry["direction"], entry["action"], entry["field"], entry["work_id"]) == (
        "meter", "none", "budget", "meter.monthly_budget", None)
    assert entry["outcome"] == ("failed" if threshold >= 100 else "warning")


def test_a_sync_crossing_50_and_80_percent_says_each_once_in_the_activity_log(world: World, tmp_path: Path) -> None:
    w = world
    path = settings_file(tmp_path, BUDGET)
    before = 17  # the initial sync of the small demo reads about 18 times: past 20 (50%) and 32 (80%)
    bring_to(w, before)
    emulator_before = emulator_totals(w)["metered"]
    out = tmp_path / "sync-1"
    job = sync_job(settings=path, work_db=w.url, output_dir=str(out), progress=False)
    assert job.status in ("ok", "findings") and job.message.startswith("completed"), job  # awkward records fail
    after = get_meter().usage(w.realm).metered
    # the run's own calls, as the emulator's meter (the oracle) counted them, made the crossing
    assert after - before == emulator_totals(w)["metered"] - emulator_before
    thresholds = crossed(before, after)
    assert thresholds[:2] == [50, 80], (before, after)  # this run's own calls crossed both

    entries = meter_entries(w)
    assert [SENTENCE.search(e["message"]).group(1) for e in entries] == [str(t) for t in thresholds]  # type: ignore[union-attr]
    run_id = summary(out)["run_id"]
    for entry, threshold in zip(entries, thresholds, strict=True):
        check_sentence(entry, threshold, at_most=after)
        assert entry["run_id"] == run_id
    # the same sentences as the job's summary.json, and before the run's last line
    assert [e["message"] for e in entries] == summary(out)["meter"]["warnings"]
    finish = activity(w, run_id=run_id, entity="run")
    assert len(finish) == 1 and finish[0]["action"] == "finish" and finish[0]["id"] > entries[-1]["id"]
    assert activity(w, run_id=run_id)[-1]["id"] == finish[0]["id"]
    # no secret in what the log says
    tokens = TokenStore().load(w.realm)
    assert tokens is not None
    assert not any(tokens.access_token in e["message"] or tokens.refresh_token in e["message"] for e in entries)

    # a second run in the same month repeats none of them: it says only a threshold its own calls
    # crossed (an incremental run reads a few times: perhaps 95%)
    out = tmp_path / "sync-2"
    again = sync_job(settings=path, work_db=w.url, output_dir=str(out), progress=False)
    assert again.message.startswith("completed"), again
    newly = crossed(after, get_meter().usage(w.realm).metered)
    assert 50 not in newly and 80 not in newly
    second = activity(w, run_id=summary(out)["run_id"], entity="meter")
    assert [SENTENCE.search(e["message"]).group(1) for e in second] == [str(t) for t in newly]  # type: ignore[union-attr]
    assert meter_entries(w) == entries + second
    assert [e["message"] for e in second] == summary(out)["meter"]["warnings"]


def test_thresholds_crossed_elsewhere_are_said_by_the_next_sync_and_100_percent_needs_a_person(
        world: World, tmp_path: Path) -> None:
    w = world
    path = settings_file(tmp_path, BUDGET)
    first = sync_job(settings=settings_file(tmp_path), work_db=w.url, output_dir=str(tmp_path / "initial"),
                     progress=False)  # the default budget: nothing crossed
    assert first.message.startswith("completed"), first
    assert meter_entries(w) == []

    # a reconciliation crosses 50%: its summary.json says so; the sync's activity log is not its
    bring_to(w, 19)
    out = tmp_path / "reconcile"
    reconcile_job(settings=path, work_db=w.url, output_dir=str(out))
    used = get_meter().usage(w.realm).metered
    assert crossed(19, used) == [50], used
    warnings = summary(out)["meter"]["warnings"]
    assert len(warnings) == 1 and "reached 50% of the monthly budget" in warnings[0]
    assert "of 40 (meter.monthly_budget)" in warnings[0] and warnings[0] in summary(out)["notices"]
    assert meter_entries(w) == []

    # the next sync starts above 50%, which the log has not said: it says it, once
    out = tmp_path / "sync-after-reconcile"
    job = sync_job(settings=path, work_db=w.url, output_dir=str(out), progress=False)
    assert job.message.startswith("completed"), job
    after = get_meter().usage(w.realm).metered
    assert after < 32, after  # an incremental run: it crossed nothing itself
    entries = meter_entries(w)
    assert len(entries) == 1 and entries[0]["run_id"] == summary(out)["run_id"]
    check_sentence(entries[0], 50, at_most=used)
    assert entries[0]["message"] == warnings[0]  # the meter's sentence, said when the reconciliation crossed it
    assert summary(out)["meter"]["warnings"] == []  # this run crossed nothing
    failed_before, status_before = summary(out)["failed"], job.status

    # other processes' calls up to one short of the budget; the next sync's calls reach it
    bring_to(w, BUDGET - 1)
    out = tmp_path / "sync-at-budget"
    job = sync_job(settings=path, work_db=w.url, output_dir=str(out), progress=False)
    assert job.message.startswith("completed"), job  # the sync's own reads are never stopped
    # the budget is no failed record of the run and changes no verdict
    assert (summary(out)["failed"], job.status) == (failed_before, status_before)
    run_id = summary(out)["run_id"]
    new = [e for e in meter_entries(w) if e["run_id"] == run_id]
    assert [SENTENCE.search(e["message"]).group(1) for e in new] == ["80", "95", "100"]  # type: ignore[union-attr]
    for entry, threshold in zip(new, (80, 95, 100), strict=True):
        check_sentence(entry, threshold, at_most=get_meter().usage(w.realm).metered)
    reached = new[-1]
    assert "stop until the month ends" in reached["message"] and reached["resolved"] is None
    # the level of what needs a person: an open failure (the status screen's Needs attention), no record's
    assert w.state.open_failures()[-1].id == reached["id"]
    assert not any("meter" in line for line in summary(out)["outstanding"])

    # past the budget another run says nothing again and the entry stays open
    out = tmp_path / "sync-past-budget"
    assert sync_job(settings=path, work_db=w.url, output_dir=str(out), progress=False).message.startswith("completed")
    assert len(meter_entries(w)) == 4 and meter_entries(w)[-1]["resolved"] is None

    # the budget raised: the first run below it resolves the 100% entry and says nothing new
    out = tmp_path / "sync-raised"
    job = sync_job(settings=settings_file(tmp_path, 10_000), work_db=w.url, output_dir=str(out), progress=False)
    assert job.message.startswith("completed"), job
    entries = meter_entries(w)
    assert len(entries) == 4 and entries[-1]["id"] == reached["id"]
    assert entries[-1]["resolved"] == "under budget" and [e["resolved"] for e in entries[:-1]] == [None] * 3
    assert reached["id"] not in {e.id for e in w.state.open_failures()}


def test_budget_scopes_ending_out_of_order_leave_nothing_behind() -> None:
    """A sync run counts against its settings' budget (``budget_scope``); two runs on two threads may
    end in another order than they began: neither leaves its budget to the process."""
    set_budget(None)
    meter = Meter(budget=None)  # never opens its file here: only its budget is asked
    first, second = budget_scope(40), budget_scope(1000)
    first.__enter__()
    assert meter.budget == 40
    second.__enter__()
    assert meter.budget == 1000
    first.__exit__(None, None, None)  # the first run ends first
    assert meter.budget == 1000
    second.__exit__(None, None, None)
    assert meter.budget == FREE_TIER  # the app's (none saved in this home): nothing left behind


def test_once_per_threshold_and_month_across_a_month_end(tmp_path: Path) -> None:
    """The log's bookkeeping on its own (a WORK store and a meter whose clock the test moves): a
    threshold is said once a month, again in the next month when crossed again; a run that began in
    November and ends in December says November's too; December's first run below the budget
    resolves November's 100% entry."""
    from qbo_toolkit.sync.budget import log_budget_thresholds
    from qbo_toolkit.sync.state import SyncState
    from qbo_toolkit.work.store import WorkStore

    now = [datetime(2026, 11, 30, 23, 0, tzinfo=UTC)]
    meter = Meter(tmp_path / "meter.sqlite3", clock=lambda: now[0], budget=BUDGET)
    store = WorkStore(f"sqlite:///{tmp_path}/work.sqlite3")
    try:
        state = SyncState(store, "r1")
        other = SyncState(store, "r2")  # another company's log says nothing of r1's budget

        def run() -> int:
            return state.start_run("incremental", dry_run=False)

        def said(month: str) -> list[tuple[int, str, str | None]]:
            entries = [e for e in state.activity(entity="meter") if f" in {month} (UTC)" in e.message]
            return [(int(SENTENCE.search(e.message).group(1)), e.outcome, e.resolved)  # type: ignore[union-attr]
                    for e in entries]

        meter.count("r1", metered=20)
        first = run()
        assert [a.threshold for a in log_budget_thresholds(state, first, meter=meter)] == [50]
        assert log_budget_thresholds(state, run(), meter=meter) == []  # said once
        assert log_budget_thresholds(other, other.start_run("incremental", dry_run=False), meter=meter) == []

        # a run begins in November; its calls reach the budget before midnight; it ends in December
        started = run()
        meter.count("r1", metered=20)
        now[0] = datetime(2026, 12, 1, 0, 5, tzinfo=UTC)
        written = log_budget_thresholds(state, started, months=["2026-11"], meter=meter)
        assert [(a.month, a.threshold) for a in written] == [("2026-11", 80), ("2026-11", 95), ("2026-11", 100)]
        assert said("2026-11") == [(50, "warning", None), (80, "warning", None), (95, "warning", None),
                                    (100, "failed", "under budget")]  # December: 0 of 40, below the budget
        assert [e.id for e in state.open_failures()] == []

        # December crosses 50% again: said again, for December
        meter.count("r1", metered=21)
        assert [a.threshold for a in log_budget_thresholds(state, run(), meter=meter)] == [50]
        assert said("2026-12") == [(50, "warning", None)]
        assert log_budget_thresholds(state, run(), meter=meter) == []
        assert other.activity(entity="meter") == []
    finally:
        store.close()
