"""Connecting to QBO end to end, over HTTP, against the emulator's consent page and token endpoint.

A tiny "browser" (requests plus the consent page's form) plays the user: it opens the authorization
URL, presses Connect or Cancel, and follows the redirect to the toolkit's loopback listener.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import re
import socket
import stat
import time
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from qbo_toolkit.auth.tokens import TokenStore
from qbo_toolkit.connection import Binding, Connection, connection, disconnect, start_connect
from qbo_toolkit.emulator import EmulatorConfig, EmulatorServer, serve
from qbo_toolkit.errors import (
    AuthError,
    AuthorizationCancelled,
    AuthorizationTimeout,
    CompanyMismatch,
    ConfigError,
    ReconnectNeeded,
    StateMismatch,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def redirect_uri() -> str:
    return f"http://127.0.0.1:{free_port()}/callback"


@pytest.fixture
def emulator(redirect_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(redirect_uris=(redirect_uri,), extra_companies={"4620816365000000": "Second Co"})
    with serve(config) as emu:
        info = tmp_path / "emulator.json"
        info.write_text(json.dumps(emu.info))
        monkeypatch.setenv("QBO_EMULATOR_INFO", str(info))
        yield emu


def press(url: str, decision: str = "approve", realm: str | None = None) -> str:
    """Open the consent page, press a button, return where the browser is sent (not followed)."""
    page = requests.get(url, timeout=10)
    assert page.status_code == 200, page.text
    hidden = re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page.text)
    fields = {unescape(n): unescape(v) for n, v in hidden}
    fields["decision"] = decision
    if realm is not None:
        fields["realmId"] = realm
    action = urlsplit(url)._replace(query="").geturl()
    answer = requests.post(action, data=fields, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def browse_and_approve(url: str, decision: str = "approve", realm: str | None = None) -> None:
    location = press(url, decision, realm)
    requests.get(location, timeout=10)  # the browser lands on the toolkit's listener


def connect_via_browser(**kwargs: object) -> Connection:
    attempt = start_connect(**kwargs)  # type: ignore[arg-type]
    assert attempt.listening
    browse_and_approve(attempt.url)
    return attempt.wait(timeout=10)


def test_round_trip_stores_tokens_and_reads_company(emulator: EmulatorServer) -> None:
    conn = connect_via_browser()
    assert conn.realm_id == emulator.info["realm_id"]
    assert conn.company_name == "Larkspur Landscaping & Repair"
    stored = TokenStore().load(conn.realm_id)
    assert stored is not None and stored.company_name == conn.company_name
    assert stat.S_IMODE(TokenStore().path.stat().st_mode) == 0o600
    # a later process finds the connection in the store, with no browser
    again = connection()
    assert again.company_name == conn.company_name
    assert again.client.company_info().CompanyName == conn.company_name
    # nothing in the repr of what holds tokens
    for obj in (conn, again.session, stored):
        assert stored.access_token not in repr(obj) and stored.refresh_token not in repr(obj)


def test_authorization_url_has_scope_and_random_state(emulator: EmulatorServer) -> None:
    first, second = start_connect(), start_connect(listen=False)
    try:
        q1, q2 = (dict(p.split("=", 1) for p in urlsplit(a.url).query.split("&")) for a in (first, second))
        assert q1["scope"] == "com.intuit.quickbooks.accounting"
        assert q1["response_type"] == "code"
        assert len(q1["state"]) >= 24 and q1["state"] != q2["state"]
    finally:
        first.cancel()


def test_cancel_on_consent_page_stores_nothing(emulator: EmulatorServer) -> None:
    attempt = start_connect()
    browse_and_approve(attempt.url, decision="cancel")
    with pytest.raises(AuthorizationCancelled, match="cancelled"):
        attempt.wait(timeout=10)
    assert TokenStore().realms() == []


def test_wrong_or_missing_state_is_refused(emulator: EmulatorServer) -> None:
    attempt = start_connect(listen=False)
    location = press(attempt.url)
    forged = re.sub(r"state=[^&]+", "state=forged", location)
    with pytest.raises(StateMismatch):
        attempt.complete(forged)
    with pytest.raises(StateMismatch):
        attempt.complete(re.sub(r"&?state=[^&]+", "", location))
    assert TokenStore().realms() == []
    # the genuine answer still works afterwards (the code was never spent)
    assert attempt.complete(location).realm_id == emulator.info["realm_id"]


def test_reused_code_is_refused(emulator: EmulatorServer) -> None:
    attempt = start_connect(listen=False)
    location = press(attempt.url)
    attempt.complete(location)
    TokenStore().delete(emulator.info["realm_id"])
    with pytest.raises(AuthError, match="already used"):
        attempt.complete(location)
    assert TokenStore().realms() == []


def test_timeout_ends_with_a_clear_message(emulator: EmulatorServer) -> None:
    attempt = start_connect()
    with pytest.raises(AuthorizationTimeout, match=r"within 0\.3 seconds"):
        attempt.wait(timeout=0.3)
    assert TokenStore().realms() == []


def test_a_taken_port_is_refused_with_a_sentence(emulator: EmulatorServer, redirect_uri: str) -> None:
    port = urlsplit(redirect_uri).port
    with socket.socket() as blocker:  # another program holds the redirect port: it would receive the code
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        with pytest.raises(ConfigError) as caught:
            start_connect()
    message = str(caught.value)
    assert f"port {port}" in message and "QBO_REDIRECT_URI" in message and "emulator stop" in message
    assert caught.value.key == "redirect_uri"
    # pasting stays available on purpose (listen=False), and then works
    attempt = start_connect(listen=False)
    assert attempt.complete(press(attempt.url)).company_name


def test_a_taken_port_for_intuit_names_the_app_registration() -> None:
    from qbo_toolkit.auth.flow import CallbackListener

    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"port {port} .*QBO_REDIRECT_URI.*registered as a redirect URI of "
                                              r"your Intuit app"):
            CallbackListener(f"http://localhost:{port}/callback", "state")


def _raw_get(port: int, target: str, timeout: float = 10.0) -> tuple[int, str]:
    """One GET over a plain socket, as a browser (or a forger) would send it: status and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.decode("utf-8", "replace").partition("\r\n\r\n")
    return int(head.split()[1]), body


def test_a_forged_state_is_answered_400_and_the_genuine_answer_still_connects(emulator: EmulatorServer,
                                                                             redirect_uri: str) -> None:
    attempt = start_connect()
    assert attempt.listening
    location = press(attempt.url)
    port, target = urlsplit(location).port, location.split(f":{urlsplit(location).port}", 1)[1]
    assert port is not None
    forged = re.sub(r"state=[^&]+", "state=forged", target)
    status, body = _raw_get(port, forged)
    assert status == 400 and "Connected" not in body and "Approved" not in body
    assert _raw_get(port, re.sub(r"&?state=[^&]+", "", target))[0] == 400  # no state at all
    assert _raw_get(port, "/somewhere-else?" + target.split("?", 1)[1])[0] == 404  # another path
    assert attempt.pending.listener is not None and attempt.pending.listener.refused == 3
    # the listener is still waiting: the genuine redirect completes the connect
    status, body = _raw_get(port, target)
    assert status == 200 and "Approved" in body
    conn = attempt.wait(timeout=10)
    assert conn.realm_id == emulator.info["realm_id"]


def test_a_silent_connection_does_not_block_the_genuine_answer(emulator: EmulatorServer,
                                                              redirect_uri: str) -> None:
    attempt = start_connect()
    port = urlsplit(redirect_uri).port
    assert port is not None
    with socket.create_connection(("127.0.0.1", port), timeout=30) as silent, \
            socket.create_connection(("127.0.0.1", port), timeout=30) as half:
        half.sendall(b"GET /callback?state=")  # a request that never ends
        browse_and_approve(attempt.url)  # while both are held open (a one-at-a-time listener hangs here)
        conn = attempt.wait(timeout=60)
        assert conn.realm_id == emulator.info["realm_id"]
        # and the listener drops a silent connection after its short read timeout
        silent.settimeout(30)
        assert silent.recv(1) == b""  # closed by the other side, not by this test


def test_a_silent_connection_is_dropped_after_the_read_timeout() -> None:
    from qbo_toolkit.auth.flow import CallbackListener

    port = free_port()
    listener = CallbackListener(f"http://127.0.0.1:{port}/callback", "s" * 32, read_timeout=0.5)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as silent:
            started = time.monotonic()
            assert silent.recv(1) == b""
            assert time.monotonic() - started < 20
        status, _ = _raw_get(port, "/callback?code=c&realmId=1&state=" + "s" * 32)
        assert status == 200
        assert listener.wait(timeout=10) == f"http://127.0.0.1:{port}/callback?code=c&realmId=1&state=" + "s" * 32
    finally:
        listener.close()


def test_expiry_mid_run_refreshes_rotates_and_saves_first(emulator: EmulatorServer) -> None:
    conn = connect_via_browser()
    before = TokenStore().load(conn.realm_id)
    assert before is not None
    emulator.emulator.oauth.expire_after_requests = 2
    for _ in range(5):  # tokens die every 2 requests; each 401 is refreshed once and replayed
        assert conn.client.company_info().CompanyName
    after = TokenStore().load(conn.realm_id)
    assert after is not None
    assert after.refresh_token != before.refresh_token  # rotated and saved
    assert conn.session.refreshes >= 2
    # the provider saw the refreshes, and the rotated-away refresh token is dead there
    assert emulator.emulator.oauth.stats()["refreshes"] >= 2
    answer = requests.post(emulator.base_url + "/oauth2/v1/tokens/bearer",
                           data={"grant_type": "refresh_token", "refresh_token": before.refresh_token},
                           auth=(emulator.info["client_id"], emulator.info["client_secret"]), timeout=10)
    assert answer.status_code == 400 and answer.json() == {"error": "invalid_grant"}


def test_proactive_refresh_before_expiry(emulator: EmulatorServer) -> None:
    conn = connect_via_browser()
    store = TokenStore()
    store.update(conn.realm_id, lambda t: t and type(t)(**{**t.to_dict(), "access_expires_at": 0.0}))
    fresh = connection()
    assert fresh.client.company_info().CompanyName
    assert fresh.session.refreshes == 1


def test_rotated_away_refresh_token_recovers_from_the_store(emulator: EmulatorServer) -> None:
    from dataclasses import replace

    conn = connect_via_browser()
    held = conn.session.tokens
    other = connection()  # a second session (another notebook or a job) refreshes first: RT rotates
    other.session.refresh_now(failed_access_token=other.session.tokens.access_token)
    assert TokenStore().load(conn.realm_id).refresh_token != held.refresh_token  # type: ignore[union-attr]
    # this session's tokens now look expired; refreshing with its rotated-away RT would be refused,
    # so it must take the newer tokens from the store instead of asking QuickBooks
    conn.session._adopt(replace(held, access_expires_at=0.0))
    assert conn.client.company_info().CompanyName
    assert conn.session.refreshes == 0
    assert conn.session.tokens.access_token == other.session.tokens.access_token


def test_refused_refresh_token_says_reconnect(emulator: EmulatorServer) -> None:
    conn = connect_via_browser()
    requests.post(emulator.base_url + "/v2/oauth2/tokens/revoke",
                  json={"token": TokenStore().load(conn.realm_id).refresh_token},  # type: ignore[union-attr]
                  auth=(emulator.info["client_id"], emulator.info["client_secret"]), timeout=10)
    with pytest.raises(ReconnectNeeded, match="reconnect"):
        conn.session.refresh_now(failed_access_token=conn.session.tokens.access_token)


def _refresh_in_process(home: str, info: str, rounds: int, queue: multiprocessing.Queue) -> None:
    import os

    os.environ["QBO_TOOLKIT_HOME"] = home
    os.environ["QBO_EMULATOR_INFO"] = info
    from qbo_toolkit.connection import connection as stored

    try:
        conn = stored()
        for _ in range(rounds):
            conn.session.refresh_now(failed_access_token=conn.session.tokens.access_token)
            conn.client.company_info()
        queue.put("ok")
    except Exception as exc:
        queue.put(f"{type(exc).__name__}: {exc}")


def test_two_processes_refreshing_at_once_stay_connected(emulator: EmulatorServer, tmp_path: Path) -> None:
    import os

    connect_via_browser()
    ctx = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue = ctx.Queue()
    args = (os.environ["QBO_TOOLKIT_HOME"], os.environ["QBO_EMULATOR_INFO"], 8, queue)
    procs = [ctx.Process(target=_refresh_in_process, args=args) for _ in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert results == ["ok", "ok"]
    assert connection().client.company_info().CompanyName


def test_disconnect_revokes_and_keeps_the_binding(emulator: EmulatorServer) -> None:
    conn = connect_via_browser()
    refresh_token = TokenStore().load(conn.realm_id).refresh_token  # type: ignore[union-attr]
    result = disconnect()
    assert result.revoked
    assert TokenStore().realms() == []
    binding = Binding.load()
    assert binding is not None and binding.realm_id == conn.realm_id and binding.disconnected_at
    answer = requests.post(emulator.base_url + "/oauth2/v1/tokens/bearer",
                           data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                           auth=(emulator.info["client_id"], emulator.info["client_secret"]), timeout=10)
    assert answer.status_code == 400 and answer.json() == {"error": "invalid_grant"}
    with pytest.raises(ReconnectNeeded):
        connection()
    # reconnecting to the same company resumes
    assert connect_via_browser().realm_id == conn.realm_id


def test_a_different_company_is_refused_unless_reset(emulator: EmulatorServer) -> None:
    connect_via_browser()
    disconnect()
    attempt = start_connect()
    browse_and_approve(attempt.url, realm="4620816365000000")
    with pytest.raises(CompanyMismatch, match="reset"):
        attempt.wait(timeout=10)
    assert TokenStore().realms() == []
    attempt = start_connect(reset=True)
    browse_and_approve(attempt.url, realm="4620816365000000")
    assert attempt.wait(timeout=10).company_name == "Second Co"


def test_http_is_refused_for_intuit(monkeypatch: pytest.MonkeyPatch) -> None:
    from qbo_toolkit.auth.environments import check_transport

    check_transport("https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer")
    check_transport("http://127.0.0.1:8760/v3")
    with pytest.raises(ConfigError, match="only https"):
        check_transport("http://oauth.platform.intuit.com/oauth2/v1/tokens/bearer")


def test_sandbox_needs_app_keys_and_names_them() -> None:
    from qbo_toolkit.auth.environments import load_credentials

    with pytest.raises(ConfigError, match="QBO_CLIENT_ID"):
        load_credentials("sandbox")
    creds = load_credentials("sandbox", client_id="abc", client_secret="s3cr3t-value")
    assert "s3cr3t-value" not in repr(creds)


def test_no_secret_in_logs(emulator: EmulatorServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    conn = connect_via_browser()
    emulator.emulator.oauth.expire_after_requests = 1
    conn.client.company_info()
    conn.client.company_info()
    tokens = TokenStore().load(conn.realm_id)
    assert tokens is not None
    text = caplog.text + json.dumps(emulator.emulator.stats()) + json.dumps(list(emulator.emulator.log))
    for secret in (tokens.access_token, tokens.refresh_token, emulator.info["client_secret"]):
        assert secret not in text
