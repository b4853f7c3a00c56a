"""The settings checked against the connected company before a run writes anything.

:func:`check_settings` reads the company's chart of accounts once (inactive accounts included:
``Active IN (true, false)``), resolves each chosen account (``revenue_account``, ``item_account``,
``deposit_account``; by Id, or by Name / FullyQualifiedName, case-insensitive) with
:meth:`~qbo_toolkit.settings.Settings.resolve_accounts`, and either returns a :class:`Preflight`
(the settings with every account as its Id, and one sentence per account for the run record and
the activity log: "revenue_account 'Services' is account 1 Services (Income)"), or raises
:class:`~qbo_toolkit.settings.SettingsError` whose sentences name the setting, its label on the
settings screen and what to choose ("revenue_account ("Send invoice information to"): QuickBooks
has no account named 'Servces'; did you mean Services?").

The engine calls it before it takes the lease and records the run, dry runs included (so the
preview says it too); settings that sync no invoices name no account and cost no request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..qbo.client import QboClient
from ..qbo.query import select
from ..settings import ACCOUNT_SETTINGS, Settings, SettingsError
from .context import as_dict

__all__ = ["Preflight", "ResolvedAccount", "check_settings", "company_accounts"]


@dataclass(frozen=True)
class ResolvedAccount:
    """One account setting as the company holds it."""

    key: str  # revenue_account
    label: str  # Send invoice information to
    chosen: str  # what the settings say: "Services" or "1"
    id: str
    name: str
    type: str

    def sentence(self) -> str:
        return f"{self.key} {self.chosen!r} is account {self.id} {self.name} ({self.type})"

    def as_dict(self) -> dict[str, str]:
        return {"chosen": self.chosen, "id": self.id, "name": self.name, "type": self.type}


@dataclass(frozen=True)
class Preflight:
    """What the check found: ``settings`` with each account as its Id, and the accounts resolved."""

    settings: Settings
    accounts: tuple[ResolvedAccount, ...] = ()
    #: every account's name by Id (to name the account an existing item posts to)
    names: Mapping[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        return [a.sentence() for a in self.accounts]

    def as_dict(self) -> dict[str, dict[str, str]]:
        return {a.key: a.as_dict() for a in self.accounts}

    def account(self, key: str) -> ResolvedAccount | None:
        return next((a for a in self.accounts if a.key == key), None)


def company_accounts(client: QboClient) -> list[dict[str, Any]]:
    """Every account of the company, inactive ones too, as QBO JSON-shaped dicts."""
    return [as_dict(row) for row in client.query_all(select("Account").include_inactive())]


def resolve(settings: Settings, accounts: Sequence[Mapping[str, Any]]) -> Preflight:
    """The pure half of :func:`check_settings`: the chart given."""
    found, problems = settings.resolve_accounts(accounts)
    if problems:
        raise SettingsError([f"The settings do not fit this QuickBooks company: {p}" if i == 0 else p
                             for i, p in enumerate(problems)])
    resolved: list[ResolvedAccount] = []
    ids: dict[str, str] = {}
    for spec in ACCOUNT_SETTINGS:
        account = found.get(spec.key)
        if account is None:
            continue
        ids[spec.key] = str(account.get("Id"))
        resolved.append(ResolvedAccount(spec.key, spec.label, str(getattr(settings, spec.key)), ids[spec.key],
                                        str(account.get("Name") or ""), str(account.get("AccountType") or "")))
    names = {str(a.get("Id")): str(a.get("Name") or "") for a in accounts}
    chosen = replace(settings, revenue_account=ids.get("revenue_account", settings.revenue_account),
                     item_account=ids.get("item_account", settings.item_account),
                     deposit_account=ids.get("deposit_account", settings.deposit_account),
                     refund_account=ids.get("refund_account", settings.refund_account))
    return Preflight(chosen, tuple(resolved), names)


def check_settings(client: QboClient, settings: Settings) -> Preflight:
    """Check ``settings`` against the connected company (one query, none when no account is chosen)."""
    if not settings.account_settings():
        return Preflight(settings)
    return resolve(settings, company_accounts(client))
