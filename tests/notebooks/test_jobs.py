"""Every job notebook runs through papermill with every parameters file that targets it.

A parameters file targets a notebook by its name: ``parameters/<notebook>.<job>.yaml``. The jobs
run against a real emulator and a small demo WORK store; the executed notebooks, their metadata
and the reports must hold no token or secret.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from qbo_toolkit.auth.tokens import TokenStore
from qbo_toolkit.connection import connect_headless
from qbo_toolkit.emulator import EmulatorConfig, EmulatorServer, serve
from qbo_toolkit.errors import ConfigError
from qbo_toolkit.exits import EXIT_ERROR
from qbo_toolkit.runner import run_notebook
from qbo_toolkit.settings import Settings, home_settings_path
from qbo_toolkit.work.demo import generate_demo
from qbo_toolkit.work.store import WorkStore

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
PARAMETERS = ROOT / "parameters"
JOBS = sorted((nb, params) for nb in ("sync", "reconcile") for params in PARAMETERS.glob(f"{nb}.*.yaml"))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmulatorServer, str, Path]]:
    import os

    home = tmp_path_factory.mktemp("jobs-home")
    saved = {k: os.environ.get(k) for k in ("QBO_TOOLKIT_HOME", "QBO_EMULATOR_INFO")}
    with serve(EmulatorConfig(auto_approve=True, time_scale=60)) as emu:
        info = home / "emulator.json"
        info.write_text(json.dumps(emu.info))
        os.environ["QBO_TOOLKIT_HOME"] = str(home)
        os.environ["QBO_EMULATOR_INFO"] = str(info)
        try:
            connect_headless()
            url = f"sqlite:///{home}/work.sqlite3"
            generate_demo(WorkStore(url), clients=40, invoices=80, payments=50)
            # what Enable Integration saves: the settings every job reads unless one names a file
            Settings.from_yaml(PARAMETERS / "settings.demo.yaml").save(home_settings_path())
            yield emu, url, home
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def test_there_are_jobs_for_both_notebooks() -> None:
    assert {nb for nb, _ in JOBS} == {"sync", "reconcile"}


@pytest.mark.slow
def test_every_notebook_runs_with_every_parameters_file(world: tuple[EmulatorServer, str, Path],
                                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    emu, url, home = world
    monkeypatch.setenv("QBO_TOOLKIT_HOME", str(home))  # the autouse isolation gave this test a fresh home
    monkeypatch.setenv("QBO_EMULATOR_INFO", str(home / "emulator.json"))
    outcomes = []
    for notebook, params in sorted(JOBS, key=lambda job: job[0] != "sync"):  # the syncs first
        outcome = run_notebook(NOTEBOOKS / f"{notebook}.ipynb", params, output_root=tmp_path / "out",
                               extra={"work_db": url})
        assert outcome.exit_code in (0, 1), (params.name, outcome.error, outcome.summary)
        assert outcome.folder is not None
        summary = json.loads((outcome.folder / "summary.json").read_text())
        assert summary["job"] == notebook
        assert summary["settings"]["path"] == str(home_settings_path())
        if notebook == "reconcile":
            assert (outcome.folder / "report.html").exists()
            assert (outcome.folder / "reconciliation.xlsx").exists()
        outcomes.append(outcome)
    tokens = TokenStore().load(emu.info["realm_id"])
    assert tokens is not None
    secrets = [tokens.access_token, tokens.refresh_token, emu.info["client_secret"]]
    for outcome in outcomes:
        for path in outcome.folder.rglob("*"):
            if path.is_file() and path.suffix in (".ipynb", ".json", ".html", ".csv"):
                text = path.read_text(encoding="utf-8", errors="replace")
                assert not any(secret in text for secret in secrets), path


def test_parameter_names_are_checked_before_running(tmp_path: Path) -> None:
    bad = tmp_path / "reconcile.typo.yaml"
    bad.write_text("setings: parameters/settings.demo.yaml\n")
    outcome = run_notebook(NOTEBOOKS / "reconcile.ipynb", bad, output_root=tmp_path / "out")
    assert outcome.exit_code == EXIT_ERROR and "did you mean settings?" in (outcome.error or "")
    assert outcome.notebook is None and outcome.summary["status"] == "error"


def test_secrets_in_parameters_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "sync.secret.yaml"
    bad.write_text("client_secret: abcdefgh12345678\n")
    outcome = run_notebook(NOTEBOOKS / "sync.ipynb", bad, output_root=tmp_path / "out")
    assert outcome.exit_code == EXIT_ERROR and "credentials" in (outcome.error or "")


def test_job_parameters_match_the_notebooks() -> None:
    """The strict checker's table and the notebooks' parameters cells declare the same names."""
    import papermill

    from qbo_toolkit.jobs.params import JOBS

    for job, specs in JOBS.items():
        assert set(papermill.inspect_notebook(str(NOTEBOOKS / f"{job}.ipynb"))) == {p.name for p in specs}, job


def test_jobs_are_found_by_name_from_any_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qbo_toolkit.runner import find_notebook

    monkeypatch.chdir(tmp_path)
    for job in ("sync", "reconcile"):
        assert find_notebook(job).read_bytes() == (NOTEBOOKS / f"{job}.ipynb").read_bytes()
    with pytest.raises(ConfigError, match="no notebook"):
        find_notebook("synk")
