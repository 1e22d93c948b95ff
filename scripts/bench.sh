#!/usr/bin/env bash
# loadgen side by side with wrk, oha and hey on loopback (scripts/peers.py, vendored from ../shared/peers/peers.py), plus the
# open-loop rate accuracy check, https, and the cost of many thinking users (scripts/bench_users.py).
# Prints the tables the README quotes. Not part of `make test`:
# speed goals live here, measured as ratios within one run, never as timed assertions. Exits 1
# after every section when a goal with a threshold was missed (section 1b: loadgen against the floor client and wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=${PEERS:-scripts/peers.py}
DURATION=${DURATION:-8}
REPEAT=${REPEAT:-3}
ROUNDS=${ROUNDS:-5}
ROUNDS_VS_WRK=${ROUNDS_VS_WRK:-6}  # a multiple of 3: loadgen, the floor client and wrk each first equally often
[ -f "$PEERS" ] || { echo "error: $PEERS not found (set PEERS=path/to/peers.py)" >&2; exit 2; }
for t in wrk nginx hey; do
  command -v $t >/dev/null || { echo "error: $t not found: apt-get install -y wrk hey apache2-utils nginx-light" >&2; exit 2; }
done
command -v oha >/dev/null || echo "note: oha not installed (cargo install oha --locked); its column will be missing" >&2

echo "== 1+2. fixed-200 nginx and a fixed 20 ms target, 50 connections, generators pinned to CPU 1"
python3 "$PEERS" --duration "$DURATION" --repeat "$REPEAT" \
  --loadgen 'target/release/loadgen run --threads 1 --concurrency {c} --duration {d}s --url {url} -X GET --quiet --json {json}' \
  --delay-target 'target/release/mocks trading --port {port} --latency-ms 20 --latency-dist fixed' \
  --delay-path /v1/quotes/AAPL

echo "== 1b. loadgen, the floor client and wrk in $ROUNDS_VS_WRK rounds (gate: CPU per request <= 1.15x the floor's; the wrk goals, 0.8x CPU and 1.1x req/s, printed beside what the floor reached)"
goals=0
python3 scripts/bench_vs_wrk.py --rounds "$ROUNDS_VS_WRK" --duration "$DURATION" || goals=$?

echo "== 1c. where the CPU per request goes: syscalls per request, kernel and user CPU, loadgen and wrk ($ROUNDS rounds)"
if command -v perf >/dev/null; then
  python3 scripts/syscalls_vs_wrk.py --rounds "$ROUNDS" --duration 5
else
  echo "note: perf not installed (apt-get install -y linux-perf): section 1c skipped" >&2
fi

echo "== 3. open loop: achieved rate against the asked rate (nginx fixed 200)"
bash scripts/bench_open_loop.sh

echo "== 4. HTTPS keep-alive beside plain HTTP (goal: loadgen's CPU per request within 1.3x)"
bash scripts/bench_https.sh

echo "== 5. many thinking users: RSS and CPU per idle user (make bench-users; goal ≤ 20 KB and ≤ 1 % of a core per 1,000)"
python3 scripts/bench_users.py

[ "$goals" -eq 0 ] || { echo "make bench: loadgen failed its gate against the floor client and wrk (section 1b)" >&2; exit 1; }
