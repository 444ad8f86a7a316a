"""Helpers for test_dispatch.py and test_faults.py (python3 standard library only).

* `PrivateEnv`: a database of its own (a sibling of SUANLI_DATABASE_URL's, created with CREATE
  DATABASE and dropped at the end) with one or more `suanlid serve` processes of its own on
  ports 18600..18699, each with the environment the test needs (SUANLI_MAINTENANCE_MS=200,
  SUANLI_WEBHOOK_ALLOW, ...).  Dispatch and health sensing act on the whole database (the
  outbox, pools that stop heartbeating, the heartbeat timeout of exchange_settings), so these
  tests never share a database with the rest of the suite: their settings cannot disturb the
  other tests, and "no dispatch job is queued" means *their* jobs.  It offers the same helpers
  as harness.Env (account, region, pool, walk) plus SQL on its own database.
* `Receiver`: a webhook receiver (http.server on 127.0.0.1, a free port) that verifies every
  request's X-Suanli-Signature with the project's verifier (`suanli-verify file BODY SIG KEYS`,
  SIG = {"key_id","signature","sha256"}, KEYS from GET /v1/keys: Ed25519 over the EXPORT
  record of SHA-256(body), api/SIGNING.md), records (Idempotency-Key, body), keeps one
  reservation per key (deduplicating retries), and can be told how to treat the next new key:
  drop the reply, answer late, answer 500 a few times.
* `wait_for(fn, timeout)`: poll until fn() is truthy.
"""
import collections
import hashlib
import http.server
import json
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import threading
import time

import harness
import ledger_util
from harness import Failed, quote_ident, quote_lit

PORTS = range(18600, 18700)
_used_ports = set()


def pick_port():
    """A free port in 18600..18699 not handed out before in this run (servers are restarted
    on the same port, so ports are never reused between servers)."""
    order = list(PORTS)
    start = secrets.randbelow(len(order))
    for p in order[start:] + order[:start]:
        if p in _used_ports or not harness.port_ok(p):
            continue
        s = socket.socket()
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            s.close()
        _used_ports.add(p)
        return p
    raise Failed("no free port in 18600..18699")


def wait_for(fn, timeout, interval=0.1):
    """Call fn() until it returns something truthy (returned) or timeout seconds pass (None)."""
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() >= deadline:
            return None
        time.sleep(interval)


def verifier():
    """The suanli-verify binary next to the server binary (build*/tools/), else build/tools/."""
    cands = [os.path.join(os.path.dirname(harness.source_binary()), "tools", "suanli-verify"),
             os.path.join(harness.ROOT, "build", "tools", "suanli-verify")]
    for c in cands:
        if os.access(c, os.X_OK):
            return c
    raise Failed("suanli-verify not found (looked at %s)" % ", ".join(cands))


# ---------------------------------------------------------------- private databases

def create_db(tag):
    """A new empty database next to SUANLI_DATABASE_URL's (same server and role); its URL."""
    base = harness.db_url()
    name = ("%s_%s_%s" % (harness.db_name(base), tag, harness.RUN))[-63:].lstrip("_")
    try:
        harness.psql("CREATE DATABASE %s" % quote_ident(name), base)
    except Failed as e:
        admin = os.environ.get("SUANLI_PG_ADMIN_URL")
        if not admin:
            raise Failed("cannot create a private database (the test role needs CREATEDB, or set "
                         "SUANLI_PG_ADMIN_URL): %s" % e)
        role = harness.psql("SELECT current_user", base)
        harness.psql("CREATE DATABASE %s OWNER %s" % (quote_ident(name), quote_ident(role)), admin)
    return harness.url_with_db(base, name)


def drop_db(url):
    if os.environ.get("SUANLI_E2E_KEEP_DB") == "1":
        return
    for u in (harness.db_url(), os.environ.get("SUANLI_PG_ADMIN_URL")):
        if not u:
            continue
        try:
            harness.psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % quote_ident(harness.db_name(url)), u)
            return
        except Failed:
            continue


# ---------------------------------------------------------------- servers

class Srv(harness.Server):
    """suanlid serve on a fixed port with its own database URL and extra environment; can be
    SIGKILLed and restarted on the same port (a new log file per start)."""

    def __init__(self, name, url, extra_env=None, port=None):  # noqa: D107 — mirrors harness.Server
        self.name = name
        self.url = url
        self.extra_env = dict(extra_env or {})
        self.port = port or pick_port()
        self.client = harness.Client(self.port)
        self.starts = 0
        self.logs = []
        self.proc = None
        self.log = None
        self.exit_code = None
        self.start()

    def start(self):
        self.starts += 1
        self.log_path = os.path.join(harness.out_dir(), "%s-%s-%d.log" % (self.name, self.port, self.starts))
        self.logs.append(self.log_path)
        e = dict(os.environ)
        e.update({"SUANLI_DATABASE_URL": self.url, "SUANLI_LISTEN": "127.0.0.1:%d" % self.port,
                  "SUANLI_LOG_LEVEL": "info"})
        e.update(self.extra_env)
        for k, v in list(e.items()):
            if v is None:
                del e[k]
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([harness.binary(), "serve"], stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=e)
        self.exit_code = None

    def kill(self):
        """SIGKILL and reap (a crash: no draining, no clean-up)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.log.close()

    def restart(self, timeout=30):
        """Start again on the same port (after kill or stop) and wait until ready."""
        deadline = time.time() + timeout
        while True:  # the port may linger for a moment after the kill
            s = socket.socket()
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", self.port))
                break
            except OSError:
                if time.time() > deadline:
                    raise Failed("port %d stays busy after the server stopped" % self.port)
                time.sleep(0.05)
            finally:
                s.close()
        self.start()
        return self.wait_ready(timeout)

    def all_log_text(self):
        out = []
        for p in self.logs:
            try:
                with open(p, "rb") as f:
                    out.append(f.read().decode("utf-8", "replace"))
            except OSError:
                pass
        return "\n".join(out)


class PrivateEnv(harness.Env):
    """harness.Env on a database of its own with `n` servers of its own (see the module doc).
    Use as a context manager: servers stopped (SIGTERM, exit 0 required) and the database
    dropped at exit.  With clock=TIME (e.g. "now"), TEST-ONLY, the database runs on a test
    clock frozen at TIME before its servers start, which the test moves forward (clock())
    instead of waiting or rewriting history (schema/014_clock.sql)."""

    def __init__(self, tag, n=1, extra_env=None, clock=None):  # noqa: D107 — harness.Env.__init__ is not called
        self.tag = tag
        self.url = create_db(tag)
        self.servers = []
        self.extra_env = {"SUANLI_MAINTENANCE_MS": "200"}
        self.extra_env.update(extra_env or {})
        try:
            if clock is not None:  # TEST-ONLY: a test clock frozen there (see clock())
                ledger_util.clock_set(self.url, clock, "--frozen")
            for i in range(n):
                self.servers.append(Srv("%s-%d" % (tag, i), self.url, self.extra_env))
            for s in self.servers:
                s.wait_ready()
        except BaseException:
            self.close(check=False)
            raise
        self.server = self.servers[0]
        self.c = self.server.client
        p = harness.run_cli("bootstrap-admin", extra_env={"SUANLI_DATABASE_URL": self.url})
        lines = p.stdout.splitlines()
        if p.returncode != 0 or len(lines) != 1 or not harness.TOKEN_RE.match(lines[0]):
            self.close(check=False)
            raise Failed("bootstrap-admin on %s failed (%s): %s %s" % (self.url, p.returncode, p.stdout[-300:],
                                                                      p.stderr[-300:]))
        self.admin = lines[0]
        self._accel = None

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        self.close(check=et is None)
        return False

    def close(self, check=True):
        """Stop the servers (SIGTERM; each must exit 0 with a JSON log) and drop the database."""
        problems = []
        for s in self.servers:
            if s.proc is None or s.log.closed:
                continue
            try:
                s.check_stopped_cleanly()
            except AssertionError as e:
                problems.append(str(e))
        drop_db(self.url)
        if check and problems:
            raise Failed("\n".join(problems))

    # --- SQL on the private database
    def psql(self, sql):
        return harness.psql(sql, self.url)

    def q(self, sql):
        out = self.psql(sql)
        return [line.split("|") for line in out.split("\n") if line != ""]

    def q1(self, sql):
        rows = self.q(sql)
        return rows[0][0] if rows else None

    # --- API shorthands
    def deposit(self, acct_id, amount):
        r = self.c.post("/v1/accounts/%d/deposits" % acct_id, {"amount": amount, "memo": "e2e"}, token=self.admin)
        if r.status != 201:
            raise Failed("deposit: %s" % r.short())
        return r.json

    def balances(self, acct_id):
        r = self.c.get("/v1/accounts/%d/balances" % acct_id, token=self.admin)
        if r.status != 200:
            raise Failed("balances: %s" % r.short())
        return r.json

    def trade(self, tid):
        r = self.c.get("/v1/trades/%d" % tid, token=self.admin)
        if r.status != 200:
            raise Failed("GET trade %d: %s" % (tid, r.short()))
        return r.json

    def order(self, oid):
        r = self.c.get("/v1/orders/%d" % oid, token=self.admin)
        if r.status != 200:
            raise Failed("GET order %d: %s" % (oid, r.short()))
        return r.json

    def settings(self):
        r = self.c.get("/v1/exchange/settings", token=self.admin)
        if r.status != 200:
            raise Failed("settings: %s" % r.short())
        return r.json

    def settings_charge_bp(self):
        """cancel_charge_bp when the start is within cancel_free_hours, else 0."""
        return self.settings()["cancel_charge_bp"]

    def res_state(self, tid):
        return self.trade(tid)["reservation"]["state"]

    def wait_res(self, tid, states, timeout=20):
        """Poll the trade until its reservation is in one of `states`; returns the trade."""
        last = {}

        def f():
            last["t"] = self.trade(tid)
            return last["t"]["reservation"]["state"] in states
        wait_for(f, timeout)
        return last["t"]

    # --- the test clock (PrivateEnv(clock=TIME): schema/014_clock.sql, TEST-ONLY)
    def clock(self, spec, mode=None):
        """Move this database's clock forward (`suanlid clock set SPEC [MODE]`) once no dispatch
        job is queued or running, so that the jump passes no reservation's deadline."""
        if not wait_for(lambda: self.jobs_queued() == 0, 15):
            raise Failed("dispatch jobs still pending before moving the clock")
        return ledger_util.clock_set(self.url, spec, mode)

    def now(self):
        """This database's business time, epoch seconds."""
        return ledger_util.clock_now_us(self.url) // 1000000

    def hour(self, offset_hours=0):
        """harness.hour on this database's clock."""
        return ledger_util.clock_hour(self.url, offset_hours)

    def jobs_queued(self):
        return int(self.q1("SELECT count(*) FROM dispatch_jobs WHERE state IN ('queued', 'running')"))

    def bump_ids(self):
        """Test-only: start this database's trade and reservation ids at a random high value, so
        that external names derived from them (Slurm's suanli-res-<id>, webhook keys) cannot
        meet the leftovers of another run or of a suite running beside this one."""
        base = 10 ** 6 + secrets.randbelow(10 ** 9)
        for t in ("reservations", "trades", "orders"):
            self.psql("SELECT setval(pg_get_serial_sequence(%s, 'id'), %d)" % (quote_lit(t), base))
        return base  # the next reservation's id is base + 1


# ---------------------------------------------------------------- webhook receiver

class Receiver:
    """A provider's webhook endpoint.  Every request is recorded as a dict: key (Idempotency-Key),
    body (bytes), json, verified (bool), verify_out, headers, behaviour (what it did).  The
    reservation store is a dict key -> body (one per key: a retry of a known key finds it).
    `plan` is a queue of behaviours for the next *new* keys (one behaviour list per key, applied
    to that key's successive requests): "ok", "drop" (record, then close the connection without
    an answer), "slow" (record, sleep `slow_s`, then answer 200), "500"."""

    def __init__(self, keys_json, slow_s=2.0):
        self.keys_json = keys_json
        self.slow_s = slow_s
        self.lock = threading.Lock()
        self.requests = []
        self.store = {}
        self.plan = collections.deque()
        self.behaviours = {}  # key -> remaining behaviours
        self.tmp = tempfile.mkdtemp(prefix="suanli-hook-", dir=harness.out_dir())
        self.keys_path = os.path.join(self.tmp, "keys.json")
        with open(self.keys_path, "w") as f:
            f.write(keys_json)
        self.seq = 0
        recv = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                recv.handle(self, body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, host="127.0.0.1", path="/hook"):
        return "http://%s:%d%s" % (host, self.port, path)

    def verify(self, body, key_id, sig):
        with self.lock:
            self.seq += 1
            n = self.seq
        bpath = os.path.join(self.tmp, "body-%d" % n)
        spath = os.path.join(self.tmp, "sig-%d.json" % n)
        with open(bpath, "wb") as f:
            f.write(body)
        with open(spath, "w") as f:
            json.dump({"key_id": key_id or "", "signature": sig or "",
                       "sha256": hashlib.sha256(body).hexdigest()}, f)
        p = subprocess.run([verifier(), "file", bpath, spath, self.keys_path], capture_output=True, text=True,
                           timeout=20)
        return p.returncode == 0, (p.stdout + p.stderr).strip()

    def handle(self, h, body):
        key = h.headers.get("Idempotency-Key")
        ok, out = self.verify(body, h.headers.get("X-Suanli-Key-Id"), h.headers.get("X-Suanli-Signature"))
        try:
            j = json.loads(body.decode("utf-8"))
        except ValueError:
            j = None
        with self.lock:
            if key not in self.behaviours:
                self.behaviours[key] = list(self.plan.popleft()) if self.plan else []
            todo = self.behaviours[key]
            beh = todo.pop(0) if todo else "ok"
            rec = {"key": key, "body": body, "json": j, "verified": ok, "verify_out": out,
                   "headers": dict(h.headers), "behaviour": beh, "at": time.time(), "path": h.path}
            self.requests.append(rec)
            if ok and beh != "500" and isinstance(j, dict):
                # the provider's side: one reservation per reservation id (each action has its
                # own Idempotency-Key: "reservation-<id>", "reservation-<id>-cancel", ...)
                act, res = j.get("action"), "reservation-%s" % j.get("reservation_id")
                if act == "reserve" and res not in self.store:
                    self.store[res] = body
                elif act == "cancel":
                    self.store.pop(res, None)
        if beh == "drop":
            h.close_connection = True
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if beh == "slow":
            time.sleep(self.slow_s)
        if not ok:
            status, reply = 401, {"error": "bad signature"}
        elif beh == "500":
            status, reply = 500, {"error": "try later"}
        else:
            status, reply = 200, {"ref": "hook-%s" % key}
        data = json.dumps(reply).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except OSError:
            pass

    def for_key(self, key):
        with self.lock:
            return [r for r in self.requests if r["key"] == key]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
