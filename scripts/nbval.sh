#!/usr/bin/env bash
# nbval over notebooks/: every notebook executes headless (lax mode) against a fresh emulator, a
# connected company and a synced demo WORK store, with ids and times sanitized.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/.venv/bin
TMP=$(mktemp -d)
export QBO_TOOLKIT_HOME="$TMP/home"
export QBO_EMULATOR_INFO="$TMP/emulator.json"
"$BIN/qbo-toolkit" emulator --port 0 --auto-approve --time-scale 60 --info-file "$QBO_EMULATOR_INFO" \
    > "$TMP/emulator.log" 2>&1 &
EMU_PID=$!
trap 'kill $EMU_PID 2>/dev/null || true; wait $EMU_PID 2>/dev/null || true; rm -rf "$TMP"' EXIT
for _ in $(seq 1 100); do [ -s "$QBO_EMULATOR_INFO" ] && break; sleep 0.1; done
"$BIN/qbo-toolkit" demo-data --clients 40 --invoices 80 --payments 50 > /dev/null
"$BIN/qbo-toolkit" connect --headless > /dev/null
"$BIN/qbo-toolkit" settings --save parameters/settings.demo.yaml > /dev/null   # as Enable Integration does
# the demo data leaves customer matches waiting for a decision: exit 1 (findings) is expected here
"$BIN/qbo-toolkit" sync --params parameters/sync-cli.demo.yaml --no-progress > /dev/null 2>&1 || [ $? -eq 1 ]
"$BIN/pytest" -q -p no:cacheprovider --nbval-lax --nbval-current-env \
    --nbval-sanitize-with tests/notebooks/nbval-sanitize.cfg notebooks/
