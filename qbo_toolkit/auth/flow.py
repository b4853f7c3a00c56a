"""The OAuth 2.0 authorization-code flow with requests-oauthlib.

1. :func:`begin` builds the authorization URL (scope ``com.intuit.quickbooks.accounting`` and a
   random ``state``) and, for a loopback redirect URI, starts a short-lived :class:`CallbackListener`
   on that address to catch the browser's redirect.
2. The user approves on QuickBooks' page (or the emulator's consent page).
3. :meth:`PendingAuthorization.wait` returns the redirect URL the listener caught; where no listener
   can run, the user pastes the URL of the page the browser landed on instead.
4. :func:`exchange` checks ``state`` and ``error``, then trades the code for tokens.

Every failure ends with a clear exception from :mod:`qbo_toolkit.errors` and nothing stored.
"""

from __future__ import annotations

import html
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from oauthlib.oauth2.rfc6749.errors import OAuth2Error
from requests_oauthlib import OAuth2Session

from ..errors import AuthError, AuthorizationCancelled, AuthorizationTimeout, StateMismatch
from .environments import SCOPE_ACCOUNTING, AppCredentials, Endpoints, is_loopback_url
from .oauth import insecure_transport_for, token_request_kwargs

__all__ = ["CallbackListener", "Grant", "PendingAuthorization", "begin", "exchange"]

_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>qbo-toolkit</title>
<style>body{{font-family:system-ui,sans-serif;margin:4rem auto;max-width:32rem;color:#222}}</style></head>
<body><h1>{title}</h1><p>{text}</p>{script}</body></html>"""


class CallbackListener:
    """A one-shot HTTP listener on the loopback redirect URI. It binds 127.0.0.1/localhost only."""

    def __init__(self, redirect_uri: str) -> None:
        parts = urlsplit(redirect_uri)
        if parts.scheme != "http" or not is_loopback_url(redirect_uri) or parts.port is None:
            raise ValueError("a callback listener needs an http loopback redirect URI with a port")
        self.path = parts.path or "/"
        self._url: str | None = None
        self._event = threading.Event()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return  # the URL carries the code: never log it

            def do_GET(self) -> None:
                if urlsplit(self.path).path != listener.path:
                    self.send_error(404)
                    return
                query = parse_qs(urlsplit(self.path).query)
                if "error" in query:
                    title, text = "Not connected", "QuickBooks was not connected. You can close this tab."
                    script = ""
                else:  # as the seed says: when the authorization succeeds, the window closes
                    title, text = "Connected", "You can close this tab and return to qbo-toolkit."
                    script = "<script>setTimeout(function () { window.close(); }, 800);</script>"
                body = _PAGE.format(title=html.escape(title), text=html.escape(text), script=script).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                listener._url = f"{parts.scheme}://{parts.netloc}{self.path}"
                listener._event.set()

        host = "127.0.0.1" if parts.hostname == "localhost" else (parts.hostname or "127.0.0.1")
        self._server = HTTPServer((host, parts.port), Handler)
        self._server.timeout = 0.2
        self._thread = threading.Thread(target=self._serve, name="qbo-oauth-callback", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._event.is_set():
            self._server.handle_request()

    def wait(self, timeout: float) -> str | None:
        """The redirect URL the browser brought, or None after ``timeout`` seconds."""
        self._event.wait(timeout)
        self.close()
        return self._url

    def close(self) -> None:
        self._event.set()
        self._thread.join(timeout=2)
        self._server.server_close()


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
        try:
            listener = CallbackListener(credentials.redirect_uri)
        except OSError:
            listener = None  # the port is taken: fall back to pasting the redirect URL
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
