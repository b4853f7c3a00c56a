"""The meter against the emulator over HTTP: the toolkit's counts equal the emulator's own meter
(``GET /_emulator/meter``, the independent oracle) after a real sync job and a reconcile job, both
jobs' summary.json say what they cost, and a monthly budget warns at 50, 80 and 95% once each and at
100% stops the reconciliation's tie-out (no report is read: the emulator's log shows none) with the
verdict saying why, while the sync still runs.

The emulator counts by the company's month (Los Angeles), the toolkit by UTC's: the counts are
compared as totals since the emulator started, which do not depend on where a month ends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests
from synckit import SETTINGS, SMALL_DEMO, World, open_world

from qbo_toolkit.auth.tokens import TokenStore
from qbo_toolkit.jobs.reconcile import reconcile_job
from qbo_toolkit.jobs.sync import sync_job
from qbo_toolkit.qbo.meter import METERED, UNMETERED, get_meter, set_budget
from qbo_toolkit.settings import MeterSettings


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    set_budget(None)
    with open_world(tmp_path, monkeypatch, demo=SMALL_DEMO) as w:
        yield w
    set_budget(None)


def emulator_totals(w: World) -> dict[str, int]:
    """The emulator's own counts for the company, all months added: {"metered": n, "unmetered": n}."""
    reply = requests.get(f"{w.emu.base_url}/_emulator/meter", timeout=30)
    reply.raise_for_status()
    months = reply.json().get(w.realm, {})
    return {METERED: sum(m["coreplus"] for m in months.values()),
            UNMETERED: sum(m["core"] for m in months.values())}


def toolkit_totals(w: World) -> dict[str, int]:
    months = get_meter().history(w.realm)
    return {METERED: sum(m[METERED] for m in months.values()), UNMETERED: sum(m[UNMETERED] for m in months.values())}


def settings_file(tmp_path: Path, budget: int | None = None) -> str:
    path = tmp_path / f"settings-{budget}.yaml"
    chosen = SETTINGS if budget is None else replace(SETTINGS, meter=MeterSettings(monthly_budget=budget))
    chosen.save(path)
    return str(path)


def summary(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "summary.json").read_text())


def minus(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: a[k] - b[k] for k in a}


def test_the_toolkits_counts_equal_the_emulators_meter(world: World, tmp_path: Path) -> None:
    w = world
    # connecting (headless, a real OAuth exchange and a CompanyInfo read) already made calls: equal too
    start = emulator_totals(w)
    assert toolkit_totals(w) == start and start[METERED] >= 1

    out = tmp_path / "sync"
    result = sync_job(settings=settings_file(tmp_path), work_db=w.url, output_dir=str(out), progress=False)
    assert result.status in ("ok", "findings"), result  # the demo's awkward records fail on purpose
    after_sync = emulator_totals(w)
    assert toolkit_totals(w) == after_sync
    run = minus(after_sync, start)
    assert run[UNMETERED] > 0 and run[METERED] > 0, (run, summary(out))  # the demo was written, and read back
    meter = summary(out)["meter"]
    assert meter["run"] == run  # this run's calls in summary.json
    assert meter["month"]["metered"] + meter["month"]["unmetered"] >= run[METERED] + run[UNMETERED]
    assert meter["month"]["budget"] == 500_000 and meter["month_boundary"] == "UTC"
    assert meter["warnings"] == [] and not any("metered calls" in n for n in summary(out).get("notices", []))

    out = tmp_path / "reconcile"
    mark = w.log_mark()
    reconcile_job(settings=settings_file(tmp_path), work_db=w.url, output_dir=str(out))
    after_recon = emulator_totals(w)
    assert toolkit_totals(w) == after_recon
    run = minus(after_recon, after_sync)
    assert run[UNMETERED] == 0 and run[METERED] > 0  # a reconciliation only reads
    assert summary(out)["meter"]["run"] == run
    assert summary(out)["realm"] == w.realm
    reports = [e["path"] for e in w.data_requests(mark) if "/reports/" in e["path"]]
    assert len(reports) == 2  # the tie-out read AgedReceivables and CustomerBalance
    # nothing secret in what the jobs wrote
    tokens = TokenStore().load(w.realm)
    assert tokens is not None
    for folder in (tmp_path / "sync", tmp_path / "reconcile"):
        text = (folder / "summary.json").read_text()
        assert tokens.access_token not in text and tokens.refresh_token not in text


def test_budget_warns_once_per_threshold_and_stops_the_tie_out_at_100_percent(world: World, tmp_path: Path) -> None:
    w = world
    budget = 1000
    path = settings_file(tmp_path, budget)
    meter = get_meter()

    def bring_to(used: int) -> None:
        """Other processes' calls this month, as the shared file records them."""
        now = meter.usage(w.realm).metered
        assert now <= used, (now, used)
        meter.count(w.realm, metered=used - now)

    sentences: list[str] = []
    for n, (before, threshold) in enumerate(((499, 50), (799, 80), (949, 95), (999, 100))):
        bring_to(before)
        out = tmp_path / f"sync-{n}"
        result = sync_job(settings=path, work_db=w.url, output_dir=str(out), progress=False)
        # the sync's own reads are never stopped (the demo's awkward records fail on purpose)
        assert result.status in ("ok", "findings") and result.message.startswith("completed"), result
        job = summary(out)
        warnings = job["meter"]["warnings"]
        assert len(warnings) == 1, warnings  # once, not once per call
        assert f"reached {threshold}% of the monthly budget" in warnings[0]
        assert f"of {budget:,} (meter.monthly_budget)" in warnings[0]
        assert warnings[0] in job["notices"]
        assert job["meter"]["month"]["budget"] == budget
        sentences += warnings
    assert meter.warnings(w.realm) == sentences
    assert summary(tmp_path / "sync-3")["meter"]["month"]["level"] == "stop"

    # another sync past 100%: it runs, and announces nothing again
    out = tmp_path / "sync-again"
    assert sync_job(settings=path, work_db=w.url, output_dir=str(out), progress=False).message.startswith("completed")
    assert summary(out)["meter"]["warnings"] == []

    mark = w.log_mark()
    emulator_before = emulator_totals(w)
    out = tmp_path / "reconcile"
    result = reconcile_job(settings=path, work_db=w.url, output_dir=str(out))
    assert not [e["path"] for e in w.data_requests(mark) if "/reports/" in e["path"]]  # no report read
    assert emulator_totals(w)[METERED] > emulator_before[METERED]  # the necessary reads went on
    assert result.tie_out.startswith("could not be done: the tie-out to QBO's AgedReceivables and "
                                     "CustomerBalance reports was skipped")
    assert "monthly budget of 1,000 (meter.monthly_budget" in result.tie_out
    assert not result.in_agreement  # never agreement without the tie-out
    job = summary(out)
    assert job["status"] != "ok" and "WORK and QuickBooks agree" not in job["message"]
    assert "skipped" in json.dumps(job["summary"])
    html = (out / "report.html").read_text()
    assert "was skipped" in html and "meter.monthly_budget" in html

    # with the budget raised the tie-out is read again
    mark = w.log_mark()
    result = reconcile_job(settings=settings_file(tmp_path, 10_000_000), work_db=w.url,
                           output_dir=str(tmp_path / "again"))
    assert len([e for e in w.data_requests(mark) if "/reports/" in e["path"]]) == 2
    assert "skipped" not in result.tie_out


def test_every_retry_counts_as_the_request_it_is(start_emulator: Any) -> None:
    """Throttled answers (429: QBO ran nothing) are not counted and their retries are; a request whose
    reply was lost ran, so it counts, and so does its retry (a read; a write is replayed by its
    requestid, which QBO counts again too). The emulator's meter agrees call for call."""
    from clientkit import make_client

    from qbo_toolkit.qbo.query import select
    from qbo_toolkit.qbo.transport import RetryPolicy

    emu = start_emulator(throttle_rate=0.3, lost_reply_rate=0.15, seed=7)
    client = make_client(emu, retry=RetryPolicy(max_attempts=12, seed=3))
    for n in range(12):
        client.query(select("Customer").where("Id", "=", str(1 + n % 10)))
        client.create_from("Customer", {"DisplayName": f"Metered {n}"}, request_id=f"meter-retry-{n}")
    log = [e for e in emu.emulator.log if e["path"].startswith("/v3/")]
    assert any(e["status"] == 429 for e in log) and any(e["dropped"] for e in log)  # faults did happen
    assert client.transport.stats.snapshot()["retries"] > 0
    months = requests.get(f"{emu.base_url}/_emulator/meter", timeout=30).json()[emu.info["realm_id"]]
    history = get_meter().history(emu.info["realm_id"])
    assert {METERED: sum(m["coreplus"] for m in months.values()),
            UNMETERED: sum(m["core"] for m in months.values())} == {
        METERED: sum(m[METERED] for m in history.values()), UNMETERED: sum(m[UNMETERED] for m in history.values())}
    assert sum(m[UNMETERED] for m in history.values()) >= 12 and sum(m[METERED] for m in history.values()) >= 12


def test_status_when_connected_shows_the_companys_month(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    from qbo_toolkit.cli import main

    w = world
    capsys.readouterr()
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    totals = emulator_totals(w)  # status itself makes no QuickBooks call
    assert f"(realm {w.realm}" in out
    line = next(line for line in out.splitlines() if line.startswith("QuickBooks calls this month"))
    assert f"company {w.realm}" in line and f"{totals[METERED]:,} metered call(s)" in line
    assert f"{totals[UNMETERED]:,} unmetered" in line and "of the monthly budget of 500,000" in line
    tokens = TokenStore().load(w.realm)
    assert tokens is not None and tokens.access_token not in out and tokens.refresh_token not in out


def test_the_sync_command_says_what_the_run_cost(world: World, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from qbo_toolkit.cli import main

    w = world
    before = emulator_totals(w)
    code = main(["sync", "--no-progress", "--settings", settings_file(tmp_path), "--work-db", w.url])
    assert code in (0, 1)  # the demo's awkward records fail on purpose
    run = minus(emulator_totals(w), before)
    out = capsys.readouterr().out
    assert f"QuickBooks calls this run: {run[METERED]:,} metered, {run[UNMETERED]:,} unmetered" in out
    assert run[UNMETERED] > 0
