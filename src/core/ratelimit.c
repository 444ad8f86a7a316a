/* ratelimit.c — token buckets and a bounded, open-addressed table of them. */
#include "suanli/core/ratelimit.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PROBE 16 /* slots examined per key: the table never scans more than this */

/* Contract: refills at rate.per_s up to rate.burst for the time since b->last_us, then takes
 * cost (clamped to the burst) when available.  An unused bucket (last_us == 0) is full.
 * retry_after_ms is rounded up, so waiting that long always suffices. */
sl_take sl_bucket_take(sl_bucket *b, sl_rate rate, double cost, int64_t now_us) {
  sl_take out = {true, 0, 0, 0};
  if (rate.per_s < 0) {
    out.remaining = rate.burst > 0 ? rate.burst : 0;
    return out;
  }
  double burst = rate.burst > 0 ? rate.burst : 0;
  if (cost > burst) cost = burst;
  if (cost < 0) cost = 0;
  if (b->last_us == 0) {
    b->tokens = burst;
  } else if (now_us > b->last_us) {
    double add = (double)(now_us - b->last_us) / 1e6 * rate.per_s;
    b->tokens = b->tokens + add > burst ? burst : b->tokens + add;
  }
  if (!(b->tokens >= 0)) b->tokens = 0; /* NaN or negative: start empty */
  if (now_us > b->last_us || b->last_us == 0) b->last_us = now_us;
  if (burst > 0 && b->tokens >= cost) {
    b->tokens -= cost;
  } else {
    out.allowed = false;
    double need = (burst > 0 ? cost : 1) - b->tokens;
    out.retry_after_ms =
        rate.per_s > 0 ? (int64_t)ceil(need / rate.per_s * 1000.0) : INT64_C(86400000);
    if (out.retry_after_ms < 1) out.retry_after_ms = 1;
  }
  out.remaining = floor(b->tokens);
  out.reset_ms = rate.per_s > 0 ? (int64_t)ceil((burst - b->tokens) / rate.per_s * 1000.0)
                                : (burst > b->tokens ? INT64_C(86400000) : 0);
  return out;
}

/* Contract: accepts "unlimited" or two non-negative decimals "A:B" with B >= 1 when A > 0;
 * leaves *out untouched on failure. */
bool sl_rate_parse(const char *s, sl_rate *out) {
  if (!s) return false;
  if (strcmp(s, "unlimited") == 0) {
    out->per_s = -1;
    out->burst = 0;
    return true;
  }
  char *end;
  double a = strtod(s, &end);
  if (end == s || *end != ':' || !(a >= 0) || a > 1e9) return false;
  const char *p = end + 1;
  double b = strtod(p, &end);
  if (end == p || *end || !(b >= 0) || b > 1e9) return false;
  if (a > 0 && b < 1) return false;
  out->per_s = a;
  out->burst = b;
  return true;
}

static uint64_t hash_key(const char *k) { /* FNV-1a */
  uint64_t h = UINT64_C(1469598103934665603);
  for (int n = 0; *k && n < SL_RATE_KEY_MAX; k++, n++) {
    h ^= (unsigned char)*k;
    h *= UINT64_C(1099511628211);
  }
  return h;
}

bool sl_rate_table_init(sl_rate_table *t, size_t slots) {
  size_t n = 64;
  while (n < slots && n < ((size_t)1 << 24)) n <<= 1;
  t->slots = calloc(n, sizeof *t->slots);
  t->n = t->slots ? n : 0;
  t->evictions = 0;
  return t->slots != NULL;
}

void sl_rate_table_free(sl_rate_table *t) {
  free(t->slots);
  t->slots = NULL;
  t->n = 0;
}

sl_rate_entry *sl_rate_table_find(sl_rate_table *t, const char *key) {
  if (!t->n) return NULL;
  size_t mask = t->n - 1, i = (size_t)hash_key(key) & mask;
  for (int k = 0; k < PROBE; k++, i = (i + 1) & mask) {
    sl_rate_entry *e = &t->slots[i];
    if (e->key[0] && strncmp(e->key, key, SL_RATE_KEY_MAX) == 0) return e;
  }
  return NULL;
}

/* Contract: see ratelimit.h.  Lookups and creations touch at most PROBE slots. */
sl_rate_entry *sl_rate_table_get(sl_rate_table *t, const char *key, int64_t now_us) {
  if (!t->n || !key || !*key) return NULL;
  size_t mask = t->n - 1, i = (size_t)hash_key(key) & mask;
  sl_rate_entry *empty = NULL, *victim = NULL;
  for (int k = 0; k < PROBE; k++, i = (i + 1) & mask) {
    sl_rate_entry *e = &t->slots[i];
    if (!e->key[0]) {
      if (!empty) empty = e;
      continue;
    }
    if (strncmp(e->key, key, SL_RATE_KEY_MAX) == 0) {
      e->used_us = now_us;
      return e;
    }
    if (e->conns == 0 && (!victim || e->used_us < victim->used_us)) victim = e;
  }
  sl_rate_entry *e = empty ? empty : victim;
  if (!e) return NULL;
  if (!empty) t->evictions++;
  memset(e, 0, sizeof *e);
  strncpy(e->key, key, SL_RATE_KEY_MAX);
  e->key[SL_RATE_KEY_MAX] = '\0';
  e->used_us = now_us;
  return e;
}
