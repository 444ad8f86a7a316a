/* limits.c — per-account request rates set by admins (issue 16, schema/018).
 *
 * Only the override is stored: the kind's default rate is a setting of each process
 * (SUANLI_RATE_<KIND>, src/http/limits.c).  The token lookup of accounts.c reads the override
 * with the token, so the rate travels in the authenticated principal and its cache entry. */
#include "suanli/db/limits.h"
#include "internal.h"
#include <stdlib.h>

const sl_db_stmt sl_db_stmts_limits[] = {
    /* $2: every kind's default rate (a JSON object by kind), $3 the auth cache's lifetime; the
     * account's limits leave as api_rate_limits() of schema/022_api_objects.sql */
    {"rate_limits_get",
     "SELECT j::text FROM accounts a LEFT JOIN account_rate_limits o ON o.account_id = a.id,"
     " api_rate_limits(a, o, $2::json -> a.kind, $3) j WHERE a.id = $1"},
    {"rate_limits_set",
     "INSERT INTO account_rate_limits(account_id, per_second_milli, burst, updated_by)"
     " VALUES ($1, $2, $3, $4) ON CONFLICT (account_id) DO UPDATE"
     " SET per_second_milli = EXCLUDED.per_second_milli, burst = EXCLUDED.burst,"
     "     updated_at = sl_now(), updated_by = EXCLUDED.updated_by"},
    {"rate_limits_clear", "DELETE FROM account_rate_limits WHERE account_id = $1"},
    {NULL, NULL},
};

sl_dbrc sl_db_rate_limits_get(sl_dbc *c, int64_t account_id, const json_t *kind_defaults,
                              int64_t cache_ms, json_t **out) {
  char b1[24], b3[24];
  char *defaults = json_dumps(kind_defaults, JSON_COMPACT);
  if (!defaults) return SL_DB_HARD;
  const char *v[3] = {sl_db_i64(b1, account_id), defaults, sl_db_i64(b3, cache_ms)};
  sl_dbrc rc = sl_db_json(c, "rate_limits_get", 3, v, out);
  free(defaults);
  return rc;
}

sl_dbrc sl_db_rate_limits_set(sl_dbc *c, int64_t account_id, int64_t per_second_milli,
                              int64_t burst, int64_t by) {
  char b1[24], b2[24], b3[24], b4[24];
  const char *v[4] = {sl_db_i64(b1, account_id), sl_db_i64(b2, per_second_milli),
                      sl_db_i64(b3, burst), sl_db_i64_opt(b4, by, 0)};
  return sl_db_exec(c, "rate_limits_set", 4, v, NULL);
}

sl_dbrc sl_db_rate_limits_clear(sl_dbc *c, int64_t account_id) {
  return sl_db_exec_id(c, "rate_limits_clear", account_id, NULL);
}
