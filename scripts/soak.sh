#!/usr/bin/env bash
# make soak: SOAK_S seconds (default 600) at 80 % of the goodput measured just before, against the
# release binaries on loopback with the demo profile; analyze-server's RSS, open file descriptors
# and latency must not grow (scripts/soak.py states the bounds) → reports/chaos/soak.md.
# Not in CI and not in `make chaos` (≈ SOAK_S + 1.5 windows + 20 s). Processes stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/procs.sh

BIN=${BIN:-target/release}
SOAK_S=${SOAK_S:-600}
OUT=reports/chaos
mkdir -p "$OUT"
LOGS=$(mktemp -d)
ROWS=$OUT/soak.md
for b in analyze-server mocks loadgen; do
  [ -x "$BIN/$b" ] || { echo "error: $BIN/$b is missing; run make release" >&2; exit 2; }
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
CLAUDE_PORT=$(free_port) TRADING_PORT=$(free_port) SERVER_PORT=$(free_port)
{
  echo "# Soak"
  echo
  echo "Run $(date -u +%Y-%m-%dT%H:%M:%SZ) by \`make soak\` (scripts/soak.sh, $BIN, SOAK_S=$SOAK_S) on $(nproc) cores. Loopback only; demo profile."
  echo
  echo "| scenario | load | faults | requests | responses by status | lost / hung | result |"
  echo "|---|---|---|---|---|---|---|"
} >"$ROWS"

start mocks "$LOGS/mocks.log" $BIN/mocks all --profile mocks/profiles/demo.toml \
  --claude-port $CLAUDE_PORT --trading-port $TRADING_PORT --host 127.0.0.1
wait_http http://127.0.0.1:$CLAUDE_PORT/__stats
wait_http http://127.0.0.1:$TRADING_PORT/__stats
# One loopback client, so the per-client rate limit is off (as in make demo).
start analyze-server "$LOGS/server.log" env HOST=127.0.0.1 PORT=$SERVER_PORT \
  TRADING_API_BASE_URL=http://127.0.0.1:$TRADING_PORT ANTHROPIC_BASE_URL=http://127.0.0.1:$CLAUDE_PORT \
  LOG_FORMAT=json RATE_LIMIT_PER_MINUTE=0 $BIN/analyze-server
SERVER_PID=${STARTED_PIDS[-1]}
wait_http http://127.0.0.1:$SERVER_PORT/health

status=0
python3 scripts/soak.py http://127.0.0.1:$SERVER_PORT "$SERVER_PID" $BIN/loadgen "$LOGS" "$SOAK_S" "$ROWS" || status=1
cat "$ROWS"
[ "$status" = 0 ] || echo "soak: failed; logs in $LOGS" >&2
exit $status
