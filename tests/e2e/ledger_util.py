"""Helpers for test_ledger.py and test_tamper.py (python3 standard library only).

These tests rewrite history as a superuser, so they never touch the run's shared database:
each makes its own databases on the same PostgreSQL server (`create_db`, superuser URL from
SUANLI_PG_ADMIN_URL, else SUANLI_DATABASE_URL with the user replaced by `postgres`), owned by
the role of SUANLI_DATABASE_URL, and starts its own suanlid on a port in 18500..18599 with its
own SUANLI_KEY_DIR and SUANLI_MAINTENANCE_MS=200 (`LedgerServer`).

`build_market(...)` makes a small market through the API only: regions, providers, pools,
funded tenants, fill-or-kill orders (one split over two pools), a free and a charged
cancellation, deposits and a withdrawal.  The record layouts, leaf and chain hashes are those
of api/SIGNING.md, recomputed here independently of the C code.
"""
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.parse

import harness
from harness import Failed, hour

PORTS = range(18500, 18600)
TRADE, CANCELLATION, SETTLEMENT, REFUND, DEPOSIT, WITHDRAWAL = 1, 2, 3, 4, 5, 6


# ---------------------------------------------------------------- databases

def _base_url():
    return harness.db_url()


def _with_db(url, db, user=None):
    """url (a postgresql:// URL or a key=value conninfo) with the database (and user) replaced."""
    if not url.startswith(("postgresql://", "postgres://")):
        kv = [p for p in url.split() if not p.startswith("dbname=") and not (user and p.startswith("user="))]
        return " ".join(kv + ["dbname=" + db] + (["user=" + user] if user else []))
    u = urllib.parse.urlsplit(url)
    netloc = u.netloc
    q = [(k, v) for k, v in urllib.parse.parse_qsl(u.query, keep_blank_values=True)
         if k != "dbname" and not (user and k == "user")]
    if user is not None:
        host = netloc.rsplit("@", 1)[-1]
        netloc = "%s@%s" % (user, host) if host else ""
        if not host:
            q.append(("user", user))
    return urllib.parse.urlunsplit((u.scheme, netloc, "/" + urllib.parse.quote(db), urllib.parse.urlencode(q),
                                    u.fragment))


def db_user():
    """The role of SUANLI_DATABASE_URL (the role the server runs as)."""
    url = _base_url()
    if not url.startswith(("postgresql://", "postgres://")):
        for p in url.split():
            if p.startswith("user="):
                return p[5:]
        return os.environ.get("PGUSER") or os.environ.get("USER") or "postgres"
    u = urllib.parse.urlsplit(url)
    if u.username:
        return urllib.parse.unquote(u.username)
    q = urllib.parse.parse_qs(u.query)
    return q.get("user", [os.environ.get("PGUSER") or os.environ.get("USER") or "postgres"])[0]


def admin_url(db="postgres"):
    """A superuser URL for database `db`."""
    a = os.environ.get("SUANLI_PG_ADMIN_URL")
    if a:
        return _with_db(a, db)
    return _with_db(_base_url(), db, user="postgres")


def user_url(db):
    """SUANLI_DATABASE_URL pointing at database `db` (the server's role)."""
    return _with_db(_base_url(), db)


def sql(url, text):
    return harness.psql(text, url)


def rows(url, text):
    out = harness.psql(text, url)
    return [line.split("|") for line in out.split("\n") if line != ""]


def one(url, text):
    r = rows(url, text)
    return r[0][0] if r else None


def _ident(name):
    if not re.match(r"^[a-z_][a-z0-9_]{0,62}$", name):
        raise Failed("bad database name %r" % name)
    return '"%s"' % name


def create_db(name, template=None):
    """Drop and create database `name` owned by the server's role; returns its user URL."""
    a = admin_url()
    sql(a, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % _ident(name))
    tmpl = " TEMPLATE %s" % _ident(template) if template else ""
    deadline = time.time() + 10
    while True:
        try:
            sql(a, "CREATE DATABASE %s OWNER %s%s" % (_ident(name), harness.quote_ident(db_user()), tmpl))
            return user_url(name)
        except Failed as e:
            # a backend of a client that just disconnected from the template may linger briefly
            if "being accessed by other users" not in str(e) or time.time() > deadline:
                raise
            time.sleep(0.2)


def drop_db(name):
    try:
        sql(admin_url(), "DROP DATABASE IF EXISTS %s WITH (FORCE)" % _ident(name))
    except Failed:
        pass


def db_name(prefix):
    return ("%s_%s" % (prefix, harness.RUN)).lower()


def keep_dbs():
    """SUANLI_E2E_KEEP_DBS=1 keeps the test's databases for inspection."""
    return os.environ.get("SUANLI_E2E_KEEP_DBS") == "1"


# ---------------------------------------------------------------- servers and tools

def _port_free(port):
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def pick_port(start=18500):
    order = list(range(start, PORTS.stop)) + list(range(PORTS.start, start))
    for p in order:
        if harness.port_ok(p) and _port_free(p):
            return p
    raise Failed("no free port in 18500..18599")


def key_dir(name):
    d = os.path.join(harness.out_dir(), "keys-" + name)
    os.makedirs(d, mode=0o700, exist_ok=True)
    return d


def server_env(url, keys, extra=None):
    e = {"SUANLI_DATABASE_URL": url, "SUANLI_KEY_DIR": keys, "SUANLI_MAINTENANCE_MS": "200",
         "SUANLI_LEDGER": "on"}
    if extra:
        e.update(extra)
    return e


class LedgerServer(harness.Server):
    """suanlid serve on its own database, port (18500..18599) and key folder."""

    def __init__(self, name, url, keys, port=None, extra_env=None, log_level="info"):  # noqa: D107
        self.port = port or pick_port()
        self.url = url
        self.keys = keys
        self.log_path = os.path.join(harness.out_dir(), "%s-%s.log" % (name, self.port))
        self.client = harness.Client(self.port)
        e = dict(os.environ)
        e.update(server_env(url, keys, extra_env))
        e.update({"SUANLI_LISTEN": "127.0.0.1:%d" % self.port, "SUANLI_LOG_LEVEL": log_level})
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([harness.binary(), "serve"], stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=e)
        self.exit_code = None


def cli(url, keys, *args, timeout=120):
    """Run `suanlid ARGS` on database url with key folder keys; returns CompletedProcess."""
    return harness.run_cli(*args, timeout=timeout, extra_env=server_env(url, keys))


def clock_set(url, spec, mode=None):
    """TEST-ONLY: `SUANLI_CLOCK=test suanlid clock set SPEC [--frozen|--running]` on database url
    (schema/014_clock.sql): switches a database no server has run on yet to its test clock
    (the one time the clock may start anywhere, e.g. last month), or moves it forward.  SPEC is
    a time PostgreSQL reads (microseconds allowed; "now") or "+INTERVAL".  Returns the clock as
    `suanlid clock show` prints it (a dict)."""
    env = {"SUANLI_DATABASE_URL": url, "SUANLI_CLOCK": "test"}
    p = harness.run_cli("clock", "set", spec, *([mode] if mode else []), extra_env=env)
    if p.returncode != 0:
        raise Failed("suanlid clock set %s %s: exit %s: %s" % (spec, mode or "", p.returncode, p.stderr[-400:]))
    return json.loads(p.stdout)


def clock_now_us(url):
    """The database's business time (sl_now()) in epoch microseconds."""
    return int(one(url, "SELECT (extract(epoch FROM sl_now()) * 1000000)::bigint"))


def clock_hour(url, offset_hours=0):
    """RFC 3339 of the whole hour `offset_hours` after the database clock's current one (what
    harness.hour is for the real clock)."""
    h = clock_now_us(url) // 1000000 // 3600 + offset_hours
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(h * 3600))


def bootstrap_admin(url, keys):
    p = cli(url, keys, "bootstrap-admin")
    lines = p.stdout.splitlines()
    if p.returncode != 0 or len(lines) != 1 or not harness.TOKEN_RE.match(lines[0]):
        raise Failed("bootstrap-admin failed (%s): %s %s" % (p.returncode, p.stdout[-300:], p.stderr[-500:]))
    return lines[0]


def audit(url, keys):
    """Run `suanlid audit` on url: (exit status, [finding dicts], stderr)."""
    p = cli(url, keys, "audit")
    findings, bad = [], []
    for line in p.stdout.splitlines():
        if not line.strip():
            continue
        try:
            f = json.loads(line)
        except ValueError:
            bad.append(line)
            continue
        findings.append(f)
    if bad:
        raise Failed("suanlid audit printed lines that are not JSON: %s" % bad[:3])
    return p.returncode, findings, p.stderr


def verify_bin():
    """suanli-verify next to the server binary (build*/tools/), else build/tools/."""
    cands = [os.path.join(os.path.dirname(harness.source_binary()), "tools", "suanli-verify"),
             os.path.join(harness.ROOT, "build", "tools", "suanli-verify")]
    for c in cands:
        if os.path.exists(c):
            return c
    raise Failed("no suanli-verify binary (looked at %s)" % ", ".join(cands))


_verify_copy = None


def verify(mode, *files):
    """Run suanli-verify MODE FILES...: (exit status, stdout + stderr)."""
    global _verify_copy
    if _verify_copy is None:
        _verify_copy = os.path.join(harness.out_dir(), "suanli-verify")
        shutil.copy2(verify_bin(), _verify_copy)
    p = subprocess.run([_verify_copy, mode] + list(files), capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def stop_world(world):
    """The last test of a module with its own server and database (world: a dict with "srv"
    and "db"): the server must stop cleanly; the database is dropped (unless kept)."""
    if "srv" not in world:
        raise harness.Skip("no server was started")
    try:
        world["srv"].check_stopped_cleanly()
    finally:
        if "db" in world and not keep_dbs():
            drop_db(world["db"])


def write_json(folder, name, obj):
    path = os.path.join(folder, name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f)
    return path


# ---------------------------------------------------------------- hashes (api/SIGNING.md)

def sha256(b):
    return hashlib.sha256(b).digest()


def leaf_hash(record, key_id_hex, sig):
    return sha256(b"\x00" + bytes(record) + bytes.fromhex(key_id_hex) + bytes(sig))


def chain_step(prev, leaf):
    return sha256((prev if prev is not None else b"\x00" * 32) + leaf)


def mth(leaves):
    """RFC 9162 Merkle tree hash of a list of leaf hashes."""
    n = len(leaves)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


# Ed25519 signing (RFC 8032 section 6, pure Python), for the tamper suite's insider who holds a
# key file: it re-signs a record with a key of the exchange.  Slow (~10 ms) but exact.
_P = 2 ** 255 - 19
_Q = 2 ** 252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _padd(a, b):
    A = (a[1] - a[0]) * (b[1] - b[0]) % _P
    B = (a[1] + a[0]) * (b[1] + b[0]) % _P
    C = 2 * a[3] * b[3] * _D % _P
    D = 2 * a[2] * b[2] % _P
    E, F, G, H = B - A, D - C, D + C, B + A
    return (E * F % _P, G * H % _P, F * G % _P, E * H % _P)


def _pmul(s, pt):
    q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = _padd(q, pt)
        pt = _padd(pt, pt)
        s >>= 1
    return q


def _recover_x(y, sign):
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P)
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x & 1) != sign:
        x = _P - x
    return x


_GY = 4 * pow(5, _P - 2, _P) % _P
_GX = _recover_x(_GY, 0)
_G = (_GX, _GY, 1, _GX * _GY % _P)


def _compress(pt):
    zi = pow(pt[2], _P - 2, _P)
    x, y = pt[0] * zi % _P, pt[1] * zi % _P
    return int.to_bytes(y | ((x & 1) << 255), 32, "little")


def ed25519_public(seed):
    h = hashlib.sha512(seed).digest()
    a = (int.from_bytes(h[:32], "little") & ((1 << 254) - 8)) | (1 << 254)
    return _compress(_pmul(a, _G))


def ed25519_sign(seed, msg):
    h = hashlib.sha512(seed).digest()
    a = (int.from_bytes(h[:32], "little") & ((1 << 254) - 8)) | (1 << 254)
    pub = _compress(_pmul(a, _G))
    r = int.from_bytes(hashlib.sha512(h[32:] + msg).digest(), "little") % _Q
    rs = _compress(_pmul(r, _G))
    k = int.from_bytes(hashlib.sha512(rs + pub + msg).digest(), "little") % _Q
    return rs + int.to_bytes((r + k * a) % _Q, 32, "little")


def key_id_of(pub):
    return hashlib.blake2b(pub, digest_size=32).digest()[:8].hex()


def read_seed(keys, key_id):
    with open(os.path.join(keys, key_id + ".key"), encoding="ascii") as f:
        return bytes.fromhex(f.read().strip())


def _ed25519_selftest():
    """The worked example of api/SIGNING.md."""
    seed = bytes(range(32))
    rec = bytes.fromhex("0000006800000001000000000000002a00000000000003e900000000000001f5"
                        "00000000000000070000000000000003000000000000000c0000000800000000"
                        "6b0e0e00000000006b0e464000000000000000f50000000000001ea0000000fa"
                        "000000006b0a0477")
    pub = ed25519_public(seed)
    ok = (pub.hex() == "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
          and key_id_of(pub) == "9d24e2eeaf27c2a0"
          and ed25519_sign(seed, rec).hex() == "5b91792c1379b59a5b39411e0e9ec076361ff7ded441afd31c8b1fd24f879d34"
                                                "cce33bbf92ec78de9756fbfdc05cf26b9dbe9af46090be15c946766f3e86ae07")
    if not ok:
        raise Failed("the Python Ed25519 does not reproduce api/SIGNING.md's worked example")


def flip_hex(h, byte_index, mask=0x01):
    """Hex string h with byte `byte_index` xor `mask` (still lowercase hex of the same length)."""
    b = bytearray.fromhex(h)
    b[byte_index] ^= mask
    return b.hex()


def ledger_entries(url):
    """Sequenced entries in tree order: [{id, purpose, trade_id, txn_id, record, key_id, sig,
    leaf_index, leaf, chain, created_at}] (trade_id / txn_id None when NULL)."""
    out = []
    for r in rows(url, "SELECT id, purpose, encode(record, 'hex'), key_id, encode(signature, 'hex'),"
                       " leaf_index, encode(leaf_hash, 'hex'), encode(chain_hash, 'hex'),"
                       " coalesce(trade_id::text, ''), coalesce(journal_txn_id::text, ''), created_at::text"
                       " FROM ledger_entries WHERE leaf_index IS NOT NULL ORDER BY leaf_index"):
        out.append({"id": int(r[0]), "purpose": int(r[1]), "record": bytes.fromhex(r[2]), "key_id": r[3],
                    "sig": bytes.fromhex(r[4]), "leaf_index": int(r[5]), "leaf": bytes.fromhex(r[6]),
                    "chain": bytes.fromhex(r[7]), "trade_id": int(r[8]) if r[8] else None,
                    "txn_id": int(r[9]) if r[9] else None, "created_at": r[10]})
    return out


# ---------------------------------------------------------------- waiting

# The ledger is quiet when every power event is signed (POWER entries) and the whole audit log
# is covered by a signed AUDIT_HEAD (the sequencer signs one at most every 5 s): only then does
# the tree stop growing by itself (schema/023).
_QUIET = ("SELECT NOT EXISTS (SELECT 1 FROM power_events pe WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e"
          " WHERE e.power_event_id = pe.id)) AND (SELECT count(*) FROM audit_log) = coalesce((SELECT"
          " max(sl_power_u64(record, 16)) FROM ledger_entries WHERE purpose = 11), 0)")


def wait_sequenced(client, url, token, timeout=30.0):
    """Poll GET /v1/ledger/checkpoint until the ledger is quiet (power events signed, the audit
    log under a signed head) and the checkpoint's tree_size equals the number of ledger_entries
    rows; returns the checkpoint (raises Failed on timeout)."""
    deadline = time.time() + timeout
    last = None
    n = None
    while time.time() < deadline:
        if one(url, _QUIET) != "t":
            time.sleep(0.2)
            continue
        n = int(one(url, "SELECT count(*) FROM ledger_entries"))
        r = client.get("/v1/ledger/checkpoint", token=token)
        if r.status == 200:
            last = r.json
            if last.get("tree_size") == n:
                return last
        time.sleep(0.1)
    raise Failed("the sequencer did not cover the %s ledger entries within %.0fs (last checkpoint %s)"
                 % (n, timeout, last))


def wait_reservations_quiet(url, timeout=10.0):
    """Wait until no dispatch job is pending (the sim adapter moves reservations on its own)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        n = one(url, "SELECT count(*) FROM dispatch_jobs WHERE state = 'queued'")
        if n == "0":
            return True
        time.sleep(0.1)
    return False


# ---------------------------------------------------------------- a small market, via the API

def _req(client, method, path, body, token, want):
    r = client.req(method, path, body=body, token=token)
    if r.status != want:
        raise Failed("%s %s: %s (expected %s)" % (method, path, r.short(), want))
    return r.json


def account(client, admin, kind, name):
    acc = _req(client, "POST", "/v1/accounts", {"kind": kind, "name": name}, admin, 201)
    tok = _req(client, "POST", "/v1/accounts/%d/tokens" % acc["id"], {}, admin, 201)
    return {"id": acc["id"], "token": tok["token"], "name": name}


def deposit(client, admin, acct_id, amount):
    return _req(client, "POST", "/v1/accounts/%d/deposits" % acct_id, {"amount": amount, "memo": "e2e"}, admin, 201)


def withdraw(client, token, acct_id, amount):
    return _req(client, "POST", "/v1/accounts/%d/withdrawals" % acct_id, {"amount": amount}, token, 201)


def order(client, token, body):
    return _req(client, "POST", "/v1/orders", body, token, 201)


def build_market(client, admin, tag, big=False):
    """A small market run.  Returns a dict: regions, providers, pools, tenants, orders,
    trades (ids), cancelled_free / cancelled_late (trade ids), deposits / withdrawals
    (journal txn ids, with account ids), split_order (an order with two trades)."""
    w = {"tag": tag, "trades": [], "orders": [], "deposits": [], "withdrawals": []}
    _req(client, "PUT", "/v1/exchange/settings", {"fee_bp": 250, "cancel_free_hours": 24, "cancel_charge_bp": 1000},
         admin, 200)
    regions = []
    for i in range(2):
        code = "lg-%s-%d" % (tag, i)
        _req(client, "POST", "/v1/regions", {"code": code, "name": "Ledger " + code, "tier": "cloud"}, admin, 201)
        regions.append(code)
    w["regions"] = regions
    provs = [account(client, admin, "provider", "lg-%s-p%d" % (tag, i)) for i in range(2)]
    w["providers"] = provs
    pools = []
    for i, (prov, reg, price) in enumerate([(provs[0], regions[0], "2.37"), (provs[1], regions[0], "2.90"),
                                            (provs[1], regions[1], "1.85")]):
        body = {"name": "lg-%s-pool%d" % (tag, i), "region": reg, "accelerator": "H100-SXM", "gpu_count": 16,
                "gpus_per_node": 8, "intra_node": "nvlink", "inter_node": "infiniband", "inter_node_gbps": 400,
                "price_per_gpu_hour": price, "available_from": hour(1), "available_until": hour(24 * 20),
                "adapter": {"kind": "sim", "config": {}}}
        pools.append(_req(client, "POST", "/v1/pools", body, prov["token"], 201))
    w["pools"] = pools
    tenants = [account(client, admin, "tenant", "lg-%s-t%d" % (tag, i)) for i in range(3)]
    w["tenants"] = tenants
    for t in tenants:
        d = deposit(client, admin, t["id"], "5000.00")
        w["deposits"].append((d["txn_id"], t["id"]))

    def buy(t, start_h, gpus, hours, region, **extra):
        body = {"gpus": gpus, "duration_hours": hours, "earliest_start": hour(start_h), "regions": [region]}
        body.update(extra)
        o = order(client, t["token"], body)
        if o["state"] != "filled":
            raise Failed("setup order not filled: %s" % o)
        w["orders"].append(o["id"])
        w["trades"].extend(tr["id"] for tr in o["trades"])
        return o

    n_rounds = 3 if big else 1
    for rnd in range(n_rounds):
        base = 2 + rnd * 40
        buy(tenants[0], base + 2, 2, 3, regions[0])
        buy(tenants[1], base + 5, 4, 2, regions[1])
        buy(tenants[2], base + 8, 1, 1, regions[0])
    # a split order over two pools of region 0 (16 + 16 GPUs; 20 needs both)
    split = buy(tenants[1], 12, 20, 1, regions[0], placement="split")
    if len(split["trades"]) < 2:
        raise Failed("the split order made %d trade(s), expected 2" % len(split["trades"]))
    w["split_order"] = split["id"]
    # cancellations: one more than cancel_free_hours ahead (free), one inside (charged)
    early = buy(tenants[2], 40, 3, 2, regions[1])
    late = buy(tenants[0], 3, 4, 3, regions[1])
    te, tl = early["trades"][0]["id"], late["trades"][0]["id"]
    c1 = _req(client, "POST", "/v1/trades/%d/cancel" % te, None, tenants[2]["token"], 200)
    c2 = _req(client, "POST", "/v1/trades/%d/cancel" % tl, None, tenants[0]["token"], 200)
    if c1["cancellation_charge"] != "0.00" or c2["cancellation_charge"] == "0.00":
        raise Failed("cancellation charges %s / %s, expected free then charged"
                     % (c1["cancellation_charge"], c2["cancellation_charge"]))
    w["cancelled_free"], w["cancelled_late"] = te, tl
    # money in and out
    d = deposit(client, admin, tenants[0]["id"], "123.45")
    w["deposits"].append((d["txn_id"], tenants[0]["id"]))
    wd = withdraw(client, tenants[1]["token"], tenants[1]["id"], "77.70")
    w["withdrawals"].append((wd["txn_id"], tenants[1]["id"]))
    # one more trade after the money moves
    buy(tenants[0], 30, 1, 2, regions[0])
    return w
