#!/usr/bin/env bash
# tools/test_verify.sh — end-to-end test of suanli-verify (tools/suanli_verify.c).
#
#   bash tools/test_verify.sh build/tools/suanli-verify
#
# 1. `suanli-verify selftest-sample DIR` writes a valid set from fixed seeds: keys, a receipt
#    with its inclusion proof and checkpoint, two checkpoints and the consistency proof
#    between them, a statement file and its EXPORT signature, and a forged history.
# 2. Every valid file passes (exit 0).
# 3. Every changed byte of the receipt's record, signature, proof hashes and checkpoint (record,
#    signature, root), of a checkpoint, of a consistency proof, and of the signed file, its
#    digest and signature fails (exit 1); so do other indexes, sizes, times and key ids, a
#    rewritten history, and wrong keys (unknown, mismatched, expired).
# 4. Usage and format errors exit 2.
# Needs bash and python3 (standard library, to write the altered JSON files); KEEP=1 keeps the
# work folder.  The last line is `N passed, N failed`; the exit status is 1 when anything failed.
set -uo pipefail

BIN=${1:?usage: test_verify.sh path/to/suanli-verify}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/suanli-verify-test.XXXXXX")
trap '[[ -n "${KEEP:-}" ]] || rm -rf "$WORK"' EXIT
S="$WORK/sample"
PASS=0
FAIL=0

# expect WANT_RC WHAT ARGS... — run the verifier, compare its exit status.
expect() {
  local want=$1 what=$2 rc=0
  shift 2
  "$BIN" "$@" >"$WORK/out" 2>&1 || rc=$?
  if [[ "$rc" == "$want" ]]; then
    PASS=$((PASS + 1))
  else
    FAIL=$((FAIL + 1))
    echo "FAIL: $what: exit $rc, want $want"
    sed 's/^/      /' "$WORK/out" | tail -6
  fi
}

if ! "$BIN" selftest-sample "$S" >"$WORK/out" 2>&1; then
  cat "$WORK/out"
  echo "0 passed, 1 failed"
  exit 1
fi

# ------------------------------------------------------------------------- valid: exit 0
expect 0 "valid receipt" receipt "$S/receipt.json" "$S/keys.json"
expect 0 "valid receipt without proof" receipt "$S/receipt_unproven.json" "$S/keys.json"
expect 0 "valid old checkpoint" checkpoint "$S/checkpoint_old.json" "$S/keys.json"
expect 0 "valid new checkpoint" checkpoint "$S/checkpoint_new.json" "$S/keys.json"
expect 0 "valid forged checkpoint on its own (signed by the key)" \
  checkpoint "$S/checkpoint_forged.json" "$S/keys.json"
expect 0 "valid consistency" consistency "$S/checkpoint_old.json" "$S/checkpoint_new.json" \
  "$S/consistency.json" "$S/keys.json"
expect 0 "valid file" file "$S/statement.csv" "$S/statement.csv.sig.json" "$S/keys.json"
# the sample's entry 42 is the worked example of api/SIGNING.md
if grep -q '"signature": "5b91792c1379b59a5b39411e0e9ec076361ff7ded441afd31c8b1fd24f879d34cce33bbf92ec78de9756fbfdc05cf26b9dbe9af46090be15c946766f3e86ae07"' "$S/receipt.json"; then
  PASS=$((PASS + 1))
else
  FAIL=$((FAIL + 1))
  echo "FAIL: the sample receipt does not carry the worked example's signature"
fi

# ---------------------------------------------------------------- wrong keys: exit 1
for k in keys_unknown keys_mismatch; do
  expect 1 "receipt with $k" receipt "$S/receipt.json" "$S/$k.json"
  expect 1 "checkpoint with $k" checkpoint "$S/checkpoint_new.json" "$S/$k.json"
  expect 1 "consistency with $k" consistency "$S/checkpoint_old.json" "$S/checkpoint_new.json" \
    "$S/consistency.json" "$S/$k.json"
  expect 1 "file with $k" file "$S/statement.csv" "$S/statement.csv.sig.json" "$S/$k.json"
done
expect 1 "receipt with an expired key" receipt "$S/receipt.json" "$S/keys_expired.json"
expect 1 "checkpoint with an expired key" checkpoint "$S/checkpoint_new.json" \
  "$S/keys_expired.json"

# --------------------------------------------------------------- rewritten history: exit 1
expect 1 "forged new checkpoint, honest proof" consistency "$S/checkpoint_old.json" \
  "$S/checkpoint_forged.json" "$S/consistency.json" "$S/keys.json"
expect 1 "forged new checkpoint, proof from the forged tree" consistency \
  "$S/checkpoint_old.json" "$S/checkpoint_forged.json" "$S/consistency_forged.json" "$S/keys.json"
expect 1 "old and new swapped" consistency "$S/checkpoint_new.json" "$S/checkpoint_old.json" \
  "$S/consistency.json" "$S/keys.json"

# ------------------------------------------------------------- every changed byte: exit 1
# python3 writes one altered copy per case into $WORK/m and a manifest: want|what|args...
python3 - "$S" "$WORK/m" <<'EOF' || { echo "0 passed, 1 failed (mutant generation)"; exit 1; }
import copy, json, os, sys

S, M = sys.argv[1], sys.argv[2]
os.makedirs(M)
load = lambda name: json.load(open(os.path.join(S, name)))
receipt, cp_new, cp_old = load("receipt.json"), load("checkpoint_new.json"), load("checkpoint_old.json")
proof, sig = load("consistency.json"), load("statement.csv.sig.json")
statement = open(os.path.join(S, "statement.csv"), "rb").read()
keys = os.path.join(S, "keys.json")
lines, n = [], [0]

def new_path(ext="json"):
    n[0] += 1
    return os.path.join(M, "m%05d.%s" % (n[0], ext))

def dump(obj):
    p = new_path()
    json.dump(obj, open(p, "w"))
    return p

def flip(h, byte):
    """The hex string h with the lowest bit of byte `byte` changed."""
    i = 2 * byte + 1
    return h[:i] + "%x" % (int(h[i], 16) ^ 1) + h[i + 1:]

def case(what, mode, *args):
    lines.append("|".join(["1", what, mode] + list(args)))

def get(obj, path):
    for k in path:
        obj = obj[k]
    return obj

def put(obj, path, value):
    for k in path[:-1]:
        obj = obj[k]
    obj[path[-1]] = value

def every_byte(base, path, emit):
    h = get(base, path)
    for b in range(len(h) // 2):
        o = copy.deepcopy(base)
        put(o, path, flip(h, b))
        emit("%s byte %d" % ("/".join(map(str, path)), b), dump(o))

def altered(base, path, value):
    o = copy.deepcopy(base)
    put(o, path, value)
    return dump(o)

# receipts
r_emit = lambda what, p: case("receipt " + what, "receipt", p, keys)
for path in (["record"], ["signature"], ["checkpoint", "record"], ["checkpoint", "signature"],
             ["checkpoint", "root_hash"]):
    every_byte(receipt, path, r_emit)
for i in range(len(receipt["inclusion_proof"])):
    every_byte(receipt, ["inclusion_proof", i], r_emit)
for path, value in (
        (["entry_id"], receipt["entry_id"] + 1), (["leaf_index"], receipt["leaf_index"] + 1),
        (["leaf_index"], receipt["leaf_index"] - 1), (["tree_size"], receipt["tree_size"] + 1),
        (["tree_size"], receipt["tree_size"] - 1), (["key_id"], flip(receipt["key_id"], 0)),
        (["checkpoint", "tree_size"], receipt["checkpoint"]["tree_size"] + 1),
        (["checkpoint", "timestamp"], "2026-11-27T22:38:46Z"),
        (["checkpoint", "key_id"], flip(receipt["checkpoint"]["key_id"], 7)),
        (["inclusion_proof"], receipt["inclusion_proof"][:-1]),
        (["inclusion_proof"], receipt["inclusion_proof"][1:]),
        (["inclusion_proof"], receipt["inclusion_proof"] + [receipt["inclusion_proof"][0]]),
        (["inclusion_proof"], receipt["inclusion_proof"][::-1]),
        (["inclusion_proof"], []),
        (["inclusion_proof"], None),
        (["checkpoint"], cp_old),
        (["checkpoint"], load("checkpoint_forged.json")),
        (["record"], receipt["record"] + "00"),
        (["record"], receipt["record"][:-2]),
        (["record"], receipt["record"].upper()),
        (["signature"], receipt["signature"][:-2]),
        (["record"], load("receipt_unproven.json")["record"])):
    r_emit("%s = %s" % ("/".join(path), str(value)[:40]), altered(receipt, path, value))

# checkpoints
c_emit = lambda what, p: case("checkpoint " + what, "checkpoint", p, keys)
for path in (["record"], ["signature"], ["root_hash"]):
    every_byte(cp_new, path, c_emit)
for path, value in ((["tree_size"], 49), (["tree_size"], 51), (["tree_size"], 0),
                    (["timestamp"], "2026-11-27T22:38:44Z"), (["key_id"], flip(cp_new["key_id"], 3)),
                    (["record"], cp_old["record"]), (["signature"], cp_old["signature"]),
                    (["record"], receipt["record"]), (["signature"], receipt["signature"])):
    c_emit("%s = %s" % ("/".join(path), str(value)[:40]), altered(cp_new, path, value))

# consistency proofs
old, new = os.path.join(S, "checkpoint_old.json"), os.path.join(S, "checkpoint_new.json")
p_emit = lambda what, p: case("consistency " + what, "consistency", old, new, p, keys)
for i in range(len(proof["proof"])):
    every_byte(proof, ["proof", i], p_emit)
for path, value in ((["from"], 29), (["from"], 31), (["to"], 49), (["to"], 51),
                    (["proof"], proof["proof"][:-1]), (["proof"], proof["proof"][1:]),
                    (["proof"], proof["proof"] + [proof["proof"][0]]), (["proof"], []),
                    (["proof"], proof["proof"][::-1])):
    p_emit("%s = %s" % ("/".join(path), str(value)[:40]), altered(proof, path, value))
cp_proof = os.path.join(S, "consistency.json")
for b in range(0, 56, 3):
    case("consistency: old checkpoint record byte %d" % b, "consistency",
         altered(cp_old, ["record"], flip(cp_old["record"], b)), new, cp_proof, keys)
    case("consistency: new checkpoint record byte %d" % b, "consistency",
         old, altered(cp_new, ["record"], flip(cp_new["record"], b)), cp_proof, keys)

# signed files
sig_path = os.path.join(S, "statement.csv.sig.json")
def file_case(what, data):
    p = new_path("csv")
    open(p, "wb").write(data)
    case("file " + what, "file", p, sig_path, keys)
for b in range(len(statement)):
    file_case("byte %d" % b, statement[:b] + bytes([statement[b] ^ 1]) + statement[b + 1:])
file_case("one byte appended", statement + b"\n")
file_case("last byte removed", statement[:-1])
file_case("empty", b"")
st = os.path.join(S, "statement.csv")
f_emit = lambda what, p: case("file signature " + what, "file", st, p, keys)
for path in (["sha256"], ["signature"]):
    every_byte(sig, path, f_emit)
f_emit("key_id changed", altered(sig, ["key_id"], flip(sig["key_id"], 5)))

# shape errors: exit 2
def shape(what, mode, *args):
    lines.append("|".join(["2", what, mode] + list(args)))
def without(base, key):
    o = copy.deepcopy(base)
    del o[key]
    return dump(o)
for key in ("entry_id", "record", "key_id", "signature"):
    shape("receipt without " + key, "receipt", without(receipt, key), keys)
shape("receipt entry_id as a string", "receipt", altered(receipt, ["entry_id"], "42"), keys)
shape("receipt leaf_index negative", "receipt", altered(receipt, ["leaf_index"], -1), keys)
shape("receipt proof not an array", "receipt", altered(receipt, ["inclusion_proof"], "ab"), keys)
shape("receipt checkpoint a string", "receipt", altered(receipt, ["checkpoint"], "x"), keys)
for key in ("tree_size", "root_hash", "timestamp", "key_id", "signature", "record"):
    shape("checkpoint without " + key, "checkpoint", without(cp_new, key), keys)
shape("proof without proof", "consistency", old, new, without(proof, "proof"), keys)
shape("proof with a number in proof", "consistency", old, new,
      altered(proof, ["proof", 0], 7), keys)
shape("signature file without sha256", "file", st, without(sig, "sha256"), keys)
shape("keys without keys", "checkpoint", new, dump({"key": []}))
shape("keys entry without public_key", "checkpoint", new, dump({"keys": [{"key_id": "ab", "valid_from": "2026-01-01T00:00:00Z"}]}))
p = new_path()
open(p, "w").write("{\"entry_id\": 42,")
shape("receipt not JSON", "receipt", p, keys)
shape("receipt a JSON array", "receipt", dump([receipt]), keys)
shape("duplicate keys", "checkpoint", new, os.path.join(M, "dup.json"))
open(os.path.join(M, "dup.json"), "w").write('{"keys": [], "keys": []}')
shape("missing file", "file", os.path.join(M, "nope.csv"), sig_path, keys)

open(os.path.join(M, "manifest"), "w").write("\n".join(lines) + "\n")
EOF

while IFS='|' read -r want what mode args; do
  IFS='|' read -r -a argv <<<"$args"
  expect "$want" "$what" "$mode" "${argv[@]}"
done <"$WORK/m/manifest"

# ------------------------------------------------------------------------ usage: exit 2
expect 2 "no arguments"
expect 2 "unknown mode" verify "$S/receipt.json" "$S/keys.json"
expect 2 "too few arguments" receipt "$S/receipt.json"
expect 2 "too many arguments" checkpoint "$S/checkpoint_new.json" "$S/keys.json" extra
expect 2 "missing keys file" receipt "$S/receipt.json" "$S/nope.json"

echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
