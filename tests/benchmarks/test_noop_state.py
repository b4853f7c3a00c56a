"""The no-op benchmark's in-sync state is the one a real initial sync leaves.

``benchmarks/run.py`` reaches the state for 100,000 clients and invoices by creating the plain
records in the emulator's company ahead (``bulk_in_sync``) and then running the engine's own
initial sync over HTTP for the rest (``in_sync_state``). Here, at a small size, that state is compared with the state
the engine's initial sync leaves on its own: the same id-map rows (SyncTokens, WORK versions, base
values, fingerprints of what was sent), the same QBO documents, the same activity entries, match
decisions, WORK clients and sync values. Only QBO's ids (handed out in another order), timestamps
and the run an activity entry belongs to differ.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
SIZE = 120


def _without_ids(doc: dict[str, Any]) -> dict[str, Any]:
    """A QBO document without its own Id, its timestamps and the ids it refers to."""
    doc = json.loads(json.dumps(doc, default=str))
    doc.pop("Id", None)
    doc.pop("MetaData", None)
    for key in ("CustomerRef", "ParentRef"):
        if isinstance(doc.get(key), dict):
            doc[key].pop("value", None)
    for key in ("BillAddr", "ShipAddr"):  # QBO numbers addresses company-wide, in the order they were made
        if isinstance(doc.get(key), dict):
            doc[key].pop("Id", None)
    for line in doc.get("Line") or []:
        detail = line.get("SalesItemLineDetail") or {}
        if isinstance(detail.get("ItemRef"), dict):
            detail["ItemRef"].pop("value", None)
    return doc


def _state(bench: ModuleType, workdir: Path, *, bulk: bool) -> dict[str, Any]:
    from qbo_toolkit.mapping import invoices as imap
    from qbo_toolkit.qbo.query import select
    from qbo_toolkit.sync.engine import SyncEngine
    from qbo_toolkit.sync.invoices import fingerprint as _fingerprint
    from qbo_toolkit.work.demo import generate_demo
    from qbo_toolkit.work.store import WorkStore

    workdir.mkdir()
    store = WorkStore(f"sqlite:///{workdir}/work.sqlite3")
    summary = generate_demo(store, integration_date=bench.INTEGRATION_DATE, clients=SIZE, invoices=SIZE, payments=0,
                            credit_notes=0, refunds=0)  # the bulk loader knows customers, items, invoices
    args = ["--time-scale", "100000", "--no-throttle"]
    if bulk:  # the benchmark's way; the emulator process then serves what it left
        bench.in_sync_state(store, summary, workdir)
        args = ["--data-dir", str(workdir / "emulator-data"), *args]
    with bench.emulator(workdir, *args):
        conn = bench.connect(workdir)
        if not bulk:
            SyncEngine(store, conn.client, bench.settings()).run()
        docs: dict[tuple[str, str], dict[str, Any]] = {}
        terms = {str(t.to_dict()["Name"]): str(t.to_dict()["Id"]) for t in conn.client.query_all(select("Term"))}
        for entity in ("Customer", "Invoice", "Item"):
            query = select(entity) if entity == "Invoice" else select(entity).include_inactive()
            for obj in conn.client.query_all(query):
                doc = obj.to_dict()
                docs[(entity, str(doc["Id"]))] = doc
    with store.engine.connect() as c:
        links = [dict(r._mapping) for r in c.execute(sa.text(
            "SELECT entity, work_id, qbo_id, sync_token, work_version, base, fingerprint, qbo_name, state "
            "FROM sync_links"))]
        values = {r.key: json.loads(r.value) for r in c.execute(sa.text("SELECT key, value FROM sync_values"))}
        # the run's last entry names its run ("sync run 2 completed with ..."): the run differs, not the entry
        activity = Counter((*tuple(r[:-1]), re.sub(r"^sync run \d+ ", "sync run N ", r[-1] or "")) for r in c.execute(
            sa.text("SELECT entity, direction, action, outcome, work_id, field, message FROM sync_activity")))
        matches = sorted(tuple(r) for r in c.execute(sa.text("SELECT work_id, qbo_id, kind, status FROM sync_matches")))
        clients = [{k: v for k, v in r._mapping.items() if k not in ("created_at", "updated_at")}
                   for r in c.execute(sa.text("SELECT * FROM work_clients ORDER BY id"))]
    qbo_id = {(link["entity"], link["work_id"]): link["qbo_id"] for link in links}
    item_ids: dict[int | None, str] = {wid: q for (e, wid), q in qbo_id.items() if e == "item"}
    item_ids[None] = values["default_item"]
    entity_of = {"customer": "Customer", "invoice": "Invoice", "item": "Item"}
    rows = {}
    for link in links:
        key = (link["entity"], link["work_id"])
        row = {k: v for k, v in link.items() if k not in ("qbo_id", "fingerprint")}
        if link["entity"] == "invoice":  # what was sent, with this company's ids
            inv = store.get_invoice(link["work_id"])
            assert inv is not None
            sent = imap.invoice_to_qbo(inv, customer_id=qbo_id[("customer", inv.client_id)], item_ids=item_ids,
                                       term_id=terms.get(inv.terms) if inv.terms else None)
            row["fingerprint_is_of_the_payload"] = link["fingerprint"] == _fingerprint(sent)
        else:
            row["fingerprint"] = link["fingerprint"]
        row["qbo"] = _without_ids(docs[(entity_of[link["entity"]], link["qbo_id"])])
        rows[key] = row
    store.close()
    values.pop("cdc_since")  # when the run started
    return {"links": rows, "values": values, "activity": activity, "matches": matches, "clients": clients,
            "qbo_documents": Counter(entity for entity, _ in docs)}


def test_bulk_load_then_initial_sync_leaves_the_state_of_an_initial_sync(bench_script: Callable[[str], ModuleType],
                                                                         tmp_path: Path) -> None:
    bench = bench_script("run")
    engine_only = _state(bench, tmp_path / "engine", bulk=False)
    bulk_first = _state(bench, tmp_path / "bulk", bulk=True)
    assert len(engine_only["links"]) > SIZE  # customers, invoices and items are linked
    assert all(row.get("fingerprint_is_of_the_payload", True) for row in engine_only["links"].values())
    for part in ("values", "activity", "matches", "clients", "qbo_documents"):
        assert bulk_first[part] == engine_only[part], part
    assert bulk_first["links"].keys() == engine_only["links"].keys()
    differing = [key for key, row in engine_only["links"].items() if bulk_first["links"][key] != row]
    assert not differing, f"{len(differing)} links differ, e.g. {differing[:3]}"
