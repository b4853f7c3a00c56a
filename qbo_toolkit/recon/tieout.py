"""Tie-out: WORK's receivables per customer beside QBO's own AgedReceivables and CustomerBalance
reports, the figures accountants already trust (pure; :func:`qbo_toolkit.recon.compare.reconcile`
calls :func:`tie_out` when the QBO frames carry reports).

Per QBO customer (the partner of a WORK client, or a customer either report lists):

* **our A/R** -- what WORK says the client owed on the day of the reports: its open invoices in
  scope (live, expected in QBO, dated on or before that day, with what was paid or credited after
  it added back, as QBO's reports count only what is dated on or before their report date) less its
  unapplied credits (credit notes of that day not yet applied to an invoice), each item aged by its
  due date (an invoice without one falls due ``default_due_days`` after its date);
* **QBO outside** -- what QBO's reports rightly hold that WORK does not: QBO's open invoices and
  unapplied credits dated before the integration date (history the sync never brings over);
* **the reports** -- the customer's row of AgedReceivables (per bucket and total) and of
  CustomerBalance;
* **the difference** -- report − outside − our A/R (QBO minus WORK, as everywhere in the result):
  ``difference_cents`` for AgedReceivables, ``balance_difference_cents`` for CustomerBalance.

A customer differs when either report's total differs beyond the tolerance (category
``tieout_customers``, with a reason), and an aging bucket differs when the report's bucket does
(``tieout_aging``). Where QBO ages a credit (an unapplied credit memo or payment) is not documented
(it has no due date): the buckets agree when they agree with the credits either in "current" or
aged by their own date, and when neither does, the placement with fewer differing buckets is shown.
The totals never depend on that choice.

A report that could not be read or used (a fault, columns that are not the aging buckets, rows
without a customer Id, rows that do not add up to the report's own TOTAL line) is one row of
``tieout_customers`` saying so: the tie-out could not be done, so the result cannot claim agreement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from .frames import AGED_BUCKET_COLUMNS, ReportFrames
from .result import Total

__all__ = ["ArItems", "TieOut", "tie_out"]

_BUCKETS: Final = 5
_BUCKET_NAMES: Final = ("current", "1-30", "31-60", "61-90", "91+")


@dataclass(frozen=True)
class ArItems:
    """Open receivable items of one side, one per element: the QBO customer they belong to, the
    aging bucket (0-4: by due date for an invoice, by its own date for a credit), the open amount in
    cents (negative for a credit) and whether it is a credit."""

    customer: np.ndarray
    bucket: np.ndarray
    cents: np.ndarray
    credit: np.ndarray

    @classmethod
    def empty(cls) -> ArItems:
        return cls(np.empty(0, np.int64), np.empty(0, np.int8), np.empty(0, np.int64), np.empty(0, bool))

    @classmethod
    def join(cls, *parts: ArItems) -> ArItems:
        return cls(*(np.concatenate([getattr(p, name) for p in parts]) for name in
                     ("customer", "bucket", "cents", "credit")))


@dataclass(frozen=True)
class TieOut:
    """The full table (every customer), the customers and buckets that differ, and two totals."""

    table: pd.DataFrame
    customers: pd.DataFrame
    aging: pd.DataFrame
    totals: tuple[Total, ...]


CUSTOMER_COLUMNS: Final = ("qbo_id", "work_id", "name", "work_ar_cents", "qbo_outside_cents", "aged_report_cents",
                           "difference_cents", "balance_report_cents", "balance_difference_cents", "reason")
AGING_COLUMNS: Final = ("qbo_id", "work_id", "name", "bucket", "work_cents", "qbo_outside_cents", "report_cents",
                        "difference_cents")


def _empty_customers() -> pd.DataFrame:
    none = np.empty(0, np.int64)
    return _customer_frame(none, none, np.empty(0, bool), np.empty(0, object), none, none, none, none, none, none,
                           np.empty(0, object))


def _customer_frame(qbo_ids: np.ndarray, work_ids: np.ndarray, has_work: np.ndarray, names: np.ndarray,
                    work: np.ndarray, outside: np.ndarray, aged: np.ndarray, aged_diff: np.ndarray,
                    balance: np.ndarray, balance_diff: np.ndarray, reasons: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({
        "qbo_id": pd.array(qbo_ids, dtype="Int64"),
        "work_id": pd.arrays.IntegerArray(work_ids.astype(np.int64), ~has_work.astype(bool)),
        "name": pd.Series(names, dtype="str"),
        "work_ar_cents": pd.array(work, dtype="Int64"),
        "qbo_outside_cents": pd.array(outside, dtype="Int64"),
        "aged_report_cents": pd.array(aged, dtype="Int64"),
        "difference_cents": pd.array(aged_diff, dtype="Int64"),
        "balance_report_cents": pd.array(balance, dtype="Int64"),
        "balance_difference_cents": pd.array(balance_diff, dtype="Int64"),
        "reason": pd.Series(reasons, dtype="str"),
    })


def _problem_rows(problems: list[str]) -> pd.DataFrame:
    n = len(problems)
    missing = pd.array([pd.NA] * n, dtype="Int64")
    return pd.DataFrame({
        "qbo_id": missing, "work_id": missing, "name": pd.Series([""] * n, dtype="str"),
        **{c: missing for c in CUSTOMER_COLUMNS[3:9]},
        "reason": pd.Series(problems, dtype="str"),
    })


def _sums(index: np.ndarray, items: ArItems, *, credits_current: bool) -> np.ndarray:
    """Per customer of ``index`` (sorted ids) and bucket: the sum of ``items`` (int64 [n, 5])."""
    out = np.zeros((len(index), _BUCKETS), dtype=np.int64)
    if not len(items.cents):
        return out
    rows = np.searchsorted(index, items.customer)
    buckets = np.where(items.credit, 0, items.bucket) if credits_current else items.bucket
    np.add.at(out, (rows, buckets.astype(np.int64)), items.cents.astype(np.int64))
    return out


def _report_problems(reports: ReportFrames) -> list[str]:
    problems = list(reports.problems)
    aged, balances = reports.aged, reports.balances
    if reports.aged_total_cents is not None and not any("AgedReceivables" in p for p in problems):
        rows_total = int(aged["total_cents"].sum())
        if rows_total != reports.aged_total_cents:
            problems.append(f"QBO's AgedReceivables report: its customers' rows add up to {rows_total / 100:.2f} but "
                            f"its TOTAL line says {reports.aged_total_cents / 100:.2f}; the report cannot be tied out")
        buckets = aged[list(AGED_BUCKET_COLUMNS)].to_numpy(dtype=np.int64).sum(axis=1)
        off = np.flatnonzero(buckets != aged["total_cents"].to_numpy(dtype=np.int64))
        if len(off):
            name = str(aged["name"].iloc[int(off[0])]) or str(int(aged["customer_qbo_id"].iloc[int(off[0])]))
            problems.append(f"QBO's AgedReceivables report: the aging columns of {len(off)} customer row(s) "
                            f"(first: {name}) do not add up to their Total")
    if reports.balance_total_cents is not None and not any("CustomerBalance" in p for p in problems):
        rows_total = int(balances["balance_cents"].sum())
        if rows_total != reports.balance_total_cents:
            problems.append(f"QBO's CustomerBalance report: its customers' rows add up to {rows_total / 100:.2f} but "
                            f"its TOTAL line says {reports.balance_total_cents / 100:.2f}; the report cannot be "
                            "tied out")
    return problems


def tie_out(reports: ReportFrames, work: ArItems, outside: ArItems, *, partners: Mapping[int, int],
            names: Mapping[int, str], tol: int) -> TieOut:
    """Compare ``work`` (our A/R items, by QBO customer) and ``outside`` (QBO's items not expected
    in WORK) with the reports; ``partners`` maps a QBO customer id to its WORK client id, ``names``
    gives the name to show per QBO customer id (WORK's where known). See the module docstring."""
    problems = _report_problems(reports)
    aged, balances = reports.aged, reports.balances
    aged_ids = aged["customer_qbo_id"].to_numpy(dtype=np.int64)
    balance_ids = balances["customer_qbo_id"].to_numpy(dtype=np.int64)
    index = np.unique(np.concatenate([aged_ids, balance_ids, work.customer.astype(np.int64),
                                      outside.customer.astype(np.int64)]))
    n = len(index)
    report = np.zeros((n, _BUCKETS), dtype=np.int64)
    aged_pos = np.searchsorted(index, aged_ids)
    report[aged_pos] = aged[list(AGED_BUCKET_COLUMNS)].to_numpy(dtype=np.int64)
    aged_total = np.zeros(n, dtype=np.int64)
    aged_total[aged_pos] = aged["total_cents"].to_numpy(dtype=np.int64)
    in_aged = np.zeros(n, dtype=bool)
    in_aged[aged_pos] = True
    balance = np.zeros(n, dtype=np.int64)
    balance_pos = np.searchsorted(index, balance_ids)
    balance[balance_pos] = balances["balance_cents"].to_numpy(dtype=np.int64)
    in_balance = np.zeros(n, dtype=bool)
    in_balance[balance_pos] = True

    placed: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for current in (True, False):
        w = _sums(index, work, credits_current=current)
        o = _sums(index, outside, credits_current=current)
        placed.append((w, o, report - o - w))
    # per customer, the credit placement with fewer differing buckets (ties: credits in "current")
    counts = [np.count_nonzero(np.abs(diff) > tol, axis=1) for _, _, diff in placed]
    use_dated = counts[1] < counts[0]
    w_b = np.where(use_dated[:, None], placed[1][0], placed[0][0])
    o_b = np.where(use_dated[:, None], placed[1][1], placed[0][1])
    d_b = np.where(use_dated[:, None], placed[1][2], placed[0][2])
    work_ar = w_b.sum(axis=1)
    outside_ar = o_b.sum(axis=1)
    aged_diff = aged_total - outside_ar - work_ar
    balance_diff = balance - outside_ar - work_ar

    has_work = np.array([int(i) in partners for i in index], dtype=bool)
    work_ids = np.array([partners.get(int(i), 0) for i in index], dtype=np.int64)
    shown = np.array([names.get(int(i), "") for i in index], dtype=object)
    aged_off = np.abs(aged_diff) > tol
    balance_off = np.abs(balance_diff) > tol
    reasons = np.full(n, "", dtype=object)
    for row in np.flatnonzero(aged_off | balance_off):
        parts = []
        nowhere = not in_aged[row] and not in_balance[row]
        if nowhere:
            parts.append("not in QBO's A/R reports, while WORK has an open balance")
        else:
            if aged_off[row]:
                parts.append("AgedReceivables " + ("does not list the customer" if not in_aged[row]
                                                   else "total differs"))
            if balance_off[row]:
                parts.append("CustomerBalance " + ("does not list the customer" if not in_balance[row]
                                                   else "differs"))
        if not has_work[row] and not nowhere:
            parts.append("no WORK client is linked to this customer")
        reasons[row] = "; ".join(parts)
    table = _customer_frame(index, work_ids, has_work, shown, work_ar, outside_ar, aged_total, aged_diff, balance,
                            balance_diff, reasons)
    if problems:
        # a report that cannot be used is the finding: comparing against it would list every customer
        customers = _problem_rows(problems)
        rows = cols = np.empty(0, dtype=np.int64)
    else:
        customers = table.loc[aged_off | balance_off]
        rows, cols = np.nonzero(np.abs(d_b) > tol)
    aging = pd.DataFrame({
        "qbo_id": pd.array(index[rows], dtype="Int64"),
        "work_id": pd.arrays.IntegerArray(work_ids[rows], ~has_work[rows]),
        "name": pd.Series(shown[rows], dtype="str"),
        "bucket": pd.Series(np.array(_BUCKET_NAMES, dtype=object)[cols], dtype="str"),
        "work_cents": w_b[rows, cols],
        "qbo_outside_cents": o_b[rows, cols],
        "report_cents": report[rows, cols],
        "difference_cents": d_b[rows, cols],
    })
    aged_grand = reports.aged_total_cents if reports.aged_total_cents is not None else int(aged_total.sum())
    balance_grand = (reports.balance_total_cents if reports.balance_total_cents is not None
                     else int(balance.sum()))
    totals = (
        Total("ar_aged_report", "A/R: QBO's AgedReceivables report (less QBO-only history)", "money",
              int(work_ar.sum()), aged_grand - int(outside_ar.sum())),
        Total("ar_balance_report", "A/R: QBO's CustomerBalance report (less QBO-only history)", "money",
              int(work_ar.sum()), balance_grand - int(outside_ar.sum())),
    )
    return TieOut(table.reset_index(drop=True), customers.reset_index(drop=True), aging, totals)


def empty_tie_out() -> TieOut:
    """No reports were read: empty frames, no totals."""
    empty = _empty_customers()
    aging = pd.DataFrame({
        "qbo_id": pd.array([], dtype="Int64"), "work_id": pd.array([], dtype="Int64"),
        "name": pd.Series([], dtype="str"), "bucket": pd.Series([], dtype="str"),
        **{c: pd.Series([], dtype="int64") for c in AGING_COLUMNS[4:]},
    })
    return TieOut(empty, empty.copy(), aging, ())
