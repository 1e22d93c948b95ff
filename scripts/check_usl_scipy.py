#!/usr/bin/env python3
"""Fit the Universal Scalability Law to a ramp CSV with scipy.optimize.curve_fit (an independent
implementation: MINPACK's Levenberg-Marquardt) and check that `loadgen report`'s summary.json
found the same sigma, kappa, lambda and 95% intervals, within 1% (relative).

The points are chosen as loadgen documents: steps not interrupted, closed loop, with at most 1%
of requests answered 429/503; X = goodput_rps, N = concurrency.

usage: check_usl_scipy.py RUN.csv SUMMARY.json
"""
import csv
import json
import sys

import numpy as np
from scipy import stats
from scipy.optimize import curve_fit

TOLERANCE = 0.01


def usl(n, sigma, kappa, lam):
    return lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))


def points(path):
    ns, xs = [], []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["interrupted"] == "true" or not row["concurrency"] or row["target_rps"]:
                continue
            requests = int(row["requests"])
            shed = int(row["rejected_429"]) + int(row["rejected_503"])
            if requests and shed / requests > 0.01:
                continue
            ns.append(float(row["concurrency"]))
            xs.append(float(row["goodput_rps"]))
    return np.array(ns), np.array(xs)


def main():
    csv_path, summary_path = sys.argv[1], sys.argv[2]
    n, x = points(csv_path)
    first = np.argmin(n)
    p0 = [0.01, 1e-4, x[first] / n[first]]
    # sigma, kappa >= 0, as loadgen fits them (trust-region reflective, the bounded solver).
    popt, pcov = curve_fit(usl, n, x, p0=p0, bounds=([0, 0, 0], [np.inf, np.inf, np.inf]),
                           method="trf", max_nfev=100000)
    dof = len(n) - 3
    t = stats.t.ppf(0.975, dof)
    half = t * np.sqrt(np.diag(pcov))
    residuals = x - usl(n, *popt)
    r2 = 1 - np.sum(residuals**2) / np.sum((x - x.mean()) ** 2)

    ours = json.load(open(summary_path))["usl"]
    failures = []
    print(f"{len(n)} points from {csv_path}")
    print(f"{'':8}{'scipy':>14}{'loadgen':>14}{'rel. diff':>12}")
    for i, name in enumerate(["sigma", "kappa", "lambda"]):
        checks = [(name, popt[i], ours[name])]
        ci = ours[f"{name}_ci"]
        checks.append((f"{name}_ci-", popt[i] - half[i], ci[0]))
        checks.append((f"{name}_ci+", popt[i] + half[i], ci[1]))
        for label, theirs, mine in checks:
            rel = abs(mine - theirs) / abs(theirs) if theirs else abs(mine)
            print(f"{label:10}{theirs:14.8g}{mine:14.8g}{rel:12.2e}")
            if rel > TOLERANCE:
                failures.append(f"{label}: scipy {theirs:.8g}, loadgen {mine:.8g} ({rel:.2%} apart)")
    rel = abs(ours["r2"] - r2) / abs(r2)
    print(f"{'r2':10}{r2:14.8g}{ours['r2']:14.8g}{rel:12.2e}")
    if rel > TOLERANCE:
        failures.append(f"r2: scipy {r2:.8g}, loadgen {ours['r2']:.8g}")
    if failures:
        print("USL fit disagrees with scipy.optimize.curve_fit:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("USL fit agrees with scipy.optimize.curve_fit within 1%")


if __name__ == "__main__":
    main()
