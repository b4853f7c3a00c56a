"""The reliability harness (benchmarks/chaos.py): its short version passes, and its own checks can fail.

``make chaos`` runs the full harness; ``make test`` runs ``--quick`` here (every check, less data and
fewer kills), plus tests that the oracle and the secrets scan do catch what they look for: a harness
whose checks cannot fail would prove nothing.
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
                           "--keep", str(tmp_path / "chaos")], capture_output=True, text=True, timeout=900,
                          check=False, cwd=ROOT)
    out = done.stdout + done.stderr
    summary = [line for line in out.splitlines() if line.startswith("chaos summary:")]
    assert summary, out[-3000:]
    assert done.returncode == 0, out[-6000:]
    assert summary[0].startswith("chaos summary: 5 of 5 checks passed"), summary
    for figure in ("kill -9 at random moments", "injected", "refreshes by 2 processes",
                   "in the activity log with its field", "0 leak(s)"):
        assert figure in out, f"no figure {figure!r} printed"


def test_oracle_finds_a_duplicate_and_a_missing_record(chaos: ModuleType, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from qbo_toolkit.connection import connection
    from qbo_toolkit.sync.state import SyncState
    from qbo_toolkit.work.store import WorkStore

    with chaos.world(tmp_path, "oracle", {"clients": 20, "invoices": 12, "payments": 8}, "--time-scale", "600",
                     "--access-ttl", "1e9") as w:
        before = chaos._before(w)
        assert w.run_sync("sync").returncode == 0, w.log_text("sync")
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
