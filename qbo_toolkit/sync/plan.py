"""The pure planner: a record, its link and its dependencies in, one action out.

Actions are ``create``, ``update``, ``void``, ``delete``, ``link``, ``skip``, ``hold`` (waiting for
the user in the match preview), ``fail`` (a dependency or rule stops it; the reason names the
field) and, for customers, ``rebase`` (nothing to send, the remembered base moves). The engine
executes them; ``dry_run`` shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ..work.models import Invoice, Payment
from .state import Link

__all__ = ["Action", "plan_invoice", "plan_payment"]


@dataclass(frozen=True)
class Action:
    kind: str
    entity: str
    direction: str
    work_id: int | None
    qbo_id: str | None
    fields: dict[str, Any] = field(default_factory=dict, compare=False)
    reason: str = ""
    field: str | None = None

    def row(self) -> dict[str, Any]:
        return {"action": self.kind, "entity": self.entity, "direction": self.direction, "work_id": self.work_id,
                "qbo_id": self.qbo_id, "reason": self.reason, "field": self.field}


def plan_invoice(inv: Invoice, link: Link | None, customer: Link | None, *, integration_date: date) -> Action:
    """What to do with one WORK invoice (WORK -> QBO only)."""

    def act(kind: str, reason: str = "", field_name: str | None = None) -> Action:
        return Action(kind, "invoice", "to_qbo", inv.id, link.qbo_id if link else None, {}, reason, field_name)

    if link is not None and link.state == "deleted":
        return act("skip", f"invoice {inv.number} was deleted in QuickBooks by an earlier run")
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
    if link is None and inv.issue_date < integration_date:
        return act("skip", f"invoice {inv.number} is dated {inv.issue_date}, before the integration date "
                           f"{integration_date}: not expected in QuickBooks")
    if customer is None:
        return act("fail", f"invoice {inv.number}: its client {inv.client_id} is not in QuickBooks yet (it will "
                           "be sent once the client is)", "client_id")
    if link is None:
        return act("create", f"new invoice {inv.number}")
    if link.work_version == inv.version:
        return act("skip", "unchanged")
    return act("update", f"invoice {inv.number} changed in WORK")


def plan_payment(pay: Payment, link: Link | None, inv: Invoice | None, invoice_link: Link | None, *,
                 integration_date: date) -> Action:
    """What to do with one WORK payment (WORK -> QBO, only for invoices already in QBO)."""

    def act(kind: str, reason: str = "", field_name: str | None = None) -> Action:
        return Action(kind, "payment", "to_qbo", pay.id, link.qbo_id if link else None, {}, reason, field_name)

    if link is not None and link.state == "deleted":
        if pay.deleted:
            return act("skip", "deleted on both sides")
        if invoice_link is None or invoice_link.state != "active":
            return act("skip", f"payment {pay.id}: its invoice is no longer open in QuickBooks")
        return act("create", f"payment {pay.id} applies again")
    if pay.deleted:
        return act("delete", f"payment {pay.id} was deleted in WORK") if link else act(
            "skip", f"payment {pay.id} was deleted in WORK before it was sent")
    if inv is None:
        return act("fail", f"payment {pay.id}: invoice {pay.invoice_id} does not exist in WORK", "invoice_id")
    if link is None and pay.date < integration_date:
        return act("skip", f"payment {pay.id} is dated {pay.date}, before the integration date {integration_date}")
    if invoice_link is None:
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
