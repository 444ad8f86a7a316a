#!/usr/bin/env bash
# bench/export_bench.sh — what closing and exporting a big accounting period costs.
#
#   bench/export_bench.sh            run it and append a dated section to bench/RESULTS.md
#
# In one invocation:
#   - a fresh database on the PostgreSQL of deploy/lib.sh (the private cluster, or
#     SUANLI_DATABASE_URL's server), `suanlid migrate`, bootstrap-admin;
#   - bench/export_gen.sql as a superuser (SUANLI_PG_ADMIN_URL, else the database URL's role if
#     it is a superuser): BENCH_TRADES trades in last calendar month, each a booking (2
#     postings) and a settlement (3 postings), plus a deposit per tenant the day before the
#     month — 5 x BENCH_TRADES + 2 x tenants postings (default 1,004,000), generated with
#     generate_series in one transaction with triggers off, balances fixed to match (BENCH DATA
#     ONLY: no ledger entries are signed for these rows);
#   - `suanlid serve` (build/, its own SUANLI_KEY_DIR, ledger on) on a free port in
#     18850..18899; peak RSS (VmHWM of /proc/<pid>/status) and CPU time are read before and
#     after each step:
#       1. POST /v1/periods {} (closes last month: hashes the whole export, signs PERIOD_CLOSE),
#       2. GET /v1/periods/{id}/export, BENCH_EXPORTS times (wall time, bytes, MB/s);
#       3. GET one tenant's statement (JSON);
#   - checks: every export byte-identical, its SHA-256 = X-Suanli-Sha256 = the period's
#     export_sha256, `suanli-verify file` accepts the signature, one record per
#     sl_period_lines row plus the header;
#   - baselines, same rows, same invocation: `\copy (SELECT * FROM sl_period_lines(...)) TO
#     /dev/null CSV` through psql (the database's share of an export), and `\copy` of the plain
#     postings-journal join of the period (what the raw rows cost without the per-line grouping);
#   - SIGTERM, drop the database, append the figures to bench/RESULTS.md.
#
# Environment: BENCH_TRADES (200000), BENCH_TENANTS (2000), BENCH_PROVIDERS (200), BENCH_EXPORTS
# (3), SUANLI_BIN (build/suanlid), BENCH_RESULTS (bench/RESULTS.md), BENCH_NO_RECORD=1 to print
# only, SUANLI_PG_ADMIN_URL (a superuser URL on the same server).  About 1-2 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

TRADES=${BENCH_TRADES:-200000}
TENANTS=${BENCH_TENANTS:-2000}
PROVIDERS=${BENCH_PROVIDERS:-200}
EXPORTS=${BENCH_EXPORTS:-3}
RESULTS=${BENCH_RESULTS:-bench/RESULTS.md}
SUANLI_BIN=${SUANLI_BIN:-build/suanlid}
VERIFY_BIN=$(dirname "$SUANLI_BIN")/tools/suanli-verify

die() { echo "export_bench: error: $*" >&2; exit 1; }
log() { echo "export_bench: $*" >&2; }

case "${1:-}" in
  "") ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) die "usage: bench/export_bench.sh" ;;
esac
[[ $TRADES =~ ^[0-9]+$ ]] && ((TRADES >= 1000 && TRADES <= 2000000)) || die "BENCH_TRADES must be 1000..2000000"
[[ $TENANTS =~ ^[0-9]+$ ]] && ((TENANTS >= 1 && TENANTS <= 100000)) || die "BENCH_TENANTS must be 1..100000"
[[ $PROVIDERS =~ ^[0-9]+$ ]] && ((PROVIDERS >= 1 && PROVIDERS <= 10000)) || die "BENCH_PROVIDERS must be 1..10000"
[[ $EXPORTS =~ ^[1-9]$ ]] || die "BENCH_EXPORTS must be 1..9"
for tool in python3 psql curl sha256sum; do command -v "$tool" >/dev/null 2>&1 || die "$tool not found"; done
[[ -x $SUANLI_BIN ]] || die "$SUANLI_BIN not built (cmake -S . -B build && cmake --build build -j2)"
[[ -x $VERIFY_BIN ]] || VERIFY_BIN=build/tools/suanli-verify
[[ -x $VERIFY_BIN ]] || die "suanli-verify not built"
BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$(dirname "$SUANLI_BIN")/CMakeCache.txt" 2>/dev/null || true)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/suanli-export-bench.XXXXXX")
SRV_PID="" BENCH_DB="" SAMPLER=""

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$SRV_PID/status"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$SRV_PID/status"; }
cpu_s() {  # utime + stime of the server, seconds
  python3 -c "import os,sys; f=open('/proc/%s/stat' % sys.argv[1]).read().rsplit(')',1)[1].split(); t=os.sysconf('SC_CLK_TCK'); print('%.2f' % ((int(f[11])+int(f[12]))/t))" "$SRV_PID"
}
now() { date +%s.%N; }
# sample_rss FILE: poll the server's VmRSS every 5 ms until FILE.stop exists; write the max (kB)
# to FILE (VmHWM alone can miss a short peak: the kernel updates the high-water mark lazily)
sample_rss() {
  python3 - "$SRV_PID" "$1" <<'PY' &
import os, sys, time
pid, out = sys.argv[1], sys.argv[2]
peak = 0
open(out + ".ready", "w").close()
while not os.path.exists(out + ".stop"):
    try:
        for line in open("/proc/%s/status" % pid):
            if line.startswith("VmRSS:"):
                peak = max(peak, int(line.split()[1]))
    except OSError:
        break
    time.sleep(0.005)
open(out, "w").write(str(peak))
PY
  SAMPLER=$!
  local i
  for i in $(seq 1 200); do [[ -e $1.ready ]] && break; sleep 0.01; done
}
stop_sample() {  # stop_sample FILE: stop the sampler (call it in this shell, not in $(...))
  touch "$1.stop"
  wait "$SAMPLER" 2>/dev/null || true
  [[ -s $1 ]] || echo 0 >"$1"
}
secs() { python3 -c "import sys; print('%.3f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$2"; }

# shellcheck source=../deploy/lib.sh
source deploy/lib.sh
sl_pg_start >"$TMP/pg.log" 2>&1 || { cat "$TMP/pg.log" >&2; die "PostgreSQL did not start"; }
PG_VERSION=$(psql -X -At -d "${SUANLI_PG_BASE_URL:-$SUANLI_DATABASE_URL}" -c 'SHOW server_version' 2>/dev/null || echo '?')

BENCH_DB="suanli_bench_export_$$"
export SUANLI_DATABASE_URL
SUANLI_DATABASE_URL=$(sl_createdb "$BENCH_DB")
ADMIN_URL=$SUANLI_DATABASE_URL
if [[ -n ${SUANLI_PG_ADMIN_URL:-} ]]; then
  ADMIN_URL=$(python3 -c "import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit((p.scheme, p.netloc, '/' + sys.argv[2], p.query, p.fragment)))" "$SUANLI_PG_ADMIN_URL" "$BENCH_DB")
fi
[[ $(psql -X -At -d "$ADMIN_URL" -c 'SELECT rolsuper FROM pg_roles WHERE rolname = current_user') == t ]] ||
  die "bench/export_gen.sql needs a superuser: set SUANLI_PG_ADMIN_URL"

timeout 120 "$SUANLI_BIN" migrate >"$TMP/migrate.log" 2>&1 || { cat "$TMP/migrate.log" >&2; die "migrate failed"; }
KEYS="$TMP/keys"
ADMIN=$(SUANLI_KEY_DIR=$KEYS timeout 60 "$SUANLI_BIN" bootstrap-admin 2>"$TMP/bootstrap.log") ||
  { cat "$TMP/bootstrap.log" >&2; die "bootstrap-admin failed"; }

START=$(date +%s)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
log "generating $TRADES trades ($((5 * TRADES + 2 * TENANTS)) postings) in last month"
t0=$(now)
timeout 1200 psql -X -q -d "$ADMIN_URL" -v trades="$TRADES" -v tenants="$TENANTS" -v providers="$PROVIDERS" \
  -f bench/export_gen.sql >"$TMP/gen.log" 2>&1 || { tail -n 20 "$TMP/gen.log" >&2; die "export_gen.sql failed"; }
GEN_S=$(secs "$t0" "$(now)")
read -r S_TS E_TS < <(psql -X -At -F ' ' -d "$SUANLI_DATABASE_URL" -c \
  "SELECT extract(epoch FROM date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '1 month')::bigint,
          extract(epoch FROM date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')::bigint")
read -r NPOST NTXN < <(psql -X -At -F ' ' -d "$SUANLI_DATABASE_URL" -c \
  "SELECT count(*), count(DISTINCT p.txn_id) FROM postings p JOIN journal_txns j ON j.id = p.txn_id
    WHERE j.created_at >= to_timestamp($S_TS) AND j.created_at < to_timestamp($E_TS)")
CHECKS=$(psql -X -At -d "$SUANLI_DATABASE_URL" -c "SELECT
  (SELECT count(*) FROM (SELECT txn_id FROM postings GROUP BY txn_id HAVING sum(amount) <> 0) x) || ' unbalanced, ' ||
  (SELECT count(*) FROM ledger_accounts l LEFT JOIN (SELECT ledger_account_id, sum(amount) t FROM postings GROUP BY 1) s
     ON s.ledger_account_id = l.id WHERE l.balance <> coalesce(s.t, 0)) || ' balances off'")
log "generated in ${GEN_S}s: $NPOST postings in $NTXN journal transactions in the period; $CHECKS"
[[ $CHECKS == "0 unbalanced, 0 balances off" ]] || die "the generated journal is inconsistent: $CHECKS"
((NPOST >= 1000000)) || log "warning: only $NPOST postings in the period (BENCH_TRADES=$TRADES)"

PORT=$(free_port 18850 18899)
URL="http://127.0.0.1:$PORT"
SRV_LOG="$TMP/suanlid.log"
SUANLI_LISTEN="127.0.0.1:$PORT" SUANLI_KEY_DIR=$KEYS SUANLI_LOG_LEVEL=warn "$SUANLI_BIN" serve >"$SRV_LOG" 2>&1 &
SRV_PID=$!
wait_ready "$URL" "$SRV_LOG" || die "suanlid did not become ready"
curl -s -o /dev/null -H "Authorization: Bearer $ADMIN" "$URL/v1/periods"  # warm: auth cache, connections
HWM_IDLE=$(hwm_kb) RSS_IDLE=$(rss_kb)

# 1. close last month
CPU0=$(cpu_s); t0=$(now)
sample_rss "$TMP/rss-close"
CLOSE=$(curl -s --max-time 1200 -w '\n%{http_code}' -X POST -H "Authorization: Bearer $ADMIN" \
        -H 'Content-Type: application/json' -d '{}' "$URL/v1/periods")
CLOSE_S=$(secs "$t0" "$(now)"); CLOSE_CPU=$(python3 -c "print('%.2f' % ($(cpu_s) - $CPU0))")
stop_sample "$TMP/rss-close"; CLOSE_PEAK=$(cat "$TMP/rss-close")
[[ $(tail -n 1 <<<"$CLOSE") == 201 ]] || die "closing the period: $CLOSE"
PERIOD=$(head -n 1 <<<"$CLOSE")
PID_=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$PERIOD")
PSHA=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["export_sha256"])' "$PERIOD")
HWM_CLOSE=$(hwm_kb)
log "closed period $PID_ in ${CLOSE_S}s (sha256 $PSHA); VmHWM ${HWM_IDLE} -> ${HWM_CLOSE} kB"

# 2. the export, BENCH_EXPORTS times
: >"$TMP/exports.txt"
for i in $(seq 1 "$EXPORTS"); do
  HWM0=$(hwm_kb); CPU0=$(cpu_s)
  sample_rss "$TMP/rss$i"
  W=$(curl -s --max-time 1200 -D "$TMP/h$i" -o "$TMP/export$i.csv" -w '%{http_code} %{time_total} %{time_starttransfer} %{size_download}' \
        -H "Authorization: Bearer $ADMIN" "$URL/v1/periods/$PID_/export")
  stop_sample "$TMP/rss$i"; PEAK=$(cat "$TMP/rss$i")
  read -r code total ttfb size <<<"$W"
  [[ $code == 200 ]] || die "export $i: HTTP $code"
  HWM1=$(hwm_kb)
  echo "$i $total $ttfb $size $HWM0 $HWM1 $(python3 -c "print('%.2f' % ($(cpu_s) - $CPU0))") $PEAK" >>"$TMP/exports.txt"
  log "export $i: ${total}s (first byte ${ttfb}s), $size bytes, VmHWM $HWM0 -> $HWM1 kB, sampled peak VmRSS $PEAK kB"
done
HWM_EXPORT=$(hwm_kb)

# 3. one tenant's statement (JSON)
TEN=$(psql -X -At -d "$SUANLI_DATABASE_URL" -c "SELECT min(id) FROM accounts WHERE name LIKE 'bench-t%'")
W=$(curl -s --max-time 600 -o "$TMP/statement.json" -w '%{http_code} %{time_total} %{size_download}' \
      -H "Authorization: Bearer $ADMIN" "$URL/v1/periods/$PID_/statements/$TEN")
read -r scode STMT_S STMT_SIZE <<<"$W"
[[ $scode == 200 ]] || die "statement: HTTP $scode"
HWM_STMT=$(hwm_kb)

# checks on the exports
SHA=$(sha256sum "$TMP/export1.csv" | cut -d' ' -f1)
HSHA=$(awk -F': ' 'tolower($1) == "x-suanli-sha256" {print $2}' "$TMP/h1" | tr -d '\r')
HKEY=$(awk -F': ' 'tolower($1) == "x-suanli-key-id" {print $2}' "$TMP/h1" | tr -d '\r')
HSIG=$(awk -F': ' 'tolower($1) == "x-suanli-signature" {print $2}' "$TMP/h1" | tr -d '\r')
IDENT=yes
for i in $(seq 2 "$EXPORTS"); do cmp -s "$TMP/export1.csv" "$TMP/export$i.csv" || IDENT=no; done
[[ $SHA == "$HSHA" && $SHA == "$PSHA" ]] || die "digests differ: body $SHA, header $HSHA, period $PSHA"
[[ $IDENT == yes ]] || die "the exports of the closed period differ"
printf '{"key_id": "%s", "signature": "%s", "sha256": "%s"}\n' "$HKEY" "$HSIG" "$HSHA" >"$TMP/sig.json"
curl -s -o "$TMP/keys.json" "$URL/v1/keys"
"$VERIFY_BIN" file "$TMP/export1.csv" "$TMP/sig.json" "$TMP/keys.json" >"$TMP/verify.log" 2>&1 ||
  { cat "$TMP/verify.log" >&2; die "suanli-verify rejected the export"; }
NLINES=$(psql -X -At -d "$SUANLI_DATABASE_URL" -c \
  "SELECT count(*) FROM sl_period_lines(NULL, to_timestamp($S_TS), to_timestamp($E_TS))")
NREC=$(($(wc -l <"$TMP/export1.csv") - 1))
[[ $NREC == "$NLINES" ]] || die "the export has $NREC records, sl_period_lines $NLINES rows"
stop_server

# baselines: the same rows through psql's \copy (client-side CSV), and the raw joined postings
bl() {  # bl SQL -> wall seconds
  local t0
  t0=$(now)
  psql -X -q -d "$SUANLI_DATABASE_URL" -c "\\copy ($1) TO '/dev/null' WITH (FORMAT csv, HEADER)" >/dev/null
  secs "$t0" "$(now)"
}
BL_LINES=() BL_RAW=()
for i in $(seq 1 "$EXPORTS"); do
  BL_LINES+=("$(bl "SELECT * FROM sl_period_lines(NULL, to_timestamp($S_TS), to_timestamp($E_TS))")")
  BL_RAW+=("$(bl "SELECT p.*, j.kind, j.trade_id, j.memo, j.created_at FROM postings p JOIN journal_txns j ON j.id = p.txn_id WHERE j.created_at >= to_timestamp($S_TS) AND j.created_at < to_timestamp($E_TS) ORDER BY p.ledger_account_id, p.txn_id")")
done
ELAPSED=$(( $(date +%s) - START ))
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
sl_dropdb "$BENCH_DB" >/dev/null 2>&1 || true
BENCH_DB=""

# ------------------------------------------------------------------------------ report
CPU=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)
MEM=$(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo 2>/dev/null || true)
REV=$(git rev-parse --short HEAD 2>/dev/null || echo none)
[[ -z $(git status --porcelain 2>/dev/null | head -n 1) ]] || REV="$REV+uncommitted"
CMD="bench/export_bench.sh"
[[ $TRADES != 200000 || $TENANTS != 2000 || $PROVIDERS != 200 || $EXPORTS != 3 ]] &&
  CMD="BENCH_TRADES=$TRADES BENCH_TENANTS=$TENANTS BENCH_PROVIDERS=$PROVIDERS BENCH_EXPORTS=$EXPORTS $CMD"

python3 - "$TMP/exports.txt" "$NPOST" "$NTXN" "$NLINES" "$GEN_S" "$CLOSE_S" "$CLOSE_CPU" "$HWM_IDLE" "$RSS_IDLE" \
  "$HWM_CLOSE" "$HWM_EXPORT" "$HWM_STMT" "$STMT_S" "$STMT_SIZE" "${BL_LINES[*]}" "${BL_RAW[*]}" "$CLOSE_PEAK" \
  >"$TMP/table.md" <<'EOF'
import statistics, sys
(path, npost, ntxn, nlines, gen_s, close_s, close_cpu, hwm_idle, rss_idle, hwm_close, hwm_export, hwm_stmt,
 stmt_s, stmt_size, bl_lines, bl_raw, close_peak) = sys.argv[1:]
rows = [l.split() for l in open(path) if l.strip()]
print("| step | wall s | first byte s | bytes | MB/s | suanlid CPU s | VmHWM before kB | VmHWM after kB | sampled peak VmRSS kB |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
print("| close (POST /v1/periods: hash the export, sign) | %s | - | - | - | %s | %s | %s | %s |" % (
    close_s, close_cpu, hwm_idle, hwm_close, close_peak))
walls, peaks = [], []
for i, total, ttfb, size, h0, h1, cpu, peak in rows:
    walls.append(float(total))
    peaks.append(int(peak))
    print("| export %s (GET /v1/periods/{id}/export) | %.3f | %.3f | %s | %.1f | %s | %s | %s | %s |" % (
        i, float(total), float(ttfb), size, int(size) / float(total) / 1e6, cpu, h0, h1, peak))
print("| one tenant's statement (JSON) | %s | - | %s | - | - | %s | %s | - |" % (stmt_s, stmt_size, hwm_export, hwm_stmt))
bl = [float(x) for x in bl_lines.split()]
raw = [float(x) for x in bl_raw.split()]
print()
print("- period: %s postings in %s journal transactions, %s export records (one per account and transaction);"
      " generated in %s s" % (npost, ntxn, nlines, gen_s))
print("- **export: median %.2f s** (runs %s); baseline `\\copy (SELECT * FROM sl_period_lines(...)) TO /dev/null`"
      " through psql: median %.2f s (runs %s) -> **export/baseline %.2f**; raw joined postings of the period via"
      " `\\copy`: median %.2f s" % (statistics.median(walls), ", ".join("%.2f" % w for w in walls), statistics.median(bl),
                                   ", ".join("%.2f" % b for b in bl), statistics.median(walls) / statistics.median(bl),
                                   statistics.median(raw)))
print("- **suanlid peak RSS (VmHWM): %s kB idle (VmRSS %s kB) -> %s kB after the close -> %s kB after %d exports"
      " of %.1f MB each** (growth during the exports: %d kB; VmRSS sampled every 5 ms peaked at %d kB)" % (
          hwm_idle, rss_idle, hwm_close, hwm_export, len(rows), int(rows[0][3]) / 1e6, int(hwm_export) - int(hwm_close),
          max(peaks + [int(close_peak)])))
print("- every export byte-identical, SHA-256 = X-Suanli-Sha256 = the period's export_sha256, suanli-verify file: OK")
EOF

{
  echo
  echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — closing and exporting a period of $NPOST postings"
  echo
  echo "- command: \`$CMD\` ($TRADES trades of $TENANTS tenants on $PROVIDERS pools in last month via bench/export_gen.sql, $EXPORTS exports; ${ELAPSED} s in all)"
  echo "- host: \`$(uname -srvmo)\`; nproc $(nproc); CPU: ${CPU:-unknown}; RAM ${MEM:-?}; load average $LOAD_BEFORE before, $LOAD_AFTER after"
  echo "- revision: $REV; suanlid \`$SUANLI_BIN\` (${BUILD_TYPE:-unknown}), ledger on, log level warn; PostgreSQL $PG_VERSION on the same host; curl client on the same host writing to a file"
  echo
  cat "$TMP/table.md"
} >"$TMP/report.md"

cat "$TMP/report.md"
if [[ ${BENCH_NO_RECORD:-0} != 1 ]]; then
  cat "$TMP/report.md" >>"$RESULTS"
  log "appended to $RESULTS"
fi
