/* h_periods.c — accounting periods: close (admin), list, statements and signed exports.
 * Exports carry X-Suanli-Sha256, X-Suanli-Key-Id and X-Suanli-Signature: the exchange's
 * Ed25519 signature over the EXPORT record of the body's SHA-256 (api/SIGNING.md), checked
 * offline with `suanli-verify file`. */
#include "internal.h"
#include "suanli/core/clock.h"
#include "suanli/core/timeutil.h"
#include "suanli/db/accounts.h"
#include "suanli/db/settlement.h"
#include "suanli/settlement/settlement.h"
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const formats[] = {"json", "csv", NULL};

/* A transaction is stamped with its start time; none lives longer than the session limits
 * (statement 30 s, idle in transaction 60 s), so a period closes this long after its end. */
#define CLOSE_GRACE_S 120

/* The previous calendar month (UTC) of t. */
static void previous_month(int64_t t, int64_t *from, int64_t *to) {
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  struct tm a = {.tm_year = tm.tm_year, .tm_mon = tm.tm_mon, .tm_mday = 1};
  *to = (int64_t)timegm(&a);
  a.tm_mon -= 1;
  *from = (int64_t)timegm(&a);
}

/* POST /v1/periods {"start"?, "end"?}: close a period (default: the last calendar month). */
void h_periods_create(sl_req *r) {
  json_t *body = r->body_len ? sl_req_body(r) : json_object();
  if (!body) return;
  int64_t from = 0, to = 0;
  bool has_from = false, has_to = false;
  const sl_jfield f[] = {
      {"start", SL_JT_TIME, false, &from, &has_from, 0, 1, NULL},
      {"end", SL_JT_TIME, false, &to, &has_to, 0, 1, NULL},
  };
  if (!sl_req_decode(r, body, f, 2)) goto cleanup;
  if (has_from != has_to) {
    sl_reply_error(r, SL_E_MISSING_FIELD, has_from ? "end" : "start",
                   "give both start and end, or neither");
    goto cleanup;
  }
  if (!has_from) previous_month(sl_clock_now(), &from, &to);
  if (from >= to) {
    sl_reply_error(r, SL_E_INVALID_VALUE, "end", "end must be after start");
    goto cleanup;
  }
  if (to > sl_clock_now() - CLOSE_GRACE_S) {
    sl_reply_error(r, SL_E_CONFLICT, "end",
                   "the period has not ended yet, or ended less than %d s ago (transactions that "
                   "began before its end may still commit)",
                   CLOSE_GRACE_S);
    goto cleanup;
  }
  int64_t id = 0;
  sl_dbrc rc = sl_settlement_close(r->db, from, to, r->who.account_id, &id);
  json_t *p = NULL;
  if (rc == SL_DB_OK) rc = sl_db_period_get(r->db, id, &p);
  if (rc == SL_DB_UNIQUE) {
    sl_reply_error(r, SL_E_CONFLICT, "start", "the range overlaps a period that is already closed");
  } else if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
  } else {
    snprintf(r->audit_object, sizeof r->audit_object, "period:%lld", (long long)id);
    sl_reply_json(r, 201, p);
  }
cleanup:
  json_decref(body);
}

void h_periods_list(sl_req *r) {
  json_t *items = NULL;
  sl_dbrc rc = sl_db_periods_list(r->db, &items);
  if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else sl_reply_json(r, 200, json_pack("{s:o}", "items", items));
}

/* The path's period: *p (owned) and its bounds; replies 404 when unknown. */
static bool load_period(sl_req *r, json_t **p, int64_t *from, int64_t *to) {
  int64_t id;
  if (!sl_req_path_id(r, 0, &id)) return false;
  sl_dbrc rc = sl_db_period_get(r->db, id, p);
  if (rc == SL_DB_OK) rc = sl_db_period_bounds(r->db, id, from, to);
  if (rc == SL_DB_OK) {
    json_t *pid = json_object_get(*p, "id");
    r->period_id = json_is_integer(pid) ? (int64_t)json_integer_value(pid) : id;
  }
  if (rc == SL_DB_NOROWS) {
    sl_reply_error(r, SL_E_NOT_FOUND, "id",
                   "no closed period %lld (only closed periods have statements)", (long long)id);
    return false;
  }
  if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
    return false;
  }
  return true;
}

void h_periods_get(sl_req *r) {
  json_t *p;
  int64_t from, to;
  if (load_period(r, &p, &from, &to)) sl_reply_json(r, 200, p);
}

static bool format_csv(sl_req *r, bool *csv, bool csv_default) {
  const char *fmt;
  if (!sl_req_query_enum(r, "format", formats, &fmt)) return false;
  *csv = fmt ? strcmp(fmt, "csv") == 0 : csv_default;
  return true;
}

/* The connection that reads a closed period's lines.  A closed period never changes, so a
 * replica (sl_req_reader) may serve it once it has replayed the close: the close committed the
 * period row after everything the period holds, so a replica that sees the row sees the whole
 * period.  Otherwise — no replica, unreachable, or behind — the primary's connection r->db. */
static sl_dbc *period_reader(sl_req *r) {
  sl_dbc *c = sl_req_reader(r);
  int64_t from, to;
  if (c != r->db && sl_db_period_bounds(c, r->period_id, &from, &to) != SL_DB_OK) {
    sl_req_reader_drop(r);
    return r->db;
  }
  return c;
}

/* Hand a finished export to the reply. */
static void reply_export(sl_req *r, sl_settlement_export *e, bool csv) {
  uint8_t sha[32];
  int fd = -1;
  uint64_t size = 0;
  if (!sl_settlement_export_finish(e, sha, &fd, &size, r->sig_key, r->sig_hex)) {
    if (fd >= 0) close(fd);
    sl_reply_error(r, SL_E_INTERNAL, NULL, "the export could not be written");
    return;
  }
  for (int i = 0; i < 32; i++) snprintf(r->sha_hex + 2 * i, 3, "%02x", sha[i]);
  r->has_fd = true;
  r->reply_fd = fd;
  r->reply_size = size;
  r->status = 200;
  r->content_type = csv ? "text/csv; charset=utf-8" : "application/json";
}

/* GET /v1/periods/{id}/statements/{account}?format=json|csv (account 0: the exchange). */
void h_statement_get(sl_req *r) {
  json_t *p = NULL, *acct = NULL;
  int64_t from, to, account = 0;
  bool csv;
  if (!format_csv(r, &csv, false) || !load_period(r, &p, &from, &to)) goto cleanup;
  if (strcmp(r->params[1], "0") != 0 && !sl_parse_id(r->params[1], &account)) {
    sl_reply_error(r, SL_E_BAD_PATH_ID, "account", "'%.40s' is not an account id", r->params[1]);
    goto cleanup;
  }
  bool admin = sl_role_is(r, "admin");
  sl_dbrc rc = SL_DB_NOROWS;
  if (account == 0 && admin) {
    rc = SL_DB_OK; /* the exchange: acct stays NULL */
  } else if (account && (admin || account == r->who.account_id)) {
    rc = sl_db_account_get(r->db, account, &acct);
  }
  if (rc == SL_DB_NOROWS) {
    sl_reply_error(r, SL_E_NOT_FOUND, "account", "no account %lld", (long long)account);
    goto cleanup;
  }
  sl_settlement_export *e = rc == SL_DB_OK ? sl_settlement_export_new(true) : NULL;
  if (rc == SL_DB_OK && !e) rc = SL_DB_HARD;
  if (rc == SL_DB_OK) rc = sl_settlement_statement(period_reader(r), p, from, to, acct, csv, e);
  if (rc == SL_DB_OK) reply_export(r, e, csv);
  else sl_reply_db(r, rc);
  sl_settlement_export_free(e);
cleanup:
  json_decref(p);
  json_decref(acct);
}

/* GET /v1/periods/{id}/export: every account's journal lines as one CSV (admin). */
void h_period_export(sl_req *r) {
  json_t *p = NULL;
  int64_t from, to;
  bool csv;
  if (!format_csv(r, &csv, true) || !load_period(r, &p, &from, &to)) goto cleanup;
  if (!csv) {
    sl_reply_error(r, SL_E_BAD_QUERY, "format", "the period export is CSV only");
    goto cleanup;
  }
  sl_settlement_export *e = sl_settlement_export_new(true);
  sl_dbrc rc = e ? sl_settlement_period_csv(period_reader(r), from, to, e) : SL_DB_HARD;
  if (rc == SL_DB_OK) reply_export(r, e, true);
  else sl_reply_db(r, rc);
  sl_settlement_export_free(e);
cleanup:
  json_decref(p);
}

/* GET /v1/periods/{id}/regions: per-region summary (operators: their regions). */
void h_period_regions(sl_req *r) {
  json_t *p = NULL;
  int64_t from, to;
  bool csv;
  if (!format_csv(r, &csv, false) || !load_period(r, &p, &from, &to)) goto cleanup;
  sl_settlement_export *e = sl_settlement_export_new(true);
  sl_dbrc rc = e ? sl_settlement_regions(period_reader(r), p, from, to,
                                         sl_role_is(r, "operator") ? r->who.regions : NULL, csv, e)
                 : SL_DB_HARD;
  if (rc == SL_DB_OK) reply_export(r, e, csv);
  else sl_reply_db(r, rc);
  sl_settlement_export_free(e);
cleanup:
  json_decref(p);
}
