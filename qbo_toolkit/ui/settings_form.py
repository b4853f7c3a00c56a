"""The settings screen: what syncs, and where it goes in QuickBooks.

As the seed describes it::

    [x] Clients                 always on (two-way), shown checked and disabled
        [x] Use default state when blank    default state: [CA]   (saved to WORK's company details)
    [ ] Invoices                when checked, two dropdowns appear (both required):
        Send invoice information to   Income accounts
        Send item information to      Expense / Cost of Goods Sold accounts
    [ ] Payments                offered only when Invoices is checked; when checked (required):
        Send payment information to   Bank and Other Current Asset accounts, Undeposited Funds first
    Sync invoices and payments from   the integration date (nothing older is sent)
    Sales tax                  TAX/NON with WORK's tax amount (US companies), or each WORK tax rate as a
                               QuickBooks tax code (UK, Canada, Australia, ...: map them under tax.codes)
    Dated in a closed period   wait until the period is reopened, or post on the first open date
    [Enable Integration]        disabled until every required choice is made; a label says what is missing

The account lists come from the connected company (active accounts only; the account types are the
ones :meth:`Settings.check_accounts` accepts, so a choice offered here is never refused later).
:class:`SettingsController` holds the choices as a :class:`Settings` value and owns every rule; the
screen only mirrors it. Enabling goes through :func:`qbo_toolkit.sync.api.enable_integration`, the
same function a headless job calls, which checks the accounts against the company again and saves
the YAML.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import ipywidgets as widgets

from ..connection import Connection
from ..errors import QboError
from ..settings import (
    CLOSED_PERIOD,
    CONFLICT_POLICIES,
    DEPOSIT_TYPES,
    EXISTING_ITEMS,
    ITEM_ACCOUNT_TYPES,
    NAME_POLICIES,
    REVENUE_TYPES,
    TAX_MODES,
    Settings,
    SettingsError,
    TaxMode,
)
from ..sync.api import accounts, company_kind, enable_integration
from ..work.models import Company
from .common import AppContext, Guard, button, css, set_visible

__all__ = ["Account", "AccountChoices", "SettingsController", "SettingsScreen", "load_accounts"]

#: The integration date's label and whole field: 16em of label leaves 14em, room for "12/31/2026" and the
#: calendar button in every browser's date input.
DATE_LABEL_WIDTH = "16em"
DATE_FIELD_WIDTH = "30em"
PLACEHOLDER = ""  # the dropdowns' "choose an account" entry (None cannot be an option's value and a choice)


@dataclass(frozen=True)
class Account:
    """One account of the company's chart, as the settings screen needs it."""

    id: str
    name: str
    type: str
    subtype: str = ""
    active: bool = True

    @property
    def label(self) -> str:
        return f"{self.name} ({self.type})"

    def as_mapping(self) -> dict[str, Any]:
        """The shape :meth:`Settings.check_accounts` reads."""
        return {"Id": self.id, "Name": self.name, "AccountType": self.type, "AccountSubType": self.subtype,
                "Active": self.active}


def load_accounts(conn: Connection) -> list[Account]:
    """The company's accounts (:func:`qbo_toolkit.sync.api.accounts`, the list enabling checks against)."""
    return [Account(str(a.get("Id")), str(a.get("Name") or ""), str(a.get("AccountType") or ""),
                    str(a.get("AccountSubType") or ""), a.get("Active") not in (False, "false"))
            for a in accounts(conn)]


@dataclass(frozen=True)
class AccountChoices:
    """The accounts each dropdown offers, as ``(label, id)`` pairs after a placeholder."""

    revenue: tuple[Account, ...]
    item: tuple[Account, ...]
    deposit: tuple[Account, ...]

    @classmethod
    def from_accounts(cls, accounts: Iterable[Account]) -> AccountChoices:
        active = [a for a in accounts if a.active]
        by_name = sorted(active, key=lambda a: a.name.lower())

        def of(types: Sequence[str]) -> tuple[Account, ...]:
            return tuple(a for a in by_name if a.type in types)

        # Undeposited Funds first: QuickBooks' own default for received payments
        deposit = sorted(of(DEPOSIT_TYPES), key=lambda a: (a.subtype != "UndepositedFunds", a.name.lower()))
        return cls(of(REVENUE_TYPES), of(ITEM_ACCOUNT_TYPES), tuple(deposit))

    @staticmethod
    def options(accounts: Sequence[Account]) -> list[tuple[str, str]]:
        return [("— choose an account —", PLACEHOLDER)] + [(a.label, a.id) for a in accounts]


class SettingsController:
    """The settings being chosen, their rules, and enabling them. No widgets.

    Rules kept here: Clients cannot be turned off; Payments are possible only with Invoices (turning
    Invoices off turns Payments off); "use default state" needs a default state. ``problems()`` are
    :meth:`Settings.problems` plus that last one, in the same fix-it wording."""

    def __init__(self, ctx: AppContext, *, on_enabled: Callable[[Settings], None] | None = None,
                 today: Callable[[], date] = date.today) -> None:
        self.ctx = ctx
        self.on_enabled = on_enabled
        self.today = today
        self.choice = Settings()
        self.default_state = ""
        self.company_note = ""  # the company's kind as load() found it (the sales-tax choice follows it)
        self.accounts: list[Account] = []
        self.choices = AccountChoices((), (), ())

    def load(self) -> None:
        """Start from the saved settings (if any), the company's accounts and WORK's default state."""
        saved = self.ctx.saved_settings()
        self.choice = replace(saved or Settings(), clients=True)
        self.company_note = ""
        if saved is None:  # nothing chosen yet: the sales-tax mode the company's kind needs
            self.choice = replace(self.choice, tax=replace(self.choice.tax, mode=self._tax_mode_of_company()))
        if self.choice.integration_date is None:
            self.choice = replace(self.choice, integration_date=self.today())
        company = self.ctx.store.company()
        self.default_state = company.default_state if company else ""
        self.accounts = load_accounts(self.ctx.live())
        self.choices = AccountChoices.from_accounts(self.accounts)
        offered = {a.id for a in self.accounts if a.active}

        def kept(account_id: str | None) -> str | None:  # a saved account gone (or inactive) is chosen again
            return account_id if account_id in offered else None

        self.choice = replace(self.choice, revenue_account=kept(self.choice.revenue_account),
                              item_account=kept(self.choice.item_account),
                              deposit_account=kept(self.choice.deposit_account))

    def _tax_mode_of_company(self) -> TaxMode:
        """``explicit_total`` for a US company, ``tax_codes`` for any other (it refuses TAX/NON), with
        :attr:`company_note` saying which kind was found; the default when the company cannot be read
        now (enabling checks it again)."""
        try:
            facts = company_kind(self.ctx.live())
        except QboError as exc:
            self.company_note = (f"The company's kind could not be read ({exc}); the sales-tax choice is the US one "
                                 "until it can: Enable integration checks it against the company.")
            return self.choice.tax.mode
        if facts.us:
            kind = "with Automated Sales Tax" if facts.kind == "us-ast" else "with manual sales tax"
            self.company_note = f"A US company {kind}: lines go as TAX or NON with WORK's tax amount."
            return "explicit_total"
        self.company_note = (f"A company in {facts.country}: each taxable line needs one of its tax codes, so each "
                             "WORK tax rate is mapped to a QuickBooks tax code.")
        return "tax_codes"

    def update(self, **changes: Any) -> Settings:
        """Apply changes from the form (account ids as strings, "" for none) and the screen's rules."""
        if "default_state" in changes:
            self.default_state = str(changes.pop("default_state") or "").strip()
        for key in ("revenue_account", "item_account", "deposit_account"):
            if key in changes:
                changes[key] = changes[key] or None
        if "tax_mode" in changes:  # the screen chooses the mode; the codes stay as the YAML maps them
            changes["tax"] = replace(self.choice.tax, mode=changes.pop("tax_mode"))
        choice = replace(self.choice, **changes, clients=True)
        if not choice.invoices:
            choice = replace(choice, payments=False)
        self.choice = choice
        return choice

    def problems(self) -> list[str]:
        out = list(self.choice.problems())
        if self.choice.use_default_state and not self.default_state:
            out.append("Use default state needs a default state: type one (such as CA), or turn the option off")
        if self.choice.integration_date is None:
            out.append("Choose the date to sync invoices and payments from (the integration date)")
        return out

    def enable(self) -> Settings:
        """Check the choices (also against the company's accounts), save them and WORK's default state."""
        problems = self.problems()
        if problems:
            raise SettingsError(problems)
        self.ctx.settings_path.parent.mkdir(parents=True, exist_ok=True)
        enabled = enable_integration(self.choice, conn=self.ctx.live(), save_to=self.ctx.settings_path)
        self._save_default_state()
        self.choice = enabled
        if self.on_enabled is not None:
            self.on_enabled(enabled)
        return enabled

    def _save_default_state(self) -> None:
        store = self.ctx.store
        company = store.company()
        if company is None:
            name = self.ctx.conn.company_name if self.ctx.conn is not None else ""
            company = Company(name=name or "WORK")
        if company.default_state != self.default_state:
            store.set_company(replace(company, default_state=self.default_state))


class SettingsScreen:
    """The settings form. Each widget reports its value to the controller in one line, then the
    whole form is redrawn from the controller (visibility, the forced-off Payments, the problems)."""

    def __init__(self, controller: SettingsController, guard: Guard, *,
                 on_cancel: Callable[[], None] | None = None) -> None:
        self.controller = controller
        self.guard = guard
        wide = {"description_width": "initial"}
        aligned = {"description_width": "15em"}  # the three account dropdowns line up
        self.title = widgets.HTML("<h3>QuickBooks Settings</h3><p>Choose what syncs. Clients sync both ways; "
                                  "Invoices and Payments go from WORK into QuickBooks, from the integration date."
                                  "</p>")
        self.clients = css(widgets.Checkbox(value=True, disabled=True, description="Clients (two-way, always on)",
                                            indent=False, style=wide), "qbo-clients")
        self.use_default_state = css(widgets.Checkbox(description="Use default state when blank", indent=False,
                                                      style=wide), "qbo-use-default-state")
        self.default_state = css(widgets.Text(description="Default state (Company Details)", style=wide,
                                              placeholder="e.g. CA", layout=widgets.Layout(width="22em")),
                                 "qbo-default-state")
        self.state_help = widgets.HTML("<small style='color:#555'>QuickBooks customers with an empty state get "
                                       "this state when they come into WORK.</small>")
        self.invoices = css(widgets.Checkbox(description="Invoices", indent=False, style=wide), "qbo-invoices")
        self.revenue_account = css(widgets.Dropdown(description="Send invoice information to", style=aligned,
                                                    layout=widgets.Layout(width="44em")), "qbo-revenue-account")
        self.item_account = css(widgets.Dropdown(description="Send item information to", style=aligned,
                                                 layout=widgets.Layout(width="44em")), "qbo-item-account")
        # a WORK item whose name matches a QBO item that posts to another income account (existing_items)
        self.existing_items = css(widgets.Dropdown(
            description="Items already in QuickBooks on another income account",
            options=[("ask: their invoices wait until I choose", "ask"),
                     ("use them as they are (their own income account)", "use_as_is"),
                     ("use the toolkit's own items on the account above", "own_item")],
            style=aligned, layout=widgets.Layout(width="44em")), "qbo-existing-items")
        self.invoice_box = css(widgets.VBox([self.revenue_account, self.item_account, self.existing_items],
                                            layout=widgets.Layout(margin="0 0 0 2em")), "qbo-invoice-accounts")
        self.payments = css(widgets.Checkbox(description="Payments", indent=False, style=wide), "qbo-payments")
        self.deposit_account = css(widgets.Dropdown(description="Send payment information to", style=aligned,
                                                    layout=widgets.Layout(width="44em")), "qbo-deposit-account")
        self.payment_box = css(widgets.VBox([self.deposit_account], layout=widgets.Layout(margin="0 0 0 2em")),
                               "qbo-payment-accounts")
        # the label gets its own width and the date field the rest: wide enough for a whole date (the
        # year was cut off when the label took most of a 24em field)
        self.integration_date = css(widgets.DatePicker(description="Sync invoices and payments from",
                                                       style={"description_width": DATE_LABEL_WIDTH},
                                                       layout=widgets.Layout(width=DATE_FIELD_WIDTH)),
                                    "qbo-integration-date")
        self.conflict_policy = css(widgets.Dropdown(description="When a client changed on both sides",
                                                    options=[("the newest change wins", "newest_wins"),
                                                             ("QuickBooks wins", "qbo_wins"),
                                                             ("WORK wins", "work_wins")], style=wide,
                                                    layout=widgets.Layout(width="36em")),
                                   "qbo-conflict-policy")
        self.name_policy = css(widgets.Dropdown(description="When QuickBooks refuses a client name",
                                                options=[("report it and wait", "report"),
                                                         ("fix it (trim, replace ':', add ' (2)')", "fix")],
                                                style=wide, layout=widgets.Layout(width="36em")), "qbo-name-policy")
        assert {v for _, v in self.name_policy.options} == set(NAME_POLICIES)
        self.tax_mode = css(widgets.Dropdown(
            description="Sales tax",
            options=[("TAX/NON on each line, WORK's tax amount as the total (US companies)", "explicit_total"),
                     ("each WORK tax rate as a QuickBooks tax code (UK, Canada, Australia, ...)", "tax_codes")],
            style=wide, layout=widgets.Layout(width="44em")), "qbo-tax-mode")
        self.tax_kind = css(widgets.HTML(""), "qbo-tax-kind")  # the company's kind, as loading the screen found it
        self.tax_help = widgets.HTML("<small style='color:#555'>Tax codes: map each WORK tax rate to a QuickBooks "
                                     "tax code under <code>tax: codes:</code> in the settings file; the sync "
                                     "checks every rate an invoice uses against the company.</small>")
        self.closed_period = css(widgets.Dropdown(
            description="Dated in a closed period",
            options=[("wait until the period is reopened in QuickBooks", "wait"),
                     ("post on the first open date, with a memo", "first_open_date")],
            style=wide, layout=widgets.Layout(width="44em")), "qbo-closed-period")
        assert {v for _, v in self.conflict_policy.options} == set(CONFLICT_POLICIES)
        assert {v for _, v in self.tax_mode.options} == set(TAX_MODES)
        assert {v for _, v in self.closed_period.options} == set(CLOSED_PERIOD)
        assert {v for _, v in self.existing_items.options} == set(EXISTING_ITEMS)
        self.problems = css(widgets.HTML(), "qbo-problems")
        self.enable = button("Enable Integration", "qbo-enable", button_style="primary")
        self.enable.on_click(guard.callback(controller.enable))
        self.cancel = button("Cancel", "qbo-settings-cancel")
        if on_cancel is not None:
            self.cancel.on_click(guard.callback(on_cancel))
        self.show_cancel(False)
        self.widget = css(widgets.VBox([
            self.title, self.clients,
            widgets.VBox([self.use_default_state, self.default_state, self.state_help],
                         layout=widgets.Layout(margin="0 0 0 2em")),
            self.invoices, self.invoice_box, self.payments, self.payment_box,
            self.integration_date, self.tax_mode, self.tax_kind, self.tax_help, self.closed_period,
            self.conflict_policy, self.name_policy, self.problems,
            widgets.HBox([self.enable, self.cancel]),
        ]), "qbo-screen-settings")
        self._loading = False
        self._observe()

    def _observe(self) -> None:
        fields = {self.use_default_state: "use_default_state", self.default_state: "default_state",
                  self.invoices: "invoices", self.revenue_account: "revenue_account",
                  self.item_account: "item_account", self.payments: "payments",
                  self.deposit_account: "deposit_account", self.integration_date: "integration_date",
                  self.conflict_policy: "conflict_policy", self.name_policy: "name_policy",
                  self.existing_items: "existing_items", self.tax_mode: "tax_mode",
                  self.closed_period: "closed_period"}
        for widget, name in fields.items():
            widget.observe(self._changed(name), names="value")

    def _changed(self, name: str) -> Callable[[dict[str, Any]], None]:
        def handler(change: dict[str, Any]) -> None:
            if not self._loading:
                self.guard(lambda: self.controller.update(**{name: change["new"]}), clear=False)
                self.refresh()

        return handler

    def load(self) -> None:
        """Read the company's accounts and the saved choices into the form."""
        self.controller.load()
        choice, choices = self.controller.choice, self.controller.choices
        self._loading = True
        try:
            self.revenue_account.options = AccountChoices.options(choices.revenue)
            self.item_account.options = AccountChoices.options(choices.item)
            self.deposit_account.options = AccountChoices.options(choices.deposit)
            self.use_default_state.value = choice.use_default_state
            self.default_state.value = self.controller.default_state
            self.invoices.value = choice.invoices
            self.revenue_account.value = choice.revenue_account or PLACEHOLDER
            self.item_account.value = choice.item_account or PLACEHOLDER
            self.payments.value = choice.payments
            self.deposit_account.value = choice.deposit_account or PLACEHOLDER
            self.integration_date.value = choice.integration_date
            self.conflict_policy.value = choice.conflict_policy
            self.name_policy.value = choice.name_policy
            self.existing_items.value = choice.existing_items
            self.tax_mode.value = choice.tax.mode
            self.closed_period.value = choice.closed_period
        finally:
            self._loading = False
        self.refresh()

    def refresh(self) -> None:
        """Redraw from the controller: what is shown, what is possible, what is missing."""
        choice = self.controller.choice
        set_visible(self.default_state, choice.use_default_state)
        set_visible(self.state_help, choice.use_default_state)
        set_visible(self.invoice_box, choice.invoices)
        set_visible(self.tax_help, choice.tax.mode == "tax_codes")
        note = getattr(self.controller, "company_note", "")
        self.tax_kind.value = f"<small style='color:#555'>{html.escape(note)}</small>" if note else ""
        set_visible(self.tax_kind, bool(note))
        # Payments only with Invoices: hidden and off without them (never a state the rules refuse)
        set_visible(self.payments, choice.invoices)
        self.payments.disabled = not choice.invoices
        if self.payments.value != choice.payments:
            self.payments.value = choice.payments
        set_visible(self.payment_box, choice.invoices and choice.payments)
        problems = self.controller.problems()
        self.enable.disabled = bool(problems)
        if problems:
            items = "".join(f"<li>{html.escape(p)}</li>" for p in problems)
            self.problems.value = f"<div style='color:#b00020'><b>Before you can enable:</b><ul>{items}</ul></div>"
        else:
            self.problems.value = "<div style='color:#1b5e20'>Ready: click Enable Integration.</div>"

    def show_cancel(self, shown: bool) -> None:
        """Cancel is offered when the settings were enabled before (Change settings): it leaves them as
        saved. Choosing them for the first time has nothing to go back to."""
        set_visible(self.cancel, shown)

    @property
    def problem_text(self) -> str:
        """The problems as plain sentences (what the label says), for tests and logs."""
        return "\n".join(self.controller.problems())
