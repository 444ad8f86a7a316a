/* matcher.c — the pure matcher of include/suanli/market/market.h.
 *
 * No I/O, no clock, no globals: the same snapshot and order always give the same result.
 *
 * Per pool, the checks run in the order of sl_market_why; the first that fails is the pool's
 * verdict, with a human detail (money through sl_money_format):
 *
 *   HEALTH    !active ("pool is not active"), then down ("pool health is down").
 *   SPEC      accelerators (exact id match; empty list = any), min_memory_gb (unknown memory
 *             fails), min_ncu_milli (unrated fails), intra (must be equal unless ANY),
 *             network class pool.inter >= min_inter (NONE < ETHERNET < ROCE < INFINIBAND),
 *             pool.inter_gbps >= min_inter_gbps.
 *   REGION    allowed list (when non-empty), then the excluded list.
 *   LATENCY   only when has_origin and max_rtt_us >= 0: unknown RTT (< 0) or RTT > max fails.
 *   PRICE     price <= max_price_minor (per GPU-hour); price*1000 <= max_ncu_price_minor *
 *             ncu_milli (unrated pools fail); gpus * duration * price must fit int64
 *             ("total overflows").  Every piece of the order is bounded by that total.
 *   CAPACITY  no feasible start (below).
 *   BUDGET    gpus*price <= budget_hourly_minor and the fill's total <= budget_total_minor
 *             (each when >= 0).
 *   OUTRANKED feasible, but another placement ranks better ("rank N" in result.ranked).
 *
 * Steps 1–5 are the "static" checks; a pool that passes them is "statically ok".
 *
 * Feasible start.  Starts s are the slots in [earliest_start, latest_start].  A pool can give
 * g GPUs at s when [s, s + d) lies inside [avail_from, avail_until) and min(free[] over the
 * d slots of [s, s + d)) >= g.  The window minima of all starts of one pool come from one
 * pass of a monotonic deque: O(nslots) per pool, whatever the duration.  Negative free[]
 * entries (never produced by the database) count as 0.
 *
 * Ranking key, lower is better; ties by start (earlier), then pool id (lower), then input
 * index (only reached when ids repeat).  A key is a triple compared lexicographically:
 *   CHEAPEST        (0, price, 0)
 *   LOWEST_LATENCY  (0, rtt, price); unknown rtt (1, 0, price); no origin: (0, 0, price)
 *   TRADEOFF        (0, price*1000 + rtt_us*money_per_ms_minor, 0), saturating at INT64_MAX;
 *                   unknown rtt (1, price*1000, 0); no origin: (0, price*1000, 0)
 *   CHEAPEST_PER_NCU (0, ceil(price * 10^9 / ncu_milli), price) — the price per NCU-hour in
 *                   millionths of a minor unit; unrated or 0-NCU models (1, 0, price)
 * (price*1000 is in thousandths of a minor unit, like rtt_us * money-per-ms.)
 *
 * GANG (split = false).  Each statically-ok pool is placed at its earliest feasible start
 * for order.gpus (the key does not depend on the start, so the earliest is its best), then
 * budget-checked.  `ranked` = every such (pool, start), sorted; `pieces` = ranked[0].
 * Verdicts: CHOSEN for ranked[0], OUTRANKED "rank N" for the rest.
 *
 * SPLIT.  Pools are sorted by key once.  For every start s (ascending), each statically-ok
 * pool offers cap(s) = its window minimum at s (0 outside its availability).  The fill is the
 * greedy one: walk the pools in key order, take min(cap, remaining), at most max_pieces pools.
 * When that greedy fill falls short but the max_pieces largest caps would cover the order, a
 * repair pass walks the pools in key order again and takes a pool only when the remainder can
 * still be covered by the remaining pieces (checked against the largest caps after it); it
 * equals the greedy fill whenever the greedy fill succeeds, and always succeeds when any fill
 * of <= max_pieces pools exists; where the repair runs, a GPU order takes the exact least-score
 * fill of <= max_pieces pools instead when it scores lower (exact_fill, a knapsack over the
 * pools in key order, at most SL_SPLIT_EXACT_WORK cells per match).  A full fill within budget (sum
 * gpus_i*price_i <= hourly, sum of totals <= total) is a candidate with score sum(gpus_i * key_i)
 * (per component, in
 * __int128); the lowest score wins, ties to the earliest start.
 * Verdicts: pools of the fill CHOSEN; other statically-ok pools with a free GPU at some start
 * OUTRANKED; statically-ok pools never free at any start CAPACITY.  When no start fills:
 * filled = false, no pieces, gpus_filled = the most GPUs any start could gather with at most
 * max_pieces pools (sum of its largest caps), and statically-ok pools get CAPACITY saying so.
 * When some start fills but none within budget: gpus_filled = 0, and statically-ok pools with
 * capacity get BUDGET (the others CAPACITY).  `ranked` = every statically-ok pool at its
 * earliest start with a free GPU, gpus = min(its free GPUs there, order.gpus), sorted.
 *
 * SPLIT NCU ORDERS (issue 15, src/market/README.md "Split NCU orders"): the split fill counts
 * units, thousandths of an NCU (a pool of u NCU per GPU offers min(cap * u, wanted)), taking
 * all a pool has or the fewest GPUs covering the rest; the repair counts units too.  CHEAPEST
 * walks the pools by price per NCU (cheapest_ncu_walk) for the fill of least hourly cost with an
 * exact last piece; fills compare by (hourly cost, excess) for CHEAPEST and CHEAPEST_PER_NCU.
 *
 * INDEPENDENT STARTS (split, issue 15): each pool offers its largest cap over every start; the
 * split fill runs once over those offers, as at one start, and each piece starts at the earliest
 * start whose cap covers its GPUs.
 *
 * Orders are all-or-nothing: `pieces` is either a full fill or empty — unless 0 < min_gpus <
 * gpus (PARTIAL FILLS, issue 15): then the most GPUs any acceptable fill gives, at least
 * min_gpus.  Gang: each pool gives g = min(its best window minimum, gpus), lowered to what the
 * budgets allow, at the earliest start giving g; g < min_gpus is CAPACITY or BUDGET; ranked by
 * g descending, then the key.  Split: at a start without a full fill, the max_pieces largest
 * caps (ties: key order) when they gather >= min_gpus, taken whole; candidates compare by
 * GPUs, then score, then start.  gpus_filled = GPUs of the pieces.  Not filled, gang:
 * gpus_filled = the most GPUs a CAPACITY pool keeps free over a whole window (0 for NCU).
 *
 * Arguments (false, *out empty, on any of these): order/out NULL, pools NULL with npools > 0,
 * gpus < 1, duration < 1, window_start/earliest/latest not on a slot, earliest > latest,
 * window not covering [earliest, latest + duration), split with max_pieces < 1, enum values out
 * of range, TRADEOFF with money_per_ms_minor < 0, a list with a NULL array or entry, a pool
 * with free/region/accelerator NULL or a negative price.  npools == 0 is valid (not filled).
 * Negative limits (max price, budgets, min memory, ...) mean "none", like the documented -1.
 *
 * Cost, P pools, S candidate starts, N slots: static checks O(P); window minima O(P * N);
 * gang O(P log P) to rank; split O(S * P) for the greedy fills, plus O(P log P) at each start
 * where the greedy fill falls short but a repaired one exists (sort by cap, Fenwick tree).
 * Memory: split keeps the caps of the statically-ok pools, P * S int32.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suanli/core/money.h"
#include "suanli/core/timeutil.h"
#include "suanli/core/vocab.h"
#include "suanli/market/market.h"

/* "chosen", then the REJECT_REASON values of api/vocab.def, in the order of sl_market_why
 * (tests/unit/test_market_vocab.c). */
const char *sl_market_why_name(sl_market_why w) {
  if (w == SL_WHY_CHOSEN) return "chosen";
  unsigned i = (unsigned)w - SL_WHY_HEALTH;
  if (w > SL_WHY_OUTRANKED || i >= (unsigned)sl_vocab_count(SL_VD_REJECT_REASON)) return "unknown";
  return sl_vocab_name(sl_vocab_first(SL_VD_REJECT_REASON) + (int)i);
}

/* ---------------------------------------------------------------------------------------- */
/* Small helpers                                                                            */

typedef struct {
  int64_t k[3];
} mkey;

typedef struct {
  __int128 s[3];
} mscore;

/* One rankable placement: sorted by key, start, pool id, input index. */
typedef struct {
  int64_t prio; /* compared first: minus the GPUs of a partial-fill gang placement, else 0 */
  mkey key;
  int64_t start;
  int64_t id;
  size_t idx;
  int32_t gpus;
} rank_ent;

static int cmp_key(const mkey *a, const mkey *b) {
  for (int i = 0; i < 3; i++)
    if (a->k[i] != b->k[i]) return a->k[i] < b->k[i] ? -1 : 1;
  return 0;
}

static int cmp_score(const mscore *a, const mscore *b) {
  for (int i = 0; i < 3; i++)
    if (a->s[i] != b->s[i]) return a->s[i] < b->s[i] ? -1 : 1;
  return 0;
}

static int cmp_rank_ent(const void *pa, const void *pb) {
  const rank_ent *a = pa, *b = pb;
  if (a->prio != b->prio) return a->prio < b->prio ? -1 : 1;
  int c = cmp_key(&a->key, &b->key);
  if (c) return c;
  if (a->start != b->start) return a->start < b->start ? -1 : 1;
  if (a->id != b->id) return a->id < b->id ? -1 : 1;
  if (a->idx != b->idx) return a->idx < b->idx ? -1 : 1;
  return 0;
}

/* Saturating arithmetic over non-negative int64 values. */
static int64_t sat_mul(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_mul_overflow(a, b, &r) ? INT64_MAX : r;
}
static int64_t sat_add(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_add_overflow(a, b, &r) ? INT64_MAX : r;
}

static const char *intra_name(sl_market_intra v) {
  static const char *const names[] = {"any", "NVLink", "PCIe", "Infinity Fabric", "HCCS", "other"};
  return (unsigned)v < sizeof names / sizeof names[0] ? names[v] : "?";
}

static const char *inter_name(sl_market_inter v) {
  static const char *const names[] = {"none", "Ethernet", "RoCE", "InfiniBand"};
  return (unsigned)v < sizeof names / sizeof names[0] ? names[v] : "?";
}

/* Money as "12.34" into buf[SL_MONEY_STRLEN]; returns buf. */
static const char *money(int64_t minor, char *buf) {
  if (sl_money_format(minor, buf, SL_MONEY_STRLEN) < 0) snprintf(buf, SL_MONEY_STRLEN, "?");
  return buf;
}

/* A non-negative __int128 amount as int64, saturating at INT64_MAX. */
static int64_t sat128(__int128 v) { return v > INT64_MAX ? INT64_MAX : (int64_t)v; }

/* Same for an __int128 amount (sums of pieces); saturates at INT64_MAX for display. */
static const char *money128(__int128 minor, char *buf) {
  return money(minor > INT64_MAX ? INT64_MAX : (int64_t)minor, buf);
}

/* Non-negative thousandths as "1.234" (NCU) or microseconds as milliseconds with `dec`
 * decimals (1 or 3), truncated. */
static void fmt_milli(int64_t v, int dec, char *buf, size_t len) {
  uint64_t m = v < 0 ? 0 : (uint64_t)v;
  if (dec == 1)
    snprintf(buf, len, "%llu.%llu", (unsigned long long)(m / 1000),
             (unsigned long long)(m % 1000 / 100));
  else
    snprintf(buf, len, "%llu.%03llu", (unsigned long long)(m / 1000),
             (unsigned long long)(m % 1000));
}

static bool in_list(const char *s, const char *const *list, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(s, list[i]) == 0) return true;
  return false;
}

/* Sets a verdict with its distance `gap` (-1: none, see market.h); returns false so that a
 * failing check can `return verdict_gap(...)`. */
__attribute__((format(printf, 4, 5))) static bool verdict_gap(sl_market_verdict *v, sl_market_why w,
                                                              int64_t gap, const char *fmt, ...) {
  va_list ap;
  v->why = w;
  v->gap = gap < 0 ? -1 : gap;
  va_start(ap, fmt);
  vsnprintf(v->detail, sizeof v->detail, fmt, ap);
  va_end(ap);
  return false;
}
#define verdict(v, w, ...) verdict_gap((v), (w), -1, __VA_ARGS__)

/* ---------------------------------------------------------------------------------------- */
/* Arguments                                                                                */

static bool str_list_ok(const char *const *list, size_t n) {
  if (n == 0) return true;
  if (list == NULL) return false;
  for (size_t i = 0; i < n; i++)
    if (list[i] == NULL) return false;
  return true;
}

static bool args_valid(const sl_market_order *o, const sl_market_pool *pools, size_t npools,
                       int64_t window_start, size_t nslots) {
  if (o == NULL || (npools > 0 && pools == NULL)) return false;
  if (o->gpus < 1 || o->duration_slots < 1) return false;
  if (!sl_time_on_slot(window_start) || !sl_time_on_slot(o->earliest_start) ||
      !sl_time_on_slot(o->latest_start))
    return false;
  if (o->earliest_start > o->latest_start || o->earliest_start < window_start) return false;
  int64_t span, window_end, need_end;
  if (nslots > (size_t)(INT64_MAX / SL_SLOT_SECONDS)) return false;
  span = (int64_t)nslots * SL_SLOT_SECONDS;
  if (__builtin_add_overflow(window_start, span, &window_end)) return false;
  if (__builtin_add_overflow(o->latest_start, (int64_t)o->duration_slots * SL_SLOT_SECONDS,
                             &need_end))
    return false;
  if (need_end > window_end) return false;
  if (o->split && o->max_pieces < 1) return false;
  if (o->min_gpus < 0 || o->min_gpus > o->gpus) return false;
  if (o->independent_starts && !o->split) return false;
  if (o->ncu_milli_wanted > 0 && o->min_gpus != 0 && o->min_gpus != o->gpus) return false;
  if (o->min_ncu_milli_filled < 0 ||
      (o->min_ncu_milli_filled > 0 && o->min_ncu_milli_filled > o->ncu_milli_wanted))
    return false; /* only with an amount of NCU, and at most that */
  if ((unsigned)o->objective > SL_OBJ_CHEAPEST_PER_NCU) return false;
  if (o->objective == SL_OBJ_TRADEOFF && o->money_per_ms_minor < 0) return false;
  if ((unsigned)o->intra > SL_INTRA_OTHER || (unsigned)o->min_inter > SL_INTER_INFINIBAND)
    return false;
  if (!str_list_ok(o->accelerators, o->n_accelerators) || !str_list_ok(o->regions, o->n_regions) ||
      !str_list_ok(o->excluded, o->n_excluded))
    return false;
  for (size_t i = 0; i < npools; i++) {
    const sl_market_pool *p = &pools[i];
    if (p->free == NULL || p->region == NULL || p->accelerator == NULL || p->price_minor < 0)
      return false;
  }
  return true;
}

/* ---------------------------------------------------------------------------------------- */
/* Static checks (HEALTH .. PRICE) and the ranking key                                      */

/* Runs the static checks; on failure fills *v and returns false.  On success *total is
 * order.gpus * duration * price (fits int64). */
static bool static_checks(const sl_market_order *o, const sl_market_pool *p, sl_market_verdict *v,
                          int64_t *total) {
  char a[SL_MONEY_STRLEN], b[SL_MONEY_STRLEN], c[SL_MONEY_STRLEN];
  char x[32], y[32];

  /* HEALTH */
  if (!p->active) return verdict(v, SL_WHY_HEALTH, "pool is not active");
  if (p->down) return verdict(v, SL_WHY_HEALTH, "pool health is down");

  /* SPEC */
  if (o->n_accelerators > 0 && !in_list(p->accelerator, o->accelerators, o->n_accelerators))
    return verdict(v, SL_WHY_SPEC, "model %s not in the order's list", p->accelerator);
  if (o->min_memory_gb >= 0) {
    if (p->memory_gb < 0)
      return verdict(v, SL_WHY_SPEC, "memory unknown, order needs min_memory_gb %d",
                     (int)o->min_memory_gb);
    if (p->memory_gb < o->min_memory_gb)
      return verdict(v, SL_WHY_SPEC, "min_memory_gb %d > %d", (int)o->min_memory_gb,
                     (int)p->memory_gb);
  }
  if (o->ncu_milli_wanted > 0 && sl_market_gpus_for(o, p) < 1)
    return verdict(v, SL_WHY_SPEC,
                   p->ncu_milli <= 0 ? "unrated model cannot deliver NCU"
                                     : "too many GPUs for the NCU asked");
  if (o->min_ncu_milli >= 0) {
    if (p->ncu_milli < 0) return verdict(v, SL_WHY_SPEC, "unrated model cannot meet min_ncu");
    if (p->ncu_milli < o->min_ncu_milli) {
      fmt_milli(o->min_ncu_milli, 3, x, sizeof x);
      fmt_milli(p->ncu_milli, 3, y, sizeof y);
      return verdict(v, SL_WHY_SPEC, "min_ncu %s > %s", x, y);
    }
  }
  if (o->intra != SL_INTRA_ANY && p->intra != o->intra)
    return verdict(v, SL_WHY_SPEC, "intra-node %s, order needs %s", intra_name(p->intra),
                   intra_name(o->intra));
  if (p->inter < o->min_inter)
    return verdict(v, SL_WHY_SPEC, "network %s below minimum %s", inter_name(p->inter),
                   inter_name(o->min_inter));
  if (o->min_inter_gbps > 0 && p->inter_gbps < o->min_inter_gbps)
    return verdict(v, SL_WHY_SPEC, "network %d Gb/s < min %d Gb/s", (int)p->inter_gbps,
                   (int)o->min_inter_gbps);

  /* REGION */
  if (o->n_regions > 0 && !in_list(p->region, o->regions, o->n_regions))
    return verdict(v, SL_WHY_REGION, "region %s not in the order's list", p->region);
  if (o->n_excluded > 0 && in_list(p->region, o->excluded, o->n_excluded))
    return verdict(v, SL_WHY_REGION, "region %s excluded", p->region);

  /* LATENCY */
  if (o->has_origin && o->max_rtt_us >= 0) {
    if (p->rtt_us < 0) return verdict(v, SL_WHY_LATENCY, "no RTT known from origin");
    if (p->rtt_us > o->max_rtt_us) {
      int dec = 1;
      fmt_milli(p->rtt_us, dec, x, sizeof x);
      fmt_milli(o->max_rtt_us, dec, y, sizeof y);
      if (strcmp(x, y) == 0) { /* 80.04 vs 80.00 would both read "80.0" */
        dec = 3;
        fmt_milli(p->rtt_us, dec, x, sizeof x);
        fmt_milli(o->max_rtt_us, dec, y, sizeof y);
      }
      return verdict_gap(v, SL_WHY_LATENCY, p->rtt_us - o->max_rtt_us, "RTT %s ms > max %s ms", x,
                         y);
    }
  }

  /* PRICE.  The gap is the price above the most the order allows for this pool under both
   * limits (so that it is monotone in price among pools of one model: the book's nearest). */
  if (o->max_price_minor >= 0 && p->price_minor > o->max_price_minor) {
    int64_t gap = p->price_minor - o->max_price_minor;
    if (o->max_ncu_price_minor >= 0) {
      __int128 over =
          (__int128)p->price_minor * 1000 - (__int128)o->max_ncu_price_minor * p->ncu_milli;
      if (p->ncu_milli <= 0) gap = -1; /* the NCU limit has no distance here */
      else if (over > 0 && (over + 999) / 1000 > gap) gap = sat128((over + 999) / 1000);
    }
    return verdict_gap(v, SL_WHY_PRICE, gap, "price %s > max %s per GPU-hour",
                       money(p->price_minor, a), money(o->max_price_minor, b));
  }
  if (o->max_ncu_price_minor >= 0) {
    if (p->ncu_milli < 0)
      return verdict(v, SL_WHY_PRICE, "unrated model has no price per NCU-hour");
    __int128 lhs = (__int128)p->price_minor * 1000;
    __int128 rhs = (__int128)o->max_ncu_price_minor * p->ncu_milli;
    if (lhs > rhs) {
      if (p->ncu_milli == 0)
        return verdict(v, SL_WHY_PRICE, "price %s per GPU-hour buys 0 NCU",
                       money(p->price_minor, a));
      /* per-NCU price, rounded up so that it reads above the maximum */
      __int128 per = (lhs + p->ncu_milli - 1) / p->ncu_milli;
      fmt_milli(p->ncu_milli, 3, x, sizeof x);
      /* the gap per GPU-hour: the price above the most the NCU limit allows for this pool */
      return verdict_gap(v, SL_WHY_PRICE, (int64_t)((lhs - rhs + 999) / 1000),
                         "price %s per NCU-hour > max %s (%s per GPU-hour at %s NCU)",
                         money128(per, a), money(o->max_ncu_price_minor, b),
                         money(p->price_minor, c), x);
    }
  }
  int64_t t;
  if (__builtin_mul_overflow((int64_t)sl_market_gpus_for(o, p) * o->duration_slots, p->price_minor,
                             &t))
    return verdict(v, SL_WHY_PRICE, "total overflows");
  *total = t;
  return true;
}

static mkey pool_key(const sl_market_order *o, const sl_market_pool *p) {
  mkey k = {{0, 0, 0}};
  bool unknown = o->has_origin && p->rtt_us < 0;
  /* a split NCU order's pieces are walked cheapest NCU first, whether CHEAPEST or not */
  sl_market_objective obj = o->objective == SL_OBJ_CHEAPEST && o->split && o->ncu_milli_wanted > 0
                                ? SL_OBJ_CHEAPEST_PER_NCU
                                : o->objective;
  switch (obj) {
  case SL_OBJ_CHEAPEST: /* a gang NCU order: the hourly cost of the GPUs that deliver it */
    k.k[1] = o->ncu_milli_wanted > 0 ? sat_mul(sl_market_gpus_for(o, p), p->price_minor)
                                     : p->price_minor;
    break;
  case SL_OBJ_LOWEST_LATENCY: /* RTT bands of latency_tol_us rank equal, then the price */
    if (unknown) k.k[0] = 1;
    else if (o->has_origin)
      k.k[1] = o->latency_tol_us > 0 ? p->rtt_us / o->latency_tol_us : p->rtt_us;
    k.k[2] = p->price_minor;
    break;
  case SL_OBJ_TRADEOFF:
    k.k[1] = sat_mul(p->price_minor, 1000);
    if (unknown) k.k[0] = 1;
    else if (o->has_origin) k.k[1] = sat_add(k.k[1], sat_mul(p->rtt_us, o->money_per_ms_minor));
    break;
  case SL_OBJ_CHEAPEST_PER_NCU:
    /* price per NCU-hour in millionths of a minor unit, rounded up; then the GPU-hour price */
    if (p->ncu_milli <= 0) k.k[0] = 1;
    else k.k[1] = sat128(((__int128)p->price_minor * 1000000000 + p->ncu_milli - 1) / p->ncu_milli);
    k.k[2] = p->price_minor;
    break;
  }
  return k;
}

/* ---------------------------------------------------------------------------------------- */
/* Capacity                                                                                 */

typedef struct {
  const sl_market_order *o;
  const sl_market_pool *pools;
  size_t npools;
  int64_t window_start;
  size_t first;   /* slot index of earliest_start */
  size_t nstarts; /* number of candidate starts */
  size_t dur;     /* duration in slots */
} mctx;

static int32_t free_at(const sl_market_pool *p, size_t i) {
  return p->free[i] < 0 ? 0 : p->free[i];
}

/* caps[t] = min free over the duration window of start t (t in [0, nstarts)), or -1 when that
 * window is not inside the pool's availability.  dq is scratch of nstarts + dur - 1 entries.
 * One pass of a monotonic deque: O(nstarts + dur). */
static void window_caps(const mctx *c, const sl_market_pool *p, int32_t *caps, size_t *dq) {
  size_t head = 0, tail = 0, last = c->first + c->nstarts + c->dur - 1;
  for (size_t j = c->first; j < last; j++) {
    int32_t v = free_at(p, j);
    while (tail > head && free_at(p, dq[tail - 1]) >= v) tail--;
    dq[tail++] = j;
    if (j + 1 >= c->first + c->dur) {
      size_t i = j + 1 - c->dur; /* start slot index */
      while (dq[head] < i) head++;
      caps[i - c->first] = free_at(p, dq[head]);
    }
  }
  int64_t d = (int64_t)c->dur * SL_SLOT_SECONDS;
  for (size_t t = 0; t < c->nstarts; t++) {
    int64_t s = c->window_start + (int64_t)(c->first + t) * SL_SLOT_SECONDS;
    if (s < p->avail_from || s + d > p->avail_until) caps[t] = -1; /* s + d <= window end */
  }
}

static int64_t start_of(const mctx *c, size_t t) {
  return c->window_start + (int64_t)(c->first + t) * SL_SLOT_SECONDS;
}

static void fill_piece(const mctx *c, sl_market_piece *pc, size_t idx, int64_t start, int32_t g) {
  const sl_market_pool *p = &c->pools[idx];
  pc->pool = idx;
  pc->start = start;
  pc->gpus = g;
  pc->unit_price_minor = p->price_minor;
  pc->total_minor = (int64_t)g * c->o->duration_slots * p->price_minor; /* <= checked total */
  pc->rtt_us = c->o->has_origin ? p->rtt_us : -1;
}

/* ---------------------------------------------------------------------------------------- */
/* Gang                                                                                     */

static bool match_gang(const mctx *c, const bool *ok, const int64_t *totals, int32_t *caps,
                       size_t *dq, sl_market_result *out) {
  const sl_market_order *o = c->o;
  const bool ncu = o->ncu_milli_wanted > 0;
  const bool partial =
      ncu ? o->min_ncu_milli_filled > 0 && o->min_ncu_milli_filled < o->ncu_milli_wanted
          : o->min_gpus > 0 && o->min_gpus < o->gpus;
  char a[SL_MONEY_STRLEN], b[SL_MONEY_STRLEN], f[24], u[24];
  rank_ent *ents = NULL;
  size_t n = 0;
  int32_t most = 0; /* the most GPUs a pool failing only on CAPACITY keeps free (not filled) */
  if (c->npools > 0 && (ents = calloc(c->npools, sizeof *ents)) == NULL) return false;

  for (size_t i = 0; i < c->npools; i++) {
    if (!ok[i]) continue;
    const sl_market_pool *p = &c->pools[i];
    sl_market_verdict *v = &out->verdicts[i];
    window_caps(c, p, caps, dq);
    const int32_t need = sl_market_gpus_for(o, p); /* >= 1: the static checks passed */
    const int32_t lo = sl_market_min_gpus_for(o, p);
    int32_t best = -1;
    for (size_t t = 0; t < c->nstarts; t++)
      if (caps[t] > best) best = caps[t];
    if (best < lo) {
      if (best < 0) {
        sl_time_format(p->avail_from, f, sizeof f);
        sl_time_format(p->avail_until, u, sizeof u);
        verdict(v, SL_WHY_CAPACITY, "availability [%s, %s) leaves no start in window", f, u);
      } else {
        verdict_gap(v, SL_WHY_CAPACITY, lo - best,
                    "no start in window with %d free GPUs (best: %d)", (int)lo, (int)best);
        if (best > most && o->ncu_milli_wanted <= 0) most = best;
      }
      continue;
    }
    /* the GPUs this pool gives: all it keeps free (at most `need`), within the budgets */
    int32_t g = best < need ? best : need;
    const int64_t unit = (int64_t)o->duration_slots * p->price_minor; /* <= totals[i], fits */
    if (o->budget_hourly_minor >= 0 && p->price_minor > 0 &&
        o->budget_hourly_minor / p->price_minor < g)
      g = (int32_t)(o->budget_hourly_minor / p->price_minor);
    if (o->budget_total_minor >= 0 && unit > 0 && o->budget_total_minor / unit < g)
      g = (int32_t)(o->budget_total_minor / unit);
    if (g < lo) {
      int64_t hourly = (int64_t)lo * p->price_minor, total = (int64_t)lo * unit;
      if (o->budget_hourly_minor >= 0 && hourly > o->budget_hourly_minor)
        verdict_gap(v, SL_WHY_BUDGET, hourly - o->budget_hourly_minor, "hourly cost %s > budget %s",
                    money(hourly, a), money(o->budget_hourly_minor, b));
      else
        verdict_gap(v, SL_WHY_BUDGET, total - o->budget_total_minor, "total %s > budget %s",
                    money(total, a), money(o->budget_total_minor, b));
      continue;
    }
    size_t found = 0;
    while (caps[found] < g) found++; /* exists: g <= best */
    ents[n].key = pool_key(o, p);
    /* a partial-fill order: the most GPUs (an NCU order: the most NCU, at most the amount, so
     * that every whole placement ties) first */
    const int64_t gave = ncu ? sat_mul(g, p->ncu_milli) : g;
    const int64_t cap = ncu ? o->ncu_milli_wanted : o->gpus;
    ents[n].prio = !partial ? 0 : -(gave < cap ? gave : cap);
    ents[n].start = start_of(c, found);
    ents[n].id = p->id;
    ents[n].idx = i;
    ents[n].gpus = g;
    n++;
  }
  (void)totals;

  if (n > 0) {
    qsort(ents, n, sizeof *ents, cmp_rank_ent);
    out->ranked = calloc(n, sizeof *out->ranked);
    out->pieces = calloc(1, sizeof *out->pieces);
    if (out->ranked == NULL || out->pieces == NULL) {
      free(ents);
      return false;
    }
    for (size_t r = 0; r < n; r++) {
      fill_piece(c, &out->ranked[r], ents[r].idx, ents[r].start, ents[r].gpus);
      sl_market_verdict *v = &out->verdicts[ents[r].idx];
      if (r == 0) verdict(v, SL_WHY_CHOSEN, "rank 1");
      else verdict(v, SL_WHY_OUTRANKED, "rank %zu", r + 1);
    }
    out->nranked = n;
    out->pieces[0] = out->ranked[0];
    out->npieces = 1;
    out->filled = true;
    out->gpus_filled = out->pieces[0].gpus;
    if (o->ncu_milli_wanted > 0)
      out->ncu_milli_filled =
          (int64_t)out->pieces[0].gpus * c->pools[out->pieces[0].pool].ncu_milli;
  } else {
    out->gpus_filled = most;
  }
  free(ents);
  return true;
}

/* ---------------------------------------------------------------------------------------- */
/* Split                                                                                    */

typedef struct {
  size_t r;  /* position in key order */
  int32_t g; /* GPUs taken */
} take;

typedef struct {
  size_t r;
  int64_t cap; /* what the pool can give, in the order's units (GPUs, or NCU thousandths) */
} rcap;

static int cmp_rcap_desc(const void *pa, const void *pb) {
  const rcap *a = pa, *b = pb;
  if (a->cap != b->cap) return a->cap > b->cap ? -1 : 1;
  return a->r < b->r ? -1 : a->r > b->r;
}

static int cmp_take_r(const void *pa, const void *pb) {
  const take *a = pa, *b = pb;
  return a->r < b->r ? -1 : a->r > b->r;
}

/* A Fenwick tree over caps sorted in descending order: present entries count 1 and their
 * cap; "sum of the j largest present caps" is one O(log n) descent. */
typedef struct {
  size_t n;
  int32_t *cnt; /* 1-based */
  int64_t *sum;
} fenwick;

/* Build over desc[0..n) (all present); dpos[r] = index in desc of key position r. */
static void fw_build(fenwick *f, const rcap *desc, size_t n, size_t *dpos) {
  f->n = n;
  for (size_t i = 1; i <= n; i++) {
    f->cnt[i] = 1;
    f->sum[i] = desc[i - 1].cap;
    dpos[desc[i - 1].r] = i - 1;
  }
  for (size_t i = 1; i <= n; i++) {
    size_t j = i + (i & (~i + 1));
    if (j <= n) {
      f->cnt[j] += f->cnt[i];
      f->sum[j] += f->sum[i];
    }
  }
}

static void fw_remove(fenwick *f, size_t i, int64_t cap) {
  for (size_t x = i + 1; x <= f->n; x += x & (~x + 1)) {
    f->cnt[x] -= 1;
    f->sum[x] -= cap;
  }
}

/* Sum of the j largest present caps (all of them when fewer are present). */
static int64_t fw_top(const fenwick *f, size_t j) {
  size_t pos = 0, step = 1;
  int64_t s = 0;
  while (step * 2 <= f->n) step *= 2;
  for (; step > 0; step /= 2) {
    if (pos + step <= f->n && (size_t)f->cnt[pos + step] <= j) {
      pos += step;
      j -= (size_t)f->cnt[pos];
      s += f->sum[pos];
    }
  }
  return s;
}

/* The order's units (issue 15): a GPU order counts GPUs (every pool's unit is 1), an NCU order
 * thousandths of an NCU (a pool's unit is its NCU per GPU, >= 1 once statically ok). */
typedef struct {
  const int64_t *unit; /* per key position */
  int64_t want;        /* gpus, or ncu_milli_wanted */
} units;

/* What `cap` GPUs of unit u give, at most `want` (a pool giving more than the order asks
 * counts as giving exactly that: coverage is unchanged and the sums stay small). */
static int64_t cap_units(int32_t cap, int64_t u, int64_t want) {
  if (cap <= 0) return 0;
  __int128 v = (__int128)cap * u;
  return v > want ? want : (int64_t)v;
}

/* The GPUs a pool of `cap` free GPUs of unit u gives towards `need` units: all it has, or the
 * fewest that cover `need`. */
static int32_t cover_gpus(int32_t cap, int64_t u, int64_t need) {
  int64_t g = need / u + (need % u != 0);
  return g < cap ? (int32_t)g : cap;
}

/* The cheapest single piece covering `rem` units at start t among the pools not in used[]:
 * least hourly cost, then least excess, then key order.  Returns false when none covers. */
static bool cheapest_cover(const mctx *c, const size_t *byk, const units *un, size_t nok,
                           const int32_t *capm, size_t t, const bool *used, int64_t rem, take *out,
                           __int128 *cost, int64_t *excess) {
  bool found = false;
  for (size_t j = 0; j < nok; j++) {
    int32_t cap = capm[j * c->nstarts + t];
    if (used[j] || cap <= 0 || cap_units(cap, un->unit[j], un->want) < rem) continue;
    int32_t g = cover_gpus(cap, un->unit[j], rem);
    __int128 cst = (__int128)g * c->pools[byk[j]].price_minor;
    int64_t ex = (int64_t)g * un->unit[j] - rem;
    if (!found || cst < *cost || (cst == *cost && ex < *excess)) {
      found = true;
      *out = (take){j, g};
      *cost = cst;
      *excess = ex;
    }
  }
  return found;
}

/* CHEAPEST for an NCU split order at start t (src/market/README.md, "Split NCU orders"): walk
 * the pools in key order (price per NCU-hour), taking from each the whole GPUs that do not
 * overshoot what is still needed; before each take, the fill so far plus the cheapest single
 * piece covering the rest (any unused pool) is a candidate.  fill[0..*n) is the best candidate
 * by (hourly cost, excess), in key order; false when none (the piece limit).  The plain greedy
 * fill is one of the candidates.  O(max_pieces * P).  used[] is scratch of nok entries, all
 * false on entry and on return. */
static bool cheapest_ncu_walk(const mctx *c, const size_t *byk, const units *un, size_t nok,
                              const int32_t *capm, size_t t, size_t kmax, bool *used, take *cur,
                              take *fill, size_t *n) {
  __int128 best_cost = -1, cf = 0, cst;
  int64_t best_ex = 0, rem = un->want, ex;
  size_t nc = 0, r = 0;
  take last;
  for (;;) {
    if (nc >= kmax) break;
    if (cheapest_cover(c, byk, un, nok, capm, t, used, rem, &last, &cst, &ex) &&
        (best_cost < 0 || cf + cst < best_cost || (cf + cst == best_cost && ex < best_ex))) {
      best_cost = cf + cst;
      best_ex = ex;
      memcpy(fill, cur, nc * sizeof *cur);
      fill[nc] = last;
      *n = nc + 1;
    }
    while (r < nok && (capm[r * c->nstarts + t] <= 0 || un->unit[r] > rem)) r++;
    if (r == nok) break;
    int64_t fl = rem / un->unit[r];
    int32_t cap = capm[r * c->nstarts + t], g = fl < cap ? (int32_t)fl : cap;
    cur[nc++] = (take){r, g};
    used[r] = true;
    rem -= (int64_t)g * un->unit[r];
    cf += (__int128)g * c->pools[byk[r]].price_minor;
    r++;
    if (rem == 0) { /* covered exactly by whole-GPU takes */
      if (best_cost < 0 || cf < best_cost || (cf == best_cost && best_ex > 0)) {
        best_cost = cf;
        best_ex = 0;
        memcpy(fill, cur, nc * sizeof *cur);
        *n = nc;
      }
      break;
    }
  }
  for (size_t e = 0; e < nc; e++) used[cur[e].r] = false;
  if (best_cost < 0) return false;
  qsort(fill, *n, sizeof *fill, cmp_take_r);
  return true;
}

/* At most this many DP cell updates per match (all starts together) for exact split fills;
 * a start whose DP would pass it keeps its repaired fill (src/market/README.md, "Split fills"). */
#define SL_SPLIT_EXACT_WORK ((size_t)1 << 24)

static void score_add(mscore *dst, const mscore *a, const mkey *k, int64_t g) {
  for (int i = 0; i < 3; i++) dst->s[i] = a->s[i] + (__int128)g * k->k[i];
}

/* The least-score fill of exactly `want` GPUs (a GPU order: every unit is 1) from at most kmax
 * of the pools at start t — pool r (key order) giving up to capm[r*nstarts+t] GPUs, g of them
 * scoring g * keys[r] per component, fills compared lexicographically (for CHEAPEST: the
 * hourly cost).  Exact: some optimum fills every chosen pool but its last in key order to its
 * cap (moving GPUs to an earlier pool with room never raises the score), so a knapsack
 * dp[k][g] = the least score of k pools filled to their caps holding g GPUs, built over the
 * pools in key order, with each pool also tried as the last one taking the rest, finds one.
 * Of pools of equal cap (clipped to want) only the kmax first in key order can be in it, so
 * the others are skipped.  Ties: the first optimum found in key order.  Writes fill[0..*n) in
 * key order and returns true; false when no fill exists, when the work would pass *budget
 * (cell updates left; decremented by the work done) or on no memory.
 * O(I * kmax * want) time with I <= min(P, want * kmax) the pools kept; memory O(kmax * want)
 * scores plus I * kmax * want bits to rebuild the optimum. */
static bool exact_fill(const mctx *c, const mkey *keys, size_t nok, const int32_t *capm, size_t t,
                       size_t kmax, int64_t want, size_t *budget, take *fill, size_t *n) {
  if (want < 1 || kmax < 1 || want > INT32_MAX) return false;
  const size_t w = (size_t)want;
  bool ok = false;
  size_t *items = calloc(nok ? nok : 1, sizeof *items);
  int32_t *kept = calloc(w + 1, sizeof *kept);
  mscore *dp = NULL;
  bool *reach = NULL;
  uint8_t *set = NULL;
  if (!items || !kept) goto cleanup;
  size_t ni = 0;
  for (size_t r = 0; r < nok; r++) {
    int64_t cap = capm[r * c->nstarts + t];
    if (cap <= 0) continue;
    size_t cc = cap < want ? (size_t)cap : w;
    if ((size_t)kept[cc] >= kmax) continue;
    kept[cc]++;
    items[ni++] = r;
  }
  if (ni == 0 || ni > *budget / kmax / w) goto cleanup;
  *budget -= ni * kmax * w;
  const size_t cells = kmax * w, bits = ni * cells;
  dp = calloc(cells, sizeof *dp);
  reach = calloc(cells, sizeof *reach);
  set = calloc(bits / 8 + 1, 1);
  if (!dp || !reach || !set) goto cleanup;
  reach[0] = true; /* dp[0][0]: no pool, no GPU, score 0 */
  bool have = false;
  mscore best, v;
  size_t bn = 0, bk = 0, bg = 0;
  for (size_t i = 0; i < ni; i++) {
    const size_t r = items[i];
    const int64_t cap = capm[r * c->nstarts + t];
    const size_t cc = cap < want ? (size_t)cap : w;
    for (size_t k = 0; k < kmax; k++) /* pool r as the last one, taking the rest */
      for (size_t g = w - cc; g < w; g++) {
        if (!reach[k * w + g]) continue;
        score_add(&v, &dp[k * w + g], &keys[r], (int64_t)(w - g));
        if (!have || cmp_score(&v, &best) < 0) {
          have = true;
          best = v;
          bn = i, bk = k, bg = g;
        }
      }
    if (cc >= w) continue;
    for (size_t k = kmax - 1; k-- > 0;) /* pool r filled to its cap (a later pool is last) */
      for (size_t g = 0; g + cc < w; g++) {
        if (!reach[k * w + g]) continue;
        score_add(&v, &dp[k * w + g], &keys[r], (int64_t)cc);
        size_t d = (k + 1) * w + g + cc;
        if (!reach[d] || cmp_score(&v, &dp[d]) < 0) {
          reach[d] = true;
          dp[d] = v;
          size_t b = i * cells + d;
          set[b / 8] |= (uint8_t)(1u << (b % 8));
        }
      }
  }
  if (!have) goto cleanup;
  /* rebuild: the last pool, then walking back the pool that last set each state */
  size_t m = 0, k = bk, g = bg;
  fill[m++] = (take){items[bn], (int32_t)(w - g)};
  for (size_t i = bn; k > 0 && i-- > 0;) {
    size_t b = i * cells + k * w + g;
    if (!(set[b / 8] & (1u << (b % 8)))) continue;
    int64_t cap = capm[items[i] * c->nstarts + t];
    fill[m++] = (take){items[i], (int32_t)cap};
    k--;
    g -= (size_t)cap;
  }
  qsort(fill, m, sizeof *fill, cmp_take_r);
  *n = m;
  ok = true;

cleanup:
  free(items);
  free(kept);
  free(dp);
  free(reach);
  free(set);
  return ok;
}

/* The score of fill[0..n): the GPUs of each piece times its pool's key, per component. */
static void take_score(const mkey *keys, const take *fill, size_t n, mscore *sc) {
  memset(sc, 0, sizeof *sc);
  for (size_t e = 0; e < n; e++) score_add(sc, sc, &keys[fill[e].r], fill[e].g);
}

/* The hourly cost and excess (units over `want`) of fill[0..n). */
static void fill_cost(const mctx *c, const size_t *byk, const units *un, const take *fill, size_t n,
                      __int128 *cost, int64_t *excess) {
  __int128 h = 0, got = 0;
  for (size_t e = 0; e < n; e++) {
    h += (__int128)fill[e].g * c->pools[byk[fill[e].r]].price_minor;
    got += (__int128)fill[e].g * un->unit[fill[e].r];
  }
  *cost = h;
  *excess = sat128(got - un->want);
}

/* Split matching.  byk[0..nok) = statically-ok pool indices in key order; capm[r*nstarts+t]
 * their caps (<= 0: none); un the order's units per key position.  Independent starts:
 * c->nstarts is 1 and capm[r] each pool's most GPUs at any start; real[r*nreal+t] are the caps
 * per real start, and each piece starts at the earliest real start giving its GPUs (real is
 * NULL otherwise). */
static bool match_split(const mctx *c, const size_t *byk, const mkey *keys, const units *un,
                        size_t nok, const int32_t *capm, const int32_t *real, size_t nreal,
                        sl_market_result *out) {
  const sl_market_order *o = c->o;
  const int32_t *rcap_m = real ? real : capm; /* caps per real start */
  const size_t rns = real ? nreal : c->nstarts;
  const size_t kmax = (size_t)o->max_pieces < nok ? (size_t)o->max_pieces : nok;
  const int64_t dslots = o->duration_slots;
  const bool ncu = o->ncu_milli_wanted > 0;
  /* an NCU order scores a fill by its money (CHEAPEST, CHEAPEST_PER_NCU) and CHEAPEST picks
   * the fill of least hourly cost (cheapest_ncu_walk) */
  const bool by_money =
      ncu && (o->objective == SL_OBJ_CHEAPEST || o->objective == SL_OBJ_CHEAPEST_PER_NCU);
  const bool walk = ncu && o->objective == SL_OBJ_CHEAPEST;
  const int64_t want = un->want;
  char a[SL_MONEY_STRLEN], b[SL_MONEY_STRLEN], x[32], y[32];
  bool okrc = false;
  take *fill = NULL, *best = NULL, *wfill = NULL, *wcur = NULL;
  rcap *desc = NULL;
  size_t *dpos = NULL;
  fenwick fw = {0, NULL, NULL};
  rank_ent *ents = NULL;
  bool *hascap = NULL, *chosen = NULL, *used = NULL;
  size_t *rankpos = NULL;
  if (nok > 0) {
    fill = calloc(nok, sizeof *fill);
    best = calloc(nok, sizeof *best);
    wfill = calloc(nok, sizeof *wfill);
    wcur = calloc(nok, sizeof *wcur);
    desc = calloc(nok, sizeof *desc);
    dpos = calloc(nok, sizeof *dpos);
    fw.cnt = calloc(nok + 1, sizeof *fw.cnt);
    fw.sum = calloc(nok + 1, sizeof *fw.sum);
    ents = calloc(nok, sizeof *ents);
    hascap = calloc(nok, sizeof *hascap);
    chosen = calloc(nok, sizeof *chosen);
    used = calloc(nok, sizeof *used);
    rankpos = calloc(c->npools, sizeof *rankpos);
    if (!fill || !best || !wfill || !wcur || !desc || !dpos || !fw.cnt || !fw.sum || !ents ||
        !hascap || !chosen || !used || !rankpos)
      goto cleanup;
  }

  size_t nbest = 0, best_t = 0;
  /* the fewest units a fill may give (an NCU order: min_ncu_milli_filled, else whole) */
  const int64_t lo = !ncu                          ? sl_market_min_gpus_for(o, NULL)
                     : o->min_ncu_milli_filled > 0 ? o->min_ncu_milli_filled
                                                   : want;
  int64_t best_got = 0;
  bool have_best = false, any_full = false;
  mscore best_score;
  memset(&best_score, 0, sizeof best_score);
  int64_t max_gather = 0;
  __int128 min_hourly = -1, min_total = -1; /* over full fills that broke the budget */
  size_t exact_budget = SL_SPLIT_EXACT_WORK;

  for (size_t t = 0; t < c->nstarts; t++) {
    int64_t need = want;
    int64_t got = want; /* units of this start's fill (an NCU order: want, for the comparison) */
    size_t n = 0;
    for (size_t r = 0; r < nok && need > 0 && n < kmax; r++) {
      int32_t cap = capm[r * c->nstarts + t];
      if (cap <= 0) continue;
      int32_t g = cover_gpus(cap, un->unit[r], need);
      fill[n++] = (take){r, g};
      need -= (int64_t)g * un->unit[r];
    }
    if (need > 0) {
      /* The greedy fill falls short: what can max_pieces pools gather at this start? */
      size_t nd = 0;
      for (size_t r = 0; r < nok; r++) {
        int32_t cap = capm[r * c->nstarts + t];
        if (cap > 0) desc[nd++] = (rcap){r, cap_units(cap, un->unit[r], want)};
      }
      if (nd > 1) qsort(desc, nd, sizeof *desc, cmp_rcap_desc);
      int64_t top = 0;
      for (size_t e = 0; e < nd && e < kmax; e++) top += desc[e].cap;
      if (top < want) {
        if (top > max_gather) max_gather = top;
        if (top < lo) continue;
        /* a partial fill: the max_pieces largest caps (ties: key order) gather the most units
         * any fill at this start can; taken whole (all their GPUs), in key order */
        n = 0;
        for (size_t e = 0; e < nd && e < kmax; e++) {
          take tk = {desc[e].r, capm[desc[e].r * c->nstarts + t]};
          size_t j = n++;
          for (; j > 0 && fill[j - 1].r > tk.r; j--) fill[j] = fill[j - 1];
          fill[j] = tk;
        }
        got = top;
        goto candidate;
      }
      /* Repair: key order, but take a pool only if the rest stays coverable by the kl - 1
       * largest caps after it (a Fenwick tree over the caps in descending order holds
       * exactly the pools after the walk's position). */
      fw_build(&fw, desc, nd, dpos);
      need = want;
      n = 0;
      size_t kl = kmax;
      for (size_t r = 0; r < nok && need > 0; r++) {
        int32_t cap = capm[r * c->nstarts + t];
        if (cap <= 0) continue;
        int32_t g = cover_gpus(cap, un->unit[r], need);
        int64_t gave = (int64_t)g * un->unit[r];
        fw_remove(&fw, dpos[r], cap_units(cap, un->unit[r], want));
        if (gave >= need) {
          fill[n++] = (take){r, g};
          need = 0;
          break;
        }
        if (kl < 2) continue;
        if (fw_top(&fw, kl - 1) >= need - gave) {
          fill[n++] = (take){r, g};
          need -= gave;
          kl--;
        }
      }
      if (need > 0) continue; /* cannot happen: the invariant keeps the rest coverable */
      /* The repaired fill keeps early pieces that may force dear late ones: a GPU order takes
       * the exact least-score fill instead when it is better (the plain greedy fill, when it
       * succeeds, is already the least-score one). */
      size_t ne = 0;
      if (!ncu && exact_fill(c, keys, nok, capm, t, kmax, want, &exact_budget, wfill, &ne)) {
        mscore se, sg;
        take_score(keys, wfill, ne, &se);
        take_score(keys, fill, n, &sg);
        if (cmp_score(&se, &sg) < 0) {
          memcpy(fill, wfill, ne * sizeof *fill);
          n = ne;
        }
      }
    }
    if (walk && n > 0) {
      /* CHEAPEST for NCU: the exact last piece of this fill (the cheapest single pool that
       * covers what the others leave), then the walk's fill when that costs less */
      __int128 cst, wc;
      int64_t ex, wex;
      take last;
      int64_t rem = want;
      for (size_t e = 0; e + 1 < n; e++) {
        rem -= (int64_t)fill[e].g * un->unit[fill[e].r];
        used[fill[e].r] = true;
      }
      if (cheapest_cover(c, byk, un, nok, capm, t, used, rem, &last, &cst, &ex)) fill[n - 1] = last;
      for (size_t e = 0; e + 1 < n; e++) used[fill[e].r] = false;
      qsort(fill, n, sizeof *fill, cmp_take_r);
      size_t nw = 0;
      fill_cost(c, byk, un, fill, n, &cst, &ex);
      if (cheapest_ncu_walk(c, byk, un, nok, capm, t, kmax, used, wcur, wfill, &nw)) {
        fill_cost(c, byk, un, wfill, nw, &wc, &wex);
        if (wc < cst || (wc == cst && wex < ex)) {
          memcpy(fill, wfill, nw * sizeof *fill);
          n = nw;
        }
      }
    }

  candidate:; /* A fill of `got` units: budget, then the most units, then the score. */
    __int128 hourly = 0, total = 0, gave = 0;
    mscore sc;
    memset(&sc, 0, sizeof sc);
    for (size_t e = 0; e < n; e++) {
      const sl_market_pool *p = &c->pools[byk[fill[e].r]];
      hourly += (__int128)fill[e].g * p->price_minor;
      total += (__int128)fill[e].g * dslots * p->price_minor;
      gave += (__int128)fill[e].g * un->unit[fill[e].r];
      for (int i = 0; i < 3; i++) sc.s[i] += (__int128)fill[e].g * keys[fill[e].r].k[i];
    }
    if (by_money) { /* an NCU order: the hourly cost, then the fewest excess NCU */
      memset(&sc, 0, sizeof sc);
      sc.s[0] = hourly;
      sc.s[1] = gave - want;
    }
    if ((o->budget_hourly_minor >= 0 && hourly > o->budget_hourly_minor) ||
        (o->budget_total_minor >= 0 && total > o->budget_total_minor)) {
      any_full = true;
      if (min_hourly < 0 || hourly < min_hourly) min_hourly = hourly;
      if (min_total < 0 || total < min_total) min_total = total;
      continue;
    }
    if (!have_best || got > best_got || (got == best_got && cmp_score(&sc, &best_score) < 0)) {
      have_best = true;
      best_got = got;
      best_score = sc;
      best_t = t;
      nbest = n;
      memcpy(best, fill, n * sizeof *fill);
    }
  }

  /* ranked: each statically-ok pool at its earliest start with a free GPU */
  size_t nr = 0;
  for (size_t r = 0; r < nok; r++) {
    const int32_t most = sl_market_gpus_for(o, &c->pools[byk[r]]); /* a piece needs no more */
    for (size_t t = 0; t < rns; t++) {
      int32_t cap = rcap_m[r * rns + t];
      if (cap <= 0) continue;
      ents[nr].key = keys[r];
      ents[nr].start = start_of(c, t);
      ents[nr].id = c->pools[byk[r]].id;
      ents[nr].idx = byk[r];
      ents[nr].gpus = cap < most ? cap : most;
      nr++;
      hascap[r] = true;
      break;
    }
  }
  if (nr > 0) {
    qsort(ents, nr, sizeof *ents, cmp_rank_ent);
    if ((out->ranked = calloc(nr, sizeof *out->ranked)) == NULL) goto cleanup;
    for (size_t e = 0; e < nr; e++) {
      fill_piece(c, &out->ranked[e], ents[e].idx, ents[e].start, ents[e].gpus);
      rankpos[ents[e].idx] = e + 1;
    }
    out->nranked = nr;
  }

  if (have_best) {
    if ((out->pieces = calloc(nbest, sizeof *out->pieces)) == NULL) goto cleanup;
    int64_t gpus = 0, gave = 0;
    for (size_t e = 0; e < nbest; e++) {
      size_t t = best_t;
      if (real) /* independent starts: the earliest start giving the piece's GPUs (exists) */
        for (t = 0; t < rns - 1 && real[best[e].r * rns + t] < best[e].g; t++) continue;
      fill_piece(c, &out->pieces[e], byk[best[e].r], start_of(c, t), best[e].g);
      chosen[best[e].r] = true;
      gpus += best[e].g;
      gave += (int64_t)best[e].g * un->unit[best[e].r];
      if (ncu) {
        fmt_milli((int64_t)best[e].g * un->unit[best[e].r], 3, x, sizeof x);
        verdict(&out->verdicts[byk[best[e].r]], SL_WHY_CHOSEN, "%d GPUs (%s NCU), piece %zu of %zu",
                (int)best[e].g, x, e + 1, nbest);
      } else {
        verdict(&out->verdicts[byk[best[e].r]], SL_WHY_CHOSEN, "%d GPUs, piece %zu of %zu",
                (int)best[e].g, e + 1, nbest);
      }
    }
    out->npieces = nbest;
    out->filled = true;
    out->gpus_filled = gpus > INT32_MAX ? INT32_MAX : (int32_t)gpus;
    out->ncu_milli_filled = ncu ? gave : 0;
  }

  for (size_t r = 0; r < nok; r++) {
    size_t i = byk[r];
    sl_market_verdict *v = &out->verdicts[i];
    bool has_cap = hascap[r];
    if (have_best) {
      if (chosen[r]) continue; /* part of the fill */
      if (!has_cap) {
        verdict(v, SL_WHY_CAPACITY, "no free GPU at any start in window");
      } else if (capm[r * c->nstarts + best_t] <= 0) {
        verdict(v, SL_WHY_OUTRANKED, "rank %zu; no free GPU at the chosen start", rankpos[i]);
      } else {
        verdict(v, SL_WHY_OUTRANKED, "rank %zu", rankpos[i]);
      }
    } else if (any_full && has_cap) {
      if (o->budget_hourly_minor >= 0 && min_hourly > o->budget_hourly_minor)
        verdict_gap(v, SL_WHY_BUDGET, sat128(min_hourly - o->budget_hourly_minor),
                    "every full fill exceeds the hourly budget %s (lowest: %s)",
                    money(o->budget_hourly_minor, a), money128(min_hourly, b));
      else if (o->budget_total_minor >= 0 && min_total > o->budget_total_minor)
        verdict_gap(v, SL_WHY_BUDGET, sat128(min_total - o->budget_total_minor),
                    "every full fill exceeds the total budget %s (lowest: %s)",
                    money(o->budget_total_minor, a), money128(min_total, b));
      else verdict(v, SL_WHY_BUDGET, "no full fill meets both the hourly and the total budget");
    } else if (any_full) {
      verdict(v, SL_WHY_CAPACITY, "no free GPU at any start in window");
    } else if (has_cap && ncu) { /* NCU short has no GPU distance: none */
      fmt_milli(want, 3, x, sizeof x);
      fmt_milli(max_gather, 3, y, sizeof y);
      verdict(v, SL_WHY_CAPACITY,
              "no start in window gathers %s NCU (best: %s in at most %d pools)", x, y,
              (int)o->max_pieces);
    } else if (has_cap) {
      verdict_gap(v, SL_WHY_CAPACITY, o->gpus - max_gather,
                  "no start in window gathers %d GPUs (best: %lld in at most %d pools)",
                  (int)o->gpus, (long long)max_gather, (int)o->max_pieces);
    } else if (ncu) {
      fmt_milli(max_gather, 3, y, sizeof y);
      fmt_milli(want, 3, x, sizeof x);
      verdict(v, SL_WHY_CAPACITY,
              "no free GPU at any start in window (best start gathers %s of %s NCU)", y, x);
    } else {
      verdict(v, SL_WHY_CAPACITY,
              "no free GPU at any start in window (best start gathers %lld of %d)",
              (long long)max_gather, (int)o->gpus);
    }
  }
  if (!have_best && !any_full) {
    /* an NCU order: the NCU, not GPUs (its pools' GPUs are not comparable) */
    out->gpus_filled = ncu ? 0 : (int32_t)max_gather;
    out->ncu_milli_filled = ncu ? max_gather : 0;
  }
  okrc = true;

cleanup:
  free(fill);
  free(best);
  free(wfill);
  free(wcur);
  free(desc);
  free(dpos);
  free(fw.cnt);
  free(fw.sum);
  free(ents);
  free(hascap);
  free(chosen);
  free(used);
  free(rankpos);
  return okrc;
}

/* ---------------------------------------------------------------------------------------- */
/* Entry points                                                                             */

void sl_market_result_free(sl_market_result *r) {
  if (r == NULL) return;
  free(r->pieces);
  free(r->ranked);
  free(r->verdicts);
  memset(r, 0, sizeof *r);
}

bool sl_market_match(const sl_market_order *order, const sl_market_pool *pools, size_t npools,
                     int64_t window_start, size_t nslots, sl_market_result *out) {
  if (out == NULL) return false;
  memset(out, 0, sizeof *out);
  if (!args_valid(order, pools, npools, window_start, nslots)) return false;

  mctx c = {
      .o = order,
      .pools = pools,
      .npools = npools,
      .window_start = window_start,
      .first = (size_t)((order->earliest_start - window_start) / SL_SLOT_SECONDS),
      .nstarts = (size_t)((order->latest_start - order->earliest_start) / SL_SLOT_SECONDS) + 1,
      .dur = (size_t)order->duration_slots,
  };
  bool rc = false;
  bool *ok = NULL;
  int64_t *totals = NULL;
  int32_t *caps = NULL, *capm = NULL, *capv = NULL;
  size_t *dq = NULL, *byk = NULL;
  mkey *keys = NULL;
  int64_t *unit = NULL;
  rank_ent *ord = NULL;

  if (npools == 0) return true; /* nothing to match: not filled, no verdicts */
  out->verdicts = calloc(npools, sizeof *out->verdicts);
  ok = calloc(npools, sizeof *ok);
  totals = calloc(npools, sizeof *totals);
  caps = calloc(c.nstarts, sizeof *caps);
  dq = calloc(c.nstarts + c.dur, sizeof *dq);
  if (!out->verdicts || !ok || !totals || !caps || !dq) goto cleanup;

  size_t nok = 0;
  for (size_t i = 0; i < npools; i++) {
    if (static_checks(order, &pools[i], &out->verdicts[i], &totals[i])) {
      ok[i] = true;
      nok++;
    }
  }

  if (!order->split) {
    rc = match_gang(&c, ok, totals, caps, dq, out);
    goto cleanup;
  }

  /* split: statically-ok pools in key order (ties: id, then index), and their caps */
  if (nok > 0) {
    if (nok > SIZE_MAX / sizeof(int32_t) / c.nstarts) goto cleanup;
    ord = calloc(nok, sizeof *ord);
    byk = calloc(nok, sizeof *byk);
    keys = calloc(nok, sizeof *keys);
    capm = calloc(nok * c.nstarts, sizeof *capm);
    unit = calloc(nok, sizeof *unit);
    if (!ord || !byk || !keys || !capm || !unit) goto cleanup;
    size_t n = 0;
    for (size_t i = 0; i < npools; i++) {
      if (!ok[i]) continue;
      ord[n] = (rank_ent){.key = pool_key(order, &pools[i]), .id = pools[i].id, .idx = i};
      n++;
    }
    qsort(ord, nok, sizeof *ord, cmp_rank_ent);
    for (size_t r = 0; r < nok; r++) {
      byk[r] = ord[r].idx;
      keys[r] = ord[r].key;
      unit[r] = order->ncu_milli_wanted > 0 ? pools[byk[r]].ncu_milli : 1; /* >= 1: static ok */
      window_caps(&c, &pools[byk[r]], &capm[r * c.nstarts], dq);
    }
  }
  const units un = {unit, order->ncu_milli_wanted > 0 ? order->ncu_milli_wanted : order->gpus};
  if (order->independent_starts) {
    /* each pool offers its most GPUs at any start: one fill over those, as at a single start */
    if (nok > 0 && (capv = calloc(nok, sizeof *capv)) == NULL) goto cleanup;
    for (size_t r = 0; r < nok; r++) {
      capv[r] = -1;
      for (size_t t = 0; t < c.nstarts; t++)
        if (capm[r * c.nstarts + t] > capv[r]) capv[r] = capm[r * c.nstarts + t];
    }
    mctx cv = c;
    cv.nstarts = 1;
    rc = match_split(&cv, byk, keys, &un, nok, capv, capm, c.nstarts, out);
    goto cleanup;
  }
  rc = match_split(&c, byk, keys, &un, nok, capm, NULL, 0, out);

cleanup:
  free(ok);
  free(totals);
  free(caps);
  free(capm);
  free(capv);
  free(dq);
  free(byk);
  free(keys);
  free(unit);
  free(ord);
  if (!rc) sl_market_result_free(out);
  return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Exported for the capacity book (book.c): the same rules, one pool at a time.             */

sl_market_why sl_market_static_check(const sl_market_order *o, const sl_market_pool *p,
                                     sl_market_verdict *v) {
  sl_market_verdict scratch;
  int64_t total;
  if (!v) v = &scratch;
  if (static_checks(o, p, v, &total)) return SL_WHY_CHOSEN;
  return v->why;
}

void sl_market_key(const sl_market_order *o, const sl_market_pool *p, int64_t key[3]) {
  mkey k = pool_key(o, p);
  for (int i = 0; i < 3; i++) key[i] = k.k[i];
}

int32_t sl_market_best_cap(const sl_market_order *o, const sl_market_pool *p, int64_t window_start,
                           size_t nslots) {
  if (!o || !p || !p->free || !args_valid(o, NULL, 0, window_start, nslots)) return -1;
  mctx c = {
      .o = o,
      .window_start = window_start,
      .first = (size_t)((o->earliest_start - window_start) / SL_SLOT_SECONDS),
      .nstarts = (size_t)((o->latest_start - o->earliest_start) / SL_SLOT_SECONDS) + 1,
      .dur = (size_t)o->duration_slots,
  };
  int32_t *caps = calloc(c.nstarts, sizeof *caps), best = -1;
  size_t *dq = calloc(c.nstarts + c.dur, sizeof *dq);
  if (caps && dq) {
    window_caps(&c, p, caps, dq);
    for (size_t t = 0; t < c.nstarts; t++)
      if (caps[t] > best) best = caps[t];
  }
  free(caps);
  free(dq);
  return best;
}

bool sl_market_nearer(const sl_market_verdict *a, const sl_market_pool *pa,
                      const sl_market_verdict *b, const sl_market_pool *pb) {
  uint64_t ga = a->gap < 0 ? UINT64_MAX : (uint64_t)a->gap;
  uint64_t gb = b->gap < 0 ? UINT64_MAX : (uint64_t)b->gap;
  if (ga != gb) return ga < gb;
  if (pa->price_minor != pb->price_minor) return pa->price_minor < pb->price_minor;
  return pa->id < pb->id;
}

int32_t sl_market_min_gpus_for(const sl_market_order *o, const sl_market_pool *p) {
  if (o->ncu_milli_wanted <= 0 && o->min_gpus > 0 && o->min_gpus < o->gpus) return o->min_gpus;
  if (o->ncu_milli_wanted > 0 && o->min_ncu_milli_filled > 0 &&
      o->min_ncu_milli_filled < o->ncu_milli_wanted && p->ncu_milli > 0) {
    int64_t g =
        o->min_ncu_milli_filled / p->ncu_milli + (o->min_ncu_milli_filled % p->ncu_milli != 0);
    return g > INT32_MAX ? 0 : (int32_t)g;
  }
  return sl_market_gpus_for(o, p);
}

int32_t sl_market_gpus_for(const sl_market_order *o, const sl_market_pool *p) {
  if (o->ncu_milli_wanted <= 0) return o->gpus;
  if (p->ncu_milli <= 0) return 0;
  int64_t g = o->ncu_milli_wanted / p->ncu_milli + (o->ncu_milli_wanted % p->ncu_milli != 0);
  return g > INT32_MAX ? 0 : (int32_t)g;
}
