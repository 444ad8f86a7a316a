/* db.h — the database layer (src/db/, the only code that includes libpq).
 *
 * A fixed pool of PostgreSQL connections, each with every statement prepared; a
 * transaction runner with retry of serialization failures and deadlocks; one function per
 * query, grouped by resource.  Reads return JSON built by PostgreSQL (json_t owned by the
 * caller); writes take typed arguments.  Nothing here knows HTTP. */
#ifndef SUANLI_DB_H
#define SUANLI_DB_H
#include <jansson.h>
#include "suanli/scopes.h"
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
  uint64_t acquires;          /* sl_db_acquire calls */
  uint64_t waits;             /* ... that found no free connection and waited */
  uint64_t timeouts;          /* ... that gave up waiting */
  uint64_t connect_failures;  /* ... whose connection could not be (re)established */
  int size, in_use;
} sl_db_pool_stats;
void sl_db_pool_stats_get(sl_db *db, sl_db_pool_stats *out);

/* A function run inside every transaction just before it commits (through sl_db_commit or
 * sl_db_txn_run); its failure rolls the transaction back.  The ledger uses it to sign every
 * trade and money event a transaction wrote, so no code path can forget. */
typedef sl_dbrc (*sl_db_precommit_fn)(sl_dbc *c);
/* What the committing transaction wrote, as the schema's own triggers flagged it (schema/007:
 * every INSERT into trades or journal_txns marks the transaction, and a deferred constraint
 * refuses to commit it without its signed ledger entries): trades (each with its escrow
 * transaction), and/or other journal transactions.  Valid inside the precommit function. */
enum { SL_DB_WROTE_TRADES = 1, SL_DB_WROTE_MONEY = 2 };
unsigned sl_db_money_moved(const sl_dbc *c);
void sl_db_set_precommit(sl_db_precommit_fn fn);

sl_dbrc sl_db_begin(sl_dbc *c);
/* A read-only transaction over one snapshot (REPEATABLE READ): every read in it sees the
 * database as of its first statement, however busy the writers are.  End it with
 * sl_db_rollback. */
sl_dbrc sl_db_begin_snapshot(sl_dbc *c);
/* COMMIT, after the precommit function.  When the reply to COMMIT is lost, the transaction's
 * fate is asked of PostgreSQL (txid_status, after reconnecting with backoff) before this
 * returns: SL_DB_OK when it committed, SL_DB_DOWN when it did not, SL_DB_UNKNOWN when the
 * database stayed unreachable for ~15 s. */
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

/* ---- schema (migrate.c) ---- */

/* Apply every embedded migration newer than the database's version, each in one
 * transaction, serialised across processes by an advisory lock.  Fails with a message
 * when the database is newer than this binary.  Returns true on success. */
bool sl_db_migrate(const char *conninfo, char *err, size_t errlen);
/* The newest migration this binary knows. */
int sl_db_schema_latest(void);
/* The database's recorded version (0 when none), or -1 on error. */
int sl_db_schema_version(sl_dbc *c);

/* ---- accounts and tokens (accounts.c) ---- */

/* Who is calling: filled by sl_db_token_lookup. */
typedef struct sl_principal {
  int64_t account_id;
  int64_t token_id;
  char kind[16];         /* admin | provider | tenant | operator */
  char name[201];
  json_t *regions;       /* operator regions (array of strings, owned); NULL for others */
  char token_public[40];
  char token_label[201];
  int64_t token_expires; /* epoch s, 0 = never */
  unsigned scopes;       /* SL_SCOPE_* bits; 0 = everything the role may do (issue 16) */
} sl_principal;


void sl_principal_clear(sl_principal *p);

/* Look up a live (not revoked, not expired, account not disabled) token by its hash. */
sl_dbrc sl_db_token_lookup(sl_dbc *c, const uint8_t hash[32], sl_principal *out);

sl_dbrc sl_db_account_create(sl_dbc *c, const char *kind, const char *name,
                             const json_t *regions, json_t **out);
sl_dbrc sl_db_account_get(sl_dbc *c, int64_t id, json_t **out);
sl_dbrc sl_db_accounts_list(sl_dbc *c, const char *kind, int64_t after, int limit, json_t **out);
/* Ensure an admin account named `name` exists; its id in *id. */
sl_dbrc sl_db_account_ensure_admin(sl_dbc *c, const char *name, int64_t *id);

sl_dbrc sl_db_token_create(sl_dbc *c, int64_t account_id, const char *public_id,
                           const uint8_t hash[32], const char *label, int64_t expires_at,
                           json_t **out);
sl_dbrc sl_db_tokens_list(sl_dbc *c, int64_t account_id, int64_t after, int limit, json_t **out);
/* Set a token's scopes (a JSON array of names); the token in *out. */
sl_dbrc sl_db_token_set_scopes(sl_dbc *c, int64_t id, const json_t *scopes, json_t **out);
/* Revoke token id; when owner != 0 only if it belongs to that account. */
sl_dbrc sl_db_token_revoke(sl_dbc *c, int64_t id, int64_t owner, json_t **out);

/* ---- audit (audit.c) ---- */
typedef struct sl_audit {
  const char *request_id, *method, *path, *action, *object, *outcome, *error, *client_addr;
  int64_t account_id, token_id; /* 0 = none */
  int status;
} sl_audit;
sl_dbrc sl_db_audit_insert(sl_dbc *c, const sl_audit *a);
sl_dbrc sl_db_audit_list(sl_dbc *c, int64_t account, int64_t after, int limit, json_t **out);

/* ---- idempotency (idempotency.c; the claim rule is at the top of that file) ---- */
typedef enum { SL_IDEM_CLAIMED, SL_IDEM_REPLAY, SL_IDEM_MISMATCH, SL_IDEM_IN_FLIGHT } sl_idem_state;
/* Claim (account, key) for a request with this hash under `token` (autocommit): a new claim,
 * or the takeover of an abandoned one (not locked by a running business transaction and
 * older than lease_s).  Otherwise *state says replay (with *status and *body, malloc'd),
 * mismatch (another request used the key) or in flight. */
sl_dbrc sl_db_idem_claim(sl_dbc *c, int64_t account, const char *key, const uint8_t hash[32],
                         const char *token, int lease_s, sl_idem_state *state, int *status,
                         char **body);
/* Inside the business transaction: lock the claim until COMMIT/ROLLBACK.  SL_DB_NOROWS when
 * the claim is no longer `token`'s (taken over by a retry). */
sl_dbrc sl_db_idem_lock(sl_dbc *c, int64_t account, const char *key, const char *token);
/* Store the reply of request_id under the key: only while the claim is `token`'s
 * (SL_DB_NOROWS otherwise: the caller must roll back). */
sl_dbrc sl_db_idem_complete(sl_dbc *c, int64_t account, const char *key, const char *token,
                            int status, const char *body, const char *request_id);
/* Drop `token`'s in-flight claim (nothing committed), so that a retry executes at once. */
sl_dbrc sl_db_idem_release(sl_dbc *c, int64_t account, const char *key, const char *token);

/* ---- regions and latency (regions.c) ---- */
sl_dbrc sl_db_region_create(sl_dbc *c, const char *code, const char *name, const char *tier,
                            const char *op, json_t **out);
sl_dbrc sl_db_region_get(sl_dbc *c, const char *code, json_t **out);
sl_dbrc sl_db_regions_list(sl_dbc *c, const char *tier, const char *after, int limit, json_t **out);
/* Upsert entries: a JSON array of {"from","to","rtt_us"}; *updated = rows written. */
sl_dbrc sl_db_latency_set(sl_dbc *c, const json_t *entries, int64_t *updated);
sl_dbrc sl_db_latency_list(sl_dbc *c, const char *from, const char *to, json_t **out);

/* ---- accelerators and the capacity standard (accelerators.c) ---- */
sl_dbrc sl_db_accelerators_list(sl_dbc *c, json_t **out);
sl_dbrc sl_db_accelerator_get(sl_dbc *c, const char *id, json_t **out);
sl_dbrc sl_db_formula_get(sl_dbc *c, json_t **out);
/* Set weights (and optionally the reference model, NULL = keep), bump the version and
 * rescore every model, in the caller's transaction. */
sl_dbrc sl_db_weights_set(sl_dbc *c, int compute_bp, int memory_bp, const char *reference);
/* Recompute every model's score from the current weights (idempotent). */
sl_dbrc sl_db_capacity_rescore(sl_dbc *c);

/* ---- pools (pools.c) ---- */
typedef struct sl_pool_new {
  int64_t owner_id;
  const char *name, *region, *accelerator, *intra_node, *inter_node, *adapter_kind;
  int64_t gpu_count, gpus_per_node, inter_node_gbps, price_minor, available_from,
      available_until;
  const json_t *adapter_config;
} sl_pool_new;

/* Who is reading pools, and how to filter them. */
typedef struct sl_pool_filter {
  const char *region, *accelerator, *status;
  int64_t min_memory_gb;  /* -1 = any */
  int64_t min_ncu_milli;  /* -1 = any */
  int64_t owner;          /* 0 = any */
  const json_t *regions;  /* operator scope: array of codes, NULL = any */
  bool market_only;       /* tenants: active pools only */
  bool public_view;       /* leave out the adapter (tenants and operators) */
  int64_t after;
  int limit;
} sl_pool_filter;

typedef struct sl_pool_patch {
  const char *name, *status; /* NULL = unchanged */
  int64_t price_minor, gpu_count, available_from, available_until; /* -1 = unchanged */
} sl_pool_patch;

sl_dbrc sl_db_pool_create(sl_dbc *c, const sl_pool_new *p, json_t **out);
/* Get one pool; owner != 0 restricts to that owner; regions != NULL to those regions;
 * market_only to active pools. */
sl_dbrc sl_db_pool_get(sl_dbc *c, int64_t id, const sl_pool_filter *scope, json_t **out);
/* A page {"items": [Pool], "next_after": id|null} as JSON text, built by PostgreSQL in
 * its final API shape (the hot read path: no JSON re-parsing in suanlid). */
sl_dbrc sl_db_pools_page(sl_dbc *c, const sl_pool_filter *f, char **out);
/* Update an owner's non-retired pool (owner 0 = any). NOROWS if unknown/foreign/retired. */
sl_dbrc sl_db_pool_update(sl_dbc *c, int64_t id, int64_t owner, const sl_pool_patch *p,
                          json_t **out);
sl_dbrc sl_db_pool_retire(sl_dbc *c, int64_t id, int64_t owner, json_t **out);
sl_dbrc sl_db_pool_heartbeat(sl_dbc *c, int64_t id, int64_t owner, int64_t healthy_gpus,
                             int64_t utilization_bp, json_t **out);
/* State of a pool for error messages: "retired", "active", ... or NULL (caller frees). */
sl_dbrc sl_db_pool_status(sl_dbc *c, int64_t id, int64_t owner, char **status);

/* ---- offers (offers.c): the market's searchable, sorted view (GET /v1/offers) ---- */

typedef struct sl_offer_filter {
  int64_t start, end;                 /* the window: free GPUs are counted in every hour */
  const char *accelerator_like;       /* ILIKE patterns ('%' wildcards, '\\' escapes) or NULL */
  const char *region_like;
  int64_t min_free_gpus;              /* -1: at least 1 */
  int64_t min_price_minor, max_price_minor, max_ncu_price_minor; /* -1 = any */
  int64_t min_ncu_milli, min_memory_gb;                          /* -1 = any */
  const char *origin;                 /* RTT from this region, or NULL */
  int64_t max_rtt_us;                 /* -1 = any (needs origin) */
  const char *sort;                   /* price | price_per_ncu | rtt | free */
  int64_t offset;
  int limit;
} sl_offer_filter;

/* A page {"items": [Offer], "window": {start, end}, "next_after": "<offset>"|null} as JSON
 * text, active pools only (the market view: no adapter, no owner). */
sl_dbrc sl_db_offers_page(sl_dbc *c, const sl_offer_filter *f, char **out);

/* ---- access (access.c): tenants' X25519 keys, reservations' sealed access details ---- */

/* Register (or replace) an account's X25519 public key (64 hex digits) -> {"account_id",
 * "public_key", "updated_at"}. */
sl_dbrc sl_db_access_key_set(sl_dbc *c, int64_t account, const char *pk_hex, json_t **out);
/* The account's key, NOROWS when it has none. */
sl_dbrc sl_db_access_key_get(sl_dbc *c, int64_t account, json_t **out);
/* Store a reservation's sealed box (base64) sealed to pk_hex; a second store is ignored. */
sl_dbrc sl_db_access_store(sl_dbc *c, int64_t reservation, const char *pk_hex,
                           const char *sealed_b64, const char *source);
/* {"trade_id", "reservation_id", "reservation_state", "public_key", "sealed" (base64 or
 * null), "source", "created_at"} of a trade (tenant 0 = any); NOROWS for no such trade. */
sl_dbrc sl_db_trade_access(sl_dbc *c, int64_t trade, int64_t tenant, json_t **out);

/* ---- market (market.c): calendar snapshot, orders, trades, money ---- */

/* One pool as the matcher needs it.  Strings are NUL-terminated copies. */
typedef struct sl_db_pool_row {
  int64_t id, owner_id;
  char region[48], accelerator[72], intra[20], inter[16], status[12], health[12];
  int32_t memory_gb;      /* -1 unknown */
  int64_t ncu_milli;      /* -1 unrated */
  int32_t inter_gbps, gpu_count;
  int64_t price_minor, avail_from, avail_until;
  int64_t rtt_us;         /* -1 (the book looks RTTs up in its latency matrix) */
} sl_db_pool_row;

typedef struct sl_db_booking {
  int64_t pool_id, slot;
  int32_t booked;
} sl_db_booking;

/* ---- The capacity book (issue 11): full loads and the change feed of schema 009 ---- */

/* Every non-retired pool (pool == 0), or pool `pool` whatever its status (0 or 1 rows);
 * rtt_us is -1.  *rows malloc'd. */
sl_dbrc sl_db_book_pools(sl_dbc *c, int64_t pool, sl_db_pool_row **rows, size_t *n);
/* Booked GPUs (> 0) per slot in [from, to] (inclusive) of one pool, or of all (pool == 0). */
sl_dbrc sl_db_book_slots(sl_dbc *c, int64_t pool, int64_t from, int64_t to, sl_db_booking **rows,
                         size_t *n);
/* The same for a set of pools in one query each: pools by id (whatever their status), and
 * their booked slots in [from, to] ordered by pool and slot. */
sl_dbrc sl_db_book_pools_in(sl_dbc *c, const int64_t *ids, size_t nids, sl_db_pool_row **rows,
                            size_t *n);
sl_dbrc sl_db_book_slots_in(sl_dbc *c, const int64_t *ids, size_t nids, int64_t from, int64_t to,
                            sl_db_booking **rows, size_t *n);
typedef struct sl_db_rtt_row {
  char from[48], to[48];
  int64_t rtt_us;
} sl_db_rtt_row;
sl_dbrc sl_db_book_latency(sl_dbc *c, sl_db_rtt_row **rows, size_t *n);
typedef struct sl_db_change {
  char kind[16];                /* pool | slots | latency | accelerators */
  int64_t pool_id;              /* 0 when none */
  int64_t slot_from, slot_to;   /* slots: the range touched (inclusive) */
} sl_db_change;
/* The xmin of the current snapshot: every transaction below it has finished. */
sl_dbrc sl_db_feed_xmin(sl_dbc *c, uint64_t *xmin);
/* Changes of transactions with xid >= cursor, in sequence order (at most limit), with the
 * xmin of the same snapshot (the next cursor once all are applied) and the pruned mark. */
sl_dbrc sl_db_feed_read(sl_dbc *c, uint64_t cursor, int limit, uint64_t *xmin, uint64_t *pruned,
                        sl_db_change **rows, size_t *n);
/* Delete changes older than the given seconds, raising the pruned mark. */
sl_dbrc sl_db_feed_prune(sl_dbc *c, int older_than_s);

typedef struct sl_db_order_new {
  int64_t tenant_id;
  const json_t *request;          /* normalized order body */
  int64_t gpus, duration_hours, earliest_start, latest_start, expires_at; /* 0 = none */
  const char *time_in_force;
  const json_t *accelerators, *regions, *excluded; /* arrays or NULL */
  int64_t min_memory_gb, min_ncu_milli, max_price_minor; /* -1 = none */
} sl_db_order_new;

sl_dbrc sl_db_order_insert(sl_dbc *c, const sl_db_order_new *o, int64_t *id);
/* Lock an open order for matching; NOROWS when it is not open (or not there). */
sl_dbrc sl_db_order_lock_open(sl_dbc *c, int64_t id, json_t **request, int64_t *tenant);
sl_dbrc sl_db_order_set_state(sl_dbc *c, int64_t id, const char *state, const char *reason);
/* One order with its trades; tenant != 0 restricts to that tenant. */
sl_dbrc sl_db_order_get(sl_dbc *c, int64_t id, int64_t tenant, json_t **out);
sl_dbrc sl_db_orders_list(sl_dbc *c, int64_t tenant, const char *state, int64_t after, int limit,
                          json_t **out);
/* Cancel an open order of tenant (0 = any): OK, NOROWS (unknown/foreign), or CHECK when it
 * is no longer open (*state says which). */
sl_dbrc sl_db_order_cancel(sl_dbc *c, int64_t id, int64_t tenant, json_t **out);

/* Buy one piece (stored procedure sl_trade): *outcome is "ok", "no_capacity",
 * "price_changed", "insufficient_funds" or "budget" (static strings). */
sl_dbrc sl_db_trade(sl_dbc *c, int64_t order, int64_t tenant, int64_t pool, int64_t start,
                    int64_t hours, int64_t gpus, int64_t unit_minor, int64_t *trade,
                    const char **outcome);

/* Who may see a trade: tenant or provider id, or operator regions, or nobody (admin). */
typedef struct sl_trade_scope {
  int64_t party;          /* tenant or provider account; 0 = any */
  const json_t *regions;  /* operator scope; NULL = any */
} sl_trade_scope;
sl_dbrc sl_db_trade_get(sl_dbc *c, int64_t id, const sl_trade_scope *s, json_t **out);
sl_dbrc sl_db_trades_list(sl_dbc *c, const sl_trade_scope *s, int64_t order, int64_t after,
                          int limit, json_t **out);
/* Cancel a booked trade before its start; *outcome: "ok", "not_found", "started",
 * "not_booked".  tenant 0 = any (admin). */
sl_dbrc sl_db_trade_cancel(sl_dbc *c, int64_t trade, int64_t tenant, const char **outcome,
                           int64_t *refund, int64_t *charge);

sl_dbrc sl_db_deposit(sl_dbc *c, int64_t account, int64_t amount, const char *memo, int64_t *txn);
/* *txn = 0 when the available balance is too small. */
sl_dbrc sl_db_withdraw(sl_dbc *c, int64_t account, int64_t amount, const char *memo, int64_t *txn);
/* {"available_minor","escrow_minor","hourly_cap_minor","monthly_cap_minor","spent_this_month_minor"} */
sl_dbrc sl_db_balances(sl_dbc *c, int64_t account, json_t **out);
sl_dbrc sl_db_postings_list(sl_dbc *c, int64_t account, int64_t after, int limit, json_t **out);
/* Budget caps; -1 = no cap. */
sl_dbrc sl_db_budget_set(sl_dbc *c, int64_t account, int64_t hourly, int64_t monthly);
sl_dbrc sl_db_budget_get(sl_dbc *c, int64_t account, int64_t *hourly, int64_t *monthly,
                         int64_t *spent_month);
sl_dbrc sl_db_settings_get(sl_dbc *c, json_t **out);
sl_dbrc sl_db_settings_set(sl_dbc *c, int64_t fee_bp, int64_t free_hours, int64_t charge_bp,
                           int64_t heartbeat_timeout_s);

/* The first code in a JSON array of strings that names no region (or, with accelerators,
 * no accelerator model); *first = NULL when all exist (malloc'd otherwise). */
sl_dbrc sl_db_first_unknown(sl_dbc *c, bool accelerators, const json_t *codes, char **first);

/* Queue a re-match of one resting order (after it commits), or of all of a tenant's. */
sl_dbrc sl_db_order_wake(sl_dbc *c, int64_t order, const char *cause);
sl_dbrc sl_db_tenant_wake(sl_dbc *c, int64_t tenant, const char *cause);

/* ---- background work (market.c) ---- */
/* Settle up to `limit` trades whose window has ended; *done = how many. */
sl_dbrc sl_db_settle_due(sl_dbc *c, int limit, int *done);
/* Expire open orders past their deadline or latest start; *done = how many. */
sl_dbrc sl_db_expire_orders(sl_dbc *c, int *done);
/* Take up to `limit` book events (deleted when the transaction commits): *out is
 * {"events": n, "orders": [ids of open orders the events' pools could fill]}. */
sl_dbrc sl_db_book_events_take(sl_dbc *c, int limit, json_t **out);

/* Savepoints inside the caller's transaction; name is an SQL identifier constant. */
sl_dbrc sl_db_savepoint(sl_dbc *c, const char *name);
void sl_db_rollback_to_savepoint(sl_dbc *c, const char *name);

/* Wait up to timeout_ms for a NOTIFY on channel (LISTENing on first use). Returns true when
 * one arrived.  Use a connection dedicated to the waiting thread. */
bool sl_db_wait_notify(sl_dbc *c, const char *channel, int timeout_ms);

/* ---- dispatch (dispatch.c): outbox jobs, reservations, health, failover, sim store ---- */

/* A leased dispatch job with what the adapter needs. */
typedef struct sl_db_job {
  int64_t id, reservation_id, trade_id, pool_id, tenant_id;
  char action[12], reservation_state[16], region[48], accelerator[72], adapter_kind[16];
  char last_error[256];
  int attempts, gpus, gpus_per_node;
  int64_t deadline, start, end;
  json_t *config; /* owned: the pool's adapter configuration */
} sl_db_job;

/* Lease the next due job for lease_s seconds (FOR UPDATE SKIP LOCKED; commit right after,
 * so no lock is held during the adapter call); NOROWS when none is due. */
sl_dbrc sl_db_job_lease(sl_dbc *c, int lease_s, int64_t *id);
/* Read a leased job and what the adapter needs. */
sl_dbrc sl_db_job_claim(sl_dbc *c, int64_t id, sl_db_job *j);
void sl_db_job_clear(sl_db_job *j);
/* End the lease: state "done", "failed", "skipped", or "queued" (retry after retry_in_s). */
sl_dbrc sl_db_job_finish(sl_dbc *c, int64_t id, const char *state, bool attempted,
                         const char *error, double retry_in_s);
sl_dbrc sl_db_reservation_dispatched(sl_dbc *c, int64_t id, const char *external_ref);
/* dispatched reservations whose start has come become active; *n how many. */
sl_dbrc sl_db_reservations_activate(sl_dbc *c, int *n);
/* Fail a booked trade with full refund (sl_fail_trade); *refund_txn 0 when nothing refunded. */
sl_dbrc sl_db_trade_fail(sl_dbc *c, int64_t trade, const char *cause, int64_t *refund_txn);
/* Pools silent past the heartbeat timeout go offline; *ids = JSON array of their ids. */
sl_dbrc sl_db_pools_mark_silent(sl_dbc *c, json_t **ids);
/* Refund running trades of a pool for GPUs it lost (sl_shortfall). */
sl_dbrc sl_db_pool_shortfall(sl_dbc *c, int64_t pool, int64_t *refunded_trades);

typedef struct sl_db_failover {
  int64_t trade_id, order_id, tenant_id, pool_id, start;
  int gpus, hours;
  json_t *request; /* owned: the original order's body */
} sl_db_failover;
/* Lock the next not-yet-started booked trade on an offline/down pool. */
sl_dbrc sl_db_failover_next(sl_dbc *c, sl_db_failover *f);
/* Link the trades this transaction created for `order` to the trade they replace. */
sl_dbrc sl_db_trades_mark_replacing(sl_dbc *c, int64_t old_trade, int64_t order);
sl_dbrc sl_db_order_note(sl_dbc *c, int64_t order, const char *reason);

/* The simulated cluster: heartbeats for sim pools that are not silent, and its own store. */
sl_dbrc sl_db_sim_heartbeats(sl_dbc *c, int *n);
sl_dbrc sl_db_sim_reserve(sl_dbc *c, int64_t reservation, int64_t pool, int gpus, int64_t start,
                          int64_t end, bool *was_cancelled);
sl_dbrc sl_db_sim_cancel(sl_dbc *c, int64_t reservation);

/* ---- ledger (ledger.c): keys, entries, sequencer, checkpoints ---- */
typedef struct sl_db_key_row {
  char key_id[20], public_hex[68];
  int64_t valid_from, valid_until; /* valid_until 0 = open-ended */
} sl_db_key_row;
sl_dbrc sl_db_keys_json(sl_dbc *c, json_t **out);
sl_dbrc sl_db_keys_rows(sl_dbc *c, sl_db_key_row **rows, size_t *n);
sl_dbrc sl_db_key_insert(sl_dbc *c, const char *key_id, const char *public_hex, int64_t valid_from);
/* Serialise key creation across processes (transaction-scoped advisory lock). */
sl_dbrc sl_db_key_lock(sl_dbc *c);
/* End the validity of every other key still valid at `at` (rotation). */
sl_dbrc sl_db_keys_close_others(sl_dbc *c, const char *key_id, int64_t at);

typedef struct sl_db_trade_row {
  int64_t trade_id, order_id, tenant_id, provider_id, pool_id, start, end, unit_price_minor,
      total_minor, created_at;
  int32_t gpus, fee_bp;
} sl_db_trade_row;
typedef struct sl_db_money_row {
  int64_t txn_id, trade_id, account_id, at, to_tenant_minor, to_provider_minor, fee_minor;
  char kind[16];
} sl_db_money_row;
/* Trades and journal transactions written by the current transaction that have no ledger
 * entry yet (malloc'd arrays; NULL when none). */
sl_dbrc sl_db_pending_trades(sl_dbc *c, sl_db_trade_row **rows, size_t *n);
sl_dbrc sl_db_pending_money(sl_dbc *c, sl_db_money_row **rows, size_t *n);
/* Waive signing for the open transaction (SUANLI_LEDGER=off only): schema/007's deferred
 * constraint then lets its trades and money movements commit without ledger entries. */
sl_dbrc sl_db_ledger_waive(sl_dbc *c);
/* A block of n fresh entry ids from the sequence, ascending, into ids. */
sl_dbrc sl_db_entry_ids(sl_dbc *c, int n, int64_t *ids);
sl_dbrc sl_db_entry_insert(sl_dbc *c, int64_t id, int purpose, int64_t trade_id, int64_t txn_id,
                           const char *record_hex, const char *key_id, const char *sig_hex);

typedef struct sl_db_entry_row {
  int64_t id;
  char record_hex[2 * 104 + 1], key_id[20], sig_hex[129];
} sl_db_entry_row;
/* The sequencer's transaction: an advisory lock (one sequencer at a time), the tree head
 * (size and last chain hash, "" for the empty tree), the next unsequenced entries in id
 * order (locked), and the assignment of positions (arrays as SQL array literals). */
sl_dbrc sl_db_seq_lock(sl_dbc *c, bool *got);
sl_dbrc sl_db_seq_head(sl_dbc *c, int64_t *size, char chain_hex[65]);
sl_dbrc sl_db_seq_pending(sl_dbc *c, int limit, sl_db_entry_row **rows, size_t *n);
sl_dbrc sl_db_seq_assign(sl_dbc *c, const char *ids, const char *indexes, const char *leaf_hexes,
                         const char *chain_hexes);
/* Leaf hashes [from, to) as concatenated hex (64 chars each; malloc'd). */
sl_dbrc sl_db_leaves(sl_dbc *c, int64_t from, int64_t to, char **hexes, size_t *n);
sl_dbrc sl_db_checkpoint_insert(sl_dbc *c, int64_t size, const char *root_hex, int64_t at,
                                const char *key_id, const char *sig_hex, const char *record_hex);
/* A checkpoint by size (-1 = the latest). */
sl_dbrc sl_db_checkpoint_get(sl_dbc *c, int64_t size, json_t **out);
/* Record one run of the auditor (schema/013): when it started (epoch seconds), how many
 * findings, and by_check (JSON text: {"check": count}). */
sl_dbrc sl_db_audit_run_record(sl_dbc *c, int64_t started_at, long findings, const char *by_check);
/* The latest recorded audit run as JSON; SL_DB_NOROWS when none. */
sl_dbrc sl_db_audit_run_latest(sl_dbc *c, json_t **out);
/* The latest checkpoint that covers leaf_index. */
sl_dbrc sl_db_checkpoint_covering(sl_dbc *c, int64_t leaf_index, json_t **out);
sl_dbrc sl_db_entries_of_trade(sl_dbc *c, int64_t trade, json_t **out);
sl_dbrc sl_db_entry_get(sl_dbc *c, int64_t id, json_t **out);

/* ---- streaming reads (auditor.c) ---- */
/* Run statement `name` and call row() for each row as it arrives (single-row mode: constant
 * memory); row returns false to skip the rest.  Statements for the auditor: "audit_entries",
 * "audit_checkpoints", and finding queries returning (table, id, detail): "audit_trades_unsigned",
 * "audit_txns_unsigned", "audit_txns_unbalanced", "audit_txns_empty", "audit_balances",
 * "audit_balance_chain", "audit_floors", "audit_trade_totals", "audit_trade_escrow",
 * "audit_refunds". */
sl_dbrc sl_db_each(sl_dbc *c, const char *name, int n, const char *const *vals,
                   bool (*row)(int ncols, const char *const *cols, const bool *nulls, void *arg),
                   void *arg);

/* ---- settlement (settlement.c): periods, statement lines, region summaries ---- */
typedef bool (*sl_db_row_fn)(int ncols, const char *const *cols, const bool *nulls, void *arg);
sl_dbrc sl_db_period_insert(sl_dbc *c, int64_t from, int64_t to, int64_t closed_by,
                            const char *sha_hex, int64_t *id);
sl_dbrc sl_db_period_set_entry(sl_dbc *c, int64_t id, int64_t entry);
sl_dbrc sl_db_period_get(sl_dbc *c, int64_t id, json_t **out);
sl_dbrc sl_db_period_bounds(sl_dbc *c, int64_t id, int64_t *from, int64_t *to);
sl_dbrc sl_db_periods_list(sl_dbc *c, json_t **out);
/* Stream sl_period_lines (owner -1 = every account, 0 = the exchange): columns account_id,
 * account_kind, txn_id, at, kind, trade_id, pool_id, region, gpu_hours, available, escrow,
 * fee, memo. */
sl_dbrc sl_db_period_lines(sl_dbc *c, int64_t owner, int64_t from, int64_t to, sl_db_row_fn row, void *arg);
sl_dbrc sl_db_balances_at(sl_dbc *c, int64_t owner, int64_t at, int64_t *available, int64_t *escrow);
/* (pool_id, refunded) on a provider's trades in [from, to). */
sl_dbrc sl_db_refunds_borne(sl_dbc *c, int64_t provider, int64_t from, int64_t to, sl_db_row_fn row, void *arg);
/* (region, trades, gpu_hours, gross, fees, refunds) for regions (JSON array; NULL = all). */
sl_dbrc sl_db_region_summary(sl_dbc *c, int64_t from, int64_t to, const json_t *regions,
                             sl_db_row_fn row, void *arg);

/* ---- dashboard, market view and /metrics (stats.c) ----
 * Read-only; every reply is bounded (see src/db/stats.c).  scope: a JSON array of region
 * codes (an operator's regions) or NULL for everything; *out is owned by the caller. */
/* Per region: pools and GPUs by model and health, NCU, GPUs booked now and over 14 days,
 * the live period's trades, revenue, fees and refunds since `since`, and order outcomes. */
sl_dbrc sl_db_stats_regions(sl_dbc *c, const json_t *scope, const char *region, int64_t since,
                            json_t **out);
/* Booked GPUs of the region's pools (first 100) for `hours` hourly slots from this hour. */
sl_dbrc sl_db_stats_utilization(sl_dbc *c, const char *region, int hours, json_t **out);
/* Heartbeats, silent pools, failovers and refunds of the last 24 h; owner 0 = any. */
sl_dbrc sl_db_stats_health(sl_dbc *c, const json_t *scope, int64_t owner, json_t **out);
/* Reservations by state per adapter, dispatch lag percentiles, retries, failures (24 h). */
sl_dbrc sl_db_stats_dispatch(sl_dbc *c, const json_t *scope, json_t **out);
/* Free GPUs this hour and price bands per (region, model); filters may be NULL. */
sl_dbrc sl_db_market_offers(sl_dbc *c, const char *accelerator, const char *region, int limit,
                            json_t **out);
/* Volume-weighted price per bucket ("hour" or "day") over the last `days` days. */
sl_dbrc sl_db_market_prices(sl_dbc *c, const char *accelerator, int days, const char *region,
                            const char *bucket, json_t **out);
/* The last trade price of every model that has traded. */
sl_dbrc sl_db_market_last(sl_dbc *c, json_t **out);
/* The database figures of /metrics (trade rollup, pools, reservations, dispatch, ledger). */
sl_dbrc sl_db_stats_metrics(sl_dbc *c, const json_t *scope, json_t **out);
/* ---- retention (reaper.c, issue 16) ---- */
/* Delete up to limit idempotency records older than retention_s; the count in *deleted. */
sl_dbrc sl_db_idem_reap(sl_dbc *c, int64_t retention_s, int limit, int64_t *deleted);
/* The retention of idempotency records: SUANLI_IDEMPOTENCY_RETENTION_H hours (default and
 * minimum 24). */
int64_t sl_idem_retention_s(void);
/* One maintenance step (at most once a minute per thread): reap expired records. */
void sl_db_reap_step(sl_dbc *c);

#endif
