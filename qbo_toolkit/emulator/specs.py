"""What each emulated entity accepts: writable fields, read-only fields and name-list behaviour.

A field outside ``writable | readonly`` is refused with fault 2010, as QBO refuses unknown properties.
Read-only fields are accepted and ignored, because python-quickbooks sends back everything it read.
"""

from __future__ import annotations

from dataclasses import dataclass

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

SPECS: dict[str, EntitySpec] = {
    s.name: s for s in (CUSTOMER, INVOICE, PAYMENT, ITEM, ACCOUNT, VENDOR, EMPLOYEE, COMPANY_INFO, PREFERENCES)
}
# URL segment (lower case) -> entity name
BY_SEGMENT: dict[str, str] = {name.lower(): name for name in SPECS}
NAME_ENTITIES = ("Customer", "Vendor", "Employee")
