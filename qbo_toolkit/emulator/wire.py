"""Plain request and response values passed between the HTTP server and the handlers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # keys lower-cased
    body: bytes = b""

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering (fault injection)

    @classmethod
    def json(cls, status: int, obj: Any, headers: dict[str, str] | None = None) -> Response:
        h = {"Content-Type": "application/json;charset=utf-8"}
        h.update(headers or {})
        return cls(status, json.dumps(qbo_numbers(obj), default=_json_default).encode("utf-8"), h)

    @classmethod
    def html(cls, status: int, text: str) -> Response:
        return cls(status, text.encode("utf-8"), {"Content-Type": "text/html; charset=utf-8"})

    @classmethod
    def redirect(cls, location: str) -> Response:
        return cls(302, b"", {"Location": location})


def _json_default(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, Decimal):
        # QBO prints money as JSON numbers (100.0, 337.5). A float's repr is the shortest string that
        # round-trips, so amounts of up to 15 significant digits keep their exact decimal digits.
        return float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


#: numbers QBO prints as they are (a whole one without ".0"): quantities, prices and rates. Every other
#: amount (Amount, TotalAmt, Balance, ...) prints as a double (300.0, 337.5), except zero, which QBO
#: prints as 0 (the recorded replies: "Balance": 0, "TotalTax": 0, "UnitPrice": 75, "Qty": 4, "Amount":
#: 300.0, "TaxPercent": 8).
PLAIN_NUMBERS = frozenset({"UnitPrice", "Qty", "TaxPercent", "RateValue", "DiscountPercent", "Rate", "Hours",
                           "Minutes", "Seconds", "BreakHours", "BreakMinutes", "DueDays", "DiscountDays",
                           "DayOfMonthDue", "DueNextMonthDays", "DiscountDayOfMonth", "Size", "QtyOnHand",
                           "LineNum", "TaxOrder", "Level"})


def qbo_numbers(value: Any) -> Any:
    """``value`` with every Decimal as QBO prints it: see :data:`PLAIN_NUMBERS`.

    Written for speed (every reply goes through it): with no Decimal left, ``json.dumps`` stays on its
    fast path, so a reply costs less than with a ``default`` hook per number.
    """
    kind = type(value)
    if kind is dict:
        return _numbers_in(value)
    if kind is list:
        return _numbers_list(value, False)
    if kind is Decimal:
        return _number(value, False)
    return value


def _number(value: Decimal, plain: bool) -> int | float:
    if value == 0:
        return 0
    if plain and value == value.to_integral_value():
        return int(value)
    return float(value)


def _numbers_in(obj: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in obj.items():
        kind = type(item)
        if kind is Decimal:
            out[key] = _number(item, key in PLAIN_NUMBERS)
        elif kind is dict:
            out[key] = _numbers_in(item)
        elif kind is list:
            out[key] = _numbers_list(item, key in PLAIN_NUMBERS)
        else:
            out[key] = item
    return out


def _numbers_list(items: list[Any], plain: bool) -> list[Any]:
    out: list[Any] = []
    for item in items:
        kind = type(item)
        if kind is dict:
            out.append(_numbers_in(item))
        elif kind is Decimal:
            out.append(_number(item, plain))
        elif kind is list:
            out.append(_numbers_list(item, plain))
        else:
            out.append(item)
    return out
