/* internal.h — shared by the files of src/http only: request context, routes, replies. */
#ifndef SUANLI_HTTP_INTERNAL_H
#define SUANLI_HTTP_INTERNAL_H
#include "suanli/core/error.h"
#include "suanli/core/jsonspec.h"
#include "suanli/db/accounts.h"
#include "suanli/http/http.h"
#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

/* Roles, as a bitmask in the route table. */
enum {
  SL_ROLE_PUBLIC = 1u << 0,
  SL_ROLE_ADMIN = 1u << 1,
  SL_ROLE_OPERATOR = 1u << 2,
  SL_ROLE_PROVIDER = 1u << 3,
  SL_ROLE_TENANT = 1u << 4,
  SL_ROLE_ANY = SL_ROLE_ADMIN | SL_ROLE_OPERATOR | SL_ROLE_PROVIDER | SL_ROLE_TENANT,
};

typedef struct sl_req sl_req;
typedef void (*sl_handler)(sl_req *r);

typedef struct sl_route {
  const char *method;
  const char *path; /* segments; "{name}" captures one segment */
  sl_handler fn;
  unsigned roles;
  const char *action;       /* audit action name for mutating routes, e.g. "pool.create" */
  const char *const *query; /* accepted query parameters, NULL-terminated */
} sl_route;

extern const sl_route sl_routes[];
extern const size_t sl_routes_count;

#define SL_MAX_PARAMS 3

/* One request.  Created on libmicrohttpd's first callback, freed only in the
 * request-completed callback; handlers never free it. */
struct sl_req {
  struct MHD_Connection *conn;
  struct sl_http *srv;
  sl_db *dbpool;      /* the database connection pool, borrowed */
  sl_db *read_dbpool; /* a replica's connection pool for immutable reads, borrowed; may be NULL */
  sl_dbc *rdb;        /* a connection of read_dbpool taken by sl_req_reader, or NULL */
  const sl_route *route;
  const char *method; /* borrowed from libmicrohttpd, valid for the request */
  char *path;         /* owned copy */
  char *params[SL_MAX_PARAMS];
  char *body;
  size_t body_len, body_cap;
  bool body_too_large;
  size_t discarded; /* bytes of a too-large body read and dropped */
  bool finished;    /* a response was queued */
  char request_id[40];
  char client[64];
  int64_t t0_us;

  sl_principal who; /* valid when authed */
  bool authed;
  sl_dbc *db; /* a connection for the handler, or NULL */

  /* reply */
  unsigned status;
  json_t *reply;    /* owned */
  char *reply_text; /* owned; set when serialised or replayed */
  bool retry_after;
  bool replayed;
  bool db_soft; /* handler hit a serialization failure: retry the transaction */
  bool db_down;
  sl_err err;
  char audit_object[96];
  /* a reply streamed from a file (exports): fd owned until handed to libmicrohttpd */
  bool has_fd;
  int reply_fd;
  uint64_t reply_size;
  const char *content_type;
  char sig_key[17], sig_hex[129], sha_hex[65];
  int64_t period_id;     /* the closed period a statement/export route reads */
  const char *read_from; /* "replica" | "primary": where a closed period was read (static) */
  char *idem_text;       /* owned; when set, stored under the Idempotency-Key instead of
                            the reply (replies carrying a secret shown only once) */
  char etag[20];         /* the reply's ETag ("..." quoted), when known; else computed */
  char *location;        /* Location of a 308 to the canonical path (server.c), owned */
  bool ui_asset;         /* a dashboard file: its security headers (h_ui.c) */
  /* hostile clients (server.c, limits.c) */
  bool started;   /* the access handler has seen this request */
  int bad_target; /* the raw path or query failed its checks: 1 path, 2 query */
  char bad_why[200];
  bool rl_charged; /* a bucket was charged: send RateLimit headers */
  double rl_limit, rl_remaining, rl_per_s;
  int64_t rl_reset_ms, rl_retry_ms;
  const char *rl_policy;      /* "token", "address", "anonymous" */
  bool anon_checked, anon_ok; /* the anonymous budget was consulted (once per request) */
  bool rl_hold;               /* refused by its token's budget: the 429 may be held (limits.c) */
  int hold_state;             /* 0 not held, 1 held (connection suspended), 2 released */
  int64_t hold_until_us;
  sl_req *hold_next, *hold_prev;
  bool agent_waiting; /* a long poll suspended until its waiter resumes it (agent_wait.c) */
};

/* ---- reply cache and ETags (cache.c) ---- */
/* The strong ETag of a reply text: "<16 hex>" with the quotes. */
void sl_etag_of(const char *text, char out[20]);
/* Reply from the cache when an entry for this viewer and query was built at this book
 * version and is young enough; false when the handler must build the reply. */
bool sl_cache_reply(sl_req *r, uint64_t version);
/* Keep text (a 200 reply built from state read after built_at_us) for the next requests. */
void sl_cache_store(sl_req *r, uint64_t version, const char *text, int64_t built_at_us);

/* ---- replies (request.c) ---- */
void sl_reply_json(sl_req *r, unsigned status, json_t *steal);
/* A reply whose JSON text is ready (malloc'd; the request takes it). */
void sl_reply_text(sl_req *r, unsigned status, char *steal);
/* An error reply in the registry's shape; field may be NULL. */
void sl_reply_error(sl_req *r, sl_err e, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void sl_reply_jerr(sl_req *r, const sl_jerr *e);
/* Map a database outcome that the handler does not handle itself. */
void sl_reply_db(sl_req *r, sl_dbrc rc);
/* The reply of a list query that returned rc: {"items": items, "next_after": <last cursor or
 * null>} where the cursor is the `key` of the last item when the page is full; a failed query
 * (rc != SL_DB_OK, items unset) replies as sl_reply_db. */
void sl_reply_page(sl_req *r, sl_dbrc rc, json_t *items_steal, int limit, const char *key);
/* The reply of a query for one object: 200 with it; SL_DB_NOROWS is 404 not_found "no <what>
 * <id>" on field id; other failures as sl_reply_db. */
void sl_reply_found(sl_req *r, sl_dbrc rc, json_t *obj_steal, const char *what, int64_t id);
/* 201 with a created object; the audited object is "<what>:<its id>". */
void sl_reply_created(sl_req *r, const char *what, json_t *obj_steal);

/* ---- request input (request.c) ---- */
/* Parse the JSON body; on failure replies 4xx and returns NULL. */
json_t *sl_req_body(sl_req *r);
/* Decode body fields; on failure replies 400 naming the field and returns false. */
bool sl_req_decode(sl_req *r, const json_t *body, const sl_jfield *f, size_t n);
const char *sl_req_query(sl_req *r, const char *name);
/* Reply 400 and return false when a query parameter is not in allowed (NULL-terminated). */
bool sl_req_query_only(sl_req *r, const char *const *allowed);
/* Page parameters ?after=<id>&limit=; reply 400 on bad values. */
bool sl_req_page_id(sl_req *r, int64_t *after, int *limit);
/* Query parameter as a non-negative integer in [min,max]; *out untouched when absent. */
bool sl_req_query_int(sl_req *r, const char *name, int64_t min, int64_t max, int64_t *out);
/* A query parameter that must be one of values (NULL-terminated); NULL when absent. */
bool sl_req_query_enum(sl_req *r, const char *name, const char *const *values, const char **out);
/* Path parameter i as an id; reply 400 bad_path_id on failure. */
bool sl_req_path_id(sl_req *r, int i, int64_t *out);
/* Give the request a database connection (no-op when it has one), waiting up to wait_ms for a
 * free one; when none comes, reply 503 (db_unavailable or busy, with Retry-After) and return
 * false. */
bool sl_req_connect(sl_req *r, int wait_ms);
/* The first path parameter as the id of the object the request acts on: as sl_req_path_id,
 * and the audited object is "<what>:<id>". */
bool sl_req_object_id(sl_req *r, const char *what, int64_t *out);
bool sl_role_is(const sl_req *r, const char *kind);
/* The connection for reads that may lag the primary by a moment (the dashboard's figures):
 * a replica's (SUANLI_DATABASE_READ_URL) when one answers within 0.2 s, else the request's
 * own.  Sets X-Suanli-Read-From; the replica connection is released with the request's. */
sl_dbc *sl_req_reader(sl_req *r);
/* Give the replica connection back now and read the primary from here on. */
void sl_req_reader_drop(sl_req *r);

/* ---- auth (auth.c) ---- */
/* Authenticate from the Authorization header; on failure replies 401 and returns false. */
bool sl_auth_request(sl_req *r);
/* Authenticate from the process's token cache only (no database, no reply); false on a miss. */
bool sl_auth_cached(sl_req *r);
/* ---- token scopes (scopes.c) ---- */
bool sl_scope_allows(const sl_req *r);
unsigned sl_role_bit(const char *kind);
/* Drop a revoked token from this process's authentication cache. */
void sl_auth_cache_forget(int64_t token_id);
/* Drop every cached token of an account (its rate override changed). */
void sl_auth_cache_forget_account(int64_t account_id);
/* How long a token stays cached (SUANLI_AUTH_CACHE_MS): changes made through another process
 * (revocation, rate override) take effect within it. */
int64_t sl_auth_cache_ms(void);
/* Cache token lookups ms milliseconds from now on (0: off); called by sl_http_start. */
void sl_auth_configure(unsigned ms);
/* Keep list replies ms milliseconds from now on (0: off); called by sl_http_start. */
void sl_cache_configure(unsigned ms);
/* The settings the server was started with. */
const sl_http_config *sl_req_config(const sl_req *r);

/* ---- mutations (mutate.c) ---- */
/* A read with a body (POST /v1/quotes) does not use an Idempotency-Key, but a malformed one
 * is still bad input: replies 400 bad_idempotency_key and returns false. */
bool sl_idempotency_header_ok(sl_req *r);
/* Run r->route's handler as a mutation: Idempotency-Key, transaction with retry, audit. */
void sl_run_mutation(sl_req *r);
/* Write the audit row of a refused request (autocommit; best effort). */
void sl_audit_refused(sl_req *r);

/* ---- handlers (h_*.c) ---- */
void h_healthz(sl_req *r);
void h_readyz(sl_req *r);
void h_me(sl_req *r);
void h_market_book(sl_req *r);
void h_accounts_create(sl_req *r);
void h_accounts_list(sl_req *r);
void h_accounts_get(sl_req *r);
void h_tokens_create(sl_req *r);
void h_tokens_list(sl_req *r);
void h_tokens_revoke(sl_req *r);
void h_tokens_long_lived(sl_req *r);
void h_account_limits_get(sl_req *r);
void h_account_limits_set(sl_req *r);
void h_regions_list(sl_req *r);
void h_regions_create(sl_req *r);
void h_regions_get(sl_req *r);
void h_latency_list(sl_req *r);
void h_latency_set(sl_req *r);
/* h_locations.c: coordinates of regions, the RTT estimate */
void h_regions_update(sl_req *r);
void h_latency_model(sl_req *r);
bool sl_region_coords_take(sl_req *r, json_t *body, bool allow_null, bool *present, bool *has,
                           double *lat, double *lon);
/* h_registry.c: the open accelerator registry */
void h_proposals_create(sl_req *r);
void h_proposals_list(sl_req *r);
void h_proposals_get(sl_req *r);
void h_proposals_approve(sl_req *r);
void h_proposals_reject(sl_req *r);
void h_proposals_withdraw(sl_req *r);
void h_aliases_list(sl_req *r);
void h_accelerators_list(sl_req *r);
void h_accelerators_get(sl_req *r);
void h_formula_get(sl_req *r);
void h_weights_set(sl_req *r);
void h_pools_list(sl_req *r);
void h_offers_list(sl_req *r);
void h_access_key_set(sl_req *r);
void h_access_key_get(sl_req *r);
void h_trade_access(sl_req *r);
void h_pools_create(sl_req *r);
void h_pools_get(sl_req *r);
void h_pools_update(sl_req *r);
void h_pools_retire(sl_req *r);
void h_pools_heartbeat(sl_req *r);
void h_audit_list(sl_req *r);
void h_balances_get(sl_req *r);
void h_postings_list(sl_req *r);
void h_deposits_create(sl_req *r);
void h_withdrawals_create(sl_req *r);
void h_budget_set(sl_req *r);
void h_quotes_create(sl_req *r);
void h_orders_create(sl_req *r);
void h_orders_list(sl_req *r);
void h_orders_get(sl_req *r);
void h_orders_cancel(sl_req *r);
void h_trades_list(sl_req *r);
void h_trades_get(sl_req *r);
void h_trades_cancel(sl_req *r);
void h_settings_get(sl_req *r);
void h_settings_set(sl_req *r);
void h_keys_list(sl_req *r);
void h_trades_receipt(sl_req *r);
void h_ledger_entry(sl_req *r);
void h_checkpoint_latest(sl_req *r);
void h_checkpoint_get(sl_req *r);
void h_ledger_audit_latest(sl_req *r);
void h_consistency(sl_req *r);
void h_checkpoints_list(sl_req *r);
void h_ledger_entries(sl_req *r);
void h_witnesses_list(sl_req *r);
void h_witnesses_create(sl_req *r);
void h_cosignatures_submit(sl_req *r);
/* Reply 503 ledger_inconsistent (or the database error) and return false unless the stored
 * ledger holds together (sl_ledger_check); the ledger routes and /readyz call it first. */
bool sl_ledger_servable(sl_req *r);
void h_periods_create(sl_req *r);
void h_periods_list(sl_req *r);
void h_periods_get(sl_req *r);
void h_statement_get(sl_req *r);
void h_period_export(sl_req *r);
void h_period_regions(sl_req *r);

/* ---- the agent adapter (h_agent.c, agent_wait.c) and a trade's events (h_trade_events.c) ---- */
void h_agent_work(sl_req *r);
void h_agent_result(sl_req *r);
void h_agents_list(sl_req *r);
void h_trade_events(sl_req *r);
/* Before the mutation of POST /v1/agent/work: suspend a poll that may wait and has no due
 * work (true: no reply yet, the connection is suspended and r->db released). */
bool sl_agent_poll_hold(sl_req *r);
/* A suspended poll was resumed: lease what is due and reply. */
void sl_agent_poll_resume(sl_req *r);
/* Suspend r's connection (from the access handler) until owner has due work in pools (NULL =
 * any of its agent pools), wait_s passes, or the server stops; false when it cannot wait. */
bool sl_agent_wait_hold(sl_req *r, int64_t owner, const json_t *pools, int64_t wait_s);
/* Resume every waiting poll and end the waiter thread (the server is stopping). */
void sl_agent_wait_stop(void);

/* ---- dashboard, market view, metrics (h_stats.c, h_ui.c, h_metrics.c) ---- */
void h_stats_regions(sl_req *r);
void h_stats_utilization(sl_req *r);
void h_stats_health(sl_req *r);
void h_stats_dispatch(sl_req *r);
void h_market_offers(sl_req *r);
void h_market_prices(sl_req *r);
void h_market_last(sl_req *r);
void h_metrics(sl_req *r);
void h_ui_index(sl_req *r);
void h_ui_asset(sl_req *r);
/* Headers every reply may carry besides the usual ones: ETag, the dashboard's CSP. */
void sl_http_extra_headers(const sl_req *r, struct MHD_Response *resp);
/* Count a finished request (status, route, latency) for /metrics. */
void sl_metrics_observe(const sl_req *r);

#endif
