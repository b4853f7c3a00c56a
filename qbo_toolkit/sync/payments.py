"""Payments, WORK to QBO for invoices already in QBO: the pure planner and the stage.

:func:`plan_payment` is pure; :class:`PaymentStage` creates (streamed through the
:class:`~.sender.Sender`), updates and deletes.

Finding its own. A payment has no number QBO keeps unique, so every payment the toolkit creates
carries its mark in ``PrivateNote`` (:mod:`qbo_toolkit.mapping.markers`, after the payment method).
When a stopped run left a create unanswered, the stage looks the payment up by customer and date and
adopts the one with its mark; payments without it are someone else's and never adopted.

The company's rules (``ctx.settings.company``, from the run's check). A WORK payment method goes as
``PaymentMethodRef`` when QuickBooks has it (the settings' ``payment_methods`` or the same name; the
list is read once, and only when a payment to send has a method); one it does not have is said once
in the run's notices and the payment goes without it (its method stays in the memo). A payment
dated on or before the company's closing date waits with the sentence of
:func:`~.preflight.closed_books_sentence` (or, with ``closed_period: first_open_date``, goes on the
day after with a memo); a closed-period refusal from QuickBooks becomes the same waiting sentence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from ..errors import ClosedPeriod, ObjectNotFound, QboError
from ..mapping import payments as pmap
from ..mapping.invoices import invoice_date_problems
from ..mapping.markers import marker_owner
from ..mapping.payments import payment_date_problems
from ..qbo.client import BatchOp, BatchResult
from ..qbo.query import select
from ..work.models import Invoice, Payment
from .action import Action
from .context import PARTIAL_LINKS, RecordStage, as_dict
from .invoices import amount, fingerprint
from .keys import record_key, split_key
from .preflight import NameResolver, closed_books_sentence, first_open_date, refused_closing_date
from .sender import Sender
from .state import Link

__all__ = ["PaymentStage", "plan_payment"]


def _txn_date(payload: Mapping[str, Any]) -> date | None:
    try:
        return date.fromisoformat(str(payload.get("TxnDate") or "")[:10])
    except ValueError:
        return None


# ============================================================================== the pure planner
def plan_payment(pay: Payment, link: Link | None, inv: Invoice | None, invoice_link: Link | None, *,
                 integration_date: date, today: date) -> Action:
    """What to do with one WORK payment (WORK -> QBO, only for invoices already in QBO).

    An implausible date fails before the integration date is looked at (see :func:`plan_invoice`);
    a payment whose invoice waits (its client, its own implausible date) fails on ``invoice_id``.
    """

    def act(kind: str, reason: str = "", field_name: str | None = None) -> Action:
        return Action(kind, "payment", "to_qbo", pay.id, link.qbo_id if link else None, {}, reason, field_name)

    if link is not None and link.state == "gone":
        return act("skip", f"payment {pay.id}: its QuickBooks payment was deleted there (not by the sync) or now "
                           "holds another payment; it is not sent again (retry the payment to create it anew)")
    if link is not None and link.state == "deleted":
        if pay.deleted:
            return act("skip", "deleted on both sides")
        if inv is None:
            return act("fail", f"payment {pay.id}: invoice {pay.invoice_id} does not exist in WORK", "invoice_id")
        if inv.deleted or inv.status == "void":
            return act("skip", f"payment {pay.id}: invoice {inv.number} is {'deleted' if inv.deleted else 'void'} in "
                               "WORK")
        if invoice_link is None or invoice_link.state != "active":
            return act("skip", f"payment {pay.id}: its invoice is no longer open in QuickBooks")
        return act("create", f"payment {pay.id} applies again")
    if pay.deleted:
        return act("delete", f"payment {pay.id} was deleted in WORK") if link else act(
            "skip", f"payment {pay.id} was deleted in WORK before it was sent")
    if inv is None:
        return act("fail", f"payment {pay.id}: invoice {pay.invoice_id} does not exist in WORK", "invoice_id")
    dates = payment_date_problems(pay, today=today) if link is None or link.work_version != pay.version else []
    if dates:
        return Action("fail", "payment", "to_qbo", pay.id, link.qbo_id if link else None, {"problems": dates},
                      f"payment {pay.id}: {dates[0].message}", dates[0].field)
    if link is None and pay.date < integration_date:
        return act("skip", f"payment {pay.id} is dated {pay.date}, before the integration date {integration_date}")
    if invoice_link is None:
        if invoice_date_problems(inv, today=today) and inv.status == "open" and not inv.deleted:
            return act("fail", f"payment {pay.id}: invoice {inv.number} is not in QuickBooks: its date is implausible "
                               "(see the invoice's entry); the payment will be sent once the invoice is", "invoice_id")
        if inv.issue_date < integration_date or inv.status in ("draft", "void") or inv.deleted:
            return act("skip", f"payment {pay.id}: invoice {inv.number} does not sync to QuickBooks")
        return act("fail", f"payment {pay.id}: invoice {inv.number} is not in QuickBooks yet (the payment will be "
                           "sent once it is)", "invoice_id")
    if invoice_link.state != "active":
        return act("skip", f"payment {pay.id}: invoice {inv.number} is {invoice_link.state} in QuickBooks")
    if link is None:
        return act("create", f"new payment of {pay.amount} on invoice {inv.number}")
    if link.work_version == pay.version:
        return act("skip", "unchanged")
    return act("update", f"payment {pay.id} changed in WORK")



# ============================================================================== the stage
class PaymentStage(RecordStage):
    entity, dependency = "payment", "invoice"
    sender: Sender

    def __init__(self, ctx: Any, sender: Any) -> None:
        super().__init__(ctx, sender)
        self.method_ids: dict[str, str] = {}
        self.closed_now: date | None = None  # the closing date read after a closed-period refusal

    def changed(self, after: int) -> list[Payment]:
        return self.ctx.store.changed_payments(after)

    def get(self, work_id: int) -> Payment | None:
        return self.ctx.store.get_payment(work_id)

    def run(self, initial: bool) -> None:
        ctx = self.ctx
        settings = ctx.settings
        assert settings.integration_date is not None
        candidates = self.candidates(initial)
        invoices: dict[int, Invoice | None] = dict.fromkeys({pay.invoice_id for pay in candidates})
        invoices.update(ctx.store.invoices_by_id(invoices))  # the invoices they pay, read at once
        invoice_links = ctx.links("invoice", ctx.wanted(invoices, initial, PARTIAL_LINKS))
        customer_links = ctx.links(
            "customer", ctx.wanted((inv.client_id for inv in invoices.values() if inv is not None), initial,
                                   PARTIAL_LINKS))
        links = ctx.state.links("payment", work_ids=ctx.wanted((pay.id for pay in candidates), initial, PARTIAL_LINKS))
        dismissed = ctx.state.dismissed("payment") if candidates else set()
        methods = {str(pay.method or "").strip() for pay in candidates if not pay.deleted} - {""}
        if methods:  # the company's payment methods are read once, and only when a payment has one
            resolver = NameResolver(ctx.client, "PaymentMethod", "payment method", "payment_methods",
                                    settings.payment_methods)
            self.method_ids, missing = resolver.resolve(methods)
            for name, why in sorted(missing.items()):
                ctx.notices.append(f"payment method {name!r}: {why}; payments with it go without a "
                                   "PaymentMethodRef (the method is in their memo)")
        creates = self.sender.stream(self.result)  # sent while the rest is planned
        try:
            for pay in candidates:
                if pay.id in dismissed or ("payment", pay.id) in ctx.acted:
                    continue
                ctx.check()
                if pay.invoice_id not in invoices:
                    invoices[pay.invoice_id] = ctx.store.get_invoice(pay.invoice_id)
                inv = invoices[pay.invoice_id]
                action = plan_payment(pay, links.get(pay.id), inv, invoice_links.get(pay.invoice_id),
                                      integration_date=settings.integration_date, today=ctx.today)
                ctx.actions.append(action)
                self._act(pay, inv, action, links, invoice_links, customer_links, creates)
        finally:
            creates.finish()

    def _act(self, pay: Payment, inv: Invoice | None, action: Action, links: Mapping[int, Link],
             invoice_links: Mapping[int, Link], customer_links: Mapping[int, Link], creates: Any) -> None:
        ctx = self.ctx
        if action.kind == "skip":
            ctx.note(None, entity="payment", direction="to_qbo", action="skip", outcome="skipped",
                     work_id=pay.id, message=action.reason)
            return
        if action.kind == "fail":
            for p in action.fields.get("problems", ()):
                ctx.fail("payment", "to_qbo", "create", pay.id, f"payment {pay.id}: {p.message}", field=p.field)
            if not action.fields.get("problems"):
                ctx.fail("payment", "to_qbo", "create", pay.id, action.reason, field=action.field,
                         blocked_by=f"invoice:{pay.invoice_id}" if action.field == "invoice_id" else None)
            return
        if self._waits(pay, action.kind):
            return
        if action.kind == "delete":
            if not ctx.dry_run:
                self.delete(pay, links[pay.id], reason="deleted in WORK")
            else:
                ctx.note(None, entity="payment", direction="to_qbo", action="delete", outcome="ok", work_id=pay.id)
            return
        assert inv is not None
        problems = pmap.validate_payment(pay, invoice_total=inv.total)
        if problems:
            for p in problems:
                ctx.fail("payment", "to_qbo", action.kind, pay.id, f"payment {pay.id}: {p.message}", field=p.field)
            return
        customer = customer_links.get(inv.client_id)
        ilink = invoice_links[pay.invoice_id]
        if customer is None:
            ctx.fail("payment", "to_qbo", action.kind, pay.id,
                     f"payment {pay.id}: the invoice's client is not in QuickBooks", field="invoice_id")
            return
        company = ctx.settings.company
        moved, memo = first_open_date(pay.date, company.book_close_date if company is not None else None,
                                      ctx.settings.closed_period)
        payload = pmap.payment_to_qbo(pay, customer_id=customer.qbo_id, invoice_qbo_id=ilink.qbo_id,
                                      deposit_account_id=str(ctx.settings.deposit_account),
                                      method_id=self.method_ids.get(str(pay.method or "").strip()),
                                      txn_date=moved, memo=memo)
        if ctx.dry_run:
            ctx.note(None, entity="payment", direction="to_qbo", action=action.kind, outcome="ok",
                     work_id=pay.id, message=f"{action.kind} payment of {pay.amount}")
            return
        if action.kind == "create":
            creates.append(BatchOp("create", "Payment", payload, record_key("payment", pay.id, pay.version, "create")))
        else:
            self._update(pay, links[pay.id], payload)

    # ------------------------------------------------------------------ closed books
    def _waits(self, pay: Payment, kind: str) -> bool:
        """Whether ``pay`` is dated in the closed books and cannot go now (recorded with the sentence;
        tried again every run without a request). ``first_open_date`` moves a create or update."""
        ctx = self.ctx
        company = ctx.settings.company
        closed = company.book_close_date if company is not None else None
        if closed is None or pay.date > closed or ctx.settings.closed_period == "first_open_date":
            return False
        ctx.fail("payment", "to_qbo", kind, pay.id,
                 closed_books_sentence(f"payment {pay.id}", pay.date, closed, kind, movable=kind != "delete"),
                 field="closed_period", pending=True)
        return True

    def closed_refusal(self, action: str, work_id: int, *, dated: date | None, qbo_id: str | None = None,
                       refused_key: str | None = None) -> None:
        """QuickBooks refused a write into a closed period: the payment waits with the sentence."""
        closed = self.closed_now = self.closed_now or refused_closing_date(self.ctx.client)
        self.ctx.fail("payment", "to_qbo", action, work_id,
                      closed_books_sentence(f"payment {work_id}", dated, closed, action, movable=action != "delete",
                                            refused=True),
                      qbo_id=qbo_id, field="closed_period", pending=True, refused_key=refused_key)

    # ------------------------------------------------------------------ answers
    def result(self, op: BatchOp, res: BatchResult) -> None:
        """Record QBO's answer to one payment create (inside the recording transaction, if any)."""
        ctx = self.ctx
        _, work_id, version, _ = split_key(op.key)
        if not res.ok:
            assert res.error is not None
            if isinstance(res.error, ClosedPeriod):
                self.closed_refusal("create", work_id, dated=_txn_date(op.payload), refused_key=op.key)
                return
            text, element = ctx.error_text(res.error, f"payment {work_id}")
            if res.error.code == "6000" and "open balance" in (res.error.detail or ""):
                element = "amount"  # the WORK field at fault (QBO names its own: Line[0].Amount)
            ctx.fail("payment", "to_qbo", "create", work_id, text, field=element, pending=res.error.retryable,
                     refused_key=op.key)
            return
        qbo = as_dict(res.obj)
        with ctx.begin() as conn:
            ctx.state.save_link(conn, "payment", work_id, str(qbo["Id"]), sync_token=str(qbo.get("SyncToken", "0")),
                                work_version=version, fingerprint=fingerprint(op.payload))
            verb = "found (sent earlier, answer lost) and linked" if op.key in ctx.adopted else "created"
            ctx.note(conn, entity="payment", direction="to_qbo", action="create", outcome="ok", work_id=work_id,
                     qbo_id=str(qbo["Id"]), message=f"{verb} payment of {amount(qbo.get('TotalAmt'))}")
            ctx.clear_pending(conn, "payment", work_id)

    # ------------------------------------------------------------------ finding its own
    def find(self, ops: Sequence[BatchOp]) -> dict[str, dict[str, Any]]:
        """The payments these creates made, if QBO has them: by customer and date, with the mark."""
        ctx = self.ctx
        customers = sorted({str((op.payload.get("CustomerRef") or {}).get("value", "")) for op in ops} - {""})
        dates = sorted({str(op.payload.get("TxnDate", "")) for op in ops} - {""})
        if not customers or not dates:
            return {}
        rows: list[dict[str, Any]] = []
        for start in range(0, len(customers), 30):
            rows += ctx.query(select("Payment").where("CustomerRef", "IN", customers[start:start + 30])
                              .where("TxnDate", "IN", dates))
        mine: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            owner = marker_owner(row.get("PrivateNote"), "payment")
            if owner is not None:
                mine.setdefault(owner, []).append(row)
        out: dict[str, dict[str, Any]] = {}
        for op in ops:
            found = mine.get(split_key(op.key)[1])
            if found:
                out[op.key] = min(found, key=lambda r: int(r["Id"]))
        return out

    # ------------------------------------------------------------------ updates and deletes
    def _park_gone(self, pay: Payment, link: Link, action: str) -> None:
        ctx = self.ctx
        with ctx.begin() as conn:
            ctx.state.save_link(conn, "payment", pay.id, link.qbo_id, sync_token=link.sync_token,
                                work_version=link.work_version, fingerprint=link.fingerprint, state="gone")
            ctx.note(conn, entity="payment", direction="to_qbo", action=action, outcome="failed", work_id=pay.id,
                     qbo_id=link.qbo_id, field="qbo_id",
                     message=f"payment {pay.id}: QuickBooks payment {link.qbo_id} was deleted there (not by the sync) "
                             "or now holds another payment, so this change was not sent; the sync leaves it alone "
                             "(retry the payment to create it again)")

    def _update(self, pay: Payment, link: Link, payload: Mapping[str, Any]) -> None:
        ctx = self.ctx
        fp = fingerprint(payload)
        if fp == link.fingerprint:
            ctx.note(None, entity="payment", direction="to_qbo", action="skip", outcome="skipped", work_id=pay.id,
                     qbo_id=link.qbo_id, message=f"payment {pay.id}: nothing QuickBooks holds changed")
            return
        fields = {k: payload[k] for k in ("TotalAmt", "TxnDate", "Line", "PaymentRefNum", "PrivateNote",
                                          "DepositToAccountRef", "PaymentMethodRef") if k in payload}
        try:
            current = ctx.read("Payment", link.qbo_id)
        except ObjectNotFound:
            self._park_gone(pay, link, "update")
            return
        owner = marker_owner(current.get("PrivateNote"), "payment")
        if owner is not None and owner != pay.id:
            self._park_gone(pay, link, "update")
            return
        token = str(current["SyncToken"])
        key = record_key("payment", pay.id, pay.version, f"update@{token}")
        try:
            qbo = as_dict(ctx.client.sparse_update("Payment", link.qbo_id, token, fields,
                                                   request_id=ctx.request_id(key), record=f"payment {pay.id}"))
        except ClosedPeriod:
            self.closed_refusal("update", pay.id, dated=pay.date, qbo_id=link.qbo_id, refused_key=key)
            return
        except QboError as err:
            text, element = ctx.error_text(err, f"payment {pay.id}")
            ctx.fail("payment", "to_qbo", "update", pay.id, text, qbo_id=link.qbo_id, field=element,
                     pending=err.retryable, refused_key=key)
            return
        with ctx.begin() as conn:
            ctx.state.save_link(conn, "payment", pay.id, link.qbo_id, sync_token=str(qbo.get("SyncToken")),
                                work_version=pay.version, fingerprint=fp)
            ctx.note(conn, entity="payment", direction="to_qbo", action="update", outcome="ok", work_id=pay.id,
                     qbo_id=link.qbo_id, message=f"updated payment: {amount(qbo.get('TotalAmt'))}")
            ctx.clear_pending(conn, "payment", pay.id)

    def delete(self, pay: Payment, link: Link, *, reason: str) -> None:
        """Delete the payment's QBO record (already gone is what was wanted)."""
        ctx = self.ctx
        key = record_key("payment", pay.id, pay.version, "delete")
        try:
            current = ctx.read("Payment", link.qbo_id)
            owner = marker_owner(current.get("PrivateNote"), "payment")
            if owner is not None and owner != pay.id:  # the Id holds another payment now: never delete it
                self._park_gone(pay, link, "delete")
                return
            ctx.client.delete("Payment", link.qbo_id, str(current["SyncToken"]), request_id=ctx.request_id(key),
                              record=f"payment {pay.id}")
        except ClosedPeriod:
            self.closed_refusal("delete", pay.id, dated=pay.date, qbo_id=link.qbo_id, refused_key=key)
            return
        except QboError as err:
            if err.code != "610":  # already gone is what we wanted
                text, element = ctx.error_text(err, f"payment {pay.id}")
                ctx.fail("payment", "to_qbo", "delete", pay.id, text, qbo_id=link.qbo_id, field=element,
                         pending=err.retryable, refused_key=key)
                return
        with ctx.begin() as conn:
            ctx.state.save_link(conn, "payment", pay.id, link.qbo_id, sync_token=link.sync_token,
                                work_version=pay.version, fingerprint=link.fingerprint, state="deleted")
            ctx.note(conn, entity="payment", direction="to_qbo", action="delete", outcome="ok", work_id=pay.id,
                     qbo_id=link.qbo_id, message=f"deleted payment in QuickBooks: {reason}")
            ctx.clear_pending(conn, "payment", pay.id)  # an earlier attempt's failure is over
