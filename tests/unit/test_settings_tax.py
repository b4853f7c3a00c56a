"""The issue-13 settings: tax, terms, payment methods, class, department, closed periods, credit
notes and refunds, read as strictly as the others and written back the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from qbo_toolkit.settings import CompanyFacts, Settings, SettingsError, TaxSettings

FULL = {
    "tax": {"mode": "tax_codes", "codes": {"VAT 20%": "20.0% S", "Zero": 7}, "invoice_code": ""},
    "terms": {"Net 15": "Net 15", "30 days": "Net 30"},
    "payment_methods": {"Card": "Credit Card"},
    "class": "Residential",
    "department": "North",
    "closed_period": "first_open_date",
    "credit_notes": False,
    "refunds": True,
    "refund_account": "Undeposited Funds",
}


def test_defaults() -> None:
    s = Settings()
    assert s.tax == TaxSettings("explicit_total", {}, "")
    assert (s.terms, s.payment_methods, s.class_, s.department) == ({}, {}, "", "")
    assert s.closed_period == "wait" and s.credit_notes is True and s.refunds is False and s.refund_account is None
    assert s.problems() == []


def test_every_key_is_read_and_written_back(tmp_path: Path) -> None:
    s = Settings.from_mapping(FULL)
    assert s.tax.mode == "tax_codes" and s.tax.codes == {"VAT 20%": "20.0% S", "Zero": "7"}
    assert s.class_ == "Residential" and s.department == "North" and s.closed_period == "first_open_date"
    assert s.refund_account == "Undeposited Funds" and s.credit_notes is False
    path = tmp_path / "settings.yaml"
    s.save(path)
    text = path.read_text()
    assert "class: Residential" in text and "class_" not in text and "company" not in text
    assert Settings.from_yaml(path) == s


@pytest.mark.parametrize(("data", "words"), [
    ({"tax": {"mod": "tax_codes"}}, "unknown tax setting 'mod': did you mean mode?"),
    ({"tax": {"mode": "codes"}}, "tax.mode must be one of explicit_total, tax_codes, not 'codes'"),
    ({"tax": "tax_codes"}, "tax must be a mapping with mode, codes and invoice_code"),
    ({"tax": {"codes": ["VAT 20%"]}}, "tax.codes must be a mapping of a WORK tax rate's name"),
    ({"tax": {"codes": {"VAT 20%": None}}}, "tax.codes: 'VAT 20%' maps to None"),
    ({"terms": "Net 30"}, "terms must be a mapping of WORK names to QuickBooks names or Ids"),
    ({"payment_methods": {"Card": True}}, "payment_methods: 'Card' maps to True"),
    ({"clas": "Residential"}, "unknown setting 'clas': did you mean class?"),
    ({"class": ["x"]}, "class must be a QuickBooks Class's name or Id"),
    ({"closed_period": "first_open"}, "closed_period must be one of wait, first_open_date, not 'first_open' "
                                      "(did you mean first_open_date?)"),
    ({"refunds": "yes"}, "refunds must be true or false (without quotes), not 'yes'"),
    ({"credit_note": True}, "unknown setting 'credit_note': did you mean credit_notes?"),
    ({"company": {"kind": "uk"}}, "unknown setting 'company'"),
])
def test_bad_values_are_refused_with_a_sentence(data: dict[str, object], words: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_mapping(data)
    assert any(words in p for p in caught.value.problems), caught.value.problems


def test_refunds_need_their_account() -> None:
    problems = Settings(refunds=True).problems()
    assert len(problems) == 1 and "Pay refunds from" in problems[0] and "refund_account" in problems[0]
    refunds = Settings(refunds=True, refund_account="4")
    assert refunds.problems() == []
    assert [a.key for a in refunds.account_settings()] == ["refund_account"]
    both = Settings(invoices=True, revenue_account="1", item_account="9", refunds=True, refund_account="4")
    assert [a.key for a in both.account_settings()] == ["revenue_account", "item_account", "refund_account"]


def test_the_refund_account_is_checked_against_the_chart() -> None:
    chart = [{"Id": "1", "Name": "Services", "AccountType": "Income"},
             {"Id": "4", "Name": "Undeposited Funds", "AccountType": "Other Current Asset"}]
    found, problems = Settings(refunds=True, refund_account="undeposited funds").resolve_accounts(chart)
    assert problems == [] and found["refund_account"]["Id"] == "4"
    _, problems = Settings(refunds=True, refund_account="Services").resolve_accounts(chart)
    assert problems and "refund_account (\"Pay refunds from\")" in problems[0] and "Income" in problems[0]


def test_company_facts_are_not_a_setting() -> None:
    s = Settings(company=CompanyFacts(kind="non-us", country="GB"))
    assert s == Settings() and "company" not in s.to_dict()
