/* db/db.h — the database layer's core (src/db/conn.c; the only module that includes libpq).
 *
 * A fixed pool of PostgreSQL connections, each with every statement prepared, and a
 * transaction runner with retry of serialization failures and deadlocks.  The queries are
 * one function each, declared per resource in include/suanli/db/<resource>.h (mirroring
 * src/db/<resource>.c).  Reads return JSON built by PostgreSQL (json_t owned by the caller);
 * writes take typed arguments. */
#ifndef SUANLI_DB_H
#define SUANLI_DB_H
#include "suanli/core/scopes.h"
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Outcome of every database call. */
typedef enum sl_dbrc {
  SL_DB_OK = 0,
  SL_DB_NOROWS,  /* the query matched nothing (unknown id, not yours, wrong state) */
  SL_DB_UNIQUE,  /* unique violation: the object already exists */
  SL_DB_FK,      /* foreign key violation: a referenced object does not exist */
  SL_DB_CHECK,   /* check constraint violation: a value the schema refuses */
  SL_DB_SOFT,    /* serialization failure / deadlock: retry the transaction */
  SL_DB_DOWN,    /* the connection is lost: the database is unavailable */
  SL_DB_HARD,    /* anything else: a bug; logged with SQLSTATE and message */
  SL_DB_UNKNOWN, /* COMMIT's reply was lost and the database could not say whether the
                    transaction committed: never retry blindly (only sl_db_commit) */
} sl_dbrc;

const char *sl_dbrc_name(sl_dbrc rc);

typedef struct sl_db sl_db;   /* the pool */
typedef struct sl_dbc sl_dbc; /* one connection, owned by one thread between acquire/release */

/* Open a pool of `size` connections to conninfo (a libpq URL or key=value string).
 * Connections are made lazily; opening never fails because the database is down.
 * Returns NULL only on allocation failure. */
sl_db *sl_db_open(const char *conninfo, int size);
void sl_db_close(sl_db *db);

/* Take a connection, waiting at most timeout_ms for one to be free.  A broken connection is
 * re-established (and its statements prepared again) before it is handed out.  Returns NULL
 * when none is free in time or the database cannot be reached; *down tells which. */
sl_dbc *sl_db_acquire(sl_db *db, int timeout_ms, bool *down);
/* Give a connection back.  If it is inside a transaction, the transaction is rolled back. */
void sl_db_release(sl_db *db, sl_dbc *c);
/* Force the connection to reconnect on next use (after SL_DB_DOWN). */
void sl_db_reset(sl_dbc *c);
/* Counters of the pool since it opened (for /metrics). */
typedef struct sl_db_pool_stats {
  uint64_t acquires;         /* sl_db_acquire calls */
  uint64_t waits;            /* ... that found no free connection and waited */
  uint64_t timeouts;         /* ... that gave up waiting */
  uint64_t connect_failures; /* ... whose connection could not be (re)established */
  int size, in_use;
} sl_db_pool_stats;
void sl_db_pool_stats_get(sl_db *db, sl_db_pool_stats *out);

/* Signing at commit (schema/015).  Every money-moving statement queues, in its own
 * transaction, one item to sign per journal transaction it writes, with the ledger purpose its
 * kind declares in SQL (journal_kind_purposes).  Just before COMMIT, sl_db_commit learns in the
 * same round trip as the transaction id and the commit marker whether items are queued; if
 * so it calls the signer, which takes exactly this transaction's items (sl_db_to_sign) or
 * drops them and waives signing (sl_db_ledger_waive; both in include/suanli/db/ledger.h); the
 * signer's failure rolls the transaction back.  The ledger registers its signer once, in
 * sl_ledger_init (src/ledger/sequencer.c); without a signer, schema/007's deferred constraints
 * refuse the COMMIT of any trade or money movement left unsigned.  This layer knows nothing of
 * records or keys. */
typedef sl_dbrc (*sl_db_signer_fn)(sl_dbc *c);
void sl_db_set_signer(sl_db_signer_fn fn);

sl_dbrc sl_db_begin(sl_dbc *c);
/* A read-only transaction over one snapshot (REPEATABLE READ): every read in it sees the
 * database as of its first statement, however busy the writers are.  End it with
 * sl_db_rollback. */
sl_dbrc sl_db_begin_snapshot(sl_dbc *c);
/* COMMIT, after the signer (above) when items are queued.  When the reply to COMMIT is lost,
 * the transaction's fate is asked of PostgreSQL (txid_status, after reconnecting with backoff)
 * before this returns: SL_DB_OK when it committed, SL_DB_DOWN when it did not, SL_DB_UNKNOWN
 * when the database stayed unreachable for ~15 s. */
sl_dbrc sl_db_commit(sl_dbc *c);
void sl_db_rollback(sl_dbc *c);
/* The id of the transaction last committed (or attempted) on c; 0 if it wrote nothing. */
int64_t sl_db_txid(const sl_dbc *c);
/* The pool's outage epoch: it changes whenever a connection of c's pool finds the server gone
 * (a restart, a failover).  Values reserved from the database outside a committed transaction
 * (e.g. sequence numbers cached in memory) are only known to be durable within one epoch. */
unsigned long sl_db_outage_epoch(const sl_dbc *c);
/* Sleep before the next reconnect or retry: exponential from 50 ms up to 5 s, with jitter
 * (a random half of the step), and count the attempt.  Reset *attempt to 0 on success. */
void sl_db_backoff(int *attempt);

/* Run body inside BEGIN/COMMIT on c, up to max_tries times while it (or COMMIT) reports
 * SL_DB_SOFT.  body returns SL_DB_OK to commit; anything else rolls back and is returned. */
typedef sl_dbrc (*sl_db_txn_body)(sl_dbc *c, void *arg);
sl_dbrc sl_db_txn_run(sl_dbc *c, sl_db_txn_body body, void *arg, int max_tries);

/* Detail of the last error on c: SQLSTATE, constraint name (may be ""), message. */
const char *sl_db_last_constraint(const sl_dbc *c);

#endif
