/* test_market_partial.c — partial fills of the pure matcher (issue 15, src/market/matcher.c):
 * gang and split orders with min_gpus, the quote's GPUs available for an unfilled gang order,
 * split orders with independent starts, argument validation, and a randomized property test (fixed
 * seed) against a brute force on small instances: every fill is feasible, and a fill of at least
 * min_gpus exists iff the matcher fills, with the most GPUs the market allows. */
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
#define NS   16                  /* slots in the snapshot window */
#define MAXP 6

typedef struct {
  sl_market_pool p[MAXP];
  int32_t fr[MAXP][NS];
  size_t n;
} book;

/* A healthy pool with nfree GPUs free in every slot, available over the whole window. */
static sl_market_pool *add_pool(book *b, int64_t id, int64_t price, int32_t nfree) {
  assert_true(b->n < MAXP);
  size_t i = b->n++;
  for (size_t s = 0; s < NS; s++) b->fr[i][s] = nfree;
  b->p[i] = fx_pool(id, price, b->fr[i], T0, T0 + NS * H);
  return &b->p[i];
}

static sl_market_order mk_order(int32_t gpus, int32_t min_gpus, int32_t dur) {
  sl_market_order o = fx_order(gpus, dur, T0, T0 + (NS - dur) * H);
  o.min_gpus = min_gpus;
  o.max_pieces = 16;
  return o;
}

static void match(const book *b, const sl_market_order *o, sl_market_result *r) {
  assert_true(sl_market_match(o, b->p, b->n, T0, NS, r));
}

/* Gang, fill-or-kill style: 8 asked, at least 4; no pool has 8, the biggest gives 6. */
static void test_gang_partial(void **state) {
  (void)state;
  book b = {0};
  add_pool(&b, 1, 100, 6);
  add_pool(&b, 2, 50, 3);
  add_pool(&b, 3, 80, 5);
  sl_market_order o = mk_order(8, 4, 2);
  sl_market_result r;
  match(&b, &o, &r);
  assert_true(r.filled);
  assert_int_equal(r.gpus_filled, 6);
  assert_int_equal(r.npieces, 1);
  assert_int_equal(r.pieces[0].pool, 0);
  assert_int_equal(r.pieces[0].gpus, 6);
  assert_int_equal(r.pieces[0].total_minor, 6 * 2 * 100);
  /* ranked: the most GPUs first, then the key */
  assert_int_equal(r.nranked, 2);
  assert_int_equal(r.ranked[1].pool, 2);
  assert_int_equal(r.ranked[1].gpus, 5);
  assert_int_equal(r.verdicts[1].why, SL_WHY_CAPACITY);
  assert_int_equal(r.verdicts[1].gap, 1);
  assert_string_equal(r.verdicts[1].detail, "no start in window with 4 free GPUs (best: 3)");
  sl_market_result_free(&r);

  /* a whole fill beats every partial one, even a cheaper partial one */
  add_pool(&b, 4, 300, 8);
  match(&b, &o, &r);
  assert_true(r.filled);
  assert_int_equal(r.gpus_filled, 8);
  assert_int_equal(r.pieces[0].pool, 3);
  sl_market_result_free(&r);
}

/* The minimum not met: not filled; gpus_filled = the most GPUs a pool offers (issue 15: the
 * quote's gpus_available), for an all-or-nothing order too. */
static void test_gang_min_unmet_and_available(void **state) {
  (void)state;
  book b = {0};
  add_pool(&b, 1, 100, 6);
  add_pool(&b, 2, 50, 3);
  sl_market_order o = mk_order(8, 7, 2);
  sl_market_result r;
  match(&b, &o, &r);
  assert_false(r.filled);
  assert_int_equal(r.npieces, 0);
  assert_int_equal(r.gpus_filled, 6);
  assert_int_equal(r.verdicts[0].gap, 1);
  sl_market_result_free(&r);
  o.min_gpus = 0; /* all or nothing */
  match(&b, &o, &r);
  assert_false(r.filled);
  assert_int_equal(r.gpus_filled, 6);
  assert_int_equal(r.verdicts[0].gap, 2);
  sl_market_result_free(&r);
}

/* The budget caps the GPUs of a partial fill; below the minimum it is BUDGET. */
static void test_gang_partial_budget(void **state) {
  (void)state;
  book b = {0};
  add_pool(&b, 1, 100, 8);
  sl_market_order o = mk_order(8, 2, 2);
  o.budget_hourly_minor = 550; /* 5 GPUs at 1.00 */
  sl_market_result r;
  match(&b, &o, &r);
  assert_true(r.filled);
  assert_int_equal(r.gpus_filled, 5);
  sl_market_result_free(&r);
  o.budget_hourly_minor = -1;
  o.budget_total_minor = 600; /* 3 GPUs for 2 hours at 1.00 */
  match(&b, &o, &r);
  assert_true(r.filled);
  assert_int_equal(r.gpus_filled, 3);
  sl_market_result_free(&r);
  o.budget_total_minor = 300; /* 1 GPU: below the minimum */
  match(&b, &o, &r);
  assert_false(r.filled);
  assert_int_equal(r.verdicts[0].why, SL_WHY_BUDGET);
  assert_string_equal(r.verdicts[0].detail, "total 4.00 > budget 3.00");
  assert_int_equal(r.verdicts[0].gap, 100);
  sl_market_result_free(&r);
}

/* The GPUs free later: a partial-fill gang order takes the most GPUs at the earliest start
 * that gives them. */
static void test_gang_partial_start(void **state) {
  (void)state;
  book b = {0};
  add_pool(&b, 1, 100, 8);
  for (size_t s = 0; s < 4; s++) b.fr[0][s] = 2; /* 2 free in the first 4 hours */
  sl_market_order o = mk_order(8, 2, 2);
  sl_market_result r;
  match(&b, &o, &r);
  assert_true(r.filled);
  assert_int_equal(r.gpus_filled, 8);
  assert_int_equal(r.pieces[0].start, T0 + 4 * H);
  sl_market_result_free(&r);
  o.latest_start = T0 + 2 * H; /* only 2 free at every start */
  match(&b, &o, &r);
  assert_true(r.filled);
  assert_int_equal(r.gpus_filled, 2);
  assert_int_equal(r.pieces[0].start, T0);
  sl_market_result_free(&r);
}

/* Split: 10 asked in at most 2 pools, at least 5: the two largest pools, in key order. */
static void test_split_partial(void **state) {
  (void)state;
  book b = {0};
  add_pool(&b, 1, 300, 4);
  add_pool(&b, 2, 100, 3);
  add_pool(&b, 3, 50, 2);
  sl_market_order o = mk_order(10, 5, 1);
  o.split = true;
  o.max_pieces = 2;
  sl_market_result r;
  match(&b, &o, &r);
  assert_true(r.filled);
  assert_int_equal(r.gpus_filled, 7);
  assert_int_equal(r.npieces, 2);
  assert_int_equal(r.pieces[0].pool, 1); /* cheapest first */
  assert_int_equal(r.pieces[0].gpus, 3);
  assert_int_equal(r.pieces[1].pool, 0);
  assert_int_equal(r.pieces[1].gpus, 4);
  assert_int_equal(r.verdicts[2].why, SL_WHY_OUTRANKED);
  sl_market_result_free(&r);
  o.min_gpus = 8; /* not met */
  match(&b, &o, &r);
  assert_false(r.filled);
  assert_int_equal(r.gpus_filled, 7);
  assert_int_equal(r.verdicts[0].why, SL_WHY_CAPACITY);
  sl_market_result_free(&r);
  o.min_gpus = 0;
  o.max_pieces = 3;
  o.gpus = 9; /* whole: 4 + 3 + 2 */
  match(&b, &o, &r);
  assert_true(r.filled);
  assert_int_equal(r.gpus_filled, 9);
  assert_int_equal(r.npieces, 3);
  sl_market_result_free(&r);
}

/* Independent starts: pool A is free only in the first 2 hours, pool B only after them.  One
 * start gathers at most 4 of 8; with independent starts A runs at T0 and B at T0 + 2 h. */
static void test_split_independent_starts(void **state) {
  (void)state;
  book b = {0};
  add_pool(&b, 1, 100, 4);
  add_pool(&b, 2, 200, 4);
  for (size_t s = 2; s < NS; s++) b.fr[0][s] = 0;
  for (size_t s = 0; s < 2; s++) b.fr[1][s] = 0;
  sl_market_order o = mk_order(8, 0, 2);
  o.split = true;
  o.latest_start = T0 + 4 * H;
  sl_market_result r;
  match(&b, &o, &r);
  assert_false(r.filled);
  assert_int_equal(r.gpus_filled, 4);
  sl_market_result_free(&r);
  o.independent_starts = true;
  match(&b, &o, &r);
  assert_true(r.filled);
  assert_int_equal(r.gpus_filled, 8);
  assert_int_equal(r.npieces, 2);
  assert_int_equal(r.pieces[0].pool, 0);
  assert_int_equal(r.pieces[0].start, T0);
  assert_int_equal(r.pieces[1].pool, 1);
  assert_int_equal(r.pieces[1].start, T0 + 2 * H);
  sl_market_result_free(&r);
  /* with a partial fill allowed and one pool only: 4 of 8 */
  o.min_gpus = 3;
  o.max_pieces = 1;
  match(&b, &o, &r);
  assert_true(r.filled);
  assert_int_equal(r.gpus_filled, 4);
  assert_int_equal(r.pieces[0].pool, 0); /* cheaper of two equal fills */
  sl_market_result_free(&r);
  /* gang orders have one start: independent starts are an invalid argument */
  o.split = false;
  assert_false(sl_market_match(&o, b.p, b.n, T0, NS, &r));
}

/* min_gpus outside 0..gpus, or with an amount of NCU: invalid arguments. */
static void test_partial_args(void **state) {
  (void)state;
  book b = {0};
  add_pool(&b, 1, 100, 8);
  sl_market_result r;
  sl_market_order o = mk_order(4, 5, 1);
  assert_false(sl_market_match(&o, b.p, b.n, T0, NS, &r));
  o.min_gpus = -1;
  assert_false(sl_market_match(&o, b.p, b.n, T0, NS, &r));
  o.min_gpus = 2;
  o.ncu_milli_wanted = 3000;
  assert_false(sl_market_match(&o, b.p, b.n, T0, NS, &r));
  o.min_gpus = 4; /* == gpus: whole, allowed */
  assert_true(sl_market_match(&o, b.p, b.n, T0, NS, &r));
  sl_market_result_free(&r);
}

/* ---------------------------------------------------------------------------------------- */
/* Property test against a brute force                                                      */

static uint64_t seed = 0x15u;
static uint32_t rnd(uint32_t n) {
  seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  return (uint32_t)(seed >> 33) % n;
}

static int32_t wmin(const sl_market_pool *p, size_t from, size_t dur) {
  int32_t m = INT32_MAX;
  for (size_t s = from; s < from + dur; s++) {
    int32_t f = p->free[s] < 0 ? 0 : p->free[s];
    if (f < m) m = f;
  }
  return m;
}

static int cmp_desc(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x < y) - (x > y);
}

static void test_partial_brute_force(void **state) {
  (void)state;
  int nfilled = 0, npartial = 0, nsplit = 0, nunfilled = 0, napart = 0;
  for (int k = 0; k < 4000; k++) {
    book b = {0};
    size_t np = 1 + rnd(MAXP);
    for (size_t i = 0; i < np; i++) {
      add_pool(&b, (int64_t)(1 + rnd(4)) * 10 + (int64_t)i, 50 + rnd(6) * 25, 0);
      int32_t cap = (int32_t)rnd(9);
      for (size_t s = 0; s < NS; s++) b.fr[i][s] = cap - (int32_t)rnd(4) * (rnd(3) == 0);
    }
    int32_t dur = (int32_t)(1 + rnd(3));
    sl_market_order o = mk_order((int32_t)(1 + rnd(12)), 0, dur);
    o.min_gpus = rnd(4) ? (int32_t)(1 + rnd((uint32_t)o.gpus)) : 0;
    o.latest_start = T0 + (int64_t)rnd(4) * H;
    o.split = rnd(2) == 0;
    o.independent_starts = o.split && rnd(2) == 0;
    o.max_pieces = (int32_t)(1 + rnd(3));
    bool budget = rnd(4) == 0;
    if (budget) o.budget_hourly_minor = 100 + rnd(800);
    const int32_t lo = o.min_gpus ? o.min_gpus : o.gpus;
    size_t nstarts = (size_t)((o.latest_start - o.earliest_start) / H) + 1;

    /* brute force: the most GPUs any acceptable fill gives (gang: capped by the budget) */
    int32_t most = 0;
    for (size_t t = 0; t < nstarts; t++) {
      int32_t caps[MAXP];
      for (size_t i = 0; i < b.n; i++) caps[i] = wmin(&b.p[i], t, (size_t)dur);
      if (!o.split) {
        for (size_t i = 0; i < b.n; i++) {
          int32_t g = caps[i] < o.gpus ? caps[i] : o.gpus;
          if (budget && o.budget_hourly_minor / b.p[i].price_minor < g)
            g = (int32_t)(o.budget_hourly_minor / b.p[i].price_minor);
          if (g > most) most = g;
        }
      } else {
        if (o.independent_starts) /* each pool at its own best start */
          for (size_t i = 0; i < b.n; i++)
            for (size_t u = 0; u < nstarts; u++) {
              int32_t cu = wmin(&b.p[i], u, (size_t)dur);
              if (cu > caps[i]) caps[i] = cu;
            }
        qsort(caps, b.n, sizeof caps[0], cmp_desc);
        int32_t s = 0;
        for (size_t i = 0; i < b.n && i < (size_t)o.max_pieces; i++) s += caps[i];
        if (s > o.gpus) s = o.gpus;
        if (s > most) most = s;
      }
    }

    sl_market_result r;
    match(&b, &o, &r);
    /* every fill is feasible: capacity per slot, window, pieces, budget, >= the minimum */
    int32_t sum = 0;
    int64_t hourly = 0;
    for (size_t e = 0; e < r.npieces; e++) {
      const sl_market_piece *pc = &r.pieces[e];
      assert_true(pc->gpus >= 1);
      assert_true(pc->start >= o.earliest_start && pc->start <= o.latest_start);
      if (!o.independent_starts) assert_int_equal(pc->start, r.pieces[0].start);
      assert_true(pc->gpus <= wmin(&b.p[pc->pool], (size_t)((pc->start - T0) / H), (size_t)dur));
      for (size_t f = 0; f < e; f++) assert_true(r.pieces[f].pool != pc->pool);
      sum += pc->gpus;
      hourly += (int64_t)pc->gpus * pc->unit_price_minor;
    }
    if (budget) assert_true(hourly <= o.budget_hourly_minor);
    assert_true(r.npieces <= (o.split ? (size_t)o.max_pieces : 1));
    if (r.filled) {
      assert_int_equal(sum, r.gpus_filled);
      assert_true(sum >= lo && sum <= o.gpus);
      if (!o.min_gpus) assert_int_equal(sum, o.gpus);
    } else {
      assert_int_equal(r.npieces, 0);
    }
    /* a fill of at least the minimum exists iff the matcher fills (split under a budget: the
     * matcher checks each start's fill, not every mix: only "fills => exists"), and the fill
     * has the most GPUs the market allows */
    if (!(o.split && budget)) {
      if ((most >= lo) != r.filled)
        fail_msg("case %d: most %d, min %d, filled %d", k, (int)most, (int)lo, (int)r.filled);
      if (r.filled) assert_int_equal(r.gpus_filled, most);
    } else if (r.filled) {
      assert_true(most >= r.gpus_filled);
    }
    if (!o.split && !budget && !r.filled) assert_int_equal(r.gpus_filled, most);
    /* gang, cheapest: no pool giving as many GPUs is cheaper */
    if (!o.split && r.filled)
      for (size_t i = 0; i < b.n; i++) {
        int32_t best = 0;
        for (size_t t = 0; t < nstarts; t++) {
          int32_t c = wmin(&b.p[i], t, (size_t)dur);
          if (c > best) best = c;
        }
        int32_t g = best < o.gpus ? best : o.gpus;
        if (budget && o.budget_hourly_minor / b.p[i].price_minor < g)
          g = (int32_t)(o.budget_hourly_minor / b.p[i].price_minor);
        if (g == r.gpus_filled) assert_true(b.p[i].price_minor >= r.pieces[0].unit_price_minor);
      }
    nfilled += r.filled;
    npartial += r.filled && r.gpus_filled < o.gpus;
    nsplit += r.filled && o.split;
    nunfilled += !r.filled;
    for (size_t e = 1; e < r.npieces; e++)
      if (r.pieces[e].start != r.pieces[0].start) {
        napart++;
        break;
      }
    sl_market_result_free(&r);
  }
  printf("# %d filled (%d partial, %d split, %d with pieces at different starts), %d not filled\n",
         nfilled, npartial, nsplit, napart, nunfilled);
  assert_true(npartial > 300 && nsplit > 300 && nunfilled > 300 && napart > 50);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gang_partial),
      cmocka_unit_test(test_gang_min_unmet_and_available),
      cmocka_unit_test(test_gang_partial_budget),
      cmocka_unit_test(test_gang_partial_start),
      cmocka_unit_test(test_split_partial),
      cmocka_unit_test(test_split_independent_starts),
      cmocka_unit_test(test_partial_args),
      cmocka_unit_test(test_partial_brute_force),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
