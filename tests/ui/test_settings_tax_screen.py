"""The settings screen's sales-tax and closed-period choices, driven headlessly (no company needed:
the controller holds the choices, the screen mirrors them)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, cast

import pytest
from uikit import WAIT, connect_app, emulator

from qbo_toolkit.qbo.transport import reset_limiters
from qbo_toolkit.settings import Settings, TaxSettings
from qbo_toolkit.ui import App
from qbo_toolkit.ui.common import Guard, Messages
from qbo_toolkit.ui.settings_form import SettingsController, SettingsScreen
from qbo_toolkit.work.demo import generate_demo
from qbo_toolkit.work.store import WorkStore


def _screen() -> tuple[SettingsController, SettingsScreen]:
    controller = SettingsController(cast(Any, None))
    controller.choice = Settings(tax=TaxSettings("explicit_total", {"VAT 20%": "20.0% S"}))
    return controller, SettingsScreen(controller, Guard(Messages()))


def test_the_tax_mode_and_closed_period_are_offered_and_reach_the_settings() -> None:
    controller, screen = _screen()
    assert {v for _, v in screen.tax_mode.options} == {"explicit_total", "tax_codes"}
    assert {v for _, v in screen.closed_period.options} == {"wait", "first_open_date"}
    screen.refresh()
    assert screen.tax_help.layout.display == "none"
    screen.tax_mode.value = "tax_codes"
    screen.closed_period.value = "first_open_date"
    assert controller.choice.tax == TaxSettings("tax_codes", {"VAT 20%": "20.0% S"})  # the codes are kept
    assert controller.choice.closed_period == "first_open_date"
    assert screen.tax_help.layout.display != "none"  # where the codes are mapped is said
    assert "tax: codes:" in screen.tax_help.value


# ------------------------------------------------------------------ the company's kind chooses the mode


@pytest.mark.parametrize(("kind", "mode", "said"), [
    ("uk", "tax_codes", "A company in GB: each taxable line needs one of its tax codes"),
    ("us-manual", "explicit_total", "A US company with manual sales tax"),
    ("us-ast", "explicit_total", "A US company with Automated Sales Tax"),
])
def test_a_first_settings_screen_chooses_the_tax_mode_the_company_needs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, mode: str, said: str) -> None:
    """Connected to a UK company with no settings saved yet, the screen offers tax codes (the company
    refuses TAX/NON) and says why; a US company keeps TAX/NON with WORK's amount. Saved settings win."""
    reset_limiters()
    url = f"sqlite:///{tmp_path / 'work.sqlite3'}"
    store = WorkStore(url)
    generate_demo(store, clients=20, invoices=0, payments=0)
    store.close()
    with emulator(tmp_path, company_kind=kind):
        monkeypatch.setenv("QBO_EMULATOR_INFO", str(tmp_path / "emulator.json"))
        app = App(settings_path=tmp_path / "settings.yaml", work_url=url, poll_interval=0.02, connect_timeout=20.0)
        try:
            connect_app(app)
            assert app.screen == "settings", app.messages.text
            assert app.settings_screen.tax_mode.value == mode
            assert app.settings.choice.tax.mode == mode
            note = app.settings_screen.tax_kind
            assert said in html.unescape(note.value) and note.layout.display != "none"
        finally:
            app.wait(WAIT)
            app.close()
    reset_limiters()
