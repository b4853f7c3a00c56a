"""What the sync remembers, in the WORK store's database (tables ``sync_*``), per realm.

* ``sync_links`` -- the id map: WORK id <-> QBO id per entity, the QBO SyncToken, the values both
  sides had at the last sync (the base of the three-way merge) and their fingerprint, the WORK
  version synced.
* ``sync_runs`` and ``sync_activity`` -- every run and every record it touched: time, entity,
  direction, ids, action, outcome, the field at fault and a message. Failed records can be retried
  or dismissed. A run's ``status`` is machine-readable (:data:`RUN_STATUSES`): ``running``, ``ok``
  (completed, nothing failed), ``failures`` (completed with ``failed`` failures), ``failed`` (stopped
  early by an error), ``interrupted``; :meth:`SyncState.runs` adds ``text``, the same in words
  ("completed with 24 failures"), and the run's ``detail`` (its message, the settings source and
  the accounts its settings resolved to). A sync run's activity ends with one entry of entity
  ``run`` (action ``finish``) that says the same; the accounts resolved before it wrote anything are
  entries of entity ``settings`` (outcome ``info``). A CSV import is a run too (kind ``import``):
  each row it refused is an entry without a WORK id (direction ``from_file``, action ``import``),
  which can be dismissed by its id.
* ``sync_outbox`` -- writes sent to QBO whose answers are not recorded yet, with their requestid and
  payload. A run that crashed resends them first, unchanged, so QBO replays instead of writing twice.
* ``sync_matches`` -- weak and multiple customer matches waiting for the user.
* ``sync_values`` -- small per-realm values (the CDC position, the WORK revision synced).
* ``sync_lease`` -- who is syncing the realm now (owner, run, job, host, pid, started, heartbeat,
  progress): one sync per company at a time, across processes and machines (:mod:`.lease`).
* ``sync_keys`` -- how many times QBO refused a record at a version, which is part of the record's
  idempotency key (:mod:`.keys`): after a refusal the next attempt is a new request, not a replay.

Every write goes through the WORK store's own transaction (:meth:`WorkStore.begin`: ``BEGIN
IMMEDIATE`` on SQLite, so two writers queue instead of failing): a link, its activity entry and
the WORK write of one record share one. The tables are created once per database and process,
inside such a transaction, so two processes starting together do not race on them.

Collisions. The id map holds one WORK record per QBO record. When an answer would link a QBO
record that the map already gives to another WORK record (QBO lost a record and handed its Id to
another; a stale replay), the link is not written: the state's ``on_collision`` hook is told (the
sync parks the record and checks whose the QBO record is), or, without a hook,
:class:`LinkCollision` is raised. Nothing ever ends in the database's constraint error.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from ..errors import QboToolkitError
from ..work.schema import ensure_tables

if TYPE_CHECKING:
    from ..work.store import WorkStore

__all__ = ["IMPORT_RUN", "RUN_STATUSES", "SYNC_RUNS", "ActivityEntry", "Collision", "Link", "LinkCollision",
           "SyncState", "run_text"]

#: Run kinds: a sync run is initial or incremental; a CSV import is a run of its own.
SYNC_RUNS = ("initial", "incremental")
IMPORT_RUN = "import"
#: A run's status, machine-readable; :func:`run_text` says it in words.
RUN_STATUSES = ("running", "ok", "failures", "failed", "interrupted")


def run_text(status: str, failed: int = 0, message: str = "") -> str:
    """A run's status in words: "completed", "completed with 24 failures", "stopped: ...", ..."""
    if status == "ok":
        return "completed"
    if status == "failures":
        return f"completed with {failed} failure{'s' if failed != 1 else ''}"
    if status == "failed":
        return message or "stopped early"
    if status == "interrupted":
        return message or "interrupted (the next sync continues from there)"
    return status

metadata = sa.MetaData()

links_table = sa.Table(
    "sync_links", metadata,
    sa.Column("realm", sa.String(32), primary_key=True),
    sa.Column("entity", sa.String(16), primary_key=True),
    sa.Column("work_id", sa.Integer, primary_key=True),
    sa.Column("qbo_id", sa.String(32), nullable=False),
    sa.Column("sync_token", sa.String(16), nullable=False, default="0"),
    sa.Column("work_version", sa.Integer, nullable=False, default=0),
    sa.Column("base", sa.Text, nullable=True),  # JSON: the values both sides agreed on at the last sync
    sa.Column("fingerprint", sa.String(64), nullable=True),
    sa.Column("qbo_name", sa.String(600), nullable=True),
    sa.Column("state", sa.String(16), nullable=False, default="active"),  # active | voided | deleted
    sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("realm", "entity", "qbo_id", name="uq_sync_links_qbo"),
)

runs_table = sa.Table(
    "sync_runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("realm", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("dry_run", sa.Boolean, nullable=False, default=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("status", sa.String(16), nullable=False, default="running"),
    sa.Column("total", sa.Integer, nullable=False, default=0),
    sa.Column("counts", sa.Text, nullable=True),
    sa.Column("requests", sa.Integer, nullable=True),
    # added later (see SyncState._add_columns): records that failed; JSON of the run's message,
    # settings source and resolved accounts
    sa.Column("failed", sa.Integer, nullable=True),
    sa.Column("detail", sa.Text, nullable=True),
)
#: Columns added to tables that may already exist without them (nullable, added by ALTER TABLE).
_ADDED_COLUMNS = {"sync_runs": ("failed", "detail")}

activity_table = sa.Table(
    "sync_activity", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("sync_runs.id"), nullable=False, index=True),
    sa.Column("realm", sa.String(32), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("entity", sa.String(16), nullable=False),
    sa.Column("direction", sa.String(12), nullable=False),
    sa.Column("work_id", sa.Integer, nullable=True),
    sa.Column("qbo_id", sa.String(32), nullable=True),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("outcome", sa.String(12), nullable=False),
    sa.Column("field", sa.String(64), nullable=True),
    sa.Column("message", sa.Text, nullable=False, default=""),
    sa.Column("resolved", sa.String(12), nullable=True),  # retried | dismissed
    sa.Index("ix_sync_activity_record", "realm", "entity", "work_id"),
)

outbox_table = sa.Table(
    "sync_outbox", metadata,
    sa.Column("realm", sa.String(32), primary_key=True),
    sa.Column("request_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(8), nullable=False),  # batch | single
    sa.Column("body", sa.Text, nullable=False),  # JSON: the operations, exactly as sent
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

matches_table = sa.Table(
    "sync_matches", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("realm", sa.String(32), nullable=False),
    sa.Column("work_id", sa.Integer, nullable=False),
    sa.Column("qbo_id", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(12), nullable=False),  # weak | multiple
    sa.Column("score", sa.Float, nullable=False, default=0.0),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("status", sa.String(12), nullable=False, default="pending"),  # pending | accepted | rejected
    sa.UniqueConstraint("realm", "work_id", "qbo_id", name="uq_sync_matches_pair"),
)

values_table = sa.Table(
    "sync_values", metadata,
    sa.Column("realm", sa.String(32), primary_key=True),
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

lease_table = sa.Table(
    "sync_lease", metadata,
    sa.Column("realm", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(64), nullable=False),  # a random token per run: whose lease it is
    sa.Column("run_id", sa.Integer, nullable=True),
    sa.Column("job", sa.String(200), nullable=False, default=""),
    sa.Column("host", sa.String(255), nullable=False, default=""),
    sa.Column("pid", sa.Integer, nullable=False, default=0),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("stage", sa.String(32), nullable=False, default=""),
    sa.Column("done", sa.Integer, nullable=False, default=0),
    sa.Column("total", sa.Integer, nullable=False, default=0),
)

keys_table = sa.Table(
    "sync_keys", metadata,
    sa.Column("realm", sa.String(32), primary_key=True),
    sa.Column("entity", sa.String(16), primary_key=True),
    sa.Column("work_id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("refusals", sa.Integer, nullable=False, default=0),
)



class LinkCollision(QboToolkitError):
    """An answer would link a QBO record the id map already gives to another WORK record."""

    def __init__(self, message: str, *, entity: str, work_id: int, qbo_id: str, other_work_id: int) -> None:
        super().__init__(message)
        self.entity = entity
        self.work_id = work_id
        self.qbo_id = qbo_id
        self.other_work_id = other_work_id


@dataclass(frozen=True)
class Collision:
    """A link that was not written: ``qbo_id`` is already ``other_work_id``'s in the id map."""

    entity: str
    work_id: int
    qbo_id: str
    other_work_id: int


def _now() -> datetime:
    return datetime.now(UTC)


_KEYS_PER_QUERY = 500  # ids in one IN (...) list, well under any database's limit on bound parameters


# The statements the sync runs once per record, built once: building a statement costs SQLAlchemy
# several times what running it costs, and recording answers is the sync's hottest local path.
_B = sa.bindparam
_LINK_KEY = (links_table.c.realm == _B("k_realm")) & (links_table.c.entity == _B("k_entity")) & \
    (links_table.c.work_id == _B("k_work_id"))
_LINK_FIELDS = ("qbo_id", "sync_token", "work_version", "base", "fingerprint", "qbo_name", "state", "synced_at")
_UPDATE_LINK = sa.update(links_table).where(_LINK_KEY).values({f: _B(f"v_{f}") for f in _LINK_FIELDS})
_INSERT_LINK = sa.insert(links_table)
_INSERT_ACTIVITY = sa.insert(activity_table)
_RESOLVE = sa.update(activity_table).where(
    activity_table.c.realm == _B("k_realm"), activity_table.c.entity == _B("k_entity"),
    activity_table.c.work_id == _B("k_work_id"), activity_table.c.outcome.in_(("failed", "conflict")),
    activity_table.c.resolved.is_(None)).values(resolved=_B("v_resolved"))
_VALUE_KEY = (values_table.c.realm == _B("k_realm")) & (values_table.c.key == _B("k_key"))
_GET_VALUE = sa.select(values_table.c.value).where(_VALUE_KEY)
_DELETE_VALUE = sa.delete(values_table).where(_VALUE_KEY)
_INSERT_VALUE = sa.insert(values_table)
_OUTBOX_KEY = (outbox_table.c.realm == _B("k_realm")) & (outbox_table.c.request_id == _B("k_request_id"))
_OUTBOX_EXISTS = sa.select(outbox_table.c.request_id).where(_OUTBOX_KEY)
_INSERT_OUTBOX = sa.insert(outbox_table)
_DELETE_OUTBOX = sa.delete(outbox_table).where(_OUTBOX_KEY)
_UPSERTS: dict[tuple[str, str], Any] = {}


def _upsert(dialect: str, table: sa.Table, keys: tuple[str, ...], fields: tuple[str, ...]) -> Any:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE SET fields`` (``DO NOTHING`` without fields) where the
    dialect has it (SQLite, PostgreSQL), else None: one statement instead of a read and a write."""
    cache_key = (dialect, table.name)
    if cache_key not in _UPSERTS:
        from sqlalchemy.dialects import postgresql, sqlite

        stmt: Any
        if dialect == "sqlite":
            stmt = sqlite.insert(table)
        elif dialect == "postgresql":
            stmt = postgresql.insert(table)
        else:
            _UPSERTS[cache_key] = None
            return None
        if fields:
            _UPSERTS[cache_key] = stmt.on_conflict_do_update(index_elements=list(keys),
                                                             set_={f: stmt.excluded[f] for f in fields})
        else:
            _UPSERTS[cache_key] = stmt.on_conflict_do_nothing(index_elements=list(keys))
    return _UPSERTS[cache_key]


@dataclass(frozen=True)
class Link:
    entity: str
    work_id: int
    qbo_id: str
    sync_token: str
    work_version: int
    base: dict[str, Any] | None
    fingerprint: str | None
    qbo_name: str | None
    state: str


@dataclass(frozen=True)
class ActivityEntry:
    id: int
    run_id: int
    at: datetime
    entity: str
    direction: str
    work_id: int | None
    qbo_id: str | None
    action: str
    outcome: str
    field: str | None
    message: str
    resolved: str | None


class SyncState:
    """The sync's tables in the WORK store's database, for one realm.

    ``store`` is the :class:`~qbo_toolkit.work.store.WorkStore` (its transactions are the ones the
    sync writes in). A bare SQLAlchemy ``Engine`` is accepted for read-only use by tools and old
    callers; writes on it go through ``engine.begin()``.
    """

    def __init__(self, store: WorkStore | Engine, realm: str) -> None:
        if isinstance(store, Engine):
            self.engine = store
            self._store: WorkStore | None = None
        else:
            self.engine = store.engine
            self._store = store
        self.realm = realm
        #: called (connection, Collision) instead of raising LinkCollision; see the module docstring
        self.on_collision: Callable[[Connection, Collision], None] | None = None
        self._ensure_tables()
        # (connection, id-map rows, activity rows) kept by `batched` until its block ends
        self._batch: tuple[Connection, list[dict[str, Any]], list[dict[str, Any]]] | None = None

    def begin(self) -> AbstractContextManager[Connection]:
        """A write transaction: the WORK store's own (``BEGIN IMMEDIATE`` on SQLite)."""
        if self._store is not None:
            return self._store.begin()
        return self.engine.begin()

    def _ensure_tables(self) -> None:
        """Create the sync tables that are missing, once per database and process (and add the
        columns later versions brought to older tables)."""
        ensure_tables(self.engine, metadata, self.begin, after=self._add_columns)

    @staticmethod
    def _add_columns(conn: Connection) -> None:
        """Add the columns a database made by an older version lacks (nullable: old rows read as None)."""
        inspector = sa.inspect(conn)
        for name, columns in _ADDED_COLUMNS.items():
            have = {c["name"] for c in inspector.get_columns(name)}
            table = metadata.tables[name]
            for column in columns:
                if column not in have:
                    kind = table.c[column].type.compile(dialect=conn.dialect)
                    conn.execute(sa.text(f'ALTER TABLE {name} ADD COLUMN "{column}" {kind}'))

    @contextmanager
    def batched(self, conn: Connection) -> Iterator[None]:
        """Within the block, the id-map rows (:meth:`save_link`) and activity entries (:meth:`record`)
        written on ``conn`` are kept and written when it ends, in two statements, in the same
        transaction (a block that raises writes nothing; its transaction rolls back). Reads of the id
        map or the activity log on ``conn`` inside the block do not see them yet."""
        if self._batch is not None:
            yield
            return
        self._batch = (conn, [], [])
        try:
            yield
            _, links, activity = self._batch
            if links:
                self._write_links(conn, links)  # may add activity entries (collisions)
            if activity:
                conn.execute(_INSERT_ACTIVITY, activity)
        finally:
            self._batch = None

    def _write_links(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Write id-map rows in one statement; if that trips the one-WORK-record-per-QBO-record
        rule, write the others and hand each colliding row to :meth:`_collided`."""
        upsert = _upsert(conn.dialect.name, links_table, ("realm", "entity", "work_id"), _LINK_FIELDS)
        try:
            with conn.begin_nested():
                if upsert is not None:
                    conn.execute(upsert, rows)
                else:
                    for row in rows:
                        self._write_link(conn, row)
            return
        except IntegrityError:
            pass
        owners: dict[tuple[str, str], int] = {}
        for entity in {row["entity"] for row in rows}:
            ids = sorted({row["qbo_id"] for row in rows if row["entity"] == entity})
            for start in range(0, len(ids), _KEYS_PER_QUERY):
                for link in self._rows(sa.select(links_table.c.work_id, links_table.c.qbo_id).where(
                        links_table.c.realm == self.realm, links_table.c.entity == entity,
                        links_table.c.qbo_id.in_(ids[start:start + _KEYS_PER_QUERY])), conn):
                    owners[(entity, link.qbo_id)] = link.work_id
        good: list[dict[str, Any]] = []
        for row in rows:  # in answer order: within the block, the first to claim a QBO record keeps it
            owner = owners.get((row["entity"], row["qbo_id"]))
            if owner is not None and owner != row["work_id"]:
                self._collided(conn, Collision(row["entity"], row["work_id"], row["qbo_id"], owner))
                continue
            owners[(row["entity"], row["qbo_id"])] = row["work_id"]
            good.append(row)
        if good:
            if upsert is not None:
                conn.execute(upsert, good)
            else:
                for row in good:
                    self._write_link(conn, row)

    def _collided(self, conn: Connection, collision: Collision) -> None:
        if self.on_collision is not None:
            self.on_collision(conn, collision)
            return
        raise LinkCollision(
            f"QuickBooks {collision.entity} {collision.qbo_id} is linked to WORK {collision.entity} "
            f"{collision.other_work_id} already, so it cannot be linked to WORK {collision.entity} "
            f"{collision.work_id}; "
            "run `qbo-toolkit doctor` to see which is right", entity=collision.entity, work_id=collision.work_id,
            qbo_id=collision.qbo_id, other_work_id=collision.other_work_id)

    # -- links ------------------------------------------------------------------------------------
    def links(self, entity: str, conn: Connection | None = None, *, work_ids: Iterable[int] | None = None,
              qbo_ids: Iterable[str] | None = None) -> dict[int, Link]:
        """The id map of ``entity`` by WORK id. With ``work_ids`` and/or ``qbo_ids``, only the links of
        those records (by the primary key and the QBO-id key, a few hundred per query): what a run
        that touches a few records needs, instead of the whole map."""
        query = sa.select(links_table).where(links_table.c.realm == self.realm, links_table.c.entity == entity)
        if work_ids is None and qbo_ids is None:
            return {row.work_id: self._link(row) for row in self._rows(query, conn)}
        out: dict[int, Link] = {}
        for column, keys in ((links_table.c.work_id, sorted({int(k) for k in work_ids or ()})),
                             (links_table.c.qbo_id, sorted({str(k) for k in qbo_ids or ()}))):
            for start in range(0, len(keys), _KEYS_PER_QUERY):
                for row in self._rows(query.where(column.in_(keys[start:start + _KEYS_PER_QUERY])), conn):
                    out[row.work_id] = self._link(row)
        return out

    def link_by_qbo(self, entity: str, conn: Connection | None = None) -> dict[str, Link]:
        return {link.qbo_id: link for link in self.links(entity, conn).values()}

    @staticmethod
    def _link(row: Any) -> Link:
        return Link(row.entity, row.work_id, row.qbo_id, row.sync_token, row.work_version,
                    json.loads(row.base) if row.base else None, row.fingerprint, row.qbo_name, row.state)

    def save_link(self, conn: Connection, entity: str, work_id: int, qbo_id: str, *, sync_token: str,
                  work_version: int, base: Mapping[str, Any] | None = None, fingerprint: str | None = None,
                  qbo_name: str | None = None, state: str = "active") -> None:
        values = {"qbo_id": qbo_id, "sync_token": sync_token, "work_version": work_version,
                  "base": json.dumps(base, sort_keys=True, default=str) if base is not None else None,
                  "fingerprint": fingerprint, "qbo_name": qbo_name, "state": state, "synced_at": _now()}
        row = {"realm": self.realm, "entity": entity, "work_id": work_id, **values}
        if self._batch is not None and self._batch[0] is conn:
            self._batch[1].append(row)
            return
        self._write_links(conn, [row])

    @staticmethod
    def _write_link(conn: Connection, row: Mapping[str, Any]) -> None:
        """Update the link, or insert it (dialects without an upsert)."""
        updated = conn.execute(_UPDATE_LINK, {"k_realm": row["realm"], "k_entity": row["entity"],
                                              "k_work_id": row["work_id"],
                                              **{f"v_{f}": row[f] for f in _LINK_FIELDS}}).rowcount
        if not updated:
            conn.execute(_INSERT_LINK, dict(row))

    def drop_link(self, conn: Connection, entity: str, work_id: int) -> None:
        conn.execute(sa.delete(links_table).where(links_table.c.realm == self.realm, links_table.c.entity == entity,
                                                  links_table.c.work_id == work_id))

    # -- runs and activity ----------------------------------------------------------------------------
    def start_run(self, kind: str, *, dry_run: bool, total: int = 0) -> int:
        with self.begin() as conn:
            result = conn.execute(sa.insert(runs_table).values(realm=self.realm, kind=kind, dry_run=dry_run,
                                                               started_at=_now(), status="running", total=total))
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def set_run_total(self, run_id: int, total: int) -> None:
        with self.begin() as conn:
            conn.execute(sa.update(runs_table).where(runs_table.c.id == run_id).values(total=total))

    def finish_run(self, run_id: int, status: str, counts: Mapping[str, int], requests: int | None = None, *,
                   failed: int | None = None, detail: Mapping[str, Any] | None = None,
                   summary: str | None = None) -> None:
        """Record how a run ended. ``failed``: its failed records (status ``failures``); ``detail``
        merged into what :meth:`set_run_detail` kept; ``summary``: the activity log's last line for
        the run (entity ``run``, action ``finish``), in the same transaction."""
        with self.begin() as conn:
            values: dict[str, Any] = {"finished_at": _now(), "status": status, "counts": json.dumps(dict(counts)),
                                      "requests": requests, "failed": failed}
            if detail is not None:
                values["detail"] = json.dumps({**self._detail(conn, run_id), **detail}, default=str)
            conn.execute(sa.update(runs_table).where(runs_table.c.id == run_id).values(**values))
            if summary is not None:
                outcome = {"ok": "completed", "failures": "failures", "failed": "stopped"}.get(status, status)
                self.record(conn, run_id, entity="run", direction="none", action="finish", outcome=outcome,
                            message=summary)

    def set_run_detail(self, conn: Connection, run_id: int, detail: Mapping[str, Any]) -> None:
        """Merge ``detail`` into the run's recorded detail (settings source, resolved accounts, ...)."""
        merged = {**self._detail(conn, run_id), **detail}
        conn.execute(sa.update(runs_table).where(runs_table.c.id == run_id).values(
            detail=json.dumps(merged, default=str)))

    def _detail(self, conn: Connection, run_id: int) -> dict[str, Any]:
        row = conn.execute(sa.select(runs_table.c.detail).where(runs_table.c.id == run_id)).first()
        return json.loads(row.detail) if row is not None and row.detail else {}

    def record(self, conn: Connection, run_id: int, *, entity: str, direction: str, action: str, outcome: str,
               work_id: int | None = None, qbo_id: str | None = None, field: str | None = None,
               message: str = "") -> None:
        row = {"run_id": run_id, "realm": self.realm, "at": _now(), "entity": entity, "direction": direction,
               "work_id": work_id, "qbo_id": qbo_id, "action": action, "outcome": outcome, "field": field,
               "message": message, "resolved": None}
        if self._batch is not None and self._batch[0] is conn:
            self._batch[2].append(row)
        else:
            conn.execute(_INSERT_ACTIVITY, row)

    def resolve(self, entity: str, work_id: int, how: str, conn: Connection | None = None) -> int:
        """Mark a record's open failures as ``retried`` or ``dismissed``; returns how many."""
        params = {"k_realm": self.realm, "k_entity": entity, "k_work_id": work_id, "v_resolved": how}
        if conn is not None:
            return int(conn.execute(_RESOLVE, params).rowcount)
        with self.begin() as own:
            return int(own.execute(_RESOLVE, params).rowcount)

    def dismiss_entry(self, entry_id: int) -> int:
        """Mark one open failure ``dismissed`` by its id (a refused CSV row has no WORK record to name)."""
        query = sa.update(activity_table).where(
            activity_table.c.realm == self.realm, activity_table.c.id == entry_id,
            activity_table.c.outcome.in_(("failed", "conflict")), activity_table.c.resolved.is_(None)
        ).values(resolved="dismissed")
        with self.begin() as conn:
            return int(conn.execute(query).rowcount)

    def open_failures(self, conn: Connection | None = None) -> list[ActivityEntry]:
        """Failed or conflicting records not yet retried, dismissed or synced since."""
        query = sa.select(activity_table).where(
            activity_table.c.realm == self.realm, activity_table.c.outcome.in_(("failed", "conflict")),
            activity_table.c.resolved.is_(None)).order_by(activity_table.c.id)
        return [self._entry(row) for row in self._rows(query, conn)]

    def dismissed(self, entity: str, conn: Connection | None = None) -> set[int]:
        query = sa.select(activity_table.c.work_id).where(
            activity_table.c.realm == self.realm, activity_table.c.entity == entity,
            activity_table.c.resolved == "dismissed")
        return {row.work_id for row in self._rows(query, conn) if row.work_id is not None}

    def activity(self, *, run_id: int | None = None, entity: str | None = None, outcome: str | None = None,
                 limit: int | None = None) -> list[ActivityEntry]:
        query = sa.select(activity_table).where(activity_table.c.realm == self.realm)
        if run_id is not None:
            query = query.where(activity_table.c.run_id == run_id)
        if entity is not None:
            query = query.where(activity_table.c.entity == entity)
        if outcome is not None:
            query = query.where(activity_table.c.outcome == outcome)
        query = query.order_by(activity_table.c.id.desc() if limit else activity_table.c.id)
        if limit:
            query = query.limit(limit)
        return [self._entry(row) for row in self._rows(query)]

    def runs(self, limit: int = 50, *, kinds: Iterable[str] | None = SYNC_RUNS) -> list[dict[str, Any]]:
        """The newest runs first: sync runs by default, ``kinds=None`` for every kind (imports too).

        A sync run still marked ``running`` that does not hold the realm's live lease (none, another
        run's, or one whose holder died) was left by a process that died or could not record its
        end: it is shown as ``interrupted`` (the next sync records it so).

        Each run is a dict of the table's columns with ``counts`` and ``detail`` decoded, ``failed``
        (its failed records: the column, else its counts'), ``text`` (its status in words:
        "completed with 24 failures"), ``message`` and ``settings_source`` (from the detail, or
        None). A sync run recorded ``ok`` by an older version whose counts hold failures reads as
        ``failures``.
        """
        query = sa.select(runs_table).where(runs_table.c.realm == self.realm)
        if kinds is not None:
            query = query.where(runs_table.c.kind.in_(tuple(kinds)))
        query = query.order_by(runs_table.c.id.desc()).limit(limit)
        out = []
        lease: dict[str, Any] | None = None
        for row in self._rows(query):
            data = dict(row._mapping)
            data["counts"] = json.loads(row.counts) if row.counts else {}
            data["detail"] = json.loads(row.detail) if row.detail else {}
            if data["failed"] is None:
                data["failed"] = int(data["counts"].get("failed", 0))
            if data["status"] == "ok" and data["failed"] and data["kind"] in SYNC_RUNS:
                data["status"] = "failures"  # recorded before runs told failures apart
            data["message"] = data["detail"].get("message", "")
            data["settings_source"] = data["detail"].get("settings_source")
            if data["status"] == "running" and data["kind"] in SYNC_RUNS:
                if lease is None:
                    from .lease import holder_alive  # the lease's policy; it imports this module

                    row = self.lease_row()
                    lease = row if row is not None and holder_alive(row) else {}
                if lease.get("run_id") != data["id"]:
                    data["status"] = "interrupted"
            data["text"] = run_text(data["status"], data["failed"], data["message"])
            out.append(data)
        return out

    def interrupt_stale_runs(self, conn: Connection) -> int:
        """Mark the realm's sync runs left ``running`` as ``interrupted`` (called by the lease's new
        holder: no other sync of the realm can be running)."""
        return int(conn.execute(sa.update(runs_table).where(
            runs_table.c.realm == self.realm, runs_table.c.status == "running",
            runs_table.c.kind.in_(SYNC_RUNS)).values(status="interrupted", finished_at=_now())).rowcount)

    # -- the lease (policy in sync/lease.py) ----------------------------------------------------------
    def lease_row(self, conn: Connection | None = None, *, for_update: bool = False) -> dict[str, Any] | None:
        query = sa.select(lease_table).where(lease_table.c.realm == self.realm)
        if for_update and conn is not None and conn.dialect.name != "sqlite":
            query = query.with_for_update()
        rows = self._rows(query, conn)
        return dict(rows[0]._mapping) if rows else None

    def write_lease(self, conn: Connection, row: Mapping[str, Any], *, replace: bool) -> None:
        values = {k: v for k, v in row.items() if k != "realm"}
        if replace:
            conn.execute(sa.update(lease_table).where(lease_table.c.realm == self.realm).values(**values))
        else:
            conn.execute(sa.insert(lease_table).values(realm=self.realm, **values))

    def touch_lease(self, owner: str, **values: Any) -> bool:
        """Update the lease of ``owner`` (heartbeat, run, progress); False when it is not ``owner``'s
        any more (it expired and another sync took it)."""
        with self.begin() as conn:
            return bool(conn.execute(sa.update(lease_table).where(
                lease_table.c.realm == self.realm, lease_table.c.owner == owner).values(**values)).rowcount)

    def drop_lease(self, owner: str) -> bool:
        with self.begin() as conn:
            return bool(conn.execute(sa.delete(lease_table).where(
                lease_table.c.realm == self.realm, lease_table.c.owner == owner)).rowcount)

    # -- refusals: part of a record's idempotency key (sync/keys.py) ---------------------------------
    def refusals(self, entity: str, conn: Connection | None = None) -> dict[int, tuple[int, int]]:
        """``{work_id: (version, refusals)}`` for the records of ``entity`` QBO refused at a version
        (a small table: only refused records are in it)."""
        query = sa.select(keys_table).where(keys_table.c.realm == self.realm, keys_table.c.entity == entity)
        return {row.work_id: (row.version, row.refusals) for row in self._rows(query, conn)}

    def note_refusal(self, conn: Connection, entity: str, work_id: int, version: int) -> int:
        """Count one more refusal of the record at ``version``; returns the new count."""
        key = (keys_table.c.realm == self.realm) & (keys_table.c.entity == entity) & (keys_table.c.work_id == work_id)
        row = conn.execute(sa.select(keys_table).where(key)).first()
        count = (row.refusals + 1) if row is not None and row.version == version else 1
        if row is None:
            conn.execute(sa.insert(keys_table).values(realm=self.realm, entity=entity, work_id=work_id,
                                                     version=version, refusals=count))
        else:
            conn.execute(sa.update(keys_table).where(key).values(version=version, refusals=count))
        return count

    @staticmethod
    def _entry(row: Any) -> ActivityEntry:
        return ActivityEntry(row.id, row.run_id, row.at, row.entity, row.direction, row.work_id, row.qbo_id,
                             row.action, row.outcome, row.field, row.message, row.resolved)

    # -- outbox -------------------------------------------------------------------------------------
    def add_outbox(self, conn: Connection, request_id: str, kind: str, body: Any) -> None:
        """Keep a request before it is sent (a request already kept stays as it was)."""
        self.add_outbox_many(conn, [(request_id, kind, body)])

    def add_outbox_many(self, conn: Connection, requests: Iterable[tuple[str, str, Any]]) -> None:
        """Keep requests (requestid, kind, body) before they are sent, in one statement where the
        database allows (a request already kept stays as it was)."""
        now = _now()
        rows = [{"realm": self.realm, "request_id": rid, "kind": kind, "body": json.dumps(body, default=str),
                 "created_at": now} for rid, kind, body in requests]
        if not rows:
            return
        insert = _upsert(conn.dialect.name, outbox_table, ("realm", "request_id"), ())
        if insert is not None:
            conn.execute(insert, rows)
            return
        for row in rows:
            exists = conn.execute(_OUTBOX_EXISTS, {"k_realm": self.realm, "k_request_id": row["request_id"]}).first()
            if exists is None:
                conn.execute(_INSERT_OUTBOX, row)

    def clear_outbox(self, conn: Connection, request_id: str) -> None:
        self.clear_outbox_many(conn, [request_id])

    def clear_outbox_many(self, conn: Connection, request_ids: Iterable[str]) -> None:
        params = [{"k_realm": self.realm, "k_request_id": rid} for rid in request_ids]
        if params:
            conn.execute(_DELETE_OUTBOX, params)

    def outbox(self) -> list[tuple[str, str, Any]]:
        query = sa.select(outbox_table).where(outbox_table.c.realm == self.realm).order_by(outbox_table.c.created_at)
        return [(row.request_id, row.kind, json.loads(row.body)) for row in self._rows(query)]

    # -- matches ----------------------------------------------------------------------------------
    def save_matches(self, rows: Iterable[tuple[int, str, str, float, str]]) -> None:
        """Record (work_id, qbo_id, kind, score, reason) pairs as pending, keeping earlier decisions."""
        with self.begin() as conn:
            for work_id, qbo_id, kind, score, reason in rows:
                exists = conn.execute(sa.select(matches_table.c.id).where(
                    matches_table.c.realm == self.realm, matches_table.c.work_id == work_id,
                    matches_table.c.qbo_id == qbo_id)).first()
                if exists is None:
                    conn.execute(sa.insert(matches_table).values(realm=self.realm, work_id=work_id, qbo_id=qbo_id,
                                                                 kind=kind, score=score, reason=reason))

    def matches(self, status: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(matches_table).where(matches_table.c.realm == self.realm)
        if status is not None:
            query = query.where(matches_table.c.status == status)
        return [dict(row._mapping) for row in self._rows(query.order_by(matches_table.c.id))]

    def decide_match(self, work_id: int, qbo_id: str | None, accept: bool) -> None:
        """Accept one pairing for a client (rejecting its other candidates), or reject them all."""
        with self.begin() as conn:
            rows = conn.execute(sa.select(matches_table).where(matches_table.c.realm == self.realm,
                                                              matches_table.c.work_id == work_id)).all()
            for row in rows:
                status = "accepted" if accept and row.qbo_id == qbo_id else "rejected"
                conn.execute(sa.update(matches_table).where(matches_table.c.id == row.id).values(status=status))

    # -- values -------------------------------------------------------------------------------------
    def get_value(self, key: str, default: Any = None, conn: Connection | None = None) -> Any:
        params = {"k_realm": self.realm, "k_key": key}
        if conn is not None:
            row = conn.execute(_GET_VALUE, params).first()
        else:
            with self.engine.connect() as own:
                row = own.execute(_GET_VALUE, params).first()
        return json.loads(row.value) if row is not None else default

    def set_value(self, conn: Connection, key: str, value: Any) -> None:
        conn.execute(_DELETE_VALUE, {"k_realm": self.realm, "k_key": key})
        conn.execute(_INSERT_VALUE, {"realm": self.realm, "key": key, "value": json.dumps(value, default=str)})

    # -- the retry queue ------------------------------------------------------------------------------
    def queue_retry(self, entity: str, work_id: int) -> None:
        """A failed record goes into the next run (its open failures are marked retried). A record
        whose QBO record is ``gone`` (deleted in QBO, not by the sync) loses that link: retrying it
        is the user's decision to create it anew."""
        with self.begin() as conn:
            self.resolve(entity, work_id, "retried", conn)
            link = self.links(entity, conn, work_ids=[work_id]).get(work_id)
            if link is not None and link.state == "gone":
                self.drop_link(conn, entity, work_id)
            pending = set(self.get_value(f"pending:{entity}", [], conn)) | {work_id}
            self.set_value(conn, f"pending:{entity}", sorted(pending))

    def dismiss(self, entity: str, work_id: int) -> None:
        """Stop retrying a failed record; it stays in the activity log, marked dismissed."""
        with self.begin() as conn:
            self.resolve(entity, work_id, "dismissed", conn)
            pending = set(self.get_value(f"pending:{entity}", [], conn)) - {work_id}
            self.set_value(conn, f"pending:{entity}", sorted(pending))

    # -- helpers ----------------------------------------------------------------------------------
    def _rows(self, query: Any, conn: Connection | None = None) -> list[Any]:
        if conn is not None:
            return list(conn.execute(query).all())
        with self.engine.connect() as own:
            return list(own.execute(query).all())
