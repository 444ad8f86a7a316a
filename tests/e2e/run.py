#!/usr/bin/env python3
"""Run the suanlid end-to-end suite: every function test_* of every tests/e2e/test_*.py.

  SUANLI_DATABASE_URL=postgresql://... python3 tests/e2e/run.py [-k SUBSTRING] [-v]

Prints one line per test (PASS/FAIL/SKIP), failure details indented below it, and last
`N passed, N failed` (with `, N skipped` when some were skipped).  Exit status 1 on any
failure.  The shared server is stopped at the end with SIGTERM; its clean exit (status 0,
JSON log) is the last test, `harness::shutdown`.
"""
import importlib
import inspect
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # leave no __pycache__ in the tree

import harness  # noqa: E402


def discover(pattern):
    tests = []
    mods = [importlib.import_module(fn[:-3]) for fn in sorted(os.listdir(HERE))
            if fn.startswith("test_") and fn.endswith(".py")]
    mods.sort(key=lambda m: getattr(m, "RUN_ORDER", 50))  # a module may ask to run late (RUN_ORDER > 50)
    for mod in mods:
        funcs = [(name, f) for name, f in vars(mod).items()
                 if name.startswith("test_") and inspect.isfunction(f) and f.__module__ == mod.__name__]
        funcs.sort(key=lambda nf: nf[1].__code__.co_firstlineno)
        for name, f in funcs:
            full = "%s::%s" % (mod.__name__, name)
            if pattern is None or pattern in full:
                tests.append((full, f))
    return tests


def indent(text):
    return "\n".join("    " + line for line in text.splitlines())


def main(argv):
    pattern = None
    verbose = "-v" in argv
    if "-k" in argv:
        pattern = argv[argv.index("-k") + 1]
    harness.db_url()  # fail early without a database
    print("suanli e2e: binary %s, logs in %s" % (harness.source_binary(), harness.out_dir()), flush=True)
    passed = failed = skipped = 0
    t_all = time.time()
    tests = discover(pattern) + [("harness::shutdown", harness.shutdown)]
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
            print("FAIL %s (%.2fs)" % (name, time.time() - t0), flush=True)
            print(indent(msg), flush=True)
            if verbose:
                print(indent(traceback.format_exc()), flush=True)
            continue
        except Exception:  # noqa: BLE001 — an error in a test is a failure, with its trace
            failed += 1
            print("FAIL %s (%.2fs) error" % (name, time.time() - t0), flush=True)
            print(indent(traceback.format_exc()), flush=True)
            continue
        passed += 1
        print("PASS %s (%.2fs)" % (name, time.time() - t0), flush=True)
    print("total %.1fs" % (time.time() - t_all), flush=True)
    line = "%d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    print(line, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
