/* conn.c — connection pool, statement preparation, execution, transactions. */
#include "internal.h"
#include "suanli/core/log.h"
#include "suanli/core/vocab.h"
#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static const sl_db_stmt *const all_stmt_tables[] = {
    sl_db_stmts_accounts, sl_db_stmts_audit,    sl_db_stmts_idem,         sl_db_stmts_regions,
    sl_db_stmts_accel,    sl_db_stmts_pools,    sl_db_stmts_market,       sl_db_stmts_dispatch,
    sl_db_stmts_ledger,   sl_db_stmts_auditor,  sl_db_stmts_settlement,   sl_db_stmts_conn,
    sl_db_stmts_stats,    sl_db_stmts_offers,   sl_db_stmts_access,       sl_db_stmts_reaper,
    sl_db_stmts_clock,    sl_db_stmts_registry, sl_db_stmts_drain,        sl_db_stmts_locations,
    sl_db_stmts_limits,   sl_db_stmts_agent,    sl_db_stmts_trade_events, sl_db_stmts_clearing,
};

/* The transaction runner's own statements (see probe and resolve_commit). */
const sl_db_stmt sl_db_stmts_conn[] = {
    /* just before COMMIT: the transaction id, how many items its money-moving statements
     * queued for signing (schema/015), and, for a write transaction, its marker (schema/012) */
    {"txn_probe",
     "WITH m AS (INSERT INTO txn_commits(session, nonce) SELECT $1::bigint, $2::bigint"
     "  WHERE txid_current_if_assigned() IS NOT NULL"
     "  ON CONFLICT (session) DO UPDATE SET nonce = excluded.nonce, at = now() RETURNING 1)"
     " SELECT txid_current_if_assigned(),"
     " (SELECT count(*) FROM ledger_to_sign WHERE txid = txid_current_if_assigned()),"
     " (SELECT count(*) FROM m)"},
    {"txn_status", "SELECT sl_commit_outcome($1::bigint, $2::bigint, $3::bigint)"},
    /* markers of sessions gone for a week (one row per session: the table stays small) */
    {"txn_commits_reap", "DELETE FROM txn_commits WHERE at < now() - interval '7 days'"},
    {NULL, NULL},
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
  sl_db_pool_stats stats; /* under mu */
};

const char *sl_dbrc_name(sl_dbrc rc) {
  static const char *const names[] = {"ok",   "norows", "unique", "fk",     "check",
                                      "soft", "down",   "hard",   "unknown"};
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
 * cannot be reached or a statement fails to prepare (logged).  JIT compilation is off for
 * these sessions: their statements are short, and on a large market the planner's estimates
 * cross jit_above_cost, so a 2 ms statement paid ~100 ms of compilation on every run. */
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
  const char *keys[] = {"dbname",           "connect_timeout", "options",
                        "application_name", "keepalives_idle", NULL};
  const char *vals[] = {db->conninfo,
                        "3",
                        "-c TimeZone=UTC -c DateStyle=ISO -c statement_timeout=30000 "
                        "-c idle_in_transaction_session_timeout=60000 -c jit=off",
                        "suanlid",
                        "30",
                        NULL};
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
  /* a fresh session id for this session's commit markers (schema/012) */
  uint64_t sid = 0;
  if (getrandom(&sid, sizeof sid, 0) != (ssize_t)sizeof sid)
    sid = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)c;
  c->session = (int64_t)(sid >> 1);
  c->commits = 0;
  PGresult *r = PQexecPrepared(c->pg, "txn_commits_reap", 0, NULL, NULL, NULL, 0);
  PQclear(r); /* best effort (a read-only replica refuses it) */
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
  db->stats.acquires++;
  if (db->nfree == 0) db->stats.waits++;
  while (db->nfree == 0) {
    if (pthread_cond_timedwait(&db->cv, &db->mu, &deadline) != 0 && db->nfree == 0) {
      db->stats.timeouts++;
      pthread_mutex_unlock(&db->mu);
      return NULL;
    }
  }
  sl_dbc *c = &db->conns[db->free_stack[--db->nfree]];
  pthread_mutex_unlock(&db->mu);
  if (!conn_ready(db, c)) {
    pthread_mutex_lock(&db->mu);
    db->stats.connect_failures++;
    pthread_mutex_unlock(&db->mu);
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

void sl_db_pool_stats_get(sl_db *db, sl_db_pool_stats *out) {
  pthread_mutex_lock(&db->mu);
  *out = db->stats;
  out->size = db->size;
  out->in_use = db->size - db->nfree;
  pthread_mutex_unlock(&db->mu);
}

const char *sl_db_last_constraint(const sl_dbc *c) { return c->constraint; }

/* This session found the server gone: it is reopened on next use, and so is every other
 * session of the pool opened before now (the outage epoch). */
static void outage_seen(sl_dbc *c) {
  c->prepared = false;
  if (c->db) __atomic_add_fetch(&c->db->epoch, 1, __ATOMIC_RELEASE);
}

/* The one classification of SQLSTATEs (PostgreSQL appendix A) into outcomes:
 *   connection loss  08xxx, 57P01-57P03 (shutdown, crash, starting up), 53300 (too many
 *                    connections), and libpq's own errors, which carry no SQLSTATE: DOWN
 *   serialization    40001, 40P01, 55P03 (lock not available): SOFT, retry the transaction
 *   constraint       23505/23P01 UNIQUE, 23503 FK, 23514/23502/22xxx CHECK
 *   aborted txn      25P02: whatever failed first in this transaction (SOFT if unknown)
 *   hard             everything else: a bug, logged with its SQLSTATE. */
static sl_dbrc class_of(const sl_dbc *c, const char *st) {
  if (!st || !st[0]) return SL_DB_DOWN;
  if (!strncmp(st, "08", 2) || !strcmp(st, "57P01") || !strcmp(st, "57P02") ||
      !strcmp(st, "57P03") || !strcmp(st, "53300"))
    return SL_DB_DOWN;
  if (!strcmp(st, "40001") || !strcmp(st, "40P01") || !strcmp(st, "55P03")) return SL_DB_SOFT;
  if (!strcmp(st, "23505") || !strcmp(st, "23P01")) return SL_DB_UNIQUE; /* or exclusion */
  if (!strcmp(st, "23503")) return SL_DB_FK;
  if (!strcmp(st, "23514") || !strcmp(st, "23502") || !strncmp(st, "22", 2)) return SL_DB_CHECK;
  if (!strcmp(st, "25P02")) return c->failed != SL_DB_OK ? c->failed : SL_DB_SOFT;
  return SL_DB_HARD;
}

/* Map a failed result (or a broken connection) to an sl_dbrc, remembering details and the
 * first failure of the open transaction. */
static sl_dbrc classify(sl_dbc *c, PGresult *r, const char *what) {
  c->sqlstate[0] = c->constraint[0] = '\0';
  const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  const char *cn = r ? PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME) : NULL;
  snprintf(c->sqlstate, sizeof c->sqlstate, "%s", st ? st : "");
  snprintf(c->constraint, sizeof c->constraint, "%s", cn ? cn : "");
  sl_dbrc rc = (!c->pg || PQstatus(c->pg) != CONNECTION_OK) ? SL_DB_DOWN : class_of(c, st);
  if (rc == SL_DB_DOWN) {
    outage_seen(c);
    sl_log(SL_LOG_WARN, "database connection lost",
           json_pack("{s:s,s:s}", "statement", what, "sqlstate", c->sqlstate));
  } else if (rc == SL_DB_HARD) {
    sl_log(SL_LOG_ERROR, "database error",
           json_pack("{s:s,s:s,s:s}", "statement", what, "sqlstate", st, "error",
                     PQresultErrorMessage(r)));
  }
  if (c->in_txn && c->failed == SL_DB_OK) c->failed = rc;
  return rc;
}

sl_dbrc sl_db_exec(sl_dbc *c, const char *name, int n, const char *const *vals, PGresult **res) {
  if (res) *res = NULL;
  if (!c->pg) return SL_DB_DOWN;
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

/* Run a statement whose answer is its first row's first column: *r holds it on SL_DB_OK;
 * no row or a NULL is SL_DB_NOROWS. */
static sl_dbrc first_value(sl_dbc *c, const char *name, int n, const char *const *vals,
                           PGresult **r) {
  sl_dbrc rc = sl_db_exec(c, name, n, vals, r);
  if (rc != SL_DB_OK) return rc;
  if (PQntuples(*r) < 1 || PQgetisnull(*r, 0, 0)) {
    PQclear(*r);
    return SL_DB_NOROWS;
  }
  return SL_DB_OK;
}

sl_dbrc sl_db_exec_row(sl_dbc *c, const char *name, int n, const char *const *vals,
                       PGresult **res) {
  sl_dbrc rc = sl_db_exec(c, name, n, vals, res);
  if (rc != SL_DB_OK) return rc;
  if (PQntuples(*res) != 1) {
    PQclear(*res);
    *res = NULL;
    return SL_DB_NOROWS;
  }
  return SL_DB_OK;
}

sl_dbrc sl_db_exec_id(sl_dbc *c, const char *name, int64_t x, PGresult **res) {
  char b[24];
  const char *v[1] = {sl_db_i64(b, x)};
  return sl_db_exec(c, name, 1, v, res);
}

sl_dbrc sl_db_json_id(sl_dbc *c, const char *name, int64_t x, json_t **out) {
  char b[24];
  const char *v[1] = {sl_db_i64(b, x)};
  return sl_db_json(c, name, 1, v, out);
}

sl_dbrc sl_db_int_id(sl_dbc *c, const char *name, int64_t x, int64_t *out) {
  char b[24];
  const char *v[1] = {sl_db_i64(b, x)};
  return sl_db_int(c, name, 1, v, out);
}

sl_dbrc sl_db_json_doc(sl_dbc *c, const char *name, int64_t x, const json_t *doc, json_t **out) {
  char b[24];
  char *text = json_dumps(doc, JSON_COMPACT);
  if (!text) return SL_DB_HARD;
  const char *v[2] = {sl_db_i64(b, x), text};
  sl_dbrc rc = sl_db_json(c, name, 2, v, out);
  free(text);
  return rc;
}

char *sl_db_scope_params(const char **v, char b[24], int64_t party, const json_t *regions) {
  char *text = regions ? json_dumps(regions, JSON_COMPACT) : NULL;
  v[0] = sl_db_i64_opt(b, party, 0);
  v[1] = text;
  return text;
}

sl_dbrc sl_db_text(sl_dbc *c, const char *name, int n, const char *const *vals, char **out) {
  PGresult *r;
  *out = NULL;
  sl_dbrc rc = first_value(c, name, n, vals, &r);
  if (rc != SL_DB_OK) return rc;
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

sl_dbrc sl_db_rows_map(sl_dbc *c, const char *name, int n, const char *const *vals,
                       size_t elem_size, sl_db_row_fill fill, void **rows, size_t *count) {
  PGresult *r;
  void *out;
  size_t cnt, kept = 0;
  *rows = NULL;
  *count = 0;
  sl_dbrc rc = sl_db_rows(c, name, n, vals, elem_size, &r, &out, &cnt);
  if (rc != SL_DB_OK) return rc;
  for (size_t i = 0; i < cnt; i++)
    if (fill(r, (int)i, (char *)out + kept * elem_size)) kept++;
  PQclear(r);
  *rows = out;
  *count = kept;
  return SL_DB_OK;
}

sl_dbrc sl_db_rows_each(sl_dbc *c, const char *name, int n, const char *const *vals,
                        sl_db_row_each each, void *arg) {
  if (!c->pg) return SL_DB_DOWN;
  if (!PQsendQueryPrepared(c->pg, name, n, vals, NULL, NULL, 0)) return classify(c, NULL, name);
  sl_dbrc rc = SL_DB_OK;
  bool stopped = !PQsetSingleRowMode(c->pg); /* cannot fail right after the send */
  PGresult *r;
  while ((r = PQgetResult(c->pg))) { /* read to the end even after a failure */
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_SINGLE_TUPLE) {
      if (rc == SL_DB_OK && !stopped && !each(r, arg)) stopped = true;
    } else if (st != PGRES_TUPLES_OK && rc == SL_DB_OK) {
      rc = classify(c, r, name);
    }
    PQclear(r);
  }
  return rc == SL_DB_OK && stopped ? SL_DB_HARD : rc;
}

int64_t sl_db_col_i64(PGresult *r, int row, int col) {
  return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

sl_dbrc sl_db_int(sl_dbc *c, const char *name, int n, const char *const *vals, int64_t *out) {
  PGresult *r;
  sl_dbrc rc = first_value(c, name, n, vals, &r);
  if (rc != SL_DB_OK) return rc;
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

sl_dbrc sl_db_simple(sl_dbc *c, const char *sql) {
  if (!c->pg) return SL_DB_DOWN;
  PGresult *r = PQexec(c->pg, sql);
  sl_dbrc rc = PQresultStatus(r) == PGRES_COMMAND_OK ? SL_DB_OK : classify(c, r, sql);
  PQclear(r);
  return rc;
}

/* BEGIN; when the session turns out to be dead, nothing has been sent in the transaction,
 * so the connection is reopened once and BEGIN tried again. */
static sl_dbrc begin_with(sl_dbc *c, const char *sql) {
  c->failed = SL_DB_OK;
  sl_dbrc rc = sl_db_simple(c, sql);
  if (rc == SL_DB_DOWN && c->db && conn_ready(c->db, c)) rc = sl_db_simple(c, sql);
  c->in_txn = rc == SL_DB_OK;
  c->to_sign = 0;
  c->xid = 0;
  c->failed = SL_DB_OK;
  return rc;
}

sl_dbrc sl_db_begin_snapshot(sl_dbc *c) {
  return begin_with(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
}

sl_dbrc sl_db_begin(sl_dbc *c) { return begin_with(c, "BEGIN"); }

static sl_db_signer_fn signer;

void sl_db_set_signer(sl_db_signer_fn fn) { signer = fn; }

int64_t sl_db_txid(const sl_dbc *c) { return c->xid; }

unsigned long sl_db_outage_epoch(const sl_dbc *c) {
  return c->db ? __atomic_load_n(&c->db->epoch, __ATOMIC_ACQUIRE) : 0;
}

void sl_db_backoff(int *attempt) {
  int a = *attempt < 10 ? *attempt : 10;
  long cap = 50L << a; /* 50 ms, 100 ms, ... capped at 5 s */
  if (cap > 5000) cap = 5000;
  long ms = cap / 2 + (long)(randombytes_uniform((uint32_t)(cap / 2 + 1)));
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
  if (*attempt < 1000) (*attempt)++;
}

/* What the open transaction is about to commit: its transaction id (0: it wrote nothing)
 * and how many items to sign its money-moving statements queued (schema/015).  One round
 * trip, just before COMMIT. */
static sl_dbrc probe(sl_dbc *c) {
  PGresult *r;
  c->xid = 0;
  c->to_sign = 0;
  char sb[24], nb[24];
  const char *v[2] = {sl_db_i64(sb, c->session), sl_db_i64(nb, c->commits + 1)};
  sl_dbrc rc = sl_db_exec(c, "txn_probe", 2, v, &r);
  if (rc != SL_DB_OK) return rc;
  if (PQntuples(r) == 1) {
    if (!PQgetisnull(r, 0, 0)) c->xid = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    c->to_sign = sl_db_col_i64(r, 0, 1);
    if (PQgetvalue(r, 0, 2)[0] == '1') c->nonce = ++c->commits;
  }
  PQclear(r);
  return SL_DB_OK;
}

/* The fate of transaction xid (session, nonce: its marker, schema/012) after its COMMIT's reply
 * was lost: reconnect (with backoff) and ask sl_commit_outcome() — txid_status() and the
 * marker, so that a transaction id handed out again after a failover is never taken for ours
 * — until PostgreSQL says committed or aborted, for at most
 * RESOLVE_MS.  Returns SL_DB_OK (committed), SL_DB_DOWN (aborted: nothing committed) or
 * SL_DB_UNKNOWN (the database stayed unreachable, or the transaction is still in progress). */
#define RESOLVE_MS 15000
static sl_dbrc resolve_commit(sl_dbc *c, int64_t session, int64_t nonce, int64_t xid) {
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int attempt = 0;
  for (;;) {
    if (c->db && conn_ready(c->db, c)) {
      char b[24], sb[24], nb[24];
      const char *v[3] = {sl_db_i64(sb, session), sl_db_i64(nb, nonce), sl_db_i64(b, xid)};
      PGresult *r;
      if (sl_db_exec(c, "txn_status", 3, v, &r) == SL_DB_OK) {
        char st[24];
        snprintf(st, sizeof st, "%s",
                 PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : "");
        sl_dbrc rc = sl_vocab_is(st, SL_COMMIT_OUTCOME_COMMITTED) ? SL_DB_OK
                     : sl_vocab_is(st, SL_COMMIT_OUTCOME_ABORTED) ? SL_DB_DOWN
                                                                  : SL_DB_UNKNOWN;
        PQclear(r);
        if (rc != SL_DB_UNKNOWN) {
          sl_log(SL_LOG_WARN, "commit outcome resolved",
                 json_pack("{s:I,s:s}", "txid", (json_int_t)xid, "status", st));
          return rc;
        }
      }
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (now.tv_sec - t0.tv_sec) * 1000L + (now.tv_nsec - t0.tv_nsec) / 1000000L;
    if (ms >= RESOLVE_MS) break;
    sl_db_backoff(&attempt);
  }
  sl_log(SL_LOG_ERROR, "commit outcome unknown", json_pack("{s:I}", "txid", (json_int_t)xid));
  return SL_DB_UNKNOWN;
}

sl_dbrc sl_db_commit(sl_dbc *c) {
  sl_dbrc rc = probe(c);
  if (rc == SL_DB_OK && c->to_sign > 0 && signer) rc = signer(c);
  if (rc != SL_DB_OK) {
    sl_db_rollback(c);
    return rc;
  }
  int64_t xid = c->xid, session = c->session, nonce = c->nonce;
  rc = sl_db_simple(c, "COMMIT");
  c->in_txn = false;
  /* The reply to COMMIT was lost: the transaction may or may not have committed. */
  if (rc == SL_DB_DOWN && xid) rc = resolve_commit(c, session, nonce, xid);
  return rc;
}

void sl_db_rollback(sl_dbc *c) {
  if (c->pg && PQstatus(c->pg) == CONNECTION_OK) (void)sl_db_simple(c, "ROLLBACK");
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
