"""Reads of closed periods and of the dashboard's figures from a read replica
(SUANLI_DATABASE_READ_URL; deploy/README.md, "Reads from replicas").

A closed period never changes, so its statements, export and region summary may be served by a
replica that has replayed the close; a server with no replica, or whose replica cannot be
reached, reads the primary.  Here the "replica" of one server is the test database itself (the
routing is what is tested; tests/cluster/failover.py reads a real Patroni replica), and the other
server's replica URL points at a closed port.  The body is the same wherever it was read: the
export's SHA-256 equals the digest signed when the period closed.
"""
import random

from harness import Collector, check, db_url, env
from market_util import PortServer, pick_ports

PATHS = ["/v1/periods/%d/export", "/v1/periods/%d/statements/0", "/v1/periods/%d/regions"]


def _closed_period(e):
    """Close a one-day period of its own, far in the past (empty periods close and sign too)."""
    rnd = random.Random()
    for _ in range(20):
        day = rnd.randint(0, 9000)
        start = 946684800 + day * 86400  # 2000-01-01 + day
        r = e.c.post("/v1/periods", {"start": _ts(start), "end": _ts(start + 86400)}, token=e.admin)
        if r.status == 201:
            return r.json
        check(r.status == 409, "closing a past day: %s" % r.short())
    raise AssertionError("no free day to close in 20 tries")


def _ts(t):
    import datetime
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_closed_period_reads_from_replica_or_primary():
    e = env()
    c = Collector()
    period = _closed_period(e)
    pid = period["id"]
    ports = pick_ports(2)
    servers = [(PortServer("replica-same", ports[0], extra_env={"SUANLI_DATABASE_READ_URL": db_url()}), "replica"),
               (PortServer("replica-dead", ports[1],
                           extra_env={"SUANLI_DATABASE_READ_URL": "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1"}),
                "primary")]
    try:
        for s, _ in servers:
            s.wait_ready()
        for client, want, name in [(servers[0][0].client, "replica", "a server with a replica"),
                                   (servers[1][0].client, "primary", "a server whose replica is unreachable"),
                                   (e.c, "primary", "a server with no replica")]:
            for path in PATHS:
                r = client.get(path % pid, token=e.admin)
                c.check(r.status == 200, "%s: GET %s: %s" % (name, path % pid, r.short()))
                c.check(r.headers.get("x-suanli-read-from") == want, "%s: GET %s read from %r, expected %r"
                        % (name, path % pid, r.headers.get("x-suanli-read-from"), want))
                if path.endswith("/export"):
                    c.check(r.headers.get("x-suanli-sha256") == period["export_sha256"],
                            "%s: the export's SHA-256 %s differs from the digest signed at the close %s"
                            % (name, r.headers.get("x-suanli-sha256"), period["export_sha256"]))
            # the dashboard's figures may lag by a moment: read where a replica answers
            for path in ("/v1/stats/regions", "/v1/market/last"):
                r = client.get(path, token=e.admin)
                c.check(r.status == 200 and r.headers.get("x-suanli-read-from") == want,
                        "%s: GET %s: %s, read from %r, expected %r"
                        % (name, path, r.status, r.headers.get("x-suanli-read-from"), want))
        # an unknown period is 404 wherever it would have been read
        r = servers[0][0].client.get(PATHS[0] % (pid + 100000), token=e.admin)
        c.check(r.status == 404 and r.err() == "not_found", "unknown period through the replica server: %s" % r.short())
    finally:
        for s, _ in servers:
            c.run("server %s" % s.port, s.check_stopped_cleanly)
    c.done()
