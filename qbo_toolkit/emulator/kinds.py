"""The kinds of company the emulator can be started as (``--company KIND``), and their tax set-up.

A real QBO company's sales tax depends on where it is: a US company created since Nov 2017 has
Automated Sales Tax (AST: the tax comes from the ship-to address, lines say only ``TAX``/``NON``),
an older US company has manual tax codes (one per transaction), and a UK, Canadian or Australian
company has VAT/GST codes that every line must carry (``../shared/qbo/API_FACTS_2025.md``, "Sales
tax"). Each kind seeds its own TaxAgency, TaxRate and TaxCode records, country and currency.

``us-ast`` is the default and the demo's company. Its rate table is small and documented here (not
real rates for any address: a stand-in with two rates per state, so that an explicit TotalTax has
something to be prorated across):

========  ============================================  =======
State     Rates (TaxRate names)                          Total
========  ============================================  =======
CA        California 7.25 %, CA district 1 %            8.25 %
NY        New York State 4 %, New York City 4.875 %     8.875 %
TX        Texas 6.25 %, TX local 2 %                    8.25 %
other     none                                          0 %
========  ============================================  =======
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

KIND_NAMES = ("us-ast", "us-manual", "uk", "ca", "au")
DEFAULT_KIND = "us-ast"
#: store key-value namespace remembering each realm's kind with its data (a data dir keeps its kind)
KIND_NS = "company-kind"


@dataclass(frozen=True)
class Rate:
    name: str
    percent: Decimal
    agency: str  # TaxAgency DisplayName


@dataclass(frozen=True)
class Code:
    name: str
    description: str
    rates: tuple[str, ...]  # TaxRate names (sales)
    taxable: bool = True


@dataclass(frozen=True)
class CompanyKind:
    name: str
    country: str  # CompanyInfo.Country (ISO-2, as QBO's CompanyInfo prints it)
    country3: str  # address Country (ISO-3, as QBO prints addresses since Oct 2025)
    currency: str
    currency_name: str
    address: tuple[str, str, str, str]  # Line1, City, CountrySubDivisionCode, PostalCode
    agencies: tuple[str, ...]
    rates: tuple[Rate, ...]
    codes: tuple[Code, ...]
    partner_tax: bool = False  # Preferences.TaxPrefs.PartnerTaxEnabled (AST)

    @property
    def us(self) -> bool:
        return self.country == "US"

    @property
    def ast(self) -> bool:
        return self.name == "us-ast"

    @property
    def manual(self) -> bool:
        return self.name == "us-manual"


def _d(text: str) -> Decimal:
    return Decimal(text)


#: US AST: state -> TaxRate names applied to a ship-to address in that state (the table above)
AST_STATE_RATES: dict[str, tuple[str, ...]] = {
    "CA": ("California", "CA district"),
    "NY": ("New York State", "New York City"),
    "TX": ("Texas", "TX local"),
}

#: state names a ship-to address may spell out instead of the two-letter code
AST_STATE_NAMES = {"CALIFORNIA": "CA", "NEW YORK": "NY", "TEXAS": "TX"}

KINDS: dict[str, CompanyKind] = {
    "us-ast": CompanyKind(
        "us-ast", "US", "USA", "USD", "United States Dollar", ("123 Sierra Way", "San Pablo", "CA", "87999"),
        agencies=("California Department of Tax and Fee Administration", "New York State Department of Taxation",
                  "Texas Comptroller of Public Accounts"),
        rates=(Rate("California", _d("7.25"), "California Department of Tax and Fee Administration"),
               Rate("CA district", _d("1"), "California Department of Tax and Fee Administration"),
               Rate("New York State", _d("4"), "New York State Department of Taxation"),
               Rate("New York City", _d("4.875"), "New York State Department of Taxation"),
               Rate("Texas", _d("6.25"), "Texas Comptroller of Public Accounts"),
               Rate("TX local", _d("2"), "Texas Comptroller of Public Accounts")),
        codes=(Code("California", "CA 8.25 %", ("California", "CA district")),
               Code("New York", "NY 8.875 %", ("New York State", "New York City")),
               Code("Texas", "TX 8.25 %", ("Texas", "TX local"))),
        partner_tax=True),
    "us-manual": CompanyKind(
        "us-manual", "US", "USA", "USD", "United States Dollar", ("123 Sierra Way", "San Pablo", "CA", "87999"),
        agencies=("California Department of Tax and Fee Administration",),
        rates=(Rate("California", _d("8.25"), "California Department of Tax and Fee Administration"),
               Rate("Out of state", _d("0"), "California Department of Tax and Fee Administration")),
        codes=(Code("California", "California 8.25 %", ("California",)),
               Code("Out of state", "Out of state 0 %", ("Out of state",)))),
    "uk": CompanyKind(
        "uk", "GB", "GBR", "GBP", "British Pound Sterling", ("12 Kew Road", "Richmond", "Surrey", "TW9 2NA"),
        agencies=("HM Revenue & Customs",),
        rates=(Rate("20.0% S", _d("20"), "HM Revenue & Customs"), Rate("5.0% R", _d("5"), "HM Revenue & Customs"),
               Rate("0.0% Z", _d("0"), "HM Revenue & Customs"), Rate("Exempt", _d("0"), "HM Revenue & Customs")),
        codes=(Code("20.0% S", "Standard rated 20 %", ("20.0% S",)),
               Code("5.0% R", "Reduced rate 5 %", ("5.0% R",)),
               Code("0.0% Z", "Zero rated", ("0.0% Z",)),
               Code("Exempt", "Exempt", ("Exempt",), taxable=False))),
    "ca": CompanyKind(
        "ca", "CA", "CAN", "CAD", "Canadian Dollar", ("200 Bay Street", "Toronto", "ON", "M5J 2J1"),
        agencies=("Canada Revenue Agency",),
        rates=(Rate("GST", _d("5"), "Canada Revenue Agency"), Rate("HST ON", _d("13"), "Canada Revenue Agency"),
               Rate("Zero-rated", _d("0"), "Canada Revenue Agency"), Rate("Exempt", _d("0"), "Canada Revenue Agency")),
        codes=(Code("GST", "GST 5 %", ("GST",)), Code("HST ON", "HST Ontario 13 %", ("HST ON",)),
               Code("Zero-rated", "Zero-rated", ("Zero-rated",)),
               Code("Exempt", "Exempt", ("Exempt",), taxable=False))),
    "au": CompanyKind(
        "au", "AU", "AUS", "AUD", "Australian Dollar", ("1 George Street", "Sydney", "NSW", "2000"),
        agencies=("Australian Taxation Office",),
        rates=(Rate("GST", _d("10"), "Australian Taxation Office"),
               Rate("GST free", _d("0"), "Australian Taxation Office")),
        codes=(Code("GST", "GST 10 %", ("GST",)), Code("GST free", "GST free", ("GST free",)))),
}


def get_kind(name: str) -> CompanyKind:
    """The kind called ``name``; a ValueError naming the kinds there are otherwise."""
    kind = KINDS.get(str(name).strip().lower())
    if kind is None:
        raise ValueError(f"Unknown company kind {name!r}: choose one of {', '.join(KIND_NAMES)}.")
    return kind
