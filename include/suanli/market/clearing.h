/* clearing.h — the call auction's assignment solver (src/market/clearing.c).  Pure: no I/O,
 * no clock of its own, no globals; GLPK (the GNU Linear Programming Kit, Debian's
 * libglpk-dev) is used as a computation library, and its time limit is the only clock read.
 *
 * A round of periodic clearing (issue 15) has a batch of resting call orders, each with a few
 * candidate placements (options: one pool, one start, the GPUs the pool must give), and the
 * free GPUs of every pool per one-hour slot of a common grid.  The solver picks at most one
 * option per order so that no pool slot is overbooked, exactly optimal in three phases, each
 * among the assignments reaching the optima of the phases before it:
 *
 *   1. maximise   sum over placed orders of weight(o) * gpus * duration (priority-weighted
 *                 GPU-hours; weight = 1 + rounds the order has waited, set by the caller);
 *   2. minimise   the latency regret: sum over placed orders of the option's latency_us minus
 *                 the least latency_us among the order's usable options (the caller sets
 *                 latency_us from the order's own objective: a lowest_latency order's RTT band,
 *                 0 for an order that does not rank by latency); skipped when every regret is 0;
 *   3. minimise   the score: sum of cost_minor + extra_minor over the placements (extra_minor:
 *                 the money the order's objective adds to the price, a tradeoff order's
 *                 money_per_ms x RTT x GPU-hours; 0 for a cheapest order).
 *
 * Phases 2 and 3 honour each order's own objective: a lowest_latency order keeps the nearest
 * placement it can get (as continuous matching gives it) instead of being moved to a cheaper,
 * farther pool that a cheapest order wanted.
 *
 * Model (a binary ILP): x[j] in {0,1} per option j; per order sum x[j] <= 1 (= 1 for the
 * `forced` order, the starvation guard: src/trading/README.md); per (pool, slot) touched by
 * options whose GPUs could together exceed the free GPUs: sum gpus[j] x[j] <= free[slot].
 * Gang orders over multi-hour windows are why this is not a flow problem.
 *
 * Time limit: each phase runs GLPK's simplex and branch and cut with tm_lim = time_limit_ms,
 * starting from a known assignment (phase 1: the greedy one; later phases: the one before).
 * When phase 1 is not proven optimal in time the result is the greedy fallback (forced order
 * first, then by weighted GPU-hours, larger first, then order id; each takes the option of
 * least latency regret, then least score, that still fits), or GLPK's incumbent when its value
 * is higher — method GREEDY.  When phase 2 or 3 runs out of time, GLPK's best assignment of that
 * phase (still optimal for the phases before) or else the previous phase's stands — method
 * VALUE_OPTIMAL. */
#ifndef SUANLI_MARKET_CLEARING_H
#define SUANLI_MARKET_CLEARING_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl_clearing_order {
  int64_t id;             /* tie-breaker of the greedy fallback (lower first) */
  int32_t duration_slots; /* hours, >= 1 */
  int64_t weight;         /* priority per GPU-hour, 1..1000000 */
} sl_clearing_order;

typedef struct sl_clearing_option {
  size_t order;        /* index into orders */
  size_t pool;         /* index into the pools' free arrays */
  size_t start;        /* slot index into the grid: occupies [start, start + duration) */
  int32_t gpus;        /* >= 1 */
  int64_t cost_minor;  /* the placement's total (gpus * duration * the pool's ask), >= 0 */
  int64_t latency_us;  /* phase 2's key (lower is better), >= 0; 0 when latency does not count */
  int64_t extra_minor; /* added to cost_minor in phase 3 (the objective's own money), >= 0 */
} sl_clearing_option;

typedef struct sl_clearing_problem {
  const sl_clearing_order *orders;
  size_t norders;
  const int32_t *const *free; /* npools arrays of nslots free GPUs (negative counts as 0) */
  size_t npools, nslots;
  const sl_clearing_option *options;
  size_t noptions;
  size_t forced;     /* an order that must be placed when one of its options fits; SIZE_MAX none */
  int time_limit_ms; /* per phase; <= 0: no limit */
  /* More orders than this are solved in chunks of this many, oldest (lowest id) first, the
   * forced order in the first: each chunk exactly, over the capacity the chunks before it left.
   * 0: one solve whatever the size. */
  size_t chunk_orders;
} sl_clearing_problem;

typedef enum {
  SL_CLEARING_OPTIMAL,       /* both phases proven optimal (or nothing to solve) */
  SL_CLEARING_VALUE_OPTIMAL, /* phase 1 optimal, phase 2 stopped by the time limit */
  SL_CLEARING_GREEDY,        /* phase 1 stopped by the time limit: the greedy fallback */
} sl_clearing_method;

typedef struct sl_clearing_result {
  size_t *chosen;    /* per order: the option index placed, or SIZE_MAX */
  size_t nplaced;    /* orders placed */
  int64_t value;     /* sum of weight * gpus * duration over placed orders */
  int64_t gpu_hours; /* sum of gpus * duration over placed orders */
  int64_t cost;      /* sum of cost_minor over placed orders */
  int64_t latency;   /* phase 2: sum of the placed options' latency regret (microseconds) */
  int64_t score;     /* phase 3: sum of cost_minor + extra_minor over placed orders */
  sl_clearing_method method;
} sl_clearing_result;

/* Solve p.  Options out of range or that do not fit the free GPUs alone are ignored.  Returns
 * false on invalid arguments (null arrays, an option naming no order or pool, a duration or a
 * weight out of range, a negative latency_us or extra_minor, a sum that could reach 2^53) or
 * allocation failure; *out is then empty.  Otherwise *out is a feasible assignment (free it
 * with sl_clearing_result_free). */
bool sl_clearing_solve(const sl_clearing_problem *p, sl_clearing_result *out);
void sl_clearing_result_free(sl_clearing_result *r);

/* True when chosen[0..norders) (SIZE_MAX = not placed) is feasible for p: each chosen option
 * belongs to its order, lies inside the grid, and no pool slot gets more GPUs than it has free;
 * the forced order, when any option of it fits alone, is placed.  Fills value, gpu_hours and
 * cost when the pointers are not NULL.  The brute-force tests and the worker's checks use it. */
bool sl_clearing_check(const sl_clearing_problem *p, const size_t *chosen, int64_t *value,
                       int64_t *gpu_hours, int64_t *cost);

/* "optimal", "value_optimal", "greedy" */
const char *sl_clearing_method_name(sl_clearing_method m);

#endif
