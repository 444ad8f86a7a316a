#!/usr/bin/env bash
# deploy/pg.sh — manage the private PostgreSQL cluster of deploy/quickstart.sh and deploy/test.sh.
#
#   deploy/pg.sh start      start it (creates it on first use) and print its URL
#   deploy/pg.sh stop       stop it
#   deploy/pg.sh restart    restart it
#   deploy/pg.sh status     where it lives and whether it runs
#   deploy/pg.sh url        print the URL of the `suanli` database (starts the cluster)
#   deploy/pg.sh psql [...] psql on the `suanli` database (starts the cluster)
#
# Port: SUANLI_PG_PORT (default 15432).  With SUANLI_DATABASE_URL set, start/url/psql use that
# server instead and stop/restart refuse to touch it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

case "${1:-status}" in
  start)   sl_pg_start; echo "$SUANLI_DATABASE_URL" ;;
  stop)    if [[ -n "${SUANLI_DATABASE_URL:-}" ]]; then SUANLI_PG_PRIVATE=0; fi; sl_pg_stop ;;
  restart) if [[ -n "${SUANLI_DATABASE_URL:-}" ]]; then SUANLI_PG_PRIVATE=0; fi; sl_pg_restart ;;
  status)  sl_pg_status ;;
  url)     sl_pg_start 2>/dev/null; echo "$SUANLI_DATABASE_URL" ;;
  psql)    shift; sl_pg_start 2>/dev/null; exec psql -X -d "$SUANLI_DATABASE_URL" "$@" ;;
  *) echo "usage: $0 start|stop|restart|status|url|psql [args]" >&2; exit 2 ;;
esac
