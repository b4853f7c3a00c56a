"""Command line of the emulator (``qbo-toolkit emulator``), kept inside the emulator package."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .kinds import DEFAULT_KIND, KIND_NAMES

if TYPE_CHECKING:
    from .server import EmulatorConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8760, help="TCP port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--data-dir", default=None, help="keep state in SQLite here (default: in memory)")
    parser.add_argument("--reset", action="store_true", help="start from the seed company, dropping saved state")
    parser.add_argument("--info-file", default=None, help="also write the JSON info line to this file")
    parser.add_argument("--auto-approve", action="store_true",
                        help="the consent page approves at once (headless demos and tests)")
    parser.add_argument("--redirect-uri", action="append", default=None,
                        help="a redirect URI registered for the demo client (repeatable)")
    parser.add_argument("--realm-id", default=None)
    parser.add_argument("--company", default=DEFAULT_KIND, choices=KIND_NAMES, metavar="KIND",
                        help="the kind of company: us-ast (default: US with automated sales tax), us-manual "
                             "(US, one tax code per sale), uk, ca or au (VAT/GST codes on every line); a data dir "
                             "keeps its kind (another one needs --reset)")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="limits and injected latency run this many times faster than real time")
    parser.add_argument("--no-throttle", action="store_true", help="turn QBO's rate limits off")
    parser.add_argument("--latency", type=float, default=0.0, help="mean injected latency, scaled seconds")
    parser.add_argument("--jitter", type=float, default=0.0, help="latency jitter, scaled seconds")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered 500/503")
    parser.add_argument("--throttle-rate", type=float, default=0.0, help="share of requests answered 429")
    parser.add_argument("--drop-rate", type=float, default=0.0, help="share of connections dropped")
    parser.add_argument("--lost-reply-rate", type=float, default=0.0,
                        help="share of requests that run and then lose their reply")
    parser.add_argument("--batch-item-delay", type=float, default=0.0,
                        help="scaled seconds slept before each batch item runs (to kill a batch mid-way)")
    parser.add_argument("--expire-after-requests", type=int, default=None,
                        help="access tokens expire after this many data requests")
    parser.add_argument("--access-ttl", type=float, default=3600)
    parser.add_argument("--refresh-ttl", type=float, default=8726400)
    parser.add_argument("--seed", type=int, default=1, help="seed of the injected faults")


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    kwargs: dict[str, Any] = dict(
        port=args.port, data_dir=args.data_dir, reset=args.reset, info_file=args.info_file,
        auto_approve=args.auto_approve, time_scale=args.time_scale, throttle=not args.no_throttle,
        latency_mean=args.latency, latency_jitter=args.jitter, error_rate=args.error_rate,
        throttle_rate=args.throttle_rate, drop_rate=args.drop_rate, lost_reply_rate=args.lost_reply_rate,
        batch_item_delay=args.batch_item_delay, company_kind=args.company,
        expire_after_requests=args.expire_after_requests, access_ttl=args.access_ttl,
        refresh_ttl=args.refresh_ttl, seed=args.seed,
    )
    if args.redirect_uri:
        kwargs["redirect_uris"] = tuple(args.redirect_uri)
    if args.realm_id:
        kwargs["realm_id"] = args.realm_id
    from .server import EmulatorConfig

    return EmulatorConfig(**kwargs)


def run(args: argparse.Namespace) -> int:
    try:
        from .server import EmulatorServer

        server = EmulatorServer(config_from_args(args))
    except ValueError as exc:  # a data dir of another company kind: say so, no traceback
        print(f"qbo-toolkit emulator: {exc}", file=sys.stderr)
        return 2
    # one JSON line describing the emulator, so scripts can connect without reading code; with an
    # info file (mode 0600) the client secret stays there, out of the logs stdout ends up in
    info = dict(server.info)
    if args.info_file:
        info["client_secret"] = "*** (in the info file)"  # noqa: S105 - a mask, not a secret
    print(json.dumps(info), flush=True)

    def _stop(signum: int, frame: object) -> None:
        # graceful: requests already dispatched finish and are answered, then the store closes
        # (raising here instead would unwind the main thread while request threads still write)
        server.request_stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server.serve_forever()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qbo-toolkit emulator", description="Run the offline QBO emulator.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
