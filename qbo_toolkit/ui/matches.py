"""The match preview: weak and multiple customer matches, accepted or rejected one by one.

Before the first sync creates anything, WORK clients are matched with the QuickBooks customers that
are already there (:func:`qbo_toolkit.mapping.matching.match_customers`, the function the engine
uses). Exact matches link by themselves. A *weak* match (same name, nothing else in common; or a
close name) and a *multiple* match (two clients called "Bill's Windsurf Shop", one customer) wait
for a person: **Accept** links that client to that customer; **Reject** means "not the same".
Until decided, neither side is created: the client is not sent to QuickBooks and the customer is
not brought into WORK. After Reject the client goes to QuickBooks as a new customer under the name
setting (with "fix it", a suffix such as "(2)"; with "report it and wait", it waits, with the reason
shown on its row, until the client is renamed in WORK or the setting changed), and the rejected
customer is not brought into WORK as a second client of the same name (see
:mod:`qbo_toolkit.sync.customers` for the rules).

:func:`find_matches` records the waiting pairs in the sync state exactly as the engine's first run
would (``SyncState.save_matches``, which keeps earlier decisions), so the decisions made here are the
ones that first run honours. The engine's dry run plans the same holds but does not record them
(it writes nothing); once it does, this module can list them from :func:`qbo_toolkit.sync.api.match_preview`
alone. Later, the status screen shows the same panel for matches still waiting.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets

from ..connection import Connection
from ..sync.api import confirm_match, customers, match_preview
from ..sync.api import find_matches as sync_find_matches
from ..sync.state import SyncState
from ..work.store import WorkStore
from .common import AppContext, Guard, button, css, replace_children, set_visible

__all__ = ["MatchController", "MatchPanel", "MatchRow", "find_matches"]


@dataclass(frozen=True)
class MatchRow:
    """One candidate pairing of a WORK client with a QBO customer."""

    work_id: int
    qbo_id: str
    kind: str  # weak | multiple
    score: float
    reason: str
    status: str  # pending | accepted | rejected
    client_name: str
    customer_name: str
    note: str = ""  # what happened since the decision, when it needs the user (a name QuickBooks holds)
    client_detail: str = ""  # e-mail, phone, city: what tells two clients of one name apart
    customer_detail: str = ""


def _path(record: Mapping[str, Any], *keys: str) -> str:
    value: Any = record
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else None
    return str(value or "")


def _detail(email: str, phone: str, city: str) -> str:
    """What tells two records of one name apart, in the user's terms (never an internal id)."""
    return ", ".join(part for part in (email, phone, city) if part) or "no e-mail, phone or city"


def find_matches(store: WorkStore, conn: Connection) -> dict[str, str]:
    """The sync's own matching (``qbo_toolkit.sync.api.find_matches``); the screen only shows it."""
    return sync_find_matches(store, conn)


class MatchController:
    """The waiting matches and the decisions on them; no widgets."""

    def __init__(self, ctx: AppContext, *, on_change: Callable[[], None] | None = None) -> None:
        self.ctx = ctx
        self.on_change = on_change
        self.rows: list[MatchRow] = []
        self._customer_names: dict[str, str] = {}
        self._customer_details: dict[str, str] = {}
        self._shown: set[int] = set()  # WORK ids listed in this session: decided ones stay visible

    def find(self) -> list[MatchRow]:
        """Match before the first sync and list what waits for a decision."""
        self._customer_names.update(find_matches(self.ctx.store, self.ctx.live()))
        return self.reload()

    def reload(self) -> list[MatchRow]:
        """The pending matches, plus the ones decided while this panel was open (so a decision shows)."""
        conn = self.ctx.live()
        state = SyncState(self.ctx.store, conn.realm_id)
        links = state.links("customer")
        taken = {link.qbo_id for link in links.values()}
        # a pairing is moot once the client is linked, or its customer was linked to another client
        pending = [m for m in match_preview(store=self.ctx.store, realm=conn.realm_id)
                   if int(m["work_id"]) not in links and str(m["qbo_id"]) not in taken]
        self._shown |= {int(m["work_id"]) for m in pending}
        rows = [m for m in state.matches() if int(m["work_id"]) in self._shown
                and not (m["status"] == "pending" and str(m["qbo_id"]) in taken)]
        missing = {str(m["qbo_id"]) for m in rows} - set(self._customer_details)
        if missing:
            for c in customers(conn):
                self._customer_names[str(c.get("Id"))] = str(c.get("DisplayName") or "")
                self._customer_details[str(c.get("Id"))] = _detail(
                    _path(c, "PrimaryEmailAddr", "Address"), _path(c, "PrimaryPhone", "FreeFormNumber"),
                    _path(c, "BillAddr", "City"))
        rejected = {int(m["work_id"]) for m in rows if m["status"] == "rejected"} - set(links)
        notes = self._notes(state, rejected)
        self.rows = [self._row(m, notes) for m in rows]
        if self.on_change is not None:
            self.on_change()
        return self.rows

    def _row(self, m: Mapping[str, Any], notes: Mapping[int, str] | None = None) -> MatchRow:
        client = self.ctx.store.get_client(int(m["work_id"]))
        note = (notes or {}).get(int(m["work_id"]), "") if m["status"] == "rejected" else ""
        return MatchRow(int(m["work_id"]), str(m["qbo_id"]), str(m["kind"]), float(m["score"] or 0.0),
                        str(m["reason"] or ""), str(m["status"]), client.display_name if client else "",
                        self._customer_names.get(str(m["qbo_id"]), ""), note,
                        _detail(client.email, client.phone, client.billing.city) if client else "",
                        self._customer_details.get(str(m["qbo_id"]), ""))

    def _notes(self, state: SyncState, work_ids: set[int]) -> dict[int, str]:
        """The reason a rejected client still waits (its name is held in QuickBooks), from the last run."""
        last = next((r for r in state.runs(10) if not r["dry_run"]), None)  # a preview logs no holds
        if last is None or not work_ids:
            return {}
        held = state.activity(run_id=int(last["id"]), entity="customer", outcome="held")
        return {int(e.work_id): e.message for e in held if e.work_id in work_ids and e.field == "display_name"}

    @property
    def pending(self) -> list[MatchRow]:
        return [r for r in self.rows if r.status == "pending"]

    def decide(self, work_id: int, qbo_id: str, accept: bool) -> None:
        """Accept this pairing (the client's other candidates are rejected) or reject the client's
        candidates (it will be created as a new customer). Takes effect in the next sync."""
        confirm_match(work_id, qbo_id, accept=accept, store=self.ctx.store, realm=self.ctx.live().realm_id)
        self.reload()


class MatchPanel:
    """The list with Accept and Reject per row, and (before the first sync) a Continue button."""

    def __init__(self, controller: MatchController, guard: Guard, *, on_continue: Callable[[], None] | None = None,
                 title: str = "Check these matches before the first sync") -> None:
        self.controller = controller
        self.guard = guard
        self.title = widgets.HTML()
        self._title = title
        self.rows = css(widgets.VBox(), "qbo-match-rows")
        self.continue_button = button("Continue to the first sync", "qbo-matches-continue", button_style="primary")
        if on_continue is not None:
            self.continue_button.on_click(guard.callback(on_continue))
        set_visible(self.continue_button, on_continue is not None)
        self.widget = css(widgets.VBox([self.title, self.rows, self.continue_button]), "qbo-matches")
        controller.on_change = self.refresh
        self.refresh()

    def refresh(self) -> None:
        rows = self.controller.rows
        waiting = len(self.controller.pending)
        self.title.value = (
            f"<h4>{html.escape(self._title)}</h4><p>These WORK clients may already be QuickBooks customers. "
            "<b>Accept</b> links the two. <b>Reject</b> says they are different: the client goes to QuickBooks "
            "as a new customer (if the name is taken there, as your settings say: with a suffix such as (2), or "
            "it waits until you rename it), and the QuickBooks customer is not copied into WORK as a second "
            "client of the same name. Until you decide, neither is created on either side. "
            f"{waiting} waiting.</p>")
        replace_children(self.rows, [self._row_widget(row) for row in rows])

    def _row_widget(self, row: MatchRow) -> widgets.Widget:
        kind = "weak match" if row.kind == "weak" else "several candidates"
        status = {"pending": "waiting", "accepted": "✓ accepted", "rejected": "✗ rejected"}.get(row.status, row.status)
        text = widgets.HTML(
            f"<span class='qbo-match-text' style='display:block;white-space:normal;line-height:1.3'>"
            f"<b>{html.escape(row.client_name)}</b> in WORK ({html.escape(row.client_detail)}) ↔ "
            f"<b>{html.escape(row.customer_name)}</b> in QuickBooks ({html.escape(row.customer_detail)})<br>"
            f"<small style='color:#555'>{html.escape(kind)}: {html.escape(row.reason)}</small>"
            + (f"<br><small class='qbo-match-note' style='color:#b26a00'>Waiting: {html.escape(row.note)}</small>"
               if row.note else "") + "</span>",
            layout=widgets.Layout(width="60%"))
        state = css(widgets.HTML(f"<b>{html.escape(status)}</b>", layout=widgets.Layout(width="10em")),
                    "qbo-match-status")
        accept = button("Accept", "qbo-match-accept", button_style="success", disabled=row.status == "accepted")
        reject = button("Reject", "qbo-match-reject", disabled=row.status == "rejected")
        accept.on_click(self.guard.callback(self.controller.decide, row.work_id, row.qbo_id, True))
        reject.on_click(self.guard.callback(self.controller.decide, row.work_id, row.qbo_id, False))
        box = css(widgets.HBox([text, state, accept, reject]), "qbo-match-row", f"qbo-match-{row.work_id}-{row.qbo_id}")
        return box
