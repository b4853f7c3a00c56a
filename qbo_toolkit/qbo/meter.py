"""The meter: every QBO call the toolkit makes, counted as Intuit bills it, per company and month.

Since 2025 Intuit meters **CorePlus** calls (data out: read by id, ``companyinfo``, ``preferences``,
query by GET or POST, CDC, reports, PDFs) and leaves **Core** calls (data in: create, update, delete,
void, upload) unmetered; the free Builder tier stops every CorePlus call for the rest of the month
after 500,000 and shows the app as "Offline" in QuickBooks (``API_FACTS_2025``, "Limits and metering").
OAuth calls are not counted. Here CorePlus is called *metered* and Core *unmetered*.

What is counted, and where
    Every HTTP attempt to the data API goes through :class:`~qbo_toolkit.qbo.transport.ResilientSession`
    (python-quickbooks' calls, the client's batch, query, CDC and report requests); it calls
    :meth:`Meter.record` once per attempt, so a retry counts as the request it is. The company is
    the ``/company/{realm}/`` of the URL. A batch is not a call of its own: each ``Query`` item counts
    as one metered read, every other item as one unmetered write (as Intuit's meter reads a batch).
    An attempt answered 401/403 (not authorised) or 429 (throttled) is not counted: QBO refused it
    before running it. An attempt without a reply (dropped connection, read timeout) *is* counted:
    QBO may have run it (only a connect that timed out is not: nothing was sent), and a budget should
    rather count one call too many than one too few. So after faults the toolkit's count may be a
    little above Intuit's, never below.

Where the counts live
    One SQLite file, ``<toolkit home>/meter.sqlite3`` (0600, in the 0700 home), table ``meter_counts``
    (realm, month, kind, n) and ``meter_warnings`` (which budget thresholds were already announced).
    Every attempt adds one in a short transaction, so a sync job, a reconcile job and the app counting
    at the same time add up and nothing is lost (SQLite's file lock; WAL journal, so readers never
    wait). It is not the WORK store: ``qbo`` never imports ``work`` (``docs/architecture.md``) and the
    count is per toolkit home, where the tokens are. If the file cannot be written the call still
    goes (a meter never stops a necessary call) and a warning is logged once.

The month is the UTC calendar month (``YYYY-MM``). Intuit does not say whose month it bills by;
UTC is known without asking QBO anything, is the same for every process and machine sharing a home,
and is what ``qbo-toolkit status`` can show with no connection. Around midnight on the 1st the split
between months may differ from Intuit's (and from the emulator's, which counts by the company's time
zone) by the calls of a few hours; totals do not.

Budget, warnings and optional reads
    ``meter: {monthly_budget: N}`` in the settings (default 500,000, the free tier). When this month's
    metered calls pass 50, 80 and 95% of it, and when they reach it, a sentence is logged, handed to
    every :meth:`Meter.tally` running in the process (the jobs put it in summary.json) and recorded
    in ``meter_warnings`` so each threshold is announced once per company and month, whichever
    process crosses it; each sync run repeats the month's announcements (:meth:`Meter.announced`)
    in the company's activity log, once each (:mod:`qbo_toolkit.sync.budget`). A job, the app's
    sync and every sync run count against their settings' budget (:func:`budget_scope`). From 100%
    on, *optional* reads are stopped: a caller asks first with
    :meth:`Meter.optional` (raises :class:`MeterBudgetReached`, a sentence naming the read, the
    count, the budget and the setting) or :meth:`Meter.refusal` (the sentence, or None). The
    reconciliation's tie-out to QBO's reports and the mirror's verification reads are optional. The
    sync's own reads are necessary and are never stopped by the toolkit, only warned about.

Forecast to month end: this month's metered calls so far divided by the time elapsed in the month
(at least an hour, so the first minutes of a month do not forecast millions) times the month's length.
"""

from __future__ import annotations

import calendar
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from qbo_toolkit.errors import QboToolkitError
from qbo_toolkit.files import FILE_MODE, private_dir
from qbo_toolkit.paths import toolkit_home

__all__ = [
    "FREE_TIER",
    "METERED",
    "METER_FILENAME",
    "THRESHOLDS",
    "UNMETERED",
    "Announcement",
    "Meter",
    "MeterBudgetReached",
    "Tally",
    "Usage",
    "budget_scope",
    "call_kinds",
    "get_meter",
    "month_of",
    "set_budget",
]

log = logging.getLogger(__name__)

METERED: Final = "metered"  # Intuit's CorePlus
UNMETERED: Final = "unmetered"  # Intuit's Core
FREE_TIER: Final = 500_000
#: percentages of the budget announced once per company and month (100: optional reads stop)
THRESHOLDS: Final[tuple[int, ...]] = (50, 80, 95, 100)
METER_FILENAME: Final = "meter.sqlite3"
#: answers that mean QBO refused the attempt before running it: not counted
NOT_ADMITTED: Final = frozenset({401, 403, 429})


class MeterBudgetReached(QboToolkitError):
    """An optional read was not made: this month's metered calls reached the monthly budget."""

    def __init__(self, message: str, *, what: str = "", realm_id: str = "", used: int = 0, budget: int = 0) -> None:
        super().__init__(message)
        self.what = what
        self.realm_id = realm_id
        self.used = used
        self.budget = budget


def month_of(moment: datetime) -> str:
    """``YYYY-MM`` of ``moment`` in UTC (a naive moment is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m")


def _body_text(kwargs: Mapping[str, Any]) -> str | None:
    data = kwargs.get("data")
    if data is None and kwargs.get("json") is not None:
        return json.dumps(kwargs["json"])
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data if isinstance(data, str) else None


def call_kinds(method: str, url: str, body: str | bytes | Mapping[str, Any] | None = None
               ) -> tuple[str | None, list[str]]:
    """The company and the meter kinds of one request: ``(realm, [kind, ...])``.

    A data-API request (``.../company/{realm}/...``) is one kind; a batch one per item; anything else
    (OAuth, discovery) is ``(None, [])``. GET and ``POST .../query`` are metered reads; other POSTs
    unmetered writes."""
    parts = [p for p in urlsplit(url).path.split("/") if p]
    try:
        at = parts.index("company")
        realm = parts[at + 1]
    except (ValueError, IndexError):
        return None, []
    rest = parts[at + 2:]
    segment = rest[0].lower() if rest else ""
    if segment == "batch":
        if isinstance(body, Mapping):
            doc: Any = body
        else:
            try:
                text = body.decode("utf-8") if isinstance(body, bytes) else body
                doc = json.loads(text or "null")
            except (ValueError, UnicodeDecodeError):
                return realm, []
        items = doc.get("BatchItemRequest") if isinstance(doc, Mapping) else None
        if not isinstance(items, list):
            return realm, []
        return realm, [METERED if isinstance(item, Mapping) and "Query" in item else UNMETERED for item in items]
    if method.upper() == "GET" or segment == "query":
        return realm, [METERED]
    return realm, [UNMETERED]


@dataclass(frozen=True)
class Usage:
    """One company's calls in one month, the budget and the forecast."""

    realm_id: str
    month: str
    metered: int
    unmetered: int
    budget: int
    forecast: int
    #: when this was computed (UTC)
    at: datetime

    @property
    def percent(self) -> float:
        return 100.0 * self.metered / self.budget if self.budget else 0.0

    @property
    def level(self) -> str:
        """``ok`` (under 80%), ``warn`` (80% and over) or ``stop`` (the budget reached: optional reads stop)."""
        if self.metered >= self.budget:
            return "stop"
        return "warn" if self.percent >= 80 else "ok"

    def sentence(self) -> str:
        return (f"company {self.realm_id}, {self.month} (UTC): {self.metered:,} metered call(s) (CorePlus: reads, "
                f"queries, CDC, reports) and {self.unmetered:,} unmetered (Core: writes) so far; "
                f"{self.percent:.1f}% of the monthly budget of {self.budget:,} (meter.monthly_budget); "
                f"forecast to month end {self.forecast:,}")

    def as_dict(self) -> dict[str, Any]:
        return {"realm": self.realm_id, "month": self.month, "metered": self.metered, "unmetered": self.unmetered,
                "budget": self.budget, "percent": round(self.percent, 2), "forecast": self.forecast,
                "level": self.level}


def forecast(metered: int, moment: datetime) -> int:
    """``metered`` calls so far this month extrapolated to the month's end (see the module docstring)."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    days = calendar.monthrange(moment.year, moment.month)[1]
    length = days * 86400.0
    elapsed = max((moment - start).total_seconds(), 3600.0)
    return round(metered * length / min(elapsed, length))


@dataclass(frozen=True)
class Announcement:
    """One budget threshold announced for a company and month (a row of ``meter_warnings``): the
    percentage, when it was crossed (UTC) and the sentence said then."""

    realm_id: str
    month: str
    threshold: int
    at: datetime
    sentence: str


@dataclass
class Tally:
    """The calls of one run (while its ``with`` block lasts), and the budget warnings it crossed."""

    realm_id: str | None = None
    metered: int = 0
    unmetered: int = 0
    warnings: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def _add(self, realm: str, metered: int, unmetered: int) -> None:
        if self.realm_id is None or self.realm_id == realm:
            with self._lock:
                self.metered += metered
                self.unmetered += unmetered

    def _warn(self, realm: str, sentence: str) -> None:
        if self.realm_id is None or self.realm_id == realm:
            with self._lock:
                self.warnings.append(sentence)

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {"metered": self.metered, "unmetered": self.unmetered}


#: the tallies running in this process (every meter adds to them: a run is a run whatever the home)
_TALLIES: list[Tally] = []

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meter_counts (realm TEXT NOT NULL, month TEXT NOT NULL, kind TEXT NOT NULL, "
    "n INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (realm, month, kind))",
    "CREATE TABLE IF NOT EXISTS meter_warnings (realm TEXT NOT NULL, month TEXT NOT NULL, threshold INTEGER NOT "
    "NULL, at TEXT NOT NULL, sentence TEXT NOT NULL, PRIMARY KEY (realm, month, threshold))",
)


class Meter:
    """The counts of one toolkit home (``path``: its ``meter.sqlite3``); thread- and process-safe.

    ``clock`` gives the current moment (aware; UTC by default): tests inject one to cross a month.
    ``budget`` fixes the monthly budget; otherwise :func:`set_budget`'s, else the app's saved
    settings' ``meter.monthly_budget``, else :data:`FREE_TIER`."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *,
                 clock: Callable[[], datetime] | None = None, budget: int | None = None,
                 busy_timeout: float = 60.0) -> None:
        self.path = Path(path) if path is not None else toolkit_home() / METER_FILENAME
        self.clock = clock or (lambda: datetime.now(UTC))
        self._budget = budget
        self._busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._failed = False

    def __repr__(self) -> str:
        return f"Meter(path={str(self.path)!r})"

    # -- the budget ------------------------------------------------------------------------------
    @property
    def budget(self) -> int:
        if self._budget is not None:
            return self._budget
        override = _budget_override()
        if override is not None:
            return override
        return _app_budget()

    # -- storage ---------------------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        """The process's connection (the lock is held); a forked child opens its own."""
        if self._conn is None or self._pid != os.getpid():
            private_dir(self.path.parent)
            if not self.path.exists():
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
                os.close(fd)
            conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            for statement in _SCHEMA:
                conn.execute(statement)
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def _exists(self) -> bool:
        return self.path.exists()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    # -- counting --------------------------------------------------------------------------------
    def record(self, method: str, url: str, kwargs: Mapping[str, Any] | None = None,
               status: int | None = None) -> None:
        """Count one HTTP attempt (``status``: its reply's, None when none came). Never raises."""
        if status in NOT_ADMITTED:
            return
        try:
            realm, kinds = call_kinds(method, url, _body_text(kwargs or {}))
        except Exception:  # a meter never breaks a call
            return
        if realm is None or not kinds:
            return
        self.count(realm, metered=kinds.count(METERED), unmetered=kinds.count(UNMETERED))

    def count(self, realm: str, *, metered: int = 0, unmetered: int = 0) -> None:
        """Add calls to ``realm``'s counts for this month; announce a budget threshold crossed."""
        if metered <= 0 and unmetered <= 0:
            return
        realm = str(realm)
        for tally in list(_TALLIES):
            tally._add(realm, metered, unmetered)
        moment = self.clock()
        month = month_of(moment)
        budget = self.budget
        announced: list[str] = []
        try:
            with self._lock:
                conn = self._connection()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for kind, n in ((METERED, metered), (UNMETERED, unmetered)):
                        if n > 0:
                            conn.execute("INSERT INTO meter_counts (realm, month, kind, n) VALUES (?, ?, ?, ?) "
                                         "ON CONFLICT (realm, month, kind) DO UPDATE SET n = n + excluded.n",
                                         (realm, month, kind, n))
                    if metered > 0:
                        announced = self._thresholds(conn, realm, month, moment, budget)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
        except (sqlite3.Error, OSError) as exc:
            if not self._failed:
                self._failed = True
                log.warning("the QuickBooks call meter %s cannot be written (%s): calls go on but are not "
                            "counted (remove the file to start counting afresh)", self.path, type(exc).__name__)
            return
        for sentence in announced:
            log.warning("%s", sentence)
            for tally in list(_TALLIES):
                tally._warn(realm, sentence)

    def _thresholds(self, conn: sqlite3.Connection, realm: str, month: str, moment: datetime,
                    budget: int) -> list[str]:
        row = conn.execute("SELECT n FROM meter_counts WHERE realm = ? AND month = ? AND kind = ?",
                           (realm, month, METERED)).fetchone()
        used = int(row[0]) if row else 0
        out: list[str] = []
        for threshold in THRESHOLDS:
            if used * 100 < budget * threshold:
                break
            sentence = _threshold_sentence(realm, month, threshold, used, budget, forecast(used, moment))
            cursor = conn.execute("INSERT OR IGNORE INTO meter_warnings (realm, month, threshold, at, sentence) "
                                  "VALUES (?, ?, ?, ?, ?)", (realm, month, threshold, moment.isoformat(), sentence))
            if cursor.rowcount == 1:
                out.append(sentence)
        return out

    # -- reading ---------------------------------------------------------------------------------
    def usage(self, realm: str, *, month: str | None = None, budget: int | None = None) -> Usage:
        """``realm``'s counts for ``month`` (default: this month), with the budget (``budget``, else
        :attr:`budget`) and the forecast."""
        moment = self.clock()
        month = month or month_of(moment)
        counts = {METERED: 0, UNMETERED: 0}
        if self._exists():
            try:
                with self._lock:
                    rows = self._connection().execute(
                        "SELECT kind, n FROM meter_counts WHERE realm = ? AND month = ?", (str(realm), month)
                    ).fetchall()
                counts.update({str(kind): int(n) for kind, n in rows})
            except sqlite3.Error as exc:
                log.warning("the QuickBooks call meter %s cannot be read (%s)", self.path, type(exc).__name__)
        current = month == month_of(moment)
        return Usage(str(realm), month, counts[METERED], counts[UNMETERED], budget or self.budget,
                     forecast(counts[METERED], moment) if current else counts[METERED], moment)

    def realms(self) -> list[str]:
        """Every company with counts in this home."""
        if not self._exists():
            return []
        with self._lock:
            rows = self._connection().execute("SELECT DISTINCT realm FROM meter_counts ORDER BY realm").fetchall()
        return [str(r[0]) for r in rows]

    def history(self, realm: str) -> dict[str, dict[str, int]]:
        """``{"YYYY-MM": {"metered": n, "unmetered": n}}`` for every month counted."""
        if not self._exists():
            return {}
        with self._lock:
            rows = self._connection().execute("SELECT month, kind, n FROM meter_counts WHERE realm = ?",
                                              (str(realm),)).fetchall()
        out: dict[str, dict[str, int]] = {}
        for month, kind, n in rows:
            out.setdefault(str(month), {METERED: 0, UNMETERED: 0})[str(kind)] = int(n)
        return out

    def warnings(self, realm: str, *, month: str | None = None) -> list[str]:
        """The threshold sentences announced for ``realm`` this month (or ``month``), oldest first."""
        return [a.sentence for a in self.announced(realm, month=month)]

    def announced(self, realm: str, *, month: str | None = None) -> list[Announcement]:
        """The thresholds announced for ``realm`` this month (or ``month``), lowest first, whichever
        process crossed them: what the sync's activity log repeats once each
        (:mod:`qbo_toolkit.sync.budget`)."""
        if not self._exists():
            return []
        month = month or month_of(self.clock())
        with self._lock:
            rows = self._connection().execute(
                "SELECT threshold, at, sentence FROM meter_warnings WHERE realm = ? AND month = ? "
                "ORDER BY threshold", (str(realm), month)).fetchall()
        out = []
        for threshold, at, sentence in rows:
            moment = datetime.fromisoformat(str(at))
            out.append(Announcement(str(realm), month, int(threshold),
                                    moment if moment.tzinfo else moment.replace(tzinfo=UTC), str(sentence)))
        return out

    # -- optional reads --------------------------------------------------------------------------
    def refusal(self, realm: str, what: str) -> str | None:
        """None when the optional read ``what`` may go; else the sentence saying why it does not."""
        usage = self.usage(realm)
        if usage.metered < usage.budget:
            return None
        return (f"{what} was skipped: company {realm} has made {usage.metered:,} metered QuickBooks call(s) in "
                f"{usage.month} (UTC), which reaches the monthly budget of {usage.budget:,} (meter.monthly_budget "
                "in the settings), so optional reads stop until the month ends; raise the budget to read it now")

    @contextmanager
    def optional(self, realm: str, what: str) -> Iterator[None]:
        """Run the block of an optional read only while the budget allows; else raise
        :class:`MeterBudgetReached` with the sentence (nothing in the block is sent)."""
        reason = self.refusal(realm, what)
        if reason is not None:
            usage = self.usage(realm)
            raise MeterBudgetReached(reason, what=what, realm_id=str(realm), used=usage.metered, budget=usage.budget)
        yield

    # -- runs ------------------------------------------------------------------------------------
    @contextmanager
    def tally(self, realm: str | None = None) -> Iterator[Tally]:
        """Count the calls made (by any thread of this process) while the block runs: a job's
        "calls this run". ``realm``: only that company's."""
        tally = Tally(str(realm) if realm is not None else None)
        _TALLIES.append(tally)
        try:
            yield tally
        finally:
            _TALLIES.remove(tally)

    def status_lines(self, realm: str | None = None) -> list[str]:
        """What ``qbo-toolkit status`` prints: this month's calls of ``realm`` (the connected
        company, when known) and of every other company counted in this home; no network."""
        try:
            realms = self.realms()
        except sqlite3.Error as exc:
            return [f"QuickBooks calls this month: the meter {self.path} cannot be read ({type(exc).__name__}); "
                    "remove it to start counting afresh"]
        if realm is not None:
            realms = [str(realm), *(r for r in realms if r != str(realm))]
        if not realms:
            return [f"QuickBooks calls this month: none counted in this toolkit home (budget {self.budget:,} "
                    "metered calls a month, meter.monthly_budget)"]
        lines = []
        for name in realms:
            usage = self.usage(name)
            mark = {"ok": "", "warn": "WARNING: ", "stop": "BUDGET REACHED: "}[usage.level]
            lines.append(f"{mark}QuickBooks calls this month, {usage.sentence()}")
            if usage.level == "stop":
                lines.append("  optional reads (the reconciliation's tie-out to QBO's reports, the mirror's "
                             "verification) are skipped until the month ends; the sync goes on")
        return lines

    def report(self, realm: str, tally: Tally | None = None) -> dict[str, Any]:
        """What summary.json says about the meter: this run's calls, the month so far, warnings."""
        out: dict[str, Any] = {"month": self.usage(realm).as_dict(), "month_boundary": "UTC"}
        if tally is not None:
            out["run"] = tally.as_dict()
            out["warnings"] = list(tally.warnings)
        return out


def _threshold_sentence(realm: str, month: str, threshold: int, used: int, budget: int, expected: int) -> str:
    head = (f"QuickBooks metered calls for company {realm} reached {threshold}% of the monthly budget: {used:,} "
            f"of {budget:,} (meter.monthly_budget) in {month} (UTC), forecast {expected:,} by month end")
    if threshold >= 100:
        return (head + ". Optional reads (the reconciliation's tie-out to QBO's reports, the mirror's "
                "verification) stop until the month ends; the sync's own reads go on. To read them now, raise "
                "meter.monthly_budget in the settings; otherwise wait for the month to end. QuickBooks itself "
                f"blocks every metered call past the plan's limit ({FREE_TIER:,} a month on the free tier)")
    return (head + ". Optional reads (the reconciliation's tie-out to QBO's reports, the mirror's verification) "
            "stop at 100%; the sync's own reads go on. To keep them, raise meter.monthly_budget in the settings "
            "or wait for the month to end")


# -- the process's meter and budget ------------------------------------------------------------------

_METERS: dict[Path, Meter] = {}
_OPEN_HOMES: Final = 4
_METERS_LOCK = threading.Lock()
_BUDGET_OVERRIDE: int | None = None
_APP_BUDGET: tuple[tuple[Path, float], int] | None = None


def get_meter() -> Meter:
    """The meter of the current toolkit home (one per home per process). Only the few homes used
    last keep their file open (a test suite moves through thousands of homes); a meter whose file
    was closed opens it again on its next use."""
    path = toolkit_home() / METER_FILENAME
    with _METERS_LOCK:
        meter = _METERS.pop(path, None)
        if meter is None:
            meter = Meter(path)
        _METERS[path] = meter  # the most recently used last
        while len(_METERS) > _OPEN_HOMES:
            _METERS.pop(next(iter(_METERS))).close()
        return meter


def set_budget(budget: int | None) -> None:
    """The monthly budget this process uses (a job's settings' ``meter.monthly_budget``); None: the app's."""
    global _BUDGET_OVERRIDE
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 1):
        raise ValueError(f"a monthly budget is a whole number of calls >= 1, not {budget!r}")
    _BUDGET_OVERRIDE = budget


#: the open :func:`budget_scope` blocks, oldest first: (their own token, their budget)
_SCOPES: list[tuple[object, int | None]] = []


def _budget_override() -> int | None:
    with _METERS_LOCK:
        return _SCOPES[-1][1] if _SCOPES else _BUDGET_OVERRIDE


@contextmanager
def budget_scope(budget: int | None) -> Iterator[None]:
    """:func:`set_budget` for the block only (a job, a sync run: its settings' budget while it runs).
    The newest open block's budget holds; a block that ends takes only its own away, so blocks
    that end in another order than they began (two runs on two threads) leave nothing behind."""
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 1):
        raise ValueError(f"a monthly budget is a whole number of calls >= 1, not {budget!r}")
    token = object()
    with _METERS_LOCK:
        _SCOPES.append((token, budget))
    try:
        yield
    finally:
        with _METERS_LOCK:
            _SCOPES[:] = [scope for scope in _SCOPES if scope[0] is not token]


def _app_budget() -> int:
    """``meter.monthly_budget`` of the app's saved settings (re-read when the file changes), else the
    free tier. A settings file that cannot be read gives the free tier here; the jobs and the app
    report its problems where settings are used."""
    global _APP_BUDGET
    from qbo_toolkit.settings import Settings, home_settings_path

    path = home_settings_path()
    try:
        stamp = path.stat().st_mtime
    except OSError:
        return FREE_TIER
    if _APP_BUDGET is not None and _APP_BUDGET[0] == (path, stamp):
        return _APP_BUDGET[1]
    try:
        budget = int(Settings.from_yaml(path).meter.monthly_budget)
    except Exception:  # see the docstring
        budget = FREE_TIER
    _APP_BUDGET = ((path, stamp), budget)
    return budget
