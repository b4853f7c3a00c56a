"""Company state: entity documents, deleted stubs, counters and small key-value records.

Everything lives in memory (dictionaries of JSON-shaped documents) and, when a path is given, is written
through to one SQLite file so that the state survives a restart. Writes are grouped in transactions:
``with store.transaction():`` stages every put and delete, and applies them only when the block ends
without an exception, so a failed request leaves no half-written state.

Durability: a transaction is committed to SQLite first and applied to memory only once the COMMIT
has returned, so a failed commit leaves memory as it was, and nothing a caller is told was written
exists only in memory. The file is in WAL mode with ``synchronous=NORMAL``: a COMMIT has written its
frames into the WAL (the operating system's page cache) before it returns, which survives the
process being killed (SIGKILL included); only a power loss or a kernel crash can lose the last
commits, which an emulator need not survive, and an fsync per commit would cost the benchmarks
throughput for nothing they can observe. A store opened with a path refuses every write once it is
closed (:class:`StoreUnavailable`): it never accepts a write it will not keep.

Callers that keep their own derived state (indexes) register an undo with :meth:`Store.on_rollback`;
it runs when the transaction that made the change does not commit.

The store is shared by every request thread; one re-entrant lock serialises access to it.
"""

from __future__ import annotations

import copy
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

Doc = dict[str, Any]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entities (
    realm TEXT NOT NULL, entity TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL, mtime REAL NOT NULL,
    PRIMARY KEY (realm, entity, id));
CREATE TABLE IF NOT EXISTS deleted (
    realm TEXT NOT NULL, entity TEXT NOT NULL, id TEXT NOT NULL, stub TEXT NOT NULL, mtime REAL NOT NULL,
    PRIMARY KEY (realm, entity, id));
CREATE TABLE IF NOT EXISTS counters (
    realm TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL, PRIMARY KEY (realm, name));
CREATE TABLE IF NOT EXISTS kv (
    ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (ns, key));
"""

_MISSING = object()


class StoreUnavailable(RuntimeError):
    """A write the store cannot keep: it is closed, or SQLite refused the commit. Nothing was applied."""


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # repr round-trips: money keeps its digits
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_default)


def _loads(text: str) -> Any:
    return json.loads(text, parse_float=Decimal)


class Store:
    def __init__(self, path: str | Path | None = None) -> None:
        self.lock = threading.RLock()
        self.path = Path(path) if path else None
        self._db: sqlite3.Connection | None = None
        self._docs: dict[tuple[str, str], dict[str, Doc]] = {}
        self._mtime: dict[tuple[str, str], dict[str, float]] = {}
        self._deleted: dict[tuple[str, str], dict[str, tuple[Doc, float]]] = {}
        self._counters: dict[tuple[str, str], int] = {}
        self._kv: dict[tuple[str, str], Any] = {}
        self._pending: list[tuple[str, tuple[Any, ...]]] | None = None
        self._undo: list[Callable[[], None]] = []
        self._depth = 0
        self._closed = False
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._load()

    # -- loading and closing -------------------------------------------------------------------
    def _load(self) -> None:
        assert self._db is not None
        for realm, entity, id_, doc, mtime in self._db.execute("SELECT realm, entity, id, doc, mtime FROM entities"):
            self._docs.setdefault((realm, entity), {})[id_] = _loads(doc)
            self._mtime.setdefault((realm, entity), {})[id_] = mtime
        for realm, entity, id_, stub, mtime in self._db.execute("SELECT realm, entity, id, stub, mtime FROM deleted"):
            self._deleted.setdefault((realm, entity), {})[id_] = (_loads(stub), mtime)
        for realm, name, value in self._db.execute("SELECT realm, name, value FROM counters"):
            self._counters[(realm, name)] = value
        for ns, key, value in self._db.execute("SELECT ns, key, value FROM kv"):
            self._kv[(ns, key)] = _loads(value)

    def close(self) -> None:
        """Close the file. Waits for a transaction in progress (it holds the lock) to commit first."""
        with self.lock:
            self._closed = True
            if self._db is not None:
                self._db.close()
                self._db = None

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_writable(self) -> None:
        if self._closed and self.path is not None:
            raise StoreUnavailable("the emulator's store is closed: the write was not made")

    def is_empty(self) -> bool:
        with self.lock:
            return not self._docs

    # -- transactions --------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Stage writes; apply them all when the outermost block ends cleanly, none otherwise."""
        with self.lock:
            outer = self._depth == 0
            if outer:
                self._check_writable()
                self._pending = []
                self._undo = []
                self._staged: dict[tuple[str, str, str], Any] = {}
                self._staged_counters: dict[tuple[str, str], int] = {}
                self._staged_kv: dict[tuple[str, str], Any] = {}
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outer:
                    self._pending = None
                    self._rolled_back()
                raise
            self._depth -= 1
            if outer:
                pending, self._pending = self._pending or [], None
                try:
                    self._apply(pending)
                except BaseException:
                    self._rolled_back()
                    raise
                self._undo = []

    def on_rollback(self, undo: Callable[[], None]) -> None:
        """Run ``undo`` if the current transaction does not commit (outside one: never)."""
        with self.lock:
            if self._pending is not None:
                self._undo.append(undo)

    def _rolled_back(self) -> None:
        undo, self._undo = self._undo, []
        for fn in reversed(undo):
            fn()

    def _apply(self, pending: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Commit to SQLite, then (only then) apply to memory: a failed commit changes nothing."""
        if not pending:
            return
        self._check_writable()
        db = self._db
        if db is not None:
            try:
                db.execute("BEGIN")
                for op, args in pending:
                    getattr(self, "_sql_" + op)(db, *args)
                db.execute("COMMIT")
            except BaseException as exc:
                if db.in_transaction:
                    try:
                        db.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass  # SQLite may have rolled back by itself (a full disk, an I/O error)
                if isinstance(exc, sqlite3.Error):
                    raise StoreUnavailable(f"the emulator's store refused the write: {exc}") from exc
                raise
        for op, args in pending:
            getattr(self, "_mem_" + op)(*args)

    def _stage(self, op: str, *args: Any) -> None:
        if self._pending is None:  # not inside a transaction: apply at once
            self._apply([(op, args)])
        else:
            self._pending.append((op, args))

    # -- entities ------------------------------------------------------------------------------
    def get(self, realm: str, entity: str, id_: str) -> Doc | None:
        with self.lock:
            if self._pending is not None:
                staged = self._staged.get((realm, entity, id_), _MISSING)
                if staged is not _MISSING:
                    return copy.deepcopy(staged) if staged is not None else None
            doc = self._docs.get((realm, entity), {}).get(id_)
            return copy.deepcopy(doc) if doc is not None else None

    def peek(self, realm: str, entity: str, id_: str) -> Doc | None:
        """:meth:`get` without the copy, for rules that only read a field or two of a large document
        (Preferences, CompanyInfo, a tax rate) on every write. Callers must not mutate what they get."""
        with self.lock:
            if self._pending is not None:
                staged = self._staged.get((realm, entity, id_), _MISSING)
                if staged is not _MISSING:
                    return cast(Doc | None, staged)
            return self._docs.get((realm, entity), {}).get(id_)

    def put(self, realm: str, entity: str, doc: Doc, mtime: float) -> None:
        with self.lock:
            doc = copy.deepcopy(doc)
            if self._pending is not None:
                self._staged[(realm, entity, doc["Id"])] = doc
            self._stage("put", realm, entity, doc, mtime)

    def delete(self, realm: str, entity: str, id_: str, stub: Doc, mtime: float) -> None:
        """Remove a document and keep its deleted stub for change data capture."""
        with self.lock:
            if self._pending is not None:
                self._staged[(realm, entity, id_)] = None
            self._stage("delete", realm, entity, id_, copy.deepcopy(stub), mtime)

    def _sql_put(self, db: sqlite3.Connection, realm: str, entity: str, doc: Doc, mtime: float) -> None:
        db.execute(
            "INSERT OR REPLACE INTO entities (realm, entity, id, doc, mtime) VALUES (?, ?, ?, ?, ?)",
            (realm, entity, doc["Id"], _dumps(doc), mtime),
        )

    def _mem_put(self, realm: str, entity: str, doc: Doc, mtime: float) -> None:
        self._docs.setdefault((realm, entity), {})[doc["Id"]] = doc
        self._mtime.setdefault((realm, entity), {})[doc["Id"]] = mtime

    def _sql_delete(self, db: sqlite3.Connection, realm: str, entity: str, id_: str, stub: Doc, mtime: float) -> None:
        db.execute("DELETE FROM entities WHERE realm = ? AND entity = ? AND id = ?", (realm, entity, id_))
        db.execute(
            "INSERT OR REPLACE INTO deleted (realm, entity, id, stub, mtime) VALUES (?, ?, ?, ?, ?)",
            (realm, entity, id_, _dumps(stub), mtime),
        )

    def _mem_delete(self, realm: str, entity: str, id_: str, stub: Doc, mtime: float) -> None:
        self._docs.get((realm, entity), {}).pop(id_, None)
        self._mtime.get((realm, entity), {}).pop(id_, None)
        self._deleted.setdefault((realm, entity), {})[id_] = (stub, mtime)

    def all(self, realm: str, entity: str) -> list[Doc]:
        """Every document of one entity, in id order. Callers must not mutate what they get."""
        with self.lock:
            docs = dict(self._docs.get((realm, entity), {}))
            if self._pending is not None:
                for (r, e, i), doc in self._staged.items():
                    if r == realm and e == entity:
                        if doc is None:
                            docs.pop(i, None)
                        else:
                            docs[i] = doc
            return [docs[k] for k in sorted(docs, key=int)]

    def count(self, realm: str, entity: str) -> int:
        with self.lock:
            return len(self._docs.get((realm, entity), {}))

    def changed_since(self, realm: str, entity: str, since: float) -> list[Doc]:
        """Documents and deleted stubs changed at or after ``since`` (epoch seconds), oldest first."""
        with self.lock:
            docs = self._docs.get((realm, entity), {})
            rows = [(t, int(i), docs[i]) for i, t in self._mtime.get((realm, entity), {}).items() if t >= since]
            rows += [(t, int(i), stub) for i, (stub, t) in self._deleted.get((realm, entity), {}).items()
                     if t >= since]
            rows.sort(key=lambda row: (row[0], row[1]))
            return [doc for _, _, doc in rows]

    def realms(self) -> list[str]:
        with self.lock:
            return sorted({realm for realm, _ in self._docs})

    # -- counters ------------------------------------------------------------------------------
    def next_value(self, realm: str, name: str, start: int = 1) -> int:
        with self.lock:
            key = (realm, name)
            if self._pending is not None and key in self._staged_counters:
                current = self._staged_counters[key]
            else:
                current = self._counters.get(key, start - 1)
            value = current + 1
            if self._pending is not None:
                self._staged_counters[key] = value
            self._stage("counter", realm, name, value)
            return value

    def peek_value(self, realm: str, name: str, start: int = 1) -> int:
        with self.lock:
            return self._counters.get((realm, name), start - 1)

    def _sql_counter(self, db: sqlite3.Connection, realm: str, name: str, value: int) -> None:
        db.execute("INSERT OR REPLACE INTO counters (realm, name, value) VALUES (?, ?, ?)", (realm, name, value))

    def _mem_counter(self, realm: str, name: str, value: int) -> None:
        self._counters[(realm, name)] = value

    # -- key-value records (OAuth grants, requestid replays) ------------------------------------
    def kv_get(self, ns: str, key: str) -> Any:
        with self.lock:
            if self._pending is not None and (ns, key) in self._staged_kv:
                return copy.deepcopy(self._staged_kv[(ns, key)])
            return copy.deepcopy(self._kv.get((ns, key)))

    def kv_put(self, ns: str, key: str, value: Any) -> None:
        with self.lock:
            if self._pending is not None:
                self._staged_kv[(ns, key)] = copy.deepcopy(value)
            self._stage("kv", ns, key, copy.deepcopy(value))

    def kv_delete(self, ns: str, key: str) -> None:
        with self.lock:
            if self._pending is not None:
                self._staged_kv[(ns, key)] = None
            self._stage("kv", ns, key, None)

    def kv_delete_many(self, ns: str, keys: list[str]) -> None:
        """Delete several records of one namespace (one statement's worth of work for SQLite)."""
        with self.lock:
            if not keys:
                return
            if self._pending is not None:
                for key in keys:
                    self._staged_kv[(ns, key)] = None
            self._stage("kv_delete_many", ns, tuple(keys))

    def _sql_kv_delete_many(self, db: sqlite3.Connection, ns: str, keys: tuple[str, ...]) -> None:
        db.executemany("DELETE FROM kv WHERE ns = ? AND key = ?", [(ns, key) for key in keys])

    def _mem_kv_delete_many(self, ns: str, keys: tuple[str, ...]) -> None:
        for key in keys:
            self._kv.pop((ns, key), None)

    def kv_items(self, ns: str) -> list[tuple[str, Any]]:
        with self.lock:
            items = {k: v for (n, k), v in self._kv.items() if n == ns}
            if self._pending is not None:
                items.update({k: v for (n, k), v in self._staged_kv.items() if n == ns})
            return [(k, copy.deepcopy(v)) for k, v in sorted(items.items()) if v is not None]

    def _sql_kv(self, db: sqlite3.Connection, ns: str, key: str, value: Any) -> None:
        if value is None:
            db.execute("DELETE FROM kv WHERE ns = ? AND key = ?", (ns, key))
        else:
            db.execute("INSERT OR REPLACE INTO kv (ns, key, value) VALUES (?, ?, ?)", (ns, key, _dumps(value)))

    def _mem_kv(self, ns: str, key: str, value: Any) -> None:
        if value is None:
            self._kv.pop((ns, key), None)
        else:
            self._kv[(ns, key)] = value
