"""Fixtures for driving the emulator with QBO clients nobody here wrote.

Each test starts its own emulator in this process (``start_emulator``, stopped at the end of the test)
and connects an app to it through Intuit's official OAuth client (intuit-oauth) over real HTTP, the way
an app connects to Intuit. The clients under test are then pointed at the emulator's base URL and used
unmodified: only their configuration (a base URL, a token URL) is changed, never their code, and no
request is intercepted or mocked. Setup writes the clients cannot make are plain ``requests`` calls
(``Company.post``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from thirdkit import Company, authorize

from qbo_toolkit.emulator import EmulatorConfig, EmulatorServer


@pytest.fixture(scope="session", autouse=True)
def _loopback_http() -> Iterator[None]:
    # oauthlib refuses plain http; every emulator in these tests listens on 127.0.0.1 only
    patch = pytest.MonkeyPatch()
    patch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    yield
    patch.undo()


@pytest.fixture
def start_emulator() -> Iterator[Callable[..., EmulatorServer]]:
    """A factory for emulators (auto-approving, no throttle) with config overrides; all stopped at the end."""
    started: list[EmulatorServer] = []

    def start(**overrides: Any) -> EmulatorServer:
        config = EmulatorConfig(auto_approve=True, throttle=False)
        for key, value in overrides.items():
            if key not in EmulatorConfig.__dataclass_fields__:
                pytest.fail(f"EmulatorConfig has no {key!r} yet (issue 13)")
            setattr(config, key, value)
        server = EmulatorServer(config).start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture
def company(start_emulator: Callable[..., EmulatorServer]) -> Company:
    """The default (US AST) company, connected through intuit-oauth."""
    return authorize(start_emulator())
