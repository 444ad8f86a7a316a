/* request.c — reading a request (body, query, path) and writing replies. */
#include "internal.h"
#include "suanli/core/log.h"
#include "suanli/core/rawpath.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sl_reply_json(sl_req *r, unsigned status, json_t *steal) {
  json_decref(r->reply);
  free(r->reply_text);
  r->reply_text = NULL;
  r->status = status;
  r->reply = steal;
  r->err = SL_E_OK;
}

void sl_reply_text(sl_req *r, unsigned status, char *steal) {
  json_decref(r->reply);
  r->reply = NULL;
  free(r->reply_text);
  r->reply_text = steal;
  r->status = status;
  r->err = SL_E_OK;
}

void sl_reply_error(sl_req *r, sl_err e, const char *field, const char *fmt, ...) {
  char detail[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  /* Input echoed into an error (a query key, a header) may be any bytes: keep the body
   * valid JSON by escaping what is not printable ASCII. */
  char safe_detail[sizeof detail * 3], safe_field[200];
  const char *dtext = detail;
  if (!sl_utf8_valid(detail, strlen(detail))) {
    sl_text_escape(detail, safe_detail, sizeof safe_detail);
    dtext = safe_detail;
  }
  if (field && !sl_utf8_valid(field, strlen(field))) {
    sl_text_escape(field, safe_field, sizeof safe_field);
    field = safe_field;
  }
  json_t *b = json_pack("{s:s,s:i,s:s,s:s,s:s,s:s}", "error", sl_err_name(e), "code",
                        sl_err_code(e), "hint", sl_err_hint(e), "field", field ? field : "",
                        "detail", dtext, "request_id", r->request_id);
  sl_reply_json(r, sl_err_status(e), b);
  r->err = e;
  if (e == SL_E_DB_UNAVAILABLE || e == SL_E_BUSY) r->retry_after = true;
}

void sl_reply_jerr(sl_req *r, const sl_jerr *e) {
  sl_reply_error(r, e->code, e->field, "%s%s%s", e->field[0] ? e->field : "",
                 e->field[0] ? " " : "", e->detail);
}

void sl_reply_db(sl_req *r, sl_dbrc rc) {
  switch (rc) {
  case SL_DB_NOROWS: sl_reply_error(r, SL_E_NOT_FOUND, NULL, "no such object"); return;
  case SL_DB_SOFT:
    r->db_soft = true;
    sl_reply_error(r, SL_E_BUSY, NULL, "the transaction conflicted with another; retry");
    return;
  case SL_DB_DOWN:
    r->db_down = true;
    sl_reply_error(r, SL_E_DB_UNAVAILABLE, NULL, "the database connection was lost");
    return;
  case SL_DB_UNKNOWN:
    sl_reply_error(r, SL_E_OUTCOME_UNKNOWN, NULL,
                   "the connection was lost while committing and the outcome could not be told");
    return;
  case SL_DB_UNIQUE:
    sl_reply_error(r, SL_E_ALREADY_EXISTS, NULL, "the object already exists");
    return;
  case SL_DB_FK:
    sl_reply_error(r, SL_E_UNKNOWN_REFERENCE, NULL, "a referenced object does not exist");
    return;
  case SL_DB_CHECK:
    sl_reply_error(r, SL_E_INVALID_VALUE, NULL, "a value was refused by the database (%s)",
                   r->db ? sl_db_last_constraint(r->db) : "");
    return;
  default:
    sl_log(SL_LOG_ERROR, "unexpected database outcome",
           json_pack("{s:s,s:s}", "request_id", r->request_id, "rc", sl_dbrc_name(rc)));
    sl_reply_error(r, SL_E_INTERNAL, NULL, "internal error");
  }
}

void sl_reply_page(sl_req *r, sl_dbrc rc, json_t *items, int limit, const char *key) {
  if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
    return;
  }
  json_t *next = json_null();
  size_t n = json_array_size(items);
  if (limit > 0 && n == (size_t)limit) {
    json_t *last = json_object_get(json_array_get(items, n - 1), key);
    if (json_is_integer(last)) next = json_integer(json_integer_value(last));
    else if (json_is_string(last)) next = json_string(json_string_value(last));
  }
  sl_reply_json(r, 200, json_pack("{s:o,s:o}", "items", items, "next_after", next));
}

void sl_reply_found(sl_req *r, sl_dbrc rc, json_t *obj, const char *what, int64_t id) {
  if (rc == SL_DB_NOROWS)
    sl_reply_error(r, SL_E_NOT_FOUND, "id", "no %s %lld", what, (long long)id);
  else if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else sl_reply_json(r, 200, obj);
}

void sl_reply_created(sl_req *r, const char *what, json_t *obj) {
  snprintf(r->audit_object, sizeof r->audit_object, "%s:%lld", what,
           (long long)json_integer_value(json_object_get(obj, "id")));
  sl_reply_json(r, 201, obj);
}

json_t *sl_req_body(sl_req *r) {
  sl_jerr e;
  json_t *doc = sl_json_parse_body(r->body, r->body_len, &e);
  if (!doc) sl_reply_jerr(r, &e);
  return doc;
}

bool sl_req_decode(sl_req *r, const json_t *body, const sl_jfield *f, size_t n) {
  sl_jerr e;
  if (sl_json_decode(body, f, n, NULL, &e)) return true;
  sl_reply_jerr(r, &e);
  return false;
}

const char *sl_req_query(sl_req *r, const char *name) {
  return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct qcheck {
  const char *const *allowed;
  const char *bad;
};

static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value) {
  struct qcheck *q = cls;
  for (const char *const *a = q->allowed; a && *a; a++)
    if (strcmp(*a, key) == 0) return MHD_YES;
  q->bad = key;
  return MHD_NO;
}

bool sl_req_query_only(sl_req *r, const char *const *allowed) {
  struct qcheck q = {allowed, NULL};
  MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, check_arg, &q);
  if (!q.bad) return true;
  sl_reply_error(r, SL_E_BAD_QUERY, q.bad, "unknown query parameter '%.64s'", q.bad);
  return false;
}

bool sl_req_query_int(sl_req *r, const char *name, int64_t min, int64_t max, int64_t *out) {
  const char *v = sl_req_query(r, name);
  if (!v) return true;
  int64_t x = 0;
  bool ok = *v != '\0' && strlen(v) <= 18;
  for (const char *p = v; ok && *p; p++) {
    ok = *p >= '0' && *p <= '9';
    x = x * 10 + (*p - '0');
  }
  if (!ok || x < min || x > max) {
    sl_reply_error(r, SL_E_BAD_QUERY, name, "%s must be an integer between %lld and %lld", name,
                   (long long)min, (long long)max);
    return false;
  }
  *out = x;
  return true;
}

bool sl_req_query_enum(sl_req *r, const char *name, const char *const *values, const char **out) {
  const char *v = sl_req_query(r, name);
  *out = NULL;
  if (!v) return true;
  for (const char *const *e = values; *e; e++)
    if (strcmp(*e, v) == 0) {
      *out = *e;
      return true;
    }
  sl_reply_error(r, SL_E_BAD_QUERY, name, "%s has an unknown value", name);
  return false;
}

bool sl_req_page_id(sl_req *r, int64_t *after, int *limit) {
  int64_t a = 0, l = 100;
  if (!sl_req_query_int(r, "after", 0, INT64_C(9007199254740991), &a)) return false;
  if (!sl_req_query_int(r, "limit", 1, 500, &l)) return false;
  *after = a;
  *limit = (int)l;
  return true;
}

/* The name of path parameter i in the route's pattern ("id", "size", ...). */
static void param_name(const sl_req *r, int i, char *buf, size_t len) {
  const char *p = r->route ? r->route->path : "";
  snprintf(buf, len, "id");
  for (int k = 0; (p = strchr(p, '{')) != NULL; k++, p++) {
    if (k != i) continue;
    size_t n = strcspn(p + 1, "}");
    snprintf(buf, len, "%.*s", (int)(n < len ? n : len - 1), p + 1);
    return;
  }
}

bool sl_req_path_id(sl_req *r, int i, int64_t *out) {
  if (sl_parse_id(r->params[i], out)) return true;
  char name[32];
  param_name(r, i, name, sizeof name);
  sl_reply_error(r, SL_E_BAD_PATH_ID, name, "'%.40s' is not a positive integer %s", r->params[i],
                 name);
  return false;
}

bool sl_req_connect(sl_req *r, int wait_ms) {
  bool down = false;
  if (!r->db) r->db = sl_db_acquire(r->dbpool, wait_ms, &down);
  if (r->db) return true;
  if (down) sl_reply_error(r, SL_E_DB_UNAVAILABLE, NULL, "the database cannot be reached");
  else sl_reply_error(r, SL_E_BUSY, NULL, "no database connection became free in time");
  r->retry_after = true;
  return false;
}

bool sl_req_object_id(sl_req *r, const char *what, int64_t *out) {
  if (!sl_req_path_id(r, 0, out)) return false;
  snprintf(r->audit_object, sizeof r->audit_object, "%s:%lld", what, (long long)*out);
  return true;
}

bool sl_role_is(const sl_req *r, const char *kind) {
  return r->authed && strcmp(r->who.kind, kind) == 0;
}

sl_dbc *sl_req_reader(sl_req *r) {
  if (r->rdb) return r->rdb;
  r->read_from = "primary";
  if (r->read_dbpool) {
    bool down;
    r->rdb = sl_db_acquire(r->read_dbpool, 200, &down);
    if (r->rdb) r->read_from = "replica";
  }
  return r->rdb ? r->rdb : r->db;
}

void sl_req_reader_drop(sl_req *r) {
  if (r->rdb) sl_db_release(r->read_dbpool, r->rdb);
  r->rdb = NULL;
  r->read_from = "primary";
}
