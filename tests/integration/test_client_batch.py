"""Batches through QboClient: chunking, per-item faults mapped with the record key, replays."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from clientkit import chunk_request_id, customer_ops, data_requests, make_client
from quickbooks.objects import Customer, Invoice

from qbo_toolkit.emulator import EmulatorServer
from qbo_toolkit.errors import (
    BusinessRuleError,
    DuplicateName,
    InvalidReference,
    ObjectNotFound,
    QboValidationError,
    StaleObject,
)
from qbo_toolkit.qbo.client import BatchOp, QboClient


def line(item: str, amount: str = "40.00") -> dict[str, object]:
    return {"Amount": Decimal(amount), "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": {"ItemRef": {"value": item}}}


def batch_posts(emu: EmulatorServer) -> list[dict[str, Any]]:
    return [e for e in data_requests(emu) if e["path"].endswith("/batch")]


def test_mixed_batch_maps_each_fault_to_its_class_and_key(client: QboClient, emu: EmulatorServer) -> None:
    target = client.create_from(Invoice, {"CustomerRef": {"value": "3"}, "Line": [line("1")]}, request_id="mx-0")
    ops = [
        BatchOp("create", "Customer", {"DisplayName": "Batch Fresh Co"}, key="client-1"),
        BatchOp("create", "Customer", {"DisplayName": "Cool Cars"}, key="client-2"),
        BatchOp("create", "Invoice", {"CustomerRef": {"value": "2"}, "Line": [line("999")]}, key="invoice-3"),
        BatchOp("create", "Invoice", {"CustomerRef": {"value": "2"}, "Line": [line("2", "75.00")]}, key="invoice-4"),
        BatchOp("update", "Customer", {"Id": "4", "SyncToken": "99", "sparse": True, "Notes": "x"}, key="client-5"),
        BatchOp("delete", "Invoice", {"Id": "99999", "SyncToken": "0"}, key="invoice-6"),
        BatchOp("void", "Invoice", {"Id": target.Id, "SyncToken": target.SyncToken}, key="invoice-7"),
        BatchOp("delete", "Invoice", {"Id": "1", "SyncToken": "1"}, key="invoice-8"),  # has a payment
    ]
    results = client.batch(ops, request_id=chunk_request_id("mixed"))

    assert [r.key for r in results] == [op.key for op in ops]
    assert [r.ok for r in results] == [True, False, False, True, False, False, True, False]
    fresh, dup, badref, good, stale, missing, voided, paid = results
    assert isinstance(fresh.obj, Customer) and fresh.obj.DisplayName == "Batch Fresh Co" and fresh.obj.Id
    assert isinstance(good.obj, Invoice) and good.obj.TotalAmt == Decimal("75.00")
    assert isinstance(voided.obj, Invoice) and voided.obj.TotalAmt == 0
    expected = [(dup, DuplicateName, "6240", "Customer"), (badref, InvalidReference, "2500", "Invoice"),
                (stale, StaleObject, "5010", "Customer"), (missing, ObjectNotFound, "610", "Invoice"),
                (paid, BusinessRuleError, "6000", "Invoice")]
    for result, cls, code, entity in expected:
        assert result.obj is None
        assert type(result.error) is cls, (result.key, result.error)
        assert result.error.code == code
        assert result.error.entity == entity and result.error.record == result.key
        assert result.key in str(result.error)
    assert badref.error is not None and "ItemRef" in (badref.error.element or "")

    posts = batch_posts(emu)
    assert len(posts) == 1
    assert posts[0]["query"]["requestid"] == "mixed-0-client-1"


def test_chunks_of_30_in_order_with_replayable_requestids(client: QboClient, emu: EmulatorServer) -> None:
    ops = customer_ops("Chunked", 65)
    first = client.batch(ops, request_id=chunk_request_id("chunked"))
    assert len(batch_posts(emu)) == 3  # 30 + 30 + 5
    assert [r.key for r in first] == [op.key for op in ops] and all(r.ok for r in first)
    assert [r.obj.DisplayName for r in first] == [op.payload["DisplayName"] for op in ops]

    # the same run again (say, after a crash before the id map was written): replayed, not redone
    again = client.batch(ops, request_id=chunk_request_id("chunked"))
    assert [r.obj.Id for r in again] == [r.obj.Id for r in first]
    names = [d["DisplayName"] for d in emu.emulator.companies[client.realm_id].all("Customer")]
    assert sum(name.startswith("Chunked") for name in names) == 65


def test_iter_batch_yields_each_chunk_as_it_lands(client: QboClient) -> None:
    chunks = client.iter_batch(customer_ops("Streamed", 35), request_id=chunk_request_id("streamed"))
    first = next(chunks)
    assert len(first) == 30 and first[0].key == "Streamed-1"
    assert [len(rest) for rest in chunks] == [5]


def test_a_failed_batch_request_raises_the_mapped_error(start_emulator: Callable[..., EmulatorServer]) -> None:
    emu = start_emulator(batch_max_items=5)
    client = make_client(emu)
    with pytest.raises(QboValidationError) as caught:
        client.batch(customer_ops("Too Many", 6), request_id=chunk_request_id("toomany"))
    assert caught.value.code == "1040"
    assert caught.value.entity == "batch" and caught.value.record is not None
    assert "Too Many-1" in caught.value.record


def test_batch_arguments_are_checked(client: QboClient) -> None:
    with pytest.raises(ValueError):
        BatchOp("merge", "Customer", {}, key="k")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        client.batch(customer_ops("Long", 1), request_id=lambda i, chunk: "x" * 37)
    with pytest.raises(ValueError):
        client.batch(customer_ops("Big", 1), chunk_size=31)


def test_raw_results_are_the_json_qbo_sent(client: QboClient) -> None:
    results = client.batch(customer_ops("Raw Co", 2), request_id=chunk_request_id("raw"), raw=True)
    assert all(r.ok and isinstance(r.obj, dict) and r.obj["Id"] and r.obj["SyncToken"] == "0" for r in results)
    created = client.create_from("Customer", {"DisplayName": "Raw Single Co"}, request_id="raw-single", raw=True)
    assert isinstance(created, dict) and created["DisplayName"] == "Raw Single Co"
    again = client.create_from("Customer", {"DisplayName": "Raw Single Co"}, request_id="raw-single")
    assert isinstance(again, Customer) and str(again.Id) == str(created["Id"])  # replayed, as an object
