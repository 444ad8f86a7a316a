/* db/market.h — calendar snapshot, capacity-book feed, orders, trades, money, background work
 * (src/db/market.c). */
#ifndef SUANLI_DB_MARKET_H
#define SUANLI_DB_MARKET_H
#include "suanli/db/db.h"

/* One pool as the matcher needs it.  Strings are NUL-terminated copies. */
typedef struct sl_db_pool_row {
  int64_t id, owner_id;
  char region[48], accelerator[72], intra[20], inter[16], status[12], health[12];
  int32_t memory_gb; /* -1 unknown */
  int64_t ncu_milli; /* -1 unrated */
  int32_t inter_gbps, gpu_count;
  int64_t price_minor, avail_from, avail_until;
  int64_t rtt_us; /* -1 (the book looks RTTs up in its latency matrix) */
} sl_db_pool_row;

typedef struct sl_db_booking {
  int64_t pool_id, slot;
  int32_t booked;
} sl_db_booking;

/* ---- The capacity book (issue 11): full loads and the change feed of schema 009 ---- */

/* Every non-retired pool, streamed: fn(row, arg) is called on each as it arrives (rtt_us
 * -1; row valid only during the call), so a full load never holds the market's rows at
 * once.  fn returning false stops the load with SL_DB_HARD. */
typedef bool (*sl_db_pool_fn)(const sl_db_pool_row *row, void *arg);
sl_dbrc sl_db_book_pools_each(sl_dbc *c, sl_db_pool_fn fn, void *arg);
/* Booked GPUs (> 0) per slot in [from, to] (inclusive) of every pool, in no order, streamed
 * into *rows (malloc'd; 24 bytes a booked slot, no result set held besides). */
sl_dbrc sl_db_book_slots(sl_dbc *c, int64_t from, int64_t to, sl_db_booking **rows, size_t *n);
/* The same for a set of pools in one query each: pools by id (whatever their status), and
 * their booked slots in [from, to] ordered by pool and slot. */
sl_dbrc sl_db_book_pools_in(sl_dbc *c, const int64_t *ids, size_t nids, sl_db_pool_row **rows,
                            size_t *n);
sl_dbrc sl_db_book_slots_in(sl_dbc *c, const int64_t *ids, size_t nids, int64_t from, int64_t to,
                            sl_db_booking **rows, size_t *n);
typedef struct sl_db_rtt_row {
  char from[48], to[48];
  int64_t rtt_us;
  bool estimated; /* a great-circle estimate (region_rtt, schema/019), not measured */
} sl_db_rtt_row;
sl_dbrc sl_db_book_latency(sl_dbc *c, sl_db_rtt_row **rows, size_t *n);
typedef struct sl_db_change {
  char kind[16];              /* pool | slots | latency | accelerators */
  int64_t pool_id;            /* 0 when none */
  int64_t slot_from, slot_to; /* slots: the range touched (inclusive) */
} sl_db_change;
/* The xmin of the current snapshot: every transaction below it has finished. */
sl_dbrc sl_db_feed_xmin(sl_dbc *c, uint64_t *xmin);
/* Changes of transactions with xid >= cursor, in sequence order (at most limit), with the
 * xmin of the same snapshot (the next cursor once all are applied) and the pruned mark. */
sl_dbrc sl_db_feed_read(sl_dbc *c, uint64_t cursor, int limit, uint64_t *xmin, uint64_t *pruned,
                        sl_db_change **rows, size_t *n);
/* Delete changes older than the given seconds, raising the pruned mark. */
sl_dbrc sl_db_feed_prune(sl_dbc *c, int older_than_s);

typedef struct sl_db_order_new {
  int64_t tenant_id;
  const json_t *request; /* normalized order body */
  int64_t gpus, duration_hours, earliest_start, latest_start, expires_at; /* 0 = none */
  const char *time_in_force;
  const json_t *accelerators, *regions, *excluded;       /* arrays or NULL */
  int64_t min_memory_gb, min_ncu_milli, max_price_minor; /* -1 = none */
  const char *clearing;                                  /* "continuous" (NULL too) or "call" */
  const char *clearing_region; /* a call order's auction group; NULL for continuous */
} sl_db_order_new;

sl_dbrc sl_db_order_insert(sl_dbc *c, const sl_db_order_new *o, int64_t *id);
/* Lock an open order for matching; NOROWS when it is not open (or not there).  *filled: the
 * GPUs its earlier parts bought (a good-till order filled in part); *ncu_filled: their NCU in
 * thousandths (an order for ncu, schema/029). */
sl_dbrc sl_db_order_lock_open(sl_dbc *c, int64_t id, json_t **request, int64_t *tenant,
                              int32_t *filled, int64_t *ncu_filled);
/* Count `gpus` more GPUs (and `ncu_milli` more NCU thousandths) bought by a part of order id
 * (orders.gpus_filled, orders.ncu_filled_milli). */
sl_dbrc sl_db_order_add_filled(sl_dbc *c, int64_t id, int32_t gpus, int64_t ncu_milli);
sl_dbrc sl_db_order_set_state(sl_dbc *c, int64_t id, const char *state, const char *reason);
/* One order with its trades; tenant != 0 restricts to that tenant. */
/* sl_db_order_set_state, returning the order as sl_db_order_get would (*order owned by the
 * caller; SL_DB_NOROWS when there is no such order). */
sl_dbrc sl_db_order_set_state_get(sl_dbc *c, int64_t id, const char *state, const char *reason,
                                  json_t **order);
sl_dbrc sl_db_order_get(sl_dbc *c, int64_t id, int64_t tenant, json_t **out);
sl_dbrc sl_db_orders_list(sl_dbc *c, int64_t tenant, const char *state, int64_t after, int limit,
                          json_t **out);
/* Cancel an open order of tenant (0 = any): OK, NOROWS (unknown/foreign), or CHECK when it
 * is no longer open (*state says which). */
sl_dbrc sl_db_order_cancel(sl_dbc *c, int64_t id, int64_t tenant, json_t **out);

/* Buy one piece (stored procedure sl_trade): *outcome is "ok", "no_capacity",
 * "price_changed", "insufficient_funds" or "budget" (static strings). */
sl_dbrc sl_db_trade(sl_dbc *c, int64_t order, int64_t tenant, int64_t pool, int64_t start,
                    int64_t hours, int64_t gpus, int64_t unit_minor, int64_t *trade,
                    const char **outcome);

/* Who may see a trade: tenant or provider id, or operator regions, or nobody (admin). */
typedef struct sl_trade_scope {
  int64_t party;         /* tenant or provider account; 0 = any */
  const json_t *regions; /* operator scope; NULL = any */
} sl_trade_scope;
sl_dbrc sl_db_trade_get(sl_dbc *c, int64_t id, const sl_trade_scope *s, json_t **out);
sl_dbrc sl_db_trades_list(sl_dbc *c, const sl_trade_scope *s, int64_t order, int64_t after,
                          int limit, json_t **out);
/* Cancel a booked trade before its start; *outcome: "ok", "not_found", "started",
 * "not_booked".  tenant 0 = any (admin). */
sl_dbrc sl_db_trade_cancel(sl_dbc *c, int64_t trade, int64_t tenant, const char **outcome,
                           int64_t *refund, int64_t *charge);

sl_dbrc sl_db_deposit(sl_dbc *c, int64_t account, int64_t amount, const char *memo, int64_t *txn);
/* *txn = 0 when the available balance is too small. */
sl_dbrc sl_db_withdraw(sl_dbc *c, int64_t account, int64_t amount, const char *memo, int64_t *txn);
/* The account's Balances (api_balances); a page of its Postings (api_posting). */
sl_dbrc sl_db_balances(sl_dbc *c, int64_t account, json_t **out);
sl_dbrc sl_db_postings_list(sl_dbc *c, int64_t account, int64_t after, int limit, json_t **out);
/* Budget caps; -1 = no cap. */
sl_dbrc sl_db_budget_set(sl_dbc *c, int64_t account, int64_t hourly, int64_t monthly);
sl_dbrc sl_db_budget_get(sl_dbc *c, int64_t account, int64_t *hourly, int64_t *monthly,
                         int64_t *spent_month);
sl_dbrc sl_db_settings_get(sl_dbc *c, json_t **out);
/* -1 = unchanged.  adapter_failure_limit: a pool whose adapter fails for good this many
 * times in a row goes offline (schema/021). */
sl_dbrc sl_db_settings_set(sl_dbc *c, int64_t fee_bp, int64_t free_hours, int64_t charge_bp,
                           int64_t heartbeat_timeout_s, int64_t adapter_failure_limit);

/* The first code in a JSON array of strings that names no region (or, with accelerators,
 * no accelerator model); *first = NULL when all exist (malloc'd otherwise). */
sl_dbrc sl_db_first_unknown(sl_dbc *c, bool accelerators, const json_t *codes, char **first);
/* *any = some accelerator that `codes` (a JSON array of model ids, aliases or families) names
 * has an NCU rating above 0 (issue 15: an order for an amount of NCU needs one). */
sl_dbrc sl_db_any_rated(sl_dbc *c, const json_t *codes, bool *any);

/* Queue a re-match of one resting order (after it commits), or of all of a tenant's. */
sl_dbrc sl_db_order_wake(sl_dbc *c, int64_t order, const char *cause);
sl_dbrc sl_db_tenant_wake(sl_dbc *c, int64_t tenant, const char *cause);

/* ---- background work (market.c) ---- */
/* Settle up to `limit` trades whose window has ended; *done = how many. */
sl_dbrc sl_db_settle_due(sl_dbc *c, int limit, int *done);
/* Expire open orders past their deadline or latest start; *done = how many. */
sl_dbrc sl_db_expire_orders(sl_dbc *c, int *done);
/* Take up to `limit` book events (deleted when the transaction commits): *out is
 * {"events": n, "orders": [ids of open orders the events' pools could fill]}. */
sl_dbrc sl_db_book_events_take(sl_dbc *c, int limit, json_t **out);

/* Savepoints inside the caller's transaction; name is an SQL identifier constant. */
sl_dbrc sl_db_savepoint(sl_dbc *c, const char *name);
void sl_db_rollback_to_savepoint(sl_dbc *c, const char *name);

/* Wait up to timeout_ms for a NOTIFY on channel (LISTENing on first use). Returns true when
 * one arrived.  Use a connection dedicated to the waiting thread. */
bool sl_db_wait_notify(sl_dbc *c, const char *channel, int timeout_ms);

#endif
