"""The emulator as a server: idempotent replays, limits, concurrency, token lifetimes, injected faults,
persistence across restarts, loopback binding, the command line and the inspection routes."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from intuitlib.client import AuthClient
from intuitlib.exceptions import AuthClientError
from quickbooks.exceptions import AuthorizationException, QuickbooksException, SevereException
from quickbooks.objects import Customer
from wirekit import Conn, authorize, build_invoice, connect, make_client, make_customer, unique

from qbo_toolkit.emulator import EmulatorConfig, EmulatorServer

Start = Callable[..., EmulatorServer]


# -- requestid replay --------------------------------------------------------------------------------------

def test_requestid_replays_a_create(conn: Conn) -> None:
    request_id = unique("req").replace(" ", "-")
    customer = Customer()
    customer.DisplayName = unique("Replay")
    first = customer.save(qb=conn.qb, request_id=request_id)
    customer.Id = None  # python-quickbooks set it; send the same create again
    second = customer.save(qb=conn.qb, request_id=request_id)
    assert (second.Id, second.MetaData["CreateTime"]) == (first.Id, first.MetaData["CreateTime"])
    assert len(Customer.filter(DisplayName=customer.DisplayName, qb=conn.qb)) == 1
    # the raw replies are byte for byte the same
    body = {"DisplayName": customer.DisplayName}
    a = conn.post("customer", body, {"requestid": request_id})
    b = conn.post("customer", body, {"requestid": request_id})
    assert a.status_code == b.status_code == 200
    assert a.content == b.content


def test_requestid_replays_a_refusal(conn: Conn) -> None:
    request_id = unique("req").replace(" ", "-")
    name = unique("Refused then free")
    taken = make_customer(conn.qb, name)
    for _ in range(2):
        customer = Customer()
        customer.DisplayName = name
        with pytest.raises(QuickbooksException) as info:
            customer.save(qb=conn.qb, request_id=request_id)
        assert info.value.error_code == 6240
    # even once the name is free again, the same requestid gets the same answer
    read = Customer.get(taken.Id, qb=conn.qb)
    read.DisplayName = unique("Renamed")
    read.save(qb=conn.qb)
    customer = Customer()
    customer.DisplayName = name
    with pytest.raises(QuickbooksException) as info:
        customer.save(qb=conn.qb, request_id=request_id)
    assert info.value.error_code == 6240
    assert customer.save(qb=conn.qb).DisplayName == name  # without the requestid it runs


def test_requestid_replays_a_batch(conn: Conn) -> None:
    request_id = unique("b").replace(" ", "-")[:36]
    name = unique("Batch replay")
    body = {"BatchItemRequest": [{"bId": "1", "operation": "create", "Customer": {"DisplayName": name}}]}
    first = conn.post("batch", body, {"requestid": request_id})
    second = conn.post("batch", body, {"requestid": request_id})
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert "Customer" in first.json()["BatchItemResponse"][0]
    assert len(Customer.filter(DisplayName=name, qb=conn.qb)) == 1
    # a refused batch (more than 30 items) replays its fault too
    too_big = {"BatchItemRequest": [{"bId": str(i), "Query": "SELECT * FROM Item"} for i in range(31)]}
    refused_id = unique("r").replace(" ", "-")[:36]
    a = conn.post("batch", too_big, {"requestid": refused_id})
    b = conn.post("batch", too_big, {"requestid": refused_id})
    assert a.status_code == b.status_code == 400
    assert a.content == b.content  # the same time stamp: the stored answer, not a second refusal
    assert conn.emu.emulator.stats()["counts"]["replayed"] >= 2


def test_requestid_length_limits(conn: Conn) -> None:
    resp = conn.post("customer", {"DisplayName": unique()}, {"requestid": "x" * 51})
    assert resp.status_code == 400 and resp.json()["Fault"]["Error"][0]["code"] == "2050"
    resp = conn.post("batch", {"BatchItemRequest": [{"bId": "1", "Query": "SELECT * FROM Item"}]},
                     {"requestid": "x" * 37})
    assert resp.status_code == 400


# -- limits ----------------------------------------------------------------------------------------------------

def test_per_second_limit(start_emulator: Start) -> None:
    conn = connect(start_emulator(throttle=True, per_second=4))
    statuses = [conn.get("customer/1").status_code for _ in range(10)]
    assert statuses.count(200) == 4 and statuses.count(429) == 6
    conn.emu.clock.advance(1.01)
    assert conn.get("customer/1").status_code == 200


def test_per_minute_limit_in_scaled_time(start_emulator: Start) -> None:
    # 120 scaled seconds per real second: a QBO minute lasts half a real second
    conn = connect(start_emulator(throttle=True, per_minute=5, per_second=100, time_scale=120))
    statuses = [conn.get("customer/1").status_code for _ in range(8)]
    assert statuses[:5] == [200] * 5 and set(statuses[5:]) == {429}
    time.sleep(0.6)
    assert conn.get("customer/1").status_code == 200


def test_injected_throttling_and_retry_after(start_emulator: Start) -> None:
    conn = connect(start_emulator(throttle_rate=1.0))
    resp = conn.get("customer/1")
    assert resp.status_code == 429 and "Retry-After" not in resp.headers  # the strict default
    conn = connect(start_emulator(throttle=True, per_second=1, retry_after=True))
    assert conn.get("customer/1").status_code == 200
    resp = conn.get("customer/1")
    assert (resp.status_code, resp.headers["Retry-After"]) == (429, "60")


def test_batch_per_minute_limit(start_emulator: Start) -> None:
    conn = connect(start_emulator(throttle=True, batch_per_minute=2))
    body = {"BatchItemRequest": [{"bId": "1", "Query": "SELECT * FROM Item"}]}
    assert [conn.post("batch", body).status_code for _ in range(3)] == [200, 200, 429]
    assert conn.get("customer/1").status_code == 200  # other requests still pass
    conn.emu.clock.advance(61)
    assert conn.post("batch", body).status_code == 200


def test_concurrent_requests_limit(start_emulator: Start) -> None:
    conn = connect(start_emulator(throttle=True, max_concurrent=2, per_second=100, latency_mean=0.3))
    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(lambda _: conn.get("customer/1").status_code, range(6)))
    assert statuses.count(200) >= 2 and statuses.count(429) >= 1


def test_at_least_ten_concurrent_requests_are_served(start_emulator: Start) -> None:
    # each request takes 0.25 s inside the server; twelve in a row would take 3 s
    conn = connect(start_emulator(latency_mean=0.25))
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=12) as pool:
        names = list(pool.map(lambda i: Customer.get(str(1 + i % 4), qb=conn.qb).DisplayName, range(12)))
    elapsed = time.monotonic() - started
    assert len(names) == 12 and all(names)
    assert elapsed < 1.2, f"12 requests took {elapsed:.2f} s: not served concurrently"


# -- token lifetimes ---------------------------------------------------------------------------------------------

def test_expired_access_token_then_refresh_rotates(fresh: Conn) -> None:
    fresh.emu.emulator.oauth.expire_after_requests = 3
    for _ in range(3):
        assert Customer.get("1", qb=fresh.qb).Id == "1"
    with pytest.raises(AuthorizationException) as info:
        Customer.get("1", qb=fresh.qb)
    assert info.value.error_code == 401 and "Token expired" in info.value.detail

    old_refresh, old_access = fresh.auth.refresh_token, fresh.auth.access_token
    fresh.auth.refresh()
    assert fresh.auth.refresh_token != old_refresh
    assert fresh.auth.access_token != old_access
    qb = fresh.reconnect()
    assert Customer.get("1", qb=qb).Id == "1"
    # the rotated-away refresh token is dead
    with pytest.raises(AuthClientError) as failure:
        fresh.auth.refresh(refresh_token=old_refresh)
    assert failure.value.status_code == 400
    assert json.loads(failure.value.content) == {"error": "invalid_grant"}


def test_access_tokens_expire_after_an_hour(fresh: Conn) -> None:
    assert Customer.get("1", qb=fresh.qb).Id == "1"
    fresh.emu.clock.advance(3599)
    assert Customer.get("1", qb=fresh.qb).Id == "1"
    fresh.emu.clock.advance(2)
    with pytest.raises(AuthorizationException):
        Customer.get("1", qb=fresh.qb)
    fresh.auth.refresh()
    assert Customer.get("1", qb=fresh.reconnect()).Id == "1"


# -- injected faults ---------------------------------------------------------------------------------------------

def _outcomes(conn: Conn, n: int) -> list[str]:
    out = []
    for _ in range(n):
        try:
            out.append(str(conn.get("customer/1").status_code))
        except requests.exceptions.ConnectionError:
            out.append("dropped")
    return out


def test_error_rate_answers_500_and_503_with_a_system_fault(start_emulator: Start) -> None:
    conn = connect(start_emulator(error_rate=1.0))
    replies = [conn.get("customer/1") for _ in range(12)]
    assert {r.status_code for r in replies} == {500, 503}
    for reply in replies:
        fault = reply.json()["Fault"]
        assert fault["type"] == "SystemFault" and fault["Error"][0]["code"] == "10000"
    with pytest.raises(SevereException):
        Customer.get("1", qb=conn.qb)


def test_drop_rate_drops_the_connection(start_emulator: Start) -> None:
    conn = connect(start_emulator(drop_rate=1.0))
    with pytest.raises(requests.exceptions.ConnectionError):
        Customer.get("1", qb=conn.qb)
    conn.emu.emulator.config.drop_rate = 0.0
    assert Customer.get("1", qb=conn.qb).Id == "1"


def test_lost_reply_still_writes(start_emulator: Start) -> None:
    conn = connect(start_emulator())
    conn.emu.emulator.config.lost_reply_rate = 1.0
    customer = Customer()
    customer.DisplayName = unique("Lost reply")
    with pytest.raises(requests.exceptions.ConnectionError):
        customer.save(qb=conn.qb)
    conn.emu.emulator.config.lost_reply_rate = 0.0
    found = Customer.filter(DisplayName=customer.DisplayName, qb=conn.qb)
    assert len(found) == 1 and found[0].SyncToken == "0"


def test_a_retry_with_the_requestid_after_a_lost_reply_gets_the_original_answer(start_emulator: Start) -> None:
    conn = connect(start_emulator())
    request_id = unique("retry").replace(" ", "-")
    customer = Customer()
    customer.DisplayName = unique("Retried")
    conn.emu.emulator.config.lost_reply_rate = 1.0
    with pytest.raises(requests.exceptions.ConnectionError):
        customer.save(qb=conn.qb, request_id=request_id)
    conn.emu.emulator.config.lost_reply_rate = 0.0
    retried = customer.save(qb=conn.qb, request_id=request_id)  # what a careful client does
    assert retried.SyncToken == "0"
    assert [c.Id for c in Customer.filter(DisplayName=customer.DisplayName, qb=conn.qb)] == [retried.Id]


def test_injected_faults_repeat_with_the_same_seed(start_emulator: Start) -> None:
    runs = []
    for _ in range(2):
        conn = connect(start_emulator(seed=42))
        conn.emu.emulator.config.error_rate = 0.3
        conn.emu.emulator.config.drop_rate = 0.2
        runs.append(_outcomes(conn, 20))
    assert runs[0] == runs[1]
    assert {"200", "dropped"} <= set(runs[0]) and set(runs[0]) & {"500", "503"}
    other = connect(start_emulator(seed=43))
    other.emu.emulator.config.error_rate = 0.3
    other.emu.emulator.config.drop_rate = 0.2
    assert _outcomes(other, 20) != runs[0]


# -- persistence ----------------------------------------------------------------------------------------------------

def test_state_and_tokens_survive_a_restart(start_emulator: Start, tmp_path: Path) -> None:
    first = start_emulator(data_dir=str(tmp_path))
    conn = connect(first)
    customer = make_customer(conn.qb, unique("Persistent"))
    invoice = build_invoice(customer.Id, [("2", 2, 75)]).save(qb=conn.qb)
    refresh_token, access_token = conn.auth.refresh_token, conn.auth.access_token
    first.stop()

    second = start_emulator(data_dir=str(tmp_path))
    info = second.info
    # the old access token still works on the new server
    resp = requests.get(f"{info['api_base_url']}/company/{conn.realm}/invoice/{invoice.Id}",
                        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
                        timeout=10)
    assert resp.status_code == 200 and resp.json()["Invoice"]["TotalAmt"] == 150
    # and the refresh token too (the new server has another port: a new AuthClient finds it)
    auth = AuthClient(info["client_id"], info["client_secret"], info["redirect_uris"][0],
                      environment=info["discovery_url"])
    auth.refresh(refresh_token=refresh_token)
    latest_refresh_token = auth.refresh_token
    qb = make_client(second, auth, conn.realm)
    assert Customer.get(customer.Id, qb=qb).DisplayName == customer.DisplayName
    assert Customer.get(customer.Id, qb=qb).Balance == 150
    # ids keep counting; names stay taken
    again = make_customer(qb, unique("After restart"))
    assert int(again.Id) > int(customer.Id)
    with pytest.raises(QuickbooksException) as dup:
        make_customer(qb, customer.DisplayName)
    assert dup.value.error_code == 6240
    second.stop()

    reset = start_emulator(data_dir=str(tmp_path), reset=True)
    info = reset.info
    auth = AuthClient(info["client_id"], info["client_secret"], info["redirect_uris"][0],
                      environment=info["discovery_url"])
    with pytest.raises(AuthClientError):
        auth.refresh(refresh_token=latest_refresh_token)
    auth, realm = authorize(reset)
    assert Customer.filter(DisplayName=customer.DisplayName, qb=make_client(reset, auth, realm)) == []


# -- server ---------------------------------------------------------------------------------------------------------

def test_binds_loopback_only(shared: EmulatorServer) -> None:
    assert shared.httpd.server_address[0] == "127.0.0.1"
    assert shared.base_url.startswith("http://127.0.0.1:")
    for host in ("0.0.0.0", "192.168.1.10", ""):  # noqa: S104 - these must be refused
        with pytest.raises(ValueError):
            EmulatorServer(EmulatorConfig(host=host))


def test_command_line_prints_info_and_stops_on_sigterm(tmp_path: Path) -> None:
    info_file = tmp_path / "emulator.json"
    exe = Path(sys.executable).with_name("qbo-toolkit")
    cmd = [str(exe), "emulator"] if exe.exists() else [sys.executable, "-m", "qbo_toolkit.emulator"]
    proc = subprocess.Popen([*cmd, "--port", "0", "--info-file", str(info_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        printed = json.loads(line)
        for key in ("base_url", "discovery_url", "realm_id", "client_id", "redirect_uris"):
            assert printed[key], key
        assert printed["base_url"].startswith("http://127.0.0.1:")
        deadline = time.monotonic() + 10
        while not info_file.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        written = json.loads(info_file.read_text())
        assert stat.S_IMODE(info_file.stat().st_mode) == 0o600  # it holds the client secret
        assert written["client_secret"] not in line  # the printed line (a log, often) does not
        assert {**written, "client_secret": printed["client_secret"]} == printed
        discovery = requests.get(printed["discovery_url"], timeout=5)
        assert discovery.json()["token_endpoint"].startswith(printed["base_url"])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert not info_file.exists()  # no stale file pointing the next script at a dead port
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_keep_alive_replies_are_not_held_back(conn: Conn) -> None:
    # headers and body are written separately; without TCP_NODELAY each reply waited ~40 ms for the
    # client's delayed ACK (25 requests: over a second)
    session = requests.Session()
    url = f"{conn.company_url}/customer/1"
    session.get(url, headers=conn.headers(), timeout=10)
    started = time.monotonic()
    for _ in range(25):
        assert session.get(url, headers=conn.headers(), timeout=10).status_code == 200
    elapsed = time.monotonic() - started
    assert elapsed < 0.75, f"25 keep-alive requests took {elapsed:.2f} s"


def test_inspection_routes_are_read_only_and_hold_no_secrets(fresh: Conn) -> None:
    base = fresh.emu.base_url
    Customer.get("1", qb=fresh.qb)
    build_invoice("1", [("2", 1, 75)]).save(qb=fresh.qb)
    fresh.auth.refresh()
    for path in ("/_emulator", "/_emulator/info", "/_emulator/stats", "/_emulator/requests"):
        resp = requests.get(base + path, timeout=5)
        assert resp.status_code == 200, path
        text = resp.text
        for secret in (fresh.auth.access_token, fresh.auth.refresh_token, fresh.auth.client_secret):
            assert secret not in text, path
        assert "Bearer" not in text and '"authorization"' not in text.lower(), path
        for method in (requests.post, requests.put, requests.delete):
            assert method(base + path, data="{}", timeout=5).status_code == 405, path
    logged = requests.get(base + "/_emulator/requests", timeout=5).json()["requests"]
    assert any(r["path"].endswith("/customer/1") and r["status"] == 200 for r in logged)
    assert len(requests.get(base + "/_emulator/requests?limit=2", timeout=5).json()["requests"]) == 2
    assert requests.get(base + "/_emulator/requests?limit=0", timeout=5).json()["requests"] == []
    assert requests.get(base + "/_emulator/requests?limit=-3", timeout=5).json()["requests"] == []
    assert requests.get(base + "/_emulator/requests?limit=many", timeout=5).status_code == 400
    stats = requests.get(base + "/_emulator/stats", timeout=5).json()
    assert stats["counts"]["status:200"] >= 2 and stats["oauth"]["refreshes"] == 1


def test_a_request_cut_off_mid_body_is_not_run_nor_remembered_for_replay(fresh: Conn) -> None:
    """A killed client leaves a request whose body is shorter than its Content-Length: like any HTTP
    server the emulator never dispatches it, so the same requestid sent whole later is run, not
    answered with a replayed fault about the missing part."""
    import socket
    from urllib.parse import urlsplit

    base = urlsplit(fresh.emu.info["api_base_url"])
    path = f"{base.path}/company/{fresh.realm}/customer?requestid=cut-off-1&minorversion=75"
    body = json.dumps({"DisplayName": unique("Cut off")}).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: {base.netloc}\r\nAuthorization: Bearer {fresh.auth.access_token}\r\n"
            f"Content-Type: application/json\r\nAccept: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    assert base.hostname is not None and base.port is not None
    with socket.create_connection((base.hostname, base.port), timeout=5) as raw:
        raw.sendall(head.encode() + body[: len(body) // 2])  # then the process dies
    time.sleep(0.2)
    whole = requests.post(f"{fresh.emu.info['api_base_url']}/company/{fresh.realm}/customer",
                          params={"requestid": "cut-off-1", "minorversion": "75"}, data=body,
                          headers={"Authorization": f"Bearer {fresh.auth.access_token}",
                                   "Content-Type": "application/json", "Accept": "application/json"}, timeout=10)
    assert whole.status_code == 200, whole.text
    assert whole.json()["Customer"]["DisplayName"] == json.loads(body)["DisplayName"]
