#!/usr/bin/env bash
# End-to-end acceptance: the release binaries, as a user runs them. Mock upstreams (acceptance
# profile) + analyze-server, scaled and then legacy, each under the same short `loadgen ramp`.
# Asserts, from the outside, what the ticket promises:
#   - the scaled server keeps every request successful up to its capacity (SLO gate, exit 0),
#   - past capacity it sheds with 503 instead of failing, and mock Claude never sees more than N,
#   - the Trading API sees a bounded number of connections (pooling), legacy one per call.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/procs.sh

BIN=target/release
RUN=${RUN:-reports/runs/acceptance-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$RUN"
CP=19102 TP=19202 SP=18002
N=4 QUEUE=4
for p in $CP $TP $SP; do port_free $p; done

start mocks "$RUN/mocks.log" $BIN/mocks all --profile mocks/profiles/acceptance.toml \
  --claude-port $CP --trading-port $TP
wait_http http://127.0.0.1:$CP/__stats
wait_http http://127.0.0.1:$TP/__stats

# run_server MODE — start analyze-server (scaled|legacy) on $SP, wait for /health.
run_server() {
  local legacy=false; [ "$1" = legacy ] && legacy=true
  PORT=$SP TRADING_API_BASE_URL=http://127.0.0.1:$TP ANTHROPIC_BASE_URL=http://127.0.0.1:$CP \
  ANTHROPIC_API_KEY=mock-key MAX_CONCURRENT_ANALYSES=$N MAX_QUEUE_DEPTH=$QUEUE QUEUE_TIMEOUT_MS=10000 \
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
  $BIN/loadgen ramp --url http://127.0.0.1:$SP/analyze --steps 1,$N,$((4 * N)) \
    --step-duration 4s --warmup 1s --out "$RUN/$mode.csv" --json "$RUN/$mode.json" "$@"
}

echo "== scaled: N=$N, queue $QUEUE; gate: success >= 99% up to concurrency $N"
run_server scaled
reset_mocks
ramp scaled --slo 'success>=99%' --slo-until $N --hdr-log "$RUN/scaled.hdrlog"
curl -sf http://127.0.0.1:$CP/__stats > "$RUN/scaled-claude.json"
curl -sf http://127.0.0.1:$TP/__stats > "$RUN/scaled-trading.json"
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
