"""The deterministic seed company every fresh emulator starts with.

Chart of accounts (Income, Expense, Cost of Goods Sold, Bank, Other Current Asset with Undeposited
Funds, Accounts Receivable), a few items, customers chosen to be awkward (an apostrophe, an ampersand,
an inactive one, a parent with a sub-customer, one with no state, typographic quotes), a vendor and an
employee whose names a WORK client might also use, two invoices and a partial payment, CompanyInfo
and Preferences. Everything is stamped at one fixed instant so two fresh emulators are identical.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from .clock import COMPANY_TZ, FixedClock, stamp
from .company import Company
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


def company_info(realm: str, name: str) -> dict[str, Any]:
    addr = {"Id": "1", "Line1": "123 Sierra Way", "City": "San Pablo", "CountrySubDivisionCode": "CA",
            "PostalCode": "87999", "Country": "USA"}
    return {
        "CompanyName": name, "LegalName": name, "CompanyAddr": dict(addr), "CustomerCommunicationAddr": dict(addr),
        "LegalAddr": dict(addr), "PrimaryPhone": {}, "CompanyStartDate": "2026-01-01",
        "FiscalYearStartMonth": "January", "Country": "US", "Email": {"Address": "noreply@quickbooks.example"},
        "WebAddr": {}, "SupportedLanguages": "en",
        "NameValue": [{"Name": "NeoEnabled", "Value": "true"}, {"Name": "IndustryType", "Value": "Landscaping"},
                      {"Name": "CompanyType", "Value": "Other/None"},
                      {"Name": "OfferingSKU", "Value": "QuickBooks Online Plus"},
                      {"Name": "SubscriptionStatus", "Value": "SUBSCRIBED"},
                      {"Name": "ItemCategoriesFeature", "Value": "false"}],
        "domain": "QBO", "sparse": False, "Id": realm, "SyncToken": "1",
        "MetaData": {"CreateTime": stamp(SEED_TIME), "LastUpdatedTime": stamp(SEED_TIME)},
    }


def preferences() -> dict[str, Any]:
    return {
        "AccountingInfoPrefs": {"TrackDepartments": False, "ClassTrackingPerTxn": False,
                                "CustomerTerminology": "Customers", "BookCloseDate": None},
        "SalesFormsPrefs": {"CustomTxnNumbers": False, "AllowDeposit": False, "AllowDiscount": True,
                            "DefaultTerms": {"value": "3"}, "UsingPriceLevels": False,
                            "CustomField": [{"CustomField": [{"Name": "SalesFormsPrefs.UseSalesCustom1",
                                                              "Type": "BooleanType", "BooleanValue": True}]}]},
        "ProductAndServicesPrefs": {"ForSales": True, "ForPurchase": True, "QuantityWithPriceAndRate": True,
                                    "QuantityOnHand": True},
        "SalesTaxPrefs": {"UsingSalesTax": False},
        "CurrencyPrefs": {"MultiCurrencyEnabled": False, "HomeCurrency": {"value": "USD"}},
        "TimeTrackingPrefs": {"UseServices": True, "BillCustomers": True, "WorkWeekStartDate": "Monday"},
        "OtherPrefs": {"NameValue": [{"Name": "SalesFormsPrefs.DefaultCustomerMessage",
                                      "Value": "Thank you for your business."}]},
        "domain": "QBO", "sparse": False, "Id": "1", "SyncToken": "1",
        "MetaData": {"CreateTime": stamp(SEED_TIME), "LastUpdatedTime": stamp(SEED_TIME)},
    }


def seed_company(store: Store, realm: str, name: str) -> None:
    """Create the seed company in ``store`` (which must not hold ``realm`` yet)."""
    company = Company(store, FixedClock(SEED_TIME), realm)
    with store.transaction():
        mtime = SEED_TIME.timestamp()
        store.put(realm, "CompanyInfo", company_info(realm, name), mtime)
        store.put(realm, "Preferences", preferences(), mtime)
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
        company.create_invoice({
            "CustomerRef": {"value": "1"}, "TxnDate": "2025-12-10", "DocNumber": "1001",
            "Line": [{"Amount": Decimal("150.00"), "DetailType": "SalesItemLineDetail",
                      "SalesItemLineDetail": {"ItemRef": {"value": "2"}, "Qty": 2, "UnitPrice": Decimal("75")}}]})
        company.create_invoice({
            "CustomerRef": {"value": "7"}, "TxnDate": "2025-12-20", "DocNumber": "1002",
            "Line": [{"Amount": Decimal("274.50"), "DetailType": "SalesItemLineDetail", "Description": "Design work",
                      "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]})
        company.create_payment({
            "CustomerRef": {"value": "1"}, "TotalAmt": Decimal("100.00"), "TxnDate": "2025-12-28",
            "Line": [{"Amount": Decimal("100.00"), "LinkedTxn": [{"TxnId": "1", "TxnType": "Invoice"}]}]})
        # the inactive customer was deactivated after it was created
        old = store.get(realm, "Customer", "5")
        assert old is not None and old["Active"] is False
