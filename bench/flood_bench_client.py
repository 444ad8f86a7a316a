#!/usr/bin/env python3
"""The flood scenario's client (bench/flood_bench.sh runs it): a victim tenant's latency with
and without a flooding neighbour.

  flood_bench_client.py URL ADMIN_TOKEN --seconds S --flooders N --tag TAG

Sets up a private region with 8 pools and two tenants (victim, flooder), then:
  1. baseline: the victim alone for S seconds — one request every --interval s, alternating
     POST /v1/quotes and GET /v1/pools?limit=20, a new connection each (as a light client);
  2. flood: the same victim loop while N threads of the flooder send POST /v1/quotes back to
     back on keep-alive connections from 127.0.0.2 (another address: only the token budget
     applies to it).
Prints one JSON object: victim p50/p99 per phase and route (ms), victim failures, flooder
requests, 2xx and 429 counts."""
import argparse
import datetime
import http.client
import json
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
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))] * 1000, 2)


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
    a = ap.parse_args()
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

    # warm up
    victim_phase(1.0)
    base, base_fail = victim_phase(a.seconds)
    stop = threading.Event()
    fstats = {"sent": 0, "ok": 0, "429": 0, "other": 0}
    lock = threading.Lock()

    def flood():
        fc = C(host, port, source="127.0.0.2")
        while not stop.is_set():
            try:
                st, _ = fc.req("POST", "/v1/quotes", quote, flooder, keep=True)
            except (OSError, http.client.HTTPException):
                st = 0
            with lock:
                fstats["sent"] += 1
                if st == 429:
                    fstats["429"] += 1
                elif 200 <= st < 300:
                    fstats["ok"] += 1
                else:
                    fstats["other"] += 1

    threads = [threading.Thread(target=flood) for _ in range(a.flooders)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    t0 = time.time()
    f0 = dict(fstats)
    under, under_fail = victim_phase(a.seconds)
    elapsed = time.time() - t0
    f1 = dict(fstats)
    stop.set()
    for t in threads:
        t.join()
    out = {"seconds": a.seconds, "flooders": a.flooders}
    for name, lat in (("baseline", base), ("flood", under)):
        for k in ("quote", "pools"):
            out["%s_%s_n" % (name, k)] = len(lat[k])
            out["%s_%s_p50_ms" % (name, k)] = pct(lat[k], 50)
            out["%s_%s_p99_ms" % (name, k)] = pct(lat[k], 99)
    out["baseline_failures"] = len(base_fail)
    out["flood_failures"] = len(under_fail)
    out["flood_failure_examples"] = under_fail[:3]
    for k in ("sent", "ok", "429", "other"):
        out["flooder_%s_per_s" % k] = round((f1[k] - f0[k]) / elapsed, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
