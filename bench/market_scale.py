#!/usr/bin/env python3
"""bench/market_scale.py — the market at 1k/10k/100k(/1M) pools; run by bench/market_scale.sh.

The wrapper gives it a migrated, demo-seeded database of its own (SUANLI_DATABASE_URL), an
admin token (BENCH_ADMIN), the server binary (SUANLI_BIN) and the libmicrohttpd baseline
(BASELINE_BIN).  For each size in MARKET_SIZES it stops suanlid, grows the market to that many
pools by cloning the demo pools (new ids, prices spread, availability 30 days, simulated
adapter, silent, never timing out), books a third of every new pool's slots of the next 72
hours half full, restarts suanlid (the book loads at start) and measures, in the same run:

  * the book: pools, bytes per pool (GET /v1/market/book), suanlid's RSS, load time;
  * GET /healthz p50 on the idle server (wrk -t1 -c1);
  * quotes: an 8-GPU gang order over a 48-hour window from us-east-1, max RTT 100 ms —
    p50/p99 and req/s with 1 client (wrk -t1 -c1) and with 32 (wrk -t2 -c32); reply bytes;
  * GET /v1/pools?region=<largest region>&limit=50 (wrk -t2 -c64) against the minimal
    libmicrohttpd server (bench/baseline_mhd.c, same wrk settings, run right after);
  * order->trade: 32 clients (wrk -t2 -c32) POSTing 1-GPU 1-hour fill-or-kill orders in random
    seeded regions and hours, each with its own Idempotency-Key, the BENCH_BUYERS (default
    32) tenants in turn (one tenant's orders serialize on its balance row, which the trade
    locks until COMMIT): trades per second (trades counted in the database), and the row
    writes per trade (pg_stat_user_tables over the run, every table but `pools`, whose writes
    are the simulated heartbeats: they go on at the same rate with or without orders);
  * pgbench baseline: 32 clients (-j2), each transaction the same number of INSERTs and
    UPDATEs as one trade measured above (rows of ~200 bytes): order->trade / pgbench.  The
    order runs and the pgbench runs alternate, BENCH_ORDER_ROUNDS (default 2) of each.

The request budgets are off in the server (SUANLI_RATE_*=unlimited): capacity is measured
here, the budgets in bench/flood_bench.sh.  BENCH_PARTS (default "healthz quotes pools
orders") picks what is measured.  The market is grown with the change-feed triggers of pools
and pool_slots off (bench-only database, server stopped: the book loads whole at start).

Results are appended to BENCH_RESULTS (default bench/RESULTS.md) with the command and machine.
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DB = os.environ["SUANLI_DATABASE_URL"]
ADMIN = os.environ["BENCH_ADMIN"]
BIN = os.environ.get("SUANLI_BIN", os.path.join(ROOT, "build/suanlid"))
BASELINE = os.environ["BASELINE_BIN"]
SIZES = [int(x) for x in os.environ.get("MARKET_SIZES", "1000 10000 100000").split()]
SECS = int(os.environ.get("BENCH_SECONDS", "8"))
# what to measure at each size (default all): healthz quotes pools orders
PARTS = set(os.environ.get("BENCH_PARTS", "healthz quotes pools orders").split())
BUYERS = int(os.environ.get("BENCH_BUYERS", "32"))  # tenants placing the orders
ROUNDS = int(os.environ.get("BENCH_ORDER_ROUNDS", "2"))  # order runs and pgbench runs, alternating
RESULTS = os.environ.get("BENCH_RESULTS", os.path.join(ROOT, "bench/RESULTS.md"))
CMD = os.environ.get("BENCH_CMD", "bench/market_scale.sh")
TMP = tempfile.mkdtemp(prefix="suanli-market-")


def log(msg):
    print("market_scale: %s" % msg, file=sys.stderr, flush=True)


def psql(sql, timeout=3600):
    r = subprocess.run(["psql", "-X", "-At", "-q", "-v", "ON_ERROR_STOP=1", "-d", DB, "-c", sql],
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise SystemExit("psql failed: %s\n%s" % (sql[:200], r.stderr))
    return r.stdout.strip()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Server:
    def __init__(self):
        self.port = free_port()
        self.log = os.path.join(TMP, "suanlid-%d.log" % self.port)
        env = dict(os.environ, SUANLI_LISTEN="127.0.0.1:%d" % self.port, SUANLI_LOG_LEVEL="warn")
        # the market's capacity is measured, not the request budgets (bench/flood_bench.sh)
        for k in ("ADMIN", "OPERATOR", "PROVIDER", "TENANT", "ANONYMOUS", "ADDRESS"):
            env.setdefault("SUANLI_RATE_" + k, "unlimited")
        t0 = time.time()
        self.proc = subprocess.Popen([BIN, "serve"], stdout=open(self.log, "wb"), stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)
        for _ in range(6000):  # a 1M-pool book takes minutes to load on a busy machine
            try:
                if self.req("GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise SystemExit("suanlid exited: %s" % open(self.log).read()[-2000:])
            time.sleep(0.1)
        else:
            raise SystemExit("suanlid did not become ready")
        self.ready_s = time.time() - t0

    def req(self, method, path, body=None, token=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        h = {"Content-Type": "application/json"}
        if method == "POST":  # money-moving POSTs need one; harmless on the others
            h["Idempotency-Key"] = "bench-%s" % os.urandom(12).hex()
        if token:
            h["Authorization"] = "Bearer " + token
        try:
            c.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
            r = c.getresponse()
            raw = r.read()
            return r.status, raw
        finally:
            c.close()

    def api(self, method, path, body=None, token=ADMIN):
        st, raw = self.req(method, path, body, token)
        if st // 100 != 2:
            raise SystemExit("%s %s: %d %s" % (method, path, st, raw[:300]))
        return json.loads(raw)

    def rss_kb(self):
        for line in open("/proc/%d/status" % self.proc.pid):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def wrk(url, threads, conns, secs, script, env=None, path_note=""):
    e = dict(os.environ)
    e.update(env or {})
    out = subprocess.run(["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % secs, "--timeout", "10s", "--latency",
                          "-s", script, url], capture_output=True, text=True, env=e, timeout=secs + 120)
    m = re.search(r"^BENCH (.*)$", out.stdout, re.M)
    if not m:
        raise SystemExit("wrk %s: no BENCH line\n%s\n%s" % (url, out.stdout[-1000:], out.stderr[-1000:]))
    f = dict(kv.split("=") for kv in m.group(1).split())
    return {"rps": float(f["rps"]), "p50": int(f["p50_us"]) / 1000, "p99": int(f["p99_us"]) / 1000,
            "max": int(f["max_us"]) / 1000, "non2xx": int(f["non2xx"]), "requests": int(f["requests"]),
            "errors": sum(int(f[k]) for k in ("connect", "read", "write", "timeout"))}


def hour_iso(h):
    t = (int(time.time()) // 3600 + h) * 3600
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def grow(n):
    have = int(psql("SELECT count(*) FROM pools WHERE status <> 'retired'"))
    if have >= n:
        return have
    need = n - have
    log("growing the market from %d to %d pools" % (have, n))
    first_new = int(psql("SELECT coalesce(max(id), 0) FROM pools"))
    t0 = time.time()
    # the change-feed and book-event triggers are off for the bulk load (bench-only database,
    # server stopped: the book loads whole at start)
    psql("""BEGIN; ALTER TABLE pools DISABLE TRIGGER USER; ALTER TABLE pool_slots DISABLE TRIGGER USER;
INSERT INTO pools (owner_id, name, region, accelerator_id, gpu_count, gpus_per_node, intra_node, inter_node,
                   inter_node_gbps, price_minor, available_from, available_until, adapter_kind, adapter_config,
                   status, health, healthy_gpus, last_heartbeat_at)
SELECT d.owner_id, d.name || ' #' || g, d.region, d.accelerator_id, d.gpu_count, d.gpus_per_node, d.intra_node,
       d.inter_node, d.inter_node_gbps, greatest(1, d.price_minor * (90 + (g * 7 + d.id) %% 21) / 100),
       date_trunc('hour', now()) - interval '1 hour', date_trunc('hour', now()) + interval '30 days',
       'sim', '{"silent": true}', 'active', 'healthy', d.gpu_count, 'infinity'
  FROM (SELECT * FROM pools WHERE name NOT LIKE '%% #%%' AND status = 'active') d,
       generate_series(1, %d) g
 ORDER BY g, d.id LIMIT %d;""" % (need // 400 + 2, need) + """
INSERT INTO pool_slots (pool_id, slot, capacity, booked)
SELECT p.id, s, p.gpu_count, greatest(1, p.gpu_count / 2)
  FROM pools p, generate_series(date_trunc('hour', now()) + interval '1 hour',
                                date_trunc('hour', now()) + interval '72 hours', interval '1 hour') s
 WHERE p.id > %d AND (p.id + extract(epoch FROM s)::bigint / 3600) %% 3 = 0
ON CONFLICT DO NOTHING;
ALTER TABLE pools ENABLE TRIGGER USER; ALTER TABLE pool_slots ENABLE TRIGGER USER; COMMIT""" % first_new)
    # (above) a third of every new pool's slots of the next 72 hours half booked
    psql("DELETE FROM book_events")
    psql("VACUUM ANALYZE pools")
    psql("VACUUM ANALYZE pool_slots")
    log("grown in %.0fs" % (time.time() - t0))
    return int(psql("SELECT count(*) FROM pools WHERE status <> 'retired'"))


def row_writes():
    """Rows inserted, updated, deleted in every table but pgbench's and `pools` (a trade only
    reads pools; their writes are the simulated heartbeats, which go on at the same rate with
    or without orders and would make the pgbench script heavier the slower the orders are)."""
    r = psql("SELECT coalesce(sum(n_tup_ins), 0), coalesce(sum(n_tup_upd), 0), coalesce(sum(n_tup_del), 0)"
             " FROM pg_stat_user_tables WHERE relname NOT LIKE 'pgb_%' AND relname <> 'pools'")
    return [int(x) for x in r.split("|")]


def pgbench(ins, upd, secs):
    psql("CREATE TABLE IF NOT EXISTS pgb_ins (id bigserial PRIMARY KEY, a bigint, b bigint, c text,"
         " at timestamptz DEFAULT now())")
    if psql("SELECT to_regclass('pgb_upd') IS NULL") == "t":
        psql("CREATE TABLE pgb_upd (id int PRIMARY KEY, v bigint, c text)")
        psql("INSERT INTO pgb_upd SELECT g, 0, repeat('x', 100) FROM generate_series(1, 100000) g")
        psql("VACUUM ANALYZE pgb_upd")
    script = os.path.join(TMP, "trade.sql")
    with open(script, "w") as f:
        f.write("\\set k random(1, 100000)\nBEGIN;\n")
        for i in range(ins):
            f.write("INSERT INTO pgb_ins (a, b, c) VALUES (:k, %d, repeat('y', 180));\n" % i)
        for i in range(upd):
            f.write("UPDATE pgb_upd SET v = v + 1 WHERE id = (:k + %d) %% 100000 + 1;\n" % (i * 7919))
        f.write("END;\n")
    out = subprocess.run(["pgbench", "-n", "-c", "32", "-j", "2", "-T", str(secs), "-f", script, DB],
                         capture_output=True, text=True, timeout=secs + 120)
    m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out.stdout)
    if not m:
        raise SystemExit("pgbench: %s %s" % (out.stdout[-1000:], out.stderr[-1000:]))
    return float(m.group(1))


def orders(srv, r, base_url, oenv, post):
    """order->trade with 32 clients, the row writes per trade, and pgbench with those writes:
    ROUNDS order runs and ROUNDS pgbench runs alternating (orders first), each SECS long."""
    runs, tps = [], []
    for k in range(ROUNDS):
        w0, t0 = row_writes(), int(psql("SELECT count(*) FROM trades"))
        oenv["BENCH_ORDER_T0"] = str((int(time.time()) // 3600 + 2) * 3600)
        o = wrk(base_url + "/v1/orders", 2, 32, SECS, post, oenv)
        trades = int(psql("SELECT count(*) FROM trades")) - t0
        time.sleep(2)  # statistics are flushed at most once a second
        w1 = row_writes()
        ins = (w1[0] - w0[0]) / max(trades, 1)
        upd = (w1[1] + w1[2] - w0[1] - w0[2]) / max(trades, 1)
        runs.append((o, trades, ins, upd))
        if k == 0:  # the script of the first run's row writes, the same in every pgbench run
            r["ins_per_trade"], r["upd_per_trade"] = ins, upd
        tps.append(pgbench(max(1, round(r["ins_per_trade"])), round(r["upd_per_trade"]), SECS))
    r["orders"] = runs[0][0]
    r["orders"]["non2xx"] = sum(x[0]["non2xx"] for x in runs)
    r["orders"]["p50"] = sorted(x[0]["p50"] for x in runs)[len(runs) // 2]
    r["orders"]["p99"] = max(x[0]["p99"] for x in runs)
    r["trades"] = sum(x[1] for x in runs)
    r["trades_per_s"] = r["trades"] / (SECS * len(runs))
    r["pgbench_tps"] = sum(tps) / len(tps)
    r["order_rounds"] = ["%.0f/%.0f" % (x[1] / SECS, t) for x, t in zip(runs, tps)]


def main():
    post = os.path.join(ROOT, "bench/market_post.lua")
    get = os.path.join(ROOT, "bench/auth.lua")
    srv = Server()
    # two tenants: one buys (its trades accumulate), one only quotes and lists
    toks = []
    for who in ("buyer", "quoter"):
        acct = srv.api("POST", "/v1/accounts", {"kind": "tenant", "name": "market-bench-%s-%d" % (who, time.time())})
        toks.append(srv.api("POST", "/v1/accounts/%d/tokens" % acct["id"], {"label": "bench"})["token"])
        srv.api("POST", "/v1/accounts/%d/deposits" % acct["id"], {"amount": "100000000.00"})
    buyer, tok = toks
    # the buying tenants: one per client by default (a tenant's orders serialize on its balance row)
    buyers = [buyer]
    for i in range(BUYERS - 1):
        acct = srv.api("POST", "/v1/accounts", {"kind": "tenant", "name": "market-bench-buyer%d-%d" % (i, time.time())})
        buyers.append(srv.api("POST", "/v1/accounts/%d/tokens" % acct["id"], {"label": "bench"})["token"])
        srv.api("POST", "/v1/accounts/%d/deposits" % acct["id"], {"amount": "100000000.00"})
    region = psql("SELECT region FROM pools GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
    regions = psql("SELECT string_agg(region, ',') FROM (SELECT DISTINCT region FROM pools) r")
    srv.stop()
    base_port = free_port()
    base = subprocess.Popen([BASELINE, str(base_port), "2048"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    quote = {"gpus": 8, "duration_hours": 4, "earliest_start": hour_iso(1), "latest_start": hour_iso(48),
             "origin_region": "us-east-1", "max_rtt_ms": 100}
    rows = []
    try:
        for n in SIZES:
            pools = grow(n)
            srv = Server()
            r = {"size": n, "pools": pools, "ready_s": srv.ready_s}
            book = srv.api("GET", "/v1/market/book")
            r.update(book_pools=book["pools"], bytes_per_pool=book["bytes_per_pool"], rss_kb=srv.rss_kb())
            env = {"SUANLI_TOKEN": tok}
            base_url = "http://127.0.0.1:%d" % srv.port
            st, raw = srv.req("POST", "/v1/quotes", quote, tok)
            q = json.loads(raw)
            r.update(quote_bytes=len(raw), quote_filled=q.get("filled"), quote_examined=q["pools"]["examined"])
            st, raw = srv.req("GET", "/v1/pools?region=%s&limit=50" % region, None, tok)
            r["pools_page_bytes"] = len(raw)
            time.sleep(1)
            if "healthz" in PARTS:
                r["healthz"] = wrk(base_url + "/healthz", 1, 1, 3, get)
            if "quotes" in PARTS:
                qenv = dict(env, BENCH_BODY=json.dumps(quote))
                r["quote1"] = wrk(base_url + "/v1/quotes", 1, 1, SECS, post, qenv)
                r["quote32"] = wrk(base_url + "/v1/quotes", 2, 32, SECS, post, qenv)
            if "pools" in PARTS:
                r["list"] = wrk(base_url + "/v1/pools?region=%s&limit=50" % region, 2, 64, SECS, get, env)
                r["baseline"] = wrk("http://127.0.0.1:%d/v1/pools?limit=50" % base_port, 2, 64, SECS, get, env)
            if "orders" in PARTS:
                orders(srv, r, base_url, dict(env, SUANLI_TOKEN=buyer, BENCH_TOKENS=",".join(buyers),
                                              BENCH_ORDER_REGIONS=regions), post)
            r["rss_after_kb"] = srv.rss_kb()
            srv.stop()
            rows.append(r)
            log("%d pools: %s" % (n, json.dumps({k: v for k, v in r.items()})))
    finally:
        base.terminate()
    report(rows, region)


def report(rows, region):
    host = subprocess.run(["uname", "-srvm"], capture_output=True, text=True).stdout.strip()
    cpu = ""
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain"], capture_output=True, text=True).stdout.strip()
    load = open("/proc/loadavg").read().split()[:3]
    out = []
    out.append("\n## %s — market at scale (capacity book, bounded quotes)\n" % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    out.append("- command: `%s` (MARKET_SIZES=\"%s\", BENCH_SECONDS=%d, BENCH_PARTS=\"%s\")" % (CMD, " ".join(map(str, SIZES)), SECS, " ".join(sorted(PARTS))))
    out.append("- host: `%s`; nproc %d; CPU: %s; load average at the end: %s" % (host, os.cpu_count(), cpu, " ".join(load)))
    out.append("- revision: %s%s; suanlid build: %s; one suanlid (SUANLI_THREADS=%s), workers on" % (rev, "+uncommitted" if dirty else "", BIN, os.environ.get("SUANLI_THREADS", "default 4")))
    out.append("- market: demo seed cloned (prices spread -10%..+10%, 30-day windows, silent simulated adapters that never time out);"
               " a third of each clone's slots of the next 72 h half booked (pool_slots rows without trades: a bench-only database)")
    out.append("- quote: 8-GPU gang, 4 h, start window 48 h, origin us-east-1, max RTT 100 ms; pools page: `GET /v1/pools?region=%s&limit=50`;"
               " orders: 1 GPU x 1 h fill-or-kill, random seeded region and hour, %d tenants in turn, each with an Idempotency-Key;"
               " %d order runs and %d pgbench runs alternating (32 clients each); request budgets off (SUANLI_RATE_*=unlimited);"
               " rows/trade = rows written in every table but `pools` (heartbeats) per trade" % (region, BUYERS, ROUNDS, ROUNDS))
    out.append("")
    def f(r, fmt, *path):
        """r[path...] formatted, or '-' when that part was not measured."""
        v = r
        for k in path:
            if not isinstance(v, dict) or k not in v:
                return "-"
            v = v[k]
        return fmt % v

    def ratio(r, a, b, fmt="%.2f"):
        x, y = r.get(a), r.get(b)
        if isinstance(x, dict):
            x, y = x["rps"], y["rps"]
        return fmt % (x / y) if x is not None and y else "-"

    out.append("| pools | book B/pool | RSS MB | ready s | healthz p50 ms | quote p50 ms (1) | quote p99 ms (1) | quote/s (1) | quote p50 ms (32) | quote p99 ms (32) | quote/s (32) | quote bytes | examined |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        out.append("| %d | %d | %.0f | %.1f | %s | %s | %s | %s | %s | %s | %s | %d | %d |" % (
            r["pools"], r["bytes_per_pool"], r["rss_after_kb"] / 1024, r["ready_s"], f(r, "%.2f", "healthz", "p50"),
            f(r, "%.2f", "quote1", "p50"), f(r, "%.2f", "quote1", "p99"), f(r, "%.0f", "quote1", "rps"),
            f(r, "%.2f", "quote32", "p50"), f(r, "%.2f", "quote32", "p99"), f(r, "%.0f", "quote32", "rps"),
            r["quote_bytes"], r["quote_examined"]))
    out.append("")
    out.append("| pools | /v1/pools req/s | baseline req/s | ratio | page bytes | trades/s (32) | order p50 / p99 ms | rows/trade (ins+upd) | pgbench tps | ratio | order non-2xx |")
    out.append("|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|")
    for r in rows:
        out.append("| %d | %s | %s | %s | %d | %s | %s / %s | %s+%s | %s | %s | %s |" % (
            r["pools"], f(r, "%.0f", "list", "rps"), f(r, "%.0f", "baseline", "rps"), ratio(r, "list", "baseline", "%.3f"),
            r["pools_page_bytes"], f(r, "%.0f", "trades_per_s"), f(r, "%.1f", "orders", "p50"), f(r, "%.1f", "orders", "p99"),
            f(r, "%.1f", "ins_per_trade"), f(r, "%.1f", "upd_per_trade"), f(r, "%.0f", "pgbench_tps"),
            ratio(r, "trades_per_s", "pgbench_tps"), f(r, "%d", "orders", "non2xx")))
    for r in rows:
        if "order_rounds" in r:
            out.append("- %d pools: trades/s / pgbench tps per round: %s" % (r["pools"], ", ".join(r["order_rounds"])))
    if len(rows) >= 2 and "quote1" in rows[0] and "quote1" in rows[-1]:
        a, b = rows[0], rows[-1]
        out.append("")
        out.append("- quote p50 at %d pools / at %d pools: **%.2f×** (target ≤ 2×); quote p99 at %d pools: **%.2f ms** (target < 5 ms)"
                   % (b["pools"], a["pools"], b["quote1"]["p50"] / a["quote1"]["p50"], b["pools"], b["quote1"]["p99"]))
    if len(rows) >= 2:
        out.append("- reply sizes: quote %s bytes, pools page %s bytes (by size, smallest first)"
                   % ("/".join(str(r["quote_bytes"]) for r in rows), "/".join(str(r["pools_page_bytes"]) for r in rows)))
    text = "\n".join(out) + "\n"
    with open(RESULTS, "a") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
