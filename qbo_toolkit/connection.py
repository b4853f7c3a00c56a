"""Connect to one QuickBooks company, stay connected, disconnect.

This module composes :mod:`qbo_toolkit.auth` (OAuth 2.0, tokens) and :mod:`qbo_toolkit.qbo` (the
client). Every screen and job goes through it::

    attempt = start_connect()            # the URL to open; a loopback listener waits for the answer
    conn = attempt.wait(timeout=300)     # or attempt.complete(pasted_redirect_url)
    conn.company_name, conn.realm_id
    conn.client                          # QboClient for this realm

    conn = connection()                  # later, in any process: from the token store
    disconnect()                         # revoke at the provider, forget the tokens, keep history

The toolkit is bound to the first company it connects to (``<toolkit home>/binding.json``, no
secret in it). Connecting to a different company is refused unless ``reset=True``; disconnecting
keeps the binding, so reconnecting to the same company resumes where the sync left off.
"""

from __future__ import annotations

import json
import os
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from .auth.environments import AppCredentials, Endpoints, load_credentials, resolve_endpoints
from .auth.flow import PendingAuthorization, begin, exchange
from .auth.oauth import revoke
from .auth.session import TokenSession, tokens_from_response
from .auth.tokens import TokenStore
from .errors import CompanyMismatch, ConfigError, ReconnectNeeded
from .paths import toolkit_home
from .qbo.client import QboClient
from .qbo.transport import RateLimits

__all__ = ["Binding", "ConnectAttempt", "Connection", "connect", "connect_headless", "connection", "disconnect",
           "start_connect"]


@dataclass(frozen=True)
class Binding:
    """The company this toolkit home syncs with (kept across disconnects; no secret)."""

    realm_id: str
    company_name: str
    environment: str
    connected_at: float
    disconnected_at: float | None = None

    @staticmethod
    def path() -> Path:
        return toolkit_home() / "binding.json"

    @classmethod
    def load(cls) -> Binding | None:
        try:
            return cls(**json.loads(cls.path().read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{cls.path()} is unreadable ({type(exc).__name__}); remove it to reset",
                              path=str(cls.path())) from None

    def save(self) -> None:
        path = self.path()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.__dict__, indent=2))
        os.replace(tmp, path)


@dataclass
class Connection:
    """A live connection to one company. Holds tokens through its session; ``repr`` shows none."""

    realm_id: str
    company_name: str
    environment: str
    session: TokenSession = field(repr=False)

    @cached_property
    def client(self) -> QboClient:
        return _client(self.session, self.realm_id)

    def _repr_html_(self) -> str:
        import html

        return (f"<b>Connected</b> to {html.escape(self.company_name)} (realm {html.escape(self.realm_id)}, "
                f"{html.escape(self.environment)})")


def _store(store: TokenStore | None) -> TokenStore:
    return store if store is not None else TokenStore()


def _client(session: TokenSession, realm_id: str) -> QboClient:
    """The realm's client. A local emulator that runs its limits faster (``--time-scale``) gets a
    limiter running at the same speed, so demos and tests use the whole (scaled) ceiling."""
    scale = float(session.credentials.emulator_info.get("time_scale") or 1.0)
    return QboClient(session, realm_id, session.endpoints.api_base_url, limits=RateLimits(time_scale=scale))


def _company_name(session: TokenSession, realm_id: str) -> str:
    info = _client(session, realm_id).company_info()
    return str(getattr(info, "CompanyName", "") or "")


@dataclass
class ConnectAttempt:
    """An authorization in progress: open ``url``, then ``wait()`` for the listener or ``complete(url)``."""

    pending: PendingAuthorization = field(repr=False)
    reset: bool = False
    store: TokenStore = field(default_factory=TokenStore, repr=False)

    @property
    def url(self) -> str:
        return self.pending.url

    @property
    def listening(self) -> bool:
        return self.pending.listener is not None

    def wait(self, timeout: float = 300.0) -> Connection:
        return self.complete(self.pending.wait(timeout))

    def cancel(self) -> None:
        self.pending.cancel()

    def complete(self, redirect_url: str) -> Connection:
        """Finish with the URL the browser was sent back to; store tokens; read the company."""
        self.pending.cancel()
        grant = exchange(self.pending, redirect_url)
        creds, endpoints = self.pending.credentials, self.pending.endpoints
        binding = Binding.load()
        if binding is not None and binding.realm_id != grant.realm_id and not self.reset:
            revoke(creds, endpoints, grant.refresh_token)
            raise CompanyMismatch(
                f"this toolkit is set up for QuickBooks company {binding.company_name or binding.realm_id} "
                f"(realm {binding.realm_id}), but the authorization was for realm {grant.realm_id}; nothing was "
                "stored. Connect to the same company, or reset to start over with the new one.",
                expected=binding.realm_id, actual=grant.realm_id)
        tokens = tokens_from_response(grant.realm_id, creds.environment, {
            "access_token": grant.access_token, "refresh_token": grant.refresh_token,
            "expires_in": grant.expires_in, "x_refresh_token_expires_in": grant.refresh_expires_in,
        }, client_id=creds.client_id)
        self.store.save(tokens)
        session = TokenSession(self.store, grant.realm_id, creds, endpoints)
        name = _company_name(session, grant.realm_id)
        self.store.update(grant.realm_id, lambda current: replace(current, company_name=name) if current else None)
        Binding(grant.realm_id, name, creds.environment, time.time()).save()
        return Connection(grant.realm_id, name, creds.environment, session)


def start_connect(environment: str | None = None, *, reset: bool = False, listen: bool = True,
                  store: TokenStore | None = None, **settings: Any) -> ConnectAttempt:
    """Begin connecting: resolve the environment, build the authorization URL, start the listener."""
    creds = load_credentials(environment, **settings)
    endpoints = resolve_endpoints(creds)
    return ConnectAttempt(begin(creds, endpoints, listen=listen), reset=reset, store=_store(store))


def connect(environment: str | None = None, *, open_browser: bool = True, timeout: float = 300.0,
            reset: bool = False, store: TokenStore | None = None,
            ask: Callable[[str], str] | None = None, **settings: Any) -> Connection:
    """Interactive connect from a terminal or a notebook cell: opens the page and waits for the answer.

    Where no listener can run on the redirect URI, ``ask`` (``input`` by default) is asked for the
    URL the browser landed on after approving.
    """
    attempt = start_connect(environment, reset=reset, store=store, **settings)
    print(f"Open this page to connect to QuickBooks:\n{attempt.url}")
    if open_browser:
        webbrowser.open_new_tab(attempt.url)
    if attempt.listening:
        return attempt.wait(timeout)
    return attempt.complete((ask or input)("Paste the URL of the page the browser landed on: "))


def connect_headless(*, reset: bool = False, store: TokenStore | None = None, **settings: Any) -> Connection:
    """Connect to a local emulator started with ``--auto-approve``, acting as the browser (demos, CI).

    Refused for Intuit environments: a person must approve on QuickBooks' page there.
    """
    import requests

    attempt = start_connect("local", reset=reset, listen=False, store=store, **settings)
    if not attempt.pending.credentials.emulator_info.get("auto_approve"):
        attempt.cancel()
        raise ConfigError("headless connect needs a local emulator started with --auto-approve", key="environment")
    answer = requests.get(attempt.url, allow_redirects=False, timeout=30)
    if answer.status_code != 302 or "Location" not in answer.headers:
        raise ConfigError("the emulator did not approve the authorization at once", key="environment")
    return attempt.complete(answer.headers["Location"])


def connection(realm_id: str | None = None, environment: str | None = None, *, store: TokenStore | None = None,
               **settings: Any) -> Connection:
    """The stored connection (no browser): for jobs, notebooks and every later call."""
    tokens_store = _store(store)
    if realm_id is None:
        binding = Binding.load()
        realms = tokens_store.realms()
        if binding is not None and binding.realm_id in realms:
            realm_id = binding.realm_id
        elif len(realms) == 1:
            realm_id = realms[0]
        else:
            raise ReconnectNeeded("not connected to QuickBooks: connect first", reason="not connected")
    tokens = tokens_store.load(realm_id)
    if tokens is None:
        raise ReconnectNeeded(f"not connected to QuickBooks company {realm_id}: connect first", realm_id=realm_id,
                              reason="not connected")
    creds = load_credentials(environment or tokens.environment, **settings)
    endpoints = resolve_endpoints(creds)
    session = TokenSession(tokens_store, realm_id, creds, endpoints)
    return Connection(realm_id, tokens.company_name, tokens.environment, session)


@dataclass(frozen=True)
class DisconnectResult:
    realm_id: str
    revoked: bool
    message: str


def disconnect(realm_id: str | None = None, *, store: TokenStore | None = None,
               **settings: Any) -> DisconnectResult:
    """Revoke the tokens at the provider and forget them. The binding and the sync history stay."""
    tokens_store = _store(store)
    binding = Binding.load()
    realm = realm_id or (binding.realm_id if binding else None)
    tokens = tokens_store.load(realm) if realm else None
    if realm is None or tokens is None:
        return DisconnectResult(realm or "", False, "not connected")
    revoked = False
    try:
        creds: AppCredentials = load_credentials(tokens.environment, **settings)
        endpoints: Endpoints = resolve_endpoints(creds)
        revoked = revoke(creds, endpoints, tokens.refresh_token)
    except Exception:
        revoked = False
    tokens_store.delete(realm)
    if binding is not None and binding.realm_id == realm:
        Binding(binding.realm_id, binding.company_name, binding.environment, binding.connected_at,
                time.time()).save()
    message = "disconnected" if revoked else "disconnected here; QuickBooks could not be told (tokens forgotten)"
    return DisconnectResult(realm, revoked, message)
