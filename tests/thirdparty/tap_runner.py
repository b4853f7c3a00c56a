"""Run the Singer tap ``tap-quickbooks`` against a base URL of our choosing (run by its own venv's python).

Usage: python tap_runner.py API_BASE TOKEN_URL [tap arguments ...]

The tap knows two hosts (production and sandbox) as module constants of ``tap_quickbooks.client``; this
sets them to the emulator's (``API_BASE`` is ``http://127.0.0.1:PORT``, the tap appends ``/v3/company/...``)
and then calls the tap's own ``main()``. Its code is not changed. One harness choice: the tap waits 60 s
between its retries of a refused request (backoff); sleeps are capped at 50 ms here so a refusal shows
in seconds instead of minutes. The retries themselves still happen.
"""

from __future__ import annotations

import sys
import time

_sleep = time.sleep


def _short_sleep(seconds: float) -> None:
    _sleep(min(seconds, 0.05))


def main() -> None:
    time.sleep = _short_sleep
    import tap_quickbooks
    import tap_quickbooks.client as client

    client.PROD_ENDPOINT_BASE = sys.argv.pop(1)
    client.TOKEN_REFRESH_URL = sys.argv.pop(1)
    tap_quickbooks.main()


if __name__ == "__main__":
    main()
