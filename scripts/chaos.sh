#!/usr/bin/env bash
# make chaos: bounded failure scenarios on loopback against the release binaries (each ≤ 90 s,
# ≈ 5–6 min in all: 312–319 s measured on 2 cores), rows in reports/chaos/summary.md; exits non-zero
# when any scenario fails.
#   1. overload: open loop at 20× the goodput measured just before, for 60 s (chaos_overload.py)
#   2. upstream fault storms: Claude 529/429/500/stall/reset and Trading 500/reset/stall storms
#      through the mocks' admin API while 10 clients loop (chaos_storms.py), one row and one
#      fresh server per storm (≈ 18 s each)
#   3. hostile connections: 2000 silent, 500 slowloris, 500 h2-preface stalls, 200 slow bodies
#      beside normal clients, with the server's default timeouts and caps (chaos_hostile.py)
#   4. shutdown under load: SIGTERM while 12 clients loop; readiness 503 during the drain window
#      while still accepting, only 200/503(+Retry-After)/refused-after-close, exit 0 in time
#   5. noisy neighbour behind nginx (appending X-Forwarded-For), TRUSTED_PROXIES=127.0.0.1/32
#      (chaos_neighbour.py); needs nginx: apt-get install nginx-light
# CHAOS_ONLY="storms hostile" runs a subset. Every process is started and stopped by PID
# (scripts/procs.sh). Not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/procs.sh

BIN=${BIN:-target/release}
ONLY=${CHAOS_ONLY:-overload storms hostile shutdown neighbour}
OUT=reports/chaos
mkdir -p "$OUT"
LOGS=$(mktemp -d)
SUMMARY=$OUT/summary.md
PY="python3 scripts/chaos.py"
began=$SECONDS

for b in analyze-server mocks loadgen; do
  [ -x "$BIN/$b" ] || { echo "error: $BIN/$b is missing; run make release" >&2; exit 2; }
done
if [[ " $ONLY " == *" neighbour "* ]] && ! command -v nginx >/dev/null; then
  echo "error: nginx not found; the noisy-neighbour scenario runs behind a real nginx: apt-get install nginx-light" >&2
  exit 2
fi
# 3200 hostile sockets on each side of loopback, plus the normal clients.
if [ "$(ulimit -n)" -lt 16384 ]; then ulimit -n 16384 2>/dev/null || ulimit -n "$(ulimit -Hn)"; fi

# Ports the kernel hands out now (other runs may hold the usual 9100/9200/8000).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
CLAUDE_PORT=$(free_port) TRADING_PORT=$(free_port) SERVER_PORT=$(free_port) NGINX_PORT=$(free_port)
CLAUDE=http://127.0.0.1:$CLAUDE_PORT TRADING=http://127.0.0.1:$TRADING_PORT
URL=http://127.0.0.1:$SERVER_PORT

{
  echo "# Chaos scenarios"
  echo
  echo "Run $(date -u +%Y-%m-%dT%H:%M:%SZ) by \`make chaos\` (scripts/chaos.sh, $BIN) on $(nproc) cores. Loopback only;"
  echo "mocks with the demo profile (mocks/profiles/demo.toml: an analysis takes ≈ 1.4 s, mock Claude allows 20 calls at once)."
  echo
  echo "| scenario | load | faults | requests | responses by status | lost / hung | result |"
  echo "|---|---|---|---|---|---|---|"
} >"$SUMMARY"

start mocks "$LOGS/mocks.log" $BIN/mocks all --profile mocks/profiles/demo.toml \
  --claude-port $CLAUDE_PORT --trading-port $TRADING_PORT --host 127.0.0.1
wait_http $CLAUDE/__stats
wait_http $TRADING/__stats

# serve_with NAME VAR=value… — start analyze-server on $SERVER_PORT with these extra settings
# (they override the defaults before them); sets SERVER_PID.
serve_with() {
  local name=$1; shift
  env HOST=127.0.0.1 PORT=$SERVER_PORT TRADING_API_BASE_URL=$TRADING ANTHROPIC_BASE_URL=$CLAUDE \
    LOG_FORMAT=json RATE_LIMIT_PER_MINUTE=0 "$@" $BIN/analyze-server >"$LOGS/server-$name.log" 2>&1 &
  SERVER_PID=$!
  STARTED_PIDS+=("$SERVER_PID")
  echo "started analyze-server for $name (pid $SERVER_PID), log: $LOGS/server-$name.log" >&2
  wait_http $URL/health
}
stop_server() {
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
}
wants() { [[ " $ONLY " == *" $1 "* ]]; }

status=0
NOTES=()

if wants overload; then
  # Every virtual user shares 127.0.0.1, so the per-client rate limit is off (as in make demo).
  serve_with overload
  timeout 120 $PY overload $URL "$SERVER_PID" $CLAUDE $BIN/loadgen "$LOGS" 60 "$SUMMARY" || status=1
  stop_server
fi

if wants storms; then
  # Short deadlines so a storm and its recovery fit in seconds; the documented defaults are
  # longer (60 s deadline, 30 s attempts, 10 s open circuit) but the behaviour is the same.
  storm_env=(REQUEST_TIMEOUT_MS=8000 CLAUDE_ATTEMPT_TIMEOUT_MS=1500 CLAUDE_RETRY_BASE_MS=200
    CLAUDE_RETRY_MAX_MS=1000 CIRCUIT_OPEN_MS=2000 CIRCUIT_FAILURE_THRESHOLD=5 TRADING_TIMEOUT_MS=1000)
  NOTES+=("Storm rows: a fresh analyze-server per storm with ${storm_env[*]}; each storm is an episode of 2 s lead-in, 4 s storm, 10 s after it (success counted 5–10 s after), then the clients stop and drain. Breaker state and live concurrency limit from /health every 100 ms.")
  for storm in claude-529 claude-429 claude-500 claude-stall claude-reset trading-500 trading-reset trading-stall; do
    serve_with "storm-$storm" "${storm_env[@]}"
    timeout 40 $PY storm $URL $CLAUDE $TRADING $storm 8000 "$SUMMARY" || status=1
    stop_server
  done
fi

if wants hostile; then
  serve_with hostile
  timeout 90 $PY hostile $URL 10000 10000 2000,500,500,200 "$SUMMARY" || status=1
  stop_server
fi

if wants shutdown; then
  serve_with shutdown SHUTDOWN_DRAIN_MS=2000 SHUTDOWN_GRACE_MS=8000 MAX_CONCURRENT_ANALYSES=4 MAX_QUEUE_DEPTH=8
  timeout 60 $PY shutdown $URL "$SERVER_PID" 2000 8000 "$SUMMARY" || status=1
  code=0; wait "$SERVER_PID" || code=$?
  if [ "$code" != 0 ]; then
    echo "| shutdown exit code | | | | | analyze-server exited $code | FAIL |" >>"$SUMMARY"
    status=1
  fi
fi

if wants neighbour; then
  NGINX_DIR=$LOGS/nginx
  mkdir -p "$NGINX_DIR"
  cat >"$NGINX_DIR/nginx.conf" <<EOF
# Written by scripts/chaos.sh: a reverse proxy that appends the client to X-Forwarded-For.
daemon off;
worker_processes 1;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/error.log warn;
events { worker_connections 1024; }
http {
  log_format xff '\$remote_addr "\$http_x_forwarded_for" -> "\$proxy_add_x_forwarded_for" \$status';
  access_log $NGINX_DIR/access.log xff;
  client_body_temp_path $NGINX_DIR/client_body;
  proxy_temp_path $NGINX_DIR/proxy;
  fastcgi_temp_path $NGINX_DIR/fastcgi;
  uwsgi_temp_path $NGINX_DIR/uwsgi;
  scgi_temp_path $NGINX_DIR/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://127.0.0.1:$SERVER_PORT;
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
}
EOF
  serve_with neighbour TRUSTED_PROXIES=127.0.0.1/32 RATE_LIMIT_PER_MINUTE=60 RATE_LIMIT_BURST=5
  start nginx "$NGINX_DIR/stderr.log" nginx -p "$NGINX_DIR" -e "$NGINX_DIR/error.log" -c "$NGINX_DIR/nginx.conf"
  NGINX_PID=${STARTED_PIDS[-1]}
  wait_http http://127.0.0.1:$NGINX_PORT/health
  timeout 60 $PY neighbour http://127.0.0.1:$NGINX_PORT 60 5 "$SUMMARY" || status=1
  kill -TERM "$NGINX_PID" 2>/dev/null || true
  wait "$NGINX_PID" 2>/dev/null || true
  stop_server
fi

{
  echo
  for note in "${NOTES[@]}"; do echo "$note"; echo; done
  echo "Total time of this run: $((SECONDS - began)) s."
} >>"$SUMMARY"
cat "$SUMMARY"
[ "$status" = 0 ] || echo "chaos: a scenario failed; logs in $LOGS" >&2
exit $status
