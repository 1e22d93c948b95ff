#!/usr/bin/env bash
# The main job: mock upstreams (demo profile) + the scaled analyze-server + `loadgen ramp --to 50`.
# Writes the run to reports/runs/<UTC timestamp>/, then its capacity report to report/ inside it
# (headline findings printed), and stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/procs.sh

BIN=target/release
TS=$(date -u +%Y%m%dT%H%M%SZ)
RUN=${RUN:-reports/runs/$TS}
mkdir -p "$RUN"
RAMP_TO=${RAMP_TO:-50}
# Ports: the README's defaults; DEMO_PORTS="CLAUDE TRADING SERVER" moves all three (make report
# uses its own, so it can run beside a demo), as do DEMO_CLAUDE_PORT, DEMO_TRADING_PORT and
# DEMO_SERVER_PORT one by one.
read -r CP TP SP <<< "${DEMO_PORTS:-${DEMO_CLAUDE_PORT:-9100} ${DEMO_TRADING_PORT:-9200} ${DEMO_SERVER_PORT:-8000}}"

# The live dashboard (loadgen --dashboard): at a fixed port for the demo, whose URL loadgen prints
# at the start; a free one when the ports were moved (make report runs beside a demo).
DASHBOARD_PORT=${DASHBOARD_PORT:-$([ -n "${DEMO_PORTS:-}" ] && echo 0 || echo 8089)}

for p in $CP $TP $SP; do port_free $p; done
[ "$DASHBOARD_PORT" = 0 ] || port_free "$DASHBOARD_PORT"

# Real traffic (issue 27): varied questions from the shipped dataset (DEMO_BODIES; empty sends the
# one default question), and a mock model that looks up two tickers per turn and writes analyses
# of lognormal length (median 60 tokens for one ticker and a short question, sigma 0.6), so
# model calls and tokens per analysis vary as a real model's do. DEMO_REPLY="" keeps the demo
# profile's fixed script. `make plan` and `make acceptance` do not use these yet.
DEMO_BODIES=${DEMO_BODIES-reports/data/questions.jsonl}
DEMO_REPLY=${DEMO_REPLY-"--symbols-per-turn 2 --reply-tokens-median 60 --reply-tokens-sigma 0.6"}
BODIES_ARGS=()
[ -n "$DEMO_BODIES" ] && BODIES_ARGS=(--bodies "$DEMO_BODIES")
# shellcheck disable=SC2086 # DEMO_REPLY is a list of flags
start mocks "$RUN/mocks.log" $BIN/mocks all --profile mocks/profiles/demo.toml \
  --claude-port "$CP" --trading-port "$TP" $DEMO_REPLY
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
  --scrape "http://127.0.0.1:$SP/metrics" --dashboard="127.0.0.1:$DASHBOARD_PORT" \
  --out "$RUN/ramp.csv" --json "$RUN/ramp.json" --timeseries "$RUN/timeseries.csv" \
  "${BODIES_ARGS[@]}" "$@" || status=$?

curl -s http://127.0.0.1:$SP/metrics > "$RUN/server-metrics.prom" || true
curl -s http://127.0.0.1:$CP/__stats > "$RUN/claude-stats.json" || true
curl -s http://127.0.0.1:$TP/__stats > "$RUN/trading-stats.json" || true

echo
echo "run written to $RUN/:"
ls -1 "$RUN" | sed 's/^/  /'

# The capacity report of this run. The provider tier (mocks/profiles/demo.toml: 2000 rpm, 400 000
# input and 80 000 output tokens/min), the calls and the tokens per analysis are what the server
# measured (its /metrics snapshot beside the run), not flags.
echo
echo "capacity report:"
# Objectives: served p99 under 10 s and 99% of attempts served (loadgen counts every request
# sent, so a server that sheds everything fast cannot pass on latency alone).
$BIN/loadgen report "$RUN/ramp.csv" --out-dir "$RUN/report" --slo "p99<${P99_SLO:-10s}" \
  --slo "success>=${SUCCESS_SLO:-99%}" || status=$?
exit $status
