"""One exit-code contract for every command and job, and the one place errors become sentences.

====  ============  =====================================================================================
code  status        meaning
====  ============  =====================================================================================
0     ok            all good: everything was done, nothing is pending, the systems agree
1     findings      the run worked and found something a person must look at: records failed or were
                    refused, differences above the thresholds, id-map problems left (doctor)
2     error         a usage or input error: a bad parameter, settings or CSV file, a wrong option.
                    Nothing was written. Fix what the sentence names and run again
3     error         the environment failed: QuickBooks refused the connection or needs a reconnect,
                    the WORK store is corrupt or unreadable, the disk is full, a file cannot be written
70    error         an internal error (a bug): the sentence gives the log file with the traceback
75    busy          try again later: another sync of the company is running, the WORK store stayed
                    locked, QuickBooks kept throttling or did not answer. Nothing was lost
130   interrupted   stopped by SIGINT (Ctrl-C); 143 by SIGTERM. Re-running continues where it stopped
====  ============  =====================================================================================

Every non-zero exit prints one sentence that says what to do; a traceback, when there is one, goes
to a log file under ``<toolkit home>/logs`` whose path the sentence gives (never to the terminal;
``QBO_TOOLKIT_DEBUG=1`` re-raises instead). ``summary.json`` carries the same ``status`` and
``exit_code``.
"""

from __future__ import annotations

import errno
import os
import traceback
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from .errors import (
    AuthError,
    ConfigError,
    QboAuthError,
    QboError,
    QboServerError,
    QboThrottled,
    QboToolkitError,
    QboTransportError,
    SyncBusy,
    SyncInterrupted,
    WorkDataError,
    WorkStoreBusy,
)

__all__ = ["EXIT_ENVIRONMENT", "EXIT_ERROR", "EXIT_FINDINGS", "EXIT_INTERNAL", "EXIT_OK", "EXIT_SIGINT",
           "EXIT_SIGTERM", "EXIT_TRY_LATER", "Failure", "classify", "status_of"]

EXIT_OK: Final = 0
EXIT_FINDINGS: Final = 1
EXIT_ERROR: Final = 2  # usage or input
EXIT_ENVIRONMENT: Final = 3
EXIT_INTERNAL: Final = 70  # sysexits' EX_SOFTWARE
EXIT_TRY_LATER: Final = 75  # sysexits' EX_TEMPFAIL
EXIT_SIGINT: Final = 130
EXIT_SIGTERM: Final = 143


def status_of(code: int) -> str:
    """The ``status`` word summary.json and run records use for an exit code."""
    if code == EXIT_OK:
        return "ok"
    if code == EXIT_FINDINGS:
        return "findings"
    if code == EXIT_TRY_LATER:
        return "busy"
    if code >= 128:
        return "interrupted"
    return "error"


@dataclass(frozen=True)
class Failure:
    """What an exception means for the user: an exit code and a sentence (and a log file, if any)."""

    code: int
    message: str
    log: Path | None = None

    @property
    def status(self) -> str:
        return status_of(self.code)


def _log_traceback(exc: BaseException, command: str) -> Path | None:
    """The traceback written to ``<toolkit home>/logs/<command>-<stamp>.log`` (0600); None if impossible."""
    from .files import private_dir, write_private_text
    from .paths import toolkit_home

    try:
        folder = private_dir(toolkit_home() / "logs")
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        path = folder / f"{command.replace(' ', '-') or 'qbo-toolkit'}-{stamp}.log"
        text = "".join(traceback.format_exception(exc))
        from .errors import redact_secrets

        write_private_text(path, redact_secrets(text))
        return path
    except Exception:  # the log is a courtesy: never let it hide the failure itself
        return None


def _disk_full(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "database or disk is full" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _corrupt_store(exc: BaseException) -> bool:
    text = str(exc)
    return any(s in text for s in ("file is not a database", "database disk image is malformed",
                                   "unsupported file format"))


def classify(exc: BaseException, command: str = "qbo-toolkit") -> Failure:
    """The exit code and sentence for an exception that reached a command's boundary."""
    if isinstance(exc, KeyboardInterrupt):
        return Failure(EXIT_SIGINT, "interrupted; run it again to continue where it stopped")
    if isinstance(exc, SyncInterrupted):
        return Failure(128 + exc.signal if exc.signal else EXIT_TRY_LATER, str(exc))
    if isinstance(exc, SyncBusy | WorkStoreBusy):
        return Failure(EXIT_TRY_LATER, str(exc))
    if isinstance(exc, QboThrottled | QboServerError | QboTransportError):
        return Failure(EXIT_TRY_LATER, f"{exc}. QuickBooks did not answer well enough to go on: nothing was lost; "
                                       "run it again later")
    if isinstance(exc, AuthError | QboAuthError):
        return Failure(EXIT_ENVIRONMENT, str(exc))
    if isinstance(exc, ConfigError | WorkDataError):
        return Failure(EXIT_ERROR, str(exc))
    if isinstance(exc, QboError | QboToolkitError):
        return Failure(EXIT_ENVIRONMENT, str(exc))
    if _disk_full(exc):
        log = _log_traceback(exc, command)
        return Failure(EXIT_ENVIRONMENT, "the disk is full (no space left to write); free some space and run it "
                                         "again" + (f" (details: {log})" if log else ""), log)
    if _corrupt_store(exc):
        log = _log_traceback(exc, command)
        return Failure(EXIT_ENVIRONMENT, "the WORK store is not a readable database (corrupt, or not a database "
                                         "file); restore it from a backup or point --work-db at the right file"
                       + (f" (details: {log})" if log else ""), log)
    if isinstance(exc, PermissionError):
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        return Failure(EXIT_ENVIRONMENT, f"permission denied on{where or ' a file'}; check who owns it and its mode")
    if isinstance(exc, IsADirectoryError | NotADirectoryError | FileNotFoundError | FileExistsError):
        name = getattr(exc, "filename", None) or ""
        what = {IsADirectoryError: "is a folder, not a file", NotADirectoryError: "is a file, not a folder",
                FileNotFoundError: "does not exist", FileExistsError: "already exists"}[type(exc)]
        return Failure(EXIT_ERROR, f"{name} {what}; check the path".strip())
    if isinstance(exc, OSError):
        log = _log_traceback(exc, command)
        return Failure(EXIT_ENVIRONMENT, f"{exc.strerror or type(exc).__name__}"
                                         f"{' on ' + str(exc.filename) if exc.filename else ''}; check the machine"
                       + (f" (details: {log})" if log else ""), log)
    log = _log_traceback(exc, command)
    where = f"the traceback is in {log}" if log else "set QBO_TOOLKIT_DEBUG=1 to see where it happened"
    return Failure(EXIT_INTERNAL, f"{command} stopped on an unexpected error ({type(exc).__name__}): {where}; "
                                  "please report it", log)


def debug() -> bool:
    """``QBO_TOOLKIT_DEBUG=1``: let unexpected errors raise with their traceback."""
    return os.environ.get("QBO_TOOLKIT_DEBUG", "") not in ("", "0")
