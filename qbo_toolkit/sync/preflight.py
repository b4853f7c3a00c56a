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

When the run sends sales documents (invoices, refunds) the check also reads the company itself
(:func:`company_facts`): its Preferences (``TaxPrefs.PartnerTaxEnabled``: US with Automated Sales
Tax; ``AccountingInfoPrefs.BookCloseDate``: the closed books) and, only when it is not an AST company,
its CompanyInfo country and TaxCodes. The ``tax:`` choice must fit the company (TAX/NON with the
explicit total on US companies; ``tax_codes`` with every mapped code an existing, active TaxCode on
UK, Canadian, Australian, ... companies); ``class``, ``department`` and the ``terms`` and
``payment_methods`` named in the settings must exist (by name or Id; each found one becomes its Id).
The demo's company (US, AST, nothing else chosen) costs one request more than the accounts: the
Preferences. Terms and payment methods that WORK uses without naming them in the settings go by
their own names and are resolved when a record needs them (:class:`NameResolver`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from ..errors import QboError
from ..mapping.addresses import country_code
from ..qbo.client import QboClient
from ..qbo.query import select
from ..settings import ACCOUNT_SETTINGS, CompanyFacts, Settings, SettingsError, TaxSettings
from ..yamlio import closest
from .context import as_dict

__all__ = ["NameResolver", "Preflight", "ResolvedAccount", "check_settings", "closed_books_sentence",
           "company_accounts", "company_facts", "first_open_date", "read_book_close_date", "refused_closing_date",
           "resolve_names"]


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
    #: sentences about the company (its kind of sales tax, its closed books, what a name resolved to)
    facts: tuple[str, ...] = ()

    @property
    def company(self) -> CompanyFacts | None:
        return self.settings.company

    def lines(self) -> list[str]:
        return [a.sentence() for a in self.accounts] + list(self.facts)

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
    """Check ``settings`` against the connected company (one query for the accounts, none when no
    account is chosen; the company's Preferences and lists when sales documents are sent)."""
    pre = resolve(settings, company_accounts(client)) if settings.account_settings() else Preflight(settings)
    if not (settings.invoices or settings.refunds):
        return pre
    return check_company(client, pre)


# ------------------------------------------------------------------------------------------------------
# the company: its kind of sales tax, its closed books, its lists
# ------------------------------------------------------------------------------------------------------

#: How each kind of company is described in the run's record.
_KIND_TEXT = {
    "us-ast": "a US company with Automated Sales Tax: lines go as TAX or NON with WORK's tax amount as the total",
    "us-manual": "a US company with manual sales tax: one tax code per invoice (tax.codes or tax.invoice_code), "
                 "WORK's tax amount as the total",
    "non-us": "outside the US ({country}): each line's WORK tax rate goes as the QuickBooks tax code it maps to "
              "(tax.codes) and QuickBooks computes the tax",
}


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() == "true"


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value or "").strip()[:10]) if str(value or "").strip() else None
    except ValueError:
        return None


def company_facts(client: QboClient) -> tuple[CompanyFacts, list[dict[str, Any]]]:
    """The company as a sync needs it, and its TaxCodes (read only when it is not an AST company):
    Preferences (one query); CompanyInfo and TaxCode when ``PartnerTaxEnabled`` is not true."""
    rows = [as_dict(row) for row in client.query(select("Preferences"))]
    prefs = rows[0] if rows else {}
    tax = prefs.get("TaxPrefs") or {}
    closed = _date((prefs.get("AccountingInfoPrefs") or {}).get("BookCloseDate"))
    if _truthy(tax.get("PartnerTaxEnabled")):  # AST exists only for US companies
        return CompanyFacts("us-ast", "US", closed), []
    info = as_dict(client.company_info())
    written = str(info.get("Country") or (info.get("CompanyAddr") or {}).get("Country") or "")
    country = country_code(written) or written.strip().upper() or "US"
    codes = [as_dict(row) for row in client.query_all(select("TaxCode"))]
    names = {str(c.get("Id")): str(c.get("Name") or "") for c in codes}
    kind = "us-manual" if country == "US" else "non-us"
    return CompanyFacts(kind, country, closed, names), codes


def resolve_names(rows: Sequence[Mapping[str, Any]], wanted: Mapping[str, str], *, setting: str, what: str,
                  active_only: bool = True) -> tuple[dict[str, str], list[str]]:
    """``wanted`` ({key: QBO name or Id}) as {key: Id} against ``rows`` (QBO list entries with Id, Name
    and Active); a sentence per value that names no active entry, with the closest name."""
    live = [r for r in rows if not active_only or r.get("Active") not in (False, "false", "False")]
    by_id = {str(r.get("Id")): r for r in live}
    by_name: dict[str, list[Mapping[str, Any]]] = {}
    for r in live:
        by_name.setdefault(str(r.get("Name") or "").strip().casefold(), []).append(r)
    found: dict[str, str] = {}
    problems: list[str] = []
    names = sorted(str(r.get("Name") or "") for r in live)
    for key, value in wanted.items():
        chosen = str(value).strip()
        row = by_id.get(chosen)
        if row is None:
            named = by_name.get(chosen.casefold(), [])
            row = named[0] if len(named) == 1 else None
            if len(named) > 1:
                problems.append(f"{setting}: {len(named)} {what}s are named {chosen!r}; give the Id instead")
                continue
        if row is None:
            guess = closest(chosen, names)
            hint = f"did you mean {guess}?" if guess else f"the company has {', '.join(names) or 'none'}"
            where = f"{setting} ({key!r})" if key else setting
            problems.append(f"{where}: QuickBooks has no active {what} {chosen!r}; {hint}")
            continue
        found[key] = str(row.get("Id"))
    return found, problems


def check_company(client: QboClient, pre: Preflight) -> Preflight:
    """The company part of :func:`check_settings` (``pre``: the accounts already resolved)."""
    settings = pre.settings
    facts, codes = company_facts(client)
    problems: list[str] = []
    lines: list[str] = [f"company: {_KIND_TEXT[facts.kind].format(country=facts.country)}"]
    tax = settings.tax
    names = sorted(str(c.get("Name") or "") for c in codes if c.get("Active") not in (False, "false"))
    if facts.kind == "us-ast" and tax.mode == "tax_codes":
        problems.append("tax.mode is tax_codes, but this QuickBooks company is in the US with Automated Sales Tax, "
                        "which takes only TAX or NON on a line: set tax.mode: explicit_total")
    if facts.kind == "non-us" and tax.mode != "tax_codes":
        problems.append(f"tax.mode is {tax.mode}, but this QuickBooks company is outside the US ({facts.country}) and "
                        "refuses TAX/NON: set tax.mode: tax_codes and map each WORK tax rate to one of its tax codes "
                        f"under tax.codes ({', '.join(names) or 'it has none'})")
    elif facts.kind == "non-us" and not tax.codes:
        problems.append(f"tax.codes is empty: this QuickBooks company ({facts.country}) needs a tax code on every "
                        f"line; map each WORK tax rate to one of its tax codes ({', '.join(names) or 'it has none'}), "
                        "such as \"VAT 20%\": \"20.0% S\"")
    resolved_tax = tax
    if facts.kind != "us-ast" and (tax.codes or tax.invoice_code):
        ids, found_problems = resolve_names(codes, tax.codes, setting="tax.codes", what="tax code")
        problems += found_problems
        invoice_code = tax.invoice_code
        if invoice_code:
            one, more = resolve_names(codes, {"": invoice_code}, setting="tax.invoice_code", what="tax code")
            problems += more
            invoice_code = one.get("", invoice_code)
        resolved_tax = TaxSettings(tax.mode, {k: ids.get(k, v) for k, v in tax.codes.items()}, invoice_code)
        lines += [f"tax.codes: WORK tax rate {k!r} is tax code {facts.tax_codes.get(i, i)} (Id {i})"
                  for k, i in ids.items()]
    chosen: dict[str, Any] = {"tax": resolved_tax, "company": facts}
    for key, entity, what in (("class_", "Class", "class"), ("department", "Department", "department")):
        value = getattr(settings, key)
        if not value:
            continue
        rows = [as_dict(r) for r in client.query_all(select(entity))]
        setting = key.rstrip("_")
        one, more = resolve_names(rows, {"": value}, setting=setting, what=what)
        problems += more
        if "" in one:
            chosen[key] = one[""]
            lines.append(f"{setting} {value!r} is QuickBooks {what} {one['']}")
    for key, entity, what in (("terms", "Term", "term"), ("payment_methods", "PaymentMethod", "payment method")):
        wanted = getattr(settings, key)
        if not wanted:
            continue
        rows = [as_dict(r) for r in client.query_all(select(entity))]
        ids, more = resolve_names(rows, wanted, setting=key, what=what)
        problems += more
        chosen[key] = {k: ids.get(k, v) for k, v in wanted.items()}
    if facts.book_close_date is not None:
        then = ("they wait until the period is reopened (closed_period: wait)" if settings.closed_period == "wait"
                else "they are posted on the next day with a memo (closed_period: first_open_date)")
        lines.append(f"QuickBooks' books are closed up to {facts.book_close_date.isoformat()}: records dated on or "
                     f"before it are not sent; {then}")
    if problems:
        raise SettingsError([f"The settings do not fit this QuickBooks company: {p}" if i == 0 else p
                             for i, p in enumerate(problems)])
    return replace(pre, settings=replace(settings, **chosen), facts=tuple(lines))


class NameResolver:
    """WORK terms or payment methods as QBO list entries, by the settings' mapping (already Ids) or,
    for a name the settings do not map, by the same name: the list is read once, when first needed."""

    def __init__(self, client: QboClient, entity: str, what: str, setting: str, mapped: Mapping[str, str]) -> None:
        self.client, self.entity, self.what, self.setting = client, entity, what, setting
        self.mapped = dict(mapped)
        self._rows: list[dict[str, Any]] | None = None

    def rows(self) -> list[dict[str, Any]]:
        if self._rows is None:
            self._rows = [as_dict(r) for r in self.client.query_all(select(self.entity))]
        return self._rows

    def resolve(self, names: Iterable[str]) -> tuple[dict[str, str], dict[str, str]]:
        """({WORK name: QBO Id}, {WORK name: why it has none}) for ``names`` ("" is skipped)."""
        wanted = {n: self.mapped.get(n, n) for n in sorted(set(names)) if n}
        if not wanted:
            return {}, {}
        ids = {n: v for n, v in wanted.items() if n in self.mapped and v.isdigit()}
        rest = {n: v for n, v in wanted.items() if n not in ids}
        if rest:
            found, problems = resolve_names(self.rows(), rest, setting=self.setting, what=self.what)
            ids.update(found)
            missing = {n: p for n in rest if n not in found for p in problems if repr(n) in p}
            for n in rest:
                if n not in found and n not in missing:
                    missing[n] = f"{self.setting}: QuickBooks has no active {self.what} {rest[n]!r}"
            return ids, {n: f"{m}; add it in QuickBooks or map it under {self.setting} in the settings"
                         for n, m in missing.items()}
        return ids, {}


# ------------------------------------------------------------------------------------------------------
# closed books
# ------------------------------------------------------------------------------------------------------

def read_book_close_date(client: QboClient) -> date | None:
    """The company's closing date now (Preferences.AccountingInfoPrefs.BookCloseDate; one query)."""
    rows = [as_dict(row) for row in client.query(select("Preferences"))]
    return _date(((rows[0] if rows else {}).get("AccountingInfoPrefs") or {}).get("BookCloseDate"))


def refused_closing_date(client: QboClient) -> date | None:
    """After QuickBooks refused a write into a closed period (books closed after the run's check):
    the closing date now, to name it in the sentence; None when it cannot be read."""
    try:
        return read_book_close_date(client)
    except QboError:
        return None


def first_open_date(dated: date, closed: date | None, policy: str) -> tuple[date | None, str]:
    """With ``closed_period: first_open_date``, a record dated on or before the closing date goes on
    the day after it, with a memo saying so: ``(that day, the memo)``; otherwise ``(None, "")``."""
    if closed is None or dated > closed or policy != "first_open_date":
        return None, ""
    moved = closed + timedelta(days=1)
    return moved, (f"Dated {dated.isoformat()} in WORK; posted on {moved.isoformat()}, the first day after "
                   f"QuickBooks' closing date {closed.isoformat()} (qbo-toolkit, closed_period: first_open_date)")


def closed_books_sentence(label: str, dated: date | None, closed: date | None, action: str = "create", *,
                          movable: bool = True, refused: bool = False) -> str:
    """Why a record dated in QuickBooks' closed books waits, and what the accountant can do."""
    when = f" is dated {dated.isoformat()}," if dated is not None else ""
    if closed is not None:
        books = f"on or before QuickBooks' closing date {closed.isoformat()} (the books are closed up to it)"
    else:
        books = "in a period QuickBooks has closed"
    if dated is not None and closed is not None and dated > closed:  # the copy QuickBooks holds is the closed one
        when, books = f" (dated {dated.isoformat()} in WORK):", f"the copy QuickBooks holds is dated {books}"
        movable = False  # moving the new date does not open the old one
    how = "QuickBooks refused it" if refused else "it was not sent"
    verb = {"update": " (this change)", "void": " (the void)", "delete": " (the deletion)"}.get(action, "")
    then = ("; it waits: the accountant can reopen the period in QuickBooks (Settings > Account and settings > "
            "Advanced > Close the books)")
    if movable:
        after = f" on {(closed + timedelta(days=1)).isoformat()}" if closed is not None else " on the first open date"
        then += f", or set closed_period: first_open_date in the settings to post it{after} with a memo"
    return f"{label}{when} {books}, so {how}{verb}{then}; the next run sends it once it can go"
