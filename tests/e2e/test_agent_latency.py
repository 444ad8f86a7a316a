"""Issue 13, what the agent adds to the market beyond its work: the round-trip times agents
measure reach the latency matrix (measured, `measured_by: agent`, with its provenance), a
head node's agent keeps sending heartbeats from Slurm whether or not Slurm can be read, and
the attempts the work leaves behind are kept for a configurable time only.

  * RTTs: a poll's `rtt_ms` (to the exchange, whose region is SUANLI_REGION) and `rtts` (to
    the exchange's regional probe endpoints) are recorded from the agent's region, both
    directions of each pair, and used by quotes; a change within max(1 ms, 10 %) is not
    rewritten; an admin's entry is never overwritten (and an admin's PUT replaces an agent's);
    a time faster than light in fibre between two located regions is refused; bad input is a
    clear 4xx that records nothing; the real suanli-agent with --region and --probe.
  * heartbeats from Slurm (--partition): with no scontrol to run, the agent still sends its
    heartbeat (no healthy GPU, and says why); against the real test cluster (skipped without
    SLURM_CONF) the partition's usable GPUs, capped at the pool's gpu_count.
  * retention: with SUANLI_ATTEMPTS_RETENTION_H=1, attempts older than an hour are deleted by
    the maintenance worker and the newer ones stay (GET /v1/trades/{id}/events shows those).
"""
import os
import tempfile

from harness import Collector, check, error_problems, hour
from dispatch_util import PrivateEnv, wait_for
from market_util import Market
from test_agent import AGENT_HOST, AGENT_SLURM, _agent_pool, _buy, _events, _market, _need_slurm, agent_once

# run.py --shards: in the shard of the other modules that use the Slurm test cluster
E2E_GROUP = "slurm"

HOME = "exchange-home"
FRANKFURT, SINGAPORE = (50.1109, 8.6821), (1.3521, 103.8198)


def _entry(e, a, b):
    r = e.c.get("/v1/latency?from=%s&to=%s" % (a, b), token=e.admin)
    check(r.status == 200, "GET /v1/latency: %s" % r.short())
    items = r.json["items"]
    return items[0] if items else {}


def _got(e, a, b):
    x = _entry(e, a, b)
    return (x.get("source"), x.get("measured_by"), x.get("rtt_ms"))


def _poll(e, token, **body):
    return e.c.post("/v1/agent/work", dict({"agent": "rtt-1"}, **body), token=token)


def test_agent_round_trips_feed_the_latency_matrix():
    c = Collector()
    with PrivateEnv("agentrtt", extra_env={"SUANLI_REGION": HOME}) as e:
        e.region(code=HOME)
        a, b = e.region(), e.region()
        far = e.region(lat=SINGAPORE[0], lon=SINGAPORE[1], location="Singapore")
        prov, ten = e.account("provider"), e.account("tenant")
        e.deposit(ten["id"], "1000.00")
        tok = e.token(prov["id"], scopes=["agent", "heartbeat"])["token"]
        pool = _agent_pool(e, prov["token"], a, AGENT_HOST, gpus=8, per_node=8)

        # the RTT to the exchange (its region: SUANLI_REGION) and to region b's probe, from the
        # region of the agent's pools, both directions
        r = _poll(e, tok, rtt_ms="12.5", rtts=[{"region": b, "rtt_ms": 30}])
        c.check(r.status == 200, "poll with round trips: %s" % r.short())
        for f, t, ms in [(a, HOME, "12.500"), (HOME, a, "12.500"), (a, b, "30.000"), (b, a, "30.000")]:
            c.check(_got(e, f, t) == ("measured", "agent", ms), "%s -> %s: %s" % (f, t, _entry(e, f, t)))
        x = _entry(e, b, far)
        c.check(x == {} or x.get("source") == "estimated", "an unmeasured pair stays as it was: %s" % x)

        # quotes from b to the pool in a use the agent's measurement
        body = {"gpus": 8, "duration_hours": 1, "earliest_start": hour(2), "regions": [a], "origin_region": b,
                "max_rtt_ms": 100}
        pl = Market(e).quote(ten["token"], body, full=False)["placements"]
        c.check(pl and pl[0]["pool_id"] == pool["id"] and (pl[0]["rtt_ms"], pl[0]["rtt_source"]) == ("30.000", "measured"),
                "quote from %s: %s" % (b, pl))

        # a change within max(1 ms, 10 %) is not rewritten; a larger one is
        r = _poll(e, tok, rtts=[{"region": b, "rtt_ms": "30.9"}])
        c.check(r.status == 200 and _got(e, a, b)[2] == "30.000", "a small change: %s %s" % (r.short(), _entry(e, a, b)))
        r = _poll(e, tok, rtts=[{"region": b, "rtt_ms": "45"}])
        c.check(r.status == 200 and _got(e, a, b) == ("measured", "agent", "45.000") and
                _got(e, b, a)[2] == "45.000", "a larger change: %s %s" % (r.short(), _entry(e, a, b)))

        # an admin's entry wins: the agent never overwrites it, and the admin's PUT replaced the agent's
        r = e.c.put("/v1/latency", {"entries": [{"from": a, "to": b, "rtt_ms": "25"}]}, token=e.admin)
        c.check(r.status == 200 and _got(e, a, b) == ("measured", "admin", "25.000"), "admin PUT: %s %s"
                % (r.short(), _entry(e, a, b)))
        r = _poll(e, tok, rtts=[{"region": b, "rtt_ms": "60"}])
        c.check(r.status == 200 and _got(e, a, b) == ("measured", "admin", "25.000")
                and _got(e, b, a) == ("measured", "agent", "60.000"),
                "after an agent's 60 ms: %s / %s" % (_entry(e, a, b), _entry(e, b, a)))

        # faster than light in fibre between two located regions is refused
        r = e.c.patch("/v1/regions/" + a, {"lat": FRANKFURT[0], "lon": FRANKFURT[1]}, token=e.admin)
        c.check(r.status == 200, "PATCH coordinates: %s" % r.short())
        r = _poll(e, tok, rtts=[{"region": far, "rtt_ms": "20"}])  # Frankfurt - Singapore: > 100 ms in fibre
        c.check(r.status == 200 and _got(e, a, far)[0] == "estimated" and _got(e, far, a)[0] == "estimated",
                "an impossible RTT: %s %s" % (r.short(), _entry(e, a, far)))
        r = _poll(e, tok, rtts=[{"region": far, "rtt_ms": "170"}])
        c.check(r.status == 200 and _got(e, a, far) == ("measured", "agent", "170.000"),
                "a possible one: %s %s" % (r.short(), _entry(e, a, far)))

        # bad input: a clear 4xx, nothing recorded
        before = e.q("SELECT from_region, to_region, rtt_us, measured_by FROM region_latency ORDER BY 1, 2")
        for kw, status, name, field in [
                ({"region": far, "rtts": [{"region": b, "rtt_ms": 1}]}, 422, "unknown_reference", "region"),
                ({"rtts": [{"region": "nowhere-" + HOME, "rtt_ms": 1}]}, 422, "unknown_reference", "rtts[0].region"),
                ({"rtts": [{"region": b, "rtt_ms": -1}]}, 400, "invalid_value", "rtts[0].rtt_ms"),
                ({"rtts": [{"region": b}]}, 400, "missing_field", "rtts[0].rtt_ms"),
                ({"rtts": [{"region": b, "rtt_ms": 1, "via": "x"}]}, 400, "unknown_field", "rtts[0].via"),
                ({"rtts": {"region": b}}, 400, "wrong_type", "rtts"),
                ({"rtts": [{"region": b, "rtt_ms": 1}] * 65}, 400, "invalid_value", "rtts"),
                ({"region": 7}, 400, "wrong_type", "region")]:
            r = _poll(e, tok, **kw)
            p = error_problems(r, status, name, field)
            c.check(not p, "poll %s: %s" % (str(kw)[:80], p))
        after = e.q("SELECT from_region, to_region, rtt_us, measured_by FROM region_latency ORDER BY 1, 2")
        c.check(before == after, "bad polls changed the matrix: %s -> %s" % (before, after))

        # the real agent: its region, and a probe endpoint of another region (this exchange)
        probe = e.region()
        rc, ag = agent_once(e, "rtt-2", tok, pools=[pool["id"]],
                            extra=["--region", a, "--probe", "%s=http://127.0.0.1:%d/" % (probe, e.server.port)])
        x, y = _entry(e, a, probe), _entry(e, probe, a)
        c.check(rc == 0 and x.get("measured_by") == "agent" and 0 < float(x.get("rtt_ms") or 0) < 1000
                and y.get("rtt_ms") == x.get("rtt_ms"),
                "suanli-agent --probe: exit %s, %s / %s\n%s" % (rc, x, y, ag.text()[-800:]))
        r = e.c.get("/v1/market/book?verify=true", token=e.admin)
        c.check(r.status == 200 and r.json.get("agrees") is True, "book verify: %s" % r.short())
    c.done()


def test_agent_slurm_heartbeats_without_and_with_slurm():
    c = Collector()
    with PrivateEnv("agenthb") as e:
        region = e.region()
        prov = e.account("provider")
        tok = e.token(prov["id"], scopes=["agent", "heartbeat", "read"])["token"]
        pool = e.pool(prov["token"], region, gpu_count=16, gpus_per_node=8, adapter=AGENT_SLURM)
        # no scontrol to run (a head node whose Slurm tools are gone): the heartbeat still goes,
        # with no healthy GPU, and the agent says why
        empty = tempfile.mkdtemp(prefix="no-slurm-")
        rc, a = agent_once(e, "head-1", tok, pools=[pool["id"]], extra=["--heartbeat", "1", "--partition", "gpu"],
                           env={"PATH": empty})
        h = e.c.get("/v1/pools/%d" % pool["id"], token=prov["token"]).json["health"]
        c.check(rc == 0 and h["last_heartbeat_at"] and h["healthy_gpus"] == 0 and h["state"] == "down"
                and "Slurm cannot be read" in a.text(), "without Slurm: exit %s %s\n%s" % (rc, h, a.text()[-600:]))
        # the real cluster (4 nodes x 8 GPUs in partition gpu): its usable GPUs, capped at the pool's 16
        if os.environ.get("SLURM_CONF"):
            rc, a = agent_once(e, "head-1", tok, pools=[pool["id"]], extra=["--heartbeat", "1", "--partition", "gpu"])
            h = e.c.get("/v1/pools/%d" % pool["id"], token=prov["token"]).json["health"]
            c.check(rc == 0 and h["healthy_gpus"] == 16 and h["state"] == "healthy",
                    "with Slurm: exit %s %s\n%s" % (rc, h, a.text()[-600:]))
            rc, a = agent_once(e, "head-1", tok, pools=[pool["id"]],
                               extra=["--heartbeat", "1", "--partition", "no-such-partition"])
            h = e.c.get("/v1/pools/%d" % pool["id"], token=prov["token"]).json["health"]
            c.check(rc == 0 and h["healthy_gpus"] == 0, "a partition with no nodes: %s" % h)
    c.done()


def test_attempts_are_kept_for_their_retention_only():
    c = Collector()
    with PrivateEnv("attret", extra_env={"SUANLI_ATTEMPTS_RETENTION_H": "1"}) as e:
        region, prov, ten, pool = _market(e, AGENT_HOST, gpus=8)
        tok = e.token(prov["id"], scopes=["agent"])["token"]
        trades = [_buy(e, ten["token"], region, 8, 1, hour(2 + 2 * i)) for i in range(2)]
        rc, a = agent_once(e, "ret-1", tok, pools=[pool["id"]])
        rows = e.q("SELECT id, reservation_id FROM dispatch_attempts ORDER BY id")
        check(rc == 0 and len(rows) == 2, "two attempts after the agent's round: %s\n%s" % (rows, a.text()[-600:]))
        old = rows[0][0]
        e.q("UPDATE dispatch_attempts SET at = at - interval '2 hours' WHERE id = %s" % old)
        # a fresh process reaps at once (then at most once a minute)
        e.server.stop()
        e.server.restart()
        gone = wait_for(lambda: e.q1("SELECT count(*) FROM dispatch_attempts WHERE id = %s" % old) == "0", 20)
        left = e.q("SELECT id FROM dispatch_attempts ORDER BY id")
        c.check(gone and left == [[rows[1][0]]], "after the reaper: %s (the old one was %s)" % (left, old))
        ev = [_events(e, t["id"], ten["token"]) for t in trades]
        c.check(not ev[0]["attempts"] and len(ev[1]["attempts"]) == 1,
                "events: %s / %s" % (ev[0].get("attempts"), ev[1].get("attempts")))
        c.check("dispatch attempts reaped" in e.server.log_text(), "the reaper logs what it deleted")
    c.done()
