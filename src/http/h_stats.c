/* h_stats.c — the dashboard's JSON: region summaries of the live period, the utilization
 * grid, pool health, dispatch statistics (admins and operators, operators scoped to their
 * regions; pool health also for providers, scoped to their pools) and the market view
 * (offers, price history, last prices; every role).
 *
 * The figures are read with sl_req_reader: from a replica when the server has one (they are
 * aggregates the page refreshes every few seconds, so a replica's lag is harmless).
 * Every reply carries an ETag (a hash of its bytes, as every GET 200 does: server.c); a request
 * whose If-None-Match names it gets 304 with no body, so the dashboard can poll cheaply. */
#include "internal.h"
#include "suanli/core/clock.h"
#include "suanli/core/timeutil.h"
#include "suanli/db/accelerators.h"
#include "suanli/db/regions.h"
#include "suanli/db/stats.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The caller's region scope: the operator's regions, or NULL (everything). */
static const json_t *scope_of(const sl_req *r) {
  return sl_role_is(r, "operator") ? r->who.regions : NULL;
}

static bool in_scope(const sl_req *r, const char *region) {
  const json_t *s = scope_of(r);
  if (!s) return true;
  size_t i;
  json_t *v;
  json_array_foreach(s, i, v) if (strcmp(json_string_value(v), region) == 0) return true;
  return false;
}

/* An identifier-like query parameter (a region code or an accelerator id): 1..64 characters
 * of [A-Za-z0-9._-].  *out NULL when absent; replies 400 and returns false when malformed. */
static bool query_code(sl_req *r, const char *name, const char **out) {
  const char *v = sl_req_query(r, name);
  *out = v;
  if (!v) return true;
  size_t n = strlen(v);
  bool ok = n >= 1 && n <= 64;
  for (const char *p = v; ok && *p; p++)
    ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
         *p == '.' || *p == '_' || *p == '-';
  if (!ok)
    sl_reply_error(r, SL_E_BAD_QUERY, name, "%s must be 1..64 characters of A-Z a-z 0-9 . _ -",
                   name);
  return ok;
}

/* A region the caller may see: 404 naming the field when unknown or outside the scope. */
static bool visible_region(sl_req *r, const char *field, const char *region) {
  json_t *reg = NULL;
  sl_dbrc rc = in_scope(r, region) ? sl_db_region_get(r->db, region, &reg) : SL_DB_NOROWS;
  json_decref(reg);
  if (rc == SL_DB_NOROWS) {
    sl_reply_error(r, SL_E_NOT_FOUND, field, "no region '%s'", region);
    return false;
  }
  if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
    return false;
  }
  return true;
}

/* The first instant of the current calendar month (UTC): the live period. */
static int64_t month_start(int64_t now) {
  time_t t = (time_t)now;
  struct tm tm;
  gmtime_r(&t, &tm);
  struct tm a = {.tm_year = tm.tm_year, .tm_mon = tm.tm_mon, .tm_mday = 1};
  return (int64_t)timegm(&a);
}

/* GET /v1/stats/regions?region= */
void h_stats_regions(sl_req *r) {
  const char *region;
  if (!query_code(r, "region", &region)) return;
  if (region && !visible_region(r, "region", region)) return;
  json_t *items = NULL;
  sl_dbrc rc = sl_db_stats_regions(sl_req_reader(r), scope_of(r), region,
                                   month_start(sl_clock_now()), &items);
  if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
    return;
  }
  char start[32];
  sl_time_format(month_start(sl_clock_now()), start, sizeof start);
  sl_reply_json(
      r, 200, json_pack("{s:s,s:s,s:o}", "period_start", start, "currency", "USD", "items", items));
}

/* GET /v1/stats/utilization?region=&hours= (hours 1..336, default 336). */
void h_stats_utilization(sl_req *r) {
  const char *region;
  int64_t hours = 336;
  if (!query_code(r, "region", &region)) return;
  if (!region) {
    sl_reply_error(r, SL_E_BAD_QUERY, "region", "region is required");
    return;
  }
  if (!sl_req_query_int(r, "hours", 1, 336, &hours)) return;
  if (!visible_region(r, "region", region)) return;
  json_t *grid;
  sl_dbrc rc = sl_db_stats_utilization(sl_req_reader(r), region, (int)hours, &grid);
  if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else sl_reply_json(r, 200, grid);
}

/* GET /v1/stats/health (providers: their own pools). */
void h_stats_health(sl_req *r) {
  json_t *out;
  int64_t owner = sl_role_is(r, "provider") ? r->who.account_id : 0;
  sl_dbrc rc = sl_db_stats_health(sl_req_reader(r), scope_of(r), owner, &out);
  if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else sl_reply_json(r, 200, out);
}

/* GET /v1/stats/dispatch */
void h_stats_dispatch(sl_req *r) {
  json_t *out;
  sl_dbrc rc = sl_db_stats_dispatch(sl_req_reader(r), scope_of(r), &out);
  if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else sl_reply_json(r, 200, out);
}

/* GET /v1/market/offers?accelerator=&region=&limit= (limit 1..2000, default 200: the whole
 * market of (region, model) groups fits one page for the dashboard). */
void h_market_offers(sl_req *r) {
  const char *accel, *region;
  int64_t limit = 200;
  if (!query_code(r, "accelerator", &accel) || !query_code(r, "region", &region) ||
      !sl_req_query_int(r, "limit", 1, 2000, &limit))
    return;
  json_t *items = NULL;
  sl_dbrc rc = sl_db_market_offers(sl_req_reader(r), accel, region, (int)limit, &items);
  if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else sl_reply_json(r, 200, json_pack("{s:s,s:o}", "currency", "USD", "items", items));
}

/* GET /v1/market/prices?accelerator=&days=&region= (days 1..90, default 7; hourly points up
 * to 7 days, daily beyond). */
void h_market_prices(sl_req *r) {
  const char *accel, *region;
  int64_t days = 7;
  if (!query_code(r, "accelerator", &accel) || !query_code(r, "region", &region) ||
      !sl_req_query_int(r, "days", 1, 90, &days))
    return;
  if (!accel) {
    sl_reply_error(r, SL_E_BAD_QUERY, "accelerator", "accelerator is required");
    return;
  }
  json_t *a = NULL;
  sl_dbrc rc = sl_db_accelerator_get(r->db, accel, &a);
  json_decref(a);
  if (rc == SL_DB_NOROWS) {
    sl_reply_error(r, SL_E_NOT_FOUND, "accelerator", "no accelerator '%s'", accel);
    return;
  }
  json_t *out = NULL;
  if (rc == SL_DB_OK)
    rc = sl_db_market_prices(sl_req_reader(r), accel, (int)days, region, days <= 7 ? "hour" : "day",
                             &out);
  if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else sl_reply_json(r, 200, out);
}

/* GET /v1/market/last: the last trade price of every model that has traded. */
void h_market_last(sl_req *r) {
  json_t *items = NULL;
  sl_dbrc rc = sl_db_market_last(sl_req_reader(r), &items);
  if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else sl_reply_json(r, 200, json_pack("{s:s,s:o}", "currency", "USD", "items", items));
}
