"""The QuickBooks Online integration screens as ipywidgets: connect, settings, status.

``App`` is the whole thing as one widget; ``show_app(...)`` builds and displays it (the app notebook
calls it). Every screen is a controller (plain Python, driven by tests and headless jobs) plus a
thin widget layer whose callbacks are one line into the controller; see :mod:`.common` for the
rules they share. Nothing below ``qbo_toolkit.sync`` knows this package exists: the engine reports
progress through a Reporter, which the status screen reads.
"""

from .app import App, show_app

__all__ = ["App", "show_app"]
