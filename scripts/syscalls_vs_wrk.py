#!/usr/bin/env python3
"""Where loadgen's and wrk's CPU per request goes, side by side against one loopback nginx: system
calls per request by name, and the kernel's and user space's share of the CPU per request. What
issue 31's goal (CPU per request at most 0.8x wrk's) is weighed against: when the kernel time of
loadgen's own minimum exchange is already close to 0.8x wrk's whole CPU per request, only user
space is left to cut.

Each round runs both tools back to back (the first alternating, target pinned to CPU 0, tools to
CPU 1, 50 connections, one thread each), three passes per tool:
  1. timed:   /usr/bin/time, user+sys over the requests the tool reports: CPU us per request;
  2. sampled: perf record -e cpu-clock, the share of samples in the kernel (the kernel's own
              user/sys split is tick-sampled at 250 Hz; 4999 Hz samples split it finer);
  3. counted: perf stat on the syscalls:sys_enter_* tracepoints: system calls per request (the
              tracepoints slow every call, so this pass is not timed).
Prints one row per round and tool, then medians with their spread, the two tools' kernel CPU per
request against each other, and the bound the kernel sets: loadgen's kernel CPU per request over
wrk's whole CPU per request (the ratio loadgen would reach with no user-space work at all). The
kernel/user split of a tool comes from its sampled pass and is applied to its timed pass.

  python3 scripts/syscalls_vs_wrk.py [--rounds 5] [--duration 5] [--connections 50]
                                     [--loadgen target/release/loadgen]

Needs wrk, nginx, perf (with tracepoints readable: root or perf_event_paranoid <= 1) and
target/release/loadgen. Loopback only; bounded by rounds x 2 tools x 3 passes x duration.
"""
import argparse, json, os, re, shutil, signal, statistics, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402  (vendored from ../shared/peers: its nginx)

CALLS = ["read", "write", "recvfrom", "sendto", "readv", "writev", "recvmsg", "sendmsg",
         "epoll_wait", "epoll_pwait", "epoll_ctl", "futex", "sched_yield", "nanosleep",
         "clock_nanosleep", "ioctl"]
SHOWN = ["read/recvfrom", "write/sendto", "epoll_wait", "epoll_ctl", "futex", "other"]


def command(tool, loadgen, url, c, d, out):
    if tool == "wrk":
        return ["wrk", "-t1", f"-c{c}", f"-d{d}s", url]
    return [loadgen, "run", "--threads", "1", "--concurrency", str(c), "--duration", f"{d}s",
            "--url", url, "-X", "GET", "--quiet", "--json", out]


def requests(tool, stdout, json_path):
    """Requests the tool itself counted, from its output."""
    if tool == "wrk":
        m = re.search(r"(\d+) requests in", stdout)
        return int(m.group(1)) if m else 0
    try:
        steps = json.load(open(json_path))["steps"]
    except (OSError, ValueError, KeyError):
        return 0
    return sum(s.get("requests", 0) for s in steps)


def run(tool, prefix, a, url, work, timeout):
    """Runs tool pinned to CPU 1 under prefix; returns (its requests, stdout+stderr)."""
    out = os.path.join(work, "run.json")
    if os.path.exists(out):
        os.unlink(out)
    cmd = ["taskset", "-c", "1"] + prefix + command(tool, a.loadgen, url, a.connections, a.duration, out)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    n = requests(tool, r.stdout + r.stderr, out)
    if n <= 0:
        sys.exit(f"error: {tool} counted no request; its output ends:\n{(r.stdout + r.stderr)[-800:]}")
    return n, r.stdout + r.stderr


def timed(tool, a, url, work, timeout):
    """CPU microseconds per request (user+sys, exact in total)."""
    tf = os.path.join(work, "time.txt")
    n, _ = run(tool, ["/usr/bin/time", "-f", "%U %S", "-o", tf], a, url, work, timeout)
    u, s = open(tf).read().split()[-2:]
    return (float(u) + float(s)) / n * 1e6


def kernel_share(tool, a, url, work, timeout):
    """Share of cpu-clock samples taken in the kernel."""
    data = os.path.join(work, "perf.data")
    run(tool, ["perf", "record", "-q", "-e", "cpu-clock", "-F", "4999", "-o", data, "--"], a, url, work, timeout)
    rep = subprocess.run(["perf", "report", "-i", data, "--stdio", "--sort", "dso", "-q"],
                         capture_output=True, text=True, timeout=timeout).stdout
    total = kernel = 0.0
    for line in rep.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+)", line)
        if m:
            total += float(m.group(1))
            if m.group(2).startswith("[kernel"):
                kernel += float(m.group(1))
    return kernel / total if total else float("nan")


def syscalls(tool, a, url, work, timeout):
    """System calls per request, grouped as SHOWN, and their total."""
    events = ["raw_syscalls:sys_enter"] + [f"syscalls:sys_enter_{c}" for c in CALLS]
    pf = os.path.join(work, "stat.csv")
    n, _ = run(tool, ["perf", "stat", "-x", ",", "-o", pf, "-e", ",".join(events), "--"], a, url, work, timeout)
    got = {}
    for line in open(pf):
        parts = line.strip().split(",")
        if len(parts) > 2 and parts[0].isdigit():
            got[parts[2].split(":")[-1].removeprefix("sys_enter_")] = int(parts[0])
    total = got.pop("sys_enter", 0)
    groups = {
        "read/recvfrom": got.get("read", 0) + got.get("recvfrom", 0) + got.get("readv", 0) + got.get("recvmsg", 0),
        "write/sendto": got.get("write", 0) + got.get("sendto", 0) + got.get("writev", 0) + got.get("sendmsg", 0),
        "epoll_wait": got.get("epoll_wait", 0) + got.get("epoll_pwait", 0),
        "epoll_ctl": got.get("epoll_ctl", 0),
        "futex": got.get("futex", 0),
    }
    groups["other"] = total - sum(groups.values())
    return {k: v / n for k, v in groups.items()}, total / n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--loadgen", default="target/release/loadgen")
    a = ap.parse_args()
    if a.rounds < 1 or a.duration < 1 or a.connections < 1:
        ap.error("--rounds, --duration and --connections must be at least 1")
    for tool in ("wrk", "nginx", "taskset", "perf"):
        if not shutil.which(tool):
            sys.exit(f"error: {tool} not found: apt-get install -y wrk nginx-light util-linux linux-perf")
    if not os.access(a.loadgen, os.X_OK):
        sys.exit(f"error: {a.loadgen} is not an executable (make release)")
    timeout = a.duration + 60
    work = tempfile.mkdtemp(prefix="syscalls-vs-wrk-")
    port = peers.free_port()
    nginx = peers.start_nginx(work, port)
    url = f"http://127.0.0.1:{port}/"
    rows = {"loadgen": [], "wrk": []}
    try:
        print("round,tool,cpu_us_per_req,kernel_share,kernel_us_per_req,user_us_per_req,syscalls_per_req,"
              + ",".join(SHOWN))
        for r in range(1, a.rounds + 1):
            for tool in (["loadgen", "wrk"] if r % 2 else ["wrk", "loadgen"]):
                cpu = timed(tool, a, url, work, timeout)
                share = kernel_share(tool, a, url, work, timeout)
                per, total = syscalls(tool, a, url, work, timeout)
                rows[tool].append(dict(cpu=cpu, share=share, total=total, **per))
                print(f"{r},{tool},{cpu:.2f},{share:.3f},{cpu * share:.2f},{cpu * (1 - share):.2f},{total:.2f},"
                      + ",".join(f"{per[k]:.3f}" for k in SHOWN), flush=True)
    finally:
        nginx.send_signal(signal.SIGTERM)
        try:
            nginx.wait(5)
        except subprocess.TimeoutExpired:
            nginx.kill()
        shutil.rmtree(work, ignore_errors=True)

    def med(tool, f):
        v = [f(x) for x in rows[tool]]
        return statistics.median(v), min(v), max(v)

    print(f"# {a.rounds} rounds x 3 passes x {a.duration} s per tool, {a.connections} connections, nginx fixed 200 on loopback")
    for tool in ("loadgen", "wrk"):
        c, k, u, s = (med(tool, f) for f in (lambda x: x["cpu"], lambda x: x["cpu"] * x["share"],
                                             lambda x: x["cpu"] * (1 - x["share"]), lambda x: x["total"]))
        calls = ", ".join(f"{name} {med(tool, lambda x, n=name: x[n])[0]:.2f}" for name in SHOWN)
        print(f"# {tool}: CPU {c[0]:.2f} us/request ({c[1]:.2f}-{c[2]:.2f}): kernel {k[0]:.2f}, user {u[0]:.2f}; "
              f"{s[0]:.2f} syscalls/request ({calls})")
    # Within each round: loadgen's kernel time alone over wrk's whole CPU per request.
    kernel = [lg["cpu"] * lg["share"] / (w["cpu"] * w["share"]) for lg, w in zip(rows["loadgen"], rows["wrk"])]
    bound = [lg["cpu"] * lg["share"] / w["cpu"] for lg, w in zip(rows["loadgen"], rows["wrk"])]
    ratio = [lg["cpu"] / w["cpu"] for lg, w in zip(rows["loadgen"], rows["wrk"])]
    print(f"# CPU per request, loadgen / wrk: median {statistics.median(ratio):.3f} ({min(ratio):.3f}-{max(ratio):.3f})")
    print(f"# kernel CPU per request, loadgen / wrk: median {statistics.median(kernel):.3f} ({min(kernel):.3f}-{max(kernel):.3f})")
    print(f"# loadgen's kernel CPU alone / wrk's whole CPU per request: median {statistics.median(bound):.3f} "
          f"({min(bound):.3f}-{max(bound):.3f}): the ratio with no user-space work at all")


if __name__ == "__main__":
    main()
