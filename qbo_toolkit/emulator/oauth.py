"""The emulator's OAuth 2.0 provider: Intuit's authorisation server as intuitlib and python-quickbooks see it.

Routes served by :meth:`OAuthProvider.handle` (paths follow Intuit's; anything else returns ``None``)::

    GET  /.well-known/openid_configuration            discovery JSON (also ..._sandbox_..., hyphenated
    GET  /.well-known/openid_sandbox_configuration    spellings, with or without a trailing slash)
    GET  /op/v1/jwks                                  the RS256 public key that signs id_tokens
    GET  /connect/oauth2                              consent page (or an immediate redirect: auto_approve)
    POST /connect/oauth2                              the consent decision -> 302 to the redirect_uri
    POST /oauth2/v1/tokens/bearer                     authorization_code and refresh_token grants
    POST /v2/oauth2/tokens/revoke                     revoke a whole grant by any of its tokens
    GET  /v1/openid_connect/userinfo                  the user's claims, as far as the grant's scopes allow

OpenID Connect: when the grant's scopes include ``openid``, the authorization-code exchange also returns
an ``id_token``, a JWT signed RS256 with the emulator's key (``kid`` in the header), whose claims are
Intuit's: ``iss`` = ``https://oauth.platform.intuit.com/op/v1`` (Intuit's issuer, which the discovery
document names too: intuit-oauth and Intuit's other official clients compare ``iss`` with it), ``aud`` =
``[client_id]`` (a list, as Intuit sends it), ``sub`` (the user), ``realmid`` (with a company scope),
``iat``, ``exp`` (one hour) and ``auth_time`` (when the user connected), all in seconds of the emulator's
clock. The JWKS publishes the public key; the key pair is made on first use (RSA 2048, ``cryptography``)
and kept in the Store (namespace ``oauth.key``), so with a data dir it survives restarts and tokens issued
before a restart still verify. A refresh returns no new ``id_token`` (strict choice: Intuit documents it
for the code exchange only). UserInfo answers ``sub`` and, per scope, ``email``/``emailVerified``
(``email``), ``givenName``/``familyName`` (``profile``), ``phoneNumber``/``phoneNumberVerified``
(``phone``) and ``address`` (``address``); a token whose grant lacks ``openid`` gets 403.

Data-API calls are authorised with :meth:`OAuthProvider.check_bearer`, which returns ``None`` or the reply
Intuit's gateway would send: 401 in the lower-case gateway envelope (code 3200) with
``WWW-Authenticate: Bearer realm="Intuit", error="invalid_token"``, or a 403 AuthorizationFault (3100).

Strict choices where Intuit's behaviour is undocumented or loose:

* Refresh tokens rotate on *every* refresh. The old refresh token dies at once (``invalid_grant``
  afterwards), the new one gets a fresh ``refresh_ttl`` (rolling, capped by a five-year hard life), and
  access tokens issued earlier in the grant stay valid until they expire.
* An authorization code is single-use. Presenting it again is ``invalid_grant`` *and* revokes every token
  the first exchange produced (RFC 6749 §4.1.2).
* Any token of another client, or any expired, used, rotated-away or revoked code or token, is
  ``{"error":"invalid_grant"}`` (HTTP 400). Bad client credentials are HTTP 401 ``invalid_client``.
* Revoking any token (access or refresh, current or recently rotated) revokes the whole grant.
* A valid access token used for another company (realm), or without the accounting scope, gets HTTP 403
  (ApplicationAuthorizationFailed, 3100), not 401.
* ``expire_after_requests`` (fault injection): each access token answers that many data requests in total
  and then behaves as expired. The per-token counts live in memory only.

Storage: codes, tokens and grants are records in the Store's key-value namespaces ``oauth.code``,
``oauth.token`` and ``oauth.grant``. Codes and tokens are keyed by the SHA-256 hex digest of their value;
the value itself is never stored, so a leaked store file grants nothing. Multi-step changes run inside
``store.transaction()`` while holding ``store.lock``, so two refreshes racing with one refresh token cannot
both win, and the state survives a restart when the Store has a file. Dead records are purged lazily a day
after they stop mattering. Times come from ``clock.now()``, so tests can move them with ``clock.advance()``.

Secrets (client secrets, codes, tokens) never appear in a repr, a log line or an exception message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import json
import logging
import secrets
import string
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .clock import Clock, reply_time
from .store import Store
from .wire import Request, Response

log = logging.getLogger(__name__)

Record = dict[str, Any]

# -- paths ------------------------------------------------------------------------------------------
AUTHORIZE_PATH = "/connect/oauth2"
TOKEN_PATH = "/oauth2/v1/tokens/bearer"  # noqa: S105 (a path, not a secret)
REVOKE_PATH = "/v2/oauth2/tokens/revoke"
USERINFO_PATH = "/v1/openid_connect/userinfo"
JWKS_PATH = "/op/v1/jwks"
#: Intuit's OpenID issuer (sandbox and production alike): the ``iss`` of every id_token and the discovery
#: document's ``issuer``. It is not a URL of the emulator: clients compare it, they never fetch it.
INTUIT_ISSUER = "https://oauth.platform.intuit.com/op/v1"
DISCOVERY_PATHS = frozenset(
    "/.well-known/" + name
    for name in (
        "openid_configuration",
        "openid_sandbox_configuration",
        "openid-configuration",
        "openid-sandbox-configuration",
    )
)

# -- scopes -----------------------------------------------------------------------------------------
ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
PAYMENT_SCOPE = "com.intuit.quickbooks.payment"
KNOWN_SCOPES = frozenset(
    {
        ACCOUNTING_SCOPE,
        PAYMENT_SCOPE,
        "openid",
        "profile",
        "email",
        "phone",
        "address",
        "intuit_name",
        "com.intuit.quickbooks.payroll",
        "com.intuit.quickbooks.payroll.timetracking",
        "com.intuit.quickbooks.payroll.benefits",
        "com.intuit.quickbooks.payroll.payslip.read",
        "project-management.project",
        "app-foundations.custom-field-definitions",
        "app-foundations.custom-field-definitions.read",
        "payroll.compensation.read",
        "indirect-tax.tax-calculation.quickbooks",
        "tax-compliance.workpapers.read",
    }
)
# Scopes whose grant is tied to one company: only these put realmId on the redirect.
COMPANY_SCOPES = frozenset({ACCOUNTING_SCOPE, PAYMENT_SCOPE})
_SCOPE_TEXT = {
    ACCOUNTING_SCOPE: "Read and change your QuickBooks accounting data (customers, invoices, payments)",
    PAYMENT_SCOPE: "Process payments through QuickBooks Payments",
    "openid": "Sign you in with your Intuit account",
    "profile": "See your name",
    "email": "See your email address",
    "phone": "See your phone number",
    "address": "See your address",
}

# -- namespaces and lifetimes -----------------------------------------------------------------------
NS_CODE = "oauth.code"
NS_TOKEN = "oauth.token"  # noqa: S105 (a namespace, not a secret)
NS_GRANT = "oauth.grant"
NS_KEY = "oauth.key"
KEY_NAME = "rs256"
ID_TOKEN_TTL = 3600
#: the one Intuit user of the emulator: who signs in, and what UserInfo tells about them per scope
USER_SUB = "8b3f2a9e-0c5d-4e6f-9a1b-7c2d3e4f5a6b"
USER_CLAIMS: dict[str, dict[str, Any]] = {
    "email": {"email": "demo.user@example.com", "emailVerified": True},
    "profile": {"givenName": "Demo", "familyName": "User"},
    "phone": {"phoneNumber": "+1 6505550100", "phoneNumberVerified": False},
    "address": {"address": {"streetAddress": "2700 Coast Avenue", "locality": "Mountain View", "region": "CA",
                            "postalCode": "94043", "country": "US"}},
}
HARD_TTL = 5 * 365 * 86400.0  # refresh tokens' maximum life, counted from the grant (B-RT)
RETAIN = 86400.0  # keep dead records this long so replies can say "expired"/"revoked", not "invalid"
PURGE_INTERVAL = 300.0
MIN_BEARER = 20
MAX_BEARER = 4096

_ALNUM = string.ascii_letters + string.digits
_JWE_HEADER = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0"  # {"enc":"A128CBC-HS256","alg":"dir"}
_JSON_HEADERS = {
    "Content-Type": "application/json;charset=utf-8",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
}
_HTML_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
    "base-uri 'none'",
}


@dataclass(frozen=True)
class OAuthClient:
    """One registered app (the keys of a developer-portal app)."""

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    name: str = "qbo-toolkit demo"

    def __post_init__(self) -> None:
        if isinstance(self.redirect_uris, str):
            object.__setattr__(self, "redirect_uris", (self.redirect_uris,))
        else:
            object.__setattr__(self, "redirect_uris", tuple(self.redirect_uris))

    def __repr__(self) -> str:
        return (
            f"OAuthClient(client_id={self.client_id!r}, client_secret='***', "
            f"redirect_uris={self.redirect_uris!r}, name={self.name!r})"
        )

    __str__ = __repr__


def _plain(record: Any) -> Any:
    """A stored record with JSON numbers as floats (a file-backed Store reloads them as Decimal)."""
    if isinstance(record, dict):
        return {k: float(v) if isinstance(v, Decimal) else v for k, v in record.items()}
    return record


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _alnum(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


def _new_code(expires: float) -> str:
    # Intuit's codes look like AB11<epoch><random>; ours are 50 characters (the limit is 512).
    return f"AB11{int(expires)}{_alnum(36)}"


def _new_refresh_token(expires: float) -> str:
    return f"AB11{int(expires)}{_alnum(36)}"


def _new_access_token() -> str:
    # Shaped like Intuit's: a compact JWE with direct encryption (header..iv.ciphertext.tag).
    return ".".join(
        (_JWE_HEADER, "", secrets.token_urlsafe(16), secrets.token_urlsafe(450), secrets.token_urlsafe(16))
    )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8 or 1, "big"))


class SigningKey:
    """The RS256 key pair that signs id_tokens; ``kid`` is the RFC 7638 thumbprint of the public key."""

    def __init__(self, private: rsa.RSAPrivateKey) -> None:
        self.private = private
        numbers = private.public_key().public_numbers()
        self.e, self.n = _uint(numbers.e), _uint(numbers.n)
        thumbprint = json.dumps({"e": self.e, "kty": "RSA", "n": self.n}, separators=(",", ":"))
        self.kid = _b64url(hashlib.sha256(thumbprint.encode("ascii")).digest())

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r})"  # never the private numbers

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def from_pem(cls, pem: str) -> SigningKey:
        private = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
        if not isinstance(private, rsa.RSAPrivateKey):
            raise ValueError("the stored OpenID signing key is not an RSA key")
        return cls(private)

    def pem(self) -> str:
        return self.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()).decode("ascii")

    def jwk(self) -> dict[str, str]:
        return {"kty": "RSA", "e": self.e, "use": "sig", "kid": self.kid, "alg": "RS256", "n": self.n}

    def sign_jwt(self, claims: Mapping[str, Any]) -> str:
        """A compact JWS (RS256) of ``claims``. Header and claims are ASCII JSON, so their base64url has
        neither ``-`` nor ``_`` unless a value holds ``>``, ``?`` or ``~`` (intuit-oauth decodes them with
        the standard alphabet)."""
        header = _b64url(_compact({"kid": self.kid, "alg": "RS256"}))
        body = _b64url(_compact(dict(claims)))
        signing_input = f"{header}.{body}".encode("ascii")
        signature = self.private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{body}.{_b64url(signature)}"


def _compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def _oauth_json(status: int, obj: Any, extra: Mapping[str, str] | None = None) -> Response:
    headers = dict(_JSON_HEADERS)
    headers.update(extra or {})
    return Response(status, _compact(obj), headers)


def _oauth_error(status: int, error: str, extra: Mapping[str, str] | None = None) -> Response:
    return _oauth_json(status, {"error": error}, extra)


def _with_query(uri: str, params: Sequence[tuple[str, str]]) -> str:
    parts = urlsplit(uri)
    query = parts.query + ("&" if parts.query else "") + urlencode(list(params))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def _redirect(uri: str, params: Sequence[tuple[str, str]]) -> Response:
    resp = Response.redirect(_with_query(uri, params))
    resp.headers.update({"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
    return resp


def _parse_scopes(raw: str) -> list[str] | None:
    """The requested scopes in order, without duplicates; None if empty or any is unknown."""
    scopes: list[str] = []
    for scope in raw.split():
        if scope not in KNOWN_SCOPES:
            return None
        if scope not in scopes:
            scopes.append(scope)
    return scopes or None


def _body_params(req: Request) -> dict[str, str]:
    """Form or JSON body fields as strings; never raises (a body that cannot be read has no fields)."""
    try:
        text = req.body.decode("utf-8")
    except UnicodeDecodeError:
        return {}
    stripped = text.lstrip()
    if stripped.startswith("{") or "json" in req.header("content-type").lower():
        try:
            obj = json.loads(text)
        except ValueError:
            return {}
        if not isinstance(obj, dict):
            return {}
        return {str(k): v for k, v in obj.items() if isinstance(v, str)}
    return dict(parse_qsl(text, keep_blank_values=True))


class OAuthProvider:
    """Authorization server state and routes. Thread-safe: every mutation runs under ``store.lock``."""

    hard_ttl: float = HARD_TTL

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        companies: Mapping[str, str],
        clients: Sequence[OAuthClient],
        access_ttl: float = 3600,
        refresh_ttl: float = 8726400,
        code_ttl: float = 600,
        auto_approve: bool = False,
        expire_after_requests: int | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.companies = companies  # kept by reference: the server may add companies later
        self.clients: dict[str, OAuthClient] = {}
        for client in clients:
            if client.client_id in self.clients:
                raise ValueError(f"duplicate OAuth client_id {client.client_id!r}")
            self.clients[client.client_id] = client
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.code_ttl = code_ttl
        self.auto_approve = auto_approve
        self.expire_after_requests = expire_after_requests
        self._uses: dict[str, int] = {}  # access-token digest -> data requests answered
        self._last_purge = float("-inf")
        self._key: SigningKey | None = None
        self._stats_lock = threading.Lock()
        self._stats: dict[str, int] = dict.fromkeys(
            (
                "codes_issued",
                "consents_denied",
                "code_exchanges",
                "code_reuses",
                "tokens_issued",
                "refreshes",
                "revokes",
                "invalid_grant",
                "invalid_client",
                "bearer_accepted",
                "bearer_rejected",
                "bearer_forbidden",
                "expired_by_request_count",
            ),
            0,
        )

    def __repr__(self) -> str:
        return f"OAuthProvider(clients={sorted(self.clients)!r}, companies={sorted(self.companies)!r})"

    # -- public API ---------------------------------------------------------------------------------
    def discovery(self, base_url: str) -> dict[str, Any]:
        """The OpenID discovery document, with every endpoint under ``base_url``."""
        base = base_url.rstrip("/")
        return {
            "issuer": INTUIT_ISSUER,
            "authorization_endpoint": base + AUTHORIZE_PATH,
            "token_endpoint": base + TOKEN_PATH,
            "userinfo_endpoint": base + USERINFO_PATH,
            "revocation_endpoint": base + REVOKE_PATH,
            "jwks_uri": base + JWKS_PATH,
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile", "address", "phone"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "claims_supported": ["aud", "exp", "iat", "iss", "realmid", "sub"],
        }

    def handle(self, req: Request, base_url: str) -> Response | None:
        """Answer an OAuth route; ``None`` when ``req.path`` is not one."""
        path = req.path.split("?", 1)[0]
        if len(path) > 1:
            path = path.rstrip("/") or "/"
        method = req.method.upper()
        if path in DISCOVERY_PATHS:
            if method != "GET":
                return _not_allowed("GET")
            return Response.json(200, self.discovery(base_url))
        if path == JWKS_PATH:
            if method != "GET":
                return _not_allowed("GET")
            return Response.json(200, {"keys": [self.signing_key().jwk()]})
        if path == AUTHORIZE_PATH:
            if method == "GET":
                return self._authorize_get(req)
            if method == "POST":
                return self._authorize_post(req)
            return _not_allowed("GET, POST")
        if path == TOKEN_PATH:
            return self._token(req) if method == "POST" else _not_allowed("POST")
        if path == REVOKE_PATH:
            return self._revoke(req) if method == "POST" else _not_allowed("POST")
        if path == USERINFO_PATH:
            return self._userinfo(req) if method == "GET" else _not_allowed("GET")
        return None

    def check_bearer(self, req: Request, realm_id: str) -> Response | None:
        """Authorise a data-API request for ``realm_id``: ``None`` if allowed, else the 401/403 reply."""
        with self.store.lock:
            problem, digest, grant = self._access_token(req)
            if problem is not None:
                self._bump("bearer_rejected")
                return self._unauthorized(problem)
            assert digest is not None and grant is not None
            limit = self.expire_after_requests
            used = self._uses.get(digest, 0)
            if limit is not None and used >= limit:
                self._bump("bearer_rejected")
                self._bump("expired_by_request_count")
                return self._unauthorized(self._expired_detail(req))
            if grant.get("realm") != realm_id or ACCOUNTING_SCOPE not in grant.get("scopes", ()):
                self._bump("bearer_forbidden")
                return self._forbidden()
            self._uses[digest] = used + 1
        self._bump("bearer_accepted")
        return None

    def stats(self) -> dict[str, int]:
        """Counters for the inspection route. Holds no token, code or secret values."""
        now = self._now()
        with self.store.lock:
            grants = [g for _, g in self._items(NS_GRANT)]
            active = sum(1 for g in grants if not g.get("revoked") and now < g.get("refresh_expires", 0))
            revoked = sum(1 for g in grants if g.get("revoked"))
        with self._stats_lock:
            out = dict(self._stats)
        out["active_grants"] = active
        out["revoked_grants"] = revoked
        return out

    # -- helpers --------------------------------------------------------------------------------------
    def _get(self, ns: str, key: str) -> Record | None:
        record: Record | None = _plain(self.store.kv_get(ns, key))
        return record

    def _items(self, ns: str) -> list[tuple[str, Record]]:
        return [(key, _plain(value)) for key, value in self.store.kv_items(ns)]

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def _bump(self, name: str, n: int = 1) -> None:
        with self._stats_lock:
            self._stats[name] = self._stats.get(name, 0) + n

    def _verify_client(self, client_id: str, secret: str) -> OAuthClient | None:
        client = self.clients.get(client_id)
        expected = client.client_secret if client is not None else "\x00unknown-client"
        ok = hmac.compare_digest(secret.encode("utf-8"), expected.encode("utf-8"))
        return client if ok and client is not None else None

    def _authenticate_client(self, req: Request, params: Mapping[str, str]) -> OAuthClient | None:
        """client_secret_basic (as intuitlib sends it), else client_secret_post; None if it fails."""
        auth = req.header("authorization").strip()
        if auth:
            scheme, _, cred = auth.partition(" ")
            if scheme.lower() != "basic":
                return None
            try:
                raw = base64.b64decode(cred.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                return None
            client_id, sep, secret = raw.partition(":")
            if not sep:
                return None
            # intuitlib sends the raw values; RFC 6749 §2.3.1 says form-encode them first. Accept both.
            return self._verify_client(client_id, secret) or self._verify_client(
                unquote_plus(client_id), unquote_plus(secret)
            )
        post_id, post_secret = params.get("client_id"), params.get("client_secret")
        if post_id and post_secret is not None:
            return self._verify_client(post_id, post_secret)
        return None

    def _invalid_client(self) -> Response:
        self._bump("invalid_client")
        return _oauth_error(401, "invalid_client", {"WWW-Authenticate": 'Basic realm="Intuit"'})

    def _invalid_grant(self) -> Response:
        self._bump("invalid_grant")
        return _oauth_error(400, "invalid_grant")

    # -- authorization endpoint ---------------------------------------------------------------------
    def _client_and_redirect(self, params: Mapping[str, str]) -> tuple[OAuthClient, str] | Response:
        client_id = params.get("client_id", "")
        client = self.clients.get(client_id)
        if client is None:
            return _error_page(
                "Unknown app",
                f"No app with client_id <code>{html.escape(client_id)}</code> is registered with this "
                "QuickBooks emulator. Check the app's keys.",
            )
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            return _error_page(
                "Redirect URI not registered",
                f"The redirect_uri <code>{html.escape(redirect_uri)}</code> is not registered for "
                f"<strong>{html.escape(client.name)}</strong>, so this page will not send you there.",
            )
        return client, redirect_uri

    def _authorize_get(self, req: Request) -> Response:
        params = req.query
        checked = self._client_and_redirect(params)
        if isinstance(checked, Response):
            return checked
        client, redirect_uri = checked
        state = params.get("state")
        early = self._check_request(params, redirect_uri, state)
        if isinstance(early, Response):
            return early
        scopes = early
        if not self.companies:
            return _error_page("No company", "The emulator has no QuickBooks company to connect to.")
        if self.auto_approve:
            return self._issue_code(client, redirect_uri, next(iter(self.companies)), scopes, state)
        return self._consent_page(client, redirect_uri, scopes, state)

    def _check_request(
        self, params: Mapping[str, str], redirect_uri: str, state: str | None
    ) -> list[str] | Response:
        if params.get("response_type") != "code":
            return _redirect(redirect_uri, _error_params("unsupported_response_type", state))
        scopes = _parse_scopes(params.get("scope", ""))
        if scopes is None:
            return _redirect(redirect_uri, _error_params("invalid_scope", state))
        return scopes

    def _authorize_post(self, req: Request) -> Response:
        form = _body_params(req)
        checked = self._client_and_redirect(form)
        if isinstance(checked, Response):
            return checked
        client, redirect_uri = checked
        state = form.get("state")
        early = self._check_request(form, redirect_uri, state)
        if isinstance(early, Response):
            return early
        scopes = early
        if form.get("decision", "").strip().lower() != "approve":
            self._bump("consents_denied")
            log.info("oauth: consent denied for client %s", client.client_id)
            return _redirect(redirect_uri, _error_params("access_denied", state))
        realm = form.get("realmId") or next(iter(self.companies), "")
        if realm not in self.companies:
            return _redirect(redirect_uri, _error_params("invalid_request", state))
        return self._issue_code(client, redirect_uri, realm, scopes, state)

    def _issue_code(
        self, client: OAuthClient, redirect_uri: str, realm: str, scopes: list[str], state: str | None
    ) -> Response:
        now = self._now()
        expires = now + float(self.code_ttl)
        code = _new_code(expires)
        record: Record = {
            "client": client.client_id,
            "redirect_uri": redirect_uri,
            "realm": realm,
            "scopes": scopes,
            "issued": now,
            "expires": expires,
            "used": False,
            "grant": None,
        }
        self.store.kv_put(NS_CODE, _digest(code), record)
        self._bump("codes_issued")
        log.info("oauth: authorization code issued to client %s for realm %s", client.client_id, realm)
        params = [("code", code)]
        if state is not None:
            params.append(("state", state))
        if COMPANY_SCOPES.intersection(scopes):
            params.append(("realmId", realm))
        return _redirect(redirect_uri, params)

    def _consent_page(
        self, client: OAuthClient, redirect_uri: str, scopes: list[str], state: str | None
    ) -> Response:
        esc = html.escape
        hidden = [
            ("client_id", client.client_id),
            ("redirect_uri", redirect_uri),
            ("response_type", "code"),
            ("scope", " ".join(scopes)),
        ]
        if state is not None:
            hidden.append(("state", state))
        fields = "\n".join(f'      <input type="hidden" name="{esc(k)}" value="{esc(v)}">' for k, v in hidden)
        companies = list(self.companies.items())
        if len(companies) > 1:
            options = "\n".join(
                f'        <option value="{esc(realm)}">{esc(name)} ({esc(realm)})</option>'
                for realm, name in companies
            )
            heading = f"Connect {esc(client.name)} to QuickBooks"
            company_block = (
                '      <label for="company">Company</label>\n'
                f'      <select id="company" name="realmId">\n{options}\n      </select>'
            )
        else:
            realm, name = companies[0]
            heading = f"Connect {esc(client.name)} to {esc(name)}"
            company_block = (
                f'      <input type="hidden" name="realmId" value="{esc(realm)}">\n'
                f'      <p class="company">Company: <strong>{esc(name)}</strong> '
                f'<span class="muted">(realm {esc(realm)})</span></p>'
            )
        items = "\n".join(f"        <li>{esc(_SCOPE_TEXT.get(s, s))}</li>" for s in scopes)
        target = urlsplit(redirect_uri).netloc or redirect_uri
        body = f"""    <div class="brand">QuickBooks Online &middot; local emulator</div>
    <h1>{heading}</h1>
    <p><strong>{esc(client.name)}</strong> would like to:</p>
    <ul>
{items}
    </ul>
    <form method="post" action="{AUTHORIZE_PATH}">
{fields}
{company_block}
      <div class="actions">
        <button type="submit" id="connect" name="decision" value="approve" class="primary">Connect</button>
        <button type="submit" id="cancel" name="decision" value="cancel">Cancel</button>
      </div>
    </form>
    <p class="note">This is the offline QuickBooks Online emulator; nothing leaves this machine.
      After you choose, you will return to <code>{esc(target)}</code>.</p>"""
        return _page(200, f"Connect {client.name}", body)

    # -- token endpoint ---------------------------------------------------------------------------------
    def _token(self, req: Request) -> Response:
        form = _body_params(req)
        client = self._authenticate_client(req, form)
        if client is None:
            return self._invalid_client()
        now = self._now()
        self._maybe_purge(now)
        grant_type = form.get("grant_type", "")
        if grant_type == "authorization_code":
            return self._exchange_code(req, client, form, now)
        if grant_type == "refresh_token":
            return self._refresh(req, client, form, now)
        if not grant_type:
            return _oauth_error(400, "invalid_request")
        return _oauth_error(400, "unsupported_grant_type")

    def _exchange_code(
        self, req: Request, client: OAuthClient, form: Mapping[str, str], now: float
    ) -> Response:
        code = form.get("code", "")
        if not code:
            return _oauth_error(400, "invalid_request")
        key = _digest(code)
        with self.store.lock, self.store.transaction():
            record = self._get(NS_CODE, key)
            if record is None or record["client"] != client.client_id:
                return self._invalid_grant()
            if record["used"]:
                self._bump("code_reuses")
                if record.get("grant"):
                    self._revoke_grant(record["grant"], now, "authorization code reused")
                return self._invalid_grant()
            if now >= record["expires"] or form.get("redirect_uri") != record["redirect_uri"]:
                return self._invalid_grant()
            gid = secrets.token_hex(8)
            grant: Record = {
                "client": client.client_id,
                "realm": record["realm"],
                "scopes": record["scopes"],
                "created": now,
                "hard_expires": now + float(self.hard_ttl),
                "revoked": False,
                "revoked_at": None,
                "refreshes": 0,
            }
            reply = self._issue_tokens(gid, grant, now, req)
            if "openid" in grant["scopes"]:
                reply["id_token"] = self._id_token(grant, now)
            record["used"] = True
            record["grant"] = gid
            self.store.kv_put(NS_CODE, key, record)
        self._bump("code_exchanges")
        log.info("oauth: grant %s created for client %s, realm %s", gid, client.client_id, grant["realm"])
        return _oauth_json(200, reply)

    def _refresh(self, req: Request, client: OAuthClient, form: Mapping[str, str], now: float) -> Response:
        token = form.get("refresh_token", "")
        if not token:
            return _oauth_error(400, "invalid_request")
        key = _digest(token)
        with self.store.lock, self.store.transaction():
            record = self._get(NS_TOKEN, key)
            if (
                record is None
                or record.get("kind") != "refresh"
                or record["client"] != client.client_id
                or record.get("state") != "active"
                or now >= record["expires"]
            ):
                return self._invalid_grant()
            gid = record["grant"]
            grant = self._get(NS_GRANT, gid)
            if (
                grant is None
                or grant["revoked"]
                or grant.get("refresh") != key
                or now >= grant["hard_expires"]
            ):
                return self._invalid_grant()
            record["state"] = "rotated"
            record["expires"] = min(record["expires"], now + RETAIN)
            self.store.kv_put(NS_TOKEN, key, record)
            grant["refreshes"] = grant.get("refreshes", 0) + 1
            reply = self._issue_tokens(gid, grant, now, req)
        self._bump("refreshes")
        log.info("oauth: grant %s refreshed (refresh token rotated)", gid)
        return _oauth_json(200, reply)

    def _issue_tokens(self, gid: str, grant: Record, now: float, req: Request) -> dict[str, Any]:
        """Mint an access and a refresh token for ``grant`` and save all three records (caller's txn)."""
        access_ttl = float(self.access_ttl)
        refresh_life = min(float(self.refresh_ttl), grant["hard_expires"] - now)
        access = _new_access_token()
        refresh = _new_refresh_token(now + refresh_life)
        self.store.kv_put(
            NS_TOKEN,
            _digest(access),
            {
                "kind": "access",
                "grant": gid,
                "client": grant["client"],
                "issued": now,
                "expires": now + access_ttl,
            },
        )
        self.store.kv_put(
            NS_TOKEN,
            _digest(refresh),
            {
                "kind": "refresh",
                "grant": gid,
                "client": grant["client"],
                "issued": now,
                "expires": now + refresh_life,
                "state": "active",
            },
        )
        grant["refresh"] = _digest(refresh)
        grant["refresh_expires"] = now + refresh_life
        self.store.kv_put(NS_GRANT, gid, grant)
        self._bump("tokens_issued")
        reply: dict[str, Any] = {
            "token_type": "bearer",
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": int(access_ttl),
            "x_refresh_token_expires_in": int(refresh_life),
        }
        if req.header("x-include-refresh-token-hard-expires-in").strip().lower() == "true":
            reply["x_refresh_token_hard_expires_in"] = int(grant["hard_expires"] - now)
        return reply

    # -- revocation -----------------------------------------------------------------------------------
    def _revoke(self, req: Request) -> Response:
        params = _body_params(req)
        client = self._authenticate_client(req, params)
        if client is None:
            return self._invalid_client()
        token = params.get("token", "")
        if not token:
            return _oauth_error(400, "invalid_request")
        now = self._now()
        with self.store.lock, self.store.transaction():
            record = self._get(NS_TOKEN, _digest(token))
            if record is not None:
                if record["client"] != client.client_id:
                    return self._invalid_grant()
                self._revoke_grant(record["grant"], now, "revoked by the client")
        return Response(200, b"", {"Cache-Control": "no-store"})

    def _revoke_grant(self, gid: str, now: float, reason: str) -> None:
        """Kill every access and refresh token of a grant (caller holds the lock / transaction)."""
        grant = self._get(NS_GRANT, gid)
        if grant is None or grant["revoked"]:
            return
        grant["revoked"] = True
        grant["revoked_at"] = now
        self.store.kv_put(NS_GRANT, gid, grant)
        self._bump("revokes")
        log.info("oauth: grant %s revoked (%s)", gid, reason)

    # -- bearer tokens --------------------------------------------------------------------------------
    def _access_token(self, req: Request) -> tuple[str | None, str | None, Record | None]:
        """(problem detail or None, token digest, grant) for the request's bearer token."""
        scheme, _, token = req.header("authorization").strip().partition(" ")
        token = token.strip()
        if (
            scheme.lower() != "bearer"
            or not MIN_BEARER <= len(token) <= MAX_BEARER
            or not token.isascii()
            or not token.isprintable()
            or " " in token
        ):
            return "Malformed bearer token: too short or too long", None, None
        key = _digest(token)
        record = self._get(NS_TOKEN, key)
        if record is None or record.get("kind") != "access":
            return "Token invalid", None, None
        grant = self._get(NS_GRANT, record["grant"])
        if grant is None:
            return "Token invalid", None, None
        if grant["revoked"]:
            return "Token revoked", None, None
        if self._now() >= record["expires"]:
            return self._expired_detail(req), None, None
        return None, key, grant

    @staticmethod
    def _expired_detail(req: Request) -> str:
        token = req.header("authorization").strip().partition(" ")[2].strip()
        return f"Token expired: {token[:12]}"

    def _unauthorized(self, detail: str) -> Response:
        body: dict[str, Any] = {
            "warnings": None,
            "intuitObject": None,
            "fault": {
                "error": [
                    {
                        "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                        "detail": detail,
                        "code": "3200",
                        "element": None,
                    }
                ],
                "type": "AUTHENTICATION",
            },
            "report": None,
            "queryResponse": None,
            "batchItemResponse": [],
            "attachableResponse": [],
            "syncErrorResponse": None,
            "requestId": None,
            "time": int(self._now() * 1000),
            "status": None,
            "cdcresponse": [],
        }
        return Response.json(
            401,
            body,
            {
                "Content-Type": "application/json",
                "WWW-Authenticate": 'Bearer realm="Intuit", error="invalid_token"',
            },
        )

    def _forbidden(self) -> Response:
        body = {
            "Fault": {
                "Error": [
                    {
                        "Message": "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
                        "Detail": "",
                        "code": "3100",
                    }
                ],
                "type": "AuthorizationFault",
            },
            "time": reply_time(self.clock.now()),
        }
        return Response.json(403, body)

    def _userinfo(self, req: Request) -> Response:
        with self.store.lock:
            problem, _, grant = self._access_token(req)
        if problem is not None or grant is None:
            self._bump("bearer_rejected")
            return self._unauthorized(problem or "Token invalid")
        scopes = grant.get("scopes", ())
        if "openid" not in scopes:
            self._bump("bearer_forbidden")
            return self._forbidden()
        claims: dict[str, Any] = {"sub": USER_SUB}
        for scope, values in USER_CLAIMS.items():
            if scope in scopes:
                claims.update(values)
        return Response.json(200, claims)

    # -- OpenID: the signing key and id_tokens -------------------------------------------------------------
    def signing_key(self) -> SigningKey:
        """The key that signs id_tokens: loaded from the Store, or made and kept there on first use.

        Safe inside a caller's transaction: if that transaction does not commit, the key is forgotten
        too, so a key is never used that the Store does not hold."""
        with self.store.lock:
            if self._key is not None:
                return self._key
            stored = self.store.kv_get(NS_KEY, KEY_NAME)
            if isinstance(stored, dict) and stored.get("pem"):
                self._key = SigningKey.from_pem(str(stored["pem"]))
                return self._key
            key = SigningKey.generate()
            with self.store.transaction():
                self.store.kv_put(NS_KEY, KEY_NAME, {"pem": key.pem(), "kid": key.kid})
                self.store.on_rollback(self._forget_key)
            self._key = key
            log.info("oauth: OpenID signing key %s made", key.kid)
            return key

    def _forget_key(self) -> None:
        self._key = None

    def _id_token(self, grant: Record, now: float) -> str:
        """Intuit's id_token for ``grant`` (caller holds the lock, inside the exchange's transaction)."""
        claims: dict[str, Any] = {"sub": USER_SUB, "aud": [grant["client"]]}
        if COMPANY_SCOPES.intersection(grant["scopes"]) and grant.get("realm"):
            claims["realmid"] = str(grant["realm"])
        claims.update({
            "auth_time": int(grant["created"]),
            "iss": INTUIT_ISSUER,
            "exp": int(now) + ID_TOKEN_TTL,
            "iat": int(now),
        })
        return self.signing_key().sign_jwt(claims)

    # -- housekeeping ---------------------------------------------------------------------------------
    def _maybe_purge(self, now: float) -> None:
        if now - self._last_purge < PURGE_INTERVAL:
            return
        self._last_purge = now
        with self.store.lock, self.store.transaction():
            for key, code in self._items(NS_CODE):
                if now > code["expires"] + RETAIN:
                    self.store.kv_delete(NS_CODE, key)
            for key, token in self._items(NS_TOKEN):
                if now > token["expires"] + RETAIN:
                    self.store.kv_delete(NS_TOKEN, key)
                    self._uses.pop(key, None)
            for gid, grant in self._items(NS_GRANT):
                end = grant["revoked_at"] if grant["revoked"] else grant.get("refresh_expires", 0.0)
                if now > end + RETAIN:
                    self.store.kv_delete(NS_GRANT, gid)


# -- small pieces of HTTP and HTML --------------------------------------------------------------------------
def _error_params(error: str, state: str | None) -> list[tuple[str, str]]:
    params = [("error", error)]
    if state is not None:
        params.append(("state", state))
    return params


def _not_allowed(allow: str) -> Response:
    return Response(405, _compact({"error": "invalid_request"}), {**_JSON_HEADERS, "Allow": allow})


_STYLE = """
  body { margin: 0; background: #f4f5f8; color: #393a3d;
         font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
  main { max-width: 480px; margin: 48px auto; background: #fff; border-radius: 8px;
         box-shadow: 0 1px 4px rgba(0, 0, 0, .14); padding: 32px 36px; }
  .brand { color: #2ca01c; font-weight: 700; font-size: 13px; letter-spacing: .04em;
           text-transform: uppercase; }
  h1 { font-size: 22px; margin: 8px 0 16px; }
  .error h1 { color: #d52b1e; }
  ul { padding-left: 20px; } li { margin: 4px 0; }
  label { display: block; font-weight: 600; margin: 16px 0 6px; }
  select { width: 100%; padding: 8px; font-size: 15px; border: 1px solid #babec5; border-radius: 4px; }
  .muted, .note { color: #6b6c72; } .note { font-size: 12px; margin-top: 28px; }
  .actions { display: flex; flex-direction: row-reverse; gap: 12px; margin-top: 24px; }
  button { font-size: 15px; padding: 9px 22px; border-radius: 4px; cursor: pointer;
           border: 1px solid #8d9096; background: #fff; color: #393a3d; }
  button.primary { background: #2ca01c; border-color: #2ca01c; color: #fff; font-weight: 600; }
  code { background: #f4f5f8; padding: 1px 4px; border-radius: 3px; word-break: break-all; }
"""


def _page(status: int, title: str, body: str, css_class: str = "") -> Response:
    cls = f' class="{css_class}"' if css_class else ""
    text = (
        '<!doctype html>\n<html lang="en">\n<head>\n  <meta charset="utf-8">\n'
        '  <meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"  <title>{html.escape(title)}</title>\n  <style>{_STYLE}  </style>\n</head>\n<body>\n"
        f"  <main{cls}>\n{body}\n  </main>\n</body>\n</html>\n"
    )
    resp = Response.html(status, text)
    resp.headers.update(_HTML_HEADERS)
    return resp


def _error_page(title: str, message_html: str) -> Response:
    """HTTP 400 page. ``message_html`` must already be escaped."""
    body = (
        '    <div class="brand">QuickBooks Online &middot; local emulator</div>\n'
        f"    <h1>{html.escape(title)}</h1>\n    <p>{message_html}</p>\n"
        '    <p class="note">Error: invalid_request. You were not redirected because the request could '
        "not be verified.</p>"
    )
    return _page(400, title, body, "error")
