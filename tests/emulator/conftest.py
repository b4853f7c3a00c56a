"""Fixtures for the emulator's over-HTTP tests.

* ``shared`` / ``conn``: one emulator (rate limits off) and one connected app for the whole session.
  Tests that use it create their own, uniquely named records and never move its clock.
* ``fresh``: a new emulator and connection per test, for tests that need known state or a clock.
* ``start_emulator``: a factory for emulators with a particular configuration (limits, faults,
  data_dir); everything it starts is stopped at the end of the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from wirekit import Conn, connect

from qbo_toolkit.emulator import EmulatorConfig, EmulatorServer


@pytest.fixture(scope="session", autouse=True)
def _loopback_http() -> Iterator[None]:
    # requests-oauthlib refuses plain http; every emulator in these tests is on 127.0.0.1
    patch = pytest.MonkeyPatch()
    patch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    yield
    patch.undo()


def _config(**overrides: Any) -> EmulatorConfig:
    config = EmulatorConfig(auto_approve=True, throttle=False)
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


@pytest.fixture(scope="session")
def shared() -> Iterator[EmulatorServer]:
    server = EmulatorServer(_config()).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def conn(shared: EmulatorServer) -> Conn:
    return connect(shared)


@pytest.fixture
def start_emulator() -> Iterator[Callable[..., EmulatorServer]]:
    started: list[EmulatorServer] = []

    def start(**overrides: Any) -> EmulatorServer:
        server = EmulatorServer(_config(**overrides)).start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture
def fresh(start_emulator: Callable[..., EmulatorServer]) -> Conn:
    return connect(start_emulator())
