"""The tamper suite: `suanlid audit` must name every row a superuser changed behind the
exchange's back (DESIGN.md invariants 2-4; STYLE.md "An auditor ... its test breaks one row at
a time and checks the report names it").

One honest market run (ledger_util.build_market, then a key rotation with the server stopped
and a few more trades signed by the new key) is built into a base database, which then serves
as the TEMPLATE of one fresh copy per mutation.  Each mutation is applied to its copy as the
superuser with `SET session_replication_role = replica` (the append-only triggers and foreign
keys do not fire; a real CHECK is dropped only where the mutation needs it), `suanlid audit`
runs on the copy, and the test requires exit status 1 and a finding whose (table, id) names the
mutated row, exactly as the auditor reports rows (`id` is a string: the row's id, a key's
key_id, a checkpoint's tree_size).  Where a row is deleted, the row left inconsistent names it
(the trade or journal transaction that lost its entry or leg).  The untouched copy must audit
clean.

Each mutation is its own test (`test_tamper_<name>`), so `run.py -k tamper_trade_pool` runs one;
what the auditor said about each is written to <SUANLI_E2E_OUT>/tamper-report.txt.
"""
import os
import secrets
import struct
import time

import harness
import ledger_util as L
from harness import Failed, check, hour

B = {}  # the base database: name, url, keys, info


def _report(line):
    with open(os.path.join(harness.out_dir(), "tamper-report.txt"), "a", encoding="utf-8") as f:
        f.write(line + "\n")


# ---------------------------------------------------------------- the base run

def _buy(client, token, region, start_h, gpus=1, hours=1):
    o = L.order(client, token, {"gpus": gpus, "duration_hours": hours, "earliest_start": hour(start_h),
                                "regions": [region]})
    check(o["state"] == "filled", "order not filled: %s" % o)
    return o


def _build_base():
    name = L.db_name("suanli_e2e_tamper_base")
    url = L.create_db(name)
    keys = L.key_dir("tamper")
    B.update(db=name, url=url, keys=keys)
    srv = L.LedgerServer("tamper-base", url, keys)
    try:
        srv.wait_ready()
        admin = L.bootstrap_admin(url, keys)
        m = L.build_market(srv.client, admin, "tp" + harness.RUN)
        L.wait_sequenced(srv.client, url, admin)
    except Exception:
        srv.stop()
        raise
    srv.check_stopped_cleanly()
    # a second key, rotated while no server runs; the rotation takes effect a few seconds later
    # (valid_from in the future): wait for it, so that the trades below are signed by the new key
    p = L.cli(url, keys, "rotate-key")
    check(p.returncode == 0, "rotate-key: %s %s" % (p.returncode, p.stderr[-300:]))
    start = float(L.one(url, "SELECT extract(epoch FROM valid_from) FROM exchange_keys WHERE key_id = '%s'"
                        % p.stdout.strip()))
    check(start - time.time() < 60, "the rotation takes effect %.0f s from now" % (start - time.time()))
    time.sleep(max(0.0, start - time.time() + 0.3))
    srv = L.LedgerServer("tamper-base2", url, keys)
    try:
        srv.wait_ready()
        t = m["tenants"]
        for i in range(3):
            o = _buy(srv.client, t[i]["token"], m["regions"][i % 2], 60 + i, 1 + i, 1)
            m["trades"] += [x["id"] for x in o["trades"]]
        d = L.deposit(srv.client, admin, t[2]["id"], "42.00")
        m["deposits"].append((d["txn_id"], t[2]["id"]))
        o = _buy(srv.client, t[2]["token"], m["regions"][0], 64, 1, 2)
        m["trades"] += [x["id"] for x in o["trades"]]
        L.wait_sequenced(srv.client, url, admin)
    except Exception:
        srv.stop()
        raise
    srv.check_stopped_cleanly()
    B["market"] = m
    B["info"] = _info(url, m)


def _info(url, m):
    """Everything the mutations pick their rows from."""
    i = {"entries": L.ledger_entries(url)}
    n_all = int(L.one(url, "SELECT count(*) FROM ledger_entries"))
    check(n_all == len(i["entries"]), "base: %d entries, %d sequenced" % (n_all, len(i["entries"])))
    i["trades"] = {int(r[0]): {"id": int(r[0]), "state": r[1], "tenant_id": int(r[2]), "pool_id": int(r[3]),
                               "refunded": int(r[4]), "total": int(r[5])}
                   for r in L.rows(url, "SELECT id, state, tenant_id, pool_id, refunded_minor, total_minor"
                                        " FROM trades ORDER BY id")}
    i["trade_entry"] = {e["trade_id"]: e for e in i["entries"] if e["purpose"] == 1}
    i["txn_entry"] = {e["txn_id"]: e for e in i["entries"] if e["txn_id"] is not None}
    cps = L.rows(url, "SELECT tree_size, key_id, encode(record, 'hex') FROM ledger_checkpoints ORDER BY tree_size")
    i["checkpoints"] = [int(r[0]) for r in cps]
    i["checkpoint_rows"] = [{"size": int(r[0]), "key_id": r[1], "record": bytes.fromhex(r[2])} for r in cps]
    i["keys"] = [r[0] for r in L.rows(url, "SELECT key_id FROM exchange_keys ORDER BY valid_from")]
    check(len(i["keys"]) == 2, "base: keys %s, expected 2 after the rotation" % i["keys"])
    i["per_key"] = {k: sum(1 for e in i["entries"] if e["key_id"] == k) for k in i["keys"]}
    check(all(i["per_key"].values()), "base: entries per key %s, expected both keys to sign some" % i["per_key"])
    i["pools"] = [int(r[0]) for r in L.rows(url, "SELECT id FROM pools ORDER BY id")]
    i["tenants"] = [t["id"] for t in m["tenants"]]
    i["total_check"] = L.one(url, "SELECT conname FROM pg_constraint WHERE conrelid = 'trades'::regclass"
                                  " AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%total_minor = %'")
    check(i["total_check"], "base: no CHECK on trades.total_minor found")
    # postings of deposits into a tenant's available account, oldest first
    i["deposit_postings"] = [(int(r[0]), int(r[1]), int(r[2])) for r in L.rows(url,
        "SELECT p.id, p.txn_id, p.ledger_account_id FROM postings p JOIN journal_txns j ON j.id = p.txn_id"
        " JOIN ledger_accounts la ON la.id = p.ledger_account_id"
        " WHERE j.kind = 'deposit' AND la.purpose = 'available' ORDER BY p.id")]
    i["accounts"] = {(int(r[1]) if r[1] else 0, r[2]): int(r[0]) for r in L.rows(url,
        "SELECT id, owner_id, purpose FROM ledger_accounts")}
    # issue 18: power, the calendar, reservations and the audit log
    i["admin_id"] = int(L.one(url, "SELECT id FROM accounts WHERE name = 'admin'"))
    i["tokens"] = [(int(r[0]), int(r[1])) for r in L.rows(url,
        "SELECT t.id, t.account_id FROM api_tokens t JOIN accounts a ON a.id = t.account_id"
        " WHERE a.kind = 'tenant' AND t.revoked_at IS NULL ORDER BY t.id")]
    i["slots"] = [(int(r[0]), r[1], r[2], int(r[3]), int(r[4])) for r in L.rows(url,
        "SELECT s.pool_id, s.slot::text, sl_ts(s.slot), s.booked, s.capacity FROM pool_slots s"
        " WHERE s.booked > 0 AND s.booked < s.capacity AND EXISTS (SELECT 1 FROM trades t"
        "  WHERE t.pool_id = s.pool_id AND t.state = 'booked' AND s.slot >= t.start_at AND s.slot < t.end_at)"
        " ORDER BY 1, 2")]
    i["reservations"] = {int(r[1]): int(r[0]) for r in L.rows(url, "SELECT id, trade_id FROM reservations")}
    i["audit_rows"] = [(int(r[0]), int(r[1]), int(r[2])) for r in L.rows(url,
        "SELECT seq, id, status FROM audit_log WHERE seq IS NOT NULL ORDER BY seq")]
    i["trade_txns"] = [int(r[0]) for r in L.rows(url, "SELECT id FROM journal_txns WHERE kind = 'trade' ORDER BY id")]
    i["power_created"] = {int(r[1]): int(r[0]) for r in L.rows(url,
        "SELECT id, account_id FROM power_events WHERE action = 1")}
    return i


def _base():
    if "error" in B:
        raise Failed("the tamper base failed to build: %s" % B["error"])
    if "info" not in B:
        try:
            _build_base()
        except Exception as e:
            B["error"] = str(e)
            raise
    return B


# ---------------------------------------------------------------- one mutation on one copy

_copies = []


def _copy(label):
    b = _base()
    name = ("suanli_e2e_tp_%s_%s" % (harness.RUN, label))[:63]
    url = L.create_db(name, template=b["db"])
    _copies.append(name)
    return name, url


def _run_mutation(name, sql, expect, note=""):
    """Copy the base, apply sql as superuser, audit, require exit 1 and every group of
    `expect` (a list of lists of (table, id)) to have one of its rows named."""
    b = _base()
    db, url = _copy(name)
    try:
        if sql:
            L.sql(L.admin_url(db), "SET session_replication_role = replica;\n" + sql)
        rc, findings, err = L.audit(url, b["keys"])
    finally:
        if not L.keep_dbs():
            L.drop_db(db)
    named = {(f.get("table"), str(f.get("id"))) for f in findings}
    missing = [g for g in expect if not any((t, str(i)) in named for t, i in g)]
    ok = (rc == 1 and not missing) if expect else (rc == 0 and not findings)
    shown = ["%s %s/%s: %s" % (f.get("check"), f.get("table"), f.get("id"), f.get("detail")) for f in findings]
    _report("%-28s %s  exit %s, %d finding(s); expected %s%s\n    %s" % (
        name, "OK  " if ok else "MISS", rc, len(findings),
        " and ".join("one of " + ", ".join("%s/%s" % p for p in g) for g in expect) or "none",
        (" (" + note + ")") if note else "", "\n    ".join(shown[:12]) or "(no findings)"))
    if not ok:
        want = " and ".join("one of {%s}" % ", ".join("%s/%s" % p for p in g) for g in expect) or "no finding"
        raise Failed("mutation %s%s: suanlid audit exit %s (expected %s), expected a finding naming %s; missing %s;"
                     " findings:\n%s%s" % (name, (" (" + note + ")") if note else "", rc, 1 if expect else 0, want,
                                           missing, "\n".join(shown[:15]) or "(none)", err[-200:] if rc > 1 else ""))


def _bx(b):
    return "'\\x%s'" % bytes(b).hex()


# ---------------------------------------------------------------- row pickers

def _booked_trade(i, skip=0):
    """A booked trade whose TRADE entry sits in the middle of the tree."""
    n = len(i["entries"])
    cands = [t for t in i["trades"].values() if t["state"] == "booked" and t["id"] in i["trade_entry"]
             and 0 < i["trade_entry"][t["id"]]["leaf_index"] < n - 1]
    check(len(cands) > skip, "base: not enough booked trades")
    return cands[skip]


def _cancelled_charged(i):
    c = [t for t in i["trades"].values() if t["state"] == "cancelled" and 0 < t["refunded"] < t["total"]]
    check(c, "base: no charged cancellation")
    return c[0]


def _entry(i, purpose, skip=0, old_key=None):
    n = len(i["entries"])
    c = [e for e in i["entries"] if e["purpose"] == purpose and 0 < e["leaf_index"] < n - 1
         and (old_key is None or (e["key_id"] == i["keys"][0]) == old_key)]
    check(len(c) > skip, "base: not enough entries of purpose %d" % purpose)
    return c[skip]


def _chain_from(entries, start, new_rows):
    """UPDATEs of leaf_index / leaf_hash / chain_hash for entries (in their new tree order) from
    position `start` on; new_rows: list of entry dicts in tree order from `start`."""
    prev = entries[start - 1]["chain"] if start > 0 else None
    out = []
    for k, e in enumerate(new_rows):
        lh = L.leaf_hash(e["record"], e["key_id"], e["sig"])
        ch = L.chain_step(prev, lh)
        prev = ch
        out.append((e, start + k, lh, ch))
    return out


# ---------------------------------------------------------------- the mutations

def _m_trade(field_sql, drop_check=False, skip=0):
    def build(i):
        t = _booked_trade(i, skip)
        pre = "ALTER TABLE trades DROP CONSTRAINT %s;\n" % harness.quote_ident(i["total_check"]) if drop_check else ""
        return pre + "UPDATE trades SET %s WHERE id = %d" % (field_sql(i, t), t["id"]), [[("trades", t["id"])]]
    return build


def m_untouched(i):
    return "", []


def m_trade_refunded(i):
    t = _cancelled_charged(i)
    return "UPDATE trades SET refunded_minor = refunded_minor + 1 WHERE id = %d" % t["id"], [[("trades", t["id"])]]


def m_entry_record_byte_trade(i):
    e = _entry(i, 1)
    rec = bytearray(e["record"])
    rec[87] ^= 0x10  # a byte of total_minor
    return "UPDATE ledger_entries SET record = %s WHERE id = %d" % (_bx(rec), e["id"]), [[("ledger_entries", e["id"])]]


def m_entry_record_byte_money(i):
    e = _entry(i, 2)
    rec = bytearray(e["record"])
    rec[47] ^= 0x01  # to_tenant_minor
    return "UPDATE ledger_entries SET record = %s WHERE id = %d" % (_bx(rec), e["id"]), [[("ledger_entries", e["id"])]]


def m_entry_deleted(i):
    t = _booked_trade(i, 1)
    e = i["trade_entry"][t["id"]]
    return "DELETE FROM ledger_entries WHERE id = %d" % e["id"], [[("ledger_entries", e["id"]), ("trades", t["id"])]]


def m_entry_duplicated(i):
    """A TRADE entry copied under a new id and appended at the end of the tree, with a correct
    leaf hash and chain link (the partial unique index that forbids it is dropped)."""
    e = _entry(i, 1)
    last = i["entries"][-1]
    new_id = max(x["id"] for x in i["entries"]) + 1000
    lh = L.leaf_hash(e["record"], e["key_id"], e["sig"])
    ch = L.chain_step(last["chain"], lh)
    return ("DROP INDEX ledger_entries_trade;\n"
            "INSERT INTO ledger_entries(id, purpose, trade_id, journal_txn_id, record, key_id, signature, leaf_index,"
            " leaf_hash, chain_hash, created_at) SELECT %d, purpose, trade_id, journal_txn_id, record, key_id, signature,"
            " %d, %s, %s, created_at FROM ledger_entries WHERE id = %d"
            % (new_id, last["leaf_index"] + 1, _bx(lh), _bx(ch), e["id"])), [[("ledger_entries", new_id)]]


def m_entries_reordered(i):
    """Two entries' leaf positions swapped (their own leaf and chain columns move with them)."""
    a, b = _entry(i, 1, 0), _entry(i, 1, 2)
    return ("UPDATE ledger_entries SET leaf_index = -1 WHERE id = %d;\n"
            "UPDATE ledger_entries SET leaf_index = %d WHERE id = %d;\n"
            "UPDATE ledger_entries SET leaf_index = %d WHERE id = %d"
            % (a["id"], a["leaf_index"], b["id"], b["leaf_index"], a["id"])), \
        [[("ledger_entries", a["id"])], [("ledger_entries", b["id"])]]


def m_signature_swapped(i):
    a, b = _entry(i, 1, 0), _entry(i, 1, 1)
    return ("UPDATE ledger_entries SET signature = %s WHERE id = %d;\n"
            "UPDATE ledger_entries SET signature = %s WHERE id = %d" % (_bx(b["sig"]), a["id"], _bx(a["sig"]), b["id"])), \
        [[("ledger_entries", a["id"])], [("ledger_entries", b["id"])]]


def m_signature_forged(i):
    e = _entry(i, 5)
    return "UPDATE ledger_entries SET signature = %s WHERE id = %d" % (_bx(secrets.token_bytes(64)), e["id"]), \
        [[("ledger_entries", e["id"])]]


def m_key_id_changed(i):
    e = _entry(i, 1, old_key=True)
    return "UPDATE ledger_entries SET key_id = '%s' WHERE id = %d" % (i["keys"][1], e["id"]), [[("ledger_entries", e["id"])]]


def m_leaf_hash_changed(i):
    e = _entry(i, 2)
    return "UPDATE ledger_entries SET leaf_hash = %s WHERE id = %d" % (_bx(L.sha256(b"x" + e["leaf"])), e["id"]), \
        [[("ledger_entries", e["id"])]]


def m_chain_hash_changed(i):
    e = _entry(i, 1, 1)
    return "UPDATE ledger_entries SET chain_hash = %s WHERE id = %d" % (_bx(L.sha256(e["chain"])), e["id"]), \
        [[("ledger_entries", e["id"])]]


def m_tail_reappended(i):
    """The last 4 entries deleted and re-inserted with the same content, in reverse order,
    with recomputed positions, leaf hashes and chain links (re-signing nothing)."""
    ents = i["entries"]
    k = 4
    start = len(ents) - k
    tail = ents[start:]
    stmts = ["DELETE FROM ledger_entries WHERE id IN (%s)" % ",".join(str(e["id"]) for e in tail)]
    for e, pos, lh, ch in _chain_from(ents, start, list(reversed(tail))):
        stmts.append("INSERT INTO ledger_entries(id, purpose, trade_id, journal_txn_id, record, key_id, signature,"
                     " leaf_index, leaf_hash, chain_hash, created_at) VALUES (%d, %d, %s, %s, %s, '%s', %s, %d, %s, %s, '%s')"
                     % (e["id"], e["purpose"], e["trade_id"] or "NULL", e["txn_id"] or "NULL", _bx(e["record"]),
                        e["key_id"], _bx(e["sig"]), pos, _bx(lh), _bx(ch), e["created_at"]))
    moved = [e for pos, e in enumerate(reversed(tail)) if e["leaf_index"] != start + pos]
    return ";\n".join(stmts), [[("ledger_entries", e["id"]) for e in moved]]


def m_posting_amount(i):
    pid, txn, _ = i["deposit_postings"][1]
    return "UPDATE postings SET amount = amount + 1 WHERE id = %d" % pid, [[("postings", pid)]]


def m_stored_balance(i):
    la = i["accounts"][(i["tenants"][1], "available")]
    return "UPDATE ledger_accounts SET balance = balance + 100 WHERE id = %d" % la, [[("ledger_accounts", la)]]


def m_balance_after(i):
    pid = i["deposit_postings"][2][0]
    return "UPDATE postings SET balance_after = balance_after - 5 WHERE id = %d" % pid, [[("postings", pid)]]


def m_posting_deleted(i):
    pid, txn, _ = i["deposit_postings"][0]
    return "DELETE FROM postings WHERE id = %d" % pid, [[("journal_txns", txn)]]


def m_posting_account(i):
    pid, txn, la = i["deposit_postings"][1]
    other = i["accounts"][(i["tenants"][2], "available")]
    if other == la:
        other = i["accounts"][(i["tenants"][0], "available")]
    return "UPDATE postings SET ledger_account_id = %d WHERE id = %d" % (other, pid), [[("postings", pid)]]


def m_checkpoint_root(i):
    size = i["checkpoints"][len(i["checkpoints"]) // 2]
    return "UPDATE ledger_checkpoints SET root_hash = %s WHERE tree_size = %d" % (_bx(L.sha256(b"root")), size), \
        [[("ledger_checkpoints", size)]]


def m_checkpoint_signature(i):
    size = i["checkpoints"][-1]
    return ("UPDATE ledger_checkpoints SET signature = set_byte(signature, 10, get_byte(signature, 10) # 1)"
            " WHERE tree_size = %d" % size), [[("ledger_checkpoints", size)]]


def m_exchange_key_replaced(i):
    k = i["keys"][0]
    return "UPDATE exchange_keys SET public_key = %s WHERE key_id = '%s'" % (_bx(secrets.token_bytes(32)), k), \
        [[("exchange_keys", k)]]


def m_deposit_entry_deleted(i):
    """A deposit's journal transaction left without its signed entry."""
    txn = i["market"]["deposits"][-2][0]  # the 123.45 deposit of the first run
    e = i["txn_entry"][txn]
    return "DELETE FROM ledger_entries WHERE id = %d" % e["id"], [[("journal_txns", txn)]]


def m_journal_txn_kind(i):
    txn = i["market"]["deposits"][0][0]
    return "UPDATE journal_txns SET kind = 'withdrawal' WHERE id = %d" % txn, [[("journal_txns", txn)]]


def _keys_dir():
    return B["keys"]


def m_checkpoint_signed_outside_validity(i):
    """A checkpoint signed before the rotation re-signed by the new key (an insider holding the
    new key file backdates a tree head): the signature verifies, but the new key was not valid
    at the checkpoint's time (suanli-verify rejects it)."""
    old, new = i["keys"]
    cps = [c for c in i["checkpoint_rows"] if c["key_id"] == old]
    check(cps, "base: no checkpoint signed by the first key")
    c = cps[-1]
    sig = L.ed25519_sign(L.read_seed(_keys_dir(), new), c["record"])
    return ("UPDATE ledger_checkpoints SET key_id = '%s', signature = %s WHERE tree_size = %d"
            % (new, _bx(sig), c["size"])), [[("ledger_checkpoints", c["size"])]]


def m_entry_signed_outside_validity(i):
    """An entry of the first key re-signed, unchanged, by the second key (not yet valid at the
    record's time), with its leaf hash and every later chain link recomputed."""
    old, new = i["keys"]
    e = _entry(i, 1, 1, old_key=True)
    sig = L.ed25519_sign(L.read_seed(_keys_dir(), new), e["record"])
    ents = i["entries"]
    start = e["leaf_index"]
    rows_ = [dict(x, key_id=new, sig=sig) if x["id"] == e["id"] else x for x in ents[start:]]
    stmts = ["UPDATE ledger_entries SET key_id = '%s', signature = %s WHERE id = %d" % (new, _bx(sig), e["id"])]
    for x, pos, lh, ch in _chain_from(ents, start, rows_):
        stmts.append("UPDATE ledger_entries SET leaf_hash = %s, chain_hash = %s WHERE id = %d" % (_bx(lh), _bx(ch), x["id"]))
    return ";\n".join(stmts), [[("ledger_entries", e["id"])]]


def m_entry_resigned(i):
    """An insider with the key valid at the time halves a trade's total in its TRADE record and
    re-signs it; leaf hash and later chain links recomputed; the trades row is left alone."""
    old = i["keys"][0]
    e = _entry(i, 1, 2, old_key=True)
    rec = bytearray(e["record"])
    total = struct.unpack(">q", rec[84:92])[0]
    rec[84:92] = struct.pack(">q", total // 2)
    rec = bytes(rec)
    sig = L.ed25519_sign(L.read_seed(_keys_dir(), old), rec)
    ents = i["entries"]
    start = e["leaf_index"]
    rows_ = [dict(x, record=rec, sig=sig) if x["id"] == e["id"] else x for x in ents[start:]]
    stmts = ["UPDATE ledger_entries SET record = %s, signature = %s WHERE id = %d" % (_bx(rec), _bx(sig), e["id"])]
    for x, pos, lh, ch in _chain_from(ents, start, rows_):
        stmts.append("UPDATE ledger_entries SET leaf_hash = %s, chain_hash = %s WHERE id = %d" % (_bx(lh), _bx(ch), x["id"]))
    return ";\n".join(stmts), [[("ledger_entries", e["id"])]]


# ---------------------------------------------------------------- issue 18: power, state, calendar, logs

def m_role_edit(i):
    """A tenant made an admin in place (the issue's privilege escalation)."""
    t = i["tenants"][0]
    return "UPDATE accounts SET kind = 'admin' WHERE id = %d" % t, [[("accounts", t)]]


def m_token_hash_swap(i):
    (a, _), (b, _) = i["tokens"][0], i["tokens"][1]
    issued = "(SELECT p.digest FROM power_events p WHERE p.action = 5 AND p.object_id = %d)"
    return ("UPDATE api_tokens SET token_hash = sha256('x') WHERE id = %d;\n"
            "UPDATE api_tokens SET token_hash = %s WHERE id = %d;\n"
            "UPDATE api_tokens SET token_hash = %s WHERE id = %d" % (a, issued % a, b, issued % b, a)), \
        [[("api_tokens", a)], [("api_tokens", b)]]


def m_token_account(i):
    tid, _ = i["tokens"][2]
    return "UPDATE api_tokens SET account_id = %d WHERE id = %d" % (i["admin_id"], tid), [[("api_tokens", tid)]]


def m_power_event_edited(i):
    """The history itself edited: a tenant's recorded creation says admin."""
    t = i["tenants"][1]
    ev = i["power_created"][t]
    return "UPDATE power_events SET role = 1, detail = 'admin' WHERE id = %d" % ev, [[("power_events", ev)]]


def m_region_granted_unsigned(i):
    t = i["tenants"][0]
    region = i["market"]["regions"][0]
    return ("INSERT INTO operator_regions(account_id, region) VALUES (%d, '%s')" % (t, region),
            [[("operator_regions", "%d:%s" % (t, region))]])


def m_trade_state_settled(i):
    """A booked trade moved to settled with no settlement."""
    t = _booked_trade(i, 2)
    return "UPDATE trades SET state = 'settled', settled_at = now() WHERE id = %d" % t["id"], [[("trades", t["id"])]]


def m_reservation_state(i):
    t = _booked_trade(i, 3)
    rid = i["reservations"][t["id"]]
    return "UPDATE reservations SET state = 'completed' WHERE id = %d" % rid, [[("reservations", rid)]]


def _m_calendar(delta):
    def build(i):
        check(i["slots"], "base: no partly booked slot of a booked trade")
        pool, slot, ts, booked, cap = i["slots"][0]
        return ("UPDATE pool_slots SET booked = booked + (%d) WHERE pool_id = %d AND slot = '%s'" % (delta, pool, slot),
                [[("pool_slots", "%d@%s" % (pool, ts))]])
    return build


def m_audit_log_deleted(i):
    rows = i["audit_rows"]
    check(len(rows) > 10, "base: only %d chained audit rows" % len(rows))
    gone, after = rows[len(rows) // 2], rows[len(rows) // 2 + 1]
    return "DELETE FROM audit_log WHERE id = %d" % gone[1], [[("audit_log", after[1]), ("audit_log", gone[1])]]


def m_audit_log_edited(i):
    rows = i["audit_rows"]
    r = rows[len(rows) // 3]
    return ("UPDATE audit_log SET status = %d WHERE id = %d" % (200 if r[2] != 200 else 201, r[1]),
            [[("audit_log", r[1])]])


def m_audit_log_rechained(i):
    """A row edited and every later chain value recomputed (no secret needed): the chain holds,
    but no longer ends in the signed AUDIT_HEAD."""
    rows = i["audit_rows"]
    r = rows[len(rows) // 3]
    return ("UPDATE audit_log SET status = %d WHERE id = %d;\n"
            "UPDATE audit_log l SET chain = x.c FROM (WITH RECURSIVE w(seq, c) AS ("
            "  SELECT seq, chain FROM audit_log WHERE seq = %d - 1"
            "  UNION ALL SELECT a.seq, sha256(w.c || sl_audit_row_hash(a)) FROM w JOIN audit_log a ON a.seq = w.seq + 1)"
            " SELECT seq, c FROM w) x WHERE l.seq = x.seq AND l.seq >= %d"
            % (200 if r[2] != 200 else 201, r[1], r[0], r[0])), \
        [[("audit_log", x[1]) for x in rows[r[0]:]]]


def m_checkpoint_deleted_middle(i):
    size = i["checkpoints"][len(i["checkpoints"]) // 2]
    return "DELETE FROM ledger_checkpoints WHERE tree_size = %d" % size, [[("ledger_checkpoints", size)]]


def m_checkpoint_deleted_latest(i):
    size = i["checkpoints"][-1]
    return "DELETE FROM ledger_checkpoints WHERE tree_size = %d" % size, [[("ledger_checkpoints", size)]]


def m_entry_trade_id_column(i):
    e = _entry(i, 2)
    other = [t for t in i["trades"] if t != e["trade_id"]][0]
    return "UPDATE ledger_entries SET trade_id = %d WHERE id = %d" % (other, e["id"]), [[("ledger_entries", e["id"])]]


def m_entry_txn_column(i):
    e = _entry(i, 5)
    return ("UPDATE ledger_entries SET journal_txn_id = %d WHERE id = %d" % (i["trade_txns"][0], e["id"]),
            [[("ledger_entries", e["id"])]])


def m_money_grant(i):
    """A deposit made by the admin re-pointed at the grant of a tenant's role."""
    txn = i["market"]["deposits"][0][0]
    return ("UPDATE journal_txns SET grant_event = %d WHERE id = %d" % (i["power_created"][i["tenants"][0]], txn),
            [[("journal_txns", txn)]])


MUTATIONS = [
    # (name, builder, note)
    ("untouched_copy", m_untouched, "no mutation: zero findings"),
    ("trade_total", _m_trade(lambda i, t: "total_minor = total_minor + 100", True), "CHECK on the total dropped"),
    ("trade_unit_price", _m_trade(lambda i, t: "unit_price_minor = unit_price_minor + 1", True), "CHECK dropped"),
    ("trade_pool", _m_trade(lambda i, t: "pool_id = %d" % [p for p in i["pools"] if p != t["pool_id"]][0]),
     "another pool; no CHECK involved"),
    ("trade_gpus", _m_trade(lambda i, t: "gpus = gpus + 1", True), "CHECK dropped"),
    ("trade_gpus_and_total", _m_trade(lambda i, t: "gpus = gpus * 2, total_minor = total_minor * 2"),
     "both changed consistently: the CHECK holds"),
    ("trade_start", _m_trade(lambda i, t: "start_at = start_at - interval '1 hour'", True), "CHECK dropped"),
    ("trade_end", _m_trade(lambda i, t: "end_at = end_at + interval '1 hour'", True), "CHECK dropped"),
    ("trade_window_shifted", _m_trade(lambda i, t: "start_at = start_at + interval '1 day',"
                                                   " end_at = end_at + interval '1 day'"),
     "start and end moved together: the CHECK holds"),
    ("trade_tenant", _m_trade(lambda i, t: "tenant_id = %d" % [x for x in i["tenants"] if x != t["tenant_id"]][0]),
     "the trade given to another tenant"),
    ("trade_fee_bp", _m_trade(lambda i, t: "fee_bp = fee_bp + 50"), "fee rate changed"),
    ("trade_refunded", m_trade_refunded, "a charged cancellation's refund"),
    ("entry_record_byte_trade", m_entry_record_byte_trade, "one byte of a TRADE record"),
    ("entry_record_byte_money", m_entry_record_byte_money, "one byte of a CANCELLATION record"),
    ("entry_deleted", m_entry_deleted, "a TRADE entry in the middle of the tree"),
    ("entry_duplicated", m_entry_duplicated, "copied under a new id, appended with valid leaf/chain hashes"),
    ("entries_reordered", m_entries_reordered, "two leaf positions swapped"),
    ("signature_swapped", m_signature_swapped, "signatures of two TRADE entries exchanged"),
    ("signature_forged", m_signature_forged, "random 64 bytes on a DEPOSIT entry"),
    ("key_id_changed", m_key_id_changed, "entry of the old key re-labelled with the new key's id"),
    ("leaf_hash_changed", m_leaf_hash_changed, "stored leaf hash of a money event"),
    ("chain_hash_changed", m_chain_hash_changed, "stored chain link of a TRADE entry"),
    ("tail_reappended", m_tail_reappended, "last 4 entries re-inserted in reverse order, hashes recomputed"),
    ("posting_amount", m_posting_amount, "unbalanced posting"),
    ("stored_balance", m_stored_balance, "ledger_accounts.balance"),
    ("balance_after", m_balance_after, "postings.balance_after"),
    ("posting_deleted", m_posting_deleted, "a deposit's leg"),
    ("posting_account", m_posting_account, "a posting moved to another tenant's account"),
    ("checkpoint_root", m_checkpoint_root, "root_hash column"),
    ("checkpoint_signature", m_checkpoint_signature, "one bit of the latest checkpoint's signature"),
    ("exchange_key_replaced", m_exchange_key_replaced, "the old key's public key"),
    ("deposit_entry_deleted", m_deposit_entry_deleted, "a journal transaction with no ledger entry"),
    ("journal_txn_kind", m_journal_txn_kind, "a deposit relabelled as a withdrawal"),
    ("entry_resigned", m_entry_resigned, "insider with the valid key: record changed and re-signed"),
    ("entry_signed_outside_validity", m_entry_signed_outside_validity, "re-signed by the not-yet-valid key"),
    ("checkpoint_signed_outside_validity", m_checkpoint_signed_outside_validity,
     "re-signed by the not-yet-valid key"),
    ("role_edit", m_role_edit, "UPDATE accounts SET kind = 'admin' on a tenant"),
    ("token_hash_swap", m_token_hash_swap, "two tenants' token hashes exchanged"),
    ("token_account", m_token_account, "a tenant's token moved to the admin account"),
    ("power_event_edited", m_power_event_edited, "the recorded creation of a tenant says admin"),
    ("region_granted_unsigned", m_region_granted_unsigned, "an operator region row with no signed grant"),
    ("trade_fee", _m_trade(lambda i, t: "fee_minor = fee_minor + 1", skip=1), "a booked trade's fee +1"),
    ("trade_state_settled", m_trade_state_settled, "booked -> settled with no settlement"),
    ("reservation_state", m_reservation_state, "a booked trade's reservation marked completed"),
    ("calendar_plus_one", _m_calendar(1), "a slot books one GPU more than its trades"),
    ("calendar_minus_one", _m_calendar(-1), "a slot books one GPU less than its trades"),
    ("audit_log_deleted", m_audit_log_deleted, "a row in the middle of the audit log"),
    ("audit_log_edited", m_audit_log_edited, "a row's status changed"),
    ("audit_log_rechained", m_audit_log_rechained, "a row changed, the chain recomputed after it"),
    ("checkpoint_deleted_middle", m_checkpoint_deleted_middle, "a checkpoint in the middle"),
    ("checkpoint_deleted_latest", m_checkpoint_deleted_latest, "the latest checkpoint"),
    ("entry_trade_id_column", m_entry_trade_id_column, "ledger_entries.trade_id of a CANCELLATION"),
    ("entry_txn_column", m_entry_txn_column, "ledger_entries.journal_txn_id of a DEPOSIT"),
    ("money_grant", m_money_grant, "an admin's deposit names a tenant's grant"),
]


def test_tamper_base_run_audits_clean():
    L._ed25519_selftest()
    b = _base()
    rc, findings, err = L.audit(b["url"], b["keys"])
    check(rc == 0 and not findings, "the honest base run: suanlid audit exit %s, findings %s %s"
          % (rc, findings[:5], err[-200:]))
    _report("# tamper suite, run %s: base %s, %d entries, %d trades, checkpoints %s, entries per key %s"
            % (harness.RUN, b["db"], len(b["info"]["entries"]), len(b["info"]["trades"]), b["info"]["checkpoints"],
               b["info"]["per_key"]))


def _make_test(name, builder, note):
    def t():
        b = _base()
        info = dict(b["info"], market=b["market"])
        sql, expect = builder(info)
        _run_mutation(name, sql, expect, note)
    t.__name__ = "test_tamper_" + name
    t.__doc__ = note
    return t


for _name, _builder, _note in MUTATIONS:
    globals()["test_tamper_" + _name] = _make_test(_name, _builder, _note)


def test_tamper_cleanup():
    check(len(MUTATIONS) - 1 >= 20, "only %d mutations" % (len(MUTATIONS) - 1))
    if "db" in B and not L.keep_dbs():
        L.drop_db(B["db"])
        for name in _copies:
            L.drop_db(name)
