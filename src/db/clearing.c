/* clearing.c — the call auction's queries (contract in include/suanli/db/clearing.h). */
#include "suanli/db/clearing.h"
#include "internal.h"
#include <stdio.h>

const sl_db_stmt sl_db_stmts_clearing[] = {
    {"clearing_due", "SELECT coalesce(json_agg(r ORDER BY r), '[]')::text FROM ("
                     " SELECT DISTINCT o.clearing_region AS r FROM orders o"
                     " LEFT JOIN clearing_runs c ON c.region = o.clearing_region"
                     " WHERE o.state = 'open' AND o.clearing = 'call'"
                     "   AND (c.last_run_at IS NULL"
                     "        OR floor(extract(epoch FROM c.last_run_at) / $1::int)"
                     "           < floor(extract(epoch FROM sl_now()) / $1::int))) s"},
    /* the advisory lock first (never waiting), then the lease row, only when due: rounds run on
     * the wall-clock grid of the interval, at most one per interval (floor(epoch / interval)) */
    {"clearing_claim",
     "WITH l AS (SELECT pg_try_advisory_xact_lock(hashtext('suanli_clearing'), hashtext($1))"
     "  AS got)"
     " INSERT INTO clearing_runs AS c (region, last_run_at, runs)"
     " SELECT $1, sl_now(), 1 FROM l WHERE l.got"
     " ON CONFLICT (region) DO UPDATE SET last_run_at = sl_now(), runs = c.runs + 1"
     " WHERE floor(extract(epoch FROM c.last_run_at) / $2::int)"
     "       < floor(extract(epoch FROM sl_now()) / $2::int)"
     " RETURNING runs"},
    {"clearing_batch",
     "SELECT coalesce(json_agg(json_build_object('id', id, 'tenant_id', tenant_id,"
     " 'request', request, 'rounds', clearing_rounds) ORDER BY id), '[]')::text FROM ("
     " SELECT id, tenant_id, request, clearing_rounds FROM orders"
     " WHERE state = 'open' AND clearing = 'call' AND clearing_region = $1"
     "   AND latest_start >= date_trunc('hour', sl_now())"
     " ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED) s"},
    {"clearing_rest",
     "UPDATE orders SET clearing_rounds = clearing_rounds + 1, reason = $2, updated_at = sl_now()"
     " WHERE id = $1 AND state = 'open'"},
    /* a region's first round runs at the end of the interval of its first call order */
    {"clearing_touch", "INSERT INTO clearing_runs(region, last_run_at) VALUES ($1, sl_now())"
                       " ON CONFLICT (region) DO NOTHING"},
    {"clearing_done",
     "UPDATE clearing_runs SET last_orders = $2, last_placed = $3 WHERE region = $1"},
    {NULL, NULL},
};

sl_dbrc sl_db_clearing_due(sl_dbc *c, int64_t interval_s, json_t **regions) {
  char b[24];
  const char *v[1] = {sl_db_i64(b, interval_s)};
  return sl_db_json(c, "clearing_due", 1, v, regions);
}

sl_dbrc sl_db_clearing_claim(sl_dbc *c, const char *region, int64_t interval_s, int64_t *round) {
  char b[24];
  const char *v[2] = {region, sl_db_i64(b, interval_s)};
  return sl_db_int(c, "clearing_claim", 2, v, round);
}

sl_dbrc sl_db_clearing_batch(sl_dbc *c, const char *region, int limit, json_t **orders) {
  char b[24];
  const char *v[2] = {region, sl_db_i64(b, limit)};
  return sl_db_json(c, "clearing_batch", 2, v, orders);
}

sl_dbrc sl_db_clearing_rest(sl_dbc *c, int64_t order, const char *reason) {
  char b[24];
  const char *v[2] = {sl_db_i64(b, order), reason};
  return sl_db_exec(c, "clearing_rest", 2, v, NULL);
}

sl_dbrc sl_db_clearing_done(sl_dbc *c, const char *region, int64_t orders, int64_t placed) {
  char b1[24], b2[24];
  const char *v[3] = {region, sl_db_i64(b1, orders), sl_db_i64(b2, placed)};
  return sl_db_exec(c, "clearing_done", 3, v, NULL);
}

sl_dbrc sl_db_clearing_touch(sl_dbc *c, const char *region) {
  const char *v[1] = {region};
  return sl_db_exec(c, "clearing_touch", 1, v, NULL);
}
