"""Pacing for a caller that keeps many requests in flight: when may the next batch or single go?

QBO allows 500 requests a minute per company, of which 40 may be batch requests (30 operations
each), 10 a second and about 10 in flight (API_FACTS §7). A sender that wants all of it sends
batch requests while the batch window has room and single requests in the rest of the budget at
the same time. :class:`Pacer` is the one call it needs: :meth:`Pacer.take` hands out a
:class:`Slot` for a request of either kind when the realm's limiter (:mod:`.transport`) and an even
pace over the minute both allow one now, :meth:`Pacer.wait` says how long until one might, and
:meth:`Pacer.sending` makes the calling thread's next request use the slot. Nothing outside
``qbo/`` touches the transport or its limiter.

Why an even pace on top of the limiter: the limiter alone would let a stage send its whole minute
of batch requests in the first seconds and then only singles; QBO (and the emulator) would get
bursts of work and the answers would come back in bursts for one thread to record. Token buckets
at the windows' rates (a little above, so that the windows, not the pace, hold a stage back once
it runs) spread the same ceiling evenly; a small bucket lets a stage catch up after a pause.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal

from .transport import Permit, RateLimits

if TYPE_CHECKING:
    from .client import QboClient

__all__ = ["PACE", "Pacer", "Slot"]

Kind = Literal["batch", "single"]
#: The pace a little above the windows' rates (see the module docstring).
PACE = 1.05


class _Buckets:
    """Token buckets for ``batch`` and ``single`` requests at the limiter windows' rates."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float] = time.monotonic) -> None:
        span = limits.minute_span
        self.rate = {"batch": PACE * limits.batch_cap / span,
                     "single": PACE * max(1, limits.minute_cap - limits.batch_cap) / span}
        self.size = {"batch": 2.0, "single": 4.0}
        self.tokens = dict(self.size)
        self.clock = clock
        self.at = clock()

    def _refill(self) -> None:
        now = self.clock()
        elapsed, self.at = now - self.at, now
        for kind, rate in self.rate.items():
            self.tokens[kind] = min(self.size[kind], self.tokens[kind] + elapsed * rate)

    def ready(self, kind: Kind) -> bool:
        self._refill()
        return self.tokens[kind] >= 1.0

    def take(self, kind: Kind) -> None:
        self.tokens[kind] -= 1.0

    def wait(self, kind: Kind) -> float:
        """Real seconds until ``kind`` has a token."""
        self._refill()
        return max(0.0, (1.0 - self.tokens[kind]) / self.rate[kind])


class Slot:
    """The right to send one request of ``kind`` now. Send it with :meth:`Pacer.sending`, or
    :meth:`release` it unused (releasing twice is harmless)."""

    __slots__ = ("kind", "permit")

    def __init__(self, kind: Kind, permit: Permit) -> None:
        self.kind = kind
        self.permit = permit

    def release(self) -> None:
        self.permit.release()


class Pacer:
    """Hands out :class:`Slot` s for ``client``'s realm (see the module docstring). Not thread-safe:
    one dispatching thread takes slots; the requests themselves may go on other threads."""

    def __init__(self, client: QboClient, clock: Callable[[], float] = time.monotonic) -> None:
        self._transport = client.transport
        self._limiter = client.transport.limiter
        self._buckets = _Buckets(self._limiter.limits, clock)

    @property
    def max_in_flight(self) -> int:
        return self._limiter.limits.max_in_flight

    def take(self, kind: Kind) -> Slot | None:
        """A slot for a ``kind`` request if the pace and the realm's windows allow one now (a single
        request uses only the room the batch ceiling leaves over), else None. Never waits."""
        if not self._buckets.ready(kind):
            return None
        permit = self._limiter.try_acquire(kind == "batch", leave_for_batches=kind == "single")
        if permit is None:
            return None
        self._buckets.take(kind)
        return Slot(kind, permit)

    def wait(self, kinds: tuple[Kind, ...] = ("batch", "single")) -> float | None:
        """Real seconds until a request of one of ``kinds`` might get a slot (None: only after a
        request in flight finishes)."""
        waits: list[float] = []
        for kind in kinds:
            needed = self._limiter.wait_needed(kind == "batch", leave_for_batches=kind == "single")
            if needed is not None:
                waits.append(max(needed, self._buckets.wait(kind)))
        return min(waits) if waits else None

    @contextmanager
    def sending(self, slot: Slot) -> Iterator[None]:
        """The calling thread's next request goes under ``slot`` (released when its reply arrives, or
        at the end of the block if no request used it). A retry of that request waits as usual."""
        with self._transport.holding(slot.permit):
            yield
