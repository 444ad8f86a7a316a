"""Drain, then retire (issue 13): a draining pool takes no new trades and honours its
bookings; retiring a pool with bookings left drains it until its last booking ends (202, with
retire_at), and the maintenance worker retires it then; every refusal about bookings names
the end of the pool's last booking.
"""
from dispatch_util import PrivateEnv, wait_for
from harness import Collector, check, env, error_problems, expect_status, hour, uniq
from market_util import Market, stable_snapshot


def _order(reg, start, gpus=8, hours=3):
    return {"gpus": gpus, "duration_hours": hours, "earliest_start": start, "regions": [reg]}


def _get_pool(e, pid, token):
    return expect_status(e.c.get("/v1/pools/%d" % pid, token=token), 200)


def test_draining_pool_takes_no_trades_and_retires_when_its_last_booking_ends():
    with PrivateEnv("drain", clock="now") as e:
        c = Collector()
        reg = e.region()
        prov = e.account("provider")
        pool = e.pool(prov["token"], reg, gpu_count=16, gpus_per_node=8, price_per_gpu_hour="2.00")
        pid = pool["id"]
        t = e.account("tenant")
        e.deposit(t["id"], "500.00")
        start, end = e.hour(2), e.hour(5)
        r = e.c.post("/v1/orders", _order(reg, start), token=t["token"], headers={"Idempotency-Key": uniq("k")})
        check(r.status == 201 and r.json["state"] == "filled", "order: %s" % r.short())
        trade = r.json["trades"][0]
        check(trade["end"] == end, "trade ends %s, expected %s" % (trade["end"], end))
        # draining is allowed with bookings, and takes the pool off the market
        r = e.c.patch("/v1/pools/%d" % pid, {"status": "draining"}, token=prov["token"])
        c.check(r.status == 200 and r.json["status"] == "draining" and r.json["retire_at"] is None,
                "PATCH draining with a booking: %s" % r.short())
        q = expect_status(e.c.post("/v1/quotes?rejected=full", _order(reg, start, gpus=4), token=t["token"]), 200)
        why = {x["pool_id"]: x["reason"] for x in q["rejected"]}
        c.check(not q["filled"] and why.get(pid) == "health", "quote on a draining pool: %s" % q)
        r = e.c.post("/v1/orders", _order(reg, start, gpus=4), token=t["token"], headers={"Idempotency-Key": uniq("k")})
        c.check(r.status == 201 and r.json["state"] == "killed" and not r.json["trades"],
                "order on a draining pool: %s" % r.short())
        r = e.c.get("/v1/offers?region=%s" % reg, token=t["token"])
        c.check(r.status == 200 and not r.json["items"], "offers list a draining pool: %s" % r.short())
        # refusals about bookings name the last booking's end
        for body, field in (({"gpu_count": 4}, "gpu_count"), ({"available_until": e.hour(4)}, "available_until")):
            r = e.c.patch("/v1/pools/%d" % pid, body, token=prov["token"])
            p = error_problems(r, 409, "conflict", field)
            if not p and end not in r.json["detail"]:
                p.append("detail %r does not name the last booking's end %s" % (r.json["detail"], end))
            c.check(not p, "PATCH %s: %s" % (body, "; ".join(p)))
        # retire: accepted, takes effect when the last booking ends
        for _ in range(2):
            r = e.c.delete("/v1/pools/%d" % pid, token=prov["token"])
            c.check(r.status == 202 and r.json["status"] == "draining" and r.json["retire_at"] == end,
                    "DELETE with a booking left: %s" % r.short())
        # back to active cancels the retirement; asked again, it is scheduled again
        r = e.c.patch("/v1/pools/%d" % pid, {"status": "active"}, token=prov["token"])
        c.check(r.status == 200 and r.json["status"] == "active" and r.json["retire_at"] is None,
                "reactivated: %s" % r.short())
        r = e.c.delete("/v1/pools/%d" % pid, token=prov["token"])
        c.check(r.status == 202 and r.json["retire_at"] == end, "DELETE again: %s" % r.short())
        # heartbeats still count while draining
        r = e.c.post("/v1/pools/%d/heartbeat" % pid, {"healthy_gpus": 16, "utilization_bp": 5000}, token=prov["token"])
        c.check(r.status == 200, "heartbeat while draining: %s" % r.short())
        c.check(_get_pool(e, pid, prov["token"])["status"] == "draining", "retired before its booking ended")
        # the booking runs and settles; then the pool is retired
        e.clock("+6 hours")
        ok = wait_for(lambda: _get_pool(e, pid, prov["token"])["status"] == "retired", 20)
        p = _get_pool(e, pid, prov["token"])
        c.check(ok and p["retire_at"] is None, "after the last booking ended: %s" % p)
        tr = e.trade(trade["id"])
        c.check(tr["state"] == "settled" and tr["refunded"] == "0.00", "the booking was honoured: %s" % tr)
        r = e.c.delete("/v1/pools/%d" % pid, token=prov["token"])
        c.check(not error_problems(r, 409, "conflict", "id"), "DELETE a retired pool: %s" % r.short())
        c.done()


def test_retire_scheduled_then_bookings_cancelled():
    e = env()
    mk = Market(e)
    c = Collector()
    reg = e.region()
    prov = e.account("provider")
    pool = e.pool(prov["token"], reg, gpu_count=8, gpus_per_node=8, price_per_gpu_hour="1.00")
    idle = e.pool(prov["token"], reg, gpu_count=8, gpus_per_node=8, price_per_gpu_hour="9.00")
    t = e.account("tenant")
    mk.deposit(t["id"], "200.00")
    start = hour(48)
    r = mk.order(t["token"], _order(reg, start, hours=2), headers={"Idempotency-Key": uniq("k")})
    check(r.status == 201 and r.json["state"] == "filled" and r.json["trades"][0]["pool_id"] == pool["id"],
          "order: %s" % r.short())
    tid = r.json["trades"][0]["id"]
    # a pool with nothing booked is retired at once
    r = e.c.delete("/v1/pools/%d" % idle["id"], token=prov["token"])
    c.check(r.status == 200 and r.json["status"] == "retired", "DELETE an idle pool: %s" % r.short())
    r = e.c.delete("/v1/pools/%d" % pool["id"], token=prov["token"])
    c.check(r.status == 202 and r.json["status"] == "draining" and r.json["retire_at"] == hour(50),
            "DELETE with a booking: %s" % r.short())
    # someone else's pool: 404, nothing changes
    other = e.account("provider")
    before = stable_snapshot()
    for method, body in (("DELETE", None), ("PATCH", {"status": "draining"})):
        r = e.c.req(method, "/v1/pools/%d" % pool["id"], body, token=other["token"])
        c.check(not error_problems(r, 404, "not_found", "id"), "%s someone else's pool: %s" % (method, r.short()))
    c.check(stable_snapshot() == before, "refusals changed the database")
    # the tenant cancels: nothing is booked any more, so the worker retires the pool
    r = e.c.post("/v1/trades/%d/cancel" % tid, {}, token=t["token"], headers={"Idempotency-Key": uniq("k")})
    check(r.status == 200, "cancel: %s" % r.short())
    ok = wait_for(lambda: _get_pool(e, pool["id"], prov["token"])["status"] == "retired", 20)
    c.check(ok, "pool not retired after its only booking was cancelled: %s" % _get_pool(e, pool["id"], prov["token"]))
    c.done()
