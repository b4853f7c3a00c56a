"""The sync job: one run of the sync for a scheduler (the sync notebook calls it)."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any

from ..exits import classify
from .params import check_params
from .summary import JobSummary, meter_details, write_summary

__all__ = ["sync_job", "sync_verdict"]


def sync_job(*, settings: str | Mapping[str, Any] | None = None, work_db: str | None = None,
             realm: str | None = None, dry_run: bool = False, output_dir: str | None = None, progress: bool = True,
             wait: float = 0, job: str = "the sync job (sync.ipynb)") -> JobSummary:
    """One sync run; ``summary.json`` into ``output_dir`` (when given) whatever happens.

    Exit 0 only when the run sent everything and nothing is outstanding; 1 when records failed, wait
    for a match decision or are still not in QuickBooks; 75 when another sync of the company kept
    running past ``wait`` seconds (nothing was sent); otherwise the code of :mod:`qbo_toolkit.exits`.
    The app's settings are used unless ``settings`` names a file (or holds a mapping)."""
    from ..connection import connection
    from ..errors import SyncBusy
    from ..qbo.meter import budget_scope, get_meter
    from ..settings import resolve_settings
    from ..sync.api import run_sync
    from ..work.store import WorkStore

    details: dict[str, Any] = {"dry_run": dry_run}
    with get_meter().tally() as tally, ExitStack() as scope:  # the settings' budget while the job runs
        try:
            given = {k: v for k, v in {"settings": settings, "work_db": work_db, "realm": realm, "dry_run": dry_run,
                                       "wait": wait}.items() if v is not None}
            checked = check_params("sync", given, source="sync job")
            source = resolve_settings(checked.get("settings"), required=True)
            details["settings"] = source.as_dict()
            scope.enter_context(budget_scope(source.settings.meter.monthly_budget))
            conn = connection(realm)
            details.update(realm=conn.realm_id, company=conn.company_name)
            result = run_sync(source, store=WorkStore(work_db), conn=conn, dry_run=dry_run, progress=progress,
                              wait=float(checked.get("wait", 0)), job=job)
        except SyncBusy as exc:
            meter_details(details, tally)
            summary = JobSummary.failed("sync", classify(exc, "sync"), details)
        except BaseException as exc:
            meter_details(details, tally)
            write_summary(output_dir, JobSummary.failed("sync", classify(exc, "sync"), details))
            raise
        else:
            findings, message = sync_verdict(result)
            details.update({k: v for k, v in result.to_dict().items() if k not in ("status", "message")},
                           run_status=result.status, run_text=result.text)
            meter_details(details, tally)
            summary = JobSummary.of("sync", findings, message, details)
    write_summary(output_dir, summary)
    return summary


def sync_verdict(result: Any) -> tuple[bool, str]:
    """Whether a finished run leaves something for a person (failures, records not in QuickBooks,
    match decisions), and the sentence that says so."""
    failed = int(result.failed or result.counts.get("failed", 0))
    outstanding = len(result.outstanding)
    matches = (f", {result.pending_matches} customer match(es) waiting for a decision in the match preview"
               if result.pending_matches else "")
    if failed:
        return True, (f"completed with {failed} failure(s)"
                      + (f", {outstanding} record(s) not yet in QuickBooks" if outstanding else "") + matches
                      + ": see the activity log (or the status screen's Needs attention) and fix what it names")
    if outstanding or result.pending_matches:
        parts = [f"{outstanding} record(s) not yet in QuickBooks"] if outstanding else []
        if result.pending_matches:
            parts.append(f"{result.pending_matches} customer match(es) waiting for a decision in the match preview")
        return True, "completed, but " + " and ".join(parts)
    if result.dry_run:
        return False, "dry run: nothing was written"
    return False, "completed: nothing outstanding"
