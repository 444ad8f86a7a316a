#!/usr/bin/env python3
"""Self-test of tools/checks/check_vocab.py: it passes on the tree as it is, and fails, naming
each one, on differences planted in copies of api/vocab.def and api/openapi.yaml and — with
--database-url — in the database.

  python3 tools/checks/test_check_vocab.py [--database-url URL]

The database must be a scratch one (deploy/test.sh makes it fresh): when SUANLI_BIN is set it
is migrated first (`$SUANLI_BIN migrate`), then checked, then changed (a CHECK widened, a table
with an unregistered list, a function's outcome, a journal kind's row) and checked again.  Prints PASS/FAIL per case
and `N passed, N failed`; exits 1 if any failed.  Run from the project root.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CHECK = os.path.join(HERE, "check_vocab.py")
results = []


def run_check(*args):
    r = subprocess.run([sys.executable, CHECK, *args], capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr


def case(name, args, rc, mentions=()):
    got_rc, out = run_check(*args)
    missing = [m for m in mentions if m not in out]
    ok = got_rc == rc and not missing
    results.append(ok)
    print(("PASS " if ok else "FAIL ") + name)
    if not ok:
        print(f"     expected exit {rc}, got {got_rc}" + (f"; output lacks {missing}" if missing else ""))
        print("\n".join("     " + line for line in out.splitlines()[-20:]))


def psql(url, sql):
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                   check=True, capture_output=True, text=True, timeout=60)


def planted_files(tmp):
    with open("api/vocab.def", encoding="utf-8") as f:
        vocab = f.read()
    with open("api/openapi.yaml", encoding="utf-8") as f:
        spec = f.read()
    files = {}

    def put(name, text):
        files[name] = os.path.join(tmp, name)
        with open(files[name], "w", encoding="utf-8") as f:
            f.write(text)

    # a new value in the registry only; a value line away from its domain's line
    put("extra.def", re.sub(r'(SL_VOCAB\(INTER_NODE, NONE,[^\n]*\n)',
                            r'\1SL_VOCAB(INTER_NODE, NVSWITCH, "nvswitch", "Planted.")\n', vocab))
    put("stray.def", vocab + '\nSL_VOCAB(POOL_STATUS, LOST, "lost", "Planted.")\n')
    # a domain nothing checks
    put("unchecked.def", vocab + '\nSL_VOCAB_DOMAIN(PLANTED, "Planted.")\nSL_VOCAB(PLANTED, ONE, "one", "Planted.")\n')
    # the spec: a value gone, a value added to a request-side subset, an unregistered enum
    spec2 = spec.replace("enum: [active, draining, offline, retired]", "enum: [active, draining, offline]", 1)
    spec2 = spec2.replace("enum: [ethernet, roce, infiniband]", "enum: [ethernet, roce, infiniband, nvswitch]", 1)
    spec2 = spec2.replace("    TokenState:\n", "    Planted:\n      type: string\n      enum: [red, green]\n    TokenState:\n", 1)
    put("changed.yaml", spec2)
    put("adapter.yaml", spec.replace("          webhook: '#/components/schemas/WebhookAdapter'\n",
                                     "          webhook: '#/components/schemas/WebhookAdapter'\n"
                                     "          planted: '#/components/schemas/WebhookAdapter'\n", 1))
    return files


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--database-url")
    args = ap.parse_args()
    if not os.path.isfile("api/vocab.def"):
        print("test_check_vocab: run me from the project root", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        f = planted_files(tmp)
        case("registry = spec", [], 0, ["0 differences"])
        case("planted: value only in the registry", ["--def", f["extra.def"]], 1,
             ["INTER_NODE: api/openapi.yaml components.schemas.InterNode lacks [nvswitch]"])
        case("planted: value away from its domain", ["--def", f["stray.def"]], 1,
             ["POOL_STATUS_LOST is not under its domain's line"])
        case("planted: domain checked nowhere", ["--def", f["unchecked.def"]], 1, ["PLANTED: checked nowhere"])
        case("planted: spec enums changed", ["--spec", f["changed.yaml"]], 1,
             ["POOL_STATUS: " + f["changed.yaml"] + " components.schemas.PoolStatus lacks [retired]",
              "components.schemas.OrderSpec.properties.min_inter_node has [nvswitch], not in api/vocab.def",
              "components.schemas.Planted enum [green, red] is in no domain"])
        case("planted: adapter kind only in the spec", ["--spec", f["adapter.yaml"]], 1,
             ["ADAPTER_KIND: " + f["adapter.yaml"] + " components.schemas.Adapter.discriminator.mapping has [planted]"])
        case("missing input", ["--def", os.path.join(tmp, "nosuch.def")], 2)
        url = args.database_url
        if url:
            binary = os.environ.get("SUANLI_BIN")
            if binary:
                subprocess.run([binary, "migrate"], check=True, capture_output=True, timeout=300,
                               env=dict(os.environ, SUANLI_DATABASE_URL=url))
            case("registry = database", ["--database-url", url], 0, ["0 differences", "and the database"])
            case("planted: value only in the registry, database", ["--def", f["extra.def"], "--database-url", url], 1,
                 ["INTER_NODE: database pools.inter_node (pools_inter_node_check) lacks [nvswitch]"])
            psql(url, "BEGIN;"
                 " ALTER TABLE reservations DROP CONSTRAINT reservations_state_check;"
                 " ALTER TABLE reservations ADD CONSTRAINT reservations_state_check"
                 "   CHECK (state IN ('pending', 'dispatched', 'active', 'completed', 'failed', 'cancelled', 'lost'));"
                 " CREATE TABLE vocab_planted (color text CHECK (color IN ('red', 'green')));"
                 " ALTER TABLE pools ADD CONSTRAINT vocab_planted_eq CHECK (health <> 'sick');"
                 " DELETE FROM journal_kind_purposes WHERE kind = 'refund';"
                 " ALTER FUNCTION sl_commit_outcome(bigint, bigint, bigint) RENAME TO sl_commit_outcome_planted;"
                 " CREATE FUNCTION sl_commit_outcome(p_session bigint, p_nonce bigint, p_xid bigint) RETURNS text"
                 "   LANGUAGE plpgsql AS $$ BEGIN IF p_xid < 0 THEN RETURN 'unknown'; END IF;"
                 "   RETURN 'committed'; END $$;"
                 " COMMIT;")
            case("planted: database changed", ["--database-url", url], 1,
                 ["RESERVATION_STATE: database reservations.state (reservations_state_check) has [lost] not in api/vocab.def",
                  "database vocab_planted.color (vocab_planted_color_check) [green, red] is in no domain",
                  "POOL_HEALTH: database pools.health (vocab_planted_eq) compares with \"sick\"",
                  "COMMIT_OUTCOME: database function sl_commit_outcome() lacks [aborted, in progress] and has [unknown]",
                  "JOURNAL_KIND: database rows of journal_kind_purposes.kind lacks [refund]"])
            psql(url, "BEGIN; DROP FUNCTION sl_commit_outcome(bigint, bigint, bigint);"
                 " ALTER FUNCTION sl_commit_outcome_planted(bigint, bigint, bigint) RENAME TO sl_commit_outcome;"
                 " DROP TABLE vocab_planted; ALTER TABLE pools DROP CONSTRAINT vocab_planted_eq;"
                 " INSERT INTO journal_kind_purposes(kind, purpose) VALUES ('refund', 4);"
                 " ALTER TABLE reservations DROP CONSTRAINT reservations_state_check;"
                 " ALTER TABLE reservations ADD CONSTRAINT reservations_state_check"
                 "   CHECK (state IN ('pending', 'dispatched', 'active', 'completed', 'failed', 'cancelled'));"
                 " COMMIT;")
            case("database restored", ["--database-url", url], 0, ["0 differences"])
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
