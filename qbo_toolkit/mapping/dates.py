"""Plausible transaction dates: a typo such as 1850 or 2099 is reported, never sent or skipped.

An invoice's ``issue_date`` and ``due_date`` and a payment's ``date`` must fall between
:data:`EARLIEST` (1900-01-01) and :data:`FUTURE_DAYS` (366) days after the run's date. Both
sides of QBO accept such dates, which is why they would otherwise go through unnoticed (or, dated
before the integration date, be skipped without a word). ``today`` is always passed in: these
functions stay pure.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Final

__all__ = ["EARLIEST", "FUTURE_DAYS", "date_problem"]

EARLIEST: Final = date(1900, 1, 1)
FUTURE_DAYS: Final = 366


def date_problem(value: date, *, today: date) -> str | None:
    """Why ``value`` is not a plausible transaction date on ``today``, or None."""
    if value < EARLIEST:
        return f"{value.isoformat()} is before {EARLIEST.isoformat()}; is the year a typo?"
    latest = today + timedelta(days=FUTURE_DAYS)
    if value > latest:
        return (f"{value.isoformat()} is more than {FUTURE_DAYS} days after today ({today.isoformat()}, latest "
                f"{latest.isoformat()}); is the year a typo?")
    return None
