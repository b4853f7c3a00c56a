"""Addresses compared in canonical form: one country however it is written.

QBO returns an address's ``Country`` as an ISO 3166 alpha-3 code ("USA") since 31 Oct 2025, while
WORK, the CSV import and people write "US", "United States" or "U.S.A.". Compared as text, the two
sides of a linked customer never agree and a two-way sync ping-pongs (QBO's "USA" is written to
WORK, WORK's "US" back to QBO, ...), and the reconciliation reports differences nobody can fix.

:func:`country_code` reads any of ISO 3166-1's forms (alpha-2, alpha-3, numeric, the short, official
and common English names, case-insensitive; the data is `pycountry`'s copy of the ISO standard) and
the usual informal ones (``U.S.A.``, ``UK``, ``Great Britain``, ``Russia``, ...) as the alpha-2 code
(``"US"``). :func:`country_key`, :func:`same_country`, :func:`canonical_address` and
:func:`same_address` build the comparisons on it: text that names no country is compared as itself
(trimmed, case and inner spaces folded), never guessed, and a blank country is blank (not the
company's: a WORK address without a country and a QBO one saying "USA" differ, and the merge's
blank-side rule decides).

:func:`keep_equivalent` is what the sync applies before it compares a WORK client with a QBO
customer: where QBO's value is the same country as WORK's (or as the last synced value), the
other value is used, so an equivalent spelling is not a change on either side.

Nothing here rewrites what a person typed: WORK keeps "US", QBO keeps "USA".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, Final

import pycountry

__all__ = [
    "ADDRESS_PARTS",
    "canonical_address",
    "country_code",
    "country_key",
    "keep_equivalent",
    "same_address",
    "same_country",
]

#: The parts of an address as both sides' values dicts key them (``billing.country``, ...).
ADDRESS_PARTS: Final = ("line1", "line2", "city", "state", "postal_code", "country")

#: Informal names and codes people and systems write that ISO 3166-1 does not list, folded
#: (see :func:`_fold`) -> alpha-2.
_ALIASES: Final[Mapping[str, str]] = {
    "usa": "US", "u s": "US", "u s a": "US", "united states of america": "US", "america": "US",
    "uk": "GB", "u k": "GB", "great britain": "GB", "britain": "GB", "england": "GB", "scotland": "GB",
    "wales": "GB", "northern ireland": "GB",
    "russia": "RU", "south korea": "KR", "korea": "KR", "north korea": "KP", "iran": "IR", "syria": "SY",
    "vietnam": "VN", "laos": "LA", "bolivia": "BO", "venezuela": "VE", "tanzania": "TZ", "moldova": "MD",
    "czech republic": "CZ", "holland": "NL", "the netherlands": "NL", "ivory coast": "CI",
    "macau": "MO", "brunei": "BN", "cape verde": "CV", "swaziland": "SZ", "turkey": "TR",
    "the bahamas": "BS", "the gambia": "GM", "vatican": "VA", "vatican city": "VA", "micronesia": "FM",
    "palestine": "PS", "taiwan": "TW", "kosovo": "XK", "burma": "MM", "east timor": "TL",
    "uae": "AE", "u a e": "AE",
}
_SPACES: Final = re.compile(r"[\s.,]+")


def _fold(value: str) -> str:
    """Trimmed, case-folded, dots and commas and runs of spaces as one space (``U.S.A.`` -> ``u s a``)."""
    return _SPACES.sub(" ", value.casefold()).strip()


@lru_cache(maxsize=4096)
def country_code(value: str | None) -> str | None:
    """The ISO 3166-1 alpha-2 code of a country however it is written, or None when ``value`` is
    blank or names no country (``"USA"``, ``"us"``, ``"United States"``, ``"U.S.A."``, ``"840"``
    -> ``"US"``; ``"UK"``, ``"GBR"``, ``"United Kingdom"`` -> ``"GB"``; ``"Atlantis"`` -> None)."""
    if value is None:
        return None
    raw = str(value).strip()
    if not raw:
        return None
    folded = _fold(raw)
    alias = _ALIASES.get(folded)
    if alias is not None:
        return alias
    try:
        return str(pycountry.countries.lookup(raw).alpha_2)
    except LookupError:
        pass
    if folded != raw.casefold():
        try:
            return str(pycountry.countries.lookup(folded).alpha_2)
        except LookupError:
            pass
    return None


def country_key(value: str | None) -> str:
    """What a country compares as: its alpha-2 code, else the folded text (``""`` when blank)."""
    code = country_code(value)
    if code is not None:
        return code
    return _fold(str(value or ""))


def same_country(a: str | None, b: str | None) -> bool:
    """Whether two country values name the same country (or are the same unrecognised text)."""
    return country_key(a) == country_key(b)


def canonical_address(address: Any) -> tuple[str, ...]:
    """An address as a tuple to compare: each part trimmed and folded, the country as its code.

    ``address`` is a WORK :class:`~qbo_toolkit.work.models.Address`, a mapping with the WORK part
    names (``line1`` ... ``country``) or a QBO PhysicalAddress dict (``Line1``, ``City``,
    ``CountrySubDivisionCode``, ``PostalCode``, ``Country``; ``Line2`` to ``Line5`` joined as
    WORK's line2 is). ``Id``, ``Lat`` and ``Long`` are not part of an address's identity."""
    parts = _parts(address)
    return tuple(country_key(parts["country"]) if name == "country" else _fold(parts[name])
                 for name in ADDRESS_PARTS)


def same_address(a: Any, b: Any) -> bool:
    """Whether two addresses (any form :func:`canonical_address` reads) are the same place as written."""
    return canonical_address(a) == canonical_address(b)


def keep_equivalent(values: Mapping[str, Any], *others: Mapping[str, Any] | None,
                    keys: Iterable[str] | None = None) -> dict[str, Any]:
    """``values`` with each country key (``billing.country``, ``service.country``; or ``keys``)
    replaced by the first of ``others``' values for it that names the same country, so that a
    field-by-field comparison sees no change where there is only another spelling.

    Used on QBO's side before the three-way merge: QBO's ``"USA"`` becomes WORK's ``"US"`` (or the
    last synced value's spelling), a real change of country stays a change."""
    out = dict(values)
    wanted = list(keys) if keys is not None else [k for k in out if k == "country" or k.endswith(".country")]
    for key in wanted:
        mine = out.get(key)
        for other in others:
            if other is None or key not in other:
                continue
            theirs = other.get(key)
            if theirs != mine and _blankish(theirs) == _blankish(mine) and same_country(mine, theirs):
                out[key] = theirs
                break
    return out


def _blankish(value: Any) -> bool:
    return value is None or str(value).strip() == ""


def _parts(address: Any) -> dict[str, str]:
    if address is None:
        return dict.fromkeys(ADDRESS_PARTS, "")
    if not isinstance(address, Mapping):
        return {name: str(getattr(address, name, "") or "") for name in ADDRESS_PARTS}
    if any(k in address for k in ("Line1", "City", "Country", "CountrySubDivisionCode", "PostalCode")):
        extra = [str(address.get(k) or "").strip() for k in ("Line2", "Line3", "Line4", "Line5")]
        return {"line1": str(address.get("Line1") or ""), "line2": ", ".join(x for x in extra if x),
                "city": str(address.get("City") or ""), "state": str(address.get("CountrySubDivisionCode") or ""),
                "postal_code": str(address.get("PostalCode") or ""), "country": str(address.get("Country") or "")}
    return {name: str(address.get(name) or "") for name in ADDRESS_PARTS}
