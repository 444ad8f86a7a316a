#!/usr/bin/env python3
"""Audit time per 1,000 ledger entries (issue 18): `suanlid audit` on a ledger of N entries.

A fresh database and `suanlid serve` (ledger on) get, through the API, a small market (the
e2e ledger_util.build_market: regions, pools, tenants, trades, cancellations, deposits) and then
deposits until the ledger holds about N entries (each deposit is one signed DEPOSIT entry and
one audit-log row; the power entries of the accounts and tokens and the audit-log heads come on
top).  Once the sequencer has covered every entry, `suanlid audit` runs RUNS times; the median
wall time is reported with the entry and audit-row counts, and, less the median of the same
audit of an empty migrated database (start-up: the connection prepares every statement of
the server), as seconds per 1,000 entries.
With --baseline BIN, the same is done with that binary serving and auditing its own ledger
(e.g. the previous commit's suanlid, which checks less), and the ratio is printed.

    python3 bench/audit_bench.py --database-url postgresql://suanli@127.0.0.1:15437/suanli \\
        --entries 3000 [--runs 5] [--baseline /path/to/old/suanlid]

The database named in the URL is used as the server to create a scratch database on.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
os.environ.setdefault("SUANLI_E2E_OUT", "/tmp/suanli-audit-bench")
os.makedirs(os.environ["SUANLI_E2E_OUT"], exist_ok=True)

import harness  # noqa: E402
import ledger_util as L  # noqa: E402


def timed_audit(binary, url, keys):
    env = dict(os.environ, **L.server_env(url, keys))
    t0 = time.monotonic()
    p = subprocess.run([binary, "audit"], env=env, capture_output=True, text=True, timeout=1800)
    dt = time.monotonic() - t0
    return dt, p.returncode, len([x for x in p.stdout.splitlines() if x.strip()]), p.stderr[-300:]


def one_run(binary, entries, runs):
    """Build a ledger of about `entries` entries with `binary` serving, then audit it `runs`
    times with the same binary: (entries, audit-log rows, by purpose, median s, min, max)."""
    harness._binary_copy = binary  # the binary in place (harness.binary() would copy the first one)
    name = L.db_name("suanli_audit_bench")
    url = L.create_db(name)
    keys = L.key_dir("audit-bench")
    srv = L.LedgerServer("audit-bench", url, keys, port=L.pick_port(int(os.environ.get("BENCH_PORT", "18700"))))
    try:
        srv.wait_ready()
        admin = L.bootstrap_admin(url, keys)
        m = L.build_market(srv.client, admin, "ab" + harness.RUN)
        tenant = m["tenants"][0]["id"]
        n = int(L.one(url, "SELECT count(*) FROM ledger_entries"))
        while n < entries:
            for _ in range(min(200, entries - n)):
                L.deposit(srv.client, admin, tenant, "1.00")
            n = int(L.one(url, "SELECT count(*) FROM ledger_entries"))
        if L.one(url, "SELECT to_regclass('power_events') IS NOT NULL") == "t":
            L.wait_sequenced(srv.client, url, admin, timeout=120)  # the log under a signed head too
        else:  # a binary before schema 23: every entry under a checkpoint
            deadline = time.time() + 120
            while time.time() < deadline and (srv.client.get("/v1/ledger/checkpoint", token=admin).json or {}).get(
                    "tree_size") != int(L.one(url, "SELECT count(*) FROM ledger_entries")):
                time.sleep(0.2)
    finally:
        srv.stop()
    total = int(L.one(url, "SELECT count(*) FROM ledger_entries"))
    by = L.rows(url, "SELECT purpose, count(*) FROM ledger_entries GROUP BY 1 ORDER BY 1")
    logs = int(L.one(url, "SELECT count(*) FROM audit_log"))
    times = []
    for _ in range(runs):
        dt, rc, nf, err = timed_audit(binary, url, keys)
        if rc != 0:
            print("%s audit exit %d, %d findings: %s" % (binary, rc, nf, err), file=sys.stderr)
            sys.exit(1)
        times.append(dt)
    if not L.keep_dbs():
        L.drop_db(name)
    # the fixed cost (start-up, statements prepared on connect): the same audit of an empty,
    # migrated database
    empty = L.db_name("suanli_audit_bench_empty")
    eurl = L.create_db(empty)
    subprocess.run([binary, "migrate"], env=dict(os.environ, **L.server_env(eurl, keys)), capture_output=True)
    fixed = statistics.median([timed_audit(binary, eurl, keys)[0] for _ in range(runs)])
    L.drop_db(empty)
    return total, logs, by, statistics.median(times), min(times), max(times), fixed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--entries", type=int, default=3000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--baseline", default="", help="another suanlid: builds and audits its own ledger")
    a = ap.parse_args()
    os.environ["SUANLI_DATABASE_URL"] = a.database_url
    results = [("this", harness.binary())] + ([("baseline", a.baseline)] if a.baseline else [])
    per = {}
    for label, binary in results:
        total, logs, by, med, lo, hi, fixed = one_run(binary, a.entries, a.runs)
        per[label] = (med - fixed) * 1000 / total
        print("%s (%s): entries %d (by purpose %s), audit-log rows %d; suanlid audit median %.3f s of %d"
              " runs (min %.3f, max %.3f), empty database %.3f s; (%.3f - %.3f) = %.3f s per 1,000 entries"
              % (label, binary, total, ", ".join("%s:%s" % (p, c) for p, c in by), logs, med, a.runs, lo, hi,
                 fixed, med, fixed, per[label]))
    if a.baseline:
        print("ratio this / baseline (per 1,000 entries): %.2f" % (per["this"] / per["baseline"]))


if __name__ == "__main__":
    main()
