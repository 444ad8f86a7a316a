#!/usr/bin/env python3
"""Run the suanlid end-to-end suite: every function test_* of every tests/e2e/test_*.py.

  SUANLI_DATABASE_URL=postgresql://... python3 tests/e2e/run.py [-k SUBSTRING] [-v] [--shards N]

Prints one line per test (PASS/FAIL/SKIP), failure details indented below it, and last
`N passed, N failed` (with `, N skipped` when some were skipped).  Exit status 1 on any
failure.  The shared server is stopped at the end with SIGTERM; its clean exit (status 0,
JSON log) is the last test, `harness::shutdown`.

--shards N (N >= 2) runs the modules in N worker processes at once, each on a fresh database
of its own (a sibling of SUANLI_DATABASE_URL's, `<db>_shard<i>`, dropped at the end) with its
own shared server, log folder (<out>/shard<i>), SUANLI_KEY_DIR (<dir>/shard<i>) and share of
the fixed port ranges (harness.port_ok), the modules balanced by their measured cost
(MODULE_COST_S).  Modules that must not run next to others -- RUN_ORDER > 50 (test_ops stops
PostgreSQL) or E2E_ALONE = True (timing-sensitive: deadlines, bursts, floods) -- run after the
shards, one process on SUANLI_DATABASE_URL itself, in RUN_ORDER then name order.  Modules with
the same E2E_GROUP (an outside resource: the Slurm test cluster) share a shard.  Each test's
lines are printed whole as its worker reports them; each worker ends with its own
`harness::shutdown[<worker>]`.
"""
import importlib
import inspect
import os
import queue
import subprocess
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # leave no __pycache__ in the tree

import harness  # noqa: E402

# Seconds each module took in a serial run with build-asan/ on 2 cores (2026-12-02, load ~4;
# test_settlement as it is since its snapshots skip views); only used to balance the shards,
# so rough figures do.  Unlisted modules count DEFAULT_COST_S.
MODULE_COST_S = {
    "test_settlement": 100, "test_exactly_once": 143, "test_tamper": 120, "test_faults": 105,
    "test_market": 93, "test_agent": 88, "test_ledger": 54, "test_market_book": 48, "test_dispatch": 43,
    "test_ledger_witness": 34, "test_hostile": 34, "test_limits": 27, "test_bad_input": 27,
    "test_agent_latency": 26, "test_accounts_tokens": 24, "test_concurrency": 23, "test_clock": 22,
    "test_partials": 18, "test_power_ledger": 16, "test_upgrade": 15, "test_front": 12, "test_replica_reads": 11,
    "test_role_matrix": 10, "test_clearing": 8, "test_pools": 7, "test_drain": 7, "test_accelerators": 6,
    "test_registry": 4, "test_audit": 4, "test_idempotency": 3, "test_stats": 3, "test_regions_latency": 2,
}
DEFAULT_COST_S = 2


def modules():
    mods = [importlib.import_module(fn[:-3]) for fn in sorted(os.listdir(HERE))
            if fn.startswith("test_") and fn.endswith(".py")]
    mods.sort(key=lambda m: getattr(m, "RUN_ORDER", 50))  # a module may ask to run late (RUN_ORDER > 50)
    return mods


def module_tests(mod, pattern):
    funcs = [(name, f) for name, f in vars(mod).items()
             if name.startswith("test_") and inspect.isfunction(f) and f.__module__ == mod.__name__]
    funcs.sort(key=lambda nf: nf[1].__code__.co_firstlineno)
    out = []
    for name, f in funcs:
        full = "%s::%s" % (mod.__name__, name)
        if pattern is None or pattern in full:
            out.append((full, f))
    return out


def discover(pattern, only=None):
    """The tests matching pattern, of the modules or tests named in `only` (None: all)."""
    tests = []
    for mod in modules():
        tests += [t for t in module_tests(mod, pattern) if only is None or mod.__name__ in only or t[0] in only]
    return tests


def indent(text):
    return "\n".join("    " + line for line in text.splitlines())


def arg(argv, flag, default=None):
    if flag in argv:
        i = argv.index(flag)
        if i + 1 >= len(argv):
            raise SystemExit("run.py: %s needs a value" % flag)
        return argv[i + 1]
    return default


def run_tests(tests, verbose):
    """Run tests in this process; returns (passed, failed, skipped)."""
    passed = failed = skipped = 0
    for name, f in tests:
        t0 = time.time()
        try:
            f()
        except harness.Skip as e:
            skipped += 1
            print("SKIP %s (%s)" % (name, e), flush=True)
            continue
        except AssertionError as e:
            failed += 1
            msg = str(e) or "assertion failed"
            print("FAIL %s (%.2fs)\n%s" % (name, time.time() - t0, indent(msg)), flush=True)
            if verbose:
                print(indent(traceback.format_exc()), flush=True)
            continue
        except Exception:  # noqa: BLE001 — an error in a test is a failure, with its trace
            failed += 1
            print("FAIL %s (%.2fs) error\n%s" % (name, time.time() - t0, indent(traceback.format_exc())),
                  flush=True)
            continue
        passed += 1
        print("PASS %s (%.2fs)" % (name, time.time() - t0), flush=True)
    return passed, failed, skipped


def summary(passed, failed, skipped):
    line = "%d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    return line


# ---------------------------------------------------------------- sharded runs

def alone_tests(mod, tests):
    """The tests of `mod` (of `tests`) that must run alone: all of them when RUN_ORDER > 50 or
    E2E_ALONE = True, else those whose names E2E_ALONE lists."""
    spec = getattr(mod, "E2E_ALONE", False)
    if getattr(mod, "RUN_ORDER", 50) > 50 or spec is True:
        return list(tests)
    return [t for t in tests if spec and t[0].split("::", 1)[1] in spec]


def plan(pattern, shards):
    """([[module or test names] per shard], [module or test names run alone afterwards])."""
    units, cost, alone = {}, {}, []
    for mod in modules():
        tests = module_tests(mod, pattern)
        if not tests:
            continue
        solo = alone_tests(mod, tests)
        rest = [t for t in tests if t not in solo]
        whole = len(solo) == len(tests)
        alone += [mod.__name__] if whole else [t[0] for t in solo]
        if not rest:
            continue
        key = getattr(mod, "E2E_GROUP", None) or mod.__name__
        units.setdefault(key, []).extend([mod.__name__] if not solo else [t[0] for t in rest])
        share = len(rest) / len(module_tests(mod, None))
        cost[key] = cost.get(key, 0) + MODULE_COST_S.get(mod.__name__, DEFAULT_COST_S) * share
    load = [0] * shards
    out = [[] for _ in range(shards)]
    for k in sorted(units, key=lambda k: (-cost[k], k)):  # longest first, to the least loaded
        i = load.index(min(load))
        load[i] += cost[k]
        out[i] += units[k]
    return out, alone


def sql_on_server(sql):
    """Run sql as the suite's role, else through SUANLI_PG_ADMIN_URL (as dispatch_util does)."""
    try:
        harness.psql(sql, harness.db_url())
    except harness.Failed:
        admin = os.environ.get("SUANLI_PG_ADMIN_URL")
        if not admin:
            raise
        harness.psql(sql, admin)


def fresh_db(name):
    """Drop and create database `name` next to SUANLI_DATABASE_URL's, owned by its role."""
    role = harness.psql("SELECT current_user")
    sql_on_server("DROP DATABASE IF EXISTS %s WITH (FORCE)" % harness.quote_ident(name))
    sql_on_server("CREATE DATABASE %s OWNER %s" % (harness.quote_ident(name), harness.quote_ident(role)))
    return harness.url_with_db(harness.db_url(), name)


class Worker:
    """`run.py --modules ...` in a process of its own; its lines go to `out` (a queue) one test
    (a PASS/FAIL/SKIP line with the indented lines below it) at a time."""

    def __init__(self, label, mods, url, slot, nslots, argv, out):
        self.label, self.mods, self.url, self.out = label, mods, url, out
        self.passed = self.failed = self.skipped = 0
        self.t0 = time.time()
        self.elapsed = None
        e = dict(os.environ)
        e["SUANLI_DATABASE_URL"] = url
        e["SUANLI_E2E_OUT"] = os.path.join(harness.out_dir(), label)
        e["PYTHONUNBUFFERED"] = "1"
        if os.environ.get("SUANLI_KEY_DIR"):
            keys = os.path.join(os.environ["SUANLI_KEY_DIR"], label)
            os.makedirs(keys, mode=0o700, exist_ok=True)
            e["SUANLI_KEY_DIR"] = keys
        if nslots > 1:
            e["SUANLI_E2E_PORT_SLOT"], e["SUANLI_E2E_PORT_SLOTS"] = str(slot), str(nslots)
        cmd = [sys.executable, os.path.abspath(__file__), "--modules", ",".join(mods), "--label", label]
        pat = arg(argv, "-k")
        if pat is not None:
            cmd += ["-k", pat]
        if "-v" in argv:
            cmd.append("-v")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True, errors="replace", env=e)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        block = []

        def flush():
            if block:
                self.out.put("\n".join(block))
                block.clear()
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if line.startswith(("PASS ", "FAIL ", "SKIP ")):
                flush()
                block.append(line)
                kind = line[:4]
                self.passed += kind == "PASS"
                self.failed += kind == "FAIL"
                self.skipped += kind == "SKIP"
            elif line.startswith("    ") and block:
                block.append(line)
            else:
                flush()
                self.out.put("[%s] %s" % (self.label, line))
        flush()
        self.proc.wait()
        self.elapsed = time.time() - self.t0
        if self.proc.returncode != 0 and self.failed == 0:
            self.failed += 1
            self.out.put("FAIL %s::worker (%.2fs)\n    the worker exited with status %s without naming a failed "
                         "test" % (self.label, self.elapsed, self.proc.returncode))
        self.out.put(None)


def run_workers(workers, out):
    """Print the workers' lines as they come until every worker has ended."""
    left = len(workers)
    while left:
        item = out.get()
        if item is None:
            left -= 1
        else:
            print(item, flush=True)
    for w in workers:
        w.thread.join()
        print("[%s] %s: %d test(s) in %.1fs" % (w.label, ",".join(dict.fromkeys(m.split("::")[0] for m in w.mods)),
                                                w.passed + w.failed + w.skipped,
                                                w.elapsed), flush=True)


def main_sharded(argv, shards):
    pattern = arg(argv, "-k")
    base = harness.db_url()
    print("suanli e2e: binary %s, %d shards, logs in %s" % (harness.source_binary(), shards, harness.out_dir()),
          flush=True)
    groups, alone = plan(pattern, shards)
    t_all = time.time()
    out = queue.Queue()
    workers, dbs = [], []
    try:
        for i, mods in enumerate(groups):
            if not mods:
                continue
            name = ("%s_shard%d" % (harness.db_name(base), i + 1))[-63:]
            url = fresh_db(name)
            dbs.append(name)
            workers.append(Worker("shard%d" % (i + 1), mods, url, i, shards, argv, out))
        run_workers(workers, out)
        if alone:
            w = Worker("alone", alone, base, 0, 1, argv, out)
            workers.append(w)
            run_workers([w], out)
    finally:
        for w in workers:
            if w.proc.poll() is None:
                w.proc.terminate()
        if os.environ.get("SUANLI_E2E_KEEP_DB") != "1":
            for name in dbs:
                try:
                    sql_on_server("DROP DATABASE IF EXISTS %s WITH (FORCE)" % harness.quote_ident(name))
                except harness.Failed as e:
                    print("[run] could not drop %s: %s" % (name, e), flush=True)
    passed = sum(w.passed for w in workers)
    failed = sum(w.failed for w in workers)
    skipped = sum(w.skipped for w in workers)
    print("total %.1fs" % (time.time() - t_all), flush=True)
    print(summary(passed, failed, skipped), flush=True)
    return 1 if failed else 0


def main(argv):
    verbose = "-v" in argv
    pattern = arg(argv, "-k")
    shards = int(arg(argv, "--shards", "1"))
    harness.db_url()  # fail early without a database
    if shards > 1 and "--modules" not in argv:
        return main_sharded(argv, shards)
    only = arg(argv, "--modules")
    label = arg(argv, "--label")
    only = set(only.split(",")) if only else None
    print("suanli e2e: binary %s, logs in %s" % (harness.source_binary(), harness.out_dir()), flush=True)
    t_all = time.time()
    shutdown = "harness::shutdown" + ("[%s]" % label if label else "")
    passed, failed, skipped = run_tests(discover(pattern, only) + [(shutdown, harness.shutdown)], verbose)
    print("total %.1fs" % (time.time() - t_all), flush=True)
    line = summary(passed, failed, skipped)
    print(line if label is None else "done: " + line.replace(", ", " / "), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
