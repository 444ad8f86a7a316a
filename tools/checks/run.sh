#!/usr/bin/env bash
# tools/checks/run.sh — the three static checks, each one test (the `static` stage of
# deploy/test.sh).
#
#   bash tools/checks/run.sh
#
# Runs check_modules.py, check_format.sh and check_tree.sh on this checkout, each even when an
# earlier one failed; prints each one's output, a `PASS name` or `FAIL name (exit status N)`
# line, and last `N passed, N failed`.  Exit status 1 when one failed.  Needs python3, git and
# clang-format (Debian 12: clang-format 14); without clang-format the format check fails and
# says so.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd -P)"

passed=0 failed=0
check() {  # check NAME CMD...
  local name="$1" rc=0
  shift
  echo "--- $name"
  "$@" || rc=$?
  if ((rc == 0)); then
    echo "PASS $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name (exit status $rc)"
    failed=$((failed + 1))
  fi
}

check modules python3 "$here/check_modules.py"
check format bash "$here/check_format.sh"
check tree bash "$here/check_tree.sh"
echo "$passed passed, $failed failed"
((failed == 0))
