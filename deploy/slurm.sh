#!/usr/bin/env bash
# deploy/slurm.sh — a private, single-host Slurm cluster for the Slurm pool adapter's tests.
#
#   deploy/slurm.sh start    install slurm-wlm + munge when missing, (re)write the config, start
#                            munged, slurmctld and one `slurmd -N gpuN` per fake node, wait
#                            until every node is idle; prints `export SLURM_CONF=...` on stdout
#                            (so `eval "$(deploy/slurm.sh start)"` works)
#   deploy/slurm.sh stop     stop the daemons this state folder started (from its pid files)
#   deploy/slurm.sh status   what runs, and `sinfo`; exit status 3 when not (fully) running
#   deploy/slurm.sh env      print `export SLURM_CONF=...` (starts nothing)
#
# The cluster: ClusterName=suanli, SlurmctldHost=localhost, nodes gpu1..gpu4
# (NodeHostname=localhost, one slurmd each with its own port, spool, pid and log file, each with
# Gres=gpu:h100:8 whose "device files" are symlinks to /dev/null), one partition `gpu` (Default,
# MaxTime=INFINITE), select/cons_tres, no accounting, no cgroup plugins.  Every start of
# slurmctld begins with a clean controller state (slurmctld -c): reservations and jobs of an
# earlier run are gone.  Templates: deploy/slurm/*.in; details: deploy/slurm/README.md.
#
# Environment:
#   SUANLI_SLURM_DIR    state folder (default <checkout>/.slurm); everything lives under it:
#                       slurm.conf, gres.conf, ctld/ (StateSaveLocation), spool/gpuN/,
#                       log/, run/ (pid files) and munge/ (key, socket, munged's pid and log)
#   SUANLI_SLURM_PORT   slurmctld port (default 6917); slurmd of gpuN listens on PORT+N
#   SUANLI_SLURM_NODES  number of fake nodes (default 4)
#   SUANLI_SLURM_WAIT_S how long start waits for the nodes to be idle (default 60)
#
# munged runs as the `munge` user with its own key and socket under <state>/munge (the socket is
# named in slurm.conf by AuthInfo=socket=...), so a system munged (/run/munge), if any,
# is neither used nor disturbed.  When the munge user cannot reach the state folder (e.g. a
# checkout under /root) or the socket path would be too long, the munge folder is
# /run/suanli-munge-<hash of the state folder> instead.  Needs root.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
STATE="${SUANLI_SLURM_DIR:-$ROOT/.slurm}"
PORT="${SUANLI_SLURM_PORT:-6917}"
NODES="${SUANLI_SLURM_NODES:-4}"
WAIT_S="${SUANLI_SLURM_WAIT_S:-60}"
GPUS_PER_NODE=8
NODE_CPUS=64
NODE_MEM_MB=512000

log() { printf '[slurm] %s\n' "$*" >&2; }
die() { printf '[slurm] error: %s\n' "$*" >&2; exit 1; }

[[ "$PORT" =~ ^[0-9]+$ ]] || die "SUANLI_SLURM_PORT must be a number"
[[ "$NODES" =~ ^[1-9][0-9]*$ ]] || die "SUANLI_SLURM_NODES must be a positive number"

STATE="$(realpath -m -- "$STATE")"
CONF="$STATE/slurm.conf"
export SLURM_CONF="$CONF"

# stop/status: the port and node count of the cluster as written (not as now asked).
if [[ "${1:-}" != start && -f "$CONF" ]]; then
  PORT=$(sed -n 's/^SlurmctldPort=\([0-9]*\).*/\1/p' "$CONF" | head -n 1)
  NODES=$(grep -c '^NodeName=gpu' "$CONF" || true)
  [[ "$PORT" =~ ^[0-9]+$ && "$NODES" =~ ^[1-9][0-9]*$ ]] || die "cannot read $CONF"
fi

NODELIST="gpu[1-$NODES]"
((NODES == 1)) && NODELIST=gpu1

print_env() {
  printf 'export SLURM_CONF=%q\n' "$CONF"
  printf 'export SUANLI_SLURM_DIR=%q\n' "$STATE"
}

# ------------------------------------------------------------------------------ helpers
need_root() { [[ $(id -u) -eq 0 ]] || die "run as root (munged must run as the munge user, slurmd as root)"; }

# The munge folder (see the header).
munge_dir() {
  local d="$STATE/munge"
  if [[ $(id -u) -ne 0 ]]; then
    # (status as a user: runuser needs root; take what start chose)
    [[ -d "$d" ]] || d="/run/suanli-munge-$(printf '%s' "$STATE" | sha256sum | cut -c1-12)"
  elif (( ${#d} + 20 > 100 )) || ! id munge >/dev/null 2>&1 ||
     ! runuser -u munge -- test -x "$STATE" 2>/dev/null; then
    d="/run/suanli-munge-$(printf '%s' "$STATE" | sha256sum | cut -c1-12)"
  fi
  printf '%s' "$d"
}

# pid_alive PIDFILE WORD: the pid in PIDFILE runs and its command line contains WORD (a path of
# this state folder), so a recycled pid is never taken for ours.
pid_alive() {
  local f="$1" word="$2" pid
  [[ -s "$f" ]] || return 1
  pid=$(tr -dc '0-9' <"$f" 2>/dev/null | head -c 12)
  [[ -n "$pid" ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1   # (not kill -0: status may run as a user)
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$word"
}

pid_of() { tr -dc '0-9' <"$1" 2>/dev/null | head -c 12; }

# proc_live PID: PID runs (a zombie does not: the init of a container may reap it late).
proc_live() {
  local st
  st=$(sed -n 's/^[0-9]* (.*) \([A-Za-z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n "$st" && "$st" != Z && "$st" != X ]]
}

# stop_pidfiles NAME PIDFILE WORD [NAME PIDFILE WORD ...]: SIGTERM to each live one at once,
# wait up to 10 s for all of them, then SIGKILL what is left; the pid files are removed.
stop_pidfiles() {
  local pids=() names=() files=() pid i
  while (($# >= 3)); do
    if pid_alive "$2" "$3"; then
      pid=$(pid_of "$2")
      log "stopping $1 (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid"); names+=("$1")
    fi
    files+=("$2")
    shift 3
  done
  for _ in $(seq 1 100); do
    local left=0
    for pid in "${pids[@]}"; do proc_live "$pid" && left=1; done
    ((left == 0)) && break
    sleep 0.1
  done
  for i in "${!pids[@]}"; do
    if proc_live "${pids[$i]}"; then
      log "${names[$i]} (pid ${pids[$i]}) ignored SIGTERM for 10 s; sending SIGKILL"
      kill -KILL "${pids[$i]}" 2>/dev/null || true
    fi
  done
  rm -f "${files[@]}"
}

# port_busy PORT: something listens on PORT (ss when there, else a connect to 127.0.0.1).
port_busy() {
  if command -v ss >/dev/null 2>&1; then
    ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
  else
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
  fi
}

install_packages() {
  local want=(slurmctld slurmd slurm-client munge) missing=() p st
  for p in "${want[@]}"; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [[ "$st" == installed ]] || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  # slurm-wlm is the metapackage of slurmctld + slurmd + slurm-client.
  log "installing Debian packages: slurm-wlm munge (missing: ${missing[*]})"
  local logf
  logf=$(mktemp /tmp/suanli-slurm-apt.XXXXXX)
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends slurm-wlm munge >"$logf" 2>&1; then
    apt-get update -qq >>"$logf" 2>&1 || true
    if ! apt-get install -y -qq --no-install-recommends slurm-wlm munge >>"$logf" 2>&1; then
      tail -n 40 "$logf" >&2
      die "package installation failed (full log: $logf)"
    fi
  fi
  rm -f "$logf"
}

# write_if_changed FILE: stdin -> FILE, untouched when the content is the same.
write_if_changed() {
  local f="$1" tmp
  tmp=$(mktemp "$f.XXXXXX")
  cat >"$tmp"
  if [[ -f "$f" ]] && cmp -s "$tmp" "$f"; then rm -f "$tmp"; else chmod 644 "$tmp"; mv -f "$tmp" "$f"; fi
}

# sed_esc STRING: STRING for the right-hand side of a sed s|...|...| command.
sed_esc() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }

write_config() {
  local m="$1" n st ms
  st=$(sed_esc "$STATE")
  ms=$(sed_esc "$m/run/munge.socket")
  mkdir -p "$STATE"/{ctld,log,run}
  for n in $(seq 1 "$NODES"); do mkdir -p "$STATE/spool/gpu$n"; done
  chmod 755 "$STATE"
  # The state folder never belongs in git.
  [[ -f "$STATE/.gitignore" ]] || printf '*\n' >"$STATE/.gitignore"

  {
    cat <<EOF
# Written by deploy/slurm.sh at every start (from deploy/slurm/slurm.conf.in); do not edit.
EOF
    sed -e "s|@STATE@|$st|g" -e "s|@MUNGE_SOCKET@|$ms|g" \
        -e "s|@CTLD_PORT@|$PORT|g" -e "s|@NODELIST@|$NODELIST|g" \
        -e "s|@GPUS@|$GPUS_PER_NODE|g" \
        "$ROOT/deploy/slurm/slurm.conf.in"
    # One NodeName line per node: each slurmd has its own port.
    for n in $(seq 1 "$NODES"); do
      echo "NodeName=gpu$n NodeHostname=localhost NodeAddr=127.0.0.1 Port=$((PORT + n)) CPUs=$NODE_CPUS RealMemory=$NODE_MEM_MB Gres=gpu:h100:$GPUS_PER_NODE State=UNKNOWN"
    done
    echo "PartitionName=gpu Nodes=$NODELIST Default=YES MaxTime=INFINITE State=UP"
  } >"$CONF.new"
  if [[ -f "$CONF" ]] && ! cmp -s "$CONF.new" "$CONF" && ctld_alive; then
    rm -f "$CONF.new"
    die "the cluster runs with another configuration (port/nodes/paths); run '$0 stop' first"
  fi
  write_if_changed "$CONF" <"$CONF.new"
  rm -f "$CONF.new"

  # Fake GPU device files (see gres.conf.in).
  mkdir -p "$STATE/dev"
  for n in $(seq 0 $((GPUS_PER_NODE - 1))); do
    [[ -L "$STATE/dev/nvidia$n" ]] || ln -sfn /dev/null "$STATE/dev/nvidia$n"
  done
  sed -e "s|@NODELIST@|$NODELIST|g" -e "s|@GPUS@|$GPUS_PER_NODE|g" -e "s|@STATE@|$st|g" \
      -e "s|@LASTGPU@|$((GPUS_PER_NODE - 1))|g" \
      "$ROOT/deploy/slurm/gres.conf.in" | write_if_changed "$STATE/gres.conf"
  write_if_changed "$STATE/cgroup.conf" <"$ROOT/deploy/slurm/cgroup.conf.in"
}

# ------------------------------------------------------------------------------ munged
start_munge() {
  local m="$1"
  if pid_alive "$m/run/munged.pid" "$m/run/munge.socket"; then return 0; fi
  mkdir -p "$m"/{run,key,log,lib}
  if [[ ! -s "$m/key/munge.key" ]]; then
    log "creating the munge key"
    if command -v mungekey >/dev/null 2>&1; then
      rm -f "$m/key/munge.key"
      mungekey --create --keyfile="$m/key/munge.key" --bits=1024 >/dev/null
    else
      dd if=/dev/urandom of="$m/key/munge.key" bs=128 count=1 status=none
    fi
  fi
  chown -R munge:munge "$m"
  chmod 755 "$m" "$m/run"
  chmod 700 "$m/key" "$m/log" "$m/lib"
  chmod 400 "$m/key/munge.key"
  rm -f "$m/run/munged.pid"
  log "starting munged (socket $m/run/munge.socket)"
  # --force: run even when a folder above the state folder is not owned by root/munge (a
  # checkout owned by a user); munged then only warns.  It removes a stale socket itself.
  if ! (cd / && exec 9>&- && runuser -u munge -- /usr/sbin/munged --force \
          --socket="$m/run/munge.socket" --key-file="$m/key/munge.key" \
          --pid-file="$m/run/munged.pid" --log-file="$m/log/munged.log" \
          --seed-file="$m/lib/munged.seed") </dev/null >"$STATE/log/munged.start.log" 2>&1; then
    cat "$STATE/log/munged.start.log" >&2
    tail -n 20 "$m/log/munged.log" >&2 2>/dev/null || true
    die "munged did not start (log: $m/log/munged.log)"
  fi
  for _ in $(seq 1 50); do
    munge -n -S "$m/run/munge.socket" 2>/dev/null | unmunge -S "$m/run/munge.socket" >/dev/null 2>&1 &&
      return 0
    sleep 0.1
  done
  die "munged does not answer on $m/run/munge.socket (log: $m/log/munged.log)"
}

# ------------------------------------------------------------------------------ slurm daemons
ctld_alive() { pid_alive "$STATE/run/slurmctld.pid" "$CONF"; }
slurmd_alive() { pid_alive "$STATE/run/slurmd-gpu$1.pid" "$CONF"; }

daemon_failed() {  # daemon_failed NAME LOGFILE STARTLOG
  [[ -s "$3" ]] && cat "$3" >&2
  tail -n 25 "$2" >&2 2>/dev/null || true
  die "$1 did not start (log: $2)"
}

start_ctld() {
  if ctld_alive; then return 0; fi
  rm -f "$STATE/run/slurmctld.pid"
  port_busy "$PORT" && die "port $PORT (slurmctld) is in use by another program; set SUANLI_SLURM_PORT"
  log "starting slurmctld on port $PORT (clean state)"
  # -c: clear the saved state of an earlier run (old reservations, jobs, node states).
  (cd / && exec 9>&- && /usr/sbin/slurmctld -c -f "$CONF") </dev/null >"$STATE/log/slurmctld.start.log" 2>&1 ||
    daemon_failed slurmctld "$STATE/log/slurmctld.log" "$STATE/log/slurmctld.start.log"
  # Up when it answers a ping; gone when its pid file names no live slurmctld after 3 s.
  local t0=$SECONDS
  while (( SECONDS - t0 < 30 )); do
    timeout 10 scontrol ping 2>/dev/null | grep -q 'is UP' && return 0
    if (( SECONDS - t0 >= 3 )) && ! ctld_alive; then break; fi
    sleep 0.1
  done
  daemon_failed slurmctld "$STATE/log/slurmctld.log" "$STATE/log/slurmctld.start.log"
}

start_slurmd() {
  local n="$1" node="gpu$1"
  if slurmd_alive "$n"; then return 0; fi
  rm -f "$STATE/run/slurmd-$node.pid"
  port_busy $((PORT + n)) && die "port $((PORT + n)) (slurmd $node) is in use by another program; set SUANLI_SLURM_PORT"
  log "starting slurmd $node on port $((PORT + n))"
  (cd / && exec 9>&- && /usr/sbin/slurmd -N "$node" -f "$CONF") </dev/null >"$STATE/log/slurmd-$node.start.log" 2>&1 ||
    daemon_failed "slurmd $node" "$STATE/log/slurmd-$node.log" "$STATE/log/slurmd-$node.start.log"
}

# Wait until every node is idle (or allocated/reserved: anything that is not down/drained).
wait_idle() {
  local t0 now states bad resumed=0
  t0=$(date +%s)
  while :; do
    states=$(sinfo -h -N -p gpu -o '%N %T' 2>/dev/null | sort -u || true)
    bad=$(awk 'NF == 2 && $2 !~ /^(idle|allocated|mixed|reserved|completing|planned|maint)$/' <<<"$states")
    if [[ -n "$states" && -z "$bad" ]] && (( $(wc -l <<<"$states") == NODES )); then return 0; fi
    now=$(date +%s)
    # Nodes left DOWN/DRAINED (e.g. by a crash) come back with a resume.
    if (( resumed == 0 && now - t0 >= 3 )) && grep -qE 'down|drain|fail' <<<"$bad"; then
      log "resuming nodes: $(tr '\n' ' ' <<<"$bad")"
      scontrol update nodename="$NODELIST" state=resume >/dev/null 2>&1 || true
      resumed=1
    fi
    if (( now - t0 >= WAIT_S )); then
      echo "$states" >&2
      tail -n 15 "$STATE/log/slurmctld.log" >&2 || true
      die "the nodes are not idle after ${WAIT_S}s (logs in $STATE/log)"
    fi
    sleep 0.2
  done
}

with_lock() {
  mkdir -p "$STATE"
  exec 9>"$STATE/.lock"
  flock -w 120 9 || die "another deploy/slurm.sh holds $STATE/.lock"
}

# ------------------------------------------------------------------------------ commands
cmd_start() {
  need_root
  install_packages
  with_lock
  local t0 m n
  t0=$(date +%s)
  m=$(munge_dir)
  write_config "$m"
  start_munge "$m"
  start_ctld
  for n in $(seq 1 "$NODES"); do start_slurmd "$n"; done
  wait_idle
  log "cluster suanli up: $NODES nodes idle, SLURM_CONF=$CONF ($(( $(date +%s) - t0 ))s)"
  print_env
}

cmd_stop() {
  need_root
  with_lock
  local m n
  m=$(munge_dir)
  local args=()
  for n in $(seq 1 "$NODES"); do
    args+=("slurmd gpu$n" "$STATE/run/slurmd-gpu$n.pid" "$CONF")
  done
  stop_pidfiles "${args[@]}"
  stop_pidfiles slurmctld "$STATE/run/slurmctld.pid" "$CONF"
  stop_pidfiles munged "$m/run/munged.pid" "$m/run/munge.socket"
  # A /run fallback folder is only runtime state: leave no trace.
  if [[ "$m" == /run/suanli-munge-* ]]; then rm -rf "$m"; fi
  return 0
}

cmd_status() {
  local m n up=1 line
  m=$(munge_dir)
  echo "state folder: $STATE"
  echo "SLURM_CONF:   $CONF"
  if pid_alive "$m/run/munged.pid" "$m/run/munge.socket"; then
    echo "munged:       running, pid $(pid_of "$m/run/munged.pid") (socket $m/run/munge.socket)"
  else echo "munged:       not running"; up=0; fi
  if ctld_alive; then
    echo "slurmctld:    running, pid $(pid_of "$STATE/run/slurmctld.pid"), port $PORT"
  else echo "slurmctld:    not running"; up=0; fi
  for n in $(seq 1 "$NODES"); do
    if slurmd_alive "$n"; then
      line="running, pid $(pid_of "$STATE/run/slurmd-gpu$n.pid"), port $((PORT + n))"
    else line="not running"; up=0; fi
    printf 'slurmd gpu%-3s %s\n' "$n:" "$line"
  done
  if ctld_alive && [[ -f "$CONF" ]]; then
    sinfo -N -o '%N %P %T %G' 2>&1 || true
    scontrol show reservation 2>&1 || true
  fi
  ((up == 1)) || return 3
}

case "${1:-status}" in
  start)  cmd_start ;;
  stop)   cmd_stop ;;
  status) cmd_status ;;
  env)    print_env ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
