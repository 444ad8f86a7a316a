"""The rest of issue 16: per-account request rates set by admins (PUT /v1/accounts/{id}/limits),
the admin list of long-lived tokens (GET /v1/tokens), and DELETE refusing a body.

The rate tests start their own server (same database) with a tight tenant budget; the suite's
shared server runs without budgets (harness.py), which the override still applies to."""
import datetime
import http.client
import json
import threading
import time

from harness import (Collector, Server, check, env, error_problems, psql, quote_lit, snapshot,
                     snapshot_diff, ts, utcnow)

# run.py --shards: run these tests alone, after the shards (timing-sensitive: request budgets per
# second; answers within 0.4 s while refusals are held)
E2E_ALONE = ("test_account_limits_override_the_kind_rate",
             "test_refusals_over_a_token_budget_are_held",
             "test_address_budget_refusals_are_counted_not_audited")


def _audit(request_id):
    return json.loads(psql("SELECT coalesce(json_agg(a), '[]') FROM audit_log a WHERE request_id = %s"
                           % quote_lit(request_id)))


def _burst(client, token, n, path="/v1/me"):
    """n requests back to back: (successes, 429s, other replies)."""
    ok = limited = 0
    other = []
    for _ in range(n):
        r = client.get(path, token=token)
        if r.status == 200:
            ok += 1
        elif r.status == 429:
            limited += 1
        else:
            other.append(r.short())
    return ok, limited, other


def test_account_limits_override_the_kind_rate():
    e = env()
    c = Collector()
    # refusals answered at once (SUANLI_RATE_DELAY_MS=0), so that back-to-back requests count
    # the budget; held refusals have their own test below
    srv = Server("limits", extra_env={"SUANLI_RATE_TENANT": "2:4", "SUANLI_RATE_ADDRESS": "unlimited",
                                      "SUANLI_RATE_ADMIN": "unlimited", "SUANLI_AUTH_CACHE_MS": "1000",
                                      "SUANLI_RATE_DELAY_MS": "0"})
    srv.wait_ready()
    try:
        H, T, P = e.account("tenant"), e.account("tenant"), e.account("tenant")  # heavy, tight, plain
        # nothing set: the kind's default of the process that answers
        r = srv.client.get("/v1/accounts/%d/limits" % H["id"], token=e.admin)
        c.check(r.status == 200 and r.json == {
            "account_id": H["id"], "kind": "tenant", "override": None,
            "kind_default": {"per_second": 2, "burst": 4}, "effective": {"per_second": 2, "burst": 4},
            "source": "kind", "cache_ms": 1000}, "GET limits before any override: %s" % r.short())
        r = e.c.get("/v1/accounts/%d/limits" % H["id"], token=H["token"])  # self, shared server: unlimited
        c.check(r.status == 200 and r.json["kind_default"] is None and r.json["effective"] is None,
                "GET own limits on an unlimited server: %s" % r.short())
        # an admin lets the heavy account through and throttles the tight one
        r = srv.client.put("/v1/accounts/%d/limits" % H["id"], {"per_second": 100, "burst": 200}, token=e.admin)
        c.check(r.status == 200 and r.json["source"] == "account"
                and r.json["effective"] == {"per_second": 100, "burst": 200}
                and r.json["override"]["updated_by"] == e.admin_id and r.json["override"]["updated_at"],
                "PUT heavy override: %s" % r.short())
        if r.status == 200:
            rows = _audit(r.headers.get("x-request-id", "-"))
            c.check(len(rows) == 1 and rows[0]["action"] == "account.limits.set"
                    and rows[0]["object"] == "limits:%d" % H["id"] and rows[0]["status"] == 200
                    and rows[0]["outcome"] == "ok" and rows[0]["account_id"] == e.admin_id,
                    "audit row of the PUT: %s" % rows)
        r = srv.client.put("/v1/accounts/%d/limits" % T["id"], {"per_second": "0.5", "burst": 2}, token=e.admin)
        c.check(r.status == 200 and r.json["effective"] == {"per_second": 0.5, "burst": 2},
                "PUT tight override: %s" % r.short())
        ok, limited, other = _burst(srv.client, H["token"], 30)
        c.check(ok == 30 and not other, "heavy account with 100/s, burst 200: %d of 30 served, %d 429, %s"
                % (ok, limited, other[:2]))
        ok, limited, other = _burst(srv.client, P["token"], 30)
        c.check(limited >= 20 and ok <= 10 and not other,
                "plain tenant (2/s, burst 4): %d served, %d 429 of 30 — the kind's default must throttle"
                % (ok, limited))
        ok, limited, other = _burst(srv.client, T["token"], 10)
        c.check(ok <= 4 and limited >= 6 and not other, "tight account (0.5/s, burst 2): %d served of 10" % ok)
        r = srv.client.get("/v1/me", token=H["token"])
        c.check('q=200' in r.headers.get("ratelimit-policy", ""),
                "heavy account's RateLimit-Policy: %r" % r.headers.get("ratelimit-policy"))
        # self may read its own, not another's
        r = srv.client.get("/v1/accounts/%d/limits" % T["id"], token=T["token"])
        c.check(r.status in (200, 429), "tight account reads its own limits: %s" % r.short())
        r = e.c.get("/v1/accounts/%d/limits" % T["id"], token=H["token"])
        p = error_problems(r, 404, "not_found", "id")
        c.check(not p, "GET another account's limits: %s" % p)
        # removed: back to the kind's default, at once in this process
        r = srv.client.put("/v1/accounts/%d/limits" % H["id"], {"per_second": None, "burst": None}, token=e.admin)
        c.check(r.status == 200 and r.json["override"] is None and r.json["source"] == "kind"
                and r.json["effective"] == {"per_second": 2, "burst": 4}, "PUT null/null: %s" % r.short())
        ok, limited, other = _burst(srv.client, H["token"], 20)
        c.check(limited >= 10 and not other, "heavy account after its override was removed: %d served, %d 429"
                % (ok, limited))
        # a change made through another process applies here once the cached token expires
        r = e.c.put("/v1/accounts/%d/limits" % T["id"], {"per_second": 100, "burst": 200}, token=e.admin)
        c.check(r.status == 200, "PUT through the shared server: %s" % r.short())
        time.sleep(1.3)
        ok, limited, other = _burst(srv.client, T["token"], 20)
        c.check(ok == 20, "the tight account raised through another process: %d of 20 served after the "
                "cache time" % ok)
    finally:
        code = srv.stop()
    c.check(code == 0, "the limits server exited with %s (log %s)" % (code, srv.log_path))
    c.done()


def test_refusals_over_a_token_budget_are_held():
    """A request over its token's budget is answered 429 after min(Retry-After,
    SUANLI_RATE_DELAY_MS): a flooding client gets a refusal per connection per delay, other
    clients are served meanwhile, and a server stopping answers what it holds."""
    e = env()
    c = Collector()
    srv = Server("held", extra_env={"SUANLI_RATE_TENANT": "1:2", "SUANLI_RATE_ADDRESS": "unlimited",
                                    "SUANLI_RATE_ANONYMOUS": "1:1", "SUANLI_RATE_DELAY_MS": "600"})
    srv.wait_ready()
    stopped = False
    try:
        X, Y = e.account("tenant"), e.account("tenant")
        for i in range(2):
            r = srv.client.get("/v1/me", token=X["token"])
            c.check(r.status == 200, "request %d inside the burst: %s" % (i, r.short()))
        out = {}

        def held_request(key, token):
            t0 = time.time()
            out[key] = (srv.client.get("/v1/me", token=token), time.time() - t0)

        th = threading.Thread(target=held_request, args=("first", X["token"]))
        th.start()
        time.sleep(0.1)
        t0 = time.time()
        r = srv.client.get("/v1/me", token=Y["token"])
        c.check(r.status == 200 and time.time() - t0 < 0.4,
                "another tenant while a refusal is held: %s in %.2fs" % (r.short(), time.time() - t0))
        th.join()
        r, took = out["first"]
        p = error_problems(r, 429, "rate_limited")
        c.check(not p and r.headers.get("retry-after", "").isdigit() and int(r.headers["retry-after"]) >= 1,
                "the held refusal: %s %s" % (p, r.headers))
        c.check(0.55 <= took <= 2.0, "the refusal came after %.2fs, expected the 0.6 s delay (Retry-After ~1 s "
                "capped by SUANLI_RATE_DELAY_MS)" % took)
        # refusals of requests without a token are not held (they take no work to refuse)
        srv.client.get("/v1/me")
        t0 = time.time()
        r = srv.client.get("/v1/me")
        c.check(r.status == 429 and time.time() - t0 < 0.4, "anonymous refusal: %s in %.2fs"
                % (r.status, time.time() - t0))
        # a flood of 4 keep-alive connections for 3 s gets a few replies, not thousands
        stop = threading.Event()
        replies = []

        def flood():
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
            while not stop.is_set():
                conn.request("GET", "/v1/me", headers={"Authorization": "Bearer " + X["token"]})
                rr = conn.getresponse()
                rr.read()
                replies.append(rr.status)
            conn.close()

        ths = [threading.Thread(target=flood) for _ in range(4)]
        for t in ths:
            t.start()
        time.sleep(3)
        stop.set()
        for t in ths:
            t.join()
        c.check(0 < len(replies) <= 60 and replies.count(429) >= len(replies) - 8,
                "4 flooding connections for 3 s got %d replies (%d 429): a refusal per connection per "
                "delay expected" % (len(replies), replies.count(429)))
        # stopping with a refusal held: it is answered, and the server exits cleanly (Z's
        # override refills a token per 100 s: after one request every other one is refused)
        Z = e.account("tenant")
        r = e.c.put("/v1/accounts/%d/limits" % Z["id"], {"per_second": 0.01, "burst": 1}, token=e.admin)
        check(r.status == 200, "setting Z's rate: %s" % r.short())
        r = srv.client.get("/v1/me", token=Z["token"])
        c.check(r.status == 200, "Z's one request: %s" % r.short())
        th = threading.Thread(target=held_request, args=("at_stop", Z["token"]))
        th.start()
        time.sleep(0.2)
        code = srv.stop()
        stopped = True
        th.join()
        r, took = out["at_stop"]
        c.check(r.status == 429 and took < 0.6, "the refusal held at SIGTERM: %s after %.2fs" % (r.short(), took))
        c.check(code == 0, "the server exited with %s after SIGTERM while holding a refusal (log %s)"
                % (code, srv.log_path))
    finally:
        if not stopped:
            srv.stop()
    c.done()


def test_address_budget_refusals_are_counted_not_audited():
    """Over its address budget a flood of authenticated mutations is refused without a token
    lookup or an audit row each (it used to write one per request: the flood's cost)."""
    e = env()
    c = Collector()
    srv = Server("addr", extra_env={"SUANLI_RATE_ADDRESS": "1:3"})
    srv.wait_ready()
    try:
        T = e.account("tenant")
        ids = []
        for _ in range(10):
            r = srv.client.put("/v1/accounts/%d/budget" % T["id"], {"monthly_cap": "10.00"}, token=T["token"])
            c.check(r.status in (200, 429), "PUT budget: %s" % r.short())
            if r.status == 429:
                c.check('"address"' in r.headers.get("ratelimit-policy", ""),
                        "429 without the address policy: %s" % r.headers)
                ids.append(r.headers.get("x-request-id"))
        c.check(len(ids) >= 5, "only %d of 10 refused by a 1/s, burst 3 address budget" % len(ids))
        rows = sum(len(_audit(i)) for i in ids)
        c.check(rows == 0, "%d address-budget refusals wrote %d audit rows" % (len(ids), rows))
    finally:
        code = srv.stop()
    c.check(code == 0, "the server exited with %s (log %s)" % (code, srv.log_path))
    c.done()


def test_account_limits_refusals():
    e = env()
    c = Collector()
    A, B = e.account("tenant"), e.account("tenant")
    path = "/v1/accounts/%d/limits" % A["id"]
    before = snapshot()
    cases = [
        ("per_second alone", {"per_second": 5}, 400, "missing_field", "burst"),
        ("burst alone", {"burst": 5, "per_second": None}, 400, "missing_field", "per_second"),
        ("zero rate", {"per_second": 0, "burst": 5}, 400, "invalid_value", "per_second"),
        ("negative rate", {"per_second": -1, "burst": 5}, 400, "invalid_value", "per_second"),
        ("rate too high", {"per_second": 100001, "burst": 5}, 400, "invalid_value", "per_second"),
        ("4 decimals", {"per_second": 0.0001, "burst": 5}, 400, "invalid_value", "per_second"),
        ("rate as text", {"per_second": "fast", "burst": 5}, 400, "invalid_value", "per_second"),
        ("rate as bool", {"per_second": True, "burst": 5}, 400, "wrong_type", "per_second"),
        ("burst zero", {"per_second": 1, "burst": 0}, 400, "invalid_value", "burst"),
        ("burst too high", {"per_second": 1, "burst": 100001}, 400, "invalid_value", "burst"),
        ("burst fractional", {"per_second": 1, "burst": 1.5}, 400, "wrong_type", "burst"),
        ("unknown field", {"per_second": 1, "burst": 1, "kind": "admin"}, 400, "unknown_field", "kind"),
        ("not an object", [1, 2], 400, "body_not_object", None),
    ]
    for label, body, status, name, field in cases:
        r = e.c.put(path, body, token=e.admin)
        p = error_problems(r, status, name, field)
        c.check(not p, "%s: %s" % (label, p))
        if r.json and r.json.get("request_id"):
            rows = _audit(r.json["request_id"])
            c.check(len(rows) == 1 and rows[0]["status"] == status and rows[0]["outcome"] == "rejected",
                    "%s: audit rows %s" % (label, rows))
    r = e.c.req("PUT", path, body=b"{", token=e.admin)
    c.check(not error_problems(r, 400, "malformed_json"), "malformed JSON: %s" % r.short())
    r = e.c.req("PUT", path, body=None, token=e.admin)
    c.check(not error_problems(r, 400, "body_required"), "no body: %s" % r.short())
    # not an admin: 403 (the account itself included), audited
    for who, tok in (("the account itself", A["token"]), ("another tenant", B["token"])):
        r = e.c.put(path, {"per_second": 1000, "burst": 1000}, token=tok)
        p = error_problems(r, 403, "forbidden")
        c.check(not p, "PUT limits as %s: %s" % (who, p))
        if r.json:
            rows = _audit(r.json.get("request_id", "-"))
            c.check(len(rows) == 1 and rows[0]["status"] == 403, "PUT as %s: audit rows %s" % (who, rows))
    r = e.c.put(path, {"per_second": 1, "burst": 1})  # no token
    c.check(not error_problems(r, 401, "unauthenticated"), "PUT without a token: %s" % r.short())
    # unknown account, bad ids
    for target, status, name in (("/v1/accounts/999999999/limits", 404, "not_found"),
                                 ("/v1/accounts/0/limits", 400, "bad_path_id"),
                                 ("/v1/accounts/x1/limits", 400, "bad_path_id")):
        r = e.c.put(target, {"per_second": 1, "burst": 1}, token=e.admin)
        p = error_problems(r, status, name, "id")
        c.check(not p, "PUT %s: %s" % (target, p))
        r = e.c.get(target, token=e.admin)
        p = error_problems(r, status, name, "id")
        c.check(not p, "GET %s: %s" % (target, p))
    after = snapshot()
    c.check(before == after, "refused PUTs changed tables: %s" % snapshot_diff(before, after))
    r = e.c.get(path, token=e.admin)
    c.check(r.status == 200 and r.json["override"] is None, "after the refusals: %s" % r.short())
    c.done()


def _all_pages(e, query, limit=500):
    items, _ = e.walk(query, e.admin, limit)
    return {t["id"]: t for t in items}


def test_long_lived_tokens():
    e = env()
    c = Collector()
    A = e.account("provider")
    now = utcnow()
    far = e.token(A["id"], label="far", expires_at=ts(now + datetime.timedelta(days=400)))
    soon = e.token(A["id"], label="soon", expires_at=ts(now + datetime.timedelta(days=1)))
    default = e.token(A["id"], label="default")  # the default lifetime (90 days)
    never = e.token(A["id"], label="never")
    psql("UPDATE api_tokens SET expires_at = NULL WHERE id = %d" % never["id"])  # as bootstrap-admin's
    gone = e.token(A["id"], label="revoked", expires_at=ts(now + datetime.timedelta(days=500)))
    r = e.c.delete("/v1/tokens/%d" % gone["id"], token=e.admin)
    check(r.status == 200, "revoking: %s" % r.short())
    mine = {far["id"], soon["id"], default["id"], never["id"], gone["id"]}

    got = _all_pages(e, "/v1/tokens")
    c.check({i for i in got if i in mine} == {far["id"], never["id"]},
            "default horizon (now + the default lifetime) lists %s of mine, expected far and never"
            % sorted(got[i]["label"] for i in got if i in mine))
    c.check(e.admin_token_id in got, "the bootstrap admin token (no expiry) is not listed")
    t = got.get(far["id"], {})
    c.check(t.get("account_id") == A["id"] and t.get("account_kind") == "provider"
            and t.get("account_name") == A["name"] and t.get("label") == "far" and t.get("created_at")
            and t.get("expires_at") == far["expires_at"] and t.get("state") == "active"
            and "token" not in t and "token_hash" not in t, "a listed token: %s" % t)
    got = _all_pages(e, "/v1/tokens?never=true")
    c.check({i for i in got if i in mine} == {never["id"]}, "never=true lists %s of mine"
            % sorted(got[i]["label"] for i in got if i in mine))
    c.check(all(t["expires_at"] is None for t in got.values()), "never=true lists a token with an expiry")
    got = _all_pages(e, "/v1/tokens?expires_after=" + ts(now + datetime.timedelta(days=2)), limit=2)
    c.check({i for i in got if i in mine} == {far["id"], never["id"], default["id"]},
            "expires_after=now+2d (pages of 2) lists %s of mine" % sorted(got[i]["label"] for i in got if i in mine))
    got = _all_pages(e, "/v1/tokens?never=false&expires_after=" + ts(now + datetime.timedelta(days=2)))
    c.check({i for i in got if i in mine} == {far["id"], never["id"], default["id"]},
            "never=false&expires_after=now+2d lists %s of mine" % sorted(got[i]["label"] for i in got if i in mine))
    # refusals
    for query, field in (("expires_after=tomorrow", "expires_after"), ("never=yes", "never"),
                         ("never=true&expires_after=2030-01-01T00:00:00Z", "never"),
                         ("account=1", "account"), ("limit=0", "limit")):
        r = e.c.get("/v1/tokens?" + query, token=e.admin)
        p = error_problems(r, 400, "bad_query_parameter", field)
        c.check(not p, "GET /v1/tokens?%s: %s" % (query, p))
    for kind in ("tenant", "provider", "operator"):
        acct = e.account(kind, regions=[e.region()] if kind == "operator" else None)
        r = e.c.get("/v1/tokens", token=acct["token"])
        c.check(not error_problems(r, 403, "forbidden"), "GET /v1/tokens as %s: %s" % (kind, r.short()))
    c.done()


def test_delete_with_a_body_is_refused():
    e = env()
    c = Collector()
    P = e.account("provider")
    spare = e.token(P["id"])
    pool = e.pool(P["token"], e.region())
    before = snapshot()
    for label, path, body, ctype in (
            ("token, JSON body", "/v1/tokens/%d" % spare["id"], b'{"reason": "x"}', "application/json"),
            ("token, empty JSON object", "/v1/tokens/%d" % spare["id"], b"{}", "application/json"),
            ("token, text body", "/v1/tokens/%d" % spare["id"], b"please", "text/plain"),
            ("pool, JSON body", "/v1/pools/%d" % pool["id"], b"{}", "application/json")):
        r = e.c.req("DELETE", path, body=body, token=P["token"], ctype=ctype)
        p = error_problems(r, 400, "body_not_allowed", "body")
        c.check(not p, "DELETE %s: %s" % (label, p))
        if r.json:
            rows = _audit(r.json.get("request_id", "-"))
            c.check(len(rows) == 1 and rows[0]["status"] == 400 and rows[0]["account_id"] == P["id"],
                    "DELETE %s: audit rows %s" % (label, rows))
    after = snapshot()
    c.check(before == after, "refused DELETEs changed tables: %s" % snapshot_diff(before, after))
    r = e.c.get("/v1/me", token=spare["token"])
    c.check(r.status == 200, "the token was revoked by a DELETE with a body: %s" % r.short())
    # without a body (Content-Length: 0, a Content-Type or not) the DELETE works as before
    r = e.c.req("DELETE", "/v1/tokens/%d" % spare["id"], body=b"", token=P["token"])
    c.check(r.status == 200 and r.json.get("state") == "revoked", "DELETE with an empty body: %s" % r.short())
    r = e.c.delete("/v1/pools/%d" % pool["id"], token=P["token"])
    c.check(r.status == 200 and r.json.get("status") == "retired", "DELETE pool without a body: %s" % r.short())
    c.done()
