#!/usr/bin/env bash
# bench/dispatch_lag.sh — dispatch lag (trade commit -> adapter call) under order load.
#
#   bench/dispatch_lag.sh
#
# In one invocation, each on a fresh database of its own (deploy/lib.sh: the private
# PostgreSQL cluster, or SUANLI_DATABASE_URL's server) and a suanlid of its own
# (bench/dispatch_lag.py does the work):
#   baseline  the same load with SUANLI_WORKERS=0: a pure API process (no dispatcher, no book,
#             maintenance or ledger-sequencer threads): plain order throughput;
#   dispatch  the default suanlid (workers on, SUANLI_DISPATCH_THREADS default 2) with sim pools
#             (no fault injection): orders/s, and per reservation the lag from the trade to the
#             simulated cluster's row, which the sim adapter's reserve call writes:
#             upper bound  sim row created_at - trades.created_at (the trade transaction's start)
#             lower bound  sim row created_at - the client's receipt of the 201 reply
#             p50 / p99 / max, and dispatches/s.
# BENCH_ORDERS orders (default 1000) from BENCH_CLIENTS client threads (default 16, one tenant
# and one keep-alive connection each), fill-or-kill, 1..4 GPUs for 1 hour, starts spread over 48 h.
# Rounds alternate baseline, dispatch (BENCH_ROUNDS, default 1).  Reports the ratio of order
# throughput dispatch/baseline and appends a dated section to bench/RESULTS.md
# (BENCH_RESULTS to change the file; BENCH_NO_RECORD=1 to print only).
#
# Environment: SUANLI_BIN (default build/suanlid), BENCH_ORDERS, BENCH_CLIENTS, BENCH_ROUNDS,
# BENCH_RESULTS, BENCH_NO_RECORD.  The databases are dropped at the end; PostgreSQL keeps running.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ORDERS=${BENCH_ORDERS:-1000}
CLIENTS=${BENCH_CLIENTS:-16}
ROUNDS=${BENCH_ROUNDS:-1}
RESULTS=${BENCH_RESULTS:-bench/RESULTS.md}
SUANLI_BIN=${SUANLI_BIN:-build/suanlid}

die() { echo "bench: error: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }
[[ $ORDERS =~ ^[0-9]+$ && $ORDERS -ge 1 && $ORDERS -le 100000 ]] || die "BENCH_ORDERS must be 1..100000"
[[ $CLIENTS =~ ^[0-9]+$ && $CLIENTS -ge 1 && $CLIENTS -le 256 ]] || die "BENCH_CLIENTS must be 1..256"
[[ $ROUNDS =~ ^[1-9]$ ]] || die "BENCH_ROUNDS must be 1..9"
[[ -x $SUANLI_BIN ]] || die "$SUANLI_BIN not built (cmake --build build)"
command -v psql >/dev/null || die "psql not found"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/suanli-dlag.XXXXXX")
DBS=()
cleanup() {
  local rc=$? db
  set +e
  for db in "${DBS[@]}"; do (sl_dropdb "$db") >/dev/null 2>&1; done
  rm -rf "$TMP"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=../deploy/lib.sh
source deploy/lib.sh
sl_pg_start >"$TMP/pg.log" 2>&1 || { cat "$TMP/pg.log" >&2; die "PostgreSQL did not start"; }

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
: >"$TMP/runs"
for round in $(seq 1 "$ROUNDS"); do
  for mode in baseline dispatch; do
    db="suanli_bench_dlag_${mode}_$$"
    DBS+=("$db")
    url=$(sl_createdb "$db")
    log "round $round: $mode ($ORDERS orders, $CLIENTS clients)"
    timeout 600 python3 bench/dispatch_lag.py --bin "$SUANLI_BIN" --db "$url" --mode "$mode" \
      --orders "$ORDERS" --clients "$CLIENTS" --log "$TMP/suanlid-$mode-$round.log" >>"$TMP/runs" ||
      { tail -n 20 "$TMP/suanlid-$mode-$round.log" >&2; die "the $mode run failed"; }
    tail -n 1 "$TMP/runs" >&2
    sl_dropdb "$db" >/dev/null 2>&1 || true
  done
done

CPU=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)
REV=$(git rev-parse --short HEAD 2>/dev/null || echo none)
[[ -z $(git status --porcelain 2>/dev/null | head -n 1) ]] || REV="$REV+uncommitted"
CMD="bench/dispatch_lag.sh"
[[ $ORDERS != 1000 || $CLIENTS != 16 || $ROUNDS != 1 ]] &&
  CMD="BENCH_ORDERS=$ORDERS BENCH_CLIENTS=$CLIENTS BENCH_ROUNDS=$ROUNDS $CMD"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')

python3 - "$TMP/runs" >"$TMP/table.md" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("| round | mode | orders/s | trades | errors | lag p50 ms (lower..upper) | lag p99 ms (lower..upper) | lag max ms | dispatches/s | drained after load |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
n = {}
for r in runs:
    n[r["mode"]] = n.get(r["mode"], 0) + 1
    if r["mode"] == "dispatch" and r.get("lag_upper_ms"):
        lo, up = r["lag_lower_ms"], r["lag_upper_ms"]
        lag = ("%.1f..%.1f" % (lo["p50"], up["p50"]), "%.1f..%.1f" % (lo["p99"], up["p99"]), "%.1f" % up["max"],
               "%.0f" % r["dispatch_per_s"], "%.2f s" % r["drained_after_load_s"])
    else:
        lag = ("-",) * 5
    print("| %d | %s | %.0f | %d | %d | %s | %s | %s | %s | %s |" % ((n[r["mode"]], r["mode"], r["orders_per_s"],
          r["filled_trades"], r["errors"]) + lag))
b = [r["orders_per_s"] for r in runs if r["mode"] == "baseline"]
d = [r for r in runs if r["mode"] == "dispatch"]
print()
print("- baseline (SUANLI_WORKERS=0) mean: %.0f orders/s" % statistics.mean(b))
print("- dispatch (workers on) mean: %.0f orders/s; dispatch lag p50 %.1f..%.1f ms, p99 %.1f..%.1f ms (lower..upper bound)"
      % (statistics.mean(r["orders_per_s"] for r in d), statistics.mean(r["lag_lower_ms"]["p50"] for r in d),
         statistics.mean(r["lag_upper_ms"]["p50"] for r in d), statistics.mean(r["lag_lower_ms"]["p99"] for r in d),
         statistics.mean(r["lag_upper_ms"]["p99"] for r in d)))
print("- **ratio of order throughput dispatch/baseline: %.2f**"
      % (statistics.mean(r["orders_per_s"] for r in d) / statistics.mean(b)))
bad = [r for r in runs if r["errors"] or (r["mode"] == "dispatch" and r.get("dispatched") != r["filled_trades"])]
if bad:
    print("- WARNING: %d run(s) had failed orders or undispatched trades: %s"
          % (len(bad), [(r["mode"], r["errors"], r.get("error_sample"), r.get("dispatched"), r.get("jobs")) for r in bad]))
PY

REPORT="$TMP/report.md"
{
  echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — dispatch lag (trade commit → sim adapter call) under order load"
  echo
  echo "- command: \`$CMD\` ($ORDERS fill-or-kill orders from $CLIENTS client threads, 8 sim pools of 128 GPUs, no fault injection)"
  echo "- host: \`$(uname -a)\`; nproc $(nproc); CPU: ${CPU:-unknown}; load average before $LOAD_BEFORE, after $LOAD_AFTER"
  echo "- revision: $REV; suanlid \`$SUANLI_BIN\` (SUANLI_DISPATCH_THREADS=${SUANLI_DISPATCH_THREADS:-default 2}, log level info to a file); PostgreSQL $(psql -XAtc 'SHOW server_version' "$SUANLI_DATABASE_URL" 2>/dev/null || echo '?'); client python3 http.client (same host)"
  echo "- lag: lower bound = sim row created_at − client receipt of the 201; upper bound = sim row created_at − trades.created_at (transaction start)"
  echo
  cat "$TMP/table.md"
  echo
} >"$REPORT"
cat "$REPORT"
if [[ ${BENCH_NO_RECORD:-0} != 1 ]]; then
  cat "$REPORT" >>"$RESULTS"
  log "appended to $RESULTS"
fi
if grep -q 'WARNING' "$TMP/table.md"; then exit 1; fi
