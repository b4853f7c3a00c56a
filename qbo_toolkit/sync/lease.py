"""One sync per company at a time: a lease in the WORK store's database.

Two syncs of one company at once (the nightly job and someone pressing Sync now; two browser
tabs of the app, each its own kernel) would plan the same changes and send them twice. Nothing in
one process can stop another, and processes on different machines may share the WORK store, so
the lock lives where they all meet: the ``sync_lease`` row of the realm in the WORK store's
database (SQLite or PostgreSQL), taken in a write transaction (``BEGIN IMMEDIATE`` on SQLite, a
row lock on PostgreSQL) before anything is planned, and released at the end.

The row says who holds it (a random owner token, the run, the job, host, pid), since when, and
how far the run got (stage, done, total), so a second sync can say whom it is waiting for and
the screens can show a sync started elsewhere. The holder renews ``heartbeat_at`` every
``HEARTBEAT`` seconds on a thread of its own. A lease is free when:

* there is none, or its holder released it;
* its holder ran on this host and its pid is gone (a killed process: free at once);
* its heartbeat is older than ``TTL`` (a process on another host that died, or hung).

A holder that finds its lease gone at a heartbeat (it hung longer than ``TTL`` and another sync
took over) stops before sending anything more (:attr:`Lease.lost`). Reads (reconcile, the
explorer) never take the lease.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy.exc import IntegrityError

from ..errors import SyncBusy, SyncInterrupted
from .state import SyncState

__all__ = ["HEARTBEAT", "TTL", "Lease", "describe_holder", "holder_alive"]

log = logging.getLogger(__name__)

#: Seconds between heartbeats, and how old a heartbeat may be before the lease is free.
HEARTBEAT: Final = 10.0
TTL: Final = 90.0
#: Seconds between two attempts while waiting for the lease (``wait``).
POLL: Final = 1.0


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def holder_alive(row: Mapping[str, Any], *, now: datetime | None = None, ttl: float = TTL) -> bool:
    """Whether the lease described by ``row`` is still held: a fresh heartbeat, and, when its holder
    ran on this host, a live process."""
    now = now or _now()
    if now - _aware(row["heartbeat_at"]) > timedelta(seconds=ttl):
        return False
    if row.get("host") == socket.gethostname() and int(row.get("pid") or 0) > 0:
        try:
            os.kill(int(row["pid"]), 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's live process
            return True
    return True


def describe_holder(row: Mapping[str, Any], company: str) -> str:
    """The sentence a second sync stops with: who holds the lease, since when, how far it got."""
    started = _aware(row["started_at"]).astimezone()
    when = started.strftime("%H:%M") if started.date() == datetime.now().astimezone().date() else \
        started.strftime("%Y-%m-%d %H:%M")
    progress = ""
    if row.get("total"):
        progress = f" ({row.get('stage') or 'working'}: {row.get('done', 0)} of {row['total']} records)"
    elif row.get("stage"):
        progress = f" ({row['stage']})"
    return (f"a sync of {company} is running since {when}, started by {row.get('job') or 'an unnamed job'} on "
            f"{row.get('host') or 'an unknown host'}, pid {row.get('pid')}{progress}")


class Lease:
    """The realm's sync lease for one run: :meth:`acquire`, then :meth:`release` (or use ``with``)."""

    def __init__(self, state: SyncState, *, job: str, company: str | None = None, ttl: float = TTL,
                 heartbeat: float = HEARTBEAT, clock: Callable[[], datetime] = _now) -> None:
        self.state = state
        self.job = job[:200]
        self.company = company or f"company {state.realm}"
        self.ttl = ttl
        self.heartbeat = heartbeat
        self.clock = clock
        self.owner = secrets.token_hex(16)
        self.held = False
        #: set when a heartbeat found the lease taken by another sync: stop sending
        self.lost = threading.Event()
        self._progress: dict[str, Any] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- taking and giving back -------------------------------------------------------------------
    def try_acquire(self) -> dict[str, Any] | None:
        """Take the lease if it is free; returns None when taken, else the holder's row."""
        for attempt in (1, 2):
            try:
                with self.state.begin() as conn:
                    row = self.state.lease_row(conn, for_update=True)
                    now = self.clock()
                    if row is not None and row["owner"] != self.owner and holder_alive(row, now=now, ttl=self.ttl):
                        return row
                    self.state.write_lease(conn, {
                        "owner": self.owner, "run_id": None, "job": self.job, "host": socket.gethostname(),
                        "pid": os.getpid(), "started_at": now, "heartbeat_at": now, "stage": "", "done": 0,
                        "total": 0}, replace=row is not None)
                    # no other sync of the realm runs now: a run still marked running was left by a dead one
                    self.state.interrupt_stale_runs(conn)
                self.held = True
                return None
            except IntegrityError:  # PostgreSQL: two first-ever inserts at once; the row exists now
                if attempt == 2:
                    raise
        return None  # pragma: no cover - the loop returns or raises

    def acquire(self, *, wait: float = 0.0, stop: Callable[[], str | None] | None = None) -> None:
        """Take the lease, waiting up to ``wait`` seconds for another sync to finish; raises
        :class:`SyncBusy` with a sentence naming the holder when it stays taken. ``stop`` (a
        signal handler's flag) ends the wait early: it returns the reason, and SyncInterrupted is
        raised."""
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            holder = self.try_acquire()
            if holder is None:
                self._start_heartbeat()
                return
            reason = stop() if stop is not None else None
            if reason:
                raise SyncInterrupted(f"interrupted ({reason}) while waiting for another sync: "
                                      f"{describe_holder(holder, self.company)}; nothing was sent")
            if time.monotonic() >= deadline:
                waited = f" (waited {wait:.0f} s)" if wait > 0 else ""
                raise SyncBusy(f"{describe_holder(holder, self.company)}{waited}; try again when it has finished, "
                               "or pass --wait SECONDS to wait for it", realm=self.state.realm, holder=holder)
            time.sleep(min(POLL, max(0.05, deadline - time.monotonic())))

    def attach(self, run_id: int) -> None:
        """Name the run holding the lease (the run row is made once the lease is held)."""
        self._touch(run_id=run_id)

    def progress(self, *, stage: str | None = None, done: int | None = None, total: int | None = None) -> None:
        """Remember how far the run got; written with the next heartbeat."""
        for key, value in (("stage", stage), ("done", done), ("total", total)):
            if value is not None:
                self._progress[key] = value

    def release(self) -> None:
        """Give the lease back (a lease that expired and was taken by another sync stays theirs)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self.held:
            self.held = False
            try:
                self.state.drop_lease(self.owner)
            except Exception:  # the store is locked or gone: never mask the run's own outcome
                log.info("the sync lease of %s could not be released; it expires %.0f s after its last "
                            "heartbeat (at once if this process ends)", self.state.realm, self.ttl)

    def __enter__(self) -> Lease:
        self.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()

    # -- the heartbeat ---------------------------------------------------------------------------------
    def _touch(self, **values: Any) -> bool:
        kept = self.state.touch_lease(self.owner, heartbeat_at=self.clock(), **values)
        if not kept:
            self.lost.set()
        return kept

    def beat(self) -> bool:
        """One heartbeat now (with the progress noted since the last one); False: the lease is lost."""
        progress, self._progress = self._progress, {}
        return self._touch(**progress)

    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat_loop, name="qbo-sync-lease", daemon=True)
        self._thread.start()

    def _beat_loop(self) -> None:
        while not self._stop.wait(self.heartbeat):
            try:
                if not self.beat():
                    return
            except Exception:  # noqa: S112 - the store is busy (locked by another program): try at the next beat
                continue
