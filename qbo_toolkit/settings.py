"""What syncs and where it goes: typed, validated, secret-free settings.

The seed's settings screen, as data::

    clients            always on (two-way); cannot be turned off
    use_default_state  a QBO customer with an empty state gets the company's default state in WORK
    invoices           optional, WORK -> QBO from the integration date; needs
                       revenue_account ("Send invoice information to": an Income account) and
                       item_account ("Send item information to": the account items' costs post to)
    payments           optional, only with invoices; WORK -> QBO for invoices already synced; needs
                       deposit_account ("Send payment information to": Bank or Other Current Asset,
                       Undeposited Funds by default)
    integration_date   set when the integration is enabled; nothing older is sent
    conflict_policy    a client field changed on both sides: qbo_wins, work_wins, newest_wins
    name_policy        a client name QBO refuses (colon, too long, spaces, used by another customer,
                       vendor or employee): "report" it and wait, or "fix" it (trim, replace the
                       colon, add " (2)") -- recorded in the activity log, never silent
    accept_weak_matches link weak single matches of the initial import without asking
    existing_items     a WORK item matched by name to a QBO item whose income account is not
                       revenue_account: "ask" (the invoices using it wait until this is chosen),
                       "use_as_is" (post to that item's own account, said once in the activity log)
                       or "own_item" (the toolkit's own item, "Installation (qbo-toolkit)", on the
                       chosen accounts)
    tax                how sales tax goes to QuickBooks (:class:`TaxSettings`):
                         mode: explicit_total  US companies: each line TAX or NON and WORK's tax amount
                                               sent as TxnTaxDetail.TotalTax (QBO honours it)
                               tax_codes       each line's WORK tax rate sent as a QBO TaxCode (required
                                               for UK, Canadian, Australian, ... companies)
                         codes: {WORK tax-rate name: QBO TaxCode name or Id}
                         invoice_code: the one TaxCode of an invoice on a US company with manual sales
                                       tax (TxnTaxCodeRef), when the codes do not decide it
    terms              {WORK term: QBO Term name or Id}; a term not listed goes by its own name
    payment_methods    {WORK payment method: QBO PaymentMethod name or Id}; likewise
    class              a QBO Class (name or Id) for every synced transaction, or "" for none
    department         a QBO Department ("location", name or Id), or "" for none
    closed_period      a record dated on or before QuickBooks' closing date (BookCloseDate): "wait"
                       (held with a sentence until the period is reopened) or "first_open_date"
                       (posted on the day after the closing date, with a memo saying so)
    credit_notes       WORK credit notes go as CreditMemos, applied as WORK applied them (with invoices)
    refunds            WORK refunds go as RefundReceipts; needs refund_account
    refund_account     ("Pay refunds from"): a Bank or Other Current Asset account
    meter              QuickBooks' metered (CorePlus) calls (:class:`MeterSettings`):
                         monthly_budget: calls a month (default 500,000, the free tier); warned at 50, 80
                                         and 95%; at 100% optional reads (the tie-out) stop
    materiality        which reconciliation differences need an explanation (:func:`check_materiality`):
                       {category or "*": {amount: "100.00", count: 5}}; a difference above ``amount``, or
                       every one of a category with more than ``count``, is material; a category not
                       named (and no "*") is material in every row; unset: every difference is. The
                       reconcile job's ``materiality`` parameter overrides it for that run
    work_record_url    where the reconciliation report links a row's WORK record: a mapping of record
                       kinds (customer, invoice, payment, credit_note, refund) to an http(s) URL with
                       ``{id}`` ("https://work.example.com/invoices/{id}"), or one URL with ``{entity}``
                       and ``{id}``; unset (the default): no WORK links

An account is chosen by its Id or its name (``revenue_account: Services``); the sync checks every
choice against the connected company before it writes anything (:meth:`Settings.resolve_accounts`,
:mod:`qbo_toolkit.sync.preflight`) and records the Id each name resolved to.

Settings live in YAML that papermill parameters can point at. They hold account choices and
policies, never a credential: a key that looks like one is refused. They are read strictly
(:mod:`qbo_toolkit.yamlio`): an unknown key is refused with the closest valid name ("invoice: did
you mean invoices?"), a boolean must be one (``'no'`` is refused, not read as true), a choice
outside its list names the list, and a YAML error names the file, line and column. YAML is read
without implicit dates (papermill and PyYAML would otherwise turn ``2026-01-01`` into a date in
some places and not in others); dates are parsed explicitly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import yaml

from .errors import ConfigError
from .yamlio import closest, read_yaml_mapping, unknown_keys

__all__ = ["ACCOUNT_SETTINGS", "CLOSED_PERIOD", "MATERIALITY_CATEGORIES", "TAX_MODES", "AccountSetting",
           "CompanyFacts", "ConflictPolicy", "ExistingItems", "MeterSettings", "NamePolicy", "Settings",
           "SettingsError", "SettingsSource", "TaxSettings", "check_materiality", "home_settings_path",
           "load_settings", "materiality_setting", "resolve_settings"]

ConflictPolicy = Literal["qbo_wins", "work_wins", "newest_wins"]
NamePolicy = Literal["report", "fix"]
ExistingItems = Literal["ask", "use_as_is", "own_item"]
CONFLICT_POLICIES: tuple[str, ...] = ("qbo_wins", "work_wins", "newest_wins")
NAME_POLICIES: tuple[str, ...] = ("report", "fix")
#: An existing QBO item (matched by name) whose income account is not the chosen revenue account:
#: ``ask`` the invoices using it wait until this is set; ``use_as_is`` post to the item as it is;
#: ``own_item`` the toolkit creates and uses its own item ("Installation (qbo-toolkit)") on the
#: chosen accounts.
EXISTING_ITEMS: tuple[str, ...] = ("ask", "use_as_is", "own_item")
#: ``explicit_total``: lines TAX/NON and WORK's tax amount as TotalTax (US); ``tax_codes``: each
#: line's WORK tax rate as a QBO TaxCode (non-US companies need it).
TAX_MODES: tuple[str, ...] = ("explicit_total", "tax_codes")
#: A record dated inside a closed period: ``wait`` until it is reopened, or ``first_open_date``.
CLOSED_PERIOD: tuple[str, ...] = ("wait", "first_open_date")
TaxMode = Literal["explicit_total", "tax_codes"]
ClosedPeriod = Literal["wait", "first_open_date"]
DEPOSIT_TYPES = ("Bank", "Other Current Asset")
REVENUE_TYPES = ("Income", "Other Income")
ITEM_ACCOUNT_TYPES = ("Expense", "Cost of Goods Sold", "Other Expense")
_SECRET_KEY = re.compile(r"secret|token|password|api_key", re.IGNORECASE)
_ENUMS: dict[str, tuple[str, ...]] = {"conflict_policy": CONFLICT_POLICIES, "name_policy": NAME_POLICIES,
                                      "existing_items": EXISTING_ITEMS, "closed_period": CLOSED_PERIOD}
#: Settings whose YAML name is not their Python name (``class`` is a keyword).
_YAML_NAMES: dict[str, str] = {"class_": "class"}
#: Settings that name a QBO list entry (by name or Id) and are checked against the company.
_NAME_MAPS = ("terms", "payment_methods")


@dataclass(frozen=True)
class AccountSetting:
    """A setting that names an account: its key, the label the settings screen shows, the account
    types it allows, and what an example choice is."""

    key: str
    label: str
    types: tuple[str, ...]
    needs_payments: bool = False
    needs_refunds: bool = False

    @property
    def kinds(self) -> str:
        return " or ".join(self.types)

    @property
    def a_kind(self) -> str:
        """``an Income or Other Income account``."""
        return f"{_article(self.types[0])} {self.kinds} account"

    @property
    def named(self) -> str:
        return f"{self.key} (\"{self.label}\")"


ACCOUNT_SETTINGS: tuple[AccountSetting, ...] = (
    AccountSetting("revenue_account", "Send invoice information to", REVENUE_TYPES),
    AccountSetting("item_account", "Send item information to", ITEM_ACCOUNT_TYPES),
    AccountSetting("deposit_account", "Send payment information to", DEPOSIT_TYPES, needs_payments=True),
    AccountSetting("refund_account", "Pay refunds from", DEPOSIT_TYPES, needs_refunds=True),
)


class SettingsError(ConfigError):
    """Settings that cannot work together; ``problems`` lists each fix-it sentence."""

    def __init__(self, problems: list[str], *, path: str | None = None) -> None:
        super().__init__("; ".join(problems), path=path)
        self.problems = problems


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def looks_like_secret(key: object) -> bool:
    """A settings or parameters key that names a credential (never allowed in those files)."""
    return bool(_SECRET_KEY.search(str(key))) or str(key).lower() == "client_id"


def _parse_date(value: Any, name: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise SettingsError([f"{name} must be a date written YYYY-MM-DD, not {value!r}"]) from None


def _active(account: Mapping[str, Any]) -> bool:
    return account.get("Active") not in (False, "false", "False")


def _account_names(account: Mapping[str, Any]) -> set[str]:
    return {str(account.get(k) or "").strip().casefold() for k in ("Name", "FullyQualifiedName")} - {""}


def describe_account(account: Mapping[str, Any]) -> str:
    """``account 1 Services (Income)``: how the activity log and the sentences name an account."""
    return f"account {account.get('Id')} {account.get('Name')} ({account.get('AccountType')})"


def _examples(chart: Sequence[Mapping[str, Any]], types: tuple[str, ...]) -> str:
    names = [str(a.get("Name")) for a in chart if _active(a) and a.get("AccountType") in types][:4]
    return f" such as {', '.join(names)}" if names else ""


@dataclass(frozen=True)
class TaxSettings:
    """How sales tax goes to QuickBooks (the ``tax:`` mapping of the settings)."""

    mode: TaxMode = "explicit_total"
    #: WORK tax-rate name -> QBO TaxCode name or Id (after the sync's check: its Id)
    codes: dict[str, str] = field(default_factory=dict)
    #: a US manual-tax company's TaxCode for a whole invoice (TxnTaxCodeRef), name or Id
    invoice_code: str = ""

    def problems(self) -> list[str]:
        out: list[str] = []
        if self.mode not in TAX_MODES:
            out.append(_enum_problem("tax.mode", self.mode, TAX_MODES))
        return out

    @classmethod
    def from_value(cls, value: Any) -> TaxSettings:
        if isinstance(value, TaxSettings):
            return value
        if value is None:
            return cls()
        if not isinstance(value, Mapping):
            raise SettingsError([f"tax must be a mapping with mode, codes and invoice_code (such as mode: "
                                 f"tax_codes), not {value!r}"])
        problems = unknown_keys(value, ("mode", "codes", "invoice_code"), "tax setting")
        values: dict[str, Any] = {}
        if "mode" in value:
            if value["mode"] not in TAX_MODES:
                problems.append(_enum_problem("tax.mode", value["mode"], TAX_MODES))
            else:
                values["mode"] = value["mode"]
        if "codes" in value:
            try:
                values["codes"] = _name_map("tax.codes", value["codes"], "a WORK tax rate's name to a QuickBooks "
                                            "TaxCode's name or Id (such as \"VAT 20%\": \"20.0% S\")")
            except SettingsError as exc:
                problems += exc.problems
        if "invoice_code" in value:
            code = value["invoice_code"]
            if code is None:
                code = ""
            if isinstance(code, bool) or not isinstance(code, (str, int)):
                problems.append(f"tax.invoice_code must be a QuickBooks TaxCode's name or Id, not {code!r}")
            else:
                values["invoice_code"] = str(code).strip()
        if problems:
            raise SettingsError(problems)
        return cls(**values)


@dataclass(frozen=True)
class MeterSettings:
    """The ``meter:`` mapping: QuickBooks' metered calls a month this toolkit may use
    (:mod:`qbo_toolkit.qbo.meter`)."""

    #: metered (CorePlus) calls a month; 500,000 is the free Builder tier's limit
    monthly_budget: int = 500_000

    @classmethod
    def from_value(cls, value: Any) -> MeterSettings:
        if isinstance(value, MeterSettings):
            return value
        if value is None:
            return cls()
        if not isinstance(value, Mapping):
            raise SettingsError([f"meter must be a mapping with monthly_budget (such as monthly_budget: 500000), "
                                 f"not {value!r}"])
        problems = unknown_keys(value, ("monthly_budget",), "meter setting")
        values: dict[str, Any] = {}
        if "monthly_budget" in value:
            budget = value["monthly_budget"]
            if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
                problems.append("meter.monthly_budget must be a whole number of metered QuickBooks calls a month, "
                                f"1 or more (such as 500000, the free tier's limit), not {budget!r}")
            else:
                values["monthly_budget"] = budget
        if problems:
            raise SettingsError(problems)
        return cls(**values)


@dataclass(frozen=True)
class CompanyFacts:
    """Not a setting: what the sync's check found in the connected company before a run
    (:mod:`qbo_toolkit.sync.preflight`), carried with the run's resolved settings.

    ``kind``: ``us-ast`` (US, Automated Sales Tax: Preferences.TaxPrefs.PartnerTaxEnabled),
    ``us-manual`` (US, manual sales tax) or ``non-us`` (every taxable line needs a TaxCode).
    ``book_close_date``: Preferences.AccountingInfoPrefs.BookCloseDate (None when the books are open).
    ``tax_codes``: each TaxCode's Id -> its name (to name them in sentences)."""

    kind: str = "us-ast"
    country: str = "US"
    book_close_date: date | None = None
    tax_codes: dict[str, str] = field(default_factory=dict)

    @property
    def us(self) -> bool:
        return self.kind != "non-us"


@dataclass(frozen=True)
class Settings:
    clients: bool = True
    use_default_state: bool = True
    invoices: bool = False
    revenue_account: str | None = None
    item_account: str | None = None
    payments: bool = False
    deposit_account: str | None = None
    integration_date: date | None = None
    conflict_policy: ConflictPolicy = "newest_wins"
    name_policy: NamePolicy = "report"
    accept_weak_matches: bool = False
    existing_items: ExistingItems = "ask"
    tax: TaxSettings = field(default_factory=TaxSettings)
    terms: dict[str, str] = field(default_factory=dict)
    payment_methods: dict[str, str] = field(default_factory=dict)
    class_: str = ""
    department: str = ""
    closed_period: ClosedPeriod = "wait"
    credit_notes: bool = True
    refunds: bool = False
    refund_account: str | None = None
    meter: MeterSettings = field(default_factory=MeterSettings)
    #: {category or "*": {"amount": "100.00", "count": 5}} as written (:func:`check_materiality`)
    materiality: dict[str, dict[str, Any]] = field(default_factory=dict)
    work_record_url: dict[str, str] = field(default_factory=dict)
    #: not a setting (never in YAML): the connected company as the sync's check found it
    company: CompanyFacts | None = field(default=None, compare=False, repr=False)

    def problems(self) -> list[str]:
        """Every reason these settings cannot be enabled, as sentences that say what to choose."""
        out: list[str] = []
        if not self.clients:
            out.append("Clients always sync both ways and cannot be turned off: set clients to true")
        if self.invoices:
            if not self.revenue_account:
                out.append("Invoices need an account for their amounts: choose one in 'Send invoice information "
                           "to' (revenue_account, an Income account)")
            if not self.item_account:
                out.append("Invoices need an account for their items: choose one in 'Send item information to' "
                           "(item_account)")
        if self.payments and not self.invoices:
            out.append("Payments sync only for invoices that sync: turn invoices on, or turn payments off")
        if self.payments and self.invoices and not self.deposit_account:
            out.append("Payments need an account to post to: choose one in 'Send payment information to' "
                       "(deposit_account, a Bank or Other Current Asset account such as Undeposited Funds)")
        if self.refunds and not self.refund_account:
            out.append("Refunds need an account they are paid from: choose one in 'Pay refunds from' "
                       "(refund_account, a Bank or Other Current Asset account such as Undeposited Funds), "
                       "or turn refunds off")
        out += self.tax.problems()
        try:  # settings made in code, not read from a file, are checked here
            check_materiality(self.materiality)
        except ConfigError as exc:
            out.append(str(exc))
        for key, choices in _ENUMS.items():
            value = getattr(self, key)
            if value not in choices:
                out.append(_enum_problem(key, value, choices))
        return out

    def validate(self) -> Settings:
        problems = self.problems()
        if problems:
            raise SettingsError(problems)
        return self

    def account_settings(self) -> list[AccountSetting]:
        """The account settings these settings use (invoices on: revenue and item; payments too: deposit)."""
        return [a for a in ACCOUNT_SETTINGS
                if (a.needs_refunds and self.refunds)
                or (not a.needs_refunds and self.invoices and (not a.needs_payments or self.payments))]

    def resolve_accounts(self, accounts: Iterable[Mapping[str, Any]]
                         ) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """The chosen accounts against the company's chart (dicts with Id, Name, FullyQualifiedName,
        AccountType, Active; inactive accounts included): ``({setting: account}, problems)``.

        A choice is an account Id or its Name (or FullyQualifiedName), case-insensitive. Each
        problem is one sentence naming the setting, its label on the settings screen, and what to
        choose: a name that does not exist (with the closest name: "did you mean Services?"), an
        Id that does not exist, an inactive account, a name two accounts share, an account of a
        type the setting does not allow."""
        chart = [dict(a) for a in accounts]
        by_id = {str(a.get("Id")): a for a in chart}
        found: dict[str, dict[str, Any]] = {}
        out: list[str] = []
        for spec in self.account_settings():
            chosen = getattr(self, spec.key)
            if chosen in (None, ""):
                continue
            value = str(chosen).strip()
            account = by_id.get(value)
            if account is None:
                folded = value.casefold()
                named = [a for a in chart if folded in _account_names(a)]
                live = [a for a in named if _active(a)]
                if len(live) > 1:
                    which = ", ".join(f"{a.get('FullyQualifiedName') or a.get('Name')} (Id {a.get('Id')})"
                                      for a in live)
                    out.append(f"{spec.named}: {len(live)} accounts are named {value!r} ({which}); give the "
                               "account's Id instead")
                    continue
                account = (live or named)[0] if (live or named) else None
            if account is None:
                out.append(self._missing(spec, value, chart))
                continue
            if not _active(account):
                out.append(f"{spec.named}: {describe_account(account)} is inactive in QuickBooks; make it active "
                           f"there, or choose another {spec.kinds} account{_examples(chart, spec.types)}")
                continue
            if account.get("AccountType") not in spec.types:
                kind = str(account.get("AccountType"))
                out.append(f"{spec.named}: {account.get('Name')} (account {account.get('Id')}) is {_article(kind)} "
                           f"{kind} account; choose {spec.a_kind}{_examples(chart, spec.types)}")
                continue
            found[spec.key] = account
        return found, out

    @staticmethod
    def _missing(spec: AccountSetting, value: str, chart: Sequence[Mapping[str, Any]]) -> str:
        if value.isdigit():
            return (f"{spec.named}: QuickBooks has no account with Id {value}; choose {spec.a_kind}"
                    f"{_examples(chart, spec.types)} (by name or Id)")
        live = [a for a in chart if _active(a)]
        fitting = [str(a.get("Name")) for a in live if a.get("AccountType") in spec.types]
        guess = closest(value, fitting) or closest(value, [str(a.get("Name")) for a in live])
        hint = f"did you mean {guess}?" if guess else f"choose {spec.a_kind}{_examples(chart, spec.types)}"
        return f"{spec.named}: QuickBooks has no account named {value!r}; {hint}"

    def check_accounts(self, accounts: Iterable[Mapping[str, Any]]) -> list[str]:
        """Problems with the chosen accounts against the company's chart (see :meth:`resolve_accounts`)."""
        return self.resolve_accounts(accounts)[1]

    def enabled(self, on: date) -> Settings:
        """These settings with the integration date set (the day the integration is enabled)."""
        self.validate()
        return replace(self, integration_date=self.integration_date or on)

    # -- YAML ---------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = {_YAML_NAMES.get(f.name, f.name): getattr(self, f.name) for f in _setting_fields()}
        data["integration_date"] = self.integration_date.isoformat() if self.integration_date else None
        data["tax"] = asdict(self.tax)
        data["meter"] = asdict(self.meter)
        data["terms"] = dict(self.terms)
        data["payment_methods"] = dict(self.payment_methods)
        data["materiality"] = {k: dict(v) for k, v in self.materiality.items()} or None
        data["work_record_url"] = dict(self.work_record_url) or None
        return data

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, path: str | None = None) -> Settings:
        """Settings from a mapping, strictly: every problem found is one sentence of the SettingsError
        (an unknown key with the closest valid name, a credential, a boolean that is not one, a
        choice outside its list, a date not written YYYY-MM-DD, an account that is not a name or Id)."""
        if not isinstance(data, Mapping):
            raise SettingsError([f"settings must be a mapping of names to values, not a {type(data).__name__}"],
                                path=path)
        known = [_YAML_NAMES.get(f.name, f.name) for f in _setting_fields()]
        secrets = [key for key in data if looks_like_secret(key)]
        problems = [f"{key!r} looks like a credential: settings never hold secrets (use QBO_CLIENT_SECRET and "
                    "the token store)" for key in secrets]
        problems += unknown_keys({k: v for k, v in data.items() if k not in secrets}, known, "setting")
        values: dict[str, Any] = {}
        for f in _setting_fields():
            yaml_name = _YAML_NAMES.get(f.name, f.name)
            if yaml_name not in data:
                continue
            value = data[yaml_name]
            try:
                values[f.name] = _field_value(yaml_name, f.type, value)
            except SettingsError as exc:
                problems += exc.problems
        if problems:
            raise SettingsError(problems, path=path)
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Settings:
        """Settings from a YAML file (its mapping, or the mapping under a top-level ``settings:``);
        a syntax error names the file, line and column; every other problem names the file too."""
        path = Path(path)
        data: Any = read_yaml_mapping(path, "settings")
        if set(data) == {"settings"} or ("settings" in data and isinstance(data["settings"], Mapping)):
            data = data["settings"]
            if data is None:
                data = {}
        if not isinstance(data, Mapping):
            raise SettingsError([f"settings file {path}: 'settings' must hold a mapping of names to values"],
                                path=str(path))
        try:
            return cls.from_mapping(data, path=str(path))
        except SettingsError as exc:
            raise SettingsError([f"settings file {path}: {p}" for p in exc.problems], path=str(path)) from None

    def save(self, path: str | Path) -> None:
        from .files import private_dir, write_private_text

        private_dir(Path(path).parent)
        write_private_text(path, self.to_yaml())


def _enum_problem(key: str, value: Any, choices: tuple[str, ...]) -> str:
    guess = closest(str(value), choices) if isinstance(value, str) else None
    hint = f" (did you mean {guess}?)" if guess else ""
    return f"{key} must be one of {', '.join(choices)}, not {value!r}{hint}"


def _setting_fields() -> list[Any]:
    """The dataclass fields that are settings (not the resolved ``company``)."""
    return [f for f in fields(Settings) if f.name != "company"]


def _name_map(name: str, value: Any, what: str) -> dict[str, str]:
    """A mapping of names to names (``terms``, ``payment_methods``, ``tax.codes``), checked."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SettingsError([f"{name} must be a mapping of {what}, not {value!r}"])
    out: dict[str, str] = {}
    problems: list[str] = []
    for key, target in value.items():
        if isinstance(key, bool) or not isinstance(key, (str, int)) or not str(key).strip():
            problems.append(f"{name}: {key!r} is not a name; the mapping is of {what}")
            continue
        if isinstance(target, bool) or not isinstance(target, (str, int)) or not str(target).strip():
            problems.append(f"{name}: {key!r} maps to {target!r}, which is not a QuickBooks name or Id")
            continue
        out[str(key).strip()] = str(target).strip()
    if problems:
        raise SettingsError(problems)
    return out


def _field_value(name: str, kind: Any, value: Any) -> Any:
    """One setting's value, checked: SettingsError with one sentence otherwise."""
    if name == "integration_date":
        return _parse_date(value, name)
    if name == "tax":
        return TaxSettings.from_value(value)
    if name == "meter":
        return MeterSettings.from_value(value)
    if name == "work_record_url":
        return _work_record_urls(value)
    if name == "materiality":
        try:
            return materiality_setting(value)
        except ConfigError as exc:
            raise SettingsError([str(exc)]) from None
    if name in _NAME_MAPS:
        return _name_map(name, value, "WORK names to QuickBooks names or Ids (such as \"Net 15\": \"Net 15\")")
    if name in ("class", "department"):
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise SettingsError([f"{name} must be a QuickBooks {name.title()}'s name or Id, or \"\" for none, "
                                 f"not {value!r}"])
        return str(value).strip()
    if name in ("revenue_account", "item_account", "deposit_account", "refund_account"):
        if value in (None, ""):
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise SettingsError([f"{name} must be an account's name or Id (such as Services or 1), not {value!r}"])
        return str(value).strip()
    if name in _ENUMS:
        if value not in _ENUMS[name]:
            raise SettingsError([_enum_problem(name, value, _ENUMS[name])])
        return value
    if kind in ("bool", bool):
        if not isinstance(value, bool):
            raise SettingsError([f"{name} must be true or false (without quotes), not {value!r}"])
        return value
    return value


#: The WORK record kinds a ``work_record_url`` template can be given for.
WORK_RECORD_KINDS: tuple[str, ...] = ("customer", "invoice", "payment", "credit_note", "refund")
_URL_FIELD = re.compile(r"{([^{}]*)}")


def _work_record_template(where: str, value: Any, allowed: tuple[str, ...]) -> str:
    """One URL template, checked: an http(s) URL with a host and ``{id}``, no other placeholder."""
    from urllib.parse import urlsplit

    example = "such as \"https://work.example.com/invoices/{id}\""
    if isinstance(value, bool) or not isinstance(value, str) or not value.strip():
        raise SettingsError([f"{where} must be a URL with {{id}} ({example}), not {value!r}"])
    text = value.strip()
    names = _URL_FIELD.findall(text)
    unknown = sorted({n for n in names if n not in allowed})
    if unknown:
        raise SettingsError([f"{where}: {{{unknown[0]}}} is not a placeholder of a WORK record URL; use "
                             f"{' and '.join('{' + a + '}' for a in allowed)} ({example})"])
    if "id" not in names:
        raise SettingsError([f"{where}: {text!r} has no {{id}}, so every row would link to the same page; "
                             f"put {{id}} where the record's Id goes ({example})"])
    parts = urlsplit(_URL_FIELD.sub("x", text))
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in text):
        raise SettingsError([f"{where}: {text!r} is not an http or https URL with a host ({example})"])
    return text


def _work_record_urls(value: Any) -> dict[str, str]:
    """The ``work_record_url`` setting as {record kind: template with {id}}; SettingsError otherwise."""
    if value in (None, "", {}):
        return {}
    if isinstance(value, str):
        template = _work_record_template("work_record_url", value, ("entity", "id"))
        if "{entity}" not in template:
            raise SettingsError(["work_record_url: one URL for every kind of record needs {entity} as well as "
                                 "{id}; or give one URL per kind (work_record_url: {invoice: "
                                 "\"https://work.example.com/invoices/{id}\", customer: ...})"])
        return {kind: template.replace("{entity}", kind) for kind in WORK_RECORD_KINDS}
    if not isinstance(value, Mapping):
        raise SettingsError([f"work_record_url must be a URL with {{entity}} and {{id}}, or a mapping of record "
                             f"kinds ({', '.join(WORK_RECORD_KINDS)}) to URLs with {{id}}, not {value!r}"])
    out: dict[str, str] = {}
    problems: list[str] = []
    for kind, template in value.items():
        if kind not in WORK_RECORD_KINDS:
            guess = closest(str(kind), WORK_RECORD_KINDS)
            hint = f" (did you mean {guess}?)" if guess else ""
            problems.append(f"work_record_url: {kind!r} is not a kind of WORK record{hint}; the kinds are "
                            f"{', '.join(WORK_RECORD_KINDS)}")
            continue
        try:
            out[kind] = _work_record_template(f"work_record_url.{kind}", template, ("id",))
        except SettingsError as exc:
            problems += exc.problems
    if problems:
        raise SettingsError(problems)
    return out


#: The reconciliation's categories whose rows are differences (difference and pending kinds), which
#: materiality may name. The same names as :data:`qbo_toolkit.recon.history.KEYED` (a test keeps them
#: equal): settings sit below ``recon`` and cannot import its category table.
MATERIALITY_CATEGORIES: tuple[str, ...] = (
    "customers_unlinked", "customers_fields", "customers_inactive_one_side", "customer_balances",
    "invoices_missing_in_qbo", "invoices_missing_in_work", "invoices_total", "invoices_tax", "invoices_balance",
    "invoices_date", "invoices_due_date", "invoices_customer", "invoices_number", "invoices_void_or_deleted",
    "payments_missing_in_qbo", "payments_missing_in_work", "payments_amount", "payments_date",
    "payments_applied_to", "payments_unapplied", "credit_notes_missing_in_qbo", "credit_notes_missing_in_work",
    "credit_notes_amount", "credit_applied", "credits_unapplied", "refunds_missing_in_qbo",
    "refunds_missing_in_work", "refunds_amount", "tax_by_rate", "aging_buckets", "tieout_customers",
    "tieout_aging", "changed_in_qbo", "pending")


def check_materiality(value: Any, *, where: str = "") -> dict[str, dict[str, Any]]:
    """Materiality thresholds, strictly: ``{category or "*": {"amount": "100.00", "count": 5}}``.

    The one validator of materiality: the ``materiality`` setting, the reconcile job's parameter and
    :meth:`qbo_toolkit.recon.history.History.record` all use it. Categories are difference or pending
    categories (:data:`MATERIALITY_CATEGORIES`, or ``"*"``: every category not named; an unknown one is
    refused with the closest name); ``amount`` is a decimal amount of at most two places, 0 or more
    (text or a number without float noise); ``count`` a whole number, 0 or more. Returned with amounts
    as whole cents (``amount_cents``). A ConfigError names the category and key otherwise."""
    if value in (None, ""):
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}materiality must map categories to {{amount: ..., count: ...}}, not "
                          f"{type(value).__name__}", key="materiality")
    checked: dict[str, dict[str, Any]] = {}
    for category, limits in value.items():
        if category != "*" and category not in MATERIALITY_CATEGORIES:
            close = closest(str(category), MATERIALITY_CATEGORIES)
            hint = (f": did you mean {close}?" if close
                    else f"; categories: {', '.join(MATERIALITY_CATEGORIES)} or *")
            raise ConfigError(f"{where}materiality names no difference category {category!r}{hint}",
                              key="materiality")
        if not isinstance(limits, Mapping) or not limits:
            raise ConfigError(f"{where}materiality.{category} must be a mapping with amount and/or count "
                              f"(e.g. {{amount: '100.00', count: 5}}), not {limits!r}", key="materiality")
        out: dict[str, Any] = {}
        for name, limit in limits.items():
            if name == "amount":
                if isinstance(limit, bool | float):
                    raise ConfigError(f"{where}materiality.{category}.amount must be written as decimal text "
                                      f"(e.g. '100.00'), not {limit!r}", key="materiality")
                amount = cents_amount(limit)
                if amount is None:
                    raise ConfigError(f"{where}materiality.{category}.amount must be an amount of 0 or more with "
                                      f"at most two decimals (e.g. '100.00'), not {limit!r}", key="materiality")
                out["amount_cents"] = int(amount * 100)
            elif name == "count":
                if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                    raise ConfigError(f"{where}materiality.{category}.count must be a whole number of 0 or more, "
                                      f"not {limit!r}", key="materiality")
                out["count"] = limit
            else:
                raise ConfigError(f"{where}materiality.{category} takes amount and count, not {name!r}",
                                  key="materiality")
        checked[str(category)] = out
    return checked


def cents_amount(value: Any) -> Decimal | None:
    """``value`` (text or a number) as an amount of 0 or more to the cent, two places; None when it is
    not one (the rule of the jobs' money parameters and of materiality)."""
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        return None
    return amount.quantize(Decimal("0.01"))


def materiality_setting(value: Any, *, where: str = "") -> dict[str, dict[str, Any]]:
    """Materiality checked by :func:`check_materiality` and written back as a person writes it
    (``{"invoices_total": {"amount": "100.00", "count": 5}}``): what the setting holds and saves."""
    out: dict[str, dict[str, Any]] = {}
    for category, limits in check_materiality(value, where=where).items():
        written: dict[str, Any] = {}
        if "amount_cents" in limits:
            written["amount"] = f"{Decimal(limits['amount_cents']) / 100:.2f}"
        if "count" in limits:
            written["count"] = limits["count"]
        out[category] = written
    return out


def load_settings(source: str | Path | Mapping[str, Any] | Settings | None) -> Settings:
    """Settings from a YAML path, a mapping (papermill parameters) or a Settings; None gives the defaults."""
    if source is None:
        return Settings()
    if isinstance(source, Settings):
        return source
    if isinstance(source, Mapping):
        return Settings.from_mapping(source)
    return Settings.from_yaml(source)


# -- one settings source ------------------------------------------------------------------------------

def home_settings_path() -> Path:
    """Where the app's Enable Integration saves the settings, and where every job reads them from."""
    from .paths import toolkit_home

    return toolkit_home() / "settings.yaml"


@dataclass(frozen=True)
class SettingsSource:
    """Settings and where they came from: reports, summary.json and run records state both.

    ``origin`` is ``app`` (the toolkit home's settings.yaml, what the app saved), ``file`` (a file
    named explicitly), ``inline`` (a mapping in the parameters) or ``defaults`` (none anywhere)."""

    settings: Settings
    origin: str
    path: Path | None = None
    sha256: str | None = None

    def describe(self) -> str:
        if self.origin == "defaults":
            return ("the default settings (no settings file: enable the integration in the app, or name one "
                    "with settings:)")
        if self.origin == "inline":
            return f"settings given inline in the parameters (sha256 {self.sha256[:12] if self.sha256 else '?'})"
        label = "the app's settings" if self.origin == "app" else "settings"
        return f"{label} {self.path} (sha256 {self.sha256[:12] if self.sha256 else '?'})"

    def as_dict(self) -> dict[str, Any]:
        return {"origin": self.origin, "path": str(self.path) if self.path else None, "sha256": self.sha256}


def _digest(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def resolve_settings(source: str | Path | Mapping[str, Any] | Settings | SettingsSource | None = None, *,
                     required: bool = False) -> SettingsSource:
    """The settings a job uses: ``source`` when given, else what the app saved in the toolkit home.

    With nothing given and nothing saved, ``required`` (a sync) refuses with a sentence; otherwise
    the defaults are used and :meth:`SettingsSource.describe` says so."""
    if isinstance(source, SettingsSource):
        return source
    if isinstance(source, Settings):
        return SettingsSource(source, "inline", None, _digest(source.to_yaml().encode()))
    if isinstance(source, Mapping):
        chosen = Settings.from_mapping(source)
        return SettingsSource(chosen, "inline", None, _digest(chosen.to_yaml().encode()))
    if source not in (None, ""):
        path = Path(str(source)).expanduser().absolute()
        chosen = Settings.from_yaml(path)
        home = home_settings_path()
        origin = "app" if path == home else "file"
        return SettingsSource(chosen, origin, path, _digest(path.read_bytes()))
    home = home_settings_path()
    if home.is_file():
        return SettingsSource(Settings.from_yaml(home), "app", home, _digest(home.read_bytes()))
    if required:
        raise ConfigError(f"no settings: the app has not saved any ({home} does not exist). Enable the integration "
                          "in the app (qbo-toolkit app), or name a settings file with settings: in the parameters "
                          "(or --settings)", key="settings")
    return SettingsSource(Settings(), "defaults")
