#!/usr/bin/env bash
# make demo-users — "how many users can we take?", asked in users and checked by a re-run:
#   1. mocks (demo profile) + analyze-server with USERS_N fixed permits;
#   2. a ramp of users to USERS_TO with an exponential think time over the mix in
#      scripts/scenarios/users-mix.toml (mostly /health and /metrics reads, 10% /analyze), with
#      --scrape of the server's /metrics;
#   3. the capacity report's "How many users": the measured largest user count meeting the
#      objectives, and the fitted model's predicted count at the run's think time;
#   4. a re-run at the predicted user count: users-verify.md / .json beside the report, predicted
#      against measured throughput and analyze p99. Exits non-zero when either is more than
#      USERS_TOLERANCE (15%) off or an objective fails at the predicted count.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/procs.sh

BIN=target/release
USERS_N=${USERS_N:-10}
THINK=${USERS_THINK:-exp:10s}
STEPS=${USERS_STEPS:-100,250,400,550,700,850,1000}
STEP_DURATION=${USERS_STEP_DURATION:-30s}
WARMUP=${USERS_WARMUP:-10s}
CHECK_DURATION=${USERS_CHECK_DURATION:-60s}
ANALYZE_SLO=${ANALYZE_SLO:-5s}
TOLERANCE=${USERS_TOLERANCE:-0.15}
SCENARIO=scripts/scenarios/users-mix.toml
RUN=${RUN:-reports/runs/users-$(date -u +%Y%m%dT%H%M%SZ)}
read -r CP TP SP <<< "${USERS_PORTS:-19104 19204 18004}"
mkdir -p "$RUN"
for p in $CP $TP $SP; do port_free "$p"; done
# 1000 users keep 1000 connections open, on both sides of loopback.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

start mocks "$RUN/mocks.log" $BIN/mocks all --profile mocks/profiles/demo.toml --claude-port "$CP" --trading-port "$TP"
wait_http "http://127.0.0.1:$CP/__stats"
wait_http "http://127.0.0.1:$TP/__stats"

run_server() {
  PORT=$SP TRADING_API_BASE_URL=http://127.0.0.1:$TP ANTHROPIC_BASE_URL=http://127.0.0.1:$CP \
  ANTHROPIC_API_KEY=mock-key CONCURRENCY_LIMIT=fixed MAX_CONCURRENT_ANALYSES=$USERS_N \
  MAX_QUEUE_DEPTH=200 QUEUE_TIMEOUT_MS=20000 RATE_LIMIT_PER_MINUTE=0 MAX_CONNECTIONS_PER_IP=0 LOG_FORMAT=json \
    start "analyze-server (N=$USERS_N)" "$RUN/server-$1.log" $BIN/analyze-server
  SERVER_PID=${STARTED_PIDS[-1]}
  wait_http "http://127.0.0.1:$SP/health"
}
stop_server() { kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; }
reset_mocks() {
  curl -sf -X POST "http://127.0.0.1:$CP/__admin/reset" >/dev/null
  curl -sf -X POST "http://127.0.0.1:$TP/__admin/reset" >/dev/null
}
BASE=http://127.0.0.1:$SP/
SLOS=(--slo "analyze:p99<$ANALYZE_SLO" --slo 'success>=99%')

echo "== ramp: $STEPS users, think time $THINK, MAX_CONCURRENT_ANALYSES=$USERS_N"
run_server ramp
reset_mocks
$BIN/loadgen ramp --url "$BASE" --scenario "$SCENARIO" --think-time "$THINK" --steps "$STEPS" \
  --step-duration "$STEP_DURATION" --warmup "$WARMUP" --timeout 30s \
  --scrape "http://127.0.0.1:$SP/metrics" --out "$RUN/ramp.csv" --json "$RUN/ramp.json" --quiet || true
curl -sf "http://127.0.0.1:$SP/metrics" > "$RUN/server-metrics.prom"
stop_server

$BIN/loadgen report "$RUN/ramp.csv" --out-dir "$RUN/report" "${SLOS[@]}" || true
read -r USERS PREDICTED P99 < <(python3 -c '
import json, sys
u = json.load(open(sys.argv[1]))["users"]
p = u["predictions"][0]
if not u.get("model") or p["users_at_objective"] is None:
    sys.exit("no prediction: " + str(u.get("unfitted")))
print(p["users_at_objective"], p["at_objective"]["throughput_rps"], p["predicted_latency_ms"])
' "$RUN/report/summary.json")
echo "== predicted: $USERS users meet analyze:p99<$ANALYZE_SLO at $PREDICTED/s; re-running them"

run_server check
reset_mocks
status=0
$BIN/loadgen run --url "$BASE" --scenario "$SCENARIO" --think-time "$THINK" -c "$USERS" \
  -d "$CHECK_DURATION" --warmup "$WARMUP" --timeout 30s "${SLOS[@]}" \
  --out "$RUN/predicted.csv" --json "$RUN/predicted.json" --quiet || status=$?
stop_server

python3 - "$RUN" "$status" "$TOLERANCE" <<'PY'
import csv, json, sys
run, status, tolerance = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
summary = json.load(open(f"{run}/report/summary.json"))
u = summary["users"]
p = u["predictions"][0]
rows = list(csv.DictReader(open(f"{run}/predicted.csv")))
total = next(r for r in rows if r["name"] == "*")
named = next(r for r in rows if r["name"] == u["model"]["name"])
px, mx = p["at_objective"]["throughput_rps"], float(total["throughput_rps"])
pl, ml = p["predicted_latency_ms"], float(named["p99_ms"])
off_x, off_l = abs(mx - px) / px, abs(ml - pl) / pl
failed = []
if off_x > tolerance:
    failed.append(f"throughput {mx:.2f}/s is {off_x:.1%} from the predicted {px:.2f}/s")
if off_l > tolerance:
    failed.append(f"{u['model']['name']} p99 {ml:.0f} ms is {off_l:.1%} from the predicted {pl:.0f} ms")
if status != 0:
    failed.append(f"an objective failed at the predicted user count (loadgen exit {status})")
binding = [b["binding"] for b in summary["binding"]]
md = [
    "# Verification of the users answer",
    "",
    f"Think time {u['think_s']:.1f} s (mean). Measured: {u['measured_max_users']} users met every objective "
    f"in the ramp. Predicted (fitted model, {u['model']['name']} binds, {u['model']['servers']:.1f} servers "
    f"from {u['model']['servers_from']}): {p['users_at_objective']} users meet {u['objective']}. "
    f"Re-run at {p['users_at_objective']} users on a fresh server:",
    "",
    "| figure | predicted | measured | off |",
    "|---|---|---|---|",
    f"| throughput, all requests (/s) | {px:.2f} | {mx:.2f} | {off_x:.1%} (≤ {tolerance:.0%}) |",
    f"| {u['model']['name']} p99 (ms) | {pl:.0f} | {ml:.0f} | {off_l:.1%} (≤ {tolerance:.0%}) |",
    f"| success | ≥ 99% | {float(total['success_rate']):.2%} | loadgen exit {status} |",
    "",
    f"What binds the ramp's steps: {', '.join(binding)}.",
    "",
    "**" + ("FAIL: " + "; ".join(failed) if failed else "PASS") + "**",
    "",
]
open(f"{run}/report/users-verify.md", "w").write("\n".join(md))
json.dump({"predicted_users": p["users_at_objective"], "predicted_throughput_rps": px,
           "measured_throughput_rps": mx, "predicted_p99_ms": pl, "measured_p99_ms": ml,
           "measured_max_users": u["measured_max_users"], "failures": failed},
          open(f"{run}/report/users-verify.json", "w"), indent=2)
print("\n".join(md))
sys.exit(1 if failed else 0)
PY
