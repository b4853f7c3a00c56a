"""The reconciliation of each company kind's demo (issue 13, point 4), through real HTTP.

For every kind (us-ast, us-manual, uk, ca, au) the demo business with taxed lines, terms, credit
notes and refunds is synced with that kind's tax settings, the match preview's decisions are taken
and synced, and the reconciliation -- QBO read over HTTP, WORK from its store, QBO's own
AgedReceivables and CustomerBalance reports tied out per customer -- agrees to the cent. Then
differences are planted in WORK, without syncing, and each is found in its category:

* tax: one invoice line moves to another WORK tax rate (WORK recomputes its tax) -> ``tax_by_rate``
  (where QBO states tax per rate) and ``invoices_tax``;
* a credit note's amount changes -> ``credit_notes_amount`` and the unapplied credit / tie-out of
  its customer;
* closed books: QBO's books are closed after a new WORK invoice's date; the sync leaves it waiting
  with its sentence, and the reconciliation lists it as pending (not as a difference).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from synckit import SETTINGS, World, open_world

from qbo_toolkit.recon import ReconResult, reconcile_live
from qbo_toolkit.settings import Settings, TaxSettings
from qbo_toolkit.sync.state import SyncState
from qbo_toolkit.work.demo import generate_demo

START = date(2026, 1, 1)
AS_OF = date(2026, 11, 30)
DEMO = {"clients": 40, "invoices": 60, "payments": 40}
#: Seed account 5 is Checking (Bank): refunds are paid from it.
CREDITS = replace(SETTINGS, refunds=True, refund_account="5", name_policy="fix")
KINDS: dict[str, TaxSettings | None] = {
    "us-ast": None,
    "us-manual": TaxSettings(codes={"California": "California"}, invoice_code="Out of state"),
    "uk": TaxSettings(mode="tax_codes", codes={"VAT 20%": "20.0% S", "VAT 5%": "5.0% R", "VAT zero rated": "0.0% Z"}),
    "ca": TaxSettings(mode="tax_codes", codes={"HST ON": "HST ON", "Zero-rated": "Zero-rated"}),
    "au": TaxSettings(mode="tax_codes", codes={"GST": "GST", "GST free": "GST free"}),
}


def explain(result: ReconResult) -> str:
    shown: dict[str, Any] = {name: result.frame(name).head(3).to_dict("records")
                             for name, n in result.differences.items() if n}
    shown["pending"] = result.frame("pending").head(3).to_dict("records")
    shown["tie_out"] = result.tie_out
    return json.dumps(shown, default=str, indent=1)


def decide_matches(w: World) -> None:
    """As the live test decides them: a QBO candidate goes to the first WORK client that matched it;
    another WORK client matching the same customer is another business (renamed, rejected)."""
    state = SyncState(w.store, w.realm)
    taken: set[int] = set()
    for match in sorted(state.matches("pending"), key=lambda m: int(m["work_id"])):
        work_id, qbo_id = int(match["work_id"]), int(match["qbo_id"])
        if qbo_id not in taken:
            taken.add(qbo_id)
            state.decide_match(work_id, str(qbo_id), True)
        else:
            client = w.store.get_client(work_id)
            assert client is not None
            w.store.update_client(work_id, display_name=f"{client.display_name} North")
            state.decide_match(work_id, None, False)


def synced_world_agrees(w: World, settings: Settings) -> ReconResult:
    first = w.sync(settings)
    assert first.completed, first.message
    decide_matches(w)
    assert w.sync(settings).completed
    result = reconcile_live(w.conn, w.store, as_of=AS_OF, settings=settings)
    assert result.pending_count == 0, result.frame("pending")[["entity", "work_id", "reason"]].to_dict("records")
    assert result.in_agreement, explain(result)
    assert result.tie_out.startswith("done: QBO's AgedReceivables and CustomerBalance agree"), result.tie_out
    assert len(result.table("tieout")) > 0
    return result


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kinds_demo_agrees_and_planted_differences_are_found(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    with open_world(tmp_path, monkeypatch, with_demo=False, company_kind=kind) as w:
        w.demo = generate_demo(w.store, integration_date=START, tax_kind=kind, **DEMO)
        tax = KINDS[kind]
        settings = CREDITS if tax is None else replace(CREDITS, tax=tax)
        agreed = synced_world_agrees(w, settings)
        assert agreed.total("credit_notes").work == agreed.total("credit_notes").qbo > 0

        # -- tax: a line of a synced, taxed invoice moves to another WORK rate (not synced)
        links = w.state.links("invoice")
        percents = {r.name: r.rate for r in w.store.tax_rates()}
        taxed = next(inv for inv in w.store.invoices() if inv.id in links and inv.status == "open"
                     and any(percents.get(line.tax_rate, 0) > 0 for line in inv.lines) and inv.issue_date >= START)
        line = next(line for line in taxed.lines if percents.get(line.tax_rate, 0) > 0)
        other = next((r for r in w.store.tax_rates() if r.active and r.rate != percents[line.tax_rate]
                      and (tax is None or r.name in tax.codes)), None) or w.store.add_tax_rate("Planted 5%", "5")
        # -- a credit note's amount changes (not synced)
        note = next(n for n in w.store.credit_notes() if n.date >= START)
        w.store.update_credit_note(note.id, amount=note.amount + Decimal("1.00"))
        lines = [{"item_id": x.item_id, "description": x.description, "qty": x.qty, "unit_price": x.unit_price,
                  "taxable": x.taxable, "tax_rate": other.name if x is line else x.tax_rate} for x in taxed.lines]
        w.store.update_invoice(taxed.id, lines=lines)
        result = reconcile_live(w.conn, w.store, as_of=AS_OF, settings=settings)
        assert not result.in_agreement
        amounts = result.frame("credit_notes_amount")
        assert note.id in set(amounts["work_id"].tolist()), explain(result)
        assert taxed.id in set(result.frame("invoices_tax")["work_id"].tolist()), explain(result)
        by_rate = result.frame("tax_by_rate")
        if not kind.startswith("us-"):  # QBO states the tax per rate of every line's TaxCode
            assert taxed.id in set(by_rate["work_id"].tolist()), explain(result)

        # -- closed books: a new WORK invoice dated inside them waits, and is pending here
        from test_sync_closed_books import close_books

        client_id = next(iter(w.state.links("customer")))
        late = w.store.add_invoice("CLOSED-1", client_id, date(2026, 2, 2), lines=[
            {"description": "Visit", "qty": Decimal("1"), "unit_price": Decimal("90.00"), "taxable": True,
             "tax_rate": line.tax_rate}])
        close_books(w, "2026-02-28")
        w.sync(settings)
        closed = reconcile_live(w.conn, w.store, as_of=AS_OF, settings=settings)
        pending = closed.frame("pending")
        row = pending.loc[(pending["entity"] == "invoice") & (pending["work_id"] == late.id)]
        assert len(row) == 1, pending.to_dict("records")
        assert "2026-02-28" in row["reason"].iloc[0] and row["status"].iloc[0] == "sync_failed"
        assert late.id not in set(closed.frame("invoices_missing_in_qbo")["work_id"].tolist())
