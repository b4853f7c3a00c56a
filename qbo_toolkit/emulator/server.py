"""The emulator's HTTP server: routing, limits, fault injection, idempotent replays, inspection.

Run it with ``qbo-toolkit emulator`` or in-process::

    with serve(EmulatorConfig(port=0)) as emu:
        emu.info["api_base_url"]   # http://127.0.0.1:PORT/v3

It binds 127.0.0.1 only. Routes:

* OAuth 2.0 and OpenID Connect (``oauth.py``): discovery, consent page, token (an ``id_token`` for
  ``openid``), revoke, userinfo, jwks.
* Data API under ``/v3/company/{realmId}/``: ``{entity}`` (POST create/update, ``?operation=delete``,
  ``?operation=void``, ``?operation=update&include=void``), ``{entity}/{id}`` (GET read),
  ``companyinfo/{realmId}``, ``preferences``, ``query`` (GET ``?query=`` or POST text), ``batch``, ``cdc``,
  ``reports/{Name}`` and ``{entity}/{id}/pdf`` (``reports.py``). Every admitted call is metered (``meter.py``).
* ``/_emulator/…`` (emulator-only, read-only): ``info``, ``stats``, ``meter``, ``requests``.

Durability (see the README's "Durability" rule): a reply that says a write was made is sent only
after the write's store transaction has committed; ``stop()`` (SIGTERM, SIGINT) stops accepting,
lets the requests already dispatched finish and send their replies, closes a kept-alive connection
instead of running a request that arrives on it after the stop began, and only then closes the store.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import re
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from . import entities, faults, qsql, reports
from .clock import Clock, parse_stamp, reply_time, stamp
from .company import Company
from .faults import EmuFault
from .kinds import DEFAULT_KIND, KIND_NS, get_kind
from .meter import Meter
from .oauth import OAuthClient, OAuthProvider
from .seed import DEFAULT_COMPANY, DEFAULT_REALM, seed_company
from .specs import BY_SEGMENT, SPECS
from .store import Doc, Store, StoreUnavailable
from .wire import Request, Response

DEMO_CLIENT_ID = "emulator-demo-client"
DEMO_CLIENT_SECRET = "emulator-demo-secret"  # noqa: S105 - a published demo credential of the local emulator
DEFAULT_REDIRECT_URIS = (
    "http://127.0.0.1:8765/callback",
    "http://localhost:8765/callback",
)
#: seconds a graceful stop waits for the requests in flight before it closes the store anyway
DRAIN_TIMEOUT = 30.0
_PATH = re.compile(r"^/v3/company/(?P<realm>[^/]+)/(?P<rest>.*)$")
#: store namespaces of requestid replays: a whole reply (single write or batch) and one batch item's answer
REPLAY_NS = "replay"
REPLAY_ITEM_NS = "replay-item"


@dataclass
class EmulatorConfig:
    """Everything an emulator run can be told. Limits are per realm, in scaled time."""

    host: str = "127.0.0.1"
    port: int = 0
    data_dir: str | None = None  # None: state in memory only
    reset: bool = False
    realm_id: str = DEFAULT_REALM
    company_name: str = DEFAULT_COMPANY
    extra_companies: dict[str, str] = field(default_factory=dict)  # more realms: id -> name
    company_kind: str = DEFAULT_KIND  # us-ast, us-manual, uk, ca, au (kinds.py); every realm is of this kind
    client_id: str = DEMO_CLIENT_ID
    client_secret: str = DEMO_CLIENT_SECRET
    redirect_uris: tuple[str, ...] = DEFAULT_REDIRECT_URIS
    auto_approve: bool = False
    access_ttl: float = 3600
    refresh_ttl: float = 8726400
    time_scale: float = 1.0
    throttle: bool = True
    per_minute: int = 500
    per_second: int = 10
    batch_per_minute: int = 40
    max_concurrent: int = 10
    batch_max_items: int = 30
    retry_after: bool = False  # Intuit's docs say only "wait 60 s"; the strict default sends no header
    latency_mean: float = 0.0  # scaled seconds
    latency_jitter: float = 0.0
    error_rate: float = 0.0  # share of data requests answered 500 or 503 before they run
    throttle_rate: float = 0.0  # share answered 429 before they run
    drop_rate: float = 0.0  # share whose connection is dropped before they run
    lost_reply_rate: float = 0.0  # share that run, then lose their reply (connection dropped)
    batch_item_delay: float = 0.0  # scaled seconds slept before each batch item runs (to kill a batch mid-way)
    expire_after_requests: int | None = None
    seed: int = 1
    info_file: str | None = None
    request_log_size: int = 10000

    def __repr__(self) -> str:
        fields = {k: v for k, v in asdict(self).items() if k != "client_secret"}
        return f"EmulatorConfig({fields}, client_secret='***')"


class Limiter:
    """QBO's per-realm limits: requests per minute and per second, batches per minute, in flight."""

    def __init__(self, clock: Clock, config: EmulatorConfig) -> None:
        self.clock = clock
        self.config = config
        self._lock = threading.Lock()
        self._minute: dict[str, deque[float]] = {}
        self._second: dict[str, deque[float]] = {}
        self._batch: dict[str, deque[float]] = {}
        self._inflight: dict[str, int] = {}

    def acquire(self, realm: str, is_batch: bool) -> bool:
        cfg = self.config
        now = self.clock.monotonic()
        with self._lock:
            minute = self._minute.setdefault(realm, deque())
            second = self._second.setdefault(realm, deque())
            batch = self._batch.setdefault(realm, deque())
            for window, span in ((minute, 60.0), (second, 1.0), (batch, 60.0)):
                while window and window[0] <= now - span:
                    window.popleft()
            if cfg.throttle and (
                len(minute) >= cfg.per_minute
                or len(second) >= cfg.per_second
                or (is_batch and len(batch) >= cfg.batch_per_minute)
                or self._inflight.get(realm, 0) >= cfg.max_concurrent
            ):
                return False
            minute.append(now)
            second.append(now)
            if is_batch:
                batch.append(now)
            self._inflight[realm] = self._inflight.get(realm, 0) + 1
            return True

    def release(self, realm: str) -> None:
        with self._lock:
            self._inflight[realm] = max(0, self._inflight.get(realm, 1) - 1)


class Emulator:
    """The whole emulated service, independent of HTTP: ``dispatch(Request) -> Response``."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.clock = Clock(scale=config.time_scale)
        path = None
        if config.data_dir:
            path = Path(config.data_dir) / "emulator.sqlite3"
            if config.reset:
                for suffix in ("", "-wal", "-shm"):
                    Path(str(path) + suffix).unlink(missing_ok=True)
        self.store = Store(path)
        self.companies_by_realm = {config.realm_id: config.company_name, **config.extra_companies}
        for realm, name in self.companies_by_realm.items():
            if self.store.get(realm, "CompanyInfo", realm) is None:
                seed_company(self.store, realm, name, get_kind(config.company_kind).name)
            else:
                kept = self.store.kv_get(KIND_NS, realm) or DEFAULT_KIND
                if kept != get_kind(config.company_kind).name:
                    self.store.close()
                    raise ValueError(
                        f"The emulator's data in {config.data_dir} is a {kept!r} company, not "
                        f"{config.company_kind!r}: start it with --company {kept}, or add --reset to start again "
                        f"from a fresh {config.company_kind!r} company.")
        self.companies = {realm: Company(self.store, self.clock, realm) for realm in self.companies_by_realm}
        self.oauth = OAuthProvider(
            self.store, self.clock, companies=self.companies_by_realm,
            clients=[OAuthClient(config.client_id, config.client_secret, tuple(config.redirect_uris))],
            access_ttl=config.access_ttl, refresh_ttl=config.refresh_ttl, auto_approve=config.auto_approve,
            expire_after_requests=config.expire_after_requests,
        )
        self.limiter = Limiter(self.clock, config)
        self.meter = Meter(self.clock)  # Core / CorePlus calls per realm and month (meter.py)
        self._rng = random.Random(config.seed)
        self._rng_lock = threading.Lock()
        self.log: deque[dict[str, Any]] = deque(maxlen=config.request_log_size)
        self._counts: dict[str, int] = {}
        self._count_lock = threading.Lock()
        self._request_locks: dict[str, tuple[threading.Lock, int]] = {}
        self._request_locks_guard = threading.Lock()
        self.base_url = ""

    # -- helpers -----------------------------------------------------------------------------------
    def _random(self) -> float:
        with self._rng_lock:
            return self._rng.random()

    def _count(self, key: str) -> None:
        with self._count_lock:
            self._counts[key] = self._counts.get(key, 0) + 1

    @contextmanager
    def _one_at_a_time(self, key: str | None) -> Iterator[None]:
        """Serialise the requests that share one requestid (``None``: no lock at all)."""
        if key is None:
            yield
            return
        with self._request_locks_guard:
            lock, users = self._request_locks.get(key) or (threading.Lock(), 0)
            self._request_locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._request_locks_guard:
                lock, users = self._request_locks[key]
                if users <= 1:
                    del self._request_locks[key]
                else:
                    self._request_locks[key] = (lock, users - 1)

    def _reply(self, status: int, obj: Any) -> Response:
        if isinstance(obj, dict) and "time" not in obj:
            obj = {**obj, "time": reply_time(self.clock.now())}
        headers = {"intuit_tid": _tid(),
                   "Cache-Control": "max-age=0, no-cache, no-store, must-revalidate, private", "Expires": "0"}
        return Response.json(status, obj, headers)

    def _fault(self, fault: EmuFault) -> Response:
        resp = self._reply(fault.status, {"Fault": fault.fault()})
        return resp

    def _throttled(self) -> Response:
        # Intuit has answered throttles with an XML fault even to JSON requests (API_FACTS §7);
        # the strict choice: clients must act on the HTTP status, not on the body.
        fault = faults.throttled()
        body = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            f'<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="{reply_time(self.clock.now())}">'
            f'<Fault type="{fault.ftype}"><Error code="{fault.code}"><Message>{fault.message}</Message>'
            f"<Detail>{fault.detail}</Detail></Error></Fault></IntuitResponse>"
        )
        headers = {"Content-Type": "application/xml"}
        if self.config.retry_after:
            headers["Retry-After"] = "60"
        self._count("throttled")
        return Response(429, body.encode(), headers)

    # -- entry point ---------------------------------------------------------------------------------
    def dispatch(self, req: Request) -> Response:
        started = time.monotonic()
        realm = ""
        try:
            if req.path.startswith("/v3/"):
                match = _PATH.match(req.path)
                realm = match.group("realm") if match else ""
                resp = self._data_api(req, match)
            elif req.path.startswith("/_emulator"):
                resp = self._inspect(req)
            else:
                resp = self.oauth.handle(req, self.base_url) or Response.json(404, {"error": "not found"})
        except EmuFault as fault:
            resp = self._fault(fault)
        except StoreUnavailable as exc:
            # the store is closed (the emulator is stopping) or refused the commit: nothing of this
            # request's last change was kept, so it must not be answered as done
            self._count("store_unavailable")
            resp = self._fault(_unavailable_fault(exc))
        except Exception as exc:  # a bug in the emulator: answer like QBO's SystemFault, keep serving
            resp = self._fault(_system_fault(exc))
        self.log.append({
            "at": reply_time(self.clock.now()), "method": req.method, "path": req.path,
            "query": {k: v for k, v in req.query.items() if k != "query"}, "realm": realm,
            "status": 0 if resp.drop else resp.status, "dropped": resp.drop,
            "ms": round((time.monotonic() - started) * 1000, 2),
        })
        self._count(f"status:{'dropped' if resp.drop else resp.status}")
        return resp

    def _data_api(self, req: Request, match: re.Match[str] | None) -> Response:
        cfg = self.config
        if match is None:
            return Response.json(404, {"error": "not found"})
        realm, rest = match.group("realm"), match.group("rest").strip("/")
        is_batch = rest == "batch"
        # fault injection happens before anything runs
        if cfg.drop_rate and self._random() < cfg.drop_rate:
            self._count("injected:drop")
            return Response(0, drop=True)
        if cfg.error_rate and self._random() < cfg.error_rate:
            self._count("injected:5xx")
            status = 500 if self._random() < 0.5 else 503
            return self._fault(faults.server_error(status))
        if cfg.throttle_rate and self._random() < cfg.throttle_rate:
            self._count("injected:429")
            return self._throttled()
        if not self.limiter.acquire(realm, is_batch):
            return self._throttled()
        try:
            if cfg.latency_mean or cfg.latency_jitter:
                with self._rng_lock:
                    delay = self._rng.uniform(cfg.latency_mean - cfg.latency_jitter,
                                              cfg.latency_mean + cfg.latency_jitter)
                self.clock.sleep(max(0.0, delay))
            denied = self.oauth.check_bearer(req, realm)
            if denied is not None:
                self._count("unauthorized")
                return denied
            company = self.companies.get(realm)
            if company is None:
                raise EmuFault(3100, "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
                               "", status=403, ftype="AuthorizationFault")
            self.meter.record(realm, req.method, rest, req.body)
            resp = self._company_call(company, req, rest)
        finally:
            self.limiter.release(realm)
        if cfg.lost_reply_rate and self._random() < cfg.lost_reply_rate:
            self._count("injected:lost_reply")
            return Response(0, drop=True)
        return resp

    def _company_call(self, company: Company, req: Request, rest: str) -> Response:
        parts = rest.split("/")
        segment = parts[0].lower()
        if segment == "query":
            statement = req.query.get("query") or (_decode_text(req.body) if req.method == "POST" else "")
            answer = self.run_query(company, statement)
            if "Invoice" in answer and "invoicelink" in req.query.get("include", "").lower().split(","):
                answer["Invoice"] = [self._with_invoice_link(company, doc) for doc in answer["Invoice"]]
            return self._reply(200, {"QueryResponse": answer})
        if segment == "cdc" and req.method == "GET":
            return self._reply(200, self.cdc(company, req.query))
        if segment == "reports" and len(parts) == 2 and req.method == "GET":
            with self.store.lock:  # one consistent view of the books
                report = reports.run_report(company, parts[1], req.query)
            # a report has no envelope "time": its Header carries Time (recorded replies)
            return Response.json(200, report, {"intuit_tid": _tid(), "Cache-Control": "max-age=0, no-cache, no-store"})
        if segment in BY_SEGMENT and len(parts) == 3 and parts[2].lower() == "pdf" and req.method == "GET":
            with self.store.lock:
                pdf = reports.document_pdf(company, BY_SEGMENT[segment], parts[1])
            return Response(200, pdf, {"Content-Type": "application/pdf", "intuit_tid": _tid()})
        if segment == "preferences" and len(parts) == 1:
            if req.method == "GET":
                prefs = company.store.get(company.realm, "Preferences", "1") or {}
                return self._reply(200, {"Preferences": entities.present("Preferences", prefs)})
            if req.method == "POST":
                return self._idempotent(company, req, segment)
            raise faults.unsupported_operation(req.path)
        if req.method == "POST" and segment in ("batch", "upload", *BY_SEGMENT) and len(parts) == 1:
            return self._idempotent(company, req, segment)
        if req.method == "POST" and [p.lower() for p in parts] == ["taxservice", "taxcode"]:
            return self._idempotent(company, req, "taxservice")
        if req.method == "GET" and segment == "exchangerate" and len(parts) == 1:
            return self._reply(200, {"ExchangeRate": entities.read_exchange_rate(company, req.query)})
        if req.method == "GET" and segment == "download" and len(parts) == 2:
            doc = company.read("Attachable", parts[1])
            return Response(200, str(doc.get("TempDownloadUri", "")).encode(), {"Content-Type": "text/plain"})
        if req.method == "GET" and segment in BY_SEGMENT and len(parts) == 2:
            entity = BY_SEGMENT[segment]
            if entity == "CompanyInfo":
                if parts[1] != company.realm:
                    if not parts[1].isdigit():
                        raise faults.invalid_id(parts[1])
                    raise faults.object_not_found(f"CompanyInfo with Id {parts[1]} was not found.",
                                                  "Id")
                return self._reply(200, {"CompanyInfo": company.store.get(company.realm, "CompanyInfo", company.realm)})
            doc = company.read(entity, parts[1])
            if entity == "Invoice" and "invoicelink" in req.query.get("include", "").lower().split(","):
                doc = self._with_invoice_link(company, doc)
            return self._reply(200, {entities.wire_name(entity): entities.present(entity, doc)})
        raise faults.unsupported_operation(req.path)

    def _with_invoice_link(self, company: Company, doc: Doc) -> Doc:
        """``include=invoiceLink``: the customer's link to the invoice, for an invoice with an e-mail address
        to send it to (QBO makes links only for invoices it can send; strict choice, see the README). It has
        the shape of Intuit's (https, Intuit's host); nothing offline serves it."""
        if not (doc.get("BillEmail") or {}).get("Address"):
            return doc
        token = hashlib.sha256(f"{company.realm}:{doc['Id']}:{doc['MetaData']['CreateTime']}".encode()).hexdigest()
        return {**doc, "InvoiceLink": f"https://connect.intuit.com/portal/app/CommerceNetwork/view/scs-v1-{token}"}

    # -- writes, with requestid replay --------------------------------------------------------------
    def _idempotent(self, company: Company, req: Request, segment: str) -> Response:
        request_id = req.query.get("requestid")
        limit = 36 if segment == "batch" else 50
        if request_id is not None and len(request_id) > limit:
            raise faults.string_length("requestid", limit, len(request_id))
        key = f"{company.realm}:{request_id}" if request_id else None
        # the same requestid twice at once: the second waits, then replays what the first answered
        with self._one_at_a_time(key):
            if segment == "batch":
                return self._batch_request(company, req, key)
            with self.store.lock:
                replay = self._replay(key)
                if replay is not None:
                    return replay
                try:
                    with self.store.transaction():
                        resp = self._write(company, req, BY_SEGMENT.get(segment, segment))
                        self._remember(key, resp)  # in the write's own transaction
                except EmuFault as fault:
                    # a refusal is an answer too: the same request gets it again
                    resp = self._fault(fault)
                    self._remember(key, resp)
                return resp

    def _batch_request(self, company: Company, req: Request, key: str | None) -> Response:
        """A batch: items commit one by one, each with its own answer remembered under (requestid, bId).

        A batch resent with the requestid of one that was cut short (the emulator killed after some
        items) replays the answers of the items that ran and runs the others once. Once the whole
        reply is remembered, in one transaction, the item answers are dropped.
        """
        replay = self._replay(key)
        if replay is not None:
            return replay
        slots: list[str] = []
        try:
            resp = self._reply(200, self._batch(company, _parse_json(req.body), key, slots))
        except EmuFault as fault:  # the whole batch refused (too many items, no items, bad JSON)
            resp = self._fault(fault)
        if key is not None:
            with self.store.transaction():
                self._remember(key, resp)
                self.store.kv_delete_many(REPLAY_ITEM_NS, slots)
        return resp

    def _replay(self, key: str | None) -> Response | None:
        if key is None:
            return None
        seen = self.store.kv_get(REPLAY_NS, key)
        if seen is None:
            return None
        self._count("replayed")
        headers = dict(seen.get("headers") or {"Content-Type": "application/json;charset=utf-8"})
        headers["intuit_tid"] = _tid()  # a new request, a new transaction id
        return Response(seen["status"], seen["body"].encode(), headers)

    def _remember(self, key: str | None, resp: Response) -> None:
        if key is not None:
            self.store.kv_put(REPLAY_NS, key, {"status": resp.status, "body": resp.body.decode(),
                                               "headers": resp.headers})

    def _write(self, company: Company, req: Request, entity: str) -> Response:
        if entity == "CompanyInfo":
            raise faults.unsupported_operation(req.path)
        if entity == "upload":  # POST .../upload: multipart attachments
            uploaded = company.generic.upload(req.header("content-type"), req.body, self.base_url)
            return self._reply(200, {"AttachableResponse": [{"Attachable": doc} for doc in uploaded]})
        body = _parse_json(req.body)
        operation = req.query.get("operation", "").lower()
        include = req.query.get("include", "").lower()
        # the store lock is held for the whole write (_idempotent), so the flag is this request's alone
        company.allow_duplicate_docnum = "allowduplicatedocnum" in include.split(",")
        try:
            return self._write_op(company, req, entity, body, operation, include)
        finally:
            company.allow_duplicate_docnum = False

    def _write_op(self, company: Company, req: Request, entity: str, body: Any, operation: str,
                  include: str) -> Response:
        if entity == "Preferences":
            if operation not in ("", "update"):
                raise faults.unsupported_operation(f"{req.path}?operation={operation}")
            return self._reply(200, {entity: company.writer(entity, "update")(body)})
        if entity == "taxservice":  # POST .../taxservice/taxcode answers the TaxService object itself
            return self._reply(200, company.writer("TaxService", "create")(body))
        if operation in ("", "create", "update") and "void" not in include.split(","):
            doc = company.save(entity, body) if operation == "" else company.writer(entity, operation)(body)
        elif operation == "update" and include == "void" and entity != "Invoice":
            doc = company.writer(entity, "void")(body)
        elif operation in ("delete", "void"):
            if operation == "void" and entity == "Payment":
                raise faults.unsupported_operation(req.path + "?operation=void")
            doc = company.writer(entity, operation)(body)
        else:
            raise faults.unsupported_operation(f"{req.path}?operation={operation}")
        if entity == "RecurringTransaction":
            return self._reply(200, {entity: doc})  # already {"Invoice": {...}}
        return self._reply(200, {entities.wire_name(entity): entities.present(entity, doc)})

    # -- query, batch, cdc ----------------------------------------------------------------------------
    def run_query(self, company: Company, statement: str) -> Doc:
        query = qsql.parse(statement, qsql.DEFAULT_SPECS)
        spec = qsql.DEFAULT_SPECS[query.entity]
        answer = qsql.execute(query, company.all(query.entity), spec)
        if query.entity in answer:
            found = answer.pop(query.entity)
            if query.entity in entities.PRESENTED:
                found = [entities.present(query.entity, d) for d in found]
            answer = {entities.wire_name(query.entity): found, **answer}
        return answer

    def batch(self, company: Company, body: Any) -> Doc:
        """Run a batch body without a requestid (nothing is remembered)."""
        return self._batch(company, body, None, [])

    def _batch(self, company: Company, body: Any, key: str | None, slots: list[str]) -> Doc:
        """Run the items; with ``key`` (realm:requestid) each write item's answer is remembered under
        (realm, requestid, bId) in the item's own transaction and replayed if it is already there.
        ``slots`` receives the memory keys used, for the caller to drop once the whole reply is kept."""
        items = body.get("BatchItemRequest") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            raise faults.required_missing("BatchItemRequest")
        if len(items) > self.config.batch_max_items:
            raise EmuFault(1040, "Batch size exceeds allowed limit",
                           f"The batch has {len(items)} items; at most {self.config.batch_max_items} are allowed.")
        out: list[Doc] = []
        seen: dict[str, int] = {}
        for item in items:
            bid = str(item.get("bId", "")) if isinstance(item, dict) else ""
            slot: str | None = None
            try:
                if not bid:
                    raise faults.required_missing("bId")
                occurrence = seen.get(bid, 0)
                seen[bid] = occurrence + 1
                if key is not None and not (isinstance(item, dict) and "Query" in item):
                    # a query changes nothing: it simply runs again
                    slot = json.dumps([key, bid, occurrence])
                    slots.append(slot)
                    kept = self.store.kv_get(REPLAY_ITEM_NS, slot)
                    if kept is not None:
                        self._count("replayed_item")
                        out.append({**_parse_json(kept.encode()), "bId": bid})
                        continue
                if self.config.batch_item_delay > 0:
                    self.clock.sleep(self.config.batch_item_delay)  # outside every lock
                out.append({**self._batch_item(company, item, slot), "bId": bid})
            except StoreUnavailable:
                raise  # not an answer of the item: the whole request fails, the client resends it
            except EmuFault as fault:
                answer = {"Fault": fault.fault()}
                if slot is not None:
                    self.store.kv_put(REPLAY_ITEM_NS, slot, _answer_text(answer))  # a refusal changed nothing else
                out.append({**answer, "bId": bid})
            except Exception as exc:  # an emulator bug in one item must not hide what the others did
                out.append({"Fault": _system_fault(exc).fault(), "bId": bid})
        return {"BatchItemResponse": out}

    def _batch_item(self, company: Company, item: Doc, slot: str | None) -> Doc:
        if "Query" in item:
            return {"QueryResponse": self.run_query(company, str(item["Query"]))}
        item = {entities.WIRE_ALIASES.get(k, k): v for k, v in item.items()}
        named = [k for k in item if k in SPECS]
        if len(named) != 1:
            raise EmuFault(2010, "Request has invalid or unsupported property",
                           "Property Name:a batch item needs exactly one entity, or a Query")
        entity = named[0]
        operation = str(item.get("operation", "")).lower()
        if item.get("optionsData") == "void" and operation == "update":
            operation = "void"
        if operation not in ("create", "update", "delete", "void"):
            raise EmuFault(2170, "Invalid Enumeration", f"Invalid Enumeration : {operation}", "operation")
        with self.store.transaction():
            doc = company.writer(entity, operation)(item[entity])
            if entity != "RecurringTransaction":
                doc = entities.present(entity, doc)
            if slot is not None:
                # with the change, or not at all; kept as JSON text (copying a text costs nothing)
                self.store.kv_put(REPLAY_ITEM_NS, slot, _answer_text({entities.wire_name(entity): doc}))
        return {entities.wire_name(entity): doc}

    def cdc(self, company: Company, params: dict[str, str]) -> Doc:
        names = [n.strip() for n in params.get("entities", "").split(",") if n.strip()]
        if not names:
            raise faults.required_missing("entities")
        since_text = params.get("changedSince")
        if not since_text:
            raise faults.required_missing("changedSince")
        try:
            since = parse_stamp(since_text)
        except ValueError:
            raise EmuFault(2070, "Invalid Date", f"Invalid changedSince: {since_text}", "changedSince") from None
        now = self.clock.now()
        if since < now - timedelta(days=30):
            raise EmuFault(500, "Unsupported Operation",
                           f"Operation cdc with changedSince date {since_text} which is older than fixed days is "
                           "not supported.")
        responses: list[Doc] = []
        by_lower = {name.lower(): name for name in SPECS}
        for raw in names:
            entity = by_lower.get(raw.lower())
            if entity is None:
                raise EmuFault(4001, "Invalid query", f"QueryValidationError: invalid context declaration: {raw}")
            if not SPECS[entity].cdc:
                # Intuit: CDC covers every entity but TaxCode, TaxRate, TaxAgency and TimeActivity (query those)
                raise EmuFault(500, "Unsupported Operation",
                               f"Operation cdc is not supported for {entity}: change data capture does not cover "
                               "TaxCode, TaxRate, TaxAgency or TimeActivity; read them with a query.", "entities")
            rows = company.store.changed_since(company.realm, entity, since.timestamp())[:1000]
            if entity in entities.PRESENTED:
                rows = [entities.present(entity, row) for row in rows]
            if rows:
                responses.append({entities.wire_name(entity): rows, "startPosition": 1, "maxResults": len(rows)})
            else:
                responses.append({})
        return {"CDCResponse": [{"QueryResponse": responses}]}

    # -- inspection ---------------------------------------------------------------------------------
    def info(self) -> Doc:
        cfg = self.config
        return {
            "name": "qbo-toolkit QBO emulator",
            "environment": "local",
            "base_url": self.base_url,
            "api_base_url": f"{self.base_url}/v3",
            "discovery_url": f"{self.base_url}/.well-known/openid_configuration",
            "authorization_endpoint": f"{self.base_url}/connect/oauth2",
            "inspect_url": f"{self.base_url}/_emulator",
            "realm_id": cfg.realm_id,
            "company_name": cfg.company_name,
            "company_kind": get_kind(cfg.company_kind).name,
            "realms": self.companies_by_realm,
            "client_id": cfg.client_id,
            "client_secret": cfg.client_secret,
            "redirect_uris": list(cfg.redirect_uris),
            "auto_approve": cfg.auto_approve,
            "data_dir": cfg.data_dir,
            "time_scale": cfg.time_scale,
        }

    def stats(self) -> Doc:
        with self._count_lock:
            counts = dict(self._counts)
        entities = {realm: {e: self.store.count(realm, e) for e in SPECS} for realm in self.companies}
        return {"counts": counts, "entities": entities, "oauth": self.oauth.stats(), "meter": self.meter.snapshot()}

    def _download(self, realm: str, id_: str) -> Response:
        """What an attachment's TempDownloadUri serves: the uploaded file."""
        kept = self.store.kv_get("attachment", f"{realm}:{id_}") if id_.isdigit() else None
        if kept is None:
            return Response.json(404, {"error": "not found"})
        return Response(200, base64.b64decode(kept["content"]), {"Content-Type": kept["type"]})

    #: The emulator's stand-in for QuickBooks' record pages (``app.qbo.intuit.com/app/invoice?txnId=130``):
    #: page -> (entity, the query parameter naming its Id), as QuickBooks' own links name them.
    _RECORD_PAGES: ClassVar[dict[str, tuple[str, str]]] = {
        "invoice": ("Invoice", "txnId"), "recvpayment": ("Payment", "txnId"), "creditmemo": ("CreditMemo", "txnId"),
        "refundreceipt": ("RefundReceipt", "txnId"), "salesreceipt": ("SalesReceipt", "txnId"),
        "customerdetail": ("Customer", "nameId"),
    }

    def _record_page(self, realm: str, page: str, query: dict[str, str]) -> Response:
        """``GET /_emulator/app/<realm>/<page>?txnId=<Id>``: a read-only HTML page showing the record as
        the emulator keeps it (what a person following a report's link to QuickBooks would look at).
        Everything shown is escaped; unknown pages, realms or Ids answer 404 with a sentence."""
        import html as html_text

        spec = self._RECORD_PAGES.get(page)
        if spec is None:
            return Response.html(404, f"<p>No page {html_text.escape(page)}; the record pages are "
                                      f"{', '.join(sorted(self._RECORD_PAGES))}.</p>")
        entity, param = spec
        id_ = str(query.get(param, ""))
        if not realm.isdigit() or self.store.get(realm, "CompanyInfo", realm) is None:
            return Response.html(404, f"<p>No company {html_text.escape(realm)} in this emulator.</p>")
        doc = self.store.get(realm, entity, id_) if id_.isdigit() else None
        if doc is None:
            return Response.html(404, f"<p>Company {html_text.escape(realm)} has no {entity} with {param} "
                                      f"{html_text.escape(id_)}.</p>")
        title = f"{entity} {id_}" + (f" ({doc['DocNumber']})" if doc.get("DocNumber") else "")
        body = html_text.escape(json.dumps(doc, indent=1, sort_keys=True, default=str))
        return Response.html(200, "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
                             f"{html_text.escape(title)}</title></head><body><h1>{html_text.escape(title)}</h1>"
                             "<p>The QBO emulator's copy of this record (read-only).</p>"
                             f"<pre>{body}</pre></body></html>")

    def _inspect(self, req: Request) -> Response:
        if req.method != "GET":
            return Response.json(405, {"error": "the inspection routes are read-only"})
        route = req.path.strip("/").split("/")
        if len(route) == 4 and route[1] == "download":
            return self._download(route[2], route[3])
        if len(route) == 4 and route[1] == "app":
            return self._record_page(route[2], route[3], req.query)
        what = req.path.rstrip("/").split("/")[-1]
        if what in ("_emulator", "info"):
            info = self.info()
            info["client_secret"] = "***"  # noqa: S105 - served over HTTP: the printed info line has it
            return Response.json(200, info)
        if what == "stats":
            return Response.json(200, self.stats())
        if what == "meter":
            return Response.json(200, self.meter.snapshot())
        if what == "requests":
            try:
                limit = int(req.query.get("limit", "200"))
            except ValueError:
                return Response.json(400, {"error": "limit must be a whole number"})
            rows = list(self.log)
            # the last `limit` entries (rows[-0:] would be all of them)
            return Response.json(200, {"requests": rows[len(rows) - limit:] if limit > 0 else []})
        return Response.json(404, {"error": "not found"})


def _tid() -> str:
    return f"1-{secrets.token_hex(4)}-{secrets.token_hex(12)}"


def _decode_text(body: bytes) -> str:
    """A query sent as text: UTF-8 (what python-quickbooks sends today), else read as ISO-8859-1."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("iso-8859-1")


def _answer_text(answer: Doc) -> str:
    """A batch item's answer as JSON text, money as JSON numbers like the reply prints it."""
    def number(value: Any) -> Any:
        if isinstance(value, Decimal):
            return float(value)  # repr round-trips: money keeps its digits
        raise TypeError(f"not JSON serialisable: {type(value).__name__}")

    return json.dumps(answer, default=number)


def _unavailable_fault(exc: Exception) -> EmuFault:
    return EmuFault(10000, "An application error has occurred while processing your request",
                    f"System Failure Error: the service is unavailable ({exc}); resend the request",
                    status=503, ftype="SystemFault")


def _system_fault(exc: Exception) -> EmuFault:
    return EmuFault(10000, "An application error has occurred while processing your request",
                    f"System Failure Error: {type(exc).__name__}: {exc}", status=500, ftype="SystemFault")


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8") or "null", parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EmuFault(2010, "Request has invalid or unsupported property",
                       f"Property Name:Unparseable JSON in the request body ({exc}) specified is unsupported or "
                       "invalid") from None


# -- HTTP plumbing ------------------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes: without TCP_NODELAY every reply waits ~40 ms for
    # the client's delayed ACK (Nagle), on a keep-alive connection as on a new one
    disable_nagle_algorithm = True
    server_version = "nginx"
    sys_version = ""
    emulator: Emulator  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:
        return  # the emulator keeps its own request log; stderr stays quiet

    def _handle(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            # the client went away mid-body (a killed process): an incomplete HTTP request is never
            # dispatched, so nothing runs and no requestid is remembered for a replay
            self.close_connection = True
            return
        server = self.server
        assert isinstance(server, _Server)
        if not server.begin_request():
            # the emulator is stopping: a request that arrives now (on a kept-alive connection) is not
            # run; the connection closes as a dropped one would, before anything ran
            self.close_connection = True
            return
        try:
            req = Request(
                method=self.command, path=split.path,
                query=dict(parse_qsl(split.query, keep_blank_values=True)),
                headers={k.lower(): v for k, v in self.headers.items()}, body=body,
            )
            resp = self.emulator.dispatch(req)
            if resp.drop:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            self.send_response(resp.status)
            for key, value in resp.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(resp.body)))
            if server.stopping:
                self.send_header("Connection", "close")  # no further request on this connection
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(resp.body)
        finally:
            server.end_request()

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _handle


class _Server(ThreadingHTTPServer):
    """Counts the requests being dispatched, so a stop can wait for them; tracks open connections."""

    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._flight = threading.Condition()
        self._in_flight = 0
        self.stopping = False
        self._connections: set[socket.socket] = set()

    def begin_request(self) -> bool:
        """Count a request about to be dispatched; False once the stop began (do not run it)."""
        with self._flight:
            if self.stopping:
                return False
            self._in_flight += 1
            return True

    def end_request(self) -> None:
        with self._flight:
            self._in_flight -= 1
            if self._in_flight <= 0:
                self._flight.notify_all()

    def begin_stop(self) -> None:
        with self._flight:
            self.stopping = True

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is being dispatched or answered; False if ``timeout`` passed first."""
        with self._flight:
            return self._flight.wait_for(lambda: self._in_flight <= 0, timeout)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._flight:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._flight:
            self._connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Shut every open connection down (idle keep-alive ones: their threads see the end and exit)."""
        with self._flight:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class EmulatorServer:
    """A running emulator: an HTTP server on a thread, or in the foreground with ``serve_forever``."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        if self.config.host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the emulator binds the loopback interface only")
        self.emulator = Emulator(self.config)
        handler = type("Handler", (_Handler,), {"emulator": self.emulator})
        self.httpd = _Server((self.config.host, self.config.port), handler)
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://{self.config.host}:{self.port}"
        self.emulator.base_url = self.base_url
        self._thread: threading.Thread | None = None
        self._stop_lock = threading.Lock()
        self._stopped = False
        self._stop_requested = False

    @property
    def info(self) -> Doc:
        return self.emulator.info()

    @property
    def clock(self) -> Clock:
        return self.emulator.clock

    def write_info(self) -> None:
        if self.config.info_file:
            path = Path(self.config.info_file)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".tmp")
            # it holds the client secret: readable by its owner only, from its first byte
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                os.fchmod(out.fileno(), 0o600)
                out.write(json.dumps(self.info) + "\n")
            tmp.replace(path)

    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="qbo-emulator", daemon=True)
        self._thread.start()
        self.write_info()
        return self

    def _remove_info(self) -> None:
        if self.config.info_file:
            Path(self.config.info_file).unlink(missing_ok=True)

    def stop(self, drain_timeout: float = DRAIN_TIMEOUT) -> None:
        """Stop gracefully: stop accepting, let the requests already dispatched finish and send their
        replies (for at most ``drain_timeout`` seconds), then close the store.

        A request arriving on a kept-alive connection once the stop began is not run: its connection
        closes as a dropped one would. A request still running after ``drain_timeout`` cannot answer
        a write it did not keep: the closed store refuses it (503). Calling ``stop`` again does nothing.
        """
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        self.httpd.begin_stop()
        if self._thread is not None:
            self.httpd.shutdown()  # the accept loop ends
            self._thread.join(timeout=5)
        self.httpd.server_close()  # nothing new connects
        self.httpd.wait_idle(drain_timeout)
        self.httpd.drop_connections()
        self.emulator.store.close()
        self._remove_info()  # a stale file would point the next script at a dead port

    def request_stop(self) -> None:
        """Ask ``serve_forever`` to stop gracefully. Safe in a signal handler: it only sets a flag."""
        self._stop_requested = True

    def serve_forever(self, poll_interval: float = 0.05) -> None:
        """Serve in the foreground until ``request_stop()`` (the CLI's SIGTERM and SIGINT) or Ctrl-C,
        then stop gracefully (see ``stop``)."""
        self.start()
        try:
            while not self._stop_requested:
                time.sleep(poll_interval)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()


@contextmanager
def serve(config: EmulatorConfig | None = None, **overrides: Any) -> Iterator[EmulatorServer]:
    """Start an emulator on a thread for the duration of a ``with`` block."""
    cfg = config or EmulatorConfig()
    for key, value in overrides.items():
        setattr(cfg, key, value)
    server = EmulatorServer(cfg).start()
    try:
        yield server
    finally:
        server.stop()


__all__ = ["EmulatorConfig", "EmulatorServer", "serve", "stamp"]
