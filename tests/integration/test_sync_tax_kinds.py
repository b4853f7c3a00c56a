"""Invoices with sales tax to each kind of QBO company, through the emulator over HTTP.

Datasets (WORK, built per test): one client, one item, and invoices whose lines carry WORK tax rates:
- uk: "VAT 20%" (20), "VAT 5%" (5) and an unrated line mapped to "Exempt"
- ca: "GST" (5), "HST ON" (13), unrated -> "Exempt";  au: "GST" (10), "GST free" (0), unrated -> "GST free"
- us-manual: "CA sales" (8.25) mapped to the company's "California" code (one code per invoice)
- us-ast (the demo's company): terms, class and payment methods by name
Planted: a WORK rate no code maps (the invoice waits, then goes once mapped); a rate mapped to a code
of another percent (QBO's tax differs from WORK's: reported, naming the invoice); a non-US company
with the US default tax mode (refused before anything is written).

Oracle: QBO read over HTTP (TotalAmt, TotalTax, each line's TaxCodeRef), the WORK store, and the
emulator's request log for what was written."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from synckit import World, is_read, money, open_world

from qbo_toolkit.settings import Settings, SettingsError, TaxSettings
from qbo_toolkit.work.models import Address, Invoice

BASE = Settings(invoices=True, revenue_account="Services", item_account="Subcontractor Costs", payments=True,
                deposit_account="Undeposited Funds", integration_date=date(2026, 1, 1), existing_items="use_as_is")

#: kind -> (WORK rates {name: percent}, tax.codes {WORK rate: QBO code name}, the client's country)
KINDS: dict[str, tuple[dict[str, str], dict[str, str], str]] = {
    "uk": ({"VAT 20%": "20", "VAT 5%": "5"}, {"VAT 20%": "20.0% S", "VAT 5%": "5.0% R", "": "Exempt"}, "GB"),
    "ca": ({"GST": "5", "HST ON": "13"}, {"GST": "GST", "HST ON": "HST ON", "": "Exempt"}, "CA"),
    "au": ({"GST": "10", "GST free": "0"}, {"GST": "GST", "GST free": "GST free", "": "GST free"}, "AU"),
}


def _world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> AbstractContextManager[World]:
    return open_world(tmp_path, monkeypatch, with_demo=False, company_kind=kind)


def _setup(w: World, rates: dict[str, str], country: str) -> tuple[int, int]:
    for name, percent in rates.items():
        w.store.add_tax_rate(name, Decimal(percent))
    client = w.store.add_client(display_name="Harbour Works", email="office@harbour.example",
                                billing=Address("1 Quay St", "", "Port", "", "0001", country))
    item = w.store.add_item("Pump service", rate=Decimal("100.00"))
    return client.id, item.id


def _invoice(w: World, number: str, client_id: int, item_id: int, rates: list[str], **kw: Any) -> Invoice:
    prices = [Decimal("100.00"), Decimal("33.33"), Decimal("10.00")]
    qtys = [Decimal("1"), Decimal("3"), Decimal("1")]
    lines = [{"item_id": item_id, "description": f"line {n}", "qty": qtys[n], "unit_price": prices[n],
              "tax_rate": rate} for n, rate in enumerate(rates)]
    return w.store.add_invoice(number, client_id, kw.pop("issue_date", date(2026, 2, 10)), lines=lines, **kw)


def _codes(w: World) -> dict[str, str]:
    return {str(c["Name"]): str(c["Id"]) for c in w.qbo("TaxCode")}


def _writes(w: World, mark: int) -> list[str]:
    return [f"{e['method']} {e['path']}" for e in w.data_requests(mark) if not is_read(e)]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_non_us_invoices_go_with_a_tax_code_per_line_and_tie_to_the_cent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    rates, codes, country = KINDS[kind]
    with _world(tmp_path, monkeypatch, kind) as w:
        client_id, item_id = _setup(w, rates, country)
        first, second = list(rates)
        inv = _invoice(w, "T-1", client_id, item_id, [first, second, ""])
        assert inv.tax_amount > 0
        settings = replace(BASE, tax=TaxSettings("tax_codes", codes))
        run = w.sync(settings)
        assert run.status == "ok", [e.message for e in w.activity(run, outcome="failed")]
        qbo = w.invoice_of(inv.id)
        assert money(qbo["TotalAmt"]) == inv.total and money(qbo["TxnTaxDetail"]["TotalTax"]) == inv.tax_amount
        company_codes = _codes(w)
        sent = [line["SalesItemLineDetail"]["TaxCodeRef"]["value"] for line in qbo["Line"]
                if line.get("DetailType") == "SalesItemLineDetail"]
        assert sent == [company_codes[codes[first]], company_codes[codes[second]], company_codes[codes[""]]]
        assert qbo.get("GlobalTaxCalculation") == "TaxExcluded"
        # the run's record says what kind of company it found
        assert any("outside the US" in n for n in run.notices)
        mark = w.log_mark()
        again = w.sync(settings)
        assert again.counts["ok"] == 0 and _writes(w, mark) == []


def test_a_non_us_company_refuses_the_us_tax_mode_before_anything_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with _world(tmp_path, monkeypatch, "uk") as w:
        client_id, item_id = _setup(w, {"VAT 20%": "20"}, "GB")
        _invoice(w, "T-1", client_id, item_id, ["VAT 20%"])
        mark = w.log_mark()
        with pytest.raises(SettingsError) as caught:
            w.sync(BASE)
        text = str(caught.value)
        assert "tax.mode is explicit_total" in text and "tax.mode: tax_codes" in text and "20.0% S" in text
        assert _writes(w, mark) == []
        with pytest.raises(SettingsError, match=r"tax.codes \('VAT 20%'\): QuickBooks has no active tax code 'VAT 20'; "
                                                r"the company has 0.0% Z, 20.0% S, 5.0% R, Exempt"):
            w.sync(replace(BASE, tax=TaxSettings("tax_codes", {"VAT 20%": "VAT 20"})))


def test_an_unmapped_rate_waits_with_a_sentence_then_goes_once(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    rates, codes, country = KINDS["uk"]
    with _world(tmp_path, monkeypatch, "uk") as w:
        client_id, item_id = _setup(w, rates, country)
        inv = _invoice(w, "T-7", client_id, item_id, ["VAT 20%", "VAT 5%"])
        partial = replace(BASE, tax=TaxSettings("tax_codes", {"VAT 20%": "20.0% S"}))
        run = w.sync(partial)
        (failed,) = [e for e in w.activity(run, outcome="failed") if e.work_id == inv.id]
        assert failed.field == "lines[2].tax_rate"
        assert "invoice T-7 line 2 has WORK tax rate 'VAT 5%'" in failed.message and "5.0% R" in failed.message
        assert [i for i in w.qbo("Invoice") if i.get("DocNumber") == "T-7"] == []
        w.sync(partial)  # still waiting: tried again, never sent
        assert [i for i in w.qbo("Invoice") if i.get("DocNumber") == "T-7"] == []
        full = replace(BASE, tax=TaxSettings("tax_codes", codes))
        done = w.sync(full)
        assert done.status == "ok"
        assert len([i for i in w.qbo("Invoice") if i.get("DocNumber") == "T-7"]) == 1
        assert money(w.invoice_of(inv.id)["TotalAmt"]) == inv.total
        w.sync(full)
        assert len([i for i in w.qbo("Invoice") if i.get("DocNumber") == "T-7"]) == 1


def test_a_tax_difference_is_reported_naming_the_invoice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with _world(tmp_path, monkeypatch, "uk") as w:
        client_id, item_id = _setup(w, {"VAT 20%": "20"}, "GB")
        inv = _invoice(w, "T-9", client_id, item_id, ["VAT 20%"])
        wrong = replace(BASE, tax=TaxSettings("tax_codes", {"VAT 20%": "5.0% R"}))  # a 5 % code
        run = w.sync(wrong)
        assert run.status == "failures"
        (diff,) = [e for e in w.activity(run, outcome="failed") if e.field == "tax_amount"]
        assert diff.work_id == inv.id
        assert diff.message.startswith("invoice T-9: QuickBooks computed tax 5.00") and "WORK has 20.00" in diff.message
        assert money(w.invoice_of(inv.id)["TxnTaxDetail"]["TotalTax"]) == Decimal("5.00")  # sent once, not hidden


def test_us_manual_sends_one_tax_code_per_invoice_and_ties(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with _world(tmp_path, monkeypatch, "us-manual") as w:
        client_id, item_id = _setup(w, {"CA sales": "8.25"}, "US")
        inv = _invoice(w, "M-1", client_id, item_id, ["CA sales", "CA sales", ""])
        assert inv.tax_amount == Decimal("16.50")  # 8.25 % of 199.99, half-up
        settings = replace(BASE, tax=TaxSettings("explicit_total", {"CA sales": "California"}))
        run = w.sync(settings)
        assert run.status == "ok", [e.message for e in w.activity(run, outcome="failed")]
        qbo = w.invoice_of(inv.id)
        assert qbo["TxnTaxDetail"]["TxnTaxCodeRef"]["value"] == _codes(w)["California"]
        assert money(qbo["TotalAmt"]) == inv.total and money(qbo["TxnTaxDetail"]["TotalTax"]) == inv.tax_amount
        assert [line["SalesItemLineDetail"]["TaxCodeRef"]["value"] for line in qbo["Line"]
                if line.get("DetailType") == "SalesItemLineDetail"] == ["TAX", "TAX", "NON"]
        # without a code for the invoice it waits, naming both settings that can give one
        other = _invoice(w, "M-2", client_id, item_id, ["CA sales"])
        waiting = w.sync(replace(BASE, tax=TaxSettings("explicit_total", {})))
        (failed,) = [e for e in w.activity(waiting, outcome="failed") if e.work_id == other.id]
        assert "manual sales tax" in failed.message and "tax.invoice_code" in failed.message


def test_terms_class_and_payment_methods_go_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with _world(tmp_path, monkeypatch, "us-ast") as w:
        client = w.store.add_client(display_name="Maple Roofing", email="hi@maple.example",
                                    billing=Address("9 Elm St", "", "Springfield", "IL", "62701", "US"))
        lines = [{"item_id": None, "description": "Roof check", "qty": Decimal("1"), "unit_price": Decimal("80.00"),
                  "taxable": True}]
        net15 = w.store.add_invoice("R-1", client.id, date(2026, 2, 10), lines=lines, tax_amount=Decimal("6.60"),
                                    terms="Net 15")
        odd = w.store.add_invoice("R-2", client.id, date(2026, 2, 11), lines=lines, tax_amount=Decimal("6.60"),
                                  terms="Net 45")
        visa = w.store.add_payment(net15.id, date(2026, 2, 20), Decimal("40.00"), method="visa")
        ach = w.store.add_payment(net15.id, date(2026, 2, 21), Decimal("10.00"), method="ACH")
        settings = replace(BASE, revenue_account="1", item_account="9", deposit_account="4", class_="Residential")
        run = w.sync(settings)
        terms = {str(t["Name"]): str(t["Id"]) for t in w.qbo("Term")}
        classes = {str(c["Name"]): str(c["Id"]) for c in w.qbo("Class")}
        qbo = w.invoice_of(net15.id)
        assert qbo["SalesTermRef"]["value"] == terms["Net 15"]
        assert qbo["DueDate"][:10] == (net15.issue_date + timedelta(days=15)).isoformat()
        assert qbo["ClassRef"]["value"] == classes["Residential"]
        assert money(qbo["TotalAmt"]) == net15.total  # the explicit total tax, as always on AST
        (waiting,) = [e for e in w.activity(run, outcome="failed") if e.work_id == odd.id]
        assert waiting.field == "terms" and "'Net 45'" in waiting.message
        methods = {str(m["Name"]): str(m["Id"]) for m in w.qbo("PaymentMethod")}
        paid = w.read("Payment", w.state.links("payment")[visa.id].qbo_id)
        assert paid["PaymentMethodRef"]["value"] == methods["Visa"]
        cash = w.read("Payment", w.state.links("payment")[ach.id].qbo_id)  # sent without a method QBO lacks
        assert not (cash.get("PaymentMethodRef") or {}).get("value")
        assert any("payment method 'ACH'" in n for n in run.notices)
        with pytest.raises(SettingsError, match="class: QuickBooks has no active class 'Residental'; did you mean "
                                                "Residential"):
            w.sync(replace(settings, class_="Residental"))
        with pytest.raises(SettingsError, match=r"payment_methods \('ACH'\): QuickBooks has no active payment method "
                                                r"'Wire'"):
            w.sync(replace(settings, payment_methods={"ACH": "Wire"}))
        mapped = w.sync(replace(settings, payment_methods={"ACH": "Direct Debit"}, terms={"Net 45": "Net 60"}))
        assert mapped.status == "ok", [e.message for e in w.activity(mapped, outcome="failed")]
        assert w.invoice_of(odd.id)["SalesTermRef"]["value"] == terms["Net 60"]  # the waiting invoice went
