#!/usr/bin/env bash
# make plan — the capacity report's recommendation, checked by a run that can fail:
#   1. mocks + analyze-server at the configured settings (PLAN_N permits, below the tier);
#   2. a ramp with --scrape of the server's /metrics, and the capacity report of it;
#   3. the server restarted with the recommended MAX_CONCURRENT_ANALYSES / MAX_QUEUE_DEPTH /
#      QUEUE_TIMEOUT_MS;
#   4. one run at the recommended load (N users) and one with the queue full (N + depth users);
#   5. Poisson arrivals at the report's open-loop rate R, and at 1.3 R;
#   6. verify.md / verify.json beside the report: predicted vs measured goodput, p99 and success,
#      whether the queue timeout kept the latency objective with the queue full, and the
#      open-loop rate, p99 and shed share predicted vs measured.
# Every run sends the shipped dataset's varied questions (PLAN_BODIES) to a mock model whose calls
# and reply lengths vary (PLAN_REPLY), as `make demo` does: the report is derived from the same
# traffic it is checked on.
# Exits non-zero when measured goodput is more than 15% from the prediction, an objective fails at
# the recommended load, a request served with the queue full misses the latency objective, or at
# the open-loop rate goodput or p99 is more than 15% from the prediction, success is below 99% or
# the provider pushed back more than 1% of model calls; or when at 1.3 R the served p99 passes the
# objective, or the server does not shed where the model predicts it must.
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
OPEN_DURATION=${PLAN_OPEN_DURATION:-40s}
OPEN_WARMUP=${PLAN_OPEN_WARMUP:-5s}
PLAN_BODIES=${PLAN_BODIES-reports/data/questions.jsonl}
PLAN_REPLY=${PLAN_REPLY-"--symbols-per-turn 2 --reply-tokens-median 60 --reply-tokens-sigma 0.6"}
BODIES_ARGS=()
[ -n "$PLAN_BODIES" ] && BODIES_ARGS=(--bodies "$PLAN_BODIES")
P99_SLO=${P99_SLO:-10s}
TOLERANCE=${PLAN_TOLERANCE:-0.15}
RUN=${RUN:-reports/runs/plan-$(date -u +%Y%m%dT%H%M%SZ)}
read -r CP TP SP <<< "${PLAN_PORTS:-19103 19203 18003}"
mkdir -p "$RUN"
for p in $CP $TP $SP; do port_free "$p"; done

# shellcheck disable=SC2086 # PLAN_REPLY is a list of flags
start mocks "$RUN/mocks.log" $BIN/mocks all --profile "$PROFILE" --claude-port "$CP" --trading-port "$TP" \
  $PLAN_REPLY
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
  --scrape "http://127.0.0.1:$SP/metrics" --out "$RUN/ramp.csv" --json "$RUN/ramp.json" \
  "${BODIES_ARGS[@]}" --quiet || true
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
RATE=$(python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))["open_loop"]
if o is None:
    sys.exit("FAIL  the report gave no open-loop rate (no closed-loop step below N to measure service time on)")
print(round(o["rate_rps"], 3))
' "$RUN/report/summary.json")
RATE_HIGH=$(python3 -c "import sys; print(round(1.3 * float(sys.argv[1]), 3))" "$RATE")
echo "== open loop: Poisson arrivals at $RATE/s (predicted) and $RATE_HIGH/s (1.3x)"

run_server "$N" "$DEPTH" "$TIMEOUT"
reset_mocks
at_load=0
$BIN/loadgen run --url "$URL" -c "$N" -d "$CHECK_DURATION" --warmup "$WARMUP" "${SLOS[@]}" \
  "${BODIES_ARGS[@]}" --out "$RUN/recommended.csv" --json "$RUN/recommended.json" --quiet || at_load=$?
full=$((N + DEPTH))
echo "== queue full: $full users against N=$N, depth $DEPTH"
$BIN/loadgen run --url "$URL" -c "$full" -d "$CHECK_DURATION" --warmup "$WARMUP" \
  "${BODIES_ARGS[@]}" --out "$RUN/queue-full.csv" --json "$RUN/queue-full.json" --quiet || true
# open_run NAME RATE — Poisson arrivals at RATE with the server's /metrics before and after, so
# the provider's push-back (upstream_calls_total) is counted for that run alone.
open_run() {
  reset_mocks
  curl -sf "http://127.0.0.1:$SP/metrics" > "$RUN/$1-metrics-before.prom"
  $BIN/loadgen run --url "$URL" --rate "$2" --arrivals poisson -d "$OPEN_DURATION" \
    --warmup "$OPEN_WARMUP" "${BODIES_ARGS[@]}" --out "$RUN/$1.csv" --json "$RUN/$1.json" --quiet || true
  curl -sf "http://127.0.0.1:$SP/metrics" > "$RUN/$1-metrics-after.prom"
}
open_run open-loop "$RATE"
open_run open-loop-1.3x "$RATE_HIGH"
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
def claude_calls(path):
    # upstream_calls_total{api="claude",outcome=…} by outcome
    out = {}
    for line in open(path):
        if line.startswith("upstream_calls_total{") and 'api="claude"' in line:
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            out[outcome] = out.get(outcome, 0.0) + float(line.rsplit(" ", 1)[1])
    return out
def pushback_share(name):
    before, after = claude_calls(f"{run}/{name}-metrics-before.prom"), claude_calls(f"{run}/{name}-metrics-after.prom")
    delta = {k: v - before.get(k, 0.0) for k, v in after.items()}
    total = sum(delta.values())
    return (delta.get("overloaded", 0.0) / total if total else 0.0), total
summary = json.load(open(f"{run}/report/summary.json"))
ol = summary["open_loop"]
o1 = list(csv.DictReader(open(f"{run}/open-loop.csv")))[-1]
o2 = list(csv.DictReader(open(f"{run}/open-loop-1.3x.csv")))[-1]
shed = lambda r: (int(r["rejected_503"]) + int(r["rejected_429"])) / max(int(r["requests"]), 1)
p_rate, p_good, p_p99, p_shed = ol["rate_rps"], ol["at_rate"]["goodput_rps"], ol["at_rate"]["served_p99_ms"], ol["at_rate"]["shed"]
m_good, m_p99, m_success = float(o1["goodput_rps"]), float(o1["p99_ms"]), float(o1["success_rate"])
m_rate = int(o1["requests"]) / float(o1["duration_s"])
good_off = abs(m_good - p_good) / p_good if p_good else float("inf")
p99_off = abs(m_p99 - p_p99) / p_p99 if p_p99 else float("inf")
push, calls = pushback_share("open-loop")
push_high, _ = pushback_share("open-loop-1.3x")
h_p99, h_shed, h_503 = float(o2["p99_ms"]), shed(o2), int(o2["rejected_503"])
label = ol["label"]
rows += [
    (f"open-loop rate, Poisson (/s, {label})", f"{p_rate:.2f}", f"{m_rate:.2f} offered", f"{o1['arrivals']} arrivals, {o1['requests']} requests"),
    (f"goodput at that rate (/s, {label})", f"{p_good:.2f}", f"{m_good:.2f}", f"{good_off:.1%} off (≤ {tolerance:.0%})"),
    (f"served p99 at that rate (ms, {label})", f"{p_p99:.0f}", f"{m_p99:.0f}", f"{p99_off:.1%} off (≤ {tolerance:.0%}); objective {bound:.0f}"),
    ("success at that rate", "≥ 99%", f"{m_success:.2%}", f"shed {shed(o1):.2%} (predicted {p_shed:.2%})"),
    ("provider push-back at that rate", "≤ 1%", f"{push:.2%}", f"of {calls:.0f} model calls (upstream_calls_total outcome=overloaded)"),
    (f"at 1.3× = {ol['at_1_3x']['rate_rps']:.2f}/s: shed share ({label})", f"{ol['at_1_3x']['shed']:.1%}", f"{h_shed:.1%}", f"{h_503} answered 503; push-back {push_high:.2%}"),
    (f"at 1.3×: served p99 (ms, {label})", f"{ol['at_1_3x']['served_p99_ms']:.0f} (≤ {bound:.0f})", f"{h_p99:.0f}", "the objective must hold: shed, not serve late"),
]
failed = []
if good_off > tolerance:
    failed.append(f"open-loop goodput {m_good:.2f}/s is {good_off:.1%} from the predicted {p_good:.2f}/s")
if p99_off > tolerance:
    failed.append(f"open-loop served p99 {m_p99:.0f} ms is {p99_off:.1%} from the predicted {p_p99:.0f} ms")
if m_success < 0.99:
    failed.append(f"open-loop success {m_success:.2%} is below 99%")
if push > 0.01:
    failed.append(f"the provider pushed back {push:.2%} of model calls at the open-loop rate (> 1%)")
if int(o2["ok"]) > 0 and h_p99 > bound:
    failed.append(f"at 1.3× the rate, served p99 {h_p99:.0f} ms passed the {bound:.0f} ms objective instead of shedding")
if ol["at_1_3x"]["shed"] > 0.01 and h_503 == 0:
    failed.append(f"at 1.3× the rate the model predicts {ol['at_1_3x']['shed']:.1%} shed but the server answered no 503")
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
json.dump({"open_loop": {"predicted_rate_rps": p_rate, "offered_rate_rps": m_rate, "label": label,
                         "predicted_goodput_rps": p_good, "measured_goodput_rps": m_good,
                         "predicted_p99_ms": p_p99, "measured_p99_ms": m_p99,
                         "predicted_shed": p_shed, "measured_shed": shed(o1), "success_rate": m_success,
                         "provider_pushback_share": push,
                         "high_rate_rps": ol["at_1_3x"]["rate_rps"], "high_predicted_shed": ol["at_1_3x"]["shed"],
                         "high_measured_shed": h_shed, "high_rejected_503": h_503, "high_p99_ms": h_p99},
           "predicted_goodput_rps": predicted, "measured_goodput_rps": measured, "off": off,
           "p99_ms": float(at["p99_ms"]), "success_rate": float(at["success_rate"]),
           "queue_full_p99_ms": full_p99, "queue_full_rejected_503": int(full["rejected_503"]),
           "latency_objective_ms": bound, "failures": failed},
          open(f"{run}/report/verify.json", "w"), indent=2)
print("\n".join(md))
sys.exit(1 if failed else 0)
PY
echo "plan: verified (report and verify.md in $RUN/report/)"
