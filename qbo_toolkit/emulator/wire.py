"""Plain request and response values passed between the HTTP server and the handlers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
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


def qbo_numbers(value: Any, key: str = "") -> Any:
    """``value`` with every Decimal as QBO prints it: see :data:`PLAIN_NUMBERS`."""
    from decimal import Decimal

    if isinstance(value, dict):
        return {k: qbo_numbers(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [qbo_numbers(v, key) for v in value]
    if isinstance(value, Decimal):
        if value == 0:
            return 0
        if key in PLAIN_NUMBERS and value == value.to_integral_value():
            return int(value)
        return float(value)
    return value
