"""Power on the ledger (issue 18; api/SIGNING.md "POWER", schema/023_power_ledger.sql).

An independent re-implementation, in Python, of the POWER layout: the worked example of
api/SIGNING.md rebuilt byte for byte (struct.pack and the pure-Python Ed25519 of
ledger_util), then every POWER entry a live exchange signed — accounts, an operator's regions,
tokens issued, scoped and revoked — rebuilt from its power event and re-signed with the
exchange's key, equal byte for byte to what the exchange stored.  Then the server refuses to
honour what the signed history does not say: a tenant whose row is edited to 'admin' (by an
UPDATE that fires the triggers, and by one that does not) still gets 403 on an admin route,
a token whose hash or account is swapped authenticates nobody, and `suanlid audit` names
each edited row.
"""
import hashlib
import os
import re
import struct

import harness
import ledger_util as L
from harness import Collector, check

POWER_FMT = ">IIQQIIQQQ32sq"
ROLES = {"admin": 1, "provider": 2, "tenant": 3, "operator": 4}
S = {}


def _signing_md():
    with open(os.path.join(harness.ROOT, "api", "SIGNING.md"), encoding="utf-8") as f:
        return f.read()


def _block_after(text, marker):
    """The hex of the first ``` block after marker, joined."""
    i = text.index(marker)
    j = text.index("```", i)
    k = text.index("```", j + 3)
    return "".join(text[j + 3:k].split())


def _example(title, rec):
    """The section of SIGNING.md headed `title`, and rec's signature under the worked
    example's key (seed 00 01 .. 1f) and leaf hash, computed here independently."""
    md = _signing_md()
    seed = bytes(range(32))
    kid = hashlib.blake2b(L.ed25519_public(seed), digest_size=32).digest()[:8]
    sig = L.ed25519_sign(seed, rec)
    return md[md.index(title):], sig, hashlib.sha256(b"\x00" + rec + kid + sig).hexdigest()


def test_power_worked_example_matches_signing_md():
    digest = hashlib.blake2b(b"example token", digest_size=32).digest()
    rec = struct.pack(POWER_FMT, 96, 10, 43, 17, 5, 0, 7, 1, 12, digest, 1795818615)
    check(len(rec) == 96, "POWER is %d bytes" % len(rec))
    section, sig, leaf = _example("### POWER", rec)
    c = Collector()
    c.check(digest.hex() in section, "the digest %s is not in SIGNING.md" % digest.hex())
    c.check(_block_after(section, "Record (96 bytes)") == rec.hex(),
            "SIGNING.md's POWER record differs from Python's:\n%s\n%s"
            % (_block_after(section, "Record (96 bytes)"), rec.hex()))
    c.check(_block_after(section, "Signature (Ed25519") == sig.hex(), "SIGNING.md's POWER signature differs")
    c.check(leaf in section, "the leaf hash %s is not in SIGNING.md" % leaf)
    # the offsets table: each field's bytes at its offset
    for m in re.finditer(r"\| `([0-9a-f]+)` @(\d+) \|", section[:section.index("Record (96 bytes)")]):
        hexv, off = m.group(1), int(m.group(2))
        c.check(rec[off:off + len(hexv) // 2].hex() == hexv, "offset %d: table says %s, record has %s"
                % (off, hexv, rec[off:off + len(hexv) // 2].hex()))
    # and the C unit test freezes the same bytes
    with open(os.path.join(harness.ROOT, "tests", "unit", "test_ledger_records.c"), encoding="utf-8") as f:
        unit = f.read()
    c.check(sig.hex()[:64] in unit and sig.hex()[64:] in unit, "test_ledger_records.c freezes another signature")
    c.check(leaf in unit, "test_ledger_records.c freezes another leaf hash")
    c.done()


def test_audit_head_worked_example_matches_signing_md():
    chain = hashlib.sha256(b"example chain").digest()
    rec = struct.pack(">IIQQ32sq", 64, 11, 44, 1000, chain, 1795818615)
    section, sig, leaf = _example("### AUDIT_HEAD", rec)
    c = Collector()
    c.check(chain.hex() in section, "the example chain is not in SIGNING.md")
    c.check(_block_after(section, "Record (64 bytes)") == rec.hex(), "SIGNING.md's AUDIT_HEAD record differs")
    c.check(_block_after(section, "Signature:") == sig.hex(), "SIGNING.md's AUDIT_HEAD signature differs")
    c.check(leaf in section, "the AUDIT_HEAD leaf hash %s is not in SIGNING.md" % leaf)
    c.check(_row_text(["7", None, "GET"]) == b"1:7~3:GET", "the row encoding example")
    with open(os.path.join(harness.ROOT, "tests", "unit", "test_ledger_records.c"), encoding="utf-8") as f:
        unit = f.read()
    c.check(sig.hex()[:64] in unit and leaf in unit, "test_ledger_records.c freezes other AUDIT_HEAD bytes")
    c.done()


def _row_text(fields):
    out = b""
    for f in fields:
        if f is None:
            out += b"~"
        else:
            b = f.encode()
            out += str(len(b)).encode() + b":" + b
    return out


# ---------------------------------------------------------------- a live exchange

def _setup():
    if "url" in S:
        return S
    name = L.db_name("suanli_e2e_power")
    url = L.create_db(name)
    keys = L.key_dir("power")
    srv = L.LedgerServer("power", url, keys)
    S.update(db=name, url=url, keys=keys, srv=srv)
    srv.wait_ready()
    admin = L.bootstrap_admin(url, keys)
    cl = srv.client
    tag = harness.RUN
    S["admin"] = admin
    S["tenant"] = L.account(cl, admin, "tenant", "pw-t-" + tag)
    S["victim"] = L.account(cl, admin, "tenant", "pw-v-" + tag)
    S["swap"] = L.account(cl, admin, "tenant", "pw-s-" + tag)
    r = cl.post("/v1/regions", {"code": "pw-" + tag, "name": "Power " + tag, "tier": "cloud"}, token=admin)
    check(r.status == 201, "region: %s" % r.short())
    S["region"] = "pw-" + tag
    op = cl.post("/v1/accounts", {"kind": "operator", "name": "pw-o-" + tag, "regions": [S["region"]]}, token=admin)
    check(op.status == 201, "operator: %s" % op.short())
    S["operator_id"] = op.json["id"]
    t = cl.post("/v1/accounts/%d/tokens" % S["operator_id"], {"scopes": ["read"]}, token=admin)
    check(t.status == 201, "scoped token: %s" % t.short())
    t2 = cl.post("/v1/accounts/%d/tokens" % S["tenant"]["id"], {"label": "to revoke"}, token=admin)
    check(t2.status == 201, "token: %s" % t2.short())
    r = cl.delete("/v1/tokens/%d" % t2.json["id"], token=admin)
    check(r.status == 200, "revoke: %s" % r.short())
    S["revoked_token"] = t2.json["token"]
    S["deposit_txn"] = L.deposit(cl, admin, S["tenant"]["id"], "12.00")["txn_id"]
    _wait_power_signed(url)
    L.wait_sequenced(cl, url, admin)
    return S


def _wait_power_signed(url, timeout=20.0):
    import time
    deadline = time.time() + timeout
    while time.time() < deadline:
        if L.one(url, "SELECT count(*) FROM power_events pe WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e"
                      " WHERE e.power_event_id = pe.id)") == "0":
            return
        time.sleep(0.1)
    check(False, "power events left unsigned after %.0fs" % timeout)


def test_power_entries_rebuilt_in_python():
    s = _setup()
    url = s["url"]
    c = Collector()
    keys = {r[0]: bytes.fromhex(r[1]) for r in L.rows(url, "SELECT key_id, encode(public_key, 'hex') FROM exchange_keys")}
    ents = L.rows(url, "SELECT e.id, encode(e.record, 'hex'), e.key_id, encode(e.signature, 'hex'),"
                       " pe.id, pe.action, pe.account_id, pe.actor_id, pe.role, pe.object_id, encode(pe.digest, 'hex'),"
                       " floor(extract(epoch FROM pe.at))::bigint, pe.detail, e.leaf_index"
                       " FROM ledger_entries e JOIN power_events pe ON pe.id = e.power_event_id"
                       " WHERE e.purpose = 10 ORDER BY e.id")
    actions = set()
    for r in ents:
        eid, rec_hex, kid, sig_hex = int(r[0]), r[1], r[2], r[3]
        ev, action, acct, actor, role, obj, dig, at = (int(r[4]), int(r[5]), int(r[6]), int(r[7]), int(r[8]),
                                                      int(r[9]), bytes.fromhex(r[10]), int(r[11]))
        actions.add(action)
        rec = bytes.fromhex(rec_hex)
        signed_at = struct.unpack(">q", rec[88:96])[0]
        want = struct.pack(POWER_FMT, 96, 10, eid, ev, action, role, acct, actor, obj, dig, signed_at)
        c.check(rec == want, "entry %d: record %s, Python %s" % (eid, rec_hex, want.hex()))
        c.check(signed_at >= at, "entry %d signed at %d, before its event (%d)" % (eid, signed_at, at))
        # the digest means what SIGNING.md says it means
        if action in (3, 4):
            c.check(dig == hashlib.sha256(r[12].encode()).digest(), "entry %d: region digest" % eid)
        if action == 7:
            c.check(dig == hashlib.sha256(r[12].encode()).digest(), "entry %d: scopes digest" % eid)
        if action == 5:
            h = L.one(url, "SELECT encode(token_hash, 'hex') FROM api_tokens WHERE id = %d" % obj)
            c.check(dig.hex() == h, "entry %d: token digest is not the token's stored hash" % eid)
        c.check((role != 0) == (action in (1, 2)) and (obj != 0) == (action >= 5), "entry %d: field rules" % eid)
        # re-signed with the exchange's own key: Ed25519 is deterministic
        seed = L.read_seed(s["keys"], kid)
        c.check(L.ed25519_sign(seed, rec).hex() == sig_hex, "entry %d: signature differs from Python's" % eid)
        c.check(L.ed25519_public(seed) == keys[kid], "key %s: public key" % kid)
        c.check(r[13] != "", "entry %d was not sequenced" % eid)
    c.check({1, 3, 5, 6, 7} <= actions, "actions signed: %s, expected 1, 3, 5, 6 and 7" % sorted(actions))
    n_acc = int(L.one(url, "SELECT count(*) FROM accounts"))
    n_created = sum(1 for r in ents if r[5] == "1")
    c.check(n_acc == n_created, "%d accounts, %d ACCOUNT_CREATED entries" % (n_acc, n_created))
    admin_actor = [r for r in ents if r[5] == "1" and int(r[6]) == s["tenant"]["id"]]
    c.check(admin_actor and int(admin_actor[0][7]) != 0, "the tenant's creation names no actor: %s" % admin_actor)
    # the admin's deposit names the admin and the signed grant of its role
    j = L.rows(url, "SELECT j.actor_id, j.grant_event, pe.account_id, pe.role, e.id IS NOT NULL"
                    " FROM journal_txns j JOIN power_events pe ON pe.id = j.grant_event"
                    " LEFT JOIN ledger_entries e ON e.power_event_id = pe.id WHERE j.id = %d" % s["deposit_txn"])
    admin_id = L.one(url, "SELECT id FROM accounts WHERE name = 'admin'")
    c.check(j and j[0][0] == admin_id and j[0][2] == admin_id and j[0][3] == "1" and j[0][4] == "t",
            "the deposit's actor and grant: %s (admin %s)" % (j, admin_id))
    rc, findings, err = L.audit(url, s["keys"])
    c.check(rc == 0 and not findings, "audit of the honest run: exit %s, %s %s" % (rc, findings[:4], err[-200:]))
    c.done()


def test_audit_log_chain_and_heads_rebuilt_in_python():
    """Every chained audit row's hash and chain value recomputed in Python from the row's
    fields, and every AUDIT_HEAD entry rebuilt and re-signed, byte for byte."""
    s = _setup()
    url = s["url"]
    c = Collector()
    import time
    deadline = time.time() + 20
    while time.time() < deadline and L.one(url, "SELECT count(*) FROM ledger_entries WHERE purpose = 11"
                                               " AND leaf_index IS NOT NULL") == "0":
        time.sleep(0.2)
    rows = L.rows(url, "SELECT seq, id::text, (extract(epoch FROM at) * 1000000)::bigint::text, request_id,"
                       " coalesce(account_id::text, '\\N'), coalesce(token_id::text, '\\N'), method, path, action,"
                       " object, status::text, outcome, coalesce(error, '\\N'), client_addr, encode(chain, 'hex')"
                       " FROM audit_log WHERE seq IS NOT NULL ORDER BY seq")
    c.check(len(rows) > 5, "only %d chained audit rows" % len(rows))
    chain = bytes(32)
    chains = []
    for k, r in enumerate(rows):
        c.check(int(r[0]) == k, "position %s at row %d" % (r[0], k))
        fields = [None if x == "\\N" else x for x in r[1:14]]
        chain = hashlib.sha256(chain + hashlib.sha256(_row_text(fields)).digest()).digest()
        chains.append(chain)
        c.check(chain.hex() == r[14], "audit row %s: chain %s, Python %s" % (r[1], r[14], chain.hex()))
    heads = L.rows(url, "SELECT id, encode(record, 'hex'), key_id, encode(signature, 'hex') FROM ledger_entries"
                        " WHERE purpose = 11 ORDER BY id")
    c.check(heads, "no AUDIT_HEAD entry")
    for h in heads:
        rec = bytes.fromhex(h[1])
        count = struct.unpack(">Q", rec[16:24])[0]
        at = struct.unpack(">q", rec[56:64])[0]
        want = struct.pack(">IIQQ32sq", 64, 11, int(h[0]), count, chains[count - 1] if 0 < count <= len(chains)
                           else bytes(32), at)
        c.check(rec == want, "AUDIT_HEAD %s: record %s, Python %s" % (h[0], rec.hex(), want.hex()))
        seed = L.read_seed(s["keys"], h[2])
        c.check(L.ed25519_sign(seed, rec).hex() == h[3], "AUDIT_HEAD %s: signature differs" % h[0])
    c.done()


def test_power_refused_role_edit_and_token_swap():
    s = _setup()
    url, cl, adm = s["url"], s["srv"].client, L.admin_url(s["db"])
    c = Collector()
    t, v, w = s["tenant"], s["victim"], s["swap"]
    # control: the tenant cannot deposit, the revoked token authenticates nobody
    c.check(cl.post("/v1/accounts/%d/deposits" % t["id"], {"amount": "1.00"}, token=t["token"]).status == 403,
            "tenant deposit before the edit")
    c.check(cl.get("/v1/me", token=s["revoked_token"]).status == 401, "revoked token")
    # a role edited in place, the triggers firing: recorded as a ROLE_CHANGED by no one, never honoured
    L.sql(adm, "UPDATE accounts SET kind = 'admin' WHERE id = %d" % t["id"])
    r = cl.post("/v1/accounts/%d/deposits" % t["id"], {"amount": "1000000.00"}, token=t["token"])
    c.check(r.status == 403, "deposit by the edited tenant (triggers on): %s, expected 403" % r.short())
    r = cl.get("/v1/accounts", token=t["token"])
    c.check(r.status == 403, "admin route for the edited tenant: %s" % r.short())
    c.check(cl.get("/v1/me", token=t["token"]).status == 200, "the tenant still works as a tenant")
    # the same with the triggers off (nothing recorded at all)
    L.sql(L.admin_url(s["db"]), "SET session_replication_role = replica;\n"
                                "UPDATE accounts SET kind = 'admin' WHERE id = %d" % v["id"])
    r = cl.get("/v1/accounts", token=v["token"])
    c.check(r.status == 403, "admin route for the edited tenant (triggers off): %s" % r.short())
    # a token's hash swapped onto another account's token row, and a token moved to the admin
    L.sql(L.admin_url(s["db"]), "SET session_replication_role = replica;\n"
                                "UPDATE api_tokens SET account_id = (SELECT id FROM accounts WHERE name = 'admin')"
                                " WHERE account_id = %d" % w["id"])
    r = cl.get("/v1/accounts", token=w["token"])
    c.check(r.status == 401, "token moved to the admin account: %s, expected 401" % r.short())
    rc, findings, err = L.audit(url, s["keys"])
    named = {(f.get("table"), str(f.get("id"))) for f in findings}
    c.check(rc == 1, "audit exit %s" % rc)
    c.check(("accounts", str(t["id"])) in named, "the role edited with triggers not named: %s" % findings[:6])
    c.check(("accounts", str(v["id"])) in named, "the role edited without triggers not named: %s" % findings[:6])
    moved = L.rows(url, "SELECT id FROM api_tokens WHERE id IN (SELECT object_id FROM power_events"
                        " WHERE action = 5 AND account_id = %d)" % w["id"])
    c.check(moved and all(("api_tokens", m[0]) in named for m in moved),
            "the moved token %s not named: %s" % (moved, findings[:6]))
    for f in findings:
        c.check("expected" in f and "actual" in f or f.get("check") not in ("power",),
                "power finding without expected/actual: %s" % f)
    s["srv"].stop()
    s["srv"].check_stopped_cleanly()
    if not L.keep_dbs():
        L.drop_db(s["db"])
    c.done()
