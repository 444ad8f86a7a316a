"""Faults: crashes during dispatch, a pool that goes silent, a pool that loses GPUs.

Each test runs on a database of its own with suanlid processes of its own
(dispatch_util.PrivateEnv, ports 18600..18699, SUANLI_MAINTENANCE_MS=200): the heartbeat timeout
is a global setting and "no dispatch job queued" must mean this test's jobs.

  * test_crash_during_dispatch: sim pools that fail (RETRY before acting) and lose replies
    (RETRY after acting) on a share of calls, with 50 ms latency; two suanlid processes on one
    database; ~60 orders from 16 threads (and orders that some tenants cannot pay for, which
    roll back after a first piece is written); meanwhile suanlid processes are SIGKILLed and
    restarted on the same port three times.  When no dispatch job is left, SQL checks that
    every reservation of a booked trade is dispatched and is exactly once on the simulated
    cluster (with its pool, GPUs and window), that the cluster holds nothing for a reservation
    id that never committed, that the calendar equals the trades, that money balances (every
    journal transaction sums to zero, balances = replay, each tenant's available + escrow =
    its deposit and escrow = its booked trades), that acknowledged orders are in the ledger
    and `suanlid audit` finds nothing.
  * test_failover_silent_pool: pool A (cheaper, silent after one heartbeat) and pool B fit the
    same orders; with heartbeat_timeout_s = 10, A goes offline 10..15 s after its heartbeat,
    its future trades fail with a refund and are re-matched on B as new trades of the same
    orders (replaces_trade_id); an order that only A satisfies is refunded with the reason on
    the order; journal and balances exact to the cent.
  * test_pro_rata_lost_gpus: running trades on a pool that heartbeats fewer healthy GPUs than
    are booked are refunded lost GPUs x remaining hours x unit price, newest trade first;
    lost_gpus recorded; a repeated identical heartbeat refunds nothing more.
"""
import http.client
import os
import random
import threading
import time

import harness
from harness import Collector, Failed, check, hour
from dispatch_util import PrivateEnv, wait_for
from market_util import minor, money

# run.py --shards: run these tests alone, after the shards (timing-sensitive: a pool offline
# 9.5..15.5 s after its heartbeat, measured in real seconds)
E2E_ALONE = ("test_failover_silent_pool",)

# ---------------------------------------------------------------- shared checks


def ledger_problems(e):
    p = []
    bad = e.q("SELECT txn_id, sum(amount) FROM postings GROUP BY txn_id HAVING sum(amount) <> 0 LIMIT 10")
    if bad:
        p.append("journal transactions that do not sum to zero (txn, sum): %s" % bad)
    empty = e.q("SELECT j.id, j.kind FROM journal_txns j WHERE NOT EXISTS"
                " (SELECT 1 FROM postings p WHERE p.txn_id = j.id) LIMIT 10")
    if empty:
        p.append("journal transactions without postings: %s" % empty)
    replay = e.q("SELECT l.id, l.owner_id, l.purpose, l.balance, coalesce(s.total, 0) FROM ledger_accounts l"
                 " LEFT JOIN (SELECT ledger_account_id, sum(amount) AS total FROM postings GROUP BY 1) s"
                 " ON s.ledger_account_id = l.id WHERE l.balance <> coalesce(s.total, 0) LIMIT 10")
    if replay:
        p.append("stored balances differ from the replay of postings (account, owner, purpose, stored, replay): %s"
                 % replay)
    chain = e.q("SELECT id, ledger_account_id, balance_after, run FROM (SELECT id, ledger_account_id, balance_after,"
                " sum(amount) OVER (PARTITION BY ledger_account_id ORDER BY id) AS run FROM postings) x"
                " WHERE balance_after <> run LIMIT 10")
    if chain:
        p.append("postings whose balance_after is not the running sum: %s" % chain)
    floor = e.q("SELECT id, owner_id, purpose, balance, min_balance FROM ledger_accounts"
                " WHERE min_balance IS NOT NULL AND balance < min_balance LIMIT 10")
    if floor:
        p.append("ledger accounts below their floor: %s" % floor)
    return p


def calendar_problems(e):
    """Per (pool, slot): GPUs of booked/settled trades = pool_slots.booked, never above capacity."""
    p = []
    over = e.q("SELECT pool_id, slot, booked, capacity FROM pool_slots WHERE booked > capacity OR booked < 0")
    if over:
        p.append("slots over capacity or negative: %s" % over[:10])
    mism = e.q("""
        WITH want AS (
          SELECT t.pool_id, s AS slot, sum(t.gpus) AS gpus
            FROM trades t, generate_series(t.start_at, t.end_at - interval '1 hour', interval '1 hour') s
           WHERE t.state IN ('booked', 'settled') GROUP BY 1, 2),
        have AS (SELECT pool_id, slot, booked FROM pool_slots WHERE booked <> 0)
        SELECT coalesce(w.pool_id, h.pool_id), coalesce(w.slot, h.slot), coalesce(w.gpus, 0), coalesce(h.booked, 0)
          FROM want w FULL JOIN have h ON h.pool_id = w.pool_id AND h.slot = w.slot
         WHERE coalesce(w.gpus, 0) <> coalesce(h.booked, 0) ORDER BY 1, 2""")
    if mism:
        p.append("%d slot(s) where trades and pool_slots disagree (pool, slot, trades, booked): %s"
                 % (len(mism), mism[:10]))
    return p


def audit_problems(e):
    p = harness_cli(e, "audit")
    if p.returncode != 0:
        return ["suanlid audit exited %s: %s %s" % (p.returncode, p.stdout[-1500:], p.stderr[-500:])]
    return []


def harness_cli(e, *args):
    return harness.run_cli(*args, extra_env={"SUANLI_DATABASE_URL": e.url})


def tenant_money(e, tenant_id):
    b = e.balances(tenant_id)
    return minor(b["available"]), minor(b["escrow"])


# ---------------------------------------------------------------- (a) crashes during dispatch

N_POOLS = 6
POOL_GPUS = 16
N_RICH = 6
N_POOR = 2
N_ORDERS = 60
N_THREADS = 16
SIM_FAULTS = {"fail_rate_bp": 1000, "drop_rate_bp": 2000, "delay_ms": 50}
RICH_FUNDS = "5000.00"
POOR_FUNDS = "35.00"   # one piece of their split orders fits, the whole order does not
SEED = 4242


def _send_order(servers, idx, token, body, key):
    """POST /v1/orders with an Idempotency-Key, starting at servers[idx % 2]; a connection
    error (the server was killed) moves to the other server with the same key.  Returns
    ("reply", Resp) or ("unknown", why)."""
    last = None
    for attempt in range(80):
        s = servers[(idx + attempt) % len(servers)]
        try:
            r = s.client.post("/v1/orders", body, token=token, headers={"Idempotency-Key": key}, timeout=30)
        except (OSError, http.client.HTTPException) as ex:
            last = "connection: %r" % ex
            time.sleep(0.05)
            continue
        if r.status == 409 and r.err() == "idempotency_in_flight":
            # the first try died with its server holding the key's claim (a 60 s lease): the
            # outcome is unknown to this client; the ledger checks decide
            return ("unknown", "in flight after a crash")
        if r.status == 503:
            last = r.short()
            time.sleep(0.1)
            continue
        return ("reply", r)
    return ("unknown", last)


def test_crash_during_dispatch():
    c = Collector()
    with PrivateEnv("chaos", n=2, extra_env={"SUANLI_DISPATCH_THREADS": "4"}) as e:
        region = e.region()
        provs = [e.account("provider") for _ in range(2)]
        pools = [e.pool(provs[i % 2]["token"], region, gpu_count=POOL_GPUS, gpus_per_node=8,
                        price_per_gpu_hour=money(200 + 10 * i), adapter={"kind": "sim", "config": SIM_FAULTS})
                 for i in range(N_POOLS)]
        pool_ids = {p["id"] for p in pools}
        tenants = [e.account("tenant") for _ in range(N_RICH + N_POOR)]
        deposits = {}
        for i, t in enumerate(tenants):
            amt = RICH_FUNDS if i < N_RICH else POOR_FUNDS
            e.deposit(t["id"], amt)
            deposits[t["id"]] = minor(amt)
        rnd = random.Random(SEED)
        jobs = []
        for i in range(N_ORDERS):
            t = tenants[i % N_RICH]
            body = {"gpus": rnd.randint(1, 8), "duration_hours": rnd.randint(1, 3),
                    "earliest_start": hour(rnd.randint(1, 4)), "regions": [region]}
            if rnd.random() < 0.3:
                body.update(gpus=rnd.randint(10, 20), placement="split", max_pieces=3)
            jobs.append((t, body))
        for k in range(N_POOR * 3):  # 20 GPUs x 1 h = a 16-GPU piece and a 4-GPU piece > 35.00
            t = tenants[N_RICH + k % N_POOR]
            jobs.append((t, {"gpus": 20, "duration_hours": 1, "earliest_start": hour(8 + k // N_POOR),
                             "regions": [region], "placement": "split", "max_pieces": 2}))
        rnd.shuffle(jobs)
        results = [None] * len(jobs)
        keys = ["chaos-%d-%s" % (i, e.tag) for i in range(len(jobs))]
        nxt = iter(range(len(jobs)))
        lock = threading.Lock()

        def worker():
            while True:
                with lock:
                    i = next(nxt, None)
                if i is None:
                    return
                t, body = jobs[i]
                results[i] = _send_order(e.servers, i, t["token"], body, keys[i])

        kills = []

        def killer():
            # three crashes: while orders are still coming in, then twice during dispatch
            for delay, which in ((0.15, 0), (0.3, 1), (0.3, 0)):
                time.sleep(delay)
                s = e.servers[which]
                queued = e.jobs_queued()
                s.kill()
                kills.append((which, queued, time.time()))
                s.restart()

        t0 = time.time()
        threads = [threading.Thread(target=worker) for _ in range(N_THREADS)] + [threading.Thread(target=killer)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        check(len(kills) == 3, "the killer did not finish: %s" % kills)
        t_orders = time.time() - t0

        # wait until the outbox is empty (retries back off up to 60 s; fault rates keep it short)
        drained = wait_for(lambda: e.jobs_queued() == 0, 100, 0.25)
        t_drain = time.time() - t0
        if not drained:
            c.add("dispatch jobs still queued %.0fs after the orders: %s" % (
                t_drain, e.q("SELECT id, action, state, attempts, last_error, next_attempt_at - now()"
                             " FROM dispatch_jobs WHERE state IN ('queued', 'running') ORDER BY id LIMIT 10")))
        c.check(sum(1 for _, q, _ in kills if q > 0) >= 2,
                "fewer than two crashes happened during dispatch (queued jobs at each kill: %s)" % [k[1] for k in kills])

        # --- replies vs the ledger
        replied = [(i, r[1]) for i, r in enumerate(results) if r and r[0] == "reply"]
        unknown = [i for i, r in enumerate(results) if not r or r[0] == "unknown"]
        filled = {r.json["id"]: r.json for _, r in replied if r.status == 201 and r.json.get("state") == "filled"}
        killed = [r for _, r in replied if r.status == 201 and r.json.get("state") == "killed"]
        funds = [r for _, r in replied if r.status == 422 and r.err() == "insufficient_funds"]
        odd = [r.short() for _, r in replied if not (r.status == 201 or (r.status == 422 and r.err() == "insufficient_funds"))]
        c.check(not odd, "unexpected replies: %s" % odd[:5])
        c.check(len(funds) >= N_POOR, "only %d orders were refused for funds (the poor tenants' split orders)" % len(funds))
        c.check(len(filled) >= N_ORDERS // 3, "only %d orders filled" % len(filled))
        db_orders = {int(r[0]): r[1] for r in e.q("SELECT id, state FROM orders")}
        for oid, o in filled.items():
            if not c.check(db_orders.get(oid) == "filled", "acknowledged order %s is %r in the database"
                           % (oid, db_orders.get(oid))):
                continue
            want = sorted((tr["id"], tr["pool_id"], tr["gpus"], minor(tr["total"])) for tr in o["trades"])
            got = sorted((int(a), int(b), int(g), int(m)) for a, b, g, m in
                         e.q("SELECT id, pool_id, gpus, total_minor FROM trades WHERE order_id = %d" % oid))
            c.check(got == want, "order %s: trades in the database %s, in the reply %s" % (oid, got, want))
        c.check(len(db_orders) <= len(filled) + len(killed) + len(unknown),
                "%d orders in the database, but only %d acknowledged (+%d unknown outcomes)"
                % (len(db_orders), len(filled) + len(killed), len(unknown)))

        # --- dispatch: every committed reservation once on the cluster, nothing else there
        rows = e.q("SELECT r.id, r.state, t.state, t.pool_id, t.gpus, extract(epoch FROM t.start_at)::bigint,"
                   " extract(epoch FROM t.end_at)::bigint, s.reservation_id IS NOT NULL, s.pool_id, s.gpus,"
                   " extract(epoch FROM s.start_at)::bigint, extract(epoch FROM s.end_at)::bigint, s.state,"
                   " coalesce(s.reserve_calls, 0)"
                   " FROM reservations r JOIN trades t ON t.id = r.trade_id"
                   " LEFT JOIN sim_cluster_reservations s ON s.reservation_id = r.id ORDER BY r.id")
        booked = [r for r in rows if r[2] == "booked"]
        c.check(len(booked) >= N_ORDERS // 3, "only %d booked trades" % len(booked))
        for (rid, rstate, tstate, pool, gpus, st, en, has, spool, sgpus, sst, sen, sstate, calls) in booked:
            c.check(rstate in ("dispatched", "active"), "reservation %s of a booked trade is %r" % (rid, rstate))
            if c.check(has == "t", "reservation %s (booked, %s) is not on the simulated cluster" % (rid, rstate)):
                c.check((spool, sgpus, sst, sen, sstate) == (pool, gpus, st, en, "reserved"),
                        "reservation %s on the cluster: pool %s GPUs %s [%s, %s) %s; trade: pool %s GPUs %s [%s, %s)"
                        % (rid, spool, sgpus, sst, sen, sstate, pool, gpus, st, en))
        not_booked = [r for r in rows if r[2] != "booked"]
        c.check(not not_booked, "trades that are not booked (failed dispatch?): %s" % [r[:3] for r in not_booked][:10])
        stray = e.q("SELECT s.reservation_id, s.reserve_calls FROM sim_cluster_reservations s"
                    " WHERE NOT EXISTS (SELECT 1 FROM reservations r WHERE r.id = s.reservation_id)")
        c.check(not stray, "the cluster holds reservations that never committed (id, calls): %s" % stray[:10])
        per_id = e.q("SELECT reservation_id, count(*) FROM sim_cluster_reservations GROUP BY 1 HAVING count(*) > 1")
        c.check(not per_id, "reservation ids on the cluster more than once: %s" % per_id)
        jobs_bad = e.q("SELECT j.id, j.reservation_id, j.action, j.state, j.attempts FROM dispatch_jobs j"
                       " WHERE j.action = 'reserve' AND j.state <> 'done'")
        c.check(not jobs_bad, "reserve jobs not done: %s" % jobs_bad[:10])
        gaps = int(e.q1("SELECT count(*) FROM generate_series(1, (SELECT max(id) FROM reservations)) g"
                        " WHERE NOT EXISTS (SELECT 1 FROM reservations r WHERE r.id = g)") or 0)
        c.check(gaps > 0, "no reservation id was ever rolled back: the unpaid orders did not exercise a rollback")
        retried = int(e.q1("SELECT count(*) FROM sim_cluster_reservations WHERE reserve_calls > 1"))
        c.check(retried > 0, "no reservation was reserved twice on the cluster: lost replies were not exercised")
        unpooled = [r for r in booked if int(r[3]) not in pool_ids]
        c.check(not unpooled, "trades on unknown pools: %s" % unpooled[:5])

        # --- money
        for p in ledger_problems(e) + calendar_problems(e):
            c.add(p)
        esc = {int(a): int(b) for a, b in e.q("SELECT tenant_id, sum(total_minor - refunded_minor) FROM trades"
                                               " WHERE state = 'booked' GROUP BY 1")}
        for t in tenants:
            av, es = tenant_money(e, t["id"])
            c.check(av + es == deposits[t["id"]] and es == esc.get(t["id"], 0),
                    "tenant %s: available %s + escrow %s, deposit %s, booked trades %s"
                    % (t["id"], money(av), money(es), money(deposits[t["id"]]), money(esc.get(t["id"], 0))))
        for p in audit_problems(e):
            c.add(p)
        info = ("(timing: orders+kills %.1fs, drained at %.1fs; %d replies, %d unknown; kills %s; gaps %d; "
                "retried on the cluster %d)" % (t_orders, t_drain, len(replied), len(unknown),
                                                [(w, q) for w, q, _ in kills], gaps, retried))
        if os.environ.get("SUANLI_E2E_VERBOSE"):
            print("    " + info, flush=True)
        if c.failures:
            c.add("(timing: orders+kills %.1fs, drained at %.1fs; %d replies, %d unknown; kills %s; gaps %d; "
                  "retried on the cluster %d)" % (t_orders, t_drain, len(replied), len(unknown),
                                                  [(w, q) for w, q, _ in kills], gaps, retried))
    c.done()


# ---------------------------------------------------------------- (b) failover of a silent pool

def _heartbeat(e, prov, pool_id, healthy, util=0):
    r = e.c.post("/v1/pools/%d/heartbeat" % pool_id, {"healthy_gpus": healthy, "utilization_bp": util},
                 token=prov["token"])
    if r.status != 200:
        raise Failed("heartbeat: %s" % r.short())
    return r.json


def _txns(e, trade_id):
    """[(kind, tenant available delta, tenant escrow delta)] of a trade's journal transactions."""
    return [(k, int(a), int(s)) for k, a, s in e.q(
        "SELECT j.kind, coalesce(sum(p.amount) FILTER (WHERE l.purpose = 'available' AND l.owner_id = t.tenant_id), 0),"
        " coalesce(sum(p.amount) FILTER (WHERE l.purpose = 'escrow'), 0)"
        " FROM journal_txns j JOIN trades t ON t.id = j.trade_id JOIN postings p ON p.txn_id = j.id"
        " JOIN ledger_accounts l ON l.id = p.ledger_account_id WHERE j.trade_id = %d GROUP BY j.id, j.kind"
        " ORDER BY j.id" % trade_id)]


def test_failover_silent_pool():
    c = Collector()
    with PrivateEnv("failover") as e:
        region = e.region()
        prov_a, prov_b = e.account("provider"), e.account("provider")
        pa = e.pool(prov_a["token"], region, gpu_count=16, gpus_per_node=8, price_per_gpu_hour="2.00",
                    adapter={"kind": "sim", "config": {"silent": True}})
        pb = e.pool(prov_b["token"], region, gpu_count=16, gpus_per_node=8, price_per_gpu_hour="3.00",
                    adapter={"kind": "sim", "config": {}})
        r = e.c.put("/v1/exchange/settings", {"heartbeat_timeout_s": 10}, token=e.admin)
        check(r.status == 200 and r.json.get("heartbeat_timeout_s") == 10, "settings: %s" % r.short())
        t1, t2 = e.account("tenant"), e.account("tenant")
        e.deposit(t1["id"], "1000.00")
        e.deposit(t2["id"], "1000.00")
        check(wait_for(lambda: e.c.get("/v1/pools/%d" % pb["id"], token=e.admin).json["health"]["state"] == "healthy",
                       5), "pool B never became healthy (simulated heartbeats)")
        # (tenant, gpus, start hour, hours, extra constraints); A has 16 GPUs: at most 14 per slot here
        orders = [(t1, 8, 2, 2, {}), (t1, 4, 5, 1, {}), (t2, 6, 2, 3, {}),
                  (t2, 2, 5, 2, {"max_price_per_gpu_hour": "2.50"})]  # only A satisfies the last one
        _heartbeat(e, prov_a, pa["id"], 16)
        t_hb = time.time()
        bought = []
        for t, gpus, h, hours, extra in orders:
            body = {"gpus": gpus, "duration_hours": hours, "earliest_start": hour(h), "regions": [region]}
            body.update(extra)
            r = e.c.post("/v1/orders", body, token=t["token"])
            check(r.status == 201 and r.json["state"] == "filled", "order %s: %s" % (body, r.short()))
            tr = r.json["trades"]
            check(len(tr) == 1 and tr[0]["pool_id"] == pa["id"], "order %s did not land on pool A: %s" % (body, tr))
            bought.append((t, r.json, tr[0]))
        c.check(time.time() - t_hb < 5, "buying took %.1fs: too close to the heartbeat timeout" % (time.time() - t_hb))
        for _, _, tr in bought:
            e.wait_res(tr["id"], ("dispatched",), 10)

        # A goes offline 10..15 s after its heartbeat
        def a_offline():
            p = e.c.get("/v1/pools/%d" % pa["id"], token=e.admin).json
            return p if p["status"] == "offline" else None
        pa_now = wait_for(a_offline, 20, 0.2)
        t_off = time.time() - t_hb
        check(pa_now, "pool A is still %s 20s after its last heartbeat"
              % e.c.get("/v1/pools/%d" % pa["id"], token=e.admin).json["status"])
        c.check(9.5 <= t_off <= 15.5, "pool A went offline %.1fs after its heartbeat (timeout 10 s)" % t_off)
        c.check(pa_now["health"]["state"] == "down", "offline pool A health %r" % pa_now["health"])

        # every trade on A fails over (or is refunded)
        def all_failed():
            return all(e.trade(tr["id"])["state"] == "failed" for _, _, tr in bought)
        c.check(wait_for(all_failed, 10, 0.2), "trades on A not all failed: %s"
                % [(tr["id"], e.trade(tr["id"])["state"]) for _, _, tr in bought])
        time.sleep(0.5)
        cause = "failover: pool %d went offline before the start" % pa["id"]
        expect = {t1["id"]: [1000_00, 0], t2["id"]: [1000_00, 0]}
        for t, o, old in bought:
            told = e.trade(old["id"])
            oid = o["id"]
            c.check(told["refunded"] == told["total"], "old trade %s refunded %s of %s"
                    % (old["id"], told["refunded"], told["total"]))
            res = told["reservation"]
            c.check(res["state"] == "failed" and any(ev["to"] == "failed" and ev["cause"] == cause for ev in res["events"]),
                    "old reservation %s: %s %s (expected failed with %r)" % (res["id"], res["state"], res["events"], cause))
            c.check(_txns(e, old["id"])[:2] == [("trade", -minor(old["total"]), minor(old["total"])),
                                                ("refund", minor(old["total"]), -minor(old["total"]))],
                    "journal of failed trade %s: %s" % (old["id"], _txns(e, old["id"])))
            order = e.order(oid)
            new = [x for x in order["trades"] if x["id"] != old["id"]]
            only_a = "max_price_per_gpu_hour" in o["request"]
            if only_a:
                c.check(not new, "order %s (only A fits) got new trades %s" % (oid, new))
                c.check("refunded" in order["reason"] and "no replacement" in order["reason"]
                        and str(old["id"]) in order["reason"],
                        "order %s reason %r should say trade %s was refunded with no replacement"
                        % (oid, order["reason"], old["id"]))
                continue
            if not c.check(len(new) == 1, "order %s: replacement trades %s" % (oid, new)):
                continue
            n = new[0]
            want = {"pool_id": pb["id"], "gpus": old["gpus"], "start": old["start"], "end": old["end"],
                    "replaces_trade_id": old["id"], "state": "booked", "unit_price": "3.00",
                    "total": money(old["gpus"] * old["hours"] * 300), "order_id": oid}
            got = {k: n.get(k) for k in want}
            c.check(got == want, "order %s replacement %s, expected %s" % (oid, got, want))
            c.check(_txns(e, n["id"]) == [("trade", -minor(want["total"]), minor(want["total"]))],
                    "journal of replacement trade %s: %s" % (n["id"], _txns(e, n["id"])))
            nt = e.wait_res(n["id"], ("dispatched", "failed"), 10)
            c.check(nt["reservation"]["state"] == "dispatched", "replacement reservation %s" % nt["reservation"])
            expect[t["id"]][0] -= minor(want["total"])
            expect[t["id"]][1] += minor(want["total"])
            c.check("failed over" in order["reason"] and str(old["id"]) in order["reason"],
                    "order %s reason %r should say trade %s failed over" % (oid, order["reason"], old["id"]))
        for t in (t1, t2):
            got = tenant_money(e, t["id"])
            c.check(list(got) == expect[t["id"]], "tenant %s: available %s escrow %s, expected %s and %s"
                    % (t["id"], money(got[0]), money(got[1]), money(expect[t["id"]][0]), money(expect[t["id"]][1])))
        # the old reservations are cancelled on A's cluster (the cancel job always runs)
        ok = wait_for(lambda: e.q1("SELECT count(*) FROM sim_cluster_reservations s JOIN reservations r"
                                   " ON r.id = s.reservation_id WHERE r.state = 'failed' AND s.state <> 'cancelled'")
                      == "0", 10, 0.2)
        c.check(ok, "failed reservations still reserved on pool A's cluster: %s" % e.q(
            "SELECT s.reservation_id, s.state FROM sim_cluster_reservations s JOIN reservations r"
            " ON r.id = s.reservation_id WHERE r.state = 'failed'"))
        for p in ledger_problems(e) + calendar_problems(e) + audit_problems(e):
            c.add(p)
    c.done()


# ---------------------------------------------------------------- (c) pro rata refunds

def test_pro_rata_lost_gpus():
    c = Collector()
    with PrivateEnv("prorata", clock="now") as e:
        region = e.region()
        prov = e.account("provider")
        # a pool that reports its own health (silent: no simulated heartbeats), available from
        # the next hour, when the trades will run
        pool = e.pool(prov["token"], region, gpu_count=16, gpus_per_node=8, price_per_gpu_hour="2.00",
                      available_from=e.hour(1), adapter={"kind": "sim", "config": {"silent": True}})
        _heartbeat(e, prov, pool["id"], 16)
        t1, t2 = e.account("tenant"), e.account("tenant")
        e.deposit(t1["id"], "500.00")
        e.deposit(t2["id"], "500.00")
        trades = []
        for t, gpus in ((t1, 8), (t2, 6)):
            r = e.c.post("/v1/orders", {"gpus": gpus, "duration_hours": 3, "earliest_start": e.hour(1),
                                        "regions": [region]}, token=t["token"])
            check(r.status == 201 and r.json["state"] == "filled", "order: %s" % r.short())
            trades.append(r.json["trades"][0])
        for tr in trades:
            e.wait_res(tr["id"], ("dispatched",), 10)
        # TEST-ONLY (orders cannot start in the past): the clock moves one hour on, into the
        # trades' first hour, so that they are running now.  The pool's own heartbeat is then an
        # hour old: the timeout is raised first, so that it does not look silent.
        r = e.c.put("/v1/exchange/settings", {"heartbeat_timeout_s": 86400}, token=e.admin)
        check(r.status == 200, "heartbeat timeout: %s" % r.short())
        e.clock("+1 hour")
        check(wait_for(lambda: all(e.res_state(tr["id"]) == "active" for tr in trades), 5),
              "the trades' reservations did not become active: %s" % [e.res_state(tr["id"]) for tr in trades])
        for p in calendar_problems(e):
            c.add("after moving the clock (test set-up): " + p)
        end = int(e.q1("SELECT extract(epoch FROM end_at)::bigint FROM trades WHERE id = %d" % trades[0]["id"]))

        def hours_left():
            # the hours of the window not yet over, the one in progress included
            return -(-(end - e.now()) // 3600)

        def state():
            return {tr["id"]: (e.trade(tr["id"])["lost_gpus"], minor(e.trade(tr["id"])["refunded"])) for tr in trades}

        def refunds():
            return int(e.q1("SELECT count(*) FROM journal_txns WHERE kind = 'refund'"))

        old, new = trades  # t2's trade is the newer one: shortfalls are charged newest first
        base = {tid: (0, 0) for tid in state()}
        c.check(state() == base, "refunds before any heartbeat: %s" % state())

        # 14 GPUs booked; the pool reports 10 healthy: 4 lost, all from the newest trade
        h = hours_left()
        _heartbeat(e, prov, pool["id"], 10)
        want = {old["id"]: (0, 0), new["id"]: (4, 4 * h * 200)}
        got = wait_for(lambda: state() == want and state(), 3, 0.2) or state()
        c.check(got == want, "after a heartbeat of 10 healthy GPUs (14 booked, %d hours left): (lost_gpus, refunded)"
                " %s, expected %s" % (h, got, want))
        n_ref = refunds()
        # the same heartbeat again refunds nothing more
        _heartbeat(e, prov, pool["id"], 10)
        time.sleep(1.0)
        c.check(state() == got and refunds() == n_ref, "a repeated heartbeat of 10 changed %s into %s (refund txns %d -> %d)"
                % (got, state(), n_ref, refunds()))
        # 3 healthy: 7 more lost; the newest trade's remaining 2, then 5 of the older one
        h = hours_left()
        _heartbeat(e, prov, pool["id"], 3)
        want = {old["id"]: (5, 5 * h * 200), new["id"]: (6, got[new["id"]][1] + 2 * h * 200)}
        got = wait_for(lambda: state() == want and state(), 3, 0.2) or state()
        c.check(got == want, "after a heartbeat of 3 healthy GPUs: %s, expected %s" % (got, want))
        for t, tr in ((t1, old), (t2, new)):
            av, es = tenant_money(e, t["id"])
            total = tr["gpus"] * 3 * 200
            c.check((av, es) == (500_00 - total + got[tr["id"]][1], total - got[tr["id"]][1]),
                    "tenant %s: available %s escrow %s after refunds of %s" % (t["id"], money(av), money(es),
                                                                             money(got[tr["id"]][1])))
        for p in ledger_problems(e):
            c.add(p)
    c.done()
