"""Runs of the ledger auditor are recorded (schema/013) and served by GET /v1/ledger/audit,
which the dashboard's ledger view shows: what the run printed is what was recorded."""
import json

from harness import Collector, env, run_cli


def _printed(stdout):
    counts, total = {}, 0
    for line in stdout.splitlines():
        if line.strip():
            f = json.loads(line)
            counts[f["check"]] = counts.get(f["check"], 0) + 1
            total += 1
    return total, counts


def test_audit_run_recorded_as_printed():
    e = env()
    c = Collector()
    before = e.c.get("/v1/ledger/audit", token=e.admin)
    c.check(before.status in (200, 404), "GET /v1/ledger/audit before: %s" % before.short())
    runs = []
    for _ in range(2):
        p = run_cli("audit", timeout=120)
        c.check(p.returncode in (0, 1), "suanlid audit: exit %s %s" % (p.returncode, p.stderr[-300:]))
        total, counts = _printed(p.stdout)
        r = e.c.get("/v1/ledger/audit", token=e.admin)
        if not c.check(r.status == 200, "GET /v1/ledger/audit after a run: %s" % r.short()):
            break
        run = r.json
        runs.append(run)
        c.check(set(run) == {"id", "started_at", "finished_at", "findings", "by_check", "tree_size"},
                "audit run keys %s" % sorted(run))
        c.check(run["findings"] == total and run["by_check"] == counts,
                "recorded %s findings %s; the run printed %s %s" % (run["findings"], run["by_check"], total, counts))
        c.check(run["started_at"] <= run["finished_at"], "started %s after finished %s"
                % (run["started_at"], run["finished_at"]))
        c.check((p.returncode == 0) == (total == 0), "exit status %s with %d findings" % (p.returncode, total))
        cp = e.c.get("/v1/ledger/checkpoint", token=e.admin)
        if cp.status == 200:
            c.check(run["tree_size"] is not None and run["tree_size"] <= cp.json["tree_size"],
                    "recorded tree size %s, latest checkpoint %s" % (run["tree_size"], cp.json["tree_size"]))
    if len(runs) == 2:
        c.check(runs[1]["id"] > runs[0]["id"], "a second run is a new record: ids %s, %s" % (runs[0]["id"], runs[1]["id"]))
        if before.status == 200:
            c.check(runs[0]["id"] > before.json["id"], "the first run did not replace the earlier record")
    r = e.c.get("/v1/ledger/audit")
    c.check(r.status == 401, "GET /v1/ledger/audit without a token: %s" % r.short())
    r = e.c.get("/v1/ledger/audit?x=1", token=e.admin)
    c.check(r.status == 400 and r.err() == "bad_query_parameter", "an unknown query parameter: %s" % r.short())
    c.done()
