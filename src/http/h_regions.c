/* h_regions.c — regions and the directional latency matrix. */
#include "internal.h"
#include "suanli/db/locations.h"
#include "suanli/db/market.h"
#include "suanli/db/regions.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const tiers[] = {"cloud", "edge", "terminal", NULL};

/* Region codes: lowercase letters, digits and '-', 2..40 characters, not starting with '-'. */
static bool valid_code(const char *s) {
  size_t n = strlen(s);
  if (n < 2 || n > 40 || s[0] == '-') return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-')) return false;
  return true;
}

void h_regions_list(sl_req *r) {
  const char *tier;
  int64_t limit = 100;
  if (!sl_req_query_enum(r, "tier", tiers, &tier) || !sl_req_query_int(r, "limit", 1, 500, &limit))
    return;
  const char *after = sl_req_query(r, "after");
  if (after && strlen(after) > 40) {
    sl_reply_error(r, SL_E_BAD_QUERY, "after", "after must be a region code");
    return;
  }
  json_t *items = NULL;
  sl_dbrc rc = sl_db_regions_list(r->db, tier, after, (int)limit, &items);
  sl_reply_page(r, rc, items, (int)limit, "code");
}

void h_regions_create(sl_req *r) {
  json_t *body = sl_req_body(r);
  if (!body) return;
  const char *code = NULL, *name = NULL, *tier = NULL, *op = NULL;
  sl_region_patch loc = {0};
  const sl_jfield f[] = {
      {"code", SL_JT_STRING, true, &code, NULL, 2, 40, NULL},
      {"name", SL_JT_STRING, true, &name, NULL, 1, 200, NULL},
      {"tier", SL_JT_ENUM, true, &tier, NULL, 0, 0, tiers},
      {"operator", SL_JT_STRING, false, &op, NULL, 0, 200, NULL},
      {"location", SL_JT_STRING, false, &loc.location, NULL, 0, 200, NULL},
  };
  if (!sl_region_coords_take(r, body, false, &loc.set_coords, &loc.has_coords, &loc.lat,
                             &loc.lon) ||
      !sl_req_decode(r, body, f, sizeof f / sizeof f[0]))
    goto cleanup;
  if (!valid_code(code)) {
    sl_reply_error(r, SL_E_INVALID_VALUE, "code",
                   "code must be 2-40 lowercase letters, digits or '-', not starting with '-'");
    goto cleanup;
  }
  json_t *reg;
  sl_dbrc rc = sl_db_region_create(r->db, code, name, tier, op, &reg);
  if (rc == SL_DB_OK && (loc.set_coords || loc.location)) { /* where it is (h_locations.c) */
    json_decref(reg);
    rc = sl_db_region_patch(r->db, code, &loc, &reg);
  }
  if (rc == SL_DB_UNIQUE) {
    sl_reply_error(r, SL_E_ALREADY_EXISTS, "code", "region '%s' exists", code);
  } else if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
  } else {
    snprintf(r->audit_object, sizeof r->audit_object, "region:%s", code);
    sl_reply_json(r, 201, reg);
  }
cleanup:
  json_decref(body);
}

void h_regions_get(sl_req *r) {
  json_t *reg;
  sl_dbrc rc =
      valid_code(r->params[0]) ? sl_db_region_get(r->db, r->params[0], &reg) : SL_DB_NOROWS;
  if (rc == SL_DB_NOROWS)
    sl_reply_error(r, SL_E_NOT_FOUND, "code", "no region '%.40s'", r->params[0]);
  else if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else sl_reply_json(r, 200, reg);
}

void h_latency_list(sl_req *r) {
  const char *from = sl_req_query(r, "from"), *to = sl_req_query(r, "to");
  if ((from && !valid_code(from)) || (to && !valid_code(to))) {
    sl_reply_error(r, SL_E_BAD_QUERY, from && !valid_code(from) ? "from" : "to",
                   "must be a region code");
    return;
  }
  json_t *items; /* measured entries; with from or to, estimated ones too (h_locations.c) */
  sl_dbrc rc = sl_db_rtt_list(r->db, from, to, &items);
  if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else sl_reply_json(r, 200, json_pack("{s:o}", "items", items));
}

/* PUT /v1/latency {"entries": [{"from","to","rtt_ms"}]}: upsert directional RTTs. */
void h_latency_set(sl_req *r) {
  json_t *body = sl_req_body(r), *entries = NULL, *rows = json_array(), *seen = json_object();
  if (!body) goto cleanup;
  const sl_jfield f[] = {{"entries", SL_JT_ARRAY, true, &entries, NULL, 1, 2000, NULL}};
  if (!sl_req_decode(r, body, f, 1)) goto cleanup;
  size_t i;
  json_t *e;
  json_array_foreach(entries, i, e) {
    const char *from = NULL, *to = NULL;
    int64_t us = 0;
    char path[32], key[96];
    snprintf(path, sizeof path, "entries[%zu].", i);
    const sl_jfield ef[] = {
        {"from", SL_JT_STRING, true, &from, NULL, 2, 40, NULL},
        {"to", SL_JT_STRING, true, &to, NULL, 2, 40, NULL},
        {"rtt_ms", SL_JT_MILLI, true, &us, NULL, 0, 10000000, NULL},
    };
    sl_jerr je;
    if (!sl_json_decode(e, ef, 3, path, &je)) {
      sl_reply_jerr(r, &je);
      goto cleanup;
    }
    snprintf(key, sizeof key, "%s>%s", from, to);
    if (json_object_get(seen, key)) {
      sl_reply_error(r, SL_E_INVALID_VALUE, path, "%s -> %s appears twice", from, to);
      goto cleanup;
    }
    json_object_set_new(seen, key, json_true());
    json_array_append_new(
        rows, json_pack("{s:s,s:s,s:I}", "from", from, "to", to, "rtt_us", (json_int_t)us));
  }
  /* Name the first entry whose region does not exist, before writing anything. */
  json_t *codes = json_array();
  json_array_foreach(rows, i, e) {
    json_array_append(codes, json_object_get(e, "from"));
    json_array_append(codes, json_object_get(e, "to"));
  }
  char *unknown = NULL;
  sl_dbrc rc = sl_db_first_unknown(r->db, false, codes, &unknown);
  if (rc == SL_DB_OK && unknown) {
    json_array_foreach(codes, i, e) if (!strcmp(json_string_value(e), unknown)) break;
    char field[48];
    snprintf(field, sizeof field, "entries[%zu].%s", i / 2, i % 2 ? "to" : "from");
    sl_reply_error(r, SL_E_UNKNOWN_REFERENCE, field, "no region '%s'", unknown);
    free(unknown);
    json_decref(codes);
    goto cleanup;
  }
  json_decref(codes);
  int64_t n = 0;
  if (rc == SL_DB_OK) rc = sl_db_latency_set(r->db, rows, &n);
  if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else {
    snprintf(r->audit_object, sizeof r->audit_object, "latency:%lld", (long long)n);
    sl_reply_json(r, 200, json_pack("{s:I}", "updated", (json_int_t)n));
  }
cleanup:
  json_decref(body);
  json_decref(rows);
  json_decref(seen);
}
