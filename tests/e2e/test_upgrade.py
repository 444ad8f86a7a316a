"""Catalog changes reach existing databases (issue 13).

A database made by the previous release (every migration before 019 applied, as that
release's `suanlid migrate` did, with a region, a provider and pools on the old catalog, and an
old figure) is migrated by this release: the catalog gains the new models, their families and
names, the regions they know get coordinates and the RTT estimate is installed, the figures of
existing models are brought up to the catalog, and every pool keeps its model.  A second
migrate changes nothing.
"""
import csv
import glob
import os
import re
import subprocess

import harness
from dispatch_util import create_db, drop_db
from harness import ROOT, Collector, check

FIRST_OURS = 19  # schema/019_registry.sql: the first migration of this release


def _q(url, sql):
    return harness.psql(sql, url)


def _previous_release(url):
    """Apply schema/NNN_*.sql below FIRST_OURS exactly as migrate.c does: each in one transaction,
    recorded in schema_migrations."""
    _q(url, "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())")
    done = []
    for path in sorted(glob.glob(os.path.join(ROOT, "schema", "[0-9][0-9][0-9]_*.sql"))):
        name = os.path.basename(path)[:-4]
        version = int(name[:3])
        if version >= FIRST_OURS:
            continue
        with open(path, encoding="utf-8") as f:
            sql = f.read()
        p = subprocess.run(
            [harness.PSQL, url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction",
             "-c", "SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET client_min_messages = warning", "-f", "-"],
            input=sql + "\nINSERT INTO schema_migrations(version, name) VALUES (%d, '%s');\n" % (version, name),
            capture_output=True, text=True, timeout=120)
        check(p.returncode == 0, "applying %s: %s" % (name, p.stderr[-500:]))
        done.append(version)
    return done


def _csv_ids():
    ids = []
    for fn, extra in (("accelerators.csv", False), ("accelerators_extra.csv", True)):
        with open(os.path.join(ROOT, "data", fn), newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                ids.append(re.sub(r"\s+", "-", (r["accelerator"] + ("-" + r["variant"] if r["variant"] else "")).strip()))
    return ids


def test_upgrade_from_the_previous_release_adds_the_catalog_and_keeps_pools():
    c = Collector()
    url = create_db("upgrade")
    try:
        versions = _previous_release(url)
        check(versions and max(versions) < FIRST_OURS, "previous release migrations: %s" % versions)
        # what the previous release held: 29 models, no registry, pools on old models
        n_old = int(_q(url, "SELECT count(*) FROM accelerators"))
        c.check(n_old == 29, "the previous release has %d models, expected 29" % n_old)
        c.check(_q(url, "SELECT to_regclass('accelerator_aliases') IS NULL") == "t", "registry tables before 019")
        _q(url, "INSERT INTO regions(code, name, tier) VALUES ('us-east-1', 'us-east-1', 'cloud'),"
                " ('lambda-us-east-1', 'lambda us-east-1', 'cloud')")
        _q(url, "INSERT INTO accounts(kind, name) VALUES ('provider', 'old-provider')")
        for mid in ("V100-SXM2", "H100-SXM", "A10G-PCIe"):
            _q(url, "INSERT INTO pools(owner_id, name, region, accelerator_id, gpu_count, gpus_per_node, intra_node,"
                    " inter_node, inter_node_gbps, price_minor, available_from, available_until, adapter_kind)"
                    " SELECT id, 'old " + mid + "', 'us-east-1', '" + mid + "', 8, 8, 'pcie', 'ethernet', 100, 100,"
                    " date_trunc('hour', now()), date_trunc('hour', now()) + interval '10 days', 'sim'"
                    " FROM accounts WHERE name = 'old-provider'")
        _q(url, "UPDATE accelerators SET notes = 'an older catalog note', mem_bandwidth_gbps = 1 WHERE id = 'T4-PCIe'")
        before = _q(url, "SELECT string_agg(id || ':' || accelerator_id, ',' ORDER BY id) FROM pools")
        # this release's migrate
        p = harness.run_cli("migrate", extra_env={"SUANLI_DATABASE_URL": url})
        check(p.returncode == 0, "suanlid migrate: exit %s: %s" % (p.returncode, p.stderr[-500:]))
        ids = set(_q(url, "SELECT id FROM accelerators").split("\n"))
        want = set(_csv_ids())
        c.check(want <= ids, "models missing after the upgrade: %s" % sorted(want - ids))
        for mid in ("L40-PCIe", "A40-PCIe", "GH200", "B300-SXM", "V100-16GB-SXM2", "Inferentia2", "Trainium",
                    "Radeon-Pro-V520", "RTX-4090"):
            c.check(mid in ids, "%s not added by the upgrade" % mid)
        c.check(_q(url, "SELECT string_agg(id || ':' || accelerator_id, ',' ORDER BY id) FROM pools") == before,
                "pools changed their model")
        c.check(_q(url, "SELECT notes || '|' || mem_bandwidth_gbps FROM accelerators WHERE id = 'T4-PCIe'") != "an older catalog note|1",
                "an existing model's figures were not brought up to the catalog")
        fam = _q(url, "SELECT string_agg(accelerator_id, ',' ORDER BY accelerator_id) FROM accelerator_names WHERE name = 'v100'")
        c.check(fam == "V100-16GB-SXM2,V100-PCIe,V100-SXM2", "the V100 family after the upgrade: %s" % fam)
        loc = _q(url, "SELECT code || ':' || (lat IS NOT NULL) FROM regions ORDER BY code").split("\n")
        c.check(loc == ["lambda-us-east-1:true", "us-east-1:true"], "coordinates after the upgrade: %s" % loc)
        # figures a later release found (data/accelerator_figures.csv) reach the old database's models
        h800 = _q(url, "SELECT bf16_dense_tflops || '|' || mem_bandwidth_gbps FROM accelerators WHERE id = 'H800-SXM'")
        c.check(h800 == "989|3360", "H800-SXM's figures after the upgrade: %s" % h800)
        c.check(_q(url, "SELECT count(*) FROM latency_model") == "1", "no RTT estimate installed")
        ver = _q(url, "SELECT max(version) FROM schema_migrations")
        # a second migrate is a no-op
        snap = _q(url, "SELECT md5(string_agg(t, '|' ORDER BY t)) FROM (SELECT a::text t FROM accelerators a"
                       " UNION ALL SELECT x::text FROM accelerator_aliases x UNION ALL SELECT p::text FROM pools p) s")
        p = harness.run_cli("migrate", extra_env={"SUANLI_DATABASE_URL": url})
        c.check(p.returncode == 0 and "migration applied" not in p.stdout + p.stderr,
                "second migrate: exit %s %s" % (p.returncode, (p.stdout + p.stderr)[-300:]))
        snap2 = _q(url, "SELECT md5(string_agg(t, '|' ORDER BY t)) FROM (SELECT a::text t FROM accelerators a"
                        " UNION ALL SELECT x::text FROM accelerator_aliases x UNION ALL SELECT p::text FROM pools p) s")
        c.check(snap == snap2 and _q(url, "SELECT max(version) FROM schema_migrations") == ver,
                "a second migrate changed the catalog")
    finally:
        drop_db(url)
    c.done()
