"""The OAuth 2.0 authorization-code flow with requests-oauthlib.

1. :func:`begin` builds the authorization URL (scope ``com.intuit.quickbooks.accounting`` and a
   random ``state``) and, for a loopback redirect URI, starts a short-lived :class:`CallbackListener`
   on that address to catch the browser's redirect (a taken port is refused with a sentence that
   says how to choose another, never a silent fallback).
2. The user approves on QuickBooks' page (or the emulator's consent page).
3. :meth:`PendingAuthorization.wait` returns the redirect URL the listener caught (only
   the one that carries this attempt's ``state``); for a redirect URI that is not a loopback
   address on this machine (or ``listen=False``), the user pastes the URL of the page the browser
   landed on instead.
4. :func:`exchange` checks ``state`` and ``error``, then trades the code for tokens.

Every failure ends with a clear exception from :mod:`qbo_toolkit.errors` and nothing stored.
"""

from __future__ import annotations

import html
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from oauthlib.oauth2.rfc6749.errors import OAuth2Error
from requests_oauthlib import OAuth2Session

from ..errors import AuthError, AuthorizationCancelled, AuthorizationTimeout, ConfigError, StateMismatch
from .environments import SCOPE_ACCOUNTING, AppCredentials, Endpoints, is_loopback_url
from .oauth import insecure_transport_for, token_request_kwargs

__all__ = ["CallbackListener", "Grant", "PendingAuthorization", "begin", "exchange"]

_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>qbo-toolkit</title>
<style>body{{font-family:system-ui,sans-serif;margin:4rem auto;max-width:32rem;color:#222}}</style></head>
<body><h1>{title}</h1><p>{text}</p>{script}</body></html>"""


class CallbackListener:
    """A one-shot HTTP listener on the loopback redirect URI. It binds 127.0.0.1/localhost only.

    It waits for the one request that carries this attempt's ``state`` on the redirect path:

    - another path gets 404, and a request whose ``state`` is missing or wrong gets an error page
      (HTTP 400); neither ends the wait, so a forged or stale redirect cannot spoil a genuine
      connect, and its sender never sees "Connected";
    - each connection is served on its own thread and read with a short timeout
      (:data:`READ_TIMEOUT` seconds), so a connection that sends nothing is dropped and never
      blocks the genuine redirect;
    - when the port is taken, :class:`~qbo_toolkit.errors.ConfigError` says so and names how to
      choose another (``QBO_REDIRECT_URI``): there is no silent fallback, since the process that
      holds the port would receive the authorization code.
    """

    READ_TIMEOUT: float = 5.0

    def __init__(self, redirect_uri: str, state: str, *, read_timeout: float | None = None,
                 registration: str | None = None) -> None:
        parts = urlsplit(redirect_uri)
        if parts.scheme != "http" or not is_loopback_url(redirect_uri) or parts.port is None:
            raise ValueError("a callback listener needs an http loopback redirect URI with a port")
        self.path = parts.path or "/"
        self.port: int = parts.port
        self._state = state
        self._url: str | None = None
        self._event = threading.Event()
        self._lock = threading.Lock()
        self.refused = 0  # requests answered with 400 or 404 (forged, stale or stray)
        listener = self

        class Handler(BaseHTTPRequestHandler):
            timeout = read_timeout if read_timeout is not None else listener.READ_TIMEOUT  # per connection

            def log_message(self, format: str, *args: Any) -> None:
                return  # the URL carries the code: never log it

            def _page(self, status: int, title: str, text: str, script: str = "") -> None:
                body = _PAGE.format(title=html.escape(title), text=html.escape(text), script=script).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                target = urlsplit(self.path)
                if target.path != listener.path:
                    listener._refused()
                    self._page(404, "Not found", "This address is not part of connecting to QuickBooks.")
                    return
                state = (parse_qs(target.query).get("state") or [""])[0].encode()
                with listener._lock:
                    genuine = listener._url is None and secrets.compare_digest(state, listener._state.encode())
                    if genuine:
                        listener._url = f"{parts.scheme}://{parts.netloc}{self.path}"
                if not genuine:
                    listener._refused()
                    self._page(400, "Not connected",
                               "This answer does not belong to the connection attempt that is waiting (it is "
                               "forged, or from an older attempt). Nothing was connected.")
                    return
                if "error" in parse_qs(target.query):
                    self._page(200, "Not connected", "QuickBooks was not connected. You can close this tab.")
                else:  # as the seed says: when the authorization succeeds, the window closes
                    self._page(200, "Approved", "You can close this tab and return to qbo-toolkit, which "
                               "finishes connecting.",
                               "<script>setTimeout(function () { window.close(); }, 800);</script>")
                listener._event.set()

        host = "127.0.0.1" if parts.hostname == "localhost" else (parts.hostname or "127.0.0.1")
        try:
            self._server = _Server((host, parts.port), Handler)
        except OSError as exc:
            raise ConfigError(
                f"cannot listen for QuickBooks' answer on port {parts.port} of {host} ({exc.strerror or exc}): "
                f"another program uses it, and it would receive the authorization. Stop that program, or choose "
                f"another port by setting QBO_REDIRECT_URI (or redirect_uri in qbo-toolkit.local.yaml), e.g. "
                f"http://127.0.0.1:{_other_port(parts.port)}{self.path}; {registration or _REGISTER_INTUIT}",
                key="redirect_uri") from None
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="qbo-oauth-callback", daemon=True)
        self._thread.start()

    def _refused(self) -> None:
        with self._lock:
            self.refused += 1

    def wait(self, timeout: float) -> str | None:
        """The redirect URL the browser brought, or None after ``timeout`` seconds."""
        self._event.wait(timeout)
        self.close()
        return self._url

    def close(self) -> None:
        self._event.set()
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=2)
        self._server.server_close()


_REGISTER_INTUIT: Final = ("the same URI must be registered as a redirect URI of your Intuit app "
                            "(developer.intuit.com, your app's Keys & credentials)")
_REGISTER_EMULATOR: Final = ("the local emulator the toolkit starts registers QBO_REDIRECT_URI as it starts: run "
                             "`qbo-toolkit emulator stop` first if one is running (an emulator you start yourself "
                             "needs --redirect-uri URI)")


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a held connection never keeps the process (or close()) waiting


def _other_port(port: int) -> int:
    return port + 1 if port < 65535 else port - 1


@dataclass
class PendingAuthorization:
    """An authorization waiting for the user. ``url`` is the page to open in a browser."""

    url: str
    state: str = field(repr=False)
    credentials: AppCredentials
    endpoints: Endpoints
    listener: CallbackListener | None = field(default=None, repr=False)
    started: float = field(default_factory=time.monotonic)

    def wait(self, timeout: float = 300.0) -> str:
        """The redirect URL (from the listener). Raises AuthorizationTimeout when nobody finished."""
        if self.listener is None:
            raise AuthError("no callback listener runs for this redirect URI: paste the URL the browser landed on")
        url = self.listener.wait(timeout)
        if url is None:
            raise AuthorizationTimeout(
                f"nobody finished the QuickBooks authorization within {timeout:g} seconds; start again",
                timeout=timeout)
        return url

    def cancel(self) -> None:
        if self.listener is not None:
            self.listener.close()


@dataclass(frozen=True, repr=False)
class Grant:
    """What a successful exchange yields (tokens are never shown by ``repr``)."""

    realm_id: str
    access_token: str
    refresh_token: str
    expires_in: float
    refresh_expires_in: float

    def __repr__(self) -> str:
        return f"Grant(realm_id={self.realm_id!r}, access_token=<hidden>, refresh_token=<hidden>)"


def begin(credentials: AppCredentials, endpoints: Endpoints, *, listen: bool = True) -> PendingAuthorization:
    """Build the authorization URL with a fresh random ``state``; listen on a loopback redirect URI."""
    state = secrets.token_urlsafe(24)
    oauth = OAuth2Session(credentials.client_id, redirect_uri=credentials.redirect_uri, scope=[SCOPE_ACCOUNTING],
                          state=state)
    with insecure_transport_for(endpoints):
        url, _ = oauth.authorization_url(endpoints.authorization)
    listener = None
    if listen and is_loopback_url(credentials.redirect_uri) and credentials.redirect_uri.startswith("http://"):
        registration = _REGISTER_EMULATOR if credentials.environment == "local" else _REGISTER_INTUIT
        # a taken port is a ConfigError: the program holding it would receive the code
        listener = CallbackListener(credentials.redirect_uri, state, registration=registration)
    return PendingAuthorization(url, state, credentials, endpoints, listener)


def exchange(pending: PendingAuthorization, redirect_url: str) -> Grant:
    """Check the redirect (``state``, ``error``, ``realmId``) and trade its code for tokens."""
    query = parse_qs(urlsplit(redirect_url.strip()).query)

    def one(name: str) -> str | None:
        values = query.get(name)
        return values[0] if values else None

    state = one("state")
    if state is None or not secrets.compare_digest(state, pending.state):
        raise StateMismatch("the answer from QuickBooks did not carry this request's state (it may be forged or "
                            "from an older attempt); nothing was stored, connect again")
    error = one("error")
    if error is not None:
        if error == "access_denied":
            raise AuthorizationCancelled("the connection to QuickBooks was cancelled on the authorization page; "
                                         "nothing was stored", error=error)
        raise AuthError(f"QuickBooks refused the authorization ({error}); nothing was stored")
    code, realm_id = one("code"), one("realmId")
    if not code or not realm_id:
        raise AuthError("the answer from QuickBooks has no authorization code or company id; connect again")
    creds, endpoints = pending.credentials, pending.endpoints
    oauth = OAuth2Session(creds.client_id, redirect_uri=creds.redirect_uri, state=pending.state)
    try:
        with insecure_transport_for(endpoints):
            token = oauth.fetch_token(endpoints.token, code=code, client_secret=creds.client_secret,
                                      **token_request_kwargs())
    except OAuth2Error as exc:
        reason = "was already used or has expired" if exc.error == "invalid_grant" else f"was refused ({exc.error})"
        raise AuthError(f"the authorization code {reason}; nothing was stored, connect again",
                        realm_id=realm_id) from None
    return grant_from_token(realm_id, token)


def grant_from_token(realm_id: str, token: dict[str, Any]) -> Grant:
    return Grant(realm_id, str(token["access_token"]), str(token["refresh_token"]),
                 float(token.get("expires_in", 3600)), float(token.get("x_refresh_token_expires_in", 8726400)))
