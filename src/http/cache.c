/* cache.c — replies of the market's read routes (GET /v1/pools), kept per viewer and query
 * while the capacity book has not changed, and ETags.
 *
 * An entry is valid while the process's book version (src/trading/book.c: bumped whenever a
 * change of the feed is applied) is the one it was built at, and for at most
 * SUANLI_LIST_CACHE_MS (default 1000; 0 disables).  The handler syncs the book first (shared
 * by concurrent requests), so a change committed before the request began is never served
 * stale; what the feed does not carry (heartbeat times and utilisation without a change of
 * health) may be up to that long old.  Direct-mapped, 256 entries, one mutex. */
#include "internal.h"
#include "suanli/core/timeutil.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 256

typedef struct {
  char key[320];
  uint64_t version;
  int64_t at_us;
  char *text;
  char etag[20];
} entry;

static entry cache[SLOTS];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int64_t ttl_us = 1000000;

static uint64_t fnv(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
  return h;
}

void sl_etag_of(const char *text, char out[20]) {
  snprintf(out, 20, "\"%016llx\"", (unsigned long long)fnv(text, strlen(text)));
}

static int64_t ttl(void) { return atomic_load_explicit(&ttl_us, memory_order_relaxed); }

void sl_cache_configure(unsigned ms) {
  atomic_store(&ttl_us, (ms > 60000 ? 60000 : ms) * INT64_C(1000));
}

struct qs {
  char *buf;
  size_t len, used;
};

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *k, const char *v) {
  (void)kind;
  struct qs *q = cls;
  int n = snprintf(q->buf + q->used, q->len - q->used, "&%s=%s", k, v ? v : "");
  if (n < 0 || (size_t)n >= q->len - q->used) {
    q->used = q->len; /* too long: marks the key unusable */
    return MHD_NO;
  }
  q->used += (size_t)n;
  return MHD_YES;
}

/* The cache key of this request (viewer + path + arguments); false when it does not fit. */
static bool key_of(sl_req *r, char *key, size_t len) {
  int n = snprintf(key, len, "%s:%lld:%s?", r->who.kind,
                   sl_role_is(r, "tenant") ? 0LL : (long long)r->who.account_id, r->path);
  if (n < 0 || (size_t)n >= len) return false;
  struct qs q = {key, len, (size_t)n};
  MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, add_arg, &q);
  return q.used < len;
}

bool sl_cache_reply(sl_req *r, uint64_t version) {
  if (!ttl()) return false;
  char key[320];
  if (!key_of(r, key, sizeof key)) return false;
  entry *e = &cache[fnv(key, strlen(key)) % SLOTS];
  char *text = NULL;
  pthread_mutex_lock(&mu);
  if (e->text && e->version == version && !strcmp(e->key, key) &&
      sl_time_now_us() - e->at_us < ttl()) {
    text = strdup(e->text);
    if (text) memcpy(r->etag, e->etag, sizeof r->etag);
  }
  pthread_mutex_unlock(&mu);
  if (!text) return false;
  sl_reply_text(r, 200, text);
  return true;
}

void sl_cache_store(sl_req *r, uint64_t version, const char *text, int64_t built_at_us) {
  if (!ttl()) return;
  char key[320];
  if (!key_of(r, key, sizeof key)) return;
  entry *e = &cache[fnv(key, strlen(key)) % SLOTS];
  char *copy = strdup(text);
  if (!copy) return;
  char etag[20];
  sl_etag_of(text, etag);
  pthread_mutex_lock(&mu);
  free(e->text);
  snprintf(e->key, sizeof e->key, "%s", key);
  e->version = version;
  e->at_us = built_at_us;
  e->text = copy;
  memcpy(e->etag, etag, sizeof e->etag);
  pthread_mutex_unlock(&mu);
  memcpy(r->etag, etag, sizeof r->etag);
}
