#!/usr/bin/env python3
"""Check `loadgen report`'s open-loop model (summary.json `open_loop`) against an independent
Erlang C from scipy.stats: P(wait) = P(N ≥ c) of the M/M/c queue's stationary law, written with
the Poisson distribution (Erlang B = pmf(c; a) / cdf(c; a), C = c·B / (c − a·(1 − B))), the
Allen–Cunneen mean wait (C / (c/S − λ)) · (1 + c_s²) / 2, and the shed share C·exp(−timeout / w)
with w the mean wait of those who wait. Also the textbook M/M/c case c = 2, λ = 1.5, μ = 1
(P(wait) = 9/14, Wq = 9/7). Relative tolerance 1e-6.

usage: check_erlang_scipy.py SUMMARY.json
"""
import json
import math
import sys

from scipy import stats

TOLERANCE = 1e-6


def erlang_c(c, a):
    b = stats.poisson.pmf(c, a) / stats.poisson.cdf(c, a)
    return c * b / (c - a * (1 - b))


def close(what, got, want):
    off = abs(got - want) / max(abs(want), 1e-12)
    print(f"{what}: report {got:.9g}, scipy {want:.9g} ({off:.2e} off)")
    return off <= TOLERANCE


ok = close("textbook M/M/2 P(wait), λ=1.5 μ=1", erlang_c(2, 1.5), 9 / 14)
summary = json.load(open(sys.argv[1]))
o = summary.get("open_loop")
if o is None:
    sys.exit("FAIL  summary.json has no open_loop answer to check")
c, s, cv = o["servers"], o["service_ms"] / 1000, o["service_cv"]
for name in ("at_rate", "at_1_3x"):
    p = o[name]["queue"]
    if p is None:
        print(f"{name}: past saturation (λ·S ≥ c), no queue figures to check")
        continue
    lam = p["rate_rps"]
    pw = erlang_c(c, lam * s)
    wait = pw / (c / s - lam) * (o["arrival_cv"] ** 2 + cv**2) / 2
    shed = pw * math.exp(-(o["queue_timeout_ms"] / 1000) * pw / wait)
    ok &= close(f"{name} P(wait) at {lam:.3f}/s", p["p_wait"], pw)
    ok &= close(f"{name} mean wait (s)", p["mean_wait_s"], wait)
    ok &= close(f"{name} shed share", p["shed"], shed)
if not ok:
    sys.exit("FAIL  the report's open-loop model differs from scipy's Erlang C")
print("PASS  the open-loop model agrees with scipy's Erlang C")
