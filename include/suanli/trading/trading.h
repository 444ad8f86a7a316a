/* trading/trading.h — the trading module (src/trading/): the order flow, the process's
 * capacity book, and the background steps (book worker, maintenance, failover).
 *
 * Placing an order: load a snapshot of the book (pools, RTTs, booked slots) through src/db,
 * run the pure matcher (src/market), then buy each chosen piece with the stored procedure
 * sl_trade, which books the slots under the database's no-overbooking constraint, writes the
 * trade, its escrow postings and its pending reservation atomically.  A piece that lost a
 * race (capacity or price changed since the snapshot) rolls the pieces back to a savepoint
 * and the whole match is redone on a fresh snapshot, a bounded number of times. */
#ifndef SUANLI_TRADING_H
#define SUANLI_TRADING_H
#include "suanli/db/db.h"
#include "suanli/market/market.h"
#include "suanli/market/order.h"
#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "suanli/market/book.h"

#define SL_TRADING_LIMIT_DEFAULT 10 /* ranked placements in a quote unless asked otherwise */
#define SL_TRADING_LIMIT_MAX     100
#define SL_TRADING_EXAMPLES      3     /* named pools per reason in a quote */
#define SL_TRADING_MAX_EXAMINED  20000 /* statically fit pools checked for capacity, at most */

/* A bounded match against this process's capacity book (src/trading/book.c). */
typedef struct sl_trading_book {
  sl_market_book_match m; /* matcher input (candidates, examples), result, counts */
  sl_market_order order;  /* the order as matched: window from now, budget caps applied */
  int64_t window_start;
  size_t nslots;
  const char **models; /* owned: the order's accelerator names resolved to models */
} sl_trading_book;

/* Match order o for tenant (budget caps applied; 0 = none) at time now against the book,
 * after syncing it with the database: at most `limit` ranked placements, the pools in
 * exclude[] left out.  Returns SL_DB_OK with *book filled (free with sl_trading_book_free; its
 * region/accelerator names are valid until the book reloads) or an error. */
sl_dbrc sl_trading_match(sl_dbc *c, sl_market_order_req *o, int64_t tenant, int64_t now,
                         size_t limit, const int64_t *exclude, size_t nexclude,
                         sl_trading_book *book);
void sl_trading_book_free(sl_trading_book *b);
/* Why an unfilled match filled nothing, as an order's reason: "no placement for the whole
 * order: 12 spec, 3 price; nearest miss: pool 7 (region, model): detail" — the nearest miss
 * of the reason furthest along the checks (src/market/README.md). */
void sl_trading_summary(const sl_trading_book *b, char *out, size_t len);

typedef struct sl_trading_quote_opts {
  size_t limit;  /* ranked placements (0 = SL_TRADING_LIMIT_DEFAULT) */
  bool rejected; /* also one page of the full per-pool list */
  int64_t after; /* ... of pools with id > after */
  size_t page;   /* ... at most this many (0 = 100) */
} sl_trading_quote_opts;

/* The quote reply, bounded whatever the market's size: {"filled", "gpus", "gpus_available",
 * "total", "window", "placements", "ranked" (<= limit), "reasons": [{reason, pools,
 * examples: [{pool_id, region, accelerator, detail}], nearest: {pool_id, region, accelerator,
 * detail, gap} or null}], "pools": {total, examined,
 * unexamined}} and, when asked, "rejected" (one page) and "rejected_next". */
sl_dbrc sl_trading_quote(sl_dbc *c, sl_market_order_req *o, int64_t tenant, int64_t now,
                         const sl_trading_quote_opts *q, json_t **out);

/* This process's capacity book (src/trading/book.c). */
bool sl_trading_book_start(const char *conninfo); /* own connection; loads the book */
void sl_trading_book_stop(void);
bool sl_trading_book_ready(void);
/* Changes whenever a pool's attributes, the ratings or the latency matrix may have changed
 * (bookings alone do not count; 0: never loaded); listings built from the database at one
 * version stay valid while it holds (src/http/cache.c). */
uint64_t sl_trading_book_version(void);
/* Bring the book up to date with every change committed before asked_us (sl_time_now_us);
 * concurrent callers share one read of the feed. */
sl_dbrc sl_trading_book_sync(int64_t asked_us);
sl_dbrc sl_trading_book_reload(void); /* from the tables, whole */
/* This process committed a change (called after every successful mutating request). */
void sl_trading_book_touch(void);
int64_t sl_trading_book_touched_us(void); /* when it last did (sl_time_now_us), 0 never */
/* Sync unless the last sync began after this process's last committed change and less than
 * max_age_us ago (a listener syncs on every NOTIFY, so other processes' changes arrive within
 * milliseconds; max_age_us bounds it when notifications are lost). */
sl_dbrc sl_trading_book_sync_recent(int64_t max_age_us);
/* True when the book is loaded and knows every string of the JSON array `codes` (model names
 * when `model`, else region codes; sl_market_book_knows): the caller may then skip asking
 * the database.  False says nothing (ask the database). */
bool sl_trading_book_knows(bool model, const json_t *codes);
void sl_trading_book_read_lock(void);
void sl_trading_book_read_unlock(void);
const sl_market_book *sl_trading_book_get(void); /* under the read lock */
void sl_trading_book_stats(size_t *pools, size_t *bytes, unsigned long *reloads,
                           unsigned long *syncs);
/* The book's size and digest after a sync; with verify, also the digest of a book loaded
 * afresh from the same database snapshot ("agrees": the two are equal).  Admin diagnostics. */
sl_dbrc sl_trading_book_check(bool verify, json_t **out);
void sl_trading_retries_add(unsigned long n);
unsigned long sl_trading_retries(void); /* stale placements refused and retried */

typedef enum {
  SL_TRADING_FILLED,     /* every piece bought */
  SL_TRADING_NOT_FILLED, /* nothing fits now (reason says why) */
  SL_TRADING_NO_FUNDS,   /* the tenant cannot pay: nothing may be written */
  SL_TRADING_PARTIAL,    /* a good-till order filled in part: bought, the rest rests (open) */
} sl_trading_outcome;

/* Try to fill open order `order_id` (already inserted and, for resting orders, locked) in the
 * caller's transaction.  On SL_TRADING_NOT_FILLED, reason (>= 256 bytes) explains; the caller
 * decides whether the order rests or is killed.  When the order fills and `filled` is not
 * NULL, *filled receives the order as its API object (read by the statement that marks it
 * filled; owned by the caller).  A partial fill (min_gpus) adds the GPUs bought to
 * orders.gpus_filled (not for o->replacing); a fill-or-kill order is then 'filled' (the rest
 * cancelled, reason says so), a good-till one stays 'open' (SL_TRADING_PARTIAL, *filled set
 * likewise).  Database errors are returned as-is. */
sl_dbrc sl_trading_execute(sl_dbc *c, int64_t order_id, int64_t tenant, sl_market_order_req *o,
                           int64_t now, sl_trading_outcome *outcome, char *reason,
                           size_t reason_len, json_t **filled);

/* The background steps (steps.c), run by suanlid's worker threads (server/workers.c).
 * sl_trading_book_step: one batch of pool events and the re-matches they call for, in one
 * transaction; *more when a full batch was taken.  sl_trading_maintain: one maintenance pass
 * (settle, expire, feed prune, health, failover); polls *stop between batches. */
sl_dbrc sl_trading_book_step(sl_dbc *c, bool *more);
void sl_trading_maintain(sl_dbc *c, const atomic_bool *stop);

#endif
