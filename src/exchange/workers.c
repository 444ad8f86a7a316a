/* workers.c — background work inside suanlid, safe with any number of processes:
 *
 *  - book worker: takes pool events (new pool, price cut, more capacity, cancellation) with
 *    FOR UPDATE SKIP LOCKED and re-matches only the open orders such a pool could fill, each
 *    under its row lock, in the same transaction that consumes the events (a crash loses
 *    nothing: the events come back).  Woken by NOTIFY suanli_book; polls once a second as a
 *    fallback because notifications are only a hint.
 *  - maintenance worker: settles trades whose window has ended, expires orders, senses pool
 *    health (simulated heartbeats; silent pools go offline) and fails over the not yet
 *    started trades of offline pools; prunes the capacity book's change feed (an indexed
 *    delete of what is older than 10 minutes: work proportional to the changes, not the pools).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "suanli/clock.h"
#include "suanli/exchange.h"
#include "suanli/log.h"
#include "suanli/timeutil.h"
#include "suanli/xledger.h"

struct sl_workers {
  sl_db *db;
  atomic_bool stop;
  pthread_t book, maint, seq;
  bool book_started, maint_started, seq_started;
  int period_ticks; /* maintenance period in 100 ms ticks */
};

static void nap_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Re-match one open order inside the current transaction (savepoint per order). */
static sl_dbrc rematch(sl_dbc *c, int64_t id) {
  json_t *req = NULL;
  int64_t tenant = 0;
  sl_dbrc rc = sl_db_savepoint(c, "sl_order");
  if (rc != SL_DB_OK) return rc;
  rc = sl_db_order_lock_open(c, id, &req, &tenant);
  if (rc == SL_DB_NOROWS) return SL_DB_OK; /* filled, cancelled or expired meanwhile */
  if (rc != SL_DB_OK) return rc;
  sl_order_req o;
  sl_jerr je;
  if (!sl_order_parse(req, 0, &o, &je)) {
    json_decref(req);
    return sl_db_order_set_state(c, id, "killed", "the stored order no longer parses");
  }
  json_decref(req);
  sl_xchg_outcome out;
  char reason[512];
  rc = sl_xchg_execute(c, id, tenant, &o, sl_clock_now(), &out, reason, sizeof reason);
  sl_order_req_free(&o);
  if (rc != SL_DB_OK) {
    sl_db_rollback_to_savepoint(c, "sl_order");
    return rc == SL_DB_DOWN || rc == SL_DB_SOFT ? rc : SL_DB_OK;
  }
  if (out == SL_XCHG_FILLED) {
    sl_log(SL_LOG_INFO, "resting order filled", json_pack("{s:I}", "order_id", (json_int_t)id));
    return SL_DB_OK;
  }
  return sl_db_order_set_state(c, id, "open", reason);
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

static void *book_main(void *arg) {
  sl_workers *w = arg;
  while (!atomic_load(&w->stop)) {
    bool down;
    sl_dbc *c = sl_db_acquire(w->db, 1000, &down);
    if (!c) {
      nap_ms(1000);
      continue;
    }
    while (!atomic_load(&w->stop)) {
      bool more = false;
      sl_dbrc rc = sl_db_txn_run(c, book_batch, &more, 4);
      if (rc == SL_DB_DOWN) break;
      if (rc != SL_DB_OK)
        sl_log(SL_LOG_WARN, "book worker batch failed", json_pack("{s:s}", "rc", sl_dbrc_name(rc)));
      if (!more) sl_db_wait_notify(c, "suanli_book", 1000);
    }
    sl_db_release(w->db, c);
  }
  return NULL;
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
  sl_order_req o;
  sl_jerr je;
  sl_xchg_outcome out = SL_XCHG_NOT_FILLED;
  if (rc == SL_DB_OK && sl_order_parse(f.request, 0, &o, &je)) {
    o.m.gpus = f.gpus;
    o.m.duration_slots = f.hours;
    o.m.earliest_start = o.m.latest_start = f.start;
    rc = sl_xchg_execute(c, f.order_id, f.tenant_id, &o, sl_clock_now(), &out, reason, sizeof reason);
    sl_order_req_free(&o);
  } else if (rc == SL_DB_OK) {
    snprintf(reason, sizeof reason, "the stored order no longer parses");
  }
  if (rc == SL_DB_OK && out == SL_XCHG_FILLED) {
    rc = sl_db_trades_mark_replacing(c, f.trade_id, f.order_id);
    snprintf(note, sizeof note, "trade %lld failed over to new trades (pool %lld went offline)",
             (long long)f.trade_id, (long long)f.pool_id);
  } else {
    snprintf(note, sizeof note, "trade %lld refunded: pool %lld went offline and no replacement fits: %s",
             (long long)f.trade_id, (long long)f.pool_id, reason);
  }
  if (rc == SL_DB_OK) rc = sl_db_order_note(c, f.order_id, note);
  if (rc == SL_DB_OK)
    sl_log(SL_LOG_INFO, "failover", json_pack("{s:I,s:I,s:b}", "trade_id", (json_int_t)f.trade_id,
                                              "order_id", (json_int_t)f.order_id, "replaced",
                                              out == SL_XCHG_FILLED));
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
    json_array_foreach(silent, i, id)
      sl_log(SL_LOG_WARN, "pool silent: offline", json_pack("{s:I}", "pool_id", json_integer_value(id)));
  }
  json_decref(silent);
  for (int k = 0; k < 1000; k++) {
    bool done = false;
    if (sl_db_txn_run(c, failover_one, &done, 3) != SL_DB_OK || done) break;
  }
  sl_db_reservations_activate(c, &n);
}

static void *maint_main(void *arg) {
  sl_workers *w = arg;
  while (!atomic_load(&w->stop)) {
    bool down;
    sl_dbc *c = sl_db_acquire(w->db, 1000, &down);
    if (c) {
      int settled = 0, expired = 0;
      do {
        if (sl_db_txn_run(c, settle_batch, &settled, 4) != SL_DB_OK) break;
        if (settled) sl_log(SL_LOG_INFO, "trades settled", json_pack("{s:i}", "count", settled));
      } while (settled == 200 && !atomic_load(&w->stop));
      if (sl_db_expire_orders(c, &expired) == SL_DB_OK && expired)
        sl_log(SL_LOG_INFO, "orders expired", json_pack("{s:i}", "count", expired));
      /* the capacity book's change feed keeps 10 minutes (a process further behind reloads) */
      sl_db_feed_prune(c, 600);
      sense_health(c);
      sl_db_reap_step(c);
      sl_db_release(w->db, c);
    }
    for (int i = 0; i < w->period_ticks && !atomic_load(&w->stop); i++) nap_ms(100);
  }
  return NULL;
}

/* The ledger sequencer: folds signed entries into the Merkle tree in batches and signs a
 * checkpoint per batch (one process at a time holds the sequencer's advisory lock). */
static void *seq_main(void *arg) {
  sl_workers *w = arg;
  int attempt = 0;
  while (!atomic_load(&w->stop)) {
    bool down;
    sl_dbc *c = sl_db_acquire(w->db, 1000, &down);
    int added = 0;
    if (!c && down) {
      sl_db_backoff(&attempt);
      continue;
    }
    attempt = 0;
    if (c) {
      if (sl_xledger_sequence(c, 5000, &added) != SL_DB_OK) added = 0;
      sl_db_release(w->db, c);
    }
    if (added < 5000)
      for (int i = 0; i < 10 && !atomic_load(&w->stop); i++) nap_ms(100);
  }
  return NULL;
}

sl_workers *sl_workers_start(const char *conninfo) {
  sl_workers *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->db = sl_db_open(conninfo, 3);
  const char *p = getenv("SUANLI_MAINTENANCE_MS");
  long ms = p && *p ? atol(p) : 2000;
  w->period_ticks = (int)(ms < 100 ? 1 : ms > 60000 ? 600 : ms / 100);
  if (!w->db) {
    free(w);
    return NULL;
  }
  w->book_started = pthread_create(&w->book, NULL, book_main, w) == 0;
  w->maint_started = pthread_create(&w->maint, NULL, maint_main, w) == 0;
  if (sl_xledger_enabled()) w->seq_started = pthread_create(&w->seq, NULL, seq_main, w) == 0;
  return w;
}

void sl_workers_stop(sl_workers *w) {
  if (!w) return;
  atomic_store(&w->stop, true);
  if (w->book_started) pthread_join(w->book, NULL);
  if (w->maint_started) pthread_join(w->maint, NULL);
  if (w->seq_started) pthread_join(w->seq, NULL);
  sl_db_close(w->db);
  free(w);
}
