"""Rendering the reconciliation: HTML snapshots, and CSV / Excel exports that read back exactly.

Snapshots live in ``tests/snapshots/recon/``. After an intended change to the report, regenerate
them and review the diff before committing::

    QBO_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/unit/test_recon_render.py

(The switch is read when this module is imported, because an autouse fixture clears every
``QBO_*`` variable before each test.) A missing snapshot fails with that same hint.
"""

from __future__ import annotations

import csv
import json
import os
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from qbo_toolkit.recon import (
    CATEGORIES,
    ReconResult,
    link_frames_from_records,
    qbo_frames_from_records,
    reconcile,
    to_csv,
    to_excel,
    to_html,
    work_frames_from_records,
)
from qbo_toolkit.recon.money import cents_to_decimal
from qbo_toolkit.recon.render import presentable, summary_frame
from qbo_toolkit.recon.sample import SAMPLE_AS_OF, SAMPLE_DEFAULT_STATE, SAMPLE_INTEGRATION_DATE, sample_frames

SNAPSHOTS = Path(__file__).resolve().parents[1] / "snapshots" / "recon"
UPDATE = os.environ.get("QBO_UPDATE_SNAPSHOTS") == "1"


def check_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"no snapshot {path}; create it with QBO_UPDATE_SNAPSHOTS=1 and review it")
    expected = path.read_text(encoding="utf-8")
    assert text == expected, (f"{name} differs from its snapshot; if the change is intended, regenerate with "
                              "QBO_UPDATE_SNAPSHOTS=1 and review the diff")


@pytest.fixture(scope="module")
def result() -> ReconResult:
    work, qbo, links = sample_frames()
    return reconcile(work, qbo, links, as_of=SAMPLE_AS_OF, integration_date=SAMPLE_INTEGRATION_DATE,
                     default_state=SAMPLE_DEFAULT_STATE)


def agreeing() -> ReconResult:
    work = work_frames_from_records(
        clients=[{"work_id": 1, "display_name": "Solo"}],
        invoices=[{"work_id": 1, "number": "S-1", "client_id": 1, "issue_date": date(2026, 1, 5), "total": "120.00"}],
    )
    qbo = qbo_frames_from_records(
        customers=[{"qbo_id": "9", "display_name": "Solo", "balance": "120.00",
                    "last_updated": "2026-01-31T09:00:00Z"}],
        invoices=[{"qbo_id": "90", "doc_number": "S-1", "customer_qbo_id": "9", "txn_date": "2026-01-05",
                   "due_date": "2026-02-04", "total": "120.00", "balance": "120.00",
                   "last_updated": "2026-01-31T09:00:00Z"}],
    )
    synced = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)
    links = link_frames_from_records(customers=[{"work_id": 1, "qbo_id": 9, "synced_at": synced}],
                                     invoices=[{"work_id": 1, "qbo_id": 90, "synced_at": synced}])
    return reconcile(work, qbo, links, as_of=date(2026, 2, 28))


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------


def test_html_snapshot_of_the_sample(result: ReconResult) -> None:
    check_snapshot("sample_report.html", to_html(result))


def test_html_snapshot_when_in_agreement() -> None:
    found = agreeing()
    assert found.in_agreement
    html = to_html(found, title="Solo check")
    assert "✓ WORK and QuickBooks agree." in html
    check_snapshot("agreement_report.html", html)


def test_json_snapshot_of_the_sample(result: ReconResult) -> None:
    check_snapshot("sample_result.json", json.dumps(result.to_dict(), indent=1, ensure_ascii=False) + "\n")


def test_html_is_deterministic_and_timestamped_only_on_request(result: ReconResult) -> None:
    first = to_html(result)
    assert first == to_html(result)
    assert "generated" not in first
    stamped = to_html(result, generated_at=datetime(2026, 4, 1, 8, 30, tzinfo=UTC))
    assert "generated 2026-04-01T08:30:00+00:00" in stamped


def test_html_escapes_record_text(result: ReconResult) -> None:
    html = to_html(result, title="<script>alert(1)</script>")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "Charlie&#39;s &lt;Cafe&gt; &amp; Bar" in html
    assert "<Cafe>" not in html


def test_html_shows_marks_counts_and_charts(result: ReconResult) -> None:
    html = to_html(result)
    assert ("✗ Not yet in agreement: 4 records pending (1 customer, 1 invoice, 1 payment waiting for a match "
            "decision; 1 invoice whose sync failed), and 30 differences found, among them 3 records never sent to "
            "QuickBooks (1 customer, 1 invoice, 1 payment).") in html
    assert 'href="#pending"' in html and 'id="pending"' in html
    assert "Settings: not stated by the caller" in html
    assert html.count("<svg") == 2
    assert 'href="#invoices_balance"' in html and 'id="invoices_balance"' in html
    assert "1,228.26" in html  # money with thousands separators in the report
    assert "not expected in WORK" in html  # information sections are shown too


def test_html_limits_rows_per_table(result: ReconResult) -> None:
    html = to_html(result, max_rows=2)
    assert "… and 2 more rows (see the CSV or Excel export)." in html  # invoices_balance has 4


# --------------------------------------------------------------------------------------------
# CSV and Excel
# --------------------------------------------------------------------------------------------


def expected_text(frame: pd.DataFrame) -> list[list[str]]:
    shown = presentable(frame)
    return [[str(v) if not (v is pd.NA or v is None) else "" for v in row]
            for row in shown.itertuples(index=False, name=None)]


def test_csv_round_trip(result: ReconResult, tmp_path: Path) -> None:
    written = to_csv(result, tmp_path / "out")
    names = [p.stem for p in written]
    assert names == ["summary", "aging", "open_balances", *(c.name for c in CATEGORIES)]
    for path in written:
        with path.open(newline="", encoding="utf-8") as handle:
            header, *body = list(csv.reader(handle))
        if path.stem == "summary":
            frame = summary_frame(result)
        elif path.stem in result.tables:
            frame = result.tables[path.stem]
        else:
            frame = result.frames[path.stem]
        assert header == [c.removesuffix("_cents") for c in frame.columns], path.name
        assert body == expected_text(frame), path.name
    balance = (tmp_path / "out" / "invoices_balance.csv").read_text().splitlines()
    assert balance[1] == "2,202,W-1002,Alpha Plumbing,link,250.00,250.01,0.01"
    empty = (tmp_path / "out" / "invoices_number.csv").read_text()
    assert empty == "work_id,qbo_id,customer,match,work_number,qbo_number\n"


def test_excel_round_trip(result: ReconResult, tmp_path: Path) -> None:
    path = to_excel(result, tmp_path / "recon.xlsx")
    book = load_workbook(path)
    assert book.sheetnames == ["summary", "aging", "open_balances", *(c.name for c in CATEGORIES)]
    for name in result.frames:
        frame = result.frames[name]
        sheet = book[name]
        values = [list(row) for row in sheet.iter_rows(values_only=True)]
        assert values[0] == [c.removesuffix("_cents") for c in frame.columns]
        assert len(values) - 1 == len(frame)
        for got, want in zip(values[1:], frame.itertuples(index=False, name=None), strict=True):
            for column, cell, value in zip(frame.columns, got, want, strict=True):
                if value is pd.NA or value is None or value is pd.NaT or (isinstance(value, str) and not value):
                    assert cell is None, (name, column)  # Excel keeps no empty text or missing date
                elif column.endswith("_cents"):
                    # numbers in Excel; exact once read back through their shortest text
                    assert Decimal(str(cell)).quantize(Decimal("0.01")) == cents_to_decimal(value), (name, column)
                elif isinstance(value, pd.Timestamp) and value.tzinfo is None:
                    assert cell.date() == value.date(), (name, column)
                elif isinstance(value, pd.Timestamp):
                    assert cell == value.strftime("%Y-%m-%dT%H:%M:%SZ")
                else:
                    assert cell == value, (name, column)
    money_cell = book["invoices_total"]["F2"]
    assert money_cell.number_format == "#,##0.00"
    summary = {row[1]: row[6] for row in book["summary"].iter_rows(min_row=2, values_only=True)}
    assert summary["in_agreement"] == "no" and summary["invoices_balance"] == 4
    # the summary's figures are numbers too: amounts with two decimals, counts as integers
    totals = {row[1].value: row for row in book["summary"].iter_rows(min_row=2) if row[0].value == "total"}
    work, qbo, difference = (cell.value for cell in totals["payment_amount"][3:6])
    assert (work, qbo, difference) == (Decimal("135"), Decimal("130"), Decimal("-5"))
    assert isinstance(difference, int | float | Decimal) and totals["payment_amount"][5].number_format == "#,##0.00"
    assert [cell.value for cell in totals["invoices"][3:6]] == [9, 10, 1]
