/* h_accelerators.c — the accelerator catalog and the normalized-capacity standard. */
#include "internal.h"
#include "suanli/db/accelerators.h"
#include <string.h>

static json_t *formula(sl_req *r) {
  json_t *f;
  sl_dbrc rc = sl_db_formula_get(r->db, &f);
  if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
    return NULL;
  }
  return f;
}

void h_accelerators_list(sl_req *r) {
  json_t *items, *f;
  sl_dbrc rc = sl_db_accelerators_list(r->db, &items);
  if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
    return;
  }
  if (!(f = formula(r))) {
    json_decref(items);
    return;
  }
  sl_reply_json(r, 200, json_pack("{s:o,s:o}", "items", items, "formula", f));
}

void h_accelerators_get(sl_req *r) {
  json_t *a;
  sl_dbrc rc =
      strlen(r->params[0]) <= 64 ? sl_db_accelerator_get(r->db, r->params[0], &a) : SL_DB_NOROWS;
  if (rc == SL_DB_NOROWS) {
    sl_reply_error(r, SL_E_NOT_FOUND, "id", "no accelerator '%.64s'", r->params[0]);
  } else if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
  } else {
    sl_reply_json(r, 200, a);
  }
}

void h_formula_get(sl_req *r) {
  json_t *f = formula(r);
  if (f) sl_reply_json(r, 200, f);
}

/* PUT /v1/capacity/weights: change the standard and rescore every model atomically. */
void h_weights_set(sl_req *r) {
  json_t *body = sl_req_body(r);
  if (!body) return;
  int64_t cw = 0, mw = 0;
  const char *ref = NULL;
  const sl_jfield f[] = {
      {"compute_weight_bp", SL_JT_INT, true, &cw, NULL, 0, 10000, NULL},
      {"memory_weight_bp", SL_JT_INT, true, &mw, NULL, 0, 10000, NULL},
      {"reference", SL_JT_STRING, false, &ref, NULL, 1, 64, NULL},
  };
  if (!sl_req_decode(r, body, f, sizeof f / sizeof f[0])) goto cleanup;
  if (cw + mw < 1 || cw + mw > 10000) {
    sl_reply_error(r, SL_E_INVALID_VALUE, "compute_weight_bp",
                   "compute_weight_bp + memory_weight_bp must be between 1 and 10000");
    goto cleanup;
  }
  if (ref) {
    json_t *a;
    sl_dbrc rc = sl_db_accelerator_get(r->db, ref, &a);
    if (rc == SL_DB_NOROWS) {
      sl_reply_error(r, SL_E_UNKNOWN_REFERENCE, "reference", "no accelerator '%s'", ref);
      goto cleanup;
    }
    if (rc != SL_DB_OK) {
      sl_reply_db(r, rc);
      goto cleanup;
    }
    bool usable = !json_is_null(json_object_get(a, "mem_bandwidth_gbps")) &&
                  (!json_is_null(json_object_get(a, "bf16_dense_tflops")) ||
                   !json_is_null(json_object_get(a, "fp16_dense_tflops")));
    json_decref(a);
    if (!usable) {
      sl_reply_error(r, SL_E_INVALID_VALUE, "reference",
                     "the reference model must have published TFLOPS and memory bandwidth");
      goto cleanup;
    }
  }
  sl_dbrc rc = sl_db_weights_set(r->db, (int)cw, (int)mw, ref);
  if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
    goto cleanup;
  }
  json_t *fm = formula(r);
  if (fm) {
    snprintf(r->audit_object, sizeof r->audit_object, "capacity_weights:%lld",
             (long long)json_integer_value(json_object_get(fm, "version")));
    sl_reply_json(r, 200, fm);
  }
cleanup:
  json_decref(body);
}
