"""Unit tests for the emulator's query language (qbo_toolkit.emulator.qsql)."""

from __future__ import annotations

import copy
import time
from decimal import Decimal
from typing import Any

import pytest

from qbo_toolkit.emulator.faults import EmuFault
from qbo_toolkit.emulator.qsql import DEFAULT_SPECS, Condition, EntitySpec, Query, execute, parse

CUSTOMER = DEFAULT_SPECS["Customer"]


def customer(id_: int, name: str, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "Id": str(id_),
        "SyncToken": "0",
        "DisplayName": name,
        "Active": True,
        "Balance": 0,
        "MetaData": {"CreateTime": "2015-01-01T10:00:00-08:00", "LastUpdatedTime": "2015-01-01T10:00:00-08:00"},
    }
    doc.update(extra)
    return doc


@pytest.fixture
def customers() -> list[dict[str, Any]]:
    return [
        customer(1, "Amy's Bird Sanctuary", Balance=239.0, GivenName="Amy"),
        customer(2, "O'Brien & Co", Balance=Decimal("300.00")),
        customer(3, "back\\slash", Balance=300.5),
        customer(4, "Old Customer", Active=False, Balance=12),
        customer(5, "Cool Cars", Balance=2369.52,
                 MetaData={"CreateTime": "2015-03-01T00:00:00-08:00",
                           "LastUpdatedTime": "2015-03-01T09:30:00-08:00"}),
        customer(9, "Zed", Balance=5),
        customer(10, "bob's plumbing", Balance=0),
        {"Id": "11", "DisplayName": "No Active Flag", "Balance": 1.25},  # lacks Active: counts as active
        customer(12, "Café Élan", Balance=7),
    ]


def ids(reply: dict[str, Any], entity: str = "Customer") -> list[str]:
    return [doc["Id"] for doc in reply.get(entity, [])]


def run(statement: str, docs: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
    query = parse(statement, DEFAULT_SPECS, **kwargs)
    return execute(query, docs, DEFAULT_SPECS[query.entity])


def fault(statement: str, **kwargs: Any) -> EmuFault:
    with pytest.raises(EmuFault) as caught:
        parse(statement, DEFAULT_SPECS, **kwargs)
    error = caught.value
    assert error.status == 400
    assert error.ftype == "ValidationFault"
    return error


# --- statements python-quickbooks generates ------------------------------------------------------------


def test_all_with_maxresults(customers: list[dict[str, Any]]) -> None:
    query = parse("SELECT * FROM Customer MAXRESULTS 100", DEFAULT_SPECS)
    assert query == Query("Customer", False, (), (), 1, 100)
    reply = execute(query, customers, CUSTOMER)
    assert ids(reply) == ["1", "2", "3", "5", "9", "10", "11", "12"]  # numeric Id order, active only
    assert reply["startPosition"] == 1
    assert reply["maxResults"] == 8
    assert list(reply) == ["Customer", "startPosition", "maxResults"]


def test_filter_with_escaped_quote_and_capitalised_true(customers: list[dict[str, Any]]) -> None:
    statement = "SELECT * FROM Customer WHERE DisplayName = 'O\\'Brien & Co' AND Active = True"
    query = parse(statement, DEFAULT_SPECS)
    assert query.conditions == (
        Condition("DisplayName", "=", ("O'Brien & Co",)),
        Condition("Active", "=", (True,)),
    )
    assert ids(execute(query, customers, CUSTOMER)) == ["2"]


def test_choose_ids(customers: list[dict[str, Any]]) -> None:
    assert ids(run("SELECT * FROM Customer WHERE Id in ('1', '2')", customers)) == ["1", "2"]
    assert ids(run("SELECT * FROM Customer WHERE Id IN (10, '9', '0012')", customers)) == ["9", "10", "12"]


def test_count(customers: list[dict[str, Any]]) -> None:
    assert run("SELECT COUNT(*) FROM Customer WHERE Active = true", customers) == {"totalCount": 8}
    assert run("select count( * ) from customer", customers) == {"totalCount": 8}
    assert run("SELECT COUNT(*) FROM Customer WHERE Active = false", customers) == {"totalCount": 1}
    assert run("SELECT COUNT(*) FROM Customer WHERE DisplayName = 'nobody'", customers) == {"totalCount": 0}
    # COUNT ignores paging
    assert run("SELECT COUNT(*) FROM Customer STARTPOSITION 5 MAXRESULTS 1", customers) == {"totalCount": 8}


def test_where_orderby_startposition_maxresults(customers: list[dict[str, Any]]) -> None:
    statement = ("SELECT * FROM Customer WHERE Balance >= '0' ORDERBY DisplayName DESC "
                 "STARTPOSITION 1 MAXRESULTS 10")
    query = parse(statement, DEFAULT_SPECS)
    assert query.order_by == (("DisplayName", True),)
    assert (query.start_position, query.max_results) == (1, 10)
    names = [doc["DisplayName"] for doc in execute(query, customers, CUSTOMER)["Customer"]]
    assert names == ["Zed", "O'Brien & Co", "No Active Flag", "Cool Cars", "Café Élan", "bob's plumbing",
                     "back\\slash", "Amy's Bird Sanctuary"]


def test_order_by_two_words(customers: list[dict[str, Any]]) -> None:
    reply = run("SELECT * FROM Customer ORDER BY Balance MAXRESULTS 3", customers)
    assert ids(reply) == ["10", "11", "9"]


def test_maxresults_before_startposition() -> None:
    vendors = [{"Id": str(i), "DisplayName": f"V{i}", "Active": True} for i in range(1, 27)]
    query = parse("SELECT * FROM Vendor MAXRESULTS 5 STARTPOSITION 6", DEFAULT_SPECS)
    assert (query.entity, query.start_position, query.max_results) == ("Vendor", 6, 5)
    reply = execute(query, vendors, DEFAULT_SPECS["Vendor"])
    assert reply == {"Vendor": vendors[5:10], "startPosition": 6, "maxResults": 5}
    last = execute(parse("select * from vendor MAXRESULTS 5 STARTPOSITION 26", DEFAULT_SPECS), vendors,
                   DEFAULT_SPECS["Vendor"])
    assert last == {"Vendor": [vendors[25]], "startPosition": 26, "maxResults": 1}


def test_select_star_with_projection() -> None:
    items = [{"Id": "1", "Name": "Services", "Type": "Service", "Active": True},
             {"Id": "2", "Name": "Hours", "Type": "Service", "Sku": "H-1", "Active": True}]
    reply = run("SELECT *, Sku FROM Item", items)
    assert reply == {"Item": items, "startPosition": 1, "maxResults": 2}
    assert ids(run("select *, MetaData.CreateTime from Item where Sku = 'h-1'", items), "Item") == ["2"]


def test_lowercase_statement_with_metadata_spelling(customers: list[dict[str, Any]]) -> None:
    query = parse("select * from Customer Where Metadata.LastUpdatedTime > '2015-03-01'", DEFAULT_SPECS)
    assert query.conditions == (Condition("MetaData.LastUpdatedTime", ">", ("2015-03-01",)),)
    assert ids(execute(query, customers, CUSTOMER)) == ["5"]


def test_keywords_entity_and_properties_are_case_insensitive(customers: list[dict[str, Any]]) -> None:
    reply = run("SeLeCt * FrOm cUsToMeR wHeRe displayname = 'ZED' oRdErBy ID dEsC StartPosition 1", customers)
    assert ids(reply) == ["9"]
    assert parse("select * from customer", DEFAULT_SPECS).entity == "Customer"


# --- literals ---------------------------------------------------------------------------------------


def test_backslash_in_value(customers: list[dict[str, Any]]) -> None:
    query = parse("SELECT * FROM Customer WHERE DisplayName = 'back\\\\slash'", DEFAULT_SPECS)
    assert query.conditions[0].values == ("back\\slash",)
    assert ids(execute(query, customers, CUSTOMER)) == ["3"]
    # A backslash before anything but a quote or a backslash is kept as written.
    assert parse("SELECT * FROM Customer WHERE DisplayName = 'a\\b'", DEFAULT_SPECS).conditions[0].values == (
        "a\\b",)


def test_typographic_quotes_are_a_lexical_error_by_default() -> None:
    # Real QBO rejects U+2019 and U+2013 inside a string literal (quickbooks-ruby#309,
    # QuickBooks-V3-PHP-SDK#397); the emulator treats everything above U+00FF the same way.
    error = fault("SELECT * FROM Customer WHERE DisplayName = 'Say “quoted”'")
    assert error.code == "4000"
    assert error.message == "Error parsing query"
    assert error.detail == ('QueryParserError: Invalid content. Lexical error at line 1, column 49.  '
                            'Encountered: "\\u201c" (8220), after : "\\\'Say "')
    observed = fault("SELECT * FROM ITEM WHERE NAME LIKE '%Fleur’t'")
    assert observed.detail == ('QueryParserError: Invalid content. Lexical error at line 1, column 43.  '
                               'Encountered: "\\u2019" (8217), after : "\\\'%Fleur"')


def test_typographic_quotes_need_no_escaping_when_charset_is_relaxed() -> None:
    docs = [customer(1, "Say “quoted”"), customer(2, "Bob’s")]
    assert ids(run("SELECT * FROM Customer WHERE DisplayName = 'say “QUOTED”'", docs,
                   strict_charset=False)) == ["1"]
    assert ids(run("SELECT * FROM Customer WHERE DisplayName LIKE 'bob’%'", docs, strict_charset=False)) == ["2"]


def test_latin1_characters_are_accepted(customers: list[dict[str, Any]]) -> None:
    assert ids(run("SELECT * FROM Customer WHERE DisplayName = 'CAFÉ élan'", customers)) == ["12"]


def test_string_values_compare_case_insensitively(customers: list[dict[str, Any]]) -> None:
    assert ids(run("SELECT * FROM Customer WHERE DisplayName = 'BOB\\'S PLUMBING'", customers)) == ["10"]
    assert ids(run("SELECT * FROM Customer WHERE DisplayName < 'b'", customers)) == ["1"]
    assert ids(run("SELECT * FROM Customer WHERE GivenName = 'amy'", customers)) == ["1"]
    # '=' is exact apart from case
    assert run("SELECT * FROM Customer WHERE DisplayName = 'Zed '", customers) == {}


def test_numbers_compare_as_decimals(customers: list[dict[str, Any]]) -> None:
    assert ids(run("SELECT * FROM Customer WHERE Balance = '300.00'", customers)) == ["2"]
    assert ids(run("SELECT * FROM Customer WHERE Balance = 300", customers)) == ["2"]
    assert ids(run("SELECT * FROM Customer WHERE Balance > '300.00'", customers)) == ["3", "5"]
    assert ids(run("SELECT * FROM Customer WHERE Balance <= 1.25", customers)) == ["10", "11"]
    assert ids(run("SELECT * FROM Customer WHERE Balance IN (5, '7.00', 239)", customers)) == ["1", "9", "12"]
    assert ids(run("SELECT * FROM Customer WHERE Balance > -1 AND Balance < 1", customers)) == ["10"]


def test_id_compares_numerically(customers: list[dict[str, Any]]) -> None:
    assert ids(run("SELECT * FROM Customer WHERE Id > '9'", customers)) == ["10", "11", "12"]
    assert ids(run("SELECT * FROM Customer WHERE Id = 5", customers)) == ["5"]


def test_reference_fields_compare_by_value() -> None:
    invoices = [
        {"Id": "1", "CustomerRef": {"value": "2", "name": "O'Brien"}, "TxnDate": "2024-01-31", "TotalAmt": 10},
        {"Id": "2", "CustomerRef": {"value": "10"}, "TxnDate": "2024-02-01", "TotalAmt": 20.5},
        {"Id": "3", "CustomerRef": {"value": "2"}, "TxnDate": "2024-02-15", "TotalAmt": Decimal("1000.01")},
    ]
    assert ids(run("SELECT * FROM Invoice WHERE CustomerRef = '2'", invoices), "Invoice") == ["1", "3"]
    assert ids(run("SELECT * FROM Invoice WHERE CustomerRef IN ('10', '99')", invoices), "Invoice") == ["2"]
    assert ids(run("SELECT * FROM Invoice WHERE TotalAmt > '1000.0'", invoices), "Invoice") == ["3"]


def test_date_fields_compare_as_dates() -> None:
    invoices = [
        {"Id": "1", "TxnDate": "2024-01-31", "DueDate": "2024-02-29"},
        {"Id": "2", "TxnDate": "2024-02-01", "DueDate": "2024-03-02"},
        {"Id": "3", "TxnDate": "2024-02-15"},
    ]
    assert ids(run("SELECT * FROM Invoice WHERE TxnDate >= '2024-02-01'", invoices), "Invoice") == ["2", "3"]
    assert ids(run("SELECT * FROM Invoice WHERE TxnDate = '2024-02-01T18:00:00'", invoices), "Invoice") == ["2"]
    assert ids(run("SELECT * FROM Invoice WHERE TxnDate < '2024-02-01' AND DueDate > '2024-01-01'", invoices),
               "Invoice") == ["1"]
    reply = run("SELECT * FROM Invoice ORDERBY DueDate DESC", invoices)
    assert ids(reply, "Invoice") == ["2", "1", "3"]  # the missing value sorts lowest


def test_datetimes_compare_as_instants(customers: list[dict[str, Any]]) -> None:
    # 09:30 -08:00 is 17:30 UTC; a value without an offset is Pacific time.
    base = "SELECT * FROM Customer WHERE MetaData.LastUpdatedTime "
    assert ids(run(base + "= '2015-03-01T17:30:00Z'", customers)) == ["5"]
    assert ids(run(base + "> '2015-03-01T09:29:59'", customers)) == ["5"]
    assert run(base + "> '2015-03-01T09:30:00'", customers) == {}
    assert ids(run(base + "<= '2015-03-01T12:30:00-05:00'", customers)) == ["1", "2", "3", "5", "9", "10", "12"]


def test_like(customers: list[dict[str, Any]]) -> None:
    assert ids(run("SELECT * FROM Customer WHERE DisplayName LIKE 'b%'", customers)) == ["3", "10"]
    assert ids(run("SELECT * FROM Customer WHERE DisplayName LIKE '%CO'", customers)) == ["2"]
    assert ids(run("SELECT * FROM Customer WHERE DisplayName LIKE '%\\'%'", customers)) == ["1", "2", "10"]
    assert ids(run("SELECT * FROM Customer WHERE DisplayName LIKE 'zed'", customers)) == ["9"]
    # '%' is the only wildcard: regex and SQL '_' characters are literal
    assert run("SELECT * FROM Customer WHERE DisplayName LIKE 'Z.d'", customers) == {}
    assert run("SELECT * FROM Customer WHERE DisplayName LIKE 'Z_d'", customers) == {}
    assert ids(run("SELECT * FROM Customer WHERE DisplayName LIKE '%&%'", customers)) == ["2"]


def test_in_with_strings(customers: list[dict[str, Any]]) -> None:
    reply = run("SELECT * FROM Customer WHERE DisplayName IN ('zed', 'Cool Cars', 'nobody')", customers)
    assert ids(reply) == ["5", "9"]


# --- the Active default -----------------------------------------------------------------------------


def test_name_lists_default_to_active_rows(customers: list[dict[str, Any]]) -> None:
    assert "4" not in ids(run("SELECT * FROM Customer", customers))
    assert "11" in ids(run("SELECT * FROM Customer", customers))  # no Active property: active
    assert ids(run("SELECT * FROM Customer WHERE Active = false", customers)) == ["4"]
    both = ids(run("SELECT * FROM Customer WHERE Active IN (true, false)", customers))
    assert both == ["1", "2", "3", "4", "5", "9", "10", "11", "12"]
    assert ids(run("SELECT * FROM Customer WHERE Id = '4'", customers)) == []


def test_transactions_have_no_active_default() -> None:
    invoices: list[dict[str, Any]] = [{"Id": "1", "Active": False}, {"Id": "2"}]
    assert ids(run("SELECT * FROM Invoice", invoices), "Invoice") == ["1", "2"]


# --- ordering and paging ----------------------------------------------------------------------------


def test_order_by_several_keys_with_ties_broken_by_id() -> None:
    docs = [
        customer(7, "g", Balance=1),
        customer(3, "c", Balance=2),
        customer(5, "e", Balance=1),
        customer(1, "a", Balance=2),
        customer(2, "b"),
    ]
    del docs[4]["Balance"]
    assert ids(run("SELECT * FROM Customer ORDERBY Balance", docs)) == ["2", "5", "7", "1", "3"]
    assert ids(run("SELECT * FROM Customer ORDERBY Balance DESC", docs)) == ["1", "3", "5", "7", "2"]
    assert ids(run("SELECT * FROM Customer ORDERBY Balance DESC, DisplayName DESC", docs)) == [
        "3", "1", "7", "5", "2"]
    assert ids(run("SELECT * FROM Customer ORDERBY Id DESC", docs)) == ["7", "5", "3", "2", "1"]


def test_default_order_is_numeric_id() -> None:
    docs = [customer(i, f"c{i}") for i in (100, 9, 10, 1)]
    assert ids(run("SELECT * FROM Customer", docs)) == ["1", "9", "10", "100"]


def test_paging_over_2500_rows() -> None:
    docs = [customer(i, f"Customer {i:04d}") for i in range(2500, 0, -1)]
    seen: list[str] = []
    start = 1
    while True:
        reply = run(f"SELECT * FROM Customer STARTPOSITION {start} MAXRESULTS 1000", docs)
        if not reply:
            break
        assert reply["startPosition"] == start
        assert reply["maxResults"] == len(reply["Customer"])
        seen.extend(ids(reply))
        start += 1000
    assert seen == [str(i) for i in range(1, 2501)]
    assert run("SELECT * FROM Customer STARTPOSITION 2001 MAXRESULTS 1000", docs)["maxResults"] == 500
    assert len(run("SELECT * FROM Customer", docs)["Customer"]) == 100  # default page size


def test_maxresults_capped_and_startposition_zero() -> None:
    docs = [customer(i, f"c{i}") for i in range(1, 1201)]
    query = parse("SELECT * FROM Customer STARTPOSITION 0 MAXRESULTS 5000", DEFAULT_SPECS)
    assert (query.start_position, query.max_results) == (1, 1000)
    reply = execute(query, docs, CUSTOMER)
    assert (reply["startPosition"], reply["maxResults"]) == (1, 1000)
    assert run("SELECT * FROM Customer MAXRESULTS 0", docs) == {}


def test_empty_result_is_an_empty_object(customers: list[dict[str, Any]]) -> None:
    assert run("SELECT * FROM Customer WHERE DisplayName = 'nobody'", customers) == {}
    assert run("SELECT * FROM Customer STARTPOSITION 100", customers) == {}
    no_docs: list[dict[str, Any]] = []
    assert run("SELECT * FROM Invoice", no_docs) == {}


def test_docs_are_returned_as_is_and_not_mutated(customers: list[dict[str, Any]]) -> None:
    before = copy.deepcopy(customers)
    reply = run("SELECT * FROM Customer WHERE Balance > '1' ORDERBY DisplayName DESC", customers)
    assert customers == before
    assert all(any(row is doc for doc in customers) for row in reply["Customer"])


def test_equality_over_100000_docs_is_fast() -> None:
    docs = [{"Id": str(i), "DisplayName": f"Customer {i}", "Active": True} for i in range(1, 100_001)]
    query = parse("SELECT * FROM Customer WHERE DisplayName = 'customer 77777'", DEFAULT_SPECS)
    began = time.perf_counter()
    reply = execute(query, docs, CUSTOMER)
    assert time.perf_counter() - began < 1.0
    assert ids(reply) == ["77777"]


def test_custom_spec_mapping_is_case_insensitive() -> None:
    spec = EntitySpec("Estimate", frozenset({"Id", "CustomerRef"}), frozenset({"Id"}))
    query = parse("select * from ESTIMATE where customerref = '3'", {"Estimate": spec})
    assert query.entity == "Estimate"
    assert query.conditions == (Condition("CustomerRef", "=", ("3",)),)


# --- faults -----------------------------------------------------------------------------------------

EXPECTED_AFTER_CONDITION = (
    "Was expecting one of:\n    <EOF> \n    <AND> ...\n    \"iterator\" ...\n    \"maxresults\" ...\n"
    "    <OR> ...\n    \"order\" ...\n    \"orderby\" ...\n    \"startposition\" ...\n    "
)


def test_unescaped_quote_matches_the_observed_qbo_message() -> None:
    # node-quickbooks#56: the same statement produced exactly this Detail from QBO.
    error = fault("select * from vendor where DisplayName = 'Cutlery 'R Us'")
    assert error.code == "4000"
    assert error.message == "Error parsing query"
    assert error.detail == (
        'QueryParserError: Encountered " <IDENTIFIER> "R "" at line 1, column 52.\n' + EXPECTED_AFTER_CONDITION
    )


def test_or_is_a_parse_fault() -> None:
    error = fault("SELECT * FROM Customer WHERE Id = '1' OR Id = '2'")
    assert error.code == "4000"
    assert error.message == "Error parsing query"
    assert error.detail.startswith('QueryParserError: Encountered " <OR> "OR "" at line 1, column 39.\n')
    assert "<OR> ..." not in error.detail


@pytest.mark.parametrize(
    ("statement", "detail"),
    [
        ("", 'QueryParserError: Encountered "<EOF>" at line 0, column 0.\nWas expecting:\n    "select" ...\n    '),
        ("garbage", 'QueryParserError: Encountered " <IDENTIFIER> "garbage "" at line 1, column 1.\n'
                    'Was expecting:\n    "select" ...\n    '),
        ("SELECT * FROM Customer WHERE",
         'QueryParserError: Encountered "<EOF>" at line 1, column 28.\nWas expecting:\n    <IDENTIFIER> ...\n    '),
        ("SELECT * FROM Customer;",
         'QueryParserError: Invalid content. Lexical error at line 1, column 23.  Encountered: ";" (59), '
         'after : ""'),
        ("SELECT * FROM Customer WHERE DisplayName = 'abc",
         'QueryParserError: Invalid content. Lexical error at line 1, column 48.  Encountered: <EOF> '
         'after : "\\\'abc"'),
        ("SELECT * FROM Customer\nWHERE Active = true\n  R",
         'QueryParserError: Encountered " <IDENTIFIER> "R "" at line 3, column 3.\n' + EXPECTED_AFTER_CONDITION),
        ("SELECT * FROM Customer MAXRESULTS 1.5",
         'QueryParserError: Encountered " <DECIMAL_LITERAL> "1.5 "" at line 1, column 35.\n'
         'Was expecting:\n    <INTEGER_LITERAL> ...\n    '),
        ("SELECT * FROM Customer WHERE DisplayName LIKE 5",
         'QueryParserError: Encountered " <INTEGER_LITERAL> "5 "" at line 1, column 47.\n'
         'Was expecting:\n    <STRING_LITERAL> ...\n    '),
    ],
)
def test_syntax_errors(statement: str, detail: str) -> None:
    error = fault(statement)
    assert (error.code, error.message, error.detail) == ("4000", "Error parsing query", detail)


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM Customer WHERE DisplayName = 'x' ORDER BY",
        "SELECT * FROM Customer MAXRESULTS 5 MAXRESULTS 6",
        "SELECT * FROM Customer WHERE Id IN ()",
        "SELECT * FROM Customer WHERE Id IN ('1',)",
        "SELECT * FROM Customer WHERE DisplayName = 'O''Brien'",
        "SELECT * FROM Customer WHERE DisplayName <> 'x'",  # != is QBO's; <> is not
        "SELECT Id FROM Customer",
        "SELECT * FROM Customer ITERATOR",
        "SELECT * FROM Customer GROUP BY DisplayName",
    ],
)
def test_other_syntax_errors_are_4000(statement: str) -> None:
    error = fault(statement)
    assert error.code == "4000"
    assert error.detail.startswith("QueryParserError: ")


def test_unknown_entity() -> None:
    error = fault("SELECT * FROM Custmoer")
    assert (error.code, error.message) == ("4001", "Invalid query")
    assert error.detail == "QueryValidationError: invalid context declaration: Custmoer"


def test_syntax_error_wins_over_unknown_entity() -> None:
    assert fault("SELECT * FROM Custmoer WHERE").code == "4000"


@pytest.mark.parametrize(
    ("statement", "name"),
    [
        ("SELECT * FROM Customer WHERE AcctNum = '1'", "AcctNum"),
        ("SELECT * FROM Customer WHERE Notes LIKE '%x%'", "Notes"),
        ("SELECT * FROM Customer ORDERBY PrimaryEmailAddr", "PrimaryEmailAddr"),  # filterable, not sortable
        ("SELECT * FROM Payment ORDER BY totalamt DESC", "totalamt"),
        ("SELECT COUNT(*) FROM Invoice WHERE Line.Amount > '5'", "Line.Amount"),
    ],
)
def test_unqueryable_property(statement: str, name: str) -> None:
    error = fault(statement)
    assert (error.code, error.message) == ("4001", "Invalid query")
    assert error.detail == f"QueryValidationError: property '{name}' is not queryable"


def test_invalid_date_literal_is_4001() -> None:
    error = fault("SELECT * FROM Invoice WHERE TxnDate > 'yesterday'")
    assert error.code == "4001"
    assert "TxnDate" in error.detail


def test_fault_renders_qbo_shape() -> None:
    error = fault("SELECT * FROM Custmoer")
    assert error.fault() == {
        "Error": [{"Message": "Invalid query",
                   "Detail": "QueryValidationError: invalid context declaration: Custmoer",
                   "code": "4001"}],
        "type": "ValidationFault",
    }
