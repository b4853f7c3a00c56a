"""Files the toolkit writes hold business data: folders 0700, files 0600, whatever the umask.

Every writer of reports, exports, settings, executed notebooks and the WORK store goes through
these (``private_dir`` before writing into a folder it made, ``write_private_*`` for the file):
``mkdir``'s mode is filtered by the umask, so the mode is set explicitly afterwards.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

__all__ = ["DIR_MODE", "FILE_MODE", "private_dir", "private_file", "write_private_bytes", "write_private_text"]

DIR_MODE: Final = 0o700
FILE_MODE: Final = 0o600


def private_dir(path: str | Path) -> Path:
    """``path`` as a folder, created (with missing parents) 0700; an existing folder made 0700 too."""
    path = Path(path)
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    for folder in (*missing, path):
        try:
            os.chmod(folder, DIR_MODE)
        except OSError:  # not ours to change (a shared parent): leave it
            pass
    return path


def private_file(path: str | Path) -> Path:
    """Make ``path`` (an existing file) 0600; returns it."""
    path = Path(path)
    os.chmod(path, FILE_MODE)
    return path


def write_private_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path``, the file 0600 before any byte is written."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), FILE_MODE)
        handle.write(data)
    return path


def write_private_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    return write_private_bytes(path, text.encode(encoding))
