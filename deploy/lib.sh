# deploy/lib.sh — shared functions of the deploy scripts.  Source it from bash scripts that
# run with `set -euo pipefail`:
#
#   source "$(dirname "$0")/lib.sh"
#
#   sl_install_packages      install the Debian packages Suanli needs (no-op when present)
#   sl_build [asan]          cmake configure + build into build/ (or build-asan/)
#   sl_pg_start              use $SUANLI_DATABASE_URL, or start the private PostgreSQL cluster
#   sl_pg_stop               stop the private cluster (never an external server)
#   sl_pg_restart            restart the private cluster
#   sl_pg_status             print where the database is and whether it runs
#   sl_createdb NAME         drop and create database NAME on the same server; print its URL
#   sl_dropdb NAME           drop database NAME if it exists
#
# Variables read:
#   SUANLI_DATABASE_URL   when set before sl_pg_start: use that server, start nothing
#   SUANLI_PG_PORT        port of the private cluster (default 15432; listens on 127.0.0.1).
#                         Keep it below the kernel's ephemeral range (32768-60999): a client
#                         polling a port in that range while the server is down can be given
#                         that very port as its own and connect to itself, which then keeps
#                         PostgreSQL from binding it.
#   SUANLI_PG_DIR         folder of the private cluster (default $ROOT/.pg, see below)
#
# Exported by sl_pg_start:
#   SUANLI_DATABASE_URL      libpq URL of the `suanli` database
#   SUANLI_PG_PRIVATE        1 when the private cluster is used, 0 for an external server
#   SUANLI_PG_BASE_URL       the URL sl_createdb connects to (to CREATE/DROP DATABASE)
#   SUANLI_PG_ADMIN_URL      superuser URL (postgres role, database postgres); private only
#   SUANLI_PG_DIR, SUANLI_PG_PORT                        private cluster only
#   SUANLI_PG_RESTART_CMD    shell command that restarts the server (fast shutdown, waits
#                            until it accepts connections again); empty for an external one
#   SUANLI_PG_STOP_CMD, SUANLI_PG_START_CMD      the same for stop / start; empty if external
#   SL_PG_STARTED_BY_US      1 when this sl_pg_start call started the cluster (not exported)
#
# The private cluster lives in $ROOT/.pg (data/ = PGDATA, postgresql.log, and the unix
# socket).  PostgreSQL refuses to run as root, so when the scripts run as root the cluster
# belongs to the `postgres` system user and every server command runs through
# `runuser -u postgres`.  That user must be able to reach $ROOT/.pg: when a parent folder
# of $ROOT is not traversable by it (e.g. a checkout under /root), or when the socket path
# would be too long for a unix socket, the cluster goes to /var/tmp/suanli-pg-<hash of ROOT>
# instead.  `deploy/pg.sh status` prints the folder in use.

if [[ -z "${SL_ROOT:-}" ]]; then
  SL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
fi
ROOT="${ROOT:-$SL_ROOT}"
SL_PG_BIN="${SL_PG_BIN:-/usr/lib/postgresql/15/bin}"
SL_PG_STARTED_BY_US=0

sl_log() {
  if [[ -t 2 ]]; then printf '\033[1m[suanli]\033[0m %s\n' "$*" >&2
  else printf '[suanli] %s\n' "$*" >&2; fi
}
sl_die() { printf '[suanli] error: %s\n' "$*" >&2; exit 1; }

# Run a command as root (directly, or through sudo when we are not root).
_sl_as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else sl_die "need root (or sudo) to run: $*"
  fi
}

# ------------------------------------------------------------------------------ packages
SL_PACKAGES=(build-essential cmake pkg-config libmicrohttpd-dev libpq-dev libjansson-dev
             libsodium-dev libssl-dev libcurl4-openssl-dev libcmocka-dev libglpk-dev postgresql-15 postgresql-client-15
             python3 curl wrk ca-certificates slurm-wlm munge
             chromium prometheus clang clang-format haproxy openssl glpk-utils coinor-cbc)  # glpk-utils: glpsol, the LP bound of bench/market_quality.sh; coinor-cbc: its MQ_MIP_S integral check; clang: libFuzzer targets (tests/fuzz); clang-format: tools/checks; haproxy: the production front (deploy/haproxy)

sl_install_packages() {
  local want=("${SL_PACKAGES[@]}") missing=() p st
  if ! command -v node >/dev/null 2>&1; then want+=(nodejs npm); fi
  for p in "${want[@]}"; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [[ "$st" == installed ]] || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && { _sl_vendor_web; return 0; }
  sl_log "installing Debian packages: ${missing[*]}"
  local log
  log=$(mktemp /tmp/suanli-apt.XXXXXX)
  if ! _sl_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$log" 2>&1 ||
     ! _sl_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
         --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
    tail -n 40 "$log" >&2
    sl_die "package installation failed (full log: $log)"
  fi
  rm -f "$log"
  _sl_vendor_web
}

# The dashboard's charting library (uPlot from npm, pinned in web/package-lock.json), which the
# build compiles into suanlid.  Without it the dashboard still works, with tables and no charts.
_sl_vendor_web() {
  "$SL_ROOT/deploy/vendor_web.sh" || sl_log "warning: could not vendor uPlot (deploy/vendor_web.sh); the dashboard will have no charts"
}

# ------------------------------------------------------------------------------ build
# sl_build          -> build/       (RelWithDebInfo)
# sl_build asan     -> build-asan/  (Debug, AddressSanitizer + UndefinedBehaviorSanitizer)
# Output goes to <dir>/build.log; its tail is shown when a step fails.
sl_build() {
  local kind="${1:-release}" dir args
  case "$kind" in
    release|"") dir="$SL_ROOT/build";      args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
    asan)       dir="$SL_ROOT/build-asan"; args=(-DSUANLI_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug) ;;
    *) sl_die "sl_build: unknown kind '$kind' (use: sl_build [asan])" ;;
  esac
  mkdir -p "$dir"
  local log="$dir/build.log"
  sl_log "building ${dir#"$SL_ROOT"/}/ ($kind)"
  if ! cmake -S "$SL_ROOT" -B "$dir" "${args[@]}" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    sl_log "cmake configure failed (log: $log)"
    return 1
  fi
  # Keep going past a failing target, so that what does compile (e.g. the unit tests) is built.
  local keep_going=()
  [[ -f "$dir/Makefile" ]] && keep_going=(-- -k)
  if ! cmake --build "$dir" -j2 "${keep_going[@]}" >>"$log" 2>&1; then
    if grep -qE 'error:|undefined reference' "$log"; then
      grep -E 'error:|undefined reference' "$log" | sort -u | head -n 40 >&2
    else
      tail -n 30 "$log" >&2
    fi
    sl_log "build failed (log: $log)"
    return 1
  fi
}

# ------------------------------------------------------------------------------ PostgreSQL
_sl_pg_port() { printf '%s' "${SUANLI_PG_PORT:-15432}"; }

# The folder of the private cluster (see the header).
_sl_pg_dir() {
  if [[ -n "${SUANLI_PG_DIR:-}" ]]; then printf '%s' "$SUANLI_PG_DIR"; return; fi
  local dir="$SL_ROOT/.pg" port
  port=$(_sl_pg_port)
  # A unix socket path ("<dir>/.s.PGSQL.<port>") must fit in 107 bytes.
  if (( ${#dir} + 11 + ${#port} > 100 )) ||
     { [[ $(id -u) -eq 0 ]] && ! runuser -u postgres -- test -x "$SL_ROOT" 2>/dev/null; }; then
    local h
    h=$(printf '%s' "$SL_ROOT" | sha256sum | cut -c1-12)
    dir="/var/tmp/suanli-pg-$h"
  fi
  printf '%s' "$dir"
}

# Run a PostgreSQL server program as the cluster's owner.
_sl_pg_as_owner() {
  # (from /, which the owner can always enter: the caller's folder may not be readable)
  if [[ $(id -u) -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# The same as a single shell-quoted command line (for SUANLI_PG_*_CMD).
_sl_pg_cmdline() {
  local q
  printf -v q '%q ' "$@"
  if [[ $(id -u) -eq 0 ]]; then printf 'cd / && runuser -u postgres -- %s' "${q% }"
  else printf '%s' "${q% }"; fi
}

_sl_pg_running() {
  local data="$1"
  [[ -f "$data/postmaster.pid" ]] || return 1
  _sl_pg_as_owner "$SL_PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1
}

_sl_url_with_db() {  # URL-or-conninfo DBNAME -> the same with the database replaced
  python3 - "$1" "$2" <<'EOF'
import sys, urllib.parse as u
url, db = sys.argv[1], sys.argv[2]
if url.startswith(("postgresql://", "postgres://")):
    p = u.urlsplit(url)
    q = [(k, v) for k, v in u.parse_qsl(p.query, keep_blank_values=True) if k != "dbname"]
    print(u.urlunsplit((p.scheme, p.netloc, "/" + u.quote(db), u.urlencode(q), p.fragment)))
else:
    print(f"{url} dbname={db}")
EOF
}

sl_pg_start() {
  command -v psql >/dev/null 2>&1 || sl_die "psql not found (run sl_install_packages)"
  if [[ -n "${SUANLI_DATABASE_URL:-}" && "${SUANLI_PG_PRIVATE:-0}" != 1 ]]; then
    # An external server: check that it answers, start nothing.
    if ! pg_isready -q -d "$SUANLI_DATABASE_URL" -t 10 ||
       ! psql -X -q -d "$SUANLI_DATABASE_URL" -c 'SELECT 1' >/dev/null; then
      sl_die "SUANLI_DATABASE_URL is set but the database does not answer: $SUANLI_DATABASE_URL"
    fi
    export SUANLI_PG_PRIVATE=0
    export SUANLI_PG_BASE_URL="$SUANLI_DATABASE_URL"
    export SUANLI_PG_RESTART_CMD="" SUANLI_PG_STOP_CMD="" SUANLI_PG_START_CMD=""
    sl_log "using the database at SUANLI_DATABASE_URL (nothing started)"
    return 0
  fi

  [[ -x "$SL_PG_BIN/pg_ctl" ]] || sl_die "PostgreSQL 15 server not found in $SL_PG_BIN"
  local port dir data
  port=$(_sl_pg_port)
  dir=$(_sl_pg_dir)
  data="$dir/data"
  if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || sl_die "no 'postgres' system user (is postgresql-15 installed?)"
  fi

  if [[ ! -f "$data/PG_VERSION" ]]; then
    sl_log "creating the private PostgreSQL cluster in $dir"
    mkdir -p "$dir"
    if [[ $(id -u) -eq 0 ]]; then chown postgres:postgres "$dir"; fi
    chmod 700 "$dir"
    local locale=C
    if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then locale=C.UTF-8; fi
    if ! _sl_pg_as_owner "$SL_PG_BIN/initdb" -D "$data" --auth=trust -U postgres \
           --encoding=UTF8 --locale="$locale" >"$dir/initdb.log" 2>&1; then
      tail -n 30 "$dir/initdb.log" >&2
      sl_die "initdb failed (log: $dir/initdb.log)"
    fi
    _sl_pg_as_owner sh -c "printf '%s\n' \"include_if_exists = 'suanli.conf'\" >> '$data/postgresql.conf'"
  fi

  # Settings for a dev box, rewritten at each start (the port may change between runs).
  _sl_pg_as_owner sh -c "cat > '$data/suanli.conf'" <<EOF
# Written by deploy/lib.sh (sl_pg_start) at every start; edit deploy/lib.sh instead.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 256MB
fsync = on
synchronous_commit = on
logging_collector = off
log_line_prefix = '%m [%p] %d '
EOF

  local ctl=("$SL_PG_BIN/pg_ctl" -D "$data" -l "$dir/postgresql.log" -s -w -t 60)
  if _sl_pg_running "$data"; then
    local running_port
    running_port=$(sed -n 4p "$data/postmaster.pid" 2>/dev/null || true)
    if [[ -n "$running_port" && "$running_port" != "$port" ]]; then
      sl_log "the private cluster already runs on port $running_port (not $port); using it"
      port="$running_port"
    fi
  else
    sl_log "starting PostgreSQL on 127.0.0.1:$port (cluster $dir)"
    if ! _sl_pg_as_owner "${ctl[@]}" start >/dev/null 2>&1; then
      tail -n 20 "$dir/postgresql.log" >&2 || true
      sl_die "PostgreSQL did not start (log: $dir/postgresql.log)"
    fi
    SL_PG_STARTED_BY_US=1
  fi

  local admin="postgresql://postgres@127.0.0.1:$port/postgres"
  local i
  for i in $(seq 1 50); do
    pg_isready -q -d "$admin" && break
    sleep 0.2
  done
  pg_isready -q -d "$admin" || sl_die "PostgreSQL on port $port does not accept connections"

  # Role and database `suanli` (the application does not run as a superuser).
  psql -X -q -v ON_ERROR_STOP=1 -d "$admin" >/dev/null <<'EOF'
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'suanli') THEN
    CREATE ROLE suanli LOGIN CREATEDB;
    GRANT pg_signal_backend TO suanli;
  END IF;
END $$;
SELECT 'CREATE DATABASE suanli OWNER suanli'
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'suanli') \gexec
EOF

  export SUANLI_PG_PRIVATE=1
  export SUANLI_PG_DIR="$dir" SUANLI_PG_PORT="$port"
  export SUANLI_DATABASE_URL="postgresql://suanli@127.0.0.1:$port/suanli"
  export SUANLI_PG_BASE_URL="$SUANLI_DATABASE_URL"
  export SUANLI_PG_ADMIN_URL="$admin"
  SUANLI_PG_RESTART_CMD=$(_sl_pg_cmdline "${ctl[@]}" -m fast restart)
  SUANLI_PG_STOP_CMD=$(_sl_pg_cmdline "${ctl[@]}" -m fast stop)
  SUANLI_PG_START_CMD=$(_sl_pg_cmdline "${ctl[@]}" start)
  export SUANLI_PG_RESTART_CMD SUANLI_PG_STOP_CMD SUANLI_PG_START_CMD
}

sl_pg_stop() {
  if [[ "${SUANLI_PG_PRIVATE:-}" == 0 ]]; then
    sl_log "external database: nothing to stop"
    return 0
  fi
  local data
  data="$(_sl_pg_dir)/data"
  if _sl_pg_running "$data"; then
    sl_log "stopping PostgreSQL (cluster $(_sl_pg_dir))"
    _sl_pg_as_owner "$SL_PG_BIN/pg_ctl" -D "$data" -s -w -t 60 -m fast stop
  fi
  SL_PG_STARTED_BY_US=0
}

sl_pg_restart() {
  if [[ "${SUANLI_PG_PRIVATE:-}" == 0 ]]; then
    sl_die "external database: sl_pg_restart only restarts the private cluster"
  fi
  local data dir
  dir=$(_sl_pg_dir)
  data="$dir/data"
  if _sl_pg_running "$data"; then
    sl_log "restarting PostgreSQL (cluster $dir)"
    _sl_pg_as_owner "$SL_PG_BIN/pg_ctl" -D "$data" -l "$dir/postgresql.log" -s -w -t 60 \
      -m fast restart
  else
    sl_pg_start
  fi
}

sl_pg_status() {
  if [[ -n "${SUANLI_DATABASE_URL:-}" && "${SUANLI_PG_PRIVATE:-0}" != 1 ]]; then
    echo "external database: $SUANLI_DATABASE_URL"
    pg_isready -d "$SUANLI_DATABASE_URL" || true
    return 0
  fi
  local dir
  dir=$(_sl_pg_dir)
  echo "private cluster: $dir (port $(_sl_pg_port))"
  if _sl_pg_running "$dir/data"; then
    echo "running, pid $(head -n 1 "$dir/data/postmaster.pid"), port $(sed -n 4p "$dir/data/postmaster.pid")"
  else
    echo "not running"
    return 3
  fi
}

_sl_check_dbname() {
  [[ "$1" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || sl_die "bad database name '$1' (use [a-z0-9_])"
}

# sl_createdb NAME: a fresh, empty database NAME on the server of SUANLI_PG_BASE_URL (owned by
# the URL's role); prints its URL on stdout.
sl_createdb() {
  local name="${1:?sl_createdb NAME}" base="${SUANLI_PG_BASE_URL:-${SUANLI_DATABASE_URL:-}}"
  [[ -n "$base" ]] || sl_die "sl_createdb: call sl_pg_start first"
  _sl_check_dbname "$name"
  psql -X -q -v ON_ERROR_STOP=1 -d "$base" >/dev/null <<EOF
SET client_min_messages = warning;
DROP DATABASE IF EXISTS "$name" WITH (FORCE);
CREATE DATABASE "$name";
EOF
  _sl_url_with_db "$base" "$name"
}

sl_dropdb() {
  local name="${1:?sl_dropdb NAME}" base="${SUANLI_PG_BASE_URL:-${SUANLI_DATABASE_URL:-}}"
  [[ -n "$base" ]] || sl_die "sl_dropdb: call sl_pg_start first"
  _sl_check_dbname "$name"
  PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -d "$base" \
    -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null
}
