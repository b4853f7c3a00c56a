"""The CSV import benchmark (benchmarks/csv_bench.py) runs at a small size: both imports load every
row of the generated file and write the same clients; its rows fit run.py's table. No timing goal is
asserted: at 2,000 rows the figures mean nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType


def test_the_csv_benchmark_imports_streamed_and_eager_alike(
    bench_script: Callable[[str], ModuleType], tmp_path: Path
) -> None:
    bench, run = bench_script("csv_bench"), bench_script("run")
    result = bench.measure_csv(2000, tmp_path)
    assert result["ours"]["loaded"] == result["ours"]["count"] == 2000 and result["ours"]["errors"] == 0
    assert result["ours"]["peak_rss"] > 0 and result["file_bytes"] > 2000 * 40
    if "base" in result:  # the eager import comes from git history (absent in a shallow checkout)
        assert result["base"]["loaded"] == 2000 and result["same"] is True
    rows = bench.rows(result, run.Row)
    assert rows[0].measure.startswith("6. CSV import of 2,000 clients") and rows[0].ok is True
    assert "csv" in run.MEASURES
    assert not list(tmp_path.glob("*.sqlite3*")) and not (tmp_path / "clients-bench.csv").exists()
