/* locations.c — region coordinates, the RTT estimate and the one latency matrix (region_rtt,
 * schema/019): measured entries, and a great-circle estimate for every other located pair. */
#include "suanli/db/locations.h"
#include "internal.h"
#include "suanli/db/regions.h"
#include <stdio.h>
#include <stdlib.h>

const sl_db_stmt sl_db_stmts_locations[] = {
    /* $1 code, $2 name, $3 operator, $4 location, $5 set coordinates, $6 lat, $7 lon */
    {"region_patch",
     "UPDATE regions SET name = coalesce($2, name), operator = coalesce($3, operator),"
     " location = coalesce($4, location),"
     " lat = CASE WHEN $5::boolean THEN $6::double precision ELSE lat END,"
     " lon = CASE WHEN $5::boolean THEN $7::double precision ELSE lon END"
     " WHERE code = $1 RETURNING code"},
    /* the model and the matrix's entries leave as api_latency_model() and api_latency_entry() of
     * schema/022_api_objects.sql */
    {"latency_model_get", "SELECT j::text FROM latency_model m, api_latency_model(m) j"},
    {"rtt_list",
     "SELECT coalesce(json_agg(j ORDER BY l.from_region, l.to_region), '[]')::text"
     " FROM region_rtt l, api_latency_entry(l) j"
     " WHERE ($1::text IS NULL OR l.from_region = $1) AND ($2::text IS NULL OR l.to_region = $2)"
     "  AND ($1::text IS NOT NULL OR $2::text IS NOT NULL OR l.source = 'measured')"},
    {NULL, NULL},
};

sl_dbrc sl_db_region_patch(sl_dbc *c, const char *code, const sl_region_patch *p, json_t **out) {
  char lat[40], lon[40];
  snprintf(lat, sizeof lat, "%.17g", p->lat);
  snprintf(lon, sizeof lon, "%.17g", p->lon);
  bool coords = p->set_coords && p->has_coords;
  const char *v[7] = {code,
                      p->name,
                      p->operator_name,
                      p->location,
                      p->set_coords ? "true" : "false",
                      coords ? lat : NULL,
                      coords ? lon : NULL};
  PGresult *r;
  sl_dbrc rc = sl_db_exec(c, "region_patch", 7, v, &r);
  if (rc != SL_DB_OK) return rc;
  bool found = PQntuples(r) == 1;
  PQclear(r);
  return found ? sl_db_region_get(c, code, out) : SL_DB_NOROWS; /* in the one Region shape */
}

sl_dbrc sl_db_latency_model_get(sl_dbc *c, json_t **out) {
  return sl_db_json(c, "latency_model_get", 0, NULL, out);
}

sl_dbrc sl_db_rtt_list(sl_dbc *c, const char *from, const char *to, json_t **out) {
  const char *v[2] = {from, to};
  return sl_db_json(c, "rtt_list", 2, v, out);
}
