"""What every screen shares: the app's dependencies, the error banner, background work, small helpers.

Three rules hold the screens together (STYLE.md habit 8):

* **A callback is one line into the package.** Buttons call a controller method through
  :class:`Guard`, which catches every exception and turns it into a sentence in an ``Output``
  widget (JupyterLab shows nothing for an exception raised in a widget callback, so without this the
  user would see a button that silently does nothing).
* **Errors become sentences in one place**: :func:`friendly` maps the toolkit's exception tree to
  what the user can do next, like the CLI's ``main`` does for exit codes.
* **Long work runs off the kernel's main thread** (:class:`Background`): a sync, waiting for the
  browser's redirect. The kernel keeps answering while it runs; a ticker thread reads the progress
  the work publishes and updates the widgets at a steady rate, so the engine never blocks on a UI.

Nothing here knows about a particular screen. Dependencies come in through :class:`AppContext`,
so tests (and a headless job) can point the app at a scratch home, a scratch WORK store and an
emulator.
"""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import ipywidgets as widgets

from ..connection import ConnectAttempt, Connection, DisconnectResult
from ..errors import (
    AuthError,
    AuthorizationCancelled,
    AuthorizationTimeout,
    CompanyMismatch,
    ConfigError,
    QboAuthError,
    QboError,
    QboServerError,
    QboThrottled,
    QboToolkitError,
    QboTransportError,
    ReconnectNeeded,
    StateMismatch,
    WorkDataError,
)
from ..settings import Settings, SettingsError, SettingsSource, home_settings_path, resolve_settings
from ..work.store import WorkStore

__all__ = ["SYNC_RUNNING", "AppContext", "Background", "Guard", "Messages", "button", "close_tree", "css", "friendly",
           "html_table", "replace_children", "set_visible"]

log = logging.getLogger("qbo_toolkit.ui")
T = TypeVar("T")

CONNECT_AGAIN = "Click “Connect to QuickBooks” to try again."


# --------------------------------------------------------------------------------------------
# Dependencies
# --------------------------------------------------------------------------------------------


@dataclass
class AppContext:
    """What the screens work with, passed in rather than found: where the settings YAML lives, which
    WORK store to sync, and how to connect, find the stored connection and disconnect.

    ``conn`` caches the live connection once there is one, so every screen talks to QuickBooks
    through the same session (one refresh-token rotation at a time)."""

    settings_path: Path
    work_url: str | None
    start_connect: Callable[[], ConnectAttempt]
    stored_connection: Callable[[], Connection]
    disconnect: Callable[[], DisconnectResult]
    conn: Connection | None = None
    _store: WorkStore | None = field(default=None, repr=False)

    @classmethod
    def create(cls, *, settings_path: str | Path | None, work_url: str | None,
               connect: Callable[[], ConnectAttempt] | None = None,
               connection: Callable[[], Connection] | None = None,
               disconnect: Callable[[], DisconnectResult] | None = None,
               environment: str | None = None, emulator_info: str | Path | None = None) -> AppContext:
        """The defaults are the real thing: the toolkit home's settings file and WORK store, and
        :mod:`qbo_toolkit.connection`'s functions for ``environment`` (None: ``QBO_ENVIRONMENT``,
        the local config file, else the emulator), with ``emulator_info`` naming the emulator's
        info file when the environment is local."""
        from functools import partial

        from .. import connection as connection_module

        extra: dict[str, Any] = {"emulator_info": str(emulator_info)} if emulator_info else {}
        return cls(Path(settings_path) if settings_path else home_settings_path(), work_url,
                   connect or partial(connection_module.start_connect, environment, **extra),
                   connection or partial(connection_module.connection, None, environment, **extra),
                   disconnect or partial(connection_module.disconnect, **extra))

    @property
    def store(self) -> WorkStore:
        """The WORK store, opened on first use (opening migrates it: not in the constructor)."""
        if self._store is None:
            self._store = WorkStore(self.work_url)
        return self._store

    def close(self) -> None:
        """Release the WORK store's connections (it reopens on next use)."""
        if self._store is not None:
            self._store.close()
            self._store = None

    def live(self) -> Connection:
        """The connection to use now: the one made in this app, else the stored one (which raises
        :class:`ReconnectNeeded` when there is none)."""
        if self.conn is None:
            self.conn = self.stored_connection()
        return self.conn

    def connected(self) -> Connection | None:
        """The connection, or None when the user has to connect first."""
        try:
            return self.live()
        except ReconnectNeeded:
            return None

    def saved_settings(self) -> Settings | None:
        """The settings saved by the last "Enable Integration", if any."""
        if not self.settings_path.is_file():
            return None
        return Settings.from_yaml(self.settings_path)

    def settings_source(self) -> SettingsSource:
        """The saved settings with their origin, file and hash, as a sync run records them (the
        toolkit home's settings.yaml is the app's: the one settings source jobs use too)."""
        return resolve_settings(self.settings_path)

    def settings_text(self) -> str:
        """Which settings file the app uses, in a sentence for the screen."""
        if self.settings_path.absolute() == home_settings_path().absolute():
            return (f"Saved in {self.settings_path}: scheduled syncs, the reconciliation and the explorer use "
                    "these settings too, unless they are told to use another file.")
        return (f"Saved in {self.settings_path}, a file chosen for this app: scheduled syncs, the reconciliation "
                f"and the explorer use {home_settings_path()} unless they are told to use this one.")

    def enabled_settings(self) -> Settings | None:
        """Saved settings that were enabled (they carry an integration date), else None."""
        saved = self.saved_settings()
        return saved if saved is not None and saved.integration_date is not None else None


# --------------------------------------------------------------------------------------------
# Errors as sentences
# --------------------------------------------------------------------------------------------


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def friendly(exc: BaseException) -> str:
    """One sentence saying what happened and what to do next. The single place where the UI turns
    the toolkit's exception tree into words (the CLI's ``main`` does the same for exit codes)."""
    if isinstance(exc, AuthorizationCancelled):
        return "The connection to QuickBooks was cancelled on the authorization page, so nothing was stored. " \
            + CONNECT_AGAIN
    if isinstance(exc, StateMismatch):
        return ("The answer from QuickBooks did not belong to this connection attempt (it may be from an older "
                "attempt, or forged), so nothing was stored. Click “Connect to QuickBooks” to start a new one.")
    if isinstance(exc, AuthorizationTimeout):
        within = f" within {exc.timeout:g} seconds" if exc.timeout is not None else " in time"
        return f"Nobody finished the QuickBooks authorization{within}. {CONNECT_AGAIN}"
    if isinstance(exc, ReconnectNeeded):
        return ("QuickBooks needs you to connect again: the authorization is missing, expired or was revoked. "
                "Click “Connect to QuickBooks”; the sync resumes where it stopped.")
    if isinstance(exc, CompanyMismatch):
        return _sentence(str(exc))
    if isinstance(exc, AuthError):
        return f"QuickBooks did not connect: {_sentence(str(exc))} {CONNECT_AGAIN}"
    if isinstance(exc, SettingsError):
        return "These settings cannot be used yet: " + " ".join(_sentence(p) for p in exc.problems)
    if isinstance(exc, ConfigError):
        return _sentence(str(exc))
    if isinstance(exc, QboThrottled):
        return "QuickBooks is limiting this app's requests right now. Wait a minute, then try again."
    if isinstance(exc, QboServerError | QboTransportError):
        return f"QuickBooks could not be reached or failed on its side ({exc}). Try again in a moment."
    if isinstance(exc, QboAuthError):
        return f"QuickBooks refused this app's access ({exc}). Disconnect, then connect again."
    if isinstance(exc, QboError):
        return f"QuickBooks refused the request: {_sentence(str(exc))}"
    if isinstance(exc, WorkDataError):
        return f"A WORK record cannot be used as it is: {_sentence(str(exc))} Fix it in WORK, then try again."
    if isinstance(exc, QboToolkitError):
        return _sentence(str(exc))
    return (f"Something unexpected went wrong ({type(exc).__name__}: {exc}). Try again; if it keeps happening, "
            "report it with the kernel's log.")


# --------------------------------------------------------------------------------------------
# Messages: the Output widget errors land in
# --------------------------------------------------------------------------------------------


#: The tag of a notice that says a sync is running (cleared when it ends).
SYNC_RUNNING = "sync-running"


class Messages:
    """An ``Output`` widget holding the latest error or notice.

    Outputs are written by assigning ``Output.outputs`` rather than with ``with output:``: that
    works the same on the kernel's thread, on a worker thread (where ``with output:`` would capture
    nothing) and in a headless test without a kernel (where ``clear_output`` would print escape codes)."""

    def __init__(self) -> None:
        self.widget = css(widgets.Output(), "qbo-messages")
        self._lock = threading.Lock()
        self._tag: str | None = None  # what the message shown is about, when it is only true for a while

    def _show(self, kind: str, text: str, tag: str | None = None) -> None:
        colour = {"error": "#b00020", "info": "#1b5e20"}[kind]
        icon = {"error": "⚠", "info": "ℹ"}[kind]
        markup = (f'<div class="qbo-message qbo-message-{kind}" style="color:{colour};padding:4px 0">'
                  f"{icon} {html.escape(text)}</div>")
        output = {"output_type": "display_data", "metadata": {},
                  "data": {"text/plain": text, "text/html": markup}}
        with self._lock:
            self.widget.outputs = (output,)
            self._tag = tag

    def error(self, problem: BaseException | str) -> None:
        self._show("error", problem if isinstance(problem, str) else friendly(problem))

    def info(self, text: str, *, tag: str | None = None) -> None:
        """A notice; ``tag`` names what it is about when it stops being true (``"sync-running"``), so
        :meth:`clear` with that tag takes it away then, and leaves any later message alone."""
        self._show("info", text, tag)

    def clear(self, tag: str | None = None) -> None:
        """Remove the message (only when it carries ``tag``, if one is given)."""
        with self._lock:
            if tag is None or self._tag == tag:
                self.widget.outputs = ()
                self._tag = None

    @property
    def text(self) -> str:
        """What the user reads now (plain text); empty when there is nothing to say."""
        parts = []
        for output in self.widget.outputs:
            data = output.get("data", {})
            parts.append(str(data.get("text/plain") or output.get("text", "")))
        return "\n".join(parts)

    @property
    def kind(self) -> str:
        """``"error"``, ``"info"`` or ``""``: tests and screens can tell a failure from a notice."""
        for output in self.widget.outputs:
            markup = str(output.get("data", {}).get("text/html", ""))
            for kind in ("error", "info"):
                if f"qbo-message-{kind}" in markup:
                    return kind
        return ""


class Guard:
    """Runs a callback and turns any exception into a sentence in :class:`Messages`.

    ``on_reconnect`` is called after a :class:`ReconnectNeeded` so the app can move back to the
    connect screen wherever the error happened (a sync, loading the accounts, a retry)."""

    def __init__(self, messages: Messages, on_reconnect: Callable[[], None] | None = None) -> None:
        self.messages = messages
        self.on_reconnect = on_reconnect

    def __call__(self, fn: Callable[..., T], *args: Any, clear: bool = True, **kwargs: Any) -> T | None:
        if clear:
            self.messages.clear()
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            self.fail(exc)
            return None

    def fail(self, exc: BaseException) -> None:
        if not isinstance(exc, QboToolkitError):
            log.exception("unexpected error in the qbo-toolkit app", exc_info=exc)
        self.messages.error(exc)
        if isinstance(exc, ReconnectNeeded) and self.on_reconnect is not None:
            try:
                self.on_reconnect()
            except Exception:  # the message above is what matters; never fail inside the error path
                log.exception("could not move to the connect screen")

    def callback(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[Any], None]:
        """A widget callback (``on_click`` / ``observe``) that ignores its event argument."""

        def handler(_event: Any = None) -> None:
            self(fn, *args, **kwargs)

        return handler


# --------------------------------------------------------------------------------------------
# Background work
# --------------------------------------------------------------------------------------------


class Background:
    """One long piece of work at a time, on a daemon thread, so the kernel stays responsive.

    ``tick`` (optional) runs on a second thread every ``interval`` seconds while the work runs,
    and once more after it ends: it copies the progress the work publishes (a ``ProgressState``)
    into widgets at a steady rate, however fast or slow the records go. ``on_done`` gets the work's
    result once the last tick ran; an exception goes to ``on_error`` (to reset the screen) and then
    to the guard (the sentence; a ReconnectNeeded also moves the app to the connect screen). ``join`` waits for all
    of it (tests, and a headless job that wants the app's behaviour without a browser)."""

    def __init__(self, guard: Guard, name: str = "qbo-ui-worker") -> None:
        self.guard = guard
        self.name = name
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def start(self, work: Callable[[], T], *, on_done: Callable[[T], None] | None = None,
              tick: Callable[[], None] | None = None, interval: float = 0.1,
              on_error: Callable[[BaseException], None] | None = None) -> None:
        with self._lock:
            if self.running:
                raise QboToolkitError("still busy with the previous step: wait for it to finish, then try again")
            box: dict[str, Any] = {}
            finished = threading.Event()

            def run_work() -> None:
                try:
                    box["result"] = work()
                except BaseException as exc:  # reported, never re-raised on a thread nobody joins
                    box["error"] = exc
                finally:
                    finished.set()
                if tick is None:
                    self._finish(box, on_done, on_error)

            def run_ticks() -> None:
                assert tick is not None
                while not finished.wait(interval):
                    self.guard(tick, clear=False)
                self.guard(tick, clear=False)
                self._finish(box, on_done, on_error)

            threads = [threading.Thread(target=run_work, name=self.name, daemon=True)]
            if tick is not None:
                threads.append(threading.Thread(target=run_ticks, name=f"{self.name}-ticks", daemon=True))
            self._threads = threads
            for thread in threads:
                thread.start()

    def _finish(self, box: dict[str, Any], on_done: Callable[[Any], None] | None,
                on_error: Callable[[BaseException], None] | None) -> None:
        if "error" in box:
            error = box["error"]
            if on_error is not None:
                self.guard(on_error, error, clear=False)
            if isinstance(error, Exception):
                self.guard.fail(error)
            return
        if on_done is not None:
            self.guard(on_done, box.get("result"), clear=False)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the work (and its last tick and ``on_done``); True when everything ended."""
        for thread in list(self._threads):
            thread.join(timeout)
        return not self.running


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------

W = TypeVar("W", bound=widgets.Widget)


def css(widget: W, *names: str) -> W:
    """Add stable CSS classes (``qbo-...``) that browser tests select by; returns the widget."""
    for name in names:
        widget.add_class(name)
    return widget


def button(description: str, *classes: str, **kwargs: Any) -> widgets.Button:
    """A button as wide as its label (in a VBox a button would otherwise stretch across the page),
    with its own Layout (a shared Layout would hide or resize every button that uses it)."""
    kwargs.setdefault("layout", widgets.Layout(width="max-content", min_width="7em"))
    return css(widgets.Button(description=description, **kwargs), *classes)


def set_visible(widget: widgets.Widget, visible: bool) -> None:
    """Show or hide a widget without removing it (its values survive being hidden)."""
    widget.layout.display = None if visible else "none"


def replace_children(box: widgets.Box, children: Sequence[widgets.Widget]) -> None:
    """Swap a box's rows and close the old ones, so redrawing a list does not leak widget comms."""
    old = [child for child in box.children if child not in children]
    box.children = tuple(children)
    for child in old:
        close_tree(child)


def close_tree(widget: widgets.Widget) -> None:
    for child in getattr(widget, "children", ()):
        close_tree(child)
    widget.close()


def html_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, css_class: str = "",
               empty: str = "Nothing yet.", wrap: Collection[int] = ()) -> str:
    """A plain HTML table, every cell escaped (record messages come from QBO and WORK data). Cells
    stay on one line except the columns in ``wrap`` (the long ones, such as a message)."""
    def cell(index: int, value: Any) -> str:
        space = "normal;min-width:22em" if index in wrap else "nowrap"
        text = html.escape("" if value is None else str(value))
        return f"<td style='padding:1px 1em 1px 0;vertical-align:top;white-space:{space}'>{text}</td>"

    body = ["<tr>" + "".join(cell(i, value) for i, value in enumerate(row)) + "</tr>" for row in rows]
    if not body:
        return f'<div class="{css_class} qbo-empty"><i>{html.escape(empty)}</i></div>'
    head = "".join(f"<th style='text-align:left;padding-right:1em'>{html.escape(h)}</th>" for h in headers)
    return (f'<table class="{css_class}" style="border-collapse:collapse;font-size:90%">'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")
