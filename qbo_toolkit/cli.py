"""The ``qbo-toolkit`` command. Errors become a sentence and an exit code here, in one place.

Exit codes: 0 ok, 1 differences found (reconciliation jobs), 2 error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__
from .errors import AuthError, ConfigError, QboError, QboToolkitError


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

    sub.add_parser("status", help="show the stored connection")
    sub.add_parser("disconnect", help="revoke the connection and forget its tokens (history is kept)")
    return parser


def _run(args: argparse.Namespace) -> int:
    if args.command == "emulator":
        from .emulator import cli as emulator_cli

        return emulator_cli.run(args)
    from .connection import connect, connection, disconnect

    if args.command == "connect":
        conn = connect(args.environment, open_browser=not args.no_browser, timeout=args.timeout, reset=args.reset)
        print(f"Connected to {conn.company_name} (realm {conn.realm_id}, {conn.environment}).")
        return 0
    if args.command == "status":
        conn = connection()
        print(f"Connected to {conn.company_name} (realm {conn.realm_id}, {conn.environment}).")
        return 0
    if args.command == "disconnect":
        print(disconnect().message)
        return 0
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        return 130
    except (AuthError, ConfigError, QboError, QboToolkitError) as exc:
        print(f"qbo-toolkit: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
