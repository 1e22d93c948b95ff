#!/usr/bin/env bash
# make check-dashboard: two short runs of make demo-live's stack (mocks, analyze-server, a real
# Prometheus scraping the server and loadgen every second), each watched by headless Chromium
# (scripts/check_dashboard.py):
#   1. a 3-step ramp: the page updates, its numbers agree with the run's time series and CSV, it
#      requests nothing outside 127.0.0.1, a screenshot is kept; promtool accepts loadgen's
#      /metrics; Prometheus's totals equal the CSV's.
#   2. a long step stopped with the page's Stop button: exit 130 and a complete CSV (the cut step
#      written, interrupted, every request in flight drained and counted); the totals again equal.
# Ports are its own (not make demo's), so it can run beside a demo.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/procs.sh
PY=${PY:-.venv/bin/python}
for tool in chromium prometheus promtool; do
  command -v $tool >/dev/null || { echo "error: $tool not found (apt-get install chromium prometheus)" >&2; exit 1; }
done
OUT=target/check-dashboard
rm -rf "$OUT"; mkdir -p "$OUT"
export DEMO_PORTS="19101 19102 19103" DASHBOARD_PORT=19104 LOADGEN_METRICS_PORT=19105 PROMETHEUS_PORT=19106
export PY

# promtool on loadgen's own exposition, read once the first step is under way.
(
  for _ in $(seq 1 200); do
    if curl -sf "http://127.0.0.1:$LOADGEN_METRICS_PORT/metrics" -o "$OUT/loadgen-metrics.prom" \
       && grep -q 'loadgen_requests_total{.*outcome="ok".*} [1-9]' "$OUT/loadgen-metrics.prom"; then
      exit 0
    fi
    sleep 0.2
  done
  exit 1
) &
PROMCHECK=$!
STARTED_PIDS+=("$PROMCHECK")

echo "== 1. watch a ramp"
RUN="$OUT/watch" RAMP_ARGS="--steps 2,5,10 --step-duration 5s --warmup 1s --timeout 10s" \
LIVE_BROWSER="$PY scripts/check_dashboard.py watch --run $OUT/watch --screenshot $OUT/watch/dashboard.png" \
  bash scripts/demo_live.sh
wait "$PROMCHECK" || { echo "error: no /metrics with served requests was read from loadgen" >&2; exit 1; }
promtool check metrics < "$OUT/loadgen-metrics.prom"
echo "promtool check metrics: loadgen's /metrics passes"

echo "== 2. Stop from the page"
status=0
RUN="$OUT/stop" RAMP_ARGS="--steps 5 --step-duration 120s --warmup 1s --timeout 10s" \
LIVE_BROWSER="$PY scripts/check_dashboard.py stop --run $OUT/stop" \
  bash scripts/demo_live.sh || status=$?
[ "$status" = 130 ] || { echo "error: the run stopped from the page exited $status, not 130" >&2; exit 1; }
$PY - "$OUT/stop/ramp.csv" <<'PYEOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
assert len(rows) == 1, f"one step row, got {len(rows)}"
r = rows[0]
assert r["interrupted"] == "true", r
assert r["in_flight_at_end"] == "0", f"requests in flight were not drained: {r['in_flight_at_end']}"
parts = ["ok", "rejected_429", "rejected_503", "other_4xx", "other_5xx", "timeouts",
         "connect_errors", "io_errors", "other_status", "in_flight_at_end"]
assert int(r["requests"]) == sum(int(r[c]) for c in parts) > 0, r
print(f"stopped run: exit 130, CSV complete: {r['requests']} requests, all resolved and counted")
PYEOF
echo "check-dashboard: OK (screenshot $OUT/watch/dashboard.png)"
