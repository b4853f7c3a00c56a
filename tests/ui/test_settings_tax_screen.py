"""The settings screen's sales-tax and closed-period choices, driven headlessly (no company needed:
the controller holds the choices, the screen mirrors them)."""

from __future__ import annotations

from typing import Any, cast

from qbo_toolkit.settings import Settings, TaxSettings
from qbo_toolkit.ui.common import Guard, Messages
from qbo_toolkit.ui.settings_form import SettingsController, SettingsScreen


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
