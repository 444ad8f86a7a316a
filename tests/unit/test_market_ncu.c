/* test_market_ncu.c — split orders for an amount of NCU (issue 15, src/market/matcher.c,
 * src/market/README.md "Split NCU orders"): pieces on pools of different models, each piece's
 * NCU = its GPUs x the model's NCU per GPU, filled when the pieces together deliver at least the
 * NCU asked.  Hand-made cases (two models, the exact last piece of CHEAPEST, cheapest_per_ncu,
 * the max_pieces repair counting NCU, price limits per NCU-hour, budgets in money, no fill,
 * independent starts, unrated models) and a randomized property test (fixed seed) against a
 * brute force over every fill of small instances: every fill is feasible and delivers the NCU
 * with less excess than one GPU of its largest model; a fill exists iff the matcher fills (no
 * budget); CHEAPEST costs at most the optimum plus one GPU-hour of the dearest pool when the
 * piece limit does not bind, and never more than the plain greedy fill. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "market_fixture.h"
#include "suanli/market/market.h"

#define H    INT64_C(3600)
#define T0   INT64_C(1767225600) /* 2026-01-01T00:00:00Z */
#define NS   8                   /* slots in the snapshot window */
#define MAXP 5

typedef struct {
  sl_market_pool p[MAXP];
  int32_t fr[MAXP][NS];
  size_t n;
} book;

/* A healthy pool of `ncu` thousandths per GPU with nfree GPUs free in every slot. */
static sl_market_pool *add_pool(book *b, int64_t id, int64_t price, int32_t nfree, int64_t ncu) {
  assert_true(b->n < MAXP);
  size_t i = b->n++;
  for (size_t s = 0; s < NS; s++) b->fr[i][s] = nfree;
  sl_market_pool *p = &b->p[i];
  *p = fx_pool(id, price, b->fr[i], T0, T0 + NS * H);
  p->accelerator = ncu == 1000 ? "H100-SXM" : "other";
  p->ncu_milli = ncu;
  return p;
}

/* A split order for `ncu` thousandths of an NCU for `dur` hours starting at T0. */
static sl_market_order mk_order(int64_t ncu, int32_t dur) {
  sl_market_order o = fx_order((int32_t)((ncu + 999) / 1000), dur, T0, T0);
  o.ncu_milli_wanted = ncu;
  o.split = true;
  o.max_pieces = 16;
  return o;
}

static void match(const book *b, const sl_market_order *o, sl_market_result *r) {
  assert_true(sl_market_match(o, b->p, b->n, T0, NS, r));
}

/* The pieces as (pool index, GPUs) pairs, in the result's order. */
static void expect_pieces(const sl_market_result *r, size_t n, const size_t *pool,
                          const int32_t *gpus) {
  assert_true(r->filled);
  assert_int_equal(r->npieces, n);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(r->pieces[i].pool, pool[i]);
    assert_int_equal(r->pieces[i].gpus, gpus[i]);
  }
}

static int64_t hourly(const book *b, const sl_market_result *r) {
  int64_t h = 0;
  for (size_t i = 0; i < r->npieces; i++)
    h += r->pieces[i].gpus * b->p[r->pieces[i].pool].price_minor;
  return h;
}

/* 24 NCU over two models: 20 GPUs of 0.6 NCU at 1.00 (1.67 per NCU-hour) deliver 12, then 12
 * H100s at 2.00 the rest; an unrated pool fails SPEC; the NCU per piece and in total. */
static void test_two_models(void **state) {
  (void)state;
  book b = {.n = 0};
  add_pool(&b, 1, 10, 64, -1); /* unrated: cannot deliver NCU */
  add_pool(&b, 2, 200, 16, 1000);
  add_pool(&b, 3, 100, 20, 600);
  sl_market_order o = mk_order(24000, 3);
  sl_market_result r;
  match(&b, &o, &r);
  expect_pieces(&r, 2, (size_t[]){2, 1}, (int32_t[]){20, 12});
  assert_int_equal(r.ncu_milli_filled, 24000);
  assert_int_equal(r.gpus_filled, 32);
  assert_int_equal(hourly(&b, &r), 20 * 100 + 12 * 200);
  assert_int_equal(r.pieces[1].total_minor, 12 * 3 * 200);
  assert_int_equal(r.verdicts[0].why, SL_WHY_SPEC);
  assert_string_equal(r.verdicts[0].detail, "unrated model cannot deliver NCU");
  assert_string_equal(r.verdicts[2].detail, "20 GPUs (12.000 NCU), piece 1 of 2");
  assert_string_equal(r.verdicts[1].detail, "12 GPUs (12.000 NCU), piece 2 of 2");
  sl_market_result_free(&r);
  /* a piece limit of one: no single pool holds 24 NCU */
  o.max_pieces = 1;
  match(&b, &o, &r);
  assert_false(r.filled);
  assert_int_equal(r.gpus_filled, 0);
  assert_int_equal(r.ncu_milli_filled, 16000);
  assert_int_equal(r.verdicts[1].why, SL_WHY_CAPACITY);
  assert_int_equal(r.verdicts[1].gap, -1);
  assert_string_equal(r.verdicts[1].detail,
                      "no start in window gathers 24.000 NCU (best: 16.000 in at most 1 pools)");
  sl_market_result_free(&r);
}

/* CHEAPEST: 1.1 NCU from an H100 at 1.00 (1.00 per NCU-hour) and a 0.2-NCU model at 0.22
 * (1.10 per NCU-hour).  The greedy by price per NCU would buy 2 H100s (2.00 an hour); the exact
 * last piece gives one H100 and one small GPU (1.22).  cheapest_per_ncu buys the cheapest NCU
 * first, whole GPUs, so 2 H100s. */
static void test_exact_last_piece(void **state) {
  (void)state;
  book b = {.n = 0};
  add_pool(&b, 1, 100, 8, 1000);
  add_pool(&b, 2, 22, 8, 200);
  sl_market_order o = mk_order(1100, 2);
  sl_market_result r;
  match(&b, &o, &r);
  expect_pieces(&r, 2, (size_t[]){0, 1}, (int32_t[]){1, 1});
  assert_int_equal(r.ncu_milli_filled, 1200);
  assert_int_equal(hourly(&b, &r), 122);
  sl_market_result_free(&r);
  o.objective = SL_OBJ_CHEAPEST_PER_NCU;
  match(&b, &o, &r);
  expect_pieces(&r, 1, (size_t[]){0}, (int32_t[]){2});
  assert_int_equal(r.ncu_milli_filled, 2000);
  sl_market_result_free(&r);
  /* CHEAPEST with one piece: the cheapest single pool, 6 small GPUs (1.32) over 2 H100s */
  o.objective = SL_OBJ_CHEAPEST;
  o.max_pieces = 1;
  match(&b, &o, &r);
  expect_pieces(&r, 1, (size_t[]){1}, (int32_t[]){6});
  sl_market_result_free(&r);
}

/* The max_pieces repair counts NCU: 10 NCU in at most 2 pools from 4 NCU at 1.00, 4 NCU at 1.50
 * and 6 NCU at 2.00 per NCU-hour (different models): the greedy takes 4 + 4 and stops; the
 * repair gives 4 + 6. */
static void test_piece_limit_repair(void **state) {
  (void)state;
  book b = {.n = 0};
  add_pool(&b, 1, 50, 8, 500);   /* 4 NCU, 1.00 per NCU-hour */
  add_pool(&b, 2, 300, 2, 2000); /* 4 NCU, 1.50 */
  add_pool(&b, 3, 50, 24, 250);  /* 6 NCU, 2.00 */
  sl_market_order o = mk_order(10000, 1);
  o.max_pieces = 2;
  for (int obj = 0; obj < 2; obj++) {
    o.objective = obj ? SL_OBJ_CHEAPEST_PER_NCU : SL_OBJ_CHEAPEST;
    sl_market_result r;
    match(&b, &o, &r);
    expect_pieces(&r, 2, (size_t[]){0, 2}, (int32_t[]){8, 24});
    assert_int_equal(r.ncu_milli_filled, 10000);
    sl_market_result_free(&r);
  }
}

/* Price limits per GPU-hour and per NCU-hour leave pools out; budgets count money. */
static void test_limits_and_budget(void **state) {
  (void)state;
  book b = {.n = 0};
  add_pool(&b, 1, 150, 4, 500);  /* 3.00 per NCU-hour */
  add_pool(&b, 2, 200, 4, 1000); /* 2.00 */
  add_pool(&b, 3, 240, 8, 1000); /* 2.40 */
  sl_market_order o = mk_order(6000, 2);
  o.max_ncu_price_minor = 250;
  sl_market_result r;
  match(&b, &o, &r);
  expect_pieces(&r, 2, (size_t[]){1, 2}, (int32_t[]){4, 2});
  assert_int_equal(r.verdicts[0].why, SL_WHY_PRICE);
  sl_market_result_free(&r);
  o.max_price_minor = 220; /* the 2.40 pool too: 4 NCU left, not 6 */
  match(&b, &o, &r);
  assert_false(r.filled);
  assert_int_equal(r.ncu_milli_filled, 4000);
  sl_market_result_free(&r);
  o.max_price_minor = -1;
  o.budget_hourly_minor = 1279; /* the fill costs 8.00 + 4.80 = 12.80 an hour */
  match(&b, &o, &r);
  assert_false(r.filled);
  assert_int_equal(r.verdicts[1].why, SL_WHY_BUDGET);
  assert_int_equal(r.verdicts[1].gap, 1);
  sl_market_result_free(&r);
  o.budget_hourly_minor = 1280;
  o.budget_total_minor = 2 * 1280;
  match(&b, &o, &r);
  assert_true(r.filled);
  sl_market_result_free(&r);
}

/* Independent starts: each piece at the earliest start giving its GPUs. */
static void test_independent_starts(void **state) {
  (void)state;
  book b = {.n = 0};
  add_pool(&b, 1, 100, 0, 1000);
  add_pool(&b, 2, 30, 0, 250);
  for (size_t s = 2; s < NS; s++) b.fr[0][s] = 4; /* 4 H100s from slot 2 */
  for (size_t s = 0; s < 3; s++) b.fr[1][s] = 8;  /* 8 small GPUs in slots 0..2 */
  sl_market_order o = mk_order(6000, 2);
  o.latest_start = T0 + 4 * H;
  sl_market_result r;
  match(&b, &o, &r);
  assert_false(r.filled); /* no one start has both */
  sl_market_result_free(&r);
  o.independent_starts = true;
  match(&b, &o, &r);
  expect_pieces(&r, 2, (size_t[]){0, 1}, (int32_t[]){4, 8});
  assert_int_equal(r.pieces[0].start, T0 + 2 * H);
  assert_int_equal(r.pieces[1].start, T0);
  assert_int_equal(r.ncu_milli_filled, 6000);
  sl_market_result_free(&r);
}

/* Partial fills (min_ncu_milli_filled): split, the max_pieces largest offers in NCU when no
 * full fill exists; gang, the pool giving the most NCU (at least the minimum). */
static void test_partial(void **state) {
  (void)state;
  book b = {.n = 0};
  add_pool(&b, 1, 200, 6, 1000); /* 6 NCU */
  add_pool(&b, 2, 100, 10, 500); /* 5 NCU */
  add_pool(&b, 3, 10, 8, 250);   /* 2 NCU */
  sl_market_order o = mk_order(16000, 2);
  o.max_pieces = 2;
  sl_market_result r;
  match(&b, &o, &r);
  assert_false(r.filled);
  assert_int_equal(r.ncu_milli_filled, 11000);
  sl_market_result_free(&r);
  o.min_ncu_milli_filled = 11001;
  match(&b, &o, &r);
  assert_false(r.filled);
  sl_market_result_free(&r);
  o.min_ncu_milli_filled = 11000; /* the two largest offers, whole, in key order */
  match(&b, &o, &r);
  expect_pieces(&r, 2, (size_t[]){1, 0}, (int32_t[]){10, 6});
  assert_int_equal(r.ncu_milli_filled, 11000);
  assert_int_equal(r.gpus_filled, 16);
  sl_market_result_free(&r);
  o.max_pieces = 3; /* 13 NCU in three pieces: still a part */
  match(&b, &o, &r);
  assert_int_equal(r.npieces, 3);
  assert_int_equal(r.ncu_milli_filled, 13000);
  sl_market_result_free(&r);
  /* gang: the most NCU one pool gives, at least 5 NCU: the H100 pool's 6 */
  o.split = false;
  o.max_pieces = 1;
  o.min_ncu_milli_filled = 5000;
  match(&b, &o, &r);
  expect_pieces(&r, 1, (size_t[]){0}, (int32_t[]){6});
  assert_int_equal(r.ncu_milli_filled, 6000);
  assert_int_equal(r.verdicts[2].why, SL_WHY_CAPACITY); /* 2 NCU < 5 */
  sl_market_result_free(&r);
  /* a whole fill beats any part */
  o.ncu_milli_wanted = 5000;
  o.min_ncu_milli_filled = 1000;
  match(&b, &o, &r);
  expect_pieces(&r, 1, (size_t[]){0}, (int32_t[]){5}); /* 10.00 an hour either way: lower id */
  assert_int_equal(r.ncu_milli_filled, 5000);
  sl_market_result_free(&r);
  o.min_ncu_milli_filled = 5001; /* more than asked: invalid */
  assert_false(sl_market_match(&o, b.p, b.n, T0, NS, &r));
}

/* ---------------------------------------------------------------------------------------- */
/* Property test against a brute force                                                       */

static uint64_t seed = 0x1515u;
static uint32_t rnd(uint32_t n) {
  seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  return (uint32_t)(seed >> 33) % n;
}

/* The most GPUs pool p keeps free over [T0 + t h, + dur h) (0 outside its availability). */
static int32_t wmin(const sl_market_pool *p, size_t t, size_t dur) {
  int64_t s = T0 + (int64_t)t * H;
  if (s < p->avail_from || s + (int64_t)dur * H > p->avail_until || t + dur > NS) return 0;
  int32_t m = INT32_MAX;
  for (size_t i = t; i < t + dur; i++) m = p->free[i] < m ? p->free[i] : m;
  return m < 0 ? 0 : m;
}

typedef struct {
  bool any, in_budget; /* a fill exists (ignoring budgets), one within them */
  int64_t opt;         /* least hourly cost of a fill, ignoring budgets (-1 none) */
  int64_t most;        /* the most NCU any vector of at most max_pieces pools gives */
} brute;

/* Every vector of GPUs per pool (caps[i] each, at most k non-zero) over the ok pools. */
static void enumerate(const book *b, const sl_market_order *o, const int32_t *caps, const bool *ok,
                      size_t i, int32_t *g, brute *out) {
  if (i == b->n) {
    int64_t got = 0, h = 0;
    int used = 0;
    for (size_t j = 0; j < b->n; j++) {
      got += (int64_t)g[j] * (ok[j] ? b->p[j].ncu_milli : 0);
      h += (int64_t)g[j] * b->p[j].price_minor;
      used += g[j] > 0;
    }
    if (used > o->max_pieces) return;
    if (got > out->most) out->most = got;
    if (got < o->ncu_milli_wanted) return;
    out->any = true;
    if (out->opt < 0 || h < out->opt) out->opt = h;
    if ((o->budget_hourly_minor < 0 || h <= o->budget_hourly_minor) &&
        (o->budget_total_minor < 0 || h * o->duration_slots <= o->budget_total_minor))
      out->in_budget = true;
    return;
  }
  int32_t top = ok[i] ? caps[i] : 0;
  for (int32_t x = 0; x <= top; x++) {
    g[i] = x;
    enumerate(b, o, caps, ok, i + 1, g, out);
  }
  g[i] = 0;
}

/* The plain greedy fill at one start's caps: pools by price per NCU-hour (then price, id), each
 * giving all it has or the fewest GPUs covering the rest, at most max_pieces; -1 when short. */
static int64_t greedy_cost(const book *b, const sl_market_order *o, const int32_t *caps,
                           const bool *ok) {
  size_t ord[MAXP], n = 0;
  for (size_t i = 0; i < b->n; i++)
    if (ok[i] && caps[i] > 0) ord[n++] = i;
  for (size_t x = 1; x < n; x++)
    for (size_t y = x; y > 0; y--) {
      const sl_market_pool *p = &b->p[ord[y - 1]], *q = &b->p[ord[y]];
      __int128 l = (__int128)p->price_minor * q->ncu_milli,
               r = (__int128)q->price_minor * p->ncu_milli;
      bool swap = l > r || (l == r && (p->price_minor > q->price_minor ||
                                       (p->price_minor == q->price_minor && p->id > q->id)));
      if (!swap) break;
      size_t t = ord[y];
      ord[y] = ord[y - 1];
      ord[y - 1] = t;
    }
  int64_t need = o->ncu_milli_wanted, h = 0;
  for (size_t x = 0; x < n && x < (size_t)o->max_pieces && need > 0; x++) {
    const sl_market_pool *p = &b->p[ord[x]];
    int64_t g = (need + p->ncu_milli - 1) / p->ncu_milli;
    if (g > caps[ord[x]]) g = caps[ord[x]];
    need -= g * p->ncu_milli;
    h += g * p->price_minor;
  }
  return need > 0 ? -1 : h;
}

static void test_ncu_brute_force(void **state) {
  (void)state;
  static const int64_t ratings[] = {-1, 250, 500, 700, 1000, 1500};
  int64_t worst = 0; /* CHEAPEST: the most over the optimum, in tenths of a percent */
  int nfilled = 0, npart = 0, ncheap = 0, nexact = 0, nbound = 0, nunfilled = 0, nmodels = 0,
      nindep = 0;
  for (int k = 0; k < 3000; k++) {
    book b = {.n = 0};
    size_t np = 1 + rnd(4);
    for (size_t i = 0; i < np; i++) {
      sl_market_pool *p = add_pool(&b, (int64_t)(1 + rnd(4)) * 10 + (int64_t)i, 10 + rnd(20) * 10,
                                   0, ratings[rnd(6)]);
      p->rtt_us = (int64_t)rnd(4) * 5000;
      int32_t cap = (int32_t)rnd(6);
      for (size_t s = 0; s < NS; s++) b.fr[i][s] = cap - (int32_t)rnd(3) * (rnd(3) == 0);
    }
    int32_t dur = (int32_t)(1 + rnd(3));
    sl_market_order o = mk_order(100 + rnd(9000), dur);
    o.latest_start = T0 + (int64_t)rnd(4) * H;
    o.max_pieces = (int32_t)(1 + rnd(4));
    o.independent_starts = rnd(3) == 0;
    o.objective = (sl_market_objective)(rnd(3) == 0 ? SL_OBJ_LOWEST_LATENCY
                                        : rnd(2)    ? SL_OBJ_CHEAPEST
                                                    : SL_OBJ_CHEAPEST_PER_NCU);
    o.has_origin = o.objective == SL_OBJ_LOWEST_LATENCY;
    if (rnd(5) == 0) o.max_ncu_price_minor = 50 + rnd(200);
    bool budget = rnd(4) == 0;
    if (budget) o.budget_hourly_minor = 100 + rnd(1500);
    /* a partial fill of at least min_ncu_milli_filled (a third of the orders) */
    if (rnd(3) == 0) o.min_ncu_milli_filled = 1 + rnd((uint32_t)o.ncu_milli_wanted);
    const int64_t lo = o.min_ncu_milli_filled ? o.min_ncu_milli_filled : o.ncu_milli_wanted;
    size_t nstarts = (size_t)((o.latest_start - o.earliest_start) / H) + 1;
    bool ok[MAXP];
    for (size_t i = 0; i < b.n; i++) {
      const sl_market_pool *p = &b.p[i];
      ok[i] = p->ncu_milli > 0 && (o.max_ncu_price_minor < 0 ||
                                   p->price_minor * 1000 <= o.max_ncu_price_minor * p->ncu_milli);
    }

    brute bf = {false, false, -1, 0};
    int64_t greedy = -1;
    int32_t caps[NS][MAXP], g[MAXP] = {0};
    for (size_t t = 0; t < nstarts; t++)
      for (size_t i = 0; i < b.n; i++) caps[t][i] = wmin(&b.p[i], t, (size_t)dur);
    if (o.independent_starts) {
      int32_t best[MAXP];
      for (size_t i = 0; i < b.n; i++) {
        best[i] = 0;
        for (size_t t = 0; t < nstarts; t++) best[i] = caps[t][i] > best[i] ? caps[t][i] : best[i];
      }
      enumerate(&b, &o, best, ok, 0, g, &bf);
      greedy = greedy_cost(&b, &o, best, ok);
    } else {
      for (size_t t = 0; t < nstarts; t++) {
        enumerate(&b, &o, caps[t], ok, 0, g, &bf);
        int64_t gc = greedy_cost(&b, &o, caps[t], ok);
        if (gc >= 0 && (greedy < 0 || gc < greedy)) greedy = gc;
      }
    }

    sl_market_result r;
    match(&b, &o, &r);
    /* whole when a whole fill exists; else the most NCU, when that is at least the minimum */
    bool part = !bf.any && bf.most >= lo;
    if (!budget) assert_int_equal(r.filled, bf.any || part);
    /* (under a budget, a part at another start may stand in for a whole fill over budget) */
    if (!bf.in_budget && !o.min_ncu_milli_filled) assert_false(r.filled);
    if (r.filled && !bf.any) {
      assert_int_equal(r.ncu_milli_filled, bf.most);
      npart++;
    }
    if (!r.filled) {
      nunfilled++;
      assert_int_equal(r.npieces, 0);
      sl_market_result_free(&r);
      continue;
    }
    nfilled++;
    /* feasible: distinct ok pools, at most max_pieces, capacity at each piece's start, one start
     * unless independent, the NCU delivered with less excess than one GPU of its largest model */
    assert_true(r.npieces >= 1 && r.npieces <= (size_t)o.max_pieces);
    int64_t got = 0, h = 0, umax = 0, gpus = 0;
    bool two_models = false;
    for (size_t e = 0; e < r.npieces; e++) {
      const sl_market_piece *pc = &r.pieces[e];
      assert_true(pc->pool < b.n && ok[pc->pool] && pc->gpus >= 1);
      for (size_t f = 0; f < e; f++) assert_true(r.pieces[f].pool != pc->pool);
      assert_true(pc->start >= o.earliest_start && pc->start <= o.latest_start);
      if (!o.independent_starts) assert_int_equal(pc->start, r.pieces[0].start);
      assert_true(pc->gpus <= wmin(&b.p[pc->pool], (size_t)((pc->start - T0) / H), (size_t)dur));
      const sl_market_pool *p = &b.p[pc->pool];
      got += pc->gpus * p->ncu_milli;
      h += pc->gpus * p->price_minor;
      gpus += pc->gpus;
      umax = p->ncu_milli > umax ? p->ncu_milli : umax;
      two_models |= p->ncu_milli != b.p[r.pieces[0].pool].ncu_milli;
    }
    nmodels += two_models;
    nindep += o.independent_starts;
    assert_int_equal(r.ncu_milli_filled, got);
    assert_int_equal(r.gpus_filled, gpus);
    if (bf.any && !budget)
      assert_true(got >= o.ncu_milli_wanted && got - o.ncu_milli_wanted < umax);
    assert_true(got >= lo);
    if (o.budget_hourly_minor >= 0) assert_true(h <= o.budget_hourly_minor);
    /* CHEAPEST: never dearer than the plain greedy, and within one GPU-hour of the dearest
     * pool of the optimum when the piece limit does not bind */
    if (o.objective == SL_OBJ_CHEAPEST && !budget && bf.any) {
      int64_t pmax = 0;
      size_t nok = 0;
      for (size_t i = 0; i < b.n; i++)
        if (ok[i]) {
          nok++;
          pmax = b.p[i].price_minor > pmax ? b.p[i].price_minor : pmax;
        }
      if (greedy >= 0) assert_true(h <= greedy);
      if ((size_t)o.max_pieces >= nok) {
        assert_true(h <= bf.opt + pmax);
        nbound++;
      }
      nexact += h == bf.opt;
      ncheap++;
      if (h > bf.opt && (h - bf.opt) * 1000 > worst * bf.opt) worst = (h - bf.opt) * 1000 / bf.opt;
    }
    sl_market_result_free(&r);
  }
  printf("# %d partial fills\n", npart);
  printf("# %d filled (%d over several models, %d independent), %d not filled; cheapest without "
         "budget: %d, %d at the exact optimum, %d checked against the bound, worst +%lld.%lld%%\n",
         nfilled, nmodels, nindep, nunfilled, ncheap, nexact, nbound, (long long)(worst / 10),
         (long long)(worst % 10));
  assert_true(nfilled > 500 && nunfilled > 300 && nmodels > 100 && nbound > 100 && npart > 50);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_two_models),         cmocka_unit_test(test_exact_last_piece),
      cmocka_unit_test(test_piece_limit_repair), cmocka_unit_test(test_limits_and_budget),
      cmocka_unit_test(test_independent_starts), cmocka_unit_test(test_partial),
      cmocka_unit_test(test_ncu_brute_force),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
