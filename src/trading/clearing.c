/* clearing.c — periodic clearing: the call auction of each clearing region (contract in
 * include/suanli/trading/clearing.h; rules in src/trading/README.md, "Periodic clearing").
 *
 * One round of one region, in one transaction:
 *   1. claim the region (advisory lock, never waiting, and the lease row: due or skip);
 *   2. lock its resting call orders, oldest first (FOR UPDATE SKIP LOCKED);
 *   3. match each against the capacity book (the continuous path's bounded match: its best
 *      pools and earliest starts, budgets applied) and list its options — each candidate pool
 *      at its first feasible starts;
 *   4. solve the assignment exactly (src/market/clearing.c) over the book's free GPUs;
 *   5. buy each assigned order with sl_trade under a savepoint: a placement the database
 *      refuses (the book was stale, funds or budget ran out) rolls back to the savepoint and
 *      the order rests for the next round; every other order rests with one more round waited.
 */
#include "suanli/trading/clearing.h"
#include "suanli/core/clock.h"
#include "suanli/core/log.h"
#include "suanli/core/timeutil.h"
#include "suanli/core/vocab.h"
#include "suanli/db/clearing.h"
#include "suanli/db/market.h"
#include "suanli/market/clearing.h"
#include "suanli/trading/trading.h"
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H SL_SLOT_SECONDS

static _Atomic unsigned long st_rounds, st_orders, st_placed, st_refused, st_greedy;

void sl_trading_clearing_stats_get(sl_trading_clearing_stats *out) {
  out->rounds = st_rounds;
  out->orders = st_orders;
  out->placed = st_placed;
  out->refused = st_refused;
  out->greedy = st_greedy;
}

sl_trading_clearing_cfg sl_trading_clearing_defaults(void) {
  return (sl_trading_clearing_cfg){.interval_s = 60,
                                   .time_limit_ms = 2000,
                                   .max_orders = 200,
                                   .pools_per_order = 8,
                                   .starts_per_pool = 12,
                                   .patience_rounds = 5,
                                   .chunk_orders = 64};
}

/* One call order of the round. */
typedef struct {
  int64_t id, tenant, rounds;
  size_t reg; /* index of its clearing region among the step's claimed regions */
  sl_market_order_req req;
  bool parsed, matched;
  sl_trading_book b;
} corder;

/* The round's problem, built from the matches and the book. */
typedef struct {
  int64_t grid_start;
  size_t nslots;
  int64_t *pool_ids; /* global pool index -> id */
  int64_t *prices;   /* per global pool: the ask the options were priced at */
  int32_t *freebuf;  /* npools * nslots */
  const int32_t **free;
  size_t npools, cap_pools;
  sl_clearing_option *opts;
  size_t nopts, cap_opts;
  sl_clearing_order *orders;
} cproblem;

static void cproblem_free(cproblem *p) {
  free(p->pool_ids);
  free(p->prices);
  free(p->freebuf);
  free(p->free);
  free(p->opts);
  free(p->orders);
  memset(p, 0, sizeof *p);
}

/* The global index of pool id (added when new); SIZE_MAX on allocation failure. */
static size_t pool_index(cproblem *p, int64_t id, int64_t price) {
  for (size_t i = 0; i < p->npools; i++)
    if (p->pool_ids[i] == id) return i;
  if (p->npools == p->cap_pools) {
    size_t cap = p->cap_pools ? p->cap_pools * 2 : 16;
    int64_t *ids = realloc(p->pool_ids, cap * sizeof *ids);
    if (!ids) return SIZE_MAX;
    p->pool_ids = ids;
    int64_t *pr = realloc(p->prices, cap * sizeof *pr);
    if (!pr) return SIZE_MAX;
    p->prices = pr;
    p->cap_pools = cap;
  }
  p->pool_ids[p->npools] = id;
  p->prices[p->npools] = price;
  return p->npools++;
}

static bool add_opt(cproblem *p, sl_clearing_option o) {
  if (p->nopts == p->cap_opts) {
    size_t cap = p->cap_opts ? p->cap_opts * 2 : 64;
    sl_clearing_option *n = realloc(p->opts, cap * sizeof *n);
    if (!n) return false;
    p->opts = n;
    p->cap_opts = cap;
  }
  p->opts[p->nopts++] = o;
  return true;
}

/* Free GPUs of every pool of the problem per slot of the grid, from the book: a slot outside
 * the pool's availability, or a pool the book no longer has, counts 0. */
static bool fill_free(cproblem *p) {
  p->freebuf = calloc(p->npools * p->nslots + 1, sizeof *p->freebuf);
  p->free = calloc(p->npools + 1, sizeof *p->free);
  if (!p->freebuf || !p->free) return false;
  sl_trading_book_read_lock();
  const sl_market_book *bk = sl_trading_book_get();
  for (size_t i = 0; i < p->npools; i++) {
    int32_t *f = &p->freebuf[i * p->nslots];
    p->free[i] = f;
    sl_market_book_pool bp;
    if (!bk || !sl_market_book_get(bk, p->pool_ids[i], &bp) || !bp.active || bp.down) continue;
    for (size_t t = 0; t < p->nslots; t++) {
      int64_t s = p->grid_start + (int64_t)t * H;
      if (s < bp.avail_from || s + H > bp.avail_until) continue;
      int32_t booked = sl_market_book_booked_at(bk, bp.id, s);
      f[t] = booked < 0 || booked >= bp.gpu_count ? 0 : bp.gpu_count - booked;
    }
  }
  sl_trading_book_read_unlock();
  return true;
}

/* An RTT the book does not know, as the solver's latency key: after every known RTT, as the
 * matcher ranks it (1000 s). */
#define UNKNOWN_RTT_US INT64_C(1000000000)
/* The most extra money one option carries into phase 3 (keeps the solver's sums exact). */
#define EXTRA_CAP_MINOR (INT64_C(1) << 36)

/* Order o's own objective as the solver's phase keys for pool mp with gpus GPUs (src/market/
 * README.md, "Periodic clearing"): *latency_us the lowest_latency order's RTT band (floor of
 * rtt / latency_tol_us, in microseconds), UNKNOWN_RTT_US for an unknown RTT when the order
 * ranks by latency (lowest_latency, tradeoff), else 0; *extra_minor a tradeoff order's
 * money_per_ms x RTT x GPU-hours (rounded, at most EXTRA_CAP_MINOR), else 0. */
static void objective_keys(const sl_market_order *o, const sl_market_pool *mp, int32_t gpus,
                           int64_t *latency_us, int64_t *extra_minor) {
  *latency_us = *extra_minor = 0;
  bool unknown = o->has_origin && mp->rtt_us < 0;
  if (o->objective == SL_OBJ_LOWEST_LATENCY) {
    if (unknown) *latency_us = UNKNOWN_RTT_US;
    else if (o->has_origin)
      *latency_us =
          o->latency_tol_us > 0 ? mp->rtt_us / o->latency_tol_us * o->latency_tol_us : mp->rtt_us;
  } else if (o->objective == SL_OBJ_TRADEOFF) {
    if (unknown) *latency_us = UNKNOWN_RTT_US;
    else if (o->has_origin) {
      __int128 e =
          ((__int128)mp->rtt_us * o->money_per_ms_minor * gpus * o->duration_slots + 500) / 1000;
      *extra_minor = e > EXTRA_CAP_MINOR ? EXTRA_CAP_MINOR : (int64_t)e;
    }
  }
}

/* Options of order k: each of its best pools at its first starts that fit the grid's free
 * GPUs, inside the order's window, with its objective's keys. */
static bool order_options(cproblem *p, const corder *o, size_t k,
                          const sl_trading_clearing_cfg *cfg) {
  const sl_market_result *res = &o->b.m.result;
  int32_t d = o->b.order.duration_slots;
  for (size_t r = 0; r < res->nranked && r < cfg->pools_per_order; r++) {
    const sl_market_piece *pc = &res->ranked[r];
    const sl_market_pool *mp = &o->b.m.pools[pc->pool];
    size_t gi = pool_index(p, mp->id, pc->unit_price_minor);
    if (gi == SIZE_MAX) return false;
    size_t found = 0;
    for (int64_t s = pc->start; s <= o->b.order.latest_start && found < cfg->starts_per_pool;
         s += H) {
      if (s < p->grid_start) continue;
      size_t t0 = (size_t)((s - p->grid_start) / H);
      if (t0 + (size_t)d > p->nslots) break;
      bool fits = true;
      for (size_t t = t0; fits && t < t0 + (size_t)d; t++) fits = p->free[gi][t] >= pc->gpus;
      if (!fits) continue;
      int64_t cost, lat, extra;
      if (__builtin_mul_overflow((int64_t)pc->gpus * d, pc->unit_price_minor, &cost)) break;
      objective_keys(&o->b.order, mp, pc->gpus, &lat, &extra);
      if (!add_opt(p, (sl_clearing_option){.order = k,
                                           .pool = gi,
                                           .start = t0,
                                           .gpus = pc->gpus,
                                           .cost_minor = cost,
                                           .latency_us = lat,
                                           .extra_minor = extra}))
        return false;
      found++;
    }
  }
  return true;
}

/* One claimed clearing region of a step: its name, round and counts. */
typedef struct {
  const char *name;
  int64_t round;
  size_t norders, placed, refused;
} cregion;

typedef struct {
  const sl_trading_clearing_cfg *cfg;
  json_t *due;      /* the due regions (strings) */
  cregion *claimed; /* json_array_size(due) entries, nclaimed used */
  size_t nclaimed;
  sl_clearing_method method;
} round_arg;

/* Buy order o's option (pool, start) under a savepoint; *bought false when the database
 * refused the placement (then nothing of it is written and *why names the outcome). */
static sl_dbrc buy(sl_dbc *c, const corder *o, int64_t pool, int64_t start, int32_t gpus,
                   int64_t price, bool *bought, const char **why) {
  *bought = false;
  sl_dbrc rc = sl_db_savepoint(c, "sl_call");
  if (rc != SL_DB_OK) return rc;
  int64_t trade = 0;
  rc = sl_db_trade(c, o->id, o->tenant, pool, start, o->b.order.duration_slots, gpus, price, &trade,
                   why);
  if (rc != SL_DB_OK) return rc;
  if (sl_vocab_is(*why, SL_TRADE_OUTCOME_OK)) {
    *bought = true;
    return SL_DB_OK;
  }
  sl_db_rollback_to_savepoint(c, "sl_call");
  return SL_DB_OK;
}

/* One step's rounds, in one transaction: claim every due region this process can, lock each
 * one's batch, and clear all the batches as one problem. */
static sl_dbrc round_body(sl_dbc *c, void *arg) {
  round_arg *a = arg;
  a->nclaimed = 0;
  json_t *batch = json_array();
  corder *ords = NULL;
  cproblem p = {0};
  sl_clearing_result res = {0};
  size_t n = 0;
  sl_dbrc rc = SL_DB_HARD;
  if (!batch) return rc;
  size_t di;
  json_t *dr;
  json_array_foreach(a->due, di, dr) {
    cregion *g = &a->claimed[a->nclaimed];
    *g = (cregion){.name = json_string_value(dr)};
    if (!g->name) continue;
    rc = sl_db_clearing_claim(c, g->name, a->cfg->interval_s, &g->round);
    if (rc == SL_DB_NOROWS) continue; /* another process holds it, or not due */
    if (rc != SL_DB_OK) goto cleanup;
    json_t *rows = NULL;
    rc = sl_db_clearing_batch(c, g->name, a->cfg->max_orders, &rows);
    if (rc != SL_DB_OK) goto cleanup;
    size_t k;
    json_t *row;
    json_array_foreach(rows, k, row) {
      g->norders++;
      if (json_object_set_new(row, "region", json_integer((json_int_t)a->nclaimed)) ||
          json_array_append(batch, row)) {
        json_decref(rows);
        rc = SL_DB_HARD;
        goto cleanup;
      }
    }
    json_decref(rows);
    a->nclaimed++;
  }
  rc = SL_DB_OK;
  if (!a->nclaimed) goto cleanup;
  n = json_array_size(batch);
  ords = calloc(n + 1, sizeof *ords);
  p.orders = calloc(n + 1, sizeof *p.orders);
  rc = SL_DB_HARD;
  if (!ords || !p.orders) goto cleanup;
  int64_t now = sl_clock_now(), gs = INT64_MAX, ge = INT64_MIN;
  for (size_t k = 0; k < n; k++) {
    json_t *row = json_array_get(batch, k);
    corder *o = &ords[k];
    o->id = json_integer_value(json_object_get(row, "id"));
    o->tenant = json_integer_value(json_object_get(row, "tenant_id"));
    o->rounds = json_integer_value(json_object_get(row, "rounds"));
    o->reg = (size_t)json_integer_value(json_object_get(row, "region"));
    sl_jerr je;
    if (!(o->parsed = sl_market_order_parse(json_object_get(row, "request"), 0, &o->req, &je))) {
      rc = sl_db_order_set_state(c, o->id, sl_vocab_name(SL_ORDER_STATE_KILLED),
                                 "the stored order no longer parses");
      if (rc != SL_DB_OK) goto cleanup;
      continue;
    }
    if (sl_market_order_next_slot(now) > o->req.m.latest_start) continue; /* expiry's work */
    rc = sl_trading_match(c, &o->req, o->tenant, now, a->cfg->pools_per_order, NULL, 0, &o->b);
    if (rc != SL_DB_OK) goto cleanup;
    o->matched = true;
    int64_t end = o->b.window_start + (int64_t)o->b.nslots * H;
    if (o->b.window_start < gs) gs = o->b.window_start;
    if (end > ge) ge = end;
  }
  rc = SL_DB_HARD;
  if (gs < ge) {
    p.grid_start = gs;
    p.nslots = (size_t)((ge - gs) / H);
    for (size_t k = 0; k < n; k++) /* the pools first, so that the free arrays exist */
      if (ords[k].matched)
        for (size_t r = 0; r < ords[k].b.m.result.nranked && r < a->cfg->pools_per_order; r++) {
          const sl_market_piece *pc = &ords[k].b.m.result.ranked[r];
          if (pool_index(&p, ords[k].b.m.pools[pc->pool].id, pc->unit_price_minor) == SIZE_MAX)
            goto cleanup;
        }
    if (!fill_free(&p)) goto cleanup;
    for (size_t k = 0; k < n; k++)
      if (ords[k].matched && !order_options(&p, &ords[k], k, a->cfg)) goto cleanup;
  }
  /* priorities: 1 + rounds waited; the oldest order past its patience is forced in */
  size_t forced = SIZE_MAX;
  for (size_t k = 0; k < n; k++) {
    p.orders[k] =
        (sl_clearing_order){.id = ords[k].id,
                            .duration_slots = ords[k].parsed ? ords[k].req.m.duration_slots : 1,
                            .weight = 1 + (ords[k].rounds < 999 ? ords[k].rounds : 999)};
    bool has_opt = false;
    for (size_t j = 0; j < p.nopts && !has_opt; j++) has_opt = p.opts[j].order == k;
    if (has_opt && ords[k].rounds >= a->cfg->patience_rounds &&
        (forced == SIZE_MAX || ords[k].rounds > ords[forced].rounds ||
         (ords[k].rounds == ords[forced].rounds && ords[k].id < ords[forced].id)))
      forced = k;
  }
  sl_clearing_problem prob = {.orders = p.orders,
                              .norders = n,
                              .free = p.free,
                              .npools = p.npools,
                              .nslots = p.nslots,
                              .options = p.opts,
                              .noptions = p.nopts,
                              .forced = forced,
                              .time_limit_ms = a->cfg->time_limit_ms,
                              .chunk_orders = a->cfg->chunk_orders};
  if (!sl_clearing_solve(&prob, &res)) goto cleanup;
  a->method = res.method;
  /* book the assignment, oldest order first; the rest wait for the next round */
  for (size_t k = 0; k < n; k++) {
    corder *o = &ords[k];
    if (!o->parsed || !o->matched) continue;
    cregion *g = &a->claimed[o->reg];
    char reason[448];
    size_t j = res.chosen[k];
    if (j != SIZE_MAX) {
      const sl_clearing_option *op = &p.opts[j];
      int64_t pool = p.pool_ids[op->pool], start = p.grid_start + (int64_t)op->start * H;
      bool bought;
      const char *why = "";
      rc = buy(c, o, pool, start, op->gpus, p.prices[op->pool], &bought, &why);
      if (rc != SL_DB_OK) goto cleanup;
      if (bought) {
        int64_t ncu = 0; /* an order for ncu: the NCU bought (schema/029) */
        for (size_t i = 0; o->req.m.ncu_milli_wanted > 0 && i < o->b.m.npools; i++)
          if (o->b.m.pools[i].id == pool && o->b.m.pools[i].ncu_milli > 0)
            ncu = (int64_t)op->gpus * o->b.m.pools[i].ncu_milli;
        rc = sl_db_order_add_filled(c, o->id, op->gpus, ncu); /* gpus_filled (schema/025) */
        if (rc != SL_DB_OK) goto cleanup;
        snprintf(reason, sizeof reason, "filled by call auction round %lld of region %s",
                 (long long)g->round, g->name);
        rc = sl_db_order_set_state(c, o->id, sl_vocab_name(SL_ORDER_STATE_FILLED), reason);
        if (rc != SL_DB_OK) goto cleanup;
        g->placed++;
        continue;
      }
      g->refused++;
      snprintf(reason, sizeof reason,
               "call auction round %lld of region %s: the placement on pool %lld was refused "
               "(%s); rests for the next round",
               (long long)g->round, g->name, (long long)pool, why);
    } else {
      bool any = false;
      for (size_t q = 0; q < p.nopts && !any; q++) any = p.opts[q].order == k;
      char why[256] = "no placement fits now";
      if (any)
        snprintf(why, sizeof why,
                 "its placements went to orders of higher priority or larger size");
      else if (!o->b.m.result.filled) sl_trading_summary(&o->b, why, sizeof why); /* nearest miss */
      snprintf(reason, sizeof reason,
               "call auction round %lld of region %s: %s; rests for the next round",
               (long long)g->round, g->name, why);
    }
    rc = sl_db_clearing_rest(c, o->id, reason);
    if (rc != SL_DB_OK) goto cleanup;
  }
  for (size_t g = 0; g < a->nclaimed; g++) {
    const cregion *cr = &a->claimed[g];
    rc = sl_db_clearing_done(c, cr->name, (int64_t)cr->norders, (int64_t)cr->placed);
    if (rc != SL_DB_OK) goto cleanup;
  }
cleanup:
  for (size_t k = 0; ords && k < n; k++) {
    if (ords[k].matched) sl_trading_book_free(&ords[k].b);
    if (ords[k].parsed) sl_market_order_req_free(&ords[k].req);
  }
  free(ords);
  sl_clearing_result_free(&res);
  cproblem_free(&p);
  json_decref(batch);
  return rc;
}

int sl_trading_clearing_step(sl_dbc *c, const sl_trading_clearing_cfg *cfg) {
  json_t *regions = NULL;
  if (sl_db_clearing_due(c, cfg->interval_s, &regions) != SL_DB_OK) return 0;
  round_arg a = {.cfg = cfg, .due = regions};
  size_t nd = json_array_size(regions);
  if (!nd || !(a.claimed = calloc(nd, sizeof *a.claimed))) {
    json_decref(regions);
    return 0;
  }
  sl_dbrc rc = sl_db_txn_run(c, round_body, &a, 3);
  if (rc != SL_DB_OK) {
    sl_log(SL_LOG_WARN, "call auction round failed",
           json_pack("{s:i,s:s}", "regions", (int)nd, "rc", sl_dbrc_name(rc)));
    a.nclaimed = 0;
  }
  for (size_t g = 0; g < a.nclaimed; g++) {
    const cregion *cr = &a.claimed[g];
    st_rounds++;
    st_orders += cr->norders;
    st_placed += cr->placed;
    st_refused += cr->refused;
    if (a.method == SL_CLEARING_GREEDY) st_greedy++;
    sl_log(SL_LOG_INFO, "call auction",
           json_pack("{s:s,s:I,s:I,s:I,s:I,s:s,s:I}", "region", cr->name, "round",
                     (json_int_t)cr->round, "orders", (json_int_t)cr->norders, "placed",
                     (json_int_t)cr->placed, "refused", (json_int_t)cr->refused, "method",
                     sl_clearing_method_name(a.method), "regions", (json_int_t)a.nclaimed));
  }
  int ran = (int)a.nclaimed;
  free(a.claimed);
  json_decref(regions);
  return ran;
}
