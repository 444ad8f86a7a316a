/* idempotency.c — Idempotency-Key records (claim, complete, release). */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

const sl_db_stmt sl_db_stmts_idem[] = {
    /* Insert a new claim, or take over an abandoned in-flight claim of the same request. */
    {"idem_claim",
     "INSERT INTO idempotency_keys AS k (account_id, key, request_hash, state)"
     " VALUES ($1, $2, $3::bytea, 'in_flight')"
     " ON CONFLICT (account_id, key) DO UPDATE SET claimed_at = now()"
     "  WHERE k.state = 'in_flight' AND k.request_hash = EXCLUDED.request_hash"
     "    AND k.claimed_at < now() - make_interval(secs => $4::int)"
     " RETURNING 1"},
    {"idem_get",
     "SELECT request_hash = $3::bytea, state, status, response FROM idempotency_keys"
     " WHERE account_id = $1 AND key = $2"},
    {"idem_complete",
     "UPDATE idempotency_keys SET state = 'done', status = $3, response = $4"
     " WHERE account_id = $1 AND key = $2"},
    {"idem_release",
     "DELETE FROM idempotency_keys WHERE account_id = $1 AND key = $2 AND state = 'in_flight'"},
    {NULL, NULL},
};

sl_dbrc sl_db_idem_claim(sl_dbc *c, int64_t account, const char *key, const uint8_t hash[32],
                         int lease_s, sl_idem_state *state, int *status, char **body) {
  char b1[24], b2[24], hb[67];
  const char *v[4] = {sl_db_i64(b1, account), key, sl_db_bytea32(hb, hash),
                      sl_db_i64(b2, lease_s)};
  PGresult *r;
  *body = NULL;
  sl_dbrc rc = sl_db_exec(c, "idem_claim", 4, v, &r);
  if (rc != SL_DB_OK) return rc;
  int claimed = PQntuples(r);
  PQclear(r);
  if (claimed) {
    *state = SL_IDEM_CLAIMED;
    return SL_DB_OK;
  }
  rc = sl_db_exec(c, "idem_get", 3, v, &r);
  if (rc != SL_DB_OK) return rc;
  if (PQntuples(r) != 1) {
    *state = SL_IDEM_IN_FLIGHT; /* released between our two statements: still racing */
  } else if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
    *state = SL_IDEM_MISMATCH;
  } else if (strcmp(PQgetvalue(r, 0, 1), "done") != 0) {
    *state = SL_IDEM_IN_FLIGHT;
  } else {
    *state = SL_IDEM_REPLAY;
    *status = atoi(PQgetvalue(r, 0, 2));
    *body = strdup(PQgetvalue(r, 0, 3));
  }
  PQclear(r);
  return SL_DB_OK;
}

sl_dbrc sl_db_idem_complete(sl_dbc *c, int64_t account, const char *key, int status,
                            const char *body) {
  char b1[24], b2[24];
  const char *v[4] = {sl_db_i64(b1, account), key, sl_db_i64(b2, status), body};
  return sl_db_exec(c, "idem_complete", 4, v, NULL);
}

sl_dbrc sl_db_idem_release(sl_dbc *c, int64_t account, const char *key) {
  char b1[24];
  const char *v[2] = {sl_db_i64(b1, account), key};
  return sl_db_exec(c, "idem_release", 2, v, NULL);
}
