"""Witnessed checkpoints, monitor routes, and a ledger that is never served inconsistent
(issue 18; api/SIGNING.md "Witnesses" and "Monitors").

- Monitor routes: every checkpoint listed in pages; the tree positions listed by range with
  leaf and chain hashes, recomputed here from the records (RFC 9162 roots of every checkpoint,
  the chain of api/SIGNING.md); a tenant sees the records of its own entries only; consistency
  from size 0; the chain value served with each entry.
- Witnesses: two `suanli-witness` processes follow the log and cosign each checkpoint; the
  exchange publishes the cosignatures; `suanli-verify --witnesses --quorum 2` passes; a witness
  whose state file says it cosigned more (a restart against a log that shrank) refuses.
- An operator rewrite (the two tail entries swapped, leaf and chain hashes recomputed, every
  checkpoint that covers them re-signed with the exchange's own key, the old cosignatures
  deleted): both witnesses refuse to cosign, and `suanli-verify` with a quorum of 2 fails on
  the new head while the exchange's own signature still verifies.
- Tampered checkpoint rows (one larger than the entries, the latest deleted, a middle one
  deleted): the ledger routes and /readyz answer 503 ledger_inconsistent (never 500, never an
  entry with leaf_index set and tree_size null), and recover when the rows are restored.

The module runs on its own database (ledger_util.create_db) with its own suanlid on a port in
18800..18899 and its own SUANLI_KEY_DIR; tests run in file order and share S.
"""
import json
import os
import struct
import subprocess
import tempfile
import time

import harness
import ledger_util as L
from harness import Collector, Failed, check, hour

# run.py --shards: run this module alone, after the shards (timing-sensitive: the two witnesses
# must cosign the same latest checkpoint, which the sequencer may extend between their runs)
E2E_ALONE = True

S = {}
CP_FMT = ">IIQ32sq"  # CHECKPOINT, 56 bytes


def _port():
    for p in range(18800, 18900):
        if harness.port_ok(p) and L._port_free(p):
            return p
    raise Failed("no free port in 18800..18899")


def _witness_bin():
    b = harness.tool_binary("SUANLI_WITNESS_BIN", "suanli-witness", "suanli-witness")
    check(os.path.isfile(b), "no suanli-witness binary (%s)" % b)
    return b


def _folder():
    return S["folder"]


def _world():
    if "error" in S:
        raise Failed("the witness world failed to start: %s" % S["error"])
    if "srv" in S:
        return S
    try:
        S["db"] = L.db_name("suanli_e2e_witness")
        S["url"] = L.create_db(S["db"])
        S["keys"] = L.key_dir("witness")
        S["folder"] = tempfile.mkdtemp(prefix="witness-", dir=harness.out_dir())
        S["srv"] = L.LedgerServer("witness", S["url"], S["keys"], port=_port())
        S["srv"].wait_ready()
        S["admin"] = L.bootstrap_admin(S["url"], S["keys"])
        S["market"] = L.build_market(S["srv"].client, S["admin"], "wt" + harness.RUN)
        L.wait_sequenced(S["srv"].client, S["url"], S["admin"])
    except Exception as e:
        S["error"] = str(e)
        raise
    return S


def _get(path, token=None, want=200):
    r = S["srv"].client.get(path, token=token or S["admin"])
    if r.status != want:
        raise Failed("GET %s: %s (expected %s)" % (path, r.short(), want))
    return r.json


def _buy(start_h, gpus=1):
    t = S["market"]["tenants"][0]
    o = L.order(S["srv"].client, t["token"], {"gpus": gpus, "duration_hours": 1, "earliest_start": hour(start_h),
                                             "regions": [S["market"]["regions"][0]]})
    check(o["state"] == "filled", "order not filled: %s" % o)
    return o


def _walk(route, cursor, token, limit):
    """Every item of a paged list: route?<cursor>=N&limit=L, following next_<cursor>."""
    out, at = [], 0
    while True:
        page = _get("%s?%s=%d&limit=%d" % (route, cursor, at, limit), token)
        out += page["items"]
        if page["next_" + cursor] is None:
            return out
        at = page["next_" + cursor]


def _all_checkpoints(token=None, limit=3):
    return _walk("/v1/ledger/checkpoints", "after", token, limit)


def _all_leaves(token=None, limit=7):
    return _walk("/v1/ledger/entries", "from", token, limit)


# ---------------------------------------------------------------- 1. monitor routes

def test_ledger_monitor_lists_checkpoints_and_entries():
    _world()
    c = Collector()
    cps = _all_checkpoints()
    sizes = [int(x[0]) for x in L.rows(S["url"], "SELECT tree_size FROM ledger_checkpoints ORDER BY 1")]
    c.check([cp["tree_size"] for cp in cps] == sizes, "checkpoint pages list %s, the table holds %s"
            % ([cp["tree_size"] for cp in cps], sizes))
    c.check(all(cp.get("cosignatures") == [] for cp in cps), "cosignatures before any witness: %s"
            % [cp.get("cosignatures") for cp in cps][:3])
    leaves = _all_leaves()
    n = sizes[-1]
    c.check([x["leaf_index"] for x in leaves] == list(range(n)), "entry pages: leaf indexes %s, expected 0..%d"
            % ([x["leaf_index"] for x in leaves][:20], n - 1))
    prev, hashes = None, []
    for x in leaves:
        lh = L.leaf_hash(bytes.fromhex(x["record"]), x["key_id"], bytes.fromhex(x["signature"]))
        c.check(lh.hex() == x["leaf_hash"], "leaf %d: leaf_hash %s, recomputed %s" % (x["leaf_index"], x["leaf_hash"],
                                                                                       lh.hex()))
        prev = L.chain_step(prev, lh)
        c.check(prev.hex() == x["chain_hash"], "leaf %d: chain_hash %s, recomputed %s"
                % (x["leaf_index"], x["chain_hash"], prev.hex()))
        hashes.append(lh)
    for cp in cps:
        c.check(L.mth(hashes[:cp["tree_size"]]).hex() == cp["root_hash"],
                "checkpoint %d: root %s is not the RFC 9162 root of the listed leaves" % (cp["tree_size"], cp["root_hash"]))
    # a tenant: every leaf hash, the records of its own entries only
    t = S["market"]["tenants"][1]
    mine = {int(r[0]) for r in L.rows(S["url"],
            "SELECT e.id FROM ledger_entries e LEFT JOIN trades t ON t.id = e.trade_id"
            " LEFT JOIN journal_txns j ON j.id = e.journal_txn_id WHERE e.leaf_index IS NOT NULL AND"
            " (t.tenant_id = %d OR t.provider_id = %d OR (e.trade_id IS NULL AND j.account_id = %d))"
            % (t["id"], t["id"], t["id"]))}
    tl = _all_leaves(t["token"], limit=50)
    c.check([x["leaf_hash"] for x in tl] == [x["leaf_hash"] for x in leaves], "the tenant sees other leaf hashes")
    shown = {x["entry_id"] for x in tl if x["record"] is not None}
    c.check(shown == mine and mine, "the tenant sees the records of entries %s, its own are %s" % (sorted(shown),
                                                                                                   sorted(mine)))
    c.check(all(x["entry_id"] is None and x["signature"] is None for x in tl if x["record"] is None),
            "an entry of others shows its id or signature to the tenant")
    # paging bounds, bad input
    r = S["srv"].client.get("/v1/ledger/entries?from=%d" % n, token=S["admin"])
    c.check(r.status == 200 and r.json["items"] == [] and r.json["next_from"] is None, "entries past the end: %s"
            % r.short())
    for q, field in (("from=-1", "from"), ("limit=0", "limit"), ("limit=1001", "limit"), ("from=x", "from"),
                     ("after=1", None)):
        r = S["srv"].client.get("/v1/ledger/entries?" + q, token=S["admin"])
        c.check(r.status == 400 and r.err() == "bad_query_parameter", "entries?%s: %s" % (q, r.short()))
    r = S["srv"].client.get("/v1/ledger/checkpoints?limit=501", token=S["admin"])
    c.check(r.status == 400, "checkpoints?limit=501: %s" % r.short())
    # consistency from the empty tree
    r = S["srv"].client.get("/v1/ledger/consistency?from=0&to=%d" % n, token=S["admin"])
    c.check(r.status == 200 and r.json == {"from": 0, "to": n, "proof": []}, "consistency from 0: %s" % r.short())
    r = S["srv"].client.get("/v1/ledger/consistency?from=0&to=0", token=S["admin"])
    c.check(r.status == 400 and r.field() == "to", "consistency 0 -> 0: %s" % r.short())
    # the chain value with each entry and receipt
    e = leaves[-1]
    row = L.rows(S["url"], "SELECT id, encode(chain_hash, 'hex') FROM ledger_entries WHERE leaf_index = %d"
                 % e["leaf_index"])[0]
    got = _get("/v1/ledger/entries/%s" % row[0])
    c.check(got.get("chain_hash") == row[1] == e["chain_hash"], "entry %s: chain_hash %s, stored %s"
            % (row[0], got.get("chain_hash"), row[1]))
    tid = S["market"]["trades"][0]
    rc_ = _get("/v1/trades/%d/receipt" % tid)
    stored = L.one(S["url"], "SELECT encode(chain_hash, 'hex') FROM ledger_entries WHERE purpose = 1 AND trade_id = %d"
                   % tid)
    c.check(rc_.get("chain_hash") == stored, "receipt of trade %d: chain_hash %s, stored %s"
            % (tid, rc_.get("chain_hash"), stored))
    c.done()


# ---------------------------------------------------------------- 2. witnesses

def _witness(name, *extra, state=None):
    w = S["witnesses"][name]
    args = [_witness_bin(), "run", "--url", "http://127.0.0.1:%d" % S["srv"].port, "--name", name,
            "--key", w["key"], "--state", state or w["state"], "--once"] + list(extra)
    env = dict(os.environ, SUANLI_TOKEN=w["token"])
    p = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    return p.returncode, p.stdout + p.stderr


def _follow(c, first_must_cosign=False, rounds=15):
    """Both witnesses follow the log (--once each, in turn) until a round leaves every
    checkpoint cosigned by both.  The witnesses' own cosignature requests are audited, so the
    sequencer may sign a new checkpoint between witness A's run and witness B's: B then cosigns
    one that A has not seen yet, and the next round catches A up.  Returns (the latest
    checkpoint, every checkpoint) as read at the end of the last round."""
    latest, every = None, []
    for k in range(rounds):
        for name in S["witnesses"]:
            rc, out = _witness(name)
            ok = rc == 0 and (k > 0 or not first_must_cosign or "cosigned checkpoint" in out)
            c.check(ok, "%s --once (round %d): exit %s\n%s" % (name, k + 1, rc, out[-600:]))
            if not ok:
                return _get("/v1/ledger/checkpoint"), _all_checkpoints()
        latest, every = _get("/v1/ledger/checkpoint"), _all_checkpoints()
        if all(len(cp["cosignatures"]) == len(S["witnesses"]) for cp in every) and \
                len(latest["cosignatures"]) == len(S["witnesses"]):
            break
        time.sleep(0.3)
    return latest, every


def _verify_quorum(cp, quorum, name="q"):
    keys = L.write_json(_folder(), "keys-%s.json" % name, _get("/v1/keys"))
    wit = L.write_json(_folder(), "witnesses-%s.json" % name, _get("/v1/ledger/witnesses"))
    cpf = L.write_json(_folder(), "cp-%s.json" % name, cp)
    return L.verify("--witnesses", wit, "--quorum", str(quorum), "checkpoint", cpf, keys)


def test_ledger_witnesses_cosign_and_quorum():
    _world()
    c = Collector()
    cl = S["srv"].client
    S["witnesses"] = {}
    for name in ("witness-a.example", "witness-b.example"):
        key = os.path.join(_folder(), name + ".key")
        p = subprocess.run([_witness_bin(), "keygen", key], capture_output=True, text=True, timeout=30)
        check(p.returncode == 0, "suanli-witness keygen: %s %s" % (p.returncode, p.stderr))
        pub = json.loads(p.stdout)
        check(oct(os.stat(key).st_mode & 0o777) == "0o600", "the witness key file is not 0600")
        p2 = subprocess.run([_witness_bin(), "keygen", key], capture_output=True, text=True, timeout=30)
        c.check(p2.returncode == 2, "keygen over an existing key file: exit %s, expected 2" % p2.returncode)
        r = cl.post("/v1/ledger/witnesses", {"name": name, "public_key": pub["public_key"]}, token=S["admin"])
        check(r.status == 201 and r.json["key_id"] == pub["key_id"], "register %s: %s" % (name, r.short()))
        acct = L.account(cl, S["admin"], "tenant", "wt-%s-%s" % (name[:9], harness.RUN))
        S["witnesses"][name] = {"key": key, "state": os.path.join(_folder(), name + ".state"),
                                "token": acct["token"], "pub": pub}
    pub_a = S["witnesses"]["witness-a.example"]["pub"]
    for body, status, err, field in (
            ({"name": "witness-a.example", "public_key": "11" * 32}, 409, "already_exists", "name"),
            ({"name": "other", "public_key": pub_a["public_key"]}, 409, "already_exists", "name"),
            ({"name": "bad name", "public_key": "22" * 32}, 400, "invalid_value", "name"),
            ({"name": "ok", "public_key": "AB" * 32}, 400, "invalid_value", "public_key"),
            ({"name": "ok", "public_key": "ab" * 31}, 400, "invalid_value", "public_key"),
            ({"name": "ok"}, 400, "missing_field", "public_key")):
        r = cl.post("/v1/ledger/witnesses", body, token=S["admin"])
        c.check(r.status == status and r.err() == err and r.field() == field,
                "POST /v1/ledger/witnesses %s: %s, expected %s %s" % (body, r.short(), status, err))
    r = cl.post("/v1/ledger/witnesses", {"name": "x", "public_key": "33" * 32},
                token=S["witnesses"]["witness-a.example"]["token"])
    c.check(r.status == 403, "a tenant registers a witness: %s" % r.short())
    # both witnesses follow the log
    latest, every = _follow(c, first_must_cosign=True)
    c.check(sorted(x["witness"] for x in latest["cosignatures"]) == sorted(S["witnesses"]),
            "latest checkpoint's cosignatures: %s" % latest["cosignatures"])
    c.check(all(len(cp["cosignatures"]) == 2 for cp in every), "checkpoints without both cosignatures: %s"
            % [cp["tree_size"] for cp in every if len(cp["cosignatures"]) != 2])
    rc, out = _verify_quorum(latest, 2, "ok")
    c.check(rc == 0, "suanli-verify --quorum 2 on the cosigned head: exit %s\n%s" % (rc, out[-800:]))
    rc, out = _verify_quorum(latest, 3, "three")
    c.check(rc == 1, "suanli-verify --quorum 3 with two witnesses: exit %s, expected 1" % rc)
    # the market goes on; the witnesses follow; a receipt verifies with the quorum
    o = _buy(50)
    L.wait_sequenced(cl, S["url"], S["admin"])
    followed, _ = _follow(c)
    rcpt = _get("/v1/trades/%d/receipt" % o["trades"][0]["id"])
    keys = L.write_json(_folder(), "keys-r.json", _get("/v1/keys"))
    wit = L.write_json(_folder(), "witnesses-r.json", _get("/v1/ledger/witnesses"))
    rc, out = L.verify("--witnesses", wit, "--quorum", "2", "receipt", L.write_json(_folder(), "rcpt.json", rcpt), keys)
    c.check(rc == 0, "receipt with --quorum 2: exit %s\n%s" % (rc, out[-800:]))
    # the cosignature route refuses what is not a witness's signature of that checkpoint
    latest = followed  # (a later checkpoint may carry no cosignature yet)
    cs = latest["cosignatures"][0]
    size = latest["tree_size"]
    for body, status, err, field in (
            (dict(witness=cs["witness"], timestamp=cs["timestamp"], signature=L.flip_hex(cs["signature"], 5)), 400,
             "invalid_value", "signature"),
            (dict(witness="nobody", timestamp=cs["timestamp"], signature=cs["signature"]), 422, "unknown_reference",
             "witness"),
            (dict(witness=cs["witness"], timestamp="2001-01-01T00:00:00Z", signature=cs["signature"]), 400,
             "invalid_value", "timestamp"),
            (dict(witness=cs["witness"], timestamp=cs["timestamp"]), 400, "missing_field", "signature")):
        r = cl.post("/v1/ledger/checkpoints/%d/cosignatures" % size, body, token=S["admin"])
        c.check(r.status == status and r.err() == err and r.field() == field,
                "cosignature %s: %s, expected %s %s" % (body, r.short(), status, err))
    r = cl.post("/v1/ledger/checkpoints/%d/cosignatures" % (size + 1000),
                dict(witness=cs["witness"], timestamp=cs["timestamp"], signature=cs["signature"]), token=S["admin"])
    c.check(r.status == 404 and r.field() == "size", "cosignature of no checkpoint: %s" % r.short())
    r = cl.post("/v1/ledger/checkpoints/%d/cosignatures" % size,
                dict(witness=cs["witness"], timestamp=cs["timestamp"], signature=cs["signature"]), token=S["admin"])
    c.check(r.status == 200 and r.json["cosignatures"] == latest["cosignatures"], "the same cosignature again: %s"
            % r.short())
    # restarts: a state that cosigned more than the log holds, or another root for a size
    st = json.load(open(S["witnesses"]["witness-a.example"]["state"]))
    c.check(st["tree_size"] == size and st["root_hash"] == latest["root_hash"], "state file %s, latest %d %s"
            % (st, size, latest["root_hash"]))
    for label, change in (("larger", {"tree_size": size + 3}), ("fork", {"root_hash": "00" * 32})):
        path = os.path.join(_folder(), "state-%s" % label)
        with open(path, "w") as f:
            json.dump(dict(st, **change), f)
        rc, out = _witness("witness-a.example", state=path)
        c.check(rc == 1 and "REFUSED" in out, "a state that cosigned a %s tree: exit %s, expected 1\n%s"
                % (label, rc, out[-400:]))
        c.check(json.load(open(path)) == dict(st, **change), "the refused run changed its state file")
    S["cp_cosigned"] = latest
    c.done()


# ---------------------------------------------------------------- 3. the operator's rewrite

def _resign_checkpoint(size, root, row):
    """The CHECKPOINT record of (size, root) at the row's own time, signed with the exchange key
    that signed the row (the insider holds the key files)."""
    _, _, _, _, ts = struct.unpack(CP_FMT, bytes.fromhex(row["record"]))
    rec = struct.pack(CP_FMT, 56, 7, size, root, ts)
    sig = L.ed25519_sign(L.read_seed(S["keys"], row["key_id"]), rec)
    return rec, sig


def test_ledger_rewrite_refused_by_witnesses():
    _world()
    check("cp_cosigned" in S, "the witnesses did not cosign (previous test)")
    c = Collector()
    L._ed25519_selftest()
    entries = L.ledger_entries(S["url"])
    n = len(entries)
    a, b = entries[-2], entries[-1]
    # swap the two tail entries' positions, recompute leaf positions, chain and every root
    order = entries[:-2] + [b, a]
    prev = entries[-3]["chain"] if n > 2 else None
    stmts = ["SET session_replication_role = replica",
             "UPDATE ledger_entries SET leaf_index = -1 WHERE id = %d" % a["id"],
             "UPDATE ledger_entries SET leaf_index = %d WHERE id = %d" % (n - 2, b["id"]),
             "UPDATE ledger_entries SET leaf_index = %d WHERE id = %d" % (n - 1, a["id"])]
    for e in (b, a):
        prev = L.chain_step(prev, e["leaf"])
        stmts.append("UPDATE ledger_entries SET chain_hash = '\\x%s' WHERE id = %d" % (prev.hex(), e["id"]))
    leaves = [e["leaf"] for e in order]
    cps = [{"size": int(r[0]), "key_id": r[1], "record": r[2]} for r in L.rows(S["url"],
           "SELECT tree_size, key_id, encode(record, 'hex') FROM ledger_checkpoints WHERE tree_size >= %d"
           " ORDER BY tree_size" % (n - 1))]
    check(cps, "no checkpoint covers the tail")
    for row in cps:
        root = L.mth(leaves[:row["size"]])
        rec, sig = _resign_checkpoint(row["size"], root, row)
        stmts.append("UPDATE ledger_checkpoints SET root_hash = '\\x%s', record = '\\x%s', signature = '\\x%s'"
                     " WHERE tree_size = %d" % (root.hex(), rec.hex(), sig.hex(), row["size"]))
        stmts.append("DELETE FROM ledger_cosignatures WHERE tree_size = %d" % row["size"])
    L.sql(L.admin_url(S["db"]), ";\n".join(stmts))
    # the server restarts on the rewritten history (its tree cache is rebuilt) and goes on
    c.run("the first server's stop", S["srv"].check_stopped_cleanly)
    S["srv"] = L.LedgerServer("witness-after-rewrite", S["url"], S["keys"], port=_port())
    S["srv"].wait_ready()
    rewritten = _get("/v1/ledger/checkpoint")
    keys = L.write_json(_folder(), "keys-rw.json", _get("/v1/keys"))
    rc, out = L.verify("checkpoint", L.write_json(_folder(), "cp-rw.json", rewritten), keys)
    c.check(rc == 0, "the re-signed head verifies under the exchange's key alone: exit %s\n%s" % (rc, out[-600:]))
    _buy(52)
    latest = L.wait_sequenced(S["srv"].client, S["url"], S["admin"])
    for name in S["witnesses"]:
        rc, out = _witness(name)
        c.check(rc == 1 and "REFUSED" in out and "cosigned checkpoint" not in out,
                "%s after the rewrite: exit %s, expected 1 (refused)\n%s" % (name, rc, out[-600:]))
    for cp in (rewritten, _get("/v1/ledger/checkpoint")):
        c.check(cp["cosignatures"] == [], "checkpoint %d after the rewrite carries cosignatures %s"
                % (cp["tree_size"], cp["cosignatures"]))
        rc, out = _verify_quorum(cp, 2, "rw-%d" % cp["tree_size"])
        c.check(rc == 1, "suanli-verify --quorum 2 on checkpoint %d after the rewrite: exit %s, expected 1\n%s"
                % (cp["tree_size"], rc, out[-600:]))
    check(latest["tree_size"] > S["cp_cosigned"]["tree_size"], "no checkpoint after the rewrite")
    c.done()


# ---------------------------------------------------------------- 4. inconsistent rows: 503

LEDGER_ROUTES = ["/v1/ledger/checkpoint", "/v1/ledger/checkpoints", "/v1/ledger/entries?from=0"]


def _expect_503(c, label, extra_routes):
    deadline = time.time() + 6  # the scans behind a missing middle checkpoint run every 2 s
    while True:
        r = S["srv"].client.get("/readyz")
        if r.status == 503 or time.time() > deadline:
            break
        time.sleep(0.2)
    for path in ["/readyz"] + LEDGER_ROUTES + extra_routes:
        r = S["srv"].client.get(path, token=S["admin"])
        probs = harness.error_problems(r, 503, "ledger_inconsistent")
        c.check(not probs, "%s: GET %s: %s (%s)" % (label, path, r.short(), probs))


def _expect_200(c, label, extra_routes):
    deadline = time.time() + 6
    while S["srv"].client.get("/readyz").status != 200 and time.time() < deadline:
        time.sleep(0.2)
    for path in ["/readyz"] + LEDGER_ROUTES + extra_routes:
        r = S["srv"].client.get(path, token=S["admin"])
        c.check(r.status == 200, "%s, repaired: GET %s: %s" % (label, path, r.short()))
        if path.startswith("/v1/ledger/entries/") and r.status == 200:
            c.check(r.json["tree_size"] is not None, "an entry with leaf_index set and tree_size null: %s" % r.short())


def test_ledger_inconsistent_rows_answer_503():
    _world()
    c = Collector()
    adm = L.admin_url(S["db"])
    L.wait_sequenced(S["srv"].client, S["url"], S["admin"])
    cps = L.rows(S["url"], "SELECT tree_size, prev_size, encode(root_hash, 'hex'), signed_at, key_id,"
                           " encode(signature, 'hex'), encode(record, 'hex') FROM ledger_checkpoints ORDER BY 1")
    check(len(cps) >= 3, "need 3 checkpoints, have %d" % len(cps))
    eid = L.one(S["url"], "SELECT id FROM ledger_entries WHERE leaf_index = 0")
    tid = S["market"]["trades"][0]
    extra = ["/v1/ledger/entries/%s" % eid, "/v1/trades/%d/receipt" % tid,
             "/v1/ledger/checkpoints/%s" % cps[0][0], "/v1/ledger/consistency?from=0&to=%s" % cps[0][0]]

    def insert(row):
        return ("INSERT INTO ledger_checkpoints(tree_size, prev_size, root_hash, signed_at, key_id, signature, record)"
                " VALUES (%s, %s, '\\x%s', '%s', '%s', '\\x%s', '\\x%s')" % tuple(row))

    top = cps[-1]
    cases = [
        ("a checkpoint larger than the entries",
         insert([int(top[0]) + 5, top[0]] + top[2:]), "DELETE FROM ledger_checkpoints WHERE tree_size = %d"
         % (int(top[0]) + 5)),
        ("the latest checkpoint deleted", "DELETE FROM ledger_checkpoints WHERE tree_size = %s" % top[0], insert(top)),
        ("a middle checkpoint deleted", "DELETE FROM ledger_checkpoints WHERE tree_size = %s" % cps[1][0],
         insert(cps[1])),
    ]
    for label, break_sql, fix_sql in cases:
        L.sql(adm, "SET session_replication_role = replica;\n" + break_sql)
        try:
            _expect_503(c, label, extra)
        finally:
            L.sql(adm, "SET session_replication_role = replica;\n" + fix_sql)
        _expect_200(c, label, extra)
    # the sequencer went on after the repair
    _buy(54)
    L.wait_sequenced(S["srv"].client, S["url"], S["admin"])
    c.done()


def test_ledger_witness_server_stops_cleanly():
    L.stop_world(S)
