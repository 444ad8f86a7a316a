#!/usr/bin/env bash
# The API contract test.  Run from the project root:  bash tests/contract/run.sh
#
#   1. installs the pinned @redocly/cli into tests/contract/node_modules (npm ci from the
#      committed package-lock.json; skipped when the pinned version is already there);
#   2. lints api/openapi.yaml with tests/contract/redocly.yaml (zero errors allowed);
#   3. checks the error enum, registry and table in the spec are what api/errors.def
#      generates (gen_error_table.py --check) and the semantic rules (check_spec.py);
#   4. self-tests the checkers on fake inputs (they must catch planted differences);
#   5. compares the routes the server serves (`${SUANLI_BIN:-build/suanlid} routes`) with
#      the spec's (check_routes.py).
#
# Prints one line per check and ends with `N passed, N failed`; exits 1 if any failed.
# Environment: SUANLI_BIN (default build/suanlid); SUANLI_CONTRACT_SKIP_SERVER=1 skips step 5
# (counted as skipped, not passed) when no binary is built, e.g. while editing the spec.
set -euo pipefail

if [[ ! -f api/openapi.yaml || ! -f api/errors.def || ! -d tests/contract ]]; then
  echo "run.sh: run me from the project root (api/openapi.yaml not found)" >&2
  exit 2
fi

HERE=tests/contract
SPEC=api/openapi.yaml
DEF=api/errors.def
BIN=${SUANLI_BIN:-build/suanlid}
REDOCLY=$HERE/node_modules/.bin/redocly
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_COLOR=1 CI=${CI:-true}
export PYTHONDONTWRITEBYTECODE=1
TMP=$(mktemp -d "${TMPDIR:-/tmp}/suanli-contract.XXXXXX")
export HERE SPEC DEF BIN REDOCLY TMP
trap 'rm -rf "$TMP"' EXIT

passed=0 failed=0 skipped=0

# t NAME CMD...: run CMD (a program or a function below) in a child bash with errexit and a
# time bound; print PASS/FAIL, and its output on failure.
t() {
  local name=$1; shift
  local log="$TMP/$name.log" rc=0
  timeout 300 bash -euo pipefail -c '"$@"' t "$@" >"$log" 2>&1 </dev/null || rc=$?
  if [[ $rc -eq 0 ]]; then
    passed=$((passed + 1)); echo "PASS $name"
  else
    failed=$((failed + 1)); echo "FAIL $name (exit $rc)"
    # The Node 20 deprecation box of redocly is noise here.
    grep -v -e '[║╔╚]' -e '^[[:space:]]*$' "$log" | tail -n 60 | sed 's/^/     /'
  fi
}

# expect_fail NAME PATTERN CMD...: CMD must exit 1 and print every |-separated PATTERN.
expect_fail() {
  local name=$1 patterns=$2; shift 2
  local out rc=0
  out=$(timeout 60 "$@" 2>&1) || rc=$?
  if [[ $rc -ne 1 ]]; then
    echo "expected exit 1 from: $*; got $rc"; echo "$out"; return 1
  fi
  local p IFS='|'
  for p in $patterns; do
    if ! grep -qF -- "$p" <<<"$out"; then
      echo "expected output to mention: $p"; echo "$out"; return 1
    fi
  done
}

install_tools() {
  local want have=""
  want=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["packages"]["node_modules/@redocly/cli"]["version"])' "$HERE/package-lock.json")
  if [[ -f $HERE/node_modules/@redocly/cli/package.json ]]; then
    have=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$HERE/node_modules/@redocly/cli/package.json")
  fi
  if [[ $have == "$want" && -x $REDOCLY ]]; then
    echo "@redocly/cli $have already installed"
    return 0
  fi
  echo "installing @redocly/cli $want (have: ${have:-none})"
  (cd "$HERE" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error)
  "$REDOCLY" --version
}

lint() { "$REDOCLY" lint "$SPEC" --config "$HERE/redocly.yaml" --format=codeframe; }

bundle_and_check() {
  "$REDOCLY" bundle "$SPEC" --config "$HERE/redocly.yaml" --ext json -o "$TMP/openapi.json"
  python3 "$HERE/check_spec.py" "$TMP/openapi.json" --def "$DEF" --spec "$SPEC"
}

# The route checker must accept the spec's own list and report every planted difference.
selftest_routes() {
  python3 "$HERE/check_routes.py" --spec "$SPEC" --print-spec >"$TMP/routes.ok"
  [[ $(wc -l <"$TMP/routes.ok") -ge 20 ]] || { echo "too few routes in the spec"; return 1; }
  { echo "# a comment and a blank line are ignored"; echo; cat "$TMP/routes.ok"; } >"$TMP/routes.ok2"
  python3 "$HERE/check_routes.py" --spec "$SPEC" --server-file "$TMP/routes.ok2"
  sed -e '\|^DELETE /v1/tokens/{id}$|d' \
      -e 's|^GET /v1/regions/{code}$|GET /v1/regions/{id}|' \
      -e 's|^GET /v1/audit$|GET /v1/audit admin,tenant|' "$TMP/routes.ok" >"$TMP/routes.bad"
  echo "POST /v1/not-in-spec" >>"$TMP/routes.bad"
  expect_fail routes-bad \
    "missing from server: DELETE /v1/tokens/{id}|missing from server: GET /v1/regions/{code}|parameter names differ|missing from spec:   POST /v1/not-in-spec|roles differ:        GET /v1/audit" \
    python3 "$HERE/check_routes.py" --spec "$SPEC" --server-file "$TMP/routes.bad"
  # The JSON bundle gives the same set as the YAML reader.
  python3 "$HERE/check_routes.py" --spec "$TMP/openapi.json" --server-file "$TMP/routes.ok"
}

# The error checks must notice a registry that moved on without the spec.
selftest_errors() {
  cp "$DEF" "$TMP/errors.def"
  echo 'SL_ERROR(CONTRACT_SELFTEST, 9999, 418, "contract_selftest", "Planted by run.sh.")' >>"$TMP/errors.def"
  expect_fail gen-check "out of date|contract_selftest" \
    python3 "$HERE/gen_error_table.py" --check --def "$TMP/errors.def" --spec "$SPEC"
  expect_fail spec-check "FAIL errors-enum|FAIL errors-registry|FAIL errors-table|FAIL errors-used" \
    python3 "$HERE/check_spec.py" "$TMP/openapi.json" --def "$TMP/errors.def" --spec "$SPEC"
  sed 's/"Success\."/"Changed."/' "$DEF" >"$TMP/errors2.def"
  expect_fail hint-check "FAIL errors-registry|FAIL errors-table" \
    python3 "$HERE/check_spec.py" "$TMP/openapi.json" --def "$TMP/errors2.def" --spec "$SPEC"
}

# The reply checker must accept conforming replies (a conditional schema included) and catch
# an undescribed key, a missing conditional key and an undeclared status.
selftest_replies() {
  local T='"id": 7, "account_id": 3, "public_id": "0123456789abcdef0123456789abcdef", "label": "", "created_at": "2026-11-27T22:00:00Z", "expires_at": null, "revoked_at": null, "state": "active", "scopes": []'
  local P='"method": "POST", "path": "/v1/accounts/{id}/tokens", "status": 201'
  cat >"$TMP/replies.ok" <<EOF
{"method": "GET", "path": "/v1/keys", "status": 200, "body": {"keys": []}}
{$P, "body": {$T, "token": "sl_0123456789abcdef0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}
{$P, "body": {$T, "token": null, "token_note": "shown only in the first reply"}}
EOF
  python3 "$HERE/check_replies.py" "$TMP/openapi.json" "$TMP/replies.ok"
  cat >"$TMP/replies.bad" <<EOF
{$P, "body": {$T, "token": null}}
{"method": "GET", "path": "/v1/keys", "status": 200, "body": {"keys": [], "extra": 1}}
{"method": "GET", "path": "/v1/keys", "status": 401, "body": {}}
EOF
  expect_fail replies-bad \
    "missing required key 'token_note'|keys the spec does not describe: ['extra']|status 401 is not declared|0 of 3 replies match" \
    python3 "$HERE/check_replies.py" "$TMP/openapi.json" "$TMP/replies.bad"
}

server_routes() {
  if [[ ! -x $BIN ]]; then
    echo "$BIN is not an executable: build suanlid first (cmake --build build --target suanlid) or set SUANLI_BIN"
    return 1
  fi
  python3 "$HERE/check_routes.py" --spec "$SPEC" --server-bin "$BIN"
}

export -f expect_fail install_tools lint bundle_and_check selftest_routes selftest_errors selftest_replies server_routes

t tools-installed install_tools
if [[ -x $REDOCLY ]]; then
  t openapi-lint lint
  t errors-def-generated python3 "$HERE/gen_error_table.py" --check --def "$DEF" --spec "$SPEC"
  t spec-semantics bundle_and_check
  if [[ -f $TMP/openapi.json ]]; then
    t selftest-check-routes selftest_routes
    t selftest-error-checks selftest_errors
    t selftest-check-replies selftest_replies
  else
    failed=$((failed + 3)); echo "FAIL selftest-check-routes, selftest-error-checks, selftest-check-replies (no bundle)"
  fi
else
  failed=$((failed + 5)); echo "FAIL openapi-lint, errors-def-generated, spec-semantics, selftests (no redocly)"
fi
if [[ ! -x $BIN && ${SUANLI_CONTRACT_SKIP_SERVER:-0} == 1 ]]; then
  skipped=$((skipped + 1)); echo "SKIP server-routes ($BIN not built; SUANLI_CONTRACT_SKIP_SERVER=1)"
else
  t server-routes server_routes
fi

if [[ $skipped -gt 0 ]]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[[ $failed -eq 0 ]]
