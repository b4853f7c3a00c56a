"""What each emulated entity accepts: writable fields, read-only fields and name-list behaviour.

A field outside ``writable | readonly`` is refused with fault 2010, as QBO refuses unknown properties.
Read-only fields are accepted and ignored, because python-quickbooks sends back everything it read.

Every standard QBO entity has a spec here (``STANDARD_ENTITIES``, Intuit's list). The entities with
hand-written rules (Customer, Vendor, Employee, Item, Account, Invoice, Payment) are handled in
``company.py``; every other entity is handled by the generic engine in ``entities.py`` from its spec:

* ``operations``: what the API allows besides read and query (``create``, ``update``, ``delete``,
  ``void``); an entity without any is read-only (TaxCode, TaxRate, CustomerType, ...).
* ``required``: top-level fields a create (and a full update) must carry (2020 naming the field).
* ``refs``: top-level reference fields and the entity they point to (2500 when the Id does not exist).
* ``line_refs``: per line ``DetailType``, the references inside the detail object.
* ``unique``: the name field that is unique within the entity, ignoring case (6240).
* ``total``: how ``TotalAmt`` is computed: ``"lines"`` (the lines' amounts, less discounts, plus
  ``TxnTaxDetail.TotalTax``), ``"debits"`` (a journal entry's debit lines) or ``""`` (as sent / none).
* ``cdc``: whether change data capture covers it (Intuit's CDC page lists TaxCode, TaxRate, TaxAgency and
  TimeActivity as not covered; the Singer tap quotes the same list).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

_COMMON_RO = frozenset({"Id", "SyncToken", "MetaData", "domain", "sparse", "status", "time"})

_PERSON_NAMES = frozenset({"Title", "GivenName", "MiddleName", "FamilyName", "Suffix", "DisplayName",
                           "PrintOnCheckName", "CompanyName"})
_CONTACT = frozenset({"PrimaryEmailAddr", "PrimaryPhone", "AlternatePhone", "Mobile", "Fax", "WebAddr"})


@dataclass(frozen=True)
class EntitySpec:
    name: str
    writable: frozenset[str]
    readonly: frozenset[str]
    name_list: bool = False
    deletable: bool = False
    voidable: bool = False
    operations: frozenset[str] = frozenset()
    required: tuple[str, ...] = ()
    refs: Mapping[str, str] = field(default_factory=dict)
    line_refs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    unique: str | None = None
    total: str = ""
    cdc: bool = True
    transaction: bool = False

    @property
    def known(self) -> frozenset[str]:
        return self.writable | self.readonly | _COMMON_RO


CUSTOMER = EntitySpec(
    "Customer",
    writable=_PERSON_NAMES | _CONTACT | frozenset({
        "BillAddr", "ShipAddr", "Notes", "Active", "Job", "BillWithParent", "ParentRef", "Taxable",
        "DefaultTaxCodeRef", "SalesTermRef", "PaymentMethodRef", "PreferredDeliveryMethod", "ResaleNum",
        "CurrencyRef", "Balance", "OpenBalanceDate", "PrimaryTaxIdentifier", "SecondaryTaxIdentifier",
        "ARAccountRef", "TaxExemptionReasonId", "BusinessNumber", "GSTIN", "GSTRegistrationType",
        "CustomerTypeRef", "Source",
    }),
    readonly=frozenset({"FullyQualifiedName", "Level", "BalanceWithJobs", "IsProject", "V4IDPseudonym"}),
    name_list=True,
)

INVOICE = EntitySpec(
    "Invoice",
    writable=frozenset({
        "DocNumber", "TxnDate", "DueDate", "ShipDate", "TrackingNum", "CustomerRef", "Line", "TxnTaxDetail",
        "SalesTermRef", "CustomerMemo", "PrivateNote", "BillAddr", "ShipAddr", "ShipFromAddr", "BillEmail",
        "BillEmailCc", "BillEmailBcc", "EmailStatus", "PrintStatus", "ApplyTaxAfterDiscount",
        "GlobalTaxCalculation", "CurrencyRef", "ExchangeRate", "CustomField", "Deposit", "DepositToAccountRef",
        "AllowIPNPayment", "AllowOnlinePayment", "AllowOnlineCreditCardPayment", "AllowOnlineACHPayment",
        "ClassRef", "DepartmentRef", "ShipMethodRef", "TaxExemptionRef", "FreeFormAddress", "TransactionLocationType",
        "ProjectRef", "RecurDataRef",
    }),
    readonly=frozenset({"TotalAmt", "Balance", "HomeBalance", "HomeTotalAmt", "LinkedTxn", "InvoiceLink",
                        "DeliveryInfo", "EInvoiceStatus", "TxnSource"}),
    deletable=True,
    voidable=True,
)

PAYMENT = EntitySpec(
    "Payment",
    writable=frozenset({
        "CustomerRef", "TotalAmt", "TxnDate", "PaymentRefNum", "PaymentMethodRef", "DepositToAccountRef",
        "PrivateNote", "Line", "CurrencyRef", "ExchangeRate", "ARAccountRef", "ProcessPayment",
        "CreditCardPayment", "TxnSource", "ProjectRef", "TransactionLocationType", "TaxExemptionRef",
    }),
    readonly=frozenset({"UnappliedAmt", "TxnStatus", "LinkedTxn"}),
    deletable=True,
    voidable=True,
)

ITEM = EntitySpec(
    "Item",
    writable=frozenset({
        "Name", "Type", "Description", "UnitPrice", "IncomeAccountRef", "ExpenseAccountRef", "AssetAccountRef",
        "PurchaseCost", "PurchaseDesc", "Taxable", "SalesTaxCodeRef", "PurchaseTaxCodeRef", "Sku", "Active",
        "SubItem", "ParentRef", "TrackQtyOnHand", "QtyOnHand", "InvStartDate", "SalesTaxIncluded",
        "PurchaseTaxIncluded", "AbatementRate", "ReverseChargeRate", "ServiceType", "ItemCategoryType",
    }),
    readonly=frozenset({"FullyQualifiedName", "Level"}),
    name_list=True,
)

ACCOUNT = EntitySpec(
    "Account",
    writable=frozenset({"Name", "AccountType", "AccountSubType", "AcctNum", "Description", "SubAccount",
                        "ParentRef", "Active", "CurrencyRef", "TaxCodeRef"}),
    readonly=frozenset({"FullyQualifiedName", "Classification", "CurrentBalance", "CurrentBalanceWithSubAccounts"}),
    name_list=True,
)

VENDOR = EntitySpec(
    "Vendor",
    writable=_PERSON_NAMES | _CONTACT | frozenset({
        "BillAddr", "Active", "AcctNum", "Vendor1099", "TaxIdentifier", "TaxReportingBasis", "BillRate",
        "CurrencyRef", "APAccountRef", "TermRef", "OtherContactInfo",
    }),
    readonly=frozenset({"Balance"}),
    name_list=True,
)

EMPLOYEE = EntitySpec(
    "Employee",
    writable=_PERSON_NAMES | frozenset({
        "PrimaryAddr", "PrimaryEmailAddr", "PrimaryPhone", "Mobile", "Active", "EmployeeNumber", "SSN",
        "BillableTime", "BillRate", "CostRate", "BirthDate", "Gender", "HiredDate", "ReleasedDate",
        "Organization", "EmailAddress",
    }) - {"CompanyName"},
    readonly=frozenset(),
    name_list=True,
)


COMPANY_INFO = EntitySpec("CompanyInfo", writable=frozenset(), readonly=frozenset())
PREFERENCES = EntitySpec("Preferences", writable=frozenset(), readonly=frozenset())

# -- the entities handled by the generic engine (entities.py) --------------------------------------------

_CRUD = frozenset({"create", "update", "delete"})
_CU = frozenset({"create", "update"})
_NAME_RO = frozenset({"FullyQualifiedName"})
_TXN_COMMON = frozenset({"DocNumber", "TxnDate", "PrivateNote", "Line", "CurrencyRef", "ExchangeRate",
                         "DepartmentRef", "TxnSource", "CustomField", "AttachableRef", "TransactionLocationType",
                         "ProjectRef", "RecurDataRef", "RecurringInfo"})
_TXN_RO = frozenset({"TotalAmt", "HomeTotalAmt", "Balance", "HomeBalance", "LinkedTxn", "TxnStatus"})
_SALES = _TXN_COMMON | frozenset({
    "CustomerRef", "TxnTaxDetail", "CustomerMemo", "BillAddr", "ShipAddr", "ShipFromAddr", "BillEmail",
    "BillEmailCc", "BillEmailBcc", "ClassRef", "ApplyTaxAfterDiscount", "GlobalTaxCalculation", "PrintStatus",
    "EmailStatus", "ShipMethodRef", "ShipDate", "TrackingNum", "SalesTermRef", "FreeFormAddress",
    "TaxExemptionRef", "DeliveryInfo",
})
_PURCHASE_LINES = {"AccountBasedExpenseLineDetail": {"AccountRef": "Account", "CustomerRef": "Customer",
                                                     "ClassRef": "Class"},
                   "ItemBasedExpenseLineDetail": {"ItemRef": "Item", "CustomerRef": "Customer", "ClassRef": "Class"}}
_SALES_LINES = {"SalesItemLineDetail": {"ItemRef": "Item", "ClassRef": "Class"},
                "GroupLineDetail": {"GroupItemRef": "Item"}, "DiscountLineDetail": {"DiscountAccountRef": "Account"}}
_SALES_REFS = {"CustomerRef": "Customer", "ClassRef": "Class", "DepartmentRef": "Department",
               "SalesTermRef": "Term"}


def _name_list(name: str, writable: set[str] | frozenset[str], *, unique: str = "Name", required: tuple[str, ...] = (),
               refs: Mapping[str, str] | None = None, operations: frozenset[str] = _CU,
               readonly: frozenset[str] = _NAME_RO, cdc: bool = True) -> EntitySpec:
    return EntitySpec(name, writable=frozenset(writable) | {"Active"}, readonly=readonly, name_list=True,
                      operations=operations, required=required or (unique,), refs=refs or {}, unique=unique, cdc=cdc)


def _txn(name: str, writable: frozenset[str], *, required: tuple[str, ...], refs: Mapping[str, str],
         line_refs: Mapping[str, Mapping[str, str]] | None = None, total: str = "lines",
         operations: frozenset[str] = _CRUD, readonly: frozenset[str] = _TXN_RO, cdc: bool = True) -> EntitySpec:
    return EntitySpec(name, writable=writable, readonly=readonly, operations=operations, required=required,
                      refs=refs, line_refs=line_refs or {}, total=total, transaction=True,
                      deletable="delete" in operations, voidable="void" in operations, cdc=cdc)


def _readonly(name: str, fields: set[str], *, name_list: bool = False, cdc: bool = True) -> EntitySpec:
    return EntitySpec(name, writable=frozenset(), readonly=frozenset(fields), name_list=name_list, cdc=cdc)


GENERIC_SPECS: tuple[EntitySpec, ...] = (
    _name_list("Class", {"Name", "SubClass", "ParentRef"}, refs={"ParentRef": "Class"}),
    _name_list("Department", {"Name", "SubDepartment", "ParentRef"}, refs={"ParentRef": "Department"}),
    _name_list("Term", {"Name", "Type", "DueDays", "DiscountDays", "DiscountPercent", "DayOfMonthDue",
                        "DueNextMonthDays", "DiscountDayOfMonth"}, readonly=frozenset()),
    _name_list("PaymentMethod", {"Name", "Type"}, readonly=frozenset()),
    _name_list("TaxAgency", {"DisplayName", "TaxRegistrationNumber", "TaxTrackedOnSales", "TaxTrackedOnPurchases",
                             "TaxAgencyConfig"}, unique="DisplayName", operations=frozenset({"create"}),
               readonly=frozenset({"LastFileDate", "TaxTrackedOnSales", "TaxTrackedOnPurchases"}), cdc=False),
    _name_list("CompanyCurrency", {"Code", "Name", "CustomField"}, unique="Code", readonly=frozenset()),
    _readonly("TaxCode", {"Name", "Description", "Active", "Hidden", "Taxable", "TaxGroup", "SalesTaxRateList",
                          "PurchaseTaxRateList", "TaxCodeConfigType"}, name_list=True, cdc=False),
    _readonly("TaxRate", {"Name", "Description", "Active", "RateValue", "AgencyRef", "SpecialTaxType",
                          "DisplayType", "EffectiveTaxRate", "TaxReturnLineRef", "OriginalTaxRate"},
              name_list=True, cdc=False),
    _readonly("CustomerType", {"Name", "Active"}, name_list=True),
    _readonly("Budget", {"Name", "StartDate", "EndDate", "BudgetType", "BudgetEntryType", "BudgetDetail", "Active"},
              name_list=True),
    _readonly("JournalCode", {"Name", "Type", "Description", "Active"}, name_list=True),
    _readonly("TaxPayment", {"PaymentDate", "PaymentAccountRef", "PaymentAmount", "Refund", "Description"}),
    _readonly("TaxClassification", {"Code", "Name", "Description", "Level", "ParentRef", "ApplicableTo"}),
    _readonly("ReimburseCharge", {"CustomerRef", "Line", "TxnDate", "Amount", "HasBeenInvoiced",
                                  "LinkedTxn", "CurrencyRef", "ExchangeRate", "PrivateNote"}),
    _txn("SalesReceipt", _SALES | {"PaymentMethodRef", "PaymentRefNum", "DepositToAccountRef", "CreditCardPayment"},
         required=("Line",), refs={**_SALES_REFS, "PaymentMethodRef": "PaymentMethod",
                                   "DepositToAccountRef": "Account"},
         line_refs=_SALES_LINES, operations=_CRUD | {"void"}),
    _txn("Estimate", _SALES | {"ExpirationDate", "AcceptedBy", "AcceptedDate", "DueDate", "TxnStatus"},
         required=("CustomerRef", "Line"), refs=_SALES_REFS, line_refs=_SALES_LINES,
         readonly=_TXN_RO - {"TxnStatus"}),
    _txn("CreditMemo", _SALES | {"PaymentMethodRef", "InvoiceRef"},
         required=("CustomerRef", "Line"), refs={**_SALES_REFS, "PaymentMethodRef": "PaymentMethod"},
         line_refs=_SALES_LINES, readonly=_TXN_RO | {"RemainingCredit"}),
    _txn("RefundReceipt", _SALES | {"PaymentMethodRef", "PaymentRefNum", "PaymentType", "DepositToAccountRef",
                                    "CheckPayment", "CreditCardPayment"},
         required=("Line", "DepositToAccountRef"),
         refs={**_SALES_REFS, "PaymentMethodRef": "PaymentMethod", "DepositToAccountRef": "Account"},
         line_refs=_SALES_LINES),
    _txn("Bill", _TXN_COMMON | {"VendorRef", "APAccountRef", "DueDate", "SalesTermRef", "VendorAddr",
                                "GlobalTaxCalculation", "TxnTaxDetail", "IncludeInAnnualTPAR"},
         required=("VendorRef", "Line"),
         refs={"VendorRef": "Vendor", "APAccountRef": "Account", "SalesTermRef": "Term",
               "DepartmentRef": "Department"}, line_refs=_PURCHASE_LINES),
    _txn("BillPayment", _TXN_COMMON | {"VendorRef", "APAccountRef", "PayType", "CheckPayment", "CreditCardPayment",
                                       "TotalAmt", "ProcessBillPayment"},
         required=("VendorRef", "PayType", "TotalAmt"),
         refs={"VendorRef": "Vendor", "APAccountRef": "Account", "DepartmentRef": "Department"},
         total="", operations=_CRUD | {"void"}, readonly=_TXN_RO - {"TotalAmt"}),
    _txn("PurchaseOrder", _TXN_COMMON | {"VendorRef", "APAccountRef", "DueDate", "SalesTermRef", "VendorAddr",
                                         "ShipAddr", "ShipMethodRef", "ClassRef", "POStatus", "Memo", "POEmail",
                                         "EmailStatus", "GlobalTaxCalculation", "TxnTaxDetail", "TaxCodeRef"},
         required=("VendorRef", "Line", "APAccountRef"),
         refs={"VendorRef": "Vendor", "APAccountRef": "Account", "SalesTermRef": "Term", "ClassRef": "Class",
               "DepartmentRef": "Department"}, line_refs=_PURCHASE_LINES),
    _txn("Purchase", _TXN_COMMON | {"AccountRef", "PaymentType", "EntityRef", "Credit", "PaymentMethodRef",
                                    "RemitToAddr", "PrintStatus", "GlobalTaxCalculation", "TxnTaxDetail",
                                    "PurchaseEx", "IncludeInAnnualTPAR"},
         required=("AccountRef", "PaymentType", "Line"),
         refs={"AccountRef": "Account", "PaymentMethodRef": "PaymentMethod", "DepartmentRef": "Department"},
         line_refs=_PURCHASE_LINES),
    _txn("VendorCredit", _TXN_COMMON | {"VendorRef", "APAccountRef", "GlobalTaxCalculation", "TxnTaxDetail",
                                        "IncludeInAnnualTPAR"},
         required=("VendorRef", "Line"),
         refs={"VendorRef": "Vendor", "APAccountRef": "Account", "DepartmentRef": "Department"},
         line_refs=_PURCHASE_LINES),
    _txn("JournalEntry", _TXN_COMMON | {"Adjustment", "TxnTaxDetail", "JournalCodeRef", "TaxRateRef"},
         required=("Line",), refs={"DepartmentRef": "Department"},
         line_refs={"JournalEntryLineDetail": {"AccountRef": "Account", "ClassRef": "Class",
                                               "DepartmentRef": "Department"}},
         total="debits"),
    _txn("Deposit", _TXN_COMMON | {"DepositToAccountRef", "CashBack", "GlobalTaxCalculation", "TxnTaxDetail"},
         required=("DepositToAccountRef", "Line"), refs={"DepositToAccountRef": "Account",
                                                         "DepartmentRef": "Department"},
         line_refs={"DepositLineDetail": {"AccountRef": "Account", "ClassRef": "Class",
                                          "PaymentMethodRef": "PaymentMethod"}}),
    _txn("Transfer", frozenset({"TxnDate", "PrivateNote", "Amount", "FromAccountRef", "ToAccountRef", "CurrencyRef",
                                "ExchangeRate", "TxnSource", "TransactionLocationType", "RecurDataRef"}),
         required=("FromAccountRef", "ToAccountRef", "Amount"),
         refs={"FromAccountRef": "Account", "ToAccountRef": "Account"}, total="", readonly=frozenset()),
    _txn("CreditCardPayment", frozenset({"TxnDate", "PrivateNote", "Amount", "CreditCardAccountRef", "CurrencyRef",
                                         "BankAccountRef", "VendorRef", "Memo", "CheckNum", "PrintStatus"}),
         required=("CreditCardAccountRef", "BankAccountRef", "Amount"),
         refs={"CreditCardAccountRef": "Account", "BankAccountRef": "Account", "VendorRef": "Vendor"},
         total="", readonly=frozenset()),
    _txn("TimeActivity", frozenset({"TxnDate", "NameOf", "EmployeeRef", "VendorRef", "CustomerRef", "ItemRef",
                                    "ClassRef", "DepartmentRef", "PayrollItemRef", "BillableStatus", "Taxable",
                                    "HourlyRate", "CostRate", "Hours", "Minutes", "Seconds", "BreakHours",
                                    "BreakMinutes", "BreakSeconds", "StartTime", "EndTime", "Description",
                                    "AttachableRef", "ProjectRef", "TransactionLocationType"}),
         required=("NameOf",),
         refs={"EmployeeRef": "Employee", "VendorRef": "Vendor", "CustomerRef": "Customer", "ItemRef": "Item",
               "ClassRef": "Class", "DepartmentRef": "Department"}, total="", readonly=frozenset(), cdc=False),
    EntitySpec("Attachable", writable=frozenset({"FileName", "Note", "Category", "ContentType", "AttachableRef",
                                                 "Tag", "PlaceName", "Lat", "Long"}),
               readonly=frozenset({"FileAccessUri", "TempDownloadUri", "Size", "ThumbnailFileAccessUri",
                                   "ThumbnailTempDownloadUri"}),
               operations=_CRUD, deletable=True),
    EntitySpec("ExchangeRate", writable=frozenset({"SourceCurrencyCode", "TargetCurrencyCode", "Rate", "AsOfDate",
                                                   "CustomField"}),
               readonly=frozenset(), operations=_CU, required=("SourceCurrencyCode", "Rate")),
    EntitySpec("RecurringTransaction", writable=frozenset(), readonly=frozenset(), operations=_CRUD,
               deletable=True),
)

SPECS: dict[str, EntitySpec] = {
    s.name: s for s in (CUSTOMER, INVOICE, PAYMENT, ITEM, ACCOUNT, VENDOR, EMPLOYEE, COMPANY_INFO, PREFERENCES,
                        *GENERIC_SPECS)
}
#: Intuit's list of the Accounting API's entities: each is a valid query, batch Query and CDC context
STANDARD_ENTITIES = tuple(sorted(SPECS))
#: the entities company.py handles with its own rules (every other one goes through entities.py)
HAND_WRITTEN = frozenset({"Customer", "Vendor", "Employee", "Item", "Account", "Invoice", "Payment"})
# URL segment (lower case) -> entity name
BY_SEGMENT: dict[str, str] = {name.lower(): name for name in SPECS}
NAME_ENTITIES = ("Customer", "Vendor", "Employee")
#: the entity types a RecurringTransaction can hold (one per record)
RECURRING_KINDS = ("Bill", "Purchase", "CreditMemo", "Deposit", "Estimate", "Invoice", "JournalEntry",
                   "RefundReceipt", "SalesReceipt", "Transfer", "VendorCredit", "PurchaseOrder")
