"""Credit notes, credit applications, refunds and tax per rate in the reconciliation, on a tiny
fixture (as of 2026-03-31, integration date 2026-01-01), and their extraction from QBO's JSON.

Customers 1/101 Alpha, 2/102 Bravo, 3/103 Charlie (all linked). WORK tax rates "VAT 10%" and
"VAT 20%".

Invoices (WORK / QBO, linked)::

    W-1 / 201  Alpha    net 100 at 10 %: tax 10, total 110; credit CN-1 applied 22 both sides   agree
    W-2 / 202  Bravo    net 100 at 10 % and net 100 at 20 % (QBO lists the rates the other way
                        round), total 230; CN-5 applied 30 in WORK, 25 in QBO
                                                                 -> credit_applied, invoices_balance
    W-3 / 203  Charlie  net 50 at 20 % (tax 10, total 60); QBO taxes it at 5 % (2.50, total 52.50)
                                  -> tax_by_rate, invoices_tax, invoices_total, invoices_balance

Credit notes (WORK / QBO)::

    CN-1 / 501  Alpha    22.00 (net 20 at 10 %), applied to W-1 on both sides           agree
    CN-2 / 502  Bravo    50.00 / 55.00, unapplied                  -> credit_notes_amount (total)
    CN-3 / -    Charlie  10.00, WORK only                          -> credit_notes_missing_in_qbo
    -    / 504  Alpha    7.00, QBO only                            -> credit_notes_missing_in_work
    CN-0 / -    Alpha    dated 2025-12-01, before the integration  -> credits_not_expected
    CN-5 / 505  Bravo    30.00, applied 30 (WORK) / 25 (QBO)       (see W-2)

Unapplied credit per customer (WORK / QBO) -> credits_unapplied (3 rows): Alpha 0 / 7.00,
Bravo 50.00 / 60.00 (55 + 5 left on 505), Charlie 10.00 / 0.

Refunds (WORK / QBO)::

    R1 / 701  Alpha    15.00, not in the id map: paired by customer, date and amount      agree
    R2 / 702  Bravo    40.00 / 45.00                               -> refunds_amount (total)
    R3 / -    Charlie  WORK only                                   -> refunds_missing_in_qbo
    -  / 704  Charlie  QBO only                                    -> refunds_missing_in_work
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest

from qbo_toolkit.qbo.query import Select
from qbo_toolkit.recon import (
    ReconResult,
    extract_qbo,
    link_frames_from_records,
    qbo_frames_from_records,
    reconcile,
    work_frames_from_records,
)

AS_OF = date(2026, 3, 31)
INTEGRATION = date(2026, 1, 1)
EXPECTED = {
    "credit_notes_missing_in_qbo": 1,
    "credit_notes_missing_in_work": 1,
    "credit_notes_amount": 1,
    "credit_applied": 1,
    "credits_unapplied": 3,
    "refunds_missing_in_qbo": 1,
    "refunds_missing_in_work": 1,
    "refunds_amount": 1,
    "tax_by_rate": 1,
    "credits_not_expected": 1,
}


def _tax(document: str, doc_id: int, rate: str, percent: str, net: str, tax: str) -> dict[str, Any]:
    return {"document": document, "doc_id": doc_id, "rate": rate, "percent": percent, "net": net, "tax": tax}


def frames(*, send_refunds: bool = True, failures: list[dict[str, Any]] | None = None) -> ReconResult:
    work = work_frames_from_records(
        clients=[{"work_id": 1, "display_name": "Alpha"}, {"work_id": 2, "display_name": "Bravo"},
                 {"work_id": 3, "display_name": "Charlie"}],
        invoices=[
            {"work_id": 1, "number": "W-1", "client_id": 1, "issue_date": date(2026, 3, 1),
             "due_date": date(2026, 3, 31), "total": "110.00", "tax": "10.00"},
            {"work_id": 2, "number": "W-2", "client_id": 2, "issue_date": date(2026, 3, 1),
             "due_date": date(2026, 3, 31), "total": "230.00", "tax": "30.00"},
            {"work_id": 3, "number": "W-3", "client_id": 3, "issue_date": date(2026, 3, 1),
             "due_date": date(2026, 3, 31), "total": "60.00", "tax": "10.00"},
        ],
        credit_notes=[
            {"work_id": 1, "number": "CN-1", "client_id": 1, "date": date(2026, 3, 2), "total": "22.00", "tax": "2.00"},
            {"work_id": 2, "number": "CN-2", "client_id": 2, "date": date(2026, 3, 2), "total": "50.00"},
            {"work_id": 3, "number": "CN-3", "client_id": 3, "date": date(2026, 3, 2), "total": "10.00"},
            {"work_id": 4, "number": "CN-0", "client_id": 1, "date": date(2025, 12, 1), "total": "5.00"},
            {"work_id": 5, "number": "CN-5", "client_id": 2, "date": date(2026, 3, 2), "total": "30.00"},
        ],
        credit_applications=[
            {"work_id": 1, "credit_note_id": 1, "invoice_id": 1, "date": date(2026, 3, 3), "amount": "22.00"},
            {"work_id": 2, "credit_note_id": 5, "invoice_id": 2, "date": date(2026, 3, 3), "amount": "30.00"},
        ],
        refunds=[
            {"work_id": 1, "client_id": 1, "date": date(2026, 3, 5), "total": "15.00"},
            {"work_id": 2, "client_id": 2, "date": date(2026, 3, 5), "total": "40.00"},
            {"work_id": 3, "client_id": 3, "date": date(2026, 3, 5), "total": "12.00"},
        ],
        tax_lines=[
            _tax("invoice", 1, "VAT 10%", "10", "100.00", "10.00"),
            _tax("invoice", 2, "VAT 10%", "10", "100.00", "10.00"),
            _tax("invoice", 2, "VAT 20%", "20", "100.00", "20.00"),
            _tax("invoice", 3, "VAT 20%", "20", "50.00", "10.00"),
            _tax("credit_note", 1, "VAT 10%", "10", "20.00", "2.00"),
        ],
    )
    qbo = qbo_frames_from_records(
        customers=[{"qbo_id": 101, "display_name": "Alpha", "balance": "81.00"},
                   {"qbo_id": 102, "display_name": "Bravo", "balance": "145.00"},
                   {"qbo_id": 103, "display_name": "Charlie", "balance": "52.50"}],
        invoices=[
            {"qbo_id": 201, "doc_number": "W-1", "customer_qbo_id": 101, "txn_date": "2026-03-01",
             "due_date": "2026-03-31", "total": "110.00", "tax": "10.00", "balance": "88.00"},
            {"qbo_id": 202, "doc_number": "W-2", "customer_qbo_id": 102, "txn_date": "2026-03-01",
             "due_date": "2026-03-31", "total": "230.00", "tax": "30.00", "balance": "205.00"},
            {"qbo_id": 203, "doc_number": "W-3", "customer_qbo_id": 103, "txn_date": "2026-03-01",
             "due_date": "2026-03-31", "total": "52.50", "tax": "2.50", "balance": "52.50"},
        ],
        credit_memos=[
            {"qbo_id": 501, "doc_number": "CN-1", "customer_qbo_id": 101, "txn_date": "2026-03-02", "total": "22.00",
             "tax": "2.00", "balance": "0"},
            {"qbo_id": 502, "doc_number": "CN-2", "customer_qbo_id": 102, "txn_date": "2026-03-02", "total": "55.00",
             "balance": "55.00"},
            {"qbo_id": 504, "doc_number": "1004", "customer_qbo_id": 101, "txn_date": "2026-03-02", "total": "7.00",
             "balance": "7.00"},
            {"qbo_id": 505, "doc_number": "CN-5", "customer_qbo_id": 102, "txn_date": "2026-03-02", "total": "30.00",
             "balance": "5.00"},
        ],
        credit_lines=[
            {"payment_qbo_id": 601, "invoice_qbo_id": 201, "credit_memo_qbo_id": 501, "txn_date": "2026-03-03",
             "amount": "22.00"},
            {"payment_qbo_id": 602, "invoice_qbo_id": 202, "credit_memo_qbo_id": 505, "txn_date": "2026-03-03",
             "amount": "25.00"},
        ],
        refunds=[
            {"qbo_id": 701, "customer_qbo_id": 101, "txn_date": "2026-03-05", "total": "15.00"},
            {"qbo_id": 702, "customer_qbo_id": 102, "txn_date": "2026-03-05", "total": "45.00"},
            {"qbo_id": 704, "customer_qbo_id": 103, "txn_date": "2026-03-06", "total": "9.00"},
        ],
        tax_lines=[
            _tax("invoice", 201, "10.0% S", "10", "100.00", "10.00"),
            _tax("invoice", 202, "20.0% S", "20", "100.00", "20.00"),
            _tax("invoice", 202, "10.0% S", "10", "100.00", "10.00"),
            _tax("invoice", 203, "5.0% R", "5", "50.00", "2.50"),
            _tax("credit_note", 501, "10.0% S", "10", "20.00", "2.00"),
        ],
    )
    links = link_frames_from_records(
        customers=[{"work_id": w, "qbo_id": q} for w, q in ((1, 101), (2, 102), (3, 103))],
        invoices=[{"work_id": w, "qbo_id": q} for w, q in ((1, 201), (2, 202), (3, 203))],
        credit_notes=[{"work_id": 1, "qbo_id": 501}, {"work_id": 5, "qbo_id": 505}],
        refunds=[{"work_id": 2, "qbo_id": 702}],
        failures=failures,
    )
    return reconcile(work, qbo, links, as_of=AS_OF, integration_date=INTEGRATION, send_refunds=send_refunds)


@pytest.fixture(scope="module")
def result() -> ReconResult:
    return frames()


def test_counts_are_exactly_the_planted_ones(result: ReconResult) -> None:
    assert {name: result.counts[name] for name in EXPECTED} == EXPECTED
    assert not result.in_agreement


def test_credit_notes(result: ReconResult) -> None:
    assert result.frame("credit_notes_missing_in_qbo")[["number", "total_cents"]].to_dict("records") == [
        {"number": "CN-3", "total_cents": 1000}]
    assert result.frame("credit_notes_missing_in_work")["qbo_id"].tolist() == [504]
    amount = result.frame("credit_notes_amount").to_dict("records")
    assert [(r["number"], r["field"], r["difference_cents"]) for r in amount] == [("CN-2", "total", 500)]
    applied = result.frame("credit_applied").to_dict("records")
    assert [(r["number"], r["work_cents"], r["qbo_cents"]) for r in applied] == [("W-2", 3000, 2500)]
    unapplied = {r["name"]: (r["work_cents"], r["qbo_cents"])
                 for r in result.frame("credits_unapplied").to_dict("records")}
    assert unapplied == {"Alpha": (0, 700), "Bravo": (5000, 6000), "Charlie": (1000, 0)}
    info = result.frame("credits_not_expected").to_dict("records")
    assert [(r["entity"], r["side"], r["number"]) for r in info] == [("credit_note", "WORK", "CN-0")]
    # W-1's balance agrees once both credits count (110 - 22 = 88)
    assert 1 not in result.frame("invoices_balance")["work_id"].tolist()
    assert result.total("credit_notes").work == 4 and result.total("credit_notes").qbo == 4


def test_refunds(result: ReconResult) -> None:
    amount = result.frame("refunds_amount").to_dict("records")
    assert [(r["work_id"], r["qbo_id"], r["field"], r["difference_cents"]) for r in amount] == [(2, 702, "total", 500)]
    assert result.frame("refunds_missing_in_qbo")["work_id"].tolist() == [3]
    assert result.frame("refunds_missing_in_work")["qbo_id"].tolist() == [704]
    assert (result.total("refund_amount").work, result.total("refund_amount").qbo) == (6700, 6900)


def test_tax_per_rate_matches_rates_by_the_amount_they_tax(result: ReconResult) -> None:
    rows = result.frame("tax_by_rate").to_dict("records")
    assert len(rows) == 1
    row = rows[0]
    names = (row["document"], row["number"], row["work_rate"], row["qbo_rate"])
    assert names == ("invoice", "W-3", "VAT 20%", "5.0% R")
    amounts = (row["net_cents"], row["work_cents"], row["qbo_cents"], row["difference_cents"])
    assert amounts == (5000, 1000, 250, -750)
    assert row["reason"] == "tax at this rate differs"


def test_refunds_not_sent_are_information() -> None:
    result = frames(send_refunds=False)
    assert result.counts["refunds_missing_in_qbo"] == 0
    info = result.frame("credits_not_expected")
    assert info.loc[info["entity"] == "refund", "reason"].tolist() == ["refunds are not sent (setting refunds: false)"]


class FakeClient:
    def __init__(self, rows: dict[str, list[dict[str, Any]]]) -> None:
        self.rows = rows

    def iter_query(self, query: Select, *, page_size: int = 1000, raw: bool = True) -> Iterator[list[Any]]:
        found = self.rows.get(query.entity, [])
        if found:
            yield found


def test_extraction_of_credit_memos_applications_refunds_and_tax_lines() -> None:
    """A zero-amount Payment linking a CreditMemo is a credit application, not a payment; TaxLines
    on one net amount (a US state and county rate) are one row with their percents added."""
    meta = {"LastUpdatedTime": "2026-03-01T10:00:00-08:00"}
    tax_line = {"DetailType": "TaxLineDetail", "Amount": Decimal("6.00"),
                "TaxLineDetail": {"TaxRateRef": {"value": "3", "name": "CA state"}, "PercentBased": True,
                                  "TaxPercent": Decimal("6"), "NetAmountTaxable": Decimal("100.00")}}
    county = {"DetailType": "TaxLineDetail", "Amount": Decimal("2.25"),
              "TaxLineDetail": {"TaxRateRef": {"value": "4", "name": "county"}, "TaxPercent": "2.25",
                                "NetAmountTaxable": "100.00"}}
    qbo = extract_qbo(FakeClient({
        "Invoice": [{"Id": "1", "DocNumber": "1", "CustomerRef": {"value": "9"}, "TxnDate": "2026-03-01",
                     "TotalAmt": Decimal("108.25"), "Balance": Decimal("88.25"), "MetaData": meta,
                     "TxnTaxDetail": {"TotalTax": Decimal("8.25"), "TaxLine": [tax_line, county]}}],
        "Payment": [
            {"Id": "7", "CustomerRef": {"value": "9"}, "TxnDate": "2026-03-02", "TotalAmt": Decimal("0"),
             "MetaData": meta,
             "Line": [{"Amount": Decimal("20.00"), "LinkedTxn": [{"TxnId": "1", "TxnType": "Invoice"}]},
                      {"Amount": Decimal("20.00"), "LinkedTxn": [{"TxnId": "5", "TxnType": "CreditMemo"}]}]},
            {"Id": "8", "CustomerRef": {"value": "9"}, "TxnDate": "2026-03-02", "TotalAmt": Decimal("10.00"),
             "MetaData": meta, "Line": []}],
        "CreditMemo": [{"Id": "5", "DocNumber": "CN-1", "CustomerRef": {"value": "9"}, "TxnDate": "2026-03-01",
                        "TotalAmt": Decimal("20.00"), "Balance": Decimal("0"), "MetaData": meta}],
        "RefundReceipt": [{"Id": "6", "CustomerRef": {"value": "9"}, "TxnDate": "2026-03-03",
                           "TotalAmt": Decimal("12.50"), "MetaData": meta}],
    }))
    assert qbo.payments["qbo_id"].tolist() == [8]
    assert qbo.credit_lines[["payment_qbo_id", "invoice_qbo_id", "credit_memo_qbo_id", "amount_cents"]].to_dict(
        "records") == [{"payment_qbo_id": 7, "invoice_qbo_id": 1, "credit_memo_qbo_id": 5, "amount_cents": 2000}]
    assert qbo.credit_memos[["qbo_id", "doc_number", "total_cents", "balance_cents"]].to_dict("records") == [
        {"qbo_id": 5, "doc_number": "CN-1", "total_cents": 2000, "balance_cents": 0}]
    assert qbo.refunds[["qbo_id", "total_cents"]].to_dict("records") == [{"qbo_id": 6, "total_cents": 1250}]
    tax = qbo.tax_lines.to_dict("records")
    assert tax == [{"document": "invoice", "doc_id": 1, "rate": "CA state + county", "percent": "8.25",
                    "net_cents": 10000, "tax_cents": 825}]
    assert isinstance(qbo.tax_lines, pd.DataFrame)


def test_a_credit_note_whose_sync_failed_is_pending_with_the_sync_sentence() -> None:
    """CN-3 waits: its date is in QuickBooks' closed books (the sync's sentence is the reason)."""
    sentence = "CN-3 is dated 2026-03-02, on or before QuickBooks' closing date 2026-03-15: reopen the period"
    result = frames(failures=[{"entity": "credit_note", "work_id": 3, "action": "create", "message": sentence}])
    assert result.counts["credit_notes_missing_in_qbo"] == 0
    pending = result.frame("pending").to_dict("records")
    assert [(r["entity"], r["number"], r["customer"], r["amount_cents"]) for r in pending] == [
        ("credit_note", "CN-3", "Charlie", 1000)]
    assert pending[0]["reason"] == "sync failed: " + sentence
    assert "1 credit note whose sync failed" in result.verdict


def test_a_credit_memo_changed_in_qbo_after_the_sync_is_listed() -> None:
    """Credit memo 501 (linked to CN-1, synced at 10:00) was updated in QBO at 11:00, after the last run."""
    from datetime import UTC, datetime

    work = work_frames_from_records(
        clients=[{"work_id": 1, "display_name": "Alpha"}],
        credit_notes=[{"work_id": 1, "number": "CN-1", "client_id": 1, "date": date(2026, 3, 2), "total": "22.00"}])
    qbo = qbo_frames_from_records(
        customers=[{"qbo_id": 101, "display_name": "Alpha", "balance": "-22.00"}],
        credit_memos=[{"qbo_id": 501, "doc_number": "CN-1", "customer_qbo_id": 101, "txn_date": "2026-03-02",
                       "total": "22.00", "balance": "22.00", "last_updated": "2026-03-31T11:00:00Z"}])
    synced = datetime(2026, 3, 31, 10, 0, tzinfo=UTC)
    links = link_frames_from_records(customers=[{"work_id": 1, "qbo_id": 101, "synced_at": synced}],
                                     credit_notes=[{"work_id": 1, "qbo_id": 501, "synced_at": synced}],
                                     last_sync_at=datetime(2026, 3, 31, 10, 5, tzinfo=UTC))
    result = reconcile(work, qbo, links, as_of=AS_OF, integration_date=INTEGRATION)
    changed = result.frame("changed_in_qbo").to_dict("records")
    assert [(r["entity"], r["work_id"], r["qbo_id"]) for r in changed] == [("credit_note", 1, 501)]
    assert result.counts["credits_unapplied"] == 0 and result.counts["customer_balances"] == 0


@pytest.mark.parametrize("send", [True, False])
def test_credit_the_sync_does_not_send_is_not_expected_in_qbos_balance(send: bool) -> None:
    """CN-0 (dated before the integration date, so never sent) is applied to W-1 in WORK: QBO's
    invoice balance rightly lacks it. With credit notes not sent at all, neither credit counts."""
    work = work_frames_from_records(
        clients=[{"work_id": 1, "display_name": "Alpha"}],
        invoices=[{"work_id": 1, "number": "W-1", "client_id": 1, "issue_date": date(2026, 3, 1),
                   "due_date": date(2026, 3, 31), "total": "110.00"}],
        credit_notes=[{"work_id": 1, "number": "CN-1", "client_id": 1, "date": date(2026, 3, 2), "total": "22.00"},
                      {"work_id": 2, "number": "CN-0", "client_id": 1, "date": date(2025, 12, 1), "total": "5.00"}],
        credit_applications=[
            {"work_id": 1, "credit_note_id": 1, "invoice_id": 1, "date": date(2026, 3, 3), "amount": "22.00"},
            {"work_id": 2, "credit_note_id": 2, "invoice_id": 1, "date": date(2026, 3, 3), "amount": "5.00"}])
    qbo = qbo_frames_from_records(
        customers=[{"qbo_id": 101, "display_name": "Alpha", "balance": "88.00" if send else "110.00"}],
        invoices=[{"qbo_id": 201, "doc_number": "W-1", "customer_qbo_id": 101, "txn_date": "2026-03-01",
                   "due_date": "2026-03-31", "total": "110.00", "balance": "88.00" if send else "110.00"}],
        credit_memos=[{"qbo_id": 501, "doc_number": "CN-1", "customer_qbo_id": 101, "txn_date": "2026-03-02",
                       "total": "22.00", "balance": "0"}] if send else [],
        credit_lines=[{"payment_qbo_id": 601, "invoice_qbo_id": 201, "credit_memo_qbo_id": 501,
                       "txn_date": "2026-03-03", "amount": "22.00"}] if send else [])
    links = link_frames_from_records(customers=[{"work_id": 1, "qbo_id": 101}],
                                     invoices=[{"work_id": 1, "qbo_id": 201}],
                                     credit_notes=[{"work_id": 1, "qbo_id": 501}] if send else [])
    result = reconcile(work, qbo, links, as_of=AS_OF, integration_date=INTEGRATION, send_credit_notes=send)
    assert result.difference_count == 0, {k: v for k, v in result.differences.items() if v}
    assert result.in_agreement
    info = result.frame("credits_not_expected")
    assert sorted(info["number"]) == (["CN-0"] if send else ["CN-0", "CN-1"])


def test_the_explorer_names_credit_refund_and_tax_rows_and_shows_their_amounts() -> None:
    from qbo_toolkit.ui.explorer import Explorer

    table = Explorer(frames()).filter()
    rows = table[table["category"].isin(["credit_notes_missing_in_qbo", "refunds_missing_in_qbo", "tax_by_rate"])]
    assert not rows.empty
    by_category = dict(zip(rows["category"], rows["entity"], strict=False))
    assert by_category.get("credit_notes_missing_in_qbo") == "credit note"
    assert by_category.get("refunds_missing_in_qbo") == "refund"
    assert rows.loc[rows["category"] == "credit_notes_missing_in_qbo", "amount"].notna().all()
