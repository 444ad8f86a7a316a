"""Every route x every role, with the expected status in every cell.

The expected table is written out below from the "who" column of src/http/README.md:
401 without a token (public routes excepted), 403 for a role that may never use the route,
404 for someone else's object (existence is not revealed), 2xx where allowed.  The matrix must
cover exactly the routes `suanlid routes` prints, so a new route without a row fails.
"""
import os
import re
import time

from harness import ROOT, Collector, check, env, error_problems, hour, run_cli, uniq

ROLES = ("admin", "operator", "provider", "other_provider", "tenant", "none")

#                                      admin operator provider other  tenant none
MATRIX = {
    "GET /healthz":                   (200,  200,     200,     200,   200,   200),
    "GET /readyz":                    (200,  200,     200,     200,   200,   200),
    "GET /v1/me":                     (200,  200,     200,     200,   200,   401),
    "POST /v1/accounts":              (201,  403,     403,     403,   403,   401),
    "GET /v1/accounts":               (200,  403,     403,     403,   403,   401),
    "GET /v1/accounts/{}":            (200,  404,     200,     404,   404,   401),  # the provider's account
    "POST /v1/accounts/{}/tokens":    (201,  404,     201,     404,   404,   401),  # the provider's account
    "GET /v1/accounts/{}/tokens":     (200,  404,     200,     404,   404,   401),  # the provider's account
    "DELETE /v1/tokens/{}":           (200,  404,     200,     404,   404,   401),  # a token of the provider
    "GET /v1/tokens":                 (200,  403,     403,     403,   403,   401),  # long-lived tokens
    "GET /v1/accounts/{}/limits":     (200,  404,     200,     404,   404,   401),  # the provider's account
    "PUT /v1/accounts/{}/limits":     (200,  403,     403,     403,   403,   401),  # the provider's account
    "GET /v1/regions":                (200,  200,     200,     200,   200,   401),
    "POST /v1/regions":               (201,  403,     403,     403,   403,   401),
    "GET /v1/regions/{}":             (200,  200,     200,     200,   200,   401),
    "PATCH /v1/regions/{}":           (200,  403,     403,     403,   403,   401),
    "GET /v1/latency":                (200,  200,     200,     200,   200,   401),
    "PUT /v1/latency":                (200,  403,     403,     403,   403,   401),
    "GET /v1/latency/model":          (200,  200,     200,     200,   200,   401),
    "GET /v1/accelerators":           (200,  200,     200,     200,   200,   401),
    "GET /v1/accelerators/{}":        (200,  200,     200,     200,   200,   401),
    # the accelerator registry (proposals of the provider P)
    "GET /v1/accelerator-aliases":    (200,  200,     200,     200,   200,   401),
    "GET /v1/accelerator-proposals":  (200,  403,     200,     200,   403,   401),
    "POST /v1/accelerator-proposals": (403,  403,     201,     201,   403,   401),
    "GET /v1/accelerator-proposals/{}": (200, 403,    200,     404,   403,   401),
    "DELETE /v1/accelerator-proposals/{}": (403, 403, 200,     404,   403,   401),  # a pending one, withdrawn
    "POST /v1/accelerator-proposals/{}/approve": (200, 403, 403, 403, 403,   401),
    "POST /v1/accelerator-proposals/{}/reject": (200, 403, 403,  403,   403,   401),
    "GET /v1/capacity/formula":       (200,  200,     200,     200,   200,   401),
    "PUT /v1/capacity/weights":       (200,  403,     403,     403,   403,   401),
    "GET /v1/pools":                  (200,  200,     200,     200,   200,   401),
    "POST /v1/pools":                 (403,  403,     201,     201,   403,   401),
    "GET /v1/pools/{}":               (200,  200,     200,     404,   200,   401),  # provider's active pool
    "PATCH /v1/pools/{}":             (403,  403,     200,     404,   403,   401),  # in the operator's region
    "DELETE /v1/pools/{}":            (403,  403,     200,     404,   403,   401),
    "POST /v1/pools/{}/heartbeat":    (403,  403,     200,     404,   403,   401),
    "GET /v1/offers":                 (200,  200,     200,     200,   200,   401),
    "GET /v1/audit":                  (200,  403,     403,     403,   403,   401),
    # market (the tenant T has funds, a filled order with trades in the provider's pool X,
    # and resting good-till orders)
    "GET /v1/accounts/{}/balances":   (200,  404,     200,     404,   404,   401),  # the provider's account
    "GET /v1/accounts/{}/postings":   (200,  404,     200,     404,   404,   401),  # the provider's account
    "POST /v1/accounts/{}/deposits":  (201,  403,     403,     403,   403,   401),  # the tenant's account
    "POST /v1/accounts/{}/withdrawals": (201, 404,    404,     404,   201,   401),  # the tenant's account
    "PUT /v1/accounts/{}/budget":     (200,  404,     404,     404,   200,   401),  # the tenant's account
    "POST /v1/quotes":                (403,  403,     403,     403,   200,   401),
    "GET /v1/market/book":            (200,  403,     403,     403,   403,   401),
    "POST /v1/orders":                (403,  403,     403,     403,   201,   401),
    "GET /v1/orders":                 (200,  403,     403,     403,   200,   401),
    "GET /v1/orders/{}":              (200,  403,     403,     403,   200,   401),  # the tenant's order
    "DELETE /v1/orders/{}":           (200,  403,     403,     403,   200,   401),  # a resting order of the tenant
    "GET /v1/trades":                 (200,  200,     200,     200,   200,   401),
    "GET /v1/trades/{}":              (200,  200,     200,     404,   200,   401),  # T's trade in P's pool, op's region
    "POST /v1/trades/{}/cancel":      (200,  403,     403,     403,   200,   401),  # a future trade of the tenant
    "GET /v1/exchange/settings":      (200,  200,     200,     200,   200,   401),
    "PUT /v1/exchange/settings":      (200,  403,     403,     403,   403,   401),
    # ledger (T's trade in P's pool in the operator's region; its signed TRADE entry)
    "GET /v1/trades/{}/receipt":      (200,  200,     200,     404,   200,   401),
    # the tenant bought without a registered key: no access details (still not 403)
    "GET /v1/trades/{}/access":       (404,  403,     403,     403,   404,   401),
    "GET /v1/trades/{}/events":       (200,  200,     200,     404,   200,   401),  # T's trade in P's pool, op's region
    # the agent adapter (P's agent pool A in a region of its own, one trade there leased by hand)
    "POST /v1/agent/work":            (403,  403,     200,     200,   403,   401),
    "POST /v1/agent/work/{}/result":  (403,  403,     200,     404,   403,   401),
    "GET /v1/agents":                 (200,  403,     200,     200,   403,   401),
    "PUT /v1/me/access-key":          (403,  403,     403,     403,   200,   401),
    "GET /v1/me/access-key":          (403,  403,     403,     403,   200,   401),  # after the PUT
    "GET /v1/keys":                   (200,  200,     200,     200,   200,   200),
    "GET /v1/ledger/checkpoint":      (200,  200,     200,     200,   200,   401),
    "GET /v1/ledger/checkpoints/{}":  (200,  200,     200,     200,   200,   401),
    "GET /v1/ledger/checkpoints":     (200,  200,     200,     200,   200,   401),
    # a cosignature of an unknown witness: past the role check, refused by the handler
    "POST /v1/ledger/checkpoints/{}/cosignatures": (422, 422, 422, 422, 422, 401),
    "GET /v1/ledger/witnesses":       (200,  200,     200,     200,   200,   401),
    "POST /v1/ledger/witnesses":      (201,  403,     403,     403,   403,   401),
    "GET /v1/ledger/entries":         (200,  200,     200,     200,   200,   401),
    "GET /v1/ledger/audit":           (200,  200,     200,     200,   200,   401),  # after a run
    "GET /v1/ledger/consistency":     (200,  200,     200,     200,   200,   401),
    "GET /v1/ledger/entries/{}":      (200,  200,     200,     404,   200,   401),
    # settlement (a closed period of 2020; the statement of the provider's account)
    "POST /v1/periods":               (201,  403,     403,     403,   403,   401),
    "GET /v1/periods":                (200,  200,     200,     200,   200,   401),
    "GET /v1/periods/{}":             (200,  200,     200,     200,   200,   401),
    "GET /v1/periods/{}/statements/{}": (200, 404,    200,     404,   404,   401),
    "GET /v1/periods/{}/export":      (200,  403,     403,     403,   403,   401),
    "GET /v1/periods/{}/regions":     (200,  200,     403,     403,   403,   401),
    # dashboard, market view and metrics (the operator's region R1 in the utilization cell)
    "GET /v1/stats/regions":          (200,  200,     403,     403,   403,   401),
    "GET /v1/stats/utilization":      (200,  200,     403,     403,   403,   401),
    "GET /v1/stats/health":           (200,  200,     200,     200,   403,   401),
    "GET /v1/stats/dispatch":         (200,  200,     403,     403,   403,   401),
    "GET /v1/market/offers":          (200,  200,     200,     200,   200,   401),
    "GET /v1/market/prices":          (200,  200,     200,     200,   200,   401),
    "GET /v1/market/last":            (200,  200,     200,     200,   200,   401),
    "GET /metrics":                   (200,  200,     403,     403,   403,   401),
    "GET /ui":                        (200,  200,     200,     200,   200,   200),
    "GET /ui/{}":                     (200,  200,     200,     200,   200,   200),
}

ERROR_FOR = {401: "unauthenticated", 403: "forbidden", 404: "not_found"}
# cells run in this order: the owner and the admin last, so refused cells see the objects intact
ORDER = ("none", "tenant", "operator", "other_provider", "admin", "provider")


def normalize(route):
    m, p = route.split(" ", 1)
    return m + " " + re.sub(r"\{[^}/]*\}|:[A-Za-z_][A-Za-z0-9_]*|<[^>/]*>", "{}", p)


def server_routes():
    """{normalized route: set of roles or None} from `suanlid routes` ("METHOD /path" lines,
    optionally followed by the comma-separated roles that may use the route)."""
    p = run_cli("routes")
    check(p.returncode == 0, "suanlid routes exit %s: %s" % (p.returncode, p.stderr[-300:]))
    lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
    pat = re.compile(r"(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (/\S*)(?: ([a-z_]+(?:,[a-z_]+)*))?")
    bad = [ln for ln in lines if not pat.fullmatch(ln)]
    check(not bad, "suanlid routes prints lines not of the form 'METHOD /path [roles]': %s" % bad[:5])
    out = []
    for ln in lines:
        m = pat.fullmatch(ln)
        out.append((normalize(m.group(1) + " " + m.group(2)),
                    set(m.group(3).split(",")) if m.group(3) else None))
    return out


def matrix_roles(row):
    """The roles the matrix lets use a route (refused only by ownership, i.e. 404, counts as
    allowed): {'public'} when no token is needed."""
    if row[ROLES.index("none")] != 401:
        return {"public"}
    allowed = set()
    for role, name in (("admin", "admin"), ("operator", "operator"), ("provider", "provider"),
                       ("other_provider", "provider"), ("tenant", "tenant")):
        if row[ROLES.index(role)] != 403:
            allowed.add(name)
    return allowed


def readme_routes():
    out = []
    with open(os.path.join(ROOT, "src", "http", "README.md"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^\|\s*(GET|POST|PUT|PATCH|DELETE)\s*\|\s*(/\S*)\s*\|", line)
            if m:
                out.append(normalize(m.group(1) + " " + m.group(2)))
    return out


def test_routes_match_readme_and_matrix():
    c = Collector()
    env()
    listed = server_routes()
    srv = [r for r, _ in listed]
    for route, roles in listed:
        if roles is not None and route in MATRIX:
            c.check(roles == matrix_roles(MATRIX[route]), "%s: suanlid routes says roles %s, the matrix (README) %s"
                    % (route, ",".join(sorted(roles)), ",".join(sorted(matrix_roles(MATRIX[route])))))
    c.check(len(srv) == len(set(srv)), "suanlid routes prints duplicates: %s" % sorted(r for r in srv if srv.count(r) > 1))
    doc = set(readme_routes())
    c.check(set(srv) - doc == set(), "routes the server has but src/http/README.md does not document: %s"
            % sorted(set(srv) - doc))
    c.check(doc - set(srv) == set(), "documented routes the server does not print: %s" % sorted(doc - set(srv)))
    c.check(set(srv) - set(MATRIX) == set(), "routes without a role-matrix row (add one): %s"
            % sorted(set(srv) - set(MATRIX)))
    c.check(set(MATRIX) - set(srv) == set(), "matrix rows for routes the server does not have: %s"
            % sorted(set(MATRIX) - set(srv)))
    c.done()


def test_role_matrix():
    e = env()
    c = Collector()
    R1, R2 = e.region(), e.region()
    P, Q, T = e.account("provider"), e.account("provider"), e.account("tenant")
    OP = e.account("operator", regions=[R1])
    X = e.pool(P["token"], R1, gpu_count=16)
    D = e.pool(P["token"], R1)
    spare = {"admin": e.token(P["id"])["id"], "provider": e.token(P["id"])["id"]}
    f0 = e.c.get("/v1/capacity/formula", token=e.admin).json
    # market fixtures: funds, two filled orders (a trade each to cancel) and two resting orders
    r = e.c.post("/v1/accounts/%d/deposits" % T["id"], {"amount": "1000.00"}, token=e.admin)
    check(r.status == 201, "setup deposit: %s" % r.short())
    fill = {"gpus": 1, "duration_hours": 1, "earliest_start": hour(3), "regions": [R1]}
    rest = {"gpus": 1, "duration_hours": 1, "earliest_start": hour(3), "regions": [R2],
            "time_in_force": "good_till", "expires_at": hour(6)}
    trades, resting = {}, {}
    for role in ("admin", "tenant"):
        r = e.c.post("/v1/orders", fill, token=T["token"])
        check(r.status == 201 and r.json.get("state") == "filled" and r.json.get("trades"),
              "setup filled order: %s" % r.short())
        trades[role] = r.json["trades"][0]["id"]
        order_id = r.json["id"]
        r = e.c.post("/v1/orders", rest, token=T["token"])
        check(r.status == 201 and r.json.get("state") == "open", "setup resting order: %s" % r.short())
        resting[role] = r.json["id"]
    r = e.c.post("/v1/orders", fill, token=T["token"])
    check(r.status == 201 and r.json.get("trades"), "setup trade: %s" % r.short())
    trade_id = r.json["trades"][0]["id"]
    # an agent pool of P in a region of its own, a trade in it, its reserve leased by P's agent
    R3 = e.region()
    A = e.pool(P["token"], R3, gpu_count=8, adapter={"kind": "agent", "config": {"mode": "host"}})
    r = e.c.post("/v1/orders", {"gpus": 1, "duration_hours": 1, "earliest_start": hour(3), "regions": [R3]},
                 token=T["token"])
    check(r.status == 201 and r.json.get("trades"), "setup agent trade: %s" % r.short())
    r = e.c.post("/v1/agent/work", {"agent": "matrix", "pools": [A["id"]]}, token=P["token"])
    check(r.status == 200 and len(r.json.get("items") or []) == 1, "setup agent lease: %s" % r.short())
    work = r.json["items"][0]
    settings = e.c.get("/v1/exchange/settings", token=e.admin).json
    # a closed (empty) period long past, and a free range for the admin's POST cell
    p0, p1 = "2020-01-01T00:00:00Z", "2020-01-02T00:00:00Z"
    r = e.c.post("/v1/periods", {"start": p0, "end": p1}, token=e.admin)
    check(r.status == 201, "setup period: %s" % r.short())
    period_id = r.json["id"]
    post_period = {"start": p0.replace("2020-", "2021-"), "end": p1.replace("2020-", "2021-")}

    def proposal():
        return {"accelerator": uniq("Prop").replace("-", "_"), "model": "Prop", "variant": uniq("v"),
                "vendor": "Acme", "source_url": "https://example.org/prop.pdf"}
    props = {}
    for k in ("get", "withdraw", "approve", "reject"):
        r = e.c.post("/v1/accelerator-proposals", proposal(), token=P["token"])
        check(r.status == 201, "setup proposal: %s" % r.short())
        props[k] = r.json["id"]
    tokens = {"admin": e.admin, "operator": OP["token"], "provider": P["token"], "other_provider": Q["token"],
              "tenant": T["token"], "none": None}

    def req(route, role):
        """(path, body) for route as role."""
        pid = P["id"]
        return {
            "GET /healthz": ("/healthz", None),
            "GET /readyz": ("/readyz", None),
            "GET /v1/me": ("/v1/me", None),
            "POST /v1/accounts": ("/v1/accounts", {"kind": "tenant", "name": uniq("m")}),
            "GET /v1/accounts": ("/v1/accounts", None),
            "GET /v1/accounts/{}": ("/v1/accounts/%d" % pid, None),
            "POST /v1/accounts/{}/tokens": ("/v1/accounts/%d/tokens" % pid, {"label": "m"}),
            "GET /v1/accounts/{}/tokens": ("/v1/accounts/%d/tokens" % pid, None),
            "DELETE /v1/tokens/{}": ("/v1/tokens/%d" % spare.get(role, spare["admin"]), None),
            "GET /v1/tokens": ("/v1/tokens?never=true", None),
            "GET /v1/accounts/{}/limits": ("/v1/accounts/%d/limits" % pid, None),
            "PUT /v1/accounts/{}/limits": ("/v1/accounts/%d/limits" % pid, {}),
            "GET /v1/regions": ("/v1/regions", None),
            "POST /v1/regions": ("/v1/regions", {"code": uniq("m"), "name": "m", "tier": "cloud"}),
            "GET /v1/regions/{}": ("/v1/regions/" + R1, None),
            "PATCH /v1/regions/{}": ("/v1/regions/" + R1, {"location": "m-" + role}),
            "GET /v1/latency/model": ("/v1/latency/model", None),
            "GET /v1/accelerator-aliases": ("/v1/accelerator-aliases", None),
            "GET /v1/accelerator-proposals": ("/v1/accelerator-proposals", None),
            "POST /v1/accelerator-proposals": ("/v1/accelerator-proposals", proposal()),
            "GET /v1/accelerator-proposals/{}": ("/v1/accelerator-proposals/%d" % props["get"], None),
            "DELETE /v1/accelerator-proposals/{}": ("/v1/accelerator-proposals/%d" % props["withdraw"], None),
            "POST /v1/accelerator-proposals/{}/approve": ("/v1/accelerator-proposals/%d/approve" % props["approve"], {}),
            "POST /v1/accelerator-proposals/{}/reject": ("/v1/accelerator-proposals/%d/reject" % props["reject"],
                                                         {"reason": "m"}),
            "GET /v1/latency": ("/v1/latency", None),
            "PUT /v1/latency": ("/v1/latency", {"entries": [{"from": R1, "to": R2, "rtt_ms": "9"}]}),
            "GET /v1/accelerators": ("/v1/accelerators", None),
            "GET /v1/accelerators/{}": ("/v1/accelerators/H100-SXM", None),
            "GET /v1/capacity/formula": ("/v1/capacity/formula", None),
            "PUT /v1/capacity/weights": ("/v1/capacity/weights",
                                         {"compute_weight_bp": f0["compute_weight_bp"],
                                          "memory_weight_bp": f0["memory_weight_bp"]}),
            "GET /v1/pools": ("/v1/pools", None),
            "GET /v1/offers": ("/v1/offers?sort=price&limit=5", None),
            "POST /v1/pools": ("/v1/pools", e.pool_body(R1)),
            "GET /v1/pools/{}": ("/v1/pools/%d" % X["id"], None),
            "PATCH /v1/pools/{}": ("/v1/pools/%d" % X["id"], {"name": "m-" + role}),
            "DELETE /v1/pools/{}": ("/v1/pools/%d" % D["id"], None),
            "POST /v1/pools/{}/heartbeat": ("/v1/pools/%d/heartbeat" % X["id"],
                                            {"healthy_gpus": 16, "utilization_bp": 0}),
            "GET /v1/audit": ("/v1/audit", None),
            "GET /v1/accounts/{}/balances": ("/v1/accounts/%d/balances" % pid, None),
            "GET /v1/accounts/{}/postings": ("/v1/accounts/%d/postings" % pid, None),
            "POST /v1/accounts/{}/deposits": ("/v1/accounts/%d/deposits" % T["id"], {"amount": "1.00"}),
            "POST /v1/accounts/{}/withdrawals": ("/v1/accounts/%d/withdrawals" % T["id"], {"amount": "1.00"}),
            "PUT /v1/accounts/{}/budget": ("/v1/accounts/%d/budget" % T["id"], {"monthly_cap": "900.00"}),
            "POST /v1/quotes": ("/v1/quotes", fill),
            "GET /v1/market/book": ("/v1/market/book", None),
            "POST /v1/orders": ("/v1/orders", fill),
            "GET /v1/orders": ("/v1/orders", None),
            "GET /v1/orders/{}": ("/v1/orders/%d" % order_id, None),
            "DELETE /v1/orders/{}": ("/v1/orders/%d" % resting.get(role, resting["admin"]), None),
            "GET /v1/trades": ("/v1/trades", None),
            "GET /v1/trades/{}": ("/v1/trades/%d" % trade_id, None),
            "POST /v1/trades/{}/cancel": ("/v1/trades/%d/cancel" % trades.get(role, trades["admin"]), {}),
            "GET /v1/exchange/settings": ("/v1/exchange/settings", None),
            "GET /v1/trades/{}/receipt": ("/v1/trades/%d/receipt" % trade_id, None),
            "GET /v1/trades/{}/access": ("/v1/trades/%d/access" % trade_id, None),
            "GET /v1/trades/{}/events": ("/v1/trades/%d/events" % trade_id, None),
            "POST /v1/agent/work": ("/v1/agent/work", {"agent": "m-" + role}),
            "POST /v1/agent/work/{}/result": ("/v1/agent/work/%d/result" % work["id"],
                                              {"lease": work["lease"], "outcome": "ok"}),
            "GET /v1/agents": ("/v1/agents", None),
            "PUT /v1/me/access-key": ("/v1/me/access-key", {"public_key": "ab" * 32}),
            "GET /v1/me/access-key": ("/v1/me/access-key", None),
            "GET /v1/keys": ("/v1/keys", None),
            "GET /v1/ledger/checkpoint": ("/v1/ledger/checkpoint", None),
            "GET /v1/ledger/audit": ("/v1/ledger/audit", None),
            "GET /v1/ledger/checkpoints/{}": ("/v1/ledger/checkpoints/%d" % ledger["size"], None),
            "GET /v1/ledger/consistency": ("/v1/ledger/consistency?from=%d&to=%d"
                                           % (ledger["size"], ledger["size"]), None),
            "GET /v1/ledger/entries/{}": ("/v1/ledger/entries/%d" % ledger["entry"], None),
            "GET /v1/ledger/checkpoints": ("/v1/ledger/checkpoints", None),
            "POST /v1/ledger/checkpoints/{}/cosignatures": (
                "/v1/ledger/checkpoints/%d/cosignatures" % ledger["size"],
                {"witness": "m-nobody", "timestamp": hour(1), "signature": "ab" * 64}),
            "GET /v1/ledger/witnesses": ("/v1/ledger/witnesses", None),
            "POST /v1/ledger/witnesses": ("/v1/ledger/witnesses",
                                          {"name": uniq("m-" + role), "public_key": os.urandom(32).hex()}),
            "GET /v1/ledger/entries": ("/v1/ledger/entries?from=0&limit=5", None),
            "POST /v1/periods": ("/v1/periods", post_period),
            "GET /v1/periods": ("/v1/periods", None),
            "GET /v1/periods/{}": ("/v1/periods/%d" % period_id, None),
            "GET /v1/periods/{}/statements/{}": ("/v1/periods/%d/statements/%d" % (period_id, pid), None),
            "GET /v1/periods/{}/export": ("/v1/periods/%d/export" % period_id, None),
            "GET /v1/periods/{}/regions": ("/v1/periods/%d/regions" % period_id, None),
            "PUT /v1/exchange/settings": ("/v1/exchange/settings", {"fee_bp": settings["fee_bp"]}),
            "GET /v1/stats/regions": ("/v1/stats/regions", None),
            "GET /v1/stats/utilization": ("/v1/stats/utilization?region=%s&hours=24" % R1, None),
            "GET /v1/stats/health": ("/v1/stats/health", None),
            "GET /v1/stats/dispatch": ("/v1/stats/dispatch", None),
            "GET /v1/market/offers": ("/v1/market/offers", None),
            "GET /v1/market/prices": ("/v1/market/prices?accelerator=H100-SXM", None),
            "GET /v1/market/last": ("/v1/market/last", None),
            "GET /metrics": ("/metrics", None),
            "GET /ui": ("/ui", None),
            "GET /ui/{}": ("/ui/app.js", None),
        }[route]

    # the trade's signed entry and a checkpoint that covers it (the sequencer runs in the
    # background: wait for it)
    ledger = {}
    deadline = time.time() + 15
    while time.time() < deadline:
        rr = e.c.get("/v1/trades/%d/receipt" % trade_id, token=e.admin)
        if rr.status == 200 and rr.json.get("checkpoint"):
            ledger = {"entry": rr.json["entry_id"], "size": rr.json["tree_size"]}
            break
        time.sleep(0.2)
    check(ledger, "no checkpoint covered trade %d within 15 s" % trade_id)
    # a recorded run of the ledger auditor, for GET /v1/ledger/audit
    au = run_cli("audit", timeout=120)
    check(au.returncode in (0, 1), "suanlid audit: exit %s %s" % (au.returncode, au.stderr[-300:]))

    cells = 0
    for route, row in MATRIX.items():
        method = route.split(" ", 1)[0]
        for role in ORDER:
            want = row[ROLES.index(role)]
            path, body = req(route, role)
            r = e.c.req(method, path, body=body, token=tokens[role])
            cells += 1
            if want in ERROR_FOR:
                p = error_problems(r, want, ERROR_FOR[want])
                c.check(not p, "%-30s %-14s %s %s: expected %d %s, got %s %s"
                        % (route, role, method, path, want, ERROR_FOR[want], r.status, r.raw[:120]))
            else:
                c.check(r.status == want, "%-30s %-14s %s %s: expected %d, got %s %s"
                        % (route, role, method, path, want, r.status, r.raw[:120]))
    c.check(cells == len(MATRIX) * len(ROLES), "matrix incomplete")
    c.done()
