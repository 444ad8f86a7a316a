"""The open accelerator registry (issue 13): a provider proposes a model the catalog lacks, an
admin approves it (it joins the catalog, rated by the capacity formula like the rest) or
rejects it with a reason; families and aliases ("H100" = every H100 variant) in order specs,
quotes, offers and pool listings; and bad input of every kind, each a clear 4xx that changes
nothing.

Every test makes its own regions, providers and pools (named with the run's tag) and restricts
its orders to them, so other tests' pools never take part.
"""
import csv
import os

from harness import (ROOT, RUN, Collector, check, env, error_problems, expect_status, hour, uniq)
from market_util import Market, book_quiet, minor, stable_snapshot

snapshot = stable_snapshot

PROPOSAL_KEYS = {"id", "state", "proposer_id", "accelerator", "model", "variant", "vendor", "family",
                 "memory_gb", "memory_type", "mem_bandwidth_gbps", "fp16_dense_tflops", "bf16_dense_tflops",
                 "fp32_tflops", "interconnect", "interconnect_gbps", "source_url", "notes", "aliases",
                 "reason", "decided_by", "decided_at", "created_at"}


def _diff(before, after):
    return sorted(t for t in set(before) | set(after) if before.get(t) != after.get(t))


def _refused(r, status, name, field, before):
    """The problems of reply r as a refusal (status, error name, field), and "database
    changed" when the tables differ from before[0] (which then moves on)."""
    p = error_problems(r, status, name, field)
    d = _diff(before[0], snapshot())
    if d:
        p.append("database changed: %s" % d)
        before[0] = snapshot()
    return p


def _proposal(**over):
    """A proposal body of a model no catalog has (an id unique to this run)."""
    b = {"accelerator": uniq("H20").replace("-", "_"), "model": "H20", "variant": uniq("v"),
         "vendor": "NVIDIA", "memory_gb": 96, "memory_type": "HBM3", "mem_bandwidth_gbps": 4000,
         "fp16_dense_tflops": "148", "bf16_dense_tflops": 148, "interconnect": "NVLink",
         "interconnect_gbps": 450, "source_url": "https://example.org/h20-datasheet.pdf",
         "notes": "e2e"}
    b.update(over)
    return b


def _formula_ncu(a, f, ref):
    """The documented score (src/core/capacity.h) as a 3-decimal string, or None."""
    t = a["bf16_dense_tflops"] if a["bf16_dense_tflops"] is not None else a["fp16_dense_tflops"]
    if t is None:
        return None
    tr = float(t) / float(ref["bf16_dense_tflops"] or ref["fp16_dense_tflops"])
    if a["mem_bandwidth_gbps"] is None:
        s = tr
    else:
        br = float(a["mem_bandwidth_gbps"]) / float(ref["mem_bandwidth_gbps"])
        s = (f["compute_weight_bp"] * tr + f["memory_weight_bp"] * br) / (f["compute_weight_bp"] + f["memory_weight_bp"])
    m = int(s * 1000.0 + 0.5)
    return "%d.%03d" % (m // 1000, m % 1000)


def test_propose_approve_register_quote_trade():
    e = env()
    mk = Market(e)
    c = Collector()
    prov = e.account("provider")
    body = _proposal(aliases=["H20-" + RUN])
    mid = body["accelerator"]
    # an unknown model cannot be registered yet
    reg = e.region()
    r = e.c.post("/v1/pools", e.pool_body(reg, accelerator=mid), token=prov["token"])
    c.check(not error_problems(r, 422, "unknown_reference", "accelerator"), "pool of an unproposed model: %s" % r.short())
    r = e.c.post("/v1/accelerator-proposals", body, token=prov["token"])
    check(r.status == 201, "propose: %s" % r.short())
    p = r.json
    c.check(set(p) == PROPOSAL_KEYS, "proposal keys: extra %s missing %s" % (sorted(set(p) - PROPOSAL_KEYS),
                                                                          sorted(PROPOSAL_KEYS - set(p))))
    c.check(p["state"] == "pending" and p["proposer_id"] == prov["id"] and p["accelerator"] == mid
            and p["decided_at"] is None and p["aliases"] == ["H20-" + RUN],
            "new proposal: %s" % p)
    c.check(float(p["fp16_dense_tflops"]) == 148.0 and float(p["mem_bandwidth_gbps"]) == 4000.0,
            "figures as proposed: %s / %s" % (p["fp16_dense_tflops"], p["mem_bandwidth_gbps"]))
    # still not in the catalog while pending
    r = e.c.get("/v1/accelerators/" + mid, token=e.admin)
    c.check(r.status == 404, "pending model listed: %s" % r.short())
    # the proposer and the admin see it; the list has it
    for tok in (prov["token"], e.admin):
        r = e.c.get("/v1/accelerator-proposals/%d" % p["id"], token=tok)
        c.check(r.status == 200 and r.json == p, "GET proposal: %s" % r.short())
    r = e.c.get("/v1/accelerator-proposals?state=pending&limit=500", token=prov["token"])
    c.check(r.status == 200 and any(x["id"] == p["id"] for x in r.json["items"]), "list pending: %s" % r.short())
    # the admin approves: the model joins the catalog, rated by the formula
    r = e.c.post("/v1/accelerator-proposals/%d/approve" % p["id"], {}, token=e.admin)
    check(r.status == 200, "approve: %s" % r.short())
    c.check(r.json["proposal"]["state"] == "approved" and r.json["proposal"]["decided_by"] == e.admin_id,
            "approved proposal: %s" % r.json["proposal"])
    acc = r.json["accelerator"]
    lst = e.c.get("/v1/accelerators", token=prov["token"]).json
    by_id = {a["id"]: a for a in lst["items"]}
    a = by_id.get(mid)
    if c.check(a is not None, "approved model %s not in GET /v1/accelerators" % mid):
        c.check(a == acc, "list entry differs from the approve reply:\n %s\n %s" % (a, acc))
        ref = by_id[lst["formula"]["reference"]]
        c.check(a["rating"] == "rated" and a["ncu"] == _formula_ncu(a, lst["formula"], ref),
                "score %s %s, formula gives %s" % (a["rating"], a["ncu"], _formula_ncu(a, lst["formula"], ref)))
        c.check(a["origin"] == "registry" and a["source"] == body["source_url"] and a["family"] == "H20"
                and a["memory_gb"] == 96, "catalog entry: %s" % a)
        c.check({"H20", "H20-" + RUN} <= set(a["aliases"]), "aliases of the approved model: %s" % a["aliases"])
    # approving twice is a conflict
    r = e.c.post("/v1/accelerator-proposals/%d/approve" % p["id"], {}, token=e.admin)
    c.check(not error_problems(r, 409, "conflict", "id"), "second approve: %s" % r.short())
    # a pool of it is registered, quoted (by id and by its alias) and traded
    pool = e.pool(prov["token"], reg, accelerator=mid, price_per_gpu_hour="1.50", gpu_count=8, gpus_per_node=8)
    c.check(pool["accelerator"] == mid and pool["ncu_per_gpu"] == (a or {}).get("ncu"), "pool: %s" % pool)
    t = e.account("tenant")
    mk.deposit(t["id"], "100.00")
    for name in (mid, "H20-" + RUN, "h20"):
        order = {"gpus": 8, "duration_hours": 2, "earliest_start": hour(2), "regions": [reg],
                 "spec": {"accelerators": [name]}}
        q = mk.quote(t["token"], order, full=False)
        c.check(q["filled"] and [x["pool_id"] for x in q["placements"]] == [pool["id"]],
                "quote with %r: %s" % (name, q))
    r = mk.order(t["token"], order, headers={"Idempotency-Key": uniq("k")})
    check(r.status == 201, "order: %s" % r.short())
    c.check(r.json["state"] == "filled" and len(r.json["trades"]) == 1
            and r.json["trades"][0]["accelerator"] == mid and r.json["trades"][0]["total"] == "24.00",
            "order: %s" % r.json)
    # the process's book agrees with a fresh one (new model and names loaded)
    r = e.c.get("/v1/market/book?verify=true", token=e.admin)
    c.check(r.status == 200 and r.json.get("agrees") is True, "book verify: %s" % r.short())
    c.done()


def test_reject_withdraw_and_other_peoples_proposals():
    e = env()
    c = Collector()
    a, b = e.account("provider"), e.account("provider")
    ten = e.account("tenant")
    p1 = expect_status(e.c.post("/v1/accelerator-proposals", _proposal(), token=a["token"]), 201)
    p2 = expect_status(e.c.post("/v1/accelerator-proposals", _proposal(), token=a["token"]), 201)
    before = snapshot()
    # someone else's proposal does not exist for them; roles that may not use the routes
    cases = [
        ("GET", "/v1/accelerator-proposals/%d" % p1["id"], None, b["token"], 404, "not_found"),
        ("DELETE", "/v1/accelerator-proposals/%d" % p1["id"], None, b["token"], 404, "not_found"),
        ("POST", "/v1/accelerator-proposals/%d/approve" % p1["id"], {}, a["token"], 403, "forbidden"),
        ("POST", "/v1/accelerator-proposals/%d/reject" % p1["id"], {"reason": "x"}, b["token"], 403, "forbidden"),
        ("POST", "/v1/accelerator-proposals", _proposal(), ten["token"], 403, "forbidden"),
        ("POST", "/v1/accelerator-proposals", _proposal(), e.admin, 403, "forbidden"),
        ("GET", "/v1/accelerator-proposals", None, ten["token"], 403, "forbidden"),
    ]
    for method, path, body, tok, status, name in cases:
        r = e.c.req(method, path, body, token=tok)
        c.check(not error_problems(r, status, name), "%s %s: %s" % (method, path, r.short()))
    r = e.c.get("/v1/accelerator-proposals?limit=500", token=b["token"])
    c.check(r.status == 200 and not any(x["proposer_id"] != b["id"] for x in r.json["items"]),
            "a provider lists only its own proposals: %s" % r.short())
    c.check(not _diff(before, snapshot()), "refused requests changed %s" % _diff(before, snapshot()))
    # reject needs a reason; then the decision is final
    r = e.c.post("/v1/accelerator-proposals/%d/reject" % p1["id"], {}, token=e.admin)
    c.check(not error_problems(r, 400, "missing_field", "reason"), "reject without reason: %s" % r.short())
    r = e.c.post("/v1/accelerator-proposals/%d/reject" % p1["id"], {"reason": "no public source for the figures"},
                 token=e.admin)
    c.check(r.status == 200 and r.json["state"] == "rejected" and r.json["reason"] == "no public source for the figures",
            "reject: %s" % r.short())
    for path, body in (("/approve", {}), ("/reject", {"reason": "again"})):
        r = e.c.post("/v1/accelerator-proposals/%d%s" % (p1["id"], path), body, token=e.admin)
        c.check(not error_problems(r, 409, "conflict", "id") and "rejected" in (r.json or {}).get("detail", ""),
                "%s a rejected proposal: %s" % (path, r.short()))
    r = e.c.get("/v1/accelerators/" + p1["accelerator"], token=e.admin)
    c.check(r.status == 404, "a rejected model is in the catalog: %s" % r.short())
    # the proposer withdraws the other one; the same id may then be proposed again
    r = e.c.delete("/v1/accelerator-proposals/%d" % p2["id"], token=a["token"])
    c.check(r.status == 200 and r.json["state"] == "withdrawn", "withdraw: %s" % r.short())
    r = e.c.delete("/v1/accelerator-proposals/%d" % p2["id"], token=a["token"])
    c.check(not error_problems(r, 409, "conflict", "id"), "withdraw twice: %s" % r.short())
    again = dict(_proposal(), accelerator=p2["accelerator"])
    r = e.c.post("/v1/accelerator-proposals", again, token=b["token"])
    c.check(r.status == 201, "propose a withdrawn id again: %s" % r.short())
    r2 = e.c.post("/v1/accelerator-proposals", dict(again, variant=uniq("v")), token=a["token"])
    c.check(not error_problems(r2, 409, "already_exists", "accelerator"), "a second pending proposal of one id: %s"
            % r2.short())
    c.done()


def test_bad_proposals_change_nothing():
    e = env()
    c = Collector()
    prov = e.account("provider")
    good = _proposal()
    pend = expect_status(e.c.post("/v1/accelerator-proposals", _proposal(), token=prov["token"]), 201)
    cases = [
        ({k: v for k, v in good.items() if k != "accelerator"}, 400, "missing_field", "accelerator"),
        ({k: v for k, v in good.items() if k != "source_url"}, 400, "missing_field", "source_url"),
        ({k: v for k, v in good.items() if k != "vendor"}, 400, "missing_field", "vendor"),
        (dict(good, accelerator=7), 400, "wrong_type", "accelerator"),
        (dict(good, memory_gb="96"), 400, "wrong_type", "memory_gb"),
        (dict(good, memory_gb=96.5), 400, "wrong_type", "memory_gb"),
        (dict(good, memory_gb=-1), 400, "invalid_value", "memory_gb"),
        (dict(good, memory_gb=0), 400, "invalid_value", "memory_gb"),
        (dict(good, bf16_dense_tflops=-148), 400, "invalid_value", "bf16_dense_tflops"),
        (dict(good, mem_bandwidth_gbps=0), 400, "invalid_value", "mem_bandwidth_gbps"),
        (dict(good, fp32_tflops="lots"), 400, "invalid_value", "fp32_tflops"),
        (dict(good, interconnect_gbps=True), 400, "wrong_type", "interconnect_gbps"),
        (dict(good, fp16_dense_tflops=1e300), 400, "invalid_value", "fp16_dense_tflops"),
        (dict(good, accelerator="bad id!"), 400, "invalid_value", "accelerator"),
        (dict(good, accelerator="-lead"), 400, "invalid_value", "accelerator"),
        (dict(good, accelerator="x" * 65), 400, "invalid_value", "accelerator"),
        (dict(good, source_url="ftp://example.org/x"), 400, "invalid_value", "source_url"),
        (dict(good, source_url="https://exa mple.org"), 400, "invalid_value", "source_url"),
        (dict(good, aliases="H20"), 400, "wrong_type", "aliases"),
        (dict(good, aliases=[7]), 400, "wrong_type", "aliases[0]"),
        (dict(good, aliases=["ok", "no/slash"]), 400, "invalid_value", "aliases[1]"),
        (dict(good, aliases=["no space"]), 400, "invalid_value", "aliases[0]"),
        (dict(good, gamma=1), 400, "unknown_field", "gamma"),
        (dict(good, accelerator="H100-SXM"), 409, "already_exists", "accelerator"),
        (dict(good, accelerator="h100-sxm"), 409, "already_exists", "accelerator"),
        (dict(good, accelerator="H100"), 409, "already_exists", "accelerator"),  # a family name
        (dict(good, accelerator=pend["accelerator"]), 409, "already_exists", "accelerator"),
    ]
    before = [snapshot()]
    for body, status, name, field in cases:
        r = e.c.post("/v1/accelerator-proposals", body, token=prov["token"])
        p = _refused(r, status, name, field, before)
        c.check(not p, "POST proposal %s: %s" % ({k: body.get(k) for k in body if body.get(k) != good.get(k)},
                                                 "; ".join(p)))
    # decisions on unknown or malformed ids, and bad bodies
    for method, path, body, status, name in [
        ("POST", "/v1/accelerator-proposals/999999999/approve", {}, 404, "not_found"),
        ("POST", "/v1/accelerator-proposals/999999999/reject", {"reason": "x"}, 404, "not_found"),
        ("GET", "/v1/accelerator-proposals/999999999", None, 404, "not_found"),
        ("POST", "/v1/accelerator-proposals/abc/approve", {}, 400, "bad_path_id"),
        ("POST", "/v1/accelerator-proposals/%d/approve" % pend["id"], {"force": True}, 400, "unknown_field"),
        ("POST", "/v1/accelerator-proposals/%d/reject" % pend["id"], {"reason": 5}, 400, "wrong_type"),
        ("POST", "/v1/accelerator-proposals/%d/reject" % pend["id"], {"reason": ""}, 400, "invalid_value"),
        ("GET", "/v1/accelerator-proposals?state=maybe", None, 400, "bad_query_parameter"),
    ]:
        r = e.c.req(method, path, body, token=e.admin)
        p = _refused(r, status, name, None, before)
        c.check(not p, "%s %s %s: %s" % (method, path, body, "; ".join(p)))
    c.done()


def test_alias_in_order_spec_matches_every_variant():
    e = env()
    mk = Market(e)
    c = Collector()
    prov = e.account("provider")
    reg = e.region()
    pools = {}
    for mid, price in (("H100-SXM", "3.00"), ("H100-PCIe", "2.50"), ("H100-NVL", "2.75"), ("A100-80GB-SXM", "1.00")):
        pools[mid] = e.pool(prov["token"], reg, accelerator=mid, price_per_gpu_hour=price, gpu_count=8,
                            gpus_per_node=8)
    h100 = {pools[m]["id"] for m in ("H100-SXM", "H100-PCIe", "H100-NVL")}
    r = e.c.get("/v1/accelerator-aliases", token=e.admin)
    check(r.status == 200, "aliases: %s" % r.short())
    names = {x["alias"]: x["accelerators"] for x in r.json["items"]}
    c.check(set(names.get("H100", [])) >= {"H100-SXM", "H100-PCIe", "H100-NVL"}, "alias H100: %s" % names.get("H100"))
    c.check(set(names.get("A100", [])) >= {"A100-80GB-SXM", "A100-80GB-PCIe", "A100-40GB-SXM4", "A100-40GB-PCIe"},
            "family A100: %s" % names.get("A100"))
    t = e.account("tenant")
    for spec, want in ((["H100"], h100), (["h100"], h100), (["H100-PCIe"], {pools["H100-PCIe"]["id"]}),
                       (["A100"], {pools["A100-80GB-SXM"]["id"]}),
                       (["H100", "A100-80GB"], set(p["id"] for p in pools.values()))):
        body = {"gpus": 8, "duration_hours": 1, "earliest_start": hour(3), "regions": [reg],
                "spec": {"accelerators": spec}}
        q = mk.quote(t["token"], body, full=False, limit=20)
        got = {x["pool_id"] for x in q["ranked"]}
        c.check(got == want, "spec %s ranked pools %s, expected %s" % (spec, sorted(got), sorted(want)))
    # the cheapest H100 of any variant is chosen for ["H100"]
    body = {"gpus": 8, "duration_hours": 1, "earliest_start": hour(3), "regions": [reg], "spec": {"accelerators": ["H100"]}}
    q = mk.quote(t["token"], body, full=False)
    c.check([x["pool_id"] for x in q["placements"]] == [pools["H100-PCIe"]["id"]], "H100 placement: %s" % q["placements"])
    # offers and pool listings take a family too
    r = e.c.get("/v1/offers?accelerator=H100&region=%s&limit=50" % reg, token=t["token"])
    c.check(r.status == 200 and {x["pool_id"] for x in r.json["items"]} == h100, "offers accelerator=H100: %s" % r.short())
    r = e.c.get("/v1/pools?accelerator=H100&region=%s" % reg, token=prov["token"])
    c.check(r.status == 200 and {x["id"] for x in r.json["items"]} == h100, "pools accelerator=H100: %s" % r.short())
    # an unknown name is refused, naming the field
    body["spec"] = {"accelerators": ["H100", "H999"]}
    r = e.c.post("/v1/quotes", body, token=t["token"])
    c.check(not error_problems(r, 422, "unknown_reference", "spec.accelerators"), "unknown name: %s" % r.short())
    c.done()


def test_resting_order_by_family_filled_by_a_new_variant():
    e = env()
    mk = Market(e)
    c = Collector()
    prov = e.account("provider")
    reg = e.region()
    t = e.account("tenant")
    mk.deposit(t["id"], "100.00")
    body = {"gpus": 4, "duration_hours": 1, "earliest_start": hour(4), "regions": [reg],
            "spec": {"accelerators": ["V100"]}, "time_in_force": "good_till", "expires_at": hour(3)}
    r = mk.order(t["token"], body, headers={"Idempotency-Key": uniq("k")})
    check(r.status == 201 and r.json["state"] == "open", "resting order: %s" % r.short())
    oid = r.json["id"]
    pool = e.pool(prov["token"], reg, accelerator="V100-16GB-SXM2", price_per_gpu_hour="0.90", gpu_count=8,
                  gpus_per_node=8, intra_node="nvlink", inter_node="ethernet", inter_node_gbps=100)
    o = mk.wait_order(oid, t["token"], timeout=15)
    c.check(o["state"] == "filled" and o["trades"] and o["trades"][0]["pool_id"] == pool["id"],
            "the V100 order after a V100-16GB pool appeared: %s" % o)
    check(book_quiet(), "book worker busy")
    c.done()


def test_catalog_has_every_shipped_model_with_right_memory():
    """data/accelerators*.csv reach the catalog: non-NVIDIA accelerators included, and the 16 GB
    V100 apart from the 32 GB one."""
    e = env()
    c = Collector()
    items = {a["id"]: a for a in e.c.get("/v1/accelerators", token=e.admin).json["items"]}
    with open(os.path.join(ROOT, "data", "accelerators_extra.csv"), newline="", encoding="utf-8") as f:
        extra = list(csv.DictReader(f))
    # data/accelerator_figures.csv fills cells the rows leave empty, each with its source
    with open(os.path.join(ROOT, "data", "accelerator_figures.csv"), newline="", encoding="utf-8") as f:
        filled = {r["accelerator_id"]: int(float(r["value"])) for r in csv.DictReader(f) if r["field"] == "memory_gb"}
    for row in extra:
        mid = "-".join((row["accelerator"] + ("-" + row["variant"] if row["variant"] else "")).split())
        a = items.get(mid)
        if c.check(a is not None, "%s (data/accelerators_extra.csv) not in the catalog" % mid):
            want = int(row["memory_gb"]) if row["memory_gb"] else filled.get(mid)
            c.check(a["memory_gb"] == want and a["vendor"] == row["vendor"] and a["family"] == row["family"],
                    "%s: memory %s vendor %s family %s" % (mid, a["memory_gb"], a["vendor"], a["family"]))
    for mid, mem in (("V100-16GB-SXM2", 16), ("V100-SXM2", 32), ("L40-PCIe", 48), ("GH200", 96), ("B300-SXM", 288)):
        c.check(items.get(mid, {}).get("memory_gb") == mem, "%s memory %s, expected %s" % (mid, items.get(mid, {}).get("memory_gb"), mem))
    vendors = {a["vendor"] for a in items.values()}
    c.check({"NVIDIA", "AMD", "Intel", "AWS", "Google", "Huawei", "Qualcomm"} <= vendors, "vendors %s" % sorted(vendors))
    rated = [m for m in ("A40-PCIe", "RTX-A6000", "V100-16GB-SXM2") if items.get(m, {}).get("rating") == "rated"]
    c.check(len(rated) == 3, "newly catalogued models with published figures rated: %s" % rated)
    c.done()
