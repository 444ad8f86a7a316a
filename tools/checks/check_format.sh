#!/usr/bin/env bash
# tools/checks/check_format.sh — every tracked .c/.h file follows the committed .clang-format.
#
#   tools/checks/check_format.sh [--root DIR] [FILE...]
#
# Runs `clang-format --dry-run -Werror` (style from the .clang-format at the project root) on
# every .c and .h file `git ls-files` lists, or on the FILEs given (relative to the root).
# Prints the clang-format version, each file that differs (with the number of places), and a
# last line `format: N files checked, N differ`.  Exit status 0 when none differs, 1 when one
# does, 2 when clang-format or the root is missing.  To fix a file: clang-format -i FILE.
#
# CI uses Debian 12's clang-format 14; another major version may format some lines otherwise,
# so it is named in a warning.  CLANG_FORMAT picks the binary (default clang-format-14 when
# installed, else clang-format).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd -P)"
if [[ "${1:-}" == --root ]]; then
  [[ $# -ge 2 ]] || { echo "usage: $0 [--root DIR] [FILE...]" >&2; exit 2; }
  root="$2"
  shift 2
fi
cd "$root" || exit 2
[[ -f .clang-format ]] || { echo "check_format: no .clang-format in $root" >&2; exit 2; }

cf="${CLANG_FORMAT:-}"
if [[ -z "$cf" ]]; then
  if command -v clang-format-14 >/dev/null 2>&1; then cf=clang-format-14; else cf=clang-format; fi
fi
if ! command -v "$cf" >/dev/null 2>&1; then
  echo "check_format: $cf is not installed (Debian: apt-get install clang-format)" >&2
  exit 2
fi
version=$("$cf" --version)
echo "$version"
major=$(sed -nE 's/.*version ([0-9]+)\..*/\1/p' <<<"$version")
if [[ "$major" != 14 ]]; then
  echo "check_format: warning: CI uses clang-format 14;" \
    "version ${major:-unknown} may disagree on some lines" >&2
fi

if (($# > 0)); then
  files=("$@")
else
  mapfile -t files < <(git ls-files -- '*.c' '*.h')
fi

differ=0
for f in "${files[@]}"; do
  # -Werror turns each place that would change into an error line on stderr.
  if ! out=$("$cf" --style=file --dry-run -Werror "$f" 2>&1); then
    places=$(grep -c 'code should be clang-formatted' <<<"$out" || true)
    if ((places == 0)); then
      echo "$f: clang-format failed:"
      head -n 5 <<<"$out"
    else
      echo "$f: $places place$( ((places == 1)) || echo s) to reformat"
    fi
    differ=$((differ + 1))
  fi
done
echo "format: ${#files[@]} files checked, $differ differ"
((differ == 0)) || { echo "(fix with: clang-format -i FILE)"; exit 1; }
