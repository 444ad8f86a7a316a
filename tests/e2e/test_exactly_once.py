"""Money exactly once under every ambiguity (issue 10).

Each test runs on a database of its own (dispatch_util.PrivateEnv) with servers of its own.

  * test_commit_reply_lost_per_money_route: a small TCP proxy (CommitDropProxy, below) sits
    between one suanlid and PostgreSQL; armed, it lets a request's COMMIT through, waits for
    PostgreSQL's reply (the transaction is committed) and closes both sockets instead of
    passing it on.  For each money-moving route (order, trade cancellation, deposit,
    withdrawal): the reply is the committed result (not a 503), a retry with the same key is
    a replay of it, the effect happened once (one order / one cancellation / one deposit /
    one withdrawal, exact balances) and `suanlid audit` is clean.
  * test_commit_outcome_unknown: the proxy drops COMMIT's reply and then refuses every
    connection for longer than the server's resolution window: the reply is 503
    outcome_unknown (no Retry-After); once the database is reachable again, a retry with the
    same key replays the committed order: one order, one charge.
  * test_claim_outlives_lease_two_servers: a request on server A stalls on a lock held from
    another database connection well past the claim lease; a retry with the same key on
    server B gets 409 idempotency_in_flight (never a second execution); once the lock goes,
    A answers 201 and B's next retry replays it: exactly one order, one trade, one charge.
  * test_killed_claim_resolves_in_seconds: a server is SIGKILLed while its request waits on a
    lock; a retry on another server with the same key executes within a 20 s wait (the claim
    rule of src/db/idempotency.c: 3 s, where it used to be 60 s), and exactly once.
  * test_taken_over_claim_is_fenced: a request stalled between its claim and its
    transaction (SUANLI_STALL_AT) past the lease is taken over by a retry on another server,
    which executes; the stalled one then changes nothing and answers 409; one order.
  * test_crash_windows_health_and_failover: suanlid is made to die (SUANLI_CRASH_AT, as
    kill -9 would) right after health sensing marked a silent pool offline and before its
    running trade's refund, then right after a failover refunded a future trade and before
    re-matching it: nothing is lost — the pool is still online after the first crash (the
    mark and the refund are one transaction), and a healthy server then refunds the running
    trade's lost hours and fails the future trade over; journal and audit exact.
  * test_crash_window_dispatch_failure: the same for the dispatcher's terminal failure and
    its refund (SUANLI_CRASH_AT=dispatch_failed): the trade stays booked until the next
    process fails the job and refunds it in full.
  * test_money_routes_require_a_key: 400 idempotency_key_required naming the header, nothing
    changed.
  * test_auditor_calendar_and_idempotency_mutations: `suanlid audit` is clean, then names a
    slot whose `booked` was changed by hand, a slot missing its row, a stored reply whose
    status differs from its request's audit row, and a record whose request does not exist.
"""
import json
import os
import secrets
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.parse

import harness
from harness import Collector, Failed, check, hour
from dispatch_util import PrivateEnv, Srv, wait_for
from market_util import minor

# run.py --shards: run these tests alone, after the shards (timing-sensitive: sleeps past a 3 s
# claim lease, the outcome resolution window, heartbeat timeouts)
E2E_ALONE = ("test_commit_reply_lost_per_money_route",
             "test_commit_outcome_unknown",
             "test_claim_outlives_lease_two_servers",
             "test_killed_claim_resolves_in_seconds",
             "test_crash_windows_health_and_failover",
             "test_crash_window_dispatch_failure",
             "test_taken_over_claim_is_fenced")

# ---------------------------------------------------------------- the proxy


class CommitDropProxy:
    """TCP proxy to PostgreSQL that parses the frontend protocol (no TLS: the URL it serves
    says sslmode=disable).  `arm()` makes it drop, once, the reply to the COMMIT of the next
    transaction that completed an idempotency record (a request's business transaction, not
    a background worker's): PostgreSQL receives the COMMIT and commits; the proxy waits for
    its ReadyForQuery, then closes both sockets without forwarding anything.
    `refuse_for(s)`: after the drop, refuse new connections for s seconds."""

    def __init__(self, pg_host, pg_port):
        self.pg = (pg_host, pg_port)
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        self.mu = threading.Lock()
        self.armed = False
        self.refuse_s = 0.0
        self.refuse_until = 0.0
        self.dropped = 0
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, refuse_s=0.0):
        with self.mu:
            self.armed = True
            self.refuse_s = refuse_s

    def close(self):
        self.closed = True
        try:
            self.ls.close()
        except OSError:
            pass

    def _accept(self):
        while not self.closed:
            try:
                cs, _ = self.ls.accept()
            except OSError:
                return
            if time.time() < self.refuse_until:
                cs.close()
                continue
            try:
                ss = socket.create_connection(self.pg, timeout=5)
                ss.settimeout(None)
                for so in (cs, ss):  # message by message: no Nagle delay per round trip
                    so.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                cs.close()
                continue
            state = {"target": False, "drop": False}
            threading.Thread(target=self._up, args=(cs, ss, state), daemon=True).start()
            threading.Thread(target=self._down, args=(cs, ss, state), daemon=True).start()

    @staticmethod
    def _read(sock, n, buf):
        while len(buf) < n:
            d = sock.recv(65536)
            if not d:
                raise OSError("closed")
            buf += d
        return buf

    def _up(self, cs, ss, state):
        """client -> server: forward message by message, watching Bind and Query."""
        buf = b""
        try:
            buf = self._read(cs, 4, buf)
            n = struct.unpack("!I", buf[:4])[0]
            buf = self._read(cs, n, buf)
            ss.sendall(buf[:n])  # the startup message (no type byte)
            buf = buf[n:]
            while True:
                buf = self._read(cs, 5, buf)
                t = buf[0:1]
                n = struct.unpack("!I", buf[1:5])[0]
                buf = self._read(cs, 1 + n, buf)
                msg, buf = buf[:1 + n], buf[1 + n:]
                body = msg[5:]
                if t == b"B":  # Bind: portal name, statement name
                    parts = body.split(b"\0", 2)
                    if len(parts) > 1 and parts[1] == b"idem_complete":
                        state["target"] = True
                elif t == b"Q":
                    q = body.rstrip(b"\0").strip().upper()
                    if q == b"COMMIT" and state["target"]:
                        with self.mu:
                            if self.armed:
                                self.armed = False
                                state["drop"] = True
                    if q in (b"COMMIT", b"ROLLBACK"):
                        state["target"] = False
                ss.sendall(msg)
        except OSError:
            pass
        self._close(cs, ss)

    def _down(self, cs, ss, state):
        """server -> client: forward, except the reply to the dropped COMMIT."""
        buf = b""
        try:
            while True:
                buf = self._read(ss, 5, buf)
                n = struct.unpack("!I", buf[1:5])[0]
                buf = self._read(ss, 1 + n, buf)
                msg, buf = buf[:1 + n], buf[1 + n:]
                if state["drop"]:
                    if msg[0:1] == b"Z":  # PostgreSQL is done with the COMMIT: cut here
                        with self.mu:
                            self.dropped += 1
                            self.refuse_until = time.time() + self.refuse_s
                        break
                    continue
                cs.sendall(msg)
        except OSError:
            pass
        self._close(cs, ss)

    @staticmethod
    def _close(*socks):
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass


def proxied_url(url, proxy_port):
    u = urllib.parse.urlsplit(url)
    netloc = u.netloc.rsplit("@", 1)
    user = netloc[0] + "@" if len(netloc) == 2 else ""
    q = urllib.parse.parse_qsl(u.query)
    q = [(k, v) for k, v in q if k not in ("host", "port", "sslmode", "gssencmode")]
    q += [("sslmode", "disable"), ("gssencmode", "disable")]
    return urllib.parse.urlunsplit((u.scheme, "%s127.0.0.1:%d" % (user, proxy_port), u.path,
                                    urllib.parse.urlencode(q), ""))


def pg_addr(url):
    u = urllib.parse.urlsplit(url)
    q = dict(urllib.parse.parse_qsl(u.query))
    host = q.get("host") or u.hostname or "127.0.0.1"
    port = int(q.get("port") or u.port or 5432)
    if host.startswith("/"):
        raise harness.Skip("the database is reached over a Unix socket; the proxy needs TCP")
    return host, port


def audit_findings(e):
    p = harness.run_cli("audit", timeout=120, extra_env={"SUANLI_DATABASE_URL": e.url})
    lines = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
    return p.returncode, lines


def key():
    return "k-" + secrets.token_hex(10)


def setup_market(e, tenants=1, deposit="1000.00"):
    region = e.region()
    prov = e.account("provider")
    pool = e.pool(prov["token"], region, gpu_count=16, gpus_per_node=8, price_per_gpu_hour="2.00")
    ts = []
    for _ in range(tenants):
        t = e.account("tenant")
        e.deposit(t["id"], deposit)
        ts.append(t)
    return region, prov, pool, ts


def order_body(region, gpus=2, start=2):
    return {"gpus": gpus, "duration_hours": 2, "earliest_start": hour(start), "regions": [region]}


def count(e, sql):
    return int(e.q1(sql) or 0)


# ---------------------------------------------------------------- tests


def test_money_routes_require_a_key():
    c = Collector()
    e = harness.env()
    t = e.account("tenant")
    before = harness.snapshot()
    for path, body, tok in (("/v1/orders", {"gpus": 1, "duration_hours": 1, "earliest_start": hour(2)}, t["token"]),
                            ("/v1/accounts/%d/deposits" % t["id"], {"amount": "1.00"}, e.admin),
                            ("/v1/accounts/%d/withdrawals" % t["id"], {"amount": "1.00"}, t["token"]),
                            ("/v1/trades/1/cancel", None, t["token"])):
        r = e.c.req("POST", path, body=body, token=tok, headers={"Idempotency-Key": None})
        for p in harness.error_problems(r, 400, "idempotency_key_required", "Idempotency-Key"):
            c.add("POST %s without a key: %s (%s)" % (path, p, r.short()))
    c.check(harness.snapshot() == before, "a refused key-less request changed the database")
    c.done()


def test_commit_reply_lost_per_money_route():
    c = Collector()
    with PrivateEnv("commitdrop") as e:
        region, prov, pool, (t,) = setup_market(e)
        proxy = CommitDropProxy(*pg_addr(e.url))
        s = Srv("commitdrop-proxied", proxied_url(e.url, proxy.port), e.extra_env)
        e.servers.append(s)
        try:
            s.wait_ready()
            pc = s.client

            def lost(label, method, path, body, token, ok_status):
                """Send with the COMMIT's reply dropped, then retry with the same key."""
                k = key()
                before = proxy.dropped
                proxy.arm()
                r1 = pc.req(method, path, body=body, token=token, headers={"Idempotency-Key": k})
                c.check(proxy.dropped == before + 1, "%s: the proxy did not drop a COMMIT reply" % label)
                c.check(r1.status == ok_status, "%s: with COMMIT's reply lost the reply is %s, expected the"
                        " committed %d" % (label, r1.short(), ok_status))
                r2 = pc.req(method, path, body=body, token=token, headers={"Idempotency-Key": k})
                c.check(r2.status == r1.status and r2.raw == r1.raw,
                        "%s: the retry with the same key is not a replay: %s vs %s" % (label, r2.short(), r1.short()))
                return r1

            # 1. an order
            n_orders = count(e, "SELECT count(*) FROM orders WHERE tenant_id = %d" % t["id"])
            # far enough ahead that cancelling it is free (a full refund)
            r = lost("order", "POST", "/v1/orders", order_body(region, start=24 * 7), t["token"], 201)
            c.check(count(e, "SELECT count(*) FROM orders WHERE tenant_id = %d" % t["id"]) == n_orders + 1,
                    "order: not exactly one order committed")
            trade = (r.json or {}).get("trades", [{}])[0] if r.status == 201 else {}
            if r.status == 201:
                c.check(count(e, "SELECT count(*) FROM orders WHERE id = %d" % r.json["id"]) == 1,
                        "order: the reply names order %s, which is not in the database" % r.json.get("id"))
            # 2. the trade's cancellation
            if trade.get("id"):
                lost("cancel", "POST", "/v1/trades/%d/cancel" % trade["id"], None, t["token"], 200)
                c.check(count(e, "SELECT count(*) FROM journal_txns WHERE kind = 'cancellation' AND trade_id = %d"
                              % trade["id"]) == 1, "cancel: not exactly one cancellation")
            # 3. a deposit and 4. a withdrawal
            n_dep = count(e, "SELECT count(*) FROM journal_txns WHERE kind = 'deposit' AND account_id = %d" % t["id"])
            lost("deposit", "POST", "/v1/accounts/%d/deposits" % t["id"], {"amount": "7.00"}, e.admin, 201)
            c.check(count(e, "SELECT count(*) FROM journal_txns WHERE kind = 'deposit' AND account_id = %d"
                          % t["id"]) == n_dep + 1, "deposit: not exactly one deposit")
            lost("withdrawal", "POST", "/v1/accounts/%d/withdrawals" % t["id"], {"amount": "3.00"}, t["token"], 201)
            c.check(count(e, "SELECT count(*) FROM journal_txns WHERE kind = 'withdrawal' AND account_id = %d"
                          % t["id"]) == 1, "withdrawal: not exactly one withdrawal")
            # money exact: 1000 + 7 - 3 (the order was cancelled early: refunded in full)
            b = e.balances(t["id"])
            c.check((minor(b["available"]), minor(b["escrow"])) == (100400, 0),
                    "tenant balances %s, expected available 1004.00 and escrow 0" % b)
            c.check("commit outcome resolved" in s.all_log_text(),
                    "the proxied server did not log a resolved commit outcome")
            s.check_stopped_cleanly()
            rc, found = audit_findings(e)
            c.check(rc == 0 and not found, "suanlid audit: exit %s, findings %s" % (rc, found[:5]))
        finally:
            proxy.close()
    c.done()


def test_commit_outcome_unknown():
    c = Collector()
    with PrivateEnv("commitunknown") as e:
        region, prov, pool, (t,) = setup_market(e)
        proxy = CommitDropProxy(*pg_addr(e.url))
        s = Srv("commitunknown-proxied", proxied_url(e.url, proxy.port), e.extra_env)
        e.servers.append(s)
        try:
            s.wait_ready()
            k = key()
            proxy.arm(refuse_s=25.0)  # longer than the server's 15 s resolution window
            r1 = s.client.req("POST", "/v1/orders", body=order_body(region), token=t["token"],
                              headers={"Idempotency-Key": k}, timeout=60)
            for p in harness.error_problems(r1, 503, "outcome_unknown"):
                c.add("reply with the outcome unknown: %s (%s)" % (p, r1.short()))
            c.check("retry-after" not in r1.headers, "outcome_unknown must not invite a blind retry (Retry-After)")
            with proxy.mu:
                proxy.refuse_until = 0
            # the same key through a server that reaches the database: the committed order
            r2 = e.c.req("POST", "/v1/orders", body=order_body(region), token=t["token"], headers={"Idempotency-Key": k})
            c.check(r2.status == 201, "retry after the outage: %s" % r2.short())
            c.check(count(e, "SELECT count(*) FROM orders WHERE tenant_id = %d" % t["id"]) == 1,
                    "not exactly one order")
            c.check(count(e, "SELECT count(*) FROM trades WHERE tenant_id = %d" % t["id"]) == 1,
                    "not exactly one trade")
            s.wait_ready()
            s.check_stopped_cleanly()
        finally:
            proxy.close()
    c.done()


def hold_tenant_rows(e, t, seconds):
    """Lock the tenant's ledger accounts from another connection for `seconds` (an order's
    escrow posting waits on them); returns the psql process (close its stdin, then wait)."""
    holder = subprocess.Popen([harness.PSQL, e.url, "-X", "-q", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    holder.stdin.write("BEGIN; SELECT 1 FROM ledger_accounts WHERE owner_id = %d FOR UPDATE;\n"
                       "SELECT pg_sleep(%d); COMMIT;\n" % (t["id"], seconds))
    holder.stdin.flush()
    time.sleep(0.5)
    return holder


def _stalled_order(e, srv, region, t, k, out):
    out["r"] = srv.client.req("POST", "/v1/orders", body=order_body(region), token=t["token"],
                              headers={"Idempotency-Key": k}, timeout=60)


def test_claim_outlives_lease_two_servers():
    c = Collector()
    with PrivateEnv("lease", n=2) as e:
        region, prov, pool, (t,) = setup_market(e)
        a, b = e.servers
        k = key()
        holder = hold_tenant_rows(e, t, 8)
        out = {}
        th = threading.Thread(target=_stalled_order, args=(e, a, region, t, k, out))
        th.start()
        time.sleep(4.5)  # past the 3 s claim lease
        retries = []
        while th.is_alive():
            r = b.client.req("POST", "/v1/orders", body=order_body(region), token=t["token"],
                             headers={"Idempotency-Key": k})
            retries.append(r)
            if r.status != 409:
                break
            time.sleep(0.5)
        th.join(60)
        holder.stdin.close()
        holder.wait(30)
        r1 = out.get("r")
        c.check(r1 is not None and r1.status == 201, "the stalled request: %s" % (r1.short() if r1 else "no reply"))
        # The stalled request may finish while the last retry is in flight (the loop checks
        # the thread before it sends): that retry then gets the replay, which is correct.
        # Every other retry must be 409 idempotency_in_flight, and at least one must be.
        others = [i for i, r in enumerate(retries)
                  if not (r.status == 409 and (r.json or {}).get("error") == "idempotency_in_flight")]
        replay_last = (others == [len(retries) - 1] and r1 is not None
                       and retries[-1].status == r1.status and retries[-1].raw == r1.raw)
        c.check(len(retries) > len(others) and (not others or replay_last),
                "retries during the stall must be 409 idempotency_in_flight (the last may be the replay): %s"
                % [retries[i].short() for i in others][:3])
        r3 = b.client.req("POST", "/v1/orders", body=order_body(region), token=t["token"], headers={"Idempotency-Key": k})
        c.check(r1 is not None and r3.status == r1.status and r3.raw == r1.raw,
                "the retry after completion is not a replay: %s" % r3.short())
        c.check(count(e, "SELECT count(*) FROM orders WHERE tenant_id = %d" % t["id"]) == 1, "not exactly one order")
        c.check(count(e, "SELECT count(*) FROM trades WHERE tenant_id = %d" % t["id"]) == 1, "not exactly one trade")
        c.check(count(e, "SELECT count(*) FROM journal_txns j JOIN trades tr ON tr.id = j.trade_id"
                         " WHERE j.kind = 'trade' AND tr.tenant_id = %d" % t["id"]) == 1, "not exactly one charge")
    c.done()


def test_killed_claim_resolves_in_seconds():
    c = Collector()
    with PrivateEnv("killclaim", n=2) as e:
        region, prov, pool, (t,) = setup_market(e)
        a, b = e.servers
        k = key()
        holder = hold_tenant_rows(e, t, 3)
        out = {}
        th = threading.Thread(target=lambda: out.update(r=_try(lambda: a.client.req(
            "POST", "/v1/orders", body=order_body(region), token=t["token"], headers={"Idempotency-Key": k},
            timeout=30))))
        th.start()
        time.sleep(1.0)
        a.kill()  # its transaction dies with its connection; the claim stays in flight
        th.join(30)
        t0 = time.time()
        final = None
        while time.time() - t0 < 20:
            r = b.client.req("POST", "/v1/orders", body=order_body(region), token=t["token"],
                             headers={"Idempotency-Key": k})
            if r.status != 409:
                final = r
                break
            time.sleep(0.25)
        took = time.time() - t0
        holder.stdin.close()
        holder.wait(30)
        # (no time is asserted: the 20 s wait is a bound, far above the 3 s lease and far
        # below the old 60 s one)
        c.check(final is not None and final.status == 201,
                "the retry after the kill: %s (%.1f s after the kill)"
                % (final.short() if final else "still 409 after 20 s", took))
        c.check(count(e, "SELECT count(*) FROM orders WHERE tenant_id = %d" % t["id"]) == 1, "not exactly one order")
        c.check(count(e, "SELECT count(*) FROM trades WHERE tenant_id = %d" % t["id"]) == 1, "not exactly one trade")
        a.restart()
    c.done()


def _try(fn):
    try:
        return fn()
    except OSError:
        return None


def test_crash_windows_health_and_failover():
    c = Collector()
    with PrivateEnv("crashwin", extra_env={"SUANLI_MAINTENANCE_MS": "200"}, clock="now") as e:
        e.psql("UPDATE exchange_settings SET heartbeat_timeout_s = 3600")
        region = e.region()
        prov = e.account("provider")
        silent = e.pool(prov["token"], region, gpu_count=16, gpus_per_node=8, price_per_gpu_hour="2.00",
                        available_from=e.hour(1), adapter={"kind": "sim", "config": {"silent": True}})
        r = e.c.post("/v1/pools/%d/heartbeat" % silent["id"], {"healthy_gpus": 16, "utilization_bp": 0},
                     token=prov["token"])
        check(r.status == 200, "heartbeat: %s" % r.short())
        t = e.account("tenant")
        e.deposit(t["id"], "500.00")
        trades = []
        for start in (1, 5):  # one to run now (the clock moves below), one in the future
            r = e.c.post("/v1/orders", {"gpus": 4, "duration_hours": 3, "earliest_start": e.hour(start),
                                        "latest_start": e.hour(start), "regions": [region]}, token=t["token"])
            check(r.status == 201 and r.json["state"] == "filled", "order: %s" % r.short())
            trades.append(r.json["trades"][0])
        running, future = trades
        # TEST-ONLY: the clock moves to the first trade's start so that it runs now (as in
        # test_faults); the pool's heartbeat is at most an hour old, within the timeout
        e.clock(running["start"])
        main = e.servers[0]
        main.stop()

        def crash_at(point):
            s = Srv("crashwin-" + point, e.url, dict(e.extra_env, SUANLI_CRASH_AT=point))
            e.servers.append(s)
            code = _wait_exit(s, 30)
            s.log.close()
            c.check(code == 137, "SUANLI_CRASH_AT=%s: the server exited with %s, expected 137" % (point, code))
            c.check("crash point reached" in s.all_log_text(), "%s: the crash point was not reached" % point)

        # the pool falls silent: a timeout of 10 s, and the clock 20 s on
        e.psql("UPDATE exchange_settings SET heartbeat_timeout_s = 10")
        e.clock("+20 seconds")
        crash_at("health_marked")
        st = e.q1("SELECT status FROM pools WHERE id = %d" % silent["id"])
        c.check(st == "active", "after a crash between marking the pool offline and its refunds the pool is %r:"
                " the status change committed without its refunds" % st)
        c.check(count(e, "SELECT count(*) FROM journal_txns WHERE kind = 'refund'") == 0,
                "a refund committed before the crash")
        # let the next pass mark it (a healthy process), but die after the failover's refund
        crash_at("failover_refunded")
        c.check(count(e, "SELECT count(*) FROM trades WHERE id = %d AND state = 'booked'" % future["id"]) == 1,
                "the future trade is no longer booked after a crash inside its failover")
        main.restart()
        ok = wait_for(lambda: count(e, "SELECT count(*) FROM trades WHERE id = %d AND state = 'failed'"
                                       % future["id"]) == 1
                      and count(e, "SELECT count(*) FROM trades WHERE id = %d AND lost_gpus = 4" % running["id"]) == 1,
                      20)
        c.check(ok, "after the crashes a healthy server did not refund the running trade and fail over the future one:"
                " %s" % e.q("SELECT id, state, lost_gpus, refunded_minor FROM trades ORDER BY id"))
        refunded = count(e, "SELECT refunded_minor FROM trades WHERE id = %d" % running["id"])
        c.check(refunded > 0, "the running trade's lost GPU-hours were not refunded")
        b = e.balances(t["id"])
        total_future = 4 * 3 * 200
        c.check(minor(b["available"]) + minor(b["escrow"]) == 500_00 and
                minor(b["escrow"]) == 4 * 3 * 200 - refunded,
                "tenant money after refunds: %s (running trade refunded %d, future trade %d refunded)"
                % (b, refunded, total_future))
        rc, found = audit_findings(e)
        c.check(not found, "suanlid audit: exit %s, findings %s" % (rc, found[:5]))
    c.done()


def _wait_exit(s, timeout):
    try:
        return s.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait(10)
        return None


def test_auditor_calendar_and_idempotency_mutations():
    c = Collector()
    with PrivateEnv("auditmut") as e:
        region, prov, pool, (t,) = setup_market(e)
        r = e.c.post("/v1/orders", order_body(region, gpus=3), token=t["token"])
        check(r.status == 201 and r.json["state"] == "filled", "order: %s" % r.short())
        rc, found = audit_findings(e)
        c.check(rc == 0 and not found, "before any change: exit %s, findings %s" % (rc, found[:5]))
        slot = e.q("SELECT pool_id, sl_ts(slot) FROM pool_slots WHERE pool_id = %d AND booked > 0 ORDER BY slot LIMIT 1"
                   % pool["id"])[0]
        ident = "%s@%s" % (slot[0], slot[1])

        def expect(label, check_name, table, ident_part):
            rc, found = audit_findings(e)
            hit = [f for f in found if f.get("check") == check_name and f.get("table") == table
                   and ident_part in str(f.get("id"))]
            c.check(rc == 1 and hit, "%s: the audit (exit %s) does not name it: %s" % (label, rc, found[:5]))

        where = "pool_id = %s AND slot = '%s'" % (slot[0], slot[1])
        e.psql("UPDATE pool_slots SET booked = booked - 1 WHERE " + where)
        expect("a slot's booked lowered by hand", "calendar", "pool_slots", ident)
        e.psql("UPDATE pool_slots SET booked = booked + 2 WHERE " + where)
        expect("a slot's booked raised by hand", "calendar", "pool_slots", ident)
        e.psql("UPDATE pool_slots SET booked = booked - 1 WHERE " + where)
        e.psql("DELETE FROM pool_slots WHERE " + where)
        expect("a slot's row deleted", "calendar", "pool_slots", ident)
        e.psql("INSERT INTO pool_slots (pool_id, slot, capacity, booked) VALUES (%s, '%s', 16, 3)" % (slot[0], slot[1]))
        rc, found = audit_findings(e)
        c.check(rc == 0 and not found, "after restoring the slot: exit %s, findings %s" % (rc, found[:5]))
        # idempotency records
        krow = e.q("SELECT key, status, request_id FROM idempotency_keys WHERE account_id = %d AND state = 'done'"
                   " AND status = 201 LIMIT 1" % t["id"])
        check(krow, "no completed idempotency record for the order")
        k, status, rid = krow[0]
        kw = "account_id = %d AND key = '%s'" % (t["id"], k)
        e.psql("UPDATE idempotency_keys SET status = 200 WHERE " + kw)
        expect("a stored reply's status changed", "idempotency", "idempotency_keys", k)
        e.psql("UPDATE idempotency_keys SET status = %s, request_id = 'no-such-request' WHERE %s" % (status, kw))
        expect("a record pointing to a request that never ran", "idempotency", "idempotency_keys", k)
        e.psql("UPDATE idempotency_keys SET request_id = '%s' WHERE %s" % (rid, kw))
        rc, found = audit_findings(e)
        c.check(rc == 0 and not found, "after restoring the record: exit %s, findings %s" % (rc, found[:5]))
    c.done()


def test_crash_window_dispatch_failure():
    """The dispatcher records a terminal failure and refunds the trade in one transaction: a
    crash between the two (SUANLI_CRASH_AT=dispatch_failed) leaves the job leased and the
    trade booked, and the next process that takes the job fails and refunds it."""
    c = Collector()
    with PrivateEnv("dispcrash", extra_env={"SUANLI_CRASH_AT": "dispatch_failed",
                                            "SUANLI_WEBHOOK_ALLOW": "127.0.0.0/8"}) as e:
        region = e.region()
        prov, ten = e.account("provider"), e.account("tenant")
        e.deposit(ten["id"], "100.00")
        # the address guard refuses the metadata address: a terminal failure at once.  Registration
        # refuses it too (issue 16), so the pool is registered with an allowed address and then
        # pointed at the metadata address behind the API's back (TEST-ONLY), as DNS could do.
        p = e.pool(prov["token"], region, gpu_count=8, gpus_per_node=8, price_per_gpu_hour="1.50",
                   adapter={"kind": "webhook", "config": {"url": "http://127.0.0.1:9/hook", "timeout_ms": 1000}})
        e.psql("UPDATE pools SET adapter_config = jsonb_set(adapter_config, '{url}', '\"http://169.254.169.254/hook\"')"
               " WHERE id = %d" % p["id"])
        r = e.c.post("/v1/orders", {"gpus": 2, "duration_hours": 1, "earliest_start": hour(3), "regions": [region]},
                     token=ten["token"])
        check(r.status == 201 and r.json["state"] == "filled", "order: %s" % r.short())
        tr = r.json["trades"][0]
        srv = e.servers[0]
        code = _wait_exit(srv, 30)
        srv.log.close()
        c.check(code == 137 and "crash point reached" in srv.all_log_text(),
                "the server did not stop at the crash point (exit %s)" % code)
        row = e.q("SELECT t.state, t.refunded_minor, j.state FROM trades t JOIN reservations r ON r.trade_id = t.id"
                  " JOIN dispatch_jobs j ON j.reservation_id = r.id AND j.action = 'reserve' WHERE t.id = %d" % tr["id"])
        c.check(row == [["booked", "0", "running"]],
                "after a crash between the job's failure and the refund: (trade, refunded, job) %s, expected the"
                " trade booked, nothing refunded, the job still leased" % row)
        # TEST-ONLY: end the dead worker's lease now instead of waiting its 30 s
        e.psql("UPDATE dispatch_jobs SET lease_until = now() - interval '1 second' WHERE state = 'running'")
        srv.extra_env["SUANLI_CRASH_AT"] = None
        srv.restart()
        t = e.wait_res(tr["id"], ("failed",), 20)
        c.check(t["state"] == "failed" and t["refunded"] == t["total"],
                "after the restart: trade %s refunded %s of %s" % (t["state"], t["refunded"], t["total"]))
        b = e.balances(ten["id"])
        c.check((minor(b["available"]), minor(b["escrow"])) == (100_00, 0), "tenant money %s" % b)
        rc, found = audit_findings(e)
        c.check(rc == 0 and not found, "suanlid audit: exit %s, findings %s" % (rc, found[:5]))
    c.done()


def test_taken_over_claim_is_fenced():
    """A request stalled between its claim and its transaction (SUANLI_STALL_AT) past the
    lease: a retry on another server takes the claim over and executes; the stalled request
    then finds its claim gone, changes nothing and answers 409; the key replays the retry's
    reply.  Exactly one order."""
    c = Collector()
    with PrivateEnv("fence") as e:
        region, prov, pool, (t,) = setup_market(e)
        a = Srv("fence-stalled", e.url, dict(e.extra_env, SUANLI_STALL_AT="idem_claimed:6000"))
        e.servers.append(a)
        a.wait_ready()
        k = key()
        out = {}
        th = threading.Thread(target=_stalled_order, args=(e, a, region, t, k, out))
        th.start()
        time.sleep(3.8)  # past the 3 s lease; the claim is not locked (no transaction yet)
        rb = e.c.req("POST", "/v1/orders", body=order_body(region), token=t["token"], headers={"Idempotency-Key": k})
        th.join(60)
        ra = out.get("r")
        c.check(rb.status == 201, "the retry on the other server did not take the abandoned claim over: %s" % rb.short())
        c.check(ra is not None and ra.status == 409 and (ra.json or {}).get("error") == "idempotency_in_flight"
                and "took the request over" in (ra.json or {}).get("detail", ""),
                "the stalled request whose claim was taken over: %s" % (ra.short() if ra else "no reply"))
        rr = a.client.req("POST", "/v1/orders", body=order_body(region), token=t["token"], headers={"Idempotency-Key": k})
        c.check(rr.status == rb.status and rr.raw == rb.raw, "the key does not replay the retry's reply: %s" % rr.short())
        c.check(count(e, "SELECT count(*) FROM orders WHERE tenant_id = %d" % t["id"]) == 1, "not exactly one order")
        c.check(count(e, "SELECT count(*) FROM trades WHERE tenant_id = %d" % t["id"]) == 1, "not exactly one trade")
        c.check("stall point reached" in a.all_log_text(), "the stall point was not reached")
    c.done()
