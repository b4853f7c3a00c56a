"""The jobs tell the truth: bad parameters and settings stop before any write, with a sentence and exit 2;
the one settings source is what jobs use; exit codes and summary.json say what happened.

The corpus below is what a person can get wrong in a parameters or settings file. Every entry goes
through the real command (``qbo-toolkit run`` and ``qbo-toolkit sync --params``) against a connected
emulator; the oracle is the emulator's request log (no write of any kind) and the WORK store's run
history (no run started).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from synckit import SETTINGS, World, is_read, open_world

from qbo_toolkit.cli import main
from qbo_toolkit.settings import home_settings_path

#: name -> (job, parameters file text or bytes, words the sentence must hold)
CORPUS: dict[str, tuple[str, str | bytes, tuple[str, ...]]] = {
    "typo dryrun": ("sync", "dryrun: true\n", ("dryrun", "did you mean dry_run?")),
    "dry_run 'no'": ("sync", "dry_run: 'no'\n", ("dry_run", "true or false")),
    "dry_run string false": ("sync", 'dry_run: "false"\n', ("dry_run", "true or false")),
    "dry_run 1": ("sync", "dry_run: 1\n", ("dry_run", "true or false")),
    "dry_run yes-ish": ("sync", "dry_run: maybe\n", ("dry_run",)),
    "yaml syntax": ("sync", "dry_run: [true\nwait: 3\n", ("line", "column")),
    "yaml tab indent": ("sync", "wait:\n\t- 1\n", ("line", "column")),
    "list not mapping": ("sync", "- dry_run\n- wait\n", ("mapping",)),
    "number not mapping": ("sync", "42\n", ("mapping",)),
    "settings number": ("sync", "settings: 42\n", ("settings", "path")),
    "settings missing": ("sync", "settings: no-such-settings.yaml\n", ("settings", "does not exist")),
    "settings inline typo": ("sync", "settings: {invoices: true, revenue_acount: '1'}\n", ("revenue_acount",)),
    "wait words": ("sync", "wait: soon\n", ("wait", "seconds")),
    "wait negative": ("sync", "wait: -5\n", ("wait", "seconds")),
    "output_dir escapes": ("sync", "output_dir: ../../x\n", ("output_dir", "--output-root")),
    "client secret": ("sync", "client_secret: abcdefgh12345678\n", ("client_secret", "credential")),
    "refresh token": ("sync", "refresh_token: AB11\n", ("refresh_token", "credential")),
    "db password": ("sync", "work_db: postgresql://acct:s3cr3t@localhost/work\n", ("work_db", "password")),
    "db url number": ("sync", "work_db: 42\n", ("work_db",)),
    "unknown key": ("sync", "as_of: today\n", ("as_of", "sync parameter")),
    "not utf-8": ("sync", "dry_run: false # caf\xe9\n".encode("latin-1"), ("UTF-8",)),
    "nul byte": ("sync", b"dry_run: false\x00\n", ("NUL",)),
    "tolerance words": ("reconcile", "tolerance: abc\n", ("tolerance", "amount")),
    "tolerance negative": ("reconcile", "tolerance: '-1'\n", ("tolerance", "0 or more")),
    "tolerance sub-cent": ("reconcile", "tolerance: '0.001'\n", ("tolerance", "cent")),
    "as_of impossible": ("reconcile", "as_of: 2026-13-45\n", ("as_of", "YYYY-MM-DD")),
    "as_of typo": ("reconcile", "as_of: last_moth_end\n", ("as_of", "last_month_end")),
    "thresholds number": ("reconcile", "thresholds: 3\n", ("thresholds",)),
    "thresholds words": ("reconcile", "thresholds: {total: many}\n", ("thresholds.total", "whole number")),
    "typo setings": ("reconcile", "setings: x.yaml\n", ("setings", "did you mean settings?")),
}

#: settings files named by a parameters file: the settings are checked as strictly
SETTINGS_CORPUS: dict[str, tuple[str, tuple[str, ...]]] = {
    "settings bool string": ("invoices: 'yes'\n", ("invoices", "true or false")),
    "settings unknown": ("revenue_acount: '1'\n", ("revenue_acount",)),
    "settings yaml": ("invoices: true\n  revenue_account: 1\n", ("line",)),
    "settings enum": ("name_policy: ignore\n", ("name_policy",)),
    "settings list": ("- invoices\n", ("mapping",)),
}


@pytest.fixture(scope="module")
def module_monkeypatch() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, module_monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    home = tmp_path_factory.mktemp("truth-home")
    module_monkeypatch.setenv("QBO_TOOLKIT_HOME", str(home))
    with open_world(tmp_path_factory.mktemp("truth"), module_monkeypatch,
                    demo={"clients": 20, "invoices": 12, "payments": 6}) as w:
        yield w


@pytest.fixture
def here(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("QBO_TOOLKIT_HOME", str(world.home))
    monkeypatch.setenv("QBO_EMULATOR_INFO", str(world.info_path))
    monkeypatch.setenv("QBO_WORK_DB", world.url)
    SETTINGS.save(home_settings_path())
    return world


def _writes(w: World, mark: int) -> list[str]:
    return [f"{e['method']} {e['path']}" for e in w.data_requests(mark) if not is_read(e)]


def _runs(w: World) -> int:
    return len(w.state.runs())


def _one_sentence(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert lines, "no sentence on stderr"
    return lines[-1]


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_bad_parameters_are_refused_before_anything_runs(name: str, here: World, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    job, text, words = CORPUS[name]
    params = tmp_path / f"{job}.bad.yaml"
    params.write_bytes(text if isinstance(text, bytes) else text.encode())
    mark, runs = here.log_mark(), _runs(here)

    code = main(["run", job, "--params", str(params), "--output-root", str(tmp_path / "out")])
    sentence = _one_sentence(capsys.readouterr().err)
    assert code == 2, (name, sentence)
    for word in words:
        assert word in sentence, (name, word, sentence)
    (folder,) = (tmp_path / "out").iterdir()
    summary = json.loads((folder / "summary.json").read_text())
    assert (summary["status"], summary["exit_code"]) == ("error", 2)
    assert not (folder / f"{job}.ipynb").exists(), "the notebook must not run"
    if job == "sync":  # the sync command reads parameters with the same loader
        code = main(["sync", "--params", str(params), "--no-progress"])
        again = _one_sentence(capsys.readouterr().err)
        if name != "output_dir escapes":
            assert code == 2, (name, again)
            assert all(word in again for word in words), (name, again)
        else:
            assert code == 2 and "output_dir" in again
    assert _writes(here, mark) == [] and _runs(here) == runs


@pytest.mark.parametrize("name", sorted(SETTINGS_CORPUS))
def test_bad_settings_files_are_refused_before_anything_runs(name: str, here: World, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    text, words = SETTINGS_CORPUS[name]
    (tmp_path / "bad-settings.yaml").write_text(text)
    params = tmp_path / "sync.bad.yaml"
    params.write_text("settings: bad-settings.yaml\n")
    mark, runs = here.log_mark(), _runs(here)
    for argv in (["run", "sync", "--params", str(params), "--output-root", str(tmp_path / "out")],
                 ["sync", "--params", str(params), "--no-progress"],
                 ["sync", "--settings", str(tmp_path / "bad-settings.yaml"), "--no-progress"],
                 ["reconcile", "--settings", str(tmp_path / "bad-settings.yaml")]):
        code = main(argv)
        sentence = _one_sentence(capsys.readouterr().err)
        assert code == 2, (name, argv[0], sentence)
        assert all(word in sentence for word in words), (name, argv[0], sentence)
    assert _writes(here, mark) == [] and _runs(here) == runs


@pytest.mark.parametrize("argv, words", [
    (["run", "sync", "-p", "dry_run"], ("NAME=VALUE",)),
    (["run", "reconcile", "-p", "tolerance=abc"], ("tolerance", "amount")),
    (["run", "sync", "-p", "dry_run=maybe"], ("dry_run", "true or false")),
    (["run", "sync", "-p", "work_db=postgresql://a:pw@h/db"], ("work_db", "password")),
    (["run", "no-such-job"], ("no notebook",)),
])
def test_bad_command_line_parameters(argv: list[str], words: tuple[str, ...], here: World, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    mark = here.log_mark()
    code = main([*argv, "--output-root", str(tmp_path / "out")])
    sentence = _one_sentence(capsys.readouterr().err)
    assert code == 2, sentence
    assert all(word in sentence for word in words), sentence
    assert "pw@" not in sentence
    assert _writes(here, mark) == []


def test_output_root_that_is_a_file(here: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "taken").write_text("")
    code = main(["run", "sync", "--output-root", str(tmp_path / "taken")])
    assert code == 2
    assert "is a file" in _one_sentence(capsys.readouterr().err)


def test_params_file_that_is_a_folder_or_missing(here: World, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    for path, words in ((tmp_path, "is a folder"), (tmp_path / "nope.yaml", "does not exist")):
        assert main(["run", "sync", "--params", str(path), "--output-root", str(tmp_path / "out")]) == 2
        assert words in _one_sentence(capsys.readouterr().err)
        assert main(["sync", "--params", str(path)]) == 2
        assert words in _one_sentence(capsys.readouterr().err)


def test_a_typo_never_writes_for_real(here: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`dryrun: true` once ran a real sync (+55 customers, +180 invoices, +91 payments)."""
    params = tmp_path / "sync.typo.yaml"
    params.write_text("dryrun: true\n")
    before = {e: len(here.qbo(e)) for e in ("Customer", "Invoice", "Payment")}
    assert main(["sync", "--params", str(params), "--no-progress"]) == 2
    assert {e: len(here.qbo(e)) for e in ("Customer", "Invoice", "Payment")} == before
    assert "did you mean dry_run?" in capsys.readouterr().err


def test_jobs_use_the_apps_settings_and_say_which(here: World, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """What Enable Integration saved is what the sync and reconcile use without a settings file."""
    code = main(["reconcile", "--output-dir", str(tmp_path / "rec")])
    assert code in (0, 1)
    summary = json.loads((tmp_path / "rec" / "summary.json").read_text())
    assert summary["settings"]["origin"] == "app"
    assert summary["settings"]["path"] == str(home_settings_path())
    import hashlib

    assert summary["settings"]["sha256"] == hashlib.sha256(home_settings_path().read_bytes()).hexdigest()
    assert summary["status"] == ("ok" if code == 0 else "findings") and summary["exit_code"] == code
    html = (tmp_path / "rec" / "report.html").read_text()
    assert str(home_settings_path()) in html
    # every file the job wrote is private
    for path in (tmp_path / "rec").rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


def test_no_settings_anywhere_refuses_a_sync(here: World, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    home_settings_path().unlink()
    mark = here.log_mark()
    assert main(["sync", "--no-progress"]) == 2
    sentence = _one_sentence(capsys.readouterr().err)
    assert "no settings" in sentence and "Enable" in sentence
    assert _writes(here, mark) == []


def test_a_sync_with_failures_is_not_a_success(here: World, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A record QBO refuses makes the sync exit 1 with "completed with N failure(s)", in summary.json too."""
    from dataclasses import replace

    here.store.add_client(display_name="Colon: Not Allowed")
    replace(SETTINGS, name_policy="report").save(home_settings_path())
    outcome_root = tmp_path / "out"
    code = main(["run", "sync", "--output-root", str(outcome_root)])
    err = capsys.readouterr().err
    assert code == 1, err
    (folder,) = outcome_root.iterdir()
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "findings" and summary["exit_code"] == 1
    assert "failure" in summary["message"] or "not yet in QuickBooks" in summary["message"]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in folder.rglob("*") if p.is_file())


def test_the_documented_cron_line_works_from_any_directory(here: World, tmp_path: Path) -> None:
    """docs/scheduling.md's month-end line, run as cron would: another directory, the installed command."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    exe = Path(sys.executable).parent / "qbo-toolkit"
    docs = (root / "docs" / "scheduling.md").read_text()
    assert "qbo-toolkit run reconcile" in docs and "qbo-toolkit run sync" in docs
    done = subprocess.run([str(exe), "run", "reconcile", "--params", str(root / "parameters/reconcile.month-end.yaml"),
                           "--output-root", str(tmp_path / "runs")], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600, env={**os.environ})
    assert done.returncode in (0, 1), done.stderr[-2000:]
    (folder,) = (tmp_path / "runs").iterdir()
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["exit_code"] == done.returncode
    import datetime as dt

    last = dt.date.today().replace(day=1) - dt.timedelta(days=1)
    assert summary["as_of"] == last.isoformat()
    assert (folder / "report.html").exists() and (folder / "reconcile.ipynb").exists()


def test_what_is_outstanding_names_clients_not_ids(here: World) -> None:
    """"its client 9" meant nothing to a person: the run's sentences name the WORK client."""
    from dataclasses import replace

    client = here.store.add_client(display_name="Zinnia: Garden Care")
    replace(SETTINGS, name_policy="report").save(home_settings_path())
    from qbo_toolkit.settings import resolve_settings
    from qbo_toolkit.sync.api import run_sync

    result = run_sync(resolve_settings(None), store=here.url)  # what the CLI prints and summary.json holds
    line = next(line for line in result.outstanding if line.startswith(f"customer {client.id}:"))
    assert f"client {client.id}" not in line and "client Zinnia: Garden Care" in line, line
