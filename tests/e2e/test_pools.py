"""Pools: create, read, update, retire, heartbeats, filters, pages, adapters, visibility."""
import datetime
import math
from decimal import Decimal

from harness import (Collector, check, env, error_problems, expect_error, hour, parse_ts, psql,
                     snapshot, snapshot_diff, utcnow)

POOL_KEYS = {"id", "owner_id", "name", "region", "accelerator", "memory_gb", "ncu_per_gpu", "gpu_count",
             "gpus_per_node", "nodes", "intra_node", "inter_node", "inter_node_gbps", "price_per_gpu_hour",
             "price_per_ncu_hour", "available_from", "available_until", "status", "retire_at", "health", "adapter",
             "created_at", "updated_at", "status_cause", "adapter_failures"}
HEALTH_KEYS = {"state", "healthy_gpus", "utilization_bp", "last_heartbeat_at"}
ECHO = ["name", "region", "accelerator", "gpu_count", "gpus_per_node", "intra_node", "inter_node",
        "inter_node_gbps", "available_from", "available_until"]


def _pool_problems(p, body, owner_id, accel):
    out = []
    if set(p) != POOL_KEYS:
        out.append("keys: extra %s missing %s" % (sorted(set(p) - POOL_KEYS), sorted(POOL_KEYS - set(p))))
        return out
    for k in ECHO:
        if p[k] != body[k]:
            out.append("%s %r, sent %r" % (k, p[k], body[k]))
    price = Decimal(body["price_per_gpu_hour"]).quantize(Decimal("0.01"))
    if p["price_per_gpu_hour"] != str(price):
        out.append("price_per_gpu_hour %r, expected %r" % (p["price_per_gpu_hour"], str(price)))
    if p["nodes"] != math.ceil(body["gpu_count"] / body["gpus_per_node"]):
        out.append("nodes %r for %d GPUs at %d per node" % (p["nodes"], body["gpu_count"], body["gpus_per_node"]))
    if p["owner_id"] != owner_id:
        out.append("owner_id %r, expected %r" % (p["owner_id"], owner_id))
    if p["memory_gb"] != accel["memory_gb"]:
        out.append("memory_gb %r, accelerator has %r" % (p["memory_gb"], accel["memory_gb"]))
    if p["ncu_per_gpu"] != accel["ncu"]:
        out.append("ncu_per_gpu %r, accelerator has %r" % (p["ncu_per_gpu"], accel["ncu"]))
    if accel["ncu"] is None:
        if p["price_per_ncu_hour"] is not None:
            out.append("price_per_ncu_hour %r for an unrated model" % p["price_per_ncu_hour"])
    elif not isinstance(p["price_per_ncu_hour"], str):
        out.append("price_per_ncu_hour %r is not a decimal string" % p["price_per_ncu_hour"])
    else:
        want = price / Decimal(accel["ncu"])
        if abs(Decimal(p["price_per_ncu_hour"]) - want) > Decimal("0.01"):
            out.append("price_per_ncu_hour %r, expected about %s" % (p["price_per_ncu_hour"], round(want, 4)))
    if p["adapter"].get("kind") != body["adapter"]["kind"] or \
            any(p["adapter"].get("config", {}).get(k) != v for k, v in body["adapter"]["config"].items()):
        out.append("adapter %r, sent %r" % (p["adapter"], body["adapter"]))
    if p["status"] != "active":
        out.append("status %r" % p["status"])
    h = p["health"]
    if not isinstance(h, dict) or set(h) != HEALTH_KEYS or h.get("state") != "unknown" or h.get("last_heartbeat_at"):
        out.append("health %r" % h)
    return out


def test_create_pool_echoes_fields():
    e = env()
    c = Collector()
    prov = e.account("provider")
    reg = e.region()
    acc = e.accelerators()
    unrated = next((a for a in acc.values() if a["rating"] == "unrated"), None)
    variants = [
        {"gpu_count": 17, "gpus_per_node": 8, "price_per_gpu_hour": "12.5"},
        {"gpu_count": 5, "gpus_per_node": 1, "price_per_gpu_hour": "0.01", "intra_node": "pcie",
         "inter_node": "none", "inter_node_gbps": 0},
        {"gpu_count": 1000000, "gpus_per_node": 64, "price_per_gpu_hour": "100000.00"},
        {"gpu_count": 8, "gpus_per_node": 8, "price_per_gpu_hour": "3",
         "adapter": {"kind": "slurm", "config": {"partition": "gpu", "cluster": "c1"}}},
        {"gpu_count": 8, "gpus_per_node": 8, "price_per_gpu_hour": "3.10",
         "adapter": {"kind": "webhook", "config": {"url": "https://127.0.0.1:9/hook", "timeout_ms": 5000}}},
        {"gpu_count": 8, "gpus_per_node": 8, "price_per_gpu_hour": "4.00",
         "adapter": {"kind": "sim", "config": {"fail_rate_bp": 100, "drop_rate_bp": 0, "delay_ms": 10}}},
        {"available_from": hour(-5), "available_until": hour(24 * 365 * 5 - 48)},
    ]
    if unrated:
        variants.append({"accelerator": unrated["id"], "price_per_gpu_hour": "1.99"})
    for v in variants:
        body = e.pool_body(reg, **v)
        r = e.c.post("/v1/pools", body, token=prov["token"])
        if not c.check(r.status == 201, "create pool %s: %s" % (v, r.short())):
            continue
        p = r.json
        probs = _pool_problems(p, body, prov["id"], acc[body["accelerator"]])
        c.check(not probs, "pool %s: %s" % (v, "; ".join(probs)))
        g = e.c.get("/v1/pools/%d" % p["id"], token=prov["token"])
        c.check(g.status == 200 and g.json == p, "owner GET differs from create: %s" % g.short())
        g = e.c.get("/v1/pools/%d" % p["id"], token=e.admin)
        c.check(g.status == 200 and g.json == p, "admin GET differs from create: %s" % g.short())
        minor = psql("SELECT price_minor FROM pools WHERE id = %d" % p["id"])
        want = int(Decimal(body["price_per_gpu_hour"]) * 100)
        c.check(minor == str(want), "price_minor %s for %s" % (minor, body["price_per_gpu_hour"]))
    c.done()


def test_pool_patch_and_retire():
    e = env()
    c = Collector()
    prov = e.account("provider")
    reg = e.region()
    p = e.pool(prov["token"], reg, gpu_count=16, gpus_per_node=8)
    path = "/v1/pools/%d" % p["id"]
    r = e.c.patch(path, {"name": "renamed", "price_per_gpu_hour": "9.99", "gpu_count": 17}, token=prov["token"])
    check(r.status == 200, "PATCH: %s" % r.short())
    q = r.json
    c.check(q["name"] == "renamed" and q["price_per_gpu_hour"] == "9.99" and q["gpu_count"] == 17
            and q["nodes"] == 3, "PATCH result %s" % q)
    c.check(parse_ts(q["updated_at"]) >= parse_ts(p["updated_at"]), "updated_at went back")
    for k in ("region", "accelerator", "created_at", "owner_id", "available_from"):
        c.check(q[k] == p[k], "PATCH changed %s" % k)
    until = hour(24 * 60)
    r = e.c.patch(path, {"available_until": until, "status": "draining"}, token=prov["token"])
    c.check(r.status == 200 and r.json["available_until"] == until and r.json["status"] == "draining",
            "PATCH until/status: %s" % r.short())
    for st in ("offline", "active"):
        r = e.c.patch(path, {"status": st}, token=prov["token"])
        c.check(r.status == 200 and r.json["status"] == st, "PATCH status %s: %s" % (st, r.short()))
    before = snapshot()
    for body, name, field in [({"status": "retired"}, "invalid_value", "status"),
                              ({"status": "sleeping"}, "invalid_value", "status"),
                              ({"available_until": hour(-1)}, "invalid_value", "available_until"),
                              ({"available_from": until}, "invalid_value", None),
                              ({"available_until": hour(3)[:-6] + "30:00Z"}, "invalid_value", "available_until"),
                              ({"gpu_count": 0}, "invalid_value", "gpu_count"),
                              ({"region": "elsewhere"}, "unknown_field", "region"),
                              ({"accelerator": "A10G-PCIe"}, "unknown_field", "accelerator"),
                              ({"price_per_gpu_hour": "1.001"}, "invalid_value", "price_per_gpu_hour")]:
        r = e.c.patch(path, body, token=prov["token"])
        pr = error_problems(r, 400, name, field)
        d = snapshot_diff(before, snapshot())
        if d:
            pr.append("database changed: %s" % d)
        c.check(not pr, "PATCH %s: %s" % (body, "; ".join(pr)))
    # retire
    r = e.c.delete(path, token=prov["token"])
    c.check(r.status == 200 and r.json.get("status") == "retired", "DELETE: %s" % r.short())
    g = e.c.get(path, token=prov["token"])
    c.check(g.status == 200 and g.json["status"] == "retired", "GET retired: %s" % g.short())
    lst = e.c.get("/v1/pools?region=" + reg, token=e.admin)
    c.check(lst.status == 200 and p["id"] not in [x["id"] for x in lst.json["items"]],
            "retired pool listed without ?status=retired")
    lst = e.c.get("/v1/pools?status=retired&region=" + reg, token=e.admin)
    c.check(lst.status == 200 and [x["id"] for x in lst.json["items"]] == [p["id"]],
            "?status=retired: %s" % lst.short())
    before = snapshot()
    r = e.c.patch(path, {"name": "zombie"}, token=prov["token"])
    pr = error_problems(r, 409, "conflict")
    c.check(not pr, "PATCH a retired pool: %s" % "; ".join(pr))
    r = e.c.post(path + "/heartbeat", {"healthy_gpus": 1, "utilization_bp": 0}, token=prov["token"])
    pr = error_problems(r, 409, "conflict")
    c.check(not pr, "heartbeat on a retired pool: %s" % "; ".join(pr))
    r = e.c.delete(path, token=prov["token"])
    c.check(r.status in (200, 409), "DELETE twice: %s" % r.short())
    c.check(not snapshot_diff(before, snapshot()), "requests on a retired pool changed the database")
    c.done()


def test_heartbeat_sets_health():
    e = env()
    c = Collector()
    prov = e.account("provider")
    p = e.pool(prov["token"], e.region(), gpu_count=16, gpus_per_node=8)
    path = "/v1/pools/%d/heartbeat" % p["id"]
    for healthy, state in [(16, "healthy"), (10, "degraded"), (0, "down"), (16, "healthy")]:
        t0 = utcnow().replace(microsecond=0)
        r = e.c.post(path, {"healthy_gpus": healthy, "utilization_bp": 2500}, token=prov["token"])
        if not c.check(r.status == 200, "heartbeat %d: %s" % (healthy, r.short())):
            continue
        h = r.json.get("health", {})
        c.check(h.get("state") == state and h.get("healthy_gpus") == healthy and h.get("utilization_bp") == 2500,
                "heartbeat %d/16: health %s, expected %s" % (healthy, h, state))
        at = h.get("last_heartbeat_at")
        c.check(at and abs((parse_ts(at) - t0).total_seconds()) <= 5, "last_heartbeat_at %r, now %s" % (at, t0))
    before = snapshot()
    for body, name, field in [({"healthy_gpus": 17, "utilization_bp": 0}, "invalid_value", "healthy_gpus"),
                              ({"healthy_gpus": -1, "utilization_bp": 0}, "invalid_value", "healthy_gpus"),
                              ({"healthy_gpus": 1, "utilization_bp": 10001}, "invalid_value", "utilization_bp"),
                              ({"healthy_gpus": 1}, "missing_field", "utilization_bp"),
                              ({"healthy_gpus": "1", "utilization_bp": 0}, "wrong_type", "healthy_gpus")]:
        r = e.c.post(path, body, token=prov["token"])
        pr = error_problems(r, 400, name, field)
        d = snapshot_diff(before, snapshot())
        if d:
            pr.append("database changed: %s" % d)
        c.check(not pr, "heartbeat %s: %s" % (body, "; ".join(pr)))
    # shrinking the pool below its healthy GPUs must not break (no 500): refused or clamped
    r = e.c.patch("/v1/pools/%d" % p["id"], {"gpu_count": 8}, token=prov["token"])
    if r.status == 200:
        hg = r.json["health"]["healthy_gpus"]
        c.check(hg is None or hg <= 8, "gpu_count 8 but healthy_gpus %r" % hg)
    else:
        c.check(r.status in (400, 409) and r.err() in ("invalid_value", "conflict"),
                "PATCH gpu_count below healthy_gpus: %s" % r.short())
    c.done()


def _ids(r):
    return {x["id"] for x in r.json["items"]} if r.status == 200 else ("error", r.short())


def test_list_filters():
    e = env()
    c = Collector()
    acc = e.accelerators()
    P, Q = e.account("provider"), e.account("provider")
    R1, R2 = e.region(), e.region()
    by_model = {(a["model"], a["variant"]): a["id"] for a in acc.values()}
    a100 = by_model.get(("A100-80GB", "SXM"), "H100-SXM")
    l40s = by_model.get(("L40S", "PCIe"), "H100-SXM")
    unr = "K80" if "K80" in acc else next(i for i, a in acc.items() if a["rating"] == "unrated")
    p1 = e.pool(P["token"], R1, accelerator="H100-SXM")
    p2 = e.pool(P["token"], R1, accelerator=a100)
    p3 = e.pool(P["token"], R1, accelerator=l40s, intra_node="pcie")
    p4 = e.pool(P["token"], R2, accelerator=unr)
    p5 = e.pool(P["token"], R2, accelerator="H100-SXM")
    q1 = e.pool(Q["token"], R1, accelerator="H100-SXM")
    check(e.c.patch("/v1/pools/%d" % p5["id"], {"status": "draining"}, token=P["token"]).status == 200,
          "PATCH draining")
    pools = {p["id"]: p for p in (p1, p2, p3, p4, p5, q1)}
    r1 = {p1["id"], p2["id"], p3["id"], q1["id"]}
    mid_ncu = Decimal(acc[a100]["ncu"] or "0.5") + Decimal("0.001")
    want_ncu = {i for i in r1 if pools[i]["ncu_per_gpu"] is not None and Decimal(pools[i]["ncu_per_gpu"]) >= mid_ncu}
    cases = [
        ("region=" + R1, r1),
        ("region=" + R2, {p4["id"], p5["id"]}),
        ("region=%s&accelerator=H100-SXM" % R1, {p1["id"], q1["id"]}),
        ("region=%s&min_memory_gb=80" % R1, {i for i in r1 if pools[i]["memory_gb"] >= 80}),
        ("region=%s&min_memory_gb=49" % R1, {i for i in r1 if pools[i]["memory_gb"] >= 49}),
        ("region=%s&min_ncu=%s" % (R1, mid_ncu), want_ncu),
        ("region=%s&min_ncu=0.001" % R2, {p5["id"]}),
        ("region=%s&status=draining" % R2, {p5["id"]}),
        ("region=%s&status=active" % R2, {p4["id"]}),
        ("region=%s&owner=%d" % (R1, Q["id"]), {q1["id"]}),
        ("region=%s&owner=%d&accelerator=H100-SXM" % (R1, P["id"]), {p1["id"]}),
    ]
    for q, want in cases:
        r = e.c.get("/v1/pools?" + q, token=e.admin)
        c.check(_ids(r) == want, "admin GET /v1/pools?%s: got %s, expected %s" % (q, _ids(r), want))
    # a provider lists only its own pools
    r = e.c.get("/v1/pools?region=" + R1, token=P["token"])
    c.check(_ids(r) == {p1["id"], p2["id"], p3["id"]}, "provider lists region: %s" % (_ids(r),))
    items, _ = e.walk("/v1/pools", P["token"], 100)
    c.check(all(x["owner_id"] == P["id"] for x in items), "provider's list has others' pools")
    # a tenant lists only active pools, without adapter
    r = e.c.get("/v1/pools?region=" + R2, token=e.account("tenant")["token"])
    c.check(_ids(r) == {p4["id"]}, "tenant lists R2: %s, expected only the active pool" % (_ids(r),))
    if r.status == 200:
        c.check(all("adapter" not in x for x in r.json["items"]), "tenant list shows adapter")
    for st in ("draining", "retired", "offline"):
        r = e.c.get("/v1/pools?status=%s&region=%s" % (st, R2), token=e.account("tenant")["token"])
        c.check(r.status in (200, 400) and (r.status == 400 or r.json["items"] == []),
                "tenant lists ?status=%s: %s (tenants see active pools only)" % (st, r.short()))
    for q in ("min_ncu=abc", "min_ncu=-1", "min_memory_gb=-1", "min_memory_gb=1.5", "status=sleeping",
              "owner=abc", "owner=-3", "after=abc", "limit=0", "shape=round"):
        r = e.c.get("/v1/pools?" + q, token=e.admin)
        pr = error_problems(r, 400, "bad_query_parameter")
        c.check(not pr, "GET /v1/pools?%s: %s" % (q, "; ".join(pr)))
    c.done()


def test_pagination_walk():
    e = env()
    c = Collector()
    P = e.account("provider")
    R = e.region()
    made = {e.pool(P["token"], R)["id"] for _ in range(15)}
    for who, tok in (("admin", e.admin), ("provider", P["token"])):
        items, pages = e.walk("/v1/pools?region=" + R, tok, 4)
        ids = [x["id"] for x in items]
        c.check(len(ids) == len(set(ids)), "%s: duplicates across pages: %s" % (who, ids))
        c.check(set(ids) == made, "%s: walk found %d of 15 (missing %s, extra %s)"
                % (who, len(set(ids) & made), sorted(made - set(ids)), sorted(set(ids) - made)))
        c.check(pages == 4, "%s: %d pages of limit 4 for 15 pools" % (who, pages))
    c.done()


def test_adapter_config_validation():
    e = env()
    c = Collector()
    P = e.account("provider")
    R = e.region()
    cases = [
        ({"kind": "slurm", "config": {}}, "missing_field", "adapter.config.partition"),
        ({"kind": "slurm", "config": {"partition": 5}}, "wrong_type", "adapter.config.partition"),
        ({"kind": "slurm", "config": {"partition": "gpu", "qos": "x"}}, "unknown_field", "adapter.config.qos"),
        ({"kind": "webhook", "config": {"url": "ftp://example.com/x"}}, "invalid_value", "adapter.config.url"),
        ({"kind": "webhook", "config": {"url": "example.com"}}, "invalid_value", "adapter.config.url"),
        ({"kind": "webhook", "config": {}}, "missing_field", "adapter.config.url"),
        ({"kind": "webhook", "config": {"url": "https://example.com", "timeout_ms": -1}}, "invalid_value",
         "adapter.config.timeout_ms"),
        ({"kind": "sim", "config": {"fail_rate_bp": 10001}}, "invalid_value", "adapter.config.fail_rate_bp"),
        ({"kind": "sim", "config": {"drop_rate_bp": -1}}, "invalid_value", "adapter.config.drop_rate_bp"),
        ({"kind": "sim", "config": {"delay_ms": "1"}}, "wrong_type", "adapter.config.delay_ms"),
        ({"kind": "sim", "config": {"bogus": 1}}, "unknown_field", "adapter.config.bogus"),
        ({"kind": "sim", "config": "x"}, "wrong_type", "adapter.config"),
        ({"kind": "k8s", "config": {}}, "invalid_value", "adapter.kind"),
        ({"config": {}}, "missing_field", "adapter.kind"),
        ({"kind": "sim", "config": {}, "extra": 1}, "unknown_field", "adapter.extra"),
        ("sim", "wrong_type", "adapter"),
    ]
    before = snapshot()
    for adapter, name, field in cases:
        r = e.c.post("/v1/pools", e.pool_body(R, adapter=adapter), token=P["token"])
        pr = error_problems(r, 400, name, field)
        d = snapshot_diff(before, snapshot())
        if d:
            pr.append("database changed: %s" % d)
            before = snapshot()
        c.check(not pr, "adapter %s: %s" % (adapter, "; ".join(pr)))
    c.done()


def test_visibility():
    e = env()
    c = Collector()
    P, Q, T = e.account("provider"), e.account("provider"), e.account("tenant")
    R1, R2 = e.region(), e.region()
    op = e.account("operator", regions=[R1])
    x = e.pool(P["token"], R1, adapter={"kind": "webhook", "config": {"url": "https://127.0.0.1:9/secret-hook"}})
    y = e.pool(P["token"], R1)
    z = e.pool(P["token"], R2)
    check(e.c.patch("/v1/pools/%d" % y["id"], {"status": "draining"}, token=P["token"]).status == 200, "draining")
    full = e.c.get("/v1/pools/%d" % x["id"], token=e.admin)
    c.check(full.status == 200 and "adapter" in full.json, "admin GET has no adapter: %s" % full.short())
    view = dict(full.json)
    view.pop("adapter", None)
    for who, tok in (("tenant", T["token"]), ("operator", op["token"])):
        r = e.c.get("/v1/pools/%d" % x["id"], token=tok)
        c.check(r.status == 200 and r.json == view, "%s GET pool: %s (expected admin's view without adapter)"
                % (who, r.short()))
        c.check(b"secret-hook" not in r.raw, "%s sees the adapter url" % who)
    r = e.c.get("/v1/pools/%d" % y["id"], token=T["token"])
    pr = error_problems(r, 404, "not_found")
    c.check(not pr, "tenant GET a draining pool: %s" % "; ".join(pr))
    r = e.c.get("/v1/pools/%d" % y["id"], token=op["token"])
    c.check(r.status == 200, "operator GET a draining pool in its region: %s" % r.short())
    r = e.c.get("/v1/pools/%d" % z["id"], token=op["token"])
    pr = error_problems(r, 404, "not_found")
    c.check(not pr, "operator GET a pool outside its regions: %s" % "; ".join(pr))
    items, _ = e.walk("/v1/pools", op["token"], 100)
    c.check(items and all(i["region"] == R1 for i in items), "operator list has other regions: %s"
            % sorted({i["region"] for i in items}))
    c.check(all("adapter" not in i for i in items), "operator list shows adapter")
    r = e.c.get("/v1/pools?region=" + R2, token=op["token"])
    c.check(r.status == 200 and r.json["items"] == [], "operator ?region=<other>: %s" % r.short())
    # the other provider: 404 for everything, nothing changes
    before = snapshot()
    pid = x["id"]
    for method, path, body in [("GET", "/v1/pools/%d" % pid, None),
                               ("PATCH", "/v1/pools/%d" % pid, {"name": "mine now"}),
                               ("DELETE", "/v1/pools/%d" % pid, None),
                               ("POST", "/v1/pools/%d/heartbeat" % pid, {"healthy_gpus": 0, "utilization_bp": 0})]:
        r = e.c.req(method, path, body=body, token=Q["token"])
        pr = error_problems(r, 404, "not_found")
        c.check(not pr, "other provider %s %s: %s" % (method, path, "; ".join(pr)))
    lst = e.c.get("/v1/pools?region=" + R1, token=Q["token"])
    c.check(lst.status == 200 and lst.json["items"] == [], "other provider lists P's pools: %s" % lst.short())
    c.check(not snapshot_diff(before, snapshot()), "the other provider changed the database")
    c.done()
