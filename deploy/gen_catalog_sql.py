#!/usr/bin/env python3
"""Generate the catalog data migration (schema/NNN_catalog.sql) from data/.

The catalog shipped with a release reaches every database, new or existing, through a data
migration that *upserts*: schema/002 inserted the first 29 models once, and a migration at or
below a database's version never runs again, so a changed CSV would never reach it.  This
script writes one migration holding the whole catalog as of this release:

  * every model of data/accelerators.csv and data/accelerators_extra.csv: figures of models
    already present are brought up to the catalog (never their id: pools keep their model),
    missing ones are added;
  * each model's family (the extra CSV's `family` column; for data/accelerators.csv the
    model name less a trailing -<N>GB: A100-80GB -> A100) and its names: the model and
    family names of every variant (spaces written as '-'), and data/accelerator_aliases.csv
    (names clouds use);
  * figures a model's row leaves empty, from data/accelerator_figures.csv (one published
    figure per line, with its source): filled in, never overriding a figure the row has, and
    named in the model's source and notes;
  * region coordinates (data/region_locations.csv) for regions that exist and have none;
  * the RTT estimate fitted by tools/latency/fit_rtt.py to data/region_latency.csv.

A later release that changes any of these files adds a new migration the same way:

    python3 deploy/gen_catalog_sql.py --out schema/NNN_catalog.sql   # a new release
    python3 deploy/gen_catalog_sql.py                                # rewrite the newest one
    python3 deploy/gen_catalog_sql.py --check                        # exit 1 when out of date

--check compares the newest schema/*_catalog.sql with what the data gives (deploy/test.sh
runs it).  A release's catalog migration may end with hand-written statements (schema changes
of the same release) after the line TAIL_MARKER below: the generator keeps that tail as it is
and --check compares the part above it.  Python 3 standard library only; the output is
deterministic.
"""
import argparse
import csv
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "deploy"))
sys.path.insert(0, os.path.join(ROOT, "tools", "latency"))
import gen_accelerators_sql as g  # noqa: E402  (one id rule, one set of literal helpers)
import fit_rtt  # noqa: E402

DATA = os.path.join(ROOT, "data")
ALIAS_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # the CHECK on accelerator_aliases
GB_SUFFIX = re.compile(r"-[0-9]+GB$")
TAIL_MARKER = "-- END OF THE GENERATED CATALOG: hand-written statements of this release follow."
FIGURE_FIELDS = ("memory_gb", "memory_type", "mem_bandwidth_gbps", "fp16_dense_tflops",
                 "bf16_dense_tflops", "fp32_tflops", "interconnect", "interconnect_gbps")


def newest_catalog_migration():
    files = sorted(glob.glob(os.path.join(ROOT, "schema", "[0-9][0-9][0-9]_catalog.sql")))
    return files[-1] if files else os.path.join(ROOT, "schema", "020_catalog.sql")


def read_csv(path, header):
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        got = next(reader)
        if got != header:
            raise ValueError("unexpected header in %s: %s" % (path, got))
        return [dict(zip(header, r)) for r in reader if any(c.strip() for c in r)]


def models():
    """[(id, row, family)] of both accelerator CSVs, in file order."""
    out, seen = [], set()
    for path, extra in ((os.path.join(DATA, "accelerators.csv"), False),
                        (os.path.join(DATA, "accelerators_extra.csv"), True)):
        header = g.EXPECTED_HEADER + (["family"] if extra else [])
        for n, r in enumerate(read_csv(path, header), start=2):
            model, variant = r["accelerator"].strip(), r["variant"].strip()
            aid = g.accel_id(model, variant)
            where = "%s line %d (%s)" % (os.path.basename(path), n, aid)
            if not g.ID_RE.match(aid):
                raise ValueError("%s: id does not match %s" % (where, g.ID_RE.pattern))
            if aid.lower() in seen:
                raise ValueError("%s: duplicate id" % where)
            seen.add(aid.lower())
            if not r["vendor"].strip():
                raise ValueError("%s: vendor is empty" % where)
            family = r["family"].strip() if extra else GB_SUFFIX.sub("", model)
            out.append((aid, r, family or model, where))
    return add_figures(out)


def add_figures(rows):
    """Fill the figures rows leave empty from data/accelerator_figures.csv, naming each figure's
    source in the model's source and notes.  A figure for a field the row already has, for an
    unknown model or field, twice for one field, or not a positive number is an error."""
    by_id = {aid.lower(): (aid, r) for aid, r, _, _ in rows}
    done = set()
    path = os.path.join(DATA, "accelerator_figures.csv")
    for n, f in enumerate(read_csv(path, ["accelerator_id", "field", "value", "source", "note"]),
                          start=2):
        where = "accelerator_figures.csv line %d" % n
        hit = by_id.get(f["accelerator_id"].strip().lower())
        field, value = f["field"].strip(), f["value"].strip()
        if not hit:
            raise ValueError("%s: no model %r" % (where, f["accelerator_id"]))
        aid, r = hit
        if field not in FIGURE_FIELDS:
            raise ValueError("%s: field %r is not one of %s" % (where, field, ", ".join(FIGURE_FIELDS)))
        if (aid, field) in done:
            raise ValueError("%s: a second figure for %s %s" % (where, aid, field))
        if r[field].strip():
            raise ValueError("%s: %s already has %s = %s in its CSV row" % (where, aid, field, r[field]))
        if not f["source"].strip():
            raise ValueError("%s: no source" % where)
        if field not in ("memory_type", "interconnect"):
            if not re.match(r"^[0-9]+(\.[0-9]+)?$", value) or float(value) <= 0:
                raise ValueError("%s: %r is not a positive number" % (where, value))
            if field == "memory_gb" and not value.isdigit():
                raise ValueError("%s: memory_gb must be whole GB" % where)
        done.add((aid, field))
        r[field] = value
        srcs = [x.strip() for x in r["source"].split(";") if x.strip()]
        if f["source"].strip() not in srcs:
            srcs.append(f["source"].strip())
        r["source"] = "; ".join(srcs)
        note = "%s %s: %s" % (field, value, f["note"].strip() or f["source"].strip())
        r["notes"] = (r["notes"].strip() + "; " if r["notes"].strip() else "") + "figure added by data/accelerator_figures.csv, " + note
    return rows


def model_values(rows):
    vals = []
    for aid, r, family, where in rows:
        mem = r["memory_gb"].strip()
        if mem and (not re.match(r"^[0-9]+$", mem) or int(mem) <= 0):
            raise ValueError("%s: memory_gb is not a positive integer: %r" % (where, mem))
        cols = [g.lit(aid), g.lit(r["accelerator"].strip()), g.lit(r["variant"].strip()),
                g.lit(r["vendor"].strip()), str(int(mem)) if mem else "NULL",
                g.text_or_null(r["memory_type"]),
                g.num_or_null(r["mem_bandwidth_gbps"], where),
                g.num_or_null(r["fp16_dense_tflops"], where),
                g.num_or_null(r["bf16_dense_tflops"], where),
                g.num_or_null(r["fp32_tflops"], where),
                g.text_or_null(r["interconnect"]),
                g.num_or_null(r["interconnect_gbps"], where),
                g.lit(r["source"].strip()), g.lit(r["notes"].strip()), g.lit(family)]
        vals.append("  (" + ", ".join(cols) + ")")
    return vals


def aliases(rows):
    ids = {aid.lower(): aid for aid, _, _, _ in rows}
    pairs = []
    for aid, r, family, _ in rows:
        for name in (r["accelerator"].strip(), family):
            name = re.sub(r"\s+", "-", name.strip())  # names have the form of ids
            if name.lower() != aid.lower():
                pairs.append((name, aid))
    for n, r in enumerate(read_csv(os.path.join(DATA, "accelerator_aliases.csv"),
                                   ["alias", "accelerator_id", "used_by"]), start=2):
        if r["accelerator_id"].lower() not in ids:
            raise ValueError("accelerator_aliases.csv line %d: no model %r" % (n, r["accelerator_id"]))
        if r["alias"].lower() in ids:
            raise ValueError("accelerator_aliases.csv line %d: %r is a model id" % (n, r["alias"]))
        pairs.append((r["alias"].strip(), ids[r["accelerator_id"].lower()]))
    out, seen = [], set()
    for a, i in pairs:
        if not ALIAS_RE.match(a):
            raise ValueError("alias %r does not match %s" % (a, ALIAS_RE.pattern))
        if (a, i) not in seen:
            seen.add((a, i))
            out.append("  (%s, %s)" % (g.lit(a), g.lit(i)))
    return out


def locations():
    out = []
    for r in read_csv(os.path.join(DATA, "region_locations.csv"),
                      ["code", "cloud", "region", "location", "lat", "lon", "precision", "source"]):
        if not r["lat"]:
            continue
        lat, lon = float(r["lat"]), float(r["lon"])
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValueError("region_locations.csv %s: coordinates out of range" % r["code"])
        out.append("  (%s, %s, %s, %s)" % (g.lit(r["code"]), r["lat"], r["lon"], g.lit(r["location"])))
    return out


def generate(name):
    rows = models()
    fit = fit_rtt.fit(ROOT)
    mv, av, lv = model_values(rows), aliases(rows), locations()
    o = []
    o.append("-- %s: the catalog of this release - accelerator models, their families and" % name)
    o.append("-- names, region coordinates and the RTT estimate - as upserts, so that it reaches")
    o.append("-- databases made by earlier releases as well as new ones.")
    o.append("--")
    o.append("-- GENERATED by deploy/gen_catalog_sql.py from data/accelerators.csv,")
    o.append("-- data/accelerators_extra.csv, data/accelerator_figures.csv, data/accelerator_aliases.csv,")
    o.append("-- data/region_locations.csv and data/region_latency.csv (sources: data/SOURCES.md).")
    o.append("-- Do not edit by hand; a release that changes those files generates a new")
    o.append("-- NNN_catalog.sql.")
    o.append("-- %d models, %d names, %d region locations." % (len(mv), len(av), len(lv)))
    o.append("")
    o.append("CREATE TEMP TABLE catalog_models (id text, model text, variant text, vendor text,")
    o.append("  memory_gb integer, memory_type text, mem_bandwidth_gbps numeric,")
    o.append("  fp16_dense_tflops numeric, bf16_dense_tflops numeric, fp32_tflops numeric,")
    o.append("  interconnect text, interconnect_gbps numeric, source text, notes text, family text)")
    o.append("  ON COMMIT DROP;")
    o.append("INSERT INTO catalog_models VALUES")
    o.append(",\n".join(mv) + ";")
    o.append("")
    o.append("-- Models already present (same id) take the catalog's figures; an id is never changed,")
    o.append("-- so every pool keeps its model.  A model/variant already held by another id (an")
    o.append("-- approved proposal) is left as it is.")
    o.append("UPDATE accelerators a SET model = c.model, variant = c.variant, vendor = c.vendor,")
    o.append("  memory_gb = c.memory_gb, memory_type = c.memory_type,")
    o.append("  mem_bandwidth_gbps = c.mem_bandwidth_gbps, fp16_dense_tflops = c.fp16_dense_tflops,")
    o.append("  bf16_dense_tflops = c.bf16_dense_tflops, fp32_tflops = c.fp32_tflops,")
    o.append("  interconnect = c.interconnect, interconnect_gbps = c.interconnect_gbps,")
    o.append("  source = c.source, notes = c.notes, family = c.family, origin = 'catalog'")
    o.append("  FROM catalog_models c")
    o.append(" WHERE a.id = c.id AND NOT EXISTS (SELECT 1 FROM accelerators b")
    o.append("   WHERE b.model = c.model AND b.variant = c.variant AND b.id <> a.id);")
    o.append("INSERT INTO accelerators (id, model, variant, vendor, memory_gb, memory_type,")
    o.append("  mem_bandwidth_gbps, fp16_dense_tflops, bf16_dense_tflops, fp32_tflops, interconnect,")
    o.append("  interconnect_gbps, source, notes, family, origin)")
    o.append("  SELECT c.id, c.model, c.variant, c.vendor, c.memory_gb, c.memory_type,")
    o.append("    c.mem_bandwidth_gbps, c.fp16_dense_tflops, c.bf16_dense_tflops, c.fp32_tflops,")
    o.append("    c.interconnect, c.interconnect_gbps, c.source, c.notes, c.family, 'catalog'")
    o.append("    FROM catalog_models c")
    o.append("   WHERE NOT EXISTS (SELECT 1 FROM accelerators a WHERE lower(a.id) = lower(c.id))")
    o.append("  ON CONFLICT DO NOTHING;")
    o.append("")
    o.append("-- Names: each model's model and family names, and the names clouds use.")
    o.append("INSERT INTO accelerator_aliases (alias, accelerator_id)")
    o.append("  SELECT v.alias, v.id FROM (VALUES")
    o.append(",\n".join(av))
    o.append("  ) v(alias, id)")
    o.append("   WHERE EXISTS (SELECT 1 FROM accelerators a WHERE a.id = v.id)")
    o.append("  ON CONFLICT DO NOTHING;")
    o.append("")
    o.append("-- Coordinates of the regions the demo seed and the data use, where a region of that")
    o.append("-- code exists without coordinates (an admin's own stay).")
    o.append("UPDATE regions r SET lat = v.lat, lon = v.lon,")
    o.append("  location = CASE WHEN r.location = '' THEN v.location ELSE r.location END")
    o.append("  FROM (VALUES")
    o.append(",\n".join(lv))
    o.append("  ) v(code, lat, lon, location)")
    o.append(" WHERE r.code = v.code AND r.lat IS NULL;")
    o.append("")
    o.append("-- The RTT estimate: rtt_ms = %.3f + %.6f * great-circle km (fibre factor %.3f at"
             % (fit["overhead_us"] / 1000, fit["ns_per_km"] / 1e6, fit["fibre_factor"]))
    o.append("-- %.2f km/ms), fitted to %d measured pairs of %d AWS regions; absolute error median %.2f"
             % (fit["fibre_km_per_ms"], fit["pairs"], fit["regions"], fit["median_error_ms"]))
    o.append("-- ms, p90 %.2f ms (leave one region out: %.2f / %.2f ms)."
             % (fit["p90_error_ms"], fit["loo_median_error_ms"], fit["loo_p90_error_ms"]))
    cols = ["overhead_us", "ns_per_km", "fibre_factor", "fibre_km_per_ms", "pairs", "regions",
            "median_error_ms", "p90_error_ms", "max_error_ms", "loo_median_error_ms",
            "loo_p90_error_ms"]
    o.append("INSERT INTO latency_model (%s, fitted_on)" % ", ".join(cols))
    o.append("  VALUES (%s, %s)" % (", ".join(str(fit[c]) for c in cols),
                                   g.lit("data/region_latency.csv (AWS p50, 1 year) with "
                                         "data/region_locations.csv")))
    o.append("  ON CONFLICT (singleton) DO UPDATE SET %s, fitted_on = EXCLUDED.fitted_on, updated_at = now();"
             % ", ".join("%s = EXCLUDED.%s" % (c, c) for c in cols))
    return "\n".join(o) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="the migration to write (default: the newest)")
    ap.add_argument("--check", action="store_true", help="exit 1 if the migration differs")
    ap.add_argument("--stdout", action="store_true", help="print instead of writing")
    a = ap.parse_args()
    out = a.out or newest_catalog_migration()
    name = os.path.basename(out)[:-4]
    try:
        sql = generate(name)
    except ValueError as e:
        print("gen_catalog_sql: %s" % e, file=sys.stderr)
        return 2
    if os.path.exists(out):  # keep the release's hand-written tail, if any
        with open(out, encoding="utf-8") as f:
            old = f.read()
        at = old.find(TAIL_MARKER)
        if at >= 0:
            sql += "\n" + old[at:]
    return g.emit(sql, out, a.check, a.stdout, "gen_catalog_sql")


if __name__ == "__main__":
    sys.exit(main())
