"""The ``qbo-toolkit`` command, built from a table of commands (:data:`COMMANDS`).

Every command answers with the exit-code contract of :mod:`qbo_toolkit.exits` (0 ok, 1 findings,
2 usage or input error, 3 environment failure, 70 internal error, 75 try later, 130/143
interrupted). Errors become one sentence on stderr here, in one place (:func:`main`); a traceback,
when there is one, goes to a log file whose path the sentence gives.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import __version__
from .exits import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, classify, debug

__all__ = ["COMMANDS", "build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one sentence (and the usage line) on a usage error."""

    def error(self, message: str) -> Any:
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: {message}; see {self.prog} --help\n")


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# -- emulator -------------------------------------------------------------------------------------------

def _emulator_args(p: argparse.ArgumentParser) -> None:
    from .emulator import cli as emulator_cli

    p.add_argument("action", nargs="?", choices=["run", "stop"], default="run",
                   help="run (default): serve in the foreground; stop: stop the emulators the toolkit started in "
                        "the background")
    emulator_cli.add_arguments(p)


def _emulator(args: argparse.Namespace) -> int:
    if args.action == "stop":
        from .auth.local import stop_background_emulators

        for line in stop_background_emulators():
            print(line)
        return EXIT_OK
    from .emulator import cli as emulator_cli

    return emulator_cli.run(args)


# -- connection -----------------------------------------------------------------------------------------

def _connect_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--environment", choices=["local", "sandbox", "production"], default=None,
                   help="default: QBO_ENVIRONMENT, the local config file, else local (the emulator)")
    p.add_argument("--no-browser", action="store_true", help="print the URL instead of opening a browser")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the authorization")
    p.add_argument("--reset", action="store_true", help="allow connecting to a different company than before")
    p.add_argument("--headless", action="store_true",
                   help="local emulator started with --auto-approve only: approve without a browser")


def _connect(args: argparse.Namespace) -> int:
    from .connection import connect, connect_headless

    if args.headless:
        conn = connect_headless(reset=args.reset)
    else:
        conn = connect(args.environment, open_browser=not args.no_browser, timeout=args.timeout, reset=args.reset)
    print(f"Connected to {conn.company_name} (realm {conn.realm_id}, {conn.environment}).")
    return EXIT_OK


def _status(_args: argparse.Namespace) -> int:
    """The connection and the meter (this month's QuickBooks calls); the meter is local, so it is
    shown without a connection too, and then the exit code still says "not connected"."""
    from .connection import connection
    from .errors import QboToolkitError
    from .qbo.meter import get_meter

    try:
        conn = connection()
    except QboToolkitError:
        print("Not connected to QuickBooks: the calls below are what this toolkit home counted.")
        for line in get_meter().status_lines():
            print(line)
        raise
    print(f"Connected to {conn.company_name} (realm {conn.realm_id}, {conn.environment}).")
    for line in get_meter().status_lines(conn.realm_id):
        print(line)
    return EXIT_OK


def _disconnect(_args: argparse.Namespace) -> int:
    from .connection import disconnect

    print(disconnect().message)
    return EXIT_OK


# -- settings -------------------------------------------------------------------------------------------

def _settings_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--save", default=None, metavar="FILE",
                   help="check FILE's settings against the connected company (accounts exist, are active and of "
                        "the right type), set the integration date, and save them as the app's settings, as "
                        "Enable Integration does")


def _settings(args: argparse.Namespace) -> int:
    from .settings import home_settings_path, resolve_settings

    if args.save:
        from .settings import Settings
        from .sync.api import enable_integration

        Settings.from_yaml(args.save).validate()  # the file's own problems first, before connecting
        enable_integration(args.save, save_to=home_settings_path())
    source = resolve_settings(None)
    print(f"Settings in use: {source.describe()}")
    print(source.settings.to_yaml().rstrip())
    return EXIT_OK


# -- WORK data ------------------------------------------------------------------------------------------

def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--work-db", default=None, help="SQLAlchemy URL (default: the toolkit home's work.sqlite3)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--clients", type=int, default=300)
    p.add_argument("--invoices", type=int, default=1500)
    p.add_argument("--payments", type=int, default=1000)
    p.add_argument("--credit-notes", type=int, default=None, help="default: 1 per 100 invoices, at least 3")
    p.add_argument("--refunds", type=int, default=None, help="default: 1 per 250 invoices, at least 2")
    p.add_argument("--tax-kind", default="us-ast", choices=["us-ast", "us-manual", "uk", "ca", "au"],
                   help="the WORK tax rates of this company kind (the emulator's --company)")
    p.add_argument("--today", default="today", metavar="YYYY-MM-DD",
                   help="the day the demo is made for: its invoices spread over the 150 days up to it, so their "
                        "aging fills every bucket (default: today; 'fixed' keeps the dates of the integration date)")


def _demo(args: argparse.Namespace) -> int:
    from datetime import date

    from .errors import ConfigError
    from .work.demo import generate_demo
    from .work.store import WorkStore

    if args.today == "fixed":
        today = None
    elif args.today == "today":
        today = date.today()
    else:
        try:
            today = date.fromisoformat(args.today)
        except ValueError:
            raise ConfigError(f"--today must be a date written YYYY-MM-DD, today or fixed, not {args.today!r}",
                              key="today") from None
    try:
        summary = generate_demo(WorkStore(args.work_db), seed=args.seed, clients=args.clients,
                                invoices=args.invoices, payments=args.payments, credit_notes=args.credit_notes,
                                refunds=args.refunds, tax_kind=args.tax_kind, today=today)
    except ValueError as exc:  # sizes the demo cannot be made with
        raise ConfigError(str(exc)) from None
    print(f"demo data: {summary.clients} clients, {summary.invoices} invoices, {summary.payments} payments, "
          f"{summary.credit_notes} credit notes ({summary.credit_applications} applications), "
          f"{summary.refunds} refunds")
    return EXIT_OK


def _import_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", choices=["clients", "invoices", "payments", "tax_rates", "credit_notes",
                                    "credit_applications", "refunds"])
    p.add_argument("file", help="CSV file; columns in docs/work-csv.md")
    p.add_argument("--store", "--work-db", dest="store", default=None,
                   help="SQLAlchemy URL of the WORK store (default: the toolkit home's work.sqlite3)")


def _import(args: argparse.Namespace) -> int:
    from .sync.imports import import_csv, row_message

    result = import_csv(args.store, args.kind, args.file)
    print(result)
    refused = result.report.errors
    for error in refused:
        print(f"  refused: {row_message(error)}")
    if refused:
        rows = len({e.line for e in refused})
        where = ("listed in the activity log" if result.run_id is not None else
                 "not in an activity log: no QuickBooks company is connected yet")
        problems = f", {len(refused)} problems" if len(refused) != rows else ""
        print(f"qbo-toolkit import: {rows} row(s) refused{problems} ({where}); fix them and import those rows "
              "again", file=sys.stderr)
        return EXIT_FINDINGS
    return EXIT_OK


# -- sync -----------------------------------------------------------------------------------------------

def _sync_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params", default=None, help="YAML parameters, as for the sync job: settings, work_db, "
                                                  "dry_run, wait, realm (checked strictly)")
    p.add_argument("--settings", default=None, help="a settings YAML (default: the app's settings)")
    p.add_argument("--work-db", default=None, help="SQLAlchemy URL of the WORK store")
    p.add_argument("--dry-run", action="store_true", help="show the plan, write nothing")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--wait", type=float, default=None, metavar="SECONDS",
                   help="when another sync of the company is running, wait up to this long for it (default: "
                        "stop at once with exit code 75)")
    p.add_argument("--job", default=None, help="how this run is named to other syncs and on the status screen "
                                               "(default: 'qbo-toolkit sync')")


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

    from .jobs.params import check_params, load_params
    from .jobs.sync import sync_verdict
    from .qbo.meter import budget_scope, get_meter
    from .settings import resolve_settings
    from .sync.api import run_sync
    from .sync.context import StopFlag

    params: dict[str, Any] = {}
    if args.params:
        params = check_params("sync", load_params(args.params), source=args.params, base=Path(args.params).parent)
    source = resolve_settings(args.settings or params.get("settings"), required=True)
    stop = StopFlag()
    _stop_on_signals(stop)
    with get_meter().tally() as tally, budget_scope(source.settings.meter.monthly_budget):
        result = run_sync(source, store=args.work_db or params.get("work_db"),
                          dry_run=args.dry_run or bool(params.get("dry_run", False)), progress=not args.no_progress,
                          wait=max(0.0, args.wait if args.wait is not None else float(params.get("wait", 0))),
                          job=args.job or "qbo-toolkit sync", stop=stop)
    print(result)
    print(f"settings: {source.describe()}")
    print(f"QuickBooks calls this run: {tally.metered:,} metered, {tally.unmetered:,} unmetered")
    for sentence in tally.warnings:  # a budget threshold this run crossed (once each)
        print(f"notice: {sentence}")
    findings, message = sync_verdict(result)
    if findings:
        print(f"qbo-toolkit sync: {message}", file=sys.stderr)
        return EXIT_FINDINGS
    return EXIT_OK


def _doctor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--work-db", default=None, help="SQLAlchemy URL of the WORK store")
    p.add_argument("--repair", action="store_true", help="repair what can be repaired safely (default: only report)")


def _doctor(args: argparse.Namespace) -> int:
    from .sync.doctor import doctor

    report = doctor(store=args.work_db, repair=args.repair)
    print(report)
    return EXIT_OK if report.consistent_after else EXIT_FINDINGS


# -- jobs -----------------------------------------------------------------------------------------------

def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("notebook", help="a job name (sync, reconcile) or a notebook path, e.g. notebooks/reconcile.ipynb")
    p.add_argument("--params", default=None, help="YAML parameters (checked strictly against the job)")
    p.add_argument("--output-root", default="output", help="dated run folders go here (default: ./output)")
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                   help="one more parameter, after the file's (read as the parameter's type)")


def _run_job(args: argparse.Namespace) -> int:
    import logging

    from .runner import run_notebook

    # papermill logs each cell's output (the sync's progress bar included) at INFO: show it
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("traitlets", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    outcome = run_notebook(args.notebook, args.params, output_root=args.output_root, pairs=args.param)
    if outcome.notebook and outcome.notebook.exists():
        print(f"executed notebook: {outcome.notebook}")
    for name in ("report.html", "reconciliation.xlsx", "summary.json"):
        if outcome.folder and (outcome.folder / name).exists():
            print(f"{name}: {outcome.folder / name}")
    message = outcome.summary.get("message") or outcome.error or ""
    print(f"{outcome.summary.get('job', 'job')}: {outcome.status} (exit {outcome.exit_code}): {message}")
    if outcome.exit_code != EXIT_OK:
        print(f"qbo-toolkit run: {message}", file=sys.stderr)
    return outcome.exit_code


def _reconcile_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--settings", default=None, help="a settings YAML (default: the app's settings)")
    p.add_argument("--work-db", default=None)
    p.add_argument("--as-of", default="today", help="YYYY-MM-DD, today, yesterday, last_month_end, ... (default today)")
    p.add_argument("--tolerance", default="0.00", help="money differences up to this are not differences")
    p.add_argument("--output-dir", default=None, help="write report.html, CSV, Excel and summary.json here")
    p.add_argument("--fresh", action="store_true",
                   help="read QuickBooks in full instead of the local mirror, and say what it cost")
    p.add_argument("--verify-mirror", action=argparse.BooleanOptionalAction, default=None,
                   help="verify the local mirror by counts per month, re-reading only the months that differ "
                        "(default: automatically, when its last verification is 7 days old; --no-verify-mirror: "
                        "never)")


def _reconcile(args: argparse.Namespace) -> int:
    from .jobs.reconcile import reconcile_job

    result = reconcile_job(settings=args.settings, work_db=args.work_db, as_of=args.as_of,
                           tolerance=args.tolerance, output_dir=args.output_dir, fresh=args.fresh,
                           verify_mirror=args.verify_mirror,
                           on_read=lambda read: print(read.text))
    print(result)
    if not result.in_agreement:
        print("qbo-toolkit reconcile: WORK and QuickBooks do not agree yet: see the report", file=sys.stderr)
        return EXIT_FINDINGS
    return EXIT_OK


def _signoff_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--period", default=None, help="the month signed off, YYYY-MM (its latest reconciliation run)")
    p.add_argument("--role", choices=["preparer", "reviewer"], default=None,
                   help="preparer signs first; reviewer after the preparer")
    p.add_argument("--who", default=None, help="who signs (a name or an e-mail address)")
    p.add_argument("--note", default="", help="a note kept with the sign-off")
    p.add_argument("--status", action="store_true",
                   help="show where each signed period stands (reopened when something in it changed); exit 1 "
                        "when one is reopened")
    p.add_argument("--explain", default=None, metavar="KEY",
                   help="attach --note by --who to the difference KEY of the latest run (kept while it persists)")
    p.add_argument("--work-db", default=None, help="SQLAlchemy URL of the WORK store")
    p.add_argument("--realm", default=None, help="the company's realm id (default: the connected company)")
    p.add_argument("--no-qbo-check", action="store_true",
                   help="do not ask QuickBooks which records dated in the period changed (4 metered queries)")


def _signoff(args: argparse.Namespace) -> int:
    from .recon.history import History, check_period
    from .recon.signoff import SignOff
    from .work.store import WorkStore

    client = None
    realm = args.realm
    if not args.no_qbo_check:
        from .connection import connection

        conn = connection(realm)
        realm, client = conn.realm_id, conn.client
    elif realm is None:
        from .connection import Binding

        binding = Binding.load()
        if binding is None:
            print("qbo-toolkit signoff: no company is connected: give --realm with --no-qbo-check", file=sys.stderr)
            return EXIT_ERROR
        realm = binding.realm_id
    history = History(WorkStore(args.work_db), realm)
    signoff = SignOff(history)
    if args.explain:
        note = history.explain(args.explain, args.who or "", args.note)
        print(f"explained {note['key']} ({note['who']}): {note['text']}")
        return EXIT_OK
    if args.status or not args.role:
        periods = [signoff.status(check_period(args.period), client=client)] if args.period else \
            [signoff.status(s.period, client=client) for s in signoff.periods()]
        for status in periods:
            print(status.sentence)
            for change in status.changes:
                print(f"  - {change}")
        if not periods:
            print("no period is signed off yet")
        return EXIT_FINDINGS if any(s.state == "reopened" for s in periods) else EXIT_OK
    if not args.period or not args.who:
        print("qbo-toolkit signoff: signing needs --period YYYY-MM, --role and --who", file=sys.stderr)
        return EXIT_ERROR
    status = signoff.sign(args.period, args.role, args.who, args.note, client=client)
    print(status.sentence)
    return EXIT_OK


def _app_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=0, help="0: any free port")


def _app(args: argparse.Namespace) -> int:
    from .app_server import main as app_main

    return app_main(["--port", str(args.port)])


#: every subcommand: name, help, its arguments, what it runs
COMMANDS: tuple[Command, ...] = (
    Command("emulator", "run the offline QuickBooks Online emulator (or stop the ones started in the background)",
            _emulator_args, _emulator),
    Command("connect", "connect to a QuickBooks company (opens the authorization page)", _connect_args, _connect),
    Command("status", "show the stored connection", lambda p: None, _status),
    Command("disconnect", "revoke the connection and forget its tokens (history is kept)", lambda p: None,
            _disconnect),
    Command("settings", "show the settings every job uses (the app's), or --save FILE as the app's", _settings_args,
            _settings),
    Command("demo-data", "load the deterministic demo business into the WORK store", _demo_args, _demo),
    Command("import", "load a clients, invoices or payments CSV file into the WORK store", _import_args, _import),
    Command("sync", "run the sync once (initial the first time, incremental after)", _sync_args, _sync),
    Command("doctor", "check the id map against QuickBooks and the WORK store; --repair mends what it safely can",
            _doctor_args, _doctor),
    Command("run", "run a job notebook (sync, reconcile) with papermill into a dated folder", _run_args, _run_job),
    Command("reconcile", "reconcile WORK and QBO without a notebook", _reconcile_args, _reconcile),
    Command("signoff", "sign off a period's reconciliation (preparer, then reviewer), or --status: reopened periods "
            "and what changed", _signoff_args, _signoff),
    Command("app", "serve the screens (notebooks/app.ipynb) with Voila on a loopback port", _app_args, _app),
)

EPILOG = """exit codes: 0 ok; 1 findings (records failed or refused, differences, problems left); 2 usage or input
error (nothing written); 3 environment failure (QuickBooks connection, WORK store corrupt, disk full);
70 internal error (see the log file named); 75 try again later (another sync running, store locked,
QuickBooks unavailable); 130/143 interrupted (run it again to continue)"""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="qbo-toolkit", description="Connect WORK to QuickBooks Online.", epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"qbo-toolkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        command.arguments(p)
        p.set_defaults(handler=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except SystemExit:
        raise
    except BaseException as exc:
        from .errors import QboToolkitError

        if debug() and not isinstance(exc, KeyboardInterrupt | QboToolkitError):
            raise
        failure = classify(exc, f"qbo-toolkit {args.command}")
        print(f"qbo-toolkit {args.command}: {failure.message}", file=sys.stderr)
        return failure.code


if __name__ == "__main__":
    sys.exit(main())
