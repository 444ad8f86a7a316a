#!/usr/bin/env python3
"""Fit the great-circle RTT estimate to the measured AWS matrix (data/region_latency.csv).

    rtt_ms = overhead_ms + 2 * fibre_factor * distance_km / 204.19

distance_km is the great-circle (haversine, R = 6371.0088 km) distance between the regions'
coordinates in data/region_locations.csv; 204.19 km/ms is light in optical fibre (c / 1.4682);
fibre_factor is how much longer the cable route is than the great circle; overhead_ms the fixed
part (switching, queueing, the end hosts).  Both are fitted by least absolute deviations (the
median error is what a buyer reads), over every measured directional pair, self-pairs included,
whose two regions have coordinates.  Reports the in-sample error and a leave-one-region-out
error (the estimate is used for regions that are not in the matrix).

    python3 tools/latency/fit_rtt.py            # print the fit and its error
    python3 tools/latency/fit_rtt.py --json     # the same as JSON (used by the generator)

Standard library only.
"""
import csv
import json
import math
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIBRE_KM_PER_MS = 204.19
EARTH_KM = 6371.0088


def gc_km(a, b):
    la1, lo1, la2, lo2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(h)))


def load(root=ROOT):
    coords = {}
    with open(os.path.join(root, "data", "region_locations.csv"), newline="") as f:
        for r in csv.DictReader(f):
            if r["lat"] and r["lon"]:
                coords[r["code"]] = (float(r["lat"]), float(r["lon"]))
    pairs = []
    with open(os.path.join(root, "data", "region_latency.csv"), newline="") as f:
        for r in csv.DictReader(f):
            a, b = r["from_region"], r["to_region"]
            if a in coords and b in coords:
                pairs.append((a, b, gc_km(coords[a], coords[b]), float(r["rtt_ms"])))
    return coords, pairs


def weighted_median(values, weights):
    order = sorted(range(len(values)), key=lambda i: values[i])
    half, acc = sum(weights) / 2.0, 0.0
    for i in order:
        acc += weights[i]
        if acc >= half:
            return values[i]
    return values[order[-1]]


def lad(xs, ys):
    """Least absolute deviations y = a + b x: the optimum passes through a data point, so
    for each point the best line through it is a weighted median of slopes; keep the best."""
    best = None
    for i in range(len(xs)):
        slopes, w = [], []
        for j in range(len(xs)):
            if xs[j] != xs[i]:
                slopes.append((ys[j] - ys[i]) / (xs[j] - xs[i]))
                w.append(abs(xs[j] - xs[i]))
        if not slopes:
            continue
        b = weighted_median(slopes, w)
        a = ys[i] - b * xs[i]
        cost = sum(abs(y - a - b * x) for x, y in zip(xs, ys))
        if best is None or cost < best[0]:
            best = (cost, a, b)
    return best[1], best[2]


def pct(values, p):
    s = sorted(values)
    k = (len(s) - 1) * p / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def fit(root=ROOT):
    coords, pairs = load(root)
    xs = [p[2] for p in pairs]
    ys = [p[3] for p in pairs]
    a, b = lad(xs, ys)
    # rounded as stored: overhead in whole microseconds, slope in nanoseconds per km
    overhead_us = int(round(a * 1000))
    ns_per_km = int(round(b * 1e6))
    est = [(overhead_us + ns_per_km * x / 1000.0) / 1000.0 for x in xs]
    err = [abs(e - y) for e, y in zip(est, ys)]
    # leave one region out: refit without any pair touching it, score its pairs
    regions = sorted({p[0] for p in pairs} | {p[1] for p in pairs})
    loo = []
    for r in regions:
        keep = [p for p in pairs if r not in (p[0], p[1])]
        ra, rb = lad([p[2] for p in keep], [p[3] for p in keep])
        loo += [abs(ra + rb * p[2] - p[3]) for p in pairs if r in (p[0], p[1])]
    return {
        "overhead_us": overhead_us,
        "ns_per_km": ns_per_km,
        "fibre_factor": round(ns_per_km / 1e6 * FIBRE_KM_PER_MS / 2, 3),
        "fibre_km_per_ms": FIBRE_KM_PER_MS,
        "pairs": len(pairs),
        "regions": len(regions),
        "median_error_ms": round(pct(err, 50), 2),
        "p90_error_ms": round(pct(err, 90), 2),
        "max_error_ms": round(max(err), 2),
        "loo_median_error_ms": round(pct(loo, 50), 2),
        "loo_p90_error_ms": round(pct(loo, 90), 2),
        "median_relative_error": round(pct([e / y for e, y in zip(err, ys)], 50), 3),
    }


if __name__ == "__main__":
    f = fit()
    if "--json" in sys.argv:
        print(json.dumps(f, sort_keys=True))
    else:
        print("rtt_ms = %.3f + %.6f * km   (fibre factor %.3f at %.2f km/ms, fixed overhead %.3f ms)"
              % (f["overhead_us"] / 1000, f["ns_per_km"] / 1e6, f["fibre_factor"],
                 FIBRE_KM_PER_MS, f["overhead_us"] / 1000))
        print("fitted on %d measured pairs of %d AWS regions" % (f["pairs"], f["regions"]))
        print("absolute error: median %.2f ms, p90 %.2f ms, max %.2f ms (in sample)"
              % (f["median_error_ms"], f["p90_error_ms"], f["max_error_ms"]))
        print("leave one region out: median %.2f ms, p90 %.2f ms"
              % (f["loo_median_error_ms"], f["loo_p90_error_ms"]))
