#!/usr/bin/env bash
# bench/market_scale.sh — the market at 1k, 10k and 100k pools (1M with MARKET_SIZES), one command.
#
#   bench/market_scale.sh
#   MARKET_SIZES="1000 10000 100000 1000000" BENCH_SECONDS=8 bench/market_scale.sh
#
# Starts (or reuses) the private PostgreSQL cluster of deploy/lib.sh (SUANLI_PG_PORT) or uses
# SUANLI_DATABASE_URL's server, creates its own database `suanli_bench_market` (BENCH_DB_NAME; dropped at the
# end), migrates it, seeds the demo market, makes an admin token, builds the libmicrohttpd
# baseline, then runs bench/market_scale.py (what is measured: its docstring), which appends
# a dated section to bench/RESULTS.md (BENCH_RESULTS).  Needs wrk, pgbench, psql, python3.
# It eats both cores for several minutes: do not run it next to a test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
die() { echo "market_scale: error: $*" >&2; exit 1; }
log() { echo "market_scale: $*" >&2; }
for tool in wrk pgbench psql python3 curl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found"
done
SUANLI_BIN=${SUANLI_BIN:-build/suanlid}
[[ -x $SUANLI_BIN ]] || die "$SUANLI_BIN not built (cmake --build build)"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/suanli-market-sh.XXXXXX")
BENCH_DB=""
cleanup() {
  local rc=$?
  set +e
  if [[ -n $BENCH_DB ]]; then sl_dropdb "$BENCH_DB" >/dev/null 2>&1; fi
  if [[ $rc != 0 ]]; then log "logs kept in $TMP"; else rm -rf "$TMP"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# shellcheck source=../deploy/lib.sh
source deploy/lib.sh
sl_pg_start >"$TMP/pg.log" 2>&1 || { cat "$TMP/pg.log" >&2; die "PostgreSQL did not start"; }
BENCH_DB=${BENCH_DB_NAME:-suanli_bench_market}
export SUANLI_DATABASE_URL
SUANLI_DATABASE_URL=$(sl_createdb "$BENCH_DB")
timeout 120 "$SUANLI_BIN" migrate >"$TMP/migrate.log" 2>&1 || { cat "$TMP/migrate.log" >&2; die "migrate failed"; }
timeout 300 psql -X -q -v ON_ERROR_STOP=1 -d "$SUANLI_DATABASE_URL" -f deploy/seed_demo.sql >"$TMP/seed.log" 2>&1 ||
  { tail -n 20 "$TMP/seed.log" >&2; die "deploy/seed_demo.sql failed"; }
BENCH_ADMIN=$(timeout 60 "$SUANLI_BIN" bootstrap-admin 2>"$TMP/bootstrap.log") || { cat "$TMP/bootstrap.log" >&2; die "bootstrap-admin failed"; }
BASELINE_BIN=${BASELINE_BIN:-build/bench/bench_baseline_mhd}
if [[ ! -x $BASELINE_BIN ]]; then
  timeout 300 cmake --build build --target bench_baseline_mhd >"$TMP/build.log" 2>&1 || { tail -n 20 "$TMP/build.log" >&2; die "cannot build the baseline"; }
fi
CMD="bench/market_scale.sh"
[[ -n ${MARKET_SIZES:-} ]] && CMD="MARKET_SIZES=\"$MARKET_SIZES\" $CMD"
[[ -n ${BENCH_SECONDS:-} ]] && CMD="BENCH_SECONDS=$BENCH_SECONDS $CMD"
[[ -n ${BENCH_PARTS:-} ]] && CMD="BENCH_PARTS=\"$BENCH_PARTS\" $CMD"
[[ -n ${SUANLI_THREADS:-} ]] && CMD="SUANLI_THREADS=$SUANLI_THREADS $CMD"
export BENCH_ADMIN BASELINE_BIN SUANLI_BIN BENCH_CMD="$CMD"
SUANLI_KEY_DIR=${SUANLI_KEY_DIR:-$TMP/keys} python3 bench/market_scale.py
