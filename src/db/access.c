/* access.c — tenants' access keys and the sealed access details of reservations
 * (schema/010_access.sql, api/ACCESS.md).  The exchange stores and serves ciphertext only. */
#include "suanli/db/access.h"
#include "internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const sl_db_stmt sl_db_stmts_access[] = {
    {"access_key_set",
     "WITH k AS (INSERT INTO access_keys (account_id, public_key) VALUES ($1, decode($2, 'hex'))"
     " ON CONFLICT (account_id) DO UPDATE SET public_key = EXCLUDED.public_key,"
     " updated_at = sl_now() RETURNING *) SELECT j::text FROM k, api_access_key(k) j"},
    {"access_key_get",
     "SELECT j::text FROM access_keys k, api_access_key(k) j WHERE k.account_id = $1"},
    {"access_store",
     "INSERT INTO reservation_access (reservation_id, recipient_key, sealed, source)"
     " VALUES ($1, decode($2, 'hex'), decode($3, 'base64'), $4)"
     " ON CONFLICT (reservation_id) DO NOTHING"},
    /* A trade's access details as the tenant (or an admin: $2 NULL) may read them (the sealed
     * box is null while there is none yet), with its reservation's state for the 404's detail. */
    {"trade_access",
     "SELECT json_build_object('access', j, 'reservation_state', r.state)::text"
     " FROM trades t JOIN reservations r ON r.trade_id = t.id"
     " LEFT JOIN reservation_access a ON a.reservation_id = r.id, api_trade_access(t, r, a) j"
     " WHERE t.id = $1 AND ($2::bigint IS NULL OR t.tenant_id = $2)"},
    {NULL, NULL},
};

sl_dbrc sl_db_access_key_set(sl_dbc *c, int64_t account, const char *pk_hex, json_t **out) {
  char b1[24];
  const char *v[2] = {sl_db_i64(b1, account), pk_hex};
  return sl_db_json(c, "access_key_set", 2, v, out);
}

sl_dbrc sl_db_access_key_get(sl_dbc *c, int64_t account, json_t **out) {
  return sl_db_json_id(c, "access_key_get", account, out);
}

sl_dbrc sl_db_access_store(sl_dbc *c, int64_t reservation, const char *pk_hex,
                           const char *sealed_b64, const char *source) {
  char b1[24];
  const char *v[4] = {sl_db_i64(b1, reservation), pk_hex, sealed_b64, source};
  return sl_db_exec(c, "access_store", 4, v, NULL);
}

sl_dbrc sl_db_trade_access(sl_dbc *c, int64_t trade, int64_t tenant, json_t **out, char *state,
                           size_t state_len) {
  char b1[24], b2[24];
  const char *v[2] = {sl_db_i64(b1, trade), sl_db_i64_opt(b2, tenant, 0)};
  json_t *row;
  *out = NULL;
  sl_dbrc rc = sl_db_json(c, "trade_access", 2, v, &row);
  if (rc != SL_DB_OK) return rc;
  *out = json_incref(json_object_get(row, "access"));
  snprintf(state, state_len, "%s", json_string_value(json_object_get(row, "reservation_state")));
  json_decref(row);
  return *out ? SL_DB_OK : SL_DB_HARD;
}
