"""Where to connect: the local emulator, an Intuit sandbox company or production.

Switching is configuration only. The environment and the app's credentials come from, in order:
arguments, the process environment (``QBO_ENVIRONMENT``, ``QBO_CLIENT_ID``, ``QBO_CLIENT_SECRET``,
``QBO_REDIRECT_URI``, ``QBO_EMULATOR_INFO``), then a git-ignored YAML file: ``./qbo-toolkit.local.yaml``
or ``<toolkit home>/config.yaml``. The emulator's demo client needs none of them: its id and secret
come from the emulator's own info file.

Every environment is resolved the same way, through its OpenID discovery document: the
authorization, token and revocation endpoints are read from it, and the data API's base URL is
Intuit's for sandbox and production, or the emulator's. Plain ``http`` is accepted for a loopback
emulator only, never for Intuit.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import requests
import yaml

from ..errors import ConfigError
from ..paths import toolkit_home

__all__ = [
    "DEFAULT_REDIRECT_URI",
    "ENVIRONMENTS",
    "SCOPE_ACCOUNTING",
    "AppCredentials",
    "Endpoints",
    "check_transport",
    "is_loopback_url",
    "load_credentials",
    "qbo_app_url",
    "resolve_endpoints",
]

SCOPE_ACCOUNTING: Final = "com.intuit.quickbooks.accounting"
DEFAULT_REDIRECT_URI: Final = "http://127.0.0.1:8765/callback"
LOCAL_CONFIG_NAMES: Final = ("qbo-toolkit.local.yaml",)


@dataclass(frozen=True)
class IntuitEnvironment:
    name: str
    discovery_url: str
    api_base_url: str
    #: where people open the company's QuickBooks in a browser (its record pages are under ``/app``)
    app_base_url: str = ""


ENVIRONMENTS: Final[dict[str, IntuitEnvironment]] = {
    "sandbox": IntuitEnvironment(
        "sandbox",
        "https://developer.intuit.com/.well-known/openid_sandbox_configuration/",
        "https://sandbox-quickbooks.api.intuit.com/v3",
        "https://app.sandbox.qbo.intuit.com",
    ),
    "production": IntuitEnvironment(
        "production",
        "https://developer.intuit.com/.well-known/openid_configuration/",
        "https://quickbooks.api.intuit.com/v3",
        "https://app.qbo.intuit.com",
    ),
}


@dataclass(frozen=True, repr=False)
class AppCredentials:
    """The app's OAuth client. ``repr`` never shows the secret."""

    environment: str
    client_id: str
    client_secret: str
    redirect_uri: str = DEFAULT_REDIRECT_URI
    emulator_info: dict[str, Any] = field(default_factory=dict)  # for "local": the emulator's info line

    def __repr__(self) -> str:
        return (f"AppCredentials(environment={self.environment!r}, client_id={self.client_id!r}, "
                f"client_secret='***', redirect_uri={self.redirect_uri!r})")


@dataclass(frozen=True)
class Endpoints:
    environment: str
    authorization: str
    token: str
    revocation: str
    api_base_url: str

    @property
    def loopback(self) -> bool:
        return all(is_loopback_url(u) for u in (self.authorization, self.token, self.revocation, self.api_base_url))


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def qbo_app_url(api_base_url: str, realm_id: str) -> str | None:
    """Where the record pages of company ``realm_id`` are for people, given the data API's base URL:
    ``https://app.qbo.intuit.com/app`` (production), ``https://app.sandbox.qbo.intuit.com/app``
    (sandbox; QuickBooks opens the company the browser is signed in to), or for a loopback
    emulator its read-only record pages ``http://127.0.0.1:PORT/_emulator/app/<realm>``. A record
    is then ``<base>/invoice?txnId=130``. None for any other API base (no link beats a wrong one)."""
    base = api_base_url.rstrip("/")
    for env in ENVIRONMENTS.values():
        if base == env.api_base_url and env.app_base_url:
            return f"{env.app_base_url}/app"
    parts = urlsplit(base)
    if parts.scheme == "http" and is_loopback_url(base) and parts.path.endswith("/v3") and str(realm_id).isdigit():
        root = f"{parts.scheme}://{parts.netloc}{parts.path.removesuffix('/v3')}"
        return f"{root}/_emulator/app/{realm_id}"
    return None


def check_transport(url: str) -> None:
    """Refuse plain http anywhere but on a loopback address (the emulator)."""
    scheme = urlsplit(url).scheme
    if scheme == "https":
        return
    if scheme == "http" and is_loopback_url(url):
        return
    raise ConfigError(f"refusing to send credentials over {scheme or 'an unknown scheme'} to {urlsplit(url).hostname}: "
                      "only https is allowed, except for a loopback emulator", key="url")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the connection settings in {path}: {type(exc).__name__}",
                          path=str(path)) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of settings", path=str(path))
    return data


def _file_settings() -> dict[str, Any]:
    for candidate in [Path.cwd() / name for name in LOCAL_CONFIG_NAMES] + [toolkit_home() / "config.yaml"]:
        if candidate.is_file():
            return _read_yaml(candidate)
    return {}


def load_credentials(environment: str | None = None, *, client_id: str | None = None,
                     client_secret: str | None = None, redirect_uri: str | None = None,
                     emulator_info: str | os.PathLike[str] | None = None,
                     start_emulator: bool = True) -> AppCredentials:
    """Resolve the environment and the app credentials (arguments, then env vars, then the local file)."""
    file = _file_settings()

    def pick(arg: Any, env: str, key: str, default: Any = None) -> Any:
        if arg not in (None, ""):
            return arg
        if os.environ.get(env):
            return os.environ[env]
        return file.get(key, default)

    env_name = str(pick(environment, "QBO_ENVIRONMENT", "environment", "local")).lower()
    if env_name == "local":
        from .local import emulator_info as local_info

        info = local_info(pick(emulator_info, "QBO_EMULATOR_INFO", "emulator_info"), start=start_emulator)
        return AppCredentials(
            "local",
            str(pick(client_id, "QBO_CLIENT_ID", "client_id", info["client_id"])),
            str(pick(client_secret, "QBO_CLIENT_SECRET", "client_secret", info["client_secret"])),
            str(pick(redirect_uri, "QBO_REDIRECT_URI", "redirect_uri", info["redirect_uris"][0])),
            emulator_info=info,
        )
    if env_name not in ENVIRONMENTS:
        raise ConfigError(f"unknown environment {env_name!r}: choose local, sandbox or production", key="environment")
    cid = pick(client_id, "QBO_CLIENT_ID", "client_id")
    secret = pick(client_secret, "QBO_CLIENT_SECRET", "client_secret")
    if not cid or not secret:
        raise ConfigError(
            f"connecting to an Intuit {env_name} company needs your app's keys: set QBO_CLIENT_ID and "
            "QBO_CLIENT_SECRET (or client_id and client_secret in qbo-toolkit.local.yaml, which git ignores)",
            key="client_id")
    return AppCredentials(env_name, str(cid), str(secret),
                          str(pick(redirect_uri, "QBO_REDIRECT_URI", "redirect_uri", DEFAULT_REDIRECT_URI)))


def resolve_endpoints(credentials: AppCredentials, *, timeout: float = 10.0) -> Endpoints:
    """Read the discovery document of the environment and check every endpoint's transport."""
    if credentials.environment == "local":
        info = credentials.emulator_info
        discovery_url, api_base = info["discovery_url"], info["api_base_url"]
        if not is_loopback_url(discovery_url):
            raise ConfigError("the local environment must be an emulator on a loopback address", key="emulator_info")
    else:
        env = ENVIRONMENTS[credentials.environment]
        discovery_url, api_base = env.discovery_url, env.api_base_url
    check_transport(discovery_url)
    try:
        answer = requests.get(discovery_url, headers={"Accept": "application/json"}, timeout=timeout)
        answer.raise_for_status()
        doc = answer.json()
    except (requests.RequestException, ValueError) as exc:
        raise ConfigError(f"cannot read the {credentials.environment} discovery document at {discovery_url}: "
                          f"{type(exc).__name__}", key="discovery_url") from None
    try:
        endpoints = Endpoints(credentials.environment, doc["authorization_endpoint"], doc["token_endpoint"],
                              doc["revocation_endpoint"], api_base)
    except KeyError as exc:
        raise ConfigError(f"the discovery document at {discovery_url} has no {exc.args[0]}",
                          key="discovery_url") from None
    for url in (endpoints.authorization, endpoints.token, endpoints.revocation, endpoints.api_base_url):
        check_transport(url)
    return endpoints
