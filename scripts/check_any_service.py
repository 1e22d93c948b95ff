"""`make check-any-service` (issue 29): `loadgen ramp` and `loadgen report` against two services
that are not analyze-server, built here from well-known parts, and what the report must say.

1. A Python web app under a fixed pool of POOL worker threads (scripts/any_service/pool_app.py),
   calling mock Claude through the official Anthropic SDK: the binding is "a concurrency limit
   inside the service" (inferred) within 10% of POOL.
2. nginx with `limit_conn` LIMIT in front of the mock Trading API: the same, at LIMIT (nginx
   sheds the excess with 503).
3. The Python app's CPU-bound route with the target's own process_* metrics scraped and
   --target-cores 1 (the GIL: one core): the binding is "target CPU" (measured).

No output of any case may name analyze-server's variables, permits, the adaptive floor or
provider budgets. Every process is started here and stopped by PID; ports are free ones.

usage: check_any_service.py BIN_DIR PYTHON
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN, PYTHON = sys.argv[1], sys.argv[2]
STEP = os.environ.get("ANY_SERVICE_STEP", "8s")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = tempfile.mkdtemp(prefix="check-any-service-")
FORBIDDEN = re.compile(
    r"MAX_CONCURRENT_ANALYSES|MAX_QUEUE_DEPTH|QUEUE_TIMEOUT_MS|analyze-server|permit|adaptive|provider",
    re.IGNORECASE,
)
procs = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(name, args, **kw):
    log = open(os.path.join(WORK, f"{name}.log"), "w")
    p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, **kw)
    procs.append(p)
    return p


def wait_http(url, method="GET"):
    for _ in range(100):
        try:
            req = urllib.request.Request(url, method=method, data=b"{}" if method == "POST" else None)
            urllib.request.urlopen(req, timeout=5).read()
            return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.1)
    raise SystemExit(f"FAIL  {url} never answered")


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()


def ramp_and_report(name, url, steps, extra=(), method="GET"):
    out = os.path.join(WORK, name)
    os.makedirs(out)
    cmd = [
        f"{BIN}/loadgen", "ramp", "--url", url, "-X", method, "--steps", steps,
        "--step-duration", STEP, "--warmup", "1s", "--timeout", "10s",
        "--out", f"{out}/ramp.csv", "--json", f"{out}/ramp.json", "--quiet", *extra,
    ]
    if method == "POST":
        cmd += ["--body", "{}"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode not in (0, 1):
        raise SystemExit(f"FAIL  {name}: loadgen ramp exited {r.returncode}\n{r.stderr}")
    r = subprocess.run(
        [f"{BIN}/loadgen", "report", f"{out}/ramp.csv", "--out-dir", f"{out}/report", "--slo", "p99<30s"],
        capture_output=True, text=True,
    )
    if r.returncode != 0:
        raise SystemExit(f"FAIL  {name}: loadgen report exited {r.returncode}\n{r.stderr}")
    summary = json.load(open(f"{out}/report/summary.json"))
    md = open(f"{out}/report/report.md").read()
    return summary, md, r.stdout


failures = []


def check(name, ok, what):
    print(f"{'ok  ' if ok else 'FAIL'}  {name}: {what}")
    if not ok:
        failures.append(f"{name}: {what}")


def judge(name, summary, md, stdout, binding, size=None, source=None):
    bindings = [(b["concurrency"], b["binding"], b["source"]) for b in summary["binding"]]
    print(f"      {name}: bindings {bindings}")
    top = [b for b in summary["binding"] if b["binding"] != "none"]
    check(name, any(b["binding"] == binding for b in top), f"binds as {binding}")
    if source:
        check(name, all(b["source"] == source for b in top if b["binding"] == binding), f"source {source}")
    if size is not None:
        limits = {b["limit"] for b in top if b["binding"] == binding}
        c = limits.pop() if len(limits) == 1 else None
        check(name, c is not None and abs(c - size) <= 0.1 * size,
              f"the binding's limit {c} within 10% of the true {size}")
    rec = summary.get("recommended") or {}
    check(name, rec.get("target") == "service", f"recommendation in neutral terms ({rec.get('target')})")
    hits = sorted(set(m.group(0) for m in FORBIDDEN.finditer(md + stdout + json.dumps(rec))))
    check(name, not hits, f"no analyze-server terms in report.md, findings or recommendation {hits}")
    check(name, summary.get("knee_concurrency") is not None and summary["usl"].get("sigma") is not None,
          f"knee {summary.get('knee_concurrency')} and USL σ {summary['usl'].get('sigma')} reported")


try:
    cp, tp = free_port(), free_port()
    start("mocks", [f"{BIN}/mocks", "all", "--profile", f"{ROOT}/mocks/profiles/demo.toml",
                    "--claude-port", str(cp), "--trading-port", str(tp)])
    wait_http(f"http://127.0.0.1:{cp}/__stats")
    wait_http(f"http://127.0.0.1:{tp}/__stats")

    # 1. The Python worker pool calling mock Claude.
    pool, ap = 4, free_port()
    app = start("pool_app", [PYTHON, f"{ROOT}/scripts/any_service/pool_app.py", "--port", str(ap),
                             "--pool", str(pool), "--claude", f"http://127.0.0.1:{cp}"])
    wait_http(f"http://127.0.0.1:{ap}/ask", "POST")
    s, md, out = ramp_and_report("pool", f"http://127.0.0.1:{ap}/ask", "1,2,4,8,12", method="POST")
    judge("python pool of 4", s, md, out, "concurrency_limit", size=pool, source="inferred")

    # 2. nginx limit_conn in front of the mock Trading API.
    limit, np_ = 4, free_port()
    ndir = os.path.join(WORK, "nginx-conf")
    os.makedirs(ndir, exist_ok=True)
    with open(f"{ndir}/nginx.conf", "w") as f:
        f.write(f"""daemon off;
worker_processes 1;
pid {ndir}/nginx.pid;
error_log {ndir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {ndir}/client_body;
  proxy_temp_path {ndir}/proxy;
  fastcgi_temp_path {ndir}/fastcgi;
  uwsgi_temp_path {ndir}/uwsgi;
  scgi_temp_path {ndir}/scgi;
  limit_conn_zone $server_name zone=perserver:1m;
  upstream trading {{ server 127.0.0.1:{tp}; keepalive 32; }}
  server {{
    listen 127.0.0.1:{np_};
    server_name any;
    location / {{
      limit_conn perserver {limit};
      limit_conn_status 503;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass http://trading;
    }}
  }}
}}
""")
    start("nginx", ["nginx", "-p", ndir, "-e", f"{ndir}/error.log", "-c", f"{ndir}/nginx.conf"])
    wait_http(f"http://127.0.0.1:{np_}/v1/quotes/AAPL")
    s, md, out = ramp_and_report("nginx", f"http://127.0.0.1:{np_}/v1/quotes/AAPL", "1,2,4,8,16")
    judge("nginx limit_conn 4", s, md, out, "concurrency_limit", size=limit, source="inferred")

    # 3. The app's CPU-bound route, its own process_* metrics scraped, one core (the GIL).
    s, md, out = ramp_and_report(
        "cpu", f"http://127.0.0.1:{ap}/cpu", "1,2,4,8",
        extra=("--scrape", f"http://127.0.0.1:{ap}/metrics", "--target-cores", "1"),
    )
    judge("python CPU-bound", s, md, out, "target_cpu", source="measured")
finally:
    for p in reversed(procs):
        stop(p)

if failures:
    print(f"check-any-service: {len(failures)} check(s) failed; runs kept in {WORK}")
    sys.exit(1)
print("check-any-service: every check passed")
shutil.rmtree(WORK, ignore_errors=True)
