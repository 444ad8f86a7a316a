/* steps.c — the trading work done in the background, one step at a time; the threads that
 * call these steps live in server/workers.c.  Every step is safe with any number of processes:
 *
 *  - the book step takes pool events (new pool, price cut, more capacity, cancellation) with
 *    FOR UPDATE SKIP LOCKED and re-matches only the open orders such a pool could fill, each
 *    under its row lock, in the same transaction that consumes the events (a crash loses
 *    nothing: the events come back);
 *  - the maintenance step settles trades whose window has ended, expires orders, senses pool
 *    health (simulated heartbeats; silent pools go offline), fails over the not yet started
 *    trades of offline pools, and prunes the capacity book's change feed (an indexed delete of
 *    what is older than 10 minutes: work proportional to the changes, not the pools).
 */
#include "suanli/core/clock.h"
#include "suanli/core/log.h"
#include "suanli/core/timeutil.h"
#include "suanli/core/vocab.h"
#include "suanli/db/dispatch.h"
#include "suanli/db/drain.h"
#include "suanli/db/market.h"
#include "suanli/trading/trading.h"
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Re-match one open order inside the current transaction (savepoint per order). */
static sl_dbrc rematch(sl_dbc *c, int64_t id) {
  json_t *req = NULL;
  int64_t tenant = 0;
  int32_t filled = 0;
  int64_t ncu_filled = 0;
  sl_dbrc rc = sl_db_savepoint(c, "sl_order");
  if (rc != SL_DB_OK) return rc;
  rc = sl_db_order_lock_open(c, id, &req, &tenant, &filled, &ncu_filled);
  if (rc == SL_DB_NOROWS) return SL_DB_OK; /* filled, cancelled or expired meanwhile */
  if (rc != SL_DB_OK) return rc;
  sl_market_order_req o;
  sl_jerr je;
  if (!sl_market_order_parse(req, 0, &o, &je)) {
    json_decref(req);
    return sl_db_order_set_state(c, id, sl_vocab_name(SL_ORDER_STATE_KILLED),
                                 "the stored order no longer parses");
  }
  json_decref(req);
  if (o.call) { /* a call order waits for its auction (src/trading/clearing.c) */
    sl_market_order_req_free(&o);
    return SL_DB_OK;
  }
  if (filled > 0 && o.m.ncu_milli_wanted <= 0) { /* filled in part: match the rest */
    if (filled >= o.m.gpus) {
      sl_market_order_req_free(&o);
      return sl_db_order_set_state(c, id, sl_vocab_name(SL_ORDER_STATE_FILLED), "");
    }
    o.filled_before = filled;
    o.m.gpus -= filled;
    o.m.min_gpus = o.m.gpus > 1 ? 1 : 0; /* the minimum is met: any part of the rest will do */
  }
  if (ncu_filled > 0 && o.m.ncu_milli_wanted > 0) { /* an order for ncu filled in part */
    if (ncu_filled >= o.m.ncu_milli_wanted) {
      sl_market_order_req_free(&o);
      return sl_db_order_set_state(c, id, sl_vocab_name(SL_ORDER_STATE_FILLED), "");
    }
    o.filled_before = filled;
    o.ncu_filled_before = ncu_filled;
    o.m.ncu_milli_wanted -= ncu_filled;
    o.m.gpus = (int32_t)((o.m.ncu_milli_wanted + 999) / 1000);
    o.m.min_ncu_milli_filled = o.m.ncu_milli_wanted > 1 ? 1 : 0; /* any part of the rest */
  }
  sl_trading_outcome out;
  char reason[512], why[600];
  rc = sl_trading_execute(c, id, tenant, &o, sl_clock_now(), &out, reason, sizeof reason, NULL);
  int asked = (int)(o.filled_before + o.m.gpus);
  int64_t ncu_asked = o.m.ncu_milli_wanted > 0 ? o.ncu_filled_before + o.m.ncu_milli_wanted : 0;
  sl_market_order_req_free(&o);
  if (rc != SL_DB_OK) {
    sl_db_rollback_to_savepoint(c, "sl_order");
    return rc == SL_DB_DOWN || rc == SL_DB_SOFT ? rc : SL_DB_OK;
  }
  if (out == SL_TRADING_FILLED || out == SL_TRADING_PARTIAL) {
    sl_log(SL_LOG_INFO,
           out == SL_TRADING_FILLED ? "resting order filled" : "resting order part-filled",
           json_pack("{s:I}", "order_id", (json_int_t)id));
    return SL_DB_OK;
  }
  if (ncu_filled > 0 && ncu_asked > 0) { /* the rest found nothing: say what is bought already */
    snprintf(why, sizeof why, "partly filled: %lld.%03lld of %lld.%03lld NCU; the rest: %s",
             (long long)(ncu_filled / 1000), (long long)(ncu_filled % 1000),
             (long long)(ncu_asked / 1000), (long long)(ncu_asked % 1000), reason);
    return sl_db_order_set_state(c, id, sl_vocab_name(SL_ORDER_STATE_OPEN), why);
  }
  if (filled > 0) { /* the rest found nothing: say what is bought already */
    snprintf(why, sizeof why, "partly filled: %d of %d GPUs; the rest: %s", (int)filled, asked,
             reason);
    return sl_db_order_set_state(c, id, sl_vocab_name(SL_ORDER_STATE_OPEN), why);
  }
  return sl_db_order_set_state(c, id, sl_vocab_name(SL_ORDER_STATE_OPEN), reason);
}

/* Take one batch of events and re-match; *more = a full batch was taken. */
static sl_dbrc book_batch(sl_dbc *c, void *arg) {
  bool *more = arg;
  json_t *taken = NULL;
  sl_dbrc rc = sl_db_book_events_take(c, 50, &taken);
  if (rc != SL_DB_OK) return rc;
  *more = json_integer_value(json_object_get(taken, "events")) >= 50;
  size_t i;
  json_t *id;
  json_array_foreach(json_object_get(taken, "orders"), i, id) {
    rc = rematch(c, json_integer_value(id));
    if (rc != SL_DB_OK) break;
  }
  json_decref(taken);
  return rc;
}

/* One batch of the book worker: take up to 50 pool events and re-match the orders they may
 * fill, in one transaction (retried on serialization failures).  *more = a full batch was
 * taken, so the caller should not wait before the next. */
sl_dbrc sl_trading_book_step(sl_dbc *c, bool *more) {
  *more = false;
  return sl_db_txn_run(c, book_batch, more, 4);
}

static sl_dbrc settle_batch(sl_dbc *c, void *arg) { return sl_db_settle_due(c, 200, arg); }

/* Fail over one booked, not yet started trade on an offline pool: refund it through the
 * journal and re-match its GPUs and window under the original order's constraints as new
 * trades of the same order; when nothing fits, the refund stands and the order says why.
 * *done is set when there is nothing left to fail over. */
static sl_dbrc failover_one(sl_dbc *c, void *arg) {
  bool *done = arg;
  sl_db_failover f;
  sl_dbrc rc = sl_db_failover_next(c, &f);
  if (rc == SL_DB_NOROWS) {
    *done = true;
    return SL_DB_OK;
  }
  if (rc != SL_DB_OK) return rc;
  char cause[160], note[768], reason[512] = "";
  snprintf(cause, sizeof cause, "failover: pool %lld went offline before the start",
           (long long)f.pool_id);
  int64_t refund_txn = 0;
  rc = sl_db_trade_fail(c, f.trade_id, cause, &refund_txn);
  sl_crash_point("failover_refunded"); /* refund written, replacement not yet: one transaction */
  sl_market_order_req o;
  sl_jerr je;
  sl_trading_outcome out = SL_TRADING_NOT_FILLED;
  if (rc == SL_DB_OK && sl_market_order_parse(f.request, 0, &o, &je)) {
    o.m.gpus = f.gpus; /* the failed trade's GPUs (an NCU order: the same GPU count) */
    o.m.ncu_milli_wanted = 0;
    o.m.min_gpus = 0;   /* a replacement is whole */
    o.replacing = true; /* its GPUs are counted in orders.gpus_filled already */
    o.m.duration_slots = f.hours;
    o.m.earliest_start = o.m.latest_start = f.start;
    rc = sl_trading_execute(c, f.order_id, f.tenant_id, &o, sl_clock_now(), &out, reason,
                            sizeof reason, NULL);
    sl_market_order_req_free(&o);
  } else if (rc == SL_DB_OK) {
    snprintf(reason, sizeof reason, "the stored order no longer parses");
  }
  if (rc == SL_DB_OK && out == SL_TRADING_FILLED) {
    rc = sl_db_trades_mark_replacing(c, f.trade_id, f.order_id);
    snprintf(note, sizeof note, "trade %lld failed over to new trades (pool %lld went offline)",
             (long long)f.trade_id, (long long)f.pool_id);
  } else {
    snprintf(note, sizeof note,
             "trade %lld refunded: pool %lld went offline and no replacement fits: %s",
             (long long)f.trade_id, (long long)f.pool_id, reason);
  }
  if (rc == SL_DB_OK) rc = sl_db_order_note(c, f.order_id, note);
  if (rc == SL_DB_OK)
    sl_log(SL_LOG_INFO, "failover",
           json_pack("{s:I,s:I,s:b}", "trade_id", (json_int_t)f.trade_id, "order_id",
                     (json_int_t)f.order_id, "replaced", out == SL_TRADING_FILLED));
  json_decref(f.request);
  return rc;
}

/* Mark silent pools offline and refund their running trades' lost GPU-hours in ONE
 * transaction: a crash between the status change and the refunds cannot lose the refunds
 * (both commit or neither does; the next pass finds the pools still silent).  The simulated
 * pools beat first, in the same transaction, so that they share its time: a clock moved
 * between the two (a test clock) cannot make them look silent.  *silent receives the ids
 * marked (owned by the caller). */
static sl_dbrc silent_body(sl_dbc *c, void *arg) {
  json_t **silent = arg;
  json_decref(*silent);
  *silent = NULL;
  int beats = 0;
  sl_dbrc rc = sl_db_sim_heartbeats(c, &beats);
  if (rc == SL_DB_OK) rc = sl_db_pools_mark_silent(c, silent);
  size_t i;
  json_t *id;
  json_array_foreach(*silent, i, id) {
    sl_crash_point("health_marked"); /* the old crash window: status changed, no refund yet */
    int64_t refunded = 0;
    if (rc == SL_DB_OK) rc = sl_db_pool_shortfall(c, json_integer_value(id), &refunded);
  }
  return rc;
}

/* Health sensing: simulated pools heartbeat; pools silent past the timeout go offline, their
 * running trades are refunded for the lost GPU-hours and their future trades fail over. */
static void sense_health(sl_dbc *c) {
  int n = 0;
  json_t *silent = NULL;
  if (sl_db_txn_run(c, silent_body, &silent, 3) == SL_DB_OK) { /* refunds signed at commit */
    size_t i;
    json_t *id;
    json_array_foreach(silent, i, id) sl_log(SL_LOG_WARN, "pool silent: offline",
                                             json_pack("{s:I}", "pool_id", json_integer_value(id)));
  }
  json_decref(silent);
  for (int k = 0; k < 1000; k++) {
    bool done = false;
    if (sl_db_txn_run(c, failover_one, &done, 3) != SL_DB_OK || done) break;
  }
  sl_db_reservations_activate(c, &n);
}

/* Draining pools whose last booking has ended are retired (a retire asked while bookings
 * remained: src/db/drain.c). */
static void retire_drained(sl_dbc *c) {
  json_t *ids = NULL;
  if (sl_db_pools_retire_due(c, &ids) == SL_DB_OK && json_array_size(ids))
    sl_log(SL_LOG_INFO, "drained pools retired", json_pack("{s:O}", "pool_ids", ids));
  json_decref(ids);
}

/* One pass of the maintenance worker (see the top of this file); *stop is polled between
 * batches so a shutdown is not held up by a long backlog. */
void sl_trading_maintain(sl_dbc *c, const atomic_bool *stop) {
  int settled = 0, expired = 0;
  do {
    if (sl_db_txn_run(c, settle_batch, &settled, 4) != SL_DB_OK) break;
    if (settled) sl_log(SL_LOG_INFO, "trades settled", json_pack("{s:i}", "count", settled));
  } while (settled == 200 && !atomic_load(stop));
  if (sl_db_expire_orders(c, &expired) == SL_DB_OK && expired)
    sl_log(SL_LOG_INFO, "orders expired", json_pack("{s:i}", "count", expired));
  /* the capacity book's change feed keeps 10 minutes (a process further behind reloads) */
  sl_db_feed_prune(c, 600);
  sense_health(c);
  retire_drained(c);
}
