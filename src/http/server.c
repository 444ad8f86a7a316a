/* server.c — the libmicrohttpd daemon: request context lifecycle, routing, dispatch,
 * connection limits and draining. */
#include "internal.h"
#include "limits.h"
#include "suanli/core/log.h"
#include "suanli/core/rawpath.h"
#include "suanli/core/timeutil.h"
#include "suanli/db/accounts.h"
#include "suanli/trading/trading.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* A too-large body is read and dropped up to this size before the 413 is sent. */
#define SL_DISCARD_MAX ((size_t)1 << 20)

struct sl_http {
  struct MHD_Daemon *d;
  sl_db *db;
  sl_http_config cfg;
  atomic_uint in_flight;
  atomic_ullong counter;
  char id_prefix[9];
};

/* The path to route on, from the raw request target (see suanli/core/rawpath.h); a target that
 * fails the checks keeps a printable copy of its path for the log and the audit row, and
 * the reason in r->bad_why. */
static void set_target(sl_req *r, const char *raw) {
  char canon[SL_RAWPATH_MAX + 1];
  const char *query = NULL;
  sl_rawpath_rc rc = sl_rawpath_canon(raw, canon, sizeof canon, &query);
  if (rc != SL_RAWPATH_OK) {
    char shown[SL_RAWPATH_MAX + 1];
    size_t n = strcspn(raw, "?");
    char *path = strndup(raw, n < SL_RAWPATH_MAX / 3 ? n : SL_RAWPATH_MAX / 3);
    sl_text_escape(path ? path : "", shown, sizeof shown);
    free(path);
    r->path = strdup(shown);
    r->bad_target = 1;
    snprintf(r->bad_why, sizeof r->bad_why, "%s", sl_rawpath_why(rc));
  } else {
    r->path = strdup(canon);
    if (!sl_rawquery_check(query, r->bad_why, sizeof r->bad_why)) r->bad_target = 2;
  }
}

static sl_req *req_new(sl_http *h, struct MHD_Connection *conn, const char *raw_uri) {
  sl_req *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->conn = conn;
  r->srv = h;
  r->dbpool = h->db;
  r->read_dbpool = h->cfg.read_db;
  r->method = "-";
  set_target(r, raw_uri);
  r->t0_us = sl_time_now_us();
  snprintf(r->request_id, sizeof r->request_id, "req-%s-%llu", h->id_prefix,
           (unsigned long long)atomic_fetch_add(&h->counter, 1) + 1);
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (ci && ci->client_addr) {
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
      inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, r->client,
                sizeof r->client);
    else if (sa->sa_family == AF_INET6)
      inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, r->client,
                sizeof r->client);
  }
  atomic_fetch_add(&h->in_flight, 1);
  return r;
}

static void req_free(sl_req *r) {
  if (r->has_fd) close(r->reply_fd);
  if (r->rdb) sl_db_release(r->read_dbpool, r->rdb);
  if (r->db) sl_db_release(r->dbpool, r->db);
  for (int i = 0; i < SL_MAX_PARAMS; i++) free(r->params[i]);
  sl_principal_clear(&r->who);
  json_decref(r->reply);
  free(r->reply_text);
  free(r->idem_text);
  free(r->body);
  free(r->path);
  free(r->location);
  free(r);
}

/* Match path against pattern; on success captures {params} into r->params. */
static bool match(const char *pattern, const char *path, sl_req *r) {
  const char *p = pattern, *u = path;
  int np = 0;
  char *caps[SL_MAX_PARAMS] = {0};
  while (*p && *u) {
    if (*p != '/' || *u != '/') goto fail;
    p++;
    u++;
    size_t ul = strcspn(u, "/");
    size_t pl = strcspn(p, "/");
    if (p[0] == '{') {
      if (ul == 0 || np == SL_MAX_PARAMS) goto fail;
      caps[np++] = strndup(u, ul);
    } else if (pl != ul || strncmp(p, u, pl) != 0) {
      goto fail;
    }
    p += pl;
    u += ul;
  }
  if (*p || *u) goto fail;
  if (r)
    for (int i = 0; i < np; i++) r->params[i] = caps[i];
  else
    for (int i = 0; i < np; i++) free(caps[i]);
  return true;
fail:
  for (int i = 0; i < np; i++) free(caps[i]);
  return false;
}

/* Find the route; sets *path_matched when some route has this path with another method. */
static const sl_route *find_route(const char *method, const char *path, sl_req *r,
                                  bool *path_matched, char *allow, size_t allow_len) {
  *path_matched = false;
  allow[0] = '\0';
  for (size_t i = 0; i < sl_routes_count; i++) {
    const sl_route *rt = &sl_routes[i];
    if (strcmp(rt->method, method) == 0) {
      if (match(rt->path, path, r)) return rt;
    } else if (match(rt->path, path, NULL)) {
      *path_matched = true;
      size_t l = strlen(allow);
      snprintf(allow + l, allow_len - l, "%s%s", l ? ", " : "", rt->method);
    }
  }
  return NULL;
}

/* "application/json", optionally followed by parameters ("; charset=utf-8"). */
static bool is_json_type(const char *ct) {
  if (!ct || strncasecmp(ct, "application/json", 16) != 0) return false;
  const char *rest = ct + 16;
  while (*rest == ' ') rest++;
  return *rest == '\0' || *rest == ';';
}

static bool is_mutating(const char *method) { return strcmp(method, "GET") != 0; }

/* A request that goes through the mutation runner (transaction, audit row, Idempotency-Key):
 * every non-GET one except the routes without an audit action — POST /v1/quotes, a read that
 * needs a body: it changes nothing, so it takes no transaction, writes no audit row (a
 * quote's cost must not be a durable write) and, like a GET, is not audited when refused. */
static bool is_mutation(const sl_req *r) {
  return is_mutating(r->method) && !(r->route && !r->route->action);
}

static bool has_auth_header(sl_req *r) {
  const char *a = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
  return a && *a;
}

/* A refusal decided before authentication (bad target, no route, wrong method, too large):
 * for a mutating request, authenticate quietly when a token was sent, then
 * reply.  An authenticated refusal gets its audit row; one without a valid token is counted,
 * and audited only while the address's anonymous budget lasts. */
static void refuse_early(sl_req *r, sl_err e, const char *field, const char *detail) {
  if (is_mutating(r->method) && has_auth_header(r) && !r->authed) {
    bool down = false;
    if (!r->db) r->db = sl_db_acquire(r->dbpool, 1000, &down);
    if (r->db) (void)sl_auth_request(r);
  }
  sl_reply_error(r, e, field, "%s", detail);
  if (e == SL_E_METHOD_NOT_ALLOWED) r->route = NULL;
  if (!is_mutating(r->method)) return;
  if (r->authed || sl_limit_anonymous(r)) sl_audit_refused(r);
}
/* GET of a path with one trailing slash whose slashless form is a route (the dashboard's
 * `/ui/`): 308 to the canonical path.  A redirect, not an alias, so that whatever stands in
 * front (a proxy's exact-path rules) always sees the one canonical form. */
static bool redirect_slash(sl_req *r) {
  size_t n = strlen(r->path);
  if (strcmp(r->method, "GET") != 0 || n < 2 || r->path[n - 1] != '/' || r->path[n - 2] == '/')
    return false;
  char *canon = strndup(r->path, n - 1);
  bool pm;
  char allow[64];
  if (!canon || !find_route("GET", canon, NULL, &pm, allow, sizeof allow)) {
    free(canon);
    return false;
  }
  r->location = canon;
  sl_reply_json(r, 308, json_pack("{s:s}", "location", canon));
  return true;
}

/* Everything between "the whole request has arrived" and "a reply is ready". */
static void process(sl_req *r) {
  bool path_matched;
  char allow[64], detail[400];
  if (r->bad_target) {
    sl_limits_count_bad_request();
    if (r->bad_target == 1) {
      /* A route whose {parameter} holds the bad segment: name the parameter.  Matching the
       * printable copy is safe: '/' in it are the raw path's own, an escaped "%2F" stays
       * inside its segment. */
      r->route = find_route(r->method, r->path, r, &path_matched, allow, sizeof allow);
      const char *name = r->route ? strchr(r->route->path, '{') : NULL;
      for (int i = 0; name && i < SL_MAX_PARAMS && r->params[i];
           i++, name = strchr(name + 1, '{')) {
        if (r->params[i][strspn(r->params[i], "0123456789abcdefghijklmnopqrstuvwxyz"
                                              "ABCDEFGHIJKLMNOPQRSTUVWXYZ-_~")] == '\0')
          continue;
        char field[32];
        snprintf(field, sizeof field, "%.*s", (int)strcspn(name + 1, "}"), name + 1);
        snprintf(detail, sizeof detail, "'%.40s' is not a valid %s: %s", r->params[i], field,
                 r->bad_why);
        refuse_early(r, SL_E_BAD_PATH_ID, field, detail);
        return;
      }
      r->route = NULL;
    }
    refuse_early(r, r->bad_target == 1 ? SL_E_BAD_PATH : SL_E_BAD_QUERY,
                 r->bad_target == 1 ? "path" : "query", r->bad_why);
    return;
  }
  r->route = find_route(r->method, r->path, r, &path_matched, allow, sizeof allow);
  if (!r->route && !path_matched && redirect_slash(r)) return;
  if (!r->route) {
    if (path_matched) {
      snprintf(detail, sizeof detail, "%s is not allowed here; allowed: %s", r->method, allow);
      refuse_early(r, SL_E_METHOD_NOT_ALLOWED, NULL, detail);
    } else {
      snprintf(detail, sizeof detail, "no route for %.40s %.300s", r->method, r->path);
      refuse_early(r, SL_E_ROUTE_NOT_FOUND, NULL, detail);
    }
    return;
  }
  if (!sl_limit_address(r)) {
    /* 429, counted, never audited (nor authenticated): over its budget a flood from one
     * address must not cost a database connection and an audit row per request */
    return;
  }
  if (r->body_too_large) {
    sl_reply_error(r, SL_E_BODY_TOO_LARGE, NULL, "the body is larger than %zu bytes",
                   r->srv->cfg.max_body);
    goto refused;
  }
  if (r->route->roles & SL_ROLE_PUBLIC) {
    if (sl_req_query_only(r, r->route->query)) r->route->fn(r);
    return;
  }
  if (!has_auth_header(r) && !sl_limit_anonymous(r)) {
    /* no token and the address's anonymous budget is spent: counted, not audited */
    sl_reply_error(r, SL_E_RATE_LIMITED, NULL,
                   "too many requests without a token from this address; retry in %lld ms",
                   (long long)r->rl_retry_ms);
    return;
  }
  /* A cached token is charged before a database connection is taken: a token over its
   * budget costs the server no database work at all. */
  bool cached = !r->authed && has_auth_header(r) && sl_auth_cached(r);
  if (cached && !sl_limit_token(r)) return; /* counted, not audited row by row */
  if (!sl_req_connect(r, 5000)) return;
  if (!cached && !sl_auth_request(r)) {
    /* a missing token already took from the anonymous budget above */
    if (has_auth_header(r) && !sl_limit_anonymous(r)) {
      sl_reply_error(r, SL_E_RATE_LIMITED, "Authorization",
                     "too many requests with invalid tokens from this address; retry in %lld ms",
                     (long long)r->rl_retry_ms);
      return;
    }
    goto refused;
  }
  if (!cached && !sl_limit_token(r)) {
    /* not audited row by row: a flood must not turn into audit writes */
    return;
  }
  if (!(r->route->roles & sl_role_bit(r->who.kind))) {
    sl_reply_error(r, SL_E_FORBIDDEN, NULL, "role '%s' may not use %s %s", r->who.kind,
                   r->route->method, r->route->path);
    goto refused;
  }
  if (!sl_scope_allows(r)) {
    sl_reply_error(r, SL_E_FORBIDDEN, "Authorization", "this token's scopes do not allow %s %s",
                   r->route->method, r->route->path);
    goto refused;
  }
  if (!sl_req_query_only(r, r->route->query)) goto refused;
  if (is_mutating(r->method)) {
    if (r->body_len && strcmp(r->method, "DELETE") == 0) {
      /* a DELETE says everything in its path: a body would be silently ignored */
      sl_reply_error(r, SL_E_BODY_NOT_ALLOWED, "body", "a DELETE takes no body (got %zu bytes)",
                     r->body_len);
      goto refused;
    }
    const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
    if (r->body_len && !is_json_type(ct)) {
      sl_reply_error(r, SL_E_UNSUPPORTED_MEDIA, "Content-Type", "Content-Type is '%.80s'",
                     ct ? ct : "(none)");
      goto refused;
    }
    if (!is_mutation(r)) { /* a read with a body (POST /v1/quotes) */
      if (sl_idempotency_header_ok(r)) r->route->fn(r);
      return;
    }
    if (sl_agent_poll_hold(r)) return; /* a long poll waits, suspended (h_agent.c) */
    sl_run_mutation(r);
    return;
  }
  r->route->fn(r);
  return;
refused:
  if (is_mutation(r) && (r->authed || sl_limit_anonymous(r))) sl_audit_refused(r);
}

/* A signed export streamed from its file. */
static enum MHD_Result queue_file(sl_req *r) {
  struct MHD_Response *resp = MHD_create_response_from_fd64(r->reply_size, r->reply_fd);
  if (!resp) return MHD_NO;
  r->has_fd = false; /* libmicrohttpd closes it */
  MHD_add_response_header(resp, "Content-Type",
                          r->content_type ? r->content_type : "application/json");
  MHD_add_response_header(resp, "X-Request-Id", r->request_id);
  MHD_add_response_header(resp, "Cache-Control", "no-store");
  MHD_add_response_header(resp, "X-Suanli-Sha256", r->sha_hex);
  if (r->sig_key[0]) {
    MHD_add_response_header(resp, "X-Suanli-Key-Id", r->sig_key);
    MHD_add_response_header(resp, "X-Suanli-Signature", r->sig_hex);
  }
  if (r->read_from) MHD_add_response_header(resp, "X-Suanli-Read-From", r->read_from);
  enum MHD_Result ret = MHD_queue_response(r->conn, r->status, resp);
  MHD_destroy_response(resp);
  r->finished = true;
  return ret;
}

/* Hand the request's database connection back to the pool.  Called as soon as the reply
 * body exists (text or file): sending it to a slow or keep-alive client must not hold a
 * connection other requests are waiting for in sl_db_acquire. */
static void release_db(sl_req *r) {
  if (r->rdb) sl_db_release(r->read_dbpool, r->rdb);
  r->rdb = NULL;
  if (!r->db) return;
  sl_db_release(r->dbpool, r->db);
  r->db = NULL;
}

static enum MHD_Result queue(sl_req *r) {
  if (r->has_fd && r->status == 200) {
    release_db(r);
    return queue_file(r);
  }
  if (!r->reply_text) {
    if (!r->reply) sl_reply_error(r, SL_E_INTERNAL, NULL, "the handler produced no reply");
    r->reply_text = json_dumps(r->reply, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!r->reply_text) r->reply_text = strdup("{\"error\":\"internal_error\"}");
  }
  release_db(r);
  /* A change this process committed: the next listing syncs the book first (cache.c). */
  if (is_mutation(r) && r->status / 100 == 2) sl_trading_book_touch();
  /* GET replies carry an ETag; If-None-Match with it gets a 304 without a body. */
  bool tagged = r->status == 200 && strcmp(r->method, "GET") == 0;
  if (tagged && !r->etag[0]) sl_etag_of(r->reply_text, r->etag);
  if (tagged) {
    const char *inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "If-None-Match");
    if (inm && (strstr(inm, r->etag) || strcmp(inm, "*") == 0)) r->status = 304;
  }
  size_t len = r->status == 304 ? 0 : strlen(r->reply_text);
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(len, r->reply_text, MHD_RESPMEM_MUST_COPY);
  if (!resp) return MHD_NO;
  if (r->status != 304)
    MHD_add_response_header(resp, "Content-Type",
                            r->content_type ? r->content_type : "application/json");
  MHD_add_response_header(resp, "X-Request-Id", r->request_id);
  MHD_add_response_header(resp, "Cache-Control", tagged ? "private, no-cache" : "no-store");
  if (tagged) MHD_add_response_header(resp, "ETag", r->etag);
  sl_http_extra_headers(r, resp);
  if (r->location) MHD_add_response_header(resp, "Location", r->location);
  if (r->read_from) MHD_add_response_header(resp, "X-Suanli-Read-From", r->read_from);
  if (r->retry_after && r->status != 429) MHD_add_response_header(resp, "Retry-After", "1");
  sl_limit_headers(r, resp);
  if (r->replayed) MHD_add_response_header(resp, "Idempotent-Replayed", "true");
  if (r->status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
  if (r->status == 405 && r->route == NULL) {
    char allow[64];
    bool pm;
    find_route("", r->path, NULL, &pm, allow, sizeof allow);
    MHD_add_response_header(resp, "Allow", allow);
  }
  enum MHD_Result ret = MHD_queue_response(r->conn, r->status, resp);
  MHD_destroy_response(resp);
  r->finished = true;
  return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
  sl_http *h = cls;
  sl_req *r = *con_cls;
  if (!r) { /* the URI callback could not allocate */
    r = req_new(h, conn, url);
    if (!r) return MHD_NO;
    *con_cls = r;
  }
  if (!r->started) {
    r->started = true;
    r->method = method;
    sl_limit_client_from_proxy(r);
    sl_conn_phase(conn, SL_CONN_BODY);
    const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding");
    if (te && strcasecmp(te, "identity") != 0) {
      /* refuse chunked bodies before libmicrohttpd parses a chunk (its own refusals are
       * HTML pages, and a body without a length has no natural bound) */
      char detail[80];
      snprintf(detail, sizeof detail, "Transfer-Encoding '%.40s'", te);
      refuse_early(r, SL_E_LENGTH_REQUIRED, "Transfer-Encoding", detail);
      return queue(r);
    }
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    unsigned long long declared = cl ? strtoull(cl, NULL, 10) : 0;
    if (declared > h->cfg.max_body) r->body_too_large = true;
    if (declared > SL_DISCARD_MAX) {
      process(r); /* far too large: answer before the body and let the connection close */
      return queue(r);
    }
    return MHD_YES;
  }
  if (*upload_data_size) {
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    if (r->finished) return MHD_YES;
    if (r->body_too_large || r->body_len + n > h->cfg.max_body) {
      /* Read and drop up to SL_DISCARD_MAX bytes so that a client that writes its whole
       * body before reading still gets the 413; beyond that, answer now and close. */
      r->body_too_large = true;
      r->discarded += n;
      free(r->body);
      r->body = NULL;
      r->body_len = r->body_cap = 0;
      if (r->discarded <= SL_DISCARD_MAX) return MHD_YES;
      process(r);
      return queue(r);
    }
    if (r->body_len + n + 1 > r->body_cap) {
      size_t cap = r->body_cap ? r->body_cap : 1024;
      while (cap < r->body_len + n + 1) cap *= 2;
      char *nb = realloc(r->body, cap);
      if (!nb) return MHD_NO;
      r->body = nb;
      r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, upload_data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return MHD_YES;
  }
  if (r->finished) return MHD_YES;
  if (r->hold_state == 2) return queue(r); /* a held refusal, resumed: send it now */
  if (r->agent_waiting) {                  /* a long poll its waiter resumed */
    sl_agent_poll_resume(r);
    return queue(r);
  }
  sl_conn_phase(conn, SL_CONN_BUSY);
  process(r);
  if (r->agent_waiting) return MHD_YES; /* suspended: a long poll waits, no reply yet */
  if (sl_limit_hold(r)) {               /* over its token's budget: answered when due */
    release_db(r);
    return MHD_YES;
  }
  return queue(r);
}

/* The raw request target, before libmicrohttpd decodes it: the request starts here. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn) {
  sl_conn_phase(conn, SL_CONN_HEADERS);
  sl_req *r = req_new(cls, conn, uri);
  if (r && r->bad_target == 2) {
    /* The query is refused anyway: hide it from libmicrohttpd's argument parser, which
     * (0.9.75) stalls the connection without a reply when thousands of parameters overflow
     * the connection's memory pool.  The URI lives in the connection's own read buffer,
     * which libmicrohttpd itself rewrites in place right after this callback. */
    char *q = strchr((char *)(uintptr_t)uri, '?');
    if (q) q[1] = '\0';
  }
  return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  sl_http *h = cls;
  sl_req *r = *con_cls;
  if (!r) return;
  *con_cls = NULL;
  json_t *f = json_pack("{s:s,s:s,s:s,s:i,s:I,s:s}", "request_id", r->request_id, "method",
                        r->method, "path", r->path, "status", (int)r->status, "duration_us",
                        (json_int_t)(sl_time_now_us() - r->t0_us), "client", r->client);
  if (f && r->authed) json_object_set_new(f, "account_id", json_integer(r->who.account_id));
  if (f && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
    json_object_set_new(f, "terminated", json_integer((json_int_t)toe));
  if (r->finished && (r->status < 400 || (r->authed && r->status < 500))) sl_limit_good(r->client);
  sl_conn_phase(conn, SL_CONN_IDLE);
  if (r->rl_hold) sl_limit_hold_drop(r);
  sl_log(r->status >= 500 ? SL_LOG_WARN : SL_LOG_INFO, "request", f);
  sl_metrics_observe(r);
  req_free(r);
  atomic_fetch_sub(&h->in_flight, 1);
}

sl_http_config sl_http_defaults(void) {
  return (sl_http_config){
      .host = "127.0.0.1",
      .port = 8080,
      .threads = 4,
      .conn_limit = 1024,
      .per_ip_limit = 512,
      .conn_timeout_s = 30,
      .max_body = 65536,
      .drain_timeout_s = 15,
      .conn_reserve = 128,
      .header_deadline_s = 10,
      .body_deadline_s = 30,
      .rates = {.admin = {100, 200},
                .operator_ = {20, 60},
                .provider = {20, 60},
                .tenant = {20, 60},
                .anonymous = {2, 20},
                .address = {400, 800}},
      .rate_delay_ms = 1000,
      .auth_cache_ms = 1000,
      .list_cache_ms = 1000,
      .token_default_ttl_h = 2160,
  };
}

const sl_http_config *sl_req_config(const sl_req *r) { return &r->srv->cfg; }

sl_http *sl_http_start(const sl_http_config *cfg, sl_db *db) {
  sl_http *h = calloc(1, sizeof *h);
  if (!h) return NULL;
  h->db = db;
  h->cfg = *cfg;
  uint8_t rnd[4];
  randombytes_buf(rnd, sizeof rnd);
  sodium_bin2hex(h->id_prefix, sizeof h->id_prefix, rnd, sizeof rnd);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons(cfg->port);
  if (inet_pton(AF_INET, cfg->host, &addr.sin_addr) != 1) {
    sl_logf(SL_LOG_ERROR, "invalid listen address '%s'", cfg->host);
    free(h);
    return NULL;
  }
  sl_auth_configure(cfg->auth_cache_ms);
  sl_cache_configure(cfg->list_cache_ms);
  if (!sl_limits_start(cfg)) {
    free(h);
    return NULL;
  }
  h->d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_TURBO |
          MHD_ALLOW_SUSPEND_RESUME,
      cfg->port, sl_conn_accept, NULL, on_request, h, MHD_OPTION_SOCK_ADDR,
      (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)cfg->threads,
      MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->conn_limit,
      MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)cfg->per_ip_limit,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->conn_timeout_s,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)131072, MHD_OPTION_LISTENING_ADDRESS_REUSE,
      (unsigned int)1, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_URI_LOG_CALLBACK,
      on_uri, h, MHD_OPTION_NOTIFY_CONNECTION, sl_conn_notify, NULL, MHD_OPTION_END);
  if (!h->d) {
    sl_logf(SL_LOG_ERROR, "cannot listen on %s:%u", cfg->host, cfg->port);
    sl_limits_stop();
    free(h);
    return NULL;
  }
  return h;
}

unsigned sl_http_drain_and_stop(sl_http *h) {
  MHD_socket fd = MHD_quiesce_daemon(h->d);
  sl_limit_release_held(); /* held refusals are answered now; none is held from here on */
  sl_agent_wait_stop();    /* waiting long polls answer now */
  int64_t deadline = sl_time_now_us() + (int64_t)h->cfg.drain_timeout_s * 1000000;
  while (atomic_load(&h->in_flight) > 0 && sl_time_now_us() < deadline) {
    struct timespec ts = {0, 10 * 1000000L};
    nanosleep(&ts, NULL);
  }
  unsigned left = atomic_load(&h->in_flight);
  MHD_stop_daemon(h->d);
  sl_limits_stop();
  if (fd != MHD_INVALID_SOCKET) close(fd);
  free(h);
  return left;
}
