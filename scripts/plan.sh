#!/usr/bin/env bash
# make plan — the capacity report's recommendation, checked by runs that can fail:
#   1. mocks + analyze-server at the configured settings (PLAN_N permits, below the tier);
#   2. a ramp with --scrape of the server's /metrics, and the capacity report of it;
#   3. the server restarted with the recommended MAX_CONCURRENT_ANALYSES / MAX_QUEUE_DEPTH /
#      QUEUE_TIMEOUT_MS;
#   4. one run at the recommended load (N users) and one with the queue full (N + depth users);
#   5. Poisson arrivals at the report's open-loop rate R, and at 1.3 R (PLAN_OPEN_LOOP=1);
#   6. `loadgen verify plan`: verify.md / verify.json beside the report, predicted against
#      measured (the arithmetic is the report crate's, unit-tested; this script only starts
#      processes).
# Every run sends the shipped dataset's varied questions (PLAN_BODIES) to a mock model whose calls
# and reply lengths vary (PLAN_REPLY), as `make demo` does: the report is derived from the same
# traffic it is checked on. Exits non-zero when a prediction missed (verify.md says which number).
#
# Why these defaults on the demo tier: the dataset's analyses take 3.9 s on average and ~11 s at
# p99 on their own (2–4 model calls, long replies), so a p99 objective of 10 s leaves no room to
# queue at all (the report says so and recommends shedding at once); P99_SLO=20s leaves the
# queue ~7 s. Steps of 30 s serve ~70 analyses at 10 users (a 10 s step at 1 user serves two),
# and the open-loop checks run 150 s each so that their p99 rests on a few hundred requests.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/procs.sh

BIN=target/release
PROFILE=${PLAN_PROFILE:-mocks/profiles/demo.toml}
PLAN_N=${PLAN_N:-10}
STEPS=${PLAN_STEPS:-1,2,5,$PLAN_N,$((PLAN_N * 3 / 2)),$((PLAN_N * 2))}
STEP_DURATION=${PLAN_STEP_DURATION:-30s}
WARMUP=${PLAN_WARMUP:-5s}
CHECK_DURATION=${PLAN_CHECK_DURATION:-40s}
OPEN_LOOP=${PLAN_OPEN_LOOP:-1}
OPEN_DURATION=${PLAN_OPEN_DURATION:-150s}
OPEN_WARMUP=${PLAN_OPEN_WARMUP:-10s}
PLAN_BODIES=${PLAN_BODIES-reports/data/questions.jsonl}
PLAN_REPLY=${PLAN_REPLY-"--symbols-per-turn 2 --reply-tokens-median 60 --reply-tokens-sigma 0.6"}
BODIES_ARGS=()
[ -n "$PLAN_BODIES" ] && BODIES_ARGS=(--bodies "$PLAN_BODIES")
P99_SLO=${P99_SLO:-20s}
RUN=${RUN:-reports/runs/plan-$(date -u +%Y%m%dT%H%M%SZ)}
read -r CP TP SP <<< "${PLAN_PORTS:-19103 19203 18003}"
mkdir -p "$RUN"
for p in $CP $TP $SP; do port_free "$p"; done

# shellcheck disable=SC2086 # PLAN_REPLY is a list of flags
start mocks "$RUN/mocks.log" $BIN/mocks all --profile "$PROFILE" --claude-port "$CP" --trading-port "$TP" \
  $PLAN_REPLY
wait_http "http://127.0.0.1:$CP/__stats"
wait_http "http://127.0.0.1:$TP/__stats"

# run_server N DEPTH TIMEOUT_MS — analyze-server on $SP (one client: the per-client limit is off).
run_server() {
  PORT=$SP TRADING_API_BASE_URL=http://127.0.0.1:$TP ANTHROPIC_BASE_URL=http://127.0.0.1:$CP \
  ANTHROPIC_API_KEY=mock-key MAX_CONCURRENT_ANALYSES=$1 MAX_QUEUE_DEPTH=$2 QUEUE_TIMEOUT_MS=$3 \
  RATE_LIMIT_PER_MINUTE=0 LOG_FORMAT=json \
    start "analyze-server (N=$1)" "$RUN/server-n$1.log" $BIN/analyze-server
  SERVER_PID=${STARTED_PIDS[-1]}
  wait_http "http://127.0.0.1:$SP/health"
}
stop_server() { kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; }
reset_mocks() {
  curl -sf -X POST "http://127.0.0.1:$CP/__admin/reset" >/dev/null
  curl -sf -X POST "http://127.0.0.1:$TP/__admin/reset" >/dev/null
}
URL=http://127.0.0.1:$SP/analyze
SLOS=(--slo "p99<$P99_SLO" --slo 'success>=99%')

echo "== configured: MAX_CONCURRENT_ANALYSES=$PLAN_N, ramp $STEPS users"
run_server "$PLAN_N" 100 30000
reset_mocks
$BIN/loadgen ramp --url "$URL" --steps "$STEPS" --step-duration "$STEP_DURATION" --warmup "$WARMUP" \
  --scrape "http://127.0.0.1:$SP/metrics" --out "$RUN/ramp.csv" --json "$RUN/ramp.json" \
  "${BODIES_ARGS[@]}" --quiet || true
curl -sf "http://127.0.0.1:$SP/metrics" > "$RUN/server-metrics.prom"
stop_server

$BIN/loadgen report "$RUN/ramp.csv" --out-dir "$RUN/report" "${SLOS[@]}"
read -r N DEPTH TIMEOUT PREDICTED P99 BOUND < <(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
r = s["recommended"]
if r is None:
    sys.exit("FAIL  the report made no recommendation: " + str(s.get("recommendation_withheld")))
print(r["max_concurrent_analyses"], r["max_queue_depth"], r["queue_timeout_ms"],
      r["predicted_goodput_rps"], r["predicted_p99_ms"], r["latency_objective_ms"])
' "$RUN/report/summary.json")
echo "== recommended: MAX_CONCURRENT_ANALYSES=$N MAX_QUEUE_DEPTH=$DEPTH QUEUE_TIMEOUT_MS=$TIMEOUT (predicted $PREDICTED/s)"
if [ "$OPEN_LOOP" = 1 ]; then
  RATE=$(python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))["open_loop"]
if o is None:
    sys.exit("FAIL  the report gave no open-loop rate (no closed-loop step below N to measure service time on)")
print(round(o["rate_rps"], 3))
' "$RUN/report/summary.json")
  RATE_HIGH=$(python3 -c "import sys; print(round(1.3 * float(sys.argv[1]), 3))" "$RATE")
fi

run_server "$N" "$DEPTH" "$TIMEOUT"
reset_mocks
$BIN/loadgen run --url "$URL" -c "$N" -d "$CHECK_DURATION" --warmup "$WARMUP" "${SLOS[@]}" \
  "${BODIES_ARGS[@]}" --out "$RUN/recommended.csv" --json "$RUN/recommended.json" --quiet || true
full=$((N + DEPTH))
echo "== queue full: $full users against N=$N, depth $DEPTH"
$BIN/loadgen run --url "$URL" -c "$full" -d "$CHECK_DURATION" --warmup "$WARMUP" \
  "${BODIES_ARGS[@]}" --out "$RUN/queue-full.csv" --json "$RUN/queue-full.json" --quiet || true
# open_run NAME RATE — Poisson arrivals at RATE into $RUN/NAME/, with the server's /metrics
# scraped at the start and end (NAME-metrics-start.prom, NAME-metrics.prom: the provider's
# push-back during that run). A directory of its own: --scrape writes scrape.csv beside --out,
# which would replace the ramp's.
open_run() {
  reset_mocks
  mkdir -p "$RUN/$1"
  $BIN/loadgen run --url "$URL" --rate "$2" --arrivals poisson -d "$OPEN_DURATION" \
    --warmup "$OPEN_WARMUP" --scrape "http://127.0.0.1:$SP/metrics" "${BODIES_ARGS[@]}" \
    --out "$RUN/$1/$1.csv" --json "$RUN/$1/$1.json" --quiet || true
}
if [ "$OPEN_LOOP" = 1 ]; then
  echo "== open loop: Poisson arrivals at $RATE/s (predicted) and $RATE_HIGH/s (1.3x)"
  open_run open-loop "$RATE"
  open_run open-loop-1.3x "$RATE_HIGH"
fi
stop_server

OPEN_ARGS=()
[ "$OPEN_LOOP" = 1 ] && OPEN_ARGS=(--open-loop "$RUN/open-loop/open-loop.csv" \
  --overload "$RUN/open-loop-1.3x/open-loop-1.3x.csv")
$BIN/loadgen verify plan --report "$RUN/report" --recommended "$RUN/recommended.csv" \
  --queue-full "$RUN/queue-full.csv" "${OPEN_ARGS[@]}"
echo "plan: verified (report and verify.md in $RUN/report/)"
