"""Credit notes, their applications and refunds, WORK to QBO from the integration date (issue 13).

Three stages, run after the payments when invoices sync (see :mod:`.engine`):

* :class:`CreditNoteStage` (entity ``credit_note``, settings ``credit_notes``, default on): each WORK
  credit note as a CreditMemo (:func:`qbo_toolkit.mapping.credits.credit_memo_to_qbo`), its number as
  ``DocNumber``; waits for its client like an invoice does.
* :class:`CreditAppliedStage` (entity ``credit_applied``, with the credit notes): each WORK credit
  application as a QBO Payment of ``TotalAmt`` 0 linking the Invoice and the CreditMemo for the
  amount; waits for both (``blocked_by`` the one missing) and skips what does not sync (an invoice or
  note dated before the integration date, a void invoice).
* :class:`RefundStage` (entity ``refund``, settings ``refunds`` with ``refund_account``): each WORK
  refund as a RefundReceipt paid from ``refund_account``.

Exactly once, as for payments (:mod:`.payments`, :mod:`.sender`, :mod:`.keys`): every create is
streamed through the :class:`~.sender.Sender` (written to the outbox before it is sent, with the
requestid of the record change: realm, entity, WORK id, version, operation, attempt); its answer is
recorded with the id-map row and the activity entry in one transaction. Every record carries the
toolkit's mark in ``PrivateNote`` (``[qbo-toolkit credit_note 7]``); after a lost answer the next run
looks the records up (a credit memo by ``DocNumber``, a payment or refund receipt by customer and
date) and adopts the one with its mark instead of creating a second. Updates and deletions read the
record first (its SyncToken, and its mark: an Id that now holds another record is never written
over) and carry the key ``update@<SyncToken>`` / ``delete``.

WORK deletions delete in QBO: a deleted application's Payment (before the invoices stage runs, so an
invoice voided in WORK meanwhile is not still linked; an application WORK lowered is lowered then too,
so the balance it frees is there for the run's payments), a deleted credit note's CreditMemo (after
the Payments that apply it), a deleted refund's RefundReceipt. Items are those of the invoice lines (the
item stage's map; a note without an item uses the default item); a record whose item is held by
``existing_items: ask`` waits like an invoice (said once, kept in ``held:<entity>``, sent on the run
after the choice). Tax goes as the company takes it (:mod:`qbo_toolkit.mapping.tax`) and is
tied to WORK's after each write. A record dated in QuickBooks' closed books waits with the sentence of
:func:`~.preflight.closed_books_sentence` (or, with ``closed_period: first_open_date``, goes on the
first open day with a memo); a closed-period refusal becomes the same sentence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from ..errors import ClosedPeriod, DuplicateDocNumber, ObjectNotFound, QboError
from ..mapping import credits as cmap
from ..mapping.dates import date_problem
from ..mapping.markers import marker_owner
from ..mapping.tax import tax_difference
from ..qbo.client import BatchOp, BatchResult
from ..qbo.query import select
from ..work.models import CreditApplication, CreditNote, Invoice, Refund
from . import numbers
from .action import Action
from .context import PARTIAL_LINKS, RecordStage, as_dict
from .invoices import amount, fingerprint
from .keys import record_key, split_key
from .preflight import NameResolver, closed_books_sentence, first_open_date, refused_closing_date
from .state import Link

__all__ = [
    "CreditAppliedStage",
    "CreditNoteStage",
    "RefundStage",
    "plan_credit_applied",
    "plan_document",
]

Document = CreditNote | Refund


def _txn_date(payload: Mapping[str, Any]) -> date | None:
    try:
        return date.fromisoformat(str(payload.get("TxnDate") or "")[:10])
    except ValueError:
        return None


def _item_key(key: str) -> int | None:
    """The WORK item id of a ``held:<entity>`` key (``item:7``; ``item:default`` is None)."""
    value = key.partition(":")[2]
    return None if value == "default" else int(value)


def _label(entity: str, record: Any) -> str:
    if entity == "credit_note":
        return f"credit note {record.number}"
    if entity == "credit_applied":
        return f"credit application {record.id}"
    return f"refund {record.id}"


# ============================================================================== the pure planners
def plan_document(entity: str, doc: Document, link: Link | None, customer: Link | None, *, integration_date: date,
                  today: date, client_active: bool = True) -> Action:
    """What to do with one WORK credit note or refund (``entity`` ``credit_note`` / ``refund``)."""
    label = _label(entity, doc)

    def act(kind: str, reason: str = "", field_name: str | None = None, **fields: Any) -> Action:
        return Action(kind, entity, "to_qbo", doc.id, link.qbo_id if link else None, dict(fields), reason,
                      field_name)

    if link is not None and link.state == "gone":
        return act("skip", f"{label}: its QuickBooks record was deleted there (not by the sync) or now holds another "
                           "one; it is not sent again (retry it to create it anew)")
    if link is not None and link.state in ("deleted", "voided"):
        return act("skip", f"{label} was removed from QuickBooks by an earlier run")
    if doc.deleted:
        return act("delete", f"{label} was deleted in WORK") if link else act(
            "skip", f"{label} was deleted in WORK before it was sent")
    problem = date_problem(doc.date, today=today) if link is None or link.work_version != doc.version else None
    if problem is not None:
        return act("fail", f"{label}: date {problem}", "date")
    if link is None and doc.date < integration_date:
        return act("skip", f"{label} is dated {doc.date}, before the integration date {integration_date}: not "
                           "expected in QuickBooks")
    if customer is None:
        return act("fail", f"{label}: its client {doc.client_id} is not in QuickBooks yet (it will be sent once the "
                           "client is)", "client_id", blocked_by=f"customer:{doc.client_id}")
    if link is not None and link.work_version == doc.version:
        return act("skip", "unchanged")
    if not client_active:
        return act("fail", f"{label}: its client {doc.client_id} is inactive in WORK, and QuickBooks refuses "
                           "transactions for inactive customers; make the client active again, then retry it",
                   "client_id")
    if link is None:
        return act("create", f"new {label}")
    return act("update", f"{label} changed in WORK")


def _invoice_syncs(inv: Invoice, integration_date: date) -> bool:
    return not inv.deleted and inv.status == "open" and inv.issue_date >= integration_date


def plan_credit_applied(app: CreditApplication, link: Link | None, note: CreditNote | None, note_link: Link | None,
                        inv: Invoice | None, invoice_link: Link | None, *, integration_date: date,
                        today: date) -> Action:
    """What to do with one WORK credit application (a Payment linking the Invoice and the CreditMemo)."""
    label = _label("credit_applied", app)

    def act(kind: str, reason: str = "", field_name: str | None = None, **fields: Any) -> Action:
        return Action(kind, "credit_applied", "to_qbo", app.id, link.qbo_id if link else None, dict(fields), reason,
                      field_name)

    if link is not None and link.state == "gone":
        return act("skip", f"{label}: its QuickBooks payment was deleted there (not by the sync) or now holds "
                           "another one; it is not sent again (retry it to create it anew)")
    if link is not None and link.state in ("deleted", "voided"):
        return act("skip", f"{label} was removed from QuickBooks by an earlier run")
    if app.deleted:
        return act("delete", f"{label} was removed in WORK") if link else act(
            "skip", f"{label} was removed in WORK before it was sent")
    if note is None:
        return act("fail", f"{label}: credit note {app.credit_note_id} does not exist in WORK", "credit_note_id")
    if inv is None:
        return act("fail", f"{label}: invoice {app.invoice_id} does not exist in WORK", "invoice_id")
    label = f"credit application {app.id} (credit note {note.number} on invoice {inv.number})"
    problem = date_problem(app.date, today=today) if link is None or link.work_version != app.version else None
    if problem is not None:
        return act("fail", f"{label}: date {problem}", "date")
    if link is None and app.date < integration_date:
        return act("skip", f"{label} is dated {app.date}, before the integration date {integration_date}")
    if note_link is None:
        if note.deleted or note.date < integration_date:
            return act("skip", f"{label}: credit note {note.number} does not sync to QuickBooks")
        return act("fail", f"{label}: credit note {note.number} is not in QuickBooks yet (the application will be "
                           "sent once it is)", "credit_note_id", blocked_by=f"credit_note:{note.id}")
    if invoice_link is None:
        if not _invoice_syncs(inv, integration_date):
            return act("skip", f"{label}: invoice {inv.number} does not sync to QuickBooks")
        return act("fail", f"{label}: invoice {inv.number} is not in QuickBooks yet (the application will be sent "
                           "once it is)", "invoice_id", blocked_by=f"invoice:{inv.id}")
    if invoice_link.state != "active":
        return act("skip", f"{label}: invoice {inv.number} is {invoice_link.state} in QuickBooks")
    if note_link.state != "active":
        return act("skip", f"{label}: credit note {note.number} is {note_link.state} in QuickBooks")
    if link is None:
        return act("create", f"new {label} of {app.amount}")
    if link.work_version == app.version:
        return act("skip", "unchanged")
    return act("update", f"{label} changed in WORK")


# ============================================================================== shared machinery
class _Stage(RecordStage):
    """What the three stages share: recording answers, the closed books, updates and deletions."""

    entity: str
    qbo_entity: str
    dependency: str

    def __init__(self, ctx: Any, sender: Any) -> None:
        super().__init__(ctx, sender)
        self.closed_now: date | None = None
        self.expected_tax: dict[str, Decimal] = {}

    # ------------------------------------------------------------------ the closed books
    def waits(self, label: str, work_id: int, dated: date, kind: str) -> bool:
        """Whether the record is dated in the closed books and cannot go now (recorded with the
        sentence, tried again every run). ``first_open_date`` moves a create or update."""
        ctx = self.ctx
        company = ctx.settings.company
        closed = company.book_close_date if company is not None else None
        if closed is None or dated > closed:
            return False
        if ctx.settings.closed_period == "first_open_date" and kind in ("create", "update"):
            return False
        ctx.fail(self.entity, "to_qbo", kind, work_id,
                 closed_books_sentence(label, dated, closed, kind, movable=kind in ("create", "update")),
                 field="closed_period", pending=True)
        return True

    def moved(self, dated: date) -> tuple[date | None, str]:
        company = self.ctx.settings.company
        return first_open_date(dated, company.book_close_date if company is not None else None,
                               self.ctx.settings.closed_period)

    def closed_refusal(self, label: str, action: str, work_id: int, *, dated: date | None,
                       qbo_id: str | None = None, refused_key: str | None = None) -> None:
        closed = self.closed_now = self.closed_now or refused_closing_date(self.ctx.client)
        self.ctx.fail(self.entity, "to_qbo", action, work_id,
                      closed_books_sentence(label, dated, closed, action, movable=action in ("create", "update"),
                                            refused=True),
                      qbo_id=qbo_id, field="closed_period", pending=True, refused_key=refused_key)

    # ------------------------------------------------------------------ answers
    def label_of(self, work_id: int, payload: Mapping[str, Any]) -> str:
        return f"{self.entity.replace('_', ' ')} {work_id}"

    def result(self, op: BatchOp, res: BatchResult) -> None:
        """Record QBO's answer to one create (inside the recording transaction, if any)."""
        ctx = self.ctx
        _, work_id, version, _ = split_key(op.key)
        label = self.label_of(work_id, op.payload)
        if not res.ok:
            assert res.error is not None
            if isinstance(res.error, ClosedPeriod):
                self.closed_refusal(label, "create", work_id, dated=_txn_date(op.payload), refused_key=op.key)
                return
            text, element = ctx.error_text(res.error, label)
            ctx.fail(self.entity, "to_qbo", "create", work_id, text, field=element, pending=res.error.retryable,
                     refused_key=op.key)
            return
        qbo = as_dict(res.obj)
        with ctx.begin() as conn:
            ctx.state.save_link(conn, self.entity, work_id, str(qbo["Id"]), sync_token=str(qbo.get("SyncToken", "0")),
                                work_version=version, fingerprint=fingerprint(op.payload))
            verb = "found (sent earlier, answer lost) and linked" if op.key in ctx.adopted else "created"
            ctx.note(conn, entity=self.entity, direction="to_qbo", action="create", outcome="ok", work_id=work_id,
                     qbo_id=str(qbo["Id"]), message=f"{verb} {label}: {self.qbo_entity} {qbo['Id']} for "
                                                    f"{amount(self.shown_amount(op.payload, qbo))}")
            ctx.clear_pending(conn, self.entity, work_id)
            self.tie_out(conn, work_id, str(qbo["Id"]), "create", label, self.expected_tax.get(op.key), qbo)

    @staticmethod
    def shown_amount(payload: Mapping[str, Any], qbo: Mapping[str, Any]) -> Any:
        return qbo.get("TotalAmt")

    def tie_out(self, conn: Any, work_id: int, qbo_id: str, action: str, label: str, expected: Decimal | None,
                qbo: Mapping[str, Any]) -> None:
        """WORK's tax against the tax QuickBooks recorded: a difference is a failure naming both."""
        if expected is None:
            return
        text = tax_difference(expected, qbo, label=label)
        if text is not None:
            self.ctx.note(conn, entity=self.entity, direction="to_qbo", action=action, outcome="failed",
                          work_id=work_id, qbo_id=qbo_id, field="tax_amount", message=text)

    # ------------------------------------------------------------------ finding its own
    def find_by_customer_and_date(self, ops: Sequence[BatchOp]) -> dict[str, dict[str, Any]]:
        """The records these creates made, if QBO has them: by customer and date, with the mark."""
        ctx = self.ctx
        customers = sorted({str((op.payload.get("CustomerRef") or {}).get("value", "")) for op in ops} - {""})
        dates = sorted({str(op.payload.get("TxnDate", "")) for op in ops} - {""})
        if not customers or not dates:
            return {}
        rows: list[dict[str, Any]] = []
        for start in range(0, len(customers), 30):
            rows += ctx.query(select(self.qbo_entity).where("CustomerRef", "IN", customers[start:start + 30])
                              .where("TxnDate", "IN", dates))
        return self._mine(ops, rows)

    def _mine(self, ops: Sequence[BatchOp], rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        mine: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            owner = marker_owner(row.get("PrivateNote"), self.entity)
            if owner is not None:
                mine.setdefault(owner, []).append(row)
        out: dict[str, dict[str, Any]] = {}
        for op in ops:
            found = mine.get(split_key(op.key)[1])
            if found:
                out[op.key] = min(found, key=lambda r: int(r["Id"]))
        return out

    # ------------------------------------------------------------------ updates and deletions
    def park_gone(self, work_id: int, link: Link, action: str, label: str) -> None:
        ctx = self.ctx
        with ctx.begin() as conn:
            ctx.state.save_link(conn, self.entity, work_id, link.qbo_id, sync_token=link.sync_token,
                                work_version=link.work_version, fingerprint=link.fingerprint, state="gone")
            ctx.note(conn, entity=self.entity, direction="to_qbo", action=action, outcome="failed", work_id=work_id,
                     qbo_id=link.qbo_id, field="qbo_id",
                     message=f"{label}: QuickBooks {self.qbo_entity} {link.qbo_id} was deleted there (not by the "
                             "sync) or now holds another record, so this change was not sent; the sync leaves it "
                             "alone (retry it to create it again)")

    def _current(self, work_id: int, link: Link, action: str, label: str) -> dict[str, Any] | None:
        """The QBO record under ``link`` when it is still this record's (else parked, None)."""
        try:
            current = self.ctx.read(self.qbo_entity, link.qbo_id)
        except ObjectNotFound:
            self.park_gone(work_id, link, action, label)
            return None
        owner = marker_owner(current.get("PrivateNote"), self.entity)
        if owner is not None and owner != work_id:
            self.park_gone(work_id, link, action, label)
            return None
        return current

    def update(self, record: Any, dated: date, link: Link, payload: Mapping[str, Any], label: str,
               expected_tax: Decimal | None) -> None:
        ctx = self.ctx
        fp = fingerprint(payload)
        if fp == link.fingerprint:
            if not ctx.dry_run and link.work_version != record.version:
                with ctx.begin() as conn:
                    ctx.state.save_link(conn, self.entity, record.id, link.qbo_id, sync_token=link.sync_token,
                                        work_version=record.version, fingerprint=fp)
            ctx.note(None, entity=self.entity, direction="to_qbo", action="skip", outcome="skipped",
                     work_id=record.id, qbo_id=link.qbo_id, message=f"{label}: nothing QuickBooks holds changed")
            return
        if ctx.dry_run:
            ctx.note(None, entity=self.entity, direction="to_qbo", action="update", outcome="ok", work_id=record.id,
                     qbo_id=link.qbo_id, message=f"update {label}")
            return
        current = self._current(record.id, link, "update", label)
        if current is None:
            return
        token = str(current["SyncToken"])
        key = record_key(self.entity, record.id, record.version, f"update@{token}")
        try:
            qbo = as_dict(ctx.client.sparse_update(self.qbo_entity, link.qbo_id, token, dict(payload),
                                                   request_id=ctx.request_id(key), record=label))
        except ClosedPeriod:
            self.closed_refusal(label, "update", record.id, dated=dated, qbo_id=link.qbo_id, refused_key=key)
            return
        except QboError as err:
            text, element = ctx.error_text(err, label)
            ctx.fail(self.entity, "to_qbo", "update", record.id, text, qbo_id=link.qbo_id, field=element,
                     pending=err.retryable, refused_key=key)
            return
        with ctx.begin() as conn:
            ctx.state.save_link(conn, self.entity, record.id, link.qbo_id, sync_token=str(qbo.get("SyncToken")),
                                work_version=record.version, fingerprint=fp)
            ctx.note(conn, entity=self.entity, direction="to_qbo", action="update", outcome="ok", work_id=record.id,
                     qbo_id=link.qbo_id, message=f"updated {label}: {self.qbo_entity} {link.qbo_id}")
            ctx.clear_pending(conn, self.entity, record.id)
            self.tie_out(conn, record.id, link.qbo_id, "update", label, expected_tax, qbo)

    def delete(self, record: Any, dated: date, link: Link, *, reason: str, label: str) -> None:
        """Delete the record's QBO object (already gone is what was wanted)."""
        ctx = self.ctx
        if ctx.dry_run:
            ctx.note(None, entity=self.entity, direction="to_qbo", action="delete", outcome="ok", work_id=record.id,
                     qbo_id=link.qbo_id, message=f"delete {label}")
            return
        key = record_key(self.entity, record.id, record.version, "delete")
        try:
            current = ctx.read(self.qbo_entity, link.qbo_id)
            owner = marker_owner(current.get("PrivateNote"), self.entity)
            if owner is not None and owner != record.id:  # the Id holds another record now: never delete it
                self.park_gone(record.id, link, "delete", label)
                return
            ctx.client.delete(self.qbo_entity, link.qbo_id, str(current["SyncToken"]), request_id=ctx.request_id(key),
                              record=label)
        except ClosedPeriod:
            self.closed_refusal(label, "delete", record.id, dated=dated, qbo_id=link.qbo_id, refused_key=key)
            return
        except QboError as err:
            if err.code != "610":  # already gone is what we wanted
                text, element = ctx.error_text(err, label)
                ctx.fail(self.entity, "to_qbo", "delete", record.id, text, qbo_id=link.qbo_id, field=element,
                         pending=err.retryable, refused_key=key)
                return
        with ctx.begin() as conn:
            ctx.state.save_link(conn, self.entity, record.id, link.qbo_id, sync_token=link.sync_token,
                                work_version=record.version, fingerprint=link.fingerprint, state="deleted")
            ctx.note(conn, entity=self.entity, direction="to_qbo", action="delete", outcome="ok", work_id=record.id,
                     qbo_id=link.qbo_id, message=f"deleted {label} in QuickBooks: {reason}")
            ctx.clear_pending(conn, self.entity, record.id)

    def skip_or_fail(self, record_id: int, action: Action) -> bool:
        """Record a skip or a failure; True when ``action`` was one of them."""
        ctx = self.ctx
        if action.kind == "skip":
            ctx.note(None, entity=self.entity, direction="to_qbo", action="skip", outcome="skipped",
                     work_id=record_id, message=action.reason)
            return True
        if action.kind == "fail":
            verb = "update" if action.qbo_id else "create"
            ctx.fail(self.entity, "to_qbo", verb, record_id, action.reason, field=action.field,
                     blocked_by=action.fields.get("blocked_by"))
            return True
        return False


# ============================================================================== credit notes and refunds
class _DocumentStage(_Stage):
    """Credit notes and refunds: one customer, one item line, tax, WORK -> QBO."""

    dependency = "customer"

    def __init__(self, ctx: Any, sender: Any) -> None:
        super().__init__(ctx, sender)
        self.item_ids: Mapping[int | None, str] = {}
        self.held_items: Mapping[int | None, str] = {}
        self.newly_held: dict[str, set[int]] = {}
        self.taken: list[BatchOp] = []

    def handle(self, op: BatchOp, res: BatchResult) -> None:
        self.result(op, res)

    def run(self, initial: bool, item_ids: Mapping[int | None, str],
            held_items: Mapping[int | None, str] | None = None, applied: _Stage | None = None) -> None:
        ctx = self.ctx
        settings = ctx.settings
        assert settings.integration_date is not None
        self.item_ids, self.held_items, self.applied = item_ids, dict(held_items or {}), applied
        # records that wait for an existing_items choice (like invoices: no retry queue, said once) go
        # again once their item is no longer held
        waiting: dict[str, list[int]] = ctx.state.get_value(f"held:{self.entity}", {})
        released = {int(w) for key, ids in waiting.items() if _item_key(key) not in self.held_items for w in ids}
        candidates = self.candidates(initial)
        if released:
            known = {doc.id for doc in candidates}
            extra = [doc for doc in (self.get(w) for w in sorted(released - known)) if doc is not None]
            candidates = sorted([*candidates, *extra], key=lambda doc: doc.id)
        customers = ctx.links("customer", ctx.wanted((d.client_id for d in candidates), initial, PARTIAL_LINKS))
        links = ctx.state.links(self.entity, work_ids=ctx.wanted((d.id for d in candidates), initial, PARTIAL_LINKS))
        dismissed = ctx.state.dismissed(self.entity) if candidates else set()
        inactive = ctx.store.inactive_client_ids() if candidates else set()
        self.prepare(candidates)
        creates = self.sender.stream(self.handle)
        try:
            for doc in candidates:
                if doc.id in dismissed or (self.entity, doc.id) in ctx.acted:
                    continue
                ctx.check()
                action = plan_document(self.entity, doc, links.get(doc.id), customers.get(doc.client_id),
                                       integration_date=settings.integration_date, today=ctx.today,
                                       client_active=doc.client_id not in inactive)
                ctx.actions.append(action)
                self._act(doc, action, links, customers, creates)
        finally:
            creates.finish()
        if self.taken:
            self.resolve_taken(self.taken)
        if not ctx.dry_run and (waiting or self.newly_held):
            kept = {key: ids for key, ids in waiting.items() if _item_key(key) in self.held_items}
            for key, ids in self.newly_held.items():
                kept[key] = sorted(set(kept.get(key, [])) | ids)
            with ctx.begin() as conn:
                ctx.state.set_value(conn, f"held:{self.entity}", kept)

    def prepare(self, candidates: Sequence[Document]) -> None:
        """Read what the records to send need from the company, once (refunds: payment methods)."""

    def _act(self, doc: Any, action: Action, links: Mapping[int, Link], customers: Mapping[int, Link],
             creates: Any) -> None:
        ctx = self.ctx
        label = _label(self.entity, doc)
        if self.skip_or_fail(doc.id, action):
            return
        if action.kind == "delete":
            if not ctx.dry_run:
                self.before_delete(doc)
            self.delete(doc, doc.date, links[doc.id], reason="deleted in WORK", label=label)
            return
        item = self.item_ids.get(doc.item_id)
        held = self.held_items.get(doc.item_id)
        if held is not None:  # a person's choice, not a retry queue: said once, sent once chosen
            ctx.fail(self.entity, "to_qbo", action.kind, doc.id, f"{label}: {held}", field="existing_items")
            key = f"item:{doc.item_id if doc.item_id is not None else 'default'}"
            self.newly_held.setdefault(key, set()).add(doc.id)
            return
        if item is None:
            ctx.fail(self.entity, "to_qbo", action.kind, doc.id,
                     f"{label}: its item {doc.item_id if doc.item_id is not None else '(the default item)'} is not "
                     "in QuickBooks (see the items' entries); it will be tried again", field="item_id", pending=True)
            return
        problems = [*self.validate(doc), *self.tax(doc).problems]
        if problems:
            tax_only = all(p.field == "tax_rate" or p.field.endswith(".tax_rate") for p in problems)
            for p in problems:
                ctx.fail(self.entity, "to_qbo", action.kind, doc.id, p.message, field=p.field, pending=tax_only)
            return
        if self.waits(label, doc.id, doc.date, action.kind):
            return
        customer = customers[doc.client_id]
        moved, memo = self.moved(doc.date)
        payload = self.payload(doc, customer.qbo_id, item, moved, memo)
        if ctx.dry_run:
            if action.kind == "create":
                ctx.assume(self.entity, doc.id)
            ctx.note(None, entity=self.entity, direction="to_qbo", action=action.kind, outcome="ok", work_id=doc.id,
                     message=f"{action.kind} {label} of {doc.total}")
            return
        if action.kind == "create":
            key = record_key(self.entity, doc.id, doc.version, "create")
            self.expected_tax[key] = doc.tax_amount
            creates.append(BatchOp("create", self.qbo_entity, payload, key))
        else:
            self.update(doc, doc.date, links[doc.id], payload, label, doc.tax_amount)

    # hooks
    def validate(self, doc: Any) -> list[Any]:
        raise NotImplementedError

    def tax(self, doc: Any) -> Any:
        raise NotImplementedError

    def payload(self, doc: Any, customer_id: str, item_id: str, moved: date | None, memo: str) -> dict[str, Any]:
        raise NotImplementedError

    def before_delete(self, doc: Any) -> None:
        """What must go from QuickBooks before the record can (a credit note's applications)."""

    def resolve_taken(self, taken: Sequence[BatchOp]) -> None:
        """Creates QBO refused because their number is taken (credit notes only)."""


class CreditNoteStage(_DocumentStage):
    entity, qbo_entity = "credit_note", "CreditMemo"

    def changed(self, after: int) -> list[CreditNote]:
        return self.ctx.store.changed_credit_notes(after)

    def get(self, work_id: int) -> CreditNote | None:
        return self.ctx.store.get_credit_note(work_id)

    def label_of(self, work_id: int, payload: Mapping[str, Any]) -> str:
        return f"credit note {payload.get('DocNumber') or work_id}"

    def handle(self, op: BatchOp, res: BatchResult) -> None:
        if not res.ok and isinstance(res.error, DuplicateDocNumber):
            self.taken.append(op)  # ours (an earlier answer was lost) or someone else's: looked up after
            return
        self.result(op, res)

    def validate(self, doc: Any) -> list[Any]:
        return cmap.validate_credit_note(doc)

    def tax(self, doc: Any) -> Any:
        return cmap.credit_note_tax(doc, self.ctx.settings)

    def payload(self, doc: Any, customer_id: str, item_id: str, moved: date | None, memo: str) -> dict[str, Any]:
        return cmap.credit_memo_to_qbo(doc, customer_id=customer_id, item_id=item_id, settings=self.ctx.settings,
                                       txn_date=moved, memo=memo)

    def before_delete(self, doc: Any) -> None:
        """The Payments applying this credit memo go first (QuickBooks refuses to delete a used one)."""
        applied = getattr(self, "applied", None)
        if applied is None:
            return
        apps = self.ctx.store.credit_applications(credit_note_id=doc.id, include_deleted=True)
        app_links = self.ctx.state.links("credit_applied", work_ids=[a.id for a in apps]) if apps else {}
        for app in apps:
            link = app_links.get(app.id)
            if link is not None and link.state == "active":
                applied.delete(app, app.date, link, reason=f"credit note {doc.number} was deleted in WORK",
                               label=_label("credit_applied", app))
                self.ctx.acted.add(("credit_applied", app.id))

    # ------------------------------------------------------------------ finding its own
    def find(self, ops: Sequence[BatchOp]) -> dict[str, dict[str, Any]]:
        return numbers.lookup(self.ctx, numbers.CREDIT_NOTES, ops)[0]

    def resolve_taken(self, taken: Sequence[BatchOp]) -> None:
        """Adopt the credit memo that carries the record's mark; else stop the record with a sentence
        naming the credit memo that holds the number."""
        self.taken = []
        numbers.resolve(self.ctx, numbers.CREDIT_NOTES, taken, self.result, amount)


class RefundStage(_DocumentStage):
    entity, qbo_entity = "refund", "RefundReceipt"

    def __init__(self, ctx: Any, sender: Any) -> None:
        super().__init__(ctx, sender)
        self.method_ids: dict[str, str] = {}

    def changed(self, after: int) -> list[Refund]:
        return self.ctx.store.changed_refunds(after)

    def get(self, work_id: int) -> Refund | None:
        return self.ctx.store.get_refund(work_id)

    def prepare(self, candidates: Sequence[Document]) -> None:
        ctx = self.ctx
        methods = {str(getattr(d, "method", "") or "").strip() for d in candidates if not d.deleted} - {""}
        if methods:  # the company's payment methods are read once, and only when a refund has one
            resolver = NameResolver(ctx.client, "PaymentMethod", "payment method", "payment_methods",
                                    ctx.settings.payment_methods)
            self.method_ids, missing = resolver.resolve(methods)
            for name, why in sorted(missing.items()):
                ctx.notices.append(f"payment method {name!r}: {why}; refunds with it go without a "
                                   "PaymentMethodRef (the method is in their memo)")

    def validate(self, doc: Any) -> list[Any]:
        return cmap.validate_refund(doc)

    def tax(self, doc: Any) -> Any:
        return cmap.refund_tax(doc, self.ctx.settings)

    def payload(self, doc: Any, customer_id: str, item_id: str, moved: date | None, memo: str) -> dict[str, Any]:
        return cmap.refund_to_qbo(doc, customer_id=customer_id, item_id=item_id,
                                  account_id=str(self.ctx.settings.refund_account), settings=self.ctx.settings,
                                  method_id=self.method_ids.get(str(doc.method or "").strip()), txn_date=moved,
                                  memo=memo)

    def find(self, ops: Sequence[BatchOp]) -> dict[str, dict[str, Any]]:
        return self.find_by_customer_and_date(ops)


# ============================================================================== credit applications
class CreditAppliedStage(_Stage):
    entity, qbo_entity, dependency = "credit_applied", "Payment", "credit_note"

    def changed(self, after: int) -> list[CreditApplication]:
        return self.ctx.store.changed_credit_applications(after)

    def get(self, work_id: int) -> CreditApplication | None:
        return self.ctx.store.get_credit_application(work_id)

    def candidates(self, initial: bool) -> list[CreditApplication]:
        """As :meth:`RecordStage.candidates`, and those that waited for their invoice, now in QBO."""
        found = {app.id: app for app in super().candidates(initial)}
        for work_id in sorted(self.ctx.unblocked_records(self.entity, "invoice") - set(found)):
            app = self.get(work_id)
            if app is not None:
                found[app.id] = app
        return [found[k] for k in sorted(found)]

    @staticmethod
    def shown_amount(payload: Mapping[str, Any], qbo: Mapping[str, Any]) -> Any:
        lines = payload.get("Line") or []
        return lines[0].get("Amount") if lines else 0

    def label_of(self, work_id: int, payload: Mapping[str, Any]) -> str:
        return f"credit application {work_id}"

    def find(self, ops: Sequence[BatchOp]) -> dict[str, dict[str, Any]]:
        return self.find_by_customer_and_date(ops)

    def free_first(self, initial: bool) -> None:
        """Before the invoices and payments stages: delete the Payments of applications removed in
        WORK (an invoice voided or deleted in WORK must not be linked any more when it is) and lower
        those WORK lowered (read from QuickBooks: what was sent), so the balance they free is there for
        this run's payments. Everything else about applications waits for the credit notes."""
        ctx = self.ctx
        if ctx.dry_run:
            return
        candidates = self.candidates(initial)
        links = ctx.state.links(self.entity, work_ids=[app.id for app in candidates]) if candidates else {}
        early: list[CreditApplication] = []
        for app in candidates:
            link = links.get(app.id)
            if link is None or link.state != "active" or (self.entity, app.id) in ctx.acted:
                continue
            if app.deleted:
                early.append(app)
            elif link.work_version != app.version and app.amount < self._sent_amount(link):
                early.append(app)
        if early:
            self._run(early, initial=False, early=True)

    def _sent_amount(self, link: Link) -> Decimal:
        """The amount the QBO Payment under ``link`` applies to its invoice now (0 when unreadable)."""
        try:
            doc = self.ctx.read("Payment", link.qbo_id)
        except QboError:
            return Decimal("0.00")
        for line in doc.get("Line") or []:
            if any(t.get("TxnType") == "Invoice" for t in line.get("LinkedTxn") or []):
                return Decimal(str(line.get("Amount") or 0))
        return Decimal("0.00")

    def run(self, initial: bool) -> None:
        self._run(self.candidates(initial), initial)

    def _run(self, candidates: Sequence[CreditApplication], initial: bool, *, early: bool = False) -> None:
        """Plan and act on ``candidates``; ``early`` (before the invoices stage) acts only on deletions
        and updates, leaving the rest to the stage's own turn."""
        ctx = self.ctx
        settings = ctx.settings
        assert settings.integration_date is not None
        notes: dict[int, CreditNote | None] = {}
        for note_id in sorted({app.credit_note_id for app in candidates}):
            notes[note_id] = ctx.store.get_credit_note(note_id)
        invoices: dict[int, Invoice] = ctx.store.invoices_by_id({app.invoice_id for app in candidates})
        invoice_links = ctx.links("invoice", ctx.wanted(invoices, initial, PARTIAL_LINKS))
        note_links = ctx.links("credit_note", ctx.wanted(notes, initial, PARTIAL_LINKS))
        customer_links = ctx.links("customer", ctx.wanted((inv.client_id for inv in invoices.values()), initial,
                                                          PARTIAL_LINKS))
        links = ctx.state.links(self.entity, work_ids=ctx.wanted((a.id for a in candidates), initial, PARTIAL_LINKS))
        dismissed = ctx.state.dismissed(self.entity) if candidates else set()
        creates = self.sender.stream(self.result)
        try:
            for app in candidates:
                if app.id in dismissed or (self.entity, app.id) in ctx.acted:
                    continue
                ctx.check()
                note, inv = notes.get(app.credit_note_id), invoices.get(app.invoice_id)
                action = plan_credit_applied(app, links.get(app.id), note, note_links.get(app.credit_note_id), inv,
                                             invoice_links.get(app.invoice_id),
                                             integration_date=settings.integration_date, today=ctx.today)
                if early and action.kind not in ("delete", "update"):
                    continue  # planned again in the stage's own turn
                ctx.actions.append(action)
                self._act(app, note, inv, action, links, note_links, invoice_links, customer_links, creates)
                if early:
                    ctx.acted.add((self.entity, app.id))
        finally:
            creates.finish()

    def _act(self, app: CreditApplication, note: CreditNote | None, inv: Invoice | None, action: Action,
             links: Mapping[int, Link], note_links: Mapping[int, Link], invoice_links: Mapping[int, Link],
             customer_links: Mapping[int, Link], creates: Any) -> None:
        ctx = self.ctx
        if self.skip_or_fail(app.id, action):
            return
        label = _label(self.entity, app)
        if action.kind == "delete":
            self.delete(app, app.date, links[app.id], reason="removed in WORK", label=label)
            return
        assert note is not None and inv is not None
        label = f"credit application {app.id} (credit note {note.number} on invoice {inv.number})"
        customer = customer_links.get(inv.client_id)
        if customer is None:
            ctx.fail(self.entity, "to_qbo", action.kind, app.id, f"{label}: the invoice's client is not in QuickBooks",
                     field="invoice_id", blocked_by=f"invoice:{inv.id}")
            return
        if self.waits(label, app.id, app.date, action.kind):
            return
        moved, memo = self.moved(app.date)
        payload = cmap.credit_payment_to_qbo(app, customer_id=customer.qbo_id,
                                             invoice_qbo_id=invoice_links[app.invoice_id].qbo_id,
                                             memo_qbo_id=note_links[app.credit_note_id].qbo_id, txn_date=moved,
                                             memo=memo)
        if ctx.dry_run:
            ctx.note(None, entity=self.entity, direction="to_qbo", action=action.kind, outcome="ok", work_id=app.id,
                     message=f"{action.kind} {label} of {app.amount}")
            return
        if action.kind == "create":
            creates.append(BatchOp("create", "Payment", payload, record_key(self.entity, app.id, app.version,
                                                                            "create")))
        else:
            self.update(app, app.date, links[app.id], payload, label, None)
