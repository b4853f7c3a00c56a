"""Unit tests of the emulator's OAuth provider, driving handle()/check_bearer() with Request values."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from qbo_toolkit.emulator.clock import Clock
from qbo_toolkit.emulator.oauth import (
    ACCOUNTING_SCOPE,
    NS_CODE,
    NS_GRANT,
    NS_TOKEN,
    OAuthClient,
    OAuthProvider,
)
from qbo_toolkit.emulator.store import Store
from qbo_toolkit.emulator.wire import Request, Response

BASE = "http://127.0.0.1:8765"
CID, SECRET = "cid-demo", "csecret-demo"
CID2, SECRET2 = "cid-other", "csecret-other"
REDIRECT = "http://localhost:8080/callback"
REALM, REALM2 = "9130357992221046", "9130357992221047"
COMPANY = "Sandbox Company_US_1"
SCOPE = f"{ACCOUNTING_SCOPE} openid email"
INVALID_GRANT = b'{"error":"invalid_grant"}'
GATEWAY_KEYS = {
    "warnings",
    "intuitObject",
    "fault",
    "report",
    "queryResponse",
    "batchItemResponse",
    "attachableResponse",
    "syncErrorResponse",
    "requestId",
    "time",
    "status",
    "cdcresponse",
}


# -- helpers ------------------------------------------------------------------------------------------
def make_provider(
    store: Store | None = None,
    clock: Clock | None = None,
    companies: dict[str, str] | None = None,
    **kw: Any,
) -> OAuthProvider:
    clients = [
        OAuthClient(CID, SECRET, (REDIRECT, "http://localhost:8080/other")),
        OAuthClient(CID2, SECRET2, (REDIRECT,), name="Other App"),
    ]
    return OAuthProvider(
        store or Store(),
        clock or Clock(),
        companies=companies if companies is not None else {REALM: COMPANY},
        clients=clients,
        **kw,
    )


def basic(cid: str = CID, secret: str = SECRET) -> str:
    return "Basic " + base64.b64encode(f"{cid}:{secret}".encode()).decode()


def get(path: str, query: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> Request:
    return Request("GET", path, dict(query or {}), {k.lower(): v for k, v in (headers or {}).items()})


def post_form(
    path: str, fields: dict[str, str], headers: dict[str, str] | None = None, auth: str | None = None
) -> Request:
    h = {"content-type": "application/x-www-form-urlencoded"}
    if auth is not None:
        h["authorization"] = auth
    h.update({k.lower(): v for k, v in (headers or {}).items()})
    return Request("POST", path, {}, h, urlencode(fields).encode())


def auth_query(**over: str) -> dict[str, str]:
    q = {
        "client_id": CID,
        "response_type": "code",
        "scope": SCOPE,
        "redirect_uri": REDIRECT,
        "state": "st-123",
    }
    q.update(over)
    return {k: v for k, v in q.items() if v is not None}


def must(resp: Response | None) -> Response:
    assert resp is not None
    return resp


def location(resp: Response) -> tuple[str, dict[str, str]]:
    assert resp.status == 302, resp.body
    parts = urlsplit(resp.headers["Location"])
    params = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    return f"{parts.scheme}://{parts.netloc}{parts.path}", params


def approve(p: OAuthProvider, *, realm: str | None = None, **over: str) -> dict[str, str]:
    fields = auth_query(**over)
    fields["decision"] = "approve"
    if realm is not None:
        fields["realmId"] = realm
    resp = must(p.handle(post_form("/connect/oauth2", fields), BASE))
    return location(resp)[1]


def exchange(
    p: OAuthProvider, code: str, *, auth: str | None = None, redirect_uri: str = REDIRECT
) -> Response:
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    return must(p.handle(post_form("/oauth2/v1/tokens/bearer", body, auth=auth or basic()), BASE))


def refresh(
    p: OAuthProvider, rt: str, *, auth: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    body = {"grant_type": "refresh_token", "refresh_token": rt}
    return must(p.handle(post_form("/oauth2/v1/tokens/bearer", body, headers, auth=auth or basic()), BASE))


def revoke(p: OAuthProvider, token: str, auth: str | None = None) -> Response:
    req = Request(
        "POST",
        "/v2/oauth2/tokens/revoke",
        {},
        {"content-type": "application/json", "authorization": auth or basic()},
        json.dumps({"token": token}).encode(),
    )
    return must(p.handle(req, BASE))


def connect(p: OAuthProvider, **over: str) -> dict[str, Any]:
    code = approve(p, **over)["code"]
    resp = exchange(p, code)
    assert resp.status == 200, resp.body
    tokens: dict[str, Any] = json.loads(resp.body)
    return tokens


def data_req(token: str | None) -> Request:
    headers = {"accept": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return Request("GET", f"/v3/company/{REALM}/companyinfo/1", {"minorversion": "75"}, headers)


def fault_detail(resp: Response) -> str:
    detail: str = json.loads(resp.body)["fault"]["error"][0]["detail"]
    return detail


# -- discovery ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/.well-known/openid_configuration",
        "/.well-known/openid_configuration/",
        "/.well-known/openid_sandbox_configuration/",
        "/.well-known/openid-configuration",
        "/.well-known/openid-sandbox-configuration",
    ],
)
def test_discovery_document(path: str) -> None:
    resp = must(make_provider().handle(get(path), BASE))
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("application/json")
    doc = json.loads(resp.body)
    assert set(doc) == {
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "revocation_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
        "scopes_supported",
        "token_endpoint_auth_methods_supported",
        "claims_supported",
    }
    assert doc["authorization_endpoint"] == BASE + "/connect/oauth2"
    assert doc["token_endpoint"] == BASE + "/oauth2/v1/tokens/bearer"
    assert doc["revocation_endpoint"] == BASE + "/v2/oauth2/tokens/revoke"
    assert doc["userinfo_endpoint"] == BASE + "/v1/openid_connect/userinfo"
    assert doc["jwks_uri"] == BASE + "/op/v1/jwks"
    assert doc["response_types_supported"] == ["code"]
    assert set(doc["token_endpoint_auth_methods_supported"]) == {"client_secret_post", "client_secret_basic"}


def test_jwks_other_paths_and_methods() -> None:
    p = make_provider()
    jwks = must(p.handle(get("/op/v1/jwks"), BASE))
    keys = json.loads(jwks.body)["keys"]
    assert jwks.status == 200 and [(k["kty"], k["alg"], k["use"]) for k in keys] == [("RSA", "RS256", "sig")]
    assert p.handle(get("/v3/company/1/query"), BASE) is None
    assert p.handle(get("/"), BASE) is None
    assert must(p.handle(get("/oauth2/v1/tokens/bearer"), BASE)).status == 405
    assert must(p.handle(Request("DELETE", "/connect/oauth2", {}, {}), BASE)).status == 405
    assert must(p.handle(post_form("/.well-known/openid_configuration", {}), BASE)).status == 405


# -- authorization endpoint ---------------------------------------------------------------------------
def test_consent_page_names_company_app_and_escapes_input() -> None:
    p = make_provider()
    evil = '"><script>alert(1)</script>'
    resp = must(p.handle(get("/connect/oauth2", auth_query(state=evil)), BASE))
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/html")
    page = resp.body.decode()
    assert COMPANY in page and "qbo-toolkit demo" in page
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'id="connect"' in page and 'value="approve"' in page
    assert 'id="cancel"' in page and 'value="cancel"' in page
    assert 'action="/connect/oauth2"' in page and 'method="post"' in page
    assert f'name="realmId" value="{REALM}"' in page
    assert 'id="company"' not in page  # one company: no chooser
    assert "accounting data" in page  # scopes are listed
    assert "https://" not in page and "http://" not in page.replace(REDIRECT, "")  # no external assets


def test_consent_page_company_chooser_and_escaped_company_name() -> None:
    p = make_provider(companies={REALM: "Acme <Plumbing> & Sons", REALM2: "Second Co"})
    page = must(p.handle(get("/connect/oauth2", auth_query()), BASE)).body.decode()
    assert '<select id="company" name="realmId">' in page
    assert "Acme &lt;Plumbing&gt; &amp; Sons" in page and "Second Co" in page
    params = approve(p, realm=REALM2)
    assert params["realmId"] == REALM2
    tokens = json.loads(exchange(p, params["code"]).body)
    assert p.check_bearer(data_req(tokens["access_token"]), REALM2) is None
    assert must(p.check_bearer(data_req(tokens["access_token"]), REALM)).status == 403


def test_approve_redirect_carries_code_state_realm() -> None:
    p = make_provider()
    base, params = location(
        must(p.handle(post_form("/connect/oauth2", {**auth_query(), "decision": "approve"}), BASE))
    )
    assert base == REDIRECT
    assert set(params) == {"code", "state", "realmId"}
    assert params["state"] == "st-123" and params["realmId"] == REALM
    assert 20 <= len(params["code"]) <= 512


def test_cancel_redirects_access_denied_with_state() -> None:
    p = make_provider()
    fields = {**auth_query(), "decision": "cancel"}
    base, params = location(must(p.handle(post_form("/connect/oauth2", fields), BASE)))
    assert base == REDIRECT
    assert params == {"error": "access_denied", "state": "st-123"}


def test_redirect_uri_with_existing_query_is_extended() -> None:
    uri = "http://localhost:8080/cb?app=1"
    p = OAuthProvider(
        Store(), Clock(), companies={REALM: COMPANY}, clients=[OAuthClient(CID, SECRET, (uri,))]
    )
    resp = must(
        p.handle(post_form("/connect/oauth2", {**auth_query(redirect_uri=uri), "decision": "approve"}), BASE)
    )
    _, params = location(resp)
    assert params["app"] == "1" and "code" in params


@pytest.mark.parametrize(
    "over",
    [
        {"client_id": "nope"},
        {"client_id": ""},
        {"redirect_uri": "http://evil.example/cb"},
        {"redirect_uri": REDIRECT + "/"},
    ],
)
def test_unknown_client_or_redirect_gets_error_page_not_redirect(over: dict[str, str]) -> None:
    p = make_provider()
    for req in (
        get("/connect/oauth2", auth_query(**over)),
        post_form("/connect/oauth2", {**auth_query(**over), "decision": "approve"}),
    ):
        resp = must(p.handle(req, BASE))
        assert resp.status == 400
        assert "Location" not in resp.headers
        assert resp.headers["Content-Type"].startswith("text/html")
    assert p.stats()["codes_issued"] == 0


def test_error_page_escapes_echoed_values() -> None:
    resp = must(make_provider().handle(get("/connect/oauth2", auth_query(client_id="<b>x</b>")), BASE))
    assert b"<b>x</b>" not in resp.body and b"&lt;b&gt;x&lt;/b&gt;" in resp.body


@pytest.mark.parametrize(
    ("over", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "com.intuit.quickbooks.accounting bogus"}, "invalid_scope"),
        ({"scope": ""}, "invalid_scope"),
    ],
)
def test_bad_request_redirects_with_error_and_state(over: dict[str, str], error: str) -> None:
    p = make_provider()
    base, params = location(must(p.handle(get("/connect/oauth2", auth_query(**over)), BASE)))
    assert base == REDIRECT and params == {"error": error, "state": "st-123"}
    q = auth_query(**over)
    del q["scope"]
    if error == "invalid_scope":
        _, params = location(must(p.handle(get("/connect/oauth2", q), BASE)))
        assert params["error"] == "invalid_scope"


def test_openid_only_grant_has_no_realm_and_no_data_access() -> None:
    p = make_provider()
    params = approve(p, scope="openid email profile")
    assert "realmId" not in params
    tokens = json.loads(exchange(p, params["code"]).body)
    assert must(p.check_bearer(data_req(tokens["access_token"]), REALM)).status == 403
    info = must(
        p.handle(
            get("/v1/openid_connect/userinfo", headers={"Authorization": "Bearer " + tokens["access_token"]}),
            BASE,
        )
    )
    assert info.status == 200 and {"sub", "email", "givenName", "familyName"} <= set(json.loads(info.body))


def test_auto_approve_redirects_at_once() -> None:
    p = make_provider(companies={REALM: COMPANY, REALM2: "Second"}, auto_approve=True)
    _, params = location(must(p.handle(get("/connect/oauth2", auth_query()), BASE)))
    assert params["realmId"] == REALM and params["state"] == "st-123"
    assert exchange(p, params["code"]).status == 200
    p.auto_approve = False
    assert must(p.handle(get("/connect/oauth2", auth_query()), BASE)).status == 200


# -- token endpoint -----------------------------------------------------------------------------------
def test_code_exchange_reply() -> None:
    p = make_provider()
    resp = exchange(p, approve(p)["code"])
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "application/json;charset=utf-8"
    assert resp.headers["Cache-Control"] == "no-store"
    body = json.loads(resp.body)
    assert set(body) == {
        "token_type",
        "access_token",
        "refresh_token",
        "expires_in",
        "x_refresh_token_expires_in",
        "id_token",  # SCOPE asks for openid
    }
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600 and body["x_refresh_token_expires_in"] == 8726400
    assert body["access_token"] != body["refresh_token"]
    assert p.check_bearer(data_req(body["access_token"]), REALM) is None


def test_hard_expiry_header_and_ttl_attributes() -> None:
    p = make_provider()
    p.access_ttl = 120
    p.refresh_ttl = 1000
    code = approve(p)["code"]
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    req = post_form(
        "/oauth2/v1/tokens/bearer", body, {"x-include-refresh-token-hard-expires-in": "true"}, basic()
    )
    tokens = json.loads(must(p.handle(req, BASE)).body)
    assert tokens["expires_in"] == 120 and tokens["x_refresh_token_expires_in"] == 1000
    assert 5 * 365 * 86400 - 5 <= tokens["x_refresh_token_hard_expires_in"] <= 5 * 365 * 86400


def test_client_secret_post_and_bad_clients() -> None:
    p = make_provider()
    code = approve(p)["code"]
    fields = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    for auth in (basic(CID, "wrong"), basic("nobody", SECRET), "Basic !!!notbase64", "Bearer x" * 3):
        resp = must(p.handle(post_form("/oauth2/v1/tokens/bearer", fields, auth=auth), BASE))
        assert resp.status == 401 and json.loads(resp.body) == {"error": "invalid_client"}
        assert SECRET.encode() not in resp.body
    resp = must(p.handle(post_form("/oauth2/v1/tokens/bearer", fields), BASE))
    assert resp.status == 401
    fields.update(client_id=CID, client_secret=SECRET)
    resp = must(p.handle(post_form("/oauth2/v1/tokens/bearer", fields), BASE))
    assert resp.status == 200
    assert p.stats()["invalid_client"] == 5


def test_code_exchange_failures_are_invalid_grant() -> None:
    clock = Clock()
    p = make_provider(clock=clock)
    code = approve(p)["code"]
    assert exchange(p, code, redirect_uri="http://localhost:8080/other").body == INVALID_GRANT
    assert exchange(p, code, auth=basic(CID2, SECRET2)).body == INVALID_GRANT  # another client's code
    assert exchange(p, "AB11" + "x" * 40).body == INVALID_GRANT
    clock.advance(601)
    resp = exchange(p, code)
    assert resp.status == 400 and resp.body == INVALID_GRANT
    assert resp.headers["Content-Type"] == "application/json;charset=utf-8"
    assert p.stats()["invalid_grant"] == 4


def test_grant_type_errors() -> None:
    p = make_provider()
    resp = must(
        p.handle(post_form("/oauth2/v1/tokens/bearer", {"grant_type": "password"}, auth=basic()), BASE)
    )
    assert resp.status == 400 and json.loads(resp.body) == {"error": "unsupported_grant_type"}
    resp = must(p.handle(post_form("/oauth2/v1/tokens/bearer", {}, auth=basic()), BASE))
    assert resp.status == 400 and json.loads(resp.body) == {"error": "invalid_request"}


def test_code_reuse_is_invalid_grant_and_revokes_first_tokens() -> None:
    p = make_provider()
    code = approve(p)["code"]
    first = json.loads(exchange(p, code).body)
    assert p.check_bearer(data_req(first["access_token"]), REALM) is None
    again = exchange(p, code)
    assert again.status == 400 and again.body == INVALID_GRANT
    denied = must(p.check_bearer(data_req(first["access_token"]), REALM))
    assert denied.status == 401 and fault_detail(denied) == "Token revoked"
    assert refresh(p, first["refresh_token"]).body == INVALID_GRANT
    assert p.stats()["code_reuses"] == 1


def test_refresh_rotates_on_every_refresh() -> None:
    p = make_provider()
    t1 = connect(p)
    r2 = refresh(p, t1["refresh_token"])
    assert r2.status == 200
    t2 = json.loads(r2.body)
    assert t2["refresh_token"] != t1["refresh_token"] and t2["access_token"] != t1["access_token"]
    assert refresh(p, t1["refresh_token"]).body == INVALID_GRANT  # the old RT died at once
    # old and new access tokens of the grant both work until they expire
    assert p.check_bearer(data_req(t1["access_token"]), REALM) is None
    assert p.check_bearer(data_req(t2["access_token"]), REALM) is None
    t3 = json.loads(refresh(p, t2["refresh_token"]).body)
    assert t3["refresh_token"] not in (t1["refresh_token"], t2["refresh_token"])
    assert refresh(p, t2["refresh_token"]).status == 400
    assert refresh(p, t3["refresh_token"], auth=basic(CID2, SECRET2)).body == INVALID_GRANT  # other client
    assert refresh(p, t3["refresh_token"]).status == 200  # ...and that attempt did not burn it
    assert refresh(p, t3["access_token"]).body == INVALID_GRANT  # an access token is no refresh token
    assert p.stats()["refreshes"] == 3


def test_refresh_lifetime_rolls_and_expires() -> None:
    clock = Clock()
    p = make_provider(clock=clock)
    rt = connect(p)["refresh_token"]
    for _ in range(2):  # each use gives a fresh refresh_ttl
        clock.advance(8726400 - 60)
        resp = refresh(p, rt)
        assert resp.status == 200
        rt = json.loads(resp.body)["refresh_token"]
    clock.advance(8726400 + 1)
    assert refresh(p, rt).body == INVALID_GRANT


def test_access_token_expiry_by_clock_gateway_401_shape() -> None:
    clock = Clock()
    p = make_provider(clock=clock)
    at = connect(p)["access_token"]
    assert p.check_bearer(data_req(at), REALM) is None
    clock.advance(3601)
    resp = must(p.check_bearer(data_req(at), REALM))
    assert resp.status == 401
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="Intuit", error="invalid_token"'
    body = json.loads(resp.body)
    assert set(body) == GATEWAY_KEYS
    assert body["fault"]["type"] == "AUTHENTICATION"
    err = body["fault"]["error"][0]
    assert err == {
        "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
        "detail": f"Token expired: {at[:12]}",
        "code": "3200",
        "element": None,
    }
    assert isinstance(body["time"], int) and abs(body["time"] / 1000 - clock.now().timestamp()) < 5
    assert body["batchItemResponse"] == [] and body["cdcresponse"] == [] and body["report"] is None
    assert at[12:40] not in resp.body.decode()


def test_expire_after_requests_fault_injection() -> None:
    p = make_provider(expire_after_requests=2)
    tokens = connect(p)
    at = tokens["access_token"]
    assert p.check_bearer(data_req(at), REALM) is None
    assert p.check_bearer(data_req(at), REALM) is None
    resp = must(p.check_bearer(data_req(at), REALM))
    assert resp.status == 401 and fault_detail(resp).startswith("Token expired: ")
    assert "WWW-Authenticate" in resp.headers
    fresh = json.loads(refresh(p, tokens["refresh_token"]).body)["access_token"]
    assert p.check_bearer(data_req(fresh), REALM) is None
    p.expire_after_requests = None  # switched off at runtime: the old token is good again (time allows)
    assert p.check_bearer(data_req(at), REALM) is None
    assert p.stats()["expired_by_request_count"] == 1


@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        (None, "Malformed bearer token: too short or too long"),
        ("Bearer ", "Malformed bearer token: too short or too long"),
        ("Bearer abc", "Malformed bearer token: too short or too long"),
        ("Bearer " + "x" * 5000, "Malformed bearer token: too short or too long"),
        ("Basic " + "x" * 40, "Malformed bearer token: too short or too long"),
        ("Bearer " + "x" * 40, "Token invalid"),
    ],
)
def test_bad_bearer_tokens(authorization: str | None, detail: str) -> None:
    p = make_provider()
    headers = {"authorization": authorization} if authorization is not None else {}
    resp = must(p.check_bearer(Request("GET", "/v3/company/1/query", {}, headers), REALM))
    assert resp.status == 401 and fault_detail(resp) == detail
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="Intuit", error="invalid_token"'


def test_refresh_token_is_not_a_bearer_token() -> None:
    p = make_provider()
    rt = connect(p)["refresh_token"]
    assert fault_detail(must(p.check_bearer(data_req(rt), REALM))) == "Token invalid"


def test_other_realm_is_403_fault() -> None:
    p = make_provider(companies={REALM: COMPANY, REALM2: "Second"})
    at = connect(p)["access_token"]
    resp = must(p.check_bearer(data_req(at), REALM2))
    assert resp.status == 403
    body = json.loads(resp.body)
    assert body["Fault"] == {
        "Error": [
            {
                "Message": "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
                "Detail": "",
                "code": "3100",
            }
        ],
        "type": "AuthorizationFault",
    }
    assert isinstance(body["time"], str) and "T" in body["time"]
    assert p.check_bearer(data_req(at), REALM) is None


# -- revocation ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["refresh_token", "access_token"])
def test_revoke_kills_the_whole_grant(which: str) -> None:
    p = make_provider()
    t1 = connect(p)
    t2 = json.loads(refresh(p, t1["refresh_token"]).body)
    other = connect(p)  # a second connection is unaffected
    resp = revoke(p, t2[which])
    assert resp.status == 200 and resp.body == b""
    for at in (t1["access_token"], t2["access_token"]):
        denied = must(p.check_bearer(data_req(at), REALM))
        assert denied.status == 401 and fault_detail(denied) == "Token revoked"
    assert refresh(p, t2["refresh_token"]).body == INVALID_GRANT
    assert p.check_bearer(data_req(other["access_token"]), REALM) is None
    assert refresh(p, other["refresh_token"]).status == 200
    assert revoke(p, t2[which]).status == 200  # revoking twice is fine
    assert p.stats()["revokes"] == 1


def test_revoke_with_rotated_away_refresh_token_still_disconnects() -> None:
    p = make_provider()
    t1 = connect(p)
    t2 = json.loads(refresh(p, t1["refresh_token"]).body)
    assert revoke(p, t1["refresh_token"]).status == 200
    assert refresh(p, t2["refresh_token"]).body == INVALID_GRANT


def test_revoke_unknown_token_bad_client_and_other_client() -> None:
    p = make_provider()
    tokens = connect(p)
    assert revoke(p, "AB11" + "z" * 40).status == 200  # RFC 7009: unknown token is not an error
    bad = revoke(p, tokens["refresh_token"], auth=basic(CID, "wrong"))
    assert bad.status == 401 and json.loads(bad.body) == {"error": "invalid_client"}
    other = revoke(p, tokens["refresh_token"], auth=basic(CID2, SECRET2))
    assert other.status == 400
    assert p.check_bearer(data_req(tokens["access_token"]), REALM) is None  # still connected
    form = post_form("/v2/oauth2/tokens/revoke", {"token": tokens["refresh_token"]}, auth=basic())
    assert must(p.handle(form, BASE)).status == 200  # a form body (RFC 7009 style) is accepted too
    assert must(p.check_bearer(data_req(tokens["access_token"]), REALM)).status == 401


# -- userinfo -----------------------------------------------------------------------------------------
def test_userinfo() -> None:
    p = make_provider()
    at = connect(p, scope=f"{SCOPE} profile")["access_token"]
    ok = must(p.handle(get("/v1/openid_connect/userinfo", headers={"Authorization": f"Bearer {at}"}), BASE))
    assert ok.status == 200 and {"sub", "email", "givenName", "familyName"} <= set(json.loads(ok.body))
    without_openid = connect(p, scope=ACCOUNTING_SCOPE)["access_token"]
    denied = must(p.handle(get("/v1/openid_connect/userinfo",
                               headers={"Authorization": f"Bearer {without_openid}"}), BASE))
    assert denied.status == 403
    bad = must(p.handle(get("/v1/openid_connect/userinfo"), BASE))
    assert bad.status == 401


# -- storage, persistence, concurrency, secrecy -----------------------------------------------------
def test_persistence_across_restart(tmp_path: Path) -> None:
    path = tmp_path / "emu.sqlite"
    store = Store(path)
    p = make_provider(store=store)
    tokens = connect(p)
    store.close()

    store2 = Store(path)
    p2 = make_provider(store=store2)
    assert p2.check_bearer(data_req(tokens["access_token"]), REALM) is None
    resp = refresh(p2, tokens["refresh_token"])
    assert resp.status == 200
    new_rt = json.loads(resp.body)["refresh_token"]
    store2.close()

    store3 = Store(path)
    p3 = make_provider(store=store3)
    assert refresh(p3, tokens["refresh_token"]).body == INVALID_GRANT  # rotation survived too
    assert refresh(p3, new_rt).status == 200
    store3.close()


def test_store_holds_only_digests(tmp_path: Path) -> None:
    store = Store(tmp_path / "emu.sqlite")
    p = make_provider(store=store)
    code = approve(p)["code"]
    tokens = json.loads(exchange(p, code).body)
    dumped = json.dumps({ns: store.kv_items(ns) for ns in (NS_CODE, NS_TOKEN, NS_GRANT)})
    for secret in (code, tokens["access_token"], tokens["refresh_token"], SECRET):
        assert secret not in dumped
    store.close()
    raw = (tmp_path / "emu.sqlite").read_bytes()
    wal = tmp_path / "emu.sqlite-wal"
    if wal.exists():
        raw += wal.read_bytes()
    for secret in (code, tokens["access_token"], tokens["refresh_token"]):
        assert secret.encode() not in raw


def test_concurrent_refresh_exactly_one_wins() -> None:
    p = make_provider()
    rt = connect(p)["refresh_token"]
    barrier = threading.Barrier(8)
    results: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        status = refresh(p, rt).status
        with lock:
            results.append(status)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == [200] + [400] * 7


def test_repr_and_stats_hold_no_secrets() -> None:
    client = OAuthClient(CID, SECRET, (REDIRECT,))
    assert SECRET not in repr(client) and SECRET not in str(client) and CID in repr(client)
    p = make_provider()
    tokens = connect(p)
    refresh(p, tokens["refresh_token"])
    text = repr(p) + json.dumps(p.stats())
    for secret in (SECRET, SECRET2, tokens["access_token"], tokens["refresh_token"]):
        assert secret not in text
    stats = p.stats()
    assert stats["tokens_issued"] == 2 and stats["refreshes"] == 1 and stats["code_exchanges"] == 1
    assert stats["active_grants"] == 1


def test_logs_hold_no_secrets(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="qbo_toolkit.emulator.oauth")
    p = make_provider()
    code = approve(p)["code"]
    tokens = json.loads(exchange(p, code).body)
    exchange(p, code)
    assert caplog.records  # something was logged
    for secret in (code, tokens["access_token"], tokens["refresh_token"], SECRET):
        assert secret not in caplog.text


def test_dead_records_are_purged() -> None:
    clock = Clock()
    store = Store()
    p = make_provider(store=store, clock=clock)
    t = connect(p)
    revoke(p, t["refresh_token"])
    clock.advance(3 * 86400 + 8726400)
    connect(p)  # a token request triggers the purge
    assert len(store.kv_items(NS_GRANT)) == 1
    assert len(store.kv_items(NS_TOKEN)) == 2
    assert len(store.kv_items(NS_CODE)) == 1


def test_duplicate_client_ids_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate") as info:
        OAuthProvider(
            Store(),
            Clock(),
            companies={REALM: COMPANY},
            clients=[OAuthClient(CID, SECRET, ()), OAuthClient(CID, "s2", ())],
        )
    assert SECRET not in str(info.value)


# -- intuitlib against the provider (no sockets: requests' transport is routed to handle()) ------------
def test_intuitlib_flow_against_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("intuitlib")
    import requests
    from intuitlib.client import AuthClient
    from intuitlib.enums import Scopes
    from intuitlib.exceptions import AuthClientError
    from requests.structures import CaseInsensitiveDict

    p = make_provider()
    seen: list[str] = []

    def send(self: Any, prep: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        parts = urlsplit(prep.url or "")
        body = prep.body or b""
        req = Request(
            prep.method or "GET",
            parts.path,
            {k: v[0] for k, v in parse_qs(parts.query).items()},
            {k.lower(): v for k, v in prep.headers.items()},
            body.encode() if isinstance(body, str) else body,
        )
        seen.append(f"{req.method} {req.path}")
        reply = p.handle(req, BASE)
        assert reply is not None
        resp = requests.Response()
        resp.status_code = reply.status
        resp._content = reply.body
        resp.headers = CaseInsensitiveDict(reply.headers)
        resp.url = prep.url or ""
        resp.request = prep
        return resp

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)

    ac = AuthClient(CID, SECRET, REDIRECT, BASE + "/.well-known/openid_sandbox_configuration/")
    assert ac.token_endpoint == BASE + "/oauth2/v1/tokens/bearer"
    assert ac.revoke_endpoint == BASE + "/v2/oauth2/tokens/revoke"
    url = ac.get_authorization_url([Scopes.ACCOUNTING, Scopes.OPENID], state_token="xyz")
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    page = must(p.handle(get(parts.path, query), BASE))
    assert page.status == 200
    params = approve(p, scope=query["scope"], state="xyz")
    assert params["state"] == "xyz"

    ac.get_bearer_token(params["code"], realm_id=params["realmId"])
    assert ac.access_token and ac.refresh_token and ac.expires_in == 3600
    assert ac.id_token is not None  # signed RS256 by the emulator, validated by intuitlib against the JWKS
    first_rt = ac.refresh_token
    ac.refresh()
    assert ac.refresh_token != first_rt
    with pytest.raises(AuthClientError) as info:
        ac.refresh(refresh_token=first_rt)
    assert info.value.status_code == 400 and info.value.content == INVALID_GRANT
    assert ac.get_user_info().status_code == 200
    assert ac.revoke() is True
    with pytest.raises(AuthClientError):
        ac.refresh()
    assert seen[0] == "GET /.well-known/openid_sandbox_configuration/"
