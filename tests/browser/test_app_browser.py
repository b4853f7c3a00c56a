"""The app in a real browser: Voila serves ``notebooks/app.ipynb``, Playwright drives Debian's Chromium.

One walk through the seed's screens, as a user would do it: Connect to QuickBooks → the emulator's
consent page in a new tab → click Connect there → the app moves to the settings screen by itself →
Invoices and Payments with their accounts → Enable Integration → (the match preview) → the status
screen, whose progress bar reaches 100% → Disconnect, confirmed → back on the connect screen.

The emulator runs in this process on a thread, NOT auto-approving (the consent page is clicked), with
a free loopback port registered as its redirect URI; the toolkit's listener in Voila's kernel catches
the browser there. The kernel finds everything through the environment: ``QBO_TOOLKIT_HOME`` (a
scratch home holding ``work.sqlite3`` with a small demo business; the settings YAML and tokens go
there too) and ``QBO_EMULATOR_INFO``.

Screenshots of every screen go to ``artifacts/screenshots/`` (git-ignored). Needs /usr/bin/chromium,
playwright and voila: ``scripts/browser-deps.sh`` installs them (never ``playwright install``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "app.ipynb"
SHOTS = ROOT / "artifacts" / "screenshots"
# as root, without a sandbox; the background-networking flags keep Chromium off the closed network
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIME_SCALE = 60.0  # QBO minutes run 60x faster (as in tests/ui)
PAGE_WAIT = 60_000  # ms: the app page (a new kernel runs the notebook)
STEP_WAIT = 30_000  # ms: one screen change
SYNC_WAIT = 90_000  # ms: the initial sync of the small demo business

_missing = [what for what, ok in (
    (f"{CHROMIUM} (apt-get install -y chromium)", os.path.exists(CHROMIUM)),
    ("the playwright package", importlib.util.find_spec("playwright") is not None),
    ("the voila package", importlib.util.find_spec("voila") is not None),
) if not ok]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(_missing), reason="browser test needs " + ", ".join(_missing)
                       + ": run scripts/browser-deps.sh"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ============================================================================================ fixtures


@pytest.fixture
def home() -> Path:
    """The scratch toolkit home (tests/conftest.py sets QBO_TOOLKIT_HOME) with a small demo WORK store."""
    from qbo_toolkit.work.demo import generate_demo
    from qbo_toolkit.work.store import WorkStore

    path = Path(os.environ["QBO_TOOLKIT_HOME"])
    path.mkdir(parents=True, exist_ok=True)
    store = WorkStore(f"sqlite:///{path / 'work.sqlite3'}")  # the app's default WORK store
    generate_demo(store, clients=30, invoices=60, payments=40)
    store.close()
    return path


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Any]:
    """An emulator that shows its consent page, with a free loopback redirect URI registered."""
    from qbo_toolkit.emulator import EmulatorConfig, serve

    redirect = f"http://127.0.0.1:{_free_port()}/callback"
    config = EmulatorConfig(auto_approve=False, time_scale=TIME_SCALE, redirect_uris=(redirect,))
    with serve(config) as server:
        (tmp_path / "emulator.json").write_text(json.dumps(server.info))
        yield server


@pytest.fixture
def app_env(tmp_path: Path, home: Path, emu: Any) -> dict[str, str]:
    """What Voila's kernel needs: the scratch home, the emulator, a throwaway Jupyter config."""
    jupyter = tmp_path / "jupyter"
    for sub in ("config", "data", "runtime"):
        (jupyter / sub).mkdir(parents=True)
    return {"QBO_TOOLKIT_HOME": str(home), "QBO_EMULATOR_INFO": str(tmp_path / "emulator.json"),
            "QBO_ENVIRONMENT": "local", "JUPYTER_CONFIG_DIR": str(jupyter / "config"),
            "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"), "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def voila_url(tmp_path: Path, app_env: dict[str, str]) -> Iterator[str]:
    from qbo_toolkit.app_server import serve_app, stop_app

    log = tmp_path / "voila.log"
    process, url = serve_app(notebook=NOTEBOOK, env=app_env, log=log, quiet=True, timeout=60)
    try:
        yield url
    finally:
        stop_app(process)
        if os.environ.get("QBO_BROWSER_TEST_LOG"):
            shutil.copy(log, os.environ["QBO_BROWSER_TEST_LOG"])


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def shot(page: Any, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def choose(page: Any, select: str, starts: str) -> None:
    """Pick the first option of the dropdown ``select`` whose text starts with ``starts`` (ipywidgets
    draws labels with no-break spaces, so compare normalised text and pick by index)."""
    labels: list[str] = page.locator(f"{select} option").all_inner_texts()
    for index, label in enumerate(labels):
        if " ".join(label.split()).startswith(starts):
            page.locator(f"{select} select").select_option(index=index)
            return
    raise AssertionError(f"no option {starts!r} in {select}: {labels}")


def progress_percent(page: Any) -> float:
    """How full the status screen's bar is drawn (the inner bar's width, in %)."""
    value = page.locator(".qbo-progress .progress-bar").evaluate(
        "el => parseFloat(el.style.width || '0')")
    return float(value)


# ============================================================================================ shared steps


class Timings:
    """Seconds since the start of a walk, per step."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.steps: dict[str, float] = {}

    def __call__(self, step: str) -> None:
        self.steps[step] = round(time.monotonic() - self.started, 1)


def connect_and_consent(context: Any, page: Any, emu: Any, consent_shot: str | None = None) -> str:
    """Click Connect, approve on the emulator's consent page in the new tab (the app opens it itself,
    else the user clicks the link), and land on the settings screen; say who opened the tab."""
    from playwright.sync_api import expect

    connect = page.locator("button.qbo-connect")
    with context.expect_page(timeout=STEP_WAIT) as opened:
        connect.click()
        anchor = page.locator("a.qbo-auth-anchor")
        expect(anchor).to_be_visible()
        expect(page.locator(".qbo-connect-status")).to_contain_text("Waiting for QuickBooks")
        time.sleep(1.0)  # give the app's own window.open a moment
        opened_by = "the app (window.open)" if len(context.pages) > 1 else "the link"
        if len(context.pages) == 1:
            anchor.click()
    consent = opened.value
    consent.wait_for_load_state("domcontentloaded")
    assert consent.url.startswith(emu.info["authorization_endpoint"]), consent.url
    approve = consent.locator("#connect")
    expect(approve).to_be_visible()
    if consent_shot:
        shot(consent, consent_shot)
    approve.click()
    consent.wait_for_load_state("domcontentloaded")  # the toolkit's listener answers the redirect

    # the app moves to the settings screen by itself
    page.bring_to_front()
    expect(page.locator(".qbo-screen-settings")).to_be_visible()
    expect(page.locator(".qbo-connection")).to_contain_text("Larkspur Landscaping & Repair")
    return opened_by


def fill_settings(page: Any) -> None:
    """Invoices and Payments with their accounts and the integration date, until the app says Ready."""
    from playwright.sync_api import expect

    revenue = page.locator(".qbo-revenue-account select")
    page.locator(".qbo-invoices input[type=checkbox]").check()
    expect(revenue).to_be_visible()
    expect(page.locator(".qbo-revenue-account option").nth(1)).to_be_attached()  # accounts loaded
    choose(page, ".qbo-revenue-account", "Services")
    choose(page, ".qbo-item-account", "Subcontractor Costs")
    payments = page.locator(".qbo-payments input[type=checkbox]")
    expect(payments).to_be_enabled()
    payments.check()
    deposit = page.locator(".qbo-deposit-account select")
    expect(deposit).to_be_visible()
    choose(page, ".qbo-deposit-account", "Undeposited Funds")
    page.locator(".qbo-integration-date input").fill("2026-01-01")  # the demo business's integration date
    expect(page.locator("button.qbo-enable")).to_be_enabled()
    expect(page.locator(".qbo-problems")).to_contain_text("Ready")


def enable_integration(page: Any, mark: Timings, matches_shot: str | None = None) -> None:
    """Enable Integration → (the match preview: the demo business has possible matches) → status."""
    from playwright.sync_api import expect

    page.locator("button.qbo-enable").click()
    status = page.locator(".qbo-screen-status")
    go_on = page.locator("button.qbo-matches-continue")
    expect(go_on.or_(status).first).to_be_visible()
    if go_on.is_visible():
        mark("match preview")
        if matches_shot:
            shot(page, matches_shot)
        go_on.click()
    expect(status).to_be_visible()
    mark("status screen")


def wait_for_full_bar(page: Any) -> list[float]:
    """Sample the status screen's bar until it is at 100% and the sync is reported finished."""
    from playwright.sync_api import expect

    seen: list[float] = []
    deadline = time.monotonic() + SYNC_WAIT / 1000
    label = page.locator(".qbo-progress-label")
    while time.monotonic() < deadline:
        seen.append(progress_percent(page))
        if seen[-1] >= 100 and "completed" in label.inner_text():
            break
        time.sleep(0.1)
    assert seen and seen[-1] >= 100, f"the bar stopped at {seen[-1:]}% ({label.inner_text()!r})"
    expect(label).to_contain_text("Initial sync completed")
    # the screen redraws after the label: wait for the runs table's finished run and the last message
    run = page.locator(".qbo-runs-table tbody tr").first.locator("td")
    expect(run.nth(1)).to_have_text("initial")
    expect(run.nth(4)).to_contain_text("completed")  # Status: "completed with N failures"
    expect(page.locator(".qbo-messages")).to_contain_text("possible match(es) wait for your decision")
    expect(page.locator(".qbo-records-table tbody tr").nth(10)).to_be_attached()  # the run's records
    return seen


def disconnect(page: Any, emu: Any) -> None:
    """Disconnect, confirmed: back on the connect screen, and QuickBooks was told."""
    from playwright.sync_api import expect

    page.locator("button.qbo-disconnect").click()
    confirm = page.locator("button.qbo-disconnect-confirm")
    expect(confirm).to_be_visible()
    expect(page.locator(".qbo-disconnect-box")).to_contain_text("Disconnect from Larkspur")
    confirm.click()
    expect(page.locator(".qbo-screen-connect")).to_be_visible()
    expect(page.locator(".qbo-messages")).to_contain_text("Disconnected")
    expect(page.locator(".qbo-connection")).to_contain_text("Not connected")
    assert emu.emulator.oauth.stats().get("revokes", 0) >= 1


def report(where: str, mark: Timings, opened_by: str, seen: list[float]) -> None:
    print(f"\n{where} timings (s since start): {mark.steps}; consent tab opened by {opened_by}; "
          f"bar samples: {len(seen)}, partly filled seen: {any(0 < p < 100 for p in seen)}")


# ============================================================================================ Voila


def test_connect_settings_sync_disconnect_in_voila(browser: Any, voila_url: str, emu: Any, home: Path) -> None:
    from playwright.sync_api import expect

    mark = Timings()
    # tall: Voila scrolls inside its own container, so a full-page screenshot is only the viewport
    context = browser.new_context(viewport={"width": 1280, "height": 2000})
    context.set_default_timeout(STEP_WAIT)
    page = context.new_page()

    page.goto(voila_url, wait_until="domcontentloaded", timeout=PAGE_WAIT)
    connect = page.locator("button.qbo-connect")
    expect(connect).to_be_visible(timeout=PAGE_WAIT)
    expect(connect).to_have_text(re.compile("Connect to QuickBooks"))
    expect(page.locator(".qbo-connection")).to_contain_text("Not connected")
    mark("connect screen")
    shot(page, "01-connect.png")

    opened_by = connect_and_consent(context, page, emu, consent_shot="02-consent.png")
    mark("settings screen")
    fill_settings(page)
    mark("settings filled")
    shot(page, "03-settings.png")
    enable_integration(page, mark, matches_shot="03b-matches.png")
    seen = wait_for_full_bar(page)
    mark("sync at 100%")
    shot(page, "04-status-100.png")
    disconnect(page, emu)
    mark("disconnected")
    shot(page, "05-disconnected.png")
    report("voila", mark, opened_by, seen)
    context.close()


# ============================================================================================ JupyterLab


@pytest.fixture
def lab_url(tmp_path: Path, app_env: dict[str, str]) -> Iterator[str]:
    """JupyterLab on a copy of notebooks/ (Run All must not save outputs into the repository)."""
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    shutil.copy(NOTEBOOK, notebooks / "app.ipynb")
    settings = tmp_path / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"checkForUpdates": False, "fetchNews": "false"}))
    port = _free_port()
    env = {**os.environ, **app_env, "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-workspaces"),
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    log = open(tmp_path / "lab.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         "--ServerApp.port_retries=0", "--IdentityProvider.token=", "--allow-root",
         f"--ServerApp.root_dir={notebooks}"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert process.poll() is None, (tmp_path / "lab.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "JupyterLab did not listen within 60 s"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/lab/tree/app.ipynb"
    finally:
        from qbo_toolkit.app_server import stop_app

        stop_app(process)
        log.close()


def test_connect_settings_sync_disconnect_in_jupyterlab(browser: Any, lab_url: str, emu: Any) -> None:
    """The same walk in JupyterLab: Run All from the Run menu once the kernel is really idle."""
    from playwright.sync_api import expect

    mark = Timings()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(STEP_WAIT)
    page = context.new_page()
    page.goto(lab_url, wait_until="domcontentloaded", timeout=PAGE_WAIT)
    # the toolbar says idle before the kernel is connected: the status bar's text is the real signal
    expect(page.get_by_text(re.compile(r"\(ipykernel\) \| Idle"))).to_be_visible(timeout=PAGE_WAIT)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()
    connect = page.locator("button.qbo-connect")
    expect(connect).to_be_visible(timeout=PAGE_WAIT)
    mark("connect screen")
    shot(page, "10-lab-connect.png")

    opened_by = connect_and_consent(context, page, emu)
    mark("settings screen")
    shot(page, "11-lab-settings.png")
    fill_settings(page)
    mark("settings filled")
    enable_integration(page, mark)
    seen = wait_for_full_bar(page)
    mark("sync at 100%")
    shot(page, "12-lab-status-100.png")
    disconnect(page, emu)
    mark("disconnected")
    shot(page, "13-lab-disconnected.png")
    report("jupyterlab", mark, opened_by, seen)
    context.close()
