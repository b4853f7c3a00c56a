#!/usr/bin/env bash
# make demo: start the emulator, run the demo notebook through papermill, print where the output is.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
OUT=artifacts/demo/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
INFO="$OUT/emulator.json"

$BIN/qbo-toolkit emulator --port 0 --auto-approve --data-dir "$OUT/emulator-data" --reset \
    --info-file "$INFO" > "$OUT/emulator.log" 2>&1 &
EMU_PID=$!
trap 'kill $EMU_PID 2>/dev/null || true; wait $EMU_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s "$INFO" ] && break; sleep 0.1; done
[ -s "$INFO" ] || { echo "the emulator did not start; see $OUT/emulator.log" >&2; exit 2; }
echo "emulator: $(cat "$INFO" | $BIN/python -c 'import json,sys; i=json.load(sys.stdin); print(i["base_url"], "realm", i["realm_id"])')"

$BIN/papermill --log-output -k python3 notebooks/connect_demo.ipynb "$OUT/connect_demo.ipynb" \
    -p emulator_info "$PWD/$INFO"
echo
echo "executed notebook: $OUT/connect_demo.ipynb"
