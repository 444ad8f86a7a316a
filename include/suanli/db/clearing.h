/* db/clearing.h — the call auction's queries (src/db/clearing.c, schema/028_call_auction.sql).
 * The auction itself is src/trading/clearing.c; the solver src/market/clearing.c. */
#ifndef SUANLI_DB_CLEARING_H
#define SUANLI_DB_CLEARING_H
#include "suanli/db/db.h"
#include <jansson.h>

/* The clearing regions with resting call orders whose last round lies in an earlier interval
 * of the wall-clock grid (floor(epoch / interval_s); or that never ran): *regions, a JSON array
 * of strings owned by the caller.  Every region comes due at the same instants, so that one
 * step can clear them together. */
sl_dbrc sl_db_clearing_due(sl_dbc *c, int64_t interval_s, json_t **regions);
/* In the caller's transaction: take region's transaction-scoped advisory lock without waiting
 * and, when it was free and the region is due, stamp its lease row (clearing_runs).  OK with
 * *round = the region's round number, or NOROWS when another process holds it or it is not
 * due.  The lock is held until the transaction ends: one process clears a region at a time. */
sl_dbrc sl_db_clearing_claim(sl_dbc *c, const char *region, int64_t interval_s, int64_t *round);
/* Lock (FOR UPDATE SKIP LOCKED) at most `limit` open call orders of region whose start window
 * has not passed, oldest first: *orders, [{id, tenant_id, request, rounds}], owned by the
 * caller. */
sl_dbrc sl_db_clearing_batch(sl_dbc *c, const char *region, int limit, json_t **orders);
/* A call order was not placed this round: it stays open with `reason`, one more round waited. */
sl_dbrc sl_db_clearing_rest(sl_dbc *c, int64_t order, const char *reason);
/* A call order arrived for region: a region that never ran gets its lease row stamped now, so
 * its first round runs at the end of the current interval of the grid (a batch forms);
 * otherwise nothing changes. */
sl_dbrc sl_db_clearing_touch(sl_dbc *c, const char *region);
/* Record the round's size on the region's lease row. */
sl_dbrc sl_db_clearing_done(sl_dbc *c, const char *region, int64_t orders, int64_t placed);

#endif
