"""Reconciliation: prove that WORK and QuickBooks agree, or show where they do not.

Compute, then an immutable result, then render, then save::

    work, qbo, links = extract_work(store), extract_qbo(client), extract_links(state)   # extract.py
    qbo = dataclasses.replace(qbo, reports=extract_reports(client, as_of))              # for the tie-out
    result = reconcile(work, qbo, links, as_of=date.today(), integration_date=...)        # compare.py (pure)
    result.in_agreement, result.verdict, result.frame("pending")                          # result.py (frozen)
    html = to_html(result); to_csv(result, folder); to_excel(result, path)               # render.py

or all of it against the live systems with :func:`reconcile_live` (api.py). Frames and their
columns are described in :mod:`.frames`; categories in :data:`.result.CATEGORIES`; the tie-out to QBO's
own A/R reports in :mod:`.tieout`.
"""

from .api import reconcile_live
from .compare import AGING_BUCKETS, reconcile
from .extract import extract_failures, extract_links, extract_qbo, extract_reports, extract_work
from .frames import (
    LinkFrames,
    QboFrames,
    ReportFrames,
    WorkFrames,
    link_frames_from_records,
    qbo_frames_from_records,
    report_frames_from_records,
    work_frames_from_records,
)
from .render import to_csv, to_excel, to_html
from .result import CATEGORIES, PENDING_STATUSES, Category, ReconResult, Total

__all__ = [
    "AGING_BUCKETS",
    "CATEGORIES",
    "PENDING_STATUSES",
    "Category",
    "LinkFrames",
    "QboFrames",
    "ReconResult",
    "ReportFrames",
    "Total",
    "WorkFrames",
    "extract_failures",
    "extract_links",
    "extract_qbo",
    "extract_reports",
    "extract_work",
    "link_frames_from_records",
    "qbo_frames_from_records",
    "reconcile",
    "reconcile_live",
    "report_frames_from_records",
    "to_csv",
    "to_excel",
    "to_html",
    "work_frames_from_records",
]
