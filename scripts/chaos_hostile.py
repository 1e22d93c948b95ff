"""Hostile connections beside normal clients, at the issue's numbers: silent sockets, slowloris
header tricklers, stalled HTTP/2 prefaces (23 of its 24 bytes) and slow-body uploads.

The hostile sockets come from 127.0.1.x source addresses, at most PER_ADDRESS each, so the
server keeps its default per-IP connection cap (256) and the normal clients (127.0.0.1) are
not the ones it would refuse. Normal load is measured unloaded first, then with every hostile
socket open.

Checks: normal /analyze p99 with the hostile sockets open ≤ 2× the unloaded p99 and every normal
request answered 200; /health answers; every hostile socket is closed by the server within its
timeout + 2 s (HEADER_READ_TIMEOUT_MS for silent, slowloris and h2 stalls, counted from the
connect; BODY_READ_TIMEOUT_MS for slow bodies, counted from the end of their headers).
"""
import asyncio
import time
from urllib.parse import urlparse

from chaos_wire import BODY, counts_text, http, percentile, row

H2_PREFACE_LESS_ONE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r"
PER_ADDRESS = 200
MARGIN_S = 2.0
NORMAL_CLIENTS, NORMAL_EACH = 8, 4
TRICKLE_S = 0.5


def source(i):
    """The source address of the i-th hostile socket: 127.0.1.1 for the first PER_ADDRESS, …"""
    return f"127.0.1.{1 + i // PER_ADDRESS}"


async def normal_load(host, port):
    """NORMAL_CLIENTS closed-loop clients × NORMAL_EACH /analyze requests; (statuses, latencies)."""
    statuses, latencies = {}, []

    async def client():
        for _ in range(NORMAL_EACH):
            try:
                reply = await http(host, port, "POST", "/analyze", BODY, timeout=30)
                status = reply.status
                latencies.append(reply.seconds)
            except Exception as e:  # noqa: BLE001 - any failure is a lost request
                status = "lost:" + type(e).__name__
            statuses[status] = statuses.get(status, 0) + 1

    await asyncio.gather(*(client() for _ in range(NORMAL_CLIENTS)))
    return statuses, latencies


class Hostile:
    """One hostile socket: what it does, when it connected, when its headers ended, when it closed."""

    def __init__(self, kind, reader, writer):
        self.kind, self.reader, self.writer = kind, reader, writer
        self.opened = time.monotonic()
        self.headers_done = None
        self.closed = None
        self.answer = b""

    async def act(self):
        """Trickles what its kind trickles until the server closes the connection."""
        w = self.writer
        try:
            if self.kind == "h2 preface stall":
                w.write(H2_PREFACE_LESS_ONE)
            elif self.kind == "slowloris":
                w.write(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Trickle: ")
            elif self.kind == "slow body":
                w.write(b"POST /analyze HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 4096\r\n\r\n{")
                self.headers_done = time.monotonic()
            await w.drain()
            while self.kind in ("slowloris", "slow body") and self.closed is None:
                await asyncio.sleep(TRICKLE_S)
                w.write(b"a" if self.kind == "slowloris" else b" ")
                await w.drain()
        except (ConnectionError, OSError):
            pass

    async def watch(self, give_up_s):
        """Waits for the server to close the connection (EOF or reset)."""
        try:
            while True:
                chunk = await asyncio.wait_for(self.reader.read(65536), give_up_s)
                if not chunk:
                    break
                self.answer += chunk
        except asyncio.TimeoutError:
            return
        except (ConnectionError, OSError):
            pass
        self.closed = time.monotonic()

    def limit_s(self, header_s, body_s):
        return (body_s if self.kind == "slow body" else header_s) + MARGIN_S

    def took_s(self):
        """Seconds from the start of its timer to the close, or None when never closed."""
        if self.closed is None:
            return None
        return self.closed - (self.headers_done if self.kind == "slow body" else self.opened)

    def status(self):
        return self.answer.split(b" ", 2)[1].decode() if self.answer.startswith(b"HTTP/") else "none"


async def hostile(url, header_ms, body_ms, numbers, row_file):
    u = urlparse(url)
    host, port = u.hostname, u.port
    header_s, body_s = header_ms / 1000, body_ms / 1000
    silent, slowloris, h2, slow_body = numbers

    unloaded_statuses, unloaded = await normal_load(host, port)

    kinds = (["silent"] * silent + ["slowloris"] * slowloris + ["h2 preface stall"] * h2
             + ["slow body"] * slow_body)
    sockets, open_errors = [], {}
    opening = time.monotonic()
    for i, kind in enumerate(kinds):
        try:
            r, w = await asyncio.open_connection(host, port, local_addr=(source(i), 0))
            sockets.append(Hostile(kind, r, w))
        except OSError as e:
            open_errors[type(e).__name__] = open_errors.get(type(e).__name__, 0) + 1
    opened_s = time.monotonic() - opening
    give_up = max(header_s, body_s) + MARGIN_S + 10
    actors = [asyncio.create_task(s.act()) for s in sockets]
    watchers = [asyncio.create_task(s.watch(give_up)) for s in sockets]

    health = await http(host, port, "GET", "/health", timeout=5)
    loaded_statuses, loaded = await normal_load(host, port)
    open_through = sum(1 for s in sockets if s.closed is None)
    await asyncio.gather(*watchers)
    for s in sockets:
        s.writer.close()
    await asyncio.gather(*actors)

    by_kind = {}
    for s in sockets:
        k = by_kind.setdefault(s.kind, {"n": 0, "hung": 0, "late": 0, "max": 0.0, "status": {}})
        k["n"] += 1
        took = s.took_s()
        if took is None:
            k["hung"] += 1
        else:
            k["max"] = max(k["max"], took)
            k["late"] += took > s.limit_s(header_s, body_s)
        k["status"][s.status()] = k["status"].get(s.status(), 0) + 1
    hung = sum(k["hung"] for k in by_kind.values())
    late = sum(k["late"] for k in by_kind.values())
    p99_unloaded = percentile(unloaded, 99) if unloaded else float("inf")
    p99_loaded = percentile(loaded, 99) if loaded else float("inf")
    n_normal = NORMAL_CLIENTS * NORMAL_EACH
    slow_body_status = by_kind.get("slow body", {}).get("status", {})
    checks = {
        "every hostile socket connected": not open_errors and len(sockets) == len(kinds),
        "normal clients all 200": unloaded_statuses.get(200) == n_normal and loaded_statuses.get(200) == n_normal,
        "p99 within 2× unloaded": p99_loaded <= 2 * p99_unloaded,
        "/health 200": health.status == 200,
        "hostile sockets closed in time": hung == 0 and late == 0,
        "slow bodies answered 408": slow_body_status.get("408", 0) == slow_body,
    }
    failed = [k for k, ok in checks.items() if not ok]
    detail = "; ".join(
        f"{kind}: {k['n']}, hung {k['hung']}, late {k['late']}, slowest {k['max']:.1f} s"
        + (f" (answers {counts_text(k['status'])})" if kind == "slow body" else "")
        for kind, k in by_kind.items())
    row(row_file, [
        "hostile connections",
        f"{NORMAL_CLIENTS} closed-loop /analyze clients × {NORMAL_EACH}, unloaded then beside the hostile sockets "
        f"(defaults: HEADER_READ_TIMEOUT_MS={header_ms}, BODY_READ_TIMEOUT_MS={body_ms}, MAX_CONNECTIONS_PER_IP=256)",
        f"{silent} silent, {slowloris} slowloris (1 header byte / {TRICKLE_S:g} s), {h2} 23-byte h2-preface stalls, "
        f"{slow_body} slow bodies (1 byte / {TRICKLE_S:g} s) from 127.0.1.x, ≤ {PER_ADDRESS} per address, "
        f"opened in {opened_s:.1f} s" + (f"; connect errors {counts_text(open_errors)}" if open_errors else ""),
        2 * n_normal + 1,
        f"unloaded {counts_text(unloaded_statuses)}, p99 {p99_unloaded * 1000:.0f} ms; "
        f"loaded {counts_text(loaded_statuses)}, p99 {p99_loaded * 1000:.0f} ms "
        f"({p99_loaded / p99_unloaded:.2f}×); /health {health.status} in {health.seconds * 1000:.0f} ms",
        f"{detail}; {open_through} of {len(sockets)} still open when the normal load ended"
        + (f"; failed: {', '.join(failed)}" if failed else ""),
        "pass" if not failed else "FAIL",
    ])
    return not failed
