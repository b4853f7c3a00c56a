"""CSV imports that leave a trace in the activity log.

:mod:`qbo_toolkit.work.csv_import` loads the good rows of a file and reports each bad one as a
:class:`~qbo_toolkit.work.csv_import.RowError`; :func:`import_csv` runs it and records the import
as a run of kind ``import`` in the company's activity log, with one ``failed`` entry per refused row
(entity ``customer``, ``invoice`` or ``payment`` as the sync names them, direction ``from_file``,
action ``import``, no WORK id, the CSV column in ``field``, and a message that starts with the file
and line: ``clients.csv line 7: active: 'perhaps' is not true or false``). A file that cannot be used
at all is recorded as a failed import run with one entry, then its error is raised. The Activity Log
screen shows these runs and entries beside the syncs; a refused row is dismissed by its entry id.

The activity log belongs to a company (realm): the one given, else the company this toolkit is bound
to (``binding.json``, no network needed). Before any company was ever connected there is no log to
write to: the report is returned all the same and ``run_id`` is None.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ..connection import Binding
from ..errors import WorkDataError
from ..work.csv_import import (
    ImportReport,
    RowError,
    import_clients,
    import_credit_applications,
    import_credit_notes,
    import_invoices,
    import_payments,
    import_refunds,
    import_tax_rates,
)
from ..work.store import WorkStore
from .state import IMPORT_RUN, SyncState

__all__ = ["IMPORT_KINDS", "ImportResult", "import_csv", "row_message"]

#: CSV kind -> (the activity log's entity, the importer).
IMPORT_KINDS: Final[dict[str, tuple[str, Callable[[WorkStore, str | os.PathLike[str]], ImportReport]]]] = {
    "clients": ("customer", import_clients),
    "invoices": ("invoice", import_invoices),
    "payments": ("payment", import_payments),
    # schema version 3 (issue 13): entities as the sync names them (tax rates are WORK's own)
    "tax_rates": ("tax_rate", import_tax_rates),
    "credit_notes": ("credit_note", import_credit_notes),
    "credit_applications": ("credit_applied", import_credit_applications),
    "refunds": ("refund", import_refunds),
}


@dataclass(frozen=True)
class ImportResult:
    """One import: what :mod:`~qbo_toolkit.work.csv_import` reported, and the activity-log run
    that records it (None when no company is known yet)."""

    kind: str
    report: ImportReport
    run_id: int | None
    realm: str | None

    @property
    def ok(self) -> bool:
        return self.report.ok

    def __str__(self) -> str:
        return self.report.summary()


def row_message(error: RowError) -> str:
    """The activity log's sentence for a refused row: file and line first, then the column and why."""
    where = f"{error.file} line {error.line}"
    return f"{where}: {error.field}: {error.message}" if error.field else f"{where}: {error.message}"


def _realm(realm: str | None) -> str | None:
    if realm:
        return realm
    binding = Binding.load()
    return binding.realm_id if binding is not None else None


def import_csv(store: WorkStore | str | None, kind: str, path: str | os.PathLike[str], *,
               realm: str | None = None) -> ImportResult:
    """Import a ``clients``, ``invoices`` or ``payments`` CSV file (columns: ``docs/work-csv.md``) into
    the WORK store and record every refused row in the activity log. Raises WorkDataError, after
    recording it, when the file cannot be used at all (unknown column, not UTF-8, no header...)."""
    if kind not in IMPORT_KINDS:
        raise ValueError(f"kind must be one of {', '.join(IMPORT_KINDS)}, not {kind!r}")
    entity, importer = IMPORT_KINDS[kind]
    work = store if isinstance(store, WorkStore) else WorkStore(store)
    company = _realm(realm)
    state = SyncState(work, company) if company else None
    run_id = state.start_run(IMPORT_RUN, dry_run=False) if state is not None else None
    try:
        report = importer(work, path)
    except WorkDataError as exc:
        if state is not None and run_id is not None:
            error = RowError(os.fspath(path), exc.line or 1, exc.field, exc.message)
            with work.engine.begin() as conn:
                state.record(conn, run_id, entity=entity, direction="from_file", action="import", outcome="failed",
                             field=error.field, message=row_message(error))
            state.finish_run(run_id, "failed", {"failed": 1, f"{entity}.import.failed": 1})
        raise
    except BaseException:
        if state is not None and run_id is not None:
            state.finish_run(run_id, "failed", {})
        raise
    if state is not None and run_id is not None:
        with work.engine.begin() as conn:
            for error in report.errors:
                state.record(conn, run_id, entity=entity, direction="from_file", action="import", outcome="failed",
                             field=error.field, message=row_message(error))
        refused = len({error.line for error in report.errors})  # rows, not errors: a row may have several
        state.set_run_total(run_id, report.loaded + refused)
        counts = {"ok": report.loaded, "failed": refused, f"{entity}.import.ok": report.loaded,
                  f"{entity}.import.failed": refused}
        state.finish_run(run_id, "ok", {k: v for k, v in counts.items() if v})
    return ImportResult(kind, report, run_id, company)
