/* internal.h — shared by the files of src/db only. */
#ifndef SUANLI_DB_INTERNAL_H
#define SUANLI_DB_INTERNAL_H
#include "suanli/db/db.h"
#include <libpq-fe.h>
#include <stdio.h>

/* A named statement; each src/db file exports a NULL-terminated table. */
typedef struct sl_db_stmt {
  const char *name;
  const char *sql;
} sl_db_stmt;

extern const sl_db_stmt sl_db_stmts_accounts[];
extern const sl_db_stmt sl_db_stmts_audit[];
extern const sl_db_stmt sl_db_stmts_idem[];
extern const sl_db_stmt sl_db_stmts_regions[];
extern const sl_db_stmt sl_db_stmts_accel[];
extern const sl_db_stmt sl_db_stmts_pools[];
extern const sl_db_stmt sl_db_stmts_market[];
extern const sl_db_stmt sl_db_stmts_dispatch[];
extern const sl_db_stmt sl_db_stmts_ledger[];
extern const sl_db_stmt sl_db_stmts_auditor[];
extern const sl_db_stmt sl_db_stmts_settlement[];
extern const sl_db_stmt sl_db_stmts_stats[];
extern const sl_db_stmt sl_db_stmts_offers[];
extern const sl_db_stmt sl_db_stmts_access[];
extern const sl_db_stmt sl_db_stmts_conn[];
extern const sl_db_stmt sl_db_stmts_reaper[];
extern const sl_db_stmt sl_db_stmts_clock[];
extern const sl_db_stmt sl_db_stmts_registry[];
extern const sl_db_stmt sl_db_stmts_drain[];
extern const sl_db_stmt sl_db_stmts_locations[];
extern const sl_db_stmt sl_db_stmts_limits[];
extern const sl_db_stmt sl_db_stmts_agent[];
extern const sl_db_stmt sl_db_stmts_trade_events[];
extern const sl_db_stmt sl_db_stmts_clearing[];

struct sl_dbc {
  sl_db *db;           /* the pool this connection belongs to */
  unsigned long epoch; /* the pool's outage epoch when this session was opened */
  PGconn *pg;
  bool prepared; /* every statement prepared on this session */
  bool in_txn;
  bool listening;  /* LISTEN issued on this session */
  int64_t to_sign; /* items the open transaction queued for signing (known at commit) */
  int64_t xid;     /* the open transaction's id, known just before COMMIT (0: none) */
  int64_t session; /* random id of this database session (commit markers, schema/012) */
  int64_t commits; /* write transactions this session has marked */
  int64_t nonce;   /* the open transaction's marker nonce (valid when xid != 0) */
  sl_dbrc failed;  /* the first failure inside the open transaction (SL_DB_OK: none) */
  char sqlstate[6];
  char constraint[64];
};

/* Run one SQL command without parameters (SAVEPOINT, ROLLBACK TO ...), classified like
 * every statement. */
sl_dbrc sl_db_simple(sl_dbc *c, const char *sql);

/* Send this connection's server notices to the structured log. */
void sl_db_quiet_notices(PGconn *pg);

/* Execute prepared statement `name` with n text parameters (NULL = SQL NULL).  On SL_DB_OK
 * *res (if res != NULL) holds the result, which the caller PQclear()s. */
sl_dbrc sl_db_exec(sl_dbc *c, const char *name, int n, const char *const *vals, PGresult **res);

/* Execute a statement returning one row with one text column holding JSON; parse it.
 * Zero rows or a NULL value give SL_DB_NOROWS. */
sl_dbrc sl_db_json(sl_dbc *c, const char *name, int n, const char *const *vals, json_t **out);

/* Execute a statement and allocate an array of one zeroed element of elem_size per result
 * row (at least one element, so *rows is never NULL on success).  The caller fills the rows
 * from *res, then PQclear()s it; on error nothing is left to free. */
sl_dbrc sl_db_rows(sl_dbc *c, const char *name, int n, const char *const *vals, size_t elem_size,
                   PGresult **res, void **rows, size_t *count);
/* sl_db_rows, then fill(r, i, row) for each result row i into the next element; a row for
 * which fill returns false is skipped (not counted).  *rows (malloc'd) and *count hold what was
 * kept; the result is cleared. */
typedef bool (*sl_db_row_fill)(PGresult *r, int i, void *row);
sl_dbrc sl_db_rows_map(sl_dbc *c, const char *name, int n, const char *const *vals,
                       size_t elem_size, sl_db_row_fill fill, void **rows, size_t *count);
/* Execute a statement and call each(r, arg) on every row as it arrives (libpq single-row
 * mode: r holds that one row, at index 0, and is cleared after the call), so a result of
 * millions of rows never sits in memory whole.  each returning false stops the calls (the
 * rest of the result is read and dropped) and gives SL_DB_HARD. */
typedef bool (*sl_db_row_each)(PGresult *r, void *arg);
sl_dbrc sl_db_rows_each(sl_dbc *c, const char *name, int n, const char *const *vals,
                        sl_db_row_each each, void *arg);
/* Column col of row as an int64. */
int64_t sl_db_col_i64(PGresult *r, int row, int col);

/* Same, returning the JSON text as is (malloc'd) instead of parsing it. */
sl_dbrc sl_db_text(sl_dbc *c, const char *name, int n, const char *const *vals, char **out);

/* Execute a statement returning one row with one bigint column (e.g. a count). */
sl_dbrc sl_db_int(sl_dbc *c, const char *name, int n, const char *const *vals, int64_t *out);

/* sl_db_exec for a statement that answers exactly one row: any other count is SL_DB_NOROWS
 * (nothing left to clear). */
sl_dbrc sl_db_exec_row(sl_dbc *c, const char *name, int n, const char *const *vals, PGresult **res);
/* sl_db_exec, sl_db_json and sl_db_int for a statement whose one parameter is the integer x. */
sl_dbrc sl_db_exec_id(sl_dbc *c, const char *name, int64_t x, PGresult **res);
sl_dbrc sl_db_json_id(sl_dbc *c, const char *name, int64_t x, json_t **out);
sl_dbrc sl_db_int_id(sl_dbc *c, const char *name, int64_t x, int64_t *out);
/* sl_db_json for a statement whose parameters are the integer x and doc as compact JSON text. */
sl_dbrc sl_db_json_doc(sl_dbc *c, const char *name, int64_t x, const json_t *doc, json_t **out);

/* The two parameters of a visibility scope: v[0] the party's id (NULL when 0: anyone), v[1]
 * the regions as compact JSON text (NULL when regions is NULL: every region).  Returns that
 * text, which the caller frees after the statement ran. */
char *sl_db_scope_params(const char **v, char b[24], int64_t party, const json_t *regions);

/* Format helpers for parameters: write into buf and return it (or NULL for "unset"). */
const char *sl_db_i64(char buf[24], int64_t v);
const char *sl_db_i64_opt(char buf[24], int64_t v, int64_t unset); /* NULL when v == unset */
const char *sl_db_ts(char buf[24], int64_t epoch);                 /* epoch seconds as text */
/* Hex-encode a 32-byte hash as a bytea literal "\\x..." into buf (67 bytes). */
const char *sl_db_bytea32(char buf[67], const uint8_t h[32]);

#endif
