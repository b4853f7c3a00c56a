"""The sync's per-company lease on PostgreSQL (``qbo_toolkit.sync.lease``).

On PostgreSQL the lease is taken with ``SELECT ... FOR UPDATE`` of the realm's ``sync_lease`` row,
and a first-ever insert that loses a race to another one (IntegrityError) is retried once. These
tests race real sessions against each other (threads, each with its own WorkStore and connection
pool, and separate processes), force the retry path deterministically (an insert held open by the
test), take over leases whose holder hung or died, and run two real syncs of one company at once
against an in-process emulator.

Nothing here depends on timing: a race is started at a barrier (or by one write to two pipes) and
its winner keeps the lease until the loser's answer is in, so a slow machine makes the tests slower,
never wrong. Skipped without ``QBO_TEST_POSTGRES_URL`` (see ``test_postgres.py``).
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pytest
import sqlalchemy as sa
from synckit import INTEGRATION_DATE, SETTINGS, SMALL_DEMO, TIME_SCALE, World, check_consistent
from test_postgres import needs_postgres, postgres_schema

from qbo_toolkit.connection import connect_headless, connection
from qbo_toolkit.emulator import EmulatorConfig, serve
from qbo_toolkit.errors import SyncBusy
from qbo_toolkit.qbo.transport import reset_limiters
from qbo_toolkit.sync.engine import SyncEngine, SyncResult
from qbo_toolkit.sync.lease import TTL, Lease, holder_alive
from qbo_toolkit.sync.progress import NullReporter
from qbo_toolkit.sync.state import SyncState, runs_table
from qbo_toolkit.work.demo import generate_demo
from qbo_toolkit.work.store import WorkStore

pytestmark = needs_postgres

#: How long any one step may take on a loaded machine before the test gives up (never reached when
#: the code is right: every wait below ends on an event, not on a clock).
PATIENCE = 120.0
HOST = socket.gethostname()


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema whose WORK and sync tables exist (so the tests race on the lease, not on DDL)."""
    with postgres_schema() as url:
        store = WorkStore(url)
        SyncState(store, "setup")
        store.close()
        yield url


@pytest.fixture
def stores(pg_url: str) -> Iterator[Callable[[], WorkStore]]:
    """``stores()`` opens another WorkStore on the schema (its own pool: its own PostgreSQL sessions)."""
    opened: list[WorkStore] = []

    def open_one() -> WorkStore:
        opened.append(WorkStore(pg_url))
        return opened[-1]

    yield open_one
    for store in opened:
        store.close()


def lease_of(store: WorkStore, realm: str, job: str, **kwargs: Any) -> Lease:
    """A lease whose heartbeat thread never beats during a test (``heartbeat`` an hour) unless asked."""
    kwargs.setdefault("heartbeat", 3600.0)
    return Lease(SyncState(store, realm), job=job, **kwargs)


def foreign_row(*, job: str = "nightly on build-07", host: str = "build-07.example", pid: int = 4242,
                heartbeat_age: float = 5.0) -> dict[str, Any]:
    """A lease row as another machine's sync would have written it."""
    now = datetime.now(UTC)
    return {"owner": "f" * 32, "run_id": None, "job": job, "host": host, "pid": pid,
            "started_at": now - timedelta(minutes=5), "heartbeat_at": now - timedelta(seconds=heartbeat_age),
            "stage": "invoices", "done": 12, "total": 340}


def write_row(store: WorkStore, realm: str, row: dict[str, Any]) -> None:
    state = SyncState(store, realm)
    with state.begin() as conn:
        state.write_lease(conn, row, replace=state.lease_row(conn, for_update=True) is not None)


def assert_names(exc: SyncBusy, *, job: str, host: str, pid: int) -> None:
    message = str(exc)
    assert f"started by {job} on {host}, pid {pid}" in message, message
    assert (exc.holder["job"], exc.holder["host"], exc.holder["pid"]) == (job, host, pid)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = PATIENCE) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


def lock_waiters(url: str) -> int:
    """Sessions of this database blocked on a lock (a row lock, or another transaction's uncommitted key)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'")).scalar_one())
    finally:
        engine.dispose()


class Outcome:
    """What a thread's call ended with: its value or its exception."""

    def __init__(self) -> None:
        self.value: Any = None
        self.error: BaseException | None = None
        self.done = threading.Event()


def in_thread(target: Callable[[], Any], *, name: str, before: Callable[[], None] | None = None,
              after: Callable[[Outcome], None] | None = None) -> tuple[threading.Thread, Outcome]:
    outcome = Outcome()

    def body() -> None:
        try:
            if before is not None:
                before()
            outcome.value = target()
        except BaseException as exc:  # handed to the test thread
            outcome.error = exc
        finally:
            outcome.done.set()
            if after is not None:
                after(outcome)

    thread = threading.Thread(target=body, name=name, daemon=True)
    thread.start()
    return thread, outcome


# A separate process holding a lease: it answers one JSON line per command read on stdin.
CHILD = r"""
import json, os, sys
from qbo_toolkit.errors import SyncBusy
from qbo_toolkit.sync.lease import Lease
from qbo_toolkit.sync.state import SyncState
from qbo_toolkit.work.store import WorkStore

store = WorkStore(sys.argv[1])
job = sys.argv[2]

def say(**answer):
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()

say(ready=os.getpid())
lease = None
for line in sys.stdin:
    command, _, realm = line.strip().partition(" ")
    if command == "acquire":
        lease = Lease(SyncState(store, realm), job=job, heartbeat=3600)
        try:
            lease.acquire()
        except SyncBusy as exc:
            say(busy=str(exc), holder={key: exc.holder.get(key) for key in ("job", "host", "pid")})
        else:
            say(won=lease.owner)
    elif command == "release":
        if lease is not None:
            lease.release()
        say(released=True)
    else:
        break
"""


class Child:
    """``python -c CHILD url job``: a process of its own, with its own database sessions."""

    def __init__(self, url: str, job: str, log: Path) -> None:
        self.job = job
        self.log = log
        self._stderr: IO[bytes] = log.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-c", CHILD, url, job], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._stderr, text=True)
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.pid = int(self.answer()["ready"])

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def answer(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self._lines.get(timeout=PATIENCE)))
        except queue.Empty:
            self._stderr.flush()
            pytest.fail(f"{self.job} (pid {self.proc.pid}) did not answer: {self.log.read_text()[-3000:]}")

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("exit")
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()


@pytest.fixture
def children(pg_url: str, tmp_path: Path) -> Iterator[Callable[[str], Child]]:
    started: list[Child] = []

    def start(job: str) -> Child:
        started.append(Child(pg_url, job, tmp_path / f"{job}.stderr"))
        return started[-1]

    yield start
    for child in started:
        child.close()


# ------------------------------------------------------------------------------------------------
# (a) two leases race: exactly one wins, the other is told who holds it
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("existing", ["no row", "stale row"])
def test_two_threads_race_for_the_lease_and_exactly_one_wins(stores: Callable[[], WorkStore], existing: str) -> None:
    """Each round, two threads (own WorkStore, own sessions) acquire at a barrier. ``no row``: both
    insert the realm's first row (the loser may meet the IntegrityError and retry); ``stale row``: a
    dead machine's row is there and both lock it FOR UPDATE to take it over."""
    first, second = stores(), stores()
    for round_no in range(12):
        realm = f"race-{existing.replace(' ', '-')}-{round_no}"
        if existing == "stale row":
            write_row(first, realm, foreign_row(heartbeat_age=TTL + 60))
        leases = {"job A": lease_of(first, realm, "job A"), "job B": lease_of(second, realm, "job B")}
        barrier = threading.Barrier(2, timeout=PATIENCE)
        runs = {job: in_thread(lease.acquire, name=job, before=barrier.wait) for job, lease in leases.items()}
        for job, (thread, outcome) in runs.items():
            thread.join(PATIENCE)
            assert outcome.done.is_set(), f"round {round_no}: {job} never returned"
        winners = [job for job, (_, outcome) in runs.items() if outcome.error is None]
        assert len(winners) == 1, f"round {round_no}: {[(j, o.error) for j, (_, o) in runs.items()]}"
        winner = winners[0]
        loser = next(job for job in runs if job != winner)
        error = runs[loser][1].error
        assert isinstance(error, SyncBusy), repr(error)
        assert_names(error, job=winner, host=HOST, pid=os.getpid())
        assert error.realm == realm
        row = SyncState(first, realm).lease_row()
        assert row is not None and row["owner"] == leases[winner].owner
        leases[winner].release()
        leases[loser].release()  # never held: must not drop anything
        assert SyncState(second, realm).lease_row() is None


def test_two_processes_race_for_the_lease_and_exactly_one_wins(
        children: Callable[[str], Child], stores: Callable[[], WorkStore]) -> None:
    """Two processes get "acquire" by one write each (microseconds apart) and race: first-ever
    inserts, then takeovers of a dead machine's row. The loser names the winner's job, host and pid."""
    one, two = children("process one"), children("process two")
    store = stores()
    for round_no in range(10):
        realm = f"proc-race-{round_no}"
        if round_no >= 6:
            write_row(store, realm, foreign_row(heartbeat_age=TTL + 60))
        pair = (one, two) if round_no % 2 == 0 else (two, one)
        for child in pair:
            child.send(f"acquire {realm}")
        answers = {child.job: child.answer() for child in pair}
        winners = [child for child in pair if "won" in answers[child.job]]
        assert len(winners) == 1, f"round {round_no}: {answers}"
        winner = winners[0]
        loser = two if winner is one else one
        busy = answers[loser.job]
        assert busy["holder"] == {"job": winner.job, "host": HOST, "pid": winner.pid}, busy
        assert f"started by {winner.job} on {HOST}, pid {winner.pid}" in busy["busy"]
        row = SyncState(store, realm).lease_row()
        assert row is not None and row["owner"] == answers[winner.job]["won"] and row["pid"] == winner.pid
        for child in pair:
            child.send("release")
        assert [child.answer() for child in pair] == [{"released": True}] * 2
        assert SyncState(store, realm).lease_row() is None


@pytest.mark.parametrize("other_commits", [True, False])
def test_a_first_insert_that_meets_another_uncommitted_insert(
        pg_url: str, stores: Callable[[], WorkStore], other_commits: bool) -> None:
    """The retry path, forced: another session has inserted the realm's first row and not committed.
    The lease's FOR UPDATE sees no row, its INSERT waits on the other's key; when the other commits
    the INSERT fails (IntegrityError), the retry reads the row and SyncBusy names its holder; when
    the other rolls back, the INSERT goes through and the lease is held."""
    holder_store, taker_store = stores(), stores()
    realm = "first-insert"
    holder = SyncState(holder_store, realm)
    taker = lease_of(taker_store, realm, "the taker")
    taker.state.lease_row()  # tables and pool ready before the other transaction opens
    row = {**foreign_row(), "job": "the other", "host": HOST, "pid": os.getpid()}

    class RollBack(Exception):
        pass

    try:
        with holder.begin() as conn:
            holder.write_lease(conn, row, replace=False)
            thread, outcome = in_thread(taker.acquire, name="taker")
            wait_until(lambda: lock_waiters(pg_url) >= 1 or outcome.done.is_set(),
                       "the taker's INSERT to wait on the uncommitted row")
            assert not outcome.done.is_set(), f"the taker did not wait for the uncommitted insert: {outcome.error}"
            if not other_commits:
                raise RollBack
    except RollBack:
        pass
    thread.join(PATIENCE)
    assert outcome.done.is_set()
    current = SyncState(taker_store, realm).lease_row()
    if other_commits:
        assert isinstance(outcome.error, SyncBusy), repr(outcome.error)
        assert_names(outcome.error, job="the other", host=HOST, pid=os.getpid())
        assert not taker.held and current is not None and current["owner"] == row["owner"]
    else:
        assert outcome.error is None, repr(outcome.error)
        assert taker.held and current is not None and current["owner"] == taker.owner
        taker.release()


# ------------------------------------------------------------------------------------------------
# (b) takeovers: a heartbeat older than the TTL, a holder on this host whose pid is gone
# ------------------------------------------------------------------------------------------------


def test_a_lease_of_another_machine_is_free_once_its_heartbeat_is_older_than_the_ttl(
        stores: Callable[[], WorkStore]) -> None:
    store = stores()
    realm = "other-machine"
    write_row(store, realm, foreign_row(heartbeat_age=TTL - 30))
    lease = lease_of(store, realm, "the nightly")
    with pytest.raises(SyncBusy) as busy:
        lease.acquire()  # fresh enough; and a pid on another host is never looked up here
    assert_names(busy.value, job="nightly on build-07", host="build-07.example", pid=4242)
    assert "invoices: 12 of 340 records" in str(busy.value)

    write_row(store, realm, foreign_row(heartbeat_age=TTL + 30))
    lease.acquire()
    row = SyncState(store, realm).lease_row()
    assert row is not None and (row["owner"], row["host"], row["pid"]) == (lease.owner, HOST, os.getpid())
    lease.release()


def test_a_holder_that_hung_past_the_ttl_loses_the_lease_and_knows_it(stores: Callable[[], WorkStore]) -> None:
    store_a, store_b = stores(), stores()
    realm = "hung"
    hung = lease_of(store_a, realm, "hung job")
    hung.acquire()
    with pytest.raises(SyncBusy):
        lease_of(store_b, realm, "second job").acquire()
    # its heartbeat stopped TTL + 30 s ago (the thread of a hung process beats no more)
    assert hung.state.touch_lease(hung.owner, heartbeat_at=datetime.now(UTC) - timedelta(seconds=TTL + 30))
    taker = lease_of(store_b, realm, "second job")
    taker.acquire()
    assert not hung.beat() and hung.lost.is_set(), "the hung holder must learn it lost the lease"
    hung.release()  # must not drop the new holder's lease
    row = SyncState(store_a, realm).lease_row()
    assert row is not None and row["owner"] == taker.owner
    taker.release()


def test_a_lease_whose_holder_on_this_host_was_killed_is_free_at_once(
        children: Callable[[str], Child], stores: Callable[[], WorkStore]) -> None:
    store = stores()
    realm = "killed"
    state = SyncState(store, realm)
    child = children("killed job")
    child.send(f"acquire {realm}")
    assert "won" in child.answer()
    with pytest.raises(SyncBusy) as busy:  # alive: busy
        lease_of(store, realm, "next job").acquire()
    assert_names(busy.value, job="killed job", host=HOST, pid=child.pid)
    run_id = state.start_run("incremental", dry_run=False)  # a run the killed process left "running"

    child.proc.kill()
    child.proc.wait(timeout=PATIENCE)
    row = state.lease_row()
    assert row is not None and row["pid"] == child.pid, "a killed process cannot release its lease"
    assert datetime.now(UTC) - row["heartbeat_at"] < timedelta(seconds=TTL), "the heartbeat is still fresh"
    assert not holder_alive(row)

    taker = lease_of(store, realm, "next job")
    taker.acquire()  # no wait: the pid is gone
    row = state.lease_row()
    assert row is not None and row["owner"] == taker.owner and row["pid"] == os.getpid()
    with store.engine.connect() as conn:
        status = conn.execute(sa.select(runs_table.c.status).where(runs_table.c.id == run_id)).scalar_one()
    assert status == "interrupted"
    taker.release()


# ------------------------------------------------------------------------------------------------
# (c) two real syncs of one company at once, on the PostgreSQL WORK store
# ------------------------------------------------------------------------------------------------


class Gate(NullReporter):
    """Holds its run at ``start`` (lease held, nothing sent yet) until ``opened`` is set."""

    def __init__(self, opened: threading.Event) -> None:
        self.opened = opened
        self.started = threading.Event()

    def start(self, run_id: int, kind: str, total: int) -> None:
        self.started.set()
        if not self.opened.wait(PATIENCE):
            raise AssertionError("the gate was never opened: did both syncs get the lease?")


@pytest.fixture
def pg_world(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """synckit's world (emulator, headless connection, the small demo) on the PostgreSQL schema."""
    reset_limiters()
    store = WorkStore(pg_url)
    summary = generate_demo(store, integration_date=INTEGRATION_DATE, **SMALL_DEMO)
    try:
        with serve(EmulatorConfig(auto_approve=True, time_scale=TIME_SCALE)) as emu:
            info_path = tmp_path / "emulator.json"
            info_path.write_text(json.dumps(emu.info))
            monkeypatch.setenv("QBO_EMULATOR_INFO", str(info_path))
            conn = connect_headless()
            yield World(emu, conn, store, pg_url, info_path, Path(os.environ["QBO_TOOLKIT_HOME"]), summary)
    finally:
        store.close()
        reset_limiters()


def second_engine(w: World, stores: Callable[[], WorkStore], job: str, **kwargs: Any) -> SyncEngine:
    """Another sync of the company: its own WorkStore (own sessions) and its own connection."""
    return SyncEngine(stores(), connection().client, SETTINGS, job=job, **kwargs)


def test_two_syncs_at_once_one_runs_the_other_is_busy(pg_world: World, stores: Callable[[], WorkStore]) -> None:
    w = pg_world
    loser_known = threading.Event()
    gates = {"sync A": Gate(loser_known), "sync B": Gate(loser_known)}
    engines = {"sync A": w.engine(job="sync A", reporter=gates["sync A"]),
               "sync B": second_engine(w, stores, "sync B", reporter=gates["sync B"])}
    barrier = threading.Barrier(2, timeout=PATIENCE)

    def note(outcome: Outcome) -> None:
        if isinstance(outcome.error, SyncBusy):
            loser_known.set()

    runs = {job: in_thread(engine.run, name=job, before=barrier.wait, after=note) for job, engine in engines.items()}
    for job, (thread, outcome) in runs.items():
        thread.join(PATIENCE * 3)
        assert outcome.done.is_set(), f"{job} never returned"
    results = {job: outcome.value for job, (_, outcome) in runs.items() if outcome.error is None}
    errors = {job: outcome.error for job, (_, outcome) in runs.items() if outcome.error is not None}
    assert len(results) == 1 and len(errors) == 1, f"results {results}, errors {errors!r}"
    (winner, result), (loser, error) = next(iter(results.items())), next(iter(errors.items()))
    assert isinstance(error, SyncBusy), repr(error)
    assert_names(error, job=winner, host=HOST, pid=os.getpid())
    assert not gates[loser].started.is_set(), "the busy sync must stop before planning anything"
    assert isinstance(result, SyncResult) and result.completed and result.counts["ok"] > 50
    assert [run["status"] for run in w.state.runs()] in (["ok"], ["failures"])  # completed (the demo plants failures)
    assert w.state.lease_row() is None

    counts = check_consistent(w)  # through the toolkit's QBO client over HTTP: no duplicate, nothing missing
    assert counts["invoices_due"] > 0
    again = engines[loser].run()  # the lease is free again; nothing is left to do
    assert again.completed and again.counts.get("ok", 0) == 0 and again.requests <= 3
    check_consistent(w)


def test_a_second_sync_with_wait_runs_after_the_first(pg_world: World, stores: Callable[[], WorkStore]) -> None:
    w = pg_world
    open_first = threading.Event()
    first_gate = Gate(open_first)
    first_thread, first = in_thread(w.engine(job="first sync", reporter=first_gate).run, name="first sync")
    wait_until(lambda: first_gate.started.is_set() or first.done.is_set(), "the first sync to hold the lease")
    assert first.error is None and not first.done.is_set(), repr(first.error)

    impatient = second_engine(w, stores, "impatient sync")
    began = time.monotonic()
    with pytest.raises(SyncBusy) as busy:
        impatient.run(wait=2.0)
    assert time.monotonic() - began >= 1.9
    assert "(waited 2 s)" in str(busy.value)
    assert_names(busy.value, job="first sync", host=HOST, pid=os.getpid())

    second_gate = Gate(threading.Event())
    second_gate.opened.set()
    second_thread, second = in_thread(
        lambda: second_engine(w, stores, "patient sync", reporter=second_gate).run(wait=PATIENCE * 3),
        name="patient sync")
    time.sleep(2.5)  # more than two of its polls: it is still waiting, the first still holds the lease
    assert not second.done.is_set() and not second_gate.started.is_set(), repr(second.error)
    row = w.state.lease_row()
    assert row is not None and row["job"] == "first sync"

    open_first.set()
    first_thread.join(PATIENCE * 3)
    second_thread.join(PATIENCE * 3)
    assert first.done.is_set() and second.done.is_set()
    assert first.error is None and second.error is None, (first.error, second.error)
    assert first.value.completed and first.value.kind == "initial" and first.value.counts["ok"] > 50
    assert second.value.completed and second.value.kind == "incremental"
    assert second.value.counts.get("ok", 0) == 0 and second.value.requests <= 3
    runs = {run["id"]: run for run in w.state.runs()}
    assert all(run["status"] in ("ok", "failures") for run in runs.values()) and len(runs) == 2  # both completed
    one, two = runs[first.value.run_id], runs[second.value.run_id]
    assert two["started_at"] >= one["finished_at"], "the waiting sync started before the first had finished"
    assert w.state.lease_row() is None
    check_consistent(w)


OPEN_STORE = """
import sys
from qbo_toolkit.sync.state import SyncState
from qbo_toolkit.work.store import WorkStore
sys.stdin.readline()  # the start signal: every process opens the store at once
SyncState(WorkStore(sys.argv[1]), "r1")
print("opened", flush=True)
"""


def test_processes_opening_a_fresh_database_at_once_all_succeed() -> None:
    """Two syncs started together on a new PostgreSQL database both create the WORK and sync tables:
    their DDL takes turns (an advisory lock), so neither fails on the catalog's unique index."""
    for _ in range(3):
        with postgres_schema() as url:
            procs = [subprocess.Popen([sys.executable, "-c", OPEN_STORE, url], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write("go\n")
                proc.stdin.flush()
            results = [proc.communicate(timeout=PATIENCE) for proc in procs]
            for proc, (out, err) in zip(procs, results, strict=True):
                assert proc.returncode == 0 and out.strip() == "opened", err
