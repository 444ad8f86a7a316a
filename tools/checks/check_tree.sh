#!/usr/bin/env bash
# tools/checks/check_tree.sh — no build junk among the files git tracks.
#
#   tools/checks/check_tree.sh [--root DIR]
#
# Reads the index (`git ls-files`) of the project (or of DIR) and names each tracked file that
# is one of:
#   - a tracked file that .gitignore ignores;
#   - Python caches (__pycache__/, *.pyc, *.pyo);
#   - objects and libraries (*.o, *.a, *.so, ...), CMake output (CMakeCache.txt, CMakeFiles/,
#     compile_commands.json, ...), anything under a build*/ folder;
#   - local state: .pg/, .cluster/, .state/, .slurm/, suanli-keys/, node_modules/, bench/out/;
#   - core dumps (core, core.N, vgcore.N);
#   - editor and merge leftovers (*~, *.swp, .#*, #*#, *.orig, *.rej, *.bak, .DS_Store);
#   - a file over 1 MiB (its size in the index) that is not in LARGE_OK below.
# Prints `path: why` for each and a last line `tree: N tracked files, N junk`; exit status 0
# when there is none, 1 when there is, 2 when DIR is no git checkout.
set -euo pipefail

# Tracked files allowed to exceed 1 MiB (paths, globs allowed).  None today: the largest is
# api/openapi.yaml (~240 KB); uPlot is vendored at build time into web/node_modules/ (ignored).
LARGE_OK=()
LARGE_LIMIT=$((1024 * 1024))

root="$(cd "$(dirname "$0")/../.." && pwd -P)"
if [[ "${1:-}" == --root ]]; then
  [[ $# -ge 2 ]] || { echo "usage: $0 [--root DIR]" >&2; exit 2; }
  root="$2"
fi
cd "$root" || exit 2
if ! git rev-parse --git-dir >/dev/null 2>&1; then
  echo "check_tree: $root is no git checkout" >&2
  exit 2
fi

# why PATH: print why a tracked path is junk, or nothing.
why() {
  local p="$1" base="${1##*/}" dir="/${1%/*}/"
  [[ "$p" == */* ]] || dir=/
  case "$dir" in
    */__pycache__/*) echo "Python cache"; return ;;
    */build*/*) echo "build output (build*/ folder)"; return ;;
    */CMakeFiles/*) echo "CMake output"; return ;;
    */.pg/* | */.cluster/* | */.state/* | */.slurm/* | */suanli-keys/* | /bench/out/*)
      echo "local state, not source"; return ;;
    */node_modules/*) echo "installed npm package (vendored at build time)"; return ;;
  esac
  case "$base" in
    *.pyc | *.pyo) echo "Python cache" ;;
    *.o | *.obj | *.a | *.so | *.so.* | *.lo | *.gcda | *.gcno) echo "object file or library" ;;
    CMakeCache.txt | cmake_install.cmake | CTestTestfile.cmake | compile_commands.json)
      echo "CMake output" ;;
    core | core.[0-9]* | vgcore.[0-9]*) echo "core dump" ;;
    *~ | *.swp | *.swo | .#* | \#*\# | *.orig | *.rej | *.bak | .DS_Store)
      echo "editor or merge leftover" ;;
  esac
}

large_ok() {
  local g
  for g in "${LARGE_OK[@]+"${LARGE_OK[@]}"}"; do
    # shellcheck disable=SC2053  # $g is a glob on purpose
    [[ "$1" == $g ]] && return 0
  done
  return 1
}

paths=() ids=()
while IFS= read -r -d '' entry; do
  meta=${entry%%$'\t'*}
  [[ "$meta" == 160000\ * ]] && continue  # a submodule: no blob
  paths+=("${entry#*$'\t'}")
  id=${meta#* }  # "mode id stage"
  ids+=("${id%% *}")
done < <(git ls-files -s -z)
sizes=()
if ((${#ids[@]} > 0)); then
  mapfile -t sizes < <(printf '%s\n' "${ids[@]}" | git cat-file --batch-check='%(objectsize)')
fi
declare -A ignored=()
while IFS= read -r -d '' p; do ignored["$p"]=1; done < <(git ls-files -z -ci --exclude-standard)

junk=0
for i in "${!paths[@]}"; do
  p=${paths[$i]}
  reason=$(why "$p")
  if [[ -z "$reason" && -n "${ignored[$p]:-}" ]]; then reason="ignored by .gitignore"; fi
  if [[ -z "$reason" ]] && ((${sizes[$i]:-0} > LARGE_LIMIT)) && ! large_ok "$p"; then
    reason="$(( sizes[i] / 1024 )) KiB, over 1 MiB (allow it in LARGE_OK of $0 if it belongs)"
  fi
  if [[ -n "$reason" ]]; then
    echo "$p: $reason"
    junk=$((junk + 1))
  fi
done
echo "tree: ${#paths[@]} tracked files, $junk junk"
((junk == 0)) || { echo "(untrack with: git rm --cached PATH)"; exit 1; }
