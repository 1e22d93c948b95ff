#!/usr/bin/env bash
# make plan — the capacity report's recommendation, checked by a run that can fail:
#   1. mocks + analyze-server at the configured settings (PLAN_N permits, below the tier);
#   2. a ramp with --scrape of the server's /metrics, and the capacity report of it;
#   3. the server restarted with the recommended MAX_CONCURRENT_ANALYSES / MAX_QUEUE_DEPTH /
#      QUEUE_TIMEOUT_MS;
#   4. one run at the recommended load (N users) and one with the queue full (N + depth users);
#   5. verify.md / verify.json beside the report: predicted vs measured goodput, p99 and success,
#      and whether the queue timeout kept the latency objective with the queue full.
# Exits non-zero when measured goodput is more than 15% from the prediction, an objective fails at
# the recommended load, or a request served with the queue full misses the latency objective.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/procs.sh

BIN=target/release
PROFILE=${PLAN_PROFILE:-mocks/profiles/demo.toml}
PLAN_N=${PLAN_N:-10}
STEPS=${PLAN_STEPS:-1,2,5,$PLAN_N,$((PLAN_N * 3 / 2)),$((PLAN_N * 2))}
STEP_DURATION=${PLAN_STEP_DURATION:-10s}
WARMUP=${PLAN_WARMUP:-3s}
CHECK_DURATION=${PLAN_CHECK_DURATION:-20s}
P99_SLO=${P99_SLO:-10s}
TOLERANCE=${PLAN_TOLERANCE:-0.15}
RUN=${RUN:-reports/runs/plan-$(date -u +%Y%m%dT%H%M%SZ)}
read -r CP TP SP <<< "${PLAN_PORTS:-19103 19203 18003}"
mkdir -p "$RUN"
for p in $CP $TP $SP; do port_free "$p"; done

start mocks "$RUN/mocks.log" $BIN/mocks all --profile "$PROFILE" --claude-port "$CP" --trading-port "$TP"
wait_http "http://127.0.0.1:$CP/__stats"
wait_http "http://127.0.0.1:$TP/__stats"

# run_server N DEPTH TIMEOUT_MS — analyze-server on $SP (one client: the per-client limit is off).
run_server() {
  PORT=$SP TRADING_API_BASE_URL=http://127.0.0.1:$TP ANTHROPIC_BASE_URL=http://127.0.0.1:$CP \
  ANTHROPIC_API_KEY=mock-key MAX_CONCURRENT_ANALYSES=$1 MAX_QUEUE_DEPTH=$2 QUEUE_TIMEOUT_MS=$3 \
  RATE_LIMIT_PER_MINUTE=0 LOG_FORMAT=json \
    start "analyze-server (N=$1)" "$RUN/server-n$1.log" $BIN/analyze-server
  SERVER_PID=${STARTED_PIDS[-1]}
  wait_http "http://127.0.0.1:$SP/health"
}
stop_server() { kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; }
reset_mocks() {
  curl -sf -X POST "http://127.0.0.1:$CP/__admin/reset" >/dev/null
  curl -sf -X POST "http://127.0.0.1:$TP/__admin/reset" >/dev/null
}
URL=http://127.0.0.1:$SP/analyze
SLOS=(--slo "p99<$P99_SLO" --slo 'success>=99%')

echo "== configured: MAX_CONCURRENT_ANALYSES=$PLAN_N, ramp $STEPS users"
run_server "$PLAN_N" 100 30000
reset_mocks
$BIN/loadgen ramp --url "$URL" --steps "$STEPS" --step-duration "$STEP_DURATION" --warmup "$WARMUP" \
  --scrape "http://127.0.0.1:$SP/metrics" --out "$RUN/ramp.csv" --json "$RUN/ramp.json" --quiet || true
curl -sf "http://127.0.0.1:$SP/metrics" > "$RUN/server-metrics.prom"
stop_server

$BIN/loadgen report "$RUN/ramp.csv" --out-dir "$RUN/report" "${SLOS[@]}"
read -r N DEPTH TIMEOUT PREDICTED P99 BOUND < <(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
r = s["recommended"]
if r is None:
    sys.exit("FAIL  the report made no recommendation: " + str(s.get("recommendation_withheld")))
print(r["max_concurrent_analyses"], r["max_queue_depth"], r["queue_timeout_ms"],
      r["predicted_goodput_rps"], r["predicted_p99_ms"], r["latency_objective_ms"])
' "$RUN/report/summary.json")
echo "== recommended: MAX_CONCURRENT_ANALYSES=$N MAX_QUEUE_DEPTH=$DEPTH QUEUE_TIMEOUT_MS=$TIMEOUT (predicted $PREDICTED/s)"

run_server "$N" "$DEPTH" "$TIMEOUT"
reset_mocks
at_load=0
$BIN/loadgen run --url "$URL" -c "$N" -d "$CHECK_DURATION" --warmup "$WARMUP" "${SLOS[@]}" \
  --out "$RUN/recommended.csv" --json "$RUN/recommended.json" --quiet || at_load=$?
full=$((N + DEPTH))
echo "== queue full: $full users against N=$N, depth $DEPTH"
$BIN/loadgen run --url "$URL" -c "$full" -d "$CHECK_DURATION" --warmup "$WARMUP" \
  --out "$RUN/queue-full.csv" --json "$RUN/queue-full.json" --quiet || true
stop_server

python3 - "$RUN" "$at_load" "$TOLERANCE" <<'PY'
import csv, json, sys
run, status, tolerance = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
rec = json.load(open(f"{run}/report/summary.json"))["recommended"]
at = list(csv.DictReader(open(f"{run}/recommended.csv")))[-1]
full = list(csv.DictReader(open(f"{run}/queue-full.csv")))[-1]
predicted, measured = rec["predicted_goodput_rps"], float(at["goodput_rps"])
off = abs(measured - predicted) / predicted if predicted else float("inf")
bound = rec["latency_objective_ms"]
full_p99 = float(full["p99_ms"])
rows = [
    ("goodput at N users (/s)", f"{predicted:.2f}" + (f" ({rec['predicted_goodput_ci'][0]:.2f}–{rec['predicted_goodput_ci'][1]:.2f})" if rec.get("predicted_goodput_ci") else ""), f"{measured:.2f}", f"{off:.1%} off (≤ {tolerance:.0%})"),
    ("p99 at N users (ms)", f"{rec['predicted_p99_ms']:.0f}", f"{float(at['p99_ms']):.0f}", f"objective {bound:.0f}"),
    ("success at N users", "≥ 99%", f"{float(at['success_rate']):.2%}", "loadgen exit " + str(status)),
    ("served p99, queue full (ms)", f"≤ {bound:.0f}", f"{full_p99:.0f}", f"{int(full['rejected_503'])} shed with 503, {int(full['timeouts'])} timeouts"),
]
failed = []
if off > tolerance:
    failed.append(f"measured goodput {measured:.2f}/s is {off:.1%} from the predicted {predicted:.2f}/s")
if status != 0:
    failed.append(f"an objective failed at the recommended load (loadgen exit {status})")
if int(full["ok"]) > 0 and full_p99 > bound:
    failed.append(f"with the queue full, served p99 {full_p99:.0f} ms missed the {bound:.0f} ms objective: the queue timeout leaves too little margin")
md = [
    "# Verification of the recommendation",
    "",
    f"Recommended (`{rec['basis']}`, {rec['binding']} binds; tested {rec['tested_range']}): "
    f"MAX_CONCURRENT_ANALYSES={rec['max_concurrent_analyses']} MAX_QUEUE_DEPTH={rec['max_queue_depth']} "
    f"QUEUE_TIMEOUT_MS={rec['queue_timeout_ms']}. Measured on the server restarted with these settings.",
    "",
    "| figure | predicted | measured | note |",
    "|---|---|---|---|",
] + [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows] + ["", "**" + ("FAIL: " + "; ".join(failed) if failed else "PASS") + "**", ""]
open(f"{run}/report/verify.md", "w").write("\n".join(md))
json.dump({"predicted_goodput_rps": predicted, "measured_goodput_rps": measured, "off": off,
           "p99_ms": float(at["p99_ms"]), "success_rate": float(at["success_rate"]),
           "queue_full_p99_ms": full_p99, "queue_full_rejected_503": int(full["rejected_503"]),
           "latency_objective_ms": bound, "failures": failed},
          open(f"{run}/report/verify.json", "w"), indent=2)
print("\n".join(md))
sys.exit(1 if failed else 0)
PY
echo "plan: verified (report and verify.md in $RUN/report/)"
