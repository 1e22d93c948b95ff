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
# Ports are overridable so two demos can run on one machine.
CP=${DEMO_CLAUDE_PORT:-9100}
TP=${DEMO_TRADING_PORT:-9200}
SP=${DEMO_SERVER_PORT:-8000}

for p in $CP $TP $SP; do port_free $p; done

start mocks "$RUN/mocks.log" $BIN/mocks all --profile mocks/profiles/demo.toml \
  --claude-port "$CP" --trading-port "$TP"
wait_http http://127.0.0.1:$CP/__stats
wait_http http://127.0.0.1:$TP/__stats

# Every virtual user of loadgen comes from 127.0.0.1, i.e. one client to the per-client rate
# limit: left on, the ramp would measure the limiter (200/min), not capacity. So the demo turns
# it off (RATE_LIMIT_PER_MINUTE=0, overridable); admission is then the permit pool and queue.
# LEGACY_MODE=true runs the same ramp against the pre-ticket behaviour, for before/after;
# CONCURRENCY_LIMIT=fixed|adaptive and MAX_CONCURRENT_ANALYSES reach the server too.
TRADING_API_BASE_URL=http://127.0.0.1:$TP ANTHROPIC_BASE_URL=http://127.0.0.1:$CP PORT=$SP \
ANTHROPIC_API_KEY=mock-key LOG_FORMAT=json RATE_LIMIT_PER_MINUTE=${RATE_LIMIT_PER_MINUTE:-0} \
LEGACY_MODE=${LEGACY_MODE:-false} CONCURRENCY_LIMIT=${CONCURRENCY_LIMIT:-adaptive} \
  start analyze-server "$RUN/server.log" $BIN/analyze-server
wait_http http://127.0.0.1:$SP/health

status=0
$BIN/loadgen ramp --to "$RAMP_TO" --url "http://127.0.0.1:$SP/analyze" \
  --out "$RUN/ramp.csv" --json "$RUN/ramp.json" --timeseries "$RUN/timeseries.csv" "$@" || status=$?

curl -s http://127.0.0.1:$SP/metrics > "$RUN/server-metrics.prom" || true
curl -s http://127.0.0.1:$CP/__stats > "$RUN/claude-stats.json" || true
curl -s http://127.0.0.1:$TP/__stats > "$RUN/trading-stats.json" || true

echo
echo "run written to $RUN/:"
ls -1 "$RUN" | sed 's/^/  /'
exit $status
