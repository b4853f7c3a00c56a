"""A country written two ways is one country: QBO's "USA" (ISO-3, as QBO returns it since Oct 2025)
and WORK's "US" never make a linked customer ping-pong.

Oracle: QBO read over HTTP (the customer's SyncToken) and the WORK store (the client's revision)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from synckit import World, open_world

from qbo_toolkit.settings import Settings
from qbo_toolkit.work.models import Address

CLIENTS_ONLY = Settings()


@pytest.fixture
def w(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with open_world(tmp_path, monkeypatch, with_demo=False) as world:
        yield world


def _address(country: str) -> dict[str, str]:
    return {"Line1": "12 Harbour Rd", "City": "Springfield", "CountrySubDivisionCode": "IL",
            "PostalCode": "62701", "Country": country}


@pytest.mark.parametrize("qbo_country", ["USA", "United States"])
def test_usa_in_qbo_and_us_in_work_write_nothing_the_second_time(w: World, qbo_country: str) -> None:
    customer = w.create_qbo("Customer", {"DisplayName": "Harbour Plumbing", "BillAddr": _address(qbo_country),
                                         "PrimaryEmailAddr": {"Address": "office@harbour.example"}})
    client = w.store.add_client(display_name="Harbour Plumbing", email="office@harbour.example",
                                billing=Address("12 Harbour Rd", "", "Springfield", "IL", "62701", "US"))
    # and a client only WORK has, sent to QBO with "US": whatever QBO answers it back as, it is the same
    only_work = w.store.add_client(display_name="Lakeside Dental", email="desk@lakeside.example",
                                   billing=Address("3 Shore Ave", "", "Chicago", "IL", "60601", "US"))
    w.sync(CLIENTS_ONLY)
    links = w.state.links("customer")
    assert links[client.id].qbo_id == str(customer["Id"])
    # the first link merges nothing: "US" and the QBO spelling are one country, neither side rewritten
    linked = w.read("Customer", str(customer["Id"]))
    assert linked["SyncToken"] == customer["SyncToken"]
    assert linked["BillAddr"]["Country"] == "USA"  # QBO answers ISO-3 whatever it was sent (Oct 2025)
    assert w.store.get_client(client.id).billing.country == "US"
    # QuickBooks (or a user there) writes the other client's country its own way
    lakeside_id = links[only_work.id].qbo_id
    w.edit_qbo("Customer", lakeside_id, {"BillAddr": {**_address(qbo_country), "Line1": "3 Shore Ave",
                                                      "City": "Chicago", "PostalCode": "60601"}})
    tokens = {qid: w.read("Customer", qid)["SyncToken"] for qid in (str(customer["Id"]), lakeside_id)}
    revisions = {c.id: c.revision for c in w.store.clients()}

    for _ in range(2):
        again = w.sync(CLIENTS_ONLY)
        assert again.counts["ok"] == 0, [a for a in again.actions if a.kind != "rebase"]
        assert {qid: w.read("Customer", qid)["SyncToken"] for qid in tokens} == tokens
        assert {c.id: c.revision for c in w.store.clients()} == revisions
    assert w.store.get_client(only_work.id).billing.country == "US"


def test_a_real_change_of_country_still_travels(w: World) -> None:
    client = w.store.add_client(display_name="Maple Roofing", email="hi@maple.example",
                                billing=Address("9 Elm St", "", "Springfield", "IL", "62701", "US"))
    w.sync(CLIENTS_ONLY)
    qid = w.state.links("customer")[client.id].qbo_id
    w.edit_qbo("Customer", qid, {"BillAddr": {"Line1": "9 Elm St", "City": "Toronto",
                                              "CountrySubDivisionCode": "ON", "PostalCode": "M5V 2T6",
                                              "Country": "CAN"}})
    w.sync(CLIENTS_ONLY)
    moved = w.store.get_client(client.id)
    assert (moved.billing.city, moved.billing.country) == ("Toronto", "CAN")
