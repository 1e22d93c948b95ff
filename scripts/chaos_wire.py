"""What every chaos scenario shares (stdlib only): one raw HTTP/1.1 exchange per fresh connection,
the summary row, readings of a process in /proc, the mocks' admin API and a `loadgen run`.

A raw client rather than urllib so a scenario chooses the source address (127.0.0.x on loopback)
and sees a reset or a hang as what it is, not as a retried or wrapped error.
"""
import asyncio
import csv
import json
import os
import subprocess
import time
import urllib.request

BODY = b'{"query":"Should I buy AAPL?"}'


class Reply:
    """A response: status, lower-cased headers, body bytes, seconds from connect to last byte."""

    def __init__(self, status, headers, body, seconds):
        self.status, self.headers, self.body, self.seconds = status, headers, body, seconds

    def error_type(self):
        """`error.type` of a JSON error body, or None when the body is not one."""
        try:
            doc = json.loads(self.body)
            err = doc["error"]
            if isinstance(err.get("message"), str) and isinstance(err.get("request_id"), str):
                return err.get("type")
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
        return None


async def http(host, port, method, path, body=b"", timeout=30.0, local=None, headers=()):
    """One request on a fresh connection (optionally from source address `local`); a Reply, or
    raises (ConnectionError for a close without an answer, asyncio.TimeoutError for a hang)."""
    started = time.monotonic()
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, local_addr=(local, 0) if local else None), timeout)
    try:
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers)
        head = (f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n")
        writer.write(head.encode() + body)
        await writer.drain()
        left = timeout - (time.monotonic() - started)
        raw = await asyncio.wait_for(reader.read(), max(left, 0.001))
    finally:
        writer.close()
    if not raw:
        raise ConnectionError("closed without an answer")
    head, _, payload = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
    if hdrs.get("transfer-encoding", "").lower() == "chunked":
        payload = unchunk(payload)
    return Reply(status, hdrs, payload, time.monotonic() - started)


def unchunk(data):
    out, rest = b"", data
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, rest = out + rest[:size], rest[size + 2:]
    return out


def row(path, cells):
    """Appends one Markdown table row to the summary."""
    with open(path, "a") as f:
        f.write("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |\n")


def counts_text(counts):
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items(), key=str)) or "none"


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def rss_mb(pid):
    """Resident set size of a process (VmRSS), in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def open_fds(pid):
    """File descriptors a process holds open now."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def get_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


def post_json(url, doc, timeout=5):
    req = urllib.request.Request(url, data=json.dumps(doc).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.load(r)


def loadgen_run(loadgen, url, out_csv, args, timeseries=None):
    """Runs `loadgen run` to completion (its own process, waited on by PID) and returns the one
    CSV row as a dict of strings. Raises when loadgen fails."""
    cmd = [loadgen, "run", url, "--out", out_csv, "--quiet", *args]
    if timeseries:
        cmd += ["--timeseries", timeseries]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"loadgen exited {proc.returncode}: {err.strip()[-500:]}")
    with open(out_csv) as f:
        return list(csv.DictReader(f))[-1]


def measure_capacity(loadgen, url, out_csv, users, seconds):
    """Goodput (200/s) of a closed loop of `users` virtual users — more than the server's permits,
    so this is what it sustains — in the same run, on the same machine, as the scenario."""
    step = loadgen_run(loadgen, url, out_csv, ["-c", str(users), "-d", f"{seconds}s"])
    return float(step["goodput_rps"])


def alive(pid):
    """False once the process is gone or a zombie (its parent, the shell, reaps it later)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
