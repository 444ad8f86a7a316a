"""The market end to end, with exact money: quotes, orders, trades, cancellations, resting
orders re-matched by the book worker, budgets, settlement, the journal's invariants, and a
table of bad requests over every market route.

Every test builds its own small world (its own regions, providers, pools and tenants, named
with the run's tag) and restricts its orders to its own regions, so pools made by other tests
on the shared database never take part.  Money is compared in integer cents (market_util).
"""
import datetime
import json
import time

from dispatch_util import PrivateEnv
from harness import (PATH_FIELD, Collector, best_error_problems, check, env, error_problems, expect_status, hour, parse_ts,
                     snapshot_diff, ts, uniq)
from market_util import (Market, bp_of, book_quiet, calendar_problems, fees_balance, ids_sql, ledger_problems,
                         minor, money, q, q1, slots, stable_snapshot, trade_journal_problems)

# "the database is unchanged" ignores what the background workers change on their own
snapshot = stable_snapshot

TRADE_KEYS = {"id", "order_id", "tenant_id", "provider_id", "pool_id", "region", "accelerator", "gpus", "start",
              "end", "hours", "unit_price", "total", "fee_bp", "fee", "state", "refunded", "reservation",
              "created_at", "settled_at", "cancelled_at"}
TRADE_KEYS_DISPATCH = {"lost_gpus", "replaces_trade_id"}  # added with dispatch (schema 004)
ORDER_KEYS = {"id", "tenant_id", "state", "reason", "request", "gpus", "min_gpus", "gpus_filled", "created_at",
              "updated_at", "filled_at", "trades",
              "clearing", "clearing_region", "clearing_rounds",  # clearing: issue 15 (schema 028)
              "ncu_filled"}  # null for an order for gpus (schema 029)
PLACEMENT_KEYS = {"pool_id", "provider_id", "region", "accelerator", "rtt_ms", "rtt_source", "start", "end", "gpus", "ncu", "unit_price",
                  "price_per_ncu_hour", "total"}
QUOTE_KEYS = {"filled", "gpus", "gpus_available", "total", "window", "placements", "ranked", "reasons", "pools",
              "clearing", "rejected"}  # "rejected" only with ?rejected=full (market_util.quote asks for it)
BALANCE_KEYS = {"account_id", "available", "escrow", "hourly_cap", "monthly_cap", "spent_this_month", "currency"}

# what this module made, for the closing invariant test
POOLS = []          # pool ids whose calendar must match their trades exactly
TRADES = []         # trade ids made here
SETTINGS = {}       # the exchange settings the tests ran with


def _m():
    return Market(env())


def _settings():
    """Read the exchange settings once; put the documented defaults back if another test changed
    them (the cancellation cases need cancel_free_hours between 3 and 29)."""
    if not SETTINGS:
        mk = _m()
        s = mk.settings()
        if not (3 <= s["cancel_free_hours"] < 29) or s["cancel_charge_bp"] == 0 or s["fee_bp"] == 0:
            r = mk.c.put("/v1/exchange/settings", {"fee_bp": 250, "cancel_free_hours": 24, "cancel_charge_bp": 1000},
                         token=mk.e.admin)
            s = expect_status(r, 200)
        SETTINGS.update(s)
    return SETTINGS


def _tenant(deposit=None):
    e = env()
    t = e.account("tenant")
    if deposit:
        _m().deposit(t["id"], deposit)
    return t


def _pool(prov, region, track=True, **over):
    body = {"gpu_count": 8, "gpus_per_node": 8}
    body.update(over)
    p = env().pool(prov["token"], region, **body)
    if track:
        POOLS.append(p["id"])
    return p


def _end(start, hours):
    return ts(parse_ts(start) + datetime.timedelta(hours=hours))


def _trade_problems(t, order_id, tenant, provider, pool, gpus, start, hours, unit, fee_bp):
    """Differences between trade t and what it must be (amounts in cents)."""
    p = []
    if not isinstance(t, dict):
        return ["trade is not an object: %r" % (t,)]
    if not TRADE_KEYS <= set(t) <= TRADE_KEYS | TRADE_KEYS_DISPATCH:
        p.append("trade keys %s, expected %s" % (sorted(t), sorted(TRADE_KEYS)))
    total = gpus * hours * unit
    want = {"order_id": order_id, "tenant_id": tenant["id"], "provider_id": provider["id"], "pool_id": pool["id"],
            "region": pool["region"], "accelerator": pool["accelerator"], "gpus": gpus, "start": start,
            "end": _end(start, hours), "hours": hours, "unit_price": money(unit), "total": money(total),
            "fee_bp": fee_bp, "fee": money(bp_of(total, fee_bp)), "state": "booked", "refunded": "0.00",
            "settled_at": None, "cancelled_at": None}
    for k, v in want.items():
        if t.get(k) != v:
            p.append("trade %s: %s = %r, expected %r" % (t.get("id"), k, t.get(k), v))
    rv = t.get("reservation")
    # the dispatcher may already have handed it to the pool's adapter
    if not (isinstance(rv, dict) and isinstance(rv.get("id"), int) and rv.get("state") in ("pending", "dispatched")):
        p.append("trade %s: reservation %r, expected {id, state: pending or dispatched}" % (t.get("id"), rv))
    return p


def _same_trade(a, b):
    """Equal but for the reservation's state, which the dispatcher moves on its own."""
    strip = lambda t: dict(t, reservation=(t.get("reservation") or {}).get("id"))  # noqa: E731
    return strip(a) == strip(b)


def _quiet_snapshot():
    check(book_quiet(), "the book worker did not consume the pool events within 10 s")
    return snapshot()


def _order_body(start, gpus=1, hours=1, **over):
    b = {"gpus": gpus, "duration_hours": hours, "earliest_start": start}
    b.update(over)
    return b


# ---------------------------------------------------------------- quote, order, exact money

def test_quote_explains_every_pool_and_order_fills_cheapest():
    e = env()
    mk = _m()
    c = Collector()
    fee_bp = _settings()["fee_bp"]
    ra, rb, rc = e.region(), e.region(), e.region()
    mk.latency([(ra, ra, "0.5"), (ra, rb, "40"), (ra, rc, "2")])
    P = e.account("provider")
    A = _pool(P, ra, price_per_gpu_hour="2.37")                         # chosen
    B = _pool(P, ra, price_per_gpu_hour="1.00")                         # health (draining)
    C = _pool(P, ra, price_per_gpu_hour="1.00", accelerator="A100-80GB-SXM")  # spec
    D = _pool(P, rc, price_per_gpu_hour="1.00")                         # region
    E = _pool(P, rb, price_per_gpu_hour="1.00")                         # latency
    F = _pool(P, ra, price_per_gpu_hour="9.00")                         # price
    G = _pool(P, ra, price_per_gpu_hour="1.00", gpu_count=2, gpus_per_node=2)  # capacity
    H = _pool(P, ra, price_per_gpu_hour="4.50")                         # budget (hourly cap)
    I = _pool(P, ra, price_per_gpu_hour="3.00")                         # outranked
    expect_status(mk.patch_pool(P["token"], B["id"], {"status": "draining"}), 200)
    mine = [A, B, C, D, E, F, G, H, I]
    ids = [p["id"] for p in mine]
    T = _tenant("500.00")
    bal = mk.budget(T["id"], hourly_cap="12.00")
    c.check(set(bal) == BALANCE_KEYS, "Balances keys %s" % sorted(bal))
    c.check(bal["hourly_cap"] == "12.00" and bal["monthly_cap"] is None, "budget reply %s" % bal)
    start = hour(30)
    body = _order_body(start, gpus=3, hours=2, origin_region=ra, max_rtt_ms=10, regions=[ra, rb],
                       spec={"accelerators": ["H100-SXM"]}, max_price_per_gpu_hour="5.00")
    slots_before = slots(ids)
    bal_before = mk.balances(T["id"])
    before = _quiet_snapshot()
    quote = mk.quote(T["token"], body)
    d = snapshot_diff(before, snapshot())
    c.check(not d, "POST /v1/quotes changed the database: %s" % d)
    c.check(slots(ids) == slots_before, "a quote changed pool_slots")
    c.check(mk.balances(T["id"]) == bal_before, "a quote changed the balances")
    c.check(set(quote) == QUOTE_KEYS, "quote keys %s, expected %s" % (sorted(quote), sorted(QUOTE_KEYS)))
    c.check(quote.get("clearing") == "continuous", "quote clearing %r" % quote.get("clearing"))
    c.check(quote.get("filled") is True and quote.get("gpus") == 3 and quote.get("gpus_available") == 3,
            "quote filled/gpus/gpus_available: %s" % {k: quote.get(k) for k in ("filled", "gpus", "gpus_available")})
    c.check(quote.get("total") == "14.22", "quote total %r, expected 3 GPUs x 2 h x 2.37 = '14.22'" % quote.get("total"))
    c.check(quote.get("window") == {"earliest_start": start, "latest_start": start}, "quote window %s" % quote.get("window"))
    want_pl = {"pool_id": A["id"], "provider_id": P["id"], "region": ra, "accelerator": "H100-SXM", "rtt_ms": "0.500",
               "rtt_source": "measured", "start": start, "end": _end(start, 2), "gpus": 3, "ncu": "3.000", "unit_price": "2.37", "price_per_ncu_hour": "2.37",
               "total": "14.22"}
    c.check(quote.get("placements") == [want_pl], "placements %s, expected [%s]" % (quote.get("placements"), want_pl))
    ranked = [(x["pool_id"], x["unit_price"]) for x in quote.get("ranked", []) if x["pool_id"] in ids]
    c.check(ranked == [(A["id"], "2.37"), (I["id"], "3.00")], "ranked (own pools) %s, expected A then I" % ranked)
    for x in quote.get("ranked", []):
        c.check(set(x) == PLACEMENT_KEYS, "ranked placement keys %s" % sorted(x))
    why = {x["pool_id"]: x for x in quote.get("rejected", []) if x["pool_id"] in ids}
    want_why = {B["id"]: "health", C["id"]: "spec", D["id"]: "region", E["id"]: "latency", F["id"]: "price",
                G["id"]: "capacity", H["id"]: "budget", I["id"]: "outranked"}
    names = {p["id"]: n for p, n in zip(mine, "ABCDEFGHI")}
    for pid, reason in want_why.items():
        got = why.get(pid)
        if c.check(got is not None, "pool %s is not in `rejected`" % names[pid]):
            c.check(got["reason"] == reason, "pool %s: reason %r (%s), expected %r"
                    % (names[pid], got["reason"], got.get("detail"), reason))
            c.check(isinstance(got.get("detail"), str) and got["detail"] != "", "pool %s: empty detail" % names[pid])
            c.check(set(got) == {"pool_id", "region", "accelerator", "reason", "detail"}, "rejected keys %s" % sorted(got))
    c.check(A["id"] not in why, "the chosen pool A is listed as rejected: %s" % why.get(A["id"]))
    # every other pool on the database fails an earlier check or the region
    others = [x for x in quote.get("rejected", []) if x["pool_id"] not in ids
              and x["reason"] not in ("health", "spec", "region")]
    c.check(not others, "pools outside the order's regions rejected for another reason: %s" % others[:3])

    # the order: the same request fills pool A
    r = mk.order(T["token"], body)
    o = expect_status(r, 201)
    c.check(set(o) == ORDER_KEYS, "order keys %s, expected %s" % (sorted(o), sorted(ORDER_KEYS)))
    c.check(o.get("gpus") == body["gpus"] and o.get("gpus_filled") == body["gpus"] and o.get("min_gpus") is None,
            "a whole order: gpus %s, gpus_filled %s, min_gpus %s" % (o.get("gpus"), o.get("gpus_filled"), o.get("min_gpus")))
    c.check((o.get("clearing"), o.get("clearing_region"), o.get("clearing_rounds")) == ("continuous", None, 0),
            "a continuous order's clearing fields: %s" % [o.get(k) for k in ("clearing", "clearing_region", "clearing_rounds")])
    c.check(o["state"] == "filled" and o["reason"] == "" and o["filled_at"] is not None and o["tenant_id"] == T["id"],
            "order state/reason/filled_at/tenant: %s" % {k: o.get(k) for k in ("state", "reason", "filled_at", "tenant_id")})
    c.check(len(o["trades"]) == 1, "order has %d trades, expected 1" % len(o["trades"]))
    if o["trades"]:
        t = o["trades"][0]
        TRADES.append(t["id"])
        for p in _trade_problems(t, o["id"], T, P, A, 3, start, 2, 237, fee_bp):
            c.add(p)
        c.check(t.get("fee") == money(bp_of(1422, fee_bp)), "fee %r" % t.get("fee"))
        if fee_bp == 250:
            c.check(t.get("fee") == "0.36", "fee %r, expected round(14.22 x 2.5%%) = '0.36'" % t.get("fee"))
        c.check(_same_trade(mk.get_trade(t["id"], T["token"]), t), "GET /v1/trades/{id} differs from the order's trade")
        c.check(mk.get_trade(t["id"], P["token"])["id"] == t["id"], "the provider cannot see its trade")
        lst = expect_status(e.c.get("/v1/trades?order=%d" % o["id"], token=T["token"]), 200)
        c.check([x["id"] for x in lst["items"]] == [t["id"]], "GET /v1/trades?order= -> %s" % lst["items"])
        # foreign parties see nothing
        T2, P2 = _tenant(), e.account("provider")
        for who, path in ((T2, "/v1/trades/%d" % t["id"]), (P2, "/v1/trades/%d" % t["id"]),
                          (T2, "/v1/orders/%d" % o["id"])):
            rr = e.c.get(path, token=who["token"])
            c.check(not error_problems(rr, 404, "not_found"), "%s by a foreign %s: %s" % (path, who["kind"], rr.short()))
        lst2 = expect_status(e.c.get("/v1/trades?order=%d" % o["id"], token=T2["token"]), 200)
        c.check(lst2["items"] == [], "another tenant lists this order's trades: %s" % lst2["items"])
        # operators: the trade's region, yes; another region, no
        op_in, op_out = e.account("operator", regions=[ra]), e.account("operator", regions=[rc])
        rr = e.c.get("/v1/trades/%d" % t["id"], token=op_in["token"])
        c.check(rr.status == 200 and rr.json.get("id") == t["id"], "operator of the trade's region: %s" % rr.short())
        rr = e.c.get("/v1/trades/%d" % t["id"], token=op_out["token"])
        c.check(not error_problems(rr, 404, "not_found"), "operator of another region: %s" % rr.short())
    g = mk.get_order(o["id"], T["token"])
    c.check({k: v for k, v in g.items() if k != "trades"} == {k: v for k, v in o.items() if k != "trades"}
            and len(g["trades"]) == len(o["trades"]) and all(map(_same_trade, g["trades"], o["trades"])),
            "GET /v1/orders/{id} differs from the POST reply")
    # money: available -14.22, escrow +14.22
    b = mk.balances(T["id"], token=T["token"])
    c.check((b["available"], b["escrow"], b["spent_this_month"]) == ("485.78", "14.22", "14.22"),
            "tenant balances after the trade %s, expected available 485.78, escrow 14.22, spent 14.22" % b)
    pp = expect_status(e.c.get("/v1/accounts/%d/postings" % T["id"], token=T["token"]), 200)["items"]
    legs = sorted((x["kind"], x["account"], x["amount"]) for x in pp)
    c.check(legs == [("deposit", "available", "500.00"), ("trade", "available", "-14.22"), ("trade", "escrow", "14.22")],
            "tenant postings %s" % legs)
    # the calendar: 3 GPUs in each of the two slots of pool A, nothing elsewhere
    s = slots(ids)
    booked = {k: v[1] for k, v in s.items() if v[1]}
    c.check(booked == {(A["id"], start): 3, (A["id"], _end(start, 1)): 3}, "pool_slots booked %s" % booked)
    c.check(all(v[0] == 8 for k, v in s.items() if k[0] == A["id"]), "pool_slots capacity of A %s" % s)
    for p in calendar_problems(ids) + ledger_problems() + trade_journal_problems(TRADES):
        c.add(p)
    # the order books capacity: a second identical order fills A again (5 of 8 left), a third
    # needs 3 of the remaining 2 and goes to I (3.00), the next cheapest
    o2 = expect_status(mk.order(T["token"], body), 201)
    o3 = expect_status(mk.order(T["token"], body), 201)
    got = [(x["state"], [t["pool_id"] for t in x["trades"]]) for x in (o2, o3)]
    c.check(got == [("filled", [A["id"]]), ("filled", [I["id"]])], "second/third order %s, expected A then I" % got)
    TRADES.extend(t["id"] for x in (o2, o3) for t in x["trades"])
    c.done()


def test_cancel_trade_free_and_late():
    e = env()
    mk = _m()
    c = Collector()
    st = _settings()
    fee_bp, free_h, charge_bp = st["fee_bp"], st["cancel_free_hours"], st["cancel_charge_bp"]
    r = e.region()
    P = e.account("provider")
    K = _pool(P, r, price_per_gpu_hour="2.37")
    T = _tenant("500.00")
    T2 = _tenant("10.00")
    early = hour(free_h + 6)
    late = hour(3)  # 2 to 3 hours ahead: inside the cancellation window
    o1 = expect_status(mk.order(T["token"], _order_body(early, gpus=3, hours=2, regions=[r])), 201)
    o2 = expect_status(mk.order(T["token"], _order_body(late, gpus=4, hours=3, regions=[r])), 201)
    check(o1["state"] == "filled" and o2["state"] == "filled", "setup orders not filled: %s / %s" % (o1, o2))
    t1, t2 = o1["trades"][0], o2["trades"][0]
    TRADES.extend([t1["id"], t2["id"]])
    c.check((t1["total"], t2["total"]) == ("14.22", "28.44"), "totals %s %s" % (t1["total"], t2["total"]))
    c.check(mk.avail_escrow(T["id"]) == (50000 - 1422 - 2844, 1422 + 2844), "balances after two trades %s"
            % (mk.avail_escrow(T["id"]),))
    # someone else's trade: 404 and nothing changes; a provider may not cancel at all
    before = _quiet_snapshot()
    rr = e.c.post("/v1/trades/%d/cancel" % t1["id"], None, token=T2["token"])
    c.check(not error_problems(rr, 404, "not_found", PATH_FIELD), "another tenant cancels: %s" % rr.short())
    rr = e.c.post("/v1/trades/%d/cancel" % t1["id"], None, token=P["token"])
    c.check(not error_problems(rr, 403, "forbidden"), "the provider cancels: %s" % rr.short())
    d = snapshot_diff(before, snapshot())
    c.check(not d, "refused cancellations changed the database: %s" % d)

    # more than cancel_free_hours ahead: full refund, capacity freed
    fees0, prov0 = fees_balance(), mk.avail_escrow(P["id"])
    rr = e.c.post("/v1/trades/%d/cancel" % t1["id"], None, token=T["token"])
    j = expect_status(rr, 200)
    c.check(set(j) == {"trade", "refund", "cancellation_charge"}, "cancel reply keys %s" % sorted(j))
    c.check((j.get("refund"), j.get("cancellation_charge")) == ("14.22", "0.00"),
            "early cancel refund/charge %s/%s, expected 14.22/0.00" % (j.get("refund"), j.get("cancellation_charge")))
    tj = j.get("trade") or {}
    c.check(tj.get("fee") == "0.00", "fee of a trade cancelled free of charge %r, expected '0.00'" % tj.get("fee"))
    c.check(tj.get("state") == "cancelled" and tj.get("refunded") == "14.22" and tj.get("cancelled_at")
            and (tj.get("reservation") or {}).get("state") == "cancelled",
            "cancelled trade %s" % {k: tj.get(k) for k in ("state", "refunded", "cancelled_at", "reservation")})
    c.check(mk.avail_escrow(T["id"]) == (50000 - 2844, 2844), "tenant after the free cancel %s, expected (%d, %d)"
            % (mk.avail_escrow(T["id"]), 50000 - 2844, 2844))
    c.check(mk.avail_escrow(P["id"]) == prov0 and fees_balance() == fees0, "a free cancel paid the provider or fees")
    booked = {k: v[1] for k, v in slots([K["id"]]).items() if k[1] in (early, _end(early, 1))}
    c.check(booked == {(K["id"], early): 0, (K["id"], _end(early, 1)): 0}, "pool_slots after the free cancel %s" % booked)
    # the freed capacity can be bought again: all 8 GPUs of both slots
    o3 = expect_status(mk.order(T2["token"], _order_body(early, gpus=8, hours=1, regions=[r],
                                                         max_price_per_gpu_hour="1.00")), 201)
    c.check(o3["state"] == "killed" and "price" in o3["reason"], "price-capped order %s %r" % (o3["state"], o3["reason"]))
    mk.deposit(T2["id"], "100.00")
    o3 = expect_status(mk.order(T2["token"], _order_body(early, gpus=8, hours=2, regions=[r])), 201)
    c.check(o3["state"] == "filled", "8 GPUs in the freed slots: %s %r" % (o3["state"], o3["reason"]))
    TRADES.extend(t["id"] for t in o3["trades"])
    # twice: 409, nothing changes
    before = _quiet_snapshot()
    rr = e.c.post("/v1/trades/%d/cancel" % t1["id"], None, token=T["token"])
    c.check(not error_problems(rr, 409, "conflict", PATH_FIELD), "second cancel: %s" % rr.short())
    d = snapshot_diff(before, snapshot())
    c.check(not d, "a second cancel changed the database: %s" % d)

    # within cancel_free_hours: the charge goes to the provider, less the fee
    total2 = 2844
    charge = bp_of(total2, charge_bp)
    fee = bp_of(charge, fee_bp)
    if (charge_bp, fee_bp) == (1000, 250):
        check((charge, fee) == (284, 7), "test arithmetic")
    fees0, prov0 = fees_balance(), mk.avail_escrow(P["id"])
    rr = e.c.post("/v1/trades/%d/cancel" % t2["id"], {}, token=T["token"])
    j = expect_status(rr, 200)
    c.check((j.get("refund"), j.get("cancellation_charge")) == (money(total2 - charge), money(charge)),
            "late cancel refund/charge %s/%s, expected %s/%s" % (j.get("refund"), j.get("cancellation_charge"),
                                                              money(total2 - charge), money(charge)))
    tj = j.get("trade") or {}
    c.check((tj.get("refunded"), tj.get("fee")) == (money(total2 - charge), money(fee)),
            "late-cancelled trade refunded %r, fee %r, expected %s, %s (the fee on the charge)"
            % (tj.get("refunded"), tj.get("fee"), money(total2 - charge), money(fee)))
    c.check(mk.avail_escrow(T["id"]) == (50000 - charge, 0), "tenant after the late cancel %s, expected (%d, 0)"
            % (mk.avail_escrow(T["id"]), 50000 - charge))
    c.check(mk.avail_escrow(P["id"]) == (prov0[0] + charge - fee, prov0[1]),
            "provider after the late cancel %s, expected available %d" % (mk.avail_escrow(P["id"]), prov0[0] + charge - fee))
    c.check(fees_balance() == fees0 + fee, "fees account +%d, expected +%d" % (fees_balance() - fees0, fee))
    b = mk.balances(T["id"])
    c.check(b["spent_this_month"] == money(charge), "spent_this_month %r, expected the charge %s" % (b["spent_this_month"], money(charge)))
    booked = [v[1] for k, v in slots([K["id"]]).items() if late <= k[1] < _end(late, 3)]
    c.check(booked == [0, 0, 0], "pool_slots after the late cancel %s" % booked)
    legs = q("SELECT l.purpose, coalesce(l.owner_id, 0), p.amount FROM journal_txns j JOIN postings p ON p.txn_id = j.id"
             " JOIN ledger_accounts l ON l.id = p.ledger_account_id WHERE j.trade_id = %d AND j.kind = 'cancellation'"
             " ORDER BY p.id" % t2["id"])
    want = [["escrow", str(T["id"]), str(-total2)], ["available", str(T["id"]), str(total2 - charge)],
            ["available", str(P["id"]), str(charge - fee)], ["fees", "0", str(fee)]]
    c.check(legs == [w for w in want if w[2] != "0"], "cancellation legs %s, expected %s" % (legs, want))
    for p in ledger_problems():
        c.add(p)
    c.done()


def test_fill_or_kill_and_insufficient_funds():
    e = env()
    mk = _m()
    c = Collector()
    r = e.region()
    P = e.account("provider")
    X = _pool(P, r, price_per_gpu_hour="2.00")
    Y = _pool(P, r, price_per_gpu_hour="1.00", gpu_count=4, gpus_per_node=4)
    T = _tenant("10.00")
    start = hour(30)
    # more GPUs than any pool: killed, reason says capacity; no trade, no booking
    before_slots = slots([X["id"], Y["id"]])
    o = expect_status(mk.order(T["token"], _order_body(start, gpus=9, regions=[r])), 201)
    c.check(o["state"] == "killed" and o["trades"] == [] and o["filled_at"] is None,
            "oversized fill_or_kill: %s" % {k: o.get(k) for k in ("state", "trades", "filled_at")})
    c.check("capacity" in o["reason"], "killed reason %r does not say capacity" % o["reason"])
    c.check(q1("SELECT count(*) FROM trades WHERE order_id = %d" % o["id"]) == "0", "a killed order has trades")
    c.check(slots([X["id"], Y["id"]]) == before_slots, "a killed order booked capacity")
    # a model nobody offers in the region: killed for spec
    o = expect_status(mk.order(T["token"], _order_body(start, regions=[r], spec={"accelerators": ["MI300X"]})), 201)
    c.check(o["state"] == "killed" and "spec" in o["reason"], "spec-killed order: %s %r" % (o["state"], o["reason"]))

    # too little money: 422 insufficient_funds and NOTHING stored (no order, trade, booking, posting)
    norders = q1("SELECT count(*) FROM orders WHERE tenant_id = %d" % T["id"])
    bal = mk.balances(T["id"])
    for label, body in (("gang", _order_body(start, gpus=6, hours=2, regions=[r])),           # X: 24.00 > 10.00
                        # Y's piece (4 x 1.00) is affordable, X's (6 x 2.00) is not: nothing may remain
                        ("split", _order_body(start, gpus=10, hours=1, regions=[r], placement="split")),  # 16.00
                        ("good_till", _order_body(start, gpus=5, hours=2, regions=[r], time_in_force="good_till",
                                                  expires_at=hour(20)))):  # X: 20.00
        before = _quiet_snapshot()
        rr = mk.order(T["token"], body)
        c.check(not error_problems(rr, 422, "insufficient_funds"), "%s order beyond the balance: %s" % (label, rr.short()))
        d = snapshot_diff(before, snapshot())
        c.check(not d, "%s order refused for funds changed the database: %s" % (label, d))
    c.check(q1("SELECT count(*) FROM orders WHERE tenant_id = %d" % T["id"]) == norders, "a refused order was stored")
    c.check(mk.balances(T["id"]) == bal, "balances changed by refused orders")
    c.check(slots([X["id"], Y["id"]]) == before_slots, "refused orders booked capacity")
    # exactly the balance is enough: 5 GPUs x 1 h x 2.00 = 10.00
    o = expect_status(mk.order(T["token"], _order_body(start, gpus=5, regions=[r])), 201)
    c.check(o["state"] == "filled" and [t["pool_id"] for t in o["trades"]] == [X["id"]], "order of exactly 10.00: %s %s"
            % (o["state"], o["reason"]))
    TRADES.extend(t["id"] for t in o["trades"])
    c.check(mk.avail_escrow(T["id"]) == (0, 1000), "balances after spending everything %s" % (mk.avail_escrow(T["id"]),))
    c.done()


def test_objectives_pick_different_pools():
    e = env()
    mk = _m()
    c = Collector()
    near, far = e.region(), e.region()
    mk.latency([(near, near, "1"), (near, far, "60")])
    P = e.account("provider")
    N = _pool(P, near, price_per_gpu_hour="3.00")
    F = _pool(P, far, price_per_gpu_hour="2.00")
    T = _tenant("200.00")
    start = hour(30)
    base = _order_body(start, gpus=2, hours=1, regions=[near, far], origin_region=near)
    picks = {}
    for label, over in (("cheapest", {}), ("lowest_latency", {"objective": "lowest_latency"}),
                        ("tradeoff 0.01/ms", {"objective": "tradeoff", "money_per_ms": "0.01"}),
                        ("tradeoff 0.02/ms", {"objective": "tradeoff", "money_per_ms": "0.02"})):
        qj = mk.quote(T["token"], dict(base, **over))
        picks[label] = [(p["pool_id"], p["rtt_ms"]) for p in qj["placements"]]
    want = {"cheapest": [(F["id"], "60.000")], "lowest_latency": [(N["id"], "1.000")],
            # 1 ms is worth 0.01 per GPU-hour: far 2.00 + 0.60 = 2.60 < near 3.00 + 0.01 = 3.01 -> far
            "tradeoff 0.01/ms": [(F["id"], "60.000")],
            # at 0.02 per ms: far 2.00 + 1.20 = 3.20 > near 3.00 + 0.02 = 3.02 -> near
            "tradeoff 0.02/ms": [(N["id"], "1.000")]}
    c.check(picks == want, "placements by objective %s, expected %s" % (picks, want))
    o1 = expect_status(mk.order(T["token"], base), 201)
    o2 = expect_status(mk.order(T["token"], dict(base, objective="lowest_latency")), 201)
    got = [[(t["pool_id"], t["unit_price"], t["total"]) for t in o["trades"]] for o in (o1, o2)]
    c.check(got == [[(F["id"], "2.00", "4.00")], [(N["id"], "3.00", "6.00")]],
            "cheapest / lowest_latency orders filled %s" % got)
    TRADES.extend(t["id"] for o in (o1, o2) for t in o["trades"])
    c.check(mk.avail_escrow(T["id"]) == (20000 - 1000, 1000), "balances %s" % (mk.avail_escrow(T["id"]),))
    # a window that began in the past starts at the next whole hour
    qj = mk.quote(T["token"], dict(base, earliest_start=hour(-2), latest_start=hour(3)))
    c.check(qj["window"] == {"earliest_start": hour(1), "latest_start": hour(3)}, "clamped window %s" % qj["window"])
    c.check([p["start"] for p in qj["placements"]] == [hour(1)], "placement starts %s, expected %s"
            % ([p["start"] for p in qj["placements"]], hour(1)))
    c.done()


def test_split_gang_and_pool_changes_with_bookings():
    e = env()
    mk = _m()
    c = Collector()
    fee_bp = _settings()["fee_bp"]
    r = e.region()
    P = e.account("provider")
    S1 = _pool(P, r, price_per_gpu_hour="2.00")
    S2 = _pool(P, r, price_per_gpu_hour="2.10")
    S3 = _pool(P, r, price_per_gpu_hour="2.20")
    T = _tenant("1000.00")
    start = hour(30)
    gang = expect_status(mk.order(T["token"], _order_body(start, gpus=20, hours=2, regions=[r])), 201)
    c.check(gang["state"] == "killed" and gang["trades"] == [] and "capacity" in gang["reason"],
            "gang of 20 over 8-GPU pools: %s %r" % (gang["state"], gang["reason"]))
    two = expect_status(mk.order(T["token"], _order_body(start, gpus=20, hours=2, regions=[r], placement="split",
                                                         max_pieces=2)), 201)
    c.check(two["state"] == "killed" and two["trades"] == [], "split of 20 in at most 2 pools: %s" % two["state"])
    c.check(mk.avail_escrow(T["id"]) == (100000, 0), "killed orders moved money")
    o = expect_status(mk.order(T["token"], _order_body(start, gpus=20, hours=2, regions=[r], placement="split")), 201)
    c.check(o["state"] == "filled", "split of 20: %s %r" % (o["state"], o["reason"]))
    TRADES.extend(t["id"] for t in o["trades"])
    pieces = sorted((t["pool_id"], t["gpus"], t["start"], t["end"], t["unit_price"], t["total"]) for t in o["trades"])
    want = sorted([(S1["id"], 8, start, _end(start, 2), "2.00", "32.00"), (S2["id"], 8, start, _end(start, 2), "2.10", "33.60"),
                   (S3["id"], 4, start, _end(start, 2), "2.20", "17.60")])
    c.check(pieces == want, "split pieces %s, expected %s" % (pieces, want))
    for t in o["trades"]:
        pool = {S1["id"]: S1, S2["id"]: S2, S3["id"]: S3}.get(t["pool_id"])
        if pool:
            for p in _trade_problems(t, o["id"], T, P, pool, t["gpus"], start, 2, minor(pool["price_per_gpu_hour"]), fee_bp):
                c.add(p)
    c.check(mk.avail_escrow(T["id"]) == (100000 - 8320, 8320), "balances after the split %s, expected 83.20 in escrow"
            % (mk.avail_escrow(T["id"]),))
    # S1 is now fully booked in two slots: shrinking, or a window that strands the bookings,
    # are refused and change nothing (retiring drains: test_drain.py)
    for label, method, body, status, name, field in (
            ("gpu_count 4 < 8 booked", "PATCH", {"gpu_count": 4}, 409, "conflict", "gpu_count"),
            ("gpu_count 7 < 8 booked", "PATCH", {"gpu_count": 7}, 409, "conflict", "gpu_count"),
            ("window ending before the booking", "PATCH", {"available_until": start}, 409, "conflict", "available_until"),
            ("window starting after the booking", "PATCH", {"available_from": _end(start, 1)}, 409, "conflict", None)):
        before = _quiet_snapshot()
        rr = e.c.req(method, "/v1/pools/%d" % S1["id"], body=body, token=P["token"])
        c.check(not error_problems(rr, status, name, field), "%s: %s" % (label, rr.short()))
        d = snapshot_diff(before, snapshot())
        c.check(not d, "%s changed the database: %s" % (label, d))
    pool = expect_status(e.c.get("/v1/pools/%d" % S1["id"], token=P["token"]), 200)
    c.check(pool["gpu_count"] == 8 and pool["status"] == "active", "pool after refused changes: %s %s"
            % (pool["gpu_count"], pool["status"]))
    # retiring it now is accepted and waits for the bookings (202, draining until their end);
    # back to active, the retirement is off
    rr = e.c.delete("/v1/pools/%d" % S1["id"], token=P["token"])
    c.check(rr.status == 202 and rr.json["status"] == "draining" and rr.json["retire_at"] == _end(start, 2),
            "retire with future bookings: %s" % rr.short())
    expect_status(mk.patch_pool(P["token"], S1["id"], {"status": "active"}), 200)
    # growing is fine and the calendar follows
    expect_status(mk.patch_pool(P["token"], S1["id"], {"gpu_count": 16}), 200)
    caps = {v[0] for k, v in slots([S1["id"]]).items()}
    c.check(caps == {16}, "pool_slots capacity after gpu_count 16: %s" % caps)
    for p in calendar_problems([S1["id"], S2["id"], S3["id"]]):
        c.add(p)
    c.done()


# ---------------------------------------------------------------- resting orders and the book worker

def test_resting_order_filled_by_new_pool():
    e = env()
    mk = _m()
    c = Collector()
    fee_bp = _settings()["fee_bp"]
    r = e.region()
    T = _tenant("100.00")
    start = hour(30)
    body = _order_body(start, gpus=2, hours=2, latest_start=hour(34), regions=[r], time_in_force="good_till",
                       expires_at=hour(48))
    o = expect_status(mk.order(T["token"], body), 201)
    c.check(o["state"] == "open" and o["trades"] == [] and o["reason"] != "", "resting order: %s %r" % (o["state"], o["reason"]))
    c.check(mk.avail_escrow(T["id"]) == (10000, 0), "an open order moved money")
    lst = expect_status(e.c.get("/v1/orders?state=open", token=T["token"]), 200)
    c.check([x["id"] for x in lst["items"]] == [o["id"]], "GET /v1/orders?state=open: %s" % [x["id"] for x in lst["items"]])
    P = e.account("provider")
    N = _pool(P, r, price_per_gpu_hour="1.75")
    t0 = time.time()
    o2 = mk.wait_order(o["id"], T["token"], timeout=10)
    c.check(o2["state"] == "filled", "10 s after a fitting pool appeared the order is %s (%r)" % (o2["state"], o2["reason"]))
    if o2["state"] == "filled":
        print("    (filled by the book worker after %.1fs)" % (time.time() - t0))
        c.check(len(o2["trades"]) == 1, "trades %s" % o2["trades"])
        t = o2["trades"][0]
        TRADES.append(t["id"])
        for p in _trade_problems(t, o["id"], T, P, N, 2, start, 2, 175, fee_bp):
            c.add(p)
        c.check(o2["filled_at"] is not None and o2["reason"] == "", "filled order filled_at/reason %s %r"
                % (o2["filled_at"], o2["reason"]))
        c.check(mk.avail_escrow(T["id"]) == (10000 - 700, 700), "balances %s" % (mk.avail_escrow(T["id"]),))
    for p in calendar_problems([N["id"]]):
        c.add(p)
    c.done()


def test_resting_order_filled_by_price_cut():
    e = env()
    mk = _m()
    c = Collector()
    fee_bp = _settings()["fee_bp"]
    r = e.region()
    P = e.account("provider")
    X = _pool(P, r, price_per_gpu_hour="2.00")
    T = _tenant("100.00")
    start = hour(30)
    o = expect_status(mk.order(T["token"], _order_body(start, gpus=4, hours=1, regions=[r], max_price_per_gpu_hour="1.50",
                                                        time_in_force="good_till", expires_at=hour(24))), 201)
    c.check(o["state"] == "open" and "price" in o["reason"], "resting order: %s %r" % (o["state"], o["reason"]))
    # a price cut that is not enough changes nothing
    expect_status(mk.patch_pool(P["token"], X["id"], {"price_per_gpu_hour": "1.60"}), 200)
    check(book_quiet(), "book worker idle")
    o1 = mk.get_order(o["id"], T["token"])
    c.check(o1["state"] == "open" and o1["trades"] == [], "after a cut to 1.60 the order is %s" % o1["state"])
    expect_status(mk.patch_pool(P["token"], X["id"], {"price_per_gpu_hour": "1.40"}), 200)
    o2 = mk.wait_order(o["id"], T["token"], timeout=10)
    c.check(o2["state"] == "filled", "10 s after a price cut to 1.40 the order is %s (%r)" % (o2["state"], o2["reason"]))
    if o2["state"] == "filled" and o2["trades"]:
        t = o2["trades"][0]
        TRADES.append(t["id"])
        X2 = dict(X, price_per_gpu_hour="1.40")
        for p in _trade_problems(t, o["id"], T, P, X2, 4, start, 1, 140, fee_bp):
            c.add(p)
        c.check(mk.avail_escrow(T["id"]) == (10000 - 560, 560), "balances %s" % (mk.avail_escrow(T["id"]),))
    c.done()


def test_resting_order_for_absent_model_stays_open_and_cancels():
    e = env()
    mk = _m()
    c = Collector()
    r = e.region()
    T, T2 = _tenant("100.00"), _tenant("100.00")
    body = _order_body(hour(30), gpus=1, hours=1, regions=[r], spec={"accelerators": ["MI300X"]},
                       time_in_force="good_till", expires_at=hour(24))
    o = expect_status(mk.order(T["token"], body), 201)
    c.check(o["state"] == "open", "resting order %s" % o["state"])
    P = e.account("provider")
    H = _pool(P, r, price_per_gpu_hour="1.00")  # H100 in the order's region: not the model asked for
    check(book_quiet(), "book worker idle")
    time.sleep(1.2)
    o1 = mk.get_order(o["id"], T["token"])
    c.check(o1["state"] == "open" and o1["trades"] == [], "an unrelated pool filled the order: %s %s"
            % (o1["state"], o1["trades"]))
    c.check(q1("SELECT count(*) FROM trades WHERE pool_id = %d" % H["id"]) == "0", "the unrelated pool has trades")
    # foreign tenant: 404 for GET and DELETE, nothing changes
    before = _quiet_snapshot()
    for m in ("GET", "DELETE"):
        rr = e.c.req(m, "/v1/orders/%d" % o["id"], token=T2["token"])
        c.check(not error_problems(rr, 404, "not_found", PATH_FIELD), "%s of a foreign order: %s" % (m, rr.short()))
    d = snapshot_diff(before, snapshot())
    c.check(not d, "foreign DELETE changed the database: %s" % d)
    rr = e.c.delete("/v1/orders/%d" % o["id"], token=T["token"])
    j = expect_status(rr, 200)
    c.check(j.get("state") == "cancelled" and j.get("id") == o["id"], "DELETE open order -> %s" % j.get("state"))
    before = _quiet_snapshot()
    rr = e.c.delete("/v1/orders/%d" % o["id"], token=T["token"])
    c.check(not error_problems(rr, 409, "conflict", PATH_FIELD), "second DELETE: %s" % rr.short())
    d = snapshot_diff(before, snapshot())
    c.check(not d, "second DELETE changed the database: %s" % d)
    c.check(mk.get_order(o["id"], T["token"])["state"] == "cancelled", "state after DELETE")
    # a cancelled order is not filled later by a pool of the right model
    _pool(P, r, price_per_gpu_hour="1.00", accelerator="MI300X")
    check(book_quiet(), "book worker idle")
    time.sleep(0.5)
    o3 = mk.get_order(o["id"], T["token"])
    c.check(o3["state"] == "cancelled" and o3["trades"] == [], "a cancelled order was filled: %s" % o3["state"])
    c.check(mk.avail_escrow(T["id"]) == (10000, 0), "balances %s" % (mk.avail_escrow(T["id"]),))
    c.done()


def test_resting_order_unfunded():
    e = env()
    mk = _m()
    c = Collector()
    r = e.region()
    T = _tenant("1.00")
    start = hour(30)
    o = expect_status(mk.order(T["token"], _order_body(start, gpus=2, hours=2, regions=[r], time_in_force="good_till",
                                                        expires_at=hour(24))), 201)
    c.check(o["state"] == "open", "resting order %s" % o["state"])
    P = e.account("provider")
    X = _pool(P, r, price_per_gpu_hour="1.00")  # fits, but the tenant has 1.00 of the 4.00 needed
    check(book_quiet(), "book worker idle")
    o1 = mk.get_order(o["id"], T["token"])
    c.check(o1["state"] == "open" and o1["trades"] == [], "unfunded resting order %s" % o1["state"])
    c.check("balance" in o1["reason"] or "fund" in o1["reason"], "reason %r does not mention the balance" % o1["reason"])
    c.check(booked_slots(X["id"]) == 0 and mk.avail_escrow(T["id"]) == (100, 0), "an unfunded rematch wrote something")
    expect_status(e.c.delete("/v1/orders/%d" % o["id"], token=T["token"]), 200)
    c.done()


def test_resting_order_expiry():
    """A deadline a few seconds away: the maintenance worker expires the order once it has
    passed.  On a database of its own whose test clock (TEST-ONLY, schema/014_clock.sql) the
    test moves past the deadline instead of waiting for it."""
    c = Collector()
    with PrivateEnv("order_expiry", clock="now") as e:
        mk = Market(e)
        r = e.region()
        T = e.account("tenant")
        mk.deposit(T["id"], "1.00")
        exp = ts(datetime.datetime.fromtimestamp(e.now(), datetime.timezone.utc) + datetime.timedelta(seconds=3))
        o = expect_status(mk.order(T["token"], _order_body(e.hour(30), regions=[r], spec={"accelerators": ["MI300X"]},
                                                            time_in_force="good_till", expires_at=exp)), 201)
        c.check(o["state"] == "open", "short-lived resting order %s" % o["state"])
        e.clock("+4 seconds")
        o2 = mk.wait_order(o["id"], T["token"], states=("expired",), timeout=10)
        c.check(o2["state"] == "expired", "10 s after the clock passed its deadline the order is %s" % o2["state"])
    c.done()


def test_resting_orders_woken_by_cancellation_reactivation_and_growth():
    """The other pool events: capacity freed by a cancelled trade, a draining pool set active
    again, and a pool that grows each fill a resting order that fits."""
    e = env()
    mk = _m()
    c = Collector()
    r = e.region()
    P = e.account("provider")
    X = _pool(P, r, price_per_gpu_hour="1.00")
    T1, T2 = _tenant("100.00"), _tenant("100.00")
    start = hour(30)
    full = expect_status(mk.order(T1["token"], _order_body(start, gpus=8, hours=2, regions=[r])), 201)
    check(full["state"] == "filled", "setup: %s" % full["state"])
    TRADES.extend(t["id"] for t in full["trades"])
    gt = dict(time_in_force="good_till", expires_at=hour(24))
    o = expect_status(mk.order(T2["token"], _order_body(start, gpus=6, hours=2, regions=[r], **gt)), 201)
    c.check(o["state"] == "open" and "capacity" in o["reason"], "resting order on a full pool: %s %r"
            % (o["state"], o["reason"]))
    expect_status(e.c.post("/v1/trades/%d/cancel" % full["trades"][0]["id"], None, token=T1["token"]), 200)
    o2 = mk.wait_order(o["id"], T2["token"], timeout=10)
    c.check(o2["state"] == "filled" and [t["gpus"] for t in o2["trades"]] == [6],
            "10 s after a cancellation freed 8 GPUs the resting order is %s" % o2["state"])
    TRADES.extend(t["id"] for t in o2["trades"])
    # reactivation
    Y = _pool(P, r, price_per_gpu_hour="1.00", gpu_count=4, gpus_per_node=4)
    expect_status(mk.patch_pool(P["token"], Y["id"], {"status": "draining"}), 200)
    o = expect_status(mk.order(T2["token"], _order_body(start, gpus=3, hours=1, regions=[r], **gt)), 201)
    c.check(o["state"] == "open", "resting order while the 4-GPU pool drains: %s (%r)" % (o["state"], o["reason"]))
    expect_status(mk.patch_pool(P["token"], Y["id"], {"status": "active"}), 200)
    o2 = mk.wait_order(o["id"], T2["token"], timeout=10)
    c.check(o2["state"] == "filled" and [t["pool_id"] for t in o2["trades"]] == [Y["id"]],
            "10 s after reactivation the resting order is %s" % o2["state"])
    TRADES.extend(t["id"] for t in o2["trades"])
    # growth: X has 2 GPUs free at the start (6 booked), Y 1: 10 GPUs fit nowhere until X has 16
    o = expect_status(mk.order(T2["token"], _order_body(start, gpus=10, hours=1, regions=[r], **gt)), 201)
    c.check(o["state"] == "open", "resting order for 10 GPUs: %s" % o["state"])
    expect_status(mk.patch_pool(P["token"], X["id"], {"gpu_count": 16}), 200)
    o2 = mk.wait_order(o["id"], T2["token"], timeout=10)
    c.check(o2["state"] == "filled" and [(t["pool_id"], t["gpus"]) for t in o2["trades"]] == [(X["id"], 10)],
            "10 s after the pool grew the resting order is %s" % o2["state"])
    TRADES.extend(t["id"] for t in o2["trades"])
    if o2["state"] == "open":
        e.c.delete("/v1/orders/%d" % o["id"], token=T2["token"])
    # 6 x 2 x 1.00 + 3 x 1 x 1.00 + 10 x 1 x 1.00 = 25.00
    c.check(mk.avail_escrow(T2["id"]) == (10000 - 2500, 2500), "balances %s" % (mk.avail_escrow(T2["id"]),))
    for p in calendar_problems([X["id"], Y["id"]]):
        c.add(p)
    c.done()


def test_resting_order_woken_when_pool_health_recovers():
    """A pool whose heartbeat says `down` is skipped (reason health); when its heartbeat says
    healthy again its capacity is usable, so a resting order that fits must be filled."""
    e = env()
    mk = _m()
    c = Collector()
    r = e.region()
    P = e.account("provider")
    # silent: the simulated cluster sends no heartbeats of its own, ours decide the health
    X = _pool(P, r, price_per_gpu_hour="1.00", adapter={"kind": "sim", "config": {"silent": True}})
    hb = "/v1/pools/%d/heartbeat" % X["id"]
    j = expect_status(e.c.post(hb, {"healthy_gpus": 0, "utilization_bp": 0}, token=P["token"]), 200)
    c.check(j["health"]["state"] == "down", "health after a heartbeat of 0 healthy GPUs: %s" % j["health"])
    T = _tenant("100.00")
    body = _order_body(hour(30), gpus=2, hours=1, regions=[r])
    qj = mk.quote(T["token"], body)
    v = [x["reason"] for x in qj["rejected"] if x["pool_id"] == X["id"]]
    c.check(not qj["filled"] and v == ["health"], "quote on a down pool: filled %s, reasons %s" % (qj["filled"], v))
    o = expect_status(mk.order(T["token"], dict(body, time_in_force="good_till", expires_at=hour(24))), 201)
    c.check(o["state"] == "open" and "health" in o["reason"], "resting order: %s %r" % (o["state"], o["reason"]))
    j = expect_status(e.c.post(hb, {"healthy_gpus": 8, "utilization_bp": 0}, token=P["token"]), 200)
    c.check(j["health"]["state"] == "healthy", "health after a full heartbeat: %s" % j["health"])
    c.check(mk.quote(T["token"], body)["filled"], "a quote on the recovered pool does not fill")
    o2 = mk.wait_order(o["id"], T["token"], timeout=10)
    c.check(o2["state"] == "filled", "10 s after the pool recovered the resting order is %s (%r)"
            % (o2["state"], o2["reason"]))
    TRADES.extend(t["id"] for t in o2["trades"])
    if o2["state"] == "open":
        e.c.delete("/v1/orders/%d" % o["id"], token=T["token"])
    c.done()


def test_resting_order_woken_by_deposit_or_budget_lift():
    """A resting order held back only by the tenant's money (reason: balance) or budget cap
    must fill once the tenant deposits or lifts the cap, not wait for an unrelated pool event."""
    e = env()
    mk = _m()
    c = Collector()
    r = e.region()
    T1, T2 = _tenant(), _tenant("100.00")
    mk.budget(T2["id"], hourly_cap="1.00")
    gt = dict(time_in_force="good_till", expires_at=hour(24))
    o1 = expect_status(mk.order(T1["token"], _order_body(hour(30), gpus=2, hours=2, regions=[r], **gt)), 201)
    o2 = expect_status(mk.order(T2["token"], _order_body(hour(30), gpus=2, hours=2, regions=[r], **gt)), 201)
    P = e.account("provider")
    _pool(P, r, price_per_gpu_hour="1.00")
    check(book_quiet(), "book worker idle")
    a, b = mk.get_order(o1["id"], T1["token"]), mk.get_order(o2["id"], T2["token"])
    c.check(a["state"] == "open" and "balance" in a["reason"], "unfunded resting order %s %r" % (a["state"], a["reason"]))
    c.check(b["state"] == "open" and "budget" in b["reason"], "capped resting order %s %r" % (b["state"], b["reason"]))
    mk.deposit(T1["id"], "100.00")
    mk.budget(T2["id"])
    for label, o, t in (("a deposit", o1, T1), ("lifting the hourly cap", o2, T2)):
        got = mk.wait_order(o["id"], t["token"], timeout=6)
        c.check(got["state"] == "filled", "6 s after %s the resting order is %s (%r)" % (label, got["state"], got["reason"]))
        TRADES.extend(x["id"] for x in got["trades"])
        if got["state"] == "open":
            e.c.delete("/v1/orders/%d" % o["id"], token=t["token"])
    c.done()


def test_start_window_availability_and_pieces():
    """The earliest start with room in the window; the pool's availability bounds; exclude_regions;
    the default of 16 pieces for split orders; the hourly cap over a split order's pieces."""
    e = env()
    mk = _m()
    c = Collector()
    base = parse_ts(hour(0))
    at = lambda k: ts(base + datetime.timedelta(hours=k))  # noqa: E731 — one base: no hour may tick between
    r, r2 = e.region(), e.region()
    P = e.account("provider")
    X = _pool(P, r, price_per_gpu_hour="1.00", available_from=at(30), available_until=at(36))
    T = _tenant("1000.00")
    full = expect_status(mk.order(T["token"], _order_body(at(30), gpus=8, hours=1, regions=[r])), 201)
    check(full["state"] == "filled", "setup %s %r" % (full["state"], full["reason"]))
    TRADES.extend(t["id"] for t in full["trades"])
    o = expect_status(mk.order(T["token"], _order_body(at(30), gpus=4, hours=2, latest_start=at(33), regions=[r])), 201)
    c.check(o["state"] == "filled" and [(t["start"], t["end"]) for t in o["trades"]] == [(at(31), at(33))],
            "window [30, 33] with slot 30 full: %s %s" % (o["state"], [(t["start"], t["end"]) for t in o["trades"]]))
    TRADES.extend(t["id"] for t in o["trades"])
    # availability ends at 36: a 3-hour order may start at 33 at the latest
    for start, hours, ok in ((at(34), 2, True), (at(34), 3, False), (at(29), 1, False), (at(36), 1, False)):
        qj = mk.quote(T["token"], _order_body(start, gpus=1, hours=hours, regions=[r]))
        v = [x["reason"] for x in qj["rejected"] if x["pool_id"] == X["id"]]
        c.check(qj["filled"] == ok and (ok or v == ["capacity"]),
                "start %s for %d h in availability [30, 36): filled %s, reasons %s" % (start, hours, qj["filled"], v))
    qj = mk.quote(T["token"], _order_body(at(34), gpus=1, regions=[r, r2], exclude_regions=[r]))
    v = [x["reason"] for x in qj["rejected"] if x["pool_id"] == X["id"]]
    c.check(not qj["filled"] and v == ["region"], "excluded region: filled %s, reasons %s" % (qj["filled"], v))
    # 20 one-GPU pools: a split of 20 needs 20 pieces; the default allows 16
    ones = [_pool(P, r2, price_per_gpu_hour=money(100 + i), gpu_count=1, gpus_per_node=1) for i in range(20)]
    body = _order_body(at(30), gpus=20, hours=1, regions=[r2], placement="split")
    qj = mk.quote(T["token"], body)
    c.check(not qj["filled"], "split of 20 one-GPU pieces with the default max_pieces (16) fills: %d pieces"
            % len(qj["placements"]))
    qj = mk.quote(T["token"], dict(body, gpus=16))
    c.check(qj["filled"] and len(qj["placements"]) == 16 and
            sorted(p["pool_id"] for p in qj["placements"]) == sorted(p["id"] for p in ones[:16]),
            "split of 16: filled %s with %d pieces (expected the 16 cheapest pools)" % (qj["filled"], len(qj["placements"])))
    # 1.00 + 1.01 + ... + 1.15 = 17.20 per hour: a cap of 17.19 refuses it, 17.20 allows it
    want = sum(100 + i for i in range(16))
    c.check(qj["total"] == money(want), "split of 16 total %s, expected %s" % (qj["total"], money(want)))
    mk.budget(T["id"], hourly_cap=money(want - 1))
    o = expect_status(mk.order(T["token"], dict(body, gpus=16)), 201)
    c.check(o["state"] == "killed" and "budget" in o["reason"], "split over the hourly cap: %s %r" % (o["state"], o["reason"]))
    mk.budget(T["id"], hourly_cap=money(want))
    o = expect_status(mk.order(T["token"], dict(body, gpus=16, max_pieces=64)), 201)
    c.check(o["state"] == "filled" and len(o["trades"]) == 16 and len({t["start"] for t in o["trades"]}) == 1,
            "split of 16 at exactly the hourly cap: %s, %d trades" % (o["state"], len(o["trades"])))
    TRADES.extend(t["id"] for t in o["trades"])
    o = expect_status(mk.order(T["token"], dict(body, gpus=4, max_pieces=64)), 201)
    c.check(o["state"] == "filled" and len(o["trades"]) == 4, "split of the 4 remaining pools: %s" % o["state"])
    TRADES.extend(t["id"] for t in o["trades"])
    mk.budget(T["id"])
    c.done()


def test_settings_fee_for_new_trades_policy_for_all():
    """PUT /v1/exchange/settings: a new fee applies to trades made afterwards (a trade keeps its
    fee_bp); a new cancellation policy applies to every trade."""
    e = env()
    mk = _m()
    c = Collector()
    st = _settings()
    r = e.region()
    P = e.account("provider")
    _pool(P, r, price_per_gpu_hour="3.33")
    T = _tenant("1000.00")
    old = mk.order(T["token"], _order_body(hour(3), gpus=3, hours=1, regions=[r])).json  # 9.99, old fee
    try:
        s = expect_status(e.c.put("/v1/exchange/settings", {"fee_bp": 500, "cancel_charge_bp": 2000}, token=e.admin), 200)
        c.check((s["fee_bp"], s["cancel_free_hours"], s["cancel_charge_bp"]) == (500, st["cancel_free_hours"], 2000),
                "settings after PUT %s" % s)
        new = mk.order(T["token"], _order_body(hour(3), gpus=3, hours=1, regions=[r])).json
        TRADES.extend(t["id"] for x in (old, new) for t in x["trades"])
        to, tn = old["trades"][0], new["trades"][0]
        c.check((to["fee_bp"], to["fee"]) == (st["fee_bp"], money(bp_of(999, st["fee_bp"]))), "old trade fee %s %s"
                % (to["fee_bp"], to["fee"]))
        c.check((tn["fee_bp"], tn["fee"]) == (500, "0.50"), "new trade fee %s %s, expected 500 bp, 0.50"
                % (tn["fee_bp"], tn["fee"]))
        for t, bp in ((to, st["fee_bp"]), (tn, 500)):
            fees0, prov0 = fees_balance(), mk.avail_escrow(P["id"])[0]
            j = expect_status(e.c.post("/v1/trades/%d/cancel" % t["id"], None, token=T["token"]), 200)
            charge = bp_of(999, 2000)  # the policy now in force: 20 %
            c.check((j["refund"], j["cancellation_charge"]) == (money(999 - charge), money(charge)),
                    "late cancel under the new policy: refund %s, charge %s, expected %s, %s"
                    % (j["refund"], j["cancellation_charge"], money(999 - charge), money(charge)))
            fee = bp_of(charge, bp)  # at the trade's own fee
            c.check(fees_balance() - fees0 == fee and mk.avail_escrow(P["id"])[0] - prov0 == charge - fee,
                    "trade at %d bp: fees +%d, provider +%d, expected +%d, +%d"
                    % (bp, fees_balance() - fees0, mk.avail_escrow(P["id"])[0] - prov0, fee, charge - fee))
    finally:
        e.c.put("/v1/exchange/settings", {"fee_bp": st["fee_bp"], "cancel_charge_bp": st["cancel_charge_bp"]},
                token=e.admin)
    c.done()


def test_monthly_budget_counts_net_spend():
    """A fully refunded cancellation gives the monthly budget back; a late one keeps the charge."""
    e = env()
    mk = _m()
    c = Collector()
    r = e.region()
    P = e.account("provider")
    _pool(P, r, price_per_gpu_hour="2.00", gpu_count=32)
    T = _tenant("100.00")
    mk.budget(T["id"], monthly_cap="20.00")
    body = _order_body(hour(40), gpus=4, hours=2, regions=[r])  # 16.00
    o1 = expect_status(mk.order(T["token"], body), 201)
    check(o1["state"] == "filled", "first order %s" % o1["state"])
    expect_status(e.c.post("/v1/trades/%d/cancel" % o1["trades"][0]["id"], None, token=T["token"]), 200)
    c.check(mk.balances(T["id"])["spent_this_month"] == "0.00", "spent after a free cancel %s" % mk.balances(T["id"]))
    o2 = expect_status(mk.order(T["token"], body), 201)
    c.check(o2["state"] == "filled", "after a full refund the same order is %s (%r)" % (o2["state"], o2["reason"]))
    TRADES.extend(t["id"] for x in (o1, o2) for t in x["trades"])
    qj = mk.quote(T["token"], body)
    v = {x["reason"] for x in qj["rejected"] if x["region"] == r}
    c.check(not qj["filled"] and v == {"budget"}, "quote past the monthly cap: filled %s, reasons %s" % (qj["filled"], v))
    mk.budget(T["id"])
    c.done()


def test_order_idempotency_key_buys_once():
    e = env()
    mk = _m()
    c = Collector()
    r = e.region()
    P = e.account("provider")
    X = _pool(P, r, price_per_gpu_hour="1.50")
    T = _tenant("100.00")
    body = _order_body(hour(30), gpus=2, hours=2, regions=[r])
    key = uniq("idem-order")
    r1 = mk.order(T["token"], body, headers={"Idempotency-Key": key})
    o1 = expect_status(r1, 201)
    TRADES.extend(t["id"] for t in o1["trades"])
    before = _quiet_snapshot()
    r2 = mk.order(T["token"], body, headers={"Idempotency-Key": key})
    c.check(r2.status == 201 and r2.raw == r1.raw and r2.headers.get("idempotent-replayed") == "true",
            "replay: %s (replayed header %r)" % (r2.short(), r2.headers.get("idempotent-replayed")))
    d = snapshot_diff(before, snapshot())
    c.check(not d, "a replayed order changed the database: %s" % d)
    r3 = mk.order(T["token"], dict(body, gpus=3), headers={"Idempotency-Key": key})
    c.check(not error_problems(r3, 422, "idempotency_key_reused"), "same key, other body: %s" % r3.short())
    c.check(q1("SELECT count(*) FROM orders WHERE tenant_id = %d" % T["id"]) == "1", "orders stored != 1")
    c.check(q1("SELECT count(*) FROM trades WHERE tenant_id = %d" % T["id"]) == "1", "trades stored != 1")
    c.check(mk.avail_escrow(T["id"]) == (10000 - 600, 600), "balances %s, expected one purchase of 6.00"
            % (mk.avail_escrow(T["id"]),))
    c.check(booked_slots(X["id"]) == 4, "pool_slots booked %d, expected 2 GPUs x 2 slots" % booked_slots(X["id"]))
    # an insufficient-funds refusal is replayed as the same 422, and still stores nothing
    key2 = uniq("idem-poor")
    big = _order_body(hour(30), gpus=6, hours=11, regions=[r])  # 99.00 > 94.00
    r4 = mk.order(T["token"], big, headers={"Idempotency-Key": key2})
    r5 = mk.order(T["token"], big, headers={"Idempotency-Key": key2})
    c.check(not error_problems(r4, 422, "insufficient_funds"), "first: %s" % r4.short())
    c.check(r5.status == 422 and r5.raw == r4.raw, "replayed refusal: %s" % r5.short())
    c.check(q1("SELECT count(*) FROM orders WHERE tenant_id = %d" % T["id"]) == "1", "a refused order was stored")
    c.done()


def booked_slots(pool_id):
    return int(q1("SELECT coalesce(sum(booked), 0) FROM pool_slots WHERE pool_id = %d" % pool_id))


# ---------------------------------------------------------------- budgets

def test_budget_caps():
    e = env()
    mk = _m()
    c = Collector()
    r = e.region()
    P = e.account("provider")
    X = _pool(P, r, price_per_gpu_hour="2.00", gpu_count=32)
    start = hour(30)
    # hourly: 4 GPUs x 2.00 = 8.00 per hour > 5.00
    T1 = _tenant("100.00")
    mk.budget(T1["id"], token=T1["token"], hourly_cap="5.00")
    qj = mk.quote(T1["token"], _order_body(start, gpus=4, regions=[r]))
    v = [x for x in qj["rejected"] if x["pool_id"] == X["id"]]
    c.check(not qj["filled"] and [x["reason"] for x in v] == ["budget"], "quote over the hourly cap: %s" % v)
    o = expect_status(mk.order(T1["token"], _order_body(start, gpus=4, regions=[r])), 201)
    c.check(o["state"] == "killed" and "budget" in o["reason"], "order over the hourly cap: %s %r" % (o["state"], o["reason"]))
    o = expect_status(mk.order(T1["token"], _order_body(start, gpus=2, hours=3, regions=[r])), 201)
    c.check(o["state"] == "filled", "2 GPUs x 2.00 = 4.00/h under a 5.00 cap: %s %r" % (o["state"], o["reason"]))
    TRADES.extend(t["id"] for t in o["trades"])
    # monthly: 20.00; the first order (16.00) fits, the second (16.00 more) does not
    T2 = _tenant("100.00")
    b = mk.budget(T2["id"], monthly_cap="20.00")
    c.check(b["monthly_cap"] == "20.00" and b["hourly_cap"] is None, "budget reply %s" % b)
    body = _order_body(start, gpus=4, hours=2, regions=[r])
    o1 = expect_status(mk.order(T2["token"], body), 201)
    c.check(o1["state"] == "filled", "first order under the monthly cap: %s %r" % (o1["state"], o1["reason"]))
    TRADES.extend(t["id"] for t in o1["trades"])
    o2 = expect_status(mk.order(T2["token"], body), 201)
    c.check(o2["state"] == "killed" and o2["trades"] == [] and "budget" in o2["reason"],
            "second order past the monthly cap: %s %r" % (o2["state"], o2["reason"]))
    b = mk.balances(T2["id"])
    c.check((b["available"], b["escrow"], b["spent_this_month"]) == ("84.00", "16.00", "16.00"), "balances %s" % b)
    # 4.00 of the cap is left: 1 GPU x 2 h x 2.00 fits exactly
    o3 = expect_status(mk.order(T2["token"], _order_body(start, gpus=1, hours=2, regions=[r])), 201)
    c.check(o3["state"] == "filled", "order of exactly the remaining monthly budget: %s %r" % (o3["state"], o3["reason"]))
    TRADES.extend(t["id"] for t in o3["trades"])
    # the tenant's order list, in pages of 2: exactly its own orders
    mine = [int(x[0]) for x in q("SELECT id FROM orders WHERE tenant_id = %d ORDER BY id" % T2["id"])]
    items, pages = e.walk("/v1/orders", T2["token"], 2)
    c.check([x["id"] for x in items] == mine and pages == 2, "GET /v1/orders in pages of 2: %s in %d pages, expected %s"
            % ([x["id"] for x in items], pages, mine))
    items, _ = e.walk("/v1/orders?state=killed", T2["token"], 100)
    c.check([x["id"] for x in items] == [o2["id"]], "GET /v1/orders?state=killed: %s" % [x["id"] for x in items])
    # lifting the caps
    b = mk.budget(T2["id"])
    c.check(b["monthly_cap"] is None and b["hourly_cap"] is None, "caps after PUT {}: %s" % b)
    c.done()


# ---------------------------------------------------------------- settlement

def test_settlement_by_maintenance_worker():
    """A trade's window cannot end during a test run on the real clock, so this test buys it on
    a database of its own whose test clock (TEST-ONLY, schema/014_clock.sql) it then moves to
    the trade's end; the maintenance worker must settle it."""
    c = Collector()
    with PrivateEnv("mkt_settle", clock="now") as e:
        mk = Market(e)
        r = e.region()
        P = e.account("provider")
        e.pool(P["token"], r, gpu_count=8, gpus_per_node=8, price_per_gpu_hour="2.37", available_from=e.hour(1))
        T = e.account("tenant")
        mk.deposit(T["id"], "100.00")
        o = expect_status(mk.order(T["token"], _order_body(e.hour(30), gpus=3, hours=2, regions=[r])), 201)
        check(o["state"] == "filled", "setup order %s" % o["state"])
        t = o["trades"][0]
        total, fee = minor(t["total"]), minor(t["fee"])
        check(total == 1422 and fee == bp_of(1422, t["fee_bp"]), "trade total/fee %s/%s" % (t["total"], t["fee"]))
        fees0, prov0, ten0 = fees_balance(e.url), mk.avail_escrow(P["id"]), mk.avail_escrow(T["id"])
        # --- test-only: the clock moves to the trade's end (its reservation dispatched first)
        e.wait_res(t["id"], ("dispatched",), 10)
        e.clock(t["end"])
        deadline = time.time() + 8
        tj = mk.get_trade(t["id"], T["token"])
        while tj["state"] == "booked" and time.time() < deadline:
            time.sleep(0.2)
            tj = mk.get_trade(t["id"], T["token"])
        c.check(tj["state"] == "settled" and tj["settled_at"] is not None, "8 s after its end the trade is %s"
                % tj["state"])
        c.check((tj.get("reservation") or {}).get("state") == "completed", "reservation %s" % tj.get("reservation"))
        c.check(mk.avail_escrow(T["id"]) == (ten0[0], ten0[1] - total), "tenant after settlement %s, expected (%d, %d)"
                % (mk.avail_escrow(T["id"]), ten0[0], ten0[1] - total))
        c.check(mk.avail_escrow(P["id"]) == (prov0[0] + total - fee, prov0[1]),
                "provider after settlement %s, expected +%d" % (mk.avail_escrow(P["id"]), total - fee))
        c.check(fees_balance(e.url) == fees0 + fee, "fees account +%d, expected +%d" % (fees_balance(e.url) - fees0, fee))
        legs = q("SELECT l.purpose, coalesce(l.owner_id, 0), p.amount FROM journal_txns j JOIN postings p ON p.txn_id = j.id"
                 " JOIN ledger_accounts l ON l.id = p.ledger_account_id WHERE j.trade_id = %d AND j.kind = 'settlement'"
                 " ORDER BY p.id" % t["id"], e.url)
        want = [["escrow", str(T["id"]), str(-total)], ["available", str(P["id"]), str(total - fee)],
                ["fees", "0", str(fee)]]
        c.check(legs == want, "settlement legs %s, expected %s" % (legs, want))
        pp = expect_status(e.c.get("/v1/accounts/%d/postings" % P["id"], token=P["token"]), 200)["items"]
        c.check([(x["kind"], x["account"], x["amount"], x["trade_id"]) for x in pp] == [("settlement", "available",
                                                                                        money(total - fee), t["id"])],
                "provider postings %s" % pp)
        # settled once: a settled trade cannot be cancelled, and another pass pays nothing more
        rr = e.c.post("/v1/trades/%d/cancel" % t["id"], None, token=T["token"])
        c.check(rr.status == 409, "cancel of a settled trade: %s" % rr.short())
        time.sleep(2.5)
        c.check(q1("SELECT count(*) FROM journal_txns WHERE trade_id = %d AND kind = 'settlement'" % t["id"], e.url)
                == "1", "the trade was settled more than once")
        for p in ledger_problems(e.url):
            c.add(p)
    c.done()


# ---------------------------------------------------------------- bad input, table-driven

class Case:
    def __init__(self, label, method, path, token, body, alts, raw=None, ctype="application/json", headers=None,
                 control=False):
        self.label, self.method, self.path, self.token, self.body = label, method, path, token, body
        self.alts, self.raw, self.ctype, self.headers, self.control = alts, raw, ctype, headers, control


def E(status, name, field=None):
    return (status, name, field)


def _w(body, **over):
    b = json.loads(json.dumps(body))
    for k, v in over.items():
        if "." in k:
            outer, inner = k.split(".", 1)
            b.setdefault(outer, {})[inner] = v
        else:
            b[k] = v
    return b


def _wo(body, key):
    b = dict(body)
    b.pop(key)
    return b


MALFORMED = (b'{"gpus":', b"{", b'{"gpus": 1,}', b"{'gpus': 1}", b"\xff\xfe{}", b'{"gpus": 1} x')
NON_OBJECT = (b"[1]", b'"x"', b"42", b"null", b"[]")
MONEY_BAD = ["1.234", "-5", "1e3", "", " 1", "+1", "0", "0.00", "1,5", "0x10", "NaN", "1.", ".5",
             "99999999999999999999999"]


def _generic(label, method, path, token, valid, required=(), money_fields=(), int_fields=(), empty_ok=False):
    cs = []
    for raw in MALFORMED:
        cs.append(Case("%s malformed %r" % (label, raw), method, path, token, raw, [E(400, "malformed_json", "")]))
    for raw in NON_OBJECT:
        cs.append(Case("%s non-object %r" % (label, raw), method, path, token, raw, [E(400, "body_not_object", "")]))
    if not empty_ok:
        cs.append(Case("%s empty body" % label, method, path, token, b"", [E(400, "body_required", "")]))
    cs.append(Case("%s text/plain" % label, method, path, token, valid, [E(415, "unsupported_media_type")],
                   ctype="text/plain"))
    cs.append(Case("%s unknown field" % label, method, path, token, _w(valid, zzz_extra=1),
                   [E(400, "unknown_field", "zzz_extra")]))
    for f in required:
        cs.append(Case("%s missing %s" % (label, f), method, path, token, _wo(valid, f), [E(400, "missing_field", f)]))
        cs.append(Case("%s %s null" % (label, f), method, path, token, _w(valid, **{f: None}),
                       [E(400, "wrong_type", f), E(400, "missing_field", f)]))
    for f in money_fields:
        for v in (12.5, 12, True, [], {}):
            cs.append(Case("%s %s=%r" % (label, f, v), method, path, token, _w(valid, **{f: v}), [E(400, "wrong_type", f)]))
        for v in MONEY_BAD:
            cs.append(Case("%s %s=%r" % (label, f, v), method, path, token, _w(valid, **{f: v}),
                           [E(400, "invalid_value", f)]))
    for f in int_fields:
        for v in ("1", 1.5, True, [], 1e30):
            cs.append(Case("%s %s=%r" % (label, f, v), method, path, token, _w(valid, **{f: v}), [E(400, "wrong_type", f)]))
        for v in (-1, 2 ** 63, 2 ** 64, 10 ** 30):
            cs.append(Case("%s %s=%r" % (label, f, v), method, path, token, _w(valid, **{f: v}),
                           [E(400, "invalid_value", f), E(400, "wrong_type", f), E(400, "malformed_json", "")]))
    if method == "POST":
        for key in ("", "k" * 129, "a\x01b"):
            cs.append(Case("%s Idempotency-Key %r" % (label, key[:8]), method, path, token, valid,
                           [E(400, "bad_idempotency_key")], headers={"Idempotency-Key": key}))
    return cs


def _path_ids(label, method, tmpl, token, body=None):
    cs = [Case("%s id %r" % (label, bad), method, tmpl % bad, token, body, [E(400, "bad_path_id", PATH_FIELD)])
          for bad in ("abc", "-1", "0", "01", "1.5", "99999999999999999999", "9007199254740992")]
    cs.append(Case("%s unknown id" % label, method, tmpl % "999999999", token, body, [E(404, "not_found", PATH_FIELD)]))
    return cs


def _order_cases(label, path, T, R, valid):
    inv, wt = "invalid_value", "wrong_type"
    cs = _generic(label, "POST", path, T["token"], valid, required=("gpus", "duration_hours", "earliest_start"),
                  money_fields=("max_price_per_gpu_hour",), int_fields=("gpus", "duration_hours"))
    past_w = {"earliest_start": hour(-3), "latest_start": hour(-1)}
    table = [
        ("gpus 0", {"gpus": 0}, [E(400, inv, "gpus")]),
        ("gpus 100001", {"gpus": 100001}, [E(400, inv, "gpus")]),
        ("gpus 1000000", {"gpus": 1000000}, [E(400, inv, "gpus")]),
        ("duration 0", {"duration_hours": 0}, [E(400, inv, "duration_hours")]),
        ("duration 2161", {"duration_hours": 2161}, [E(400, inv, "duration_hours")]),
        ("duration 100000", {"duration_hours": 100000}, [E(400, inv, "duration_hours")]),
        ("earliest_start number", {"earliest_start": 1767225600}, [E(400, wt, "earliest_start")]),
        ("earliest_start 'tomorrow'", {"earliest_start": "tomorrow"}, [E(400, inv, "earliest_start")]),
        ("earliest_start not on the hour", {"earliest_start": hour(30)[:-6] + "30:00Z"}, [E(400, inv, "earliest_start")]),
        ("earliest_start 2026-02-30", {"earliest_start": "2026-02-30T00:00:00Z"}, [E(400, inv, "earliest_start")]),
        ("earliest_start more than a year ahead", {"earliest_start": hour(24 * 400)}, [E(400, inv, "earliest_start")]),
        ("window in the past", past_w, [E(400, inv, "latest_start")]),
        # without latest_start the window is [earliest, earliest]: either name is fair
        ("start in the past, no latest", {"earliest_start": hour(-2)},
         [E(400, inv, "earliest_start"), E(400, inv, "latest_start")]),
        ("start this hour", {"earliest_start": hour(0)}, [E(400, inv, "earliest_start"), E(400, inv, "latest_start")]),
        ("latest before earliest", {"latest_start": hour(29)}, [E(400, inv, "latest_start")]),
        ("window over 30 days", {"latest_start": hour(40 + 24 * 30 + 1)}, [E(400, inv, "latest_start")]),
        ("latest_start not on the hour", {"latest_start": hour(31)[:-3] + "01Z"}, [E(400, inv, "latest_start")]),
        ("spec string", {"spec": "H100"}, [E(400, wt, "spec")]),
        ("spec unknown field", {"spec": {"zzz": 1}}, [E(400, "unknown_field", "spec.zzz")]),
        ("spec.accelerators string", {"spec": {"accelerators": "H100-SXM"}}, [E(400, wt, "spec.accelerators")]),
        ("spec.accelerators empty", {"spec": {"accelerators": []}}, [E(400, inv, "spec.accelerators")]),
        ("spec.accelerators [5]", {"spec": {"accelerators": [5]}}, [E(400, wt, "spec.accelerators")]),
        ("spec.accelerators duplicate", {"spec": {"accelerators": ["H100-SXM", "H100-SXM"]}},
         [E(400, inv, "spec.accelerators")]),
        ("spec.accelerators unknown", {"spec": {"accelerators": ["H100-SXM", "NOPE-9000"]}},
         [E(422, "unknown_reference", "spec.accelerators")]),
        ("spec.min_memory_gb 0", {"spec": {"min_memory_gb": 0}}, [E(400, inv, "spec.min_memory_gb")]),
        ("spec.min_memory_gb '80'", {"spec": {"min_memory_gb": "80"}}, [E(400, wt, "spec.min_memory_gb")]),
        ("spec.min_ncu 'abc'", {"spec": {"min_ncu": "abc"}}, [E(400, inv, "spec.min_ncu")]),
        ("spec.intra_node bogus", {"spec": {"intra_node": "bogus"}}, [E(400, inv, "spec.intra_node")]),
        ("spec.min_inter_node none", {"spec": {"min_inter_node": "none"}}, [E(400, inv, "spec.min_inter_node")]),
        ("regions string", {"regions": R}, [E(400, wt, "regions")]),
        ("regions empty", {"regions": []}, [E(400, inv, "regions")]),
        ("regions [5]", {"regions": [5]}, [E(400, wt, "regions")]),
        ("regions unknown", {"regions": [R, "zz-" + uniq("none")]}, [E(422, "unknown_reference", "regions")]),
        ("exclude_regions unknown", {"exclude_regions": ["zz-" + uniq("none")]},
         [E(422, "unknown_reference", "exclude_regions")]),
        ("origin_region unknown", {"origin_region": "zz-" + uniq("none")}, [E(422, "unknown_reference", "origin_region")]),
        ("origin_region number", {"origin_region": 5}, [E(400, wt, "origin_region")]),
        ("max_rtt_ms without origin", {"max_rtt_ms": 10}, [E(400, "missing_field", "origin_region")]),
        ("max_rtt_ms -1", {"max_rtt_ms": -1, "origin_region": R}, [E(400, inv, "max_rtt_ms")]),
        ("max_rtt_ms 'abc'", {"max_rtt_ms": "abc", "origin_region": R}, [E(400, inv, "max_rtt_ms")]),
        ("max_price 100000.01", {"max_price_per_gpu_hour": "100000.01"}, [E(400, inv, "max_price_per_gpu_hour")]),
        ("max_price_per_ncu_hour 2.5", {"max_price_per_ncu_hour": 2.5}, [E(400, wt, "max_price_per_ncu_hour")]),
        ("max_price_per_ncu_hour '-1'", {"max_price_per_ncu_hour": "-1"}, [E(400, inv, "max_price_per_ncu_hour")]),
        ("placement bogus", {"placement": "bogus"}, [E(400, inv, "placement")]),
        ("placement 1", {"placement": 1}, [E(400, wt, "placement")]),
        ("max_pieces with gang", {"max_pieces": 2}, [E(400, inv, "max_pieces")]),
        ("max_pieces 0", {"placement": "split", "max_pieces": 0}, [E(400, inv, "max_pieces")]),
        ("max_pieces 65", {"placement": "split", "max_pieces": 65}, [E(400, inv, "max_pieces")]),
        ("objective bogus", {"objective": "fastest"}, [E(400, inv, "objective")]),
        ("lowest_latency without origin", {"objective": "lowest_latency"}, [E(400, "missing_field", "origin_region")]),
        ("tradeoff without money_per_ms", {"objective": "tradeoff", "origin_region": R},
         [E(400, "missing_field", "money_per_ms")]),
        ("money_per_ms with cheapest", {"money_per_ms": "0.01"}, [E(400, inv, "money_per_ms")]),
        ("money_per_ms 0.001", {"objective": "tradeoff", "origin_region": R, "money_per_ms": "0.001"},
         [E(400, inv, "money_per_ms")]),
        ("time_in_force bogus", {"time_in_force": "gtc"}, [E(400, inv, "time_in_force")]),
        ("good_till without expires_at", {"time_in_force": "good_till"}, [E(400, "missing_field", "expires_at")]),
        ("expires_at with fill_or_kill", {"expires_at": hour(24)}, [E(400, inv, "expires_at")]),
        ("expires_at in the past", {"time_in_force": "good_till", "expires_at": hour(-1)}, [E(400, inv, "expires_at")]),
        ("expires_at number", {"time_in_force": "good_till", "expires_at": 5}, [E(400, wt, "expires_at")]),
    ]
    for name, over, alts in table:
        cs.append(Case("%s %s" % (label, name), "POST", path, T["token"], _w(valid, **over), alts))
    return cs


def build_market_cases(e, mk):
    T, T2 = _tenant("100.00"), _tenant("5.00")
    P, P2 = e.account("provider"), e.account("provider")
    R = e.region()
    X = _pool(P, R, price_per_gpu_hour="1.00")
    o = expect_status(mk.order(T["token"], _order_body(hour(30), gpus=1, regions=[R])), 201)
    check(o["state"] == "filled", "setup order %s" % o["state"])
    tr = o["trades"][0]
    TRADES.append(tr["id"])
    valid = _order_body(hour(40), gpus=1, hours=1, regions=[R])
    cs = []
    cs += _order_cases("POST /v1/quotes", "/v1/quotes", T, R, valid)
    cs.append(Case("POST /v1/quotes VALID control", "POST", "/v1/quotes", T["token"], valid, [], control=True))
    cs += _order_cases("POST /v1/orders", "/v1/orders", T, R, valid)
    cs.append(Case("POST /v1/orders VALID control", "POST", "/v1/orders", T["token"], valid, [], control=True))
    # order reads and cancellation
    for qs, field in (("state=bogus", "state"), ("zzz=1", "zzz"), ("limit=0", "limit"), ("limit=501", "limit"),
                      ("after=-1", "after"), ("after=abc", "after"), ("state=", "state")):
        cs.append(Case("GET /v1/orders?%s" % qs, "GET", "/v1/orders?" + qs, T["token"], None,
                       [E(400, "bad_query_parameter", field)]))
    cs += _path_ids("GET order", "GET", "/v1/orders/%s", T["token"])
    cs += _path_ids("DELETE order", "DELETE", "/v1/orders/%s", T["token"])
    cs.append(Case("GET foreign order", "GET", "/v1/orders/%d" % o["id"], T2["token"], None, [E(404, "not_found", PATH_FIELD)]))
    cs.append(Case("DELETE foreign order", "DELETE", "/v1/orders/%d" % o["id"], T2["token"], None,
                   [E(404, "not_found", PATH_FIELD)]))
    cs.append(Case("DELETE filled order", "DELETE", "/v1/orders/%d" % o["id"], T["token"], None,
                   [E(409, "conflict", PATH_FIELD)]))
    # trades
    for qs, field in (("order=abc", "order"), ("order=0", "order"), ("order=-1", "order"), ("zzz=1", "zzz"),
                      ("limit=0", "limit"), ("order=99999999999999999999", "order")):
        cs.append(Case("GET /v1/trades?%s" % qs, "GET", "/v1/trades?" + qs, T["token"], None,
                       [E(400, "bad_query_parameter", field)]))
    cs += _path_ids("GET trade", "GET", "/v1/trades/%s", T["token"])
    cs += _path_ids("cancel trade", "POST", "/v1/trades/%s/cancel", T["token"])
    tpath = "/v1/trades/%d" % tr["id"]
    for who in (T2, P2):
        cs.append(Case("GET foreign trade (%s)" % who["kind"], "GET", tpath, who["token"], None,
                       [E(404, "not_found", PATH_FIELD)]))
    cs.append(Case("cancel foreign trade", "POST", tpath + "/cancel", T2["token"], None, [E(404, "not_found", PATH_FIELD)]))
    cs.append(Case("cancel trade as its provider", "POST", tpath + "/cancel", P["token"], None, [E(403, "forbidden")]))
    for raw in MALFORMED[:3]:
        cs.append(Case("cancel trade malformed %r" % raw, "POST", tpath + "/cancel", T["token"], raw,
                       [E(400, "malformed_json", "")]))
    cs.append(Case("cancel trade body [1]", "POST", tpath + "/cancel", T["token"], b"[1]", [E(400, "body_not_object", "")]))
    cs.append(Case("cancel trade unknown field", "POST", tpath + "/cancel", T["token"], {"reason": "x"},
                   [E(400, "unknown_field", "reason")]))
    cs.append(Case("cancel trade VALID control", "POST", tpath + "/cancel", T["token"], {}, [], control=True))
    # deposits (admin)
    dpath = "/v1/accounts/%d/deposits" % T["id"]
    cs += _generic("deposit", "POST", dpath, e.admin, {"amount": "10.00", "memo": "m"}, required=("amount",),
                   money_fields=("amount",))
    cs.append(Case("deposit 1000000000.01", "POST", dpath, e.admin, {"amount": "1000000000.01"},
                   [E(400, "invalid_value", "amount")]))
    cs.append(Case("deposit memo number", "POST", dpath, e.admin, {"amount": "1.00", "memo": 5}, [E(400, "wrong_type", "memo")]))
    cs.append(Case("deposit memo 201 chars", "POST", dpath, e.admin, {"amount": "1.00", "memo": "m" * 201},
                   [E(400, "invalid_value", "memo")]))
    cs += _path_ids("deposit", "POST", "/v1/accounts/%s/deposits", e.admin, {"amount": "1.00"})
    cs.append(Case("deposit by a tenant", "POST", dpath, T["token"], {"amount": "1.00"}, [E(403, "forbidden")]))
    cs.append(Case("deposit VALID control", "POST", dpath, e.admin, {"amount": "10.00", "memo": "m"}, [], control=True))
    # withdrawals (admin or self)
    wpath = "/v1/accounts/%d/withdrawals" % T2["id"]
    cs += _generic("withdrawal", "POST", wpath, T2["token"], {"amount": "1.00"}, required=("amount",),
                   money_fields=("amount",))
    cs.append(Case("withdrawal beyond the balance", "POST", wpath, T2["token"], {"amount": "5.01"},
                   [E(422, "insufficient_funds", "amount")]))
    cs.append(Case("withdrawal from another tenant", "POST", "/v1/accounts/%d/withdrawals" % T["id"], T2["token"],
                   {"amount": "1.00"}, [E(404, "not_found", PATH_FIELD)]))
    cs += _path_ids("withdrawal", "POST", "/v1/accounts/%s/withdrawals", e.admin, {"amount": "1.00"})
    cs.append(Case("withdrawal VALID control", "POST", wpath, T2["token"], {"amount": "1.00"}, [], control=True))
    # budget
    bpath = "/v1/accounts/%d/budget" % T2["id"]
    cs += _generic("budget", "PUT", bpath, T2["token"], {"hourly_cap": "5.00", "monthly_cap": "100.00"},
                   money_fields=("hourly_cap", "monthly_cap"))
    cs.append(Case("budget of a provider", "PUT", "/v1/accounts/%d/budget" % P["id"], e.admin, {"hourly_cap": "1.00"},
                   [E(409, "conflict", PATH_FIELD)]))
    cs.append(Case("budget of another tenant", "PUT", "/v1/accounts/%d/budget" % T["id"], T2["token"],
                   {"hourly_cap": "1.00"}, [E(404, "not_found", PATH_FIELD)]))
    cs += _path_ids("budget", "PUT", "/v1/accounts/%s/budget", e.admin, {"hourly_cap": "1.00"})
    cs.append(Case("budget VALID control", "PUT", bpath, T2["token"], {"hourly_cap": "5.00", "monthly_cap": "100.00"},
                   [], control=True))
    # balances and postings
    for name, tmpl in (("balances", "/v1/accounts/%s/balances"), ("postings", "/v1/accounts/%s/postings")):
        cs += _path_ids("GET " + name, "GET", tmpl, e.admin)
        cs.append(Case("GET foreign %s" % name, "GET", tmpl % T["id"], T2["token"], None, [E(404, "not_found", PATH_FIELD)]))
        cs.append(Case("GET %s as a provider" % name, "GET", tmpl % T["id"], P["token"], None,
                       [E(404, "not_found", PATH_FIELD)]))
    for qs, field in (("limit=0", "limit"), ("zzz=1", "zzz"), ("after=x", "after")):
        cs.append(Case("GET postings?%s" % qs, "GET", "/v1/accounts/%d/postings?%s" % (T["id"], qs), T["token"], None,
                       [E(400, "bad_query_parameter", field)]))
    cs.append(Case("GET balances?zzz=1", "GET", "/v1/accounts/%d/balances?zzz=1" % T["id"], T["token"], None,
                   [E(400, "bad_query_parameter", "zzz")]))
    # exchange settings (admin)
    st = _settings()
    spath = "/v1/exchange/settings"
    svalid = {"fee_bp": st["fee_bp"], "cancel_free_hours": st["cancel_free_hours"], "cancel_charge_bp": st["cancel_charge_bp"]}
    cs += _generic("settings", "PUT", spath, e.admin, svalid, int_fields=("fee_bp", "cancel_free_hours", "cancel_charge_bp"))
    for f, v in (("fee_bp", 5001), ("cancel_free_hours", 8761), ("cancel_charge_bp", 10001)):
        cs.append(Case("settings %s=%d" % (f, v), "PUT", spath, e.admin, {f: v}, [E(400, "invalid_value", f)]))
    cs.append(Case("settings {}", "PUT", spath, e.admin, {}, [E(400, "missing_field")]))
    cs.append(Case("settings by a tenant", "PUT", spath, T["token"], svalid, [E(403, "forbidden")]))
    cs.append(Case("GET settings?zzz=1", "GET", spath + "?zzz=1", T["token"], None, [E(400, "bad_query_parameter", "zzz")]))
    cs.append(Case("settings VALID control", "PUT", spath, e.admin, svalid, [], control=True))
    return cs, X


def test_market_bad_input_table():
    e = env()
    mk = _m()
    c = Collector()
    cases, X = build_market_cases(e, mk)
    before = _quiet_snapshot()
    n5xx = 0
    for cs in cases:
        try:
            r = e.c.req(cs.method, cs.path, body=cs.body, token=cs.token, headers=cs.headers, ctype=cs.ctype)
        except Exception as ex:  # noqa: BLE001 — a dropped connection fails this case
            c.add("%s: no reply (%s: %s)" % (cs.label, type(ex).__name__, ex))
            continue
        if r.status >= 500:
            n5xx += 1
        if cs.control:
            c.check(200 <= r.status < 300, "%s: %s" % (cs.label, r.short()))
            before = _quiet_snapshot()
            continue
        best = best_error_problems(r, cs.alts)
        after = snapshot()
        d = snapshot_diff(before, after)
        if d:
            best = best + ["database changed: %s" % d]
            before = after
        if best:
            want = " or ".join("%s %s%s" % (s, n, "" if f is None else " field=%r" % (f,)) for (s, n, f) in cs.alts)
            c.add("%s [%s %s]: expected %s; got %s %s -- %s" % (cs.label, cs.method, cs.path, want, r.status,
                                                               r.raw[:160].decode("utf-8", "replace"), "; ".join(best)))
    c.check(n5xx == 0, "%d case(s) got a 5xx" % n5xx)
    print("    (%d cases)" % len(cases))
    c.done()


# ---------------------------------------------------------------- the journal and the calendar, closing

def test_market_ledger_and_calendar_invariants():
    c = Collector()
    env()
    check(book_quiet(), "book worker idle")
    for p in ledger_problems():
        c.add(p)
    for p in calendar_problems(POOLS):
        c.add(p)
    for p in trade_journal_problems(TRADES):
        c.add(p)
    # every trade belongs to a filled order of its tenant, at the pool's price when it was bought
    bad = q("SELECT t.id, o.state, o.tenant_id, t.tenant_id FROM trades t JOIN orders o ON o.id = t.order_id"
            " WHERE t.id IN %s AND (o.state <> 'filled' OR o.tenant_id <> t.tenant_id)" % ids_sql(TRADES))
    c.check(not bad, "trades of orders that are not filled or not the tenant's: %s" % bad)
    bad = q("SELECT t.id, t.state, t.fee_minor, t.total_minor, t.refunded_minor, t.fee_bp FROM trades t WHERE t.id IN %s"
            " AND t.fee_minor <> ((t.total_minor - t.refunded_minor) * t.fee_bp + 5000) / 10000" % ids_sql(TRADES))
    c.check(not bad, "trades whose fee is not round((total - refunded) x fee_bp / 10000): %s" % bad)
    # a trade's fee is what the fees account received for it once settled or cancelled
    bad = q("SELECT t.id, t.state, t.fee_minor, coalesce(sum(p.amount), 0) FROM trades t"
            " LEFT JOIN journal_txns j ON j.trade_id = t.id LEFT JOIN postings p ON p.txn_id = j.id"
            " AND p.ledger_account_id = (SELECT id FROM ledger_accounts WHERE owner_id IS NULL AND purpose = 'fees')"
            " WHERE t.id IN %s AND t.state <> 'booked' GROUP BY t.id, t.state, t.fee_minor"
            " HAVING t.fee_minor <> coalesce(sum(p.amount), 0)" % ids_sql(TRADES))
    c.check(not bad, "settled/cancelled trades whose fee differs from the fees account's legs: %s" % bad)
    open_left = q("SELECT id FROM orders WHERE state = 'open' AND tenant_id IN (SELECT tenant_id FROM trades WHERE id IN %s)"
                  % ids_sql(TRADES))
    c.check(not open_left, "open orders left behind: %s" % open_left)
    c.done()
