"""The history benchmark (benchmarks/history_bench.py) runs at smoke size: ours (History.record and
view over synthesised runs) and the naive pandas baseline find the same new, persisting and resolved
differences with the same ages; its rows fit run.py's table. No timing goal is asserted here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType


def test_the_history_benchmark_agrees_with_its_baseline(bench_script: Callable[[str], ModuleType],
                                                        tmp_path: Path) -> None:
    bench, run = bench_script("history_bench"), bench_script("run")
    result = bench.measure_history("smoke", tmp_path)
    ours, base = result["ours"], result["base"]
    assert result["same"] is True
    assert ours["runs"] == 4 and ours["new"] > 0 and ours["persisting"] > 0 and ours["resolved"] > 0
    assert (ours["new"], ours["persisting"], ours["resolved"]) == (base["new"], base["persisting"], base["resolved"])
    assert ours["peak_rss"] > 0 and base["peak_rss"] > 0
    rows = bench.rows(result, run.Row)
    assert rows[0].measure.startswith("6. history: 4 monthly runs") and rows[2].ok is True
    assert "history" in run.MEASURES
