"""The reliability harness (benchmarks/chaos.py): its short version passes, and its own checks can fail.

``make chaos`` runs the full harness; ``make test`` runs ``--quick`` here (every check, less data and
fewer kills, stops, locks and signals), plus tests that the oracle, the secrets scan, the traceback scan
and the nothing-stuck check do catch what they look for (and that the emulator restarts on its data),
and of the sentences the checks accept: a harness whose checks cannot fail would prove nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def chaos(bench_script: Callable[[str], ModuleType]) -> ModuleType:
    return bench_script("chaos")


@pytest.mark.slow
def test_quick_harness_passes_every_check(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "chaos.py"), "--quick", "--seed", "11",
                           "--keep", str(tmp_path / "chaos")], capture_output=True, text=True, timeout=1200,
                          check=False, cwd=ROOT)
    out = done.stdout + done.stderr
    summary = [line for line in out.splitlines() if line.startswith("chaos summary:")]
    assert summary, out[-3000:]
    assert done.returncode == 0, out[-6000:]
    assert summary[0].startswith("chaos summary: 9 of 9 checks passed"), summary
    for figure in ("kill -9 at random moments", "injected", "refreshes by 2 processes",
                   "in the activity log with its field", "0 leak(s)",
                   # money written exactly once, whatever happens
                   "processes in 2 rounds", "emulator restarts on its data dir", "locks held", "x SIGINT",
                   "x SIGTERM", "nothing stuck", "0 with a raw traceback"):
        assert figure in out, f"no figure {figure!r} printed"


def test_oracle_finds_a_duplicate_and_a_missing_record(chaos: ModuleType, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from qbo_toolkit.connection import connection
    from qbo_toolkit.sync.state import SyncState
    from qbo_toolkit.work.store import WorkStore

    with chaos.world(tmp_path, "oracle", {"clients": 20, "invoices": 12, "payments": 8}, "--time-scale", "600",
                     "--access-ttl", "1e9") as w:
        before = chaos._before(w)
        assert w.run_sync("sync").returncode in chaos.FINISHED, w.log_text("sync")  # 1: the planted bad records
        problems, counts = chaos.agreement(w.url, before)
        assert problems == [], problems
        assert counts["invoices linked"] > 0
        # a customer made after the snapshot that no client is linked to: a duplicate left by a sync
        conn = connection()
        conn.client.create_from("Customer", {"DisplayName": "Made twice"}, request_id="oracle-test-dup")
        # a client whose link is lost: missing in QBO, and no failure names it
        store = WorkStore(w.url)
        try:
            state = SyncState(store.engine, conn.realm_id)
            victim = sorted(state.links("customer"))[0]
            with store.engine.begin() as db:
                state.drop_link(db, "customer", victim)
        finally:
            store.close()
        problems, _ = chaos.agreement(w.url, before)
        assert any("'Made twice'" in p and "no client is linked" in p for p in problems), problems
        assert any(p.startswith(f"client {victim} ") and "not in QBO" in p for p in problems), problems


def test_secrets_scan_finds_a_planted_token(chaos: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "a" / "runs").mkdir(parents=True)
    for n in range(12):
        (tmp_path / "a" / "runs" / f"out-{n}.txt").write_text("nothing to see\n")
    clean = chaos.Check("security")
    chaos._secrets_scan(clean, tmp_path)
    assert clean.ok, clean.problems
    refresh = "AB11" + "1790000000" + "x" * 36  # the shape of a refresh token, never a real one
    (tmp_path / "a" / "runs" / "report.html").write_text(f"<p>{refresh}</p>")
    chaos.SEEN_SECRETS.add("a-client-secret-value")
    try:
        (tmp_path / "a" / "runs" / "log.txt").write_text(json.dumps({"secret": "a-client-secret-value"}))
        leaky = chaos.Check("security")
        chaos._secrets_scan(leaky, tmp_path)
    finally:
        chaos.SEEN_SECRETS.discard("a-client-secret-value")
    assert not leaky.ok
    assert sorted(p.split(" holds")[0] for p in leaky.problems) == ["a/runs/log.txt", "a/runs/report.html"]


def test_traceback_scan_finds_a_planted_traceback(chaos: ModuleType, tmp_path: Path) -> None:
    w = chaos.World(tmp_path, None, f"sqlite:///{tmp_path}/work.sqlite3", tmp_path / "settings.yaml")
    (tmp_path / "sync-01.out").write_text("sync run 3 (incremental, 4 requests): 2 done\n")
    (tmp_path / "sync-01.err").write_text("")
    (tmp_path / "emulator.log").write_text("Traceback (most recent call last):\nBrokenPipeError: x\n")
    clean = chaos.Check("signals")
    chaos.check_tracebacks(clean, w)
    assert clean.ok, clean.problems  # the emulator's own log is counted, not judged
    (tmp_path / "sync-02.err").write_text(
        "\x1b[0;31mTraceback (most recent call last)\x1b[0m:\n  File \"x.py\", line 1, in <module>\n"
        "sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) database is locked\n")
    found = chaos.Check("work-lock")
    chaos.check_tracebacks(found, w)
    assert not found.ok
    assert found.problems == ["sync-02.err shows a raw traceback ending sqlalchemy.exc.OperationalError: "
                              "(sqlite3.OperationalError) database is locked"]


def test_the_sentences_the_checks_accept(chaos: ModuleType) -> None:
    lease = ("qbo-toolkit: a sync of Larkspur Landscaping & Repair is running since 09:14, started by "
             "qbo-toolkit sync on build-7, pid 4242; try again later or use --wait SECONDS")
    assert chaos.LEASE.search(lease)
    assert chaos.LEASE.search("a sync of X is running since 2026-12-02 23:58, started by job on h, pid 7 (invoices)")
    assert not chaos.LEASE.search("qbo-toolkit: database is locked")
    assert chaos.WORK_STORE.search("qbo-toolkit: the WORK store (sqlite:///w.sqlite3) is locked by another program")
    assert chaos.INTERRUPTED.search("qbo-toolkit: sync run 4 interrupted (SIGTERM); run it again to finish")
    assert chaos._overlapping([("09:00:01", "09:00:05"), ("09:00:03", "09:00:04")])
    assert not chaos._overlapping([("09:00:01", "09:00:02"), ("09:00:03", "~")])


def test_emulator_restart_keeps_the_company_and_stuck_records_are_found(chaos: ModuleType, tmp_path: Path) -> None:
    import signal

    from qbo_toolkit.connection import connection
    from qbo_toolkit.sync.state import SyncState
    from qbo_toolkit.work.store import WorkStore

    with chaos.world(tmp_path, "restart", {"clients": 20, "invoices": 12, "payments": 8}, "--time-scale", "600",
                     "--access-ttl", "1e9") as w:
        before = chaos._before(w)
        assert w.run_sync("sync").returncode in chaos.FINISHED, w.log_text("sync")  # 1: the planted bad records
        planted = chaos._failure_keys(w)
        port = w.emu.port
        for sig in (signal.SIGKILL, signal.SIGTERM):  # the same company, tokens and port after either
            assert w.emu.restart(sig) == port
        assert w.run_sync("again").returncode in chaos.FINISHED, w.log_text("again")  # 1: the planted records
        problems, _ = chaos.agreement(w.url, before)
        assert problems == [], problems
        clean = chaos.Check("server-kills")
        chaos.check_stuck(clean, w, planted)
        assert clean.ok, clean.problems
        # a run left 'running' and a payment behind a failure the undisturbed sync does not have
        store = WorkStore(w.url)
        try:
            state = SyncState(store.engine, connection().realm_id)
            run_id = state.start_run("incremental", dry_run=False)
            victim = min(p.id for p in store.payments())
            with store.engine.begin() as db:
                state.record(db, run_id, entity="payment", direction="to_qbo", action="create", outcome="failed",
                             work_id=victim, message="planted: the store was locked")
        finally:
            store.close()
        stuck = chaos.Check("server-kills")
        chaos.check_stuck(stuck, w, planted)
        assert any(f"[{run_id}]" in p and "'running'" in p for p in stuck.problems), stuck.problems
        assert any(p.startswith(f"payment {victim} ") and "open failure" in p for p in stuck.problems), stuck.problems
