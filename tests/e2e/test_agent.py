"""The agent adapter (issue 13): pools whose reservations the provider's own suanli-agent pulls
from the exchange (POST /v1/agent/work, leased) and reports (POST /v1/agent/work/{id}/result),
with the agent's Slurm mode run against the real Slurm cluster of deploy/slurm.sh.

Each test runs on a database of its own with a suanlid of its own (dispatch_util.PrivateEnv),
and runs the real `suanli-agent` binary (next to the server binary: tools/suanli-agent/).

  * host mode (no Slurm): the dispatcher never calls out for an agent pool (its job waits for a
    lease); the agent, with a token scoped to the agent routes, reserves on its host, seals the
    tenant's access details (opened by `suanli access`), reports; both parties read the attempts
    in GET /v1/trades/{id}/events; a cancellation is carried out; a terminal failure is refunded
    and counted on the pool (reset by a success); GET /v1/agents shows the provider its agent.
    Bad input on the new routes (someone else's work, replayed and stale results, wrong types,
    other people's pools, an unknown adapter configuration) is a clear 4xx that changes nothing.
  * Slurm (skipped only without SLURM_CONF): a trade becomes `suanli-res-<id>` visible with
    `scontrol show reservation`, a cancellation deletes it; an agent killed after doing the work
    but before reporting, and one killed (SIGKILL) between lease and work, have their lease
    handed out again and the work is done once; after N (adapter_failure_limit) terminal
    failures in a row the pool goes offline with the cause on the pool, and its future trade
    fails over.
  * visibility: a wrong token (the agent exits 3, its status file says unauthorized), an
    exchange that went away and came back (the agent's note in GET /v1/agents), and work no
    agent took before its deadline (failed and refunded with that cause, in the events).
"""
import json
import os
import re
import signal
import subprocess
import tempfile
import time

import harness
from harness import Collector, Failed, Skip, check, error_problems, hour
from dispatch_util import PrivateEnv, wait_for
from market_util import minor

# run.py --shards: run these tests alone, after the shards (timing-sensitive: reads and a wake-up
# within 3 s while long polls wait)
E2E_ALONE = ("test_agent_long_poll_holds_no_thread_or_connection",)
# and the rest in the shard of the other modules that use the Slurm test cluster
E2E_GROUP = "slurm"

FUNDS = "10000.00"
AGENT_HOST = {"kind": "agent", "config": {"mode": "host"}}
AGENT_SLURM = {"kind": "agent", "config": {"mode": "slurm", "partition": "gpu"}}


def agent_bin():
    return harness.tool_binary("SUANLI_AGENT", "suanli-agent", "suanli-agent")


def cli_bin():
    return harness.tool_binary("SUANLI_CLI", "suanli", "suanli")


class Agent:
    """A suanli-agent process (run ...), its log and status file in the run's output folder."""

    def __init__(self, e, name, token, pools=(), url=None, extra=(), env=None, once=False, wait=2, lease=10):
        self.dir = tempfile.mkdtemp(prefix="agent-%s-" % name, dir=harness.out_dir())
        self.status_path = os.path.join(self.dir, "status.json")
        self.log_path = os.path.join(self.dir, "agent.log")
        args = [agent_bin(), "run", "--name", name, "--url", url or "http://127.0.0.1:%d" % e.server.port,
                "--state-dir", self.dir, "--status-file", self.status_path, "--wait", str(wait),
                "--lease", str(lease)]
        for p in pools:
            args += ["--pool", str(p)]
        if once:
            args.append("--once")
        args += list(extra)
        en = dict(os.environ, SUANLI_TOKEN=token)
        en.pop("SUANLI_STALL_AT", None)
        en.pop("SUANLI_CRASH_AT", None)
        en.update(env or {})
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=en)

    def wait(self, timeout=60):
        try:
            return self.proc.wait(timeout)
        finally:
            self.log.flush()

    def stop(self):
        """SIGTERM; returns the exit status (0 expected)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait(10)

    def status(self):
        try:
            with open(self.status_path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def text(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


def agent_once(e, name, token, pools=(), extra=(), env=None):
    a = Agent(e, name, token, pools=pools, extra=extra, env=env, once=True, wait=0)
    rc = a.wait(90)
    return rc, a


def _buy(e, token, region, gpus, hours, start):
    r = e.c.post("/v1/orders", {"gpus": gpus, "duration_hours": hours, "earliest_start": start,
                                "regions": [region]}, token=token)
    check(r.status == 201 and r.json.get("state") == "filled" and len(r.json.get("trades") or []) == 1,
          "order of %d GPUs: %s" % (gpus, r.short()))
    return r.json["trades"][0]


def _slurm_trade(e, ten, region, gpus, hours, start):
    """A trade on the region's agent pool: (trade id, reservation id, its Slurm name)."""
    tr = _buy(e, ten["token"], region, gpus, hours, start)
    return tr["id"], tr["reservation"]["id"], "suanli-res-%d" % tr["reservation"]["id"]


def _events(e, tid, token):
    r = e.c.get("/v1/trades/%d/events" % tid, token=token)
    check(r.status == 200, "GET /v1/trades/%d/events: %s" % (tid, r.short()))
    return r.json


def _job(e, rid, action="reserve"):
    rows = e.q("SELECT id, state, attempts, leased_by, last_error FROM dispatch_jobs"
               " WHERE reservation_id = %d AND action = '%s'" % (rid, action))
    return rows[0] if rows else None


def _agent_pool(e, token, region, adapter, gpus=16, per_node=8):
    pool = e.pool(token, region, gpu_count=gpus, gpus_per_node=per_node, price_per_gpu_hour="2.00",
                  adapter=adapter)
    r = e.c.post("/v1/pools/%d/heartbeat" % pool["id"], {"healthy_gpus": gpus, "utilization_bp": 0}, token=token)
    check(r.status == 200, "heartbeat: %s" % r.short())
    return pool


def _market(e, adapter, gpus, per_node=8, slurm=False):
    """A region, a provider with one agent pool there, a funded tenant: (region, provider,
    tenant, pool).  slurm: ids moved out of the way of other runs on the shared cluster."""
    if slurm:
        _need_slurm()
        e.bump_ids()
    region = e.region()
    prov, ten = e.account("provider"), e.account("tenant")
    e.deposit(ten["id"], FUNDS)
    return region, prov, ten, _agent_pool(e, prov["token"], region, adapter, gpus=gpus, per_node=per_node)


def _fingerprint(e):
    return e.q("SELECT (SELECT md5(string_agg(j::text, ',' ORDER BY id)) FROM dispatch_jobs j),"
               " (SELECT count(*) FROM dispatch_attempts), (SELECT md5(string_agg(r::text, ',' ORDER BY id))"
               " FROM reservations r), (SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM trades t),"
               " (SELECT count(*) FROM reservation_access), (SELECT md5(string_agg(p::text, ',' ORDER BY id))"
               " FROM pools p)")


def _need_slurm():
    if not os.environ.get("SLURM_CONF"):
        raise Skip("SLURM_CONF is not set: no Slurm test cluster (eval \"$(deploy/slurm.sh start)\")")


def _scontrol_show(name):
    p = subprocess.run(["scontrol", "-o", "show", "reservation", name], capture_output=True, text=True,
                       timeout=30, env=dict(os.environ, TZ="UTC"))
    text = (p.stdout + p.stderr).strip()
    fields = dict(re.findall(r"(\w+)=(\S*)", p.stdout)) if p.returncode == 0 else {}
    return p.returncode, fields, text


# ---------------------------------------------------------------- host mode and bad input

def test_agent_host_mode_events_and_bad_input():
    c = Collector()
    with PrivateEnv("agenthost") as e:
        region = e.region()
        prov, other, ten = e.account("provider"), e.account("provider"), e.account("tenant")
        e.deposit(ten["id"], FUNDS)
        # adapter configurations checked at registration
        for cfg, status, name, field in (
                ({"mode": "slurm"}, 400, "missing_field", "adapter.config.partition"),
                ({"mode": "host", "partition": "gpu"}, 400, "invalid_value", "adapter.config.partition"),
                ({"mode": "k8s"}, 400, "invalid_value", "adapter.config.mode"),
                ({"mode": "slurm", "partition": "gpu;rm"}, 400, "invalid_value", "adapter.config.partition"),
                ({"queue": "x"}, 400, "unknown_field", "adapter.config.queue")):
            r = e.c.post("/v1/pools", e.pool_body(region, adapter={"kind": "agent", "config": cfg}), token=prov["token"])
            p = error_problems(r, status, name, field)
            c.check(not p, "agent config %s: %s (%s)" % (cfg, p, r.short()))
        pool = _agent_pool(e, prov["token"], region, AGENT_HOST, gpus=8, per_node=8)
        opool = _agent_pool(e, other["token"], e.region(), AGENT_HOST, gpus=8, per_node=8)
        agent_tok = e.token(prov["id"], scopes=["agent"])["token"]
        # the tenant's access key, made and registered by the suanli client
        cfg_dir = tempfile.mkdtemp(prefix="tenant-cli-", dir=harness.out_dir())
        cli_env = dict(os.environ, SUANLI_URL="http://127.0.0.1:%d" % e.server.port, SUANLI_TOKEN=ten["token"],
                       SUANLI_CONFIG_DIR=cfg_dir)
        k = subprocess.run([cli_bin(), "keygen"], capture_output=True, text=True, env=cli_env, timeout=30)
        check(k.returncode == 0, "suanli keygen: %s %s" % (k.stdout, k.stderr))

        tr = _buy(e, ten["token"], region, 4, 2, hour(3))
        tid, rid = tr["id"], tr["reservation"]["id"]
        time.sleep(2)  # the dispatcher runs every 200 ms here: it must leave the job alone
        job = _job(e, rid)
        c.check(job and job[1] == "queued" and job[2] == "0",
                "an agent pool's reserve job must wait for its agent, not be dispatched: %s" % job)
        ev = _events(e, tid, ten["token"])
        c.check(ev["reservation_state"] == "pending" and ev["attempts"] == [] and
                [j["state"] for j in ev["jobs"]] == ["queued"], "events before the agent: %s" % ev)

        # the agent (token scoped to the agent routes) takes the work once and reports it
        rc, a = agent_once(e, "a1", agent_tok, extra=["--gpus", "8", "--access-host", "login.example",
                                                       "--access-user", "alice"])
        check(rc == 0, "suanli-agent run --once: exit %s\n%s" % (rc, a.text()[-2000:]))
        t = e.trade(tid)
        c.check(t["reservation"]["state"] == "dispatched" and t["reservation"]["external_ref"] == "host-res-%d" % rid,
                "after the agent: reservation %s" % t["reservation"])
        for who in (ten, prov):
            ev = _events(e, tid, who["token"])
            att = [(x["action"], x["attempt"], x["outcome"], x["by"]) for x in ev["attempts"]]
            c.check(att == [("reserve", 1, "ok", "agent a1")], "%s sees attempts %s" % (who["kind"], ev["attempts"]))
            c.check(ev["jobs"][0]["state"] == "done" and ev["jobs"][0]["leased_by"] == "agent a1",
                    "jobs %s" % ev["jobs"])
        r = e.c.get("/v1/trades/%d/events" % tid, token=other["token"])
        c.check(r.status == 404, "another provider reads the events: %s" % r.short())
        with open(os.path.join(a.dir, "host-reservations.json")) as f:
            held = json.load(f)
        c.check(held.get(str(rid), {}).get("state") == "reserved" and held[str(rid)].get("gpus") == 4,
                "the host's record: %s" % held)
        # the access details: sealed on the provider's side, opened by the tenant only
        acc = e.c.get("/v1/trades/%d/access" % tid, token=ten["token"])
        c.check(acc.status == 200 and acc.json.get("source") == "agent", "access: %s" % acc.short())
        o = subprocess.run([cli_bin(), "access", str(tid), "--json"], capture_output=True, text=True, env=cli_env,
                           timeout=30)
        c.check(o.returncode == 0 and "login.example" in o.stdout and "alice" in o.stdout,
                "suanli access: %s %s" % (o.stdout, o.stderr))
        c.check("login.example" not in e.q1("SELECT encode(sealed, 'escape') FROM reservation_access"),
                "the exchange stores the access details in clear")
        # the provider sees its agent; others do not
        r = e.c.get("/v1/agents", token=prov["token"])
        names = [x["name"] for x in r.json.get("items", [])] if r.status == 200 else []
        c.check(names == ["a1"] and r.json["items"][0]["polls"] >= 1 and r.json["items"][0]["rtt_ms"] is not None,
                "GET /v1/agents: %s" % r.short())
        r = e.c.get("/v1/agents", token=other["token"])
        c.check(r.status == 200 and r.json["items"] == [], "another provider's agents: %s" % r.short())
        r = e.c.get("/v1/agents", token=ten["token"])
        c.check(not error_problems(r, 403, "forbidden"), "a tenant reads agents: %s" % r.short())

        # ---- bad input on the agent routes: clear 4xx, nothing changed
        before = _fingerprint(e)
        jid = int(job[0])
        res_path = "/v1/agent/work/%d/result" % jid
        cases = [
            ("tenant polls", "POST", "/v1/agent/work", {"agent": "x"}, ten["token"], None, 403, "forbidden", None),
            ("no token", "POST", "/v1/agent/work", {"agent": "x"}, None, None, 401, "unauthenticated", None),
            ("no agent", "POST", "/v1/agent/work", {}, prov["token"], None, 400, "missing_field", "agent"),
            ("bad name", "POST", "/v1/agent/work", {"agent": "a b"}, prov["token"], None, 400, "invalid_value", "agent"),
            ("wait type", "POST", "/v1/agent/work", {"agent": "a", "wait_s": "5"}, prov["token"], None, 400,
             "wrong_type", "wait_s"),
            ("wait range", "POST", "/v1/agent/work", {"agent": "a", "wait_s": 99}, prov["token"], None, 400,
             "invalid_value", "wait_s"),
            ("lease range", "POST", "/v1/agent/work", {"agent": "a", "lease_s": 5}, prov["token"], None, 400,
             "invalid_value", "lease_s"),
            ("pool type", "POST", "/v1/agent/work", {"agent": "a", "pools": ["x"]}, prov["token"], None, 400,
             "wrong_type", "pools[0]"),
            ("other's pool", "POST", "/v1/agent/work", {"agent": "a", "pools": [pool["id"], opool["id"]]},
             prov["token"], None, 422, "unknown_reference", "pools[1]"),
            ("unknown field", "POST", "/v1/agent/work", {"agent": "a", "queue": 1}, prov["token"], None, 400,
             "unknown_field", "queue"),
            ("no key", "POST", res_path, {"lease": 1, "outcome": "ok"}, prov["token"], None, 400,
             "idempotency_key_required", "Idempotency-Key"),
            ("someone else's work", "POST", res_path, {"lease": 1, "outcome": "terminal", "error": "x"},
             other["token"], "k1", 404, "not_found", "id"),
            ("no such work", "POST", "/v1/agent/work/999999/result", {"lease": 1, "outcome": "ok"}, prov["token"],
             "k2", 404, "not_found", "id"),
            ("bad id", "POST", "/v1/agent/work/x1/result", {"lease": 1, "outcome": "ok"}, prov["token"], "k3", 400,
             "bad_path_id", "id"),
            ("lease type", "POST", res_path, {"lease": "1", "outcome": "ok"}, prov["token"], "k4", 400,
             "wrong_type", "lease"),
            ("outcome", "POST", res_path, {"lease": 1, "outcome": "maybe"}, prov["token"], "k5", 400,
             "invalid_value", "outcome"),
            ("retry without error", "POST", res_path, {"lease": 1, "outcome": "retry"}, prov["token"], "k6", 400,
             "missing_field", "error"),
            ("ref on a failure", "POST", res_path, {"lease": 1, "outcome": "terminal", "error": "x", "ref": "r"},
             prov["token"], "k7", 400, "invalid_value", "ref"),
            ("replayed result, new key", "POST", res_path, {"lease": 1, "outcome": "terminal", "error": "late"},
             prov["token"], "k8", 409, "conflict", "lease"),
            ("stale lease", "POST", res_path, {"lease": 7, "outcome": "ok"}, prov["token"], "k9", 409,
             "conflict", "lease"),
            ("agent scope only", "GET", "/v1/pools", None, agent_tok, None, 403, "forbidden", "Authorization"),
        ]
        for label, method, path, body, token, key, status, name, field in cases:
            r = e.c.req(method, path, body=body, token=token, headers={"Idempotency-Key": key})
            p = error_problems(r, status, name, field)
            c.check(not p, "%s: %s (%s)" % (label, p, r.short()))
        c.check(_fingerprint(e) == before, "refused requests changed the dispatch state")

        # leasing by hand: a result replayed with its key gets the first reply and changes
        # nothing; the same result under a new key is refused
        tm = _buy(e, ten["token"], region, 1, 1, hour(9))
        r = e.c.post("/v1/agent/work", {"agent": "manual", "pools": [pool["id"]], "lease_s": 60}, token=agent_tok)
        items = r.json.get("items") if r.status == 200 else None
        check(items and len(items) == 1 and items[0]["reservation_id"] == tm["reservation"]["id"],
              "manual lease: %s" % r.short())
        w = items[0]
        c.check(w["action"] == "reserve" and w["lease"] == 1 and w["gpus"] == 1 and w["nodes"] == 1 and
                w["config"] == {"mode": "host"} and w["start"] == tm["start"] and w["end"] == tm["end"] and
                len(w["tenant_access_key"] or "") == 64, "the work item: %s" % w)
        body = {"lease": 1, "outcome": "ok", "ref": "by-hand"}
        r1 = e.c.post("/v1/agent/work/%d/result" % w["id"], body, token=agent_tok, headers={"Idempotency-Key": "m1"})
        c.check(r1.status == 200 and r1.json.get("state") == "done", "manual result: %s" % r1.short())
        after = _fingerprint(e)
        r2 = e.c.post("/v1/agent/work/%d/result" % w["id"], body, token=agent_tok, headers={"Idempotency-Key": "m1"})
        c.check(r2.status == 200 and r2.headers.get("idempotent-replayed") == "true" and r2.raw == r1.raw,
                "the same result replayed: %s" % r2.short())
        r3 = e.c.post("/v1/agent/work/%d/result" % w["id"], body, token=agent_tok, headers={"Idempotency-Key": "m2"})
        c.check(not error_problems(r3, 409, "conflict", "lease"), "the same result, new key: %s" % r3.short())
        c.check(_fingerprint(e) == after, "replayed results changed the dispatch state")
        c.check(e.trade(tm["id"])["reservation"]["external_ref"] == "by-hand", "external_ref of the manual result")

        # a cancellation is carried out by the agent
        r = e.c.post("/v1/trades/%d/cancel" % tid, {}, token=ten["token"], headers={"Idempotency-Key": harness.uniq("c")})
        check(r.status == 200, "cancel: %s" % r.short())
        rc, a2 = agent_once(e, "a1", agent_tok, extra=["--state-dir", a.dir, "--gpus", "8"])
        c.check(rc == 0, "agent after the cancel: exit %s %s" % (rc, a2.text()[-1500:]))
        with open(os.path.join(a.dir, "host-reservations.json")) as f:
            held = json.load(f)
        c.check(held.get(str(rid), {}).get("state") == "cancelled", "after the cancel, the host holds %s" % held)
        c.check((_job(e, rid, "cancel") or [0, ""])[1] == "done", "cancel job %s" % _job(e, rid, "cancel"))

        # a terminal failure: refunded, counted on the pool; a success resets the count
        before_bal = e.balances(ten["id"])
        t1 = _buy(e, ten["token"], region, 8, 1, hour(5))  # the pool sells 8; the host has 4
        t2 = _buy(e, ten["token"], region, 8, 1, hour(6))
        rc, a3 = agent_once(e, "a1", agent_tok, extra=["--gpus", "4"])
        t1, t2 = e.trade(t1["id"]), e.trade(t2["id"])
        c.check(t1["state"] == "failed" and t2["state"] == "failed", "8 GPUs on a 4-GPU host: %s / %s"
                % (t1["state"], t2["state"]))
        c.check(t1["refunded"] == t1["total"], "refund %s of %s" % (t1["refunded"], t1["total"]))
        ev = _events(e, t1["id"], ten["token"])
        c.check(any(x["outcome"] == "terminal" and "not enough GPUs" in x["error"] for x in ev["attempts"]) and
                any("not enough GPUs" in x["cause"] for x in ev["events"] if x["to"] == "failed"),
                "the terminal attempt and its cause: %s" % ev)
        pl = e.c.get("/v1/pools/%d" % pool["id"], token=prov["token"]).json
        c.check(pl["adapter_failures"] == 2 and pl["status"] == "active" and pl["status_cause"] == "",
                "pool after 2 terminal failures (limit 3): %s %s %r" % (pl["adapter_failures"], pl["status"],
                                                                          pl["status_cause"]))
        b = e.balances(ten["id"])
        c.check(b["available"] == before_bal["available"] and b["escrow"] == before_bal["escrow"],
                "balances after the refunds %s, before %s" % (b, before_bal))
        _buy(e, ten["token"], region, 2, 1, hour(7))
        rc, a4 = agent_once(e, "a1", agent_tok, extra=["--gpus", "4"])
        pl = e.c.get("/v1/pools/%d" % pool["id"], token=prov["token"]).json
        c.check(pl["adapter_failures"] == 0, "a success resets the count: %s" % pl["adapter_failures"])
        # the setting
        r = e.c.put("/v1/exchange/settings", {"adapter_failure_limit": 0}, token=e.admin)
        c.check(not error_problems(r, 400, "invalid_value", "adapter_failure_limit"), "limit 0: %s" % r.short())
        r = e.c.get("/v1/exchange/settings", token=ten["token"])
        c.check(r.json.get("adapter_failure_limit") == 3, "default limit: %s" % r.short())
    c.done()


def test_agent_access_key_changed_during_the_work():
    """Access details sealed to a key the tenant replaced while the agent worked are refused
    (422 naming sealed_to: the tenant could not open them); the agent reports the outcome
    without them and the reservation is dispatched all the same."""
    c = Collector()
    with PrivateEnv("agentkey") as e:
        region, prov, ten, pool = _market(e, AGENT_HOST, 8)
        r = e.c.put("/v1/me/access-key", {"public_key": "ab" * 32}, token=ten["token"])
        check(r.status == 200, "access key: %s" % r.short())
        tr = _buy(e, ten["token"], region, 2, 1, hour(3))
        a = Agent(e, "k1", prov["token"], once=True, wait=0, env={"SUANLI_STALL_AT": "agent_worked:4000"},
                  extra=["--access-host", "login.example"])
        c.check(wait_for(lambda: "stall point reached" in a.text(), 20), "the agent never stalled: %s" % a.text())
        r = e.c.put("/v1/me/access-key", {"public_key": "cd" * 32}, token=ten["token"])
        check(r.status == 200, "new access key: %s" % r.short())
        rc = a.wait(60)
        t = e.trade(tr["id"])
        c.check(rc == 0 and t["reservation"]["state"] == "dispatched", "after the report: exit %s %s\n%s"
                % (rc, t["reservation"], a.text()[-1500:]))
        c.check("access details refused" in a.text() and "registered access key" in a.text(), "the agent's log: %s"
                % a.text()[-1500:])
        r = e.c.get("/v1/trades/%d/access" % tr["id"], token=ten["token"])
        c.check(r.status == 404 or not r.json.get("sealed"), "details sealed to the old key were stored: %s"
                % r.short())
    c.done()


# ---------------------------------------------------------------- Slurm

def test_agent_slurm_reserve_and_cancel():
    _need_slurm()
    c = Collector()
    with PrivateEnv("agentslurm") as e:
        region, prov, ten, pool = _market(e, AGENT_SLURM, 32, slurm=True)
        start = hour(51)
        tid, rid, name = _slurm_trade(e, ten, region, 12, 2, start)
        a = Agent(e, "slurm-1", prov["token"], pools=[pool["id"]], extra=["--login-node", "gpu1"])
        try:
            t = e.wait_res(tid, ("dispatched", "failed"), timeout=40)
            c.check(t["reservation"]["state"] == "dispatched" and t["reservation"]["external_ref"] == name,
                    "reservation %s\nagent: %s" % (t["reservation"], a.text()[-2000:]))
            rc, f, text = _scontrol_show(name)
            c.check(rc == 0 and f.get("NodeCnt") == "2" and f.get("StartTime") == start[:-1] and
                    f.get("Duration") == "02:00:00" and f.get("PartitionName") == "gpu",
                    "scontrol show reservation %s: %s" % (name, text))
            r = e.c.post("/v1/trades/%d/cancel" % tid, {}, token=ten["token"],
                         headers={"Idempotency-Key": harness.uniq("c")})
            check(r.status == 200, "cancel: %s" % r.short())
            gone = wait_for(lambda: _scontrol_show(name)[0] != 0, 40, 0.3)
            c.check(gone, "%s is still on Slurm after the cancellation: %s" % (name, _scontrol_show(name)[2]))
            c.check(wait_for(lambda: (_job(e, rid, "cancel") or [0, ""])[1] == "done", 20),
                    "cancel job %s" % _job(e, rid, "cancel"))
            ev = _events(e, tid, prov["token"])
            c.check([(x["action"], x["outcome"]) for x in ev["attempts"]] == [("reserve", "ok"), ("cancel", "ok")],
                    "attempts %s" % ev["attempts"])
        finally:
            rc = a.stop()
        c.check(rc == 0 and a.status().get("state") == "stopped", "agent stop: exit %s status %s" % (rc, a.status()))
    c.done()


def test_agent_killed_mid_work_lease_handed_out_again():
    _need_slurm()
    c = Collector()
    with PrivateEnv("agentkill") as e:
        region, prov, ten, pool = _market(e, AGENT_SLURM, 32, slurm=True)
        # (a) the agent does the work on Slurm, then dies before reporting it
        tid, rid, name = _slurm_trade(e, ten, region, 16, 1, hour(53))
        a = Agent(e, "dies", prov["token"], pools=[pool["id"]], env={"SUANLI_CRASH_AT": "agent_worked"}, lease=10)
        rc = a.wait(60)
        c.check(rc == 137, "the crashing agent exited %s:\n%s" % (rc, a.text()[-1500:]))
        job = _job(e, rid)
        c.check(job[1] == "running" and job[2] == "1" and job[3] == "agent dies", "job after the crash: %s" % job)
        rc0, f0, text0 = _scontrol_show(name)
        c.check(rc0 == 0 and f0.get("NodeCnt") == "2", "the dead agent's Slurm reservation: %s" % text0)
        c.check(e.trade(tid)["reservation"]["state"] == "pending", "no result was reported")
        b = Agent(e, "heir", prov["token"], pools=[pool["id"]], lease=10)
        try:
            t = e.wait_res(tid, ("dispatched", "failed"), timeout=45)
            c.check(t["reservation"]["state"] == "dispatched", "after the lease ran out: %s\n%s"
                    % (t["reservation"], b.text()[-1500:]))
            rc1, f1, text1 = _scontrol_show(name)
            c.check(rc1 == 0 and f1.get("NodeCnt") == "2" and f1.get("StartTime") == f0.get("StartTime"),
                    "one reservation, as the first agent made it: %s" % text1)
            att = [(x["attempt"], x["outcome"], x["by"]) for x in _events(e, tid, ten["token"])["attempts"]]
            c.check(att == [(1, "lease_expired", "agent dies"), (2, "ok", "agent heir")], "attempts %s" % att)
            c.check([ev["to"] for ev in t["reservation"]["events"]].count("dispatched") == 1,
                    "dispatched once: %s" % t["reservation"]["events"])
            # the dead agent's lease, reported late: refused, nothing changed
            before = _fingerprint(e)
            r = e.c.post("/v1/agent/work/%s/result" % job[0], {"lease": 1, "outcome": "ok"}, token=prov["token"],
                         headers={"Idempotency-Key": harness.uniq("late")})
            c.check(not error_problems(r, 409, "conflict", "lease"), "a late result of lease 1: %s" % r.short())
            c.check(_fingerprint(e) == before, "the late result changed something")

            # (b) killed for real (SIGKILL) between lease and work
            b.stop()
            tr2 = _buy(e, ten["token"], region, 8, 1, hour(55))
            rid2 = tr2["reservation"]["id"]
            k = Agent(e, "stalls", prov["token"], pools=[pool["id"]], env={"SUANLI_STALL_AT": "agent_leased:60000"},
                      lease=10)
            c.check(wait_for(lambda: (_job(e, rid2) or [0, "", "0"])[2] == "1", 30), "never leased: %s" % _job(e, rid2))
            k.kill()
            c.check(_scontrol_show("suanli-res-%d" % rid2)[0] != 0, "the killed agent did the work")
            b = Agent(e, "heir2", prov["token"], pools=[pool["id"]], lease=10)
            t2 = e.wait_res(tr2["id"], ("dispatched", "failed"), timeout=45)
            c.check(t2["reservation"]["state"] == "dispatched", "after SIGKILL: %s" % t2["reservation"])
            att = [(x["attempt"], x["outcome"], x["by"]) for x in _events(e, tr2["id"], prov["token"])["attempts"]]
            c.check(att == [(1, "lease_expired", "agent stalls"), (2, "ok", "agent heir2")], "attempts %s" % att)
            b.stop()
            for n in (name, "suanli-res-%d" % rid2):  # leave the shared cluster clean
                subprocess.run(["scontrol", "delete", "reservation", n], capture_output=True, timeout=30)
        finally:
            b.stop()
    c.done()


def test_agent_terminal_failures_set_pool_offline():
    _need_slurm()
    c = Collector()
    with PrivateEnv("agentfail") as e:
        # 80 GPUs in nodes of 8 = 10 nodes on paper; the Slurm cluster has 4
        region, prov, ten, pool = _market(e, AGENT_SLURM, 80, slurm=True)
        small = _buy(e, ten["token"], region, 8, 1, hour(60))
        a = Agent(e, "fails", prov["token"], pools=[pool["id"]])
        try:
            t = e.wait_res(small["id"], ("dispatched", "failed"), timeout=40)
            c.check(t["reservation"]["state"] == "dispatched", "the small trade: %s" % t["reservation"])
            limit = e.settings()["adapter_failure_limit"]
            big = [_buy(e, ten["token"], region, 40, 1, hour(62 + i)) for i in range(limit)]
            for b in big:
                tb = e.wait_res(b["id"], ("failed", "dispatched"), timeout=60)
                c.check(tb["state"] == "failed" and tb["refunded"] == tb["total"],
                        "40 GPUs on a 4-node cluster: %s %s" % (tb["state"], tb["reservation"]["events"]))
            pl = e.c.get("/v1/pools/%d" % pool["id"], token=prov["token"]).json
            c.check(pl["status"] == "offline" and pl["adapter_failures"] == limit and
                    ("%d times in a row" % limit) in pl["status_cause"] and "busy" in pl["status_cause"],
                    "after %d terminal failures: %s %s %r" % (limit, pl["status"], pl["adapter_failures"],
                                                             pl["status_cause"]))
            # its future trade fails over (no other pool here: failed and refunded), and the
            # agent removes its Slurm reservation
            ts = e.wait_res(small["id"], ("failed", "cancelled"), timeout=40)
            c.check(ts["state"] == "failed" and ts["refunded"] == ts["total"], "the small trade after the pool went"
                    " offline: %s refunded %s" % (ts["state"], ts["refunded"]))
            name = "suanli-res-%d" % small["reservation"]["id"]
            c.check(wait_for(lambda: _scontrol_show(name)[0] != 0, 40, 0.3), "%s stays on Slurm" % name)
            # the provider brings it back: count and cause cleared
            r = e.c.patch("/v1/pools/%d" % pool["id"], {"status": "active"}, token=prov["token"])
            c.check(r.status == 200 and r.json["adapter_failures"] == 0 and r.json["status_cause"] == "",
                    "active again: %s" % r.short())
        finally:
            a.stop()
    c.done()


# ---------------------------------------------------------------- what the provider sees

def test_agent_problems_visible_to_the_provider():
    c = Collector()
    with PrivateEnv("agentvis") as e:
        region, prov, ten, pool = _market(e, AGENT_HOST, 8)
        # a wrong token: the agent stops at once and says why
        rc, a = agent_once(e, "wrong", "sl_%s_%s" % ("0" * 32, "x" * 43), pools=[pool["id"]])
        c.check(rc == 3 and a.status().get("state") == "unauthorized" and "401" in a.status().get("last_error", ""),
                "a wrong token: exit %s status %s" % (rc, a.status()))
        c.check("refused the token" in a.text(), "the agent's log: %s" % a.text()[-800:])
        rc, a = agent_once(e, "tenant-token", ten["token"], pools=[pool["id"]])
        c.check(rc == 3 and a.status().get("state") == "forbidden", "a tenant's token: exit %s %s" % (rc, a.status()))
        r = e.c.get("/v1/agents", token=prov["token"])
        c.check(r.status == 200 and r.json["items"] == [], "no agent ever polled: %s" % r.short())

        # the exchange goes away and comes back: the agent tells the provider what it missed
        a = Agent(e, "steady", prov["token"], pools=[pool["id"]], wait=1)
        try:
            c.check(wait_for(lambda: a.status().get("state") == "polling", 20), "agent %s" % a.status())
            e.server.kill()
            c.check(wait_for(lambda: a.status().get("state") == "unreachable", 20),
                    "the agent never noticed the exchange was gone: %s" % a.status())
            c.check("/v1/agent/work" in a.status().get("last_error", ""), "status %s" % a.status())
            e.server.restart()
            note = lambda: [x["note"] for x in e.c.get("/v1/agents", token=prov["token"]).json["items"]
                            if x["name"] == "steady"]
            c.check(wait_for(lambda: any("unreachable from" in n for n in note()), 40),
                    "the agent's note after the outage: %s" % note())
        finally:
            c.check(a.stop() == 0, "agent exit")

        # work no agent takes before its deadline fails, refunded, with that cause
        tr = _buy(e, ten["token"], region, 2, 1, hour(4))
        rid = tr["reservation"]["id"]
        e.q("UPDATE dispatch_jobs SET deadline = now() - interval '1 second' WHERE reservation_id = %d" % rid)
        t = e.wait_res(tr["id"], ("failed",), timeout=20)
        c.check(t["state"] == "failed" and t["refunded"] == t["total"], "past the deadline: %s" % t["state"])
        ev = _events(e, tr["id"], prov["token"])
        c.check(any("agent did not carry it out before the deadline" in x["error"] for x in ev["attempts"]),
                "the cause in the events: %s" % ev["attempts"])
    c.done()


# ---------------------------------------------------------------- discovery, registration, heartbeats

FIXTURE = os.path.join(harness.ROOT, "tests", "agent", "fixtures", "nvidia-h100", "nvidia-smi-q.xml")


def _fixture_variant(tag, edit):
    """A copy of the real nvidia-smi output changed by edit(text) -> text; its path."""
    with open(FIXTURE) as f:
        text = edit(f.read())
    path = os.path.join(tempfile.mkdtemp(prefix="nvsmi-%s-" % tag, dir=harness.out_dir()), "q.xml")
    with open(path, "w") as f:
        f.write(text)
    return path


def _agent_cmd(e, token, *args):
    p = subprocess.run([agent_bin()] + list(args) + ["--url", "http://127.0.0.1:%d" % e.server.port],
                       capture_output=True, text=True, timeout=120, env=dict(os.environ, SUANLI_TOKEN=token))
    return p.returncode, p.stdout, p.stderr


def test_agent_discovers_registers_and_heartbeats():
    c = Collector()
    with PrivateEnv("agentdisc") as e:
        region = e.region()
        prov = e.account("provider")
        tok = e.token(prov["id"], scopes=["agent", "heartbeat", "pools", "read"])["token"]
        # discovery of the real H100 output, mapped to the catalog
        rc, out, err = _agent_cmd(e, tok, "discover", "--nvidia-smi-xml", FIXTURE)
        d = json.loads(out) if rc == 0 else {}
        g = (d.get("gpus") or [{}])[0]
        c.check(rc == 0 and d.get("count") == 1 and d.get("healthy") == 1 and g.get("accelerator") == "H100-SXM"
                and g.get("memory_mib") == 81559 and g.get("product") == "NVIDIA H100 80GB HBM3",
                "discover: exit %s %s %s" % (rc, out[:600], err[-300:]))
        # registration: a pool of this host's GPUs, served by its agent
        rc, out, err = _agent_cmd(e, tok, "register", "--name", "node-1", "--nvidia-smi-xml", FIXTURE,
                                  "--region", region, "--price", "3.00")
        check(rc == 0, "register: exit %s %s %s" % (rc, out, err))
        pool = json.loads(out)
        c.check((pool["accelerator"], pool["gpu_count"], pool["gpus_per_node"], pool["intra_node"],
                 pool["adapter"]) == ("H100-SXM", 1, 1, "nvlink", {"kind": "agent", "config": {"mode": "host"}}),
                "the registered pool: %s" % pool)
        # heartbeats with the healthy GPUs and their utilization
        rc, a = agent_once(e, "node-1", tok, pools=[pool["id"]],
                           extra=["--heartbeat", "1", "--nvidia-smi-xml", FIXTURE])
        h = e.c.get("/v1/pools/%d" % pool["id"], token=prov["token"]).json["health"]
        c.check(rc == 0 and h["healthy_gpus"] == 1 and h["utilization_bp"] == 0 and h["state"] == "healthy"
                and h["last_heartbeat_at"], "after a heartbeat: exit %s health %s\n%s" % (rc, h, a.text()[-800:]))
        # a GPU with uncorrectable ECC errors and 40 % busy is not sold as healthy
        sick = _fixture_variant("sick", lambda t: t.replace("<dram_uncorrectable>0", "<dram_uncorrectable>2", 1)
                                .replace("<gpu_util>0 %", "<gpu_util>40 %", 1))
        rc, a = agent_once(e, "node-1", tok, pools=[pool["id"]], extra=["--heartbeat", "1", "--nvidia-smi-xml", sick])
        h = e.c.get("/v1/pools/%d" % pool["id"], token=prov["token"]).json["health"]
        c.check(rc == 0 and h["healthy_gpus"] == 0 and h["utilization_bp"] == 4000 and h["state"] != "healthy",
                "a GPU with ECC errors: %s" % h)
        # an XID from the kernel log makes it unhealthy too
        xid = os.path.join(os.path.dirname(sick), "kern.log")
        with open(xid, "w") as f:
            f.write("NVRM: Xid (PCI:0000:00:06): 79, pid=1, GPU has fallen off the bus.\n")
        rc, out, err = _agent_cmd(e, tok, "discover", "--nvidia-smi-xml", FIXTURE, "--xid-log", xid)
        g = json.loads(out)["gpus"][0] if rc == 0 else {}
        c.check(g.get("healthy") is False and g.get("xid") == 79, "discover with an XID: %s" % out[:800])
        # two GPUs now: --pool updates the count
        two = _fixture_variant("two", lambda t: t.replace("<attached_gpus>1", "<attached_gpus>2", 1).replace(
            "</gpu>", "</gpu>\n" + t[t.index("\t<gpu id="):t.index("</gpu>")] + "</gpu>", 1))
        rc, out, err = _agent_cmd(e, tok, "register", "--name", "node-1", "--nvidia-smi-xml", two,
                                  "--pool", str(pool["id"]))
        c.check(rc == 0 and json.loads(out).get("gpu_count") == 2, "register --pool: %s %s %s" % (rc, out[:300], err))
        # an unknown model is reported, not registered; with --propose it is proposed to the
        # registry, and once an admin approves it the same command registers the pool
        odd = _fixture_variant("odd", lambda t: t.replace("NVIDIA H100 80GB HBM3", "NVIDIA GeForce GTX 1080 Ti")
                               .replace("<total>81559 MiB", "<total>11264 MiB", 1))
        reg = ["register", "--name", "n2", "--nvidia-smi-xml", odd, "--region", region, "--price", "1.00"]
        rc, out, err = _agent_cmd(e, tok, *reg)
        c.check(rc == 1 and "unknown model" in err and "GTX 1080 Ti" in err, "an unknown model: %s %s" % (rc, err))
        rc, out, err = _agent_cmd(e, tok, *(reg + ["--propose", "https://example.com/gtx-1080-ti.pdf"]))
        c.check(rc == 1 and "scopes do not allow POST /v1/accelerator-proposals" in err,
                "proposing needs the catalog scope: %s %s" % (rc, err))
        rc, out, err = _agent_cmd(e, prov["token"], *(reg + ["--propose", "https://example.com/gtx-1080-ti.pdf"]))
        prop = json.loads(out) if out.strip().startswith("{") else {}
        c.check(rc == 1 and "proposed GTX-1080-Ti" in err and prop.get("state") == "pending" and
                (prop.get("accelerator"), prop.get("model"), prop.get("vendor"), prop.get("memory_gb")) ==
                ("GTX-1080-Ti", "GTX 1080 Ti", "NVIDIA", 11), "the proposal: %s %s %s" % (rc, out[:500], err))
        if prop.get("id"):
            r = e.c.post("/v1/accelerator-proposals/%d/approve" % prop["id"], {}, token=e.admin)
            c.check(r.status == 200, "approve: %s" % r.short())
            rc, out, err = _agent_cmd(e, tok, *reg)
            c.check(rc == 0 and json.loads(out).get("accelerator") == "GTX-1080-Ti",
                    "register after the approval: %s %s %s" % (rc, out[:300], err))
        # truncated output is refused
        cut = _fixture_variant("cut", lambda t: t[:len(t) // 2])
        rc, out, err = _agent_cmd(e, tok, "discover", "--nvidia-smi-xml", cut)
        c.check(rc == 1 and re.search(r"line \d+: ", err), "truncated output: %s %s" % (rc, err))
        r = e.c.get("/v1/pools?owner=%d" % prov["id"], token=prov["token"])
        c.check(len(r.json["items"]) == 2, "pools: %s" % r.short())
    c.done()


# ---------------------------------------------------------------- the long poll

def test_agent_long_poll_holds_no_thread_or_connection():
    """With one HTTP thread (and so three database connections), four agents wait at once:
    the server keeps answering everyone else, a new trade's work reaches a waiting agent within
    a second, and a server told to stop answers the waiting polls and exits cleanly."""
    import threading
    c = Collector()
    with PrivateEnv("agentpoll", extra_env={"SUANLI_THREADS": "1"}) as e:
        region, prov, ten, _ = _market(e, AGENT_HOST, 8)
        got = {}

        def poll(i, wait_s):
            t0 = time.time()
            r = e.c.post("/v1/agent/work", {"agent": "w%d" % i, "wait_s": wait_s}, token=prov["token"], timeout=90)
            got[i] = (r.status, len((r.json or {}).get("items") or []), time.time() - t0)

        threads = [threading.Thread(target=poll, args=(i, 8)) for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        t0 = time.time()
        for _ in range(10):
            r = e.c.get("/v1/exchange/settings", token=ten["token"])
            c.check(r.status == 200, "a read while four polls wait: %s" % r.short())
        c.check(time.time() - t0 < 3, "ten reads took %.1fs while the polls waited" % (time.time() - t0))
        c.check(not got, "a poll returned before any work: %s" % got)
        t_buy = time.time()
        _buy(e, ten["token"], region, 1, 1, hour(3))
        deadline = time.time() + 5
        while time.time() < deadline and not any(v[1] for v in got.values()):
            time.sleep(0.05)
        took = [v for v in got.values() if v[1]]
        c.check(len(took) == 1 and time.time() - t_buy < 3, "the work reached %d waiting polls, %.1fs after the "
                "trade: %s" % (len(took), time.time() - t_buy, got))
        for t in threads:
            t.join(30)
        c.check(sorted(v[0] for v in got.values()) == [200] * 4 and sum(v[1] for v in got.values()) == 1,
                "the four polls: %s" % got)
        # a poll waiting when the server stops is answered, and the server exits cleanly
        th = threading.Thread(target=poll, args=(9, 40))
        th.start()
        time.sleep(1.0)
        t0 = time.time()
        e.server.stop()
        th.join(20)
        c.check(got.get(9, (0,))[0] == 200 and time.time() - t0 < 15, "a waiting poll at shutdown: %s after %.1fs"
                % (got.get(9), time.time() - t0))
        e.server.restart()
    c.done()
