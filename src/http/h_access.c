/* h_access.c — access to what was bought (api/ACCESS.md): a tenant registers an X25519
 * public key; the pool's adapter or the provider's webhook receiver seals the reservation's
 * access details to it; the tenant reads the sealed box and opens it locally
 * (`suanli access`).  The exchange only ever holds the ciphertext. */
#include "internal.h"
#include "suanli/db/access.h"
#include <stdio.h>
#include <string.h>

/* PUT /v1/me/access-key {"public_key": 64 lowercase hex digits}. */
void h_access_key_set(sl_req *r) {
  json_t *body = sl_req_body(r);
  if (!body) return;
  const char *pk = NULL;
  const sl_jfield f[] = {{"public_key", SL_JT_STRING, true, &pk, NULL, 64, 64, NULL}};
  if (!sl_req_decode(r, body, f, 1)) goto cleanup;
  if (strspn(pk, "0123456789abcdef") != 64) {
    sl_reply_error(r, SL_E_INVALID_VALUE, "public_key",
                   "must be an X25519 public key as 64 lowercase hex digits");
    goto cleanup;
  }
  if (strspn(pk, "0") == 64) {
    sl_reply_error(r, SL_E_INVALID_VALUE, "public_key", "the all-zero key is not a public key");
    goto cleanup;
  }
  snprintf(r->audit_object, sizeof r->audit_object, "access_key:%lld",
           (long long)r->who.account_id);
  json_t *k;
  sl_dbrc rc = sl_db_access_key_set(r->db, r->who.account_id, pk, &k);
  if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else sl_reply_json(r, 200, k);
cleanup:
  json_decref(body);
}

/* GET /v1/me/access-key. */
void h_access_key_get(sl_req *r) {
  json_t *k;
  sl_dbrc rc = sl_db_access_key_get(r->db, r->who.account_id, &k);
  if (rc == SL_DB_NOROWS)
    sl_reply_error(r, SL_E_NOT_FOUND, "", "no access key registered (PUT /v1/me/access-key)");
  else if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else sl_reply_json(r, 200, k);
}

/* GET /v1/trades/{id}/access: the sealed access details of the trade's reservation. */
void h_trade_access(sl_req *r) {
  int64_t id;
  if (!sl_req_path_id(r, 0, &id)) return;
  json_t *a;
  char state[32];
  sl_dbrc rc = sl_db_trade_access(r->db, id, sl_role_is(r, "admin") ? 0 : r->who.account_id, &a,
                                  state, sizeof state);
  if (rc == SL_DB_NOROWS) {
    sl_reply_error(r, SL_E_NOT_FOUND, "id", "no trade %lld", (long long)id);
  } else if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
  } else if (json_is_null(json_object_get(a, "sealed"))) {
    sl_reply_error(r, SL_E_NOT_FOUND, "id",
                   "no access details for trade %lld yet (reservation %s; they come when the "
                   "pool's system has reserved the capacity, sealed to the key registered then)",
                   (long long)id, state);
    json_decref(a);
  } else {
    sl_reply_json(r, 200, a);
  }
}
