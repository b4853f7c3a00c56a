"""What the sync remembers, in the WORK store's database (tables ``sync_*``), per realm.

* ``sync_links`` -- the id map: WORK id <-> QBO id per entity, the QBO SyncToken, the values both
  sides had at the last sync (the base of the three-way merge) and their fingerprint, the WORK
  version synced.
* ``sync_runs`` and ``sync_activity`` -- every run and every record it touched: time, entity,
  direction, ids, action, outcome, the field at fault and a message. Failed records can be retried
  or dismissed.
* ``sync_outbox`` -- writes sent to QBO whose answers are not recorded yet, with their requestid and
  payload. A run that crashed resends them first, unchanged, so QBO replays instead of writing twice.
* ``sync_matches`` -- weak and multiple customer matches waiting for the user.
* ``sync_values`` -- small per-realm values (the CDC position, the WORK revision synced).

The sync writes a link and its activity entry in one transaction (``state.engine.begin()``),
together with the WORK write when there is one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

__all__ = ["ActivityEntry", "Link", "SyncState"]

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
)

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


def _now() -> datetime:
    return datetime.now(UTC)


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
    """The sync's tables on an engine (normally the WORK store's)."""

    def __init__(self, engine: Engine, realm: str) -> None:
        self.engine = engine
        self.realm = realm
        metadata.create_all(engine)

    # -- links ------------------------------------------------------------------------------------
    def links(self, entity: str, conn: Connection | None = None) -> dict[int, Link]:
        query = sa.select(links_table).where(links_table.c.realm == self.realm, links_table.c.entity == entity)
        rows = self._rows(query, conn)
        return {row.work_id: self._link(row) for row in rows}

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
        key = (links_table.c.realm == self.realm) & (links_table.c.entity == entity) & \
            (links_table.c.work_id == work_id)
        updated = conn.execute(sa.update(links_table).where(key).values(**values)).rowcount
        if not updated:
            conn.execute(sa.insert(links_table).values(realm=self.realm, entity=entity, work_id=work_id, **values))

    def drop_link(self, conn: Connection, entity: str, work_id: int) -> None:
        conn.execute(sa.delete(links_table).where(links_table.c.realm == self.realm, links_table.c.entity == entity,
                                                  links_table.c.work_id == work_id))

    # -- runs and activity ----------------------------------------------------------------------------
    def start_run(self, kind: str, *, dry_run: bool, total: int = 0) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(sa.insert(runs_table).values(realm=self.realm, kind=kind, dry_run=dry_run,
                                                               started_at=_now(), status="running", total=total))
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def set_run_total(self, run_id: int, total: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.update(runs_table).where(runs_table.c.id == run_id).values(total=total))

    def finish_run(self, run_id: int, status: str, counts: Mapping[str, int], requests: int | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.update(runs_table).where(runs_table.c.id == run_id).values(
                finished_at=_now(), status=status, counts=json.dumps(dict(counts)), requests=requests))

    def record(self, conn: Connection, run_id: int, *, entity: str, direction: str, action: str, outcome: str,
               work_id: int | None = None, qbo_id: str | None = None, field: str | None = None,
               message: str = "") -> None:
        conn.execute(sa.insert(activity_table).values(
            run_id=run_id, realm=self.realm, at=_now(), entity=entity, direction=direction, work_id=work_id,
            qbo_id=qbo_id, action=action, outcome=outcome, field=field, message=message))

    def resolve(self, entity: str, work_id: int, how: str, conn: Connection | None = None) -> int:
        """Mark a record's open failures as ``retried`` or ``dismissed``; returns how many."""
        query = sa.update(activity_table).where(
            activity_table.c.realm == self.realm, activity_table.c.entity == entity,
            activity_table.c.work_id == work_id, activity_table.c.outcome.in_(("failed", "conflict")),
            activity_table.c.resolved.is_(None)).values(resolved=how)
        if conn is not None:
            return int(conn.execute(query).rowcount)
        with self.engine.begin() as own:
            return int(own.execute(query).rowcount)

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

    def runs(self, limit: int = 50) -> list[dict[str, Any]]:
        query = sa.select(runs_table).where(runs_table.c.realm == self.realm).order_by(
            runs_table.c.id.desc()).limit(limit)
        out = []
        for row in self._rows(query):
            data = dict(row._mapping)
            data["counts"] = json.loads(row.counts) if row.counts else {}
            out.append(data)
        return out

    @staticmethod
    def _entry(row: Any) -> ActivityEntry:
        return ActivityEntry(row.id, row.run_id, row.at, row.entity, row.direction, row.work_id, row.qbo_id,
                             row.action, row.outcome, row.field, row.message, row.resolved)

    # -- outbox -------------------------------------------------------------------------------------
    def add_outbox(self, conn: Connection, request_id: str, kind: str, body: Any) -> None:
        exists = conn.execute(sa.select(outbox_table.c.request_id).where(
            outbox_table.c.realm == self.realm, outbox_table.c.request_id == request_id)).first()
        if exists is None:
            conn.execute(sa.insert(outbox_table).values(realm=self.realm, request_id=request_id, kind=kind,
                                                        body=json.dumps(body, default=str), created_at=_now()))

    def clear_outbox(self, conn: Connection, request_id: str) -> None:
        conn.execute(sa.delete(outbox_table).where(outbox_table.c.realm == self.realm,
                                                   outbox_table.c.request_id == request_id))

    def outbox(self) -> list[tuple[str, str, Any]]:
        query = sa.select(outbox_table).where(outbox_table.c.realm == self.realm).order_by(outbox_table.c.created_at)
        return [(row.request_id, row.kind, json.loads(row.body)) for row in self._rows(query)]

    # -- matches ----------------------------------------------------------------------------------
    def save_matches(self, rows: Iterable[tuple[int, str, str, float, str]]) -> None:
        """Record (work_id, qbo_id, kind, score, reason) pairs as pending, keeping earlier decisions."""
        with self.engine.begin() as conn:
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
        with self.engine.begin() as conn:
            rows = conn.execute(sa.select(matches_table).where(matches_table.c.realm == self.realm,
                                                              matches_table.c.work_id == work_id)).all()
            for row in rows:
                status = "accepted" if accept and row.qbo_id == qbo_id else "rejected"
                conn.execute(sa.update(matches_table).where(matches_table.c.id == row.id).values(status=status))

    # -- values -------------------------------------------------------------------------------------
    def get_value(self, key: str, default: Any = None, conn: Connection | None = None) -> Any:
        query = sa.select(values_table.c.value).where(values_table.c.realm == self.realm, values_table.c.key == key)
        rows = self._rows(query, conn)
        return json.loads(rows[0].value) if rows else default

    def set_value(self, conn: Connection, key: str, value: Any) -> None:
        conn.execute(sa.delete(values_table).where(values_table.c.realm == self.realm, values_table.c.key == key))
        conn.execute(sa.insert(values_table).values(realm=self.realm, key=key, value=json.dumps(value, default=str)))

    # -- the retry queue ------------------------------------------------------------------------------
    def queue_retry(self, entity: str, work_id: int) -> None:
        """A failed record goes into the next run (its open failures are marked retried)."""
        self.resolve(entity, work_id, "retried")
        with self.engine.begin() as conn:
            pending = set(self.get_value(f"pending:{entity}", [], conn)) | {work_id}
            self.set_value(conn, f"pending:{entity}", sorted(pending))

    def dismiss(self, entity: str, work_id: int) -> None:
        """Stop retrying a failed record; it stays in the activity log, marked dismissed."""
        self.resolve(entity, work_id, "dismissed")
        with self.engine.begin() as conn:
            pending = set(self.get_value(f"pending:{entity}", [], conn)) - {work_id}
            self.set_value(conn, f"pending:{entity}", sorted(pending))

    # -- helpers ----------------------------------------------------------------------------------
    def _rows(self, query: Any, conn: Connection | None = None) -> list[Any]:
        if conn is not None:
            return list(conn.execute(query).all())
        with self.engine.connect() as own:
            return list(own.execute(query).all())
