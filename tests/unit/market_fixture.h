/* market_fixture.h — the fixtures the market unit tests share: an order without limits and a
 * healthy H100 pool.  Each test sets on the copy what it is about. */
#ifndef SUANLI_TESTS_MARKET_FIXTURE_H
#define SUANLI_TESTS_MARKET_FIXTURE_H

#include "suanli/market/market.h"

/* A gang CHEAPEST order for `gpus` GPUs over `dur` slots, starting in [earliest, latest], with
 * every limit off (-1) and max_pieces 1. */
static inline sl_market_order fx_order(int32_t gpus, int32_t dur, int64_t earliest,
                                       int64_t latest) {
  return (sl_market_order){.gpus = gpus,
                           .duration_slots = dur,
                           .earliest_start = earliest,
                           .latest_start = latest,
                           .min_memory_gb = -1,
                           .min_ncu_milli = -1,
                           .max_rtt_us = -1,
                           .max_price_minor = -1,
                           .max_ncu_price_minor = -1,
                           .budget_hourly_minor = -1,
                           .budget_total_minor = -1,
                           .max_pieces = 1,
                           .objective = SL_OBJ_CHEAPEST};
}

/* An active, healthy H100-SXM pool (80 GB, 1 NCU, NVLink, 400 Gb/s InfiniBand) in us-east-1,
 * 10 ms from the origin, available over [from, until), with the free GPUs per slot `free`. */
static inline sl_market_pool fx_pool(int64_t id, int64_t price, const int32_t *free, int64_t from,
                                     int64_t until) {
  return (sl_market_pool){.id = id,
                          .region = "us-east-1",
                          .accelerator = "H100-SXM",
                          .memory_gb = 80,
                          .ncu_milli = 1000,
                          .intra = SL_INTRA_NVLINK,
                          .inter = SL_INTER_INFINIBAND,
                          .inter_gbps = 400,
                          .price_minor = price,
                          .avail_from = from,
                          .avail_until = until,
                          .active = true,
                          .rtt_us = 10000,
                          .free = free};
}

#endif
