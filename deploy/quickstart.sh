#!/usr/bin/env bash
# deploy/quickstart.sh — from a fresh checkout to a running demo market, in one command.
#
#   deploy/quickstart.sh              the demo market, on the real clock
#   deploy/quickstart.sh --sandbox    the same market on a fresh database whose clock runs
#                                     SUANLI_SANDBOX_SPEED (default 60) times as fast: one
#                                     market hour a minute, so that a trade starts, runs and
#                                     settles while you watch
#
# Installs the Debian packages (a no-op when present), builds build/, starts the private
# PostgreSQL cluster (or uses SUANLI_DATABASE_URL), applies the schema (`suanlid migrate`),
# seeds the demo market from data/ when the database has no pools yet (deploy/seed_demo.sql),
# creates a fresh admin token (`suanlid bootstrap-admin`), starts `suanlid serve`, seeds the
# demo tenant (funded), operator and provider accounts through the API
# (deploy/demo_accounts.py) and prints a fresh token for each with the first `suanli`
# commands, then keeps the server in the foreground (Ctrl-C stops it; PostgreSQL keeps
# running: `deploy/pg.sh stop` stops it).  The client is build/suanli, next to build/suanlid.
#
# Environment: SUANLI_DATABASE_URL (use that database instead of the private cluster),
# SUANLI_LISTEN (default 127.0.0.1:8080), SUANLI_PG_PORT (private cluster, default 15432),
# SUANLI_THREADS, SUANLI_LOG_LEVEL (debug|info|warn|error), SUANLI_SANDBOX_SPEED (--sandbox:
# market seconds per real second, 1..3600, default 60).
#
# The sandbox (--sandbox) drops and re-creates the database `suanli_sandbox` on the same
# PostgreSQL server at every run (SUANLI_DATABASE_URL's database is left alone), switches it
# to a test clock before anything happens on it (`SUANLI_CLOCK=test suanlid clock set now`,
# src/core/README.md "The clock"), seeds it like the demo, signs with keys of its own
# (.state/sandbox-keys, new at every run) and runs `suanlid clock run SPEED` beside the
# server, which prints the market's clock at every whole market hour.  Tokens, trades and
# times of the sandbox are those of that database only.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$SL_ROOT"

SANDBOX=0
case "${1:-}" in
  "") ;;
  --sandbox) SANDBOX=1 ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
  *) sl_die "unknown argument '$1' (usage: deploy/quickstart.sh [--sandbox])" ;;
esac
(($# <= 1)) || sl_die "usage: deploy/quickstart.sh [--sandbox]"
SPEED="${SUANLI_SANDBOX_SPEED:-60}"
if ((SANDBOX)); then
  [[ "$SPEED" =~ ^[0-9]+$ ]] && ((SPEED >= 1 && SPEED <= 3600)) ||
    sl_die "SUANLI_SANDBOX_SPEED must be a whole number from 1 to 3600 (market seconds per second)"
fi

sl_install_packages
sl_build || sl_die "the build failed"
[[ -x build/suanlid ]] || sl_die "build/suanlid was not built"
sl_pg_start
if ((SANDBOX)); then
  sl_log "sandbox: a fresh database suanli_sandbox (dropped and re-created at every run)"
  SUANLI_DATABASE_URL=$(sl_createdb suanli_sandbox)
  export SUANLI_DATABASE_URL
  export SUANLI_KEY_DIR="$SL_ROOT/.state/sandbox-keys"
  rm -rf "$SUANLI_KEY_DIR"
  # the maintenance worker activates and settles trades: every half second (30 market
  # seconds at the default speed) rather than every 2 s
  export SUANLI_MAINTENANCE_MS="${SUANLI_MAINTENANCE_MS:-500}"
fi

sl_log "applying the schema (suanlid migrate)"
build/suanlid migrate
if ((SANDBOX)); then
  # the one switch to a test clock, allowed only before anything happened on the database
  SUANLI_CLOCK=test build/suanlid clock set now --frozen >/dev/null ||
    sl_die "could not switch suanli_sandbox to a test clock"
fi

pools=$(psql -X -tA -v ON_ERROR_STOP=1 -d "$SUANLI_DATABASE_URL" -c 'SELECT count(*) FROM pools')
if [[ "$pools" == 0 ]]; then
  sl_log "seeding the demo market from data/ (deploy/seed_demo.sql)"
  psql -X -q -v ON_ERROR_STOP=1 -d "$SUANLI_DATABASE_URL" -f deploy/seed_demo.sql
else
  sl_log "the database already has $pools pools: not seeding"
fi

TOKEN=$(build/suanlid bootstrap-admin)
[[ -n "$TOKEN" ]] || sl_die "suanlid bootstrap-admin printed no token"

export SUANLI_LISTEN="${SUANLI_LISTEN:-127.0.0.1:8080}"
# the exchange's signing keys (created on the first start; keep them with the database)
export SUANLI_KEY_DIR="${SUANLI_KEY_DIR:-$SL_ROOT/.state/keys}"
host=${SUANLI_LISTEN%:*}
port=${SUANLI_LISTEN##*:}
[[ "$host" == 0.0.0.0 || "$host" == "*" || -z "$host" ]] && host=127.0.0.1
URL="http://$host:$port"

# the client, next to the server
ln -sf tools/suanli/suanli build/suanli
[[ -x build/suanli ]] || sl_die "build/tools/suanli/suanli was not built"

build/suanlid serve &
SERVER_PID=$!
CLOCK_PID=
stop_all() {
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  [[ -z "$CLOCK_PID" ]] || kill -TERM "$CLOCK_PID" 2>/dev/null || true
}
trap stop_all INT TERM
for _ in $(seq 1 150); do
  curl -fs "$URL/readyz" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || sl_die "suanlid exited during start-up"
  sleep 0.2
done
curl -fs "$URL/readyz" >/dev/null || sl_die "suanlid is not ready at $URL"
DEMO=$(python3 deploy/demo_accounts.py "$URL" "$TOKEN") || sl_die "seeding the demo accounts failed"
DEMO+=$'\n'"SUANLI_DEMO_URL=$URL"
eval "$DEMO"
mkdir -p .state
printf '%s\n' "$DEMO" > .state/demo-tokens.env
chmod 600 .state/demo-tokens.env

cat <<EOF

  Suanli is running at $URL   (database: $SUANLI_DATABASE_URL)
$( ((SANDBOX)) && printf '\n  SANDBOX: the market clock runs %s times as fast as real time (one market hour\n  every %s s); it is printed below at every whole market hour.\n' "$SPEED" "$((3600 / SPEED))")

  Tokens (new ones at every run of deploy/quickstart.sh; also in .state/demo-tokens.env):

    admin     $TOKEN
    tenant    $SUANLI_DEMO_TENANT_TOKEN   (demo-tenant, 10000.00 USD)
    operator  $SUANLI_DEMO_OPERATOR_TOKEN   (demo-operator: us-east-1, us-west-2)
    provider  $SUANLI_DEMO_PROVIDER_TOKEN   (demo-provider)

  From another terminal, as the tenant (README.md, "A whole trade"):

    export PATH=\$PWD/build:\$PATH
    source .state/demo-tokens.env
    echo \$SUANLI_DEMO_TENANT_TOKEN | suanli login --url \$SUANLI_DEMO_URL
    suanli offers 'model=H100* gpus>=8 price<8' --limit 5

  Ctrl-C stops the server; deploy/pg.sh stop stops the database.

EOF

if ((SANDBOX)); then
  SUANLI_CLOCK=test build/suanlid clock run "$SPEED" &
  CLOCK_PID=$!
fi

rc=0
wait "$SERVER_PID" || rc=$?
while kill -0 "$SERVER_PID" 2>/dev/null; do wait "$SERVER_PID" || rc=$?; done
if [[ -n "$CLOCK_PID" ]]; then
  kill -TERM "$CLOCK_PID" 2>/dev/null || true
  wait "$CLOCK_PID" 2>/dev/null || true
fi
exit "$rc"
