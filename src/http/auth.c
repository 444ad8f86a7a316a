/* auth.c — bearer tokens: format, hashing, issuing, and authenticating a request.
 *
 * A token is "sl_" + 32 lowercase hex (a public id, 128 random bits) + "_" + 43 base64url
 * characters (the secret, 256 random bits).  Only BLAKE2b-256 of the whole token is
 * stored; a lookup by that hash authenticates (the secret's entropy makes a slow hash
 * unnecessary, and the comparison happens on a hash, never on the secret). */
#include "internal.h"
#include "suanli/core/clock.h"
#include "suanli/core/timeutil.h"
#include "suanli/db/accounts.h"
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define PUB_HEX    32
#define SECRET_B64 43

static bool well_formed(const char *t) {
  if (strncmp(t, "sl_", 3) != 0) return false;
  for (int i = 0; i < PUB_HEX; i++) {
    char ch = t[3 + i];
    if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) return false;
  }
  if (t[3 + PUB_HEX] != '_') return false;
  const char *s = t + 4 + PUB_HEX;
  if (strlen(s) != SECRET_B64) return false;
  for (; *s; s++)
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
          *s == '-' || *s == '_'))
      return false;
  return true;
}

static void token_hash(const char *token, uint8_t out[32]) {
  crypto_generichash(out, 32, (const unsigned char *)token, strlen(token), NULL, 0);
}

/* ---- the token cache ----
 * A small in-process cache of successful lookups, keyed by the token hash, so that most
 * requests cost one database round trip instead of two.  An entry lives at most
 * cache_ms (SUANLI_AUTH_CACHE_MS, default 1000; 0 disables it) and never past the token's
 * own expiry; a revocation through this process drops the entry at once, one through
 * another process takes effect within cache_ms. */
#define CACHE_SLOTS 1024
typedef struct {
  uint8_t hash[32];
  int64_t until_ms; /* 0 = empty */
  sl_principal who; /* regions kept as text below; who.regions unused */
  char *regions;
} cache_entry;
static cache_entry cache[CACHE_SLOTS];
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int64_t cache_ms = 1000;

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t cache_ttl(void) { return atomic_load_explicit(&cache_ms, memory_order_relaxed); }

void sl_auth_configure(unsigned ms) { atomic_store(&cache_ms, ms > 60000 ? 60000 : (int64_t)ms); }

static size_t slot_of(const uint8_t hash[32]) {
  size_t h;
  memcpy(&h, hash, sizeof h);
  return h % CACHE_SLOTS;
}

static bool cache_get(const uint8_t hash[32], sl_principal *out) {
  if (cache_ttl() == 0) return false;
  bool hit = false;
  pthread_mutex_lock(&cache_mu);
  cache_entry *e = &cache[slot_of(hash)];
  if (e->until_ms > mono_ms() && memcmp(e->hash, hash, 32) == 0 &&
      (e->who.token_expires == 0 || e->who.token_expires > sl_clock_now())) {
    *out = e->who;
    out->regions = e->regions ? json_loads(e->regions, 0, NULL) : NULL;
    hit = true;
  }
  pthread_mutex_unlock(&cache_mu);
  return hit;
}

static void cache_put(const uint8_t hash[32], const sl_principal *who) {
  if (cache_ttl() == 0) return;
  char *regions = who->regions ? json_dumps(who->regions, JSON_COMPACT) : NULL;
  pthread_mutex_lock(&cache_mu);
  cache_entry *e = &cache[slot_of(hash)];
  free(e->regions);
  memcpy(e->hash, hash, 32);
  e->who = *who;
  e->who.regions = NULL;
  e->regions = regions;
  e->until_ms = mono_ms() + cache_ttl();
  pthread_mutex_unlock(&cache_mu);
}

void sl_auth_cache_forget(int64_t token_id) {
  pthread_mutex_lock(&cache_mu);
  for (size_t i = 0; i < CACHE_SLOTS; i++)
    if (cache[i].until_ms && cache[i].who.token_id == token_id) cache[i].until_ms = 0;
  pthread_mutex_unlock(&cache_mu);
}

void sl_auth_cache_forget_account(int64_t account_id) {
  pthread_mutex_lock(&cache_mu);
  for (size_t i = 0; i < CACHE_SLOTS; i++)
    if (cache[i].until_ms && cache[i].who.account_id == account_id) cache[i].until_ms = 0;
  pthread_mutex_unlock(&cache_mu);
}

int64_t sl_auth_cache_ms(void) { return cache_ttl(); }

void sl_auth_cache_clear(void) {
  pthread_mutex_lock(&cache_mu);
  for (size_t i = 0; i < CACHE_SLOTS; i++) {
    free(cache[i].regions);
    memset(&cache[i], 0, sizeof cache[i]);
  }
  pthread_mutex_unlock(&cache_mu);
}

unsigned sl_role_bit(const char *kind) {
  if (!strcmp(kind, "admin")) return SL_ROLE_ADMIN;
  if (!strcmp(kind, "operator")) return SL_ROLE_OPERATOR;
  if (!strcmp(kind, "provider")) return SL_ROLE_PROVIDER;
  if (!strcmp(kind, "tenant")) return SL_ROLE_TENANT;
  return 0;
}

/* Contract: authenticates r from this process's token cache alone (no database, no reply);
 * false when there is no well-formed bearer token or it is not cached.  Lets a flood of
 * requests over budget be refused without taking a database connection. */
bool sl_auth_cached(sl_req *r) {
  const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
  if (!h || strncasecmp(h, "Bearer ", 7) != 0) return false;
  const char *t = h + 7;
  while (*t == ' ') t++;
  if (!well_formed(t)) return false;
  uint8_t hash[32];
  token_hash(t, hash);
  if (!cache_get(hash, &r->who)) return false;
  r->authed = true;
  return true;
}

bool sl_auth_request(sl_req *r) {
  const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
  if (!h || !*h) {
    sl_reply_error(r, SL_E_UNAUTHENTICATED, "Authorization", "no Authorization header");
    return false;
  }
  if (strncasecmp(h, "Bearer ", 7) != 0) {
    sl_reply_error(r, SL_E_UNAUTHENTICATED, "Authorization", "the scheme must be Bearer");
    return false;
  }
  const char *t = h + 7;
  while (*t == ' ') t++;
  if (!well_formed(t)) {
    sl_reply_error(r, SL_E_TOKEN_MALFORMED, "Authorization", "the token is malformed");
    return false;
  }
  uint8_t hash[32];
  token_hash(t, hash);
  if (cache_get(hash, &r->who)) {
    r->authed = true;
    return true;
  }
  sl_dbrc rc = sl_db_token_lookup(r->db, hash, &r->who);
  if (rc == SL_DB_NOROWS) {
    sl_reply_error(r, SL_E_TOKEN_INVALID, "Authorization",
                   "the token is unknown, expired or revoked");
    return false;
  }
  if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
    return false;
  }
  r->authed = true;
  cache_put(hash, &r->who);
  return true;
}

sl_dbrc sl_http_issue_token(sl_dbc *c, int64_t account_id, const char *label, int64_t expires,
                            char *buf, json_t **out) {
  uint8_t pub[PUB_HEX / 2], secret[32], hash[32];
  char pub_hex[PUB_HEX + 1], sec_b64[SECRET_B64 + 2];
  randombytes_buf(pub, sizeof pub);
  randombytes_buf(secret, sizeof secret);
  sodium_bin2hex(pub_hex, sizeof pub_hex, pub, sizeof pub);
  sodium_bin2base64(sec_b64, sizeof sec_b64, secret, sizeof secret,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  snprintf(buf, SL_TOKEN_LEN + 1, "sl_%s_%s", pub_hex, sec_b64);
  token_hash(buf, hash);
  sodium_memzero(secret, sizeof secret);
  return sl_db_token_create(c, account_id, pub_hex, hash, label ? label : "", expires, out);
}
