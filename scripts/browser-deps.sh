#!/usr/bin/env bash
# Install what the browser tests (tests/browser/) need, idempotently: Debian's Chromium (only when
# /usr/bin/chromium is missing) and Voila + Playwright in the project's .venv.
# Never runs `playwright install`: it downloads a browser, which fails on these machines; the tests
# launch /usr/bin/chromium through Playwright's executable_path instead.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${VENV:-.venv}"
PY="$VENV/bin/python"

if [ ! -x /usr/bin/chromium ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    echo "browser-deps: installing Debian's chromium"
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium
else
    echo "browser-deps: chromium present ($(/usr/bin/chromium --version 2>/dev/null || echo '?'))"
fi

if [ ! -x "$PY" ]; then
    echo "browser-deps: $PY not found; create the venv first (python3 -m venv $VENV)" >&2
    exit 1
fi

if "$PY" -c "import voila, playwright" 2>/dev/null; then
    echo "browser-deps: voila and playwright present in $VENV"
else
    echo "browser-deps: installing voila and playwright into $VENV (no browser download)"
    "$PY" -m pip install --quiet voila playwright
fi
