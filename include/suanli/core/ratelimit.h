/* ratelimit.h — token buckets and a bounded table of them, keyed by short strings
 * (a token id, a client address).  Pure: no locks, no I/O; the caller passes the time and
 * serialises access to a table (src/http/limits.c holds one mutex per table). */
#ifndef SUANLI_RATELIMIT_H
#define SUANLI_RATELIMIT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A rate: `per_s` tokens refill each second, up to `burst` tokens.  per_s == 0 with
 * burst == 0 refuses everything; a negative per_s means "unlimited". */
typedef struct sl_rate {
  double per_s;
  double burst;
} sl_rate;

typedef struct sl_bucket {
  double tokens;   /* tokens left at last_us */
  int64_t last_us; /* 0: never used (full) */
} sl_bucket;

/* The outcome of one take. */
typedef struct sl_take {
  bool allowed;
  double remaining;       /* whole tokens left after the take (or now, when refused) */
  int64_t retry_after_ms; /* refused: when `cost` tokens will be there; 0 when allowed */
  int64_t reset_ms;       /* when the bucket will be full again */
} sl_take;

/* Refill b to now_us at rate, then take cost tokens if that many are there.  A cost above
 * the burst is clamped to the burst (an expensive request can always run on a full bucket).
 * Time going backwards is treated as no time passing. */
sl_take sl_bucket_take(sl_bucket *b, sl_rate rate, double cost, int64_t now_us);

/* Parse "PER_S:BURST" (e.g. "20:40", "0.5:5") or "unlimited".  false on anything else. */
bool sl_rate_parse(const char *s, sl_rate *out);

/* ---- a bounded table of per-key state ---- */
#define SL_RATE_KEY_MAX 63

typedef struct sl_rate_entry {
  char key[SL_RATE_KEY_MAX + 1]; /* "" = empty slot */
  sl_bucket bucket;
  int64_t used_us; /* last time this entry was looked up */
  int64_t good_us; /* last time a request from this key completed well (addresses) */
  unsigned conns;  /* open connections (addresses); an entry with conns > 0 is never evicted */
} sl_rate_entry;

typedef struct sl_rate_table {
  sl_rate_entry *slots;
  size_t n; /* a power of two */
  uint64_t evictions;
} sl_rate_table;

/* Allocate a table of at least `slots` entries (rounded up to a power of two, >= 64).
 * false when out of memory. */
bool sl_rate_table_init(sl_rate_table *t, size_t slots);
void sl_rate_table_free(sl_rate_table *t);

/* The entry for key (truncated to SL_RATE_KEY_MAX), created when absent: a fresh entry has a
 * full bucket.  When every slot of the key's probe window is taken, the least recently used
 * entry without open connections is replaced; NULL only when each of them has connections.
 * The pointer is valid until the next call on the table. */
sl_rate_entry *sl_rate_table_get(sl_rate_table *t, const char *key, int64_t now_us);
/* The entry for key, or NULL; never creates. */
sl_rate_entry *sl_rate_table_find(sl_rate_table *t, const char *key);

#endif
