"""Durability of the emulator, as QBO's: an answered write is kept, whatever happens to the process.

* The store commits to SQLite before memory, and refuses writes once closed.
* The company's name and DocNumber indexes follow what is committed, not what was tried.
* Batch items remember their answers under (realm, requestid, bId) with their change, so a batch cut
  short and resent with its requestid replays what ran and runs the rest once.
* A graceful stop answers the requests in flight, runs no new one, then closes the store.
* Real processes (``qbo-toolkit emulator``) killed with SIGKILL while writing, mid-batch, and stopped
  with SIGTERM while writing: every answered write is there after a restart, and no Id is reused.

Timing is never asserted tightly: the tests poll with generous deadlines (a busy 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from wirekit import connect, unique

from qbo_toolkit.emulator import EmulatorConfig, EmulatorServer
from qbo_toolkit.emulator.cli import add_arguments, config_from_args
from qbo_toolkit.emulator.clock import Clock
from qbo_toolkit.emulator.company import Company
from qbo_toolkit.emulator.faults import EmuFault
from qbo_toolkit.emulator.seed import seed_company
from qbo_toolkit.emulator.server import Emulator
from qbo_toolkit.emulator.store import Store, StoreUnavailable
from qbo_toolkit.emulator.wire import Request

REALM = "9341455000000001"
DEADLINE = 60.0  # seconds: generous, the tests poll and never assert tight timings

Start = Callable[..., EmulatorServer]


def _invoice_body(customer_id: str, amount: int = 10, **fields: Any) -> dict[str, Any]:
    return {"CustomerRef": {"value": customer_id}, **fields,
            "Line": [{"DetailType": "SalesItemLineDetail", "Amount": amount,
                      "SalesItemLineDetail": {"ItemRef": {"value": "2"}, "Qty": 1, "UnitPrice": amount}}]}


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# -- the store -------------------------------------------------------------------------------------------------------

class _FailingCommit:
    """Stands in for the SQLite connection: everything runs, COMMIT fails like a full disk would."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    @property
    def in_transaction(self) -> bool:
        return self.db.in_transaction

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT":
            raise sqlite3.OperationalError("database or disk is full")
        return self.db.execute(sql, *args)

    def close(self) -> None:
        self.db.close()


def test_a_failed_commit_leaves_memory_and_file_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "emulator.sqlite3"
    store = Store(path)
    with store.transaction():
        store.put(REALM, "Customer", {"Id": "1", "DisplayName": "Kept"}, 1.0)
        store.next_value(REALM, "id:Customer")
    real = store._db
    assert real is not None
    store._db = _FailingCommit(real)  # type: ignore[assignment]
    undone: list[str] = []
    with pytest.raises(StoreUnavailable):
        with store.transaction():
            store.put(REALM, "Customer", {"Id": "2", "DisplayName": "Lost"}, 2.0)
            store.put(REALM, "Customer", {"Id": "1", "DisplayName": "Changed"}, 2.0)
            assert store.next_value(REALM, "id:Customer") == 2
            store.kv_put("replay", "r1", {"status": 200})
            store.on_rollback(lambda: undone.append("index"))
    assert undone == ["index"]  # derived state is taken back too
    # memory is as it was before the transaction
    assert store.get(REALM, "Customer", "2") is None
    assert store.get(REALM, "Customer", "1") == {"Id": "1", "DisplayName": "Kept"}
    assert store.peek_value(REALM, "id:Customer") == 1
    assert store.kv_get("replay", "r1") is None
    # and so is the file
    store._db = real
    store.close()
    again = Store(path)
    assert [d["DisplayName"] for d in again.all(REALM, "Customer")] == ["Kept"]
    assert again.peek_value(REALM, "id:Customer") == 1
    again.close()


def test_a_closed_store_refuses_every_write(tmp_path: Path) -> None:
    store = Store(tmp_path / "emulator.sqlite3")
    store.put(REALM, "Customer", {"Id": "1", "DisplayName": "Before"}, 1.0)
    store.close()
    assert store.closed
    with pytest.raises(StoreUnavailable):
        store.put(REALM, "Customer", {"Id": "2", "DisplayName": "After"}, 2.0)
    with pytest.raises(StoreUnavailable):
        store.kv_put("replay", "r", {"status": 200})
    with pytest.raises(StoreUnavailable):
        store.next_value(REALM, "id:Customer")
    with pytest.raises(StoreUnavailable):
        with store.transaction():
            pass
    assert store.get(REALM, "Customer", "2") is None  # not in memory either
    assert store.get(REALM, "Customer", "1") is not None  # reads still work
    reopened = Store(tmp_path / "emulator.sqlite3")
    assert [d["Id"] for d in reopened.all(REALM, "Customer")] == ["1"]
    reopened.close()


def test_the_file_is_in_wal_mode_with_synchronous_normal(tmp_path: Path) -> None:
    # the documented choice: a COMMIT is in the WAL (the OS page cache) when it returns, which survives
    # the process being killed; FULL (an fsync per commit) would only add power-loss safety
    store = Store(tmp_path / "emulator.sqlite3")
    assert store._db is not None
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    store.close()


# -- the company's indexes follow what is committed ----------------------------------------------------------------

def _company(tmp_path: Path) -> tuple[Store, Company]:
    store = Store(tmp_path / "emulator.sqlite3")
    seed_company(store, REALM, "Durable Co")
    return store, Company(store, Clock(), REALM)


def _failing_commit(store: Store) -> Callable[[], None]:
    real = store._db
    assert real is not None
    store._db = _FailingCommit(real)  # type: ignore[assignment]

    def restore() -> None:
        store._db = real

    return restore


def test_a_name_whose_create_did_not_commit_is_free(tmp_path: Path) -> None:
    store, company = _company(tmp_path)
    restore = _failing_commit(store)
    with pytest.raises(StoreUnavailable):
        with store.transaction():
            company.create_person("Customer", {"DisplayName": "Never Kept"})
    restore()
    with store.transaction():
        created = company.create_person("Customer", {"DisplayName": "never kept"})  # no 6240
    assert store.get(REALM, "Customer", created["Id"]) is not None
    store.close()


def test_a_rename_that_did_not_commit_keeps_the_old_name_taken(tmp_path: Path) -> None:
    store, company = _company(tmp_path)
    with store.transaction():
        person = company.create_person("Customer", {"DisplayName": "Old Name"})
    restore = _failing_commit(store)
    with pytest.raises(StoreUnavailable):
        with store.transaction():
            company.update_person("Customer", {"Id": person["Id"], "SyncToken": "0", "sparse": True,
                                               "DisplayName": "New Name"})
    restore()
    with pytest.raises(EmuFault) as taken:
        with store.transaction():
            company.create_person("Vendor", {"DisplayName": "Old Name"})
    assert taken.value.code == "6240"
    with store.transaction():
        company.create_person("Vendor", {"DisplayName": "New Name"})  # free: the rename never happened
    # a refusal inside the transaction (not a commit failure) takes its index change back as well
    with pytest.raises(EmuFault):
        with store.transaction():
            company.create_person("Customer", {"DisplayName": "Refused Later"})
            company.create_person("Customer", {"DisplayName": "Refused Later"})  # 6240 rolls both back
    with store.transaction():
        company.create_person("Customer", {"DisplayName": "Refused Later"})
    store.close()


def test_a_doc_number_whose_invoice_did_not_commit_is_free_and_never_named(tmp_path: Path) -> None:
    store, company = _company(tmp_path)
    restore = _failing_commit(store)
    with pytest.raises(StoreUnavailable):
        with store.transaction():
            company.create_invoice(_invoice_body("1", DocNumber="D-77"))
    restore()
    ids_before = store.peek_value(REALM, "id:Invoice")
    with store.transaction():
        invoice = company.create_invoice(_invoice_body("1", DocNumber="D-77"))  # no 6140 naming a ghost
    assert int(invoice["Id"]) == ids_before + 1
    with pytest.raises(EmuFault) as dup:
        with store.transaction():
            company.create_invoice(_invoice_body("1", DocNumber="d-77"))
    assert dup.value.code == "6140" and f"TxnId={invoice['Id']}" in dup.value.detail
    # a stale entry (as an older emulator could leave) is verified against the store, not believed
    company._docnums["ghost-1"] = "999"
    company._names["ghost name"] = ("Customer", "999")
    with store.transaction():
        company.create_invoice(_invoice_body("1", DocNumber="GHOST-1"))
        company.create_person("Customer", {"DisplayName": "Ghost Name"})
    store.close()


# -- batch items remembered under (realm, requestid, bId) ------------------------------------------------------------

class _Crash(BaseException):
    """The process dies here: nothing after it runs, nothing is answered."""


def _batch_request(request_id: str, items: list[dict[str, Any]]) -> Request:
    return Request("POST", f"/v3/company/{REALM}/batch", {"requestid": request_id}, {},
                   json.dumps({"BatchItemRequest": items}).encode())


def test_a_batch_cut_short_and_resent_replays_what_ran_and_runs_the_rest_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = EmulatorConfig(data_dir=str(tmp_path), realm_id=REALM)
    emu = Emulator(config)
    company = emu.companies[REALM]
    with emu.store.transaction():
        company.create_person("Customer", {"DisplayName": "Taken Name"})
    tag = uuid.uuid4().hex[:8]
    items: list[dict[str, Any]] = [
        {"bId": f"b{i}", "operation": "create", "Customer": {"DisplayName": f"Cut {tag} {i}"}} for i in range(30)]
    items[3] = {"bId": "b3", "operation": "create", "Customer": {"DisplayName": "Taken Name"}}  # 6240
    items[5] = {"bId": "b5", "Query": "SELECT COUNT(*) FROM Customer"}
    calls = 0
    real_writer = company.writer

    def dying_writer(entity: str, operation: str) -> Callable[[Any], dict[str, Any]]:
        nonlocal calls
        calls += 1
        if calls == 21:
            raise _Crash
        return real_writer(entity, operation)

    monkeypatch.setattr(company, "writer", dying_writer)
    with pytest.raises(_Crash):
        emu._idempotent(company, _batch_request("rid-cut-1", items), "batch")
    ran = {d["DisplayName"]: d for d in emu.store.all(REALM, "Customer") if d["DisplayName"].startswith("Cut")}
    assert len(ran) == 19  # 20 writer calls, one of them refused (6240), then the crash
    emu.store.close()

    # "restart": a new emulator on the same file; the name the refusal was about is freed meanwhile
    emu = Emulator(config)
    company = emu.companies[REALM]
    taken = next(d for d in emu.store.all(REALM, "Customer") if d["DisplayName"] == "Taken Name")
    with emu.store.transaction():
        company.update_person("Customer", {**taken, "DisplayName": "Renamed"})
    resp = emu._idempotent(company, _batch_request("rid-cut-1", items), "batch")
    assert resp.status == 200
    answers = {a["bId"]: a for a in json.loads(resp.body)["BatchItemResponse"]}
    assert [a["bId"] for a in json.loads(resp.body)["BatchItemResponse"]] == [i["bId"] for i in items]
    assert answers["b3"]["Fault"]["Error"][0]["code"] == "6240"  # the remembered refusal, not a new create
    assert "QueryResponse" in answers["b5"]  # queries simply run again
    for name, doc in ran.items():
        replayed = answers[f"b{name.rsplit(' ', 1)[1]}"]["Customer"]
        assert replayed == json.loads(json.dumps(doc, default=float))  # the original answer
    names = [d["DisplayName"] for d in emu.store.all(REALM, "Customer") if d["DisplayName"].startswith("Cut")]
    assert sorted(names) == sorted(f"Cut {tag} {i}" for i in range(30) if i not in (3, 5))  # each once
    # the whole reply is remembered now, and the item memories are gone with the same commit
    again = emu._idempotent(company, _batch_request("rid-cut-1", items), "batch")
    assert again.body == resp.body
    assert emu.store.kv_items("replay-item") == []
    emu.store.close()


def test_a_batch_without_requestid_remembers_nothing(tmp_path: Path) -> None:
    emu = Emulator(EmulatorConfig(data_dir=str(tmp_path), realm_id=REALM))
    company = emu.companies[REALM]
    request = Request("POST", f"/v3/company/{REALM}/batch", {}, {}, json.dumps({"BatchItemRequest": [
        {"bId": "a", "operation": "create", "Customer": {"DisplayName": unique("No rid")}}]}).encode())
    assert emu._idempotent(company, request, "batch").status == 200
    assert emu.store.kv_items("replay-item") == [] and emu.store.kv_items("replay") == []
    emu.store.close()


def test_the_same_batch_twice_at_once_runs_once(start_emulator: Start) -> None:
    conn = connect(start_emulator(batch_item_delay=0.05))
    tag = unique("Twice")
    body = {"BatchItemRequest": [
        {"bId": f"b{i}", "operation": "create", "Customer": {"DisplayName": f"{tag} {i}"}} for i in range(5)]}
    replies: list[requests.Response] = []
    threads = [threading.Thread(target=lambda: replies.append(conn.post("batch", body, {"requestid": tag[-10:]})))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE)
    assert [r.status_code for r in replies] == [200, 200]
    assert replies[0].json()["BatchItemResponse"] == replies[1].json()["BatchItemResponse"]
    count = conn.query(f"SELECT COUNT(*) FROM Customer WHERE DisplayName LIKE '{tag}%'")
    assert count.json()["QueryResponse"]["totalCount"] == 5


# -- a graceful stop, in process ---------------------------------------------------------------------------------------

def test_stop_answers_requests_in_flight_and_runs_no_new_one(start_emulator: Start, tmp_path: Path) -> None:
    server = start_emulator(data_dir=str(tmp_path), batch_item_delay=0.2)
    conn = connect(server)
    url = f"{conn.company_url}/customer"
    kept_alive = requests.Session()
    assert kept_alive.get(f"{conn.company_url}/customer/1", headers=conn.headers(), timeout=30).status_code == 200
    tag = unique("In flight")
    batch_reply: list[requests.Response] = []
    body = {"BatchItemRequest": [
        {"bId": f"b{i}", "operation": "create", "Customer": {"DisplayName": f"{tag} {i}"}} for i in range(6)]}
    sender = threading.Thread(target=lambda: batch_reply.append(conn.post("batch", body)))
    sender.start()
    store = server.emulator.store

    def names() -> set[str]:
        return {d["DisplayName"] for d in store.all(conn.realm, "Customer")}

    _wait_for(lambda: f"{tag} 0" in names(), "the batch to start")
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    _wait_for(lambda: server.httpd.stopping, "the stop to begin")
    late = unique("Too late")
    with pytest.raises(requests.ConnectionError):
        kept_alive.post(url, data=json.dumps({"DisplayName": late}), headers=conn.headers(), timeout=30)
    sender.join(DEADLINE)
    stopper.join(DEADLINE)
    assert not stopper.is_alive() and store.closed
    (reply,) = batch_reply
    assert reply.status_code == 200 and reply.headers.get("Connection") == "close"
    created = {a["Customer"]["DisplayName"]: a["Customer"]["Id"] for a in reply.json()["BatchItemResponse"]}
    assert set(created) == {f"{tag} {i}" for i in range(6)}
    assert late not in names()
    # everything answered is in the file
    again = Store(tmp_path / "emulator.sqlite3")
    kept = {d["DisplayName"]: d["Id"] for d in again.all(conn.realm, "Customer")}
    assert {name: kept.get(name) for name in created} == created and late not in kept
    again.close()
    server.stop()  # a second stop does nothing


def test_a_request_outliving_the_drain_is_never_answered_as_done(start_emulator: Start, tmp_path: Path) -> None:
    server = start_emulator(data_dir=str(tmp_path), batch_item_delay=0.5)
    conn = connect(server)
    tag = unique("Outlived")
    body = {"BatchItemRequest": [
        {"bId": f"b{i}", "operation": "create", "Customer": {"DisplayName": f"{tag} {i}"}} for i in range(5)]}
    outcome: list[object] = []

    def send() -> None:
        try:
            outcome.append(conn.post("batch", body))
        except requests.RequestException as exc:
            outcome.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    store = server.emulator.store
    _wait_for(lambda: any(d["DisplayName"] == f"{tag} 0" for d in store.all(conn.realm, "Customer")),
              "the batch to start")
    server.stop(drain_timeout=0.01)  # gives up on the batch at once and closes the store
    sender.join(DEADLINE)
    (reply,) = outcome
    assert not (isinstance(reply, requests.Response) and reply.status_code == 200)
    in_memory = sorted(d["DisplayName"] for d in store.all(conn.realm, "Customer") if d["DisplayName"].startswith(tag))
    again = Store(tmp_path / "emulator.sqlite3")
    in_file = sorted(d["DisplayName"] for d in again.all(conn.realm, "Customer") if d["DisplayName"].startswith(tag))
    again.close()
    assert in_memory == in_file and len(in_file) < 5


def test_a_closed_store_answers_writes_503_and_still_serves_reads(start_emulator: Start, tmp_path: Path) -> None:
    server = start_emulator(data_dir=str(tmp_path))
    conn = connect(server)
    server.emulator.store.close()
    single = conn.post("customer", {"DisplayName": unique("After close")}, {"requestid": uuid.uuid4().hex})
    assert single.status_code == 503 and single.json()["Fault"]["type"] == "SystemFault"
    batch = conn.post("batch", {"BatchItemRequest": [
        {"bId": "a", "operation": "create", "Customer": {"DisplayName": unique("After close")}}]},
        {"requestid": uuid.uuid4().hex})
    assert batch.status_code == 503  # not a 200 whose item Fault a client would take as a refusal
    assert conn.get("customer/1").status_code == 200


# -- real processes ------------------------------------------------------------------------------------------------

def _command() -> list[str]:
    exe = Path(sys.executable).with_name("qbo-toolkit")
    return [str(exe), "emulator"] if exe.exists() else [sys.executable, "-m", "qbo_toolkit.emulator"]


class EmulatorProcess:
    """``qbo-toolkit emulator --port 0 --data-dir DIR --info-file F --auto-approve`` as a real process."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.info_file = workdir / "emulator.json"
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}
        self.runs = 0

    def start(self, *args: str) -> EmulatorProcess:
        self.info_file.unlink(missing_ok=True)  # a SIGKILLed emulator leaves its file behind
        self.runs += 1
        log = open(self.workdir / f"emulator-{self.runs}.log", "wb")
        self.proc = subprocess.Popen(
            [*_command(), "--port", "0", "--data-dir", str(self.data_dir), "--info-file", str(self.info_file),
             "--auto-approve", "--no-throttle", *args],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        _wait_for(lambda: self.info_file.exists() or self.proc is None or self.proc.poll() is not None,
                  "the emulator to start")
        assert self.proc.poll() is None, self.log()
        self.info = json.loads(self.info_file.read_text())
        return self

    def log(self) -> str:
        return (self.workdir / f"emulator-{self.runs}.log").read_text(errors="replace")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(DEADLINE)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(DEADLINE)

    @property
    def company_url(self) -> str:
        return f"{self.info['api_base_url']}/company/{self.info['realm_id']}"


@pytest.fixture
def emulator_process(tmp_path: Path) -> Iterator[EmulatorProcess]:
    process = EmulatorProcess(tmp_path)
    yield process
    process.close()


def _access_token(info: dict[str, Any]) -> str:
    """The authorization-code flow against an auto-approving emulator, with plain requests."""
    redirect = info["redirect_uris"][0]
    answer = requests.get(info["authorization_endpoint"], allow_redirects=False, timeout=30, params={
        "client_id": info["client_id"], "response_type": "code", "scope": "com.intuit.quickbooks.accounting",
        "redirect_uri": redirect, "state": "durability"})
    assert answer.status_code == 302, answer.text
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    token = requests.post(f"{info['base_url']}/oauth2/v1/tokens/bearer", timeout=30,
                          auth=(info["client_id"], info["client_secret"]),
                          headers={"Accept": "application/json"},
                          data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect})
    assert token.status_code == 200, token.text
    access: str = token.json()["access_token"]
    return access


class Client:
    """Plain HTTP to one emulator process; tokens outlive restarts (they are in the data dir)."""

    def __init__(self, process: EmulatorProcess, token: str) -> None:
        self.process = process
        self.token = token

    def headers(self, content_type: str = "application/json") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json", "Content-Type": content_type}

    def post(self, path: str, body: Any, params: dict[str, str] | None = None,
             session: requests.Session | None = None) -> requests.Response:
        return (session or requests).post(f"{self.process.company_url}/{path}", data=json.dumps(body),
                                          params={"minorversion": "75", **(params or {})},
                                          headers=self.headers(), timeout=DEADLINE)

    def get(self, path: str) -> requests.Response:
        return requests.get(f"{self.process.company_url}/{path}", params={"minorversion": "75"},
                            headers=self.headers(), timeout=DEADLINE)

    def query(self, statement: str) -> list[dict[str, Any]]:
        """Every row of a SELECT *, paged."""
        entity = statement.split()[3]
        rows: list[dict[str, Any]] = []
        while True:
            resp = requests.post(f"{self.process.company_url}/query", params={"minorversion": "75"},
                                 data=f"{statement} STARTPOSITION {len(rows) + 1} MAXRESULTS 1000",
                                 headers=self.headers("application/text"), timeout=DEADLINE)
            assert resp.status_code == 200, resp.text
            page = resp.json()["QueryResponse"].get(entity, [])
            rows += page
            if len(page) < 1000:
                return rows


class Stream:
    """Worker threads creating customers and invoices until told to stop or a request fails."""

    def __init__(self, client: Client, tag: str, workers: int = 4) -> None:
        self.client = client
        self.tag = tag
        self.answered: list[tuple[str, dict[str, Any]]] = []  # (entity, doc) of every 200 reply
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._work, args=(n,), daemon=True) for n in range(workers)]

    def start(self) -> Stream:
        for thread in self.threads:
            thread.start()
        return self

    def count(self) -> int:
        with self.lock:
            return len(self.answered)

    def join(self) -> None:
        for thread in self.threads:
            thread.join(DEADLINE)
            assert not thread.is_alive()

    def _work(self, worker: int) -> None:
        session = requests.Session()
        n = 0
        customer_id = None
        while not self.stop.is_set():
            n += 1
            if customer_id is None or n % 3:
                entity, body = "Customer", {"DisplayName": f"{self.tag} w{worker} n{n}", "Notes": f"note {n}"}
            else:
                entity, body = "Invoice", _invoice_body(customer_id, amount=n)
            try:
                resp = self.client.post(entity.lower(), body, session=session)
            except requests.RequestException:
                return  # the emulator went away: this write was not answered
            if resp.status_code != 200:
                return  # e.g. a 503 from a store that is closing: not answered as done
            doc = resp.json()[entity]
            with self.lock:
                self.answered.append((entity, doc))
            if entity == "Customer":
                customer_id = doc["Id"]


def _check_answered_writes_survived(client: Client, answered: list[tuple[str, dict[str, Any]]]) -> None:
    """Each answered write is there with its Id and content; no Id was given to two records."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for entity, doc in answered:
        key = (entity, doc["Id"])
        assert key not in seen, f"{entity} Id {doc['Id']} was answered twice: {seen.get(key)} and {doc}"
        seen[key] = doc
        resp = client.get(f"{entity.lower()}/{doc['Id']}")
        assert resp.status_code == 200, f"answered {entity} {doc['Id']} is missing after the restart"
        stored = resp.json()[entity]
        if entity == "Customer":  # its Balance (and LastUpdatedTime) follow the invoices created later
            for field in ("DisplayName", "Notes", "SyncToken"):
                assert stored.get(field) == doc.get(field), (field, stored, doc)
            assert stored["MetaData"]["CreateTime"] == doc["MetaData"]["CreateTime"]
        else:
            assert stored == doc


def _check_no_id_reuse(client: Client, answered: list[tuple[str, dict[str, Any]]], tag: str) -> None:
    """New records after the restart get Ids never used before; names and DocNumbers stay unique."""
    customers = client.query("SELECT * FROM Customer")
    names = [c["DisplayName"] for c in customers]
    assert len(names) == len(set(names))
    invoices = client.query("SELECT * FROM Invoice")
    numbers = [i["DocNumber"] for i in invoices]
    assert len(numbers) == len(set(numbers))
    used = {(entity, doc["Id"]) for entity, doc in answered}
    used |= {("Customer", c["Id"]) for c in customers} | {("Invoice", i["Id"]) for i in invoices}
    first = client.post("customer", {"DisplayName": f"{tag} after restart"})
    assert first.status_code == 200, first.text
    customer = first.json()["Customer"]
    invoice = client.post("invoice", _invoice_body(customer["Id"]))
    assert invoice.status_code == 200, invoice.text
    fresh = {("Customer", customer["Id"]), ("Invoice", invoice.json()["Invoice"]["Id"])}
    assert not fresh & used, f"Ids handed out again after the restart: {fresh & used}"
    assert invoice.json()["Invoice"]["DocNumber"] not in numbers


def test_sigkill_during_a_stream_of_creates_loses_no_answered_write(emulator_process: EmulatorProcess) -> None:
    client = Client(emulator_process.start(), "")
    client.token = _access_token(emulator_process.info)
    tag = f"Kill {uuid.uuid4().hex[:6]}"
    stream = Stream(client, tag).start()
    _wait_for(lambda: stream.count() >= 150, "150 answered writes")
    emulator_process.kill()  # SIGKILL, with requests in flight
    stream.stop.set()
    stream.join()
    answered = list(stream.answered)
    assert {entity for entity, _ in answered} == {"Customer", "Invoice"}

    emulator_process.start()  # the same data dir, no --reset
    _check_answered_writes_survived(client, answered)
    _check_no_id_reuse(client, answered, tag)


def test_sigkill_mid_batch_then_the_same_requestid_runs_each_item_once(emulator_process: EmulatorProcess) -> None:
    client = Client(emulator_process.start("--batch-item-delay", "0.5"), "")
    client.token = _access_token(emulator_process.info)
    tag = f"Batch {uuid.uuid4().hex[:6]}"
    taken = client.post("customer", {"DisplayName": f"{tag} taken"}).json()["Customer"]
    items: list[dict[str, Any]] = [
        {"bId": f"b{i}", "operation": "create", "Customer": {"DisplayName": f"{tag} item {i:02}"}} for i in range(30)]
    items[1] = {"bId": "b1", "operation": "create", "Customer": {"DisplayName": taken["DisplayName"]}}  # 6240
    body = {"BatchItemRequest": items}
    request_id = str(uuid.uuid4())  # 36 characters, QBO's limit for a batch

    def created() -> dict[str, dict[str, Any]]:
        rows = client.query(f"SELECT * FROM Customer WHERE DisplayName LIKE '{tag} item%'")
        return {row["DisplayName"]: row for row in rows}

    outcome: list[object] = []

    def send() -> None:
        try:
            outcome.append(client.post("batch", body, {"requestid": request_id}))
        except requests.RequestException as exc:
            outcome.append(exc)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    _wait_for(lambda: len(created()) >= 3, "the batch to be under way")
    emulator_process.kill()
    sender.join(DEADLINE)
    assert len(outcome) == 1 and isinstance(outcome[0], requests.RequestException)  # no reply reached us

    emulator_process.start()  # no delay now, same data dir
    before = created()
    assert 3 <= len(before) < 29, f"the kill was meant to land mid-batch: {len(before)} items had run"
    # the name the refused item wanted is freed: a run (instead of a replay) would now create it
    renamed = client.post("customer", {"Id": taken["Id"], "SyncToken": taken["SyncToken"], "sparse": True,
                                       "DisplayName": f"{tag} renamed"})
    assert renamed.status_code == 200, renamed.text
    resent = client.post("batch", body, {"requestid": request_id})
    assert resent.status_code == 200, resent.text
    answers = {a["bId"]: a for a in resent.json()["BatchItemResponse"]}
    assert answers["b1"]["Fault"]["Error"][0]["code"] == "6240"  # the remembered refusal
    for name, row in before.items():
        bid = f"b{int(name.rsplit(' ', 1)[1])}"
        assert answers[bid]["Customer"] == row, f"{bid} was not replayed as it was answered"
    after = client.query(f"SELECT * FROM Customer WHERE DisplayName LIKE '{tag}%'")
    names = sorted(row["DisplayName"] for row in after)
    expected = sorted([f"{tag} renamed", *(f"{tag} item {i:02}" for i in range(30) if i != 1)])
    assert names == expected  # every item exactly once
    ids = [row["Id"] for row in after]
    assert len(ids) == len(set(ids))
    for i in range(2, 30):
        assert answers[f"b{i}"]["Customer"]["Id"] == next(r["Id"] for r in after
                                                           if r["DisplayName"] == f"{tag} item {i:02}")
    # a third send replays the whole second reply
    third = client.post("batch", body, {"requestid": request_id})
    assert third.json()["BatchItemResponse"] == resent.json()["BatchItemResponse"]


def test_sigterm_answers_writes_in_flight_then_exits_cleanly(emulator_process: EmulatorProcess) -> None:
    client = Client(emulator_process.start("--batch-item-delay", "0.3"), "")
    client.token = _access_token(emulator_process.info)
    tag = f"Term {uuid.uuid4().hex[:6]}"
    stream = Stream(client, tag, workers=3).start()
    items = [{"bId": f"b{i}", "operation": "create", "Customer": {"DisplayName": f"{tag} batch {i}"}}
             for i in range(8)]
    batch_reply: list[object] = []

    def send() -> None:
        try:
            batch_reply.append(client.post("batch", {"BatchItemRequest": items}))
        except requests.RequestException as exc:
            batch_reply.append(exc)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()

    def batch_started() -> bool:
        # the stream's own keep-alive connections are busy; this is one more short request
        return bool(client.query(f"SELECT * FROM Customer WHERE DisplayName = '{tag} batch 0'"))

    _wait_for(lambda: stream.count() >= 50 and batch_started(), "writes under way")
    proc = emulator_process.proc
    assert proc is not None
    proc.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    assert proc.wait(DEADLINE) == 0, emulator_process.log()
    took = time.monotonic() - signalled
    stream.stop.set()
    stream.join()
    sender.join(DEADLINE)
    assert "Traceback" not in emulator_process.log()
    assert not emulator_process.info_file.exists()
    # the batch was in flight at SIGTERM: it was finished and answered, not cut off
    (reply,) = batch_reply
    assert isinstance(reply, requests.Response) and reply.status_code == 200, reply
    batch_docs = [a["Customer"] for a in reply.json()["BatchItemResponse"]]
    assert len(batch_docs) == 8
    answered = list(stream.answered) + [("Customer", doc) for doc in batch_docs]

    emulator_process.start()
    _check_answered_writes_survived(client, answered)
    _check_no_id_reuse(client, answered, tag)
    # prompt: the batch's remaining items (at most 8 x 0.3 s) plus shutting down; generous on a busy machine
    assert took < 30, f"the emulator took {took:.1f} s to stop"


def test_sigint_stops_gracefully_too(emulator_process: EmulatorProcess) -> None:
    emulator_process.start()
    proc = emulator_process.proc
    assert proc is not None
    proc.send_signal(signal.SIGINT)
    assert proc.wait(DEADLINE) == 0
    assert "Traceback" not in emulator_process.log() and not emulator_process.info_file.exists()


def test_the_cli_has_the_batch_item_delay_knob() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert config_from_args(parser.parse_args(["--batch-item-delay", "0.25"])).batch_item_delay == 0.25
    assert config_from_args(parser.parse_args([])).batch_item_delay == 0.0
