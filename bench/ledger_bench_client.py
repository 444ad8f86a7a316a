#!/usr/bin/env python3
"""Load client of bench/ledger_bench.sh (python3 standard library only).

  ledger_bench_client.py URL ADMIN_TOKEN --orders N --clients C --tag TAG [--warmup W]

Builds a small private market through the API (one region, 8 pools of 64 H100 GPUs at
different prices, C tenants funded with 1,000,000.00 each), then fires N fill-or-kill orders
(1-2 GPUs, 1-3 h, a start hour drawn from the next 25 days, each with a unique
Idempotency-Key) from C threads, one tenant and one keep-alive connection per thread, and
prints one JSON object: orders, trades, killed, errors, wall seconds of the firing phase,
trades/s, orders/s, latency percentiles, and the CPU seconds suanlid (--server-pid) and its
PostgreSQL backends (--db-url, when PostgreSQL runs on this machine) spent in the firing phase:
CPU per trade is steadier than trades/s on a machine shared with other work.  W warm-up orders (default 64, not counted) go
first, from the same threads.  The random draws are seeded, so both modes get the same
orders.
"""
import argparse
import datetime
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid


class Api:
    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.conn = None

    def req(self, method, path, body=None, token=None, headers=None):
        h = {"Content-Type": "application/json"}
        if token:
            h["Authorization"] = "Bearer " + token
        if method == "POST" and "Idempotency-Key" not in (headers or {}) and (
                path == "/v1/orders" or path.endswith(("/deposits", "/withdrawals", "/cancel"))):
            h["Idempotency-Key"] = uuid.uuid4().hex  # required on money-moving POSTs
        if headers:
            h.update(headers)
        data = json.dumps(body).encode() if body is not None else None
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self.conn.request(method, path, body=data, headers=h)
                r = self.conn.getresponse()
                raw = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, (json.loads(raw) if raw else None)
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise RuntimeError("unreachable")


def must(api, method, path, body, token, want):
    st, j = api.req(method, path, body, token)
    if st != want:
        sys.exit("ledger_bench_client: %s %s -> %s %s" % (method, path, st, j))
    return j


def hour(offset):
    now = datetime.datetime.now(datetime.timezone.utc).replace(minute=0, second=0, microsecond=0)
    return (now + datetime.timedelta(hours=offset)).strftime("%Y-%m-%dT%H:%M:%SZ")


def setup(url, admin, clients, tag):
    api = Api(url)
    region = "bench-%s" % tag
    must(api, "POST", "/v1/regions", {"code": region, "name": "ledger bench", "tier": "cloud"}, admin, 201)
    provs = []
    for i in range(2):
        acc = must(api, "POST", "/v1/accounts", {"kind": "provider", "name": "bench-%s-p%d" % (tag, i)}, admin, 201)
        tok = must(api, "POST", "/v1/accounts/%d/tokens" % acc["id"], {}, admin, 201)["token"]
        provs.append(tok)
    for i in range(8):
        body = {"name": "bench-%s-pool%d" % (tag, i), "region": region, "accelerator": "H100-SXM", "gpu_count": 64,
                "gpus_per_node": 8, "intra_node": "nvlink", "inter_node": "infiniband", "inter_node_gbps": 400,
                "price_per_gpu_hour": "%d.%02d" % (2 + i // 4, 10 + 7 * i), "available_from": hour(1),
                "available_until": hour(24 * 30), "adapter": {"kind": "sim", "config": {}}}
        must(api, "POST", "/v1/pools", body, provs[i % 2], 201)
    tenants = []
    for i in range(clients):
        acc = must(api, "POST", "/v1/accounts", {"kind": "tenant", "name": "bench-%s-t%d" % (tag, i)}, admin, 201)
        tok = must(api, "POST", "/v1/accounts/%d/tokens" % acc["id"], {}, admin, 201)["token"]
        must(api, "POST", "/v1/accounts/%d/deposits" % acc["id"], {"amount": "1000000.00"}, admin, 201)
        tenants.append(tok)
    return region, tenants


def proc_cpu(pid):
    """utime + stime of a process in seconds (0 when it is gone or unreadable)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def backends(db_url):
    """Pids of the PostgreSQL backends connected to db_url's database (other than ours)."""
    if not db_url:
        return []
    p = subprocess.run(["psql", "-X", "-At", "-d", db_url, "-c",
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                        " AND pid <> pg_backend_pid()"], capture_output=True, text=True, timeout=30)
    return [int(x) for x in p.stdout.split()] if p.returncode == 0 else []


class CpuMeter:
    """CPU seconds of suanlid and its database backends between start() and stop() (only when
    PostgreSQL runs on this machine: /proc must show the backends)."""

    def __init__(self, server_pid, db_url):
        self.server_pid, self.db_url = server_pid, db_url

    def sample(self, pids):
        return {p: proc_cpu(p) for p in pids}

    def start(self):
        self.pids = backends(self.db_url)
        self.local = bool(self.pids) and all(os.path.exists("/proc/%d" % p) for p in self.pids)
        self.t0 = self.sample(self.pids)
        self.s0 = proc_cpu(self.server_pid) if self.server_pid else 0.0

    def stop(self):
        pids = set(self.pids) | set(backends(self.db_url))
        t1 = self.sample(pids)
        s1 = proc_cpu(self.server_pid) if self.server_pid else 0.0
        db = sum(t1[p] - self.t0.get(p, 0.0) for p in pids if t1[p] > 0)
        return round(s1 - self.s0, 2), (round(db, 2) if self.local else None)


def percentile(v, p):
    if not v:
        return None
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("admin")
    ap.add_argument("--orders", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--warmup", type=int, default=64)
    ap.add_argument("--tag", default="x")
    ap.add_argument("--seed", type=int, default=20261127)
    ap.add_argument("--server-pid", type=int, default=0, help="suanlid's pid, for its CPU time")
    ap.add_argument("--db-url", default="", help="the database, for its backends' CPU time")
    a = ap.parse_args()
    region, tenants = setup(a.url, a.admin, a.clients, a.tag)
    rnd = random.Random(a.seed)
    total = a.warmup + a.orders
    bodies = [{"gpus": rnd.randint(1, 2), "duration_hours": rnd.randint(1, 3),
               "earliest_start": hour(rnd.randint(2, 24 * 25)), "regions": [region],
               "time_in_force": "fill_or_kill"} for _ in range(total)]
    lock = threading.Lock()
    nxt = [0]
    stats = {"trades": 0, "filled": 0, "killed": 0, "errors": 0, "status": {}}
    lat = []
    warm_done = threading.Barrier(a.clients + 1)
    go = threading.Barrier(a.clients + 1)

    def take(limit):
        with lock:
            if nxt[0] >= limit:
                return None
            nxt[0] += 1
            return nxt[0] - 1

    def worker(i):
        api = Api(a.url)
        tok = tenants[i]

        def one(k, count):
            t0 = time.perf_counter()
            try:
                st, j = api.req("POST", "/v1/orders", bodies[k], tok, {"Idempotency-Key": uuid.uuid4().hex})
            except (OSError, http.client.HTTPException):
                st, j = 0, None
            dt = time.perf_counter() - t0
            if not count:
                return
            with lock:
                lat.append(dt)
                stats["status"][str(st)] = stats["status"].get(str(st), 0) + 1
                if st == 201 and isinstance(j, dict):
                    if j.get("state") == "filled":
                        stats["filled"] += 1
                        stats["trades"] += len(j.get("trades") or [])
                    else:
                        stats["killed"] += 1
                else:
                    stats["errors"] += 1

        while True:
            k = take(a.warmup)
            if k is None:
                break
            one(k, False)
        warm_done.wait()
        go.wait()
        while True:
            k = take(total)
            if k is None:
                break
            one(k, True)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(a.clients)]
    for t in threads:
        t.start()
    warm_done.wait()
    with lock:
        nxt[0] = a.warmup
    cpu = CpuMeter(a.server_pid, a.db_url)
    cpu.start()
    t0 = time.perf_counter()
    go.wait()
    for t in threads:
        t.join(600)
    wall = time.perf_counter() - t0
    srv_cpu, db_cpu = cpu.stop()
    out = dict(stats, orders=a.orders, clients=a.clients, warmup=a.warmup, wall_s=round(wall, 3),
               trades_per_s=round(stats["trades"] / wall, 1), orders_per_s=round(a.orders / wall, 1),
               p50_ms=round(1000 * percentile(lat, 50), 2), p99_ms=round(1000 * percentile(lat, 99), 2),
               region=region, server_cpu_s=srv_cpu, db_cpu_s=db_cpu,
               cpu_ms_per_trade=(round(1000 * (srv_cpu + db_cpu) / stats["trades"], 3)
                                 if db_cpu is not None and stats["trades"] else None))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
