"""The meter's budget thresholds in the sync's activity log, once each per company and month.

The meter (:mod:`qbo_toolkit.qbo.meter`) announces 50, 80, 95 and 100% of the monthly budget
(``meter.monthly_budget``) once per company and month, whichever process crosses them, and keeps
them in its ``meter_warnings``. Someone who only watches the status screen's Activity Log would never
see them, so every sync run, as it ends, writes into the activity log each threshold the meter has
announced for the company this month that the log has not said yet: the ones the run crossed, and
the ones it started above (crossed by a reconciliation, another sync, the app). Which thresholds the
log has said is the sync value ``meter_logged`` (``{"YYYY-MM": [50, 80]}``), written in the same
transaction as the entries, so none is written twice and none is lost; which were crossed is the
meter's and is not kept again here.

An entry: entity ``meter``, direction ``none``, action ``budget``, field ``meter.monthly_budget`` (the
setting to raise), the meter's sentence as the message (the share, of which budget, the forecast to
month end, what stops at 100% and what to do). Below 100% the outcome is ``warning``; at 100% it is
``failed``, the outcome the activity log uses for what needs a person (the status screen's Needs
attention): optional reads have stopped. It names no record, so it never counts as a failed record
of the run, is never retried and is not a record "not yet in QuickBooks". It is resolved
``under budget`` by the first run that finds the company below its budget again (a new month, or the
budget raised); until then a person may dismiss it.

The month is the meter's (UTC). A run that starts in one month and ends in the next says both
months' thresholds. Nothing here ever masks the run's own outcome: a meter that cannot be read
writes nothing (the next run says it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Final

import sqlalchemy as sa

from ..qbo.meter import Announcement, Meter, get_meter, month_of
from .state import SyncState, activity_table

__all__ = ["BUDGET_FIELD", "LOGGED_KEY", "METER_ENTITY", "log_budget_thresholds"]

log = logging.getLogger(__name__)

METER_ENTITY: Final = "meter"
BUDGET_FIELD: Final = "meter.monthly_budget"
#: the sync value holding which thresholds the activity log has said: {"YYYY-MM": [50, 80]}
LOGGED_KEY: Final = "meter_logged"
#: what a 100% entry's ``resolved`` says once the company is below its budget again
UNDER_BUDGET: Final = "under budget"


def log_budget_thresholds(state: SyncState, run_id: int, *, months: Iterable[str] = (),
                          meter: Meter | None = None) -> list[Announcement]:
    """Write into the activity log of ``state``'s company, as entries of run ``run_id``, every budget
    threshold the meter announced in this month (and in ``months``: the month the run started in)
    that the log has not said yet; resolve the open 100% entries once the company is below its
    budget again. Returns the thresholds written, lowest first."""
    meter = meter or get_meter()
    realm = state.realm
    current = month_of(meter.clock())
    wanted = sorted({*months, current})
    announced = [a for month in wanted for a in meter.announced(realm, month=month)]
    usage = meter.usage(realm)
    reached = (activity_table.c.realm == realm, activity_table.c.entity == METER_ENTITY,
               activity_table.c.outcome == "failed", activity_table.c.resolved.is_(None))
    resolve = usage.metered < usage.budget and any(a.threshold >= 100 for a in announced)
    if usage.metered < usage.budget and not resolve:  # an open 100% entry? (most runs have none: no write)
        with state.engine.connect() as conn:
            resolve = conn.execute(sa.select(activity_table.c.id).where(*reached).limit(1)).first() is not None
    said_before = state.get_value(LOGGED_KEY, {}) or {}  # one sync per company at a time: read first, write if new
    if not resolve and all(a.threshold in said_before.get(a.month, []) for a in announced):
        return []
    written: list[Announcement] = []
    with state.begin() as conn:
        logged: dict[str, list[int]] = state.get_value(LOGGED_KEY, {}, conn) or {}
        said = {month: set(logged.get(month, [])) for month in wanted}
        for item in announced:
            if item.threshold in said[item.month]:
                continue
            state.record(conn, run_id, entity=METER_ENTITY, direction="none", action="budget",
                         outcome="failed" if item.threshold >= 100 else "warning", field=BUDGET_FIELD,
                         message=item.sentence)
            said[item.month].add(item.threshold)
            written.append(item)
        if written:  # only the months a run can still say something for are kept
            state.set_value(conn, LOGGED_KEY, {month: sorted(n) for month, n in said.items() if n})
        if resolve:
            conn.execute(sa.update(activity_table).where(*reached).values(resolved=UNDER_BUDGET))
    for item in written:
        log.info("activity log of company %s: %s", realm, item.sentence)
    return written
