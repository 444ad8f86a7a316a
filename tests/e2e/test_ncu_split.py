"""Issue 15, buying normalized capacity over several models, end to end: a split order for an
amount of NCU (src/market/README.md, "Split NCU orders"; api/openapi.yaml, OrderRequest.ncu and
Quote.ncu_delivered).

Through the real server and PostgreSQL: `"ncu": 16a + 4, "placement": "split"` (a = the
A100-80GB-SXM's NCU per GPU) over an A100 pool priced at 1.50 per NCU-hour and an H100 pool at
2.00 buys all 16 A100 GPUs and 4 H100s — the cheapest NCU first, the last piece exactly what is
still needed; the quote shows the NCU of each placement and in total; the order's two trades are
charged once each (escrow = the total, every journal transaction sums to zero, the calendar
equals the trades).  A piece limit of one leaves it unfilled with the NCU available named; bad
values (ncu with gpus or min_gpus, negative, too large, over unrated models only) are 400 naming
the field, and change nothing.
"""
from decimal import Decimal

from harness import expect_error, expect_status, hour, snapshot, snapshot_diff
from market_util import Scene, money


def test_split_ncu_over_two_models():
    w = Scene(1, "1000.00")
    c, r = w.c, w.regions[0]
    h100 = w.e.pool(w.P["token"], r, gpu_count=8, gpus_per_node=8, accelerator="H100-SXM",
                    price_per_gpu_hour="2.00")
    a = Decimal(expect_status(w.e.c.get("/v1/accelerators/A100-80GB-SXM", token=w.e.admin), 200)["ncu"])
    c.check(Decimal("0.25") < a < Decimal("1"), "A100 NCU per GPU %s" % a)
    a_price = int((a * 150).quantize(Decimal(1)))  # cents per GPU-hour: ~1.50 per NCU-hour
    a100 = w.e.pool(w.P["token"], r, gpu_count=16, gpus_per_node=8, accelerator="A100-80GB-SXM",
                    price_per_gpu_hour=money(a_price))
    pools = [h100["id"], a100["id"]]
    want = 16 * a + 4  # all 16 A100s, then exactly 4 H100-equivalents
    hours = 3
    body = {"ncu": "%.3f" % want, "placement": "split", "duration_hours": hours,
            "earliest_start": hour(30), "regions": [r]}
    total = (16 * a_price + 4 * 200) * hours

    for objective in ("cheapest", "cheapest_per_ncu"):
        qj = w.mk.quote(w.T["token"], dict(body, objective=objective), full=False)
        got = [(p["pool_id"], p["gpus"], p["ncu"]) for p in qj["placements"]]
        c.check(qj["filled"] is True and got == [(a100["id"], 16, "%.3f" % (16 * a)), (h100["id"], 4, "4.000")],
                "%s: placements %s" % (objective, got))
        c.check(qj["ncu"] == "%.3f" % want and qj["ncu_delivered"] == "%.3f" % want
                and qj["ncu_available"] == "%.3f" % want and qj["gpus"] == 20 and qj["gpus_available"] == 20
                and qj["total"] == money(total),
                "%s: quote %s" % (objective, {k: qj.get(k) for k in ("ncu", "ncu_delivered", "ncu_available",
                                                                      "gpus", "gpus_available", "total")}))

    # one piece only: no single pool holds the amount; the most NCU one pool offers is named
    qj = w.mk.quote(w.T["token"], dict(body, max_pieces=1), full=False)
    best = max(Decimal(8), 16 * a)
    c.check(qj["filled"] is False and qj["ncu_delivered"] is None and qj["ncu_available"] == "%.3f" % best
            and qj["placements"] == [],
            "max_pieces 1: %s" % {k: qj.get(k) for k in ("filled", "ncu_delivered", "ncu_available")})
    cap = [x for x in qj["reasons"] if x["reason"] == "capacity"]
    c.check(len(cap) == 1 and "NCU" in (cap[0]["examples"] or [{}])[0].get("detail", ""),
            "capacity reason %s" % cap)

    # bad input: 400 naming the field, nothing changed
    before = snapshot()
    for bad, field in (({"gpus": 4}, "ncu"), ({"ncu": "-1"}, "ncu"), ({"ncu": "100001"}, "ncu"),
                       ({"ncu": "0"}, "ncu"), ({"min_gpus": 2}, "min_gpus"),
                       ({"spec": {"accelerators": ["T4G", "K80"]}}, "spec.accelerators")):
        for path in ("/v1/quotes", "/v1/orders"):
            res = w.e.c.post(path, dict(body, **bad), token=w.T["token"])
            expect_error(res, 400, "invalid_value", field)
    c.check(not snapshot_diff(before, snapshot()), "bad input changed something")

    # the order: two trades, each charged once
    o = expect_status(w.mk.order(w.T["token"], body), 201)
    trades = sorted((t["pool_id"], t["gpus"], t["total"]) for t in o["trades"])
    c.check(o["state"] == "filled" and o["gpus_filled"] == 20
            and trades == sorted([(a100["id"], 16, money(16 * a_price * hours)), (h100["id"], 4, money(800 * hours))]),
            "order %s %s trades %s" % (o["state"], o.get("reason"), trades))
    w.money_checks([o], total, pools)
    c.done()


def test_ncu_partial_fills():
    """`min_ncu_filled`: 8 NCU asked, split, with only 4 H100s (4 NCU) free.  Fill-or-kill with at
    least 3: the order buys the 4 and is `filled` with ncu_filled 4.000, the rest cancelled; with
    at least 5 it is killed.  Good-till with at least 2 (another window): it buys 4 NCU and rests
    `open`; when an A100 pool appears the book worker buys the rest, ceil(4 / a) A100 GPUs, and the
    order is `filled` with ncu_filled >= 8 — each part its own trade, the money exact."""
    w = Scene(1, "1000.00")
    c, r = w.c, w.regions[0]
    h100 = w.e.pool(w.P["token"], r, gpu_count=4, gpus_per_node=4, accelerator="H100-SXM",
                    price_per_gpu_hour="2.00")
    pools = [h100["id"]]
    body = {"ncu": "8", "placement": "split", "duration_hours": 2, "earliest_start": hour(30),
            "regions": [r]}
    qj = w.mk.quote(w.T["token"], dict(body, min_ncu_filled="3"), full=False)
    c.check(qj["filled"] is True and qj["ncu_delivered"] == "4.000" and qj["gpus_available"] == 4,
            "partial quote %s" % {k: qj.get(k) for k in ("filled", "ncu_delivered", "gpus_available")})
    o = expect_status(w.mk.order(w.T["token"], dict(body, min_ncu_filled="5")), 201)
    c.check(o["state"] == "killed" and o["ncu_filled"] == "0.000" and o["trades"] == [], "min 5: %s %s" % (o["state"], o["reason"]))
    o = expect_status(w.mk.order(w.T["token"], dict(body, min_ncu_filled="3")), 201)
    c.check(o["state"] == "filled" and o["ncu_filled"] == "4.000" and o["gpus_filled"] == 4
            and o["reason"] == "partly filled: 4.000 of 8.000 NCU; the rest is cancelled"
            and [(t["pool_id"], t["gpus"]) for t in o["trades"]] == [(h100["id"], 4)],
            "fill-or-kill part: %s %s %r %s" % (o["state"], o["ncu_filled"], o["reason"], o["trades"]))
    spent, fok = 4 * 200 * 2, o

    gt = dict(body, earliest_start=hour(40), min_ncu_filled="2", time_in_force="good_till", expires_at=hour(60))
    o = expect_status(w.mk.order(w.T["token"], gt), 201)
    c.check(o["state"] == "open" and o["ncu_filled"] == "4.000" and o["reason"].startswith("partly filled: 4.000 of 8.000 NCU"),
            "good-till part: %s %s %r" % (o["state"], o["ncu_filled"], o["reason"]))
    spent += 4 * 200 * 2
    a = Decimal(expect_status(w.e.c.get("/v1/accelerators/A100-80GB-SXM", token=w.e.admin), 200)["ncu"])
    a100 = w.e.pool(w.P["token"], r, gpu_count=16, gpus_per_node=8, accelerator="A100-80GB-SXM",
                    price_per_gpu_hour="1.00")
    pools.append(a100["id"])
    need = int(-(-4 // a))
    o2 = w.mk.wait_order(o["id"], w.T["token"], pred=lambda x: x["state"] != "open", timeout=10)
    parts = [(t["pool_id"], t["gpus"]) for t in o2["trades"]]
    c.check(o2["state"] == "filled" and Decimal(o2["ncu_filled"]) == 4 + need * a and o2["gpus_filled"] == 4 + need
            and parts == [(h100["id"], 4), (a100["id"], need)],
            "good-till rest: %s %s %s %r" % (o2["state"], o2["ncu_filled"], parts, o2["reason"]))
    spent += need * 100 * 2
    w.money_checks([fok, o2], spent, pools)
    c.done()
