#!/usr/bin/env bash
# End-to-end acceptance: the release binaries, as a user runs them. Mock upstreams (acceptance
# profile) + analyze-server, scaled and then legacy, each under the same short `loadgen ramp`.
# Asserts, from the outside, what the ticket promises:
#   - the scaled server keeps every request successful up to its capacity (SLO gate, exit 0),
#   - past capacity it sheds with 503 instead of failing, and mock Claude never sees more than N,
#   - the Trading API sees a bounded number of connections (pooling), legacy one per call.
# Then writes the capacity reports (scaled, legacy, compare) into reports/acceptance/ and runs
# `make plan` on the same profile: the server at N=4 (below the tier) ramped with --scrape, the
# report's recommendation (which must go past 4: the provider tier, not the server, is the limit)
# applied to a restarted server and measured at the recommended load and with the queue full;
# goodput within 15% of the prediction and every objective met, or the acceptance fails.
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
curl -sf http://127.0.0.1:$SP/metrics > "$RUN/legacy-metrics.prom"
stop_server

python3 scripts/acceptance_check.py "$RUN" "$N"
# loadgen's HdrHistogram log, read by the PyPI hdrhistogram package (make's venv)
${PYTHON:-.venv/bin/python} scripts/check_hdrlog.py "$RUN/scaled.hdrlog" "$RUN/scaled.json"

echo "== capacity reports → $REPORTS/"
rm -rf "$REPORTS"
mkdir -p "$REPORTS"
$BIN/loadgen report "$RUN/scaled.csv" --out-dir "$REPORTS/scaled" --slo "p99<$P99_SLO" --slo 'success>=99%'
$BIN/loadgen report "$RUN/legacy.csv" --out-dir "$REPORTS/legacy" --slo "p99<$P99_SLO" --slo 'success>=99%'
$BIN/loadgen compare "$RUN/legacy.csv" "$RUN/scaled.csv" --out-dir "$REPORTS/compare"

echo "== the recommendation, checked (make plan on the acceptance profile): the server at N=$N, below"
echo "   the tier, is ramped with --scrape; the report recommends past N from the tier the provider"
echo "   reported; the server restarted with it is measured at the recommended load and with the queue full"
echo "   (one request body, fixed replies, closed loop: make plan checks the dataset and Poisson arrivals)"
stop_all
PLAN_PROFILE=mocks/profiles/acceptance.toml PLAN_N=$N PLAN_STEPS=1,2,3,$N,$((N + N / 2)),$((2 * N)) \
PLAN_STEP_DURATION=4s PLAN_WARMUP=1s PLAN_CHECK_DURATION=6s P99_SLO=$P99_SLO \
PLAN_BODIES= PLAN_REPLY= PLAN_OPEN_LOOP=0 \
PLAN_PORTS="${ACCEPTANCE_PLAN_PORTS:-19104 19204 18004}" RUN="$RUN/plan" \
  bash scripts/plan.sh
read -r REC_N BASIS < <(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
r = s["recommended"]
if r is None:
    sys.exit("FAIL  the report made no recommendation: " + str(s.get("recommendation_withheld")))
print(r["max_concurrent_analyses"], r["basis"])
' "$RUN/plan/report/summary.json")
if [ "$REC_N" -le "$N" ]; then
  echo "FAIL  the recommendation ($REC_N) does not go past the tested server's N=$N although the tier allows more"
  exit 1
fi
cp -r "$RUN/plan/report" "$REPORTS/plan"
echo "acceptance: the recommendation (N=$REC_N, $BASIS, from a run at N=$N) holds (reports in $REPORTS/)"
