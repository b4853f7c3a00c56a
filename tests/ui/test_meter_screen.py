"""The status screen shows the meter (``qbo_toolkit.qbo.meter``): this month's metered and unmetered
QuickBooks calls of the connected company, the forecast and the budget, amber past 80% and red when
the budget is reached; a budget threshold a sync crosses is in the Activity Log once. The app here
is the one of ``test_screens`` (a real emulator over HTTP)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import requests
from test_screens import emu, emu_realm, enable, make_app, settings_app, synced_app, work_url  # noqa: F401
from uikit import table_rows, text_of

from qbo_toolkit.emulator import EmulatorServer
from qbo_toolkit.qbo.meter import get_meter
from qbo_toolkit.settings import MeterSettings, Settings
from qbo_toolkit.ui import App


def _figures(text: str) -> tuple[int, int, int]:
    match = re.search(r"([\d,]+) metered .*?budget of ([\d,]+)\), ([\d,]+) unmetered", text)
    assert match, text
    metered, budget, unmetered = (int(g.replace(",", "")) for g in match.groups())
    return metered, unmetered, budget


def test_the_status_screen_shows_this_months_calls_and_warns_past_80_percent(
        synced_app: App, emu: EmulatorServer, tmp_path: Path) -> None:  # noqa: F811
    app = synced_app
    realm = emu_realm(app)
    screen = app.status_screen
    screen.refresh()
    text = text_of(screen.meter_html.value)
    metered, unmetered, budget = _figures(text)
    # what the screen says is what the emulator's own meter counted (all of this test's calls were the app's)
    months = requests.get(f"{emu.base_url}/_emulator/meter", timeout=30).json()[realm]
    assert metered == sum(m["coreplus"] for m in months.values()) > 0
    assert unmetered == sum(m["core"] for m in months.values()) > 0
    assert budget == 500_000 and "forecast to month end" in text and "qbo-meter-ok" in screen.meter_html.value

    # a smaller budget in the app's settings file, and other processes' calls this month
    saved = Settings.from_yaml(tmp_path / "settings.yaml")
    replace(saved, meter=MeterSettings(monthly_budget=1000)).save(tmp_path / "settings.yaml")
    get_meter().count(realm, metered=850 - metered)
    screen.refresh()
    assert "qbo-meter-warn" in screen.meter_html.value and "#b26a00" in screen.meter_html.value
    assert "Past 80% of the budget" in text_of(screen.meter_html.value)
    assert _figures(text_of(screen.meter_html.value))[::2] == (850, 1000)
    get_meter().count(realm, metered=150)
    screen.refresh()
    shown = text_of(screen.meter_html.value)
    assert "qbo-meter-stop" in screen.meter_html.value and "Budget reached" in shown and "tie-out" in shown


def test_a_sync_from_the_app_that_crosses_a_threshold_says_so_once(synced_app: App, tmp_path: Path) -> None:  # noqa: F811
    app = synced_app
    realm = emu_realm(app)
    saved = Settings.from_yaml(tmp_path / "settings.yaml")
    replace(saved, meter=MeterSettings(monthly_budget=2000)).save(tmp_path / "settings.yaml")
    get_meter().count(realm, metered=999 - get_meter().usage(realm).metered)
    app.status_screen.sync_button.click()
    assert app.status.wait(60)
    assert app.status.last_result is not None
    warned = [n for n in app.status.last_result.notices if "reached 50% of the monthly budget" in n]
    assert len(warned) == 1 and "of 2,000 (meter.monthly_budget)" in warned[0]
    shown = text_of(app.status_screen.meter_html.value)
    assert "The last sync: QuickBooks metered calls" in shown and "reached 50% of the monthly budget" in shown
    # the Activity Log says it too, once, as a warning of the run that crossed it (qbo_toolkit.sync.budget)
    screen, crossing = app.status_screen, app.status.last_result.run_id
    screen.refresh_log()
    screen.run_filter.value = crossing
    said = [row for row in table_rows(screen.records_html.value) if "of the monthly budget" in row[8]]
    assert len(said) == 1 and said[0][8] == warned[0], said
    assert (said[0][2], said[0][5], said[0][7]) == ("QuickBooks call budget", "warning", "meter.monthly_budget")
    # the next run crosses nothing new: nothing said again
    app.status_screen.sync_button.click()
    assert app.status.wait(60)
    assert app.status.meter_warnings == []
    assert "The last sync:" not in text_of(app.status_screen.meter_html.value)
    assert not any("monthly budget" in n for n in app.status.last_result.notices)
    screen.refresh_log()
    screen.run_filter.value = app.status.last_result.run_id
    assert not [row for row in table_rows(screen.records_html.value) if "of the monthly budget" in row[8]]
    screen.run_filter.value = 0
    assert len([row for row in table_rows(screen.records_html.value) if "of the monthly budget" in row[8]]) == 1
