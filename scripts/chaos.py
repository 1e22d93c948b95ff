#!/usr/bin/env python3
"""Chaos scenarios against a running analyze-server on loopback (stdlib only).

  chaos.py hostile  URL TIMEOUT_MS ROW_FILE        silent sockets + h2-preface stalls vs normal clients
  chaos.py shutdown URL PID DRAIN_MS GRACE_MS ROW_FILE   SIGTERM under load

Each appends one Markdown table row to ROW_FILE and exits non-zero when the scenario fails.
"""
import asyncio
import os
import signal
import sys
import time
from urllib.parse import urlparse

H2_PREFACE_LESS_ONE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r"
BODY = b'{"query":"Should I buy AAPL?"}'


async def http(host, port, method, path, body=b"", timeout=30.0):
    """One request on a fresh connection; returns (status, headers) or raises."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        head = (f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
        writer.write(head.encode() + body)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    if not raw:
        raise ConnectionError("closed without an answer")
    lines = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
    return status, headers


def alive(pid):
    """False once the process is gone or a zombie (its parent, the shell, reaps it later)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def row(path, cells):
    with open(path, "a") as f:
        f.write("| " + " | ".join(str(c) for c in cells) + " |\n")


async def hostile(url, timeout_ms, row_file):
    u = urlparse(url)
    host, port = u.hostname, u.port
    silent, stalls = 300, 200
    opened = time.monotonic()
    sockets = []
    for i in range(silent + stalls):
        r, w = await asyncio.open_connection(host, port)
        if i >= silent:
            w.write(H2_PREFACE_LESS_ONE)
            await w.drain()
        sockets.append((r, w))
    # Watch every hostile socket from now on, so a close is timed when it happens.

    async def closed_after(r):
        try:
            await asyncio.wait_for(r.read(), timeout_ms / 1000 + 10)
            return time.monotonic() - opened
        except asyncio.TimeoutError:
            return None
        except ConnectionError:
            return time.monotonic() - opened

    watchers = [asyncio.create_task(closed_after(r)) for r, _ in sockets]
    # Normal clients while every hostile socket is still open.
    health, _ = await http(host, port, "GET", "/health", timeout=5)
    health_s = time.monotonic() - opened
    normal, latencies = {}, []

    async def one():
        t = time.monotonic()
        try:
            status, _ = await http(host, port, "POST", "/analyze", BODY, timeout=10)
        except Exception as e:  # noqa: BLE001 - any failure is a lost request
            status = type(e).__name__
        latencies.append(time.monotonic() - t)
        normal[status] = normal.get(status, 0) + 1

    await asyncio.gather(*(one() for _ in range(10)))
    closes = await asyncio.gather(*watchers)
    for _, w in sockets:
        w.close()
    hung = sum(1 for c in closes if c is None)
    latest = max((c for c in closes if c is not None), default=0.0)
    limit = timeout_ms / 1000 + 2
    ok = (normal.get(200, 0) == 10 and health == 200 and hung == 0 and latest <= limit
          and health_s < timeout_ms / 1000)
    row(row_file, ["hostile connections", "/health, then 10 concurrent /analyze",
                   f"{silent} silent sockets, {stalls} 23-byte h2-preface stalls",
                   11, f"/health {health} after {health_s * 1000:.0f} ms; /analyze "
                   + ", ".join(f"{k}: {v}" for k, v in sorted(normal.items(), key=str)),
                   f"hung sockets {hung}; last closed {latest:.2f} s after opening (limit {limit:.1f} s); "
                   f"/analyze max {max(latencies, default=0) * 1000:.0f} ms",
                   "pass" if ok else "FAIL"])
    return ok


async def shutdown(url, pid, drain_ms, grace_ms, row_file):
    u = urlparse(url)
    host, port = u.hostname, u.port
    results, ready_seen = [], []
    stop_at = [None]
    signalled = [None]

    async def client():
        while stop_at[0] is None or time.monotonic() < stop_at[0]:
            t = time.monotonic()
            try:
                status, headers = await http(host, port, "POST", "/analyze", BODY, timeout=30)
                results.append((t, status, "retry-after" in headers))
            except ConnectionRefusedError:
                results.append((t, "refused", False))
                if signalled[0] is not None:
                    return
                await asyncio.sleep(0.05)
            except Exception as e:  # noqa: BLE001 - reset or hang: lost
                results.append((t, "lost:" + type(e).__name__, False))

    async def readiness():
        while stop_at[0] is None or time.monotonic() < stop_at[0]:
            try:
                status, _ = await http(host, port, "GET", "/health/ready", timeout=2)
                ready_seen.append((time.monotonic(), status))
            except ConnectionRefusedError:
                ready_seen.append((time.monotonic(), "refused"))
                if signalled[0] is not None:
                    return
            except Exception as e:  # noqa: BLE001
                ready_seen.append((time.monotonic(), "lost:" + type(e).__name__))
            await asyncio.sleep(0.1)

    tasks = [asyncio.create_task(client()) for _ in range(12)] + [asyncio.create_task(readiness())]
    await asyncio.sleep(3)
    signalled[0] = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    stop_at[0] = signalled[0] + (drain_ms + grace_ms) / 1000 + 5
    exited_after = None
    while time.monotonic() < stop_at[0]:
        if not alive(pid):
            exited_after = time.monotonic() - signalled[0]
            break
        await asyncio.sleep(0.05)
    stop_at[0] = time.monotonic()
    await asyncio.gather(*tasks)
    counts = {}
    for _, status, _ in results:
        counts[status] = counts.get(status, 0) + 1
    lost = sum(v for k, v in counts.items() if str(k).startswith("lost"))
    bad_503 = sum(1 for _, s, ra in results if s == 503 and not ra)
    unexpected = sum(v for k, v in counts.items() if k not in (200, 503, "refused") and not str(k).startswith("lost"))
    draining = [s for t, s in ready_seen if t >= signalled[0]]
    ready_503_while_accepting = 503 in draining
    ok = (lost == 0 and unexpected == 0 and bad_503 == 0 and ready_503_while_accepting
          and exited_after is not None and exited_after <= (drain_ms + grace_ms) / 1000 + 1)
    row(row_file, ["shutdown under load", "12 closed-loop clients, fresh connection each",
                   f"SIGTERM after 3 s; drain {drain_ms} ms, grace {grace_ms} ms",
                   len(results), ", ".join(f"{k}: {v}" for k, v in sorted(counts.items(), key=str)),
                   f"lost {lost}; 503 without Retry-After {bad_503}; readiness 503 while accepting: {ready_503_while_accepting}; "
                   f"exit after {exited_after if exited_after is None else f'{exited_after:.2f} s'}",
                   "pass" if ok else "FAIL"])
    return ok


def main():
    kind = sys.argv[1]
    if kind == "hostile":
        ok = asyncio.run(hostile(sys.argv[2], int(sys.argv[3]), sys.argv[4]))
    elif kind == "shutdown":
        ok = asyncio.run(shutdown(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]))
    else:
        sys.exit(f"unknown scenario {kind}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
