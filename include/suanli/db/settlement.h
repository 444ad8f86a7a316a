/* db/settlement.h — periods, statement lines, region summaries (src/db/settlement.c). */
#ifndef SUANLI_DB_SETTLEMENT_H
#define SUANLI_DB_SETTLEMENT_H
#include "suanli/db/db.h"

typedef bool (*sl_db_row_fn)(int ncols, const char *const *cols, const bool *nulls, void *arg);
sl_dbrc sl_db_period_insert(sl_dbc *c, int64_t from, int64_t to, int64_t closed_by,
                            const char *sha_hex, int64_t *id);
sl_dbrc sl_db_period_set_entry(sl_dbc *c, int64_t id, int64_t entry);
sl_dbrc sl_db_period_get(sl_dbc *c, int64_t id, json_t **out);
sl_dbrc sl_db_period_bounds(sl_dbc *c, int64_t id, int64_t *from, int64_t *to);
sl_dbrc sl_db_periods_list(sl_dbc *c, json_t **out);
/* Stream sl_period_lines (owner -1 = every account, 0 = the exchange): columns account_id,
 * account_kind, txn_id, at, kind, trade_id, pool_id, region, gpu_hours, available, escrow,
 * fee, memo. */
sl_dbrc sl_db_period_lines(sl_dbc *c, int64_t owner, int64_t from, int64_t to, sl_db_row_fn row,
                           void *arg);
sl_dbrc sl_db_balances_at(sl_dbc *c, int64_t owner, int64_t at, int64_t *available,
                          int64_t *escrow);
/* (pool_id, refunded) on a provider's trades in [from, to). */
sl_dbrc sl_db_refunds_borne(sl_dbc *c, int64_t provider, int64_t from, int64_t to, sl_db_row_fn row,
                            void *arg);
/* (region, trades, gpu_hours, gross, fees, refunds) for regions (JSON array; NULL = all). */
sl_dbrc sl_db_region_summary(sl_dbc *c, int64_t from, int64_t to, const json_t *regions,
                             sl_db_row_fn row, void *arg);

#endif
