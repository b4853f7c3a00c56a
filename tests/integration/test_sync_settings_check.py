"""The settings checked against the connected company before a run writes anything, existing QBO
items whose income account is not the chosen one, and runs that complete with failures.

The emulator's seed chart (``qbo_toolkit/emulator/seed.py``): 1 Services (Income), 2 Sales of
Product Income, 4 Undeposited Funds, 5 Checking, 9 Subcontractor Costs (COGS), 10 Landscaping
Services (Income), 11 Fees Billed (Income, inactive). Its items: 1 Services and 2 Hours on
account 1, 3 Installation on 10, 4 Parts on 2. The small demo's WORK items Installation and
Parts match those by name; Service Call and Annual Maintenance do not (the sync creates them).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from synckit import SETTINGS, SMALL_DEMO, World, is_read, open_world

from qbo_toolkit.settings import Settings, SettingsError, SettingsSource
from qbo_toolkit.sync.engine import SyncEngine

#: The small demo's settings with the choices a user writes by name, and the default existing_items (ask).
BY_NAME = Settings(invoices=True, revenue_account="services", item_account="Subcontractor Costs", payments=True,
                   deposit_account="Undeposited Funds", integration_date=SETTINGS.integration_date)
WRITES = ("Customer", "Invoice", "Payment", "Item")


@pytest.fixture
def w(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with open_world(tmp_path, monkeypatch, demo=SMALL_DEMO) as world:
        yield world


def qbo_counts(w: World) -> dict[str, int]:
    """How many of each entity QBO holds, read over HTTP."""
    return {entity: len(w.qbo(entity)) for entity in WRITES}


def refused(w: World, settings: Settings, *, dry_run: bool = False) -> str:
    """Run the sync with ``settings``: it must stop before any write, with a SettingsError."""
    before = qbo_counts(w)
    mark = w.log_mark()
    with pytest.raises(SettingsError) as caught:
        w.sync(settings, dry_run=dry_run)
    assert all(is_read(e) for e in w.data_requests(mark)), "the refused run wrote to QuickBooks"
    assert qbo_counts(w) == before
    assert w.state.links("customer") == {} and w.state.outbox() == []
    # the run history says why it stopped, in the same sentence
    run = w.state.runs()[0]
    assert run["status"] == "failed" and str(caught.value) in run["text"]
    last = w.state.activity(run_id=run["id"])[-1]
    assert (last.entity, last.outcome) == ("run", "stopped") and str(caught.value) in last.message
    return str(caught.value)


def invoices_using(w: World, *names: str) -> set[int]:
    ids = set()
    for name in names:
        item = w.store.item_by_name(name)
        assert item is not None
        ids.add(item.id)
    return {inv.id for inv in w.store.invoices() if any(line.item_id in ids for line in inv.lines)}


# ---------------------------------------------------------------------------------------- accounts


def test_a_misspelt_account_stops_the_run_before_anything_is_written(w: World) -> None:
    for dry_run in (True, False):  # the preview says it too
        text = refused(w, replace(BY_NAME, revenue_account="Servces"), dry_run=dry_run)
        assert text == ('The settings do not fit this QuickBooks company: revenue_account ("Send invoice '
                        "information to\"): QuickBooks has no account named 'Servces'; did you mean Services?")


def test_an_id_that_does_not_exist_and_an_inactive_account_are_refused(w: World) -> None:
    text = refused(w, replace(BY_NAME, revenue_account="99"))
    assert "revenue_account" in text and "no account with Id 99" in text
    for inactive in ("11", "Fees Billed"):
        text = refused(w, replace(BY_NAME, revenue_account=inactive))
        assert "revenue_account" in text and "account 11 Fees Billed (Income) is inactive" in text
    text = refused(w, replace(BY_NAME, item_account="Checking"))
    assert "item_account" in text and "Checking (account 5) is a Bank account" in text


def test_a_wrong_deposit_account_is_named_before_any_payment_is_sent(w: World) -> None:
    mark = w.log_mark()
    for wrong, words in (("42", "no account with Id 42"), ("Services", "Services (account 1) is an Income account")):
        text = refused(w, replace(BY_NAME, deposit_account=wrong))
        assert "deposit_account" in text and "Send payment information to" in text and words in text
        assert "DepositToAccountRef" not in text
    assert not [e for e in w.data_requests(mark) if "payment" in e["path"].lower() and not is_read(e)]


def test_accounts_chosen_by_name_resolve_to_their_ids_once_and_are_recorded(w: World) -> None:
    source = SettingsSource(BY_NAME, "file", Path("/srv/qbo/settings.yaml"), "ab" * 32)
    result = SyncEngine(w.store, w.conn.client, replace(BY_NAME, existing_items="use_as_is"),
                        settings_source=source).run()
    assert result.completed and result.counts["invoice.create.ok"] > 40
    assert result.accounts["revenue_account"] == {"chosen": "services", "id": "1", "name": "Services",
                                                  "type": "Income"}
    assert result.accounts["deposit_account"]["id"] == "4" and result.accounts["item_account"]["id"] == "9"
    (run,) = w.state.runs()
    assert run["detail"]["accounts"] == result.accounts
    assert run["settings_source"] == {"origin": "file", "path": "/srv/qbo/settings.yaml", "sha256": "ab" * 32}
    lines = [e.message for e in w.activity(result, entity="settings")]
    assert "revenue_account 'services' is account 1 Services (Income)" in lines
    assert "deposit_account 'Undeposited Funds' is account 4 Undeposited Funds (Other Current Asset)" in lines
    assert lines[0].startswith("settings from /srv/qbo/settings.yaml (sha256 abababababab)")
    # what QuickBooks holds carries the ids: an item the sync created, a payment it sent
    created = {i["Name"]: i for i in w.qbo("Item")}["Service Call"]
    assert created["IncomeAccountRef"]["value"] == "1" and created["ExpenseAccountRef"]["value"] == "9"
    payment = w.read("Payment", next(iter(w.state.links("payment").values())).qbo_id)
    assert payment["DepositToAccountRef"]["value"] == "4"


# ----------------------------------------------------------------------------- existing items


def test_an_existing_item_on_another_account_makes_its_invoices_wait_until_chosen(w: World) -> None:
    # the invoices using those items that would be created if the items were used as they are
    as_is = w.sync(replace(BY_NAME, existing_items="use_as_is"), dry_run=True)
    creates = {a.work_id for a in as_is.actions if a.entity == "invoice" and a.kind == "create"}
    waiting = invoices_using(w, "Installation", "Parts") & creates
    assert len(waiting) > 5
    plan = w.sync(BY_NAME, dry_run=True)  # the preview says it first
    assert plan.status == "failures"
    assert {a.work_id for a in plan.actions  # (the demo's credit notes on Parts wait too: entity credit_note)
            if a.entity == "invoice" and a.kind == "fail" and "existing_items" in a.reason} == waiting

    first = w.sync(BY_NAME)
    assert first.status == "failures" and first.failed >= len(waiting)
    links = w.state.links("invoice")
    assert not waiting & set(links), "an invoice posted to an item on another account without asking"
    assert creates - waiting <= set(links) and len(links) > 10  # the others went
    texts = {e.work_id: e.message for e in w.activity(first, entity="invoice", outcome="failed")
             if e.field == "existing_items"}
    assert set(texts) <= waiting and len(texts) > 5  # (a few wait for their client first)
    assert waiting <= {e.work_id for e in w.activity(first, entity="invoice", outcome="failed")}
    installation = next(t for t in texts.values() if "'Installation'" in t)
    assert ("QuickBooks already has an item named 'Installation' (item 3), which posts to Landscaping Services "
            "(account 10), not to Services (account 1) chosen in 'Send invoice information to'") in installation
    assert "existing_items: use_as_is" in installation and "own_item" in installation

    # they wait for a person (no retry queue), and are not reported again while nothing is chosen
    assert not set(texts) & set(w.state.get_value("pending:invoice", []))
    quiet = w.sync(BY_NAME)
    assert not [e for e in w.activity(quiet, entity="invoice", outcome="failed") if e.field == "existing_items"]
    # the user chooses: the waiting invoices go on the next run, to the items as they are
    second = w.sync(replace(BY_NAME, existing_items="use_as_is"))
    links = w.state.links("invoice")
    assert set(texts) <= set(links)
    said = [e.message for e in w.activity(second, entity="item")]
    assert len([m for m in said if "'Installation' (item 3) as it is" in m]) == 1
    assert any("Landscaping Services (account 10)" in m for m in said)
    inv_id = next(iter(invoices_using(w, "Installation")))
    refs = {line["SalesItemLineDetail"]["ItemRef"]["value"] for line in w.invoice_of(inv_id)["Line"]
            if line.get("DetailType") == "SalesItemLineDetail"}
    assert "3" in refs
    third = w.sync(replace(BY_NAME, existing_items="use_as_is"))
    assert [e for e in w.activity(third, entity="item")] == [], "the activity log says it once, not every run"


def test_own_item_creates_the_toolkits_item_on_the_chosen_account(w: World) -> None:
    chosen = replace(BY_NAME, existing_items="own_item")
    seed_items = {i["Name"]: i for i in w.qbo("Item")}
    first = w.sync(chosen)
    assert first.completed and not [e for e in w.activity(first, outcome="failed") if e.field == "existing_items"]
    items = {i["Name"]: i for i in w.qbo("Item")}
    for name in ("Installation", "Parts"):
        own = items[f"{name} (qbo-toolkit)"]
        assert own["IncomeAccountRef"]["value"] == "1" and own["ExpenseAccountRef"]["value"] == "9"
        assert items[name]["IncomeAccountRef"] == seed_items[name]["IncomeAccountRef"]  # the user's item untouched
    own_id = str(items["Installation (qbo-toolkit)"]["Id"])
    inv_id = next(iter(invoices_using(w, "Installation")))
    refs = {line["SalesItemLineDetail"]["ItemRef"]["value"] for line in w.invoice_of(inv_id)["Line"]
            if line.get("DetailType") == "SalesItemLineDetail"}
    assert own_id in refs and "3" not in refs
    assert any("created the toolkit's own item 'Installation (qbo-toolkit)'" in n for n in first.notices)
    w.sync(chosen)
    assert len(w.qbo("Item")) == len(items), "a second run made another item"


# ----------------------------------------------------------------------------- honest statuses


def test_a_run_with_failures_reads_completed_with_n_failures(w: World) -> None:
    first = w.sync()  # the demo's awkward client names fail, and their invoices and payments wait
    n = first.counts["failed"]
    assert n > 0
    assert first.status == "failures" and first.failed == n
    assert first.text == f"completed with {n} failures"
    assert f"completed with {n} failures" in first.message and f"completed with {n} failures" in str(first)
    (run,) = w.state.runs()
    assert run["status"] == "failures" and run["failed"] == n and run["text"] == f"completed with {n} failures"
    last = w.activity(first)[-1]
    assert (last.entity, last.action) == ("run", "finish")
    assert last.message == f"sync run {first.run_id} completed with {n} failures"
    summary = first.to_dict()  # what a job's summary.json holds
    assert (summary["status"], summary["failed"], summary["text"]) == ("failures", n, f"completed with {n} failures")
    again = w.sync()  # nothing new failed: an honest "completed"
    assert again.status == "ok" and again.failed == 0 and again.text == "completed"
    assert w.state.runs()[0]["text"] == "completed"
    assert w.activity(again)[-1].message == f"sync run {again.run_id} completed"


def test_the_default_item_on_another_account_is_asked_about_too(w: World) -> None:
    # revenue to Landscaping Services (10): the seed's "Services" (the default item, for lines without an
    # item) and "Hours" post to Services (1); Installation posts to 10 already
    landscaping = replace(BY_NAME, revenue_account="Landscaping Services")
    plan = w.sync(landscaping, dry_run=True)
    reasons = [a.reason for a in plan.actions if a.kind == "fail" and "existing_items" in a.reason]
    assert any("the default item Services (lines without an item)" in r for r in reasons)
    assert any("'Hours' (item 2), which posts to Services (account 1), not to Landscaping Services (account 10)"
               in r for r in reasons)
    assert not any("'Installation'" in r for r in reasons)
    first = w.sync(replace(landscaping, existing_items="own_item"))
    assert first.completed
    items = {i["Name"]: i for i in w.qbo("Item")}
    assert items["Services (qbo-toolkit)"]["IncomeAccountRef"]["value"] == "10"
    assert items["Hours (qbo-toolkit)"]["IncomeAccountRef"]["value"] == "10"
    assert "Installation (qbo-toolkit)" not in items  # Installation already posts to the chosen account


def test_run_sync_records_the_settings_source_it_is_given(w: World) -> None:
    from qbo_toolkit.sync.api import run_sync

    source = SettingsSource(replace(SETTINGS, invoices=False, payments=False), "app", w.home / "settings.yaml",
                            "cd" * 32)
    result = run_sync(source, store=w.store, conn=w.conn)
    assert result.settings_source == source.as_dict() == w.state.runs()[0]["settings_source"]
    assert result.accounts == {}  # nothing to check: no invoices, no account query
    (line,) = [e.message for e in w.activity(result, entity="settings")]
    assert line == f"settings from {w.home / 'settings.yaml'} (sha256 cdcdcdcdcdcd)"
