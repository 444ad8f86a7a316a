/* engine.c — the order flow: snapshot, match, buy the pieces atomically; quotes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "suanli/exchange.h"
#include "suanli/log.h"
#include "suanli/money.h"
#include "suanli/timeutil.h"

#define MAX_MATCH_TRIES 4

static sl_mkt_intra intra_of(const char *s) {
  if (!strcmp(s, "nvlink")) return SL_INTRA_NVLINK;
  if (!strcmp(s, "pcie")) return SL_INTRA_PCIE;
  if (!strcmp(s, "infinity_fabric")) return SL_INTRA_INFINITY_FABRIC;
  if (!strcmp(s, "hccs")) return SL_INTRA_HCCS;
  return SL_INTRA_OTHER;
}

static sl_mkt_inter inter_of(const char *s) {
  if (!strcmp(s, "infiniband")) return SL_INTER_INFINIBAND;
  if (!strcmp(s, "roce")) return SL_INTER_ROCE;
  if (!strcmp(s, "ethernet")) return SL_INTER_ETHERNET;
  return SL_INTER_NONE;
}

static int cmp_row_id(const void *key, const void *elem) {
  int64_t k = *(const int64_t *)key, id = ((const sl_db_pool_row *)elem)->id;
  return k < id ? -1 : k > id;
}

void sl_xchg_book_free(sl_xchg_book *b) {
  sl_market_result_free(&b->result);
  free(b->rows);
  free(b->pools);
  free(b->free);
  memset(b, 0, sizeof *b);
}

sl_dbrc sl_xchg_match(sl_dbc *c, sl_order_req *o, int64_t tenant, int64_t now, sl_xchg_book *b) {
  memset(b, 0, sizeof *b);
  sl_mkt_order m = o->m;
  if (now > 0 && m.earliest_start < sl_order_next_slot(now)) m.earliest_start = sl_order_next_slot(now);
  if (m.earliest_start > m.latest_start) m.earliest_start = m.latest_start; /* caller checks */
  int64_t hourly = -1, monthly = -1, spent = 0;
  sl_dbrc rc = SL_DB_OK;
  if (tenant) {
    rc = sl_db_budget_get(c, tenant, &hourly, &monthly, &spent);
    if (rc != SL_DB_OK) return rc;
  }
  m.budget_hourly_minor = hourly;
  m.budget_total_minor = monthly < 0 ? -1 : (monthly > spent ? monthly - spent : 0);
  b->window_start = m.earliest_start;
  b->nslots = (size_t)((m.latest_start - m.earliest_start) / SL_SLOT_SECONDS + m.duration_slots);
  rc = sl_db_market_pools(c, o->origin, &b->rows, &b->nrows);
  if (rc != SL_DB_OK) goto fail;
  sl_db_booking *bk = NULL;
  size_t nbk = 0;
  rc = sl_db_market_bookings(c, b->window_start,
                             b->window_start + (int64_t)b->nslots * SL_SLOT_SECONDS, &bk, &nbk);
  if (rc != SL_DB_OK) goto fail;
  b->pools = calloc(b->nrows ? b->nrows : 1, sizeof *b->pools);
  b->free = calloc(b->nrows * b->nslots + 1, sizeof *b->free);
  if (!b->pools || !b->free) {
    free(bk);
    rc = SL_DB_HARD;
    goto fail;
  }
  for (size_t i = 0; i < b->nrows; i++) {
    sl_db_pool_row *r = &b->rows[i];
    int32_t *fr = b->free + i * b->nslots;
    for (size_t k = 0; k < b->nslots; k++) fr[k] = r->gpu_count;
    b->pools[i] = (sl_mkt_pool){
        .id = r->id, .region = r->region, .accelerator = r->accelerator,
        .memory_gb = r->memory_gb, .ncu_milli = r->ncu_milli, .intra = intra_of(r->intra),
        .inter = inter_of(r->inter), .inter_gbps = r->inter_gbps, .price_minor = r->price_minor,
        .avail_from = r->avail_from, .avail_until = r->avail_until,
        .active = strcmp(r->status, "active") == 0, .down = strcmp(r->health, "down") == 0,
        .rtt_us = r->rtt_us, .free = fr};
  }
  for (size_t j = 0; j < nbk; j++) {
    sl_db_pool_row *r = bsearch(&bk[j].pool_id, b->rows, b->nrows, sizeof *b->rows, cmp_row_id);
    if (!r) continue;
    size_t i = (size_t)(r - b->rows), k = (size_t)((bk[j].slot - b->window_start) / SL_SLOT_SECONDS);
    int32_t *fr = b->free + i * b->nslots;
    fr[k] = fr[k] > bk[j].booked ? fr[k] - bk[j].booked : 0;
  }
  free(bk);
  if (!sl_market_match(&m, b->pools, b->nrows, b->window_start, b->nslots, &b->result)) {
    rc = SL_DB_HARD;
    goto fail;
  }
  return SL_DB_OK;
fail:
  sl_xchg_book_free(b);
  return rc;
}

static json_t *money(int64_t minor) {
  char buf[SL_MONEY_STRLEN];
  sl_money_format(minor, buf, sizeof buf);
  return json_string(buf);
}

static json_t *ms(int64_t us) {
  if (us < 0) return json_null();
  char buf[32];
  snprintf(buf, sizeof buf, "%lld.%03lld", (long long)(us / 1000), (long long)(us % 1000));
  return json_string(buf);
}

static json_t *ts(int64_t t) {
  char buf[32];
  sl_time_format(t, buf, sizeof buf);
  return json_string(buf);
}

static json_t *piece_json(const sl_xchg_book *b, const sl_order_req *o, const sl_mkt_piece *p) {
  const sl_db_pool_row *r = &b->rows[p->pool];
  json_t *per_ncu = json_null();
  if (r->ncu_milli > 0) per_ncu = money((p->unit_price_minor * 1000 + r->ncu_milli / 2) / r->ncu_milli);
  return json_pack("{s:I,s:I,s:s,s:s,s:o,s:o,s:o,s:i,s:o,s:o,s:o}", "pool_id", (json_int_t)r->id,
                   "provider_id", (json_int_t)r->owner_id, "region", r->region, "accelerator",
                   r->accelerator, "rtt_ms", o->origin ? ms(p->rtt_us) : json_null(), "start",
                   ts(p->start), "end",
                   ts(p->start + (int64_t)o->m.duration_slots * SL_SLOT_SECONDS), "gpus",
                   (int)p->gpus, "unit_price", money(p->unit_price_minor), "price_per_ncu_hour",
                   per_ncu, "total", money(p->total_minor));
}

json_t *sl_xchg_quote_json(const sl_xchg_book *b, const sl_order_req *o) {
  const sl_mkt_result *res = &b->result;
  json_t *placements = json_array(), *ranked = json_array(), *rejected = json_array();
  int64_t total = 0;
  for (size_t i = 0; i < res->npieces; i++) {
    json_array_append_new(placements, piece_json(b, o, &res->pieces[i]));
    total += res->pieces[i].total_minor;
  }
  for (size_t i = 0; i < res->nranked && i < 20; i++)
    json_array_append_new(ranked, piece_json(b, o, &res->ranked[i]));
  for (size_t i = 0; i < b->nrows; i++) {
    const sl_mkt_verdict *v = &res->verdicts[i];
    if (v->why == SL_WHY_CHOSEN) continue;
    json_array_append_new(rejected, json_pack("{s:I,s:s,s:s,s:s,s:s}", "pool_id",
                                              (json_int_t)b->rows[i].id, "region",
                                              b->rows[i].region, "accelerator",
                                              b->rows[i].accelerator, "reason",
                                              sl_mkt_why_name(v->why), "detail", v->detail));
  }
  return json_pack("{s:b,s:i,s:i,s:o,s:{s:o,s:o},s:o,s:o,s:o}", "filled", res->filled, "gpus",
                   (int)o->m.gpus, "gpus_available", (int)res->gpus_filled, "total",
                   res->filled ? money(total) : json_null(), "window", "earliest_start",
                   ts(b->window_start), "latest_start", ts(o->m.latest_start), "placements",
                   placements, "ranked", ranked, "rejected", rejected);
}

/* "no placement: 12 spec, 3 price, 1 capacity" with the details of the closest verdict. */
static void summarise(const sl_xchg_book *b, char *out, size_t len) {
  int counts[SL_WHY_OUTRANKED + 1] = {0};
  const sl_mkt_verdict *closest = NULL;
  for (size_t i = 0; i < b->nrows; i++) {
    const sl_mkt_verdict *v = &b->result.verdicts[i];
    counts[v->why]++;
    if (!closest || v->why > closest->why) closest = v; /* later checks = got further */
  }
  size_t n = (size_t)snprintf(out, len, "no placement for the whole order");
  if (b->nrows == 0) {
    snprintf(out + n, len - n, ": no pools are listed");
    return;
  }
  const char *sep = ": ";
  for (int w = SL_WHY_HEALTH; w <= SL_WHY_OUTRANKED && n < len; w++) {
    if (!counts[w]) continue;
    n += (size_t)snprintf(out + n, len - n, "%s%d %s", sep, counts[w], sl_mkt_why_name((sl_mkt_why)w));
    sep = ", ";
  }
  if (closest && n < len) snprintf(out + n, len - n, "; closest: %s", closest->detail);
}

sl_dbrc sl_xchg_execute(sl_dbc *c, int64_t order_id, int64_t tenant, sl_order_req *o, int64_t now,
                        sl_xchg_outcome *outcome, char *reason, size_t reason_len) {
  *outcome = SL_XCHG_NOT_FILLED;
  reason[0] = '\0';
  if (now > 0 && sl_order_next_slot(now) > o->m.latest_start) {
    snprintf(reason, reason_len, "the start window has passed");
    return SL_DB_OK;
  }
  for (int attempt = 0; attempt < MAX_MATCH_TRIES; attempt++) {
    sl_xchg_book b;
    sl_dbrc rc = sl_xchg_match(c, o, tenant, now, &b);
    if (rc != SL_DB_OK) return rc;
    if (!b.result.filled) {
      summarise(&b, reason, reason_len);
      sl_xchg_book_free(&b);
      return SL_DB_OK;
    }
    rc = sl_db_savepoint(c, "sl_pieces");
    bool retry = false;
    for (size_t i = 0; rc == SL_DB_OK && i < b.result.npieces && !retry; i++) {
      const sl_mkt_piece *p = &b.result.pieces[i];
      int64_t trade = 0;
      const char *what = NULL;
      rc = sl_db_trade(c, order_id, tenant, b.rows[p->pool].id, p->start, o->m.duration_slots,
                       p->gpus, p->unit_price_minor, &trade, &what);
      if (rc != SL_DB_OK) break;
      if (!strcmp(what, "ok")) continue;
      sl_db_rollback_to_savepoint(c, "sl_pieces");
      if (!strcmp(what, "insufficient_funds")) {
        *outcome = SL_XCHG_NO_FUNDS;
        snprintf(reason, reason_len, "the available balance does not cover the total");
        sl_xchg_book_free(&b);
        return SL_DB_OK;
      }
      if (!strcmp(what, "budget")) {
        snprintf(reason, reason_len, "the monthly budget cap would be exceeded");
        sl_xchg_book_free(&b);
        return SL_DB_OK;
      }
      retry = true; /* no_capacity / price_changed: the book moved under us */
    }
    sl_xchg_book_free(&b);
    if (rc != SL_DB_OK) return rc;
    if (!retry) {
      *outcome = SL_XCHG_FILLED;
      return sl_db_order_set_state(c, order_id, "filled", "");
    }
  }
  snprintf(reason, reason_len, "the capacity kept changing while matching; try again");
  return SL_DB_OK;
}
