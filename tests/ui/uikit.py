"""Helpers for the headless screen tests: an emulator whose registered redirect URI is a free
loopback port (so the toolkit's listener catches the "browser"), a tiny browser, bounded waits.

(A module, not ``conftest``, like ``tests/integration/clientkit.py``: ``from uikit import ...``
cannot pick up another test directory's conftest.)
"""

from __future__ import annotations

import html
import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import ipywidgets as widgets
import requests

from qbo_toolkit.emulator import EmulatorConfig, EmulatorServer, serve
from qbo_toolkit.ui import App

#: QBO minutes run 60x faster: the client's limiter follows the emulator (see connection._client).
TIME_SCALE = 60.0
#: Upper bound of every wait for a background thread.
WAIT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def emulator(tmp_path: Path, **overrides: Any) -> Iterator[EmulatorServer]:
    """An auto-approving emulator registered with a free loopback redirect URI; its info file is
    what ``QBO_EMULATOR_INFO`` must point at (the caller sets it)."""
    redirect = f"http://127.0.0.1:{free_port()}/callback"
    config = EmulatorConfig(auto_approve=True, time_scale=TIME_SCALE, redirect_uris=(redirect,))
    for key, value in overrides.items():
        setattr(config, key, value)
    with serve(config) as emu:
        (tmp_path / "emulator.json").write_text(json.dumps(emu.info))
        yield emu


def wait_for(predicate: Callable[[], Any], timeout: float = WAIT, interval: float = 0.02, what: str = "") -> Any:
    """Poll until ``predicate()`` is truthy (returns it); fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or predicate}")
        time.sleep(interval)


def auth_link(app: App) -> str:
    """The authorization URL, read from the link the connect screen shows (as a user would click it)."""
    match = re.search(r'href="([^"]+)"[^>]*target="_blank"', app.connect_screen.link.value)
    assert match, app.connect_screen.link.value
    return html.unescape(match.group(1))


def browse(url: str) -> requests.Response:
    """The browser: open the page; with auto-approve the emulator redirects straight to the listener."""
    answer = requests.get(url, allow_redirects=True, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer


def redirect_location(url: str) -> str:
    """Where an auto-approving emulator sends the browser (not followed): what a user would paste."""
    answer = requests.get(url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return str(answer.headers["Location"])


def press_cancel(url: str) -> None:
    """On the consent page (auto-approve off), press Cancel and follow the redirect to the listener."""
    page = requests.get(url, timeout=10)
    assert page.status_code == 200, page.text
    fields = {html.unescape(n): html.unescape(v)
              for n, v in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page.text)}
    fields["decision"] = "cancel"
    action = urlsplit(url)._replace(query="").geturl()
    answer = requests.post(action, data=fields, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    requests.get(answer.headers["Location"], timeout=10)


def connect_app(app: App) -> None:
    """Click Connect, "approve" in the browser, and wait until the app moved to the next screen."""
    app.connect_screen.connect_button.click()
    browse(auth_link(app))
    wait_for(lambda: app.screen != "connect", what="the app to leave the connect screen")
    assert app.connect.wait(WAIT)


def visible(widget: widgets.Widget) -> bool:
    return widget.layout.display != "none"


def option_labels(dropdown: widgets.Dropdown) -> list[str]:
    return [label for label, _value in dropdown.options]


def option_value(dropdown: widgets.Dropdown, name: str) -> str:
    """The value of the option whose label starts with ``name``."""
    for label, value in dropdown.options:
        if label.startswith(name):
            return str(value)
    raise AssertionError(f"no option {name!r} in {option_labels(dropdown)}")


def text_of(markup: str) -> str:
    """An HTML widget's text, tags removed and entities decoded (what a user reads)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", markup)).replace("  ", " ")


def table_rows(markup: str) -> list[list[str]]:
    """The body rows of an HTML table widget, as the texts of their cells."""
    rows = re.findall(r"<tr>(.*?)</tr>", markup.split("<tbody>", 1)[-1] if "<tbody>" in markup else "", re.S)
    return [[html.unescape(re.sub(r"<[^>]+>", "", cell)) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in rows]


def fill_settings(app: App, *, invoices: bool = True, payments: bool = True, state: str | None = None,
                  since: Any = None) -> None:
    """Choose the demo company's accounts in the form, as a user would."""
    form = app.settings_screen
    if state is not None:
        form.default_state.value = state
    if since is not None:
        form.integration_date.value = since
    form.invoices.value = invoices
    if invoices:
        form.revenue_account.value = option_value(form.revenue_account, "Services")
        form.item_account.value = option_value(form.item_account, "Subcontractor Costs")
        form.payments.value = payments
        if payments:
            form.deposit_account.value = option_value(form.deposit_account, "Undeposited Funds")
