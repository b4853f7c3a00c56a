"""qbo-toolkit: connect a field-service WORK system to QuickBooks Online, keep them in sync, prove they agree.

The small public facade (everything else is imported from its submodule)::

    from qbo_toolkit import start_connect, connect, disconnect, Settings, run_sync, preview, reconcile, errors

(``qbo_toolkit.connection`` is the module with ``connection()``, the stored connection.)

Names are loaded on first use, so ``import qbo_toolkit`` (and the emulator, a subpackage that must
stay independent of the client side) does not pull in the whole client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "start_connect": "qbo_toolkit.connection",
    "connect": "qbo_toolkit.connection",
    "disconnect": "qbo_toolkit.connection",
    "Settings": "qbo_toolkit.settings",
    "run_sync": "qbo_toolkit.sync.api",
    "preview": "qbo_toolkit.sync.api",
    "reconcile": "qbo_toolkit.recon.api",
    "errors": "qbo_toolkit.errors",
}
_ALIASES = {"reconcile": "reconcile_live"}

__all__ = ["__version__", *sorted(_EXPORTS)]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from . import errors  # noqa: F401
    from .connection import connect, disconnect, start_connect  # noqa: F401
    from .recon.api import reconcile_live as reconcile  # noqa: F401
    from .settings import Settings  # noqa: F401
    from .sync.api import preview, run_sync  # noqa: F401


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'qbo_toolkit' has no attribute {name!r}")
    loaded = importlib.import_module(module)
    value = loaded if name == "errors" else getattr(loaded, _ALIASES.get(name, name))
    globals()[name] = value
    return value
