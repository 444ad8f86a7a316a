/* locations.c — region coordinates, the RTT estimate and the one latency matrix (region_rtt,
 * schema/019): measured entries, and a great-circle estimate for every other located pair. */
#include "suanli/db/locations.h"
#include "suanli/db/regions.h"
#include "internal.h"
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
    {"latency_model_get",
     "SELECT json_build_object('formula', 'rtt_ms = overhead_ms + 2 * fibre_factor * km /"
     " fibre_km_per_ms, km = great-circle distance between the regions'' coordinates"
     " (haversine, R = 6371.0088 km); rounded to whole microseconds',"
     " 'overhead_ms', sl_milli(overhead_us), 'ms_per_km', (ns_per_km / 1e6)::text,"
     " 'fibre_factor', fibre_factor::text, 'fibre_km_per_ms', fibre_km_per_ms::text,"
     " 'fitted_on', fitted_on, 'pairs', pairs, 'regions', regions,"
     " 'error', json_build_object('median_ms', median_error_ms::text,"
     "  'p90_ms', p90_error_ms::text, 'max_ms', max_error_ms::text,"
     "  'leave_one_region_out', json_build_object('median_ms', loo_median_error_ms::text,"
     "   'p90_ms', loo_p90_error_ms::text)),"
     " 'located_regions', (SELECT count(*) FROM regions WHERE lat IS NOT NULL),"
     " 'regions_without_location', (SELECT coalesce(json_agg(code ORDER BY code), '[]')"
     "   FROM regions WHERE lat IS NULL),"
     " 'updated_at', sl_ts(updated_at))::text FROM latency_model"},
    {"rtt_list",
     "SELECT coalesce(json_agg(json_build_object('from', l.from_region, 'to', l.to_region,"
     "  'rtt_us', l.rtt_us, 'source', l.source, 'updated_at', sl_ts(l.updated_at))"
     "  ORDER BY l.from_region, l.to_region), '[]')::text"
     " FROM region_rtt l"
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
