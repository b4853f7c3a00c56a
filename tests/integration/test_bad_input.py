"""The bad-input corpus (``benchmarks/corpus``, ``benchmarks/bad_input.py``) loaded beside the demo
business and synced twice against the emulator, over HTTP.

Expected (the corpus's own table, ``load_corpus``): every bad record is named in the activity log
with its field (CSV rows the import refused, records the sync refused), every good record is linked
to exactly one QBO record, nothing refused is in WORK or QBO halfway, and the second run creates
nothing and reports nothing again. The demo's records and the corpus's good ones pass the usual
end-state oracle (``check_consistent``) with the corpus's failing invoices and payments set aside.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest
from synckit import SMALL_DEMO, World, check_consistent, open_world

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def w(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with open_world(tmp_path, monkeypatch, demo=SMALL_DEMO) as world:
        yield world


def test_every_bad_record_is_named_with_its_field_and_every_good_one_syncs_once(
        bench_script: Callable[[str], ModuleType], w: World) -> None:
    corpus = bench_script("bad_input")
    expected = corpus.load_corpus(w.store, w.conn.client)
    bad = [e for e in expected if e.bad]
    assert sum(e.copies - 1 if e.outcome == "duplicate" else 1 for e in bad) >= 40
    assert {e.outcome for e in expected} == {"synced", "failed", "refused", "duplicate", "skipped"}
    work_clients = max(c.id for c in w.store.clients())  # every client up to here was made in WORK

    first = w.sync()
    assert first.status == "failures" and first.failed == first.counts["failed"] > 0  # the corpus fails on purpose
    assert corpus.check_corpus(w.store, expected, client=w.conn.client) == []
    # the integration date (2026-01-01) would have skipped the invoice dated 1850: it is reported instead
    (old,) = [e for e in w.activity(first, entity="invoice", outcome="failed") if "BX-2001" in e.message]
    assert old.field == "issue_date" and "1850-03-01 is before 1900-01-01" in old.message
    # the state check names the value and why
    (typo,) = [e for e in w.activity(first, entity="customer", outcome="failed") if "Calfornia" in e.message]
    assert typo.field == "billing.state" and "sales tax" in typo.message

    second = w.sync()
    assert second.kind == "incremental" and second.status == "ok"
    assert w.activity(second, outcome="failed") == [], "unchanged bad records were reported again"
    assert not [k for k, n in second.counts.items() if n and k.endswith((".create.ok", ".update.ok"))]
    assert corpus.check_corpus(w.store, expected, client=w.conn.client, reported_once=True) == []

    failing: dict[str, set[int]] = {"invoice": set(), "payment": set()}
    for entry in w.state.open_failures():
        if entry.entity in failing and entry.work_id is not None:
            failing[entry.entity].add(entry.work_id)
    check_consistent(w, demo_clients=work_clients, failing=failing)


def test_fixed_records_go_with_their_dependants_and_a_bad_state_is_never_sent(bench_script: Callable[[str], ModuleType],
                                                                              w: World) -> None:
    """The repair path (fix the state, reactivate the client, retry its invoice) and the update path (a
    synced client whose state becomes unknown in WORK is refused on billing.state, QBO keeps its own)."""
    corpus = bench_script("bad_input")
    expected = corpus.load_corpus(w.store, w.conn.client)
    w.sync()
    (client,) = w.client_by_name("BX State XX")
    w.store.update_client(client.id, billing=replace(client.billing, state="NV"))
    (dormant_client,) = w.client_by_name("BX Dormant Builders")
    w.store.update_client(dormant_client.id, active=True)
    (harbor,) = w.client_by_name("BX Harbor Plumbing")
    w.store.update_client(harbor.id, billing=replace(harbor.billing, state="Sacramento"))

    third = w.sync()
    assert third.counts["customer.create.ok"] == 1
    assert client.id in w.state.links("customer") and w.customer_of(client.id)["BillAddr"]["CountrySubDivisionCode"] \
        == "NV"
    invoice = w.store.invoice_by_number("BX-2007")
    assert invoice is not None and invoice.id in w.state.links("invoice")  # it waited for its client
    (refused,) = w.activity(third, entity="customer", outcome="failed")
    assert (refused.work_id, refused.field) == (harbor.id, "billing.state") and "'Sacramento'" in refused.message
    assert w.customer_of(harbor.id)["BillAddr"]["CountrySubDivisionCode"] == "CA"
    # the reactivated client's invoice waits for the user's retry (nothing about the invoice changed)
    dormant = w.store.invoice_by_number("BX-2008")
    assert dormant is not None and dormant.id not in w.state.links("invoice")
    w.engine().retry("invoice", dormant.id)

    fourth = w.sync()
    assert w.activity(fourth, outcome="failed") == []
    assert dormant.id in w.state.links("invoice")
    payment = [p for p in w.store.payments(invoice_id=dormant.id) if p.reference == "BXP-106"]
    assert len(payment) == 1 and payment[0].id in w.state.links("payment")  # it waited for its invoice
    problems = corpus.check_corpus(w.store, expected, client=w.conn.client)
    changed = {p.split(" (", 1)[0] for p in problems}  # the records whose fate the changes above altered
    assert changed == {"customer 'BX State XX'", "invoice 'BX-2007'", "invoice 'BX-2008'", "payment 'BXP-106'",
                       "customer 'BX Harbor Plumbing'"}, problems
