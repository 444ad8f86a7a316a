#!/usr/bin/env bash
# The dashboard's browser tests and the real-Prometheus test.  Run from the project root:
#
#   SUANLI_DATABASE_URL=postgresql://.../empty_db bash tests/browser/run.sh
#
#   1. installs the pinned playwright-core into tests/browser/node_modules (npm ci from the
#      committed package-lock.json; skipped when it is there);
#   2. migrates the (fresh) database, loads the demo market (deploy/seed_demo.sql), creates an
#      admin token and starts ${SUANLI_BIN:-build/suanlid} on a free loopback port;
#   3. runs tests/browser/dashboard.mjs: Debian's chromium, headless, through playwright-core,
#      and Debian's prometheus scraping /metrics (see that file for what each test checks).
# Screenshots and logs go to build/test-logs/browser/.  Prints `N passed, N failed` last and
# exits 1 when anything failed.
# Environment: SUANLI_DATABASE_URL (required; the tests write to it), SUANLI_BIN,
# SUANLI_KEY_DIR, SUANLI_CHROMIUM (default /usr/bin/chromium), SUANLI_PROMETHEUS
# (default /usr/bin/prometheus).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd -P)
: "${SUANLI_DATABASE_URL:?set SUANLI_DATABASE_URL to an empty database}"
BIN=${SUANLI_BIN:-build/suanlid}
OUT=$ROOT/build/test-logs/browser
mkdir -p "$OUT"
rm -f "$OUT"/*.png

fail() { echo "FAIL $1"; echo "0 passed, 1 failed"; exit 1; }

[[ -x "$BIN" ]] || fail "no server binary at $BIN"
if [[ ! -f tests/browser/node_modules/playwright-core/package.json ]]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error) >"$OUT/npm.log" 2>&1 ||
    fail "npm ci in tests/browser (log: $OUT/npm.log)"
fi

"$BIN" migrate >"$OUT/migrate.log" 2>&1 || fail "suanlid migrate (log: $OUT/migrate.log)"
psql -X -q -v ON_ERROR_STOP=1 -d "$SUANLI_DATABASE_URL" -f deploy/seed_demo.sql >"$OUT/seed.log" 2>&1 ||
  fail "deploy/seed_demo.sql (log: $OUT/seed.log)"
ADMIN=$("$BIN" bootstrap-admin 2>>"$OUT/migrate.log") || fail "suanlid bootstrap-admin"
# one recorded run of the ledger auditor, which the ledger view shows
"$BIN" audit >"$OUT/audit.log" 2>&1 || fail "suanlid audit on the seeded market (log: $OUT/audit.log)"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export SUANLI_KEY_DIR=${SUANLI_KEY_DIR:-$ROOT/build/test-keys}
mkdir -p "$SUANLI_KEY_DIR"
SUANLI_LISTEN=127.0.0.1:$PORT SUANLI_LOG_LEVEL=warn "$BIN" serve >"$OUT/suanlid.log" 2>&1 &
SRV=$!
trap 'kill "$SRV" 2>/dev/null || true; wait "$SRV" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  kill -0 "$SRV" 2>/dev/null || fail "suanlid exited at start (log: $OUT/suanlid.log)"
  sleep 0.1
done

rc=0
SUANLI_URL="http://127.0.0.1:$PORT" SUANLI_ADMIN_TOKEN="$ADMIN" SUANLI_TEST_OUT="$OUT" \
  node tests/browser/dashboard.mjs | tee "$OUT/dashboard.log" || rc=$?

# The server must stop cleanly: exit status 0, and no sanitizer report (leaks, UB) in its log.
kill "$SRV" 2>/dev/null || true
st=0
wait "$SRV" 2>/dev/null || st=$?
trap - EXIT
read -r p f < <(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$OUT/dashboard.log" | tail -n 1)
p=${p:-0} f=${f:-1}
if [[ $st == 0 ]] && ! grep -qE 'ERROR: (Leak|Address)Sanitizer|runtime error:' "$OUT/suanlid.log"; then
  echo "PASS suanlid stopped cleanly (exit 0, no sanitizer report)"; p=$((p + 1))
else
  echo "FAIL suanlid stopped cleanly: exit status $st; $(grep -cE 'Sanitizer|runtime error:' "$OUT/suanlid.log") sanitizer lines in $OUT/suanlid.log"
  f=$((f + 1))
fi
echo "$p passed, $f failed"
((f == 0 && rc == 0))
