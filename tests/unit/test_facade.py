"""The public facade is small and pinned: adding or removing a name is a decision, made here."""

from __future__ import annotations

import subprocess
import sys

import qbo_toolkit

EXPECTED = {"__version__", "Settings", "connect", "disconnect", "errors", "preview", "reconcile",
            "run_sync", "start_connect"}


def test_exported_names_are_pinned() -> None:
    assert set(qbo_toolkit.__all__) == EXPECTED


def test_every_exported_name_resolves() -> None:
    for name in qbo_toolkit.__all__:
        assert getattr(qbo_toolkit, name) is not None


def test_importing_the_emulator_loads_no_client_module() -> None:
    # ('intuitlib' itself is a namespace package that intuit-oauth's .pth file creates at start-up)
    code = ("import sys, qbo_toolkit.emulator; "
            "bad = [m for m in sys.modules if m.startswith(('qbo_toolkit.auth', 'qbo_toolkit.qbo', "
            "'qbo_toolkit.sync', 'qbo_toolkit.mapping', 'quickbooks', 'intuitlib.', 'requests_oauthlib'))]; "
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout
