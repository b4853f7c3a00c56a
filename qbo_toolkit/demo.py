"""The first demo: connect to a running emulator with python-quickbooks and read the company.

This is the smallest honest round trip (authorization code, token exchange, data calls over HTTP);
the full connection layer with its token store lives in ``qbo_toolkit.auth`` and ``qbo_toolkit.qbo``.
"""

from __future__ import annotations

import html
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from quickbooks import QuickBooks
from quickbooks.objects import CompanyInfo, Customer

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True, repr=False)
class CompanyOverview:
    """What the demo shows: the company and a few customers (text in a terminal, HTML in Jupyter)."""

    company_name: str
    realm_id: str
    country: str
    customers: pd.DataFrame

    def __repr__(self) -> str:
        return f"{self.company_name} (realm {self.realm_id}, {self.country})\n{self.customers.to_string(index=False)}"

    def _repr_html_(self) -> str:
        return (f"<h3>{html.escape(self.company_name)}</h3>"
                f"<p>realm {html.escape(self.realm_id)}, country {html.escape(self.country)}</p>"
                + self.customers.to_html(index=False))


def _loopback_only(url: str) -> None:
    if urlsplit(url).hostname not in LOOPBACK:
        raise ValueError(f"the demo connects to a local emulator only, not {urlsplit(url).hostname}")


def connect_emulator(info_file: str | Path | None) -> QuickBooks:
    """Authorize against an emulator started with ``--auto-approve`` and return a client for its realm.

    ``info_file`` is the emulator's ``--info-file``; None reads the path from ``QBO_EMULATOR_INFO``.
    """
    path = info_file or os.environ.get("QBO_EMULATOR_INFO")
    if not path:
        raise ValueError("no emulator info file: pass emulator_info or set QBO_EMULATOR_INFO")
    info: dict[str, Any] = json.loads(Path(path).read_text())
    _loopback_only(info["base_url"])
    # requests-oauthlib refuses plain http; the emulator is on loopback, so allow it for this process
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    redirect_uri = info["redirect_uris"][0]
    auth = AuthClient(info["client_id"], info["client_secret"], redirect_uri, environment=info["discovery_url"])
    state = secrets.token_urlsafe(16)
    url = auth.get_authorization_url([Scopes.ACCOUNTING], state_token=state)
    answer = requests.get(url, allow_redirects=False, timeout=10)
    if answer.status_code != 302:
        raise RuntimeError("the emulator did not approve at once; start it with --auto-approve")
    params = parse_qs(urlsplit(answer.headers["Location"]).query)
    if params.get("state") != [state]:
        raise RuntimeError("the authorization answer carried the wrong state")
    realm_id = params["realmId"][0]
    auth.get_bearer_token(params["code"][0], realm_id=realm_id)
    client = QuickBooks(auth_client=auth, refresh_token=auth.refresh_token, company_id=realm_id,
                        minorversion=75, use_decimal=True)
    client.api_url_v3 = info["api_base_url"]
    return client


def company_overview(info_file: str | Path | None = None, customers: int = 5) -> CompanyOverview:
    """Company name, realm and the first few customers, read through python-quickbooks."""
    qb = connect_emulator(info_file)
    company = CompanyInfo.get(qb.company_id, qb=qb)
    rows = Customer.filter(max_results=customers, order_by="DisplayName", qb=qb)
    frame = pd.DataFrame(
        [{"Id": c.Id, "DisplayName": c.DisplayName, "Balance": c.Balance,
          "State": getattr(c.BillAddr, "CountrySubDivisionCode", "") if c.BillAddr else ""} for c in rows]
    )
    return CompanyOverview(company.CompanyName, qb.company_id, company.Country, frame)
