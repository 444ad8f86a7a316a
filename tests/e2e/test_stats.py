"""The dashboard's JSON routes, the market view and GET /metrics (issue 12).

Fresh regions per test (the shared server's database holds other tests' data), so every
figure is checked exactly: the live period's trades, revenue and fees against the trades the
API returned, booked slots against the utilization grid, the price history against the
trades' prices, the Prometheus counters against the trade count; operators see only their
regions everywhere; ETag revalidation; and a bad-input table over every new route.
"""
import re

from harness import Collector, check, env, error_problems, hour, snapshot, snapshot_diff

MODEL = "H100-SXM"


def _market(e):
    """Two fresh regions R1, R2 with one H100 pool each (16 GPUs, open from this hour), an
    operator of R1 and a funded tenant."""
    R1, R2 = e.region(), e.region()
    P = e.account("provider")
    X = e.pool(P["token"], R1, available_from=hour(0), price_per_gpu_hour="2.50")
    Y = e.pool(P["token"], R2, available_from=hour(0), price_per_gpu_hour="3.00")
    OP = e.account("operator", regions=[R1])
    T = e.account("tenant")
    r = e.c.post("/v1/accounts/%d/deposits" % T["id"], {"amount": "10000.00"}, token=e.admin)
    check(r.status == 201, "deposit: %s" % r.short())
    return R1, R2, P, X, Y, OP, T


def _buy(e, T, region, gpus, hours, start_offset, **extra):
    body = {"gpus": gpus, "duration_hours": hours, "earliest_start": hour(start_offset), "regions": [region]}
    body.update(extra)
    r = e.c.post("/v1/orders", body, token=T["token"])
    check(r.status == 201, "order: %s" % r.short())
    return r.json


def _region(e, token, code):
    r = e.c.get("/v1/stats/regions?region=" + code, token=token)
    check(r.status == 200 and len(r.json["items"]) == 1, "stats of %s: %s" % (code, r.short()))
    return r.json["items"][0]


def _cents(s):
    neg = s.startswith("-")
    a, b = s.lstrip("-").split(".")
    return (-1 if neg else 1) * (int(a) * 100 + int(b))


def test_region_figures_follow_trades_and_scope():
    e = env()
    c = Collector()
    R1, R2, P, X, Y, OP, T = _market(e)
    # operators see their regions only
    r = e.c.get("/v1/stats/regions", token=OP["token"])
    c.check(r.status == 200 and [x["region"] for x in r.json["items"]] == [R1],
            "operator's regions: %s" % r.short())
    a0, b0 = _region(e, e.admin, R1), _region(e, e.admin, R2)
    c.check(a0["pools"] == 1 and a0["gpus"] == 16 and a0["period"]["trades"] == 0, "R1 before: %s" % a0)
    c.check(a0["gpu_hours_capacity_14d"] == 16 * 336, "capacity 14 d: %s" % a0["gpu_hours_capacity_14d"])
    # a trade of 2 GPUs x 3 hours in R1
    o = _buy(e, T, R1, 2, 3, 2)
    check(o["state"] == "filled" and len(o["trades"]) == 1, "order: %s" % o)
    t = o["trades"][0]
    a1, b1 = _region(e, OP["token"], R1), _region(e, e.admin, R2)
    c.check(a1["period"]["trades"] == 1 and a1["period"]["gpu_hours"] == 6, "period: %s" % a1["period"])
    c.check(a1["period"]["revenue"] == t["total"] and a1["period"]["fees"] == t["fee"],
            "revenue %s / fees %s, trade total %s fee %s" % (a1["period"]["revenue"], a1["period"]["fees"],
                                                           t["total"], t["fee"]))
    c.check(a1["gpu_hours_booked_14d"] == 6 and a1["utilization_14d_bp"] == 6 * 10000 // (16 * 336),
            "booked 14 d %s, utilization %s" % (a1["gpu_hours_booked_14d"], a1["utilization_14d_bp"]))
    c.check(a1["orders"]["filled"] == 1, "orders: %s" % a1["orders"])
    c.check(b1 == b0, "R2 changed by a trade in R1: %s -> %s" % (b0, b1))
    # a killed order naming R1 (too cheap) counts as killed, with its reason
    k = _buy(e, T, R1, 1, 1, 2, max_price_per_gpu_hour="0.01")
    c.check(k["state"] == "killed", "cheap order: %s" % k["state"])
    a2 = _region(e, OP["token"], R1)
    c.check(a2["orders"]["killed"] == 1 and a2["orders"]["top_reasons"]
            and a2["orders"]["top_reasons"][0]["orders"] == 1, "orders: %s" % a2["orders"])
    # the utilization grid shows the booked slots
    r = e.c.get("/v1/stats/utilization?region=%s&hours=24" % R1, token=OP["token"])
    c.check(r.status == 200, "grid: %s" % r.short())
    if r.status == 200:
        row = [p for p in r.json["pools"] if p["pool_id"] == X["id"]]
        c.check(len(r.json["pools"]) == 1 and row and row[0]["booked"][:6] == [0, 0, 2, 2, 2, 0],
                "grid row: %s" % (row[0]["booked"][:6] if row else r.json))
    c.done()


def test_etag_revalidation():
    e = env()
    c = Collector()
    R1, R2, P, X, Y, OP, T = _market(e)
    path = "/v1/stats/regions?region=" + R1
    r1 = e.c.get(path, token=OP["token"])
    tag = r1.headers.get("etag")
    c.check(r1.status == 200 and tag and tag.startswith('"'), "ETag: %s" % r1.headers)
    r2 = e.c.get(path, token=OP["token"], headers={"If-None-Match": tag})
    c.check(r2.status == 304 and r2.raw == b"", "revalidation: %s %r" % (r2.status, r2.raw[:80]))
    _buy(e, T, R1, 1, 1, 3)
    r3 = e.c.get(path, token=OP["token"], headers={"If-None-Match": tag})
    c.check(r3.status == 200 and r3.headers.get("etag") != tag, "after a trade: %s" % r3.status)
    c.done()


def test_market_offers_and_prices():
    e = env()
    c = Collector()
    R1, R2, P, X, Y, OP, T = _market(e)
    r = e.c.get("/v1/market/offers?accelerator=%s&region=%s" % (MODEL, R1), token=T["token"])
    c.check(r.status == 200 and len(r.json["items"]) == 1, "offers: %s" % r.short())
    if r.status == 200 and r.json["items"]:
        o = r.json["items"][0]
        c.check(o["free_gpus"] == 16 and o["min_price"] == "2.50" and o["max_price"] == "2.50" and o["pools"] == 1,
                "offer: %s" % o)
    for off in (2, 3):
        _buy(e, T, R1, 1, 2, off)
    r = e.c.get("/v1/market/prices?accelerator=%s&region=%s&days=1" % (MODEL, R1), token=T["token"])
    c.check(r.status == 200, "prices: %s" % r.short())
    if r.status == 200:
        j = r.json
        c.check(sum(p["trades"] for p in j["points"]) == 2 and sum(p["gpu_hours"] for p in j["points"]) == 4,
                "points: %s" % j["points"])
        c.check(all(p["vwap"] == "2.50" for p in j["points"]) and j["last"]["unit_price"] == "2.50"
                and j["last"]["region"] == R1 and j["bucket"] == "hour", "prices: %s" % j)
    r = e.c.get("/v1/market/last", token=T["token"])
    c.check(r.status == 200 and any(x["accelerator"] == MODEL for x in r.json["items"]), "last: %s" % r.short())
    c.done()


LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{((?:[^"}]|"(?:[^"\\]|\\.)*")*)\})? (-?[0-9.e+-]+|\+Inf|NaN)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
ALLOWED_LABELS = {"method", "route", "status", "le", "region", "accelerator", "health", "adapter", "state",
                  "outcome", "kind"}


def _metrics(e, token):
    r = e.c.get("/metrics", token=token)
    check(r.status == 200, "GET /metrics: %s" % r.short())
    check(r.headers.get("content-type", "").startswith("text/plain; version=0.0.4"),
          "content type %s" % r.headers.get("content-type"))
    out, bad = [], []
    for ln in r.raw.decode("utf-8").splitlines():
        if not ln or ln.startswith("# HELP ") or ln.startswith("# TYPE "):
            continue
        m = LINE.match(ln)
        if not m:
            bad.append(ln)
            continue
        out.append((m.group(1), dict(LABEL.findall(m.group(3) or "")), float(m.group(4))))
    check(not bad, "lines not in the exposition format: %s" % bad[:3])
    return out


def test_metrics_exposition():
    e = env()
    c = Collector()
    R1, R2, P, X, Y, OP, T = _market(e)
    _buy(e, T, R1, 1, 1, 2)
    _buy(e, T, R1, 2, 3, 3)
    _buy(e, T, R2, 1, 1, 2)
    m = _metrics(e, e.admin)

    def val(name, **labels):
        return sum(v for n, lb, v in m if n == name and all(lb.get(k) == x for k, x in labels.items()))
    c.check(val("suanli_trades_total", region=R1, accelerator=MODEL) == 2, "R1 trades %s" % val("suanli_trades_total", region=R1))
    c.check(val("suanli_trade_gpu_hours_total", region=R1) == 7, "R1 GPU-hours %s" % val("suanli_trade_gpu_hours_total", region=R1))
    c.check(abs(val("suanli_trade_value_usd_total", region=R1) - 17.50) < 1e-9, "R1 value %s" % val("suanli_trade_value_usd_total", region=R1))
    # one pool in R1: health "unknown" until the simulated adapter's first heartbeat, "healthy"
    # after it (the heartbeat may come first on a loaded machine)
    r1 = [(lb.get("health"), v) for n, lb, v in m if n == "suanli_pools" and lb.get("region") == R1 and v]
    c.check(len(r1) == 1 and r1[0][1] == 1 and r1[0][0] in ("unknown", "healthy"), "R1 pools %s" % r1)
    c.check(val("suanli_http_requests_total", method="POST", route="/v1/orders", status="201") >= 3, "order counter")
    c.check(val("process_resident_memory_bytes") > 0 and val("process_open_fds") > 0, "process metrics")
    c.check(any(n == "suanli_db_pool_acquires_total" and v > 0 for n, _, v in m), "pool counters")
    labels = {k for _, lb, _ in m for k in lb}
    c.check(labels <= ALLOWED_LABELS, "unexpected labels (unbounded?): %s" % (labels - ALLOWED_LABELS))
    c.check(all(not re.search(r"/\d+", lb.get("route", "")) for _, lb, _ in m), "a raw path as route label")
    # the counters count: one more GET /v1/market/last shows up
    before = val("suanli_http_requests_total", route="/v1/market/last", status="200")
    e.c.get("/v1/market/last", token=T["token"])
    m = _metrics(e, e.admin)
    c.check(val("suanli_http_requests_total", route="/v1/market/last", status="200") == before + 1, "request counter")
    # an operator sees its region's series only
    mo = _metrics(e, OP["token"])
    regions = {lb["region"] for _, lb, _ in mo if "region" in lb}
    c.check(regions == {R1}, "operator's metrics regions: %s" % sorted(regions)[:5])
    c.done()


def test_stats_bad_input_table():
    e = env()
    c = Collector()
    R1, R2, P, X, Y, OP, T = _market(e)
    A, O, PR, TE = e.admin, OP["token"], P["token"], T["token"]
    cases = [
        (A, "/v1/stats/regions?bogus=1", 400, "bad_query_parameter", "bogus"),
        (A, "/v1/stats/regions?region=bad%20code", 400, "bad_query_parameter", "region"),
        (A, "/v1/stats/regions?region=" + "r" * 65, 400, "bad_query_parameter", "region"),
        (A, "/v1/stats/regions?region=", 400, "bad_query_parameter", "region"),
        (A, "/v1/stats/regions?region=zz-none", 404, "not_found", "region"),
        (O, "/v1/stats/regions?region=" + R2, 404, "not_found", "region"),
        (A, "/v1/stats/utilization", 400, "bad_query_parameter", "region"),
        (A, "/v1/stats/utilization?region=%s&hours=0" % R1, 400, "bad_query_parameter", "hours"),
        (A, "/v1/stats/utilization?region=%s&hours=337" % R1, 400, "bad_query_parameter", "hours"),
        (A, "/v1/stats/utilization?region=%s&hours=abc" % R1, 400, "bad_query_parameter", "hours"),
        (A, "/v1/stats/utilization?region=%s&hours=-1" % R1, 400, "bad_query_parameter", "hours"),
        (A, "/v1/stats/utilization?region=%s&hours=99999999999999999999" % R1, 400, "bad_query_parameter", "hours"),
        (A, "/v1/stats/utilization?region=zz-none", 404, "not_found", "region"),
        (O, "/v1/stats/utilization?region=" + R2, 404, "not_found", "region"),
        (A, "/v1/stats/health?region=" + R1, 400, "bad_query_parameter", "region"),
        (TE, "/v1/stats/health", 403, "forbidden", None),
        (PR, "/v1/stats/dispatch", 403, "forbidden", None),
        (A, "/v1/stats/dispatch?x=1", 400, "bad_query_parameter", "x"),
        (A, "/v1/market/offers?limit=0", 400, "bad_query_parameter", "limit"),
        (A, "/v1/market/offers?limit=2001", 400, "bad_query_parameter", "limit"),
        (A, "/v1/market/offers?accelerator=%27;drop", 400, "bad_query_parameter", "accelerator"),
        # refused by the router before the handler (raw query checks): the field is "query"
        (A, "/v1/market/offers?region=%00", 400, "bad_query_parameter", "query"),
        (A, "/v1/market/prices", 400, "bad_query_parameter", "accelerator"),
        (A, "/v1/market/prices?accelerator=NOPE-9000", 404, "not_found", "accelerator"),
        (A, "/v1/market/prices?accelerator=%s&days=0" % MODEL, 400, "bad_query_parameter", "days"),
        (A, "/v1/market/prices?accelerator=%s&days=91" % MODEL, 400, "bad_query_parameter", "days"),
        (A, "/v1/market/prices?accelerator=%s&region=a%%20b" % MODEL, 400, "bad_query_parameter", "region"),
        (A, "/v1/market/last?limit=5", 400, "bad_query_parameter", "limit"),
        (A, "/metrics?format=json", 400, "bad_query_parameter", "format"),
        (TE, "/metrics", 403, "forbidden", None),
        (None, "/metrics", 401, "unauthenticated", None),
        (None, "/ui/nope.js", 404, "not_found", "asset"),
        # the raw path is checked before routing: an escaped '/' in the {asset} segment is named
        (None, "/ui/..%2Fschema", 400, "bad_path_id", "asset"),
        (None, "/ui?x=1", 400, "bad_query_parameter", "x"),
    ]
    before = snapshot()
    for token, path, status, name, field in cases:
        r = e.c.get(path, token=token)
        p = error_problems(r, status, name, field)
        c.check(not p, "GET %s: %s — %s" % (path, r.short(), "; ".join(p)))
    c.check(not snapshot_diff(before, snapshot()), "the database changed")
    for m in ("POST", "PUT", "DELETE"):
        r = e.c.req(m, "/v1/stats/regions", token=A)
        c.check(not error_problems(r, 405, "method_not_allowed"), "%s /v1/stats/regions: %s" % (m, r.short()))
    print("    (%d cases)" % len(cases))
    c.done()


def test_dashboard_trailing_slash_redirects():
    """The dashboard's address as people type it, `/ui/`, is a 308 to the canonical `/ui` (a
    redirect, never an alias: a proxy in front sees one form); `/ui` serves the page."""
    e = env()
    c = Collector()
    r = e.c.get("/ui/")
    c.check(r.status == 308 and r.headers.get("location") == "/ui" and (r.json or {}).get("location") == "/ui",
            "GET /ui/: %s, Location %r" % (r.short(), r.headers.get("location")))
    r = e.c.get("/ui")
    c.check(r.status == 200 and "text/html" in (r.headers.get("content-type") or ""), "GET /ui: %s" % r.short())
    r = e.c.get("/v1/pools/", token=e.admin)
    c.check(r.status == 308 and r.headers.get("location") == "/v1/pools", "GET /v1/pools/: %s" % r.short())
    for path in ("/nope/", "/ui//", "/v1/pools//"):
        r = e.c.get(path)
        c.check(r.status in (400, 404) and r.err() in ("route_not_found", "bad_path"),
                "GET %s: %s (no redirect to a path that is not a route)" % (path, r.short()))
    r = e.c.req("POST", "/v1/regions/", body={"code": "x"}, token=e.admin)
    c.check(r.status in (404, 405) and r.headers.get("location") is None, "POST /v1/regions/ is not redirected: %s"
            % r.short())
    c.done()

