#!/usr/bin/env python3
"""bench/clearing_bench.py — continuous matching against the call auction (issue 15).

The same seeded batch of orders is submitted to two fresh copies of the demo market
(deploy/seed_demo.sql): once continuous (each order matched on arrival, in arrival order) and
once as call orders (`"clearing": "call"`, cleared by the periodic auction of their origin
region).  Reported per mode: orders filled, GPU-hours filled of those demanded, and the cost per
GPU-hour filled; appended to bench/RESULTS.md with the command and the machine.

  SUANLI_PG_PORT=15434 python3 bench/clearing_bench.py [--orders 120] [--seed 15] [--bin build/suanlid]

The workload is contended on purpose: orders for H100-class GPUs from three origins, gang,
8–64 GPUs for 4–24 h, start windows of 0–12 h inside the next day; a third capped at 25 ms RTT,
the rest uncapped `cheapest`; all good-till, so an order that does not fit at once rests
(continuous: re-matched only when capacity appears, which it does not here).  Python 3 standard
library only; PostgreSQL from deploy/lib.sh (its private cluster on SUANLI_PG_PORT).
"""
import argparse
import datetime
import json
import os
import platform
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(cmd, env=None):
    """Run a bash snippet with deploy/lib.sh sourced; its stdout."""
    p = subprocess.run(["bash", "-c", "set -e; source deploy/lib.sh >/dev/null; sl_pg_start >/dev/null 2>&1; " + cmd],
                       cwd=ROOT,
                       env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("%s failed: %s" % (cmd, p.stderr[-2000:]))
    return p.stdout.strip()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def call(base, token, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
        req.add_header("Idempotency-Key", "bench-" + secrets.token_hex(12))
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def hour(base_dt, h):
    return (base_dt + datetime.timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ")


def workload(n, seed, origins, start0):
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        e = rnd.randint(2, 24)
        body = {"gpus": rnd.choice([8, 8, 16, 16, 32]), "duration_hours": rnd.choice([4, 8, 12, 24]),
                "earliest_start": hour(start0, e), "latest_start": hour(start0, e + rnd.choice([0, 2, 6, 12])),
                "spec": {"accelerators": ["H100"]}, "origin_region": rnd.choice(origins),
                "time_in_force": "good_till", "expires_at": hour(start0, 72)}
        if rnd.random() < 1 / 3:
            body["max_rtt_ms"] = "25"
        out.append(body)
    return out


class Market:
    """A fresh database with the demo market and one suanlid on it."""

    def __init__(self, name, binary, extra_env, tmp):
        self.db = name
        self.url = sh("sl_dropdb %s >/dev/null 2>&1; sl_createdb %s" % (name, name)).splitlines()[-1]
        env = dict(os.environ, SUANLI_DATABASE_URL=self.url)
        subprocess.run([binary, "migrate"], env=env, check=True, capture_output=True)
        subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.url, "-f", "deploy/seed_demo.sql"],
                       cwd=ROOT, check=True, capture_output=True)
        self.admin = subprocess.run([binary, "bootstrap-admin"], env=env, check=True, capture_output=True,
                                    text=True).stdout.strip()
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        env.update({"SUANLI_LISTEN": "127.0.0.1:%d" % self.port, "SUANLI_LOG_LEVEL": "warn"})
        for k in ("ADMIN", "OPERATOR", "PROVIDER", "TENANT", "ANONYMOUS", "ADDRESS"):
            env.setdefault("SUANLI_RATE_" + k, "unlimited")
        env.update(extra_env)
        self.log = open(os.path.join(tmp, name + ".log"), "wb")
        self.proc = subprocess.Popen([binary, "serve"], env=env, cwd=tmp, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(300):
            try:
                if urllib.request.urlopen(self.base + "/readyz", timeout=2).status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            self.stop()
            sys.exit("suanlid did not start (log %s)" % self.log.name)
        st, acc = call(self.base, self.admin, "POST", "/v1/accounts", {"kind": "tenant", "name": "bench-" + name})
        assert st == 201, (st, acc)
        self.tenant = acc["id"]
        st, _ = call(self.base, self.admin, "POST", "/v1/accounts/%d/deposits" % acc["id"],
                     {"amount": "100000000.00", "memo": "clearing bench"})
        assert st == 201, st
        st, tok = call(self.base, self.admin, "POST", "/v1/accounts/%d/tokens" % acc["id"], {"label": "bench"})
        assert st == 201, (st, tok)
        self.token = tok["token"]

    def origins(self):
        st, page = call(self.base, self.admin, "GET", "/v1/regions?limit=500")
        return [r["code"] for r in page["items"]]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        sh("sl_dropdb %s" % self.db)


def outcome(m, ids, demanded_gh):
    orders = [call(m.base, m.token, "GET", "/v1/orders/%d" % i)[1] for i in ids]
    filled = [o for o in orders if o["state"] == "filled"]
    gh = sum(t["gpus"] * t["hours"] for o in filled for t in o["trades"])
    cost = sum(int(t["total"].replace(".", "")) for o in filled for t in o["trades"])
    return {"orders": len(orders), "filled": len(filled), "gpu_hours": gh, "demanded_gh": demanded_gh,
            "cost_minor": cost, "per_gh": cost / gh / 100 if gh else 0.0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=120)
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "suanlid"))
    ap.add_argument("--interval", type=int, default=20, help="SUANLI_CLEARING_INTERVAL_S of the call run")
    ap.add_argument("--time-limit", type=int, default=2000, help="SUANLI_CLEARING_TIME_LIMIT_MS")
    ap.add_argument("--no-results", action="store_true", help="do not append to bench/RESULTS.md")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="clearing-bench-")
    start0 = datetime.datetime.now(datetime.timezone.utc).replace(minute=0, second=0, microsecond=0)
    origins = ["us-east-1", "eu-west-1", "ap-northeast-1"]
    res = {}
    for mode in ("continuous", "call"):
        m = Market("clearing_bench_" + mode, a.bin, {"SUANLI_CLEARING_INTERVAL_S": str(a.interval),
                                                     "SUANLI_CLEARING_TIME_LIMIT_MS": str(a.time_limit)}, tmp)
        try:
            known = set(m.origins())
            orig = [o for o in origins if o in known] or sorted(known)[:3]
            batch = workload(a.orders, a.seed, orig, start0)
            demanded = sum(b["gpus"] * b["duration_hours"] for b in batch)
            ids, t0 = [], time.time()
            for b in batch:
                if mode == "call":
                    b = dict(b, clearing="call")
                st, o = call(m.base, m.token, "POST", "/v1/orders", b)
                if st != 201:
                    sys.exit("order: %s %s" % (st, o))
                ids.append(o["id"])
            post_s = time.time() - t0
            if mode == "call":  # the first round runs at the end of the first order's interval; wait for 2
                deadline = time.time() + 3 * a.interval + 30
                while time.time() < deadline:
                    st, page = call(m.base, m.admin, "GET", "/v1/orders?state=open&limit=500")
                    mine = [o for o in page["items"] if o["id"] in set(ids)]
                    if mine and min(o["clearing_rounds"] for o in mine) >= 2:
                        break
                    if not mine:
                        break
                    time.sleep(1)
            else:
                time.sleep(3)  # resting orders' wake-ups
            res[mode] = outcome(m, ids, demanded)
            res[mode]["post_s"] = post_s
            req = urllib.request.Request(m.base + "/metrics", headers={"Authorization": "Bearer " + m.admin})
            with urllib.request.urlopen(req, timeout=30) as r:
                metrics = r.read().decode()
            for line in metrics.splitlines():
                for k in ("suanli_clearing_rounds_total", "suanli_clearing_greedy_total"):
                    if line.startswith(k + " "):
                        res[mode][k] = int(float(line.split()[1]))
        finally:
            m.stop()
    lines = []
    for mode in ("continuous", "call"):
        r = res[mode]
        lines.append("| %s | %d / %d (%.1f%%) | %d / %d (%.1f%%) | %.4f |" % (
            mode, r["filled"], r["orders"], 100.0 * r["filled"] / r["orders"], r["gpu_hours"], r["demanded_gh"],
            100.0 * r["gpu_hours"] / r["demanded_gh"], r["per_gh"]))
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    text = "\n".join([
        "## %s — continuous matching vs the call auction (issue 15)" % datetime.datetime.now(
            datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "",
        "- command: `SUANLI_PG_PORT=%s python3 bench/clearing_bench.py --orders %d --seed %d --interval %d"
        "%s`" % (os.environ.get("SUANLI_PG_PORT", "?"), a.orders, a.seed, a.interval,
                " --time-limit %d" % a.time_limit if a.time_limit != 2000 else ""),
        "- host: `%s`; nproc %d; revision %s; suanlid build: %s" % (
            " ".join(platform.uname()[:3]), os.cpu_count(), rev, os.path.relpath(a.bin, ROOT)),
        "- market: the demo seed (deploy/seed_demo.sql), a fresh database per mode; one tenant; orders: %d "
        "good-till gang H100 orders from %s, 8-32 GPUs, 4-24 h, start windows 0-12 h within the next day, "
        "a third capped at 25 ms RTT, seed %d; call mode: `\"clearing\": \"call\"`, measured after 2 rounds"
        % (a.orders, ", ".join(orig), a.seed),
        "- call rounds: %d (of which answered by the greedy fallback at the %d ms time limit: %d); "
        "posting took %.1f s (continuous) and %.1f s (call)" % (
            res["call"].get("suanli_clearing_rounds_total", -1), a.time_limit,
            res["call"].get("suanli_clearing_greedy_total", -1), res["continuous"]["post_s"], res["call"]["post_s"]),
        "",
        "| mode | orders filled | GPU-hours filled | cost per GPU-hour filled |",
        "|---|---:|---:|---:|",
    ] + lines + [""])
    print(text)
    if not a.no_results:
        with open(os.path.join(ROOT, "bench", "RESULTS.md"), "a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
