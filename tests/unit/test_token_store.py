"""The per-realm token store (qbo_toolkit.auth.tokens)."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import stat
import time
from dataclasses import replace
from pathlib import Path

import pytest

from qbo_toolkit.auth import tokens as tokens_module
from qbo_toolkit.auth.tokens import TokenSet, TokenStore, default_token_path
from qbo_toolkit.errors import ConfigError
from qbo_toolkit.paths import toolkit_home
from qbo_toolkit.types import RealmId

ACCESS = "eyJhbGciOiJkaXIiLCJlbmMiOiJBMTI4Q0JDLUhTMjU2In0..ACCESS-SECRET-123"
REFRESH = "AB11765432109RefreshSecretXyz"
REALM = RealmId("9130350000000001")


def make_tokens(realm: str = REALM, **changes: object) -> TokenSet:
    base = TokenSet(
        realm_id=RealmId(realm),
        environment="sandbox",
        access_token=ACCESS,
        refresh_token=REFRESH,
        access_expires_at=1_700_000_000.0,
        refresh_expires_at=1_708_726_400.0,
        company_name="Sandbox Company_US_1",
        client_id="ABclientid",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def store(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / "home" / "tokens.json")


def test_round_trip_realms_delete(store: TokenStore) -> None:
    assert store.load(REALM) is None
    assert store.realms() == []
    store.save(make_tokens())
    store.save(make_tokens("42", environment="production"))
    assert store.load(REALM) == make_tokens()
    assert store.realms() == ["42", REALM]
    assert store.delete("42") is True
    assert store.delete("42") is False
    assert store.realms() == [REALM]


def test_modes(tmp_path: Path) -> None:
    old_umask = os.umask(0)  # prove the modes are set explicitly, not left to the umask
    try:
        store = TokenStore(tmp_path / "new" / "deeper" / "tokens.json")
        store.save(make_tokens())
    finally:
        os.umask(old_umask)
    assert mode(store.path) == 0o600
    assert mode(store.lock_path) == 0o600
    assert mode(store.path.parent) == 0o700


def test_loose_existing_files_are_tightened(store: TokenStore) -> None:
    store.save(make_tokens())
    os.chmod(store.path, 0o644)
    os.chmod(store.lock_path, 0o640)
    store.save(make_tokens(company_name="Renamed"))
    assert mode(store.path) == 0o600
    assert mode(store.lock_path) == 0o600


def test_atomic_replace_leaves_no_temp_files(store: TokenStore) -> None:
    store.save(make_tokens())
    inode = store.path.stat().st_ino
    for i in range(5):
        store.save(make_tokens(access_token=f"AT{i}"))
    assert store.path.stat().st_ino != inode  # replaced, not rewritten in place
    assert sorted(os.listdir(store.path.parent)) == ["tokens.json", "tokens.json.lock"]


def test_failed_write_keeps_the_old_file(store: TokenStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.save(make_tokens())
    before = store.path.read_bytes()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(tokens_module.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        store.save(make_tokens(access_token="NEW"))
    monkeypatch.undo()
    assert store.path.read_bytes() == before
    assert sorted(os.listdir(store.path.parent)) == ["tokens.json", "tokens.json.lock"]


def test_callback_error_writes_nothing(store: TokenStore) -> None:
    store.save(make_tokens())
    before = store.path.read_bytes()

    def boom(current: TokenSet | None) -> TokenSet | None:
        raise RuntimeError("refresh failed")

    with pytest.raises(RuntimeError):
        store.update(REALM, boom)
    assert store.path.read_bytes() == before


def test_update_checks_the_realm(store: TokenStore) -> None:
    with pytest.raises(ValueError, match="realm"):
        store.update("1", lambda _current: make_tokens("2"))
    assert store.update("3", lambda current: None) is None
    assert not store.path.exists()


def test_masked_repr() -> None:
    tokens = make_tokens()
    for text in (repr(tokens), str(tokens), f"{tokens}", repr([tokens]), repr({"t": tokens})):
        assert "<hidden>" in text
        assert REALM in text
        for secret in (ACCESS, REFRESH):
            # not the token, not a prefix, not a suffix
            assert secret not in text
            assert secret[:6] not in text
            assert secret[-6:] not in text


def test_expiry_helpers() -> None:
    tokens = make_tokens(access_expires_at=1000.0, refresh_expires_at=5000.0)
    assert not tokens.access_expired(now=900.0)
    assert tokens.access_expired(now=950.0)  # within the 60 s skew
    assert tokens.refresh_expired(now=5000.0)
    assert not tokens.refresh_expired(now=4999.0)


def test_corrupt_file_names_the_path_not_the_content(store: TokenStore) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_text('{"version": 1, "realms": {"1": {"refresh_token": "' + REFRESH + '"', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        store.load("1")
    message = str(info.value)
    assert str(store.path) in message
    assert "corrupt" in message
    assert REFRESH not in message
    assert info.value.path == str(store.path)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    # Writers refuse to overwrite what they cannot read.
    with pytest.raises(ConfigError):
        store.save(make_tokens())


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xfe not utf-8",
        b"[]",
        b'{"version": 1}',
        b'{"version": 2, "realms": {}}',
        b'{"version": 1, "realms": {"1": "AB11765432109RefreshSecretXyz"}}',
        b'{"version": 1, "realms": {"1": {"realm_id": "1", "refresh_token": "AB11765432109RefreshSecretXyz"}}}',
        b'{"version": 1, "realms": {"1": {"realm_id": "2", "environment": "sandbox", "access_token": "a", '
        b'"refresh_token": "AB11765432109RefreshSecretXyz", "access_expires_at": 1, "refresh_expires_at": 2}}}',
        b'{"version": 1, "realms": {"1": {"realm_id": "1", "environment": "sandbox", "access_token": "a", '
        b'"refresh_token": "AB11765432109RefreshSecretXyz", "access_expires_at": "soon", "refresh_expires_at": 2}}}',
    ],
)
def test_malformed_files(store: TokenStore, content: bytes) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        store.realms()
    assert str(store.path) in str(info.value)
    assert REFRESH not in str(info.value)


def test_lock_timeout(store: TokenStore) -> None:
    store.save(make_tokens())
    holder = os.open(store.lock_path, os.O_RDWR)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        impatient = TokenStore(store.path, lock_timeout=0.2)
        started = time.monotonic()
        with pytest.raises(ConfigError, match="locked"):
            impatient.update(REALM, lambda current: current)
        assert time.monotonic() - started < 5
        # Readers are not blocked by a writer.
        assert impatient.load(REALM) == make_tokens()
    finally:
        os.close(holder)


def _increment_worker(path: str, realm: str, times: int) -> None:
    store = TokenStore(path)

    def bump(current: TokenSet | None) -> TokenSet:
        assert current is not None
        time.sleep(0.001)  # widen the read-modify-write window
        count = int(current.access_expires_at) + 1
        return replace(current, access_expires_at=float(count), access_token=f"AT-{count}")

    for _ in range(times):
        store.update(realm, bump)


def test_two_processes_never_lose_an_update(store: TokenStore) -> None:
    store.save(make_tokens(access_expires_at=0.0))
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_increment_worker, args=(str(store.path), REALM, 50)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [w.exitcode for w in workers] == [0, 0]
    final = store.load(REALM)
    assert final is not None
    assert final.access_expires_at == 100.0
    assert final.access_token == "AT-100"
    assert sorted(os.listdir(store.path.parent)) == ["tokens.json", "tokens.json.lock"]


def test_toolkit_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QBO_TOOLKIT_HOME", str(tmp_path / "kit"))
    assert toolkit_home() == tmp_path / "kit"
    assert default_token_path() == tmp_path / "kit" / "tokens.json"
    assert TokenStore().path == tmp_path / "kit" / "tokens.json"
    monkeypatch.delenv("QBO_TOOLKIT_HOME")
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert toolkit_home() == tmp_path / "user" / ".config" / "qbo-toolkit"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert toolkit_home() == tmp_path / "xdg" / "qbo-toolkit"
    assert not (tmp_path / "xdg").exists()  # nothing created by looking
