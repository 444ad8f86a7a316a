/* pools.c — providers' capacity pools: create, read, list, update, retire, heartbeat. */
#include "suanli/db/pools.h"
#include "internal.h"
#include <stdlib.h>
#include <string.h>

/* A pool leaves as api_pool(p, a, owner_view) of schema/022_api_objects.sql: the owner's and
 * admins' view shows the adapter, the public view (tenants, operators) does not. */

/* Scope shared by get and list: $2 owner, $3 operator regions (JSON array), $4 market. */
#define POOL_SCOPE                                                                                 \
  " ($2::bigint IS NULL OR p.owner_id = $2)"                                                       \
  " AND ($3::json IS NULL OR p.region IN (SELECT json_array_elements_text($3::json)))"             \
  " AND (NOT $4::boolean OR p.status = 'active')"

/* A page of pools: {"items": [...], "next_after": last id when the page is full}; $11 the
 * owner's view. */
#define POOLS_PAGE                                                                                 \
  "SELECT json_build_object('items', coalesce(json_agg(j ORDER BY id), '[]'),"                     \
  " 'next_after', CASE WHEN count(*) = $10 THEN max(id) END)::text FROM ("                         \
  " SELECT p.id, j FROM pools p"                                                                   \
  " JOIN accelerators a ON a.id = p.accelerator_id, api_pool(p, a, $11) j"                         \
  " WHERE p.id > $1 AND" POOL_SCOPE "  AND ($5::text IS NULL OR p.region = $5)"                    \
  "  AND ($6::text IS NULL OR p.accelerator_id IN"                                                 \
  "   (SELECT n.accelerator_id FROM accelerator_names n WHERE n.name = lower($6)))"                \
  "  AND ($7::int IS NULL OR a.memory_gb >= $7)"                                                   \
  "  AND ($8::bigint IS NULL OR a.score_milli >= $8)"                                              \
  "  AND (CASE WHEN $9::text IS NULL THEN p.status <> 'retired' ELSE p.status = $9 END)"           \
  " ORDER BY p.id LIMIT $10) s"

/* The pool p a write returned, in the owner's view (writes are the owner's or an admin's). */
#define WRITTEN_POOL                                                                               \
  " SELECT j::text FROM p JOIN accelerators a ON a.id = p.accelerator_id, api_pool(p, a, true) j"

const sl_db_stmt sl_db_stmts_pools[] = {
    {"pool_create",
     "WITH p AS (INSERT INTO pools(owner_id, name, region, accelerator_id, gpu_count,"
     "  gpus_per_node, intra_node, inter_node, inter_node_gbps, price_minor, available_from,"
     "  available_until, adapter_kind, adapter_config)"
     " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, to_timestamp($11::bigint),"
     "  to_timestamp($12::bigint), $13, $14::jsonb) RETURNING *)" WRITTEN_POOL},
    /* $5: the owner's view */
    {"pool_get", "SELECT j::text FROM pools p"
                 " JOIN accelerators a ON a.id = p.accelerator_id, api_pool(p, a, $5) j"
                 " WHERE p.id = $1 AND" POOL_SCOPE},
    {"pools_page", POOLS_PAGE},
    {"pool_update",
     "WITH p AS (UPDATE pools SET name = coalesce($3, name), status = coalesce($4, status),"
     "  price_minor = coalesce($5::bigint, price_minor),"
     "  gpu_count = coalesce($6::int, gpu_count),"
     "  healthy_gpus = CASE WHEN healthy_gpus IS NULL THEN NULL"
     "    ELSE least(healthy_gpus, coalesce($6::int, gpu_count)) END,"
     "  available_from = coalesce(to_timestamp($7::bigint), available_from),"
     "  available_until = coalesce(to_timestamp($8::bigint), available_until),"
     "  updated_at = sl_now()"
     " WHERE id = $1 AND ($2::bigint IS NULL OR owner_id = $2) AND status <> 'retired'"
     " RETURNING *)" WRITTEN_POOL},
    {"pool_heartbeat",
     "WITH p AS (UPDATE pools SET healthy_gpus = $3, utilization_bp = $4,"
     "  last_heartbeat_at = sl_now(), health = CASE WHEN $3::int = 0 THEN 'down'"
     "  WHEN $3::int < gpu_count THEN 'degraded' ELSE 'healthy' END"
     " WHERE id = $1 AND ($2::bigint IS NULL OR owner_id = $2) AND status <> 'retired'"
     " RETURNING *)" WRITTEN_POOL},
    {"pool_status",
     "SELECT status FROM pools WHERE id = $1 AND ($2::bigint IS NULL OR owner_id = $2)"},
    {NULL, NULL},
};

sl_dbrc sl_db_pool_create(sl_dbc *c, const sl_pool_new *p, json_t **out) {
  char b1[24], b5[24], b6[24], b9[24], b10[24], b11[24], b12[24];
  char *cfg = json_dumps(p->adapter_config, JSON_COMPACT);
  if (!cfg) return SL_DB_HARD;
  const char *v[14] = {sl_db_i64(b1, p->owner_id),
                       p->name,
                       p->region,
                       p->accelerator,
                       sl_db_i64(b5, p->gpu_count),
                       sl_db_i64(b6, p->gpus_per_node),
                       p->intra_node,
                       p->inter_node,
                       sl_db_i64(b9, p->inter_node_gbps),
                       sl_db_i64(b10, p->price_minor),
                       sl_db_ts(b11, p->available_from),
                       sl_db_ts(b12, p->available_until),
                       p->adapter_kind,
                       cfg};
  sl_dbrc rc = sl_db_json(c, "pool_create", 14, v, out);
  free(cfg);
  return rc;
}

/* Fill the scope parameters ($2..$4) of a get/list statement; the regions text is returned
 * (the caller frees it). */
static char *scope_params(const sl_pool_filter *f, const char **v, char b[24]) {
  v[2] = (f && f->market_only) ? "true" : "false";
  return sl_db_scope_params(v, b, f ? f->owner : 0, f ? f->regions : NULL);
}

sl_dbrc sl_db_pool_get(sl_dbc *c, int64_t id, const sl_pool_filter *scope, json_t **out) {
  char b1[24], b2[24];
  char *regions;
  const char *v[5];
  v[0] = sl_db_i64(b1, id);
  regions = scope_params(scope, v + 1, b2);
  v[4] = scope && scope->public_view ? "false" : "true";
  sl_dbrc rc = sl_db_json(c, "pool_get", 5, v, out);
  free(regions);
  return rc;
}

sl_dbrc sl_db_pools_page(sl_dbc *c, const sl_pool_filter *f, char **out) {
  char b1[24], b2[24], b7[24], b8[24], b10[24];
  char *regions;
  const char *v[11];
  v[0] = sl_db_i64(b1, f->after);
  regions = scope_params(f, v + 1, b2);
  v[4] = f->region;
  v[5] = f->accelerator;
  v[6] = sl_db_i64_opt(b7, f->min_memory_gb, -1);
  v[7] = sl_db_i64_opt(b8, f->min_ncu_milli, -1);
  v[8] = f->status;
  v[9] = sl_db_i64(b10, f->limit);
  v[10] = f->public_view ? "false" : "true";
  sl_dbrc rc = sl_db_text(c, "pools_page", 11, v, out);
  free(regions);
  return rc;
}

sl_dbrc sl_db_pool_update(sl_dbc *c, int64_t id, int64_t owner, const sl_pool_patch *p,
                          json_t **out) {
  char b1[24], b2[24], b5[24], b6[24], b7[24], b8[24];
  const char *v[8] = {sl_db_i64(b1, id),
                      sl_db_i64_opt(b2, owner, 0),
                      p->name,
                      p->status,
                      sl_db_i64_opt(b5, p->price_minor, -1),
                      sl_db_i64_opt(b6, p->gpu_count, -1),
                      sl_db_i64_opt(b7, p->available_from, -1),
                      sl_db_i64_opt(b8, p->available_until, -1)};
  return sl_db_json(c, "pool_update", 8, v, out);
}

sl_dbrc sl_db_pool_heartbeat(sl_dbc *c, int64_t id, int64_t owner, int64_t healthy_gpus,
                             int64_t utilization_bp, json_t **out) {
  char b1[24], b2[24], b3[24], b4[24];
  const char *v[4] = {sl_db_i64(b1, id), sl_db_i64_opt(b2, owner, 0), sl_db_i64(b3, healthy_gpus),
                      sl_db_i64(b4, utilization_bp)};
  return sl_db_json(c, "pool_heartbeat", 4, v, out);
}

sl_dbrc sl_db_pool_status(sl_dbc *c, int64_t id, int64_t owner, char **status) {
  char b1[24], b2[24];
  const char *v[2] = {sl_db_i64(b1, id), sl_db_i64_opt(b2, owner, 0)};
  PGresult *r;
  *status = NULL;
  sl_dbrc rc = sl_db_exec(c, "pool_status", 2, v, &r);
  if (rc != SL_DB_OK) return rc;
  if (PQntuples(r) == 1) *status = strdup(PQgetvalue(r, 0, 0));
  else rc = SL_DB_NOROWS;
  PQclear(r);
  return rc;
}
