/* h_health.c — GET /healthz, GET /readyz, GET /v1/me. */
#include "internal.h"
#include "suanli/db/accounts.h"
#include "suanli/db/migrate.h"

void h_healthz(sl_req *r) { sl_reply_json(r, 200, json_pack("{s:s}", "status", "ok")); }

/* Ready when the database answers, its schema is the one this binary knows, and the stored
 * ledger holds together (503 ledger_inconsistent otherwise: sl_ledger_servable). */
void h_readyz(sl_req *r) {
  if (!sl_req_connect(r, 2000)) return;
  int v = sl_db_schema_version(r->db);
  if (v < 0) {
    sl_reply_error(r, SL_E_DB_UNAVAILABLE, NULL, "the database did not answer");
    return;
  }
  if (v != sl_db_schema_latest()) {
    sl_reply_error(r, SL_E_DB_UNAVAILABLE, NULL, "schema version %d, expected %d", v,
                   sl_db_schema_latest());
    return;
  }
  if (!sl_ledger_servable(r)) return;
  sl_reply_json(r, 200, json_pack("{s:s,s:i}", "status", "ready", "schema_version", v));
}

void h_me(sl_req *r) {
  json_t *me;
  sl_dbrc rc = sl_db_me(r->db, r->who.token_id, &me);
  if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else sl_reply_json(r, 200, me);
}
