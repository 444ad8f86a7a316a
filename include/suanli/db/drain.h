/* db/drain.h — drain, then retire (src/db/drain.c, schema/019). */
#ifndef SUANLI_DB_DRAIN_H
#define SUANLI_DB_DRAIN_H
#include "suanli/db/db.h"

/* Retire pool id of owner (0 = any): at once when nothing is booked from the current hour
 * on (*status "retired"), else drain it until its last booking ends (*status "draining",
 * *until that end, epoch seconds; the maintenance worker retires it then).  NOROWS when the
 * pool is unknown, another owner's or already retired. */
sl_dbrc sl_db_pool_retire_or_drain(sl_dbc *c, int64_t id, int64_t owner, char status[16],
                                   int64_t *until);
/* The end of a pool's last booking from the current hour on (epoch s), 0 when none. */
sl_dbrc sl_db_pool_booked_until(sl_dbc *c, int64_t id, int64_t *until);
/* Retire every draining pool whose retire_at has come and that holds no booking any more;
 * *ids (owned by the caller, may be NULL) receives their ids. */
sl_dbrc sl_db_pools_retire_due(sl_dbc *c, json_t **ids);

#endif
