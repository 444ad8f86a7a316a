"""Regions and the latency matrix."""
import json

from harness import (RUN, Collector, check, env, error_problems, expect_error, snapshot,
                     snapshot_diff, uniq)

REGION_KEYS = {"code", "name", "tier", "operator", "location", "lat", "lon", "created_at"}


def test_create_and_get_region():
    e = env()
    c = Collector()
    code = uniq("r")
    r = e.c.post("/v1/regions", {"code": code, "name": "East " + RUN, "tier": "edge", "operator": "ACME"},
                 token=e.admin)
    check(r.status == 201, "create region: %s" % r.short())
    c.check(set(r.json) == REGION_KEYS, "region keys %s" % sorted(r.json))
    c.check(r.json.get("code") == code and r.json.get("tier") == "edge" and r.json.get("operator") == "ACME"
            and r.json.get("name") == "East " + RUN, "region echo %s" % r.json)
    g = e.c.get("/v1/regions/" + code, token=e.admin)
    c.check(g.status == 200 and g.json == r.json, "GET region: %s" % g.short())
    # operator defaults to ""
    code2 = uniq("r")
    r = e.c.post("/v1/regions", {"code": code2, "name": "x", "tier": "terminal"}, token=e.admin)
    c.check(r.status == 201 and r.json.get("operator") == "", "region without operator: %s" % r.short())
    # duplicate
    r = e.c.post("/v1/regions", {"code": code, "name": "again", "tier": "cloud"}, token=e.admin)
    p = error_problems(r, 409, "already_exists")
    c.check(not p, "duplicate region: %s" % "; ".join(p))
    # bad code / tier
    for body, field in [({"code": "US_EAST", "name": "x", "tier": "cloud"}, "code"),
                        ({"code": "a", "name": "x", "tier": "cloud"}, "code"),
                        ({"code": uniq("r"), "name": "x", "tier": "space"}, "tier"),
                        ({"code": uniq("r"), "name": "", "tier": "cloud"}, "name")]:
        r = e.c.post("/v1/regions", body, token=e.admin)
        p = error_problems(r, 400, "invalid_value", field)
        c.check(not p, "region %s: %s" % (body, "; ".join(p)))
    r = e.c.get("/v1/regions/zz-" + uniq("none"), token=e.admin)
    p = error_problems(r, 404, "not_found")
    c.check(not p, "GET unknown region: %s" % "; ".join(p))
    c.done()


def test_region_list_filter_and_pages():
    e = env()
    c = Collector()
    mine = {e.region(tier=t) for t in ("cloud", "edge", "edge", "terminal", "cloud", "edge")}
    everything = e.c.get("/v1/regions?limit=500", token=e.admin)
    check(everything.status == 200, "list regions: %s" % everything.short())
    all_codes = [x["code"] for x in everything.json["items"]]
    c.check(mine <= set(all_codes), "list misses regions just created")
    for lim in (1, 2, 5):
        items, pages = e.walk("/v1/regions", e.admin, lim)
        codes = [x["code"] for x in items]
        c.check(len(codes) == len(set(codes)), "limit %d: duplicates across pages" % lim)
        c.check(set(codes) == set(all_codes), "limit %d: walk gives %d regions, single page %d"
                % (lim, len(codes), len(all_codes)))
    edge, _ = e.walk("/v1/regions?tier=edge", e.admin, 2)
    c.check(all(x["tier"] == "edge" for x in edge), "?tier=edge returned other tiers")
    c.check({x["code"] for x in edge} >= {m for m in mine if
                                            e.c.get("/v1/regions/" + m, token=e.admin).json["tier"] == "edge"},
            "?tier=edge misses edge regions")
    for q in ("tier=space", "limit=0", "limit=501", "limit=abc", "limit=-1", "colour=red"):
        r = e.c.get("/v1/regions?" + q, token=e.admin)
        p = error_problems(r, 400, "bad_query_parameter")
        c.check(not p, "GET /v1/regions?%s: %s" % (q, "; ".join(p)))
    c.done()


def test_latency_put_and_get():
    e = env()
    c = Collector()
    a, b, d = e.region(), e.region(), e.region()
    r = e.c.put("/v1/latency", {"entries": [{"from": a, "to": b, "rtt_ms": "12.345"},
                                            {"from": b, "to": a, "rtt_ms": 7.5},
                                            {"from": a, "to": d, "rtt_ms": "40"}]}, token=e.admin)
    check(r.status == 200, "PUT latency: %s" % r.short())
    c.check(r.json == {"updated": 3}, "PUT latency reply %s" % r.json)
    g = e.c.get("/v1/latency?from=" + a, token=e.admin)
    check(g.status == 200, "GET latency: %s" % g.short())
    got = sorted((x["from"], x["to"], x["rtt_ms"]) for x in g.json["items"])
    c.check(got == sorted([(a, b, "12.345"), (a, d, "40.000")]), "GET ?from=%s: %s" % (a, got))
    g = e.c.get("/v1/latency?from=%s&to=%s" % (b, a), token=e.admin)
    c.check(g.status == 200 and [(x["from"], x["to"], x["rtt_ms"]) for x in g.json["items"]] == [(b, a, "7.500")],
            "GET ?from=&to=: %s" % g.short())
    g = e.c.get("/v1/latency?to=" + a, token=e.admin)
    c.check(g.status == 200 and [x["from"] for x in g.json["items"]] == [b], "GET ?to=: %s" % g.short())
    # overwrite
    r = e.c.put("/v1/latency", {"entries": [{"from": a, "to": b, "rtt_ms": "1"}]}, token=e.admin)
    c.check(r.status == 200 and r.json == {"updated": 1}, "overwrite: %s" % r.short())
    g = e.c.get("/v1/latency?from=%s&to=%s" % (a, b), token=e.admin)
    c.check(g.status == 200 and g.json["items"][0]["rtt_ms"] == "1.000", "after overwrite: %s" % g.short())
    r = e.c.get("/v1/latency?frm=" + a, token=e.admin)
    p = error_problems(r, 400, "bad_query_parameter")
    c.check(not p, "GET latency ?frm=: %s" % "; ".join(p))
    c.done()


def _entry_field(sub):
    def ok(f):
        return isinstance(f, str) and f.startswith("entries") and sub in f
    ok.__doc__ = "entries[..].%s" % sub
    return ok


def test_latency_bad_input_changes_nothing():
    e = env()
    c = Collector()
    a, b = e.region(), e.region()
    ok = {"from": a, "to": b, "rtt_ms": "5"}
    cases = [
        ([ok, {"from": a, "to": b, "rtt_ms": "-1"}], 400, "invalid_value", _entry_field("rtt_ms")),
        ([{"from": a, "to": b, "rtt_ms": "1.2345"}], 400, "invalid_value", _entry_field("rtt_ms")),
        ([{"from": a, "to": b, "rtt_ms": "10000.001"}], 400, "invalid_value", _entry_field("rtt_ms")),
        ([{"from": a, "to": b, "rtt_ms": "abc"}], 400, "invalid_value", _entry_field("rtt_ms")),
        ([{"from": a, "to": b, "rtt_ms": True}], 400, "wrong_type", _entry_field("rtt_ms")),
        ([{"from": a, "to": b, "rtt_ms": 1e30}], 400, None, _entry_field("rtt_ms")),
        ([{"from": a, "rtt_ms": "1"}], 400, "missing_field", _entry_field("to")),
        ([{"from": a, "to": b, "rtt_ms": "1", "jitter": 1}], 400, "unknown_field", _entry_field("jitter")),
        (["x"], 400, "wrong_type", lambda f: str(f).startswith("entries")),
        ([ok, {"from": a, "to": "zz-" + uniq("none"), "rtt_ms": "1"}], 422, "unknown_reference", _entry_field("to")),
        ([{"from": "zz-" + uniq("none"), "to": a, "rtt_ms": "1"}], 422, "unknown_reference", _entry_field("from")),
        ([], 400, "invalid_value", "entries"),
    ]
    before = snapshot()
    for entries, status, name, field in cases:
        r = e.c.put("/v1/latency", {"entries": entries}, token=e.admin)
        p = error_problems(r, status, name, field)
        d = snapshot_diff(before, snapshot())
        if d:
            p.append("database changed: %s" % d)
            before = snapshot()
        c.check(not p, "PUT latency %s: %s" % (json.dumps(entries)[:120], "; ".join(p)))
    # more than 2000 entries: refused as 400 (too many) or 413 (over 64 KiB), nothing written
    big = [{"from": a, "to": b, "rtt_ms": 1}] * 2001
    body = json.dumps({"entries": big}, separators=(",", ":"))
    try:
        r = e.c.put("/v1/latency", body, token=e.admin)
    except OSError as ex:
        c.add("PUT latency with 2001 entries (%d bytes): no reply (%s)" % (len(body), ex))
        c.done()
    if r.status == 413:
        p = error_problems(r, 413, "body_too_large")
    else:
        p = error_problems(r, 400, "invalid_value", "entries")
    d = snapshot_diff(before, snapshot())
    if d:
        p.append("database changed: %s" % d)
    c.check(not p, "PUT latency with 2001 entries (%d bytes): %s" % (len(body), "; ".join(p)))
    c.done()
