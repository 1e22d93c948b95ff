#!/usr/bin/env python3
"""Assertions of scripts/acceptance.sh over the run's CSV/JSON files and the mocks' /__stats."""
import csv
import json
import sys

run, n = sys.argv[1], int(sys.argv[2])
failures = []


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        failures.append(what)


def rows(mode):
    with open(f"{run}/{mode}.csv") as f:
        return list(csv.DictReader(f))


def stats(name):
    with open(f"{run}/{name}.json") as f:
        return json.load(f)


scaled, legacy = rows("scaled"), rows("legacy")
print(f"{'mode':<7} {'conc':>4} {'reqs':>6} {'ok':>6} {'503':>5} {'succ':>6} {'goodput':>8} {'p50':>8} {'p99':>8}")
for mode, rs in (("scaled", scaled), ("legacy", legacy)):
    for r in rs:
        print(f"{mode:<7} {r['concurrency']:>4} {r['requests']:>6} {r['ok']:>6} {r['rejected_503']:>5} "
              f"{float(r['success_rate']):>6.3f} {float(r['goodput_rps']):>8.2f} "
              f"{float(r['p50_ms']):>8.1f} {float(r['p99_ms']):>8.1f}")

top = scaled[-1]
check(int(top["rejected_503"]) > 0, f"scaled sheds with 503 past capacity ({top['rejected_503']} at concurrency {top['concurrency']})")
check(int(top["other_5xx"]) == 0 and int(top["timeouts"]) == 0 and int(top["io_errors"]) == 0,
      "scaled: no 5xx other than 503, no timeouts, no I/O errors past capacity")
for r in scaled:
    if int(r["concurrency"]) <= n:
        check(float(r["success_rate"]) >= 0.99, f"scaled success >= 99% at concurrency {r['concurrency']}")

sc, st = stats("scaled-claude"), stats("scaled-trading")
check(sc["max_in_flight"] <= n, f"mock Claude never saw more than N={n} calls at once (max_in_flight {sc['max_in_flight']})")
check(st["requests_total"] >= 50, f"scaled run made real Trading API calls ({st['requests_total']})")
bound = 4 * n
check(st["connections_accepted"] <= bound,
      f"scaled: Trading API connections bounded by concurrency ({st['connections_accepted']} <= {bound} for {st['requests_total']} calls)")

lc, lt = stats("legacy-claude"), stats("legacy-trading")
check(lt["connections_accepted"] >= 0.9 * lt["requests_total"],
      f"legacy: about one Trading API connection per call ({lt['connections_accepted']} for {lt['requests_total']} calls)")
check(lc["max_in_flight"] > n, f"legacy has no concurrency limit (mock Claude max_in_flight {lc['max_in_flight']} > {n})")

if failures:
    print(f"{len(failures)} acceptance check(s) failed", file=sys.stderr)
    sys.exit(1)
print("acceptance: all checks passed")
