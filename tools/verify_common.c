/* verify_common.c — the offline checks of receipts, checkpoints, consistency proofs and signed
 * exports (api/SIGNING.md), shared by suanli-verify and `suanli receipt --verify` /
 * `suanli export --verify`.  See verify_common.h for the contract; nothing here talks to a
 * server. */
#include "verify_common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <sodium.h>

#include "suanli/core/timeutil.h"
#include "suanli/ledger/records.h"

#define EXIT_CHECKS_FAILED 1
#define EXIT_USAGE         2

const char *slv_prog = "suanli-verify";

#define EXIT_USAGE 2

/* ---------------------------------------------------------------------------- reporting */

typedef struct {
  int passed, failed;
} report;

static void check(report *r, bool ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void check(report *r, bool ok, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs(ok ? "ok    " : "FAIL  ", stdout);
  vprintf(fmt, ap);
  fputc('\n', stdout);
  va_end(ap);
  if (ok) r->passed++;
  else r->failed++;
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("note  ", stdout);
  vprintf(fmt, ap);
  fputc('\n', stdout);
  va_end(ap);
}

static int verdict(const report *r) {
  if (r->failed == 0) {
    printf("VERIFIED: %d checks passed\n", r->passed);
    return 0;
  }
  printf("NOT VERIFIED: %d of %d checks failed\n", r->failed, r->passed + r->failed);
  return EXIT_CHECKS_FAILED;
}

/* A JSON shape error: say which file and field, and exit 2. */
static void shape_error(const char *file, const char *field, const char *want)
    __attribute__((noreturn));
static void shape_error(const char *file, const char *field, const char *want) {
  fprintf(stderr, "%s: %s: field \"%s\" must be %s\n", slv_prog, file, field, want);
  exit(EXIT_USAGE);
}

/* ------------------------------------------------------------------------- JSON helpers */

static json_t *load_json(const char *path) {
  json_error_t err;
  json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
  if (!j) {
    fprintf(stderr, "%s: %s: %s (line %d)\n", slv_prog, path, err.text, err.line);
    exit(EXIT_USAGE);
  }
  if (!json_is_object(j)) {
    fprintf(stderr, "%s: %s: not a JSON object\n", slv_prog, path);
    exit(EXIT_USAGE);
  }
  return j;
}

static const char *req_str(const char *file, json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  if (!json_is_string(v)) shape_error(file, key, "a string");
  return json_string_value(v);
}

/* A string or null (absent counts as null): NULL for null. */
static const char *opt_str(const char *file, json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  if (v == NULL || json_is_null(v)) return NULL;
  if (!json_is_string(v)) shape_error(file, key, "a string or null");
  return json_string_value(v);
}

static uint64_t req_u64(const char *file, json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  if (!json_is_integer(v) || json_integer_value(v) < 0)
    shape_error(file, key, "a non-negative integer");
  return (uint64_t)json_integer_value(v);
}

/* A non-negative integer or null (absent counts as null): false for null. */
static bool opt_u64(const char *file, json_t *obj, const char *key, uint64_t *out) {
  json_t *v = json_object_get(obj, key);
  if (v == NULL || json_is_null(v)) return false;
  if (!json_is_integer(v) || json_integer_value(v) < 0)
    shape_error(file, key, "a non-negative integer or null");
  *out = (uint64_t)json_integer_value(v);
  return true;
}

/* An array of strings (hex hashes), or null/absent (NULL). */
static json_t *opt_str_array(const char *file, json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  if (v == NULL || json_is_null(v)) return NULL;
  if (!json_is_array(v)) shape_error(file, key, "an array of hex strings or null");
  size_t i;
  json_t *e;
  json_array_foreach(v, i, e) if (!json_is_string(e))
      shape_error(file, key, "an array of hex strings or null");
  return v;
}

/* Decode a JSON array of hex hashes into proof[]; false (with a reason) when any element is
 * not 64 lowercase hex digits or there are too many. */
static bool decode_proof(json_t *arr, sl_ledger_hash proof[SL_LEDGER_PROOF_MAX], size_t *len,
                         char *why, size_t why_len) {
  size_t n = json_array_size(arr);
  if (n > SL_LEDGER_PROOF_MAX) {
    snprintf(why, why_len, "%zu hashes, more than any tree needs (%d)", n, SL_LEDGER_PROOF_MAX);
    return false;
  }
  for (size_t i = 0; i < n; i++)
    if (!sl_ledger_hex_decode(json_string_value(json_array_get(arr, i)), proof[i].b, 32)) {
      snprintf(why, why_len, "element %zu is not 64 lowercase hex digits", i);
      return false;
    }
  *len = n;
  return true;
}

/* ---------------------------------------------------------------------------------- keys */

typedef struct {
  const char *file;
  json_t *doc;
  json_t *keys; /* the array */
} keyring;

static keyring load_keys(const char *path) {
  keyring kr = {path, load_json(path), NULL};
  kr.keys = json_object_get(kr.doc, "keys");
  if (!json_is_array(kr.keys)) shape_error(path, "keys", "an array");
  size_t i;
  json_t *k;
  json_array_foreach(kr.keys, i, k) {
    if (!json_is_object(k)) shape_error(path, "keys[]", "objects");
    (void)req_str(path, k, "key_id");
    (void)req_str(path, k, "public_key");
    (void)req_str(path, k, "valid_from");
    (void)opt_str(path, k, "valid_until");
  }
  return kr;
}

typedef struct {
  uint8_t pk[SL_LEDGER_PK_LEN];
  const char *valid_from, *valid_until; /* valid_until NULL: no end */
} key;

/* Find key_id in the keyring and check that its public key hashes to it. */
static bool check_key(report *r, const keyring *kr, const char *who, const char *key_id, key *out) {
  size_t i;
  json_t *k;
  json_array_foreach(kr->keys, i, k) {
    if (strcmp(json_string_value(json_object_get(k, "key_id")), key_id) != 0) continue;
    const char *pk_hex = json_string_value(json_object_get(k, "public_key"));
    if (!sl_ledger_hex_decode(pk_hex, out->pk, sizeof out->pk)) {
      check(r, false, "%skey %s: public key is not 64 lowercase hex digits", who, key_id);
      return false;
    }
    char id[SL_LEDGER_KEY_ID_HEXLEN + 1];
    sl_ledger_key_id_hex(out->pk, id);
    bool ok = strcmp(id, key_id) == 0;
    check(r, ok, "%skey %s is in %s%s%s", who, key_id, kr->file,
          ok ? " and its public key hashes to the key id" : ", but its public key hashes to ",
          ok ? "" : id);
    out->valid_from = json_string_value(json_object_get(k, "valid_from"));
    out->valid_until = opt_str(kr->file, k, "valid_until");
    return ok;
  }
  check(r, false, "%skey %s is not in %s", who, key_id, kr->file);
  return false;
}

/* The key's validity is the half-open interval [valid_from, valid_until). */
static void check_validity(report *r, const key *k, const char *who, int64_t t) {
  char ts[32];
  sl_time_format(t, ts, sizeof ts);
  int64_t from, until = 0;
  if (!sl_time_parse(k->valid_from, &from)) {
    check(r, false, "%skey validity: valid_from \"%s\" is not an RFC 3339 time", who,
          k->valid_from);
    return;
  }
  if (k->valid_until && !sl_time_parse(k->valid_until, &until)) {
    check(r, false, "%skey validity: valid_until \"%s\" is not an RFC 3339 time", who,
          k->valid_until);
    return;
  }
  bool ok = t >= from && (!k->valid_until || t < until);
  check(r, ok, "%srecord time %s is %swithin the key's validity [%s, %s)", who, ts,
        ok ? "" : "not ", k->valid_from, k->valid_until ? k->valid_until : "no end");
}

/* Hex record + key id + hex signature: decode the record, find the key, verify.  Returns
 * whether all passed; *rec gets the decoded record, raw/raw_len its bytes. */
static bool check_signed_record(report *r, const keyring *kr, const char *who, const char *rec_hex,
                                const char *key_id, const char *sig_hex, sl_ledger_record *rec,
                                uint8_t raw[SL_LEDGER_RECORD_MAX], size_t *raw_len,
                                uint8_t sig[SL_LEDGER_SIG_LEN], key *k) {
  bool all = true;
  size_t len = 0;
  if (!sl_ledger_hex_decode_var(rec_hex, raw, SL_LEDGER_RECORD_MAX, &len)) {
    check(r, false, "%srecord is not lowercase hex of at most %d bytes", who, SL_LEDGER_RECORD_MAX);
    return false;
  }
  sl_ledger_rc rc = sl_ledger_record_decode(raw, len, rec);
  if (rc != SL_LEDGER_OK) {
    check(r, false, "%srecord does not decode: %s", who, sl_ledger_strerror(rc));
    return false;
  }
  check(r, true, "%srecord decodes: %s, %zu bytes", who, sl_ledger_purpose_name(rec->purpose), len);
  *raw_len = len;
  bool key_ok = check_key(r, kr, who, key_id, k);
  all = all && key_ok;
  if (!sl_ledger_hex_decode(sig_hex, sig, SL_LEDGER_SIG_LEN)) {
    check(r, false, "%ssignature is not 128 lowercase hex digits", who);
    return false;
  }
  if (key_ok) {
    rc = sl_ledger_verify(k->pk, raw, len, sig);
    check(r, rc == SL_LEDGER_OK, "%sEd25519 signature by key %s over the record %s", who, key_id,
          rc == SL_LEDGER_OK ? "verifies" : "does NOT verify");
    all = all && rc == SL_LEDGER_OK;
    int64_t t;
    if (sl_ledger_record_time(rec, &t)) check_validity(r, k, who, t);
  }
  return all;
}

/* -------------------------------------------------------------------------- checkpoints */

static const char *witnesses_file; /* slv_require_witnesses */
static int witnesses_quorum;
static bool check_cosignatures(report *r, const char *file, json_t *obj, const char *who,
                               const uint8_t *raw, size_t len, int64_t cp_time);

/* Verify a checkpoint object: its record decodes to the stated size, root and time, and
 * its signature verifies.  *cp gets the signed (decoded) checkpoint.  Returns all passed. */
static bool check_checkpoint(report *r, const keyring *kr, const char *file, json_t *obj,
                             const char *who, sl_ledger_checkpoint *cp) {
  uint64_t size = req_u64(file, obj, "tree_size");
  const char *root_hex = req_str(file, obj, "root_hash");
  const char *ts = req_str(file, obj, "timestamp");
  const char *key_id = req_str(file, obj, "key_id");
  const char *sig_hex = req_str(file, obj, "signature");
  const char *rec_hex = req_str(file, obj, "record");

  sl_ledger_record rec;
  uint8_t raw[SL_LEDGER_RECORD_MAX], sig[SL_LEDGER_SIG_LEN];
  size_t raw_len = 0;
  key k;
  int before = r->failed;
  memset(&rec, 0, sizeof rec);
  bool ok = check_signed_record(r, kr, who, rec_hex, key_id, sig_hex, &rec, raw, &raw_len, sig, &k);
  if (raw_len == 0) return false; /* did not decode: already reported */
  if (rec.purpose != SL_LEDGER_CHECKPOINT) {
    check(r, false, "%srecord is a %s, not a checkpoint", who, sl_ledger_purpose_name(rec.purpose));
    return false;
  }
  *cp = rec.u.checkpoint;
  sl_ledger_hash root;
  int64_t t = 0;
  bool root_ok = sl_ledger_hex_decode(root_hex, root.b, 32);
  bool t_ok = sl_time_parse(ts, &t);
  check(r, cp->tree_size == size, "%srecord tree_size %llu equals tree_size %llu", who,
        (unsigned long long)cp->tree_size, (unsigned long long)size);
  check(r, root_ok && memcmp(root.b, cp->root.b, 32) == 0, "%srecord root equals root_hash", who);
  check(r, t_ok && t == cp->timestamp, "%srecord timestamp equals timestamp %s", who, ts);
  if (witnesses_file) check_cosignatures(r, file, obj, who, raw, raw_len, cp->timestamp);
  return ok && r->failed == before;
}

/* ----------------------------------------------------------------------------- witnesses */

void slv_require_witnesses(const char *file, int quorum) {
  witnesses_file = file;
  witnesses_quorum = quorum;
}

/* The named witnesses' cosignatures of a checkpoint whose signed record is raw[0..len): each
 * element of `cosignatures` whose witness is in the trusted file and whose signature verifies
 * over the COSIGNATURE record rebuilt from raw and its timestamp (not before the checkpoint's)
 * counts once per witness; the check is that at least the quorum did. */
static bool check_cosignatures(report *r, const char *file, json_t *obj, const char *who,
                               const uint8_t *raw, size_t len, int64_t cp_time) {
  json_t *trusted = load_json(witnesses_file);
  json_t *list = json_object_get(trusted, "witnesses");
  if (!json_is_array(list)) shape_error(witnesses_file, "witnesses", "an array");
  json_t *cos = json_object_get(obj, "cosignatures");
  if (cos && !json_is_null(cos) && !json_is_array(cos))
    shape_error(file, "cosignatures", "an array or null");
  int valid = 0;
  size_t i, k;
  json_t *cs, *w;
  json_array_foreach(list, k, w) {
    const char *name = req_str(witnesses_file, w, "name");
    uint8_t pk[SL_LEDGER_PK_LEN];
    if (!sl_ledger_hex_decode(req_str(witnesses_file, w, "public_key"), pk, sizeof pk))
      shape_error(witnesses_file, "public_key", "64 lowercase hex digits");
    bool ok = false;
    json_array_foreach(cos, i, cs) {
      if (ok || !json_is_object(cs) || strcmp(req_str(file, cs, "witness"), name) != 0) continue;
      int64_t t = 0;
      uint8_t sig[SL_LEDGER_SIG_LEN], rec[SL_LEDGER_COSIGNATURE_SIZE];
      ok = sl_time_parse(req_str(file, cs, "timestamp"), &t) && t >= cp_time &&
           sl_ledger_hex_decode(req_str(file, cs, "signature"), sig, sizeof sig) &&
           sl_ledger_cosignature_verify(pk, raw, len, t, sig, rec) == SL_LEDGER_OK;
      if (!ok) note("%scosignature of witness %s does not verify", who, name);
    }
    if (ok) {
      note("%scosigned by witness %s", who, name);
      valid++;
    }
  }
  json_decref(trusted);
  check(r, valid >= witnesses_quorum, "%s%d of the named witnesses cosigned it (quorum %d)", who,
        valid, witnesses_quorum);
  return valid >= witnesses_quorum;
}

/* --------------------------------------------------------------------------------- modes */

int slv_checkpoint(const char *cp_file, const char *keys_file) {
  report r = {0, 0};
  keyring kr = load_keys(keys_file);
  json_t *cp = load_json(cp_file);
  sl_ledger_checkpoint c;
  (void)check_checkpoint(&r, &kr, cp_file, cp, "", &c);
  json_decref(cp);
  json_decref(kr.doc);
  return verdict(&r);
}

int slv_receipt(const char *receipt_file, const char *keys_file) {
  report r = {0, 0};
  keyring kr = load_keys(keys_file);
  json_t *rc = load_json(receipt_file);
  const char *f = receipt_file;
  uint64_t entry_id = req_u64(f, rc, "entry_id");
  const char *rec_hex = req_str(f, rc, "record");
  const char *key_id = req_str(f, rc, "key_id");
  const char *sig_hex = req_str(f, rc, "signature");
  uint64_t leaf_index = 0, tree_size = 0;
  bool has_index = opt_u64(f, rc, "leaf_index", &leaf_index);
  bool has_size = opt_u64(f, rc, "tree_size", &tree_size);
  json_t *proof_arr = opt_str_array(f, rc, "inclusion_proof");
  json_t *cp_obj = json_object_get(rc, "checkpoint");
  if (cp_obj && json_is_null(cp_obj)) cp_obj = NULL;
  if (cp_obj && !json_is_object(cp_obj)) shape_error(f, "checkpoint", "an object or null");

  sl_ledger_record rec;
  uint8_t raw[SL_LEDGER_RECORD_MAX], sig[SL_LEDGER_SIG_LEN];
  size_t raw_len = 0;
  key k;
  memset(&rec, 0, sizeof rec);
  (void)check_signed_record(&r, &kr, "", rec_hex, key_id, sig_hex, &rec, raw, &raw_len, sig,
                            &k); /* each check is reported */
  if (raw_len != 0) {
    uint64_t rec_entry = sl_ledger_record_entry_id(&rec);
    if (rec_entry == 0)
      check(&r, false, "record is a %s, not a ledger entry", sl_ledger_purpose_name(rec.purpose));
    else
      check(&r, rec_entry == entry_id, "record entry_id %llu equals entry_id %llu",
            (unsigned long long)rec_entry, (unsigned long long)entry_id);
  }

  int present = has_index + has_size + (proof_arr != NULL) + (cp_obj != NULL);
  if (present == 0) {
    note("no leaf_index, tree_size, inclusion_proof or checkpoint: signature checks only");
  } else if (present < 4) {
    check(&r, false,
          "leaf_index, tree_size, inclusion_proof and checkpoint come together "
          "(only %d of 4 given)",
          present);
  } else {
    sl_ledger_checkpoint cp;
    bool cp_ok = check_checkpoint(&r, &kr, f, cp_obj, "checkpoint: ", &cp);
    if (cp_ok) {
      check(&r, cp.tree_size == tree_size, "checkpoint tree_size %llu equals tree_size %llu",
            (unsigned long long)cp.tree_size, (unsigned long long)tree_size);
      sl_ledger_hash proof[SL_LEDGER_PROOF_MAX], leaf;
      size_t plen = 0;
      char why[96];
      if (raw_len == 0) {
        check(&r, false, "inclusion proof: no leaf (the record does not decode)");
      } else if (!decode_proof(proof_arr, proof, &plen, why, sizeof why)) {
        check(&r, false, "inclusion proof: %s", why);
      } else {
        uint8_t kid[SL_LEDGER_KEY_ID_LEN];
        bool kid_ok = sl_ledger_hex_decode(key_id, kid, sizeof kid);
        sl_ledger_rc lrc =
            kid_ok ? sl_ledger_entry_leaf_hash(raw, raw_len, kid, sig, &leaf) : SL_LEDGER_EFIELD;
        if (lrc != SL_LEDGER_OK) {
          check(&r, false, "inclusion proof: key_id is not 16 lowercase hex digits");
        } else {
          char lh[65];
          sl_ledger_hex_encode(leaf.b, 32, lh);
          sl_ledger_rc vrc =
              sl_ledger_inclusion_verify(&leaf, leaf_index, cp.tree_size, proof, plen, &cp.root);
          check(&r, vrc == SL_LEDGER_OK,
                "inclusion proof (%zu hashes) %s leaf hash %s at index %llu to the root of the "
                "signed checkpoint of size %llu",
                plen, vrc == SL_LEDGER_OK ? "links" : "does NOT link", lh,
                (unsigned long long)leaf_index, (unsigned long long)cp.tree_size);
        }
      }
    } else {
      check(&r, false, "inclusion proof: not checked, the checkpoint does not verify");
    }
  }
  json_decref(rc);
  json_decref(kr.doc);
  return verdict(&r);
}

int slv_consistency(const char *old_file, const char *new_file, const char *proof_file,
                    const char *keys_file) {
  report r = {0, 0};
  keyring kr = load_keys(keys_file);
  json_t *old_j = load_json(old_file), *new_j = load_json(new_file), *pj = load_json(proof_file);
  uint64_t from = req_u64(proof_file, pj, "from"), to = req_u64(proof_file, pj, "to");
  json_t *arr = json_object_get(pj, "proof");
  if (!json_is_array(arr)) shape_error(proof_file, "proof", "an array of hex strings");
  (void)opt_str_array(proof_file, pj, "proof");

  sl_ledger_checkpoint oc, nc;
  bool old_ok = check_checkpoint(&r, &kr, old_file, old_j, "old checkpoint: ", &oc);
  bool new_ok = check_checkpoint(&r, &kr, new_file, new_j, "new checkpoint: ", &nc);
  if (old_ok && new_ok) {
    check(&r, from == oc.tree_size, "proof from %llu equals the old tree_size %llu",
          (unsigned long long)from, (unsigned long long)oc.tree_size);
    check(&r, to == nc.tree_size, "proof to %llu equals the new tree_size %llu",
          (unsigned long long)to, (unsigned long long)nc.tree_size);
    sl_ledger_hash proof[SL_LEDGER_PROOF_MAX];
    size_t plen = 0;
    char why[96];
    if (!decode_proof(arr, proof, &plen, why, sizeof why)) {
      check(&r, false, "consistency proof: %s", why);
    } else {
      sl_ledger_rc rc =
          sl_ledger_consistency_verify(oc.tree_size, nc.tree_size, &oc.root, &nc.root, proof, plen);
      check(&r, rc == SL_LEDGER_OK,
            "consistency proof (%zu hashes): the tree of size %llu %s a prefix of the tree of "
            "size %llu",
            plen, (unsigned long long)oc.tree_size, rc == SL_LEDGER_OK ? "is" : "is NOT",
            (unsigned long long)nc.tree_size);
    }
  } else {
    check(&r, false, "consistency proof: not checked, a checkpoint does not verify");
  }
  json_decref(old_j);
  json_decref(new_j);
  json_decref(pj);
  json_decref(kr.doc);
  return verdict(&r);
}

static bool sha256_file(const char *path, uint8_t out[32]) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return false;
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  uint8_t buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, fp)) > 0) crypto_hash_sha256_update(&st, buf, n);
  bool ok = !ferror(fp);
  fclose(fp);
  crypto_hash_sha256_final(&st, out);
  return ok;
}

int slv_file(const char *path, const char *sig_file, const char *keys_file) {
  report r = {0, 0};
  keyring kr = load_keys(keys_file);
  json_t *sj = load_json(sig_file);
  const char *key_id = req_str(sig_file, sj, "key_id");
  const char *sig_hex = req_str(sig_file, sj, "signature");
  const char *sha_hex = req_str(sig_file, sj, "sha256");
  sl_ledger_export ex;
  if (!sha256_file(path, ex.sha256.b)) {
    fprintf(stderr, "%s: %s: %s\n", slv_prog, path, strerror(errno));
    exit(EXIT_USAGE);
  }
  char hex[65];
  sl_ledger_hex_encode(ex.sha256.b, 32, hex);
  check(&r, strcmp(hex, sha_hex) == 0, "SHA-256 of %s is %s%s", path, hex,
        strcmp(hex, sha_hex) == 0 ? ", as signed" : ", not the sha256 in the signature file");
  uint8_t rec[SL_LEDGER_EXPORT_SIZE], sig[SL_LEDGER_SIG_LEN];
  sl_ledger_export_encode(&ex, rec);
  key k;
  if (check_key(&r, &kr, "", key_id, &k)) {
    if (!sl_ledger_hex_decode(sig_hex, sig, sizeof sig)) {
      check(&r, false, "signature is not 128 lowercase hex digits");
    } else {
      sl_ledger_rc rc = sl_ledger_verify(k.pk, rec, sizeof rec, sig);
      check(&r, rc == SL_LEDGER_OK,
            "Ed25519 signature by key %s over the EXPORT record of this SHA-256 %s", key_id,
            rc == SL_LEDGER_OK ? "verifies" : "does NOT verify");
    }
  }
  note("an EXPORT record states no time: the key's validity is not checked");
  json_decref(sj);
  json_decref(kr.doc);
  return verdict(&r);
}
