"""Issue 15, partial fills end to end: orders with `min_gpus` (src/market/README.md, "Partial
fills"; api/openapi.yaml, OrderRequest.min_gpus and Order.gpus_filled).

Through the real server and PostgreSQL: a fill-or-kill gang order filled in part (the rest
cancelled, the order `filled` with gpus_filled < gpus); a split order filled in part; a good-till
order filled in part that keeps resting (`open`, gpus_filled > 0) and whose rest is bought when a
pool appears — each part its own trade, each trade charged once by sl_trade, every journal
transaction summing to zero and the calendar equal to the trades; the quote's gpus_available for
an unfilled gang order (the most GPUs a pool keeps free, not 0); a split order whose pieces start
independently; and bad min_gpus / starts values refused
with 400 naming the field, nothing changed.  Each test builds its own regions and pools (named
with the run's tag) and restricts its orders to them.
"""

from harness import expect_error, expect_status, hour, snapshot, snapshot_diff
from market_util import Scene


class World(Scene):
    """A provider, a funded tenant and one fresh region of this run."""

    def __init__(self, deposit="1000.00"):
        super().__init__(1, deposit)
        self.r = self.regions[0]
        self.pools = []

    def pool(self, price, gpus):
        p = super().pool(self.r, price, gpus)
        self.pools.append(p["id"])
        return p

    def body(self, **over):
        b = {"gpus": 8, "duration_hours": 2, "earliest_start": hour(30), "regions": [self.r]}
        b.update(over)
        return b

    def money_checks(self, order, spent):
        """Scene.money_checks of one order over this world's pools."""
        super().money_checks([order], spent, self.pools)


def test_fill_or_kill_gang_partial():
    """8 GPUs asked, at least 4, gang: pools of 6 (2.00) and 3 (1.00).  The quote places 6 GPUs
    in the pool of 6; the order buys them, is `filled` with gpus_filled 6 of 8, the rest
    cancelled; the same order without min_gpus is killed and its quote says 6 GPUs are
    available (the most a pool keeps free), not 0."""
    w = World()
    c = w.c
    big = w.pool("2.00", 6)
    w.pool("1.00", 3)
    body = w.body(min_gpus=4)
    qj = w.mk.quote(w.T["token"], body)
    c.check(qj["filled"] is True and qj["gpus"] == 8 and qj["gpus_available"] == 6,
            "quote filled %s gpus %s available %s" % (qj["filled"], qj["gpus"], qj["gpus_available"]))
    pl = qj["placements"]
    c.check(len(pl) == 1 and pl[0]["pool_id"] == big["id"] and pl[0]["gpus"] == 6 and qj["total"] == "24.00",
            "quote placements %s total %s" % (pl, qj["total"]))
    o = expect_status(w.mk.order(w.T["token"], body), 201)
    c.check(o["state"] == "filled" and o["gpus"] == 8 and o["min_gpus"] == 4 and o["gpus_filled"] == 6,
            "order state %s gpus %s min %s filled %s" % (o["state"], o["gpus"], o["min_gpus"], o["gpus_filled"]))
    c.check(o["reason"] == "partly filled: 6 of 8 GPUs; the rest is cancelled", "reason %r" % o["reason"])
    c.check(len(o["trades"]) == 1 and o["trades"][0]["pool_id"] == big["id"] and o["trades"][0]["gpus"] == 6,
            "trades %s" % o["trades"])
    g = expect_status(w.e.c.get("/v1/orders/%d" % o["id"], token=w.T["token"]), 200)
    c.check(g["state"] == "filled" and g["gpus_filled"] == 6 and len(g["trades"]) == 1, "GET order %s" % g)
    w.money_checks(g, 2400)

    # all or nothing: killed, nothing more bought; the quote says what is there
    whole = w.body()
    qj = w.mk.quote(w.T["token"], whole)
    c.check(qj["filled"] is False and qj["gpus_available"] == 3,
            "whole quote filled %s available %s (6 of the big pool are booked: 3 remain in the small one)"
            % (qj["filled"], qj["gpus_available"]))
    o2 = expect_status(w.mk.order(w.T["token"], whole), 201)
    c.check(o2["state"] == "killed" and o2["gpus_filled"] == 0 and o2["min_gpus"] is None and o2["trades"] == [],
            "whole order %s filled %s min %s" % (o2["state"], o2["gpus_filled"], o2["min_gpus"]))
    w.money_checks(g, 2400)
    c.done()


def test_fill_or_kill_split_partial():
    """12 GPUs asked in at most 2 pieces, at least 5: pools of 6 (1.50), 3 (1.00) and 2 (0.50).
    The two largest are bought (6 + 3), two trades, the order filled 9 of 12."""
    w = World()
    c = w.c
    a = w.pool("1.50", 6)
    b = w.pool("1.00", 3)
    w.pool("0.50", 2)
    body = w.body(gpus=12, min_gpus=5, placement="split", max_pieces=2, duration_hours=1)
    o = expect_status(w.mk.order(w.T["token"], body), 201)
    c.check(o["state"] == "filled" and o["gpus_filled"] == 9 and o["reason"].startswith("partly filled: 9 of 12"),
            "order %s filled %s %r" % (o["state"], o["gpus_filled"], o["reason"]))
    got = sorted((t["pool_id"], t["gpus"]) for t in o["trades"])
    c.check(got == sorted([(a["id"], 6), (b["id"], 3)]), "trades %s" % got)
    c.check(len({t["start"] for t in o["trades"]}) == 1, "split pieces at different starts")
    w.money_checks(o, 6 * 150 + 3 * 100)
    c.done()


def test_good_till_partial_rests_then_fills():
    """6 GPUs asked, at least 3, good-till, one start: a pool of 4 (1.00) gives 4 now; the order
    stays `open` with gpus_filled 4 and its rest (2 GPUs) rests.  A pool of 8 (1.50) appears:
    the book worker buys the rest there as a second trade, and the order is `filled` 6 of 6."""
    w = World()
    c = w.c
    small = w.pool("1.00", 4)
    body = w.body(gpus=6, min_gpus=3, time_in_force="good_till", expires_at=hour(48))
    o = expect_status(w.mk.order(w.T["token"], body), 201)
    c.check(o["state"] == "open" and o["gpus_filled"] == 4 and len(o["trades"]) == 1,
            "order %s filled %s trades %d" % (o["state"], o["gpus_filled"], len(o["trades"])))
    c.check(o["reason"].startswith("partly filled: 4 of 6 GPUs"), "reason %r" % o["reason"])
    c.check(o["trades"] and o["trades"][0]["pool_id"] == small["id"] and o["trades"][0]["gpus"] == 4,
            "first part %s" % o["trades"])
    lst = expect_status(w.e.c.get("/v1/orders?state=open", token=w.T["token"]), 200)
    c.check([x["id"] for x in lst["items"]] == [o["id"]], "open orders %s" % [x["id"] for x in lst["items"]])
    w.money_checks(o, 4 * 2 * 100)
    # the wake after the order committed finds nothing for the rest: still open, the reason says so
    o1 = w.mk.wait_order(o["id"], w.T["token"], pred=lambda x: "the rest:" in x["reason"], timeout=5)
    c.check(o1["state"] == "open" and o1["gpus_filled"] == 4 and len(o1["trades"]) == 1,
            "after the wake: %s filled %s %r" % (o1["state"], o1["gpus_filled"], o1["reason"]))

    big = w.pool("1.50", 8)
    o2 = w.mk.wait_order(o["id"], w.T["token"], pred=lambda x: x["state"] != "open", timeout=10)
    c.check(o2["state"] == "filled" and o2["gpus_filled"] == 6 and o2["reason"] == "",
            "10 s after a pool appeared the order is %s, filled %s, %r" % (o2["state"], o2["gpus_filled"], o2["reason"]))
    parts = [(t["pool_id"], t["gpus"]) for t in o2["trades"]]
    c.check(parts == [(small["id"], 4), (big["id"], 2)], "parts %s" % parts)
    if o2["state"] == "filled":
        w.money_checks(o2, 4 * 2 * 100 + 2 * 2 * 150)
    c.done()


def test_split_independent_starts():
    """Pool A (4 GPUs, 1.00) is available for hours 30-32 only, pool B (4 GPUs, 1.50) from hour 32:
    8 GPUs for 2 hours, split, start between 30 and 32.  With one start for every piece the
    order cannot fill (4 GPUs available); with `"starts": "independent"` it buys A at 30 and B
    at 32, two trades, exact money."""
    w = World()
    c = w.c
    a = w.e.pool(w.P["token"], w.r, gpu_count=4, gpus_per_node=4, price_per_gpu_hour="1.00",
                 available_from=hour(30), available_until=hour(32))
    b = w.e.pool(w.P["token"], w.r, gpu_count=4, gpus_per_node=4, price_per_gpu_hour="1.50",
                 available_from=hour(32), available_until=hour(40))
    w.pools += [a["id"], b["id"]]
    same = w.body(placement="split", latest_start=hour(32))
    qj = w.mk.quote(w.T["token"], same)
    c.check(qj["filled"] is False and qj["gpus_available"] == 4,
            "one start: filled %s, available %s" % (qj["filled"], qj["gpus_available"]))
    o = expect_status(w.mk.order(w.T["token"], same), 201)
    c.check(o["state"] == "killed" and o["trades"] == [], "one start: order %s" % o["state"])
    ind = w.body(placement="split", latest_start=hour(32), starts="independent")
    qj = w.mk.quote(w.T["token"], ind)
    got = sorted((p["pool_id"], p["start"], p["gpus"]) for p in qj["placements"])
    want = sorted([(a["id"], hour(30), 4), (b["id"], hour(32), 4)])
    c.check(qj["filled"] is True and qj["gpus_available"] == 8 and got == want and qj["total"] == "20.00",
            "independent quote: filled %s, placements %s, total %s, expected %s"
            % (qj["filled"], got, qj["total"], want))
    o = expect_status(w.mk.order(w.T["token"], ind), 201)
    got = sorted((t["pool_id"], t["start"], t["gpus"]) for t in o["trades"])
    c.check(o["state"] == "filled" and o["gpus_filled"] == 8 and got == want,
            "independent order %s, filled %s, trades %s" % (o["state"], o["gpus_filled"], got))
    w.money_checks(o, 4 * 2 * 100 + 4 * 2 * 150)
    c.done()


def test_partial_bad_input_changes_nothing():
    """min_gpus above gpus, 0, negative, not an integer, or with ncu; starts with gang, unknown or
    not a string: 400 naming the field, for quotes and orders, and nothing in the database
    changes."""
    w = World()
    c = w.c
    w.pool("1.00", 8)
    bad = [({"min_gpus": 9}, "invalid_value"), ({"min_gpus": 0}, "invalid_value"),
           ({"min_gpus": -1}, "invalid_value"), ({"min_gpus": "4"}, "wrong_type"),
           ({"min_gpus": 2.5}, "wrong_type"), ({"min_gpus": True}, "wrong_type"),
           ({"gpus": None, "ncu": "8", "min_gpus": 2}, "invalid_value"),
           ({"starts": "independent"}, "invalid_value", "starts"),
           ({"placement": "split", "starts": "whenever"}, "invalid_value", "starts"),
           ({"placement": "split", "starts": 1}, "wrong_type", "starts")]
    before = snapshot()
    for over, name, *field in bad:
        for path in ("/v1/quotes", "/v1/orders"):
            r = w.e.c.post(path, w.body(**over), token=w.T["token"])
            try:
                expect_error(r, 400, name, field[0] if field else "min_gpus")
            except Exception as ex:  # collect every case
                c.add("%s %s: %s" % (path, over, ex))
    d = snapshot_diff(before, snapshot())
    c.check(d == [], "bad min_gpus changed tables %s" % d)
    c.done()
