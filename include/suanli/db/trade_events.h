/* db/trade_events.h — what happened to a trade's reservation on the pool's system: its state
 * changes, its dispatch jobs and every attempt at them (src/db/trade_events.c). */
#ifndef SUANLI_DB_TRADE_EVENTS_H
#define SUANLI_DB_TRADE_EVENTS_H
#include "suanli/db/db.h"

/* The events of trade `id` as `party` (its tenant or provider; 0 = anyone) or an operator of
 * `regions` (a JSON array of codes; NULL = any) may see them: {"trade_id", "reservation_id",
 * "reservation_state", "external_ref", "events", "jobs", "attempts", "attempts_total"}
 * (the last 50 attempts).  NOROWS when unknown or not visible. */
sl_dbrc sl_db_trade_events(sl_dbc *c, int64_t id, int64_t party, const json_t *regions,
                           json_t **out);

#endif
