"""The app in a real kernel: the notebook runs under papermill, and a sync started by a click keeps the
kernel answering while the progress bar's updates stream out as widget messages from the worker thread.

These are the checks a headless ``Button.click()`` in the test process cannot make: that the import
and display cells work in a kernel, that the parameters are the ones the notebook declares, and that
ipykernel sends widget updates made on a background thread (the browser test then only has to show
that the front end draws them).
"""

from __future__ import annotations

import json
import os
import queue
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import nbformat
import papermill as pm
import pytest
from uikit import emulator

from qbo_toolkit.connection import connect_headless
from qbo_toolkit.emulator import EmulatorServer
from qbo_toolkit.qbo.transport import reset_limiters
from qbo_toolkit.settings import Settings
from qbo_toolkit.work.demo import generate_demo
from qbo_toolkit.work.store import WorkStore

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "app.ipynb"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


@pytest.fixture
def emu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    reset_limiters()
    with emulator(tmp_path) as server:
        monkeypatch.setenv("QBO_EMULATOR_INFO", str(tmp_path / "emulator.json"))
        yield server
    reset_limiters()


@pytest.fixture
def work_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'work.sqlite3'}"
    store = WorkStore(url)
    generate_demo(store, clients=30, invoices=60, payments=40)
    store.close()
    return url


def run_notebook(tmp_path: Path, **parameters: Any) -> nbformat.NotebookNode:
    out = tmp_path / "app.ipynb"
    pm.execute_notebook(str(NOTEBOOK), str(out), parameters=parameters, kernel_name="python3", progress_bar=False)
    return nbformat.read(out, as_version=4)


def widget_texts(nb: nbformat.NotebookNode) -> str:
    """Every string in the saved widget state (what the front end would draw)."""
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    return json.dumps(state, ensure_ascii=False)


def test_notebook_declares_its_parameters() -> None:
    params = pm.inspect_notebook(str(NOTEBOOK))
    assert set(params) == {"settings_path", "work_db", "environment", "emulator_info"}
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) == 3  # parameters, one import, one call
    assert code[1].source.strip() == "from qbo_toolkit.ui import show_app"


@pytest.mark.slow
def test_notebook_shows_the_connect_screen_then_the_settings_screen(emu: EmulatorServer, work_url: str,
                                                                     tmp_path: Path) -> None:
    params = {"settings_path": str(tmp_path / "settings.yaml"), "work_db": work_url,
              "emulator_info": str(tmp_path / "emulator.json")}
    nb = run_notebook(tmp_path, **params)
    outputs = nb.cells[-1].outputs
    assert [o.output_type for o in outputs] == ["display_data"] and WIDGET_VIEW in outputs[0].data
    texts = widget_texts(nb)
    assert "Not connected to QuickBooks." in texts and "Connect to QuickBooks" in texts and "qbo-connect" in texts

    connect_headless()  # the same toolkit home: the notebook now finds the connection
    nb = run_notebook(tmp_path, **params)
    texts = widget_texts(nb)
    assert "QuickBooks Settings" in texts and "Services (Income)" in texts and "Undeposited Funds" in texts
    assert emu.info["client_secret"] not in (tmp_path / "app.ipynb").read_text()
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]


@pytest.mark.slow
def test_a_sync_in_a_real_kernel_streams_progress_and_keeps_the_kernel_free(
        emu: EmulatorServer, work_url: str, tmp_path: Path) -> None:
    from jupyter_client.manager import start_new_kernel

    connect_headless()
    settings = tmp_path / "settings.yaml"
    Settings(invoices=True, revenue_account="1", item_account="9", payments=True, deposit_account="4",
             integration_date=date(2026, 1, 1), existing_items="use_as_is").save(settings)
    emu.emulator.config.latency_mean = 6.0  # 0.1 s a request: the sync lasts a couple of seconds
    km, kc = start_new_kernel(kernel_name="python3", env=dict(os.environ))
    try:
        def run(code: str, timeout: float = 60) -> dict[str, Any]:
            reply: dict[str, Any] = kc.execute_interactive(code, timeout=timeout, output_hook=lambda _m: None)
            assert reply["content"]["status"] == "ok", reply["content"]
            return reply

        run("from qbo_toolkit.ui import App\nfrom IPython.display import display\n"
            f"app = App(settings_path={str(settings)!r}, work_url={work_url!r}, poll_interval=0.05)\n"
            "display(app.widget)\nassert app.screen == 'status', app.messages.text")
        def printed(code: str) -> str:
            out: list[str] = []

            def hook(msg: dict[str, Any]) -> None:
                if msg["msg_type"] == "stream":
                    out.append(msg["content"].get("text", ""))

            kc.execute_interactive(code, timeout=30, output_hook=hook)
            return "".join(out).strip()

        bar_id = printed("print(app.status_screen.bar.model_id)")  # the progress bar's comm
        assert bar_id
        started = time.monotonic()
        run("app.status_screen.sync_button.click()")
        clicked = time.monotonic() - started
        # the kernel answers another cell while the sync runs on its thread
        assert printed("print(app.status.running, 1 + 1)") == "True 2"
        assert clicked < 2.0, clicked
        # the bar's updates arrive as comm messages sent from the worker's ticker thread
        values: list[int] = []
        maximum = 0
        deadline = time.monotonic() + 30
        done = False
        while time.monotonic() < deadline and not done:
            try:
                msg = kc.get_iopub_msg(timeout=1)
            except queue.Empty:
                continue
            if msg["msg_type"] != "comm_msg" or msg["content"].get("comm_id") != bar_id:
                continue
            state = msg["content"]["data"].get("state", {})
            maximum = int(state.get("max", maximum))
            if "value" in state:
                values.append(int(state["value"]))
            done = state.get("bar_style") in ("success", "warning") and bool(values) and values[-1] == maximum > 1
        assert done, (values, maximum)
        assert any(0 < v < maximum for v in values), values  # it moved while the sync ran
        run("assert app.status.wait(30) and app.status.last_result is not None, app.messages.text")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
