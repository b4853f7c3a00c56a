"""Helpers for the client's integration tests: a real OAuth code exchange against the emulator, a
client on it, the emulator's request log, and deterministic batch inputs.

(A separate module, not ``conftest``, so ``from clientkit import ...`` cannot pick up another test
directory's conftest.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
from requests_oauthlib import OAuth2Session

from qbo_toolkit.emulator import EmulatorServer
from qbo_toolkit.qbo.client import BatchOp, QboClient
from qbo_toolkit.qbo.transport import RateLimits, RetryPolicy

ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
#: Service seconds per real second for the default fixtures (a QBO minute = 0.1 s).
TIME_SCALE = 600.0


def connect(emu: EmulatorServer) -> OAuth2Session:
    """Authorize like a user would (auto-approved consent), exchange the code, return the session."""
    info = emu.info
    discovery = requests.get(info["discovery_url"], timeout=10).json()
    session = OAuth2Session(info["client_id"], redirect_uri=info["redirect_uris"][0], scope=[ACCOUNTING_SCOPE])
    url, _state = session.authorization_url(discovery["authorization_endpoint"])
    answer = requests.get(url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    session.fetch_token(
        discovery["token_endpoint"],
        authorization_response=answer.headers["Location"],
        client_secret=info["client_secret"],
    )
    return session


def make_client(
    emu: EmulatorServer,
    session: OAuth2Session | None = None,
    *,
    limits: RateLimits | None = None,
    retry: RetryPolicy | None = None,
) -> QboClient:
    info = emu.info
    return QboClient(
        session or connect(emu),
        info["realm_id"],
        info["api_base_url"],
        limits=limits or RateLimits(time_scale=emu.config.time_scale),
        retry=retry or RetryPolicy(seed=7),
    )


def data_requests(emu: EmulatorServer) -> list[dict[str, Any]]:
    """The emulator's log of data-API requests (``/v3/...``), oldest first."""
    return [entry for entry in emu.emulator.log if entry["path"].startswith("/v3/")]


def customer_ops(prefix: str, count: int) -> list[BatchOp]:
    """``count`` customer creates named ``<prefix> 00001``...; keys ``<prefix>-<n>``."""
    return [
        BatchOp("create", "Customer", {"DisplayName": f"{prefix} {n:05d}"}, key=f"{prefix}-{n}")
        for n in range(1, count + 1)
    ]


def chunk_request_id(prefix: str) -> Callable[[int, Any], str]:
    """Deterministic batch requestids: the same chunk of the same run always gets the same id."""
    return lambda index, chunk: f"{prefix}-{index}-{chunk[0].key}"[:36]
