"""End-to-end harness for suanlid (python3 standard library only).

One `Server` per suanlid process: started on a free port with a fresh log file, ready when
/readyz answers 200, stopped with SIGTERM (exit status must be 0, every log line one JSON
object).  `env()` returns the shared server of the run, with a bootstrapped admin token;
helpers create accounts, tokens, regions and pools through the API.  `snapshot()` is a
fingerprint of every table except audit_log and idempotency_keys, to assert that a refused
request changed nothing.
"""
import datetime
import hashlib
import http.client
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("SUANLI_ROOT") or os.path.dirname(os.path.dirname(HERE))
RUN = secrets.token_hex(3)  # makes every name this run creates unique
TOKEN_RE = re.compile(r"^sl_([0-9a-f]{32})_([A-Za-z0-9_\-]+)$")
ERROR_KEYS = {"error", "code", "hint", "field", "detail", "request_id"}
# `field` of errors that are not about a body field: '' or the header / path parameter named
AUTH_FIELD = ("", "Authorization")
PATH_FIELD = ("", "id")

_counter = itertools.count(1)

# The suite sends thousands of requests a minute from one address with a few tokens: every
# server it starts (all copy os.environ) runs without request budgets unless a test sets
# them (test_hostile.py starts its own servers with budgets).
for _k in ("ADMIN", "OPERATOR", "PROVIDER", "TENANT", "ANONYMOUS", "ADDRESS"):
    os.environ.setdefault("SUANLI_RATE_" + _k, "unlimited")


class Skip(Exception):
    """Raised by a test that cannot run here; counted as skipped."""


class Failed(AssertionError):
    pass


def fail(msg):
    raise Failed(msg)


def check(cond, msg):
    if not cond:
        raise Failed(msg)


class Collector:
    """Gathers many failures in one test so the report lists every violation at once."""

    def __init__(self):
        self.failures = []

    def check(self, cond, msg):
        if not cond:
            self.failures.append(msg)
        return bool(cond)

    def add(self, msg):
        self.failures.append(msg)

    def run(self, label, fn, *a, **kw):
        """Run fn; a Failed/AssertionError becomes one recorded failure prefixed by label."""
        try:
            return fn(*a, **kw)
        except AssertionError as e:
            self.failures.append("%s: %s" % (label, e))
        return None

    def done(self):
        if self.failures:
            raise Failed("%d problem(s):\n%s" % (len(self.failures), "\n".join(self.failures)))


def uniq(prefix="x"):
    return "%s-%s-%d" % (prefix, RUN, next(_counter))


# ---------------------------------------------------------------- errors.def

def load_errors():
    """name -> (code, status, hint) from api/errors.def."""
    out = {}
    pat = re.compile(r'^\s*SL_ERROR\(\s*(\w+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*"([^"]*)"\s*,\s*"((?:[^"\\]|\\.)*)"\s*\)')
    with open(os.path.join(ROOT, "api", "errors.def"), encoding="utf-8") as f:
        for line in f:
            m = pat.match(line)
            if m:
                out[m.group(4)] = (int(m.group(2)), int(m.group(3)), m.group(5).replace('\\"', '"'))
    return out


ERRORS = load_errors()


# ---------------------------------------------------------------- time helpers

def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def ts(dt):
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def hour(offset_hours=0):
    """RFC 3339 of the whole UTC hour `offset_hours` after the current one."""
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    return ts(now + datetime.timedelta(hours=offset_hours))


def parse_ts(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


# ---------------------------------------------------------------- HTTP

class Resp:
    """An HTTP reply: unpacks as (status, headers, json); .raw holds the body bytes."""

    def __init__(self, status, headers, raw, method="", path=""):
        self.status = status
        self.headers = headers  # lower-cased names
        self.raw = raw
        self.method = method
        self.path = path
        try:
            self.json = json.loads(raw.decode("utf-8")) if raw else None
        except (ValueError, UnicodeDecodeError):
            self.json = None

    def __iter__(self):
        return iter((self.status, self.headers, self.json))

    def err(self):
        return self.json.get("error") if isinstance(self.json, dict) else None

    def field(self):
        return self.json.get("field") if isinstance(self.json, dict) else None

    def short(self):
        body = self.raw[:300].decode("utf-8", "replace")
        return "%s %s -> %s %s" % (self.method, self.path, self.status, body)


def _body_bytes(body):
    if body is None:
        return None
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body).encode("utf-8")


MONEY_ROUTE = re.compile(r"^/v1/(orders|trades/[^/]+/cancel|accounts/[^/]+/(deposits|withdrawals)"
                         r"|agent/work/[^/]+/result)$")


def money_route(method, path):
    """True for the POSTs that move money, which require an Idempotency-Key."""
    return method == "POST" and bool(MONEY_ROUTE.match(path.split("?", 1)[0]))


class Client:
    """HTTP client.  Like a careful client, it sends a fresh Idempotency-Key with every
    money-moving POST that does not bring its own; headers={"Idempotency-Key": None} sends
    none (to test the refusal)."""

    def __init__(self, port, host="127.0.0.1"):
        self.host, self.port = host, port

    def req(self, method, path, body=None, token=None, headers=None, ctype="application/json",
            timeout=20):
        data = _body_bytes(body)
        h = {}
        if data is not None and ctype is not None:
            h["Content-Type"] = ctype
        if token is not None:
            h["Authorization"] = "Bearer " + token
        if money_route(method, path):
            h["Idempotency-Key"] = "auto-" + secrets.token_hex(12)
        if headers:
            h.update(headers)
        h = {k: v for k, v in h.items() if v is not None}
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            raw = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            return Resp(r.status, hdrs, raw, method, path)
        finally:
            conn.close()

    def raw(self, data, timeout=20, pause_after=None):
        """Send raw request bytes; return the parsed reply.  The server may answer before
        reading the whole body (e.g. 413), so send errors are ignored and the reply read."""
        s = socket.create_connection((self.host, self.port), timeout=timeout)
        try:
            try:
                s.sendall(data)
            except OSError:
                pass
            r = http.client.HTTPResponse(s, method="POST")
            r.begin()
            raw = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            first = data.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            return Resp(r.status, hdrs, raw, first[0], first[1] if len(first) > 1 else "")
        finally:
            s.close()

    # shorthands
    def get(self, path, token=None, **kw):
        return self.req("GET", path, token=token, **kw)

    def post(self, path, body, token=None, **kw):
        return self.req("POST", path, body=body, token=token, **kw)

    def put(self, path, body, token=None, **kw):
        return self.req("PUT", path, body=body, token=token, **kw)

    def patch(self, path, body, token=None, **kw):
        return self.req("PATCH", path, body=body, token=token, **kw)

    def delete(self, path, token=None, **kw):
        return self.req("DELETE", path, token=token, **kw)


def error_problems(r, status, name, field=None):
    """List of ways reply r differs from the documented error (status, name, field)."""
    p = []
    if r.status != status:
        p.append("status %s, expected %s" % (r.status, status))
    j = r.json
    if not isinstance(j, dict):
        p.append("body is not a JSON object: %r" % r.raw[:200])
        return p
    keys = set(j)
    if keys != ERROR_KEYS:
        p.append("error keys %s, expected %s" % (sorted(keys), sorted(ERROR_KEYS)))
    if name is not None and j.get("error") != name:
        p.append("error %r, expected %r" % (j.get("error"), name))
    ent = ERRORS.get(j.get("error"))
    if ent is None:
        p.append("error name %r is not in api/errors.def" % j.get("error"))
    else:
        if j.get("code") != ent[0]:
            p.append("code %r, errors.def says %r" % (j.get("code"), ent[0]))
        if r.status != ent[1]:
            p.append("HTTP %s but errors.def says %s for %s" % (r.status, ent[1], j.get("error")))
        if j.get("hint") != ent[2]:
            p.append("hint %r differs from errors.def" % j.get("hint"))
    if field is not None:
        f = j.get("field")
        if callable(field):
            ok, want = field(f), field.__doc__ or "a matching field"
        elif isinstance(field, (tuple, list, set, frozenset)):
            ok, want = f in field, " or ".join(repr(x) for x in field)
        else:
            ok, want = f == field, repr(field)
        if not ok:
            p.append("field %r, expected %s" % (f, want))
    if not isinstance(j.get("field", None), str):
        p.append("field is not a string")
    rid = r.headers.get("x-request-id")
    if not rid:
        p.append("no X-Request-Id header")
    elif j.get("request_id") != rid:
        p.append("request_id %r != X-Request-Id %r" % (j.get("request_id"), rid))
    return p


def best_error_problems(r, alts):
    """The problems of the alternative (status, name, field) that reply r matches best: []
    when one matches exactly."""
    best = None
    for (status, name, field) in alts:
        p = error_problems(r, status, name, field)
        if best is None or len(p) < len(best):
            best = p
        if not p:
            break
    return best or []


def expect_error(r, status, name, field=None):
    p = error_problems(r, status, name, field)
    if p:
        fail("%s: %s" % (r.short(), "; ".join(p)))


def expect_status(r, status):
    ok = r.status in status if isinstance(status, (tuple, list, set)) else r.status == status
    if not ok:
        fail("%s: expected %s" % (r.short(), status))
    return r.json


# ---------------------------------------------------------------- database

def db_url():
    url = os.environ.get("SUANLI_DATABASE_URL")
    if not url:
        raise RuntimeError("SUANLI_DATABASE_URL is not set (a fresh, empty database per run)")
    return url


def url_with_db(url, name):
    """`url` (a libpq URL) pointing at database `name` instead."""
    u = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + name, u.query, u.fragment))


def db_name(url):
    """The database a libpq URL names (postgres when none)."""
    return urllib.parse.urlsplit(url).path.lstrip("/") or "postgres"


def _psql_bin():
    """The psql program: SUANLI_PSQL, else the psql of SL_PG_BIN (deploy/lib.sh's PostgreSQL 15,
    default /usr/lib/postgresql/15/bin), else psql from PATH.  Debian's /usr/bin/psql is
    pg_wrapper, a Perl script that picks a cluster and then starts that same psql: ~0.15 s more
    per call on an idle machine, more under load, and the suite runs psql thousands of times."""
    if os.environ.get("SUANLI_PSQL"):
        return os.environ["SUANLI_PSQL"]
    b = os.path.join(os.environ.get("SL_PG_BIN") or "/usr/lib/postgresql/15/bin", "psql")
    return b if os.access(b, os.X_OK) else "psql"


PSQL = _psql_bin()


def psql(sql, url=None):
    p = subprocess.run([PSQL, url or db_url(), "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise Failed("psql failed (%s): %s" % (sql[:120], p.stderr.strip()))
    return p.stdout.rstrip("\n")


class PsqlSession:
    """One long-lived psql process for frequent read-only queries (snapshots): a fresh psql
    per query costs ~30 ms, a query on this one ~2 ms.  Restarted when it dies (e.g. after
    a database restart)."""

    MARK = "__suanli_e2e_end__"

    def __init__(self):
        self.p = None

    def _start(self):
        self.p = subprocess.Popen([PSQL, db_url(), "-X", "-At", "-q", "-v", "ON_ERROR_STOP=0"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, bufsize=1)

    def query(self, sql):
        for attempt in (1, 2):
            if self.p is None or self.p.poll() is not None:
                self._start()
            try:
                self.p.stdin.write(sql.rstrip().rstrip(";") + ";\n\\echo " + self.MARK + "\n")
                self.p.stdin.flush()
                lines = []
                while True:
                    line = self.p.stdout.readline()
                    if not line:
                        raise OSError("psql ended")
                    line = line.rstrip("\n")
                    if line == self.MARK:
                        break
                    lines.append(line)
                if lines:
                    return "\n".join(lines)
            except OSError:
                pass
            self.close()
        return psql(sql)  # fall back to a one-off psql, which reports the error

    def close(self):
        if self.p is not None:
            try:
                self.p.kill()
                self.p.wait(5)
            except OSError:
                pass
            self.p = None


_session = PsqlSession()

# audit_log and idempotency_keys record refused requests too; book_events is a work queue
# (rows written by earlier accepted changes, deleted by a background worker at any time);
# txn_commits marks every write transaction of a session (schema/012), a refusal's audit row
# too; market_changes is the capacity book's change feed (a log of the tables above).
SNAPSHOT_EXCLUDE = {"audit_log", "idempotency_keys", "book_events", "txn_commits", "market_changes"}
_snapshot_sql = None


# Columns and tables that background workers change on their own (sim heartbeats, the
# dispatcher, the simulated cluster, the ledger's sequencer): left out of `snapshot`, so that
# "a refused request changed nothing" does not depend on their timing.  Rows they insert on
# their own (reservation events after the first) are left out too; rows a request writes
# are not.
WORKER_COLUMNS = {
    "pools": {"health", "healthy_gpus", "utilization_bp", "last_heartbeat_at"},
    "reservations": {"state", "updated_at", "external_ref", "cause"},
    "dispatch_jobs": {"state", "attempts", "next_attempt_at", "last_error", "updated_at", "done_at",
                      "lease_until", "leased_by", "leased_at"},
    "ledger_entries": {"leaf_index", "leaf_hash", "chain_hash"},
}
# The sequencer signs on its own, after their commit: power events (POWER, purpose 10; the
# request's own row is in power_events) and the audit log's heads (AUDIT_HEAD, purpose 11, every
# few seconds while audit rows come in — a refused request's audit row too).
WORKER_ROWS = {"reservation_events": "from_state IS NULL", "ledger_entries": "purpose NOT IN (10, 11)"}
# dispatch_attempts: one row per adapter call, written by the dispatcher (and pruned by the
# maintenance worker's retention); market_feed_state: the change feed's prune mark, moved by the
# book worker whenever feed rows age out (long runs on a loaded machine).
WORKER_TABLES = {"sim_cluster_reservations", "ledger_checkpoints", "dispatch_attempts", "market_feed_state"}


def snapshot():
    """{table: md5 of all its rows} for every public table but audit_log, idempotency_keys,
    book_events and what the background workers change on their own (WORKER_*)."""
    global _snapshot_sql
    if _snapshot_sql is None:
        cols = {}
        for line in psql("SELECT table_name || '|' || column_name FROM information_schema.columns"
                         " WHERE table_schema = 'public' ORDER BY table_name, ordinal_position").split("\n"):
            if line:
                t, c = line.split("|", 1)
                cols.setdefault(t, []).append(c)
        tables = [t for t in psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                  "ORDER BY 1").split("\n")
                  if t and t not in SNAPSHOT_EXCLUDE and t not in WORKER_TABLES]
        parts = []
        for t in tables:
            keep = [c for c in cols.get(t, []) if c not in WORKER_COLUMNS.get(t, set())]
            proj = "ROW(%s)::text" % ", ".join(quote_ident(c) for c in keep)
            where = " WHERE " + WORKER_ROWS[t] if t in WORKER_ROWS else ""
            parts.append("SELECT %s, (SELECT md5(coalesce(string_agg(r, '|' ORDER BY r), '')) "
                         "FROM (SELECT %s AS r FROM %s%s) x)"
                         % (quote_lit(t), proj, quote_ident(t), where))
        _snapshot_sql = " UNION ALL ".join(parts)
    out = {}
    for line in _session.query(_snapshot_sql).split("\n"):
        if line:
            t, h = line.split("|", 1)
            out[t] = h
    return out


def snapshot_diff(a, b):
    return sorted(t for t in set(a) | set(b) if a.get(t) != b.get(t))


def quote_lit(s):
    return "'" + str(s).replace("'", "''") + "'"


def quote_ident(s):
    return '"' + s.replace('"', '""') + '"'


# ---------------------------------------------------------------- the server

def source_binary():
    b = os.environ.get("SUANLI_BIN", os.path.join(ROOT, "build", "suanlid"))
    if not os.path.isabs(b):
        b = os.path.join(ROOT, b)
    return b


def tool_binary(env_var, *rel):
    """A program built with the server: $env_var when set, else <server binary's folder>/tools/
    <rel...> when it exists, else build/tools/<rel...> (the suanli client, suanli-agent)."""
    b = os.environ.get(env_var)
    if b:
        return b
    cand = os.path.join(os.path.dirname(source_binary()), "tools", *rel)
    if os.path.exists(cand):
        return cand
    return os.path.join(ROOT, "build", "tools", *rel)


_binary_copy = None


def binary():
    """A private copy of SUANLI_BIN, taken at first use, so that a rebuild during the run
    cannot swap the server under the suite."""
    global _binary_copy
    if _binary_copy is None:
        src = source_binary()
        if not os.path.exists(src):
            raise Failed("no server binary at %s (set SUANLI_BIN)" % src)
        _binary_copy = os.path.join(out_dir(), "suanlid")
        shutil.copy2(src, _binary_copy)
    return _binary_copy


def port_ok(port):
    """Whether this process may use `port` of the suite's fixed port ranges (18400..18899):
    run.py --shards gives each worker process its own share (SUANLI_E2E_PORT_SLOT of
    SUANLI_E2E_PORT_SLOTS), so that two workers never pick the same port at the same time."""
    slots = int(os.environ.get("SUANLI_E2E_PORT_SLOTS") or 1)
    return slots <= 1 or port % slots == int(os.environ.get("SUANLI_E2E_PORT_SLOT") or 0)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


OUT_DIR = None


def out_dir():
    global OUT_DIR
    if OUT_DIR is None:
        OUT_DIR = os.environ.get("SUANLI_E2E_OUT") or tempfile.mkdtemp(prefix="suanli-e2e-")
        os.makedirs(OUT_DIR, exist_ok=True)
    return OUT_DIR


def run_cli(*args, timeout=60, extra_env=None):
    e = dict(os.environ)
    e["SUANLI_DATABASE_URL"] = db_url()
    if extra_env:
        e.update(extra_env)
    return subprocess.run([binary()] + list(args), capture_output=True, text=True,
                          timeout=timeout, env=e)


class Server:
    def __init__(self, name="main", log_level="info", extra_env=None):
        self.port = free_port()
        self.log_path = os.path.join(out_dir(), "%s-%s.log" % (name, self.port))
        self.client = Client(self.port)
        e = dict(os.environ)
        e.update({"SUANLI_DATABASE_URL": db_url(), "SUANLI_LISTEN": "127.0.0.1:%d" % self.port,
                  "SUANLI_LOG_LEVEL": log_level})
        e.update(extra_env or {})
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([binary(), "serve"], stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=e)
        self.exit_code = None

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise Failed("suanlid exited with %s during start-up; log tail:\n%s"
                             % (self.proc.returncode, self.log_tail()))
            try:
                last = self.client.get("/readyz", timeout=2)
                if last.status == 200:
                    return last
            except OSError:
                pass
            time.sleep(0.05)
        raise Failed("suanlid not ready after %ss (last: %s); log tail:\n%s"
                     % (timeout, last.short() if last else "no answer", self.log_tail()))

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=30):
        return "\n".join(self.log_text().splitlines()[-n:])

    def log_problems(self):
        """Lines of the log that are not one JSON object with ts, level and msg."""
        bad = []
        for i, line in enumerate(self.log_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                j = json.loads(line)
            except ValueError:
                bad.append("line %d not JSON: %s" % (i, line[:200]))
                continue
            if not isinstance(j, dict):
                bad.append("line %d not an object: %s" % (i, line[:200]))
            elif not all(isinstance(j.get(k), str) for k in ("ts", "level", "msg")):
                bad.append("line %d lacks string ts/level/msg: %s" % (i, line[:200]))
        return bad

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def stop(self, timeout=20):
        """SIGTERM, wait; returns the exit status (kills after timeout and returns None)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.exit_code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.exit_code = None
        self.log.close()
        return self.exit_code

    def check_stopped_cleanly(self, timeout=20):
        code = self.stop(timeout)
        problems = []
        if code is None:
            problems.append("did not exit within %ss of SIGTERM (killed)" % timeout)
        elif code != 0:
            problems.append("exit status %s after SIGTERM, expected 0" % code)
        text = self.log_text()
        if "AddressSanitizer" in text or "LeakSanitizer" in text or "runtime error:" in text:
            problems.append("sanitizer report in the log")
        problems += self.log_problems()[:10]
        if problems:
            fail("server %s (log %s): %s\nlog tail:\n%s"
                 % (self.port, self.log_path, "; ".join(problems), self.log_tail(15)))


# ---------------------------------------------------------------- the shared environment

class Env:
    def __init__(self):
        self.server = Server("main")
        self.server.wait_ready()
        self.c = self.server.client
        p = run_cli("bootstrap-admin")
        if p.returncode != 0:
            raise Failed("bootstrap-admin failed (%s): %s" % (p.returncode, p.stderr[-500:]))
        lines = p.stdout.splitlines()
        if len(lines) != 1 or not TOKEN_RE.match(lines[0]):
            raise Failed("bootstrap-admin must print exactly one token line, got %r" % p.stdout[:200])
        self.admin = lines[0]
        me = self.c.get("/v1/me", token=self.admin)
        if me.status != 200:
            raise Failed("GET /v1/me with the bootstrap admin token: %s" % me.short())
        self.admin_id = me.json["account"]["id"]
        self.admin_token_id = me.json["token"]["id"]
        self._accel = None

    # --- accounts and tokens
    def account(self, kind, regions=None, name=None):
        """Create an account of `kind` and a token for it; returns a dict with id, token,
        token_id, name, kind."""
        body = {"kind": kind, "name": name or uniq(kind)}
        if regions is not None:
            body["regions"] = regions
        r = self.c.post("/v1/accounts", body, token=self.admin)
        if r.status != 201:
            raise Failed("creating %s account: %s" % (kind, r.short()))
        acc = r.json
        t = self.token(acc["id"])
        return {"id": acc["id"], "name": acc["name"], "kind": kind, "token": t["token"],
                "token_id": t["id"], "account": acc}

    def token(self, account_id, as_token=None, **body):
        r = self.c.post("/v1/accounts/%d/tokens" % account_id, body, token=as_token or self.admin)
        if r.status != 201:
            raise Failed("creating token: %s" % r.short())
        return r.json

    # --- regions
    def region(self, tier="cloud", code=None, **extra):
        body = {"code": code or uniq("r"), "name": "Region " + RUN, "tier": tier}
        body.update(extra)
        r = self.c.post("/v1/regions", body, token=self.admin)
        if r.status != 201:
            raise Failed("creating region: %s" % r.short())
        return r.json["code"]

    # --- accelerators
    def accelerators(self, refresh=False):
        if self._accel is None or refresh:
            r = self.c.get("/v1/accelerators", token=self.admin)
            if r.status != 200:
                raise Failed("GET /v1/accelerators: %s" % r.short())
            self._accel = {a["id"]: a for a in r.json["items"]}
        return self._accel

    # --- pools
    def pool_body(self, region, **over):
        b = {"name": uniq("pool"), "region": region, "accelerator": "H100-SXM", "gpu_count": 16,
             "gpus_per_node": 8, "intra_node": "nvlink", "inter_node": "infiniband",
             "inter_node_gbps": 400, "price_per_gpu_hour": "2.50",
             "available_from": hour(1), "available_until": hour(24 * 30),
             "adapter": {"kind": "sim", "config": {}}}
        b.update(over)
        return b

    def pool(self, provider_token, region, **over):
        r = self.c.post("/v1/pools", self.pool_body(region, **over), token=provider_token)
        if r.status != 201:
            raise Failed("creating pool: %s" % r.short())
        return r.json

    def walk(self, path, token, limit, key="id", max_pages=1000):
        """Follow a paged list; returns (items, pages)."""
        items, pages, after = [], 0, None
        sep = "&" if "?" in path else "?"
        while True:
            q = "%s%slimit=%d" % (path, sep, limit)
            if after is not None:
                q += "&after=%s" % after
            r = self.c.get(q, token=token)
            if r.status != 200:
                raise Failed("paging %s: %s" % (q, r.short()))
            page = r.json
            if set(page) != {"items", "next_after"}:
                raise Failed("page keys %s, expected items, next_after" % sorted(page))
            if len(page["items"]) > limit:
                raise Failed("%s returned %d items, limit %d" % (q, len(page["items"]), limit))
            items += page["items"]
            pages += 1
            after = page["next_after"]
            if after is None:
                return items, pages
            if not page["items"]:
                raise Failed("%s: empty page with next_after %r" % (q, after))
            if pages > max_pages:
                raise Failed("%s: more than %d pages" % (path, max_pages))


_env = None
_env_error = None


def env():
    """The shared server of this run (started on first use)."""
    global _env, _env_error
    if _env_error is not None:
        raise Failed("environment failed to start: %s" % _env_error)
    if _env is None:
        try:
            _env = Env()
        except Exception as e:  # noqa: BLE001 — reported once, then every test fails fast
            _env_error = str(e)
            raise
    return _env


def shutdown():
    """Stop the shared server; raises Failed unless it exits 0 with a clean JSON log."""
    if _env is not None:
        _env.server.check_stopped_cleanly()


def blake2b_256(s):
    return hashlib.blake2b(s.encode("utf-8"), digest_size=32).hexdigest()


def parallel(n, fn):
    """Run fn(i) in n threads released together; returns the results in order."""
    barrier = threading.Barrier(n)
    results = [None] * n

    def go(i):
        barrier.wait()
        try:
            results[i] = fn(i)
        except Exception as e:  # noqa: BLE001
            results[i] = e

    ts_ = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in ts_:
        t.start()
    for t in ts_:
        t.join(60)
    return results
