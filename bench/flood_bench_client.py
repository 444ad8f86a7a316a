#!/usr/bin/env python3
"""The flood scenario's client (bench/flood_bench.sh runs it): a victim tenant's latency with
and without a flooding neighbour.

  flood_bench_client.py URL ADMIN_TOKEN --seconds S --flooders N --tag TAG
                        [--window W] [--victim-cpus LIST] [--flood-cpus LIST]

Sets up a private region with 8 pools and two tenants (victim, flooder), then measures the
victim — one request every --interval s, alternating POST /v1/quotes and GET /v1/pools?limit=20,
a new connection each (as a light client) — for S seconds in each of two phases:
  baseline: the victim alone;
  flood:    while N threads of the flooder send POST /v1/quotes back to back on keep-alive
            connections from 127.0.0.2 (another address: its own address budget).
The phases alternate in windows of W seconds (alone, flood, flood, alone, alone, flood, ...),
so that the rest of a shared machine's load, which drifts over minutes, weighs on both alike.
The flooder runs in its own process (idle in the baseline windows): as threads of the
victim's process they shared its interpreter lock, and every reply the victim waited for also
waited for the lock (up to the 5 ms switch interval per hand-over), which the server cannot
help.  --victim-cpus and --flood-cpus ("1", "0,1") pin each process to those CPUs.
Prints one JSON object: victim p50/p99 per phase and route (ms; nearest-rank percentiles),
victim failures, flooder requests, 2xx and 429 counts per second while the victim measured."""
import argparse
import datetime
import http.client
import json
import math
import multiprocessing
import os
import sys
import threading
import time


def hour(h):
    t = datetime.datetime.now(datetime.timezone.utc).replace(minute=0, second=0, microsecond=0)
    return (t + datetime.timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ")


class C:
    def __init__(self, host, port, source=None):
        self.host, self.port, self.source = host, port, source
        self.conn = None

    def req(self, method, path, body=None, token=None, keep=False):
        h = {"Content-Type": "application/json"}
        if token:
            h["Authorization"] = "Bearer " + token
        data = json.dumps(body).encode() if body is not None else None
        if not keep or self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30,
                                                   source_address=(self.source, 0) if self.source else None)
        try:
            self.conn.request(method, path, body=data, headers=h)
            r = self.conn.getresponse()
            raw = r.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise
        if not keep or r.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        return r.status, raw


def must(st, raw, what):
    if st >= 300:
        sys.exit("%s: %s %s" % (what, st, raw[:300]))
    return json.loads(raw)


def pct(xs, p):
    """Nearest-rank percentile in ms: the ceil(p% * n)-th smallest (p99 of 100 samples is the
    99th, not the largest)."""
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[max(0, math.ceil(p / 100.0 * len(xs)) - 1)] * 1000, 2)


def cpus(text):
    return {int(x) for x in text.split(",") if x.strip()} if text else None


def flood_process(host, port, token, quote, threads, cpu_set, flooding, measure, stop, out):
    """The flooder: `threads` threads sending quotes back to back while `flooding` is set
    (idle otherwise) until `stop`; counts the replies received while `measure` was set and
    puts {"sent", "ok", "429", "other", "seconds"} on out."""
    if cpu_set:
        os.sched_setaffinity(0, cpu_set)
    stats = {"sent": 0, "ok": 0, "429": 0, "other": 0}
    lock = threading.Lock()

    def flood():
        fc = C(host, port, source="127.0.0.2")
        while not stop.is_set():
            if not flooding.wait(0.05):
                continue
            try:
                st, _ = fc.req("POST", "/v1/quotes", quote, token, keep=True)
            except (OSError, http.client.HTTPException):
                st = 0
            if not measure.is_set():
                continue
            with lock:
                stats["sent"] += 1
                if st == 429:
                    stats["429"] += 1
                elif 200 <= st < 300:
                    stats["ok"] += 1
                else:
                    stats["other"] += 1

    ts = [threading.Thread(target=flood) for _ in range(threads)]
    for t in ts:
        t.start()
    measured, t0 = 0.0, None
    while not stop.is_set():
        if measure.is_set() and t0 is None:
            t0 = time.time()
        elif not measure.is_set() and t0 is not None:
            measured += time.time() - t0
            t0 = None
        time.sleep(0.01)
    for t in ts:
        t.join()
    stats["seconds"] = measured
    out.put(stats)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("admin")
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--flooders", type=int, default=8)
    ap.add_argument("--tag", default="f")
    ap.add_argument("--interval", type=float, default=0.15,
                    help="seconds between the victim's requests (0.15: ~17 budget tokens/s, inside "
                         "the default tenant budget of 20/s)")
    ap.add_argument("--window", type=float, default=5.0,
                    help="seconds per window; the phases alternate window by window")
    ap.add_argument("--settle", type=float, default=0.5,
                    help="seconds after switching the flood on or off before measuring")
    ap.add_argument("--victim-cpus", default="", help="pin the victim (this process) to these CPUs")
    ap.add_argument("--flood-cpus", default="", help="pin the flooder's process to these CPUs")
    a = ap.parse_args()
    if cpus(a.victim_cpus):
        os.sched_setaffinity(0, cpus(a.victim_cpus))
    host, port = a.url.split("//")[1].split(":")
    port = int(port)
    c = C(host, port)
    adm = a.admin
    region = "fb-%s" % a.tag.lower()[:20]
    must(*c.req("POST", "/v1/regions", {"code": region, "name": "flood", "tier": "cloud"}, adm), "region")
    acct = {}
    for kind in ("provider", "tenant", "tenant"):
        x = must(*c.req("POST", "/v1/accounts", {"kind": kind, "name": "%s-%s-%d" % (kind, a.tag, len(acct))}, adm), "account")
        t = must(*c.req("POST", "/v1/accounts/%d/tokens" % x["id"], {}, adm), "token")
        acct.setdefault(kind, []).append(t["token"])
    prov = acct["provider"][0]
    victim, flooder = acct["tenant"]
    for i in range(8):
        must(*c.req("POST", "/v1/pools", {
            "name": "fp-%d" % i, "region": region, "accelerator": "H100-SXM", "gpu_count": 64,
            "gpus_per_node": 8, "intra_node": "nvlink", "inter_node": "infiniband", "inter_node_gbps": 400,
            "price_per_gpu_hour": "%d.50" % (2 + i), "available_from": hour(1), "available_until": hour(24 * 20),
            "adapter": {"kind": "sim", "config": {}}}, prov), "pool")
    quote = {"gpus": 8, "duration_hours": 4, "earliest_start": hour(3), "latest_start": hour(27),
             "regions": [region]}

    def victim_phase(seconds):
        lat = {"quote": [], "pools": []}
        fails = []
        t_end = time.time() + seconds
        i = 0
        while time.time() < t_end:
            i += 1
            which = "quote" if i % 2 else "pools"
            t0 = time.perf_counter()
            try:
                if which == "quote":
                    st, raw = c.req("POST", "/v1/quotes", quote, victim)
                else:
                    st, raw = c.req("GET", "/v1/pools?limit=20", None, victim)
            except (OSError, http.client.HTTPException) as ex:
                fails.append(str(ex))
                continue
            dt = time.perf_counter() - t0
            if st >= 300:
                fails.append("%s %s" % (st, raw[:100]))
            else:
                lat[which].append(dt)
            time.sleep(max(0.0, a.interval - dt))
        return lat, fails

    # The two phases alternate in windows (alone, flood, flood, alone, alone, ...) so that a
    # change of the machine's other load hits both alike; the flooder's process runs all along
    # and floods only in the flood windows.  Each window starts after `settle` seconds.
    mp = multiprocessing.get_context("fork")
    flooding, measure, stop, q = mp.Event(), mp.Event(), mp.Event(), mp.Queue()
    child = mp.Process(target=flood_process, args=(host, port, flooder, quote, a.flooders,
                                                   cpus(a.flood_cpus), flooding, measure, stop, q))
    child.start()
    victim_phase(1.0)  # warm up
    lat = {"baseline": {"quote": [], "pools": []}, "flood": {"quote": [], "pools": []}}
    fails = {"baseline": [], "flood": []}
    windows = max(1, int(round(a.seconds / a.window)))
    try:
        for w in range(2 * windows):
            phase = "flood" if w % 4 in (1, 2) else "baseline"
            if phase == "flood":
                flooding.set()
            else:
                flooding.clear()
            time.sleep(a.settle)
            if phase == "flood":
                measure.set()
            got, bad = victim_phase(a.seconds / windows)
            measure.clear()
            for k in got:
                lat[phase][k] += got[k]
            fails[phase] += bad
    finally:
        flooding.clear()
        stop.set()
    fst = q.get(timeout=60)
    child.join(30)
    base, under = lat["baseline"], lat["flood"]
    base_fail, under_fail = fails["baseline"], fails["flood"]
    out = {"seconds": a.seconds, "flooders": a.flooders, "window": a.window}
    for name, lat in (("baseline", base), ("flood", under)):
        for k in ("quote", "pools"):
            out["%s_%s_n" % (name, k)] = len(lat[k])
            out["%s_%s_p50_ms" % (name, k)] = pct(lat[k], 50)
            out["%s_%s_p99_ms" % (name, k)] = pct(lat[k], 99)
    out["baseline_failures"] = len(base_fail)
    out["flood_failures"] = len(under_fail)
    out["flood_failure_examples"] = under_fail[:3]
    for k in ("sent", "ok", "429", "other"):
        out["flooder_%s_per_s" % k] = round(fst[k] / max(fst["seconds"], 1e-9), 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
