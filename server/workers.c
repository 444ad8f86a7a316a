/* workers.c — the background threads of suanlid, each with a connection of the workers' own
 * pool: the book worker (sl_trading_book_step; woken by NOTIFY suanli_book, polling once a
 * second as a fallback because notifications are only a hint), the maintenance worker
 * (sl_trading_maintain, then the reaper of Idempotency-Key records and dispatch attempts,
 * every maintenance_ms) and the ledger
 * sequencer (sl_ledger_sequence: folds signed entries into the Merkle tree in batches and signs
 * a checkpoint per batch; one process at a time holds its advisory lock) and the call
 * auction (sl_trading_clearing_step once a second: each clearing region is cleared once per
 * clearing.interval_s seconds of the wall-clock grid by one process, under its advisory lock
 * and lease row, together with the other regions due then).  Any
 * number of processes may run them on one database. */
#include "server/workers.h"
#include "suanli/core/log.h"
#include "suanli/db/market.h"
#include "suanli/db/reaper.h"
#include "suanli/ledger/ledger.h"
#include "suanli/trading/trading.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

struct sl_workers {
  sl_db *db;
  atomic_bool stop;
  pthread_t book, maint, seq, clear;
  bool book_started, maint_started, seq_started, clear_started;
  sl_trading_clearing_cfg clearing;
  int period_ticks;             /* maintenance period in 100 ms ticks */
  int64_t retention_s;          /* of Idempotency-Key records */
  int64_t attempts_retention_s; /* of dispatch attempts (0: forever) */
};

static void nap_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
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
      sl_dbrc rc = sl_trading_book_step(c, &more);
      if (rc == SL_DB_DOWN) break;
      if (rc != SL_DB_OK)
        sl_log(SL_LOG_WARN, "book worker batch failed", json_pack("{s:s}", "rc", sl_dbrc_name(rc)));
      if (!more) sl_db_wait_notify(c, "suanli_book", 1000);
    }
    sl_db_release(w->db, c);
  }
  return NULL;
}

static void *maint_main(void *arg) {
  sl_workers *w = arg;
  while (!atomic_load(&w->stop)) {
    bool down;
    sl_dbc *c = sl_db_acquire(w->db, 1000, &down);
    if (c) {
      sl_trading_maintain(c, &w->stop);
      sl_db_reap_step(c, w->retention_s, w->attempts_retention_s);
      sl_db_release(w->db, c);
    }
    for (int i = 0; i < w->period_ticks && !atomic_load(&w->stop); i++) nap_ms(100);
  }
  return NULL;
}

static void *clear_main(void *arg) {
  sl_workers *w = arg;
  while (!atomic_load(&w->stop)) {
    bool down;
    sl_dbc *c = sl_db_acquire(w->db, 1000, &down);
    if (c) {
      sl_trading_clearing_step(c, &w->clearing);
      sl_db_release(w->db, c);
    }
    for (int i = 0; i < 10 && !atomic_load(&w->stop); i++) nap_ms(100);
  }
  return NULL;
}

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
      if (sl_ledger_sequence(c, 5000, &added) != SL_DB_OK) added = 0;
      sl_db_release(w->db, c);
    }
    if (added < 5000)
      for (int i = 0; i < 10 && !atomic_load(&w->stop); i++) nap_ms(100);
  }
  return NULL;
}

sl_workers *sl_workers_start(const sl_workers_config *cfg) {
  sl_workers *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->db = sl_db_open(cfg->conninfo, 4);
  w->clearing = cfg->clearing;
  long ms = cfg->maintenance_ms;
  w->period_ticks = (int)(ms < 100 ? 1 : ms > 60000 ? 600 : ms / 100);
  w->retention_s = cfg->idempotency_retention_s;
  w->attempts_retention_s = cfg->attempts_retention_s;
  if (!w->db) {
    free(w);
    return NULL;
  }
  w->book_started = pthread_create(&w->book, NULL, book_main, w) == 0;
  w->maint_started = pthread_create(&w->maint, NULL, maint_main, w) == 0;
  w->clear_started = pthread_create(&w->clear, NULL, clear_main, w) == 0;
  if (cfg->sequencer) w->seq_started = pthread_create(&w->seq, NULL, seq_main, w) == 0;
  return w;
}

void sl_workers_stop(sl_workers *w) {
  if (!w) return;
  atomic_store(&w->stop, true);
  if (w->book_started) pthread_join(w->book, NULL);
  if (w->maint_started) pthread_join(w->maint, NULL);
  if (w->seq_started) pthread_join(w->seq, NULL);
  if (w->clear_started) pthread_join(w->clear, NULL);
  sl_db_close(w->db);
  free(w);
}
