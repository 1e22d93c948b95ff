#!/usr/bin/env bash
# CPU per request of two loadgen binaries, A and B, on the same loopback nginx target, alternated
# round by round (scripts/peers.py: generator pinned to CPU 1, target to CPU 0), then the ratio
# B / A per round and its geometric mean. What issue 18's "no regression in CPU per request" is
# checked with: single passes vary by ±20% on this 2-core machine, so only paired rounds compare.
# Then, with valgrind installed, the steadier figure: instructions per request counted by
# callgrind (user space: loadgen, tokio, the allocator), as the difference between a 2 s and a 6 s
# run against the mock Trading API, so start-up cancels out.
#   bash scripts/bench_ab.sh OLD/loadgen NEW/loadgen      (ROUNDS=4 DURATION=6 by default)
# Needs nginx (apt-get install -y nginx-light), optionally valgrind, and target/release/mocks.
# Loopback only, bounded by DURATION × ROUNDS and four valgrind runs per binary.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: $0 A_LOADGEN B_LOADGEN" >&2; exit 2; }
for b in "$1" "$2"; do [ -x "$b" ] || { echo "error: $b is not an executable" >&2; exit 2; }; done
command -v nginx >/dev/null || { echo "error: nginx not found: apt-get install -y nginx-light" >&2; exit 2; }
ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-6}
cpu() {
  python3 scripts/peers.py --duration "$DURATION" --repeat 3 --only loadgen \
    --loadgen "$1 run --threads 1 --concurrency {c} --duration {d}s -X GET --quiet --json {json} {url}" |
    awk -F, '/^fast/ { print $6 }'
}
ratios=()
for round in $(seq "$ROUNDS"); do
  a=$(cpu "$1"); b=$(cpu "$2")
  [ -n "$a" ] && [ -n "$b" ] || { echo "error: round $round: no figure from peers.py" >&2; exit 1; }
  r=$(python3 -c "print(f'{$b / $a:.3f}')")
  ratios+=("$r")
  echo "round $round: A $a µs/request, B $b µs/request, B/A $r"
done
python3 - "${ratios[@]}" <<'PY'
import math, sys
r = [float(x) for x in sys.argv[1:]]
g = math.exp(sum(map(math.log, r)) / len(r))
print(f"B/A CPU per request over {len(r)} rounds: {min(r):.3f}–{max(r):.3f}, geometric mean {g:.3f}")
PY

command -v valgrind >/dev/null || { echo "note: valgrind not installed: no instruction counts" >&2; exit 0; }
[ -x target/release/mocks ] || { echo "error: target/release/mocks missing (make release)" >&2; exit 2; }
PORT=${PORT:-19333}
taskset -c 0 target/release/mocks trading --port "$PORT" --latency-ms 0 --latency-dist fixed \
  > /dev/null 2>&1 &
mock=$!
trap 'kill $mock 2>/dev/null' EXIT
sleep 1
tmp=$(mktemp -d)
counted() { # binary duration -> "requests instructions"
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" run --threads 1 -c 10 -d "$2" \
    -X GET --quiet --json "$tmp/run.json" "http://127.0.0.1:$PORT/v1/quotes/AAPL" > "$tmp/vg.out" 2>&1
  python3 - "$tmp/run.json" "$tmp/vg.out" <<'PY'
import json, re, sys
steps = json.load(open(sys.argv[1]))["steps"]
ir = re.search(r"Collected : (\d+)", open(sys.argv[2]).read()).group(1)
print(sum(s["requests"] for s in steps), ir)
PY
}
for pass in 1 2; do
  for side in A B; do
    bin=$1; [ $side = B ] && bin=$2
    read -r r1 i1 < <(counted "$bin" 2s)
    read -r r2 i2 < <(counted "$bin" 6s)
    python3 -c "print(f'instructions per request, pass $pass, $side: {($i2 - $i1) / ($r2 - $r1):.0f} (over {$r2 - $r1} requests)')"
  done
done
rm -rf "$tmp"
