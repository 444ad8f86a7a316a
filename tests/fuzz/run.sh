#!/usr/bin/env bash
# tests/fuzz/run.sh — libFuzzer targets (Debian clang) with AddressSanitizer + UBSan.
#
#   bash tests/fuzz/run.sh                 build, then replay every checked-in corpus (CI)
#   bash tests/fuzz/run.sh fuzz SECONDS    build, then fuzz each target SECONDS and merge new
#                                          coverage into its corpus (prints execs per target)
#   bash tests/fuzz/run.sh build           build only
#
# Targets (tests/fuzz/fuzz_<name>.c, corpus in tests/fuzz/corpus/<name>/, seeded from the
# test suite's inputs by tests/fuzz/seed.py):
#   target   the raw request target: path canonicalisation, query checks (src/core/rawpath.c)
#   order    request JSON -> body parser -> order decoder (jsonspec.c, market/order.c)
#   records  the signed-record decoders, with a decode/encode round trip (ledger/records.c)
#   merkle   inclusion and consistency proof verification (ledger/merkle.c)
#   verify   suanli-verify's receipt and checkpoint parsers (tools/verify_common.c)
# Binaries go to build-fuzz/.  Prints one line per target and `N passed, N failed`.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODE=${1:-replay}
SECS=${2:-60}
OUT=build-fuzz
TARGETS=(target order records merkle verify)
CC=${FUZZ_CC:-clang}
command -v "$CC" >/dev/null || { echo "fuzz: $CC not found (apt-get install clang)"; echo "0 passed, 1 failed"; exit 1; }
mkdir -p "$OUT"
FLAGS=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
       -Iinclude -I. $(pkg-config --cflags jansson libsodium))
LIBS=($(pkg-config --libs jansson libsodium) -lm)
SRC=(src/core/error.c src/core/jsonspec.c src/core/money.c src/core/timeutil.c src/core/capacity.c
     src/core/rawpath.c src/core/log.c src/core/vocab.c src/core/clock.c src/market/order.c src/ledger/records.c src/ledger/merkle.c
     src/ledger/hex.c src/ledger/sign.c)
build() {
  local t
  for t in "${TARGETS[@]}"; do
    if [[ ! -x $OUT/fuzz_$t || -n $(find tests/fuzz/fuzz_$t.c src include tools -newer "$OUT/fuzz_$t" -name '*.[ch]' | head -n 1) ]]; then
      "$CC" "${FLAGS[@]}" -o "$OUT/fuzz_$t" "tests/fuzz/fuzz_$t.c" "${SRC[@]}" "${LIBS[@]}" 2>"$OUT/build-$t.log" ||
        { cat "$OUT/build-$t.log" >&2; return 1; }
    fi
  done
}
if ! build; then echo "fuzz: build failed"; echo "0 passed, 1 failed"; exit 1; fi
[[ $MODE == build ]] && exit 0
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
pass=0 fail=0
for t in "${TARGETS[@]}"; do
  corpus=tests/fuzz/corpus/$t
  mkdir -p "$corpus"
  opts=(-rss_limit_mb=2048 -timeout=10 -artifact_prefix="$OUT/crash-$t-")
  envs=()
  [[ $t == verify ]] && { opts+=(-detect_leaks=0); envs=(ASAN_OPTIONS=detect_leaks=0); }
  log="$OUT/$t.log"
  if [[ $MODE == fuzz ]]; then
    work=$(mktemp -d)
    if env "${envs[@]}" "$OUT/fuzz_$t" "${opts[@]}" -max_total_time="$SECS" -print_final_stats=1 \
        "$work" "$corpus" >"$log" 2>&1; then
      env "${envs[@]}" "$OUT/fuzz_$t" "${opts[@]}" -merge=1 "$corpus" "$work" >>"$log" 2>&1 || true
      execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
      echo "PASS $t: ${execs:-?} executions in ${SECS}s, corpus $(ls "$corpus" | wc -l) files"
      pass=$((pass + 1))
    else
      echo "FAIL $t (see $log; reproducer in $OUT/crash-$t-*)"; tail -n 30 "$log"
      fail=$((fail + 1))
    fi
    rm -rf "$work"
  else
    n=$(ls "$corpus" | wc -l)
    if env "${envs[@]}" "$OUT/fuzz_$t" "${opts[@]}" -runs=0 "$corpus" >"$log" 2>&1; then
      echo "PASS $t: replayed $n corpus files"
      pass=$((pass + 1))
    else
      echo "FAIL $t: replay of $n corpus files (see $log)"; tail -n 30 "$log"
      fail=$((fail + 1))
    fi
  fi
done
echo "$pass passed, $fail failed"
((fail == 0))
