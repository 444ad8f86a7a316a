#!/usr/bin/env bash
# deploy/quickstart.sh — from a fresh checkout to a running demo market, in one command.
#
#   deploy/quickstart.sh
#
# Installs the Debian packages (a no-op when present), builds build/, starts the private
# PostgreSQL cluster (or uses SUANLI_DATABASE_URL), applies the schema (`suanlid migrate`),
# seeds the demo market from data/ when the database has no pools yet (deploy/seed_demo.sql),
# creates a fresh admin token (`suanlid bootstrap-admin`), prints it with a few example
# requests, and runs `suanlid serve` in the foreground (Ctrl-C stops it; PostgreSQL keeps
# running: `deploy/pg.sh stop` stops it).
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

cat <<EOF

  Suanli is starting at $URL   (database: $SUANLI_DATABASE_URL)

  Admin token (a new one at every run of deploy/quickstart.sh):

    $TOKEN

  Try, from another terminal:

    curl -s $URL/v1/regions -H 'Authorization: Bearer $TOKEN'
    curl -s $URL/v1/accelerators -H 'Authorization: Bearer $TOKEN'
    curl -s '$URL/v1/pools?region=us-east-1&limit=5' -H 'Authorization: Bearer $TOKEN'
    curl -s $URL/v1/keys          # the exchange's public signing keys

  Ctrl-C stops the server; deploy/pg.sh stop stops the database.

EOF

exec build/suanlid serve
