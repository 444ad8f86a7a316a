# bench/lib.sh — what the benchmark scripts share: starting and stopping one suanlid on a
# free loopback port, and cleaning up.  Sourced; the caller sets SRV_PID, BENCH_DB and TMP,
# defines die/log, and may define bench_extra_cleanup.

# Stop the server started by the script (SIGTERM, then SIGKILL after 15 s).
stop_server() {
  [[ -n ${SRV_PID:-} ]] || return 0
  kill "$SRV_PID" 2>/dev/null || true
  local i
  for i in $(seq 1 150); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$SRV_PID" 2>/dev/null || true
  wait "$SRV_PID" 2>/dev/null || true
  SRV_PID=""
}

# On exit: stop the server, drop the bench database, keep the logs only on failure.
bench_cleanup() {
  local rc=$?
  set +e
  if declare -F bench_extra_cleanup >/dev/null; then bench_extra_cleanup; fi
  stop_server
  if [[ -n ${BENCH_DB:-} ]]; then (sl_dropdb "$BENCH_DB") >/dev/null 2>&1; fi
  if [[ $rc != 0 ]]; then log "logs kept in $TMP"; else rm -rf "$TMP"; fi
  exit $rc
}

# free_port LO HI: a free loopback port in [LO, HI].
free_port() {
  python3 - "$1" "$2" <<'PY'
import random, socket, sys
lo, hi = int(sys.argv[1]), int(sys.argv[2])
ports = list(range(lo, hi + 1))
random.shuffle(ports)
for p in ports:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break
else:
    raise SystemExit("no free port in %d..%d" % (lo, hi))
PY
}

# wait_ready URL LOG: until /readyz answers 200 (30 s), else show the log's tail.
wait_ready() {
  local i
  for i in $(seq 1 150); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1/readyz" || true) == 200 ]] && return 0
    kill -0 "$SRV_PID" 2>/dev/null || break
    sleep 0.2
  done
  tail -n 20 "$2" >&2
  return 1
}
