"""The app: the three screens of the seed in one widget, moving from one to the next by itself.

::

    not connected ──Connect to QuickBooks──▶ (authorization page, new tab) ──redirect──▶
    connected, not enabled ──▶ Settings ──Enable Integration──▶ [Match preview, if any] ──Continue──▶
    Status (the initial sync starts, the bar moves) ──Disconnect (confirm)──▶ Connect

Where the app opens depends on what is stored: no connection → Connect; a connection but no enabled
settings → Settings; both → Status. A :class:`~qbo_toolkit.errors.ReconnectNeeded` anywhere (a sync,
loading accounts) brings the Connect screen back with the sentence that says why.

Dependencies are explicit (settings path, WORK store URL, the connect / connection / disconnect
functions) so a test points the app at a scratch home and an emulator, and a notebook passes its
papermill parameters::

    from qbo_toolkit.ui import show_app
    app = show_app(settings_path="parameters/settings.yaml", work_url="sqlite:///work.sqlite3")
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ..connection import ConnectAttempt, Connection, DisconnectResult
from ..settings import Settings
from .common import SYNC_RUNNING, AppContext, Background, Guard, Messages, css
from .connect import ConnectController, ConnectScreen
from .matches import MatchController, MatchPanel
from .settings_form import SettingsController, SettingsScreen
from .status import StatusController, StatusScreen

__all__ = ["App", "show_app"]

SCREENS = ("connect", "settings", "matches", "status")


class App:
    """The QuickBooks Online integration screens as one ipywidgets widget (``app.widget``).

    Parameters
    ----------
    settings_path:
        The settings YAML "Enable Integration" writes (default ``<toolkit home>/settings.yaml``).
    work_url:
        SQLAlchemy URL of the WORK store (default: the toolkit home's ``work.sqlite3``).
    connect, connection, disconnect:
        How to start an authorization, find the stored connection, disconnect (default: the functions
        of :mod:`qbo_toolkit.connection`, for ``environment``).
    environment, emulator_info:
        Which QuickBooks to use when the functions above are the defaults: ``local`` (the emulator,
        whose info file ``emulator_info`` names), ``sandbox`` or ``production``; None reads
        ``QBO_ENVIRONMENT`` / ``QBO_EMULATOR_INFO`` and the local config file, like the CLI.
    connect_timeout:
        Seconds to wait for the user to approve on the authorization page.
    poll_interval:
        Seconds between two progress-bar updates while a sync runs.
    open_browser:
        Also ask the browser to open the authorization page in a new tab (the link is always shown).
    """

    def __init__(self, *, settings_path: str | Path | None = None, work_url: str | None = None,
                 connect: Callable[[], ConnectAttempt] | None = None,
                 connection: Callable[[], Connection] | None = None,
                 disconnect: Callable[[], DisconnectResult] | None = None,
                 environment: str | None = None, emulator_info: str | Path | None = None,
                 connect_timeout: float = 300.0, poll_interval: float = 0.1, open_browser: bool = True) -> None:
        self.ctx = AppContext.create(settings_path=settings_path, work_url=work_url, connect=connect,
                                     connection=connection, disconnect=disconnect, environment=environment,
                                     emulator_info=emulator_info)
        self.messages = Messages()
        self.guard = Guard(self.messages, on_reconnect=self._reconnect)
        self.worker = Background(self.guard, name="qbo-app")

        self.connect = ConnectController(self.ctx, self.guard, timeout=connect_timeout, on_connected=self._connected)
        self.connect_screen = ConnectScreen(self.connect, self.guard, open_browser=open_browser)
        self.settings = SettingsController(self.ctx, on_enabled=self._enabled)
        self.settings_screen = SettingsScreen(self.settings, self.guard, on_cancel=self.cancel_settings)
        self.matches = MatchController(self.ctx)
        self.match_panel = MatchPanel(self.matches, self.guard, on_continue=self.continue_to_sync)
        self.status = StatusController(self.ctx, self.guard, poll_interval=poll_interval)
        self.status.on_disconnected = self._disconnected
        self.status_screen = StatusScreen(self.status, self.guard, MatchController(self.ctx),
                                          on_edit_settings=self.show_settings)

        self.badge = css(widgets.HTML(), "qbo-connection")
        self.body = css(widgets.VBox(), "qbo-body")
        self.widget = css(widgets.VBox([self.badge, self.messages.widget, self.body],
                                       layout=widgets.Layout(max_width="1100px")), "qbo-app")
        self.screen = ""
        self.guard(self.start)

    # -- display ---------------------------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # -- moving between screens ------------------------------------------------------------------------------
    def start(self) -> None:
        """Open on the screen that fits what is stored (the connect screen when that cannot be read)."""
        try:
            connected = self.ctx.connected() is not None
        except Exception:
            self.show_connect()
            raise
        if not connected:
            self.show_connect()
        elif self.ctx.enabled_settings() is not None:
            self.show_status()
        else:
            self.show_settings()

    def _show(self, name: str, screen: widgets.Widget) -> None:
        self.screen = name
        self._badge()
        self.body.children = (screen,)

    def _badge(self) -> None:
        conn = self.ctx.conn
        if conn is None:
            self.badge.value = "<div style='color:#555'>Not connected to QuickBooks.</div>"
            return
        kind = {"sandbox": "; a sandbox company", "local": "; a practice company on this computer"}
        self.badge.value = (f"<div style='color:#1b5e20'>Connected to QuickBooks company "
                            f"<b>{html.escape(conn.company_name)}</b> (company ID {html.escape(conn.realm_id)}"
                            f"{html.escape(kind.get(conn.environment, ''))})</div>")

    def show_connect(self) -> None:
        self.connect_screen.refresh()
        self._show("connect", self.connect_screen.widget)

    def show_settings(self) -> None:
        self._show("settings", self.settings_screen.widget)
        self.guard(self.settings_screen.load, clear=False)
        # changing settings already enabled can be cancelled; the first choice cannot (nowhere to go back to)
        self.settings_screen.show_cancel(self.ctx.enabled_settings() is not None)

    def cancel_settings(self) -> None:
        """Leave Change settings without saving: the status screen as it was."""
        self.messages.clear()
        self.show_status()

    def show_matches(self) -> None:
        self._show("matches", self.match_panel.widget)

    def show_status(self, *, start_sync: bool = False) -> None:
        self._show("status", self.status_screen.widget)
        self.guard(self.status_screen.refresh, clear=False)
        if start_sync:
            self.guard(self.status_screen.start, clear=False)

    def continue_to_sync(self) -> None:
        """After the match preview: the status screen, with the initial sync running."""
        self.messages.info("The integration is enabled and the sync is running; the Activity Log shows how far "
                           "it got.", tag=SYNC_RUNNING)
        self.show_status(start_sync=True)

    # -- what the controllers report ---------------------------------------------------------------------------
    def _connected(self, conn: Connection) -> None:
        self.messages.info(f"Connected to {conn.company_name}.")
        if self.ctx.enabled_settings() is not None:
            self.show_status()
        else:
            self.show_settings()

    def _enabled(self, _settings: Settings) -> None:
        """Look for clients that may already be customers (a query of every customer: off the main thread)."""
        self.messages.info("The integration is enabled. Looking for QuickBooks customers that are already WORK "
                           "clients…")
        self.worker.start(self.matches.find, on_done=lambda _rows: self._matched())

    def _matched(self) -> None:
        if self.matches.pending:
            self.messages.info("The integration is enabled. Some WORK clients may already be QuickBooks customers: "
                               "decide below, then continue to the first sync.")
            self.show_matches()
        else:
            self.continue_to_sync()

    def _disconnected(self, result: DisconnectResult) -> None:
        told = "" if result.revoked else " QuickBooks could not be told, but the tokens are forgotten here."
        self.show_connect()
        self.messages.info(f"Disconnected: the sync has stopped.{told} The activity log and the settings are kept; "
                           "connect to the same company again to resume.")

    def _reconnect(self) -> None:
        self.ctx.conn = None
        self.show_connect()

    # -- tests and headless use ------------------------------------------------------------------------------
    def wait(self, timeout: float | None = 30.0) -> bool:
        """Wait for background work (the authorization wait, a sync) to end; True when it did."""
        return self.connect.wait(timeout) and self.worker.join(timeout) and self.status.wait(timeout)

    def close(self) -> None:
        """Stop waiting for an authorization and close the widgets."""
        self.connect.cancel()
        from .common import close_tree

        for screen in (self.connect_screen.widget, self.settings_screen.widget, self.match_panel.widget,
                       self.status_screen.widget, self.widget):
            close_tree(screen)
        self.ctx.close()


def show_app(**kwargs: Any) -> App:
    """Build the app (see :class:`App` for the arguments) and display it; returns the app."""
    from IPython.display import display

    app = App(**kwargs)
    display(app.widget)
    return app
