/* drain.c — drain, then retire: a pool with bookings left drains until its last booking
 * ends and is retired then (schema/019: sl_pool_retire, sl_pools_retire_due). */
#include "suanli/db/drain.h"
#include "internal.h"
#include <stdlib.h>
#include <string.h>

const sl_db_stmt sl_db_stmts_drain[] = {
    {"pool_retire_or_drain",
     "SELECT out_status, extract(epoch FROM out_until)::bigint FROM sl_pool_retire($1, $2)"},
    {"pool_booked_until", "SELECT extract(epoch FROM sl_pool_booked_until($1))::bigint"},
    {"pools_retire_due",
     "SELECT coalesce(json_agg(id ORDER BY id), '[]')::text FROM sl_pools_retire_due() id"},
    {NULL, NULL},
};

sl_dbrc sl_db_pool_retire_or_drain(sl_dbc *c, int64_t id, int64_t owner, char status[16],
                                   int64_t *until) {
  char b1[24], b2[24];
  const char *v[2] = {sl_db_i64(b1, id), sl_db_i64_opt(b2, owner, 0)};
  PGresult *r;
  status[0] = '\0';
  *until = 0;
  sl_dbrc rc = sl_db_exec(c, "pool_retire_or_drain", 2, v, &r);
  if (rc != SL_DB_OK) return rc;
  if (PQntuples(r) != 1 || PQgetisnull(r, 0, 0)) {
    rc = SL_DB_NOROWS;
  } else {
    snprintf(status, 16, "%s", PQgetvalue(r, 0, 0));
    if (!PQgetisnull(r, 0, 1)) *until = sl_db_col_i64(r, 0, 1);
  }
  PQclear(r);
  return rc;
}

sl_dbrc sl_db_pool_booked_until(sl_dbc *c, int64_t id, int64_t *until) {
  PGresult *r;
  *until = 0;
  sl_dbrc rc = sl_db_exec_id(c, "pool_booked_until", id, &r);
  if (rc != SL_DB_OK) return rc;
  if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) *until = sl_db_col_i64(r, 0, 0);
  PQclear(r);
  return SL_DB_OK;
}

sl_dbrc sl_db_pools_retire_due(sl_dbc *c, json_t **ids) {
  json_t *j = NULL;
  sl_dbrc rc = sl_db_json(c, "pools_retire_due", 0, NULL, &j);
  if (ids) *ids = j;
  else json_decref(j);
  return rc;
}
