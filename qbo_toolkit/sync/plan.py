"""The pure planner: a record, its link and its dependencies in, one action out.

Actions are ``create``, ``update``, ``void``, ``delete``, ``link``, ``skip``, ``hold`` (waiting for
the user in the match preview), ``fail`` (a dependency or rule stops it; the reason names the
field; ``fields["problems"]`` lists every field at fault for an implausible date, and
``fields["blocked_by"]`` the record it waits for) and, for customers, ``rebase`` (nothing to send,
the remembered base moves). The engine executes them; ``dry_run`` shows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ..mapping import customers as cmap
from ..mapping.invoices import invoice_date_problems
from ..mapping.matching import match_customers
from ..mapping.payments import payment_date_problems
from ..work.models import Client, Invoice, Payment
from .merge import merge
from .state import Link

__all__ = ["Action", "plan_customer_merge", "plan_customers", "plan_invoice", "plan_payment"]


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


def plan_payment(pay: Payment, link: Link | None, inv: Invoice | None, invoice_link: Link | None, *,
                 integration_date: date, today: date) -> Action:
    """What to do with one WORK payment (WORK -> QBO, only for invoices already in QBO).

    An implausible date fails before the integration date is looked at (see :func:`plan_invoice`);
    a payment whose invoice waits (its client, its own implausible date) fails on ``invoice_id``.
    """

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


def plan_customer_merge(client: Client, customer: Mapping[str, Any] | None, link: Link, *, policy: str,
                    default_state: str | None) -> list[Action]:
    """A linked pair: the three-way merge of its fields as an ``update``, a ``rebase`` or nothing."""
    base = link.base
    work_vals = cmap.client_values(client)
    if customer is None:
        qbo_vals = dict(base or {})
        qbo_time = None
    else:
        qbo_vals = cmap.customer_values(customer)
        if link.qbo_name and qbo_vals.get("display_name") == link.qbo_name and base is not None:
            qbo_vals["display_name"] = base.get("display_name")  # the name we fixed for QBO
        if default_state and base is not None:
            for key in ("billing.state", "service.state"):
                if not qbo_vals.get(key) and base.get(key) == default_state:
                    qbo_vals[key] = default_state  # the default state WORK filled in (not a change)
        qbo_time = _qbo_time(customer)
    outcome = merge(work_vals, qbo_vals, base, policy=policy,
                    work_updated=client.updated_at, qbo_updated=qbo_time)
    token = str(customer.get("SyncToken")) if customer is not None else link.sync_token
    if not outcome.changed:
        if base != outcome.values:
            return [Action("rebase", "customer", "none", client.id, link.qbo_id,
                           {"values": outcome.values, "token": token}, "")]
        return []
    fields: dict[str, Any] = {"merge": outcome, "token": token}
    return [Action("update", "customer", "both", client.id, link.qbo_id, fields,
                   "changed in " + " and ".join(s for s, d in (("WORK", outcome.to_qbo),
                                                              ("QuickBooks", outcome.to_work)) if d))]


def plan_customers(clients: Mapping[int, Client], customers: Mapping[str, dict[str, Any]], links: Mapping[int, Link], *,
                   dismissed: set[int], accepted: Mapping[int, str], rejected: set[tuple[int, str]],
                   accept_weak: bool, policy: str, default_state: str | None
                   ) -> tuple[list[Action], list[tuple[int, str, str, float, str]]]:
    """Actions for the customers in play, and the weak or multiple matches to ask the user about.

    Linked pairs are merged field by field; unlinked records on both sides are matched before
    anything is created (exact matches link, weak and multiple ones are held unless accepted);
    what is left is created on the other side. ``accepted`` maps a WORK client to the QBO customer
    the user confirmed; ``rejected`` holds the pairs the user refused.
    """
    accepted_by_client = accepted
    actions: list[Action] = []
    by_qbo = {link.qbo_id: link for link in links.values()}
    # 1. linked pairs: merge
    for work_id, client in sorted(clients.items()):
        link = links.get(work_id)
        if link is None:
            continue
        customer = customers.get(link.qbo_id)
        actions.extend(plan_customer_merge(client, customer, link, policy=policy, default_state=default_state))
    # 2. unlinked on both sides: match before creating anything
    unlinked_clients = [c for wid, c in sorted(clients.items()) if wid not in links and wid not in dismissed]
    unlinked_customers = [c for qid, c in sorted(customers.items(), key=lambda kv: int(kv[0]))
                          if qid not in by_qbo and not (c.get("ParentRef") and _level(c) > 1)]
    pending_rows: list[tuple[int, str, str, float, str]] = []
    result = match_customers(unlinked_clients, unlinked_customers)
    held_clients: set[int] = set()
    held_customers: set[str] = set()
    linked_now: set[int] = set()
    linked_qbo_now: set[str] = set()
    for m in result.exact:
        actions.append(Action("link", "customer", "both", m.client.id, str(m.customer["Id"]), {}, m.reason))
        linked_now.add(m.client.id)
        linked_qbo_now.add(str(m.customer["Id"]))
    for m in result.weak:
        qid = str(m.customer["Id"])
        chosen = accepted_by_client.get(m.client.id)
        if (m.client.id, qid) in rejected:
            continue
        if accept_weak or chosen == qid:
            actions.append(Action("link", "customer", "both", m.client.id, qid, {}, m.reason))
            linked_now.add(m.client.id)
            linked_qbo_now.add(qid)
        else:
            pending_rows.append((m.client.id, qid, "weak", float(m.score), m.reason))
            held_clients.add(m.client.id)
            held_customers.add(qid)
    for mm in result.multiple:
        for client in mm.clients:
            chosen = accepted_by_client.get(client.id)
            candidates = [str(c["Id"]) for c in mm.customers]
            if chosen is not None and chosen in candidates and chosen not in linked_qbo_now:
                actions.append(Action("link", "customer", "both", client.id, chosen, {},
                                      "confirmed by the user"))
                linked_now.add(client.id)
                linked_qbo_now.add(chosen)
                continue
            if all((client.id, qid) in rejected for qid in candidates):
                continue
            for qid in candidates:
                pending_rows.append((client.id, qid, "multiple", 0.0, mm.reason))
            held_clients.add(client.id)
        for candidate in mm.customers:
            if str(candidate["Id"]) not in linked_qbo_now:
                held_customers.add(str(candidate["Id"]))
    for client in unlinked_clients:
        if client.id in linked_now or client.id in held_clients:
            continue
        actions.append(Action("create", "customer", "to_qbo", client.id, None, {}, "new in WORK"))
    for customer in unlinked_customers:
        qid = str(customer["Id"])
        if qid in linked_qbo_now or qid in held_customers:
            continue
        actions.append(Action("create", "customer", "to_work", None, qid, {}, "new in QuickBooks"))
    for work_id in sorted(held_clients):
        actions.append(Action("hold", "customer", "both", work_id, None, {},
                              "a weak or multiple match waits for confirmation in the match preview"))
    return actions, pending_rows


def _level(customer: Mapping[str, Any]) -> int:
    try:
        return int(customer.get("Level") or 0)
    except (TypeError, ValueError):
        return 0


def _qbo_time(customer: Mapping[str, Any]) -> datetime | None:
    stamp = (customer.get("MetaData") or {}).get("LastUpdatedTime")
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(str(stamp))
    except ValueError:
        return None
