"""The Singer tap ``tap-quickbooks`` (Stitch, PyPI), unmodified, extracting the emulator's company.

The tap pins old libraries (singer-python 6.1.1 wants jsonschema 2), so it lives in a venv of its own,
``.venv/thirdparty/tap-quickbooks``, which ``make test`` creates (``make thirdparty``). It runs as a
subprocess, as a Singer tap does, through ``tap_runner.py`` (which only sets the tap's two host
constants to the emulator's and caps its 60-second retry sleeps), with a config file it rewrites itself
when it refreshes the token, a catalog from its own discovery with every stream selected, and a state
file (bookmarks less than 30 days old for its CDC and report streams, as an incremental run has).

What it does with the company: 29 query streams in one batch request (``SELECT * FROM X WHERE
Metadata.LastUpdatedTime >= ... [AND Active IN (true, false)] ORDER BY Metadata.LastUpdatedTime ASC
STARTPOSITION n MAXRESULTS 1000``), a CDC naming 24 entities for deleted records, and ProfitAndLoss by
day. A stream whose batch item is refused ends silently empty (the tap skips item faults), so each stream
is compared with the emulator's own ``COUNT(*)`` of the same filter.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from thirdkit import Company, authorize, populate

from qbo_toolkit.emulator import EmulatorConfig, EmulatorServer

ROOT = Path(__file__).resolve().parents[2]
TAP_PYTHON = ROOT / ".venv" / "thirdparty" / "tap-quickbooks" / "bin" / "python"
RUNNER = Path(__file__).with_name("tap_runner.py")
START_DATE = "2025-01-01T00:00:00Z"

# the tap's batch streams and the QBO entity each reads (tap_quickbooks/streams.py, 2.5.0)
STREAMS = {
    "accounts": "Account", "bill_payments": "BillPayment", "bills": "Bill", "budgets": "Budget",
    "classes": "Class", "credit_memos": "CreditMemo", "customers": "Customer", "customer_types": "CustomerType",
    "departments": "Department", "deposits": "Deposit", "employees": "Employee", "estimates": "Estimate",
    "invoices": "Invoice", "items": "Item", "journal_entries": "JournalEntry", "payment_methods": "PaymentMethod",
    "payments": "Payment", "purchase_orders": "PurchaseOrder", "purchases": "Purchase",
    "refund_receipts": "RefundReceipt", "sales_receipts": "SalesReceipt", "tax_agencies": "TaxAgency",
    "tax_codes": "TaxCode", "tax_rates": "TaxRate", "terms": "Term", "time_activities": "TimeActivity",
    "transfers": "Transfer", "vendor_credits": "VendorCredit", "vendors": "Vendor",
}
NAME_LISTS = {"accounts", "budgets", "classes", "payment_methods", "items", "customers", "departments", "employees",
              "tax_codes", "tax_rates", "terms", "vendors"}  # the tap adds "Active IN (true, false)" to these
MUST_HAVE_ROWS = {"accounts", "classes", "credit_memos", "customers", "departments", "employees", "invoices", "items",
                  "payment_methods", "payments", "refund_receipts", "tax_codes", "terms", "vendors"}

pytestmark = pytest.mark.skipif(
    not TAP_PYTHON.exists(),
    reason=f"tap-quickbooks is not installed in {TAP_PYTHON.parents[1]} (`make thirdparty`; `make test` does it)",
)


def _tap(company: Company, workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QBO_", "PYTHON"))}
    env["OAUTHLIB_INSECURE_TRANSPORT"] = "1"  # the emulator is plain http on 127.0.0.1
    command = [str(TAP_PYTHON), str(RUNNER), company.base_url, company.auth.token_endpoint,
               "--config", str(workdir / "config.json"), *args]
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=300, check=False)


def _messages(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def _stamp(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class TapRun:
    company: Company
    ids: dict[str, str]
    now: dt.datetime
    results: dict[str, subprocess.CompletedProcess[str]]  # by the part of the catalog: "queries", "report"
    records: dict[str, list[dict[str, Any]]]


def _select(catalog: dict[str, Any], streams: set[str]) -> dict[str, Any]:
    chosen = json.loads(json.dumps(catalog))
    for stream in chosen["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = stream["tap_stream_id"] in streams
    return chosen


# company kinds extracted, with the TaxCode a non-US company's sales lines carry
KINDS = {"us-ast": None, "uk": "20.0% S"}


@pytest.fixture(scope="module", params=sorted(KINDS))
def tap_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TapRun]:
    """One company of each kind, populated, extracted by the tap: discovery, then the query streams with
    deleted records, then ProfitAndLoss by day (run apart, so a failing report does not hide the rest)."""
    if "company_kind" not in EmulatorConfig.__dataclass_fields__:
        pytest.fail("EmulatorConfig has no 'company_kind' yet (issue 13)")
    patch = pytest.MonkeyPatch()
    patch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    emu = EmulatorServer(EmulatorConfig(auto_approve=True, throttle=False, company_kind=request.param)).start()
    try:
        company = authorize(emu)
        ids = populate(company, KINDS[request.param])
        workdir = tmp_path_factory.mktemp("tap")
        info = emu.info
        config = {"start_date": START_DATE, "user_agent": "qbo-toolkit third-party test", "realm_id": company.realm,
                  "client_id": info["client_id"], "client_secret": info["client_secret"],
                  "refresh_token": company.auth.refresh_token, "sandbox": "false"}
        (workdir / "config.json").write_text(json.dumps(config))
        results = {"discover": _tap(company, workdir, "--discover")}
        assert results["discover"].returncode == 0, results["discover"].stderr[-3000:]
        catalog = json.loads(results["discover"].stdout)
        # the tap rewrote its config with the rotated refresh token when discovery refreshed it
        assert json.loads((workdir / "config.json").read_text())["refresh_token"] != config["refresh_token"]

        now = dt.datetime.now(dt.UTC)
        recent = _stamp(now - dt.timedelta(days=10))
        state = {"bookmarks": {"deleted_objects": {"LastUpdatedTime": recent},
                               "profit_loss_report": {"LastUpdatedTime": recent}}}
        (workdir / "state.json").write_text(json.dumps(state))
        parts = {"queries": set(STREAMS) | {"deleted_objects"}, "report": {"profit_loss_report"}}
        records: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for part, streams in parts.items():
            (workdir / f"{part}.json").write_text(json.dumps(_select(catalog, streams)))
            results[part] = _tap(company, workdir, "--catalog", f"{part}.json", "--state", "state.json")
            for message in _messages(results[part].stdout):
                if message["type"] == "RECORD":
                    records[message["stream"]].append(message["record"])
        yield TapRun(company, ids, now, results, records)
    finally:
        emu.stop()
        patch.undo()


def test_the_query_streams_run_to_the_end(tap_run: TapRun) -> None:
    result = tap_run.results["queries"]
    assert result.returncode == 0, result.stderr[-3000:]


def test_no_stream_ends_silently_short(tap_run: TapRun) -> None:
    company, records = tap_run.company, tap_run.records
    mismatched = {}
    for stream, entity in STREAMS.items():
        where = f"Metadata.LastUpdatedTime >= '{START_DATE}'"
        if stream in NAME_LISTS:
            where += " AND Active IN (true, false)"
        expected = company.count(entity, where)
        if len(records[stream]) != expected:
            mismatched[stream] = (len(records[stream]), expected)
    assert not mismatched, f"streams whose record count differs from COUNT(*) (tap, emulator): {mismatched}"
    empty = sorted(s for s in MUST_HAVE_ROWS if not records[s])
    assert not empty, f"streams with no records although the company has such rows: {empty}"


def test_the_new_entities_reach_the_tap(tap_run: TapRun) -> None:
    ids, records = tap_run.ids, tap_run.records
    assert ids["invoice"] in {r["Id"] for r in records["invoices"]}
    assert ids["credit_memo"] in {r["Id"] for r in records["credit_memos"]}
    assert ids["refund"] in {r["Id"] for r in records["refund_receipts"]}
    assert {ids["payment"], ids["credit_payment"]} <= {r["Id"] for r in records["payments"]}
    assert ids["class"] in {r["Id"] for r in records["classes"]}
    assert ids["department"] in {r["Id"] for r in records["departments"]}
    assert Counter(r["Id"] for r in records["invoices"]).most_common(1)[0][1] == 1  # paging repeats nothing


def test_deleted_records_through_cdc(tap_run: TapRun) -> None:
    deleted = {(r["Type"], r["Id"]) for r in tap_run.records["deleted_objects"]}
    assert ("Invoice", tap_run.ids["deleted_invoice"]) in deleted, tap_run.results["queries"].stderr[-2000:]


def test_profit_and_loss_by_day(tap_run: TapRun) -> None:
    result = tap_run.results["report"]
    # the tap asks for summarize_column_by=Days and reads one Column per day with MetaData StartDate
    assert result.returncode == 0, result.stderr[-3000:]
    days = tap_run.records["profit_loss_report"]
    assert days, "ProfitAndLoss by day gave the tap no rows (it needs Columns with StartDate metadata)"
    assert all(r["ReportDate"] and r["Details"] for r in days), days[:2]
    assert max(r["ReportDate"] for r in days)[:10] <= tap_run.now.date().isoformat()


def test_the_tap_runs_under_its_own_python() -> None:
    # the tap's venv is separate from the toolkit's: its pinned singer-python must not leak into ours
    assert Path(sys.prefix).resolve() != TAP_PYTHON.parents[1].resolve()
    result = subprocess.run([str(TAP_PYTHON), "-c", "import singer, tap_quickbooks; print('ok')"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.stdout.strip() == "ok", result.stderr
