"""Token requests shared by the flow, the session and disconnect: refresh and revoke.

requests-oauthlib does the protocol; this module adds what Intuit expects (HTTP Basic client
authentication) and what the toolkit promises (no token in any log, http only for loopback).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from oauthlib.oauth2.rfc6749.errors import OAuth2Error
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

from .environments import AppCredentials, Endpoints, check_transport

__all__ = ["RefreshRefused", "insecure_transport_for", "refresh", "revoke", "token_request_kwargs"]


class _NoDebug(logging.Filter):
    """requests-oauthlib logs token responses (access and refresh tokens) at DEBUG: drop those records."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


# A filter only sees records created by its own logger, so it goes on each module's logger; the
# package loggers also get INFO so that a DEBUG root (pytest's caplog, a notebook) does not reach them.
for _name in ("requests_oauthlib", "requests_oauthlib.oauth2_session", "requests_oauthlib.oauth2_auth",
              "oauthlib", "oauthlib.oauth2", "oauthlib.oauth2.rfc6749", "oauthlib.oauth2.rfc6749.parameters",
              "oauthlib.oauth2.rfc6749.clients.base"):
    logging.getLogger(_name).addFilter(_NoDebug())
for _name in ("requests_oauthlib", "oauthlib"):
    if logging.getLogger(_name).level == logging.NOTSET:
        logging.getLogger(_name).setLevel(logging.INFO)


class RefreshRefused(Exception):
    """The token endpoint refused a refresh token (``invalid_grant``). Internal to ``auth``."""


@contextmanager
def insecure_transport_for(endpoints: Endpoints) -> Iterator[None]:
    """Let requests-oauthlib use plain http when, and only when, every endpoint is on loopback.

    oauthlib reads ``OAUTHLIB_INSECURE_TRANSPORT`` from the process environment. Once a loopback
    emulator is in use the variable stays set; the toolkit itself checks every URL it sends a
    credential to (:func:`check_transport`), so an Intuit URL is never reached over http.
    """
    for url in (endpoints.authorization, endpoints.token, endpoints.revocation, endpoints.api_base_url):
        check_transport(url)
    if endpoints.loopback:
        os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    yield


def token_request_kwargs() -> dict[str, Any]:
    """Intuit authenticates the client with HTTP Basic, not with client_id in the body."""
    return {"include_client_id": False, "timeout": 30}


def refresh(credentials: AppCredentials, endpoints: Endpoints, refresh_token: str) -> dict[str, Any]:
    """One refresh grant. Returns the token response; raises RefreshRefused on ``invalid_grant``."""
    oauth = OAuth2Session(credentials.client_id)
    try:
        with insecure_transport_for(endpoints):
            token: dict[str, Any] = oauth.refresh_token(
                endpoints.token, refresh_token=refresh_token, timeout=30,
                auth=HTTPBasicAuth(credentials.client_id, credentials.client_secret))
    except OAuth2Error as exc:
        if exc.error in ("invalid_grant", "invalid_token"):
            raise RefreshRefused(exc.error) from None
        raise
    return token


def revoke(credentials: AppCredentials, endpoints: Endpoints, token: str) -> bool:
    """Revoke a refresh (or access) token at the provider; True when it answered 200."""
    check_transport(endpoints.revocation)
    answer = requests.post(endpoints.revocation, json={"token": token}, timeout=30,
                           auth=HTTPBasicAuth(credentials.client_id, credentials.client_secret),
                           headers={"Accept": "application/json"})
    return answer.status_code == 200
