"""``qbo-toolkit doctor``: the id map checked against QuickBooks and the WORK store.

The sync keeps itself consistent (:mod:`.engine`), but a company can be changed by hand, by
another tool, or by a QBO that lost a write. The doctor reads every customer, invoice and payment
of the company, and the credit memos, credit payments and refund receipts of issue 13 (metered
reads: run it when something looks wrong, not nightly) and compares them
with the id map and the WORK store. What it finds, and what ``--repair`` does about it:

=========================  ===============================================  ==========================================
finding                    meaning                                          repair
=========================  ===============================================  ==========================================
``missing in QuickBooks``  a link points at a record QBO does not have      invoices/payments: mark the link ``gone``
                                                                            (the sync leaves it; retry re-creates)
``not this record's``      the QBO record's mark names another WORK record  remove the link (the next sync looks the
                                                                            record up by its mark)
``not linked``             a QBO record with a WORK record's mark, and that link it
                           WORK record has no link
``duplicate``              a second QBO record with the same mark as a      payments, and invoices with nothing paid:
                           linked one (written twice)                       delete it in QuickBooks
``no WORK record``         a mark names a WORK record that does not exist   none: a person decides
``waiting``                requests without an answer in the outbox, or     none: the next sync finishes them
                           records parked after a collision
=========================  ===============================================  ==========================================

Without ``--repair`` nothing is written anywhere. With it, the doctor takes the company's sync
lease (no sync runs meanwhile), and every repair is one transaction in the WORK store (and, for a
duplicate, one delete in QuickBooks with its own idempotency key).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..connection import Connection, connection
from ..errors import QboError
from ..mapping.markers import marker_owner
from ..qbo.query import select
from ..work.store import WorkStore
from .context import as_dict
from .keys import record_key, request_id
from .lease import Lease
from .state import SyncState

__all__ = ["DoctorReport", "Finding", "doctor"]

_QBO = {"customer": "Customer", "invoice": "Invoice", "payment": "Payment", "credit_note": "CreditMemo",
        "credit_applied": "Payment", "refund": "RefundReceipt"}
#: Duplicates the doctor may delete whatever their balance: nothing else depends on them.
_DELETABLE = ("payment", "credit_applied", "refund")


@dataclass
class Finding:
    kind: str
    entity: str
    work_id: int | None
    qbo_id: str | None
    text: str
    repair: str | None = None  # what --repair does; None: nothing it can do safely
    repaired: bool = False
    error: str = ""

    def line(self) -> str:
        if self.repaired:
            tail = f" -> repaired: {self.repair}"
        elif self.error:
            tail = f" -> not repaired: {self.error}"
        elif self.repair:
            tail = f" (--repair would {self.repair})"
        else:
            tail = " (needs a person)"
        return f"{self.kind}: {self.text}{tail}"


@dataclass
class DoctorReport:
    realm: str
    company: str
    repair: bool
    findings: list[Finding] = field(default_factory=list)
    checked: Counter[str] = field(default_factory=Counter)

    @property
    def consistent_after(self) -> bool:
        """True when the id map, QuickBooks and WORK agree now: nothing found, or everything found
        repaired. Records that wait for the next sync (unanswered requests, parked records) do not
        agree yet: they count as left, though only a sync finishes them."""
        return all(f.repaired for f in self.findings)

    def __str__(self) -> str:
        what = ", ".join(f"{n} {k}" for k, n in sorted(self.checked.items()))
        head = f"doctor: {self.company} (realm {self.realm}): checked {what}"
        if not self.findings:
            return f"{head}\n  the id map, QuickBooks and WORK agree"
        lines = [head, *(f"  - {f.line()}" for f in self.findings)]
        left = [f for f in self.findings if not f.repaired]
        mendable = [f for f in left if f.repair is not None and not f.error]
        waiting = [f for f in left if f.kind == "waiting"]
        if not left:
            lines.append("  nothing left to mend (after the repairs)")
        elif mendable and not self.repair:
            lines.append(f"  {len(left)} finding(s); run `qbo-toolkit doctor --repair` to mend {len(mendable)}")
        else:
            lines.append(f"  {len(left)} finding(s) left")
        if waiting:
            lines.append("  records waiting for the next sync: run `qbo-toolkit sync`, then the doctor again")
        return "\n".join(lines)


def doctor(*, store: WorkStore | str | None = None, conn: Connection | None = None,
           repair: bool = False) -> DoctorReport:
    """Check the id map against QuickBooks and WORK; with ``repair``, mend what is safe (see the
    module docstring)."""
    live = conn or connection()
    work = store if isinstance(store, WorkStore) else WorkStore(store)
    state = SyncState(work, live.realm_id)
    report = DoctorReport(live.realm_id, live.company_name or f"company {live.realm_id}", repair)
    lease: Lease | None = None
    if repair:
        lease = Lease(state, job="qbo-toolkit doctor --repair", company=report.company)
        lease.acquire()
    try:
        _check(report, work, state, live)
        if repair:
            _repair(report, state, live)
    finally:
        if lease is not None:
            lease.release()
    return report


def _check(report: DoctorReport, work: WorkStore, state: SyncState, live: Connection) -> None:
    client = live.client
    for entity, name in _QBO.items():
        query = select(name)
        rows = [as_dict(r) for r in client.query_all(query.include_inactive() if entity == "customer" else query)]
        report.checked[f"{name.lower()}s"] = len(rows)
        by_id = {str(r["Id"]): r for r in rows}
        links = state.links(entity)
        linked_qbo = {one.qbo_id: one for one in links.values()}
        for link in links.values():
            if link.state not in ("active", "voided"):
                continue
            doc = by_id.get(link.qbo_id)
            if doc is None:
                report.findings.append(Finding(
                    "missing in QuickBooks", entity, link.work_id, link.qbo_id,
                    f"WORK {entity} {link.work_id} is linked to QuickBooks {entity} {link.qbo_id}, which QuickBooks "
                    "does not have", "mark the link gone" if entity != "customer" else None))
                continue
            owner = marker_owner(doc.get("PrivateNote"), entity) if entity != "customer" else None
            if owner is not None and owner != link.work_id:
                report.findings.append(Finding(
                    "not this record's", entity, link.work_id, link.qbo_id,
                    f"WORK {entity} {link.work_id} is linked to QuickBooks {entity} {link.qbo_id}, whose mark says it "
                    f"is WORK {entity} {owner}'s", "remove the link"))
        if entity == "customer":
            continue
        exists = _work_ids(work, entity)
        marked: dict[int, list[dict[str, Any]]] = {}
        for doc in rows:
            owner = marker_owner(doc.get("PrivateNote"), entity)
            if owner is not None:
                marked.setdefault(owner, []).append(doc)
        for owner, docs in sorted(marked.items()):
            if owner not in exists:
                for doc in docs:
                    if str(doc["Id"]) not in linked_qbo:
                        report.findings.append(Finding(
                            "no WORK record", entity, owner, str(doc["Id"]),
                            f"QuickBooks {entity} {doc['Id']} carries the mark of WORK {entity} {owner}, which WORK "
                            "does not have"))
                continue
            mine = links.get(owner)
            linked_doc = by_id.get(mine.qbo_id) if mine is not None and mine.state in ("active", "voided") else None
            unlinked = [d for d in docs if str(d["Id"]) not in linked_qbo]
            if linked_doc is None and mine is not None and mine.state in ("active", "voided"):
                continue  # reported above as missing; its mark's record may be among `unlinked`
            if linked_doc is None:
                if unlinked:
                    first = min(unlinked, key=lambda d: int(d["Id"]))
                    report.findings.append(Finding(
                        "not linked", entity, owner, str(first["Id"]),
                        f"QuickBooks {entity} {first['Id']} carries the mark of WORK {entity} {owner}, which is not "
                        "linked to anything", "link it"))
                    unlinked = [d for d in unlinked if d is not first]
            for doc in unlinked:
                safe = entity in _DELETABLE or str(doc.get("Balance")) == str(doc.get("TotalAmt"))
                report.findings.append(Finding(
                    "duplicate", entity, owner, str(doc["Id"]),
                    f"QuickBooks {entity} {doc['Id']} ({doc.get('TxnDate')}, {doc.get('TotalAmt')}) is a second copy "
                    f"of WORK {entity} {owner}" + (f" (linked to {mine.qbo_id})" if mine is not None else ""),
                    "delete it in QuickBooks" if safe else None))
    outbox = state.outbox()
    if outbox:
        report.findings.append(Finding(
            "waiting", "sync", None, None,
            f"{sum(len(b) for _, _, b in outbox)} record(s) sent in {len(outbox)} request(s) without an answer: the "
            "next sync looks them up and finishes them"))
    for entity in _QBO:
        parked = state.get_value(f"verify:{entity}", {})
        if parked:
            report.findings.append(Finding(
                "waiting", entity, None, None,
                f"{len(parked)} {entity} record(s) parked after an id-map collision: the next sync checks them"))


def _work_ids(work: WorkStore, entity: str) -> set[int]:
    if entity == "invoice":
        return {inv.id for inv in work.invoices(include_deleted=True)}
    if entity == "credit_note":
        return {note.id for note in work.credit_notes(include_deleted=True)}
    if entity == "credit_applied":
        return {app.id for app in work.credit_applications(include_deleted=True)}
    if entity == "refund":
        return {refund.id for refund in work.refunds(include_deleted=True)}
    return {pay.id for pay in work.payments(include_deleted=True)}


def _repair(report: DoctorReport, state: SyncState, live: Connection) -> None:
    client = live.client
    for f in report.findings:
        if f.repair is None or f.work_id is None or f.qbo_id is None:
            continue
        try:
            if f.kind == "missing in QuickBooks":
                with state.begin() as conn:
                    link = state.links(f.entity, conn, work_ids=[f.work_id])[f.work_id]
                    state.save_link(conn, f.entity, f.work_id, f.qbo_id, sync_token=link.sync_token,
                                    work_version=link.work_version, fingerprint=link.fingerprint, state="gone")
            elif f.kind == "not this record's":
                with state.begin() as conn:
                    state.drop_link(conn, f.entity, f.work_id)
                    pending = set(state.get_value(f"pending:{f.entity}", [], conn)) | {f.work_id}
                    state.set_value(conn, f"pending:{f.entity}", sorted(pending))
            elif f.kind == "not linked":
                doc = as_dict(client.read(_entity_class(f.entity), f.qbo_id))
                with state.begin() as conn:
                    # version 0: the next sync compares the record with what WORK holds now and updates it
                    state.save_link(conn, f.entity, f.work_id, f.qbo_id, sync_token=str(doc.get("SyncToken", "0")),
                                    work_version=0)
            elif f.kind == "duplicate":
                doc = as_dict(client.read(_entity_class(f.entity), f.qbo_id))
                if marker_owner(doc.get("PrivateNote"), f.entity) != f.work_id:
                    f.error = "it changed in QuickBooks since it was read"
                    continue
                key = record_key(f.entity, f.work_id, 0, f"doctor-delete-{f.qbo_id}")
                rid = request_id(client.realm_id, key)
                client.delete(_QBO[f.entity], f.qbo_id, str(doc["SyncToken"]), request_id=rid,
                              record=f"duplicate of {f.entity} {f.work_id}")
            f.repaired = True
        except QboError as exc:
            f.error = f"QuickBooks refused it ({exc.code} {exc.message})"


def _entity_class(entity: str) -> type:
    from ..qbo.client import entity_class

    cls = entity_class(_QBO[entity])
    assert cls is not None
    return cls
