/* clock.c — the database's clock (schema/014_clock.sql) for the C code: the test clock's
 * source of sl_clock_now(), and `suanlid clock show | set`. */
#include "suanli/core/clock.h"
#include "internal.h"
#include "suanli/core/vocab.h"
#include "suanli/db/clock.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

const sl_db_stmt sl_db_stmts_clock[] = {
    {"clock_mode", "SELECT mode FROM clock"},
    {"clock_now_us", "SELECT (extract(epoch FROM sl_now()) * 1000000)::bigint"},
    {"clock_show", "SELECT sl_clock_json()"},
    {"clock_move", "SELECT sl_clock_move($1::timestamptz, $2::interval, $3::boolean)"},
    {NULL, NULL},
};

/* The source's own connection, one reading at a time. */
static struct {
  pthread_mutex_t mu;
  sl_db *db;
} K = {PTHREAD_MUTEX_INITIALIZER, NULL};

static int64_t read_now_us(void *arg) {
  (void)arg;
  int64_t us = -1;
  bool down;
  pthread_mutex_lock(&K.mu);
  sl_dbc *c = K.db ? sl_db_acquire(K.db, 2000, &down) : NULL;
  if (c) {
    if (sl_db_int(c, "clock_now_us", 0, NULL, &us) != SL_DB_OK) us = -1;
    sl_db_release(K.db, c);
  }
  pthread_mutex_unlock(&K.mu);
  return us;
}

bool sl_db_clock_follow(const char *conninfo, char *err, size_t errlen) {
  sl_db *db = sl_db_open(conninfo, 1);
  bool down;
  sl_dbc *c = db ? sl_db_acquire(db, 5000, &down) : NULL;
  PGresult *r = NULL;
  if (!c || sl_db_exec(c, "clock_mode", 0, NULL, &r) != SL_DB_OK || PQntuples(r) != 1) {
    snprintf(err, errlen, "cannot read the database's clock");
    if (r) PQclear(r);
    if (c) sl_db_release(db, c);
    sl_db_close(db);
    return false;
  }
  bool test = !sl_vocab_is(PQgetvalue(r, 0, 0), SL_CLOCK_MODE_REAL);
  PQclear(r);
  sl_db_release(db, c);
  if (!test) {
    sl_db_close(db);
    return true;
  }
  K.db = db;
  sl_clock_set_source(read_now_us, NULL);
  return true;
}

void sl_db_clock_unfollow(void) {
  sl_clock_set_source(NULL, NULL);
  pthread_mutex_lock(&K.mu);
  sl_db_close(K.db);
  K.db = NULL;
  pthread_mutex_unlock(&K.mu);
}

sl_dbrc sl_db_clock_show(sl_dbc *c, char **json) {
  return sl_db_text(c, "clock_show", 0, NULL, json);
}

sl_dbrc sl_db_clock_move(sl_dbc *c, const char *at, const char *by, int frozen) {
  const char *v[3] = {at, by, frozen < 0 ? NULL : frozen ? "true" : "false"};
  return sl_db_exec(c, "clock_move", 3, v, NULL);
}
