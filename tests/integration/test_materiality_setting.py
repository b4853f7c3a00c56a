"""Materiality as a setting, end to end: a real sync against the emulator, a difference planted in QBO
over raw HTTP, and the reconciliation run by ``qbo-toolkit reconcile``, the reconcile job and the
explorer with a settings file that holds ``materiality``.

The settings say: every category is material only past 1,000 rows (``"*": {count: 1000}``), except
renumbered invoices, each of which is (``invoices_number: {count: 0}``). So of the run's differences
(the demo's pending matches and the tie-out's findings included) exactly the planted renumbering needs
an explanation; the job's ``materiality`` parameter overrides the setting for its run and says so;
a new materiality in the settings keeps the runs' history scope (what needs an explanation changes,
not what differs); a typo'd category in the settings file stops the job before it sends anything.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from historykit import SETTINGS, Business

from qbo_toolkit.cli import main
from qbo_toolkit.errors import ConfigError
from qbo_toolkit.jobs.reconcile import reconcile_job
from qbo_toolkit.recon.history import History

AS_OF = "2026-06-30"
MATERIALITY = {"*": {"count": 1000}, "invoices_number": {"count": 0}}


def test_the_settings_materiality_is_used_and_the_jobs_parameter_overrides_it(
        history_business: Business, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    b = history_business
    url = f"sqlite:///{b.home / 'work.sqlite3'}"
    path = tmp_path / "settings.yaml"
    replace(SETTINGS, materiality=MATERIALITY).save(path)
    invoice, qbo_id = b.linked_invoices()[0]
    b.qbo.sparse_update("Invoice", qbo_id, DocNumber=f"{invoice.number}-M")
    renumbered = f"invoices_number|W{invoice.id}"

    # qbo-toolkit reconcile (no materiality of its own): the settings' materiality
    code = main(["reconcile", "--settings", str(path), "--work-db", url, "--as-of", AS_OF,
                 "--output-dir", str(tmp_path / "cli")])
    assert code == 1, capsys.readouterr()
    summary = json.loads((tmp_path / "cli" / "summary.json").read_text())
    used = summary["history"]["materiality"]
    assert used["from"] == "settings" and used["overrides_settings"] is False
    assert used["thresholds"] == {"*": {"count": 1000}, "invoices_number": {"count": 0}}
    history = History(b.store, b.realm)
    first = history.view(summary["history"]["run_id"])
    assert len(first.items) > 5  # other differences, material without the setting, are not now
    assert list(first.needs_explanation["key"]) == [renumbered]
    report = (tmp_path / "cli" / "report.html").read_text()
    assert "materiality from the settings: every other category more than 1000 of them; invoices_number more " \
           "than 0 of them" in report

    # the job's parameter overrides the setting for its run, and the run says so
    result = reconcile_job(settings=str(path), work_db=url, as_of=AS_OF, output_dir=str(tmp_path / "job"),
                           materiality={"*": {"count": 1000}})
    assert result.history.needs_explanation.empty
    assert result.history.materiality_from == "parameter" and result.history.materiality_overrides
    summary = json.loads((tmp_path / "job" / "summary.json").read_text())
    assert summary["history"]["materiality"]["overrides_settings"] is True
    assert "overriding the settings&#39; materiality" in (tmp_path / "job" / "report.html").read_text()
    # the parameter holds for that run only: the next run without it is back on the settings'
    again = reconcile_job(settings=str(path), work_db=url, as_of=AS_OF, output_dir=str(tmp_path / "again"))
    assert list(again.history.needs_explanation["key"]) == [renumbered]

    # the explorer uses the settings' materiality too
    from qbo_toolkit.ui.explorer import show_explorer

    explorer = show_explorer(settings=str(path), work_db=url, as_of=AS_OF, display=False)
    assert set(explorer.filter(status="needs_explanation")["history_key"]) == {renumbered}
    assert explorer.result.history.materiality_from == "settings"
    assert "materiality from the settings" in explorer.view.settings_used.value  # the screen says which

    # a new materiality in the settings keeps the history's scope: the runs before are its previous runs
    replace(SETTINGS, materiality={"*": {"amount": "0.00"}}).save(path)
    moved = reconcile_job(settings=str(path), work_db=url, as_of=AS_OF, output_dir=str(tmp_path / "moved")).history
    assert moved.previous_id == explorer.result.history.run_id and moved.scope == first.scope
    assert moved.counts["new"] == 0 and moved.counts["persisting"] == len(moved.items), moved.sentence
    assert "every other category above 0.00" in moved.materiality_text


def test_a_typo_in_the_settings_materiality_stops_the_job_before_anything_runs(
        history_business: Business, tmp_path: Path) -> None:
    b = history_business
    url = f"sqlite:///{b.home / 'work.sqlite3'}"
    data = SETTINGS.to_dict()
    data["materiality"] = {"invoice_number": {"count": 0}}
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(data))
    sent = len(b.emu.emulator.log)
    with pytest.raises(ConfigError, match=r"materiality names no difference category 'invoice_number': "
                                          r"did you mean invoices_number\?"):
        reconcile_job(settings=str(path), work_db=url, as_of=AS_OF, output_dir=str(tmp_path / "out"))
    assert len(b.emu.emulator.log) == sent  # not one request: nothing ran
    assert History(b.store, b.realm).runs().empty
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["status"] != "ok" and "did you mean invoices_number?" in summary["message"]
