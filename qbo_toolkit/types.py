"""Small value types shared by every layer: money, QBO dates and times, ids.

Money is :class:`~decimal.Decimal` to the cent, rounded half-up (as QBO and an invoice reader
expect: 2.675 -> 2.68). Floats are accepted only through their shortest ``repr`` (``str``), so a
float's binary noise never leaks into an amount: ``to_money(0.1 + 0.2) == Decimal("0.30")`` and
``to_money(2.675) == Decimal("2.68")`` (``Decimal(2.675)`` is 2.67499999...).

QBO timestamps carry an offset (``2020-09-29T05:58:16-07:00``, also ``Z``, milliseconds, and the
webhook form ``-0700``). A timestamp without an offset is refused unless the caller says which
zone it is in: we never guess.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Final, NewType, TypeAlias

__all__ = [
    "CENT",
    "Money",
    "QboId",
    "RealmId",
    "WorkId",
    "format_qbo_date",
    "format_qbo_datetime",
    "is_whole_cents",
    "parse_qbo_date",
    "parse_qbo_datetime",
    "to_money",
]

#: A QBO entity id: a string of digits ("42"), as QBO sends it.
QboId = NewType("QboId", str)
#: A WORK row id (integer primary key).
WorkId = NewType("WorkId", int)
#: A QBO company id (``realmId``), a string of digits.
RealmId = NewType("RealmId", str)

#: Money is a Decimal quantized to :data:`CENT`; see :func:`to_money`.
Money: TypeAlias = Decimal
CENT: Final = Decimal("0.01")
_ZERO: Final = Decimal("0.00")

MoneyInput: TypeAlias = Decimal | int | float | str


def _to_decimal(value: object) -> Decimal:
    """Exact decimal for ``value``; ValueError for anything that is not a finite number."""
    if isinstance(value, bool):
        raise ValueError(f"not a money amount: {value!r} (a bool)")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        # str() gives the shortest repr that round-trips, i.e. what the writer meant.
        number = Decimal(str(value))
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"not a money amount: {value!r}") from None
    else:
        raise ValueError(f"not a money amount: {value!r} ({type(value).__name__})")
    if not number.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    return number


def to_money(value: MoneyInput) -> Money:
    """``value`` as a Decimal to the cent, rounded half-up (``-0.00`` is returned as ``0.00``).

    Accepts Decimal, int, float (via ``str``, so without binary noise) and numeric strings
    (``"12.5"``, ``" 3 "``, ``"1e2"``). Raises ValueError for NaN, infinities, bools, empty or
    non-numeric strings (``"1,000"``, ``"$5"``) and other types.
    """
    number = _to_decimal(value)
    try:
        money = number.quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise ValueError(f"amount out of range: {value!r}") from None
    return money if money else _ZERO  # normalise -0.00


def is_whole_cents(value: object) -> bool:
    """True when ``value`` is a finite number with nothing below the cent (``12.30``, ``5``,
    ``0.1 + 0.2`` is False because its shortest repr has 17 decimals). Never raises."""
    try:
        number = _to_decimal(value)
    except ValueError:
        return False
    if not number:
        return True
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite, checked above
    trailing_zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return exponent + trailing_zeros >= -2


# --------------------------------------------------------------------------------------------
# Dates and times
# --------------------------------------------------------------------------------------------

_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME: Final = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)"
    r"(?P<offset>Z|[+-]\d{2}:?\d{2})?",
    re.IGNORECASE,
)


def parse_qbo_date(text: str) -> date:
    """Parse a QBO date (``TxnDate``, ``DueDate``): exactly ``YYYY-MM-DD``."""
    if not isinstance(text, str) or not _DATE.fullmatch(text.strip()):
        raise ValueError(f"not a QBO date (YYYY-MM-DD): {text!r}")
    return date.fromisoformat(text.strip())


def parse_qbo_datetime(text: str, tz: tzinfo | None = None) -> datetime:
    """Parse a QBO timestamp into an aware datetime.

    ``2020-09-29T05:58:16-07:00``, ``...16.187-07:00``, ``...16Z`` and ``...16-0700`` keep their
    own offset. A value without an offset is only accepted with ``tz`` (the zone the caller knows
    it is in, e.g. the company's); otherwise ValueError. ``tz`` never overrides an explicit offset.
    """
    match = _DATETIME.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"not a QBO timestamp (YYYY-MM-DDTHH:MM:SS±HH:MM): {text!r}")
    fraction = match["time"].partition(".")[2]
    time_part = match["time"].partition(".")[0] + (f".{fraction[:6]}" if fraction else "")
    offset = match["offset"] or ""
    if offset.upper() == "Z":
        offset = "+00:00"
    elif offset and ":" not in offset:
        offset = f"{offset[:3]}:{offset[3:]}"
    parsed = datetime.fromisoformat(f"{match['date']}T{time_part}{offset}")
    if parsed.tzinfo is None:
        if tz is None:
            raise ValueError(
                f"timestamp {text!r} has no UTC offset; pass tz= with the zone it is in"
            )
        parsed = parsed.replace(tzinfo=tz)
    return parsed


def format_qbo_date(value: date) -> str:
    """``YYYY-MM-DD``. A datetime is refused (say which day you mean: ``dt.date()``)."""
    if isinstance(value, datetime):
        raise TypeError("format_qbo_date() takes a date, not a datetime; pass value.date()")
    if not isinstance(value, date):
        raise TypeError(f"format_qbo_date() takes a date, not {type(value).__name__}")
    return value.isoformat()


def format_qbo_datetime(value: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS±HH:MM`` (no fraction; UTC is ``+00:00``). Naive values are refused."""
    if not isinstance(value, datetime):
        raise TypeError(f"format_qbo_datetime() takes a datetime, not {type(value).__name__}")
    offset = value.utcoffset()
    if offset is None:
        raise ValueError("format_qbo_datetime() needs an aware datetime (it has no UTC offset)")
    if offset % timedelta(minutes=1):
        raise ValueError(f"UTC offset {offset} is not a whole number of minutes")
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"{value.strftime('%Y-%m-%dT%H:%M:%S')}{sign}{hours:02d}:{mins:02d}"
