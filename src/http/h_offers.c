/* h_offers.c — GET /v1/offers: the market searched like a catalogue.  Active pools with the
 * GPUs free in every hour of a window, filtered by model and region (with * wildcards),
 * price, price per NCU, NCU, memory, free GPUs and RTT from an origin region, sorted by
 * price, price per NCU, RTT or free GPUs, one bounded page at a time. */
#include "internal.h"
#include "suanli/core/clock.h"
#include "suanli/core/money.h"
#include "suanli/core/timeutil.h"
#include "suanli/db/offers.h"
#include <stdio.h>
#include <string.h>

static const char *const sorts[] = {"price", "price_per_ncu", "rtt", "free", NULL};

/* A wildcard pattern ("H100*", "eu-*") as an ILIKE pattern in buf; false (400 sent) when it
 * holds anything but letters, digits, '-', '_', '.' and '*'. */
static bool like_pattern(sl_req *r, const char *name, const char *v, char *buf, size_t len) {
  size_t n = 0;
  if (strlen(v) < 1 || strlen(v) > 64) {
    sl_reply_error(r, SL_E_BAD_QUERY, name, "%s must be 1 to 64 characters", name);
    return false;
  }
  for (const char *p = v; *p; p++) {
    char ch = *p;
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '.' || ch == '_' || ch == '*';
    if (!ok) {
      sl_reply_error(r, SL_E_BAD_QUERY, name,
                     "%s may hold letters, digits, '-', '_', '.' and the wildcard '*'", name);
      return false;
    }
    if (ch == '_') buf[n++] = '\\';
    buf[n++] = ch == '*' ? '%' : ch;
    if (n + 2 >= len) break;
  }
  buf[n] = 0;
  return true;
}

/* A money query parameter (decimal string) into minor units; -1 when absent. */
static bool query_money(sl_req *r, const char *name, int64_t *out) {
  const char *v = sl_req_query(r, name);
  *out = -1;
  if (!v) return true;
  if (sl_money_parse(v, out) != SL_MONEY_OK || *out < 0) {
    sl_reply_error(r, SL_E_BAD_QUERY, name, "%s must be an amount such as 3.10", name);
    return false;
  }
  return true;
}

/* A thousandths query parameter ("0.9", "49.999"); -1 when absent. */
static bool query_milli(sl_req *r, const char *name, int64_t max, int64_t *out) {
  const char *v = sl_req_query(r, name);
  *out = -1;
  if (!v) return true;
  if (!sl_parse_milli(v, out) || *out > max) {
    sl_reply_error(r, SL_E_BAD_QUERY, name, "%s must be a decimal with at most 3 decimals", name);
    return false;
  }
  return true;
}

void h_offers_list(sl_req *r) {
  sl_offer_filter f = {.min_free_gpus = -1, .min_memory_gb = -1, .sort = "price"};
  int64_t after = 0, gpus = -1, mem = -1, hours = 1;
  int limit;
  char acc[160], reg[160];
  if (!sl_req_page_id(r, &after, &limit) || !sl_req_query_int(r, "min_gpus", 1, 1000000, &gpus) ||
      !sl_req_query_int(r, "min_memory_gb", 0, 100000, &mem) ||
      !sl_req_query_enum(r, "sort", sorts, &f.sort) ||
      !query_money(r, "min_price", &f.min_price_minor) ||
      !query_money(r, "max_price", &f.max_price_minor) ||
      !query_money(r, "max_price_per_ncu", &f.max_ncu_price_minor) ||
      !query_milli(r, "min_ncu", 1000000, &f.min_ncu_milli) ||
      !query_milli(r, "max_rtt_ms", 10000000, &f.max_rtt_us))
    return;
  if (!f.sort) f.sort = "price";
  const char *v;
  if ((v = sl_req_query(r, "accelerator")) && !like_pattern(r, "accelerator", v, acc, sizeof acc))
    return;
  if (v) f.accelerator_like = acc;
  if ((v = sl_req_query(r, "region")) && !like_pattern(r, "region", v, reg, sizeof reg)) return;
  if (v) f.region_like = reg;
  f.origin = sl_req_query(r, "origin");
  if (f.origin && (strlen(f.origin) < 1 || strlen(f.origin) > 40)) {
    sl_reply_error(r, SL_E_BAD_QUERY, "origin", "origin must be a region code");
    return;
  }
  if (!f.origin && (f.max_rtt_us >= 0 || strcmp(f.sort, "rtt") == 0)) {
    sl_reply_error(r, SL_E_BAD_QUERY, "origin", "max_rtt_ms and sort=rtt need origin");
    return;
  }
  int64_t now = sl_clock_now();
  f.start = sl_time_ceil_slot(now);
  if ((v = sl_req_query(r, "start"))) {
    bool rel = false;
    if (!sl_time_parse_human(v, now, &f.start, &rel) || (!rel && !sl_time_on_slot(f.start))) {
      sl_reply_error(
          r, SL_E_BAD_QUERY, "start",
          "start must be now, now+<duration> (e.g. now+2h) or a whole-hour RFC 3339 time");
      return;
    }
  }
  if ((v = sl_req_query(r, "duration"))) {
    int64_t sec;
    if (!sl_duration_parse(v, &sec) || sec % 3600 != 0 || sec / 3600 > 2160) {
      sl_reply_error(r, SL_E_BAD_QUERY, "duration",
                     "duration must be whole hours up to 2160, e.g. 24h, 3d or 24");
      return;
    }
    hours = sec / 3600;
  }
  f.end = f.start + hours * 3600;
  f.min_free_gpus = gpus;
  f.min_memory_gb = mem;
  f.offset = after;
  f.limit = limit;
  char *page;
  sl_dbrc rc = sl_db_offers_page(r->db, &f, &page);
  if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else sl_reply_text(r, 200, page);
}
