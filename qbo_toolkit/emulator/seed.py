"""The deterministic seed company every fresh emulator starts with.

Chart of accounts (Income, Expense, Cost of Goods Sold, Bank, Other Current Asset with Undeposited
Funds, Accounts Receivable), a few items, customers chosen to be awkward (an apostrophe, an ampersand,
an inactive one, a parent with a sub-customer, one with no state, typographic quotes), a vendor and an
employee whose names a WORK client might also use, two invoices and a partial payment, CompanyInfo
and Preferences, and per company kind (``kinds.py``) its tax agencies, rates and codes, with the
terms, payment methods, classes and departments every kind has. Everything is stamped at one fixed
instant so two fresh emulators are identical.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from .clock import COMPANY_TZ, FixedClock, stamp
from .company import Company
from .entities import default_preferences
from .kinds import DEFAULT_KIND, KIND_NS, CompanyKind, get_kind
from .store import Store

SEED_TIME = datetime(2026, 1, 5, 9, 0, 0, tzinfo=COMPANY_TZ)
DEFAULT_REALM = "9341453050298464"
DEFAULT_COMPANY = "Larkspur Landscaping & Repair"


def _addr(line1: str, city: str, state: str | None, postal: str) -> dict[str, Any]:
    addr = {"Line1": line1, "City": city, "PostalCode": postal, "Country": "USA"}
    if state:
        addr["CountrySubDivisionCode"] = state
    return addr


ACCOUNTS = [
    {"Name": "Services", "AccountType": "Income", "AccountSubType": "ServiceFeeIncome"},
    {"Name": "Sales of Product Income", "AccountType": "Income", "AccountSubType": "SalesOfProductIncome"},
    {"Name": "Cost of Goods Sold", "AccountType": "Cost of Goods Sold", "AccountSubType": "SuppliesMaterialsCogs"},
    {"Name": "Undeposited Funds", "AccountType": "Other Current Asset", "AccountSubType": "UndepositedFunds"},
    {"Name": "Checking", "AccountType": "Bank", "AccountSubType": "Checking"},
    {"Name": "Savings", "AccountType": "Bank", "AccountSubType": "Savings"},
    {"Name": "Accounts Receivable (A/R)", "AccountType": "Accounts Receivable",
     "AccountSubType": "AccountsReceivable"},
    {"Name": "Job Supplies", "AccountType": "Expense", "AccountSubType": "SuppliesMaterials"},
    {"Name": "Subcontractor Costs", "AccountType": "Cost of Goods Sold", "AccountSubType": "CostOfLaborCos"},
    {"Name": "Landscaping Services", "AccountType": "Income", "AccountSubType": "ServiceFeeIncome"},
    {"Name": "Fees Billed", "AccountType": "Income", "AccountSubType": "ServiceFeeIncome", "Active": False},
]

ITEMS = [
    {"Name": "Services", "Type": "Service", "IncomeAccountRef": {"value": "1"}},
    {"Name": "Hours", "Type": "Service", "UnitPrice": Decimal("75"), "IncomeAccountRef": {"value": "1"},
     "ExpenseAccountRef": {"value": "9"}},
    {"Name": "Installation", "Type": "Service", "UnitPrice": Decimal("50"), "IncomeAccountRef": {"value": "10"},
     "ExpenseAccountRef": {"value": "9"}},
    {"Name": "Parts", "Type": "NonInventory", "IncomeAccountRef": {"value": "2"},
     "ExpenseAccountRef": {"value": "3"}, "Description": "Parts and materials"},
]

CUSTOMERS: list[dict[str, Any]] = [
    {"DisplayName": "Amy's Bird Sanctuary", "GivenName": "Amy", "FamilyName": "Lauterbach",
     "CompanyName": "Amy's Bird Sanctuary", "PrimaryEmailAddr": {"Address": "Birds@Intuit.com"},
     "PrimaryPhone": {"FreeFormNumber": "(650) 555-3311"}, "BillAddr": _addr("4581 Finch St.", "Bayshore", "CA",
                                                                             "94326"),
     "Notes": "Note: the apostrophe in this name must survive every query."},
    {"DisplayName": "Bill's Windsurf Shop", "GivenName": "Bill", "FamilyName": "Lucchini",
     "PrimaryEmailAddr": {"Address": "Surf@Intuit.com"}, "PrimaryPhone": {"FreeFormNumber": "(415) 444-6538"},
     "BillAddr": _addr("12 Ocean Dr.", "Half Moon Bay", "CA", "94213")},
    {"DisplayName": "Cool Cars", "GivenName": "Grace", "FamilyName": "Pariente",
     "PrimaryEmailAddr": {"Address": "Cool_Cars@intuit.com"}, "PrimaryPhone": {"FreeFormNumber": "(415) 555-9933"},
     "BillAddr": _addr("65 Ocean Dr.", "Half Moon Bay", "CA", "94213")},
    {"DisplayName": "Dukes Basketball Camp", "GivenName": "Peter", "FamilyName": "Dukes",
     "PrimaryEmailAddr": {"Address": "Dukes_bball@intuit.com"},
     "PrimaryPhone": {"FreeFormNumber": "(520) 420-5638"}, "BillAddr": _addr("25 Court St.", "Tucson", "AZ", "85719")},
    {"DisplayName": "Old Shed Co", "CompanyName": "Old Shed Co", "Active": False,
     "Notes": "Inactive customer: its name still blocks reuse."},
    {"DisplayName": "Shara Barnett", "GivenName": "Shara", "FamilyName": "Barnett",
     "PrimaryEmailAddr": {"Address": "Shara@Barnett.com"}, "PrimaryPhone": {"FreeFormNumber": "(650) 555-4563"},
     "BillAddr": _addr("77 University", "Palo Alto", "CA", "94303")},
    {"DisplayName": "Barnett Design", "CompanyName": "Barnett Design", "GivenName": "Shara", "FamilyName": "Barnett",
     "ParentRef": {"value": "6"}, "PrimaryEmailAddr": {"Address": "Design@intuit.com"},
     "BillAddr": _addr("19 Main St.", "Middlefield", "CA", "94303")},
    {"DisplayName": "Sushi by Katsuyuki", "GivenName": "Katsuyuki", "FamilyName": "Yanagawa",
     "PrimaryEmailAddr": {"Address": "Sushi@intuit.com"}, "PrimaryPhone": {"FreeFormNumber": "(505) 570-0147"},
     "BillAddr": _addr("898 Elm St.", "Maplewood", None, "07040"), "Notes": "No state on the address."},
    {"DisplayName": "O'Brien & Sons Plumbing", "GivenName": "Sean", "FamilyName": "O'Brien",
     "PrimaryEmailAddr": {"Address": "sean@obrien-plumbing.example"},
     "BillAddr": _addr("3 Harbour Rd.", "San Mateo", "CA", "94401")},
    {"DisplayName": "“Green Thumb” Gardens", "CompanyName": "“Green Thumb” Gardens",
     "PrimaryPhone": {"FreeFormNumber": "(650) 555-0199"},
     "BillAddr": _addr("450 Oak Ave.", "Redwood City", "CA", "94061")},
]

VENDORS = [
    {"DisplayName": "Norton Lumber and Building Materials", "CompanyName": "Norton Lumber and Building Materials",
     "PrimaryEmailAddr": {"Address": "Materials@intuit.com"}},
    {"DisplayName": "Cal Telephone", "CompanyName": "Cal Telephone"},
]

EMPLOYEES = [{"DisplayName": "Emily Platt", "GivenName": "Emily", "FamilyName": "Platt"}]


def company_info(realm: str, name: str, kind: CompanyKind | None = None) -> dict[str, Any]:
    kind = kind or get_kind(DEFAULT_KIND)
    line1, city, region, postal = kind.address
    addr = {"Id": "1", "Line1": line1, "City": city, "CountrySubDivisionCode": region,
            "PostalCode": postal, "Country": kind.country3}
    return {
        "CompanyName": name, "LegalName": name, "CompanyAddr": dict(addr), "CustomerCommunicationAddr": dict(addr),
        "LegalAddr": dict(addr), "PrimaryPhone": {}, "CompanyStartDate": "2026-01-01",
        "FiscalYearStartMonth": "January", "Country": kind.country, "Email": {"Address": "noreply@quickbooks.example"},
        "WebAddr": {}, "SupportedLanguages": "en",
        "NameValue": [{"Name": "NeoEnabled", "Value": "true"}, {"Name": "IndustryType", "Value": "Landscaping"},
                      {"Name": "CompanyType", "Value": "Other/None"},
                      {"Name": "OfferingSKU", "Value": "QuickBooks Online Plus"},
                      {"Name": "SubscriptionStatus", "Value": "SUBSCRIBED"},
                      {"Name": "ItemCategoriesFeature", "Value": "false"}],
        "domain": "QBO", "sparse": False, "Id": realm, "SyncToken": "1",
        "MetaData": {"CreateTime": stamp(SEED_TIME), "LastUpdatedTime": stamp(SEED_TIME)},
    }


def preferences(kind: CompanyKind | None = None) -> dict[str, Any]:
    """The kind's Preferences: every section QBO returns (``entities.default_preferences``) with the kind's
    tax (PartnerTaxEnabled only with AST), home currency, class and location tracking, Net 30 by default.

    ``AccountingInfoPrefs.BookCloseDate`` is absent: the books are open until a Preferences update sets it.
    """
    kind = kind or get_kind(DEFAULT_KIND)
    prefs = default_preferences(stamp(SEED_TIME))
    prefs["AccountingInfoPrefs"].update({"ClassTrackingPerTxn": True, "TrackDepartments": True})
    prefs["AccountingInfoPrefs"].pop("BookCloseDate", None)
    prefs["SalesFormsPrefs"]["DefaultTerms"] = {"value": TERM_IDS["Net 30"]}
    prefs["TaxPrefs"] = {"UsingSalesTax": True, "PartnerTaxEnabled": kind.partner_tax,
                         **({} if kind.partner_tax else {"TaxGroupCodeRef": {"value": "1"}})}
    prefs["CurrencyPrefs"] = {"MultiCurrencyEnabled": False,
                              "HomeCurrency": {"value": kind.currency, "name": kind.currency_name}}
    return prefs


#: every kind's Terms, PaymentMethods, Classes and Departments (Ids in this order, from 1)
TERMS = [("Due on receipt", 0), ("Net 15", 15), ("Net 30", 30), ("Net 60", 60)]
TERM_IDS = {name: str(i) for i, (name, _) in enumerate(TERMS, start=1)}
PAYMENT_METHODS = [("Cash", "NON_CREDIT_CARD"), ("Check", "NON_CREDIT_CARD"), ("Credit Card", "CREDIT_CARD"),
                   ("Visa", "CREDIT_CARD"), ("MasterCard", "CREDIT_CARD"), ("American Express", "CREDIT_CARD"),
                   ("Direct Debit", "NON_CREDIT_CARD")]
CLASSES = ["Residential", "Commercial"]
DEPARTMENTS = ["North", "South"]


def _list_doc(company: Company, entity: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {"domain": "QBO", "sparse": False, "Id": company._new_id(entity), "SyncToken": "0", **fields,
            "MetaData": {"CreateTime": stamp(SEED_TIME), "LastUpdatedTime": stamp(SEED_TIME)}}


def seed_lists(store: Store, company: Company, kind: CompanyKind, mtime: float) -> None:
    """TaxAgency, TaxRate, TaxCode (the kind's), Term, PaymentMethod, Class and Department records."""
    realm = company.realm
    agency_ids: dict[str, str] = {}
    for name in kind.agencies:
        doc = _list_doc(company, "TaxAgency", {"DisplayName": name, "TaxTrackedOnSales": True,
                                               "TaxTrackedOnPurchases": not kind.us})
        agency_ids[name] = doc["Id"]
        store.put(realm, "TaxAgency", doc, mtime)
    rate_ids: dict[str, str] = {}
    for rate in kind.rates:
        doc = _list_doc(company, "TaxRate", {
            "Name": rate.name, "Description": rate.name, "Active": True, "RateValue": rate.percent,
            "AgencyRef": {"value": agency_ids[rate.agency]}, "SpecialTaxType": "NONE",
            "DisplayType": "ReadOnly",
            "EffectiveTaxRate": [{"RateValue": rate.percent, "EffectiveDate": "2020-01-01T00:00:00-08:00"}]})
        rate_ids[rate.name] = doc["Id"]
        store.put(realm, "TaxRate", doc, mtime)
    for code in kind.codes:
        details = [{"TaxRateRef": {"value": rate_ids[r], "name": r}, "TaxTypeApplicable": "TaxOnAmount",
                    "TaxOrder": 0} for r in code.rates]
        doc = _list_doc(company, "TaxCode", {
            "Name": code.name, "Description": code.description, "Active": True, "Hidden": False,
            "Taxable": code.taxable, "TaxGroup": len(code.rates) > 1,
            "SalesTaxRateList": {"TaxRateDetail": details}, "PurchaseTaxRateList": {"TaxRateDetail": []}})
        store.put(realm, "TaxCode", doc, mtime)
    for name, days in TERMS:
        store.put(realm, "Term", _list_doc(company, "Term", {
            "Name": name, "Active": True, "Type": "STANDARD", "DueDays": days, "DiscountDays": 0,
            "DiscountPercent": 0}), mtime)
    for name, method_type in PAYMENT_METHODS:
        store.put(realm, "PaymentMethod", _list_doc(company, "PaymentMethod", {
            "Name": name, "Active": True, "Type": method_type}), mtime)
    for name in CLASSES:
        store.put(realm, "Class", _list_doc(company, "Class", {
            "Name": name, "SubClass": False, "FullyQualifiedName": name, "Active": True}), mtime)
    for name in DEPARTMENTS:
        store.put(realm, "Department", _list_doc(company, "Department", {
            "Name": name, "SubDepartment": False, "FullyQualifiedName": name, "Active": True}), mtime)


def _seed_line(kind: CompanyKind, company: Company) -> dict[str, Any]:
    """The tax code of the seed invoices' lines: NON in the US, the zero rate elsewhere (same balances)."""
    if kind.us:
        return {"value": "NON"}
    zero = next(c for c in company.all("TaxCode") if c["Taxable"] and all(
        company.get("TaxRate", d["TaxRateRef"]["value"])["RateValue"] == 0  # type: ignore[index]
        for d in c["SalesTaxRateList"]["TaxRateDetail"]))
    return {"value": zero["Id"]}


def seed_company(store: Store, realm: str, name: str, kind_name: str = DEFAULT_KIND) -> None:
    """Create the seed company of kind ``kind_name`` in ``store`` (which must not hold ``realm`` yet)."""
    kind = get_kind(kind_name)
    with store.transaction():
        store.kv_put(KIND_NS, realm, kind.name)
        company = Company(store, FixedClock(SEED_TIME), realm)
        mtime = SEED_TIME.timestamp()
        store.put(realm, "CompanyInfo", company_info(realm, name, kind), mtime)
        store.put(realm, "Preferences", preferences(kind), mtime)
        seed_lists(store, company, kind, mtime)
        for account in ACCOUNTS:
            company.create_account(account)
        for item in ITEMS:
            company.create_item(item)
        for customer in CUSTOMERS:
            company.create_person("Customer", customer)
        for vendor in VENDORS:
            company.create_person("Vendor", vendor)
        for employee in EMPLOYEES:
            company.create_person("Employee", employee)
        code = _seed_line(kind, company)
        company.create_invoice({
            "CustomerRef": {"value": "1"}, "TxnDate": "2025-12-10", "DocNumber": "1001",
            "Line": [{"Amount": Decimal("150.00"), "DetailType": "SalesItemLineDetail",
                      "SalesItemLineDetail": {"ItemRef": {"value": "2"}, "Qty": 2, "UnitPrice": Decimal("75"),
                                              "TaxCodeRef": dict(code)}}]})
        company.create_invoice({
            "CustomerRef": {"value": "7"}, "TxnDate": "2025-12-20", "DocNumber": "1002",
            "Line": [{"Amount": Decimal("274.50"), "DetailType": "SalesItemLineDetail", "Description": "Design work",
                      "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "TaxCodeRef": dict(code)}}]})
        company.create_payment({
            "CustomerRef": {"value": "1"}, "TotalAmt": Decimal("100.00"), "TxnDate": "2025-12-28",
            "Line": [{"Amount": Decimal("100.00"), "LinkedTxn": [{"TxnId": "1", "TxnType": "Invoice"}]}]})
        # the inactive customer was deactivated after it was created
        old = store.get(realm, "Customer", "5")
        assert old is not None and old["Active"] is False
