"""Customers, both ways: the pure planners and the stage that carries them out.

The initial import matches QBO customers to WORK clients before it creates anything (exact matches
link; weak and multiple ones wait in the match preview); afterwards changes found on both sides
(WORK revisions; QBO CDC with an overlap window) are merged field by field (:mod:`.merge`); new
records are created on the other side.

:func:`plan_customers` and :func:`plan_customer_merge` are pure (records, links and settings in,
actions out); :class:`CustomerStage` reads what they need, acts, and records the outcome.

Customers carry no mark of their own in QBO (their one memo field, Notes, syncs both ways), so a
customer the toolkit created is recognised by the name and the values it sent: after an ambiguous
outcome (a crash mid-request, a 6240 "name in use" on its own create) the stage looks the name up
and adopts a customer that is not linked to another client and holds exactly what was sent;
anything else is someone else's customer and is never adopted.

The match preview's promise (weak and multiple matches, :func:`plan_customers`):

* **Undecided**: a pair waiting in the preview (recorded in ``sync_matches`` as pending) holds both
  sides, whether or not the other side is in play in this run: the WORK client is not created in
  QBO and the QBO customer is not imported into WORK, until the user decides (or one side is linked
  to someone else, which makes the pair moot). A client with two candidates, one rejected and one
  undecided, is still held; so is the undecided candidate.
* **Accept**: the two are linked and merged field by field.
* **Reject** means "not the same business". The WORK client goes to QBO as a new customer under the
  name policy: with ``fix`` under a suffixed name ("Name (2)"); with ``report``, when the customer it
  rejected holds its name, it waits (held, not sent) with the reason "a customer of that name exists
  in QuickBooks; rename the client in WORK or choose fix". The rejected customer is *not* imported
  into WORK while the client that rejected it exists there under the same name: the user has just
  said they are two businesses, and a second WORK client of the same name is the duplicate the
  preview exists to prevent (the next invoice could go to either). It stays in QBO only, listed in
  the plan as skipped with the reason; renaming either of the two lets it come into WORK. A
  rejected customer whose name differs (a fuzzy match) is imported as any new customer is. A
  rejected customer is never adopted as the client's own after a "name in use" answer.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import DuplicateName, QboError, StaleObject, WorkDataError
from ..mapping import customers as cmap
from ..mapping.matching import match_customers
from ..mapping.names import check_display_name, normalise_name, suffixed_name
from ..mirror import ENTITIES as MIRRORED
from ..mirror import Mirror
from ..qbo.client import BatchOp, BatchResult
from ..qbo.query import select
from ..work.models import Address, Client
from ..work.store import validate_client
from .action import Action
from .context import RunContext, as_dict
from .keys import record_key, split_key
from .merge import merge
from .sender import Sender
from .state import Link

__all__ = ["CustomerPlan", "CustomerStage", "fix_name", "plan_customer_merge", "plan_customers"]

CDC_OVERLAP = timedelta(minutes=5)


# ============================================================================== the pure planners
def plan_customer_merge(client: Client, customer: Mapping[str, Any] | None, link: Link, *, policy: str,
                    default_state: str | None) -> list[Action]:
    """A linked pair: the three-way merge of its fields as an ``update``, a ``rebase`` or nothing."""
    base = link.base
    work_vals = cmap.client_values(client)
    if customer is None:
        qbo_vals = dict(base or {})
        qbo_time = None
    else:
        # QBO's "USA" is WORK's "US": another spelling of a country is not a change on either side
        qbo_vals = cmap.equivalent_values(cmap.customer_values(customer), work_vals, base)
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
                   accept_weak: bool, policy: str, default_state: str | None,
                   undecided: Collection[tuple[int, str]] = (), client_names: Mapping[int, str] | None = None,
                   name_policy: str = "fix"
                   ) -> tuple[list[Action], list[tuple[int, str, str, float, str]]]:
    """Actions for the customers in play, and the weak or multiple matches to ask the user about.

    Linked pairs are merged field by field; unlinked records on both sides are matched before
    anything is created (exact matches link, weak and multiple ones are held unless accepted);
    what is left is created on the other side. ``accepted`` maps a WORK client to the QBO customer
    the user confirmed; ``rejected`` holds the pairs the user refused; ``undecided`` the pairs still
    waiting in the match preview (either side may be out of play in this run: both stay held).
    ``client_names`` gives the WORK names of clients behind rejected pairs that are not in
    ``clients``; ``name_policy`` decides what a rejected client whose name the rejected customer
    holds does (see the module docstring for the rules).
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
        if (m.client.id, str(m.customer["Id"])) in rejected:
            continue  # the user said they are not the same, whatever they have in common now
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
                if (client.id, qid) not in rejected:
                    held_customers.add(qid)  # still offered to a client: not imported meanwhile
            held_clients.add(client.id)
    # pairs waiting in the match preview from earlier runs hold both sides, in play or not
    in_play = {c.id for c in unlinked_clients}
    waiting_earlier: set[tuple[int, str]] = set()
    for work_id, qid in undecided:
        if ((work_id, qid) in rejected or work_id in links or work_id in linked_now or qid in by_qbo
                or accepted_by_client.get(work_id) not in (None, qid)):
            continue
        held_customers.add(qid)
        if work_id in in_play:
            held_clients.add(work_id)
            waiting_earlier.add((work_id, qid))
    # a customer linked in this run is offered to no other client; a client left without a candidate
    # is matched afresh next run
    pending_rows = [row for row in pending_rows if row[1] not in linked_qbo_now]
    held_customers -= linked_qbo_now
    offered_to = {row[0] for row in pending_rows} | {w for w, q in waiting_earlier if q not in linked_qbo_now}
    names = {**(client_names or {}), **{c.id: c.display_name for c in clients.values()}}
    for client in unlinked_clients:
        if client.id in linked_now or client.id in held_clients:
            continue
        taken = [qid for (work_id, qid) in rejected if work_id == client.id and qid in customers
                 and _same_qbo_name(str(customers[qid].get("DisplayName") or ""), client.display_name)]
        if taken and name_policy != "fix":
            actions.append(Action("hold", "customer", "to_qbo", client.id, None, {}, NAME_HELD_REASON,
                                  "display_name"))
            continue
        actions.append(Action("create", "customer", "to_qbo", client.id, None, {}, "new in WORK"))
    for customer in unlinked_customers:
        qid = str(customer["Id"])
        if qid in linked_qbo_now or qid in held_customers:
            continue
        namesakes = sorted(work_id for (work_id, rejected_qid) in rejected if rejected_qid == qid
                           and work_id in names and normalise_name(names[work_id])
                           == normalise_name(str(customer.get("DisplayName") or "")))
        if namesakes:
            whose = ", ".join(repr(names[w]) for w in namesakes)
            actions.append(Action("skip", "customer", "to_work", None, qid, {},
                                  f"kept in QuickBooks only: you said it is not the WORK client {whose} of the same "
                                  "name; rename one of the two to bring it into WORK"))
            continue
        actions.append(Action("create", "customer", "to_work", None, qid, {}, "new in QuickBooks"))
    for work_id in sorted(held_clients):
        reason = ("a weak or multiple match waits for confirmation in the match preview" if work_id in offered_to else
                  "its match was just linked to another client; it is matched afresh in the next run")
        actions.append(Action("hold", "customer", "both", work_id, None, {}, reason))
    return actions, pending_rows


#: Why a client the user said is not the QBO customer of its name waits under name_policy "report".
NAME_HELD_REASON = ("a customer of that name exists in QuickBooks; rename the client in WORK or choose fix "
                    "(the name policy: it is then sent with a suffix such as (2))")


def _same_qbo_name(a: str, b: str) -> bool:
    """QBO refuses a DisplayName already held, whatever its case."""
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


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
        when = datetime.fromisoformat(str(stamp))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None  # without an offset, the moment is unknown


def fix_name(name: str) -> str:
    """A name QBO accepts, for name_policy 'fix': trimmed, no colon, tab or new line, at most 490 characters."""
    text = " ".join(name.replace(":", " -").replace("\t", " ").replace("\n", " ").replace("\r", " ").split())
    return text[:490].rstrip() or "Unnamed client"


def _client_changes(client: Client, values: Mapping[str, Any]) -> dict[str, Any]:
    """WORK field changes from merged values keyed like ``email`` or ``billing.state``."""
    changes: dict[str, Any] = {}
    addresses: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        if "." in key:
            group, name = key.split(".", 1)
            addresses.setdefault(group, {})[name] = "" if value is None else value
        elif key == "active":
            changes[key] = bool(value)
        else:
            changes[key] = "" if value is None else value
    for group, parts in addresses.items():
        current: Address = getattr(client, group)
        changes[group] = replace(current, **parts)
    return changes


# ============================================================================== the stage
@dataclass
class CustomerPlan:
    actions: list[Action]
    server_time: datetime
    clients: dict[int, Client]
    customers: dict[str, dict[str, Any]]


class CustomerStage:
    """Plans and carries out the customer side of a run (see the module docstring)."""

    def __init__(self, ctx: RunContext, sender: Sender) -> None:
        self.ctx = ctx
        self.sender = sender

    # ------------------------------------------------------------------ planning
    def plan(self, initial: bool, since: datetime | None) -> CustomerPlan:
        ctx = self.ctx
        state = ctx.state
        server_time = datetime.now(UTC)
        if initial or since is None:
            links = state.links("customer")
            customers = {str(c["Id"]): c for c in ctx.query(select("Customer").include_inactive())}
            clients = {c.id: c for c in ctx.store.clients(include_inactive=True)}
        else:
            # one CDC request for the customers and, when the local mirror is kept, every entity it
            # mirrors: the mirror takes their changes from it (no second read; see qbo_toolkit.mirror)
            mirror = None if ctx.dry_run else Mirror(ctx.store, ctx.client)
            mirrored = mirror is not None and mirror.covers(since - CDC_OVERLAP)
            cdc = ctx.client.cdc(["Customer", *(MIRRORED if mirrored else ())], since - CDC_OVERLAP)
            if mirror is not None and mirrored:
                mirror.apply_cdc(cdc)
            server_time = cdc.server_time or server_time
            customers = {str(c["Id"]): c for c in (as_dict(o) for o in cdc.objects.get("Customer", ()))}
            changed = {c.id: c for c in ctx.store.changed_clients(int(state.get_value("work_revision", 0)))}
            waiting = set(state.get_value("pending:customer", []))
            waiting |= ctx.unblocked_records("customer", "customer")
            choices = state.matches("accepted") + state.matches("rejected")
            asked = state.matches("pending")  # their links say whether a pair still holds both sides
            # the links of the records in play only: a run that finds little to do reads little
            links = state.links("customer", work_ids=[*changed, *waiting, *(c["work_id"] for c in choices),
                                                      *(int(m["work_id"]) for m in asked)],
                                qbo_ids=[*customers, *(c["qbo_id"] for c in choices),
                                         *(str(m["qbo_id"]) for m in asked)])
            by_qbo = {link.qbo_id: link for link in links.values()}
            # matches the user decided since the last run: both sides come back into play
            # (and a customer rejected by a client changed since: renamed, it may now come into WORK)
            for choice in choices:
                in_play = choice["work_id"] not in links or (choice["status"] == "rejected"
                                                             and int(choice["work_id"]) in changed)
                if in_play:
                    if choice["work_id"] not in links:
                        waiting.add(int(choice["work_id"]))
                    if choice["qbo_id"] not in by_qbo and choice["qbo_id"] not in customers:
                        customers[str(choice["qbo_id"])] = ctx.read("Customer", str(choice["qbo_id"]))
            for work_id in waiting:
                client = ctx.store.get_client(int(work_id))
                if client is not None:
                    changed[client.id] = client
            clients = changed
            # a linked client changed in WORK whose customer did not change in QBO: merge against the base
            # (QBO still holds what was synced); a customer changed in QBO whose client did not change
            for qbo_id in list(customers):
                link = by_qbo.get(qbo_id)
                if link is not None and link.work_id not in clients:
                    if str(customers[qbo_id].get("SyncToken")) == link.sync_token:
                        continue  # the CDC overlap: this version was synced already, nothing new on either side
                    client = ctx.store.get_client(link.work_id)
                    if client is not None:
                        clients[client.id] = client
        decided = {int(m["work_id"]): str(m["qbo_id"]) for m in state.matches("accepted")}
        rejected = {(int(m["work_id"]), str(m["qbo_id"])) for m in state.matches("rejected")}
        undecided = {(int(m["work_id"]), str(m["qbo_id"])) for m in state.matches("pending")}
        names: dict[int, str] = {}
        for work_id in sorted({w for w, _ in rejected} - set(clients)):
            rejecting = ctx.store.get_client(work_id)
            if rejecting is not None:
                names[work_id] = rejecting.display_name
        actions, pending_rows = plan_customers(
            clients, customers, links, dismissed=state.dismissed("customer") if clients else set(),
            accepted=decided, rejected=rejected, accept_weak=ctx.settings.accept_weak_matches,
            policy=ctx.settings.conflict_policy, default_state=self._default_state(), undecided=undecided,
            client_names=names, name_policy=ctx.settings.name_policy)
        if pending_rows and not ctx.dry_run:
            state.save_matches(pending_rows)
        return CustomerPlan(actions, server_time, clients, customers)

    def _default_state(self) -> str | None:
        """The company's default state when "use default state when blank" is on."""
        company = self.ctx.store.company() if self.ctx.settings.use_default_state else None
        return company.default_state if company is not None and company.default_state else None

    def _plan_merge(self, client: Client, customer: dict[str, Any] | None, link: Link) -> list[Action]:
        return plan_customer_merge(client, customer, link, policy=self.ctx.settings.conflict_policy,
                                   default_state=self._default_state())

    # ------------------------------------------------------------------ acting
    def act(self, plan: CustomerPlan) -> None:
        ctx = self.ctx
        ctx.actions.extend(plan.actions)
        creates_to_qbo = [a for a in plan.actions if a.kind == "create" and a.direction == "to_qbo"]
        for action in plan.actions:
            ctx.check()
            if action.kind == "hold":
                with ctx.begin() if not ctx.dry_run and action.field else nullcontext() as conn:
                    # a hold the user must act on (a name QBO holds) is logged, so the screens can show it
                    ctx.note(conn, entity="customer", direction=action.direction, action="hold", outcome="held",
                             work_id=action.work_id, field=action.field, message=action.reason)
            elif action.kind == "link":
                self._link_pair(action, plan)
            elif action.kind == "create" and action.direction == "to_work":
                self._create_client(plan.customers[str(action.qbo_id)], action)
            elif action.kind in ("update", "rebase"):
                self._apply_merge(action, plan)
        # creations in QBO: parents before their sub-customers
        remaining = creates_to_qbo
        for _ in range(3):
            if not remaining:
                break
            parents = {plan.clients[int(a.work_id or 0)].parent_id for a in remaining}
            links = ctx.state.links("customer", work_ids=[p for p in parents if p is not None])  # of the parents
            ready = [a for a in remaining if self._parent_ready(plan.clients[int(a.work_id or 0)], links)]
            if not ready:
                break
            self._create_customers(ready, plan.clients, links)
            sent = {id(a) for a in ready}
            remaining = [a for a in remaining if id(a) not in sent]
        for action in remaining:
            parent_id = plan.clients[int(action.work_id or 0)].parent_id
            ctx.fail("customer", "to_qbo", "create", action.work_id,
                     f"client {action.work_id}: its parent client {parent_id} is not in QuickBooks yet (it will be "
                     "sent once the parent is)", field="parent_id", blocked_by=f"customer:{parent_id}")

    def _parent_ready(self, client: Client, links: Mapping[int, Link]) -> bool:
        return client.parent_id is None or client.parent_id in links or self.ctx.dry_run

    def _link_pair(self, action: Action, plan: CustomerPlan) -> None:
        ctx = self.ctx
        work_id, qbo_id = int(action.work_id or 0), str(action.qbo_id)
        client, customer = plan.clients[work_id], plan.customers[qbo_id]
        link = Link("customer", work_id, qbo_id, str(customer.get("SyncToken", "0")), 0, None, None, None, "active")
        if ctx.dry_run:
            ctx.assume("customer", work_id, qbo_id)
            ctx.note(None, entity="customer", direction="both", action="link", outcome="ok", work_id=work_id,
                     qbo_id=qbo_id, message=action.reason)
            return
        with ctx.begin() as conn:
            ctx.state.save_link(conn, "customer", work_id, qbo_id, sync_token=link.sync_token,
                                work_version=client.version)
            ctx.note(conn, entity="customer", direction="both", action="link", outcome="ok", work_id=work_id,
                     qbo_id=qbo_id, message=f"linked {client.display_name!r}: {action.reason}")
        for follow in self._plan_merge(client, customer, replace(link, base=None)):
            self._apply_merge(follow, plan, quiet=True)

    def _update_key(self, client: Client, token: str) -> str:
        return record_key("customer", client.id, client.version, f"update@{token}")

    def _apply_merge(self, action: Action, plan: CustomerPlan, *, quiet: bool = False) -> None:
        ctx = self.ctx
        work_id, qbo_id = int(action.work_id or 0), str(action.qbo_id)
        client = plan.clients[work_id]
        if action.kind == "rebase":
            if not ctx.dry_run:
                values = action.fields["values"]
                with ctx.begin() as conn:
                    link = ctx.state.links("customer", conn, work_ids=[work_id])[work_id]
                    ctx.state.save_link(conn, "customer", work_id, qbo_id, sync_token=action.fields["token"],
                                        work_version=client.version, base=values,
                                        fingerprint=cmap.fingerprint(values), qbo_name=link.qbo_name)
            return
        outcome = action.fields["merge"]
        token = action.fields["token"]
        controls = cmap.control_problems(outcome.values, str(work_id), keys=outcome.to_qbo) if outcome.to_qbo else []
        if controls:  # a NUL, an escape, ... is never sent (the name is shown escaped)
            for p in controls:
                ctx.fail("customer", "to_qbo", "update", work_id, f"client {work_id} ({client.display_name!r}): "
                         f"{p.message}", qbo_id=qbo_id, field=p.field)
            return
        bad_states = cmap.state_problems(outcome.values, str(work_id), keys=outcome.to_qbo) if outcome.to_qbo else []
        if bad_states:  # QBO would take it, and its sales tax would then have no state to go by
            for p in bad_states:
                ctx.fail("customer", "to_qbo", "update", work_id, f"client {work_id} ({client.display_name}): "
                         f"{p.message}", qbo_id=qbo_id, field=p.field)
            return
        if outcome.to_work:  # a value WORK refuses (a control character): this client fails before
            # anything is sent, the run goes on
            try:
                validate_client({"display_name": "-", **_client_changes(client, outcome.to_work)},
                                label=f"client {work_id} ({client.display_name!r})")
            except WorkDataError as exc:
                ctx.fail("customer", "to_work", "update", work_id, f"{exc.message} (from QuickBooks: correct it "
                         "there)", qbo_id=qbo_id, field=exc.field)
                return
        conflict_text = "; ".join(f"{c.field}: WORK {c.work_value!r} vs QuickBooks {c.qbo_value!r}, kept {c.winner}"
                                  for c in outcome.conflicts)
        if ctx.dry_run:
            ctx.note(None, entity="customer", direction="both", action="update", outcome="ok", work_id=work_id,
                     qbo_id=qbo_id, message=action.reason)
            return
        new_token = token
        if outcome.to_qbo:
            fields = cmap.sparse_customer_fields(outcome.values, outcome.to_qbo)
            key = self._update_key(client, token)
            try:
                updated = ctx.client.sparse_update("Customer", qbo_id, token, fields, request_id=ctx.request_id(key),
                                                   record=f"client {work_id}")
                new_token = str(as_dict(updated).get("SyncToken", token))
            except StaleObject:
                fresh = ctx.read("Customer", qbo_id)
                retry = self._plan_merge(client, fresh, ctx.state.links("customer", work_ids=[work_id])[work_id])
                if retry and retry[0].kind == "update":
                    r_outcome = retry[0].fields["merge"]
                    key = self._update_key(client, str(fresh["SyncToken"]))
                    try:
                        fields = cmap.sparse_customer_fields(r_outcome.values, r_outcome.to_qbo)
                        updated = ctx.client.sparse_update("Customer", qbo_id, str(fresh["SyncToken"]), fields,
                                                           request_id=ctx.request_id(key), record=f"client {work_id}")
                        new_token = str(as_dict(updated).get("SyncToken"))
                        outcome = r_outcome
                    except QboError as err:
                        text, element = ctx.error_text(err, f"client {work_id} ({client.display_name})")
                        ctx.fail("customer", "to_qbo", "update", work_id, text, qbo_id=qbo_id, field=element,
                                 pending=err.retryable, refused_key=key)
                        return
            except QboError as err:
                text, element = ctx.error_text(err, f"client {work_id} ({client.display_name})")
                if err.code == "6220":
                    text = (f"client {work_id} ({client.display_name}) is inactive in WORK but cannot be deactivated "
                            "in QuickBooks: the customer has an open balance there")
                    element = "active"
                ctx.fail("customer", "to_qbo", "update", work_id, text, qbo_id=qbo_id, field=element,
                         pending=err.retryable, refused_key=key)
                return
        with ctx.begin() as conn:
            if outcome.to_work:
                changes = _client_changes(client, outcome.to_work)
                client = ctx.store.update_client(work_id, conn=conn, **changes)
            current = ctx.state.links("customer", conn, work_ids=[work_id]).get(work_id)
            ctx.state.save_link(conn, "customer", work_id, qbo_id, sync_token=new_token,
                                work_version=client.version, base=outcome.values,
                                fingerprint=cmap.fingerprint(outcome.values),
                                qbo_name=current.qbo_name if current else None)
            where = [f"to QuickBooks: {', '.join(sorted(outcome.to_qbo))}" if outcome.to_qbo else "",
                     f"to WORK: {', '.join(sorted(outcome.to_work))}" if outcome.to_work else ""]
            message = "; ".join(w for w in where if w)
            if quiet:  # the follow-up of a link: logged, but the link already counted as this record's progress
                if outcome.changed:
                    ctx.state.record(conn, ctx.run_id, entity="customer", direction="both", action="update",
                                     outcome="ok", work_id=work_id, qbo_id=qbo_id, message=message)
            else:
                ctx.note(conn, entity="customer", direction="both", action="update", outcome="ok",
                         work_id=work_id, qbo_id=qbo_id, message=message)
            for conflict in outcome.conflicts:
                ctx.state.record(conn, ctx.run_id, entity="customer", direction="both", action="conflict",
                                 outcome="ok", work_id=work_id, qbo_id=qbo_id, field=conflict.field,
                                 message=f"changed on both sides ({ctx.settings.conflict_policy}): {conflict_text}")
            ctx.clear_pending(conn, "customer", work_id)

    def _create_client(self, customer: dict[str, Any], action: Action) -> None:
        ctx = self.ctx
        qbo_id = str(customer["Id"])
        default_state = self._default_state()
        fields = cmap.customer_to_client_fields(customer, default_state=default_state or None)
        try:  # a value WORK refuses (a control character): this customer fails, the run goes on
            validate_client(fields, label=f"QuickBooks customer {qbo_id} ({fields.get('display_name')!r})")
        except WorkDataError as exc:
            ctx.fail("customer", "to_work", "create", None, f"{exc.message} (correct it in QuickBooks)",
                     qbo_id=qbo_id, field=exc.field)
            return
        if ctx.dry_run:
            ctx.note(None, entity="customer", direction="to_work", action="create", outcome="ok", qbo_id=qbo_id,
                     message=f"create client {fields.get('display_name')!r}")
            return
        parent_qbo = (customer.get("ParentRef") or {}).get("value") if isinstance(customer.get("ParentRef"),
                                                                                 dict) else None
        with ctx.begin() as conn:
            if parent_qbo:
                parent_link = ctx.state.links("customer", conn, qbo_ids=[str(parent_qbo)])
                parent = next(iter(parent_link.values()), None)
                fields["parent_id"] = parent.work_id if parent else None
            client = ctx.store.add_client(conn=conn, **fields)
            values = cmap.client_values(client)
            ctx.state.save_link(conn, "customer", client.id, qbo_id, sync_token=str(customer.get("SyncToken", "0")),
                                work_version=client.version, base=values, fingerprint=cmap.fingerprint(values))
            ctx.note(conn, entity="customer", direction="to_work", action="create", outcome="ok",
                     work_id=client.id, qbo_id=qbo_id, message=f"created client {client.display_name!r}")

    def _qbo_name(self, client: Client, attempt: int = 1) -> tuple[str | None, str | None, str | None]:
        """(name to send, problem message, field) under the name policy."""
        problem = check_display_name(client.display_name)
        if problem is None:
            name = client.display_name
            return (suffixed_name(name, attempt) if attempt > 1 else name), None, None
        if self.ctx.settings.name_policy == "fix" and check_display_name(fix_name(client.display_name)) is None:
            fixed = fix_name(client.display_name)
            return (suffixed_name(fixed, attempt) if attempt > 1 else fixed), None, None
        return None, f"client {client.id}: {problem.message}", "display_name"  # the WORK field, not DisplayName

    def _create_customers(self, actions: Sequence[Action], clients: Mapping[int, Client],
                          links: Mapping[int, Link], attempt: int = 1) -> None:
        ctx = self.ctx
        ops: list[BatchOp] = []
        for action in actions:
            client = clients[int(action.work_id or 0)]
            problems = cmap.validate_client(client)
            problems = [p for p in problems if p.field != "display_name"]
            if problems:
                for p in problems:
                    ctx.fail("customer", "to_qbo", "create", client.id,
                             f"client {client.id} ({client.display_name}): {p.message}", field=p.field)
                continue
            name, problem, field_name = self._qbo_name(client, attempt)
            if name is None:
                ctx.fail("customer", "to_qbo", "create", client.id, str(problem), field=field_name)
                continue
            parent_link = links.get(client.parent_id) if client.parent_id is not None else None
            parent = parent_link.qbo_id if parent_link is not None else None
            if client.parent_id is not None and parent is None:
                parent = "0"  # dry run: the parent is planned in this same run
            payload = cmap.client_to_customer(client, parent_qbo_id=parent, display_name=name)
            if ctx.dry_run:
                ctx.assume("customer", client.id)
                ctx.note(None, entity="customer", direction="to_qbo", action="create", outcome="ok",
                         work_id=client.id, message=f"create customer {name!r}")
                continue
            ops.append(BatchOp("create", "Customer", payload,
                               record_key("customer", client.id, client.version, f"create{attempt}")))
        if not ops:
            return
        taken: list[BatchOp] = []

        def handle(op: BatchOp, res: BatchResult) -> None:
            if not res.ok and isinstance(res.error, DuplicateName):
                taken.append(op)  # ours from an earlier attempt, or someone else's: looked up once recorded
                return
            self.result(op, res)

        self.sender.send(ops, handle)
        if not taken:
            return
        found = self.find(taken)
        retry: list[Action] = []
        for op in taken:
            work_id = split_key(op.key)[1]
            if op.key in found:
                with ctx.recording():
                    self.result(op, ctx.adopted_result(op.key, found[op.key]))
            elif ctx.settings.name_policy == "fix" and attempt < 9:
                retry.append(Action("create", "customer", "to_qbo", work_id, None, {}, "name taken"))
            else:
                name = str(op.payload.get("DisplayName", ""))
                ctx.fail("customer", "to_qbo", "create", work_id,
                         f"client {work_id}: the name {name!r} is already used in QuickBooks by {self._holder(name)} "
                         "(active or not), which qbo-toolkit did not create for this client; rename the client, or "
                         "set name_policy to 'fix' to add a suffix", field="display_name", refused_key=op.key)
        if retry:
            self._create_customers(retry, clients, ctx.state.links("customer"), attempt + 1)

    def result(self, op: BatchOp, res: BatchResult) -> None:
        """Record QBO's answer to one customer create (inside the recording transaction, if any)."""
        ctx = self.ctx
        _, work_id, version, _ = split_key(op.key)
        name = str(op.payload.get("DisplayName", ""))
        if not res.ok:
            assert res.error is not None
            err = res.error
            if isinstance(err, DuplicateName):
                text = (f"client {work_id}: the name {name!r} is already used in QuickBooks by another customer, "
                        "vendor or employee (active or not); rename the client, or set name_policy to 'fix' to "
                        "add a suffix")
                ctx.fail("customer", "to_qbo", "create", work_id, text, field="display_name", refused_key=op.key)
            else:
                text, element = ctx.error_text(err, f"client {work_id} ({name})")
                ctx.fail("customer", "to_qbo", "create", work_id, text, field=element, pending=err.retryable,
                         refused_key=op.key)
            return
        customer = as_dict(res.obj)
        client = ctx.store.get_client(work_id, conn=ctx.tx)  # inside the recording transaction, if any
        with ctx.begin() as conn:
            values = cmap.client_values(client) if client is not None else {}
            qbo_name = name if client is not None and name != client.display_name else None
            ctx.state.save_link(conn, "customer", work_id, str(customer["Id"]),
                                sync_token=str(customer.get("SyncToken", "0")), work_version=version, base=values,
                                fingerprint=cmap.fingerprint(values), qbo_name=qbo_name)
            verb = "found (sent earlier, answer lost) and linked" if op.key in ctx.adopted else "created"
            message = f"{verb} customer {name!r}"
            if qbo_name:
                message += f" (WORK name {client.display_name!r} changed as name_policy 'fix' says)" if client else ""
            ctx.note(conn, entity="customer", direction="to_qbo", action="create", outcome="ok", work_id=work_id,
                     qbo_id=str(customer["Id"]), field="display_name" if qbo_name else None, message=message)
            ctx.clear_pending(conn, "customer", work_id)

    # ------------------------------------------------------------------ finding its own
    def _holder(self, name: str) -> str:
        """Who holds a DisplayName in QBO (customers, vendors and employees share them)."""
        ctx = self.ctx
        for entity in ("Customer", "Vendor", "Employee"):
            try:
                found = ctx.client.find_by_name(entity, "DisplayName", name)
            except QboError:
                continue
            if found is not None:
                qbo_id = str(as_dict(found).get("Id"))
                linked = ctx.state.links("customer", qbo_ids=[qbo_id]) if entity == "Customer" else {}
                whose = f" (linked to WORK client {next(iter(linked))})" if linked else ""
                return f"{entity.lower()} {qbo_id}{whose}"
        return "another customer, vendor or employee"

    def find(self, ops: Sequence[BatchOp]) -> dict[str, dict[str, Any]]:
        """The customers these creates made, if QBO has them: one of the name that was sent, not
        linked to another client, holding exactly the values that were sent."""
        ctx = self.ctx
        names = {op.key: str(op.payload.get("DisplayName", "")) for op in ops}
        found_by_name = ctx.find_by_names("Customer", "DisplayName", [n for n in names.values() if n])
        candidates = {name: as_dict(obj) for name, obj in found_by_name.items()}
        linked = ctx.state.links("customer", qbo_ids=[str(c["Id"]) for c in candidates.values()])
        owner = {link.qbo_id: link.work_id for link in linked.values()}
        rejected = {(int(m["work_id"]), str(m["qbo_id"])) for m in ctx.state.matches("rejected")}
        out: dict[str, dict[str, Any]] = {}
        for op in ops:
            customer = candidates.get(names[op.key])
            if customer is None or (split_key(op.key)[1], str(customer["Id"])) in rejected:
                continue  # a customer the user said is not this client is never adopted as its own
            holder = owner.get(str(customer["Id"]))
            if holder is not None and holder != split_key(op.key)[1]:
                continue
            if cmap.values_agree(cmap.customer_values(customer), cmap.customer_values(op.payload)):
                out[op.key] = customer
        return out
