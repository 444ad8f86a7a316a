"""Hostile clients (issue 16): the raw target never reaches a handler decoded, transport
refusals carry the JSON error shape, a flooding token gets 429s while another tenant is
served, unauthenticated junk is counted rather than audited row by row, and slow clients
from many addresses cannot starve legitimate requests.

The flood and slowloris tests start their own servers (same database) with small budgets and
limits; the shared server of the suite runs without request budgets (harness.py)."""
import http.client
import json
import socket
import threading
import time

from harness import (RUN, Collector, Failed, Server, check, env, error_problems, hour, psql, quote_lit, uniq)

# run.py --shards: run these tests alone, after the shards (timing-sensitive: a flood and a
# slowloris against servers with small budgets)
E2E_ALONE = ("test_flood_from_one_token_gets_429_while_another_tenant_is_served",
             "test_slowloris_from_many_addresses_does_not_starve_legitimate_requests")

MUTATING = ("POST", "PUT", "PATCH", "DELETE")


def _raw(port, data, source=None, timeout=20):
    """Send raw bytes (from source address `source`); return (status, headers, parsed JSON or None)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                 source_address=(source, 0) if source else None)
    try:
        try:
            s.sendall(data)
        except OSError:
            pass
        r = http.client.HTTPResponse(s, method=data.split(b" ", 1)[0].decode("latin-1"))
        r.begin()
        raw = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
    finally:
        s.close()
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    return r.status, hdrs, body, raw


class _R:  # enough of harness.Resp for error_problems
    def __init__(self, status, headers, body, raw):
        self.status, self.headers, self.json, self.raw = status, headers, body, raw


def _req(port, method, target, token=None, body=b"", extra=()):
    h = ["%s %s HTTP/1.1" % (method, target), "Host: 127.0.0.1", "Connection: close"]
    if token:
        h.append("Authorization: Bearer " + token)
    if body or method in MUTATING:
        h += ["Content-Type: application/json", "Content-Length: %d" % len(body)]
    h += list(extra)
    return ("\r\n".join(h) + "\r\n\r\n").encode("latin-1") + body


def _audit_rows(request_id):
    return int(psql("SELECT count(*) FROM audit_log WHERE request_id = %s" % quote_lit(request_id)))


def test_raw_targets_and_transport_refusals():
    e = env()
    c = Collector()
    port = e.server.port
    T = e.account("tenant")
    many = "&".join("u%d=1" % i for i in range(2000))
    # (label, method, raw target bytes, token, extra headers, body, status, error, field)
    cases = [
        ("invalid UTF-8 path, no token", "GET", b"/%ff", None, (), b"", 400, "bad_path", "path"),
        ("raw 0xff byte in the path", "GET", b"/v1/pools/\xff", e.admin, (), b"", 400, "bad_path_id", "id"),
        ("%00 after an id", "GET", b"/v1/accounts/1%00", e.admin, (), b"", 400, "bad_path_id", "id"),
        ("overlong '/' as an id", "GET", b"/v1/accounts/%c0%af", e.admin, (), b"", 400, "bad_path_id", "id"),
        ("%2F joining segments", "GET", b"/v1/pools%2f1", e.admin, (), b"", 400, "bad_path", "path"),
        ("%2F inside an id", "GET", b"/v1/pools/1%2F2", e.admin, (), b"", 400, "bad_path_id", "id"),
        ("%00 then dot segments", "GET", b"/v1/accounts/6%00/../../audit", e.admin, (), b"", 400, None, None),
        ("dot segments", "GET", b"/v1/accounts/6/../../audit", e.admin, (), b"", 400, "bad_path", "path"),
        ("encoded dot segments", "GET", b"/v1/%2e%2e/v1/audit", e.admin, (), b"", 400, "bad_path", "path"),
        ("invalid UTF-8 query key", "GET", b"/v1/pools?%ff=1", e.admin, (), b"", 400, "bad_query_parameter", "query"),
        ("raw 0xff in the query", "GET", b"/v1/pools?region=\xff", e.admin, (), b"", 400, "bad_query_parameter", "query"),
        ("2000 unknown parameters on /v1/pools", "GET", ("/v1/pools?" + many).encode(), e.admin, (), b"",
         400, "bad_query_parameter", "query"),
        ("2000 unknown parameters on /v1/accounts", "GET", ("/v1/accounts?" + many).encode(), e.admin, (), b"",
         400, "bad_query_parameter", "query"),
        ("chunk size overflow", "POST", b"/v1/regions", e.admin, ("Transfer-Encoding: chunked",),
         b"FFFFFFFFFFFFFFFFFFFFFFFF\r\n{}\r\n0\r\n\r\n", 411, "length_required", "Transfer-Encoding"),
        ("invalid UTF-8 path on a mutation", "DELETE", b"/v1/tokens/%ff", T["token"], (), b"", 400,
         "bad_path_id", "id"),
    ]
    for label, method, target, token, extra, body, status, name, field in cases:
        h = ["%s " % method, "", " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"]
        head = h[0].encode() + target + h[2].encode()
        if token:
            head += b"Authorization: Bearer " + token.encode() + b"\r\n"
        if method in MUTATING:
            head += b"Content-Type: application/json\r\n"
            if not any(x.startswith("Transfer-Encoding") for x in extra):
                head += b"Content-Length: %d\r\n" % len(body)
        for x in extra:
            head += x.encode() + b"\r\n"
        try:
            st, hd, js, raw = _raw(port, head + b"\r\n" + body)
        except OSError as ex:
            c.add("%s: no reply (%s)" % (label, ex))
            continue
        probs = error_problems(_R(st, hd, js, raw), status, name, field)
        c.check(not probs, "%s: %s (%r)" % (label, "; ".join(probs), raw[:200]))
        c.check(hd.get("content-type", "").startswith("application/json"), "%s: content-type %r" % (label, hd.get("content-type")))
        if method in MUTATING and token and js:
            c.check(_audit_rows(js.get("request_id", "-")) == 1,
                    "%s: the refused mutation has %d audit rows" % (label, _audit_rows(js.get("request_id", "-"))))
    c.done()


def test_percent_tricks_revoke_nothing_and_router_refusals_are_audited():
    e = env()
    c = Collector()
    port = e.server.port
    P = e.account("provider")
    spare = e.token(P["id"])
    for target in ("/v1/tokens/%d%%00junk" % spare["id"], "/v1/tokens/%d%%2F" % spare["id"],
                   "/v1/tokens/%d/." % spare["id"], "/v1/tokens/%d%%20" % spare["id"]):
        st, hd, js, raw = _raw(port, _req(port, "DELETE", target, P["token"]))
        c.check(400 <= st < 500 and isinstance(js, dict) and js.get("error"), "DELETE %s: %s %r" % (target, st, raw[:160]))
        if isinstance(js, dict):
            c.check(_audit_rows(js.get("request_id", "-")) == 1, "DELETE %s: no audit row" % target)
    me = e.c.get("/v1/me", token=spare["token"])
    c.check(me.status == 200, "the token was revoked by a malformed DELETE: %s" % me.short())
    # router-level refusals of authenticated mutations each write one audit row
    for method, target, status, name in (("DELETE", "/v1/no-such-thing", 404, "route_not_found"),
                                         ("PUT", "/v1/pools", 405, "method_not_allowed"),
                                         ("POST", "/v1/pools/1/nothing", 404, "route_not_found")):
        st, hd, js, raw = _raw(port, _req(port, method, target, P["token"], b"{}"))
        probs = error_problems(_R(st, hd, js, raw), status, name)
        c.check(not probs, "%s %s: %s" % (method, target, probs))
        if isinstance(js, dict):
            rows = json.loads(psql("SELECT coalesce(json_agg(a), '[]') FROM audit_log a WHERE request_id = %s"
                                   % quote_lit(js.get("request_id", "-"))))
            c.check(len(rows) == 1 and rows[0]["account_id"] == P["id"] and rows[0]["status"] == status,
                    "%s %s: audit rows %s" % (method, target, rows))
    c.done()


def _start(name, extra):
    s = Server(name, extra_env=extra)
    s.wait_ready()
    return s


def test_flood_from_one_token_gets_429_while_another_tenant_is_served():
    e = env()
    c = Collector()
    srv = _start("flood", {"SUANLI_RATE_TENANT": "20:40", "SUANLI_RATE_ANONYMOUS": "1:5",
                           "SUANLI_RATE_ADDRESS": "unlimited"})
    try:
        F, V = e.account("tenant"), e.account("tenant")
        quote = json.dumps({"gpus": 1, "duration_hours": 1, "earliest_start": hour(3)}).encode()
        stop = threading.Event()
        seen = {"429": 0, "ok": 0, "other": [], "bad429": []}
        lock = threading.Lock()

        def flood():
            while not stop.is_set():
                for target, body in (("/v1/quotes", quote), ("/v1/pools", b"")):
                    try:
                        st, hd, js, raw = _raw(srv.port, _req(srv.port, "POST" if body else "GET", target,
                                                              F["token"], body), source="127.0.0.2")
                    except OSError as ex:
                        with lock:
                            seen["other"].append(str(ex))
                        continue
                    with lock:
                        if st == 429:
                            seen["429"] += 1
                            probs = error_problems(_R(st, hd, js, raw), 429, "rate_limited")
                            ra = hd.get("retry-after", "")
                            if probs or not ra.isdigit() or int(ra) < 1 or "ratelimit" not in hd \
                                    or "ratelimit-policy" not in hd:
                                seen["bad429"].append((probs, hd))
                        elif st < 300:
                            seen["ok"] += 1
                        else:
                            seen["other"].append("%s %r" % (st, raw[:120]))

        threads = [threading.Thread(target=flood) for _ in range(4)]
        for t in threads:
            t.start()
        victim = []
        try:
            for i in range(24):
                if i % 2:
                    r = srv.client.post("/v1/quotes", json.loads(quote), token=V["token"])
                else:
                    r = srv.client.get("/v1/pools?limit=5", token=V["token"])
                victim.append(r)
                time.sleep(0.1)
        finally:
            stop.set()
            for t in threads:
                t.join()
        bad = [r.short() for r in victim if r.status >= 300]
        c.check(not bad, "the second tenant was refused during the flood: %s" % bad[:3])
        c.check(seen["429"] > 0, "the flooding token got no 429 (%d successes)" % seen["ok"])
        c.check(not seen["bad429"], "429 replies without the JSON shape, Retry-After or RateLimit headers: %s"
                % seen["bad429"][:2])
        c.check(not seen["other"], "the flood got other failures: %s" % seen["other"][:3])
        ok = [r for r in victim if r.status < 300]
        c.check(all("ratelimit" in r.headers and "ratelimit-policy" in r.headers for r in ok),
                "successful replies lack RateLimit headers")
        # unauthenticated junk: the anonymous budget (5, then 1/s) is audited, the rest counted
        ids = []
        for i in range(20):
            st, hd, js, raw = _raw(srv.port, _req(srv.port, "POST", "/v1/regions", None, b'{"code":"x"}'),
                                   source="127.0.0.3")
            c.check(st in (401, 429) and isinstance(js, dict), "junk POST %d: %s %r" % (i, st, raw[:100]))
            if isinstance(js, dict):
                ids.append((st, js.get("request_id")))
        n429 = sum(1 for st, _ in ids if st == 429)
        c.check(n429 >= 10, "only %d of 20 junk POSTs were rate limited" % n429)
        rows = sum(_audit_rows(rid) for _, rid in ids)
        c.check(rows <= 20 - n429 and rows >= 1, "20 junk POSTs (%d refused with 429) wrote %d audit rows" % (n429, rows))
    finally:
        code = srv.stop()
    c.check(code == 0, "the %s server exited with %s (log %s)" % (srv.log_path, code, srv.log_path))
    c.done()


def test_slowloris_from_many_addresses_does_not_starve_legitimate_requests():
    e = env()
    c = Collector()
    srv = _start("slow", {"SUANLI_CONN_LIMIT": "150", "SUANLI_CONN_RESERVE": "30", "SUANLI_PER_IP_LIMIT": "4",
                          "SUANLI_HEADER_DEADLINE": "2", "SUANLI_BODY_DEADLINE": "2"})
    try:
        r = srv.client.get("/v1/me", token=e.admin)  # the legitimate client is known to the server
        check(r.status == 200, "warm-up: %s" % r.short())
        stop = threading.Event()
        stats = {"opened": 0, "closed_by_server": 0, "refused": 0}
        addrs = ["127.0.%d.%d" % (1 + i // 200, 10 + i % 200) for i in range(100)]

        def attacker(k):
            socks = []
            while not stop.is_set():
                while len(socks) < 3 and not stop.is_set():  # 3 per address, 100 addresses
                    try:
                        s = socket.create_connection(("127.0.0.1", srv.port), timeout=2,
                                                     source_address=(addrs[k], 0))
                        s.sendall(b"GET /v1/pools HTTP/1.1\r\nHost: x\r\n")
                        s.setblocking(False)
                        socks.append(s)
                        stats["opened"] += 1
                    except OSError:
                        stats["refused"] += 1
                        time.sleep(0.1)
                        break
                for s in list(socks):
                    try:
                        s.send(b"X")  # one header byte at a time, never finishing
                        if s.recv(1, socket.MSG_PEEK) == b"":
                            raise OSError("closed")
                    except BlockingIOError:
                        pass
                    except OSError:
                        stats["closed_by_server"] += 1
                        socks.remove(s)
                        s.close()
                time.sleep(0.3)
            for s in socks:
                s.close()

        threads = [threading.Thread(target=attacker, args=(k,)) for k in range(len(addrs))]
        for t in threads:
            t.start()
        time.sleep(1.0)
        ok = fail = 0
        errors = []
        t_end = time.time() + 5
        try:
            while time.time() < t_end:
                try:
                    r = srv.client.get("/v1/me", token=e.admin, timeout=5)
                    if r.status == 200:
                        ok += 1
                    else:
                        fail += 1
                        errors.append(r.short())
                except OSError as ex:
                    fail += 1
                    errors.append(str(ex))
                time.sleep(0.02)
        finally:
            stop.set()
            for t in threads:
                t.join()
        total = ok + fail
        c.check(total >= 20, "only %d legitimate requests were made" % total)
        c.check(ok >= 0.99 * total, "legitimate success %d/%d during the attack: %s" % (ok, total, errors[:3]))
        c.check(stats["opened"] >= 150, "the attack opened only %d connections" % stats["opened"])
        c.check(stats["closed_by_server"] > 0, "no slow connection was shut by the header deadline: %s" % stats)
    finally:
        code = srv.stop()
    c.check(code == 0, "the %s server exited with %s (log %s)" % (srv.log_path, code, srv.log_path))
    c.done()


def test_idempotency_records_expire_after_the_retention():
    e = env()
    T = e.account("tenant")
    old, fresh = "reap-old-" + RUN, "reap-fresh-" + RUN
    psql("INSERT INTO idempotency_keys (account_id, key, request_hash, state, status, response, created_at, claimed_at)"
         " VALUES (%d, %s, '\\x00', 'done', 201, '{}', now() - interval '25 hours', now() - interval '25 hours'),"
         " (%d, %s, '\\x00', 'done', 201, '{}', now() - interval '23 hours', now() - interval '23 hours')"
         % (T["id"], quote_lit(old), T["id"], quote_lit(fresh)))
    srv = _start("reaper", {})  # its maintenance worker reaps on its first round
    try:
        gone = False
        for _ in range(300):
            left = psql("SELECT string_agg(key, ',' ORDER BY key) FROM idempotency_keys WHERE account_id = %d" % T["id"])
            if old not in left:
                gone = True
                break
            time.sleep(0.1)
        check(gone, "a 25-hour-old idempotency record was not reaped: %s" % left)
        check(fresh in left, "a 23-hour-old record (inside the 24 h retention) was reaped")
    finally:
        code = srv.stop()
    check(code == 0, "the reaper server exited with %s" % code)


def _own_ipv4():
    """A non-loopback IPv4 address of this host, or None."""
    import subprocess
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout.split()
    except OSError:
        return None
    v4 = [a for a in out if a.count(".") == 3 and not a.startswith("127.")]
    return v4[0] if v4 else None


def test_webhook_addresses_checked_at_registration():
    e = env()
    c = Collector()
    P = e.account("provider")
    region = e.region()
    own = _own_ipv4()

    def register(srv, url):
        body = e.pool_body(region, adapter={"kind": "webhook", "config": {"url": url}})
        return srv.client.post("/v1/pools", body, token=P["token"])

    def refused(srv, url, why):
        r = register(srv, url)
        probs = error_problems(r, 422, "address_not_allowed", "adapter.config.url")
        c.check(not probs, "%s (%s): %s %s" % (why, url, probs, r.short()))

    def accepted(srv, url, why):
        r = register(srv, url)
        c.check(r.status == 201, "%s (%s): %s" % (why, url, r.short()))

    # no allow list: public https only; own, loopback, private and special-purpose refused
    srv = _start("wh-open", {"SUANLI_WEBHOOK_ALLOW": ""})
    try:
        for url, why in (("https://198.51.100.7/h", "documentation range TEST-NET-2"),
                         ("https://203.0.113.9/h", "documentation range TEST-NET-3"),
                         ("https://192.0.2.9/h", "documentation range TEST-NET-1"),
                         ("https://198.18.0.1/h", "benchmarking range"),
                         ("https://240.0.0.1/h", "reserved 240/4"),
                         ("https://[64:ff9b::a00:1]/h", "NAT64 prefix"),
                         ("https://[2002:a00:1::1]/h", "6to4 prefix"),
                         ("https://[2001:db8::1]/h", "IPv6 documentation range"),
                         ("https://127.0.0.1/h", "loopback"), ("https://localhost/h", "localhost"),
                         ("https://[::ffff:169.254.169.254]/h", "metadata as IPv4-mapped IPv6"),
                         ("https://10.0.0.1/h", "private range"),
                         ("http://93.184.216.34/h", "plain http to a public address")):
            refused(srv, url, why)
        if own:
            refused(srv, "https://%s/h" % own, "the exchange's own address")
        accepted(srv, "https://93.184.216.34/hook", "a public https address")
    finally:
        code = srv.stop()
    c.check(code == 0, "wh-open server exited with %s" % code)
    # an allow list covering the host's own network: the own address still needs an exact entry
    if own:
        net = own.rsplit(".", 1)[0]
        other = "%s.%d" % (net, 1 if not own.endswith(".1") else 2)
        srv = _start("wh-allow", {"SUANLI_WEBHOOK_ALLOW": "127.0.0.0/8,%s.0/24" % net})
        try:
            refused(srv, "http://%s:9/hook" % own, "own address inside an allowed range")
            accepted(srv, "http://%s:9/hook" % other, "another address of the allowed range")
            accepted(srv, "http://127.0.0.1:9/hook", "allowed loopback")
        finally:
            code = srv.stop()
        c.check(code == 0, "wh-allow server exited with %s" % code)
    c.done()


def test_token_scopes():
    e = env()
    c = Collector()
    P = e.account("provider")
    region = e.region()
    pool = e.pool(P["token"], region)
    agent = e.token(P["id"], scopes=["heartbeat"])
    reader = e.token(P["id"], scopes=["read"])
    c.check(agent.get("scopes") == ["heartbeat"] and reader.get("scopes") == ["read"],
            "scopes not echoed: %s / %s" % (agent.get("scopes"), reader.get("scopes")))
    hb = {"healthy_gpus": 8, "utilization_bp": 100}
    cases = [  # (token, method, path, body, expected status)
        (agent, "POST", "/v1/pools/%d/heartbeat" % pool["id"], hb, 200),
        (agent, "GET", "/v1/pools/%d" % pool["id"], None, 403),
        (agent, "PATCH", "/v1/pools/%d" % pool["id"], {"name": "x"}, 403),
        (agent, "GET", "/v1/me", None, 200),
        (reader, "GET", "/v1/pools/%d" % pool["id"], None, 200),
        (reader, "GET", "/v1/accounts/%d/balances" % P["id"], None, 200),
        (reader, "POST", "/v1/pools/%d/heartbeat" % pool["id"], hb, 403),
        (reader, "DELETE", "/v1/pools/%d" % pool["id"], None, 403),
    ]
    for tok, method, path, body, want in cases:
        r = e.c.req(method, path, body=body, token=tok["token"])
        if want == 403:
            probs = error_problems(r, 403, "forbidden")
            c.check(not probs, "%s %s with scopes %s: %s" % (method, path, tok["scopes"], r.short()))
            if method != "GET" and r.headers.get("x-request-id"):
                n = _audit_rows(r.headers["x-request-id"])
                c.check(n == 1, "%s %s refused by scope: %d audit rows" % (method, path, n))
        else:
            c.check(r.status == want, "%s %s with scopes %s: %s" % (method, path, tok["scopes"], r.short()))
    for bad in (["root"], "read", [1], ["read"] * 12):
        r = e.c.post("/v1/accounts/%d/tokens" % P["id"], {"scopes": bad}, token=e.admin)
        c.check(r.status == 400 and r.field() == "scopes", "scopes %r: %s" % (bad, r.short()))
    c.done()
