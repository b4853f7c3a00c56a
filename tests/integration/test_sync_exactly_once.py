"""Money written exactly once, whatever happens (issue 11): each "what was seen" has a test here.

* two syncs at once (two processes, and two threads of one kernel) -> one runs, the other stops with
  exit 75 and a sentence naming the holder (or waits with --wait); no payment twice;
* QBO forgets a requestid (its replay window is not documented) after a run died between QBO's
  answer and its record -> the records are found by their mark and linked, never created twice;
* a 6140 on the toolkit's own invoice (the invoice is in QBO, the WORK store does not know it) ->
  adopted, not stuck;
* QBO hands a lost record's Id to another record (the graceful-restart wedge) -> no traceback,
  no wedge: the id map follows whose record it is;
* SIGTERM and SIGINT -> exit 143 / 130, a sentence, the run recorded as interrupted, lease free;
* a run left 'running' by a dead process shows as interrupted; its lease is free at once;
* the WORK store locked past the busy timeout -> exit 75 and a sentence naming it;
* a request QBO refuses as a whole stays in no outbox; a record deleted in QBO while its change
  waited is parked with a sentence; a run never says "nothing to do" over failures.

The emulator runs in this process (a real HTTP server on a thread); the syncs under test run in
their own processes where the issue saw them do (``qbo-toolkit sync``), and end states are judged
by ``check_consistent``: QBO read over HTTP and the WORK store read directly.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from synckit import SETTINGS, World, check_consistent, open_world

from qbo_toolkit.errors import SyncBusy, SyncInterrupted
from qbo_toolkit.sync.api import current_sync
from qbo_toolkit.sync.context import StopFlag
from qbo_toolkit.sync.engine import SyncEngine
from qbo_toolkit.sync.keys import record_key, request_id
from qbo_toolkit.sync.lease import Lease
from qbo_toolkit.sync.state import outbox_table

QBO_TOOLKIT = str(Path(sys.executable).parent / "qbo-toolkit")
INVOICES_ONLY = replace(SETTINGS, payments=False)
DEMO = {"clients": 30, "invoices": 120, "payments": 100}


def settings_file(w: World, settings: Any = SETTINGS) -> str:
    path = w.home / "sync-settings.yaml"
    settings.save(path)
    return str(path)


def start_cli(w: World, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([QBO_TOOLKIT, "sync", "--settings", settings_file(w), "--work-db", w.url, "--no-progress",
                             *args], env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_until(condition: Any, timeout: float = 60.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback (most recent call last)" not in text, text


@contextmanager
def payments_pending(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, latency: float = 0.0) -> Iterator[World]:
    """A world whose invoices are in QBO and whose payments (100) wait to be sent; then each request
    takes about ``latency`` service seconds (60 a real second), so a run lasts long enough to meet."""
    with open_world(tmp_path, monkeypatch, demo=DEMO, access_ttl=10**7) as w:
        assert w.sync(INVOICES_ONLY).completed
        w.emu.emulator.config.latency_mean = latency
        w.emu.emulator.config.latency_jitter = latency / 3
        yield w


# ------------------------------------------------------------------------------------------------
# Two syncs at once
# ------------------------------------------------------------------------------------------------


def test_two_sync_processes_at_once_send_each_payment_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's scenario: two syncs started together with payments pending. Whether their runs
    overlap depends on the machine (a busy one may start the second after the first ended); every
    outcome must leave each payment in QBO once, and a sync that found the other running says so."""
    with payments_pending(tmp_path, monkeypatch, latency=120.0) as w:
        procs = [start_cli(w, "--job", "nightly job"), start_cli(w, "--job", "nightly job")]  # no --wait
        outs = [p.communicate(timeout=300) for p in procs]
        for proc, (out, err) in zip(procs, outs, strict=True):
            no_traceback(out, err)
            assert proc.returncode in (0, 1, 75), (proc.returncode, out, err)  # 1: completed with findings
            if proc.returncode == 75:
                assert "is running since" in err and "started by nightly job on" in err and "pid" in err, err
        assert {0, 1} & {p.returncode for p in procs}
        check_consistent(w)  # every payment in QBO exactly once, balances equal
        assert w.sync().counts["ok"] == 0


def test_a_sync_started_while_another_holds_the_lease_stops_with_75(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Deterministic: the test itself holds the company's lease, as a running sync would."""
    with payments_pending(tmp_path, monkeypatch) as w:
        holder = Lease(w.state, job="nightly job", company="the company")
        holder.acquire()
        try:
            proc = start_cli(w)
            out, err = proc.communicate(timeout=120)
            no_traceback(out, err)
            assert proc.returncode == 75, (out, err)
            assert "is running since" in err and "started by nightly job on" in err and f"pid {os.getpid()}" in err
            assert w.state.links("payment") == {}, "the stopped sync sent something"
            waiting = start_cli(w, "--wait", "120")  # waits for the holder, then runs
            time.sleep(1.0)
            assert waiting.poll() is None, "it did not wait"
        finally:
            holder.release()
        out, err = waiting.communicate(timeout=300)
        no_traceback(out, err)
        assert waiting.returncode in (0, 1), err  # 1: completed, with the demo's planted findings
        check_consistent(w)


def test_a_second_sync_with_wait_runs_after_the_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with payments_pending(tmp_path, monkeypatch, latency=20.0) as w:
        procs = [start_cli(w, "--wait", "300") for _ in range(3)]  # three at once, each waits its turn
        outs = [p.communicate(timeout=400) for p in procs]
        for proc, (out, err) in zip(procs, outs, strict=True):
            no_traceback(out, err)
            assert proc.returncode in (0, 1), err  # 1: completed, with the demo's planted findings
        check_consistent(w)
        runs = [r for r in w.state.runs() if not r["dry_run"]]
        assert {r["status"] for r in runs} <= {"ok", "failures"}  # each run completed (the demo plants failures)


def test_two_threads_of_one_process_do_not_sync_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two browser tabs of the app are two kernels; two Sync now in one kernel are two threads: the
    lease holds either way (its owner is the run, not the process)."""
    with payments_pending(tmp_path, monkeypatch, latency=30.0) as w:
        outcomes: list[Any] = []
        together = threading.Barrier(2)

        def one() -> None:
            together.wait(timeout=60)
            try:
                outcomes.append(SyncEngine(w.store, w.conn.client, SETTINGS, job="tab").run())
            except SyncBusy as exc:
                outcomes.append(exc)

        threads = [threading.Thread(target=one) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        busy = [o for o in outcomes if isinstance(o, SyncBusy)]
        assert len(outcomes) == 2 and len(busy) == 1, outcomes
        assert "started by tab on" in str(busy[0])
        check_consistent(w)


def test_a_dead_holders_lease_is_free_and_its_run_shows_interrupted(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    with open_world(tmp_path, monkeypatch, demo={"clients": 20, "invoices": 20, "payments": 5}) as w:
        state = w.state
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        lease = Lease(state, job="a killed job")
        assert lease.try_acquire() is None
        run_id = state.start_run("incremental", dry_run=False)  # as a sync does: the lease first, then its run
        lease.attach(run_id)
        state.touch_lease(lease.owner, pid=dead.pid)  # as if that process had held it and died
        assert [r["status"] for r in state.runs() if r["id"] == run_id] == ["interrupted"]  # shown so at once
        result = w.sync()  # no wait needed: the holder is gone
        assert result.completed
        with w.store.engine.connect() as conn:
            from qbo_toolkit.sync.state import runs_table

            stored = conn.execute(runs_table.select().where(runs_table.c.id == run_id)).one()
        assert stored.status == "interrupted", "the new holder records the dead run as interrupted"


def test_a_lease_without_heartbeat_expires_and_a_fresh_one_is_named(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    with open_world(tmp_path, monkeypatch, demo={"clients": 20, "invoices": 20, "payments": 2}) as w:
        state = w.state
        other = Lease(state, job="month-end job")
        assert other.try_acquire() is None
        state.touch_lease(other.owner, host="another-host", pid=4242, stage="invoices", done=40, total=100)
        with pytest.raises(SyncBusy) as caught:
            w.sync()
        text = str(caught.value)
        assert "month-end job on another-host, pid 4242" in text and "40 of 100" in text and "--wait" in text
        stale = datetime.now(UTC) - timedelta(seconds=600)
        state.touch_lease(other.owner, heartbeat_at=stale)
        assert w.sync().completed  # a holder silent for longer than the TTL has died


def test_reconcile_runs_beside_a_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reconciliation only reads: it neither waits for nor blocks a sync holding the lease."""
    from qbo_toolkit.recon import reconcile_live

    with open_world(tmp_path, monkeypatch, demo={"clients": 20, "invoices": 20, "payments": 5}) as w:
        w.sync()
        holder = Lease(w.state, job="nightly job")
        holder.acquire()
        try:
            result = reconcile_live(w.conn, w.store, as_of=date(2026, 6, 30), settings=SETTINGS)
            assert result is not None
            assert current_sync(store=w.store, realm=w.realm) is not None  # still the sync's
        finally:
            holder.release()


# ------------------------------------------------------------------------------------------------
# Keys of the record, and the second line of defence
# ------------------------------------------------------------------------------------------------


def test_a_write_has_the_same_key_whoever_sends_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two runs that would send the same change send the same requestid: here a run that lost its
    outbox (another process never saw it) sends exactly the keys the first run sent."""
    with payments_pending(tmp_path, monkeypatch) as w:
        from test_sync_resilience import Crash, CrashingEngine

        engine = CrashingEngine(w.store, w.conn.client, SETTINGS, entity="Payment", when="before", kind="single")
        with pytest.raises(Crash):
            engine.run()
        kept = {rid for rid, _, _ in w.state.outbox()}
        assert kept
        with w.store.begin() as conn:  # the second process knows nothing of the first one's outbox
            conn.execute(outbox_table.delete())
        mark = w.log_mark()
        again = CrashingEngine(w.store, w.conn.client, SETTINGS, entity="Payment", when="never", kind="single")
        assert again.run().completed  # payments one per request again: comparable keys
        sent = {e["query"].get("requestid") for e in w.data_requests(mark)}
        assert kept <= sent, "the same changes went with other requestids"
        check_consistent(w)


def test_keys_are_of_the_record_and_its_attempt() -> None:
    key = record_key("payment", 12, 3, "create")
    assert request_id("realm-1", key) == request_id("realm-1", key)
    assert request_id("realm-1", key) != request_id("realm-2", key)
    assert request_id("realm-1", key) != request_id("realm-1", record_key("payment", 12, 4, "create"))
    assert request_id("realm-1", key, 1) != request_id("realm-1", key), "after a refusal the next try is new"
    assert len(request_id("realm-1", key)) <= 36


def forget_requestids(w: World) -> None:
    """QBO's replay window is not documented: here it has forgotten every requestid."""
    store = w.emu.emulator.store
    for key, _ in store.kv_items("replay"):
        store.kv_delete("replay", key)


@pytest.mark.parametrize("entity", ["Customer", "Invoice", "Payment"])
def test_records_are_found_by_their_mark_when_qbo_forgot_the_requestid(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entity: str) -> None:
    from test_sync_resilience import Crash, CrashingEngine

    with open_world(tmp_path, monkeypatch, demo={"clients": 20, "invoices": 40, "payments": 30}) as w:
        engine = CrashingEngine(w.store, w.conn.client, SETTINGS, entity=entity, when="after", kind="batch")
        with pytest.raises(Crash):
            engine.run()  # QBO wrote a batch; the run died before recording it
        assert w.state.outbox()
        forget_requestids(w)  # a resend with the same requestid would now run again
        result = w.sync()
        assert result.completed
        adopted = [e for e in w.activity(result) if e.message.startswith("found (sent earlier")]
        assert adopted, "nothing was found by its mark"
        check_consistent(w)  # nothing twice


def test_the_toolkits_own_invoice_number_is_adopted_not_stuck(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """QBO has the invoice (its answer was lost, and so was the outbox: a WORK store restored from a
    backup): the create gets 6140 on its own number; the run adopts the invoice with its mark."""
    from test_sync_resilience import Crash, CrashingEngine

    with open_world(tmp_path, monkeypatch, demo={"clients": 20, "invoices": 40, "payments": 30}) as w:
        engine = CrashingEngine(w.store, w.conn.client, SETTINGS, entity="Invoice", when="after", kind="batch")
        with pytest.raises(Crash):
            engine.run()
        with w.store.begin() as conn:
            conn.execute(outbox_table.delete())
        forget_requestids(w)  # or QBO would replay its answers (the first line of defence)
        first = w.sync()
        assert first.completed
        assert not [e for e in w.activity(first, outcome="failed") if e.entity == "invoice" and "6140" in e.message]
        assert [e for e in w.activity(first) if e.message.startswith("found (sent earlier") and e.entity == "invoice"]
        check_consistent(w)


def test_an_invoice_number_held_by_an_invoice_the_toolkit_did_not_make_is_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_world(tmp_path, monkeypatch, demo={"clients": 20, "invoices": 20, "payments": 0}) as w:
        w.sync()
        amy = w.awkward("amy_exact")
        hours = w.store.item_by_name("Hours")
        assert hours is not None
        inv = w.store.add_invoice("T-TAKEN-1", amy, date(2026, 3, 1), lines=[
            {"item_id": hours.id, "description": "Labor", "qty": Decimal("1"), "unit_price": Decimal("10.00")}])
        line = {"Amount": "5.00", "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
        someone = w.create_qbo("Invoice", {"DocNumber": "T-TAKEN-1", "CustomerRef": {"value": "1"}, "Line": [line]})
        result = w.sync()
        failed = [e for e in w.activity(result, outcome="failed") if e.work_id == inv.id]
        assert failed and f"Id {someone['Id']}" in failed[0].message and "did not create" in failed[0].message
        assert inv.id not in w.state.links("invoice")
        again = w.sync()
        assert "nothing to do" not in str(again) and "T-TAKEN-1" in str(again)


# ------------------------------------------------------------------------------------------------
# No wedge
# ------------------------------------------------------------------------------------------------


def test_an_id_qbo_hands_out_twice_does_not_wedge_the_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The graceful-restart wedge: QBO answered a create, lost it, and gave its Id to the next record.
    Version one crashed with UNIQUE constraint failed on every later run."""
    with open_world(tmp_path, monkeypatch, demo={"clients": 20, "invoices": 20, "payments": 0}) as w:
        w.sync()
        amy = w.awkward("amy_exact")
        hours = w.store.item_by_name("Hours")
        assert hours is not None

        def invoice(number: str) -> int:
            return w.store.add_invoice(number, amy, date(2026, 3, 1), lines=[
                {"item_id": hours.id, "description": "Labor", "qty": Decimal("1"), "unit_price": Decimal("10.00")}]).id

        lost = invoice("T-LOST-1")
        w.sync()
        lost_qbo = w.state.links("invoice")[lost].qbo_id
        # QBO loses it, and its Id counter goes back: the next invoice gets the same Id
        emu_store, realm = w.emu.emulator.store, w.realm
        with emu_store.transaction():
            emu_store.delete(realm, "Invoice", lost_qbo, {"Id": lost_qbo, "status": "Deleted"}, time.time())
            emu_store._stage("counter", realm, "id:Invoice", int(lost_qbo) - 1)
        w.emu.emulator.companies[realm]._rebuild_indexes()
        taker = invoice("T-TAKER-1")
        result = w.sync()
        assert result.completed
        links = w.state.links("invoice")
        assert links[taker].qbo_id == lost_qbo, "the Id is the new invoice's (its mark says so)"
        assert lost not in links or links[lost].qbo_id != lost_qbo
        final = w.sync()  # the lost invoice is looked up, not found, and created again
        assert final.completed
        check_consistent(w)
        assert w.sync().counts["ok"] == 0


def test_a_request_refused_as_a_whole_leaves_the_outbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_world(tmp_path, monkeypatch, demo={"clients": 20, "invoices": 20, "payments": 0}) as w:
        w.sync()
        body = [{"op": "create", "entity": "Invoice", "payload": {"CustomerRef": {"value": "1"}},
                 "key": record_key("invoice", 9000 + n, 1, "create")} for n in range(31)]  # 31 items: 1040
        with w.store.begin() as conn:
            w.state.add_outbox(conn, "qtb-planted-refused-as-a-whole-000", "batch", body)
        first = w.sync()
        assert first.completed and w.state.outbox() == []
        assert w.sync().completed


def test_a_record_deleted_in_qbo_while_its_change_waited_is_parked(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    with open_world(tmp_path, monkeypatch, demo={"clients": 20, "invoices": 20, "payments": 0}) as w:
        w.sync()
        links = w.state.links("invoice")
        work_id, link = next(iter(links.items()))
        doc = w.read("Invoice", link.qbo_id)
        w.conn.client.delete("Invoice", link.qbo_id, str(doc["SyncToken"]), request_id="test-user-deletes-it")
        inv = w.store.get_invoice(work_id)
        assert inv is not None
        w.store.update_invoice(work_id, due_date=inv.issue_date + timedelta(days=45))
        result = w.sync()
        assert result.completed
        parked = [e for e in w.activity(result, outcome="failed") if e.work_id == work_id]
        assert parked and "was deleted in QuickBooks (not by the sync)" in parked[0].message
        assert w.state.links("invoice")[work_id].state == "gone"
        assert f"invoice {work_id}:" in str(w.sync()), "the summary names the parked record"


# ------------------------------------------------------------------------------------------------
# Signals, a locked WORK store, truthful summaries
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_the_sync_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sig: int, code: int) -> None:
    with payments_pending(tmp_path, monkeypatch, latency=60.0) as w:
        proc = start_cli(w)
        mark = w.log_mark()
        wait_until(lambda: len(w.data_requests(mark)) >= 3 or proc.poll() is not None, what="requests")
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
        no_traceback(out, err)
        assert proc.returncode == code, (proc.returncode, out, err)
        assert "interrupted" in err and signal.Signals(sig).name in err, err
        assert w.state.runs()[0]["status"] == "interrupted"
        assert current_sync(store=w.store, realm=w.realm) is None, "the lease was not released"
        assert w.sync().completed
        check_consistent(w)


def test_a_stop_flag_interrupts_an_in_process_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with payments_pending(tmp_path, monkeypatch, latency=30.0) as w:
        stop = StopFlag()
        engine = SyncEngine(w.store, w.conn.client, SETTINGS, stop=stop)
        mark = w.log_mark()
        timer = threading.Thread(target=lambda: (wait_until(lambda: len(w.data_requests(mark)) >= 2),
                                                 stop.request("the screen's Stop")))
        timer.start()
        with pytest.raises(SyncInterrupted, match="the screen's Stop"):
            engine.run()
        timer.join()
        assert w.state.runs()[0]["status"] == "interrupted"
        assert w.sync().completed
        check_consistent(w)


def test_a_run_that_lost_its_lease_stops_before_sending_more(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sync that hung past its lease's time-out finds, at its next heartbeat, that another took the
    lease over: it stops between records instead of sending beside the new holder."""
    with payments_pending(tmp_path, monkeypatch, latency=30.0) as w:
        engine = SyncEngine(w.store, w.conn.client, SETTINGS)
        outcome: list[BaseException] = []
        mark = w.log_mark()

        def run() -> None:
            try:
                engine.run()
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        wait_until(lambda: engine.ctx is not None and len(w.data_requests(mark)) >= 2, what="the run to send")
        ctx = engine.ctx
        assert ctx is not None and ctx.lease is not None
        with w.store.begin() as conn:  # it expired and another sync took it over
            conn.execute(sa.text("UPDATE sync_lease SET owner = 'another-sync'"))
        assert ctx.lease.beat() is False
        thread.join(timeout=300)
        assert outcome and isinstance(outcome[0], SyncInterrupted), outcome
        assert "took over" in str(outcome[0])
        assert w.state.runs()[0]["status"] == "interrupted"
        with w.store.begin() as conn:  # the new holder finished and let go
            conn.execute(sa.text("DELETE FROM sync_lease"))
        assert w.sync().completed
        check_consistent(w)


def test_a_work_store_locked_too_long_is_a_sentence_and_exit_75(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    with open_world(tmp_path, monkeypatch, demo={"clients": 20, "invoices": 20, "payments": 5}) as w:
        path = w.url.removeprefix("sqlite:///")
        holder = sqlite3.connect(path, isolation_level=None, timeout=1)
        holder.execute("BEGIN IMMEDIATE")  # another program writing, for longer than the busy timeout
        try:
            proc = start_cli(w, env={"QBO_WORK_BUSY_TIMEOUT": "1"})
            out, err = proc.communicate(timeout=120)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        no_traceback(out, err)
        assert proc.returncode == 75, (out, err)
        assert "WORK store" in err and "locked" in err, err
        assert w.sync().completed
        check_consistent(w)


def test_a_run_with_failures_never_says_nothing_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_world(tmp_path, monkeypatch, demo={"clients": 20, "invoices": 20, "payments": 10}) as w:
        w.sync()  # the awkward names fail (a colon, a name too long...)
        again = w.sync()
        text = str(again)
        assert again.outstanding, "failed records are outstanding"
        assert "nothing to do" not in text
        assert "still not in QuickBooks" in text and f"customer {w.awkward('colon')}:" in text


def test_a_delete_that_goes_through_after_a_failed_attempt_closes_the_failure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server-kills check found it: a payment delete that failed (no reply) and went through in a
    later run left its failure open, so the record read as stuck although QBO and WORK agreed."""
    with open_world(tmp_path, monkeypatch, demo={"clients": 20, "invoices": 20, "payments": 6}) as w:
        w.sync()
        work_id = next(iter(w.state.links("payment")))
        run_id = w.state.start_run("incremental", dry_run=False)
        with w.store.begin() as conn:  # what the failed attempt left: an open failure, pending for the next run
            w.state.record(conn, run_id, entity="payment", direction="to_qbo", action="delete", outcome="failed",
                           work_id=work_id, message="payment: no reply after 6 attempts")
            w.state.set_value(conn, "pending:payment", [work_id])
        w.state.finish_run(run_id, "failed", {})
        w.store.delete_payment(work_id)
        result = w.sync()
        assert result.counts["payment.delete.ok"] == 1
        assert [e for e in w.state.open_failures() if e.entity == "payment" and e.work_id == work_id] == []
        assert work_id not in w.state.get_value("pending:payment", [])
        check_consistent(w)


def test_a_name_held_in_qbo_by_someone_else_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_world(tmp_path, monkeypatch, demo={"clients": 20, "invoices": 20, "payments": 5}) as w:
        result = w.sync()
        names = {c.display_name: c.id for c in w.store.clients()}
        texts = {e.work_id: e.message for e in w.activity(result, outcome="failed") if e.entity == "customer"}
        vendor = texts[names["Cal Telephone"]]
        employee = texts[names["Emily Platt"]]
        assert "already used in QuickBooks by vendor " in vendor and "did not create" in vendor, vendor
        assert "already used in QuickBooks by employee " in employee, employee


def test_doctor_finds_and_repairs_a_duplicate_and_a_lost_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qbo_toolkit.sync.doctor import doctor

    with open_world(tmp_path, monkeypatch, demo={"clients": 20, "invoices": 20, "payments": 6}) as w:
        w.sync()
        assert doctor(store=w.store, conn=w.conn).consistent_after
        plinks = w.state.links("payment")
        (dup_of, link), (unlinked, lost) = list(plinks.items())[:2]
        original = w.read("Payment", link.qbo_id)
        copy = {k: original[k] for k in ("CustomerRef", "TotalAmt", "TxnDate", "Line", "PrivateNote",
                                          "DepositToAccountRef")}
        copy["Line"] = []  # unapplied: the invoice is paid already
        copy["TotalAmt"] = "0.01"
        twin = w.create_qbo("Payment", copy)  # written twice (as version one did)
        with w.store.begin() as conn:
            w.state.drop_link(conn, "payment", unlinked)  # an answer that never made it to the id map
        report = doctor(store=w.store, conn=w.conn)
        kinds = {(f.kind, f.work_id) for f in report.findings}
        assert ("duplicate", dup_of) in kinds and ("not linked", unlinked) in kinds, str(report)
        assert not report.consistent_after
        fixed = doctor(store=w.store, conn=w.conn, repair=True)
        assert fixed.consistent_after, str(fixed)
        assert twin["Id"] not in {p["Id"] for p in w.qbo("Payment")}
        assert w.state.links("payment")[unlinked].qbo_id == lost.qbo_id
        assert w.sync().completed
        check_consistent(w)
        assert doctor(store=w.store, conn=w.conn).findings == []


def test_cli_doctor_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_world(tmp_path, monkeypatch, demo={"clients": 20, "invoices": 20, "payments": 3}) as w:
        w.sync()
        done = subprocess.run([QBO_TOOLKIT, "doctor", "--work-db", w.url], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and "agree" in done.stdout, (done.stdout, done.stderr)
        with w.store.begin() as conn:
            w.state.drop_link(conn, "payment", next(iter(w.state.links("payment"))))
        found = subprocess.run([QBO_TOOLKIT, "doctor", "--work-db", w.url], capture_output=True, text=True, timeout=120)
        assert found.returncode == 1 and "not linked" in found.stdout, (found.stdout, found.stderr)
        fixed = subprocess.run([QBO_TOOLKIT, "doctor", "--repair", "--work-db", w.url], capture_output=True, text=True,
                               timeout=120)
        assert fixed.returncode == 0 and "repaired" in fixed.stdout, (fixed.stdout, fixed.stderr)
        with w.store.begin() as conn:  # a request still without an answer: not in agreement yet
            w.state.add_outbox(conn, "qt1-planted-waiting", "single", [
                {"op": "create", "entity": "Payment", "payload": {}, "key": record_key("payment", 1, 1, "create")}])
        waiting = subprocess.run([QBO_TOOLKIT, "doctor", "--work-db", w.url], capture_output=True, text=True,
                                 timeout=120)
        assert waiting.returncode == 1 and "waiting for the next sync" in waiting.stdout, waiting.stdout
