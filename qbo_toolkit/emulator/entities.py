"""The generic engine: create, read, update (full and sparse), delete and void for every entity whose
rules are its declarative spec (``specs.GENERIC_SPECS``), plus the few shapes that are not plain
entities: Preferences updates, TaxService, attachment uploads, ExchangeRate and RecurringTransaction.

What the engine checks, from the spec (the full accounting rules are not modelled for these):

* the input rules of ``company.py`` (``""``/null absent, read-only fields ignored, unknown fields with
  a value refused with 2010, objects and arrays typed), SyncToken (5010) and its increments;
* required fields (2020 naming the field), references (2500 ``Invalid Reference Id`` naming the
  element, 610 for an inactive target), a name unique within the entity ignoring case (6240);
* lines: a ``DetailType`` (or a ``LinkedTxn``), an ``Amount`` in whole cents, the references of the
  detail object, ``Qty x UnitPrice`` on sales lines (6070), ``Id``/``LineNum`` 1..n, a subtotal line on
  sales forms; ``TotalAmt`` from the lines where QBO computes it; journal entries must balance (6000);
* ``TxnDate`` defaults to today (company time), ``CurrencyRef`` to the home currency;
* delete leaves a CDC stub; void zeroes the amounts and notes "Voided".

``Company.writer`` dispatches to a company-specific writer when ``company.py`` has one for the entity
and operation, else here (:func:`writer`). A module with richer rules for an entity (terms, credit
memos, refunds) can reuse this engine and add its own checks with ``rules=``::

    company.generic.create("CreditMemo", body, rules=lambda doc, current: ...)

This module is part of the emulator: it imports nothing from the client side.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar

import pycountry

from . import faults
from .clock import stamp
from .faults import EmuFault
from .specs import HAND_WRITTEN, RECURRING_KINDS, SPECS, EntitySpec
from .store import Doc

if TYPE_CHECKING:
    from .company import Company

Rules = Callable[[Doc, Doc | None], None]

_BAD_NAME_CHARS = re.compile(r"[:\t\n\r]")
_LIST_FIELDS = frozenset({"Line", "CustomField", "LinkedTxn", "AttachableRef", "BudgetDetail"})
_OBJECT_FIELDS = frozenset({"TxnTaxDetail", "CustomerMemo", "BillEmail", "BillEmailCc", "BillEmailBcc", "MetaData",
                            "CreditCardPayment", "CheckPayment", "DeliveryInfo", "RecurringInfo", "POEmail"})
#: line detail types QBO knows (DetailType enumeration, 2170 otherwise)
LINE_TYPES = frozenset({
    "SalesItemLineDetail", "GroupLineDetail", "DescriptionOnly", "DiscountLineDetail", "SubTotalLineDetail",
    "TaxLineDetail", "AccountBasedExpenseLineDetail", "ItemBasedExpenseLineDetail", "JournalEntryLineDetail",
    "DepositLineDetail", "TDSLineDetail", "PaymentLineDetail", "ItemReceiptLineDetail",
})
#: entities whose Balance is what is still open (TotalAmt less what was applied)
_OPEN_BALANCE = frozenset({"Bill", "CreditMemo", "VendorCredit"})
#: entities that carry a Balance of 0 (paid at once)
_PAID_AT_ONCE = frozenset({"SalesReceipt", "RefundReceipt"})
#: address fields: each address gets an Id of its own, as QBO's do
ADDRESS_FIELDS = frozenset({"BillAddr", "ShipAddr", "ShipFromAddr", "PrimaryAddr", "VendorAddr", "RemitToAddr",
                            "OtherAddr", "CompanyAddr", "CustomerCommunicationAddr", "LegalAddr"})
PREFERENCE_SECTIONS = ("AccountingInfoPrefs", "ProductAndServicesPrefs", "SalesFormsPrefs", "EmailMessagesPrefs",
                       "VendorAndPurchasesPrefs", "TimeTrackingPrefs", "TaxPrefs", "CurrencyPrefs", "ReportPrefs",
                       "OtherPrefs")
_PREFERENCES_RO = {"AccountingInfoPrefs": frozenset({"FirstMonthOfFiscalYear", "UseAccountNumbers", "TaxYearMonth",
                                                     "TaxForm"}),
                   "ReportPrefs": frozenset({"CalcAgingReportFromTxnDate"})}
#: entities whose JSON name differs from their entity and URL name ("Thanks Intuit!", python-quickbooks)
WIRE_NAMES = {"CreditCardPayment": "CreditCardPaymentTxn"}
WIRE_ALIASES = {v: k for k, v in WIRE_NAMES.items()}
#: entities that answer in a shape of their own (see :func:`present`)
PRESENTED = frozenset({"RecurringTransaction", "ExchangeRate", "Preferences"})


# -- the default Preferences document (the seed uses it; a company kind overrides its sections) ----------

def default_preferences(created: str) -> Doc:
    """Every section QBO returns, for a US company without multi-currency. ``created`` is the MetaData stamp.

    The company kinds change sections of it (TaxPrefs, CurrencyPrefs, AccountingInfoPrefs.BookCloseDate);
    ``SalesFormsPrefs.DefaultTerms`` points at the seeded term "Net 30" by name-independent Id "3".
    """
    message = {"Subject": "", "Message": ""}
    return {
        "AccountingInfoPrefs": {
            "FirstMonthOfFiscalYear": "January", "UseAccountNumbers": False, "TaxYearMonth": "January",
            "ClassTrackingPerTxn": False, "ClassTrackingPerTxnLine": False, "TrackDepartments": False,
            "DepartmentTerminology": "Location", "CustomerTerminology": "Customers",
        },
        "ProductAndServicesPrefs": {"ForSales": True, "ForPurchase": True, "QuantityWithPriceAndRate": True,
                                    "QuantityOnHand": True, "RevenueRecognition": False},
        "SalesFormsPrefs": {
            "CustomField": [{"CustomField": [{"Name": "SalesFormsPrefs.UseSalesCustom1", "Type": "BooleanType",
                                              "BooleanValue": True},
                                             {"Name": "SalesFormsPrefs.UseSalesCustom2", "Type": "BooleanType",
                                              "BooleanValue": False},
                                             {"Name": "SalesFormsPrefs.UseSalesCustom3", "Type": "BooleanType",
                                              "BooleanValue": False}]},
                            {"CustomField": [{"Name": "SalesFormsPrefs.SalesCustomName1", "Type": "StringType",
                                              "StringValue": "Crew #"}]}],
            "CustomTxnNumbers": False, "AllowDeposit": True, "AllowDiscount": True, "AllowEstimates": True,
            "AllowServiceDate": False, "AllowShipping": False, "AutoApplyCredit": True, "AutoApplyPayments": True,
            "DefaultTerms": {"value": "3"}, "DefaultCustomerMessage": "Thank you for your business.",
            "EmailCopyToCompany": False, "ETransactionEnabledStatus": "NotApplicable", "IPNSupportEnabled": False,
            "PrintItemWithZeroAmount": False, "UsingPriceLevels": False, "UsingProgressInvoicing": False,
        },
        "EmailMessagesPrefs": {
            "InvoiceMessage": {"Subject": "Invoice [Invoice No.] from [Company Name]",
                               "Message": "Your invoice is attached. We appreciate your business."},
            "EstimateMessage": {"Subject": "Estimate [Estimate No.] from [Company Name]",
                                "Message": "Please review the estimate below."},
            "SalesReceiptMessage": {"Subject": "Sales Receipt [Sales Receipt No.] from [Company Name]",
                                    "Message": "Your sales receipt is attached. We appreciate your business."},
            "StatementMessage": {"Subject": "Statement from [Company Name]",
                                 "Message": "Your statement is attached."},
            "CreditMemoMessage": dict(message), "RefundReceiptMessage": dict(message),
        },
        "VendorAndPurchasesPrefs": {
            "TrackingByCustomer": True, "BillableExpenseTracking": True, "TPAREnabled": False,
            "POCustomField": [{"CustomField": [{"Name": "PurchasePrefs.UsePurchaseCustom1", "Type": "BooleanType",
                                                "BooleanValue": False}]}],
        },
        "TimeTrackingPrefs": {"UseServices": True, "BillCustomers": True, "ShowBillRateToAll": False,
                              "WorkWeekStartDate": "Monday", "MarkTimeEntriesBillable": True},
        "TaxPrefs": {"UsingSalesTax": True, "PartnerTaxEnabled": True},
        "CurrencyPrefs": {"MultiCurrencyEnabled": False, "HomeCurrency": {"value": "USD"}},
        "ReportPrefs": {"ReportBasis": "Accrual", "CalcAgingReportFromTxnDate": False},
        "OtherPrefs": {"NameValue": [
            {"Name": "SalesFormsPrefs.DefaultCustomerMessage", "Value": "Thank you for your business."},
            {"Name": "VendorAndPurchasesPrefs.UseMasterQuantities", "Value": "false"},
            {"Name": "WorkflowPrefs.CustomerPortalEnabled", "Value": "false"},
        ]},
        "domain": "QBO", "sparse": False, "Id": "1", "SyncToken": "0",
        "MetaData": {"CreateTime": created, "LastUpdatedTime": created},
    }


# -- shapes on the wire --------------------------------------------------------------------------------

def wire_name(entity: str) -> str:
    """The name a reply gives the entity's object (``CreditCardPaymentTxn`` for CreditCardPayment)."""
    return WIRE_NAMES.get(entity, entity)


def present(entity: str, doc: Doc) -> Doc:
    """The document as QBO prints it: a RecurringTransaction wraps its template in its type's name
    (``{"Invoice": {...}}``); an ExchangeRate has no Id."""
    if entity == "RecurringTransaction" and "_kind" in doc:
        return {doc["_kind"]: {k: v for k, v in doc.items() if k != "_kind"}}
    if entity == "ExchangeRate":
        return {k: v for k, v in doc.items() if k != "Id"}
    if entity == "Preferences":
        return complete_preferences(doc)
    return doc


def complete_preferences(doc: Doc) -> Doc:
    """``doc`` with every section QBO returns: a section or setting the stored document lacks (a seed of
    another kind, data from an older emulator) is filled in from :func:`default_preferences`."""
    defaults = default_preferences(str((doc.get("MetaData") or {}).get("CreateTime", "")))
    out = dict(doc)
    for section in PREFERENCE_SECTIONS:
        have = out.get(section)
        out[section] = {**defaults[section], **have} if isinstance(have, dict) else defaults[section]
    return out


def carry_address_ids(current: Doc, merged: Doc) -> None:
    """An address sent without its Id keeps the Id it had (an update does not renumber addresses); its
    Country is kept as QBO keeps it (:func:`qbo_address`), so "US" sent back for "USA" is no change."""
    for key in ADDRESS_FIELDS:
        new, old = merged.get(key), current.get(key)
        if isinstance(new, dict):
            qbo_address(new)
            if "Id" not in new and isinstance(old, dict) and "Id" in old:
                new["Id"] = old["Id"]


def number_addresses(company: Company, doc: Doc) -> None:
    """Give every address of ``doc`` without an Id one (QBO numbers addresses with a counter of their own),
    in QBO's form (:func:`qbo_address`)."""
    for key in ADDRESS_FIELDS:
        addr = doc.get(key)
        if isinstance(addr, dict) and addr:
            qbo_address(addr)
            if "Id" not in addr:
                doc[key] = {"Id": str(company.store.next_value(company.realm, "id:PhysicalAddress")), **addr}


def qbo_address(addr: Doc) -> None:
    """An address as QBO keeps it since 31 Oct 2025 (API_FACTS_2025): ``Country`` as its ISO 3166 alpha-3
    code ("US", "United States" and "U.S.A." all become "USA"; text that names no country stays as
    sent), and no ``Lat``/``Long``."""
    addr.pop("Lat", None)
    addr.pop("Long", None)
    country = addr.get("Country")
    if isinstance(country, str) and country.strip():
        addr["Country"] = iso3_country(country)


#: informal names and codes ISO 3166-1 does not list (folded: lower case, dots and commas as spaces)
_COUNTRY_ALIASES = {
    "u s": "USA", "u s a": "USA", "united states of america": "USA", "america": "USA",
    "uk": "GBR", "u k": "GBR", "great britain": "GBR", "britain": "GBR", "england": "GBR", "scotland": "GBR",
    "wales": "GBR", "northern ireland": "GBR", "russia": "RUS", "south korea": "KOR", "holland": "NLD",
    "the netherlands": "NLD", "czech republic": "CZE", "vietnam": "VNM", "turkey": "TUR", "uae": "ARE",
}


@lru_cache(maxsize=1024)
def iso3_country(text: str) -> str:
    """The ISO 3166 alpha-3 code of a country written any way (alpha-2, alpha-3, numeric, its name);
    ``text`` itself (trimmed) when it names no country."""
    folded = " ".join(re.sub(r"[.,]", " ", text).split()).casefold()
    if folded in _COUNTRY_ALIASES:
        return _COUNTRY_ALIASES[folded]
    try:
        return str(pycountry.countries.lookup(folded).alpha_3)
    except LookupError:
        return text.strip()


# -- the engine ----------------------------------------------------------------------------------------

def writer(company: Company, entity: str, operation: str) -> Callable[[Any], Doc] | None:
    """The generic function for ``operation`` on ``entity``, or None when the API does not allow it."""
    if entity == "Preferences":
        return (lambda body: Generic(company).update_preferences(body)) if operation == "update" else None
    if entity == "TaxService":
        return (lambda body: Generic(company).tax_service(body)) if operation == "create" else None
    spec = SPECS.get(entity)
    if spec is None or entity in HAND_WRITTEN or operation not in spec.operations:
        return None
    engine = Generic(company)
    if entity == "ExchangeRate":
        return engine.update_exchange_rate
    if entity == "RecurringTransaction":
        return lambda body: engine.recurring(operation, body)
    return lambda body: getattr(engine, operation)(entity, body)


class Generic:
    """Create, update, delete and void for one company, driven by the entity's spec."""

    def __init__(self, company: Company) -> None:
        self.company = company

    # -- input -------------------------------------------------------------------------------------
    def _input(self, spec: EntitySpec, body: Any) -> Doc:
        from .company import clean, expect

        if not isinstance(body, dict):
            raise EmuFault(2010, "Request has invalid or unsupported property",
                           f"Property Name:the request body must be a {spec.name} object")
        for key, value in body.items():
            if key not in spec.known and clean(value) is not None:
                raise faults.unsupported_property(key, spec.name)
            if key in _LIST_FIELDS:
                expect(value, list, key)
            elif key in _OBJECT_FIELDS or key.endswith(("Ref", "Addr")):
                expect(value, dict, key)
        return clean({k: v for k, v in body.items() if k in spec.writable}) or {}

    def _merge(self, spec: EntitySpec, current: Doc, body: Doc) -> Doc:
        incoming = self._input(spec, body)
        if body.get("sparse") in (True, "true", "True"):
            merged = copy.deepcopy(current)
            merged.update(incoming)
            for key, value in body.items():
                if key in spec.writable and (value == "" or value is None):
                    merged.pop(key, None)
        else:
            merged = {k: v for k, v in current.items() if k not in spec.writable}
            merged.update(incoming)
        carry_address_ids(current, merged)
        return merged

    # -- operations --------------------------------------------------------------------------------
    def create(self, entity: str, body: Any, rules: Rules | None = None) -> Doc:
        spec = SPECS[entity]
        doc = self._input(spec, body)
        doc = {**self.company._envelope_base(entity), **doc}
        self._rules(spec, doc, None)
        if rules is not None:
            rules(doc, None)
        self._check_links(spec, doc, None)
        number_addresses(self.company, doc)
        saved = self.company._save(entity, doc, created=True)
        self._apply_links(spec, saved, +1)
        return saved

    def update(self, entity: str, body: Any, rules: Rules | None = None) -> Doc:
        spec = SPECS[entity]
        if not isinstance(body, dict):
            self._input(spec, body)
        current = self.company._current_for_update(spec, body)
        if self.company._is_voided(entity, current):
            raise faults.business_validation("A voided transaction cannot be changed.", "Id")
        doc = self._merge(spec, current, body)
        self._rules(spec, doc, current)
        if rules is not None:
            rules(doc, current)
        self._check_links(spec, doc, current)
        if self.company._same(current, doc):
            return current
        number_addresses(self.company, doc)
        self._apply_links(spec, current, -1)
        saved = self.company._save(entity, doc)
        self._apply_links(spec, saved, +1)
        return saved

    def delete(self, entity: str, body: Any) -> Doc:
        spec = SPECS[entity]
        if not isinstance(body, dict):
            self._input(spec, body)
        current = self.company._current_for_update(spec, body)
        if any(t.get("TxnType") in ("Payment", "BillPayment") for t in current.get("LinkedTxn", []) or []):
            raise faults.business_validation(
                f"This {entity} has payments applied to it. Unlink or delete the payments first.", "LinkedTxn")
        company = self.company
        if not company._is_voided(entity, current):
            self._apply_links(spec, current, -1)
        now = company._now()
        stub = {"domain": "QBO", "status": "Deleted", "Id": current["Id"], "MetaData": {"LastUpdatedTime": stamp(now)}}
        company.store.delete(company.realm, entity, current["Id"], stub, now.timestamp())
        company.store.kv_put("deleted", f"{company.realm}:{entity}:{current['Id']}", True)
        return {"domain": "QBO", "status": "Deleted", "Id": current["Id"]}

    def void(self, entity: str, body: Any) -> Doc:
        spec = SPECS[entity]
        if not isinstance(body, dict):
            self._input(spec, body)
        company = self.company
        current = company._current_for_update(spec, body)
        if company._is_voided(entity, current):
            return current
        if any(t.get("TxnType") in ("Payment", "BillPayment") for t in current.get("LinkedTxn", []) or []):
            raise faults.business_validation(
                f"This {entity} has payments applied to it. Unlink or delete the payments first.", "LinkedTxn")
        self._apply_links(spec, current, -1)
        doc = copy.deepcopy(current)
        for line in doc.get("Line", []):
            line["Amount"] = Decimal(0)
            for detail in line.values():
                if isinstance(detail, dict) and "Qty" in detail:
                    detail["Qty"] = Decimal(0)
        for key in ("TotalAmt", "Balance", "Amount"):
            if key in doc:
                doc[key] = Decimal(0)
        if isinstance(doc.get("TxnTaxDetail"), dict):
            doc["TxnTaxDetail"]["TotalTax"] = Decimal(0)
        note = doc.get("PrivateNote")
        doc["PrivateNote"] = f"Voided - {note}" if note else "Voided"
        company._mark_voided(entity, doc["Id"])
        return company._save(entity, doc)

    # -- payments of bills -------------------------------------------------------------------------
    #: entity -> the transaction type its lines pay (the paid one's Balance falls, it links back)
    _PAYS: ClassVar[dict[str, str]] = {"BillPayment": "Bill"}

    def _check_links(self, spec: EntitySpec, doc: Doc, previous: Doc | None) -> None:
        """A bill payment's lines: bills of the same vendor (620), no more than each one's open balance
        (6000, the amount this payment already applied counted back), no more in all than TotalAmt."""
        from .company import cents

        paid_type = self._PAYS.get(spec.name)
        if paid_type is None:
            return
        company = self.company
        already: dict[str, Decimal] = {}
        if previous is not None and not company._is_voided(spec.name, previous):
            for line in previous.get("Line", []):
                for link in line.get("LinkedTxn", []):
                    if link.get("TxnType") == paid_type:
                        already[link["TxnId"]] = already.get(link["TxnId"], Decimal(0)) + Decimal(str(line["Amount"]))
        applied = Decimal(0)
        for index, line in enumerate(doc.get("Line", [])):
            for link in line.get("LinkedTxn", []):
                if link.get("TxnType") != paid_type:
                    continue
                target = company.get(paid_type, link["TxnId"])
                assert target is not None  # checked with the lines
                if (target.get("VendorRef") or {}).get("value") != (doc.get("VendorRef") or {}).get("value"):
                    raise EmuFault(620, "Txn ID Cannot Be Linked",
                                   f"Transaction {link['TxnId']} belongs to another vendor and cannot be linked.",
                                   f"Line[{index}].LinkedTxn.TxnId")
                amount = Decimal(str(line["Amount"]))
                balance = Decimal(str(target.get("Balance", 0))) + already.get(link["TxnId"], Decimal(0))
                if amount > balance:
                    raise faults.business_validation(
                        f"The amount paid on {paid_type.lower()} {target.get('DocNumber') or target['Id']} ({amount}) "
                        f"is more than its open balance ({balance}).", f"Line[{index}].Amount")
                applied += amount
        total = Decimal(str(doc.get("TotalAmt", 0)))
        if applied > total:
            raise faults.business_validation(
                f"The amounts applied ({cents(applied)}) are more than the payment's total ({total}).", "TotalAmt")

    def _apply_links(self, spec: EntitySpec, doc: Doc, sign: int) -> None:
        """Apply (+1) or take back (-1) a payment's amounts on the transactions it pays."""
        from .company import cents

        paid_type = self._PAYS.get(spec.name)
        if paid_type is None:
            return
        company = self.company
        for line in doc.get("Line", []):
            for link in line.get("LinkedTxn", []):
                if link.get("TxnType") != paid_type:
                    continue
                target = company.get(paid_type, link["TxnId"])
                if target is None:
                    continue
                target["Balance"] = cents(Decimal(str(target.get("Balance", 0))) - sign * Decimal(str(line["Amount"])))
                links = [t for t in target.get("LinkedTxn", []) or []
                         if not (t.get("TxnType") == spec.name and t.get("TxnId") == doc["Id"])]
                if sign > 0:
                    links.append({"TxnId": doc["Id"], "TxnType": spec.name})
                target["LinkedTxn"] = links
                company._save(paid_type, target)

    # -- rules from the spec -----------------------------------------------------------------------
    def _rules(self, spec: EntitySpec, doc: Doc, current: Doc | None) -> None:
        from .company import USD, parse_date

        company = self.company
        for key in spec.required:
            value = doc.get(key)
            if value is None or value == [] or value == {}:
                raise faults.required_missing(key)
        if spec.unique:
            self._unique(spec, doc)
        for key, target in spec.refs.items():
            company._ref(doc, key, target)
        if spec.name_list:
            doc["Active"] = doc.get("Active", True) in (True, "true", "True")
            self._hierarchy(spec, doc)
        self._entity_rules(spec, doc)
        if not spec.transaction:
            return
        if "Line" in doc or "Line" in spec.required:
            self._lines(spec, doc)
        self._totals(spec, doc, current)
        today = company._now().date()
        txn_date = parse_date(doc["TxnDate"], "TxnDate") if "TxnDate" in doc else today
        doc["TxnDate"] = txn_date.isoformat()
        for key in ("DueDate", "ShipDate", "ExpirationDate", "AcceptedDate"):
            if key in doc:
                doc[key] = parse_date(doc[key], key).isoformat()
        if spec.name in ("Bill",) and "DueDate" not in doc:
            days = 0
            term = company.get("Term", (doc.get("SalesTermRef") or {}).get("value", "")) if "SalesTermRef" in doc \
                else None
            if term is not None:
                days = int(Decimal(str(term.get("DueDays", 0))))
            doc["DueDate"] = (txn_date + timedelta(days=days)).isoformat()
        docnum = doc.get("DocNumber")
        if docnum is not None and len(str(docnum)) > 21:
            raise faults.string_length("DocNumber", 21, len(str(docnum)))
        if len(str(doc.get("PrivateNote", ""))) > 4000:
            raise faults.string_length("PrivateNote", 4000, len(str(doc["PrivateNote"])))
        if "CurrencyRef" in spec.writable:
            doc.setdefault("CurrencyRef", dict(USD))

    def _unique(self, spec: EntitySpec, doc: Doc) -> None:
        key = spec.unique or "Name"
        name = doc.get(key)
        if not isinstance(name, str) or not name.strip():
            raise faults.required_missing(key)
        name = name.strip()
        limit = 100
        if len(name) > limit:
            raise faults.string_length(key, limit, len(name))
        if _BAD_NAME_CHARS.search(name):
            raise EmuFault(2040, "Invalid Character",
                           f"Invalid character in {key}: a {spec.name} name cannot contain a colon (:), a tab or a "
                           "new line.", key)
        for other in self.company.all(spec.name):
            if other["Id"] != doc["Id"] and str(other.get(key, "")).casefold() == name.casefold():
                raise EmuFault(6240, "Duplicate Name Exists Error",
                               f"The name supplied already exists. : Another {spec.name} is already using this name. "
                               "Please use a different name.", key)
        doc[key] = name

    def _hierarchy(self, spec: EntitySpec, doc: Doc) -> None:
        sub = {"Class": "SubClass", "Department": "SubDepartment"}.get(spec.name)
        if sub is None:
            return
        parent_id = doc.get("ParentRef", {}).get("value") if isinstance(doc.get("ParentRef"), dict) else None
        if parent_id is not None:
            if parent_id == doc["Id"]:
                raise faults.business_validation(f"A {spec.name} cannot be its own parent.", "ParentRef")
            parent = self.company.get(spec.name, parent_id)
            assert parent is not None  # checked as a reference
            doc[sub] = True
            doc["FullyQualifiedName"] = f"{parent.get('FullyQualifiedName', parent['Name'])}:{doc['Name']}"
        else:
            doc[sub] = False
            doc["FullyQualifiedName"] = doc["Name"]

    def _entity_rules(self, spec: EntitySpec, doc: Doc) -> None:
        """The few per-entity rules that are enumerations and dependent requirements."""
        from .company import money

        name = spec.name
        if name == "PaymentMethod":
            doc.setdefault("Type", "NON_CREDIT_CARD")
            _enum(doc, "Type", ("CREDIT_CARD", "NON_CREDIT_CARD"))
        elif name == "Term":
            doc.setdefault("Type", "STANDARD")
            _enum(doc, "Type", ("STANDARD", "DATE_DRIVEN"))
            for key in ("DueDays", "DiscountDays", "DayOfMonthDue", "DueNextMonthDays", "DiscountDayOfMonth"):
                if key in doc:
                    value = money(doc[key], key)
                    if value < 0 or value != value.to_integral_value():
                        raise EmuFault(2010, "Invalid Number", f"Invalid number supplied: {doc[key]!r}", key)
                    doc[key] = int(value)
            if "DiscountPercent" in doc:
                doc["DiscountPercent"] = money(doc["DiscountPercent"], "DiscountPercent")
            if doc["Type"] == "STANDARD":
                doc.setdefault("DueDays", 0)
        elif name == "TaxAgency":
            doc.setdefault("TaxTrackedOnSales", True)
            doc.setdefault("TaxTrackedOnPurchases", False)
        elif name == "CompanyCurrency":
            code = str(doc["Code"]).upper()
            if not re.fullmatch(r"[A-Z]{3}", code):
                raise EmuFault(2170, "Invalid Enumeration", f"Invalid Enumeration : {doc['Code']}", "Code")
            doc["Code"] = code
            doc.setdefault("Name", code)
        elif name == "Purchase":
            _enum(doc, "PaymentType", ("Cash", "Check", "CreditCard"))
        elif name == "BillPayment":
            _enum(doc, "PayType", ("Check", "CreditCard"))
            detail_key, account_key = (("CheckPayment", "BankAccountRef") if doc["PayType"] == "Check"
                                       else ("CreditCardPayment", "CCAccountRef"))
            detail = doc.get(detail_key)
            if not isinstance(detail, dict):
                raise faults.required_missing(f"{detail_key}.{account_key}")
            self.company._ref(detail, account_key, "Account", f"{detail_key}.{account_key}", required=True)
        elif name == "RefundReceipt" or name == "SalesReceipt":
            deposit = doc.get("DepositToAccountRef")
            if isinstance(deposit, dict):
                account = self.company.get("Account", deposit["value"])
                if account is not None and account.get("AccountType") not in ("Bank", "Other Current Asset"):
                    raise faults.business_validation(
                        f"The account '{account['Name']}' must be a Bank or Other Current Asset account.",
                        "DepositToAccountRef")
        elif name == "Estimate":
            doc.setdefault("TxnStatus", "Pending")
            _enum(doc, "TxnStatus", ("Pending", "Accepted", "Closed", "Rejected", "Converted"))
        elif name == "PurchaseOrder":
            doc.setdefault("POStatus", "Open")
            _enum(doc, "POStatus", ("Open", "Closed"))
        elif name == "Transfer":
            if doc["FromAccountRef"]["value"] == doc["ToAccountRef"]["value"]:
                raise faults.business_validation("A transfer needs two different accounts.", "ToAccountRef")
        elif name == "TimeActivity":
            _enum(doc, "NameOf", ("Employee", "Vendor"))
            self.company._ref(doc, f"{doc['NameOf']}Ref", doc["NameOf"], required=True)
            if not any(k in doc for k in ("Hours", "Minutes", "StartTime")):
                raise faults.required_missing("Hours")
            if "StartTime" in doc and "EndTime" not in doc:
                raise faults.required_missing("EndTime")
            doc.setdefault("BillableStatus", "NotBillable")
            _enum(doc, "BillableStatus", ("Billable", "NotBillable", "HasBeenBilled"))
            for key in ("Hours", "Minutes", "BreakHours", "BreakMinutes"):
                if key in doc:
                    doc[key] = int(money(doc[key], key))
            if "HourlyRate" in doc:
                doc["HourlyRate"] = money(doc["HourlyRate"], "HourlyRate")
        elif name == "Attachable":
            if "FileName" not in doc and "Note" not in doc:
                raise faults.required_missing("Note")
            refs = doc.get("AttachableRef") or []
            for index, ref in enumerate(refs):
                element = f"AttachableRef[{index}].EntityRef"
                entity_ref = ref.get("EntityRef") if isinstance(ref, dict) else None
                if not isinstance(entity_ref, dict) or not entity_ref.get("value"):
                    raise faults.required_missing(element)
                target = str(entity_ref.get("type", ""))
                if target not in SPECS:
                    raise EmuFault(2170, "Invalid Enumeration", f"Invalid Enumeration : {target}", f"{element}.type")
                if self.company.get(target, str(entity_ref["value"])) is None:
                    raise faults.invalid_reference(element)
                ref.setdefault("IncludeOnSend", False)

    def _lines(self, spec: EntitySpec, doc: Doc) -> None:
        from .company import cents, clean, expect, money

        lines = doc.get("Line")
        if not isinstance(lines, list) or not lines:
            raise faults.required_missing("Line")
        sales = "SalesItemLineDetail" in spec.line_refs
        out: list[Doc] = []
        number = 0
        for index, raw in enumerate(lines):
            element = f"Line[{index}]"
            expect(raw, dict, element)
            line = clean(raw) or {}
            detail_type = line.get("DetailType")
            if detail_type in ("SubTotalLineDetail", "SubtotalLineDetail") and sales:
                continue  # the server computes its own subtotal line
            links = line.get("LinkedTxn")
            expect(links, list, f"{element}.LinkedTxn")
            if detail_type is None and not links:
                raise faults.required_missing(f"{element}.DetailType")
            if detail_type is not None and detail_type not in LINE_TYPES:
                raise EmuFault(2170, "Invalid Enumeration", f"Invalid Enumeration : {detail_type}",
                               f"{element}.DetailType")
            if detail_type == "SalesItemLineDetail" and sales:
                self.company._sales_line(line, element)
            elif detail_type == "DescriptionOnly":
                line.setdefault("Amount", Decimal(0))
                line["DescriptionLineDetail"] = line.pop("DescriptionLineDetail", {}) or {}
            else:
                if "Amount" not in line:
                    raise faults.required_missing(f"{element}.Amount")
                amount = money(line["Amount"], f"{element}.Amount")
                if cents(amount) != amount:
                    raise faults.business_validation(
                        f"The amount {amount} on line {index + 1} has fractions of a cent.", f"{element}.Amount")
                line["Amount"] = amount
            if detail_type is not None and detail_type != "DescriptionOnly":
                detail = line.get(detail_type)
                expect(detail, dict, f"{element}.{detail_type}")
                detail = detail if isinstance(detail, dict) else {}
                line[detail_type] = detail
                for key, target in spec.line_refs.get(detail_type, {}).items():
                    if detail_type == "SalesItemLineDetail" and key == "ItemRef":
                        continue  # checked with the line
                    self.company._ref(detail, key, target, f"{element}.{detail_type}.{key}")
                if detail_type == "JournalEntryLineDetail":
                    _enum(detail, "PostingType", ("Debit", "Credit"), f"{element}.{detail_type}.PostingType")
                    self.company._ref(detail, "AccountRef", "Account", f"{element}.{detail_type}.AccountRef",
                                      required=True)
                elif detail_type == "AccountBasedExpenseLineDetail":
                    self.company._ref(detail, "AccountRef", "Account", f"{element}.{detail_type}.AccountRef",
                                      required=True)
                elif detail_type == "ItemBasedExpenseLineDetail":
                    self.company._ref(detail, "ItemRef", "Item", f"{element}.{detail_type}.ItemRef", required=True)
                elif detail_type == "DepositLineDetail" and not links:
                    self.company._ref(detail, "AccountRef", "Account", f"{element}.{detail_type}.AccountRef",
                                      required=True)
            for position, link in enumerate(links or []):
                expect(link, dict, f"{element}.LinkedTxn")
                txn_type = str(link.get("TxnType", ""))
                if txn_type not in SPECS:
                    raise EmuFault(2170, "Invalid Enumeration", f"Invalid Enumeration : {txn_type}",
                                   f"{element}.LinkedTxn[{position}].TxnType")
                from .company import as_id
                txn_id = as_id(link.get("TxnId"), f"{element}.LinkedTxn[{position}].TxnId")
                if self.company.get(txn_type, txn_id) is None:
                    raise faults.invalid_reference(f"{element}.LinkedTxn[{position}].TxnId")
                link["TxnId"] = txn_id
            number += 1
            line.pop("LineNum", None)
            line.pop("Id", None)
            out.append({"Id": str(number), "LineNum": number, **line})
        if not out:
            raise faults.required_missing("Line")
        if sales:
            subtotal = sum((Decimal(str(line["Amount"])) for line in out
                            if line.get("DetailType") == "SalesItemLineDetail"), Decimal(0))
            out.append({"Amount": cents(subtotal), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
        doc["Line"] = out

    def _totals(self, spec: EntitySpec, doc: Doc, current: Doc | None) -> None:
        from .company import cents, money

        if spec.total == "lines":
            amount = Decimal(0)
            discount = Decimal(0)
            for line in doc.get("Line", []):
                kind = line.get("DetailType")
                if kind in ("SubTotalLineDetail", "DescriptionOnly", "TaxLineDetail"):
                    continue
                if kind == "DiscountLineDetail":
                    discount += Decimal(str(line["Amount"]))
                else:
                    amount += Decimal(str(line["Amount"]))
            tax = Decimal(0)
            if "TxnTaxDetail" in spec.writable:
                detail = doc.get("TxnTaxDetail") or {}
                tax = cents(money(detail.get("TotalTax", 0), "TxnTaxDetail.TotalTax"))
                if tax < 0:
                    raise faults.business_validation("The tax amount cannot be negative.", "TxnTaxDetail.TotalTax")
                detail["TotalTax"] = tax
                doc["TxnTaxDetail"] = detail
            total = cents(amount - discount + tax)
            if total < 0:
                raise faults.business_validation("You must set a transaction amount.", "TotalAmt")
            doc["TotalAmt"] = total
        elif spec.total == "debits":
            debits = credits = Decimal(0)
            for line in doc.get("Line", []):
                detail = line.get("JournalEntryLineDetail") or {}
                if detail.get("PostingType") == "Debit":
                    debits += Decimal(str(line["Amount"]))
                elif detail.get("PostingType") == "Credit":
                    credits += Decimal(str(line["Amount"]))
            if debits != credits:
                raise faults.business_validation(
                    f"The journal entry is not balanced: debits {debits}, credits {credits}. Transactions must be "
                    "in balance.", "Line")
            doc["TotalAmt"] = cents(debits)
        else:
            for key in ("TotalAmt", "Amount"):
                if key in spec.writable and key in doc:
                    value = money(doc[key], key)
                    if value < 0 or cents(value) != value:
                        raise faults.business_validation(
                            f"The amount {value} must be positive and in whole cents.", key)
                    doc[key] = value
        if "TotalAmt" not in doc:
            return
        total = Decimal(str(doc["TotalAmt"]))
        if spec.name in _OPEN_BALANCE:
            applied = Decimal(0)
            if current is not None:
                applied = Decimal(str(current.get("TotalAmt", 0))) - Decimal(str(current.get("Balance", 0)))
            if total < applied:
                raise faults.business_validation(
                    f"The total ({total}) cannot be less than what is already applied ({applied}).", "TotalAmt")
            doc["Balance"] = cents(total - applied)
            if spec.name == "CreditMemo":
                doc["RemainingCredit"] = doc["Balance"]
        elif spec.name in _PAID_AT_ONCE:
            doc["Balance"] = Decimal(0)

    # -- Preferences ----------------------------------------------------------------------------------
    def update_preferences(self, body: Any) -> Doc:
        from .company import clean, parse_date

        company = self.company
        if not isinstance(body, dict):
            raise EmuFault(2010, "Request has invalid or unsupported property",
                           "Property Name:the request body must be a Preferences object")
        current = company.get("Preferences", "1")
        if current is None:
            raise faults.object_not_found("Preferences was not found.", "Id")
        token = body.get("SyncToken")
        if token in (None, ""):
            raise faults.required_missing("SyncToken")
        if str(token).strip() != current["SyncToken"]:
            raise faults.stale_object()
        current = complete_preferences(current)
        doc = copy.deepcopy(current)
        for key, value in body.items():
            if key in ("Id", "SyncToken", "MetaData", "domain", "sparse", "time"):
                continue
            if key not in PREFERENCE_SECTIONS and key not in current:
                if clean(value) is None:
                    continue
                raise faults.unsupported_property(key, "Preferences")
            if value is None or value == "":
                continue
            if not isinstance(value, dict):
                raise EmuFault(2010, "Request has invalid or unsupported property",
                               f"Property Name:{key} must be an object specified is unsupported or invalid", key)
            section = doc.setdefault(key, {})
            readonly = _PREFERENCES_RO.get(key, frozenset())
            for name, item in value.items():
                if name in readonly or item is None or item == "":
                    continue  # read-only, or absent (python-quickbooks sends empty defaults)
                if name == "BookCloseDate":
                    item = parse_date(item, f"{key}.{name}").isoformat()
                section[name] = copy.deepcopy(item)
        if company._same(current, doc):
            return current
        return complete_preferences(company._save("Preferences", doc))

    # -- TaxService: a TaxCode and its TaxRates ------------------------------------------------------
    def tax_service(self, body: Any) -> Doc:
        from .company import as_id, clean, money

        company = self.company
        if not isinstance(body, dict):
            raise EmuFault(2010, "Request has invalid or unsupported property",
                           "Property Name:the request body must be a TaxService object")
        for key, value in body.items():
            if key not in ("TaxCode", "TaxCodeId", "TaxRateDetails", "Id", "sparse", "domain") and \
                    clean(value) is not None:
                raise faults.unsupported_property(key, "TaxService")
        name = body.get("TaxCode")
        if not isinstance(name, str) or not name.strip():
            raise faults.required_missing("TaxCode")
        name = name.strip()
        if any(str(c.get("Name", "")).casefold() == name.casefold() for c in company.all("TaxCode")):
            raise EmuFault(6240, "Duplicate Name Exists Error",
                           f"The name supplied already exists. : TaxCode {name} already exists.", "TaxCode")
        details = body.get("TaxRateDetails")
        if not isinstance(details, list) or not details:
            raise faults.required_missing("TaxRateDetails")
        answered: list[Doc] = []
        rate_refs: list[Doc] = []
        for index, raw in enumerate(details):
            element = f"TaxRateDetails[{index}]"
            detail = clean(raw) if isinstance(raw, dict) else None
            if not isinstance(detail, dict):
                raise faults.required_missing(element)
            applicable = detail.get("TaxApplicableOn", "Sales")
            if applicable not in ("Sales", "Purchase"):
                raise EmuFault(2170, "Invalid Enumeration", f"Invalid Enumeration : {applicable}",
                               f"{element}.TaxApplicableOn")
            if detail.get("TaxRateId") is not None:
                rate = company.get("TaxRate", as_id(detail["TaxRateId"], f"{element}.TaxRateId"))
                if rate is None:
                    raise faults.invalid_reference(f"{element}.TaxRateId")
            else:
                for key in ("TaxRateName", "RateValue", "TaxAgencyId"):
                    if detail.get(key) is None:
                        raise faults.required_missing(f"{element}.{key}")
                agency_id = as_id(detail["TaxAgencyId"], f"{element}.TaxAgencyId")
                if company.get("TaxAgency", agency_id) is None:
                    raise faults.invalid_reference(f"{element}.TaxAgencyId")
                value = money(detail["RateValue"], f"{element}.RateValue")
                if value < 0 or value > 100:
                    raise faults.business_validation(f"The rate {value} must be between 0 and 100.",
                                                      f"{element}.RateValue")
                rate_name = str(detail["TaxRateName"]).strip()
                if any(str(r.get("Name", "")).casefold() == rate_name.casefold() for r in company.all("TaxRate")):
                    raise EmuFault(6240, "Duplicate Name Exists Error",
                                   f"The name supplied already exists. : TaxRate {rate_name} already exists.",
                                   f"{element}.TaxRateName")
                rate = {**company._envelope_base("TaxRate"), "Name": rate_name, "Description": rate_name,
                        "Active": True, "RateValue": value, "AgencyRef": {"value": agency_id},
                        "SpecialTaxType": "NONE", "DisplayType": "ReadOnly",
                        "EffectiveTaxRate": [{"RateValue": value, "EffectiveDate": "2000-01-01T00:00:00-08:00"}]}
                rate = company._save("TaxRate", rate, created=True)
            rate_refs.append({"TaxRateRef": {"value": rate["Id"], "name": rate["Name"]},
                              "TaxTypeApplicable": "TaxOnAmount", "TaxOrder": 0, "_on": applicable})
            answered.append({"TaxRateName": rate["Name"], "TaxRateId": rate["Id"], "RateValue": rate["RateValue"],
                             "TaxAgencyId": rate.get("AgencyRef", {}).get("value"), "TaxApplicableOn": applicable})
        sales = [{k: v for k, v in r.items() if k != "_on"} for r in rate_refs if r["_on"] == "Sales"]
        purchase = [{k: v for k, v in r.items() if k != "_on"} for r in rate_refs if r["_on"] == "Purchase"]
        code = {**company._envelope_base("TaxCode"), "Name": name, "Description": name, "Active": True,
                "Hidden": False, "Taxable": True, "TaxGroup": len(rate_refs) > 1,
                "SalesTaxRateList": {"TaxRateDetail": sales}, "PurchaseTaxRateList": {"TaxRateDetail": purchase},
                "TaxCodeConfigType": "USER_DEFINED"}
        code = company._save("TaxCode", code, created=True)
        return {"TaxCode": code["Name"], "TaxCodeId": code["Id"], "TaxRateDetails": answered}

    # -- attachments (POST /upload, multipart) ---------------------------------------------------------
    def upload(self, content_type: str, body: bytes, base_url: str) -> list[Doc]:
        """Each ``file_content_NN`` part (with its ``file_metadata_NN`` Attachable, if any) becomes an Attachable."""
        company = self.company
        match = re.search(r'boundary="?([^";]+)"?', content_type or "")
        if not match or not content_type.lower().startswith("multipart/form-data"):
            raise EmuFault(2010, "Request has invalid or unsupported property",
                           "Property Name:an upload must be multipart/form-data with a boundary")
        parts = _multipart(body, match.group(1))
        contents = {k[len("file_content_"):]: v for k, v in parts.items() if k.startswith("file_content_")}
        if not contents:
            raise faults.required_missing("file_content_01")
        out: list[Doc] = []
        for suffix, (headers, data) in sorted(contents.items()):
            meta: Doc = {}
            if f"file_metadata_{suffix}" in parts:
                try:
                    meta = json.loads(parts[f"file_metadata_{suffix}"][1].decode("utf-8") or "{}",
                                      parse_float=Decimal)
                except (ValueError, UnicodeDecodeError):
                    raise EmuFault(2010, "Request has invalid or unsupported property",
                                   f"Property Name:file_metadata_{suffix} is not a JSON Attachable") from None
            if headers.get("content-transfer-encoding", "").lower() == "base64":
                try:
                    data = base64.b64decode(b"".join(data.split()), validate=True)
                except ValueError:
                    raise EmuFault(2010, "Request has invalid or unsupported property",
                                   f"Property Name:file_content_{suffix} is not valid base64") from None
            filename = meta.get("FileName") or _filename(headers.get("content-disposition", "")) or f"upload-{suffix}"
            meta = {**meta, "FileName": filename,
                    "ContentType": meta.get("ContentType") or headers.get("content-type", "application/octet-stream")}
            doc = self.create("Attachable", meta)
            doc["Size"] = Decimal(len(data))
            digest = hashlib.sha256(data).hexdigest()[:16]
            doc["FileAccessUri"] = f"/v3/company/{company.realm}/download/{doc['Id']}"
            doc["TempDownloadUri"] = f"{base_url}/_emulator/download/{company.realm}/{doc['Id']}?sig={digest}"
            company.store.put(company.realm, "Attachable", doc, company._now().timestamp())
            company.store.kv_put("attachment", f"{company.realm}:{doc['Id']}",
                                 {"content": base64.b64encode(data).decode("ascii"),
                                  "type": doc["ContentType"], "name": filename})
            out.append(doc)
        return out

    # -- ExchangeRate: one per source currency and date ------------------------------------------------
    def update_exchange_rate(self, body: Any) -> Doc:
        from .company import money, parse_date

        spec = SPECS["ExchangeRate"]
        doc = self._input(spec, body)
        for key in spec.required:
            if key not in doc:
                raise faults.required_missing(key)
        company = self.company
        source = str(doc["SourceCurrencyCode"]).upper()
        home = _home_currency(company)
        target = str(doc.get("TargetCurrencyCode", home)).upper()
        if target != home:
            raise faults.business_validation(f"The target currency must be the home currency {home}.",
                                              "TargetCurrencyCode")
        as_of = parse_date(doc["AsOfDate"], "AsOfDate") if "AsOfDate" in doc else company._now().date()
        rate = money(doc["Rate"], "Rate")
        if rate <= 0:
            raise faults.business_validation("The exchange rate must be more than 0.", "Rate")
        current = find_exchange_rate(company, source, as_of.isoformat())
        new = {"SourceCurrencyCode": source, "TargetCurrencyCode": target, "Rate": rate,
               "AsOfDate": as_of.isoformat()}
        if current is None:
            saved = company._save("ExchangeRate", {**company._envelope_base("ExchangeRate"), **new}, created=True)
        else:
            token = body.get("SyncToken") if isinstance(body, dict) else None
            if token not in (None, "") and str(token).strip() != current["SyncToken"]:
                raise faults.stale_object()
            if all(current.get(k) == v for k, v in new.items()):
                return present("ExchangeRate", current)
            saved = company._save("ExchangeRate", {**current, **new})
        return present("ExchangeRate", saved)

    # -- RecurringTransaction: a template of one transaction type --------------------------------------
    def recurring(self, operation: str, body: Any) -> Doc:
        from .company import clean

        company = self.company
        if not isinstance(body, dict):
            raise EmuFault(2010, "Request has invalid or unsupported property",
                           "Property Name:the request body must be a RecurringTransaction object")
        kinds = [k for k, v in body.items() if k in RECURRING_KINDS and clean(v) is not None]
        if len(kinds) != 1 or not isinstance(body[kinds[0]], dict):
            raise EmuFault(2010, "Request has invalid or unsupported property",
                           "Property Name:a RecurringTransaction holds exactly one transaction (Invoice, Bill, ...)")
        kind = kinds[0]
        inner = body[kind]
        spec = SPECS[kind]
        if operation in ("create", "update"):  # the Id is inside the template, not beside it
            operation = "update" if inner.get("Id") not in (None, "", 0, "0") else "create"
        if operation == "delete":
            current = company._current_for_update(SPECS["RecurringTransaction"], inner)
            answer = self.delete("RecurringTransaction", inner)
            return {current.get("_kind", kind): answer}
        template = self._input(spec, {k: v for k, v in inner.items() if k != "RecurringInfo"})
        info = clean(inner.get("RecurringInfo"))
        if not isinstance(info, dict):
            raise faults.required_missing(f"{kind}.RecurringInfo")
        if not str(info.get("Name", "")).strip():
            raise faults.required_missing(f"{kind}.RecurringInfo.Name")
        info.setdefault("RecurType", "Automated")
        _enum(info, "RecurType", ("Automated", "Reminded", "UnScheduled"), f"{kind}.RecurringInfo.RecurType")
        info["Active"] = info.get("Active", True) in (True, "true", "True")
        for key, target in spec.refs.items():
            company._ref(template, key, target)
        if kind == "Invoice":
            company._ref(template, "CustomerRef", "Customer", required=True)
        if operation == "create":
            doc = {**company._envelope_base("RecurringTransaction"), **template}
        else:
            current = company._current_for_update(SPECS["RecurringTransaction"], inner)
            if current.get("_kind") != kind:
                raise faults.business_validation(
                    f"Recurring transaction {current['Id']} is a {current.get('_kind')}, not a {kind}.", kind)
            if inner.get("sparse") in (True, "true", "True"):
                doc = {**current, **template}
            else:
                doc = {k: v for k, v in current.items() if k not in spec.writable}
                doc.update(template)
        for other in company.all("RecurringTransaction"):
            if other["Id"] != doc["Id"] and \
                    str(other.get("RecurringInfo", {}).get("Name", "")).casefold() == str(info["Name"]).casefold():
                raise EmuFault(6240, "Duplicate Name Exists Error",
                               "The name supplied already exists. : Another recurring transaction uses this name.",
                               f"{kind}.RecurringInfo.Name")
        doc["RecurringInfo"] = info
        doc["_kind"] = kind
        if operation == "create":
            saved = company._save("RecurringTransaction", doc, created=True)
        else:
            saved = company._save("RecurringTransaction", doc)
        return present("RecurringTransaction", saved)


def find_exchange_rate(company: Company, source: str, as_of: str) -> Doc | None:
    for doc in company.all("ExchangeRate"):
        if doc.get("SourceCurrencyCode") == source.upper() and doc.get("AsOfDate") == as_of:
            return doc
    return None


def read_exchange_rate(company: Company, params: dict[str, str]) -> Doc:
    """GET /exchangerate?sourcecurrencycode=EUR&asofdate=YYYY-MM-DD (today when absent)."""
    from .company import parse_date

    lowered = {k.lower(): v for k, v in params.items()}
    source = lowered.get("sourcecurrencycode", "").strip().upper()
    if not source:
        raise faults.required_missing("sourcecurrencycode")
    as_of = parse_date(lowered["asofdate"], "asofdate") if lowered.get("asofdate") else company._now().date()
    home = _home_currency(company)
    if source == home:
        now = stamp(company._now())
        return {"SourceCurrencyCode": source, "TargetCurrencyCode": home, "Rate": Decimal(1),
                "AsOfDate": as_of.isoformat(), "domain": "QBO", "sparse": False, "SyncToken": "0",
                "MetaData": {"LastUpdatedTime": now}}
    found = [d for d in company.all("ExchangeRate")
             if d.get("SourceCurrencyCode") == source and d.get("AsOfDate", "") <= as_of.isoformat()]
    if not found:
        raise faults.object_not_found(f"ExchangeRate for {source} on {as_of.isoformat()} was not found.",
                                      "sourcecurrencycode")
    return present("ExchangeRate", max(found, key=lambda d: d["AsOfDate"]))


def _home_currency(company: Company) -> str:
    prefs = company.get("Preferences", "1") or {}
    home = (prefs.get("CurrencyPrefs") or {}).get("HomeCurrency") or {}
    return str(home.get("value", "USD")).upper()


def _enum(doc: Doc, key: str, allowed: tuple[str, ...], element: str | None = None) -> None:
    value = doc.get(key)
    if value is None:
        raise faults.required_missing(element or key)
    if value not in allowed:
        raise EmuFault(2170, "Invalid Enumeration", f"Invalid Enumeration : {value}", element or key)


def _filename(disposition: str) -> str | None:
    match = re.search(r'filename="([^"]*)"', disposition)
    return match.group(1) if match else None


def _multipart(body: bytes, boundary: str) -> dict[str, tuple[dict[str, str], bytes]]:
    """The parts of a multipart body by their ``name``: (headers with lower-case keys, content).

    Lenient about line ends (python-quickbooks sends ``\\n``, browsers ``\\r\\n``) and the blank line
    python-quickbooks leaves after the JSON metadata.
    """
    out: dict[str, tuple[dict[str, str], bytes]] = {}
    marker = b"--" + boundary.encode("latin-1")
    for chunk in body.split(marker)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk.lstrip(b"\r\n")
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            head, sep, content = chunk.partition(b"\n\n")
        headers: dict[str, str] = {}
        for raw in head.decode("latin-1").splitlines():
            key, _, value = raw.partition(":")
            if key.strip():
                headers[key.strip().lower()] = value.strip()
        match = re.search(r'name="([^"]*)"', headers.get("content-disposition", ""))
        if match:
            out[match.group(1)] = (headers, content.rstrip(b"\r\n"))
    return out
