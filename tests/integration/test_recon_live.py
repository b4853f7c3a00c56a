"""Reconciliation against the emulator: sync a small demo business, prove both sides agree, then
plant differences on each side and find every one in its category.

After the sync, what may legitimately differ is information, not a difference:

* *not expected* -- WORK invoices and payments dated before the integration date, the void invoice
  never sent, and the emulator's seed invoices and payment (dated December 2025, before it);
* *waiting for a match decision* -- "Cool Cars" (a weak match) and the two "Bill's Windsurf Shop"
  clients (a multiple match), their QBO candidates, and their invoices and payments.

Then, with the emulator's clock moved on (QBO stamps whole seconds; the change must come after the
sync's last second to count as "changed after the sync"):

* QBO: an invoice's first line goes up by 10.00 (sparse update), another invoice is voided, a
  payment is deleted, a customer is added;
* WORK: an invoice's tax goes up by 1.00 and its due date by a week, without syncing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
from qbo_toolkit.settings import Settings
from qbo_toolkit.sync.engine import SyncEngine
from qbo_toolkit.sync.state import SyncState
from qbo_toolkit.work.demo import generate_demo
from qbo_toolkit.work.store import WorkStore

INTEGRATION = date(2026, 1, 1)
AS_OF = date(2026, 6, 30)
SETTINGS = Settings(invoices=True, revenue_account="1", item_account="9", payments=True, deposit_account="4",
                    integration_date=INTEGRATION, name_policy="fix")


@dataclass
class Synced:
    emu: EmulatorServer
    conn: Connection
    store: WorkStore

    def reconcile(self) -> ReconResult:
        return reconcile_live(self.conn, self.store, as_of=AS_OF, settings=SETTINGS)


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


def test_synced_demo_agrees_except_what_is_not_expected_or_waiting(synced: Synced) -> None:
    result = synced.reconcile()
    assert result.in_agreement, explain(result)
    assert all(t.difference == 0 for t in result.totals), result.totals
    waiting = result.frame("awaiting_match")
    customers = waiting[waiting["entity"] == "customer"]
    assert values(customers, "work_id") == {2, 4, 5}  # Cool Cars, Bill's Windsurf Shop (twice)
    assert values(customers, "qbo_id") == {2, 3}  # their QBO candidates
    assert {"invoice", "payment"} <= set(waiting["entity"])
    not_expected = result.frame("invoices_not_expected")
    assert {"1001", "1002"} <= set(not_expected.loc[not_expected["side"] == "QBO", "number"])  # seed invoices
    work_side = not_expected[not_expected["side"] == "WORK"]
    assert any("before the integration date" in r for r in work_side["reason"])
    assert any("void in WORK" in r for r in work_side["reason"])
    assert result.counts["payments_not_expected"] >= 1  # the seed's December payment
    assert "✓ WORK and QuickBooks agree." in to_html(result)


def test_planted_differences_are_each_found_in_their_category(synced: Synced) -> None:
    client, store = synced.conn.client, synced.store
    state = SyncState(store, synced.conn.realm_id)
    invoice_links = state.links("invoice")
    payment_links = state.links("payment")
    paid = store.paid_amounts()
    unpaid = [inv for inv in store.invoices() if inv.id in invoice_links and inv.id not in paid
              and inv.status == "open"]
    qbo_edited, work_edited, voided = unpaid[0], unpaid[1], unpaid[2]
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
    expected = {"invoices_total", "invoices_tax", "invoices_due_date", "invoices_balance", "invoices_void_or_deleted",
                "payments_missing_in_qbo", "customers_unlinked", "changed_in_qbo", "customer_balances", "aging_buckets"}
    assert {name for name, n in result.differences.items() if n} <= expected, explain(result)



def client_class(name: str) -> type:
    found = entity_class(name)
    assert found is not None
    return found
