"""Small helpers shared by the converters: reading QBO dicts, money text, fingerprints."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from qbo_toolkit.types import to_money

__all__ = ["changed_fields", "fingerprint", "get_path", "money_text", "number_text", "ref_value", "text"]

_FINGERPRINT_VERSION: Final = "1"


def text(value: object) -> str:
    """A QBO or WORK string value, trimmed; None, ``""`` and non-strings other than numbers are ``""``.
    (python-quickbooks' ``to_dict()`` fills unset fields with ``""`` or None: both mean absent.)"""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float | Decimal):
        return str(value)
    return ""


def get_path(obj: Mapping[str, Any], *path: str) -> Any:
    """``obj[a][b]...`` or None when any step is missing or not a mapping."""
    current: Any = obj
    for key in path:
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def ref_value(obj: Mapping[str, Any], key: str) -> str:
    """The id in a reference (``{"value": "42", "name": ...}``), ``""`` when absent."""
    ref = obj.get(key)
    if isinstance(ref, Mapping):
        return text(ref.get("value"))
    return text(ref)


def money_text(value: object) -> str:
    """An amount as text to the cent (``"12.50"``); ``""`` when absent or not a number."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str) or value == "":
        return ""
    try:
        return str(to_money(value))
    except ValueError:
        return ""


def number_text(value: object) -> str:
    """A quantity or unit price as plain text without trailing zeros (``2.500`` -> ``"2.5"``)."""
    if value is None or value == "" or isinstance(value, bool):
        return ""
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return ""
    if not number.is_finite():
        return ""
    if number == 0:
        return "0"
    return format(number.normalize(), "f")


def fingerprint(values: Mapping[str, Any]) -> str:
    """A stable hash (SHA-256, hex) of a values dict: the same values give the same text in every
    process and Python version; any change of any value, or of the set of keys, changes it.
    Values must be JSON-like (str, bool, None, int, Decimal, lists/tuples of those)."""
    payload = json.dumps(
        {"v": _FINGERPRINT_VERSION, "values": values},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=_json_default,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot fingerprint a {type(value).__name__}")


def changed_fields(old: Mapping[str, Any], new: Mapping[str, Any], *, keys: Sequence[str] | None = None) -> list[str]:
    """The keys whose values differ between two values dicts (a key missing on one side differs),
    in the order of ``keys`` (default: ``old``'s keys, then keys only in ``new``)."""
    order = list(keys) if keys is not None else [*old, *(k for k in new if k not in old)]
    return [key for key in order if key not in old or key not in new or old[key] != new[key]]
