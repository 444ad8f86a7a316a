/* h_registry.c — the open accelerator registry: providers propose models the catalog lacks,
 * with their published figures and the URL they come from; admins approve (the model joins
 * the catalog, rated by the capacity formula like the rest) or reject them with a reason.
 * Also the names (families, aliases) that order specs and filters may use. */
#include "internal.h"
#include "suanli/db/accelerators.h"
#include "suanli/db/market.h"
#include "suanli/db/registry.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const proposal_states[] = {"pending", "approved", "rejected", "withdrawn", NULL};

#define FIGURE_MAX INT64_C(10000000000) /* 10,000,000.000 in thousandths */

/* The accelerators.id rule (schema/001): a letter or digit, then letters, digits, . _ - */
static bool valid_id(const char *s) {
  size_t n = strlen(s);
  if (n < 1 || n > 64) return false;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
    if (!alnum && (i == 0 || (ch != '.' && ch != '_' && ch != '-'))) return false;
  }
  return true;
}

static bool valid_url(const char *s) {
  size_t skip = !strncmp(s, "https://", 8) ? 8 : !strncmp(s, "http://", 7) ? 7 : 0;
  if (!skip || !s[skip]) return false;
  for (const char *p = s; *p; p++)
    if ((unsigned char)*p <= ' ' || *p == 0x7f) return false;
  return true;
}

static json_t *milli_string(int64_t m) {
  char b[40];
  snprintf(b, sizeof b, "%lld.%03lld", (long long)(m / 1000), (long long)(m % 1000));
  return json_string(b);
}

static bool is_provider(const sl_req *r) { return sl_role_is(r, "provider"); }

/* POST /v1/accelerator-proposals: a provider proposes a model (201 Proposal). */
void h_proposals_create(sl_req *r) {
  json_t *body = sl_req_body(r), *doc = NULL;
  if (!body) return;
  const char *id = NULL, *model = NULL, *variant = NULL, *vendor = NULL, *family = NULL,
             *mem_type = NULL, *ic = NULL, *url = NULL, *notes = NULL;
  int64_t mem = 0, fig[5] = {0};
  bool has_mem = false, has[5] = {false};
  json_t *aliases = NULL;
  static const char *const figures[5] = {"mem_bandwidth_gbps", "fp16_dense_tflops",
                                         "bf16_dense_tflops", "fp32_tflops", "interconnect_gbps"};
  const sl_jfield f[] = {
      {"accelerator", SL_JT_STRING, true, &id, NULL, 1, 64, NULL},
      {"model", SL_JT_STRING, true, &model, NULL, 1, 64, NULL},
      {"variant", SL_JT_STRING, false, &variant, NULL, 0, 64, NULL},
      {"vendor", SL_JT_STRING, true, &vendor, NULL, 1, 64, NULL},
      {"family", SL_JT_STRING, false, &family, NULL, 1, 64, NULL},
      {"memory_gb", SL_JT_INT, false, &mem, &has_mem, 1, 100000, NULL},
      {"memory_type", SL_JT_STRING, false, &mem_type, NULL, 1, 64, NULL},
      {figures[0], SL_JT_MILLI, false, &fig[0], &has[0], 1, FIGURE_MAX, NULL},
      {figures[1], SL_JT_MILLI, false, &fig[1], &has[1], 1, FIGURE_MAX, NULL},
      {figures[2], SL_JT_MILLI, false, &fig[2], &has[2], 1, FIGURE_MAX, NULL},
      {figures[3], SL_JT_MILLI, false, &fig[3], &has[3], 1, FIGURE_MAX, NULL},
      {"interconnect", SL_JT_STRING, false, &ic, NULL, 1, 200, NULL},
      {figures[4], SL_JT_MILLI, false, &fig[4], &has[4], 1, FIGURE_MAX, NULL},
      {"source_url", SL_JT_STRING, true, &url, NULL, 1, 2048, NULL},
      {"notes", SL_JT_STRING, false, &notes, NULL, 0, 2000, NULL},
      {"aliases", SL_JT_ARRAY, false, &aliases, NULL, 0, 16, NULL},
  };
  if (!sl_req_decode(r, body, f, sizeof f / sizeof f[0])) goto cleanup;
  if (!valid_id(id)) {
    sl_reply_error(
        r, SL_E_INVALID_VALUE, "accelerator",
        "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit");
    goto cleanup;
  }
  if (!valid_url(url)) {
    sl_reply_error(
        r, SL_E_INVALID_VALUE, "source_url",
        "must be an http:// or https:// URL (where the figures are published), without spaces");
    goto cleanup;
  }
  size_t i;
  json_t *a;
  json_array_foreach(aliases, i, a) {
    char field[32];
    snprintf(field, sizeof field, "aliases[%zu]", i);
    if (!json_is_string(a)) {
      sl_reply_error(r, SL_E_WRONG_TYPE, field, "must be a string");
      goto cleanup;
    }
    if (!valid_id(json_string_value(a))) { /* names have the form of ids (schema/019) */
      sl_reply_error(
          r, SL_E_INVALID_VALUE, field,
          "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit");
      goto cleanup;
    }
  }
  /* The id may not be a name in use: a model's id, or an alias (a family such as "H100"). */
  json_t *one = json_pack("[s]", id);
  char *unknown = NULL;
  sl_dbrc rc = sl_db_first_unknown(r->db, true, one, &unknown);
  json_decref(one);
  if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
    goto cleanup;
  }
  if (!unknown) {
    sl_reply_error(r, SL_E_ALREADY_EXISTS, "accelerator",
                   "'%s' already names a model of the catalog (GET /v1/accelerators/%s or "
                   "/v1/accelerator-aliases)",
                   id, id);
    goto cleanup;
  }
  free(unknown);
  doc = json_pack("{s:s,s:s,s:s,s:s}", "accelerator", id, "model", model, "vendor", vendor,
                  "source_url", url);
  if (variant) json_object_set_new(doc, "variant", json_string(variant));
  if (family) json_object_set_new(doc, "family", json_string(family));
  if (has_mem) json_object_set_new(doc, "memory_gb", json_integer(mem));
  if (mem_type) json_object_set_new(doc, "memory_type", json_string(mem_type));
  if (ic) json_object_set_new(doc, "interconnect", json_string(ic));
  if (notes) json_object_set_new(doc, "notes", json_string(notes));
  for (int k = 0; k < 5; k++)
    if (has[k]) json_object_set_new(doc, figures[k], milli_string(fig[k]));
  if (aliases) json_object_set(doc, "aliases", aliases);
  json_t *out;
  rc = sl_db_proposal_create(r->db, r->who.account_id, doc, &out);
  if (rc == SL_DB_UNIQUE) {
    sl_reply_error(r, SL_E_ALREADY_EXISTS, "accelerator", "a proposal of '%s' is already pending",
                   id);
  } else if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
  } else {
    sl_reply_created(r, "accelerator_proposal", out);
  }
cleanup:
  json_decref(doc);
  json_decref(body);
}

/* GET /v1/accelerator-proposals: a provider's own, or (admin) everyone's; ?state= */
void h_proposals_list(sl_req *r) {
  int64_t after;
  int limit;
  const char *state;
  if (!sl_req_page_id(r, &after, &limit) || !sl_req_query_enum(r, "state", proposal_states, &state))
    return;
  json_t *items = NULL;
  sl_dbrc rc = sl_db_proposals_list(r->db, is_provider(r) ? r->who.account_id : 0, state, after,
                                    limit, &items);
  sl_reply_page(r, rc, items, limit, "id");
}

void h_proposals_get(sl_req *r) {
  int64_t id;
  if (!sl_req_path_id(r, 0, &id)) return;
  json_t *p;
  sl_dbrc rc = sl_db_proposal_get(r->db, id, is_provider(r) ? r->who.account_id : 0, &p);
  if (rc == SL_DB_NOROWS)
    sl_reply_error(r, SL_E_NOT_FOUND, "id", "no proposal %lld", (long long)id);
  else if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else sl_reply_json(r, 200, p);
}

/* A decision on a proposal that is no longer pending (or unknown): 409 naming its state, or
 * 404.  proposer != 0 limits to that proposer's. */
static void not_pending(sl_req *r, int64_t id, int64_t proposer) {
  json_t *p;
  sl_dbrc rc = sl_db_proposal_get(r->db, id, proposer, &p);
  if (rc == SL_DB_NOROWS) {
    sl_reply_error(r, SL_E_NOT_FOUND, "id", "no proposal %lld", (long long)id);
  } else if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
  } else {
    sl_reply_error(r, SL_E_CONFLICT, "id", "proposal %lld is %s, not pending", (long long)id,
                   json_string_value(json_object_get(p, "state")));
    json_decref(p);
  }
}

/* A body that may be absent or {} (approve takes no fields). */
static bool empty_body(sl_req *r) {
  if (!r->body_len) return true;
  json_t *body = sl_req_body(r);
  if (!body) return false;
  bool ok = sl_req_decode(r, body, NULL, 0);
  json_decref(body);
  return ok;
}

/* POST /v1/accelerator-proposals/{id}/approve: the model joins the catalog, rated at once;
 * 200 {"proposal", "accelerator"}. */
void h_proposals_approve(sl_req *r) {
  int64_t id;
  if (!sl_req_object_id(r, "accelerator_proposal", &id)) return;
  if (!empty_body(r)) return;
  char outcome[24], other[72];
  sl_dbrc rc = sl_db_proposal_approve(r->db, id, r->who.account_id, outcome, other);
  if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
    return;
  }
  if (!strcmp(outcome, "not_found")) {
    sl_reply_error(r, SL_E_NOT_FOUND, "id", "no proposal %lld", (long long)id);
    return;
  }
  if (!strcmp(outcome, "not_pending")) {
    sl_reply_error(r, SL_E_CONFLICT, "id", "proposal %lld is %s, not pending", (long long)id,
                   other);
    return;
  }
  if (!strcmp(outcome, "exists")) {
    sl_reply_error(r, SL_E_ALREADY_EXISTS, "accelerator", "the catalog already has '%s'", other);
    return;
  }
  if (!strcmp(outcome, "duplicate")) {
    sl_reply_error(r, SL_E_ALREADY_EXISTS, "model",
                   "this model and variant are already in the catalog as '%s'", other);
    return;
  }
  if (!strcmp(outcome, "alias_is_model")) {
    sl_reply_error(r, SL_E_CONFLICT, "aliases", "alias '%s' is another model's id", other);
    return;
  }
  json_t *p = NULL, *a = NULL;
  rc = sl_db_capacity_rescore(r->db);
  if (rc == SL_DB_OK) rc = sl_db_proposal_get(r->db, id, 0, &p);
  if (rc == SL_DB_OK)
    rc = sl_db_accelerator_get(r->db, json_string_value(json_object_get(p, "accelerator")), &a);
  if (rc != SL_DB_OK) {
    json_decref(p);
    sl_reply_db(r, rc);
    return;
  }
  sl_reply_json(r, 200, json_pack("{s:o,s:o}", "proposal", p, "accelerator", a));
}

/* POST /v1/accelerator-proposals/{id}/reject {"reason"}: 200 Proposal. */
void h_proposals_reject(sl_req *r) {
  int64_t id;
  if (!sl_req_object_id(r, "accelerator_proposal", &id)) return;
  json_t *body = sl_req_body(r);
  if (!body) return;
  const char *reason = NULL;
  const sl_jfield f[] = {{"reason", SL_JT_STRING, true, &reason, NULL, 1, 2000, NULL}};
  if (sl_req_decode(r, body, f, 1)) {
    json_t *p;
    sl_dbrc rc = sl_db_proposal_reject(r->db, id, r->who.account_id, reason, &p);
    if (rc == SL_DB_NOROWS) not_pending(r, id, 0);
    else if (rc != SL_DB_OK) sl_reply_db(r, rc);
    else sl_reply_json(r, 200, p);
  }
  json_decref(body);
}

/* DELETE /v1/accelerator-proposals/{id}: the proposer withdraws a pending proposal. */
void h_proposals_withdraw(sl_req *r) {
  int64_t id;
  if (!sl_req_object_id(r, "accelerator_proposal", &id)) return;
  json_t *p;
  sl_dbrc rc = sl_db_proposal_withdraw(r->db, id, r->who.account_id, &p);
  if (rc == SL_DB_NOROWS) not_pending(r, id, r->who.account_id);
  else if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else sl_reply_json(r, 200, p);
}

/* GET /v1/accelerator-aliases: every name that stands for one or more models. */
void h_aliases_list(sl_req *r) {
  json_t *items = NULL;
  sl_dbrc rc = sl_db_aliases_list(r->db, &items);
  if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else sl_reply_json(r, 200, json_pack("{s:o}", "items", items));
}
