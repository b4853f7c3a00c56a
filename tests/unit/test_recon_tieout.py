"""The tie-out to QBO's AgedReceivables and CustomerBalance reports (``recon.tieout``), on a tiny
fixture, as of 2026-03-31 with the integration date 2026-01-01.

Customers (WORK id / QBO id) and what the reports say::

    1 / 101  Alpha     W-1 100.00 due 2026-04-15 (current), W-2 50.00 due 2026-03-01 (1-30)
                       reports: current 100.00, 1-30 50.00, total 150.00            agrees
    2 / 102  Bravo     W-3 200.00 due 2026-01-15 (61-90); in QBO a payment WORK does not have
                       (QBO-only payment 306, 50.00) leaves 150.00
                       reports: 61-90 150.00, total 150.00       -> tieout_customers, tieout_aging
    3 / 103  Charlie   W-4 40.00 due 2026-04-30 (current); QBO's history from before the integration
                       date: invoice 210, 80.00 due 2025-12-31 (61-90), and an unapplied payment 307
                       of 10.00 (2025-12-15)
                       reports: current 30.00 (40 less the credit), 61-90 80.00, total 110.00   agrees
    - / 106  Foxtrot   QBO only: invoice 208, 30.00 due 2026-04-10 (current)
                       reports: current 30.00, total 30.00        -> tieout_customers, tieout_aging

So: ``tieout_customers`` 2 rows (Bravo -50.00 on both reports, Foxtrot +30.00 with no WORK client),
``tieout_aging`` 2 rows (Bravo 61-90 -50.00, Foxtrot current +30.00). Bravo's QBO-only payment also
shows as ``payments_missing_in_work`` and ``invoices_balance``; Foxtrot's invoice as
``invoices_missing_in_work`` and the customer as ``customers_unlinked``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from qbo_toolkit.recon import (
    ReconResult,
    link_frames_from_records,
    qbo_frames_from_records,
    reconcile,
    to_csv,
    to_html,
    work_frames_from_records,
)
from qbo_toolkit.recon.frames import ReportFrames, report_frames_from_records

AS_OF = date(2026, 3, 31)
INTEGRATION = date(2026, 1, 1)
EXPECTED_CUSTOMERS = 2
EXPECTED_AGING = 2

AGED: list[dict[str, Any]] = [
    {"customer_qbo_id": 101, "name": "Alpha", "current": "100.00", "days_1_30": "50.00", "total": "150.00"},
    {"customer_qbo_id": 102, "name": "Bravo", "days_61_90": "150.00", "total": "150.00"},
    {"customer_qbo_id": 103, "name": "Charlie", "current": "30.00", "days_61_90": "80.00", "total": "110.00"},
    {"customer_qbo_id": 106, "name": "Foxtrot", "current": "30.00", "total": "30.00"},
]
BALANCES: list[dict[str, Any]] = [
    {"customer_qbo_id": 101, "name": "Alpha", "balance": "150.00"},
    {"customer_qbo_id": 102, "name": "Bravo", "balance": "150.00"},
    {"customer_qbo_id": 103, "name": "Charlie", "balance": "110.00"},
    {"customer_qbo_id": 106, "name": "Foxtrot", "balance": "30.00"},
]


def reports(aged: list[dict[str, Any]] | None = None, balances: list[dict[str, Any]] | None = None,
            **kwargs: Any) -> ReportFrames:
    aged = AGED if aged is None else aged
    balances = BALANCES if balances is None else balances
    kwargs.setdefault("aged_total", str(sum(pd.to_numeric([r["total"] for r in aged]))) if aged else None)
    kwargs.setdefault("balance_total", str(sum(pd.to_numeric([r["balance"] for r in balances]))) if balances
                      else None)
    return report_frames_from_records(aged, balances, **kwargs)


def run(report_frames: ReportFrames | None) -> ReconResult:
    work = work_frames_from_records(
        clients=[{"work_id": 1, "display_name": "Alpha"}, {"work_id": 2, "display_name": "Bravo"},
                 {"work_id": 3, "display_name": "Charlie"}],
        invoices=[
            {"work_id": 1, "number": "W-1", "client_id": 1, "issue_date": date(2026, 3, 16),
             "due_date": date(2026, 4, 15), "total": "100.00"},
            {"work_id": 2, "number": "W-2", "client_id": 1, "issue_date": date(2026, 2, 1),
             "due_date": date(2026, 3, 1), "total": "50.00"},
            {"work_id": 3, "number": "W-3", "client_id": 2, "issue_date": date(2026, 1, 5),
             "due_date": date(2026, 1, 15), "total": "200.00"},
            {"work_id": 4, "number": "W-4", "client_id": 3, "issue_date": date(2026, 3, 31),
             "due_date": date(2026, 4, 30), "total": "40.00"},
        ],
    )
    invoices = [
        {"qbo_id": 201, "doc_number": "W-1", "customer_qbo_id": 101, "txn_date": "2026-03-16",
         "due_date": "2026-04-15", "total": "100.00", "balance": "100.00"},
        {"qbo_id": 202, "doc_number": "W-2", "customer_qbo_id": 101, "txn_date": "2026-02-01",
         "due_date": "2026-03-01", "total": "50.00", "balance": "50.00"},
        {"qbo_id": 203, "doc_number": "W-3", "customer_qbo_id": 102, "txn_date": "2026-01-05",
         "due_date": "2026-01-15", "total": "200.00", "balance": "150.00"},
        {"qbo_id": 204, "doc_number": "W-4", "customer_qbo_id": 103, "txn_date": "2026-03-31",
         "due_date": "2026-04-30", "total": "40.00", "balance": "40.00"},
        {"qbo_id": 208, "doc_number": "1008", "customer_qbo_id": 106, "txn_date": "2026-03-11",
         "due_date": "2026-04-10", "total": "30.00", "balance": "30.00"},
        {"qbo_id": 210, "doc_number": "900", "customer_qbo_id": 103, "txn_date": "2025-12-01",
         "due_date": "2025-12-31", "total": "80.00", "balance": "80.00"},
    ]
    qbo = qbo_frames_from_records(
        customers=[{"qbo_id": 101, "display_name": "Alpha", "balance": "150.00"},
                   {"qbo_id": 102, "display_name": "Bravo", "balance": "150.00"},
                   {"qbo_id": 103, "display_name": "Charlie", "balance": "110.00"},
                   {"qbo_id": 106, "display_name": "Foxtrot", "balance": "30.00"}],
        invoices=invoices,
        payments=[{"qbo_id": 306, "customer_qbo_id": 102, "txn_date": "2026-02-01", "total": "50.00",
                   "unapplied": "0"},
                  {"qbo_id": 307, "customer_qbo_id": 103, "txn_date": "2025-12-15", "total": "10.00",
                   "unapplied": "10.00"}],
        payment_lines=[{"payment_qbo_id": 306, "invoice_qbo_id": 203, "amount": "50.00"}],
        reports=report_frames,
    )
    links = link_frames_from_records(
        customers=[{"work_id": w, "qbo_id": q} for w, q in ((1, 101), (2, 102), (3, 103))],
        invoices=[{"work_id": w, "qbo_id": q} for w, q in ((1, 201), (2, 202), (3, 203), (4, 204))],
    )
    return reconcile(work, qbo, links, as_of=AS_OF, integration_date=INTEGRATION)


def test_planted_differences_are_found_per_customer_and_bucket() -> None:
    result = run(reports())
    customers = result.frame("tieout_customers")
    assert len(customers) == EXPECTED_CUSTOMERS
    found = {int(r["qbo_id"]): r for r in customers.to_dict("records")}
    assert set(found) == {102, 106}
    bravo = found[102]
    assert (bravo["work_id"], bravo["work_ar_cents"], bravo["aged_report_cents"]) == (2, 20000, 15000)
    assert (bravo["difference_cents"], bravo["balance_difference_cents"]) == (-5000, -5000)
    assert "AgedReceivables total differs" in bravo["reason"] and "CustomerBalance differs" in bravo["reason"]
    foxtrot = found[106]
    assert pd.isna(foxtrot["work_id"]) and foxtrot["difference_cents"] == 3000
    assert "no WORK client is linked" in foxtrot["reason"]
    aging = result.frame("tieout_aging")
    assert len(aging) == EXPECTED_AGING
    assert sorted(zip(aging["qbo_id"].astype(int), aging["bucket"], aging["difference_cents"], strict=True)) == [
        (102, "61-90", -5000), (106, "current", 3000)]
    assert not result.in_agreement
    # the full table has every customer; Charlie agrees once QBO's history is taken out
    table = result.table("tieout").set_index("qbo_id")
    charlie = table.loc[103]
    assert (charlie["work_ar_cents"], charlie["qbo_outside_cents"], charlie["aged_report_cents"]) == (4000, 7000, 11000)
    assert charlie["difference_cents"] == 0 and charlie["balance_difference_cents"] == 0
    assert table.loc[101, "difference_cents"] == 0
    totals = {t.name: t for t in result.totals}
    assert totals["ar_aged_report"].work == 4000 + 15000 + 20000
    assert totals["ar_aged_report"].difference == -5000 + 3000
    assert result.tie_out == "done: 2 of 4 customers differ from QBO's reports, 2 aging buckets"


def test_credits_may_age_in_current_or_by_their_date() -> None:
    """Charlie's unapplied payment of 2025-12-15 is 106 days old: QBO may show it in current or in
    91+; both agree."""
    dated = [dict(r) for r in AGED]
    dated[2] = {"customer_qbo_id": 103, "name": "Charlie", "current": "40.00", "days_61_90": "80.00",
                "days_91_over": "-10.00", "total": "110.00"}
    result = run(reports(aged=dated))
    assert 103 not in result.frame("tieout_aging")["qbo_id"].astype(int).tolist()
    assert 103 not in result.frame("tieout_customers")["qbo_id"].astype(int).tolist()


def test_reports_that_agree_leave_the_verdict_to_the_rest() -> None:
    """Without Bravo's and Foxtrot's rows... the reports agree; the rest of the comparison still
    finds the QBO-only payment and invoice, so only the tie-out categories are clean."""
    fixed = [dict(r) for r in AGED if r["customer_qbo_id"] != 106]
    fixed[1] = {"customer_qbo_id": 102, "name": "Bravo", "days_61_90": "200.00", "total": "200.00"}
    balances = [dict(r) for r in BALANCES if r["customer_qbo_id"] != 106]
    balances[1] = {"customer_qbo_id": 102, "name": "Bravo", "balance": "200.00"}
    result = run(reports(aged=fixed, balances=balances))
    assert result.counts["tieout_customers"] == 0 and result.counts["tieout_aging"] == 0
    assert result.counts["payments_missing_in_work"] == 1
    assert result.tie_out == "done: QBO's AgedReceivables and CustomerBalance agree for all 3 customers"


def test_no_reports_means_no_tie_out() -> None:
    result = run(None)
    assert result.counts["tieout_customers"] == 0 and result.table("tieout").empty
    assert "ar_aged_report" not in {t.name for t in result.totals}
    assert result.tie_out == "not done: QBO's A/R reports were not read"


def test_a_report_that_could_not_be_read_is_one_row_and_no_agreement() -> None:
    problem = "QBO's AgedReceivables report could not be read: QBO 500 Unsupported Operation"
    result = run(reports(aged=[], problems=[problem]))
    rows = result.frame("tieout_customers")
    assert rows["reason"].tolist() == [problem]
    assert rows["qbo_id"].isna().all() and rows["aged_report_cents"].isna().all()
    assert result.counts["tieout_aging"] == 0
    assert not result.in_agreement
    assert result.tie_out == "could not be done: " + problem


def test_a_report_whose_rows_do_not_add_up_to_its_total_is_refused() -> None:
    result = run(reports(aged_total="999.00"))
    reasons = result.frame("tieout_customers")["reason"].tolist()
    assert len(reasons) == 1 and "add up to 440.00" in reasons[0] and "999.00" in reasons[0]


def test_the_report_shows_the_tie_out(tmp_path: Any) -> None:
    result = run(reports())
    html = to_html(result)
    assert "A/R tie-out to QBO&#39;s reports" in html and "Foxtrot" in html
    names = [p.name for p in to_csv(result, tmp_path / "csv")]
    assert "tieout.csv" in names and "tieout_customers.csv" in names
    text = (tmp_path / "csv" / "tieout_customers.csv").read_text()
    assert "-50.00" in text and "no WORK client is linked" in text
    assert result.to_dict()["categories"]["tieout_aging"][0]["difference"] in {"-50.00", "30.00"}


def test_what_was_paid_after_the_report_day_is_still_owed_on_it() -> None:
    """A month-end tie-out: invoice W-1 (100.00, due 2026-03-20) was paid 40.00 on 2026-04-10, after the
    report day 2026-03-31. QBO's reports as of that day still show 100.00 in 1-30; so does WORK's side."""
    work = work_frames_from_records(
        clients=[{"work_id": 1, "display_name": "Solo"}],
        invoices=[{"work_id": 1, "number": "W-1", "client_id": 1, "issue_date": date(2026, 3, 1),
                   "due_date": date(2026, 3, 20), "total": "100.00"}],
        payments=[{"work_id": 1, "invoice_id": 1, "date": date(2026, 4, 10), "amount": "40.00"}])
    qbo = qbo_frames_from_records(
        customers=[{"qbo_id": 101, "display_name": "Solo", "balance": "60.00"}],
        invoices=[{"qbo_id": 201, "doc_number": "W-1", "customer_qbo_id": 101, "txn_date": "2026-03-01",
                   "due_date": "2026-03-20", "total": "100.00", "balance": "60.00"}],
        payments=[{"qbo_id": 301, "customer_qbo_id": 101, "txn_date": "2026-04-10", "total": "40.00"}],
        payment_lines=[{"payment_qbo_id": 301, "invoice_qbo_id": 201, "amount": "40.00"}],
        reports=reports(aged=[{"customer_qbo_id": 101, "name": "Solo", "days_1_30": "100.00", "total": "100.00"}],
                        balances=[{"customer_qbo_id": 101, "name": "Solo", "balance": "100.00"}]))
    links = link_frames_from_records(customers=[{"work_id": 1, "qbo_id": 101}],
                                     invoices=[{"work_id": 1, "qbo_id": 201}],
                                     payments=[{"work_id": 1, "qbo_id": 301}])
    result = reconcile(work, qbo, links, as_of=AS_OF, integration_date=INTEGRATION)
    assert result.counts["tieout_customers"] == 0 and result.counts["tieout_aging"] == 0
    assert result.table("tieout")["work_ar_cents"].tolist() == [10000]
    assert result.in_agreement
