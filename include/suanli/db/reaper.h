/* db/reaper.h — retention of Idempotency-Key records and of dispatch attempts
 * (src/db/reaper.c). */
#ifndef SUANLI_DB_REAPER_H
#define SUANLI_DB_REAPER_H
#include "suanli/db/db.h"

/* Delete up to limit idempotency records older than retention_s; the count in *deleted. */
sl_dbrc sl_db_idem_reap(sl_dbc *c, int64_t retention_s, int limit, int64_t *deleted);
/* Delete up to limit dispatch attempts older than retention_s; the count in *deleted. */
sl_dbrc sl_db_attempts_reap(sl_dbc *c, int64_t retention_s, int limit, int64_t *deleted);
/* One maintenance step (at most once a minute per thread): reap the idempotency records
 * older than retention_s (the server's SUANLI_IDEMPOTENCY_RETENTION_H, at least a day), and
 * the dispatch attempts older than attempts_retention_s (SUANLI_ATTEMPTS_RETENTION_H; 0: keep
 * them all). */
void sl_db_reap_step(sl_dbc *c, int64_t retention_s, int64_t attempts_retention_s);

#endif
