/* engine.c — the order flow: snapshot, match, buy the pieces atomically; quotes. */
#include "suanli/core/log.h"
#include "suanli/core/money.h"
#include "suanli/core/timeutil.h"
#include "suanli/core/vocab.h"
#include "suanli/db/market.h"
#include "suanli/market/book.h"
#include "suanli/trading/trading.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MATCH_TRIES 4

static _Atomic unsigned long retries; /* stale placements refused by the database */
void sl_trading_retries_add(unsigned long n) { retries += n; }
unsigned long sl_trading_retries(void) { return retries; }

void sl_trading_book_free(sl_trading_book *b) {
  sl_market_book_match_free(&b->m);
  free(b->models);
  memset(b, 0, sizeof *b);
}

/* A tenant's budget (hourly, monthly, spent this month) as quotes read it: cached per tenant
 * for BUDGET_TTL_US, and only while this process has committed nothing since it was read
 * (sl_trading_book_touch), so a tenant's own budget change or trade through this process is
 * seen at once and one through another process within BUDGET_TTL_US.  Orders always read the
 * database (and sl_trade checks funds and the monthly budget again under the tenant's lock). */
#define BUDGET_SLOTS  256
#define BUDGET_TTL_US 1000000
static struct {
  pthread_mutex_t mu;
  struct budget_ent {
    int64_t tenant, hourly, monthly, spent, at_us;
  } e[BUDGET_SLOTS];
} BC = {.mu = PTHREAD_MUTEX_INITIALIZER};

static sl_dbrc budget_get(sl_dbc *c, int64_t tenant, bool cached, int64_t *hourly, int64_t *monthly,
                          int64_t *spent) {
  struct budget_ent *e = &BC.e[(uint64_t)tenant % BUDGET_SLOTS];
  int64_t now = sl_time_now_us();
  if (cached) {
    bool hit = false;
    pthread_mutex_lock(&BC.mu);
    if (e->tenant == tenant && e->at_us > sl_trading_book_touched_us() &&
        now - e->at_us < BUDGET_TTL_US) {
      *hourly = e->hourly, *monthly = e->monthly, *spent = e->spent;
      hit = true;
    }
    pthread_mutex_unlock(&BC.mu);
    if (hit) return SL_DB_OK;
  }
  sl_dbrc rc = sl_db_budget_get(c, tenant, hourly, monthly, spent);
  if (rc != SL_DB_OK) return rc;
  pthread_mutex_lock(&BC.mu);
  *e = (struct budget_ent){tenant, *hourly, *monthly, *spent, now};
  pthread_mutex_unlock(&BC.mu);
  return SL_DB_OK;
}

/* The order as matched now (earliest start not before the next slot, the tenant's budgets),
 * and the book synced with every change committed before this call.  `cached`: the budget may
 * come from budget_get's cache (quotes). */
static sl_dbrc prepare(sl_dbc *c, const sl_market_order_req *o, int64_t tenant, int64_t now,
                       bool cached, sl_trading_book *b) {
  memset(b, 0, sizeof *b);
  int64_t asked = sl_time_now_us();
  sl_market_order m = o->m;
  if (now > 0 && m.earliest_start < sl_market_order_next_slot(now))
    m.earliest_start = sl_market_order_next_slot(now);
  if (m.earliest_start > m.latest_start) m.earliest_start = m.latest_start; /* caller checks */
  int64_t hourly = -1, monthly = -1, spent = 0;
  if (tenant) {
    sl_dbrc rc = budget_get(c, tenant, cached, &hourly, &monthly, &spent);
    if (rc != SL_DB_OK) return rc;
  }
  m.budget_hourly_minor = hourly;
  m.budget_total_minor = monthly < 0 ? -1 : (monthly > spent ? monthly - spent : 0);
  b->order = m;
  b->window_start = m.earliest_start;
  b->nslots = (size_t)((m.latest_start - m.earliest_start) / SL_SLOT_SECONDS + m.duration_slots);
  return sl_trading_book_sync(asked);
}

/* The bounded match against the book; the caller holds the book's read lock. */
static sl_dbrc match_locked(const sl_market_order_req *o, size_t limit, const int64_t *exclude,
                            size_t nexclude, sl_trading_book *b) {
  sl_market_book_opts opts = {.limit = limit ? limit : SL_TRADING_LIMIT_DEFAULT,
                              .examples = SL_TRADING_EXAMPLES,
                              .max_examined = SL_TRADING_MAX_EXAMINED,
                              .exclude = exclude,
                              .n_exclude = nexclude};
  const sl_market_book *bk = sl_trading_book_get();
  if (!bk) return SL_DB_HARD;
  if (b->order.n_accelerators) { /* names (families, aliases) -> the models they name */
    free(b->models);
    size_t n = 0;
    if (!(b->models =
              sl_market_book_resolve(bk, b->order.accelerators, b->order.n_accelerators, &n)))
      return SL_DB_HARD;
    b->order.accelerators = b->models;
    b->order.n_accelerators = n;
  }
  if (!sl_market_book_match_order(bk, &b->order, o->origin, b->window_start, b->nslots, &opts,
                                  &b->m))
    return SL_DB_HARD;
  return SL_DB_OK;
}

sl_dbrc sl_trading_match(sl_dbc *c, sl_market_order_req *o, int64_t tenant, int64_t now,
                         size_t limit, const int64_t *exclude, size_t nexclude,
                         sl_trading_book *b) {
  sl_dbrc rc = prepare(c, o, tenant, now, false, b);
  if (rc != SL_DB_OK) return rc;
  sl_trading_book_read_lock();
  rc = match_locked(o, limit, exclude, nexclude, b);
  sl_trading_book_read_unlock();
  if (rc != SL_DB_OK) sl_trading_book_free(b);
  return rc;
}

static json_t *money(int64_t minor) {
  char buf[SL_MONEY_STRLEN];
  sl_money_format(minor, buf, sizeof buf);
  return json_string(buf);
}

/* Non-negative thousandths as "8.000" (NCU; microseconds as milliseconds). */
static json_t *milli(int64_t m) {
  char buf[32];
  snprintf(buf, sizeof buf, "%lld.%03lld", (long long)(m / 1000), (long long)(m % 1000));
  return json_string(buf);
}

static json_t *ms(int64_t us) { return us < 0 ? json_null() : milli(us); }

static json_t *ts(int64_t t) {
  char buf[32];
  sl_time_format(t, buf, sizeof buf);
  return json_string(buf);
}

static json_t *piece_json(const sl_trading_book *b, const sl_market_order_req *o,
                          const sl_market_piece *p) {
  const sl_market_pool *r = &b->m.pools[p->pool];
  json_t *per_ncu = json_null(), *ncu = json_null();
  if (r->ncu_milli > 0)
    per_ncu = money((p->unit_price_minor * 1000 + r->ncu_milli / 2) / r->ncu_milli);
  if (r->ncu_milli >= 0) ncu = milli((int64_t)p->gpus * r->ncu_milli); /* NCU delivered */
  return json_pack(
      "{s:I,s:I,s:s,s:s,s:o,s:o,s:o,s:o,s:i,s:o,s:o,s:o,s:o}", "pool_id", (json_int_t)r->id,
      "provider_id", (json_int_t)b->m.owner[p->pool], "region", r->region, "accelerator",
      r->accelerator, "rtt_ms", o->origin ? ms(p->rtt_us) : json_null(), "rtt_source",
      !o->origin || p->rtt_us < 0 ? json_null()
                                  : json_string(r->rtt_estimated ? "estimated" : "measured"),
      "start", ts(p->start), "end", ts(p->start + (int64_t)o->m.duration_slots * SL_SLOT_SECONDS),
      "gpus", (int)p->gpus, "ncu", ncu, "unit_price", money(p->unit_price_minor),
      "price_per_ncu_hour", per_ncu, "total", money(p->total_minor));
}

static json_t *verdict_json(int64_t id, const char *region, const char *accelerator,
                            const sl_market_verdict *v, bool with_reason) {
  json_t *j = json_pack("{s:I,s:s,s:s}", "pool_id", (json_int_t)id, "region", region, "accelerator",
                        accelerator);
  if (with_reason) json_object_set_new(j, "reason", json_string(sl_market_why_name(v->why)));
  json_object_set_new(j, "detail", json_string(v->detail));
  return j;
}

/* The distance of a miss as the API shows it (src/market/README.md, "Nearest miss"): money for
 * PRICE (per GPU-hour) and BUDGET, milliseconds for LATENCY, GPUs for CAPACITY; null when the
 * reason has none. */
static json_t *gap_json(const sl_market_verdict *v) {
  if (v->gap < 0) return json_null();
  switch (v->why) {
  case SL_WHY_PRICE:
  case SL_WHY_BUDGET: return money(v->gap);
  case SL_WHY_LATENCY: return ms(v->gap);
  case SL_WHY_CAPACITY: {
    char buf[24];
    snprintf(buf, sizeof buf, "%lld", (long long)v->gap);
    return json_string(buf);
  }
  default: return json_null();
  }
}

/* The nearest miss of reason w (an object, or null when no pool of the match has it). */
static json_t *nearest_json(const sl_trading_book *b, int w) {
  size_t i = b->m.nearest[w];
  if (i == SIZE_MAX || i >= b->m.npools) return json_null();
  const sl_market_pool *p = &b->m.pools[i];
  const sl_market_verdict *v = &b->m.result.verdicts[i];
  json_t *j = verdict_json(p->id, p->region, p->accelerator, v, false);
  json_object_set_new(j, "gap", gap_json(v));
  return j;
}

/* The reply body; the caller holds the book's read lock (names point into it). */
static json_t *quote_json_locked(const sl_trading_book *b, const sl_market_order_req *o,
                                 const sl_trading_quote_opts *q) {
  const sl_market_result *res = &b->m.result;
  size_t limit = q->limit ? q->limit : SL_TRADING_LIMIT_DEFAULT;
  json_t *placements = json_array(), *ranked = json_array(), *reasons = json_array();
  int64_t total = 0;
  for (size_t i = 0; i < res->npieces; i++) {
    json_array_append_new(placements, piece_json(b, o, &res->pieces[i]));
    total += res->pieces[i].total_minor;
  }
  for (size_t i = 0; i < res->nranked && i < limit; i++)
    json_array_append_new(ranked, piece_json(b, o, &res->ranked[i]));
  for (int w = SL_WHY_HEALTH; w <= SL_WHY_OUTRANKED; w++) {
    if (!b->m.counts[w]) continue;
    json_t *ex = json_array();
    for (size_t k = 0; k < b->m.nexamples[w]; k++) {
      size_t i = b->m.examples[w][k];
      const sl_market_pool *p = &b->m.pools[i];
      json_array_append_new(
          ex, verdict_json(p->id, p->region, p->accelerator, &res->verdicts[i], false));
    }
    json_array_append_new(reasons, json_pack("{s:s,s:I,s:o,s:o}", "reason",
                                             sl_market_why_name((sl_market_why)w), "pools",
                                             (json_int_t)b->m.counts[w], "examples", ex, "nearest",
                                             nearest_json(b, w)));
  }
  /* an NCU order asks for the GPUs its placement needs (else its NCU rounded up) */
  int gpus = o->m.ncu_milli_wanted > 0 && res->filled ? (int)res->gpus_filled : (int)o->m.gpus;
  json_t *j = json_pack("{s:b,s:i,s:i,s:o,s:{s:o,s:o},s:o,s:o,s:o,s:{s:I,s:I,s:I}}", "filled",
                        res->filled, "gpus", gpus, "gpus_available", (int)res->gpus_filled, "total",
                        res->filled ? money(total) : json_null(), "window", "earliest_start",
                        ts(b->window_start), "latest_start", ts(o->m.latest_start), "placements",
                        placements, "ranked", ranked, "reasons", reasons, "pools", "total",
                        (json_int_t)b->m.total, "examined", (json_int_t)b->m.examined, "unexamined",
                        (json_int_t)b->m.unexamined);
  if (j && o->m.ncu_milli_wanted > 0) {
    json_object_set_new(j, "ncu", milli(o->m.ncu_milli_wanted));
    /* the NCU the placements deliver (issue 15), or the most a split order could gather */
    json_object_set_new(j, "ncu_delivered",
                        res->filled ? milli(res->ncu_milli_filled) : json_null());
    json_object_set_new(j, "ncu_available", milli(res->ncu_milli_filled));
  }
  if (j) /* a call order: the placement shown is today's; its auction may choose another */
    json_object_set_new(j, "clearing", json_string(o->call ? "call" : "continuous"));
  if (!j || !q->rejected) return j;
  /* the full per-pool list, one page in pool id order */
  int64_t chosen[64];
  size_t nch = 0;
  for (size_t i = 0; i < res->npieces && nch < 64; i++)
    chosen[nch++] = b->m.pools[res->pieces[i].pool].id;
  sl_market_book_verdict_row *rows = NULL;
  size_t n = 0;
  int64_t next = 0;
  if (!sl_market_book_verdicts(sl_trading_book_get(), &b->order, o->origin, b->window_start,
                               b->nslots, chosen, nch, q->after, q->page ? q->page : 100, &rows, &n,
                               &next)) {
    json_decref(j);
    return NULL;
  }
  json_t *rej = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(
        rej, verdict_json(rows[i].pool_id, rows[i].region, rows[i].accelerator, &rows[i].v, true));
  free(rows);
  json_object_set_new(j, "rejected", rej);
  json_object_set_new(j, "rejected_next", next ? json_integer(next) : json_null());
  return j;
}

sl_dbrc sl_trading_quote(sl_dbc *c, sl_market_order_req *o, int64_t tenant, int64_t now,
                         const sl_trading_quote_opts *q, json_t **out) {
  sl_trading_book b;
  *out = NULL;
  sl_dbrc rc = prepare(c, o, tenant, now, true, &b);
  if (rc != SL_DB_OK) return rc;
  sl_trading_book_read_lock();
  rc = match_locked(o, q->limit, NULL, 0, &b);
  if (rc == SL_DB_OK && !(*out = quote_json_locked(&b, o, q))) rc = SL_DB_HARD;
  sl_trading_book_read_unlock();
  sl_trading_book_free(&b);
  return rc;
}

/* "no placement: 12 spec, 3 price, 1 capacity; nearest miss: pool 7 (r, model): detail" —
 * the nearest miss of the reason furthest along the checks (src/market/README.md). */
void sl_trading_summary(const sl_trading_book *b, char *out, size_t len) {
  size_t closest = SIZE_MAX;
  for (int w = SL_WHY_OUTRANKED; w >= SL_WHY_HEALTH && closest == SIZE_MAX; w--)
    if (b->m.counts[w] && b->m.nearest[w] < b->m.npools) closest = b->m.nearest[w];
  size_t n = (size_t)snprintf(out, len, "no placement for the whole order");
  if (b->m.total == 0) {
    snprintf(out + n, len - n, ": no pools are listed");
    return;
  }
  const char *sep = ": ";
  for (int w = SL_WHY_HEALTH; w <= SL_WHY_OUTRANKED && n < len; w++) {
    if (!b->m.counts[w]) continue;
    n += (size_t)snprintf(out + n, len - n, "%s%zu %s", sep, b->m.counts[w],
                          sl_market_why_name((sl_market_why)w));
    sep = ", ";
  }
  if (closest != SIZE_MAX && n < len) {
    const sl_market_pool *p = &b->m.pools[closest];
    snprintf(out + n, len - n, "; nearest miss: pool %lld (%s, %s): %s", (long long)p->id,
             p->region, p->accelerator, b->m.result.verdicts[closest].detail);
  }
}

/* "partly filled: 6 of 8 GPUs" or, for an order for ncu, "partly filled: 18.000 of 24.000 NCU"
 * (the parts bought before this match included). */
static void part_text(const sl_market_order_req *o, int32_t got, int64_t got_ncu, char *buf,
                      size_t len) {
  if (o->m.ncu_milli_wanted > 0) {
    int64_t have = o->ncu_filled_before + got_ncu,
            asked = o->ncu_filled_before + o->m.ncu_milli_wanted;
    snprintf(buf, len, "partly filled: %lld.%03lld of %lld.%03lld NCU", (long long)(have / 1000),
             (long long)(have % 1000), (long long)(asked / 1000), (long long)(asked % 1000));
  } else {
    snprintf(buf, len, "partly filled: %d of %d GPUs", (int)o->filled_before + (int)got,
             (int)o->filled_before + (int)o->m.gpus);
  }
}

/* The pieces of a match (`got` GPUs, `got_ncu` NCU thousandths for an order for ncu) are bought:
 * count them and set the order's state — filled, or for a good-till order filled in part, open
 * with the rest resting (src/market/README.md, "Partial fills").  A replacement of a
 * failed-over trade counts nothing (counted already). */
static sl_dbrc finish(sl_dbc *c, int64_t order_id, const sl_market_order_req *o, int32_t got,
                      int64_t got_ncu, sl_trading_outcome *outcome, char *reason, size_t reason_len,
                      json_t **filled) {
  bool part = !o->replacing &&
              (o->m.ncu_milli_wanted > 0 ? got_ncu < o->m.ncu_milli_wanted : got < o->m.gpus);
  sl_dbrc rc = o->replacing ? SL_DB_OK : sl_db_order_add_filled(c, order_id, got, got_ncu);
  if (rc != SL_DB_OK) return rc;
  char what[96];
  part_text(o, got, got_ncu, what, sizeof what);
  const char *st = sl_vocab_name(SL_ORDER_STATE_FILLED);
  *outcome = SL_TRADING_FILLED;
  if (part && o->good_till) {
    *outcome = SL_TRADING_PARTIAL;
    st = sl_vocab_name(SL_ORDER_STATE_OPEN);
    snprintf(reason, reason_len, "%s; the rest rests on the book", what);
  } else if (part) {
    snprintf(reason, reason_len, "%s; the rest is cancelled", what);
  }
  return filled ? sl_db_order_set_state_get(c, order_id, st, reason, filled)
                : sl_db_order_set_state(c, order_id, st, reason);
}

/* Fill order_id in the caller's transaction from the book.  A piece the database refuses
 * (the book was stale: capacity or price changed, the pool went away) rolls the pieces back;
 * the book is synced, the refused pool left out of the next round, and the match redone, at
 * most MAX_MATCH_TRIES times.  The database's constraints decide: never an overbooking. */
sl_dbrc sl_trading_execute(sl_dbc *c, int64_t order_id, int64_t tenant, sl_market_order_req *o,
                           int64_t now, sl_trading_outcome *outcome, char *reason,
                           size_t reason_len, json_t **filled) {
  *outcome = SL_TRADING_NOT_FILLED;
  reason[0] = '\0';
  if (now > 0 && sl_market_order_next_slot(now) > o->m.latest_start) {
    snprintf(reason, reason_len, "the start window has passed");
    return SL_DB_OK;
  }
  int64_t refused[MAX_MATCH_TRIES];
  size_t nrefused = 0;
  for (int attempt = 0; attempt < MAX_MATCH_TRIES; attempt++) {
    sl_trading_book b;
    sl_dbrc rc =
        sl_trading_match(c, o, tenant, now, SL_TRADING_LIMIT_DEFAULT, refused, nrefused, &b);
    if (rc != SL_DB_OK) return rc;
    if (!b.m.result.filled) {
      sl_trading_summary(&b, reason, reason_len);
      sl_trading_book_free(&b);
      return SL_DB_OK;
    }
    rc = sl_db_savepoint(c, "sl_pieces");
    bool retry = false;
    int32_t got = b.m.result.gpus_filled;          /* < o->m.gpus: a partial fill (min_gpus) */
    int64_t got_ncu = b.m.result.ncu_milli_filled; /* an order for ncu: the NCU placed */
    for (size_t i = 0; rc == SL_DB_OK && i < b.m.result.npieces && !retry; i++) {
      const sl_market_piece *p = &b.m.result.pieces[i];
      int64_t trade = 0, pool = b.m.pools[p->pool].id;
      const char *what = NULL;
      rc = sl_db_trade(c, order_id, tenant, pool, p->start, o->m.duration_slots, p->gpus,
                       p->unit_price_minor, &trade, &what);
      if (rc != SL_DB_OK) break;
      if (sl_vocab_is(what, SL_TRADE_OUTCOME_OK)) continue;
      sl_db_rollback_to_savepoint(c, "sl_pieces");
      if (sl_vocab_is(what, SL_TRADE_OUTCOME_INSUFFICIENT_FUNDS)) {
        *outcome = SL_TRADING_NO_FUNDS;
        snprintf(reason, reason_len, "the available balance does not cover the total");
        sl_trading_book_free(&b);
        return SL_DB_OK;
      }
      if (sl_vocab_is(what, SL_TRADE_OUTCOME_BUDGET)) {
        snprintf(reason, reason_len, "the monthly budget cap would be exceeded");
        sl_trading_book_free(&b);
        return SL_DB_OK;
      }
      /* no_capacity / price_changed / not active: the book was stale for this pool */
      sl_log(SL_LOG_DEBUG, "stale placement refused",
             json_pack("{s:I,s:I,s:s}", "order_id", (json_int_t)order_id, "pool_id",
                       (json_int_t)pool, "outcome", what));
      refused[nrefused++] = pool;
      retry = true;
    }
    sl_trading_book_free(&b);
    if (rc != SL_DB_OK) return rc;
    if (!retry) return finish(c, order_id, o, got, got_ncu, outcome, reason, reason_len, filled);
    sl_trading_retries_add(1);
  }
  snprintf(reason, reason_len, "the capacity kept changing while matching; try again");
  return SL_DB_OK;
}
