"""A sync killed at random moments, and a sync through injected faults, ends with everything in
QBO exactly once; so does a disconnect and reconnect in the middle of a history."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from synckit import SETTINGS, World, check_consistent, is_read, open_world

from qbo_toolkit.connection import connect_headless, disconnect
from qbo_toolkit.errors import ReconnectNeeded
from qbo_toolkit.qbo.client import BatchResult
from qbo_toolkit.sync.api import run_sync
from qbo_toolkit.sync.context import RunContext
from qbo_toolkit.sync.engine import SyncEngine
from qbo_toolkit.sync.sender import Sender, Stream, Unit

CRASH_DEMO = {"clients": 60, "invoices": 300, "payments": 200}
FAULT_DEMO = {"clients": 100, "invoices": 400, "payments": 300}

#: One sync run in its own process, as a scheduled job would run it.
RUNNER = """
import json, sys
from qbo_toolkit.settings import Settings
from qbo_toolkit.sync.api import run_sync
result = run_sync(Settings.from_mapping(json.loads(sys.argv[1])), store=sys.argv[2])
print(json.dumps({"status": result.status, "requests": result.requests}))
"""

#: The same, allowed one batch request a (service) minute: nearly every write goes as a single request.
RUNNER_SINGLES = """
import json, sys
from dataclasses import replace
from qbo_toolkit.connection import connection
from qbo_toolkit.settings import Settings
from qbo_toolkit.sync.api import run_sync
conn = connection()
limiter = conn.client.transport.limiter
limiter.reconfigure(replace(limiter.limits, batch_per_minute=1))
result = run_sync(Settings.from_mapping(json.loads(sys.argv[1])), store=sys.argv[2], conn=conn)
print(json.dumps({"status": result.status, "requests": result.requests}))
"""


def start_runner(w: World, code: str = RUNNER) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code, json.dumps(SETTINGS.to_dict()), w.url],
                            env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_requests(w: World, mark: int, count: int, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    """Until ``count`` data requests arrived since ``mark`` (or the process ended)."""
    deadline = time.monotonic() + timeout
    while len(w.data_requests(mark)) < count and proc.poll() is None:
        assert time.monotonic() < deadline, "the sync process made no progress"
        time.sleep(0.005)


@pytest.fixture
def crashy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    # each request takes ~0.1 s (6 service seconds at time scale 60) so a run is long enough to kill;
    # long-lived access tokens: a kill during a refresh would lose the rotated refresh token
    with open_world(tmp_path, monkeypatch, demo=CRASH_DEMO, latency_mean=6.0, latency_jitter=3.0,
                    access_ttl=10**7) as world:
        yield world


@pytest.mark.slow
def test_killed_at_random_moments_then_run_to_completion(crashy: World) -> None:
    w = crashy
    rng = random.Random(20260101)
    kills = 0
    seen: list[object] = []  # per run: requests answered, links, outbox batches (for a failure's message)
    # later runs live longer: each restart re-reads what it needs, so every stage gets its kill
    windows = [(0.2, 0.6), (0.4, 1.0), (0.8, 1.6), (1.2, 2.2), (1.5, 3.0)]
    for low, high in windows:
        time.sleep(0.3)  # the killed run's requests still in the emulator finish first (not to be counted)
        mark = w.log_mark()
        proc = start_runner(w)
        try:
            wait_for_requests(w, mark, 1, proc)  # the interpreter is up and the run has begun
            time.sleep(rng.uniform(low, high))
            if proc.poll() is None:
                proc.kill()  # SIGKILL: no cleanup, no finally
                kills += 1
        finally:
            proc.wait(timeout=30)
        state = w.state
        seen.append((len(w.data_requests(mark)), {e: len(state.links(e)) for e in ("customer", "invoice", "payment")},
                     [len(body) for _, _, body in state.outbox()]))
    assert kills >= 3, f"the runs finished before they could be killed: make them slower {seen}"
    assert w.state.links("invoice"), f"no run got as far as the invoices: {seen}"
    w.emu.emulator.config.latency_mean = w.emu.emulator.config.latency_jitter = 0.0
    final = w.sync()
    assert final.completed
    assert final.counts["failed"] == 0 or {e.field for e in w.activity(final, outcome="failed")} <= {
        "display_name", "client_id", "invoice_id"}, seen
    check_consistent(w)
    again = w.sync()
    assert again.requests <= 3 and again.counts["ok"] == 0, (again.requests, again.counts)


def new_singles(w: World, before: set[str]) -> bool:
    """Whether the sync process has put new single requests out (in its outbox: sent or about to be)."""
    return any(kind == "single" and rid not in before for rid, kind, _ in w.state.outbox())


@pytest.mark.slow
def test_killed_while_single_requests_are_in_flight(crashy: World) -> None:
    """Runs that send nearly everything as single requests (10 in flight), killed just after QBO
    answered one of them: the outbox holds singles that QBO may or may not have written, the next
    run resends them with their requestids, and in the end everything is in QBO exactly once."""
    w = crashy
    rng = random.Random(20260102)
    caught: list[int] = []  # per kill: single requests the outbox held afterwards
    windows = [(0.0, 0.2), (0.1, 0.5), (0.4, 1.0), (0.8, 1.6), (1.2, 2.4)]
    for low, high in windows:
        time.sleep(0.3)  # the killed run's requests still in the emulator finish first
        before = {rid for rid, _, _ in w.state.outbox()}  # what the killed run left (resent first)
        proc = start_runner(w, RUNNER_SINGLES)
        try:
            deadline = time.monotonic() + 30
            while proc.poll() is None and not new_singles(w, before):
                assert time.monotonic() < deadline, "the sync process sent no single request"
                time.sleep(0.002)
            time.sleep(rng.uniform(low, high))
            if proc.poll() is None:
                proc.kill()  # SIGKILL: no cleanup, no finally
        finally:
            proc.wait(timeout=30)
        caught.append(sum(1 for _, kind, _ in w.state.outbox() if kind == "single"))
    assert sum(1 for n in caught if n) >= 3, f"too few kills caught single requests in flight: {caught}"
    assert w.state.links("invoice"), f"no run got as far as the invoices: {caught}"
    w.emu.emulator.config.latency_mean = w.emu.emulator.config.latency_jitter = 0.0
    final = w.sync()
    assert final.completed
    check_consistent(w)
    again = w.sync()
    assert again.requests <= 3 and again.counts["ok"] == 0, (again.requests, again.counts)


def test_a_finished_run_in_a_subprocess_leaves_nothing_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_world(tmp_path, monkeypatch, demo={"clients": 20, "invoices": 20, "payments": 10}) as w:
        proc = start_runner(w)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert json.loads(out.strip().splitlines()[-1])["status"] in ("ok", "failures")  # (the demo's awkward names)
        check_consistent(w)
        assert w.sync().counts["ok"] == 0


class Crash(BaseException):
    """The process dies here (a BaseException: nothing in the engine may swallow it)."""


class CrashingEngine(SyncEngine):
    """Sends ``entity`` only as ``kind`` requests (batch or single) and dies at one exact point of
    the first one: ``before`` it is sent (it is in the outbox), or ``after`` QBO wrote it and before
    its answer is recorded (a reply lost with the process)."""

    def __init__(self, *args: Any, entity: str, when: str, kind: str = "batch", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.crash_entity, self.when, self.kind = entity, when, kind
        self.crashed: list[str] = []

    def make_sender(self, ctx: RunContext) -> Sender:
        engine = self

        class OneKind(Stream):
            def _slot(self, kind: str, units: list[Any]) -> bool:
                if self.queue and self.queue[0].entity == engine.crash_entity and kind != engine.kind:
                    return False
                return bool(super()._slot(kind, units))

        class Crashing(Sender):
            stream_class = OneKind

            def post(self, unit: Unit, pacer: Any) -> list[BatchResult]:
                if engine.when == "before" and unit.ops[0].entity == engine.crash_entity:
                    if unit.slot is not None:
                        unit.slot.release()
                    engine.crashed.append(unit.kind)
                    raise Crash
                return list(super().post(unit, pacer))

            def record(self, outcomes: Sequence[tuple[Any, list[BatchResult] | BaseException]]) -> None:
                for unit, _results in outcomes:
                    if engine.when == "after" and unit.ops[0].entity == engine.crash_entity:
                        engine.crashed.append(unit.kind)
                        raise Crash
                super().record(outcomes)

        return Crashing(ctx, after_record=lambda: self._check_collisions(ctx) if ctx.collisions else None)


def in_qbo_now(w: World, item: dict[str, Any]) -> bool:
    """Whether QBO holds the record an outbox item would create (read over HTTP)."""
    payload = item["payload"]
    if item["entity"] == "Customer":
        return any(c.get("DisplayName") == payload["DisplayName"] for c in w.qbo("Customer"))
    if item["entity"] == "Invoice":
        return any(i.get("DocNumber") == payload["DocNumber"] for i in w.qbo("Invoice"))
    return any(p.get("PrivateNote") == payload["PrivateNote"] for p in w.qbo("Payment"))


def add_invoice_for(w: World, role: str, number: str) -> int:
    hours = w.store.item_by_name("Hours")
    assert hours is not None
    inv = w.store.add_invoice(number, w.awkward(role), date(2026, 2, 2), lines=[
        {"item_id": hours.id, "description": "Labor", "qty": Decimal("3"), "unit_price": Decimal("75.00")}])
    w.store.add_payment(inv.id, date(2026, 2, 10), Decimal("100.00"), "check", "5521")
    return inv.id


@pytest.mark.parametrize("kind", ["batch", "single"])
@pytest.mark.parametrize(("entity", "when"), [("Customer", "before"), ("Customer", "after"), ("Invoice", "before"),
                                              ("Invoice", "after"), ("Payment", "before"), ("Payment", "after")])
def test_a_crash_at_a_request_loses_and_repeats_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entity: str,
                                                        when: str, kind: str) -> None:
    with open_world(tmp_path, monkeypatch, demo={"clients": 20, "invoices": 20, "payments": 10}) as w:
        invoice_id = add_invoice_for(w, "colon", "T-COLON-1")
        w.sync()  # the colon client is refused; its invoice and payment wait for it
        assert invoice_id not in w.state.links("invoice")
        w.store.update_client(w.awkward("colon"), display_name="Acme - North Branch")
        engine = CrashingEngine(w.store, w.conn.client, SETTINGS, entity=entity, when=when, kind=kind)
        with pytest.raises(Crash):
            engine.run()
        assert engine.crashed and set(engine.crashed) == {kind}
        kept = w.state.outbox()
        assert kept and {k for _, k, _ in kept} == {kind}, "the requests the crash caught are not in the outbox"
        in_qbo = {rid for rid, _, body in kept if all(in_qbo_now(w, item) for item in body)}
        mark = w.log_mark()
        again = w.sync()
        resent = {e["query"].get("requestid") for e in w.data_requests(mark)}
        # what QBO wrote before the crash is found by its mark (or name and values) and linked, not sent
        # again; what never reached it (the crash stopped the rest) is resent as it was
        assert not in_qbo & resent, "records QBO already had were sent again"
        assert {rid for rid, _, _ in kept} - in_qbo <= resent, "the outbox was not resent with its requestids"
        adopted = [e for e in w.activity(again, outcome="ok") if e.message.startswith("found (sent earlier")]
        assert len(adopted) == sum(len(body) for rid, _, body in kept if rid in in_qbo)
        if when == "after":
            assert in_qbo, "the crash after QBO's answer left nothing in QBO to find"
        else:
            assert not in_qbo
        assert again.completed
        assert invoice_id in w.state.links("invoice"), "the waiting invoice was forgotten"
        assert len(w.store.payments(invoice_id=invoice_id)) == 1
        check_consistent(w)
        assert w.sync().counts["ok"] == 0


def test_injected_faults_do_not_stop_the_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_world(tmp_path, monkeypatch, demo=FAULT_DEMO, error_rate=0.1, throttle_rate=0.05, drop_rate=0.02,
                    lost_reply_rate=0.02, seed=11) as w:
        result = w.sync()
        assert result.completed
        runs = 1
        # a passing fault that outlasted every retry leaves its record pending for the next run; the
        # awkward names (and what waits for them) are the only other failures
        expected = {"display_name", "client_id", "invoice_id"}
        while {e.field for e in w.activity(result, outcome="failed")} - expected and runs < 3:
            result = w.sync()
            runs += 1
        stats = w.emu.emulator.stats()
        cfg = w.emu.emulator.config
        cfg.error_rate = cfg.throttle_rate = cfg.drop_rate = cfg.lost_reply_rate = 0.0
        injected = {k: v for k, v in stats["counts"].items() if str(k).startswith("injected")}
        assert sum(injected.values()) >= 5, stats  # the faults really happened
        check_consistent(w)
        again = w.sync()
        assert again.counts["ok"] == 0 and again.requests <= 3, (again.counts, again.requests)


def test_disconnect_keeps_the_id_map_and_a_run_while_disconnected_fails_cleanly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_world(tmp_path, monkeypatch, demo={"clients": 20, "invoices": 30, "payments": 20}) as w:
        w.sync()
        links = {e: w.state.links(e) for e in ("customer", "invoice", "payment")}
        revision = w.store.max_revision()
        old_client = w.conn
        assert disconnect().realm_id == w.realm
        mark = w.log_mark()
        with pytest.raises(ReconnectNeeded, match="connect"):
            run_sync(SETTINGS, store=w.store)  # the stored connection is gone
        with pytest.raises(ReconnectNeeded, match="connect"):
            run_sync(SETTINGS, store=w.store, conn=old_client)  # a connection object kept from before
        assert [e for e in w.data_requests(mark) if not is_read(e)] == []
        assert w.store.max_revision() == revision
        assert {e: w.state.links(e) for e in links} == links
        assert w.state.runs(1)[0]["status"] == "failed"

        # a change made while disconnected goes once reconnected; nothing else is created
        amy = w.awkward("amy_exact")
        w.store.update_client(amy, phone="(650) 555-0000")
        w.conn = connect_headless()
        assert w.conn.realm_id == old_client.realm_id
        result = run_sync(SETTINGS, store=w.store, conn=w.conn)
        assert result.kind == "incremental" and result.completed
        assert result.counts["ok"] == 1 and result.counts["customer.update.ok"] == 1, result.counts
        assert w.customer_of(amy)["PrimaryPhone"]["FreeFormNumber"] == "(650) 555-0000"
        after = {e: w.state.links(e) for e in ("invoice", "payment")}
        assert after == {e: links[e] for e in after}
        check_consistent(w)
