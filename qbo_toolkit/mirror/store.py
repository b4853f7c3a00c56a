"""The mirror's tables (``qbo_mirror_*`` in the WORK store's database, per realm) and the local writes.

* ``qbo_mirror_rows`` -- one row per QBO object: entity, Id, SyncToken, LastUpdatedTime (QBO's text
  and as UTC), the month of its TxnDate (``YYYY-MM``; empty for customers), its status and the object
  as QBO sent it (JSON; amounts kept exactly, as JSON numbers read back as ``Decimal``). Rows belong
  to a *generation*: a full read writes a new one page by page in short transactions and switches to
  it at the end, so readers never see half a read and the sync is never held up behind one.
* ``qbo_mirror_values`` -- small per-realm values: the CDC position (QBO's clock), the generation,
  when it was filled and verified, entities whose CDC may have missed a deletion.

Statuses: ``active``; ``inactive`` (a customer made inactive: QBO's query still lists it);
``voided`` (a transaction voided: amounts 0, ``PrivateNote`` starting "Voided", still listed);
``deleted`` (a transaction QBO reports ``status: Deleted``); ``merged`` (a customer reported
``Deleted``: QBO's API cannot delete a name list entry, so a customer reported deleted was merged
into another in QuickBooks). Deleted and merged rows are kept as tombstones and never read as live.

Every write goes through the WORK store's own transaction (``store.begin()``); this module is the
only one that writes these tables. A realm's mirror writers take turns on every backend: SQLite's
``BEGIN IMMEDIATE`` queues them; on PostgreSQL every write takes a transaction-scoped advisory lock
of the realm first (:meth:`MirrorStore.serialize`), so a transaction reads what it decides on (is
the row there, is it newer) only after the previous writer committed.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..types import parse_qbo_datetime
from ..work.schema import ensure_tables
from ..work.store import WorkStore

__all__ = ["ENTITIES", "LIVE", "MirrorStore", "dumps", "loads", "row_of"]

#: The entities mirrored: the ones the reconciliation reads.
ENTITIES = ("Customer", "Invoice", "Payment", "CreditMemo", "RefundReceipt")
#: Name lists among them (no TxnDate; their query hides inactive rows unless Active is named).
NAME_LISTS = frozenset({"Customer"})
#: Statuses a full query lists (what the reconciliation reads).
LIVE = ("active", "inactive", "voided")

metadata = sa.MetaData()

rows_table = sa.Table(
    "qbo_mirror_rows", metadata,
    sa.Column("realm", sa.String(32), primary_key=True),
    sa.Column("gen", sa.Integer, primary_key=True),
    sa.Column("entity", sa.String(24), primary_key=True),
    sa.Column("qbo_id", sa.String(32), primary_key=True),
    sa.Column("sync_token", sa.Integer, nullable=False, default=0),
    sa.Column("last_updated", sa.String(40), nullable=False, default=""),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("month", sa.String(7), nullable=False, default=""),
    sa.Column("status", sa.String(8), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Index("ix_qbo_mirror_month", "realm", "gen", "entity", "month"),
)

values_table = sa.Table(
    "qbo_mirror_values", metadata,
    sa.Column("realm", sa.String(32), primary_key=True),
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

_KEYS_PER_QUERY = 500
#: The first key of the PostgreSQL advisory lock of a realm's mirror writes (the second: the realm's
#: CRC-32). Two int4 keys: a key space apart from ``work.schema``'s single 64-bit DDL lock.
_WRITE_LOCK = 1_836_020_301

# -- JSON with exact amounts -------------------------------------------------------------------------
_DECIMAL_MARK = "\x00dec:"
_DECIMAL_TEXT = re.compile(r'"\\u0000dec:([-+0-9.eE]+)"')


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _DECIMAL_MARK + str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot keep a {type(value).__name__} in the mirror")


def dumps(obj: Mapping[str, Any]) -> str:
    """``obj`` as JSON, a ``Decimal`` written as the number it is (never through a float)."""
    text = json.dumps(obj, default=_default, ensure_ascii=False, separators=(",", ":"))
    return _DECIMAL_TEXT.sub(r"\1", text)


def loads(text: str) -> dict[str, Any]:
    """A stored object, numbers with a fraction read as ``Decimal`` (as the client reads QBO's replies)."""
    return dict(json.loads(text, parse_float=Decimal))


# -- one object as a row ----------------------------------------------------------------------------
def _voided(obj: Mapping[str, Any]) -> bool:
    try:
        total = Decimal(str(obj.get("TotalAmt") or 0))
    except ArithmeticError:
        return False
    note = obj.get("PrivateNote")
    return total == 0 and isinstance(note, str) and note.strip().startswith("Voided")


def _active(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() != "false"
    return value is not False


def _stamp(obj: Mapping[str, Any]) -> tuple[str, datetime | None]:
    meta = obj.get("MetaData")
    text = meta.get("LastUpdatedTime") if isinstance(meta, Mapping) else None
    if not isinstance(text, str) or not text:
        return "", None
    try:
        return text, parse_qbo_datetime(text).astimezone(UTC)
    except ValueError:
        return text, None


def _token(obj: Mapping[str, Any]) -> int:
    try:
        return int(str(obj.get("SyncToken", 0)))
    except ValueError:
        return 0


def row_of(entity: str, obj: Mapping[str, Any]) -> dict[str, Any]:
    """The row fields (without realm and generation) of one QBO object or ``status: Deleted`` stub."""
    text, stamp = _stamp(obj)
    if str(obj.get("status", "")).lower() == "deleted":
        status = "merged" if entity in NAME_LISTS else "deleted"
    elif entity in NAME_LISTS:
        status = "active" if _active(obj.get("Active")) else "inactive"
    else:
        status = "voided" if _voided(obj) else "active"
    txn_date = obj.get("TxnDate")
    month = txn_date[:7] if isinstance(txn_date, str) and len(txn_date) >= 7 and entity not in NAME_LISTS else ""
    return {"entity": entity, "qbo_id": str(obj["Id"]), "sync_token": _token(obj), "last_updated": text,
            "updated_at": stamp, "month": month, "status": status, "body": dumps(obj)}


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class MirrorStore:
    """The mirror's rows and values for one realm, in ``store``'s database (local reads and writes)."""

    def __init__(self, store: WorkStore, realm: str) -> None:
        if not str(realm).strip():
            raise ValueError("the mirror needs a realm id")
        self.store = store
        self.engine: Engine = store.engine
        self.realm = str(realm)
        self._lock_key = (zlib.crc32(self.realm.encode()) ^ 0x80000000) - 0x80000000  # as a signed int4
        self._ensure_tables()

    def _ensure_tables(self) -> None:
        ensure_tables(self.engine, metadata, self.store.begin)

    # ------------------------------------------------------------------ values
    def get_value(self, key: str, default: Any = None, conn: Connection | None = None) -> Any:
        query = sa.select(values_table.c.value).where(values_table.c.realm == self.realm, values_table.c.key == key)
        if conn is not None:
            found = conn.execute(query).scalar()
        else:
            with self.engine.connect() as own:
                found = own.execute(query).scalar()
        return default if found is None else json.loads(found)

    def serialize(self, conn: Connection) -> None:
        """Make this realm's mirror writers take turns until ``conn``'s transaction ends: called first
        by every write. PostgreSQL: a transaction-scoped advisory lock (re-entrant). Without it two
        transactions (the sync's write replies, a reconciliation's CDC) both find no row for an object
        or a value and both insert it, and the second fails on the primary key; SQLite's ``BEGIN
        IMMEDIATE`` (``WorkStore.begin``) already queues them."""
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_WRITE_LOCK}, {self._lock_key})")

    def set_value(self, conn: Connection, key: str, value: Any) -> None:
        self.serialize(conn)
        where = (values_table.c.realm == self.realm) & (values_table.c.key == key)
        conn.execute(sa.delete(values_table).where(where))
        conn.execute(sa.insert(values_table).values(realm=self.realm, key=key, value=json.dumps(value)))

    def generation(self, conn: Connection | None = None) -> int:
        """The generation readers read; 0: never filled."""
        return int(self.get_value("gen", 0, conn))

    def position(self, conn: Connection | None = None) -> datetime | None:
        """QBO's clock up to which every change is in the mirror (the next CDC starts before it)."""
        text = self.get_value("position", None, conn)
        return datetime.fromisoformat(text) if text else None

    def set_position(self, conn: Connection, at: datetime) -> None:
        self.set_value(conn, "position", _utc(at).isoformat())  # type: ignore[union-attr]

    # ------------------------------------------------------------------ writes
    def begin_generation(self) -> int:
        """A new generation for a full read (rows of an earlier unfinished one are dropped)."""
        with self.store.begin() as conn:
            self.serialize(conn)
            current = self.generation(conn)
            conn.execute(sa.delete(rows_table).where(rows_table.c.realm == self.realm, rows_table.c.gen > current))
            return current + 1

    def insert(self, gen: int, entity: str, objects: Iterable[Mapping[str, Any]]) -> int:
        """Add one page of a full read to generation ``gen`` (its own short transaction)."""
        rows = [{"realm": self.realm, "gen": gen, **row_of(entity, obj)} for obj in objects]
        if rows:
            with self.store.begin() as conn:
                self.serialize(conn)
                conn.execute(sa.insert(rows_table), rows)
        return len(rows)

    def switch(self, gen: int, entities: Iterable[str], position: datetime, *, filled: bool) -> None:
        """Make ``gen`` the one readers read. With ``filled`` it holds every entity; otherwise it holds
        only ``entities`` and the current generation's other entities are carried over to it."""
        chosen = set(entities)
        with self.store.begin() as conn:
            self.serialize(conn)
            current = self.generation(conn)
            if not filled and current:
                for entity in ENTITIES:
                    if entity not in chosen:
                        conn.execute(sa.update(rows_table).where(
                            rows_table.c.realm == self.realm, rows_table.c.gen == current,
                            rows_table.c.entity == entity).values(gen=gen))
            conn.execute(sa.delete(rows_table).where(rows_table.c.realm == self.realm, rows_table.c.gen != gen))
            self.set_value(conn, "gen", gen)
            self.set_position(conn, position)
            self.set_value(conn, "dirty", sorted(set(self.get_value("dirty", [], conn)) - chosen))
            if filled:
                self.set_value(conn, "filled_at", datetime.now(UTC).isoformat())

    def replace_range(self, conn: Connection, entity: str, months: Iterable[str] | None,
                      objects: Iterable[Mapping[str, Any]], *, before: str | None = None,
                      after: str | None = None) -> None:
        """Replace the rows of ``entity`` in ``months`` (or dated before ``before`` / from ``after``;
        every row of the entity when all are None) with ``objects``, read afresh from QBO."""
        self.serialize(conn)
        gen = self.generation(conn)
        cond = (rows_table.c.realm == self.realm) & (rows_table.c.gen == gen) & (rows_table.c.entity == entity)
        if months is not None:
            cond = cond & rows_table.c.month.in_(list(months))
        elif before is not None:
            cond = cond & (rows_table.c.month < before) & (rows_table.c.month != "")
        elif after is not None:
            cond = cond & (rows_table.c.month >= after)
        conn.execute(sa.delete(rows_table).where(cond))
        rows = [{"realm": self.realm, "gen": gen, **row_of(entity, obj)} for obj in objects]
        if rows:
            # a row read again may still sit in another month (moved there since): replace it
            self._delete_ids(conn, gen, entity, [r["qbo_id"] for r in rows])
            conn.execute(sa.insert(rows_table), rows)

    def _delete_ids(self, conn: Connection, gen: int, entity: str, ids: list[str]) -> None:
        for start in range(0, len(ids), _KEYS_PER_QUERY):
            conn.execute(sa.delete(rows_table).where(
                rows_table.c.realm == self.realm, rows_table.c.gen == gen, rows_table.c.entity == entity,
                rows_table.c.qbo_id.in_(ids[start:start + _KEYS_PER_QUERY])))

    def apply(self, conn: Connection, changes: Iterable[tuple[str, Mapping[str, Any]]]) -> int:
        """Apply changed objects and deleted stubs (CDC rows, write replies) to the current generation:
        a version older than the one kept is ignored (a CDC overlap, a reply that arrived late); a
        deletion always wins. Returns the rows written."""
        self.serialize(conn)
        gen = self.generation(conn)
        if not gen:
            return 0
        by_entity: dict[str, dict[str, dict[str, Any]]] = {}
        for entity, obj in changes:
            if obj.get("Id") in (None, ""):
                continue
            row = row_of(entity, obj)
            kept = by_entity.setdefault(entity, {}).get(row["qbo_id"])
            if kept is None or _newer(row, kept):
                by_entity[entity][row["qbo_id"]] = row
        written = 0
        for entity, rows in by_entity.items():
            ids = list(rows)
            stored: dict[str, tuple[int, datetime | None, str, str]] = {}
            for start in range(0, len(ids), _KEYS_PER_QUERY):
                found = conn.execute(sa.select(rows_table.c.qbo_id, rows_table.c.sync_token, rows_table.c.updated_at,
                                               rows_table.c.status, rows_table.c.body).where(
                    rows_table.c.realm == self.realm, rows_table.c.gen == gen, rows_table.c.entity == entity,
                    rows_table.c.qbo_id.in_(ids[start:start + _KEYS_PER_QUERY])))
                for qbo_id, token, at, status, body in found:
                    stored[qbo_id] = (token, _utc(at), status, body)
            updates: list[dict[str, Any]] = []
            inserts: list[dict[str, Any]] = []
            for qbo_id, row in rows.items():
                old = stored.get(qbo_id)
                if old is None:
                    inserts.append({"realm": self.realm, "gen": gen, **row})
                    continue
                if old[2] in ("deleted", "merged"):
                    continue  # deleted is final: a late reply or an old CDC version does not bring it back
                if row["status"] in ("deleted", "merged"):
                    row = {**row, "body": old[3], "month": _month_of(old[3], entity)}
                elif row["body"] == old[3] or not _newer(row, {"sync_token": old[0], "updated_at": old[1]},
                                                         equal=True):
                    continue  # the version kept (a CDC's overlap lists it again) or an older one
                updates.append({"k_id": qbo_id,
                                **{f"v_{k}": v for k, v in row.items() if k not in ("entity", "qbo_id")}})
            if inserts:
                conn.execute(sa.insert(rows_table), inserts)
            if updates:
                fields = ("sync_token", "last_updated", "updated_at", "month", "status", "body")
                stmt = sa.update(rows_table).where(
                    rows_table.c.realm == self.realm, rows_table.c.gen == gen, rows_table.c.entity == entity,
                    rows_table.c.qbo_id == sa.bindparam("k_id")).values({f: sa.bindparam(f"v_{f}") for f in fields})
                conn.execute(stmt, updates)
            written += len(inserts) + len(updates)
        return written

    # ------------------------------------------------------------------ reads
    def objects(self, entity: str) -> Iterator[dict[str, Any]]:
        """The live objects of ``entity`` (what a full query lists), in Id order, as QBO sent them."""
        gen = self.generation()
        query = sa.select(rows_table.c.qbo_id, rows_table.c.body).where(
            rows_table.c.realm == self.realm, rows_table.c.gen == gen, rows_table.c.entity == entity,
            rows_table.c.status.in_(LIVE))
        with self.engine.connect() as conn:
            rows = list(conn.execute(query).all())
        rows.sort(key=lambda r: (0, int(r[0]), "") if r[0].isdigit() else (1, 0, r[0]))
        for _, body in rows:
            yield loads(body)

    def counts(self) -> dict[str, int]:
        """Live rows per entity."""
        gen = self.generation()
        query = sa.select(rows_table.c.entity, sa.func.count()).where(
            rows_table.c.realm == self.realm, rows_table.c.gen == gen, rows_table.c.status.in_(LIVE)
        ).group_by(rows_table.c.entity)
        with self.engine.connect() as conn:
            found = {entity: int(n) for entity, n in conn.execute(query)}
        return {entity: found.get(entity, 0) for entity in ENTITIES}

    def month_stats(self, entity: str) -> dict[str, tuple[int, datetime | None]]:
        """Per month (``""`` for customers): live rows and their newest LastUpdatedTime."""
        gen = self.generation()
        query = sa.select(rows_table.c.month, sa.func.count(), sa.func.max(rows_table.c.updated_at)).where(
            rows_table.c.realm == self.realm, rows_table.c.gen == gen, rows_table.c.entity == entity,
            rows_table.c.status.in_(LIVE)).group_by(rows_table.c.month)
        with self.engine.connect() as conn:
            return {month: (int(n), _utc(at)) for month, n, at in conn.execute(query)}


def _newer(row: Mapping[str, Any], than: Mapping[str, Any], *, equal: bool = False) -> bool:
    """Whether ``row`` is a later version than ``than`` (SyncToken first, then LastUpdatedTime)."""
    if row.get("status") in ("deleted", "merged"):
        return True
    if row["sync_token"] != than["sync_token"]:
        return bool(row["sync_token"] > than["sync_token"])
    a, b = row.get("updated_at"), _utc(than.get("updated_at"))
    if a is None or b is None:
        return equal
    return a > b or (equal and a == b)


def _month_of(body: str, entity: str) -> str:
    if entity in NAME_LISTS:
        return ""
    try:
        txn_date = json.loads(body).get("TxnDate")
    except ValueError:
        return ""
    return txn_date[:7] if isinstance(txn_date, str) else ""
