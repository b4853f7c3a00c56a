"""A control character in a WORK client's name never reaches QuickBooks.

The store and the CSV import refuse one (tests/unit); these clients get theirs by SQL, as a broken
integration or a hand edit would. The sync must fail each such client with a sentence naming it,
the field and the character, send nothing for it, and carry on with the rest. QBO is read back over
HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from synckit import SETTINGS, World, open_world

from qbo_toolkit.work import schema

NAMES = {"nul": "Bob\x00s Bikes", "escape": "Esc\x1b[31m Red Co", "bell": "Ding\x07 Dong Ltd"}


@pytest.fixture
def w(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with open_world(tmp_path, monkeypatch, with_demo=False) as world:
        yield world


def _plant(w: World) -> dict[str, int]:
    """A clean client and one client per entry of NAMES (named by SQL, past the store's check),
    each with an invoice."""
    ids = {"clean": w.store.add_client(display_name="Clean Control Co").id}
    for role in NAMES:
        ids[role] = w.store.add_client(display_name=f"placeholder {role}").id
    with w.store.begin() as conn:
        for role, name in NAMES.items():
            conn.execute(schema.clients.update().where(schema.clients.c.id == ids[role]).values(display_name=name))
    for number, work_id in enumerate(ids.values(), start=1):
        w.store.add_invoice(f"CC-{number}", work_id, date(2026, 2, 2),
                            lines=[{"description": "Labor", "unit_price": Decimal("50.00")}])
    assert {c.id: c.display_name for c in w.store.clients()}[ids["nul"]] == "Bob\x00s Bikes"
    return ids


@pytest.mark.parametrize("policy", ["report", "fix"])
def test_a_client_named_with_a_control_character_is_not_created_in_qbo(w: World, policy: str) -> None:
    ids = _plant(w)
    result = w.sync(replace(SETTINGS, name_policy=policy))

    customers = [str(c["DisplayName"]) for c in w.qbo("Customer")]
    assert "Clean Control Co" in customers  # the rest goes on
    assert not any(ch in name for name in customers for ch in "\x00\x1b\x07")
    assert not any(name.startswith(("Bob", "Esc", "Ding")) for name in customers)
    doc_numbers = {str(i.get("DocNumber")) for i in w.qbo("Invoice")}
    assert "CC-1" in doc_numbers and not {"CC-2", "CC-3", "CC-4"} & doc_numbers

    links = w.state.links("customer")
    assert ids["clean"] in links and not {ids[role] for role in NAMES} & set(links)
    failed = {e.work_id: e for e in w.activity(result, entity="customer", outcome="failed")}
    for role, what in (("nul", "NUL (U+0000)"), ("escape", "escape (U+001B)"), ("bell", "bell (U+0007)")):
        entry = failed.get(ids[role])
        assert entry is not None, f"{role}: not reported"
        assert entry.field == "display_name"
        assert f"client {ids[role]}" in entry.message and what in entry.message and "remove it" in entry.message
        assert entry.message.isprintable(), entry.message  # the name is shown escaped, never raw
    assert result.failed >= len(NAMES)


def test_once_the_name_is_fixed_the_client_goes(w: World) -> None:
    ids = _plant(w)
    w.sync()
    w.store.update_client(ids["nul"], display_name="Bob's Bikes")
    w.sync()
    customers = {str(c["DisplayName"]) for c in w.qbo("Customer")}
    assert "Bob's Bikes" in customers and ids["nul"] in w.state.links("customer")


def test_a_qbo_customer_named_with_a_control_character_fails_and_the_run_goes_on(w: World) -> None:
    """The other direction: WORK refuses the name, so the customer is reported, not imported, and
    the run is not stopped by it."""
    w.store.add_client(display_name="Clean Control Co")
    made = w.create_qbo("Customer", {"DisplayName": "Eve\x00 QBO Co"})
    linked = w.create_qbo("Customer", {"DisplayName": "Linked Later Co"})
    result = w.sync()
    assert result.status != "failed" and "stopped" not in (result.message or "")
    assert "Clean Control Co" in {str(c["DisplayName"]) for c in w.qbo("Customer")}
    assert not any("\x00" in c.display_name for c in w.store.clients())
    (entry,) = [e for e in w.activity(result, entity="customer", outcome="failed") if e.qbo_id == str(made["Id"])]
    assert entry.field == "display_name" and entry.direction == "to_work"
    assert f"QuickBooks customer {made['Id']}" in entry.message and "NUL (U+0000)" in entry.message
    assert "correct it in QuickBooks" in entry.message and entry.message.isprintable()

    # a linked customer renamed in QBO with a control character: WORK keeps its name, the record fails
    (client,) = w.client_by_name("Linked Later Co")
    w.edit_qbo("Customer", str(linked["Id"]), {"DisplayName": "Linked\x1b Later Co"})
    second = w.sync()
    assert second.status != "failed"
    (entry,) = [e for e in w.activity(second, entity="customer", outcome="failed") if e.work_id == client.id]
    assert entry.field == "display_name" and "escape (U+001B)" in entry.message and entry.message.isprintable()
    after = w.store.get_client(client.id)
    assert after is not None and after.display_name == "Linked Later Co"


def test_a_linked_client_renamed_with_a_control_character_is_not_updated_in_qbo(w: World) -> None:
    ids = _plant(w)
    w.sync()
    clean = w.customer_of(ids["clean"])
    with w.store.begin() as conn:  # a change the sync sees (a new revision), with a NUL put in by SQL
        w.store.update_client(ids["clean"], email="ap@clean.example", conn=conn)
        conn.execute(schema.clients.update().where(schema.clients.c.id == ids["clean"])
                     .values(display_name="Clean\x00 Control Co"))
    result = w.sync()
    after = w.customer_of(ids["clean"])
    assert after["DisplayName"] == "Clean Control Co" and after["SyncToken"] == clean["SyncToken"]
    assert "\x00" not in str(after)
    (entry,) = [e for e in w.activity(result, entity="customer", outcome="failed") if e.work_id == ids["clean"]]
    assert entry.field == "display_name" and "NUL (U+0000)" in entry.message and entry.message.isprintable()


def test_an_invoice_line_with_a_control_character_is_not_sent(w: World) -> None:
    client = w.store.add_client(display_name="Invoice Control Co")
    good = w.store.add_invoice("CL-1", client.id, date(2026, 2, 2),
                               lines=[{"description": "Labor", "unit_price": Decimal("50.00")}])
    bad = w.store.add_invoice("CL-2", client.id, date(2026, 2, 3),
                              lines=[{"description": "Labor", "unit_price": Decimal("50.00")}])
    with w.store.begin() as conn:
        conn.execute(schema.invoice_lines.update().where(schema.invoice_lines.c.invoice_id == bad.id)
                     .values(description="Labor\x1b[2J"))
    result = w.sync()
    doc_numbers = {str(i.get("DocNumber")) for i in w.qbo("Invoice")}
    assert "CL-1" in doc_numbers and "CL-2" not in doc_numbers
    assert good.id in w.state.links("invoice") and bad.id not in w.state.links("invoice")
    (entry,) = [e for e in w.activity(result, entity="invoice", outcome="failed") if e.work_id == bad.id]
    assert entry.field == "lines[1].description" and "escape (U+001B)" in entry.message
    assert entry.message.isprintable()
