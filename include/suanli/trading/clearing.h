/* trading/clearing.h — periodic clearing, the call auction (src/trading/clearing.c; issue 15).
 *
 * Orders with "clearing": "call" rest until the auction of their clearing region (their
 * origin_region, or "*" when they name none) runs, once per interval_s seconds on the
 * wall-clock grid of the interval (every region comes due at the same instants): one step
 * claims every due region it can and matches the resting call orders of all of them against
 * this process's capacity book (each order's best `pools_per_order` placements, each at up to
 * `starts_per_pool` feasible starts), solves the assignment of the whole batch exactly
 * (src/market/clearing.c) and buys each assigned order with sl_trade in the step's
 * transaction.  The database decides every booking: a placement it refuses leaves that order
 * resting for the next round.  Safe with any number of processes: a region is cleared under
 * its advisory lock and lease row (schema/028). */
#ifndef SUANLI_TRADING_CLEARING_H
#define SUANLI_TRADING_CLEARING_H
#include "suanli/db/db.h"
#include <stdint.h>

typedef struct sl_trading_clearing_cfg {
  int64_t interval_s;     /* seconds between two rounds of a region (>= 1) */
  int time_limit_ms;      /* the solver's limit per phase */
  int max_orders;         /* call orders per region and round, oldest first */
  size_t pools_per_order; /* candidate pools per order */
  size_t starts_per_pool; /* candidate starts per pool */
  int patience_rounds;    /* rounds after which the oldest waiting order is forced in */
  size_t chunk_orders;    /* the solver's chunk: larger batches are solved oldest first in
                             exact slices of this many orders (src/market/clearing.c) */
} sl_trading_clearing_cfg;

/* The defaults: 60 s, 2000 ms, 200 orders, 8 pools, 12 starts, 5 rounds, chunks of 64. */
sl_trading_clearing_cfg sl_trading_clearing_defaults(void);

/* One pass: claim every due clearing region and clear all their batches as one problem, in
 * one transaction.  Returns the regions' rounds run (regions another process holds or that
 * were not due are skipped; 0 when the transaction failed). */
int sl_trading_clearing_step(sl_dbc *c, const sl_trading_clearing_cfg *cfg);

/* Counters since start, for GET /metrics. */
typedef struct sl_trading_clearing_stats {
  unsigned long rounds, orders, placed, refused, greedy;
} sl_trading_clearing_stats;
void sl_trading_clearing_stats_get(sl_trading_clearing_stats *out);

#endif
