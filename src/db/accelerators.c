/* accelerators.c — the accelerator catalog and the capacity-weights standard. */
#include "suanli/db/accelerators.h"
#include "internal.h"
#include "suanli/core/capacity.h"
#include <stdlib.h>
#include <string.h>

/* Models and the formula leave as api_accelerator() and api_formula() of
 * schema/022_api_objects.sql. */

const sl_db_stmt sl_db_stmts_accel[] = {
    {"accel_list", "SELECT coalesce(json_agg(j ORDER BY a.id), '[]')::text"
                   " FROM accelerators a, api_accelerator(a) j"},
    {"accel_get", "SELECT j::text FROM accelerators a, api_accelerator(a) j WHERE a.id = $1"},
    /* $1: the formula's text (sl_capacity_formula_text) */
    {"formula_get",
     "SELECT j::text FROM capacity_weights w JOIN accelerators a ON a.id = w.reference_id,"
     " api_formula(w, a, $1) j"},
    {"weights_set",
     "UPDATE capacity_weights SET compute_bp = $1, memory_bp = $2,"
     " reference_id = coalesce($3, reference_id), version = version + 1, updated_at = sl_now()"},
    /* Inputs of the scoring: weights, reference figures, then every model's figures. */
    {"weights_read",
     "SELECT w.compute_bp, w.memory_bp, coalesce(a.bf16_dense_tflops, a.fp16_dense_tflops),"
     " a.mem_bandwidth_gbps, w.version"
     " FROM capacity_weights w JOIN accelerators a ON a.id = w.reference_id"},
    {"accel_specs", "SELECT id, coalesce(bf16_dense_tflops, -1), coalesce(fp16_dense_tflops, -1),"
                    " coalesce(mem_bandwidth_gbps, -1) FROM accelerators ORDER BY id"},
    {"accel_set_score",
     "UPDATE accelerators SET score_milli = $2, rating = $3, weights_version = $4"
     " WHERE id = $1 AND (score_milli IS DISTINCT FROM $2::bigint OR rating <> $3"
     "   OR weights_version <> $4)"},
    {NULL, NULL},
};

sl_dbrc sl_db_accelerators_list(sl_dbc *c, json_t **out) {
  return sl_db_json(c, "accel_list", 0, NULL, out);
}

sl_dbrc sl_db_accelerator_get(sl_dbc *c, const char *id, json_t **out) {
  const char *v[1] = {id};
  return sl_db_json(c, "accel_get", 1, v, out);
}

sl_dbrc sl_db_formula_get(sl_dbc *c, json_t **out) {
  const char *v[1] = {sl_capacity_formula_text};
  return sl_db_json(c, "formula_get", 1, v, out);
}

sl_dbrc sl_db_capacity_rescore(sl_dbc *c) {
  PGresult *w = NULL, *s = NULL;
  sl_dbrc rc = sl_db_exec(c, "weights_read", 0, NULL, &w);
  if (rc != SL_DB_OK) goto cleanup;
  if (PQntuples(w) != 1 || PQgetisnull(w, 0, 2) || PQgetisnull(w, 0, 3)) {
    rc = SL_DB_CHECK; /* the reference model lacks TFLOPS or bandwidth */
    goto cleanup;
  }
  sl_capacity_weights cw = {
      .compute_bp = atoi(PQgetvalue(w, 0, 0)),
      .memory_bp = atoi(PQgetvalue(w, 0, 1)),
      .ref_tflops = strtod(PQgetvalue(w, 0, 2), NULL),
      .ref_bandwidth = strtod(PQgetvalue(w, 0, 3), NULL),
  };
  const char *version = PQgetvalue(w, 0, 4);
  if (!sl_capacity_weights_valid(&cw)) {
    rc = SL_DB_CHECK;
    goto cleanup;
  }
  rc = sl_db_exec(c, "accel_specs", 0, NULL, &s);
  if (rc != SL_DB_OK) goto cleanup;
  for (int i = 0; i < PQntuples(s); i++) {
    sl_capacity_specs sp = {
        .bf16_tflops = strtod(PQgetvalue(s, i, 1), NULL),
        .fp16_tflops = strtod(PQgetvalue(s, i, 2), NULL),
        .bandwidth = strtod(PQgetvalue(s, i, 3), NULL),
    };
    int64_t score = 0;
    sl_rating rt = sl_capacity_score(&cw, &sp, &score);
    char b[24];
    const char *v[4] = {PQgetvalue(s, i, 0), rt == SL_RATING_UNRATED ? NULL : sl_db_i64(b, score),
                        sl_rating_name(rt), version};
    rc = sl_db_exec(c, "accel_set_score", 4, v, NULL);
    if (rc != SL_DB_OK) goto cleanup;
  }
cleanup:
  if (w) PQclear(w);
  if (s) PQclear(s);
  return rc;
}

sl_dbrc sl_db_weights_set(sl_dbc *c, int compute_bp, int memory_bp, const char *reference) {
  char b1[24], b2[24];
  const char *v[3] = {sl_db_i64(b1, compute_bp), sl_db_i64(b2, memory_bp), reference};
  sl_dbrc rc = sl_db_exec(c, "weights_set", 3, v, NULL);
  if (rc != SL_DB_OK) return rc;
  return sl_db_capacity_rescore(c);
}
