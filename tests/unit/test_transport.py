"""The transport's pure parts: the rate limiter (on a fake clock), the retry policy, and the
resilient session driven by a scripted stand-in for the OAuth session (no network)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import requests

from qbo_toolkit.errors import QboTransportError
from qbo_toolkit.qbo.transport import (
    RETRY_STATUSES,
    RateLimiter,
    RateLimits,
    ResilientSession,
    RetryPolicy,
    limiter_for,
    parse_retry_after,
    reset_limiters,
)


class FakeClock:
    """A clock that only moves when the limiter sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def limiter(clock: FakeClock, **limits: Any) -> RateLimiter:
    return RateLimiter(RateLimits(**limits), clock=clock, sleep=clock.sleep)


def run(lim: RateLimiter, count: int, *, is_batch: bool = False) -> None:
    for _ in range(count):
        lim.acquire(is_batch).release()


# --------------------------------------------------------------------------------------------
# RateLimits
# --------------------------------------------------------------------------------------------


def test_rate_limits_defaults_follow_qbo_and_keep_a_margin() -> None:
    limits = RateLimits()
    assert (limits.per_minute, limits.per_second, limits.batch_per_minute, limits.max_in_flight) == (500, 10, 40, 10)
    assert limits.minute_cap == 485  # 0.97 of 500
    assert limits.batch_cap == 38  # 0.97 of 40
    assert (limits.minute_span, limits.second_span) == (60.0, 1.0)


def test_time_scale_shrinks_the_windows_in_real_seconds() -> None:
    limits = RateLimits(time_scale=60)
    assert limits.minute_span == pytest.approx(1.0)
    assert limits.second_span == pytest.approx(1 / 60)


@pytest.mark.parametrize(
    "bad",
    [{"per_minute": 0}, {"per_second": -1}, {"max_in_flight": True}, {"time_scale": 0}, {"safety": 1.5},
     {"safety": 0}, {"time_scale": float("inf")}],
)
def test_rate_limits_refuse_nonsense(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RateLimits(**bad)


# --------------------------------------------------------------------------------------------
# RateLimiter
# --------------------------------------------------------------------------------------------


def test_per_second_window_sleeps_exactly_until_the_oldest_leaves() -> None:
    clock = FakeClock()
    lim = limiter(clock, per_second=3, per_minute=1000)
    run(lim, 3)
    assert clock.sleeps == []
    lim.acquire().release()
    assert clock.sleeps == [pytest.approx(1.0)]
    assert clock.now == pytest.approx(1.0)


def test_without_an_arrival_margin_a_request_counts_from_when_its_reply_arrived() -> None:
    """QBO saw the request somewhere between send and reply: stamping at the reply is what makes
    the client's window a safe upper bound of the server's, whatever the latency."""
    clock = FakeClock()
    lim = limiter(clock, per_second=1, per_minute=1000, arrival_margin=None)
    permit = lim.acquire()
    clock.now = 0.4  # the reply takes 0.4 s
    permit.release()
    lim.acquire().release()
    assert clock.now == pytest.approx(1.4)


def test_the_per_second_window_counts_a_request_from_its_arrival_margin() -> None:
    """QBO counts a request when it arrives, right after it is sent: with a margin for that, a
    slow reply does not hold the per-second window (it still does the minute ones)."""
    clock = FakeClock()
    lim = limiter(clock, per_second=1, per_minute=1000, arrival_margin=0.1, arrival_floor=0.0)
    permit = lim.acquire()
    clock.now = 0.4  # the reply takes 0.4 s; QBO counted the request by 0.1
    permit.release()
    lim.acquire().release()
    assert clock.now == pytest.approx(1.1)
    fast = lim.acquire()  # at 2.1, when the one let go at 1.1 has left the window
    assert clock.now == pytest.approx(2.1)
    clock.now += 0.05  # a reply sooner than the margin: counted from the reply
    fast.release()
    lim.acquire().release()
    assert clock.now == pytest.approx(3.15)


def test_the_arrival_margin_has_a_floor_in_real_seconds() -> None:
    assert RateLimits(arrival_margin=0.2).arrival_span == pytest.approx(0.2)
    assert RateLimits(arrival_margin=0.2, time_scale=10).arrival_span == pytest.approx(0.02)
    assert RateLimits(arrival_margin=0.2, time_scale=60, arrival_floor=0.02).arrival_span == pytest.approx(0.02)
    assert RateLimits(arrival_margin=None).arrival_span is None


def test_requests_in_flight_fill_the_window_until_released() -> None:
    clock = FakeClock()
    lim = limiter(clock, per_second=2, per_minute=1000, arrival_margin=None)
    first, second = lim.acquire(), lim.acquire()
    assert lim.wait_needed() is None  # only a release can help
    first.release()
    assert lim.wait_needed() == pytest.approx(1.0)
    second.release()
    second.release()  # twice is harmless
    assert lim.in_flight == 0


def test_requests_in_flight_leave_the_per_second_window_after_their_arrival_margin() -> None:
    clock = FakeClock()
    lim = limiter(clock, per_second=2, per_minute=1000, arrival_margin=0.2, arrival_floor=0.0)
    first, second = lim.acquire(), lim.acquire()
    assert lim.wait_needed() == pytest.approx(1.2)  # QBO counted both by 0.2: they leave its second at 1.2
    assert lim.wait_needed(is_batch=True) == pytest.approx(1.2)
    clock.now = 1.3
    assert lim.wait_needed() == 0.0
    first.release()
    second.release()
    assert lim.in_flight == 0


def test_try_acquire_never_waits() -> None:
    clock = FakeClock()
    lim = limiter(clock, per_second=2, per_minute=1000)
    held = [lim.try_acquire(), lim.try_acquire()]
    assert all(p is not None for p in held)
    assert lim.try_acquire() is None and clock.sleeps == []
    for permit in held:
        assert permit is not None
        permit.release()
    assert lim.in_flight == 0


def test_singles_sent_beside_batches_leave_the_batches_their_room() -> None:
    """``leave_for_batches``: singles use minute_cap - batch_cap of the minute, so the batch
    requests the batch window allows still fit; together they fill the whole minute."""
    clock = FakeClock()
    lim = limiter(clock, per_minute=10, per_second=1000, batch_per_minute=3, safety=1.0)
    singles = 0
    while (permit := lim.try_acquire(False, leave_for_batches=True)) is not None:
        permit.release()
        singles += 1
    assert singles == 7
    assert lim.try_acquire(False) is not None  # without the option: the minute still has room
    batches = 0
    while (permit := lim.try_acquire(True)) is not None:
        permit.release()
        batches += 1
    assert batches == 2  # the minute is full: 7 + 1 + 2
    assert lim.wait_needed(False, leave_for_batches=True) == pytest.approx(60.0)


def test_per_minute_window_uses_the_safety_margin() -> None:
    clock = FakeClock()
    lim = limiter(clock, per_minute=100, per_second=1000, safety=0.97)
    for _ in range(97):
        lim.acquire().release()
        clock.now += 0.01
    assert clock.sleeps == []
    lim.acquire().release()
    # the 98th waits for the first (stamped at 0.0) to be a full minute old
    assert clock.now == pytest.approx(60.0)


def test_batch_window_holds_batches_but_not_other_requests() -> None:
    clock = FakeClock()
    lim = limiter(clock, batch_per_minute=2, safety=1.0)
    run(lim, 2, is_batch=True)
    assert lim.wait_needed(is_batch=False) == 0.0
    lim.acquire(is_batch=False).release()
    assert clock.sleeps == []
    assert lim.wait_needed(is_batch=True) == pytest.approx(60.0)
    lim.acquire(is_batch=True).release()
    assert clock.now == pytest.approx(60.0)


def test_scaled_windows() -> None:
    clock = FakeClock()
    lim = limiter(clock, per_second=2, per_minute=1000, time_scale=10)
    run(lim, 3)
    assert clock.now == pytest.approx(0.1)  # a service second is 0.1 real seconds


def test_waits_only_as_long_as_the_busiest_window_needs() -> None:
    clock = FakeClock()
    lim = limiter(clock, per_second=5, per_minute=6, safety=1.0)
    run(lim, 5)
    clock.now = 2.0
    run(lim, 1)
    assert clock.sleeps == []
    lim.acquire().release()  # the minute is full (6), the second is not
    assert clock.now == pytest.approx(60.0)


def test_in_flight_semaphore_blocks_until_a_release() -> None:
    lim = RateLimiter(RateLimits(max_in_flight=2, per_second=100))
    held = [lim.acquire(), lim.acquire()]
    got = threading.Event()

    def third() -> None:
        lim.acquire().release()
        got.set()

    worker = threading.Thread(target=third)
    worker.start()
    assert not got.wait(0.2)
    held.pop().release()
    assert got.wait(2.0)
    worker.join()
    held.pop().release()
    assert lim.in_flight == 0


def test_many_threads_never_exceed_the_in_flight_limit() -> None:
    lim = RateLimiter(RateLimits(max_in_flight=3, per_second=10_000, per_minute=100_000))
    lock = threading.Lock()
    active = 0
    peak = 0

    def work() -> None:
        nonlocal active, peak
        for _ in range(20):
            with lim.acquire():
                with lock:
                    active += 1
                    peak = max(peak, active)
                time.sleep(0.001)
                with lock:
                    active -= 1

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 1 <= peak <= 3
    assert lim.in_flight == 0


def test_registry_shares_one_limiter_per_realm_and_takes_the_newest_limits() -> None:
    reset_limiters()
    try:
        first = limiter_for("123", RateLimits())
        assert limiter_for("123", RateLimits()) is first
        assert limiter_for("456", RateLimits()) is not first
        faster = RateLimits(time_scale=10)
        assert limiter_for("123", faster) is first
        assert first.limits == faster
    finally:
        reset_limiters()


# --------------------------------------------------------------------------------------------
# RetryPolicy
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", sorted(RETRY_STATUSES))
def test_retryable_statuses(status: int) -> None:
    assert RetryPolicy.retryable_status(status)


@pytest.mark.parametrize("status", [200, 400, 401, 403, 404, 409, 422, 501])
def test_validation_and_auth_answers_are_not_retried(status: int) -> None:
    assert not RetryPolicy.retryable_status(status)


def test_full_jitter_stays_under_the_exponential_ceiling_and_the_cap() -> None:
    policy = RetryPolicy(base=0.5, cap=4.0, seed=1)
    for attempt in range(1, 12):
        ceiling = min(4.0, 0.5 * 2 ** (attempt - 1))
        for _ in range(50):
            assert 0.0 <= policy.delay(attempt) <= ceiling


def test_a_429_without_retry_after_waits_until_the_next_minute() -> None:
    """QBO counts per company per minute; another process may share the minute: the default waits
    after 429s reach past 60 service seconds, and each one grows."""
    policy = RetryPolicy(seed=3)
    for _ in range(50):
        waits = [policy.delay(n, throttled=True) for n in range(1, policy.max_attempts)]
        assert 60.0 <= sum(waits) <= 120.0
        assert all(min(60.0, 4.0 * 2 ** i) / 2 <= w <= min(60.0, 4.0 * 2 ** i) for i, w in enumerate(waits))
    assert policy.delay(1, retry_after=5.0, throttled=True) == 5.0  # the server's word wins


def test_seeded_jitter_is_reproducible() -> None:
    first = [RetryPolicy(seed=5).delay(n) for n in range(1, 6)]
    assert first == [RetryPolicy(seed=5).delay(n) for n in range(1, 6)]


def test_retry_after_is_honoured_and_bounded() -> None:
    policy = RetryPolicy(seed=1, max_retry_after=90)
    assert policy.delay(1, retry_after=7.0) == 7.0
    assert policy.delay(1, retry_after=600.0) == 90.0


def test_parse_retry_after() -> None:
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    when = datetime(2030, 1, 1, tzinfo=UTC)
    then = (when - timedelta(seconds=30)).timestamp()
    assert parse_retry_after(format_datetime(when, usegmt=True), now=then) == pytest.approx(30.0)


# --------------------------------------------------------------------------------------------
# ResilientSession with a scripted inner session
# --------------------------------------------------------------------------------------------

URL = "https://qbo.example/v3/company/123/customer"


def reply(status: int, headers: dict[str, str] | None = None, body: bytes = b"{}") -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response._content_consumed = True  # type: ignore[attr-defined]
    response.headers.update(headers or {})
    return response


class Scripted:
    """Plays back replies (or raises exceptions) in order and records what it was asked."""

    def __init__(self, *script: requests.Response | Exception) -> None:
        self.script = list(script)
        self.calls: list[dict[str, Any]] = []
        self.tokens = iter(f"token-{n}" for n in range(1, 100))
        self._token = "token-0"

    @property
    def access_token(self) -> str:
        return self._token

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        self.calls.append({"method": method, "url": url, **kwargs})
        self._token = next(self.tokens)  # as if the inner session refreshed between attempts
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def session(inner: Scripted, *, attempts: int = 6, time_scale: float = 1.0,
            sleeps: list[float] | None = None, limits: RateLimits | None = None) -> ResilientSession:
    record = sleeps if sleeps is not None else []
    lim = RateLimiter(limits or RateLimits(time_scale=time_scale, per_second=1000, per_minute=100_000))
    return ResilientSession(inner, lim, RetryPolicy(max_attempts=attempts, seed=3), sleep=record.append)


def test_retries_5xx_then_returns_the_success() -> None:
    sleeps: list[float] = []
    inner = Scripted(reply(503), reply(502), reply(200, {"intuit_tid": "tid-9"}))
    s = session(inner, sleeps=sleeps)
    response = s.request("GET", URL + "/1", params={"minorversion": 75})
    assert response.status_code == 200
    assert len(inner.calls) == 3 and len(sleeps) == 2
    assert s.stats.snapshot()["retries"] == 2 and s.stats.snapshot()["server_errors"] == 2
    assert s.last.status == 200 and s.last.intuit_tid == "tid-9"


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_are_returned_at_once(status: int) -> None:
    inner = Scripted(reply(status))
    s = session(inner)
    assert s.request("POST", URL, params={"requestid": "r1"}).status_code == status
    assert len(inner.calls) == 1
    assert s.stats.snapshot()["retries"] == 0


def test_exhausted_429_returns_the_last_reply_for_python_quickbooks_to_raise() -> None:
    inner = Scripted(*(reply(429, {"intuit_tid": f"t{n}"}) for n in range(4)))
    s = session(inner, attempts=4)
    response = s.request("GET", URL + "/1")
    assert response.status_code == 429
    assert len(inner.calls) == 4
    assert s.stats.snapshot()["throttled"] == 4 and s.stats.snapshot()["retries"] == 3
    assert s.last.status == 429 and s.last.intuit_tid == "t3"


def test_retry_after_is_honoured_in_service_seconds() -> None:
    sleeps: list[float] = []
    inner = Scripted(reply(429, {"Retry-After": "60"}), reply(200))
    s = session(inner, sleeps=sleeps, time_scale=600)
    assert s.request("GET", URL + "/1").status_code == 200
    assert sleeps == [pytest.approx(0.1)]  # 60 service seconds at 600x


def test_transport_errors_are_retried_then_reported_without_secrets() -> None:
    inner = Scripted(*(requests.ConnectionError("connection dropped") for _ in range(3)))
    s = session(inner, attempts=3)
    with pytest.raises(QboTransportError) as caught:
        s.request("POST", URL, params={"requestid": "r1"}, headers={"Authorization": "Bearer secret-abc"})
    message = str(caught.value)
    assert "POST /v3/company/123/customer" in message and "3 attempts" in message
    assert "token" not in message and "secret" not in message and "Bearer" not in message
    assert caught.value.retryable
    assert len(inner.calls) == 3
    assert s.last.status is None
    assert s.stats.snapshot()["transport_errors"] == 3


@pytest.mark.parametrize(
    "exc",
    [requests.ConnectionError("x"), requests.Timeout("x"), requests.exceptions.ChunkedEncodingError("x")],
)
def test_each_transport_error_kind_is_retried(exc: Exception) -> None:
    inner = Scripted(exc, reply(200))
    assert session(inner).request("GET", URL + "/1").status_code == 200


def test_a_write_without_requestid_is_not_replayed_after_5xx_or_a_lost_reply() -> None:
    inner = Scripted(reply(500))
    assert session(inner).request("POST", URL + "/../batch").status_code == 500
    assert len(inner.calls) == 1
    inner = Scripted(requests.ConnectionError("reset"), reply(200))
    with pytest.raises(QboTransportError):
        session(inner).request("POST", "https://qbo.example/v3/company/123/batch")
    assert len(inner.calls) == 1


def test_a_write_without_requestid_is_retried_after_429_and_failed_connects() -> None:
    inner = Scripted(reply(429), requests.exceptions.ConnectTimeout("x"), reply(200))
    assert session(inner).request("POST", "https://qbo.example/v3/company/123/batch").status_code == 200
    assert len(inner.calls) == 3


def test_queries_are_safe_to_repeat() -> None:
    inner = Scripted(reply(503), requests.ConnectionError("x"), reply(200))
    assert session(inner).request("POST", "https://qbo.example/v3/company/123/query").status_code == 200
    assert len(inner.calls) == 3


def test_authorization_header_is_refreshed_on_every_attempt_and_timeout_defaulted() -> None:
    inner = Scripted(reply(503), reply(200))
    s = session(inner)
    s.request("GET", URL + "/1", headers={"Authorization": "Bearer stale", "Accept": "application/json"})
    first, second = inner.calls
    assert first["headers"]["Authorization"] == "Bearer token-0"
    assert second["headers"]["Authorization"] == "Bearer token-1"
    assert second["headers"]["Accept"] == "application/json"
    assert first["timeout"] == (10.0, 120.0)
    inner = Scripted(reply(200))
    session(inner).request("GET", URL + "/1", timeout=3)
    assert inner.calls[0]["timeout"] == 3


def test_access_token_delegates_to_the_inner_session() -> None:
    inner = Scripted()
    assert session(inner).access_token == "token-0"


def test_last_reply_is_per_thread() -> None:
    inner = Scripted(reply(200, {"intuit_tid": "main"}))
    s = session(inner)
    s.request("GET", URL + "/1")
    seen: list[Any] = []
    thread = threading.Thread(target=lambda: seen.append(s.last))
    thread.start()
    thread.join()
    assert s.last.intuit_tid == "main"
    assert seen[0].status is None and seen[0].intuit_tid is None
    s.reset_last()
    assert s.last.status is None


def test_batch_requests_take_a_batch_permit() -> None:
    clock = FakeClock()
    lim = RateLimiter(RateLimits(batch_per_minute=1, safety=1.0, per_second=100), clock=clock, sleep=clock.sleep)
    s = ResilientSession(Scripted(reply(200), reply(200)), lim, RetryPolicy(seed=1), sleep=clock.sleep)
    s.request("POST", "https://qbo.example/v3/company/123/batch")
    assert lim.wait_needed(is_batch=True) == pytest.approx(60.0)
    assert lim.wait_needed(is_batch=False) == 0.0
    s.request("POST", "https://qbo.example/v3/company/123/query")
    assert clock.sleeps == []


def test_backoff_sleeps_are_scaled_and_bounded() -> None:
    sleeps: list[float] = []
    inner = Scripted(*(reply(503) for _ in range(5)), reply(200))
    s = session(inner, sleeps=sleeps, time_scale=10)
    assert s.request("GET", URL + "/1").status_code == 200
    ceilings = [min(30.0, 0.5 * 2**n) / 10 for n in range(5)]
    assert len(sleeps) == 5
    assert all(0 <= slept <= ceiling for slept, ceiling in zip(sleeps, ceilings, strict=True))


def test_a_held_permit_carries_the_next_request_and_only_that_one() -> None:
    inner = Scripted(reply(429), reply(200), reply(200))
    s = session(inner, limits=RateLimits(per_second=1000, per_minute=100_000, max_in_flight=2))
    permit = s.limiter.try_acquire(True)
    assert permit is not None and s.limiter.in_flight == 1
    with s.holding(permit):
        assert s.request("POST", URL + "/batch", params={"requestid": "b1"}).status_code == 200
    # the held permit went with the first attempt; the retry after the 429 took one of its own
    assert len(inner.calls) == 2 and s.limiter.in_flight == 0
    unused = s.limiter.try_acquire(False)
    assert unused is not None
    with s.holding(unused):
        pass  # no request: given back
    assert s.limiter.in_flight == 0
    other = s.limiter.try_acquire(True)
    assert other is not None
    with s.holding(other):  # taken for a batch, used by a single request: given back, a new one taken
        assert s.request("GET", URL + "/1").status_code == 200
    assert s.limiter.in_flight == 0


def test_sending_counts_a_permit_from_when_its_request_goes_out() -> None:
    clock = FakeClock()
    lim = limiter(clock, per_second=1, per_minute=1000, arrival_margin=0.1, arrival_floor=0.0)
    permit = lim.try_acquire()
    assert permit is not None
    clock.now = 0.5  # taken by a dispatcher, sent by a worker half a second later
    permit.sending()
    assert lim.wait_needed() == pytest.approx(1.1)  # counted from 0.5 (+ the margin), not from 0.0
    clock.now = 0.7
    permit.release()
    assert lim.wait_needed() == pytest.approx(0.9)  # stamped at 0.6: leaves the window at 1.6
