"""Fyle's ``qbosdk`` (QuickbooksOnlineSDK, PyPI), unmodified, against the emulator.

qbosdk knows two hosts, production and sandbox. It is pointed at the emulator through its own
configuration: the class attribute ``TOKEN_URL`` (where it refreshes its token on start) and the base
URL it hands every API object through ``update_server_url()``. Everything else is its own code: GET
queries built by string concatenation and paged with STARTPOSITION until an empty QueryResponse,
``COUNT(*)`` with ``Active = True``, reads by id, creates and deletes.

What it reads (the issue's "entities every company has"): Account, Class, Department, Customer, Vendor,
Employee, Item, TaxCode, TaxRate, Preferences, CompanyInfo, Bill, BillPayment, Purchase, JournalEntry,
Attachable.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from thirdkit import Company, authorize, unique

from qbo_toolkit.emulator import EmulatorServer

qbosdk = pytest.importorskip("qbosdk", reason="qbosdk comes with the dev extra (pip install -e '.[dev]')")
from qbosdk import QuickbooksOnlineSDK  # noqa: E402
from qbosdk.exceptions import WrongParamsError  # noqa: E402


def _sdk(company: Company, monkeypatch: pytest.MonkeyPatch) -> QuickbooksOnlineSDK:
    """A QuickbooksOnlineSDK on the company, started from a refresh token as its README shows."""
    monkeypatch.setattr(QuickbooksOnlineSDK, "TOKEN_URL", company.auth.token_endpoint)
    sdk = QuickbooksOnlineSDK(client_id=company.emu.info["client_id"], client_secret=company.emu.info["client_secret"],
                              refresh_token=company.auth.refresh_token, realm_id=company.realm, environment="sandbox")
    sdk._QuickbooksOnlineSDK__base_url = company.company_url  # type: ignore[attr-defined]
    sdk.update_server_url()
    return sdk


def test_starts_from_a_refresh_token_and_rotates_it(company: Company, monkeypatch: pytest.MonkeyPatch) -> None:
    old = company.auth.refresh_token
    sdk = _sdk(company, monkeypatch)
    assert sdk.access_token and sdk.refresh_token != old
    assert sdk.company_info.get()["CompanyName"] == company.emu.info["company_name"]


def test_reads_the_name_lists_every_company_has(company: Company, monkeypatch: pytest.MonkeyPatch) -> None:
    sdk = _sdk(company, monkeypatch)
    accounts = sdk.accounts.get()
    assert {"Undeposited Funds", "Accounts Receivable (A/R)"} <= {a["Name"] for a in accounts}
    assert sdk.accounts.count() == company.count("Account", "Active = true")
    assert len(sdk.customers.get()) == company.count("Customer", "Active = true")
    assert sdk.customers.count() == company.count("Customer", "Active = true")
    assert {"Hours", "Services"} <= {i["Name"] for i in sdk.items.get()}
    assert sdk.employees.count() >= 1
    assert {"Residential", "Commercial"} <= {c["Name"] for c in sdk.classes.get()}
    assert sdk.classes.count() == company.count("Class", "Active = true")
    assert {"North", "South"} <= {d["Name"] for d in sdk.departments.get()}
    assert sdk.departments.count() == company.count("Department", "Active = true")


def test_reads_tax_codes_rates_and_preferences(company: Company, monkeypatch: pytest.MonkeyPatch) -> None:
    sdk = _sdk(company, monkeypatch)
    codes = sdk.tax_codes.get()
    assert len(codes) == company.count("TaxCode") and all(c.get("Name") for c in codes)
    assert isinstance(sdk.tax_rates.get(), list)
    prefs = sdk.preferences.get()
    assert prefs["TaxPrefs"]["PartnerTaxEnabled"] is True  # the default company is US with AST
    assert prefs["AccountingInfoPrefs"]["ClassTrackingPerTxn"] is True


def test_a_uk_company_s_tax_codes(start_emulator: Callable[..., EmulatorServer],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    company = authorize(start_emulator(company_kind="uk"))
    sdk = _sdk(company, monkeypatch)
    assert {"20.0% S", "5.0% R", "0.0% Z", "Exempt"} <= {c["Name"] for c in sdk.tax_codes.get()}
    rates = {r["Name"]: r for r in sdk.tax_rates.get()}
    assert any(float(r.get("RateValue", -1)) == 20 for r in rates.values()), rates
    assert sdk.company_info.get()["Country"] == "GB"
    assert sdk.preferences.get()["CurrencyPrefs"]["HomeCurrency"]["value"] == "GBP"


def test_empty_transaction_lists_end_the_paging(company: Company, monkeypatch: pytest.MonkeyPatch) -> None:
    # qbosdk pages until QueryResponse is empty: a company without bills must answer {} (QBO's shape)
    sdk = _sdk(company, monkeypatch)
    for api in (sdk.bills, sdk.bill_payments, sdk.purchases, sdk.journal_entries, sdk.attachments):
        assert isinstance(api.get(), list)


def test_creates_a_vendor_and_a_bill(company: Company, monkeypatch: pytest.MonkeyPatch) -> None:
    sdk = _sdk(company, monkeypatch)
    name = unique("Vendor")
    vendor = sdk.vendors.post({"DisplayName": name})["Vendor"]
    assert sdk.vendors.search_vendor_by_display_name(name)["Id"] == vendor["Id"]
    with pytest.raises(WrongParamsError):
        sdk.vendors.post({"DisplayName": name})  # 6240 duplicate name
    expense = company.one("Account", "Job Supplies")
    bill = sdk.bills.post({"VendorRef": {"value": vendor["Id"]}, "TxnDate": "2026-11-20",
                           "Line": [{"Amount": 42.5, "DetailType": "AccountBasedExpenseLineDetail",
                                     "AccountBasedExpenseLineDetail": {"AccountRef": {"value": expense["Id"]}}}]})
    bill = bill["Bill"]
    assert float(bill["TotalAmt"]) == 42.5 and float(bill["Balance"]) == 42.5
    assert sdk.bills.get_by_id(bill["Id"])["Id"] == bill["Id"]
    assert [b["Id"] for b in sdk.bills.get()] == [bill["Id"]]
    # (qbosdk's bills.delete() always sends SyncToken '1', so it is not exercised on a new bill)
