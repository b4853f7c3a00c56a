"""The pieces every screen shares, without an emulator: error sentences, the message area, the guard,
background work, account choices, escaping."""

from __future__ import annotations

import threading
import time

import ipywidgets as widgets
import pytest

from qbo_toolkit.errors import (
    AuthError,
    AuthorizationCancelled,
    AuthorizationTimeout,
    CompanyMismatch,
    ConfigError,
    DuplicateName,
    QboAuthError,
    QboServerError,
    QboThrottled,
    QboToolkitError,
    QboTransportError,
    ReconnectNeeded,
    StateMismatch,
    WorkDataError,
)
from qbo_toolkit.settings import SettingsError
from qbo_toolkit.ui.common import Background, Guard, Messages, css, friendly, html_table, set_visible
from qbo_toolkit.ui.settings_form import Account, AccountChoices


@pytest.mark.parametrize(("error", "says"), [
    (AuthorizationCancelled("x", error="access_denied"), ["cancelled", "nothing was stored", "Connect to QuickBooks"]),
    (StateMismatch("x"), ["did not belong to this connection attempt", "Connect to QuickBooks"]),
    (AuthorizationTimeout("x", timeout=300), ["within 300 seconds", "try again"]),
    (AuthorizationTimeout("x"), ["in time", "try again"]),
    (ReconnectNeeded("x", reason="invalid_grant"), ["connect again", "resumes"]),
    (CompanyMismatch("this toolkit is set up for company A; connect to the same company", expected="1", actual="2"),
     ["This toolkit is set up for company A", "connect to the same company."]),
    (AuthError("the authorization code was already used; connect again"), ["did not connect", "try again"]),
    (SettingsError(["Invoices need an account: choose one", "Payments need one too"]),
     ["cannot be used yet", "Invoices need an account: choose one.", "Payments need one too."]),
    (ConfigError("no emulator answers for the info file x.json"), ["No emulator answers"]),
    (QboThrottled("slow down"), ["limiting", "Wait a minute"]),
    (QboServerError("boom", http_status=503), ["could not be reached", "Try again"]),
    (QboTransportError("timeout"), ["could not be reached"]),
    (QboAuthError("no", http_status=403), ["refused this app's access", "connect again"]),
    (DuplicateName("Duplicate Name Exists Error", code="6240"), ["QuickBooks refused the request", "6240"]),
    (WorkDataError("bad amount", record_id=7, field="amount"), ["WORK record", "record 7", "Fix it in WORK"]),
    (ValueError("surprise"), ["unexpected", "ValueError: surprise", "Try again"]),
])
def test_every_error_becomes_a_sentence_with_a_way_forward(error: BaseException, says: list[str]) -> None:
    text = friendly(error)
    for part in says:
        assert part in text, text
    assert text.rstrip().endswith((".", "!", "?"))


def test_messages_show_one_error_or_notice_at_a_time() -> None:
    messages = Messages()
    assert messages.text == "" and messages.kind == ""
    messages.error(StateMismatch("x"))
    assert messages.kind == "error" and "did not belong" in messages.text
    assert "qbo-message-error" in messages.widget.outputs[0]["data"]["text/html"]
    messages.info("Connected to <Larkspur>.")
    assert messages.kind == "info" and messages.text == "Connected to <Larkspur>."
    assert "&lt;Larkspur&gt;" in messages.widget.outputs[0]["data"]["text/html"]  # escaped
    assert len(messages.widget.outputs) == 1
    messages.clear()
    assert messages.text == "" and "qbo-messages" in messages.widget._dom_classes


def test_guard_turns_exceptions_into_sentences_and_reconnect_into_the_connect_screen() -> None:
    moved: list[str] = []
    guard = Guard(Messages(), on_reconnect=lambda: moved.append("connect"))
    assert guard(lambda: 42) == 42
    assert guard(lambda: 1 / 0) is None
    assert "ZeroDivisionError" in guard.messages.text and moved == []

    def reconnect() -> None:
        raise ReconnectNeeded("gone")

    button = widgets.Button()
    button.on_click(guard.callback(reconnect))
    button.click()  # what a browser click runs: no exception escapes
    assert "connect again" in guard.messages.text and moved == ["connect"]
    guard.messages.info("kept")
    guard(lambda: None, clear=False)
    assert guard.messages.text == "kept"


def test_background_runs_off_the_calling_thread_and_reports_the_outcome() -> None:
    guard = Guard(Messages())
    worker = Background(guard)
    release = threading.Event()
    ticks: list[int] = []
    results: list[int] = []
    threads: list[str] = []

    def work() -> int:
        threads.append(threading.current_thread().name)
        release.wait(5)
        return 7

    worker.start(work, on_done=results.append, tick=lambda: ticks.append(1), interval=0.01)
    assert worker.running  # start returned while the work waits
    with pytest.raises(QboToolkitError, match="still busy"):
        worker.start(lambda: 0)
    time.sleep(0.05)
    release.set()
    assert worker.join(5)
    assert results == [7] and len(ticks) >= 2 and threads == ["qbo-ui-worker"]
    assert guard.messages.text == ""

    failures: list[BaseException] = []

    def broken() -> None:
        raise AuthorizationTimeout("late", timeout=1)

    worker.start(broken, on_done=results.append, on_error=failures.append)
    assert worker.join(5)
    assert results == [7] and isinstance(failures[0], AuthorizationTimeout)
    assert "within 1 seconds" in guard.messages.text


def test_account_choices_follow_the_settings_rules() -> None:
    accounts = [Account("1", "Services", "Income"), Account("2", "Fees", "Income", active=False),
                Account("3", "Other", "Other Income"), Account("4", "Checking", "Bank", "Checking"),
                Account("5", "Undeposited Funds", "Other Current Asset", "UndepositedFunds"),
                Account("6", "Job Supplies", "Expense"), Account("7", "COGS", "Cost of Goods Sold"),
                Account("8", "A/R", "Accounts Receivable")]
    choices = AccountChoices.from_accounts(accounts)
    assert [a.id for a in choices.revenue] == ["3", "1"]  # by name; inactive left out
    assert [a.id for a in choices.item] == ["7", "6"]
    assert [a.id for a in choices.deposit] == ["5", "4"]  # Undeposited Funds first
    assert AccountChoices.options(choices.deposit)[0] == ("— choose an account —", "")
    assert AccountChoices.options(choices.deposit)[1] == ("Undeposited Funds (Other Current Asset)", "5")


def test_html_table_escapes_every_cell_and_helpers_mark_widgets() -> None:
    markup = html_table(["Name"], [["<script>alert(1)</script>"], [None]], css_class="t")
    assert "<script>" not in markup and "&lt;script&gt;" in markup and markup.count("<tr>") == 3
    assert "Nothing" in html_table(["A"], [], empty="Nothing here")
    label = css(widgets.HTML(), "qbo-a", "qbo-b")
    assert label._dom_classes == ("qbo-a", "qbo-b")
    set_visible(label, False)
    assert label.layout.display == "none"
    set_visible(label, True)
    assert label.layout.display is None
