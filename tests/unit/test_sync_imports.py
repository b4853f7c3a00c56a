"""CSV imports recorded in the activity log (qbo_toolkit.sync.imports) and ``qbo-toolkit import``.

Dataset: CLIENTS, three rows (line 2 good, line 3 an empty name, line 4 a bad true/false); a file
with an unknown column; the bad-input corpus (benchmarks/corpus), whose refused rows are listed in
its own table. Realm "r1" is the bound company (binding.json in the test's toolkit home).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from qbo_toolkit.cli import main
from qbo_toolkit.connection import Binding
from qbo_toolkit.errors import WorkDataError
from qbo_toolkit.sync.imports import import_csv
from qbo_toolkit.sync.state import SyncState
from qbo_toolkit.work.store import WorkStore

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = "display_name,email,active\nHarbor Plumbing,ap@harbor.example,\n,x@example.com,\nMaybe Co,,perhaps\n"


@pytest.fixture
def store(tmp_path: Path) -> WorkStore:
    return WorkStore(f"sqlite:///{tmp_path / 'work.sqlite3'}")


def bind(realm: str = "r1") -> None:
    Binding(realm, "Larkspur Field Services", "local", time.time()).save()


def test_each_refused_row_is_an_entry_of_an_import_run(tmp_path: Path, store: WorkStore) -> None:
    path = tmp_path / "clients.csv"
    path.write_text(CLIENTS)
    bind()
    result = import_csv(store, "clients", path)
    assert (result.report.loaded, len(result.report.errors), result.realm) == (1, 2, "r1")
    state = SyncState(store, "r1")
    entries = state.activity(run_id=result.run_id)
    assert [(e.entity, e.direction, e.action, e.outcome, e.work_id, e.field) for e in entries] == [
        ("customer", "from_file", "import", "failed", None, "display_name"),
        ("customer", "from_file", "import", "failed", None, "active")]
    assert entries[0].message.startswith(f"{path} line 3: display_name: ")
    assert entries[1].message == f"{path} line 4: active: 'perhaps' is not true or false (true/false, yes/no, 1/0)"
    (run,) = state.runs(kinds=None)
    assert (run["kind"], run["status"], run["total"]) == ("import", "ok", 3)
    assert run["counts"] == {"ok": 1, "failed": 2, "customer.import.ok": 1, "customer.import.failed": 2}
    assert state.runs() == []  # not a sync run: the last sync, and reconciliation's "last sync", ignore it
    # the failures wait for attention until dismissed, one by one
    assert [e.id for e in state.open_failures()] == [e.id for e in entries]
    assert state.dismiss_entry(entries[0].id) == 1 and state.dismiss_entry(entries[0].id) == 0
    assert [e.id for e in state.open_failures()] == [entries[1].id]


def test_an_unusable_file_is_a_failed_import_run_and_raises(tmp_path: Path, store: WorkStore) -> None:
    path = tmp_path / "clients.csv"
    path.write_text("display_name,emial\nX,x@example.com\n")
    with pytest.raises(WorkDataError, match="emial"):
        import_csv(store, "clients", path, realm="r1")
    state = SyncState(store, "r1")
    (run,) = state.runs(kinds=None)
    assert run["status"] == "failed"
    (entry,) = state.activity(run_id=run["id"])
    assert entry.field == "emial" and entry.message.startswith(f"{path} line 1: emial: ")
    assert store.clients() == []


def test_before_any_company_is_connected_the_report_still_comes_back(tmp_path: Path, store: WorkStore) -> None:
    path = tmp_path / "clients.csv"
    path.write_text(CLIENTS)
    result = import_csv(store, "clients", path)
    assert result.run_id is None and result.realm is None and len(result.report.errors) == 2
    with pytest.raises(ValueError, match="clients, invoices, payments"):
        import_csv(store, "vendors", path)


def test_cli_import_exit_codes(tmp_path: Path, store: WorkStore, capsys: pytest.CaptureFixture[str]) -> None:
    bind()
    good = tmp_path / "good.csv"
    good.write_text("display_name\nAnn Lee\n")
    bad = tmp_path / "bad.csv"
    bad.write_text(CLIENTS)
    unusable = tmp_path / "unusable.csv"
    unusable.write_bytes(b"display_name\nCaf\xe9\n")
    url = str(store.engine.url)
    assert main(["import", "clients", str(good), "--store", url]) == 0
    assert "1 loaded, 0 error(s)" in capsys.readouterr().out
    assert main(["import", "clients", str(bad), "--store", url]) == 1
    out, err = capsys.readouterr()
    assert f"refused: {bad} line 3: display_name:" in out and f"refused: {bad} line 4: active:" in out
    assert "2 row(s) refused (listed in the activity log)" in err
    assert main(["import", "clients", str(unusable), "--work-db", url]) == 2
    assert "not UTF-8" in capsys.readouterr().err
    assert main(["import", "payments", str(tmp_path / "missing.csv"), "--store", url]) == 2
    assert sorted(c.display_name for c in store.clients()) == ["Ann Lee", "Harbor Plumbing"]
    kinds = [(r["kind"], r["status"]) for r in SyncState(store, "r1").runs(kinds=None)]
    assert kinds == [("import", "failed")] * 2 + [("import", "ok")] * 2


# ============================================================================================ the corpus


def test_the_corpus_files_are_the_corpus_tables(bench_script: Callable[[str], ModuleType]) -> None:
    corpus = bench_script("bad_input")
    for kind, (text, _) in corpus.render_corpus().items():
        path = corpus.CORPUS_DIR / corpus.FILES[kind][0]
        assert path.read_text(encoding="utf-8") == text, f"run: python benchmarks/bad_input.py --write ({path})"


def test_the_corpus_import_refuses_exactly_the_rows_it_expects(bench_script: Callable[[str], ModuleType],
                                                               store: WorkStore) -> None:
    corpus = bench_script("bad_input")
    refused: dict[tuple[str, int], str | None] = {}
    got: dict[tuple[str, int], set[str | None]] = {}
    for kind, (_, placed) in corpus.render_corpus().items():
        refused.update({(kind, line): row.expect.field for line, row in placed if row.expect.outcome == "refused"})
        report = import_csv(store, kind, corpus.CORPUS_DIR / corpus.FILES[kind][0], realm="r1").report
        for error in report.errors:
            got.setdefault((kind, error.line), set()).add(error.field)
    assert set(got) == set(refused)
    assert all(refused[key] in fields for key, fields in got.items())
    expected = [row.expect for _, (_, placed) in corpus.render_corpus().items() for _, row in placed]
    bad = {e.category for e in expected if e.bad}
    assert len([e for e in expected if e.bad]) >= 40 and len(bad) >= 30
    for words in ("colon", "120-character", "emoji", "vendor", "unknown state", "negative", "fractions of a cent",
                  "unsynced client", "inactive", "over the invoice total", "together over", "far in the past",
                  "far in the future", "malformed CSV", "unterminated quote", "duplicate names"):
        assert any(words in category for category in bad), words
