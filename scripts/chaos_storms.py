"""Upstream fault storms: while closed-loop clients send /analyze, a storm is switched on
through a mock's `POST /__admin/faults`, held for STORM_S, switched off, and the server watched
until it recovers. One storm per call and row, each against a freshly started server (so one
storm's after-effects, e.g. a concurrency limit still low, do not shape the next).

Checks per storm (server README, "Request flow" 6 and 8):
- every request is answered within REQUEST_TIMEOUT_MS + 1 s (none lost or hung), with a status
  the README documents for that fault and a JSON error body of the matching `error.type`
  (`503`s with Retry-After);
- the circuit breaker opens (and `/health/ready` answers 503 while it is open) for the faults it
  counts (Claude 529, 500, stalls past the attempt timeout, resets) and stays closed for the ones
  it does not (Claude 429: our tier; every Trading API fault: the agent turns those into tool
  errors); it is closed again within RECOVER_S of the storm's end;
- ≥ 99 % of the requests sent from RECOVER_S to RECOVER_S + WINDOW_S after the storm's end
  succeed (200).
CHAOS_DUMP=PATH writes every request and breaker reading to PATH.STORM.json for a closer look.
"""
import asyncio
import json
import os
import statistics
import time
from urllib.parse import urlparse

from chaos_wire import BODY, counts_text, get_json, http, post_json, row

STORM_S = 4.0
RECOVER_S = 5.0
WINDOW_S = 5.0
LEAD_S = 2.0  # clients run this long before each storm
CLIENTS = 10
PAUSE_S = 0.1

UNAVAILABLE = {"upstream_unavailable", "over_capacity", "queue_timeout"}
CLAUDE_FAILURE = {200: None, 502: {"upstream_error"}, 503: UNAVAILABLE, 504: {"upstream_timeout"}}
CLAUDE_OVERLOAD = {200: None, 503: UNAVAILABLE, 504: {"upstream_timeout"}}
TOOLS_ONLY = {200: None}

# id → (name, mock, faults on, faults off (None: restore what was set), breaker must open?,
# documented statuses → error types)
STORMS = {
    "claude-529": ("Claude 529 storm", "claude", {"overload_rate": 1.0}, {"overload_rate": 0.0}, True, CLAUDE_OVERLOAD),
    "claude-429": ("Claude 429 storm", "claude", {"max_concurrent": 1}, None, False, CLAUDE_OVERLOAD),
    "claude-500": ("Claude 500 storm", "claude", {"error_rate": 1.0}, {"error_rate": 0.0}, True, CLAUDE_FAILURE),
    "claude-stall": ("Claude stall storm", "claude", {"stall_rate": 1.0, "stall_ms": 4000},
                     {"stall_rate": 0.0, "stall_ms": 0}, True, CLAUDE_FAILURE),
    "claude-reset": ("Claude reset storm", "claude", {"reset_rate": 1.0}, {"reset_rate": 0.0}, True, CLAUDE_FAILURE),
    "trading-500": ("Trading 500 storm", "trading", {"error_rate": 1.0}, {"error_rate": 0.0}, False, TOOLS_ONLY),
    "trading-reset": ("Trading reset storm", "trading", {"reset_rate": 1.0}, {"reset_rate": 0.0}, False, TOOLS_ONLY),
    "trading-stall": ("Trading stall storm", "trading", {"stall_rate": 1.0, "stall_ms": 3000},
                      {"stall_rate": 0.0, "stall_ms": 0}, False, TOOLS_ONLY),
}


async def storm(url, mocks, storm_id, request_timeout_ms, row_file):
    u = urlparse(url)
    host, port = u.hostname, u.port
    answer_limit = request_timeout_ms / 1000 + 1
    results = []  # (sent, finished, status or failure name, reply or None)
    circuit = []  # (time, circuit state, readiness status)
    limits = []  # (time, live concurrency limit)
    done, sending = [False], [False]

    async def client():
        while sending[0]:
            sent = time.monotonic()
            try:
                reply = await http(host, port, "POST", "/analyze", BODY, timeout=answer_limit)
                results.append((sent, time.monotonic(), reply.status, reply))
            except asyncio.TimeoutError:
                results.append((sent, time.monotonic(), "hung", None))
            except Exception as e:  # noqa: BLE001 - reset or refused: lost
                results.append((sent, time.monotonic(), "lost:" + type(e).__name__, None))
            if results[-1][2] != 200:
                # A client pauses briefly after an error instead of spinning on fast 503s.
                await asyncio.sleep(PAUSE_S)

    async def watch():
        while not done[0]:
            t = time.monotonic()
            try:
                health = await http(host, port, "GET", "/health", timeout=2)
                ready = await http(host, port, "GET", "/health/ready", timeout=2)
                doc = json.loads(health.body)
                circuit.append((t, doc["upstream"]["circuit"], ready.status))
                limits.append((t, doc["concurrency_limit"]))
            except Exception as e:  # noqa: BLE001 - a health probe that fails is itself a finding
                circuit.append((t, "probe failed: " + type(e).__name__, None))
            await asyncio.sleep(0.1)

    watcher = asyncio.create_task(watch())
    name, mock, on, off, opens, allowed = STORMS[storm_id]
    # One episode: clients start, the storm comes and goes, the server recovers, then the
    # clients stop and their last requests finish.
    sending[0] = True
    clients = [asyncio.create_task(client()) for _ in range(CLIENTS)]
    await asyncio.sleep(LEAD_S)
    admin = f"{mocks[mock]}/__admin/faults"
    before = await asyncio.to_thread(get_json, f"{mocks[mock]}/__settings")
    undo = off if off is not None else {k: before[k] for k in on}
    seen_before = await asyncio.to_thread(get_json, f"{mocks[mock]}/__stats")
    start = time.monotonic()
    await asyncio.to_thread(post_json, admin, on)
    await asyncio.sleep(STORM_S)
    await asyncio.to_thread(post_json, admin, undo)
    end = time.monotonic()
    seen_after = await asyncio.to_thread(get_json, f"{mocks[mock]}/__stats")
    await asyncio.sleep(RECOVER_S + WINDOW_S)
    sending[0] = False
    await asyncio.gather(*clients)
    done[0] = True
    await watcher
    if os.environ.get("CHAOS_DUMP"):
        with open(os.environ["CHAOS_DUMP"] + f".{storm_id}.json", "w") as f:
            json.dump({"storm": (name, start, end),
                       "results": [(r[0], r[1], r[2], r[3].error_type() if r[3] else None) for r in results],
                       "circuit": circuit, "limits": limits}, f)
    return judge(row_file, name, on, opens, allowed, start, end, upstream_saw(seen_before, seen_after),
                 results, circuit, limits, answer_limit)


def upstream_saw(before, after):
    """What the mock answered during the storm: statuses, and connections reset (no status)."""
    statuses = {k: v - before["responses_by_status"].get(k, 0) for k, v in after["responses_by_status"].items()}
    statuses = {k: v for k, v in statuses.items() if v}
    requests = after["requests_total"] - before["requests_total"]
    answered = sum(statuses.values())
    parts = [f"{k}×{v}" for k, v in sorted(statuses.items())]
    # Requests still in flight at either snapshot blur this by a few; resets have no status.
    if requests - answered > 0:
        parts.append(f"{requests - answered} without a status (reset or still running)")
    return ", ".join(parts) or "no requests"


def judge(row_file, name, on, opens, allowed, start, end, saw, mine, circuit, limits, answer_limit):
    counts, bad, slow = {}, [], 0
    for sent, finished, status, reply in mine:
        label = status
        if reply is not None and status != 200:
            label = f"{status} {reply.error_type() or 'no JSON error'}"
        counts[label] = counts.get(label, 0) + 1
        if reply is None:
            continue
        if finished - sent > answer_limit:
            slow += 1
        if status not in allowed:
            bad.append(label)
        elif status != 200 and (reply.error_type() not in allowed[status]
                                or (status == 503 and "retry-after" not in reply.headers)):
            bad.append(label + (" without Retry-After" if status == 503 else ""))
    lost = sum(1 for r in mine if r[3] is None)
    window = [r for r in mine if end + RECOVER_S <= r[0] < end + RECOVER_S + WINDOW_S]
    window_ok = sum(1 for r in window if r[2] == 200)
    success = window_ok / len(window) if window else 0.0

    during = [(t, c, ready) for t, c, ready in circuit if start <= t < end + RECOVER_S]
    opened = [t for t, c, _ in during if c == "open"]
    ready_503_while_open = any(c == "open" and ready == 503 for _, c, ready in during)
    failed_probes = sum(1 for _, c, _ in during if c.startswith("probe failed"))
    closed_at = None
    if opened:
        later = [t for t, c, _ in circuit if t > opened[-1] and c == "closed"]
        closed_at = later[0] - end if later else None
    states = sorted({c for _, c, _ in during})
    closed_in_time = not opened or (closed_at is not None and closed_at <= RECOVER_S)
    if opens:
        breaker_ok = bool(opened) and ready_503_while_open and closed_in_time
        breaker = (f"opened {opened[0] - start:.1f} s into the storm, readiness 503 while open: "
                   f"{ready_503_while_open}, closed {closed_at:.1f} s after the storm" if opened and closed_at is not None
                   else f"states seen {states}; opened: {bool(opened)}, closed after: {closed_at}")
    else:
        breaker_ok = not opened
        breaker = f"stayed closed (states seen {states})" if not opened else f"OPENED (states seen {states})"

    span = [l for t, l in limits if start <= t < end + RECOVER_S + WINDOW_S]
    limit_text = (f"concurrency limit {span[0]} → min {min(span)} → {span[-1]} at the window's end"
                  if span else "concurrency limit not read")
    before = [r[1] - r[0] for r in mine if r[0] < start and r[2] == 200]
    after = [r[1] - r[0] for r in window if r[2] == 200]
    latency_text = (f"window p50 {statistics.median(after) * 1000:.0f} ms vs {statistics.median(before) * 1000:.0f} ms "
                    f"before the storm" if before and after else "")
    checks = {
        "no lost/hung": lost == 0 and slow == 0,
        "documented status and JSON error": not bad,
        "breaker": breaker_ok and failed_probes == 0,
        f"≥ 99 % success {RECOVER_S:g}–{RECOVER_S + WINDOW_S:g} s after": window and success >= 0.99,
    }
    failed = [k for k, ok in checks.items() if not ok]
    faults = ", ".join(f"{k}={v}" for k, v in on.items())
    row(row_file, [
        name,
        f"{CLIENTS} closed-loop clients (storm settings below)",
        f"{faults} for {STORM_S:g} s mid-run (mock answered {saw}); breaker {breaker}",
        len(mine),
        counts_text(counts) + (f"; undocumented: {counts_text(_tally(bad))}" if bad else ""),
        f"lost/hung {lost}, answered later than {answer_limit:g} s: {slow}; "
        f"{window_ok}/{len(window)} = {success:.0%} success {RECOVER_S:g}–{RECOVER_S + WINDOW_S:g} s after the storm "
        f"({latency_text}); {limit_text}"
        + (f"; failed: {', '.join(failed)}" if failed else ""),
        "pass" if not failed else "FAIL",
    ])
    return not failed


def _tally(labels):
    out = {}
    for label in labels:
        out[label] = out.get(label, 0) + 1
    return out
