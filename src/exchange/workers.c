/* workers.c — background work inside suanlid, safe with any number of processes:
 *
 *  - book worker: takes pool events (new pool, price cut, more capacity, cancellation) with
 *    FOR UPDATE SKIP LOCKED and re-matches only the open orders such a pool could fill, each
 *    under its row lock, in the same transaction that consumes the events (a crash loses
 *    nothing: the events come back).  Woken by NOTIFY suanli_book; polls once a second as a
 *    fallback because notifications are only a hint.
 *  - maintenance worker: settles trades whose window has ended and expires orders.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "suanli/exchange.h"
#include "suanli/log.h"
#include "suanli/timeutil.h"

struct sl_workers {
  sl_db *db;
  atomic_bool stop;
  pthread_t book, maint;
  bool book_started, maint_started;
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
  rc = sl_xchg_execute(c, id, tenant, &o, sl_time_now(), &out, reason, sizeof reason);
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
      sl_db_release(w->db, c);
    }
    for (int i = 0; i < 20 && !atomic_load(&w->stop); i++) nap_ms(100);
  }
  return NULL;
}

sl_workers *sl_workers_start(const char *conninfo) {
  sl_workers *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->db = sl_db_open(conninfo, 2);
  if (!w->db) {
    free(w);
    return NULL;
  }
  w->book_started = pthread_create(&w->book, NULL, book_main, w) == 0;
  w->maint_started = pthread_create(&w->maint, NULL, maint_main, w) == 0;
  return w;
}

void sl_workers_stop(sl_workers *w) {
  if (!w) return;
  atomic_store(&w->stop, true);
  if (w->book_started) pthread_join(w->book, NULL);
  if (w->maint_started) pthread_join(w->maint, NULL);
  sl_db_close(w->db);
  free(w);
}
