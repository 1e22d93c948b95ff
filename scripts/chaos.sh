#!/usr/bin/env bash
# make chaos: bounded failure scenarios on loopback against the real binaries (each ≤ 60 s),
# one row each in reports/chaos/summary.md; exits non-zero when any scenario fails.
#   1. hostile connections: 300 silent sockets + 200 stalled HTTP/2 prefaces while normal
#      clients are served; every hostile socket closed within HEADER_READ_TIMEOUT_MS (+2 s).
#   2. shutdown under load: SIGTERM while 12 clients loop; readiness 503 during the drain window
#      while still accepting, only 200/503(+Retry-After)/refused-after-close, exit 0 in time.
# Every process is started and stopped by PID (scripts/procs.sh). Not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/procs.sh

BIN=${BIN:-target/release}
OUT=reports/chaos
mkdir -p "$OUT"
LOGS=$(mktemp -d)
SUMMARY=$OUT/summary.md
# Ports the kernel hands out now (other runs may hold the usual 9100/9200/8000).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
CLAUDE_PORT=$(free_port) TRADING_PORT=$(free_port) SERVER_PORT=$(free_port)
if [ "$(ulimit -n)" -lt 2048 ]; then ulimit -n 2048 2>/dev/null || true; fi

{
  echo "# Chaos scenarios"
  echo
  echo "Run $(date -u +%Y-%m-%dT%H:%M:%SZ) by \`make chaos\` (scripts/chaos.sh, $BIN). Loopback only."
  echo
  echo "| scenario | load | faults | requests | responses by status | lost / hung | result |"
  echo "|---|---|---|---|---|---|---|"
} >"$SUMMARY"

start mocks "$LOGS/mocks.log" $BIN/mocks all --profile mocks/profiles/demo.toml \
  --claude-port $CLAUDE_PORT --trading-port $TRADING_PORT --host 127.0.0.1
wait_http http://127.0.0.1:$CLAUDE_PORT/__stats
wait_http http://127.0.0.1:$TRADING_PORT/__stats

# serve_with VAR=value… — start analyze-server on $SERVER_PORT with these extra settings; sets SERVER_PID.
serve_with() {
  env HOST=127.0.0.1 PORT=$SERVER_PORT \
    TRADING_API_BASE_URL=http://127.0.0.1:$TRADING_PORT ANTHROPIC_BASE_URL=http://127.0.0.1:$CLAUDE_PORT \
    LOG_FORMAT=json RATE_LIMIT_PER_MINUTE=0 "$@" $BIN/analyze-server >"$LOGS/server-$1.log" 2>&1 &
  SERVER_PID=$!
  STARTED_PIDS+=("$SERVER_PID")
  echo "started analyze-server (pid $SERVER_PID)" >&2
  wait_http http://127.0.0.1:$SERVER_PORT/health
}

status=0
URL=http://127.0.0.1:$SERVER_PORT

serve_with HEADER_READ_TIMEOUT_MS=5000 MAX_CONNECTIONS=1024 MAX_CONNECTIONS_PER_IP=0
timeout 60 python3 scripts/chaos.py hostile $URL 5000 "$SUMMARY" || status=1
kill -TERM "$SERVER_PID" 2>/dev/null || true
wait "$SERVER_PID" 2>/dev/null || true

serve_with SHUTDOWN_DRAIN_MS=2000 SHUTDOWN_GRACE_MS=8000 MAX_CONCURRENT_ANALYSES=4 MAX_QUEUE_DEPTH=8
timeout 60 python3 scripts/chaos.py shutdown $URL "$SERVER_PID" 2000 8000 "$SUMMARY" || status=1
code=0; wait "$SERVER_PID" || code=$?
if [ "$code" != 0 ]; then
  echo "| shutdown exit code | | | | | analyze-server exited $code | FAIL |" >>"$SUMMARY"
  status=1
fi

cat "$SUMMARY"
[ "$status" = 0 ] || echo "chaos: a scenario failed; logs in $LOGS" >&2
exit $status
