#!/usr/bin/env bash
# bench/market_quality.sh — the market's deals against a greedy rule and an offline LP bound
# (issue 15), one command.
#
#   bench/market_quality.sh                       # 1000 jobs, relaxed and contended, continuous
#   MQ_JOBS=4000 bench/market_quality.sh          # larger (minutes more)
#   MQ_MODES="continuous call" bench/market_quality.sh   # also the call auction ("clearing": "call")
#   MQ_PATTERNS=relaxed MQ_JOBS=50 BENCH_RESULTS=/dev/null bench/market_quality.sh   # smoke
#
# For each pattern (MQ_PATTERNS, default "relaxed contended") and mode (MQ_MODES, default
# "continuous"): starts (or reuses) the private PostgreSQL of deploy/lib.sh (SUANLI_PG_PORT),
# creates a database of its own (BENCH_DB_NAME, default suanli_bench_quality; dropped at the
# end), migrates it, seeds the demo market (deploy/seed_demo.sql), makes an admin token,
# starts suanlid with the request budgets off, runs bench/market_quality.py (what it does and
# every workload parameter: its docstring and bench/README.md), stops the server and drops the
# database — so every run meets exactly the same market.  Then appends the figures of all runs
# to bench/RESULTS.md (BENCH_RESULTS).  Builds build/suanlid when it is missing.
# Needs psql, python3, curl and glpsol (Debian glpk-utils, in deploy/lib.sh's SL_PACKAGES).
set -euo pipefail
cd "$(dirname "$0")/.."
die() { echo "market_quality: error: $*" >&2; exit 1; }
log() { echo "market_quality: $*" >&2; }
for tool in psql python3 curl glpsol; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found (glpsol: apt-get install glpk-utils)"
done
# shellcheck source=../deploy/lib.sh
source deploy/lib.sh
# shellcheck source=lib.sh
source bench/lib.sh
SUANLI_BIN=${SUANLI_BIN:-build/suanlid}
if [[ ! -x $SUANLI_BIN ]]; then
  log "building $SUANLI_BIN"
  sl_build >/dev/null || die "build failed"
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/suanli-quality-sh.XXXXXX")
SRV_PID="" BENCH_DB=""
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
sl_pg_start >"$TMP/pg.log" 2>&1 || { cat "$TMP/pg.log" >&2; die "PostgreSQL did not start"; }
CMD="bench/market_quality.sh"
for v in MQ_JOBS MQ_SEED MQ_PATTERNS MQ_MODES MQ_DAYS MQ_CONTENDED_DAYS MQ_BG MQ_CLEARING_INTERVAL_S MQ_MIP_S; do
  [[ -n ${!v:-} ]] && CMD="$v=\"${!v}\" $CMD"
done
export BENCH_CMD="$CMD"
outs=()
for pattern in ${MQ_PATTERNS:-relaxed contended}; do
  for mode in ${MQ_MODES:-continuous}; do
    BENCH_DB=${BENCH_DB_NAME:-suanli_bench_quality}
    (sl_dropdb "$BENCH_DB") >/dev/null 2>&1 || true
    export SUANLI_DATABASE_URL
    SUANLI_DATABASE_URL=$(sl_createdb "$BENCH_DB")
    timeout 120 "$SUANLI_BIN" migrate >"$TMP/migrate.log" 2>&1 || { cat "$TMP/migrate.log" >&2; die "migrate failed"; }
    timeout 300 psql -X -q -v ON_ERROR_STOP=1 -d "$SUANLI_DATABASE_URL" -f deploy/seed_demo.sql >"$TMP/seed.log" 2>&1 ||
      { tail -n 20 "$TMP/seed.log" >&2; die "deploy/seed_demo.sql failed"; }
    # the background load (other tenants' bookings; MQ_BG, default 0.85 of every pool)
    python3 bench/market_quality.py background
    KEYS="$TMP/keys-$pattern-$mode"
    BENCH_ADMIN=$(SUANLI_KEY_DIR=$KEYS timeout 60 "$SUANLI_BIN" bootstrap-admin 2>"$TMP/bootstrap.log") || { cat "$TMP/bootstrap.log" >&2; die "bootstrap-admin failed"; }
    PORT=$(free_port 20000 29999)
    # the market's deals are measured, not the request budgets (bench/flood_bench.sh)
    SUANLI_LISTEN="127.0.0.1:$PORT" SUANLI_LOG_LEVEL=warn SUANLI_KEY_DIR=$KEYS \
      SUANLI_RATE_ADMIN=unlimited SUANLI_RATE_OPERATOR=unlimited SUANLI_RATE_PROVIDER=unlimited \
      SUANLI_RATE_TENANT=unlimited SUANLI_RATE_ANONYMOUS=unlimited SUANLI_RATE_ADDRESS=unlimited \
      SUANLI_CLEARING_INTERVAL_S=${MQ_CLEARING_INTERVAL_S:-10} \
      "$SUANLI_BIN" serve >"$TMP/suanlid-$pattern-$mode.log" 2>&1 </dev/null &
    SRV_PID=$!
    wait_ready "http://127.0.0.1:$PORT" "$TMP/suanlid-$pattern-$mode.log" || die "suanlid did not become ready"
    log "$pattern / $mode"
    MQ_PATTERN=$pattern MQ_MODE=$mode MQ_BASE_URL="http://127.0.0.1:$PORT" BENCH_ADMIN=$BENCH_ADMIN \
      MQ_OUT="$TMP/$pattern-$mode.json" python3 bench/market_quality.py
    outs+=("$TMP/$pattern-$mode.json")
    stop_server
    sl_dropdb "$BENCH_DB" >/dev/null 2>&1 || true
  done
done
BENCH_DB=""
python3 bench/market_quality.py report "${outs[@]}"
