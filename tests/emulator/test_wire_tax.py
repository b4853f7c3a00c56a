"""Sales tax per company kind, over real HTTP (emulator/tax.py; the rate table is in emulator/kinds.py).

US AST: rates from the ship-to state (else billing, else the company's: CA), TAX/NON lines, an explicit
TotalTax honoured and prorated, no recomputation on update unless TxnTaxDetail is cleared. US manual:
one TxnTaxCodeRef. UK, CA, AU: a real TaxCode on every line, TAX/NON refused naming the line,
TaxExcluded and TaxInclusive, rounding per rate on the sum of that rate's lines, half-up.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal

import pytest
from kindkit import D, by_name, code_id, customer, fault, kind_conn, line, ok, post, read, tax_lines

from qbo_toolkit.emulator import EmulatorServer

Start = Callable[..., EmulatorServer]
NY = {"Line1": "1 Broadway", "City": "New York", "CountrySubDivisionCode": "NY", "PostalCode": "10004"}
TX = {"Line1": "1 Main St", "City": "Austin", "CountrySubDivisionCode": "TX", "PostalCode": "78701"}
OR = {"Line1": "1 Pine St", "City": "Portland", "CountrySubDivisionCode": "OR", "PostalCode": "97201"}


# -- US, automated sales tax -------------------------------------------------------------------------------

def test_us_ast_computes_from_the_ship_to_state_else_billing_else_company(start_emulator: Start) -> None:
    us = kind_conn(start_emulator, "us-ast")
    plain = customer(us)  # no address: the company's state (CA) applies
    lines = [line("100.00", code="TAX"), line("50.00", code="NON")]
    ca = ok(post(us, "Invoice", plain["Id"], lines))["Invoice"]
    assert D(ca["TxnTaxDetail"]["TotalTax"]) == Decimal("8.25")
    assert D(ca["TotalAmt"]) == Decimal("158.25") == D(ca["Balance"])
    assert tax_lines(ca) == {Decimal("7.25"): (Decimal("7.25"), Decimal("100.00")),
                             Decimal("1"): (Decimal("1.00"), Decimal("100.00"))}
    assert ca["TxnTaxDetail"]["TxnTaxCodeRef"]["value"]
    assert [ln["SalesItemLineDetail"]["TaxCodeRef"] for ln in ca["Line"][:2]] == [{"value": "TAX"}, {"value": "NON"}]

    tx = ok(post(us, "Invoice", plain["Id"], lines, ShipAddr=TX))["Invoice"]
    assert D(tx["TxnTaxDetail"]["TotalTax"]) == Decimal("8.25")
    spelled = ok(post(us, "Invoice", plain["Id"], lines, ShipAddr={**TX, "CountrySubDivisionCode": "Texas"}))
    assert D(spelled["Invoice"]["TxnTaxDetail"]["TotalTax"]) == Decimal("8.25")
    outside = ok(post(us, "Invoice", plain["Id"], lines, ShipAddr=OR))["Invoice"]
    assert D(outside["TxnTaxDetail"]["TotalTax"]) == 0 and "TaxLine" not in outside["TxnTaxDetail"]
    assert D(outside["TotalAmt"]) == Decimal("150.00")

    billed_ny = customer(us, BillAddr=NY)  # no ship-to: the billing address's state
    ny = ok(post(us, "Invoice", billed_ny["Id"], [line("100.00", code="TAX")]))["Invoice"]
    assert D(ny["TxnTaxDetail"]["TotalTax"]) == Decimal("8.88")  # 4.00 + 4.875 -> 4.88


def test_us_ast_untaxed_invoice_keeps_the_recorded_shape(start_emulator: Start) -> None:
    us = kind_conn(start_emulator, "us-ast")
    plain = customer(us)
    invoice = ok(post(us, "Invoice", plain["Id"], [line("75.00")]))["Invoice"]  # no code: NON
    assert invoice["TxnTaxDetail"] == {"TotalTax": 0}
    assert invoice["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "NON"}


def test_us_ast_honours_an_explicit_total_prorated_across_the_rates(start_emulator: Start) -> None:
    us = kind_conn(start_emulator, "us-ast")
    plain = customer(us)
    invoice = ok(post(us, "Invoice", plain["Id"], [line("100.00", code="TAX")], ShipAddr=NY,
                      TxnTaxDetail={"TotalTax": "9.00"}))["Invoice"]
    assert D(invoice["TxnTaxDetail"]["TotalTax"]) == Decimal("9.00")
    assert D(invoice["TotalAmt"]) == Decimal("109.00")
    # 9.00 x 4 / 8.875 = 4.056 -> 4.06; the last rate takes the remainder
    assert tax_lines(invoice) == {Decimal("4"): (Decimal("4.06"), Decimal("100.00")),
                                  Decimal("4.875"): (Decimal("4.94"), Decimal("100.00"))}


def test_us_ast_update_keeps_the_tax_unless_the_detail_is_cleared(start_emulator: Start) -> None:
    us = kind_conn(start_emulator, "us-ast")
    plain = customer(us)
    invoice = ok(post(us, "Invoice", plain["Id"], [line("100.00", code="TAX")]))["Invoice"]
    assert D(invoice["TxnTaxDetail"]["TotalTax"]) == Decimal("8.25")
    bigger = ok(us.post("invoice", {"Id": invoice["Id"], "SyncToken": invoice["SyncToken"], "sparse": True,
                                    "Line": [line("200.00", code="TAX")]}))["Invoice"]
    assert D(bigger["TxnTaxDetail"]["TotalTax"]) == Decimal("8.25")  # not recomputed
    assert D(bigger["TotalAmt"]) == Decimal("208.25")
    cleared = ok(us.post("invoice", {"Id": bigger["Id"], "SyncToken": bigger["SyncToken"], "sparse": True,
                                     "TxnTaxDetail": None}))["Invoice"]
    assert D(cleared["TxnTaxDetail"]["TotalTax"]) == Decimal("16.50")
    assert D(cleared["TotalAmt"]) == D(cleared["Balance"]) == Decimal("216.50")
    assert D(read(us, "Customer", plain["Id"])["Balance"]) == Decimal("216.50")


def test_us_ast_refuses_a_real_tax_code_on_a_line(start_emulator: Start) -> None:
    us = kind_conn(start_emulator, "us-ast")
    plain = customer(us)
    error = fault(post(us, "Invoice", plain["Id"], [line("10.00", code="TAX"), line("10.00", code="1")]))
    assert error["code"] == "6000"
    assert error["element"] == "Line[1].SalesItemLineDetail.TaxCodeRef"
    assert "Line 2" in error["Detail"]


# -- US, manual tax codes ----------------------------------------------------------------------------------

def test_us_manual_takes_one_code_per_transaction(start_emulator: Start) -> None:
    us = kind_conn(start_emulator, "us-manual")
    prefs = ok(us.get("preferences"))["Preferences"]
    assert prefs["TaxPrefs"]["PartnerTaxEnabled"] is False
    plain = customer(us)
    california, out_of_state = code_id(us, "California"), code_id(us, "Out of state")
    lines = [line("80.00", code="TAX"), line("20.00", code="NON")]
    taxed = ok(post(us, "Invoice", plain["Id"], lines, TxnTaxDetail={"TxnTaxCodeRef": {"value": california}}))
    detail = taxed["Invoice"]["TxnTaxDetail"]
    assert detail["TxnTaxCodeRef"] == {"value": california}
    assert D(detail["TotalTax"]) == Decimal("6.60")  # 8.25 % of 80.00
    assert D(taxed["Invoice"]["TotalAmt"]) == Decimal("106.60")
    zero = ok(post(us, "Invoice", plain["Id"], lines, TxnTaxDetail={"TxnTaxCodeRef": {"value": out_of_state}}))
    assert D(zero["Invoice"]["TxnTaxDetail"]["TotalTax"]) == 0
    missing = fault(post(us, "Invoice", plain["Id"], lines))
    assert missing["code"] == "6000" and missing["element"] == "TxnTaxDetail.TxnTaxCodeRef"
    unknown = fault(post(us, "Invoice", plain["Id"], lines, TxnTaxDetail={"TxnTaxCodeRef": {"value": "999"}}))
    assert unknown["code"] == "2500" and unknown["element"] == "TxnTaxDetail.TxnTaxCodeRef"
    untaxed = ok(post(us, "Invoice", plain["Id"], [line("20.00", code="NON")]))  # nothing taxable: no code needed
    assert D(untaxed["Invoice"]["TotalAmt"]) == Decimal("20.00")


# -- outside the US ----------------------------------------------------------------------------------------

def test_uk_refuses_pseudo_and_missing_codes_naming_the_line(start_emulator: Start) -> None:
    uk = kind_conn(start_emulator, "uk")
    plain = customer(uk)
    standard = code_id(uk, "20.0% S")
    for bad in ("TAX", "NON"):
        error = fault(post(uk, "Invoice", plain["Id"], [line("10.00", code=standard), line("5.00", code=bad)]))
        assert error["code"] == "6000", error
        assert error["element"] == "Line[1].SalesItemLineDetail.TaxCodeRef"
        assert "Line 2" in error["Detail"] and bad in error["Detail"]
    missing = fault(post(uk, "Invoice", plain["Id"], [line("10.00")]))
    assert missing["code"] == "6000" and missing["element"] == "Line[0].SalesItemLineDetail.TaxCodeRef"
    unknown = fault(post(uk, "Invoice", plain["Id"], [line("10.00", code="777")]))
    assert unknown["code"] == "2500"


def test_uk_rounds_per_rate_on_the_sum_of_its_lines(start_emulator: Start) -> None:
    uk = kind_conn(start_emulator, "uk")
    plain = customer(uk)
    standard, exempt = code_id(uk, "20.0% S"), code_id(uk, "Exempt")
    lines = [line("33.33", code=standard) for _ in range(3)] + [line("12.00", code=exempt)]
    invoice = ok(post(uk, "Invoice", plain["Id"], lines))["Invoice"]
    # 99.99 x 20 % = 19.998 -> 20.00 (line by line it would be 3 x 6.67 = 20.01)
    assert D(invoice["TxnTaxDetail"]["TotalTax"]) == Decimal("20.00")
    assert D(invoice["TotalAmt"]) == Decimal("131.99")
    assert tax_lines(invoice)[Decimal("20")] == (Decimal("20.00"), Decimal("99.99"))
    assert invoice["GlobalTaxCalculation"] == "TaxExcluded"
    assert invoice["CurrencyRef"]["value"] == "GBP"


def test_uk_tax_inclusive_amounts(start_emulator: Start) -> None:
    uk = kind_conn(start_emulator, "uk")
    plain = customer(uk)
    standard, reduced = code_id(uk, "20.0% S"), code_id(uk, "5.0% R")
    invoice = ok(post(uk, "Invoice", plain["Id"], [line("120.00", code=standard), line("21.00", code=reduced)],
                      GlobalTaxCalculation="TaxInclusive"))["Invoice"]
    assert invoice["GlobalTaxCalculation"] == "TaxInclusive"
    assert D(invoice["TotalAmt"]) == Decimal("141.00")  # the lines already include the tax
    assert D(invoice["TxnTaxDetail"]["TotalTax"]) == Decimal("21.00")
    assert tax_lines(invoice) == {Decimal("20"): (Decimal("20.00"), Decimal("100.00")),
                                  Decimal("5"): (Decimal("1.00"), Decimal("20.00"))}
    bad = fault(post(uk, "Invoice", plain["Id"], [line("1.00", code=standard)], GlobalTaxCalculation="Sometimes"))
    assert bad["code"] == "2170"


@pytest.mark.parametrize(("kind", "country", "currency", "codes"), [
    ("ca", "CA", "CAD", {"GST": "5", "HST ON": "13", "Zero-rated": "0", "Exempt": "0"}),
    ("au", "AU", "AUD", {"GST": "10", "GST free": "0"}),
])
def test_ca_and_au_codes_compute_their_rates(start_emulator: Start, kind: str, country: str, currency: str,
                                             codes: dict[str, str]) -> None:
    conn = kind_conn(start_emulator, kind)
    assert ok(conn.get(f"companyinfo/{conn.realm}"))["CompanyInfo"]["Country"] == country
    plain = customer(conn)
    refused = fault(post(conn, "Invoice", plain["Id"], [line("10.00", code="TAX")]))
    assert refused["code"] == "6000"
    for name, rate in codes.items():  # 250.10 x 5 % = 12.505: half-up gives 12.51
        invoice = ok(post(conn, "Invoice", plain["Id"], [line("250.10", code=code_id(conn, name))]))["Invoice"]
        expected = (Decimal("250.10") * Decimal(rate) / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        assert D(invoice["TxnTaxDetail"]["TotalTax"]) == expected, name
        assert D(invoice["TotalAmt"]) == Decimal("250.10") + expected
        assert invoice["CurrencyRef"]["value"] == currency


@pytest.mark.parametrize("entity", ["SalesReceipt", "RefundReceipt", "CreditMemo"])
def test_other_sales_forms_follow_the_same_tax_rules(start_emulator: Start, entity: str) -> None:
    uk = kind_conn(start_emulator, "uk")
    plain = customer(uk)
    checking = by_name(uk, "Account", "Checking")
    extra = {} if entity == "CreditMemo" else {"DepositToAccountRef": {"value": checking["Id"]}}
    assert fault(post(uk, entity, plain["Id"], [line("10.00", code="TAX")], **extra))["code"] == "6000"
    doc = ok(post(uk, entity, plain["Id"], [line("10.00", code=code_id(uk, "20.0% S"))], **extra))[entity]
    assert D(doc["TxnTaxDetail"]["TotalTax"]) == Decimal("2.00") and D(doc["TotalAmt"]) == Decimal("12.00")
    us = kind_conn(start_emulator, "us-ast")
    buyer = customer(us)
    us_extra = {} if entity == "CreditMemo" else {
        "DepositToAccountRef": {"value": by_name(us, "Account", "Undeposited Funds")["Id"]}}
    taxed = ok(post(us, entity, buyer["Id"], [line("10.00", code="TAX")], ShipAddr=TX, **us_extra))[entity]
    assert D(taxed["TxnTaxDetail"]["TotalTax"]) == Decimal("0.83")  # TX 6.25 % + 2 % of 10.00: 0.63 + 0.20
    if entity != "CreditMemo":
        assert D(taxed["Balance"]) == 0 and D(read(us, "Customer", buyer["Id"])["Balance"]) == 0


def test_voiding_a_taxed_invoice_clears_its_tax(start_emulator: Start) -> None:
    us = kind_conn(start_emulator, "us-ast")
    plain = customer(us)
    invoice = ok(post(us, "Invoice", plain["Id"], [line("100.00", code="TAX")]))["Invoice"]
    assert D(read(us, "Customer", plain["Id"])["Balance"]) == Decimal("108.25")
    voided = ok(us.post("invoice", {"Id": invoice["Id"], "SyncToken": invoice["SyncToken"]},
                        params={"operation": "void"}))["Invoice"]
    assert voided["TxnTaxDetail"] == {"TotalTax": 0}
    assert D(voided["TotalAmt"]) == 0 and D(read(us, "Customer", plain["Id"])["Balance"]) == 0
