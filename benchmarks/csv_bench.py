# ruff: noqa: S108, S603, S607 - a benchmark: runs the project's own code and git in child processes
"""The clients CSV import at 1,000,000 rows: peak memory and wall time, streamed against eager.

    .venv/bin/python benchmarks/csv_bench.py --rows 1000000      # prints the figures as JSON
    .venv/bin/python benchmarks/run.py --size full --only csv    # the row in the benchmark table

One clients file is generated (every column a client has that people fill in: name, company, email,
phone, a billing address, active), then imported into an empty SQLite WORK store twice, each time in
its own child process so each peak RSS (VmHWM) is the import's own:

* **ours**: :func:`qbo_toolkit.work.csv_import.import_clients` as it is now (streamed);
* **baseline**: the eager implementation of commit ``EAGER_COMMIT`` (the last one before the import
  streamed: read the whole file, check every row, then load), taken from git with ``git show`` and
  loaded as a module beside the current store. ``--no-baseline`` skips it (it needs about 3 GB).

Both must load every row; the stores are compared by count and by a checksum of the clients'
columns, so the two implementations are shown to write the same thing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peak import PEAK_RSS

ROOT = Path(__file__).resolve().parent.parent
#: csv_import.py as it was before streaming (issue 13's last change to it).
EAGER_COMMIT = "841fcb7d847dd783ef076dff597555d607005ded"

#: rows of the clients file per benchmark size (run.py --size)
SIZES = {"full": {"rows": 1_000_000}, "smoke": {"rows": 3000}}
_CITIES = ("Springfield", "Bayshore", "Walnut Creek", "Concord", "Fresno", "Middlefield", "Sunnyvale")


def generate(path: Path, rows: int, *, parents: bool = False) -> int:
    """Write a clients CSV of ``rows`` distinct clients; return its size in bytes.

    ``parents``: one row in ten is a site whose parent is a client of the file, half of them a row
    further down (the import then reads the file four times: names, checks, writes, the children).
    """
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write("display_name,company_name,email,phone,billing_line1,billing_city,billing_state,"
                  "billing_postal_code,active" + (",parent_display_name\n" if parents else "\n"))
        chunk: list[str] = []
        for n in range(rows):
            parent = ""
            if parents and n % 10 == 5:
                parent = f",Client {n - 5 if n % 20 == 5 else min(n + 3, rows - 1):07d}"
            elif parents:
                parent = ","
            chunk.append(f"Client {n:07d},Co {n % 9973},c{n}@ex.com,555-{n % 10000:04d},{n % 9000 + 1} Main St,"
                         f"{_CITIES[n % len(_CITIES)]},CA,9{n % 10000:04d},{'true' if n % 10 else 'false'}"
                         f"{parent}\n")
            if len(chunk) == 10_000:
                out.write("".join(chunk))
                chunk.clear()
        out.write("".join(chunk))
    return path.stat().st_size


CHILD = """
import hashlib, importlib.util, json, resource, sys, time
""" + PEAK_RSS + """
which, csv_path, db, out = sys.argv[1:5]
from qbo_toolkit.work.store import WorkStore
if which == "eager":
    spec = importlib.util.spec_from_file_location("qbo_toolkit.work._csv_import_eager", sys.argv[5])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
else:
    from qbo_toolkit.work import csv_import as module
store = WorkStore("sqlite:///" + db)
rss_before = peak_rss()
t, cpu = time.perf_counter(), time.process_time()
report = module.import_clients(store, csv_path)
seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
rss = peak_rss()
digest = hashlib.sha256()
from sqlalchemy import func, select
from qbo_toolkit.work import schema
table = schema.clients
columns = [column for column in table.c if column.name != "updated_at"]  # the clock, not the data
with store.engine.connect() as conn:
    for row in conn.execute(select(*columns).order_by(table.c.id)):
        digest.update(repr(tuple(row)).encode())
    count = conn.execute(select(func.count()).select_from(table)).scalar_one()
json.dump({"seconds": seconds, "cpu_seconds": cpu, "peak_rss": rss, "rss_before": rss_before, "loaded": report.loaded,
           "errors": len(report.errors), "count": count, "checksum": digest.hexdigest()}, open(out, "w"))
"""


def _child(which: str, csv_path: Path, tmp: Path, *extra: str) -> dict[str, Any]:
    db, out = tmp / f"csv-{which}.sqlite3", tmp / f"csv-{which}.json"
    for stale in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"), out):
        stale.unlink(missing_ok=True)
    subprocess.run([sys.executable, "-c", CHILD, which, str(csv_path), str(db), str(out), *extra],
                   check=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(out.read_text())
    for done in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        done.unlink(missing_ok=True)
    return result


def measure_csv(rows: int, tmp: Path, *, baseline: bool = True, parents: bool = False) -> dict[str, Any]:
    """Generate, import streamed and (``baseline``) eager; the raw figures for the table."""
    csv_path = tmp / "clients-bench.csv"
    started = time.perf_counter()
    size = generate(csv_path, rows, parents=parents)
    generated = time.perf_counter() - started
    result: dict[str, Any] = {"rows": rows, "file_bytes": size, "generate_seconds": generated,
                              "eager_commit": EAGER_COMMIT, "parents": parents}
    result["ours"] = _child("stream", csv_path, tmp)
    if baseline:
        eager = tmp / "csv_import_eager.py"
        shown = subprocess.run(["git", "show", f"{EAGER_COMMIT}:qbo_toolkit/work/csv_import.py"], cwd=ROOT,
                               check=False, capture_output=True, text=True)
        if shown.returncode:  # a checkout without that history: the row says the baseline was not run
            result["base_missing"] = shown.stderr.strip()[:200]
        else:
            eager.write_text(shown.stdout, encoding="utf-8")
            result["base"] = _child("eager", csv_path, tmp, str(eager))
            result["same"] = (result["ours"]["count"], result["ours"]["checksum"]) == (
                result["base"]["count"], result["base"]["checksum"])
    csv_path.unlink(missing_ok=True)
    return result


def _mb(b: float) -> str:
    return f"{b / 2**20:,.0f} MB"


def rows(r: dict[str, Any], row: Any) -> list[Any]:
    """The benchmark table's rows (``row`` is run.py's Row class)."""
    ours, base = r["ours"], r.get("base")
    file_mb = r["file_bytes"] / 2**20
    times = f"{ours['peak_rss'] / r['file_bytes']:.1f}x the file"
    out = [row(f"6. CSV import of {r['rows']:,} clients ({file_mb:,.1f} MB file): peak RSS (child process)",
               f"{_mb(ours['peak_rss'])} ({times})",
               f"eager {EAGER_COMMIT[:7]}: {_mb(base['peak_rss'])}" if base else f"eager {EAGER_COMMIT[:7]} not in git",
               f"{base['peak_rss'] / ours['peak_rss']:.1f}x less" if base else "-", "< 500 MB",
               ours["peak_rss"] < 500 * 2**20 and ours["loaded"] == r["rows"])]
    out.append(row("6. CSV import: wall time (CPU time: the machine may be shared)",
                   f"{ours['seconds']:.1f} s, CPU {ours['cpu_seconds']:.1f} s ({ours['loaded']:,} loaded)",
                   f"eager {base['seconds']:.1f} s, CPU {base['cpu_seconds']:.1f} s ({base['loaded']:,} loaded)"
                   if base else "not run",
                   f"{ours['cpu_seconds'] / base['cpu_seconds']:.2f}x the eager CPU time" if base else "-",
                   "CPU <= 1.25x the eager", ours["cpu_seconds"] <= 1.25 * base["cpu_seconds"] if base else None))
    if base:
        out.append(row("6. CSV import: same store contents", "checksum of every client row",
                       "eager: " + ("same" if r["same"] else "DIFFERENT"), "-", "equal", r["same"]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-baseline", action="store_true", help="skip the eager import (needs ~3 GB at 1M)")
    parser.add_argument("--parents", action="store_true", help="one row in ten names a parent in the file")
    parser.add_argument("--tmp", type=Path, default=Path("/dev/shm") if Path("/dev/shm").is_dir() else Path("/tmp"))
    args = parser.parse_args(argv)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="qbo-csv-bench-", dir=args.tmp) as t:
        result = measure_csv(args.rows, Path(t), baseline=not args.no_baseline, parents=args.parents)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
