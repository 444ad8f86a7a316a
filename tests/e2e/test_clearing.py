"""Issue 15, periodic clearing (the call auction) and scarcity-aware placement, end to end.

A second suanlid on the run's database clears every 3 s (SUANLI_CLEARING_INTERVAL_S=3; the
shared server's 60 s rounds never come due while it runs).  Each test builds its own regions and
pools (named with the run's tag) and restricts its orders to them, so the clearing region (the
orders' origin_region) is the test's own.

- call orders rest untried until the round, then trade (each its own trade, at the pool's ask);
- the same three orders, continuous (arrival order, cheapest first) fill 48 GPU-hours and leave
  one resting; as call orders the auction places all three: 80 GPU-hours;
- bad input (clearing with fill_or_kill, with split, an unknown value) is a 400 naming
  `clearing`, and nothing changes;
- an uncapped lowest_latency order takes the cheaper pool within its 10 ms band, leaving the
  nearest pool to the RTT-capped order; latency_tolerance_ms 0 restores the exact RTT.
"""
import datetime
import time

import harness
from harness import expect_error, expect_status, hour
from market_util import Scene

INTERVAL_S = 3


def World(nregions):
    return Scene(nregions, deposit="5000.00")


def clearing_server():
    s = harness.Server("clearing", extra_env={"SUANLI_CLEARING_INTERVAL_S": str(INTERVAL_S)})
    s.wait_ready()
    return s


def batch(w, start, clearing):
    """The instance where arrival-order greedy loses: two 8-GPU pools, P0 (region a, 1.00) and
    P1 (region b, 2.00).  O1: 8 GPUs for 2 h, may start at start..start+4 h, either region;
    O2: 8 GPUs for 4 h at start, region a only; O3: 8 GPUs for 4 h at start, region b only."""
    org, ra, rb = w.regions
    common = {"origin_region": org, "time_in_force": "good_till", "expires_at": hour(200)}
    if clearing:
        common["clearing"] = clearing
    return [
        dict(common, gpus=8, duration_hours=2, earliest_start=start, latest_start=hour_after(start, 4),
             regions=[ra, rb]),
        dict(common, gpus=8, duration_hours=4, earliest_start=start, regions=[ra]),
        dict(common, gpus=8, duration_hours=4, earliest_start=start, regions=[rb]),
    ]


def hour_after(ts_text, n):
    return harness.ts(harness.parse_ts(ts_text) + datetime.timedelta(hours=n))


def gpu_hours(orders):
    return sum(t["gpus"] * o["request"]["duration_hours"] for o in orders for t in o["trades"]
               if o["state"] == "filled")


def test_call_auction_fills_more_than_arrival_greedy():
    s = clearing_server()
    try:
        # continuous: arrival order, each takes the cheapest placement at once
        w = World(3)
        _, ra, rb = w.regions
        p0, p1 = w.pool(ra, "1.00"), w.pool(rb, "2.00")
        start = hour(30)
        cont = [expect_status(w.mk.order(w.T["token"], b), 201) for b in batch(w, start, None)]
        w.c.check([o["state"] for o in cont] == ["filled", "open", "filled"],
                  "continuous states %s" % [o["state"] for o in cont])
        w.c.check(all(o["clearing"] == "continuous" for o in cont), "clearing shown: %s" % [o.get("clearing") for o in cont])
        w.c.check(cont[0]["trades"] and cont[0]["trades"][0]["pool_id"] == p0["id"], "O1 took P0 at once")
        w.c.check(gpu_hours(cont) == 48, "continuous GPU-hours %d, expected 48" % gpu_hours(cont))

        # call: the same batch on fresh regions and pools rests until the round, then all fill
        v = World(3)
        _, ra, rb = v.regions
        q0, q1 = v.pool(ra, "1.00"), v.pool(rb, "2.00")
        posted = time.time()
        calls = [expect_status(v.mk.order(v.T["token"], b), 201) for b in batch(v, start, "call")]
        if time.time() - posted < INTERVAL_S:  # the region's first round is one interval away
            for o in calls:
                v.c.check(o["state"] == "open" and o["trades"] == [] and o["clearing"] == "call"
                          and o["clearing_region"] == v.regions[0]
                          and "waiting for the call auction" in o["reason"],
                          "a call order before its round: %s" % {k: o.get(k) for k in ("state", "reason", "clearing")})
        done = [v.mk.wait_order(o["id"], v.T["token"], timeout=8 * INTERVAL_S) for o in calls]
        v.c.check([o["state"] for o in done] == ["filled"] * 3,
                  "call states %s (%s)" % ([o["state"] for o in done], [o["reason"] for o in done]))
        v.c.check(gpu_hours(done) == 80, "auction GPU-hours %d, expected 80" % gpu_hours(done))
        v.c.check(all(o["gpus_filled"] == o["gpus"] for o in done), "gpus_filled %s" % [o["gpus_filled"] for o in done])
        if all(o["trades"] for o in done):
            t1, t2, t3 = (o["trades"][0] for o in done)
            v.c.check(t2["pool_id"] == q0["id"] and t3["pool_id"] == q1["id"], "O2 in P0, O3 in P1")
            # cheapest among the best fills: O1 after O2 in the 1.00 pool, at the pool's ask
            v.c.check(t1["pool_id"] == q0["id"] and t1["start"] == hour_after(start, 4)
                      and t1["unit_price"] == "1.00", "O1 at P0 from start+4h: %s" % t1)
            for o in done:
                v.c.check("call auction" in o["reason"], "filled reason %r" % o["reason"])
        # listed with the mode
        r = expect_status(v.e.c.get("/v1/orders?state=filled", token=v.T["token"]), 200)
        v.c.check(r["items"] and all(i["clearing"] == "call" for i in r["items"]),
                  "GET /v1/orders shows clearing call")
        # metrics of the clearing process
        m = s.client.get("/metrics", token=v.e.admin)
        v.c.check(m.status == 200 and "suanli_clearing_rounds_total" in m.raw.decode()
                  and 'suanli_clearing_orders_total{outcome="placed"}' in m.raw.decode(),
                  "metrics lack the auction's counters")
        w.c.done()
        v.c.done()
    finally:
        s.stop()
        s.check_stopped_cleanly()


def test_call_order_bad_input_changes_nothing():
    w = World(1)
    org = w.regions[0]
    base = {"gpus": 1, "duration_hours": 1, "earliest_start": hour(30), "origin_region": org}
    before = harness.snapshot()
    for body in (dict(base, clearing="call"),
                 dict(base, clearing="call", time_in_force="fill_or_kill"),
                 dict(base, clearing="call", time_in_force="good_till", expires_at=hour(40), placement="split"),
                 dict(base, clearing="auction"),
                 dict(base, clearing=1)):
        r = w.mk.order(w.T["token"], body)
        problems = harness.error_problems(r, 400, None, "clearing")
        w.c.check(not problems, "%s: %s" % (body.get("clearing"), problems))
        r = w.mk.c.post("/v1/quotes", body, token=w.T["token"])
        w.c.check(r.status == 400 and r.json.get("field") == "clearing", "quote %s" % r.short())
    w.c.check(harness.snapshot_diff(before, harness.snapshot()) == [], "bad call orders changed the database")
    # a quote of a valid call order shows the mode
    q = w.mk.quote(w.T["token"], dict(base, clearing="call", time_in_force="good_till", expires_at=hour(40)),
                   full=False)
    w.c.check(q.get("clearing") == "call", "quote clearing %s" % q.get("clearing"))
    w.c.done()


def test_uncapped_lowest_latency_leaves_the_near_pool():
    """Origin o; pool N 2 ms away at 3.00 (the only one inside a 5 ms cap), pool F 8 ms away at
    2.00.  The uncapped lowest_latency order takes F (same 10 ms band, cheaper); the capped order
    that follows still finds N.  With latency_tolerance_ms 0 the exact RTT picks N."""
    w = World(3)
    org, rn, rf = w.regions
    w.mk.latency([(org, rn, "2"), (org, rf, "8")])
    near, far = w.pool(rn, "3.00"), w.pool(rf, "2.00")
    body = {"gpus": 8, "duration_hours": 2, "earliest_start": hour(30), "origin_region": org,
            "regions": [rn, rf], "objective": "lowest_latency"}
    o = expect_status(w.mk.order(w.T["token"], body), 201)
    w.c.check(o["state"] == "filled" and o["trades"][0]["pool_id"] == far["id"],
              "uncapped lowest_latency took %s" % [t["pool_id"] for t in o["trades"]])
    capped = expect_status(w.mk.order(w.T["token"], dict(body, max_rtt_ms="5")), 201)
    w.c.check(capped["state"] == "filled" and capped["trades"][0]["pool_id"] == near["id"],
              "the RTT-capped order: %s %s" % (capped["state"], capped["reason"]))
    q = w.mk.quote(w.T["token"], dict(body, earliest_start=hour(40), latency_tolerance_ms=0), full=False)
    w.c.check(q["placements"] and q["placements"][0]["pool_id"] == near["id"], "exact RTT picks N")
    r = w.mk.order(w.T["token"], dict(body, objective="cheapest", latency_tolerance_ms=5))
    expect_error(r, 400, "invalid_value", "latency_tolerance_ms")
    w.c.done()
