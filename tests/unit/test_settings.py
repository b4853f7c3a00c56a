"""Settings as the seed describes them: what each combination needs, in sentences that say what to choose.

Datasets (each a tiny settings mapping):
- defaults: clients only, nothing else required -> valid
- invoices without accounts -> two problems (revenue_account, item_account)
- payments without invoices -> one problem (turn invoices on)
- payments with invoices, no deposit account -> one problem (deposit_account)
- clients off -> refused (clients always sync)
- the chart below: an account chosen by Id or name (case-insensitive), a typo ("Servces"), an Id
  that does not exist ("99"), an inactive account (11 Fees Billed), two active accounts of one name
  (Repairs), an account of the wrong type
- settings files: an unknown key, a quoted 'no', a YAML syntax error, a choice outside its list
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from qbo_toolkit.errors import ConfigError
from qbo_toolkit.settings import Settings, SettingsError, load_settings

ACCOUNTS = [
    {"Id": "1", "Name": "Services", "FullyQualifiedName": "Services", "AccountType": "Income"},
    {"Id": "4", "Name": "Undeposited Funds", "AccountType": "Other Current Asset"},
    {"Id": "5", "Name": "Checking", "AccountType": "Bank"},
    {"Id": "9", "Name": "Subcontractor Costs", "AccountType": "Cost of Goods Sold"},
    {"Id": "11", "Name": "Fees Billed", "AccountType": "Income", "Active": False},
    {"Id": "20", "Name": "Repairs", "FullyQualifiedName": "Services:Repairs", "AccountType": "Income"},
    {"Id": "21", "Name": "Repairs", "FullyQualifiedName": "Other:Repairs", "AccountType": "Income"},
]
CHOSEN = Settings(invoices=True, revenue_account="1", item_account="9", payments=True, deposit_account="4")


def test_defaults_are_valid_and_clients_only() -> None:
    settings = Settings().validate()
    assert settings.clients and not settings.invoices and not settings.payments


@pytest.mark.parametrize(("values", "expected"), [
    ({"invoices": True}, ["Send invoice information to", "Send item information to"]),
    ({"payments": True}, ["turn invoices on"]),
    ({"invoices": True, "revenue_account": "1", "item_account": "9", "payments": True},
     ["Send payment information to"]),
    ({"clients": False}, ["cannot be turned off"]),
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
    assert problems[0].startswith('revenue_account ("Send invoice information to"): Checking (account 5) is a Bank '
                                  "account; choose an Income or Other Income account such as Services")
    assert problems[1].startswith('deposit_account ("Send payment information to"): Services (account 1) is an '
                                  "Income account; choose a Bank or Other Current Asset account")
    assert CHOSEN.check_accounts(ACCOUNTS) == []


@pytest.mark.parametrize(("chosen", "expected_id"), [("1", "1"), ("Services", "1"), ("services", "1"),
                                                     (" SERVICES ", "1"), ("Services:Repairs", "20")])
def test_an_account_is_chosen_by_id_or_by_name(chosen: str, expected_id: str) -> None:
    found, problems = replace(CHOSEN, revenue_account=chosen).resolve_accounts(ACCOUNTS)
    assert problems == []
    assert found["revenue_account"]["Id"] == expected_id and found["deposit_account"]["Id"] == "4"


@pytest.mark.parametrize(("chosen", "words"), [
    ("Servces", "QuickBooks has no account named 'Servces'; did you mean Services?"),
    ("99", "QuickBooks has no account with Id 99; choose an Income or Other Income account such as Services"),
    ("11", "account 11 Fees Billed (Income) is inactive in QuickBooks; make it active there"),
    ("fees billed", "account 11 Fees Billed (Income) is inactive"),
    ("Repairs", "2 accounts are named 'Repairs' (Services:Repairs (Id 20), Other:Repairs (Id 21)); give the "
                "account's Id instead"),
])
def test_a_wrong_account_is_named_with_its_setting_and_what_to_choose(chosen: str, words: str) -> None:
    found, problems = replace(CHOSEN, revenue_account=chosen).resolve_accounts(ACCOUNTS)
    assert "revenue_account" not in found
    (problem,) = problems
    assert problem.startswith('revenue_account ("Send invoice information to"): ')
    assert words in problem


def test_accounts_not_used_are_not_checked() -> None:
    assert Settings(revenue_account="nonsense").check_accounts(ACCOUNTS) == []  # invoices off
    no_payments = Settings(invoices=True, revenue_account="1", item_account="9", deposit_account="nonsense")
    assert no_payments.check_accounts(ACCOUNTS) == []


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
    with pytest.raises(SettingsError, match="unknown setting 'invoice': did you mean invoices\\?"):
        Settings.from_mapping({"invoice": True})
    with pytest.raises(SettingsError, match="true or false"):
        Settings.from_mapping({"invoices": "yes"})


def test_every_problem_of_a_mapping_is_one_sentence() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_mapping({"revenue_acount": "1", "payments": "no", "name_policy": "Fix",
                               "existing_items": "maybe", "deposit_account": ["4"]})
    problems = caught.value.problems
    assert problems == [
        "unknown setting 'revenue_acount': did you mean revenue_account?",
        "payments must be true or false (without quotes), not 'no'",
        "deposit_account must be an account's name or Id (such as Services or 1), not ['4']",
        "name_policy must be one of report, fix, not 'Fix' (did you mean fix?)",
        "existing_items must be one of ask, use_as_is, own_item, not 'maybe'",
    ]


def test_existing_items_defaults_to_ask_and_takes_its_choices() -> None:
    assert Settings().existing_items == "ask"
    for choice in ("ask", "use_as_is", "own_item"):
        assert Settings.from_mapping({"existing_items": choice}).existing_items == choice
    assert "existing_items must be one of" in Settings(existing_items="x").problems()[0]  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "words"), [
    ("invoices: 'no'\n", "invoices must be true or false (without quotes), not 'no'"),
    ("invoices: true\ndryrun: true\n", "unknown setting 'dryrun'"),
    ("conflict_policy: loudest_wins\n", "conflict_policy must be one of qbo_wins, work_wins, newest_wins"),
    ("invoices: true\n  payments: [true\n", "is not valid YAML at line 2, column"),
    ("- invoices\n", "must hold a mapping"),
    ("settings: 42\n", "'settings' must hold a mapping"),
])
def test_a_bad_settings_file_is_refused_with_a_sentence_naming_it(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(path) in str(caught.value) and words in str(caught.value)


def test_settings_under_a_settings_key_are_read(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("settings:\n  invoices: true\n  revenue_account: Services\n  item_account: 9\n")
    assert load_settings(path).revenue_account == "Services" and load_settings(path).item_account == "9"
