"""The local QBO mirror against the emulator over real HTTP (no mocks).

* **The property of Done-when:** for several seeds, a random day of changes on both sides (WORK:
  edited and new invoices, new and deleted payments, synced by the real sync; QBO, over raw HTTP with
  the connection's OAuth session: customer and invoice edits, voids, deletes, new payments, a
  customer merged into another) and the mirror, kept current only by the sync's CDC, the sync's write
  replies and one CDC of its own, equals a fresh full read: object for object as QBO sends them, and
  as the reconciliation's frames.
* The sync's writes land in the mirror from their replies (before any read of the mirror's own).
* Reconciliation from the mirror gives the result of ``fresh`` and makes at most 5 metered requests,
  counted by the emulator's own meter (``GET /_emulator/meter``).
* A mirror past CDC's 30-day window is read afresh and says so; verification reads only the months
  that differ.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests
from synckit import SETTINGS, SMALL_DEMO, World, open_world

from qbo_toolkit.errors import WorkDataError
from qbo_toolkit.mirror import Mirror
from qbo_toolkit.mirror.store import ENTITIES
from qbo_toolkit.qbo.query import iter_pages, select
from qbo_toolkit.recon import reconcile_live
from qbo_toolkit.recon.extract import extract_mirror, extract_qbo

AS_OF = date(2026, 6, 30)
_ids = itertools.count(1)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with open_world(tmp_path, monkeypatch, demo=SMALL_DEMO) as w:
        yield w


# ------------------------------------------------------------------------------------------------
# QBO over raw HTTP (the connection's OAuth session; none of the toolkit's client logic)
# ------------------------------------------------------------------------------------------------
class RawQbo:
    def __init__(self, w: World) -> None:
        self.session = w.conn.client.transport.inner
        self.base = f"{w.conn.client.api_base_url}/company/{w.realm}"

    def _post(self, path: str, body: dict[str, Any], **params: str) -> dict[str, Any]:
        params = {**params, "requestid": f"mirror-test-{next(_ids)}"}
        reply = self.session.post(f"{self.base}/{path}", json=body, params=params,
                                  headers={"Accept": "application/json"}, timeout=30)
        assert reply.status_code == 200, reply.text
        return dict(reply.json())

    def read(self, entity: str, qbo_id: str) -> dict[str, Any]:
        reply = self.session.get(f"{self.base}/{entity.lower()}/{qbo_id}", headers={"Accept": "application/json"},
                                 timeout=30)
        assert reply.status_code == 200, reply.text
        return dict(reply.json()[entity])

    def query(self, statement: str) -> list[dict[str, Any]]:
        reply = self.session.get(f"{self.base}/query", params={"query": statement},
                                 headers={"Accept": "application/json"}, timeout=30)
        assert reply.status_code == 200, reply.text
        found = reply.json().get("QueryResponse") or {}
        return next((list(v) for v in found.values() if isinstance(v, list)), [])

    def update(self, entity: str, qbo_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        token = self.read(entity, qbo_id)["SyncToken"]
        return self._post(entity.lower(), {**fields, "Id": qbo_id, "SyncToken": token, "sparse": True})[entity]

    def void(self, entity: str, qbo_id: str) -> None:
        token = self.read(entity, qbo_id)["SyncToken"]
        if entity == "Payment":
            self._post("payment", {"Id": qbo_id, "SyncToken": token, "sparse": True}, operation="update",
                       include="void")
        else:
            self._post(entity.lower(), {"Id": qbo_id, "SyncToken": token}, operation="void")

    def delete(self, entity: str, qbo_id: str) -> None:
        token = self.read(entity, qbo_id)["SyncToken"]
        self._post(entity.lower(), {"Id": qbo_id, "SyncToken": token}, operation="delete")

    def create(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._post(entity.lower(), body)[entity]


def fresh_objects(w: World, entity: str) -> dict[str, Any]:
    """Every object a full query lists, by Id, as QBO sent it (the oracle of the mirror)."""
    sel = select(entity).order_by("Id")
    if entity == "Customer":
        sel = sel.include_inactive()
    rows: dict[str, Any] = {}
    for page in iter_pages(sel.page, lambda text: w.conn.client.query_timed(text)[0]):
        rows.update({str(r["Id"]): r for r in page})
    return rows


def assert_mirror_equals_fresh(w: World, mirror: Mirror) -> None:
    for entity in ENTITIES:
        mine = {str(o["Id"]): o for o in mirror.objects(entity)}
        theirs = fresh_objects(w, entity)
        assert sorted(mine, key=int) == sorted(theirs, key=int), entity
        for qbo_id, obj in theirs.items():
            assert mine[qbo_id] == obj, (entity, qbo_id)
    a, b = extract_mirror(mirror), extract_qbo(w.conn.client)
    for name in ("customers", "invoices", "payments", "payment_lines", "credit_memos", "credit_lines", "refunds",
                 "tax_lines"):
        pd.testing.assert_frame_equal(getattr(a, name).reset_index(drop=True), getattr(b, name).reset_index(drop=True),
                                      obj=name)


def meter(w: World) -> int:
    """Metered (CorePlus) calls so far, by the emulator's own meter."""
    reply = requests.get(f"{w.emu.base_url}/_emulator/meter", timeout=30)
    reply.raise_for_status()
    return sum(m["coreplus"] for m in reply.json().get(w.realm, {}).values())


# ------------------------------------------------------------------------------------------------
# A random day on both sides
# ------------------------------------------------------------------------------------------------
def work_day(w: World, rng: random.Random, seed: int) -> None:
    store = w.store
    invoices = [i for i in store.invoices() if i.issue_date >= SETTINGS.integration_date and i.status == "open"]
    for invoice in rng.sample(invoices, min(3, len(invoices))):
        store.update_invoice(invoice.id, due_date=invoice.issue_date + timedelta(days=rng.randint(10, 60)))
    clients = [c for c in store.clients() if c.active]
    lines = store.get_invoice(invoices[0].id).lines if hasattr(store, "get_invoice") else invoices[0].lines
    for n in range(rng.randint(1, 3)):
        client = rng.choice(clients)
        line = lines[0]
        store.add_invoice(f"MIR-{seed}-{n}", client.id, date(2026, rng.randint(2, 5), rng.randint(1, 28)),
                          lines=[{"item_id": line.item_id, "description": "mirror test", "qty": Decimal(1),
                                  "unit_price": Decimal(f"{rng.randint(20, 400)}.{rng.randint(0, 99):02d}"),
                                  "tax_rate": line.tax_rate, "taxable": line.taxable}])
    payable = [i for i in store.invoices() if i.issue_date >= SETTINGS.integration_date and i.status == "open"]
    made = 0
    for invoice in rng.sample(payable, len(payable)):
        try:
            store.add_payment(invoice.id, invoice.issue_date + timedelta(days=3), Decimal("1.00"))
        except WorkDataError:  # paid in full already
            continue
        made += 1
        if made == 2:
            break
    paid = [p for p in store.payments() if p.date >= SETTINGS.integration_date]
    if paid:
        store.delete_payment(rng.choice(paid).id)


def qbo_day(w: World, raw: RawQbo, rng: random.Random) -> None:
    customers = raw.query("SELECT * FROM Customer WHERE Active = true MAXRESULTS 1000")
    for c in rng.sample(customers, 2):
        raw.update("Customer", str(c["Id"]), {"PrimaryPhone": {"FreeFormNumber": f"555-{rng.randint(1000, 9999)}"}})
    invoices = raw.query("SELECT * FROM Invoice MAXRESULTS 1000")
    payments = raw.query("SELECT * FROM Payment MAXRESULTS 1000")
    paid = {str(t.get("TxnId")) for p in payments for line in p.get("Line") or () for t in line.get("LinkedTxn") or ()}
    unpaid = [i for i in invoices if str(i["Id"]) not in paid and Decimal(str(i.get("TotalAmt") or 0)) > 0]
    rng.shuffle(unpaid)
    edited, voided = unpaid[0], unpaid[1]
    due = date(2026, 7, 1) + timedelta(days=rng.randint(0, 60))
    raw.update("Invoice", str(edited["Id"]), {"DueDate": due.isoformat()})
    raw.void("Invoice", str(voided["Id"]))
    target = unpaid[2]
    link = [{"TxnId": str(target["Id"]), "TxnType": "Invoice"}]
    raw.create("Payment", {"CustomerRef": target["CustomerRef"], "TotalAmt": "2.50", "TxnDate": target["TxnDate"],
                           "Line": [{"Amount": "2.50", "LinkedTxn": link}]})
    if payments:
        raw.delete("Payment", str(rng.choice(payments)["Id"]))
    # a merge, as the API sees one: the merged customer's invoices move to the other, which stays; it goes inactive
    moved = unpaid[3]
    survivor = next(c for c in customers if str(c["Id"]) != str(moved["CustomerRef"]["value"]))
    raw.update("Invoice", str(moved["Id"]), {"CustomerRef": {"value": str(survivor["Id"])}})
    gone = str(moved["CustomerRef"]["value"])
    if not [i for i in raw.query(f"SELECT * FROM Invoice WHERE CustomerRef = '{gone}'")
            if Decimal(str(i.get("Balance") or 0)) != 0]:
        raw.update("Customer", gone, {"Active": False})


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_mirror_equals_a_fresh_read_after_a_random_day(world: World, seed: int) -> None:
    w, rng, raw = world, random.Random(seed), RawQbo(world)
    assert w.sync().completed
    mirror = Mirror(w.store, w.conn.client)
    first = mirror.bring_current()
    assert first.mode == "full" and "first read" in first.text
    assert_mirror_equals_fresh(w, mirror)

    qbo_day(w, raw, rng)  # before the sync: the sync's CDC carries these to the mirror
    work_day(w, rng, seed)
    log = w.log_mark()
    result = w.sync()
    assert result.completed, result.text
    cdc = [e for e in w.data_requests(log) if e["path"].endswith("/cdc")]
    assert len(cdc) == 1, cdc  # one CDC request named the customers and the mirrored entities
    assert "Invoice" in str(cdc[0]) and "Payment" in str(cdc[0])
    # no read of its own yet: the sync's CDC brought QBO's edits, the write replies the sync's records
    # (their side effects on other records, a customer's Balance after a payment, come with the next CDC)
    held = {str(o["Id"]): o for o in mirror.objects("Invoice")}
    assert {link.qbo_id for link in w.state.links("invoice").values()} <= set(held)
    assert {f"MIR-{seed}-0"} <= {o.get("DocNumber") for o in held.values()}
    linked = {link.qbo_id for link in w.state.links("payment").values()} & set(fresh_objects(w, "Payment"))
    assert linked <= {str(o["Id"]) for o in mirror.objects("Payment")}

    w.emu.clock.advance(2)
    qbo_day(w, raw, rng)  # after the sync: the mirror's own CDC brings these
    read = mirror.bring_current()
    assert read.mode == "cdc" and read.requests == 1, read.text
    assert_mirror_equals_fresh(w, mirror)


def test_the_syncs_writes_reach_the_mirror_from_their_replies(world: World) -> None:
    w = world
    w.store.update_client(1, phone="555-0101")  # a change for the first run's customer stage too
    assert w.sync().completed
    mirror = Mirror(w.store, w.conn.client)
    mirror.bring_current()
    work_day(w, random.Random(9), 9)
    assert w.sync().completed
    links = w.state.links("invoice")
    new = [link.qbo_id for link in links.values()]
    held = {str(o["Id"]): o for o in mirror.objects("Invoice")}
    assert set(new) <= set(held)
    numbers = {o.get("DocNumber") for o in held.values()}
    assert {"MIR-9-0"} <= numbers


def test_reconciling_from_the_mirror_matches_fresh_with_at_most_5_metered_requests(world: World) -> None:
    w = world
    assert w.sync().completed
    reads: list[Any] = []
    reconcile_live(w.conn, w.store, as_of=AS_OF, settings=SETTINGS, on_read=reads.append)  # fills the mirror
    assert reads[-1].mode == "full"
    RawQbo(w).update("Customer", "3", {"PrimaryPhone": {"FreeFormNumber": "555-0303"}})
    before = meter(w)
    cheap = reconcile_live(w.conn, w.store, as_of=AS_OF, settings=SETTINGS, on_read=reads.append)
    spent = meter(w) - before
    assert reads[-1].mode == "cdc" and spent <= 5, (spent, reads[-1].text)
    before = meter(w)
    full = reconcile_live(w.conn, w.store, as_of=AS_OF, settings=SETTINGS, fresh=True, on_read=reads.append)
    assert reads[-1].mode == "fresh" and "--fresh" in reads[-1].text and meter(w) - before > spent
    assert reads[-1].requests >= 5 and reads[-1].records > 0
    assert cheap.verdict == full.verdict and cheap.in_agreement == full.in_agreement
    for name, frame in full.frames.items():
        pd.testing.assert_frame_equal(cheap.frames[name].reset_index(drop=True), frame.reset_index(drop=True), obj=name)


def test_a_mirror_past_the_cdc_window_is_read_afresh(world: World) -> None:
    w = world
    assert w.sync().completed
    mirror = Mirror(w.store, w.conn.client)
    mirror.bring_current()
    w.emu.clock.advance(31 * 86400)
    RawQbo(w).update("Customer", "4", {"PrimaryPhone": {"FreeFormNumber": "555-0404"}})
    read = mirror.bring_current()
    assert read.mode == "full" and "read afresh" in read.text, read.text
    assert_mirror_equals_fresh(w, mirror)


def test_verification_reads_only_the_months_that_differ(world: World) -> None:
    w = world
    assert w.sync().completed
    mirror = Mirror(w.store, w.conn.client)
    mirror.bring_current()
    quiet = mirror.verify()
    assert quiet.reread == [] and quiet.records <= quiet.checked, quiet.text
    # changed in QBO, never told to the mirror (no CDC): an invoice edited in one month, an unpaid one
    # deleted in another (which changes its customer's Balance: the customers are read again too)
    raw = RawQbo(w)
    invoices = raw.query("SELECT * FROM Invoice MAXRESULTS 1000")
    paid = {str(t.get("TxnId")) for p in raw.query("SELECT * FROM Payment MAXRESULTS 1000")
            for line in p.get("Line") or () for t in line.get("LinkedTxn") or ()}
    by_month: dict[str, list[dict[str, Any]]] = {}
    for invoice in invoices:
        by_month.setdefault(invoice["TxnDate"][:7], []).append(invoice)
    unpaid = [i for i in invoices if str(i["Id"]) not in paid and Decimal(str(i.get("TotalAmt") or 0)) > 0]
    gone = unpaid[-1]
    edited = next(i for i in invoices if i["TxnDate"][:7] != gone["TxnDate"][:7])
    w.emu.clock.advance(2)
    raw.update("Invoice", str(edited["Id"]), {"DueDate": "2026-09-30"})
    raw.delete("Invoice", str(gone["Id"]))
    found = mirror.verify()
    months = {edited["TxnDate"][:7], gone["TxnDate"][:7]}
    assert sorted(found.reread) == sorted(["Customer", *(f"Invoice {m}" for m in months)]), found.text
    customers = len(fresh_objects(w, "Customer"))
    assert found.records <= found.checked + customers + sum(len(by_month[m]) for m in months), found.text
    assert_mirror_equals_fresh(w, mirror)


def test_the_reconcile_job_says_how_qbo_was_read_and_fresh_what_it_cost(world: World, tmp_path: Path) -> None:
    import json

    from qbo_toolkit.jobs.reconcile import reconcile_job

    w = world
    assert w.sync().completed
    path = tmp_path / "settings.yaml"
    SETTINGS.save(path)
    said: list[Any] = []
    reconcile_job(settings=str(path), as_of=AS_OF.isoformat(), output_dir=str(tmp_path / "first"),
                  record=False, on_read=said.append)
    first = json.loads((tmp_path / "first" / "summary.json").read_text())
    assert first["qbo_read"]["mode"] == "full" and said[-1].mode == "full"
    reconcile_job(settings=str(path), as_of=AS_OF.isoformat(), output_dir=str(tmp_path / "second"), record=False)
    second = json.loads((tmp_path / "second" / "summary.json").read_text())
    assert second["qbo_read"]["mode"] == "cdc" and second["qbo_read"]["requests"] == 1
    reconcile_job(settings=str(path), as_of=AS_OF.isoformat(), output_dir=str(tmp_path / "fresh"), record=False,
                  fresh=True)
    fresh = json.loads((tmp_path / "fresh" / "summary.json").read_text())
    read = fresh["qbo_read"]
    assert read["mode"] == "fresh" and read["requests"] >= 5 and read["records"] > 100
    assert f"{read['requests']:,} requests, {read['records']:,} records" in fresh["message"], fresh["message"]


def test_a_verification_asked_for_runs_after_the_cdc_and_says_what_it_read(world: World) -> None:
    w = world
    assert w.sync().completed
    reads: list[Any] = []
    reconcile_live(w.conn, w.store, as_of=AS_OF, settings=SETTINGS, on_read=reads.append, verify_mirror=True)
    assert reads[-1].mode == "full" and reads[-1].verification is None  # just read: nothing to verify
    reconcile_live(w.conn, w.store, as_of=AS_OF, settings=SETTINGS, on_read=reads.append, verify_mirror=True)
    read = reads[-1]
    assert read.mode == "cdc" and read.verification is not None and read.verification.reread == []
    assert "mirror verified" in read.text and read.to_dict()["verification"]["checked"] == read.verification.checked
