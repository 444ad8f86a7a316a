/* book.h — the in-memory capacity book (src/market/book.c): pure data structures, no I/O.
 *
 * Each suanlid process holds one book: every non-retired pool's market attributes and its
 * booked GPUs per future slot, plus the latency matrix, indexed so that a quote touches only
 * candidate pools.  The caller (src/trading/book.c) fills it from PostgreSQL and keeps it
 * current from the change feed; PostgreSQL stays the truth and arbitrates every booking.
 *
 * Not thread-safe: the caller serialises writers against readers (a read-write lock).
 * Strings a reader gets back (region, accelerator) are interned and live as long as the book.
 * Time: epoch seconds, slots are whole hours. */
#ifndef SUANLI_BOOK_H
#define SUANLI_BOOK_H
#include "suanli/market/market.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl_market_book sl_market_book;

/* A pool's market attributes, as loaded from the database. */
typedef struct sl_market_book_pool {
  int64_t id, owner_id;
  const char *region, *accelerator;
  int32_t memory_gb; /* per GPU, -1 unknown */
  int64_t ncu_milli; /* -1 unrated */
  sl_market_intra intra;
  sl_market_inter inter;
  int32_t inter_gbps, gpu_count;
  int64_t price_minor, avail_from, avail_until;
  bool active, down;
} sl_market_book_pool;

sl_market_book *sl_market_book_new(void);
void sl_market_book_free(sl_market_book *b);

/* Insert pool p or replace its attributes (its bookings are kept).  False on allocation
 * failure (the book is then unchanged). */
bool sl_market_book_put(sl_market_book *b, const sl_market_book_pool *p);
/* Remove pool id (retired or gone); no-op when unknown. */
void sl_market_book_remove(sl_market_book *b, int64_t id);
/* Replace the booked GPUs of pool id in slots [from, to] (inclusive, slot-aligned) by the n
 * given (slots[i], booked[i]) pairs; pairs outside the range or with booked <= 0 are ignored.
 * False on allocation failure or unknown pool. */
bool sl_market_book_set_booked(sl_market_book *b, int64_t id, int64_t from, int64_t to,
                               const int64_t *slots, const int32_t *booked, size_t n);
/* Drop every booking of slots before `slot` (past slots never matter again). */
void sl_market_book_forget_before(sl_market_book *b, int64_t slot);
/* The latency matrix: set one directed RTT (measured, or a great-circle estimate), or forget
 * them all.  sl_market_book_set_rtt sets a measured one. */
bool sl_market_book_set_rtt(sl_market_book *b, const char *from, const char *to, int64_t rtt_us);
bool sl_market_book_set_rtt_source(sl_market_book *b, const char *from, const char *to,
                                   int64_t rtt_us, bool estimated);
void sl_market_book_clear_rtt(sl_market_book *b);
/* Names of models: `name` (a model id or an alias such as a family, "H100") names model
 * `accelerator`; one name may name several models.  Matched case-insensitively. */
bool sl_market_book_add_name(sl_market_book *b, const char *name, const char *accelerator);
/* The models an order's accelerator list names: each name as given, and every model a name
 * resolves to, without duplicates.  Returns a malloc'd array (the caller frees it, not the
 * strings: they point into names[] and the book) of *nout entries, NULL on allocation
 * failure. */
const char **sl_market_book_resolve(const sl_market_book *b, const char *const *names, size_t n,
                                    size_t *nout);

/* Whether the book knows `code`: a model name (id or alias, case-insensitively, like
 * sl_market_book_resolve) when `model`, else a region code (exactly) that one of its pools or
 * latency entries names.  A known code exists in the database; an unknown one may still
 * (a region without pools or latency): ask the database then. */
bool sl_market_book_knows(const sl_market_book *b, bool model, const char *code);

size_t sl_market_book_size(const sl_market_book *b);   /* pools */
size_t sl_market_book_memory(const sl_market_book *b); /* bytes held, approximately */
/* Pool id's attributes (strings point into the book); false when unknown. */
bool sl_market_book_get(const sl_market_book *b, int64_t id, sl_market_book_pool *out);
/* Booked GPUs of pool id in `slot` (0 when none); -1 when the pool is unknown. */
int32_t sl_market_book_booked_at(const sl_market_book *b, int64_t id, int64_t slot);

/* A hash of the pools, their attributes, their bookings of slots >= from_slot and the
 * latency matrix: two books with the same content have the same digest. */
uint64_t sl_market_book_digest(const sl_market_book *b, int64_t from_slot);

/* How a match is bounded. */
typedef struct sl_market_book_opts {
  size_t limit;        /* ranked placements wanted (>= 1) */
  size_t examples;     /* named examples per reason (<= SL_MARKET_BOOK_EXAMPLES) */
  size_t max_examined; /* statically fit pools examined for capacity at most */
  const int64_t *exclude;
  size_t n_exclude; /* pool ids to leave out (refused this round) */
} sl_market_book_opts;

#define SL_MARKET_BOOK_EXAMPLES 5

/* A bounded match: the matcher ran over `pools` (the examined candidates and the examples);
 * counts cover every pool of the book. */
typedef struct sl_market_book_match {
  sl_market_pool *pools; /* matcher input; region/accelerator point into the book */
  int64_t *owner;        /* owner id per input pool */
  int32_t *free;         /* npools * nslots */
  size_t npools;
  sl_market_result result;             /* over pools[] */
  size_t counts[SL_WHY_OUTRANKED + 1]; /* pools of the book per verdict */
  size_t examples[SL_WHY_OUTRANKED + 1][SL_MARKET_BOOK_EXAMPLES]; /* indexes into pools[] */
  size_t nexamples[SL_WHY_OUTRANKED + 1];
  /* per reason, the index into pools[] of the nearest miss (SIZE_MAX when no pool of pools[]
   * has that verdict); examples[w][0] when there are examples.  Exact over the whole book for
   * LATENCY, PRICE, CAPACITY and BUDGET (src/market/README.md, "Nearest miss"). */
  size_t nearest[SL_WHY_OUTRANKED + 1];
  size_t total;      /* pools in the book */
  size_t examined;   /* statically fit pools whose capacity was looked at */
  size_t unexamined; /* statically fit pools ranked after the examined ones */
  size_t pruned;     /* statically fit pools too small for a gang order (CAPACITY), by index */
} sl_market_book_match;

/* Match order m (budget fields as the caller set them; has_origin with `origin` naming the
 * origin region) against the book over the window [window_start, window_start + nslots h).
 * Cost: O(buckets + examined * (log B + bookings in the window) + matcher over the examined).
 * Returns false on allocation failure or invalid arguments (*out is then empty). */
bool sl_market_book_match_order(const sl_market_book *b, const sl_market_order *m,
                                const char *origin, int64_t window_start, size_t nslots,
                                const sl_market_book_opts *opts, sl_market_book_match *out);
void sl_market_book_match_free(sl_market_book_match *m);

/* One row of the full per-pool list. */
typedef struct sl_market_book_verdict_row {
  int64_t pool_id;
  const char *region, *accelerator;
  sl_market_verdict v;
} sl_market_book_verdict_row;

/* The per-pool verdicts of pools with id > after, in id order, at most max rows (chosen pools
 * are left out: `chosen` lists them).  Feasible pools that were not chosen read OUTRANKED.
 * *next is the cursor for the next page (0 when this was the last).  *rows is malloc'd. */
bool sl_market_book_verdicts(const sl_market_book *b, const sl_market_order *m, const char *origin,
                             int64_t window_start, size_t nslots, const int64_t *chosen,
                             size_t nchosen, int64_t after, size_t max,
                             sl_market_book_verdict_row **rows, size_t *n, int64_t *next);

#endif
