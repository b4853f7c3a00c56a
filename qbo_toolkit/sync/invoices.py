"""Invoices, WORK to QBO from the integration date: the pure planner and the stage.

:func:`plan_invoice` is pure (an invoice, its link, its client's link in; one action out).
:class:`InvoiceStage` creates (streamed through the :class:`~.sender.Sender`), updates with the
current SyncToken (on a stale token: re-read, retry once, else a conflict), voids and deletes
(after removing the payments QBO holds for them).

Finding its own. Every invoice the toolkit creates carries its WORK number as ``DocNumber`` and the
toolkit's mark in ``PrivateNote`` (:mod:`qbo_toolkit.mapping.markers`). When QBO refuses a create
with 6140 (the number is taken), or a stopped run left the create unanswered, the stage looks the
number up: an invoice with its own mark is adopted (linked) instead of being created again; one
without it belongs to someone else and the record stops with a sentence naming both. An update
answered 610 (the invoice was deleted in QBO meanwhile) parks the link as ``gone``; a re-read that
shows the Id now holds another invoice parks it too: neither is written over.

The company (``ctx.settings.company``, from the run's check). Tax goes as the company takes it
(:mod:`qbo_toolkit.mapping.tax`); an invoice whose WORK tax rate no tax code maps waits with a
sentence naming the invoice, line and rate. Its term goes as ``SalesTermRef`` (the settings' mapping
or the same name; a term QuickBooks does not have makes the invoice wait). After a write the tax
QuickBooks recorded is tied to WORK's: a difference is reported as a failure naming both amounts
(the invoice is in QuickBooks; the difference is for a person to resolve). Closed books: an invoice
dated on or before the company's BookCloseDate is not sent (:func:`~.preflight.closed_books_sentence`:
it waits, or with ``closed_period: first_open_date`` goes on the day after with a memo); a
closed-period refusal from QuickBooks (books closed after the check) becomes the same waiting
sentence, never a retry loop within the run; a later run sends it once the period is open.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from ..errors import ClosedPeriod, DuplicateDocNumber, ObjectNotFound, QboError, StaleObject
from ..mapping import invoices as imap
from ..mapping.invoices import invoice_date_problems
from ..mapping.markers import marker_owner
from ..mapping.tax import tax_difference
from ..qbo.client import BatchOp, BatchResult
from ..work.models import Invoice
from . import numbers
from .action import Action
from .context import PARTIAL_LINKS, RecordStage, as_dict
from .keys import record_key, split_key
from .preflight import NameResolver, closed_books_sentence, first_open_date, refused_closing_date
from .sender import Sender
from .state import Link

__all__ = ["InvoiceStage", "fingerprint", "plan_invoice"]

def fingerprint(payload: Mapping[str, Any]) -> str:
    """The hash of a payload as sent (kept in the id map: an update is sent only when it changed).
    Not :func:`qbo_toolkit.mapping.fingerprint`, which hashes compared values under a version tag:
    the links already stored hold this one."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def amount(value: Any) -> str:
    """Money as the activity log shows it: two decimals (QBO prints 79.2 for 79.20)."""
    try:
        return f"{Decimal(str(value)):.2f}"
    except (ArithmeticError, ValueError):
        return str(value)


def _txn_date(payload: Mapping[str, Any]) -> date | None:
    try:
        return date.fromisoformat(str(payload.get("TxnDate") or "")[:10])
    except ValueError:
        return None


def _item_key(key: str) -> int | None:
    """The WORK item id of a ``held:invoice`` key (``item:7``; ``item:default`` is None)."""
    value = key.partition(":")[2]
    return None if value == "default" else int(value)


# ============================================================================== the pure planner
def plan_invoice(inv: Invoice, link: Link | None, customer: Link | None, *, integration_date: date, today: date,
                 client_active: bool = True) -> Action:
    """What to do with one WORK invoice (WORK -> QBO only).

    An implausible date (before 1900, more than 366 days after ``today``) fails before the
    integration date is looked at, so an 1850 typo is reported rather than skipped. An invoice
    whose client is inactive in WORK (``client_active``) fails on ``client_id``: QBO refuses
    invoices for inactive customers; it goes once the client is active again and the invoice is
    retried or changed.
    """

    def act(kind: str, reason: str = "", field_name: str | None = None) -> Action:
        return Action(kind, "invoice", "to_qbo", inv.id, link.qbo_id if link else None, {}, reason, field_name)

    if link is not None and link.state == "deleted":
        return act("skip", f"invoice {inv.number} was deleted in QuickBooks by an earlier run")
    if link is not None and link.state == "gone":
        return act("skip", f"invoice {inv.number}: its QuickBooks invoice was deleted there (not by the sync) or now "
                           "holds another invoice; it is not sent again (retry the invoice to create it anew)")
    if inv.deleted:
        return act("delete", f"invoice {inv.number} was deleted in WORK") if link else act(
            "skip", f"invoice {inv.number} was deleted in WORK before it was sent")
    if inv.status == "void":
        if link is None:
            return act("skip", f"invoice {inv.number} is void in WORK and was never sent")
        return act("skip", f"invoice {inv.number} is already void in QuickBooks") if link.state == "voided" else act(
            "void", f"invoice {inv.number} was voided in WORK")
    if link is not None and link.state == "voided":
        return act("skip", f"invoice {inv.number} is void in QuickBooks; a voided invoice cannot change")
    if inv.status == "draft":
        return act("skip", f"invoice {inv.number} is a draft")
    dates = invoice_date_problems(inv, today=today) if link is None or link.work_version != inv.version else []
    if dates:
        return Action("fail", "invoice", "to_qbo", inv.id, link.qbo_id if link else None, {"problems": dates},
                      f"invoice {inv.number}: {dates[0].message}", dates[0].field)
    if link is None and inv.issue_date < integration_date:
        return act("skip", f"invoice {inv.number} is dated {inv.issue_date}, before the integration date "
                           f"{integration_date}: not expected in QuickBooks")
    if customer is None:  # waits for its client: sent once the client is in QBO
        return Action("fail", "invoice", "to_qbo", inv.id, link.qbo_id if link else None,
                      {"blocked_by": f"customer:{inv.client_id}"},
                      f"invoice {inv.number}: its client {inv.client_id} is not in QuickBooks yet (it will be sent "
                      "once the client is)", "client_id")
    if link is not None and link.work_version == inv.version:
        return act("skip", "unchanged")
    if not client_active:
        return act("fail", f"invoice {inv.number}: its client {inv.client_id} is inactive in WORK, and QuickBooks "
                           "refuses invoices for inactive customers; make the client active again, then retry the "
                           "invoice", "client_id")
    if link is None:
        return act("create", f"new invoice {inv.number}")
    return act("update", f"invoice {inv.number} changed in WORK")



# ============================================================================== the stage
class InvoiceStage(RecordStage):
    entity, dependency = "invoice", "customer"
    sender: Sender

    def __init__(self, ctx: Any, sender: Any) -> None:
        super().__init__(ctx, sender)
        self.expected_tax: dict[str, Decimal] = {}  # record key -> WORK's tax (tied out to QBO's answer)
        self.term_ids: dict[str, str] = {}
        self.term_problems: dict[str, str] = {}
        self.closed_now: date | None = None  # the closing date read after a closed-period refusal

    def changed(self, after: int) -> list[Invoice]:
        return self.ctx.store.changed_invoices(after)

    def get(self, work_id: int) -> Invoice | None:
        return self.ctx.store.get_invoice(work_id)

    def run(self, initial: bool, item_ids: dict[int | None, str], payments: Any,
            held_items: Mapping[int | None, str] | None = None) -> None:
        """Plan and act on every invoice in play; ``payments`` is the payment stage (an invoice
        voided or deleted in WORK first loses the payments QBO holds for it). ``held_items``: the
        WORK items (None: the default item) whose QBO item posts to another account than the
        chosen one while ``existing_items`` is ``ask`` (:mod:`.items`), each with its sentence: an
        invoice using one waits (failed on ``existing_items`` with that sentence: a person's choice,
        not a retry queue), kept in ``held:invoice``; once its item is no longer held (the setting
        chosen), the next run sends it."""
        ctx = self.ctx
        self.held_items = dict(held_items or {})
        self.newly_held: dict[str, set[int]] = {}
        self.terms = NameResolver(ctx.client, "Term", "term", "terms", ctx.settings.terms)
        settings = ctx.settings
        assert settings.integration_date is not None
        waiting: dict[str, list[int]] = ctx.state.get_value("held:invoice", {})
        released = {int(w) for key, ids in waiting.items() if _item_key(key) not in self.held_items for w in ids}
        candidates = self.candidates(initial)
        if released:
            known = {inv.id for inv in candidates}
            extra = [inv for inv in (self.get(w) for w in sorted(released - known)) if inv is not None]
            candidates = sorted([*candidates, *extra], key=lambda inv: inv.id)
        customers = ctx.links("customer", ctx.wanted((inv.client_id for inv in candidates), initial, PARTIAL_LINKS))
        links = ctx.state.links("invoice", work_ids=ctx.wanted((inv.id for inv in candidates), initial, PARTIAL_LINKS))
        dismissed = ctx.state.dismissed("invoice") if candidates else set()
        taken: list[BatchOp] = []

        def handle(op: BatchOp, res: BatchResult) -> None:
            if not res.ok and isinstance(res.error, DuplicateDocNumber):
                taken.append(op)  # ours (an earlier answer was lost) or someone else's: looked up once recorded
                return
            self.result(op, res)

        creates = self.sender.stream(handle)  # sent while the rest is planned
        inactive = ctx.store.inactive_client_ids() if candidates else set()
        used_terms = {str(getattr(inv, "terms", "") or "").strip() for inv in candidates} - {""}
        if used_terms:  # the company's terms are read once, and only when an invoice has one
            self.term_ids, self.term_problems = self.terms.resolve(used_terms)
        try:
            for inv in candidates:
                if inv.id in dismissed:
                    continue
                ctx.check()
                action = plan_invoice(inv, links.get(inv.id), customers.get(inv.client_id),
                                      integration_date=settings.integration_date, today=ctx.today,
                                      client_active=inv.client_id not in inactive)
                ctx.actions.append(action)
                self._act(inv, action, links, customers, item_ids, creates, payments)
        finally:
            creates.finish()
        if taken:
            self.resolve_taken(taken)
        if not ctx.dry_run and (waiting or self.newly_held):
            kept = {key: ids for key, ids in waiting.items() if _item_key(key) in self.held_items}
            for key, ids in self.newly_held.items():
                kept[key] = sorted(set(kept.get(key, [])) | ids)
            with ctx.begin() as conn:
                ctx.state.set_value(conn, "held:invoice", kept)

    def _act(self, inv: Invoice, action: Action, links: Mapping[int, Link], customers: Mapping[int, Link],
             item_ids: dict[int | None, str], creates: Any, payments: Any) -> None:
        ctx = self.ctx
        if action.kind == "skip":
            ctx.note(None, entity="invoice", direction="to_qbo", action="skip", outcome="skipped",
                     work_id=inv.id, message=action.reason)
            return
        if action.kind == "fail":
            verb = "update" if inv.id in links else "create"
            for p in action.fields.get("problems", ()):
                ctx.fail("invoice", "to_qbo", verb, inv.id, f"invoice {inv.number}: {p.message}", field=p.field)
            if not action.fields.get("problems"):
                ctx.fail("invoice", "to_qbo", verb, inv.id, action.reason, field=action.field,
                         blocked_by=action.fields.get("blocked_by"))
            return
        held = self._held(inv) if action.kind in ("create", "update") else None
        if held is not None:
            key, text = held
            ctx.fail("invoice", "to_qbo", action.kind, inv.id, f"invoice {inv.number}: {text}",
                     field="existing_items")
            self.newly_held.setdefault(key, set()).add(inv.id)
            return
        problems = imap.validate_invoice(inv) if action.kind in ("create", "update") else []
        if problems:
            for p in problems:
                ctx.fail("invoice", "to_qbo", action.kind, inv.id, f"invoice {inv.number}: {p.message}",
                         field=p.field)
            return
        if self._waits(inv, action.kind):
            return
        customer_link = customers[inv.client_id] if inv.client_id in customers else None
        if action.kind == "create":
            assert customer_link is not None
            payload = self.payload(inv, customer_link.qbo_id, item_ids)
            self.expected_tax[record_key("invoice", inv.id, inv.version, "create")] = inv.tax_amount
            if ctx.dry_run:
                ctx.assume("invoice", inv.id)
                ctx.note(None, entity="invoice", direction="to_qbo", action="create", outcome="ok",
                         work_id=inv.id, message=f"create invoice {inv.number}")
                return
            creates.append(BatchOp("create", "Invoice", payload, record_key("invoice", inv.id, inv.version, "create")))
        elif action.kind == "update":
            assert customer_link is not None
            self._update(inv, links[inv.id], customer_link, item_ids)
        elif action.kind in ("void", "delete"):
            self._remove(inv, links[inv.id], action.kind, payments)

    # ------------------------------------------------------------------ the company's rules
    def _waits(self, inv: Invoice, kind: str) -> bool:
        """Whether ``inv`` cannot go to this company now (recorded with its sentence; tried again
        every run, no request spent): its tax or term cannot be expressed, or its date is in the
        closed books (unless ``closed_period: first_open_date`` moves a create or update)."""
        ctx = self.ctx
        if kind in ("create", "update"):
            reasons = [(p.field, p.message) for p in imap.invoice_tax_problems(inv, ctx.settings)]
            term = str(getattr(inv, "terms", "") or "").strip()
            if term and term in self.term_problems:
                reasons.append(("terms", f"invoice {inv.number}: its term {term!r}: {self.term_problems[term]}"))
            for field_name, message in reasons:
                ctx.fail("invoice", "to_qbo", kind, inv.id, message, field=field_name, pending=True)
            if reasons:
                return True
        company = ctx.settings.company
        closed = company.book_close_date if company is not None else None
        if closed is None or inv.issue_date > closed:
            return False
        movable = kind in ("create", "update")
        if ctx.settings.closed_period == "first_open_date":
            return False  # creates and updates go on the first open date; a void or delete is QuickBooks' call
        ctx.fail("invoice", "to_qbo", kind, inv.id,
                 closed_books_sentence(f"invoice {inv.number}", inv.issue_date, closed, kind, movable=movable),
                 field="closed_period", pending=True)
        return True

    def payload(self, inv: Invoice, customer_id: str, item_ids: Mapping[int | None, str]) -> dict[str, Any]:
        """The invoice as this company takes it: tax, term, class and department, and the first open
        date (with its memo) for an invoice dated in the closed books under ``first_open_date``."""
        ctx = self.ctx
        company = ctx.settings.company
        closed = company.book_close_date if company is not None else None
        moved, note = first_open_date(inv.issue_date, closed, ctx.settings.closed_period)
        term = str(getattr(inv, "terms", "") or "").strip()
        return imap.invoice_to_qbo(inv, customer_id=customer_id, item_ids=item_ids, settings=ctx.settings,
                                   term_id=self.term_ids.get(term) if term else None, txn_date=moved, note=note)

    def closed_refusal(self, label: str, action: str, work_id: int, err: QboError, *, qbo_id: str | None = None,
                       refused_key: str | None = None, dated: date | None = None) -> None:
        """QuickBooks refused a write into a closed period (its books were closed after this run's check):
        the record waits with the sentence (the closing date read once), to go in a later run."""
        ctx = self.ctx
        closed = self.closed_now = self.closed_now or refused_closing_date(ctx.client)
        text = closed_books_sentence(label, dated, closed, action, movable=action in ("create", "update"),
                                     refused=True)
        ctx.fail("invoice", "to_qbo", action, work_id, text,
                 qbo_id=qbo_id, field="closed_period", pending=True, refused_key=refused_key)

    def _held(self, inv: Invoice) -> tuple[str, str] | None:
        """The first held item of ``inv`` (its ``held:invoice`` key) and why the invoice waits, or None."""
        held = getattr(self, "held_items", {})
        for line in inv.lines:
            if line.item_id in held:
                return f"item:{line.item_id if line.item_id is not None else 'default'}", held[line.item_id]
        return None

    # ------------------------------------------------------------------ answers
    def result(self, op: BatchOp, res: BatchResult) -> None:
        """Record QBO's answer to one invoice create (inside the recording transaction, if any)."""
        ctx = self.ctx
        _, work_id, version, _ = split_key(op.key)
        number = op.payload.get("DocNumber", work_id)
        if not res.ok:
            assert res.error is not None
            if isinstance(res.error, ClosedPeriod):
                self.closed_refusal(f"invoice {number}", "create", work_id, res.error, refused_key=op.key,
                                    dated=_txn_date(op.payload))
                return
            text, element = ctx.error_text(res.error, f"invoice {number}")
            ctx.fail("invoice", "to_qbo", "create", work_id, text, field=element, pending=res.error.retryable,
                     refused_key=op.key)
            return
        qbo = as_dict(res.obj)
        with ctx.begin() as conn:
            ctx.state.save_link(conn, "invoice", work_id, str(qbo["Id"]), sync_token=str(qbo.get("SyncToken", "0")),
                                work_version=version, fingerprint=fingerprint(op.payload))
            verb = "found (sent earlier, answer lost) and linked" if op.key in ctx.adopted else "created"
            ctx.note(conn, entity="invoice", direction="to_qbo", action="create", outcome="ok", work_id=work_id,
                     qbo_id=str(qbo["Id"]), message=f"{verb} invoice {number} for {amount(qbo.get('TotalAmt'))}")
            ctx.clear_pending(conn, "invoice", work_id)
            self._tie_out(conn, work_id, str(qbo["Id"]), "create", f"invoice {number}", self.expected_tax.get(op.key),
                          qbo)

    def _tie_out(self, conn: Any, work_id: int, qbo_id: str, action: str, label: str, expected: Decimal | None,
                 qbo: Mapping[str, Any]) -> None:
        """WORK's tax against the tax QuickBooks recorded: a difference is a failure naming both."""
        if expected is None:
            return
        text = tax_difference(expected, qbo, label=label)
        if text is not None:
            self.ctx.note(conn, entity="invoice", direction="to_qbo", action=action, outcome="failed",
                          work_id=work_id, qbo_id=qbo_id, field="tax_amount", message=text)

    def resolve_taken(self, taken: Sequence[BatchOp]) -> None:
        """Creates QBO refused with 6140 (the number is taken): adopt the invoice that carries this
        record's mark; otherwise stop the record with a sentence naming the invoice that holds it."""
        numbers.resolve(self.ctx, numbers.INVOICES, taken, self.result, amount)

    # ------------------------------------------------------------------ finding its own
    def find(self, ops: Sequence[BatchOp]) -> dict[str, dict[str, Any]]:
        """The invoices these creates made, if QBO has them (by number and mark)."""
        return numbers.lookup(self.ctx, numbers.INVOICES, ops)[0]

    # ------------------------------------------------------------------ updates, voids, deletes
    def _owned(self, inv: Invoice, qbo: Mapping[str, Any]) -> bool:
        """Whether the QBO invoice read under a link is still this record's: its mark, or (for
        invoices sent before marks existed) its number."""
        owner = marker_owner(qbo.get("PrivateNote"), "invoice")
        if owner is not None:
            return owner == inv.id
        return str(qbo.get("DocNumber", "")) == str(inv.number) or not qbo.get("DocNumber")

    def _park(self, inv: Invoice, link: Link, action: str, text: str, *, state: str) -> None:
        ctx = self.ctx
        with ctx.begin() as conn:
            ctx.state.save_link(conn, "invoice", inv.id, link.qbo_id, sync_token=link.sync_token,
                                work_version=link.work_version, fingerprint=link.fingerprint, state=state)
            ctx.note(conn, entity="invoice", direction="to_qbo", action=action, outcome="failed", work_id=inv.id,
                     qbo_id=link.qbo_id, field="qbo_id", message=text)

    def _gone(self, inv: Invoice, link: Link, action: str) -> None:
        self._park(inv, link, action, f"invoice {inv.number}: QuickBooks invoice {link.qbo_id} was deleted in "
                   "QuickBooks (not by the sync), so this change was not sent; the sync leaves it alone (retry the "
                   "invoice to create it again)", state="gone")

    def _update(self, inv: Invoice, link: Link, customer: Link, item_ids: dict[int | None, str]) -> None:
        ctx = self.ctx
        payload = self.payload(inv, customer.qbo_id, item_ids)
        fp = fingerprint(payload)
        if fp == link.fingerprint:
            if not ctx.dry_run and link.work_version != inv.version:
                with ctx.begin() as conn:
                    ctx.state.save_link(conn, "invoice", inv.id, link.qbo_id, sync_token=link.sync_token,
                                        work_version=inv.version, fingerprint=fp)
            ctx.note(None, entity="invoice", direction="to_qbo", action="skip", outcome="skipped", work_id=inv.id,
                     qbo_id=link.qbo_id, message=f"invoice {inv.number}: nothing QuickBooks holds changed")
            return
        if ctx.dry_run:
            ctx.note(None, entity="invoice", direction="to_qbo", action="update", outcome="ok", work_id=inv.id,
                     qbo_id=link.qbo_id, message=f"update invoice {inv.number}")
            return
        fields: dict[str, Any] = {k: payload[k] for k in ("DocNumber", "TxnDate", "DueDate", "CustomerRef", "Line",
                                                          "TxnTaxDetail", "GlobalTaxCalculation", "SalesTermRef",
                                                          "ClassRef", "DepartmentRef") if k in payload}
        token = link.sync_token
        for attempt in (1, 2):
            key = record_key("invoice", inv.id, inv.version, f"update@{token}")
            try:
                qbo = as_dict(ctx.client.sparse_update("Invoice", link.qbo_id, token, fields,
                                                       request_id=ctx.request_id(key), record=f"invoice {inv.number}"))
                break
            except StaleObject:
                if attempt == 2:
                    ctx.fail("invoice", "to_qbo", "update", inv.id,
                             f"invoice {inv.number}: changed in QuickBooks while this run updated it (stale "
                             "SyncToken twice); it will be retried", qbo_id=link.qbo_id, field="SyncToken",
                             pending=True, refused_key=key)
                    return
                try:
                    fresh = ctx.read("Invoice", link.qbo_id)
                except ObjectNotFound:
                    self._gone(inv, link, "update")
                    return
                if not self._owned(inv, fresh):
                    self._park(inv, link, "update", f"invoice {inv.number}: QuickBooks invoice {link.qbo_id} is now "
                               f"another invoice ({fresh.get('DocNumber')}); not changed. Run `qbo-toolkit doctor`",
                               state="gone")
                    return
                token = str(fresh["SyncToken"])
            except ObjectNotFound:
                self._gone(inv, link, "update")
                return
            except ClosedPeriod as err:
                self.closed_refusal(f"invoice {inv.number}", "update", inv.id, err, qbo_id=link.qbo_id,
                                    refused_key=key, dated=inv.issue_date)
                return
            except QboError as err:
                text, element = ctx.error_text(err, f"invoice {inv.number}")
                ctx.fail("invoice", "to_qbo", "update", inv.id, text, qbo_id=link.qbo_id, field=element,
                         pending=err.retryable, refused_key=key)
                return
        with ctx.begin() as conn:
            ctx.state.save_link(conn, "invoice", inv.id, link.qbo_id, sync_token=str(qbo.get("SyncToken")),
                                work_version=inv.version, fingerprint=fp)
            ctx.note(conn, entity="invoice", direction="to_qbo", action="update", outcome="ok", work_id=inv.id,
                     qbo_id=link.qbo_id, message=f"updated invoice {inv.number}: total {amount(qbo.get('TotalAmt'))}")
            ctx.clear_pending(conn, "invoice", inv.id)
            self._tie_out(conn, inv.id, link.qbo_id, "update", f"invoice {inv.number}", inv.tax_amount, qbo)

    def _remove(self, inv: Invoice, link: Link, how: str, payments: Any) -> None:
        """Void or delete an invoice in QBO, after deleting the payments QBO holds for it."""
        ctx = self.ctx
        if ctx.dry_run:
            ctx.note(None, entity="invoice", direction="to_qbo", action=how, outcome="ok", work_id=inv.id,
                     qbo_id=link.qbo_id, message=f"{how} invoice {inv.number}")
            return
        pays = ctx.store.payments(invoice_id=inv.id, include_deleted=True)
        payment_links = ctx.state.links("payment", work_ids=[p.id for p in pays]) if pays else {}
        for payment in pays:
            plink = payment_links.get(payment.id)
            if plink is not None and plink.state == "active":
                payments.delete(payment, plink, reason=f"invoice {inv.number} is {how}ed in WORK")
                ctx.acted.add(("payment", payment.id))
        key = record_key("invoice", inv.id, inv.version, how)
        try:
            current = ctx.read("Invoice", link.qbo_id)
        except ObjectNotFound:
            current = None
        if current is None or not self._owned(inv, current):
            if current is None and how == "delete":
                current_state = "deleted"  # already gone: what was wanted
                with ctx.begin() as conn:
                    ctx.state.save_link(conn, "invoice", inv.id, link.qbo_id, sync_token=link.sync_token,
                                        work_version=inv.version, fingerprint=link.fingerprint, state=current_state)
                    ctx.note(conn, entity="invoice", direction="to_qbo", action=how, outcome="ok", work_id=inv.id,
                             qbo_id=link.qbo_id, message=f"invoice {inv.number} was already deleted in QuickBooks")
                    ctx.clear_pending(conn, "invoice", inv.id)
                return
            self._gone(inv, link, how)
            return
        token = str(current["SyncToken"])
        try:
            if how == "void":
                qbo = as_dict(ctx.client.void("Invoice", link.qbo_id, token, request_id=ctx.request_id(key),
                                              record=f"invoice {inv.number}"))
                new_token = str(qbo.get("SyncToken", token))
            else:
                ctx.client.delete("Invoice", link.qbo_id, token, request_id=ctx.request_id(key),
                                  record=f"invoice {inv.number}")
                new_token = token
        except ClosedPeriod as err:
            self.closed_refusal(f"invoice {inv.number}", how, inv.id, err, qbo_id=link.qbo_id, refused_key=key,
                                dated=inv.issue_date)
            return
        except QboError as err:
            text, element = ctx.error_text(err, f"invoice {inv.number}")
            ctx.fail("invoice", "to_qbo", how, inv.id, text, qbo_id=link.qbo_id, field=element, pending=err.retryable,
                     refused_key=key)
            return
        with ctx.begin() as conn:
            ctx.state.save_link(conn, "invoice", inv.id, link.qbo_id, sync_token=new_token, work_version=inv.version,
                                fingerprint=link.fingerprint, state="voided" if how == "void" else "deleted")
            ctx.note(conn, entity="invoice", direction="to_qbo", action=how, outcome="ok", work_id=inv.id,
                     qbo_id=link.qbo_id, message=f"{how}ed invoice {inv.number} in QuickBooks")
            ctx.clear_pending(conn, "invoice", inv.id)
