"""The three screens, driven headlessly with ``.value`` and ``Button.click()`` against a real emulator.

Each test gets a fresh emulator (auto-approve, QBO time 60x faster) whose registered redirect URI is
a free loopback port, so the toolkit's listener catches the "browser" (``requests`` following the
emulator's redirect), a scratch toolkit home (tests/conftest.py) and a WORK store holding the demo
business (30 clients, 60 invoices, 40 payments). The demo business matches the emulator's seed
company on purpose: "Cool Cars" is a weak match and the two "Bill's Windsurf Shop" clients a
multiple one (3 rows in the match preview), and some records fail (a colon in a name, names of a
QBO vendor and employee, invoices of those clients), which gives Retry and Dismiss something to do.
"""

from __future__ import annotations

import html
import json
import re
import socket
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import ipywidgets as widgets
import pytest
import requests
from uikit import (
    WAIT,
    auth_link,
    browse,
    connect_app,
    emulator,
    fill_settings,
    option_labels,
    press_cancel,
    table_rows,
    text_of,
    visible,
    wait_for,
)

from qbo_toolkit.auth.tokens import TokenStore
from qbo_toolkit.connection import Binding
from qbo_toolkit.emulator import EmulatorServer
from qbo_toolkit.errors import SyncBusy
from qbo_toolkit.qbo.transport import reset_limiters
from qbo_toolkit.settings import Settings
from qbo_toolkit.sync.api import run_sync
from qbo_toolkit.sync.lease import Lease
from qbo_toolkit.sync.state import SyncState
from qbo_toolkit.ui import App
from qbo_toolkit.work.demo import generate_demo
from qbo_toolkit.work.store import WorkStore

INTEGRATION_DATE = date(2026, 1, 1)  # the demo business's: most invoices are dated after it
PENDING_MATCHES = 3  # Cool Cars (weak), Bill's Windsurf Shop x2 (multiple)


@pytest.fixture
def emu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    reset_limiters()  # each emulator starts with empty rate windows; so must the client's limiter
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


@pytest.fixture
def make_app(tmp_path: Path, work_url: str) -> Iterator[Callable[..., App]]:
    apps: list[App] = []

    def make(**kwargs: Any) -> App:
        kwargs.setdefault("settings_path", tmp_path / "settings.yaml")
        kwargs.setdefault("work_url", work_url)
        kwargs.setdefault("poll_interval", 0.02)
        kwargs.setdefault("connect_timeout", 20.0)
        app = App(**kwargs)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.wait(WAIT)
        app.close()


@pytest.fixture
def settings_app(emu: EmulatorServer, make_app: Callable[..., App]) -> App:
    """Connected through the connect screen; on the settings screen."""
    app = make_app()
    connect_app(app)
    assert app.screen == "settings", app.messages.text
    return app


def enable(app: App, **choices: Any) -> None:
    choices.setdefault("since", INTEGRATION_DATE)
    fill_settings(app, **choices)
    assert not app.settings_screen.enable.disabled, app.settings_screen.problem_text
    app.settings_screen.enable.click()
    assert app.worker.join(WAIT)  # matching runs off the main thread


@pytest.fixture
def synced_app(settings_app: App) -> App:
    """Enabled with every entity, matches left undecided, the initial sync finished."""
    app = settings_app
    enable(app)
    assert app.screen == "matches", app.messages.text
    app.match_panel.continue_button.click()
    assert app.status.wait(WAIT)
    assert app.status.last_result is not None, app.messages.text
    return app


# ============================================================================================ connect


def test_opens_on_the_connect_screen_when_not_connected(emu: EmulatorServer, make_app: Callable[..., App]) -> None:
    app = make_app()
    assert app.screen == "connect"
    assert "Not connected" in app.badge.value
    screen = app.connect_screen
    assert "qbo-connect" in screen.connect_button._dom_classes
    assert screen.connect_button.description == "Connect to QuickBooks"
    assert not visible(screen.link) and not visible(screen.paste_box)  # nothing to wait for yet
    assert app.messages.text == ""


def test_connecting_opens_a_new_tab_and_moves_to_settings_by_itself(emu: EmulatorServer,
                                                                    make_app: Callable[..., App]) -> None:
    app = make_app()
    screen = app.connect_screen
    screen.connect_button.click()
    assert app.connect.waiting and app.connect.attempt is not None and app.connect.attempt.listening
    assert 'target="_blank"' in screen.link.value
    url = auth_link(app)
    assert url.startswith(emu.info["authorization_endpoint"])
    script = screen.opener.outputs[0]["data"]["application/javascript"]
    assert "window.open(" in script and "_blank" in script
    assert "Waiting for QuickBooks" in screen.status.value
    assert app.screen == "connect"  # the click returned at once; the wait runs in the background

    browse(url)  # the user approves; the browser lands on the toolkit's listener
    wait_for(lambda: app.screen == "settings", what="the settings screen")
    assert app.connect.wait(WAIT)
    assert "Connected to Larkspur Landscaping & Repair" in app.messages.text
    badge = text_of(app.badge.value)
    assert "Larkspur Landscaping & Repair" in badge and emu.info["realm_id"] in badge and "practice company" in badge
    assert TokenStore().realms() == [emu.info["realm_id"]]
    assert not app.connect.waiting


def test_cancelling_on_the_authorization_page_says_so_and_offers_to_try_again(
        emu: EmulatorServer, make_app: Callable[..., App]) -> None:
    emu.emulator.oauth.auto_approve = False  # show the consent page, where the user presses Cancel
    app = make_app()
    app.connect_screen.connect_button.click()
    press_cancel(auth_link(app))
    wait_for(lambda: app.messages.text, what="the error sentence")
    assert app.connect.wait(WAIT)
    assert app.messages.kind == "error"
    assert "cancelled" in app.messages.text and "Connect to QuickBooks" in app.messages.text
    assert app.screen == "connect" and not app.connect.waiting
    assert not visible(app.connect_screen.status)  # no longer "waiting"
    assert TokenStore().realms() == []
    # the way forward works: connect again, approve this time
    emu.emulator.oauth.auto_approve = True
    connect_app(app)
    assert app.screen == "settings"


def test_nobody_approving_in_time_ends_with_a_sentence(emu: EmulatorServer, make_app: Callable[..., App]) -> None:
    app = make_app(connect_timeout=0.4)
    app.connect_screen.connect_button.click()
    assert app.connect.wait(WAIT)
    assert app.messages.kind == "error"
    assert "Nobody finished the QuickBooks authorization within 0.4 seconds" in app.messages.text
    assert "try again" in app.messages.text
    assert app.screen == "connect" and not app.connect.waiting


def test_stop_waiting_frees_the_listener_and_a_new_attempt_works(emu: EmulatorServer,
                                                                  make_app: Callable[..., App]) -> None:
    app = make_app()
    app.connect_screen.connect_button.click()
    first = auth_link(app)
    app.connect_screen.cancel_button.click()
    assert app.connect.wait(WAIT)
    assert not app.connect.waiting and app.messages.text == ""  # a cancelled wait ends silently
    assert not visible(app.connect_screen.link)
    connect_app(app)  # the port is free again for the new attempt's listener
    assert app.screen == "settings"
    assert first not in app.connect_screen.link.value


def test_a_taken_callback_port_is_refused_with_a_sentence(emu: EmulatorServer,
                                                         make_app: Callable[..., App]) -> None:
    """Something else holds the redirect port: connecting says so and how to choose another, instead
    of falling back to pasting silently while the other process receives the code."""
    port = urlsplit(emu.info["redirect_uris"][0]).port
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        app = make_app()
        app.connect_screen.connect_button.click()
        assert app.connect.attempt is None and app.screen == "connect"
        assert app.messages.kind == "error" and "QBO_REDIRECT_URI" in app.messages.text
        assert "Traceback" not in app.messages.text
    assert TokenStore().realms() == []


def test_pasting_without_an_attempt_or_an_address_explains(emu: EmulatorServer,
                                                           make_app: Callable[..., App]) -> None:
    app = make_app()
    app.connect_screen.paste_button.click()
    assert "Connect to QuickBooks" in app.messages.text
    app.connect_screen.connect_button.click()
    app.connect_screen.paste_button.click()  # empty box
    assert "paste the whole address" in app.messages.text.lower()
    app.connect_screen.cancel_button.click()


# ============================================================================================ settings


def test_settings_form_shows_the_seed_options(settings_app: App) -> None:
    form = settings_app.settings_screen
    assert form.clients.value is True and form.clients.disabled is True  # always on
    assert form.use_default_state.value is True
    assert form.default_state.value == "CA"  # the WORK company's default state, editable
    assert not form.default_state.disabled
    assert form.invoices.value is False
    assert not visible(form.invoice_box)
    assert not visible(form.payments) and form.payments.disabled  # offered only with invoices
    assert not visible(form.payment_box)
    assert form.integration_date.value == date.today()
    # nothing required is missing with clients only
    assert form.problem_text == "" and not form.enable.disabled
    assert "Ready" in form.problems.value


def test_account_dropdowns_are_filled_from_the_company(settings_app: App) -> None:
    form = settings_app.settings_screen
    form.invoices.value = True
    revenue = option_labels(form.revenue_account)[1:]
    items = option_labels(form.item_account)[1:]
    assert revenue == ["Landscaping Services (Income)", "Sales of Product Income (Income)", "Services (Income)"]
    assert items == ["Cost of Goods Sold (Cost of Goods Sold)", "Job Supplies (Expense)",
                     "Subcontractor Costs (Cost of Goods Sold)"]
    assert all("Fees Billed" not in label for label in revenue)  # inactive accounts are not offered
    form.payments.value = True
    deposit = option_labels(form.deposit_account)[1:]
    assert deposit[0] == "Undeposited Funds (Other Current Asset)"  # first
    assert sorted(deposit[1:]) == ["Checking (Bank)", "Savings (Bank)"]


def test_every_settings_validation_message(settings_app: App) -> None:
    form = settings_app.settings_screen

    def problems() -> str:
        return form.problem_text

    # invoices without accounts: both dropdowns appear, both are required
    form.invoices.value = True
    assert visible(form.invoice_box) and visible(form.payments) and not form.payments.disabled
    assert "Send invoice information to" in problems() and "Send item information to" in problems()
    assert form.enable.disabled
    assert "Send invoice information to" in text_of(form.problems.value)  # the label says it too
    form.revenue_account.value = form.revenue_account.options[1][1]
    assert "Send invoice information to" not in problems() and "Send item information to" in problems()
    form.item_account.value = form.item_account.options[1][1]
    assert problems() == "" and not form.enable.disabled

    # payments without a deposit account
    form.payments.value = True
    assert visible(form.payment_box)
    assert "Send payment information to" in problems() and form.enable.disabled
    form.deposit_account.value = form.deposit_account.options[1][1]
    assert problems() == "" and not form.enable.disabled

    # payments without invoices is impossible: turning invoices off turns payments off and hides it
    form.invoices.value = False
    assert form.payments.value is False and form.payments.disabled and not visible(form.payments)
    assert not visible(form.invoice_box) and not visible(form.payment_box)
    form.payments.value = True  # even when forced (a stale browser, a script)
    assert form.payments.value is False
    assert settings_app.settings.choice.payments is False
    assert problems() == ""

    # "use default state" needs a state; clearing the date is refused too
    form.default_state.value = ""
    assert "default state" in problems() and form.enable.disabled
    form.use_default_state.value = False
    assert problems() == "" and not visible(form.default_state)
    form.integration_date.value = None
    assert "integration date" in problems()
    form.integration_date.value = INTEGRATION_DATE
    assert problems() == ""

    # clicking Enable while something is missing explains instead of failing silently
    form.invoices.value = True
    assert problems() == ""  # the accounts chosen before survived being hidden
    form.revenue_account.value = ""  # "— choose an account —"
    assert form.enable.disabled
    form.enable.disabled = False  # as if the browser sent the click anyway
    form.enable.click()
    assert settings_app.screen == "settings"
    assert "Send invoice information to" in settings_app.messages.text


def test_enable_saves_the_settings_and_the_default_state_then_previews_matches(
        settings_app: App, tmp_path: Path, work_url: str) -> None:
    app = settings_app
    enable(app, payments=False, state="OR")
    assert app.screen == "matches", app.messages.text
    saved = Settings.from_yaml(tmp_path / "settings.yaml")
    assert saved.invoices and not saved.payments and saved.integration_date == INTEGRATION_DATE
    assert saved.revenue_account == "1" and saved.item_account == "9"  # Services, Subcontractor Costs
    company = WorkStore(work_url).company()
    assert company is not None and company.default_state == "OR"

    panel = app.match_panel
    rows = {(r.client_name, r.customer_name, r.kind) for r in app.matches.rows}
    assert len(app.matches.pending) == PENDING_MATCHES
    assert ("Cool Cars", "Cool Cars", "weak") in rows
    assert sum(1 for r in app.matches.rows if r.kind == "multiple") == 2
    assert len(panel.rows.children) == PENDING_MATCHES
    assert "3 waiting" in panel.title.value

    # accept the weak match, reject one of the multiple ones; each row shows its decision
    cool = next(r for r in app.matches.rows if r.kind == "weak")
    row = next(w for w in panel.rows.children if f"qbo-match-{cool.work_id}-{cool.qbo_id}" in w._dom_classes)
    row.children[2].click()  # Accept
    bills = next(r for r in app.matches.rows if r.kind == "multiple")
    row = next(w for w in panel.rows.children if f"qbo-match-{bills.work_id}-{bills.qbo_id}" in w._dom_classes)
    row.children[3].click()  # Reject
    statuses = {(r.work_id, r.qbo_id): r.status for r in app.matches.rows}
    assert statuses[(cool.work_id, cool.qbo_id)] == "accepted"
    assert statuses[(bills.work_id, bills.qbo_id)] == "rejected"
    assert len(app.matches.pending) == 1
    assert sorted(text_of(w.children[1].value).strip() for w in panel.rows.children) == [
        "waiting", "✓ accepted", "✗ rejected"]

    panel.continue_button.click()
    assert app.screen == "status"
    assert app.status.wait(WAIT)
    # the first sync honoured the decisions: Cool Cars linked to the existing customer
    state = SyncState(app.ctx.store, emu_realm(app))
    links = state.links("customer")
    assert links[cool.work_id].qbo_id == cool.qbo_id
    assert bills.work_id not in links or links[bills.work_id].qbo_id != bills.qbo_id


def writes(emu: EmulatorServer) -> list[dict[str, Any]]:
    """The data writes QuickBooks received (creates, updates, batches), from the emulator's log."""
    return [r for r in list(emu.emulator.log)
            if r["method"] == "POST" and r["path"].startswith("/v3/") and not r["path"].endswith("/query")]


def emu_realm(app: App) -> str:
    assert app.ctx.conn is not None
    return app.ctx.conn.realm_id


def test_enable_without_matches_goes_straight_to_status(emu: EmulatorServer, make_app: Callable[..., App],
                                                        tmp_path: Path) -> None:
    empty = f"sqlite:///{tmp_path / 'empty.sqlite3'}"  # no WORK clients: nothing to match
    app = make_app(work_url=empty)
    connect_app(app)
    assert app.settings_screen.default_state.value == ""  # no company details yet
    app.settings_screen.default_state.value = "WA"
    enable(app, invoices=False)
    assert app.screen == "status", app.messages.text
    assert "the sync is running" in app.messages.text
    assert app.status.wait(WAIT)
    # the notice is not true any more once the sync ended: it goes (there is nothing else to say)
    wait_for(lambda: "the sync is running" not in app.messages.text, what="the running notice to go")
    # everything went: the preview may say both sides agree (and says nothing is outstanding)
    app.status_screen.preview_button.click()
    assert app.status.wait(WAIT)
    preview = text_of(app.status_screen.preview_html.value)
    assert "Nothing to do: both sides agree" in preview and "Not in agreement yet" not in preview, preview
    company = WorkStore(empty).company()
    assert company is not None and company.default_state == "WA"
    assert company.name == "Larkspur Landscaping & Repair"


def test_a_refused_account_is_explained(settings_app: App, emu: EmulatorServer) -> None:
    """The company changed between loading the form and enabling: enable checks again, says why."""
    form = settings_app.settings_screen
    fill_settings(settings_app, payments=False, since=INTEGRATION_DATE)
    form.revenue_account.options = [*form.revenue_account.options, ("Gone (Income)", "999")]
    form.revenue_account.value = "999"
    form.enable.click()
    assert settings_app.screen == "settings"
    text = settings_app.messages.text
    assert "Send invoice information to" in text and "999" in text


# ============================================================================================ status


def test_initial_sync_moves_the_bar_live_and_reaches_100(settings_app: App, emu: EmulatorServer) -> None:
    app = settings_app
    enable(app)
    emu.emulator.config.latency_mean = 6.0  # 0.1 s a request: the sync takes a couple of seconds
    bar = app.status_screen.bar
    seen: list[tuple[int, int]] = []
    bar.observe(lambda change: seen.append((bar.value, bar.max)), names="value")
    app.match_panel.continue_button.click()
    # the click returned while the sync runs on its thread: the kernel stays free
    assert app.screen == "status" and app.status.running
    assert app.status_screen.sync_button.disabled and app.status_screen.disconnect_button.disabled
    app.status_screen.entity_filter.value = "customer"  # the screen answers meanwhile
    wait_for(lambda: 0 < bar.value < bar.max, what="a partly filled bar")
    label = text_of(app.status_screen.progress_label.value)
    assert "Initial sync:" in label and " of " in label
    assert app.status.wait(WAIT)
    assert bar.max == app.status.progress.total > 100
    assert bar.value == bar.max  # 100%
    assert any(0 < value < top for value, top in seen), seen
    assert [v for v, _ in seen] == sorted(v for v, _ in seen) or seen[-1][0] == bar.max
    failed = app.status.last_result.counts["failed"] if app.status.last_result else 0
    assert failed > 0  # some demo records fail on purpose: the label says so, never just "finished"
    assert f"Initial sync completed with {failed} failures" in text_of(app.status_screen.progress_label.value)
    assert bar.bar_style == "warning"
    assert not app.status_screen.sync_button.disabled
    result = app.status.last_result
    assert result is not None and result.kind == "initial" and result.counts["ok"] > 30
    assert result.pending_matches == PENDING_MATCHES
    assert f"{PENDING_MATCHES} possible match(es) wait for your decision" in app.messages.text


def test_status_shows_checks_crosses_and_accounts(settings_app: App) -> None:
    app = settings_app
    enable(app, payments=False)
    app.match_panel.continue_button.click()
    assert app.status.wait(WAIT)
    rows = {r.label: r for r in app.status.sync_settings()}
    assert rows["Clients"].on and rows["Invoices"].on and not rows["Payments"].on
    assert "Services" in rows["Invoices"].detail and "Subcontractor Costs" in rows["Invoices"].detail
    assert "CA" in rows["Clients"].detail
    markup = app.status_screen.settings_html.value
    assert markup.count("qbo-on") == 2 and markup.count("qbo-off") == 1
    assert "✓" in markup and "✗" in markup
    assert "2026-01-01" in markup
    header = app.status_screen.header
    assert header.children[-1] is app.status_screen.disconnect_button  # upper right
    assert header.layout.justify_content == "space-between"
    # the matches left undecided are offered again on the status screen
    assert visible(app.status_screen.match_panel.widget)
    assert len(app.status_screen.match_panel.rows.children) == PENDING_MATCHES


def test_matches_decided_on_the_status_screen_apply_in_the_next_sync(synced_app: App) -> None:
    app = synced_app
    panel = app.status_screen.match_panel
    assert len(panel.controller.pending) == PENDING_MATCHES
    first, second = sorted((r for r in panel.controller.rows if r.kind == "multiple"), key=lambda r: r.work_id)
    assert first.qbo_id == second.qbo_id  # two WORK clients, one QBO customer
    row = next(w for w in panel.rows.children if f"qbo-match-{first.work_id}-{first.qbo_id}" in w._dom_classes)
    row.children[2].click()  # Accept
    assert [r.status for r in panel.controller.rows if r.work_id == first.work_id] == ["accepted"]
    assert any("accepted" in text_of(w.children[1].value) for w in panel.rows.children)  # redrawn
    app.status_screen.sync_button.click()
    assert app.status.wait(WAIT)
    links = SyncState(app.ctx.store, emu_realm(app)).links("customer")
    assert links[first.work_id].qbo_id == first.qbo_id
    # the other client's candidate is taken now: it no longer waits (only Cool Cars does)
    assert [(r.client_name, r.kind) for r in panel.controller.pending] == [("Cool Cars", "weak")]
    assert "1 possible match(es)" in app.messages.text


def test_runs_table_and_record_filters(synced_app: App) -> None:
    screen = synced_app.status_screen
    runs = table_rows(screen.runs_html.value)
    assert len(runs) == 1 and runs[0][1] == "initial"
    # a run with failures is not "ok"; Records counts what Done, Failed, Skipped and Waiting count
    records_, done, failed, skipped, waiting = (int(v) for v in runs[0][5:10])
    assert failed > 0 and runs[0][4] == f"completed with {failed} failures"
    assert records_ == done + failed + skipped + waiting
    records = table_rows(screen.records_html.value)
    assert len(records) > 100
    assert {"Client", "Invoice", "Payment"} <= {row[2].split()[0] for row in records}
    screen.entity_filter.value = "invoice"
    records = table_rows(screen.records_html.value)
    assert records and {row[2].split()[0] for row in records} == {"Invoice"}
    screen.outcome_filter.value = "failed"
    records = table_rows(screen.records_html.value)
    assert records and {row[5] for row in records} == {"failed"}
    assert {row[2].split()[0] for row in records} == {"Invoice"}
    failures = screen.failure_rows.children
    assert failures and all("qbo-failure-invoice" in " ".join(r._dom_classes) for r in failures)
    screen.outcome_filter.value = "ok"
    assert {row[5] for row in table_rows(screen.records_html.value)} == {"done"}
    assert screen.failure_rows.children == ()  # failures are not "done"
    screen.entity_filter.value = "payment"
    screen.outcome_filter.value = "held"
    assert table_rows(screen.records_html.value) == []
    assert "No records match" in screen.records_html.value
    # by run: the only run holds everything; the choice survives a refresh
    screen.entity_filter.value, screen.outcome_filter.value = "", ""
    everything = table_rows(screen.records_html.value)
    run_id = int(runs[0][0])
    screen.run_filter.value = run_id
    assert table_rows(screen.records_html.value) == everything
    screen.refresh_log()
    assert screen.run_filter.value == run_id


def test_retry_and_dismiss_a_failed_record(synced_app: App) -> None:
    app = synced_app
    screen = app.status_screen
    screen.entity_filter.value = "customer"
    rows = list(screen.failure_rows.children)
    assert len(rows) >= 3  # the colon, the vendor's and the employee's names
    state = SyncState(app.ctx.store, emu_realm(app))

    def failure_row(work_id: int) -> Any:
        return next(r for r in screen.failure_rows.children if f"qbo-failure-customer-{work_id}" in r._dom_classes)

    colon = next(e for e in app.status.failures(entity="customer") if "colon" in e.message)
    vendor = next(e for e in app.status.failures(entity="customer") if "Cal Telephone" in e.message)
    failure_row(colon.work_id).children[1].click()  # Retry
    assert app.messages.kind == "info" and "Client Acme: North Branch goes to QuickBooks again" in app.messages.text
    assert all(f"qbo-failure-customer-{colon.work_id}" not in r._dom_classes for r in screen.failure_rows.children)
    assert colon.work_id in state.get_value("pending:customer", [])
    failure_row(vendor.work_id).children[2].click()  # Dismiss
    assert "dismissed" in app.messages.text
    assert vendor.work_id in state.dismissed("customer")
    assert len(screen.failure_rows.children) == len(rows) - 2
    resolved = {e.work_id: e.resolved for e in state.activity(entity="customer", outcome="failed")}
    assert resolved[colon.work_id] == "retried" and resolved[vendor.work_id] == "dismissed"
    assert "retried" in screen.records_html.value and "dismissed" in screen.records_html.value
    # Sync now sends the retried record again (it fails again: the name still has a colon)
    screen.sync_button.click()
    assert app.status.wait(WAIT)
    result = app.status.last_result
    assert result is not None and result.kind == "incremental"
    again = [e for e in state.activity(entity="customer", outcome="failed") if e.run_id == result.run_id]
    assert [e.work_id for e in again] == [colon.work_id]
    assert vendor.work_id not in {e.work_id for e in app.status.failures(entity="customer")}


def test_a_csv_import_appears_as_a_run_and_its_refused_rows_can_be_dismissed(synced_app: App,
                                                                              tmp_path: Path) -> None:
    from qbo_toolkit.sync.imports import import_csv

    app = synced_app
    screen = app.status_screen
    path = tmp_path / "more-clients.csv"
    path.write_text("display_name,active\nNew Client,\n,true\nOther Client,perhaps\n")
    result = import_csv(app.ctx.store, "clients", path, realm=emu_realm(app))
    assert result.report.loaded == 1 and result.run_id is not None
    screen.refresh()
    runs = table_rows(screen.runs_html.value)
    assert (runs[0][1], runs[0][4], runs[0][6], runs[0][7]) == ("import", "completed with 2 failures", "1", "2")
    assert runs[1][1] == "initial"
    assert "Initial sync: completed with" in screen.progress_label.value  # an import is not the last sync
    screen.run_filter.value = result.run_id
    records = table_rows(screen.records_html.value)
    assert [(r[2], r[3], r[4], r[5], r[7]) for r in records] == [
        ("Client", "CSV file → WORK", "import", "failed", "active"),
        ("Client", "CSV file → WORK", "import", "failed", "display_name")]
    assert f"{path} line 4: active:" in records[0][8]
    screen.run_filter.value, screen.entity_filter.value = 0, "customer"
    rows = [r for r in screen.failure_rows.children if any("entry" in c for c in r._dom_classes)]
    assert len(rows) == 2 and all(len(r.children) == 2 for r in rows)  # the sentence and Dismiss: no Retry
    assert "(CSV row)" in rows[0].children[0].value
    rows[0].children[1].click()
    assert "dismissed" in app.messages.text
    left = [r for r in screen.failure_rows.children if any("entry" in c for c in r._dom_classes)]
    assert len(left) == 1 and left[0] is not rows[0]
    state = SyncState(app.ctx.store, emu_realm(app))
    assert [e.resolved for e in state.activity(run_id=result.run_id)].count("dismissed") == 1


def test_preview_is_a_dry_run(synced_app: App, emu: EmulatorServer) -> None:
    app = synced_app
    store = app.ctx.store
    client = store.clients()[-1]
    store.update_client(client.id, phone="(555) 010-9999")  # something for the next run to send
    before = len(writes(emu))
    screen = app.status_screen
    screen.preview_button.click()
    assert app.status.wait(WAIT)
    assert app.status.last_preview is not None and app.status.last_preview.dry_run
    text = text_of(screen.preview_html.value)
    assert "Preview (dry run), nothing written" in text
    assert "Client" in text and "update" in text
    assert "(dry run)" in text_of(screen.runs_html.value)
    assert len(writes(emu)) == before  # nothing was sent to QuickBooks
    assert screen.bar.value == screen.bar.max  # the initial sync's bar is left alone
    # the real run then sends it
    screen.sync_button.click()
    assert app.status.wait(WAIT)
    assert app.status.last_result is not None and app.status.last_result.counts["customer.update.ok"] >= 1


def test_a_sync_running_elsewhere_is_shown_and_sync_now_waits_for_it(synced_app: App) -> None:
    """Another process (the nightly job, another browser tab) holds the company's lease: the screen
    says who, since when and how far it got, disables Sync now and Preview, and brings them back once
    that sync has finished."""
    app = synced_app
    screen = app.status_screen
    app.status.watch_interval = 0.05
    other = Lease(SyncState(app.ctx.store, emu_realm(app)), job="nightly job")
    assert other.try_acquire() is None
    other.progress(stage="invoices", done=120, total=500)
    assert other.beat()
    try:
        screen.refresh()
        text = text_of(screen.elsewhere_html.value)
        assert "running elsewhere" in text and "nightly job" in text and "120 of 500 records (invoices)" in text
        assert visible(screen.elsewhere_html)
        assert screen.sync_button.disabled and screen.preview_button.disabled
        with pytest.raises(SyncBusy):  # headless: the same call a click makes stops with the sentence
            run_sync(app.status.settings(), store=app.ctx.store, conn=app.ctx.live())
    finally:
        other.release()
    wait_for(lambda: not screen.sync_button.disabled, what="Sync now to come back")
    assert not visible(screen.elsewhere_html)
    screen.sync_button.click()
    assert app.status.wait(WAIT)
    assert app.status.last_result is not None and app.status.last_result.status in ("ok", "failures")


def test_disconnect_asks_first_then_revokes_keeps_history_and_reconnects(
        synced_app: App, emu: EmulatorServer, make_app: Callable[..., App]) -> None:
    app = synced_app
    screen = app.status_screen
    realm = emu_realm(app)
    screen.disconnect_button.click()
    assert visible(screen.confirm_box) and "Disconnect from Larkspur" in text_of(screen.confirm_text.value)
    screen.keep_button.click()
    assert not visible(screen.confirm_box) and app.screen == "status"
    assert TokenStore().realms() == [realm]

    screen.disconnect_button.click()
    screen.confirm_button.click()
    assert app.screen == "connect"
    assert "Disconnected" in app.messages.text and "kept" in app.messages.text
    assert "Not connected" in app.badge.value
    assert TokenStore().realms() == []
    assert emu.emulator.oauth.stats().get("revokes", 0) >= 1
    binding = Binding.load()
    assert binding is not None and binding.realm_id == realm and binding.disconnected_at
    assert SyncState(app.ctx.store, realm).runs()  # history kept

    # connecting again resumes: settings are enabled, so straight to the status screen with its history
    connect_app(app)
    assert app.screen == "status", app.messages.text
    assert "initial" in text_of(screen.runs_html.value)
    # and a new app on the same home opens on the status screen
    again = make_app()
    assert again.screen == "status"


def test_reconnect_needed_during_a_sync_returns_to_connect(synced_app: App, emu: EmulatorServer) -> None:
    app = synced_app
    tokens = TokenStore().load(emu_realm(app))
    assert tokens is not None
    requests.post(emu.base_url + "/v2/oauth2/tokens/revoke", json={"token": tokens.refresh_token},
                  auth=(emu.info["client_id"], emu.info["client_secret"]), timeout=10)
    app.status_screen.sync_button.click()
    assert app.status.wait(WAIT)
    assert app.messages.kind == "error"
    assert "connect again" in app.messages.text
    assert app.screen == "connect"
    assert "stopped" in text_of(app.status_screen.progress_label.value)


# ============================================================================ issue 12: screens that tell the truth


def test_the_authorization_link_is_a_button_shown_at_once_with_what_to_do(emu: EmulatorServer,
                                                                          make_app: Callable[..., App]) -> None:
    """The browser blocks the tab a script opens after the kernel answered a click, so the link is the
    way: it must look like a button, open a new tab safely, and say what to do."""
    app = make_app(open_browser=False)
    screen = app.connect_screen
    screen.connect_button.click()
    markup = screen.link.value
    assert visible(screen.link)
    anchor = re.search(r"<a\s[^>]*>", markup)
    assert anchor is not None, markup
    tag = anchor.group(0)
    assert f'href="{html.escape(app.connect.attempt.url, quote=True)}"' in tag if app.connect.attempt else False
    assert 'target="_blank"' in tag and re.search(r'rel="[^"]*noopener', tag)
    style = re.search(r'style="([^"]*)"', tag)
    assert style is not None and "background" in style.group(1) and "padding" in style.group(1)
    assert "text-decoration:none" in style.group(1) and "display:inline-block" in style.group(1)
    text = text_of(markup)
    assert "Click the green button below" in text and "new tab" in text and "come back to this tab" in text
    screen.cancel_button.click()


def test_the_integration_date_field_leaves_room_for_the_whole_date(settings_app: App) -> None:
    """Its label used to take most of a 24em field: the date input showed no year."""
    picker = settings_app.settings_screen.integration_date

    def em(value: str) -> float:
        assert value.endswith("em"), value
        return float(value[:-2])

    assert picker.description == "Sync invoices and payments from"
    room = em(picker.layout.width) - em(picker.style.description_width)
    assert room >= 12, f"{room}em left for the date input"


SCREENS_TEXT_FORBIDDEN = ("qbo_toolkit", "notebook", "voila", "papermill", "kernel", "realm", "`",
                          "name_policy", "conflict_policy")


def _texts(widget: Any) -> list[str]:
    """What a user reads in a widget tree: HTML values, labels, button and option texts (hidden
    widgets left out)."""
    out: list[str] = []
    if getattr(getattr(widget, "layout", None), "display", None) == "none":
        return out
    for name in ("value", "description", "placeholder"):
        value = getattr(widget, name, None)
        if isinstance(value, str) and (name != "value" or isinstance(widget, widgets.HTML)):
            out.append(text_of(value))
    out += [str(label) for label, _ in getattr(widget, "options", ()) or () if isinstance(label, str)]
    for child in getattr(widget, "children", ()) or ():
        out += _texts(child)
    return out


def test_no_developer_text_on_any_screen(synced_app: App) -> None:
    """The screens' own words (records' messages come from the sync and name the settings' keys, as
    the settings file does, so the tables of records are left out)."""
    app = synced_app
    screen = app.status_screen
    for name in ("records_html", "failure_rows", "retry_rows", "runs_html"):
        dynamic = getattr(screen, name, None)
        if dynamic is not None:
            dynamic.layout.display = "none"
    notebook = json.loads((Path(__file__).resolve().parents[2] / "notebooks" / "app.ipynb").read_text())
    shown = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown"]  # Voila shows them
    for name in ("status", "settings"):
        getattr(app, f"show_{name}")()
        shown += _texts(app.widget)
    shown += _texts(app.connect_screen.widget) + _texts(app.match_panel.widget)
    found = sorted({(word, text) for text in shown for word in SCREENS_TEXT_FORBIDDEN if word in text.lower()})
    assert found == [], found


def test_change_settings_can_be_cancelled_without_saving(synced_app: App, tmp_path: Path) -> None:
    app = synced_app
    saved = (tmp_path / "settings.yaml").read_text()
    app.status_screen.edit_button.click()
    assert app.screen == "settings"
    form = app.settings_screen
    assert visible(form.cancel)
    form.payments.value = False
    form.name_policy.value = "fix"
    form.cancel.click()
    assert app.screen == "status", app.messages.text
    assert (tmp_path / "settings.yaml").read_text() == saved
    assert app.ctx.enabled_settings() is not None and app.ctx.enabled_settings().payments is True
    shown = app.status_screen.settings_html.value
    assert "✓" in shown and "report it and wait" in shown
    # coming back starts from what is saved, not from the cancelled choices
    app.status_screen.edit_button.click()
    assert form.payments.value is True and form.name_policy.value == "report"


def test_cancel_is_not_offered_when_choosing_settings_the_first_time(settings_app: App) -> None:
    assert not visible(settings_app.settings_screen.cancel)


def test_needs_attention_puts_what_needs_a_person_first_and_names_clients(synced_app: App) -> None:
    app = synced_app
    screen = app.status_screen
    title = text_of(screen.failures_title.value)
    rows = [r for r in screen.failure_rows.children]
    texts = [text_of(r.value) if isinstance(r, widgets.HTML) else text_of(r.children[0].value) for r in rows]
    # the match decisions and the records a person must fix come first; what retries itself is grouped
    assert "possible match(es)" in texts[0]
    assert "Needs your attention: 3 match decision(s)" in title
    assert not any(" is not in QuickBooks yet" in t for t in texts), texts
    retry = text_of(screen.retry_summary.value)
    assert "Will retry by themselves:" in retry
    payments = int(re.search(r"(\d+) payment\(s\) wait for their invoice", retry).group(1))  # type: ignore[union-attr]
    invoices = int(re.search(r"(\d+) invoice\(s\) wait for their client", retry).group(1))  # type: ignore[union-attr]
    state = SyncState(app.ctx.store, emu_realm(app))
    blocked = state.get_value("blocked:payment", {})
    assert payments == len({w for ids in blocked.values() for w in ids} & {e.work_id for e in app.status.failures(
        entity="payment")})
    assert invoices > 0
    # settings problems first, then client names, then other records
    kinds = []
    for r in rows[1:]:
        classes = " ".join(r._dom_classes)
        entity = re.search(r"qbo-(?:failure|held)-(\w+)-", classes).group(1)  # type: ignore[union-attr]
        kinds.append(entity)
    person = [e for e in app.status.attention(matches=0).person]
    person_fields = ("existing_items", "revenue_account", "item_account", "deposit_account", "closed_period",
                     "terms", "tax_rate", "tax_amount")
    ranks = [0 if (e.field or "") in person_fields or (e.field or "").endswith(".tax_rate")
             else 1 if e.entity == "customer" and e.field == "display_name" else 2 for e in person]
    assert ranks == sorted(ranks) and 1 in ranks
    # clients by their WORK name, never an internal id
    colon = app.ctx.store.get_client(next(e.work_id for e in person if e.entity == "customer" and "colon" in e.message))
    assert colon is not None
    assert any(f"Client {colon.display_name}" in t for t in texts)
    everything = " ".join(texts) + text_of(screen.records_html.value)
    assert not re.search(r"\bclient \d+\b", everything, re.I), re.findall(r".{30}\bclient \d+\b.{30}", everything, re.I)
    # Show them lists the records that retry by themselves, named too
    screen.retry_toggle.click()
    assert visible(screen.retry_rows) and screen.retry_rows.children
    waiting = [text_of(r.children[0].value) for r in screen.retry_rows.children]
    assert any("its client Cool Cars is not in QuickBooks yet" in t for t in waiting), waiting[:3]


def test_a_refused_csv_row_counts_once_however_many_fields_are_wrong(synced_app: App, tmp_path: Path) -> None:
    from qbo_toolkit.sync.imports import import_csv

    app = synced_app
    screen = app.status_screen
    path = tmp_path / "two-bad-rows.csv"
    path.write_text("display_name,active,email\nBad\x01Name,true,a\x02b@x.com\nGood Client,true,\n,true,\n")
    result = import_csv(app.ctx.store, "clients", path, realm=emu_realm(app))
    assert result.run_id is not None and len(result.report.errors) == 3  # three errors in two rows
    screen.refresh()
    run = table_rows(screen.runs_html.value)[0]
    assert (run[1], run[4], run[5], run[6], run[7]) == ("import", "completed with 2 failures", "3", "1", "2")
    csv_rows = [r for r in screen.failure_rows.children if any("entry" in c for c in r._dom_classes)]
    assert len(csv_rows) == 2, [text_of(r.children[0].value) for r in csv_rows]
    assert "2 CSV row(s)" in text_of(screen.failures_title.value)
    first = text_of(csv_rows[-1].children[0].value) + text_of(csv_rows[0].children[0].value)
    assert "line 2:" in first and "email: holds a control" in first and "display_name: holds a control" in first
    # Dismiss on a row dismisses all of its entries
    state = SyncState(app.ctx.store, emu_realm(app))
    row2 = next(r for r in csv_rows if "line 2" in text_of(r.children[0].value))
    row2.children[1].click()
    left = [r for r in screen.failure_rows.children if any("entry" in c for c in r._dom_classes)]
    assert len(left) == 1
    dismissed = [e for e in state.activity(run_id=result.run_id) if e.resolved == "dismissed"]
    assert len(dismissed) >= 2 and all("line 2" in e.message for e in dismissed)


def test_preview_lists_what_is_outstanding_instead_of_saying_both_sides_agree(synced_app: App) -> None:
    app = synced_app
    screen = app.status_screen
    screen.preview_button.click()
    assert app.status.wait(WAIT)
    text = text_of(screen.preview_html.value)
    assert "both sides agree" not in text
    assert "Not in agreement yet" in text
    assert "possible match(es) wait for your decision" in text


def test_a_rejected_client_waiting_for_its_name_shows_the_reason(synced_app: App) -> None:
    """Reject on a "Bill's Windsurf Shop" whose namesake QBO customer stays: under "report it and
    wait" the client waits with the reason, shown on the status screen; no third WORK client."""
    app = synced_app
    panel = app.status_screen.match_panel
    bills = sorted((r for r in panel.controller.rows if r.kind == "multiple"), key=lambda r: r.work_id)[0]
    clients = len(app.ctx.store.clients())
    row = next(w for w in panel.rows.children if f"qbo-match-{bills.work_id}-{bills.qbo_id}" in w._dom_classes)
    row.children[3].click()  # Reject
    app.status_screen.sync_button.click()
    assert app.status.wait(WAIT)
    assert len(app.ctx.store.clients()) == clients
    rows = app.status_screen.failure_rows.children
    held = [r for r in rows if f"qbo-held-customer-{bills.work_id}" in r._dom_classes]
    assert held, [r._dom_classes for r in app.status_screen.failure_rows.children]
    text = text_of(held[0].children[0].value)
    assert "Client Bill's Windsurf Shop" in text
    assert "a customer of that name exists in QuickBooks; rename the client in WORK or choose fix" in text
    # the match panel's row says it too, beside the decision
    (decided,) = [r for r in panel.controller.rows if r.work_id == bills.work_id]
    assert decided.status == "rejected" and decided.note.startswith("a customer of that name exists")
    row = next(w for w in panel.rows.children if f"qbo-match-{bills.work_id}-{bills.qbo_id}" in w._dom_classes)
    assert "Waiting: a customer of that name exists in QuickBooks" in text_of(row.children[0].value)


def test_the_match_preview_tells_same_named_clients_apart_without_internal_ids(settings_app: App) -> None:
    app = settings_app
    enable(app)
    assert app.screen == "matches"
    texts = {tuple(w._dom_classes): text_of(w.children[0].value) for w in app.match_panel.rows.children}
    bills = [t for t in texts.values() if t.strip().startswith("Bill's Windsurf Shop in WORK")]
    assert len(bills) == 2 and bills[0] != bills[1], texts  # the two clients differ by e-mail, phone or city
    assert not any(re.search(r"#\d", t) for t in texts.values()), texts
    assert "Until you decide, neither is created on either side" in text_of(app.match_panel.title.value)


def test_the_status_screen_names_the_settings_file_and_syncs_record_it(synced_app: App, tmp_path: Path) -> None:
    """One settings source: the screen says which file the app's settings are in (and that jobs use the
    toolkit home's unless told otherwise); a sync started here records that file and its hash."""
    app = synced_app
    shown = text_of(app.status_screen.settings_html.value)
    assert f"Saved in {tmp_path / 'settings.yaml'}, a file chosen for this app" in shown
    run = SyncState(app.ctx.store, emu_realm(app)).runs(1)[0]
    source = run["settings_source"]
    assert source is not None and source["path"] == str(tmp_path / "settings.yaml") and source["sha256"]


def test_the_apps_default_settings_are_the_toolkit_homes(emu: EmulatorServer, make_app: Callable[..., App]) -> None:
    from qbo_toolkit.settings import home_settings_path

    app = make_app(settings_path=None)
    assert app.ctx.settings_path == home_settings_path()
    assert "scheduled syncs, the reconciliation and the explorer use these settings too" in app.ctx.settings_text()


def test_the_existing_items_choice_is_on_the_settings_screen(synced_app: App, tmp_path: Path) -> None:
    """The sync asks for ``existing_items`` when a WORK item matches a QBO item on another income
    account: the screen must offer the choice, load the saved one and save a change."""
    app = synced_app
    app.status_screen.edit_button.click()
    form = app.settings_screen
    assert visible(form.existing_items) and {v for _, v in form.existing_items.options} == {
        "ask", "use_as_is", "own_item"}
    assert form.existing_items.value == app.ctx.enabled_settings().existing_items
    form.existing_items.value = "own_item"
    form.enable.click()
    assert "existing_items: own_item" in (tmp_path / "settings.yaml").read_text(), app.messages.text
