"""Money inside the reconciliation: whole cents in ``int64``, never a float on the way.

Why cents: both sides keep money to the cent (WORK stores it so, QBO prints it so), an ``int64``
column compares and sums exactly and at numpy speed (a million rows in milliseconds), and it merges
and groups without the object dtype a ``Decimal`` column would need. ``9.2e16`` cents is far above
any invoice.

Conversions happen once, at the edges: :func:`to_cents` when records come in (from ``Decimal``,
``int``, numeric ``str``, or a ``float`` through its shortest ``repr``, as
:func:`qbo_toolkit.types.to_money` reads it), :func:`format_cents` / :func:`cents_to_decimal` when
results go out. An amount with a fraction of a cent is refused, never rounded: neither side can
hold one, so seeing one means the input is wrong, and rounding would hide it.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Final

import numpy as np
import pandas as pd

__all__ = ["cents_array", "cents_to_decimal", "format_cents", "to_cents", "tolerance_cents"]

_HUNDRED: Final = Decimal(100)


def to_cents(value: object) -> int:
    """``value`` (an amount in currency units) as a whole number of cents, exactly.

    ``Decimal("12.30")``, ``"12.3"``, ``12.3`` (a float, read through ``str``) and ``12`` give
    1230 / 1230 / 1230 / 1200. ``None`` and ``""`` are 0 (QBO leaves zero amounts out). Raises
    ValueError for fractions of a cent (``"0.001"``), NaN, infinities, bools and non-numbers.
    """
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise ValueError(f"not a money amount: {value!r}")
    if isinstance(value, int):
        return value * 100
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, float | str):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"not a money amount: {value!r}") from None
    else:
        raise ValueError(f"not a money amount: {value!r} ({type(value).__name__})")
    if not number.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    scaled = number * _HUNDRED
    whole = scaled.to_integral_value()
    if scaled != whole:
        raise ValueError(f"{value!r} has a fraction of a cent; money is compared in whole cents")
    return int(whole)


def cents_array(values: Iterable[object]) -> np.ndarray:
    """:func:`to_cents` over ``values``, as an ``int64`` array."""
    return np.fromiter((to_cents(v) for v in values), dtype=np.int64)


def cents_to_decimal(cents: int) -> Decimal:
    """``1234`` -> ``Decimal("12.34")`` (always two places)."""
    return Decimal(int(cents)).scaleb(-2)


def tolerance_cents(tolerance: Decimal | int | str) -> int:
    """The largest whole number of cents that a tolerance lets through.

    A difference *d* (in cents) counts when ``|d| > tolerance × 100``; as *d* is whole, that is
    ``|d| > floor(tolerance × 100)``. ``Decimal("0")`` (the default) lets nothing through,
    ``Decimal("0.01")`` one cent, ``Decimal("0.005")`` nothing. Negative values are refused.
    """
    number = tolerance if isinstance(tolerance, Decimal) else Decimal(str(tolerance))
    if not number.is_finite() or number < 0:
        raise ValueError(f"tolerance must be a finite amount of zero or more, not {tolerance!r}")
    return int((number * _HUNDRED).to_integral_value(rounding="ROUND_FLOOR"))


def format_cents(values: pd.Series | np.ndarray, *, grouping: bool = False) -> pd.Series:
    """Cents as text with two places, vectorised: ``-123456`` -> ``"-1234.56"`` (``"-1,234.56"`` with
    ``grouping``). Missing values (``<NA>`` in an ``Int64`` column) become ``""``."""
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if not len(series):
        return pd.Series([], index=series.index, dtype="str")
    missing = series.isna().to_numpy()
    amounts = series.to_numpy(dtype=np.int64, na_value=0)
    negative = amounts < 0
    magnitude = np.abs(amounts)
    units = magnitude // 100
    if grouping:
        unit_text = pd.Series(units).map("{:,}".format).to_numpy(dtype=object)
    else:
        unit_text = units.astype(str).astype(object)
    fraction = np.char.zfill((magnitude % 100).astype(str), 2).astype(object)
    text = np.where(negative, "-", "").astype(object) + unit_text + "." + fraction
    text[missing] = ""
    return pd.Series(text, index=series.index, dtype="str")
