/* limits.h — fair share and hostile-client defences of the HTTP server (src/http only).
 *
 * Request rate limits: token buckets (src/core/ratelimit.c) per token (rate by account kind,
 * SUANLI_RATE_<KIND>, or the account's override set by an admin), per client address for every
 * request (SUANLI_RATE_ADDRESS) and, much tighter, per address for requests without a valid token
 * (SUANLI_RATE_ANONYMOUS).  Routes cost more than one token where they are expensive (quotes,
 * orders, exports, receipts). The buckets live in this process: with N processes behind a balancer
 * a client gets up to N times the rate (documented in src/http/README.md).
 *
 * Connection defences: an accept policy (per-address cap; above conn_limit - reserve only
 * addresses that recently completed a request, or that hold no connection yet while half
 * the reserve is left, get in), and a watchdog thread that shuts down connections whose
 * request line + headers take longer than header_deadline_s or whose body takes longer than
 * body_deadline_s — whole-phase deadlines that trickled bytes cannot extend. */
#ifndef SUANLI_HTTP_LIMITS_H
#define SUANLI_HTTP_LIMITS_H
#include "internal.h"
#include "suanli/core/ratelimit.h"
#include "suanli/http/http.h"
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* Take the connection policy, rates, 429 delay and trusted proxies of cfg (kept by value;
 * the strings it points to must live as long as the server) and start the watchdog.  false
 * when out of memory. */
bool sl_limits_start(const sl_http_config *cfg);
void sl_limits_stop(void);

/* ---- request rate (called from server.c's process()) ---- */
/* Behind a trusted proxy, take the client address from X-Forwarded-For (limits, audit, log). */
void sl_limit_client_from_proxy(sl_req *r);
/* Every request, before the database is touched: the per-address bucket. */
bool sl_limit_address(sl_req *r);
/* A request without a usable token (absent, malformed, unknown): the anonymous bucket.
 * true while the address has budget left (the refusal may then be audited). */
bool sl_limit_anonymous(sl_req *r);
/* An authenticated request: the token's bucket, cost by route.  The rate is the account's
 * override when an admin set one (PUT /v1/accounts/{id}/limits), else its kind's.  On refusal
 * replies 429. */
bool sl_limit_token(sl_req *r);
/* This process's default rate for an account kind (SUANLI_RATE_<KIND>) in *out; false when
 * it is unlimited. */
bool sl_limit_kind_rate(const char *kind, sl_rate *out);
/* Held refusals: a request refused by its token's budget is answered 429 only after
 * min(Retry-After, SUANLI_RATE_DELAY_MS) (default 1000 ms; 0 = at once): its connection is
 * suspended and the watchdog resumes it when due.  A client that sends without waiting then
 * gets one refusal per connection per delay instead of thousands a second, each costing the
 * server's CPU that other tenants' requests need.  Called from the access handler: true when
 * r's connection is now held (reply later); false to reply now. */
bool sl_limit_hold(sl_req *r);
/* r completes: forget it if it is still held (it should not be). */
void sl_limit_hold_drop(sl_req *r);
/* Resume every held connection and hold no more (before the daemon stops). */
void sl_limit_release_held(void);
/* Add RateLimit / RateLimit-Policy / Retry-After headers for what the request was charged. */
void sl_limit_headers(const sl_req *r, struct MHD_Response *resp);
/* The request completed with a status < 400 (or any 4xx after authentication): its address
 * counts as a known-good client for the connection reserve. */
void sl_limit_good(const char *client);

/* ---- connections (MHD callbacks wired in server.c) ---- */
enum MHD_Result sl_conn_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen);
void sl_conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                    enum MHD_ConnectionNotificationCode toe);
/* Phases of the request on connection c: request line seen, headers done, body done,
 * reply finished (back to waiting for the next request line). */
void sl_conn_phase(struct MHD_Connection *c, int phase);
enum { SL_CONN_HEADERS = 1, SL_CONN_BODY = 2, SL_CONN_BUSY = 3, SL_CONN_IDLE = 4 };

/* ---- counters (for /metrics, issue 12) ---- */
typedef struct sl_limits_counters {
  uint64_t rate_limited;        /* 429 replies */
  uint64_t anonymous_refusals;  /* refusals of requests without a valid token */
  uint64_t anonymous_unaudited; /* of those, counted only (no audit row: budget spent) */
  uint64_t conn_refused;        /* connections refused by the accept policy */
  uint64_t deadline_closed;     /* connections shut for missing a header/body deadline */
  uint64_t bad_requests;        /* refused by the raw path/query checks */
} sl_limits_counters;
void sl_limits_counters_get(sl_limits_counters *out);
void sl_limits_count_bad_request(void);

#endif
