#!/usr/bin/env python3
"""Chaos scenarios against a running analyze-server on loopback (stdlib only); scripts/chaos.sh
starts and stops the processes, this runs one scenario against them.

  chaos.py overload  URL PID CLAUDE_URL LOADGEN WORKDIR SECONDS ROW_FILE
  chaos.py storm     URL CLAUDE_URL TRADING_URL STORM_ID REQUEST_TIMEOUT_MS ROW_FILE
  chaos.py hostile   URL HEADER_MS BODY_MS SILENT,SLOWLORIS,H2,SLOW_BODY ROW_FILE
  chaos.py shutdown  URL PID DRAIN_MS GRACE_MS ROW_FILE
  chaos.py neighbour PROXY_URL PER_MINUTE BURST ROW_FILE

Each appends Markdown table rows to ROW_FILE and exits non-zero when the scenario fails.
"""
import asyncio
import os
import signal
import sys
import time
from urllib.parse import urlparse

from chaos_hostile import hostile
from chaos_neighbour import neighbour
from chaos_overload import overload
from chaos_storms import storm
from chaos_wire import BODY, alive, http, row


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
                reply = await http(host, port, "POST", "/analyze", BODY, timeout=30)
                results.append((t, reply.status, "retry-after" in reply.headers))
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
                reply = await http(host, port, "GET", "/health/ready", timeout=2)
                ready_seen.append((time.monotonic(), reply.status))
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
    kind, a = sys.argv[1], sys.argv[2:]
    if kind == "overload":
        ok = overload(a[0], int(a[1]), a[2], a[3], a[4], a[6], int(a[5]))
    elif kind == "storm":
        ok = asyncio.run(storm(a[0], {"claude": a[1], "trading": a[2]}, a[3], int(a[4]), a[5]))
    elif kind == "hostile":
        numbers = [int(x) for x in a[3].split(",")]
        ok = asyncio.run(hostile(a[0], int(a[1]), int(a[2]), numbers, a[4]))
    elif kind == "shutdown":
        ok = asyncio.run(shutdown(a[0], int(a[1]), int(a[2]), int(a[3]), a[4]))
    elif kind == "neighbour":
        ok = asyncio.run(neighbour(a[0], int(a[1]), int(a[2]), a[3]))
    else:
        sys.exit(f"unknown scenario {kind}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
