#!/usr/bin/env python3
"""Read loadgen's --hdr-log with the PyPI `hdrhistogram` package (HdrHistogram's own Python port)
and check that every step's histogram agrees with loadgen's JSON summary: the same count and the
same percentiles. Catches a log that only our own reader could read.

usage: check_hdrlog.py RUN.hdrlog RUN.json
"""
import json
import sys

from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

log_path, json_path = sys.argv[1], sys.argv[2]
steps = json.load(open(json_path))["steps"]
reader = HistogramLogReader(log_path, HdrHistogram(1, 3_600_000_000, 3))
# Each step logs, per outcome class, `stepN/CLASS/corrected` and `…/uncorrected`; the served
# percentiles of the summary are those of `stepN/ok/corrected`.
tagged = {}
while True:
    h = reader.get_next_interval_histogram()
    if h is None:
        break
    tagged[h.get_tag()] = h
histograms = [tagged[f"step{i}/ok/corrected"] for i in range(1, len(steps) + 1) if f"step{i}/ok/corrected" in tagged]

failures = []


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        failures.append(what)


check(len(histograms) == len(steps), f"{len(histograms)} ok histograms in the log for {len(steps)} steps")
for i, s in enumerate(steps, start=1):
    total = sum(h.get_total_count() for t, h in tagged.items() if t.startswith(f"step{i}/") and t.endswith("/corrected"))
    answered = s["requests"] - s["in_flight_at_end"]
    check(total == answered, f"step {i}: every class's histogram together holds {total} values, summary {answered} requests")
for i, (h, s) in enumerate(zip(histograms, steps), start=1):
    n = h.get_total_count()
    # The step's histogram holds its 2xx latencies (the served percentiles of the summary).
    check(n == s["ok"], f"step {i}: log holds {n} values, summary {s['ok']} ok responses")
    for q, col in ((50, "p50_ms"), (99, "p99_ms")):
        want = float(s[col])
        # The two libraries round the rank of a percentile differently (Rust: ceil(q·n), Python:
        # round(q·n)), so with few values they may pick neighbouring values: accept the value at
        # q and at the next rank, each to the histogram's 3-significant-digit resolution.
        got = [h.get_value_at_percentile(min(100.0, q + k * 100.0 / max(n, 1))) / 1000.0 for k in (0, 1)]
        ok = any(abs(g - want) <= max(0.002 * want, 0.002) for g in got)
        check(ok, f"step {i}: p{q} {got[0]:.3f} ms from the log (next rank {got[1]:.3f}), {want:.3f} ms in the summary")
    check(abs(h.get_max_value() / 1000.0 - float(s["max_ms"])) <= max(0.002 * float(s["max_ms"]), 0.002),
          f"step {i}: max {h.get_max_value() / 1000.0:.3f} ms, summary {float(s['max_ms']):.3f} ms")

if failures:
    print(f"{len(failures)} hdr-log check(s) failed", file=sys.stderr)
    sys.exit(1)
print("hdr log: readable by the hdrhistogram package and consistent with the summary")
