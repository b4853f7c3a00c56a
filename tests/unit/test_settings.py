"""Settings as the seed describes them: what each combination needs, in sentences that say what to choose.

Datasets (each a tiny settings mapping):
- defaults: clients only, nothing else required -> valid
- invoices without accounts -> two problems (revenue_account, item_account)
- payments without invoices -> one problem (turn invoices on)
- payments with invoices, no deposit account -> one problem (deposit_account)
- clients off -> refused (clients always sync)
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from qbo_toolkit.settings import Settings, SettingsError, load_settings

ACCOUNTS = [
    {"Id": "1", "Name": "Services", "AccountType": "Income"},
    {"Id": "4", "Name": "Undeposited Funds", "AccountType": "Other Current Asset"},
    {"Id": "5", "Name": "Checking", "AccountType": "Bank"},
    {"Id": "9", "Name": "Subcontractor Costs", "AccountType": "Cost of Goods Sold"},
]


def test_defaults_are_valid_and_clients_only() -> None:
    settings = Settings().validate()
    assert settings.clients and not settings.invoices and not settings.payments


@pytest.mark.parametrize(("values", "expected"), [
    ({"invoices": True}, ["Send invoice information to", "Send item information to"]),
    ({"payments": True}, ["turn invoices on"]),
    ({"invoices": True, "revenue_account": "1", "item_account": "9", "payments": True},
     ["Send payment information to"]),
    ({"clients": False}, ["cannot be turned off"]),
    ({"conflict_policy": "loudest_wins"}, ["conflict_policy must be one of"]),
])
def test_each_missing_choice_is_named(values: dict[str, object], expected: list[str]) -> None:
    problems = Settings.from_mapping(values).problems()
    assert len(problems) == len(expected)
    for problem, words in zip(problems, expected, strict=True):
        assert words in problem
    with pytest.raises(SettingsError):
        Settings.from_mapping(values).validate()


def test_accounts_must_have_the_right_type() -> None:
    wrong = Settings(invoices=True, revenue_account="5", item_account="9", payments=True, deposit_account="1")
    problems = wrong.check_accounts(ACCOUNTS)
    assert len(problems) == 2
    assert "Checking is a Bank account" in problems[0] and "Services is a Income account" in problems[1]
    right = Settings(invoices=True, revenue_account="1", item_account="9", payments=True, deposit_account="4")
    assert right.check_accounts(ACCOUNTS) == []
    assert "does not exist" in Settings(invoices=True, revenue_account="77", item_account="9").check_accounts(
        ACCOUNTS)[0]


def test_enabling_sets_the_integration_date_once() -> None:
    enabled = Settings().enabled(date(2026, 3, 1))
    assert enabled.integration_date == date(2026, 3, 1)
    assert enabled.enabled(date(2026, 4, 1)).integration_date == date(2026, 3, 1)


def test_yaml_round_trip_keeps_dates_as_explicit_dates(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("invoices: true\nrevenue_account: 1\nitem_account: '9'\nintegration_date: 2026-01-01\n")
    settings = load_settings(path)
    assert settings.integration_date == date(2026, 1, 1) and settings.revenue_account == "1"
    settings.save(path)
    assert load_settings(path) == settings
    path.write_text("integration_date: 01/02/2026\n")
    with pytest.raises(SettingsError, match="YYYY-MM-DD"):
        load_settings(path)


@pytest.mark.parametrize("key", ["client_secret", "refresh_token", "client_id", "password"])
def test_credentials_are_refused(key: str) -> None:
    with pytest.raises(SettingsError, match="credential"):
        Settings.from_mapping({key: "abc123"})


def test_unknown_keys_and_non_booleans_are_refused() -> None:
    with pytest.raises(SettingsError, match="unknown setting 'invoice'"):
        Settings.from_mapping({"invoice": True})
    with pytest.raises(SettingsError, match="true or false"):
        Settings.from_mapping({"invoices": "yes"})
