"""The pure query builder and pager (qbo_toolkit.qbo.query)."""

from __future__ import annotations

import random
import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from qbo_toolkit.qbo.query import is_latin1, iter_pages, latin1_like_pattern, quote, select

PST = timezone(timedelta(hours=-8))


def read_literal(text: str) -> tuple[str, int]:
    """Reference reader for a QBO string literal starting at text[0]: (decoded value, end index)."""
    assert text[0] == "'"
    out: list[str] = []
    i = 1
    while i < len(text):
        char = text[i]
        if char == "\\":
            out.append(text[i + 1])
            i += 2
        elif char == "'":
            return "".join(out), i + 1
        else:
            out.append(char)
            i += 1
    raise AssertionError(f"unterminated literal: {text!r}")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("O'Brien", r"'O\'Brien'"),
        ("A & W", "'A & W'"),
        ("back\\slash", r"'back\\slash'"),
        ("“quoted”", "'“quoted”'"),
        ("O’Brien", "'O’Brien'"),  # typographic apostrophe kept unchanged
        ("‘single’", "'‘single’'"),
        ("", "''"),
        ("\\'", r"'\\\''"),  # backslash escaped first, then the quote
        ("100%", "'100%'"),
    ],
)
def test_quote(value: str, expected: str) -> None:
    assert quote(value) == expected
    assert read_literal(quote(value)) == (value, len(expected))


TRICKY = [
    "x' OR Active = false --",
    "x\\' AND Id = '1",
    "'",
    "\\",
    "\\\\'",
    "a'b'c",
    "end with backslash\\",
    "' STARTPOSITION 1 MAXRESULTS 1000 '",
    "new\nline",
    "tab\tand \x00 nul",
    "ümlaut ’ “ ” ‘",
]


def test_a_value_can_never_close_the_string_early() -> None:
    rng = random.Random(20240601)
    alphabet = "ab '\\’“%&;-\n"
    values = TRICKY + ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(3000)]
    for value in values:
        literal = quote(value)
        assert read_literal(literal) == (value, len(literal)), value
        statement = select("Customer").where("DisplayName", "=", value).page(1, 10)
        head = "SELECT * FROM Customer WHERE DisplayName = "
        assert statement.startswith(head)
        decoded, end = read_literal(statement[len(head):])
        assert decoded == value
        assert statement[len(head) + end:] == " STARTPOSITION 1 MAXRESULTS 10"


def test_statement_shapes() -> None:
    query = select("Customer").where("DisplayName", "=", "O'Brien").where("Active", "=", True)
    assert query.statement() == r"SELECT * FROM Customer WHERE DisplayName = 'O\'Brien' AND Active = true"
    assert str(query) == query.statement()
    assert select("Invoice").statement() == "SELECT * FROM Invoice"
    assert (
        select("Customer").include_inactive().order_by("Id").page(1001, 1000)
        == "SELECT * FROM Customer WHERE Active IN (true, false) ORDERBY Id STARTPOSITION 1001 MAXRESULTS 1000"
    )
    assert (
        select("Invoice").where("Balance", ">", Decimal("0")).order_by("TxnDate", desc=True).order_by("Id").statement()
        == "SELECT * FROM Invoice WHERE Balance > 0 ORDERBY TxnDate DESC, Id"
    )
    assert select("Customer").where("Active", "=", False).count() == (
        "SELECT COUNT(*) FROM Customer WHERE Active = false"
    )
    assert select("Customer").include_inactive().count() == (
        "SELECT COUNT(*) FROM Customer WHERE Active IN (true, false)"
    )


def test_builder_is_immutable() -> None:
    base = select("Customer")
    filtered = base.where("Id", "=", "1")
    assert base.statement() == "SELECT * FROM Customer"
    assert filtered.statement() == "SELECT * FROM Customer WHERE Id = '1'"


@pytest.mark.parametrize(
    ("op", "value", "rendered"),
    [
        ("=", "x", "Name = 'x'"),
        ("<", 5, "Name < 5"),
        (">", Decimal("1000.50"), "Name > 1000.50"),
        (">", Decimal("1E+3"), "Name > 1000"),
        ("<=", date(2024, 1, 31), "Name <= '2024-01-31'"),
        (">=", datetime(2024, 1, 31, 8, 0, tzinfo=PST), "Name >= '2024-01-31T08:00:00-08:00'"),
        (">=", datetime(2024, 1, 31, 8, 0, tzinfo=UTC), "Name >= '2024-01-31T08:00:00+00:00'"),
        ("in", ["1", "2", "O'B"], r"Name IN ('1', '2', 'O\'B')"),
        ("IN", (True, False), "Name IN (true, false)"),
        ("like", "Ac%", "Name LIKE 'Ac%'"),
        ("=", False, "Name = false"),
    ],
)
def test_values_by_type(op: str, value: Any, rendered: str) -> None:
    assert select("Customer").where("Name", op, value).statement() == f"SELECT * FROM Customer WHERE {rendered}"


@pytest.mark.parametrize(
    ("op", "value", "error"),
    [
        ("=", 1.5, TypeError),  # floats refused: money is Decimal
        ("=", None, TypeError),
        ("=", datetime(2024, 1, 1), ValueError),  # naive: the zone would be a guess
        ("=", Decimal("NaN"), ValueError),
        ("IN", [], ValueError),
        ("IN", "abc", TypeError),
        ("=", ["a"], TypeError),
        ("LIKE", 5, TypeError),
        ("!=", "x", ValueError),
        ("OR", "x", ValueError),
        ("= 1 OR", "x", ValueError),
    ],
)
def test_bad_values_and_operators(op: str, value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        select("Customer").where("DisplayName", op, value)


@pytest.mark.parametrize(
    "name",
    [
        "DisplayName = 'x' OR 1",
        "Name'",
        "Id--",
        "1Id",
        "",
        " Id",
        "DisplayName\n",
        "Meta..Data",
        "MetaData.",
        ".Id",
        "Name;DROP",
        "Name)",
        "Nåme",
    ],
)
def test_field_name_injection_refused(name: str) -> None:
    with pytest.raises(ValueError, match="invalid field name"):
        select("Customer").where(name, "=", "x")
    with pytest.raises(ValueError, match="invalid field name"):
        select("Customer").order_by(name)


def test_good_field_and_entity_names() -> None:
    assert "MetaData.LastUpdatedTime >" in select("Customer").where(
        "MetaData.LastUpdatedTime", ">", datetime(2024, 1, 1, tzinfo=UTC)
    ).statement()
    for entity in ("Customer FROM x", "Customer;", "", "Cust omer", "Customer\n"):
        with pytest.raises(ValueError, match="invalid entity name"):
            select(entity)


def test_include_inactive_conflicts_with_an_active_condition() -> None:
    with pytest.raises(ValueError, match="conflicts"):
        select("Customer").where("Active", "=", False).include_inactive().statement()


@pytest.mark.parametrize(("start", "size"), [(0, 10), (-1, 10), (1, 0), (1, 1001), (True, 10)])
def test_page_bounds(start: Any, size: Any) -> None:
    with pytest.raises(ValueError):
        select("Customer").page(start, size)


# ---- paging ---------------------------------------------------------------------------------

_PAGE = re.compile(r"STARTPOSITION (\d+) MAXRESULTS (\d+)$")


class FakeQbo:
    def __init__(self, rows: int) -> None:
        self.rows = [{"Id": str(i)} for i in range(1, rows + 1)]
        self.statements: list[str] = []

    def fetch(self, statement: str) -> list[dict[str, str]]:
        self.statements.append(statement)
        match = _PAGE.search(statement)
        assert match is not None
        start, size = int(match[1]), int(match[2])
        return self.rows[start - 1:start - 1 + size]


def test_iter_pages_over_2500_rows_stops_after_the_short_page() -> None:
    qbo = FakeQbo(2500)
    query = select("Customer").include_inactive().order_by("Id")
    pages = list(iter_pages(query.page, qbo.fetch))
    assert [len(p) for p in pages] == [1000, 1000, 500]
    assert [row["Id"] for page in pages for row in page] == [str(i) for i in range(1, 2501)]
    assert [s.rsplit(" STARTPOSITION", 1)[1] for s in qbo.statements] == [
        " 1 MAXRESULTS 1000", " 1001 MAXRESULTS 1000", " 2001 MAXRESULTS 1000",
    ]


@pytest.mark.parametrize(("rows", "page_size", "calls", "sizes"), [
    (2000, 1000, 3, [1000, 1000]),  # exact multiple: one extra, empty request; empty page not yielded
    (0, 1000, 1, []),
    (7, 3, 3, [3, 3, 1]),
])
def test_iter_pages_edges(rows: int, page_size: int, calls: int, sizes: list[int]) -> None:
    qbo = FakeQbo(rows)
    pages = list(iter_pages(select("Invoice").page, qbo.fetch, page_size=page_size))
    assert [len(p) for p in pages] == sizes
    assert len(qbo.statements) == calls


def test_iter_pages_is_lazy_and_checks_page_size() -> None:
    qbo = FakeQbo(2500)
    first = next(iter_pages(select("Customer").page, qbo.fetch))
    assert len(first) == 1000 and len(qbo.statements) == 1
    for bad in (0, 1001):
        with pytest.raises(ValueError):
            list(iter_pages(select("Customer").page, qbo.fetch, page_size=bad))


def test_latin1_helpers_for_names_qbo_cannot_query_directly() -> None:
    assert is_latin1("O'Brien & Søn")
    assert not is_latin1("O’Brien")
    assert latin1_like_pattern("O’Brien") == "O%Brien"
    assert latin1_like_pattern("“quoted” – ok") == "%quoted% % ok"
    assert latin1_like_pattern("a’’’b") == "a%b"  # a run becomes one wildcard
    assert latin1_like_pattern("plain") == "plain"
    pattern = latin1_like_pattern("Dépôt ’n’ Co")
    assert is_latin1(pattern)
    assert select("Customer").where("DisplayName", "LIKE", pattern).statement() == (
        "SELECT * FROM Customer WHERE DisplayName LIKE 'Dépôt %n% Co'"
    )
