#!/usr/bin/env bash
# deploy/check_seed.sh URL — the deploy stage of deploy/test.sh:
#   1. schema/002_accelerators.sql is what deploy/gen_accelerators_sql.py makes of data/, and
#      the newest schema/NNN_catalog.sql what deploy/gen_catalog_sql.py makes of data/;
#   2. on URL (a fresh, empty database), `build/suanlid migrate` then deploy/seed_demo.sql
#      load, give at least 100 pools over at least 50 regions, and a second seed run adds
#      nothing;
#   3. the seed maps every row of the price catalog to a model (it reports 0 skipped rows),
#      with the right memory (16 GB V100s apart from 32 GB ones), and every model of the
#      catalog a pool uses is in GET /v1/accelerators' table; every region has coordinates and
#      an RTT (measured or estimated) to and from us-east-1.
# Prints "N passed, N failed" last; exit status 1 on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
url="${1:?usage: deploy/check_seed.sh DATABASE_URL}"
pass=0 fail=0
ok()  { echo "PASS $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }
q()   { psql -X -tA -v ON_ERROR_STOP=1 -d "$url" -c "$1"; }
url_log=$(mktemp)
trap 'rm -f "$url_log"' EXIT

if python3 deploy/gen_accelerators_sql.py --check; then ok "schema/002 matches data/accelerators.csv"
else bad "schema/002 matches data/accelerators.csv"; fi

if python3 deploy/gen_catalog_sql.py --check; then ok "the newest schema/NNN_catalog.sql matches data/"
else bad "the newest schema/NNN_catalog.sql matches data/"; fi

if [[ ! -x build/suanlid ]]; then
  bad "seed: no build/suanlid to migrate with"
elif ! SUANLI_DATABASE_URL="$url" build/suanlid migrate; then
  bad "seed: suanlid migrate"
elif ! psql -X -q -v ON_ERROR_STOP=1 -d "$url" -f deploy/seed_demo.sql 2>"$url_log"; then
  cat "$url_log" >&2
  bad "seed: deploy/seed_demo.sql loads"
else
  cat "$url_log"
  report=$(grep -o 'catalog: [0-9]* rows; [0-9]* rows mapped to a model; [0-9]* rows skipped[^$]*' "$url_log" | head -n 1)
  if [[ "$report" =~ catalog:\ ([0-9]+)\ rows\;\ ([0-9]+)\ rows\ mapped.*\;\ ([0-9]+)\ rows\ skipped ]] &&
     [[ "${BASH_REMATCH[3]}" == 0 && "${BASH_REMATCH[1]}" == "${BASH_REMATCH[2]}" ]]; then
    ok "seed: ${BASH_REMATCH[1]} catalog rows, every one mapped to a model (0 skipped)"
  else
    bad "seed: every catalog row mapped (report: ${report:-none})"
  fi
  # memory sizes: AWS p3 and GCP V100s are the 16 GB card, p3dn the 32 GB one
  v100=$(q "SELECT string_agg(DISTINCT split_part(p.name, ' ', 1) || ':' || p.accelerator_id || ':' || a.memory_gb, ',' ORDER BY split_part(p.name, ' ', 1) || ':' || p.accelerator_id || ':' || a.memory_gb)
            FROM pools p JOIN accelerators a ON a.id = p.accelerator_id WHERE a.family = 'V100'")
  p3=$(q "SELECT count(*) FROM pools p JOIN accelerators a ON a.id = p.accelerator_id
          WHERE (p.name LIKE '%(p3.%' AND a.memory_gb <> 16) OR (p.name LIKE '%(p3dn.%' AND a.memory_gb <> 32)")
  if [[ "$p3" == 0 && "$v100" == *"gcp:V100-16GB-SXM2:16"* && "$v100" == *"aws:V100-SXM2:32"* ]]; then
    ok "seed: V100 memory sizes ($v100)"
  else
    bad "seed: V100 memory sizes ($v100; $p3 p3/p3dn pools of the wrong size)"
  fi
  models=$(q "SELECT count(DISTINCT accelerator_id) FROM pools")
  vendors=$(q "SELECT string_agg(DISTINCT a.vendor, ',' ORDER BY a.vendor) FROM pools p JOIN accelerators a ON a.id = p.accelerator_id")
  if ((models >= 40)) && [[ "$vendors" == *AMD* && "$vendors" == *AWS* && "$vendors" == *Qualcomm* ]]; then
    ok "seed: pools of $models models ($vendors)"
  else
    bad "seed: pools of $models models ($vendors)"
  fi
  located=$(q 'SELECT count(*) FROM regions WHERE lat IS NOT NULL') nregions=$(q 'SELECT count(*) FROM regions')
  est=$(q "SELECT count(*) FROM region_rtt WHERE source = 'estimated' AND from_region = 'us-east-1' AND to_region = 'us-east4'")
  # every region has an RTT (measured or estimated) from and to us-east-1
  unreached=$(q "SELECT string_agg(r.code, ',') FROM regions r WHERE NOT EXISTS (SELECT 1 FROM region_rtt l
                 WHERE l.from_region = 'us-east-1' AND l.to_region = r.code) OR NOT EXISTS (SELECT 1 FROM region_rtt l
                 WHERE l.to_region = 'us-east-1' AND l.from_region = r.code)")
  if ((located == nregions)) && [[ "$est" == 1 && -z "$unreached" ]]; then
    ok "seed: $located of $nregions regions located, each with an RTT to and from us-east-1; us-east-1 -> GCP us-east4 estimated"
  else
    bad "seed: $located of $nregions regions located, us-east-1 -> us-east4 estimated: $est; no RTT with us-east-1: ${unreached:-none}"
  fi
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
