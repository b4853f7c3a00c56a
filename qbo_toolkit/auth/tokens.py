"""The token store: one entry per QBO company (realm) in one JSON file.

Intuit rotates refresh tokens, so the newest one must be stored atomically and under a lock on
every refresh; an open notebook and a papermill job may refresh at the same moment. Hence:

* :meth:`TokenStore.update` runs read-modify-write under an exclusive ``fcntl.flock`` on a
  separate ``<file>.lock`` (inter-process; also between threads, since each call opens its own
  file description). The refresh itself should run inside ``fn`` so it sees the newest token.
* Writes are atomic: a temp file in the same folder, ``fchmod 0600`` before any byte is written,
  write, flush, ``fsync``, ``os.replace``, then ``fsync`` of the folder. Readers never lock: they
  see either the old file or the new one.
* The store file and the lock file are mode 0600; a folder the store creates is mode 0700.
* Nothing here prints a token: :class:`TokenSet`'s repr and str are masked, and a corrupt file is
  reported by path only (:class:`~qbo_toolkit.errors.ConfigError`).

File format (``version`` 1)::

    {"version": 1, "realms": {"<realm_id>": {"realm_id": ..., "environment": ..., ...}}}

POSIX only (``fcntl``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Final

from qbo_toolkit.errors import ConfigError
from qbo_toolkit.paths import toolkit_home
from qbo_toolkit.types import RealmId

__all__ = ["FILE_MODE", "TOKENS_FILENAME", "TokenSet", "TokenStore", "default_token_path"]

TOKENS_FILENAME: Final = "tokens.json"
FORMAT_VERSION: Final = 1
FILE_MODE: Final = 0o600
DIR_MODE: Final = 0o700


def default_token_path() -> Path:
    """``<toolkit home>/tokens.json`` (see :func:`qbo_toolkit.paths.toolkit_home`)."""
    return toolkit_home() / TOKENS_FILENAME


@dataclass(frozen=True, slots=True, repr=False)
class TokenSet:
    """The credentials of one connected company. Expiry times are epoch seconds."""

    realm_id: RealmId
    environment: str
    access_token: str
    refresh_token: str
    access_expires_at: float
    refresh_expires_at: float
    company_name: str = ""
    client_id: str = ""

    def __repr__(self) -> str:
        # No token characters at all: not a prefix, not a length.
        return (
            f"TokenSet(realm_id={self.realm_id!r}, environment={self.environment!r}, "
            f"company_name={self.company_name!r}, client_id={self.client_id!r}, "
            f"access_token=<hidden>, refresh_token=<hidden>, "
            f"access_expires_at={self.access_expires_at!r}, refresh_expires_at={self.refresh_expires_at!r})"
        )

    __str__ = __repr__

    def access_expired(self, now: float | None = None, *, skew: float = 60.0) -> bool:
        """True when the access token is expired or expires within ``skew`` seconds."""
        return (time.time() if now is None else now) >= self.access_expires_at - skew

    def refresh_expired(self, now: float | None = None) -> bool:
        """True when the refresh token is past its (rolling) expiry: the user must reconnect."""
        return (time.time() if now is None else now) >= self.refresh_expires_at

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TokenSet:
        """Build from a stored entry; ValueError (naming the field, never its value) if malformed."""
        values: dict[str, Any] = {}
        for spec in fields(cls):
            if spec.name not in data:
                if spec.name in ("company_name", "client_id"):
                    continue
                raise ValueError(f"missing field {spec.name!r}")
            value = data[spec.name]
            if spec.name.endswith("_expires_at"):
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"field {spec.name!r} must be a number")
                value = float(value)
            elif not isinstance(value, str):
                raise ValueError(f"field {spec.name!r} must be a string")
            values[spec.name] = value
        values["realm_id"] = RealmId(values["realm_id"])
        return cls(**values)


class TokenStore:
    """Token sets by realm in one JSON file (default :func:`default_token_path`)."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, lock_timeout: float = 60.0) -> None:
        self.path = Path(path) if path is not None else default_token_path()
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.lock_timeout = lock_timeout

    def __repr__(self) -> str:
        return f"TokenStore({str(self.path)!r})"

    # ---- reading ---------------------------------------------------------------------------

    def _read(self) -> dict[str, TokenSet]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(
                f"cannot read the token store {self.path}: {exc.strerror}", path=str(self.path)
            ) from None
        fix = "delete it and connect again"
        try:
            document = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise ConfigError(
                f"the token store {self.path} is not UTF-8 text; {fix}", path=str(self.path)
            ) from None
        except json.JSONDecodeError as exc:
            # The decoder's message has a position only; its .doc (the content) is dropped here.
            raise ConfigError(
                f"the token store {self.path} is corrupt (invalid JSON at line {exc.lineno}, "
                f"column {exc.colno}); {fix}",
                path=str(self.path),
            ) from None
        if not isinstance(document, dict) or not isinstance(document.get("realms"), dict):
            raise ConfigError(
                f"the token store {self.path} has an unexpected layout (no 'realms' object); {fix}",
                path=str(self.path),
            )
        if document.get("version") != FORMAT_VERSION:
            raise ConfigError(
                f"the token store {self.path} has format version {document.get('version')!r}, "
                f"this toolkit reads version {FORMAT_VERSION}",
                path=str(self.path),
            )
        entries: dict[str, TokenSet] = {}
        for realm, entry in document["realms"].items():
            try:
                if not isinstance(entry, dict):
                    raise ValueError("entry is not an object")
                tokens = TokenSet.from_dict(entry)
                if tokens.realm_id != realm:
                    raise ValueError("realm_id differs from its key")
            except ValueError as exc:
                raise ConfigError(
                    f"the token store {self.path} has a bad entry for realm {realm!r}: {exc}; {fix}",
                    path=str(self.path),
                ) from None
            entries[realm] = tokens
        return entries

    def load(self, realm: str) -> TokenSet | None:
        """The stored tokens for ``realm``, or None. Reads without locking (writes are atomic)."""
        return self._read().get(realm)

    def realms(self) -> list[str]:
        """Realm ids with stored tokens, sorted."""
        return sorted(self._read())

    # ---- writing ---------------------------------------------------------------------------

    def save(self, tokens: TokenSet) -> None:
        """Store ``tokens`` for ``tokens.realm_id`` (replacing any earlier entry)."""
        self.update(tokens.realm_id, lambda _current: tokens)

    def delete(self, realm: str) -> bool:
        """Forget ``realm``'s tokens; True if there were any."""
        existed = False

        def drop(current: TokenSet | None) -> None:
            nonlocal existed
            existed = current is not None
            return None

        self.update(realm, drop)
        return existed

    def update(self, realm: str, fn: Callable[[TokenSet | None], TokenSet | None]) -> TokenSet | None:
        """Read-modify-write one realm's entry under the exclusive inter-process lock.

        ``fn`` gets the current entry (None if absent) as stored right now and returns the new
        entry, or None to delete it. Returns what ``fn`` returned. If ``fn`` raises, nothing is
        written. The lock is held while ``fn`` runs, so a token refresh inside ``fn`` is never
        interleaved with another process's refresh.
        """
        with self._locked():
            entries = self._read()
            current = entries.get(realm)
            new = fn(current)
            if new is None:
                if current is None:
                    return None
                del entries[realm]
            else:
                if not isinstance(new, TokenSet):
                    raise TypeError(f"update() callback must return a TokenSet or None, not {type(new)}")
                if new.realm_id != realm:
                    raise ValueError(f"update({realm!r}) callback returned tokens for realm {new.realm_id!r}")
                entries[realm] = new
            self._write(entries)
            return new

    def _ensure_dir(self) -> None:
        folder = self.path.parent
        if not folder.is_dir():
            folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            os.chmod(folder, DIR_MODE)  # mkdir's mode is filtered by the umask

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._ensure_dir()
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)
            deadline = time.monotonic() + self.lock_timeout
            delay = 0.001
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise ConfigError(
                            f"the token store {self.path} stayed locked for {self.lock_timeout:g} s "
                            f"(another notebook or job is refreshing); try again",
                            path=str(self.path),
                        ) from None
                    time.sleep(delay)
                    delay = min(delay * 2, 0.05)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _write(self, entries: Mapping[str, TokenSet]) -> None:
        document = {
            "version": FORMAT_VERSION,
            "realms": {realm: tokens.to_dict() for realm, tokens in sorted(entries.items())},
        }
        payload = json.dumps(document, indent=2, sort_keys=True).encode("utf-8")
        folder = self.path.parent
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), FILE_MODE)  # before any byte is written
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise
        _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable. Some file systems refuse fsync on a directory: that is not fatal."""
    try:
        dir_fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
