"""The business clock (schema/014_clock.sql, src/core/README.md "The clock"), each test on
databases of its own:

  * a database keeps the real clock unless a test switches it: sl_now() is `SELECT now()` (so
    the planner inlines it), and `suanlid clock show` says "real";
  * moving the clock needs SUANLI_CLOCK=test in the command's environment, and a database on
    which a server has run keeps its real clock;
  * the test clock: switched on a fresh database (it may start in the past), frozen at an
    instant to the microsecond, never moved back, running at an offset, read once per
    transaction (a clock moved meanwhile does not split one transaction's rows);
  * the server's C code and SQL tell the same time: on a frozen clock a token's default expiry
    (computed in C) is exactly its lifetime after its created_at (SQL), and the ledger's signed
    checkpoints carry the frozen second;
  * the sandbox clock (`suanlid clock run SPEED`, deploy/quickstart.sh --sandbox) runs business
    time SPEED times as fast as real time.
"""
import json
import os
import signal
import subprocess
import time

import harness
import ledger_util as L
from dispatch_util import PrivateEnv, create_db, drop_db, wait_for
from harness import Collector, check

PAST = "2024-02-29T23:59:59.999999Z"
PAST_US = 1709251199999999


def _cli(url, *args, test=True):
    env = {"SUANLI_DATABASE_URL": url}
    if test:
        env["SUANLI_CLOCK"] = "test"
    return harness.run_cli("clock", *args, extra_env=env)


def _show(url):
    p = _cli(url, "show", test=False)
    check(p.returncode == 0, "suanlid clock show: exit %s: %s" % (p.returncode, p.stderr[-300:]))
    return json.loads(p.stdout)


def test_clock_real_by_default_and_moved_only_by_tests():
    c = Collector()
    url = create_db("clock_real")
    try:
        s = _show(url)  # migrates the fresh database
        c.check(s.get("clock") == "real" and s.get("mode") == "real", "a fresh database's clock: %s" % s)
        body = L.one(url, "SELECT prosrc FROM pg_proc WHERE proname = 'sl_now'")
        c.check(body == "SELECT now()", "sl_now() on the real clock is %r, expected SELECT now()" % body)
        same = L.one(url, "SELECT sl_now() = now()")
        c.check(same == "t", "sl_now() = now() on the real clock: %r" % same)
        p = _cli(url, "set", "+1 hour", test=False)
        c.check(p.returncode == 2 and "SUANLI_CLOCK=test" in p.stderr,
                "clock set without SUANLI_CLOCK=test: exit %s: %s" % (p.returncode, p.stderr[-200:]))
        for bad in (["set"], ["set", "+1h", "--sometimes"], ["turn"], ["show", "extra"]):
            p = _cli(url, *bad)
            c.check(p.returncode == 2 and "usage" in p.stderr, "clock %s: exit %s: %s" % (bad, p.returncode, p.stderr))
        c.check(_show(url).get("clock") == "real", "the refused commands changed the clock")
    finally:
        drop_db(url)
    c.done()


def test_clock_frozen_forward_only_running():
    c = Collector()
    url = create_db("clock_test")
    try:
        s = L.clock_set(url, PAST, "--frozen")  # the switch: the one move that may go back in time
        c.check(s.get("clock") == "test" and s.get("mode") == "frozen" and s.get("now") == PAST,
                "after switching to %s frozen: %s" % (PAST, s))
        c.check(L.clock_now_us(url) == PAST_US, "sl_now() on the frozen clock: %s" % L.clock_now_us(url))
        time.sleep(0.05)
        c.check(L.clock_now_us(url) == PAST_US, "the frozen clock moved by itself")
        p = _cli(url, "set", "2024-02-29T23:59:59.999998Z")
        c.check(p.returncode == 1 and "only moves forward" in p.stderr, "moving back 1 us: exit %s: %s"
                % (p.returncode, p.stderr[-200:]))
        p = _cli(url, "set", "not a time")
        c.check(p.returncode == 2, "an unreadable time: exit %s: %s" % (p.returncode, p.stderr[-200:]))
        c.check(L.clock_now_us(url) == PAST_US, "refused moves changed the clock")
        s = L.clock_set(url, "+1 us")
        c.check(s.get("now") == "2024-03-01T00:00:00.000000Z" and s.get("mode") == "frozen",
                "+1 us keeps the clock frozen at the next microsecond: %s" % s)
        s = L.clock_set(url, "+2 days", "--running")
        a = L.clock_now_us(url)
        time.sleep(0.2)
        b = L.clock_now_us(url)
        c.check(s.get("mode") == "running" and PAST_US + 2 * 86400 * 10 ** 6 <= a < b,
                "running from 2 days on: %s, then %d, %d" % (s, a, b))
        p = _cli(url, "set", PAST)
        c.check(p.returncode == 1, "moving a running clock back: exit %s" % p.returncode)
        # read once per transaction: moved meanwhile (by another session), a transaction keeps its time
        L.clock_set(url, "+1 hour", "--frozen")
        script = ("BEGIN;\nSELECT (extract(epoch FROM sl_now()) * 1000000)::bigint;\n"
                  "\\! SUANLI_CLOCK=test SUANLI_DATABASE_URL='%s' %s clock set '+1 hour' >/dev/null\n"
                  "SELECT (extract(epoch FROM sl_now()) * 1000000)::bigint;\nCOMMIT;\n"
                  "SELECT (extract(epoch FROM sl_now()) * 1000000)::bigint;\n" % (url, harness.binary()))
        r = subprocess.run([harness.PSQL, url, "-X", "-At", "-q", "-v", "ON_ERROR_STOP=1"], input=script,
                           capture_output=True, text=True, timeout=60)
        vals = [int(x) for x in r.stdout.split()]
        c.check(r.returncode == 0 and len(vals) == 3 and vals[0] == vals[1] and vals[2] == vals[0] + 3600 * 10 ** 6,
                "sl_now() in one transaction, after the clock moved, and in the next: %s %s" % (vals, r.stderr[-300:]))
    finally:
        drop_db(url)
    c.done()


def test_clock_switch_refused_once_a_server_ran():
    c = Collector()
    with PrivateEnv("clock_late") as e:
        p = _cli(e.url, "set", "+1 hour")
        c.check(p.returncode == 1 and "already run" in p.stderr,
                "switching a database a server runs on: exit %s: %s" % (p.returncode, p.stderr[-200:]))
        c.check(_show(e.url).get("clock") == "real", "the clock after the refused switch: %s" % _show(e.url))
    c.done()


def test_clock_c_and_sql_agree():
    c = Collector()
    with PrivateEnv("clock_agree", clock="2025-06-30T12:34:56.5Z") as e:
        frozen = 1751286896  # the frozen second
        p = e.account("tenant")  # its token: created_at from SQL, the default expiry from C
        got = L.rows(e.url, "SELECT extract(epoch FROM created_at), extract(epoch FROM expires_at)::bigint"
                            " FROM api_tokens WHERE id = %d" % p["token_id"])
        want = [["%d.500000" % frozen, str(frozen + 2160 * 3600)]]
        c.check(got == want, "token created_at, expires_at %s on a clock frozen at %d.5: expected %s (90 days)"
                % (got, frozen, want))
        e.deposit(p["id"], "1.00")
        ok = wait_for(lambda: L.one(e.url, "SELECT count(*) FROM ledger_checkpoints") != "0", 10)
        at = L.rows(e.url, "SELECT DISTINCT extract(epoch FROM signed_at)::bigint FROM ledger_checkpoints")
        c.check(ok and at == [[str(frozen)]], "signed checkpoints at %s, the clock is frozen at %d" % (at, frozen))
        j = L.rows(e.url, "SELECT extract(epoch FROM created_at) FROM journal_txns")
        c.check(j == [["%d.500000" % frozen]], "the deposit's journal time %s" % j)
    c.done()


def test_clock_run_sandbox():
    """`suanlid clock run SPEED`, the sandbox clock of deploy/quickstart.sh --sandbox: business
    time runs SPEED times as fast as the real time the process lives, frozen between its moves;
    it prints the clock at its start and at each whole business hour it passes, needs
    SUANLI_CLOCK=test and a speed of 1..3600, and ends with exit 0 on SIGTERM."""
    c = Collector()
    url = create_db("clock_run")
    start, start_us = "2025-01-01T00:59:00Z", 1735693140 * 10 ** 6
    try:
        L.clock_set(url, start, "--frozen")
        p = _cli(url, "run", "60", test=False)
        c.check(p.returncode == 2 and "SUANLI_CLOCK=test" in p.stderr, "clock run without SUANLI_CLOCK=test: exit %s: %s"
                % (p.returncode, p.stderr[-200:]))
        for bad in (["run"], ["run", "0"], ["run", "3601"], ["run", "6x"], ["run", "60", "extra"]):
            p = _cli(url, *bad)
            c.check(p.returncode == 2 and "usage" in p.stderr, "clock %s: exit %s: %s" % (bad, p.returncode, p.stderr))
        c.check(L.clock_now_us(url) == start_us, "refused runs moved the clock")
        env = dict(os.environ, SUANLI_DATABASE_URL=url, SUANLI_CLOCK="test")
        t0 = time.monotonic()
        proc = subprocess.Popen([harness.binary(), "clock", "run", "3600"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
        try:
            moved = wait_for(lambda: L.clock_now_us(url) >= start_us + 2 * 3600 * 10 ** 6, 60)
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        t1 = time.monotonic()
        c.check(moved, "the clock did not pass two business hours in 60 s at 3600x: %s" % _show(url))
        c.check(proc.returncode == 0, "clock run after SIGTERM: exit %s: %s" % (proc.returncode, err[-300:]))
        now = L.clock_now_us(url)
        time.sleep(0.3)
        c.check(L.clock_now_us(url) == now, "the clock still moves after clock run stopped")
        c.check(now - start_us <= 3600 * (t1 - t0) * 10 ** 6,
                "moved %d us in %.2f s of real time: faster than 3600x" % (now - start_us, t1 - t0))
        shows = [json.loads(line) for line in out.splitlines()]
        hours = [s["now"][:13] for s in shows]
        want_last = time.strftime("%Y-%m-%dT%H", time.gmtime(now // 10 ** 6))
        c.check(shows and shows[0]["now"].startswith("2025-01-01T00:59:00") and
                all(s["clock"] == "test" and s["mode"] == "frozen" for s in shows) and
                hours == sorted(set(hours)) and hours[-1] == want_last and len(hours) >= 3,
                "printed: the start, then once per whole business hour up to %s: %s" % (want_last, hours))
    finally:
        drop_db(url)
    c.done()
