#!/usr/bin/env bash
# `make bench-sustained`: issue 21's goal — a sustained run through the switch from a full
# input-token bucket to its refill rate, with no dip.
#  Mock tier: the demo profile with ITPM lowered (BENCH_ITPM, default 240k) so the input budget's
#  sustainable rate is about half of what N=20 permits allow (~14 analyses/s): unpaced, its
#  bucket would empty within the first minute. 40 closed-loop users, adaptive N=20, no warm-up
#  (the run starts with full buckets, as every run does).
#  Printed: goodput per 15 s window against the ceiling of the binding budget, computed from the
#  tier's limits and the tokens/requests an analysis spent in this run (mock Claude's /__usage).
#  Goal (exit 1 when not met): every window ≥ 90 % of the ceiling, and every window that starts
#  30 s or more after pacing by that budget began (the bucket cannot empty before) ≥ 95 %.
# Bounded: BENCH_SUSTAINED_S (default 180) plus start-up. Loopback only, its own ports; stops what
# it started by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/procs.sh

BIN=target/release
CP=${BENCH_CLAUDE_PORT:-19110}
TP=${BENCH_TRADING_PORT:-19210}
SP=${BENCH_SERVER_PORT:-18010}
ITPM=${BENCH_ITPM:-240000}
USERS=${BENCH_USERS:-40}
N=${BENCH_N:-20}
DUR=${BENCH_SUSTAINED_S:-180}
WIN=15
TS=$(date -u +%Y%m%dT%H%M%SZ)
RUN=reports/runs/bench-sustained-$TS
mkdir -p "$RUN"
CLAUDE=http://127.0.0.1:$CP
for p in $CP $TP $SP; do port_free "$p"; done

start mocks "$RUN/mocks.log" $BIN/mocks all --profile mocks/profiles/demo.toml \
  --claude-port "$CP" --trading-port "$TP" --itpm "$ITPM"
wait_http "$CLAUDE/__stats"
wait_http "http://127.0.0.1:$TP/__stats"

TRADING_API_BASE_URL=http://127.0.0.1:$TP ANTHROPIC_BASE_URL=$CLAUDE ANTHROPIC_API_KEY=mock-key \
LOG_FORMAT=json RATE_LIMIT_PER_MINUTE=0 PORT=$SP HOST=127.0.0.1 \
CONCURRENCY_LIMIT=adaptive MAX_CONCURRENT_ANALYSES=$N \
  start "analyze-server adaptive N=$N" "$RUN/server.log" $BIN/analyze-server
wait_http "http://127.0.0.1:$SP/health"
curl -s -o /dev/null -X POST "$CLAUDE/__admin/reset"   # full buckets at t=0

echo "== sustained: $USERS users, adaptive N=$N, ${DUR}s; mock tier RPM 2000, ITPM $ITPM, OTPM 80000 =="
T0=$(date +%s.%N)
$BIN/loadgen run -c "$USERS" -d "${DUR}s" -u "http://127.0.0.1:$SP/analyze" --quiet \
  --out "$RUN/summary.csv" --timeseries "$RUN/timeseries.csv" >/dev/null &
LG=$!
# /health once a second (raw, parsed afterwards): which budget paces, and the one nearest exhaustion.
(
  while kill -0 "$LG" 2>/dev/null; do
    echo "$(date +%s.%N) $(curl -s --max-time 1 "http://127.0.0.1:$SP/health")"
    sleep 1
  done
) >"$RUN/health.jsonl" &
HP=$!
wait "$LG" || true
wait "$HP" || true
curl -s "$CLAUDE/__usage" >"$RUN/usage.json"
curl -s "$CLAUDE/__stats" >"$RUN/stats.json"

status=0
python3 - "$RUN" "$ITPM" "$WIN" "$T0" <<'EOF' || status=$?
import csv, json, sys
run, itpm, win, t0 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
limits = {"requests": 2000, "input_tokens": itpm, "output_tokens": 80000}
summary = next(csv.DictReader(open(f"{run}/summary.csv")))
ts = list(csv.DictReader(open(f"{run}/timeseries.csv")))
usage = json.load(open(f"{run}/usage.json"))
stats = json.load(open(f"{run}/stats.json"))
ok = sum(int(r["ok"]) for r in ts)
errors = sum(int(r["errors"]) for r in ts)
spent = {"requests": usage["requests"], "input_tokens": usage["input_tokens"],
         "output_tokens": usage["output_tokens"]}
per = {k: v / max(ok, 1) for k, v in spent.items()}
ceil = {k: limits[k] / 60 / per[k] for k in limits if per[k] > 0}
binding = min(ceil, key=ceil.get)
c = ceil[binding]
print("per analysis (this run): " + ", ".join(f"{per[k]:.1f} {k}" for k in limits))
print("sustainable analyses/s by budget: " + ", ".join(f"{k} {v:.2f}" for k, v in ceil.items())
      + f" → binding: {binding}, ceiling {c:.2f}/s")
health = []  # (t, paced by, interval ms, nearest budget, its share left, concurrency limit)
for line in open(f"{run}/health.jsonl"):
    t, _, body = line.partition(" ")
    try:
        h = json.loads(body)
    except ValueError:
        continue
    u, n = h["upstream"], h["upstream"].get("nearest_budget") or {}
    health.append((float(t) - t0, u.get("pacing_budget") or "-", u["pacing_interval_ms"],
                   n.get("budget", "-"), n.get("remaining_share", "-"), h["concurrency_limit"]))
paced = [h[0] for h in health if h[1] == binding]
t_pace = paced[0] if paced else None
print(f"pacing by {binding} began at t≈{t_pace:.1f}s" if t_pace is not None
      else f"pacing by {binding} never began")
print("window (s) | ok/s | % of ceiling | p50 ms | paced by | nearest budget: min share left | limit")
ok_all, worst = t_pace is not None, 1e9
by_second = {int(r["second"]) - 1: r for r in ts}
for w0 in range(0, max(by_second, default=-1) + 2 - win, win):
    rows = [by_second[s] for s in range(w0, w0 + win) if s in by_second]
    g = sum(int(r["ok"]) for r in rows) / win
    p50 = sorted(float(r["p50_ms"] or 0) for r in rows)[win // 2]
    hs = [h for h in health if w0 <= h[0] < w0 + win]
    by = max(set(h[1] for h in hs), key=[h[1] for h in hs].count) if hs else "?"
    shares = [float(h[4]) for h in hs if h[4] != "-"]
    near = f"{hs[-1][3]} {min(shares):.2f}" if shares else "-"
    lim = hs[-1][5] if hs else "?"
    need = 0.95 if t_pace is not None and w0 >= t_pace + 30 else 0.90
    met = g >= need * c
    ok_all &= met
    worst = min(worst, g / c)
    print(f"{w0}-{w0 + win} | {g:.2f} | {g / c:.0%} (goal ≥ {need:.0%}{'' if met else ' MISSED'}) | {p50:.0f} | {by} | {near} | {lim}")
print(f"analyses ok {ok}, failed {errors}; upstream 429s {stats['responses_by_status'].get('429', 0)} "
      f"of {stats['requests_total']} model calls; lowest window {worst:.0%} of the ceiling")
print("goal (every 15 s window ≥ 90 % of the ceiling; ≥ 95 % from 30 s after pacing began):",
      "MET" if ok_all else "NOT MET")
sys.exit(0 if ok_all else 1)
EOF
echo "run written to $RUN/"
exit $status
