/* book.c — this process's capacity book, loaded from PostgreSQL and kept current from the
 * change feed (schema/009_market_feed.sql).  See src/market/README.md, "The capacity book".
 *
 * One book per process, behind a read-write lock: matches read it, sl_trading_book_sync() writes
 * it. The book has its own database connection, so a sync never reads inside a caller's transaction
 * (it must not see, and keep, uncommitted bookings that may yet roll back).
 *
 * Freshness: every match first calls sl_trading_book_sync(), which reads the changes committed
 * since the book's cursor (one indexed query, usually empty) and applies them; syncs that started
 * after a caller asked are shared (32 concurrent quotes cost about one read).  So a change
 * committed before a request began is always in the book that request matches against.  The
 * database still arbitrates every booking: a placement the book proposes on stale data is
 * refused by sl_trade and retried (engine.c). */
#include "suanli/market/book.h"
#include "suanli/core/clock.h"
#include "suanli/core/log.h"
#include "suanli/core/timeutil.h"
#include "suanli/core/vocab.h"
#include "suanli/db/market.h"
#include "suanli/db/registry.h"
#include "suanli/trading/trading.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FEED_LIMIT 5000 /* more changes than this at once: reload instead */
#define PAST_SLOTS 1    /* bookings kept from one slot before now */
#define FAR_SLOT   ((int64_t)(INT32_MAX - 1) * SL_SLOT_SECONDS) /* "every future slot" */

static struct {
  pthread_rwlock_t lock;   /* guards book */
  pthread_mutex_t sync_mu; /* one sync at a time */
  sl_market_book *book;
  sl_db *db;               /* syncs */
  sl_db *ldb;              /* the listener */
  uint64_t cursor;         /* feed xid cursor; 0 = not loaded */
  int64_t sync_started_us; /* start of the last successful sync */
  unsigned long reloads, syncs;
  _Atomic uint64_t version;   /* bumped when pools, ratings or latency may have changed */
  _Atomic int64_t touched_us; /* the last change this process committed (sl_trading_book_touch) */
  _Atomic int64_t synced_us;  /* start of the last successful sync */
  pthread_t listener;
  _Atomic bool stop;
  bool started, listening;
} X = {.lock = PTHREAD_RWLOCK_INITIALIZER, .sync_mu = PTHREAD_MUTEX_INITIALIZER};

/* Put (or, when retired, remove) one loaded pool row. */
static bool apply_row(sl_market_book *b, const sl_db_pool_row *r) {
  if (sl_vocab_is(r->status, SL_POOL_STATUS_RETIRED)) {
    sl_market_book_remove(b, r->id);
    return true;
  }
  sl_market_book_pool p = {.id = r->id,
                           .owner_id = r->owner_id,
                           .region = r->region,
                           .accelerator = r->accelerator,
                           .memory_gb = r->memory_gb,
                           .ncu_milli = r->ncu_milli,
                           .intra = sl_market_intra_of(r->intra),
                           .inter = sl_market_inter_of(r->inter),
                           .inter_gbps = r->inter_gbps,
                           .gpu_count = r->gpu_count,
                           .price_minor = r->price_minor,
                           .avail_from = r->avail_from,
                           .avail_until = r->avail_until,
                           .active = sl_vocab_is(r->status, SL_POOL_STATUS_ACTIVE),
                           .down = sl_vocab_is(r->health, SL_POOL_HEALTH_DOWN)};
  return sl_market_book_put(b, &p);
}

/* Set the bookings of [from, to] from rows sorted by pool: one call per pool. */
static bool apply_bookings(sl_market_book *b, sl_db_booking *bk, size_t n, int64_t from,
                           int64_t to) {
  int64_t *slots = malloc((n ? n : 1) * sizeof *slots);
  int32_t *vals = malloc((n ? n : 1) * sizeof *vals);
  bool ok = slots && vals;
  for (size_t i = 0; ok && i < n;) {
    size_t j = i;
    for (; j < n && bk[j].pool_id == bk[i].pool_id; j++) {
      slots[j - i] = bk[j].slot;
      vals[j - i] = bk[j].booked;
    }
    sl_market_book_set_booked(b, bk[i].pool_id, from, to, slots, vals,
                              j - i); /* unknown pool: skip */
    i = j;
  }
  free(slots);
  free(vals);
  return ok;
}

static bool apply_latency(sl_market_book *b, const sl_db_rtt_row *l, size_t n) {
  sl_market_book_clear_rtt(b);
  for (size_t i = 0; i < n; i++)
    if (!sl_market_book_set_rtt_source(b, l[i].from, l[i].to, l[i].rtt_us, l[i].estimated))
      return false;
  return true;
}

static int cmp_booking(const void *pa, const void *pb) {
  const sl_db_booking *a = pa, *b = pb;
  if (a->pool_id != b->pool_id) return a->pool_id < b->pool_id ? -1 : 1;
  return (a->slot > b->slot) - (a->slot < b->slot);
}

static bool put_row(const sl_db_pool_row *r, void *book) { return apply_row(book, r); }

/* A whole new book from the tables; *xmin is taken first, so every change the loads might
 * miss comes through the feed afterwards (applying a change twice is harmless).  Both big
 * reads are streamed (src/db's single-row mode): pools go into the book as they arrive, and
 * bookings into a compact array (24 bytes a booked slot) sorted before they are applied, so
 * the load holds no result set of the whole market. */
static sl_dbrc load_all(sl_dbc *c, sl_market_book **out, uint64_t *xmin) {
  sl_db_booking *bk = NULL;
  sl_db_rtt_row *lat = NULL;
  sl_db_name_row *names = NULL;
  size_t nbk = 0, nlat = 0, nnames = 0;
  int64_t from = sl_market_order_next_slot(sl_clock_now()) - (PAST_SLOTS + 1) * SL_SLOT_SECONDS;
  sl_market_book *b = sl_market_book_new();
  sl_dbrc rc = b ? sl_db_feed_xmin(c, xmin) : SL_DB_HARD;
  if (rc == SL_DB_OK) rc = sl_db_book_pools_each(c, put_row, b);
  if (rc == SL_DB_OK) rc = sl_db_book_slots(c, from, FAR_SLOT, &bk, &nbk);
  if (rc == SL_DB_OK) rc = sl_db_book_latency(c, &lat, &nlat);
  if (rc == SL_DB_OK) rc = sl_db_book_names(c, &names, &nnames);
  if (rc != SL_DB_OK) goto cleanup;
  rc = SL_DB_HARD;
  qsort(bk, nbk, sizeof *bk, cmp_booking);
  if (!apply_bookings(b, bk, nbk, from, FAR_SLOT)) goto cleanup;
  if (!apply_latency(b, lat, nlat)) goto cleanup;
  for (size_t i = 0; i < nnames; i++)
    if (!sl_market_book_add_name(b, names[i].name, names[i].accelerator)) goto cleanup;
  *out = b;
  b = NULL;
  rc = SL_DB_OK;
cleanup:
  sl_market_book_free(b);
  free(bk);
  free(lat);
  free(names);
  return rc;
}

static int cmp_i64(const void *pa, const void *pb) {
  int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
  return (a > b) - (a < b);
}

/* Sort and deduplicate ids[0..n); returns the new count. */
static size_t uniq(int64_t *ids, size_t n) {
  if (!n) return 0;
  qsort(ids, n, sizeof *ids, cmp_i64);
  size_t m = 1;
  for (size_t i = 1; i < n; i++)
    if (ids[i] != ids[m - 1]) ids[m++] = ids[i];
  return m;
}

/* Read the feed and the state it names — at most three queries whatever the number of
 * changes: the pools named (by id), their booked slots over the union of the ranges named,
 * the latency matrix — and apply it under the write lock.  Re-reading a wider range than a
 * change named is still the truth for that range.  *reload is set when the feed cannot bring
 * the book up to date (pruned past the cursor, too many changes, new ratings). */
static sl_dbrc catch_up(sl_dbc *c, bool *reload) {
  uint64_t xmin = 0, pruned = 0;
  sl_db_change *ch = NULL;
  size_t n = 0;
  *reload = false;
  sl_dbrc rc = sl_db_feed_read(c, X.cursor, FEED_LIMIT, &xmin, &pruned, &ch, &n);
  if (rc != SL_DB_OK) return rc;
  if ((pruned && X.cursor <= pruned) || n >= FEED_LIMIT) *reload = true;
  for (size_t i = 0; i < n && !*reload; i++)
    if (sl_vocab_is(ch[i].kind, SL_FEED_KIND_ACCELERATORS)) *reload = true;
  if (*reload || n == 0) {
    free(ch);
    if (!*reload) X.cursor = xmin;
    return SL_DB_OK;
  }
  int64_t *pids = malloc(n * sizeof *pids), *sids = malloc(n * sizeof *sids);
  size_t np = 0, ns = 0;
  int64_t from = INT64_MAX, to = INT64_MIN;
  bool want_lat = false, ok = true;
  sl_db_pool_row *rows = NULL;
  sl_db_booking *bk = NULL;
  sl_db_rtt_row *lat = NULL;
  size_t nrows = 0, nbk = 0, nlat = 0;
  if (!pids || !sids) {
    rc = SL_DB_HARD;
    goto cleanup;
  }
  for (size_t i = 0; i < n; i++) {
    if (sl_vocab_is(ch[i].kind, SL_FEED_KIND_POOL)) {
      pids[np++] = ch[i].pool_id;
    } else if (sl_vocab_is(ch[i].kind, SL_FEED_KIND_SLOTS)) {
      sids[ns++] = ch[i].pool_id;
      if (ch[i].slot_from < from) from = ch[i].slot_from;
      if (ch[i].slot_to > to) to = ch[i].slot_to;
    } else if (sl_vocab_is(ch[i].kind, SL_FEED_KIND_LATENCY)) {
      want_lat = true;
    }
  }
  np = uniq(pids, np);
  ns = uniq(sids, ns);
  if (np) rc = sl_db_book_pools_in(c, pids, np, &rows, &nrows);
  if (rc == SL_DB_OK && ns) rc = sl_db_book_slots_in(c, sids, ns, from, to, &bk, &nbk);
  if (rc == SL_DB_OK && want_lat) rc = sl_db_book_latency(c, &lat, &nlat);
  if (rc != SL_DB_OK) goto cleanup;
  pthread_rwlock_wrlock(&X.lock);
  /* pools first (a booking may name a pool created in the same batch); rows are by id */
  for (size_t i = 0, r = 0; i < np && ok; i++) {
    while (r < nrows && rows[r].id < pids[i]) r++;
    if (r < nrows && rows[r].id == pids[i]) ok = apply_row(X.book, &rows[r]);
    else sl_market_book_remove(X.book, pids[i]); /* gone */
  }
  /* bookings: rows by (pool, slot); a pool without rows in the range is cleared there */
  for (size_t i = 0, r = 0; i < ns && ok; i++) {
    while (r < nbk && bk[r].pool_id < sids[i]) r++;
    size_t e = r;
    while (e < nbk && bk[e].pool_id == sids[i]) e++;
    if (e > r) ok = apply_bookings(X.book, bk + r, e - r, from, to);
    else sl_market_book_set_booked(X.book, sids[i], from, to, NULL, NULL, 0);
    r = e;
  }
  if (ok && want_lat) ok = apply_latency(X.book, lat, nlat);
  if (np || want_lat) X.version++; /* bookings alone do not change a listing */
  pthread_rwlock_unlock(&X.lock);
  if (ok) X.cursor = xmin;
  else *reload = true; /* out of memory half-way: start again from the tables */
cleanup:
  free(pids);
  free(sids);
  free(rows);
  free(bk);
  free(lat);
  free(ch);
  return rc;
}

static sl_dbrc reload(sl_dbc *c) {
  sl_market_book *nb = NULL;
  uint64_t xmin = 0;
  sl_dbrc rc = load_all(c, &nb, &xmin);
  if (rc != SL_DB_OK) return rc;
  pthread_rwlock_wrlock(&X.lock);
  sl_market_book *old = X.book;
  X.book = nb;
  X.version++;
  pthread_rwlock_unlock(&X.lock);
  sl_market_book_free(old);
  X.cursor = xmin;
  X.reloads++;
  sl_log(SL_LOG_INFO, "capacity book loaded",
         json_pack("{s:I,s:I}", "pools", (json_int_t)sl_market_book_size(nb), "bytes",
                   (json_int_t)sl_market_book_memory(nb)));
  return SL_DB_OK;
}

/* Keeps the book warm: syncs on every NOTIFY suanli_market (a change committed by any
 * process) and at least once a second.  Only a wake-up: correctness never depends on it. */
static void *listen_main(void *arg) {
  (void)arg;
  struct timespec nap = {0, 100 * 1000000L};
  while (!X.stop) {
    bool down;
    sl_dbc *c = sl_db_acquire(X.ldb, 1000, &down);
    while (c && !X.stop) {
      int64_t t0 = sl_time_now_us();
      bool got = sl_db_wait_notify(c, "suanli_market", 1000);
      if (sl_trading_book_sync(sl_time_now_us()) == SL_DB_DOWN) break;
      if (!got && sl_time_now_us() - t0 < 500000) break; /* the wait failed at once: reconnect */
    }
    if (c) sl_db_release(X.ldb, c);
    if (!X.stop) nanosleep(&nap, NULL);
  }
  return NULL;
}

bool sl_trading_book_start(const char *conninfo) {
  if (X.started) return true;
  X.db = sl_db_open(conninfo, 1);
  X.ldb = X.db ? sl_db_open(conninfo, 1) : NULL; /* the listener's own: it holds it */
  if (!X.db || !X.ldb) {
    if (X.db) sl_db_close(X.db);
    X.db = NULL;
    return false;
  }
  X.started = true;
  X.stop = false;
  bool ok = sl_trading_book_sync(sl_time_now_us()) == SL_DB_OK;
  X.listening = pthread_create(&X.listener, NULL, listen_main, NULL) == 0;
  return ok;
}

void sl_trading_book_touch(void) { X.touched_us = sl_time_now_us(); }
int64_t sl_trading_book_touched_us(void) { return X.touched_us; }

sl_dbrc sl_trading_book_sync_recent(int64_t max_age_us) {
  int64_t synced = X.synced_us;
  if (X.cursor && synced > X.touched_us && sl_time_now_us() - synced < max_age_us) return SL_DB_OK;
  return sl_trading_book_sync(sl_time_now_us());
}

void sl_trading_book_stop(void) {
  if (!X.started) return;
  X.stop = true;
  if (X.listening) pthread_join(X.listener, NULL);
  X.listening = false;
  sl_db_close(X.ldb);
  sl_db_close(X.db);
  sl_market_book_free(X.book);
  X.book = NULL;
  X.db = X.ldb = NULL;
  X.cursor = 0;
  X.started = false;
}

sl_dbrc sl_trading_book_sync(int64_t asked_us) {
  if (!X.started) return SL_DB_HARD;
  pthread_mutex_lock(&X.sync_mu);
  if (X.cursor && X.sync_started_us >= asked_us) { /* a sync that began after we asked */
    pthread_mutex_unlock(&X.sync_mu);
    return SL_DB_OK;
  }
  int64_t started = sl_time_now_us();
  bool down;
  sl_dbrc rc = SL_DB_DOWN;
  sl_dbc *c = sl_db_acquire(X.db, 5000, &down);
  if (c) {
    bool again = X.cursor == 0;
    rc = SL_DB_OK;
    if (!again) rc = catch_up(c, &again);
    if (rc == SL_DB_OK && again) rc = reload(c);
    sl_db_release(X.db, c);
  } else if (!down) {
    rc = SL_DB_SOFT;
  }
  if (rc == SL_DB_OK) {
    X.sync_started_us = started;
    X.synced_us = started;
    X.syncs++;
  }
  pthread_mutex_unlock(&X.sync_mu);
  return rc;
}

sl_dbrc sl_trading_book_reload(void) {
  if (!X.started) return SL_DB_HARD;
  pthread_mutex_lock(&X.sync_mu);
  X.cursor = 0;
  pthread_mutex_unlock(&X.sync_mu);
  return sl_trading_book_sync(sl_time_now_us());
}

bool sl_trading_book_ready(void) { return X.started; }

uint64_t sl_trading_book_version(void) { return X.version; }

bool sl_trading_book_knows(bool model, const json_t *codes) {
  if (!json_is_array(codes)) return false;
  bool all = true;
  pthread_rwlock_rdlock(&X.lock);
  if (!X.book) all = false;
  for (size_t i = 0; all && i < json_array_size(codes); i++)
    all = sl_market_book_knows(X.book, model, json_string_value(json_array_get(codes, i)));
  pthread_rwlock_unlock(&X.lock);
  return all;
}

void sl_trading_book_read_lock(void) { pthread_rwlock_rdlock(&X.lock); }
void sl_trading_book_read_unlock(void) { pthread_rwlock_unlock(&X.lock); }
const sl_market_book *sl_trading_book_get(void) { return X.book; }

void sl_trading_book_stats(size_t *pools, size_t *bytes, unsigned long *reloads,
                           unsigned long *syncs) {
  pthread_rwlock_rdlock(&X.lock);
  *pools = X.book ? sl_market_book_size(X.book) : 0;
  *bytes = X.book ? sl_market_book_memory(X.book) : 0;
  pthread_rwlock_unlock(&X.lock);
  *reloads = X.reloads;
  *syncs = X.syncs;
}

sl_dbrc sl_trading_book_check(bool verify, json_t **out) {
  *out = NULL;
  sl_dbrc rc = sl_trading_book_sync(sl_time_now_us());
  if (rc != SL_DB_OK) return rc;
  int64_t from = sl_market_order_next_slot(sl_clock_now()) - SL_SLOT_SECONDS;
  char live[17] = "", fresh[17] = "";
  size_t fresh_pools = 0;
  pthread_mutex_lock(&X.sync_mu);
  bool down;
  sl_dbc *c = verify ? sl_db_acquire(X.db, 5000, &down) : NULL;
  if (verify && !c) rc = down ? SL_DB_DOWN : SL_DB_SOFT;
  /* One snapshot for both: catch up, then load a second book from the same tables. */
  if (c) rc = sl_db_begin_snapshot(c);
  if (c && rc == SL_DB_OK) {
    bool again = false;
    rc = catch_up(c, &again);
    if (rc == SL_DB_OK && again) rc = SL_DB_SOFT; /* a reload would compare a book with itself */
    sl_market_book *nb = NULL;
    uint64_t xmin;
    if (rc == SL_DB_OK) rc = load_all(c, &nb, &xmin);
    if (rc == SL_DB_OK) {
      snprintf(fresh, sizeof fresh, "%016llx", (unsigned long long)sl_market_book_digest(nb, from));
      fresh_pools = sl_market_book_size(nb);
    }
    sl_market_book_free(nb);
    sl_db_rollback(c);
  }
  if (c) sl_db_release(X.db, c);
  pthread_rwlock_rdlock(&X.lock);
  size_t pools = X.book ? sl_market_book_size(X.book) : 0,
         bytes = X.book ? sl_market_book_memory(X.book) : 0;
  if (X.book)
    snprintf(live, sizeof live, "%016llx", (unsigned long long)sl_market_book_digest(X.book, from));
  pthread_rwlock_unlock(&X.lock);
  unsigned long long cursor = X.cursor;
  pthread_mutex_unlock(&X.sync_mu);
  if (rc != SL_DB_OK) return rc;
  *out = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:s}", "pools", (json_int_t)pools, "bytes",
                   (json_int_t)bytes, "bytes_per_pool", (json_int_t)(pools ? bytes / pools : 0),
                   "reloads", (json_int_t)X.reloads, "stale_retries",
                   (json_int_t)sl_trading_retries(), "cursor", (json_int_t)cursor, "digest", live);
  if (*out && verify) {
    json_object_set_new(*out, "fresh_digest", json_string(fresh));
    json_object_set_new(*out, "fresh_pools", json_integer((json_int_t)fresh_pools));
    json_object_set_new(*out, "agrees", json_boolean(strcmp(live, fresh) == 0));
  }
  return *out ? SL_DB_OK : SL_DB_HARD;
}
