"""The signed ledger seen from outside: receipts, checkpoints and proofs checked offline with
tools/suanli-verify (exit 0 when genuine, exit 1 for any changed byte), money events in a
trade's receipt, deposit and withdrawal entries, a consistency proof from a checkpoint a client
kept to the latest, the auditor on an honest run, key rotation under a running server, and a
history rewritten by a superuser that the client holding the old checkpoint detects.

The module runs on its own database (ledger_util.create_db) with its own suanlid (ports
18500..18599, its own SUANLI_KEY_DIR, SUANLI_MAINTENANCE_MS=200), because the last test rewrites
history.  Tests run in file order and share the state in S; the first one builds the market.
"""
import os
import struct
import tempfile
import time

import harness
import ledger_util as L
from harness import Collector, Failed, check, hour

S = {}  # the module's world: db, url, keys, server, admin, market, folder, checkpoints, ...

TRADE_FMT = ">IIQQQQQQIqqqqIq"    # api/SIGNING.md TRADE, 104 bytes
MONEY_FMT = ">IIQQQQqqqq"         # money events, 72 bytes
CP_FMT = ">IIQ32sq"               # CHECKPOINT, 56 bytes


def decode_trade(rec_hex):
    f = struct.unpack(TRADE_FMT, bytes.fromhex(rec_hex))
    keys = ("size", "purpose", "entry_id", "trade_id", "order_id", "tenant_id", "provider_id", "pool_id", "gpus",
            "start", "end", "unit_price_minor", "total_minor", "fee_bp", "created_at")
    return dict(zip(keys, f))


def decode_money(rec_hex):
    f = struct.unpack(MONEY_FMT, bytes.fromhex(rec_hex))
    keys = ("size", "purpose", "entry_id", "trade_id", "account_id", "journal_txn_id", "to_tenant_minor",
            "to_provider_minor", "fee_minor", "at")
    return dict(zip(keys, f))


def _epoch(s):
    return int(harness.parse_ts(s).timestamp())


def _minor(s):
    neg = s.startswith("-")
    whole, _, frac = s.lstrip("-").partition(".")
    v = int(whole) * 100 + int((frac + "00")[:2])
    return -v if neg else v


def _folder():
    return S["folder"]


def _keys_file(name="keys.json"):
    r = S["srv"].client.get("/v1/keys")  # public: no token
    check(r.status == 200, "GET /v1/keys without a token: %s" % r.short())
    return L.write_json(_folder(), name, r.json), r.json


def _verify_obj(mode_obj, keys_path, name="receipt.json"):
    return L.verify("receipt", L.write_json(_folder(), name, mode_obj), keys_path)


def _receipt(trade_id, token=None):
    r = S["srv"].client.get("/v1/trades/%d/receipt" % trade_id, token=token or S["admin"])
    if r.status != 200:
        raise Failed("GET /v1/trades/%d/receipt: %s" % (trade_id, r.short()))
    return r.json


def _world():
    if "error" in S:
        raise Failed("the ledger world failed to start: %s" % S["error"])
    if "market" not in S:
        raise Failed("the ledger world was not built (test_ledger_market_run_receipts_verify runs first)")
    return S


def _buy(tenant, start_h, gpus=1, hours=1, region=None):
    body = {"gpus": gpus, "duration_hours": hours, "earliest_start": hour(start_h),
            "regions": [region or S["market"]["regions"][0]]}
    o = L.order(S["srv"].client, tenant["token"], body)
    check(o["state"] == "filled", "order not filled: %s" % o)
    return o


# ---------------------------------------------------------------- 1. receipts of a market run

def test_ledger_market_run_receipts_verify():
    try:
        name = L.db_name("suanli_e2e_ledger")
        S["db"] = name
        S["url"] = L.create_db(name)
        S["keys"] = L.key_dir("ledger")
        S["folder"] = tempfile.mkdtemp(prefix="ledger-", dir=harness.out_dir())
        S["srv"] = L.LedgerServer("ledger", S["url"], S["keys"])
        S["srv"].wait_ready()
        S["admin"] = L.bootstrap_admin(S["url"], S["keys"])
        S["market"] = L.build_market(S["srv"].client, S["admin"], harness.RUN)
        # the client keeps the checkpoint that covers the market so far ...
        S["cp_old"] = L.wait_sequenced(S["srv"].client, S["url"], S["admin"])
        # ... and the market goes on
        t = S["market"]["tenants"]
        o1 = _buy(t[0], 50, 2, 2)
        o2 = _buy(t[2], 52, 1, 3, S["market"]["regions"][1])
        S["market"]["trades"] += [x["id"] for x in o1["trades"] + o2["trades"]]
        S["cp_new"] = L.wait_sequenced(S["srv"].client, S["url"], S["admin"])
    except Exception as e:
        S["error"] = str(e)
        raise
    c = Collector()
    m = S["market"]
    check(S["cp_new"]["tree_size"] > S["cp_old"]["tree_size"],
          "the second checkpoint (%s) is not larger than the first (%s)" % (S["cp_new"]["tree_size"],
                                                                           S["cp_old"]["tree_size"]))
    keys_path, keys = _keys_file()
    c.check(len(keys.get("keys", [])) == 1, "GET /v1/keys lists %d keys on a fresh exchange, expected 1"
            % len(keys.get("keys", [])))
    n_entries = int(L.one(S["url"], "SELECT count(*) FROM ledger_entries"))
    n_trades = int(L.one(S["url"], "SELECT count(*) FROM trades"))
    c.check(n_trades == len(m["trades"]), "%d trades in the database, %d made through the API"
            % (n_trades, len(m["trades"])))
    owner = {x["id"]: x for x in m["tenants"]}
    leaves = {e["leaf_index"]: e["leaf"] for e in L.ledger_entries(S["url"])}
    tree = [leaves[i] for i in range(len(leaves))]
    for tid in m["trades"]:
        tr = L.one(S["url"], "SELECT tenant_id FROM trades WHERE id = %d" % tid)
        rc_ = _receipt(tid, token=owner[int(tr)]["token"])  # the tenant itself fetches it
        rc, out = _verify_obj(rc_, keys_path, "receipt-%d.json" % tid)
        if not c.check(rc == 0, "trade %d: suanli-verify receipt exit %s, expected 0:\n%s" % (tid, rc, out[-1500:])):
            continue
        # what the signed bytes say is the trade the API shows
        rec = decode_trade(rc_["record"])
        t = rc_["trade"]
        want = {"size": 104, "purpose": 1, "entry_id": rc_["entry_id"], "trade_id": t["id"], "order_id": t["order_id"],
                "tenant_id": t["tenant_id"], "provider_id": t["provider_id"], "pool_id": t["pool_id"],
                "gpus": t["gpus"], "start": _epoch(t["start"]), "end": _epoch(t["end"]),
                "unit_price_minor": _minor(t["unit_price"]), "total_minor": _minor(t["total"]),
                "fee_bp": t["fee_bp"], "created_at": _epoch(t["created_at"])}
        diff = {k: (rec[k], v) for k, v in want.items() if rec[k] != v}
        c.check(not diff, "trade %d: signed record differs from the trade (signed, API): %s" % (tid, diff))
        c.check(rc_["tree_size"] == S["cp_new"]["tree_size"] and rc_["checkpoint"] == S["cp_new"],
                "trade %d: receipt is not against the latest checkpoint (tree_size %s)" % (tid, rc_["tree_size"]))
        # an independent check of the inclusion proof (RFC 9162 2.1.3.2) and the leaf hash
        li = rc_["leaf_index"]
        lh = L.leaf_hash(bytes.fromhex(rc_["record"]), rc_["key_id"], bytes.fromhex(rc_["signature"]))
        c.check(leaves.get(li) == lh, "trade %d: the leaf hash of the receipt is not the stored leaf %s" % (tid, li))
        c.check(_inclusion_ok(lh, li, rc_["tree_size"], rc_["inclusion_proof"], rc_["checkpoint"]["root_hash"]),
                "trade %d: the inclusion proof does not verify in Python" % tid)
    c.check(L.mth(tree) == bytes.fromhex(S["cp_new"]["root_hash"]),
            "the checkpoint root is not the Merkle root of the stored leaf hashes recomputed in Python")
    c.check(S["cp_new"]["tree_size"] == n_entries, "latest checkpoint covers %s of %s entries"
            % (S["cp_new"]["tree_size"], n_entries))
    # the latest checkpoint by itself
    rc, out = L.verify("checkpoint", L.write_json(_folder(), "cp-new.json", S["cp_new"]), keys_path)
    c.check(rc == 0, "suanli-verify checkpoint on the latest checkpoint: exit %s\n%s" % (rc, out[-800:]))
    # a receipt is not for someone else: another tenant gets 404
    other = m["tenants"][1]
    r = S["srv"].client.get("/v1/trades/%d/receipt" % m["cancelled_late"], token=other["token"])
    c.check(r.status == 404, "another tenant's receipt: %s, expected 404" % r.status)
    c.done()


def _inclusion_ok(leaf, index, size, proof, root_hex):
    """RFC 9162 section 2.1.3.2, written out independently of the C verifier."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        p = bytes.fromhex(p)
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = L.sha256(b"\x01" + p + r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = L.sha256(b"\x01" + r + p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == bytes.fromhex(root_hex)


# ---------------------------------------------------------------- 2. any changed byte fails

def _tamper_cases(rc_):
    """(label, tampered receipt) for many single-byte changes of one receipt."""
    cases = []
    rec_len = len(rc_["record"]) // 2
    for pos in sorted({0, 3, 4, 7, 8, 15, 16, 24, 40, 56, 60, 76, 84, 92, 96, rec_len - 1}):
        if pos < rec_len:
            cases.append(("record byte %d" % pos, dict(rc_, record=L.flip_hex(rc_["record"], pos))))
    for pos in (0, 1, 31, 32, 62, 63):
        cases.append(("signature byte %d" % pos, dict(rc_, signature=L.flip_hex(rc_["signature"], pos))))
    proof = rc_["inclusion_proof"]
    for i in sorted({0, len(proof) // 2, len(proof) - 1}):
        for pos in (0, 17, 31):
            p = list(proof)
            p[i] = L.flip_hex(p[i], pos)
            cases.append(("proof element %d byte %d" % (i, pos), dict(rc_, inclusion_proof=p)))
    cases.append(("proof element dropped", dict(rc_, inclusion_proof=proof[:-1])))
    cases.append(("proof element added", dict(rc_, inclusion_proof=proof + [proof[0]])))
    cases.append(("two proof elements swapped", dict(rc_, inclusion_proof=[proof[1], proof[0]] + proof[2:])))
    cp = rc_["checkpoint"]
    for pos in (0, 16, 31):
        cases.append(("checkpoint root_hash byte %d" % pos, dict(rc_, checkpoint=dict(cp, root_hash=L.flip_hex(cp["root_hash"], pos)))))
        # the root changed consistently in the JSON and in the signed record: the signature must catch it
        cases.append(("checkpoint root byte %d in both root_hash and record" % pos,
                      dict(rc_, checkpoint=dict(cp, root_hash=L.flip_hex(cp["root_hash"], pos),
                                                record=L.flip_hex(cp["record"], 16 + pos)))))
    for pos in (0, 30, 63):
        cases.append(("checkpoint signature byte %d" % pos, dict(rc_, checkpoint=dict(cp, signature=L.flip_hex(cp["signature"], pos)))))
    for pos in (8, 15, 48, 55):
        cases.append(("checkpoint record byte %d" % pos, dict(rc_, checkpoint=dict(cp, record=L.flip_hex(cp["record"], pos)))))
    cases.append(("key_id byte 0", dict(rc_, key_id=L.flip_hex(rc_["key_id"], 0))))
    cases.append(("entry_id + 1", dict(rc_, entry_id=rc_["entry_id"] + 1)))
    cases.append(("leaf_index + 1", dict(rc_, leaf_index=rc_["leaf_index"] + 1)))
    if rc_["leaf_index"] > 0:
        cases.append(("leaf_index - 1", dict(rc_, leaf_index=rc_["leaf_index"] - 1)))
    cases.append(("tree_size + 1", dict(rc_, tree_size=rc_["tree_size"] + 1)))
    return cases


def test_ledger_tampered_receipts_fail():
    w = _world()
    c = Collector()
    keys_path, keys = _keys_file()
    targets = [w["market"]["cancelled_late"], w["market"]["trades"][0]]
    n = 0
    for tid in targets:
        rc_ = _receipt(tid)
        rc, out = _verify_obj(rc_, keys_path, "t-base.json")
        if not c.check(rc == 0, "trade %d: the untouched receipt does not verify (exit %s)" % (tid, rc)):
            continue
        cases = _tamper_cases(rc_)
        for ev in rc_["money_events"]:
            cases += [("money event %d: %s" % (ev["entry_id"], lab), x) for lab, x in _tamper_cases(ev)[::3]]
        for label, bad in cases:
            n += 1
            rc, out = _verify_obj(bad, keys_path, "t-bad.json")
            c.check(rc == 1, "trade %d, %s: suanli-verify exit %s, expected 1:\n%s" % (tid, label, rc, out[-600:]))
    # a changed public key in the keys file
    k0 = keys["keys"][0]
    bad_keys = {"keys": [dict(k0, public_key=L.flip_hex(k0["public_key"], 5))]}
    rc, out = L.verify("receipt", L.write_json(_folder(), "t-base2.json", _receipt(targets[0])),
                       L.write_json(_folder(), "keys-bad.json", bad_keys))
    c.check(rc == 1, "receipt against a keys file with a changed public key: exit %s, expected 1" % rc)
    check(n >= 100, "only %d tampered receipts were tried" % n)
    c.done()


# ---------------------------------------------------------------- 3. money events of a trade

def test_ledger_cancellation_money_events_in_receipt():
    w = _world()
    c = Collector()
    keys_path, _ = _keys_file()
    for tid in (w["market"]["cancelled_free"], w["market"]["cancelled_late"]):
        rc_ = _receipt(tid)
        t = rc_["trade"]
        evs = rc_["money_events"]
        txns = L.rows(S["url"], "SELECT id FROM journal_txns WHERE trade_id = %d AND kind = 'cancellation'" % tid)
        if not c.check(len(evs) == 1 and len(txns) == 1,
                       "trade %d: %d money events in the receipt and %d cancellation transactions, expected 1 and 1"
                       % (tid, len(evs), len(txns))):
            continue
        ev = evs[0]
        rec = decode_money(ev["record"])
        total, refunded, fee = _minor(t["total"]), _minor(t["refunded"]), _minor(t["fee"])
        want = {"size": 72, "purpose": 2, "entry_id": ev["entry_id"], "trade_id": tid, "account_id": t["tenant_id"],
                "journal_txn_id": int(txns[0][0]), "to_tenant_minor": refunded,
                "to_provider_minor": total - refunded - fee, "fee_minor": fee}
        diff = {k: (rec[k], v) for k, v in want.items() if rec[k] != v}
        c.check(not diff, "trade %d: the CANCELLATION record differs (signed, expected): %s" % (tid, diff))
        c.check(ev.get("journal_txn_id") == int(txns[0][0]), "trade %d: event journal_txn_id %r" % (tid, ev.get("journal_txn_id")))
        c.check(_epoch(t["cancelled_at"]) == rec["at"], "trade %d: signed at %s, cancelled_at %s"
                % (tid, rec["at"], t["cancelled_at"]))
        rc, out = _verify_obj(ev, keys_path, "event-%d.json" % tid)
        c.check(rc == 0, "trade %d: the cancellation event does not verify (exit %s):\n%s" % (tid, rc, out[-800:]))
        # the money event's own entry, fetched by id by the tenant, is the same signed entry
        r = S["srv"].client.get("/v1/ledger/entries/%d" % ev["entry_id"],
                                token=[x for x in w["market"]["tenants"] if x["id"] == t["tenant_id"]][0]["token"])
        if c.check(r.status == 200, "the tenant's GET /v1/ledger/entries/%d: %s" % (ev["entry_id"], r.short())):
            c.check(r.json["record"] == ev["record"] and r.json["signature"] == ev["signature"],
                    "entry %d differs from the receipt's money event" % ev["entry_id"])
    # the late cancellation paid the provider and the exchange: both non-zero
    ev = _receipt(w["market"]["cancelled_late"])["money_events"]
    if ev:
        rec = decode_money(ev[0]["record"])
        c.check(rec["to_provider_minor"] > 0 and rec["fee_minor"] > 0,
                "the charged cancellation signs provider %s and fee %s, expected both > 0"
                % (rec["to_provider_minor"], rec["fee_minor"]))
    c.done()


# ---------------------------------------------------------------- 4. deposits and withdrawals

def _entry_of_txn(txn):
    v = L.one(S["url"], "SELECT id FROM ledger_entries WHERE journal_txn_id = %d" % txn)
    check(v, "journal transaction %d has no ledger entry" % txn)
    return int(v)


def test_ledger_deposit_and_withdrawal_entries():
    w = _world()
    c = Collector()
    keys_path, _ = _keys_file()
    m = w["market"]
    cases = [(txn, acct, 5, "deposit") for txn, acct in m["deposits"]] + \
            [(txn, acct, 6, "withdrawal") for txn, acct in m["withdrawals"]]
    for txn, acct, purpose, kind in cases:
        eid = _entry_of_txn(txn)
        r = S["srv"].client.get("/v1/ledger/entries/%d" % eid, token=S["admin"])
        if not c.check(r.status == 200, "admin GET /v1/ledger/entries/%d (%s): %s" % (eid, kind, r.short())):
            continue
        e = r.json
        c.check(e.get("entry_id") == eid and e.get("purpose") == purpose and e.get("journal_txn_id") == txn
                and e.get("trade_id") is None,
                "%s entry %d: %s" % (kind, eid, {k: e.get(k) for k in ("entry_id", "purpose", "journal_txn_id", "trade_id")}))
        for k in ("leaf_index", "tree_size", "inclusion_proof", "checkpoint"):
            c.check(e.get(k) is not None, "%s entry %d: %s is null after sequencing" % (kind, eid, k))
        rec = decode_money(e["record"])
        amount = int(L.one(S["url"], "SELECT p.amount FROM postings p JOIN ledger_accounts la ON la.id = p.ledger_account_id"
                                     " WHERE p.txn_id = %d AND la.owner_id = %d AND la.purpose = 'available'" % (txn, acct)))
        want = {"purpose": purpose, "entry_id": eid, "trade_id": 0, "account_id": acct, "journal_txn_id": txn,
                "to_tenant_minor": amount, "to_provider_minor": 0, "fee_minor": 0}
        diff = {k: (rec[k], v) for k, v in want.items() if rec[k] != v}
        c.check(not diff, "%s entry %d: signed record differs (signed, expected): %s" % (kind, eid, diff))
        c.check((amount > 0) == (purpose == 5), "%s of %d minor units has the wrong sign" % (kind, amount))
        rc, out = _verify_obj(e, keys_path, "entry-%d.json" % eid)
        c.check(rc == 0, "%s entry %d: suanli-verify receipt exit %s:\n%s" % (kind, eid, rc, out[-800:]))
        bad = dict(e, record=L.flip_hex(e["record"], 47))  # a byte of to_tenant_minor
        rc, _ = _verify_obj(bad, keys_path, "entry-bad.json")
        c.check(rc == 1, "%s entry %d with a changed amount: exit %s, expected 1" % (kind, eid, rc))
        # someone else cannot read it
        other = [t for t in m["tenants"] if t["id"] != acct][0]
        r = S["srv"].client.get("/v1/ledger/entries/%d" % eid, token=other["token"])
        c.check(r.status == 404, "another tenant reads %s entry %d: %s, expected 404" % (kind, eid, r.status))
        r = S["srv"].client.get("/v1/ledger/entries/%d" % eid, token=m["providers"][0]["token"])
        c.check(r.status == 404, "a provider reads %s entry %d: %s, expected 404" % (kind, eid, r.status))
    r = S["srv"].client.get("/v1/ledger/entries/999999999", token=S["admin"])
    c.check(r.status == 404, "GET /v1/ledger/entries/999999999: %s, expected 404" % r.status)
    c.done()


def test_ledger_deposit_entry_readable_by_its_account():
    """src/http/README.md: GET /v1/ledger/entries/{id} is for "any (parties, operators of the
    region, admins)"; the party of a deposit or withdrawal is the account whose money moved."""
    w = _world()
    c = Collector()
    m = w["market"]
    tok = {t["id"]: t["token"] for t in m["tenants"]}
    for txn, acct in m["deposits"][:1] + m["withdrawals"]:
        eid = _entry_of_txn(txn)
        r = S["srv"].client.get("/v1/ledger/entries/%d" % eid, token=tok[acct])
        c.check(r.status == 200, "account %d reads the entry %d of its own deposit/withdrawal (txn %d): %s, expected 200"
                % (acct, eid, txn, r.short()))
    c.done()


# ---------------------------------------------------------------- 5. consistency

def test_ledger_consistency_old_checkpoint_to_latest():
    w = _world()
    c = Collector()
    keys_path, _ = _keys_file()
    old, new = w["cp_old"], w["cp_new"]
    cl = S["srv"].client
    r = cl.get("/v1/ledger/checkpoints/%d" % old["tree_size"], token=S["admin"])
    c.check(r.status == 200 and r.json == old, "GET /v1/ledger/checkpoints/%d differs from the kept one: %s"
            % (old["tree_size"], r.short()))
    r = cl.get("/v1/ledger/consistency?from=%d&to=%d" % (old["tree_size"], new["tree_size"]), token=S["admin"])
    check(r.status == 200, "GET /v1/ledger/consistency: %s" % r.short())
    proof = r.json
    c.check(proof.get("from") == old["tree_size"] and proof.get("to") == new["tree_size"], "proof %s" % proof)
    po, pn, pp = (L.write_json(_folder(), "cons-old.json", old), L.write_json(_folder(), "cons-new.json", new),
                  L.write_json(_folder(), "cons-proof.json", proof))
    rc, out = L.verify("consistency", po, pn, pp, keys_path)
    c.check(rc == 0, "suanli-verify consistency old -> latest: exit %s\n%s" % (rc, out[-1000:]))
    # the same size on both sides: an empty proof
    r = cl.get("/v1/ledger/consistency?from=%d&to=%d" % (new["tree_size"], new["tree_size"]), token=S["admin"])
    if c.check(r.status == 200 and r.json.get("proof") == [], "consistency n -> n: %s" % r.short()):
        rc, out = L.verify("consistency", pn, pn, L.write_json(_folder(), "cons-same.json", r.json), keys_path)
        c.check(rc == 0, "consistency n -> n: exit %s" % rc)
    # a changed proof element, or the checkpoints the wrong way round, fail
    for i in range(len(proof["proof"])):
        bad = dict(proof, proof=[L.flip_hex(h, 9) if j == i else h for j, h in enumerate(proof["proof"])])
        rc, out = L.verify("consistency", po, pn, L.write_json(_folder(), "cons-bad.json", bad), keys_path)
        c.check(rc == 1, "consistency proof with element %d changed: exit %s, expected 1" % (i, rc))
    bad_old = dict(old, root_hash=L.flip_hex(old["root_hash"], 3), record=L.flip_hex(old["record"], 19))
    rc, _ = L.verify("consistency", L.write_json(_folder(), "cons-old-bad.json", bad_old), pn, pp, keys_path)
    c.check(rc == 1, "consistency with a changed old root: exit %s, expected 1" % rc)
    # a size that is no checkpoint
    r = cl.get("/v1/ledger/consistency?from=%d&to=%d" % (old["tree_size"], new["tree_size"] + 1000), token=S["admin"])
    c.check(r.status == 404, "consistency to a size that is no checkpoint: %s, expected 404" % r.status)
    S["cp_client"] = old  # what the client keeps for the rewrite test
    c.done()


# ---------------------------------------------------------------- 6. the auditor, honest run

def test_ledger_audit_clean_after_market_run():
    _world()
    rc, findings, err = L.audit(S["url"], S["keys"])
    check(rc == 0 and not findings, "suanlid audit after an honest run: exit %s, %d finding(s): %s %s"
          % (rc, len(findings), findings[:5], err[-300:]))


# ---------------------------------------------------------------- 7. key rotation

def test_ledger_key_rotation_under_running_server():
    w = _world()
    c = Collector()
    cl = S["srv"].client
    old_keys = cl.get("/v1/keys").json["keys"]
    check(len(old_keys) == 1, "keys before rotation: %s" % old_keys)
    old_id = old_keys[0]["key_id"]
    old_receipts = {tid: _receipt(tid) for tid in w["market"]["trades"][:4]}
    p = L.cli(S["url"], S["keys"], "rotate-key")
    check(p.returncode == 0, "suanlid rotate-key: exit %s: %s" % (p.returncode, p.stderr[-500:]))
    new_id = p.stdout.strip()
    check(len(new_id) == 16 and new_id != old_id, "rotate-key printed %r" % p.stdout)
    S["rotated_key"] = new_id
    check(os.path.exists(os.path.join(S["keys"], new_id + ".key")), "no key file %s.key in SUANLI_KEY_DIR" % new_id)
    keys_path, keys = _keys_file("keys-rotated.json")
    by_id = {k["key_id"]: k for k in keys["keys"]}
    c.check(set(by_id) == {old_id, new_id}, "GET /v1/keys after rotation lists %s, expected both %s and %s"
            % (sorted(by_id), old_id, new_id))
    if set(by_id) == {old_id, new_id}:
        c.check(by_id[old_id]["valid_until"] is not None, "the old key has no valid_until after rotation")
        c.check(by_id[new_id]["valid_until"] is None, "the new key has a valid_until")
        c.check(by_id[old_id]["valid_until"] == by_id[new_id]["valid_from"],
                "old key valid until %s, new key valid from %s" % (by_id[old_id]["valid_until"], by_id[new_id]["valid_from"]))
    # trades made by the server that was running all along: right after the rotation (the key
    # valid at the record's time signs it), then once the new key's validity has begun
    t = w["market"]["tenants"][2]
    new_from = _epoch(by_id[new_id]["valid_from"]) if new_id in by_id else int(time.time())
    c.check(new_from - time.time() < 60, "the new key takes effect only at %s" % by_id.get(new_id, {}).get("valid_from"))
    fresh = [x["id"] for x in _buy(t, 60, 1, 1)["trades"]]
    time.sleep(max(0.0, min(60, new_from - time.time()) + 0.3))
    after = [x["id"] for x in _buy(t, 61, 1, 1)["trades"] + _buy(t, 62, 2, 1)["trades"]]
    fresh += after
    w["market"]["trades"] += fresh
    cp = L.wait_sequenced(cl, S["url"], S["admin"])
    for tid in fresh:
        rc_ = _receipt(tid)
        signed_at = decode_trade(rc_["record"])["created_at"]
        want = new_id if signed_at >= new_from else old_id
        c.check(rc_["key_id"] == want, "trade %d (signed at %d, new key valid from %d) is signed by key %s, expected %s"
                % (tid, signed_at, new_from, rc_["key_id"], want))
        c.check(tid not in after or rc_["key_id"] == new_id,
                "trade %d made after the new key's valid_from is signed by %s, not the new key %s"
                % (tid, rc_["key_id"], new_id))
        rc, out = _verify_obj(rc_, keys_path, "rot-%d.json" % tid)
        c.check(rc == 0, "trade %d made after the rotation: suanli-verify exit %s, expected 0:\n%s" % (tid, rc, out[-900:]))
    # old receipts (taken before) still verify with the published keys (old key now bounded)
    for tid, rc_ in old_receipts.items():
        c.check(rc_["key_id"] == old_id, "trade %d was signed by %s before the rotation" % (tid, rc_["key_id"]))
        rc, out = _verify_obj(rc_, keys_path, "old-%d.json" % tid)
        c.check(rc == 0, "trade %d's receipt from before the rotation: exit %s with the new keys file:\n%s"
                % (tid, rc, out[-900:]))
        # and fetched again now (proof against the newest checkpoint, signed by the new key)
        rc, out = _verify_obj(_receipt(tid), keys_path, "old2-%d.json" % tid)
        c.check(rc == 0, "trade %d's receipt fetched after the rotation: exit %s:\n%s" % (tid, rc, out[-900:]))
    # consistency across the rotation: the kept checkpoint (old key) to the latest (new key)
    old = S["cp_client"] if "cp_client" in S else S["cp_old"]
    r = cl.get("/v1/ledger/consistency?from=%d&to=%d" % (old["tree_size"], cp["tree_size"]), token=S["admin"])
    if c.check(r.status == 200, "consistency across the rotation: %s" % r.short()):
        rc, out = L.verify("consistency", L.write_json(_folder(), "rot-old.json", old),
                           L.write_json(_folder(), "rot-new.json", cp), L.write_json(_folder(), "rot-proof.json", r.json),
                           keys_path)
        c.check(rc == 0, "consistency across the rotation: exit %s\n%s" % (rc, out[-800:]))
    rc, findings, err = L.audit(S["url"], S["keys"])
    c.check(rc == 0 and not findings, "suanlid audit after the rotation: exit %s, %d finding(s): %s"
            % (rc, len(findings), findings[:5]))
    S["cp_rotated"] = cp
    c.done()


# ---------------------------------------------------------------- 8. history rewritten

def test_ledger_rewritten_history_detected_by_client():
    """A superuser changes an old entry (a trade's total in its record), recomputes its leaf hash
    and every later leaf/chain hash, re-signs nothing, and restarts the server so that it
    believes the new history.  The client still holds the checkpoint it kept earlier: the
    server's consistency proof from it to any later checkpoint no longer verifies."""
    w = _world()
    c = Collector()
    kept = S.get("cp_client", S["cp_old"])
    keys_path, _ = _keys_file("keys-rewrite.json")
    entries = L.ledger_entries(S["url"])
    victims = [e for e in entries if e["purpose"] == 1 and e["leaf_index"] < kept["tree_size"]]
    check(victims, "no TRADE entry below the kept checkpoint's size %d" % kept["tree_size"])
    v = victims[len(victims) // 2]
    rec = bytearray(v["record"])
    total = struct.unpack(">q", rec[84:92])[0]
    rec[84:92] = struct.pack(">q", total // 2)  # the trade now costs half
    rec = bytes(rec)
    prev = entries[v["leaf_index"] - 1]["chain"] if v["leaf_index"] > 0 else None
    stmts = ["SET session_replication_role = replica"]
    for e in entries[v["leaf_index"]:]:
        r = rec if e["id"] == v["id"] else e["record"]
        lh = L.leaf_hash(r, e["key_id"], e["sig"])
        ch = L.chain_step(prev, lh)
        prev = ch
        stmts.append("UPDATE ledger_entries SET record = '\\x%s', leaf_hash = '\\x%s', chain_hash = '\\x%s' WHERE id = %d"
                     % (r.hex(), lh.hex(), ch.hex(), e["id"]))
    L.sql(L.admin_url(S["db"]), ";\n".join(stmts))
    vt = struct.unpack(">Q", rec[16:24])[0]
    # the running server serves the rewritten entry with a proof from its cache: it does not verify
    rc, out = _verify_obj(_receipt(vt), keys_path, "rw-receipt.json")
    c.check(rc == 1, "the rewritten trade %d's receipt: suanli-verify exit %s, expected 1" % (vt, rc))
    # the server restarts and now believes the rewritten history; the market goes on
    c.run("the first server's stop", S["srv"].check_stopped_cleanly)
    S["srv"] = L.LedgerServer("ledger-after-rewrite", S["url"], S["keys"])
    S["srv"].wait_ready()
    o = _buy(w["market"]["tenants"][0], 70, 1, 1)
    w["market"]["trades"] += [x["id"] for x in o["trades"]]
    latest = L.wait_sequenced(S["srv"].client, S["url"], S["admin"])
    check(latest["tree_size"] > S["cp_new"]["tree_size"], "no new checkpoint after the rewrite: %s" % latest)
    # the new head is well signed by itself ...
    rc, out = L.verify("checkpoint", L.write_json(_folder(), "rw-latest.json", latest), keys_path)
    c.check(rc == 0, "the checkpoint signed after the rewrite: exit %s (it is signed by the exchange)" % rc)
    # ... but the client that kept the old head detects the rewrite
    for name, new in (("latest", latest), ("the checkpoint the client saw next", S["cp_new"])):
        r = S["srv"].client.get("/v1/ledger/consistency?from=%d&to=%d" % (kept["tree_size"], new["tree_size"]),
                                token=S["admin"])
        if r.status != 200:
            continue  # the server cannot produce a proof: detected too
        rc, out = L.verify("consistency", L.write_json(_folder(), "rw-old.json", kept),
                           L.write_json(_folder(), "rw-new.json", new), L.write_json(_folder(), "rw-proof.json", r.json),
                           keys_path)
        c.check(rc == 1, "consistency from the kept checkpoint (size %d) to %s (size %d) after the rewrite: "
                "suanli-verify exit %s, expected 1 (rewrite undetected):\n%s"
                % (kept["tree_size"], name, new["tree_size"], rc, out[-800:]))
    # and the auditor names the rewritten entry
    rc, findings, _ = L.audit(S["url"], S["keys"])
    named = [f for f in findings if f.get("table") == "ledger_entries" and f.get("id") == str(v["id"])]
    c.check(rc == 1 and named, "suanlid audit after the rewrite: exit %s, findings on entry %d: %s (all: %s)"
            % (rc, v["id"], named, findings[:6]))
    c.done()


def test_ledger_server_stops_cleanly():
    L.stop_world(S)
