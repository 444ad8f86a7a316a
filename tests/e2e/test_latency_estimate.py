"""Latency for every region (issue 13): regions carry coordinates; a great-circle estimate
(fitted fibre factor and fixed overhead, GET /v1/latency/model with its error against the
measured AWS matrix) fills every pair the measured matrix lacks, marked "estimated"; a
measured value (PUT /v1/latency) overrides it; quotes and offers say which one they used, so
origin_region + max_rtt_ms no longer rejects every region outside the measured matrix.
"""
import math

from harness import Collector, check, env, error_problems, expect_status, hour, uniq
from market_util import Market, stable_snapshot

MODEL_KEYS = {"formula", "overhead_ms", "ms_per_km", "fibre_factor", "fibre_km_per_ms", "fitted_on", "pairs",
              "regions", "error", "located_regions", "regions_without_location", "updated_at"}
FRANKFURT, PARIS, SINGAPORE = (50.1109, 8.6821), (48.8566, 2.3522), (1.3521, 103.8198)


def _km(a, b):
    la1, lo1, la2, lo2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(h)))


def _model(e):
    r = e.c.get("/v1/latency/model", token=e.admin)
    check(r.status == 200, "GET /v1/latency/model: %s" % r.short())
    return r.json


def _estimate_ms(m, a, b):
    return float(m["overhead_ms"]) + float(m["ms_per_km"]) * _km(a, b)


def test_latency_model_is_published_with_its_error():
    e = env()
    c = Collector()
    m = _model(e)
    c.check(set(m) == MODEL_KEYS, "model keys: extra %s missing %s" % (sorted(set(m) - MODEL_KEYS), sorted(MODEL_KEYS - set(m))))
    c.check(0 < float(m["overhead_ms"]) < 50 and 1.0 < float(m["fibre_factor"]) < 3.0, "constants: %s" % m)
    err = m["error"]
    c.check(0 < float(err["median_ms"]) <= float(err["p90_ms"]) <= float(err["max_ms"]), "error: %s" % err)
    c.check(m["pairs"] > 500 and m["regions"] >= 20, "fitted on %s pairs of %s regions" % (m["pairs"], m["regions"]))
    # 2 * fibre_factor / km_per_ms is the slope
    slope = 2 * float(m["fibre_factor"]) / float(m["fibre_km_per_ms"])
    c.check(abs(slope - float(m["ms_per_km"])) < 1e-5, "slope %s vs fibre factor %s" % (m["ms_per_km"], slope))
    c.done()


def test_estimated_rtt_in_quotes_and_offers_measured_overrides():
    e = env()
    mk = Market(e)
    c = Collector()
    m = _model(e)
    a = e.region(lat=FRANKFURT[0], lon=FRANKFURT[1], location="Frankfurt")
    b = e.region(lat=PARIS[0], lon=PARIS[1], location="Paris")
    s = e.region()  # no coordinates yet
    reg = expect_status(e.c.get("/v1/regions/" + a, token=e.admin), 200)
    c.check(reg["lat"] == FRANKFURT[0] and reg["lon"] == FRANKFURT[1] and reg["location"] == "Frankfurt",
            "region with coordinates: %s" % reg)
    want = _estimate_ms(m, FRANKFURT, PARIS)
    # the matrix: an estimated entry between located regions, none to an unlocated one
    r = e.c.get("/v1/latency?from=%s" % a, token=e.admin)
    check(r.status == 200, "GET /v1/latency?from: %s" % r.short())
    got = {x["to"]: x for x in r.json["items"]}
    c.check(got.get(b, {}).get("source") == "estimated" and abs(float(got[b]["rtt_ms"]) - want) < 0.002,
            "estimate %s -> %s: %s, expected %.3f" % (a, b, got.get(b), want))
    c.check(got.get(a, {}).get("source") == "estimated" and abs(float(got[a]["rtt_ms"]) - float(m["overhead_ms"])) < 0.002,
            "self-pair estimate: %s" % got.get(a))
    c.check(s not in got, "an estimate to a region without coordinates: %s" % got.get(s))
    r = e.c.get("/v1/latency", token=e.admin)
    c.check(r.status == 200 and all(x["source"] == "measured" for x in r.json["items"]),
            "the unfiltered matrix lists measured entries only")
    prov = e.account("provider")
    pb = e.pool(prov["token"], b, price_per_gpu_hour="2.00", gpu_count=8, gpus_per_node=8)
    ps = e.pool(prov["token"], s, price_per_gpu_hour="1.00", gpu_count=8, gpus_per_node=8)
    t = e.account("tenant")
    body = {"gpus": 8, "duration_hours": 1, "earliest_start": hour(2), "regions": [b, s], "origin_region": a,
            "max_rtt_ms": 50}
    q = mk.quote(t["token"], body)
    pl = q["placements"]
    c.check(q["filled"] and [x["pool_id"] for x in pl] == [pb["id"]] and pl[0]["rtt_source"] == "estimated"
            and abs(float(pl[0]["rtt_ms"]) - want) < 0.002, "quote with an estimated RTT: %s" % pl)
    why = {x["pool_id"]: x for x in q["rejected"]}
    c.check(why.get(ps["id"], {}).get("reason") == "latency", "the unlocated region's pool: %s" % why.get(ps["id"]))
    r = e.c.get("/v1/offers?origin=%s&region=%s" % (a, b), token=t["token"])
    c.check(r.status == 200 and r.json["items"] and r.json["items"][0]["rtt_source"] == "estimated"
            and abs(float(r.json["items"][0]["rtt_ms"]) - want) < 0.002, "offers: %s" % r.short())
    # coordinates for the third region: it gets an estimate (the book sees it at once)
    r = e.c.patch("/v1/regions/" + s, {"lat": SINGAPORE[0], "lon": SINGAPORE[1], "location": "Singapore"}, token=e.admin)
    c.check(r.status == 200 and r.json["lat"] == SINGAPORE[0], "PATCH coordinates: %s" % r.short())
    q = mk.quote(t["token"], dict(body, max_rtt_ms=1000), limit=5)
    far = [x for x in q["ranked"] if x["pool_id"] == ps["id"]]
    c.check(far and far[0]["rtt_source"] == "estimated"
            and abs(float(far[0]["rtt_ms"]) - _estimate_ms(m, FRANKFURT, SINGAPORE)) < 0.002,
            "estimate after PATCH: %s" % far)
    # a measured value overrides the estimate
    mk.latency([(a, b, "3.5")])
    q = mk.quote(t["token"], body, full=False)
    pl = q["placements"]
    c.check(pl and pl[0]["rtt_ms"] == "3.500" and pl[0]["rtt_source"] == "measured", "measured override: %s" % pl)
    r = e.c.get("/v1/latency?from=%s&to=%s" % (a, b), token=e.admin)
    c.check(r.status == 200 and [(x["rtt_ms"], x["source"]) for x in r.json["items"]] == [("3.500", "measured")],
            "GET /v1/latency from/to: %s" % r.short())
    # clearing coordinates removes the estimates
    r = e.c.patch("/v1/regions/" + s, {"lat": None, "lon": None}, token=e.admin)
    c.check(r.status == 200 and r.json["lat"] is None, "clear coordinates: %s" % r.short())
    r = e.c.get("/v1/latency?to=%s" % s, token=e.admin)
    c.check(r.status == 200 and not r.json["items"], "estimates to a region without coordinates: %s" % r.short())
    r = e.c.get("/v1/market/book?verify=true", token=e.admin)
    c.check(r.status == 200 and r.json.get("agrees") is True, "book verify: %s" % r.short())
    c.done()


def test_bad_coordinates_change_nothing():
    e = env()
    c = Collector()
    reg = e.region()
    prov = e.account("provider")
    base = {"code": uniq("r"), "name": "x", "tier": "cloud"}
    cases = [
        ("POST", "/v1/regions", dict(base, lat=91, lon=0), e.admin, 400, "invalid_value", "lat"),
        ("POST", "/v1/regions", dict(base, lat=0, lon=-180.5), e.admin, 400, "invalid_value", "lon"),
        ("POST", "/v1/regions", dict(base, lat=10), e.admin, 400, "missing_field", "lon"),
        ("POST", "/v1/regions", dict(base, lat="10", lon=5), e.admin, 400, "wrong_type", "lat"),
        ("POST", "/v1/regions", dict(base, lat=None, lon=None), e.admin, 400, "wrong_type", "lat"),
        ("POST", "/v1/regions", dict(base, location=5), e.admin, 400, "wrong_type", "location"),
        ("PATCH", "/v1/regions/" + reg, {"lat": 1, "lon": True}, e.admin, 400, "wrong_type", "lon"),
        ("PATCH", "/v1/regions/" + reg, {"lon": 1}, e.admin, 400, "missing_field", "lat"),
        ("PATCH", "/v1/regions/" + reg, {}, e.admin, 400, "missing_field", None),
        ("PATCH", "/v1/regions/" + reg, {"tier": "edge"}, e.admin, 400, "unknown_field", "tier"),
        ("PATCH", "/v1/regions/" + reg, {"name": ""}, e.admin, 400, "invalid_value", "name"),
        ("PATCH", "/v1/regions/nowhere-" + uniq("z"), {"lat": 1, "lon": 1}, e.admin, 404, "not_found", "code"),
        ("PATCH", "/v1/regions/" + reg, {"lat": 1, "lon": 1}, prov["token"], 403, "forbidden", None),
    ]
    before = stable_snapshot()
    for method, path, body, tok, status, name, field in cases:
        r = e.c.req(method, path, body, token=tok)
        p = error_problems(r, status, name, field)
        after = stable_snapshot()
        if after != before:
            p.append("database changed: %s" % sorted(k for k in after if after[k] != before.get(k)))
            before = after
        c.check(not p, "%s %s %s: %s" % (method, path, body, "; ".join(p)))
    c.done()
