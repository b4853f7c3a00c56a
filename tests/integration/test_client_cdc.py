"""Change data capture through QboClient: deleted stubs, the 1000-row cap, and a crowded second."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from clientkit import chunk_request_id, customer_ops, data_requests
from quickbooks.objects import Customer, Invoice

from qbo_toolkit.emulator import EmulatorServer
from qbo_toolkit.qbo.client import CDC_MAX_ROWS, Deleted, QboClient


def recently() -> datetime:
    return datetime.now(UTC) - timedelta(minutes=1)


def cdc_calls(emu: EmulatorServer) -> list[dict[str, Any]]:
    return [e for e in data_requests(emu) if e["path"].endswith("/cdc")]


def test_deletes_come_back_as_stubs(client: QboClient) -> None:
    since = recently()
    invoices = [
        client.create_from(Invoice, {"CustomerRef": {"value": "2"}, "Line": [
            {"Amount": Decimal("10.00"), "DetailType": "SalesItemLineDetail",
             "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]}, request_id=f"cdc-inv-{n}")
        for n in range(3)
    ]
    for invoice in invoices[:2]:
        client.delete(Invoice, invoice.Id, invoice.SyncToken, request_id=f"cdc-del-{invoice.Id}")
    renamed = client.sparse_update(Customer, "2", client.read(Customer, "2").SyncToken, {"Notes": "cdc"},
                                   request_id="cdc-cust")

    result = client.cdc([Invoice, "Customer"], since)
    assert [obj.Id for obj in result.objects["Invoice"]] == [invoices[2].Id]
    assert isinstance(result.objects["Invoice"][0], Invoice)
    assert [d.id for d in result.deleted["Invoice"]] == [inv.Id for inv in invoices[:2]]
    assert all(isinstance(d, Deleted) and d.last_updated.tzinfo is not None for d in result.deleted["Invoice"])
    assert [c.Id for c in result.objects["Customer"]] == [renamed.Id]
    assert result.deleted["Customer"] == ()
    assert result.server_time is not None and not result.incomplete

    # until: only what changed up to then (current versions)
    empty = client.cdc(["Invoice"], since, until=since + timedelta(seconds=1))
    assert empty.objects["Invoice"] == () and empty.deleted["Invoice"] == ()


def test_more_than_1000_changes_are_read_window_by_window(client: QboClient, emu: EmulatorServer) -> None:
    since = recently()
    created = 0
    for part, size in enumerate((450, 450, 300)):  # three distinct seconds of company time
        results = client.batch(customer_ops(f"Wave{part}", size), request_id=chunk_request_id(f"wave{part}"))
        assert all(r.ok for r in results)
        created += size
        emu.clock.advance(2)
    before = len(cdc_calls(emu))

    result = client.cdc(["Customer"], since)

    calls = cdc_calls(emu)[before:]
    assert len(calls) == 2  # 1000 (capped), then the rest from the newest LastUpdatedTime seen
    assert calls[1]["query"]["changedSince"] != calls[0]["query"]["changedSince"]
    customers = result.objects["Customer"]
    assert len(customers) == created > CDC_MAX_ROWS
    assert len({c.Id for c in customers}) == created  # deduplicated across the windows
    stamps = [c.MetaData["LastUpdatedTime"] for c in customers]
    assert stamps == sorted(stamps)
    assert not result.incomplete


def test_a_second_with_over_1000_changes_falls_back_to_a_query(
    client: QboClient, emu: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    since = recently()
    frozen = emu.clock.now()
    monkeypatch.setattr(emu.emulator.clock, "now", lambda: frozen)  # every change in one second
    results = client.batch(customer_ops("Crowd", 1100), request_id=chunk_request_id("crowd"))
    assert all(r.ok for r in results)

    result = client.cdc(["Customer"], since)

    names = {c.DisplayName for c in result.objects["Customer"]}
    assert {f"Crowd {n:05d}" for n in range(1, 1101)} <= names
    assert result.incomplete == frozenset({"Customer"})
