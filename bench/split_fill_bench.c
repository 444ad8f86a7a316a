/* split_fill_bench.c — what the exact split fill (src/market/README.md, "The exact fill where
 * the repair runs") costs a match: sl_market_match on 2000 pools × 720 slots, a 24-hour split
 * CHEAPEST order at every start of its window, a market where the plain greedy falls short at
 * every start (many small cheap pools, one big dear pool in 50) so the repair and the exact
 * fill run everywhere.  The baseline, in the same invocation: the same order with max_pieces
 * high enough that the plain greedy fills (no repair, no DP).  Prints ms per match and the
 * hourly cost of each fill.  Usage: bench_split_fill [reps] (bench/README.md). */
#include "../tests/unit/market_fixture.h" /* fx_pool, fx_order */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define H   INT64_C(3600)
#define T0  INT64_C(1767225600)
#define NP  2000
#define NS  720
#define DUR 24

static sl_market_pool pools[NP];
static int32_t fr[NP][NS];

/* The market for an order of `gpus` GPUs in `pieces` pieces: pool i has a big dear pool's
 * `gpus` GPUs at 10.00–11.00 every 50th, else 1..gpus/pieces-1 GPUs at 0.10–1.10 (fixed seed). */
static void market(int gpus, int pieces) {
  srand(7);
  int small = gpus / pieces > 1 ? gpus / pieces - 1 : 1;
  for (int i = 0; i < NP; i++) {
    int cap = i % 50 == 0 ? gpus : 1 + rand() % small;
    for (int s = 0; s < NS; s++) fr[i][s] = cap;
    pools[i] = fx_pool(i + 1, i % 50 == 0 ? 1000 + rand() % 100 : 10 + rand() % 100, fr[i], T0,
                       T0 + NS * H);
  }
}

/* ms per match of `o` over `reps` runs; *hourly the fill's hourly cost (-1 when not filled). */
static double time_match(const sl_market_order *o, int reps, long long *hourly) {
  struct timespec a, b;
  sl_market_result r;
  *hourly = -1;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int k = 0; k < reps; k++) {
    if (!sl_market_match(o, pools, NP, T0, NS, &r)) {
      fprintf(stderr, "split_fill_bench: match refused its arguments\n");
      exit(1);
    }
    if (k == reps - 1 && r.filled) {
      *hourly = 0;
      for (size_t e = 0; e < r.npieces; e++)
        *hourly += (long long)r.pieces[e].gpus * pools[r.pieces[e].pool].price_minor;
    }
    sl_market_result_free(&r);
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  return ((double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6) / reps;
}

int main(int argc, char **argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 5;
  if (reps < 1) reps = 1;
  static const int cases[][3] = {{64, 8, 1}, {64, 8, 25}, {256, 16, 25}, {1000, 64, 25}};
  printf("| GPUs | max_pieces | starts | ms/match (repair + exact) | ms/match (baseline: greedy "
         "fills) | ratio | hourly cost of the fill |\n|---:|---:|---:|---:|---:|---:|---:|\n");
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    int gpus = cases[c][0], pieces = cases[c][1], starts = cases[c][2];
    market(gpus, pieces);
    sl_market_order o = fx_order(gpus, DUR, T0, T0 + (starts - 1) * H);
    o.split = true;
    o.max_pieces = pieces;
    long long hx, hb;
    double tx = time_match(&o, reps, &hx);
    o.max_pieces = gpus; /* the plain greedy fills: the baseline */
    double tb = time_match(&o, reps, &hb);
    printf("| %d | %d | %d | %.1f | %.1f | %.1f | %lld.%02lld |\n", gpus, pieces, starts, tx, tb,
           tb > 0 ? tx / tb : 0.0, hx / 100, hx % 100);
  }
  return 0;
}
