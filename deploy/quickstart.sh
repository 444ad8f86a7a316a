#!/usr/bin/env bash
# deploy/quickstart.sh — from a fresh checkout to a running demo market, in one command.
#
#   deploy/quickstart.sh
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
# SUANLI_THREADS, SUANLI_LOG_LEVEL (debug|info|warn|error).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$SL_ROOT"

sl_install_packages
sl_build || sl_die "the build failed"
[[ -x build/suanlid ]] || sl_die "build/suanlid was not built"
sl_pg_start

sl_log "applying the schema (suanlid migrate)"
build/suanlid migrate

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
trap 'kill -TERM "$SERVER_PID" 2>/dev/null || true' INT TERM
for _ in $(seq 1 150); do
  curl -fs "$URL/readyz" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || sl_die "suanlid exited during start-up"
  sleep 0.2
done
curl -fs "$URL/readyz" >/dev/null || sl_die "suanlid is not ready at $URL"
DEMO=$(python3 deploy/demo_accounts.py "$URL" "$TOKEN") || sl_die "seeding the demo accounts failed"
eval "$DEMO"
mkdir -p .state
printf '%s\n' "$DEMO" > .state/demo-tokens.env
chmod 600 .state/demo-tokens.env

cat <<EOF

  Suanli is running at $URL   (database: $SUANLI_DATABASE_URL)

  Tokens (new ones at every run of deploy/quickstart.sh; also in .state/demo-tokens.env):

    admin     $TOKEN
    tenant    $SUANLI_DEMO_TENANT_TOKEN   (demo-tenant, 10000.00 USD)
    operator  $SUANLI_DEMO_OPERATOR_TOKEN   (demo-operator: us-east-1, us-west-2)
    provider  $SUANLI_DEMO_PROVIDER_TOKEN   (demo-provider)

  From another terminal, as the tenant (README.md, "A whole trade"):

    export PATH=\$PWD/build:\$PATH
    echo $SUANLI_DEMO_TENANT_TOKEN | suanli login --url $URL
    suanli offers 'model=H100* gpus>=8 price<3' --limit 5

  Ctrl-C stops the server; deploy/pg.sh stop stops the database.

EOF

rc=0
wait "$SERVER_PID" || rc=$?
while kill -0 "$SERVER_PID" 2>/dev/null; do wait "$SERVER_PID" || rc=$?; done
exit "$rc"
