"""An offline QuickBooks Online: OAuth 2.0 and the v3 data API over real HTTP on 127.0.0.1.

It is an independent oracle: nothing here imports the toolkit's client side (``auth``, ``qbo``,
``mapping``, ``sync``), so the client and the emulator cannot share a bug. See README.md beside this
file for the endpoints, the rules and the known gaps.
"""

from .server import EmulatorConfig, EmulatorServer, serve

__all__ = ["EmulatorConfig", "EmulatorServer", "serve"]
