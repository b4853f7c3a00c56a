"""The ``materiality`` setting: one validator (``settings.check_materiality``) for the setting, the
reconcile job's parameter and the history; strict, with the closest category for a typo; the
settings file round-trips."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

import qbo_toolkit.settings as settings_module
from qbo_toolkit.errors import ConfigError
from qbo_toolkit.jobs.params import check_params
from qbo_toolkit.recon import history
from qbo_toolkit.settings import (
    MATERIALITY_CATEGORIES,
    Settings,
    SettingsError,
    check_materiality,
    materiality_setting,
)


def test_the_settings_know_the_same_categories_as_the_history() -> None:
    assert MATERIALITY_CATEGORIES == history.KEYED
    assert history.check_materiality is check_materiality  # one validator, not two


def test_materiality_round_trips_through_the_settings_file(tmp_path: Path) -> None:
    chosen = Settings.from_mapping({"materiality": {"invoices_total": {"amount": "100", "count": 5},
                                                    "*": {"amount": 250}}})
    # kept as a person writes it: amounts as text with two decimals
    assert chosen.materiality == {"invoices_total": {"amount": "100.00", "count": 5}, "*": {"amount": "250.00"}}
    path = tmp_path / "settings.yaml"
    chosen.save(path)
    assert "materiality:" in path.read_text() and "amount: '100.00'" in path.read_text()
    assert Settings.from_yaml(path) == chosen
    assert Settings().to_dict()["materiality"] is None and Settings.from_mapping({"materiality": None}) == Settings()
    assert check_materiality(chosen.materiality) == {"invoices_total": {"amount_cents": 10000, "count": 5},
                                                     "*": {"amount_cents": 25000}}
    assert "\n    materiality " in (settings_module.__doc__ or "")  # the settings docstring lists it


def test_a_typo_in_the_settings_is_refused_with_the_closest_category(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("materiality:\n  invoice_total:\n    amount: '100.00'\n")
    with pytest.raises(SettingsError, match=r"materiality names no difference category 'invoice_total': "
                                            r"did you mean invoices_total\?") as caught:
        Settings.from_yaml(path)
    assert str(path) in str(caught.value)
    made_in_code = Settings(materiality={"paymnts_amount": {"count": 1}})
    assert any("did you mean payments_amount?" in p for p in made_in_code.problems())
    for bad, message in [({"invoices_total": {"amount": 1.5}}, "decimal text"),
                         ({"invoices_total": {"amount": "1.005"}}, "two decimals"),
                         ({"invoices_total": {"count": True}}, "whole number"),
                         ({"invoices_total": {"limit": 3}}, "takes amount and count"),
                         ({"invoices_total": {}}, "amount and/or count"),
                         (["invoices_total"], "must map categories")]:
        with pytest.raises(SettingsError, match=message):
            Settings.from_mapping({"materiality": bad})


def test_the_jobs_parameter_is_checked_by_the_same_rules() -> None:
    assert check_params("reconcile", {"materiality": {"*": {"amount": "50"}}}) == {
        "materiality": {"*": {"amount": "50.00"}}}
    with pytest.raises(ConfigError, match="reconcile job: materiality names no difference category 'invoice'"):
        check_params("reconcile", {"materiality": {"invoice": {"count": 1}}}, source="reconcile job")
    assert materiality_setting({"pending": {"count": 0}}) == {"pending": {"count": 0}}


def test_the_parameter_overrides_the_setting_and_says_so() -> None:
    own = Settings(materiality={"*": {"count": 100}})
    assert history.materiality_used(None, own) == ({"*": {"count": 100}}, "settings", False)
    assert history.materiality_used({"pending": {"count": 1}}, own) == ({"pending": {"count": 1}}, "parameter", True)
    assert history.materiality_used({"pending": {"count": 1}}, Settings()) == (
        {"pending": {"count": 1}}, "parameter", False)
    assert history.materiality_used(None, replace(own, materiality={})) == ({}, "", False)
