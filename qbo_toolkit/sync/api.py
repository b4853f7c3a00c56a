"""Public entry points of the sync, the same for a notebook, a widget button, the CLI and papermill.

    enable_integration(settings)      validate against the company's accounts; set the integration date
    run_sync(settings)                one run (initial the first time, incremental after)
    preview(settings)                 the same run as a dry run: the plan, nothing written
    match_preview() / confirm_match() the weak and multiple customer matches waiting for the user
    retry(entity, work_id) / dismiss(entity, work_id)
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from ..connection import Connection, connection
from ..errors import ConfigError
from ..settings import Settings, SettingsError, load_settings
from ..work.store import WorkStore
from .engine import SyncEngine, SyncResult
from .progress import Reporter, TqdmReporter
from .state import SyncState

__all__ = ["confirm_match", "dismiss", "enable_integration", "match_preview", "preview", "retry", "run_sync"]


def _accounts(conn: Connection) -> list[dict[str, Any]]:
    from ..qbo.query import select

    return [row.to_dict() if hasattr(row, "to_dict") else dict(row)
            for row in conn.client.query_all(select("Account"))]


def enable_integration(settings: Settings | str | Path | dict[str, Any], *, on: date | None = None,
                       conn: Connection | None = None, save_to: str | Path | None = None) -> Settings:
    """Check the settings (and their accounts, against the connected company) and set the integration date."""
    chosen = load_settings(settings)
    problems = chosen.problems()
    live = conn or connection()
    problems += chosen.check_accounts(_accounts(live))
    if problems:
        raise SettingsError(problems)
    enabled = chosen.enabled(on or date.today())
    if save_to is not None:
        enabled.save(save_to)
    return enabled


def _engine(settings: Settings | str | Path | dict[str, Any] | None, store: WorkStore | str | None,
            conn: Connection | None, reporter: Reporter | None) -> SyncEngine:
    chosen = load_settings(settings)
    work = store if isinstance(store, WorkStore) else WorkStore(store)
    live = conn or connection()
    return SyncEngine(work, live.client, chosen, reporter=reporter)


def run_sync(settings: Settings | str | Path | dict[str, Any] | None = None, *, store: WorkStore | str | None = None,
             conn: Connection | None = None, reporter: Reporter | None = None, progress: bool = False,
             dry_run: bool = False) -> SyncResult:
    """One sync run. ``progress=True`` shows a tqdm bar (a terminal or a papermill log)."""
    if reporter is None and progress:
        reporter = TqdmReporter()
    return _engine(settings, store, conn, reporter).run(dry_run=dry_run)


def preview(settings: Settings | str | Path | dict[str, Any] | None = None, *, store: WorkStore | str | None = None,
            conn: Connection | None = None) -> SyncResult:
    """The plan of the next run; nothing is written on either side."""
    return run_sync(settings, store=store, conn=conn, dry_run=True)


def _state(store: WorkStore | str | None, realm: str | None) -> SyncState:
    work = store if isinstance(store, WorkStore) else WorkStore(store)
    if realm is None:
        realm = connection().realm_id
    if not realm:
        raise ConfigError("no realm: connect first", key="realm")
    return SyncState(work.engine, realm)


def match_preview(*, store: WorkStore | str | None = None, realm: str | None = None) -> list[dict[str, Any]]:
    """Weak and multiple matches waiting for confirmation before the first sync creates anything."""
    return _state(store, realm).matches("pending")


def confirm_match(work_id: int, qbo_id: str | None, *, accept: bool = True, store: WorkStore | str | None = None,
                  realm: str | None = None) -> None:
    """Accept one pairing for a WORK client, or reject its candidates (``accept=False``: create it new)."""
    _state(store, realm).decide_match(work_id, qbo_id, accept)


def retry(entity: str, work_id: int, *, store: WorkStore | str | None = None, realm: str | None = None) -> None:
    """Send a failed record again in the next run."""
    _state(store, realm).queue_retry(entity, work_id)


def dismiss(entity: str, work_id: int, *, store: WorkStore | str | None = None, realm: str | None = None) -> None:
    """Stop retrying a failed record (it stays in the activity log as dismissed)."""
    _state(store, realm).dismiss(entity, work_id)
