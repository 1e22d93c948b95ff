#!/usr/bin/env bash
# make demo-live: mock upstreams + analyze-server + a real Prometheus (Debian's `prometheus`,
# deploy/prometheus/prometheus.yml) scraping the server and loadgen every second, and the ramp
# with --dashboard (the URL is printed; open it to watch, press Stop to end the run as Ctrl-C
# does). At the end, Prometheus's totals (its HTTP API) must equal the CSV's
# (scripts/prom_totals.py). Stops everything it started.
#
# Knobs: RAMP_ARGS (the ramp's flags; default a 5-step ramp to 20 users), DASHBOARD_PORT (8089),
# LOADGEN_METRICS_PORT (9464), PROMETHEUS_PORT (9090), DEMO_PORTS="CLAUDE TRADING SERVER" as
# make demo, RUN (output directory), LIVE_BROWSER (a command run with the dashboard URL as its
# last argument while the ramp runs: make check-dashboard's headless Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/procs.sh
command -v prometheus >/dev/null || { echo "error: prometheus not found (apt-get install prometheus)" >&2; exit 1; }

BIN=${BIN:-target/release}
TS=$(date -u +%Y%m%dT%H%M%SZ)
RUN=${RUN:-reports/runs/live-$TS}
mkdir -p "$RUN"
read -r CP TP SP <<< "${DEMO_PORTS:-9100 9200 8000}"
DP=${DASHBOARD_PORT:-8089}
MP=${LOADGEN_METRICS_PORT:-9464}
PP=${PROMETHEUS_PORT:-9090}
read -r -a RAMP <<< "${RAMP_ARGS:---steps 1,2,5,10,20 --step-duration 20s --warmup 2s}"
for p in $CP $TP $SP $DP $MP $PP; do port_free "$p"; done

start mocks "$RUN/mocks.log" $BIN/mocks all --profile mocks/profiles/demo.toml \
  --claude-port "$CP" --trading-port "$TP"
wait_http "http://127.0.0.1:$CP/__stats"
wait_http "http://127.0.0.1:$TP/__stats"
# As make demo: the per-client rate limit off, so the ramp measures capacity, not the limiter.
TRADING_API_BASE_URL=http://127.0.0.1:$TP ANTHROPIC_BASE_URL=http://127.0.0.1:$CP PORT=$SP \
ANTHROPIC_API_KEY=mock-key LOG_FORMAT=json RATE_LIMIT_PER_MINUTE=${RATE_LIMIT_PER_MINUTE:-0} \
  start analyze-server "$RUN/server.log" $BIN/analyze-server
wait_http "http://127.0.0.1:$SP/health"

sed -e "s/SERVER_PORT/$SP/" -e "s/LOADGEN_PORT/$MP/" deploy/prometheus/prometheus.yml > "$RUN/prometheus.yml"
start prometheus "$RUN/prometheus.log" prometheus --config.file="$RUN/prometheus.yml" \
  --storage.tsdb.path="$RUN/prometheus-data" --web.listen-address="127.0.0.1:$PP"
wait_http "http://127.0.0.1:$PP/-/ready"
# Ready is not scraping: Prometheus hands its static targets to the scrape loops only at its
# discovery manager's first update (up to 5 s later). Wait until it has scraped the server once,
# so a short run (check-dashboard's Stop) is scraped while it lasts.
${PY:-python3} - "http://127.0.0.1:$PP" <<'PYEOF'
import json, sys, time, urllib.request
deadline = time.time() + 30
while True:
    with urllib.request.urlopen(sys.argv[1] + "/api/v1/targets", timeout=5) as r:
        targets = json.load(r)["data"]["activeTargets"]
    if any(t["labels"].get("job") == "analyze-server" and t.get("health") == "up" for t in targets):
        break
    if time.time() > deadline:
        sys.exit("error: Prometheus scraped no target within 30 s")
    time.sleep(0.2)
PYEOF

status=0
$BIN/loadgen ramp --url "http://127.0.0.1:$SP/analyze" "${RAMP[@]}" \
  --dashboard="127.0.0.1:$DP" --metrics-addr "127.0.0.1:$MP" \
  --scrape "http://127.0.0.1:$SP/metrics" --slo "p99<10s" --slo "success>=99%" \
  --out "$RUN/ramp.csv" --json "$RUN/ramp.json" --timeseries "$RUN/timeseries.csv" \
  2> >(tee "$RUN/loadgen.err" >&2) &
LOADGEN=$!
STARTED_PIDS+=("$LOADGEN")
url=""
for _ in $(seq 1 100); do
  # `|| true`: under `set -e -o pipefail` a sed on a file tee has not created yet would end the
  # script (and stop the run) instead of trying again.
  url=$(sed -n 's/^loadgen: dashboard at //p' "$RUN/loadgen.err" 2>/dev/null | head -1 || true)
  [ -n "$url" ] && break
  kill -0 "$LOADGEN" 2>/dev/null || break
  sleep 0.1
done
[ -n "$url" ] || { echo "error: loadgen printed no dashboard URL" >&2; wait "$LOADGEN" || true; exit 1; }
echo
echo "  dashboard: $url"
echo "  Prometheus: http://127.0.0.1:$PP/graph?g0.expr=sum%20by%20(outcome)%20(rate(loadgen_requests_total%5B10s%5D))"
echo
browser=0
if [ -n "${LIVE_BROWSER:-}" ]; then
  # shellcheck disable=SC2086 # LIVE_BROWSER is a command line
  $LIVE_BROWSER "$url" &
  browser=$!
fi
wait "$LOADGEN" || status=$?
echo "loadgen exited $status"
echo "$status" > "$RUN/loadgen.status"
if [ "$browser" != 0 ]; then
  wait "$browser" || { echo "error: the browser check failed" >&2; exit 1; }
fi
${PY:-python3} scripts/prom_totals.py "http://127.0.0.1:$PP" "$RUN/ramp.csv"
echo "run written to $RUN/"
exit "$status"
