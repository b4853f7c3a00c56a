"""Money, QBO dates and times (qbo_toolkit.types)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from qbo_toolkit.types import (
    QboId,
    RealmId,
    WorkId,
    format_qbo_date,
    format_qbo_datetime,
    is_whole_cents,
    parse_qbo_date,
    parse_qbo_datetime,
    to_money,
)

PDT = timezone(timedelta(hours=-7))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.1 + 0.2, "0.30"),  # 0.30000000000000004: noise refused
        (2.675, "2.68"),  # Decimal(2.675) is 2.67499999...; str() gives what was meant
        (1.005, "1.01"),
        (0.125, "0.13"),  # half-up, not banker's
        (-0.125, "-0.13"),
        (-0.001, "0.00"),  # no -0.00
        (100, "100.00"),
        (Decimal("12.345"), "12.35"),
        (Decimal("629.1"), "629.10"),
        ("  19.999 ", "20.00"),
        ("1e2", "100.00"),
        (1e16, "10000000000000000.00"),
    ],
)
def test_to_money(value: Any, expected: str) -> None:
    result = to_money(value)
    assert isinstance(result, Decimal)
    assert str(result) == expected


def test_to_money_float_noise_sum() -> None:
    total = sum(to_money(0.1) for _ in range(10))
    assert total == Decimal("1.00")
    assert to_money(0.1 + 0.2) == to_money("0.3")


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), float("-inf"), Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"),
     "NaN", "inf", "", "abc", "1,000.00", "$5", True, None, [1], Decimal("1e40")],
)
def test_to_money_refuses(value: Any) -> None:
    with pytest.raises(ValueError):
        to_money(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("12.30"), True),
        (Decimal("12.300000"), True),
        (Decimal("12.301"), False),
        (5, True),
        (0.3, True),
        (0.1 + 0.2, False),
        ("7.5", True),
        (Decimal("0E-9"), True),
        (Decimal("1E+30"), True),
        (float("nan"), False),
        ("x", False),
        (None, False),
        (True, False),
    ],
)
def test_is_whole_cents(value: Any, expected: bool) -> None:
    assert is_whole_cents(value) is expected


def test_parse_qbo_date() -> None:
    assert parse_qbo_date("2020-09-29") == date(2020, 9, 29)
    for bad in ("20200929", "2020-9-29", "2020-09-29T00:00:00", "2020-02-30", "", "yesterday"):
        with pytest.raises(ValueError):
            parse_qbo_date(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-09-29T05:58:16-07:00", datetime(2020, 9, 29, 5, 58, 16, tzinfo=PDT)),
        ("2020-09-29T05:58:16.187-07:00", datetime(2020, 9, 29, 5, 58, 16, 187000, tzinfo=PDT)),
        ("2020-09-29T12:58:16Z", datetime(2020, 9, 29, 12, 58, 16, tzinfo=UTC)),
        ("2015-10-05T14:42:19-0700", datetime(2015, 10, 5, 14, 42, 19, tzinfo=PDT)),  # webhook form
        ("2025-09-10T21:31:25.179851517Z", datetime(2025, 9, 10, 21, 31, 25, 179851, tzinfo=UTC)),
    ],
)
def test_parse_qbo_datetime(text: str, expected: datetime) -> None:
    parsed = parse_qbo_datetime(text)
    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()


def test_naive_datetime_needs_an_explicit_zone() -> None:
    with pytest.raises(ValueError, match="no UTC offset"):
        parse_qbo_datetime("2024-01-01T00:00:00")
    la = ZoneInfo("America/Los_Angeles")
    parsed = parse_qbo_datetime("2024-01-01T00:00:00", tz=la)
    assert parsed.tzinfo is la
    # tz never overrides an explicit offset
    assert parse_qbo_datetime("2024-01-01T00:00:00+02:00", tz=la).utcoffset() == timedelta(hours=2)


@pytest.mark.parametrize("bad", ["2020-09-29", "not a time", "2020-09-29T25:00:00Z", "2020-09-29T05:58:16+7"])
def test_parse_qbo_datetime_refuses(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_qbo_datetime(bad)


def test_format_dates() -> None:
    assert format_qbo_date(date(2020, 9, 29)) == "2020-09-29"
    with pytest.raises(TypeError):
        format_qbo_date(datetime(2020, 9, 29, tzinfo=UTC))
    assert format_qbo_datetime(datetime(2020, 9, 29, 5, 58, 16, 999, tzinfo=PDT)) == "2020-09-29T05:58:16-07:00"
    assert format_qbo_datetime(datetime(2020, 9, 29, 5, 58, 16, tzinfo=UTC)) == "2020-09-29T05:58:16+00:00"
    india = timezone(timedelta(hours=5, minutes=30))
    assert format_qbo_datetime(datetime(2020, 1, 2, 3, 4, 5, tzinfo=india)) == "2020-01-02T03:04:05+05:30"
    with pytest.raises(ValueError):
        format_qbo_datetime(datetime(2020, 9, 29, 5, 58, 16))


def test_datetime_round_trip() -> None:
    for text in ("2020-09-29T05:58:16-07:00", "2021-03-01T00:00:00+00:00", "2021-03-01T23:59:59+05:45"):
        assert format_qbo_datetime(parse_qbo_datetime(text)) == text


def test_id_types_are_plain_values_at_runtime() -> None:
    assert QboId("42") == "42"
    assert WorkId(7) == 7
    assert RealmId("9130350000000000") == "9130350000000000"
