"""Intuit's official OAuth client (intuit-oauth 1.2.6, ``intuitlib``), unmodified, against the emulator.

The AuthClient is given the emulator's discovery URL as its environment (intuitlib's documented way to
use a discovery document of one's own) and does the rest itself: the authorization URL, the code
exchange, refresh, revoke, the id_token check (issuer, audience, expiry and an RS256 signature checked
against the key it fetches from the discovery document's ``jwks_uri``) and UserInfo.
"""

from __future__ import annotations

from collections.abc import Callable

import jwt
import pytest
import requests
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError
from thirdkit import TIMEOUT, Company, authorize

from qbo_toolkit.emulator import EmulatorServer

INTUIT_ISSUER = "https://oauth.platform.intuit.com/op/v1"


def _company_info(company: Company, token: str) -> requests.Response:
    return requests.get(f"{company.company_url}/companyinfo/{company.realm}", params={"minorversion": "75"},
                        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                        timeout=TIMEOUT)


def test_code_flow_refresh_rotation_and_revoke(company: Company) -> None:
    auth = company.auth
    assert auth.realm_id == company.realm
    assert int(auth.expires_in) > 0 and int(auth.x_refresh_token_expires_in) > 0
    assert _company_info(company, auth.access_token).status_code == 200

    first_refresh = auth.refresh_token
    auth.refresh()
    assert auth.refresh_token != first_refresh  # Intuit rotates refresh tokens
    assert _company_info(company, auth.access_token).status_code == 200
    with pytest.raises(AuthClientError) as old:
        auth.refresh(refresh_token=first_refresh)
    assert old.value.status_code == 400

    token, refresh = auth.access_token, auth.refresh_token
    assert auth.revoke(token=refresh) is True
    assert _company_info(company, token).status_code == 401
    with pytest.raises(AuthClientError):
        auth.refresh(refresh_token=refresh)


def test_a_wrong_client_secret_is_refused(start_emulator: Callable[..., EmulatorServer]) -> None:
    company = authorize(start_emulator())
    company.auth.client_secret = "not-the-secret"
    with pytest.raises(AuthClientError) as refused:
        company.auth.refresh()
    assert refused.value.status_code in (400, 401)


def test_openid_id_token_passes_intuitlibs_own_check(start_emulator: Callable[..., EmulatorServer]) -> None:
    company = authorize(start_emulator(), [Scopes.OPENID, Scopes.EMAIL, Scopes.PROFILE, Scopes.ACCOUNTING])
    auth = company.auth
    assert auth.issuer_uri == INTUIT_ISSUER
    # intuitlib keeps an id_token only when validate_id_token() accepted it (issuer, aud, exp, RS256 via jwks_uri)
    assert auth.id_token, "intuitlib dropped the id_token: it failed Intuit's own validation (or none was sent)"
    claims = jwt.decode(auth.id_token, options={"verify_signature": False})
    assert claims["iss"] == INTUIT_ISSUER and company.emu.info["client_id"] in claims["aud"]
    assert claims["realmid"] == company.realm

    profile = auth.get_user_info().json()
    assert profile["sub"] == claims["sub"]
    assert "@" in profile.get("email", ""), profile
