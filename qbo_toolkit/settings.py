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

Settings live in YAML that papermill parameters can point at. They hold account ids and choices,
never a credential: a key that looks like one is refused. YAML is read without implicit dates
(papermill and PyYAML would otherwise turn ``2026-01-01`` into a date in some places and not in
others); dates are parsed explicitly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml

from .errors import ConfigError
from .yamlio import NoDatesLoader

__all__ = ["ConflictPolicy", "NamePolicy", "Settings", "SettingsError", "SettingsSource", "home_settings_path",
           "load_settings", "resolve_settings"]

ConflictPolicy = Literal["qbo_wins", "work_wins", "newest_wins"]
NamePolicy = Literal["report", "fix"]
CONFLICT_POLICIES: tuple[str, ...] = ("qbo_wins", "work_wins", "newest_wins")
NAME_POLICIES: tuple[str, ...] = ("report", "fix")
DEPOSIT_TYPES = ("Bank", "Other Current Asset")
REVENUE_TYPES = ("Income", "Other Income")
ITEM_ACCOUNT_TYPES = ("Expense", "Cost of Goods Sold", "Other Expense")
_SECRET_KEY = re.compile(r"secret|token|password|api_key", re.IGNORECASE)


class SettingsError(ConfigError):
    """Settings that cannot work together; ``problems`` lists each fix-it sentence."""

    def __init__(self, problems: list[str], *, path: str | None = None) -> None:
        super().__init__("; ".join(problems), path=path)
        self.problems = problems


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
        if self.conflict_policy not in CONFLICT_POLICIES:
            out.append(f"conflict_policy must be one of {', '.join(CONFLICT_POLICIES)}, not {self.conflict_policy!r}")
        if self.name_policy not in NAME_POLICIES:
            out.append(f"name_policy must be one of {', '.join(NAME_POLICIES)}, not {self.name_policy!r}")
        return out

    def validate(self) -> Settings:
        problems = self.problems()
        if problems:
            raise SettingsError(problems)
        return self

    def check_accounts(self, accounts: Iterable[Mapping[str, Any]]) -> list[str]:
        """Problems with the chosen accounts against the company's chart (dicts with Id, Name, AccountType)."""
        by_id = {str(a.get("Id")): a for a in accounts}
        out: list[str] = []
        checks = [(self.invoices, self.revenue_account, REVENUE_TYPES, "Send invoice information to"),
                  (self.invoices, self.item_account, ITEM_ACCOUNT_TYPES, "Send item information to"),
                  (self.invoices and self.payments, self.deposit_account, DEPOSIT_TYPES,
                   "Send payment information to")]
        for on, account_id, types, label in checks:
            if not on or not account_id:
                continue
            account = by_id.get(str(account_id))
            if account is None:
                out.append(f"'{label}': account {account_id} does not exist in the company (or is inactive); "
                           "choose another")
            elif account.get("AccountType") not in types:
                out.append(f"'{label}': {account.get('Name')} is a {account.get('AccountType')} account; choose "
                           f"a {' or '.join(types)} account")
        return out

    def enabled(self, on: date) -> Settings:
        """These settings with the integration date set (the day the integration is enabled)."""
        self.validate()
        return replace(self, integration_date=self.integration_date or on)

    # -- YAML ---------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["integration_date"] = self.integration_date.isoformat() if self.integration_date else None
        return data

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, path: str | None = None) -> Settings:
        known = {f.name for f in fields(cls)}
        problems = [f"unknown setting {key!r} (known: {', '.join(sorted(known))})" for key in data if key not in known]
        problems += [f"{key!r} looks like a credential: settings never hold secrets (use QBO_CLIENT_SECRET and "
                     "the token store)" for key in data if looks_like_secret(key)]
        if problems:
            raise SettingsError(problems, path=path)
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if f.name == "integration_date":
                value = _parse_date(value, f.name)
            elif f.name in ("revenue_account", "item_account", "deposit_account"):
                value = None if value in (None, "") else str(value)
            elif f.type == "bool":
                if not isinstance(value, bool):
                    raise SettingsError([f"{f.name} must be true or false, not {value!r}"], path=path)
            values[f.name] = value
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Settings:
        path = Path(path)
        try:
            data = yaml.load(path.read_text(), Loader=NoDatesLoader) or {}  # noqa: S506 - a SafeLoader subclass
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read settings from {path}: {type(exc).__name__}", path=str(path)) from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path} must hold a mapping of settings", path=str(path))
        data = data.get("settings", data)
        return cls.from_mapping(data, path=str(path))

    def save(self, path: str | Path) -> None:
        from .files import private_dir, write_private_text

        private_dir(Path(path).parent)
        write_private_text(path, self.to_yaml())


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
