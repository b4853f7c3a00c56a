# ruff: noqa: S603 - a harness: runs the project's own tools as separate processes
"""qbo-toolkit reliability harness (``make chaos``): the sync's promises, tried the hard way.

    .venv/bin/python benchmarks/chaos.py            # every check at full size (a few minutes)
    .venv/bin/python benchmarks/chaos.py --quick    # the short version make test runs
    .venv/bin/python benchmarks/chaos.py --only crash,security --seed 7

Checks (see benchmarks/README.md):

* crash     - the initial sync of the demo data killed with SIGKILL at random moments, a new process
              each time, then run to the end.
* faults    - 10% of data requests answered 500/503, 5% 429, 2% dropped connections.
* tokens    - access tokens expire every 100 requests and refresh tokens rotate, while an open
              notebook (a Jupyter kernel) and a papermill job both use and refresh them.
* bad-input - a corpus of bad WORK records: each named in the activity log with its field, every good
              record synced, nothing half-written.
* security  - token files 0600, no secret in any output, a forged OAuth state refused, hostile query
              values inert, loopback-only listeners.

Every process here is a real one: the emulator is ``qbo-toolkit emulator`` on 127.0.0.1, the syncs
are ``qbo-toolkit sync`` / ``qbo-toolkit run`` processes, and the end state is checked through the
QBO API (the toolkit's client over HTTP) and the WORK store. Each check prints its figures and a
verdict; the last line is a summary; the exit status is 1 when any check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
QBO_TOOLKIT = str(BIN / "qbo-toolkit")
INTEGRATION_DATE = date(2026, 1, 1)
#: The emulator seed's accounts: 1 Services (Income), 9 Subcontractor Costs (COGS), 4 Undeposited Funds.
SETTINGS = {"invoices": True, "revenue_account": "1", "item_account": "9", "payments": True,
            "deposit_account": "4", "integration_date": INTEGRATION_DATE.isoformat()}
ENTITIES = ("Customer", "Invoice", "Payment")
RESULTS = ROOT / "benchmarks" / "CHAOS_RESULTS.md"
#: Every client secret and token the scenarios' homes held (the shapes below catch the ones rotated away).
SEEN_SECRETS: set[str] = set()

#: Sizes per mode. "demo" is the demo data set of ``make demo``.
SIZES: dict[str, dict[str, Any]] = {
    "full": {"demo": {"clients": 300, "invoices": 1500, "payments": 1000}, "kills": 25, "kill_window": 1.25,
             "fault_runs": 6, "changes": 120, "expire_after": 100},
    "quick": {"demo": {"clients": 40, "invoices": 80, "payments": 50}, "kills": 4, "kill_window": 0.3,
              "fault_runs": 8, "changes": 12, "expire_after": 20},
}

#: Shapes of OAuth secrets (Intuit's and the emulator's alike): a compact JWE/JWT access token and an
#: "AB11<epoch><random>" refresh token or authorization code.
SECRET_SHAPES = (re.compile(r"eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_.-]{20,}"), re.compile(r"AB11\d{10}[A-Za-z0-9]{30,}"))


# ------------------------------------------------------------------------------------------------
# Results
# ------------------------------------------------------------------------------------------------


@dataclass
class Check:
    name: str
    ok: bool = True
    figures: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def figure(self, text: str) -> None:
        self.figures.append(text)
        print(f"  {self.name}: {text}", flush=True)

    def expect(self, condition: bool, problem: str) -> bool:
        if not condition:
            self.ok = False
            self.problems.append(problem)
            print(f"  {self.name}: PROBLEM {problem}", flush=True)
        return condition


# ------------------------------------------------------------------------------------------------
# The world: an emulator process, a toolkit home, a WORK store
# ------------------------------------------------------------------------------------------------


class Emulator:
    """``qbo-toolkit emulator`` as its own process, persisted to ``workdir/emulator-data``."""

    def __init__(self, workdir: Path, *args: str) -> None:
        self.workdir = workdir
        self.info_path = workdir / "emulator.json"
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}

    def __enter__(self) -> Emulator:
        log = open(self.workdir / "emulator.log", "wb")
        self.proc = subprocess.Popen([QBO_TOOLKIT, "emulator", "--port", "0", "--auto-approve", "--reset",
                                      "--data-dir", str(self.workdir / "emulator-data"),
                                      "--info-file", str(self.info_path), *self.args],
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 30
        while not (self.info_path.exists() and self.info_path.stat().st_size):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the emulator did not start: {(self.workdir / 'emulator.log').read_text()[-2000:]}")
            time.sleep(0.05)
        self.info = json.loads(self.info_path.read_text())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def inspect(self, what: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.info['base_url']}/_emulator/{what}", timeout=10) as answer:  # noqa: S310
            return dict(json.load(answer))

    def counts(self) -> Counter[str]:
        return Counter(self.inspect("stats")["counts"])

    def oauth(self) -> Counter[str]:
        return Counter(self.inspect("stats")["oauth"])


@dataclass
class World:
    """One scenario's folder: toolkit home (tokens), emulator info, WORK store, logs."""

    workdir: Path
    emu: Emulator
    url: str
    settings_file: Path

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "QBO_TOOLKIT_HOME": str(self.workdir / "home"),
                "QBO_EMULATOR_INFO": str(self.emu.info_path), "PYTHONUNBUFFERED": "1"}

    def sync_command(self) -> list[str]:
        return [QBO_TOOLKIT, "sync", "--settings", str(self.settings_file), "--work-db", self.url, "--no-progress"]

    def run_sync(self, label: str) -> subprocess.CompletedProcess[str]:
        with open(self.workdir / f"{label}.log", "w") as log:
            done = subprocess.run(self.sync_command(), env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                  text=True, timeout=1800, check=False)
        return done

    def run_job(self, notebook: str) -> int:
        """``qbo-toolkit run notebooks/<notebook>.ipynb`` (papermill) into ``runs/``; its exit status."""
        params = self.workdir / f"{notebook}.job.yaml"
        params.write_text(f"settings: {self.settings_file}\nwork_db: {self.url}\n")
        with open(self.workdir / f"job-{notebook}.log", "w") as log:
            return subprocess.run([QBO_TOOLKIT, "run", str(ROOT / "notebooks" / f"{notebook}.ipynb"), "--params",
                                   str(params), "--output-root", str(self.workdir / "runs")], env=self.env,
                                  stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT), timeout=1800,
                                  check=False).returncode

    def log_text(self, label: str) -> str:
        return (self.workdir / f"{label}.log").read_text()


@contextmanager
def world(base: Path, name: str, demo: dict[str, int] | None, *emulator_args: str) -> Iterator[World]:
    """An emulator process, a headless connection (tokens in ``home/``), a WORK store with the demo."""
    from qbo_toolkit.qbo.transport import reset_limiters

    workdir = base / name
    (workdir / "home").mkdir(parents=True)
    settings_file = workdir / "settings.yaml"
    settings_file.write_text("".join(f"{k}: {v}\n" for k, v in SETTINGS.items()))
    with Emulator(workdir, *emulator_args) as emu:
        w = World(workdir, emu, f"sqlite:///{workdir}/work.sqlite3", settings_file)
        saved = {k: os.environ.get(k) for k in ("QBO_TOOLKIT_HOME", "QBO_EMULATOR_INFO")}
        os.environ.update({k: w.env[k] for k in saved})
        reset_limiters()
        try:
            subprocess.run([QBO_TOOLKIT, "connect", "--headless"], env=w.env, check=True, capture_output=True)
            if demo is not None:
                subprocess.run([QBO_TOOLKIT, "demo-data", "--work-db", w.url, *[
                    f"--{k}={v}" for k, v in demo.items()]], env=w.env, check=True, capture_output=True)
            yield w
        finally:
            SEEN_SECRETS.update(_secrets(workdir, emu.info))
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            reset_limiters()


# ------------------------------------------------------------------------------------------------
# The end-state oracle: through the QBO API and the WORK store
# ------------------------------------------------------------------------------------------------


def _qbo_rows(client: Any, entity: str) -> list[dict[str, Any]]:
    from qbo_toolkit.qbo.query import select

    query = select(entity)
    if entity == "Customer":
        query = query.include_inactive()
    return [row if isinstance(row, dict) else dict(row.to_dict()) for row in client.query_all(query)]


def _money(value: Any) -> Decimal:
    return Decimal(str(value if value not in (None, "") else 0)).quantize(Decimal("0.01"))


def _paid_invoice(payment: dict[str, Any]) -> str | None:
    for line in payment.get("Line") or []:
        for linked in line.get("LinkedTxn") or []:
            if linked.get("TxnType") == "Invoice":
                return str(linked.get("TxnId"))
    return None


def qbo_ids(client: Any) -> dict[str, set[str]]:
    """The ids QBO holds now, per entity (what was there before the sync is not the sync's)."""
    return {entity: {str(row["Id"]) for row in _qbo_rows(client, entity)} for entity in ENTITIES}


def agreement(url: str, before: dict[str, set[str]]) -> tuple[list[str], dict[str, int]]:
    """Where WORK and QBO disagree after a sync, as sentences (none: they agree), and the counts.

    No duplicate: a QBO record the sync made has exactly one WORK record linked to it, names and
    DocNumbers are unique. Nothing missing: every WORK record the settings send is linked to a
    record QBO has, unless the activity log holds an open failure naming a field for it (bad data,
    not a lost write). Money: every synced invoice's total, tax and balance, and the payments applied
    to it, equal WORK's to the cent. Nothing half-written: the outbox is empty.
    """
    from qbo_toolkit.connection import connection
    from qbo_toolkit.sync.state import SyncState
    from qbo_toolkit.work.store import WorkStore

    conn = connection()
    store = WorkStore(url)
    problems: list[str] = []
    try:
        state = SyncState(store.engine, conn.realm_id)
        if state.outbox():
            problems.append(f"the outbox still holds {len(state.outbox())} write(s) whose answers were not recorded")
        failed = defaultdict(set)  # entity -> work ids with an open failure that names a field
        for entry in state.open_failures():
            if entry.field and entry.work_id is not None:
                failed[entry.entity].add(entry.work_id)
        # -- customers
        customers = _qbo_rows(conn.client, "Customer")
        by_id = {str(c["Id"]): c for c in customers}
        names = Counter(str(c["DisplayName"]).casefold() for c in customers)
        problems += [f"QBO has {k} customers named {n!r}" for n, k in names.items() if k > 1]
        clinks = state.links("customer")
        linked = Counter(link.qbo_id for link in clinks.values())
        problems += [f"QBO customer {q} is linked to {k} WORK clients" for q, k in linked.items() if k > 1]
        problems += [f"client {w} is linked to customer {link.qbo_id}, which QBO does not have"
                     for w, link in clinks.items() if link.qbo_id not in by_id]
        problems += [f"QBO customer {q} ({c['DisplayName']!r}) was made by the sync but no client is linked to it"
                     for q, c in by_id.items() if q not in before["Customer"] and q not in linked]
        clients = store.clients()
        held = {int(m["work_id"]) for m in state.matches("pending")}  # waiting for the user's match decision
        problems += [f"client {c.id} ({c.display_name!r}) is not in QBO and no failure names it"
                     for c in clients if c.id not in clinks and c.id not in failed["customer"] and c.id not in held]
        # -- invoices
        invoices = _qbo_rows(conn.client, "Invoice")
        qinv = {str(i["Id"]): i for i in invoices}
        docs = Counter(str(i.get("DocNumber")) for i in invoices if i.get("DocNumber"))
        problems += [f"QBO has {k} invoices numbered {d}" for d, k in docs.items() if k > 1]
        ilinks = state.links("invoice")
        inv_linked = Counter(link.qbo_id for link in ilinks.values())
        problems += [f"QBO invoice {q} is linked to {k} WORK invoices" for q, k in inv_linked.items() if k > 1]
        problems += [f"QBO invoice {q} (number {i.get('DocNumber')}) was made by the sync but no invoice is linked"
                     for q, i in qinv.items() if q not in before["Invoice"] and q not in inv_linked]
        paid: dict[int, list[Decimal]] = defaultdict(list)
        failed_payments: dict[int, list[Decimal]] = defaultdict(list)  # refused with a named field
        for pay in store.payments():
            paid[pay.invoice_id].append(pay.amount)
            if pay.id in failed["payment"]:
                failed_payments[pay.invoice_id].append(pay.amount)
        active = {w for w, link in clinks.items() if link.state == "active"}
        due = 0
        for inv in store.invoices(include_deleted=True):
            link = ilinks.get(inv.id)
            expected = (not inv.deleted and inv.status == "open" and inv.issue_date >= INTEGRATION_DATE
                        and inv.client_id in active and inv.id not in failed["invoice"])
            due += expected
            if expected and (link is None or link.state != "active"):
                problems.append(f"invoice {inv.number} is missing in QBO and no failure names it")
            if link is None or link.state == "deleted":
                if link is not None and link.qbo_id in qinv:
                    problems.append(f"invoice {inv.number} was deleted in WORK but is still in QBO")
                continue
            q = qinv.get(link.qbo_id)
            if q is None:
                problems.append(f"invoice {inv.number} is linked to QBO invoice {link.qbo_id}, which QBO does not have")
                continue
            if link.state == "voided":
                continue
            total = _money(q.get("TotalAmt"))
            balance = _money(q.get("Balance"))
            work_balance = inv.total - sum(paid.get(inv.id, []), Decimal("0.00"))
            if total != inv.total:
                problems.append(f"invoice {inv.number}: total {total} in QBO, {inv.total} in WORK")
            if _money((q.get("TxnTaxDetail") or {}).get("TotalTax")) != inv.tax_amount:
                problems.append(f"invoice {inv.number}: tax differs")
            work_balance += sum(failed_payments.get(inv.id, []), Decimal("0.00"))  # never sent: not in QBO
            if balance != work_balance:
                problems.append(f"invoice {inv.number}: balance {balance} in QBO, {work_balance} in WORK")
        # -- payments
        payments = _qbo_rows(conn.client, "Payment")
        plinks = state.links("payment")
        pay_linked = Counter(link.qbo_id for link in plinks.values() if link.state == "active")
        problems += [f"QBO payment {q} is linked to {k} WORK payments" for q, k in pay_linked.items() if k > 1]
        problems += [f"QBO payment {p['Id']} was made by the sync but no WORK payment is linked to it"
                     for p in payments if str(p["Id"]) not in before["Payment"] and str(p["Id"]) not in pay_linked]
        applied: dict[str, list[Decimal]] = defaultdict(list)
        for p in payments:
            target = _paid_invoice(p)
            if target is not None:
                applied[target].append(_money(p.get("TotalAmt")))
        for inv_id, link in ilinks.items():
            if link.state != "active":
                continue
            work = sorted(paid.get(inv_id, []))
            for amount in failed_payments.get(inv_id, []):
                work.remove(amount)
            if sorted(applied.get(link.qbo_id, [])) != work:
                problems.append(f"invoice {inv_id}: payments {sorted(applied.get(link.qbo_id, []))} in QBO, "
                                f"{work} in WORK")
        counts = {"clients": len(clients), "customers linked": len(clinks), "held for a match": len(held),
                  "invoices due": due,
                  "invoices linked": len(ilinks), "payments linked": len(plinks),
                  "open failures": sum(len(v) for v in failed.values())}
        return problems, counts
    finally:
        store.close()


def check_agreement(check: Check, w: World, before: dict[str, set[str]]) -> None:
    problems, counts = agreement(w.url, before)
    check.figure("end state through the QBO API and the WORK store: "
                 + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
    check.figure(f"{len(problems)} disagreement(s): duplicates, missing records, totals, balances, payments")
    for problem in problems[:10]:
        check.expect(False, problem)
    if len(problems) > 10:
        check.expect(False, f"... and {len(problems) - 10} more")


def _before(w: World) -> dict[str, set[str]]:
    from qbo_toolkit.connection import connection

    return qbo_ids(connection().client)


# ------------------------------------------------------------------------------------------------
# crash: kill -9 at random moments
# ------------------------------------------------------------------------------------------------


def crash(check: Check, base: Path, size: dict[str, Any], rng: random.Random) -> None:
    # QBO's limits and latency (150-300 ms) at time scale 10, so the initial sync lasts long enough to be
    # killed in every stage; access tokens outlive the scenario: a kill between the token endpoint's
    # rotation and the token file's write would lose the new refresh token (see the README's limits)
    with world(base, "crash", size["demo"], "--time-scale", "10", "--latency", "0.225", "--jitter", "0.075",
               "--access-ttl", "1e9") as w:
        before = _before(w)
        kills = landed_mid_write = 0
        outbox_sizes: list[int] = []
        stages: Counter[str] = Counter()
        for attempt in range(size["kills"]):
            runs_before = _db_count(w, "SELECT max(id) FROM sync_runs")
            with open(w.workdir / f"killed-{attempt:02d}.log", "w") as log:
                proc = subprocess.Popen(w.sync_command(), env=w.env, stdout=log, stderr=subprocess.STDOUT)
            # the moment: a random time after the run has begun (its row in sync_runs)
            deadline = time.monotonic() + 60
            while _db_count(w, "SELECT max(id) FROM sync_runs") == runs_before and proc.poll() is None:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, size["kill_window"]))
            if proc.poll() is not None:
                check.figure(f"run {attempt + 1} ended by itself before its kill (exit {proc.returncode})")
                continue
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            pending = _db_count(w, "SELECT count(*) FROM sync_outbox")
            outbox_sizes.append(pending)
            landed_mid_write += pending > 0
            stages[_stage(w)] += 1
            time.sleep(0.2)  # the killed run's requests still inside the emulator finish first
        check.figure(f"{kills} kill -9 at random moments ("
                     + ", ".join(f"{n} {stage}" for stage, n in stages.items())
                     + f"); {landed_mid_write} left requests sent but not recorded (outbox up to "
                       f"{max(outbox_sizes, default=0)})")
        check.expect(kills >= size["kills"] * 0.8, f"only {kills} of {size['kills']} runs were killed mid-run")
        runs, head = run_to_the_end(w, "final", 4)
        check.figure(f"then {runs} run(s) to the end; the last: {head}")
        check_agreement(check, w, before)


def change_work(url: str, rng: random.Random, n: int) -> dict[str, int]:
    """What a working day changes in WORK after the initial sync: prices raised on ``n`` synced invoices,
    ``n // 6`` invoices voided, ``n // 4`` payments deleted, ``n // 2`` clients' phones changed."""
    from dataclasses import replace

    from qbo_toolkit.connection import connection
    from qbo_toolkit.sync.state import SyncState
    from qbo_toolkit.work.store import WorkStore

    store = WorkStore(url)
    try:
        state = SyncState(store.engine, connection().realm_id)
        linked = {k for k, v in state.links("invoice").items() if v.state == "active"}
        invoices = sorted((i for i in store.invoices() if i.id in linked), key=lambda i: i.id)
        with_payments = {p.invoice_id for p in store.payments()}
        chosen = rng.sample(invoices, min(len(invoices), n))
        for inv in chosen:
            first = inv.lines[0]
            store.update_invoice(inv.id, lines=[replace(first, unit_price=first.unit_price + Decimal("1.00")),
                                                *inv.lines[1:]])
        unpaid = [i for i in invoices if i.id not in with_payments and i not in chosen]
        voided = {inv.id for inv in rng.sample(unpaid, min(len(unpaid), n // 6))}
        for inv_id in sorted(voided):
            store.void_invoice(inv_id)
        paid = sorted((p for p in store.payments() if p.id in state.links("payment") and p.invoice_id not in voided),
                      key=lambda p: p.id)
        for pay in rng.sample(paid, min(len(paid), n // 4)):
            store.delete_payment(pay.id)
        clients = sorted((c for c in store.clients() if c.id in state.links("customer")), key=lambda c: c.id)
        for client in rng.sample(clients, min(len(clients), n // 2)):
            store.update_client(client.id, phone=f"555-{rng.randrange(10**4):04d}")
        return {"invoices repriced": len(chosen), "voided": len(voided), "payments deleted": min(len(paid), n // 4),
                "clients changed": min(len(clients), n // 2)}
    finally:
        store.close()


def run_to_the_end(w: World, label: str, limit: int) -> tuple[int, str]:
    """Sync runs (each its own process) until one ends with nothing failed: a bad record is reported
    once, so the run after the first complete one is clean unless a write is still failing."""
    head = ""
    for run in range(1, limit + 1):
        done = w.run_sync(f"{label}-{run}")
        lines = w.log_text(f"{label}-{run}").strip().splitlines()
        head = next((line for line in lines if line.startswith("sync run")), lines[-1] if lines else "")
        if done.returncode == 0 and head.startswith("sync run") and "failed" not in head:
            return run, head
    return limit, head


def _db_value(w: World, statement: str) -> Any:
    """One value from the WORK store's sync tables (None before they exist)."""
    import sqlalchemy as sa

    engine = sa.create_engine(w.url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(statement)).scalar()
    except sa.exc.OperationalError:
        return None  # before the sync's tables were made
    finally:
        engine.dispose()


def _db_count(w: World, statement: str) -> int:
    return int(_db_value(w, statement) or 0)


def _stage(w: World) -> str:
    """Where the sync was when it was killed, from its kind and what it had linked so far."""
    if _db_value(w, "SELECT kind FROM sync_runs ORDER BY id DESC LIMIT 1") != "initial":
        return "after the initial sync"
    linked = {entity: _db_count(w, f"SELECT count(*) FROM sync_links WHERE entity = '{entity}'")
              for entity in ("invoice", "payment")}
    if linked["payment"]:
        return "in payments"
    return "in invoices" if linked["invoice"] else "in customers/items"


# ------------------------------------------------------------------------------------------------
# faults: 5xx, 429, dropped connections
# ------------------------------------------------------------------------------------------------


def faults(check: Check, base: Path, size: dict[str, Any], rng: random.Random) -> None:
    seed = str(rng.randrange(1, 10**6))
    with world(base, "faults", size["demo"], "--time-scale", "60", "--error-rate", "0.10", "--throttle-rate",
               "0.05", "--drop-rate", "0.02", "--access-ttl", "1e9", "--seed", seed) as w:
        before = _before(w)
        runs, head = run_to_the_end(w, "run", size["fault_runs"])
        check.figure(f"initial sync: {runs} run(s) to the end; the last: {head}")
        changed = change_work(w.url, rng, size["changes"])  # then updates, voids and deletes through the faults
        check.figure("then in WORK: " + ", ".join(f"{v} {k}" for k, v in changed.items()))
        runs, head = run_to_the_end(w, "changes", size["fault_runs"])
        counts = w.emu.counts()
        data = sum(v for k, v in counts.items() if k.startswith("status:"))
        injected = {k.split(":")[1]: v for k, v in counts.items() if k.startswith("injected:")}
        check.figure(f"{data:,} data requests; injected {injected.get('5xx', 0):,} 5xx "
                     f"({injected.get('5xx', 0) / max(data, 1):.1%}), {injected.get('429', 0):,} 429 "
                     f"({injected.get('429', 0) / max(data, 1):.1%}), {injected.get('drop', 0):,} dropped "
                     f"({injected.get('drop', 0) / max(data, 1):.1%})")
        check.figure(f"incremental sync: {runs} run(s) to the end; the last: {head}")
        check.expect(runs < size["fault_runs"] or "failed" not in head,
                     f"the sync still had failures after {runs} runs: {head}")
        check_agreement(check, w, before)


# ------------------------------------------------------------------------------------------------
# tokens: expiry every 100 requests, rotation, an open notebook and a papermill job at once
# ------------------------------------------------------------------------------------------------

#: What an accountant's open notebook does meanwhile: reads QBO, again and again, with the same tokens.
KERNEL_LOOP = """
import os, time
from qbo_toolkit.connection import connection
from qbo_toolkit.qbo.query import select
conn = connection()
reads = errors = 0
deadline = time.monotonic() + 900
while time.monotonic() < deadline and not os.path.exists({stop!r}):
    try:
        conn.client.query(select("Customer").where("Active", "=", True))
        reads += 1
        time.sleep(0.1)  # a person exploring, not a second bulk job: QBO's per-minute budget is shared
    except Exception as exc:  # counted and shown: the harness fails on any
        errors += 1
        print("ERROR", type(exc).__name__, exc)
print("READS", reads, "ERRORS", errors)
"""


def tokens(check: Check, base: Path, size: dict[str, Any], rng: random.Random) -> None:
    from jupyter_client.manager import KernelManager

    # QBO's limits and latency at time scale 10: the job lasts long enough for many refreshes
    with world(base, "tokens", size["demo"], "--time-scale", "10", "--latency", "0.225", "--jitter", "0.075",
               "--expire-after-requests", str(size["expire_after"])) as w:
        before = _before(w)
        params = w.workdir / "sync.job.yaml"
        params.write_text(f"settings: {w.settings_file}\nwork_db: {w.url}\n")
        km = KernelManager(kernel_name="python3")
        km.start_kernel(env=w.env, cwd=str(w.workdir))
        kc = km.client()
        kc.start_channels()
        outputs: list[str] = []
        try:
            kc.wait_for_ready(timeout=60)

            def hook(msg: dict[str, Any]) -> None:
                content = msg.get("content", {})
                if msg.get("msg_type") == "stream":
                    outputs.append(content.get("text", ""))
                elif msg.get("msg_type") == "error":
                    outputs.append("ERROR " + content.get("ename", "") + " " + content.get("evalue", ""))

            stop = w.workdir / "stop-reading"
            code = KERNEL_LOOP.format(stop=str(stop))
            notebook = threading.Thread(target=kc.execute_interactive, args=(code,),
                                        kwargs={"timeout": 900, "output_hook": hook}, daemon=True)
            job_log = w.workdir / "job.log"
            with open(job_log, "w") as log:
                job = subprocess.Popen([QBO_TOOLKIT, "run", str(ROOT / "notebooks" / "sync.ipynb"), "--params",
                                        str(params), "--output-root", str(w.workdir / "runs")],
                                       env=w.env, stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT))
                notebook.start()
                job_exit = job.wait(timeout=1800)
            stop.touch()  # the notebook stops reading once the job is done
            notebook.join(timeout=120)
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
        text = "".join(outputs)
        reads = re.search(r"READS (\d+) ERRORS (\d+)", text)
        oauth = w.emu.oauth()
        check.figure(f"{oauth['refreshes']} refreshes by 2 processes (every access token expired after "
                     f"{size['expire_after']} "
                     f"requests: {oauth['expired_by_request_count']} refused as expired and retried), "
                     f"{oauth['invalid_grant']} invalid_grant")
        check.figure(f"open notebook: {reads.group(1) if reads else '?'} reads, "
                     f"{reads.group(2) if reads else '?'} errors; papermill job exit {job_exit}")
        job_text = (w.workdir / "job.log").read_text()
        check.expect(oauth["invalid_grant"] == 0, f"{oauth['invalid_grant']} refresh(es) got invalid_grant")
        check.expect(oauth["refreshes"] >= 2, "the access tokens were never refreshed: the scenario tested nothing")
        check.expect(job_exit == 0, f"the papermill job failed: {job_text[-500:]}")
        check.expect(reads is not None and reads.group(2) == "0" and "\nERROR" not in "\n" + text,
                     f"the open notebook failed: {text[-500:]}")
        check.expect(reads is not None and int(reads.group(1)) > 0, "the open notebook read nothing")
        for where, body in (("notebook", text), ("job", job_text)):
            check.expect("reconnect" not in body.lower() and "invalid_grant" not in body,
                         f"the {where} was told to reconnect")
        check_agreement(check, w, before)


# ------------------------------------------------------------------------------------------------
# bad input: the corpus (benchmarks/bad_input.py)
# ------------------------------------------------------------------------------------------------


def bad_input(check: Check, base: Path, size: dict[str, Any], rng: random.Random) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    import bad_input as corpus  # benchmarks/bad_input.py

    with world(base, "bad-input", None, "--time-scale", "60", "--access-ttl", "1e9") as w:
        before = _before(w)
        expected = corpus.load_corpus(w.url)  # the CSV files through `qbo-toolkit import`'s code path
        bad = [e for e in expected if e.bad]
        check.figure(f"corpus: {corpus.summary(expected)}")
        heads = []
        for run in (1, 2):  # the second run must neither repeat a write nor report a bad record again
            done = w.run_sync(f"run-{run}")
            check.expect(done.returncode == 0, f"sync run {run} exited {done.returncode}: see {w.workdir}")
            heads.append(next((line for line in w.log_text(f"run-{run}").splitlines()
                               if line.startswith("sync run")), "?"))
        check.figure(f"first run: {heads[0]}; second run: {heads[1]}")
        failures = corpus.check_corpus(w.url, expected, reported_once=True)
        check.figure(f"{len(bad)} bad-record entries: each named once in the activity log with its field, "
                     f"every good record synced once; {len(failures)} broken promise(s)")
        check.expect(len(bad) >= 40, f"the corpus holds only {len(bad)} bad records")
        for failure in failures[:15]:
            check.expect(False, failure)
        check_agreement(check, w, before)


# ------------------------------------------------------------------------------------------------
# security
# ------------------------------------------------------------------------------------------------


def security(check: Check, base: Path, size: dict[str, Any], rng: random.Random) -> None:
    with world(base, "security", {"clients": 20, "invoices": 30, "payments": 20}, "--time-scale", "60") as w:
        for job in ("sync", "reconcile"):  # executed notebooks, reports and summaries for the scan
            code = w.run_job(job)
            check.expect(code in (0, 1), f"the {job} job failed (exit {code}): see {w.workdir}/job-{job}.log")
        _token_files(check, base)
        _forged_state(check, w)
        _hostile_queries(check, w)
        _loopback(check, w)
    _secrets_scan(check, base)


def _token_files(check: Check, base: Path) -> None:
    files = sorted(base.glob("*/home/tokens.json*"))
    loose = [f for f in files if stat.S_IMODE(f.stat().st_mode) & 0o077]
    folders = sorted({f.parent for f in files})
    check.figure(f"{len(files)} token and lock files in {len(folders)} toolkit homes: "
                 f"{len(files) - len(loose)} are 0600")
    check.expect(bool(files), "no token file found: nothing was checked")
    check.expect(not loose, f"readable by others: {[str(f) for f in loose]}")


def _secrets(workdir: Path, info: dict[str, Any]) -> set[str]:
    """The client secret and the tokens a scenario's toolkit homes hold at its end."""
    found = {str(info["client_secret"])}
    for path in workdir.glob("*/tokens.json"):
        for entry in json.loads(path.read_text()).get("realms", {}).values():
            found.update(str(entry[k]) for k in ("access_token", "refresh_token") if entry.get(k))
    return found


def _secrets_scan(check: Check, base: Path) -> None:
    """Every file the scenarios wrote (notebooks, reports, logs, WORK stores with the activity log),
    except where credentials belong: token files and the emulator's info file and storage."""
    known = set(SEEN_SECRETS)
    scanned = hits = 0
    for path in sorted(base.rglob("*")):
        if not path.is_file() or path.name.startswith("tokens.json") or path.name == "emulator.json" \
                or "emulator-data" in path.parts:
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        scanned += 1
        leaked = [s for s in known if s in text] + [m.group() for p in SECRET_SHAPES for m in p.finditer(text)]
        if leaked:
            hits += 1
            check.expect(False, f"{path.relative_to(base)} holds a token or secret ({leaked[0][:6]}…)")
    check.figure(f"{scanned} output files (executed notebooks, reports, logs, activity logs) scanned for "
                 f"{len(known)} known secrets and token shapes: {hits} leak(s)")
    check.expect(scanned > 10, "too few files were scanned to mean anything")


def _forged_state(check: Check, w: World) -> None:
    import requests

    from qbo_toolkit.auth.tokens import TokenStore
    from qbo_toolkit.connection import start_connect
    from qbo_toolkit.errors import StateMismatch

    home = w.workdir / "forged-home"
    home.mkdir()
    os.environ["QBO_TOOLKIT_HOME"] = str(home)
    try:
        attempt = start_connect("local", listen=False)
        answer = requests.get(attempt.url, allow_redirects=False, timeout=30)
        genuine = answer.headers["Location"]
        refused = 0
        for forged in (re.sub(r"state=[^&]+", "state=forged", genuine), re.sub(r"&?state=[^&]+", "", genuine)):
            try:
                attempt.complete(forged)
            except StateMismatch:
                refused += 1
        stored = TokenStore().realms()
        check.figure(f"callbacks with a forged or missing OAuth state: {refused} of 2 refused, "
                     f"{len(stored)} token(s) stored")
        check.expect(refused == 2 and stored == [], "a callback with the wrong state was accepted")
    finally:
        os.environ["QBO_TOOLKIT_HOME"] = str(w.workdir / "home")


HOSTILE_NAMES = ("O'Brien' OR DisplayName LIKE '%", "Back\\slash\\' OR '1'='1", "Quote''Twice",
                 "Trailing backslash \\", "Semi; SELECT * FROM Invoice", "Percent 100% & Sons")


def _hostile_queries(check: Check, w: World) -> None:
    from qbo_toolkit.connection import connection
    from qbo_toolkit.qbo.query import select

    client = connection().client
    exact = 0
    for n, name in enumerate(HOSTILE_NAMES):
        client.create_from("Customer", {"DisplayName": name}, request_id=f"chaos-hostile-{n}")
    total = len(client.query_all(select("Customer")))
    for name in HOSTILE_NAMES:
        rows = client.query_all(select("Customer").where("DisplayName", "=", name))
        names = [r.DisplayName for r in rows]
        exact += names == [name]
        check.expect(names == [name], f"a query for {name!r} returned {len(names)} of {total} customers")
    for probe in ("x' OR '1'='1", "\\' OR Id > '0"):
        rows = client.query_all(select("Customer").where("DisplayName", "=", probe))
        check.expect(rows == [], f"a query for {probe!r} returned {len(rows)} customers")
    check.figure(f"{len(HOSTILE_NAMES)} names with quotes, backslashes, % and ;: each query returned exactly its "
                 f"own customer ({exact} of {len(HOSTILE_NAMES)}); 2 injection probes returned none")


def _other_address() -> str | None:
    """A non-loopback address of this machine, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))  # no packet is sent: it only picks the route's address
            address = str(s.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _loopback(check: Check, w: World) -> None:
    from urllib.parse import urlsplit

    from qbo_toolkit.connection import start_connect

    emu_port = urlsplit(w.emu.info["base_url"]).port
    assert emu_port is not None
    attempt = start_connect("local")  # its callback listener
    try:
        listener = attempt.pending.listener
        assert listener is not None
        cb_port = listener._server.server_address[1]
        listening = _listening_addresses()
        binds = {port: hosts for port, hosts in listening.items() if port in (emu_port, cb_port)}
        check.figure(f"listening sockets: emulator port {emu_port} on {sorted(binds.get(emu_port, []))}, "
                     f"OAuth callback port {cb_port} on {sorted(binds.get(cb_port, []))}")
        for port in (emu_port, cb_port):
            check.expect(bool(binds.get(port)), f"port {port} is not listening: nothing was checked")
            check.expect(all(h.startswith("127.") for h in binds.get(port, [])),
                         f"port {port} listens beyond loopback: {binds.get(port)}")
        other = _other_address()
        if other is not None:
            reached = [p for p in (emu_port, cb_port) if _reachable(other, p)]
            check.figure(f"connecting through this machine's other address {other}: "
                         f"{2 - len(reached)} of 2 refused")
            check.expect(not reached, f"reachable from {other}: ports {reached}")
        else:
            check.figure("this machine has no non-loopback address to connect through; binds checked above")
    finally:
        attempt.cancel()


def _listening_addresses() -> dict[int, set[str]]:
    """Listening TCP sockets of this machine, from /proc/net/tcp and tcp6: port -> local addresses."""
    found: dict[int, set[str]] = defaultdict(set)
    for table, size in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, state = parts[1], parts[3]
            if state != "0A":  # LISTEN
                continue
            hex_addr, hex_port = local.split(":")
            raw = bytes.fromhex(hex_addr)
            if size == 4:
                address = socket.inet_ntop(socket.AF_INET, raw[::-1])
            else:
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                address = socket.inet_ntop(socket.AF_INET6, words)
                address = address.removeprefix("::ffff:")
                if address == "::1":
                    address = "127.0.0.1 (::1)"
            found[int(hex_port, 16)].add(address)
    return found


# ------------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------------

SCENARIOS: dict[str, Callable[[Check, Path, dict[str, Any], random.Random], None]] = {
    "crash": crash, "faults": faults, "tokens": tokens, "bad-input": bad_input, "security": security,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the short version (make test): fewer kills, less data")
    parser.add_argument("--only", default=",".join(SCENARIOS), help=f"comma list of {', '.join(SCENARIOS)}")
    parser.add_argument("--seed", type=int, default=None, help="random seed (printed; default: from the clock)")
    parser.add_argument("--keep", default=None, help="keep every scenario's files in this folder")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.name} (full runs write it)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown check(s): {', '.join(unknown)}")
    seed = args.seed if args.seed is not None else int(time.time()) % 100_000
    size = SIZES["quick" if args.quick else "full"]
    print(f"chaos: {'quick' if args.quick else 'full'} run, seed {seed} (repeat with --seed {seed}), "
          f"demo {size['demo']}", flush=True)
    rng = random.Random(seed)
    base_context = tempfile.TemporaryDirectory(prefix="qbo-chaos-") if args.keep is None else None
    base = Path(args.keep) if args.keep else Path(base_context.name)  # type: ignore[union-attr]
    base.mkdir(parents=True, exist_ok=True)
    checks: list[Check] = []
    started = time.perf_counter()
    try:
        for name in names:
            check = Check(name)
            print(f"{name}:", flush=True)
            t0 = time.perf_counter()
            try:
                SCENARIOS[name](check, base, size, rng)
            except Exception as exc:  # a check that crashes is a failed check, and the others still run
                check.expect(False, f"the check itself failed: {type(exc).__name__}: {exc}")
            check.seconds = time.perf_counter() - t0
            print(f"  {name}: {'pass' if check.ok else 'FAIL'} ({check.seconds:.0f} s)", flush=True)
            checks.append(check)
    finally:
        if base_context is not None:
            base_context.cleanup()
    passed = sum(c.ok for c in checks)
    verdicts = ", ".join(f"{c.name} {'pass' if c.ok else 'FAIL'}" for c in checks)
    summary = (f"chaos summary: {passed} of {len(checks)} checks passed ({verdicts}) in "
               f"{time.perf_counter() - started:.0f} s, seed {seed}")
    print(summary, flush=True)
    if not args.quick and not args.no_write and names == list(SCENARIOS):
        write_results(checks, summary, seed)
        print(f"written to {RESULTS.relative_to(ROOT)}", flush=True)
    return 0 if passed == len(checks) else 1


def write_results(checks: list[Check], summary: str, seed: int) -> None:
    """The full run's figures, with the machine, date and command, beside the benchmarks' RESULTS.md."""
    import platform
    from datetime import UTC, datetime

    lines = ["# Reliability harness results", "",
             f"* Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
             f"Python {platform.python_version()}",
             f"* Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
             f"* Command: `make chaos` (`.venv/bin/python benchmarks/chaos.py`), seed {seed} "
             f"(repeat: `--seed {seed}`)", "", f"**{summary}**", ""]
    for check in checks:
        lines += [f"## {check.name}: {'pass' if check.ok else 'FAIL'} ({check.seconds:.0f} s)", ""]
        lines += [f"- {figure}" for figure in check.figures]
        lines += [f"- PROBLEM: {problem}" for problem in check.problems]
        lines.append("")
    RESULTS.write_text("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
