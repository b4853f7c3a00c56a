"""The meter (``qbo_toolkit.qbo.meter``) on its own: what a request counts as, counts per company
and UTC month in the toolkit home's file, the forecast, budget warnings once each, optional reads
stopped at 100%, a month rollover by an injected clock, and two processes counting at once."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from qbo_toolkit.qbo.meter import (
    FREE_TIER,
    METERED,
    UNMETERED,
    Meter,
    MeterBudgetReached,
    call_kinds,
    forecast,
    get_meter,
    month_of,
    set_budget,
)
from qbo_toolkit.settings import Settings, home_settings_path

BASE = "http://127.0.0.1:9/v3/company/4620816365/"


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture(autouse=True)
def _no_budget_override() -> None:
    set_budget(None)
    yield
    set_budget(None)


def test_what_a_request_counts_as() -> None:
    assert call_kinds("GET", BASE + "customer/1?minorversion=75") == ("4620816365", [METERED])
    assert call_kinds("GET", BASE + "query?query=select") == ("4620816365", [METERED])
    assert call_kinds("POST", BASE + "query") == ("4620816365", [METERED])  # a query by POST is a read
    assert call_kinds("GET", BASE + "cdc?entities=Customer") == ("4620816365", [METERED])
    assert call_kinds("GET", BASE + "reports/AgedReceivables") == ("4620816365", [METERED])
    assert call_kinds("POST", BASE + "invoice?requestid=x") == ("4620816365", [UNMETERED])
    assert call_kinds("POST", BASE + "invoice?operation=void") == ("4620816365", [UNMETERED])
    body = json.dumps({"BatchItemRequest": [{"bId": "b0", "operation": "create", "Customer": {}},
                                            {"bId": "b1", "Query": "select * from Item"},
                                            {"bId": "b2", "operation": "update", "Invoice": {}}]})
    assert call_kinds("POST", BASE + "batch", body) == ("4620816365", [UNMETERED, METERED, UNMETERED])
    assert call_kinds("POST", BASE + "batch", "not json") == ("4620816365", [])
    # OAuth and discovery are not data calls
    assert call_kinds("POST", "http://127.0.0.1:9/oauth2/v1/tokens/bearer") == (None, [])
    assert call_kinds("GET", "http://127.0.0.1:9/.well-known/openid_configuration") == (None, [])


def test_counts_per_company_and_month_in_a_private_file(tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 12, 3, 12, tzinfo=UTC))
    meter = Meter(tmp_path / "home" / "meter.sqlite3", clock=clock)
    meter.record("GET", BASE + "customer/1", {}, 200)
    meter.record("GET", BASE + "customer/1", {}, 429)  # throttled: QBO did not run it
    meter.record("GET", BASE + "customer/1", {}, 401)  # not authorised: did not run
    meter.record("GET", BASE + "customer/1", {}, None)  # no reply: maybe ran, counted
    meter.record("GET", BASE + "customer/1", {}, 400)  # refused with a fault: it ran
    meter.record("POST", BASE + "customer?requestid=1", {"data": "{}"}, 200)
    meter.record("GET", "http://127.0.0.1:9/v3/company/other/query", {}, 200)
    usage = meter.usage("4620816365")
    assert (usage.month, usage.metered, usage.unmetered) == ("2026-12", 3, 1)
    assert meter.usage("other").metered == 1
    assert meter.realms() == ["4620816365", "other"]
    assert stat.S_IMODE((tmp_path / "home").stat().st_mode) == 0o700
    for path in (tmp_path / "home").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    # another Meter on the same file (another process, later) sees the same counts
    assert Meter(tmp_path / "home" / "meter.sqlite3", clock=clock).usage("4620816365").metered == 3


def test_month_rollover_by_an_injected_clock(tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC))
    meter = Meter(tmp_path / "meter.sqlite3", clock=clock, budget=10)
    meter.count("r1", metered=9, unmetered=2)
    assert meter.refusal("r1", "the tie-out") is None
    meter.count("r1", metered=1)
    assert meter.refusal("r1", "the tie-out") is not None  # 10 of 10 in November
    clock.at = datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC)
    december = meter.usage("r1")
    assert (december.month, december.metered, december.unmetered) == ("2026-12", 0, 0)
    assert meter.refusal("r1", "the tie-out") is None  # a new month, a new budget
    assert meter.history("r1") == {"2026-11": {METERED: 10, UNMETERED: 2}}
    assert meter.usage("r1", month="2026-11").metered == 10
    # the month is UTC's: 23:30 on 30 November in Los Angeles is already December in UTC
    from zoneinfo import ZoneInfo

    assert month_of(datetime(2026, 11, 30, 23, 30, tzinfo=ZoneInfo("America/Los_Angeles"))) == "2026-12"
    assert month_of(datetime(2026, 12, 1, 7, 59)) == "2026-12"  # naive: taken as UTC


def test_forecast_extrapolates_over_the_month() -> None:
    # 10 days of a 31-day month gone with 1,000 calls: 3,100 by the end
    assert forecast(1000, datetime(2026, 12, 11, tzinfo=UTC)) == 3100
    # the first minutes of a month count as an hour, not as a millionth of the month
    assert forecast(10, datetime(2026, 12, 1, 0, 0, 5, tzinfo=UTC)) == 10 * 31 * 24
    assert forecast(0, datetime(2026, 12, 20, tzinfo=UTC)) == 0


def test_warnings_at_50_80_95_and_100_once_each(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock(datetime(2026, 12, 15, tzinfo=UTC))
    meter = Meter(tmp_path / "meter.sqlite3", clock=clock, budget=20)
    with caplog.at_level(logging.WARNING, logger="qbo_toolkit.qbo.meter"), meter.tally("r1") as run:
        for _ in range(25):
            meter.count("r1", metered=1)
        meter.count("r1", unmetered=5)
    sentences = run.warnings
    assert [s.split("reached ")[1].split("%")[0] for s in sentences] == ["50", "80", "95", "100"]
    assert "10 of 20" in sentences[0] and "16 of 20" in sentences[1] and "19 of 20" in sentences[2]
    assert "meter.monthly_budget" in sentences[0] and "2026-12 (UTC)" in sentences[0]
    assert "Optional reads" in sentences[3] and "sync's own reads go on" in sentences[3]
    assert [r.getMessage() for r in caplog.records] == sentences  # logged once each, not per call
    assert (run.metered, run.unmetered) == (25, 5)
    assert meter.warnings("r1") == sentences
    # another process (another Meter on the file) crossing nothing new announces nothing
    with Meter(tmp_path / "meter.sqlite3", clock=clock, budget=20).tally() as other:
        Meter(tmp_path / "meter.sqlite3", clock=clock, budget=20).count("r1", metered=1)
    assert other.warnings == []
    # a jump over several thresholds at once announces each of them
    with meter.tally("r2") as jump:
        meter.count("r2", metered=17)
    assert [s.split("reached ")[1].split("%")[0] for s in jump.warnings] == ["50", "80"]


def test_optional_reads_stop_at_the_budget(tmp_path: Path) -> None:
    meter = Meter(tmp_path / "meter.sqlite3", clock=Clock(datetime(2026, 12, 15, tzinfo=UTC)), budget=3)
    meter.count("r1", metered=2)
    ran = []
    with meter.optional("r1", "the mirror's verification"):
        ran.append(1)
    meter.count("r1", metered=1)
    with pytest.raises(MeterBudgetReached) as caught:
        with meter.optional("r1", "the mirror's verification"):
            ran.append(2)
    assert ran == [1]
    text = str(caught.value)
    assert text.startswith("the mirror's verification was skipped")
    assert "3 metered QuickBooks call(s)" in text and "budget of 3" in text and "meter.monthly_budget" in text
    assert caught.value.used == 3 and caught.value.budget == 3
    # necessary calls are still counted past the budget, never refused
    meter.count("r1", metered=5)
    assert meter.usage("r1").metered == 8 and meter.usage("r1").level == "stop"


def test_the_budget_comes_from_the_settings() -> None:
    meter = get_meter()
    assert meter.budget == FREE_TIER  # nothing saved
    home_settings_path().parent.mkdir(parents=True, exist_ok=True)
    Settings.from_mapping({"meter": {"monthly_budget": 1234}}).save(home_settings_path())
    assert meter.budget == 1234  # the app's saved settings
    set_budget(99)  # a job's own settings file
    assert meter.budget == 99
    with pytest.raises(ValueError):
        set_budget(0)


def test_the_settings_key_is_strict() -> None:
    from qbo_toolkit.settings import SettingsError

    assert Settings().meter.monthly_budget == 500_000
    assert Settings.from_mapping({"meter": {"monthly_budget": 1000}}).to_dict()["meter"] == {"monthly_budget": 1000}
    for bad, words in (({"monthly_budget": 0}, "1 or more"), ({"monthly_budget": "lots"}, "whole number"),
                       ({"monthly_budget": True}, "whole number"), ({"monthly_budgt": 5}, "did you mean"),
                       (7, "must be a mapping")):
        with pytest.raises(SettingsError) as caught:
            Settings.from_mapping({"meter": bad})
        assert words in str(caught.value), caught.value


WORKER = textwrap.dedent("""
    import sys
    from qbo_toolkit.qbo.meter import get_meter
    meter = get_meter()
    for n in range(int(sys.argv[1])):
        meter.record("GET", "http://127.0.0.1:9/v3/company/r1/customer/%d" % n, {}, 200)
        meter.record("POST", "http://127.0.0.1:9/v3/company/r1/customer?requestid=%d" % n, {"data": "{}"}, 200)
""")


def test_two_processes_counting_at_once_lose_nothing() -> None:
    n = 300
    env = {**os.environ}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(n)], env=env) for _ in range(2)]
    # and this process counting at the same time
    meter = get_meter()
    for i in range(n):
        meter.record("GET", f"http://127.0.0.1:9/v3/company/r1/query?q={i}", {}, 200)
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    usage = meter.usage("r1")
    assert (usage.metered, usage.unmetered) == (3 * n, 2 * n)


def test_status_shows_the_meter_without_a_connection(capsys: pytest.CaptureFixture[str]) -> None:
    from qbo_toolkit.cli import main
    from qbo_toolkit.exits import EXIT_ENVIRONMENT

    assert main(["status"]) == EXIT_ENVIRONMENT  # not connected: the exit code still says so
    out = capsys.readouterr()
    assert "Not connected to QuickBooks" in out.out and "none counted in this toolkit home" in out.out
    assert "budget 500,000" in out.out and out.err.startswith("qbo-toolkit status: ")
    get_meter().count("4620816365", metered=420_000, unmetered=12)
    assert main(["status"]) == EXIT_ENVIRONMENT
    out = capsys.readouterr().out
    assert "WARNING: QuickBooks calls this month, company 4620816365" in out
    assert "420,000 metered call(s)" in out and "12 unmetered" in out and "84.0% of the monthly budget" in out
    assert "forecast to month end" in out
    get_meter().count("4620816365", metered=80_000)
    assert main(["status"]) == EXIT_ENVIRONMENT
    out = capsys.readouterr().out
    assert "BUDGET REACHED:" in out and "optional reads" in out and "the sync goes on" in out


def test_only_a_few_homes_keep_their_file_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with get_meter().tally("r1") as run:
        for n in range(8):
            monkeypatch.setenv("QBO_TOOLKIT_HOME", str(tmp_path / f"home{n}"))
            get_meter().record("GET", f"http://127.0.0.1:9/v3/company/r1/customer/{n}", {}, 200)
        assert run.metered == 8  # a run's tally hears every home's meter
    from qbo_toolkit.qbo import meter as module

    assert len(module._METERS) <= 4
    opened = [m for m in module._METERS.values() if m._conn is not None]
    assert len(opened) <= 4
    monkeypatch.setenv("QBO_TOOLKIT_HOME", str(tmp_path / "home0"))  # closed before: opens again, kept its count
    assert get_meter().usage("r1").metered == 1


def test_an_unreadable_meter_file_never_stops_a_call_and_status_says_so(
        capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    from qbo_toolkit.cli import main
    from qbo_toolkit.paths import toolkit_home

    toolkit_home().mkdir(parents=True, exist_ok=True)
    (toolkit_home() / "meter.sqlite3").write_bytes(b"not a database at all " * 100)
    with caplog.at_level(logging.WARNING, logger="qbo_toolkit.qbo.meter"), get_meter().tally() as run:
        get_meter().record("GET", BASE + "customer/1", {}, 200)  # no exception
        get_meter().record("GET", BASE + "customer/2", {}, 200)
    assert run.metered == 2  # the run still knows what it cost
    assert len([r for r in caplog.records if "cannot be written" in r.getMessage()]) == 1  # said once
    main(["status"])
    out = capsys.readouterr().out
    assert "cannot be read" in out and "remove it" in out
