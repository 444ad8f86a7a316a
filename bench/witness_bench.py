#!/usr/bin/env python3
"""bench/witness_bench.py — what it costs a witness to follow the ledger (issue 18).

    SUANLI_DATABASE_URL=... python3 bench/witness_bench.py     (prints a section; with
    BENCH_RECORD=1 also appends it to bench/RESULTS.md)

One run, on a fresh database of SUANLI_DATABASE_URL's server (tests/e2e/ledger_util.py: its
own suanlid on a free port in 18800..18899, SUANLI_MAINTENANCE_MS=200, build/ binaries):
  1. follow: `suanli-witness run --interval-ms 200` (its own account, a registered key) runs
     while BENCH_ENTRIES deposits are made through the API by BENCH_CLIENTS threads (each one
     signed ledger entry; the sequencer folds them into a checkpoint about every 0.2 s); when
     the last checkpoint is cosigned, the witness's CPU time (utime + stime of /proc) is read;
  2. catch-up: a second witness with an empty state runs `--once` over the whole log
     (walks every checkpoint, checks a consistency proof per checkpoint, cosigns it): wall
     time and CPU time of the process;
  3. baseline, same log, same machine, same minute: `suanlid audit` (re-reads and recomputes
     the whole ledger and journal), wall time.
Figures per 1,000 entries, and the witness's catch-up as a ratio to the audit.

Environment: BENCH_ENTRIES (3000), BENCH_CLIENTS (4), SUANLI_BIN (build/suanlid).
"""
import json
import os
import platform
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
os.environ.setdefault("SUANLI_BIN", os.path.join(ROOT, "build", "suanlid"))
import harness  # noqa: E402
import ledger_util as L  # noqa: E402

ENTRIES = int(os.environ.get("BENCH_ENTRIES", "3000"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "4"))
WITNESS = harness.tool_binary("SUANLI_WITNESS_BIN", "suanli-witness", "suanli-witness")


def cpu_s(pid):
    """utime + stime of a live process, seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    port = next(p for p in range(18800, 18900) if L._port_free(p))
    db = L.db_name("suanli_bench_witness")
    url = L.create_db(db)
    keys = L.key_dir("bench-witness")
    folder = os.path.join(harness.out_dir(), "witness-bench")
    os.makedirs(folder, exist_ok=True)
    srv = L.LedgerServer("bench-witness", url, keys, port=port, log_level="warn")
    try:
        srv.wait_ready()
        cl = srv.client
        admin = L.bootstrap_admin(url, keys)
        wit = {}
        for name in ("follow", "catchup"):
            key = os.path.join(folder, name + ".key")
            if os.path.exists(key):
                os.remove(key)
            pub = subprocess.run([WITNESS, "keygen", key], capture_output=True, text=True, check=True).stdout
            r = cl.post("/v1/ledger/witnesses", {"name": "bench-" + name, "public_key": json.loads(pub)["public_key"]},
                        token=admin)
            assert r.status == 201, r.short()
            acct = L.account(cl, admin, "tenant", "bench-w-%s-%s" % (name, harness.RUN))
            state = os.path.join(folder, name + ".state")
            if os.path.exists(state):
                os.remove(state)
            wit[name] = dict(key=key, state=state, token=acct["token"])
        tenants = [L.account(cl, admin, "tenant", "bench-t%d-%s" % (i, harness.RUN)) for i in range(CLIENTS)]

        def run_args(name, *extra):
            w = wit[name]
            return ([WITNESS, "run", "--url", "http://127.0.0.1:%d" % port, "--name", "bench-" + name, "--key",
                     w["key"], "--state", w["state"]] + list(extra),
                    dict(os.environ, SUANLI_TOKEN=w["token"]))

        args, env = run_args("follow", "--interval-ms", "200")
        follower = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        t0 = time.time()

        def deposits(t, n):
            c = harness.Client(port)
            for _ in range(n):
                r = c.post("/v1/accounts/%d/deposits" % t["id"], {"amount": "1.00"}, token=admin)
                assert r.status == 201, r.short()

        threads = [threading.Thread(target=deposits, args=(t, ENTRIES // CLIENTS)) for t in tenants]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        latest = L.wait_sequenced(cl, url, admin, timeout=120)
        deadline = time.time() + 120
        while time.time() < deadline:
            st = json.load(open(wit["follow"]["state"])) if os.path.exists(wit["follow"]["state"]) else {}
            if st.get("tree_size") == latest["tree_size"]:
                break
            time.sleep(0.1)
        follow_wall = time.time() - t0
        follow_cpu = cpu_s(follower.pid)
        follower.terminate()
        out = follower.communicate(timeout=10)[0]
        n = latest["tree_size"]
        cps = int(L.one(url, "SELECT count(*) FROM ledger_checkpoints"))
        cos_follow = out.count("cosigned checkpoint")
        # catch-up from an empty state
        args, env = run_args("catchup", "--once")
        t1 = time.time()
        p = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        _, status, ru = os.wait4(p.pid, 0)
        catch_wall = time.time() - t1
        catch_out = p.stdout.read()
        assert os.waitstatus_to_exitcode(status) == 0, catch_out[-500:]
        catch_cpu = ru.ru_utime + ru.ru_stime
        cos_catch = catch_out.count("cosigned checkpoint")
        # baseline: the auditor over the same ledger
        t2 = time.time()
        rc, findings, _ = L.audit(url, keys)
        audit_wall = time.time() - t2
        assert rc == 0 and not findings, findings[:3]
    finally:
        srv.stop()
        L.drop_db(db)
    k = n / 1000.0
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    load = open("/proc/loadavg").read().split()[:3]
    lines = [
        "## %s — a witness following the ledger (issue 18)" % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "",
        "- command: `SUANLI_DATABASE_URL=... python3 bench/witness_bench.py` (BENCH_ENTRIES=%d BENCH_CLIENTS=%d)"
        % (ENTRIES, CLIENTS),
        "- host: `%s`; nproc %d; load average %s (the machine is shared); revision %s; build/ (RelWithDebInfo)"
        % (platform.platform(), os.cpu_count(), " ".join(load), rev),
        "- log: %d entries (deposits through the API, %d threads), %d checkpoints (sequencer every 0.2 s)"
        % (n, CLIENTS, cps),
        "",
        "| what | checkpoints cosigned | wall s | CPU s (witness) | wall s per 1,000 entries | CPU s per 1,000 entries | ratio to the audit (wall) |",
        "|---|---:|---:|---:|---:|---:|---:|",
        "| follow (live, --interval-ms 200, while the log grows) | %d | %.2f | %.3f | %.2f | %.4f | — |"
        % (cos_follow, follow_wall, follow_cpu, follow_wall / k, follow_cpu / k),
        "| catch-up (--once from an empty state) | %d | %.2f | %.3f | %.3f | %.4f | %.2f |"
        % (cos_catch, catch_wall, catch_cpu, catch_wall / k, catch_cpu / k, catch_wall / audit_wall),
        "| baseline: `suanlid audit` of the same ledger | — | %.2f | — | %.3f | — | 1.00 |" % (audit_wall, audit_wall / k),
        "",
        "The follow row's wall time is that of the log's growth (the witness waits for it); its CPU",
        "time is what following costs.  A witness's work grows with the number of checkpoints (one",
        "consistency proof, one signature and one POST each), not with the entries inside them.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if os.environ.get("BENCH_RECORD") == "1":
        with open(os.path.join(HERE, "RESULTS.md"), "a", encoding="utf-8") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
