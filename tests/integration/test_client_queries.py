"""Queries through QboClient against the emulator: escaping, exact name lookups, paging, counts."""

from __future__ import annotations

import pytest
from clientkit import chunk_request_id, customer_ops, data_requests
from quickbooks.objects import Customer

from qbo_toolkit.emulator import EmulatorServer
from qbo_toolkit.errors import QueryError
from qbo_toolkit.qbo.client import QboClient
from qbo_toolkit.qbo.query import select

#: Names that break naive query building: a quote, an ampersand, a backslash, typographic quotes
#: (above U+00FF, which QBO's lexer refuses inside a literal: found through the LIKE path).
AWKWARD = ["O'Brien", "A & W", "back\\slash", "“quoted”"]
SEEDED_CUSTOMERS = 10  # the seed company's customers, one of them inactive


def test_awkward_names_are_found_exactly(client: QboClient) -> None:
    created = {}
    for n, name in enumerate(AWKWARD):
        customer = Customer()
        customer.DisplayName = name
        created[name] = client.create(customer, request_id=f"awkward-{n}")
    # decoys: the LIKE pattern for “quoted” is %quoted%, which matches these too
    for n, name in enumerate(["‘quoted’", "«quoted»", "quoted"]):
        client.create_from("Customer", {"DisplayName": name}, request_id=f"decoy-{n}")

    for name in AWKWARD:
        found = client.find_by_name(Customer, "DisplayName", name)
        assert found is not None, name
        assert (found.Id, found.DisplayName) == (created[name].Id, name)

    # the seed company's own awkward names
    assert client.find_by_name("Customer", "DisplayName", "O'Brien & Sons Plumbing") is not None
    assert client.find_by_name("Customer", "DisplayName", "“Green Thumb” Gardens") is not None
    # exact means exact: QBO compares case-insensitively, the client does not
    assert client.find_by_name("Customer", "DisplayName", "o'brien") is None
    assert client.find_by_name("Customer", "DisplayName", "“Quoted”") is None
    assert client.find_by_name("Customer", "DisplayName", "Nobody at all") is None


def test_a_query_value_outside_latin1_is_refused_before_sending(client: QboClient, emu: EmulatorServer) -> None:
    before = len(data_requests(emu))
    with pytest.raises(QueryError) as caught:
        client.query(select("Customer").where("DisplayName", "=", "“quoted”"))
    assert "find_by_name" in str(caught.value)
    assert caught.value.entity == "Customer"
    assert len(data_requests(emu)) == before


def test_inactive_rows_are_found_unless_excluded(client: QboClient) -> None:
    old = client.find_by_name(Customer, "DisplayName", "Old Shed Co")
    assert old is not None and old.Active is False
    assert client.find_by_name(Customer, "DisplayName", "Old Shed Co", include_inactive=False) is None


def test_paging_reads_every_row_until_a_short_page(client: QboClient, emu: EmulatorServer) -> None:
    results = client.batch(customer_ops("Paged", 2500), request_id=chunk_request_id("paged"))
    assert all(r.ok for r in results) and len(results) == 2500

    before = len(data_requests(emu))
    rows = client.query_all(Customer)
    queries = [e for e in data_requests(emu)[before:] if e["path"].endswith("/query")]
    total = 2500 + SEEDED_CUSTOMERS - 1  # the inactive one is hidden by default
    assert len(rows) == total
    assert len({row.Id for row in rows}) == total
    assert [int(row.Id) for row in rows] == sorted(int(row.Id) for row in rows)  # pinned to Id order
    assert len(queries) == 3  # 1000 + 1000 + 509

    assert client.count(Customer) == total
    assert client.count(select("Customer").include_inactive()) == total + 1
    paged = select("Customer").where("DisplayName", "LIKE", "Paged%")
    assert client.count(paged) == 2500
    assert len(client.query_all(paged, page_size=700)) == 2500


def test_query_returns_typed_objects_with_decimal_money(client: QboClient) -> None:
    invoices = client.query("SELECT * FROM Invoice")
    assert invoices and all(type(inv).__name__ == "Invoice" for inv in invoices)
    assert all(type(inv.TotalAmt).__name__ == "Decimal" for inv in invoices)
    assert client.query("SELECT * FROM Customer WHERE DisplayName = 'Nobody'") == []
