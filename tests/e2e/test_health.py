"""Liveness, readiness, unknown routes and wrong methods."""
import os
import re

from harness import AUTH_FIELD, ROOT, Collector, check, env, error_problems, expect_error


def _latest_migration():
    nums = [int(m.group(1)) for f in os.listdir(os.path.join(ROOT, "schema"))
            for m in [re.match(r"^(\d+)_.*\.sql$", f)] if m]
    return max(nums)


def test_healthz():
    e = env()
    r = e.c.get("/healthz")
    check(r.status == 200 and r.json == {"status": "ok"}, "GET /healthz: %s" % r.short())
    check(r.headers.get("content-type", "").startswith("application/json"),
          "GET /healthz Content-Type %r" % r.headers.get("content-type"))
    check(r.headers.get("x-request-id"), "GET /healthz has no X-Request-Id header")


def test_readyz_reports_current_schema():
    e = env()
    r = e.c.get("/readyz")
    check(r.status == 200, "GET /readyz: %s" % r.short())
    want = _latest_migration()
    check(r.json == {"status": "ready", "schema_version": want},
          "GET /readyz: %s, expected {'status': 'ready', 'schema_version': %d} (latest schema/ file)"
          % (r.raw[:200], want))


def test_unknown_route_404():
    e = env()
    c = Collector()
    for method, path in [("GET", "/nope"), ("GET", "/v1/nope"), ("POST", "/v1/nope"),
                         ("GET", "/v1/pools/1/nope"), ("GET", "/v1"), ("GET", "/v1/accounts/1/tokens/1")]:
        r = e.c.req(method, path, body={} if method == "POST" else None, token=e.admin)
        p = error_problems(r, 404, "route_not_found", "")
        c.check(not p, "%s %s: %s (%s)" % (method, path, "; ".join(p), r.raw[:200]))
    # no token: an unknown route is still 404, not 401
    r = e.c.get("/v1/nope")
    p = error_problems(r, 404, "route_not_found")
    c.check(not p, "GET /v1/nope without token: %s" % "; ".join(p))
    c.done()


def test_wrong_method_405():
    e = env()
    c = Collector()
    for method, path, allow in [("DELETE", "/healthz", "GET"), ("POST", "/readyz", "GET"),
                                ("POST", "/v1/me", "GET"), ("PUT", "/v1/accounts", "GET"),
                                ("DELETE", "/v1/accelerators", "GET"), ("POST", "/v1/latency", "GET"),
                                ("PUT", "/v1/pools/1", "GET")]:
        r = e.c.req(method, path, body={} if method in ("POST", "PUT") else None, token=e.admin)
        p = error_problems(r, 405, "method_not_allowed", "")
        # RFC 9110 15.5.6: a 405 MUST carry an Allow header listing the methods.
        if allow not in (r.headers.get("allow") or ""):
            p.append("Allow header %r lacks %s" % (r.headers.get("allow"), allow))
        c.check(not p, "%s %s: %s (%s)" % (method, path, "; ".join(p), r.raw[:200]))
    c.done()


def test_error_body_shape_and_request_ids_unique():
    e = env()
    ids = set()
    for _ in range(5):
        r = e.c.get("/v1/me")
        expect_error(r, 401, "unauthenticated", AUTH_FIELD)
        ids.add(r.headers.get("x-request-id"))
    check(len(ids) == 5, "X-Request-Id not unique across 5 requests: %s" % ids)
