/* h_witnesses.c — the witnesses of the ledger (api/SIGNING.md "Witnesses"): who may cosign
 * checkpoints, and the route a witness (tools/suanli-witness) submits its cosignatures to.  The
 * exchange checks each cosignature against the witness's registered key before it publishes it
 * with the checkpoint (GET /v1/ledger/checkpoint*, `cosignatures`). */
#include "internal.h"
#include "suanli/core/timeutil.h"
#include "suanli/db/ledger.h"
#include "suanli/ledger/records.h"
#include <string.h>

/* GET /v1/ledger/witnesses: every registered witness with its public key. */
void h_witnesses_list(sl_req *r) {
  json_t *items;
  sl_dbrc rc = sl_db_witnesses_list(r->db, &items);
  if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else sl_reply_json(r, 200, json_pack("{s:o}", "witnesses", items));
}

/* A witness name: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit. */
static bool valid_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 64 || strchr("._-", s[0])) return false;
  return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* POST /v1/ledger/witnesses {"name", "public_key"} (admin): accept cosignatures from a witness. */
void h_witnesses_create(sl_req *r) {
  json_t *body = sl_req_body(r);
  if (!body) return;
  const char *name = NULL, *pk_hex = NULL;
  const sl_jfield f[] = {
      {"name", SL_JT_STRING, true, &name, NULL, 1, 64, NULL},
      {"public_key", SL_JT_STRING, true, &pk_hex, NULL, 64, 64, NULL},
  };
  uint8_t pk[SL_LEDGER_PK_LEN];
  char key_id[SL_LEDGER_KEY_ID_HEXLEN + 1];
  json_t *w = NULL;
  if (!sl_req_decode(r, body, f, sizeof f / sizeof f[0])) goto cleanup;
  if (!valid_name(name)) {
    sl_reply_error(r, SL_E_INVALID_VALUE, "name",
                   "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit");
    goto cleanup;
  }
  if (!sl_ledger_hex_decode(pk_hex, pk, sizeof pk)) {
    sl_reply_error(r, SL_E_INVALID_VALUE, "public_key",
                   "an Ed25519 public key: 64 lowercase hex digits");
    goto cleanup;
  }
  sl_ledger_key_id_hex(pk, key_id);
  sl_dbrc rc = sl_db_witness_insert(r->db, name, pk_hex, key_id, &w);
  if (rc == SL_DB_UNIQUE) {
    sl_reply_error(r, SL_E_ALREADY_EXISTS, "name", "a witness of this name or key exists");
  } else if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
  } else {
    snprintf(r->audit_object, sizeof r->audit_object, "witness:%s", name);
    sl_reply_json(r, 201, w);
    w = NULL;
  }
cleanup:
  json_decref(w);
  json_decref(body);
}

/* POST /v1/ledger/checkpoints/{size}/cosignatures {"witness", "timestamp", "signature"}: a
 * witness's cosignature of that checkpoint.  The exchange rebuilds the COSIGNATURE record from
 * its own signed checkpoint and the witness's time, checks the signature under the witness's
 * registered key, and stores it: 201 with the checkpoint (now carrying it), or 200 when this
 * witness had already cosigned the checkpoint (the first cosignature stays). */
void h_cosignatures_submit(sl_req *r) {
  int64_t size, t = 0;
  if (!sl_req_path_id(r, 0, &size)) return;
  json_t *body = sl_req_body(r);
  if (!body) return;
  const char *witness = NULL, *sig_hex = NULL;
  const sl_jfield f[] = {
      {"witness", SL_JT_STRING, true, &witness, NULL, 1, 64, NULL},
      {"timestamp", SL_JT_TIME, true, &t, NULL, 0, 0, NULL},
      {"signature", SL_JT_STRING, true, &sig_hex, NULL, 128, 128, NULL},
  };
  json_t *cp = NULL;
  char pk_hex[65];
  uint8_t pk[SL_LEDGER_PK_LEN], sig[SL_LEDGER_SIG_LEN], cp_rec[SL_LEDGER_RECORD_MAX];
  uint8_t rec[SL_LEDGER_COSIGNATURE_SIZE];
  size_t cp_len = 0;
  int64_t cp_time = 0;
  if (!sl_req_decode(r, body, f, sizeof f / sizeof f[0]) || !sl_ledger_servable(r)) goto cleanup;
  sl_dbrc rc = sl_db_checkpoint_get(r->db, size, &cp);
  if (rc == SL_DB_NOROWS) {
    sl_reply_error(r, SL_E_NOT_FOUND, "size", "no checkpoint of size %lld", (long long)size);
    goto cleanup;
  }
  if (rc == SL_DB_OK) rc = sl_db_witness_key(r->db, witness, pk_hex);
  if (rc == SL_DB_NOROWS) {
    sl_reply_error(r, SL_E_UNKNOWN_REFERENCE, "witness", "no witness named '%s'", witness);
    goto cleanup;
  }
  if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
    goto cleanup;
  }
  if (!sl_ledger_hex_decode_var(json_string_value(json_object_get(cp, "record")), cp_rec,
                                sizeof cp_rec, &cp_len) ||
      !sl_time_parse(json_string_value(json_object_get(cp, "timestamp")), &cp_time) ||
      !sl_ledger_hex_decode(pk_hex, pk, sizeof pk)) {
    sl_reply_error(r, SL_E_INTERNAL, NULL, "the stored checkpoint or witness key is unreadable");
    goto cleanup;
  }
  if (t < cp_time) {
    sl_reply_error(r, SL_E_INVALID_VALUE, "timestamp",
                   "a cosignature cannot be older than the checkpoint it cosigns");
    goto cleanup;
  }
  if (!sl_ledger_hex_decode(sig_hex, sig, sizeof sig) ||
      sl_ledger_cosignature_verify(pk, cp_rec, cp_len, t, sig, rec) != SL_LEDGER_OK) {
    sl_reply_error(r, SL_E_INVALID_VALUE, "signature",
                   "not witness '%s''s Ed25519 signature of the COSIGNATURE record of this "
                   "checkpoint at this timestamp",
                   witness);
    goto cleanup;
  }
  char rec_hex[2 * SL_LEDGER_COSIGNATURE_SIZE + 1];
  sl_ledger_hex_encode(rec, sizeof rec, rec_hex);
  bool inserted = false;
  rc = sl_db_cosignature_insert(r->db, size, witness, t, rec_hex, sig_hex, &inserted);
  json_decref(cp);
  cp = NULL;
  if (rc == SL_DB_OK) rc = sl_db_checkpoint_get(r->db, size, &cp);
  if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
  } else {
    snprintf(r->audit_object, sizeof r->audit_object, "checkpoint:%lld", (long long)size);
    sl_reply_json(r, inserted ? 201 : 200, cp);
    cp = NULL;
  }
cleanup:
  json_decref(cp);
  json_decref(body);
}
