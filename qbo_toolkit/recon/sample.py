"""Datasets for tests, benchmarks and demos of the reconciliation, built directly as frames.

:func:`sample_frames` -- a tiny, hand-made dataset where every difference is planted on purpose.
Compared with :data:`SAMPLE_AS_OF`, :data:`SAMPLE_INTEGRATION_DATE` and default state "CA", it
gives exactly the counts in :data:`SAMPLE_EXPECTED` (and :data:`SAMPLE_EXPECTED_TOLERANT` with a
tolerance of 0.01). QBO's own figures (invoice and customer balances, unapplied amounts) are what
QBO would compute from its side, so one planted difference may show in more than one category;
each consequence is listed below.

Customers (WORK id / QBO id)::

    1 / 101  Alpha Plumbing            agree
    2 / 102  Bravo Electric            e-mail differs                        -> customers_fields
    3 / 103  Charlie's <Cafe> & Bar    phone differs; billing state NV / CA  -> customers_fields (2)
    4 / 104  Delta Storage             inactive in QBO only                  -> customers_inactive_one_side
                                       (QBO state empty = default CA: agrees)
    5 / -    Echo Farms                WORK only                             -> customers_unlinked
    - / 106  Foxtrot Bakery            QBO only                              -> customers_unlinked
    7 / 107  Golf Landscaping          same name, not linked                 -> customers_unlinked (side "both")
    8 / 108  Hotel Supply              weak match waiting for a decision     -> pending (waiting_match,
                                       one row naming its QBO candidate)
    9 / 109  India Imports             QBO name "India Imports (2)" given by the sync: agrees

Invoices (WORK id number / QBO id), as of 2026-03-31, integration date 2026-01-01::

    1  W-1001 / 201  agree (paid 40.00 by payment 1), but its last update failed
                     and the failure is open                  -> pending (sync_failed)
    2  W-1002 / 202  total 250.00 / 250.01                    -> invoices_total, invoices_balance
    3  W-1003 / 203  tax 8.25 / 0.00                          -> invoices_tax
                     payment 3 applied elsewhere in QBO: balance 88.25 / 108.25 -> invoices_balance
    4  W-1004 / 204  date 2026-02-01 / 2026-02-02             -> invoices_date
                     payments 2 (55.00) and 3 (20.00) in QBO: balance 250.00 / 225.00 -> invoices_balance
    5  W-1005 / 205  billed to customer 101 in QBO            -> invoices_customer
                     payment 4 missing in QBO: balance 50.00 / 75.00 -> invoices_balance
    6  W-1006 / 206  void in WORK, open in QBO                -> invoices_void_or_deleted
    7  W-1007 / -    WORK only                                -> invoices_missing_in_qbo
    -  W-1008 / 208  QBO only                                 -> invoices_missing_in_work
    9  W-0999 / -    dated before the integration date        -> invoices_not_expected
    -  1001   / 210  QBO only, before the integration date    -> invoices_not_expected
    11 W-1011 / -    its client 8 waits for a match decision  -> pending (waiting_match)
    12 W-1012 / 212  not in the id map, same number: paired, agree
    13 W-1013 / -    a draft                                  -> invoices_not_expected
    14 W-1014 / 214  changed in QBO after the sync (values agree; no due date in WORK, QBO's is
                     30 days after the date, as aging assumes)  -> changed_in_qbo
    15 W-1015 / 215  deleted on both sides: agree
    16 W-1016 / 216  agree (customer 9 / 109)

Payments (WORK id / QBO id)::

    1 / 301  agree
    2 / 302  amount 50.00 / 55.00                          -> payments_amount
    3 / 303  QBO applies it to invoice 204, not 203         -> payments_applied_to
    4 / -    WORK only                                      -> payments_missing_in_qbo
    - / 306  QBO only, 15.00 not applied to any invoice     -> payments_missing_in_work, payments_unapplied
    6 / -    dated before the integration date              -> payments_not_expected
    - / 307  QBO only, before the integration date          -> payments_not_expected
    7 / -    on invoice 11, waiting for its client          -> pending (waiting_match)

Consequences on customers and aging:

* open balances (QBO − WORK, in scope) differ for 1 (+60.01: invoice 2's cent, invoice 5 billed
  to it, the 15.00 credit), 2 (-5.00), 3 (+10.00: invoice 6 void in WORK), 4 (-10.00: invoices 7
  and 208)                                                -> customer_balances (4)
* aging buckets 1-30 (+70.00, 4 / 5 invoices) and 31-60 (+0.01) -> aging_buckets (2)

With a tolerance of 0.01 the one-cent differences go: invoices_total 0, invoices_balance 3,
aging_buckets 1 (customer 1 still differs by 60.01).

:func:`synthetic_frames` -- many rows per side with a known number of planted differences, for
the performance checks (``n`` invoices per side, all linked, a tenth of them paid).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Final

import numpy as np
import pandas as pd

from .frames import (
    LinkFrames,
    QboFrames,
    WorkFrames,
    link_frames_from_records,
    qbo_frames_from_records,
    work_frames_from_records,
)

__all__ = [
    "SAMPLE_AS_OF",
    "SAMPLE_DEFAULT_STATE",
    "SAMPLE_EXPECTED",
    "SAMPLE_EXPECTED_TOLERANT",
    "SAMPLE_INTEGRATION_DATE",
    "sample_frames",
    "synthetic_frames",
]

SAMPLE_AS_OF: Final = date(2026, 3, 31)
SAMPLE_INTEGRATION_DATE: Final = date(2026, 1, 1)
SAMPLE_DEFAULT_STATE: Final = "CA"

#: Rows per category for :func:`sample_frames` (tolerance 0).
SAMPLE_EXPECTED: Final[dict[str, int]] = {
    "customers_unlinked": 3,
    "customers_fields": 3,
    "customers_inactive_one_side": 1,
    "customer_balances": 4,
    "invoices_missing_in_qbo": 1,
    "invoices_missing_in_work": 1,
    "invoices_total": 1,
    "invoices_tax": 1,
    "invoices_balance": 4,
    "invoices_date": 1,
    "invoices_due_date": 0,
    "invoices_customer": 1,
    "invoices_number": 0,
    "invoices_void_or_deleted": 1,
    "payments_missing_in_qbo": 1,
    "payments_missing_in_work": 1,
    "payments_amount": 1,
    "payments_date": 0,
    "payments_applied_to": 1,
    "payments_unapplied": 1,
    "credit_notes_missing_in_qbo": 0,
    "credit_notes_missing_in_work": 0,
    "credit_notes_amount": 0,
    "credit_applied": 0,
    "credits_unapplied": 0,
    "refunds_missing_in_qbo": 0,
    "refunds_missing_in_work": 0,
    "refunds_amount": 0,
    "tax_by_rate": 0,
    "aging_buckets": 2,
    "tieout_customers": 0,
    "tieout_aging": 0,
    "changed_in_qbo": 1,
    "invoices_not_expected": 3,
    "payments_not_expected": 2,
    "credits_not_expected": 0,
    "pending": 4,
}
#: The same with a tolerance of 0.01: the one-cent differences are let through.
SAMPLE_EXPECTED_TOLERANT: Final[dict[str, int]] = {
    **SAMPLE_EXPECTED, "invoices_total": 0, "invoices_balance": 3, "aging_buckets": 1,
}

_SYNCED: Final = datetime(2026, 3, 31, 10, 0, 0, tzinfo=UTC)
_LAST_SYNC: Final = datetime(2026, 3, 31, 10, 5, 0, tzinfo=UTC)
_SEEN: Final = "2026-03-31T03:04:00-07:00"  # during the last sync run (10:04 UTC)
_CHANGED: Final = "2026-03-31T04:00:00-07:00"  # after it (11:00 UTC)


def _d(text: str) -> date:
    return date.fromisoformat(text)


def sample_frames() -> tuple[WorkFrames, QboFrames, LinkFrames]:
    """The planted dataset of the module docstring: (WORK, QBO, links)."""
    clients = [
        {"work_id": 1, "display_name": "Alpha Plumbing", "email": "a@alpha.example", "phone": "555-0101",
         "billing_state": "CA"},
        {"work_id": 2, "display_name": "Bravo Electric", "email": "ops@bravo.example", "phone": "555-0102",
         "billing_state": "CA"},
        {"work_id": 3, "display_name": "Charlie's <Cafe> & Bar", "email": "c@charlie.example", "phone": "555-0103",
         "billing_state": "NV"},
        {"work_id": 4, "display_name": "Delta Storage", "email": "d@delta.example", "billing_state": "CA"},
        {"work_id": 5, "display_name": "Echo Farms", "billing_state": "CA"},
        {"work_id": 7, "display_name": "Golf Landscaping", "billing_state": "CA"},
        {"work_id": 8, "display_name": "Hotel Supply", "billing_state": "CA"},
        {"work_id": 9, "display_name": "India Imports", "billing_state": "CA"},
    ]
    customers: list[dict[str, Any]] = [
        {"qbo_id": "101", "display_name": "Alpha Plumbing", "email": "a@alpha.example", "phone": "555-0101",
         "billing_state": "CA", "balance": "500.01"},
        {"qbo_id": "102", "display_name": "Bravo Electric", "email": "billing@bravo.example", "phone": "555-0102",
         "billing_state": "CA", "balance": "403.25"},
        {"qbo_id": "103", "display_name": "Charlie's <Cafe> & Bar", "email": "c@charlie.example",
         "phone": "555-0199", "billing_state": "CA", "balance": "60.00"},
        {"qbo_id": "104", "display_name": "Delta Storage", "email": "d@delta.example", "billing_state": "",
         "active": False, "balance": "80.00"},
        {"qbo_id": "106", "display_name": "Foxtrot Bakery", "billing_state": "CA", "balance": "0"},
        {"qbo_id": "107", "display_name": "Golf Landscaping  ", "billing_state": "", "balance": "0"},
        {"qbo_id": "108", "display_name": "Hotel Supply", "billing_state": "CA", "balance": "0"},
        {"qbo_id": "109", "display_name": "India Imports (2)", "billing_state": "CA", "balance": "55.00"},
    ]
    for customer in customers:
        customer["last_updated"] = _SEEN

    def work_invoice(work_id: int, number: str, client: int, issue: str, due: str | None, total: str, *,
                     tax: str = "0", status: str = "open", deleted: bool = False) -> dict[str, Any]:
        return {"work_id": work_id, "number": number, "client_id": client, "issue_date": _d(issue),
                "due_date": _d(due) if due else None, "status": status, "deleted": deleted, "total": total,
                "tax": tax}

    invoices = [
        work_invoice(1, "W-1001", 1, "2026-01-10", "2026-02-09", "100.00"),
        work_invoice(2, "W-1002", 1, "2026-01-20", "2026-02-19", "250.00"),
        work_invoice(3, "W-1003", 2, "2026-02-01", "2026-03-03", "108.25", tax="8.25"),
        work_invoice(4, "W-1004", 2, "2026-02-01", "2026-03-03", "300.00"),
        work_invoice(5, "W-1005", 3, "2026-02-10", "2026-03-12", "75.00"),
        work_invoice(6, "W-1006", 3, "2026-02-12", "2026-03-14", "60.00", status="void"),
        work_invoice(7, "W-1007", 4, "2026-02-15", "2026-03-17", "90.00"),
        work_invoice(9, "W-0999", 1, "2025-12-15", "2026-01-14", "500.00"),
        work_invoice(11, "W-1011", 8, "2026-03-01", "2026-03-31", "45.00"),
        work_invoice(12, "W-1012", 1, "2026-03-05", "2026-04-04", "130.00"),
        work_invoice(13, "W-1013", 1, "2026-03-10", None, "20.00", status="draft"),
        work_invoice(14, "W-1014", 2, "2026-03-15", None, "70.00"),
        work_invoice(15, "W-1015", 9, "2026-03-20", "2026-04-19", "40.00", deleted=True),
        work_invoice(16, "W-1016", 9, "2026-03-25", "2026-04-24", "55.00"),
    ]

    def qbo_invoice(qbo_id: int, doc: str, customer: int, txn: str, due: str, total: str, balance: str, *,
                    tax: str = "0", updated: str = _SEEN) -> dict[str, Any]:
        return {"qbo_id": str(qbo_id), "doc_number": doc, "customer_qbo_id": str(customer), "txn_date": txn,
                "due_date": due, "total": total, "tax": tax, "balance": balance, "last_updated": updated}

    qbo_invoices = [
        qbo_invoice(201, "W-1001", 101, "2026-01-10", "2026-02-09", "100.00", "60.00"),
        qbo_invoice(202, "W-1002", 101, "2026-01-20", "2026-02-19", "250.01", "250.01"),
        qbo_invoice(203, "W-1003", 102, "2026-02-01", "2026-03-03", "108.25", "108.25"),
        qbo_invoice(204, "W-1004", 102, "2026-02-02", "2026-03-03", "300.00", "225.00"),
        qbo_invoice(205, "W-1005", 101, "2026-02-10", "2026-03-12", "75.00", "75.00"),
        qbo_invoice(206, "W-1006", 103, "2026-02-12", "2026-03-14", "60.00", "60.00"),
        qbo_invoice(208, "W-1008", 104, "2026-02-20", "2026-03-22", "80.00", "80.00"),
        qbo_invoice(210, "1001", 101, "2025-11-30", "2025-12-30", "10.00", "0.00"),
        qbo_invoice(212, "W-1012", 101, "2026-03-05", "2026-04-04", "130.00", "130.00"),
        qbo_invoice(214, "W-1014", 102, "2026-03-15", "2026-04-14", "70.00", "70.00", updated=_CHANGED),
        qbo_invoice(216, "W-1016", 109, "2026-03-25", "2026-04-24", "55.00", "55.00"),
    ]
    payments = [
        {"work_id": 1, "invoice_id": 1, "date": _d("2026-02-01"), "amount": "40.00"},
        {"work_id": 2, "invoice_id": 4, "date": _d("2026-03-05"), "amount": "50.00"},
        {"work_id": 3, "invoice_id": 3, "date": _d("2026-03-06"), "amount": "20.00"},
        {"work_id": 4, "invoice_id": 5, "date": _d("2026-03-07"), "amount": "25.00"},
        {"work_id": 6, "invoice_id": 9, "date": _d("2025-12-20"), "amount": "100.00"},
        {"work_id": 7, "invoice_id": 11, "date": _d("2026-03-10"), "amount": "10.00"},
    ]
    qbo_payments: list[dict[str, Any]] = [
        {"qbo_id": "301", "customer_qbo_id": "101", "txn_date": "2026-02-01", "total": "40.00", "unapplied": "0"},
        {"qbo_id": "302", "customer_qbo_id": "102", "txn_date": "2026-03-05", "total": "55.00", "unapplied": "0"},
        {"qbo_id": "303", "customer_qbo_id": "102", "txn_date": "2026-03-06", "total": "20.00", "unapplied": "0"},
        {"qbo_id": "306", "customer_qbo_id": "101", "txn_date": "2026-03-12", "total": "15.00",
         "unapplied": "15.00"},
        {"qbo_id": "307", "customer_qbo_id": "101", "txn_date": "2025-11-30", "total": "10.00", "unapplied": "0"},
    ]
    for payment in qbo_payments:
        payment["last_updated"] = _SEEN
    lines = [
        {"payment_qbo_id": "301", "invoice_qbo_id": "201", "amount": "40.00"},
        {"payment_qbo_id": "302", "invoice_qbo_id": "204", "amount": "55.00"},
        {"payment_qbo_id": "303", "invoice_qbo_id": "204", "amount": "20.00"},
        {"payment_qbo_id": "307", "invoice_qbo_id": "210", "amount": "10.00"},
    ]

    def link(work_id: int, qbo_id: int, **extra: Any) -> dict[str, Any]:
        return {"work_id": work_id, "qbo_id": str(qbo_id), "synced_at": _SYNCED, **extra}

    links = link_frames_from_records(
        customers=[link(1, 101), link(2, 102), link(3, 103), link(4, 104),
                   link(9, 109, qbo_name="India Imports (2)")],
        invoices=[link(1, 201), link(2, 202), link(3, 203), link(4, 204), link(5, 205), link(6, 206),
                  link(14, 214), link(15, 215, state="deleted"), link(16, 216)],
        payments=[link(1, 301), link(2, 302), link(3, 303)],
        pending_matches=[{"work_id": 8, "qbo_id": "108", "kind": "weak"}],
        last_sync_at=_LAST_SYNC,
        failures=[{"entity": "invoice", "work_id": 1, "qbo_id": "201", "action": "update", "field": "Line",
                   "message": "invoice W-1001: QuickBooks refused the update: Invalid Reference Id: ItemRef"}],
    )
    work = work_frames_from_records(clients, invoices, payments)
    qbo = qbo_frames_from_records(customers, qbo_invoices, qbo_payments, lines)
    return work, qbo, links


def synthetic_frames(n: int, *, differences: int = 300, seed: int = 7) -> tuple[WorkFrames, QboFrames, LinkFrames]:
    """``n`` invoices per side (all linked, agreeing) over ``n // 20`` customers, a tenth of them
    paid, then ``differences`` planted on unpaid invoices: a third of them total differences of one
    cent (which also change the balance), a third date differences, a sixth missing in QBO (the
    WORK invoice loses its link and QBO record) and a sixth missing in WORK; customer balances and
    aging differ accordingly. Built with numpy only."""
    rng = np.random.default_rng(seed)
    n_customers = max(n // 20, 1)
    ids = np.arange(1, n + 1, dtype=np.int64)
    client = rng.integers(1, n_customers + 1, n, dtype=np.int64)
    issue = np.datetime64("2026-01-01", "s") + rng.integers(0, 120, n).astype("timedelta64[D]")
    due = issue + np.timedelta64(30, "D")
    total = rng.integers(1_000, 500_000, n, dtype=np.int64)
    tax = total // 20
    n_paid = n // 10
    paid_ids = rng.choice(ids, n_paid, replace=False)
    paid_amount = total[paid_ids - 1] // 2
    paid = np.zeros(n, dtype=np.int64)
    paid[paid_ids - 1] = paid_amount
    balance = total - paid

    q_ids = ids + 10_000_000
    q_total, q_balance, q_date = total.copy(), balance.copy(), issue.copy()
    unpaid = np.flatnonzero(paid == 0)  # planted rows have no payment, so each shows where it is planted
    chosen = rng.choice(unpaid, differences, replace=False)
    third, sixth = differences // 3, differences // 6
    total_rows = chosen[:third]
    date_rows = chosen[third:2 * third]
    missing_q = chosen[2 * third:2 * third + sixth]
    missing_w = chosen[2 * third + sixth:2 * third + 2 * sixth]
    q_total[total_rows] += 1
    q_balance[total_rows] += 1
    q_date[date_rows] += np.timedelta64(1, "D")

    keep_q = np.ones(n, dtype=bool)
    keep_q[missing_q] = False
    keep_w = np.ones(n, dtype=bool)
    keep_w[missing_w] = False
    linked = keep_q & keep_w
    statuses = np.full(n, "open", dtype=object)
    work_invoices = pd.DataFrame({
        "work_id": ids, "number": pd.Series(ids).map("W-{:08d}".format).astype("str"), "client_id": client,
        "issue_date": issue, "due_date": due, "status": pd.Series(statuses, dtype="str"),
        "deleted": np.zeros(n, dtype=bool), "total_cents": total, "tax_cents": tax, "paid_cents": paid,
        "balance_cents": balance,
    })[keep_w]
    customers_ids = np.arange(1, n_customers + 1, dtype=np.int64)
    names = pd.Series(customers_ids).map("Customer {:07d}".format).astype("str")
    clients = pd.DataFrame({"work_id": customers_ids, "display_name": names, "email": "", "phone": "",
                            "billing_state": "CA", "active": True})
    qbo_customers = pd.DataFrame({
        "qbo_id": customers_ids + 5_000_000, "display_name": names, "email": "", "phone": "", "billing_state": "CA",
        "active": True,
        "balance_cents": pd.Series(q_balance[keep_q]).groupby(client[keep_q]).sum()
        .reindex(customers_ids, fill_value=0).to_numpy(dtype=np.int64),
        "last_updated": pd.Timestamp("2026-03-31T10:00:00Z"),
    })
    qbo_invoices = pd.DataFrame({
        "qbo_id": q_ids, "doc_number": pd.Series(ids).map("W-{:08d}".format).astype("str"),
        "customer_qbo_id": client + 5_000_000, "txn_date": q_date, "due_date": due, "total_cents": q_total,
        "tax_cents": tax, "balance_cents": q_balance, "voided": np.zeros(n, dtype=bool),
        "last_updated": pd.Timestamp("2026-03-31T10:00:00Z"),
    })[keep_q]
    pay_ids = np.arange(1, n_paid + 1, dtype=np.int64)
    work_payments = pd.DataFrame({"work_id": pay_ids, "invoice_id": paid_ids, "date": issue[paid_ids - 1],
                                  "amount_cents": paid_amount, "deleted": np.zeros(n_paid, dtype=bool)})
    qbo_payments = pd.DataFrame({
        "qbo_id": pay_ids + 20_000_000, "customer_qbo_id": client[paid_ids - 1] + 5_000_000,
        "txn_date": issue[paid_ids - 1], "total_cents": paid_amount, "unapplied_cents": np.zeros(n_paid, np.int64),
        "last_updated": pd.Timestamp("2026-03-31T10:00:00Z"),
    })
    lines = pd.DataFrame({"payment_qbo_id": pay_ids + 20_000_000, "invoice_qbo_id": paid_ids + 10_000_000,
                          "amount_cents": paid_amount})
    synced = pd.Timestamp("2026-03-31T10:00:00Z")
    links = LinkFrames(
        customers=pd.DataFrame({"work_id": customers_ids, "qbo_id": customers_ids + 5_000_000, "state": "active",
                                "qbo_name": "", "synced_at": synced}),
        invoices=pd.DataFrame({"work_id": ids[linked], "qbo_id": q_ids[linked], "state": "active", "qbo_name": "",
                               "synced_at": synced}),
        payments=pd.DataFrame({"work_id": pay_ids, "qbo_id": pay_ids + 20_000_000, "state": "active",
                               "qbo_name": "", "synced_at": synced}),
        last_sync_at=datetime(2026, 3, 31, 10, 5, tzinfo=UTC),
    )
    work = WorkFrames(clients=clients, invoices=work_invoices, payments=work_payments)
    qbo = QboFrames(customers=qbo_customers, invoices=qbo_invoices, payments=qbo_payments, payment_lines=lines)
    return work, qbo, links
