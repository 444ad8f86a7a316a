/* conn.c — connection pool, statement preparation, execution, transactions. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "internal.h"
#include "suanli/log.h"

static const sl_db_stmt *const all_stmt_tables[] = {
    sl_db_stmts_accounts, sl_db_stmts_audit, sl_db_stmts_idem,
    sl_db_stmts_regions,  sl_db_stmts_accel, sl_db_stmts_pools, sl_db_stmts_market, sl_db_stmts_dispatch, sl_db_stmts_ledger,
    sl_db_stmts_auditor, sl_db_stmts_settlement,
    sl_db_stmts_reaper,
};

struct sl_db {
  char *conninfo;
  int size;
  sl_dbc *conns;
  int *free_stack;
  int nfree;
  unsigned long epoch; /* bumped whenever a connection finds the server gone (atomic) */
  pthread_mutex_t mu;
  pthread_cond_t cv;
};

const char *sl_dbrc_name(sl_dbrc rc) {
  static const char *const names[] = {"ok", "norows", "unique", "fk", "check", "soft", "down", "hard"};
  return (unsigned)rc < sizeof names / sizeof names[0] ? names[rc] : "?";
}

sl_db *sl_db_open(const char *conninfo, int size) {
  sl_db *db = calloc(1, sizeof *db);
  if (!db) return NULL;
  db->conninfo = strdup(conninfo);
  db->size = size;
  db->conns = calloc((size_t)size, sizeof *db->conns);
  db->free_stack = calloc((size_t)size, sizeof *db->free_stack);
  if (!db->conninfo || !db->conns || !db->free_stack) {
    free(db->conninfo);
    free(db->conns);
    free(db->free_stack);
    free(db);
    return NULL;
  }
  for (int i = 0; i < size; i++) {
    db->free_stack[i] = size - 1 - i;
    db->conns[i].db = db;
  }
  db->nfree = size;
  pthread_mutex_init(&db->mu, NULL);
  pthread_cond_init(&db->cv, NULL);
  return db;
}

void sl_db_close(sl_db *db) {
  if (!db) return;
  for (int i = 0; i < db->size; i++)
    if (db->conns[i].pg) PQfinish(db->conns[i].pg);
  pthread_mutex_destroy(&db->mu);
  pthread_cond_destroy(&db->cv);
  free(db->conns);
  free(db->free_stack);
  free(db->conninfo);
  free(db);
}

/* libpq prints server notices (e.g. "terminating connection due to administrator command")
 * on stderr by default; route them into the structured log instead. */
static void on_notice(void *arg, const char *message) {
  char buf[512];
  snprintf(buf, sizeof buf, "%s", message);
  size_t n = strlen(buf);
  while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) buf[--n] = '\0';
  sl_log(SL_LOG_WARN, "database notice", json_pack("{s:s}", "notice", buf));
}

void sl_db_quiet_notices(PGconn *pg) {
  if (pg) PQsetNoticeProcessor(pg, on_notice, NULL);
}

/* Connect (or reconnect) c and prepare every statement.  Returns false if the database
 * cannot be reached or a statement fails to prepare (logged). */
/* A session opened before the last outage seen by any connection of the pool is presumed
 * dead (PostgreSQL restarted: PQstatus still says OK until the socket is used), so it is
 * reopened instead of failing the next request with 503. */
static bool conn_ready(sl_db *db, sl_dbc *c) {
  unsigned long epoch = __atomic_load_n(&db->epoch, __ATOMIC_ACQUIRE);
  if (c->pg && PQstatus(c->pg) == CONNECTION_OK && c->prepared && c->epoch == epoch) return true;
  if (c->pg) {
    PQfinish(c->pg);
    c->pg = NULL;
  }
  c->prepared = false;
  c->in_txn = false;
  c->listening = false;
  c->epoch = epoch;
  const char *keys[] = {"dbname", "connect_timeout", "options", "application_name",
                        "keepalives_idle", NULL};
  const char *vals[] = {db->conninfo, "3",
                        "-c TimeZone=UTC -c DateStyle=ISO -c statement_timeout=30000 "
                        "-c idle_in_transaction_session_timeout=60000",
                        "suanlid", "30", NULL};
  c->pg = PQconnectdbParams(keys, vals, 1);
  sl_db_quiet_notices(c->pg);
  if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
    sl_log(SL_LOG_WARN, "database connection failed",
           json_pack("{s:s}", "error", c->pg ? PQerrorMessage(c->pg) : "out of memory"));
    return false;
  }
  for (size_t t = 0; t < sizeof all_stmt_tables / sizeof all_stmt_tables[0]; t++) {
    for (const sl_db_stmt *s = all_stmt_tables[t]; s->name; s++) {
      PGresult *r = PQprepare(c->pg, s->name, s->sql, 0, NULL);
      if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        sl_log(SL_LOG_ERROR, "prepare failed",
               json_pack("{s:s,s:s}", "statement", s->name, "error", PQerrorMessage(c->pg)));
        PQclear(r);
        PQfinish(c->pg);
        c->pg = NULL;
        return false;
      }
      PQclear(r);
    }
  }
  c->prepared = true;
  return true;
}

sl_dbc *sl_db_acquire(sl_db *db, int timeout_ms, bool *down) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += timeout_ms / 1000;
  deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }
  *down = false;
  pthread_mutex_lock(&db->mu);
  while (db->nfree == 0) {
    if (pthread_cond_timedwait(&db->cv, &db->mu, &deadline) != 0 && db->nfree == 0) {
      pthread_mutex_unlock(&db->mu);
      return NULL;
    }
  }
  sl_dbc *c = &db->conns[db->free_stack[--db->nfree]];
  pthread_mutex_unlock(&db->mu);
  if (!conn_ready(db, c)) {
    *down = true;
    sl_db_release(db, c);
    return NULL;
  }
  return c;
}

void sl_db_release(sl_db *db, sl_dbc *c) {
  if (!c) return;
  if (c->in_txn) sl_db_rollback(c);
  pthread_mutex_lock(&db->mu);
  db->free_stack[db->nfree++] = (int)(c - db->conns);
  pthread_cond_signal(&db->cv);
  pthread_mutex_unlock(&db->mu);
}

void sl_db_reset(sl_dbc *c) { c->prepared = false; }

const char *sl_db_last_constraint(const sl_dbc *c) { return c->constraint; }

/* Map a failed result (or a broken connection) to an sl_dbrc, remembering details. */
static void outage_seen(sl_dbc *c) {
  c->prepared = false;
  if (c->db) __atomic_add_fetch(&c->db->epoch, 1, __ATOMIC_RELEASE);
}

static sl_dbrc classify(sl_dbc *c, PGresult *r, const char *what) {
  c->sqlstate[0] = c->constraint[0] = '\0';
  if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
    outage_seen(c);
    sl_log(SL_LOG_WARN, "database connection lost", json_pack("{s:s}", "statement", what));
    return SL_DB_DOWN;
  }
  const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  const char *cn = r ? PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME) : NULL;
  snprintf(c->sqlstate, sizeof c->sqlstate, "%s", st ? st : "");
  snprintf(c->constraint, sizeof c->constraint, "%s", cn ? cn : "");
  if (!st) return SL_DB_HARD;
  if (!strcmp(st, "23505") || !strcmp(st, "23P01")) return SL_DB_UNIQUE; /* or exclusion */
  if (!strcmp(st, "23503")) return SL_DB_FK;
  if (!strcmp(st, "23514") || !strcmp(st, "23502") || !strncmp(st, "22", 2)) return SL_DB_CHECK;
  if (!strcmp(st, "40001") || !strcmp(st, "40P01")) return SL_DB_SOFT;
  if (!strncmp(st, "08", 2) || !strcmp(st, "57P01") || !strcmp(st, "57P02") ||
      !strcmp(st, "57P03")) {
    outage_seen(c);
    return SL_DB_DOWN;
  }
  sl_log(SL_LOG_ERROR, "database error",
         json_pack("{s:s,s:s,s:s}", "statement", what, "sqlstate", st, "error",
                   PQresultErrorMessage(r)));
  return SL_DB_HARD;
}

/* Statements that write trades or journal transactions: the ledger signs what they wrote. */
static unsigned writes_of(const char *name) {
  static const char *const money[] = {"trade_cancel", "deposit",        "withdraw",
                                      "settle_due",   "trade_fail",     "pool_shortfall", NULL};
  if (strcmp(name, "trade_buy") == 0) return SL_DB_WROTE_TRADES;
  for (const char *const *n = money; *n; n++)
    if (strcmp(*n, name) == 0) return SL_DB_WROTE_MONEY;
  return 0;
}

unsigned sl_db_money_moved(const sl_dbc *c) { return c->money; }

sl_dbrc sl_db_exec(sl_dbc *c, const char *name, int n, const char *const *vals, PGresult **res) {
  if (res) *res = NULL;
  if (!c->pg) return SL_DB_DOWN;
  if (c->in_txn) c->money |= writes_of(name);
  PGresult *r = PQexecPrepared(c->pg, name, n, vals, NULL, NULL, 0);
  ExecStatusType st = PQresultStatus(r);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
    if (res) *res = r;
    else PQclear(r);
    return SL_DB_OK;
  }
  sl_dbrc rc = classify(c, r, name);
  PQclear(r);
  return rc;
}

sl_dbrc sl_db_text(sl_dbc *c, const char *name, int n, const char *const *vals, char **out) {
  PGresult *r;
  *out = NULL;
  sl_dbrc rc = sl_db_exec(c, name, n, vals, &r);
  if (rc != SL_DB_OK) return rc;
  if (PQntuples(r) < 1 || PQgetisnull(r, 0, 0)) {
    PQclear(r);
    return SL_DB_NOROWS;
  }
  *out = strdup(PQgetvalue(r, 0, 0));
  PQclear(r);
  return *out ? SL_DB_OK : SL_DB_HARD;
}

sl_dbrc sl_db_json(sl_dbc *c, const char *name, int n, const char *const *vals, json_t **out) {
  char *text;
  *out = NULL;
  sl_dbrc rc = sl_db_text(c, name, n, vals, &text);
  if (rc != SL_DB_OK) return rc;
  json_error_t je;
  *out = json_loads(text, JSON_DECODE_ANY, &je);
  free(text);
  if (!*out) {
    sl_log(SL_LOG_ERROR, "database returned invalid JSON",
           json_pack("{s:s,s:s}", "statement", name, "error", je.text));
    return SL_DB_HARD;
  }
  return SL_DB_OK;
}

sl_dbrc sl_db_rows(sl_dbc *c, const char *name, int n, const char *const *vals, size_t elem_size,
                   PGresult **res, void **rows, size_t *count) {
  *rows = NULL;
  *count = 0;
  sl_dbrc rc = sl_db_exec(c, name, n, vals, res);
  if (rc != SL_DB_OK) return rc;
  size_t cnt = (size_t)PQntuples(*res);
  *rows = calloc(cnt ? cnt : 1, elem_size);
  if (!*rows) {
    PQclear(*res);
    *res = NULL;
    return SL_DB_HARD;
  }
  *count = cnt;
  return SL_DB_OK;
}

int64_t sl_db_col_i64(PGresult *r, int row, int col) {
  return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

sl_dbrc sl_db_int(sl_dbc *c, const char *name, int n, const char *const *vals, int64_t *out) {
  PGresult *r;
  sl_dbrc rc = sl_db_exec(c, name, n, vals, &r);
  if (rc != SL_DB_OK) return rc;
  if (PQntuples(r) < 1 || PQgetisnull(r, 0, 0)) {
    PQclear(r);
    return SL_DB_NOROWS;
  }
  *out = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  PQclear(r);
  return SL_DB_OK;
}

const char *sl_db_i64(char buf[24], int64_t v) {
  snprintf(buf, 24, "%lld", (long long)v);
  return buf;
}

const char *sl_db_i64_opt(char buf[24], int64_t v, int64_t unset) {
  return v == unset ? NULL : sl_db_i64(buf, v);
}

const char *sl_db_ts(char buf[24], int64_t epoch) { return sl_db_i64(buf, epoch); }

const char *sl_db_bytea32(char buf[67], const uint8_t h[32]) {
  static const char hx[] = "0123456789abcdef";
  buf[0] = '\\';
  buf[1] = 'x';
  for (int i = 0; i < 32; i++) {
    buf[2 + 2 * i] = hx[h[i] >> 4];
    buf[3 + 2 * i] = hx[h[i] & 15];
  }
  buf[66] = '\0';
  return buf;
}

static sl_dbrc simple(sl_dbc *c, const char *sql) {
  if (!c->pg) return SL_DB_DOWN;
  PGresult *r = PQexec(c->pg, sql);
  sl_dbrc rc = PQresultStatus(r) == PGRES_COMMAND_OK ? SL_DB_OK : classify(c, r, sql);
  PQclear(r);
  return rc;
}

/* BEGIN; when the session turns out to be dead, nothing has been sent in the transaction,
 * so the connection is reopened once and BEGIN tried again. */
static sl_dbrc begin_with(sl_dbc *c, const char *sql) {
  sl_dbrc rc = simple(c, sql);
  if (rc == SL_DB_DOWN && c->db && conn_ready(c->db, c)) rc = simple(c, sql);
  return rc;
}

sl_dbrc sl_db_begin_snapshot(sl_dbc *c) {
  sl_dbrc rc = begin_with(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  c->in_txn = rc == SL_DB_OK;
  c->money = 0;
  return rc;
}

sl_dbrc sl_db_begin(sl_dbc *c) {
  sl_dbrc rc = begin_with(c, "BEGIN");
  c->in_txn = rc == SL_DB_OK;
  c->money = 0;
  return rc;
}

static sl_db_precommit_fn precommit;

void sl_db_set_precommit(sl_db_precommit_fn fn) { precommit = fn; }

sl_dbrc sl_db_commit(sl_dbc *c) {
  if (precommit) {
    sl_dbrc hr = precommit(c);
    if (hr != SL_DB_OK) {
      sl_db_rollback(c);
      return hr;
    }
  }
  sl_dbrc rc = simple(c, "COMMIT");
  c->in_txn = false;
  return rc;
}

void sl_db_rollback(sl_dbc *c) {
  if (c->pg && PQstatus(c->pg) == CONNECTION_OK) (void)simple(c, "ROLLBACK");
  c->in_txn = false;
}

sl_dbrc sl_db_txn_run(sl_dbc *c, sl_db_txn_body body, void *arg, int max_tries) {
  sl_dbrc rc = SL_DB_HARD;
  for (int attempt = 0; attempt < max_tries; attempt++) {
    rc = sl_db_begin(c);
    if (rc != SL_DB_OK) return rc;
    rc = body(c, arg);
    if (rc == SL_DB_OK) rc = sl_db_commit(c);
    else sl_db_rollback(c);
    if (rc != SL_DB_SOFT) return rc;
    struct timespec ts = {0, (long)(1000000L * (1 + attempt * 3))};
    nanosleep(&ts, NULL);
  }
  return rc;
}
