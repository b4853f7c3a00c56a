"""OpenID Connect over real HTTP: the id_token, the JWKS and UserInfo, checked with Intuit's own client.

intuit-oauth (``intuitlib``) validates an id_token the way Intuit's official clients do: ``iss`` equal
to the discovery document's issuer (Intuit's ``https://oauth.platform.intuit.com/op/v1``), ``aud[0]``
the client id, ``exp`` in the future, and an RS256 signature checked with the JWKS key named by ``kid``.
Its ``set_attributes`` keeps ``id_token`` only when that check passes, so ``auth.id_token`` being set is
the official client's verdict.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.utils import validate_id_token

from qbo_toolkit.emulator import EmulatorServer

INTUIT_ISSUER = "https://oauth.platform.intuit.com/op/v1"
TIMEOUT = 10


def sign_in(emu: EmulatorServer, scopes: list[Scopes]) -> tuple[AuthClient, dict[str, list[str]]]:
    """The authorization-code flow with intuitlib against an auto-approving emulator."""
    info = emu.info
    auth = AuthClient(info["client_id"], info["client_secret"], info["redirect_uris"][0],
                      environment=info["discovery_url"])
    state = secrets.token_urlsafe(8)
    answer = requests.get(auth.get_authorization_url(scopes, state_token=state), allow_redirects=False,
                          timeout=TIMEOUT)
    assert answer.status_code == 302, answer.text
    params = parse_qs(urlsplit(answer.headers["Location"]).query)
    auth.get_bearer_token(params["code"][0], realm_id=params.get("realmId", [None])[0])
    return auth, params


def claims_of(auth: AuthClient, token: str) -> dict[str, Any]:
    """The id_token's claims, verified with PyJWT against the emulator's JWKS (signature, aud, iss, exp)."""
    key = jwt.PyJWKClient(auth.jwks_uri).get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(token, key.key, algorithms=["RS256"], audience=auth.client_id,
                                        issuer=INTUIT_ISSUER)
    return claims


def userinfo(auth: AuthClient) -> requests.Response:
    return requests.get(auth.user_info_url, headers={"Authorization": f"Bearer {auth.access_token}"},
                        timeout=TIMEOUT)


def test_intuit_client_validates_the_id_token(start_emulator: Callable[..., EmulatorServer]) -> None:
    emu = start_emulator()
    before = int(time.time())
    auth, params = sign_in(emu, [Scopes.ACCOUNTING, Scopes.OPENID, Scopes.EMAIL, Scopes.PROFILE])
    assert auth.issuer_uri == INTUIT_ISSUER  # the discovery document names Intuit's issuer
    assert auth.id_token is not None, "intuitlib refused the emulator's id_token"
    assert validate_id_token(auth.id_token, auth.client_id, auth.issuer_uri, auth.jwks_uri) is True

    claims = claims_of(auth, auth.id_token)
    assert claims["iss"] == INTUIT_ISSUER
    assert claims["aud"] == [auth.client_id]  # a list, as Intuit sends it (intuitlib reads aud[0])
    assert claims["realmid"] == params["realmId"][0] == emu.info["realm_id"]
    assert claims["sub"] and claims["sub"] == userinfo(auth).json()["sub"]
    assert before - 5 <= claims["iat"] <= int(time.time()) + 5
    assert claims["exp"] == claims["iat"] + 3600
    assert claims["auth_time"] <= claims["iat"]
    header = jwt.get_unverified_header(auth.id_token)
    assert header["alg"] == "RS256"
    assert header["kid"] in {k["kid"] for k in requests.get(auth.jwks_uri, timeout=TIMEOUT).json()["keys"]}


def test_a_tampered_or_foreign_id_token_fails_the_check(start_emulator: Callable[..., EmulatorServer]) -> None:
    emu = start_emulator()
    auth, _ = sign_in(emu, [Scopes.ACCOUNTING, Scopes.OPENID])
    token = str(auth.id_token)
    head, body, signature = token.split(".")
    claims = json.loads(jwt.utils.base64url_decode(body))
    claims["realmid"] = "9999999999"
    forged = ".".join([head, jwt.utils.base64url_encode(json.dumps(claims).encode()).decode(), signature])
    assert validate_id_token(forged, auth.client_id, auth.issuer_uri, auth.jwks_uri) is False
    assert validate_id_token(token, "another-client", auth.issuer_uri, auth.jwks_uri) is False
    assert validate_id_token(token, auth.client_id, "https://example.com/op/v1", auth.jwks_uri) is False


def test_no_openid_scope_no_id_token_and_no_userinfo(start_emulator: Callable[..., EmulatorServer]) -> None:
    emu = start_emulator()
    auth, _ = sign_in(emu, [Scopes.ACCOUNTING])
    assert auth.id_token is None
    assert userinfo(auth).status_code == 403


def test_userinfo_answers_the_claims_the_scopes_allow(start_emulator: Callable[..., EmulatorServer]) -> None:
    emu = start_emulator()
    only_openid, params = sign_in(emu, [Scopes.OPENID])
    assert "realmId" not in params  # an OpenID-only grant is not tied to a company
    assert set(userinfo(only_openid).json()) == {"sub"}
    assert "realmid" not in claims_of(only_openid, str(only_openid.id_token))

    everything, _ = sign_in(emu, [Scopes.OPENID, Scopes.EMAIL, Scopes.PROFILE, Scopes.PHONE, Scopes.ADDRESS])
    info = userinfo(everything).json()
    assert set(info) == {"sub", "email", "emailVerified", "givenName", "familyName", "phoneNumber",
                         "phoneNumberVerified", "address"}
    assert {"streetAddress", "locality", "region", "postalCode", "country"} <= set(info["address"])
    # the intuitlib call works too (it sets attributes from the reply; the status is what it checks)
    assert everything.get_user_info().status_code == 200


def test_refresh_keeps_the_id_token_and_issues_no_new_one(start_emulator: Callable[..., EmulatorServer]) -> None:
    emu = start_emulator()
    auth, _ = sign_in(emu, [Scopes.ACCOUNTING, Scopes.OPENID])
    first = auth.id_token
    form = {"grant_type": "refresh_token", "refresh_token": auth.refresh_token}
    reply = requests.post(auth.token_endpoint, data=form, auth=(auth.client_id, auth.client_secret), timeout=TIMEOUT)
    assert reply.status_code == 200 and "id_token" not in reply.json()
    assert first is not None


def test_the_signing_key_survives_a_restart(start_emulator: Callable[..., EmulatorServer], tmp_path: Any) -> None:
    data_dir = str(tmp_path / "emu")
    emu = start_emulator(data_dir=data_dir)
    auth, _ = sign_in(emu, [Scopes.ACCOUNTING, Scopes.OPENID])
    token = str(auth.id_token)
    kids = [k["kid"] for k in requests.get(auth.jwks_uri, timeout=TIMEOUT).json()["keys"]]
    emu.stop()

    again = start_emulator(data_dir=data_dir)
    jwks_uri = f"{again.base_url}/op/v1/jwks"
    assert [k["kid"] for k in requests.get(jwks_uri, timeout=TIMEOUT).json()["keys"]] == kids
    assert validate_id_token(token, auth.client_id, INTUIT_ISSUER, jwks_uri) is True
    # and a new emulator without a data dir has a key of its own
    other = start_emulator()
    other_kids = [k["kid"] for k in requests.get(f"{other.base_url}/op/v1/jwks", timeout=TIMEOUT).json()["keys"]]
    assert other_kids != kids
