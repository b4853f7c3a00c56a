"""Items: the WORK items the invoices to send use, found in QBO by name or created.

A found item keeps its own accounts; a created one gets the chosen revenue (income) account and
item (expense) account. Lines without an item go to the default item "Services". Items are few and
created one by one, each with its record's idempotency key (:mod:`.keys`); a name QBO already has
is found before anything is created, so a lost answer is found again by the next run.
"""

from __future__ import annotations

from ..errors import QboError
from ..mapping import invoices as imap
from .context import RunContext, as_dict
from .keys import record_key, request_id

__all__ = ["ItemStage"]


class ItemStage:
    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def run(self) -> dict[int | None, str]:
        """QBO item ids by WORK item id (``None``: the default item for lines without one)."""
        ctx = self.ctx
        settings = ctx.settings
        links = ctx.state.links("item")
        out: dict[int | None, str] = {wid: link.qbo_id for wid, link in links.items()}
        default = ctx.state.get_value("default_item")
        if default is None:
            found = ctx.client.find_by_name("Item", "Name", "Services")
            if found is not None:
                default = str(as_dict(found)["Id"])
            elif not ctx.dry_run:
                created = ctx.client.create_from("Item", {
                    "Name": "Services", "Type": "Service", "IncomeAccountRef": {"value": settings.revenue_account},
                    "ExpenseAccountRef": {"value": settings.item_account}},
                    request_id=request_id(ctx.realm, "item:0:0:default"))
                default = str(as_dict(created)["Id"])
            if default is not None and not ctx.dry_run:
                with ctx.begin() as conn:
                    ctx.state.set_value(conn, "default_item", default)
        out[None] = str(default or "0")
        items = [item for item in ctx.store.items() if item.id not in links]
        found_by_name = ctx.find_by_names("Item", "Name", [item.name for item in items])
        for item in items:
            ctx.check()
            found = found_by_name.get(item.name)
            if found is not None:
                qbo = as_dict(found)
            elif ctx.dry_run:
                out[item.id] = "0"
                continue
            else:
                payload = imap.item_to_qbo(item, income_account_id=str(settings.revenue_account),
                                           expense_account_id=settings.item_account)
                key = record_key("item", item.id, item.version, "create")
                try:
                    qbo = as_dict(ctx.client.create_from("Item", payload, request_id=ctx.request_id(key),
                                                         record=f"item {item.id}"))
                except QboError as err:
                    text, element = ctx.error_text(err, f"item {item.id} ({item.name})")
                    ctx.fail("item", "to_qbo", "create", item.id, text, field=element, pending=err.retryable,
                             refused_key=key)
                    continue
            out[item.id] = str(qbo["Id"])
            if not ctx.dry_run:
                with ctx.begin() as conn:
                    ctx.state.save_link(conn, "item", item.id, str(qbo["Id"]),
                                        sync_token=str(qbo.get("SyncToken", "0")), work_version=item.version)
                    ctx.clear_pending(conn, "item", item.id)  # an earlier attempt's failure is over
        return out
