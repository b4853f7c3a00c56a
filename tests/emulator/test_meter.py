"""Metering over real HTTP: Core (writes) and CorePlus (reads) per realm and company-local month."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
from wirekit import TIMEOUT, Conn, connect, unique

from qbo_toolkit.emulator import EmulatorServer


def meter(emu: EmulatorServer) -> Any:
    resp = requests.get(f"{emu.base_url}/_emulator/meter", timeout=TIMEOUT)
    assert resp.status_code == 200
    return resp.json()


def month(emu: EmulatorServer) -> str:
    return emu.clock.now().strftime("%Y-%m")


def test_reads_and_writes_are_counted_apart(fresh: Conn) -> None:
    emu, realm = fresh.emu, fresh.realm
    assert meter(emu) == {}  # signing in (discovery, consent, token) is OAuth: not metered
    reads = [
        fresh.get("customer/1"),                                       # read by id
        fresh.get(f"companyinfo/{realm}"),
        fresh.get("preferences"),
        fresh.query("SELECT * FROM Customer"),                         # a query sent by POST is a read
        fresh.get("query", {"query": "SELECT * FROM Item"}),
        fresh.get("cdc", {"entities": "Customer", "changedSince": emu.clock.now().date().isoformat()}),
        fresh.get("reports/CustomerBalance"),
        fresh.get("invoice/1/pdf"),
        fresh.get("query", {"query": "SELEC nonsense"}),             # refused (4000), but the call was made
    ]
    assert [r.status_code for r in reads] == [200] * 8 + [400]
    writes = [fresh.post("customer", {"DisplayName": unique("Metered")})]
    assert writes[0].status_code == 200
    batch = fresh.post("batch", {"BatchItemRequest": [
        {"bId": "q1", "Query": "SELECT * FROM Customer MAXRESULTS 1"},
        {"bId": "c1", "operation": "create", "Customer": {"DisplayName": unique("Batched")}},
        {"bId": "q2", "Query": "SELECT * FROM Item MAXRESULTS 1"},
    ]})
    assert batch.status_code == 200 and len(batch.json()["BatchItemResponse"]) == 3
    # refused before it runs: a bad token is the gateway's 401, not a metered call
    assert fresh.get("customer/1", token="x" * 40).status_code == 401
    expected = {realm: {month(emu): {"core": 2, "coreplus": 11}}}
    assert meter(emu) == expected
    stats = requests.get(f"{emu.base_url}/_emulator/stats", timeout=TIMEOUT).json()
    assert stats["meter"] == expected
    assert requests.post(f"{emu.base_url}/_emulator/meter", timeout=TIMEOUT).status_code == 405


def test_throttled_calls_are_not_counted(start_emulator: Callable[..., EmulatorServer]) -> None:
    emu = start_emulator(throttle_rate=1.0)
    conn = connect(emu)
    assert conn.get("customer/1").status_code == 429
    assert meter(emu) == {}


def test_counts_follow_the_company_month(fresh: Conn) -> None:
    emu = fresh.emu
    first = month(emu)
    assert fresh.get("customer/1").status_code == 200
    emu.clock.advance(32 * 86400)  # the next month (the access token has expired: refresh it)
    fresh.auth.refresh()
    second = month(emu)
    assert second != first
    assert fresh.get("customer/1").status_code == 200
    assert fresh.post("customer", {"DisplayName": unique("Next month")}).status_code == 200
    assert meter(emu) == {fresh.realm: {first: {"core": 0, "coreplus": 1}, second: {"core": 1, "coreplus": 1}}}
