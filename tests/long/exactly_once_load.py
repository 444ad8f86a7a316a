#!/usr/bin/env python3
"""Two-server order load with kill -9s and immediate PostgreSQL stops, run by careful clients
(issue 10): every order has its own Idempotency-Key, and an ambiguous answer (503, 409
in flight, a dropped connection) is retried with the same key, on either server, until a
definitive one comes.  Bounded by --seconds.  Prints the counts and the checks as JSON.

  python3 tests/long/exactly_once_load.py --db URL --bin build/suanlid \
      --pg-stop "CMD" --pg-start "CMD" [--seconds 180] [--buyers 32] [--pools 10]

--pg-stop must stop PostgreSQL at once (pg_ctl -m immediate: a crash, no checkpoint).
The database must be empty and migrated by the servers themselves (they are started on it).
Checks at the end (all must hold): every order row is named by exactly one completed
idempotency record (no order without a key, no key with two orders: 0 double charges);
every key a client saw answered 201 names a distinct order that exists; each trade has one
escrow transaction; the calendar equals the trades; `suanlid audit` finds nothing.
"""
import argparse
import collections
import datetime
import http.client
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time


def now_hour(offset):
    t = datetime.datetime.now(datetime.timezone.utc).replace(minute=0, second=0, microsecond=0)
    return (t + datetime.timedelta(hours=offset)).strftime("%Y-%m-%dT%H:%M:%SZ")


def psql(url, sql):
    p = subprocess.run(["psql", url, "-X", "-At", "-q", "-v", "ON_ERROR_STOP=1"], input=sql,
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError("psql: %s" % p.stderr)
    return p.stdout.strip()


class Server:
    def __init__(self, binary, url, port, logdir, keydir, idx):
        self.binary, self.url, self.port, self.logdir, self.keydir, self.idx = binary, url, port, logdir, keydir, idx
        self.proc = None
        self.starts = 0
        self.logs = []

    def start(self):
        self.starts += 1
        path = os.path.join(self.logdir, "s%d-%d.log" % (self.idx, self.starts))
        self.logs.append(path)
        env = dict(os.environ, SUANLI_DATABASE_URL=self.url, SUANLI_LISTEN="127.0.0.1:%d" % self.port,
                   SUANLI_KEY_DIR=self.keydir, SUANLI_MAINTENANCE_MS="500", SUANLI_THREADS="8")
        self.proc = subprocess.Popen([self.binary, "serve"], stdout=open(path, "wb"), stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)

    def ready(self, timeout=60):
        t0 = time.time()
        while time.time() - t0 < timeout:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.2)
        return False

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def call(port, method, path, body, token, key=None, timeout=40):
    h = {"Content-Type": "application/json", "Authorization": "Bearer " + token}
    if key:
        h["Idempotency-Key"] = key
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
        r = c.getresponse()
        raw = r.read()
        try:
            j = json.loads(raw)
        except ValueError:
            j = None
        return r.status, j
    finally:
        c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--pg-stop", required=True)
    ap.add_argument("--pg-start", required=True)
    ap.add_argument("--seconds", type=int, default=180)
    ap.add_argument("--buyers", type=int, default=32)
    ap.add_argument("--pools", type=int, default=10)
    ap.add_argument("--kill-every", type=float, default=12.0)
    ap.add_argument("--pg-crash-every", type=float, default=25.0)
    ap.add_argument("--ports", default="18811,18812")
    a = ap.parse_args()

    logdir = tempfile.mkdtemp(prefix="suanli-long-")
    keydir = os.path.join(logdir, "keys")
    ports = [int(x) for x in a.ports.split(",")]
    servers = [Server(a.bin, a.db, p, logdir, keydir, i) for i, p in enumerate(ports)]
    servers[0].start()
    if not servers[0].ready():
        sys.exit("server 0 did not start (log %s)" % servers[0].logs[-1])
    servers[1].start()
    if not servers[1].ready():
        sys.exit("server 1 did not start")
    env = dict(os.environ, SUANLI_DATABASE_URL=a.db, SUANLI_KEY_DIR=keydir)
    admin = subprocess.run([a.bin, "bootstrap-admin"], capture_output=True, text=True, env=env).stdout.strip()
    P = ports[0]

    def ok(method, path, body, token, want=201):
        st, j = call(P, method, path, body, token, key=secrets.token_hex(8))
        if st != want:
            sys.exit("%s %s: %s %s" % (method, path, st, j))
        return j

    region = "r-" + secrets.token_hex(3)
    ok("POST", "/v1/regions", {"code": region, "name": "load", "tier": "cloud"}, admin)
    prov = ok("POST", "/v1/accounts", {"kind": "provider", "name": "p-" + secrets.token_hex(3)}, admin)
    ptok = ok("POST", "/v1/accounts/%d/tokens" % prov["id"], {}, admin)["token"]
    for i in range(a.pools):
        ok("POST", "/v1/pools", {"name": "pool-%d-%s" % (i, secrets.token_hex(2)), "region": region,
                                 "accelerator": "H100-SXM", "gpu_count": 8, "gpus_per_node": 8,
                                 "intra_node": "nvlink", "inter_node": "infiniband", "inter_node_gbps": 400,
                                 "price_per_gpu_hour": "%d.00" % (2 + i % 3), "available_from": now_hour(1),
                                 "available_until": now_hour(24 * 30), "adapter": {"kind": "sim", "config": {}}},
           ptok)
    tenants = []
    for i in range(a.buyers):
        t = ok("POST", "/v1/accounts", {"kind": "tenant", "name": "t-%d-%s" % (i, secrets.token_hex(3))}, admin)
        tok = ok("POST", "/v1/accounts/%d/tokens" % t["id"], {}, admin)["token"]
        ok("POST", "/v1/accounts/%d/deposits" % t["id"], {"amount": "100000000.00"}, admin)
        tenants.append((t["id"], tok))

    stop = threading.Event()
    mu = threading.Lock()
    counts = collections.Counter()
    final_201 = {}          # key -> order id
    unresolved = []         # keys still ambiguous at the end
    resolve_s = []          # seconds from the first ambiguous answer to the definitive one

    def buyer(i):
        tid, tok = tenants[i]
        rnd = random.Random(i)
        while not stop.is_set():
            key = "load-%d-%s" % (i, secrets.token_hex(8))
            body = {"gpus": rnd.choice((1, 2, 4)), "duration_hours": rnd.choice((1, 2, 3)),
                    "earliest_start": now_hour(rnd.randint(1, 24 * 25)), "regions": [region]}
            first_ambiguous = None
            attempt = 0
            while True:
                port = ports[(i + attempt) % 2]
                attempt += 1
                try:
                    st, j = call(port, "POST", "/v1/orders", body, tok, key=key)
                except (OSError, http.client.HTTPException):
                    st, j = None, None
                name = (j or {}).get("error") if st and st >= 400 else None
                with mu:
                    counts["requests"] += 1
                    if st is None:
                        counts["connection_errors"] += 1
                    elif st == 503:
                        counts["503_" + (name or "?")] += 1
                    elif st == 409:
                        counts["409_" + (name or "?")] += 1
                    elif st == 500:
                        counts["500"] += 1
                    if j is not None and st in (200, 201) and (j or {}).get("id") is not None and attempt > 1:
                        counts["replays_or_late_201"] += 1
                ambiguous = st is None or st in (503, 409, 500)
                if not ambiguous:
                    with mu:
                        counts["keys_definitive"] += 1
                        counts["status_%d" % st] += 1
                        if first_ambiguous is not None:
                            counts["keys_resolved_after_ambiguity"] += 1
                            resolve_s.append(time.time() - first_ambiguous)
                        if st == 201:
                            final_201[key] = j.get("id")
                    break
                if first_ambiguous is None:
                    first_ambiguous = time.time()
                if stop.is_set() and time.time() - first_ambiguous > 90:
                    with mu:
                        unresolved.append(key)
                    break
                time.sleep(min(2.0, 0.05 * (2 ** min(attempt, 6))) * (0.5 + rnd.random() / 2))

    def chaos():
        t_kill = time.time() + a.kill_every
        t_pg = time.time() + a.pg_crash_every
        while not stop.is_set():
            time.sleep(0.2)
            for s in servers:  # a server started while PostgreSQL was down exits: start it again
                if s.proc.poll() is not None:
                    s.start()
            if time.time() >= t_kill:
                s = random.choice(servers)
                s.kill9()
                with mu:
                    counts["kill9"] += 1
                time.sleep(0.5)
                s.start()
                t_kill = time.time() + a.kill_every
            if time.time() >= t_pg:
                subprocess.run(a.pg_stop, shell=True, capture_output=True)
                with mu:
                    counts["pg_immediate_stops"] += 1
                time.sleep(2.0)
                subprocess.run(a.pg_start, shell=True, capture_output=True)
                t_pg = time.time() + a.pg_crash_every

    threads = [threading.Thread(target=buyer, args=(i,)) for i in range(a.buyers)]
    ch = threading.Thread(target=chaos)
    t0 = time.time()
    for t in threads:
        t.start()
    ch.start()
    time.sleep(a.seconds)
    stop.set()
    ch.join()
    for s in servers:
        if s.proc.poll() is not None:
            s.start()
    for t in threads:
        t.join(300)
    elapsed = time.time() - t0
    for s in servers:
        s.ready(60)
    time.sleep(3)  # let the workers and the sequencer catch up
    for s in servers:
        s.stop()

    q = lambda sql: psql(a.db, sql)  # noqa: E731
    orders = int(q("SELECT count(*) FROM orders"))
    keyed = q("SELECT count(*), count(DISTINCT a.object) FROM idempotency_keys k JOIN audit_log a"
              " ON a.request_id = k.request_id AND a.error IS DISTINCT FROM 'idempotent_replay'"
              " WHERE k.state = 'done' AND k.status = 201 AND a.object LIKE 'order:%'").split("|")
    orders_without_key = int(q("SELECT count(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM idempotency_keys k"
                               " JOIN audit_log a ON a.request_id = k.request_id WHERE k.state = 'done'"
                               " AND a.object = 'order:' || o.id)"))
    orders_two_keys = int(q("SELECT count(*) FROM (SELECT a.object FROM idempotency_keys k JOIN audit_log a"
                            " ON a.request_id = k.request_id AND a.error IS DISTINCT FROM 'idempotent_replay'"
                            " WHERE k.state = 'done' AND a.object LIKE 'order:%' GROUP BY a.object"
                            " HAVING count(*) > 1) x"))
    trades = int(q("SELECT count(*) FROM trades"))
    escrow_dupes = int(q("SELECT count(*) FROM (SELECT trade_id FROM journal_txns WHERE kind = 'trade'"
                         " GROUP BY trade_id HAVING count(*) <> 1) x"))
    client_ids = list(final_201.values())
    client_dupes = len(client_ids) - len(set(client_ids))
    missing = 0
    if client_ids:
        ids = ",".join(str(int(x)) for x in client_ids)
        missing = len(client_ids) - int(q("SELECT count(*) FROM orders WHERE id IN (%s)" % ids))
    audit = subprocess.run([a.bin, "audit"], capture_output=True, text=True, env=env)
    findings = [x for x in audit.stdout.splitlines() if x.strip()]
    failed_lines = collections.Counter()
    for s in servers:
        for path in s.logs:
            with open(path, "rb") as f:
                for line in f:
                    if b'"database connection failed"' in line:
                        failed_lines[line[8:27].decode("ascii", "replace")] += 1  # per second
    rs = sorted(resolve_s)
    out = {
        "seconds": round(elapsed, 1), "buyers": a.buyers, "pools": a.pools,
        "counts": dict(counts),
        "keys_unresolved": len(unresolved),
        "resolve_s_p50": round(rs[len(rs) // 2], 2) if rs else None,
        "resolve_s_max": round(rs[-1], 2) if rs else None,
        "orders_in_db": orders, "trades_in_db": trades,
        "done_201_order_keys": int(keyed[0]), "distinct_orders_named": int(keyed[1]),
        "double_charges": orders_without_key + orders_two_keys + escrow_dupes + client_dupes,
        "orders_without_key": orders_without_key, "orders_named_by_two_keys": orders_two_keys,
        "trades_without_one_escrow_txn": escrow_dupes, "client_201_duplicates": client_dupes,
        "client_201_missing_in_db": missing,
        "audit_exit": audit.returncode, "audit_findings": findings[:10],
        "max_connection_failed_log_lines_per_second_all_servers": max(failed_lines.values()) if failed_lines else 0,
        "logs": logdir,
    }
    print(json.dumps(out, indent=1))
    good = (out["double_charges"] == 0 and missing == 0 and audit.returncode == 0 and not unresolved)
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
