#!/usr/bin/env bash
# `make bench-edge`: the goals of issue 9 measured and printed (not asserted in `cargo test`).
#  1. Mis-set ceiling: MAX_CONCURRENT_ANALYSES=40 adaptive vs fixed N in {5,10,15,20,25}, impolite
#     users ramped to 50 against the demo profile: goodput per step, and the share of upstream
#     calls answered 429 after the first 10 s of each step.
#  2. Provider slowdown: mock Claude ×3 slower mid-run (POST /__admin/faults), then back.
#  3. Light load (≤ N/2 users): p50 adaptive vs fixed.
# Bounded (≈ 7 min): short steps. Uses its own ports (BENCH_*_PORT) so it does not collide with
# `make demo`; stops everything it started by PID.
# Every loadgen and helper exit status is checked (a failed run stops the script: its numbers would
# be missing or partial); a goal NOT MET, or a best fixed goodput of 0 (nothing to compare with),
# is printed and makes the script exit 1 after the remaining parts have run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/procs.sh

BIN=target/release
CP=${BENCH_CLAUDE_PORT:-19100}
TP=${BENCH_TRADING_PORT:-19200}
SP=${BENCH_SERVER_PORT:-18000}
STEPS=${BENCH_STEPS:-10 30 50}
FIXED=${BENCH_FIXED:-5 10 15 20 25}
WARM=${BENCH_WARMUP_S:-4}      # loadgen warm-up of each step (not counted)
MEAS=${BENCH_MEASURE_S:-12}    # goodput is measured over this
AFTER=${BENCH_429_AFTER_S:-10} # upstream 429s are counted from this far into the step to its end
TS=$(date -u +%Y%m%dT%H%M%SZ)
RUN=reports/runs/bench-edge-$TS
mkdir -p "$RUN"
CLAUDE=http://127.0.0.1:$CP
for p in $CP $TP $SP; do port_free "$p"; done

start mocks "$RUN/mocks.log" $BIN/mocks all --profile mocks/profiles/demo.toml \
  --claude-port "$CP" --trading-port "$TP"
wait_http "$CLAUDE/__stats"
wait_http "http://127.0.0.1:$TP/__stats"

FAILED=()
SERVER_PID=
server_up() { # MODE N
  TRADING_API_BASE_URL=http://127.0.0.1:$TP ANTHROPIC_BASE_URL=$CLAUDE ANTHROPIC_API_KEY=mock-key \
  LOG_FORMAT=json RATE_LIMIT_PER_MINUTE=0 PORT=$SP HOST=127.0.0.1 \
  CONCURRENCY_LIMIT=$1 MAX_CONCURRENT_ANALYSES=$2 \
    start "analyze-server $1 N=$2" "$RUN/server-$1-$2.log" $BIN/analyze-server
  SERVER_PID=${STARTED_PIDS[-1]}
  wait_http "http://127.0.0.1:$SP/health"
}
server_down() {
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$SERVER_PID" 2>/dev/null || true
}
upstream() { # prints "<requests> <429s>" of mock Claude so far
  curl -sf "$CLAUDE/__stats" | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["requests_total"], s["responses_by_status"].get("429",0))'
}
fresh_tier() { curl -sf -X POST "$CLAUDE/__admin/reset" >/dev/null; }
# loadgen_done PID WHAT — waits for a background loadgen and stops the script if it failed.
loadgen_done() {
  local status=0
  wait "$1" || status=$?
  if [ "$status" != 0 ]; then
    echo "error: loadgen ($2) exited $status; its numbers would be missing or partial" >&2
    exit 1
  fi
}

# step CONCURRENCY OUT_PREFIX → appends "c goodput p50 share429" to OUT_PREFIX.rows
step() {
  local c=$1 out=$2
  $BIN/loadgen run -c "$c" --warmup "${WARM}s" -d "${MEAS}s" -u "http://127.0.0.1:$SP/analyze" \
    --quiet --out "$out-c$c.csv" >/dev/null &
  local lg=$!
  sleep "$AFTER"
  local a; a=$(upstream)
  loadgen_done "$lg" "$out c=$c"
  local b; b=$(upstream)
  python3 - "$out-c$c.csv" "$a" "$b" "$c" >>"$out.rows" <<'EOF'
import csv, sys
row = next(csv.DictReader(open(sys.argv[1])))
r0, t0 = map(int, sys.argv[2].split()); r1, t1 = map(int, sys.argv[3].split())
share = (t1 - t0) / max(1, r1 - r0)
print(sys.argv[4], float(row["goodput_rps"]), float(row["p50_ms"]), share)
EOF
}

echo "== 1. mis-set ceiling: ramp ${STEPS// /,} impolite users, ${WARM}s warm-up + ${MEAS}s per step, 429s counted after ${AFTER}s =="
for cfg in adaptive:40 $(for n in $FIXED; do echo "fixed:$n"; done); do
  mode=${cfg%%:*}; n=${cfg#*:}
  fresh_tier
  server_up "$mode" "$n"
  for c in $STEPS; do step "$c" "$RUN/ramp-$mode-$n"; done
  server_down
done
python3 - "$RUN" "$STEPS" "$FIXED" <<'EOF' || FAILED+=("1. mis-set ceiling")
import sys
run, steps, fixed = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
def rows(name):
    return {r[0]: (float(r[1]), float(r[2]), float(r[3])) for r in
            (l.split() for l in open(f"{run}/ramp-{name}.rows"))}
ad = rows("adaptive-40")
fx = {n: rows(f"fixed-{n}") for n in fixed}
print("users | adaptive N=40 ok/s | 429 share | " + " | ".join(f"fixed {n} ok/s (429)" for n in fixed) + " | best fixed | adaptive/best")
ok_all = True
for c in steps:
    best = max(fx[n][c][0] for n in fixed)
    # No fixed N served anything: there is nothing to compare with, and that is a failed run.
    ratio = ad[c][0] / best if best > 0 else float("nan")
    ok_all &= best > 0 and ratio >= 0.9 and ad[c][2] <= 0.02
    print(f"{c} | {ad[c][0]:.1f} | {ad[c][2]:.1%} | " +
          " | ".join(f"{fx[n][c][0]:.1f} ({fx[n][c][2]:.0%})" for n in fixed) +
          f" | {best:.1f} | " + (f"{ratio:.0%}" if best > 0 else "no fixed goodput (failure)"))
print("goal (≥ 90% of best fixed and ≤ 2% upstream 429s at every step):", "MET" if ok_all else "NOT MET")
sys.exit(0 if ok_all else 1)
EOF

echo
echo "== 2. provider slowdown: 40 users, adaptive N=40; mock Claude ×3 slower at 20 s, back at 50 s =="
fresh_tier
server_up adaptive 40
$BIN/loadgen run -c 40 -d 75s -u "http://127.0.0.1:$SP/analyze" --quiet \
  --out "$RUN/slowdown.csv" --timeseries "$RUN/slowdown-ts.csv" >/dev/null &
LG=$!
( for i in $(seq 0 14); do
    curl -sf "http://127.0.0.1:$SP/health" | python3 -c 'import json,sys; h=json.load(sys.stdin); print('"$i"'*5, h["concurrency_limit"], h["service_time_ms"])'
    sleep 5
  done ) >"$RUN/slowdown-health.rows" &
HP=$!
sleep 20
curl -sf -X POST "$CLAUDE/__admin/faults" -H 'content-type: application/json' \
  -d '{"latency_ms":120,"ttft_ms":900,"tokens_per_sec":26.67}' >/dev/null
sleep 30
curl -sf -X POST "$CLAUDE/__admin/faults" -H 'content-type: application/json' \
  -d '{"latency_ms":40,"ttft_ms":300,"tokens_per_sec":80.0}' >/dev/null
loadgen_done "$LG" "slowdown"
hp_status=0
wait "$HP" || hp_status=$?
[ "$hp_status" = 0 ] || { echo "error: the /health sampler exited $hp_status" >&2; exit 1; }
server_down
python3 - "$RUN" <<'EOF'
import csv, sys
run = sys.argv[1]
ts = list(csv.DictReader(open(f"{run}/slowdown-ts.csv")))
health = {int(l.split()[0]): l.split()[1:] for l in open(f"{run}/slowdown-health.rows")}
print("t (s) | phase | ok/s | p50 ms | limit | service ms | bound 20/S ok/s")
for w in range(0, 75, 5):
    sec = [r for r in ts if w <= int(r["second"]) - 1 < w + 5]
    if not sec: continue
    ok = sum(int(r["ok"]) for r in sec) / len(sec)
    p50 = sorted(float(r["p50_ms"]) for r in sec)[len(sec) // 2]
    lim, svc = health.get(w, ["?", "?"])
    phase = "normal" if w < 20 else ("×3 slower" if w < 50 else "recovered")
    bound = 20 / (float(svc) / 1000) if svc not in ("?", "0") else float("nan")
    print(f"{w}-{w+5} | {phase} | {ok:.1f} | {p50:.0f} | {lim} | {svc} | {bound:.1f}")
EOF

echo
echo "== 3. light load: 5 users (N/2 of the default N=10), fixed vs adaptive =="
for mode in fixed adaptive; do
  fresh_tier
  server_up "$mode" 10
  $BIN/loadgen run -c 5 --warmup 2s -d 10s -u "http://127.0.0.1:$SP/analyze" --quiet \
    --out "$RUN/light-$mode.csv" >/dev/null &
  loadgen_done $! "light load, $mode"
  server_down
done
python3 - "$RUN" <<'EOF' || FAILED+=("3. light load")
import csv, sys
run = sys.argv[1]
p = {m: float(next(csv.DictReader(open(f"{run}/light-{m}.csv")))["p50_ms"]) for m in ("fixed", "adaptive")}
g = {m: float(next(csv.DictReader(open(f"{run}/light-{m}.csv")))["goodput_rps"]) for m in ("fixed", "adaptive")}
if g["fixed"] <= 0 or g["adaptive"] <= 0:
    print(f"light load: no goodput (fixed {g['fixed']:.1f} ok/s, adaptive {g['adaptive']:.1f} ok/s): goal NOT MET")
    sys.exit(1)
diff = abs(p["adaptive"] - p["fixed"]) / p["fixed"]
print(f"p50 fixed {p['fixed']:.0f} ms ({g['fixed']:.1f} ok/s), adaptive {p['adaptive']:.0f} ms ({g['adaptive']:.1f} ok/s): {diff:.1%} apart;",
      "goal (within 5%) MET" if diff <= 0.05 else "goal NOT MET")
sys.exit(0 if diff <= 0.05 else 1)
EOF
echo
echo "run written to $RUN/"
if [ "${#FAILED[@]}" -gt 0 ]; then
  echo "bench-edge: goal NOT MET in: ${FAILED[*]}" >&2
  exit 1
fi
echo "bench-edge: every goal MET"
