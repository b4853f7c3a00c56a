"""Reconciliation against the emulator: sync a small demo business, prove both sides agree, then
plant differences on each side and find every one in its category.

After the sync, what may legitimately be on one side only is information, not a difference:

* *not expected* -- WORK invoices and payments dated before the integration date, the void invoice
  never sent, and the emulator's seed invoices and payment (dated December 2025, before it).

What the sync has not finished with is *pending*, and the verdict is not "agree" while any is left:

* *waiting for a match decision* -- "Cool Cars" (a weak match) and the two "Bill's Windsurf Shop"
  clients (a multiple match), and their invoices and payments, each with its amount and customer;
  after the decisions and a sync, both sides agree;
* *sync failed* -- a client whose name QBO refuses (name_policy report), its invoice and payment.

Then, with the emulator's clock moved on (QBO stamps whole seconds; the change must come after the
sync's last second to count as "changed after the sync"):

* QBO: an invoice's first line goes up by 10.00 (sparse update), another invoice is voided, a
  payment is deleted, a customer is added;
* WORK: an invoice's tax goes up by 1.00 and its due date by a week, without syncing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from qbo_toolkit.connection import Connection, connect_headless
from qbo_toolkit.emulator import EmulatorServer
from qbo_toolkit.qbo.client import entity_class
from qbo_toolkit.recon import ReconResult, reconcile_live, to_html
from qbo_toolkit.recon.render import summary_frame
from qbo_toolkit.settings import Settings, resolve_settings
from qbo_toolkit.sync.engine import SyncEngine
from qbo_toolkit.sync.state import SyncState
from qbo_toolkit.work.demo import generate_demo
from qbo_toolkit.work.store import WorkStore

INTEGRATION = date(2026, 1, 1)
AS_OF = date(2026, 6, 30)
# The demo's "Installation" and "Parts" match QBO items that post to other income accounts: use them
# as they are (the sync otherwise waits for that choice, with ``existing_items``).
SETTINGS = Settings(invoices=True, revenue_account="1", item_account="9", payments=True, deposit_account="4",
                    integration_date=INTEGRATION, name_policy="fix", existing_items="use_as_is")
HELD = {2: "Cool Cars", 4: "Bill's Windsurf Shop", 5: "Bill's Windsurf Shop"}  # WORK client -> name


@dataclass
class Synced:
    emu: EmulatorServer
    conn: Connection
    store: WorkStore

    def reconcile(self) -> ReconResult:
        return reconcile_live(self.conn, self.store, as_of=AS_OF, settings=SETTINGS)

    def sync(self, settings: Settings = SETTINGS) -> None:
        SyncEngine(self.store, self.conn.client, settings).run()

    def decide_matches(self) -> None:
        """Cool Cars is the QBO customer of that name; the first Bill's Windsurf Shop is the QBO one,
        the second is another business (renamed in WORK, its candidate rejected)."""
        state = SyncState(self.store, self.conn.realm_id)
        candidates = {m["work_id"]: m["qbo_id"] for m in state.matches("pending")}
        assert set(candidates) == set(HELD), candidates
        state.decide_match(2, candidates[2], True)
        state.decide_match(4, candidates[4], True)
        self.store.update_client(5, display_name="Bill's Windsurf Shop North")
        state.decide_match(5, None, False)


@pytest.fixture
def synced(start_emulator: Callable[..., EmulatorServer], tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Synced]:
    emu = start_emulator(time_scale=60.0)
    info = tmp_path / "emulator.json"
    info.write_text(json.dumps(emu.info))
    monkeypatch.setenv("QBO_EMULATOR_INFO", str(info))
    conn = connect_headless()
    store = WorkStore("sqlite://")
    generate_demo(store, clients=40, invoices=120, payments=80, integration_date=INTEGRATION)
    first = SyncEngine(store, conn.client, SETTINGS).run()
    assert first.counts["held"] == 3, str(first)
    yield Synced(emu, conn, store)
    store.close()


def explain(result: ReconResult) -> str:
    shown = {name: result.frame(name).head(5).to_dict("records") for name, n in result.differences.items() if n}
    return json.dumps(shown, default=str, indent=1)


def values(frame: pd.DataFrame, column: str) -> set[Any]:
    return {int(v) for v in frame[column].dropna()}


def test_waiting_matches_keep_the_verdict_from_agree_until_decided_and_synced(synced: Synced) -> None:
    store = synced.store
    result = synced.reconcile()
    assert result.difference_count == 0, explain(result)
    assert all(t.difference == 0 for t in result.totals), result.totals
    assert not result.in_agreement  # records wait for a decision: not yet in agreement

    pending = result.frame("pending")
    assert set(pending["status"]) == {"waiting_match"}
    customers = pending[pending["entity"] == "customer"]
    assert {int(w): c for w, c in zip(customers["work_id"], customers["customer"], strict=True)} == HELD
    assert values(customers, "qbo_id") == {2, 3}  # each names its QBO candidate
    assert all("decide the match" in reason for reason in customers["reason"])
    # every invoice and payment of a held client, with its amount, number and customer by name
    invoices = {i.id: i for i in store.invoices() if i.client_id in HELD and i.status == "open"
                and i.issue_date >= INTEGRATION}
    held_invoices = pending[pending["entity"] == "invoice"].set_index("work_id")
    assert set(held_invoices.index) == set(invoices) and invoices
    for work_id, row in held_invoices.iterrows():
        inv = invoices[int(work_id)]
        assert row["amount_cents"] == int(inv.total * 100) and row["number"] == inv.number
        assert row["customer"] == HELD[inv.client_id]
    payments = {p.id: p for p in store.payments() if p.invoice_id in invoices}
    held_payments = pending[pending["entity"] == "payment"].set_index("work_id")
    assert set(held_payments.index) == set(payments) and payments
    for work_id, row in held_payments.iterrows():
        pay = payments[int(work_id)]
        assert row["amount_cents"] == int(pay.amount * 100)
        assert row["customer"] == HELD[invoices[pay.invoice_id].client_id]
    n = len(pending)
    assert result.exceeds() == {"pending": n}  # a job exits 1
    assert result.exceeds({"pending": n}) == {}
    assert result.verdict == (f"Not yet in agreement: {n} records pending (3 customers, {len(invoices)} invoices, "
                              f"{len(payments)} payments waiting for a match decision).")
    html = to_html(result)
    assert "✓ WORK and QuickBooks agree." not in html and f"✗ {result.verdict}" in html
    assert "Bill&#39;s Windsurf Shop" in html
    data = json.loads(json.dumps(result.to_dict()))
    assert data["in_agreement"] is False and data["pending_count"] == n
    assert data["pending"] == {"waiting_match": {"customer": 3, "invoice": len(invoices), "payment": len(payments)}}
    listed = {r["work_id"]: r for r in data["categories"]["pending"] if r["entity"] == "invoice"}
    first = next(iter(invoices.values()))
    assert listed[first.id]["amount"] == str(first.total) and listed[first.id]["customer"] == HELD[first.client_id]

    not_expected = result.frame("invoices_not_expected")
    assert {"1001", "1002"} <= set(not_expected.loc[not_expected["side"] == "QBO", "number"])  # seed invoices
    work_side = not_expected[not_expected["side"] == "WORK"]
    assert any("before the integration date" in r for r in work_side["reason"])
    assert any("void in WORK" in r for r in work_side["reason"])
    assert result.counts["payments_not_expected"] >= 1  # the seed's December payment

    # the decisions, then a sync: nothing is pending, and both sides agree
    synced.decide_matches()
    synced.sync()
    after = synced.reconcile()
    assert after.pending_count == 0, after.frame("pending").to_dict("records")
    assert after.in_agreement, explain(after)
    # ... and QBO's own AgedReceivables and CustomerBalance reports tie out, customer by customer
    tieout = after.table("tieout")
    assert len(tieout)
    assert (tieout["difference_cents"] == 0).all() and (tieout["balance_difference_cents"] == 0).all()
    assert after.total("ar_aged_report").difference == 0 and after.total("ar_balance_report").difference == 0
    assert after.verdict == "WORK and QuickBooks agree."
    assert after.exceeds() == {}
    assert "✓ WORK and QuickBooks agree." in to_html(after)


def test_records_whose_sync_failed_keep_the_verdict_from_agree(synced: Synced) -> None:
    store = synced.store
    synced.decide_matches()
    synced.sync()
    hours = store.item_by_name("Hours")
    assert hours is not None
    client = store.add_client(display_name="Zephyr: Tile Works")  # QBO refuses a colon in a name
    inv = store.add_invoice("T-COLON-1", client.id, date(2026, 2, 2), lines=[
        {"item_id": hours.id, "description": "Labor", "qty": Decimal("3"), "unit_price": Decimal("75.00")}])
    pay = store.add_payment(inv.id, date(2026, 2, 10), Decimal("100.00"), "check", "5521")
    synced.sync(replace(SETTINGS, name_policy="report"))

    result = synced.reconcile()
    assert not result.in_agreement
    pending = result.frame("pending")
    assert set(pending["status"]) == {"sync_failed"}, pending.to_dict("records")
    rows = {(r["entity"], r["work_id"]): r for r in pending.to_dict("records")}
    assert set(rows) == {("customer", client.id), ("invoice", inv.id), ("payment", pay.id)}
    assert rows[("customer", client.id)]["customer"] == "Zephyr: Tile Works"
    assert "colon" in rows[("customer", client.id)]["reason"]
    assert (rows[("invoice", inv.id)]["amount_cents"], rows[("invoice", inv.id)]["number"]) == (22500, "T-COLON-1")
    assert rows[("payment", pay.id)]["amount_cents"] == 10000
    assert all(r["customer"] == "Zephyr: Tile Works" and r["reason"].startswith("sync failed: ") for r in rows.values())
    # listed once, with the sync's sentence: not again as missing in QBO
    assert result.difference_count == 0, explain(result)
    assert result.exceeds() == {"pending": 3}
    assert result.verdict == ("Not yet in agreement: 3 records pending (1 customer, 1 invoice, 1 payment whose sync "
                              "failed).")

    # fixed in WORK and synced: the failures close, and both sides agree
    store.update_client(client.id, display_name="Zephyr Tile Works")
    synced.sync(replace(SETTINGS, name_policy="report"))
    after = synced.reconcile()
    assert after.pending_count == 0, after.frame("pending").to_dict("records")
    assert after.in_agreement, explain(after)


def test_the_result_and_its_report_state_the_settings_used(synced: Synced, tmp_path: Path) -> None:
    path = tmp_path / "chosen.yaml"
    path.write_text(SETTINGS.to_yaml(), encoding="utf-8")
    source = resolve_settings(path)
    result = reconcile_live(synced.conn, synced.store, as_of=AS_OF, settings=source)
    assert result.integration_date == INTEGRATION  # the file's settings were the ones used
    assert result.settings is not None and result.settings["path"] == str(path)
    assert result.settings["sha256"] == source.sha256 and result.settings["origin"] == "file"
    description = f"settings {path} (sha256 {source.sha256[:12] if source.sha256 else ''})"
    assert result.settings_description == description
    assert f"Settings: {description}" in to_html(result)
    data = json.loads(json.dumps(result.to_dict(records=False)))
    assert data["settings"] == {"origin": "file", "path": str(path), "sha256": source.sha256,
                                "description": description}
    summary = summary_frame(result).set_index("name")["value"]
    assert summary["settings_file"] == str(path) and summary["settings_sha256"] == source.sha256

    # nothing named and nothing saved by the app: the defaults, and the report says so
    plain = reconcile_live(synced.conn, synced.store, as_of=AS_OF)
    assert plain.settings is not None and plain.settings["origin"] == "defaults"
    assert "the default settings (no settings file" in to_html(plain)
    assert plain.integration_date is None


def test_planted_differences_are_each_found_in_their_category(synced: Synced) -> None:
    client, store = synced.conn.client, synced.store
    state = SyncState(store, synced.conn.realm_id)
    invoice_links = state.links("invoice")
    payment_links = state.links("payment")
    paid = store.paid_amounts()
    unpaid = [inv for inv in store.invoices() if inv.id in invoice_links and inv.id not in paid
              and inv.status == "open"]
    # WORK computes the tax of lines with a tax rate: the WORK edit plants an explicit tax on an invoice without
    work_edited = next(inv for inv in unpaid if not any(line.tax_rate for line in inv.lines))
    qbo_edited, voided = [inv for inv in unpaid if inv.id != work_edited.id][:2]
    payment = next(p for p in store.payments() if p.id in payment_links)
    synced.emu.clock.advance(120)

    # QBO: one line of an invoice goes up by 10.00 (a sparse update with the whole Line list)
    raw: dict[str, Any] = client.read(client_class("Invoice"), invoice_links[qbo_edited.id].qbo_id).to_dict()
    lines = [line for line in raw["Line"] if line["DetailType"] == "SalesItemLineDetail"]
    sent = []
    for index, line in enumerate(lines):
        detail = line["SalesItemLineDetail"]
        amount = Decimal(str(line["Amount"])) + (Decimal("10.00") if index == 0 else 0)
        qty, price = (Decimal(1), amount) if index == 0 else (detail["Qty"], detail["UnitPrice"])
        sent.append({"Id": line["Id"], "DetailType": "SalesItemLineDetail", "Amount": amount,
                     "SalesItemLineDetail": {"ItemRef": {"value": detail["ItemRef"]["value"]}, "Qty": qty,
                                             "UnitPrice": price, "TaxCodeRef": detail["TaxCodeRef"]}})
    client.sparse_update("Invoice", raw["Id"], raw["SyncToken"], {"Line": sent}, request_id="recon-plant-invoice")
    # QBO: another invoice is voided
    raw_void: dict[str, Any] = client.read(client_class("Invoice"), invoice_links[voided.id].qbo_id).to_dict()
    client.void("Invoice", raw_void["Id"], raw_void["SyncToken"], request_id="recon-plant-void")
    # QBO: a payment is deleted
    qbo_payment: dict[str, Any] = client.read(client_class("Payment"), payment_links[payment.id].qbo_id).to_dict()
    client.delete("Payment", qbo_payment["Id"], qbo_payment["SyncToken"], request_id="recon-plant-payment")
    # QBO: a customer WORK does not know
    newcomer = client.create_from("Customer", {"DisplayName": "Recon Newcomer Ltd"}, request_id="recon-plant-cust")
    # WORK: an invoice edited after the sync, not synced
    store.update_invoice(work_edited.id, tax_amount=work_edited.tax_amount + Decimal("1.00"),
                         due_date=(work_edited.due_date or work_edited.issue_date) + timedelta(days=7))

    result = synced.reconcile()
    assert not result.in_agreement
    paid_invoice = payment.invoice_id

    total = result.frame("invoices_total").set_index("work_id")["difference_cents"].to_dict()
    assert total == {qbo_edited.id: 1000, work_edited.id: -100}
    assert result.frame("invoices_tax").set_index("work_id")["difference_cents"].to_dict() == {work_edited.id: -100}
    assert values(result.frame("invoices_due_date"), "work_id") == {work_edited.id}
    balance = result.frame("invoices_balance").set_index("work_id")["difference_cents"].to_dict()
    assert balance == {qbo_edited.id: 1000, work_edited.id: -100,
                       paid_invoice: int(payment.amount * 100)}  # QBO gave the deleted payment back
    one_side = result.frame("invoices_void_or_deleted")
    assert one_side[["work_id", "work_status", "qbo_status"]].to_dict("records") == [
        {"work_id": voided.id, "work_status": "open", "qbo_status": "void"}]
    missing = result.frame("payments_missing_in_qbo")
    assert missing[["work_id", "reason"]].to_dict("records") == [{"work_id": payment.id, "reason": "deleted in QBO"}]
    unlinked = result.frame("customers_unlinked")
    assert unlinked[["side", "qbo_id", "name"]].to_dict("records") == [
        {"side": "QBO", "qbo_id": int(newcomer.Id), "name": "Recon Newcomer Ltd"}]
    changed = result.frame("changed_in_qbo")
    changed_invoices = values(changed[changed["entity"] == "invoice"], "work_id")
    assert changed_invoices == {qbo_edited.id, voided.id, paid_invoice}  # edited, voided, its payment removed
    paid_client = next(inv.client_id for inv in store.invoices() if inv.id == paid_invoice)
    clients = {qbo_edited.client_id, work_edited.client_id, voided.client_id, paid_client}
    assert voided.client_id in values(result.frame("customer_balances"), "work_id")
    assert values(result.frame("customer_balances"), "work_id") <= clients
    assert result.counts["aging_buckets"] >= 1
    # the tie-out to QBO's own reports finds the same customers: QBO's edit (+10.00), the void, the
    # deleted payment (QBO owed more) and WORK's edit (WORK owes 1.00 more)
    tied = result.frame("tieout_customers")
    assert not tied["qbo_id"].isna().any(), explain(result)  # both reports were read and used
    tied_clients = values(tied, "work_id")
    assert {qbo_edited.client_id, work_edited.client_id, voided.client_id, paid_client} <= tied_clients <= clients
    assert result.counts["tieout_aging"] >= 1
    expected = {"invoices_total", "invoices_tax", "invoices_due_date", "invoices_balance", "invoices_void_or_deleted",
                "payments_missing_in_qbo", "customers_unlinked", "changed_in_qbo", "customer_balances", "aging_buckets",
                "tieout_customers", "tieout_aging"}
    assert {name for name, n in result.differences.items() if n} <= expected, explain(result)



def client_class(name: str) -> type:
    found = entity_class(name)
    assert found is not None
    return found
