"""Company kinds (``--company``/``EmulatorConfig.company_kind``) and what every company holds, over real HTTP:
the seeded tax set-up, CompanyInfo and Preferences per kind; Terms driving DueDate; PaymentMethodRef,
ClassRef and DepartmentRef checked and named; ``include=allowduplicatedocnum``; a data dir remembers
its kind.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from kindkit import D, by_name, customer, fault, kind_conn, line, ok, post, rows

from qbo_toolkit.emulator import EmulatorConfig, EmulatorServer
from qbo_toolkit.emulator.cli import add_arguments, config_from_args, main

Start = Callable[..., EmulatorServer]

KINDS = {
    # kind: (CompanyInfo.Country, home currency, PartnerTaxEnabled, {TaxCode: rate %} (every code's rates summed))
    "us-ast": ("US", "USD", True, {"California": "8.25", "New York": "8.875", "Texas": "8.25"}),
    "us-manual": ("US", "USD", False, {"California": "8.25", "Out of state": "0"}),
    "uk": ("GB", "GBP", False, {"20.0% S": "20", "5.0% R": "5", "0.0% Z": "0", "Exempt": "0"}),
    "ca": ("CA", "CAD", False, {"GST": "5", "HST ON": "13", "Zero-rated": "0", "Exempt": "0"}),
    "au": ("AU", "AUD", False, {"GST": "10", "GST free": "0"}),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_seeds_its_company(start_emulator: Start, kind: str) -> None:
    country, currency, partner_tax, codes = KINDS[kind]
    conn = kind_conn(start_emulator, kind)
    info = ok(conn.get(f"companyinfo/{conn.realm}"))["CompanyInfo"]
    assert info["Country"] == country
    assert len(info["CompanyAddr"]["Country"]) == 3  # ISO-3 in addresses
    prefs = ok(conn.get("preferences"))["Preferences"]
    assert prefs["TaxPrefs"]["PartnerTaxEnabled"] is partner_tax
    assert prefs["TaxPrefs"]["UsingSalesTax"] is True
    assert prefs["CurrencyPrefs"]["HomeCurrency"]["value"] == currency
    assert prefs["AccountingInfoPrefs"]["ClassTrackingPerTxn"] is True
    assert prefs["AccountingInfoPrefs"]["TrackDepartments"] is True
    net30 = by_name(conn, "Term", "Net 30")
    assert prefs["SalesFormsPrefs"]["DefaultTerms"]["value"] == net30["Id"]

    rates = {r["Id"]: D(r["RateValue"]) for r in rows(conn, "SELECT * FROM TaxRate", "TaxRate")}
    found = {}
    for code in rows(conn, "SELECT * FROM TaxCode", "TaxCode"):
        details = code["SalesTaxRateList"]["TaxRateDetail"]
        found[code["Name"]] = sum((rates[d["TaxRateRef"]["value"]] for d in details), Decimal(0))
    assert found == {name: Decimal(rate) for name, rate in codes.items()}
    agencies = rows(conn, "SELECT * FROM TaxAgency", "TaxAgency")
    assert agencies and all(a["TaxTrackedOnSales"] for a in agencies)

    terms = {t["Name"]: t["DueDays"] for t in rows(conn, "SELECT * FROM Term", "Term")}
    assert terms == {"Due on receipt": 0, "Net 15": 15, "Net 30": 30, "Net 60": 60}
    methods = {m["Name"] for m in rows(conn, "SELECT * FROM PaymentMethod", "PaymentMethod")}
    assert methods == {"Cash", "Check", "Credit Card", "Visa", "MasterCard", "American Express", "Direct Debit"}
    assert {c["Name"] for c in rows(conn, "SELECT * FROM Class", "Class")} == {"Residential", "Commercial"}
    assert {d["Name"] for d in rows(conn, "SELECT * FROM Department", "Department")} == {"North", "South"}


def test_us_companies_answer_the_pseudo_tax_codes(start_emulator: Start) -> None:
    us = kind_conn(start_emulator, "us-ast")
    for code in ("TAX", "NON"):
        doc = ok(us.get(f"taxcode/{code}"))["TaxCode"]
        assert doc["Id"] == code and doc["Taxable"] is (code == "TAX")
    uk = kind_conn(start_emulator, "uk")
    assert uk.get("taxcode/TAX").status_code == 400


def test_an_unknown_kind_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="us-ast, us-manual, uk, ca, au"):
        EmulatorServer(EmulatorConfig(company_kind="fr"))


def test_the_command_line_takes_the_kind() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert config_from_args(parser.parse_args(["--company", "uk"])).company_kind == "uk"
    assert config_from_args(parser.parse_args([])).company_kind == "us-ast"
    with pytest.raises(SystemExit):
        parser.parse_args(["--company", "fr"])


def test_a_data_dir_remembers_its_kind(start_emulator: Start, tmp_path: Path) -> None:
    first = start_emulator(company_kind="ca", data_dir=str(tmp_path))
    first.stop()
    with pytest.raises(ValueError, match="--reset") as refused:
        EmulatorServer(EmulatorConfig(company_kind="au", data_dir=str(tmp_path)))
    assert "'ca'" in str(refused.value)
    again = kind_conn(start_emulator, "ca", data_dir=str(tmp_path))
    assert ok(again.get(f"companyinfo/{again.realm}"))["CompanyInfo"]["Country"] == "CA"
    again.emu.stop()
    fresh = kind_conn(start_emulator, "au", data_dir=str(tmp_path), reset=True)
    assert ok(fresh.get(f"companyinfo/{fresh.realm}"))["CompanyInfo"]["Country"] == "AU"
    assert fresh.emu.info["company_kind"] == "au"


def test_the_command_line_says_why_a_data_dir_of_another_kind_does_not_start(
        start_emulator: Start, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    start_emulator(company_kind="uk", data_dir=str(tmp_path)).stop()
    assert main(["--port", "0", "--data-dir", str(tmp_path), "--company", "ca"]) == 2
    err = capsys.readouterr().err
    assert "'uk' company" in err and "--company uk" in err and "--reset" in err and "Traceback" not in err


# -- terms, payment methods, classes, document numbers -------------------------------------------------------

def test_sales_term_drives_the_due_date(start_emulator: Start) -> None:
    us = kind_conn(start_emulator, "us-ast")
    who = customer(us)
    net15, receipt = by_name(us, "Term", "Net 15"), by_name(us, "Term", "Due on receipt")
    inv = ok(post(us, "Invoice", who["Id"], [line("1.00")], TxnDate="2026-11-02",
                  SalesTermRef={"value": net15["Id"]}))["Invoice"]
    assert inv["SalesTermRef"] == {"value": net15["Id"], "name": "Net 15"}
    assert inv["DueDate"] == "2026-11-17"
    explicit = ok(post(us, "Invoice", who["Id"], [line("1.00")], TxnDate="2026-11-02", DueDate="2026-12-24",
                       SalesTermRef={"value": net15["Id"]}))["Invoice"]
    assert explicit["DueDate"] == "2026-12-24"
    default = ok(post(us, "Invoice", who["Id"], [line("1.00")], TxnDate="2026-11-02"))["Invoice"]
    assert default["DueDate"] == (date(2026, 11, 2) + timedelta(days=30)).isoformat()  # company default Net 30
    on_receipt = customer(us, SalesTermRef={"value": receipt["Id"]})
    own = ok(post(us, "Invoice", on_receipt["Id"], [line("1.00")], TxnDate="2026-11-02"))["Invoice"]
    assert own["DueDate"] == "2026-11-02"  # the customer's own term
    changed = ok(us.post("invoice", {"Id": inv["Id"], "SyncToken": inv["SyncToken"], "sparse": True,
                                     "SalesTermRef": {"value": by_name(us, "Term", "Net 60")["Id"]},
                                     "DueDate": None}))["Invoice"]
    assert changed["DueDate"] == "2027-01-01"
    missing = fault(post(us, "Invoice", who["Id"], [line("1.00")], SalesTermRef={"value": "987654"}))
    assert missing["code"] == "2500" and missing["element"] == "SalesTermRef"


def test_payment_method_is_checked_and_named(start_emulator: Start) -> None:
    us = kind_conn(start_emulator, "us-ast")
    who = customer(us)
    visa = by_name(us, "PaymentMethod", "Visa")
    paid = ok(us.post("payment", {"CustomerRef": {"value": who["Id"]}, "TotalAmt": "5.00",
                                  "PaymentMethodRef": {"value": visa["Id"]}}))["Payment"]
    assert paid["PaymentMethodRef"] == {"value": visa["Id"], "name": "Visa"}
    bad = fault(us.post("payment", {"CustomerRef": {"value": who["Id"]}, "TotalAmt": "5.00",
                                    "PaymentMethodRef": {"value": "424242"}}))
    assert bad["code"] == "2500" and bad["element"] == "PaymentMethodRef"


def test_class_and_department_are_checked_and_named(start_emulator: Start) -> None:
    us = kind_conn(start_emulator, "us-ast")
    who = customer(us)
    residential, north = by_name(us, "Class", "Residential"), by_name(us, "Department", "North")
    inv = ok(post(us, "Invoice", who["Id"], [line("1.00")], ClassRef={"value": residential["Id"]},
                  DepartmentRef={"value": north["Id"]}))["Invoice"]
    assert inv["ClassRef"] == {"value": residential["Id"], "name": "Residential"}
    assert inv["DepartmentRef"] == {"value": north["Id"], "name": "North"}
    assert fault(post(us, "Invoice", who["Id"], [line("1.00")], ClassRef={"value": "31337"}))["code"] == "2500"


def test_allowduplicatedocnum_lets_a_duplicate_number_through(start_emulator: Start) -> None:
    us = kind_conn(start_emulator, "us-ast")
    who = customer(us)
    first = ok(post(us, "Invoice", who["Id"], [line("1.00")], DocNumber="D-77"))["Invoice"]
    refused = fault(post(us, "Invoice", who["Id"], [line("2.00")], DocNumber="D-77"))
    assert refused["code"] == "6140"
    second = ok(post(us, "Invoice", who["Id"], [line("2.00")], DocNumber="D-77",
                     params={"include": "allowduplicatedocnum"}))["Invoice"]
    assert second["DocNumber"] == first["DocNumber"] and second["Id"] != first["Id"]
    assert fault(post(us, "Invoice", who["Id"], [line("3.00")], DocNumber="D-77"))["code"] == "6140"
    memo = ok(post(us, "CreditMemo", who["Id"], [line("1.00")], DocNumber="CM-1"))["CreditMemo"]
    assert fault(post(us, "CreditMemo", who["Id"], [line("1.00")], DocNumber="CM-1"))["code"] == "6140"
    assert memo["DocNumber"] == "CM-1"
