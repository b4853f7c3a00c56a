"""The match preview keeps its promise (issue 12, point 5), over HTTP to the emulator.

The demo has two WORK clients named "Bill's Windsurf Shop" and one QBO customer of that name (2), a
multiple match, and a WORK "Cool Cars" whose QBO namesake (3) has nothing else in common, a weak
match. Each scenario is judged by reading QBO over HTTP and the WORK store directly:

* an undecided pair creates nothing on either side, in the initial run and in every later run, even
  when one of its clients rejected the customer or the undecided client changed in WORK;
* Reject with name_policy "report" leaves the client waiting with the reason (nothing sent, no
  failure); with "fix" it goes to QBO as "Name (2)";
* the rejected customer is not imported into WORK while the client that rejected it is there
  under the same name; renaming that client lets it come.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from synckit import World, check_consistent, open_world

from qbo_toolkit.settings import Settings
from qbo_toolkit.sync.api import confirm_match, match_preview

CLIENTS_ONLY = Settings()  # name_policy "report", the default
FIX = replace(CLIENTS_ONLY, name_policy="fix")
CLIENT_DEMO = {"clients": 30, "invoices": 0, "payments": 0}
BILLS = "Bill's Windsurf Shop"
REASON = "a customer of that name exists in QuickBooks; rename the client in WORK or choose fix"


@pytest.fixture
def w(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with open_world(tmp_path, monkeypatch, demo=CLIENT_DEMO) as world:
        yield world


def qbo_names(w: World) -> list[str]:
    return [str(c["DisplayName"]) for c in w.qbo("Customer")]


def test_one_candidate_rejected_and_the_other_undecided_creates_nothing_twice(w: World) -> None:
    first = w.sync(CLIENTS_ONLY)
    bills_1, bills_2 = w.awkward("bills_1"), w.awkward("bills_2")
    assert first.pending_matches == 3
    clients_before = len(w.store.clients())

    confirm_match(bills_1, None, accept=False, store=w.store, realm=w.realm)  # "not the same"
    run = w.sync(CLIENTS_ONLY)
    # no third WORK client of that name: customer 2 still waits for bills_2's decision
    assert [c.id for c in w.client_by_name(BILLS)] == [bills_1, bills_2]
    assert len(w.store.clients()) == clients_before
    links = w.state.links("customer")
    assert "2" not in {link.qbo_id for link in links.values()}
    assert {(m["work_id"], m["qbo_id"]) for m in match_preview(store=w.store, realm=w.realm)} >= {(bills_2, "2")}
    # Reject is a valid outcome: under "report" bills_1 waits with the reason, nothing sent, nothing failed
    assert qbo_names(w).count(BILLS) == 1 and f"{BILLS} (2)" not in qbo_names(w)
    assert bills_1 not in links
    assert [e for e in w.activity(run, outcome="failed") if e.work_id == bills_1] == []
    (held,) = [e for e in w.activity(run, outcome="held") if e.work_id == bills_1]
    assert REASON in held.message and held.field == "display_name"
    assert not [a for a in run.actions if a.kind == "create" and a.direction == "to_work" and a.qbo_id == "2"]

    # the undecided client changes in WORK: still held, not created in QBO
    w.store.update_client(bills_2, phone="(415) 555-0170")
    changed = w.sync(CLIENTS_ONLY)
    assert bills_2 not in w.state.links("customer")
    assert qbo_names(w).count(BILLS) == 1 and len(w.store.clients()) == clients_before
    assert bills_2 in {a.work_id for a in changed.actions if a.kind == "hold"}

    # with "fix", bills_1 goes in under a suffixed name; customer 2 still waits; nothing imported
    fixed = w.sync(FIX)
    assert w.customer_of(bills_1)["DisplayName"] == f"{BILLS} (2)"
    assert fixed.counts["customer.create.ok"] == 1, fixed.counts
    assert len(w.store.clients()) == clients_before
    assert "2" not in {link.qbo_id for link in w.state.links("customer").values()}

    # bills_2 is QBO's: linked, and still no third client
    confirm_match(bills_2, "2", store=w.store, realm=w.realm)
    w.sync(FIX)
    assert w.state.links("customer")[bills_2].qbo_id == "2"
    assert [c.id for c in w.client_by_name(BILLS)] == [bills_1, bills_2]
    names = qbo_names(w)
    assert sorted(n for n in names if n.startswith(BILLS)) == [BILLS, f"{BILLS} (2)"]
    assert w.sync(FIX).counts["ok"] == 0


def test_a_rejected_namesake_is_not_imported_while_the_client_keeps_its_name(w: World) -> None:
    w.sync(CLIENTS_ONLY)
    cool = w.awkward("cool_cars_weak")
    clients_before = len(w.store.clients())
    confirm_match(cool, "3", accept=False, store=w.store, realm=w.realm)
    run = w.sync(FIX)
    # WORK's Cool Cars goes to QBO under a suffixed name; QBO's stays in QBO only, with the reason
    assert w.customer_of(cool)["DisplayName"] == "Cool Cars (2)"
    assert [c.id for c in w.client_by_name("Cool Cars")] == [cool]
    assert len(w.store.clients()) == clients_before
    (skip,) = [a for a in run.actions if a.qbo_id == "3"]
    assert skip.kind == "skip" and "kept in QuickBooks only" in skip.reason and "'Cool Cars'" in skip.reason
    again = w.sync(FIX)
    assert again.counts["ok"] == 0 and len(w.store.clients()) == clients_before
    # the WORK client renamed: the QBO customer of the old name is a customer of its own and comes in
    w.store.update_client(cool, display_name="Cool Cars Detailing")
    w.sync(FIX)
    (imported,) = w.client_by_name("Cool Cars")
    assert imported.id != cool and w.state.links("customer")[imported.id].qbo_id == "3"
    check_consistent(w, FIX)


def test_a_rejected_pair_is_never_linked_even_when_it_becomes_an_exact_match(w: World) -> None:
    # the QBO namesake is given the WORK client's contact details after the rejection: same name and
    # e-mail would link the two by themselves, but the user said they are not the same
    w.sync(CLIENTS_ONLY)
    cool = w.awkward("cool_cars_weak")
    client = w.store.get_client(cool)
    assert client is not None
    from qbo_toolkit.mapping.customers import client_to_customer

    payload = client_to_customer(client)
    w.edit_qbo("Customer", "3", {k: v for k, v in payload.items() if k not in ("Id", "SyncToken", "DisplayName")})
    confirm_match(cool, "3", accept=False, store=w.store, realm=w.realm)
    w.sync(FIX)
    assert w.state.links("customer")[cool].qbo_id != "3"
    assert w.customer_of(cool)["DisplayName"] == "Cool Cars (2)"
