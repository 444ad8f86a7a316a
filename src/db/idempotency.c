/* idempotency.c — Idempotency-Key records: claim (or take over an abandoned claim), lock the
 * claim for the business transaction, complete or release it — every step fenced by the
 * claim's token, so a request whose claim was taken over can change nothing.
 *
 * The rule for abandoned claims: the request holding a claim keeps its row locked
 * (FOR UPDATE) for the whole of its business transaction; a retry may take the claim over
 * only when the row is not locked (nobody is executing under it: the owner was killed, its
 * connection died, or it is between two attempts) and the claim is older than the lease (a
 * few seconds).  A killed process's transaction is rolled back by PostgreSQL and its lock
 * released at once, so its retry resolves after the lease, not after a long timeout; a slow
 * request (waiting on locks) keeps its lock, so a retry gets 409 instead of a second
 * execution. */
#include "suanli/db/idempotency.h"
#include "internal.h"
#include "suanli/core/vocab.h"
#include <stdlib.h>
#include <string.h>

const sl_db_stmt sl_db_stmts_idem[] = {
    {"idem_claim",
     "INSERT INTO idempotency_keys (account_id, key, request_hash, state, claim_token)"
     " VALUES ($1, $2, $3::bytea, 'in_flight', $4)"
     " ON CONFLICT (account_id, key) DO NOTHING RETURNING 1"},
    /* Take over an abandoned claim of the same request: not locked by a running business
     * transaction, and older than the lease. */
    {"idem_takeover", "UPDATE idempotency_keys k SET claim_token = $4, claimed_at = now()"
                      " FROM (SELECT account_id, key FROM idempotency_keys"
                      "       WHERE account_id = $1 AND key = $2 AND state = 'in_flight'"
                      "         AND request_hash = $3::bytea"
                      "         AND claimed_at < now() - make_interval(secs => $5::int)"
                      "       FOR UPDATE SKIP LOCKED) a"
                      " WHERE k.account_id = a.account_id AND k.key = a.key RETURNING 1"},
    {"idem_get", "SELECT request_hash = $3::bytea, state, status, response FROM idempotency_keys"
                 " WHERE account_id = $1 AND key = $2"},
    {"idem_lock",
     "SELECT 1 FROM idempotency_keys WHERE account_id = $1 AND key = $2 AND claim_token = $3"
     " AND state = 'in_flight' FOR UPDATE"},
    {"idem_complete",
     "UPDATE idempotency_keys SET state = 'done', status = $4, response = $5, request_id = $6"
     " WHERE account_id = $1 AND key = $2 AND claim_token = $3 AND state = 'in_flight'"
     " RETURNING 1"},
    {"idem_release",
     "DELETE FROM idempotency_keys WHERE account_id = $1 AND key = $2 AND claim_token = $3"
     " AND state = 'in_flight'"},
    {NULL, NULL},
};

sl_dbrc sl_db_idem_claim(sl_dbc *c, int64_t account, const char *key, const uint8_t hash[32],
                         const char *token, int lease_s, sl_idem_state *state, int *status,
                         char **body) {
  char b1[24], b2[24], hb[67];
  const char *v[5] = {sl_db_i64(b1, account), key, sl_db_bytea32(hb, hash), token,
                      sl_db_i64(b2, lease_s)};
  PGresult *r;
  *body = NULL;
  sl_dbrc rc = sl_db_exec(c, "idem_claim", 4, v, &r);
  if (rc != SL_DB_OK) return rc;
  int claimed = PQntuples(r);
  PQclear(r);
  if (!claimed) {
    rc = sl_db_exec(c, "idem_takeover", 5, v, &r);
    if (rc != SL_DB_OK) return rc;
    claimed = PQntuples(r);
    PQclear(r);
  }
  if (claimed) {
    *state = SL_IDEM_CLAIMED;
    return SL_DB_OK;
  }
  rc = sl_db_exec(c, "idem_get", 3, v, &r);
  if (rc != SL_DB_OK) return rc;
  if (PQntuples(r) != 1) {
    *state = SL_IDEM_IN_FLIGHT; /* released between our statements: still racing */
  } else if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
    *state = SL_IDEM_MISMATCH;
  } else if (!sl_vocab_is(PQgetvalue(r, 0, 1), SL_IDEMPOTENCY_STATE_DONE)) {
    *state = SL_IDEM_IN_FLIGHT;
  } else {
    *state = SL_IDEM_REPLAY;
    *status = atoi(PQgetvalue(r, 0, 2));
    *body = strdup(PQgetvalue(r, 0, 3));
  }
  PQclear(r);
  return SL_DB_OK;
}

/* Run a statement that must touch exactly the caller's claim: SL_DB_NOROWS when the claim
 * is no longer the caller's (taken over, completed or released). */
static sl_dbrc fenced(sl_dbc *c, const char *name, int n, const char *const *v) {
  PGresult *r;
  sl_dbrc rc = sl_db_exec(c, name, n, v, &r);
  if (rc != SL_DB_OK) return rc;
  rc = PQntuples(r) == 1 ? SL_DB_OK : SL_DB_NOROWS;
  PQclear(r);
  return rc;
}

sl_dbrc sl_db_idem_lock(sl_dbc *c, int64_t account, const char *key, const char *token) {
  char b1[24];
  const char *v[3] = {sl_db_i64(b1, account), key, token};
  return fenced(c, "idem_lock", 3, v);
}

sl_dbrc sl_db_idem_complete(sl_dbc *c, int64_t account, const char *key, const char *token,
                            int status, const char *body, const char *request_id) {
  char b1[24], b2[24];
  const char *v[6] = {sl_db_i64(b1, account), key, token, sl_db_i64(b2, status), body, request_id};
  return fenced(c, "idem_complete", 6, v);
}

sl_dbrc sl_db_idem_release(sl_dbc *c, int64_t account, const char *key, const char *token) {
  char b1[24];
  const char *v[3] = {sl_db_i64(b1, account), key, token};
  return sl_db_exec(c, "idem_release", 3, v, NULL);
}
