"""The accountant's report against the emulator: the company's currency read from QBO, and every
row's Id linked to the record (the emulator's read-only record page for QBO, the ``work_record_url``
setting for WORK), links that open the right record.

Nothing is synced: WORK holds a few demo records and QBO its seed, so WORK's invoices are missing in
QBO (WORK Ids, linked to WORK) and QBO's seed invoices are missing in WORK (QBO Ids, linked to QBO).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import date
from html import unescape
from pathlib import Path

import pytest
import requests

from qbo_toolkit.connection import Connection, connect_headless
from qbo_toolkit.emulator import EmulatorServer
from qbo_toolkit.recon import ReconResult, reconcile_live, to_html
from qbo_toolkit.settings import Settings
from qbo_toolkit.work.demo import generate_demo
from qbo_toolkit.work.store import WorkStore

AS_OF = date(2026, 6, 30)
WORK_URLS = {"invoice": "https://work.example.com/invoices/{id}", "customer": "https://work.example.com/clients/{id}"}


def connected(start_emulator: Callable[..., EmulatorServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
              **config: object) -> tuple[EmulatorServer, Connection]:
    emu = start_emulator(**config)
    info = tmp_path / "emulator.json"
    info.write_text(json.dumps(emu.info))
    monkeypatch.setenv("QBO_EMULATOR_INFO", str(info))
    return emu, connect_headless()


@pytest.fixture
def store() -> Iterator[WorkStore]:
    work = WorkStore("sqlite://")
    generate_demo(work, clients=16, invoices=20, payments=0, credit_notes=0, refunds=0)
    yield work
    work.close()


def reconciled(conn: Connection, store: WorkStore, settings: Settings) -> ReconResult:
    """Without the tie-out: the currency is then read from QBO's Preferences."""
    return reconcile_live(conn, store, as_of=AS_OF, settings=settings, tie_out=False)


def test_links_open_the_record_in_the_emulator_and_in_work(
        start_emulator: Callable[..., EmulatorServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        store: WorkStore) -> None:
    emu, conn = connected(start_emulator, tmp_path, monkeypatch)
    result = reconciled(conn, store, Settings(work_record_url=WORK_URLS))
    assert result.currency == "USD"
    base = emu.info["base_url"].rstrip("/")
    assert result.qbo_app_url == f"{base}/_emulator/app/{conn.realm_id}"

    html = to_html(result)
    missing = result.frame("invoices_missing_in_work")
    assert len(missing)  # the emulator's seed invoices
    for qbo_id, doc_number in zip(missing["qbo_id"], missing["doc_number"], strict=True):
        link = f"{base}/_emulator/app/{conn.realm_id}/invoice?txnId={int(qbo_id)}"
        assert f'<a href="{link}">{int(qbo_id)}</a>' in html
        page = requests.get(link, timeout=10)
        assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
        assert f"Invoice {int(qbo_id)}" in page.text and str(doc_number) in unescape(page.text)
    customer = int(missing["customer_qbo_id"].iloc[0])
    page = requests.get(f"{base}/_emulator/app/{conn.realm_id}/customerdetail?nameId={customer}", timeout=10)
    assert page.status_code == 200 and f"Customer {customer}" in page.text
    assert requests.get(f"{base}/_emulator/app/{conn.realm_id}/invoice?txnId=999999", timeout=10).status_code == 404
    assert requests.get(f"{base}/_emulator/app/{conn.realm_id}/bill?txnId=1", timeout=10).status_code == 404

    unsent = result.frame("invoices_missing_in_qbo")
    assert len(unsent)
    for work_id in unsent["work_id"]:
        assert f'<a href="https://work.example.com/invoices/{int(work_id)}">{int(work_id)}</a>' in html
    # a WORK payment has no template: its Id is plain text, never a link to a wrong page
    assert "work.example.com/payments" not in html and "/None" not in html
    # money in the company's currency, with the amount axis labelled in it
    assert "Amounts in USD" in html and "Open amount (USD)" in html
    assert re.search(r"\$\d{1,3}(,\d{3})*\.\d\d", html)


def test_no_work_links_without_the_setting_and_the_currency_of_a_uk_company(
        start_emulator: Callable[..., EmulatorServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        store: WorkStore) -> None:
    _, conn = connected(start_emulator, tmp_path, monkeypatch, company_kind="uk")
    result = reconciled(conn, store, Settings())
    assert result.currency == "GBP" and result.work_record_urls == {}
    html = to_html(result)
    assert "Amounts in GBP" in html and "Open amount (GBP)" in html and "£" in html
    assert "work.example.com" not in html
    unsent = result.frame("invoices_missing_in_qbo")
    assert len(unsent)
    first = int(unsent["work_id"].iloc[0])
    assert f'<td>{first}</td>' in html  # the WORK Id shown, unlinked
    # with the tie-out, the currency comes from the header of QBO's A/R reports (no Preferences query)
    tied = reconcile_live(conn, store, as_of=AS_OF, settings=Settings(), tie_out=True)
    assert tied.currency == "GBP"
