#!/usr/bin/env bash
# tests/slurm/smoke.sh — smoke test of the private Slurm cluster (deploy/slurm.sh) and of the
# scontrol reservation commands the Slurm pool adapter uses, on the real Slurm 22.05.
#
#   tests/slurm/smoke.sh
#
# Starts the cluster (or uses the one running for this state folder: SUANLI_SLURM_DIR, default
# <checkout>/.slurm) and stops it at the end only when it started it (SUANLI_SLURM_KEEP=1: never).
# Needs every node free of reservations (it creates and deletes its own, `suanli-res-*` and
# `suanli-smoke-*`).  Prints `N passed, N failed`; exits 1 when a check failed.
#
# The scontrol syntax it pins down (see deploy/slurm/README.md, "scontrol on Slurm 22.05"):
#   create: scontrol create reservation ReservationName=NAME NodeCnt=N PartitionName=P
#             StartTime=YYYY-MM-DDTHH:MM:SS Duration=MINUTES Users=root
#           (StartTime is read in scontrol's own time zone: run it with TZ=UTC)
#   show:   scontrol -o show reservation NAME     (one line of Key=Value pairs)
#   delete: scontrol delete reservation NAME
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
SLURM_SH="$ROOT/deploy/slurm.sh"
export TZ=UTC        # scontrol parses and prints StartTime in the local time zone
PASS=0
FAIL=0
STARTED=0

ok()   { PASS=$((PASS + 1)); printf 'ok   %s\n' "$1"; }
fail() { FAIL=$((FAIL + 1)); printf 'FAIL %s\n' "$1"; [[ -n "${2:-}" ]] && printf '     %s\n' "$2"; return 0; }
check() {  # check NAME COMMAND...: pass when COMMAND succeeds
  local name="$1"; shift
  if "$@"; then ok "$name"; else fail "$name"; fi
}

# sc ARGS...: run scontrol; output (stdout+stderr, one line) in OUT, exit status in RC.
sc() {
  RC=0
  OUT=$(timeout 30 scontrol "$@" 2>&1) || RC=$?
  OUT=$(tr '\n' ' ' <<<"$OUT")
}

# field KEY: the value of KEY=... in OUT (a `scontrol -o show reservation` line).
field() { grep -oE "(^| )$1=[^ ]*" <<<"$OUT" | head -n 1 | sed -E "s/^ ?$1=//"; }

expect_field() {  # expect_field TESTNAME KEY VALUE
  local got
  got=$(field "$2")
  if [[ "$got" == "$3" ]]; then ok "$1"; else fail "$1" "$2: want '$3', got '$got' in: $OUT"; fi
}

expect_fail_with() {  # expect_fail_with TESTNAME TEXT  (after sc)
  if [[ $RC -ne 0 && "$OUT" == *"$2"* ]]; then ok "$1"
  else fail "$1" "want a failure saying '$2'; rc=$RC: $OUT"; fi
}

create() {  # create NAME NODECNT START DURATION_MIN [more args]
  local name="$1" cnt="$2" start="$3" dur="$4"
  shift 4
  sc create reservation "ReservationName=$name" "NodeCnt=$cnt" PartitionName=gpu \
    "StartTime=$start" "Duration=$dur" Users=root "$@"
}

cleanup() {
  local r
  for r in suanli-res-42 suanli-smoke-a suanli-smoke-b suanli-smoke-c suanli-smoke-d; do
    scontrol delete reservation "$r" >/dev/null 2>&1 || true
  done
  if [[ $STARTED == 1 && "${SUANLI_SLURM_KEEP:-0}" != 1 ]]; then "$SLURM_SH" stop || true; fi
}

# ------------------------------------------------------------------ the cluster
if "$SLURM_SH" status >/dev/null 2>&1; then
  echo "using the running cluster"
else
  STARTED=1
fi
trap cleanup EXIT
t0=$(date +%s)
if ! ENV=$("$SLURM_SH" start); then
  fail "cluster starts (deploy/slurm.sh start)"
  echo "$PASS passed, $FAIL failed"
  exit 1
fi
eval "$ENV"
ok "cluster starts (deploy/slurm.sh start, $(( $(date +%s) - t0 ))s)"
check "SLURM_CONF is exported" test -f "${SLURM_CONF:-/nonexistent}"

nodes=$(sinfo -h -N -p gpu -o '%N %T %G' 2>&1 || true)
if [[ $(grep -cE '^gpu[0-9]+ idle gpu:h100:8' <<<"$nodes") -eq 4 ]]; then
  ok "sinfo: gpu1..gpu4 idle with gpu:h100:8"
else
  fail "sinfo: gpu1..gpu4 idle with gpu:h100:8" "$(tr '\n' ';' <<<"$nodes")"
fi

sc -o show reservation
if [[ $RC -eq 0 && "$OUT" == *"No reservations in the system"* ]]; then ok "no reservations to begin with"
else fail "no reservations to begin with" "$OUT"; fi

# A job with all 8 GPUs of two nodes (the slurmds really run jobs).
# shellcheck disable=SC2016  # (expanded by the job's shell)
jobout=$(timeout 60 srun -N2 -p gpu --gres=gpu:h100:8 -t 1 \
           bash -c 'echo "$SLURMD_NODENAME $CUDA_VISIBLE_DEVICES"' 2>&1 | sort | tr '\n' ';' || true)
if [[ "$jobout" == "gpu1 0,1,2,3,4,5,6,7;gpu2 0,1,2,3,4,5,6,7;" ]]; then ok "srun -N2 --gres=gpu:h100:8 runs"
else fail "srun -N2 --gres=gpu:h100:8 runs" "$jobout"; fi

# ------------------------------------------------------------------ create / show / delete
START=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%S)
END=$(date -u -d "$START UTC + 120 minutes" +%Y-%m-%dT%H:%M:%S)

create suanli-res-42 2 "$START" 120
if [[ $RC -eq 0 && "$OUT" == "Reservation created: suanli-res-42"* ]]; then ok "create NodeCnt=2 StartTime Duration=120"
else fail "create NodeCnt=2 StartTime Duration=120" "rc=$RC: $OUT"; fi

sc -o show reservation suanli-res-42
if [[ $RC -eq 0 && $(wc -w <<<"$OUT") -gt 5 && "$OUT" == "ReservationName=suanli-res-42 "* ]]; then
  ok "show -o: one line, rc 0"
else fail "show -o: one line, rc 0" "rc=$RC: $OUT"; fi
expect_field "show: NodeCnt=2" NodeCnt 2
expect_field "show: StartTime" StartTime "$START"
expect_field "show: EndTime = start + 120 min" EndTime "$END"
expect_field "show: Duration=02:00:00" Duration 02:00:00
expect_field "show: PartitionName=gpu" PartitionName gpu
expect_field "show: Users=root" Users root
expect_field "show: State=INACTIVE (starts later)" State INACTIVE
nodes42=$(field Nodes)
if [[ "$nodes42" =~ ^gpu ]]; then ok "show: Nodes=$nodes42"; else fail "show: Nodes" "$OUT"; fi

# The multi-line form carries the same fields.
sc show reservation suanli-res-42
if [[ $RC -eq 0 && "$OUT" == *"NodeCnt=2"* && "$OUT" == *"StartTime=$START"* ]]; then ok "show (multi-line)"
else fail "show (multi-line)" "$OUT"; fi

# ------------------------------------------------------------------ errors
create suanli-res-42 2 "$START" 120
expect_fail_with "duplicate name: 'Duplicate reservation name'" "Duplicate reservation name"

# Slurm 22.05 quirk: asking for more nodes than are free creates the reservation with the
# free ones (NodeCnt=2 here, not 3).  The adapter must compare NodeCnt after create.
create suanli-smoke-a 3 "$START" 120
sc -o show reservation suanli-smoke-a
if [[ $RC -eq 0 && "$(field NodeCnt)" == 2 ]]; then
  ok "NodeCnt=3 with 2 free nodes: created with NodeCnt=2 (22.05 quirk)"
else
  fail "NodeCnt=3 with 2 free nodes: created with NodeCnt=2 (22.05 quirk)" "$OUT"
fi

# Now all 4 nodes are reserved in that window: not enough nodes.
create suanli-smoke-b 1 "$START" 120
expect_fail_with "no free node: 'Requested nodes are busy'" "Requested nodes are busy"

# The same nodes, in a window that does not overlap, are free.
LATER=$(date -u -d '+5 hours' +%Y-%m-%dT%H:%M:%S)
create suanli-smoke-c 4 "$LATER" 60
if [[ $RC -eq 0 ]]; then ok "NodeCnt=4 in a later window"; else fail "NodeCnt=4 in a later window" "$OUT"; fi

PAST=$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%S)
create suanli-smoke-d 1 "$PAST" 60
expect_fail_with "start in the past: 'Invalid time specified'" "Invalid time specified"

sc create reservation ReservationName=suanli-smoke-d NodeCnt=1 PartitionName=nosuch \
  "StartTime=$LATER" Duration=60 Users=root
expect_fail_with "unknown partition: 'Invalid partition name specified'" "Invalid partition name specified"

sc create reservation ReservationName=suanli-smoke-d NodeCnt=1 PartitionName=gpu \
  "StartTime=$LATER" Duration=60 Users=nosuchuser-suanli
expect_fail_with "unknown user: 'Invalid user id'" "Invalid user id"

sc create reservation ReservationName=suanli-smoke-d PartitionName=gpu "StartTime=$LATER" \
  Duration=60 Users=root TRES=gres/gpu:h100=8
expect_fail_with "GPU-typed TRES is refused: \"couldn't identify configured TRES\"" \
  "couldn't identify configured TRES"

# ------------------------------------------------------------------ delete
sc delete reservation suanli-res-42
if [[ $RC -eq 0 && -z "${OUT// /}" ]]; then ok "delete: rc 0, no output"; else fail "delete: rc 0, no output" "rc=$RC: $OUT"; fi

sc -o show reservation suanli-res-42
if [[ $RC -ne 0 && "$OUT" == *"Reservation suanli-res-42 not found"* ]]; then ok "show after delete: 'not found', rc 1"
else fail "show after delete: 'not found', rc 1" "rc=$RC: $OUT"; fi

sc delete reservation suanli-res-42
expect_fail_with "delete again: 'Requested reservation is invalid'" "Requested reservation is invalid"

for r in suanli-smoke-a suanli-smoke-c; do scontrol delete reservation "$r" >/dev/null 2>&1 || true; done
sc -o show reservation
if [[ "$OUT" == *"No reservations in the system"* ]]; then ok "no reservations left"
else fail "no reservations left" "$OUT"; fi

echo "$PASS passed, $FAIL failed"
((FAIL == 0))
