#!/usr/bin/env bash
# promtool check metrics on analyze-server's /metrics after real traffic (successes and errors),
# so every metric family the server can emit has been touched before it is linted.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/procs.sh
command -v promtool >/dev/null || { echo "error: promtool not found (apt-get install prometheus)" >&2; exit 1; }

BIN=target/release
TMP=$(mktemp -d)
CP=19101 TP=19201 SP=18001
for p in $CP $TP $SP; do port_free $p; done

start mock-claude "$TMP/claude.log" $BIN/mocks claude --port $CP --profile mocks/profiles/fast.toml
start mock-trading "$TMP/trading.log" $BIN/mocks trading --port $TP --profile mocks/profiles/fast.toml
wait_http http://127.0.0.1:$CP/__stats
wait_http http://127.0.0.1:$TP/__stats
PORT=$SP TRADING_API_BASE_URL=http://127.0.0.1:$TP ANTHROPIC_BASE_URL=http://127.0.0.1:$CP \
ANTHROPIC_API_KEY=mock-key MAX_CONCURRENT_ANALYSES=2 MAX_QUEUE_DEPTH=1 RATE_LIMIT_PER_MINUTE=6 RATE_LIMIT_BURST=3 \
  start analyze-server "$TMP/server.log" $BIN/analyze-server
wait_http http://127.0.0.1:$SP/health

# successes, a bad request, and enough concurrency to be shed and rate limited
clients=()
for i in 1 2 3 4 5 6; do
  curl -s -o /dev/null -H 'content-type: application/json' -d '{"query":"Should I buy AAPL?"}' \
    http://127.0.0.1:$SP/analyze &
  clients+=($!)
done
curl -s -o /dev/null -H 'content-type: application/json' -d '{"nope":1}' http://127.0.0.1:$SP/analyze || true
wait "${clients[@]}"   # only the curls: a bare `wait` would also wait for the servers

curl -sf http://127.0.0.1:$SP/metrics > "$TMP/metrics.prom"
families=$(grep -c '^# TYPE' "$TMP/metrics.prom" || true)
echo "scraped $(wc -l < "$TMP/metrics.prom") lines, $families metric families"
[ "$families" -ge 5 ] || { echo "error: expected at least 5 metric families" >&2; cat "$TMP/metrics.prom" >&2; exit 1; }
if ! promtool check metrics < "$TMP/metrics.prom"; then
  echo "error: promtool check metrics failed" >&2; exit 1
fi
echo "promtool check metrics: OK"
