#!/usr/bin/env bash
# make demo-users — "how many users can we take?", asked in users and checked by a re-run:
#   1. mocks (demo profile) + analyze-server with USERS_N fixed permits;
#   2. a ramp of users to USERS_TO with an exponential think time over the mix in
#      scripts/scenarios/users-mix.toml (mostly /health and /metrics reads, 10% /analyze), with
#      --scrape of the server's /metrics;
#   3. the capacity report's "How many users": the measured largest user count meeting the
#      objectives, and the fitted model's predicted count at the run's think time;
#   4. a re-run at the predicted user count, and `loadgen verify users`: users-verify.md / .json
#      beside the report, predicted against measured throughput and analyze p99. Exits non-zero
#      when either is more than 15% (report::verify::TOLERANCE) off or an objective fails at the
#      predicted count.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/procs.sh

BIN=target/release
USERS_N=${USERS_N:-10}
THINK=${USERS_THINK:-exp:10s}
STEPS=${USERS_STEPS:-100,250,400,550,700,850,1000}
STEP_DURATION=${USERS_STEP_DURATION:-30s}
WARMUP=${USERS_WARMUP:-10s}
CHECK_DURATION=${USERS_CHECK_DURATION:-60s}
ANALYZE_SLO=${ANALYZE_SLO:-5s}
SCENARIO=scripts/scenarios/users-mix.toml
RUN=${RUN:-reports/runs/users-$(date -u +%Y%m%dT%H%M%SZ)}
read -r CP TP SP <<< "${USERS_PORTS:-19104 19204 18004}"
mkdir -p "$RUN"
for p in $CP $TP $SP; do port_free "$p"; done
# 1000 users keep 1000 connections open, on both sides of loopback.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

start mocks "$RUN/mocks.log" $BIN/mocks all --profile mocks/profiles/demo.toml --claude-port "$CP" --trading-port "$TP"
wait_http "http://127.0.0.1:$CP/__stats"
wait_http "http://127.0.0.1:$TP/__stats"

run_server() {
  PORT=$SP TRADING_API_BASE_URL=http://127.0.0.1:$TP ANTHROPIC_BASE_URL=http://127.0.0.1:$CP \
  ANTHROPIC_API_KEY=mock-key CONCURRENCY_LIMIT=fixed MAX_CONCURRENT_ANALYSES=$USERS_N \
  MAX_QUEUE_DEPTH=200 QUEUE_TIMEOUT_MS=20000 RATE_LIMIT_PER_MINUTE=0 MAX_CONNECTIONS_PER_IP=0 LOG_FORMAT=json \
    start "analyze-server (N=$USERS_N)" "$RUN/server-$1.log" $BIN/analyze-server
  SERVER_PID=${STARTED_PIDS[-1]}
  wait_http "http://127.0.0.1:$SP/health"
}
stop_server() { kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; }
reset_mocks() {
  curl -sf -X POST "http://127.0.0.1:$CP/__admin/reset" >/dev/null
  curl -sf -X POST "http://127.0.0.1:$TP/__admin/reset" >/dev/null
}
BASE=http://127.0.0.1:$SP/
SLOS=(--slo "analyze:p99<$ANALYZE_SLO" --slo 'success>=99%')

echo "== ramp: $STEPS users, think time $THINK, MAX_CONCURRENT_ANALYSES=$USERS_N"
run_server ramp
reset_mocks
$BIN/loadgen ramp --url "$BASE" --scenario "$SCENARIO" --think-time "$THINK" --steps "$STEPS" \
  --step-duration "$STEP_DURATION" --warmup "$WARMUP" --timeout 30s \
  --scrape "http://127.0.0.1:$SP/metrics" --out "$RUN/ramp.csv" --json "$RUN/ramp.json" --quiet || true
curl -sf "http://127.0.0.1:$SP/metrics" > "$RUN/server-metrics.prom"
stop_server

$BIN/loadgen report "$RUN/ramp.csv" --out-dir "$RUN/report" "${SLOS[@]}" || true
read -r USERS PREDICTED P99 < <(python3 -c '
import json, sys
u = json.load(open(sys.argv[1]))["users"]
p = u["predictions"][0]
if not u.get("model") or p["users_at_objective"] is None:
    sys.exit("no prediction: " + str(u.get("unfitted")))
print(p["users_at_objective"], p["at_objective"]["throughput_rps"], p["predicted_latency_ms"])
' "$RUN/report/summary.json")
echo "== predicted: $USERS users meet analyze:p99<$ANALYZE_SLO at $PREDICTED/s; re-running them"

run_server check
reset_mocks
$BIN/loadgen run --url "$BASE" --scenario "$SCENARIO" --think-time "$THINK" -c "$USERS" \
  -d "$CHECK_DURATION" --warmup "$WARMUP" --timeout 30s "${SLOS[@]}" \
  --out "$RUN/predicted.csv" --json "$RUN/predicted.json" --quiet || true
stop_server

$BIN/loadgen verify users --report "$RUN/report" --predicted "$RUN/predicted.csv"
