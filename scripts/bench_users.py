#!/usr/bin/env python3
"""`make bench-users`: issue 17's goal for many users on one machine.

10,000 closed-loop users thinking 60 s in one release loadgen process, against a release mock on
127.0.0.1. Every user sends its first request while the users start (spread over SPAWN_S), then
thinks past the end of the run: the measured window (IDLE_S) holds only idle, thinking users.
The script samples the loadgen process itself — RSS from /proc/PID/status (VmRSS), CPU from
/proc/PID/stat (utime + stime) — and runs a baseline with few users to subtract the fixed cost
(runtime, histograms, buffers). Printed: KB of RSS per thinking user and % of one core per 1,000
idle users, for users keeping their keep-alive connection (the default) and with
--close-between, beside the figures k6's and Locust's own documentation give.

Goal (exit 1 when missed, keep-alive run): <= 20 KB (20,000 bytes) of RSS per thinking user and
<= 1 % of a core per 1,000 idle users. Before trusting the numbers it checks they describe what
they claim: the mock saw one request per user before the window, and holds one connection per
user through it (none with --close-between).

Bounded: three runs of SPAWN_S + IDLE_S + 3 s each (about 100 s with the defaults); loopback
only, its own port; stops what it started by PID, also on error or Ctrl-C. Not part of
`make test`: a speed goal, never a timed assertion in the test suite.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release"
USERS = int(os.environ.get("BENCH_USERS", "10000"))
BASE_USERS = int(os.environ.get("BENCH_BASE_USERS", "10"))
THINK = os.environ.get("BENCH_THINK", "60s")
SPAWN_S = int(os.environ.get("BENCH_SPAWN_S", "10"))
IDLE_S = int(os.environ.get("BENCH_IDLE_S", "20"))
PORT = int(os.environ.get("BENCH_USERS_PORT", "19250"))
GOAL_BYTES_PER_USER = 20_000
GOAL_CORE_PCT_PER_1000 = 1.0
SETTLE_S = 2  # after the last user's start: its first answer is in, it thinks
TICK = os.sysconf("SC_CLK_TCK")

# The peers' figures, quoted from their own documentation (issue 17: cite the page).
K6_URL = "https://grafana.com/docs/k6/latest/testing-guides/running-large-tests/"
K6_MEMORY = "Simple tests use ~1-5MB per VU. (1000VUs = 1-5GB)."
K6_CPU = (
    "no per-VU CPU figure; it asks to size the machine to have at least 20% idle cycles"
)
LOCUST_URL = "https://docs.locust.io/en/stable/running-distributed.html"
LOCUST_USERS = (
    "Locust/gevent can run thousands or even tens of thousands of Users per process just "
    "fine, as long as their total request rate (RPS) is not too high."
)
LOCUST_CPU = (
    "no per-user memory or CPU figure; one process uses at most one core, so it says to run "
    "one worker per core"
)

started: list[subprocess.Popen] = []


class BenchError(Exception):
    """A precondition or a check of the measurement failed: the numbers would mean nothing."""


def stop_all() -> None:
    """SIGTERM what this script started (by PID), then SIGKILL what is left after 10 s."""
    for p in started:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + 10
    for p in started:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    started.clear()


def start(args: list[str], log: Path) -> subprocess.Popen:
    out = open(log, "wb")
    p = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    started.append(p)
    print(f"started {Path(args[0]).name} (pid {p.pid}), log: {log}", file=sys.stderr)
    return p


def raise_open_files(need: int) -> int:
    """Raises the soft (and, as root, the hard) open-files limit that children inherit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(need, 65536)
    for new_hard in (max(hard, want), hard):
        new_soft = want if new_hard == resource.RLIM_INFINITY else min(want, new_hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, new_hard))
            break
        except (ValueError, OSError):
            continue
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        raise BenchError(
            f"{USERS} users need about {need} open files in loadgen (and in the mock), and the "
            f"limit is {soft} (hard {hard}); raise it (ulimit -Hn {need}, as root) and run again"
        )
    return soft


def port_free() -> None:
    import socket

    with socket.socket() as s:
        s.settimeout(1)
        if s.connect_ex(("127.0.0.1", PORT)) == 0:
            raise BenchError(
                f"port {PORT} is already in use on 127.0.0.1; stop what runs there first or set "
                "BENCH_USERS_PORT"
            )


def stats() -> dict:
    url = f"http://127.0.0.1:{PORT}/__stats"
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def wait_ready(proc: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"the mock exited with {proc.returncode} before it answered")
        try:
            stats()
            return
        except OSError:
            time.sleep(0.1)
    raise BenchError(f"the mock on 127.0.0.1:{PORT} did not answer within {seconds:.0f} s")


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (all its threads), seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # fields 14 and 15 of proc(5)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise BenchError(f"no VmRSS for pid {pid}")


@dataclass
class Sample:
    """One loadgen run's idle window."""

    label: str
    users: int
    rss: int  # bytes, the highest sample of the window
    cpu_core: float  # share of one core over the window
    conns_held: int  # the mock's open connections in the middle of the window
    requests_before: int  # requests the mock saw before the window


def measure(label: str, users: int, close_between: bool, run_dir: Path) -> Sample:
    before = stats()["requests_total"]
    duration = SPAWN_S + SETTLE_S + IDLE_S + 1
    args = [
        str(BIN / "loadgen"),
        "run",
        "-X",
        "GET",
        "-c",
        str(users),
        "-d",
        f"{duration}s",
        "--spawn-over",
        f"{SPAWN_S}s",
        "--think-time",
        THINK,
        "--quiet",
        "--out",
        str(run_dir / f"{label}.csv"),
        f"http://127.0.0.1:{PORT}/v1/market/status",
    ]
    if close_between:
        args.append("--close-between")
    t0 = time.monotonic()
    lg = start(args, run_dir / f"{label}.log")
    time.sleep(SPAWN_S + SETTLE_S)
    if lg.poll() is not None:
        raise BenchError(f"{label}: loadgen exited early with {lg.returncode}")
    seen = stats()["requests_total"] - before
    if seen != users:
        raise BenchError(
            f"{label}: the mock saw {seen} requests before the idle window, not one per user "
            f"({users}): the window would not hold only thinking users"
        )
    c0, w0 = cpu_seconds(lg.pid), time.monotonic()
    rss = rss_bytes(lg.pid)
    held = None
    while time.monotonic() - w0 < IDLE_S:
        time.sleep(1)
        rss = max(rss, rss_bytes(lg.pid))
        if held is None and time.monotonic() - w0 >= IDLE_S / 2:
            # Less the connection this very /__stats request is answered on.
            held = stats()["connections_open"] - 1
    c1, w1 = cpu_seconds(lg.pid), time.monotonic()
    if stats()["requests_total"] - before != users:
        raise BenchError(f"{label}: requests were sent during the idle window")
    code = lg.wait(timeout=duration + 60)
    if code != 0:
        raise BenchError(f"{label}: loadgen exited with {code} (see {run_dir / label}.log)")
    print(f"{label}: {users} users, {time.monotonic() - t0:.0f} s", file=sys.stderr)
    return Sample(label, users, rss, (c1 - c0) / (w1 - w0), held or 0, seen)


def per_user(s: Sample, base: Sample) -> tuple[float, float]:
    """Bytes of RSS per user and % of a core per 1,000 users, the baseline subtracted."""
    extra = s.users - base.users
    return (s.rss - base.rss) / extra, (s.cpu_core - base.cpu_core) * 100 * 1000 / extra


def main() -> int:
    for b in ("loadgen", "mocks"):
        if not (BIN / b).is_file():
            raise BenchError(f"{BIN / b} is missing: run `make release` first")
    if USERS <= BASE_USERS:
        raise BenchError(f"BENCH_USERS ({USERS}) must be above BENCH_BASE_USERS ({BASE_USERS})")
    limit = raise_open_files(USERS + 1024)
    port_free()
    run_dir = ROOT / "reports" / "runs" / time.strftime("bench-users-%Y%m%dT%H%M%SZ", time.gmtime())
    run_dir.mkdir(parents=True, exist_ok=True)
    mock = start(
        [
            str(BIN / "mocks"),
            "trading",
            "--port",
            str(PORT),
            "--latency-ms",
            "20",
            "--latency-dist",
            "fixed",
        ],
        run_dir / "mock.log",
    )
    wait_ready(mock)
    print(
        f"== make bench-users: {USERS} users thinking {THINK} (baseline {BASE_USERS}), start spread "
        f"over {SPAWN_S} s, idle window {IDLE_S} s; open files {limit}; {os.cpu_count()} CPUs; "
        f"run in {run_dir.relative_to(ROOT)}/"
    )
    base = measure("baseline", BASE_USERS, False, run_dir)
    keep = measure("keep-alive", USERS, False, run_dir)
    close = measure("close-between", USERS, True, run_dir)
    stop_all()
    if keep.conns_held < USERS:
        raise BenchError(
            f"keep-alive: the mock held {keep.conns_held} connections in the window, not one per "
            f"user ({USERS}): the users did not keep their connections"
        )
    if close.conns_held > USERS // 100:
        raise BenchError(
            f"--close-between: the mock still held {close.conns_held} connections in the window"
        )

    print()
    print("| run | users | connections held | RSS MB | CPU, % of a core |")
    print("|---|---|---|---|---|")
    for s in (base, keep, close):
        print(
            f"| {s.label} | {s.users:,} | {s.conns_held:,} | {s.rss / 1e6:.1f} | "
            f"{s.cpu_core * 100:.2f} |"
        )
    print()
    rows = []
    for s in (keep, close):
        b, c = per_user(s, base)
        rows.append((s, b, c))
        print(
            f"{s.label}: {b / 1000:.2f} KB of RSS per thinking user, {c:.3f} % of a core per "
            f"1,000 idle users"
        )
    print()
    print("Peers, from their own documentation (figures quoted, not measured here):")
    print(f'  k6: "{K6_MEMORY}" ({K6_URL}); {K6_CPU}')
    kb = rows[0][1] / 1000
    print(
        f"      k6's lower bound, 1 MB per VU, is {1000 / kb:.0f}x loadgen's {kb:.1f} KB per "
        f"thinking user (a k6 VU runs a JavaScript VM; a loadgen user is a task and a socket)"
    )
    print(f'  Locust: "{LOCUST_USERS}" ({LOCUST_URL}); {LOCUST_CPU}')
    print()
    _, b, c = rows[0]
    met = b <= GOAL_BYTES_PER_USER and c <= GOAL_CORE_PCT_PER_1000
    print(
        f"Goal (keep-alive users): <= {GOAL_BYTES_PER_USER / 1000:.0f} KB per thinking user and "
        f"<= {GOAL_CORE_PCT_PER_1000:g} % of a core per 1,000 idle users: "
        f"{'MET' if met else 'NOT MET'} ({b / 1000:.2f} KB, {c:.3f} %)"
    )
    return 0 if met else 1


def on_term(signum, _frame):
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_term)
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"bench-users: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        stop_all()
