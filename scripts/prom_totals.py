#!/usr/bin/env python3
"""Checks that a real Prometheus holds loadgen's totals: the outcome counts summed over every
generator and request name (loadgen_requests_total) and the served-latency histogram's count
must equal the CSV's, read through Prometheus's HTTP API (/api/v1/query).

The series end when loadgen exits, so each is read as max_over_time over the run (a counter's
maximum is its final value) rather than as an instant value a staleness marker may hide.
Usage: prom_totals.py PROMETHEUS_URL RUN_CSV [RUN_CSV ...]  (several CSVs: one per generator)."""
import csv
import json
import sys
import time
import urllib.parse
import urllib.request

OUTCOMES = ["ok", "rejected_429", "rejected_503", "other_4xx", "other_5xx", "timeouts",
            "connect_errors", "io_errors", "other_status"]
# CSV column -> the outcome label loadgen exports.
LABEL = {"ok": "ok", "rejected_429": "rejected_429", "rejected_503": "rejected_503",
         "other_4xx": "other_4xx", "other_5xx": "other_5xx", "timeouts": "timeout",
         "connect_errors": "connect_error", "io_errors": "io_error", "other_status": "other_status"}


def query(base, promql):
    url = base.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise SystemExit(f"prometheus query failed: {promql}: {body}")
    return body["data"]["result"]


def csv_totals(paths):
    totals = {c: 0 for c in OUTCOMES}
    for p in paths:
        with open(p, newline="") as f:
            for row in csv.DictReader(f):
                for c in OUTCOMES:
                    totals[c] += int(row[c])
    return totals


def prom_totals(base):
    by = {}
    for s in query(base, "sum by (outcome) (max_over_time(loadgen_requests_total[1h]))"):
        by[s["metric"].get("outcome", "")] = float(s["value"][1])
    served = query(base, "sum(max_over_time(loadgen_request_duration_seconds_count[1h]))")
    return {c: by.get(LABEL[c], 0.0) for c in OUTCOMES}, (float(served[0]["value"][1]) if served else 0.0)


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    base, paths = sys.argv[1], sys.argv[2:]
    want = csv_totals(paths)
    # Prometheus may need a scrape interval or two to ingest the final scrape.
    deadline = time.time() + 10
    while True:
        got, served = prom_totals(base)
        same = all(int(got[c]) == want[c] for c in OUTCOMES) and int(served) == want["ok"]
        if same or time.time() > deadline:
            break
        time.sleep(0.5)
    print(f"{'outcome':<16}{'CSV':>10}{'Prometheus':>12}")
    for c in OUTCOMES:
        print(f"{c:<16}{want[c]:>10}{int(got[c]):>12}")
    print(f"{'served latency':<16}{want['ok']:>10}{int(served):>12}  (histogram count)")
    if not same:
        raise SystemExit("prom_totals: Prometheus's totals differ from the CSV's")
    if sum(want.values()) == 0:
        raise SystemExit("prom_totals: the run sent nothing; nothing to compare")
    print("prom_totals: Prometheus's totals equal the CSV's")


if __name__ == "__main__":
    main()
