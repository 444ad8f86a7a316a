/* http.h — the REST server as seen from server/main.c. */
#ifndef SUANLI_HTTP_H
#define SUANLI_HTTP_H
#include "suanli/core/ratelimit.h"
#include "suanli/db/db.h"
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct sl_http_config {
  const char *host; /* listen address, IPv4 dotted quad */
  uint16_t port;
  unsigned threads;         /* libmicrohttpd worker threads */
  unsigned conn_limit;      /* total connections */
  unsigned per_ip_limit;    /* connections per client address */
  unsigned conn_timeout_s;  /* idle connection timeout */
  size_t max_body;          /* request body limit, bytes */
  unsigned drain_timeout_s; /* SIGTERM: how long in-flight requests may finish */
  sl_db *read_db;           /* optional (borrowed): a replica for reads of closed periods */
  /* hostile clients (src/http/limits.c) */
  unsigned conn_reserve;      /* of conn_limit, kept for addresses with recent good requests */
  unsigned header_deadline_s; /* whole time allowed for a request line + headers */
  unsigned body_deadline_s;   /* whole time allowed for a request body */
  /* request policy (server/main.c reads each from its SUANLI_* variable; src/http/README.md) */
  struct {
    sl_rate admin, operator_, provider, tenant, anonymous, address;
  } rates;                      /* request rates per account kind, per address, anonymous */
  unsigned rate_delay_ms;       /* a token-budget 429 is held at most this long (0..10000) */
  const char *trusted_proxies;  /* comma-separated peers whose X-Forwarded-For names the client */
  unsigned auth_cache_ms;       /* token lookups are cached this long (0 = off, <= 60000) */
  unsigned list_cache_ms;       /* list replies are cached this long (0 = off, <= 60000) */
  unsigned token_default_ttl_h; /* lifetime of a token created without expires_at; 0 = none */
  /* the exchange's own region code (SUANLI_REGION), or NULL: agents' round trips to the
   * exchange are recorded in the latency matrix to this region (src/http/h_agent.c) */
  const char *region;
} sl_http_config;

/* The defaults of every setting above (listen 127.0.0.1:8080, 4 threads, the rate table of
 * src/http/README.md, ...); server/main.c starts from them and applies the environment. */
sl_http_config sl_http_defaults(void);

typedef struct sl_http sl_http;

/* Start serving with db (borrowed; must outlive the server).  NULL on failure (logged). */
sl_http *sl_http_start(const sl_http_config *cfg, sl_db *db);
/* Stop accepting, let in-flight requests finish (up to drain_timeout_s), stop, free.
 * Returns the number of requests still in flight when it gave up (0 = clean drain). */
unsigned sl_http_drain_and_stop(sl_http *h);

/* Free the authentication cache (at shutdown, so leak checkers see a clean exit). */
void sl_auth_cache_clear(void);

/* Print the route table, one "METHOD /path" per line. */
void sl_http_print_routes(FILE *out);

/* Create a new API token for an account; used by `suanlid bootstrap-admin`.  Writes the
 * token (shown once) into buf (>= SL_TOKEN_LEN + 1). */
#define SL_TOKEN_LEN 80
sl_dbrc sl_http_issue_token(sl_dbc *c, int64_t account_id, const char *label, int64_t expires,
                            char *buf, json_t **out);

#endif
