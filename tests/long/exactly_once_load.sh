#!/usr/bin/env bash
# tests/long/exactly_once_load.sh [ARGS...] — run tests/long/exactly_once_load.py against a fresh
# database on the private PostgreSQL cluster (SUANLI_PG_PORT), crashing that cluster with
# `pg_ctl -m immediate stop` (never use it against a server you share).  ARGS go to the script
# (e.g. --seconds 400 --kill-every 12 --pg-crash-every 30).  SUANLI_LONG_BIN: the suanlid to run
# (default build/suanlid).
set -euo pipefail
source "$(dirname "$0")/../../deploy/lib.sh"
cd "$SL_ROOT"
[[ -z "${SUANLI_DATABASE_URL:-}" ]] || sl_die "uses the private cluster only (it crashes it): unset SUANLI_DATABASE_URL"
sl_pg_start >/dev/null
URL=$(sl_createdb suanli_long_exactly_once)
STOP=${SUANLI_PG_STOP_CMD/-m fast stop/-m immediate stop}
exec python3 tests/long/exactly_once_load.py --db "$URL" --bin "${SUANLI_LONG_BIN:-$SL_ROOT/build/suanlid}" \
  --pg-stop "$STOP" --pg-start "$SUANLI_PG_START_CMD" "$@"
