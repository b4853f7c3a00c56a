"""Every fault the emulator's rules name, caused by the situation that causes it in QBO, parsed by
python-quickbooks into the exception class its code range maps to (API_FACTS §4.4)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import requests
from intuitlib.exceptions import AuthClientError
from quickbooks.exceptions import (
    AuthorizationException,
    GeneralException,
    ObjectNotFoundException,
    QuickbooksException,
    SevereException,
    UnsupportedException,
    ValidationException,
)
from quickbooks.objects import Account, CompanyInfo, Customer, Employee, Invoice, Payment, Vendor
from requests_oauthlib import OAuth2Session
from wirekit import (
    Conn,
    assert_shape,
    build_invoice,
    build_payment,
    connect,
    fault_of,
    load_sample,
    make_customer,
    make_invoice,
    unique,
)

from qbo_toolkit.emulator import EmulatorServer

INACTIVE_CUSTOMER = "5"  # "Old Shed Co" in the seed company


def raises(exc_type: type[QuickbooksException], code: int, call: Callable[[], object]) -> QuickbooksException:
    """Run ``call``; it must raise exactly ``exc_type`` carrying ``error_code == code``."""
    with pytest.raises(QuickbooksException) as info:
        call()
    assert type(info.value) is exc_type, f"{type(info.value).__name__}: {info.value}"
    assert info.value.error_code == code, str(info.value)
    return info.value


def save(obj: object, conn: Conn) -> Callable[[], object]:
    return lambda: obj.save(qb=conn.qb)  # type: ignore[attr-defined]


def person(cls: type[Customer] | type[Vendor] | type[Employee], name: str | None) -> Customer:
    obj = cls()
    obj.DisplayName = name
    return obj  # type: ignore[return-value]


# -- names -------------------------------------------------------------------------------------------------

def test_6240_duplicate_display_name_across_customer_vendor_employee(conn: Conn) -> None:
    name = unique("Shared Name")
    make_customer(conn.qb, name)
    for cls in (Customer, Vendor, Employee):
        error = raises(QuickbooksException, 6240, save(person(cls, name), conn))
        assert "already exists" in error.detail
    # ignoring case and surrounding blanks
    raises(QuickbooksException, 6240, save(person(Vendor, f"  {name.upper()} "), conn))
    # the seed's inactive "Old Shed Co" and vendor "Cal Telephone" still block their names
    raises(QuickbooksException, 6240, save(person(Customer, "old shed co"), conn))
    raises(QuickbooksException, 6240, save(person(Customer, "Cal Telephone"), conn))
    # renaming onto a taken name
    other = Customer.get(make_customer(conn.qb).Id, qb=conn.qb)
    other.DisplayName = name
    raises(QuickbooksException, 6240, save(other, conn))


def test_6240_reply_has_the_recorded_shape(conn: Conn) -> None:
    resp = conn.post("customer", {"DisplayName": "Cool Cars"})
    assert resp.status_code == 400
    assert_shape(resp.json(), load_sample("fault_6240_duplicate_name"))
    assert resp.json()["Fault"]["type"] == "ValidationFault"


def test_colon_in_display_name(conn: Conn) -> None:
    error = raises(ValidationException, 2040, save(person(Customer, "Parent:Child"), conn))
    assert "colon" in error.detail


def test_2050_string_too_long(conn: Conn) -> None:
    customer = Customer()
    customer.GivenName = "G" * 101
    error = raises(ValidationException, 2050, save(customer, conn))
    assert "Max:100" in error.detail and "Supplied length:101" in error.detail
    owner = make_customer(conn.qb)
    invoice = build_invoice(owner.Id, [("2", 1, 75)], DocNumber="D" * 22)
    error = raises(ValidationException, 2050, save(invoice, conn))
    assert "Max:21" in error.detail


def test_6080_no_name(conn: Conn) -> None:
    # python-quickbooks sends "" for every name part of a bare Customer()
    raises(QuickbooksException, 6080, save(Customer(), conn))


def test_2010_unknown_property(conn: Conn) -> None:
    customer = person(Customer, unique())
    customer.BadJson = "x"  # type: ignore[attr-defined]  # python-quickbooks sends any attribute it is given
    error = raises(ValidationException, 2010, save(customer, conn))
    assert 'Unrecognized field "BadJson"' in error.detail
    resp = conn.post("customer", "{not json")
    assert resp.status_code == 400 and fault_of(resp)["code"] == "2010"


MALFORMED = [
    ("customer", {"DisplayName": "Addr as text", "BillAddr": "1 Main St"}, "2010"),
    ("customer", {"DisplayName": "Email as text", "PrimaryEmailAddr": "a@b.example"}, "2010"),
    ("customer", {"DisplayName": "Phone as text", "PrimaryPhone": "555-0100"}, "2010"),
    ("customer", {"DisplayName": "Ref as text", "ParentRef": "1"}, "2010"),
    ("invoice", {"CustomerRef": {"value": "1"}, "Line": [{"Amount": 5, "DetailType": "SalesItemLineDetail",
                                                          "SalesItemLineDetail": "x"}]}, "2010"),
    ("invoice", {"CustomerRef": {"value": "1"}, "Line": [{"Amount": 5, "DetailType": "SalesItemLineDetail",
                                                          "SalesItemLineDetail": {"ItemRef": "2"}}]}, "2010"),
    ("invoice", {"CustomerRef": {"value": "1"}, "Line": [{"Amount": 5, "DetailType": "SalesItemLineDetail",
                                                          "SalesItemLineDetail": {"ItemRef": {"value": "2"}}}],
                 "TxnTaxDetail": "x"}, "2010"),
    ("invoice", {"CustomerRef": {"value": "1"}, "Line": [{"DetailType": "DiscountLineDetail",
                                                          "DiscountLineDetail": "x", "Amount": 1}]}, "2010"),
    ("invoice", {"CustomerRef": {"value": "1"}, "Line": [{"DetailType": "SalesItemLineDetail", "Amount": 5,
                                                          "SalesItemLineDetail": {"ItemRef": {"value": "2"},
                                                                                  "Qty": 1e14, "UnitPrice": 1e14}}]},
     "2010"),
    ("payment", {"CustomerRef": {"value": "1"}, "TotalAmt": 5, "Line": ["x"]}, "2010"),
    ("payment", {"CustomerRef": {"value": "1"}, "TotalAmt": 5, "Line": "x"}, "2010"),
    ("payment", {"CustomerRef": {"value": "1"}, "TotalAmt": 5, "Line": [{"Amount": 5, "LinkedTxn": "x"}]}, "2010"),
    ("payment", {"CustomerRef": {"value": "1"}, "TotalAmt": 5, "Line": [{"Amount": 5, "LinkedTxn": ["x"]}]}, "2010"),
    ("payment", {"CustomerRef": {"value": "1"}, "TotalAmt": "1e400"}, "2010"),
    ("item", {"Name": "List type", "Type": ["Service"], "IncomeAccountRef": {"value": "1"}}, "2170"),
    ("account", {"Name": "List type", "AccountType": ["Bank"]}, "2170"),
]


@pytest.mark.parametrize(("entity", "body", "code"), MALFORMED,
                         ids=[f"{entity}-{i}" for i, (entity, _, _) in enumerate(MALFORMED)])
def test_malformed_bodies_are_refused_not_crashed_on(conn: Conn, entity: str, body: object, code: str) -> None:
    # QBO maps the JSON onto its schema first: a value of the wrong type is a 400 fault, never a 500
    resp = conn.post(entity, body)
    assert resp.status_code == 400, resp.text
    assert fault_of(resp)["code"] == code
    assert resp.json()["Fault"]["type"] == "ValidationFault"


def test_2210_bad_email(conn: Conn) -> None:
    resp = conn.post("customer", {"DisplayName": unique(), "PrimaryEmailAddr": {"Address": "no-at-sign"}})
    assert resp.status_code == 400 and fault_of(resp)["code"] == "2210"


# -- ids and references ------------------------------------------------------------------------------------

def test_2030_invalid_id(conn: Conn) -> None:
    error = raises(ValidationException, 2030, lambda: Customer.get("abc", qb=conn.qb))
    assert "Supplied value:abc" in error.detail
    raises(ValidationException, 2030, lambda: Invoice.get("1.5", qb=conn.qb))


def test_610_missing_object(conn: Conn) -> None:
    raises(ObjectNotFoundException, 610, lambda: Customer.get("987654", qb=conn.qb))
    # CompanyInfo has one id, the realm's: another number is not found, a non-number is invalid
    raises(ObjectNotFoundException, 610, lambda: CompanyInfo.get("1", qb=conn.qb))
    raises(ValidationException, 2030, lambda: CompanyInfo.get("abc", qb=conn.qb))


def test_610_inactive_reference(conn: Conn) -> None:
    invoice = build_invoice(INACTIVE_CUSTOMER, [("2", 1, 75)])
    error = raises(ObjectNotFoundException, 610, save(invoice, conn))
    assert "made inactive" in error.detail


def test_2500_invalid_reference(conn: Conn) -> None:
    owner = make_customer(conn.qb)
    error = raises(ValidationException, 2500, save(build_invoice(owner.Id, [("9999", 1, 10)]), conn))
    assert "ItemRef" in error.detail
    raises(ValidationException, 2500, save(build_invoice("999999", [("2", 1, 10)]), conn))


# -- required fields and business rules -------------------------------------------------------------------

def test_2020_required_missing(conn: Conn) -> None:
    owner = make_customer(conn.qb)
    no_customer = build_invoice(owner.Id, [("2", 1, 75)])
    no_customer.CustomerRef = None
    assert "CustomerRef" in raises(ValidationException, 2020, save(no_customer, conn)).detail
    no_lines = build_invoice(owner.Id, [])
    assert "Line" in raises(ValidationException, 2020, save(no_lines, conn)).detail
    no_total = build_payment(owner.Id, 0, [])
    no_total.TotalAmt = None
    assert "TotalAmt" in raises(ValidationException, 2020, save(no_total, conn)).detail
    no_token = conn.post("customer", {"Id": owner.Id, "sparse": True, "Notes": "x"})
    assert fault_of(no_token)["code"] == "2020"


def test_5010_stale_sync_token_on_a_transaction(conn: Conn) -> None:
    owner = make_customer(conn.qb)
    invoice = make_invoice(conn.qb, owner.Id, [("2", 1, 75)])
    stale = Invoice.get(invoice.Id, qb=conn.qb)
    fresh = Invoice.get(invoice.Id, qb=conn.qb)
    fresh.PrivateNote = "first"
    fresh.save(qb=conn.qb)
    stale.PrivateNote = "second"
    raises(QuickbooksException, 5010, save(stale, conn))
    raises(QuickbooksException, 5010, lambda: stale.delete(qb=conn.qb))
    raises(QuickbooksException, 5010, lambda: stale.void(qb=conn.qb))


def test_6220_deactivating_a_customer_with_a_balance(conn: Conn) -> None:
    owner = make_customer(conn.qb)
    make_invoice(conn.qb, owner.Id, [("2", 1, 75)])
    read = Customer.get(owner.Id, qb=conn.qb)
    read.Active = False
    error = raises(QuickbooksException, 6220, save(read, conn))
    assert "non-zero balance" in error.detail
    assert Customer.get(owner.Id, qb=conn.qb).Active is True


def test_6000_over_applied_payment(conn: Conn) -> None:
    owner = make_customer(conn.qb)
    invoice = make_invoice(conn.qb, owner.Id, [("2", 1, 75)])
    error = raises(QuickbooksException, 6000, save(build_payment(owner.Id, 80, [(invoice.Id, 80)]), conn))
    assert "more than its open balance (75" in error.detail
    # applying more than the payment's own total
    error = raises(QuickbooksException, 6000, save(build_payment(owner.Id, 10, [(invoice.Id, 20)]), conn))
    assert "more than the payment's total" in error.detail


def test_620_payment_for_another_customers_invoice(conn: Conn) -> None:
    owner, stranger = make_customer(conn.qb), make_customer(conn.qb)
    invoice = make_invoice(conn.qb, owner.Id, [("2", 1, 75)])
    raises(GeneralException, 620, save(build_payment(stranger.Id, 75, [(invoice.Id, 75)]), conn))


def test_6140_duplicate_doc_number(conn: Conn) -> None:
    owner = make_customer(conn.qb)
    number = unique("N")[:21]
    first = make_invoice(conn.qb, owner.Id, [("2", 1, 75)], DocNumber=number)
    error = raises(QuickbooksException, 6140, save(build_invoice(owner.Id, [("2", 1, 75)], DocNumber=number),
                                                   conn))
    assert f"TxnId={first.Id}" in error.detail


def test_6070_amount_is_not_qty_times_price(conn: Conn) -> None:
    owner = make_customer(conn.qb)
    invoice = build_invoice(owner.Id, [("2", 2, 75)])
    invoice.Line[0].Amount = 100
    error = raises(QuickbooksException, 6070, save(invoice, conn))
    assert "Amount calculation incorrect" in error.message


def test_2170_and_2070_bad_enumeration_and_date(conn: Conn) -> None:
    owner = make_customer(conn.qb)
    bad_type = {"CustomerRef": {"value": owner.Id}, "Line": [{"Amount": 5, "DetailType": "MagicLineDetail"}]}
    assert fault_of(conn.post("invoice", bad_type))["code"] == "2170"
    bad_date = build_invoice(owner.Id, [("2", 1, 75)], TxnDate="2026-13-45")
    raises(ValidationException, 2070, save(bad_date, conn))


def test_6010_account_without_type(conn: Conn) -> None:
    account = Account()
    account.Name = unique("Nameless type")
    account.AccountType = None
    account.AccountSubType = None
    raises(QuickbooksException, 6010, save(account, conn))


def test_500_unsupported_operations(conn: Conn) -> None:
    owner = make_customer(conn.qb)
    # name lists have no delete
    error = raises(UnsupportedException, 500, lambda: conn.qb.delete_object(
        "Customer", json.dumps({"Id": owner.Id, "SyncToken": "0"})))
    assert "not supported" in error.detail
    # a path QBO does not serve
    resp = conn.get(f"customer/{owner.Id}/5")
    assert resp.status_code == 400 and fault_of(resp)["code"] == "500"
    # payments are voided with operation=update&include=void, not operation=void
    payment = conn.post("payment", {"Id": "1", "SyncToken": "0"}, {"operation": "void"})
    assert fault_of(payment)["code"] == "500"
    assert Payment.get("1", qb=conn.qb).TotalAmt != 0


# -- queries ----------------------------------------------------------------------------------------------

def test_4000_query_parse_error(conn: Conn) -> None:
    error = raises(ValidationException, 4000, lambda: Customer.where("DisplayName = 'a' OR Id = '1'", qb=conn.qb))
    assert error.detail.startswith("QueryParserError: Encountered")
    raises(ValidationException, 4000, lambda: Customer.query("SELECT * FRM Customer", qb=conn.qb))


def test_4001_unknown_entity_and_unqueryable_property(conn: Conn) -> None:
    resp = conn.query("SELECT * FROM Custmoer")
    assert resp.status_code == 400
    sample = load_sample("fault_4001_invalid_query")
    assert_shape(resp.json(), sample)
    recorded = sample["Fault"]["Error"][0]
    assert {k: fault_of(resp)[k] for k in ("Message", "Detail", "code")} == recorded
    error = raises(ValidationException, 4001, lambda: Customer.where("Notes = 'x'", qb=conn.qb))
    assert "property 'Notes' is not queryable" in error.detail


# -- authentication (the gateway's 401) and throttling -----------------------------------------------------

GATEWAY_SAMPLE = "fault_401_token_expired"


def assert_gateway_401(resp: requests.Response, detail_start: str) -> None:
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="Intuit", error="invalid_token"'
    body = resp.json()
    assert_shape(body, load_sample(GATEWAY_SAMPLE), exact=True)
    assert isinstance(body["time"], int)
    error = body["fault"]["error"][0]
    assert (error["code"], body["fault"]["type"]) == ("3200", "AUTHENTICATION")
    assert error["detail"].startswith(detail_start), error["detail"]


def test_401_missing_and_malformed_tokens(conn: Conn) -> None:
    url = f"{conn.company_url}/customer/1"
    assert_gateway_401(requests.get(url, timeout=10), "Malformed bearer token")
    assert_gateway_401(requests.get(url, headers={"Authorization": "Bearer short"}, timeout=10),
                       "Malformed bearer token")
    assert_gateway_401(requests.get(url, headers={"Authorization": "Bearer " + "x" * 40}, timeout=10),
                       "Token invalid")
    # python-quickbooks on a hand-made session with a malformed token
    qb = type(conn.qb)(company_id=conn.realm, minorversion=75)
    qb.api_url_v3 = conn.qb.api_url_v3
    qb.session = OAuth2Session(conn.auth.client_id, token={"access_token": "short", "token_type": "Bearer"})
    error = raises(AuthorizationException, 401, lambda: Customer.get("1", qb=qb))
    assert "Malformed bearer token" in error.detail


def test_401_expired_token(fresh: Conn) -> None:
    assert Customer.get("1", qb=fresh.qb).Id == "1"
    fresh.emu.clock.advance(3601)
    error = raises(AuthorizationException, 401, lambda: Customer.get("1", qb=fresh.qb))
    assert "Token expired" in error.detail
    assert_gateway_401(fresh.get("customer/1"), "Token expired: ")


def test_401_revoked_token(fresh: Conn) -> None:
    refresh_token = fresh.auth.refresh_token
    assert fresh.auth.revoke(token=refresh_token)
    error = raises(AuthorizationException, 401, lambda: Customer.get("1", qb=fresh.qb))
    assert "Token revoked" in error.detail
    with pytest.raises(AuthClientError) as info:
        fresh.auth.refresh(refresh_token=refresh_token)
    assert info.value.status_code == 400 and b"invalid_grant" in info.value.content


def test_403_token_of_another_company(start_emulator: Callable[..., EmulatorServer]) -> None:
    emu = start_emulator(extra_companies={"4620816365178511220": "Second Co"})
    conn = connect(emu)
    resp = requests.get(f"{emu.info['api_base_url']}/company/4620816365178511220/customer/1",
                        headers=conn.headers(), timeout=10)
    assert resp.status_code == 403 and fault_of(resp)["code"] == "3100"


def test_429_throttle_is_xml(start_emulator: Callable[..., EmulatorServer]) -> None:
    conn = connect(start_emulator(throttle=True, per_second=3))
    statuses = [conn.get("customer/1").status_code for _ in range(6)]
    assert statuses[:3] == [200, 200, 200]
    assert set(statuses[3:]) == {429}
    resp = conn.get("customer/1")
    assert resp.status_code == 429
    assert resp.headers["Content-Type"] == "application/xml"
    assert "Retry-After" not in resp.headers
    assert '<Fault type="SERVICE"><Error code="3001">' in resp.text
    assert "The request limit was reached.  Try again later" in resp.text
    # python-quickbooks cannot read an XML body: it raises its generic 10000
    raises(QuickbooksException, 10000, lambda: Customer.get("1", qb=conn.qb))
    conn.emu.clock.advance(1.5)
    assert Customer.get("1", qb=conn.qb).Id == "1"


def test_10000_injected_system_fault(start_emulator: Callable[..., EmulatorServer]) -> None:
    conn = connect(start_emulator(error_rate=1.0))
    error = raises(SevereException, 10000, lambda: Customer.get("1", qb=conn.qb))
    assert "System Failure Error" in error.detail


def test_1040_batch_too_big_is_parsed(conn: Conn) -> None:
    items = [{"bId": f"b{i}", "Query": "SELECT * FROM Item"} for i in range(31)]
    raises(GeneralException, 1040, lambda: conn.qb.batch_operation(json.dumps({"BatchItemRequest": items})))
