"""Names, e-mail addresses and phone numbers: normalised for matching, checked against QBO's rules.

Matching keys are deliberately forgiving (``normalise_name("O’Brien & Sons, Inc.")`` equals
``normalise_name("OBrien and Sons Inc")``); what is *sent* to QBO is never normalised, only checked
(:func:`check_display_name`): QBO refuses a DisplayName that is empty, contains ``:``, a tab or a
new line, or is longer than 500 characters, and DisplayName is unique across Customer, Vendor and
Employee ignoring case (:func:`suffixed_name` makes an alternative). A name holding any other
control character (a NUL, an escape, ...) is never sent either, whatever QBO would make of it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, Literal

from ..control_chars import control_problem

__all__ = [
    "DISPLAY_NAME_MAX",
    "NameProblem",
    "check_display_name",
    "client_ids_named",
    "name_clients",
    "normalise_email",
    "normalise_name",
    "normalise_phone",
    "suffixed_name",
]

#: QBO's limit for Customer/Vendor/Employee ``DisplayName``.
DISPLAY_NAME_MAX: Final = 500

# Typographic quotes, apostrophes and primes mapped to ASCII before punctuation is handled.
_QUOTES: Final = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'",
        "`": "'", "\u02bc": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
    }
)
# Characters dropped without a trace ("O'Brien" = "OBrien", "J.P." = "JP"); other punctuation
# and symbols become a space ("Smith-Jones" = "Smith Jones").
_DROPPED: Final = frozenset("'.")
_AMPERSAND: Final = re.compile(r"\s*&\s*")
_SPACES: Final = re.compile(r"\s+")
_BAD_NAME_CHARS: Final = re.compile(r"[:\t\n\r]")
_EXTENSION: Final = re.compile(r"(?i)\s*(?:x|ext\.?|extension|#)\s*\d+\s*$")


def normalise_name(name: str) -> str:
    """The matching key of a person's or company's name.

    NFKC, typographic quotes to ASCII, case folded, accents removed, ``&`` read as ``and``,
    apostrophes and full stops dropped, other punctuation and symbols turned into spaces,
    whitespace collapsed. ``"  Cool-Cars & Co. "`` and ``"cool cars and co"`` give the same key.
    """
    text = unicodedata.normalize("NFKC", (name or "").translate(_QUOTES)).translate(_QUOTES).casefold()
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    text = _AMPERSAND.sub(" and ", text)
    kept: list[str] = []
    for ch in text:
        if ch in _DROPPED:
            continue
        category = unicodedata.category(ch)
        kept.append(" " if category[0] in "PSZC" else ch)
    return _SPACES.sub(" ", "".join(kept)).strip()


def normalise_email(email: str) -> str:
    """The matching key of an e-mail address: trimmed, NFKC and case folded (``""`` if blank)."""
    return unicodedata.normalize("NFKC", email or "").strip().casefold()


def normalise_phone(phone: str) -> str:
    """The matching key of a phone number: its digits only, without an extension (``x12``,
    ``ext. 12``) and without the US country code when there are 11 digits starting with 1.
    ``"+1 (520) 420-5638"`` and ``"520.420.5638"`` give ``"5204205638"``."""
    text = _EXTENSION.sub("", unicodedata.normalize("NFKC", phone or ""))
    digits = "".join(ch for ch in text if "0" <= ch <= "9")
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    return digits


NameProblemKind = Literal["empty", "whitespace", "character", "length"]


@dataclass(frozen=True)
class NameProblem:
    """Why QBO would refuse a name: the QBO ``field``, a ``kind`` and a sentence for people."""

    field: str
    kind: NameProblemKind
    message: str


def check_display_name(name: str, *, field: str = "DisplayName") -> NameProblem | None:
    """The first reason QBO would refuse ``name`` as a DisplayName, or None if it is acceptable.

    Checked in this order: empty (or only whitespace), leading or trailing whitespace, a colon,
    tab or new line (QBO uses ``:`` to separate parent and sub-customer), any other control
    character (C0 or DEL: :mod:`qbo_toolkit.control_chars`), more than 500 characters. Uniqueness
    needs the company's names and is not checked here.
    """
    if not name or not name.strip():
        return NameProblem(field, "empty", f"{field} is empty; QBO needs a name")
    if name != name.strip():
        return NameProblem(field, "whitespace", f"{field} {name!r} starts or ends with whitespace")
    bad = _BAD_NAME_CHARS.search(name)
    if bad is not None:
        what = {":": "a colon (:)", "\t": "a tab", "\n": "a new line", "\r": "a new line"}[bad.group()]
        return NameProblem(field, "character", f"{field} {name!r} contains {what}, which QBO does not allow")
    control = control_problem(name)
    if control is not None:
        return NameProblem(field, "character", f"{field} {name!r} {control}")
    if len(name) > DISPLAY_NAME_MAX:
        return NameProblem(
            field,
            "length",
            f"{field} has {len(name)} characters; QBO allows at most {DISPLAY_NAME_MAX}",
        )
    return None


def suffixed_name(name: str, n: int, *, limit: int = DISPLAY_NAME_MAX) -> str:
    """``name`` with `` (n)`` appended, e.g. ``"Cool Cars (2)"``, shortened if needed so the result
    has at most ``limit`` characters (the suffix is always kept whole)."""
    if n < 1:
        raise ValueError(f"suffix number must be at least 1, not {n}")
    suffix = f" ({n})"
    if len(suffix) >= limit:
        raise ValueError(f"limit {limit} is too small for the suffix {suffix!r}")
    base = name.strip()[: limit - len(suffix)].rstrip()
    return f"{base}{suffix}"


_CLIENT_MENTION = re.compile(r"\b([Cc]lient) (\d+)( \(([^()]*)\))?")


def name_clients(message: str, name_of: Callable[[int], str | None]) -> str:
    """``"its client 9"`` as ``"its client Bill's Windsurf Shop"``: clients by their WORK name, not an
    internal id (``"client 9 (Bill's Windsurf Shop)"`` too). An id WORK does not know stays as it is.
    The activity log keeps ids (stable across renames); what a person reads goes through this."""
    def named(match: re.Match[str]) -> str:
        name = name_of(int(match.group(2)))
        if not name:
            return match.group(0)
        if match.group(3) and match.group(4) == name:
            return f"{match.group(1)} {name}"
        return f"{match.group(1)} {name}{match.group(3) or ''}"

    return _CLIENT_MENTION.sub(named, message)


def client_ids_named(messages: Iterable[str]) -> set[int]:
    """The client ids :func:`name_clients` would look up in ``messages``."""
    return {int(m.group(2)) for text in messages for m in _CLIENT_MENTION.finditer(text)}
