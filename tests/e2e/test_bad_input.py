"""Bad input, table-driven, over every route that takes a body or an id in its path.

Each case sends one bad request and asserts: the status, the error body shape with the right
`error` name and (where it applies) the right `field`, and that the database is unchanged
(every table but audit_log and idempotency_keys).  A valid control request per route ends
its cases, so the valid bodies the cases are derived from are known to be valid.
The market routes (money, budgets, orders, quotes, trades, settings) have their own table in
test_market.py (test_market_bad_input_table).
"""
import json

from harness import (PATH_FIELD, RUN, Collector, best_error_problems, env, error_problems, hour, snapshot, snapshot_diff, uniq)

MAX_BODY = 64 * 1024
BIG_INTS = [2 ** 63, 2 ** 64, 10 ** 30]
HUGE_NAMES = {"malformed_json", "invalid_value", "wrong_type"}


class Case:
    def __init__(self, label, method, path, token, body, alts, headers=None, ctype="application/json",
                 raw=None, changes=False):
        self.label, self.method, self.path, self.token = label, method, path, token
        self.body, self.alts, self.headers, self.ctype, self.raw = body, alts, headers, ctype, raw
        self.changes = changes  # a valid control: must succeed (2xx)


def E(status, name, field=None):
    return (status, name, field)


def _with(body, **over):
    b = dict(body)
    b.update(over)
    return b


def _without(body, key):
    b = dict(body)
    b.pop(key)
    return b


def _raw_request(method, path, token, body, headers=None, ctype="application/json"):
    h = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1", "Connection: close"]
    if token:
        h.append("Authorization: Bearer " + token)
    if ctype:
        h.append("Content-Type: " + ctype)
    h.append("Content-Length: %d" % len(body))
    for k, v in (headers or []):
        h.append("%s: %s" % (k, v))
    return ("\r\n".join(h) + "\r\n\r\n").encode("latin-1") + body


# Field kinds -> list of (bad value, acceptable (status, name) alternatives)
def _bad_values(kind):
    wrong = [E(400, "wrong_type")]
    inval = [E(400, "invalid_value")]
    out = []
    if kind in ("str", "code", "enum", "money", "time", "ref"):
        out += [(123, wrong), (True, wrong), ([], wrong), ({}, wrong)]
    if kind == "str":
        out += [("x" * 5000, inval)]
    if kind == "ref":  # names another object: too long is invalid or simply unknown
        out += [("x" * 5000, inval + [E(422, "unknown_reference")])]
    if kind == "code":
        out += [("x" * 5000, inval), ("UPPER_case", inval), ("", inval)]
    if kind == "enum":
        out += [("bogus", inval), ("", inval)]
    if kind == "money":
        out += [(12.5, wrong), (12, wrong)]
        out += [(s, inval) for s in ("1.234", "-5", "1e3", "", " 1", "+1", "0", "0.00", "1,5",
                                     "0x10", "NaN", "1.", ".5", "99999999999999999999999")]
    if kind == "time":
        out += [(1767225600, wrong)]
        out += [(s, inval) for s in ("tomorrow", "", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
                                     "2026-12-01 00:00:00", "2026-12-01T00:00:00.5Z")]
    if kind in ("int", "uint"):
        out += [("1", wrong), (1.5, wrong), (True, wrong), ([], wrong), (1e30, wrong)]
        out += [(v, [E(400, n) for n in HUGE_NAMES]) for v in BIG_INTS]
        out += [(2 ** 63 - 1, inval)]
    if kind == "uint":
        out += [(-1, inval)]
    if kind == "array":
        out += [({}, wrong), ("x", wrong), (1, wrong)]
    if kind == "object":
        out += [("x", wrong), ([], wrong), (1, wrong)]
    return out


def _body_cases(label, method, path, token, valid, fields, required, skip_empty=False):
    """Generic cases for a JSON route: valid is a good body, fields {name: kind}."""
    cs = []
    add = cs.append
    mal = [E(400, "malformed_json", "")]
    for raw in (b'{"a":', b"{", b'{"a": 1,}', b"{'a': 1}", b"\xff\xfe{}", b'{"a": 1} x', b"nul"):
        add(Case("%s malformed %r" % (label, raw), method, path, token, raw, mal))
    for raw in (b"[1]", b'"x"', b"42", b"null", b"true", b"[]"):
        add(Case("%s non-object %r" % (label, raw), method, path, token, raw, [E(400, "body_not_object", "")]))
    if not skip_empty:
        add(Case("%s empty body" % label, method, path, token, b"", [E(400, "body_required", "")]))
    def fresh():  # unique names, in case a wrongly accepted case already took the first ones
        return _with(valid, **{k: uniq("ctl") for k in ("name", "code") if k in valid and RUN in str(valid[k])})

    for ct in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
               "application/jsonx", None):
        add(Case("%s Content-Type %s" % (label, ct), method, path, token, fresh(),
                 [E(415, "unsupported_media_type")], ctype=ct))
    add(Case("%s unknown field" % label, method, path, token, _with(valid, zzz_unknown=1),
             [E(400, "unknown_field", "zzz_unknown")]))
    # size limit: exactly 64 KiB is allowed (the long value is then refused as a value),
    # one byte more is 413
    first = next(iter(valid))
    pad = json.dumps(_without(valid, first))[1:]  # no duplicate key: the padded one must count
    for size, alts in ((MAX_BODY, [E(400, "invalid_value", first), E(400, "wrong_type", first)]),
                       (MAX_BODY + 1, [E(413, "body_too_large")]), (200000, [E(413, "body_too_large")])):
        head = '{"%s":"' % first
        tail = '",' + pad if pad != "}" else '"}'
        filler = "a" * (size - len(head) - len(tail))
        body = (head + filler + tail).encode()
        assert len(body) == size
        add(Case("%s body of %d bytes" % (label, size), method, path, token, body, alts,
                 raw=_raw_request(method, path, token, body)))
    for f in required:
        add(Case("%s missing %s" % (label, f), method, path, token, _without(valid, f),
                 [E(400, "missing_field", f)]))
    for f, kind in fields.items():
        for v, alts in _bad_values(kind):
            fixed = [(s, n, f if n != "malformed_json" else "") for (s, n, _) in alts]
            add(Case("%s %s=%s" % (label, f, json.dumps(v)[:40]), method, path, token, _with(valid, **{f: v}), fixed))
        if f in required:
            add(Case("%s %s=null" % (label, f), method, path, token, _with(valid, **{f: None}),
                     [E(400, "wrong_type", f), E(400, "missing_field", f)]))
    if method == "POST":
        for key in ("", "k" * 129, "a\x01b", "\x7f", "schl\xfcssel"):
            add(Case("%s Idempotency-Key %r" % (label, key[:10]), method, path, token,
                     json.dumps(valid).encode(), [E(400, "bad_idempotency_key")],
                     raw=_raw_request(method, path, token, json.dumps(valid).encode(),
                                      headers=[("Idempotency-Key", key)])))
    add(Case("%s VALID control" % label, method, path, token, fresh(), [], changes=True))
    return cs


def _path_cases(label, method, tmpl, token, body, unknown_alts=None):
    cs = []
    for bad in ("abc", "-1", "0", "01", "1.5", "1e3", "99999999999999999999", "9007199254740992", "%20"):
        cs.append(Case("%s id %r" % (label, bad), method, tmpl % bad, token, body,
                       [E(400, "bad_path_id", PATH_FIELD)]))
    cs.append(Case("%s unknown id" % label, method, tmpl % "999999999", token, body,
                   unknown_alts or [E(404, "not_found")]))
    return cs


def build_cases(e):
    P, Q, T = e.account("provider"), e.account("provider"), e.account("tenant")
    R = e.region()
    X = e.pool(P["token"], R)
    ptok = e.token(P["id"])
    f0 = e.c.get("/v1/capacity/formula", token=e.admin).json
    cs = []
    # accounts
    cs += _body_cases("POST /v1/accounts", "POST", "/v1/accounts", e.admin,
                      {"name": uniq("acct"), "kind": "tenant"},
                      {"name": "str", "kind": "enum"}, ["name", "kind"])
    cs.append(Case("POST /v1/accounts regions not array", "POST", "/v1/accounts", e.admin,
                   {"kind": "operator", "name": uniq("op"), "regions": R}, [E(400, "wrong_type", "regions")]))
    cs.append(Case("POST /v1/accounts regions [5]", "POST", "/v1/accounts", e.admin,
                   {"kind": "operator", "name": uniq("op"), "regions": [5]},
                   [E(400, "wrong_type", f) for f in ("regions", "regions[0]", "regions.0")]))
    cs.append(Case("POST /v1/accounts name 201 chars", "POST", "/v1/accounts", e.admin,
                   {"kind": "tenant", "name": "n" * 201}, [E(400, "invalid_value", "name")]))
    # tokens
    tpath = "/v1/accounts/%d/tokens" % T["id"]
    cs += _body_cases("POST tokens", "POST", tpath, e.admin, {"label": "l", "expires_at": hour(48)},
                      {"label": "str", "expires_at": "time"}, [], skip_empty=True)
    cs.append(Case("POST tokens expires_at past", "POST", tpath, e.admin, {"expires_at": "2020-01-01T00:00:00Z"},
                   [E(400, "invalid_value", "expires_at")]))
    cs.append(Case("POST tokens label 201 chars", "POST", tpath, e.admin, {"label": "l" * 201},
                   [E(400, "invalid_value", "label")]))
    cs += _path_cases("POST tokens", "POST", "/v1/accounts/%s/tokens", e.admin, {"label": "x"})
    cs.append(Case("POST tokens of another account (tenant)", "POST", "/v1/accounts/%d/tokens" % P["id"],
                   T["token"], {"label": "x"}, [E(404, "not_found")]))
    cs += _path_cases("GET account", "GET", "/v1/accounts/%s", e.admin, None)
    cs += _path_cases("DELETE token", "DELETE", "/v1/tokens/%s", e.admin, None)
    cs.append(Case("DELETE another's token (tenant)", "DELETE", "/v1/tokens/%d" % ptok["id"], T["token"], None,
                   [E(404, "not_found")]))
    cs.append(Case("DELETE another's token (provider)", "DELETE", "/v1/tokens/%d" % ptok["id"], Q["token"], None,
                   [E(404, "not_found")]))
    # regions
    cs += _body_cases("POST /v1/regions", "POST", "/v1/regions", e.admin,
                      {"code": uniq("r"), "name": "n", "tier": "edge", "operator": "o"},
                      {"code": "code", "name": "str", "tier": "enum", "operator": "str"}, ["code", "name", "tier"])
    cs.append(Case("POST /v1/regions charset=utf-8", "POST", "/v1/regions", e.admin,
                   {"code": uniq("r"), "name": "n", "tier": "edge"}, [], ctype="application/json; charset=utf-8",
                   changes=True))
    cs.append(Case("POST /v1/regions operator 201 chars", "POST", "/v1/regions", e.admin,
                   {"code": uniq("r"), "name": "n", "tier": "edge", "operator": "o" * 201},
                   [E(400, "invalid_value", "operator")]))
    cs.append(Case("POST /v1/regions code 41 chars", "POST", "/v1/regions", e.admin,
                   {"code": "r" * 41, "name": "n", "tier": "edge"}, [E(400, "invalid_value", "code")]))
    # latency (entry contents are covered in test_regions_latency)
    R2 = e.region()
    cs += _body_cases("PUT /v1/latency", "PUT", "/v1/latency", e.admin,
                      {"entries": [{"from": R, "to": R2, "rtt_ms": "3.5"}]}, {"entries": "array"}, ["entries"])
    # weights
    cs += _body_cases("PUT /v1/capacity/weights", "PUT", "/v1/capacity/weights", e.admin,
                      {"compute_weight_bp": f0["compute_weight_bp"], "memory_weight_bp": f0["memory_weight_bp"],
                       "reference": f0["reference"]},
                      {"compute_weight_bp": "uint", "memory_weight_bp": "uint", "reference": "ref"},
                      ["compute_weight_bp", "memory_weight_bp"])
    # pools
    pb = e.pool_body(R)
    pfields = {"name": "str", "region": "ref", "accelerator": "ref", "gpu_count": "uint", "gpus_per_node": "uint",
               "intra_node": "enum", "inter_node": "enum", "inter_node_gbps": "uint",
               "price_per_gpu_hour": "money", "available_from": "time", "available_until": "time",
               "adapter": "object"}
    cs += _body_cases("POST /v1/pools", "POST", "/v1/pools", P["token"], pb, pfields, list(pfields))
    bad = [("gpu_count", 0), ("gpu_count", 1000001), ("gpus_per_node", 0), ("gpus_per_node", 65),
           ("inter_node_gbps", 100001), ("name", ""), ("name", "n" * 201),
           ("price_per_gpu_hour", "100000.01"),
           ("available_from", hour(2)[:-6] + "30:00Z"), ("available_until", hour(200)[:-3] + "01Z"),
           ("available_until", hour(24 * (365 * 5 + 30)))]
    for f, v in bad:
        cs.append(Case("POST /v1/pools %s=%r" % (f, v if len(str(v)) < 30 else str(v)[:30]), "POST", "/v1/pools",
                       P["token"], _with(pb, **{f: v}), [E(400, "invalid_value", f)]))
    win = lambda f: f in ("available_from", "available_until")  # noqa: E731
    win.__doc__ = "available_from or available_until"
    for label, over, field in [
            ("from == until", {"available_from": hour(5), "available_until": hour(5)}, win),
            ("from > until", {"available_from": hour(9), "available_until": hour(5)}, win),
            ("until in the past", {"available_from": hour(-9), "available_until": hour(-2)}, "available_until"),
            ("infiniband at 0 Gb/s", {"inter_node": "infiniband", "inter_node_gbps": 0}, "inter_node_gbps"),
            ("none at 400 Gb/s", {"inter_node": "none", "inter_node_gbps": 400}, "inter_node_gbps")]:
        cs.append(Case("POST /v1/pools %s" % label, "POST", "/v1/pools", P["token"], _with(pb, **over),
                       [E(400, "invalid_value", field)]))
    cs.append(Case("POST /v1/pools unknown region", "POST", "/v1/pools", P["token"],
                   _with(pb, region="zz-" + uniq("none")), [E(422, "unknown_reference", "region")]))
    cs.append(Case("POST /v1/pools unknown accelerator", "POST", "/v1/pools", P["token"],
                   _with(pb, accelerator="NOPE-9000"), [E(422, "unknown_reference", "accelerator")]))
    xpath = "/v1/pools/%d" % X["id"]
    cs += _body_cases("PATCH pool", "PATCH", xpath, P["token"], {"name": "renamed", "price_per_gpu_hour": "3.00"},
                      {"name": "str", "price_per_gpu_hour": "money", "gpu_count": "uint", "status": "enum",
                       "available_from": "time", "available_until": "time"}, [])
    cs += _path_cases("PATCH pool", "PATCH", "/v1/pools/%s", P["token"], {"name": "x"})
    cs += _path_cases("GET pool", "GET", "/v1/pools/%s", P["token"], None)
    cs += _path_cases("DELETE pool", "DELETE", "/v1/pools/%s", P["token"], None)
    cs.append(Case("PATCH foreign pool", "PATCH", xpath, Q["token"], {"name": "x"}, [E(404, "not_found")]))
    cs.append(Case("DELETE foreign pool", "DELETE", xpath, Q["token"], None, [E(404, "not_found")]))
    hpath = xpath + "/heartbeat"
    cs += _body_cases("heartbeat", "POST", hpath, P["token"], {"healthy_gpus": 16, "utilization_bp": 100},
                      {"healthy_gpus": "uint", "utilization_bp": "uint"}, ["healthy_gpus", "utilization_bp"])
    cs.append(Case("heartbeat healthy_gpus > gpu_count", "POST", hpath, P["token"],
                   {"healthy_gpus": 17, "utilization_bp": 0}, [E(400, "invalid_value", "healthy_gpus")]))
    cs.append(Case("heartbeat utilization_bp 10001", "POST", hpath, P["token"],
                   {"healthy_gpus": 1, "utilization_bp": 10001}, [E(400, "invalid_value", "utilization_bp")]))
    cs += _path_cases("heartbeat", "POST", "/v1/pools/%s/heartbeat", P["token"],
                      {"healthy_gpus": 1, "utilization_bp": 0})
    cs.append(Case("heartbeat foreign pool", "POST", hpath, Q["token"], {"healthy_gpus": 1, "utilization_bp": 0},
                   [E(404, "not_found")]))
    # DELETE pool control last (retires X)
    cs.append(Case("DELETE pool VALID control", "DELETE", xpath, P["token"], None, [], changes=True))
    return cs


def _send(e, cs):
    if cs.raw is not None:
        return e.c.raw(cs.raw)
    return e.c.req(cs.method, cs.path, body=cs.body, token=cs.token, headers=cs.headers, ctype=cs.ctype)


def test_bad_input_table():
    e = env()
    c = Collector()
    cases = build_cases(e)
    before = snapshot()
    n5xx = 0
    for cs in cases:
        try:
            r = _send(e, cs)
        except Exception as ex:  # noqa: BLE001 — a dropped connection is a failure of this case
            c.add("%s: no reply (%s: %s)" % (cs.label, type(ex).__name__, ex))
            continue
        if r.status >= 500:
            n5xx += 1
        if cs.changes:
            c.check(200 <= r.status < 300, "%s: %s" % (cs.label, r.short()))
            before = snapshot()
            continue
        best = best_error_problems(r, cs.alts)
        after = snapshot()
        d = snapshot_diff(before, after)
        if d:
            best = best + ["database changed: %s" % d]
            before = after
        if best:
            want = " or ".join("%s %s%s" % (s, n, "" if f is None else " field=%s" % (f.__doc__ if callable(f)
                                                                                        else repr(f)))
                               for (s, n, f) in cs.alts)
            c.add("%s [%s %s]: expected %s; got %s %s — %s" % (cs.label, cs.method, cs.path, want, r.status,
                                                             r.raw[:160].decode("utf-8", "replace"), "; ".join(best)))
    c.check(n5xx == 0, "%d case(s) got a 5xx" % n5xx)
    print("    (%d cases)" % len(cases))
    c.done()
