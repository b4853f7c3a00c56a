"""Sign-off of a period's reconciliation, and reopening when something in the period changes.

A *period* is a month (``YYYY-MM``); the runs of a period are the recorded runs (:mod:`.history`)
whose as-of falls in it. Signing (:meth:`SignOff.sign`; the explorer's button and
``qbo-toolkit signoff`` both call it) signs the period's latest run: who, when, a note, the run
and its result hash. Roles: a *preparer* signs first; a *reviewer* signs the run the preparer
signed, after the preparer (they may be different people; the reviewer's sign-off is refused
while no preparer's stands, or when the period was reopened). A preparer signing again (a newer
run, or after a reopening) supersedes the period's earlier sign-offs.

What reopens a signed period (:meth:`SignOff.status` checks, and records the reopening with the
sentences that say what changed):

1. a later run of the period whose differences dated in the period differ from the signed run's
   (a difference new, gone, or with other values; a difference's day is the record's date, see
   :mod:`.history`; undated ones, such as a customer's e-mail or an aging bucket, belong to no
   single period and do not reopen one);
2. a WORK invoice, payment, credit note, credit application or refund dated in the period written
   after the signed run (the store's revision is above the one recorded with the run);
3. with a QBO client: an Invoice, Payment, CreditMemo or RefundReceipt with a TxnDate in the period
   and a ``MetaData.LastUpdatedTime`` in a later second than the signed run's time (4 queries,
   metered reads since 2025). QBO stamps whole seconds and its clock is taken to agree with ours: a
   change stamped in the very second the run started, or a record deleted in QBO (no row left to
   find), is found by check 1 at the next reconciliation of the period instead. A job's run time is
   when its reconciliation started, so a change made while it read QBO counts as after it.

A change dated outside the period reopens nothing. States: ``open`` (never signed, or the sign-offs
were superseded without a new one), ``prepared``, ``reviewed``, ``reopened``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Final

import pandas as pd
import sqlalchemy as sa

from .history import HistoryError, check_period, period_bounds, runs_table, signoffs_table

if TYPE_CHECKING:
    from ..qbo.client import QboClient
    from .history import History

__all__ = ["ROLES", "SignOff", "Signature", "SignoffStatus"]

ROLES: Final = ("preparer", "reviewer")
_QBO_ENTITIES: Final = ("Invoice", "Payment", "CreditMemo", "RefundReceipt")
_MAX_CHANGES: Final = 50  # sentences kept per reopening (the count says how many more)


def _aware(value: datetime | None) -> datetime | None:
    """A stored time in UTC. SQLite gives timestamps back without their zone (they were written in
    UTC); PostgreSQL gives them in the session's time zone, which the sentences must not show as UTC."""
    if value is None:
        return None
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Signature:
    role: str
    who: str
    at: datetime
    note: str
    run_id: int
    result_hash: str
    state: str

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "who": self.who, "at": self.at.isoformat(), "note": self.note,
                "run_id": self.run_id, "result_hash": self.result_hash, "state": self.state}


@dataclass(frozen=True)
class SignoffStatus:
    """Where a period's sign-off stands, and (when reopened) what changed."""

    realm: str
    period: str
    state: str  # open | prepared | reviewed | reopened
    signatures: tuple[Signature, ...] = ()
    run_id: int | None = None  # the run signed
    latest_run_id: int | None = None
    changes: tuple[str, ...] = ()
    reopened_at: datetime | None = None

    @property
    def preparer(self) -> Signature | None:
        return next((s for s in self.signatures if s.role == "preparer"), None)

    @property
    def reviewer(self) -> Signature | None:
        return next((s for s in self.signatures if s.role == "reviewer"), None)

    @property
    def sentence(self) -> str:
        def by(s: Signature) -> str:
            return f"{s.role} {s.who} on {s.at.strftime('%Y-%m-%d %H:%M')} UTC"

        if self.state == "open":
            return f"{self.period} is not signed off."
        signed = ", ".join(by(s) for s in self.signatures)
        if self.state == "reopened":
            first = self.changes[0] if self.changes else "something in the period changed"
            more = f" (and {len(self.changes) - 1} more change{'s' if len(self.changes) != 2 else ''})" \
                if len(self.changes) > 1 else ""
            return f"{self.period} was REOPENED after sign-off ({signed}): {first}{more}."
        stale = "" if self.latest_run_id in (None, self.run_id) else \
            f" A newer run ({self.latest_run_id}) of the period has the same differences in the period."
        return f"{self.period} is signed off ({signed}), run {self.run_id}.{stale}"

    def to_dict(self) -> dict[str, Any]:
        return {"period": self.period, "state": self.state, "run_id": self.run_id,
                "latest_run_id": self.latest_run_id, "sentence": self.sentence, "changes": list(self.changes),
                "reopened_at": self.reopened_at.isoformat() if self.reopened_at else None,
                "signatures": [s.to_dict() for s in self.signatures]}


@dataclass
class SignOff:
    """Sign-offs of one realm's periods, over :class:`.history.History`'s tables."""

    history: History
    _checked: dict[str, Any] = field(default_factory=dict)

    @property
    def realm(self) -> str:
        return self.history.realm

    def has_signoffs(self, period: str) -> bool:
        with self.history.engine.connect() as conn:
            return conn.execute(sa.select(signoffs_table.c.id).where(
                signoffs_table.c.realm == self.realm, signoffs_table.c.period == period).limit(1)).first() is not None

    def _active(self, conn: Any, period: str) -> list[Any]:
        return list(conn.execute(sa.select(signoffs_table).where(
            signoffs_table.c.realm == self.realm, signoffs_table.c.period == period,
            signoffs_table.c.state.in_(("signed", "reopened"))).order_by(signoffs_table.c.id)).all())

    def _latest_run(self, conn: Any, period: str) -> Any:
        return conn.execute(sa.select(runs_table).where(runs_table.c.realm == self.realm,
                                                        runs_table.c.period == period)
                            .order_by(runs_table.c.id.desc()).limit(1)).first()

    # -- signing ---------------------------------------------------------------------------------
    def sign(self, period: str, role: str, who: str, note: str = "", *, client: QboClient | None = None,
             ) -> SignoffStatus:
        """Sign ``period``'s latest run as ``role`` (``preparer`` or ``reviewer``); the status after.

        Refused (HistoryError, with what to do) when no run of the period is recorded, when WORK or
        QBO changed in the period since that run (reconcile again first), or, for a reviewer, when no
        preparer's sign-off of that run stands."""
        period = check_period(period)
        if role not in ROLES:
            raise HistoryError(f"role must be preparer or reviewer, not {role!r}")
        who = (who or "").strip()
        if not who:
            raise HistoryError("a sign-off needs who signs (a name or an e-mail address)")
        longest = getattr(signoffs_table.c.who.type, "length", None)  # PostgreSQL refuses longer; SQLite kept it
        if longest is not None and len(who) > longest:
            raise HistoryError(f"who signs is {len(who)} characters long: write at most {longest} (a name or an "
                               "e-mail address)")
        with self.history.engine.connect() as conn:
            run = self._latest_run(conn, period)
        if run is None:
            raise HistoryError(f"no reconciliation of {period} is recorded for company {self.realm}: reconcile as "
                               f"of a day in {period} first (e.g. qbo-toolkit run reconcile -p as_of="
                               f"{period_bounds(period)[1].isoformat()})")
        status = self.status(period, client=client)
        changed = self._changes_since(run, period, client)
        if changed:
            raise HistoryError(f"{period} changed since its latest reconciliation (run {run.id}): {changed[0]}"
                               f"{f' (and {len(changed) - 1} more)' if len(changed) > 1 else ''}; reconcile again, "
                               "then sign the new run")
        if role == "reviewer":
            preparer = status.preparer
            if status.state == "reopened":
                first = status.changes[0] if status.changes else "something in the period changed"
                raise HistoryError(f"{period} was reopened after the preparer signed it ({first}); the preparer signs "
                                   "the latest run again before the review")
            if preparer is None or status.state not in ("prepared", "reviewed"):
                raise HistoryError(f"{period} has no preparer's sign-off yet: the preparer signs first "
                                   f"(qbo-toolkit signoff --period {period} --role preparer --who NAME)")
            if preparer.run_id != run.id:
                raise HistoryError(f"the preparer signed run {preparer.run_id} of {period}, but run {run.id} is newer: "
                                   "the preparer signs the latest run first")
        at = datetime.now(UTC)
        with self.history.store.begin() as conn:
            self.history.serialize(conn)  # a sign-off made at this moment supersedes, or is superseded: one stands
            supersede = signoffs_table.c.state.in_(("signed", "reopened"))
            where = (signoffs_table.c.realm == self.realm) & (signoffs_table.c.period == period) & supersede
            if role == "reviewer":
                where = where & (signoffs_table.c.role == "reviewer")
            conn.execute(sa.update(signoffs_table).where(where).values(state="superseded"))
            conn.execute(sa.insert(signoffs_table).values(
                realm=self.realm, period=period, run_id=run.id, role=role, who=who, at=at, note=(note or "").strip(),
                result_hash=run.result_hash, state="signed"))
        return self.status(period)

    # -- status ----------------------------------------------------------------------------------
    def status(self, period: str, *, client: QboClient | None = None) -> SignoffStatus:
        """Where ``period`` stands; a signed period in which something changed is reopened here
        (recorded, with what changed)."""
        period = check_period(period)
        with self.history.engine.connect() as conn:
            active = self._active(conn, period)
            latest = self._latest_run(conn, period)
        latest_id = latest.id if latest is not None else None
        if not active:
            return SignoffStatus(self.realm, period, "open", latest_run_id=latest_id)
        if all(s.state == "signed" for s in active):
            signed_run = self.history.run_row(active[0].run_id)
            changes = self._changes_since(signed_run, period, client)
            if changes:
                at = datetime.now(UTC)
                with self.history.store.begin() as conn:
                    conn.execute(sa.update(signoffs_table).where(
                        signoffs_table.c.id.in_([s.id for s in active])).values(
                        state="reopened", reopened_at=at, changes=json.dumps(changes[:_MAX_CHANGES] + (
                            [f"{len(changes) - _MAX_CHANGES} more changes not listed"]
                            if len(changes) > _MAX_CHANGES else []))))
                with self.history.engine.connect() as conn:
                    active = self._active(conn, period)
        signatures = tuple(Signature(s.role, s.who, _aware(s.at) or s.at, s.note, s.run_id, s.result_hash, s.state)
                           for s in active)
        if any(s.state == "reopened" for s in active):
            row = next(s for s in active if s.state == "reopened")
            return SignoffStatus(self.realm, period, "reopened", signatures, active[0].run_id, latest_id,
                                 tuple(json.loads(row.changes or "[]")), _aware(row.reopened_at))
        state = "reviewed" if any(s.role == "reviewer" for s in active) else "prepared"
        return SignoffStatus(self.realm, period, state, signatures, active[0].run_id, latest_id)

    def periods(self) -> list[SignoffStatus]:
        """The status of every period with a sign-off (newest period first), without QBO checks."""
        with self.history.engine.connect() as conn:
            periods = [p for (p,) in conn.execute(sa.select(signoffs_table.c.period).where(
                signoffs_table.c.realm == self.realm).distinct().order_by(signoffs_table.c.period.desc()))]
        return [self.status(p) for p in periods]

    # -- what changed ----------------------------------------------------------------------------
    def _changes_since(self, run: Any, period: str, client: QboClient | None) -> list[str]:
        first, last = period_bounds(period)
        changes = self._later_runs(run, period, first, last)
        changes += self._work_changes(run, first, last)
        if client is not None:
            changes += self._qbo_changes(run, client, first, last)
        return changes

    def _later_runs(self, run: Any, period: str, first: date, last: date) -> list[str]:
        with self.history.engine.connect() as conn:
            later = conn.execute(sa.select(runs_table).where(
                runs_table.c.realm == self.realm, runs_table.c.period == period, runs_table.c.id > run.id)
                .order_by(runs_table.c.id.desc()).limit(1)).first()
        if later is None or later.result_hash == run.result_hash:
            return []
        before = self.history.run_items(run.id)
        after = self.history.run_items(later.id)

        def dated(frame: pd.DataFrame) -> pd.DataFrame:
            day = pd.to_datetime(frame["day"], errors="coerce")
            return frame[(day >= pd.Timestamp(first)) & (day <= pd.Timestamp(last))]

        before, after = dated(before), dated(after)
        merged = before.merge(after, on="key", how="outer", suffixes=("_before", "_after"), indicator="side")
        out: list[str] = []
        where = f"run {later.id} (as of {later.as_of.isoformat()})"
        for row in merged.itertuples(index=False):
            label = row.label_after if row.side != "left_only" else row.label_before
            what = f"{row.key}{f' ({label})' if label else ''}"
            if row.side == "right_only":
                out.append(f"difference {what} is new in {where}")
            elif row.side == "left_only":
                out.append(f"difference {what} is gone in {where}")
            elif row.fingerprint_before != row.fingerprint_after:
                out.append(f"difference {what} has other values in {where}")
        return out

    def _work_changes(self, run: Any, first: date, last: date) -> list[str]:
        if run.work_revision is None:
            return []
        store, rev = self.history.store, int(run.work_revision)
        if store.max_revision() <= rev:
            return []
        out: list[str] = []
        sources: list[tuple[str, Any, str, str]] = [
            ("invoice", store.changed_invoices, "issue_date", "number"),
            ("payment", store.changed_payments, "date", ""),
            ("credit note", store.changed_credit_notes, "date", "number"),
            ("credit application", store.changed_credit_applications, "date", ""),
            ("refund", store.changed_refunds, "date", ""),
        ]
        for name, changed, day_field, number_field in sources:
            for record in changed(rev):
                day = getattr(record, day_field)
                if first <= day <= last:
                    number = f" {getattr(record, number_field)}" if number_field else ""
                    gone = " (deleted)" if getattr(record, "deleted", False) else ""
                    out.append(f"WORK {name}{number} (id {record.id}, dated {day.isoformat()}) was written after "
                               f"run {run.id}{gone}")
        return out

    def _qbo_changes(self, run: Any, client: QboClient, first: date, last: date) -> list[str]:
        from ..qbo.query import select

        since = (_aware(run.run_at) or run.run_at).replace(microsecond=0)  # QBO stamps whole seconds
        out: list[str] = []
        for entity in _QBO_ENTITIES:
            query = (select(entity).where("MetaData.LastUpdatedTime", ">", since)
                     .where("TxnDate", ">=", first).where("TxnDate", "<=", last))
            for page in client.iter_query(query, raw=True):
                for row in page:
                    number = f" {row['DocNumber']}" if row.get("DocNumber") else ""
                    updated = (row.get("MetaData") or {}).get("LastUpdatedTime", "")
                    out.append(f"QBO {entity}{number} (Id {row.get('Id')}, dated {row.get('TxnDate')}) was updated "
                               f"at {updated}, after run {run.id}")
        return out


def status_table(statuses: list[SignoffStatus]) -> list[Mapping[str, Any]]:
    """Rows for a CLI or a widget: period, state, preparer, reviewer, run, sentence."""
    return [{"period": s.period, "state": s.state,
             "preparer": s.preparer.who if s.preparer else "", "reviewer": s.reviewer.who if s.reviewer else "",
             "run": s.run_id, "sentence": s.sentence} for s in statuses]
