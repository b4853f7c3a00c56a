# ruff: noqa: S603, S607, S108 - a benchmark driver: runs the project's own tools, scratch in /dev/shm
"""qbo-toolkit benchmarks: every figure measured in one run, printed as one table.

    .venv/bin/python benchmarks/run.py --size full     # writes benchmarks/RESULTS.md
    .venv/bin/python benchmarks/run.py --size smoke    # tiny sizes, prints only (the smoke test)

Measures (see benchmarks/README.md): initial sync against the rate ceiling, the naive
python-quickbooks loop on the same data, a no-op incremental sync, the 1M-row reconciliation
against datacompy, and ``make demo`` wall time. Each emulator runs as its own process
(``qbo-toolkit emulator``) so the client and the server do not share one interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling modules, however run.py is loaded
from peak import PEAK_RSS

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
INTEGRATION_DATE = date(2026, 1, 1)

# QBO's limits (the emulator's defaults) and the ceiling they allow for writes, per service minute:
# 40 batch requests of 30 operations, plus the rest of the 500 requests as single operations.
PER_MINUTE, BATCH_PER_MINUTE, BATCH_ITEMS = 500, 40, 30
CEILING_OPS_PER_MIN = BATCH_PER_MINUTE * BATCH_ITEMS + (PER_MINUTE - BATCH_PER_MINUTE)  # 1660
LATENCY_MEAN, LATENCY_JITTER = 0.225, 0.075  # scaled seconds: 150-300 ms

SIZES: dict[str, dict[str, Any]] = {
    "full": {"sync": {"clients": 2000, "invoices": 10000, "payments": 8000}, "time_scale": 5.0,
             "noop": {"clients": 100_000, "invoices": 100_000}, "recon_rows": 1_000_000, "recon_diffs": 3000,
             "demo": True},
    "smoke": {"sync": {"clients": 40, "invoices": 60, "payments": 40}, "time_scale": 600.0,
              "noop": {"clients": 40, "invoices": 60}, "recon_rows": 2000, "recon_diffs": 60, "demo": False},
}


@dataclass
class Row:
    measure: str
    ours: str
    baseline: str
    ratio: str
    goal: str
    ok: bool | None  # None: not judged (information only)

    @property
    def verdict(self) -> str:
        return "-" if self.ok is None else ("pass" if self.ok else "FAIL")


# --------------------------------------------------------------------------------------------
# Emulators and connections
# --------------------------------------------------------------------------------------------


@contextmanager
def emulator(workdir: Path, *args: str) -> Iterator[dict[str, Any]]:
    """A ``qbo-toolkit emulator`` process (auto-approve, long-lived tokens); yields its info."""
    info = workdir / "emulator.json"
    log = open(workdir / "emulator.log", "w")
    proc = subprocess.Popen([str(BIN / "qbo-toolkit"), "emulator", "--port", "0", "--auto-approve",
                             "--access-ttl", "1e9", "--info-file", str(info), *args],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(3600):  # up to 3 minutes: with --data-dir it first loads every stored record
            if info.exists() and info.stat().st_size:
                break
            if proc.poll() is not None:
                raise RuntimeError(f"emulator exited: {(workdir / 'emulator.log').read_text()[-2000:]}")
            time.sleep(0.05)
        time.sleep(0.05)
        yield json.loads(info.read_text())
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def connect(workdir: Path) -> Any:
    """connect_headless() with this workdir's toolkit home and emulator info file."""
    from qbo_toolkit.connection import connect_headless
    from qbo_toolkit.qbo.transport import reset_limiters

    home = workdir / "home"
    home.mkdir(exist_ok=True)
    os.environ["QBO_TOOLKIT_HOME"] = str(home)
    os.environ["QBO_EMULATOR_INFO"] = str(workdir / "emulator.json")
    reset_limiters()
    return connect_headless()


def settings() -> Any:
    from qbo_toolkit.settings import Settings

    # seed accounts: 1 Services (Income), 9 Subcontractor Costs (COGS), 4 Undeposited Funds
    return Settings(invoices=True, revenue_account="1", item_account="9", payments=True, deposit_account="4",
                    integration_date=INTEGRATION_DATE, existing_items="use_as_is")


def work_store(workdir: Path, sizes: dict[str, int]) -> Any:
    from qbo_toolkit.work.demo import generate_demo
    from qbo_toolkit.work.store import WorkStore

    store = WorkStore(f"sqlite:///{workdir}/work.sqlite3")
    generate_demo(store, integration_date=INTEGRATION_DATE, **sizes)
    return store


# --------------------------------------------------------------------------------------------
# 1 + 2: initial sync against the ceiling, and the naive python-quickbooks loop
# --------------------------------------------------------------------------------------------


def emulator_args(scale: float) -> list[str]:
    return ["--time-scale", str(scale), "--latency", str(LATENCY_MEAN), "--jitter", str(LATENCY_JITTER)]


def measure_sync(size: dict[str, Any], tmp: Path) -> tuple[dict[str, Any], Any]:
    from qbo_toolkit.sync.engine import SyncEngine

    scale = size["time_scale"]
    workdir = tmp / "sync"
    workdir.mkdir()
    store = work_store(workdir, size["sync"])
    with emulator(workdir, *emulator_args(scale)) as info:
        conn = connect(workdir)
        engine = SyncEngine(store, conn.client, settings())
        before = conn.client.transport.stats.snapshot()
        started = time.perf_counter()
        result = engine.run()
        seconds = time.perf_counter() - started
        after = conn.client.transport.stats.snapshot()
        kinds = request_kinds(info)
    stats = {k: after[k] - before[k] for k in after}
    written = sum(v for k, v in result.counts.items() if k.count(".") == 2 and k.endswith(".ok")
                  and k.split(".")[1] in ("create", "created", "link", "linked", "update", "updated"))
    ok = int(result.counts.get("ok", 0))
    scaled_minutes = seconds * scale / 60.0
    return {"seconds": seconds, "scaled_minutes": scaled_minutes, "ops": ok, "written": written,
            "ops_per_min": ok / scaled_minutes, "requests": stats["requests"], "throttled": stats["throttled"],
            "retries": stats["retries"], "kinds": kinds, "counts": dict(result.counts), "status": result.status}, store


def request_kinds(info: dict[str, Any]) -> dict[str, int]:
    """The data requests the emulator answered, by kind: batch requests, single writes, reads (from its
    request log, which keeps the last 10,000)."""
    import requests

    log = requests.get(f"{info['inspect_url']}/requests", params={"limit": 100_000}, timeout=30).json()["requests"]
    kinds = {"batch": 0, "single": 0, "read": 0}
    for entry in log:
        path = str(entry["path"])
        if not path.startswith("/v3/"):
            continue
        if path.rstrip("/").endswith("/batch"):
            kinds["batch"] += 1
        elif entry["method"] == "GET" or path.rstrip("/").endswith("/query"):
            kinds["read"] += 1
        else:
            kinds["single"] += 1
    return kinds


def naive_push(store: Any, client: Any) -> dict[str, Any]:
    """The naive peer: python-quickbooks objects, one ``save()`` per record, in order, no batching,
    no limiter. (It does share the toolkit's mapping functions to build each payload, and retries a
    record once after a 429, as a plain loop would have to just to finish.)"""
    from quickbooks import QuickBooks
    from quickbooks.objects.customer import Customer
    from quickbooks.objects.invoice import Invoice
    from quickbooks.objects.item import Item
    from quickbooks.objects.payment import Payment
    from requests_oauthlib import OAuth2Session

    from qbo_toolkit.mapping.customers import client_to_customer
    from qbo_toolkit.mapping.invoices import invoice_to_qbo, item_to_qbo
    from qbo_toolkit.mapping.payments import payment_to_qbo

    # what python-quickbooks builds from an intuit-oauth AuthClient: a plain OAuth2Session
    session = OAuth2Session(token={"access_token": client.transport_token, "token_type": "Bearer"})
    qb = QuickBooks(company_id=client.realm_id, minorversion=75, use_decimal=True)
    qb.session = session
    qb.api_url_v3 = client.api_base_url
    counts = {"ok": 0, "failed": 0, "requests": 0, "throttled": 0}

    def save(obj: Any) -> str | None:
        for _attempt in range(5):
            counts["requests"] += 1
            try:
                obj.save(qb=qb)
                counts["ok"] += 1
                return str(obj.Id)
            except Exception as exc:
                if os.environ.get("BENCH_DEBUG"):
                    print(f"naive: {type(exc).__name__}: {str(exc)[:300]}", file=sys.stderr)
                if "429" in str(exc) or "ThrottleExceeded" in str(exc) or "3001" in str(exc):
                    counts["throttled"] += 1
                    time.sleep(0.1)
                    continue
                counts["failed"] += 1
                return None
        counts["failed"] += 1
        return None

    item_ids: dict[int | None, str] = {}
    for item in store.items():
        qid = save(Item.from_json(item_to_qbo(item, income_account_id="1", expense_account_id="9")))
        if qid is None:  # already there (the seed company has a few): use it
            counts["requests"] += 1
            found = Item.filter(Name=item.name, qb=qb)
            qid = str(found[0].Id) if found else None
        if qid:
            item_ids[item.id] = qid
    if item_ids:
        item_ids[None] = next(iter(item_ids.values()))
    customers: dict[int, str] = {}
    for c in sorted(store.clients(), key=lambda c: (c.parent_id is not None, c.id)):
        parent = customers.get(c.parent_id) if c.parent_id is not None else None
        if c.parent_id is not None and parent is None:
            counts["failed"] += 1
            continue
        qid = save(Customer.from_json(client_to_customer(c, parent_qbo_id=parent)))
        if qid:
            customers[c.id] = qid
    invoices: dict[int, str] = {}
    invoice_client: dict[int, int] = {}
    for inv in store.invoices():
        invoice_client[inv.id] = inv.client_id
        if inv.status != "open" or inv.issue_date < INTEGRATION_DATE or inv.client_id not in customers:
            continue
        try:
            payload = invoice_to_qbo(inv, customer_id=customers[inv.client_id], item_ids=item_ids)
        except KeyError:
            counts["failed"] += 1
            continue
        qid = save(Invoice.from_json(payload))
        if qid:
            invoices[inv.id] = qid
    for pay in store.payments():
        inv_qbo = invoices.get(pay.invoice_id)
        if inv_qbo is None:
            continue
        customer_id = customers.get(invoice_client[pay.invoice_id])
        if customer_id is None:
            counts["failed"] += 1
            continue
        save(Payment.from_json(payment_to_qbo(pay, customer_id=customer_id, invoice_qbo_id=inv_qbo,
                                              deposit_account_id="4")))
    return counts


def measure_naive(size: dict[str, Any], tmp: Path) -> dict[str, Any]:
    scale = size["time_scale"]
    workdir = tmp / "naive"
    workdir.mkdir()
    store = work_store(workdir, size["sync"])
    with emulator(workdir, *emulator_args(scale)):
        conn = connect(workdir)
        conn.client.transport_token = conn.session.tokens.access_token
        started = time.perf_counter()
        counts = naive_push(store, conn.client)
        seconds = time.perf_counter() - started
    store.close()
    return {"seconds": seconds, "scaled_minutes": seconds * scale / 60.0, **counts}


# --------------------------------------------------------------------------------------------
# 3: no-op incremental sync
# --------------------------------------------------------------------------------------------

#: How long before the timed run the initial sync ran: a scheduled run finds records an earlier run
#: wrote an hour ago, not seconds ago (which the 5-minute overlap of its CDC window would read back).
SYNC_AGE_SECONDS = 3600.0


def in_sync_state(store: Any, summary: Any, workdir: Path) -> dict[str, Any]:
    """Bring ``store`` and an emulator company (kept in ``workdir/emulator-data``) to the state an
    initial sync leaves, as if it had run an hour ago (:data:`SYNC_AGE_SECONDS`).

    An emulator runs in this process (HTTP on 127.0.0.1 as always) with its company clock an hour
    behind. :func:`bulk_in_sync` creates the plain records in its company ahead, then the engine's
    own initial run syncs everything else over HTTP and records the sync's position, which is then
    moved back by the same hour (the CDC position is where the initial run started). The emulator
    keeps its state in its SQLite store for ``qbo-toolkit emulator --data-dir`` to serve next.
    ``tests/benchmarks/test_noop_state.py`` checks that this leaves what an initial sync alone leaves."""
    from qbo_toolkit.emulator import EmulatorConfig, serve
    from qbo_toolkit.sync.engine import SyncEngine
    from qbo_toolkit.sync.state import SyncState

    started = time.perf_counter()
    config = EmulatorConfig(data_dir=str(workdir / "emulator-data"), auto_approve=True, access_ttl=1e9,
                            time_scale=100000, throttle=False, info_file=str(workdir / "emulator.json"))
    with serve(config) as server:
        server.clock.advance(-SYNC_AGE_SECONDS)
        bulk = bulk_in_sync(store, summary, server.emulator)
        bulk_seconds = time.perf_counter() - started
        conn = connect(workdir)
        initial = SyncEngine(store, conn.client, settings()).run()
    state = SyncState(store, config.realm_id)
    position = datetime.fromisoformat(state.get_value("cdc_since")) - timedelta(seconds=SYNC_AGE_SECONDS)
    with store.engine.begin() as tx:
        state.set_value(tx, "cdc_since", position.isoformat())
    return {"bulk": bulk, "bulk_seconds": bulk_seconds, "seconds": time.perf_counter() - started,
            "requests": initial.requests, "counts": dict(initial.counts)}


def bulk_in_sync(store: Any, summary: Any, emu: Any) -> dict[str, int]:
    """Do ahead what an initial sync does for the plain records, in the company of the emulator
    ``emu`` (in-process, through its own business rules, without HTTP).

    Created: the WORK items the invoices use, each plain client (not one of the demo's awkward
    cases, not a sub-client, one the engine's own planner would create in QBO) as a Customer, and
    each of their invoices the planner would send as an Invoice, with the payloads the engine sends
    (the toolkit's mapping functions, through the same JSON encoding). Each record QBO accepts is
    linked in the id map with exactly what the engine records for a create (QBO's Id and SyncToken,
    the WORK version, the customer's base values and fingerprint, the invoice payload's fingerprint)
    and logged as the engine logs it, in a run of its own. A record QBO refuses is left out: the
    engine's own initial run (which :func:`in_sync_state` runs next) meets it again, like everything
    this step leaves out (awkward cases, sub-clients, the seed company's customers)."""
    from decimal import Decimal

    import sqlalchemy as sa

    from qbo_toolkit.emulator.faults import EmuFault
    from qbo_toolkit.mapping import customers as cmap
    from qbo_toolkit.mapping import invoices as imap
    from qbo_toolkit.mapping.names import check_display_name
    from qbo_toolkit.qbo.client import _dumps
    from qbo_toolkit.sync.invoices import amount as _amount
    from qbo_toolkit.sync.invoices import fingerprint as _fingerprint
    from qbo_toolkit.sync.plan import plan_customers, plan_invoice
    from qbo_toolkit.sync.state import Link, SyncState, activity_table, links_table

    cfg = settings()
    company = emu.companies[emu.config.realm_id]
    state = SyncState(store, emu.config.realm_id)
    counts = {"customers": 0, "invoices": 0, "items": 0, "refused": 0}

    def create(entity: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        body = json.loads(_dumps(payload), parse_float=Decimal)  # what the wire carries
        try:
            with emu.store.transaction():  # one transaction per record, as a batch item has
                return dict(company.save(entity, body))
        except EmuFault:
            counts["refused"] += 1
            return None

    awkward = set(summary.awkward.values())  # client, invoice and payment ids: harmless overlaps
    clients = {c.id: c for c in store.clients(include_inactive=True)}
    company_row = store.company()
    default_state = company_row.default_state if cfg.use_default_state and company_row is not None else None
    actions, _pending = plan_customers(
        clients, {d["Id"]: dict(d) for d in company.all("Customer")}, {}, dismissed=set(), accepted={},
        rejected=set(), accept_weak=cfg.accept_weak_matches, policy=cfg.conflict_policy,
        default_state=default_state or None)
    to_create = sorted(int(a.work_id or 0) for a in actions if a.kind == "create" and a.direction == "to_qbo")
    run_id = state.start_run("initial", dry_run=False)
    realm = emu.config.realm_id
    links: list[dict[str, Any]] = []  # the rows SyncState.save_link and .record write, written in bulk below
    entries: list[dict[str, Any]] = []

    def link(entity: str, work_id: int, qbo: dict[str, Any], version: int, *, base: Any = None,
             fingerprint: str | None = None, message: str) -> None:
        now = datetime.now(UTC)
        links.append({"realm": realm, "entity": entity, "work_id": work_id, "qbo_id": str(qbo["Id"]),
                      "sync_token": str(qbo.get("SyncToken", "0")), "work_version": version,
                      "base": json.dumps(base, sort_keys=True, default=str) if base is not None else None,
                      "fingerprint": fingerprint, "qbo_name": None, "state": "active", "synced_at": now})
        entries.append({"run_id": run_id, "realm": realm, "at": now, "entity": entity, "direction": "to_qbo",
                        "work_id": work_id, "qbo_id": str(qbo["Id"]), "action": "create", "outcome": "ok",
                        "field": None, "message": message, "resolved": None})

    customer_qbo: dict[int, str] = {}
    with store.engine.begin() as conn:
        # items, as the engine's item stage finds or creates them
        items = company.all("Item")
        default = next((d for d in items if d["Name"] == "Services"), None)
        item_ids: dict[int | None, str] = {None: str(default["Id"])} if default else {}
        if default:
            state.set_value(conn, "default_item", str(default["Id"]))
        for item in store.items():
            existing = next((d for d in company.all("Item") if d["Name"] == item.name), None)
            qbo = existing or create("Item", imap.item_to_qbo(item, income_account_id=str(cfg.revenue_account),
                                                              expense_account_id=cfg.item_account))
            if qbo is not None:
                item_ids[item.id] = str(qbo["Id"])
                # what the items stage remembers of a link: the name, its income account, found or created
                base = {"name": str(qbo.get("Name") or ""),
                        "income_account": str((qbo.get("IncomeAccountRef") or {}).get("value") or "") or None,
                        "origin": "found" if existing else "created"}
                state.save_link(conn, "item", item.id, str(qbo["Id"]), sync_token=str(qbo.get("SyncToken", "0")),
                                work_version=item.version, base=base)
                counts["items"] += 1
        for work_id in to_create:
            client = clients[work_id]
            if (work_id in awkward or client.parent_id is not None or cmap.validate_client(client)
                    or check_display_name(client.display_name) is not None):
                continue
            name = client.display_name
            qbo = create("Customer", cmap.client_to_customer(client, parent_qbo_id=None, display_name=name))
            if qbo is None:
                continue
            values = cmap.client_values(client)
            link("customer", work_id, qbo, client.version, base=values, fingerprint=cmap.fingerprint(values),
                 message=f"created customer {name!r}")
            customer_qbo[work_id] = str(qbo["Id"])
            counts["customers"] += 1
        if cfg.invoices and None in item_ids:
            assert cfg.integration_date is not None
            term_ids = {str(d["Name"]): str(d["Id"]) for d in company.all("Term") if d.get("Active", True)}
            today = date.today()
            for inv in store.invoices():
                client = clients.get(inv.client_id)
                if inv.id in awkward or inv.client_id not in customer_qbo or client is None:
                    continue
                customer = Link("customer", inv.client_id, customer_qbo[inv.client_id], "0", 0, None, None, None,
                                "active")  # all plan_invoice reads of it: that it exists and is active
                action = plan_invoice(inv, None, customer, integration_date=cfg.integration_date, today=today,
                                      client_active=client.active)
                if action.kind != "create" or imap.validate_invoice(inv):
                    continue
                try:  # the demo's terms carry QuickBooks' seeded names (the engine resolves them the same way)
                    payload = imap.invoice_to_qbo(inv, customer_id=customer_qbo[inv.client_id], item_ids=item_ids,
                                                  term_id=term_ids.get(inv.terms) if inv.terms else None)
                except KeyError:
                    continue
                qbo = create("Invoice", payload)
                if qbo is None:
                    continue
                link("invoice", inv.id, qbo, inv.version, fingerprint=_fingerprint(payload),
                     message=f"created invoice {payload.get('DocNumber', inv.id)} for {_amount(qbo.get('TotalAmt'))}")
                counts["invoices"] += 1
        if links:
            conn.execute(sa.insert(links_table), links)
            conn.execute(sa.insert(activity_table), entries)
    state.finish_run(run_id, "ok", {"ok": counts["customers"] + counts["invoices"]}, 0)
    return counts


def measure_noop(size: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """N clients and N invoices in sync (:func:`in_sync_state`); through a separate emulator process,
    the first incremental run (it reads back, through CDC, the customers the initial run wrote), then
    one more engine run, timed: it should find nothing to do."""
    from qbo_toolkit.sync.engine import SyncEngine
    from qbo_toolkit.work.demo import generate_demo
    from qbo_toolkit.work.store import WorkStore

    workdir = tmp / "noop"
    workdir.mkdir()
    sizes = {**size["noop"], "payments": 0}
    store = WorkStore(f"sqlite:///{workdir}/work.sqlite3")
    # no credit notes or refunds: in_sync_state loads the sync state of customers, items and invoices only
    summary = generate_demo(store, integration_date=INTEGRATION_DATE, credit_notes=0, refunds=0, **sizes)
    load = in_sync_state(store, summary, workdir)
    with emulator(workdir, "--data-dir", str(workdir / "emulator-data"), "--time-scale", "100000", "--no-throttle"):
        conn = connect(workdir)
        first = SyncEngine(store, conn.client, settings()).run()
        started = time.perf_counter()
        noop = SyncEngine(store, conn.client, settings()).run()
        seconds = time.perf_counter() - started
    store.close()
    changed = {k: v for k, v in noop.counts.items() if k in ("ok", "failed")}
    return {"seconds": seconds, "requests": noop.requests, "kind": noop.kind, "changed": changed,
            "load_seconds": load["seconds"], "bulk_seconds": load["bulk_seconds"], "bulk": load["bulk"],
            "load_requests": load["requests"], "load_ok": load["counts"].get("ok", 0), "load_counts": load["counts"],
            "first_incremental": {"seconds": first.seconds, "requests": first.requests,
                                  "changed": {k: v for k, v in first.counts.items() if k in ("ok", "failed")}},
            "clients": sizes["clients"], "invoices": sizes["invoices"]}


# --------------------------------------------------------------------------------------------
# 4: reconciliation vs datacompy (each in a child process: its own peak RSS)
# --------------------------------------------------------------------------------------------

# Each child reports its own peak RSS (benchmarks/peak.py: VmHWM, not ru_maxrss)

CHILD_OURS = """
import json, resource, sys, time
""" + PEAK_RSS + """
from datetime import date
from qbo_toolkit.recon import reconcile
from qbo_toolkit.recon.sample import sample_frames, synthetic_frames
n, diffs, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
reconcile(*sample_frames(), as_of=date(2026, 3, 31))  # warm-up: pandas' lazy imports
work, qbo, links = synthetic_frames(n, differences=diffs, seed=11)
t = time.perf_counter()
r = reconcile(work, qbo, links, as_of=date(2026, 6, 30), integration_date=date(2026, 1, 1))
s = time.perf_counter() - t
def nums(cat, col):
    f = r.frame(cat)
    return sorted(str(x) for x in f[col]) if len(f) else []
cols = {c: list(r.frame(c).columns) for c in ("invoices_total", "invoices_date", "invoices_missing_in_qbo",
                                              "invoices_missing_in_work")}
def pick(cat):
    f = r.frame(cat)
    for col in ("number", "work_number", "doc_number", "qbo_number"):
        if col in f.columns and f[col].notna().all():
            return sorted(str(x) for x in f[col])
    raise SystemExit(f"no number column in {cat}: {list(f.columns)}")
sets = {"total": pick("invoices_total"), "date": pick("invoices_date"),
        "work_only": pick("invoices_missing_in_qbo"), "qbo_only": pick("invoices_missing_in_work")}
json.dump({"seconds": s, "peak_rss": peak_rss(),
           "sets": sets}, open(out, "w"))
"""

CHILD_DATACOMPY = """
import json, resource, sys, time
""" + PEAK_RSS + """
import datacompy
from qbo_toolkit.recon.sample import synthetic_frames
n, diffs, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
work, qbo, links = synthetic_frames(n, differences=diffs, seed=11)
w = work.invoices.rename(columns={"issue_date": "date"})[["number", "total_cents", "date"]]
q = qbo.invoices.rename(columns={"doc_number": "number", "txn_date": "date"})[["number", "total_cents", "date"]]
t = time.perf_counter()
cmp = datacompy.PandasCompare(w, q, join_columns="number", df1_name="work", df2_name="qbo")
mismatch = cmp.all_mismatch()
work_only, qbo_only = cmp.df1_unq_rows, cmp.df2_unq_rows
s = time.perf_counter() - t
m = mismatch
sets = {"total": sorted(m.loc[m["total_cents_work"] != m["total_cents_qbo"], "number"].astype(str)),
        "date": sorted(mismatch.loc[mismatch["date_work"] != mismatch["date_qbo"], "number"].astype(str)),
        "work_only": sorted(work_only["number"].astype(str)), "qbo_only": sorted(qbo_only["number"].astype(str))}
json.dump({"seconds": s, "peak_rss": peak_rss(),
           "sets": sets}, open(out, "w"))
"""


def _child(code: str, n: int, diffs: int, out: Path) -> dict[str, Any]:
    subprocess.run([sys.executable, "-c", code, str(n), str(diffs), str(out)], check=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def measure_recon(size: dict[str, Any], tmp: Path) -> dict[str, Any]:
    n, diffs = size["recon_rows"], size["recon_diffs"]
    ours = _child(CHILD_OURS, n, diffs, tmp / "recon-ours.json")
    base = _child(CHILD_DATACOMPY, n, diffs, tmp / "recon-datacompy.json")
    same = ours["sets"] == base["sets"]
    planted = sum(len(v) for v in ours["sets"].values())
    return {"rows": n, "planted": diffs, "found": planted, "same": same, "ours_seconds": ours["seconds"],
            "ours_rss": ours["peak_rss"], "base_seconds": base["seconds"], "base_rss": base["peak_rss"],
            "diff_detail": {k: (len(ours["sets"][k]), len(base["sets"][k])) for k in ours["sets"]}}


# --------------------------------------------------------------------------------------------
# 5: make demo
# --------------------------------------------------------------------------------------------


def measure_demo(size: dict[str, Any]) -> dict[str, Any]:
    if not size["demo"]:
        # smoke: the script parses; running it takes a minute
        subprocess.run(["bash", "-n", str(ROOT / "scripts" / "demo.sh")], check=True)
        return {"seconds": None, "rc": 0}
    started = time.perf_counter()
    proc = subprocess.run(["bash", "scripts/demo.sh"], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
    return {"seconds": seconds, "rc": proc.returncode}


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------


def _mb(b: float) -> str:
    return f"{b / 2**20:,.0f} MB"


def table(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    s, nv, noop, rc, demo = r.get("sync"), r.get("naive"), r.get("noop"), r.get("recon"), r.get("demo")
    if s:
        frac = s["ops_per_min"] / CEILING_OPS_PER_MIN
        kinds = s.get("kinds") or {}
        sent = f"; {kinds['batch']:,} batch + {kinds['single']:,} single requests" if kinds else ""
        rows.append(Row("1. initial sync: operations per scaled minute / ceiling",
                        f"{s['ops_per_min']:,.0f}/min ({s['ops']:,} ops in {s['scaled_minutes']:.1f} scaled min{sent})",
                        f"ceiling {CEILING_OPS_PER_MIN:,}/min", f"{frac:.1%}", ">= 90%", frac >= 0.90))
        share = s["throttled"] / max(s["requests"], 1)
        rows.append(Row("1. initial sync: requests answered 429", f"{s['throttled']} of {s['requests']:,}",
                        "-", f"{share:.2%}", "<= 1%", share <= 0.01))
    if s and nv:
        ratio = nv["seconds"] / s["seconds"]
        rows.append(Row("2. same data vs naive python-quickbooks loop (wall time)",
                        f"{s['seconds']:.1f} s ({s['ops']:,} ok)",
                        f"{nv['seconds']:.1f} s ({nv['ok']:,} ok, {nv['failed']} failed, {nv['throttled']} 429)",
                        f"{ratio:.1f}x faster", ">= 5x", ratio >= 5))
    if noop:
        rows.append(Row(f"3. no-op incremental sync ({noop['clients']:,} clients, {noop['invoices']:,} invoices): "
                        "API requests", str(noop["requests"]), "-", "-", "<= 3", noop["requests"] <= 3))
        rows.append(Row("3. no-op incremental sync: local time", f"{noop['seconds']:.2f} s", "-", "-", "< 2 s",
                        noop["seconds"] < 2))
    if rc:
        ratio = rc["base_seconds"] / rc["ours_seconds"]
        rows.append(Row(f"4. reconcile {rc['rows']:,} invoices/side: time", f"{rc['ours_seconds']:.2f} s",
                        f"datacompy {rc['base_seconds']:.2f} s", f"{ratio:.1f}x faster", "< 5 s and >= 3x",
                        rc["ours_seconds"] < 5 and ratio >= 3))
        rows.append(Row("4. reconcile: peak RSS (child process)", _mb(rc["ours_rss"]),
                        f"datacompy {_mb(rc['base_rss'])}", "-", "< 2 GB", rc["ours_rss"] < 2 * 2**30))
        rows.append(Row("4. reconcile: same differences found", f"{rc['found']:,} ({rc['planted']:,} planted)",
                        "datacompy: " + ("same sets" if rc["same"] else "DIFFERENT sets"), "-", "equal sets",
                        rc["same"]))
    if r.get("mirror"):
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from mirror_bench import rows as mirror_rows

        rows += mirror_rows(r["mirror"], Row)
    if r.get("csv"):
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from csv_bench import rows as csv_rows

        rows += csv_rows(r["csv"], Row)
    if r.get("history"):
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from history_bench import rows as history_rows

        rows += history_rows(r["history"], Row)
    if demo:
        if demo["seconds"] is None:
            rows.append(Row("5. make demo wall time", "not run (smoke: syntax only)", "-", "-", "< 90 s", None))
        else:
            rows.append(Row("5. make demo wall time (bash scripts/demo.sh)",
                            f"{demo['seconds']:.1f} s" + ("" if demo["rc"] == 0 else f" (exit {demo['rc']})"),
                            "-", "-", "< 90 s", demo["rc"] == 0 and demo["seconds"] < 90))
    return rows


def render(rows: list[Row]) -> str:
    out = ["| measure | ours | baseline | ratio | goal | pass/fail |", "|---|---|---|---|---|---|"]
    out += [f"| {r.measure} | {r.ours} | {r.baseline} | {r.ratio} | {r.goal} | {r.verdict} |" for r in rows]
    return "\n".join(out)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.node()}: {cpu}, {os.cpu_count()} cores, {mem:.0f} GB RAM, Linux {platform.release()}, " \
           f"Python {platform.python_version()}"


MEASURES = ("sync", "naive", "noop", "recon", "demo", "mirror", "csv", "history")


#: the raw figures' key that says which run made each measure's figures
RUNS_KEY = "_runs"


def previous_results(path: Path) -> tuple[dict[str, Any], str]:
    """The raw figures of the last written RESULTS.md and its date and command, ({}, "") without one."""
    try:
        text = path.read_text()
        block = text.split("```json\n", 1)[1].split("\n```", 1)[0]
        figures = json.loads(block)
    except (OSError, IndexError, ValueError):
        return {}, ""
    date = next((line[len("* Date: "):] for line in text.splitlines() if line.startswith("* Date: ")), "?")
    command = next((line[len("* Command: "):] for line in text.splitlines() if line.startswith("* Command: ")), "?")
    return (figures if isinstance(figures, dict) else {}), f"{date}, {command}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="smoke")
    parser.add_argument("--only", nargs="*", choices=MEASURES, help="run only these measures")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--no-write", action="store_true", help="full size, but do not write RESULTS.md")
    parser.add_argument("--fraction", type=float, default=1.0,
                        help="scale the sync and no-op record counts by this factor (stated in RESULTS.md)")
    parser.add_argument("--tmp", default="/dev/shm" if Path("/dev/shm").is_dir() else None,
                        help="where the scratch WORK stores and emulators live (default /dev/shm)")
    args = parser.parse_args(argv)
    size = dict(SIZES[args.size])
    if args.fraction != 1.0:
        size["sync"] = {k: max(int(v * args.fraction), 40) for k, v in size["sync"].items()}
        size["noop"] = {k: max(int(v * args.fraction), 40) for k, v in size["noop"].items()}
    wanted = set(args.only or MEASURES)
    raw: dict[str, Any] = {}
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="qbo-bench-", dir=args.tmp) as t:
        tmp = Path(t)
        for name in MEASURES:
            if name not in wanted:
                continue
            t0 = time.perf_counter()
            print(f"[bench] {name} ...", file=sys.stderr, flush=True)
            if name == "sync":
                raw["sync"], store = measure_sync(size, tmp)
                store.close()
            elif name == "naive":
                raw["naive"] = measure_naive(size, tmp)
            elif name == "noop":
                raw["noop"] = measure_noop(size, tmp)
            elif name == "recon":
                raw["recon"] = measure_recon(size, tmp)
            elif name == "demo":
                raw["demo"] = measure_demo(size)
            elif name == "mirror":
                sys.path.insert(0, str(ROOT / "benchmarks"))  # its sibling module, however run.py was loaded
                from mirror_bench import SIZES as MIRROR_SIZES
                from mirror_bench import measure_mirror

                raw["mirror"] = measure_mirror({**size, "mirror": MIRROR_SIZES[args.size]}, tmp)
            elif name == "csv":
                sys.path.insert(0, str(ROOT / "benchmarks"))
                from csv_bench import SIZES as CSV_SIZES
                from csv_bench import measure_csv

                raw["csv"] = measure_csv(CSV_SIZES[args.size]["rows"], tmp)
            elif name == "history":
                sys.path.insert(0, str(ROOT / "benchmarks"))
                from history_bench import measure_history

                raw["history"] = measure_history(args.size, tmp)
            print(f"[bench] {name}: {time.perf_counter() - t0:.1f} s {json.dumps(raw[name], default=str)[:600]}",
                  file=sys.stderr, flush=True)
    kept_note = ""
    results = ROOT / "benchmarks" / "RESULTS.md"
    command = "make bench  (.venv/bin/python benchmarks/run.py " + shlex.join(argv or sys.argv[1:]) + ")"
    # when and by which command each measure's figures were made (kept with the raw figures)
    runs = {name: f"{started:%Y-%m-%d %H:%M} UTC, `{command}`" for name in raw}
    if args.only and args.size == "full" and not args.no_write:
        # a partial run keeps the other measures' figures of earlier runs, and says which run made each
        earlier, earlier_header = previous_results(results)
        earlier_runs = earlier.pop(RUNS_KEY, None) or {}
        kept = {name: value for name, value in earlier.items() if name not in raw and name in MEASURES}
        if kept:
            for name in kept:
                runs[name] = earlier_runs.get(name) or earlier_header
            groups: dict[str, list[str]] = {}
            for name in MEASURES:
                if name in kept:
                    groups.setdefault(runs[name], []).append(name)
            kept_note = (f"* Measures run by this command: {', '.join(n for n in MEASURES if n in raw)}; the others "
                         "are kept from earlier runs: "
                         + "; ".join(f"{', '.join(names)} from {when}" for when, names in groups.items()) + "\n")
            raw = {name: raw[name] if name in raw else kept[name] for name in MEASURES if name in raw or name in kept}
    rows = table(raw)
    text = render(rows)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(raw, indent=2, default=str))
    if args.size == "full" and not args.no_write:
        sizes = (f"sync {size['sync']}, time scale {size['time_scale']:g}, latency {LATENCY_MEAN - LATENCY_JITTER:g}-"
                 f"{LATENCY_MEAN + LATENCY_JITTER:g} scaled s; no-op {size['noop']}; reconciliation "
                 f"{size['recon_rows']:,} rows/side, {size['recon_diffs']:,} planted; scratch stores in {args.tmp}")
        results.write_text(
            f"# Benchmark results\n\n* Machine: {machine()}\n* Date: {started:%Y-%m-%d %H:%M} UTC\n"
            f"* Command: `{command}`\n{kept_note}* Sizes: {sizes}\n"
            f"* Ceiling: {BATCH_PER_MINUTE} batches/min x {BATCH_ITEMS} ops + ({PER_MINUTE} - {BATCH_PER_MINUTE}) "
            f"single requests/min = {CEILING_OPS_PER_MIN:,} operations per scaled minute\n\n{text}\n\n"
            f"Raw figures:\n\n```json\n{json.dumps({**raw, RUNS_KEY: runs}, indent=2, default=str)}\n```\n")
    return 0 if all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
