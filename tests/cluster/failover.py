#!/usr/bin/env python3
"""Failover test of the clustered deployment (deploy/cluster.sh): no acknowledged trade is lost
or duplicated when the database primary's host dies under load.  python3 standard library only.

  eval "$(deploy/cluster.sh up)"
  python3 tests/cluster/failover.py [--failovers 3] [--clients 32] [--throughput-seconds 8]
                                    [--lag-window 1.0] [--expect-loss]

Against the cluster of the current environment (the `export` lines of `deploy/cluster.sh up`):
two suanlid processes behind HAProxy (TLS), three PostgreSQL members under Patroni.

1. Set-up through the API: a region, 16 pools of 8 GPUs, N funded tenants.
2. Throughput (optional): the same closed-loop load for S seconds against the two processes
   behind HAProxy and against one process directly; orders/s of each and their ratio.
3. Failovers under load: N client threads send keyed orders (every order has its own
   Idempotency-Key; an ambiguous answer — a dropped connection, a 503 — is retried with the same
   key until the server gives a definite one, as a careful client does).  Meanwhile the primary
   is lost (`deploy/cluster.sh failover`: kill -9 of its Patroni and its postmaster) F times.
   Before each loss the primary's WAL senders are paused for --lag-window seconds (SIGSTOP), so
   that the primary is ahead of every replica when it dies: with synchronous replication no
   COMMIT can be acknowledged in that window; without it, acknowledged COMMITs exist only on
   the primary that is about to die.
4. Checks, on the new primary: every acknowledged order and trade exists exactly once, as
   acknowledged; no order row that no client was told of beyond the keys left unresolved; no
   slot booked beyond capacity and the calendar equals the trades; each tenant's escrow is its
   acknowledged trades and available + escrow its deposit; `suanlid audit` is clean.

Prints one line per check (PASS/FAIL), the figures (unavailability window per failover: from
the first failed request after the kill to the first success after it), and last
`N passed, N failed`.  --expect-loss (the negative control, with SUANLI_CLUSTER_SYNC=off) turns
the lost-trade check around: it passes when the checker finds acknowledged trades missing.
"""
import argparse
import datetime
import http.client
import json
import os
import random
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = {"passed": 0, "failed": 0}


def env(name):
    v = os.environ.get(name)
    if not v:
        sys.exit("failover.py: %s is not set (eval \"$(deploy/cluster.sh up)\" first)" % name)
    return v


def hour(h):
    now = datetime.datetime.now(datetime.timezone.utc).replace(minute=0, second=0, microsecond=0)
    return (now + datetime.timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ")


class Client:
    """One keep-alive connection (HTTPS with the cluster's CA, or plain HTTP)."""

    def __init__(self, url, ca=None, timeout=30):
        u = urllib.parse.urlsplit(url)
        self.https, self.host, self.port, self.timeout = u.scheme == "https", u.hostname, u.port, timeout
        self.ctx = ssl.create_default_context(cafile=ca) if self.https else None
        self.conn = None

    def req(self, method, path, body=None, token=None, key=None):
        """Returns (status, json) or raises OSError/http.client.HTTPException (no answer)."""
        if self.conn is None:
            if self.https:
                self.conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self.ctx)
            else:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        h = {"Content-Type": "application/json"}
        if token:
            h["Authorization"] = "Bearer " + token
        if key:
            h["Idempotency-Key"] = key
        try:
            self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
            r = self.conn.getresponse()
            raw = r.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise
        if r.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        try:
            return r.status, json.loads(raw) if raw else None
        except ValueError:
            return r.status, {"raw": raw[:200].decode("utf-8", "replace")}


def must(c, method, path, body, token, want=201):
    for _ in range(100):
        try:
            st, js = c.req(method, path, body, token, key=str(uuid.uuid4()) if method == "POST" else None)
        except (OSError, http.client.HTTPException):
            time.sleep(0.2)
            continue
        if st == want:
            return js
        if st != 503:
            raise SystemExit("set-up: %s %s -> %s %s" % (method, path, st, js))
        time.sleep(0.2)
    raise SystemExit("set-up: %s %s never succeeded" % (method, path))


def psql(sql):
    out = subprocess.run(["psql", "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", env("SUANLI_CLUSTER_SU_URL"),
                          "-c", sql], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError("psql: %s" % out.stderr.strip())
    return [line.split("\t") for line in out.stdout.splitlines() if line]


def check(ok, name, detail=""):
    RESULTS["passed" if ok else "failed"] += 1
    print("%s %s%s" % ("PASS" if ok else "FAIL", name, ("\n    " + detail) if detail and not ok else ""), flush=True)
    return ok


class Load:
    """Closed-loop clients sending keyed fill-or-kill orders; every key resolved to a definite
    answer (or counted unresolved at the deadline)."""

    def __init__(self, url, ca, tenants, region, seed):
        self.url, self.ca, self.tenants, self.region = url, ca, tenants, region
        self.rnd = random.Random(seed)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.acked = {}          # order id -> reply
        self.refused = 0
        self.unresolved = []     # keys with no definite answer at the end
        self.events = []         # (time, ok) per attempt
        self.counts = {"201": 0, "503": 0, "no_answer": 0, "retries": 0, "409_in_flight": 0}
        self.threads = []

    def order_body(self, rnd):
        return {"gpus": rnd.randint(1, 4), "duration_hours": rnd.randint(1, 2),
                "earliest_start": hour(2 + rnd.randint(0, 300)), "regions": [self.region],
                "time_in_force": "fill_or_kill"}

    def worker(self, idx):
        rnd = random.Random(self.rnd.random())
        c = Client(self.url, self.ca)
        tenant = self.tenants[idx % len(self.tenants)]
        while not self.stop.is_set():
            key, body = "fo-%s" % uuid.uuid4(), self.order_body(rnd)
            deadline = time.time() + 120
            first = True
            while True:
                if not first:
                    with self.lock:
                        self.counts["retries"] += 1
                first = False
                try:
                    st, js = c.req("POST", "/v1/orders", body, tenant["token"], key=key)
                except (OSError, http.client.HTTPException):
                    st, js = None, None
                now = time.time()
                with self.lock:
                    if st == 201:
                        self.counts["201"] += 1
                        self.acked[js["id"]] = {"reply": js, "tenant": tenant["id"], "key": key}
                        self.events.append((now, True))
                    elif st is None:
                        self.counts["no_answer"] += 1
                        self.events.append((now, False))
                    elif st == 503:
                        self.counts["503"] += 1
                        self.events.append((now, False))
                    elif st == 409 and (js or {}).get("error") == "idempotency_in_flight":
                        self.counts["409_in_flight"] += 1
                    else:  # a definite refusal: the key is resolved, the service answered
                        k = "http_%d_%s" % (st, (js or {}).get("error", ""))
                        self.counts[k] = self.counts.get(k, 0) + 1
                        self.refused += 1
                if st is not None and st != 503 and not (st == 409 and (js or {}).get("error") == "idempotency_in_flight"):
                    break
                if now > deadline:
                    with self.lock:
                        self.unresolved.append(key)
                    break
                time.sleep(0.2)

    def start(self, n):
        self.threads = [threading.Thread(target=self.worker, args=(i,), daemon=True) for i in range(n)]
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(180)
        return not any(t.is_alive() for t in self.threads)


def throughput(url, ca, tenants, region, clients, seconds, seed):
    ld = Load(url, ca, tenants, region, seed)
    t0 = time.time()
    ld.start(clients)
    time.sleep(seconds)
    ld.finish()
    return ld.counts["201"] / (time.time() - t0), ld


def walsenders():
    """The primary's WAL sender processes (only a primary has them: no cascading replicas)."""
    out = subprocess.run(["pgrep", "-u", "postgres", "-f", "walsender replicator"], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def unavailability(events, t_kill):
    """Seconds from the first failed attempt after t_kill to the first success after it."""
    fails = [t for t, ok in events if t >= t_kill and not ok]
    if not fails:
        return 0.0
    ok_after = [t for t, ok in events if t > fails[0] and ok]
    return (ok_after[0] - fails[0]) if ok_after else float("inf")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--failovers", type=int, default=3)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--tenants", type=int, default=16)
    ap.add_argument("--throughput-seconds", type=float, default=0)
    ap.add_argument("--lag-window", type=float, default=1.0)
    ap.add_argument("--steady", type=float, default=4.0, help="seconds of load between failovers")
    ap.add_argument("--expect-loss", action="store_true")
    a = ap.parse_args()
    url, ca, admin = env("SUANLI_CLUSTER_URL"), env("SUANLI_CLUSTER_CA"), env("SUANLI_CLUSTER_ADMIN_TOKEN")
    apps = env("SUANLI_CLUSTER_APP_URLS").split()
    t_start = time.time()

    c = Client(url, ca)
    region = must(c, "POST", "/v1/regions", {"code": "fo-%d" % int(time.time()), "name": "Failover", "tier": "cloud"},
                  admin)["code"]
    provs = []
    for i in range(2):
        acc = must(c, "POST", "/v1/accounts", {"kind": "provider", "name": "fo-p%d-%s" % (i, uuid.uuid4().hex[:6])}, admin)
        provs.append(must(c, "POST", "/v1/accounts/%d/tokens" % acc["id"], {}, admin)["token"])
    pools = []
    for i in range(16):
        pools.append(must(c, "POST", "/v1/pools", {
            "name": "fo-pool-%d-%s" % (i, uuid.uuid4().hex[:6]), "region": region, "accelerator": "H100-SXM",
            "gpu_count": 8, "gpus_per_node": 8, "intra_node": "nvlink", "inter_node": "infiniband",
            "inter_node_gbps": 400, "price_per_gpu_hour": "%d.%02d" % (2 + i // 10, (i * 7) % 100),
            "available_from": hour(1), "available_until": hour(24 * 20), "adapter": {"kind": "sim", "config": {}}},
            provs[i % 2])["id"])
    tenants, deposit = [], "1000000.00"
    for i in range(a.tenants):
        acc = must(c, "POST", "/v1/accounts", {"kind": "tenant", "name": "fo-t%d-%s" % (i, uuid.uuid4().hex[:6])}, admin)
        tok = must(c, "POST", "/v1/accounts/%d/tokens" % acc["id"], {}, admin)["token"]
        must(c, "POST", "/v1/accounts/%d/deposits" % acc["id"], {"amount": deposit, "memo": "failover test"}, admin)
        tenants.append({"id": acc["id"], "token": tok})
    print("    set-up: region %s, %d pools, %d tenants (%.1fs)" % (region, len(pools), len(tenants), time.time() - t_start))

    loads = []
    if a.throughput_seconds > 0:
        two, l2 = throughput(url, ca, tenants, region, a.clients, a.throughput_seconds, 1)
        one, l1 = throughput(apps[0], None, tenants, region, a.clients, a.throughput_seconds, 2)
        loads += [l2, l1]
        print("    throughput (%d clients, %.0fs each): two processes behind HAProxy/TLS %.1f orders/s, one process"
              " direct %.1f orders/s, ratio %.2f" % (a.clients, a.throughput_seconds, two, one, two / one if one else 0))

    ld = Load(url, ca, tenants, region, 3)
    loads.append(ld)
    ld.start(a.clients)
    time.sleep(a.steady)
    failovers = []
    for i in range(a.failovers):
        paused = walsenders()
        for p in paused:
            os.kill(p, 19)  # SIGSTOP: the primary stops sending WAL to its replicas
        time.sleep(a.lag_window)
        t_kill = time.time()
        proc = subprocess.Popen([os.path.join(ROOT, "deploy/cluster.sh"), "failover"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        # the senders die with their primary (SIGCONT only for any left after 30 s)
        gone_by = time.time() + 30
        while time.time() < gone_by and any(os.path.exists("/proc/%d" % p) for p in paused):
            time.sleep(0.05)
        for p in paused:
            try:
                os.kill(p, 18)  # SIGCONT
            except ProcessLookupError:
                pass
        stdout, stderr = proc.communicate(timeout=180)
        line = stdout.strip().splitlines()[-1] if stdout.strip() else stderr.strip()[-300:]
        if proc.returncode != 0:
            check(False, "failover %d" % (i + 1), line)
            break
        subprocess.run([os.path.join(ROOT, "deploy/cluster.sh"), "rejoin-wait", "120"], capture_output=True, text=True)
        time.sleep(a.steady)
        failovers.append((line, t_kill, t_kill - a.lag_window))
    finished = ld.finish()
    check(finished, "every client resolved its last key within 180 s of the end")
    for i, (line, t_kill, t_pause) in enumerate(failovers):
        lag_acks = sum(1 for t, ok in ld.events if ok and t_pause <= t < t_kill)
        fails = [t - t_kill for t, ok in ld.events if not ok and t >= t_pause]
        print("    failover %d: %s, unavailability %.2fs (first failed to first successful order); %d orders"
              " acknowledged while the replicas were cut off; first failure at %+.2fs"
              % (i + 1, line, unavailability(ld.events, t_pause), lag_acks, fails[0] if fails else float("nan")))
    print("    load: %s, acknowledged orders %d, unresolved keys %d, run %.0fs"
          % (ld.counts, len(ld.acked), len(ld.unresolved), time.time() - t_start))
    check(len(failovers) == a.failovers, "%d failovers done" % a.failovers)

    # ---- what the database holds (on the new primary)
    acked = {}
    for l in loads:
        acked.update(l.acked)
    unresolved = sum(len(l.unresolved) for l in loads)
    tids = ",".join(str(t["id"]) for t in tenants)
    db_orders = {int(r[0]): r[1] for r in psql("SELECT id, state FROM orders WHERE tenant_id IN (%s)" % tids)}
    missing = sorted(set(acked) - set(db_orders))
    if a.expect_loss:
        check(len(missing) > 0, "negative control: the checker finds acknowledged orders lost without synchronous "
              "replication", "no acknowledged order was lost in %d failovers (the replicas caught up)" % len(failovers))
        print("    negative control: %d acknowledged orders lost of %d" % (len(missing), len(acked)))
    else:
        check(not missing, "every acknowledged order is in the database", "lost: %s" % missing[:20])
    extra = sorted(set(db_orders) - set(acked))
    check(len(extra) <= unresolved, "no order row beyond the %d unresolved keys" % unresolved,
          "%d unacknowledged order rows: %s" % (len(extra), extra[:20]))
    wrong = [(i, s, acked[i]["reply"]["state"]) for i, s in db_orders.items() if i in acked and acked[i]["reply"]["state"] != s]
    check(not wrong, "stored order states equal the acknowledged ones", str(wrong[:10]))
    reply_trades = {t["id"]: t for o in acked.values() for t in o["reply"].get("trades", [])}
    rows = psql("SELECT t.id, t.order_id, count(*) OVER (PARTITION BY t.id), t.gpus, t.total_minor FROM trades t"
                " WHERE t.tenant_id IN (%s)" % tids)
    db_trades = {int(r[0]): r for r in rows}
    lost_trades = sorted(set(reply_trades) - set(db_trades))
    if not a.expect_loss:
        check(not lost_trades, "every acknowledged trade is in the database exactly once", "lost: %s" % lost_trades[:20])
    dups = [r for r in rows if int(r[2]) != 1]
    check(not dups, "no trade twice", str(dups[:10]))
    acked_order_ids = set(acked)
    orphan = [tid for tid, r in db_trades.items() if int(r[1]) not in acked_order_ids and tid not in reply_trades]
    check(len({db_trades[t][1] for t in orphan}) <= unresolved, "trades of unacknowledged orders only for unresolved keys",
          "%d trades of orders no client was told of" % len(orphan))
    over = psql("SELECT pool_id, slot, booked, capacity FROM pool_slots WHERE booked > capacity LIMIT 10")
    check(not over, "no slot booked beyond its capacity", str(over))
    cal = psql("WITH s AS (SELECT t.pool_id, g AS slot, sum(t.gpus) AS gpus FROM trades t,"
               " generate_series(t.start_at, t.end_at - interval '1 hour', interval '1 hour') g"
               " WHERE t.state IN ('booked', 'settled') GROUP BY 1, 2)"
               " SELECT coalesce(s.pool_id, p.pool_id), coalesce(s.slot, p.slot), s.gpus, p.booked FROM s"
               " FULL JOIN pool_slots p ON p.pool_id = s.pool_id AND p.slot = s.slot"
               " WHERE coalesce(s.gpus, 0) <> coalesce(p.booked, 0) LIMIT 10")
    check(not cal, "the calendar equals the trades", str(cal))
    money_bad = []
    for t in tenants:
        r = psql("SELECT (SELECT coalesce(sum(total_minor), 0) FROM trades WHERE tenant_id = %d AND state = 'booked'),"
                 " (SELECT balance FROM ledger_accounts WHERE owner_id = %d AND purpose = 'available'),"
                 " (SELECT balance FROM ledger_accounts WHERE owner_id = %d AND purpose = 'escrow')"
                 % (t["id"], t["id"], t["id"]))
        if not r or "" in r[0]:
            money_bad.append((t["id"], "no balance rows"))
            continue
        booked, avail, escrow = (int(x) for x in r[0])
        if escrow != booked or avail + escrow != 100000000:
            money_bad.append((t["id"], booked, avail, escrow))
    check(not money_bad, "each tenant's escrow is its booked trades, available + escrow its deposit", str(money_bad[:5]))
    # ---- closed periods read from a replica (HAProxy's pg-ro listener), the same bytes
    day = 946684800 + random.Random().randint(0, 9000) * 86400
    per = must(c, "POST", "/v1/periods", {"start": datetime.datetime.fromtimestamp(day, datetime.timezone.utc)
                                          .strftime("%Y-%m-%dT%H:%M:%SZ"),
                                          "end": datetime.datetime.fromtimestamp(day + 86400, datetime.timezone.utc)
                                          .strftime("%Y-%m-%dT%H:%M:%SZ")}, admin)
    got, finals = [], []
    for app in apps:
        u = urllib.parse.urlsplit(app)
        deadline = time.time() + 10
        while True:  # the replica may replay the close a moment later: until then, the primary
            hc = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
            hc.request("GET", "/v1/periods/%d/export" % per["id"], headers={"Authorization": "Bearer " + admin})
            resp = hc.getresponse()
            resp.read()
            got.append((resp.status, resp.getheader("X-Suanli-Read-From"), resp.getheader("X-Suanli-Sha256")))
            hc.close()
            if got[-1][1] == "replica" or time.time() > deadline:
                break
            time.sleep(0.2)
        finals.append(got[-1][1])
    check(all(g[0] == 200 and g[2] == per["export_sha256"] for g in got) and finals == ["replica"] * len(apps),
          "closed-period exports are served by a replica with the digest signed at the close", str(got))
    au = subprocess.run([os.environ.get("SUANLI_BIN", os.path.join(ROOT, "build/suanlid")), "audit"],
                        env=dict(os.environ, SUANLI_DATABASE_URL=env("SUANLI_DATABASE_URL")),
                        capture_output=True, text=True, timeout=300)
    check(au.returncode == 0, "suanlid audit is clean", (au.stdout + au.stderr)[-800:])
    print("    total %.0fs" % (time.time() - t_start))
    print("%d passed, %d failed" % (RESULTS["passed"], RESULTS["failed"]))
    return 0 if RESULTS["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
