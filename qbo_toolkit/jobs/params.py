"""Job parameters, strictly: every name known, every value of its type, relative days made explicit.

The job notebooks' ``parameters`` cells declare the names; :data:`JOBS` declares what each one is.
A parameters file (YAML) and ``-p NAME=VALUE`` pairs go through :func:`check_params`, which

* refuses a name the job does not take, with the closest valid one ("dryrun: did you mean dry_run?");
* refuses a value of the wrong type: a boolean is ``true`` or ``false`` (``'no'`` is not false, it is
  refused; ``verify_mirror`` also takes ``null``, "auto"), seconds are a number, money is a decimal
  (``"0.00"``), thresholds map categories to counts, materiality is checked by
  :func:`qbo_toolkit.settings.check_materiality` (the setting's rules);
* turns a relative day (``today``, ``yesterday``, ``last_month_end``, ``last_quarter_end``,
  ``last_year_end``) into the explicit date the run uses, written into the executed notebook;
* refuses a credential: a key that looks like one, or a database URL with a password (set the URL in
  ``QBO_WORK_DB`` or the password in ``PGPASSWORD``/``.pgpass``; parameters are written verbatim into
  the executed notebook);
* refuses ``output_dir``: ``qbo-toolkit run`` chooses it (the dated folder under ``--output-root``).

Every problem is a :class:`~qbo_toolkit.errors.ConfigError` naming the file (or ``-p``) and the
parameter; nothing has run when it is raised.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from ..settings import Settings, cents_amount, looks_like_secret, materiality_setting
from ..yamlio import NoDatesLoader, read_yaml_mapping, unknown_keys

__all__ = ["JOBS", "RELATIVE_DAYS", "Param", "check_params", "load_params", "parse_day", "parse_pairs",
           "work_db_without_password"]


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # text, settings, url, bool, auto_bool, seconds, day, money, thresholds, materiality, runner
    help: str = ""


_COMMON = (Param("realm", "text", "the company's realm id; empty: the connected company"),
           Param("settings", "settings", "a settings YAML path; empty: the app's settings"),
           Param("work_db", "url", "SQLAlchemy URL of the WORK store; empty: QBO_WORK_DB or the toolkit home's"),
           Param("output_dir", "runner", "set by qbo-toolkit run"))

#: what each job notebook takes (tests check these against the notebooks' parameters cells)
JOBS: dict[str, tuple[Param, ...]] = {
    "sync": (*_COMMON, Param("dry_run", "bool", "true: show the plan, write nothing"),
             Param("wait", "seconds", "seconds to wait for another sync of the company")),
    "reconcile": (*_COMMON, Param("as_of", "day", "the day compared (YYYY-MM-DD or a relative day)"),
                  Param("tolerance", "money", "money differences up to this are not differences"),
                  Param("thresholds", "thresholds", "category -> differences tolerated before exit 1"),
                  Param("materiality", "materiality",
                        "category (or *) -> {amount, count}: differences above need an explanation; "
                        "overrides the settings' materiality (empty: the settings')"),
                  Param("record", "bool", "false: an ad-hoc run, not kept in the reconciliation history"),
                  Param("fresh", "bool", "true: read QuickBooks in full instead of the local mirror (the run "
                                         "says what it cost)"),
                  Param("verify_mirror", "auto_bool", "null (auto): verify the local mirror by counts per month "
                                                      "when its last verification is 7 days old; true: always; "
                                                      "false: never (an optional read; re-reads only the months "
                                                      "that differ)")),
    "explore": (Param("settings", "settings"), Param("work_db", "url"), Param("as_of", "day")),
}

RELATIVE_DAYS = ("today", "yesterday", "last_month_end", "last_quarter_end", "last_year_end")


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def parse_day(value: Any, name: str, *, today: date | None = None, where: str = "") -> date | None:
    """A day: ``YYYY-MM-DD``, a relative day (:data:`RELATIVE_DAYS`), empty (None), or a date."""
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    now = today or date.today()
    text = str(value).strip().lower()
    if text == "today":
        return now
    if text == "yesterday":
        return now - timedelta(days=1)
    if text == "last_month_end":
        return now.replace(day=1) - timedelta(days=1)
    if text == "last_quarter_end":
        first = (now.month - 1) // 3 * 3 + 1
        return now.replace(month=first, day=1) - timedelta(days=1)
    if text == "last_year_end":
        return date(now.year - 1, 12, 31)
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ConfigError(f"{where}{name} must be a date written YYYY-MM-DD or one of {', '.join(RELATIVE_DAYS)}, "
                          f"not {value!r}", key=name) from None


def work_db_without_password(url: str, name: str = "work_db", where: str = "") -> str:
    """``url`` if it holds no password; a ConfigError that says where the password goes otherwise."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"{where}{name} is not a database URL (e.g. sqlite:////path/work.sqlite3 or "
                          "postgresql://user@host/db)", key=name) from None
    if parsed.password:
        raise ConfigError(f"{where}{name} holds a password, and parameters are written verbatim into the executed "
                          "notebook: set the URL in QBO_WORK_DB instead, or put the password in PGPASSWORD or "
                          "~/.pgpass and leave it out of the URL", key=name)
    return url


def _from_cli(value: Any, kind: str) -> Any:
    """A ``-p`` value is a string: read it as YAML for the kinds whose values are not strings."""
    if not isinstance(value, str) or kind in ("text", "settings", "url", "day", "money", "runner"):
        return value
    try:
        return yaml.load(value, Loader=NoDatesLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError:
        return value


def _check_value(param: Param, value: Any, where: str, base: Path | None, today: date | None) -> Any:
    name, kind = param.name, param.kind
    if kind == "runner":
        raise ConfigError(f"{where}{name} is chosen by qbo-toolkit run (the dated folder under --output-root); "
                          "remove it and set --output-root instead", key=name)
    if value is None:
        return None
    if kind in ("bool", "auto_bool"):
        if not isinstance(value, bool):
            choices = "true, false or null (auto)" if kind == "auto_bool" else "true or false"
            raise ConfigError(f"{where}{name} must be {choices} (without quotes), not {value!r}", key=name)
        return value
    if kind == "seconds":
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"{where}{name} must be a number of seconds (0 or more), not {value!r}", key=name)
        return value
    if kind == "day":
        day = parse_day(value, name, today=today, where=where)
        return day.isoformat() if day else None
    if kind == "money":
        if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
            raise ConfigError(f"{where}{name} must be an amount such as \"0.00\", not {value!r}", key=name)
        amount = cents_amount(value)
        if amount is None:
            raise ConfigError(f"{where}{name} must be an amount of 0 or more, to the cent (such as \"0.00\" or "
                              f"\"0.05\"), not {value!r}", key=name)
        return str(amount)
    if kind == "thresholds":
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}{name} must map a category (or total) to a count of differences tolerated, "
                              f"such as {{total: 0, aging: 3}}, not {value!r}", key=name)
        out = {}
        for key, count in value.items():
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ConfigError(f"{where}{name}.{key} must be a whole number of differences (0 or more), not "
                                  f"{count!r}", key=name)
            out[str(key)] = count
        return out
    if kind == "materiality":
        return materiality_setting(value, where=where)  # strictly, now: nothing has run yet
    if kind == "settings":
        if isinstance(value, Mapping):
            Settings.from_mapping(value)  # validated now, not half way through the run
            return dict(value)
        if not isinstance(value, str):
            raise ConfigError(f"{where}{name} must be the path of a settings YAML file (or empty for the app's "
                              f"settings), not {value!r}", key=name)
        path = Path(value).expanduser()
        if not path.is_absolute() and base is not None and (base / path).exists():
            path = base / path
        if not path.is_file():
            why = "a folder" if path.is_dir() else "it does not exist"
            raise ConfigError(f"{where}{name}: {value} is not a settings file ({why}); give the path of a settings "
                              "YAML, or leave it out to use the app's settings", key=name)
        Settings.from_yaml(path)
        return str(path.absolute())
    if kind == "url":
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}{name} must be a database URL, not {value!r}", key=name)
        return work_db_without_password(value.strip(), name, where)
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ConfigError(f"{where}{name} must be text, not {value!r}", key=name)
    return str(value)


def check_params(job: str, params: Mapping[str, Any], *, source: str = "parameters", base: Path | None = None,
                 cli: frozenset[str] = frozenset(), today: date | None = None) -> dict[str, Any]:
    """``params`` checked and made explicit for ``job`` (see the module docstring)."""
    specs = {p.name: p for p in JOBS[job]}
    where = f"{source}: "
    secret = [str(k) for k in params if looks_like_secret(k)]
    if secret:
        raise ConfigError(f"{where}{', '.join(secret)} look(s) like credentials; parameters never hold secrets "
                          "(use QBO_CLIENT_SECRET and the token store)", key=secret[0])
    problems = unknown_keys(params, specs, f"{job} parameter")
    if problems:
        raise ConfigError(where + "; ".join(problems), key=str(next(k for k in params if k not in specs)))
    out: dict[str, Any] = {}
    for key, value in params.items():
        spec = specs[key]
        out[key] = _check_value(spec, _from_cli(value, spec.kind) if key in cli else value, where, base, today)
    return out


def load_params(path: str | Path) -> dict[str, Any]:
    """The mapping a parameters file holds (file, line and column on a YAML error)."""
    return read_yaml_mapping(path, "parameters")


def parse_pairs(pairs: list[str]) -> dict[str, str]:
    """``-p NAME=VALUE`` pairs; a pair without ``=`` is a usage error that shows the form."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"-p {pair!r}: write each parameter as NAME=VALUE, e.g. -p dry_run=true", key=pair)
        out[name.strip()] = value
    return out
