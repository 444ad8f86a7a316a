#!/usr/bin/env python3
"""The flood scenario's client (bench/flood_bench.sh runs it): victim tenants' latency with and
without a flooding neighbour.

  flood_bench_client.py URL ADMIN_TOKEN --seconds S --flooders N --tag TAG
                        [--victims K] [--window W] [--victim-cpus LIST] [--flood-cpus LIST]

Sets up a private region with 8 pools, K victim tenants and a flooding tenant.  Each victim is
a light client in its own process: one request every --interval s (inside its own budget),
alternating POST /v1/quotes and GET /v1/pools?limit=20, a new connection each.  The flooder is
N threads in another process sending POST /v1/quotes back to back on keep-alive connections
from 127.0.0.2 (its own address budget).  The flood is switched on and off in windows of W
seconds (alone, flood, flood, alone, alone, flood, ...) until each phase has S seconds, so that
the rest of a shared machine's load, which drifts over minutes, weighs on both phases alike;
a victim request counts for a phase when it started and ended inside one of that phase's
windows (each window starts --settle s after the switch).  Several victims give p99 enough
samples that it is not simply the slowest request of the run.

Separate processes matter: as threads of one process, the flooder and the victim shared its
interpreter lock, and every reply the victim waited for also waited for the lock (up to the
5 ms switch interval per hand-over), which the server cannot help.  --victim-cpus and
--flood-cpus ("1", "0,1") pin the processes to those CPUs.

Prints one JSON object: victim p50/p99 per phase and route (ms; nearest-rank percentiles over
all victims), victim failures, flooder requests, 2xx and 429 per second in the flood windows."""
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
    """Nearest-rank percentile in ms: the ceil(p% * n)-th smallest."""
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[max(0, math.ceil(p / 100.0 * len(xs)) - 1)] * 1000, 2)


def cpus(text):
    return {int(x) for x in text.split(",") if x.strip()} if text else None


def victim_process(host, port, token, quote, interval, cpu_set, stop, out):
    """A light client until `stop`: puts its requests on out as [start, end, route, status]."""
    if cpu_set:
        os.sched_setaffinity(0, cpu_set)
    c = C(host, port)
    log = []
    i = 0
    while not stop.is_set():
        i += 1
        which = "quote" if i % 2 else "pools"
        t0, p0 = time.time(), time.perf_counter()
        try:
            if which == "quote":
                st, _ = c.req("POST", "/v1/quotes", quote, token)
            else:
                st, _ = c.req("GET", "/v1/pools?limit=20", None, token)
        except (OSError, http.client.HTTPException):
            st = 0
        dt = time.perf_counter() - p0
        log.append([t0, t0 + dt, which, st])
        time.sleep(max(0.0, interval - dt))
    out.put(log)


def flood_process(host, port, token, quote, threads, cpu_set, flooding, stop, out):
    """The flooder: `threads` threads sending quotes back to back while `flooding` is set (idle
    otherwise) until `stop`; puts the [time, status] of every reply on out."""
    if cpu_set:
        os.sched_setaffinity(0, cpu_set)
    log = []
    lock = threading.Lock()

    def flood():
        fc = C(host, port, source="127.0.0.2")
        mine = []
        while not stop.is_set():
            if not flooding.wait(0.05):
                continue
            try:
                st, _ = fc.req("POST", "/v1/quotes", quote, token, keep=True)
            except (OSError, http.client.HTTPException):
                st = 0
            mine.append((time.time(), st))
        with lock:
            log.extend(mine)

    ts = [threading.Thread(target=flood) for _ in range(threads)]
    for t in ts:
        t.start()
    stop.wait()
    for t in ts:
        t.join()
    out.put(log)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("admin")
    ap.add_argument("--seconds", type=float, default=15, help="measured seconds per phase")
    ap.add_argument("--flooders", type=int, default=8)
    ap.add_argument("--victims", type=int, default=4)
    ap.add_argument("--tag", default="f")
    ap.add_argument("--interval", type=float, default=0.15,
                    help="seconds between a victim's requests (0.15: ~17 budget tokens/s, inside "
                         "the default tenant budget of 20/s)")
    ap.add_argument("--window", type=float, default=5.0,
                    help="seconds per window; the phases alternate window by window")
    ap.add_argument("--settle", type=float, default=0.5,
                    help="seconds after switching the flood on or off before a window starts")
    ap.add_argument("--victim-cpus", default="", help="pin the victims' processes to these CPUs")
    ap.add_argument("--flood-cpus", default="", help="pin the flooder's process to these CPUs")
    a = ap.parse_args()
    host, port = a.url.split("//")[1].split(":")
    port = int(port)
    c = C(host, port)
    adm = a.admin
    region = "fb-%s" % a.tag.lower()[:20]
    must(*c.req("POST", "/v1/regions", {"code": region, "name": "flood", "tier": "cloud"}, adm), "region")
    acct = {}
    for n, kind in enumerate(["provider"] + ["tenant"] * (a.victims + 1)):
        x = must(*c.req("POST", "/v1/accounts", {"kind": kind, "name": "%s-%s-%d" % (kind, a.tag, n)}, adm), "account")
        t = must(*c.req("POST", "/v1/accounts/%d/tokens" % x["id"], {}, adm), "token")
        acct.setdefault(kind, []).append(t["token"])
    prov = acct["provider"][0]
    flooder, victims = acct["tenant"][0], acct["tenant"][1:]
    for i in range(8):
        must(*c.req("POST", "/v1/pools", {
            "name": "fp-%d" % i, "region": region, "accelerator": "H100-SXM", "gpu_count": 64,
            "gpus_per_node": 8, "intra_node": "nvlink", "inter_node": "infiniband", "inter_node_gbps": 400,
            "price_per_gpu_hour": "%d.50" % (2 + i), "available_from": hour(1), "available_until": hour(24 * 20),
            "adapter": {"kind": "sim", "config": {}}}, prov), "pool")
    quote = {"gpus": 8, "duration_hours": 4, "earliest_start": hour(3), "latest_start": hour(27),
             "regions": [region]}

    mp = multiprocessing.get_context("fork")
    flooding, stop = mp.Event(), mp.Event()
    vq, fq = mp.Queue(), mp.Queue()
    procs = [mp.Process(target=victim_process, args=(host, port, v, quote, a.interval, cpus(a.victim_cpus),
                                                     stop, vq)) for v in victims]
    procs.append(mp.Process(target=flood_process, args=(host, port, flooder, quote, a.flooders,
                                                        cpus(a.flood_cpus), flooding, stop, fq)))
    for p in procs:
        p.start()
    time.sleep(1.0)  # warm-up: not measured
    windows = max(1, int(round(a.seconds / a.window)))
    spans = []  # (phase, t0, t1)
    try:
        for w in range(2 * windows):
            phase = "flood" if w % 4 in (1, 2) else "baseline"
            if phase == "flood":
                flooding.set()
            else:
                flooding.clear()
            time.sleep(a.settle)
            t0 = time.time()
            time.sleep(a.seconds / windows)
            spans.append((phase, t0, time.time()))
    finally:
        flooding.clear()
        stop.set()
    vlogs = [vq.get(timeout=60) for _ in victims]
    flog = fq.get(timeout=60)
    for p in procs:
        p.join(30)

    def phase_of(t0, t1):
        for phase, s0, s1 in spans:
            if s0 <= t0 and t1 <= s1:
                return phase
        return None

    lat = {ph: {"quote": [], "pools": []} for ph in ("baseline", "flood")}
    fails = {"baseline": [], "flood": []}
    for log in vlogs:
        for t0, t1, which, st in log:
            ph = phase_of(t0, t1)
            if ph is None:
                continue
            if 200 <= st < 300:
                lat[ph][which].append(t1 - t0)
            else:
                fails[ph].append("%s %s" % (which, st))
    flood_s = sum(s1 - s0 for ph, s0, s1 in spans if ph == "flood")
    fst = {"sent": 0, "ok": 0, "429": 0, "other": 0}
    for t, st in flog:
        if phase_of(t, t) != "flood":
            continue
        fst["sent"] += 1
        fst["ok" if 200 <= st < 300 else "429" if st == 429 else "other"] += 1

    out = {"seconds": a.seconds, "flooders": a.flooders, "victims": a.victims, "window": a.window}
    for name in ("baseline", "flood"):
        for k in ("quote", "pools"):
            out["%s_%s_n" % (name, k)] = len(lat[name][k])
            out["%s_%s_p50_ms" % (name, k)] = pct(lat[name][k], 50)
            out["%s_%s_p99_ms" % (name, k)] = pct(lat[name][k], 99)
    out["baseline_failures"] = len(fails["baseline"])
    out["flood_failures"] = len(fails["flood"])
    out["flood_failure_examples"] = fails["flood"][:3]
    for k in ("sent", "ok", "429", "other"):
        out["flooder_%s_per_s" % k] = round(fst[k] / max(flood_s, 1e-9), 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
