/* market.h — the matcher: pure code over a snapshot of the book (src/market/).
 *
 * Given an order and a snapshot of pools (their specifications, price, health, RTT from the
 * order's origin and free GPUs per one-hour slot), compute the placement the exchange would
 * choose and, for every pool, why it was or was not chosen.  No I/O, no clock: the caller
 * passes the slot window.  The same code serves quotes (nothing booked) and orders (the
 * caller books the chosen pieces atomically in the database and re-runs the matcher on a
 * fresh snapshot if a booking lost a race).
 *
 * Time: epoch seconds, slot-aligned (multiples of 3600).  The snapshot covers slots
 * [window_start, window_start + nslots*3600); free[i] of a pool is its gpu_count minus the
 * GPUs booked in slot i (never negative).  Money: int64 minor units.
 */
#ifndef SUANLI_MARKET_H
#define SUANLI_MARKET_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
  SL_OBJ_CHEAPEST,
  SL_OBJ_LOWEST_LATENCY,
  SL_OBJ_TRADEOFF,
  SL_OBJ_CHEAPEST_PER_NCU /* price per NCU-hour; unrated (or 0 NCU) models last */
} sl_market_objective;

/* Why a pool was (not) used.  Order of checks = order of this enum: the first failing
 * check is the reported reason. */
typedef enum {
  SL_WHY_CHOSEN = 0, /* part of the chosen fill */
  SL_WHY_HEALTH,     /* pool not active (draining/offline/retired) or health "down" */
  SL_WHY_SPEC,       /* model, memory, NCU, intra-node or network requirement unmet */
  SL_WHY_REGION,     /* region not allowed, or excluded */
  SL_WHY_LATENCY,    /* RTT from origin unknown or above max_rtt */
  SL_WHY_PRICE,      /* unit price above the order's maximum (per GPU-hour or per NCU-hour) */
  SL_WHY_CAPACITY,   /* no start in the window with enough free GPUs inside availability */
  SL_WHY_BUDGET,     /* would exceed the tenant's hourly or remaining monthly budget */
  SL_WHY_OUTRANKED,  /* feasible, but the objective preferred other pools */
} sl_market_why;

const char *sl_market_why_name(sl_market_why w); /* "chosen", "health", "spec", ... */

typedef enum {
  SL_INTRA_ANY = 0,
  SL_INTRA_NVLINK,
  SL_INTRA_PCIE,
  SL_INTRA_INFINITY_FABRIC,
  SL_INTRA_HCCS,
  SL_INTRA_OTHER
} sl_market_intra;
typedef enum {
  SL_INTER_NONE = 0,
  SL_INTER_ETHERNET,
  SL_INTER_ROCE,
  SL_INTER_INFINIBAND
} sl_market_inter;
/* A pool's or an order's intra_node / inter_node string (INTRA_NODE / INTER_NODE of
 * api/vocab.def) as the matcher's class; an unknown name is OTHER / NONE. */
sl_market_intra sl_market_intra_of(const char *name);
sl_market_inter sl_market_inter_of(const char *name);

typedef struct sl_market_pool {
  int64_t id; /* pool id: the final tie-breaker (lower wins) */
  const char *region;
  const char *accelerator; /* accelerator model id, e.g. "H100-SXM" */
  int32_t memory_gb;       /* per GPU; -1 unknown */
  int64_t ncu_milli;       /* normalized units per GPU, thousandths; -1 unrated */
  sl_market_intra intra;
  sl_market_inter inter;
  int32_t inter_gbps;
  int64_t price_minor;             /* ask per GPU-hour */
  int64_t avail_from, avail_until; /* availability window [from, until) */
  bool active;                     /* status == active */
  bool down;                       /* health == down */
  int64_t rtt_us;      /* RTT origin -> pool region; -1 unknown (ignored when no origin) */
  bool rtt_estimated;  /* rtt_us is a great-circle estimate, not a measurement */
  const int32_t *free; /* nslots entries */
} sl_market_pool;

typedef struct sl_market_order {
  int32_t gpus; /* >= 1; ignored (but still >= 1) when ncu_milli_wanted > 0 */
  /* > 0: an amount of normalized capacity (thousandths of an NCU) instead of a GPU count
   * (issue 15).  Gang: the pool must give sl_market_gpus_for() GPUs, ceil(wanted / its NCU per
   * GPU), and CHEAPEST ranks by the hourly cost of those GPUs.  Split: pieces on pools of any
   * rated model, each delivering gpus x its NCU per GPU, together at least `wanted`; CHEAPEST
   * takes the fill of least hourly cost the rule of src/market/README.md ("Split NCU orders")
   * finds.  Unrated models fail SPEC. */
  int64_t ncu_milli_wanted;
  /* Partial fills (issue 15): 1..gpus-1 lets the order be filled in part, with at least this
   * many GPUs (gang: one pool giving min_gpus..gpus; split: pieces summing to at least
   * min_gpus); 0 or gpus = all or nothing.  Not with ncu_milli_wanted (invalid). */
  int32_t min_gpus;
  /* Partial fills of an NCU order (issue 15): 1..ncu_milli_wanted-1 lets it be filled in part,
   * with at least this many NCU thousandths (gang: one pool giving ceil(min / its NCU) GPUs or
   * more; split: pieces delivering at least this much); 0 or ncu_milli_wanted = whole.  Only
   * with ncu_milli_wanted (else invalid). */
  int64_t min_ncu_milli_filled;
  int32_t duration_slots;               /* hours, >= 1 */
  int64_t earliest_start, latest_start; /* slot-aligned, earliest <= latest */
  /* spec (each optional; all given ones must hold) */
  const char *const *accelerators;
  size_t n_accelerators;     /* allowed models; 0 = any */
  int32_t min_memory_gb;     /* -1 = any */
  int64_t min_ncu_milli;     /* -1 = any; unrated models never satisfy it */
  sl_market_intra intra;     /* SL_INTRA_ANY = any */
  sl_market_inter min_inter; /* minimum network class: NONE < ETHERNET < ROCE < INFINIBAND */
  int32_t min_inter_gbps;    /* 0 = any */
  /* regions */
  bool has_origin;    /* when true, pools' rtt_us are meaningful */
  int64_t max_rtt_us; /* -1 = no limit (only with has_origin) */
  const char *const *regions;
  size_t n_regions; /* allowed; 0 = any */
  const char *const *excluded;
  size_t n_excluded;
  /* price */
  int64_t max_price_minor;     /* per GPU-hour, -1 = none */
  int64_t max_ncu_price_minor; /* per NCU-hour, -1 = none: price*1000 <= this*ncu_milli */
  /* budget (from the tenant's caps) */
  int64_t budget_hourly_minor; /* max sum over pieces of gpus*unit price, -1 = none */
  int64_t budget_total_minor;  /* max total of the fill, -1 = none */
  /* placement */
  bool split;         /* false = gang: all GPUs in one pool */
  int32_t max_pieces; /* split: at most this many pools (>= 1) */
  /* split only (issue 15): each piece may start at its own slot of [earliest_start,
   * latest_start] — each pool offers the most GPUs it keeps free over a whole window at any
   * start, and a piece starts at the earliest start giving its GPUs.  false: one start. */
  bool independent_starts;
  sl_market_objective objective;
  int64_t money_per_ms_minor; /* TRADEOFF: value of 1 ms RTT per GPU-hour, minor units */
  /* LOWEST_LATENCY (issue 15, scarcity-aware placement): RTTs are ranked in bands of this many
   * microseconds, floor(rtt / band), and within a band the cheapest wins; 0 = exact RTT.
   * order.c sets SL_MARKET_LATENCY_TOLERANCE_US for an order without max_rtt_ms unless the
   * body gives latency_tolerance_ms (src/market/README.md, "Ranking key"). */
  int64_t latency_tol_us;
} sl_market_order;

/* The default RTT band of a lowest_latency order without an RTT cap: 10 ms. */
#define SL_MARKET_LATENCY_TOLERANCE_US INT64_C(10000)

typedef struct sl_market_piece {
  size_t pool;   /* index into the pools array */
  int64_t start; /* slot-aligned; end = start + duration_slots*3600 */
  int32_t gpus;
  int64_t unit_price_minor; /* per GPU-hour = the pool's ask */
  int64_t total_minor;      /* gpus * duration_slots * unit price */
  int64_t rtt_us;           /* -1 unknown / not applicable */
} sl_market_piece;

/* The distance of a miss (`gap`, the nearest-miss rule of src/market/README.md): how far the
 * pool is from passing its failing check, in that reason's unit, or -1 when the reason has no
 * distance (HEALTH, SPEC, REGION, an unknown RTT, an unrated or overflowing price, no start
 * inside the availability, CHOSEN, OUTRANKED):
 *   LATENCY   rtt_us - max_rtt_us (microseconds)
 *   PRICE     minor units per GPU-hour above the most the order allows for this pool
 *             (price - max_price, or price - max_ncu_price * ncu / 1000 rounded up)
 *   CAPACITY  GPUs short: the GPUs needed minus the most the pool (split: the best start
 *             with at most max_pieces pools) keeps free over a whole window
 *   BUDGET    minor units over the hourly or total budget */
typedef struct sl_market_verdict {
  sl_market_why why;
  int64_t gap;      /* distance of the miss, -1 none (above) */
  char detail[120]; /* human explanation, e.g. "price 3.10 > max 2.50" */
} sl_market_verdict;

typedef struct sl_market_result {
  bool filled; /* the order can be placed now: in whole, or in part (>= min_gpus) */
  int32_t
      gpus_filled; /* filled: GPUs placed by `pieces` (== gpus unless a partial fill);
                    * not filled: the most GPUs the market offers the order (split: any
                    * start with at most max_pieces pools; gang: any pool passing the
                    * static checks, over a whole window), at most gpus (src/market/README.md) */
  /* An NCU order (issue 15): filled, the NCU thousandths `pieces` deliver (sum of gpus x NCU
   * per GPU, at least ncu_milli_wanted); not filled, a split order's most NCU any start gathers
   * in at most max_pieces pools (gang: 0).  0 for a GPU order. */
  int64_t ncu_milli_filled;
  sl_market_piece *pieces; /* the chosen fill (gang: one piece), best first */
  size_t npieces;
  sl_market_piece *ranked; /* every feasible (pool, its best start), best first */
  size_t nranked;
  sl_market_verdict *verdicts; /* one per input pool, same index */
} sl_market_result;

/* Match order against pools[0..npools) whose free[] arrays cover nslots slots from
 * window_start.  The window must cover [earliest_start, latest_start + duration).  Returns
 * false only on allocation failure or invalid arguments (then *out is empty).  The result is
 * deterministic: ties are broken by start (earlier first), then pool id (lower first). */
bool sl_market_match(const sl_market_order *order, const sl_market_pool *pools, size_t npools,
                     int64_t window_start, size_t nslots, sl_market_result *out);
void sl_market_result_free(sl_market_result *r);

/* The static checks (HEALTH .. PRICE) of sl_market_match for one pool: SL_WHY_CHOSEN when the
 * pool passes them, else the first failing reason (with its detail in *v when v != NULL).
 * p->free is not read. */
sl_market_why sl_market_static_check(const sl_market_order *o, const sl_market_pool *p,
                                     sl_market_verdict *v);
/* The GPUs pool p must give for order o: o->gpus, or for an NCU order ceil(ncu_milli_wanted /
 * p->ncu_milli) (0 when the pool is unrated or the count does not fit int32). */
int32_t sl_market_gpus_for(const sl_market_order *o, const sl_market_pool *p);
/* The fewest GPUs pool p may give for order o: o->min_gpus for a partial-fill order
 * (0 < min_gpus < gpus), ceil(min_ncu_milli_filled / p->ncu_milli) for a partial-fill NCU order,
 * else sl_market_gpus_for(o, p). */
int32_t sl_market_min_gpus_for(const sl_market_order *o, const sl_market_pool *p);

/* The most free GPUs pool p keeps over a whole window of the order's duration at any start
 * of [earliest_start, latest_start] inside its availability (p->free covers nslots slots from
 * window_start); -1 when no start lies inside the availability or the arguments are invalid.
 * The number a gang CAPACITY verdict reports as "best". */
int32_t sl_market_best_cap(const sl_market_order *o, const sl_market_pool *p, int64_t window_start,
                           size_t nslots);
/* The nearest-miss order: true when verdict a of pool pa is a nearer miss than b of pb — the
 * smaller gap (no distance counts as farthest), then the lower price, then the lower id. */
bool sl_market_nearer(const sl_market_verdict *a, const sl_market_pool *pa,
                      const sl_market_verdict *b, const sl_market_pool *pb);

/* The ranking key of sl_market_match for pool p (lower is better, compared in order). */
void sl_market_key(const sl_market_order *o, const sl_market_pool *p, int64_t key[3]);

#endif
