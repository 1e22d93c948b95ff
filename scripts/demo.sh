#!/usr/bin/env bash
# The main job: mock upstreams (demo profile) + the scaled analyze-server + `loadgen ramp --to 50`.
# Writes the run to reports/runs/<UTC timestamp>/ and stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/procs.sh

BIN=target/release
TS=$(date -u +%Y%m%dT%H%M%SZ)
RUN=reports/runs/$TS
mkdir -p "$RUN"
RAMP_TO=${RAMP_TO:-50}

for p in 9100 9200 8000; do port_free $p; done

start mocks "$RUN/mocks.log" $BIN/mocks all --profile mocks/profiles/demo.toml
wait_http http://127.0.0.1:9100/__stats
wait_http http://127.0.0.1:9200/__stats

# Every virtual user of loadgen comes from 127.0.0.1, i.e. one client to the per-client rate
# limit: left on, the ramp would measure the limiter (200/min), not capacity. So the demo turns
# it off (RATE_LIMIT_PER_MINUTE=0, overridable); admission is then the permit pool and queue.
# LEGACY_MODE=true runs the same ramp against the pre-ticket behaviour, for before/after;
# CONCURRENCY_LIMIT=fixed|adaptive and MAX_CONCURRENT_ANALYSES reach the server too.
TRADING_API_BASE_URL=http://127.0.0.1:9200 ANTHROPIC_BASE_URL=http://127.0.0.1:9100 \
ANTHROPIC_API_KEY=mock-key LOG_FORMAT=json RATE_LIMIT_PER_MINUTE=${RATE_LIMIT_PER_MINUTE:-0} \
LEGACY_MODE=${LEGACY_MODE:-false} CONCURRENCY_LIMIT=${CONCURRENCY_LIMIT:-adaptive} \
  start analyze-server "$RUN/server.log" $BIN/analyze-server
wait_http http://127.0.0.1:8000/health

status=0
$BIN/loadgen ramp --to "$RAMP_TO" \
  --out "$RUN/ramp.csv" --json "$RUN/ramp.json" --timeseries "$RUN/timeseries.csv" "$@" || status=$?

curl -s http://127.0.0.1:8000/metrics > "$RUN/server-metrics.prom" || true
curl -s http://127.0.0.1:9100/__stats > "$RUN/claude-stats.json" || true
curl -s http://127.0.0.1:9200/__stats > "$RUN/trading-stats.json" || true

echo
echo "run written to $RUN/:"
ls -1 "$RUN" | sed 's/^/  /'
exit $status
