#!/usr/bin/env bash
# bench/stats_bench.sh — how fast the dashboard's queries stay with a month of activity.
#
#   bench/stats_bench.sh            run it and append a dated section to bench/RESULTS.md
#
# In one invocation:
#   - a fresh database on the PostgreSQL of deploy/lib.sh, `suanlid migrate`, the demo seed
#     (deploy/seed_demo.sql: ~450 pools in ~100 regions), bootstrap-admin, `suanlid serve`
#     (build/, log level warn) on a free port in 18900..18949, an operator of us-east-1;
#   - "empty": every dashboard route timed (BENCH_REPS sequential requests each over one
#     keep-alive connection; median and p90 of the wall time per request), with the baseline
#     GET /v1/accelerators (a small read of one table) timed in the same way;
#   - bench/stats_gen.sql as a superuser: BENCH_TRADES trades over the last 30 days with their
#     orders, reservations and dispatch jobs, killed orders, 14 days of bookings on every pool
#     (BENCH DATA ONLY, see that file);
#   - "month": the same timings again; ratios to the baseline and month/empty per route;
#   - SIGTERM, drop the database, append the figures to bench/RESULTS.md.
# Environment: BENCH_TRADES (150000), BENCH_REPS (30), SUANLI_BIN (build/suanlid),
# BENCH_RESULTS (bench/RESULTS.md), BENCH_NO_RECORD=1 to print only, SUANLI_PG_ADMIN_URL (a
# superuser URL on the same server).  About a minute on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

TRADES=${BENCH_TRADES:-150000}
REPS=${BENCH_REPS:-30}
RESULTS=${BENCH_RESULTS:-bench/RESULTS.md}
SUANLI_BIN=${SUANLI_BIN:-build/suanlid}

die() { echo "stats_bench: error: $*" >&2; exit 1; }
log() { echo "stats_bench: $*" >&2; }
[[ $TRADES =~ ^[0-9]+$ ]] && ((TRADES >= 1000 && TRADES <= 5000000)) || die "BENCH_TRADES must be 1000..5000000"
[[ $REPS =~ ^[0-9]+$ ]] && ((REPS >= 5 && REPS <= 1000)) || die "BENCH_REPS must be 5..1000"
[[ -x $SUANLI_BIN ]] || die "$SUANLI_BIN not built"
BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$(dirname "$SUANLI_BIN")/CMakeCache.txt" 2>/dev/null || true)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/suanli-stats-bench.XXXXXX")
SRV_PID="" BENCH_DB=""
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
# shellcheck source=../deploy/lib.sh
source deploy/lib.sh
sl_pg_start >"$TMP/pg.log" 2>&1 || { cat "$TMP/pg.log" >&2; die "PostgreSQL did not start"; }
PG_VERSION=$(psql -X -At -d "${SUANLI_PG_BASE_URL:-$SUANLI_DATABASE_URL}" -c 'SHOW server_version' 2>/dev/null || echo '?')

BENCH_DB="suanli_bench_stats_$$"
export SUANLI_DATABASE_URL
SUANLI_DATABASE_URL=$(sl_createdb "$BENCH_DB")
ADMIN_URL=$SUANLI_DATABASE_URL
if [[ -n ${SUANLI_PG_ADMIN_URL:-} ]]; then
  ADMIN_URL=$(python3 -c "import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit((p.scheme, p.netloc, '/' + sys.argv[2], p.query, p.fragment)))" "$SUANLI_PG_ADMIN_URL" "$BENCH_DB")
fi
[[ $(psql -X -At -d "$ADMIN_URL" -c 'SELECT rolsuper FROM pg_roles WHERE rolname = current_user') == t ]] ||
  die "bench/stats_gen.sql needs a superuser: set SUANLI_PG_ADMIN_URL"

timeout 120 "$SUANLI_BIN" migrate >"$TMP/migrate.log" 2>&1 || { cat "$TMP/migrate.log" >&2; die "migrate failed"; }
psql -X -q -v ON_ERROR_STOP=1 -d "$SUANLI_DATABASE_URL" -f deploy/seed_demo.sql >"$TMP/seed.log" 2>&1 ||
  { tail "$TMP/seed.log" >&2; die "seed failed"; }
KEYS="$TMP/keys"
ADMIN=$(SUANLI_KEY_DIR=$KEYS timeout 60 "$SUANLI_BIN" bootstrap-admin 2>"$TMP/bootstrap.log") ||
  { cat "$TMP/bootstrap.log" >&2; die "bootstrap-admin failed"; }
PORT=$(free_port 18900 18949)
URL="http://127.0.0.1:$PORT"
SRV_LOG="$TMP/suanlid.log"
SUANLI_LISTEN="127.0.0.1:$PORT" SUANLI_KEY_DIR=$KEYS SUANLI_LOG_LEVEL=warn "$SUANLI_BIN" serve >"$SRV_LOG" 2>&1 &
SRV_PID=$!
wait_ready "$URL" "$SRV_LOG" || die "suanlid did not become ready"

# time_routes LABEL: one JSON line per route {"label", "route", "median_ms", "p90_ms", "bytes"}
time_routes() {
  python3 - "$PORT" "$ADMIN" "$REPS" "$1" <<'PY'
import http.client, json, statistics, sys, time
port, admin, reps, label = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
def get(path, token):
    c.request("GET", path, headers={"Authorization": "Bearer " + token})
    r = c.getresponse(); body = r.read()
    if r.status != 200: raise SystemExit("%s -> %s %s" % (path, r.status, body[:200]))
    return body
def make_op():
    c.request("POST", "/v1/accounts", body=json.dumps({"kind": "operator", "name": "bench-op-" + label, "regions": ["us-east-1"]}),
              headers={"Authorization": "Bearer " + admin, "Content-Type": "application/json"})
    a = json.loads(c.getresponse().read())
    c.request("POST", "/v1/accounts/%d/tokens" % a["id"], body="{}",
              headers={"Authorization": "Bearer " + admin, "Content-Type": "application/json"})
    return json.loads(c.getresponse().read())["token"]
op = make_op()
routes = [("baseline GET /v1/accelerators", "/v1/accelerators", admin),
          ("GET /v1/stats/regions (admin, all regions)", "/v1/stats/regions", admin),
          ("GET /v1/stats/regions (operator, us-east-1)", "/v1/stats/regions", op),
          ("GET /v1/stats/utilization (us-east-1, 336 h)", "/v1/stats/utilization?region=us-east-1", op),
          ("GET /v1/stats/health (admin)", "/v1/stats/health", admin),
          ("GET /v1/stats/dispatch (admin)", "/v1/stats/dispatch", admin),
          ("GET /v1/stats/dispatch (operator)", "/v1/stats/dispatch", op),
          ("GET /v1/market/offers", "/v1/market/offers", admin),
          ("GET /v1/market/prices (H100-SXM, 7 days)", "/v1/market/prices?accelerator=H100-SXM", admin),
          ("GET /v1/market/prices (H100-SXM, 30 days)", "/v1/market/prices?accelerator=H100-SXM&days=30", admin),
          ("GET /v1/market/last", "/v1/market/last", admin),
          ("GET /metrics (admin)", "/metrics", admin)]
for name, path, tok in routes:
    size = len(get(path, tok))  # warm-up
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter(); get(path, tok); ts.append((time.perf_counter() - t0) * 1000)
    ts.sort()
    print(json.dumps({"label": label, "route": name, "median_ms": statistics.median(ts),
                      "p90_ms": ts[int(0.9 * (len(ts) - 1))], "bytes": size}))
PY
}

START=$(date +%s)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
log "timing on the seeded market (no trades)"
time_routes empty >"$TMP/empty.jsonl" || die "timing (empty) failed"
log "generating $TRADES trades over the last 30 days"
t0=$(date +%s.%N)
timeout 1200 psql -X -q -d "$ADMIN_URL" -v trades="$TRADES" -f bench/stats_gen.sql >"$TMP/gen.log" 2>&1 ||
  { tail -n 20 "$TMP/gen.log" >&2; die "stats_gen.sql failed"; }
GEN_S=$(python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$(date +%s.%N)")
COUNTS=$(psql -X -At -d "$SUANLI_DATABASE_URL" -c "SELECT (SELECT count(*) FROM trades) || ' trades, ' ||
  (SELECT count(*) FROM orders) || ' orders, ' || (SELECT count(*) FROM reservations) || ' reservations, ' ||
  (SELECT count(*) FROM dispatch_jobs) || ' dispatch jobs, ' || (SELECT count(*) FROM pool_slots) || ' booked pool slots, ' ||
  (SELECT count(*) FROM pools) || ' pools'")
log "timing with a month of activity ($COUNTS)"
time_routes month >"$TMP/month.jsonl" || die "timing (month) failed"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
stop_server

python3 - "$TMP/empty.jsonl" "$TMP/month.jsonl" >"$TMP/table.md" <<'PY'
import json, sys
e = [json.loads(l) for l in open(sys.argv[1])]
m = [json.loads(l) for l in open(sys.argv[2])]
be, bm = e[0]["median_ms"], m[0]["median_ms"]
print("| route | empty: median ms (p90) | month: median ms (p90) | month / baseline | month / empty | reply bytes (month) |")
print("|---|---:|---:|---:|---:|---:|")
for a, b in zip(e, m):
    print("| %s | %.2f (%.2f) | %.2f (%.2f) | %.1f | %.2f | %d |" % (a["route"], a["median_ms"], a["p90_ms"], b["median_ms"],
          b["p90_ms"], b["median_ms"] / bm, b["median_ms"] / a["median_ms"], b["bytes"]))
PY
{
  echo
  echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — dashboard queries with a month of activity"
  echo
  echo "- command: \`bench/stats_bench.sh\` (BENCH_TRADES=$TRADES over the last 30 days via bench/stats_gen.sql, generated in ${GEN_S} s; $REPS sequential keep-alive requests per route after one warm-up; $(( $(date +%s) - START )) s in all)"
  echo "- data (month): $COUNTS"
  echo "- host: \`$(uname -srvmo)\`; nproc $(nproc); load average $LOAD_BEFORE before, $LOAD_AFTER after"
  echo "- revision: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+uncommitted'); suanlid \`$SUANLI_BIN\` (${BUILD_TYPE:-?}); PostgreSQL $PG_VERSION on the same host; Python http.client on the same host"
  echo
  cat "$TMP/table.md"
} >"$TMP/report.md"
cat "$TMP/report.md"
if [[ "${BENCH_NO_RECORD:-0}" != 1 ]]; then
  cat "$TMP/report.md" >>"$RESULTS"
  log "appended to $RESULTS"
fi
