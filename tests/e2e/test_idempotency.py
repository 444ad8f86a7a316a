"""Idempotency-Key: one effect, one reply (invariant 5)."""
from harness import (Collector, check, env, error_problems, parallel, psql, quote_lit, uniq)


def _count(name):
    return int(psql("SELECT count(*) FROM pools WHERE name = %s" % quote_lit(name)))


def _replayed(r):
    return (r.headers.get("idempotent-replayed") or "").lower() == "true"


def test_same_key_same_body_replays():
    e = env()
    c = Collector()
    P = e.account("provider")
    R = e.region()
    body = e.pool_body(R)
    key = uniq("key")
    h = {"Idempotency-Key": key}
    r1 = e.c.post("/v1/pools", body, token=P["token"], headers=h)
    check(r1.status == 201, "first POST: %s" % r1.short())
    c.check(not _replayed(r1), "first reply carries Idempotent-Replayed: %r" % r1.headers.get("idempotent-replayed"))
    for i in range(2):
        r2 = e.c.post("/v1/pools", body, token=P["token"], headers=h)
        c.check(r2.status == r1.status, "replay %d status %s, first %s" % (i, r2.status, r1.status))
        c.check(r2.raw == r1.raw, "replay %d body differs:\n  first  %s\n  replay %s" % (i, r1.raw[:200], r2.raw[:200]))
        c.check(_replayed(r2), "replay %d lacks Idempotent-Replayed: true (headers %s)" % (i, r2.headers))
    c.check(_count(body["name"]) == 1, "%d pools created by one key" % _count(body["name"]))
    # a different body with the same key
    body2 = dict(body, price_per_gpu_hour="9.99")
    r3 = e.c.post("/v1/pools", body2, token=P["token"], headers=h)
    p = error_problems(r3, 422, "idempotency_key_reused")
    c.check(not p, "same key, different body: %s" % "; ".join(p))
    # same key on another route
    r4 = e.c.post("/v1/pools/%d/heartbeat" % r1.json["id"], {"healthy_gpus": 1, "utilization_bp": 0},
                  token=P["token"], headers=h)
    p = error_problems(r4, 422, "idempotency_key_reused")
    c.check(not p, "same key, another route: %s" % "; ".join(p))
    c.check(_count(body["name"]) == 1, "pools after refused reuse: %d" % _count(body["name"]))
    st = psql("SELECT state, status FROM idempotency_keys WHERE key = %s" % quote_lit(key))
    c.check(st == "done|201", "idempotency_keys row: %r" % st)
    # without a key: two POSTs are two pools
    body3 = e.pool_body(R)
    for _ in range(2):
        e.c.post("/v1/pools", body3, token=P["token"])
    c.check(_count(body3["name"]) == 2, "without a key, 2 POSTs made %d pools" % _count(body3["name"]))
    c.done()


def test_keys_are_per_account():
    e = env()
    c = Collector()
    P, Q = e.account("provider"), e.account("provider")
    R = e.region()
    body = e.pool_body(R)
    h = {"Idempotency-Key": uniq("shared")}
    r1 = e.c.post("/v1/pools", body, token=P["token"], headers=h)
    r2 = e.c.post("/v1/pools", body, token=Q["token"], headers=h)
    c.check(r1.status == 201 and r2.status == 201, "two accounts, one key: %s / %s" % (r1.short(), r2.short()))
    c.check(not _replayed(r2), "the other account got a replay")
    if r1.status == 201 and r2.status == 201:
        c.check(r1.json["id"] != r2.json["id"] and r2.json["owner_id"] == Q["id"],
                "the other account got the first account's pool: %s" % r2.json)
    c.check(_count(body["name"]) == 2, "%d pools for two accounts" % _count(body["name"]))
    c.done()


def test_concurrent_duplicates():
    e = env()
    c = Collector()
    P = e.account("provider")
    R = e.region()
    for attempt in range(3):
        body = e.pool_body(R)
        h = {"Idempotency-Key": uniq("race")}
        rs = parallel(8, lambda i: e.c.post("/v1/pools", body, token=P["token"], headers=h))
        errs = [r for r in rs if isinstance(r, Exception)]
        c.check(not errs, "attempt %d: exceptions %s" % (attempt, errs[:2]))
        rs = [r for r in rs if not isinstance(r, Exception)]
        fresh = [r for r in rs if r.status == 201 and not _replayed(r)]
        replays = [r for r in rs if r.status == 201 and _replayed(r)]
        inflight = [r for r in rs if r.status == 409 and r.err() == "idempotency_in_flight"]
        other = [r for r in rs if r not in fresh and r not in replays and r not in inflight]
        c.check(len(fresh) == 1, "attempt %d: %d non-replayed successes of 8 (statuses %s)"
                % (attempt, len(fresh), sorted(r.status for r in rs)))
        c.check(not other, "attempt %d: unexpected replies: %s" % (attempt, [r.short() for r in other][:3]))
        if fresh:
            c.check(all(r.raw == fresh[0].raw for r in replays), "attempt %d: a replay differs" % attempt)
        for r in inflight:
            c.check(not error_problems(r, 409, "idempotency_in_flight"), "in-flight reply shape: %s" % r.short())
        c.check(_count(body["name"]) == 1, "attempt %d: %d pools created" % (attempt, _count(body["name"])))
    c.done()


def test_replay_of_region_create():
    """A replayed create must not turn into 409 already_exists."""
    e = env()
    body = {"code": uniq("r"), "name": "n", "tier": "cloud"}
    h = {"Idempotency-Key": uniq("reg")}
    r1 = e.c.post("/v1/regions", body, token=e.admin, headers=h)
    r2 = e.c.post("/v1/regions", body, token=e.admin, headers=h)
    check(r1.status == 201 and r2.status == 201 and r1.raw == r2.raw and _replayed(r2),
          "region create replay: %s / %s" % (r1.short(), r2.short()))
    r3 = e.c.post("/v1/regions", body, token=e.admin)
    check(r3.status == 409, "same region without key: %s" % r3.short())
