r"""A pure builder for QBO query statements, and a generic pager.

``select("Customer").where("DisplayName", "=", "O'Brien").include_inactive().page(1, 1000)`` is::

    SELECT * FROM Customer WHERE DisplayName = 'O\'Brien' AND Active IN (true, false)
        STARTPOSITION 1 MAXRESULTS 1000

(on one line).

Safety rules:

* **Values** are rendered by type, never pasted: strings through :func:`quote`; bools as
  ``true``/``false``; int and Decimal bare (Decimal in plain notation, never ``1E+2``); dates and
  aware datetimes as quoted ISO text. Floats are refused (money is Decimal), as are naive
  datetimes (the zone would be a guess) and ``None``.
* **Field and entity names** must match ``[A-Za-z][A-Za-z0-9]*`` segments joined by single dots
  (``MetaData.LastUpdatedTime``), checked with ``fullmatch`` so a trailing newline cannot slip
  through. A name can therefore never carry a quote, space, operator or keyword.

Quoting (:func:`quote`): the QBO grammar uses ``\`` to escape a quote inside ``'...'``. We escape
the backslash first (``\`` -> ``\\``), then the single quote (``'`` -> ``\'``), so every ``'``
in the output body is preceded by an odd number of backslashes and cannot end the literal early.
Typographic quotes (‘ ’ “ ”) are different code points from ``'`` and need no escaping: they are
kept as they are (``O’Brien`` stays ``'O’Brien'``), because QBO stores and compares the name
with the character the user typed; turning ’ into ' would look for a different customer.
``%`` has no escape in QBO's LIKE: it is always a wildcard.

Caveat: QBO's query lexer rejects characters above U+00FF inside a literal (code 4000 "Lexical
error ... Encountered: "\u2019"", seen for ’ and –; the emulator does the same), and
python-quickbooks sends query bodies as ISO-8859-1. So ``DisplayName = 'O’Brien'`` is well-formed
but QBO refuses it. To find such a row, query with ``LIKE`` :func:`latin1_like_pattern` (every run of
non-Latin-1 characters becomes ``%``) and keep only exact matches client-side; :func:`is_latin1`
says when that is needed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Final, Literal, TypeAlias, TypeVar, cast

from qbo_toolkit.types import format_qbo_date, format_qbo_datetime

__all__ = [
    "MAX_PAGE_SIZE",
    "OPERATORS",
    "Condition",
    "Select",
    "is_latin1",
    "iter_pages",
    "latin1_like_pattern",
    "quote",
    "render_value",
    "select",
    "validate_name",
]

T = TypeVar("T")

Operator: TypeAlias = Literal["=", "<", ">", "<=", ">=", "IN", "LIKE"]
OPERATORS: Final[frozenset[str]] = frozenset({"=", "<", ">", "<=", ">=", "IN", "LIKE"})
Scalar: TypeAlias = str | bool | int | Decimal | date | datetime
Value: TypeAlias = Scalar | Sequence[Scalar]

#: QBO returns at most 1000 rows per query.
MAX_PAGE_SIZE: Final = 1000

_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)*")
_ENTITY: Final = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def validate_name(name: str, *, entity: bool = False) -> str:
    """Return ``name`` if it is a safe field (or, with ``entity=True``, entity) name; else ValueError."""
    pattern = _ENTITY if entity else _NAME
    if not isinstance(name, str) or pattern.fullmatch(name) is None:
        rule = "letters and digits" if entity else "letters and digits, segments joined by single dots"
        raise ValueError(f"invalid {'entity' if entity else 'field'} name {name!r}: {rule}")
    return name


def quote(value: str) -> str:
    """``value`` as a QBO string literal: backslash escaped first, then the single quote.

    ``quote("O'Brien") == "'O\\\\'Brien'"``; ``quote("O’Brien") == "'O’Brien'"`` (typographic quotes
    are kept unchanged, see the module docstring).
    """
    if not isinstance(value, str):
        raise TypeError(f"quote() takes a str, not {type(value).__name__}")
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def is_latin1(value: str) -> bool:
    """True when every character of ``value`` can go into a QBO query literal (U+0000..U+00FF)."""
    return all(ord(char) <= 0xFF for char in value)


_NON_LATIN1_RUN: Final = re.compile(r"[^\x00-\xff]+")


def latin1_like_pattern(value: str) -> str:
    """A LIKE pattern QBO accepts that matches at least every row equal to ``value``: each run of
    characters above U+00FF becomes ``%``. Compare the rows returned exactly before using them
    (``%`` already in ``value`` is a wildcard too, which only widens the match)."""
    return _NON_LATIN1_RUN.sub("%", value)


def render_value(value: Scalar) -> str:
    """One scalar as query text (see the module docstring for the rules)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot query with a non-finite Decimal: {value}")
        return format(value, "f")
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError("cannot query with a naive datetime; give it a tzinfo")
        return quote(format_qbo_datetime(value))
    if isinstance(value, date):
        return quote(format_qbo_date(value))
    if isinstance(value, float):
        raise TypeError("cannot query with a float; use Decimal (money) or int")
    raise TypeError(f"cannot query with a {type(value).__name__} value")


@dataclass(frozen=True, slots=True)
class Condition:
    """``field op value``, rendered safely by :meth:`render`."""

    field: str
    op: Operator
    value: Value

    def render(self) -> str:
        if self.op == "IN":
            if isinstance(self.value, str | bytes) or not isinstance(self.value, Sequence):
                raise TypeError(f"IN needs a list of values for {self.field}, not {self.value!r}")
            if not self.value:
                raise ValueError(f"IN needs at least one value for {self.field}")
            return f"{self.field} IN ({', '.join(render_value(v) for v in self.value)})"
        if isinstance(self.value, Sequence) and not isinstance(self.value, str):
            raise TypeError(f"{self.op} takes one value for {self.field}; use IN for a list")
        if self.op == "LIKE" and not isinstance(self.value, str):
            raise TypeError(f"LIKE needs a string pattern for {self.field}")
        return f"{self.field} {self.op} {render_value(self.value)}"


@dataclass(frozen=True, slots=True)
class Select:
    """An immutable ``SELECT`` over one entity. Every method returns a new :class:`Select`, except
    :meth:`statement`, :meth:`page` and :meth:`count`, which return the statement text."""

    entity: str
    conditions: tuple[Condition, ...] = ()
    order: tuple[tuple[str, bool], ...] = ()
    inactive: bool = False

    def __post_init__(self) -> None:
        validate_name(self.entity, entity=True)

    def where(self, field_name: str, op: str, value: Value) -> Select:
        """Add ``field op value`` (joined with AND; QBO has no OR)."""
        validate_name(field_name)
        norm = op.strip().upper()
        if norm not in OPERATORS:
            raise ValueError(f"unsupported operator {op!r}; use one of {sorted(OPERATORS)}")
        condition = Condition(field_name, cast(Operator, norm), value)
        condition.render()  # fail here, where the bad value was given, not at paging time
        return replace(self, conditions=(*self.conditions, condition))

    def include_inactive(self) -> Select:
        """Also return inactive rows of name-list entities (adds ``Active IN (true, false)``)."""
        return replace(self, inactive=True)

    def order_by(self, field_name: str, desc: bool = False) -> Select:
        """Sort by ``field_name`` (call again for a secondary key)."""
        validate_name(field_name)
        return replace(self, order=(*self.order, (field_name, desc)))

    def _where_clause(self) -> str:
        conditions = [c.render() for c in self.conditions]
        if self.inactive:
            if any(c.field.lower() == "active" for c in self.conditions):
                raise ValueError("include_inactive() conflicts with a condition on Active")
            conditions.append("Active IN (true, false)")
        return f" WHERE {' AND '.join(conditions)}" if conditions else ""

    def statement(self) -> str:
        """``SELECT * FROM <Entity> [WHERE ...] [ORDERBY ...]`` (no paging: QBO returns <= 100)."""
        text = f"SELECT * FROM {self.entity}{self._where_clause()}"
        if self.order:
            keys = ", ".join(f"{name} DESC" if desc else name for name, desc in self.order)
            text += f" ORDERBY {keys}"
        return text

    def page(self, start: int, max_results: int = MAX_PAGE_SIZE) -> str:
        """The statement for one page: ``... STARTPOSITION start MAXRESULTS max_results`` (1-based).

        Usable directly as :func:`iter_pages`' ``build``. Order by a stable key (``Id``) when paging
        a set that may change between pages.
        """
        if isinstance(start, bool) or not isinstance(start, int) or start < 1:
            raise ValueError(f"STARTPOSITION is 1-based, got {start!r}")
        if isinstance(max_results, bool) or not isinstance(max_results, int):
            raise ValueError(f"MAXRESULTS must be an int, got {max_results!r}")
        if not 1 <= max_results <= MAX_PAGE_SIZE:
            raise ValueError(f"MAXRESULTS must be 1..{MAX_PAGE_SIZE}, got {max_results}")
        return f"{self.statement()} STARTPOSITION {start} MAXRESULTS {max_results}"

    def count(self) -> str:
        """``SELECT COUNT(*) FROM <Entity> [WHERE ...]`` (read ``QueryResponse.totalCount``)."""
        return f"SELECT COUNT(*) FROM {self.entity}{self._where_clause()}"

    def __str__(self) -> str:
        return self.statement()


def select(entity: str) -> Select:
    """Start a query over ``entity`` (``"Customer"``, ``"Invoice"``, ...)."""
    return Select(entity)


def iter_pages(
    build: Callable[[int, int], str],
    fetch: Callable[[str], list[T]],
    page_size: int = MAX_PAGE_SIZE,
) -> Iterator[list[T]]:
    """Yield pages of rows until a short (or empty) page says the set is exhausted.

    ``build(start, page_size)`` makes the statement (e.g. ``select("Customer").page``) and
    ``fetch(statement)`` runs it. Empty pages are not yielded. The next STARTPOSITION advances by
    the number of rows actually received.
    """
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {page_size!r}")
    start = 1
    while True:
        rows = fetch(build(start, page_size))
        if rows:
            yield rows
        if len(rows) < page_size:
            return
        start += len(rows)
