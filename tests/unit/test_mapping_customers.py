"""WORK client <-> QBO Customer (qbo_toolkit.mapping.customers).

Dataset:
  FULL      client 1 "Cool Cars": every synced field set, billing and service addresses.
  SPARSE    client 2 "Ann Lee": a name only (every other field empty, so left out of the payload).
  CHILD     client 3 "Cool Cars - Depot", sub-client of client 1.
  REPLY     what QBO returns for FULL: the payload plus server fields (Id, SyncToken, MetaData,
            geocodes, address Ids, python-quickbooks' blank defaults "" and None).

Expected:
  * FULL -> payload with DisplayName, CompanyName, GivenName, FamilyName, PrimaryEmailAddr,
    PrimaryPhone, Mobile, BillAddr, ShipAddr, Notes, Active; SPARSE -> DisplayName and Active only;
    CHILD -> Job, ParentRef, BillWithParent.
  * REPLY -> customer_to_client_fields -> a Client equal to FULL (round trip), and equal values.
  * default state: blank billing state gets it; blank service state gets it only when the
    service address has something in it; a state already there is kept; None changes nothing.
  * validate_client names the WORK field of each value over a QBO limit, never altering data.
  * fingerprint: a pinned hash for fixed values; a change to any single field changes it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from qbo_toolkit.mapping.customers import (
    CLIENT_FIELDS,
    CLIENT_KEYS,
    changed_fields,
    client_to_customer,
    client_values,
    customer_level,
    customer_parent_fields,
    customer_parent_id,
    customer_to_client_fields,
    customer_values,
    fingerprint,
    sparse_customer_fields,
    validate_client,
)
from qbo_toolkit.work.models import Address, Client

FULL = Client(
    id=1,
    display_name="Cool Cars",
    company_name="Cool Cars LLC",
    first_name="Ann",
    last_name="Lee",
    email="ann@coolcars.example",
    phone="(520) 420-5638",
    mobile="520 111 2222",
    billing=Address("1 Main St", "Suite 5", "Tucson", "AZ", "85719", "US"),
    service=Address("9 Side Rd", "", "Tucson", "AZ", "85701", ""),
    notes="Gate code 1234",
)
SPARSE = Client(id=2, display_name="Ann Lee")
CHILD = Client(id=3, display_name="Cool Cars - Depot", parent_id=1)

FULL_PAYLOAD: dict[str, Any] = {
    "DisplayName": "Cool Cars",
    "CompanyName": "Cool Cars LLC",
    "GivenName": "Ann",
    "FamilyName": "Lee",
    "PrimaryEmailAddr": {"Address": "ann@coolcars.example"},
    "PrimaryPhone": {"FreeFormNumber": "(520) 420-5638"},
    "Mobile": {"FreeFormNumber": "520 111 2222"},
    "BillAddr": {
        "Line1": "1 Main St",
        "Line2": "Suite 5",
        "City": "Tucson",
        "CountrySubDivisionCode": "AZ",
        "PostalCode": "85719",
        "Country": "US",
    },
    "ShipAddr": {"Line1": "9 Side Rd", "City": "Tucson", "CountrySubDivisionCode": "AZ", "PostalCode": "85701"},
    "Notes": "Gate code 1234",
    "Active": True,
}


def qbo_reply(payload: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """``payload`` as QBO (and python-quickbooks' to_dict) gives it back: server fields added,
    blank defaults for unset fields, geocodes and ids inside addresses."""
    reply: dict[str, Any] = {
        "Id": "58",
        "SyncToken": "0",
        "domain": "QBO",
        "sparse": False,
        "Title": "",
        "MiddleName": "",
        "Suffix": "",
        "GivenName": "",
        "FamilyName": "",
        "CompanyName": "",
        "Notes": "",
        "PrintOnCheckName": payload["DisplayName"],
        "FullyQualifiedName": payload["DisplayName"],
        "Job": False,
        "BillWithParent": False,
        "Level": 0,
        "Balance": 0,
        "Taxable": True,
        "PrimaryPhone": None,
        "Mobile": None,
        "PrimaryEmailAddr": None,
        "BillAddr": None,
        "ShipAddr": None,
        "ParentRef": None,
        "MetaData": {"CreateTime": "2024-05-01T09:00:00-07:00", "LastUpdatedTime": "2024-05-01T09:00:00-07:00"},
    }
    reply.update(payload)
    for key in ("BillAddr", "ShipAddr"):
        if isinstance(reply.get(key), dict):
            reply[key] = {"Id": "7", "Line3": "", "Lat": "32.2", "Long": "-110.9", **reply[key]}
    reply.update(extra)
    return reply


def test_full_client_payload() -> None:
    assert client_to_customer(FULL) == FULL_PAYLOAD


def test_empty_fields_are_left_out() -> None:
    assert client_to_customer(SPARSE) == {"DisplayName": "Ann Lee", "Active": True}


def test_inactive_client() -> None:
    assert client_to_customer(dataclasses.replace(SPARSE, active=False))["Active"] is False


def test_display_name_override() -> None:
    assert client_to_customer(FULL, display_name="Cool Cars (2)")["DisplayName"] == "Cool Cars (2)"


def test_sub_client_payload() -> None:
    payload = client_to_customer(CHILD, parent_qbo_id="58")
    assert payload == {
        "DisplayName": "Cool Cars - Depot",
        "Active": True,
        "Job": True,
        "ParentRef": {"value": "58"},
        "BillWithParent": True,
    }
    assert client_to_customer(CHILD, parent_qbo_id="58", bill_with_parent=False)["BillWithParent"] is False


def test_parent_ids_must_agree_with_work() -> None:
    with pytest.raises(ValueError, match="sub-client"):
        client_to_customer(CHILD)
    with pytest.raises(ValueError, match="no parent"):
        client_to_customer(FULL, parent_qbo_id="58")


def test_detach_from_parent_fields() -> None:
    assert customer_parent_fields(None) == {"Job": False, "ParentRef": None, "BillWithParent": False}


def test_parent_and_level_of_customers() -> None:
    top = qbo_reply(client_to_customer(FULL))
    child = qbo_reply(client_to_customer(CHILD, parent_qbo_id="58"), Id="59", Level=1)
    assert (customer_parent_id(top), customer_level(top)) == (None, 0)
    assert (customer_parent_id(child), customer_level(child)) == ("58", 1)
    assert customer_level({"ParentRef": {"value": "59"}}) == 1  # no Level sent: one below its parent


@pytest.mark.parametrize("client", [FULL, SPARSE], ids=["full", "sparse"])
def test_round_trip(client: Client) -> None:
    reply = qbo_reply(client_to_customer(client))
    fields = customer_to_client_fields(reply, default_state=None)
    assert Client(id=client.id, **fields) == client
    assert customer_values(reply) == client_values(client)


def test_values_have_the_same_keys_on_both_sides() -> None:
    assert list(client_values(FULL)) == list(CLIENT_KEYS)
    assert list(customer_values({})) == list(CLIENT_KEYS)
    assert CLIENT_KEYS[:7] == ("display_name", "company_name", "first_name", "last_name", "email", "phone", "mobile")
    assert {"billing.line1", "billing.state", "service.postal_code", "notes", "active"} <= set(CLIENT_KEYS)


def test_customer_values_treat_blank_as_absent_and_keep_extra_lines() -> None:
    customer = {
        "DisplayName": " Cool Cars ",
        "CompanyName": "",
        "PrimaryEmailAddr": {"Address": ""},
        "PrimaryPhone": None,
        "BillAddr": {"Line1": "1 Main St", "Line2": "", "Line3": "Building B", "Line4": "Floor 2", "City": None},
        "Active": True,
    }
    values = customer_values(customer)
    assert values["display_name"] == "Cool Cars"
    assert values["company_name"] == values["email"] == values["phone"] == values["billing.city"] == ""
    assert values["billing.line2"] == "Building B, Floor 2"
    assert customer_values({"DisplayName": "X"})["active"] is True  # Active absent: QBO's default
    assert customer_values({"DisplayName": "X", "Active": False})["active"] is False


DEFAULT_STATE_CASES = [
    # (billing state, service address, expected billing state, expected service state)
    pytest.param("", Address("9 Side Rd", "", "Tucson", "", "85701", ""), "CA", "CA", id="both-blank"),
    pytest.param("AZ", Address("9 Side Rd", "", "Tucson", "", "85701", ""), "AZ", "CA", id="service-blank"),
    pytest.param("", Address(), "CA", "", id="no-service-address"),
    pytest.param("", Address(state="NV"), "CA", "NV", id="service-state-kept"),
]


@pytest.mark.parametrize(("billing_state", "service", "billing_expected", "service_expected"), DEFAULT_STATE_CASES)
def test_default_state_when_blank(
    billing_state: str, service: Address, billing_expected: str, service_expected: str
) -> None:
    client = dataclasses.replace(
        FULL, billing=dataclasses.replace(FULL.billing, state=billing_state), service=service
    )
    reply = qbo_reply(client_to_customer(client))
    fields = customer_to_client_fields(reply, default_state="CA")
    assert fields["billing"].state == billing_expected
    assert fields["service"].state == service_expected
    assert fields["billing"].city == "Tucson"  # the rest of the address is untouched


def test_no_default_state_leaves_blanks() -> None:
    client = dataclasses.replace(FULL, billing=dataclasses.replace(FULL.billing, state=""))
    fields = customer_to_client_fields(qbo_reply(client_to_customer(client)), default_state=None)
    assert fields["billing"].state == ""
    assert customer_to_client_fields(qbo_reply(client_to_customer(client)), default_state="")["billing"].state == ""


def test_sparse_update_sends_addresses_whole_and_clears_blanks() -> None:
    changed = dataclasses.replace(
        FULL,
        phone="",
        company_name="",
        billing=dataclasses.replace(FULL.billing, city="Phoenix"),
        service=Address(),
    )
    keys = changed_fields(client_values(FULL), client_values(changed))
    assert keys == ["company_name", "phone", "billing.city", "service.line1", "service.city", "service.state",
                    "service.postal_code"]
    assert sparse_customer_fields(client_values(changed), keys) == {
        "CompanyName": "",
        "PrimaryPhone": None,
        "BillAddr": {**FULL_PAYLOAD["BillAddr"], "City": "Phoenix"},
        "ShipAddr": None,
    }


def test_sparse_update_of_everything_is_the_payload_with_clears() -> None:
    fields = sparse_customer_fields(client_values(SPARSE))
    assert fields["DisplayName"] == "Ann Lee"
    assert fields["GivenName"] == ""
    assert fields["BillAddr"] is None
    assert {name for name, value in fields.items() if value not in ("", None)} == {"DisplayName", "Active"}


def test_sparse_update_refuses_unknown_keys_and_partial_addresses() -> None:
    with pytest.raises(ValueError, match="not synced"):
        sparse_customer_fields(client_values(FULL), ["balance"])
    with pytest.raises(ValueError, match="sent whole"):
        sparse_customer_fields({"billing.city": "Phoenix"}, ["billing.city"])


def test_every_field_reads_both_sides() -> None:
    for spec in CLIENT_FIELDS:
        assert spec.from_client(FULL) == spec.from_customer(qbo_reply(client_to_customer(FULL))), spec.key


def test_fingerprint_is_pinned_and_stable() -> None:
    values = client_values(FULL)
    assert fingerprint(values) == fingerprint(dict(reversed(list(values.items()))))
    assert fingerprint(values) == fingerprint(customer_values(qbo_reply(client_to_customer(FULL))))
    # sha256 of '{"v":"1","values":{"active":true,"display_name":"Cool Cars"}}': the same in every
    # process and Python version (a changed recipe would make every record look changed).
    assert fingerprint({"display_name": "Cool Cars", "active": True}) == (
        "2362c6f151645a79163dbf073c6c87c7815f73180c5ddb32e20e2a21ea390aec"
    )


def test_fingerprint_is_sensitive_to_each_field() -> None:
    values = client_values(FULL)
    seen = {fingerprint(values)}
    for key in CLIENT_KEYS:
        changed = dict(values)
        changed[key] = (not values[key]) if isinstance(values[key], bool) else f"{values[key]}!"
        seen.add(fingerprint(changed))
    assert len(seen) == len(CLIENT_KEYS) + 1
    assert fingerprint({"active": True}) != fingerprint({"active": "True"})


def test_valid_client_has_no_problems() -> None:
    assert validate_client(FULL) == []
    assert validate_client(CHILD) == []


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"display_name": ""}, "display_name", "empty"),
        ({"display_name": "Cool:Cars"}, "display_name", "colon"),
        ({"display_name": "x" * 501}, "display_name", "500"),
        ({"company_name": "x" * 101}, "company_name", "CompanyName"),
        ({"first_name": "x" * 101}, "first_name", "GivenName"),
        ({"last_name": "x" * 101}, "last_name", "FamilyName"),
        ({"email": "ann at coolcars"}, "email", "@"),
        ({"email": "a" * 95 + "@x.com"}, "email", "100"),
        ({"phone": "5" * 31}, "phone", "PrimaryPhone"),
        ({"mobile": "5" * 31}, "mobile", "Mobile"),
        ({"notes": "n" * 2001}, "notes", "2000"),
        ({"billing": Address(postal_code="9" * 31)}, "billing.postal_code", "BillAddr"),
        ({"service": Address(line1="x" * 501)}, "service.line1", "ShipAddr"),
    ],
)
def test_problems_name_the_field(change: dict[str, Any], field: str, words: str) -> None:
    client = dataclasses.replace(FULL, **change)
    problems = validate_client(client)
    assert [p.field for p in problems] == [field]
    assert problems[0].entity == "client"
    assert problems[0].record == "1"
    assert words in problems[0].message
    assert f"client 1, {field}:" in str(problems[0])
    # the payload is not shortened to dodge the problem
    if field == "notes":
        assert client_to_customer(client)["Notes"] == "n" * 2001
