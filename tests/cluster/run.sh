#!/usr/bin/env bash
# tests/cluster/run.sh — the clustered deployment's failover test, from nothing to nothing:
# deploy/cluster.sh up (synchronous replication), tests/cluster/failover.py with three losses of
# the primary under 32 keyed clients, deploy/cluster.sh down (also when the test fails).
# Prints the test's lines and its `N passed, N failed`.  Logs of every component stay in
# build/test-logs/cluster/ (copied before the state folder is removed).
set -uo pipefail
cd "$(dirname "$0")/../.."
LOGS=build/test-logs/cluster
mkdir -p "$LOGS"
export SUANLI_CLUSTER_SYNC=on
# Request budgets off (as in the e2e suite): 32 clients on 16 tokens from one address measure
# the deployment's capacity, not the per-token fair share (which is per process).
for k in ADMIN OPERATOR PROVIDER TENANT ANONYMOUS ADDRESS; do
  v="SUANLI_RATE_$k"
  export "$v=${!v:-unlimited}"
done
deploy/cluster.sh down >/dev/null 2>&1 || true
finish() {
  cp -r "$(deploy/cluster.sh dir)/log/." "$LOGS/" 2>/dev/null || true
  deploy/cluster.sh down >/dev/null 2>&1 || true
}
trap finish EXIT
if ! ENV=$(deploy/cluster.sh up 2>"$LOGS/up.log"); then
  tail -n 20 "$LOGS/up.log"
  echo "FAIL cluster up (log: $LOGS/up.log)"
  echo "0 passed, 1 failed"
  exit 1
fi
eval "$ENV"
python3 tests/cluster/failover.py --failovers "${SUANLI_CLUSTER_FAILOVERS:-3}" --clients 32 \
  --throughput-seconds "${SUANLI_CLUSTER_THROUGHPUT_S:-8}"
