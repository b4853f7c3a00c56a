"""Every subcommand of ``qbo-toolkit``: its arguments parse, its help shows, and its exit codes follow
the one contract (0 ok, 1 findings, 2 usage or input, 3 environment, 70 internal, 75 later)."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from qbo_toolkit.cli import COMMANDS, build_parser, main
from qbo_toolkit.errors import ConfigError, QboServerError, ReconnectNeeded, SyncBusy, WorkStoreBusy
from qbo_toolkit.exits import (
    EXIT_ENVIRONMENT,
    EXIT_ERROR,
    EXIT_FINDINGS,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_TRY_LATER,
    classify,
    status_of,
)

NAMES = [c.name for c in COMMANDS]


def test_the_table_holds_every_command() -> None:
    assert NAMES == ["emulator", "connect", "status", "disconnect", "settings", "demo-data", "import", "sync",
                     "doctor", "run", "reconcile", "signoff", "app"]


@pytest.mark.parametrize("name", NAMES)
def test_every_command_has_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main([name, "--help"])
    assert stop.value.code == 0
    assert "usage: qbo-toolkit " + name in capsys.readouterr().out


@pytest.mark.parametrize("name", NAMES)
def test_an_unknown_option_is_a_usage_error(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    positional = {"import": ["clients", "x.csv"], "run": ["sync"]}.get(name, [])
    with pytest.raises(SystemExit) as stop:
        main([name, *positional, "--no-such-option"])
    assert stop.value.code == EXIT_ERROR
    err = capsys.readouterr().err
    assert "--no-such-option" in err and "--help" in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [[], ["nonsense"], ["import"], ["import", "clients"], ["import", "vendors", "x.csv"],
                                  ["run"], ["emulator", "restart"], ["connect", "--environment", "moon"],
                                  ["sync", "--wait", "soon"], ["app", "--port", "http"]])
def test_missing_or_wrong_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == EXIT_ERROR
    assert "Traceback" not in capsys.readouterr().err


def test_the_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    for words in ("0 ok", "1 findings", "2 usage", "3 environment", "70 internal", "75 try again later", "130/143"):
        assert words in out


def test_status_without_a_connection_is_an_environment_failure(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status"]) == EXIT_ENVIRONMENT
    err = capsys.readouterr().err
    assert err.startswith("qbo-toolkit status: ") and "connect" in err.lower() and "Traceback" not in err


def test_import_into_a_corrupt_work_file_is_not_a_success(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "work.sqlite3"
    store.write_bytes(b"this is not a database, just text " * 200)
    csv = tmp_path / "clients.csv"
    csv.write_text("display_name\nAlpha Plumbing\n")
    code = main(["import", "clients", str(csv), "--store", f"sqlite:///{store}"])
    err = capsys.readouterr().err
    assert code == EXIT_ENVIRONMENT, err
    assert "WORK store" in err and "Traceback" not in err
    assert store.read_bytes().startswith(b"this is not a database")


def test_settings_shows_the_one_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["settings"]) == EXIT_OK
    assert "the default settings" in capsys.readouterr().out
    from qbo_toolkit.settings import Settings, home_settings_path

    Settings(name_policy="fix").save(home_settings_path())
    assert main(["settings"]) == EXIT_OK
    out = capsys.readouterr().out
    assert str(home_settings_path()) in out and "name_policy: fix" in out
    assert oct(home_settings_path().stat().st_mode & 0o777) == "0o600"


def test_settings_save_needs_a_connection(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("invoices: true\n")
    assert main(["settings", "--save", str(path)]) == EXIT_ERROR  # invoices without their accounts
    assert "revenue_account" in capsys.readouterr().err


def test_demo_data_with_impossible_sizes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo-data", "--work-db", f"sqlite:///{tmp_path}/w.sqlite3", "--clients", "2"]) == EXIT_ERROR
    assert "clients" in capsys.readouterr().err


def test_an_unexpected_error_leaves_a_log_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    failure = classify(ZeroDivisionError("boom"), "qbo-toolkit sync")
    assert failure.code == EXIT_INTERNAL and failure.log is not None and failure.log.exists()
    assert str(failure.log) in failure.message
    assert "ZeroDivisionError" in failure.log.read_text()
    assert oct(failure.log.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("exc, code", [
    (ConfigError("bad"), EXIT_ERROR),
    (ReconnectNeeded("gone", realm_id="1", reason="x"), EXIT_ENVIRONMENT),
    (SyncBusy("busy", realm="1"), EXIT_TRY_LATER),
    (WorkStoreBusy("locked", store="w"), EXIT_TRY_LATER),
    (QboServerError(code="10000", message="down"), EXIT_TRY_LATER),
    (OSError(errno.ENOSPC, "No space left on device"), EXIT_ENVIRONMENT),
    (sqlite3.DatabaseError("file is not a database"), EXIT_ENVIRONMENT),
    (IsADirectoryError(errno.EISDIR, "Is a directory", "/tmp"), EXIT_ERROR),
    (KeyboardInterrupt(), 130),
])
def test_errors_map_to_the_contract(exc: BaseException, code: int) -> None:
    failure = classify(exc)
    assert failure.code == code
    assert failure.message and "Traceback" not in failure.message
    assert status_of(code) in ("error", "busy", "interrupted")


def test_disk_full_says_so() -> None:
    failure = classify(OSError(errno.ENOSPC, "No space left on device"))
    assert "disk is full" in failure.message


def test_exit_statuses() -> None:
    assert [status_of(c) for c in (EXIT_OK, EXIT_FINDINGS, EXIT_ERROR, 3, 70, 75, 130, 143)] == [
        "ok", "findings", "error", "error", "error", "busy", "interrupted", "interrupted"]


def test_the_installed_command_answers_from_any_directory(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "qbo-toolkit"
    env = {**os.environ, "QBO_TOOLKIT_HOME": str(tmp_path / "home")}
    done = subprocess.run([str(exe), "run", "synk", "--output-root", str(tmp_path / "out")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == EXIT_ERROR and "no notebook synk" in done.stderr and "Traceback" not in done.stderr


def test_import_counts_rows_not_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """"3 row(s) refused" was said of 2 rows: one row with two bad fields is one row."""
    csv = tmp_path / "clients.csv"
    csv.write_text("display_name,email,billing_state\nGood Co,,CA\nBad: Co,not-an-email,CA\n,x@,ZZ\n")
    code = main(["import", "clients", str(csv), "--store", f"sqlite:///{tmp_path}/w.sqlite3"])
    captured = capsys.readouterr()
    assert code == EXIT_FINDINGS
    refused_lines = {line.split(" line ")[1].split(":")[0] for line in captured.out.splitlines() if "refused:" in line}
    assert f"{len(refused_lines)} row(s) refused" in captured.err


@pytest.mark.parametrize("argv, code, words", [
    (["doctor"], EXIT_ENVIRONMENT, "connect first"),
    (["reconcile"], EXIT_ENVIRONMENT, "connect first"),
    (["sync", "--no-progress"], EXIT_ERROR, "no settings"),
    (["connect", "--headless"], EXIT_ERROR, "--auto-approve"),
    (["reconcile", "--tolerance", "abc"], EXIT_ERROR, "tolerance"),
    (["reconcile", "--as-of", "31/12/2026"], EXIT_ERROR, "YYYY-MM-DD"),
])
def test_commands_without_a_connection_or_with_bad_values(argv: list[str], code: int, words: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == code
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_disconnect_without_a_connection_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["disconnect"]) == EXIT_OK
    assert "not connected" in capsys.readouterr().out
