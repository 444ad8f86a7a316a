#!/usr/bin/env bash
# deploy/test.sh — build everything and run every test suite, against a real PostgreSQL.
#
#   deploy/test.sh
#
# 1. installs the Debian packages (a no-op when present), builds build/ (RelWithDebInfo) and
#    build-asan/ (Debug, AddressSanitizer + UBSan);
# 2. starts the private PostgreSQL cluster (deploy/lib.sh), or uses SUANLI_DATABASE_URL;
# 3. runs the stages below in order, each one even when an earlier one failed:
#      unit      ctest --test-dir build, then ctest --test-dir build-asan  (cmocka)
#      static    tools/checks/run.sh: the module graph, clang-format, no build junk tracked
#                (three tests)
#      deploy    schema/002 is up to date with data/; the demo seed loads into a migrated db
#      db        build-asan/tests/db_tests on a fresh database          (when it exists), and
#                tools/checks/check_vocab.py: api/vocab.def = api/openapi.yaml and the
#                CHECKs of a freshly migrated database (with its self-test)
#      slurm     tests/slurm/smoke.sh against the private Slurm cluster (deploy/slurm.sh)
#      e2e       python3 tests/e2e/run.py --shards 2 with build-asan/suanlid (when it exists):
#                the modules in two processes at once, each on a database of its own, then
#                the timing-sensitive ones and test_ops alone (tests/e2e/README.md); and
#                bench/market_quality.sh on 50 jobs (smoke: no timing; needs glpsol)
#      contract  tests/contract/run.sh                                  (when it exists)
#      browser   tests/browser/run.sh: the dashboard in headless chromium, and a real
#                Prometheus scraping /metrics, against build-asan/suanlid on a fresh database
#      cli       python3 tests/cli/run.py: the suanli client (build-asan/) against
#                build-asan/suanlid on a fresh database                 (when it exists)
#      cluster   tests/cluster/run.sh: deploy/cluster.sh up, three failovers under keyed load
#                (tests/cluster/failover.py), deploy/cluster.sh down
#      fuzz      tests/fuzz/run.sh: libFuzzer targets replay their corpora (when it exists)
#    Each stage has a time limit, and the whole run a budget of SUANLI_TEST_BUDGET_S seconds
#    (default 2400): a stage that would start past it counts as failed.
# 4. prints a summary and, last, one line `N passed, N failed` (the tests each stage reports;
#    a stage whose numbers cannot be read counts as one test), and exits 1 if anything failed.
#
# Environment: SUANLI_DATABASE_URL (use that server: the test databases are created on it with
# CREATE DATABASE, so its role needs CREATEDB), SUANLI_PG_PORT (private cluster port, default
# 15432), SUANLI_TEST_ONLY (space-separated stage names to run, e.g. "unit e2e browser"),
# SUANLI_TEST_NO_BUILD=1 (reuse build/ and build-asan/ as they are), SUANLI_E2E_SHARDS (the e2e
# stage's worker processes, default 2; 1 runs the suite in one process, in module order).
# The private cluster is stopped at the end only when this script started it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$SL_ROOT"

T_START=$(date +%s)
BUDGET_S="${SUANLI_TEST_BUDGET_S:-2400}"   # 40 minutes in all, builds included (a quiet machine needs ~15)
DEADLINE=$(( T_START + BUDGET_S ))
TOTAL_PASS=0
TOTAL_FAIL=0
SUMMARY=()
LOGDIR="$SL_ROOT/build/test-logs"

want_stage() { [[ -z "${SUANLI_TEST_ONLY:-}" || " $SUANLI_TEST_ONLY " == *" $1 "* ]]; }

record() {  # record NAME PASSED FAILED [NOTE]
  TOTAL_PASS=$((TOTAL_PASS + $2))
  TOTAL_FAIL=$((TOTAL_FAIL + $3))
  SUMMARY+=("$(printf '%-22s %4d passed, %4d failed  %s' "$1" "$2" "$3" "${4:-}")")
  printf '\n=== %s: %d passed, %d failed %s\n' "$1" "$2" "$3" "${4:-}"
}

# run_stage NAME PARSER TIMEOUT_S CMD... : run CMD (output shown and kept in the log) for at
# most TIMEOUT_S seconds (and never past the overall budget), then turn its output and exit
# status into passed/failed counts with PARSER.
run_stage() {
  local name="$1" parser="$2" limit="$3"
  shift 3
  local slug log rc=0 t0 left
  slug=$(printf '%s' "$name" | tr -c 'a-zA-Z0-9-' '_')
  log="$LOGDIR/$slug.log"
  left=$(( DEADLINE - $(date +%s) ))
  if (( left < 30 )); then
    record "$name" 0 1 "(not run: the ${BUDGET_S}s budget is spent)"
    return
  fi
  (( limit > left )) && limit=$left
  printf '\n=== %s: %s\n' "$name" "$*"
  t0=$(date +%s)
  # In the background, so that Ctrl-C (trapped below) can stop the stage's whole process
  # group through timeout; tail shows the output as it comes.
  PYTHONUNBUFFERED=1 timeout -k 15 "$limit" "$@" >"$log" 2>&1 </dev/null &
  STAGE_PID=$!
  tail -n +1 -f --pid="$STAGE_PID" "$log" 2>/dev/null &
  local tail_pid=$!
  wait "$STAGE_PID" || rc=$?
  while kill -0 "$STAGE_PID" 2>/dev/null; do wait "$STAGE_PID" || rc=$?; done
  STAGE_PID=
  wait "$tail_pid" 2>/dev/null || true
  [[ "$INTERRUPTED" == 1 ]] && exit 130
  local counts p f note
  counts=$("$parser" "$log")
  p=${counts% *}
  f=${counts#* }
  note="($(( $(date +%s) - t0 ))s"
  if [[ $rc -eq 124 || $rc -eq 137 ]]; then note+=", timed out after ${limit}s"; fi
  if [[ -z "$counts" ]]; then
    # Nothing to read: the stage is one test.
    if [[ $rc -eq 0 ]]; then p=1 f=0; else p=0 f=1; fi
  elif [[ $rc -ne 0 && $f -eq 0 ]]; then
    # It failed without saying which test (a crash, a leak report at exit, a timeout).
    f=1
  fi
  [[ $rc -ne 0 ]] && note+=", exit status $rc"
  record "$name" "$p" "$f" "$note)"
}

STAGE_PID=
INTERRUPTED=0
on_interrupt() {
  INTERRUPTED=1
  if [[ -n "$STAGE_PID" ]]; then kill -TERM "$STAGE_PID" 2>/dev/null || true; else exit 130; fi
}
trap on_interrupt INT TERM

# Parsers: print "PASSED FAILED", or nothing when the log has no summary.
parse_ctest() {
  # "100% tests passed, 0 tests failed out of 12"; "No tests were found!!!" -> 0 0
  if grep -q 'No tests were found' "$1"; then echo "0 0"; return; fi
  sed -nE 's/.*tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\2 \1/p' "$1" | tail -n 1 |
    awk '{ if (NF == 2) print $1 - $2, $2 }'
}
parse_summary() {
  # "N passed, N failed" (the last one printed)
  sed -nE 's/.*\b([0-9]+) passed, ([0-9]+) failed.*/\1 \2/p' "$1" | tail -n 1
}
parse_cmocka() {
  # cmocka: "[  PASSED  ] N test(s)." and "[  FAILED  ] N test(s), listed below:", per group
  awk '/^\[  PASSED  \] [0-9]+ test/ { p += $4; seen = 1 }
       /^\[  FAILED  \] [0-9]+ test/ { f += $4; seen = 1 }
       END { if (seen) print p + 0, f + 0 }' "$1"
}
parse_e2e() {
  # the e2e summary; when the stage was cut short (time limit), the tests it reported so far
  # (one PASS/FAIL line each), so that a timeout still counts tests, not one stage
  local s
  s=$(parse_summary "$1")
  if [[ -n "$s" ]]; then echo "$s"; return; fi
  awk '/^PASS / { p++ } /^FAIL / { f++ } END { if (p + f) print p + 0, f + 0 }' "$1"
}
parse_none() { :; }

sl_install_packages

mkdir -p "$SL_ROOT/build"
mkdir -p "$LOGDIR"
ASAN_OK=1
if [[ "${SUANLI_TEST_NO_BUILD:-0}" != 1 ]]; then
  if ! sl_build; then record "build (build/)" 0 1 "(see build/build.log)"; fi
  if ! sl_build asan; then ASAN_OK=0; record "build (build-asan/)" 0 1 "(see build-asan/build.log)"; fi
fi

sl_pg_start
STARTED_PG=$SL_PG_STARTED_BY_US
EXTERNAL_DBS=()
cleanup() {
  local db
  if [[ "${SUANLI_PG_PRIVATE:-1}" == 0 ]]; then
    for db in "${EXTERNAL_DBS[@]}"; do sl_dropdb "$db" 2>/dev/null || true; done
  fi
  if [[ "$STARTED_PG" == 1 ]]; then sl_pg_stop || true; fi
  if [[ "${STARTED_SLURM:-0}" == 1 ]]; then deploy/slurm.sh stop >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

# A real single-host Slurm cluster for the Slurm adapter's tests (deploy/slurm/README.md).
STARTED_SLURM=0
if want_stage slurm || want_stage e2e; then
  deploy/slurm.sh status >/dev/null 2>&1 || STARTED_SLURM=1
  if SLURM_ENV=$(deploy/slurm.sh start); then eval "$SLURM_ENV"
  else STARTED_SLURM=0; record "slurm (cluster start)" 0 1 "(logs in .slurm/log/)"; fi
fi
# Signing keys of the test servers live with the build, never in the project folder.
export SUANLI_KEY_DIR="$SL_ROOT/build/test-keys"

fresh_db() {  # fresh_db NAME: create an empty database NAME; its URL in FRESH_URL
  if [[ "${SUANLI_PG_PRIVATE:-1}" == 0 ]]; then EXTERNAL_DBS+=("$1"); fi
  FRESH_URL=$(sl_createdb "$1")
}

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# ---------------------------------------------------------------- a. unit tests
if want_stage unit; then
  run_stage "unit (build)" parse_ctest 180 ctest --test-dir build --output-on-failure
  run_stage "unit (build-asan)" parse_ctest 600 ctest --test-dir build-asan --output-on-failure
fi

# ---------------------------------------------------------------- static checks
# The include graph against the layering (tools/checks/modules.txt), clang-format over every
# tracked .c/.h, and `git ls-files` free of build junk: one test each (tools/checks/README.md).
if want_stage static; then
  run_stage "static" parse_summary 120 bash tools/checks/run.sh
fi

# ---------------------------------------------------------------- deploy checks
if want_stage deploy; then
  fresh_db suanli_test_seed
  run_stage "deploy" parse_summary 120 deploy/check_seed.sh "$FRESH_URL"
fi

# ---------------------------------------------------------------- b. database tests
if want_stage db && [[ -x build-asan/tests/db/db_tests && $ASAN_OK == 0 ]]; then
  record "db" 0 1 "(not run: build-asan/ did not build)"
elif want_stage db && [[ -x build-asan/tests/db/db_tests ]]; then
  fresh_db suanli_test_db
  run_stage "db" parse_cmocka 300 env SUANLI_DATABASE_URL="$FRESH_URL" SUANLI_ROOT="$SL_ROOT" \
    build-asan/tests/db/db_tests
fi

# ---------------------------------------------------------------- vocabulary registry
# api/vocab.def against api/openapi.yaml and a freshly migrated database, and the checker's
# self-test on planted differences (tools/checks/test_check_vocab.py).
if want_stage db && [[ -x build-asan/suanlid ]]; then
  fresh_db suanli_test_vocab
  run_stage "db (vocab)" parse_summary 180 env PYTHONDONTWRITEBYTECODE=1 \
    SUANLI_BIN="$SL_ROOT/build-asan/suanlid" python3 tools/checks/test_check_vocab.py --database-url "$FRESH_URL"
fi

# ---------------------------------------------------------------- slurm smoke test
if want_stage slurm && [[ -n "${SLURM_CONF:-}" ]]; then
  run_stage "slurm" parse_summary 120 bash tests/slurm/smoke.sh
fi

# ---------------------------------------------------------------- c. end-to-end tests
if want_stage e2e && [[ -f tests/e2e/run.py && $ASAN_OK == 0 ]]; then
  # (not against a stale binary)
  record "e2e" 0 1 "(not run: build-asan/ did not build)"
elif want_stage e2e && [[ -f tests/e2e/run.py ]]; then
  fresh_db suanli_test_e2e
  # the shards make their own databases next to this one (suanli_test_e2e_shard<i>) and drop them;
  # the limit leaves room for a loaded machine
  run_stage "e2e" parse_e2e 1500 env \
    SUANLI_BIN="$SL_ROOT/build-asan/suanlid" \
    SUANLI_DATABASE_URL="$FRESH_URL" \
    SUANLI_ROOT="$SL_ROOT" \
    SUANLI_PG_RESTART_CMD="$SUANLI_PG_RESTART_CMD" \
    SUANLI_PG_STOP_CMD="$SUANLI_PG_STOP_CMD" \
    SUANLI_PG_START_CMD="$SUANLI_PG_START_CMD" \
    SUANLI_PG_ADMIN_URL="${SUANLI_PG_ADMIN_URL:-}" \
    SUANLI_KEY_DIR="$SUANLI_KEY_DIR" \
    SLURM_CONF="${SLURM_CONF:-}" \
    SUANLI_WEBHOOK_ALLOW="127.0.0.0/8" \
    ASAN_OPTIONS="detect_leaks=1:abort_on_error=0" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    python3 tests/e2e/run.py --shards "${SUANLI_E2E_SHARDS:-2}"
  # The market-quality benchmark on a tiny instance (50 jobs, relaxed, not timed, results
  # thrown away): catches breakage of bench/market_quality.sh and checks on the way that its
  # trades break no constraint, every non-fill is explained truly and the LP bounds hold
  # (MQ_STRICT) — the cost bound also against a real assignment found by CBC (MQ_MIP_S).
  # ~30 s; needs glpsol and cbc.
  if command -v glpsol >/dev/null 2>&1 && command -v cbc >/dev/null 2>&1; then
    MQ_BIN="$SL_ROOT/build/suanlid"
    [[ -x $MQ_BIN ]] || MQ_BIN="$SL_ROOT/build-asan/suanlid"
    run_stage "e2e (market quality smoke)" parse_summary 180 env SUANLI_BIN="$MQ_BIN" \
      MQ_JOBS=50 MQ_BG_DAYS=2 MQ_PATTERNS=relaxed MQ_STRICT=1 MQ_MIP_S=30 BENCH_RESULTS=/dev/null BENCH_DB_NAME=suanli_test_mq \
      SUANLI_KEY_DIR="$SUANLI_KEY_DIR" bash bench/market_quality.sh
  else
    record "e2e (market quality smoke)" 0 1 "(not run: glpsol or cbc not found; sl_install_packages installs glpk-utils and coinor-cbc)"
  fi
fi

# ---------------------------------------------------------------- d. API contract
if want_stage contract && [[ -f tests/contract/run.sh ]]; then
  run_stage "contract" parse_summary 300 bash tests/contract/run.sh
fi

# ---------------------------------------------------------------- e. dashboard in a browser
if want_stage browser && [[ -f tests/browser/run.sh && $ASAN_OK == 0 ]]; then
  record "browser" 0 1 "(not run: build-asan/ did not build)"
elif want_stage browser && [[ -f tests/browser/run.sh ]]; then
  fresh_db suanli_test_browser
  run_stage "browser" parse_summary 240 env SUANLI_BIN="$SL_ROOT/build-asan/suanlid" \
    SUANLI_DATABASE_URL="$FRESH_URL" SUANLI_KEY_DIR="$SUANLI_KEY_DIR" \
    ASAN_OPTIONS="detect_leaks=1:abort_on_error=0" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    bash tests/browser/run.sh
fi

# ---------------------------------------------------------------- f. the suanli CLI
if want_stage cli && [[ -f tests/cli/run.py && $ASAN_OK == 0 ]]; then
  record "cli" 0 1 "(not run: build-asan/ did not build)"
elif want_stage cli && [[ -f tests/cli/run.py ]]; then
  fresh_db suanli_test_cli
  run_stage "cli" parse_summary 300 env \
    SUANLI_BIN="$SL_ROOT/build-asan/suanlid" \
    SUANLI_CLI="$SL_ROOT/build-asan/tools/suanli/suanli" \
    SUANLI_WEBHOOK_ALLOW="127.0.0.0/8" \
    SUANLI_DATABASE_URL="$FRESH_URL" \
    SUANLI_ROOT="$SL_ROOT" \
    SUANLI_KEY_DIR="$SUANLI_KEY_DIR" \
    ASAN_OPTIONS="detect_leaks=1:abort_on_error=0" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    python3 tests/cli/run.py
fi

# ---------------------------------------------------------------- g. the clustered deployment
# deploy/cluster.sh (etcd, three PostgreSQL members under Patroni with synchronous replication,
# HAProxy with TLS, PgBouncer, two suanlid from build/): 32 clients send keyed orders while the
# primary's host is lost three times; nothing acknowledged may be lost or doubled.
if want_stage cluster && [[ -f tests/cluster/run.sh ]]; then
  run_stage "cluster" parse_summary 600 bash tests/cluster/run.sh
fi

# ---------------------------------------------------------------- h. fuzz corpus replay
# libFuzzer targets (clang, ASan + UBSan) replaying their checked-in corpora: bounded, about a
# minute with the build (tests/fuzz/run.sh; `run.sh fuzz SECONDS` fuzzes for real).
if want_stage fuzz && [[ -f tests/fuzz/run.sh ]]; then
  run_stage "fuzz" parse_summary 240 bash tests/fuzz/run.sh replay
fi

# ---------------------------------------------------------------- summary
trap - EXIT
cleanup
echo
echo "=== summary ($(( $(date +%s) - T_START ))s; logs in ${LOGDIR#"$SL_ROOT"/}/)"
for line in "${SUMMARY[@]}"; do echo "  $line"; done
echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
((TOTAL_FAIL == 0))
