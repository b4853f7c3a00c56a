"""Items: the WORK items the invoices to send use, found in QBO by name or created.

A created item gets the chosen revenue (income) account and item (expense) account. Lines without
an item go to the default item "Services". Items are few and created one by one, each with its
record's idempotency key (:mod:`.keys`); a name QBO already has is found before anything is
created, so a lost answer is found again by the next run.

An item QBO already has (found by name, the default "Services" too) keeps its own accounts, which
may not be the one chosen in "Send invoice information to". That is never silent; the setting
``existing_items`` decides:

* ``ask`` (the default): the invoices whose lines use that item wait (they fail with one sentence
  naming the item, the account it posts to, the chosen one, and the setting to set), and are tried
  again each run, so they go once the setting is chosen;
* ``use_as_is``: post to the item as it is; the activity log says so once per item and account;
* ``own_item``: the toolkit finds or creates its own item, "Installation (qbo-toolkit)", on the
  chosen accounts, and uses it instead.

The id map keeps, for each item link, the income account the item had when linked and whether the
toolkit found it, created it, or made it as its own (``base``), so a run needs no read to decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import QboError
from ..mapping import invoices as imap
from ..work.models import Item
from .context import RunContext, as_dict
from .keys import record_key, request_id
from .state import Link

__all__ = ["DEFAULT_ITEM", "ItemStage"]

#: The item of invoice lines that name none.
DEFAULT_ITEM = "Services"


@dataclass(frozen=True)
class _Found:
    """A QBO item a WORK item (or the default, ``work_id`` None) resolves to."""

    qbo_id: str
    name: str
    income_account: str | None
    origin: str  # found | created | own


def _income(doc: dict[str, Any]) -> str | None:
    ref = doc.get("IncomeAccountRef") or {}
    value = ref.get("value") if isinstance(ref, dict) else None
    return str(value) if value not in (None, "") else None


class ItemStage:
    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        #: WORK item id (None: the default item) -> why invoices using it wait (``existing_items: ask``)
        self.held: dict[int | None, str] = {}

    # ------------------------------------------------------------------ sentences
    def _account(self, account_id: str | None) -> str:
        if not account_id:
            return "no income account"
        name = self.ctx.account_names.get(account_id)
        return f"{name} (account {account_id})" if name else f"account {account_id}"

    def _differs(self, found: _Found) -> bool:
        return found.origin == "found" and found.income_account != str(self.ctx.settings.revenue_account)

    def _held_text(self, label: str, found: _Found) -> str:
        chosen = self._account(str(self.ctx.settings.revenue_account))
        return (f"{label}: QuickBooks already has an item named {found.name!r} (item {found.qbo_id}), which posts "
                f"to {self._account(found.income_account)}, not to {chosen} chosen in 'Send invoice information "
                f"to'; the invoices using it wait. Choose in the settings: existing_items: use_as_is (post to "
                f"that item as it is) or own_item (the toolkit's own item {imap.own_item_name(found.name)!r} "
                f"on {chosen})")

    # ------------------------------------------------------------------ the stage
    def run(self) -> dict[int | None, str]:
        """QBO item ids by WORK item id (``None``: the default item for lines without one); the
        items whose invoices wait are in :attr:`held` (and not in the map)."""
        ctx = self.ctx
        links = ctx.state.links("item")
        out: dict[int | None, str] = {}
        default = self._default()
        if default is not None:
            self._decide(None, DEFAULT_ITEM, default, out, None)
        else:
            out[None] = "0"  # dry run: created by the real run
        items = [item for item in ctx.store.items() if item.id not in links]
        found_by_name = ctx.find_by_names("Item", "Name", [item.name for item in items])
        for item in ctx.store.items():
            ctx.check()
            link = links.get(item.id)
            if link is not None:
                found = self._linked(link)
            else:
                obj = found_by_name.get(item.name)
                if obj is not None:
                    doc = as_dict(obj)
                    found = _Found(str(doc["Id"]), str(doc.get("Name") or item.name), _income(doc), "found")
                    self._save(item, found)
                elif ctx.dry_run:
                    out[item.id] = "0"
                    continue
                else:
                    created = self._create(item, imap.item_to_qbo(
                        item, income_account_id=str(ctx.settings.revenue_account),
                        expense_account_id=ctx.settings.item_account), "create", f"item {item.id} ({item.name})")
                    if created is None:
                        continue
                    found = _Found(str(created["Id"]), item.name, _income(created), "created")
                    self._save(item, found)
            self._decide(item, item.name, found, out, link)
        return out

    def _decide(self, item: Item | None, name: str, found: _Found, out: dict[int | None, str],
                link: Link | None) -> None:
        """Use ``found`` for the WORK item, or apply ``existing_items`` when it posts elsewhere."""
        ctx = self.ctx
        key = item.id if item is not None else None
        label = f"item {name}" if item is not None else f"the default item {DEFAULT_ITEM} (lines without an item)"
        if not self._differs(found):
            out[key] = found.qbo_id
            return
        policy = ctx.settings.existing_items
        if policy == "use_as_is":
            out[key] = found.qbo_id
            self._as_is(label, found)
        elif policy == "own_item":
            own = self._own(item, name, label)
            if own is not None:
                out[key] = own.qbo_id
        else:
            self.held[key] = self._held_text(label, found)

    # ------------------------------------------------------------------ the default item
    def _default(self) -> _Found | None:
        """The default item: remembered, else found by name, else created (None in a dry run)."""
        ctx = self.ctx
        meta: dict[str, Any] = ctx.state.get_value("default_item_meta", {})
        default = ctx.state.get_value("default_item")
        if default is not None and meta.get("income_account") is not None:
            return _Found(str(default), str(meta.get("name") or DEFAULT_ITEM), meta.get("income_account"),
                          str(meta.get("origin") or "found"))
        doc: dict[str, Any] | None = None
        origin = "found"
        if default is not None:  # remembered by an older version, without its account: read it once
            doc = ctx.read("Item", str(default))
        else:
            obj = ctx.client.find_by_name("Item", "Name", DEFAULT_ITEM)
            if obj is not None:
                doc = as_dict(obj)
            elif not ctx.dry_run:
                doc = as_dict(ctx.client.create_from("Item", {
                    "Name": DEFAULT_ITEM, "Type": "Service",
                    "IncomeAccountRef": {"value": ctx.settings.revenue_account},
                    "ExpenseAccountRef": {"value": ctx.settings.item_account}},
                    request_id=request_id(ctx.realm, "item:0:0:default")))
                origin = "created"
        if doc is None:
            return None
        found = _Found(str(doc["Id"]), str(doc.get("Name") or DEFAULT_ITEM), _income(doc), origin)
        if not ctx.dry_run:
            with ctx.begin() as conn:
                ctx.state.set_value(conn, "default_item", found.qbo_id)
                ctx.state.set_value(conn, "default_item_meta", {"name": found.name, "origin": found.origin,
                                                                "income_account": found.income_account})
        return found

    # ------------------------------------------------------------------ links
    def _linked(self, link: Link) -> _Found:
        base = link.base or {}
        if "income_account" in base:
            return _Found(link.qbo_id, str(base.get("name") or ""), base.get("income_account"),
                          str(base.get("origin") or "found"))
        # linked by an older version, which kept no account: read the item once and remember it
        doc = self.ctx.read("Item", link.qbo_id)
        found = _Found(link.qbo_id, str(doc.get("Name") or ""), _income(doc), "found")
        if not self.ctx.dry_run:
            with self.ctx.begin() as conn:
                self.ctx.state.save_link(conn, "item", link.work_id, link.qbo_id, sync_token=link.sync_token,
                                         work_version=link.work_version, base=self._base(found))
        return found

    @staticmethod
    def _base(found: _Found) -> dict[str, Any]:
        return {"name": found.name, "income_account": found.income_account, "origin": found.origin}

    def _save(self, item: Item, found: _Found) -> None:
        ctx = self.ctx
        if ctx.dry_run:
            return
        with ctx.begin() as conn:
            ctx.state.save_link(conn, "item", item.id, found.qbo_id, sync_token="0",  # noqa: S106 - not a secret
                                work_version=item.version, base=self._base(found))
            ctx.clear_pending(conn, "item", item.id)  # an earlier attempt's failure is over

    def _create(self, item: Item | None, payload: dict[str, Any], verb: str, label: str) -> dict[str, Any] | None:
        """Create an item; a refusal fails the WORK item (None) with a sentence."""
        ctx = self.ctx
        work_id = item.id if item is not None else 0
        version = item.version if item is not None else 0
        key = record_key("item", work_id, version, verb)
        try:
            return as_dict(ctx.client.create_from("Item", payload, request_id=ctx.request_id(key), record=label))
        except QboError as err:
            text, element = ctx.error_text(err, label)
            if item is not None:
                ctx.fail("item", "to_qbo", "create", item.id, text, field=element, pending=err.retryable,
                         refused_key=key)
            else:
                self.held[None] = text
            return None

    # ------------------------------------------------------------------ the policies
    def _as_is(self, label: str, found: _Found) -> None:
        """``use_as_is``: say once (per item and account pair) that the item posts where it does."""
        ctx = self.ctx
        chosen = str(ctx.settings.revenue_account)
        text = (f"{label}: posted to QuickBooks item {found.name!r} (item {found.qbo_id}) as it is, which posts to "
                f"{self._account(found.income_account)}, not to {self._account(chosen)} chosen in 'Send invoice "
                "information to' (existing_items: use_as_is)")
        said: dict[str, str] = ctx.state.get_value("items_as_is", {})
        mark = f"{found.income_account}->{chosen}"
        if said.get(found.qbo_id) == mark:
            return
        ctx.notices.append(text)
        if ctx.dry_run:
            return
        with ctx.begin() as conn:
            ctx.state.record(conn, ctx.run_id, entity="item", direction="to_qbo", action="link", outcome="info",
                             qbo_id=found.qbo_id, message=text)
            said[found.qbo_id] = mark
            ctx.state.set_value(conn, "items_as_is", said)

    def _own(self, item: Item | None, name: str, label: str) -> _Found | None:
        """``own_item``: the toolkit's own item for ``name`` on the chosen accounts, found or created."""
        ctx = self.ctx
        own_name = imap.own_item_name(name)
        obj = ctx.client.find_by_name("Item", "Name", own_name)
        if obj is not None:
            doc = as_dict(obj)
            found = _Found(str(doc["Id"]), own_name, _income(doc), "own")
            if found.income_account != str(ctx.settings.revenue_account):
                self.held[item.id if item is not None else None] = (
                    f"{label}: the toolkit's own item {own_name!r} (item {found.qbo_id}) posts to "
                    f"{self._account(found.income_account)}, not to "
                    f"{self._account(str(ctx.settings.revenue_account))} chosen in 'Send invoice information to'; "
                    "change its income account in QuickBooks, then retry its invoices")
                return None
        elif ctx.dry_run:
            return _Found("0", own_name, str(ctx.settings.revenue_account), "own")
        else:
            if item is not None:
                payload = imap.item_to_qbo(item, income_account_id=str(ctx.settings.revenue_account),
                                           expense_account_id=ctx.settings.item_account, name=own_name)
            else:
                payload = {"Name": own_name, "Type": "Service",
                           "IncomeAccountRef": {"value": str(ctx.settings.revenue_account)},
                           "ExpenseAccountRef": {"value": str(ctx.settings.item_account)}}
            created = self._create(item, payload, "own", f"{label} (its own item {own_name!r})")
            if created is None:
                return None
            found = _Found(str(created["Id"]), own_name, _income(created), "own")
            ctx.notices.append(f"{label}: created the toolkit's own item {own_name!r} (item {found.qbo_id}) on "
                               f"{self._account(found.income_account)} (existing_items: own_item)")
        if not ctx.dry_run:
            if item is not None:
                self._save(item, found)
            else:
                with ctx.begin() as conn:
                    ctx.state.set_value(conn, "default_item", found.qbo_id)
                    ctx.state.set_value(conn, "default_item_meta", self._base(found))
        return found
