"""Overload: an open-loop arrival rate of 20× what the server sustains, measured first in the
same run (a closed loop of 2×N users), against the demo profile's mocks.

Checks: only 200/429/503 come back; no connection is refused or reset; rejections are fast
(loadgen's rejected p99 ≤ 10 ms); mock Claude never has more calls in flight than its
concurrency limit; analyze-server's RSS stays within a bound during the run and returns near
its warm idle level after.
"""
import csv
import subprocess
import time

from chaos_wire import get_json, measure_capacity, post_json, row, rss_mb

FACTOR = 20
REJECTED_P99_MS = 10.0
# RSS bounds, relative to the warm idle RSS (after the capacity step, before the overload):
# peak within +64 MB (a queue of MAX_QUEUE_DEPTH requests and ~1000 client connections need a
# few MB; growth beyond that is state that grows with the arrival rate), and back within
# +10 % +4 MB of it 10 s after the load stops.
PEAK_EXTRA_MB = 64
AFTER_FACTOR, AFTER_EXTRA_MB = 1.10, 4
SETTLE_S = 10


def overload(url, pid, claude, loadgen, workdir, row_file, seconds):
    health = get_json(f"{url}/health")
    permits = health["capacity"]
    capacity = measure_capacity(loadgen, f"{url}/analyze", f"{workdir}/overload-capacity.csv",
                                users=2 * permits, seconds=8)
    rate = round(FACTOR * capacity, 1)
    time.sleep(2)
    idle = rss_mb(pid)
    limit = get_json(f"{claude}/__settings")["max_concurrent"]
    post_json(f"{claude}/__admin/reset", {})

    out = f"{workdir}/overload.csv"
    proc = subprocess.Popen([loadgen, "run", f"{url}/analyze", "--rate", str(rate), "-d", f"{seconds}s",
                             "--timeout", "35s", "--out", out, "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = idle
    while proc.poll() is None:
        peak = max(peak, rss_mb(pid))
        time.sleep(0.25)
    err = proc.stderr.read()
    time.sleep(SETTLE_S)
    after = rss_mb(pid)
    claude_stats = get_json(f"{claude}/__stats")

    if proc.returncode != 0:
        row(row_file, ["overload", f"open loop {rate}/s", "none", "-", "-",
                       f"loadgen exited {proc.returncode}: {err.strip()[-200:]}", "FAIL"])
        return False
    with open(out) as f:
        step = list(csv.DictReader(f))[-1]
    n = {k: int(step[k]) for k in ("requests", "ok", "rejected_429", "rejected_503", "other_4xx",
                                    "other_5xx", "other_status", "timeouts", "connect_errors",
                                    "io_errors", "unsent")}
    rejected_p99 = float(step["rejected_p99_ms"] or 0)
    max_in_flight = claude_stats["max_in_flight"]
    upstream_429 = claude_stats["responses_by_status"].get("429", 0)
    unexpected = n["other_4xx"] + n["other_5xx"] + n["other_status"] + n["timeouts"]
    broken = n["connect_errors"] + n["io_errors"]
    sent_enough = n["requests"] >= 0.95 * rate * seconds
    checks = {
        "only 200/429/503": unexpected == 0,
        "no refused/reset connection": broken == 0,
        f"rejected p99 ≤ {REJECTED_P99_MS:g} ms": rejected_p99 <= REJECTED_P99_MS,
        "mock Claude within its limit": max_in_flight <= limit,
        f"peak RSS ≤ idle + {PEAK_EXTRA_MB} MB": peak <= idle + PEAK_EXTRA_MB,
        "RSS back near idle": after <= idle * AFTER_FACTOR + AFTER_EXTRA_MB,
        "≥ 95 % of the planned arrivals sent": sent_enough,
    }
    failed = [k for k, ok in checks.items() if not ok]
    row(row_file, [
        "overload",
        f"open loop {rate}/s for {seconds} s = {FACTOR}× the {capacity:.2f}/s measured just before "
        f"(closed loop, {2 * permits} users, N={permits}); demo profile",
        "none (load only)",
        n["requests"],
        f"200: {n['ok']}, 429: {n['rejected_429']}, 503: {n['rejected_503']}, other 4xx/5xx/status: "
        f"{n['other_4xx']}/{n['other_5xx']}/{n['other_status']}; rejected p99 {rejected_p99:.2f} ms; "
        f"mock Claude max in flight {max_in_flight} (limit {limit}, server N={permits}), upstream 429s {upstream_429}; "
        f"RSS idle {idle:.1f} MB, peak {peak:.1f} MB (bound {idle + PEAK_EXTRA_MB:.0f}), "
        f"{SETTLE_S} s after {after:.1f} MB (bound {idle * AFTER_FACTOR + AFTER_EXTRA_MB:.1f})",
        f"timeouts {n['timeouts']}, connect errors {n['connect_errors']}, io errors {n['io_errors']}, "
        f"unsent {n['unsent']}" + (f"; failed: {', '.join(failed)}" if failed else ""),
        "pass" if not failed else "FAIL",
    ])
    return not failed
