"""The connect screen: "Connect to QuickBooks", the authorization page in a new tab, the way back.

The seed's flow: click Connect to QuickBooks, approve on QuickBooks' page, and "the window will
close and you will be brought to the QuickBooks Settings Page". Here:

1. :meth:`ConnectController.start` begins an authorization (:func:`qbo_toolkit.connection.start_connect`),
   which also starts the loopback listener on the redirect URI.
2. The screen shows, at once, a link to the authorization page styled as a green button
   (``<a target="_blank" rel="noopener">``) with a sentence saying what to do, and asks the browser
   to open the page in a new tab. A notebook cannot open a tab without the user's click (popup
   blockers stop a ``window.open`` that does not follow one at once, and the click went to the
   kernel first), so the button-like link is the dependable path and the script a convenience.
3. A background thread waits for the redirect (``attempt.wait``); the kernel stays free. When it
   arrives, the controller calls ``on_connected`` and the app moves to the settings screen itself.
4. Where no listener runs, or the browser runs on another machine than the kernel (Voila on a
   server: QuickBooks sends the browser to 127.0.0.1 *of the browser's machine*, which shows an
   error page), the user pastes the address the browser landed on; :meth:`ConnectController.complete`
   finishes with it.

Failures (cancelled on the page, a foreign ``state``, nobody approving in time, a different company)
end as one sentence with the way forward, through :func:`~qbo_toolkit.ui.common.friendly`.
"""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Callable

import ipywidgets as widgets

from ..connection import ConnectAttempt, Connection
from ..errors import QboToolkitError
from .common import AppContext, Background, Guard, button, css, set_visible

__all__ = ["LINK_BUTTON_STYLE", "ConnectController", "ConnectScreen"]

#: How the authorization link looks: a button, so nobody takes it for text.
LINK_BUTTON_STYLE = ("display:inline-block;padding:10px 18px;background:#2ca01c;color:#ffffff;border-radius:4px;"
                     "font-weight:bold;font-size:110%;text-decoration:none;cursor:pointer;"
                     "box-shadow:0 1px 3px rgba(0,0,0,.3)")


class ConnectController:
    """Connecting, without widgets: start, wait in the background, finish with a pasted address, cancel.

    Only the newest attempt counts: a cancelled or superseded attempt's listener may still end (with
    a timeout) on its thread, and that ending is ignored instead of overwriting a newer outcome."""

    def __init__(self, ctx: AppContext, guard: Guard, *, timeout: float = 300.0,
                 on_connected: Callable[[Connection], None] | None = None) -> None:
        self.ctx = ctx
        self.guard = guard
        self.timeout = timeout
        self.on_connected = on_connected
        self.on_change: Callable[[], None] | None = None  # the screen redraws (waiting or not)
        self.attempt: ConnectAttempt | None = None
        self._unheard: list[ConnectAttempt] = []  # attempts finished by a paste: their waits end unheard
        self.worker = Background(guard, name="qbo-connect-wait")
        self._lock = threading.Lock()

    @property
    def waiting(self) -> bool:
        return self.attempt is not None

    def start(self) -> ConnectAttempt:
        """Begin a new authorization (cancelling any earlier one) and wait for it in the background."""
        self.cancel()
        self.worker.join(timeout=5)  # a cancelled attempt's waiter ends as soon as its listener closed
        attempt = self.ctx.start_connect()
        with self._lock:
            self.attempt = attempt
        if attempt.listening:
            self.worker.start(lambda: self._wait(attempt), on_done=self._done)
        self._changed()
        return attempt

    def _wait(self, attempt: ConnectAttempt) -> Connection | None:
        try:
            conn = attempt.wait(self.timeout)
        except Exception:
            if any(a is attempt for a in self._unheard) or not self._claim(attempt):
                return None  # cancelled or superseded: nobody waits for this one any more
            raise
        return conn if self._claim(attempt) else None

    def _claim(self, attempt: ConnectAttempt) -> bool:
        """True (once) when ``attempt`` is still the current one; it is then no longer pending."""
        with self._lock:
            if self.attempt is not attempt:
                return False
            self.attempt = None
        self._changed()
        return True

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def complete(self, redirect_url: str) -> Connection:
        """Finish the current attempt with the address the browser landed on (the paste fallback)."""
        attempt = self.attempt
        if attempt is None:
            raise QboToolkitError("no connection attempt is waiting: click “Connect to QuickBooks” first")
        if not redirect_url.strip():
            raise QboToolkitError("paste the whole address of the page the browser landed on after you approved")
        with self._lock:
            self.attempt = None
            self._unheard = [*self._unheard[-4:], attempt]  # completing closes the listener: its wait ends unheard
        try:
            conn = attempt.complete(redirect_url)
        except Exception:
            with self._lock:
                if self.attempt is None:
                    self.attempt = attempt  # e.g. a wrong address: the genuine one can still be pasted
            raise
        self._changed()
        self._done(conn)
        return conn

    def _done(self, conn: Connection | None) -> None:
        if conn is None:
            return
        self.ctx.conn = conn
        if self.on_connected is not None:
            self.on_connected(conn)

    def cancel(self) -> None:
        """Stop waiting; the listener closes and the port is free again."""
        with self._lock:
            attempt, self.attempt = self.attempt, None
        if attempt is not None:
            attempt.cancel()
            self._changed()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the background wait ended (tests, headless use)."""
        return self.worker.join(timeout)


class ConnectScreen:
    """The widgets of the connect screen; every callback is one line into :class:`ConnectController`."""

    def __init__(self, controller: ConnectController, guard: Guard, *, open_browser: bool = True) -> None:
        self.controller = controller
        self.guard = guard
        self.open_browser = open_browser
        self.title = widgets.HTML("<h3>Connect to QuickBooks Online</h3>")
        self.intro = widgets.HTML(
            "<p>Connecting lets WORK import your QuickBooks customers, keep Clients in sync both ways, and send "
            "Invoices and Payments to QuickBooks. You will log in to QuickBooks and approve access on its "
            "authorization page, which opens in a new browser tab.</p>")
        self.connect_button = button("Connect to QuickBooks", "qbo-connect", button_style="success", icon="link")
        self.link = css(widgets.HTML(), "qbo-auth-link")
        self.status = css(widgets.HTML(), "qbo-connect-status")
        self.cancel_button = button("Stop waiting", "qbo-connect-cancel")
        self.paste = css(widgets.Text(description="Paste the address the browser landed on",
                                      placeholder="http://127.0.0.1:8765/callback?code=…",
                                      style={"description_width": "initial"},
                                      layout=widgets.Layout(width="100%")), "qbo-paste-url")
        self.paste_button = button("Finish connecting", "qbo-paste-submit")
        self.paste_help = widgets.HTML()
        self.paste_box = css(widgets.VBox([self.paste_help, self.paste, self.paste_button]), "qbo-paste-box")
        self.opener = css(widgets.Output(layout=widgets.Layout(height="0px")), "qbo-open-tab")

        self.connect_button.on_click(guard.callback(self._start))
        self.cancel_button.on_click(guard.callback(controller.cancel))
        controller.on_change = self.refresh
        self.paste_button.on_click(guard.callback(lambda: controller.complete(self.paste.value)))

        self.widget = css(widgets.VBox([self.title, self.intro, self.connect_button, self.link, self.status,
                                        self.cancel_button, self.paste_box, self.opener]), "qbo-screen-connect")
        self.refresh()

    def _start(self) -> None:
        """Start an attempt and show its page (the controller does the work; this only displays)."""
        self.paste.value = ""
        attempt = self.controller.start()
        self.show_attempt(attempt)

    def show_attempt(self, attempt: ConnectAttempt) -> None:
        url = html.escape(attempt.url, quote=True)
        # a link styled as a button, shown at once: browsers block a tab a script opens after a click
        # that went to the kernel first, so this is the click that dependably opens QuickBooks' page
        self.link.value = (
            "<div style='margin:8px 0'><p style='margin:0 0 6px 0'><b>Next: open QuickBooks' sign-in page.</b> "
            "Click the green button below. It opens in a new tab: sign in, choose your company and click "
            "Connect there, then come back to this tab.</p>"
            f'<a href="{url}" target="_blank" rel="noopener" class="qbo-auth-anchor" role="button" '
            f'style="{LINK_BUTTON_STYLE}">Open QuickBooks to approve ↗</a></div>')
        if self.open_browser:
            script = f"window.open({json.dumps(attempt.url)}, '_blank', 'noopener');"
            self.opener.outputs = ({"output_type": "display_data", "metadata": {},
                                    "data": {"application/javascript": script, "text/plain": ""}},)
        self.refresh()

    def refresh(self) -> None:
        """Match the widgets to the controller: waiting or not, listener or paste."""
        attempt = self.controller.attempt
        waiting = attempt is not None
        set_visible(self.link, waiting)
        set_visible(self.status, waiting)
        set_visible(self.cancel_button, waiting)
        set_visible(self.paste_box, waiting)
        if attempt is None:
            self.link.value = ""
            self.opener.outputs = ()
            return
        if attempt.listening:
            self.status.value = ("<p>Waiting for QuickBooks… This page moves on by itself once you approve.</p>")
            self.paste_help.value = ("<p style='color:#555'>If the browser shows an error page after you approve "
                                     "(it runs on another computer), copy that page's address here:</p>")
        else:
            self.status.value = ("<p>After you approve, the browser lands on a page that may show an error: that "
                                 "is expected. Copy its whole address from the address bar and paste it below.</p>")
            self.paste_help.value = ""
