/* db/stats.h — dashboard, market view and /metrics figures (src/db/stats.c). */
#ifndef SUANLI_DB_STATS_H
#define SUANLI_DB_STATS_H
#include "suanli/db/db.h"

/* ---- dashboard, market view and /metrics (stats.c) ----
 * Read-only; every reply is bounded (see src/db/stats.c).  scope: a JSON array of region
 * codes (an operator's regions) or NULL for everything; *out is owned by the caller. */
/* Per region: pools and GPUs by model and health, NCU, GPUs booked now and over 14 days,
 * the live period's trades, revenue, fees and refunds since `since`, and order outcomes. */
sl_dbrc sl_db_stats_regions(sl_dbc *c, const json_t *scope, const char *region, int64_t since,
                            json_t **out);
/* Booked GPUs of the region's pools (first 100) for `hours` hourly slots from this hour. */
sl_dbrc sl_db_stats_utilization(sl_dbc *c, const char *region, int hours, json_t **out);
/* Heartbeats, silent pools, failovers and refunds of the last 24 h; owner 0 = any. */
sl_dbrc sl_db_stats_health(sl_dbc *c, const json_t *scope, int64_t owner, json_t **out);
/* Reservations by state per adapter, dispatch lag percentiles, retries, failures (24 h). */
sl_dbrc sl_db_stats_dispatch(sl_dbc *c, const json_t *scope, json_t **out);
/* Free GPUs this hour and price bands per (region, model); filters may be NULL. */
sl_dbrc sl_db_market_offers(sl_dbc *c, const char *accelerator, const char *region, int limit,
                            json_t **out);
/* Volume-weighted price per bucket ("hour" or "day") over the last `days` days. */
sl_dbrc sl_db_market_prices(sl_dbc *c, const char *accelerator, int days, const char *region,
                            const char *bucket, json_t **out);
/* The last trade price of every model that has traded. */
sl_dbrc sl_db_market_last(sl_dbc *c, json_t **out);
/* The database figures of /metrics (trade rollup, pools, reservations, dispatch, ledger). */
sl_dbrc sl_db_stats_metrics(sl_dbc *c, const json_t *scope, json_t **out);

#endif
