"""Matching QBO customers to WORK clients before anything is created (qbo_toolkit.mapping.matching).

Dataset (client id "WORK name" [contact] <-> customer Id "QBO DisplayName" [contact] => bucket):

  1 "O'Brien Plumbing" [ob@x.com]    <-> 101 "O’Brien Plumbing" [OB@X.COM]  => exact (typographic ’)
  2 "Smith & Sons" [520-420-5638]    <-> 102 "Smith and Sons" [+1 (520) 420 5638]  => exact (& = and)
  3 "  cool   CARS " [no contact]    <-> 103 "Cool Cars" [cc@x.com]  => weak (same name only)
  4 "Acme Roofing", 5 "ACME  roofing" <-> 104 "Acme Roofing"  => multiple (two clients)
  6 "Bay Builders"                   <-> 105 "Bay Builders", 106 "Bay Builders."  => multiple (two customers)
  7 "Greenfield Landscaping"         <-> 107 "Greenfeld Landscaping" (typo)  => weak (fuzzy)
  8 "Zephyr Electric"                <-> nothing  => unmatched client
  9 "Harbor Heating" [hh@x.com]      <-> 109 "Harbor Heating", inactive [hh@x.com]  => exact, "inactive in QBO"
 10 "Pine Painting", sub-client [pp@x.com] <-> 110 "Pine Painting", Level 1 [pp@x.com]  => exact
 11 "Jon Smith Repairs"              <-> 112 "John Smith Repairs", 113 "Jon Smyth Repairs"  => multiple (fuzzy)
 12 "Riverside Plumbing", 13 "Riverside-Plumbing" <-> 115 "Riverside Plumbng"  => multiple (fuzzy, two clients)
 14 "???" (no name left once normalised)  => unmatched client
    nothing                          <-> 108 "Quantum Cleaning"  => unmatched customer
    nothing                          <-> 111 "Deep Nested", Level 2  => skipped customer
"""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from qbo_toolkit.mapping.matching import MatchResult, match_customers
from qbo_toolkit.work.models import Client


def customer(id_: int, name: str, *, email: str = "", phone: str = "", **extra: Any) -> dict[str, Any]:
    """A QBO customer as python-quickbooks' to_dict() gives it (blank defaults included)."""
    return {
        "Id": str(id_),
        "DisplayName": name,
        "GivenName": "",
        "CompanyName": "",
        "PrimaryEmailAddr": {"Address": email} if email else None,
        "PrimaryPhone": {"FreeFormNumber": phone} if phone else None,
        "Mobile": None,
        "Active": True,
        "Level": 0,
        "ParentRef": None,
        **extra,
    }


CLIENTS = [
    Client(id=1, display_name="O'Brien Plumbing", email="ob@x.com"),
    Client(id=2, display_name="Smith & Sons", phone="520-420-5638"),
    Client(id=3, display_name="  cool   CARS "),
    Client(id=4, display_name="Acme Roofing"),
    Client(id=5, display_name="ACME  roofing"),
    Client(id=6, display_name="Bay Builders"),
    Client(id=7, display_name="Greenfield Landscaping"),
    Client(id=8, display_name="Zephyr Electric"),
    Client(id=9, display_name="Harbor Heating", email="hh@x.com"),
    Client(id=10, display_name="Pine Painting", email="pp@x.com", parent_id=9),
    Client(id=11, display_name="Jon Smith Repairs"),
    Client(id=12, display_name="Riverside Plumbing"),
    Client(id=13, display_name="Riverside-Plumbing"),
    Client(id=14, display_name="???"),
]
CUSTOMERS = [
    customer(101, "O’Brien Plumbing", email="OB@X.COM"),
    customer(102, "Smith and Sons", phone="+1 (520) 420 5638"),
    customer(103, "Cool Cars", email="cc@x.com"),
    customer(104, "Acme Roofing"),
    customer(105, "Bay Builders"),
    customer(106, "Bay Builders."),
    customer(107, "Greenfeld Landscaping"),
    customer(108, "Quantum Cleaning"),
    customer(109, "Harbor Heating", email="hh@x.com", Active=False),
    customer(110, "Pine Painting", email="pp@x.com", Level=1, ParentRef={"value": "109"}, Job=True),
    customer(111, "Deep Nested", Level=2, ParentRef={"value": "110"}, Job=True),
    customer(112, "John Smith Repairs"),
    customer(113, "Jon Smyth Repairs"),
    customer(115, "Riverside Plumbng"),
]

EXACT = {1: "101", 2: "102", 9: "109", 10: "110"}
WEAK = {3: "103", 7: "107"}
MULTIPLE = [((4, 5), ("104",)), ((6,), ("105", "106")), ((11,), ("112", "113")), ((12, 13), ("115",))]
UNMATCHED_CLIENTS = [8, 14]
UNMATCHED_CUSTOMERS = ["108"]
SKIPPED_CUSTOMERS = ["111"]


@pytest.fixture(scope="module")
def result() -> MatchResult:
    return match_customers(CLIENTS, CUSTOMERS)


def test_exact(result: MatchResult) -> None:
    assert {m.client.id: m.customer_id for m in result.exact} == EXACT
    reasons = {m.client.id: m.reason for m in result.exact}
    assert reasons[1] == "same name and e-mail"
    assert reasons[2] == "same name and phone"
    assert "inactive in QBO" in reasons[9]
    assert all(m.score == 1.0 for m in result.exact)


def test_weak(result: MatchResult) -> None:
    assert {m.client.id: m.customer_id for m in result.weak} == WEAK
    same_name, fuzzy = result.weak
    assert same_name.score == 1.0 and "no e-mail or phone in common" in same_name.reason
    assert 0.9 <= fuzzy.score < 1.0 and "similar name" in fuzzy.reason


def test_multiple(result: MatchResult) -> None:
    found = [
        (tuple(c.id for c in m.clients), tuple(str(q["Id"]) for q in m.customers)) for m in result.multiple
    ]
    assert found == MULTIPLE
    assert "share the name" in result.multiple[0].reason
    assert "similar names" in result.multiple[2].reason


def test_unmatched_and_skipped(result: MatchResult) -> None:
    assert [c.id for c in result.unmatched_clients] == UNMATCHED_CLIENTS
    assert [q["Id"] for q in result.unmatched_customers] == UNMATCHED_CUSTOMERS
    assert [q["Id"] for q in result.skipped_customers] == SKIPPED_CUSTOMERS


def test_every_record_is_in_exactly_one_bucket(result: MatchResult) -> None:
    client_ids = (
        [m.client.id for m in result.exact + result.weak]
        + [c.id for m in result.multiple for c in m.clients]
        + [c.id for c in result.unmatched_clients]
    )
    assert sorted(client_ids) == sorted(c.id for c in CLIENTS)
    customer_ids = (
        [m.customer_id for m in result.exact + result.weak]
        + [str(q["Id"]) for m in result.multiple for q in m.customers]
        + [str(q["Id"]) for q in result.unmatched_customers + result.skipped_customers]
    )
    assert sorted(customer_ids) == sorted(str(q["Id"]) for q in CUSTOMERS)
    assert result.counts() == {
        "exact": 4,
        "weak": 2,
        "multiple": 6,
        "unmatched_clients": 2,
        "unmatched_customers": 1,
        "skipped_customers": 1,
    }


def test_order_of_the_inputs_does_not_matter(result: MatchResult) -> None:
    rng = random.Random(5)
    clients, customers = list(CLIENTS), list(CUSTOMERS)
    for _ in range(3):
        rng.shuffle(clients)
        rng.shuffle(customers)
        assert match_customers(clients, customers) == result


def test_threshold_controls_fuzzy_matches() -> None:
    strict = match_customers(CLIENTS, CUSTOMERS, fuzzy_threshold=1.0)
    assert {m.client.id for m in strict.weak} == {3}
    assert 7 in {c.id for c in strict.unmatched_clients}
    with pytest.raises(ValueError, match="fuzzy_threshold"):
        match_customers(CLIENTS, CUSTOMERS, fuzzy_threshold=0)


def test_same_name_is_not_taken_again_by_a_fuzzy_match() -> None:
    """Client 2 "Cool Car" is close to "Cool Cars", but that customer is already client 1's."""
    clients = [Client(id=1, display_name="Cool Cars"), Client(id=2, display_name="Cool Car")]
    result = match_customers(clients, [customer(1, "Cool Cars")])
    assert [m.client.id for m in result.weak] == [1]
    assert [c.id for c in result.unmatched_clients] == [2]


def test_empty_inputs() -> None:
    assert match_customers([], []).counts() == dict.fromkeys(
        ("exact", "weak", "multiple", "unmatched_clients", "unmatched_customers", "skipped_customers"), 0
    )


FIRST = "James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara".split()
LAST = "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez".split()
TRADE = "Plumbing Heating Cars Roofing Electric Landscaping Cleaning Painting Builders Services".split()


def test_performance_5000_by_5000() -> None:
    """5,000 clients against 5,000 customers with common words in every name: 60 % the same name
    (half with the same e-mail), 20 % one typo, 20 % unrelated. Must finish in a few seconds."""
    rng = random.Random(7)
    names = [
        f"{rng.choice(FIRST)} {rng.choice(LAST)} {k}" if k % 2 else f"{rng.choice(LAST)} {rng.choice(TRADE)} {k}"
        for k in range(5000)
    ]
    clients = [Client(id=k + 1, display_name=name, email=f"c{k}@x.com") for k, name in enumerate(names)]
    customers = []
    for k, name in enumerate(names):
        roll = rng.random()
        if roll < 0.6:
            qbo_name = name
        elif roll < 0.8:
            at = rng.randrange(len(name))
            qbo_name = name[:at] + rng.choice("abcdefghijklmnopqrstuvwxyz") + name[at + 1 :]
        else:
            qbo_name = f"{rng.choice(FIRST)} {rng.choice(TRADE)} {rng.choice(LAST)} {9000 + k}"
        customers.append(customer(k + 1, qbo_name, email=f"c{k}@x.com" if rng.random() < 0.5 else ""))
    started = time.perf_counter()
    result = match_customers(clients, customers)
    elapsed = time.perf_counter() - started
    counts = result.counts()
    assert counts["exact"] + counts["weak"] + counts["multiple"] + counts["unmatched_clients"] == 5000
    assert counts["exact"] > 1000 and counts["weak"] > 2000
    assert elapsed < 5.0, f"matching 5,000 x 5,000 took {elapsed:.1f} s"
