"""The accelerator catalog and the normalized-capacity formula (the measurement standard)."""
import csv
import math
import os

from harness import ROOT, Collector, Skip, check, env, error_problems, snapshot, snapshot_diff

ACCEL_KEYS = {"id", "model", "variant", "vendor", "memory_gb", "memory_type", "mem_bandwidth_gbps",
              "fp16_dense_tflops", "bf16_dense_tflops", "fp32_tflops", "interconnect",
              "interconnect_gbps", "source", "notes", "ncu", "rating", "missing", "family", "origin",
              "aliases"}
FORMULA_KEYS = {"formula", "compute_weight_bp", "memory_weight_bp", "reference", "reference_tflops",
                "reference_bandwidth_gbps", "version", "updated_at"}
NUMERIC_FIGURES = ["memory_gb", "mem_bandwidth_gbps", "fp16_dense_tflops", "bf16_dense_tflops",
                   "fp32_tflops", "interconnect_gbps"]
TEXT_FIGURES = ["memory_type", "interconnect"]
CSV_PATH = next((p for p in (os.path.join(ROOT, "data", "accelerators.csv"),
                             os.path.join(os.path.dirname(ROOT), "shared", "data", "accelerators.csv"))
                 if os.path.exists(p)), "data/accelerators.csv")
# the models Suanli adds to the shared catalog (issue 13), same columns plus `family`
EXTRA_CSV_PATH = os.path.join(ROOT, "data", "accelerators_extra.csv")
# figures other sources give for cells those rows leave empty (one a line)
FIGURES_CSV_PATH = os.path.join(ROOT, "data", "accelerator_figures.csv")
# the models no source gives a dense FP16/BF16 figure for (data/SOURCES.md says why): unrated
UNRATED = {"K80", "M60", "GRID-K520", "Quadro-M4000",  # no FP16 arithmetic at all
           "A30-PCIe", "RTX-A4000", "RTX-A4500", "RTX-4000-Ada", "RTX-PRO-6000-Blackwell",
           "Radeon-Pro-V520", "Cloud-AI-100", "T4G"}


def _num(x):
    return None if x is None else float(x)


def _tflops(a):
    t = _num(a["bf16_dense_tflops"])
    return t if t is not None else _num(a["fp16_dense_tflops"])


def _milli_str(m):
    return "%d.%03d" % (m // 1000, m % 1000)


def expected(a, cw, mw, ref):
    """(rating, ncu string or None) by the documented formula (src/core/capacity.h)."""
    t = _tflops(a)
    if t is None:
        return "unrated", None
    tr = t / _tflops(ref)
    b = _num(a["mem_bandwidth_gbps"])
    if b is None:
        return "compute_only", _milli_str(int(math.floor(tr * 1000.0 + 0.5)))
    br = b / _num(ref["mem_bandwidth_gbps"])
    score = (float(cw) * tr + float(mw) * br) / float(cw + mw)
    return "rated", _milli_str(int(math.floor(score * 1000.0 + 0.5)))


def _list(e):
    r = e.c.get("/v1/accelerators", token=e.admin)
    check(r.status == 200, "GET /v1/accelerators: %s" % r.short())
    check(set(r.json) == {"items", "formula"}, "keys %s, expected items, formula" % sorted(r.json))
    return r.json


def _check_scores(c, lst, label):
    f = lst["formula"]
    by_id = {a["id"]: a for a in lst["items"]}
    ref = by_id.get(f["reference"])
    if not c.check(ref is not None, "%s: reference %r not in the list" % (label, f["reference"])):
        return
    c.check(_num(f["reference_tflops"]) == _tflops(ref) and
            _num(f["reference_bandwidth_gbps"]) == _num(ref["mem_bandwidth_gbps"]),
            "%s: formula reference figures %s/%s differ from %s's" % (label, f["reference_tflops"],
                                                                    f["reference_bandwidth_gbps"], ref["id"]))
    bad = []
    for a in lst["items"]:
        want = expected(a, f["compute_weight_bp"], f["memory_weight_bp"], ref)
        if (a["rating"], a["ncu"]) != want:
            bad.append("%s: got %s %s, expected %s %s" % (a["id"], a["rating"], a["ncu"], want[0], want[1]))
    c.check(not bad, "%s (weights %s/%s, ref %s): %d model(s) scored wrong:\n  %s"
            % (label, f["compute_weight_bp"], f["memory_weight_bp"], f["reference"], len(bad), "\n  ".join(bad)))


def test_catalog_shape_and_known_models():
    e = env()
    c = Collector()
    lst = _list(e)
    items = {a["id"]: a for a in lst["items"]}
    for a in lst["items"]:
        c.check(set(a) == ACCEL_KEYS, "%s keys: extra %s missing %s" % (a.get("id"), sorted(set(a) - ACCEL_KEYS),
                                                                        sorted(ACCEL_KEYS - set(a))))
        nulls = {k for k in NUMERIC_FIGURES + TEXT_FIGURES if a.get(k) is None}
        miss = set(a.get("missing") or [])
        c.check(miss <= nulls, "%s: missing %s names known figures" % (a.get("id"), sorted(miss - nulls)))
        c.check({k for k in NUMERIC_FIGURES if a.get(k) is None} <= miss,
                "%s: null figures %s not listed in missing %s" % (a.get("id"), sorted(nulls), sorted(miss)))
        if a.get("ncu") is not None:
            c.check(isinstance(a["ncu"], str) and len(a["ncu"].split(".")[-1]) == 3,
                    "%s: ncu %r is not a 3-decimal string" % (a.get("id"), a["ncu"]))
    h = items.get("H100-SXM")
    if c.check(h is not None, "no H100-SXM in the catalog (ids: %s)" % sorted(items)):
        c.check(h["ncu"] == "1.000" and h["rating"] == "rated" and h["missing"] == [],
                "H100-SXM: ncu %r rating %r missing %r" % (h["ncu"], h["rating"], h["missing"]))
    # every catalog model is scored from its sourced figures but those no source gives a
    # half-precision figure for (data/SOURCES.md, accelerator_figures.csv)
    unrated = {a["id"] for a in lst["items"] if a["origin"] == "catalog" and a["rating"] == "unrated"}
    c.check(unrated == UNRATED, "unrated catalog models: %s, documented: %s" % (sorted(unrated), sorted(UNRATED)))
    for mid in sorted(UNRATED & set(items)):
        a = items[mid]
        c.check(a["ncu"] is None and {"fp16_dense_tflops", "bf16_dense_tflops"} <= set(a["missing"]),
                "%s: %s %s missing %s" % (mid, a["rating"], a["ncu"], a["missing"]))
    a = items.get("H800-SXM")  # its figures come from accelerator_figures.csv (Epoch AI's data)
    if c.check(a is not None, "no H800-SXM in the catalog"):
        c.check(a["rating"] == "rated" and _num(a["bf16_dense_tflops"]) == 989 and _num(a["mem_bandwidth_gbps"]) == 3360
                and "accelerator_figures.csv" in a["notes"] and "ml_hardware.csv" in a["source"],
                "H800-SXM: %s" % {k: a[k] for k in ("rating", "ncu", "bf16_dense_tflops", "mem_bandwidth_gbps")})
    a = items.get("Ascend-910B")
    if c.check(a is not None, "no Ascend-910B in the catalog"):
        c.check(a["rating"] == "compute_only" and "mem_bandwidth_gbps" in a["missing"]
                and a["mem_bandwidth_gbps"] is None and a["ncu"] is not None,
                "Ascend-910B: %s %s missing %s" % (a["rating"], a["ncu"], a["missing"]))
    # formula endpoint agrees with the list's
    f = e.c.get("/v1/capacity/formula", token=e.admin)
    c.check(f.status == 200 and f.json == lst["formula"], "GET /v1/capacity/formula differs from the list's")
    c.check(set(lst["formula"]) == FORMULA_KEYS, "formula keys %s" % sorted(lst["formula"]))
    c.check(isinstance(lst["formula"].get("formula"), str) and "T_ref" in lst["formula"].get("formula", ""),
            "formula text %r" % lst["formula"].get("formula"))
    _check_scores(c, lst, "current weights")
    # one model by id
    for mid in list(items)[:40]:
        r = e.c.get("/v1/accelerators/" + mid, token=e.admin)
        c.check(r.status == 200 and r.json == items[mid], "GET /v1/accelerators/%s differs: %s" % (mid, r.short()))
    r = e.c.get("/v1/accelerators/NOPE-9000", token=e.admin)
    p = error_problems(r, 404, "not_found")
    c.check(not p, "unknown accelerator: %s" % "; ".join(p))
    c.done()


def test_catalog_matches_shared_csv():
    e = env()
    if not os.path.exists(CSV_PATH):
        raise Skip("no %s" % CSV_PATH)
    c = Collector()
    items = {(a["model"], a["variant"]): a for a in _list(e)["items"] if a["origin"] == "catalog"}
    rows = []
    for path in (CSV_PATH, EXTRA_CSV_PATH):
        if os.path.exists(path):
            with open(path, newline="", encoding="utf-8") as f:
                rows += list(csv.DictReader(f))
    with open(FIGURES_CSV_PATH, newline="", encoding="utf-8") as f:  # they fill empty cells only
        figures = {(x["accelerator_id"], x["field"]): x["value"] for x in csv.DictReader(f)}
    by_id = {a["id"]: (a["model"], a["variant"]) for a in items.values()}
    for (aid, field), value in figures.items():
        row = next((r for r in rows if (r["accelerator"], r["variant"]) == by_id.get(aid)), None)
        if c.check(row is not None and not row[field], "figure %s %s: the model's row %s" % (aid, field, row)):
            row[field] = value
    c.check(len(items) == len(rows), "catalog has %d models, the CSVs %d" % (len(items), len(rows)))
    for row in rows:
        a = items.get((row["accelerator"], row["variant"]))
        if not c.check(a is not None, "csv model %s/%s not in the catalog" % (row["accelerator"], row["variant"])):
            continue
        for k in NUMERIC_FIGURES:
            want = float(row[k]) if row[k] else None
            c.check(_num(a[k]) == want, "%s %s: %r, csv %r" % (a["id"], k, a[k], row[k]))
        for k in TEXT_FIGURES:
            c.check(a[k] == (row[k] or None), "%s %s: %r, csv %r" % (a["id"], k, a[k], row[k]))
        c.check(a["vendor"] == row["vendor"], "%s vendor %r" % (a["id"], a["vendor"]))
    c.done()


def _put(e, body):
    return e.c.put("/v1/capacity/weights", body, token=e.admin)


def test_weights_rescore_every_model():
    e = env()
    c = Collector()
    lst0 = _list(e)
    f0 = lst0["formula"]
    by_model = {(a["model"], a["variant"]): a for a in lst0["items"]}
    a100 = by_model.get(("A100-80GB", "SXM"))
    check(a100 is not None, "no A100-80GB SXM in the catalog")
    # a pool shows its accelerator's current score
    prov = e.account("provider")
    reg = e.region()
    pool = e.pool(prov["token"], reg, accelerator=a100["id"], price_per_gpu_hour="3.00")
    v = f0["version"]
    try:
        cw, mw = (7000, 3000) if (f0["compute_weight_bp"], f0["memory_weight_bp"]) != (7000, 3000) else (6000, 4000)
        r = _put(e, {"compute_weight_bp": cw, "memory_weight_bp": mw})
        check(r.status == 200, "PUT weights: %s" % r.short())
        c.check(set(r.json) == FORMULA_KEYS, "PUT weights reply keys %s" % sorted(r.json))
        c.check(r.json.get("compute_weight_bp") == cw and r.json.get("memory_weight_bp") == mw
                and r.json.get("reference") == f0["reference"] and r.json.get("version") == v + 1,
                "PUT weights reply %s (version before %s)" % (r.json, v))
        lst = _list(e)
        c.check(lst["formula"] == r.json, "list formula differs from PUT reply")
        _check_scores(c, lst, "after PUT %d/%d" % (cw, mw))
        r = _put(e, {"compute_weight_bp": 5000, "memory_weight_bp": 5000, "reference": a100["id"]})
        check(r.status == 200, "PUT weights with reference: %s" % r.short())
        c.check(r.json.get("reference") == a100["id"] and r.json.get("version") == v + 2,
                "PUT with reference reply %s" % r.json)
        lst = _list(e)
        _check_scores(c, lst, "reference %s" % a100["id"])
        items = {a["id"]: a for a in lst["items"]}
        c.check(items[a100["id"]]["ncu"] == "1.000", "reference model ncu %r" % items[a100["id"]]["ncu"])
        g = e.c.get("/v1/pools/%d" % pool["id"], token=prov["token"])
        c.check(g.status == 200 and g.json.get("ncu_per_gpu") == "1.000",
                "pool on the reference model: ncu_per_gpu %r after rescoring" % (g.json or {}).get("ncu_per_gpu"))
        if g.status == 200 and g.json.get("price_per_ncu_hour") is not None:
            c.check(abs(float(g.json["price_per_ncu_hour"]) - 3.0) < 0.006,
                    "price_per_ncu_hour %r for 3.00 at 1.000 NCU" % g.json["price_per_ncu_hour"])
    finally:
        r = _put(e, {"compute_weight_bp": f0["compute_weight_bp"], "memory_weight_bp": f0["memory_weight_bp"],
                     "reference": f0["reference"]})
    check(r.status == 200, "restore weights: %s" % r.short())
    lst = _list(e)
    c.check([(a["id"], a["ncu"], a["rating"]) for a in lst["items"]] ==
            [(a["id"], a["ncu"], a["rating"]) for a in lst0["items"]], "scores differ after restoring the weights")
    c.check(lst["formula"]["version"] == v + 3, "version %s after 3 PUTs from %s" % (lst["formula"]["version"], v))
    c.done()


def _weight_field(f):
    """compute_weight_bp, memory_weight_bp or '' (the pair)"""
    return f in ("compute_weight_bp", "memory_weight_bp", "")


def test_bad_weights_change_nothing():
    e = env()
    c = Collector()
    items = {a["id"]: a for a in _list(e)["items"]}
    ref = lambda f: f == "reference"  # noqa: E731
    ref.__doc__ = "reference"
    cases = [
        ({"compute_weight_bp": 0, "memory_weight_bp": 0}, (400,), "invalid_value", _weight_field),
        ({"compute_weight_bp": 6000, "memory_weight_bp": 5000}, (400,), "invalid_value", _weight_field),
        ({"compute_weight_bp": 10001, "memory_weight_bp": 0}, (400,), "invalid_value", "compute_weight_bp"),
        ({"compute_weight_bp": -1, "memory_weight_bp": 5000}, (400,), "invalid_value", "compute_weight_bp"),
        ({"compute_weight_bp": 5000, "memory_weight_bp": -5000}, (400,), "invalid_value", "memory_weight_bp"),
        ({"compute_weight_bp": 5000, "memory_weight_bp": "5000"}, (400,), "wrong_type", "memory_weight_bp"),
        ({"compute_weight_bp": 5000.5, "memory_weight_bp": 5000}, (400,), "wrong_type", "compute_weight_bp"),
        ({"compute_weight_bp": 2 ** 63, "memory_weight_bp": 1}, (400,), None, None),
        ({"compute_weight_bp": 5000}, (400,), "missing_field", "memory_weight_bp"),
        ({"compute_weight_bp": 5000, "memory_weight_bp": 5000, "gamma": 1}, (400,), "unknown_field", "gamma"),
        ({"compute_weight_bp": 5000, "memory_weight_bp": 5000, "reference": "NOPE-9000"}, (422,),
         "unknown_reference", "reference"),
        ({"compute_weight_bp": 5000, "memory_weight_bp": 5000, "reference": 7}, (400,), "wrong_type", "reference"),
    ]
    if "K80" in items:  # no TFLOPS: cannot be the reference
        cases.append(({"compute_weight_bp": 5000, "memory_weight_bp": 5000, "reference": "K80"},
                      (400, 422), None, ref))
    if "Ascend-910B" in items:  # no bandwidth: cannot be the reference while memory weighs
        cases.append(({"compute_weight_bp": 5000, "memory_weight_bp": 5000, "reference": "Ascend-910B"},
                      (400, 422), None, ref))
    before = snapshot()
    f0 = e.c.get("/v1/capacity/formula", token=e.admin).json
    for body, statuses, name, field in cases:
        r = _put(e, body)
        p = error_problems(r, r.status if r.status in statuses else statuses[0], name, field)
        d = snapshot_diff(before, snapshot())
        if d:
            p.append("database changed: %s" % d)
            before = snapshot()
        c.check(not p, "PUT /v1/capacity/weights %s: %s" % (body, "; ".join(p)))
    f1 = e.c.get("/v1/capacity/formula", token=e.admin).json
    c.check(f0 == f1, "formula changed by refused PUTs: %s -> %s" % (f0, f1))
    c.done()
