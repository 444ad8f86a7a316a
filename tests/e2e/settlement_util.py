"""Helpers for test_settlement.py (python3 standard library only).

`world()` builds, once per run, a private month of market activity on a database of its own
(created and dropped here, superuser URL from SUANLI_PG_ADMIN_URL as in ledger_util) with a
suanlid of its own on a port in 18800..18899 (SUANLI_KEY_DIR a folder of this run,
SUANLI_MAINTENANCE_MS=200), and closes last calendar month through the API.

How a month of activity gets into last month (TEST-ONLY, and why it is honest)
-------------------------------------------------------------------------------
A period can only be closed after it ends and activity belongs to the period of its journal
time, so a test must write history in the past.  The API cannot do that (orders start in the
future, the journal takes the database clock), so the activity is made through the API now and
then *the whole clock-dependent world is moved back consistently*, as the exchange itself (the
holder of the signing key) would have written it a month ago:

  phase A (just before the period): deposits, trades, a withdrawal, one settlement by the worker;
  phase B1 (the period's first microseconds): a deposit and a withdrawal;
  phase B2 (inside the period, from its second day): trades in four regions, a split order,
      cancellations inside and outside the free window, a silent pool failing over (refunds,
      replacement trades, an order refunded with no replacement), settlements by the maintenance
      worker, deposits and withdrawals of tenants and a provider;
  phase B3 (the period's last microseconds) and B4 (the next period's first): deposits and a
      withdrawal, so that both ends of the half-open range are exercised to the microsecond;
  the server is stopped; every row of each phase is moved back by that phase's shift (chosen so
      that A's last journal transaction lands 1 us before the period, B1's first exactly on its
      start, B3's last 1 us before its end and B4's first exactly on its end): journal times;
      trades' created_at, settled_at, cancelled_at, and their windows by the shift rounded down
      to whole hours (windows stay on calendar slots and still start after the booking); orders;
      reservations, their events, dispatch jobs and the simulated cluster; ledger_entries;
      accounts, tokens, regions and pools by creation time; pools' availability; the calendar
      (pool_slots) is rebuilt from the trades; then every ledger record carrying a moved time is
      re-encoded with the new time and re-signed with the exchange's own key (read from
      SUANLI_KEY_DIR), leaf hashes and the hash chain are recomputed, every checkpoint is
      re-signed over the new roots, and the key's valid_from is moved before the oldest record;
  the server is restarted: `suanlid audit` must find nothing (the rewrite is coherent, and the
      auditor, not this helper, is the judge of that);
  phase C (after the period, real time): the worker settles what ended (trades of A and B2),
      more deposits, trades, a cancellation and withdrawals.

Ids split the phases (max ids at each boundary), not times, because the set-up itself moves
some trades back a few hours before the maintenance worker settles them (as test_market does).
The only things left at their real time are audit_log and idempotency_keys (request logs).

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
import struct
import subprocess
import time

import harness
import ledger_util as L
from harness import Failed, check
from market_util import minor  # noqa: F401 — used by test_settlement as U.minor

PORTS = range(18800, 18900)
HOUR = 3600
DAY = 86400


# ---------------------------------------------------------------- small helpers

def pick_port():
    for p in PORTS:
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


def epoch_of(s):
    return calendar.timegm(harness.parse_ts(s).timetuple())


def psql_stdin(url, text, timeout=120):
    """Run SQL text (any size) through psql's stdin; returns stdout.  ON_ERROR_STOP."""
    p = subprocess.run(["psql", url, "-X", "-At", "-q", "-v", "ON_ERROR_STOP=1"], input=text,
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
    own (the same exclusions as harness.snapshot, on another database)."""
    if url not in _snap_sql:
        cols = {}
        for t, c in L.rows(url, "SELECT table_name, column_name FROM information_schema.columns"
                                " WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"):
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
        self.start_server()
        self.admin = L.bootstrap_admin(self.url, self.keys)
        self.admin_id = self.get("/v1/me", self.admin)["account"]["id"]
        self.notes = []  # what the set-up did, for messages

    # --- server
    def start_server(self):
        wait_port_free(self.port)
        self.starts += 1
        self.server = L.LedgerServer("settle-%s-%d" % (self.tag, self.starts), self.url, self.keys, port=self.port)
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
        replica) — used only to move set-up rows in time, never by a check."""
        return psql_stdin(self.su, "BEGIN;\nSET LOCAL session_replication_role = replica;\n%s\nCOMMIT;\n" % sql)

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
                "available_from": harness.hour(1), "available_until": harness.hour(24 * 20),
                "adapter": {"kind": "sim", "config": {"silent": True} if silent else {}}}
        body.update(over)
        p = self.post("/v1/pools", body, prov["token"])
        self.pools.append(p)
        return p

    def buy(self, tenant, region, gpus, hours, start_h, want_trades=1, **extra):
        body = {"gpus": gpus, "duration_hours": hours, "earliest_start": harness.hour(start_h), "regions": [region]}
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

    def move_to_past_and_settle(self, trade_ids):
        """TEST-ONLY (as test_market.test_settlement_by_maintenance_worker): a trade cannot end
        during a test, so each trade (its window, its creation and its booking journal
        transaction) is moved back by whole hours to end before the current hour (the trades one
        after the other, so that moved trades never overlap on a pool), its calendar booking
        released; then the maintenance worker must settle it."""
        ids = harness_ids(trade_ids)
        self.su_sql(
            "CREATE TEMP TABLE mv AS SELECT id, end_at - (date_trunc('hour', now()) - interval '1 hour'"
            "  - coalesce(sum(end_at - start_at + interval '1 hour') OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING"
            "  AND 1 PRECEDING), interval '0')) AS k FROM trades WHERE id IN %s;\n"
            "SELECT sl_unbook(pool_id, start_at, end_at, gpus) FROM trades WHERE id IN %s;\n"
            "UPDATE trades t SET start_at = t.start_at - mv.k, end_at = t.end_at - mv.k, created_at = t.created_at - mv.k"
            "  FROM mv WHERE mv.id = t.id;\n"
            "UPDATE journal_txns j SET created_at = j.created_at - mv.k FROM mv"
            "  WHERE j.trade_id = mv.id AND j.kind = 'trade';\n" % (ids, ids))
        ok = wait_for(lambda: self.q1("SELECT count(*) FROM trades WHERE id IN %s AND state = 'settled'" % ids)
                      == str(len(trade_ids)), 10, 0.1)
        if not ok:
            raise Failed("the maintenance worker did not settle trades %s within 10 s: %s" % (
                trade_ids, self.q("SELECT id, state, end_at FROM trades WHERE id IN %s" % ids)))

    def quiet(self, timeout=15):
        """No dispatch job queued, no book event, every ledger entry sequenced."""
        ok = wait_for(lambda: self.q1("SELECT (SELECT count(*) FROM dispatch_jobs WHERE state = 'queued')"
                                      " + (SELECT count(*) FROM book_events)") == "0", timeout, 0.1)
        if not ok:
            raise Failed("dispatch jobs or book events still pending after %ss" % timeout)
        L.wait_sequenced(self.c, self.url, self.admin, timeout)

    def boundary(self, prev=None):
        """Max ids now, the clock, and the first / last journal time (epoch microseconds) of the
        journal transactions after `prev`'s."""
        r = self.q("SELECT (SELECT coalesce(max(id), 0) FROM journal_txns), (SELECT coalesce(max(id), 0) FROM trades),"
                   " (SELECT coalesce(max(id), 0) FROM orders), (SELECT coalesce(max(id), 0) FROM ledger_entries),"
                   " (extract(epoch FROM clock_timestamp()) * 1000000)::bigint")[0]
        b = {"txn": int(r[0]), "trade": int(r[1]), "order": int(r[2]), "entry": int(r[3]), "t_us": int(r[4])}
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


# ---------------------------------------------------------------- moving history (TEST-ONLY)

US = 1000000
HOUR_US = HOUR * US


def _by_id(col, phases, key, hours=False):
    """The shift (an interval) of a row by its id: the phase whose max id covers it; the trade
    windows (hours=True) move by the shift rounded down to whole hours."""
    whens = " ".join("WHEN %s <= %d THEN %d" % (col, ph["b"][key], (ph["d"] // HOUR_US * HOUR_US) if hours else ph["d"])
                     for ph in phases)
    return "(CASE %s ELSE 0 END) * interval '1 microsecond'" % whens


def _by_time(col, phases):
    """The shift of a row by its real time: the phase that was running when it was written."""
    whens = " ".join("WHEN %s <= to_timestamp(%d / 1000000.0) THEN %d" % (col, ph["b"]["t_us"], ph["d"]) for ph in phases)
    return "(CASE %s ELSE 0 END) * interval '1 microsecond'" % whens


def rewrite_history(w, phases):
    """Move every row of each phase back by its shift `d` (microseconds; trade windows by `d`
    rounded down to whole hours, so that they stay on the calendar's slots and a trade is still
    booked before its window), rebuild the calendar, then re-sign the ledger.  `phases`: in
    order, {"b": boundary at the phase's end, "d": shift}.  The server must be stopped.  TEST-ONLY."""
    last = phases[-1]["b"]
    earliest = max(ph["d"] for ph in phases)
    sql = [
        "UPDATE journal_txns SET created_at = created_at - %s WHERE id <= %d;" % (_by_id("id", phases, "txn"), last["txn"]),
        "CREATE TEMP TABLE tshift AS SELECT id AS tid, %s AS d, %s AS dh FROM trades WHERE id <= %d;"
        % (_by_id("id", phases, "trade"), _by_id("id", phases, "trade", hours=True), last["trade"]),
        "UPDATE trades t SET created_at = t.created_at - s.d, start_at = t.start_at - s.dh, end_at = t.end_at - s.dh,"
        " settled_at = t.settled_at - s.d, cancelled_at = t.cancelled_at - s.d FROM tshift s WHERE s.tid = t.id;",
        "UPDATE orders o SET created_at = o.created_at - s.d, updated_at = o.updated_at - s.d, filled_at = o.filled_at - s.d,"
        " earliest_start = o.earliest_start - s.dh, latest_start = o.latest_start - s.dh, expires_at = o.expires_at - s.d"
        " FROM (SELECT id AS oid, %s AS d, %s AS dh FROM orders WHERE id <= %d) s WHERE s.oid = o.id;"
        % (_by_id("id", phases, "order"), _by_id("id", phases, "order", hours=True), last["order"]),
        "UPDATE reservations r SET created_at = r.created_at - s.d, updated_at = r.updated_at - s.d"
        " FROM tshift s WHERE s.tid = r.trade_id;",
        "UPDATE reservation_events e SET at = e.at - s.d FROM reservations r, tshift s"
        " WHERE e.reservation_id = r.id AND s.tid = r.trade_id;",
        "UPDATE dispatch_jobs j SET next_attempt_at = j.next_attempt_at - s.d, deadline = j.deadline - s.d,"
        " created_at = j.created_at - s.d, updated_at = j.updated_at - s.d, done_at = j.done_at - s.d"
        " FROM reservations r, tshift s WHERE j.reservation_id = r.id AND s.tid = r.trade_id;",
        "UPDATE sim_cluster_reservations c SET start_at = c.start_at - s.dh, end_at = c.end_at - s.dh,"
        " created_at = c.created_at - s.d FROM reservations r, tshift s WHERE c.reservation_id = r.id AND s.tid = r.trade_id;",
        "UPDATE ledger_entries SET created_at = created_at - %s WHERE id <= %d;" % (_by_id("id", phases, "entry"), last["entry"]),
        "UPDATE ledger_checkpoints SET signed_at = signed_at - %s;" % _by_time("signed_at", phases),
        "UPDATE accounts SET created_at = created_at - %s;" % _by_time("created_at", phases),
        "UPDATE api_tokens SET created_at = created_at - %s;" % _by_time("created_at", phases),
        "UPDATE regions SET created_at = created_at - %s;" % _by_time("created_at", phases),
        "UPDATE pools SET created_at = created_at - %s, available_from = available_from - %d * interval '1 microsecond';"
        % (_by_time("created_at", phases), earliest // HOUR_US * HOUR_US),
        "UPDATE exchange_keys SET valid_from = valid_from - %d * interval '1 microsecond';" % (earliest + 7 * DAY * US),
        # the calendar is a function of the trades: rebuild it at the trades' new times
        "DELETE FROM pool_slots;",
        "INSERT INTO pool_slots(pool_id, slot, capacity, booked) SELECT t.pool_id, s, p.gpu_count, sum(t.gpus)"
        " FROM trades t JOIN pools p ON p.id = t.pool_id,"
        " generate_series(t.start_at, t.end_at - interval '1 hour', interval '1 hour') s"
        " WHERE t.state IN ('booked', 'settled') GROUP BY t.pool_id, s, p.gpu_count;",
    ]
    w.su_sql("\n".join(sql))
    resign_ledger(w)


def resign_ledger(w):
    """Re-encode every ledger record with the times its rows now hold, re-sign it with the
    exchange's key, recompute leaf hashes, the hash chain and every checkpoint.  TEST-ONLY."""
    seeds = {}

    def seed(kid):
        if kid not in seeds:
            seeds[kid] = L.read_seed(w.keys, kid)
        return seeds[kid]

    rows = L.rows(w.su, "SELECT e.id, e.purpose, encode(e.record, 'hex'), e.key_id, coalesce(e.leaf_index, -1),"
                        " coalesce(floor(extract(epoch FROM t.start_at))::bigint, 0),"
                        " coalesce(floor(extract(epoch FROM t.end_at))::bigint, 0),"
                        " coalesce(floor(extract(epoch FROM t.created_at))::bigint, 0),"
                        " coalesce(floor(extract(epoch FROM j.created_at))::bigint, 0)"
                        " FROM ledger_entries e LEFT JOIN trades t ON e.purpose = 1 AND t.id = e.trade_id"
                        " LEFT JOIN journal_txns j ON j.id = e.journal_txn_id ORDER BY e.leaf_index NULLS LAST, e.id")
    leaves, updates, prev = [], [], None
    for i, (eid, purpose, rec_hex, kid, li, start, end, created, at) in enumerate(rows):
        if int(li) != i:
            raise Failed("ledger entry %s at leaf %s, expected %d: not every entry is sequenced" % (eid, li, i))
        rec = bytearray.fromhex(rec_hex)
        p = int(purpose)
        if p == L.TRADE:
            struct.pack_into(">qq", rec, 60, int(start), int(end))
            struct.pack_into(">q", rec, 96, int(created))
        elif L.CANCELLATION <= p <= L.WITHDRAWAL:
            struct.pack_into(">q", rec, 64, int(at))
        else:
            raise Failed("unexpected purpose %s in entry %s before any period was closed" % (p, eid))
        sig = L.ed25519_sign(seed(kid), bytes(rec))
        leaf = L.leaf_hash(rec, kid, sig)
        prev = L.chain_step(prev, leaf)
        leaves.append(leaf)
        updates.append("(%s, '%s', '%s', '%s', '%s')" % (eid, bytes(rec).hex(), sig.hex(), leaf.hex(), prev.hex()))
    cps = L.rows(w.su, "SELECT tree_size, floor(extract(epoch FROM signed_at))::bigint, key_id FROM ledger_checkpoints"
                       " ORDER BY tree_size")
    cp_updates = []
    for size, ts, kid in cps:
        size, ts = int(size), int(ts)
        if size > len(leaves):
            raise Failed("checkpoint of size %d but %d entries" % (size, len(leaves)))
        root = L.mth(leaves[:size])
        rec = struct.pack(">IIQ", 56, 7, size) + root + struct.pack(">q", ts)
        sig = L.ed25519_sign(seed(kid), rec)
        cp_updates.append("(%d, '%s', '%s', '%s', %d)" % (size, root.hex(), rec.hex(), sig.hex(), ts))
    sql = []
    if updates:
        sql.append("UPDATE ledger_entries e SET record = decode(v.r, 'hex'), signature = decode(v.s, 'hex'),"
                   " leaf_hash = decode(v.l, 'hex'), chain_hash = decode(v.c, 'hex')"
                   " FROM (VALUES %s) v(id, r, s, l, c) WHERE e.id = v.id;" % ",\n".join(updates))
    if cp_updates:
        sql.append("UPDATE ledger_checkpoints k SET root_hash = decode(v.root, 'hex'), record = decode(v.r, 'hex'),"
                   " signature = decode(v.s, 'hex')"
                   " FROM (VALUES %s) v(size, root, r, s, ts) WHERE k.tree_size = v.size;" % ",\n".join(cp_updates))
    if sql:
        w.su_sql("\n".join(sql))
    return len(updates), len(cp_updates)


# ---------------------------------------------------------------- building the month

def build(w):
    """Phases A, B, C and the close of last month (see the module docstring).  Sets on w:
    S, E (the period), DA, DB, the actors, trade ids by role, period (the POST reply)."""
    tag = w.tag
    run = harness.RUN
    w.pools = []
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

    S, E = previous_month(time.time())
    w.S, w.E = S, E

    # ---- phase A: moved to end one microsecond before the period
    for t in T:
        w.deposit(t, "5000.00", "opening deposit")
    a1 = w.buy(T[0], r0, 2, 3, 2)["trades"][0]["id"]
    w.buy(T[1], r1, 4, 2, 5)                       # booked before the period, ends in it, settled after it
    w.buy(T[2], r2, 1, 1, 8)
    w.withdraw(T[3], "100.00", "tenant withdrawal before the period")
    w.move_to_past_and_settle([a1])
    w.settled_by_worker.append(a1)
    w.quiet()
    bA = w.boundary()

    # ---- phase B1: moved to start at the period's first microsecond
    w.deposit(T[5], "1.23", "first microsecond of the period")
    w.withdraw(T[5], "0.23", "early withdrawal")
    bB1 = w.boundary(bA)

    # ---- phase B2: the month's market, moved to start a day into the period
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
    w.buy(T[5], r1, 1, 5, 10)                      # booked in the period, settled after it
    b9 = w.buy(T[0], r2, 8, 1, 20)["trades"][0]["id"]
    w.buy(T[3], r0, 1, 4, 40)                      # booked in the period, settled after it
    movers = [tr["id"] for tr in split["trades"]] + [b7, b9]
    w.move_to_past_and_settle(movers)
    w.settled_by_worker += movers
    w.withdraw(T[1], "77.70")
    w.withdraw(P[0], "5.00", "provider payout")

    # the silent pool goes offline 10..15 s after its heartbeat; its trades fail over
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
    w.quiet()
    bB2 = w.boundary(bB1)

    # ---- phase B3: moved to end at the period's last microsecond; B4: at the next one's first
    w.deposit(T[4], "2.00", "late deposit")
    w.withdraw(T[4], "1.00", "last microsecond of the period")
    bB3 = w.boundary(bB2)
    w.deposit(T[4], "3.00", "first microsecond after the period")
    w.quiet()
    w.stop_server()
    bB4 = w.boundary(bB3)

    # ---- move A and B into the past (TEST-ONLY; see the module docstring)
    phases = [{"name": "A", "b": bA, "d": bA["max_us"] - (S * US - 1)},
              {"name": "B1", "b": bB1, "d": bB1["min_us"] - S * US},
              {"name": "B2", "b": bB2, "d": bB2["min_us"] - (S + DAY) * US},
              {"name": "B3", "b": bB3, "d": bB3["max_us"] - (E * US - 1)},
              {"name": "B4", "b": bB4, "d": bB4["min_us"] - E * US}]
    w.phases = phases
    rewrite_history(w, phases)
    w.start_server()
    rc, findings, err = L.audit(w.url, w.keys)
    if rc != 0 or findings:
        raise Failed("set-up: after moving history, suanlid audit exit %s with %d finding(s): %s %s"
                     % (rc, len(findings), findings[:8], err[-300:]))
    # the move did what it should: A ends 1 us before the period, B1 starts at its first
    # microsecond, B3 ends at its last, B4 starts at the next period's first; B2's trades end in it
    got = []
    lo = 0
    for ph in phases:
        r = w.q("SELECT (extract(epoch FROM min(created_at)) * 1000000)::bigint,"
                " (extract(epoch FROM max(created_at)) * 1000000)::bigint FROM journal_txns WHERE id > %d AND id <= %d"
                % (lo, ph["b"]["txn"]))[0]
        got.append((int(r[0]), int(r[1])))
        lo = ph["b"]["txn"]
    check(got[0][1] == S * US - 1 and got[1][0] == S * US and S * US <= got[2][0] and got[2][1] < got[3][0]
          and got[3][1] == E * US - 1 and got[4][0] == E * US,
          "set-up: phase journal spans (us) %s around the period [%d, %d)" % (got, S * US, E * US))
    check(int(w.q1("SELECT max(extract(epoch FROM end_at))::bigint FROM trades WHERE id <= %d" % bB4["trade"])) < E,
          "set-up: a trade of the period ends after it")

    # ---- phase C (real time, after the period)
    def all_settled():
        return w.q1("SELECT count(*) FROM trades WHERE state = 'booked' AND end_at <= now()") == "0"
    if not wait_for(all_settled, 15, 0.2):
        raise Failed("the maintenance worker left ended trades unsettled: %s"
                     % w.q("SELECT id, end_at FROM trades WHERE state = 'booked' AND end_at <= now()"))
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
            t["withdrawals"] -= ln.avail
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
