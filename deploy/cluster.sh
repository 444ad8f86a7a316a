#!/usr/bin/env bash
# deploy/cluster.sh — the clustered deployment on one machine, on loopback ports, for tests and
# demos: etcd, three PostgreSQL members under Patroni (one primary, two replicas, synchronous
# replication, automatic failover), HAProxy (TLS in front of the suanlid processes; the
# primary and the replicas for other clients), PgBouncer, and N suanlid processes.
#
#   deploy/cluster.sh up        build, start everything, wait until it serves; prints `export`
#                               lines (SUANLI_CLUSTER_URL, SUANLI_CLUSTER_CA, SUANLI_DATABASE_URL,
#                               SUANLI_CLUSTER_ADMIN_TOKEN, ...) on stdout
#   deploy/cluster.sh down      stop everything and remove the state folder
#   deploy/cluster.sh status    members and roles (patronictl list), processes, endpoints
#   deploy/cluster.sh failover  lose the primary's host: kill -9 its Patroni and its postmaster,
#                               wait for a new primary, then bring the lost member back (it
#                               rejoins as a replica, rewound by pg_rewind); prints
#                               `old=NAME new=NAME seconds=S` (S: kill to new leader)
#   deploy/cluster.sh env       print the export lines of a running cluster
#   deploy/cluster.sh heal      restart every member whose Patroni is not running
#   deploy/cluster.sh dir       print the state folder
#   deploy/cluster.sh rejoin-wait [S]  wait (at most S seconds) until every member streams
#
# Environment:
#   SUANLI_CLUSTER_DIR    state folder (default $ROOT/.cluster, or /var/tmp/suanli-cluster-<hash>
#                         when the postgres user cannot reach $ROOT; owned by postgres when root)
#   SUANLI_CLUSTER_APPS   suanlid processes behind HAProxy (default 2)
#   SUANLI_CLUSTER_SYNC   on (default) | off: synchronous replication (off is the negative
#                         control of tests/cluster/failover.py: acknowledged trades may be lost)
#   SUANLI_CLUSTER_PORT   base port (default 15440): pg-rw BASE, pg-ro BASE-1, members
#                         BASE+1..3, Patroni REST BASE+1001..1003, etcd BASE-3040/-3039,
#                         PgBouncer BASE+992, HTTPS BASE+3003, suanlid BASE+2641.., all on
#                         127.0.0.1 and below the ephemeral port range
#   SUANLI_BIN            the suanlid binary (default build/suanlid)
#
# Packages (Debian): patroni, etcd-server, etcd-client, haproxy, pgbouncer, openssl — installed
# here when missing, with the project's own (deploy/lib.sh).  deploy/README.md explains the
# topology, what each part guarantees, and how it maps to real hosts.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$SL_ROOT"

# The state folder: .cluster/ in the project, unless the postgres user cannot reach the
# project folder (a checkout under /root) or the members' unix socket paths would be too
# long; then a folder of its own under /var/tmp (as deploy/lib.sh does for .pg/).
cluster_dir() {
  if [[ -n "${SUANLI_CLUSTER_DIR:-}" ]]; then printf '%s' "$SUANLI_CLUSTER_DIR"; return; fi
  local dir="$SL_ROOT/.cluster"
  if (( ${#dir} + 20 > 100 )) ||
     { [[ $(id -u) -eq 0 ]] && ! runuser -u postgres -- test -x "$SL_ROOT" 2>/dev/null; }; then
    dir="/var/tmp/suanli-cluster-$(printf '%s' "$SL_ROOT" | sha256sum | cut -c1-12)"
  fi
  printf '%s' "$dir"
}
DIR=$(cluster_dir)
APPS="${SUANLI_CLUSTER_APPS:-2}"
SYNC="${SUANLI_CLUSTER_SYNC:-on}"
# a running cluster keeps the mode it was made with
if [[ "${1:-}" != up && -f "$DIR/sync" ]]; then SYNC=$(cat "$DIR/sync"); fi
BASE="${SUANLI_CLUSTER_PORT:-15440}"
PG_RW=$BASE
PG_RO=$((BASE - 1))
ETCD_CLIENT=$((BASE - 3040))
ETCD_PEER=$((BASE - 3039))
BOUNCER=$((BASE + 992))
HTTPS=$((BASE + 3003))
APP_BASE=$((BASE + 2641))
MEMBERS=(pg1 pg2 pg3)
BIN="${SUANLI_BIN:-$SL_ROOT/build/suanlid}"
CLUSTER_PACKAGES=(patroni etcd-server etcd-client haproxy pgbouncer openssl python3-psycopg2)

member_pg_port() { echo $((BASE + ${1#pg})); }
member_api_port() { echo $((BASE + 1000 + ${1#pg})); }
app_port() { echo $((APP_BASE + $1)); }

db_hosts() {
  local m hosts=()
  for m in "${MEMBERS[@]}"; do hosts+=("127.0.0.1:$(member_pg_port "$m")"); done
  (IFS=,; echo "${hosts[*]}")
}
# suanlid reaches the primary by itself: libpq tries each member and keeps the writable one.
db_url() {  # db_url DB [USER]
  echo "postgresql://${2:-suanli}@$(db_hosts)/$1?target_session_attrs=read-write&connect_timeout=2"
}

as_owner() { if [[ $(id -u) -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }

install_cluster_packages() {
  local missing=() p st
  for p in "${CLUSTER_PACKAGES[@]}"; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [[ "$st" == installed ]] || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  sl_log "installing Debian packages: ${missing[*]}"
  # Debian starts no service from a package in a container (policy-rc.d); on a real host,
  # disable the packaged etcd/haproxy/pgbouncer units: this script runs its own.
  _sl_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 || true
  _sl_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null || sl_die "package installation failed: ${missing[*]}"
}

render() {  # render TEMPLATE OUT [KEY=VALUE...]: replace @KEY@ by VALUE
  local tmpl="$1" out="$2" kv text
  shift 2
  text=$(cat "$tmpl")
  for kv in "$@"; do text=${text//@${kv%%=*}@/${kv#*=}}; done
  printf '%s\n' "$text" >"$out"
}

pidfile_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Start a long-running program as the cluster owner, detached (its own session), its output in
# a log, and the program's own pid in a file (setpriv execs: no wrapper process in between).
spawn() {  # spawn NAME CMD...
  local name="$1"
  shift
  local as=()
  [[ $(id -u) -eq 0 ]] && as=(setpriv --reuid=postgres --regid=postgres --init-groups --)
  (cd / && exec env HOME="$DIR" setsid "${as[@]}" "$@" >>"$DIR/log/$name.out" 2>&1 </dev/null) &
  echo $! >"$DIR/$name.pid"
}

wait_for() {  # wait_for SECONDS WHAT CMD...: poll CMD every 0.2 s
  local limit="$1" what="$2" t0
  shift 2
  t0=$(date +%s)
  until "$@" >/dev/null 2>&1; do
    (( $(date +%s) - t0 >= limit )) && sl_die "timed out after ${limit}s waiting for $what"
    sleep 0.2
  done
}

# The member whose Patroni answers 200 on /primary (a running primary holding the leader key).
leader() {
  local m
  for m in "${MEMBERS[@]}"; do
    if curl -sf -o /dev/null -m 1 "http://127.0.0.1:$(member_api_port "$m")/primary" 2>/dev/null; then
      echo "$m"
      return 0
    fi
  done
  return 1
}

# Ready: one primary, and (with synchronous replication) a synchronous standby named in
# pg_stat_replication, with every member streaming.
cluster_healthy() {
  local l
  l=$(leader) || return 1
  local port
  port=$(member_pg_port "$l")
  local want=$(( ${#MEMBERS[@]} - 1 ))
  local q="SELECT count(*) FILTER (WHERE state = 'streaming'), count(*) FILTER (WHERE sync_state = 'sync') FROM pg_stat_replication"
  local got
  got=$(psql -X -A -t -F' ' -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "$q" 2>/dev/null) || return 1
  local streaming=${got% *} sync=${got#* }
  (( streaming >= want )) || return 1
  [[ "$SYNC" != on ]] || (( sync >= 1 ))
}

start_member() {  # start_member NAME
  local m="$1"
  mkdir -p "$DIR/$m" "$DIR/log/$m"
  chmod 700 "$DIR/$m"
  render deploy/cluster/patroni.yml.tmpl "$DIR/$m.yml" NAME="$m" DIR="$DIR" \
    PG_PORT="$(member_pg_port "$m")" API_PORT="$(member_api_port "$m")" ETCD_PORT="$ETCD_CLIENT" \
    SYNC="$([[ $SYNC == on ]] && echo true || echo false)" \
    SYNC_COMMIT="$([[ $SYNC == on ]] && echo on || echo local)"
  own "$DIR/$m" "$DIR/$m.yml" "$DIR/log/$m"
  spawn "$m" patroni "$DIR/$m.yml"
}

own() { if [[ $(id -u) -eq 0 ]]; then chown -R postgres:postgres "$@"; fi; }

app_env() {  # the environment of suanlid process I (request budgets: SUANLI_RATE_* pass through)
  local v
  for v in $(compgen -e | grep '^SUANLI_RATE_' || true); do printf '%s=%s ' "$v" "${!v}"; done
  echo "SUANLI_DATABASE_URL=$(db_url suanli)" "SUANLI_LISTEN=127.0.0.1:$(app_port "$1")" \
    "SUANLI_DATABASE_READ_URL=postgresql://suanli@127.0.0.1:$PG_RO/suanli?connect_timeout=2" \
    "SUANLI_KEY_DIR=$DIR/keys" "SUANLI_LOG_LEVEL=${SUANLI_LOG_LEVEL:-warn}"
}

start_app() {  # start_app I: suanlid number I (1-based), as the invoking user
  local i="$1"
  # shellcheck disable=SC2046
  (exec env $(app_env "$i") setsid "$BIN" serve >>"$DIR/log/suanlid$i.log" 2>&1 </dev/null) &
  echo $! >"$DIR/suanlid$i.pid"
}

print_env() {
  local token=""
  [[ -f "$DIR/admin.token" ]] && token=$(cat "$DIR/admin.token")
  printf 'export SUANLI_CLUSTER_DIR=%q\n' "$DIR"
  printf 'export SUANLI_CLUSTER_URL=%q\n' "https://127.0.0.1:$HTTPS"
  printf 'export SUANLI_CLUSTER_CA=%q\n' "$DIR/tls/ca.crt"
  printf 'export SUANLI_CLUSTER_APP_URLS=%q\n' "$(for i in $(seq 1 "$APPS"); do printf 'http://127.0.0.1:%s ' "$(app_port "$i")"; done)"
  printf 'export SUANLI_DATABASE_URL=%q\n' "$(db_url suanli)"
  printf 'export SUANLI_CLUSTER_SU_URL=%q\n' "$(db_url suanli postgres)"
  printf 'export SUANLI_CLUSTER_RO_URL=%q\n' "postgresql://suanli@127.0.0.1:$PG_RO/suanli"
  printf 'export SUANLI_CLUSTER_BOUNCER_URL=%q\n' "postgresql://suanli@127.0.0.1:$BOUNCER/suanli"
  printf 'export SUANLI_KEY_DIR=%q\n' "$DIR/keys"
  printf 'export SUANLI_CLUSTER_ADMIN_TOKEN=%q\n' "$token"
}

cmd_up() {
  sl_install_packages
  install_cluster_packages
  [[ -x "$BIN" ]] || sl_build || sl_die "build failed"
  if pidfile_alive "$DIR/etcd.pid"; then
    sl_log "a cluster is already running in $DIR (deploy/cluster.sh down first)"
    print_env
    return 0
  fi
  rm -rf "$DIR"
  mkdir -p "$DIR/log" "$DIR/tls" "$DIR/keys" "$DIR/etcd"
  echo "$SYNC" >"$DIR/sync"
  chmod 700 "$DIR/keys"
  own "$DIR"
  if [[ $(id -u) -eq 0 ]] && ! runuser -u postgres -- test -w "$DIR"; then
    sl_die "the postgres user cannot write $DIR (set SUANLI_CLUSTER_DIR to a folder it can reach)"
  fi

  sl_log "etcd on 127.0.0.1:$ETCD_CLIENT"
  spawn etcd etcd --name e1 --data-dir "$DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
    --initial-cluster "e1=http://127.0.0.1:$ETCD_PEER" --initial-cluster-state new \
    --log-level warn --logger zap
  wait_for 30 "etcd" curl -sf -m 1 "http://127.0.0.1:$ETCD_CLIENT/health"

  sl_log "PostgreSQL members ${MEMBERS[*]} under Patroni (synchronous replication: $SYNC)"
  start_member "${MEMBERS[0]}"
  wait_for 90 "the first member to bootstrap as primary" leader
  local m
  for m in "${MEMBERS[@]:1}"; do start_member "$m"; done
  wait_for 120 "two streaming replicas" cluster_healthy

  local su
  su=$(db_url postgres postgres)
  psql -X -q -d "$su" -v ON_ERROR_STOP=1 \
    -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'suanli') THEN CREATE ROLE suanli LOGIN CREATEDB; END IF; END \$\$" \
    -c "CREATE DATABASE suanli OWNER suanli" >/dev/null
  env SUANLI_DATABASE_URL="$(db_url suanli)" "$BIN" migrate >/dev/null 2>>"$DIR/log/migrate.log" ||
    sl_die "suanlid migrate failed (log: $DIR/log/migrate.log)"

  sl_log "TLS certificate (a private CA for the demo; real hosts use their own)"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=Suanli demo CA" \
    -keyout "$DIR/tls/ca.key" -out "$DIR/tls/ca.crt" >/dev/null 2>&1
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$DIR/tls/server.key" \
    -out "$DIR/tls/server.csr" >/dev/null 2>&1
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$DIR/tls/san.ext"
  openssl x509 -req -in "$DIR/tls/server.csr" -CA "$DIR/tls/ca.crt" -CAkey "$DIR/tls/ca.key" \
    -CAcreateserial -days 30 -extfile "$DIR/tls/san.ext" -out "$DIR/tls/server.crt" >/dev/null 2>&1
  cat "$DIR/tls/server.crt" "$DIR/tls/server.key" >"$DIR/tls/haproxy.pem"
  chmod 600 "$DIR/tls/"*.key "$DIR/tls/haproxy.pem"

  sl_log "suanlid x$APPS behind HAProxy (https://127.0.0.1:$HTTPS)"
  local pg_servers="" app_servers="" i
  for m in "${MEMBERS[@]}"; do
    pg_servers+="  server $m 127.0.0.1:$(member_pg_port "$m") maxconn 200 check port $(member_api_port "$m")"$'\n'
  done
  for i in $(seq 1 "$APPS"); do app_servers+="  server app$i 127.0.0.1:$(app_port "$i") check"$'\n'; done
  render deploy/cluster/haproxy.cfg.tmpl "$DIR/haproxy.cfg" DIR="$DIR" PG_RW_PORT="$PG_RW" \
    PG_RO_PORT="$PG_RO" HTTPS_PORT="$HTTPS" PG_SERVERS="${pg_servers%$'\n'}" APP_SERVERS="${app_servers%$'\n'}"
  render deploy/cluster/pgbouncer.ini.tmpl "$DIR/pgbouncer.ini" DIR="$DIR" PG_RW_PORT="$PG_RW" \
    BOUNCER_PORT="$BOUNCER"
  printf '"suanli" ""\n"postgres" ""\n' >"$DIR/pgbouncer.users"
  own "$DIR/tls" "$DIR/haproxy.cfg" "$DIR/pgbouncer.ini" "$DIR/pgbouncer.users" "$DIR/log"
  haproxy -c -q -f "$DIR/haproxy.cfg" || sl_die "the HAProxy configuration does not validate"
  spawn haproxy haproxy -W -db -f "$DIR/haproxy.cfg"
  spawn pgbouncer pgbouncer "$DIR/pgbouncer.ini"   # foreground: its pid is the one spawn keeps

  # The first process makes the signing key; the others read the same folder.
  start_app 1
  wait_for 60 "suanlid 1" curl -sf -m 2 "http://127.0.0.1:$(app_port 1)/readyz"
  for i in $(seq 2 "$APPS"); do start_app "$i"; done
  for i in $(seq 2 "$APPS"); do
    wait_for 60 "suanlid $i" curl -sf -m 2 "http://127.0.0.1:$(app_port "$i")/readyz"
  done
  wait_for 30 "HAProxy to pass /readyz over TLS" \
    curl -sf -m 2 --cacert "$DIR/tls/ca.crt" "https://127.0.0.1:$HTTPS/readyz"
  wait_for 30 "PgBouncer" psql -X -q -d "postgresql://suanli@127.0.0.1:$BOUNCER/suanli" -c "SELECT 1"
  env SUANLI_DATABASE_URL="$(db_url suanli)" "$BIN" bootstrap-admin >"$DIR/admin.token" 2>/dev/null ||
    sl_die "bootstrap-admin failed"
  sl_log "cluster up: primary $(leader); deploy/cluster.sh status|failover|down"
  print_env
}

stop_pidfile() {  # stop_pidfile FILE [SIGNAL]
  local f="$1" sig="${2:-TERM}" pid t
  [[ -f "$f" ]] || return 0
  pid=$(cat "$f")
  kill -"$sig" "$pid" 2>/dev/null || true
  for t in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$f"
}

cmd_down() {
  local i m f
  for f in "$DIR"/suanlid*.pid; do [[ -e "$f" ]] && stop_pidfile "$f"; done
  stop_pidfile "$DIR/pgbouncer.pid"
  stop_pidfile "$DIR/haproxy.pid"
  for m in "${MEMBERS[@]}"; do stop_pidfile "$DIR/$m.pid"; done
  # a postmaster left behind by a killed Patroni
  for m in "${MEMBERS[@]}"; do
    [[ -f "$DIR/$m/data/postmaster.pid" ]] &&
      as_owner "$SL_PG_BIN/pg_ctl" -D "$DIR/$m/data" -m immediate -s stop >/dev/null 2>&1 || true
  done
  stop_pidfile "$DIR/etcd.pid"
  rm -rf "$DIR"
  sl_log "cluster down"
}

cmd_status() {
  if ! pidfile_alive "$DIR/etcd.pid"; then echo "no cluster running in $DIR"; return 1; fi
  patronictl -c "$DIR/pg1.yml" list 2>/dev/null || true
  local f name
  for f in "$DIR"/*.pid; do
    name=$(basename "$f" .pid)
    if pidfile_alive "$f"; then echo "$name: running (pid $(cat "$f"))"; else echo "$name: stopped"; fi
  done
  print_env
}

postmaster_pid() { head -n 1 "$DIR/$1/data/postmaster.pid" 2>/dev/null; }

cmd_failover() {
  local old new t0 t1 pm
  old=$(leader) || sl_die "no primary to fail over from"
  pm=$(postmaster_pid "$old")
  t0=$(date +%s.%N)
  # The host is lost: its Patroni (which would restart PostgreSQL in place) and its postmaster.
  kill -KILL "$(cat "$DIR/$old.pid")" 2>/dev/null || true
  pkill -KILL -f "patroni $DIR/$old.yml" 2>/dev/null || true
  # every process of that server at once (a postmaster's children outlive it for a while and
  # would go on streaming WAL and answering queries: not what a lost host does)
  [[ -n "$pm" ]] && kill -KILL "$pm" $(pgrep -P "$pm") 2>/dev/null || true
  local deadline=$(( $(date +%s) + 60 ))
  new=""
  while (( $(date +%s) < deadline )); do
    new=$(leader 2>/dev/null) && [[ "$new" != "$old" ]] && break
    new=""
    sleep 0.2
  done
  [[ -n "$new" ]] || sl_die "no new primary within 60 s of losing $old"
  t1=$(date +%s.%N)
  # The lost member's remaining backends die with the postmaster; bring it back as a replica.
  for _ in $(seq 1 50); do pgrep -u postgres -f -- "-D $DIR/$old/data" >/dev/null || break; sleep 0.1; done
  pkill -KILL -u postgres -f -- "$DIR/$old/data" 2>/dev/null || true
  start_member "$old"
  echo "old=$old new=$new seconds=$(python3 -c "print(round($t1 - $t0, 2))")"
}

# Start every member whose Patroni is not running (it rejoins as a replica).
cmd_heal() {
  local m
  for m in "${MEMBERS[@]}"; do
    pidfile_alive "$DIR/$m.pid" && continue
    pkill -KILL -u postgres -f -- "$DIR/$m/data" 2>/dev/null || true
    sl_log "restarting member $m"
    start_member "$m"
  done
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  failover) cmd_failover ;;
  env) print_env ;;
  dir) printf '%s\n' "$DIR" ;;
  heal) cmd_heal ;;
  rejoin-wait) wait_for "${2:-120}" "every member streaming" cluster_healthy ;;
  *) echo "usage: $0 up|down|status|failover|env|heal|rejoin-wait [SECONDS]" >&2; exit 2 ;;
esac
