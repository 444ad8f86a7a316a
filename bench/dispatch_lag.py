#!/usr/bin/env python3
"""One run of the dispatch-lag benchmark (called by bench/dispatch_lag.sh; python3 stdlib only).

  dispatch_lag.py --bin BIN --db URL --mode dispatch|baseline [--orders N] [--clients C]

On the empty database URL: starts `BIN serve` on a free loopback port (SUANLI_WORKERS=1 for
`dispatch`, 0 for `baseline`: a pure API process, no dispatcher, book, maintenance or ledger
sequencer threads), creates through the API one region, one provider with 8 sim pools of 128
GPUs (no fault injection, no delay) and C tenants with money, then C client threads (one tenant
and one keep-alive connection each) send N fill-or-kill orders (1..4 GPUs, 1 hour, starts
spread over the next 48 hours) as fast as the server answers.  Prints one JSON object:
orders/s over the load, and for `dispatch`, after every reserve job is done, the dispatch lag
per reservation (the simulated cluster's row is written by the adapter call itself):

  upper  sim_cluster_reservations.created_at - trades.created_at  (the trade's transaction
         start: a few ms before its commit, so an upper bound of commit -> adapter call)
  lower  sim_cluster_reservations.created_at - the client's receipt of the 201 (after the
         commit: a lower bound)

with p50/p99/max of each (milliseconds), and the dispatch throughput.
"""
import argparse
import datetime
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def hour(k):
    now = datetime.datetime.now(datetime.timezone.utc).replace(minute=0, second=0, microsecond=0)
    return (now + datetime.timedelta(hours=k)).strftime("%Y-%m-%dT%H:%M:%SZ")


def psql(url, sql):
    p = subprocess.run(["psql", url, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True,
                       text=True, timeout=120)
    if p.returncode != 0:
        raise SystemExit("psql: %s" % p.stderr.strip())
    return [line.split("|") for line in p.stdout.splitlines() if line]


class Api:
    def __init__(self, port):
        self.port = port

    def call(self, method, path, body=None, token=None, conn=None):
        c = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        h = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if token:
            h["Authorization"] = "Bearer " + token
        if method == "POST" and (path == "/v1/orders" or path.endswith(("/deposits", "/withdrawals", "/cancel"))):
            h["Idempotency-Key"] = uuid.uuid4().hex  # required on money-moving POSTs
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        raw = r.read()
        if conn is None:
            c.close()
        return r.status, (json.loads(raw) if raw else None)

    def ok(self, method, path, body=None, token=None):
        st, j = self.call(method, path, body, token)
        if st // 100 != 2:
            raise SystemExit("%s %s -> %s %s" % (method, path, st, j))
        return j


def pct(sorted_vals, p):
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--mode", choices=("dispatch", "baseline"), required=True)
    ap.add_argument("--orders", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--log", default=None)
    a = ap.parse_args()

    keydir = tempfile.mkdtemp(prefix="suanli-bench-keys-")
    env = dict(os.environ, SUANLI_DATABASE_URL=a.db, SUANLI_KEY_DIR=keydir)
    boot = subprocess.run([a.bin, "bootstrap-admin"], capture_output=True, text=True, env=env, timeout=120)
    if boot.returncode != 0:
        raise SystemExit("bootstrap-admin: %s" % boot.stderr)
    admin = boot.stdout.strip().splitlines()[-1]
    port = free_port()
    senv = dict(env, SUANLI_LISTEN="127.0.0.1:%d" % port, SUANLI_WORKERS="1" if a.mode == "dispatch" else "0")
    log = open(a.log or os.devnull, "wb")
    srv = subprocess.Popen([a.bin, "serve"], env=senv, stdout=log, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL)
    api = Api(port)
    try:
        for _ in range(300):
            try:
                if api.call("GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if srv.poll() is not None:
                raise SystemExit("suanlid exited during start-up")
            time.sleep(0.05)
        tag = "%d-%d" % (os.getpid(), int(time.time()))
        region = api.ok("POST", "/v1/regions", {"code": "bench-%s" % tag, "name": "bench", "tier": "cloud"},
                        admin)["code"]
        prov = api.ok("POST", "/v1/accounts", {"kind": "provider", "name": "bench-prov-%s" % tag}, admin)
        ptok = api.ok("POST", "/v1/accounts/%d/tokens" % prov["id"], {}, admin)["token"]
        for i in range(8):
            api.ok("POST", "/v1/pools", {
                "name": "bench-pool-%d-%s" % (i, tag), "region": region, "accelerator": "H100-SXM",
                "gpu_count": 128, "gpus_per_node": 8, "intra_node": "nvlink", "inter_node": "infiniband",
                "inter_node_gbps": 400, "price_per_gpu_hour": "2.%02d" % i, "available_from": hour(1),
                "available_until": hour(24 * 30), "adapter": {"kind": "sim", "config": {}}}, ptok)
        tenants = []
        for i in range(a.clients):
            t = api.ok("POST", "/v1/accounts", {"kind": "tenant", "name": "bench-ten-%d-%s" % (i, tag)}, admin)
            tok = api.ok("POST", "/v1/accounts/%d/tokens" % t["id"], {}, admin)["token"]
            api.ok("POST", "/v1/accounts/%d/deposits" % t["id"], {"amount": "1000000.00"}, admin)
            tenants.append(tok)
        time.sleep(2.5)  # (both modes) the workers' first round: simulated heartbeats, book events

        replies = {}  # trade id -> client receipt time
        errors = []
        lock = threading.Lock()
        per = [a.orders // a.clients + (1 if i < a.orders % a.clients else 0) for i in range(a.clients)]
        barrier = threading.Barrier(a.clients + 1)

        def client(ci):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            barrier.wait()
            for j in range(per[ci]):
                k = ci * 1000 + j
                body = {"gpus": 1 + k % 4, "duration_hours": 1, "earliest_start": hour(1 + k % 48),
                        "regions": [region]}
                try:
                    st, r = api.call("POST", "/v1/orders", body, tenants[ci], conn)
                except (OSError, http.client.HTTPException) as ex:
                    with lock:
                        errors.append(repr(ex))
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                    continue
                t = time.time()
                with lock:
                    if st == 201 and r.get("state") == "filled":
                        for tr in r["trades"]:
                            replies[tr["id"]] = t
                    else:
                        errors.append("%s %s" % (st, json.dumps(r)[:200]))
            conn.close()

        ths = [threading.Thread(target=client, args=(i,)) for i in range(a.clients)]
        for th in ths:
            th.start()
        barrier.wait()
        t0 = time.time()
        for th in ths:
            th.join()
        wall = time.time() - t0
        out = {"mode": a.mode, "orders": a.orders, "clients": a.clients, "filled_trades": len(replies),
               "errors": len(errors), "error_sample": errors[:3], "load_s": round(wall, 3),
               "orders_per_s": round(a.orders / wall, 1)}
        if a.mode == "dispatch":
            deadline = time.time() + 180
            while time.time() < deadline:
                q = int(psql(a.db, "SELECT count(*) FROM dispatch_jobs WHERE state = 'queued'")[0][0])
                if q == 0:
                    break
                time.sleep(0.2)
            out["drained_after_load_s"] = round(time.time() - t0 - wall, 2)
            rows = psql(a.db, "SELECT t.id, extract(epoch FROM t.created_at), extract(epoch FROM s.created_at)"
                              " FROM reservations r JOIN trades t ON t.id = r.trade_id"
                              " JOIN sim_cluster_reservations s ON s.reservation_id = r.id")
            upper = sorted((float(s) - float(c)) * 1000 for _, c, s in rows)
            lower = sorted((float(s) - replies[int(tid)]) * 1000 for tid, _, s in rows if int(tid) in replies)
            out["dispatched"] = len(rows)
            out["jobs"] = {st: int(n) for st, n in psql(a.db, "SELECT state, count(*) FROM dispatch_jobs GROUP BY 1")}
            for name, v in (("lag_upper_ms", upper), ("lag_lower_ms", lower)):
                out[name] = {"p50": round(pct(v, 50), 1), "p99": round(pct(v, 99), 1), "max": round(v[-1], 1),
                             "min": round(v[0], 1)} if v else None
            span = psql(a.db, "SELECT extract(epoch FROM max(s.created_at) - min(t.created_at))"
                              " FROM trades t JOIN reservations r ON r.trade_id = t.id"
                              " JOIN sim_cluster_reservations s ON s.reservation_id = r.id")[0][0]
            out["dispatch_per_s"] = round(len(rows) / float(span), 1) if span else None
        print(json.dumps(out))
    finally:
        if srv.poll() is None:
            srv.send_signal(signal.SIGTERM)
            try:
                srv.wait(30)
            except subprocess.TimeoutExpired:
                srv.kill()
                srv.wait()
        log.close()


if __name__ == "__main__":
    sys.exit(main())
