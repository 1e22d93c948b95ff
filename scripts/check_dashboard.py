#!/usr/bin/env python3
"""make check-dashboard's browser: Debian's Chromium, headless, driven by Playwright for Python
(the system browser: no `playwright install`, no download). Opens loadgen's --dashboard URL while
the ramp runs and checks, from the rendered page:

  watch  at least three updates arrive; the numbers on the page (the newest complete second, the
         step, the totals) agree with the run's own --timeseries and CSV once they are written; the
         final table equals the CSV; a screenshot is kept.
  stop   the Stop button ends the run: the page reports exit 130 (the shell checks the exit code
         and that the CSV is complete).

In both, every request the page makes is recorded (page.on("request")) and must stay on
127.0.0.1. Usage: check_dashboard.py MODE --run DIR [--screenshot PNG] URL"""
import argparse
import csv
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def fail(msg):
    print(f"check_dashboard: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def num(page, sel):
    t = page.inner_text(sel).strip()
    if t in ("", "–"):
        return None
    return float(t.split("/")[0])


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def wait_file(path, secs=30):
    deadline = time.time() + secs
    while time.time() < deadline:
        if Path(path).exists() and Path(path).stat().st_size > 0:
            return
        time.sleep(0.2)
    fail(f"{path} was not written")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["watch", "stop"])
    ap.add_argument("--run", required=True, help="the run's directory (ramp.csv, timeseries.csv)")
    ap.add_argument("--screenshot")
    ap.add_argument("url")
    a = ap.parse_args()
    origin = urllib.parse.urlsplit(a.url)
    if origin.hostname != "127.0.0.1":
        fail(f"the dashboard is not on 127.0.0.1: {a.url}")
    requests = []
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        # A fresh profile each run (Playwright passes it as --user-data-dir). bypass_csp: the
        # page's Content-Security-Policy forbids eval, which Playwright's waits use; without it
        # the page is also tested for not *trying* any other origin, not merely being blocked.
        browser = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=ARGS, viewport={"width": 1400, "height": 1000},
            bypass_csp=True)
        page = browser.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.goto(a.url)
        page.wait_for_function("Number(document.body.dataset.updates) >= 3", timeout=60_000)
        print(f"check_dashboard: {page.get_attribute('body', 'data-updates')} updates received")
        if a.mode == "watch":
            watch(page, a)
        else:
            stop(page)
        browser.close()
    stray = [u for u in requests
             if not (u.startswith("data:") or urllib.parse.urlsplit(u).hostname == "127.0.0.1")]
    if stray:
        fail(f"the page requested outside 127.0.0.1: {stray}")
    print(f"check_dashboard: {len(requests)} requests, all to 127.0.0.1 ({sorted(set(urllib.parse.urlsplit(u).path for u in requests))})")


def read_last(page):
    box = page.locator("#last-point")
    return {
        "step": box.get_attribute("data-step"), "second": box.get_attribute("data-second"),
        "requests": num(page, "#last-requests"), "goodput": num(page, "#last-goodput"),
        "p99": num(page, "#last-p99"),
    }


def watch(page, a):
    # Mid-run: the newest complete second as the page shows it, and the live totals.
    page.wait_for_function("document.getElementById('last-point').dataset.step !== ''")
    mid = read_last(page)
    mid_total = num(page, "#stat-requests")
    mid_step = page.inner_text("#stat-step")
    print(f"check_dashboard: mid-run: step {mid_step}, {mid_total:.0f} requests, last second {mid}")
    # A few more seconds of chart for the screenshot, then the run's end.
    page.wait_for_function("Number(document.body.dataset.updates) >= 12 || document.body.dataset.state === 'ended'",
                           timeout=120_000)
    if a.screenshot:
        page.screenshot(path=a.screenshot, full_page=True)
        print(f"check_dashboard: screenshot {a.screenshot}")
    page.wait_for_function("document.body.dataset.state === 'ended'", timeout=600_000)
    run = Path(a.run)
    wait_file(run / "timeseries.csv")
    ts = {(r["step"], r["second"]): r for r in rows(run / "timeseries.csv")}
    # The second read mid-run is in the time series, with the same numbers: at most a request
    # or two may still have been on its way to the page when it was read.
    row = ts.get((mid["step"], mid["second"]))
    if row is None:
        fail(f"second {mid['step']}:{mid['second']} shown on the page is not in the time series")
    if abs(mid["requests"] - int(row["requests"])) > max(2, 0.05 * int(row["requests"])):
        fail(f"mid-run second: page {mid['requests']} requests, time series {row['requests']}")
    # At the end: the page's newest second and totals are exactly the run's.
    end = read_last(page)
    row = ts.get((end["step"], end["second"]))
    if row is None or end["requests"] != int(row["requests"]) or end["goodput"] != int(row["ok"]):
        fail(f"final second: page {end}, time series {row}")
    if int(row["ok"]) and abs(end["p99"] - float(row["p99_ms"])) > 0.051:
        fail(f"final second p99: page {end['p99']} ms, time series {row['p99_ms']} ms")
    wait_file(run / "ramp.csv")
    steps = rows(run / "ramp.csv")
    answered = sum(int(s["requests"]) - int(s["in_flight_at_end"]) for s in steps)
    if num(page, "#stat-requests") != answered:
        fail(f"page total {num(page, '#stat-requests')} != CSV {answered}")
    table = page.locator("#steps tbody tr")
    if table.count() != len(steps):
        fail(f"final table has {table.count()} rows, CSV {len(steps)}")
    for i, s in enumerate(steps):
        cells = table.nth(i).locator("td").all_inner_texts()
        if cells[0] != s["step"] or int(cells[2]) != int(s["requests"]):
            fail(f"final table row {i}: {cells} vs CSV {s['step']}, {s['requests']} requests")
        if abs(float(cells[7]) - float(s["p99_ms"])) > 0.051:
            fail(f"final table row {i}: p99 {cells[7]} vs CSV {s['p99_ms']}")
    print(f"check_dashboard: page agrees with the time series ({len(ts)} seconds) and the CSV ({len(steps)} steps)")


def stop(page):
    page.click("#stop")
    page.wait_for_function("document.body.dataset.state === 'ended'", timeout=60_000)
    state = page.inner_text("#state")
    if "exit 130" not in state:
        fail(f"after Stop the page says '{state}', not exit 130")
    print(f"check_dashboard: Stop pressed; the page says '{state}'")


if __name__ == "__main__":
    main()
