#!/usr/bin/env bash
# Several generators, one run: two `loadgen ramp` instances with one --start-at against the mock
# Trading API, `loadgen merge` of their --hdr-log files, then HdrHistogram's own Python reader
# (PyPI `hdrhistogram`) decodes the instance logs and must agree with the merge, and the merged
# request count must equal the target's own count.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/procs.sh
BIN=target/release
RUN=${RUN:-$(mktemp -d)}
TP=${TP:-19204}
port_free "$TP"
start "mock trading" "$RUN/mocks.log" $BIN/mocks trading --port "$TP" --latency-ms 20 --latency-dist fixed
wait_http "http://127.0.0.1:$TP/__stats"
curl -sf -X POST "http://127.0.0.1:$TP/__admin/reset" >/dev/null
AT=$(python3 -c 'import datetime as d; print((d.datetime.now(d.timezone.utc) + d.timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))')
pids=()
for i in 0 1; do
  $BIN/loadgen ramp --steps 4,9 --step-duration 2s --warmup 0s -X GET --quiet \
    --start-at "$AT" --instance "$i/2" --hdr-log "$RUN/i$i.hdrlog" --out "$RUN/i$i.csv" --json "$RUN/i$i.json" \
    "http://127.0.0.1:$TP/v1/market/status" > "$RUN/i$i.out" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
curl -sf "http://127.0.0.1:$TP/__stats" > "$RUN/target.json"
$BIN/loadgen merge --quiet "$RUN/i0.hdrlog" "$RUN/i1.hdrlog" --out "$RUN/merged" --slo 'success>=99%'
${PYTHON:-.venv/bin/python} - "$RUN/merged/merged.json" "$RUN/target.json" "$RUN/i0.hdrlog" "$RUN/i1.hdrlog" <<'PY' "$RUN/i0.json" "$RUN/i1.json"
import json, sys
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

merged = json.load(open(sys.argv[1]))["steps"]
target = json.load(open(sys.argv[2]))
logs = sys.argv[3:5]
# Requests no step counts but the target saw: each instance's preflight (0 unless
# --preflight-request) and warm-up sends, as its JSON reports them.
uncounted = sum(json.load(open(p)).get("preflight_requests", 0) + json.load(open(p)).get("warmup_requests", 0)
                for p in sys.argv[5:7])
ok_by_step, all_by_step = {}, {}
for path in logs:
    reader = HistogramLogReader(path, HdrHistogram(1, 3_600_000_000, 3))
    while True:
        h = reader.get_next_interval_histogram()
        if h is None:
            break
        step, cls, kind = h.get_tag().split("/")
        if kind != "corrected":
            continue
        n = int(step[4:])
        all_by_step[n] = all_by_step.get(n, 0) + h.get_total_count()
        if cls == "ok":
            ok_by_step.setdefault(n, HdrHistogram(1, 3_600_000_000, 3)).add(h)
failures = []
def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        failures.append(what)
for i, s in enumerate(merged, start=1):
    h = ok_by_step[i]
    check(h.get_total_count() == s["ok"], f"step {i}: {h.get_total_count()} ok values in the logs, merge says {s['ok']}")
    check(all_by_step[i] == s["requests"], f"step {i}: {all_by_step[i]} values across classes, merge says {s['requests']} requests")
    n = h.get_total_count()
    for q, col in ((50, "p50_ms"), (99, "p99_ms")):
        # Python rounds a percentile's rank, Rust takes its ceiling: accept the neighbouring rank.
        got = [h.get_value_at_percentile(min(100.0, q + k * 100.0 / max(n, 1))) / 1000.0 for k in (0, 1)]
        want = float(s[col])
        check(any(abs(g - want) <= max(0.002 * want, 0.002) for g in got),
              f"step {i}: p{q} {got[0]:.3f} ms summed by hdrh, {want:.3f} ms merged")
total = sum(s["requests"] for s in merged)
check(total + uncounted == target["requests_total"],
      f"merged {total} requests + {uncounted} preflight and warm-up = the target's own {target['requests_total']}")
if failures:
    sys.exit(f"{len(failures)} merge check(s) failed")
print("merge: the hdrhistogram package agrees with loadgen merge, and the target agrees with both")
PY
