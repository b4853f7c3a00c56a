# ruff: noqa: S108 - a benchmark: scratch in /dev/shm
"""The local QBO mirror at month end (issue 14, points 1 and 6), each figure beside its baseline.

A company of N customers, N invoices and N payments (full: 10,000 / 100,000 / 100,000, TxnDates over 24
months) is loaded into an emulator's company ahead (in-process, through the emulator's own business
rules, no HTTP), then served by a separate ``qbo-toolkit emulator`` process. Against it, in one run:

* **baseline**: the reconciliation reading QBO in full (``reconcile_live(mirror=False)``, what every run
  did before the mirror): metered requests by the emulator's own meter (``GET /_emulator/meter``) and
  wall time;
* the mirror's first fill (one full read, once);
* **ours**: the month-end reconciliation from the mirror (one CDC, the tie-out's two reports, the
  home currency): metered requests and wall time, with the same verdict as the baseline;
* the mirror's verification when nothing differs: the share of the records it read;
* peak RSS of this process (the emulator runs in its own).

    .venv/bin/python benchmarks/mirror_bench.py --size smoke
    .venv/bin/python benchmarks/run.py --size full --only mirror --no-write
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peak import peak_rss

SIZES = {"full": {"customers": 10_000, "invoices": 100_000, "payments": 100_000},
         "smoke": {"customers": 40, "invoices": 300, "payments": 200}}
AS_OF = date(2026, 11, 30)
FIRST_DAY = date(2024, 12, 1)
CHUNK = 1000
LOAD_AGE_SECONDS = 2 * 3600


def load_company(workdir: Path, sizes: dict[str, int]) -> dict[str, Any]:
    """Customers, invoices (one 'Services' line each) and payments (each paying one invoice, in full or
    in part; at most one per invoice) in an emulator company kept in ``workdir/emulator-data``."""
    if sizes["payments"] > sizes["invoices"]:
        raise ValueError("one payment per invoice at most: payments must not outnumber invoices")
    from qbo_toolkit.emulator import EmulatorConfig, serve

    started = time.perf_counter()
    # the company clock at real time while loading (moved back below)
    config = EmulatorConfig(data_dir=str(workdir / "emulator-data"), auto_approve=True, access_ttl=1e9,
                            time_scale=1, throttle=False, info_file=str(workdir / "emulator.json"))
    with serve(config) as server:
        # stamped two hours back, as records made well before the month end are: not inside the CDC
        # overlap (5 minutes) of the mirror's fill, which would make its first CDC re-read them
        server.clock.advance(-LOAD_AGE_SECONDS)
        emu = server.emulator
        company = emu.companies[emu.config.realm_id]
        item = next(d for d in company.all("Item") if d["Name"] == "Services")
        customers: list[str] = []
        for start in range(0, sizes["customers"], CHUNK):
            with emu.store.transaction():
                for n in range(start, min(start + CHUNK, sizes["customers"])):
                    customers.append(str(company.save("Customer", {"DisplayName": f"Bench Customer {n:06d}"})["Id"]))
        invoices: list[tuple[str, str, str, Decimal]] = []
        days = (AS_OF - FIRST_DAY).days
        for start in range(0, sizes["invoices"], CHUNK):
            with emu.store.transaction():
                for n in range(start, min(start + CHUNK, sizes["invoices"])):
                    customer = customers[n % len(customers)]
                    amount = Decimal(100 + n % 900) + Decimal(n % 100) / 100
                    day = (FIRST_DAY + timedelta(days=(n * 7919) % days)).isoformat()
                    doc = company.save("Invoice", {
                        "CustomerRef": {"value": customer}, "TxnDate": day, "DocNumber": f"B{n:07d}",
                        "Line": [{"Amount": str(amount), "DetailType": "SalesItemLineDetail",
                                  "SalesItemLineDetail": {"ItemRef": {"value": str(item["Id"])}, "Qty": 1,
                                                          "UnitPrice": str(amount)}}]})
                    invoices.append((str(doc["Id"]), customer, day, amount))
        for start in range(0, sizes["payments"], CHUNK):
            with emu.store.transaction():
                for n in range(start, min(start + CHUNK, sizes["payments"])):
                    inv_id, customer, day, amount = invoices[n]  # one payment per invoice, a third in part
                    paid = amount if n % 3 else (amount / 2).quantize(Decimal("0.01"))
                    company.save("Payment", {
                        "CustomerRef": {"value": customer}, "TotalAmt": str(paid), "TxnDate": day,
                        "Line": [{"Amount": str(paid), "LinkedTxn": [{"TxnId": inv_id, "TxnType": "Invoice"}]}]})
        counts = {e: len(company.all(e)) for e in ("Customer", "Invoice", "Payment")}
    return {"seconds": time.perf_counter() - started, "counts": counts}


def metered(info: dict[str, Any], realm: str) -> int:
    import requests

    base = info["api_base_url"].rsplit("/v3", 1)[0]
    reply = requests.get(f"{base}/_emulator/meter", timeout=60)
    reply.raise_for_status()
    return sum(m["coreplus"] for m in reply.json().get(realm, {}).values())


def measure_mirror(size: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """Everything in the module docstring; ``size["mirror"]`` holds the record counts."""
    from run import connect, emulator, settings

    from qbo_toolkit.mirror import Mirror
    from qbo_toolkit.recon.api import reconcile_live
    from qbo_toolkit.work.store import WorkStore

    sizes = size["mirror"]
    workdir = tmp / "mirror"
    workdir.mkdir()
    load = load_company(workdir, sizes)
    store = WorkStore(f"sqlite:///{workdir}/work.sqlite3")
    chosen = settings()
    out: dict[str, Any] = {"sizes": sizes, "load": load}
    with emulator(workdir, "--data-dir", str(workdir / "emulator-data"), "--time-scale", "100000",
                  "--no-throttle") as info:
        conn = connect(workdir)
        realm = conn.realm_id

        def run(**kwargs: Any) -> tuple[Any, dict[str, Any]]:
            reads: list[Any] = []
            before, started = metered(info, realm), time.perf_counter()
            result = reconcile_live(conn, store, as_of=AS_OF, settings=chosen, on_read=reads.append, **kwargs)
            figures = {"seconds": time.perf_counter() - started, "metered": metered(info, realm) - before,
                       "read": reads[-1].to_dict() if reads else None}
            return result, figures

        base_result, out["baseline"] = run(mirror=False)
        _, out["fill"] = run()  # the mirror's first (and only) full read
        ours_result, out["ours"] = run()
        out["same_verdict"] = (ours_result.verdict == base_result.verdict
                               and dict(ours_result.counts) == dict(base_result.counts))
        out["verdict"] = ours_result.verdict[:200]
        mirror = Mirror(store, conn.client)
        check = mirror.verify()
        out["verify"] = {"requests": check.requests, "records": check.records, "mirrored": check.mirrored,
                         "share": check.share, "reread": check.reread, "checked": check.checked,
                         "seconds": check.seconds}
    store.close()
    out["peak_rss"] = peak_rss()
    return out


def rows(m: dict[str, Any], row: Any) -> list[Any]:
    """The benchmark table's rows (``row`` is run.py's Row class)."""
    n = m["sizes"]
    label = f"{n['invoices']:,} invoices, {n['payments']:,} payments, {n['customers']:,} customers"
    base, ours, fill, check = m["baseline"], m["ours"], m["fill"], m["verify"]
    ratio = base["metered"] / max(ours["metered"], 1)
    return [
        row(f"6. month-end reconciliation ({label}): metered requests", f"{ours['metered']} with the mirror",
            f"{base['metered']} full read", f"{ratio:.0f}x fewer", "<= 5", ours["metered"] <= 5),
        row("6. month-end reconciliation: wall time", f"{ours['seconds']:.1f} s with the mirror",
            f"{base['seconds']:.1f} s full read", f"{base['seconds'] / max(ours['seconds'], 1e-9):.1f}x",
            "same verdict", m["same_verdict"]),
        row("6. the mirror's first fill (once)", f"{fill['metered']} metered, {fill['seconds']:.1f} s "
            f"({(fill['read'] or {}).get('records', 0):,} records)", "-", "-", "-", None),
        row("6. mirror verification, nothing differs: records read",
            f"{check['records']:,} of {check['mirrored']:,} ({check['share']:.2%}; {check['requests']} requests, "
            f"{check['seconds']:.1f} s)", "-", "-", "<= 2%, nothing re-read",
            check["share"] <= 0.02 and not check["reread"]),
        row("6. mirror: peak RSS (benchmark process; emulator separate)", f"{m['peak_rss'] / 2**20:,.0f} MB", "-",
            "-", "< 2 GB", m["peak_rss"] < 2 * 2**30),
    ]


def main(argv: list[str] | None = None) -> int:
    import tempfile

    from run import Row, render

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="smoke")
    parser.add_argument("--tmp", default="/dev/shm" if Path("/dev/shm").is_dir() else None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="qbo-mirror-bench-", dir=args.tmp) as t:
        figures = measure_mirror({"mirror": SIZES[args.size]}, Path(t))
    print(json.dumps(figures, indent=2, default=str), file=sys.stderr)
    print(render(rows(figures, Row)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
