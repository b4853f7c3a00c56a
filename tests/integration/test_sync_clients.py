"""Clients both ways: the initial import's matching and match preview, field-by-field merges,
conflicts under each policy, and deactivation."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from synckit import World, check_consistent, open_world

from qbo_toolkit.settings import ConflictPolicy, Settings
from qbo_toolkit.sync.api import confirm_match, match_preview

#: Only clients sync (and the demo has no invoices): quick, and no balance stands in the way.
CLIENTS_ONLY = Settings()
CLIENT_DEMO = {"clients": 30, "invoices": 0, "payments": 0}


@pytest.fixture
def w(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with open_world(tmp_path, monkeypatch, demo=CLIENT_DEMO) as world:
        yield world


def qbo_names(w: World) -> list[str]:
    return [str(c["DisplayName"]) for c in w.qbo("Customer")]


def test_initial_import_links_exact_matches_and_holds_the_rest(w: World) -> None:
    clients_before = len(w.store.clients())
    first = w.sync(CLIENTS_ONLY)
    links = w.state.links("customer")
    amy, dukes = w.awkward("amy_exact"), w.awkward("dukes_phone")
    cool, bills_1, bills_2 = w.awkward("cool_cars_weak"), w.awkward("bills_1"), w.awkward("bills_2")
    assert links[amy].qbo_id == "1"  # same name and e-mail
    assert links[dukes].qbo_id == "4"  # same name and phone
    # weak and multiple matches wait in the preview; nothing is created for them on either side
    preview = match_preview(store=w.store, realm=w.realm)
    assert {(m["work_id"], m["qbo_id"], m["kind"]) for m in preview} == {
        (cool, "3", "weak"), (bills_1, "2", "multiple"), (bills_2, "2", "multiple")}
    assert first.pending_matches == 3
    assert {cool, bills_1, bills_2}.isdisjoint(links)
    assert {"2", "3"}.isdisjoint({link.qbo_id for link in links.values()})
    held = {a.work_id for a in first.actions if a.kind == "hold"}
    assert held == {cool, bills_1, bills_2}
    names = qbo_names(w)
    assert names.count("Cool Cars") == 1 and names.count("Bill's Windsurf Shop") == 1
    assert not any(n.startswith(("Cool Cars (", "Bill's Windsurf Shop (")) for n in names)
    assert len(w.client_by_name("Cool Cars")) == 1 and len(w.client_by_name("Bill's Windsurf Shop")) == 2
    # unmatched QBO customers come to WORK; a blank state gets the company's default (CA)
    imported = {c.display_name: c for c in w.store.clients() if c.id > clients_before}
    assert set(imported) == {"Old Shed Co", "Shara Barnett", "Barnett Design", "Sushi by Katsuyuki",
                             "O'Brien & Sons Plumbing", "“Green Thumb” Gardens"}
    sushi = imported["Sushi by Katsuyuki"]
    assert sushi.billing.state == "CA" and sushi.billing.city == "Maplewood" and sushi.email == "Sushi@intuit.com"
    assert imported["Old Shed Co"].active is False
    assert imported["Barnett Design"].parent_id == imported["Shara Barnett"].id
    # the default state stays in WORK: QBO still has none, and the next run changes nothing
    assert not (w.read("Customer", "8").get("BillAddr") or {}).get("CountrySubDivisionCode")
    again = w.sync(CLIENTS_ONLY)
    assert again.counts["ok"] == 0 and again.pending_matches == 3
    assert len(w.store.clients()) == clients_before + 6

    # the user decides: Cool Cars is QBO's; bills_2 is QBO's Bill's Windsurf Shop, bills_1 is not
    confirm_match(cool, "3", store=w.store, realm=w.realm)
    confirm_match(bills_2, "2", store=w.store, realm=w.realm)
    confirm_match(bills_1, None, accept=False, store=w.store, realm=w.realm)
    decided = w.sync(CLIENTS_ONLY)
    links = w.state.links("customer")
    assert links[cool].qbo_id == "3" and links[bills_2].qbo_id == "2"
    assert decided.pending_matches == 0
    # bills_1 is new for QBO, under a name QBO already has: it waits with the reason, nothing sent
    assert bills_1 not in links
    (held,) = [e for e in w.activity(decided, outcome="held") if e.work_id == bills_1]
    assert held.field == "display_name" and "a customer of that name exists in QuickBooks" in held.message
    # a newly linked pair is merged: a field blank on one side takes the other's value
    cool_client = w.store.get_client(cool)
    assert cool_client is not None and cool_client.phone == "(415) 555-9933"  # blank in WORK: QBO's fills it
    # with name_policy "fix" it goes in under a suffixed name, recorded
    fixed = w.sync(replace(CLIENTS_ONLY, name_policy="fix"))
    assert fixed.counts["customer.create.ok"] == 1
    customer = w.customer_of(bills_1)
    assert customer["DisplayName"] == "Bill's Windsurf Shop (2)"
    names = qbo_names(w)
    assert len(names) == len(set(n.casefold() for n in names))
    assert len(w.store.clients()) == clients_before + 6  # nothing imported twice
    check_consistent(w, CLIENTS_ONLY)
    assert w.sync(CLIENTS_ONLY).counts["ok"] == 0


def test_rejected_weak_match_creates_the_client_and_keeps_the_namesake_in_qbo(w: World) -> None:
    w.sync(CLIENTS_ONLY)
    cool = w.awkward("cool_cars_weak")
    confirm_match(cool, "3", accept=False, store=w.store, realm=w.realm)
    fix = replace(CLIENTS_ONLY, name_policy="fix")
    run = w.sync(fix)
    links = w.state.links("customer")
    # WORK's goes to QBO under a suffixed name; QBO's Cool Cars is not a second WORK "Cool Cars"
    assert "3" not in {link.qbo_id for link in links.values()}
    assert w.customer_of(cool)["DisplayName"] == "Cool Cars (2)"
    assert run.counts["customer.create.ok"] == 1 and run.pending_matches == 2
    assert len(w.client_by_name("Cool Cars")) == 1
    check_consistent(w, fix)
    assert w.sync(fix).counts["ok"] == 0


def test_the_default_state_survives_later_edits_in_qbo(w: World) -> None:
    w.sync(CLIENTS_ONLY)
    (sushi,) = w.client_by_name("Sushi by Katsuyuki")
    qbo_id = w.state.links("customer")[sushi.id].qbo_id
    w.edit_qbo("Customer", qbo_id, {"PrimaryPhone": {"FreeFormNumber": "(505) 570-0148"}})
    run = w.sync(CLIENTS_ONLY)
    assert run.counts["customer.update.ok"] == 1, run.counts
    after = w.store.get_client(sushi.id)
    assert after is not None and after.phone == "(505) 570-0148"
    assert after.billing.state == "CA"  # QBO's blank state is still the company's default, not a change
    assert not (w.read("Customer", qbo_id).get("BillAddr") or {}).get("CountrySubDivisionCode")
    assert w.sync(CLIENTS_ONLY).counts["ok"] == 0


def test_blank_state_stays_blank_without_use_default_state(w: World) -> None:
    w.sync(replace(CLIENTS_ONLY, use_default_state=False))
    (sushi,) = w.client_by_name("Sushi by Katsuyuki")
    assert sushi.billing.state == "" and sushi.billing.city == "Maplewood"


def test_records_new_on_either_side_after_the_initial_sync(w: World) -> None:
    w.sync(CLIENTS_ONLY)
    clients_before = len(w.store.clients())
    both = w.store.add_client(display_name="Zephyr Pools", email="office@zephyrpools.example")
    only_work = w.store.add_client(display_name="Quartz Electric", phone="(209) 555-0147")
    twin = w.create_qbo("Customer", {"DisplayName": "Zephyr Pools",
                                     "PrimaryEmailAddr": {"Address": "Office@ZephyrPools.example"}})
    only_qbo = w.create_qbo("Customer", {"DisplayName": "Nova Bakery", "BillAddr": {"City": "Chico"}})
    run = w.sync(CLIENTS_ONLY)
    links = w.state.links("customer")
    assert links[both.id].qbo_id == str(twin["Id"])  # matched (same name and e-mail), not duplicated
    assert w.customer_of(only_work.id)["DisplayName"] == "Quartz Electric"
    (nova,) = w.client_by_name("Nova Bakery")
    assert links[nova.id].qbo_id == str(only_qbo["Id"]) and nova.billing.state == "CA"
    assert len(w.store.clients()) == clients_before + 3
    assert run.counts["failed"] == 0 and run.counts["customer.create.ok"] == 2, run.counts
    check_consistent(w, CLIENTS_ONLY)
    assert w.sync(CLIENTS_ONLY).counts["ok"] == 0


def test_edits_on_both_sides_merge_field_by_field(w: World) -> None:
    w.sync(CLIENTS_ONLY)
    client = next(c for c in w.store.clients() if c.id > 20 and c.id in w.state.links("customer"))
    qbo_id = w.state.links("customer")[client.id].qbo_id
    w.store.update_client(client.id, email="new.address@example.com")
    w.edit_qbo("Customer", qbo_id, {"PrimaryPhone": {"FreeFormNumber": "(209) 555-0000"},
                                    "BillAddr": {"Line1": "1 New St.", "City": "Lodi", "CountrySubDivisionCode": "CA",
                                                 "PostalCode": "95240", "Country": "US"}})
    run = w.sync(CLIENTS_ONLY)
    assert run.counts["customer.update.ok"] == 1, run.counts
    after = w.store.get_client(client.id)
    customer = w.read("Customer", qbo_id)
    assert after is not None
    assert after.email == customer["PrimaryEmailAddr"]["Address"] == "new.address@example.com"
    assert after.phone == customer["PrimaryPhone"]["FreeFormNumber"] == "(209) 555-0000"
    assert after.billing.city == "Lodi" and after.billing.line1 == "1 New St."
    assert after.display_name == customer["DisplayName"] == client.display_name
    assert [e for e in w.activity(run) if e.action == "conflict"] == []
    # both sides agree now: nothing travels back
    assert w.sync(CLIENTS_ONLY).counts["ok"] == 0


@pytest.mark.parametrize(("policy", "newer", "winner"), [
    ("qbo_wins", "work", "qbo"),
    ("work_wins", "qbo", "work"),
    ("newest_wins", "work", "work"),
    ("newest_wins", "qbo", "qbo"),
])
def test_the_same_field_changed_on_both_sides_follows_the_policy(w: World, policy: ConflictPolicy, newer: str,
                                                                 winner: str) -> None:
    settings = replace(CLIENTS_ONLY, conflict_policy=policy)
    w.sync(settings)
    client = next(c for c in w.store.clients() if c.id > 20 and c.id in w.state.links("customer"))
    qbo_id = w.state.links("customer")[client.id].qbo_id
    # WORK's clock says which edit is newer (QBO stamps its own, to the second)
    w.clock.offset = timedelta(hours=1) if newer == "work" else -timedelta(hours=1)
    w.store.update_client(client.id, notes="WORK: gate code 1234", mobile="(530) 555-1111")
    w.edit_qbo("Customer", qbo_id, {"Notes": "QBO: gate code 9876"})
    run = w.sync(settings)
    expected = "WORK: gate code 1234" if winner == "work" else "QBO: gate code 9876"
    after = w.store.get_client(client.id)
    customer = w.read("Customer", qbo_id)
    assert after is not None and after.notes == customer["Notes"] == expected
    assert after.mobile == customer["Mobile"]["FreeFormNumber"] == "(530) 555-1111"  # changed on one side only
    (conflict,) = [e for e in w.activity(run) if e.action == "conflict"]
    assert conflict.field == "notes" and conflict.work_id == client.id and conflict.qbo_id == qbo_id
    assert policy in conflict.message and f"kept {winner}" in conflict.message
    assert w.sync(settings).counts["ok"] == 0


def test_deactivation_travels_both_ways_but_never_over_a_balance(w: World) -> None:
    w.sync(CLIENTS_ONLY)
    links = w.state.links("customer")
    client = next(c for c in w.store.clients() if c.id > 20 and c.active and c.id in links)
    w.store.update_client(client.id, active=False)
    (obrien,) = w.client_by_name("O'Brien & Sons Plumbing")
    w.edit_qbo("Customer", links[obrien.id].qbo_id, {"Active": False})
    run = w.sync(CLIENTS_ONLY)
    assert w.read("Customer", links[client.id].qbo_id)["Active"] is False
    assert w.store.get_client(obrien.id).active is False  # type: ignore[union-attr]
    assert run.counts["failed"] == 0

    # Amy's Bird Sanctuary owes 50.00 in QBO: deactivating her is reported (6220), not forced
    amy = w.awkward("amy_exact")
    assert float(w.read("Customer", "1")["Balance"]) == 50.0
    w.store.update_client(amy, active=False)
    refused = w.sync(CLIENTS_ONLY)
    (failure,) = w.activity(refused, outcome="failed")
    assert failure.work_id == amy and failure.field == "active" and "balance" in failure.message
    assert w.read("Customer", "1")["Active"] is True
    assert w.store.get_client(amy).active is False  # type: ignore[union-attr]
    # reported once, not every run
    assert w.sync(CLIENTS_ONLY).counts["failed"] == 0
    # reactivated in WORK: nothing left to do
    w.store.update_client(amy, active=True)
    w.sync(CLIENTS_ONLY)
    assert w.read("Customer", "1")["Active"] is True
    check_consistent(w, CLIENTS_ONLY)
