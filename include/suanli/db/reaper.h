/* db/reaper.h — retention of Idempotency-Key records (src/db/reaper.c). */
#ifndef SUANLI_DB_REAPER_H
#define SUANLI_DB_REAPER_H
#include "suanli/db/db.h"

/* Delete up to limit idempotency records older than retention_s; the count in *deleted. */
sl_dbrc sl_db_idem_reap(sl_dbc *c, int64_t retention_s, int limit, int64_t *deleted);
/* The retention of idempotency records: SUANLI_IDEMPOTENCY_RETENTION_H hours (default and
 * minimum 24). */
int64_t sl_idem_retention_s(void);
/* One maintenance step (at most once a minute per thread): reap expired records. */
void sl_db_reap_step(sl_dbc *c);

#endif
