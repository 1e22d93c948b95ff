"""Noisy neighbour behind a real nginx that appends X-Forwarded-For: three clients that nginx
tells apart by their loopback source address (127.0.0.2 quiet, .3 noisy, .4 forging the header),
the server trusting only nginx (TRUSTED_PROXIES=127.0.0.1/32) with a small per-client limit.

Checks: the quiet client, at half its limit, gets no 429 alone and none while the noisy client
sends 10× the limit; the noisy client and the forger (a fresh fake X-Forwarded-For on every
request) each get no more than the limit allows (burst + rate × time) — the forged entries sit
left of the address nginx appends, so they cannot choose the key; every 429 carries a JSON
`rate_limited` error and Retry-After.
"""
import asyncio
import time
from urllib.parse import urlparse

from chaos_wire import BODY, counts_text, http, row

QUIET, NOISY, FORGER = "127.0.0.2", "127.0.0.3", "127.0.0.4"
ALONE_S, TOGETHER_S = 6.0, 20.0


async def neighbour(proxy_url, per_minute, burst, row_file):
    u = urlparse(proxy_url)
    host, port = u.hostname, u.port
    results = {QUIET: [], NOISY: [], FORGER: []}  # (phase, status, reply)
    phase = ["alone"]
    bad_429 = []

    async def one(who, headers=()):
        at = phase[0]
        try:
            reply = await http(host, port, "POST", "/analyze", BODY, timeout=30, local=who, headers=headers)
            results[who].append((at, reply.status))
            if reply.status == 429 and (reply.error_type() != "rate_limited" or "retry-after" not in reply.headers):
                bad_429.append(who)
        except Exception as e:  # noqa: BLE001 - lost
            results[who].append((at, "lost:" + type(e).__name__))

    async def paced(who, every_s, until, forge=False):
        pending, n = [], 0
        start = time.monotonic()
        while time.monotonic() < until:
            n += 1
            headers = ()
            if forge:
                # A different fake client each time, sometimes pretending to be the trusted proxy.
                fake = f"203.0.113.{n % 250 + 1}" + (", 127.0.0.1" if n % 2 else "")
                headers = (("X-Forwarded-For", fake),)
            pending.append(asyncio.create_task(one(who, headers)))
            await asyncio.sleep(max(0.0, start + n * every_s - time.monotonic()))
        await asyncio.gather(*pending)

    quiet_every = 60 / per_minute * 2  # half its limit
    noisy_every = 60 / (per_minute * 10)  # ten times its limit
    t0 = time.monotonic()
    quiet = asyncio.create_task(paced(QUIET, quiet_every, t0 + ALONE_S + TOGETHER_S))
    await asyncio.sleep(ALONE_S)
    phase[0] = "together"
    end = time.monotonic() + TOGETHER_S
    await asyncio.gather(paced(NOISY, noisy_every, end), paced(FORGER, noisy_every, end, forge=True), quiet)

    allowed = burst + per_minute * TOGETHER_S / 60 + 1

    def tally(who, at=None):
        out = {}
        for p, status in results[who]:
            if at is None or p == at:
                out[status] = out.get(status, 0) + 1
        return out

    quiet_alone, quiet_together = tally(QUIET, "alone"), tally(QUIET, "together")
    noisy, forger = tally(NOISY), tally(FORGER)
    lost = sum(v for who in results for k, v in tally(who).items() if str(k).startswith("lost"))
    unexpected = sum(v for who in results for k, v in tally(who).items() if k not in (200, 429) and not str(k).startswith("lost"))
    checks = {
        "quiet client never limited": set(quiet_alone) == {200} and set(quiet_together) == {200},
        "noisy client held to its limit": noisy.get(200, 0) <= allowed and noisy.get(429, 0) > 0,
        "forged X-Forwarded-For held to the limit": forger.get(200, 0) <= allowed and forger.get(429, 0) > 0,
        "429s are JSON rate_limited with Retry-After": not bad_429,
        "nothing lost": lost == 0 and unexpected == 0,
    }
    failed = [k for k, ok in checks.items() if not ok]
    total = sum(len(v) for v in results.values())
    row(row_file, [
        "noisy neighbour behind nginx",
        f"quiet {QUIET} at {per_minute // 2}/min ({ALONE_S:g} s alone, then {TOGETHER_S:g} s beside): noisy {NOISY} "
        f"and forger {FORGER} at {per_minute * 10}/min each; nginx appends X-Forwarded-For, "
        f"TRUSTED_PROXIES=127.0.0.1/32, RATE_LIMIT_PER_MINUTE={per_minute}, RATE_LIMIT_BURST={burst}",
        "10× the per-client limit; a fresh forged X-Forwarded-For on every forger request",
        total,
        f"quiet alone {counts_text(quiet_alone)}, beside {counts_text(quiet_together)}; noisy {counts_text(noisy)}; "
        f"forger {counts_text(forger)} (limit allows ≤ {allowed:.0f} in {TOGETHER_S:g} s)",
        f"lost {lost}, other statuses {unexpected}, 429 without JSON/Retry-After {len(bad_429)}"
        + (f"; failed: {', '.join(failed)}" if failed else ""),
        "pass" if not failed else "FAIL",
    ])
    return not failed
