"""Accounts, API tokens and authentication."""
import datetime
import os
import re
import time

from dispatch_util import PrivateEnv
from harness import (AUTH_FIELD, TOKEN_RE, Collector, blake2b_256, check, env, error_problems, expect_error,
                     fail, parse_ts, psql, quote_lit, ts, uniq, utcnow)

ACCOUNT_KEYS = {"id", "kind", "name", "regions", "disabled", "created_at"}
# src/http/README.md: Token plus the secret "token" (shown only in this reply)
TOKEN_CREATE_KEYS = {"id", "account_id", "public_id", "label", "created_at", "expires_at",
                     "revoked_at", "state", "scopes", "token"}


def _secret_bits(secret):
    if re.fullmatch(r"[0-9a-f]+", secret):
        return 4 * len(secret)
    if re.fullmatch(r"[A-Za-z0-9_\-]+", secret):
        return 6 * len(secret)
    return 0


def test_create_accounts():
    e = env()
    c = Collector()
    r1 = e.region()
    for kind in ("provider", "tenant", "admin"):
        name = uniq(kind)
        r = e.c.post("/v1/accounts", {"kind": kind, "name": name}, token=e.admin)
        if not c.check(r.status == 201, "create %s: %s" % (kind, r.short())):
            continue
        a = r.json
        c.check(set(a) == ACCOUNT_KEYS, "%s account keys %s" % (kind, sorted(a)))
        c.check(isinstance(a.get("id"), int), "id is not an integer: %r" % a.get("id"))
        c.check(a.get("kind") == kind and a.get("name") == name and a.get("regions") == []
                and a.get("disabled") is False, "account echo: %s" % a)
        c.check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", str(a.get("created_at"))),
                "created_at %r not RFC 3339 UTC" % a.get("created_at"))
        g = e.c.get("/v1/accounts/%s" % a.get("id"), token=e.admin)
        c.check(g.status == 200 and g.json == a, "GET account differs from create: %s vs %s" % (g.short(), a))
    # operator with regions
    name = uniq("op")
    r = e.c.post("/v1/accounts", {"kind": "operator", "name": name, "regions": [r1]}, token=e.admin)
    c.check(r.status == 201 and r.json.get("regions") == [r1], "create operator: %s" % r.short())
    # operator without regions / with none / unknown region
    r = e.c.post("/v1/accounts", {"kind": "operator", "name": uniq("op")}, token=e.admin)
    p = error_problems(r, 400, "missing_field", "regions")
    c.check(not p, "operator without regions: %s" % "; ".join(p))
    r = e.c.post("/v1/accounts", {"kind": "operator", "name": uniq("op"), "regions": []}, token=e.admin)
    p = error_problems(r, 400, "invalid_value", lambda f: str(f).startswith("regions"))
    c.check(not p, "operator with regions []: %s" % "; ".join(p))
    r = e.c.post("/v1/accounts", {"kind": "operator", "name": uniq("op"), "regions": ["zz-nowhere-" + uniq("q")]},
                 token=e.admin)
    p = error_problems(r, 422, "unknown_reference", lambda f: str(f).startswith("regions"))
    c.check(not p, "operator with unknown region: %s" % "; ".join(p))
    r = e.c.post("/v1/accounts", {"kind": "tenant", "name": uniq("t"), "regions": [r1]}, token=e.admin)
    p = error_problems(r, 400, None, lambda f: str(f).startswith("regions"))
    c.check(not p, "tenant with regions: %s" % "; ".join(p))
    # duplicate name
    r = e.c.post("/v1/accounts", {"kind": "tenant", "name": name}, token=e.admin)
    p = error_problems(r, 409, "already_exists")
    c.check(not p, "duplicate account name: %s" % "; ".join(p))
    n = psql("SELECT count(*) FROM accounts WHERE name = %s" % quote_lit(name))
    c.check(n == "1", "duplicate name: %s rows named %s" % (n, name))
    c.done()


def test_list_accounts_by_kind():
    e = env()
    t = e.account("tenant")
    items, _ = e.walk("/v1/accounts?kind=tenant", e.admin, 3)
    check(items and all(a["kind"] == "tenant" for a in items), "?kind=tenant returned other kinds")
    check(t["id"] in [a["id"] for a in items], "?kind=tenant misses tenant %s" % t["id"])
    ids = [a["id"] for a in items]
    check(len(ids) == len(set(ids)), "duplicate accounts across pages")
    r = e.c.get("/v1/accounts?kind=emperor", token=e.admin)
    expect_error(r, 400, "bad_query_parameter")
    r = e.c.get("/v1/accounts?colour=red", token=e.admin)
    expect_error(r, 400, "bad_query_parameter")


def test_token_format_and_secrecy():
    e = env()
    c = Collector()
    p = e.account("provider")
    r = e.c.post("/v1/accounts/%d/tokens" % p["id"], {"label": "ci"}, token=e.admin)
    check(r.status == 201, "create token: %s" % r.short())
    t = r.json
    c.check(set(t) == TOKEN_CREATE_KEYS, "token create keys %s, expected %s" % (sorted(t), sorted(TOKEN_CREATE_KEYS)))
    m = TOKEN_RE.match(t.get("token", ""))
    check(m, "token %r is not sl_<32 hex>_<secret>" % t.get("token"))
    c.check(m.group(1) == t.get("public_id"), "public_id %r differs from token's %r" % (t.get("public_id"), m.group(1)))
    c.check(_secret_bits(m.group(2)) >= 128, "secret %d chars, under 128 bits" % len(m.group(2)))
    c.check(t.get("label") == "ci", "token echo: %s" % t)
    # no expires_at: the default lifetime (90 days unless SUANLI_TOKEN_DEFAULT_TTL_H says
    # otherwise), never "no expiry" (issue 16)
    want_h = int(os.environ.get("SUANLI_TOKEN_DEFAULT_TTL_H", "2160"))
    if want_h:
        exp = parse_ts(t["expires_at"]) if t.get("expires_at") else None
        c.check(exp is not None and abs((exp - utcnow()).total_seconds() - want_h * 3600) < 3600,
                "a token created without expires_at expires at %r, expected about %d h from now"
                % (t.get("expires_at"), want_h))
    token, secret = t["token"], m.group(2)
    # a second token is different
    t2 = e.token(p["id"])
    c.check(t2["token"] != token and t2["public_id"] != t["public_id"], "two tokens are not distinct")
    # works
    me = e.c.get("/v1/me", token=token)
    c.check(me.status == 200, "GET /v1/me with new token: %s" % me.short())
    if me.status == 200:
        c.check(set(me.json) == {"account", "token"}, "/v1/me keys %s" % sorted(me.json))
        c.check(me.json["account"].get("id") == p["id"], "/v1/me account %s" % me.json.get("account"))
        c.check(set(me.json["token"]) == {"id", "public_id", "label", "expires_at"},
                "/v1/me token keys %s" % sorted(me.json["token"]))
        c.check(me.json["token"].get("id") == t["id"], "/v1/me token id")
        c.check(secret not in me.raw.decode(), "/v1/me shows the secret")
    # list never shows it
    for who in (e.admin, token):
        lst = e.c.get("/v1/accounts/%d/tokens" % p["id"], token=who)
        c.check(lst.status == 200, "list tokens: %s" % lst.short())
        if lst.status == 200:
            c.check(secret not in lst.raw.decode() and token not in lst.raw.decode(), "token list shows the secret")
            c.check(all("token" not in i for i in lst.json["items"]), "token list items have a 'token' key")
            c.check(t["id"] in [i.get("id") for i in lst.json["items"]], "token list misses the new token")
    # the database holds only the BLAKE2b-256 hash
    rows = psql("SELECT t::text FROM api_tokens t")
    c.check(token not in rows and secret not in rows, "api_tokens contains the token or its secret")
    h = psql("SELECT encode(token_hash, 'hex') FROM api_tokens WHERE id = %d" % t["id"])
    c.check(h == blake2b_256(token), "token_hash %s is not BLAKE2b-256 of the token" % h)
    audit = psql("SELECT coalesce(string_agg(a::text, '|'), '') FROM audit_log a")
    c.check(secret not in audit, "audit_log contains the token secret")
    time.sleep(0.2)
    log = e.server.log_text()
    c.check(secret not in log, "the server log contains the token secret")
    c.check(TOKEN_RE.match(e.admin).group(2) not in log, "the server log contains the admin token's secret")
    c.done()


def test_token_expiry():
    """On a database of its own whose test clock (TEST-ONLY, schema/014_clock.sql) the test moves
    past the token's expiry instead of waiting for it."""
    with PrivateEnv("token_expiry", clock="now") as e:
        _token_expiry(e)


def _token_expiry(e):
    p = e.account("tenant")
    exp = datetime.datetime.fromtimestamp(e.now(), datetime.timezone.utc) + datetime.timedelta(seconds=3)
    r = e.c.post("/v1/accounts/%d/tokens" % p["id"], {"expires_at": ts(exp)}, token=e.admin)
    check(r.status == 201, "token with expires_at: %s" % r.short())
    check(r.json.get("expires_at") == ts(exp), "expires_at echo %r != %r" % (r.json.get("expires_at"), ts(exp)))
    tok = r.json["token"]
    r = e.c.get("/v1/me", token=tok)
    check(r.status == 200, "token before expiry: %s" % r.short())
    check(r.json["token"].get("expires_at") == ts(exp), "/v1/me expires_at %r" % r.json["token"].get("expires_at"))
    # in the past: refused
    r = e.c.post("/v1/accounts/%d/tokens" % p["id"], {"expires_at": "2020-01-01T00:00:00Z"}, token=e.admin)
    expect_error(r, 400, "invalid_value", "expires_at")
    e.clock("+4.2 seconds")  # 1.2 s past the expiry
    r = e.c.get("/v1/me", token=tok)
    expect_error(r, 401, "token_invalid", AUTH_FIELD)


def test_revoke_token():
    e = env()
    c = Collector()
    p = e.account("provider")
    q = e.account("provider")
    t = e.token(p["id"])
    # someone else's token: 404
    r = e.c.delete("/v1/tokens/%d" % t["id"], token=q["token"])
    p_ = error_problems(r, 404, "not_found")
    c.check(not p_, "other provider revokes: %s" % "; ".join(p_))
    check(e.c.get("/v1/me", token=t["token"]).status == 200, "token revoked by someone else")
    # the owner revokes with another of its tokens
    r = e.c.delete("/v1/tokens/%d" % t["id"], token=p["token"])
    c.check(r.status == 200, "owner revokes: %s" % r.short())
    if r.status == 200:
        c.check(r.json.get("id") == t["id"] and r.json.get("revoked_at"), "revoke reply: %s" % r.json)
        c.check("token" not in r.json, "revoke reply shows the token")
    r = e.c.get("/v1/me", token=t["token"])
    p_ = error_problems(r, 401, "token_invalid", AUTH_FIELD)
    c.check(not p_, "revoked token: %s" % "; ".join(p_))
    # admin revokes anyone's
    t2 = e.token(p["id"])
    r = e.c.delete("/v1/tokens/%d" % t2["id"], token=e.admin)
    c.check(r.status == 200, "admin revokes: %s" % r.short())
    c.check(e.c.get("/v1/me", token=t2["token"]).status == 401, "admin-revoked token still works")
    # unknown
    r = e.c.delete("/v1/tokens/999999999", token=e.admin)
    p_ = error_problems(r, 404, "not_found")
    c.check(not p_, "revoke unknown: %s" % "; ".join(p_))
    c.done()


def test_malformed_and_unknown_tokens():
    e = env()
    c = Collector()
    p = e.account("tenant")
    good = p["token"]
    pub = TOKEN_RE.match(good).group(1)
    cases = [
        (None, ("unauthenticated",)),
        ("Basic dXNlcjpwYXNz", ("unauthenticated", "token_malformed")),
        ("Bearer", ("unauthenticated", "token_malformed")),
        ("Bearer ", ("unauthenticated", "token_malformed")),
        ("bearer " + good, None),  # scheme is case-insensitive (RFC 9110 11.1): accept or malformed
        ("Bearer xx_" + good[3:], ("token_malformed",)),
        ("Bearer sl_" + "z" * 32 + "_" + "a" * 43, ("token_malformed",)),
        ("Bearer sl_" + pub[:31] + "_" + "a" * 43, ("token_malformed",)),
        ("Bearer sl_" + pub.upper() + good[35:], ("token_malformed", "token_invalid")),
        ("Bearer sl_" + pub, ("token_malformed",)),
        ("Bearer sl_" + pub + "_", ("token_malformed",)),
        ("Bearer " + good + " extra", ("token_malformed",)),
        ("Bearer " + "sl_" + "0" * 32 + "_" + "A" * 43, ("token_invalid",)),
        ("Bearer " + good[:-1] + ("A" if good[-1] != "A" else "B"), ("token_invalid",)),
        ("Bearer " + "x" * 5000, ("token_malformed",)),
    ]
    for auth, names in cases:
        h = {"Authorization": auth} if auth is not None else {}
        r = e.c.get("/v1/me", headers=h)
        label = "Authorization %r" % (auth[:60] + "..." if auth and len(auth) > 60 else auth)
        if names is None:
            c.check(r.status in (200, 401), "%s: %s" % (label, r.short()))
            continue
        p_ = error_problems(r, 401, None, AUTH_FIELD)
        if r.err() not in names:
            p_.append("error %r, expected one of %s" % (r.err(), names))
        if "bearer" not in (r.headers.get("www-authenticate") or "").lower():
            p_.append("no WWW-Authenticate: Bearer header (RFC 9110 11.6.1)")
        c.check(not p_, "%s: %s" % (label, "; ".join(p_)))
    c.done()


def test_account_visibility():
    e = env()
    c = Collector()
    a = e.account("tenant")
    b = e.account("tenant")
    r = e.c.get("/v1/accounts/%d" % a["id"], token=a["token"])
    c.check(r.status == 200 and r.json.get("id") == a["id"], "self GET account: %s" % r.short())
    for path in ("/v1/accounts/%d" % b["id"], "/v1/accounts/%d/tokens" % b["id"]):
        r = e.c.get(path, token=a["token"])
        p_ = error_problems(r, 404, "not_found")
        c.check(not p_, "tenant GET %s of another: %s" % (path, "; ".join(p_)))
    r = e.c.post("/v1/accounts/%d/tokens" % b["id"], {}, token=a["token"])
    p_ = error_problems(r, 404, "not_found")
    c.check(not p_, "tenant creates a token for another: %s" % "; ".join(p_))
    # a self-made token works
    r = e.c.post("/v1/accounts/%d/tokens" % a["id"], {"label": "mine"}, token=a["token"])
    c.check(r.status == 201, "tenant creates own token: %s" % r.short())
    if r.status == 201:
        c.check(e.c.get("/v1/me", token=r.json["token"]).status == 200, "self-made token does not work")
    r = e.c.get("/v1/accounts/999999999", token=e.admin)
    p_ = error_problems(r, 404, "not_found")
    c.check(not p_, "GET unknown account: %s" % "; ".join(p_))
    c.done()


def test_bootstrap_admin_token_is_fresh():
    e = env()
    from harness import run_cli
    p = run_cli("bootstrap-admin")
    check(p.returncode == 0, "bootstrap-admin exit %s: %s" % (p.returncode, p.stderr[-300:]))
    tok = p.stdout.strip()
    check(p.stdout.count("\n") <= 1 and TOKEN_RE.match(tok), "bootstrap-admin stdout %r" % p.stdout[:200])
    check(tok != e.admin, "bootstrap-admin printed the same token twice")
    r = e.c.get("/v1/me", token=tok)
    check(r.status == 200 and r.json["account"]["kind"] == "admin", "bootstrap token /v1/me: %s" % r.short())
    if parse_ts(r.json["account"]["created_at"]) > utcnow() + datetime.timedelta(minutes=1):
        fail("created_at in the future")


def test_token_secret_never_stored_even_with_idempotency_key():
    """The secret is shown once and only its hash is stored: an Idempotency-Key on token
    creation must not keep the plaintext (idempotency_keys.response) nor replay it."""
    e = env()
    c = Collector()
    p = e.account("tenant")
    h = {"Idempotency-Key": uniq("tok")}
    r = e.c.post("/v1/accounts/%d/tokens" % p["id"], {"label": "idem"}, token=e.admin, headers=h)
    check(r.status == 201, "create token with Idempotency-Key: %s" % r.short())
    secret = TOKEN_RE.match(r.json["token"]).group(2)
    tables = [t for t in psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").split("\n") if t]
    for t in tables:
        text = psql("SELECT coalesce(string_agg(x::text, '|'), '') FROM %s x" % t)
        c.check(secret not in text, "table %s holds the plaintext token secret" % t)
    r2 = e.c.post("/v1/accounts/%d/tokens" % p["id"], {"label": "idem"}, token=e.admin, headers=h)
    c.check(secret.encode() not in r2.raw, "a replay shows the secret a second time: %s" % r2.short())
    c.done()
