"""The production front (deploy/haproxy/suanli.cfg, HAProxy from Debian), run as shipped:
TLS termination, JSON error pages for what the proxy refuses, a whole-request deadline for
slow clients, a connection cap per client address, and the client's address carried to
suanlid (X-Forwarded-For from a trusted proxy) for budgets and audit rows."""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

from harness import (ROOT, Collector, Server, Skip, check, env, error_problems, free_port, psql, quote_lit)

# run.py --shards: run this module alone, after the shards (timing-sensitive: HAProxy's whole-
# request deadline and connection cap)
E2E_ALONE = True


class _R:
    def __init__(self, status, headers, body, raw):
        self.status, self.headers, self.json, self.raw = status, headers, body, raw


def _tls(port, source=None, timeout=10):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # a self-signed test certificate
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                   source_address=(source, 0) if source else None)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def _exchange(port, data, source=None, timeout=10):
    s = _tls(port, source, timeout)
    try:
        s.sendall(data)
        buf = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ssl.SSLError, OSError):
                break
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    return _parse(buf)


def _parse(buf):
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ")[1])
    except (IndexError, ValueError):
        return _R(0, {}, None, buf)
    hdrs = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    try:
        j = json.loads(body)
    except ValueError:
        j = None
    return _R(status, hdrs, j, body)


def _get(port, path, token=None, source=None):
    h = "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" % path
    if token:
        h += "Authorization: Bearer %s\r\n" % token
    return _exchange(port, (h + "\r\n").encode(), source)


def test_haproxy_front():
    if not shutil.which("haproxy") or not shutil.which("openssl"):
        raise Skip("haproxy or openssl not installed (deploy/lib.sh installs them)")
    e = env()
    c = Collector()
    tmp = tempfile.mkdtemp(prefix="suanli-front-")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", os.path.join(tmp, "k.pem"), "-out", os.path.join(tmp, "c.pem")],
                   check=True, capture_output=True)
    with open(os.path.join(tmp, "front.pem"), "wb") as f:
        f.write(open(os.path.join(tmp, "c.pem"), "rb").read() + open(os.path.join(tmp, "k.pem"), "rb").read())
    srv = Server("front-backend", extra_env={"SUANLI_TRUSTED_PROXIES": "127.0.0.1", "SUANLI_PER_IP_LIMIT": "1024",
                                             "SUANLI_RATE_ANONYMOUS": "1:3"})
    srv.wait_ready()
    port = free_port()
    fenv = dict(os.environ, SUANLI_FRONT_BIND="127.0.0.1:%d" % port, SUANLI_FRONT_CERT=os.path.join(tmp, "front.pem"),
                SUANLI_FRONT_BACKEND="127.0.0.1:%d" % srv.port,
                SUANLI_FRONT_ERRORS=os.path.join(ROOT, "deploy", "haproxy", "errors"),
                SUANLI_FRONT_HEADER_S="2")
    log = open(os.path.join(tmp, "haproxy.log"), "wb")
    hp = subprocess.Popen(["haproxy", "-db", "-f", os.path.join(ROOT, "deploy", "haproxy", "suanli.cfg")],
                          env=fenv, stdout=log, stderr=subprocess.STDOUT)
    try:
        r = None
        for _ in range(100):
            if hp.poll() is not None:
                break
            try:
                r = _get(port, "/readyz")
                if r.status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        check(r is not None and r.status == 200, "the front did not come up: %s %s" % (
            r and r.raw[:200], open(os.path.join(tmp, "haproxy.log"), "rb").read()[-800:]))
        # TLS to suanlid through the proxy
        r = _get(port, "/v1/me", token=e.admin)
        c.check(r.status == 200 and r.json and "account" in r.json and r.headers.get("x-request-id"),
                "GET /v1/me through the front: %s %r" % (r.status, r.raw[:200]))
        # a request HAProxy cannot parse is refused there (400; HAProxy 2.6 answers it in HTML,
        # see deploy/haproxy/suanli.cfg) and never reaches suanlid
        r = _exchange(port, b"GARBAGE \x01\x02\r\n\r\n")
        c.check(r.status == 400, "malformed request at the front: %s %r" % (r.status, r.raw[:200]))
        # a slow client: headers never finished -> 408 in the JSON shape after the deadline
        s = _tls(port, timeout=10)
        s.sendall(b"GET /v1/pools HTTP/1.1\r\nHost: localhost\r\n")
        t0 = time.time()
        buf = b""
        while time.time() - t0 < 8:
            try:
                s.sendall(b"X")
                time.sleep(0.3)
                s.settimeout(0.01)
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            except (ssl.SSLError, OSError):
                break
        s.close()
        r = _parse(buf)
        c.check(r.status == 408, "slow headers at the front: no 408 while trickling bytes: %r" % buf[:200])
        # one address holding many idle connections: capped at accept, while others are served
        slow = []
        refused = 0
        for _ in range(80):
            try:
                t = socket.create_connection(("127.0.0.1", port), timeout=3, source_address=("127.0.0.6", 0))
            except OSError:
                refused += 1  # reset by the proxy before connect() returned
                continue
            t.setblocking(False)
            slow.append(t)
        time.sleep(0.5)
        for t in slow:
            try:
                if t.recv(1) == b"":
                    refused += 1  # closed by the proxy right after accept
            except BlockingIOError:
                pass  # accepted: the proxy waits for the TLS handshake
            except OSError:
                refused += 1
        ok = sum(1 for _ in range(10) if _get(port, "/v1/me", token=e.admin).status == 200)
        for t in slow:
            t.close()
        c.check(refused >= 10, "80 connections from one address: only %d refused (cap 64)" % refused)
        c.check(ok == 10, "legitimate requests during the per-address cap: %d of 10" % ok)
        # the client address reaches suanlid: the audit row of a refused mutation names it
        body = b'{"code":"x","name":"n","tier":"cloud"}'
        r = _exchange(port, b"POST /v1/regions HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body,
                      source="127.0.0.7")
        c.check(r.status == 401 and r.json, "unauthenticated POST through the front: %s %r" % (r.status, r.raw[:200]))
        if r.json:
            addr = psql("SELECT client_addr FROM audit_log WHERE request_id = %s" % quote_lit(r.json.get("request_id", "-")))
            c.check(addr.startswith("127.0.0.7"), "audit client_addr %r, expected the client 127.0.0.7 (X-Forwarded-For)"
                    % addr)
        # what the proxy answers after parsing comes in the JSON error shape: no backend -> 503
        code = srv.stop()
        r = _get(port, "/v1/me", token=e.admin)
        probs = error_problems(r, 503, "busy")
        c.check(not probs and r.headers.get("retry-after"), "the front with its backend down: %s %r" % (probs, r.raw[:200]))
    finally:
        hp.send_signal(signal.SIGTERM)
        try:
            hp.wait(10)
        except subprocess.TimeoutExpired:
            hp.kill()
            hp.wait()
        log.close()
        if srv.proc.poll() is None:
            code = srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    c.check(code == 0, "the backend exited with %s" % code)
    c.done()
