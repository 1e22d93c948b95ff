#!/usr/bin/env python3
"""Soak: an open-loop rate of 80 % of the goodput measured just before, for SECONDS, against a
running analyze-server; analyze-server's RSS and open file descriptors sampled every 2 s.

  soak.py URL PID LOADGEN WORKDIR SECONDS ROW_FILE

Compares the first and the last window (a minute each, or a third of the run when shorter),
after a warm-up of one window's length is excluded from the first:
- RSS: median of the last window ≤ median of the first × 1.10 + 2 MB;
- open file descriptors: median of the last ≤ median of the first × 1.20 + 8 (client sockets
  come and go with the arrivals, so a few either way is noise; a leak grows without bound);
- latency: mean 2xx latency of the last window ≤ 1.15 × that of the first (from loadgen's
  per-second time series, weighted by each second's 2xx count);
- and ≥ 99 % of the requests answered 200, none lost.
Appends one Markdown row to ROW_FILE; exits non-zero when a check fails.
"""
import csv
import statistics
import subprocess
import sys
import time

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from chaos_wire import get_json, measure_capacity, open_fds, row, rss_mb  # noqa: E402

LOAD = 0.8
SAMPLE_S = 2.0


def soak(url, pid, loadgen, workdir, seconds, row_file):
    permits = get_json(f"{url}/health")["capacity"]
    capacity = measure_capacity(loadgen, f"{url}/analyze", f"{workdir}/soak-capacity.csv",
                                users=2 * permits, seconds=10)
    rate = round(LOAD * capacity, 2)
    window = min(60.0, seconds / 3)
    out, series = f"{workdir}/soak.csv", f"{workdir}/soak-timeseries.csv"
    proc = subprocess.Popen([loadgen, "run", f"{url}/analyze", "--rate", str(rate), "-d", f"{seconds}s",
                             "--warmup", f"{window:.0f}s", "--out", out, "--timeseries", series, "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    started = time.monotonic()
    samples = []  # (seconds since the measured part began, rss MB, fds)
    while proc.poll() is None:
        samples.append((time.monotonic() - started - window, rss_mb(pid), open_fds(pid)))
        time.sleep(SAMPLE_S)
    err = proc.stderr.read()
    if proc.returncode != 0:
        row(row_file, ["soak", f"open loop {rate}/s", "none", "-", "-",
                       f"loadgen exited {proc.returncode}: {err.strip()[-200:]}", "FAIL"])
        return False
    with open(out) as f:
        step = list(csv.DictReader(f))[-1]
    with open(series) as f:
        per_second = list(csv.DictReader(f))

    def first(t):
        return 0 <= t < window

    def last(t):
        return seconds - window <= t < seconds

    def med(which, i):
        return statistics.median(s[i] for s in samples if which(s[0]))

    def mean_latency(which):
        rows = [r for r in per_second if which(float(r["second"])) and int(r["ok"]) > 0]
        weight = sum(int(r["ok"]) for r in rows)
        return sum(float(r["mean_ms"]) * int(r["ok"]) for r in rows) / weight if weight else float("nan")

    rss0, rss1 = med(first, 1), med(last, 1)
    fd0, fd1 = med(first, 2), med(last, 2)
    lat0, lat1 = mean_latency(first), mean_latency(last)
    requests, ok = int(step["requests"]), int(step["ok"])
    lost = sum(int(step[k]) for k in ("timeouts", "connect_errors", "io_errors"))
    checks = {
        "RSS": rss1 <= rss0 * 1.10 + 2,
        "file descriptors": fd1 <= fd0 * 1.20 + 8,
        "latency": lat1 <= lat0 * 1.15,
        "≥ 99 % 200, none lost": requests > 0 and ok / requests >= 0.99 and lost == 0,
    }
    failed = [k for k, good in checks.items() if not good]
    row(row_file, [
        "soak",
        f"open loop {rate}/s = {LOAD:.0%} of the {capacity:.2f}/s measured just before (N={permits}), "
        f"{seconds} s measured after {window:.0f} s warm-up; windows of {window:.0f} s compared",
        "none (time only)",
        requests,
        f"200: {ok}, 429: {step['rejected_429']}, 503: {step['rejected_503']}, other: "
        f"{int(step['other_4xx']) + int(step['other_5xx']) + int(step['other_status'])}; "
        f"RSS {rss0:.1f} → {rss1:.1f} MB (bound {rss0 * 1.10 + 2:.1f}); fds {fd0:.0f} → {fd1:.0f} "
        f"(bound {fd0 * 1.2 + 8:.0f}); mean latency {lat0:.0f} → {lat1:.0f} ms (bound {lat0 * 1.15:.0f})",
        f"timeouts/connect/io errors {lost}" + (f"; failed: {', '.join(failed)}" if failed else ""),
        "pass" if not failed else "FAIL",
    ])
    return not failed


if __name__ == "__main__":
    a = sys.argv[1:]
    sys.exit(0 if soak(a[0], int(a[1]), a[2], a[3], int(a[4]), a[5]) else 1)
