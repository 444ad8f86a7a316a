/* exchange.h — the order flow and the background workers (src/exchange/).
 *
 * Placing an order: load a snapshot of the book (pools, RTTs, booked slots) through src/db,
 * run the pure matcher (src/market), then buy each chosen piece with the stored procedure
 * sl_trade, which books the slots under the database's no-overbooking constraint, writes the
 * trade, its escrow postings and its pending reservation atomically.  A piece that lost a
 * race (capacity or price changed since the snapshot) rolls the pieces back to a savepoint
 * and the whole match is redone on a fresh snapshot, a bounded number of times. */
#ifndef SUANLI_EXCHANGE_H
#define SUANLI_EXCHANGE_H
#include <jansson.h>
#include "suanli/db.h"
#include "suanli/market.h"
#include "suanli/order.h"

#include "suanli/book.h"

#define SL_XCHG_LIMIT_DEFAULT 10    /* ranked placements in a quote unless asked otherwise */
#define SL_XCHG_LIMIT_MAX 100
#define SL_XCHG_EXAMPLES 3          /* named pools per reason in a quote */
#define SL_XCHG_MAX_EXAMINED 20000  /* statically fit pools checked for capacity, at most */

/* A bounded match against this process's capacity book (src/exchange/book.c). */
typedef struct sl_xchg_book {
  sl_book_match m;        /* matcher input (candidates, examples), result, counts */
  sl_mkt_order order;     /* the order as matched: window from now, budget caps applied */
  int64_t window_start;
  size_t nslots;
} sl_xchg_book;

/* Match order o for tenant (budget caps applied; 0 = none) at time now against the book,
 * after syncing it with the database: at most `limit` ranked placements, the pools in
 * exclude[] left out.  Returns SL_DB_OK with *book filled (free with sl_xchg_book_free; its
 * region/accelerator names are valid until the book reloads) or an error. */
sl_dbrc sl_xchg_match(sl_dbc *c, sl_order_req *o, int64_t tenant, int64_t now, size_t limit,
                      const int64_t *exclude, size_t nexclude, sl_xchg_book *book);
void sl_xchg_book_free(sl_xchg_book *b);

typedef struct sl_xchg_quote_opts {
  size_t limit;      /* ranked placements (0 = SL_XCHG_LIMIT_DEFAULT) */
  bool rejected;     /* also one page of the full per-pool list */
  int64_t after;     /* ... of pools with id > after */
  size_t page;       /* ... at most this many (0 = 100) */
} sl_xchg_quote_opts;

/* The quote reply, bounded whatever the market's size: {"filled", "gpus", "gpus_available",
 * "total", "window", "placements", "ranked" (<= limit), "reasons": [{reason, pools,
 * examples: [{pool_id, region, accelerator, detail}]}], "pools": {total, examined,
 * unexamined}} and, when asked, "rejected" (one page) and "rejected_next". */
sl_dbrc sl_xchg_quote(sl_dbc *c, sl_order_req *o, int64_t tenant, int64_t now,
                      const sl_xchg_quote_opts *q, json_t **out);

/* This process's capacity book (src/exchange/book.c). */
bool sl_xbook_start(const char *conninfo);   /* own connection; loads the book */
void sl_xbook_stop(void);
bool sl_xbook_ready(void);
/* Changes whenever a pool's attributes, the ratings or the latency matrix may have changed
 * (bookings alone do not count; 0: never loaded); listings built from the database at one
 * version stay valid while it holds (src/http/cache.c). */
uint64_t sl_xbook_version(void);
/* Bring the book up to date with every change committed before asked_us (sl_time_now_us);
 * concurrent callers share one read of the feed. */
sl_dbrc sl_xbook_sync(int64_t asked_us);
sl_dbrc sl_xbook_reload(void);              /* from the tables, whole */
/* This process committed a change (called after every successful mutating request). */
void sl_xbook_touch(void);
/* Sync unless the last sync began after this process's last committed change and less than
 * max_age_us ago (a listener syncs on every NOTIFY, so other processes' changes arrive within
 * milliseconds; max_age_us bounds it when notifications are lost). */
sl_dbrc sl_xbook_sync_recent(int64_t max_age_us);
void sl_xbook_read_lock(void);
void sl_xbook_read_unlock(void);
const sl_book *sl_xbook_get(void);           /* under the read lock */
void sl_xbook_stats(size_t *pools, size_t *bytes, unsigned long *reloads, unsigned long *syncs);
/* The book's size and digest after a sync; with verify, also the digest of a book loaded
 * afresh from the same database snapshot ("agrees": the two are equal).  Admin diagnostics. */
sl_dbrc sl_xbook_check(bool verify, json_t **out);
void sl_xchg_retries_add(unsigned long n);
unsigned long sl_xchg_retries(void);         /* stale placements refused and retried */

typedef enum {
  SL_XCHG_FILLED,        /* every piece bought */
  SL_XCHG_NOT_FILLED,    /* nothing fits now (reason says why) */
  SL_XCHG_NO_FUNDS,      /* the tenant cannot pay: nothing may be written */
} sl_xchg_outcome;

/* Try to fill open order `order_id` (already inserted and, for resting orders, locked) in the
 * caller's transaction.  On SL_XCHG_NOT_FILLED, reason (>= 256 bytes) explains; the caller
 * decides whether the order rests or is killed.  Database errors are returned as-is. */
sl_dbrc sl_xchg_execute(sl_dbc *c, int64_t order_id, int64_t tenant, sl_order_req *o, int64_t now,
                        sl_xchg_outcome *outcome, char *reason, size_t reason_len);

/* Background workers: the book matcher (re-matches resting orders when a pool event names a
 * pool they could use; woken by NOTIFY suanli_book, polling as a fallback) and maintenance
 * (settles trades whose window ended, expires orders).  They use their own connections. */
typedef struct sl_workers sl_workers;
sl_workers *sl_workers_start(const char *conninfo);
void sl_workers_stop(sl_workers *w);

#endif
