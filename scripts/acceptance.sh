#!/usr/bin/env bash
# End-to-end acceptance: the release binaries, as a user runs them. Mock upstreams (acceptance
# profile) + analyze-server, scaled and then legacy, each under the same short `loadgen ramp`.
# Asserts, from the outside, what the ticket promises:
#   - the scaled server keeps every request successful up to its capacity (SLO gate, exit 0),
#   - past capacity it sheds with 503 instead of failing, and mock Claude never sees more than N,
#   - the Trading API sees a bounded number of connections (pooling), legacy one per call.
# Then writes the capacity reports (scaled, legacy, compare) into reports/acceptance/ and checks
# the scaled report's recommendation: the server restarted with the recommended settings, one
# step at the recommended load must meet the objectives and land within 15% of the predicted
# goodput.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/procs.sh

BIN=target/release
RUN=${RUN:-reports/runs/acceptance-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$RUN"
# ACCEPTANCE_PORTS="CLAUDE TRADING SERVER" moves all three (to run beside another acceptance).
read -r CP TP SP <<< "${ACCEPTANCE_PORTS:-19102 19202 18002}"
N=4 QUEUE=4 QUEUE_TIMEOUT_MS=10000
REPORTS=${REPORTS:-reports/acceptance}
# The latency objective of the reports and of the recommendation check.
P99_SLO=${P99_SLO:-2s}
for p in $CP $TP $SP; do port_free $p; done

start mocks "$RUN/mocks.log" $BIN/mocks all --profile mocks/profiles/acceptance.toml \
  --claude-port $CP --trading-port $TP
wait_http http://127.0.0.1:$CP/__stats
wait_http http://127.0.0.1:$TP/__stats

# run_server MODE — start analyze-server (scaled|legacy) on $SP with $N permits, $QUEUE queue.
run_server() {
  local legacy=false; [ "$1" = legacy ] && legacy=true
  PORT=$SP TRADING_API_BASE_URL=http://127.0.0.1:$TP ANTHROPIC_BASE_URL=http://127.0.0.1:$CP \
  ANTHROPIC_API_KEY=mock-key MAX_CONCURRENT_ANALYSES=$N MAX_QUEUE_DEPTH=$QUEUE QUEUE_TIMEOUT_MS=$QUEUE_TIMEOUT_MS \
  RATE_LIMIT_PER_MINUTE=100000 LEGACY_MODE=$legacy LOG_FORMAT=json \
    start "analyze-server ($1)" "$RUN/server-$1.log" $BIN/analyze-server
  SERVER_PID=${STARTED_PIDS[-1]}
  wait_http http://127.0.0.1:$SP/health
}
stop_server() { kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; }
reset_mocks() {
  curl -sf -X POST http://127.0.0.1:$CP/__admin/reset >/dev/null
  curl -sf -X POST http://127.0.0.1:$TP/__admin/reset >/dev/null
}

ramp() { # ramp MODE [extra loadgen flags]
  local mode=$1; shift
  $BIN/loadgen ramp --url http://127.0.0.1:$SP/analyze --steps 1,2,3,$N,$((N + N / 2)),$((2 * N)),$((4 * N)) \
    --step-duration 4s --warmup 1s --out "$RUN/$mode.csv" --json "$RUN/$mode.json" "$@"
}

echo "== scaled: N=$N, queue $QUEUE; gate: success >= 99% up to concurrency $N"
run_server scaled
reset_mocks
ramp scaled --slo 'success>=99%' --slo-until $N --hdr-log "$RUN/scaled.hdrlog"
curl -sf http://127.0.0.1:$CP/__stats > "$RUN/scaled-claude.json"
curl -sf http://127.0.0.1:$TP/__stats > "$RUN/scaled-trading.json"
curl -sf http://127.0.0.1:$SP/metrics > "$RUN/scaled-metrics.prom"
stop_server

echo "== legacy: no limits, a new Trading API connection per call"
run_server legacy
reset_mocks
ramp legacy
curl -sf http://127.0.0.1:$CP/__stats > "$RUN/legacy-claude.json"
curl -sf http://127.0.0.1:$TP/__stats > "$RUN/legacy-trading.json"
stop_server

python3 scripts/acceptance_check.py "$RUN" "$N"
# loadgen's HdrHistogram log, read by the PyPI hdrhistogram package (make's venv)
${PYTHON:-.venv/bin/python} scripts/check_hdrlog.py "$RUN/scaled.hdrlog" "$RUN/scaled.json"

echo "== capacity reports → $REPORTS/"
rm -rf "$REPORTS"
mkdir -p "$REPORTS"
$BIN/loadgen report "$RUN/scaled.csv" --out "$REPORTS/scaled" --slo "p99<$P99_SLO" --slo 'success>=99%'
$BIN/loadgen report "$RUN/legacy.csv" --out "$REPORTS/legacy" --slo "p99<$P99_SLO" --slo 'success>=99%'
$BIN/loadgen compare "$RUN/legacy.csv" "$RUN/scaled.csv" --out "$REPORTS/compare"

echo "== the recommendation, checked: restart with the recommended settings, one step at N"
read -r N QUEUE QUEUE_TIMEOUT_MS PREDICTED < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["recommended"]
print(r["max_concurrent_analyses"], r["max_queue_depth"], r["queue_timeout_ms"], r["predicted_goodput_rps"])
' "$REPORTS/scaled/summary.json")
echo "recommended: MAX_CONCURRENT_ANALYSES=$N MAX_QUEUE_DEPTH=$QUEUE QUEUE_TIMEOUT_MS=$QUEUE_TIMEOUT_MS, predicted goodput $PREDICTED/s"
run_server scaled
reset_mocks
check_status=0
$BIN/loadgen run --url http://127.0.0.1:$SP/analyze --concurrency "$N" --duration 6s --warmup 1s \
  --slo "p99<$P99_SLO" --slo 'success>=99%' \
  --out "$RUN/recommended.csv" --json "$RUN/recommended.json" || check_status=$?
stop_server
python3 - "$RUN/recommended.csv" "$PREDICTED" "$check_status" <<'PY'
import csv, sys
row = list(csv.DictReader(open(sys.argv[1])))[-1]
measured, predicted, status = float(row["goodput_rps"]), float(sys.argv[2]), int(sys.argv[3])
off = abs(measured - predicted) / predicted
print(f"recommended load: measured goodput {measured:.2f}/s vs predicted {predicted:.2f}/s ({off:.1%} off), "
      f"success {float(row['success_rate']):.2%}, p99 {float(row['p99_ms']):.0f} ms")
failed = []
if off > 0.15:
    failed.append(f"measured goodput {measured:.2f}/s is more than 15% from the predicted {predicted:.2f}/s")
if status != 0:
    failed.append(f"an objective failed at the recommended load (loadgen exit {status})")
for f in failed:
    print("FAIL  " + f)
sys.exit(1 if failed else 0)
PY
echo "acceptance: the recommendation holds (reports in $REPORTS/)"
