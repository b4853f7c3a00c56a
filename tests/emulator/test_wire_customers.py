"""Name lists over HTTP: Customer, Vendor, Employee, Item, Account, plus CompanyInfo and Preferences.

python-quickbooks does the creates, reads and full updates (``save()`` on an object it read); raw
requests send the sparse updates, which python-quickbooks cannot express.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects import Account, CompanyInfo, Customer, Employee, Item, Preferences, Vendor
from wirekit import Conn, address, assert_shape, load_sample, make_customer, ref, unique

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")  # MetaData: offset, no fraction
REPLY_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$")  # envelope: milliseconds


def test_customer_create_read_full_and_sparse_update(conn: Conn) -> None:
    qb = conn.qb
    name = unique("Jane Doe")
    created = make_customer(qb, name, GivenName="Jane", FamilyName="Doe", CompanyName="Doe Gardens",
                            BillAddr=address("1 Elm St.", "Palo Alto"))
    assert re.fullmatch(r"\d+", created.Id)
    assert created.SyncToken == "0"
    assert created.Active is True
    assert created.FullyQualifiedName == created.PrintOnCheckName == name
    assert STAMP.match(created.MetaData["CreateTime"]), created.MetaData

    read = Customer.get(created.Id, qb=qb)
    assert (read.DisplayName, read.GivenName, read.BillAddr.City) == (name, "Jane", "Palo Alto")

    # full update: python-quickbooks sends the whole object; a field it leaves out becomes empty
    read.Notes = "Gate code 1234"
    read.CompanyName = None
    updated = read.save(qb=qb)
    assert updated.SyncToken == "1"
    assert updated.Notes == "Gate code 1234"
    assert updated.GivenName == "Jane"
    on_the_wire = conn.get(f"customer/{created.Id}").json()["Customer"]
    assert "CompanyName" not in on_the_wire  # python-quickbooks left it out (None): a full update clears it

    # sparse update: only the fields sent change
    resp = conn.post("customer", {"Id": created.Id, "SyncToken": "1", "sparse": True, "FamilyName": "Smith"})
    assert resp.status_code == 200, resp.text
    body = resp.json()["Customer"]
    assert body["SyncToken"] == "2"
    assert (body["FamilyName"], body["GivenName"], body["Notes"]) == ("Smith", "Jane", "Gate code 1234")

    # a sparse update that changes nothing keeps the SyncToken
    resp = conn.post("customer", {"Id": created.Id, "SyncToken": "2", "sparse": True, "FamilyName": "Smith"})
    assert resp.json()["Customer"]["SyncToken"] == "2"
    assert Customer.get(created.Id, qb=qb).SyncToken == "2"


def test_a_long_display_name_keeps_print_on_check_name_within_its_limit(conn: Conn) -> None:
    """PrintOnCheckName (at most 110) defaults to the DisplayName (at most 500): cut to its limit, so
    a later sparse update of another field is not refused on a field the client never sent."""
    name = unique("Long " + "x" * 115)
    created = conn.post("customer", {"DisplayName": name}).json()["Customer"]
    assert created["PrintOnCheckName"] == name[:110]
    resp = conn.post("customer", {"Id": created["Id"], "SyncToken": created["SyncToken"], "sparse": True,
                                  "Notes": "changed"})
    assert resp.status_code == 200, resp.text


def test_stale_sync_token_is_refused(conn: Conn) -> None:
    customer = make_customer(conn.qb)
    first, second = Customer.get(customer.Id, qb=conn.qb), Customer.get(customer.Id, qb=conn.qb)
    first.Notes = "first writer"
    assert first.save(qb=conn.qb).SyncToken == "1"
    second.Notes = "second writer"
    with pytest.raises(QuickbooksException) as info:
        second.save(qb=conn.qb)
    assert info.value.error_code == 5010
    assert "Stale Object Error" in info.value.message
    assert Customer.get(customer.Id, qb=conn.qb).Notes == "first writer"


def test_vendor_and_employee_create_and_read(conn: Conn) -> None:
    vendor = Vendor()
    vendor.DisplayName = unique("Vendor")
    vendor.CompanyName = "Supplies Inc"
    saved_vendor = vendor.save(qb=conn.qb)
    read_vendor = Vendor.get(saved_vendor.Id, qb=conn.qb)
    assert (read_vendor.DisplayName, read_vendor.SyncToken, read_vendor.Active) == (vendor.DisplayName, "0", True)

    employee = Employee()
    employee.GivenName, employee.FamilyName = "Ada", unique("Lovelace").replace(" ", "")
    saved_employee = employee.save(qb=conn.qb)
    read_employee = Employee.get(saved_employee.Id, qb=conn.qb)
    # no DisplayName sent: the server builds it from the name parts
    assert read_employee.DisplayName == f"Ada {employee.FamilyName}"
    assert read_employee.SyncToken == "0"


def test_deactivated_customer_is_hidden_from_default_queries(conn: Conn) -> None:
    customer = make_customer(conn.qb)
    read = Customer.get(customer.Id, qb=conn.qb)
    read.Active = False
    assert read.save(qb=conn.qb).Active is False
    assert Customer.filter(DisplayName=customer.DisplayName, qb=conn.qb) == []
    both = Customer.where(f"DisplayName = '{customer.DisplayName}' AND Active IN (true, false)", qb=conn.qb)
    assert [c.Id for c in both] == [customer.Id]
    inactive = Customer.where(f"DisplayName = '{customer.DisplayName}' AND Active = false", qb=conn.qb)
    assert [c.Active for c in inactive] == [False]


def test_item_create_read_full_and_sparse_update(conn: Conn) -> None:
    item = Item()
    item.Name = unique("Mowing")
    item.Type = "Service"
    item.UnitPrice = Decimal("42.50")
    item.IncomeAccountRef = ref("1")
    created = item.save(qb=conn.qb)
    assert (created.SyncToken, created.Active, created.Type) == ("0", True, "Service")
    assert created.IncomeAccountRef.name == "Services"

    read = Item.get(created.Id, qb=conn.qb)
    assert read.UnitPrice == Decimal("42.5")
    read.Description = "Weekly lawn mowing"
    updated = read.save(qb=conn.qb)
    assert (updated.SyncToken, updated.Description) == ("1", "Weekly lawn mowing")

    resp = conn.post("item", {"Id": created.Id, "SyncToken": "1", "sparse": True, "UnitPrice": 45})
    assert resp.status_code == 200, resp.text
    body = resp.json()["Item"]
    assert (body["SyncToken"], body["UnitPrice"], body["Description"]) == ("2", 45, "Weekly lawn mowing")
    assert isinstance(body["UnitPrice"], int | float)


def test_account_create_read_full_and_sparse_update(conn: Conn) -> None:
    account = Account()
    account.Name = unique("Petty Cash")
    account.AccountType = "Bank"
    created = account.save(qb=conn.qb)
    assert (created.SyncToken, created.Classification, created.AccountSubType) == ("0", "Asset", "CashOnHand")

    read = Account.get(created.Id, qb=conn.qb)
    read.Description = "Cash box in the van"
    updated = read.save(qb=conn.qb)
    assert (updated.SyncToken, updated.Description) == ("1", "Cash box in the van")

    resp = conn.post("account", {"Id": created.Id, "SyncToken": "1", "sparse": True, "Active": False})
    assert resp.status_code == 200, resp.text
    assert (resp.json()["Account"]["SyncToken"], resp.json()["Account"]["Active"]) == ("2", False)
    # deactivating again changes nothing, so the SyncToken stays (as recorded for a real Account)
    resp = conn.post("account", {"Id": created.Id, "SyncToken": "2", "sparse": True, "Active": False})
    assert resp.json()["Account"]["SyncToken"] == "2"


def test_company_info_and_preferences(conn: Conn) -> None:
    info = CompanyInfo.get(conn.realm, qb=conn.qb)
    assert info.Id == conn.realm
    assert info.CompanyName == conn.emu.info["company_name"]
    prefs = Preferences.get(qb=conn.qb)
    assert prefs.Id == "1"
    assert prefs.CurrencyPrefs.HomeCurrency.value == "USD"


# -- shapes against real replies -------------------------------------------------------------------------

def test_customer_create_reply_has_the_recorded_shape(conn: Conn) -> None:
    sample = load_sample("customer_create_response")
    resp = conn.post("customer", {"DisplayName": unique("Doe5, Jane")})
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert set(body) == set(sample) == {"Customer", "time"}
    assert_shape(body["Customer"], sample["Customer"], exact=True)
    assert REPLY_TIME.match(body["time"]), body["time"]
    customer = body["Customer"]
    assert STAMP.match(customer["MetaData"]["CreateTime"])
    assert STAMP.match(customer["MetaData"]["LastUpdatedTime"])
    assert (customer["domain"], customer["sparse"]) == ("QBO", False)
    assert isinstance(customer["SyncToken"], str) and re.fullmatch(r"\d+", customer["Id"])
    assert customer["Balance"] == 0 and not isinstance(customer["Balance"], str)


def test_customer_read_reply_has_the_recorded_shape(conn: Conn) -> None:
    sample = load_sample("customer_read_response")
    name = unique("Dukes Basketball Camp")
    customer = make_customer(conn.qb, name, GivenName="Peter", FamilyName="Dukes", CompanyName=name,
                             BillAddr=address("25 Court St.", "Tucson", "AZ", "85719"),
                             ShipAddr=address("25 Court St.", "Tucson", "AZ", "85719"))
    phone = {"Id": customer.Id, "SyncToken": "0", "sparse": True, "PrimaryPhone": {"FreeFormNumber": "(520) 420-5638"},
             "PrimaryEmailAddr": {"Address": "Dukes_bball@intuit.com"}}
    assert conn.post("customer", phone).status_code == 200
    resp = conn.get(f"customer/{customer.Id}")
    assert resp.status_code == 200
    # the emulator numbers addresses (Id) but does not geocode them: no Lat or Long (QBO since 2025)
    for key in ("BillAddr", "ShipAddr"):
        for field in ("Lat", "Long"):
            sample["Customer"][key].pop(field)
    assert_shape(resp.json(), sample, exact=True)
