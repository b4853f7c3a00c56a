"""The QBO client: one :class:`QboClient` per realm, python-quickbooks underneath.

Why a wrapper at all, when python-quickbooks already talks to QBO:

* **No global client.** python-quickbooks can keep a process-wide ``QuickBooks`` instance; here each
  realm has its own, passed as ``qb=`` on every call, so two companies can never cross.
* **Transport.** Its ``session`` is a :class:`~qbo_toolkit.qbo.transport.ResilientSession`: rate
  limits per realm, retries for 429/5xx/dropped connections only, a fresh bearer token per attempt.
* **Idempotent writes.** Every create, update, delete and void *requires* a caller-made,
  deterministic ``requestid`` (QBO replays a repeated one instead of acting twice), which is what
  makes retrying a write whose reply was lost safe.
* **Minimal bodies.** python-quickbooks' ``to_json`` sends every attribute with its blank default,
  and a full update nulls what it leaves out. :meth:`QboClient.sparse_update`, :meth:`delete`,
  :meth:`void` and :meth:`batch` send only ``Id``, ``SyncToken`` and the fields given.
* **Batch without the quadratic loop.** ``BatchManager.save`` re-filters the whole list after every
  chunk and names items with UUIDs; :meth:`QboClient.batch` chunks by 30, uses short ``bId``
  values (``b0``..``b29``, which QBO requires when a batch carries a ``requestid``) and matches
  replies by ``bId``, turning each item's Fault into an error that names the caller's record key.
* **Query and CDC edges.** Paging until a short page, exact name lookups for names QBO's query lexer
  refuses, and change-data-capture past its 1000-row cap.
* **One error boundary.** Every python-quickbooks call runs inside :meth:`QboClient._boundary`,
  which turns ``QuickbooksException`` into the toolkit's :class:`~qbo_toolkit.errors.QboError` tree
  using the HTTP status and ``intuit_tid`` the transport recorded, and names the entity and record.
  Messages never carry tokens (the error tree redacts them, and the original exception, whose text
  holds the raw reply body, is not chained).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any, Final, Literal, NamedTuple, TypeAlias, TypeVar, cast

import quickbooks.objects as qbo_objects
from quickbooks import QuickBooks
from quickbooks.exceptions import QuickbooksException

from qbo_toolkit.errors import (
    QboError,
    QboServerError,
    QueryError,
    UnsupportedOperation,
    fault_to_error,
    from_quickbooks_exception,
)
from qbo_toolkit.types import format_qbo_datetime, parse_qbo_datetime

from .pacing import Pacer
from .query import MAX_PAGE_SIZE, Select, is_latin1, iter_pages, latin1_like_pattern, select, validate_name
from .transport import DEFAULT_TIMEOUT, RateLimits, ResilientSession, RetryPolicy, SessionLike, limiter_for

__all__ = [
    "BATCH_SIZE",
    "CDC_LOOKBACK",
    "CDC_MAX_ROWS",
    "BatchOp",
    "BatchResult",
    "CdcResult",
    "Deleted",
    "QboClient",
    "entity_class",
    "entity_name",
]

E = TypeVar("E")
#: An entity given by name (``"Customer"``) or by its python-quickbooks class (``Customer``).
EntityRef: TypeAlias = str | type
BatchOperation: TypeAlias = Literal["create", "update", "delete", "void"]

#: QBO's limit for ``requestid`` on single requests, and on batch requests (API_FACTS §2.4).
MAX_REQUEST_ID: Final = 50
MAX_BATCH_REQUEST_ID: Final = 36
#: Items per batch request (python-quickbooks and the emulator use 30; see API_FACTS §7).
BATCH_SIZE: Final = 30
#: CDC returns at most this many objects per entity, and looks back at most this far.
CDC_MAX_ROWS: Final = 1000
CDC_LOOKBACK: Final = timedelta(days=30)

#: Entities voided with ``?operation=update&include=void`` and a sparse body (the rest: ``operation=void``).
_VOID_BY_UPDATE: Final = frozenset({"Payment", "SalesReceipt", "BillPayment"})
#: Name lists: their queries hide inactive rows unless ``Active`` is named.
_NAME_LISTS: Final = frozenset(
    {"Account", "Class", "Customer", "Department", "Employee", "Item", "PaymentMethod", "Term", "Vendor"}
)
_FROM: Final = re.compile(r"\bFROM\s+([A-Za-z][A-Za-z0-9]*)", re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# Entities
# --------------------------------------------------------------------------------------------


@cache
def _classes() -> dict[str, type]:
    """python-quickbooks' readable entity classes by QBO name (``"Class"`` is ``TrackingClass`` there)."""
    found: dict[str, type] = {}
    for value in vars(qbo_objects).values():
        name = getattr(value, "qbo_object_name", "")
        if isinstance(value, type) and isinstance(name, str) and name and hasattr(value, "get"):
            found[name] = value
    return found


def entity_name(entity: EntityRef) -> str:
    """The QBO name of ``entity`` (a name or a python-quickbooks class), checked to be a plain name."""
    name = entity if isinstance(entity, str) else getattr(entity, "qbo_object_name", "")
    if not isinstance(name, str) or not name:
        raise ValueError(f"not a QBO entity: {entity!r}")
    return validate_name(name, entity=True)


def entity_class(name: str) -> type | None:
    """python-quickbooks' class for the QBO entity ``name``, or None when it has none."""
    return _classes().get(name)


def _from_json(name: str, raw: Mapping[str, Any]) -> Any:
    cls = entity_class(name)
    return cast(Any, cls).from_json(raw) if cls is not None else dict(raw)


def _json_default(value: Any) -> Any:
    # Decimals go as strings, exactly as python-quickbooks sends them (QBO reads them as numbers):
    # the standard encoder can only print a float, and money must not pass through float.
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return format_qbo_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot send a {type(value).__name__} to QBO")


def _dumps(body: Mapping[str, Any]) -> str:
    return json.dumps(body, default=_json_default, ensure_ascii=False)


def _check_request_id(request_id: object, limit: int = MAX_REQUEST_ID) -> str:
    """A requestid is mandatory for writes: without one a retried write could act twice."""
    if not isinstance(request_id, str) or not request_id.strip():
        raise ValueError(
            "every write needs a deterministic request_id (e.g. derived from the WORK record and its "
            f"version), got {request_id!r}"
        )
    if len(request_id) > limit:
        raise ValueError(f"request_id is {len(request_id)} characters; QBO allows at most {limit}: {request_id!r}")
    return request_id


def _get_path(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if obj is None:
            return None
        obj = obj.get(part) if isinstance(obj, Mapping) else getattr(obj, part, None)
    return obj


def _aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (with a UTC offset), got {value!r}")
    return value


# --------------------------------------------------------------------------------------------
# Result types
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatchOp:
    """One batch item: ``op`` on ``entity`` with ``payload``; ``key`` is the caller's record key.

    ``payload`` is the JSON object QBO gets: the full object for a create, ``Id`` + ``SyncToken``
    (+ ``"sparse": true`` and the changed fields) for an update, ``Id`` + ``SyncToken`` for a delete
    or void.
    """

    op: BatchOperation
    entity: str
    payload: Mapping[str, Any]
    key: str

    def __post_init__(self) -> None:
        if self.op not in ("create", "update", "delete", "void"):
            raise ValueError(f"unsupported batch operation {self.op!r} (record {self.key})")
        validate_name(self.entity, entity=True)
        if not isinstance(self.payload, Mapping):
            raise TypeError(f"batch payload must be a mapping (record {self.key})")


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The answer for one :class:`BatchOp`: ``obj`` (a python-quickbooks object; a dict for a
    delete stub) when ``ok``, else ``error`` (a :class:`QboError` naming the entity and ``key``)."""

    key: str
    ok: bool
    obj: Any = None
    error: QboError | None = None


class Deleted(NamedTuple):
    """A deleted object as CDC reports it: its Id and when it was deleted."""

    id: str
    last_updated: datetime


class _Objects(Mapping[str, tuple[Any, ...]]):
    """CDC's changed objects per entity as python-quickbooks objects, built from the JSON on first
    access of an entity (building them costs more than the request; most readers want the JSON)."""

    def __init__(self, raws: Mapping[str, tuple[Mapping[str, Any], ...]]) -> None:
        self._raws = raws
        self._built: dict[str, tuple[Any, ...]] = {}

    def __getitem__(self, name: str) -> tuple[Any, ...]:
        if name not in self._built:
            self._built[name] = tuple(_from_json(name, value) for value in self._raws[name])
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._raws)

    def __len__(self) -> int:
        return len(self._raws)


@dataclass(frozen=True)
class CdcResult:
    """What changed since ``since`` (up to ``until``, if given), per entity, newest version only.

    ``objects`` are python-quickbooks objects ordered by LastUpdatedTime; ``deleted`` the stubs of
    deleted objects. ``server_time`` is QBO's clock at the first reply: the ``since`` of the next
    run. ``incomplete`` names entities where more than 1000 changes shared one second, so CDC could
    not list every deletion in that second (objects were still read by a query); reconcile those.
    """

    since: datetime
    until: datetime | None
    objects: Mapping[str, tuple[Any, ...]]
    deleted: Mapping[str, tuple[Deleted, ...]]
    server_time: datetime | None = None
    incomplete: frozenset[str] = field(default_factory=frozenset)
    #: the changed objects of ``objects`` as QBO sent them (JSON dicts), same order
    raw: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------


class QboClient:
    """One QBO company (realm) through python-quickbooks, over a :class:`ResilientSession`.

    ``session`` is the authenticated requests-compatible session (the project's refreshing
    ``OAuth2Session``); ``api_base_url`` the ``.../v3`` base (Intuit production, sandbox, or the
    emulator's ``api_base_url``). ``limits``/``retry`` default to :class:`RateLimits()` and
    :class:`RetryPolicy()`; the rate limiter is the realm's process-wide one.
    """

    def __init__(
        self,
        session: SessionLike,
        realm_id: str,
        api_base_url: str,
        *,
        minorversion: int = 75,
        limits: RateLimits | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        if not str(realm_id).strip():
            raise ValueError("realm_id is required")
        self.realm_id = str(realm_id)
        self.api_base_url = api_base_url.rstrip("/")
        self.transport = ResilientSession(
            session, limiter_for(self.realm_id, limits or RateLimits()), retry or RetryPolicy(), timeout=timeout
        )
        qb = QuickBooks(company_id=self.realm_id, minorversion=minorversion, use_decimal=True)
        qb.session = self.transport
        qb.api_url_v3 = self.api_base_url  # an instance attribute: never the class-wide default
        self.qb = qb
        #: called (entity, operation, QBO's reply object as JSON) after every write QBO answered
        #: (batch items included), on the thread that sent it; see :meth:`observing`
        self._observers: list[Callable[[str, str, Mapping[str, Any]], None]] = []

    @contextmanager
    def observing(self, observer: Callable[[str, str, Mapping[str, Any]], None]) -> Iterator[None]:
        """Tell ``observer(entity, operation, object)`` QBO's answer to every write made while the
        block runs (create, update, delete stub, void; each answered batch item): a copy of QBO can
        follow the writes without reading them back. Called on the sending thread: keep it cheap."""
        self._observers.append(observer)
        try:
            yield
        finally:
            self._observers.remove(observer)

    def _observed(self, entity: str, operation: str, obj: Any) -> None:
        if not self._observers:
            return
        raw = obj if isinstance(obj, Mapping) else getattr(obj, "to_dict", lambda: None)()
        if isinstance(raw, Mapping):
            for observer in list(self._observers):
                observer(entity, operation, raw)

    def __repr__(self) -> str:
        return f"QboClient(realm_id={self.realm_id!r}, api_base_url={self.api_base_url!r})"

    # -- pacing and counters (for senders that keep many requests in flight) -----------------------
    def pacer(self) -> Pacer:
        """A :class:`~qbo_toolkit.qbo.pacing.Pacer` for this realm: slots for batch and single
        requests sent side by side at the whole of QBO's ceiling."""
        return Pacer(self)

    def requests_sent(self) -> int:
        """HTTP attempts this client has sent so far (retries included)."""
        return int(self.transport.stats.snapshot().get("requests", 0))

    # -- the error boundary ---------------------------------------------------------------------
    @contextmanager
    def _boundary(self, entity: str | None, record: str | None) -> Iterator[None]:
        """Run python-quickbooks calls; turn what they raise into the toolkit's errors, once."""
        self.transport.reset_last()
        try:
            yield
        except QuickbooksException as exc:
            last = self.transport.last
            context: dict[str, Any] = {
                "http_status": last.status,
                "intuit_tid": last.intuit_tid,
                "entity": entity,
                "record": record,
                "retry_after": last.retry_after,
            }
            fault = _json_fault(last.error_body)
            error = fault_to_error(fault, **context) if fault else from_quickbooks_exception(exc, **context)
            raise error from None  # the original's text holds the raw reply body: keep it out of tracebacks
        except QboError as err:  # raised by the transport (no reply), or by this module
            if err.entity is None:
                err.entity = entity
            if err.record is None:
                err.record = record
            raise

    # -- reads ----------------------------------------------------------------------------------
    def company_info(self) -> Any:
        """The company's CompanyInfo (name, country, address)."""
        with self._boundary("CompanyInfo", f"Id {self.realm_id}"):
            return cast(Any, qbo_objects.CompanyInfo).get(self.realm_id, qb=self.qb)

    def read(self, entity: type[E], id_: str | int) -> E:
        """One object by Id (``ObjectNotFound`` if there is none)."""
        name = entity_name(entity)
        with self._boundary(name, f"Id {id_}"):
            return cast(E, cast(Any, entity).get(str(id_), qb=self.qb))

    def _query_rows(self, statement: str) -> tuple[str | None, list[Mapping[str, Any]]]:
        """Run one statement; (entity key of the reply, raw rows)."""
        key, rows, _ = self._query_reply(statement)
        return key, rows

    def query_timed(self, statement: str | Select) -> tuple[list[dict[str, Any]], datetime | None]:
        """One page of ``statement`` as QBO's JSON dicts, and QBO's clock at the reply (its ``time``):
        where a copy read by this query can start its next change-data-capture."""
        text = statement.statement() if isinstance(statement, Select) else statement
        _, rows, at = self._query_reply(text)
        return [dict(row) for row in rows], at

    def _query_reply(self, statement: str) -> tuple[str | None, list[Mapping[str, Any]], datetime | None]:
        match = _FROM.search(statement)
        name = match.group(1) if match else None
        if not is_latin1(statement):
            # http.client would fail to encode it, and QBO's lexer refuses it anyway (4000).
            raise QueryError(
                "the query has characters outside ISO-8859-1, which QBO's query lexer refuses; "
                "use find_by_name(), which searches with LIKE and compares exactly",
                entity=name,
                record="query",
            )
        with self._boundary(name, "query"):
            reply = self.qb.query(statement)
        at = _reply_time(reply)
        response = reply.get("QueryResponse") or {}
        for key, value in response.items():
            if isinstance(value, list):
                return key, value, at
        return name, [], at

    def query(self, statement: str | Select, *, raw: bool = False) -> list[Any]:
        """Run one QBO query statement (or a :class:`Select`'s statement); python-quickbooks objects,
        or with ``raw`` the JSON dicts as QBO sent them (no conversion either way: the reconciliation
        reads thousands of rows as plain data).

        Returns one page only (QBO's default is 100 rows): use :meth:`query_all` for every row.
        """
        text = statement.statement() if isinstance(statement, Select) else statement
        key, rows = self._query_rows(text)
        if raw:
            return [dict(row) for row in rows]
        return [_from_json(key, row) for row in rows] if key else []

    def _as_select(self, query: Select | EntityRef) -> Select:
        sel = query if isinstance(query, Select) else select(entity_name(query))
        # STARTPOSITION paging over an unordered set may skip or repeat rows: pin an order.
        return sel if sel.order else sel.order_by("Id")

    def iter_query(self, query: Select | EntityRef, *, page_size: int = MAX_PAGE_SIZE,
                   raw: bool = False) -> Iterator[list[Any]]:
        """Pages of ``query`` (a :class:`Select`, or an entity for all its rows), until a short page.
        Ordered by Id unless the Select orders itself. ``raw``: QBO's JSON dicts (see :meth:`query`)."""
        run = (lambda statement: self.query(statement, raw=True)) if raw else self.query
        return iter_pages(self._as_select(query).page, run, page_size)

    def query_all(self, query: Select | EntityRef, *, page_size: int = MAX_PAGE_SIZE) -> list[Any]:
        """Every row of ``query`` (pages of ``page_size``, at most 1000, until a short page)."""
        return [row for page in self.iter_query(query, page_size=page_size) for row in page]

    def count(self, query: Select | EntityRef) -> int:
        """``SELECT COUNT(*)`` for ``query`` (a Select's conditions count; its order is ignored)."""
        sel = query if isinstance(query, Select) else select(entity_name(query))
        with self._boundary(sel.entity, "count"):
            reply = self.qb.query(sel.count())
        return int((reply.get("QueryResponse") or {}).get("totalCount", 0))

    def find_by_name(
        self, entity: EntityRef, field_name: str, value: str, *, include_inactive: bool = True
    ) -> Any | None:
        """The object whose ``field_name`` equals ``value`` exactly (case included), or None.

        Works for any name: a value QBO's lexer accepts is looked up with ``=``; one with characters
        above U+00FF (``“quoted”``, ``O’Brien``) with ``LIKE`` where each such run is ``%``. Either
        way rows are compared exactly here, since QBO compares case-insensitively. Inactive rows of
        name lists are included by default (their names still block reuse). When several rows
        match exactly (only possible for non-unique fields), the one with the lowest Id is returned.
        """
        name = entity_name(entity)
        sel = select(name)
        if is_latin1(value):
            sel = sel.where(field_name, "=", value)
        else:
            sel = sel.where(field_name, "LIKE", latin1_like_pattern(value))
        if include_inactive and name in _NAME_LISTS:
            sel = sel.include_inactive()
        for page in self.iter_query(sel):
            for row in page:
                if _get_path(row, field_name) == value:
                    return row
        return None

    # -- writes ---------------------------------------------------------------------------------
    def create(self, obj: E, *, request_id: str, record: str | None = None) -> E:
        """Create ``obj`` (a python-quickbooks object without Id); returns QBO's version of it."""
        rid = _check_request_id(request_id)
        name = entity_name(type(obj))
        if getattr(obj, "Id", None):
            raise ValueError(f"create() takes a new {name}; this one has Id {getattr(obj, 'Id', '')}: use update()")
        with self._boundary(name, record or f"requestid {rid}"):
            saved = cast(E, cast(Any, obj).save(qb=self.qb, request_id=rid))
        self._observed(name, "create", saved)
        return saved

    def create_from(self, entity: EntityRef, payload: Mapping[str, Any], *, request_id: str,
                    record: str | None = None, raw: bool = False) -> Any:
        """Create from a plain JSON payload (only the fields given are sent). ``raw``: return QBO's
        object as the JSON dict it sent rather than as a python-quickbooks object (cheaper, for
        callers that only read a few fields)."""
        rid = _check_request_id(request_id)
        name = entity_name(entity)
        with self._boundary(name, record or f"requestid {rid}"):
            reply = self.qb.create_object(name, _dumps(payload), request_id=rid)
        self._observed(name, "create", reply[name])
        return dict(reply[name]) if raw else _from_json(name, reply[name])

    def update(self, obj: E, *, request_id: str, record: str | None = None) -> E:
        """Full update of ``obj`` (python-quickbooks ``save``): writable fields left unset are
        cleared by QBO. Prefer :meth:`sparse_update` for changes to a few fields."""
        rid = _check_request_id(request_id)
        name = entity_name(type(obj))
        if not getattr(obj, "Id", None):
            raise ValueError(f"update() takes a saved {name} (with Id and SyncToken); use create()")
        with self._boundary(name, record or f"Id {getattr(obj, 'Id', '')}"):
            saved = cast(E, cast(Any, obj).save(qb=self.qb, request_id=rid))
        self._observed(name, "update", saved)
        return saved

    def sparse_update(
        self,
        entity: EntityRef,
        id_: str,
        sync_token: str,
        fields: Mapping[str, Any],
        *,
        request_id: str,
        record: str | None = None,
    ) -> Any:
        """Change only ``fields`` of object ``id_`` at version ``sync_token`` (``StaleObject`` if
        it moved on). The body is ``{"sparse": true, "Id", "SyncToken", **fields}`` and nothing else."""
        rid = _check_request_id(request_id)
        name = entity_name(entity)
        reserved = {"Id", "SyncToken", "sparse"} & set(fields)
        if reserved:
            raise ValueError(f"sparse_update() sets {sorted(reserved)} itself; pass only the changed fields")
        body = {**fields, "Id": str(id_), "SyncToken": str(sync_token), "sparse": True}
        with self._boundary(name, record or f"Id {id_}"):
            reply = self.qb.update_object(name, _dumps(body), request_id=rid)
        self._observed(name, "update", reply[name])
        return _from_json(name, reply[name])

    def delete(self, entity: EntityRef, id_: str, sync_token: str, *, request_id: str,
               record: str | None = None) -> dict[str, Any]:
        """Delete a transaction (``?operation=delete``); returns QBO's ``status: Deleted`` stub.
        Name lists (Customer, Item, ...) cannot be deleted: deactivate them with a sparse update."""
        rid = _check_request_id(request_id)
        name = entity_name(entity)
        body = {"Id": str(id_), "SyncToken": str(sync_token)}
        with self._boundary(name, record or f"Id {id_}"):
            reply = self.qb.delete_object(name, _dumps(body), request_id=rid)
        self._observed(name, "delete", reply[name])
        return dict(reply[name])

    def void(self, entity: EntityRef, id_: str, sync_token: str, *, request_id: str,
             record: str | None = None) -> Any:
        """Void a transaction: Invoice with ``?operation=void``; Payment, SalesReceipt and
        BillPayment with ``?operation=update&include=void`` and a sparse body (API_FACTS §2.2)."""
        rid = _check_request_id(request_id)
        name = entity_name(entity)
        body: dict[str, Any] = {"Id": str(id_), "SyncToken": str(sync_token)}
        if name in _VOID_BY_UPDATE:
            body["sparse"] = True
            params = {"operation": "update", "include": "void"}
        else:
            params = {"operation": "void"}
        with self._boundary(name, record or f"Id {id_}"):
            reply = self.qb.update_object(name, _dumps(body), request_id=rid, params=params)
        self._observed(name, "void", reply[name])
        return _from_json(name, reply[name])

    # -- batch ----------------------------------------------------------------------------------
    def iter_batch(
        self,
        items: Iterable[BatchOp],
        *,
        request_id: Callable[[int, Sequence[BatchOp]], str] | None = None,
        chunk_size: int = BATCH_SIZE,
        raw: bool = False,
    ) -> Iterator[list[BatchResult]]:
        """Send ``items`` in chunks of ``chunk_size`` and yield each chunk's results in item order.

        Yielding per chunk lets a caller record what was written before a later chunk fails.
        ``request_id(chunk_index, chunk)`` makes the chunk's ``requestid`` (≤ 36 characters); it must
        be deterministic, so a re-run replays instead of writing twice. Without it a chunk is not
        retried after a 5xx or a lost reply (it might have been applied). A failure of a whole
        request (401, 429 or 5xx after the retries, a batch-level Fault) raises the mapped error.
        ``raw``: each result's ``obj`` is QBO's JSON dict rather than a python-quickbooks object
        (cheaper, for callers that only read a few fields).
        """
        if isinstance(chunk_size, bool) or not 1 <= chunk_size <= BATCH_SIZE:
            raise ValueError(f"chunk_size must be 1..{BATCH_SIZE}, got {chunk_size!r}")
        chunk: list[BatchOp] = []
        index = 0
        for item in items:
            chunk.append(item)
            if len(chunk) == chunk_size:
                yield self._batch_chunk(index, chunk, request_id, raw)
                index += 1
                chunk = []
        if chunk:
            yield self._batch_chunk(index, chunk, request_id, raw)

    def batch(
        self,
        items: Iterable[BatchOp],
        *,
        request_id: Callable[[int, Sequence[BatchOp]], str] | None = None,
        chunk_size: int = BATCH_SIZE,
        raw: bool = False,
    ) -> list[BatchResult]:
        """All results of :meth:`iter_batch`, in item order."""
        return [r for results in self.iter_batch(items, request_id=request_id, chunk_size=chunk_size, raw=raw)
                for r in results]

    def _batch_chunk(
        self, index: int, chunk: Sequence[BatchOp], request_id: Callable[[int, Sequence[BatchOp]], str] | None,
        raw: bool = False,
    ) -> list[BatchResult]:
        rid = _check_request_id(request_id(index, chunk), MAX_BATCH_REQUEST_ID) if request_id else None
        bids = [f"b{i}" for i in range(len(chunk))]
        requests_: list[dict[str, Any]] = []
        for bid, op in zip(bids, chunk, strict=True):
            payload = dict(op.payload)
            item: dict[str, Any] = {"bId": bid}
            if op.op == "void":
                item.update(operation="update", optionsData="void")
                if op.entity in _VOID_BY_UPDATE:
                    payload.setdefault("sparse", True)
            else:
                item["operation"] = op.op
            item[op.entity] = payload
            requests_.append(item)
        keys = f"{chunk[0].key}..{chunk[-1].key}" if len(chunk) > 1 else chunk[0].key
        url = f"{self.qb.api_url}/company/{self.realm_id}/batch"
        with self._boundary("batch", f"chunk {index} ({keys})"):
            # qb.batch_operation() cannot carry a requestid; it is exactly this post without one.
            reply = self.qb.post(url, _dumps({"BatchItemRequest": requests_}), request_id=rid)
        tid = self.transport.last.intuit_tid
        answers = {
            str(answer.get("bId")): answer
            for answer in reply.get("BatchItemResponse") or ()
            if isinstance(answer, Mapping)
        }
        results: list[BatchResult] = []
        for bid, op in zip(bids, chunk, strict=True):
            answer = answers.get(bid)
            if answer is None:
                error: QboError = QboServerError(
                    "QBO's batch reply has no answer for this item", entity=op.entity, record=op.key, intuit_tid=tid
                )
                results.append(BatchResult(op.key, False, None, error))
            elif isinstance(answer.get("Fault"), Mapping):
                error = fault_to_error(answer["Fault"], intuit_tid=tid, entity=op.entity, record=op.key)
                results.append(BatchResult(op.key, False, None, error))
            elif isinstance(answer.get(op.entity), Mapping):
                found = answer[op.entity]
                self._observed(op.entity, op.op, found)
                obj = dict(found) if op.op == "delete" or raw else _from_json(op.entity, found)
                results.append(BatchResult(op.key, True, obj, None))
            else:
                error = QboServerError(
                    f"QBO's batch answer has neither {op.entity} nor Fault", entity=op.entity, record=op.key,
                    intuit_tid=tid,
                )
                results.append(BatchResult(op.key, False, None, error))
        return results

    # -- change data capture --------------------------------------------------------------------
    def cdc(
        self,
        entities: Iterable[EntityRef],
        since: datetime,
        until: datetime | None = None,
        *,
        now: datetime | None = None,
    ) -> CdcResult:
        """Objects of ``entities`` changed since ``since`` (aware), and the ones deleted.

        QBO's CDC looks back at most 30 days (older is refused here, as QBO would) and returns at
        most 1000 objects per entity, oldest first, with no paging and no upper bound. So when an
        entity comes back with 1000 rows, the window is split: the next request for that entity
        starts at the newest LastUpdatedTime seen, and duplicates keep their newest version. If
        1000 rows share one second, CDC cannot move past it; the objects of that second are then
        read with a query and the entity is listed in ``CdcResult.incomplete`` (deletions in that
        second may be missing). ``until`` drops versions whose current LastUpdatedTime is later.

        The reply is read raw (``qb.change_data_capture``) rather than through
        ``quickbooks.cdc.change_data_capture``, which matches entity keys case-sensitively and
        dresses deleted stubs up as ordinary objects; here a stub is told by ``status: Deleted``.
        """
        names = list(dict.fromkeys(entity_name(e) for e in entities))
        if not names:
            raise ValueError("cdc() needs at least one entity")
        _aware(since, "since")
        if until is not None and _aware(until, "until") < since:
            raise ValueError(f"until ({until}) is before since ({since})")
        current = now or datetime.now(UTC)
        if since < current - CDC_LOOKBACK:
            raise UnsupportedOperation(
                f"CDC looks back at most {CDC_LOOKBACK.days} days; since={since.isoformat()} is older. "
                "Re-read the entities with a full query instead.",
                entity=",".join(names),
                record="cdc",
            )
        newest: dict[str, dict[str, tuple[datetime, Any]]] = {name: {} for name in names}
        cursors = dict.fromkeys(names, since)
        pending = set(names)
        incomplete: set[str] = set()
        server_time: datetime | None = None

        def keep(name: str, raw: Mapping[str, Any], fallback: datetime) -> datetime:
            row_id, stamp, value = _cdc_row(raw, fallback)
            if until is None or stamp <= until:
                kept = newest[name].get(row_id)
                if kept is None or stamp >= kept[0]:
                    newest[name][row_id] = (stamp, value)
            return stamp

        while pending:
            groups: dict[datetime, list[str]] = {}
            for name in names:
                if name in pending:
                    groups.setdefault(cursors[name], []).append(name)
            for cursor, group in groups.items():
                reply = self._cdc_request(group, cursor)
                server_time = server_time or _reply_time(reply)
                rows_by_name = _cdc_rows(reply, group)
                for name in group:
                    rows = rows_by_name.get(name, [])
                    latest = max((keep(name, raw, cursor) for raw in rows), default=cursor)
                    if len(rows) < CDC_MAX_ROWS or (until is not None and latest > until):
                        pending.discard(name)
                    elif latest > cursor:
                        cursors[name] = latest
                    else:
                        for raw in self._changed_within_second(name, cursor):
                            keep(name, raw, cursor)
                        cursors[name] = cursor.replace(microsecond=0) + timedelta(seconds=1)
                        incomplete.add(name)
        deleted: dict[str, tuple[Deleted, ...]] = {}
        raws: dict[str, tuple[Mapping[str, Any], ...]] = {}
        for name in names:
            ordered = sorted(newest[name].items(), key=lambda kv: (kv[1][0], _id_key(kv[0])))
            deleted[name] = tuple(value for _, (_, value) in ordered if isinstance(value, Deleted))
            raws[name] = tuple(value for _, (_, value) in ordered if not isinstance(value, Deleted))
        # python-quickbooks objects are built per entity when asked for: the mirror reads only ``raw``
        return CdcResult(since, until, _Objects(raws), deleted, server_time, frozenset(incomplete), raws)

    def _cdc_request(self, names: Sequence[str], since: datetime) -> Mapping[str, Any]:
        entities = ",".join(names)
        changed_since = format_qbo_datetime(since)
        with self._boundary(entities, f"cdc since {changed_since}"):
            return cast(Mapping[str, Any], self.qb.change_data_capture(entities, changed_since))

    def _changed_within_second(self, name: str, second: datetime) -> list[Mapping[str, Any]]:
        """Objects of ``name`` last updated within the second starting at ``second`` (a query, so
        no 1000-row cap, but deleted objects are not listed)."""
        start = second.replace(microsecond=0)
        sel = (
            select(name)
            .where("MetaData.LastUpdatedTime", ">=", start)
            .where("MetaData.LastUpdatedTime", "<", start + timedelta(seconds=1))
            .order_by("Id")
        )
        if name in _NAME_LISTS:
            sel = sel.include_inactive()
        return [row for page in iter_pages(sel.page, lambda text: self._query_rows(text)[1]) for row in page]


def _json_fault(body: str | None) -> Mapping[str, Any] | None:
    """The JSON Fault of an error reply, when it has one (the whole of it, ``element`` included)."""
    if not body:
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    if isinstance(parsed, Mapping) and isinstance(parsed.get("Fault") or parsed.get("fault"), Mapping):
        return parsed
    return None


def _id_key(id_: str) -> tuple[int, str]:
    return (int(id_), "") if id_.isdigit() else (0, id_)


def _reply_time(reply: Mapping[str, Any]) -> datetime | None:
    text = reply.get("time")
    if not isinstance(text, str):
        return None
    try:
        return parse_qbo_datetime(text)
    except ValueError:
        return None


def _cdc_rows(reply: Mapping[str, Any], names: Sequence[str]) -> dict[str, list[Mapping[str, Any]]]:
    """Rows per requested entity from ``{"CDCResponse": [{"QueryResponse": [{<Entity>: [...]}, ...]}]}``
    (entity keys matched case-insensitively; an entity without changes is ``{}``)."""
    wanted = {name.lower(): name for name in names}
    found: dict[str, list[Mapping[str, Any]]] = {}
    for cdc in reply.get("CDCResponse") or ():
        if not isinstance(cdc, Mapping):
            continue
        for response in cdc.get("QueryResponse") or ():
            if not isinstance(response, Mapping):
                continue
            for key, value in response.items():
                name = wanted.get(str(key).lower())
                if name is not None and isinstance(value, list):
                    found.setdefault(name, []).extend(row for row in value if isinstance(row, Mapping))
    return found


def _cdc_row(raw: Mapping[str, Any], fallback: datetime) -> tuple[str, datetime, Any]:
    """(Id, LastUpdatedTime, raw object or :class:`Deleted`) for one CDC row."""
    row_id = str(raw.get("Id", ""))
    text = _get_path(raw, "MetaData.LastUpdatedTime")
    try:
        stamp = parse_qbo_datetime(text) if isinstance(text, str) else fallback
    except ValueError:
        stamp = fallback
    if str(raw.get("status", "")).lower() == "deleted":
        return row_id, stamp, Deleted(row_id, stamp)
    return row_id, stamp, raw
