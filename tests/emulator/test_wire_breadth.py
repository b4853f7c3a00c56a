"""Every standard QBO entity over HTTP: query, batch and CDC contexts, the generic create / read /
update / delete / void from each entity's spec, Preferences, TaxService, attachments, ExchangeRate,
RecurringTransaction, and the wire details (money format, the 610 text, address Ids, invoiceLink).

python-quickbooks (unmodified) is used where it has the object; raw requests elsewhere.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
import requests
from quickbooks.exceptions import QuickbooksException, UnsupportedException, ValidationException
from quickbooks.objects import Attachable, Bill, JournalEntry, Preferences, Term
from quickbooks.objects.base import AttachableRef
from quickbooks.objects.detailline import AccountBasedExpenseLine, AccountBasedExpenseLineDetail
from quickbooks.objects.journalentry import JournalEntryLine, JournalEntryLineDetail
from quickbooks.objects.taxservice import TaxRateDetails, TaxService
from quickbooks.objects.trackingclass import Class as TrackingClass
from wirekit import Conn, fault_of, make_customer, ref, unique

from qbo_toolkit.emulator.entities import wire_name
from qbo_toolkit.emulator.specs import SPECS, STANDARD_ENTITIES

CHECKING, EXPENSE_ACCOUNT, UNDEPOSITED = "5", "8", "4"  # seed accounts: Checking, Job Supplies, Undeposited Funds
VENDOR = "Norton Lumber and Building Materials"


def ok(resp: requests.Response) -> dict[str, Any]:
    assert resp.status_code == 200, resp.text[:600]
    body: dict[str, Any] = resp.json()
    return body


def rows(conn: Conn, statement: str, entity: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(conn.query(statement))["QueryResponse"].get(entity, [])
    return found


def vendor_id(conn: Conn) -> str:
    return str(rows(conn, f"SELECT * FROM Vendor WHERE DisplayName = '{VENDOR}'", "Vendor")[0]["Id"])


def since(conn: Conn) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def expense_line(amount: str, account: str = EXPENSE_ACCOUNT) -> dict[str, Any]:
    return {"Amount": amount, "DetailType": "AccountBasedExpenseLineDetail",
            "AccountBasedExpenseLineDetail": {"AccountRef": {"value": account}}}


def sales_line(amount: str, item: str = "1") -> dict[str, Any]:
    return {"Amount": amount, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": item}}}


# -- 1. every standard entity is a query, batch Query and CDC context ------------------------------------

def test_every_standard_entity_is_a_query_context_and_counts(conn: Conn) -> None:
    assert len(STANDARD_ENTITIES) == 40
    for entity in STANDARD_ENTITIES:
        body = ok(conn.query(f"SELECT * FROM {entity} MAXRESULTS 3"))["QueryResponse"]
        assert body == {} or wire_name(entity) in body, (entity, body)
        count = ok(conn.query(f"select count(*) from {entity.lower()}"))["QueryResponse"]
        assert isinstance(count["totalCount"], int)
    for misspelt in ("Custmoer", "Invoices", "TaxCodes", "SalesReciept"):
        error = fault_of(conn.query(f"SELECT * FROM {misspelt}"))
        assert (error["code"], error["Detail"]) == ("4001", f"QueryValidationError: invalid context declaration: "
                                                            f"{misspelt}")


def test_batch_query_items_for_every_entity(conn: Conn) -> None:
    for start in range(0, len(STANDARD_ENTITIES), 30):
        chunk = STANDARD_ENTITIES[start:start + 30]
        items = [{"bId": e, "Query": f"SELECT * FROM {e}"} for e in chunk]
        answers = ok(conn.post("batch", {"BatchItemRequest": items}))["BatchItemResponse"]
        assert [a["bId"] for a in answers] == list(chunk)
        assert all("QueryResponse" in a for a in answers), [a for a in answers if "Fault" in a]


def test_cdc_covers_every_entity_but_the_tax_lists(conn: Conn) -> None:
    covered = [e for e in STANDARD_ENTITIES if SPECS[e].cdc]
    assert set(STANDARD_ENTITIES) - set(covered) == {"TaxCode", "TaxRate", "TaxAgency", "TimeActivity"}
    body = ok(conn.get("cdc", {"entities": ",".join(covered), "changedSince": since(conn)}))
    assert len(body["CDCResponse"][0]["QueryResponse"]) == len(covered)
    # the recorded sample's request, lower case
    assert ok(conn.get("cdc", {"entities": "estimate", "changedSince": since(conn)}))["CDCResponse"]
    for tax_list in ("TaxCode", "taxrate", "TaxAgency", "TimeActivity"):
        resp = conn.get("cdc", {"entities": f"Customer,{tax_list}", "changedSince": since(conn)})
        error = fault_of(resp)
        assert resp.status_code == 400 and error["code"] == "500" and "query" in error["Detail"]
    assert fault_of(conn.get("cdc", {"entities": "Estimate,Estimat", "changedSince": since(conn)}))["code"] == "4001"


def test_cdc_returns_a_changed_bill_and_the_stub_of_a_deleted_one(fresh: Conn) -> None:
    vendor = vendor_id(fresh)
    kept = ok(fresh.post("bill", {"VendorRef": {"value": vendor}, "Line": [expense_line("12.50")]}))["Bill"]
    gone = ok(fresh.post("bill", {"VendorRef": {"value": vendor}, "Line": [expense_line("7.00")]}))["Bill"]
    ok(fresh.post("bill", {"Id": gone["Id"], "SyncToken": gone["SyncToken"]}, {"operation": "delete"}))
    body = ok(fresh.get("cdc", {"entities": "Bill", "changedSince": since(fresh)}))
    bills = {b["Id"]: b for b in body["CDCResponse"][0]["QueryResponse"][0]["Bill"]}
    assert bills[kept["Id"]]["TotalAmt"] == 12.5
    assert bills[gone["Id"]]["status"] == "Deleted"


# -- 3. strictness QBO does not have ---------------------------------------------------------------------

def test_not_equal_operator_and_more_filterable_fields(conn: Conn) -> None:
    customer = make_customer(conn.qb)
    paid = ok(conn.post("invoice", {"CustomerRef": {"value": customer.Id}, "Line": [sales_line("40.00")]}))
    open_ = ok(conn.post("invoice", {"CustomerRef": {"value": customer.Id}, "Line": [sales_line("60.00")]}))
    ok(conn.post("payment", {"CustomerRef": {"value": customer.Id}, "TotalAmt": "40.00",
                             "Line": [{"Amount": "40.00", "LinkedTxn": [{"TxnId": paid["Invoice"]["Id"],
                                                                         "TxnType": "Invoice"}]}]}))
    found = rows(conn, f"SELECT * FROM Invoice WHERE CustomerRef = '{customer.Id}' AND Balance != '0'", "Invoice")
    assert [i["Id"] for i in found] == [open_["Invoice"]["Id"]]
    others = rows(conn, "SELECT * FROM Customer WHERE DisplayName != 'Cool Cars' MAXRESULTS 1000", "Customer")
    assert "Cool Cars" not in {c["DisplayName"] for c in others} and len(others) > 5
    banks = rows(conn, "SELECT * FROM Account WHERE AccountType = 'Bank' AND AccountSubType != 'Savings'", "Account")
    assert "Checking" in {a["Name"] for a in banks} and "Savings" not in {a["Name"] for a in banks}
    sorted_ = rows(conn, "SELECT * FROM Account ORDERBY AccountSubType", "Account")
    assert [a.get("AccountSubType") for a in sorted_] == sorted(a.get("AccountSubType") for a in sorted_)
    # "!" alone is still a lexical error, and <> is not QBO's
    assert fault_of(conn.query("SELECT * FROM Invoice WHERE Balance ! '0'"))["code"] == "4000"
    assert fault_of(conn.query("SELECT * FROM Invoice WHERE Balance <> '0'"))["code"] == "4000"


def test_preferences_every_section_and_updates_with_sync_token(fresh: Conn) -> None:
    prefs = Preferences.get(qb=fresh.qb)
    for section in ("AccountingInfoPrefs", "ProductAndServicesPrefs", "SalesFormsPrefs", "EmailMessagesPrefs",
                    "VendorAndPurchasesPrefs", "TimeTrackingPrefs", "TaxPrefs", "CurrencyPrefs", "ReportPrefs",
                    "OtherPrefs"):
        assert getattr(prefs, section) is not None, section
    assert prefs.ReportPrefs.ReportBasis == "Accrual"
    token = prefs.SyncToken
    # python-quickbooks sends the whole object back (empty strings count as absent)
    prefs.AccountingInfoPrefs.BookCloseDate = "2025-12-31"
    saved = prefs.save(qb=fresh.qb)
    assert saved.AccountingInfoPrefs.BookCloseDate == "2025-12-31"
    assert int(saved.SyncToken) == int(token) + 1
    read = ok(fresh.get("preferences"))["Preferences"]
    assert read["AccountingInfoPrefs"]["BookCloseDate"] == "2025-12-31" and read["SyncToken"] == saved.SyncToken
    # a stale SyncToken, an unknown section and a bad date are refused; nothing changes
    stale = fresh.post("preferences", {"SyncToken": token, "ReportPrefs": {"ReportBasis": "Cash"}})
    assert fault_of(stale)["code"] == "5010"
    unknown = fresh.post("preferences", {"SyncToken": saved.SyncToken, "NoSuchPrefs": {"A": True}})
    assert fault_of(unknown)["code"] == "2010"
    bad = fresh.post("preferences", {"SyncToken": saved.SyncToken, "AccountingInfoPrefs": {"BookCloseDate": "31/12"}})
    assert fault_of(bad)["code"] == "2070"
    cash = ok(fresh.post("preferences", {"SyncToken": saved.SyncToken, "sparse": True,
                                         "ReportPrefs": {"ReportBasis": "Cash"}}))["Preferences"]
    assert cash["ReportPrefs"]["ReportBasis"] == "Cash" and cash["AccountingInfoPrefs"]["BookCloseDate"] == "2025-12-31"
    assert ok(fresh.query("SELECT * FROM Preferences"))["QueryResponse"]["Preferences"][0]["ReportPrefs"] == \
        cash["ReportPrefs"]


# -- 2. generic create / read / update / delete / void from the spec ----------------------------------------

def test_name_lists_with_python_quickbooks(conn: Conn) -> None:
    parent = TrackingClass()
    parent.Name = unique("Region")
    parent = parent.save(qb=conn.qb)
    child = TrackingClass()
    child.Name = "East"
    child.SubClass = True
    child.ParentRef = parent.to_ref()
    child = child.save(qb=conn.qb)
    assert child.FullyQualifiedName == f"{parent.Name}:East" and child.SubClass is True
    assert TrackingClass.get(child.Id, qb=conn.qb).ParentRef.value == parent.Id
    twin = TrackingClass()
    twin.Name = parent.Name.upper()
    with pytest.raises(QuickbooksException) as duplicate:
        twin.save(qb=conn.qb)
    assert duplicate.value.error_code == 6240
    term = Term()
    term.Name = unique("Net 45")
    term.DueDays = 45
    term = term.save(qb=conn.qb)
    assert (term.Type, term.DueDays, term.Active) == ("STANDARD", 45, True)
    term.Active = False
    term.save(qb=conn.qb)
    assert term.Name not in {t.Name for t in Term.all(qb=conn.qb)}
    assert term.Name in {t.Name for t in Term.where("Active = false", qb=conn.qb)}
    assert fault_of(conn.post("paymentmethod", {"Name": unique("Wire"), "Type": "BITCOIN"}))["code"] == "2170"
    assert fault_of(conn.post("department", {}))["code"] == "2020"


def test_bill_refs_required_fields_sparse_update_and_sync_token(conn: Conn) -> None:
    vendor = vendor_id(conn)
    bill = Bill()
    bill.VendorRef = ref(vendor)
    line = AccountBasedExpenseLine()
    line.Amount = Decimal("80.25")
    line.AccountBasedExpenseLineDetail = AccountBasedExpenseLineDetail()
    line.AccountBasedExpenseLineDetail.AccountRef = ref(EXPENSE_ACCOUNT)
    bill.Line = [line]
    saved = bill.save(qb=conn.qb)
    assert (saved.TotalAmt, saved.Balance) == (Decimal("80.25"), Decimal("80.25"))
    assert saved.VendorRef.name == VENDOR and saved.DueDate == saved.TxnDate
    assert saved.Line[0].AccountBasedExpenseLineDetail.AccountRef.name == "Job Supplies"
    # 2020 naming the missing field, 2500 naming the bad reference
    missing = conn.post("bill", {"Line": [expense_line("1.00")]})
    assert (fault_of(missing)["code"], fault_of(missing)["element"]) == ("2020", "VendorRef")
    bad = conn.post("bill", {"VendorRef": {"value": vendor}, "Line": [expense_line("1.00", "99999")]})
    assert (fault_of(bad)["code"], fault_of(bad)["element"]) == (
        "2500", "Line[0].AccountBasedExpenseLineDetail.AccountRef")
    assert fault_of(conn.post("bill", {"VendorRef": {"value": "99999"}, "Line": [expense_line("1")]}))["code"] == "2500"
    unknown = conn.post("bill", {"VendorRef": {"value": vendor}, "Line": [expense_line("1.00")], "Colour": "red"})
    assert fault_of(unknown)["code"] == "2010"
    # sparse update: changes what it names, keeps the rest, SyncToken + 1; a stale token is 5010
    changed = ok(conn.post("bill", {"Id": saved.Id, "SyncToken": saved.SyncToken, "sparse": True,
                                    "PrivateNote": "checked"}))["Bill"]
    assert changed["PrivateNote"] == "checked" and changed["TotalAmt"] == 80.25 and changed["SyncToken"] == "1"
    stale = conn.post("bill", {"Id": saved.Id, "SyncToken": "0", "sparse": True, "PrivateNote": "late"})
    assert fault_of(stale)["code"] == "5010"


def test_transactions_each_compute_their_total(conn: Conn) -> None:
    vendor = vendor_id(conn)
    customer = make_customer(conn.qb)
    receipt = ok(conn.post("salesreceipt", {"CustomerRef": {"value": customer.Id},
                                            "DepositToAccountRef": {"value": UNDEPOSITED},
                                            "Line": [sales_line("30.00"), sales_line("12.00")]}))["SalesReceipt"]
    assert (receipt["TotalAmt"], receipt["Balance"]) == (42.0, 0)
    assert receipt["Line"][-1]["DetailType"] == "SubTotalLineDetail" and receipt["Line"][-1]["Amount"] == 42.0
    estimate = ok(conn.post("estimate", {"CustomerRef": {"value": customer.Id},
                                         "Line": [{"Amount": "150.00", "DetailType": "SalesItemLineDetail",
                                                   "SalesItemLineDetail": {"ItemRef": {"value": "2"}, "Qty": 2,
                                                                           "UnitPrice": 75}}]}))["Estimate"]
    assert (estimate["TotalAmt"], estimate["TxnStatus"]) == (150.0, "Pending")
    wrong = conn.post("estimate", {"CustomerRef": {"value": customer.Id},
                                   "Line": [{"Amount": "10.00", "DetailType": "SalesItemLineDetail",
                                             "SalesItemLineDetail": {"ItemRef": {"value": "2"}, "Qty": 2,
                                                                     "UnitPrice": 75}}]})
    assert fault_of(wrong)["code"] == "6070"
    order = ok(conn.post("purchaseorder", {"VendorRef": {"value": vendor}, "APAccountRef": {"value": "7"},
                                           "Line": [{"Amount": "20.00", "DetailType": "ItemBasedExpenseLineDetail",
                                                     "ItemBasedExpenseLineDetail": {"ItemRef": {"value": "4"}}}]}))
    assert (order["PurchaseOrder"]["TotalAmt"], order["PurchaseOrder"]["POStatus"]) == (20.0, "Open")
    purchase = ok(conn.post("purchase", {"AccountRef": {"value": CHECKING}, "PaymentType": "Check",
                                         "Line": [expense_line("9.99")]}))["Purchase"]
    assert purchase["TotalAmt"] == 9.99
    assert fault_of(conn.post("purchase", {"AccountRef": {"value": CHECKING}, "PaymentType": "IOU",
                                           "Line": [expense_line("1")]}))["code"] == "2170"
    credit = ok(conn.post("vendorcredit", {"VendorRef": {"value": vendor}, "Line": [expense_line("5.00")]}))
    assert credit["VendorCredit"]["Balance"] == 5.0
    deposit = ok(conn.post("deposit", {"DepositToAccountRef": {"value": CHECKING},
                                       "Line": [{"Amount": "100.00", "DetailType": "DepositLineDetail",
                                                 "DepositLineDetail": {"AccountRef": {"value": "1"}}}]}))
    assert deposit["Deposit"]["TotalAmt"] == 100.0
    transfer = ok(conn.post("transfer", {"FromAccountRef": {"value": CHECKING}, "ToAccountRef": {"value": "6"},
                                         "Amount": "250.00"}))["Transfer"]
    assert transfer["Amount"] == 250.0 and transfer["FromAccountRef"]["name"] == "Checking"
    same = conn.post("transfer", {"FromAccountRef": {"value": CHECKING}, "ToAccountRef": {"value": CHECKING},
                                  "Amount": "1.00"})
    assert fault_of(same)["code"] == "6000"
    card = ok(conn.post("account", {"Name": unique("Visa card"), "AccountType": "Credit Card"}))["Account"]
    paid = ok(conn.post("creditcardpayment", {"CreditCardAccountRef": {"value": card["Id"]},
                                              "BankAccountRef": {"value": CHECKING}, "Amount": "75.00"}))
    # QBO names the object CreditCardPaymentTxn (python-quickbooks: "doesn't match the endpoint name")
    assert paid["CreditCardPaymentTxn"]["Amount"] == 75 and "CreditCardPayment" not in paid
    listed = ok(conn.query(f"SELECT * FROM CreditCardPayment WHERE Id = '{paid['CreditCardPaymentTxn']['Id']}'"))
    assert [p["Amount"] for p in listed["QueryResponse"]["CreditCardPaymentTxn"]] == [75]
    bill = ok(conn.post("bill", {"VendorRef": {"value": vendor}, "Line": [expense_line("44.00")]}))["Bill"]
    bill_payment = ok(conn.post("billpayment", {
        "VendorRef": {"value": vendor}, "PayType": "Check", "TotalAmt": "44.00",
        "CheckPayment": {"BankAccountRef": {"value": CHECKING}},
        "Line": [{"Amount": "44.00", "LinkedTxn": [{"TxnId": bill["Id"], "TxnType": "Bill"}]}]}))["BillPayment"]
    assert bill_payment["TotalAmt"] == 44.0
    no_bank = conn.post("billpayment", {"VendorRef": {"value": vendor}, "PayType": "Check", "TotalAmt": "1.00",
                                        "Line": [{"Amount": "1.00",
                                                  "LinkedTxn": [{"TxnId": bill["Id"], "TxnType": "Bill"}]}]})
    assert fault_of(no_bank)["code"] == "2020"


def test_journal_entry_must_balance(conn: Conn) -> None:
    def line(posting: str, amount: str, account: str) -> JournalEntryLine:
        entry = JournalEntryLine()
        entry.Amount = Decimal(amount)
        entry.JournalEntryLineDetail = JournalEntryLineDetail()
        entry.JournalEntryLineDetail.PostingType = posting
        entry.JournalEntryLineDetail.AccountRef = ref(account)
        return entry

    journal = JournalEntry()
    journal.Line = [line("Debit", "120.00", EXPENSE_ACCOUNT), line("Credit", "120.00", CHECKING)]
    saved = journal.save(qb=conn.qb)
    assert saved.TotalAmt == Decimal("120.0") and [ln.LineNum for ln in saved.Line] == [1, 2]
    unbalanced = JournalEntry()
    unbalanced.Line = [line("Debit", "120.00", EXPENSE_ACCOUNT), line("Credit", "100.00", CHECKING)]
    with pytest.raises(QuickbooksException) as refused:
        unbalanced.save(qb=conn.qb)
    assert refused.value.error_code == 6000 and "not balanced" in refused.value.detail


def test_delete_and_void(conn: Conn) -> None:
    customer = make_customer(conn.qb)
    receipt = ok(conn.post("salesreceipt", {"CustomerRef": {"value": customer.Id}, "PrivateNote": "walk-in",
                                            "Line": [sales_line("18.00")]}))["SalesReceipt"]
    voided = ok(conn.post("salesreceipt", {"Id": receipt["Id"], "SyncToken": receipt["SyncToken"], "sparse": True},
                          {"operation": "update", "include": "void"}))["SalesReceipt"]
    assert (voided["TotalAmt"], voided["PrivateNote"], voided["SyncToken"]) == (0, "Voided - walk-in", "1")
    assert voided["Line"][0]["Amount"] == 0
    changed = conn.post("salesreceipt", {"Id": receipt["Id"], "SyncToken": "1", "sparse": True, "PrivateNote": "x"})
    assert fault_of(changed)["code"] == "6000"
    estimate = ok(conn.post("estimate", {"CustomerRef": {"value": customer.Id}, "Line": [sales_line("5.00")]}))
    estimate_id = estimate["Estimate"]["Id"]
    deleted = ok(conn.post("estimate", {"Id": estimate_id, "SyncToken": "0"}, {"operation": "delete"}))
    assert deleted["Estimate"] == {"domain": "QBO", "status": "Deleted", "Id": estimate_id}
    assert fault_of(conn.get(f"estimate/{estimate_id}"))["code"] == "610"
    # name lists are deactivated, never deleted
    term = ok(conn.post("term", {"Name": unique("Net 7"), "DueDays": 7}))["Term"]
    refused = conn.post("term", {"Id": term["Id"], "SyncToken": "0"}, {"operation": "delete"})
    assert fault_of(refused)["code"] == "500"
    # read-only lists refuse writes
    assert fault_of(conn.post("taxcode", {"Name": unique("Code")}))["code"] == "500"


def test_time_activity_and_attachable_note(conn: Conn) -> None:
    employee = rows(conn, "SELECT * FROM Employee", "Employee")[0]
    activity = ok(conn.post("timeactivity", {"NameOf": "Employee", "EmployeeRef": {"value": employee["Id"]},
                                             "Hours": 3, "Minutes": 30, "TxnDate": "2026-11-30"}))["TimeActivity"]
    assert (activity["Hours"], activity["Minutes"], activity["BillableStatus"]) == (3, 30, "NotBillable")
    assert activity["EmployeeRef"]["name"] == employee["DisplayName"]
    no_employee = conn.post("timeactivity", {"NameOf": "Employee", "Hours": 1})
    assert (fault_of(no_employee)["code"], fault_of(no_employee)["element"]) == ("2020", "EmployeeRef")
    note = Attachable()
    note.Note = "Signed work order"
    attachable_ref = AttachableRef()
    attachable_ref.EntityRef = ref(activity["Id"])
    attachable_ref.EntityRef.type = "TimeActivity"
    note.AttachableRef = [attachable_ref]
    saved = note.save(qb=conn.qb)
    assert saved.Note == "Signed work order"
    found = rows(conn, f"SELECT * FROM Attachable WHERE AttachableRef.EntityRef.value = '{activity['Id']}'",
                 "Attachable")
    assert [a["Id"] for a in found] == [saved.Id]
    dangling = conn.post("attachable", {"Note": "x", "AttachableRef": [{"EntityRef": {"type": "Invoice",
                                                                                      "value": "99999"}}]})
    assert fault_of(dangling)["code"] == "2500"


def test_upload_endpoint_takes_multipart_files(conn: Conn) -> None:
    attachment = Attachable()
    attachment.FileName = "receipt.txt"
    attachment.ContentType = "text/plain"
    attachment._FileBytes = b"paid in full\n"
    saved = attachment.save(qb=conn.qb)
    assert saved.FileName == "receipt.txt" and int(saved.Size) == len(b"paid in full\n")
    read = ok(conn.get(f"attachable/{saved.Id}"))["Attachable"]
    assert read["ContentType"] == "text/plain"
    download = requests.get(read["TempDownloadUri"], timeout=10)
    assert download.status_code == 200 and download.content == b"paid in full\n"
    # a raw CRLF multipart request with two files
    boundary = "xyzzy"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file_content_01\"; filename=\"a.csv\"\r\n"
            f"Content-Type: text/csv\r\n\r\nx,y\r\n--{boundary}\r\n"
            f"Content-Disposition: form-data; name=\"file_content_02\"; filename=\"b.txt\"\r\n"
            f"Content-Type: text/plain\r\n\r\nhello\r\n--{boundary}--\r\n").encode()
    answer = ok(conn.post("upload", body, content_type=f"multipart/form-data; boundary={boundary}"))
    names = [a["Attachable"]["FileName"] for a in answer["AttachableResponse"]]
    assert names == ["a.csv", "b.txt"]
    assert fault_of(conn.post("upload", b"{}", content_type="application/json"))["code"] == "2010"


def test_tax_service_creates_a_tax_code_and_its_rate(conn: Conn) -> None:
    agency = ok(conn.post("taxagency", {"DisplayName": unique("Board of Equalization")}))["TaxAgency"]
    service = TaxService()
    service.TaxCode = unique("County")
    detail = TaxRateDetails()
    detail.TaxRateName = unique("County rate")
    detail.RateValue = 2.5
    detail.TaxAgencyId = agency["Id"]
    service.TaxRateDetails = [detail]
    created = service.save(qb=conn.qb)
    code = ok(conn.get(f"taxcode/{created.TaxCodeId}"))["TaxCode"]
    assert code["Name"] == service.TaxCode and code["Taxable"] is True
    rate_id = code["SalesTaxRateList"]["TaxRateDetail"][0]["TaxRateRef"]["value"]
    rate = ok(conn.get(f"taxrate/{rate_id}"))["TaxRate"]
    assert (rate["Name"], rate["RateValue"], rate["AgencyRef"]["value"]) == (detail.TaxRateName, 2.5, agency["Id"])
    assert rows(conn, f"SELECT * FROM TaxCode WHERE Name = '{service.TaxCode}'", "TaxCode")[0]["Id"] == code["Id"]
    again = conn.post("taxservice/taxcode", {"TaxCode": service.TaxCode, "TaxRateDetails": [
        {"TaxRateId": rate_id, "TaxApplicableOn": "Sales"}]})
    assert fault_of(again)["code"] == "6240"
    no_agency = conn.post("taxservice/taxcode", {"TaxCode": unique("X"), "TaxRateDetails": [
        {"TaxRateName": unique("r"), "RateValue": 1, "TaxAgencyId": "99999"}]})
    assert fault_of(no_agency)["code"] == "2500"


def test_company_currency_and_exchange_rate(fresh: Conn) -> None:
    currency = ok(fresh.post("companycurrency", {"Code": "eur"}))["CompanyCurrency"]
    assert (currency["Code"], currency["Active"]) == ("EUR", True)
    assert fault_of(fresh.post("companycurrency", {"Code": "EUR"}))["code"] == "6240"
    rate = ok(fresh.post("exchangerate", {"SourceCurrencyCode": "EUR", "Rate": "1.085", "AsOfDate": "2026-11-30"}))
    assert rate["ExchangeRate"]["Rate"] == 1.085 and "Id" not in rate["ExchangeRate"]
    read = ok(fresh.get("exchangerate", {"sourcecurrencycode": "EUR", "asofdate": "2026-12-01"}))["ExchangeRate"]
    assert (read["Rate"], read["AsOfDate"], read["TargetCurrencyCode"]) == (1.085, "2026-11-30", "USD")
    assert fault_of(fresh.get("exchangerate", {"sourcecurrencycode": "GBP"}))["code"] == "610"
    listed = rows(fresh, "SELECT * FROM ExchangeRate WHERE SourceCurrencyCode = 'EUR'", "ExchangeRate")
    assert len(listed) == 1 and "Id" not in listed[0]


def test_recurring_transaction_wraps_its_template(conn: Conn) -> None:
    customer = make_customer(conn.qb)
    name = unique("Monthly mowing")
    body = {"Invoice": {"CustomerRef": {"value": customer.Id}, "Line": [sales_line("45.00")],
                        "RecurringInfo": {"Name": name, "RecurType": "Automated", "Active": True,
                                          "ScheduleInfo": {"IntervalType": "Monthly", "NumInterval": 1,
                                                           "DayOfMonth": 1, "StartDate": "2027-01-01"}}}}
    created = ok(conn.post("recurringtransaction", body))["RecurringTransaction"]
    template = created["Invoice"]
    assert template["RecurringInfo"]["Name"] == name and template["CustomerRef"]["name"] == customer.DisplayName
    read = ok(conn.get(f"recurringtransaction/{template['Id']}"))["RecurringTransaction"]
    assert read["Invoice"]["Id"] == template["Id"]
    listed = ok(conn.query("SELECT * FROM RecurringTransaction"))["QueryResponse"]["RecurringTransaction"]
    assert template["Id"] in {r["Invoice"]["Id"] for r in listed if "Invoice" in r}
    assert fault_of(conn.post("recurringtransaction", body))["code"] == "6240"
    assert fault_of(conn.post("recurringtransaction", {"Invoice": {"CustomerRef": {"value": customer.Id}}}))[
        "code"] == "2020"
    # python-quickbooks updates with the Id inside the template (no Id beside it)
    from quickbooks.objects.recurringtransaction import RecurringTransaction

    kept = RecurringTransaction.get(template["Id"], qb=conn.qb)
    kept.Invoice.RecurringInfo.ScheduleInfo.DayOfMonth = 15
    kept.save(qb=conn.qb)
    again = RecurringTransaction.get(template["Id"], qb=conn.qb)
    assert (again.Invoice.RecurringInfo.ScheduleInfo.DayOfMonth, again.Invoice.SyncToken) == (15, "1")
    assert template["Id"] in {r.Invoice.Id for r in RecurringTransaction.where("Type = 'Invoice'", qb=conn.qb)}
    gone = ok(conn.post("recurringtransaction", {"Invoice": {"Id": template["Id"], "SyncToken": "1"}},
                        {"operation": "delete"}))
    assert gone["RecurringTransaction"]["Invoice"]["status"] == "Deleted"


# -- 4. wire details ---------------------------------------------------------------------------------------

def test_money_prints_as_qbo_prints_it(conn: Conn) -> None:
    customer = ok(conn.post("customer", {"DisplayName": unique("Money")}))["Customer"]
    assert customer["Balance"] == 0 and isinstance(customer["Balance"], int)
    invoice = ok(conn.post("invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [
        {"Amount": "150.00", "DetailType": "SalesItemLineDetail",
         "SalesItemLineDetail": {"ItemRef": {"value": "2"}, "Qty": "2", "UnitPrice": "75.00"}}]}))
    raw = conn.get(f"invoice/{invoice['Invoice']['Id']}").text
    assert '"UnitPrice": 75,' in raw and '"Qty": 2,' in raw and '"Amount": 150.0,' in raw
    assert '"TotalTax": 0' in raw and not re.search(r": 0\.0[,}]", raw), raw


def test_object_not_found_says_its_prefix_once(conn: Conn) -> None:
    for path in ("invoice/987654", "bill/987654", f"companyinfo/{int(conn.realm) + 1}"):
        detail = fault_of(conn.get(path))["Detail"]
        assert detail.count("Object Not Found") == 1 and detail.startswith("Object Not Found : "), detail


def test_addresses_have_ids_that_updates_keep(conn: Conn) -> None:
    address = {"Line1": "9 Elm St", "City": "Redwood City", "CountrySubDivisionCode": "CA", "PostalCode": "94061"}
    customer = ok(conn.post("customer", {"DisplayName": unique("Addr"), "BillAddr": address,
                                         "ShipAddr": address}))["Customer"]
    bill_id, ship_id = customer["BillAddr"]["Id"], customer["ShipAddr"]["Id"]
    assert bill_id.isdigit() and ship_id.isdigit() and bill_id != ship_id
    # a sparse update sending the address without its Id keeps the Id; an unchanged one keeps the SyncToken
    same = ok(conn.post("customer", {"Id": customer["Id"], "SyncToken": customer["SyncToken"], "sparse": True,
                                     "BillAddr": address}))["Customer"]
    assert same["SyncToken"] == customer["SyncToken"] and same["BillAddr"]["Id"] == bill_id
    moved = ok(conn.post("customer", {"Id": customer["Id"], "SyncToken": customer["SyncToken"], "sparse": True,
                                      "BillAddr": {**address, "Line1": "10 Elm St"}}))["Customer"]
    assert moved["BillAddr"] == {"Id": bill_id, **address, "Line1": "10 Elm St"}
    vendor = ok(conn.post("vendor", {"DisplayName": unique("Supplier"), "BillAddr": address}))["Vendor"]
    assert vendor["BillAddr"]["Id"].isdigit()


def test_include_invoice_link(conn: Conn) -> None:
    customer = make_customer(conn.qb)
    with_email = ok(conn.post("invoice", {"CustomerRef": {"value": customer.Id}, "Line": [sales_line("20.00")],
                                          "BillEmail": {"Address": "pay@example.com"}}))["Invoice"]
    read = ok(conn.get(f"invoice/{with_email['Id']}", {"include": "invoiceLink"}))["Invoice"]
    assert read["InvoiceLink"].startswith("https://") and read["Id"] == with_email["Id"]
    again = ok(conn.get(f"invoice/{with_email['Id']}", {"include": "invoiceLink"}))["Invoice"]
    assert again["InvoiceLink"] == read["InvoiceLink"]  # one link per invoice
    assert "InvoiceLink" not in ok(conn.get(f"invoice/{with_email['Id']}"))["Invoice"]
    queried = ok(conn.get("query", {"query": f"SELECT * FROM Invoice WHERE Id = '{with_email['Id']}'",
                                    "include": "invoiceLink"}))["QueryResponse"]["Invoice"]
    assert [i["InvoiceLink"] for i in queried] == [read["InvoiceLink"]]
    # no e-mail address to send it to: QBO makes no link
    without = ok(conn.post("invoice", {"CustomerRef": {"value": customer.Id}, "Line": [sales_line("20.00")]}))
    assert "InvoiceLink" not in ok(conn.get(f"invoice/{without['Invoice']['Id']}",
                                            {"include": "invoiceLink"}))["Invoice"]


def test_unsupported_cdc_and_validation_errors_map_to_python_quickbooks(conn: Conn) -> None:
    from quickbooks.cdc import change_data_capture
    from quickbooks.objects import TaxCode

    with pytest.raises(UnsupportedException):
        change_data_capture([TaxCode], dt.datetime.now(dt.UTC) - dt.timedelta(hours=1), qb=conn.qb)
    with pytest.raises(ValidationException):
        TaxCode.where("Nme = 'x'", qb=conn.qb)


def test_bill_payment_lowers_the_bill_balance_and_gives_it_back(conn: Conn) -> None:
    vendor = vendor_id(conn)
    bill = ok(conn.post("bill", {"VendorRef": {"value": vendor}, "Line": [expense_line("60.00")]}))["Bill"]

    def pay(amount: str, total: str | None = None) -> requests.Response:
        return conn.post("billpayment", {
            "VendorRef": {"value": vendor}, "PayType": "Check", "TotalAmt": total or amount,
            "CheckPayment": {"BankAccountRef": {"value": CHECKING}},
            "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": bill["Id"], "TxnType": "Bill"}]}]})

    payment = ok(pay("25.00"))["BillPayment"]
    read = ok(conn.get(f"bill/{bill['Id']}"))["Bill"]
    assert read["Balance"] == 35.0 and read["LinkedTxn"] == [{"TxnId": payment["Id"], "TxnType": "BillPayment"}]
    assert fault_of(pay("35.01"))["code"] == "6000"  # more than the open balance
    assert fault_of(pay("10.00", total="5.00"))["code"] == "6000"  # more than the payment's total
    refused = conn.post("bill", {"Id": bill["Id"], "SyncToken": read["SyncToken"]}, {"operation": "delete"})
    assert fault_of(refused)["code"] == "6000"  # a paid bill is not deleted
    ok(conn.post("billpayment", {"Id": payment["Id"], "SyncToken": payment["SyncToken"]}, {"operation": "delete"}))
    back = ok(conn.get(f"bill/{bill['Id']}"))["Bill"]
    assert back["Balance"] == 60.0 and back["LinkedTxn"] == []


def test_batch_writes_generic_entities(conn: Conn) -> None:
    vendor = vendor_id(conn)
    customer = make_customer(conn.qb)
    receipt = ok(conn.post("salesreceipt", {"CustomerRef": {"value": customer.Id}, "Line": [sales_line("9.00")]}))
    card = ok(conn.post("account", {"Name": unique("Card"), "AccountType": "Credit Card"}))["Account"]["Id"]
    items = [
        {"bId": "class", "operation": "create", "Class": {"Name": unique("Batch class")}},
        {"bId": "bill", "operation": "create",
         "Bill": {"VendorRef": {"value": vendor}, "Line": [expense_line("3.00")]}},
        {"bId": "bad", "operation": "create", "Bill": {"Line": [expense_line("3.00")]}},
        {"bId": "void", "operation": "update", "optionsData": "void",
         "SalesReceipt": {"Id": receipt["SalesReceipt"]["Id"], "SyncToken": receipt["SalesReceipt"]["SyncToken"]}},
        {"bId": "card", "operation": "create", "CreditCardPaymentTxn": {
            "CreditCardAccountRef": {"value": card}, "BankAccountRef": {"value": CHECKING}, "Amount": "12.00"}},
        {"bId": "terms", "Query": "SELECT * FROM Term WHERE Active IN (true, false)"},
    ]
    answers = {a["bId"]: a for a in ok(conn.post("batch", {"BatchItemRequest": items}))["BatchItemResponse"]}
    assert answers["class"]["Class"]["FullyQualifiedName"].startswith("Batch class")
    assert answers["bill"]["Bill"]["TotalAmt"] == 3.0
    assert answers["bad"]["Fault"]["Error"][0]["code"] == "2020"
    assert answers["void"]["SalesReceipt"]["TotalAmt"] == 0
    assert answers["card"]["CreditCardPaymentTxn"]["Amount"] == 12.0
    assert "QueryResponse" in answers["terms"]


def test_countries_are_iso3_and_addresses_have_no_geocode(conn: Conn) -> None:
    def country(sent: str) -> str:
        addr = {"Line1": "1 Main St", "City": "Springfield", "Country": sent, "Lat": "37.1", "Long": "-122.2"}
        customer = ok(conn.post("customer", {"DisplayName": unique("Country"), "BillAddr": addr}))["Customer"]
        read = ok(conn.get(f"customer/{customer['Id']}"))["Customer"]["BillAddr"]
        assert "Lat" not in read and "Long" not in read and read["Id"].isdigit()
        return str(read["Country"])

    assert [country(c) for c in ("US", "usa", "United States", "U.S.A.", "United States of America")] == ["USA"] * 5
    assert [country(c) for c in ("GB", "United Kingdom", "UK", "CA", "Canada", "AU", "Australia")] == \
        ["GBR", "GBR", "GBR", "CAN", "CAN", "AUS", "AUS"]
    assert country("Narnia") == "Narnia"  # no country: kept as sent
    # sending "US" back for a stored "USA" is no change: the SyncToken stays
    addr = {"Line1": "2 Main St", "City": "Springfield", "Country": "US"}
    customer = ok(conn.post("customer", {"DisplayName": unique("Same"), "BillAddr": addr}))["Customer"]
    same = ok(conn.post("customer", {"Id": customer["Id"], "SyncToken": customer["SyncToken"], "sparse": True,
                                     "BillAddr": addr}))["Customer"]
    assert (same["SyncToken"], same["BillAddr"]["Country"]) == (customer["SyncToken"], "USA")
    invoice = ok(conn.post("invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [sales_line("5.00")],
                                       "ShipAddr": {"Line1": "3 Main St", "Country": "United States"}}))["Invoice"]
    assert (invoice["BillAddr"]["Country"], invoice["ShipAddr"]["Country"]) == ("USA", "USA")
