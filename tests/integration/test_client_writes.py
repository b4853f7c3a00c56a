"""Writes through QboClient: requestids on every write, replays, sparse bodies, voids, deletes, and
each QBO fault mapped to its class with the entity and record named."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import requests
from clientkit import data_requests, make_client
from quickbooks.objects import Customer, Invoice, Payment

from qbo_toolkit.emulator import EmulatorServer
from qbo_toolkit.errors import (
    BusinessRuleError,
    DuplicateName,
    InvalidReference,
    ObjectNotFound,
    QboAuthError,
    QboError,
    QueryError,
    StaleObject,
    UnsupportedOperation,
)
from qbo_toolkit.qbo.client import QboClient


def invoice_payload(customer: str = "2", item: str = "1", amount: str = "120.00") -> dict[str, Any]:
    return {
        "CustomerRef": {"value": customer},
        "Line": [{"Amount": Decimal(amount), "DetailType": "SalesItemLineDetail",
                  "SalesItemLineDetail": {"ItemRef": {"value": item}}}],
    }


def writes(emu: EmulatorServer) -> list[dict[str, Any]]:
    """Logged POSTs to an entity endpoint (not query, not batch)."""
    return [
        e for e in data_requests(emu)
        if e["method"] == "POST" and not e["path"].endswith(("/query", "/batch"))
    ]


def assert_names_context(error: QboError, entity: str, record: str) -> None:
    assert error.entity == entity and error.record == record
    text = str(error)
    assert entity in text and record in text
    assert error.intuit_tid  # the transport recorded it for support requests


def test_every_write_carries_its_requestid(client: QboClient, emu: EmulatorServer) -> None:
    customer = Customer()
    customer.DisplayName = "Requestid Customer"
    customer = client.create(customer, request_id="rid-create")
    customer.Notes = "full update"
    customer = client.update(customer, request_id="rid-update")
    customer = client.sparse_update("Customer", customer.Id, customer.SyncToken, {"Notes": "sparse"},
                                    request_id="rid-sparse")
    invoice = client.create_from(Invoice, invoice_payload(), request_id="rid-invoice")
    payment = client.create_from(Payment, {
        "CustomerRef": {"value": "2"}, "TotalAmt": Decimal("20.00"),
        "Line": [{"Amount": Decimal("20.00"), "LinkedTxn": [{"TxnId": invoice.Id, "TxnType": "Invoice"}]}],
    }, request_id="rid-payment")
    voided_payment = client.void(Payment, payment.Id, payment.SyncToken, request_id="rid-void-payment")
    assert voided_payment.TotalAmt == 0
    invoice = client.read(Invoice, invoice.Id)  # the payment moved its SyncToken
    voided = client.void("Invoice", invoice.Id, invoice.SyncToken, request_id="rid-void-invoice")
    assert voided.TotalAmt == 0 and voided.Balance == 0
    second = client.create_from(Invoice, invoice_payload(), request_id="rid-invoice-2")
    stub = client.delete("Invoice", second.Id, second.SyncToken, request_id="rid-delete")
    assert stub["status"] == "Deleted" and stub["Id"] == second.Id

    logged = writes(emu)
    assert [e["query"].get("requestid") for e in logged] == [
        "rid-create", "rid-update", "rid-sparse", "rid-invoice", "rid-payment", "rid-void-payment",
        "rid-void-invoice", "rid-invoice-2", "rid-delete",
    ]
    by_rid = {e["query"]["requestid"]: e["query"] for e in logged}
    assert by_rid["rid-void-payment"]["operation"] == "update" and by_rid["rid-void-payment"]["include"] == "void"
    assert by_rid["rid-void-invoice"]["operation"] == "void"
    assert by_rid["rid-delete"]["operation"] == "delete"


def test_a_repeated_create_with_the_same_requestid_creates_one_object(client: QboClient, emu: EmulatorServer) -> None:
    first = client.create_from("Customer", {"DisplayName": "Only Once"}, request_id="once-1")
    again = client.create_from("Customer", {"DisplayName": "Only Once"}, request_id="once-1")
    assert again.Id == first.Id
    docs = [d for d in emu.emulator.companies[client.realm_id].all("Customer") if d["DisplayName"] == "Only Once"]
    assert len(docs) == 1
    assert emu.emulator.stats()["counts"].get("replayed") == 1


@pytest.mark.parametrize("bad", [None, "", "   ", "x" * 51])
def test_writes_refuse_a_missing_or_long_requestid_before_sending(
    client: QboClient, emu: EmulatorServer, bad: Any
) -> None:
    before = len(data_requests(emu))
    with pytest.raises(ValueError, match="request_id"):
        client.create_from("Customer", {"DisplayName": "No Id"}, request_id=bad)
    with pytest.raises(ValueError, match="request_id"):
        client.delete("Invoice", "1", "0", request_id=bad)
    assert len(data_requests(emu)) == before


def test_sparse_update_sends_only_the_given_fields(client: QboClient) -> None:
    before = client.read(Customer, "1")
    after = client.sparse_update(Customer, before.Id, before.SyncToken, {"Notes": "Changed"}, request_id="sp-1")
    assert after.Notes == "Changed"
    assert int(after.SyncToken) == int(before.SyncToken) + 1
    # a full update built from a blank object would have cleared these
    assert (after.GivenName, after.FamilyName, after.CompanyName) == (
        before.GivenName, before.FamilyName, before.CompanyName)
    assert after.PrimaryEmailAddr.Address == before.PrimaryEmailAddr.Address
    with pytest.raises(ValueError, match="SyncToken"):
        client.sparse_update(Customer, "1", after.SyncToken, {"SyncToken": "9"}, request_id="sp-2")


# --------------------------------------------------------------------------------------------
# Faults, each to its class
# --------------------------------------------------------------------------------------------


def test_stale_synctoken_is_stale_object(client: QboClient) -> None:
    customer = client.read(Customer, "3")
    client.sparse_update(Customer, "3", customer.SyncToken, {"Notes": "moved on"}, request_id="stale-1")
    customer.Notes = "my edit"
    with pytest.raises(StaleObject) as caught:
        client.update(customer, request_id="stale-2", record="WORK client 3")
    assert caught.value.code == "5010" and caught.value.http_status == 400
    assert_names_context(caught.value, "Customer", "WORK client 3")


def test_duplicate_display_name_is_duplicate_name(client: QboClient) -> None:
    with pytest.raises(DuplicateName) as caught:
        client.create_from("Customer", {"DisplayName": "Cool Cars"}, request_id="dup-1", record="WORK client 77")
    assert caught.value.code == "6240"
    assert_names_context(caught.value, "Customer", "WORK client 77")


def test_bad_queries_are_query_errors(client: QboClient) -> None:
    with pytest.raises(QueryError) as parse_error:
        client.query("SELECT * FROM Customer WHERE Id = '1' OR Id = '2'")
    assert parse_error.value.code == "4000"
    assert_names_context(parse_error.value, "Customer", "query")
    with pytest.raises(QueryError) as invalid:
        client.query("SELECT * FROM Custmoer")
    assert invalid.value.code == "4001"
    assert invalid.value.entity == "Custmoer"


def test_unknown_item_is_invalid_reference(client: QboClient) -> None:
    with pytest.raises(InvalidReference) as caught:
        client.create_from(Invoice, invoice_payload(item="999"), request_id="badref-1", record="WORK invoice 5")
    assert not isinstance(caught.value, ObjectNotFound)
    assert caught.value.code == "2500" and "ItemRef" in (caught.value.element or "")
    assert_names_context(caught.value, "Invoice", "WORK invoice 5")


def test_missing_object_is_object_not_found(client: QboClient) -> None:
    with pytest.raises(ObjectNotFound) as caught:
        client.read(Customer, "99999")
    assert caught.value.code == "610"
    assert_names_context(caught.value, "Customer", "Id 99999")
    with pytest.raises(ObjectNotFound):
        client.delete("Invoice", "99999", "0", request_id="gone-1")


def test_deleting_an_invoice_with_payments_is_a_business_rule(client: QboClient) -> None:
    invoice = client.read(Invoice, "1")  # the seed's partly paid invoice
    with pytest.raises(BusinessRuleError) as caught:
        client.delete(Invoice, invoice.Id, invoice.SyncToken, request_id="del-paid")
    assert caught.value.code == "6000"


def test_revoked_token_is_an_auth_error_without_the_token(emu: EmulatorServer) -> None:
    client = make_client(emu)
    assert client.company_info().CompanyName
    session: Any = client.transport.inner
    token = session.token
    info = emu.info
    discovery = requests.get(info["discovery_url"], timeout=10).json()
    revoked = requests.post(discovery["revocation_endpoint"], json={"token": token["refresh_token"]},
                            auth=(info["client_id"], info["client_secret"]), timeout=10)
    assert revoked.status_code == 200
    with pytest.raises(QboAuthError) as caught:
        client.read(Customer, "1")
    error = caught.value
    assert error.http_status == 401 and error.entity == "Customer"
    for secret in (token["access_token"], token["refresh_token"], token["access_token"][:12]):
        assert secret not in str(error) and secret not in error.detail
    assert client.transport.stats.snapshot()["retries"] == 0  # a 401 is not retried


def test_cdc_older_than_30_days_is_refused(client: QboClient, emu: EmulatorServer) -> None:
    from datetime import UTC, datetime, timedelta

    before = len(data_requests(emu))
    with pytest.raises(UnsupportedOperation, match="30 days"):
        client.cdc(["Customer"], datetime.now(UTC) - timedelta(days=31))
    assert len(data_requests(emu)) == before
    # and when the client's clock is wrong, QBO's own refusal maps to the same class
    since = datetime.now(UTC) - timedelta(days=40)
    with pytest.raises(UnsupportedOperation) as caught:
        client.cdc(["Customer"], since, now=since + timedelta(days=1))
    assert caught.value.http_status == 400 and caught.value.code == "500"
