# ruff: noqa: S603 - runs this same script as a child process (for its own peak RSS)
"""History of 24 monthly reconciliation runs at month-end size (issue 14, point 6).

A company with 100,000 invoices, 100,000 payments and 10,000 customers, reconciled at 24 month
ends. The runs are synthesised as :class:`ReconResult` objects directly (no QBO): each month a
share of the records differ (invoice totals, payment amounts, customer e-mails, WORK invoices
missing in QBO); each month a fifth of last month's differences are resolved and as many new ones
appear, so new, persisting (with ages up to 23 months) and resolved are all large.

* ours: :meth:`History.record` of each run into a SQLite WORK store (stable keys, first seen carried
  from the previous run, the run's rows written), then :meth:`History.view` of it (new,
  persisting with ages, resolved). Timed per run; the goal is each run's record + view in < 5 s.
* baseline, same run: the naive pandas way, keeping every run's full difference set and, for the
  24th run, concatenating all 24 sets (first seen = the earliest as-of of each key's latest unbroken
  streak, computed by a group-by over all runs) and an outer merge of the last two sets.

Both answer the same question for the 24th run; the counts and the total age must be equal.
Each side runs in its own child process so its peak RSS is its own.

    .venv/bin/python benchmarks/history_bench.py --size smoke     # prints the figures
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peak import peak_rss

ROOT = Path(__file__).resolve().parent.parent

SIZES: dict[str, dict[str, int]] = {
    "full": {"invoices": 100_000, "payments": 100_000, "customers": 10_000, "runs": 24,
             "invoice_diffs": 10_000, "payment_diffs": 8_000, "customer_diffs": 1_000, "missing": 2_000},
    "smoke": {"invoices": 2_000, "payments": 2_000, "customers": 200, "runs": 4,
              "invoice_diffs": 200, "payment_diffs": 160, "customer_diffs": 20, "missing": 40},
}
CHURN = 0.2  # the share of last month's differences resolved, and replaced by new ones, each month


def month_ends(n: int) -> list[date]:
    import calendar

    out, year, month = [], 2025, 1
    for _ in range(n):
        out.append(date(year, month, calendar.monthrange(year, month)[1]))
        month += 1
        if month == 13:
            year, month = year + 1, 1
    return out


def active_sets(size: dict[str, int]) -> list[dict[str, Any]]:
    """Per run, the ids that differ in each planted category (deterministic)."""
    import numpy as np

    rng = np.random.default_rng(14)
    pools = {"invoices_total": size["invoices"], "payments_amount": size["payments"],
             "customers_fields": size["customers"], "invoices_missing_in_qbo": size["invoices"]}
    counts = {"invoices_total": size["invoice_diffs"], "payments_amount": size["payment_diffs"],
              "customers_fields": size["customer_diffs"], "invoices_missing_in_qbo": size["missing"]}
    current = {c: rng.choice(pools[c], counts[c], replace=False) + 1 for c in pools}
    runs = []
    for _ in range(size["runs"]):
        runs.append({c: np.sort(ids) for c, ids in current.items()})
        nxt = {}
        for c, ids in current.items():
            keep = rng.choice(ids, int(len(ids) * (1 - CHURN)), replace=False)
            free = np.setdiff1d(np.arange(1, pools[c] + 1), ids)
            nxt[c] = np.concatenate([keep, rng.choice(free, len(ids) - len(keep), replace=False)])
        current = nxt
    return runs


def make_result(ids: dict[str, Any], as_of: date) -> Any:
    """A ReconResult whose planted categories hold ``ids`` (values fixed per id, so a persisting
    difference has the same row in every run) and every other category empty."""
    import numpy as np
    import pandas as pd

    from qbo_toolkit.recon.result import CATEGORIES, ReconResult

    frames: dict[str, pd.DataFrame] = {}
    for c in CATEGORIES:
        frames[c.name] = pd.DataFrame({col: pd.Series(dtype=object) for col in c.columns})
    inv = ids["invoices_total"]
    work = (inv * 7919 % 100_000 + 1_000).astype("int64")
    frames["invoices_total"] = pd.DataFrame({
        "work_id": pd.array(inv, dtype="Int64"), "qbo_id": pd.array(inv + 500_000, dtype="Int64"),
        "number": [f"INV-{i}" for i in inv], "customer": [f"Customer {i % 10_000}" for i in inv], "match": "link",
        "work_cents": work, "qbo_cents": work + 100, "difference_cents": np.full(len(inv), 100, dtype="int64")})
    pay = ids["payments_amount"]
    amount = (pay * 104_729 % 50_000 + 500).astype("int64")
    frames["payments_amount"] = pd.DataFrame({
        "work_id": pd.array(pay, dtype="Int64"), "qbo_id": pd.array(pay + 900_000, dtype="Int64"),
        "customer": [f"Customer {i % 10_000}" for i in pay], "work_cents": amount, "qbo_cents": amount - 25,
        "difference_cents": np.full(len(pay), -25, dtype="int64")})
    cust = ids["customers_fields"]
    frames["customers_fields"] = pd.DataFrame({
        "work_id": pd.array(cust, dtype="Int64"), "qbo_id": pd.array(cust + 50_000, dtype="Int64"), "match": "link",
        "field": "email", "work": [f"c{i}@example.com" for i in cust], "qbo": [f"old{i}@example.com" for i in cust]})
    miss = ids["invoices_missing_in_qbo"]
    frames["invoices_missing_in_qbo"] = pd.DataFrame({
        "work_id": pd.array(miss + 200_000, dtype="Int64"), "number": [f"W-{i}" for i in miss],
        "client_id": pd.array(miss % 10_000 + 1, dtype="Int64"), "customer": [f"Customer {i % 10_000}" for i in miss],
        "date": pd.to_datetime(["2025-01-15"] * len(miss)), "total_cents": (miss * 31 % 90_000 + 100).astype("int64"),
        "balance_cents": (miss * 31 % 90_000 + 100).astype("int64"), "reason": "never sent"})
    return ReconResult(as_of=as_of, integration_date=date(2025, 1, 1), tolerance=Decimal("0"), frames=frames,
                       tables={"aging": pd.DataFrame(), "open_balances": pd.DataFrame(), "tieout": pd.DataFrame()},
                       totals=())


def run_ours(size: dict[str, int], workdir: Path) -> dict[str, Any]:
    from qbo_toolkit.recon.history import History
    from qbo_toolkit.work.store import WorkStore

    store = WorkStore(f"sqlite:///{workdir / 'history-bench.sqlite3'}")
    history = History(store, "bench-realm")
    per_run, build, last = [], 0.0, None
    for ids, day in zip(active_sets(size), month_ends(size["runs"]), strict=True):
        t0 = time.perf_counter()
        result = make_result(ids, day)
        t1 = time.perf_counter()
        kept = history.record(result, kind="benchmark", dates=False)  # record + view (result.history)
        per_run.append(time.perf_counter() - t1)
        build += t1 - t0
        last = kept.history
    assert last is not None
    t0 = time.perf_counter()
    view = history.view(last.run_id)  # the 24th run read back alone: new, persisting, resolved
    view_seconds = time.perf_counter() - t0
    store.close()
    counts = view.counts
    return {"runs": len(per_run), "differences": len(view.items), "record_view_max": max(per_run),
            "record_view_mean": sum(per_run) / len(per_run), "record_view_total": sum(per_run),
            "view_seconds": view_seconds, "synthesis_seconds": build, "new": counts["new"],
            "persisting": counts["persisting"], "resolved": counts["resolved"],
            "age_total": int(view.persisting["age_days"].sum()), "db_bytes": (workdir / "history-bench.sqlite3")
            .stat().st_size}


def run_naive(size: dict[str, int]) -> dict[str, Any]:
    """Every run's full difference set kept; for the last run: concat all, first seen by group-by,
    outer merge of the last two sets."""
    import pandas as pd

    from qbo_toolkit.recon.history import KEYED

    sets, build = [], 0.0
    days = month_ends(size["runs"])
    for ids, day in zip(active_sets(size), days, strict=True):
        t0 = time.perf_counter()
        result = make_result(ids, day)
        build += time.perf_counter() - t0
        parts = []
        for name in KEYED:  # the whole rows, keyed naively by category and the id columns as text
            frame = result.frames[name]
            if len(frame):
                frame = frame.copy()
                frame["category"] = name
                frame["as_of"] = day
                frame["key"] = frame.apply(lambda r: f"{r['category']}|{r.get('work_id')}|{r.get('qbo_id')}|"
                                                     f"{r.get('field', '')}", axis=1)
                parts.append(frame)
        sets.append(pd.concat(parts, ignore_index=True))
    t0 = time.perf_counter()
    everything = pd.concat(sets, ignore_index=True)
    presence = everything[["key", "as_of"]].drop_duplicates()
    presence["run"] = presence["as_of"].map({d: i for i, d in enumerate(days)})
    last_run = len(days) - 1
    alive = presence[presence["key"].isin(set(sets[-1]["key"]))].sort_values(["key", "run"])
    # the unbroken streak ending at the last run: runs r where every run from r to the last has the key
    alive["gap"] = alive.groupby("key")["run"].transform(lambda r: (r.diff().fillna(1) != 1).cumsum())
    streak = alive[alive["gap"] == alive.groupby("key")["gap"].transform("max")]
    first = streak.groupby("key")["as_of"].min()
    merged = sets[-2][["key"]].merge(sets[-1][["key"]], on="key", how="outer", indicator=True)
    seconds = time.perf_counter() - t0
    ages = [(days[last_run] - d).days for d in first]
    return {"seconds": seconds, "synthesis_seconds": build, "new": int((merged["_merge"] == "right_only").sum()),
            "persisting": int((merged["_merge"] == "both").sum()),
            "resolved": int((merged["_merge"] == "left_only").sum()), "age_total": int(sum(ages))}


def _child(mode: str, size_name: str, workdir: Path) -> dict[str, Any]:
    out = workdir / f"history-{mode}.json"
    subprocess.run([sys.executable, __file__, "--child", mode, "--size", size_name, "--workdir", str(workdir),
                    "--out", str(out)], check=True, cwd=ROOT)
    return dict(json.loads(out.read_text()))


def measure_history(size_name: str, tmp: Path) -> dict[str, Any]:
    """Ours and the baseline, each in its own process; with the sizes used."""
    ours = _child("ours", size_name, tmp)
    base = _child("naive", size_name, tmp)
    same = all(ours[k] == base[k] for k in ("new", "persisting", "resolved", "age_total"))
    return {"size": SIZES[size_name], "ours": ours, "base": base, "same": same}


def rows(r: dict[str, Any], row: Any) -> list[Any]:
    """The table rows for benchmarks/run.py (``row`` is its Row class)."""
    size, ours, base = r["size"], r["ours"], r["base"]
    what = (f"{size['runs']} monthly runs, {size['invoices']:,} invoices, {size['payments']:,} payments, "
            f"{size['customers']:,} customers; {ours['differences']:,} differences in the last run")
    ratio = base["seconds"] / max(ours["view_seconds"], 1e-9)
    return [
        row(f"6. history: {what}: record + new/persisting/resolved, per run",
            f"max {ours['record_view_max']:.2f} s, mean {ours['record_view_mean']:.2f} s "
            f"({ours['new']:,} new, {ours['persisting']:,} persisting, {ours['resolved']:,} resolved)",
            f"naive pandas (all {size['runs']} runs' sets, group-by, merge): {base['seconds']:.2f} s for the last run",
            f"view alone {ours['view_seconds']:.2f} s: {ratio:.1f}x faster", "< 5 s per run",
            ours["record_view_max"] < 5),
        row("6. history: peak RSS (child process)", f"{ours['peak_rss'] / 2**20:,.0f} MB",
            f"naive {base['peak_rss'] / 2**20:,.0f} MB", "-", "< 2 GB", ours["peak_rss"] < 2 * 2**30),
        row("6. history: same new / persisting / resolved and ages as the baseline",
            f"age total {ours['age_total']:,} days", "same" if r["same"] else "DIFFERENT", "-", "equal", r["same"]),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="smoke")
    parser.add_argument("--child", choices=["ours", "naive"])
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.child:
        size = SIZES[args.size]
        found = run_ours(size, args.workdir) if args.child == "ours" else run_naive(size)
        found["peak_rss"] = peak_rss()
        args.out.write_text(json.dumps(found))
        return 0
    import tempfile

    with tempfile.TemporaryDirectory(prefix="qbo-history-bench-") as t:
        r = measure_history(args.size, Path(t))
    print(json.dumps(r, indent=2))
    return 0 if r["same"] and r["ours"]["record_view_max"] < 5 else 1


if __name__ == "__main__":
    sys.exit(main())
