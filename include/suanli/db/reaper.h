/* db/reaper.h — retention of Idempotency-Key records (src/db/reaper.c). */
#ifndef SUANLI_DB_REAPER_H
#define SUANLI_DB_REAPER_H
#include "suanli/db/db.h"

/* Delete up to limit idempotency records older than retention_s; the count in *deleted. */
sl_dbrc sl_db_idem_reap(sl_dbc *c, int64_t retention_s, int limit, int64_t *deleted);
/* One maintenance step (at most once a minute per thread): reap the records older than
 * retention_s (the server's SUANLI_IDEMPOTENCY_RETENTION_H, at least a day). */
void sl_db_reap_step(sl_dbc *c, int64_t retention_s);

#endif
