"""An offline QuickBooks Online: OAuth 2.0 and the v3 data API over real HTTP on 127.0.0.1.

It is an independent oracle: nothing here imports the toolkit's client side (``auth``, ``qbo``,
``mapping``, ``sync``), so the client and the emulator cannot share a bug. See README.md beside this
file for the endpoints, the rules and the known gaps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import EmulatorConfig, EmulatorServer, serve

__all__ = ["EmulatorConfig", "EmulatorServer", "serve"]


def __getattr__(name: str) -> Any:
    # the server (HTTP, company rules, reports, OpenID keys) loads on first use: `qbo-toolkit --help`
    # and every other subcommand build the emulator's argument parser without paying for it
    if name in __all__:
        from . import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
