/* test_matcher.c — the pure matcher (src/market/matcher.c, include/suanli/market/market.h).
 *
 * One test per rejection reason (with its detail), per objective, per tie-break, the window
 * edges (half-open intervals everywhere), gang and split fills, budget caps, per-NCU prices,
 * overflow-safe arithmetic, argument validation, determinism under shuffled input, and a
 * randomized property test (fixed seed) that checks every fill against a brute force. */
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
#define NS   48                  /* slots in the snapshot window */
#define MAXP 16

/* ---------------------------------------------------------------------------------------- */
/* Fixtures                                                                                 */

typedef struct {
  sl_market_pool p[MAXP];
  int32_t fr[MAXP][NS];
  size_t n;
} book;

/* A healthy H100 pool in us-east-1 with nfree GPUs free in every slot, available over the
 * whole window, 10 ms from the origin. */
static sl_market_pool *add_pool(book *b, int64_t id, int64_t price, int32_t nfree) {
  assert_true(b->n < MAXP);
  size_t i = b->n++;
  for (size_t s = 0; s < NS; s++) b->fr[i][s] = nfree;
  b->p[i] = fx_pool(id, price, b->fr[i], T0, T0 + NS * H);
  return &b->p[i];
}

/* Book `g` GPUs of pool i in slots [from, to). */
static void book_slots(book *b, size_t i, size_t from, size_t to, int32_t g) {
  for (size_t s = from; s < to; s++) b->fr[i][s] -= g;
}

static sl_market_order mk_order(int32_t gpus, int32_t dur) {
  return fx_order(gpus, dur, T0, T0 + (NS - dur) * H);
}

static void match(const book *b, const sl_market_order *o, sl_market_result *r) {
  assert_true(sl_market_match(o, b->p, b->n, T0, NS, r));
  assert_non_null(r->verdicts);
}

static void expect_verdict(const sl_market_result *r, size_t i, sl_market_why why,
                           const char *detail) {
  if (r->verdicts[i].why != why || (detail && strcmp(r->verdicts[i].detail, detail) != 0))
    fail_msg("pool %zu: %s \"%s\", want %s \"%s\"", i, sl_market_why_name(r->verdicts[i].why),
             r->verdicts[i].detail, sl_market_why_name(why), detail ? detail : "*");
}

/* Gang result: filled with pool index `pool` at `start`. */
static void expect_gang(const sl_market_result *r, size_t pool, int64_t start) {
  if (!r->filled || r->npieces != 1)
    fail_msg("not filled (filled=%d npieces=%zu)", r->filled, r->npieces);
  if (r->pieces[0].pool != pool || r->pieces[0].start != start)
    fail_msg("chose pool %zu at +%lldh, want pool %zu at +%lldh", r->pieces[0].pool,
             (long long)((r->pieces[0].start - T0) / H), pool, (long long)((start - T0) / H));
  expect_verdict(r, pool, SL_WHY_CHOSEN, NULL);
}

/* One pool, one order: the verdict of that pool. */
static void expect_single(book *b, const sl_market_order *o, sl_market_why why,
                          const char *detail) {
  sl_market_result r;
  match(b, o, &r);
  expect_verdict(&r, b->n - 1, why, detail);
  if (why != SL_WHY_CHOSEN && why != SL_WHY_OUTRANKED) assert_false(r.filled);
  sl_market_result_free(&r);
}

/* ---------------------------------------------------------------------------------------- */
/* Names                                                                                    */

static void test_why_names(void **state) {
  (void)state;
  static const char *const want[] = {"chosen", "health",   "spec",   "region",   "latency",
                                     "price",  "capacity", "budget", "outranked"};
  for (int w = SL_WHY_CHOSEN; w <= SL_WHY_OUTRANKED; w++)
    assert_string_equal(sl_market_why_name((sl_market_why)w), want[w]);
  assert_string_equal(sl_market_why_name((sl_market_why)99), "unknown");
}

/* ---------------------------------------------------------------------------------------- */
/* One test per constraint                                                                  */

static void test_health(void **state) {
  (void)state;
  book b = {0};
  sl_market_order o = mk_order(1, 1);
  add_pool(&b, 1, 100, 8)->active = false;
  add_pool(&b, 2, 100, 8)->down = true;
  sl_market_pool *both = add_pool(&b, 3, 100, 8);
  both->active = false;
  both->down = true;
  add_pool(&b, 4, 500, 8);
  sl_market_result r;
  match(&b, &o, &r);
  expect_verdict(&r, 0, SL_WHY_HEALTH, "pool is not active");
  expect_verdict(&r, 1, SL_WHY_HEALTH, "pool health is down");
  expect_verdict(&r, 2, SL_WHY_HEALTH, "pool is not active");
  expect_gang(&r, 3, T0);
  sl_market_result_free(&r);
}

static void test_spec_model(void **state) {
  (void)state;
  book b = {0};
  static const char *const models[] = {"H100-SXM", "A100-80GB-SXM"};
  sl_market_order o = mk_order(1, 1);
  o.accelerators = models;
  o.n_accelerators = 2;
  add_pool(&b, 1, 100, 8)->accelerator = "L4-PCIe";
  add_pool(&b, 2, 100, 8)->accelerator = "H100-sxm"; /* exact match: case matters */
  add_pool(&b, 3, 300, 8)->accelerator = "A100-80GB-SXM";
  sl_market_result r;
  match(&b, &o, &r);
  expect_verdict(&r, 0, SL_WHY_SPEC, "model L4-PCIe not in the order's list");
  expect_verdict(&r, 1, SL_WHY_SPEC, "model H100-sxm not in the order's list");
  expect_gang(&r, 2, T0);
  sl_market_result_free(&r);
}

static void test_spec_memory(void **state) {
  (void)state;
  book b = {0};
  sl_market_order o = mk_order(1, 1);
  o.min_memory_gb = 80;
  add_pool(&b, 1, 100, 8)->memory_gb = 24;
  add_pool(&b, 2, 100, 8)->memory_gb = -1;
  add_pool(&b, 3, 100, 8)->memory_gb = 80; /* equal is enough */
  sl_market_result r;
  match(&b, &o, &r);
  expect_verdict(&r, 0, SL_WHY_SPEC, "min_memory_gb 80 > 24");
  expect_verdict(&r, 1, SL_WHY_SPEC, "memory unknown, order needs min_memory_gb 80");
  expect_gang(&r, 2, T0);
  sl_market_result_free(&r);
  /* -1 = any: unknown memory passes */
  o.min_memory_gb = -1;
  b.n = 2;
  expect_single(&b, &o, SL_WHY_OUTRANKED, "rank 2");
}

static void test_spec_ncu(void **state) {
  (void)state;
  book b = {0};
  sl_market_order o = mk_order(1, 1);
  o.min_ncu_milli = 1000;
  add_pool(&b, 1, 100, 8)->ncu_milli = -1;
  add_pool(&b, 2, 100, 8)->ncu_milli = 400;
  add_pool(&b, 3, 100, 8)->ncu_milli = 999;
  add_pool(&b, 4, 100, 8)->ncu_milli = 1000;
  sl_market_result r;
  match(&b, &o, &r);
  expect_verdict(&r, 0, SL_WHY_SPEC, "unrated model cannot meet min_ncu");
  expect_verdict(&r, 1, SL_WHY_SPEC, "min_ncu 1.000 > 0.400");
  expect_verdict(&r, 2, SL_WHY_SPEC, "min_ncu 1.000 > 0.999");
  expect_gang(&r, 3, T0);
  sl_market_result_free(&r);
}

static void test_spec_intra(void **state) {
  (void)state;
  book b = {0};
  sl_market_order o = mk_order(1, 1);
  o.intra = SL_INTRA_NVLINK;
  add_pool(&b, 1, 100, 8)->intra = SL_INTRA_PCIE;
  add_pool(&b, 2, 200, 8);
  sl_market_result r;
  match(&b, &o, &r);
  expect_verdict(&r, 0, SL_WHY_SPEC, "intra-node PCIe, order needs NVLink");
  expect_gang(&r, 1, T0);
  sl_market_result_free(&r);
  o.intra = SL_INTRA_ANY;
  match(&b, &o, &r);
  expect_gang(&r, 0, T0);
  sl_market_result_free(&r);
}

static void test_spec_network(void **state) {
  (void)state;
  book b = {0};
  sl_market_order o = mk_order(1, 1);
  o.min_inter = SL_INTER_ROCE;
  o.min_inter_gbps = 400;
  sl_market_pool *eth = add_pool(&b, 1, 100, 8);
  eth->inter = SL_INTER_ETHERNET;
  eth->inter_gbps = 800; /* fast, but the wrong class */
  add_pool(&b, 2, 100, 8)->inter_gbps = 100;
  add_pool(&b, 3, 100, 8)->inter = SL_INTER_NONE;
  sl_market_pool *roce = add_pool(&b, 4, 200, 8);
  roce->inter = SL_INTER_ROCE; /* exactly the minimum class and bandwidth */
  roce->inter_gbps = 400;
  add_pool(&b, 5, 300, 8); /* InfiniBand > RoCE */
  sl_market_result r;
  match(&b, &o, &r);
  expect_verdict(&r, 0, SL_WHY_SPEC, "network Ethernet below minimum RoCE");
  expect_verdict(&r, 1, SL_WHY_SPEC, "network 100 Gb/s < min 400 Gb/s");
  expect_verdict(&r, 2, SL_WHY_SPEC, "network none below minimum RoCE");
  expect_gang(&r, 3, T0);
  expect_verdict(&r, 4, SL_WHY_OUTRANKED, "rank 2");
  sl_market_result_free(&r);
}

static void test_region(void **state) {
  (void)state;
  book b = {0};
  static const char *const allowed[] = {"us-east-1", "ap-south-1"};
  static const char *const excluded[] = {"ap-south-1"};
  sl_market_order o = mk_order(1, 1);
  o.regions = allowed;
  o.n_regions = 2;
  o.excluded = excluded;
  o.n_excluded = 1;
  add_pool(&b, 1, 100, 8)->region = "eu-west-1";
  add_pool(&b, 2, 100, 8)->region = "ap-south-1";
  add_pool(&b, 3, 200, 8);
  sl_market_result r;
  match(&b, &o, &r);
  expect_verdict(&r, 0, SL_WHY_REGION, "region eu-west-1 not in the order's list");
  expect_verdict(&r, 1, SL_WHY_REGION, "region ap-south-1 excluded");
  expect_gang(&r, 2, T0);
  sl_market_result_free(&r);
  /* only an excluded list: everything else is allowed */
  o.n_regions = 0;
  match(&b, &o, &r);
  expect_gang(&r, 0, T0);
  expect_verdict(&r, 1, SL_WHY_REGION, "region ap-south-1 excluded");
  sl_market_result_free(&r);
}

static void test_latency(void **state) {
  (void)state;
  book b = {0};
  sl_market_order o = mk_order(1, 1);
  o.has_origin = true;
  o.max_rtt_us = 80000;
  add_pool(&b, 1, 100, 8)->rtt_us = 182345;
  add_pool(&b, 2, 100, 8)->rtt_us = -1;
  add_pool(&b, 3, 100, 8)->rtt_us = 80040; /* would read "80.0 > 80.0" with one decimal */
  add_pool(&b, 4, 200, 8)->rtt_us = 80000; /* exactly the maximum */
  sl_market_result r;
  match(&b, &o, &r);
  expect_verdict(&r, 0, SL_WHY_LATENCY, "RTT 182.3 ms > max 80.0 ms");
  expect_verdict(&r, 1, SL_WHY_LATENCY, "no RTT known from origin");
  expect_verdict(&r, 2, SL_WHY_LATENCY, "RTT 80.040 ms > max 80.000 ms");
  expect_gang(&r, 3, T0);
  assert_int_equal(r.pieces[0].rtt_us, 80000);
  sl_market_result_free(&r);
  /* no limit: the cheapest pool wins, unknown RTT included */
  o.max_rtt_us = -1;
  match(&b, &o, &r);
  expect_gang(&r, 0, T0);
  sl_market_result_free(&r);
  /* without an origin, a max_rtt is meaningless and RTTs are reported as -1 */
  o.has_origin = false;
  o.max_rtt_us = 1;
  match(&b, &o, &r);
  expect_gang(&r, 0, T0);
  assert_int_equal(r.pieces[0].rtt_us, -1);
  sl_market_result_free(&r);
}

static void test_price_max(void **state) {
  (void)state;
  book b = {0};
  sl_market_order o = mk_order(1, 1);
  o.max_price_minor = 250;
  add_pool(&b, 1, 310, 8);
  add_pool(&b, 2, 251, 8);
  add_pool(&b, 3, 250, 8);
  sl_market_result r;
  match(&b, &o, &r);
  expect_verdict(&r, 0, SL_WHY_PRICE, "price 3.10 > max 2.50 per GPU-hour");
  expect_verdict(&r, 1, SL_WHY_PRICE, "price 2.51 > max 2.50 per GPU-hour");
  expect_gang(&r, 2, T0);
  sl_market_result_free(&r);
}

static void test_price_per_ncu(void **state) {
  (void)state;
  book b = {0};
  sl_market_order o = mk_order(1, 1);
  o.max_ncu_price_minor = 300;               /* 3.00 per NCU-hour */
  add_pool(&b, 1, 100, 8)->ncu_milli = -1;   /* unrated: no price per NCU */
  add_pool(&b, 2, 200, 8)->ncu_milli = 500;  /* 2.00 / 0.5 = 4.00 per NCU-hour */
  add_pool(&b, 3, 100, 8)->ncu_milli = 0;    /* rated 0: any positive price is infinite */
  add_pool(&b, 4, 200, 8)->ncu_milli = 333;  /* 6.006... -> shown rounded up: 6.01 */
  add_pool(&b, 5, 150, 8)->ncu_milli = 500;  /* 1.50 / 0.5 = 3.00 exactly: allowed */
  add_pool(&b, 6, 400, 8)->ncu_milli = 2000; /* 4.00 / 2 = 2.00 */
  sl_market_result r;
  match(&b, &o, &r);
  expect_verdict(&r, 0, SL_WHY_PRICE, "unrated model has no price per NCU-hour");
  expect_verdict(&r, 1, SL_WHY_PRICE,
                 "price 4.00 per NCU-hour > max 3.00 (2.00 per GPU-hour at 0.500 NCU)");
  expect_verdict(&r, 2, SL_WHY_PRICE, "price 1.00 per GPU-hour buys 0 NCU");
  expect_verdict(&r, 3, SL_WHY_PRICE,
                 "price 6.01 per NCU-hour > max 3.00 (2.00 per GPU-hour at 0.333 NCU)");
  expect_gang(&r, 4, T0); /* cheapest per GPU-hour among the allowed */
  expect_verdict(&r, 5, SL_WHY_OUTRANKED, "rank 2");
  sl_market_result_free(&r);
  /* a free pool rated 0 NCU costs 0 per NCU: allowed */
  b.p[2].price_minor = 0;
  match(&b, &o, &r);
  expect_gang(&r, 2, T0);
  sl_market_result_free(&r);
}

/* The first failing check, in the order of the enum, is the verdict. */
static void test_check_order(void **state) {
  (void)state;
  book b = {0};
  static const char *const models[] = {"H100-SXM"};
  static const char *const allowed[] = {"us-east-1"};
  sl_market_order o = mk_order(8, 2);
  o.accelerators = models;
  o.n_accelerators = 1;
  o.regions = allowed;
  o.n_regions = 1;
  o.has_origin = true;
  o.max_rtt_us = 50000;
  o.max_price_minor = 200;
  o.budget_hourly_minor = 8 * 150;
  /* everything wrong: health first */
  sl_market_pool *p = add_pool(&b, 1, 999, 0);
  p->down = true;
  p->accelerator = "L4";
  p->region = "eu-west-1";
  p->rtt_us = -1;
  expect_single(&b, &o, SL_WHY_HEALTH, "pool health is down");
  p->down = false;
  expect_single(&b, &o, SL_WHY_SPEC, "model L4 not in the order's list");
  p->accelerator = "H100-SXM";
  expect_single(&b, &o, SL_WHY_REGION, "region eu-west-1 not in the order's list");
  p->region = "us-east-1";
  expect_single(&b, &o, SL_WHY_LATENCY, "no RTT known from origin");
  p->rtt_us = 1000;
  expect_single(&b, &o, SL_WHY_PRICE, "price 9.99 > max 2.00 per GPU-hour");
  p->price_minor = 199; /* over the hourly budget 12.00 (8 x 1.99 = 15.92), and no capacity */
  expect_single(&b, &o, SL_WHY_CAPACITY, "no start in window with 8 free GPUs (best: 0)");
  for (size_t s = 0; s < NS; s++) b.fr[0][s] = 8;
  expect_single(&b, &o, SL_WHY_BUDGET, "hourly cost 15.92 > budget 12.00");
  p->price_minor = 150;
  expect_single(&b, &o, SL_WHY_CHOSEN, NULL);
}

/* ---------------------------------------------------------------------------------------- */
/* Capacity and the window edges                                                            */

static void test_capacity_gang(void **state) {
  (void)state;
  book b = {0};
  sl_market_order o = mk_order(16, 4);
  add_pool(&b, 1, 100, 8);
  add_pool(&b, 2, 100, 16);
  book_slots(&b, 1, 0, NS, 1); /* 15 free everywhere */
  book_slots(&b, 1, 10, 11, -1);
  sl_market_pool *late = add_pool(&b, 3, 100, 16);
  late->avail_from = T0 + NS * H; /* never inside the window */
  late->avail_until = T0 + (NS + 10) * H;
  sl_market_result r;
  match(&b, &o, &r);
  expect_verdict(&r, 0, SL_WHY_CAPACITY, "no start in window with 16 free GPUs (best: 8)");
  expect_verdict(&r, 1, SL_WHY_CAPACITY, "no start in window with 16 free GPUs (best: 15)");
  expect_verdict(&r, 2, SL_WHY_CAPACITY,
                 "availability [2026-01-03T00:00:00Z, 2026-01-03T10:00:00Z) leaves no start in "
                 "window");
  assert_false(r.filled);
  assert_int_equal(r.npieces, 0);
  assert_int_equal(r.nranked, 0);
  assert_int_equal(r.gpus_filled, 15); /* the most a pool keeps free (issue 15) */
  sl_market_result_free(&r);
  /* negative free[] entries (never produced) count as zero */
  book c = {0};
  add_pool(&c, 1, 100, -3);
  o.gpus = 1;
  expect_single(&c, &o, SL_WHY_CAPACITY, "no start in window with 1 free GPUs (best: 0)");
}

/* A booking in the last slot of [s, s+d) blocks s; one at s+d does not (half-open). */
static void test_window_last_slot(void **state) {
  (void)state;
  book b = {0};
  sl_market_order o = mk_order(8, 4);
  o.latest_start = T0 + 5 * H;
  add_pool(&b, 1, 100, 8);
  book_slots(&b, 0, 3, 4, 1); /* slot 3 = last slot of a start at 0 */
  sl_market_result r;
  match(&b, &o, &r);
  expect_gang(&r, 0, T0 + 4 * H); /* the first start whose [s, s+4) avoids slot 3 */
  sl_market_result_free(&r);

  book c = {0};
  add_pool(&c, 1, 100, 8);
  book_slots(&c, 0, 4, 5, 8); /* slot 4 = the end of [0, 4): does not block start 0 */
  match(&c, &o, &r);
  expect_gang(&r, 0, T0);
  assert_int_equal(r.pieces[0].start + o.duration_slots * H, T0 + 4 * H);
  sl_market_result_free(&r);
}

/* Availability [from, until) ending exactly at s+d is feasible; one hour earlier is not. */
static void test_window_availability(void **state) {
  (void)state;
  book b = {0};
  sl_market_order o = mk_order(4, 3);
  o.earliest_start = T0 + 2 * H;
  o.latest_start = T0 + 2 * H;
  sl_market_pool *p = add_pool(&b, 1, 100, 8);
  p->avail_from = T0 + 2 * H;
  p->avail_until = T0 + 5 * H;
  expect_single(&b, &o, SL_WHY_CHOSEN, NULL);
  p->avail_until = T0 + 4 * H;
  expect_single(&b, &o, SL_WHY_CAPACITY,
                "availability [2026-01-01T02:00:00Z, 2026-01-01T04:00:00Z) leaves no start in "
                "window");
  /* availability starting one hour late is not enough either */
  p->avail_from = T0 + 3 * H;
  p->avail_until = T0 + 6 * H;
  expect_single(&b, &o, SL_WHY_CAPACITY, NULL);
  /* unaligned availability: [02:30, ...) excludes the 02:00 start */
  p->avail_from = T0 + 2 * H + 1800;
  p->avail_until = T0 + 20 * H;
  o.latest_start = T0 + 3 * H;
  sl_market_result r;
  match(&b, &o, &r);
  expect_gang(&r, 0, T0 + 3 * H);
  sl_market_result_free(&r);
  /* extreme availability values: no overflow, and a readable (clamped) detail */
  p->avail_from = INT64_MIN;
  p->avail_until = INT64_MAX;
  expect_single(&b, &o, SL_WHY_CHOSEN, NULL);
  p->avail_from = INT64_MAX - 1;
  expect_single(&b, &o, SL_WHY_CAPACITY,
                "availability [9999-12-31T23:59:59Z, 9999-12-31T23:59:59Z) leaves no start in "
                "window");
}

/* latest_start itself is a usable start; the window may end exactly at latest + d. */
static void test_window_latest_start(void **state) {
  (void)state;
  book b = {0};
  sl_market_order o = mk_order(8, 4);
  o.earliest_start = T0 + 10 * H;
  o.latest_start = T0 + (NS - 4) * H;
  add_pool(&b, 1, 100, 8);
  book_slots(&b, 0, 0, NS - 4, 1); /* only the last four slots are fully free */
  sl_market_result r;
  match(&b, &o, &r);
  expect_gang(&r, 0, o.latest_start);
  assert_int_equal(r.ranked[0].start, o.latest_start);
  sl_market_result_free(&r);
  /* earliest_start bounds the other side: free before it does not count */
  book c = {0};
  add_pool(&c, 1, 100, 8);
  book_slots(&c, 0, 10, NS, 1);
  expect_single(&c, &o, SL_WHY_CAPACITY, "no start in window with 8 free GPUs (best: 7)");
}

/* The earliest feasible start of a pool, with a long duration (the sliding minimum). */
static void test_gang_earliest_start(void **state) {
  (void)state;
  book b = {0};
  sl_market_order o = mk_order(6, 12);
  add_pool(&b, 1, 100, 8);
  book_slots(&b, 0, 0, 1, 3);   /* blocks starts 0 */
  book_slots(&b, 0, 14, 15, 2); /* free 6 there: fine */
  book_slots(&b, 0, 20, 21, 4); /* blocks starts 9..20 */
  sl_market_result r;
  match(&b, &o, &r);
  expect_gang(&r, 0, T0 + 1 * H);
  sl_market_result_free(&r);
  book_slots(&b, 0, 5, 6, 3); /* now 1..5 blocked too; [6, 18) holds slot 14 (6 free) */
  match(&b, &o, &r);
  expect_gang(&r, 0, T0 + 6 * H);
  assert_int_equal(r.pieces[0].total_minor, 6 * 12 * 100);
  assert_int_equal(r.pieces[0].gpus, 6);
  assert_int_equal(r.pieces[0].unit_price_minor, 100);
  sl_market_result_free(&r);
}

/* ---------------------------------------------------------------------------------------- */
/* Objectives and ties                                                                      */

static void test_cheapest_vs_latency(void **state) {
  (void)state;
  book b = {0};
  sl_market_order o = mk_order(4, 2);
  o.has_origin = true;
  add_pool(&b, 1, 300, 8)->rtt_us = 5000;   /* near, dear */
  add_pool(&b, 2, 100, 8)->rtt_us = 150000; /* far, cheap */
  add_pool(&b, 3, 50, 8)->rtt_us = -1;      /* cheapest, unknown RTT */
  add_pool(&b, 4, 250, 8)->rtt_us = 5000;   /* as near as pool 1, cheaper */
  sl_market_result r;
  match(&b, &o, &r);
  expect_gang(&r, 2, T0);
  assert_int_equal(r.nranked, 4);
  assert_int_equal(r.ranked[1].pool, 1);
  sl_market_result_free(&r);

  o.objective = SL_OBJ_LOWEST_LATENCY;
  match(&b, &o, &r);
  expect_gang(&r, 3, T0); /* 5 ms, then price: 2.50 beats 3.00 */
  assert_int_equal(r.ranked[1].pool, 0);
  assert_int_equal(r.ranked[2].pool, 1);
  assert_int_equal(r.ranked[3].pool, 2); /* unknown RTT after every known one */
  expect_verdict(&r, 2, SL_WHY_OUTRANKED, "rank 4");
  sl_market_result_free(&r);

  /* without an origin, every latency is equal: the price decides */
  o.has_origin = false;
  match(&b, &o, &r);
  expect_gang(&r, 2, T0);
  sl_market_result_free(&r);
}

/* Scarcity-aware placement (issue 15): an uncapped lowest_latency order ranks RTTs in bands of
 * latency_tol_us, the cheapest first within a band, so it leaves the nearest (scarce) pool to
 * the orders that need it; exact RTT with no band; the band floor is the key, not a window
 * around the nearest pool. */
static void test_latency_tolerance_band(void **state) {
  (void)state;
  book b = {0};
  sl_market_order o = mk_order(2, 1);
  o.has_origin = true;
  o.objective = SL_OBJ_LOWEST_LATENCY;
  add_pool(&b, 1, 300, 8)->rtt_us = 2000;  /* 3.00, 2 ms: the scarce, near pool */
  add_pool(&b, 2, 200, 8)->rtt_us = 8000;  /* 2.00, 8 ms */
  add_pool(&b, 3, 100, 8)->rtt_us = 15000; /* 1.00, 15 ms */
  add_pool(&b, 4, 50, 8)->rtt_us = -1;     /* unknown RTT: still last */
  sl_market_result r;
  o.latency_tol_us = 0; /* exact */
  match(&b, &o, &r);
  expect_gang(&r, 0, T0);
  sl_market_result_free(&r);
  o.latency_tol_us = 10000; /* 0-10 ms one band: 2.00 beats 3.00; 15 ms is the next band */
  match(&b, &o, &r);
  expect_gang(&r, 1, T0);
  assert_int_equal(r.ranked[1].pool, 0);
  assert_int_equal(r.ranked[2].pool, 2);
  assert_int_equal(r.ranked[3].pool, 3);
  sl_market_result_free(&r);
  o.latency_tol_us = 20000; /* all known RTTs in one band: the cheapest known */
  match(&b, &o, &r);
  expect_gang(&r, 2, T0);
  assert_int_equal(r.ranked[3].pool, 3);
  sl_market_result_free(&r);
  int64_t k1[3], k2[3];
  sl_market_key(&o, &b.p[0], k1);
  sl_market_key(&o, &b.p[1], k2);
  assert_int_equal(k1[1], k2[1]); /* same band */
  assert_true(k1[2] > k2[2]);     /* then the price */
  /* a negative band counts as none (exact) */
  o.latency_tol_us = -5;
  match(&b, &o, &r);
  expect_gang(&r, 0, T0);
  sl_market_result_free(&r);
}

static void test_tradeoff_flip(void **state) {
  (void)state;
  book b = {0};
  sl_market_order o = mk_order(2, 1);
  o.has_origin = true;
  o.objective = SL_OBJ_TRADEOFF;
  add_pool(&b, 1, 200, 8)->rtt_us = 100000; /* 2.00, 100 ms */
  add_pool(&b, 2, 250, 8)->rtt_us = 10000;  /* 2.50, 10 ms */
  add_pool(&b, 3, 1, 8)->rtt_us = -1;       /* 0.01, unknown: always last */
  sl_market_result r;
  /* value 0 per ms: price only (among known RTTs) */
  o.money_per_ms_minor = 0;
  match(&b, &o, &r);
  expect_gang(&r, 0, T0);
  assert_int_equal(r.ranked[2].pool, 2);
  sl_market_result_free(&r);
  /* 1 minor unit per ms: A = 200000 + 100000 = 300000, B = 250000 + 10000 = 260000 */
  o.money_per_ms_minor = 1;
  match(&b, &o, &r);
  expect_gang(&r, 1, T0);
  expect_verdict(&r, 0, SL_WHY_OUTRANKED, "rank 2");
  expect_verdict(&r, 2, SL_WHY_OUTRANKED, "rank 3");
  sl_market_result_free(&r);
  /* break-even: 50000 = 90000 * m -> m < 0.56: still price at m = 0; exact tie breaks by id */
  b.p[1].price_minor = 290; /* A = 300000, B = 290000 + 10000 = 300000 */
  match(&b, &o, &r);
  expect_gang(&r, 0, T0);
  sl_market_result_free(&r);
  /* without an origin, tradeoff is the price */
  o.has_origin = false;
  match(&b, &o, &r);
  expect_gang(&r, 2, T0);
  sl_market_result_free(&r);
}

static void test_tie_breaking(void **state) {
  (void)state;
  book b = {0};
  sl_market_order o = mk_order(4, 2);
  add_pool(&b, 30, 100, 8);
  add_pool(&b, 20, 100, 8);
  add_pool(&b, 10, 100, 8);
  book_slots(&b, 2, 0, 1, 8); /* id 10 only from +1h */
  sl_market_result r;
  match(&b, &o, &r);
  expect_gang(&r, 1, T0); /* same price, same start: lower id (20) beats 30 */
  assert_int_equal(r.ranked[1].pool, 0);
  assert_int_equal(r.ranked[2].pool, 2); /* a later start ranks last */
  assert_int_equal(r.ranked[2].start, T0 + H);
  sl_market_result_free(&r);
  book_slots(&b, 0, 0, 1, 8);
  book_slots(&b, 1, 0, 1, 8); /* now all start at +1h: id 10 wins */
  match(&b, &o, &r);
  expect_gang(&r, 2, T0 + H);
  sl_market_result_free(&r);
  /* same price, different starts: earlier wins even with the higher id */
  book_slots(&b, 0, 0, 1, -8);
  match(&b, &o, &r);
  expect_gang(&r, 0, T0);
  sl_market_result_free(&r);
}

static void test_outranked_ranked(void **state) {
  (void)state;
  book b = {0};
  sl_market_order o = mk_order(2, 3);
  add_pool(&b, 1, 300, 8);
  add_pool(&b, 2, 100, 8);
  add_pool(&b, 3, 200, 8);
  add_pool(&b, 4, 150, 1); /* too small for the gang */
  sl_market_result r;
  match(&b, &o, &r);
  expect_gang(&r, 1, T0);
  expect_verdict(&r, 1, SL_WHY_CHOSEN, "rank 1");
  expect_verdict(&r, 2, SL_WHY_OUTRANKED, "rank 2");
  expect_verdict(&r, 0, SL_WHY_OUTRANKED, "rank 3");
  expect_verdict(&r, 3, SL_WHY_CAPACITY, "no start in window with 2 free GPUs (best: 1)");
  assert_int_equal(r.nranked, 3);
  assert_int_equal(r.ranked[0].pool, 1);
  assert_int_equal(r.ranked[1].pool, 2);
  assert_int_equal(r.ranked[2].pool, 0);
  assert_int_equal(r.ranked[2].total_minor, 2 * 3 * 300);
  assert_int_equal(r.gpus_filled, 2);
  assert_memory_equal(&r.pieces[0], &r.ranked[0], sizeof r.pieces[0]);
  sl_market_result_free(&r);
  assert_null(r.pieces);
  assert_null(r.verdicts);
}

/* ---------------------------------------------------------------------------------------- */
/* Budgets                                                                                  */

static void test_budget_gang(void **state) {
  (void)state;
  book b = {0};
  sl_market_order o = mk_order(16, 24);
  add_pool(&b, 1, 310, 16);
  add_pool(&b, 2, 250, 16);
  o.budget_hourly_minor = 4000; /* 16 x 3.10 = 49.60 > 40.00; 16 x 2.50 = 40.00 ok */
  sl_market_result r;
  match(&b, &o, &r);
  expect_gang(&r, 1, T0);
  sl_market_result_free(&r);
  b.p[0].price_minor = 100; /* now cheap, but the hourly budget was never the problem */
  b.p[1].price_minor = 310;
  match(&b, &o, &r);
  expect_verdict(&r, 1, SL_WHY_BUDGET, "hourly cost 49.60 > budget 40.00");
  expect_gang(&r, 0, T0);
  sl_market_result_free(&r);
  /* total: 16 x 24 x 2.50 = 960.00 */
  o.budget_hourly_minor = -1;
  o.budget_total_minor = 95999;
  b.p[0].price_minor = 250;
  b.n = 1;
  expect_single(&b, &o, SL_WHY_BUDGET, "total 960.00 > budget 959.99");
  o.budget_total_minor = 96000;
  expect_single(&b, &o, SL_WHY_CHOSEN, NULL);
  o.budget_total_minor = 0; /* a zero budget is a real cap, not "none" */
  expect_single(&b, &o, SL_WHY_BUDGET, "total 960.00 > budget 0.00");
  b.p[0].price_minor = 0;
  expect_single(&b, &o, SL_WHY_CHOSEN, NULL);
}

static void test_budget_split(void **state) {
  (void)state;
  book b = {0};
  sl_market_order o = mk_order(10, 2);
  o.split = true;
  o.max_pieces = 4;
  add_pool(&b, 1, 100, 6);
  add_pool(&b, 2, 200, 10);
  /* fill: 6 x 1.00 + 4 x 2.00 = 14.00 per hour, 28.00 in total */
  o.budget_hourly_minor = 1399;
  sl_market_result r;
  match(&b, &o, &r);
  assert_false(r.filled);
  assert_int_equal(r.npieces, 0);
  assert_int_equal(r.gpus_filled, 0);
  expect_verdict(&r, 0, SL_WHY_BUDGET,
                 "every full fill exceeds the hourly budget 13.99 (lowest: 14.00)");
  expect_verdict(&r, 1, SL_WHY_BUDGET, NULL);
  assert_int_equal(r.nranked, 2); /* ranked still lists what each pool could give */
  sl_market_result_free(&r);
  o.budget_hourly_minor = 1400;
  match(&b, &o, &r);
  assert_true(r.filled);
  sl_market_result_free(&r);
  o.budget_hourly_minor = -1;
  o.budget_total_minor = 2799;
  match(&b, &o, &r);
  assert_false(r.filled);
  expect_verdict(&r, 0, SL_WHY_BUDGET,
                 "every full fill exceeds the total budget 27.99 (lowest: 28.00)");
  sl_market_result_free(&r);
  o.budget_total_minor = 2800;
  match(&b, &o, &r);
  assert_true(r.filled);
  assert_int_equal(r.pieces[0].total_minor + r.pieces[1].total_minor, 2800);
  sl_market_result_free(&r);
  /* while the cheap pool is busy, 10 @ 2.00 fills above budget (40.00); a later start fits */
  book_slots(&b, 0, 0, 2, 6);
  o.budget_total_minor = 2800;
  match(&b, &o, &r);
  assert_true(r.filled);
  assert_int_equal(r.pieces[0].start, T0 + 2 * H);
  sl_market_result_free(&r);
}

/* ---------------------------------------------------------------------------------------- */
/* Split                                                                                    */

static void test_split_cheapest_combination(void **state) {
  (void)state;
  book b = {0};
  sl_market_order o = mk_order(10, 2);
  o.split = true;
  o.max_pieces = 3;
  add_pool(&b, 1, 100, 4);
  add_pool(&b, 2, 200, 8);
  add_pool(&b, 3, 150, 4);
  add_pool(&b, 4, 120, 0); /* never any capacity */
  add_pool(&b, 5, 500, 8);
  sl_market_result r;
  match(&b, &o, &r);
  assert_true(r.filled);
  assert_int_equal(r.gpus_filled, 10);
  assert_int_equal(r.npieces, 3);
  /* best key first: 4 @ 1.00, 4 @ 1.50, 2 @ 2.00 */
  assert_int_equal(r.pieces[0].pool, 0);
  assert_int_equal(r.pieces[0].gpus, 4);
  assert_int_equal(r.pieces[1].pool, 2);
  assert_int_equal(r.pieces[1].gpus, 4);
  assert_int_equal(r.pieces[2].pool, 1);
  assert_int_equal(r.pieces[2].gpus, 2);
  assert_int_equal(r.pieces[2].total_minor, 2 * 2 * 200);
  for (size_t i = 0; i < 3; i++) assert_int_equal(r.pieces[i].start, T0);
  expect_verdict(&r, 0, SL_WHY_CHOSEN, "4 GPUs, piece 1 of 3");
  expect_verdict(&r, 3, SL_WHY_CAPACITY, "no free GPU at any start in window");
  expect_verdict(&r, 4, SL_WHY_OUTRANKED, "rank 4");
  /* ranked: every statically-ok pool with capacity at its earliest start */
  assert_int_equal(r.nranked, 4);
  assert_int_equal(r.ranked[0].pool, 0);
  assert_int_equal(r.ranked[3].pool, 4);
  assert_int_equal(r.ranked[3].gpus, 8);
  sl_market_result_free(&r);
}

static void test_split_max_pieces(void **state) {
  (void)state;
  book b = {0};
  sl_market_order o = mk_order(10, 2);
  o.split = true;
  add_pool(&b, 1, 100, 4);
  add_pool(&b, 2, 200, 6);
  add_pool(&b, 3, 150, 4);
  sl_market_result r;
  /* two pieces: greedy (4 @ 1.00 + 4 @ 1.50) falls short; 4 @ 1.00 + 6 @ 2.00 fills */
  o.max_pieces = 2;
  match(&b, &o, &r);
  assert_true(r.filled);
  assert_int_equal(r.npieces, 2);
  assert_int_equal(r.pieces[0].pool, 0);
  assert_int_equal(r.pieces[0].gpus, 4);
  assert_int_equal(r.pieces[1].pool, 1);
  assert_int_equal(r.pieces[1].gpus, 6);
  expect_verdict(&r, 2, SL_WHY_OUTRANKED, "rank 2");
  sl_market_result_free(&r);
  /* one piece: no pool has 10 */
  o.max_pieces = 1;
  match(&b, &o, &r);
  assert_false(r.filled);
  assert_int_equal(r.npieces, 0);
  assert_int_equal(r.gpus_filled, 6);
  expect_verdict(&r, 0, SL_WHY_CAPACITY,
                 "no start in window gathers 10 GPUs (best: 6 in at most 1 pools)");
  sl_market_result_free(&r);
  /* gang semantics for comparison: also nothing */
  o.split = false;
  match(&b, &o, &r);
  assert_false(r.filled);
  sl_market_result_free(&r);
}

static void test_split_not_filled(void **state) {
  (void)state;
  book b = {0};
  sl_market_order o = mk_order(16, 4);
  o.split = true;
  o.max_pieces = 8;
  add_pool(&b, 1, 100, 5);
  add_pool(&b, 2, 100, 6);
  add_pool(&b, 3, 100, 0);
  book_slots(&b, 1, 20, 21, 6); /* pool 2 busy at slot 20 */
  book_slots(&b, 0, 0, 20, 5);  /* pool 1 busy before slot 20 */
  /* starts 0..16: only pool 2 (6); starts 17..20 hit slot 20 for pool 2 and slots < 20 for
   * pool 1; starts >= 21: 5 + 6 = 11 */
  sl_market_result r;
  match(&b, &o, &r);
  assert_false(r.filled);
  assert_int_equal(r.npieces, 0);
  assert_int_equal(r.gpus_filled, 11);
  expect_verdict(&r, 0, SL_WHY_CAPACITY,
                 "no start in window gathers 16 GPUs (best: 11 in at most 8 pools)");
  expect_verdict(&r, 2, SL_WHY_CAPACITY,
                 "no free GPU at any start in window (best start gathers 11 of 16)");
  assert_int_equal(r.nranked, 2);
  assert_int_equal(r.ranked[0].pool, 1); /* earliest start (0) first at equal price */
  assert_int_equal(r.ranked[0].gpus, 6);
  assert_int_equal(r.ranked[1].pool, 0);
  assert_int_equal(r.ranked[1].start, T0 + 20 * H);
  sl_market_result_free(&r);
}

/* The split score compares whole fills across starts: a cheaper later start wins, an equal
 * score goes to the earliest start. */
static void test_split_start_choice(void **state) {
  (void)state;
  book b = {0};
  sl_market_order o = mk_order(8, 2);
  o.split = true;
  o.max_pieces = 2;
  add_pool(&b, 1, 100, 4);
  add_pool(&b, 2, 300, 8);
  add_pool(&b, 3, 120, 4);
  book_slots(&b, 2, 0, 5, 4); /* pool 3 from slot 5 */
  sl_market_result r;
  match(&b, &o, &r);
  assert_true(r.filled);
  assert_int_equal(r.pieces[0].start, T0 + 5 * H); /* 4@1.00 + 4@1.20 beats 4@1.00 + 4@3.00 */
  assert_int_equal(r.pieces[1].pool, 2);
  expect_verdict(&r, 1, SL_WHY_OUTRANKED, "rank 3");
  sl_market_result_free(&r);
  b.p[2].price_minor = 300; /* same score as at start 0: the earliest wins */
  match(&b, &o, &r);
  assert_int_equal(r.pieces[0].start, T0);
  assert_int_equal(r.pieces[1].pool, 1);
  expect_verdict(&r, 2, SL_WHY_OUTRANKED, "rank 3; no free GPU at the chosen start");
  sl_market_result_free(&r);
}

/* A repaired fill may keep a cheap small piece that forces a dear big one (12 GPUs in 2
 * pieces: 2@0.10 leaves 10 that only the 10@1.00 pool covers); the exact fill takes the two
 * 6@0.20 pools instead.  With a third piece the plain greedy fill succeeds and is optimal. */
static void test_split_exact_fill(void **state) {
  (void)state;
  book b = {0};
  sl_market_order o = mk_order(12, 1);
  o.split = true;
  o.max_pieces = 2;
  add_pool(&b, 1, 10, 2);
  add_pool(&b, 2, 20, 6);
  add_pool(&b, 3, 20, 6);
  add_pool(&b, 4, 100, 10);
  sl_market_result r;
  match(&b, &o, &r);
  assert_true(r.filled);
  assert_int_equal(r.npieces, 2);
  assert_int_equal(b.p[r.pieces[0].pool].id, 2);
  assert_int_equal(r.pieces[0].gpus, 6);
  assert_int_equal(b.p[r.pieces[1].pool].id, 3);
  assert_int_equal(r.pieces[1].gpus, 6);
  expect_verdict(&r, 0, SL_WHY_OUTRANKED, "rank 1");
  expect_verdict(&r, 3, SL_WHY_OUTRANKED, "rank 4");
  sl_market_result_free(&r);
  o.max_pieces = 3; /* 2@0.10 + 6@0.20 + 4@0.20 */
  match(&b, &o, &r);
  assert_int_equal(r.npieces, 3);
  assert_int_equal(b.p[r.pieces[0].pool].id, 1);
  assert_int_equal(r.pieces[2].gpus, 4);
  sl_market_result_free(&r);
}

static void test_split_latency(void **state) {
  (void)state;
  book b = {0};
  sl_market_order o = mk_order(6, 1);
  o.split = true;
  o.max_pieces = 3;
  o.has_origin = true;
  o.objective = SL_OBJ_LOWEST_LATENCY;
  add_pool(&b, 1, 100, 4)->rtt_us = 90000;
  add_pool(&b, 2, 300, 4)->rtt_us = 5000;
  add_pool(&b, 3, 50, 4)->rtt_us = -1;
  sl_market_result r;
  match(&b, &o, &r);
  assert_true(r.filled);
  assert_int_equal(r.npieces, 2);
  assert_int_equal(r.pieces[0].pool, 1);
  assert_int_equal(r.pieces[0].gpus, 4);
  assert_int_equal(r.pieces[1].pool, 0);
  assert_int_equal(r.pieces[1].gpus, 2);
  expect_verdict(&r, 2, SL_WHY_OUTRANKED, NULL);
  sl_market_result_free(&r);
}

/* ---------------------------------------------------------------------------------------- */
/* Overflow                                                                                 */

static void test_overflow(void **state) {
  (void)state;
  book b = {0};
  sl_market_order o = mk_order(1000, 48);
  o.split = true;
  o.max_pieces = 2;
  o.objective = SL_OBJ_TRADEOFF;
  o.has_origin = true;
  o.money_per_ms_minor = INT64_MAX;
  add_pool(&b, 1, INT64_MAX / 1000, 1000); /* 1000 x 48 x price overflows */
  add_pool(&b, 2, INT64_MAX / 48000, 600); /* exactly fits */
  add_pool(&b, 3, INT64_MAX / 48000, 600)->rtt_us = 1;
  sl_market_result r;
  match(&b, &o, &r);
  expect_verdict(&r, 0, SL_WHY_PRICE, "total overflows");
  assert_true(r.filled);
  /* both keys saturate at INT64_MAX: the tie goes to the lower id */
  assert_int_equal(r.pieces[0].pool, 1);
  assert_int_equal(r.pieces[0].gpus, 600);
  assert_int_equal(r.pieces[1].gpus, 400);
  assert_int_equal(r.pieces[0].total_minor, 600 * 48 * (INT64_MAX / 48000));
  sl_market_result_free(&r);
  /* a budget compares the 128-bit sum: never wraps into "within budget" */
  o.budget_total_minor = INT64_MAX;
  match(&b, &o, &r);
  assert_true(r.filled);
  sl_market_result_free(&r);
  o.budget_hourly_minor = 1000 * (INT64_MAX / 48000) - 1;
  match(&b, &o, &r);
  assert_false(r.filled);
  expect_verdict(&r, 1, SL_WHY_BUDGET, NULL);
  sl_market_result_free(&r);
  /* max price per NCU: price * 1000 and max * ncu in 128 bits */
  o = mk_order(1, 1);
  o.max_ncu_price_minor = INT64_MAX;
  b.p[0].ncu_milli = INT64_MAX;
  b.n = 1;
  expect_single(&b, &o, SL_WHY_CHOSEN, NULL);
  b.p[0].ncu_milli = 1;
  o.max_ncu_price_minor = INT64_MAX / 1000 - 1;
  expect_single(&b, &o, SL_WHY_PRICE, NULL);
}

/* ---------------------------------------------------------------------------------------- */
/* Arguments                                                                                */

static void expect_invalid(const book *b, const sl_market_order *o, int64_t ws, size_t ns,
                           const char *what) {
  sl_market_result r;
  memset(&r, 0x5a, sizeof r);
  if (sl_market_match(o, b->p, b->n, ws, ns, &r)) {
    sl_market_result_free(&r);
    fail_msg("accepted: %s", what);
  }
  if (r.pieces || r.ranked || r.verdicts || r.npieces || r.nranked || r.filled || r.gpus_filled)
    fail_msg("result not empty after rejecting: %s", what);
}

static void test_invalid_arguments(void **state) {
  (void)state;
  book b = {0};
  add_pool(&b, 1, 100, 8);
  const sl_market_order good = mk_order(4, 4);
  sl_market_result r;
  assert_true(sl_market_match(&good, b.p, b.n, T0, NS, &r));
  sl_market_result_free(&r);
  assert_false(sl_market_match(&good, b.p, b.n, T0, NS, NULL));
  expect_invalid(&b, NULL, T0, NS, "no order");
  sl_market_order o;
#define BAD(stmt, what)                                                                            \
  do {                                                                                             \
    o = good;                                                                                      \
    stmt;                                                                                          \
    expect_invalid(&b, &o, T0, NS, what);                                                          \
  } while (0)
  BAD(o.gpus = 0, "gpus 0");
  BAD(o.gpus = -1, "gpus -1");
  BAD(o.duration_slots = 0, "duration 0");
  BAD(o.earliest_start += 1, "earliest unaligned");
  BAD(o.latest_start -= 60, "latest unaligned");
  BAD((o.earliest_start = T0 + 5 * H, o.latest_start = T0 + 4 * H), "earliest > latest");
  BAD(o.earliest_start = T0 - H, "earliest before the window");
  BAD(o.latest_start += H, "latest + duration past the window");
  BAD(o.latest_start = INT64_MAX - 7 * H - (INT64_MAX - 7 * H) % H, "latest near INT64_MAX");
  BAD((o.split = true, o.max_pieces = 0), "split with max_pieces 0");
  BAD(o.objective = (sl_market_objective)7, "objective");
  BAD((o.objective = SL_OBJ_TRADEOFF, o.money_per_ms_minor = -1), "negative money per ms");
  BAD(o.intra = (sl_market_intra)42, "intra");
  BAD(o.min_inter = (sl_market_inter)-1, "min_inter");
  BAD(o.n_accelerators = 1, "accelerators NULL with a count");
  BAD(o.n_regions = 2, "regions NULL with a count");
  BAD(o.n_excluded = 1, "excluded NULL with a count");
  static const char *const holes[] = {"us-east-1", NULL};
  BAD((o.regions = holes, o.n_regions = 2), "NULL region name");
#undef BAD
  o = good;
  expect_invalid(&b, &o, T0 + 1, NS, "window_start unaligned");
  expect_invalid(&b, &o, T0, NS - 1, "window too short");
  expect_invalid(&b, &o, T0, 0, "no slots");
  expect_invalid(&b, &o, T0, SIZE_MAX, "slot count overflows");
  {
    sl_market_result r2;
    assert_false(sl_market_match(&o, NULL, 1, T0, NS, &r2));
  }
  b.p[0].free = NULL;
  expect_invalid(&b, &o, T0, NS, "free NULL");
  b.p[0].free = b.fr[0];
  b.p[0].region = NULL;
  expect_invalid(&b, &o, T0, NS, "pool region NULL");
  b.p[0].region = "us-east-1";
  b.p[0].price_minor = -1;
  expect_invalid(&b, &o, T0, NS, "negative price");
  b.p[0].price_minor = 100;
  /* the window may end exactly at latest + duration; no pools is not an error */
  assert_true(sl_market_match(&o, b.p, 1, T0, NS, &r));
  sl_market_result_free(&r);
  assert_true(sl_market_match(&o, NULL, 0, T0, NS, &r));
  assert_false(r.filled);
  assert_int_equal(r.npieces, 0);
  assert_int_equal(r.nranked, 0);
  sl_market_result_free(&r);
  sl_market_result_free(NULL);
}

/* ---------------------------------------------------------------------------------------- */
/* Randomized: property checks against a brute force, and determinism                       */

static uint64_t rng_state;
static uint64_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}
static int64_t rnd_in(int64_t lo, int64_t hi) {
  return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

static const char *const R_REGIONS[] = {"us-east-1", "eu-west-1", "ap-south-1", "cn-west-1"};
static const char *const R_MODELS[] = {"H100-SXM", "A100-80GB-SXM", "L4-PCIe", "MI300X"};

static bool in_strs(const char *s, const char *const *l, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(s, l[i]) == 0) return true;
  return false;
}

/* The hourly cost of filling `need` GPUs from the pools in `mask` (cap[i] GPUs at price[i]),
 * the cheapest first, each to its cap; -1 when they cannot cover it. */
static int64_t subset_cost(const int64_t *price, const int64_t *cap, size_t n, unsigned mask,
                           int64_t need) {
  bool taken[MAXP] = {0};
  int64_t cost = 0;
  while (need > 0) {
    int bi = -1;
    for (size_t i = 0; i < n; i++)
      if ((mask >> i & 1) && !taken[i] && cap[i] > 0 && (bi < 0 || price[i] < price[bi]))
        bi = (int)i;
    if (bi < 0) return -1;
    taken[bi] = true;
    int64_t g = cap[bi] < need ? cap[bi] : need;
    cost += g * price[bi];
    need -= g;
  }
  return cost;
}

/* Independent restatement of the static checks. */
static bool brute_static(const sl_market_order *o, const sl_market_pool *p) {
  if (!p->active || p->down) return false;
  if (o->n_accelerators && !in_strs(p->accelerator, o->accelerators, o->n_accelerators))
    return false;
  if (o->min_memory_gb >= 0 && (p->memory_gb < 0 || p->memory_gb < o->min_memory_gb)) return false;
  if (o->min_ncu_milli >= 0 && (p->ncu_milli < 0 || p->ncu_milli < o->min_ncu_milli)) return false;
  if (o->intra != SL_INTRA_ANY && p->intra != o->intra) return false;
  if ((int)p->inter < (int)o->min_inter || p->inter_gbps < o->min_inter_gbps) return false;
  if (o->n_regions && !in_strs(p->region, o->regions, o->n_regions)) return false;
  if (in_strs(p->region, o->excluded, o->n_excluded)) return false;
  if (o->has_origin && o->max_rtt_us >= 0 && (p->rtt_us < 0 || p->rtt_us > o->max_rtt_us))
    return false;
  if (o->max_price_minor >= 0 && p->price_minor > o->max_price_minor) return false;
  if (o->max_ncu_price_minor >= 0 &&
      (p->ncu_milli < 0 || p->price_minor * 1000 > o->max_ncu_price_minor * p->ncu_milli))
    return false;
  return true;
}

/* Free GPUs of p over [s, s + d) inside its availability, by brute force; -1 if outside. */
static int32_t brute_cap(const sl_market_order *o, const sl_market_pool *p, int64_t s) {
  int64_t e = s + o->duration_slots * H;
  if (s < p->avail_from || e > p->avail_until) return -1;
  int32_t m = INT32_MAX;
  for (int64_t t = s; t < e; t += H) {
    int32_t f = p->free[(t - T0) / H];
    if (f < m) m = f;
  }
  return m < 0 ? 0 : m;
}

typedef struct {
  book b;
  sl_market_order o;
  const char *allowed[2], *excluded[1], *models[2];
  size_t nslots;
} rcase;

static void random_case(rcase *c) {
  memset(c, 0, sizeof *c);
  size_t np = (size_t)rnd_in(1, 9);
  c->nslots = (size_t)rnd_in(1, 30);
  int32_t dur = (int32_t)rnd_in(1, (int64_t)(c->nslots + 1) / 2);
  sl_market_order o = mk_order((int32_t)rnd_in(1, 9), dur);
  int64_t maxfirst = (int64_t)c->nslots - dur;
  int64_t e = rnd_in(0, maxfirst), l = rnd_in(e, maxfirst);
  o.earliest_start = T0 + e * H;
  o.latest_start = T0 + l * H;
  o.split = rnd() % 2;
  o.max_pieces = (int32_t)rnd_in(1, 4);
  o.objective = (sl_market_objective)rnd_in(0, 2);
  o.has_origin = rnd() % 3 != 0;
  o.money_per_ms_minor = rnd_in(0, 5);
  if (rnd() % 10 == 0) o.max_rtt_us = rnd_in(0, 100000);
  if (rnd() % 10 == 0) o.max_price_minor = rnd_in(50, 400);
  if (rnd() % 10 == 0) o.max_ncu_price_minor = rnd_in(100, 500);
  if (rnd() % 10 == 0) o.min_memory_gb = (int32_t)rnd_in(16, 96);
  if (rnd() % 10 == 0) o.min_ncu_milli = rnd_in(200, 1200);
  if (rnd() % 10 == 0) o.intra = (sl_market_intra)rnd_in(1, 2);
  if (rnd() % 10 == 0) o.min_inter = (sl_market_inter)rnd_in(1, 3);
  if (rnd() % 10 == 0) o.min_inter_gbps = (int32_t)rnd_in(100, 400);
  if (rnd() % 4 == 0) o.budget_hourly_minor = rnd_in(0, 3000);
  if (rnd() % 4 == 0) o.budget_total_minor = rnd_in(0, 40000);
  if (rnd() % 5 == 0) {
    c->allowed[0] = R_REGIONS[rnd() % 4];
    c->allowed[1] = R_REGIONS[rnd() % 4];
    o.regions = c->allowed;
    o.n_regions = 2;
  }
  if (rnd() % 5 == 0) {
    c->excluded[0] = R_REGIONS[rnd() % 4];
    o.excluded = c->excluded;
    o.n_excluded = 1;
  }
  if (rnd() % 5 == 0) {
    c->models[0] = R_MODELS[rnd() % 4];
    c->models[1] = R_MODELS[rnd() % 4];
    o.accelerators = c->models;
    o.n_accelerators = 2;
  }
  c->o = o;
  /* ids: a random permutation-ish of distinct values */
  int64_t base = rnd_in(1, 1000), ids[MAXP];
  for (size_t i = 0; i < np; i++) ids[i] = base + (int64_t)i * 3;
  for (size_t i = np; i > 1; i--) {
    size_t j = (size_t)(rnd() % i);
    int64_t t = ids[i - 1];
    ids[i - 1] = ids[j];
    ids[j] = t;
  }
  for (size_t i = 0; i < np; i++) {
    sl_market_pool *p = add_pool(&c->b, ids[i], rnd_in(0, 5) * 50 + 50, 0);
    int32_t hi = (int32_t)rnd_in(1, 10), lo = (int32_t)rnd_in(0, hi);
    for (size_t s = 0; s < NS; s++) c->b.fr[i][s] = rnd() % 4 ? hi : (int32_t)rnd_in(0, lo);
    if (rnd() % 3 == 0) {
      int64_t f = rnd_in(-2, (int64_t)c->nslots), u = rnd_in(f, (int64_t)c->nslots + 2);
      p->avail_from = T0 + f * H + (rnd() % 4 == 0 ? 1800 : 0);
      p->avail_until = T0 + u * H;
    }
    p->active = rnd() % 10 != 0;
    p->down = rnd() % 10 == 0;
    p->rtt_us = rnd() % 5 == 0 ? -1 : rnd_in(0, 120) * 1000;
    p->region = R_REGIONS[rnd() % 4];
    p->accelerator = R_MODELS[rnd() % 4];
    p->memory_gb = rnd() % 6 == 0 ? -1 : (int32_t)rnd_in(16, 96);
    p->ncu_milli = rnd() % 6 == 0 ? -1 : rnd_in(100, 1300);
    p->intra = (sl_market_intra)rnd_in(1, 2);
    p->inter = (sl_market_inter)rnd_in(0, 3);
    p->inter_gbps = (int32_t)rnd_in(0, 4) * 100;
  }
}

static void check_properties(const rcase *c, const sl_market_result *r, size_t caseno) {
  const sl_market_order *o = &c->o;
  const book *b = &c->b;
  int32_t sum = 0;
  __int128 hourly = 0, total = 0;
  bool used[MAXP] = {0};
  for (size_t k = 0; k < r->npieces; k++) {
    const sl_market_piece *pc = &r->pieces[k];
    if (pc->pool >= b->n) fail_msg("case %zu: piece pool out of range", caseno);
    const sl_market_pool *p = &b->p[pc->pool];
    if (used[pc->pool]) fail_msg("case %zu: pool used twice", caseno);
    used[pc->pool] = true;
    if (!brute_static(o, p)) fail_msg("case %zu: piece violates a static constraint", caseno);
    if (pc->start % H || pc->start < o->earliest_start || pc->start > o->latest_start)
      fail_msg("case %zu: bad start", caseno);
    if (pc->gpus < 1 || brute_cap(o, p, pc->start) < pc->gpus)
      fail_msg("case %zu: piece takes more than free (pool %zu, %d GPUs, cap %d)", caseno, pc->pool,
               pc->gpus, brute_cap(o, p, pc->start));
    if (pc->unit_price_minor != p->price_minor ||
        pc->total_minor != (int64_t)pc->gpus * o->duration_slots * p->price_minor)
      fail_msg("case %zu: piece price/total", caseno);
    if (r->verdicts[pc->pool].why != SL_WHY_CHOSEN) fail_msg("case %zu: piece not CHOSEN", caseno);
    sum += pc->gpus;
    hourly += (__int128)pc->gpus * p->price_minor;
    total += pc->total_minor;
  }
  for (size_t i = 0; i < b->n; i++)
    if (!used[i] && r->verdicts[i].why == SL_WHY_CHOSEN)
      fail_msg("case %zu: pool %zu CHOSEN without a piece", caseno, i);
  if (r->filled) {
    if (sum != o->gpus) fail_msg("case %zu: filled %d of %d", caseno, sum, o->gpus);
    if (r->gpus_filled != o->gpus) fail_msg("case %zu: gpus_filled", caseno);
    if (!o->split && r->npieces != 1) fail_msg("case %zu: gang in %zu pieces", caseno, r->npieces);
    if (o->split && r->npieces > (size_t)o->max_pieces)
      fail_msg("case %zu: too many pieces", caseno);
    if (o->budget_hourly_minor >= 0 && hourly > o->budget_hourly_minor)
      fail_msg("case %zu: hourly budget broken", caseno);
    if (o->budget_total_minor >= 0 && total > o->budget_total_minor)
      fail_msg("case %zu: total budget broken", caseno);
  } else if (r->npieces != 0) {
    fail_msg("case %zu: partial fill", caseno);
  }
  /* verdicts: the static part matches the brute force */
  for (size_t i = 0; i < b->n; i++) {
    bool st = r->verdicts[i].why == SL_WHY_CHOSEN || r->verdicts[i].why >= SL_WHY_CAPACITY;
    if (st != brute_static(o, &b->p[i]))
      fail_msg("case %zu: pool %zu static verdict %s (%s)", caseno, i,
               sl_market_why_name(r->verdicts[i].why), r->verdicts[i].detail);
    if (r->verdicts[i].detail[0] == '\0') fail_msg("case %zu: empty detail", caseno);
  }
  /* ranked entries are feasible */
  for (size_t k = 0; k < r->nranked; k++) {
    const sl_market_piece *pc = &r->ranked[k];
    if (brute_cap(o, &b->p[pc->pool], pc->start) < pc->gpus || pc->gpus < 1)
      fail_msg("case %zu: ranked entry infeasible", caseno);
  }

  if (!o->split) {
    /* brute force: every feasible pool at its earliest start, within budget */
    int best = -1;
    int64_t best_start = 0;
    size_t nfeas = 0;
    for (size_t i = 0; i < b->n; i++) {
      const sl_market_pool *p = &b->p[i];
      if (!brute_static(o, p)) continue;
      int64_t s = o->earliest_start;
      for (; s <= o->latest_start; s += H)
        if (brute_cap(o, p, s) >= o->gpus) break;
      if (s > o->latest_start) {
        if (r->verdicts[i].why != SL_WHY_CAPACITY) fail_msg("case %zu: want CAPACITY", caseno);
        continue;
      }
      if ((o->budget_hourly_minor >= 0 && o->gpus * p->price_minor > o->budget_hourly_minor) ||
          (o->budget_total_minor >= 0 &&
           o->gpus * o->duration_slots * p->price_minor > o->budget_total_minor)) {
        if (r->verdicts[i].why != SL_WHY_BUDGET) fail_msg("case %zu: want BUDGET", caseno);
        continue;
      }
      nfeas++;
      if (r->verdicts[i].why != SL_WHY_CHOSEN && r->verdicts[i].why != SL_WHY_OUTRANKED)
        fail_msg("case %zu: feasible pool %zu got %s", caseno, i,
                 sl_market_why_name(r->verdicts[i].why));
      if (o->objective == SL_OBJ_CHEAPEST) {
        const sl_market_pool *q = best < 0 ? NULL : &b->p[best];
        if (!q || p->price_minor < q->price_minor ||
            (p->price_minor == q->price_minor &&
             (s < best_start || (s == best_start && p->id < q->id)))) {
          best = (int)i;
          best_start = s;
        }
      }
    }
    if (r->filled != (nfeas > 0) || r->nranked != nfeas)
      fail_msg("case %zu: gang filled=%d nranked=%zu, brute force finds %zu", caseno, r->filled,
               r->nranked, nfeas);
    if (best >= 0 && (r->pieces[0].pool != (size_t)best || r->pieces[0].start != best_start))
      fail_msg("case %zu: cheapest gang chose pool %zu, brute force %d", caseno, r->pieces[0].pool,
               best);
    if (best >= 0)
      for (size_t i = 0; i < b->n; i++)
        if (r->verdicts[i].why == SL_WHY_OUTRANKED && b->p[i].price_minor < b->p[best].price_minor)
          fail_msg("case %zu: an outranked pool is strictly cheaper", caseno);
  } else if (o->budget_hourly_minor < 0 && o->budget_total_minor < 0) {
    /* no budget: filled iff some start's max_pieces largest caps cover the order */
    int64_t most = 0;
    for (int64_t s = o->earliest_start; s <= o->latest_start; s += H) {
      int32_t caps[MAXP];
      size_t n = 0;
      for (size_t i = 0; i < b->n; i++)
        if (brute_static(o, &b->p[i])) {
          int32_t cp = brute_cap(o, &b->p[i], s);
          if (cp > 0) caps[n++] = cp;
        }
      for (size_t x = 0; x < n; x++) /* sort descending */
        for (size_t y = x + 1; y < n; y++)
          if (caps[y] > caps[x]) {
            int32_t t = caps[x];
            caps[x] = caps[y];
            caps[y] = t;
          }
      int64_t top = 0;
      for (size_t x = 0; x < n && x < (size_t)o->max_pieces; x++) top += caps[x];
      if (top > most) most = top;
    }
    if (r->filled != (most >= o->gpus))
      fail_msg("case %zu: split filled=%d, brute force gathers %lld of %d", caseno, r->filled,
               (long long)most, o->gpus);
    if (!r->filled && r->gpus_filled != most)
      fail_msg("case %zu: gpus_filled %d, want %lld", caseno, r->gpus_filled, (long long)most);
    /* cheapest: the chosen fill costs the least any fill of at most max_pieces pools at one
     * start costs (every subset of pools; in a subset, the cheapest first to their caps) */
    if (r->filled && r->gpus_filled == o->gpus && o->objective == SL_OBJ_CHEAPEST) {
      int64_t bestc = -1, price[MAXP], cap[MAXP];
      for (int64_t s = o->earliest_start; s <= o->latest_start; s += H) {
        for (size_t i = 0; i < b->n; i++) {
          price[i] = b->p[i].price_minor;
          cap[i] = brute_static(o, &b->p[i]) ? brute_cap(o, &b->p[i], s) : 0;
        }
        for (unsigned mask = 1; mask < (1u << b->n); mask++) {
          if (__builtin_popcount(mask) > o->max_pieces) continue;
          int64_t cost = subset_cost(price, cap, b->n, mask, o->gpus);
          if (cost >= 0 && (bestc < 0 || cost < bestc)) bestc = cost;
        }
      }
      if (hourly != bestc)
        fail_msg("case %zu: split cheapest cost %lld, brute force %lld", caseno, (long long)hourly,
                 (long long)bestc);
    }
  }
}

/* The result, keyed by pool id so that input order does not matter. */
static void expect_same_by_id(const rcase *c, const sl_market_pool *shuffled,
                              const sl_market_result *a, const sl_market_result *s, size_t caseno) {
  if (a->filled != s->filled || a->npieces != s->npieces || a->nranked != s->nranked ||
      a->gpus_filled != s->gpus_filled)
    fail_msg("case %zu: shuffled input changes the result shape", caseno);
  for (size_t k = 0; k < a->npieces; k++)
    if (c->b.p[a->pieces[k].pool].id != shuffled[s->pieces[k].pool].id ||
        a->pieces[k].start != s->pieces[k].start || a->pieces[k].gpus != s->pieces[k].gpus)
      fail_msg("case %zu: shuffled input changes piece %zu", caseno, k);
  for (size_t k = 0; k < a->nranked; k++)
    if (c->b.p[a->ranked[k].pool].id != shuffled[s->ranked[k].pool].id ||
        a->ranked[k].start != s->ranked[k].start)
      fail_msg("case %zu: shuffled input changes ranked %zu", caseno, k);
  for (size_t i = 0; i < c->b.n; i++)
    for (size_t j = 0; j < c->b.n; j++)
      if (shuffled[j].id == c->b.p[i].id &&
          (a->verdicts[i].why != s->verdicts[j].why ||
           strcmp(a->verdicts[i].detail, s->verdicts[j].detail) != 0))
        fail_msg("case %zu: shuffled input changes the verdict of id %lld", caseno,
                 (long long)c->b.p[i].id);
}

static void test_random_properties(void **state) {
  (void)state;
  static rcase c;
  rng_state = 0x9e3779b97f4a7c15ull;
  for (size_t n = 0; n < 3000; n++) { /* ~20 ms; fewer cases miss the repair pass */
    random_case(&c);
    sl_market_result r, s;
    if (!sl_market_match(&c.o, c.b.p, c.b.n, T0, c.nslots, &r))
      fail_msg("case %zu: rejected valid arguments", n);
    check_properties(&c, &r, n);
    /* determinism: the same input twice, and a shuffled copy */
    sl_market_pool sh[MAXP];
    memcpy(sh, c.b.p, c.b.n * sizeof sh[0]);
    for (size_t i = c.b.n; i > 1; i--) {
      size_t j = (size_t)(rnd() % i);
      sl_market_pool t = sh[i - 1];
      sh[i - 1] = sh[j];
      sh[j] = t;
    }
    assert_true(sl_market_match(&c.o, c.b.p, c.b.n, T0, c.nslots, &s));
    expect_same_by_id(&c, c.b.p, &r, &s, n);
    sl_market_result_free(&s);
    assert_true(sl_market_match(&c.o, sh, c.b.n, T0, c.nslots, &s));
    expect_same_by_id(&c, sh, &r, &s, n);
    sl_market_result_free(&s);
    sl_market_result_free(&r);
  }
}

/* Split CHEAPEST with a binding piece limit, one start: the fill costs exactly the least
 * any set of at most max_pieces pools costs (brute force over every subset), covers the order
 * exactly, and uses at most max_pieces pools, each within its free GPUs. */
static void test_split_exact_random(void **state) {
  (void)state;
  rng_state = 0x5eed15u;
  size_t exact = 0;
  for (size_t n = 0; n < 4000; n++) {
    book b = {0};
    size_t np = (size_t)rnd_in(2, 10);
    for (size_t i = 0; i < np; i++)
      add_pool(&b, (int64_t)i + 1, rnd_in(1, 30), (int32_t)rnd_in(0, 12));
    sl_market_order o = fx_order((int32_t)rnd_in(2, 40), 1, T0, T0);
    o.split = true;
    o.max_pieces = (int32_t)rnd_in(1, 4);
    int64_t best = -1, price[MAXP], cap[MAXP];
    for (size_t i = 0; i < np; i++) {
      price[i] = b.p[i].price_minor;
      cap[i] = b.fr[i][0];
    }
    for (unsigned mask = 1; mask < (1u << np); mask++) {
      if (__builtin_popcount(mask) > o.max_pieces) continue;
      int64_t cost = subset_cost(price, cap, np, mask, o.gpus);
      if (cost >= 0 && (best < 0 || cost < best)) best = cost;
    }
    sl_market_result r;
    assert_true(sl_market_match(&o, b.p, b.n, T0, NS, &r));
    if (r.filled != (best >= 0))
      fail_msg("case %zu: filled=%d, brute force %lld", n, r.filled, (long long)best);
    int64_t cost = 0, got = 0;
    for (size_t k = 0; k < r.npieces; k++) {
      if (r.pieces[k].gpus < 1 || r.pieces[k].gpus > b.fr[r.pieces[k].pool][0])
        fail_msg("case %zu: piece %zu takes %d GPUs", n, k, r.pieces[k].gpus);
      cost += (int64_t)r.pieces[k].gpus * b.p[r.pieces[k].pool].price_minor;
      got += r.pieces[k].gpus;
    }
    if (r.filled && (cost != best || got != o.gpus || r.npieces > (size_t)o.max_pieces))
      fail_msg("case %zu: %zu pieces, %lld GPUs at %lld; brute force %lld", n, r.npieces,
               (long long)got, (long long)cost, (long long)best);
    exact += r.filled;
    sl_market_result_free(&r);
  }
  assert_true(exact > 1000); /* the cases fill often enough to mean something */
}

/* Hand-made determinism case: equal prices everywhere, every permutation of 4 pools. */
static void test_determinism_permutations(void **state) {
  (void)state;
  book b = {0};
  sl_market_order o = mk_order(6, 2);
  o.split = true;
  o.max_pieces = 2;
  add_pool(&b, 40, 100, 3);
  add_pool(&b, 10, 100, 3);
  add_pool(&b, 30, 100, 3);
  add_pool(&b, 20, 100, 3);
  static const int perms[][4] = {{0, 1, 2, 3}, {3, 2, 1, 0}, {1, 3, 0, 2}, {2, 0, 3, 1}};
  for (size_t k = 0; k < 4; k++) {
    sl_market_pool sh[4];
    for (size_t i = 0; i < 4; i++) sh[i] = b.p[perms[k][i]];
    sl_market_result r;
    assert_true(sl_market_match(&o, sh, 4, T0, NS, &r));
    assert_true(r.filled);
    assert_int_equal(sh[r.pieces[0].pool].id, 10);
    assert_int_equal(sh[r.pieces[1].pool].id, 20);
    sl_market_result_free(&r);
    o.split = false;
    o.gpus = 3;
    assert_true(sl_market_match(&o, sh, 4, T0, NS, &r));
    assert_int_equal(sh[r.pieces[0].pool].id, 10);
    sl_market_result_free(&r);
    o.split = true;
    o.gpus = 6;
  }
}

/* ---------------------------------------------------------------------------------------- */
/* The distance of a miss and the nearest-miss order (issue 15; src/market/README.md)        */

/* The gap of the last pool's verdict when matched with the others of b. */
static int64_t gap_of(book *b, const sl_market_order *o, sl_market_why why) {
  sl_market_result r;
  match(b, o, &r);
  expect_verdict(&r, b->n - 1, why, NULL);
  int64_t g = r.verdicts[b->n - 1].gap;
  sl_market_result_free(&r);
  return g;
}

static void test_gaps_of_each_reason(void **state) {
  (void)state;
  book b = {.n = 0};
  sl_market_order o = mk_order(4, 2);
  sl_market_pool *p = add_pool(&b, 1, 150, 8);

  o.max_price_minor = 100; /* PRICE per GPU-hour: 1.50 - 1.00 */
  assert_int_equal(gap_of(&b, &o, SL_WHY_PRICE), 50);
  o.max_price_minor = -1; /* per NCU-hour: 1 NCU at most 0.60 allows 0.60 per GPU-hour */
  o.max_ncu_price_minor = 60;
  assert_int_equal(gap_of(&b, &o, SL_WHY_PRICE), 90);
  p->ncu_milli = 999; /* 0.60 * 0.999 = 0.5994 allowed: 0.9006 above, rounded up */
  assert_int_equal(gap_of(&b, &o, SL_WHY_PRICE), 91);
  p->ncu_milli = -1; /* unrated: no distance */
  assert_int_equal(gap_of(&b, &o, SL_WHY_PRICE), -1);
  p->ncu_milli = 1000;
  o.max_ncu_price_minor = -1;

  o.has_origin = true; /* LATENCY: 10 ms against 7.5 ms */
  o.max_rtt_us = 7500;
  assert_int_equal(gap_of(&b, &o, SL_WHY_LATENCY), 2500);
  p->rtt_us = -1; /* unknown RTT: no distance */
  assert_int_equal(gap_of(&b, &o, SL_WHY_LATENCY), -1);
  o.has_origin = false;

  /* CAPACITY: at most 3 free over any 2 consecutive hours: 1 short */
  for (size_t s = 1; s < NS; s += 2) b.fr[0][s] = 3;
  assert_int_equal(gap_of(&b, &o, SL_WHY_CAPACITY), 1);
  assert_int_equal(sl_market_best_cap(&o, p, T0, NS), 3);
  p->avail_until = T0 + H; /* no start inside the availability: no distance */
  assert_int_equal(gap_of(&b, &o, SL_WHY_CAPACITY), -1);
  assert_int_equal(sl_market_best_cap(&o, p, T0, NS), -1);

  b.n = 0; /* BUDGET: 4 GPUs x 1.50 = 6.00 an hour against 5.00; total 12.00 against 11.50 */
  add_pool(&b, 1, 150, 8);
  o.budget_hourly_minor = 500;
  assert_int_equal(gap_of(&b, &o, SL_WHY_BUDGET), 100);
  o.budget_hourly_minor = -1;
  o.budget_total_minor = 1150;
  assert_int_equal(gap_of(&b, &o, SL_WHY_BUDGET), 50);
  o.budget_total_minor = -1;

  /* split: short of what the best start gathers in at most max_pieces pools (8 + 8 of 20) */
  add_pool(&b, 2, 150, 8);
  add_pool(&b, 3, 150, 8);
  o.split = true;
  o.max_pieces = 2;
  o.gpus = 20;
  assert_int_equal(gap_of(&b, &o, SL_WHY_CAPACITY), 4);

  /* chosen and outranked have no distance */
  o = mk_order(4, 2);
  sl_market_result r;
  match(&b, &o, &r);
  expect_verdict(&r, 0, SL_WHY_CHOSEN, NULL);
  expect_verdict(&r, 1, SL_WHY_OUTRANKED, NULL);
  assert_int_equal(r.verdicts[0].gap, -1);
  assert_int_equal(r.verdicts[1].gap, -1);
  sl_market_result_free(&r);
}

static void test_nearer_order(void **state) {
  (void)state;
  book b = {.n = 0};
  sl_market_pool *a = add_pool(&b, 7, 300, 8), *c = add_pool(&b, 3, 200, 8);
  sl_market_verdict va = {.why = SL_WHY_PRICE, .gap = 10}, vc = {.why = SL_WHY_PRICE, .gap = 20};
  assert_true(sl_market_nearer(&va, a, &vc, c)); /* smaller gap first */
  assert_false(sl_market_nearer(&vc, c, &va, a));
  vc.gap = 10; /* equal gaps: the cheaper */
  assert_true(sl_market_nearer(&vc, c, &va, a));
  c->price_minor = 300; /* equal price: the lower id */
  assert_true(sl_market_nearer(&vc, c, &va, a));
  assert_false(sl_market_nearer(&va, a, &vc, c));
  vc.gap = -1; /* no distance counts as farthest */
  assert_true(sl_market_nearer(&va, a, &vc, c));
  va.gap = -1; /* both without: price, then id */
  assert_true(sl_market_nearer(&vc, c, &va, a));
}

/* cheapest_per_ncu: the case — an L40S-like pool at 0.645 per GPU-hour for 0.5 NCU
 * (1.29 per NCU-hour) and an H100 at 1.10 for 1 NCU: cheapest takes the first, cheapest_per_ncu
 * the second; unrated models come last; the GPU-hour price breaks ties of the NCU price. */
static void test_objective_cheapest_per_ncu(void **state) {
  (void)state;
  book b = {.n = 0};
  add_pool(&b, 1, 60, 8)->ncu_milli = -1;    /* unrated, cheapest per GPU-hour */
  add_pool(&b, 2, 65, 8)->ncu_milli = 500;   /* 1.30 per NCU-hour */
  add_pool(&b, 3, 110, 8);                   /* 1.10 per NCU-hour */
  add_pool(&b, 4, 220, 8)->ncu_milli = 2000; /* 1.10 per NCU-hour, dearer per GPU-hour */
  sl_market_order o = mk_order(4, 2);
  sl_market_result r;
  match(&b, &o, &r);
  expect_gang(&r, 0, T0);
  sl_market_result_free(&r);
  o.objective = SL_OBJ_CHEAPEST_PER_NCU;
  match(&b, &o, &r);
  expect_gang(&r, 2, T0);
  assert_int_equal(r.nranked, 4);
  assert_int_equal(r.ranked[1].pool, 3);
  assert_int_equal(r.ranked[2].pool, 1);
  assert_int_equal(r.ranked[3].pool, 0); /* unrated last */
  sl_market_result_free(&r);
  o.split = true; /* split: the best per NCU first */
  o.max_pieces = 2;
  o.gpus = 12;
  match(&b, &o, &r);
  const size_t want_pool[] = {2, 3};
  const int32_t want_gpus[] = {8, 4};
  assert_true(r.filled && r.npieces == 2);
  for (size_t i = 0; i < 2; i++) { /* both 1.10 per NCU-hour: the cheaper per GPU-hour first */
    assert_int_equal(r.pieces[i].pool, want_pool[i]);
    assert_int_equal(r.pieces[i].gpus, want_gpus[i]);
  }
  sl_market_result_free(&r);
  int64_t k[3];
  sl_market_key(&o, &b.p[1], k); /* 0.65 / 0.5 NCU = 1.30: 130 cents in millionths */
  assert_int_equal(k[0], 0);
  assert_int_equal(k[1], 130000000);
  assert_int_equal(k[2], 65);
}

/* An amount of NCU instead of a GPU count (issue 15): each pool gives ceil(NCU / its NCU per
 * GPU) GPUs; cheapest ranks by the hourly cost of those GPUs; unrated models fail the spec. */
static void test_ncu_order(void **state) {
  (void)state;
  book b = {.n = 0};
  add_pool(&b, 1, 10, 64)->ncu_milli = -1;  /* unrated: SPEC */
  add_pool(&b, 2, 60, 16)->ncu_milli = 500; /* 16 GPUs x 0.60 = 9.60 an hour */
  add_pool(&b, 3, 110, 8);                  /* 8 GPUs x 1.10 = 8.80 an hour */
  add_pool(&b, 4, 50, 16)->ncu_milli = 300; /* 27 GPUs needed, 16 free: CAPACITY, 11 short */
  sl_market_order o = mk_order(8, 2);
  o.ncu_milli_wanted = 8000;
  assert_int_equal(sl_market_gpus_for(&o, &b.p[1]), 16);
  assert_int_equal(sl_market_gpus_for(&o, &b.p[3]), 27);
  assert_int_equal(sl_market_gpus_for(&o, &b.p[0]), 0);
  sl_market_result r;
  match(&b, &o, &r);
  expect_gang(&r, 2, T0);
  assert_int_equal(r.pieces[0].gpus, 8);
  assert_int_equal(r.gpus_filled, 8);
  assert_int_equal(r.pieces[0].total_minor, 8 * 2 * 110);
  assert_int_equal(r.nranked, 2);
  assert_int_equal(r.ranked[1].pool, 1);
  assert_int_equal(r.ranked[1].gpus, 16);
  expect_verdict(&r, 0, SL_WHY_SPEC, "unrated model cannot deliver NCU");
  expect_verdict(&r, 3, SL_WHY_CAPACITY, "no start in window with 27 free GPUs (best: 16)");
  assert_int_equal(r.verdicts[3].gap, 11);
  sl_market_result_free(&r);
  o.ncu_milli_wanted = 7001; /* rounds up per pool: 8 H100s, 15 of the 0.5-NCU pool */
  o.objective = SL_OBJ_CHEAPEST_PER_NCU;
  b.p[1].price_minor = 50; /* 1.00 per NCU-hour beats 1.10 */
  match(&b, &o, &r);
  expect_gang(&r, 1, T0);
  assert_int_equal(r.pieces[0].gpus, 15);
  sl_market_result_free(&r);
  /* split (issue 15, tests/unit/test_market_ncu.c): 12 NCU, the cheapest NCU first: all 16
   * GPUs of the 0.5-NCU pool (8 NCU), then 4 H100s */
  o.split = true;
  o.max_pieces = 4;
  o.ncu_milli_wanted = 12000;
  match(&b, &o, &r);
  assert_true(r.filled);
  assert_int_equal(r.npieces, 2);
  assert_int_equal(r.pieces[0].pool, 1);
  assert_int_equal(r.pieces[0].gpus, 16);
  assert_int_equal(r.pieces[1].pool, 2);
  assert_int_equal(r.pieces[1].gpus, 4);
  assert_int_equal(r.ncu_milli_filled, 12000);
  expect_verdict(&r, 0, SL_WHY_SPEC, "unrated model cannot deliver NCU");
  sl_market_result_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ncu_order),
      cmocka_unit_test(test_objective_cheapest_per_ncu),
      cmocka_unit_test(test_gaps_of_each_reason),
      cmocka_unit_test(test_nearer_order),
      cmocka_unit_test(test_why_names),
      cmocka_unit_test(test_health),
      cmocka_unit_test(test_spec_model),
      cmocka_unit_test(test_spec_memory),
      cmocka_unit_test(test_spec_ncu),
      cmocka_unit_test(test_spec_intra),
      cmocka_unit_test(test_spec_network),
      cmocka_unit_test(test_region),
      cmocka_unit_test(test_latency),
      cmocka_unit_test(test_price_max),
      cmocka_unit_test(test_price_per_ncu),
      cmocka_unit_test(test_check_order),
      cmocka_unit_test(test_capacity_gang),
      cmocka_unit_test(test_window_last_slot),
      cmocka_unit_test(test_window_availability),
      cmocka_unit_test(test_window_latest_start),
      cmocka_unit_test(test_gang_earliest_start),
      cmocka_unit_test(test_cheapest_vs_latency),
      cmocka_unit_test(test_tradeoff_flip),
      cmocka_unit_test(test_latency_tolerance_band),
      cmocka_unit_test(test_tie_breaking),
      cmocka_unit_test(test_outranked_ranked),
      cmocka_unit_test(test_budget_gang),
      cmocka_unit_test(test_budget_split),
      cmocka_unit_test(test_split_cheapest_combination),
      cmocka_unit_test(test_split_max_pieces),
      cmocka_unit_test(test_split_not_filled),
      cmocka_unit_test(test_split_exact_fill),
      cmocka_unit_test(test_split_exact_random),
      cmocka_unit_test(test_split_start_choice),
      cmocka_unit_test(test_split_latency),
      cmocka_unit_test(test_overflow),
      cmocka_unit_test(test_invalid_arguments),
      cmocka_unit_test(test_determinism_permutations),
      cmocka_unit_test(test_random_properties),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
