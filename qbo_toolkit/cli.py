"""The ``qbo-toolkit`` command. One place maps errors to exit codes (0 ok, 1 differences, 2 error)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qbo-toolkit", description=__doc__)
    parser.add_argument("--version", action="version", version=f"qbo-toolkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    from .emulator import cli as emulator_cli

    emu = sub.add_parser("emulator", help="run the offline QuickBooks Online emulator")
    emulator_cli.add_arguments(emu)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "emulator":
            from .emulator import cli as emulator_cli

            return emulator_cli.run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the boundary: a sentence, not a traceback
        print(f"qbo-toolkit: error: {exc}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
