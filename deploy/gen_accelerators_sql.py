#!/usr/bin/env python3
"""Generate schema/002_accelerators.sql from data/accelerators.csv.

The accelerator table is the market's measurement standard, so it ships as a migration.
This script is the only author of that file: edit the CSV (and data/SOURCES.md), then run

    python3 deploy/gen_accelerators_sql.py            # rewrite schema/002_accelerators.sql
    python3 deploy/gen_accelerators_sql.py --check    # exit 1 if the file is out of date
    python3 deploy/gen_accelerators_sql.py --stdout   # print it instead

Mapping (CSV column -> accelerators column):
  id                 model, or model + '-' + variant when variant is non-empty, spaces -> '-'
                     (H100-SXM, A100-80GB-PCIe, Ascend-910B, TPU-v5e, MI300X)
  model              accelerator           variant            variant ('' when empty)
  vendor             vendor                memory_gb          memory_gb (integer)
  memory_type, mem_bandwidth_gbps, fp16_dense_tflops, bf16_dense_tflops, fp32_tflops,
  interconnect, interconnect_gbps: copied; an empty cell becomes NULL
  source, notes      copied verbatim ('' when empty)
score_milli / rating / weights_version are left to their defaults: suanlid computes the
scores at start-up from the formula in src/core/capacity.c.
Then one capacity_weights row: compute 70 %, memory 30 %, reference H100-SXM.

Python 3 standard library only.  Output is deterministic (no timestamps).
"""
import argparse
import csv
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CSV_PATH = os.path.join(ROOT, "data", "accelerators.csv")
SQL_PATH = os.path.join(ROOT, "schema", "002_accelerators.sql")

EXPECTED_HEADER = [
    "accelerator", "variant", "vendor", "memory_gb", "memory_type", "mem_bandwidth_gbps",
    "fp16_dense_tflops", "bf16_dense_tflops", "fp32_tflops", "interconnect",
    "interconnect_gbps", "source", "notes",
]
NUMERIC = ["mem_bandwidth_gbps", "fp16_dense_tflops", "bf16_dense_tflops", "fp32_tflops",
           "interconnect_gbps"]
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # the CHECK on accelerators.id
NUM_RE = re.compile(r"^[0-9]+(\.[0-9]+)?$")

REFERENCE = "H100-SXM"
COMPUTE_BP, MEMORY_BP = 7000, 3000


def lit(s):
    """A standard SQL string literal (standard_conforming_strings: only ' needs doubling)."""
    if "\x00" in s:
        raise ValueError("NUL in text")
    return "'" + s.replace("'", "''") + "'"


def text_or_null(s):
    s = s.strip()
    return "NULL" if s == "" else lit(s)


def num_or_null(s, what):
    s = s.strip()
    if s == "":
        return "NULL"
    if not NUM_RE.match(s) or float(s) <= 0:
        raise ValueError(f"{what}: not a positive number: {s!r}")
    return s


def accel_id(model, variant):
    raw = model if variant == "" else f"{model}-{variant}"
    return re.sub(r"\s+", "-", raw.strip())


def generate(csv_path):
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        if header != EXPECTED_HEADER:
            raise ValueError(f"unexpected header in {csv_path}: {header}")
        rows = [dict(zip(header, r)) for r in reader if any(c.strip() for c in r)]

    seen = set()
    values = []
    for n, r in enumerate(rows, start=2):
        model, variant = r["accelerator"].strip(), r["variant"].strip()
        aid = accel_id(model, variant)
        where = f"{os.path.basename(csv_path)} line {n} ({aid})"
        if not ID_RE.match(aid):
            raise ValueError(f"{where}: id does not match {ID_RE.pattern}")
        if aid in seen:
            raise ValueError(f"{where}: duplicate id")
        seen.add(aid)
        mem = r["memory_gb"].strip()
        if mem == "":
            mem_sql = "NULL"
        else:
            if not re.match(r"^[0-9]+$", mem) or int(mem) <= 0:
                raise ValueError(f"{where}: memory_gb is not a positive integer: {mem!r}")
            mem_sql = str(int(mem))
        if r["vendor"].strip() == "":
            raise ValueError(f"{where}: vendor is empty")
        cols = [
            lit(aid), lit(model), lit(variant), lit(r["vendor"].strip()), mem_sql,
            text_or_null(r["memory_type"]),
            num_or_null(r["mem_bandwidth_gbps"], where),
            num_or_null(r["fp16_dense_tflops"], where),
            num_or_null(r["bf16_dense_tflops"], where),
            num_or_null(r["fp32_tflops"], where),
            text_or_null(r["interconnect"]),
            num_or_null(r["interconnect_gbps"], where),
            lit(r["source"].strip()), lit(r["notes"].strip()),
        ]
        values.append("  (" + ", ".join(cols) + ")")

    if REFERENCE not in seen:
        raise ValueError(f"reference accelerator {REFERENCE} is not in {csv_path}")

    out = []
    out.append("-- 002_accelerators: the accelerator models of the market's measurement standard,")
    out.append("-- and the default capacity weights (70 % compute, 30 % memory bandwidth, relative")
    out.append(f"-- to {REFERENCE}).")
    out.append("--")
    out.append("-- GENERATED by deploy/gen_accelerators_sql.py from data/accelerators.csv")
    out.append("-- (sources of every figure: data/SOURCES.md).  Do not edit by hand: edit the CSV")
    out.append("-- and run `python3 deploy/gen_accelerators_sql.py`.")
    out.append("-- Unknown figures are NULL.  score_milli/rating are left to their defaults:")
    out.append("-- suanlid computes them at start-up (src/core/capacity.c).")
    out.append(f"-- {len(values)} models.")
    out.append("")
    out.append("INSERT INTO accelerators (id, model, variant, vendor, memory_gb, memory_type,")
    out.append("  mem_bandwidth_gbps, fp16_dense_tflops, bf16_dense_tflops, fp32_tflops,")
    out.append("  interconnect, interconnect_gbps, source, notes) VALUES")
    out.append(",\n".join(values) + ";")
    out.append("")
    out.append("INSERT INTO capacity_weights (compute_bp, memory_bp, reference_id)")
    out.append(f"  VALUES ({COMPUTE_BP}, {MEMORY_BP}, {lit(REFERENCE)});")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", default=CSV_PATH)
    ap.add_argument("--out", default=SQL_PATH)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--check", action="store_true", help="exit 1 if --out differs")
    g.add_argument("--stdout", action="store_true", help="print instead of writing")
    a = ap.parse_args()
    try:
        sql = generate(a.csv)
    except ValueError as e:
        print(f"gen_accelerators_sql: {e}", file=sys.stderr)
        return 2
    return emit(sql, a.out, a.check, a.stdout, "gen_accelerators_sql")


def emit(sql, out, check, stdout, tool):
    """Print sql (stdout), compare it with the file out (check: 1 when they differ), or write
    it there; the exit status.  Shared with deploy/gen_catalog_sql.py."""
    if stdout:
        sys.stdout.write(sql)
        return 0
    if check:
        try:
            with open(out, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current != sql:
            print(f"{tool}: {os.path.relpath(out)} is out of date; run python3 deploy/{tool}.py",
                  file=sys.stderr)
            return 1
        return 0
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(sql)
    os.replace(tmp, out)
    print(f"wrote {os.path.relpath(out)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
