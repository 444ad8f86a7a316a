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

/* A matched snapshot: pools, their free-capacity arrays and the matcher's result. */
typedef struct sl_xchg_book {
  sl_db_pool_row *rows;
  size_t nrows;
  sl_mkt_pool *pools;
  int32_t *free;          /* nrows * nslots */
  int64_t window_start;
  size_t nslots;
  sl_mkt_result result;
} sl_xchg_book;

/* Snapshot the book for order o (tenant's budget caps applied) at time now and match it.
 * Returns SL_DB_OK with *book filled (free with sl_xchg_book_free) or a database error. */
sl_dbrc sl_xchg_match(sl_dbc *c, sl_order_req *o, int64_t tenant, int64_t now, sl_xchg_book *book);
void sl_xchg_book_free(sl_xchg_book *b);

/* The quote reply: {"filled", "gpus", "window":{...}, "placements":[...], "alternatives":[...],
 * "rejected":[{pool_id, region, accelerator, reason, detail}]}. */
json_t *sl_xchg_quote_json(const sl_xchg_book *b, const sl_order_req *o);

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
