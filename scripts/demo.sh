#!/usr/bin/env bash
# make demo: start the emulator, load the demo business into a WORK store, connect, save the demo's
# settings as the app's (as Enable Integration does), and run the sync and reconciliation jobs.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/.venv/bin
OUT=$PWD/artifacts/demo/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT/home"
INFO="$OUT/emulator.json"
export QBO_TOOLKIT_HOME="$OUT/home"     # the demo's tokens and state stay inside its output folder
export QBO_EMULATOR_INFO="$INFO"
WORK_DB="sqlite:///$OUT/home/work.sqlite3"   # the toolkit home's store: the notebooks use it by default
# QBO's limits (40 batch requests a minute) run 30x faster in the demo; the client's limiter follows.
TIME_SCALE=${QBO_DEMO_TIME_SCALE:-30}

"$BIN/qbo-toolkit" emulator --port 0 --auto-approve --time-scale "$TIME_SCALE" --data-dir "$OUT/emulator-data" \
    --reset --info-file "$INFO" > "$OUT/emulator.log" 2>&1 &
EMU_PID=$!
trap 'kill $EMU_PID 2>/dev/null || true; wait $EMU_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s "$INFO" ] && break; sleep 0.1; done
[ -s "$INFO" ] || { echo "the emulator did not start; see $OUT/emulator.log" >&2; exit 2; }
echo "emulator: $("$BIN/python" -c 'import json,sys; i=json.load(open(sys.argv[1])); print(i["base_url"], "realm", i["realm_id"])' "$INFO")"

"$BIN/qbo-toolkit" demo-data --work-db "$WORK_DB"
"$BIN/qbo-toolkit" connect --headless
"$BIN/qbo-toolkit" settings --save parameters/settings.demo.yaml
# the sync, then the reconciliation, each through papermill into a dated folder
QUIET="Kernel is running over TCP\|^Executing\|^Ending\|^Input Notebook\|^Output Notebook"
set +e
"$BIN/qbo-toolkit" run sync --params parameters/sync.demo.yaml --output-root "$OUT/runs" 2>&1 | grep -v "$QUIET"
# the accountant's month-end close (as of the last day of last month), then a re-run as of today: the
# history (kept in the WORK store) makes the second report say what is new, persisting and resolved
echo "reconciliation as of the last month end:"
"$BIN/qbo-toolkit" run reconcile --params parameters/reconcile.demo.yaml -p as_of=last_month_end \
    --output-root "$OUT/runs/close" 2>&1 | grep -v "$QUIET\|<\|^\s*$"
echo "reconciliation re-run as of today:"
"$BIN/qbo-toolkit" run reconcile --params parameters/reconcile.demo.yaml --output-root "$OUT/runs" \
    2>&1 | grep -v "$QUIET\|<\|^\s*$"
set -e
echo
echo "sync notebook:     $(ls "$OUT"/runs/sync-*/sync.ipynb)"
echo "month-end report:  $(ls "$OUT"/runs/close/reconcile-*/report.html)"
echo "reconcile notebook: $(ls "$OUT"/runs/reconcile-*/reconcile.ipynb)"
echo "HTML report:       $(ls "$OUT"/runs/reconcile-*/report.html) (summary page first, with what is new since the month-end run; print it from the browser for a PDF)"
echo "WORK store:        $OUT/home/work.sqlite3 (activity log in its sync_activity table)"
