"""Helpers shared by test_market.py and test_concurrency.py (python3 standard library only).

Money is handled as integer minor units (cents) everywhere in the tests: `minor("12.34")` is
1234 and `money(1234)` is "12.34", so no float ever takes part in an assertion.  The ledger
checks run SQL over the journal (every transaction sums to zero, stored balances equal the
replay of postings, `balance_after` is the running sum per ledger account).
"""
import os
import socket
import subprocess
import time

import harness
from harness import Collector, Failed, db_url, env, psql

# ---------------------------------------------------------------- money


def minor(s):
    """'12.34' -> 1234, '-0.40' -> -40 (exact; at most 2 decimals)."""
    if not isinstance(s, str):
        raise Failed("money value %r is not a string" % (s,))
    neg = s.startswith("-")
    body = s[1:] if neg else s
    whole, _, frac = body.partition(".")
    if not whole.isdigit() or (frac and (not frac.isdigit() or len(frac) > 2)):
        raise Failed("money value %r is not a decimal with at most 2 places" % s)
    v = int(whole) * 100 + int((frac + "00")[:2])
    return -v if neg else v


def money(m):
    sign = "-" if m < 0 else ""
    m = abs(m)
    return "%s%d.%02d" % (sign, m // 100, m % 100)


def bp_of(amount_minor, bp):
    """amount * bp / 10000 rounded half up, in integers (the exchange's documented rounding)."""
    return (amount_minor * bp + 5000) // 10000


# ---------------------------------------------------------------- SQL


def q(sql, url=None):
    """Rows of a query as lists of strings (psql -At, '|' separated), on the run's database or url."""
    out = psql(sql, url)
    return [line.split("|") for line in out.split("\n") if line != ""]


def q1(sql, url=None):
    rows = q(sql, url)
    return rows[0][0] if rows else None


def ids_sql(ids):
    ids = [int(i) for i in ids]
    return "(%s)" % ",".join(str(i) for i in ids) if ids else "(NULL)"


def slots(pool_ids):
    """{(pool_id, slot text): (capacity, booked)} of the pools' calendar rows."""
    out = {}
    for pid, slot, cap, booked in q("SELECT pool_id, to_char(slot AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
                                    " capacity, booked FROM pool_slots WHERE pool_id IN %s ORDER BY 1, 2"
                                    % ids_sql(pool_ids)):
        out[(int(pid), slot)] = (int(cap), int(booked))
    return out


def booked_total(pool_ids):
    return int(q1("SELECT coalesce(sum(booked), 0) FROM pool_slots WHERE pool_id IN %s" % ids_sql(pool_ids)))


def calendar_problems(pool_ids, states=("booked", "settled")):
    """Per (pool, slot): GPUs of the pools' trades in `states` recomputed from the trades table
    must equal pool_slots.booked exactly, and no slot may exceed its capacity."""
    p = []
    st = ",".join(harness.quote_lit(s) for s in states)
    over = q("SELECT pool_id, slot, booked, capacity FROM pool_slots WHERE pool_id IN %s AND booked > capacity"
             % ids_sql(pool_ids))
    if over:
        p.append("overbooked slots (pool, slot, booked, capacity): %s" % over[:10])
    neg = q("SELECT pool_id, slot, booked FROM pool_slots WHERE pool_id IN %s AND booked < 0" % ids_sql(pool_ids))
    if neg:
        p.append("negative bookings: %s" % neg[:10])
    mism = q("""
        WITH want AS (
          SELECT t.pool_id, s AS slot, sum(t.gpus) AS gpus
            FROM trades t, generate_series(t.start_at, t.end_at - interval '1 hour', interval '1 hour') s
           WHERE t.pool_id IN %s AND t.state IN (%s)
           GROUP BY 1, 2),
        have AS (SELECT pool_id, slot, booked FROM pool_slots WHERE pool_id IN %s AND booked <> 0)
        SELECT coalesce(w.pool_id, h.pool_id), coalesce(w.slot, h.slot), coalesce(w.gpus, 0), coalesce(h.booked, 0)
          FROM want w FULL JOIN have h ON h.pool_id = w.pool_id AND h.slot = w.slot
         WHERE coalesce(w.gpus, 0) <> coalesce(h.booked, 0)
         ORDER BY 1, 2""" % (ids_sql(pool_ids), st, ids_sql(pool_ids)))
    if mism:
        p.append("%d slot(s) where trades and pool_slots disagree (pool, slot, GPUs in trades, booked): %s"
                 % (len(mism), mism[:10]))
    return p


def ledger_problems(url=None):
    """The journal's invariants over the whole database (the run's, or url)."""
    p = []
    unbalanced = q("SELECT txn_id, sum(amount) FROM postings GROUP BY txn_id HAVING sum(amount) <> 0 LIMIT 10", url)
    if unbalanced:
        p.append("journal transactions that do not sum to zero (txn, sum): %s" % unbalanced)
    total = q1("SELECT coalesce(sum(amount), 0) FROM postings", url)
    if total != "0":
        p.append("the sum of all postings is %s, not 0" % total)
    empty = q("SELECT j.id, j.kind FROM journal_txns j"
              " WHERE NOT EXISTS (SELECT 1 FROM postings p WHERE p.txn_id = j.id) LIMIT 10", url)
    if empty:
        p.append("journal transactions without postings: %s" % empty)
    replay = q("SELECT l.id, l.owner_id, l.purpose, l.balance, coalesce(s.total, 0) FROM ledger_accounts l"
               " LEFT JOIN (SELECT ledger_account_id, sum(amount) AS total FROM postings GROUP BY 1) s"
               " ON s.ledger_account_id = l.id WHERE l.balance <> coalesce(s.total, 0) LIMIT 10", url)
    if replay:
        p.append("stored balances differ from the replay of postings (ledger account, owner, purpose, stored,"
                 " replayed): %s" % replay)
    chain = q("SELECT id, ledger_account_id, balance_after, run FROM (SELECT id, ledger_account_id, balance_after,"
              " sum(amount) OVER (PARTITION BY ledger_account_id ORDER BY id) AS run FROM postings) x"
              " WHERE balance_after <> run LIMIT 10", url)
    if chain:
        p.append("postings whose balance_after is not the running sum (posting, account, balance_after, run): %s"
                 % chain)
    floor = q("SELECT id, owner_id, purpose, balance, min_balance FROM ledger_accounts"
              " WHERE min_balance IS NOT NULL AND balance < min_balance LIMIT 10", url)
    if floor:
        p.append("ledger accounts below their floor: %s" % floor)
    return p


def trade_journal_problems(trade_ids):
    """Every trade has exactly one 'trade' transaction (avail -total, escrow +total) and one
    reservation."""
    p = []
    if not trade_ids:
        return p
    bad = q("""
        SELECT t.id, t.total_minor,
               (SELECT count(*) FROM journal_txns j WHERE j.trade_id = t.id AND j.kind = 'trade'),
               (SELECT count(*) FROM reservations r WHERE r.trade_id = t.id),
               (SELECT coalesce(string_agg(l.purpose || ':' || po.amount, ',' ORDER BY po.id), '')
                  FROM journal_txns j JOIN postings po ON po.txn_id = j.id
                  JOIN ledger_accounts l ON l.id = po.ledger_account_id
                 WHERE j.trade_id = t.id AND j.kind = 'trade')
          FROM trades t WHERE t.id IN %s ORDER BY t.id""" % ids_sql(trade_ids))
    for tid, total, ntx, nres, legs in bad:
        want = "available:-%s,escrow:%s" % (total, total)
        if ntx != "1" or nres != "1" or legs != want:
            p.append("trade %s: %s trade transaction(s), %s reservation(s), legs %r (expected %r)"
                     % (tid, ntx, nres, legs, want))
    return p


def stable_snapshot():
    """harness.snapshot(): every table but what background workers change on their own."""
    return harness.snapshot()


def fees_balance(url=None):
    return int(q1("SELECT balance FROM ledger_accounts WHERE owner_id IS NULL AND purpose = 'fees'", url) or 0)


def book_quiet(timeout=10.0):
    """Wait until the book worker has consumed every pool event (book_events empty)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if q1("SELECT count(*) FROM book_events") == "0":
            return True
        time.sleep(0.05)
    return False


# ---------------------------------------------------------------- servers on our own ports

PORT_RANGE = range(18400, 18500)


def port_free(port):
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def pick_ports(n, start=18440):
    """n free ports in 18400..18499 (starting the search at `start`)."""
    out = []
    order = list(range(start, PORT_RANGE.stop)) + list(range(PORT_RANGE.start, start))
    for p in order:
        if harness.port_ok(p) and port_free(p):
            out.append(p)
            if len(out) == n:
                return out
    raise Failed("no %d free ports in 18400..18499" % n)


class PortServer(harness.Server):
    """harness.Server on a chosen port (the harness picks an ephemeral one)."""

    def __init__(self, name, port, log_level="info", extra_env=None):  # noqa: D107 — mirrors Server
        self.port = port
        self.log_path = os.path.join(harness.out_dir(), "%s-%s.log" % (name, port))
        self.client = harness.Client(port)
        e = dict(os.environ)
        e.update({"SUANLI_DATABASE_URL": db_url(), "SUANLI_LISTEN": "127.0.0.1:%d" % port,
                  "SUANLI_LOG_LEVEL": log_level})
        if extra_env:
            e.update(extra_env)
        if not os.path.exists(harness.binary()):
            raise Failed("no server binary at %s (set SUANLI_BIN)" % harness.binary())
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([harness.binary(), "serve"], stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=e)
        self.exit_code = None


# ---------------------------------------------------------------- API shorthands


class Market:
    """Thin API helpers over the shared environment `e` (harness.env())."""

    def __init__(self, e):
        self.e = e
        self.c = e.c

    def deposit(self, acct_id, amount):
        r = self.c.post("/v1/accounts/%d/deposits" % acct_id, {"amount": amount, "memo": "e2e"}, token=self.e.admin)
        if r.status != 201:
            raise Failed("deposit: %s" % r.short())
        return r.json

    def balances(self, acct_id, token=None):
        r = self.c.get("/v1/accounts/%d/balances" % acct_id, token=token or self.e.admin)
        if r.status != 200:
            raise Failed("balances: %s" % r.short())
        return r.json

    def avail_escrow(self, acct_id):
        b = self.balances(acct_id)
        return minor(b["available"]), minor(b["escrow"])

    def settings(self):
        r = self.c.get("/v1/exchange/settings", token=self.e.admin)
        if r.status != 200:
            raise Failed("settings: %s" % r.short())
        return r.json

    def latency(self, entries):
        r = self.c.put("/v1/latency", {"entries": [{"from": a, "to": b, "rtt_ms": v} for a, b, v in entries]},
                       token=self.e.admin)
        if r.status != 200:
            raise Failed("latency: %s" % r.short())

    def budget(self, acct_id, token=None, **caps):
        r = self.c.put("/v1/accounts/%d/budget" % acct_id, caps, token=token or self.e.admin)
        if r.status != 200:
            raise Failed("budget: %s" % r.short())
        return r.json

    def order(self, token, body, **kw):
        return self.c.post("/v1/orders", body, token=token, **kw)

    def quote(self, token, body, full=True, limit=None):
        """POST /v1/quotes.  With full (the default here), also walk every page of the per-pool
        list (?rejected=full) and return it whole as "rejected" (without "rejected_next")."""
        q = ["limit=%d" % limit] if limit else []
        if full:
            q += ["rejected=full", "rejected_limit=1000"]
        path = "/v1/quotes" + ("?" + "&".join(q) if q else "")
        r = self.c.post(path, body, token=token)
        if r.status != 200:
            raise Failed("quote: %s" % r.short())
        j = r.json
        if full:
            after = j.pop("rejected_next", None)
            while after:
                r = self.c.post(path + "&rejected_after=%d" % after, body, token=token)
                if r.status != 200:
                    raise Failed("quote page after %d: %s" % (after, r.short()))
                j["rejected"].extend(r.json["rejected"])
                after = r.json.get("rejected_next")
        return j

    def get_order(self, oid, token):
        r = self.c.get("/v1/orders/%d" % oid, token=token)
        if r.status != 200:
            raise Failed("GET order %d: %s" % (oid, r.short()))
        return r.json

    def get_trade(self, tid, token=None):
        r = self.c.get("/v1/trades/%d" % tid, token=token or self.e.admin)
        if r.status != 200:
            raise Failed("GET trade %d: %s" % (tid, r.short()))
        return r.json

    def patch_pool(self, token, pid, body):
        return self.c.patch("/v1/pools/%d" % pid, body, token=token)

    def wait_order(self, oid, token, states=("filled",), timeout=10.0, pred=None):
        """Poll GET /v1/orders/{id} until its state is one of `states` (or, given pred, until
        pred(order) holds); returns the last order."""
        deadline = time.time() + timeout
        o = None
        while time.time() < deadline:
            o = self.get_order(oid, token)
            if pred(o) if pred else o["state"] in states:
                return o
            time.sleep(0.1)
        return o


class Scene:
    """A test's own market: a provider, a tenant funded with `deposit` and `nregions` fresh
    regions of this run (named with its tag), so its orders, restricted to them, meet no other
    test's pools."""

    def __init__(self, nregions=1, deposit="1000.00"):
        self.e = env()
        self.mk = Market(self.e)
        self.c = Collector()
        self.regions = [self.e.region() for _ in range(nregions)]
        self.P = self.e.account("provider")
        self.T = self.e.account("tenant")
        self.mk.deposit(self.T["id"], deposit)

    def pool(self, region, price, gpus=8):
        return self.e.pool(self.P["token"], region, gpu_count=gpus, gpus_per_node=gpus,
                           price_per_gpu_hour=price)

    def money_checks(self, orders, spent, pools, funded=100000):
        """The tenant (funded with `funded` minor units) paid exactly `spent` into escrow, the
        trades of `orders` total `spent`, one trade transaction per trade, every journal
        transaction sums to zero, the ledger holds, the calendar of `pools` equals the trades."""
        c = self.c
        avail, escrow = self.mk.avail_escrow(self.T["id"])
        c.check((avail, escrow) == (funded - spent, spent),
                "balances available %d escrow %d, expected %d and %d" % (avail, escrow, funded - spent, spent))
        trades = [t for o in orders for t in o["trades"]]
        total = sum(minor(t["total"]) for t in trades)
        c.check(total == spent, "the orders' trades total %d, expected %d" % (total, spent))
        for p in trade_journal_problems([t["id"] for t in trades]) + ledger_problems() + calendar_problems(pools):
            c.add(p)
