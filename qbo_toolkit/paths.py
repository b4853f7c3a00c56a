"""Where the toolkit keeps its local state (token store, lock files).

``QBO_TOOLKIT_HOME`` wins when set (tests, papermill jobs and CI point it at a scratch folder);
otherwise ``$XDG_CONFIG_HOME/qbo-toolkit``, defaulting to ``~/.config/qbo-toolkit`` (the
platformdirs convention on Linux, used on every POSIX system here for one predictable place).
Nothing is created by these functions; writers create the folder with mode 0700.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

__all__ = ["APP_NAME", "HOME_ENV", "toolkit_home"]

APP_NAME: Final = "qbo-toolkit"
HOME_ENV: Final = "QBO_TOOLKIT_HOME"


def toolkit_home() -> Path:
    """The toolkit's home folder (absolute; may not exist yet)."""
    explicit = os.environ.get(HOME_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser().absolute()
    xdg = os.environ.get("XDG_CONFIG_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg and Path(xdg).expanduser().is_absolute() else Path.home() / ".config"
    return (base / APP_NAME).absolute()
