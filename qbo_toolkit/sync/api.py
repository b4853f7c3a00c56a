"""Public entry points of the sync, the same for a notebook, a widget button, the CLI and papermill.

    enable_integration(settings)      validate against the company's accounts; set the integration date
    run_sync(settings)                one run (initial the first time, incremental after); one sync per
                                      company at a time: ``wait=`` seconds for another, else SyncBusy.
                                      Settings that do not fit the company (an account that does not
                                      exist, is inactive or of the wrong type) stop it before anything
                                      is written, with a SettingsError naming the setting
    preview(settings)                 the same run as a dry run: the plan, nothing written
    current_sync()                    the sync of the company running now (any process), or None
    match_preview() / confirm_match() the weak and multiple customer matches waiting for the user
    retry(entity, work_id) / dismiss(entity, work_id)
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from ..connection import Connection, connection
from ..errors import ConfigError
from ..settings import CompanyFacts, Settings, SettingsError, SettingsSource, load_settings
from ..work.store import WorkStore
from .context import StopFlag
from .engine import SyncEngine, SyncResult
from .lease import describe_holder, holder_alive
from .progress import Reporter, TqdmReporter
from .state import SyncState

__all__ = ["accounts", "confirm_match", "current_sync", "customers", "dismiss", "enable_integration", "find_matches",
           "match_preview", "preview", "retry", "run_sync"]


def accounts(conn: Connection) -> list[dict[str, Any]]:
    """The connected company's accounts (active and not) as QBO JSON-shaped dicts."""
    from ..qbo.query import select

    return [row.to_dict() if hasattr(row, "to_dict") else dict(row)
            for row in conn.client.query_all(select("Account").include_inactive())]


def company_kind(conn: Connection) -> CompanyFacts:
    """What kind of company ``conn`` is (US with Automated Sales Tax, US with manual tax, or non-US),
    read as a sync's check reads it: Preferences, and CompanyInfo and TaxCodes when not AST."""
    from .preflight import company_facts

    return company_facts(conn.client)[0]


def customers(conn: Connection) -> list[dict[str, Any]]:
    """Every customer, inactive ones too (their names still block reuse), as QBO JSON-shaped dicts."""
    from ..qbo.query import select

    return [row.to_dict() if hasattr(row, "to_dict") else dict(row)
            for row in conn.client.query_all(select("Customer").include_inactive())]


def find_matches(store: WorkStore | str | None = None, conn: Connection | None = None) -> dict[str, str]:
    """Plan the customer matching as the first sync will (the same pure planner) and record its weak and
    multiple matches as pending, keeping earlier decisions. Returns the customers' names by id."""
    from .plan import plan_customers

    live = conn or connection()
    work = store if isinstance(store, WorkStore) else WorkStore(store)
    state = SyncState(work, live.realm_id)
    by_id = {str(c["Id"]): c for c in customers(live)}
    _, pending = plan_customers(
        {c.id: c for c in work.clients(include_inactive=True)}, by_id, state.links("customer"),
        dismissed=state.dismissed("customer"),
        accepted={int(m["work_id"]): str(m["qbo_id"]) for m in state.matches("accepted")},
        rejected={(int(m["work_id"]), str(m["qbo_id"])) for m in state.matches("rejected")},
        accept_weak=False, policy="newest_wins", default_state=None)
    if pending:
        state.save_matches(pending)
    return {qid: str(c.get("DisplayName") or "") for qid, c in by_id.items()}


def enable_integration(settings: Settings | str | Path | dict[str, Any], *, on: date | None = None,
                       conn: Connection | None = None, save_to: str | Path | None = None) -> Settings:
    """Check the settings (and their accounts, against the connected company) and set the integration date."""
    chosen = load_settings(settings)
    problems = chosen.problems()
    live = conn or connection()
    problems += chosen.check_accounts(accounts(live))
    if problems:
        raise SettingsError(problems)
    enabled = chosen.enabled(on or date.today())
    if save_to is not None:
        enabled.save(save_to)
    return enabled


SettingsLike = Settings | SettingsSource | str | Path | dict[str, Any] | None


def _engine(settings: SettingsLike, store: WorkStore | str | None, conn: Connection | None,
            reporter: Reporter | None, job: str | None, stop: StopFlag | None,
            settings_source: SettingsSource | dict[str, Any] | None = None) -> SyncEngine:
    if isinstance(settings, SettingsSource):
        settings_source = settings_source or settings
        settings = settings.settings
    chosen = load_settings(settings)
    work = store if isinstance(store, WorkStore) else WorkStore(store)
    live = conn or connection()
    return SyncEngine(work, live.client, chosen, reporter=reporter, job=job, company=live.company_name or None,
                      stop=stop, settings_source=settings_source)


def run_sync(settings: SettingsLike = None, *, store: WorkStore | str | None = None,
             conn: Connection | None = None, reporter: Reporter | None = None, progress: bool = False,
             dry_run: bool = False, wait: float = 0.0, job: str | None = None,
             stop: StopFlag | None = None, settings_source: SettingsSource | dict[str, Any] | None = None
             ) -> SyncResult:
    """One sync run. ``progress=True`` shows a tqdm bar (a terminal or a papermill log).

    ``settings`` may be a :class:`~qbo_toolkit.settings.SettingsSource` (what
    :func:`~qbo_toolkit.settings.resolve_settings` returns): its origin, path and hash are recorded
    with the run (``settings_source=`` gives them for plain settings). The result's ``status`` is
    ``ok``, or ``failures`` when records failed (``failed`` of them; ``text`` says "completed with
    N failures").

    One sync per company runs at a time, across processes and machines sharing the WORK store:
    when another holds the company's lease, this one waits up to ``wait`` seconds, then raises
    :class:`~qbo_toolkit.errors.SyncBusy` naming it (``job``, host, pid, since when). ``job`` names
    this run for the others ("nightly sync job", "the app's Sync now"). ``stop``: set it (from a
    signal handler, a Stop button) to end the run between records, recorded as ``interrupted``.
    """
    if reporter is None and progress:
        reporter = TqdmReporter()
    return _engine(settings, store, conn, reporter, job, stop, settings_source).run(dry_run=dry_run, wait=wait)


def preview(settings: SettingsLike = None, *, store: WorkStore | str | None = None,
            conn: Connection | None = None, job: str | None = None) -> SyncResult:
    """The plan of the next run; nothing is written to QBO (settings that do not fit the company
    are refused here too, with the same sentence)."""
    return run_sync(settings, store=store, conn=conn, dry_run=True, job=job)


def current_sync(*, store: WorkStore | str | None = None, realm: str | None = None) -> dict[str, Any] | None:
    """The sync of the company running now, in this or any process sharing the WORK store: its
    lease row (job, host, pid, started_at, stage, done, total, run_id) and ``text``, a sentence
    naming it; None when none runs (a dead holder's lease counts as none)."""
    state = _state(store, realm)
    row = state.lease_row()
    if row is None or not holder_alive(row):
        return None
    return {**row, "text": describe_holder(row, "the company")}


def _state(store: WorkStore | str | None, realm: str | None) -> SyncState:
    work = store if isinstance(store, WorkStore) else WorkStore(store)
    if realm is None:
        realm = connection().realm_id
    if not realm:
        raise ConfigError("no realm: connect first", key="realm")
    return SyncState(work, realm)


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
