/* h_locations.c — where regions are, and the RTT estimate that fills the latency matrix
 * between located regions (schema/019, region_rtt).  Regions' coordinates come with
 * POST /v1/regions or PATCH /v1/regions/{code}; GET /v1/latency/model shows the estimate's
 * constants and its error against the measured matrix. */
#include "internal.h"
#include "suanli/db/locations.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Take "lat" and "lon" out of body (so the declarative decoder sees only the other fields):
 * both absent (*present false), both numbers in range, or — when allow_null — both null
 * (*present true, *has false: clear).  Replies 400 naming the field and returns false on a
 * problem. */
bool sl_region_coords_take(sl_req *r, json_t *body, bool allow_null, bool *present, bool *has,
                           double *lat, double *lon) {
  static const char *const names[2] = {"lat", "lon"};
  static const double limit[2] = {90.0, 180.0};
  json_t *v[2] = {json_object_get(body, "lat"), json_object_get(body, "lon")};
  double *out[2] = {lat, lon};
  *present = v[0] || v[1];
  *has = false;
  if (!*present) return true;
  for (int i = 0; i < 2; i++)
    if (!v[i]) {
      sl_reply_error(r, SL_E_MISSING_FIELD, names[i], "lat and lon go together");
      return false;
    }
  if (json_is_null(v[0]) && json_is_null(v[1])) {
    if (!allow_null) {
      sl_reply_error(r, SL_E_WRONG_TYPE, "lat", "must be a number of degrees");
      return false;
    }
  } else {
    for (int i = 0; i < 2; i++) {
      if (!json_is_number(v[i])) {
        sl_reply_error(r, SL_E_WRONG_TYPE, names[i], "must be a number of degrees%s",
                       allow_null ? " (or both null to clear)" : "");
        return false;
      }
      double d = json_number_value(v[i]);
      if (!isfinite(d) || d < -limit[i] || d > limit[i]) {
        sl_reply_error(r, SL_E_INVALID_VALUE, names[i], "must be between -%g and %g degrees",
                       limit[i], limit[i]);
        return false;
      }
      *out[i] = d;
    }
    *has = true;
  }
  json_object_del(body, "lat");
  json_object_del(body, "lon");
  return true;
}

/* PATCH /v1/regions/{code} {"name"?, "operator"?, "location"?, "lat"?, "lon"?} (admin). */
void h_regions_update(sl_req *r) {
  const char *code = r->params[0];
  snprintf(r->audit_object, sizeof r->audit_object, "region:%.40s", code);
  json_t *body = sl_req_body(r);
  if (!body) return;
  sl_region_patch p = {0};
  bool nonempty = json_object_size(body) > 0;
  if (!sl_region_coords_take(r, body, true, &p.set_coords, &p.has_coords, &p.lat, &p.lon))
    goto cleanup;
  const sl_jfield f[] = {
      {"name", SL_JT_STRING, false, &p.name, NULL, 1, 200, NULL},
      {"operator", SL_JT_STRING, false, &p.operator_name, NULL, 0, 200, NULL},
      {"location", SL_JT_STRING, false, &p.location, NULL, 0, 200, NULL},
  };
  if (!sl_req_decode(r, body, f, sizeof f / sizeof f[0])) goto cleanup;
  if (!nonempty) {
    sl_reply_error(r, SL_E_MISSING_FIELD, "", "give at least one field to change");
    goto cleanup;
  }
  json_t *reg;
  sl_dbrc rc = strlen(code) <= 40 ? sl_db_region_patch(r->db, code, &p, &reg) : SL_DB_NOROWS;
  if (rc == SL_DB_NOROWS) sl_reply_error(r, SL_E_NOT_FOUND, "code", "no region '%.40s'", code);
  else if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else sl_reply_json(r, 200, reg);
cleanup:
  json_decref(body);
}

/* GET /v1/latency/model: the estimate's formula, constants and error. */
void h_latency_model(sl_req *r) {
  json_t *m;
  sl_dbrc rc = sl_db_latency_model_get(r->db, &m);
  if (rc == SL_DB_NOROWS) sl_reply_error(r, SL_E_NOT_FOUND, "", "no RTT estimate is installed");
  else if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else sl_reply_json(r, 200, m);
}
