"""Every benchmark measure still runs, at tiny size (seconds). No timing goal is asserted here:
the figures of a smoke run mean nothing; only that each measure produces its row."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_every_measure_runs_at_smoke_size(bench_script: Callable[[str], ModuleType],
                                          monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("datacompy")
    bench = bench_script("run")
    monkeypatch.chdir(ROOT)
    results = ROOT / "benchmarks" / "RESULTS.md"
    before = results.read_text() if results.exists() else None
    bench.main(["--size", "smoke"])  # exit status reflects goals, which smoke sizes cannot meet
    out = capsys.readouterr().out
    for measure in ("1. initial sync", "2. same data vs naive", "3. no-op incremental sync", "4. reconcile",
                    "5. make demo"):
        assert measure in out, f"no row for {measure!r}"
    assert "DIFFERENT sets" not in out  # ours and datacompy agree even at tiny size
    assert (results.read_text() if results.exists() else None) == before  # smoke never writes RESULTS.md
