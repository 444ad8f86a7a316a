/* limits.c — request rate limits, the connection accept policy and the header/body
 * deadline watchdog.  See limits.h for what each does and src/http/README.md for settings. */
#include "limits.h"
#include "suanli/core/log.h"
#include "suanli/core/ratelimit.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define GOOD_WINDOW_US (INT64_C(60) * 1000000) /* a good request keeps an address "known" */

static int64_t mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---------------------------------------------------------------- settings */
static sl_http_config lcfg; /* the server's settings (sl_limits_start) */

/* ---------------------------------------------------------------- tables */
static pthread_mutex_t tok_mu = PTHREAD_MUTEX_INITIALIZER, addr_mu = PTHREAD_MUTEX_INITIALIZER;
static sl_rate_table tok_tab, addr_tab, anon_tab;
static atomic_uint_fast64_t c_rate_limited, c_anon, c_anon_unaudited, c_conn_refused, c_deadline,
    c_bad;

void sl_limits_counters_get(sl_limits_counters *o) {
  o->rate_limited = atomic_load(&c_rate_limited);
  o->anonymous_refusals = atomic_load(&c_anon);
  o->anonymous_unaudited = atomic_load(&c_anon_unaudited);
  o->conn_refused = atomic_load(&c_conn_refused);
  o->deadline_closed = atomic_load(&c_deadline);
  o->bad_requests = atomic_load(&c_bad);
}
void sl_limits_count_bad_request(void) { atomic_fetch_add(&c_bad, 1); }

/* The cost of a route in bucket tokens: expensive work costs more so that a flood of it
 * is cut sooner (and one call never costs more than a full bucket). */
static double route_cost(const sl_req *r) {
  if (!r->route) return 1;
  const char *p = r->route->path;
  if (!strcmp(p, "/v1/quotes") || !strcmp(p, "/v1/orders"))
    return strcmp(r->method, "POST") ? 1 : 4;
  if (strstr(p, "/statements/") || strstr(p, "/export") || !strcmp(p, "/v1/periods/{id}/regions"))
    return 10;
  if (strstr(p, "/receipt")) return 2;
  return 1;
}

static void charge(sl_req *r, const char *policy, sl_rate rate, const sl_take *t) {
  if (rate.per_s < 0) return; /* unlimited: no headers */
  /* the tightest bucket is what the client sees */
  if (r->rl_charged && t->allowed && t->remaining >= r->rl_remaining) return;
  r->rl_charged = true;
  r->rl_policy = policy;
  r->rl_limit = rate.burst;
  r->rl_per_s = rate.per_s;
  r->rl_remaining = t->remaining;
  r->rl_reset_ms = t->reset_ms;
  r->rl_retry_ms = t->allowed ? 0 : t->retry_after_ms;
}

static void refuse(sl_req *r, const char *what) {
  atomic_fetch_add(&c_rate_limited, 1);
  sl_reply_error(r, SL_E_RATE_LIMITED, NULL,
                 "too many requests for this %s; retry in %lld ms (rate %.6g/s, burst %.6g)", what,
                 (long long)r->rl_retry_ms, r->rl_per_s, r->rl_limit);
}

/* Take cost from table[key] at rate; lock held by the caller's choice of mutex. */
static sl_take take(pthread_mutex_t *mu, sl_rate_table *tab, const char *key, sl_rate rate,
                    double cost) {
  sl_take t = {true, rate.burst, 0, 0};
  if (rate.per_s < 0) return t;
  int64_t now = mono_us();
  pthread_mutex_lock(mu);
  sl_rate_entry *e = sl_rate_table_get(tab, key, now);
  if (e) t = sl_bucket_take(&e->bucket, rate, cost, now);
  pthread_mutex_unlock(mu);
  return t;
}

/* Contract: when the peer is a trusted proxy (SUANLI_TRUSTED_PROXIES, comma-separated exact
 * addresses) and the request carries X-Forwarded-For, the client is the last address of that
 * header (the one the proxy appended); otherwise r->client is left as the peer. */
void sl_limit_client_from_proxy(sl_req *r) {
  const char *tp = lcfg.trusted_proxies;
  if (!tp || !*tp || !r->client[0]) return;
  size_t n = strlen(r->client);
  bool trusted = false;
  for (const char *p = tp; *p;) {
    size_t l = strcspn(p, ", ");
    if (l == n && strncmp(p, r->client, n) == 0) trusted = true;
    p += l;
    p += strspn(p, ", ");
  }
  if (!trusted) return;
  const char *x = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Forwarded-For");
  if (!x || !*x) return;
  const char *last = strrchr(x, ',');
  last = last ? last + 1 : x;
  while (*last == ' ') last++;
  unsigned char buf[16];
  char a[64];
  snprintf(a, sizeof a, "%.*s", (int)strcspn(last, " "), last);
  if (inet_pton(AF_INET, a, buf) == 1 || inet_pton(AF_INET6, a, buf) == 1)
    snprintf(r->client, sizeof r->client, "%s", a);
}

bool sl_limit_address(sl_req *r) {
  char key[80];
  snprintf(key, sizeof key, "a:%s", r->client);
  sl_take t = take(&addr_mu, &anon_tab, key, lcfg.rates.address, 1);
  charge(r, "address", lcfg.rates.address, &t);
  if (t.allowed) return true;
  refuse(r, "client address");
  return false;
}

bool sl_limit_anonymous(sl_req *r) {
  if (r->anon_checked) return r->anon_ok;
  r->anon_checked = true;
  char key[80];
  snprintf(key, sizeof key, "n:%s", r->client);
  atomic_fetch_add(&c_anon, 1);
  sl_take t = take(&addr_mu, &anon_tab, key, lcfg.rates.anonymous, 1);
  charge(r, "anonymous", lcfg.rates.anonymous, &t);
  r->anon_ok = t.allowed;
  if (t.allowed) return true;
  atomic_fetch_add(&c_anon_unaudited, 1);
  return false;
}

static sl_rate kind_rate(const char *kind) {
  if (!strcmp(kind, "admin")) return lcfg.rates.admin;
  if (!strcmp(kind, "operator")) return lcfg.rates.operator_;
  if (!strcmp(kind, "provider")) return lcfg.rates.provider;
  return lcfg.rates.tenant;
}

bool sl_limit_kind_rate(const char *kind, sl_rate *out) {
  *out = kind_rate(kind);
  return out->per_s >= 0;
}

bool sl_limit_token(sl_req *r) {
  char key[40];
  snprintf(key, sizeof key, "t:%lld", (long long)r->who.token_id);
  /* an admin's per-account override (schema/018), read with the token and cached with it */
  sl_rate rate = r->who.rate_override ? (sl_rate){r->who.rate_per_s, r->who.rate_burst}
                                      : kind_rate(r->who.kind);
  sl_take t = take(&tok_mu, &tok_tab, key, rate, route_cost(r));
  charge(r, "token", rate, &t);
  if (t.allowed) return true;
  refuse(r, "token");
  r->rl_hold = true;
  return false;
}

void sl_limit_headers(const sl_req *r, struct MHD_Response *resp) {
  if (!r->rl_charged) return;
  char buf[160];
  /* draft-ietf-httpapi-ratelimit-headers: a policy (quota q over window w seconds) and the
   * current state (r remaining, t seconds until the quota is fully restored). */
  long window = r->rl_per_s > 0 ? (long)(r->rl_limit / r->rl_per_s + 0.999) : 86400;
  if (window < 1) window = 1;
  snprintf(buf, sizeof buf, "\"%s\";q=%lld;w=%ld", r->rl_policy, (long long)r->rl_limit, window);
  MHD_add_response_header(resp, "RateLimit-Policy", buf);
  snprintf(buf, sizeof buf, "\"%s\";r=%lld;t=%lld", r->rl_policy, (long long)r->rl_remaining,
           (long long)((r->rl_reset_ms + 999) / 1000));
  MHD_add_response_header(resp, "RateLimit", buf);
  if (r->status == 429) {
    snprintf(buf, sizeof buf, "%lld", (long long)((r->rl_retry_ms + 999) / 1000));
    MHD_add_response_header(resp, "Retry-After", buf);
  }
}

void sl_limit_good(const char *client) {
  char key[80];
  snprintf(key, sizeof key, "c:%s", client);
  int64_t now = mono_us();
  pthread_mutex_lock(&addr_mu);
  sl_rate_entry *e = sl_rate_table_get(&addr_tab, key, now);
  if (e) e->good_us = now;
  pthread_mutex_unlock(&addr_mu);
}

/* ---------------------------------------------------------------- held refusals */
static pthread_mutex_t hold_mu = PTHREAD_MUTEX_INITIALIZER;
static sl_req *held;               /* held requests (r->hold_next/prev), under hold_mu */
static bool hold_closed;           /* the daemon is stopping: hold nothing more */
static int64_t hold_cap_ms = 1000; /* lcfg.rate_delay_ms */

static void hold_unlink(sl_req *r) {
  if (r->hold_prev) r->hold_prev->hold_next = r->hold_next;
  else held = r->hold_next;
  if (r->hold_next) r->hold_next->hold_prev = r->hold_prev;
  r->hold_next = r->hold_prev = NULL;
}

/* Contract: suspends r's connection (we are in its access handler, the only place where
 * that is allowed) before r is listed, so the watchdog never resumes a connection that is
 * not suspended; r stays valid while held, as a suspended connection never completes. */
bool sl_limit_hold(sl_req *r) {
  if (!r->rl_hold || r->hold_state || hold_cap_ms <= 0) return false;
  int64_t ms = r->rl_retry_ms < hold_cap_ms ? r->rl_retry_ms : hold_cap_ms;
  if (ms <= 0) return false;
  MHD_suspend_connection(r->conn);
  pthread_mutex_lock(&hold_mu);
  if (hold_closed) { /* the daemon is stopping: answer now (through the handler again) */
    r->hold_state = 2;
    pthread_mutex_unlock(&hold_mu);
    MHD_resume_connection(r->conn);
    return true;
  }
  r->hold_state = 1;
  r->hold_until_us = mono_us() + ms * 1000;
  r->hold_prev = NULL;
  r->hold_next = held;
  if (held) held->hold_prev = r;
  held = r;
  pthread_mutex_unlock(&hold_mu);
  return true;
}

void sl_limit_hold_drop(sl_req *r) {
  pthread_mutex_lock(&hold_mu);
  if (r->hold_state == 1) hold_unlink(r);
  r->hold_state = 2;
  pthread_mutex_unlock(&hold_mu);
}

/* Resume the held requests that are due (all of them when all is set).  Each is unlisted
 * under hold_mu by exactly one caller, then resumed outside it (libmicrohttpd takes its own
 * locks there, and calls back into this file under them). */
static void hold_release(bool all) {
  for (;;) {
    struct MHD_Connection *due[128];
    size_t n = 0;
    int64_t now = mono_us();
    pthread_mutex_lock(&hold_mu);
    if (all) hold_closed = true;
    for (sl_req *r = held, *next; r && n < sizeof due / sizeof due[0]; r = next) {
      next = r->hold_next;
      if (!all && r->hold_until_us > now) continue;
      hold_unlink(r);
      r->hold_state = 2;
      due[n++] = r->conn;
    }
    pthread_mutex_unlock(&hold_mu);
    for (size_t i = 0; i < n; i++) MHD_resume_connection(due[i]);
    if (n < sizeof due / sizeof due[0]) return;
  }
}

void sl_limit_release_held(void) { hold_release(true); }

/* ---------------------------------------------------------------- connections */
typedef struct conn_ent {
  struct conn_ent *prev, *next;
  int fd;
  int phase;
  int64_t since_us;
  bool shut;
  char key[72]; /* "c:<address>" in addr_tab */
} conn_ent;

static pthread_mutex_t conn_mu = PTHREAD_MUTEX_INITIALIZER;
static conn_ent *conns;
static unsigned open_conns;
static pthread_t watchdog;
static atomic_bool running;

static void addr_text(const struct sockaddr *sa, char *out, size_t len) {
  out[0] = '\0';
  if (sa->sa_family == AF_INET)
    inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
              (socklen_t)len);
  else if (sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
              (socklen_t)len);
}

/* Contract: the accept policy.  Refuses when the address holds per_ip_limit connections or
 * all conn_limit are taken; in the reserve (above conn_limit - conn_reserve) admits only an
 * address with a good request in the last minute, or one holding no connection while at
 * least half the reserve is free. */
enum MHD_Result sl_conn_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen) {
  char a[64], key[72];
  addr_text(addr, a, sizeof a);
  snprintf(key, sizeof key, "c:%s", a);
  int64_t now = mono_us();
  bool ok;
  pthread_mutex_lock(&conn_mu);
  unsigned total = open_conns;
  pthread_mutex_unlock(&conn_mu);
  pthread_mutex_lock(&addr_mu);
  sl_rate_entry *e = sl_rate_table_find(&addr_tab, key);
  unsigned mine = e ? e->conns : 0;
  bool known = e && e->good_us && now - e->good_us < GOOD_WINDOW_US;
  pthread_mutex_unlock(&addr_mu);
  unsigned soft = lcfg.conn_limit > lcfg.conn_reserve ? lcfg.conn_limit - lcfg.conn_reserve : 0;
  if (total >= lcfg.conn_limit || mine >= lcfg.per_ip_limit) ok = false;
  else if (total < soft) ok = true;
  else ok = known || (mine == 0 && total < soft + lcfg.conn_reserve / 2);
  if (!ok) atomic_fetch_add(&c_conn_refused, 1);
  return ok ? MHD_YES : MHD_NO;
}

/* Contract: keeps one conn_ent per open connection (its socket context) and the per-address
 * connection count; on close removes both. */
void sl_conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                    enum MHD_ConnectionNotificationCode toe) {
  if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
    conn_ent *ce = calloc(1, sizeof *ce);
    if (!ce) return;
    const union MHD_ConnectionInfo *fi =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *ai =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    ce->fd = fi ? fi->connect_fd : -1;
    char a[64] = "";
    if (ai && ai->client_addr) addr_text(ai->client_addr, a, sizeof a);
    snprintf(ce->key, sizeof ce->key, "c:%s", a);
    ce->phase = SL_CONN_IDLE;
    ce->since_us = mono_us();
    pthread_mutex_lock(&addr_mu);
    sl_rate_entry *e = sl_rate_table_get(&addr_tab, ce->key, ce->since_us);
    if (e) e->conns++;
    pthread_mutex_unlock(&addr_mu);
    pthread_mutex_lock(&conn_mu);
    ce->next = conns;
    if (conns) conns->prev = ce;
    conns = ce;
    open_conns++;
    pthread_mutex_unlock(&conn_mu);
    *socket_context = ce;
  } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
    conn_ent *ce = *socket_context;
    if (!ce) return;
    *socket_context = NULL;
    pthread_mutex_lock(&conn_mu);
    if (ce->prev) ce->prev->next = ce->next;
    else conns = ce->next;
    if (ce->next) ce->next->prev = ce->prev;
    open_conns--;
    pthread_mutex_unlock(&conn_mu);
    pthread_mutex_lock(&addr_mu);
    sl_rate_entry *e = sl_rate_table_find(&addr_tab, ce->key);
    if (e && e->conns) e->conns--;
    pthread_mutex_unlock(&addr_mu);
    free(ce);
  }
}

void sl_conn_phase(struct MHD_Connection *c, int phase) {
  const union MHD_ConnectionInfo *i =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  conn_ent *ce = i ? i->socket_context : NULL;
  if (!ce) return;
  pthread_mutex_lock(&conn_mu);
  /* the request line starts the header phase; a deadline already running keeps running */
  if (!(phase == SL_CONN_HEADERS && ce->phase == SL_CONN_IDLE)) ce->since_us = mono_us();
  ce->phase = phase;
  pthread_mutex_unlock(&conn_mu);
}

/* Contract: every 100 ms, shuts down (never closes: libmicrohttpd owns the descriptor and
 * closes it when it sees the shutdown) each connection past its phase's deadline.  The list
 * is changed only under conn_mu, and a descriptor is removed from it before
 * libmicrohttpd closes it, so the descriptor shut is always the connection's own. */
static void *watch(void *arg) {
  while (atomic_load(&running)) {
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
    int64_t now = mono_us();
    int64_t hd = (int64_t)lcfg.header_deadline_s * 1000000,
            bd = (int64_t)lcfg.body_deadline_s * 1000000;
    pthread_mutex_lock(&conn_mu);
    for (conn_ent *ce = conns; ce; ce = ce->next) {
      if (ce->shut || ce->fd < 0) continue;
      int64_t limit = ce->phase == SL_CONN_BODY ? bd : (ce->phase == SL_CONN_BUSY ? 0 : hd);
      if (limit > 0 && now - ce->since_us > limit) {
        shutdown(ce->fd, SHUT_RDWR);
        ce->shut = true;
        atomic_fetch_add(&c_deadline, 1);
      }
    }
    pthread_mutex_unlock(&conn_mu);
    hold_release(false);
  }
  return NULL;
}

bool sl_limits_start(const sl_http_config *cfg) {
  lcfg = *cfg;
  hold_cap_ms = cfg->rate_delay_ms;
  hold_closed = false;
  if (!sl_rate_table_init(&tok_tab, 65536) || !sl_rate_table_init(&addr_tab, 65536) ||
      !sl_rate_table_init(&anon_tab, 65536)) {
    sl_limits_stop();
    return false;
  }
  atomic_store(&running, true);
  if (pthread_create(&watchdog, NULL, watch, NULL) != 0) {
    atomic_store(&running, false);
    sl_limits_stop();
    return false;
  }
  return true;
}

void sl_limits_stop(void) {
  if (atomic_exchange(&running, false)) pthread_join(watchdog, NULL);
  sl_rate_table_free(&tok_tab);
  sl_rate_table_free(&addr_tab);
  sl_rate_table_free(&anon_tab);
}
