/* db/limits.h — per-account request rates set by admins (src/db/limits.c, schema/018). */
#ifndef SUANLI_DB_LIMITS_H
#define SUANLI_DB_LIMITS_H
#include "suanli/db/db.h"

/* The account's RateLimits (api_rate_limits): {"account_id", "kind", "override": {"per_second",
 * "burst", "updated_at", "updated_by"} or null, "kind_default", "effective", "source",
 * "cache_ms"}, given every kind's default rate (an object by kind, a kind without a limit
 * absent or null) and the auth cache's lifetime.  SL_DB_NOROWS when there is no such
 * account. */
sl_dbrc sl_db_rate_limits_get(sl_dbc *c, int64_t account_id, const json_t *kind_defaults,
                              int64_t cache_ms, json_t **out);
/* Set (insert or replace) the account's override: per_second_milli thousandths of a token a
 * second (1..100000000), burst 1..100000; `by` is the admin's account id. */
sl_dbrc sl_db_rate_limits_set(sl_dbc *c, int64_t account_id, int64_t per_second_milli,
                              int64_t burst, int64_t by);
/* Remove the account's override (none is not an error): its kind's default applies again. */
sl_dbrc sl_db_rate_limits_clear(sl_dbc *c, int64_t account_id);

#endif
