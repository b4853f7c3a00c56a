"""The reconciliation job: compare, then a frozen result, then render, then save (here, and only here)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import ExitStack
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from ..exits import classify
from .params import check_params
from .summary import JobSummary, meter_details, write_summary

__all__ = ["reconcile_job"]


def reconcile_job(*, settings: str | Mapping[str, Any] | None = None, work_db: str | None = None,
                  realm: str | None = None, as_of: str | date | None = "today", tolerance: str | float = "0.00",
                  thresholds: Mapping[str, Any] | None = None, materiality: Mapping[str, Any] | None = None,
                  record: bool = True, fresh: bool = False, verify_mirror: bool | None = None,
                  output_dir: str | None = None,
                  on_read: Callable[[Any], None] | None = None) -> Any:
    """Reconcile WORK and QBO; write report.html, CSV, Excel and ``summary.json`` into ``output_dir``.

    ``thresholds`` maps a category (or ``"total"``) to the number of differences tolerated; exit 1
    when any is exceeded (with no thresholds: any difference, records pending included). The app's
    settings are used unless ``settings`` names a file; the report says which. Every run is kept in
    the reconciliation history (:mod:`qbo_toolkit.recon.history`: new, persisting and resolved
    differences, sign-off) unless ``record`` is false; materiality decides which differences need an
    explanation (:func:`qbo_toolkit.settings.check_materiality`): the ``materiality`` parameter when
    given (it overrides the settings' for this run), else the settings' ``materiality``; the report's
    "Needs an explanation" block and ``summary.json`` (``history.materiality``) say which was used.

    QuickBooks is read from the local mirror (:mod:`qbo_toolkit.mirror`, brought current by one
    change-data-capture request) unless ``fresh`` asks for a full read; ``verify_mirror`` None (auto)
    verifies the mirror when its last verification (or full read) is :data:`~qbo_toolkit.mirror.mirror.VERIFY_EVERY`
    old, True always, False never;
    ``summary.json`` says how it was read and what it cost (``qbo_read``), and ``on_read`` is told too
    (the CLI prints it)."""
    from ..connection import connection
    from ..files import private_dir, write_private_text
    from ..qbo.meter import budget_scope, get_meter
    from ..recon.api import reconcile_live
    from ..recon.render import to_csv, to_excel, to_html
    from ..settings import resolve_settings
    from ..work.store import WorkStore

    details: dict[str, Any] = {}
    with get_meter().tally() as tally, ExitStack() as scope:  # the settings' budget while the job runs
        try:
            given = {k: v for k, v in {"settings": settings, "work_db": work_db, "realm": realm, "as_of": as_of,
                                       "tolerance": tolerance, "thresholds": thresholds, "materiality": materiality,
                                       "record": record, "fresh": fresh,
                                       "verify_mirror": verify_mirror}.items() if v is not None}
            checked = check_params("reconcile", given, source="reconcile job")
            day = date.fromisoformat(checked.get("as_of") or date.today().isoformat())
            source = resolve_settings(checked.get("settings"))
            details.update(as_of=day.isoformat(), settings=source.as_dict(), settings_used=source.describe())
            scope.enter_context(budget_scope(source.settings.meter.monthly_budget))
            conn = connection(realm)
            details["realm"] = conn.realm_id
            store = WorkStore(work_db)
            started = datetime.now(UTC)
            reads: list[Any] = []
            result = reconcile_live(conn, store, as_of=day,
                                    tolerance=Decimal(checked.get("tolerance", "0.00")), settings=source,
                                    fresh=bool(checked.get("fresh", False)), on_read=reads.append,
                                    verify_mirror=checked.get("verify_mirror"))
            for read in reads:
                details["qbo_read"] = read.to_dict()
                if on_read is not None:
                    on_read(read)
            if checked.get("record", True):  # kept in the history; an ad-hoc run opts out explicitly
                from ..recon.history import History

                result = History(store, conn.realm_id).record(result, kind="job", run_at=started,
                                                              materiality=checked.get("materiality"),
                                                              settings=source)
                kept = result.history
                details["history"] = {"run_id": kept.run_id, "sentence": kept.sentence,
                                      "materiality": kept.to_dict(records=False)["materiality"]}
            exceeded = result.exceeds(dict(checked.get("thresholds") or {}))
            if output_dir:
                folder = private_dir(output_dir)
                write_private_text(folder / "report.html", to_html(result))
                to_csv(result, folder / "csv")
                to_excel(result, folder / "reconciliation.xlsx")
        except BaseException as exc:
            meter_details(details, tally)
            write_summary(output_dir, JobSummary.failed("reconcile", classify(exc, "reconcile"), details))
            raise
        meter_details(details, tally)
    if result.in_agreement:
        message = "WORK and QuickBooks agree"
    else:  # the verdict says what is pending and what differs; thresholds only decide the exit code
        message = result.verdict if exceeded else f"within the thresholds: {result.verdict}"
    if "qbo_read" in details and details["qbo_read"]["mode"] == "fresh":
        message = f"{message} ({details['qbo_read']['text']})"
    details.update(exceeded={k: str(v) for k, v in exceeded.items()}, summary=result.to_dict(records=False))
    write_summary(output_dir, JobSummary.of("reconcile", bool(exceeded), message, details))
    return result
