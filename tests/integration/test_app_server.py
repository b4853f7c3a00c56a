"""The Voila app server through real HTTP: token, Host and Origin checks, kernel culling, signals.

A tiny notebook stands in for the app where only the server's behaviour matters (it runs in a
second); the signal test runs the real command, ``qbo-toolkit app --port 0``, and loads the real
app page once so that a kernel exists before the command is stopped.
"""

from __future__ import annotations

import base64
import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

pytest.importorskip("voila")
psutil = pytest.importorskip("psutil")

from qbo_toolkit.app_server import serve_app, stop_app  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
KERNEL_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
PAGE_TIMEOUT = 120  # seconds: a page load starts a kernel and runs the notebook, on a busy machine


def _tiny_notebook(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny.ipynb"
    path.write_text(json.dumps({
        "cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                   "source": ["print('hello from the tiny app')"]}],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5}))
    return path


def _kernels(pid: int) -> list[psutil.Process]:
    """The kernels started under the process ``pid`` (Voila), alive now."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        try:
            if "ipykernel" in " ".join(child.cmdline()) and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def _wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.25)
    raise AssertionError(f"{what} within {timeout:g} s")


def _websocket_status(url: str, path: str, *, origin: str | None, cookies: dict[str, str]) -> int:
    """The status of a websocket handshake (101 when accepted), sent over a plain socket."""
    parts = urlsplit(url)
    assert parts.port is not None
    lines = [f"GET {path} HTTP/1.1", f"Host: {parts.netloc}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}", "Sec-WebSocket-Version: 13",
             "Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items())]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    with socket.create_connection(("127.0.0.1", parts.port), timeout=60) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                break
            head += chunk
    return int(head.split()[1])


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    folder = tmp_path_factory.mktemp("app")
    log = folder / "voila.log"
    process, url = serve_app(notebook=_tiny_notebook(folder), log=log, quiet=True, timeout=PAGE_TIMEOUT)
    try:
        yield process, url, log
    finally:
        stop_app(process)


def test_the_url_carries_a_token_and_a_request_without_it_is_refused(
        app: tuple[subprocess.Popen[bytes], str, Path]) -> None:
    _process, url, _log = app
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1"
    token = dict(p.split("=", 1) for p in parts.query.split("&"))["token"]
    assert len(token) >= 32
    base = f"http://{parts.netloc}/"
    bare = requests.get(base, allow_redirects=False, timeout=PAGE_TIMEOUT)
    assert bare.status_code in (302, 403) and "hello from the tiny app" not in bare.text
    if bare.status_code == 302:
        assert "/login" in bare.headers["Location"]
    wrong = requests.get(base + "?token=" + "x" * len(token), allow_redirects=False, timeout=PAGE_TIMEOUT)
    assert wrong.status_code in (302, 403) and "hello from the tiny app" not in wrong.text
    page = requests.get(url, timeout=PAGE_TIMEOUT)
    assert page.status_code == 200 and "hello from the tiny app" in page.text


def test_only_loopback_is_listened_on(app: tuple[subprocess.Popen[bytes], str, Path]) -> None:
    process, url, _log = app
    port = urlsplit(url).port
    addresses = {c.laddr.ip for c in psutil.Process(process.pid).net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
    assert addresses == {"127.0.0.1"}


def test_a_foreign_host_is_refused(app: tuple[subprocess.Popen[bytes], str, Path]) -> None:
    _process, url, _log = app
    for host in ("evil.example", f"evil.example:{urlsplit(url).port}"):
        answer = requests.get(url, headers={"Host": host}, allow_redirects=False, timeout=PAGE_TIMEOUT)
        assert answer.status_code == 403, host
        assert "hello from the tiny app" not in answer.text


def test_a_foreign_origin_is_refused_on_the_websocket_and_on_post(
        app: tuple[subprocess.Popen[bytes], str, Path]) -> None:
    _process, url, _log = app
    browser = requests.Session()
    page = browser.get(url, timeout=PAGE_TIMEOUT)  # the token logs the browser in (a cookie)
    assert page.status_code == 200 and browser.cookies
    kernel = KERNEL_ID.search(page.text)
    assert kernel is not None
    cookies = browser.cookies.get_dict()
    channels = f"/api/kernels/{kernel.group(0)}/channels"
    origin = f"http://{urlsplit(url).netloc}"
    assert _websocket_status(url, channels, origin=origin, cookies=cookies) == 101  # the page's own origin
    assert _websocket_status(url, channels, origin="http://evil.example", cookies=cookies) in (403, 404)
    shutdown = f"{origin}/voila/api/shutdown/{kernel.group(0)}"
    answer = browser.post(shutdown, headers={"Origin": "http://evil.example"}, timeout=PAGE_TIMEOUT)
    assert answer.status_code in (403, 404)
    # the kernel is still there: the page's own websocket is still accepted
    assert _websocket_status(url, channels, origin=origin, cookies=cookies) == 101


def test_the_token_is_never_written_to_the_log(app: tuple[subprocess.Popen[bytes], str, Path]) -> None:
    _process, url, log = app
    token = url.split("token=", 1)[1]
    requests.get(url, timeout=PAGE_TIMEOUT)
    requests.get(url + "x", allow_redirects=False, timeout=PAGE_TIMEOUT)  # a refused one is logged as a warning
    requests.get(url.replace("/?", "/nowhere?"), allow_redirects=False, timeout=PAGE_TIMEOUT)
    text = log.read_text()
    assert "token=" in text  # the log is written
    assert token not in text


def test_idle_kernels_are_culled(tmp_path: Path) -> None:
    process, url = serve_app(notebook=_tiny_notebook(tmp_path), quiet=True, timeout=PAGE_TIMEOUT,
                             cull_idle_timeout=2, cull_interval=1)
    try:
        for _ in range(3):  # three page loads that never connect back: three kernels left idle
            assert requests.get(url, timeout=PAGE_TIMEOUT).status_code == 200
        assert _kernels(process.pid)
        _wait_for(lambda: not _kernels(process.pid), 90, "the idle kernels were not culled")
    finally:
        stop_app(process)


def _read_url(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        if selector.select(timeout=1):
            line = process.stdout.readline()
            if not line:
                break
            seen += line
            found = re.search(r"served at (\S+)", line)
            if found:
                return found.group(1)
    raise AssertionError(f"qbo-toolkit app printed no URL within {timeout:g} s: {seen!r}")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130),
                                             (signal.SIGKILL, -signal.SIGKILL)])  # no time to stop: Linux tells Voila
def test_a_signal_stops_voila_and_its_kernels(signum: int, code: int) -> None:
    command = [str(Path(sys.executable).parent / "qbo-toolkit"), "app", "--port", "0"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
    tree: list[psutil.Process] = []
    try:
        url = _read_url(process, PAGE_TIMEOUT)
        tree.extend(psutil.Process(process.pid).children(recursive=True))
        assert requests.get(url, timeout=PAGE_TIMEOUT).status_code == 200  # the app page: a kernel starts
        tree.extend(p for p in psutil.Process(process.pid).children(recursive=True) if p not in tree)
        voila = [p for p in tree if "voila" in " ".join(p.cmdline())]
        assert voila and _kernels(voila[0].pid)
        process.send_signal(signum)
        assert process.wait(timeout=PAGE_TIMEOUT) == code

        def alive(p: psutil.Process) -> bool:
            try:
                return bool(p.is_running() and p.status() != psutil.STATUS_ZOMBIE)
            except psutil.NoSuchProcess:
                return False

        def gone() -> bool:
            return not any(alive(p) for p in tree)

        _wait_for(gone, 60, "a Voila or kernel process survived the command")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        for leftover in tree:  # only what this test started
            try:
                leftover.kill()
            except psutil.NoSuchProcess:
                pass


def test_a_taken_port_is_refused_with_a_sentence(tmp_path: Path) -> None:
    from qbo_toolkit.errors import ConfigError

    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"port {port} on 127\.0\.0\.1 is taken.*--port 0"):
            serve_app(port, _tiny_notebook(tmp_path), quiet=True)
        command = [str(Path(sys.executable).parent / "qbo-toolkit"), "app", "--port", str(port)]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=PAGE_TIMEOUT, check=False)
    assert done.returncode == 2
    assert f"port {port}" in done.stderr + done.stdout and "Traceback" not in done.stderr
