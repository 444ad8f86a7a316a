/* test_market_clearing.c — the call auction's solver (src/market/clearing.c,
 * include/suanli/market/clearing.h).
 *
 * Many small random instances (orders with a few options over a few pools and slots, some
 * forced) are solved and compared with an exhaustive enumeration of every assignment: the
 * solver's assignment is feasible (sl_clearing_check, and independently recounted here) and
 * reaches the lexicographic optimum — the highest priority-weighted GPU-hours, then the least
 * latency regret (each option's latency_us minus its order's least over the options that fit
 * alone), then the lowest score (cost + extra).  Plus hand-made cases: a gang conflict over a
 * multi-hour window where arrival-order greedy fills less, the forced order, objectives
 * honoured, the greedy fallback's feasibility, bad arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "suanli/market/clearing.h"

#define MAXO 6
#define MAXJ 24
#define MAXP 3
#define MAXS 6

static uint64_t rng = 88172645463325252ULL;
static uint64_t rnd(uint64_t n) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng % n;
}

typedef struct {
  sl_clearing_order orders[MAXO];
  sl_clearing_option opts[MAXJ];
  int32_t freebuf[MAXP][MAXS];
  const int32_t *free[MAXP];
  sl_clearing_problem p;
} inst;

static void inst_init(inst *in, size_t norders, size_t npools, size_t nslots) {
  memset(in, 0, sizeof *in);
  for (size_t k = 0; k < npools; k++) in->free[k] = in->freebuf[k];
  in->p = (sl_clearing_problem){.orders = in->orders,
                                .norders = norders,
                                .free = in->free,
                                .npools = npools,
                                .nslots = nslots,
                                .options = in->opts,
                                .forced = SIZE_MAX,
                                .time_limit_ms = 10000};
}

/* Independent recount: each order once, per pool slot no more than free, forced placed when
 * any of its options fits alone.  Returns false when infeasible. */
static bool fits_alone(const inst *in, const sl_clearing_option *o) {
  bool fits = o->start + (size_t)in->orders[o->order].duration_slots <= in->p.nslots;
  for (int32_t t = 0; fits && t < in->orders[o->order].duration_slots; t++)
    fits = in->freebuf[o->pool][o->start + (size_t)t] >= o->gpus;
  return fits;
}

/* The latency regret of option j: its latency_us minus the least of its order's options that
 * fit alone. */
static int64_t regret(const inst *in, size_t j) {
  int64_t least = INT64_MAX;
  for (size_t k = 0; k < in->p.noptions; k++)
    if (in->opts[k].order == in->opts[j].order && fits_alone(in, &in->opts[k]) &&
        in->opts[k].latency_us < least)
      least = in->opts[k].latency_us;
  return in->opts[j].latency_us - least;
}

static bool recount(const inst *in, const size_t *ch, int64_t *value, int64_t *cost,
                    int64_t *latency, int64_t *score) {
  int32_t used[MAXP][MAXS] = {{0}};
  int64_t v = 0, c = 0, l = 0, sc = 0;
  for (size_t i = 0; i < in->p.norders; i++) {
    if (ch[i] == SIZE_MAX) continue;
    if (ch[i] >= in->p.noptions) return false;
    const sl_clearing_option *o = &in->opts[ch[i]];
    if (o->order != i) return false;
    for (int32_t t = 0; t < in->orders[i].duration_slots; t++) {
      size_t s = o->start + (size_t)t;
      if (s >= in->p.nslots) return false;
      used[o->pool][s] += o->gpus;
      int32_t f = in->freebuf[o->pool][s] < 0 ? 0 : in->freebuf[o->pool][s];
      if (used[o->pool][s] > f) return false;
    }
    v += in->orders[i].weight * o->gpus * in->orders[i].duration_slots;
    c += o->cost_minor;
    l += regret(in, ch[i]);
    sc += o->cost_minor + o->extra_minor;
  }
  if (in->p.forced != SIZE_MAX && ch[in->p.forced] == SIZE_MAX)
    for (size_t j = 0; j < in->p.noptions; j++)
      if (in->opts[j].order == in->p.forced && fits_alone(in, &in->opts[j])) return false;
  *value = v;
  *cost = c;
  *latency = l;
  *score = sc;
  return true;
}

/* The best of the enumeration so far: value (higher), latency regret, score (lower). */
typedef struct {
  int64_t v, l, s;
  bool found;
} best;

/* Exhaustive: every order takes none or one of its options. */
static void brute(const inst *in, size_t i, size_t *ch, best *b) {
  if (i == in->p.norders) {
    int64_t v, c, l, sc;
    if (!recount(in, ch, &v, &c, &l, &sc)) return;
    if (!b->found || v > b->v || (v == b->v && (l < b->l || (l == b->l && sc < b->s))))
      *b = (best){.v = v, .l = l, .s = sc, .found = true};
    return;
  }
  ch[i] = SIZE_MAX;
  brute(in, i + 1, ch, b);
  for (size_t j = 0; j < in->p.noptions; j++) {
    if (in->opts[j].order != i) continue;
    ch[i] = j;
    brute(in, i + 1, ch, b);
  }
  ch[i] = SIZE_MAX;
}

static void random_inst(inst *in) {
  size_t no = 1 + rnd(MAXO), np = 1 + rnd(MAXP), ns = 1 + rnd(MAXS);
  inst_init(in, no, np, ns);
  for (size_t k = 0; k < np; k++)
    for (size_t s = 0; s < ns; s++) in->freebuf[k][s] = (int32_t)rnd(9) - (rnd(10) == 0 ? 2 : 0);
  for (size_t i = 0; i < no; i++)
    in->orders[i] = (sl_clearing_order){.id = (int64_t)(100 + rnd(50)),
                                        .duration_slots = (int32_t)(1 + rnd(3)),
                                        .weight = (int64_t)(1 + rnd(rnd(2) ? 3 : 1))};
  size_t nj = rnd(MAXJ / 2 + 1) + (rnd(3) == 0 ? MAXJ / 2 : 0);
  if (nj > MAXJ) nj = MAXJ;
  /* keep the enumeration small: at most 3 options per order */
  size_t per[MAXO] = {0}, n = 0;
  bool lat = rnd(2) == 0, extra = rnd(2) == 0; /* some instances rank by latency, some not */
  for (size_t k = 0; k < nj; k++) {
    size_t o = rnd(no);
    if (per[o] >= 3) continue;
    per[o]++;
    int32_t g = (int32_t)(1 + rnd(6));
    int64_t price = (int64_t)(1 + rnd(5));
    in->opts[n++] = (sl_clearing_option){.order = o,
                                         .pool = rnd(np),
                                         .start = rnd(ns),
                                         .gpus = g,
                                         .cost_minor = g * in->orders[o].duration_slots * price,
                                         .latency_us = lat ? (int64_t)rnd(4) * 1000 : 0,
                                         .extra_minor = extra ? (int64_t)rnd(7) : 0};
  }
  in->p.noptions = n;
  if (rnd(3) == 0) in->p.forced = rnd(no);
}

static void test_random_against_brute_force(void **state) {
  (void)state;
  int solved = 0, placed_any = 0;
  for (int round = 0; round < 1500; round++) {
    inst in;
    random_inst(&in);
    sl_clearing_result r;
    assert_true(sl_clearing_solve(&in.p, &r));
    assert_int_equal(r.method, SL_CLEARING_OPTIMAL);
    int64_t v, c, l, sc, v2, gh, c2;
    assert_true(recount(&in, r.chosen, &v, &c, &l, &sc));
    assert_true(sl_clearing_check(&in.p, r.chosen, &v2, &gh, &c2));
    assert_int_equal(v, v2);
    assert_int_equal(c, c2);
    assert_int_equal(r.value, v);
    assert_int_equal(r.cost, c);
    assert_int_equal(r.latency, l);
    assert_int_equal(r.score, sc);
    size_t ch[MAXO];
    best b = {0};
    brute(&in, 0, ch, &b);
    assert_true(b.found); /* placing nothing (or only the forced order) is always feasible */
    if (r.value != b.v || r.latency != b.l || r.score != b.s)
      fail_msg("round %d: solver (%lld, %lld, %lld) != brute force (%lld, %lld, %lld)", round,
               (long long)r.value, (long long)r.latency, (long long)r.score, (long long)b.v,
               (long long)b.l, (long long)b.s);
    solved++;
    placed_any += r.nplaced > 0;
    sl_clearing_result_free(&r);
  }
  assert_int_equal(solved, 1500);
  assert_true(placed_any > 500); /* the instances are not trivially empty */
}

/* The gang conflict of test_auction_beats_arrival_greedy (described there) in *in. */
static void gang_conflict(inst *in) {
  inst_init(in, 4, 2, 4);
  for (int k = 0; k < 2; k++)
    for (int s = 0; s < 4; s++) in->freebuf[k][s] = 8;
  int32_t dur[4] = {2, 4, 4, 2};
  for (size_t i = 0; i < 4; i++)
    in->orders[i] =
        (sl_clearing_order){.id = (int64_t)i + 1, .duration_slots = dur[i], .weight = 1};
  sl_clearing_option o[] = {{0, 0, 0, 8, 160, 0, 0},
                            {0, 0, 2, 8, 160, 0, 0},
                            {1, 0, 0, 8, 320, 0, 0},
                            {2, 1, 0, 8, 320, 0, 0},
                            {3, 1, 0, 8, 100, 0, 0}};
  memcpy(in->opts, o, sizeof o);
  in->p.noptions = 5;
}

/* Two pools of 8 GPUs over 4 hours.  Arrival order: A (8 GPUs, 2 h, may start at 0 or 2 in
 * pool 0), B (8 GPUs, 4 h, pool 0 only), C (8 GPUs, 4 h, pool 1 only), D (8 GPUs, 2 h, pool 1
 * at 0 only).  Greedy by arrival takes A@0 in pool 0 and C in pool 1, then B and D fail: 16
 * GPU-hours + 32 = 48.  The auction places B and C (64 GPU-hours)... and A cannot fit: value
 * 64 > 48. */
static void test_auction_beats_arrival_greedy(void **state) {
  (void)state;
  inst in;
  gang_conflict(&in);
  sl_clearing_result r;
  assert_true(sl_clearing_solve(&in.p, &r));
  assert_int_equal(r.gpu_hours, 64);
  assert_int_equal(r.chosen[1], 2);
  assert_int_equal(r.chosen[2], 3);
  assert_int_equal(r.nplaced, 2);
  sl_clearing_result_free(&r);

  /* the forced order (the starvation guard) is placed even though it lowers the value */
  in.p.forced = 3;
  assert_true(sl_clearing_solve(&in.p, &r));
  assert_int_equal(r.chosen[3], 4);
  assert_int_equal(r.chosen[2], SIZE_MAX);
  assert_int_equal(r.gpu_hours, 32 + 16);
  sl_clearing_result_free(&r);

  /* priority: order C waited long (weight 3): it still loses to nothing here, but D with a
   * weight of 5 (2 h x 8 x 5 = 80 > C's 32) now wins pool 1 over C */
  in.p.forced = SIZE_MAX;
  in.orders[3].weight = 5;
  assert_true(sl_clearing_solve(&in.p, &r));
  assert_int_equal(r.chosen[3], 4);
  assert_int_equal(r.chosen[1], 2);
  sl_clearing_result_free(&r);
}

/* Cost decides between assignments of equal value. */
static void test_cheapest_among_equal_value(void **state) {
  (void)state;
  inst in;
  inst_init(&in, 2, 2, 2);
  for (int k = 0; k < 2; k++) in.freebuf[k][0] = in.freebuf[k][1] = 4;
  in.orders[0] = (sl_clearing_order){.id = 1, .duration_slots = 2, .weight = 1};
  in.orders[1] = (sl_clearing_order){.id = 2, .duration_slots = 2, .weight = 1};
  sl_clearing_option o[] = {{0, 0, 0, 4, 80, 0, 0},
                            {0, 1, 0, 4, 40, 0, 0},
                            {1, 0, 0, 4, 80, 0, 0},
                            {1, 1, 0, 4, 50, 0, 0}};
  memcpy(in.opts, o, sizeof o);
  in.p.noptions = 4;
  sl_clearing_result r;
  assert_true(sl_clearing_solve(&in.p, &r));
  assert_int_equal(r.nplaced, 2);
  assert_int_equal(r.cost, 80 + 40); /* order 0 in pool 1 (40), order 1 in pool 0 (80): 120 */
  sl_clearing_result_free(&r);
}

/* Each order's objective is honoured after the value: pools 0 (10 a GPU-hour), 1 (20) and 2
 * (30), 4 GPUs each, one hour.  A lowest_latency order may take pool 0 (40 ms away) or pool 2
 * (5 ms); a cheapest order pool 0 or 1.  The least total cost (40 + 80) would send the
 * lowest_latency order to the far cheap pool and the cheapest order to the dearer one; the
 * auction keeps the lowest_latency order near (pool 2) and the cheapest order gets pool 0.
 * A tradeoff order's extra money (money_per_ms x RTT) counts with its cost in phase 3. */
static void test_objectives_honoured(void **state) {
  (void)state;
  inst in;
  inst_init(&in, 2, 3, 1);
  for (int k = 0; k < 3; k++) in.freebuf[k][0] = 4;
  in.orders[0] = (sl_clearing_order){.id = 1, .duration_slots = 1, .weight = 1};
  in.orders[1] = (sl_clearing_order){.id = 2, .duration_slots = 1, .weight = 1};
  sl_clearing_option o[] = {{0, 0, 0, 4, 40, 40000, 0},
                            {0, 2, 0, 4, 120, 5000, 0},
                            {1, 0, 0, 4, 40, 0, 0},
                            {1, 1, 0, 4, 80, 0, 0}};
  memcpy(in.opts, o, sizeof o);
  in.p.noptions = 4;
  sl_clearing_result r;
  assert_true(sl_clearing_solve(&in.p, &r));
  assert_int_equal(r.method, SL_CLEARING_OPTIMAL);
  assert_int_equal(r.chosen[0], 1);
  assert_int_equal(r.chosen[1], 2);
  assert_int_equal(r.latency, 0);
  assert_int_equal(r.cost, 160);
  sl_clearing_result_free(&r);
  /* without latency keys the least cost wins: 40 + 80 */
  in.opts[0].latency_us = in.opts[1].latency_us = 0;
  assert_true(sl_clearing_solve(&in.p, &r));
  assert_int_equal(r.chosen[0], 0);
  assert_int_equal(r.chosen[1], 3);
  assert_int_equal(r.cost, 120);
  sl_clearing_result_free(&r);
  /* order 0 as a tradeoff order: pool 0's RTT costs it 100 more, pool 2's 10: 40 + 100 > 120
   * + 10, so it takes pool 2 although pool 0 is cheaper */
  in.opts[0].extra_minor = 100;
  in.opts[1].extra_minor = 10;
  assert_true(sl_clearing_solve(&in.p, &r));
  assert_int_equal(r.chosen[0], 1);
  assert_int_equal(r.chosen[1], 2);
  assert_int_equal(r.score, 120 + 10 + 40);
  sl_clearing_result_free(&r);
  /* a negative key is refused */
  in.opts[0].extra_minor = -1;
  assert_false(sl_clearing_solve(&in.p, &r));
  in.opts[0].extra_minor = 0;
  in.opts[0].latency_us = -1;
  assert_false(sl_clearing_solve(&in.p, &r));
}

/* Chunks (chunk_orders): random instances solved in chunks of 1 to 3 orders, oldest first.
 * The assignment is feasible, and the first chunk (the forced order, then the lowest ids)
 * reaches the lexicographic optimum of those orders alone (brute force over their options). */
static void test_chunks_oldest_first(void **state) {
  (void)state;
  for (int round = 0; round < 600; round++) {
    inst in;
    random_inst(&in);
    in.p.chunk_orders = 1 + rnd(3);
    sl_clearing_result r;
    assert_true(sl_clearing_solve(&in.p, &r));
    int64_t v, c, l, sc;
    assert_true(recount(&in, r.chosen, &v, &c, &l, &sc));
    assert_true(sl_clearing_check(&in.p, r.chosen, NULL, NULL, NULL));
    assert_int_equal(r.value, v);
    assert_int_equal(r.latency, l);
    assert_int_equal(r.score, sc);
    /* the first chunk: forced first, then by id, then index */
    size_t order[MAXO], no = in.p.norders;
    for (size_t i = 0; i < no; i++) order[i] = i;
    for (size_t a = 0; a < no; a++)
      for (size_t b = a + 1; b < no; b++) {
        size_t x = order[a], y = order[b];
        bool fx = x == in.p.forced, fy = y == in.p.forced;
        if (fy > fx || (fy == fx && (in.orders[y].id < in.orders[x].id ||
                                     (in.orders[y].id == in.orders[x].id && y < x)))) {
          order[a] = y;
          order[b] = x;
        }
      }
    bool first[MAXO] = {false};
    for (size_t k = 0; k < no && k < in.p.chunk_orders; k++) first[order[k]] = true;
    inst only = in; /* the first chunk's options only */
    for (size_t k = 0; k < MAXP; k++) only.free[k] = only.freebuf[k];
    only.p.free = only.free;
    only.p.orders = only.orders;
    only.p.options = only.opts;
    size_t n = 0, as_only[MAXJ];
    for (size_t j = 0; j < in.p.noptions; j++) {
      as_only[j] = n;
      if (first[in.opts[j].order]) only.opts[n++] = in.opts[j];
    }
    only.p.noptions = n;
    size_t mine[MAXO]; /* the solver's choice for them, as options of `only` */
    for (size_t i = 0; i < no; i++)
      mine[i] = first[i] && r.chosen[i] != SIZE_MAX ? as_only[r.chosen[i]] : SIZE_MAX;
    int64_t mv, mc, ml, ms;
    assert_true(recount(&only, mine, &mv, &mc, &ml, &ms));
    size_t ch[MAXO];
    best b = {0};
    brute(&only, 0, ch, &b);
    if (mv != b.v || ml != b.l || ms != b.s)
      fail_msg("round %d: first chunk (%lld, %lld, %lld) != brute force (%lld, %lld, %lld)", round,
               (long long)mv, (long long)ml, (long long)ms, (long long)b.v, (long long)b.l,
               (long long)b.s);
    sl_clearing_result_free(&r);
  }
}

/* Chunks of one order are arrival-order greedy: on the conflict of
 * test_auction_beats_arrival_greedy they fill 48 GPU-hours, one chunk 64. */
static void test_chunks_of_one(void **state) {
  (void)state;
  inst in;
  gang_conflict(&in);
  in.p.chunk_orders = 1;
  sl_clearing_result r;
  assert_true(sl_clearing_solve(&in.p, &r));
  assert_int_equal(r.gpu_hours, 48);
  assert_int_equal(r.method, SL_CLEARING_OPTIMAL);
  sl_clearing_result_free(&r);
  in.p.chunk_orders = 4;
  assert_true(sl_clearing_solve(&in.p, &r));
  assert_int_equal(r.gpu_hours, 64);
  sl_clearing_result_free(&r);
}

/* Options that never fit are ignored; bad arguments are refused. */
static void test_bad_arguments(void **state) {
  (void)state;
  inst in;
  inst_init(&in, 1, 1, 2);
  in.freebuf[0][0] = in.freebuf[0][1] = 2;
  in.orders[0] = (sl_clearing_order){.id = 1, .duration_slots = 2, .weight = 1};
  sl_clearing_option o[] = {{0, 0, 1, 1, 10, 0, 0},
                            {0, 0, 0, 3, 10, 0, 0}}; /* past the grid; too big */
  memcpy(in.opts, o, sizeof o);
  in.p.noptions = 2;
  sl_clearing_result r;
  assert_true(sl_clearing_solve(&in.p, &r));
  assert_int_equal(r.nplaced, 0);
  sl_clearing_result_free(&r);
  in.opts[0].pool = 5;
  assert_false(sl_clearing_solve(&in.p, &r));
  in.opts[0].pool = 0;
  in.orders[0].weight = 0;
  assert_false(sl_clearing_solve(&in.p, &r));
  in.orders[0].weight = 1;
  in.p.forced = 3;
  assert_false(sl_clearing_solve(&in.p, &r));
  assert_false(sl_clearing_solve(NULL, &r));
}

/* A larger instance under a tiny time limit: whatever method answers, the assignment is
 * feasible; without the limit it is optimal and at least as good. */
static void test_time_limit_stays_feasible(void **state) {
  (void)state;
  enum { NO = 24, NP = 4, NSL = 16, NJ = 120 };
  static int32_t fb[NP][NSL];
  static const int32_t *fr[NP];
  static sl_clearing_order ords[NO];
  static sl_clearing_option opts[NJ];
  for (size_t k = 0; k < NP; k++) {
    fr[k] = fb[k];
    for (size_t s = 0; s < NSL; s++) fb[k][s] = (int32_t)(4 + rnd(13));
  }
  for (size_t i = 0; i < NO; i++)
    ords[i] = (sl_clearing_order){
        .id = (int64_t)i, .duration_slots = (int32_t)(1 + rnd(8)), .weight = (int64_t)(1 + rnd(4))};
  for (size_t j = 0; j < NJ; j++) {
    size_t o = j % NO;
    int32_t g = (int32_t)(1 + rnd(8));
    opts[j] =
        (sl_clearing_option){.order = o,
                             .pool = rnd(NP),
                             .start = rnd(NSL - (size_t)ords[o].duration_slots + 1),
                             .gpus = g,
                             .cost_minor = g * ords[o].duration_slots * (int64_t)(1 + rnd(9))};
  }
  sl_clearing_problem p = {.orders = ords,
                           .norders = NO,
                           .free = fr,
                           .npools = NP,
                           .nslots = NSL,
                           .options = opts,
                           .noptions = NJ,
                           .forced = 7,
                           .time_limit_ms = 1};
  sl_clearing_result a, b;
  assert_true(sl_clearing_solve(&p, &a));
  assert_true(sl_clearing_check(&p, a.chosen, NULL, NULL, NULL));
  p.time_limit_ms = 0;
  assert_true(sl_clearing_solve(&p, &b));
  assert_int_equal(b.method, SL_CLEARING_OPTIMAL);
  assert_true(sl_clearing_check(&p, b.chosen, NULL, NULL, NULL));
  assert_true(b.value >= a.value);
  assert_string_equal(sl_clearing_method_name(b.method), "optimal");
  sl_clearing_result_free(&a);
  sl_clearing_result_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_random_against_brute_force),
      cmocka_unit_test(test_auction_beats_arrival_greedy),
      cmocka_unit_test(test_cheapest_among_equal_value),
      cmocka_unit_test(test_objectives_honoured),
      cmocka_unit_test(test_chunks_oldest_first),
      cmocka_unit_test(test_chunks_of_one),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_time_limit_stays_feasible),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
