/* regions.c — regions and the directional latency matrix. */
#include "suanli/db/regions.h"
#include "internal.h"
#include <stdlib.h>

/* Regions leave as api_region() of schema/022_api_objects.sql. */

const sl_db_stmt sl_db_stmts_regions[] = {
    {"region_create",
     "WITH r AS (INSERT INTO regions(code, name, tier, operator)"
     " VALUES ($1, $2, $3, coalesce($4, '')) RETURNING *) SELECT j::text FROM r, api_region(r) j"},
    {"region_get", "SELECT j::text FROM regions r, api_region(r) j WHERE r.code = $1"},
    {"regions_list", "SELECT coalesce(json_agg(j ORDER BY code), '[]')::text FROM ("
                     " SELECT r.code, j FROM regions r, api_region(r) j"
                     " WHERE ($1::text IS NULL OR r.tier = $1) AND r.code > coalesce($2, '')"
                     " ORDER BY r.code LIMIT $3) s"},
    /* $1: JSON array of {"from","to","rtt_us"}; returns the number of rows written.  An admin's
     * entry replaces an agent's (schema/027: admins win). */
    {"latency_set",
     "WITH e AS (SELECT x->>'from' AS f, x->>'to' AS t, (x->>'rtt_us')::bigint AS us"
     "           FROM json_array_elements($1::json) x),"
     " w AS (INSERT INTO region_latency(from_region, to_region, rtt_us)"
     "       SELECT f, t, us FROM e"
     "       ON CONFLICT (from_region, to_region)"
     "       DO UPDATE SET rtt_us = EXCLUDED.rtt_us, measured_by = 'admin', agent_id = NULL,"
     "         updated_at = sl_now() RETURNING 1)"
     " SELECT count(*) FROM w"},
    {NULL, NULL},
};

sl_dbrc sl_db_region_create(sl_dbc *c, const char *code, const char *name, const char *tier,
                            const char *op, json_t **out) {
  const char *v[4] = {code, name, tier, op};
  return sl_db_json(c, "region_create", 4, v, out);
}

sl_dbrc sl_db_region_get(sl_dbc *c, const char *code, json_t **out) {
  const char *v[1] = {code};
  return sl_db_json(c, "region_get", 1, v, out);
}

sl_dbrc sl_db_regions_list(sl_dbc *c, const char *tier, const char *after, int limit,
                           json_t **out) {
  char b[24];
  const char *v[3] = {tier, after, sl_db_i64(b, limit)};
  return sl_db_json(c, "regions_list", 3, v, out);
}

sl_dbrc sl_db_latency_set(sl_dbc *c, const json_t *entries, int64_t *updated) {
  char *js = json_dumps(entries, JSON_COMPACT);
  if (!js) return SL_DB_HARD;
  const char *v[1] = {js};
  sl_dbrc rc = sl_db_int(c, "latency_set", 1, v, updated);
  free(js);
  return rc;
}
