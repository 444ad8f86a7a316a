"""Helpers for test_settlement.py (python3 standard library only).

`world()` builds, once per run, a private month of market activity on a database of its own
(created and dropped here, superuser URL from SUANLI_PG_ADMIN_URL as in ledger_util) with a
suanlid of its own on a port in 18800..18899 (SUANLI_KEY_DIR a folder of this run,
SUANLI_MAINTENANCE_MS=200), and closes last calendar month through the API.

How a month of activity gets into last month: the test clock
--------------------------------------------------------------
A period can only be closed after it ends, and activity belongs to the period of its journal
time, so the activity must happen last month.  The world's database runs on a test clock
(schema/014_clock.sql, `suanlid clock set`, TEST-ONLY): switched on before its server first
starts, frozen two days before last month begins, and moved only forward by the set-up; the
server and SQL both take business time from it, so trades, journal, settlements and the signed
ledger carry the moved times as the exchange wrote them (nothing is rewritten or re-signed):

  phase A (from two days before the period): deposits, trades, a withdrawal; the clock moves
      to 1 us before the period and the maintenance worker settles one trade there;
  phase B1 (the clock at the period's first microsecond): a deposit and a withdrawal;
  phase B2 (from a day into the period): trades in four regions, a split order, cancellations
      inside and outside the free window, a silent pool failing over 15 s (of the clock) after
      its heartbeat (refunds, replacement trades, an order refunded with no replacement),
      settlements by the maintenance worker once the clock has passed their ends (21 h on),
      then trades that end in the period but are settled after it, deposits and withdrawals of
      tenants and a provider;
  the server is restarted without workers (SUANLI_WORKERS=0: nothing settles at the month's
      end, as if the workers were down) for phase B3 (the clock at the period's last
      microsecond) and B4 (the next period's first): deposits and a withdrawal, so that both
      ends of the half-open range are exercised to the microsecond;
  the server is stopped, the clock set running at the real time, the server restarted:
      `suanlid audit` must find nothing (the auditor is the judge of a coherent history);
  phase C (after the period, real time): the worker settles what ended (trades of A and B2),
      more deposits, trades, a cancellation and withdrawals.

Ids split the phases (max ids at each boundary).  Only the machinery's own bookkeeping (request
log, Idempotency-Keys, dispatch outbox) keeps real times.

Independent expectations (`period_postings`) come from the raw postings, journal and trades in
SQL aggregated in Python — never from sl_period_lines or the C code.
"""
import calendar
import csv
import datetime
import hashlib
import io
import os
import socket
import subprocess
import time

import harness
import ledger_util as L
from harness import Failed, check
from market_util import minor  # noqa: F401 — used by test_settlement as U.minor

PORTS = range(18800, 18900)
HOUR = 3600
DAY = 86400
US = 1000000


# ---------------------------------------------------------------- small helpers

def pick_port():
    for p in PORTS:
        if not harness.port_ok(p):
            continue
        s = socket.socket()
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", p))
            return p
        except OSError:
            continue
        finally:
            s.close()
    raise Failed("no free port in 18800..18899")


def wait_port_free(port, timeout=10):
    deadline = time.time() + timeout
    while True:
        s = socket.socket()
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            return
        except OSError:
            if time.time() > deadline:
                raise Failed("port %d stays busy" % port)
            time.sleep(0.05)
        finally:
            s.close()


def wait_for(fn, timeout, interval=0.1):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() >= deadline:
            return None
        time.sleep(interval)


def previous_month(epoch):
    """[start, end) epochs of the calendar month (UTC) before the one holding `epoch`."""
    d = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    end = datetime.datetime(d.year, d.month, 1, tzinfo=datetime.timezone.utc)
    py, pm = (d.year - 1, 12) if d.month == 1 else (d.year, d.month - 1)
    start = datetime.datetime(py, pm, 1, tzinfo=datetime.timezone.utc)
    return calendar.timegm(start.timetuple()), calendar.timegm(end.timetuple())


def rfc3339(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_us(epoch_us):
    """RFC 3339 with microseconds, for `suanlid clock set`."""
    return "%s.%06dZ" % (rfc3339(epoch_us // US)[:-1], epoch_us % US)


def epoch_of(s):
    return calendar.timegm(harness.parse_ts(s).timetuple())


def psql_stdin(url, text, timeout=120):
    """Run SQL text (any size) through psql's stdin; returns stdout.  ON_ERROR_STOP."""
    p = subprocess.run([harness.PSQL, url, "-X", "-At", "-q", "-v", "ON_ERROR_STOP=1"], input=text,
                       capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise Failed("psql failed (%s...): %s" % (text[:160], p.stderr.strip()[:800]))
    return p.stdout


def parse_csv(raw):
    """RFC 4180 CSV bytes -> list of rows (lists of str); checks CRLF line ends."""
    text = raw.decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return rows


def sha256_hex(b):
    return hashlib.sha256(b).hexdigest()


# ---------------------------------------------------------------- snapshots of a private database

_snap_sql = {}


def snapshot(url):
    """{table: md5} of every table of `url` but request logs and what workers change on their
    own (the same exclusions as harness.snapshot, on another database).  Tables only, as in
    harness.snapshot: a view is a function of them (and region_rtt, which estimates every
    pair of regions, took seconds per snapshot)."""
    if url not in _snap_sql:
        cols = {}
        for t, c in L.rows(url, "SELECT c.table_name, c.column_name FROM information_schema.columns c"
                                " JOIN pg_tables p ON p.schemaname = c.table_schema AND p.tablename = c.table_name"
                                " WHERE c.table_schema = 'public' ORDER BY c.table_name, c.ordinal_position"):
            cols.setdefault(t, []).append(c)
        parts = []
        for t in sorted(cols):
            if t in harness.SNAPSHOT_EXCLUDE or t in harness.WORKER_TABLES:
                continue
            keep = [c for c in cols[t] if c not in harness.WORKER_COLUMNS.get(t, set())]
            proj = "ROW(%s)::text" % ", ".join(harness.quote_ident(c) for c in keep)
            where = " WHERE " + harness.WORKER_ROWS[t] if t in harness.WORKER_ROWS else ""
            parts.append("SELECT %s, (SELECT md5(coalesce(string_agg(r, '|' ORDER BY r), '')) FROM (SELECT %s AS r"
                         " FROM %s%s) x)" % (harness.quote_lit(t), proj, harness.quote_ident(t), where))
        _snap_sql[url] = " UNION ALL ".join(parts)
    return {t: h for t, h in L.rows(url, _snap_sql[url])}


def snapshot_diff(a, b):
    return sorted(t for t in set(a) | set(b) if a.get(t) != b.get(t))


# ---------------------------------------------------------------- the world

class World:
    """A private database + suanlid + the month of activity (see the module docstring)."""

    def __init__(self, tag="month"):
        self.tag = tag
        self.dbname = L.db_name("stl_" + tag)
        self.url = L.create_db(self.dbname)
        self.su = L.admin_url(self.dbname)
        self.keys = L.key_dir("settle-" + tag)
        self.port = pick_port()
        self.server = None
        self.starts = 0
        self.closed = False
        S, _ = previous_month(time.time())
        L.clock_set(self.url, rfc3339_us((S - 2 * DAY) * US), "--frozen")
        self.start_server()
        self.admin = L.bootstrap_admin(self.url, self.keys)
        self.admin_id = self.get("/v1/me", self.admin)["account"]["id"]
        self.notes = []  # what the set-up did, for messages

    # --- server
    def start_server(self, workers=True):
        wait_port_free(self.port)
        self.starts += 1
        self.server = L.LedgerServer("settle-%s-%d" % (self.tag, self.starts), self.url, self.keys, port=self.port,
                                     extra_env=None if workers else {"SUANLI_WORKERS": "0"})
        self.server.wait_ready()
        self.c = self.server.client

    def stop_server(self):
        self.server.check_stopped_cleanly()

    def close(self, check_exit=True):
        if self.closed:
            return
        self.closed = True
        try:
            if self.server is not None and self.server.proc.poll() is None:
                if check_exit:
                    self.server.check_stopped_cleanly()
                else:
                    self.server.stop()
        finally:
            if not L.keep_dbs():
                L.drop_db(self.dbname)

    # --- HTTP
    def req(self, method, path, body=None, token=None, want=None, **kw):
        r = self.c.req(method, path, body=body, token=token, **kw)
        if want is not None and r.status != want:
            raise Failed("%s (expected %s)" % (r.short(), want))
        return r

    def get(self, path, token):
        return self.req("GET", path, token=token, want=200).json

    def post(self, path, body, token, want=201):
        return self.req("POST", path, body=body, token=token, want=want).json

    # --- SQL
    def q(self, sql):
        return L.rows(self.url, sql)

    def q1(self, sql):
        return L.one(self.url, sql)

    def su_sql(self, sql):
        """TEST-ONLY: superuser SQL with triggers and foreign keys off (session_replication_role =
        replica) — used only to change a row behind the exchange's back (the auditor's test)."""
        return psql_stdin(self.su, "BEGIN;\nSET LOCAL session_replication_role = replica;\n%s\nCOMMIT;\n" % sql)

    # --- the test clock (TEST-ONLY: see the module docstring)
    def clock(self, spec, mode=None):
        """Move the world's clock (forward only) to SPEC (epoch microseconds, or a string for
        `suanlid clock set`); every dispatch job is done first, so no reservation's deadline is
        jumped over.  Returns the new business time in epoch microseconds."""
        if self.server is not None and self.server.proc.poll() is None:
            self.quiet_dispatch()
        L.clock_set(self.url, rfc3339_us(spec) if isinstance(spec, int) else spec, mode)
        return L.clock_now_us(self.url)

    def hour(self, offset_hours=0):
        """RFC 3339 of the whole hour `offset_hours` after the world's current one."""
        return L.clock_hour(self.url, offset_hours)

    # --- API shorthands
    def account(self, kind, name, regions=None):
        body = {"kind": kind, "name": name}
        if regions is not None:
            body["regions"] = regions
        acc = self.post("/v1/accounts", body, self.admin)
        tok = self.post("/v1/accounts/%d/tokens" % acc["id"], {}, self.admin)
        return {"id": acc["id"], "name": name, "kind": kind, "token": tok["token"]}

    def deposit(self, acct, amount, memo="e2e"):
        return self.post("/v1/accounts/%d/deposits" % acct["id"], {"amount": amount, "memo": memo}, self.admin)

    def withdraw(self, acct, amount, memo="payout"):
        return self.post("/v1/accounts/%d/withdrawals" % acct["id"], {"amount": amount, "memo": memo}, acct["token"])

    def pool(self, prov, region, price, gpus=16, silent=False, **over):
        body = {"name": "st-%s-%s-%d" % (self.tag, region, len(self.pools)), "region": region,
                "accelerator": "H100-SXM", "gpu_count": gpus, "gpus_per_node": 8, "intra_node": "nvlink",
                "inter_node": "infiniband", "inter_node_gbps": 400, "price_per_gpu_hour": price,
                "available_from": self.hour(1), "available_until": rfc3339((int(time.time()) // HOUR + 24 * 20) * HOUR),
                "adapter": {"kind": "sim", "config": {"silent": True} if silent else {}}}
        body.update(over)
        p = self.post("/v1/pools", body, prov["token"])
        self.pools.append(p)
        return p

    def buy(self, tenant, region, gpus, hours, start_h, want_trades=1, **extra):
        body = {"gpus": gpus, "duration_hours": hours, "earliest_start": self.hour(start_h), "regions": [region]}
        body.update(extra)
        o = self.post("/v1/orders", body, tenant["token"])
        if o["state"] != "filled" or len(o["trades"]) != want_trades:
            raise Failed("set-up order %s: state %s, %d trade(s), expected filled with %d"
                         % (body, o["state"], len(o["trades"]), want_trades))
        return o

    def cancel(self, tenant, trade_id):
        return self.post("/v1/trades/%d/cancel" % trade_id, None, tenant["token"], want=200)

    def trade(self, tid):
        return self.get("/v1/trades/%d" % tid, self.admin)

    def settings(self, **kw):
        return self.req("PUT", "/v1/exchange/settings", body=kw, token=self.admin, want=200).json

    def wait_settled(self, trade_ids, timeout=10):
        """The maintenance worker settles these trades (the clock has passed their ends)."""
        ids = harness_ids(trade_ids)
        ok = wait_for(lambda: self.q1("SELECT count(*) FROM trades WHERE id IN %s AND state = 'settled'" % ids)
                      == str(len(trade_ids)), timeout, 0.1)
        if not ok:
            raise Failed("the maintenance worker did not settle trades %s within %d s: %s" % (
                trade_ids, timeout, self.q("SELECT id, state, end_at FROM trades WHERE id IN %s" % ids)))

    def quiet_dispatch(self, timeout=15):
        """No dispatch job queued or running."""
        ok = wait_for(lambda: self.q1("SELECT count(*) FROM dispatch_jobs WHERE state IN ('queued', 'running')")
                      == "0", timeout, 0.1)
        if not ok:
            raise Failed("dispatch jobs still pending after %ss: %s" % (timeout, self.q(
                "SELECT id, action, state, attempts, last_error FROM dispatch_jobs WHERE state IN ('queued', 'running')")))

    def quiet(self, timeout=15):
        """No dispatch job queued, no book event, every ledger entry sequenced."""
        ok = wait_for(lambda: self.q1("SELECT (SELECT count(*) FROM dispatch_jobs WHERE state = 'queued')"
                                      " + (SELECT count(*) FROM book_events)") == "0", timeout, 0.1)
        if not ok:
            raise Failed("dispatch jobs or book events still pending after %ss" % timeout)
        L.wait_sequenced(self.c, self.url, self.admin, timeout)

    def boundary(self, prev=None):
        """Max ids now, and the first / last journal time (epoch microseconds) of the journal
        transactions after `prev`'s."""
        r = self.q("SELECT (SELECT coalesce(max(id), 0) FROM journal_txns), (SELECT coalesce(max(id), 0) FROM trades)")[0]
        b = {"txn": int(r[0]), "trade": int(r[1])}
        lo = prev["txn"] if prev else 0
        mm = self.q("SELECT (extract(epoch FROM min(created_at)) * 1000000)::bigint,"
                    " (extract(epoch FROM max(created_at)) * 1000000)::bigint FROM journal_txns WHERE id > %d AND id <= %d"
                    % (lo, b["txn"]))[0]
        check(mm[0] != "", "phase ending at journal transaction %d wrote no journal transaction" % b["txn"])
        b["min_us"], b["max_us"] = int(mm[0]), int(mm[1])
        return b


def harness_ids(ids):
    ids = [int(i) for i in ids]
    return "(%s)" % ",".join(str(i) for i in ids) if ids else "(NULL)"


# ---------------------------------------------------------------- building the month

def build(w):
    """Phases A, B, C and the close of last month (see the module docstring).  Sets on w:
    S, E (the period), the actors, trade ids by role, period (the POST reply)."""
    tag = w.tag
    run = harness.RUN
    w.pools = []
    S, E = previous_month(time.time())
    w.S, w.E = S, E
    # the clock stands at S - 2 days (World.__init__): the market is set up there
    w.settings(fee_bp=250, cancel_free_hours=24, cancel_charge_bp=1000)
    codes = ["st%s-eu" % run, "st%s-us" % run, "st%s-edge" % run, "st%s-fo" % run]
    tiers = ["cloud", "cloud", "edge", "cloud"]
    for code, tier in zip(codes, tiers):
        w.post("/v1/regions", {"code": code, "name": "Settlement " + code, "tier": tier}, w.admin)
    w.regions = codes
    r0, r1, r2, r3 = codes
    w.operators = [w.account("operator", "st-%s-op0-%s" % (tag, run), regions=[r0, r1]),
                   w.account("operator", "st-%s-op1-%s" % (tag, run), regions=[r2]),
                   w.account("operator", "st-%s-op2-%s" % (tag, run), regions=[r3])]
    P = [w.account("provider", "st-%s-p%d-%s" % (tag, i, run)) for i in range(3)]
    T = [w.account("tenant", "st-%s-t%d-%s" % (tag, i, run)) for i in range(6)]
    w.providers, w.tenants = P, T
    w.pool(P[0], r0, "2.37")
    w.pool(P[1], r0, "2.90")
    w.pool(P[0], r1, "1.85")
    w.pool(P[2], r2, "2.75", gpus=8)
    w.pool(P[1], r2, "3.10", gpus=8)
    w.pool(P[0], r3, "1.60")  # the failover target
    w.settled_by_worker, w.cancelled_free, w.cancelled_charged = [], [], []

    # ---- phase A: two days before the period; its last transaction 1 us before it
    for t in T:
        w.deposit(t, "5000.00", "opening deposit")
    a1 = w.buy(T[0], r0, 2, 3, 2)["trades"][0]["id"]
    w.buy(T[1], r1, 4, 2, 144)                     # booked before the period, ends in it, settled after it
    w.buy(T[2], r2, 1, 1, 150)                     # the same
    w.withdraw(T[3], "100.00", "tenant withdrawal before the period")
    w.clock(S * US - 1)                            # a1 has ended: the worker settles it there
    w.wait_settled([a1])
    w.settled_by_worker.append(a1)
    w.quiet()
    bA = w.boundary()

    # ---- phase B1: at the period's first microsecond
    w.clock(S * US)
    w.deposit(T[5], "1.23", "first microsecond of the period")
    w.withdraw(T[5], "0.23", "early withdrawal")
    bB1 = w.boundary(bA)

    # ---- phase B2: the month's market, from a day into the period
    w.clock((S + DAY) * US)
    fa = w.pool(P[2], r3, "1.10", silent=True)
    w.settings(heartbeat_timeout_s=10)
    w.post("/v1/pools/%d/heartbeat" % fa["id"], {"healthy_gpus": 16, "utilization_bp": 0}, P[2]["token"], want=200)
    fo1 = w.buy(T[3], r3, 4, 2, 3)
    fo2 = w.buy(T[4], r3, 2, 3, 6)
    fo3 = w.buy(T[5], r3, 2, 1, 4, max_price_per_gpu_hour="1.20")  # only the silent pool fits
    for o in (fo1, fo2, fo3):
        check(o["trades"][0]["pool_id"] == fa["id"], "failover set-up order did not land on the silent pool: %s" % o)
    w.failover_orders = [fo1["id"], fo2["id"], fo3["id"]]
    w.failed_trades = [o["trades"][0]["id"] for o in (fo1, fo2, fo3)]
    w.deposit(T[0], "250.00", 'top-up, "Q3" 预付')
    b4 = w.buy(T[0], r0, 3, 2, 30)["trades"][0]["id"]
    b5 = w.buy(T[1], r1, 4, 3, 3)["trades"][0]["id"]
    c1 = w.cancel(T[0], b4)
    c2 = w.cancel(T[1], b5)
    check(c1["cancellation_charge"] == "0.00" and c2["cancellation_charge"] != "0.00",
          "cancellation charges %s / %s, expected free then charged" % (c1["cancellation_charge"], c2["cancellation_charge"]))
    w.cancelled_free.append(b4)
    w.cancelled_charged.append(b5)
    split = w.buy(T[2], r0, 20, 1, 12, want_trades=2, placement="split")
    b7 = w.buy(T[4], r2, 2, 2, 2)["trades"][0]["id"]
    b9 = w.buy(T[0], r2, 8, 1, 20)["trades"][0]["id"]
    settle = [tr["id"] for tr in split["trades"]] + [b7, b9]

    # the silent pool goes offline when the clock is 15 s past its heartbeat; its trades fail over
    w.clock("+15 seconds")

    def failed_over():
        st = w.q("SELECT state FROM trades WHERE id IN %s" % harness_ids(w.failed_trades))
        return all(s == ["failed"] for s in st) and len(st) == 3
    if not wait_for(failed_over, 25, 0.2):
        raise Failed("the silent pool's trades did not fail over within 25 s: %s"
                     % w.q("SELECT id, state FROM trades WHERE id IN %s" % harness_ids(w.failed_trades)))
    w.replacements = [int(x[0]) for x in w.q("SELECT id FROM trades WHERE replaces_trade_id IN %s ORDER BY id"
                                               % harness_ids(w.failed_trades))]
    check(len(w.replacements) == 2, "failover replacement trades %s, expected 2" % w.replacements)
    w.settings(heartbeat_timeout_s=300)
    # 21 h on, these (and the replacements) have ended: the worker settles them
    w.clock((S + DAY + 21 * HOUR) * US)
    w.wait_settled(settle)
    w.settled_by_worker += settle
    w.buy(T[5], r1, 1, 5, 10)                      # booked in the period, settled after it
    w.buy(T[3], r0, 1, 4, 40)                      # booked in the period, settled after it
    w.withdraw(T[1], "77.70")
    w.withdraw(P[0], "5.00", "provider payout")
    w.quiet()
    bB2 = w.boundary(bB1)

    # ---- phases B3 (the period's last microsecond) and B4 (the next one's first), no workers
    w.stop_server()
    w.start_server(workers=False)
    w.clock(E * US - 1)
    w.deposit(T[4], "2.00", "late deposit")
    w.withdraw(T[4], "1.00", "last microsecond of the period")
    bB3 = w.boundary(bB2)
    w.clock(E * US)
    w.deposit(T[4], "3.00", "first microsecond after the period")
    bB4 = w.boundary(bB3)
    w.stop_server()

    # ---- back to the real time (the clock running), the workers on: the auditor's judgement
    w.clock("now", "--running")
    w.start_server()
    rc, findings, err = L.audit(w.url, w.keys)
    if rc != 0 or findings:
        raise Failed("set-up: after the month on the test clock, suanlid audit exit %s with %d finding(s): %s %s"
                     % (rc, len(findings), findings[:8], err[-300:]))
    # the clock did what it should: A ends 1 us before the period, B1 starts at its first
    # microsecond, B3 ends at its last, B4 starts at the next period's first; B2's trades end in it
    got = []
    lo = 0
    for b in (bA, bB1, bB2, bB3, bB4):
        r = w.q("SELECT (extract(epoch FROM min(created_at)) * 1000000)::bigint,"
                " (extract(epoch FROM max(created_at)) * 1000000)::bigint FROM journal_txns WHERE id > %d AND id <= %d"
                % (lo, b["txn"]))[0]
        got.append((int(r[0]), int(r[1])))
        lo = b["txn"]
    check(got[0][1] == S * US - 1 and got[1][0] == S * US and S * US <= got[2][0] and got[2][1] < got[3][0]
          and got[3][1] == E * US - 1 and got[4][0] == E * US,
          "set-up: phase journal spans (us) %s around the period [%d, %d)" % (got, S * US, E * US))
    check(int(w.q1("SELECT max(extract(epoch FROM end_at))::bigint FROM trades WHERE id <= %d" % bB4["trade"])) < E,
          "set-up: a trade of the period ends after it")

    # ---- phase C (real time, after the period)
    def all_settled():
        return w.q1("SELECT count(*) FROM trades WHERE state = 'booked' AND end_at <= sl_now()") == "0"
    if not wait_for(all_settled, 15, 0.2):
        raise Failed("the maintenance worker left ended trades unsettled: %s"
                     % w.q("SELECT id, end_at FROM trades WHERE state = 'booked' AND end_at <= sl_now()"))
    w.deposit(T[0], "99.99", "after the period")
    w.buy(T[2], r1, 2, 1, 3)
    c3 = w.buy(T[4], r0, 1, 1, 30)["trades"][0]["id"]
    w.cancel(T[4], c3)
    w.withdraw(T[3], "5.00")
    w.withdraw(P[1], "1.00", "provider payout after the period")
    w.quiet()

    # ---- close last month (POST {} = the previous calendar month)
    body = {} if previous_month(time.time()) == (S, E) else {"start": rfc3339(S), "end": rfc3339(E)}
    w.close_key = "settle-close-%s" % run
    w.close_body = body
    r = w.req("POST", "/v1/periods", body=body, token=w.admin, headers={"Idempotency-Key": w.close_key})
    w.close_reply = r
    if r.status != 201:
        raise Failed("closing last month: %s" % r.short())
    w.period = r.json
    w.all_accounts = T + P + w.operators + [{"id": w.admin_id, "kind": "admin", "token": w.admin, "name": "admin"}]
    return w


_world = None
_world_error = None


def world():
    global _world, _world_error
    if _world_error is not None:
        raise Failed("the settlement world failed to build: %s" % _world_error)
    if _world is None:
        w = None
        try:
            w = World()
            build(w)
            _world = w
        except Exception as e:  # noqa: BLE001 — reported once; every later test fails fast
            _world_error = str(e)[:2000]
            if w is not None:
                try:
                    w.close(check_exit=False)
                except Exception:  # noqa: BLE001
                    pass
            raise
    return _world


def close_world():
    """Stop the private server (exit 0, clean JSON log required) and drop its database."""
    if _world is not None:
        _world.close(check_exit=True)


# ---------------------------------------------------------------- independent expectations

class Line:
    __slots__ = ("account", "kind_of_account", "txn", "at", "kind", "trade", "pool", "region", "gpu_hours",
                 "avail", "escrow", "fee", "memo", "tenant", "provider")


def period_postings(url, start, end):
    """{(owner or 0, txn): Line} from the raw postings whose journal time is in [start, end):
    the independent model of every statement and export line."""
    rows = L.rows(url, """
        SELECT coalesce(la.owner_id, 0), coalesce(a.kind, 'exchange'), la.purpose, p.amount, j.id,
               floor(extract(epoch FROM j.created_at))::bigint, j.kind, coalesce(j.trade_id, 0),
               encode(convert_to(j.memo, 'UTF8'), 'hex'), coalesce(t.pool_id, 0), coalesce(t.region, ''),
               coalesce(t.gpus, 0), coalesce(extract(epoch FROM t.end_at - t.start_at)::bigint / 3600, 0),
               coalesce(t.unit_price_minor, 0), coalesce(t.total_minor, 0), coalesce(t.refunded_minor, 0),
               coalesce(t.tenant_id, 0), coalesce(t.provider_id, 0)
          FROM postings p JOIN journal_txns j ON j.id = p.txn_id
          JOIN ledger_accounts la ON la.id = p.ledger_account_id
          LEFT JOIN accounts a ON a.id = la.owner_id
          LEFT JOIN trades t ON t.id = j.trade_id
         WHERE j.created_at >= to_timestamp(%d) AND j.created_at < to_timestamp(%d)""" % (start, end))
    lines, fees = {}, {}
    for (owner, akind, purpose, amount, txn, at, kind, trade, memo, pool, region, gpus, hours, unit, total,
         refunded, tenant, provider) in rows:
        key = (int(owner), int(txn))
        ln = lines.get(key)
        if ln is None:
            ln = Line()
            ln.account, ln.kind_of_account, ln.txn, ln.at, ln.kind = int(owner), akind, int(txn), int(at), kind
            ln.trade, ln.pool, ln.region = int(trade), int(pool), region
            # delivered GPU-hours of a settlement: what was paid for, net of refunds
            ln.gpu_hours = (int(total) - int(refunded)) // int(unit) if kind == "settlement" else 0
            ln.avail = ln.escrow = 0
            ln.memo = bytes.fromhex(memo).decode("utf-8")
            ln.tenant, ln.provider = int(tenant), int(provider)
            lines[key] = ln
        if purpose == "escrow":
            ln.escrow += int(amount)
        else:
            ln.avail += int(amount)
        if purpose == "fees":
            fees[int(txn)] = fees.get(int(txn), 0) + int(amount)
    for ln in lines.values():
        ln.fee = fees.get(ln.txn, 0)
    return lines


def balances_before(url, owner, at):
    """(available-side, escrow) sums of an owner's postings with journal time before `at`."""
    r = L.rows(url, "SELECT coalesce(sum(p.amount) FILTER (WHERE la.purpose <> 'escrow'), 0),"
                    " coalesce(sum(p.amount) FILTER (WHERE la.purpose = 'escrow'), 0)"
                    " FROM postings p JOIN journal_txns j ON j.id = p.txn_id"
                    " JOIN ledger_accounts la ON la.id = p.ledger_account_id"
                    " WHERE coalesce(la.owner_id, 0) = %d AND j.created_at < to_timestamp(%d)" % (owner, at))[0]
    return int(r[0]), int(r[1])


def stored_balances(url, owner):
    """(available-side, escrow) of the stored ledger_accounts balances (not postings)."""
    r = L.rows(url, "SELECT coalesce(sum(balance) FILTER (WHERE purpose <> 'escrow'), 0),"
                    " coalesce(sum(balance) FILTER (WHERE purpose = 'escrow'), 0)"
                    " FROM ledger_accounts WHERE coalesce(owner_id, 0) = %d" % owner)[0]
    return int(r[0]), int(r[1])


def expected_totals(lines, kind, refunds_borne=0):
    """The statement totals an account of `kind` must show, from its independent lines."""
    t = dict(deposits=0, withdrawals=0, charges=0, refunds=0, settled=0, payouts=0, platform_fees=0,
             delivered_gpu_hours=0, lines=len(lines))
    for ln in lines:
        if ln.kind == "deposit":
            t["deposits"] += ln.avail
        elif ln.kind == "withdrawal":
            t["withdrawals"] += ln.avail  # the sum of the lines: negative for the account
        elif ln.kind == "trade":
            t["charges"] += ln.escrow
        elif ln.kind == "settlement":
            t["settled"] -= ln.escrow
            t["delivered_gpu_hours"] += ln.gpu_hours
        if ln.kind in ("refund", "cancellation") and kind == "tenant":
            t["refunds"] += ln.avail
        if kind == "provider" and ln.kind in ("settlement", "refund", "cancellation"):
            t["payouts"] += ln.avail
            t["platform_fees"] += ln.fee
        if kind == "exchange" and ln.kind in ("settlement", "refund", "cancellation"):
            t["platform_fees"] += ln.fee  # what the exchange earned
    # a provider earns payouts + fees; the exchange earns its fees; a tenant earns nothing
    t["gross_earnings"] = t["payouts"] + t["platform_fees"] if kind in ("provider", "exchange") else 0
    t["refunds_borne"] = refunds_borne
    return t


# ---------------------------------------------------------------- exports

def export_files(folder, name, resp, keys_json):
    """Write body, SIG.json (from the headers) and KEYS.json; returns their paths."""
    os.makedirs(folder, exist_ok=True)
    body = os.path.join(folder, name)
    with open(body, "wb") as f:
        f.write(resp.raw)
    sig = L.write_json(folder, name + ".sig.json", {"key_id": resp.headers.get("x-suanli-key-id"),
                                                    "signature": resp.headers.get("x-suanli-signature"),
                                                    "sha256": resp.headers.get("x-suanli-sha256")})
    keys = L.write_json(folder, "keys.json", keys_json)
    return body, sig, keys


def export_problems(resp, folder, name, keys_json, flip=True):
    """The export's headers, digest and signature: suanli-verify accepts it; a flipped byte fails."""
    p = []
    h = resp.headers
    for k in ("x-suanli-sha256", "x-suanli-key-id", "x-suanli-signature"):
        if not h.get(k):
            p.append("%s: no %s header" % (name, k))
    if p:
        return p
    if h["x-suanli-sha256"] != sha256_hex(resp.raw):
        p.append("%s: X-Suanli-Sha256 %s is not the SHA-256 of the body %s" % (name, h["x-suanli-sha256"],
                                                                               sha256_hex(resp.raw)))
    body, sig, keys = export_files(folder, name, resp, keys_json)
    rc, out = L.verify("file", body, sig, keys)
    if rc != 0:
        p.append("%s: suanli-verify file exit %d: %s" % (name, rc, out.strip()[:300]))
    if flip and resp.raw:
        bad = bytearray(resp.raw)
        bad[len(bad) // 2] ^= 0x01
        bad_path = os.path.join(folder, name + ".flipped")
        with open(bad_path, "wb") as f:
            f.write(bad)
        rc, out = L.verify("file", bad_path, sig, keys)
        if rc != 1:
            p.append("%s: suanli-verify accepted (exit %d) the export with one flipped byte: %s"
                     % (name, rc, out.strip()[:200]))
    return p
