/* db/idempotency.h — Idempotency-Key claims (src/db/idempotency.c; the claim rule is at the top of
 * that file). */
#ifndef SUANLI_DB_IDEMPOTENCY_H
#define SUANLI_DB_IDEMPOTENCY_H
#include "suanli/db/db.h"

typedef enum { SL_IDEM_CLAIMED, SL_IDEM_REPLAY, SL_IDEM_MISMATCH, SL_IDEM_IN_FLIGHT } sl_idem_state;
/* Claim (account, key) for a request with this hash under `token` (autocommit): a new claim,
 * or the takeover of an abandoned one (not locked by a running business transaction and
 * older than lease_s).  Otherwise *state says replay (with *status and *body, malloc'd),
 * mismatch (another request used the key) or in flight. */
sl_dbrc sl_db_idem_claim(sl_dbc *c, int64_t account, const char *key, const uint8_t hash[32],
                         const char *token, int lease_s, sl_idem_state *state, int *status,
                         char **body);
/* Inside the business transaction: lock the claim until COMMIT/ROLLBACK.  SL_DB_NOROWS when
 * the claim is no longer `token`'s (taken over by a retry). */
sl_dbrc sl_db_idem_lock(sl_dbc *c, int64_t account, const char *key, const char *token);
/* Store the reply of request_id under the key: only while the claim is `token`'s
 * (SL_DB_NOROWS otherwise: the caller must roll back). */
sl_dbrc sl_db_idem_complete(sl_dbc *c, int64_t account, const char *key, const char *token,
                            int status, const char *body, const char *request_id);
/* Drop `token`'s in-flight claim (nothing committed), so that a retry executes at once. */
sl_dbrc sl_db_idem_release(sl_dbc *c, int64_t account, const char *key, const char *token);

#endif
