#!/usr/bin/env bash
# bench/offers_bench.sh — GET /v1/offers (free GPUs in a window, filtered, sorted) against
# the plain pool listing GET /v1/pools of the same size, on a running suanlid with the demo
# market, alternating, in one run; appends a section to bench/RESULTS.md.
#
#   bench/offers_bench.sh URL TOKEN        (e.g. http://127.0.0.1:8080 and a tenant token)
#
# Environment: BENCH_DURATION (default 5s), BENCH_THREADS (2), BENCH_CONNECTIONS (16),
# BENCH_ROUNDS (2).
set -euo pipefail
URL=${1:?usage: bench/offers_bench.sh URL TOKEN}
TOKEN=${2:?usage: bench/offers_bench.sh URL TOKEN}
D=${BENCH_DURATION:-5s} T=${BENCH_THREADS:-2} C=${BENCH_CONNECTIONS:-16} R=${BENCH_ROUNDS:-2}
cd "$(dirname "$0")/.."
OUT=bench/RESULTS.md
declare -A PATHS=(
  [pools]="/v1/pools?limit=100"
  [offers]="/v1/offers?limit=100"
  [offers_filtered]="/v1/offers?accelerator=H100*&min_gpus=8&start=now%2B2h&duration=24h&origin=us-east-1&max_rtt_ms=80&sort=rtt&limit=100"
)
ORDER=(pools offers offers_filtered)
rows=""
declare -A SUM
for name in "${ORDER[@]}"; do
  bytes=$(curl -fs "$URL${PATHS[$name]}" -H "Authorization: Bearer $TOKEN" | wc -c)
  items=$(curl -fs "$URL${PATHS[$name]}" -H "Authorization: Bearer $TOKEN" |
          python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')
  SUM[$name]=0
  rows+="| - | $name | \`${PATHS[$name]}\` → $items items, $bytes bytes | | | |"$'\n'
done
for r in $(seq 1 "$R"); do
  for name in "${ORDER[@]}"; do
    out=$(wrk -t"$T" -c"$C" -d"$D" --latency -H "Authorization: Bearer $TOKEN" "$URL${PATHS[$name]}")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
    SUM[$name]=$(python3 -c "print(${SUM[$name]} + $rps)")
    rows+="| $r | $name | | $rps | $p50 | $p99 | ${non2xx:-0} |"$'\n'
  done
done
mean() { python3 -c "print(round(${SUM[$1]} / $R, 1))"; }
ratio() { python3 -c "print(round(${SUM[$1]} / ${SUM[pools]}, 3))"; }
{
  echo
  echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — GET /v1/offers vs GET /v1/pools"
  echo
  echo "- command: \`bench/offers_bench.sh URL TOKEN\` (wrk -t$T -c$C -d$D --latency, alternating, $R round(s))"
  echo "- host: \`$(uname -srvm)\`; nproc $(nproc); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- revision: $(git rev-parse --short HEAD)$(git diff --quiet || echo +uncommitted); server: $URL (demo market)"
  echo
  echo "| run | target | request | req/s | p50 | p99 | non-2xx |"
  echo "|---:|---|---|---:|---:|---:|---:|"
  printf '%s' "$rows"
  echo
  for name in "${ORDER[@]}"; do echo "- $name mean: $(mean "$name") req/s; ratio to pools: **$(ratio "$name")**"; done
} >> "$OUT"
tail -n 20 "$OUT"
