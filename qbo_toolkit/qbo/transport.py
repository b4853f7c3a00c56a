"""HTTP transport for the QBO client: stay under QBO's rate limits, retry what is safe to retry.

Two pieces sit between python-quickbooks and the network:

* :class:`RateLimiter`, one per realm (:func:`limiter_for`), shared by every client of that realm in
  the process. QBO allows 500 requests per minute, 10 per second and 40 batch requests per minute
  per realm, and about 10 requests in flight (API_FACTS §7); going over costs a 429 and, per Intuit,
  a 60 s pause. The limiter makes callers wait *before* sending instead, so a healthy run is not
  throttled.
* :class:`ResilientSession`, a requests-compatible object for ``QuickBooks.session``: it takes a
  permit from the limiter, sets a default timeout, refreshes the ``Authorization`` header from the
  wrapped OAuth session on every attempt, retries 429/5xx answers and dropped connections with
  full-jitter backoff (:class:`RetryPolicy`), and records per thread the last status and
  ``intuit_tid`` so the client can classify python-quickbooks' exceptions.

Why a retried write cannot act twice: every create, update, delete and void the client sends carries
a caller-made, deterministic ``requestid``; QBO (and the emulator) answer a repeated ``requestid``
with the stored reply of the first execution instead of running it again (API_FACTS §2.4). So a
write whose reply was lost is retried with the same URL, and at most one object results. A POST
that carries no ``requestid`` (a batch sent without one) is *not* replay-safe: it is retried only
after a 429 (QBO refuses before running anything) or a failed connect (nothing was sent). Reads and
queries (GET, ``POST .../query``) are always safe. Validation answers (4xx other than 429) are never
retried: the same data would be refused again.

Time: limits and backoff are in *service* seconds. ``RateLimits.time_scale`` says how many service
seconds pass per real second, so a benchmark against an emulator running a "minute" in a fraction
of a real one (``EmulatorConfig(time_scale=...)``) uses the full ceiling and backs off briefly.
Against Intuit it is 1.

How the limiter stays under QBO's count: a request counts in the sliding windows from the moment it
is sent. In the per-minute windows it is stamped with the time its reply (or failure) *arrived*.
QBO saw it somewhere in between, so when the client's stamp has left a window the server's has too,
whatever the latency; a latency is small against a minute. Against a second it is not: counted
until its reply, a request with QBO's 150-300 ms would hold a slot of the per-second window for
1.15-1.3 s, and 10 of them a second could not even fill 500 a minute. So the per-second window
counts a request until ``RateLimits.arrival_margin`` after it was sent (or its reply, if sooner):
QBO counts a request when it arrives, a moment after it leaves (``arrival_margin=None`` restores the
exact count). The ``safety`` margin (default 0.97 of the per-minute and batch ceilings) leaves room
for other apps or processes sharing the realm and for a server that counts in fixed rather than
sliding windows.

Sending both kinds at once: :meth:`RateLimiter.try_acquire` grants a permit only if one is free now
(with ``leave_for_batches``, a single request uses only the room the batch ceiling leaves over), and
:meth:`ResilientSession.holding` sends a thread's next request under a permit taken that way. The
sync engine uses both to send batch and single requests side by side at the whole ceiling.
"""

from __future__ import annotations

import math
import random
import threading
import time
from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

import requests

from qbo_toolkit.errors import QboTransportError

from .meter import get_meter

__all__ = [
    "DEFAULT_TIMEOUT",
    "RETRY_STATUSES",
    "TRANSPORT_ERRORS",
    "LastResponse",
    "Permit",
    "RateLimiter",
    "RateLimits",
    "ResilientSession",
    "RetryPolicy",
    "SessionLike",
    "TransportStats",
    "limiter_for",
    "parse_retry_after",
    "reset_limiters",
]

#: (connect, read) seconds. QBO ends requests that run longer than 120 s (API_FACTS §7).
DEFAULT_TIMEOUT: Final[tuple[float, float]] = (10.0, 120.0)

#: HTTP statuses worth another attempt: throttled, or the service failed on its side.
RETRY_STATUSES: Final[frozenset[int]] = frozenset({429, 500, 502, 503, 504})

#: Exceptions that mean "no usable reply" (timeouts, refused or dropped connections, cut bodies).
TRANSPORT_ERRORS: Final[tuple[type[Exception], ...]] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


# --------------------------------------------------------------------------------------------
# Rate limiting
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RateLimits:
    """QBO's per-realm ceilings (API_FACTS §7) and how much of them to use.

    ``time_scale`` is service seconds per real second (1 against Intuit; the emulator's
    ``time_scale`` in benchmarks). ``safety`` is the share of the per-minute and batch ceilings the
    limiter fills; the per-second and in-flight ceilings are used in full (see the module docstring).

    ``arrival_margin`` (service seconds) bounds how long after the limiter lets a request go QBO
    receives it (and counts it): the per-second window counts a request from then until
    ``arrival_margin`` after it was let go, or until its reply if that came sooner. ``None``
    counts it until its reply, whatever the latency: exact, but then a second of the window lasts
    a second plus the latency, and with QBO's 150-300 ms that alone keeps a client under 500 a
    minute. The margin is at least ``arrival_floor`` real seconds (the client's own delay
    between the permit and the socket does not shrink with ``time_scale``).
    """

    per_minute: int = 500
    per_second: int = 10
    batch_per_minute: int = 40
    max_in_flight: int = 10
    time_scale: float = 1.0
    safety: float = 0.97
    arrival_margin: float | None = 0.2
    arrival_floor: float = 0.02

    def __post_init__(self) -> None:
        for name in ("per_minute", "per_second", "batch_per_minute", "max_in_flight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"RateLimits.{name} must be a positive int, got {value!r}")
        if not (isinstance(self.time_scale, int | float) and math.isfinite(self.time_scale) and self.time_scale > 0):
            raise ValueError(f"RateLimits.time_scale must be a positive number, got {self.time_scale!r}")
        if not (isinstance(self.safety, int | float) and 0 < self.safety <= 1):
            raise ValueError(f"RateLimits.safety must be in (0, 1], got {self.safety!r}")
        for name in ("arrival_margin", "arrival_floor"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"RateLimits.{name} must be a number >= 0, got {value!r}")

    @property
    def minute_cap(self) -> int:
        """Requests allowed in any sliding minute (the ceiling less the safety margin, at least 1)."""
        return max(1, math.floor(self.per_minute * self.safety))

    @property
    def batch_cap(self) -> int:
        """Batch requests allowed in any sliding minute."""
        return max(1, math.floor(self.batch_per_minute * self.safety))

    @property
    def minute_span(self) -> float:
        """A service minute in real seconds."""
        return 60.0 / self.time_scale

    @property
    def second_span(self) -> float:
        """A service second in real seconds."""
        return 1.0 / self.time_scale

    @property
    def arrival_span(self) -> float | None:
        """``arrival_margin`` in real seconds (at least ``arrival_floor``), or None: count until the reply."""
        if self.arrival_margin is None:
            return None
        return max(self.arrival_margin / self.time_scale, self.arrival_floor)


class Permit:
    """The right to have one request in flight. Release it (or leave its ``with`` block) when the
    reply or the failure has arrived: that moment is what the windows count from. Releasing twice
    is harmless."""

    __slots__ = ("_done", "_limiter", "granted", "is_batch", "waited")

    def __init__(self, limiter: RateLimiter, is_batch: bool, waited: float, granted: float = 0.0) -> None:
        self._limiter = limiter
        self._done = False
        self.is_batch = is_batch
        #: real seconds the caller was held back before this permit was granted
        self.waited = waited
        #: the limiter's clock when it was granted
        self.granted = granted

    def release(self) -> None:
        if not self._done:
            self._done = True
            self._limiter._release(self.is_batch, self.granted)

    def sending(self) -> None:
        """The request goes out now: count it in the per-second window from now rather than from
        when the permit was granted (a permit taken by a dispatcher for a worker thread, or one
        that waited for the limiter, starts later than granted)."""
        if not self._done:
            self.granted = self._limiter._restamp(self.granted)

    def __enter__(self) -> Permit:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


class RateLimiter:
    """Sliding-window limiter for one realm; thread-safe; :meth:`acquire` blocks just long enough.

    Windows (in real seconds, from :class:`RateLimits`): all requests per minute and per second,
    batch requests per minute, and requests in flight (a counting semaphore kept under the same
    lock, so a request waiting for a window does not hold a slot). ``clock`` and ``sleep`` can be
    injected (a fake clock in tests); with the default ``sleep`` a waiting thread also wakes early
    when another request finishes.
    """

    def __init__(
        self,
        limits: RateLimits | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._limits = limits or RateLimits()
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._done: deque[float] = deque()  # completion stamps of all requests, oldest first
        self._done_batch: deque[float] = deque()
        self._done_single: deque[float] = deque()  # the requests that were not batch requests
        self._done_second: list[float] = []  # per-second stamps (see RateLimits.arrival_margin), sorted
        self._granted: list[float] = []  # when the requests in flight were let go
        self._inflight = 0
        self._inflight_batch = 0

    @property
    def limits(self) -> RateLimits:
        return self._limits

    def reconfigure(self, limits: RateLimits) -> None:
        """Use new ceilings from now on (the windows keep their history)."""
        with self._cond:
            self._limits = limits
            self._cond.notify_all()

    @property
    def in_flight(self) -> int:
        with self._cond:
            return self._inflight

    def acquire(self, is_batch: bool = False) -> Permit:
        """Block until one more request (a batch one if ``is_batch``) fits every window, then count
        it as in flight. Returns the :class:`Permit` to release when its reply has arrived."""
        start = self._clock()
        with self._cond:
            while True:
                now = self._clock()
                self._prune(now)
                wait, blocked = self._wait_needed(now, is_batch)
                if wait <= 0 and not blocked:
                    break
                self._pause(wait if wait > 0 else None)
            return self._grant(now, is_batch, max(0.0, now - start))

    def try_acquire(self, is_batch: bool = False, *, leave_for_batches: bool = False) -> Permit | None:
        """A :class:`Permit` if one more request fits every window right now, else None (never waits).

        ``leave_for_batches`` (for a single request sent alongside batch requests): the single may
        use only the part of the per-minute window that the batch ceiling leaves over
        (``minute_cap - batch_cap`` single requests in any minute), so singles can never crowd out
        the batch requests the batch window still allows. A caller that sends both kinds at once
        thus gets the whole ceiling: ``batch_cap`` batches and the rest as single requests.
        """
        with self._cond:
            now = self._clock()
            self._prune(now)
            wait, blocked = self._wait_needed(now, is_batch, leave_for_batches)
            if wait > 0 or blocked:
                return None
            return self._grant(now, is_batch, 0.0)

    def wait_needed(self, is_batch: bool = False, *, leave_for_batches: bool = False) -> float | None:
        """Seconds until a request could start now (0.0: at once; None: only after one in flight
        finishes). For tests, progress displays and callers of :meth:`try_acquire`; :meth:`acquire`
        does the waiting."""
        with self._cond:
            now = self._clock()
            self._prune(now)
            wait, blocked = self._wait_needed(now, is_batch, leave_for_batches)
            return None if blocked and wait <= 0 else max(0.0, wait)

    # -- internals -------------------------------------------------------------------------------
    def _grant(self, now: float, is_batch: bool, waited: float) -> Permit:
        """Count one more request in flight (the lock is held)."""
        self._inflight += 1
        if is_batch:
            self._inflight_batch += 1
        insort(self._granted, now)
        return Permit(self, is_batch, waited, now)

    def _restamp(self, granted: float) -> float:
        with self._cond:
            now = self._clock()
            index = bisect_left(self._granted, granted)
            if index < len(self._granted) and self._granted[index] == granted:
                del self._granted[index]
            insort(self._granted, now)
            return now

    def _release(self, is_batch: bool, granted: float) -> None:
        with self._cond:
            now = self._clock()
            self._inflight = max(0, self._inflight - 1)
            index = bisect_left(self._granted, granted)
            if index < len(self._granted) and self._granted[index] == granted:
                del self._granted[index]
            margin = self._limits.arrival_span
            insort(self._done_second, now if margin is None else min(now, granted + margin))
            self._done.append(now)
            if is_batch:
                self._inflight_batch = max(0, self._inflight_batch - 1)
                self._done_batch.append(now)
            else:
                self._done_single.append(now)
            self._cond.notify_all()

    def _prune(self, now: float) -> None:
        horizon = now - self._limits.minute_span
        for stamps in (self._done, self._done_batch, self._done_single):
            while stamps and stamps[0] <= horizon:
                stamps.popleft()
        gone = bisect_right(self._done_second, now - self._limits.second_span)
        if gone:
            del self._done_second[:gone]

    def _wait_needed(self, now: float, is_batch: bool, leave_for_batches: bool = False) -> tuple[float, bool]:
        """(seconds until the timed windows admit one more, blocked-until-a-release)."""
        lim = self._limits
        windows: list[tuple[Sequence[float], int, int, float]] = [
            (self._done, self._inflight, lim.minute_cap, lim.minute_span),
        ]
        margin = lim.arrival_span
        if margin is None:
            windows.append((self._done_second, self._inflight, lim.per_second, lim.second_span))
        if is_batch:
            windows.append((self._done_batch, self._inflight_batch, lim.batch_cap, lim.minute_span))
        elif leave_for_batches:
            windows.append((self._done_single, self._inflight - self._inflight_batch,
                            max(1, lim.minute_cap - lim.batch_cap), lim.minute_span))
        blocked = self._inflight >= lim.max_in_flight
        wait = 0.0
        if margin is not None:
            # the per-second window: a request in flight counts until `margin` after it was let go
            span = lim.second_span
            ends = sorted([*(s + span for s in self._done_second), *(g + margin + span for g in self._granted)])
            ends = ends[bisect_right(ends, now):]
            excess = len(ends) - lim.per_second + 1
            if excess > 0:
                wait = ends[excess - 1] - now
        for stamps, inflight, cap, span in windows:
            first = bisect_right(stamps, now - span)  # stamps[first:] are still inside the window
            recent = len(stamps) - first
            excess = recent + inflight - cap + 1  # how many must leave before one more fits
            if excess <= 0:
                continue
            if excess <= recent:
                wait = max(wait, stamps[first + excess - 1] + span - now)
            else:  # the window is full of requests still in flight: only a release helps
                blocked = True
        return wait, blocked

    def _pause(self, seconds: float | None) -> None:
        if seconds is not None and self._sleep is not None:
            self._cond.release()
            try:
                self._sleep(seconds)
            finally:
                self._cond.acquire()
        else:
            # Wakes on a release too; capped so a reconfigured or odd clock is re-read regularly.
            self._cond.wait(timeout=min(seconds, 5.0) if seconds is not None else 5.0)


_REGISTRY: dict[str, RateLimiter] = {}
_REGISTRY_LOCK = threading.Lock()


def limiter_for(realm_id: str, limits: RateLimits | None = None) -> RateLimiter:
    """The process-wide limiter of ``realm_id`` (created on first use).

    QBO's limits are per realm, so every client of a realm in this process must share one limiter.
    When ``limits`` differ from the registered ones, the limiter is reconfigured: the newest
    configuration wins for every client of the realm.
    """
    limits = limits or RateLimits()
    with _REGISTRY_LOCK:
        limiter = _REGISTRY.get(str(realm_id))
        if limiter is None:
            limiter = _REGISTRY[str(realm_id)] = RateLimiter(limits)
        elif limiter.limits != limits:
            limiter.reconfigure(limits)
        return limiter


def reset_limiters() -> None:
    """Forget every registered limiter (tests that start from an empty history)."""
    with _REGISTRY_LOCK:
        _REGISTRY.clear()


# --------------------------------------------------------------------------------------------
# Retries
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """When to try again and how long to wait: exponential backoff with full jitter.

    Attempt ``n`` (1-based) failed → wait ``uniform(0, min(cap, base * 2**(n-1)))`` service
    seconds, or the server's ``Retry-After`` when it sent one (bounded by ``max_retry_after``).
    A 429 without ``Retry-After`` waits longer, ``uniform(c/2, c)`` with
    ``c = min(throttle_cap, throttle_base * 2**(n-1))``: QBO counts its limits per company over a
    minute and says only "wait 60 s", and another process (a notebook beside a scheduled job) may be
    using the same minute, so the waits of the defaults add up to 60-120 s and always reach the next
    minute. At most ``max_attempts`` attempts in all. ``seed`` makes the jitter reproducible.
    """

    max_attempts: int = 6
    base: float = 0.5
    cap: float = 30.0
    throttle_base: float = 4.0
    throttle_cap: float = 60.0
    max_retry_after: float = 120.0
    seed: int | None = None
    _rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be >= 1, got {self.max_attempts!r}")
        if self.base < 0 or self.cap < 0 or self.max_retry_after < 0:
            raise ValueError("RetryPolicy delays must not be negative")
        object.__setattr__(self, "_rng", random.Random(self.seed))

    @staticmethod
    def retryable_status(status: int) -> bool:
        """True for 429, 500, 502, 503 and 504; never for validation (other 4xx) answers."""
        return status in RETRY_STATUSES

    def delay(self, attempt: int, retry_after: float | None = None, *, throttled: bool = False) -> float:
        """Service seconds to wait after failed attempt number ``attempt`` (1-based); ``throttled``:
        it was answered 429."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_retry_after)
        if throttled:
            ceiling = min(self.throttle_cap, self.throttle_base * 2 ** max(0, attempt - 1))
            return self._rng.uniform(ceiling / 2, ceiling)
        ceiling = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        return self._rng.uniform(0.0, ceiling)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds) if math.isfinite(seconds) else None


# --------------------------------------------------------------------------------------------
# The session python-quickbooks talks to
# --------------------------------------------------------------------------------------------


class SessionLike(Protocol):
    """What :class:`ResilientSession` needs from the wrapped session (an ``OAuth2Session``)."""

    @property
    def access_token(self) -> str | None: ...

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response: ...


@dataclass(frozen=True, slots=True)
class LastResponse:
    """What the calling thread's most recent request ended with (for error classification)."""

    status: int | None = None
    intuit_tid: str | None = None
    retry_after: float | None = None
    #: the body of an error reply (status >= 400), so the client can read the whole Fault
    #: (python-quickbooks' exceptions drop ``element`` and every Error entry but the first)
    error_body: str | None = field(default=None, repr=False)


@dataclass
class TransportStats:
    """Counters for one session (benchmarks, progress displays). Read with :meth:`snapshot`."""

    requests: int = 0  # HTTP attempts sent
    retries: int = 0
    throttled: int = 0  # 429 answers received
    server_errors: int = 0  # 5xx answers received
    transport_errors: int = 0  # attempts without a reply
    limiter_wait: float = 0.0  # real seconds spent waiting for the rate limiter
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **deltas: float) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return {
                "requests": self.requests,
                "retries": self.retries,
                "throttled": self.throttled,
                "server_errors": self.server_errors,
                "transport_errors": self.transport_errors,
                "limiter_wait": self.limiter_wait,
            }


_MAX_ERROR_BODY: Final = 65536


def _header(headers: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = headers.get(name)
        if value:
            return value
    return None


class ResilientSession:
    """A requests-compatible session for python-quickbooks that rate-limits and retries.

    ``inner`` is the real session (the project's refreshing ``OAuth2Session``). python-quickbooks
    calls :meth:`request` and reads :attr:`access_token`; nothing else. See the module docstring
    for which requests are retried and why that is safe for writes.
    """

    def __init__(
        self,
        inner: SessionLike,
        limiter: RateLimiter,
        retry: RetryPolicy | None = None,
        *,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.inner = inner
        self.limiter = limiter
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.stats = TransportStats()
        self._sleep = sleep
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"ResilientSession(inner={type(self.inner).__name__}, limits={self.limiter.limits!r})"

    @property
    def access_token(self) -> str | None:
        """The wrapped session's current access token (python-quickbooks reads it)."""
        return self.inner.access_token

    @property
    def last(self) -> LastResponse:
        """The calling thread's last recorded reply (status None: no reply at all)."""
        last = getattr(self._local, "last", None)
        return last if isinstance(last, LastResponse) else LastResponse()

    def reset_last(self) -> None:
        """Forget the calling thread's last reply, so a stale one cannot classify a new error."""
        self._local.last = LastResponse()

    @contextmanager
    def holding(self, permit: Permit) -> Iterator[None]:
        """Send the calling thread's next request under ``permit`` (one taken beforehand with
        :meth:`RateLimiter.try_acquire`, e.g. by a dispatcher that decides what to send by what the
        windows allow) instead of waiting for a new one. A retry of that request waits as usual.
        The permit is released when its reply arrives, or here if no request used it."""
        self._local.permit = permit
        try:
            yield
        finally:
            left = getattr(self._local, "permit", None)
            self._local.permit = None
            if left is not None:
                left.release()

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()

    @staticmethod
    def _replay_safe(method: str, path: str, params: Any) -> bool:
        if method.upper() in ("GET", "HEAD", "OPTIONS"):
            return True
        if path.rstrip("/").endswith("/query"):
            return True
        return isinstance(params, Mapping) and bool(params.get("requestid"))

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """Send with limits and retries. Returns the final response, even a 429/5xx one after the
        last attempt (python-quickbooks raises on it); raises :class:`QboTransportError` when no
        attempt got a reply."""
        path = urlsplit(url).path
        is_batch = path.rstrip("/").endswith("/batch")
        replay_safe = self._replay_safe(method, path, kwargs.get("params"))
        kwargs.setdefault("timeout", self.timeout)
        policy = self.retry
        scale = self.limiter.limits.time_scale
        attempt = 0
        while True:
            attempt += 1
            headers = dict(kwargs.get("headers") or {})
            token = self.inner.access_token
            if token:
                headers["Authorization"] = f"Bearer {token}"  # the newest, if the inner one refreshed
            kwargs["headers"] = headers
            response: requests.Response | None = None
            failure: Exception | None = None
            held: Permit | None = getattr(self._local, "permit", None)
            if held is not None:
                self._local.permit = None
                if held.is_batch != is_batch:  # not the kind it was taken for: give it back
                    held.release()
                    held = None
            with held or self.limiter.acquire(is_batch) as permit:
                self.stats.add(requests=1, limiter_wait=permit.waited)
                permit.sending()
                try:
                    response = self.inner.request(method, url, **kwargs)
                except TRANSPORT_ERRORS as exc:
                    failure = exc
            if not (failure is not None and isinstance(failure, requests.exceptions.ConnectTimeout)):
                # every attempt that reached QBO, retries included (meter.py says what counts)
                get_meter().record(method, url, kwargs, response.status_code if response is not None else None)
            if response is not None:
                status = response.status_code
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                self._local.last = LastResponse(
                    status=status,
                    intuit_tid=_header(response.headers, "intuit_tid", "Intuit-Tid"),
                    retry_after=retry_after,
                    error_body=response.text[:_MAX_ERROR_BODY] if status >= 400 else None,
                )
                if status == 429:
                    self.stats.add(throttled=1)
                elif status >= 500:
                    self.stats.add(server_errors=1)
                if not policy.retryable_status(status) or attempt >= policy.max_attempts:
                    return response
                if status != 429 and not replay_safe:
                    return response  # a 5xx may come after the write ran; without requestid, stop
                delay = policy.delay(attempt, retry_after, throttled=status == 429)
            else:
                assert failure is not None
                self._local.last = LastResponse()
                self.stats.add(transport_errors=1)
                never_sent = isinstance(failure, requests.exceptions.ConnectTimeout)
                if attempt >= policy.max_attempts or not (replay_safe or never_sent):
                    raise QboTransportError(
                        f"{method.upper()} {path}: no reply after {attempt} attempt"
                        f"{'s' if attempt > 1 else ''} ({type(failure).__name__})"
                    ) from failure  # requests' messages name host and path, never headers or tokens
                delay = policy.delay(attempt)
            self.stats.add(retries=1)
            self._sleep(delay / scale)
