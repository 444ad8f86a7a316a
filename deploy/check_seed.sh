#!/usr/bin/env bash
# deploy/check_seed.sh URL — the deploy stage of deploy/test.sh:
#   1. schema/002_accelerators.sql is what deploy/gen_accelerators_sql.py makes of data/;
#   2. on URL (a fresh, empty database), `build/suanlid migrate` then deploy/seed_demo.sql
#      load, give at least 100 pools over at least 50 regions, and a second seed run adds
#      nothing.
# Prints "N passed, N failed" last; exit status 1 on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
url="${1:?usage: deploy/check_seed.sh DATABASE_URL}"
pass=0 fail=0
ok()  { echo "PASS $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }
q()   { psql -X -tA -v ON_ERROR_STOP=1 -d "$url" -c "$1"; }

if python3 deploy/gen_accelerators_sql.py --check; then ok "schema/002 matches data/accelerators.csv"
else bad "schema/002 matches data/accelerators.csv"; fi

if [[ ! -x build/suanlid ]]; then
  bad "seed: no build/suanlid to migrate with"
elif ! SUANLI_DATABASE_URL="$url" build/suanlid migrate; then
  bad "seed: suanlid migrate"
elif ! psql -X -q -v ON_ERROR_STOP=1 -d "$url" -f deploy/seed_demo.sql; then
  bad "seed: deploy/seed_demo.sql loads"
else
  pools=$(q 'SELECT count(*) FROM pools') regions=$(q 'SELECT count(DISTINCT region) FROM pools')
  lat=$(q 'SELECT count(*) FROM region_latency')
  if ((pools >= 100 && regions >= 50 && lat == 1024)); then
    ok "seed: $pools pools in $regions regions, $lat latency entries"
  else
    bad "seed: $pools pools in $regions regions, $lat latency entries (want >= 100, >= 50, 1024)"
  fi
  if psql -X -q -v ON_ERROR_STOP=1 -d "$url" -f deploy/seed_demo.sql >/dev/null 2>&1 &&
     [[ "$(q 'SELECT count(*) FROM pools')" == "$pools" ]]; then
    ok "seed: a second run adds nothing"
  else
    bad "seed: a second run adds nothing"
  fi
fi
echo "$pass passed, $fail failed"
((fail == 0))
