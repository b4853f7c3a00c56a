"""The transport against the emulator's limits and injected failures, over real HTTP.

Time runs 60x on both sides here (a QBO minute is one real second, a QBO second 1/60 s), so the
limits are small and the tests fast.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from clientkit import chunk_request_id, customer_ops, data_requests, make_client
from quickbooks.objects import Customer

from qbo_toolkit.emulator import EmulatorServer
from qbo_toolkit.errors import DuplicateName, QboServerError, QboThrottled, QboTransportError
from qbo_toolkit.qbo.client import QboClient
from qbo_toolkit.qbo.transport import RateLimits, RetryPolicy

SCALE = 60.0
Start = Callable[..., EmulatorServer]


def counts(emu: EmulatorServer) -> dict[str, int]:
    return dict(emu.emulator.stats()["counts"])


def customers_named(emu: EmulatorServer, name: str) -> list[dict[str, Any]]:
    return [d for d in emu.emulator.companies[emu.info["realm_id"]].all("Customer") if d["DisplayName"] == name]


def hammer(client: QboClient, reads: int, batches: int = 0) -> None:
    """``reads`` reads and ``batches`` two-customer batches from 8 threads at once."""

    def read(n: int) -> None:
        assert client.read(Customer, str(1 + n % 9)).Id

    def batch(n: int) -> None:
        results = client.batch(customer_ops(f"Load{n}", 2), request_id=chunk_request_id(f"load-{n}"))
        assert all(r.ok for r in results)

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(read, n) for n in range(reads)] + [pool.submit(batch, n) for n in range(batches)]
        for future in futures:
            future.result()


def test_the_limiter_keeps_a_busy_run_under_every_limit(start_emulator: Start) -> None:
    emu = start_emulator(time_scale=SCALE, per_second=4, per_minute=40, batch_per_minute=4, max_concurrent=3)
    limits = RateLimits(per_second=4, per_minute=40, batch_per_minute=4, max_in_flight=3, time_scale=SCALE)
    client = make_client(emu, limits=limits)

    hammer(client, reads=50, batches=6)

    stats = client.transport.stats.snapshot()
    assert counts(emu).get("throttled", 0) == 0
    assert stats["throttled"] == 0 and stats["retries"] == 0
    assert stats["limiter_wait"] > 0.5  # 56 requests at 38 a "minute" take more than a real second


def test_with_the_limiter_set_too_high_backoff_recovers_from_429(start_emulator: Start) -> None:
    emu = start_emulator(time_scale=SCALE, per_second=3, per_minute=10_000, max_concurrent=10)
    limits = RateLimits(per_second=1000, per_minute=100_000, batch_per_minute=1000, time_scale=SCALE)
    client = make_client(emu, limits=limits, retry=RetryPolicy(max_attempts=12, seed=11))

    hammer(client, reads=40)

    stats = client.transport.stats.snapshot()
    assert counts(emu).get("throttled", 0) > 0
    assert stats["throttled"] == counts(emu)["throttled"]
    assert stats["retries"] >= stats["throttled"]


def test_exhausted_throttling_and_server_errors_raise_mapped_errors(start_emulator: Start) -> None:
    emu = start_emulator(throttle_rate=1.0)
    client = make_client(emu, retry=RetryPolicy(max_attempts=3, seed=1))
    with pytest.raises(QboThrottled) as throttled:
        client.read(Customer, "1")
    assert throttled.value.code == "3001" and throttled.value.http_status == 429
    assert throttled.value.entity == "Customer" and throttled.value.record == "Id 1"
    assert throttled.value.retryable
    emu.emulator.config.throttle_rate = 0.0
    emu.emulator.config.error_rate = 1.0
    with pytest.raises(QboServerError) as server:
        client.company_info()
    assert server.value.http_status in (500, 503) and server.value.retryable
    assert client.transport.stats.snapshot()["requests"] == 6


def test_injected_5xx_and_dropped_connections_are_ridden_out(start_emulator: Start) -> None:
    emu = start_emulator(error_rate=0.2, drop_rate=0.1, seed=5)
    client = make_client(emu)
    for n in range(30):
        assert client.read(Customer, str(1 + n % 9)).Id
    created = [client.create_from("Customer", {"DisplayName": f"Flaky {n}"}, request_id=f"flaky-{n}")
               for n in range(8)]
    assert len(client.query_all(Customer)) >= 8
    injected = counts(emu)
    assert injected.get("injected:5xx", 0) > 0 and injected.get("injected:drop", 0) > 0
    assert client.transport.stats.snapshot()["retries"] >= injected["injected:5xx"] + injected["injected:drop"]
    for n, customer in enumerate(created):
        assert [d["Id"] for d in customers_named(emu, f"Flaky {n}")] == [customer.Id]

    # a validation answer is final: sent once, not retried
    emu.emulator.config.error_rate = emu.emulator.config.drop_rate = 0.0
    retries = client.transport.stats.snapshot()["retries"]
    with pytest.raises(DuplicateName):
        client.create_from("Customer", {"DisplayName": "Cool Cars"}, request_id="flaky-dup")
    sent = [e for e in data_requests(emu) if e["query"].get("requestid") == "flaky-dup"]
    assert len(sent) == 1
    assert client.transport.stats.snapshot()["retries"] == retries


def test_a_lost_reply_is_retried_with_the_same_requestid_and_creates_one_object(start_emulator: Start) -> None:
    # seed 4: the emulator's draws never lose more than five replies in a row below (seed 1 loses 13)
    emu = start_emulator(lost_reply_rate=1.0, seed=4)
    client = make_client(emu, retry=RetryPolicy(max_attempts=4, seed=2))
    with pytest.raises(QboTransportError) as caught:
        client.create_from("Customer", {"DisplayName": "Lost Reply"}, request_id="lost-1", record="WORK client 9")
    error = caught.value
    assert error.entity == "Customer" and error.record == "WORK client 9"
    assert f"POST /v3/company/{client.realm_id}/customer" in str(error) and "4 attempts" in str(error)
    token = client.transport.access_token or ""
    assert token and token not in str(error)
    attempts = [e for e in data_requests(emu) if e["query"].get("requestid") == "lost-1"]
    assert len(attempts) == 4
    assert len(customers_named(emu, "Lost Reply")) == 1  # ran once, replayed three times
    assert counts(emu).get("replayed") == 3

    # the caller retries later with the same requestid: the stored reply, still one object
    emu.emulator.config.lost_reply_rate = 0.0
    found = client.create_from("Customer", {"DisplayName": "Lost Reply"}, request_id="lost-1")
    assert [d["Id"] for d in customers_named(emu, "Lost Reply")] == [found.Id]

    # half the replies lost: every create still lands exactly once
    emu.emulator.config.lost_reply_rate = 0.5
    client = make_client(emu, retry=RetryPolicy(max_attempts=10, seed=3))
    for n in range(10):
        made = client.create_from("Customer", {"DisplayName": f"Half Lost {n}"}, request_id=f"half-{n}")
        assert [d["Id"] for d in customers_named(emu, f"Half Lost {n}")] == [made.Id]
    assert counts(emu).get("injected:lost_reply", 0) > 3
