"""An OAuth2Session that keeps one realm connected: refresh before expiry and once on a 401.

The token store is the single source of truth, shared by every process of the toolkit (an open
notebook and a scheduled papermill job). A refresh runs inside ``TokenStore.update``, under the
store's inter-process lock:

1. re-read the stored tokens: if another process refreshed meanwhile, adopt its tokens;
2. otherwise refresh with the stored refresh token and save the new pair *before* anything else
   happens (Intuit rotates refresh tokens; the old one dies);
3. if the refresh is refused, re-read the store once more (a writer outside the lock may have
   rotated it) and retry once with what is there, then raise :class:`ReconnectNeeded`.

A data request answered 401 triggers one refresh and one replay. Proactive refreshes happen
``skew`` seconds before the access token expires.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from requests import Response
from requests_oauthlib import OAuth2Session

from ..errors import ReconnectNeeded
from ..types import RealmId
from .environments import AppCredentials, Endpoints, check_transport
from .oauth import RefreshRefused, insecure_transport_for, refresh
from .tokens import TokenSet, TokenStore

__all__ = ["TokenSession", "tokens_from_response"]


def tokens_from_response(realm_id: str, environment: str, token: dict[str, Any], *, company_name: str = "",
                         client_id: str = "", now: float | None = None) -> TokenSet:
    now = time.time() if now is None else now
    return TokenSet(
        realm_id=RealmId(realm_id), environment=environment, access_token=str(token["access_token"]),
        refresh_token=str(token["refresh_token"]),
        access_expires_at=now + float(token.get("expires_in", 3600)),
        refresh_expires_at=now + float(token.get("x_refresh_token_expires_in", 8726400)),
        company_name=company_name, client_id=client_id,
    )


class TokenSession(OAuth2Session):
    """Requests for one realm with a token that stays valid. ``repr`` shows no token."""

    def __init__(self, store: TokenStore, realm_id: str, credentials: AppCredentials, endpoints: Endpoints, *,
                 skew: float = 60.0) -> None:
        tokens = store.load(realm_id)
        if tokens is None:
            raise ReconnectNeeded(f"no connection to QuickBooks company {realm_id} is stored: connect first",
                                  realm_id=realm_id, reason="not connected")
        super().__init__(credentials.client_id, token=self._as_token(tokens))
        self.store = store
        self.realm_id = realm_id
        self.credentials = credentials
        self.endpoints = endpoints
        self.skew = skew
        self.tokens = tokens
        self.refreshes = 0
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"TokenSession(realm_id={self.realm_id!r}, environment={self.endpoints.environment!r})"

    @staticmethod
    def _as_token(tokens: TokenSet) -> dict[str, Any]:
        return {"access_token": tokens.access_token, "token_type": "Bearer",
                "expires_at": tokens.access_expires_at}

    def _adopt(self, tokens: TokenSet) -> None:
        self.tokens = tokens
        self.token = self._as_token(tokens)

    # -- refreshing --------------------------------------------------------------------------------
    def refresh_now(self, *, failed_access_token: str | None = None) -> TokenSet:
        """Make sure a valid access token is held; refresh (once, for every process) when needed."""
        with self._lock:

            def update(current: TokenSet | None) -> TokenSet:
                if current is None:
                    raise ReconnectNeeded("the QuickBooks connection was removed (disconnected elsewhere): connect "
                                          "again", realm_id=self.realm_id, reason="disconnected")
                rejected = failed_access_token is not None and current.access_token == failed_access_token
                if not rejected and not current.access_expired(skew=self.skew):
                    return current  # still valid, or another process refreshed it already
                try:
                    token = refresh(self.credentials, self.endpoints, current.refresh_token)
                except RefreshRefused:
                    latest = self.store.load(self.realm_id)  # a writer outside the lock may have rotated it
                    if latest is None or latest.refresh_token == current.refresh_token:
                        raise ReconnectNeeded("QuickBooks refused the stored refresh token (expired or revoked): "
                                              "reconnect to QuickBooks", realm_id=self.realm_id,
                                              reason="invalid_grant") from None
                    try:
                        token = refresh(self.credentials, self.endpoints, latest.refresh_token)
                    except RefreshRefused:
                        raise ReconnectNeeded("QuickBooks refused the stored refresh token (expired or revoked): "
                                              "reconnect to QuickBooks", realm_id=self.realm_id,
                                              reason="invalid_grant") from None
                self.refreshes += 1
                return tokens_from_response(self.realm_id, current.environment, token,
                                            company_name=current.company_name, client_id=current.client_id)

            stored = self.store.update(self.realm_id, update)
            assert stored is not None
            self._adopt(stored)
            return stored

    # -- requests ------------------------------------------------------------------------------------
    def request(self, method: str, url: str, data: Any = None, headers: Any = None, withhold_token: bool = False,
                client_id: Any = None, client_secret: Any = None, **kwargs: Any) -> Response:
        check_transport(url)
        if withhold_token:
            with insecure_transport_for(self.endpoints):
                return super().request(method, url, data=data, headers=headers, withhold_token=True, **kwargs)
        if self.tokens.access_expired(skew=self.skew):
            self.refresh_now()
        used = self.tokens.access_token
        headers = dict(headers or {})
        headers.pop("Authorization", None)  # oauthlib adds the current token
        with insecure_transport_for(self.endpoints):
            response = super().request(method, url, data=data, headers=headers, **kwargs)
            if response.status_code == 401:
                self.refresh_now(failed_access_token=used)
                response = super().request(method, url, data=data, headers=headers, **kwargs)
        return response
