#!/usr/bin/env bash
# bench/run.sh — how close suanlid's read path comes to a bare libmicrohttpd server.
#
#   bench/run.sh                  start a private suanlid (see below) and bench it
#   SUANLI_URL=http://127.0.0.1:8080 SUANLI_TOKEN=sl_..._... bench/run.sh
#                                 bench a suanlid that is already running
#   bench/run.sh --baseline-only  bench the baseline alone (no suanlid, no database)
#
# In one invocation it runs `wrk -t2 -c64 -d10s` against
#   baseline  bench_baseline_mhd (bench/baseline_mhd.c): libmicrohttpd, epoll, a thread pool
#             of 2, answering every GET with a fixed ~2 KB JSON page of pools;
#   suanlid   GET /v1/pools?region=<a seeded region>&limit=50 with `Authorization: Bearer`
# alternating baseline, suanlid, baseline, suanlid (BENCH_ROUNDS rounds), then reports req/s,
# p50 and p99 latency of each run, the ratio suanlid/baseline, suanlid's RSS (VmRSS/VmHWM from
# /proc/<pid>/status) and the response sizes, and appends a dated section to bench/RESULTS.md.
# Both targets get the same request headers (bench/auth.lua).  Every run is bounded in time.
#
# Without SUANLI_URL it starts its own suanlid with the deploy scripts: the private PostgreSQL
# cluster (deploy/lib.sh sl_pg_start, or SUANLI_DATABASE_URL's server), a fresh database
# `suanli_bench` (dropped afterwards), `suanlid migrate`, deploy/seed_demo.sql, an admin token
# (`suanlid bootstrap-admin`), then a tenant account and token made through the API, and
# `suanlid serve` on a free loopback port.  It stops that suanlid and drops the database;
# PostgreSQL keeps running, as after deploy/quickstart.sh (deploy/pg.sh stop stops it).
#
# Environment:
#   SUANLI_URL, SUANLI_TOKEN   a running suanlid and a token for it (a tenant's: the market view)
#   SUANLI_PID                 its pid, for RSS (default: pgrep -o -f 'suanlid serve')
#   SUANLI_BENCH_REGION        the region to list (default: the region with the most pools)
#   SUANLI_BIN                 suanlid binary for the self-started server (default build/suanlid)
#   BASELINE_BIN               default: build/bench/bench_baseline_mhd, else built standalone
#   BASELINE_BODY_BYTES        size of the baseline's body (default 2048)
#   BENCH_DURATION (10s), BENCH_THREADS (2), BENCH_CONNECTIONS (64), BENCH_ROUNDS (2)
#   BENCH_RESULTS              file to append to (default bench/RESULTS.md); BENCH_NO_RECORD=1
#                              to print only
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

MODE=full
case "${1:-}" in
  "") ;;
  --baseline-only) MODE=baseline ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: bench/run.sh [--baseline-only]" >&2; exit 2 ;;
esac

DURATION=${BENCH_DURATION:-10s}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-64}
ROUNDS=${BENCH_ROUNDS:-2}
BODY=${BASELINE_BODY_BYTES:-2048}
RESULTS=${BENCH_RESULTS:-bench/RESULTS.md}
LIMIT=50

die() { echo "bench: error: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

for tool in wrk curl python3; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found (apt-get install wrk curl python3)"
done
[[ $DURATION =~ ^[0-9]+s$ ]] || die "BENCH_DURATION must be whole seconds, e.g. 10s"
dur_s=${DURATION%s}
((dur_s >= 1 && dur_s <= 300)) || die "BENCH_DURATION must be 1s..300s"
[[ $ROUNDS =~ ^[1-9]$ ]] || die "BENCH_ROUNDS must be 1..9"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/suanli-bench.XXXXXX")
BASE_PID="" SRV_PID="" BENCH_DB=""

cleanup() {
  local rc=$?
  set +e
  if [[ -n $BASE_PID ]]; then kill "$BASE_PID" 2>/dev/null; wait "$BASE_PID" 2>/dev/null; fi
  if [[ -n $SRV_PID ]]; then
    kill "$SRV_PID" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SRV_PID" 2>/dev/null
    wait "$SRV_PID" 2>/dev/null
  fi
  if [[ -n $BENCH_DB ]]; then (sl_dropdb "$BENCH_DB") >/dev/null 2>&1; fi
  rm -rf "$TMP"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_200 URL [TOKEN] — until URL answers 200 (30 s at most).
wait_200() {
  local i code
  for i in $(seq 1 150); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 ${2:+-H "Authorization: Bearer $2"} "$1" || true)
    [[ $code == 200 ]] && return 0
    sleep 0.2
  done
  return 1
}

# api METHOD PATH TOKEN [BODY] — JSON reply on stdout; fails on a non-2xx status.
api() {
  local out code
  out=$(curl -s --max-time 10 -X "$1" -H "Authorization: Bearer $3" \
        -H 'Content-Type: application/json' ${4:+--data "$4"} -w '\n%{http_code}' "$SUANLI_URL$2") ||
    die "$1 $2: curl failed"
  code=${out##*$'\n'}
  [[ $code == 2* ]] || die "$1 $2 answered $code: ${out%$'\n'*}"
  printf '%s\n' "${out%$'\n'*}"
}

json_get() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1].split("."): d = d[int(k)] if isinstance(d, list) else d[k]
print(d)' "$1"; }

rss_of() {  # rss_of PID -> "VmRSS_kB VmHWM_kB" (or "? ?")
  awk '/^VmRSS:/ {r=$2} /^VmHWM:/ {h=$2} END {print (r ? r : "?"), (h ? h : "?")}' \
    "/proc/$1/status" 2>/dev/null || echo "? ?"
}

# ------------------------------------------------------------------------------ baseline
if [[ -z ${BASELINE_BIN:-} ]]; then
  BASELINE_BIN=build/bench/bench_baseline_mhd
  if [[ -f build/CMakeCache.txt ]] &&
     timeout 300 cmake --build build --target bench_baseline_mhd >"$TMP/build.log" 2>&1; then
    :
  else
    log "building bench_baseline_mhd standalone in build/bench-standalone"
    BASELINE_BIN=build/bench-standalone/bench_baseline_mhd
    { timeout 120 cmake -S bench -B build/bench-standalone -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
      timeout 300 cmake --build build/bench-standalone --target bench_baseline_mhd; } \
      >>"$TMP/build.log" 2>&1 || { tail -n 30 "$TMP/build.log" >&2; die "cannot build the baseline"; }
  fi
fi
[[ -x $BASELINE_BIN ]] || die "baseline binary $BASELINE_BIN not found"
BASE_PORT=$(free_port)
"$BASELINE_BIN" "$BASE_PORT" "$BODY" >"$TMP/baseline.log" 2>&1 &
BASE_PID=$!
BASE_URL="http://127.0.0.1:$BASE_PORT/v1/pools?limit=$LIMIT"
wait_200 "$BASE_URL" || { cat "$TMP/baseline.log" >&2; die "the baseline did not start"; }
BASE_BYTES=$(curl -s --max-time 5 "$BASE_URL" | wc -c)

# ------------------------------------------------------------------------------ suanlid
SRV_URL="" SRV_BYTES="" SRV_ITEMS="" SRV_NOTE="" REGION=""
if [[ $MODE == full ]]; then
  if [[ -n ${SUANLI_URL:-} ]]; then
    [[ -n ${SUANLI_TOKEN:-} ]] || die "SUANLI_URL is set: set SUANLI_TOKEN to a token for it too"
    SUANLI_URL=${SUANLI_URL%/}
    wait_200 "$SUANLI_URL/readyz" || die "$SUANLI_URL/readyz does not answer 200"
    PID=${SUANLI_PID:-}
    if [[ -z $PID ]]; then
      PID=$(pgrep -o -f 'suanlid serve' || true)
      n=$(pgrep -c -f 'suanlid serve' || true)
      [[ ${n:-0} -le 1 ]] || log "warning: $n 'suanlid serve' processes; RSS is the oldest's (set SUANLI_PID)"
    fi
    SRV_NOTE="given at $SUANLI_URL"
  else
    # Start a private one with the deploy scripts.
    SUANLI_BIN=${SUANLI_BIN:-build/suanlid}
    [[ -x $SUANLI_BIN ]] || die "$SUANLI_BIN not built (deploy/quickstart.sh or cmake --build build), or set SUANLI_URL and SUANLI_TOKEN"
    [[ -f deploy/lib.sh && -f deploy/seed_demo.sql ]] || die "deploy/lib.sh or deploy/seed_demo.sql missing: set SUANLI_URL and SUANLI_TOKEN"
    # shellcheck source=../deploy/lib.sh
    source deploy/lib.sh
    sl_pg_start >"$TMP/pg.log" 2>&1 || { cat "$TMP/pg.log" >&2; die "PostgreSQL did not start"; }
    # Like deploy/quickstart.sh, leave PostgreSQL running (others may be using the cluster).
    [[ $SL_PG_STARTED_BY_US == 1 ]] && log "started PostgreSQL ($SUANLI_PG_DIR); deploy/pg.sh stop stops it"
    BENCH_DB=suanli_bench
    export SUANLI_DATABASE_URL
    SUANLI_DATABASE_URL=$(sl_createdb "$BENCH_DB")
    timeout 120 "$SUANLI_BIN" migrate >"$TMP/migrate.log" 2>&1 || { cat "$TMP/migrate.log" >&2; die "suanlid migrate failed"; }
    timeout 300 psql -X -q -v ON_ERROR_STOP=1 -d "$SUANLI_DATABASE_URL" -f deploy/seed_demo.sql >"$TMP/seed.log" 2>&1 ||
      { tail -n 20 "$TMP/seed.log" >&2; die "deploy/seed_demo.sql failed"; }
    ADMIN=$(timeout 60 "$SUANLI_BIN" bootstrap-admin 2>"$TMP/bootstrap.log") || { cat "$TMP/bootstrap.log" >&2; die "bootstrap-admin failed"; }
    port=$(free_port)
    SUANLI_URL="http://127.0.0.1:$port"
    SUANLI_LISTEN="127.0.0.1:$port" "$SUANLI_BIN" serve >"$TMP/suanlid.log" 2>&1 &
    SRV_PID=$!
    PID=$SRV_PID
    wait_200 "$SUANLI_URL/readyz" || { tail -n 30 "$TMP/suanlid.log" >&2; die "suanlid did not become ready"; }
    acct=$(api POST /v1/accounts "$ADMIN" "{\"kind\":\"tenant\",\"name\":\"bench-tenant-$$-$(date +%s)\"}" | json_get id)
    SUANLI_TOKEN=$(api POST "/v1/accounts/$acct/tokens" "$ADMIN" '{"label":"bench"}' | json_get token)
    SRV_NOTE="started by bench/run.sh on a fresh seeded database (SUANLI_THREADS=${SUANLI_THREADS:-default}, SUANLI_LOG_LEVEL=${SUANLI_LOG_LEVEL:-default}, log to a file)"
  fi
  export SUANLI_TOKEN
  REGION=${SUANLI_BENCH_REGION:-}
  if [[ -z $REGION ]]; then
    REGION=$(api GET "/v1/pools?limit=500" "$SUANLI_TOKEN" | python3 -c '
import collections, json, sys
c = collections.Counter(p["region"] for p in json.load(sys.stdin)["items"])
print(c.most_common(1)[0][0] if c else "")')
    [[ -n $REGION ]] || die "no pools visible to this token: seed the market or set SUANLI_BENCH_REGION"
  fi
  SRV_URL="$SUANLI_URL/v1/pools?region=$REGION&limit=$LIMIT"
  api GET "/v1/pools?region=$REGION&limit=$LIMIT" "$SUANLI_TOKEN" >"$TMP/page.json"
  SRV_BYTES=$(wc -c <"$TMP/page.json")
  SRV_ITEMS=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["items"]))' "$TMP/page.json")
  ((SRV_ITEMS > 0)) || log "warning: region $REGION lists no pools; the bench measures an empty page"
  [[ -n ${PID:-} && -r /proc/$PID/status ]] || { log "warning: no suanlid pid found; RSS not reported"; PID=""; }
  RSS_BEFORE=$( [[ -n $PID ]] && rss_of "$PID" || echo "? ?")
fi

# ------------------------------------------------------------------------------ runs
# run_wrk LABEL URL -> appends "LABEL rps p50_us p99_us non2xx sockerr" to $TMP/runs
run_wrk() {
  local label=$1 url=$2 out line
  out="$TMP/wrk-$label-$(date +%s%N).log"
  log "wrk -t$THREADS -c$CONNS -d$DURATION $label"
  if ! timeout $((dur_s + 60)) wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --timeout 5s --latency \
         -s bench/auth.lua "$url" >"$out" 2>&1; then
    cat "$out" >&2; die "wrk against $label failed"
  fi
  line=$(grep '^BENCH ' "$out" | tail -n 1) || { cat "$out" >&2; die "no BENCH line from wrk"; }
  python3 - "$label" "$line" >>"$TMP/runs" <<'EOF'
import sys
label, line = sys.argv[1], sys.argv[2]
f = dict(kv.split("=") for kv in line.split()[1:])
sockerr = sum(int(f[k]) for k in ("connect", "read", "write", "timeout"))
print(label, f["rps"], f["p50_us"], f["p99_us"], f["non2xx"], sockerr, f["requests"])
EOF
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
: >"$TMP/runs"
for round in $(seq 1 "$ROUNDS"); do
  run_wrk baseline "$BASE_URL"
  [[ $MODE == full ]] && run_wrk suanlid "$SRV_URL"
done
BASE_RSS=$(rss_of "$BASE_PID")
if [[ $MODE == full && -n $PID ]]; then RSS_AFTER=$(rss_of "$PID"); else RSS_AFTER="? ?"; fi

# ------------------------------------------------------------------------------ report
CPU=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)
REV=$(git rev-parse --short HEAD 2>/dev/null || echo none)
[[ -z $(git status --porcelain 2>/dev/null | head -n 1) ]] || REV="$REV+uncommitted"
CMD="bench/run.sh${1:+ $1}"
[[ $MODE == full && -n ${SRV_PID:-} ]] || CMD="${SUANLI_URL:+SUANLI_URL=$SUANLI_URL SUANLI_TOKEN=<redacted> }$CMD"
[[ -n ${SUANLI_BENCH_REGION:-} ]] && CMD="SUANLI_BENCH_REGION=$SUANLI_BENCH_REGION $CMD"
[[ $DURATION != 10s || $THREADS != 2 || $CONNS != 64 || $ROUNDS != 2 ]] &&
  CMD="BENCH_DURATION=$DURATION BENCH_THREADS=$THREADS BENCH_CONNECTIONS=$CONNS BENCH_ROUNDS=$ROUNDS $CMD"

REPORT="$TMP/report.md"
python3 - "$TMP/runs" "$MODE" >"$TMP/table.md" <<'EOF'
import statistics, sys
runs = [l.split() for l in open(sys.argv[1]) if l.strip()]
mode = sys.argv[2]
ms = lambda us: "%.2f" % (int(us) / 1000)
print("| run | target | req/s | p50 ms | p99 ms | non-2xx | socket errors |")
print("|---:|---|---:|---:|---:|---:|---:|")
n = {"baseline": 0, "suanlid": 0}
for label, rps, p50, p99, non2xx, sockerr, _ in runs:
    n[label] += 1
    print("| %d | %s | %.0f | %s | %s | %s | %s |" % (n[label], label, float(rps), ms(p50), ms(p99), non2xx, sockerr))
def mean(label, i):
    v = [float(r[i]) for r in runs if r[0] == label]
    return statistics.mean(v) if v else None
b = mean("baseline", 1)
print()
print("- baseline mean: %.0f req/s, p50 %.2f ms, p99 %.2f ms" % (b, mean("baseline", 2) / 1000, mean("baseline", 3) / 1000))
if mode == "full":
    s = mean("suanlid", 1)
    print("- suanlid mean: %.0f req/s, p50 %.2f ms, p99 %.2f ms" % (s, mean("suanlid", 2) / 1000, mean("suanlid", 3) / 1000))
    pairs = [float(s_[1]) / float(b_[1]) for b_, s_ in zip([r for r in runs if r[0] == "baseline"], [r for r in runs if r[0] == "suanlid"])]
    print("- **ratio suanlid/baseline (req/s): %.3f** (per round: %s)" % (s / b, ", ".join("%.3f" % p for p in pairs)))
bad = [r for r in runs if int(r[4]) or int(r[5])]
if bad:
    print("- WARNING: %d run(s) had non-2xx replies or socket errors; their req/s are not comparable" % len(bad))
EOF

{
  echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — $([[ $MODE == full ]] && echo "GET /v1/pools vs libmicrohttpd baseline" || echo "libmicrohttpd baseline only")"
  echo
  echo "- command: \`$CMD\` (wrk -t$THREADS -c$CONNS -d$DURATION --latency, alternating, $ROUNDS round(s))"
  echo "- host: \`$(uname -a)\`; nproc $(nproc); CPU: ${CPU:-unknown}; load average before the runs: $LOAD_BEFORE"
  echo "- revision: $REV; wrk: $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2); libmicrohttpd $(pkg-config --modversion libmicrohttpd 2>/dev/null || echo '?')"
  echo "- baseline: \`$(basename "$BASELINE_BIN")\` (epoll, thread pool 2), body $BASE_BYTES bytes; RSS $(awk '{print $1}' <<<"$BASE_RSS") kB"
  if [[ $MODE == full ]]; then
    echo "- suanlid: $SRV_NOTE; \`GET /v1/pools?region=$REGION&limit=$LIMIT\` → $SRV_ITEMS pools, $SRV_BYTES bytes"
    read -r rb hb <<<"$RSS_BEFORE"; read -r ra ha <<<"$RSS_AFTER"
    echo "- suanlid RSS (pid ${PID:-?}): VmRSS $rb kB before, $ra kB after (VmHWM $ha kB)"
  fi
  echo
  cat "$TMP/table.md"
  echo
} >"$REPORT"

cat "$REPORT"
if [[ ${BENCH_NO_RECORD:-0} != 1 ]]; then
  if [[ ! -f $RESULTS ]]; then
    printf '# Benchmark results\n\nAppended by `bench/run.sh` (newest last). Figures vary by up to ~25%% run to run on\nthe 2-core machines; compare only within one section.\n\n' >"$RESULTS"
  fi
  cat "$REPORT" >>"$RESULTS"
  log "appended to $RESULTS"
fi
if grep -q 'WARNING' "$TMP/table.md"; then exit 1; fi
