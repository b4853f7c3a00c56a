"""The emulator's clock: company-local wall time, a settable offset, and a time scale for limits.

``now()`` is what the emulator stamps on MetaData and replies. ``advance()`` moves it forward (tests of
expiry and of CDC windows). ``monotonic()`` runs ``scale`` times faster than real time, so a benchmark
can live through a QBO "minute" of rate limits in a fraction of a real one.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

COMPANY_TZ = ZoneInfo("America/Los_Angeles")


class Clock:
    def __init__(self, scale: float = 1.0, tz: ZoneInfo = COMPANY_TZ) -> None:
        if scale <= 0:
            raise ValueError("time scale must be positive")
        self.scale = scale
        self.tz = tz
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            offset = self._offset
        return datetime.now(self.tz) + offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += timedelta(seconds=seconds)

    def monotonic(self) -> float:
        """Scaled seconds, for rate limits and token lifetimes measured in scaled time."""
        with self._lock:
            offset = self._offset.total_seconds()
        return time.monotonic() * self.scale + offset

    def sleep(self, scaled_seconds: float) -> None:
        """Sleep for a span of scaled time (used by injected latency)."""
        if scaled_seconds > 0:
            time.sleep(scaled_seconds / self.scale)


def stamp(dt: datetime) -> str:
    """MetaData timestamp: company-local, offset, no fraction (2020-09-29T05:58:16-07:00)."""
    return dt.replace(microsecond=0).isoformat()


def reply_time(dt: datetime) -> str:
    """Envelope ``time``: milliseconds and offset (2020-09-29T05:58:16.187-07:00)."""
    return dt.isoformat(timespec="milliseconds")


def parse_stamp(text: str, tz: ZoneInfo = COMPANY_TZ) -> datetime:
    """Parse a QBO date or datetime; a value without an offset is company-local time."""
    value = text.strip()
    if len(value) == 10:
        value += "T00:00:00"
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return dt


class FixedClock(Clock):
    """A clock stopped at one instant (used to stamp the deterministic seed company)."""

    def __init__(self, at: datetime) -> None:
        super().__init__()
        self._at = at

    def now(self) -> datetime:
        return self._at
