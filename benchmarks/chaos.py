# ruff: noqa: S603 - a harness: runs the project's own tools as separate processes
"""qbo-toolkit reliability harness (``make chaos``): the sync's promises, tried the hard way.

    .venv/bin/python benchmarks/chaos.py            # every check at full size (15 minutes or so)
    .venv/bin/python benchmarks/chaos.py --quick    # the short version make test runs (3 minutes or so)
    .venv/bin/python benchmarks/chaos.py --only crash,security --seed 7
    .venv/bin/python benchmarks/chaos.py --quick --only concurrent,server-kills,work-lock,signals

Checks (see benchmarks/README.md):

* crash     - the initial sync of the demo data killed with SIGKILL at random moments, a new process
              each time, then run to the end.
* faults    - 10% of data requests answered 500/503, 5% 429, 2% dropped connections.
* tokens    - access tokens expire every 100 requests and refresh tokens rotate, while an open
              notebook (a Jupyter kernel) and a papermill job both use and refresh them.
* bad-input - a corpus of bad WORK records: each named in the activity log with its field, every good
              record synced, nothing half-written.

Money written exactly once, whatever happens (each also proves nothing stuck: after the run to the end
the outbox is empty, no run is left 'running', no open failure beyond the demo's bad records; and no
sync or job printed a raw traceback):

* concurrent   - pending changes of every entity, then two and three syncs of the company started
                 together, 0-4 s apart, a papermill job (``qbo-toolkit run notebooks/sync.ipynb``) beside
                 the CLI; each must exit 0, or 75 saying which sync holds the company's lease.
* server-kills - the emulator SIGKILLed and SIGTERMed with requests in flight, in every stage, and
                 restarted on its data dir; a sync may fail meanwhile, with a sentence; five failing
                 the same way with the emulator up all their life is a wedge.
* work-lock    - another process holds the WORK store's write lock (BEGIN EXCLUSIVE) longer than the
                 syncs' busy timeout (``QBO_WORK_BUSY_TIMEOUT``): the sync stops with 75 (or 2) and a
                 sentence naming the WORK store; once the lock is gone a re-run completes.
* signals      - SIGINT and SIGTERM to a running sync: exit 130 / 143, a sentence saying it was
                 interrupted, its run recorded 'interrupted'.

* security  - token files 0600, no secret in any output (every check's), a forged OAuth state refused,
              hostile query values inert, loopback-only listeners.

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
            "deposit_account": "4", "integration_date": INTEGRATION_DATE.isoformat(),
            # the demo's items "Installation" and "Parts" exist in QBO on another income account: use them
            "existing_items": "use_as_is"}
ENTITIES = ("Customer", "Invoice", "Payment", "CreditMemo")
RESULTS = ROOT / "benchmarks" / "CHAOS_RESULTS.md"
#: Every client secret and token the scenarios' homes held (the shapes below catch the ones rotated away).
SEEN_SECRETS: set[str] = set()

#: Sizes per mode. "demo" is the demo data set of ``make demo``.
SIZES: dict[str, dict[str, Any]] = {
    "full": {"demo": {"clients": 300, "invoices": 1500, "payments": 1000}, "kills": 25, "kill_window": 1.25,
             "fault_runs": 6, "changes": 120, "expire_after": 100,
             "round_changes": 24, "rounds": 6, "server_kills": 12, "locks": 4, "busy_timeout": 2, "signals": 4},
    "quick": {"demo": {"clients": 40, "invoices": 80, "payments": 50}, "kills": 4, "kill_window": 0.3,
              "fault_runs": 8, "changes": 12, "expire_after": 20,
              "round_changes": 12, "rounds": 2, "server_kills": 3, "locks": 2, "busy_timeout": 2, "signals": 2},
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
        self.restarts: list[tuple[int, int]] = []  # (port before, port after) of each restart

    def __enter__(self) -> Emulator:
        self._launch(0, reset=True)
        return self

    def _launch(self, port: int, *, reset: bool) -> None:
        """Start the process (``--reset``: from the seed company; else on the data dir as it was left)
        and wait for its info file."""
        self.info_path.unlink(missing_ok=True)
        with open(self.workdir / "emulator.log", "ab") as log:
            self.proc = subprocess.Popen([QBO_TOOLKIT, "emulator", "--port", str(port), "--auto-approve",
                                          *(["--reset"] if reset else []),
                                          "--data-dir", str(self.workdir / "emulator-data"),
                                          "--info-file", str(self.info_path), *self.args],
                                         stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            if self.info_path.exists() and self.info_path.stat().st_size:
                try:
                    self.info = json.loads(self.info_path.read_text())
                    return
                except ValueError:  # caught while it was being written
                    pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the emulator did not start: {(self.workdir / 'emulator.log').read_text()[-2000:]}")
            time.sleep(0.05)

    @property
    def port(self) -> int:
        from urllib.parse import urlsplit

        return int(urlsplit(self.info["base_url"]).port or 0)

    def restart(self, sig: int = signal.SIGKILL, downtime: float = 0.0) -> int:
        """Stop the process with ``sig`` (SIGKILL: at once; SIGTERM: its own shutdown), stay down for
        ``downtime`` seconds, then start it again on its data dir (no ``--reset``: the same company,
        tokens and remembered requestids) and on the same port, so every process keeps its URL; if the
        port is taken meanwhile, on a free one (the info file, which the toolkit reads through
        ``QBO_EMULATOR_INFO`` at each process's start, tells the new URL). Returns the new port."""
        assert self.proc is not None
        before = self.port
        self.proc.send_signal(sig)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        time.sleep(downtime)
        try:
            self._launch(before, reset=False)
        except RuntimeError:
            self._launch(0, reset=False)
        self.restarts.append((before, self.port))
        return self.port

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

    def start_sync(self, label: str, *args: str, env: dict[str, str] | None = None) -> Proc:
        """A ``qbo-toolkit sync`` process in the background, its stdout and stderr in separate files."""
        return Proc.start(self, label, "cli", [*self.sync_command(), *args], env)

    def start_job(self, label: str, env: dict[str, str] | None = None) -> Proc:
        """``qbo-toolkit run notebooks/sync.ipynb --params <yaml>`` (the papermill job) in the background,
        into its own output folder (two jobs started in the same second would share a dated folder)."""
        params = self.workdir / "sync.job.yaml"
        params.write_text(f"settings: {self.settings_file}\nwork_db: {self.url}\n")
        return Proc.start(self, label, "job", [QBO_TOOLKIT, "run", str(ROOT / "notebooks" / "sync.ipynb"), "--params",
                                               str(params), "--output-root", str(self.workdir / "runs" / label)], env)

    @property
    def db_path(self) -> str:
        return self.url.removeprefix("sqlite:///")


#: What a raw Python traceback starts with: never in what a toolkit process shows its user.
TRACEBACK = "Traceback (most recent call last)"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class Proc:
    """A toolkit process the harness started: ``<label>.out`` and ``<label>.err`` in the world's folder."""

    label: str
    kind: str  # cli | job
    popen: subprocess.Popen[bytes]
    out: Path
    err: Path
    started: float
    code: int | None = None

    @classmethod
    def start(cls, w: World, label: str, kind: str, command: list[str], env: dict[str, str] | None) -> Proc:
        out, err = w.workdir / f"{label}.out", w.workdir / f"{label}.err"
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            popen = subprocess.Popen(command, env={**w.env, **(env or {})}, stdout=stdout, stderr=stderr,
                                     stdin=subprocess.DEVNULL, cwd=str(ROOT))
        return cls(label, kind, popen, out, err, time.monotonic())

    def poll(self) -> int | None:
        self.code = self.popen.poll()
        return self.code

    def wait(self, timeout: float) -> int | None:
        """The exit status, or None when it is still running after ``timeout`` seconds."""
        try:
            self.code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.code

    def stop(self) -> None:
        """SIGKILL (a process that outlived the harness's patience) and reap it."""
        if self.popen.poll() is None:
            self.popen.kill()
        self.code = self.popen.wait()

    def send(self, sig: int) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    def stdout(self) -> str:
        return _ANSI.sub("", self.out.read_text(errors="replace"))

    def stderr(self) -> str:
        return _ANSI.sub("", self.err.read_text(errors="replace"))

    def text(self) -> str:
        return self.stdout() + "\n" + self.stderr()

    def exit_text(self) -> str:
        if self.code is None:
            return "still running"
        if self.code < 0:
            return f"killed by {signal.Signals(-self.code).name}"
        return f"exit {self.code}"

    def first_line(self) -> str:
        """What the process told its user: the first line of its stderr (a job: the line that says how
        it ended, as papermill's log fills its stderr)."""
        if self.kind == "job":
            for line in self.text().splitlines():
                if LEASE.search(line) or line.startswith(("error:", "qbo-toolkit")):
                    return line.strip()
            return ""
        return next((line.strip() for line in self.stderr().splitlines() if line.strip()), "")

    def tracebacks(self) -> int:
        return self.text().count(TRACEBACK)


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


def _credit_payment(payment: dict[str, Any]) -> bool:
    """A QBO Payment that applies a credit memo (a line linked to a CreditMemo): a credit application."""
    return any(linked.get("TxnType") == "CreditMemo" for line in payment.get("Line") or []
               for linked in line.get("LinkedTxn") or [])


def _credits_due(store: Any, customers: set[int], failed: set[int]) -> dict[int, Decimal]:
    """WORK's credit applications QBO should hold, summed per invoice id: live, from the integration
    date, of a note from the integration date whose client is in QBO, on an open invoice from the
    integration date, not refused with a named field (credit notes sync by default)."""
    out: dict[int, Decimal] = defaultdict(lambda: Decimal("0.00"))
    notes = {note.id: note for note in store.credit_notes()}
    apps = store.credit_applications()
    invoices = store.invoices_by_id(app.invoice_id for app in apps)
    for app in apps:
        note, inv = notes.get(app.credit_note_id), invoices.get(app.invoice_id)
        if (note is None or inv is None or app.id in failed or note.date < INTEGRATION_DATE
                or app.date < INTEGRATION_DATE or note.client_id not in customers or inv.deleted
                or inv.status != "open" or inv.issue_date < INTEGRATION_DATE):
            continue
        out[app.invoice_id] += app.amount
    return out


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
        credited = _credits_due(store, active, failed["credit_applied"])
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
            work_balance = inv.total - sum(paid.get(inv.id, []), Decimal("0.00")) - credited.get(inv.id, Decimal("0"))
            if total != inv.total:
                problems.append(f"invoice {inv.number}: total {total} in QBO, {inv.total} in WORK")
            if _money((q.get("TxnTaxDetail") or {}).get("TotalTax")) != inv.tax_amount:
                problems.append(f"invoice {inv.number}: tax differs")
            work_balance += sum(failed_payments.get(inv.id, []), Decimal("0.00"))  # never sent: not in QBO
            if balance != work_balance:
                problems.append(f"invoice {inv.number}: balance {balance} in QBO, {work_balance} in WORK")
        # -- payments
        everything = _qbo_rows(conn.client, "Payment")
        payments = [p for p in everything if not _credit_payment(p)]
        # -- credit memos and the payments that apply them (issue 13)
        memos = _qbo_rows(conn.client, "CreditMemo")
        memo_docs = Counter(str(m.get("DocNumber")) for m in memos if m.get("DocNumber"))
        problems += [f"QBO has {k} credit memos numbered {d}" for d, k in memo_docs.items() if k > 1]
        for entity, rows, label in (("credit_note", memos, "credit memo"),
                                    ("credit_applied", [p for p in everything if _credit_payment(p)],
                                     "credit application payment")):
            links = Counter(link.qbo_id for link in state.links(entity).values() if link.state == "active")
            problems += [f"QBO {label} {q} is linked to {k} WORK records" for q, k in links.items() if k > 1]
            before_ids = before.get("CreditMemo", set()) if entity == "credit_note" else before["Payment"]
            problems += [f"QBO {label} {r['Id']} was made by the sync but no WORK record is linked to it"
                         for r in rows if str(r["Id"]) not in before_ids and str(r["Id"]) not in links]
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


#: The oracle's sentences by kind, in the order a report shows them (what was written twice first).
PROBLEM_KINDS = (
    ("QBO payments with no WORK payment (written twice)", re.compile(r"^QBO payment .* no WORK payment is linked")),
    ("QBO credit memos or credit applications with no WORK record (written twice)",
     re.compile(r"^QBO credit .* no WORK record is linked")),
    ("QBO invoices with no WORK invoice (written twice)", re.compile(r"^QBO invoice .* no invoice is linked")),
    ("QBO customers with no client (written twice)", re.compile(r"^QBO customer .* no client is linked")),
    ("QBO records linked twice", re.compile(r"^QBO \w+ \S+ is linked to \d+ WORK")),
    ("names or numbers twice in QBO", re.compile(r"^QBO has \d+ ")),
    ("payments applied differently", re.compile(r"^invoice \S+: payments ")),
    ("totals, tax or balances", re.compile(r"^invoice \S+: (total|tax|balance)")),
    ("missing in QBO", re.compile(r"missing in QBO|is not in QBO|which QBO does not have")),
    ("left in the outbox", re.compile(r"outbox")),
)


def _problem_kind(problem: str) -> int:
    return next((k for k, (_, pattern) in enumerate(PROBLEM_KINDS) if pattern.search(problem)), len(PROBLEM_KINDS))


def check_agreement(check: Check, w: World, before: dict[str, set[str]]) -> None:
    problems, counts = agreement(w.url, before)
    check.figure("end state through the QBO API and the WORK store: "
                 + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
    check.figure(f"{len(problems)} disagreement(s): duplicates, missing records, totals, balances, payments")
    if problems:
        kinds = Counter(_problem_kind(p) for p in problems)
        names = [name for name, _ in PROBLEM_KINDS] + ["other"]
        check.figure("by kind: " + ", ".join(f"{kinds[k]} {names[k]}" for k in sorted(kinds)))
        problems = sorted(problems, key=_problem_kind)  # stable: the oracle's order within a kind
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
        # an invoice with payments or credit applied is not voided (WORK refuses; remove them first)
        with_payments = {p.invoice_id for p in store.payments()} | set(store.credited_amounts())
        chosen = rng.sample(invoices, min(len(invoices), n))
        for inv in chosen:
            first = inv.lines[0]
            store.update_invoice(inv.id, lines=[replace(first, unit_price=first.unit_price + Decimal("1.00")),
                                                *inv.lines[1:]])
        unpaid = [i for i in invoices if i.id not in with_payments and i not in chosen]
        voided = {inv.id for inv in rng.sample(unpaid, min(len(unpaid), n // 6))}
        for inv_id in sorted(voided):
            store.void_invoice(inv_id)
        synced_payments = state.links("payment")
        paid = sorted((p for p in store.payments() if p.id in synced_payments and p.invoice_id not in voided),
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
        if done.returncode in FINISHED and head.startswith("sync run") and "failed" not in head:
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
        check.expect(job_exit in FINISHED, f"the papermill job failed: {job_text[-500:]}")
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
            check.expect(done.returncode in FINISHED, f"sync run {run} exited {done.returncode}: see {w.workdir}")
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
# Money written exactly once, whatever happens: shared pieces of the four checks below
# ------------------------------------------------------------------------------------------------

#: A sync that ran to its end: 0 all good, 1 completed with findings (the demo's planted bad records
#: fail on purpose, and its weak and multiple customer matches wait for a decision).
FINISHED = (0, 1)
#: The sentence of a sync that found another one holding the company's lease (exit 75).
LEASE = re.compile(r"sync of .+ is running since (\d{4}-\d{2}-\d{2} )?\d{1,2}:\d{2}.*started by .+ on .+ pid \d+",
                   re.IGNORECASE)
#: The sentence of a sync that stopped because the WORK store stayed locked (exit 75, or 2).
WORK_STORE = re.compile(r"WORK (store|database)|work\.sqlite3", re.IGNORECASE)
#: The sentence of a sync stopped by SIGINT or SIGTERM.
INTERRUPTED = re.compile(r"interrupt", re.IGNORECASE)
#: "Try again later" (sysexits' EX_TEMPFAIL): another sync holds the lease, the WORK store stays locked.
EXIT_TEMPFAIL = 75
EXIT_SIGINT, EXIT_SIGTERM = 130, 143
#: Where a sync is, by what its requests in flight (the outbox) carry.
STAGES = ("customers/items", "invoices", "payments")
STAGE_OF = {"Customer": STAGES[0], "Item": STAGES[0], "Invoice": STAGES[1], "Payment": STAGES[2]}
#: Emulator latency for the four checks: 0.25 s (+-0.05) real per request at time scale 10, so a batch
#: is in flight long enough to be hit and two runs started seconds apart overlap.
SLOW = ("--time-scale", "10", "--latency", "2.5", "--jitter", "0.5", "--access-ttl", "1e9")

FailureKey = tuple[str, "int | None", "str | None"]
_PLANTED: dict[str, set[FailureKey]] = {}


def _sql(w: World, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows from the WORK store's database, read with plain sqlite3 (WAL: never blocked by a writer;
    nothing before the sync's tables exist)."""
    import sqlite3

    db = sqlite3.connect(w.db_path, timeout=10)
    try:
        return list(db.execute(statement, params).fetchall())
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


def _last_run(w: World) -> tuple[int, str, str] | None:
    """(id, kind, status) of the newest row of sync_runs."""
    rows = _sql(w, "SELECT id, kind, status FROM sync_runs ORDER BY id DESC LIMIT 1")
    return (int(rows[0][0]), str(rows[0][1]), str(rows[0][2])) if rows else None


def _in_flight(w: World) -> Counter[str]:
    """Requests sent (or about to be) and not yet recorded, by the stage of what they carry."""
    found: Counter[str] = Counter()
    for (body,) in _sql(w, "SELECT body FROM sync_outbox"):
        for entity in set(re.findall(r'"entity":\s*"(\w+)"', str(body))):
            found[STAGE_OF.get(entity, entity)] += 1
    return found


def _open_failures(w: World) -> list[Any]:
    from qbo_toolkit.connection import connection
    from qbo_toolkit.sync.state import SyncState
    from qbo_toolkit.work.store import WorkStore

    store = WorkStore(w.url)
    try:
        return list(SyncState(store.engine, connection().realm_id).open_failures())
    finally:
        store.close()


def _linked(w: World, entity: str) -> set[int]:
    """WORK ids of ``entity`` with an active link to a QBO record."""
    return {int(r[0]) for r in _sql(w, "SELECT work_id FROM sync_links WHERE entity = ? AND state = 'active'", entity)}


def _failure_keys(w: World) -> set[FailureKey]:
    return {(e.entity, e.work_id, e.field) for e in _open_failures(w)}


def planted_failures(base: Path, demo: dict[str, int]) -> set[FailureKey]:
    """The demo data's bad records: the open failures a clean sync of the same data leaves (an undisturbed
    run to the end, in a world of its own, once per size). Call it outside any other world."""
    key = json.dumps(demo, sort_keys=True)
    if key not in _PLANTED:
        name = "reference-" + "-".join(str(v) for v in demo.values())
        with world(base, name, demo, "--time-scale", "600", "--no-throttle", "--access-ttl", "1e9") as w:
            run_to_the_end(w, "run", 4)
            _PLANTED[key] = _failure_keys(w)
    return _PLANTED[key]


def check_stuck(check: Check, w: World, planted: set[FailureKey]) -> None:
    """Nothing stuck after the run to the end: the outbox is empty, no run is still marked running, and
    no record has an open failure the undisturbed sync does not have (a record that should be in QBO
    and waits, unlinked, behind a failure of the disturbance)."""
    outbox = len(_sql(w, "SELECT request_id FROM sync_outbox"))
    running = [int(r[0]) for r in _sql(w, "SELECT id FROM sync_runs WHERE status = 'running' ORDER BY id")]
    latest = {(e.entity, e.work_id, e.field): e for e in _open_failures(w)}  # a record failed twice: once
    extra = [e for key, e in latest.items() if key not in planted]
    check.figure(f"nothing stuck: {outbox} request(s) left in the outbox, {len(running)} run(s) left 'running', "
                 f"{len(extra)} record(s) with an open failure beyond the {len(planted)} of the demo's bad records")
    check.expect(outbox == 0, f"{outbox} request(s) are still in the outbox after the run to the end")
    check.expect(not running, f"sync run(s) {running} are still marked 'running' although no sync runs")
    linked = {(e, w_id) for e in {x.entity for x in extra} for w_id in _linked(w, e)}
    for entry in extra[:6]:
        where = ("is in QBO (linked) but keeps an open failure" if (entry.entity, entry.work_id) in linked
                 else "is not in QBO and waits behind an open failure")
        check.expect(False, f"{entry.entity} {entry.work_id} {where} ({entry.field or 'no field'}): "
                            f"{entry.message[:150]}")
    if len(extra) > 6:
        check.expect(False, f"... and {len(extra) - 6} more records with an open failure")


def _exception_line(text: str) -> str:
    """The exception a traceback ended with (its last line that names an error), for the report."""
    tail = text[text.rfind(TRACEBACK):].splitlines()[1:]
    pattern = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit|Timeout\w*)\b")
    named = [line.strip() for line in tail if pattern.match(line.strip())]
    return named[-1][:200] if named else TRACEBACK


def check_tracebacks(check: Check, w: World) -> None:
    """Every toolkit process's stdout and stderr in the world's folder (syncs, jobs, the runs to the end):
    none may show a raw traceback. The emulator's own log is counted, not judged (it stands in for QBO,
    and a killed client's broken pipe is its business)."""
    files = sorted(p for p in w.workdir.iterdir()
                   if p.suffix in (".out", ".err", ".log") and not p.name.startswith("emulator"))
    hits = []
    for path in files:
        text = _ANSI.sub("", path.read_text(errors="replace"))
        if TRACEBACK in text:
            hits.append((path.name, text.count(TRACEBACK), _exception_line(text)))
    emulator_log = w.workdir / "emulator.log"
    emulator = emulator_log.read_text(errors="replace").count(TRACEBACK) if emulator_log.exists() else 0
    check.figure(f"{len(files)} process outputs (stdout and stderr of every sync and job) scanned: "
                 f"{len(hits)} with a raw traceback"
                 + (f" ({sum(n for _, n, _ in hits)} in all)" if hits else "")
                 + f"; the emulator's own log: {emulator} traceback(s), not judged")
    for name, _, line in hits[:6]:
        check.expect(False, f"{name} shows a raw traceback ending {line}")
    if len(hits) > 6:
        check.expect(False, f"... and {len(hits) - 6} more outputs with a traceback")


def change_round(url: str, rng: random.Random, n: int, tag: str) -> dict[str, int]:
    """Pending changes of every entity after a sync: :func:`change_work`'s (invoices repriced and voided,
    payments deleted, clients changed), plus new clients (each with an invoice and a payment on it, so a
    run must send them in order), new invoices for synced clients, new payments on synced invoices with
    an unpaid part and synced payments whose amount changed. ``tag`` makes the new names and numbers
    unique."""
    from datetime import timedelta

    from qbo_toolkit.connection import connection
    from qbo_toolkit.sync.state import SyncState
    from qbo_toolkit.work.store import WorkStore

    counts = change_work(url, rng, n)
    store = WorkStore(url)
    try:
        state = SyncState(store.engine, connection().realm_id)
        customers = {k for k, v in state.links("customer").items() if v.state == "active"}
        synced_invoices = {k for k, v in state.links("invoice").items() if v.state == "active"}
        synced_payments = {k for k, v in state.links("payment").items() if v.state == "active"}
        clients = sorted(c.id for c in store.clients() if c.id in customers and c.active and c.parent_id is None)
        item = min(i.id for i in store.items() if i.active)
        cents = Decimal("0.01")

        def invoice(number: str, client_id: int) -> Any:
            day = date(2026, 2, 1) + timedelta(days=rng.randrange(150))
            price = Decimal(rng.randrange(5_000, 40_000)) / 100
            return store.add_invoice(number, client_id, day, day + timedelta(days=30), lines=[
                {"item_id": item, "description": "Chaos visit", "qty": rng.randrange(1, 4), "unit_price": price}])

        def pay(inv: Any, amount: Decimal) -> None:
            if amount > 0:
                store.add_payment(inv.id, inv.issue_date + timedelta(days=rng.randrange(1, 20)), amount, "check",
                                  f"CH-{tag}-{inv.id}")

        new_clients = [store.add_client(display_name=f"Chaos {tag} Client {k + 1}",
                                        email=f"chaos-{tag}-{k + 1}@example.com").id for k in range(max(2, n // 4))]
        fresh = [invoice(f"C{tag}-{k + 1}", client) for k, client in enumerate(new_clients)]
        for inv in fresh:
            pay(inv, (inv.total * Decimal(rng.choice(("0.25", "0.5", "1")))).quantize(cents))
        chosen = rng.sample(clients, min(len(clients), max(2, n // 2)))
        more = [invoice(f"C{tag}-{len(fresh) + k + 1}", client) for k, client in enumerate(chosen)]
        paid = store.paid_amounts()
        for inv_id, credit in store.credited_amounts().items():  # credit applied counts like payments
            paid[inv_id] = paid.get(inv_id, Decimal(0)) + credit
        open_synced = sorted((i for i in store.invoices() if i.id in synced_invoices and i.status == "open"
                              and i.total - paid.get(i.id, Decimal(0)) >= 1), key=lambda i: i.id)
        for inv in rng.sample(open_synced, min(len(open_synced), max(2, n // 2))):
            unpaid = inv.total - paid.get(inv.id, Decimal(0))
            pay(inv, min(unpaid, (unpaid * Decimal(rng.randrange(10, 60)) / 100).quantize(cents)))
        live = sorted((p for p in store.payments() if p.id in synced_payments and p.amount > 2), key=lambda p: p.id)
        updated = rng.sample(live, min(len(live), max(1, n // 6)))
        for payment in updated:
            store.update_payment(payment.id, amount=payment.amount - Decimal("1.00"))
        counts.update({"new clients": len(new_clients), "new invoices": len(fresh) + len(more),
                       "new payments": len(fresh) + min(len(open_synced), max(2, n // 2)),
                       "payments changed": len(updated)})
        return counts
    finally:
        store.close()


def _changes_text(changed: dict[str, int]) -> str:
    return ", ".join(f"{v} {k}" for k, v in changed.items())


def _sync_offers_wait() -> bool:
    """Whether ``qbo-toolkit sync`` has ``--wait SECONDS`` (wait for another sync's lease instead of exit 75)."""
    done = subprocess.run([QBO_TOOLKIT, "sync", "--help"], capture_output=True, text=True, check=False)
    return "--wait" in done.stdout


# ------------------------------------------------------------------------------------------------
# concurrent: two and three syncs of one company at once, a papermill job beside the CLI
# ------------------------------------------------------------------------------------------------


def concurrent(check: Check, base: Path, size: dict[str, Any], rng: random.Random) -> None:
    local = random.Random(rng.randrange(2**32))
    rounds = []
    for r in range(size["rounds"]):
        kinds = ["cli", "job"] if r % 2 == 0 else ["cli", "cli", "job"]
        local.shuffle(kinds)
        rounds.append((kinds, [round(local.uniform(0, 4), 1) for _ in kinds], local.randrange(2**32)))
    wait_offered = _sync_offers_wait()
    with world(base, "concurrent", size["demo"], *SLOW) as w:
        before = _before(w)
        done = w.run_sync("initial")
        check.expect(done.returncode in FINISHED, f"the initial sync (alone) exited {done.returncode}: see {w.workdir}")
        planted = _failure_keys(w)  # the demo's bad records, as the undisturbed initial sync left them
        check.figure(f"initial sync alone: {w.log_text('initial').strip().splitlines()[-1][:120]}; "
                     f"{len(planted)} open failures (the demo's bad records)")
        outcomes: Counter[str] = Counter()
        overlapped = 0
        for r, (kinds, offsets, seed) in enumerate(rounds, start=1):
            changed = change_round(w.url, random.Random(seed), size["round_changes"], f"r{r}")
            first_run = (_last_run(w) or (0, "", ""))[0]
            waiter = wait_offered and len(kinds) == 3  # one of three waits for the lease instead of stopping
            order = sorted(range(len(kinds)), key=lambda k: offsets[k])
            t0 = time.monotonic()
            procs: list[tuple[Proc, float]] = []
            for k in order:
                time.sleep(max(0.0, t0 + offsets[k] - time.monotonic()))
                label = f"round-{r}-{k + 1}-{kinds[k]}"
                if kinds[k] == "job":
                    procs.append((w.start_job(label), offsets[k]))
                else:
                    extra = ("--wait", "600") if waiter else ()
                    waiter = False
                    procs.append((w.start_sync(label + "-wait" * bool(extra), *extra), offsets[k]))
            described = []
            for proc, offset in procs:
                if proc.wait(900) is None:
                    proc.stop()
                    check.expect(False, f"round {r}: {proc.label} did not end within 900 s (killed)")
                said = proc.first_line()
                if proc.label.endswith("-wait"):
                    check.expect(proc.code in FINISHED, f"round {r}: {proc.label} had --wait but ended with "
                                                 f"{_said(proc)[:200]}")
                if proc.code in FINISHED:
                    outcomes["ran (exit 0 or 1)"] += 1
                elif proc.code == EXIT_TEMPFAIL and LEASE.search(proc.text()):
                    outcomes["stopped for the lease (exit 75)"] += 1
                else:
                    outcomes[f"other ({proc.exit_text()})"] += 1
                    check.expect(False, f"round {r}: {proc.label} ended with {_said(proc)[:220]}")
                if proc.code == EXIT_TEMPFAIL:
                    check.expect(bool(LEASE.search(proc.text())), f"round {r}: {proc.label} exited 75 without "
                                 f"saying which sync holds the company: {said[:200]!r}")
                told = _told(proc)
                described.append(f"{proc.kind}{' --wait' * proc.label.endswith('-wait')} +{offset:.1f} s: "
                                 f"{proc.exit_text()}"
                                 + (f" ({told[:110]})" if told else ""))
            spans = _run_spans(w, first_run)
            overlap = _overlapping(spans)
            overlapped += overlap
            check.figure(f"round {r}, {len(kinds)} together ({_changes_text(changed)}): " + "; ".join(described)
                         + f"; {len(spans)} run(s) recorded, {'some overlapping' if overlap else 'none overlapping'}")
        check.figure(f"{sum(outcomes.values())} processes in {len(rounds)} rounds: "
                     + ", ".join(f"{n} {what}" for what, n in sorted(outcomes.items()))
                     + f"; runs overlapped in {overlapped} of {len(rounds)} rounds; --wait "
                     + ("offered: one process of each three waited" if wait_offered
                        else "not offered by `qbo-toolkit sync` (not tried)"))
        runs, head = run_to_the_end(w, "final", 4)
        check.figure(f"then {runs} run(s) to the end; the last: {head}")
        check_tracebacks(check, w)
        check_stuck(check, w, planted)
        check_agreement(check, w, before)


def _overlapping(spans: list[tuple[str, str]]) -> bool:
    """Whether a run started before an earlier one (by start) had finished."""
    latest = ""
    for started, finished in spans:
        if latest and started < latest:
            return True
        latest = max(latest, finished)
    return False


def _run_spans(w: World, after: int) -> list[tuple[str, str]]:
    """(started, finished) of the sync runs after run ``after``, by start; an unfinished one ends at '~'."""
    rows = _sql(w, "SELECT started_at, finished_at FROM sync_runs WHERE id > ? AND kind IN ('initial', "
                   "'incremental') ORDER BY started_at", after)
    return [(str(a), str(b) if b else "~") for a, b in rows]


# ------------------------------------------------------------------------------------------------
# server-kills: the emulator killed (SIGKILL) and stopped (SIGTERM) mid-batch, restarted on its data
# ------------------------------------------------------------------------------------------------


def server_kills(check: Check, base: Path, size: dict[str, Any], rng: random.Random) -> None:
    local = random.Random(rng.randrange(2**32))
    n = size["server_kills"]
    sigs = [signal.SIGKILL if i % 2 == 0 else signal.SIGTERM for i in range(n)]
    local.shuffle(sigs)
    # aimed at a stage (its requests in flight), then 0.1-0.4 s later: requests wait 0.2-0.3 s in the emulator
    # before they run, so a kill lands before, while or just after one runs
    plan = [(STAGES[i % len(STAGES)], sigs[i], local.uniform(0.1, 0.4), local.uniform(0.5, 2.5)) for i in range(n)]
    change_seeds = [local.randrange(2**32) for _ in range(n + 1)]
    planted = planted_failures(base, size["demo"])
    with world(base, "server-kills", size["demo"], *SLOW) as w:
        before = _before(w)
        syncs: list[Proc] = []
        landed: list[tuple[str, str, int, str]] = []  # signal, target, requests in flight, stages in flight
        unaimed: list[str] = []
        changes = replayed = 0
        failing: list[str] = []  # what the syncs that failed in a row since the last good one said
        up_since: dict[str, int] = {}  # sync label -> the emulator's restarts when it started
        wedged = ""
        for target, sig, delay, downtime in plan:
            deadline = time.monotonic() + 120
            flying: Counter[str] = Counter()
            while time.monotonic() < deadline and not wedged:
                if not syncs or syncs[-1].poll() is not None:
                    if syncs and syncs[-1].code in FINISHED:  # it finished: new work for the next one to carry
                        failing = []
                        change_round(w.url, random.Random(change_seeds[changes % len(change_seeds)]),
                                     size["round_changes"], f"k{changes + 1}")
                        changes += 1
                    elif syncs and up_since[syncs[-1].label] == len(w.emu.restarts):
                        # it failed with the emulator up all its life: five in a row, the same way, is a wedge
                        failing.append(_said(syncs[-1]))
                        if len(failing) >= WEDGED and len(set(failing[-WEDGED:])) == 1:
                            wedged = failing[-1]
                            break
                    syncs.append(w.start_sync(f"sync-{len(syncs) + 1:02d}"))
                    up_since[syncs[-1].label] = len(w.emu.restarts)
                flying = _in_flight(w)
                if flying[target]:
                    break
                time.sleep(0.01)
            else:
                unaimed.append(target)
                continue
            if wedged:
                check.expect(False, f"the sync is wedged: {len(failing)} runs in a row, the emulator up, ended "
                                    f"with {wedged[:200]} (the remaining kills were not made)")
                break
            time.sleep(delay)
            flying = _in_flight(w)
            requests = len(_sql(w, "SELECT request_id FROM sync_outbox"))
            replayed += _replayed(w)
            w.emu.restart(sig, downtime)
            landed.append((signal.Signals(sig).name, target, requests, "+".join(sorted(flying)) or "none"))
        last = syncs[-1] if syncs else None
        if last is not None and last.wait(600) is None:
            last.stop()
            check.expect(False, f"{last.label} was still running 600 s after the last restart (killed): wedged")
        for proc in syncs:
            if proc.code is None:
                proc.wait(60)
            if proc.code not in (*FINISHED, None) and not proc.first_line():
                check.expect(False, f"{proc.label} ended with {proc.exit_text()} and said nothing on stderr")
        by_stage = Counter(target for _, target, _, _ in landed)
        by_signal = Counter(sig for sig, _, _, _ in landed)
        mid = sum(1 for _, _, requests, _ in landed if requests)
        ports = Counter("same port" if a == b else "new port" for a, b in w.emu.restarts)
        check.figure(f"{len(landed)} emulator restarts on its data dir ("
                     + ", ".join(f"{k} {name}" for name, k in sorted(by_signal.items())) + "; aimed at "
                     + ", ".join(f"{by_stage[s]} {s}" for s in STAGES) + f"; {_counted(ports)}): "
                     f"{mid} with requests in flight (up to {max((r for _, _, r, _ in landed), default=0)}), "
                     f"downtime 0.5-2.5 s")
        check.figure("kills: " + "; ".join(f"{sig} in {target} ({requests} in flight: {stages})"
                                           for sig, target, requests, stages in landed))
        exits = Counter(p.exit_text() for p in syncs)
        endings = Counter(_said(p)[:150] for p in syncs if p.code)
        check.figure(f"{len(syncs)} sync processes during the outages ({changes} change set(s) between them): "
                     + _counted(exits) + "; the failures: "
                     + " | ".join(f"{k} x {what}" for what, k in endings.most_common(4)))
        check.expect(not unaimed, f"no request of {', '.join(unaimed)} came in flight within 120 s: "
                                  "those kills were not made")
        check.expect(bool(wedged) or (len(landed) >= n and set(by_stage) == set(STAGES)),
                     f"only {len(landed)} of {n} kills landed, in {sorted(by_stage)}")
        runs, head = run_to_the_end(w, "final", 4)
        check.figure(f"then {runs} run(s) to the end; the last: {head}; {replayed + _replayed(w)} request(s) "
                     "answered by replay in all (sent again after a restart: the emulator had run them)")
        check_tracebacks(check, w)
        check_stuck(check, w, planted)
        check_agreement(check, w, before)


#: Sync processes failing in a row, the same way, with the emulator up: the sync is wedged.
WEDGED = 5


def _said(proc: Proc) -> str:
    """How a process ended, for the report: the exception of a raw traceback, else its first line."""
    return f"{proc.exit_text()}: {_told(proc) or 'nothing on stderr'}"


def _told(proc: Proc) -> str:
    """What the process told its user: the exception of a raw traceback, else its first line."""
    text = proc.text()
    return f"a raw traceback ending {_exception_line(text)}" if TRACEBACK in text else proc.first_line()


def _replayed(w: World) -> int:
    """Requests the running emulator answered from its requestid memory since it started."""
    try:
        return int(w.emu.counts().get("replayed", 0))
    except OSError:
        return 0


def _counted(counter: Counter[str]) -> str:
    return ", ".join(f"{k} {what}" for what, k in sorted(counter.items()))


# ------------------------------------------------------------------------------------------------
# work-lock: another process holds the WORK store's write lock longer than the busy timeout
# ------------------------------------------------------------------------------------------------

#: Holds a write transaction on a SQLite file until its stdin closes (a report, a backup, a second app).
LOCK_HOLDER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=120, isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()
db.execute("ROLLBACK")
db.close()
print("released", flush=True)
"""


@contextmanager
def holding_lock(w: World) -> Iterator[subprocess.Popen[str]]:
    """Another process with ``BEGIN EXCLUSIVE`` open on the WORK store, until the block ends."""
    import select

    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, w.db_path], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert holder.stdin is not None and holder.stdout is not None
    try:
        ready, _, _ = select.select([holder.stdout], [], [], 120)
        line = holder.stdout.readline() if ready else ""
        if line.strip() != "locked":
            raise RuntimeError(f"the lock holder did not get the lock: {line!r}")
        yield holder
    finally:
        holder.stdin.close()
        try:
            holder.wait(30)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()


def work_lock(check: Check, base: Path, size: dict[str, Any], rng: random.Random) -> None:
    local = random.Random(rng.randrange(2**32))
    busy = size["busy_timeout"]
    # the first lock lands mid-run (the initial sync, requests in flight), then one before a run starts,
    # then mid-run again, each aimed at a stage of the run
    cases = [("mid-run" if i % 2 == 0 else "before the run", STAGES[(i // 2) % len(STAGES)], local.uniform(0, 0.3),
              local.randrange(2**32)) for i in range(size["locks"])]
    env = {"QBO_WORK_BUSY_TIMEOUT": str(busy)}
    planted = planted_failures(base, size["demo"])
    with world(base, "work-lock", size["demo"], *SLOW) as w:
        before = _before(w)
        lines: list[str] = []
        stopped = reruns_ok = 0
        for i, (when, target, delay, seed) in enumerate(cases, start=1):
            if i > 1:  # the re-run completed the sync: new work for this one
                change_round(w.url, random.Random(seed), size["round_changes"], f"l{i}")
            if when == "before the run":
                with holding_lock(w):
                    proc = w.start_sync(f"locked-{i}", env=env)
                    t0 = time.monotonic()
                    ended = proc.wait(busy * 10 + 60)
                    held = time.monotonic() - t0
            else:
                proc = w.start_sync(f"locked-{i}", env=env)
                deadline = time.monotonic() + 240
                while proc.poll() is None and time.monotonic() < deadline and not _in_flight(w)[target]:
                    time.sleep(0.01)
                time.sleep(delay)
                if proc.poll() is not None:
                    lines.append(f"lock {i} ({when}): the run ended by itself first ({proc.exit_text()})")
                    continue
                stage = "+".join(sorted(_in_flight(w))) or "no requests in flight"
                with holding_lock(w):
                    t0 = time.monotonic()
                    ended = proc.wait(busy * 10 + 60)
                    held = time.monotonic() - t0
                when = f"{when}, {stage}"
            if ended is None:
                proc.stop()
                check.expect(False, f"lock {i}: the sync was still running {held:.0f} s into a lock, with a busy "
                                    f"timeout of {busy} s (killed)")
            said = _told(proc)
            stopped += proc.code in (EXIT_TEMPFAIL, 2)
            check.expect(proc.code in (EXIT_TEMPFAIL, 2), f"lock {i}: the sync ended with {proc.exit_text()}, not 75 "
                                                          f"(try again later) or 2: {said[:200]!r}")
            check.expect(bool(WORK_STORE.search(proc.stderr())),
                         f"lock {i}: the sync's stderr does not name the WORK store: {said[:200]!r}")
            rerun = w.run_sync(f"rerun-{i}")
            reruns_ok += rerun.returncode in FINISHED
            check.expect(rerun.returncode in FINISHED, f"lock {i}: the re-run after the lock exited {rerun.returncode}")
            head = next((ln for ln in w.log_text(f"rerun-{i}").splitlines() if ln.startswith("sync run")), "?")
            slow = " (QBO_WORK_BUSY_TIMEOUT looks ignored)" if held > busy * 5 + 15 else ""
            lines.append(f"lock {i} ({when}): the sync stopped {held:.1f} s into the lock{slow} with "
                         f"{proc.exit_text()}: {said[:140] or 'nothing on stderr'!r}; re-run: {head[:90]}")
        check.figure(f"{len(cases)} locks held (BEGIN EXCLUSIVE in another process) against syncs with "
                     f"QBO_WORK_BUSY_TIMEOUT={busy}: {stopped} stopped with 75 or 2, {reruns_ok} re-run(s) completed")
        for line in lines:
            check.figure(line)
        runs, head = run_to_the_end(w, "final", 4)
        check.figure(f"then {runs} run(s) to the end; the last: {head}")
        check_tracebacks(check, w)
        check_stuck(check, w, planted)
        check_agreement(check, w, before)


# ------------------------------------------------------------------------------------------------
# signals: SIGINT and SIGTERM to a running sync
# ------------------------------------------------------------------------------------------------


def signals(check: Check, base: Path, size: dict[str, Any], rng: random.Random) -> None:
    local = random.Random(rng.randrange(2**32))
    sigs = [signal.SIGINT, signal.SIGTERM] * size["signals"]
    local.shuffle(sigs)
    # each signal aimed at a stage (its requests in flight), then a random moment within the next 0.3 s
    plan = [(sig, STAGES[i % len(STAGES)], local.uniform(0, 0.3), local.randrange(2**32)) for i, sig in enumerate(sigs)]
    expected = {signal.SIGINT: EXIT_SIGINT, signal.SIGTERM: EXIT_SIGTERM}
    planted = planted_failures(base, size["demo"])
    with world(base, "signals", size["demo"], *SLOW) as w:
        before = _before(w)
        seen: dict[str, list[str]] = defaultdict(list)
        right: Counter[str] = Counter()
        changes = 0
        for i, (sig, target, delay, seed) in enumerate(plan, start=1):
            name = signal.Signals(sig).name
            for attempt in (1, 2, 3):  # a run that ends before its stage came: new work, and again
                first = (_last_run(w) or (0, "", ""))[0]
                proc = w.start_sync(f"signal-{i:02d}-{name}-{attempt}")
                deadline = time.monotonic() + 120
                while proc.poll() is None and time.monotonic() < deadline and not _in_flight(w)[target]:
                    time.sleep(0.01)
                time.sleep(delay)
                if proc.poll() is None:
                    break
                check.expect(proc.code in FINISHED, f"{proc.label} ended by itself with {proc.exit_text()}: "
                                             f"{proc.first_line()[:200]!r}")
                changes += 1
                change_round(w.url, random.Random(seed + attempt), size["round_changes"], f"s{i}{attempt}")
            else:
                check.expect(False, f"signal {i} ({name}): no run reached {target} in 3 attempts")
                continue
            run = _last_run(w)
            stage = "+".join(sorted(_in_flight(w))) or "no request"
            proc.send(sig)
            if proc.wait(90) is None:
                proc.stop()
                check.expect(False, f"{proc.label}: still running 90 s after {name} (killed)")
            status = "no run recorded"
            if run is not None and run[0] != first:
                status = next((str(r[0]) for r in _sql(w, "SELECT status FROM sync_runs WHERE id = ?", run[0])), "?")
            said = _told(proc)
            ok_code = proc.code == expected[sig]
            ok_status = status == "interrupted"
            ok_said = bool(INTERRUPTED.search(proc.stderr()))
            right[f"{name} exit"] += ok_code
            right[f"{name} status"] += ok_status
            right[f"{name} sentence"] += ok_said
            seen[name].append(f"{proc.exit_text()}, run '{status}' ({stage} in flight)")
            check.expect(ok_code, f"{proc.label}: {name} ended it with {proc.exit_text()}, not exit {expected[sig]}")
            check.expect(ok_status, f"{proc.label}: its run is recorded as {status!r}, not 'interrupted'")
            check.expect(ok_said, f"{proc.label}: no sentence on stderr says it was interrupted: {said[:200]!r}")
        for name, results in seen.items():
            code = expected[signal.Signals[name]]
            check.figure(f"{len(results)} x {name}: exit {code} {right[f'{name} exit']} of {len(results)}, run "
                         f"'interrupted' {right[f'{name} status']} of {len(results)}, a sentence "
                         f"{right[f'{name} sentence']} of {len(results)}: " + "; ".join(results))
        if changes:
            check.figure(f"{changes} run(s) ended before their signal's stage came: change sets gave the next work")
        check.expect(sum(len(r) for r in seen.values()) == len(plan), "not every signal reached a running sync")
        runs, head = run_to_the_end(w, "final", 4)
        check.figure(f"then {runs} run(s) to the end; the last: {head}")
        check_tracebacks(check, w)
        check_stuck(check, w, planted)
        check_agreement(check, w, before)


# ------------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------------

SCENARIOS: dict[str, Callable[[Check, Path, dict[str, Any], random.Random], None]] = {
    "crash": crash, "faults": faults, "tokens": tokens, "bad-input": bad_input,
    "concurrent": concurrent, "server-kills": server_kills, "work-lock": work_lock, "signals": signals,
    "security": security,  # last: its secrets scan reads every file the other checks wrote
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
