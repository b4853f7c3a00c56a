"""The ``qbo-toolkit`` command. Errors become a sentence and an exit code here, in one place.

Exit codes:

* 0   ok
* 1   differences found (``reconcile``, ``run`` of a reconciliation job), rows refused
      (``import``), inconsistencies left (``doctor``)
* 2   an error, said in a sentence on stderr (bad settings, QuickBooks refused the connection, ...)
* 75  try again later: another sync of the company is running (``sync``, ``run`` of the sync job;
      ``--wait SECONDS`` waits for it instead), or the WORK store stayed locked by another program
      past its busy timeout. Nothing was sent.
* 130 interrupted by SIGINT (Ctrl-C), 143 by SIGTERM: a sync lets the requests in flight finish,
      records the run as ``interrupted`` and releases the company's lease; run it again to continue.
      (A sync that stopped because another took over its lease, after it hung past the lease's
      time-out, exits 75.)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__
from .errors import (
    AuthError,
    ConfigError,
    QboError,
    QboToolkitError,
    SyncBusy,
    SyncInterrupted,
    WorkStoreBusy,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qbo-toolkit", description="Connect WORK to QuickBooks Online.")
    parser.add_argument("--version", action="version", version=f"qbo-toolkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    from .emulator import cli as emulator_cli

    emu = sub.add_parser("emulator", help="run the offline QuickBooks Online emulator")
    emulator_cli.add_arguments(emu)

    con = sub.add_parser("connect", help="connect to a QuickBooks company (opens the authorization page)")
    con.add_argument("--environment", choices=["local", "sandbox", "production"], default=None,
                     help="default: QBO_ENVIRONMENT, the local config file, else local (the emulator)")
    con.add_argument("--no-browser", action="store_true", help="print the URL instead of opening a browser")
    con.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the authorization")
    con.add_argument("--reset", action="store_true", help="allow connecting to a different company than before")
    con.add_argument("--headless", action="store_true",
                     help="local emulator started with --auto-approve only: approve without a browser")

    demo = sub.add_parser("demo-data", help="load the deterministic demo business into the WORK store")
    demo.add_argument("--work-db", default=None, help="SQLAlchemy URL (default: the toolkit home's work.sqlite3)")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--clients", type=int, default=300)
    demo.add_argument("--invoices", type=int, default=1500)
    demo.add_argument("--payments", type=int, default=1000)

    imp = sub.add_parser("import", help="load a clients, invoices or payments CSV file into the WORK store "
                                        "(exit 0 all rows loaded, 1 some refused, 2 unusable file)")
    imp.add_argument("kind", choices=["clients", "invoices", "payments"])
    imp.add_argument("file", help="CSV file; columns in docs/work-csv.md")
    imp.add_argument("--store", "--work-db", dest="store", default=None,
                     help="SQLAlchemy URL of the WORK store (default: the toolkit home's work.sqlite3)")

    syn = sub.add_parser("sync", help="run the sync once (initial the first time, incremental after)")
    syn.add_argument("--params", default=None, help="YAML: settings (a path or a mapping), work_db, dry_run, wait")
    syn.add_argument("--settings", default=None, help="settings YAML (overrides the params file's)")
    syn.add_argument("--work-db", default=None, help="SQLAlchemy URL of the WORK store")
    syn.add_argument("--dry-run", action="store_true", help="show the plan, write nothing")
    syn.add_argument("--no-progress", action="store_true", help="no progress bar")
    syn.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                     help="when another sync of the company is running, wait up to this long for it (default: "
                          "stop at once with exit code 75)")
    syn.add_argument("--job", default=None, help="how this run is named to other syncs and on the status screen "
                                                 "(default: 'qbo-toolkit sync')")

    doc = sub.add_parser("doctor", help="check the id map against QuickBooks and the WORK store; --repair mends "
                                        "what it safely can (exit 0 consistent, 1 problems left, 2 error)")
    doc.add_argument("--work-db", default=None, help="SQLAlchemy URL of the WORK store")
    doc.add_argument("--repair", action="store_true", help="repair what can be repaired safely (default: only report)")

    run = sub.add_parser("run", help="run a job notebook with papermill into a dated folder (exit 0/1/2)")
    run.add_argument("notebook", help="e.g. notebooks/reconcile.ipynb")
    run.add_argument("--params", default=None, help="YAML parameters (checked against the notebook)")
    run.add_argument("--output-root", default="output", help="dated run folders go here")
    run.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                     help="one more parameter (a string), after the file's")

    rec = sub.add_parser("reconcile", help="reconcile WORK and QBO without a notebook (exit 0/1/2)")
    rec.add_argument("--settings", default=None, help="settings YAML (gives the integration date)")
    rec.add_argument("--work-db", default=None)
    rec.add_argument("--as-of", default=None, help="YYYY-MM-DD (default today)")
    rec.add_argument("--tolerance", default="0.00")
    rec.add_argument("--output-dir", default=None, help="write report.html, CSV, Excel and summary.json here")

    app = sub.add_parser("app", help="serve the screens (notebooks/app.ipynb) with Voila on a loopback port")
    app.add_argument("--port", type=int, default=0, help="0: any free port")

    sub.add_parser("status", help="show the stored connection")
    sub.add_parser("disconnect", help="revoke the connection and forget its tokens (history is kept)")
    return parser


def _run(args: argparse.Namespace) -> int:
    if args.command == "emulator":
        from .emulator import cli as emulator_cli

        return emulator_cli.run(args)
    from .connection import connect, connect_headless, connection, disconnect

    if args.command == "demo-data":
        from .work.demo import generate_demo
        from .work.store import WorkStore

        try:
            summary = generate_demo(WorkStore(args.work_db), seed=args.seed, clients=args.clients,
                                    invoices=args.invoices, payments=args.payments)
        except ValueError as exc:  # sizes the demo cannot be made with
            print(f"qbo-toolkit demo-data: {exc}", file=sys.stderr)
            return 2
        print(f"demo data: {summary.clients} clients, {summary.invoices} invoices, {summary.payments} payments")
        return 0
    if args.command == "connect":
        if args.headless:
            conn = connect_headless(reset=args.reset)
        else:
            conn = connect(args.environment, open_browser=not args.no_browser, timeout=args.timeout,
                           reset=args.reset)
        print(f"Connected to {conn.company_name} (realm {conn.realm_id}, {conn.environment}).")
        return 0
    if args.command == "sync":
        return _sync(args)
    if args.command == "import":
        return _import(args)
    if args.command == "doctor":
        from .sync.doctor import doctor

        report = doctor(store=args.work_db, repair=args.repair)
        print(report)
        return 0 if report.consistent_after else 1
    if args.command == "app":
        from .app_server import main as app_main

        return app_main(["--port", str(args.port)])
    if args.command == "run":
        from .runner import main_run

        extra = dict(item.split("=", 1) for item in args.param)
        return main_run(args.notebook, args.params, args.output_root, extra)
    if args.command == "reconcile":
        from .runner import EXIT_DIFFERENCES, EXIT_OK, reconcile_job

        result = reconcile_job(settings=args.settings, work_db=args.work_db, as_of=args.as_of,
                               tolerance=args.tolerance, output_dir=args.output_dir)
        print(result)
        return EXIT_OK if result.in_agreement else EXIT_DIFFERENCES
    if args.command == "status":
        conn = connection()
        print(f"Connected to {conn.company_name} (realm {conn.realm_id}, {conn.environment}).")
        return 0
    if args.command == "disconnect":
        print(disconnect().message)
        return 0
    return 2


def _stop_on_signals(stop: Any) -> None:
    """SIGINT and SIGTERM ask the sync to stop between records (a second one stops it at once)."""
    import signal

    def handler(signum: int, _frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        name = signal.Signals(signum).name
        print(f"qbo-toolkit: {name} received: finishing the requests in flight, then stopping "
              "(send it again to stop at once)", file=sys.stderr, flush=True)
        stop.request(f"{name} received", signal=signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)


def _sync(args: argparse.Namespace) -> int:
    from pathlib import Path

    import yaml

    from .errors import SyncInterrupted
    from .sync.api import run_sync
    from .sync.context import StopFlag

    params: dict[str, Any] = {}
    if args.params:
        params = yaml.safe_load(Path(args.params).read_text()) or {}
        if not isinstance(params, dict):
            raise ConfigError(f"{args.params} must hold a mapping", path=args.params)
    settings = args.settings or params.get("settings")
    if isinstance(settings, str) and args.params and not Path(settings).is_absolute():
        settings = str((Path(args.params).parent / settings).resolve()) if not Path(settings).exists() else settings
    try:
        wait = max(0.0, args.wait or float(params.get("wait") or 0))
    except (TypeError, ValueError):
        raise ConfigError(f"{args.params}: wait must be a number of seconds, not {params.get('wait')!r}",
                          path=args.params, key="wait") from None
    stop = StopFlag()
    _stop_on_signals(stop)
    try:
        result = run_sync(settings, store=args.work_db or params.get("work_db"),
                          dry_run=args.dry_run or bool(params.get("dry_run", False)),
                          progress=not args.no_progress and bool(params.get("progress", True)),
                          wait=wait, job=args.job or "qbo-toolkit sync", stop=stop)
    except SyncInterrupted as exc:
        print(f"qbo-toolkit: {exc}", file=sys.stderr)
        return 128 + stop.signal if stop.signal else EXIT_TRY_LATER  # no signal: it lost the lease
    print(result)
    failed = result.counts.get("failed", 0)
    if failed:
        print(f"{failed} record(s) failed: see the activity log", file=sys.stderr)
    return 0


def _import(args: argparse.Namespace) -> int:
    from .sync.imports import import_csv, row_message

    result = import_csv(args.store, args.kind, args.file)
    print(result)
    for error in result.report.errors:
        print(f"  refused: {row_message(error)}")
    if result.report.errors:
        where = ("listed in the activity log" if result.run_id is not None else
                 "not in an activity log: no QuickBooks company is connected yet")
        print(f"{len(result.report.errors)} row(s) refused ({where}); fix them and import those rows again",
              file=sys.stderr)
        return 1
    return 0


#: Exit code for "try again later" (sysexits' EX_TEMPFAIL): see the module docstring.
EXIT_TRY_LATER = 75


def main(argv: Sequence[str] | None = None) -> int:
    import os

    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("qbo-toolkit: interrupted", file=sys.stderr)
        return 130
    except (SyncBusy, WorkStoreBusy) as exc:
        print(f"qbo-toolkit: {exc}", file=sys.stderr)
        return EXIT_TRY_LATER
    except SyncInterrupted as exc:
        print(f"qbo-toolkit: {exc}", file=sys.stderr)
        return 128 + exc.signal if exc.signal else EXIT_TRY_LATER
    except (AuthError, ConfigError, QboError, QboToolkitError) as exc:
        print(f"qbo-toolkit: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if os.environ.get("QBO_TOOLKIT_DEBUG"):
            raise
        print(f"qbo-toolkit: {args.command} stopped on an unexpected error ({type(exc).__name__}: {exc}). Set "
              "QBO_TOOLKIT_DEBUG=1 to see where it happened, and please report it", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
