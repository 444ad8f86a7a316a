/* book.c — the in-memory capacity book: pools, bookings and latency, indexed for quotes.
 * Structures and costs: src/market/README.md ("The capacity book").  Contract: book.h. */
#include "suanli/market/book.h"
#include "suanli/core/timeutil.h"
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HOUR SL_SLOT_SECONDS
/* Split orders examine every statically fit pool up to this many (the fill is then exactly
 * the full matcher's); beyond it, a bounded prefix in key order (src/market/README.md, "A quote").
 */
#define SPLIT_EXACT 2000

/* ---------------------------------------------------------------------------------------- */
/* An open-addressing hash map uint64 -> uint32 (key 0 is "empty"; callers never use it).   */

typedef struct {
  uint64_t *keys;
  uint32_t *vals;
  size_t cap, n; /* cap is a power of two */
} hmap;

static size_t hslot(uint64_t k, size_t cap) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  return (size_t)k & (cap - 1);
}

static bool hmap_get(const hmap *m, uint64_t k, uint32_t *v) {
  if (!m->cap) return false;
  for (size_t i = hslot(k, m->cap);; i = (i + 1) & (m->cap - 1)) {
    if (m->keys[i] == 0) return false;
    if (m->keys[i] == k) {
      *v = m->vals[i];
      return true;
    }
  }
}

static bool hmap_put(hmap *m, uint64_t k, uint32_t v);

static bool hmap_grow(hmap *m) {
  hmap g = {calloc(m->cap ? m->cap * 2 : 64, sizeof(uint64_t)),
            calloc(m->cap ? m->cap * 2 : 64, sizeof(uint32_t)), m->cap ? m->cap * 2 : 64, 0};
  if (!g.keys || !g.vals) {
    free(g.keys);
    free(g.vals);
    return false;
  }
  for (size_t i = 0; i < m->cap; i++)
    if (m->keys[i]) hmap_put(&g, m->keys[i], m->vals[i]);
  free(m->keys);
  free(m->vals);
  *m = g;
  return true;
}

static bool hmap_put(hmap *m, uint64_t k, uint32_t v) {
  if ((m->n + 1) * 4 > m->cap * 3 && !hmap_grow(m)) return false;
  size_t i = hslot(k, m->cap);
  while (m->keys[i] && m->keys[i] != k) i = (i + 1) & (m->cap - 1);
  if (!m->keys[i]) m->n++;
  m->keys[i] = k;
  m->vals[i] = v;
  return true;
}

/* Linear probing with backward-shift deletion (no tombstones). */
static void hmap_del(hmap *m, uint64_t k) {
  if (!m->cap) return;
  size_t i = hslot(k, m->cap);
  while (m->keys[i] != k) {
    if (!m->keys[i]) return;
    i = (i + 1) & (m->cap - 1);
  }
  m->keys[i] = 0;
  m->n--;
  for (size_t j = (i + 1) & (m->cap - 1); m->keys[j]; j = (j + 1) & (m->cap - 1)) {
    size_t h = hslot(m->keys[j], m->cap);
    /* move j back to i when its home h is not cyclically in (i, j] */
    bool stays = i <= j ? (h > i && h <= j) : (h > i || h <= j);
    if (stays) continue;
    m->keys[i] = m->keys[j];
    m->vals[i] = m->vals[j];
    m->keys[j] = 0;
    i = j;
  }
}

static void hmap_free(hmap *m) {
  free(m->keys);
  free(m->vals);
  memset(m, 0, sizeof *m);
}

/* ---------------------------------------------------------------------------------------- */
/* The book                                                                                 */

typedef struct {
  int64_t price, id;
  uint32_t idx; /* the pool's index in pools[] (kept when a removal moves the last pool) */
} bent;         /* a bucket entry, sorted by (price, id) */

typedef struct {
  int64_t id, owner, price, avail_from, avail_until, ncu_milli;
  int32_t gpu_count, memory_gb, inter_gbps;
  uint16_t region, model;
  uint8_t intra, inter;
  bool active, down;
  uint32_t bucket;
  int32_t *bk_slot; /* booked slots, ascending, in hours since the epoch */
  int32_t *bk_n;    /* GPUs booked in bk_slot[i] (> 0) */
  uint32_t nbk, capbk;
} bpool;

typedef struct {
  uint16_t region, model;
  uint8_t intra, inter, size_class;
  int32_t inter_gbps;
  int32_t max_gpus; /* >= every linked pool's gpu_count (raised on link, never lowered) */
  bent *live;       /* active and not down, sorted by (price, id) */
  size_t nlive, caplive;
  int64_t *dead; /* the others (HEALTH), unordered */
  size_t ndead, capdead;
} bucket;

struct sl_market_book {
  bpool *pools;
  size_t npools, cappools;
  hmap by_id;   /* id -> index into pools */
  int64_t *ids; /* every id, ascending (for paging) */
  bucket *buckets;
  size_t nbuckets, capbuckets;
  hmap by_key; /* bucket key -> index into buckets */
  char **regions;
  size_t nregions;
  char **models;
  size_t nmodels;
  int64_t *rtt;     /* rtt[from * rtt_dim + to], -1 unknown */
  uint8_t *rtt_est; /* same layout: 1 when that RTT is an estimate, not a measurement */
  size_t rtt_dim;
  char **name_keys; /* names of models (lowercased ids and aliases), with the model each */
  char **name_ids;  /* names: one entry per (name, model) */
  size_t nnames, capnames;
};

static bool grow(void **p, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return true;
  size_t c = *cap ? *cap : 8;
  while (c < need) c *= 2;
  void *q = realloc(*p, c * size);
  if (!q) return false;
  *p = q;
  *cap = c;
  return true;
}

/* Index of string s in the intern table (added when absent); -1 on allocation failure. */
static int intern(char ***tab, size_t *n, const char *s) {
  for (size_t i = 0; i < *n; i++)
    if (strcmp((*tab)[i], s) == 0) return (int)i;
  if (*n >= 65535) return -1;
  char **t = realloc(*tab, (*n + 1) * sizeof *t);
  if (!t) return -1;
  *tab = t;
  if (!(t[*n] = strdup(s))) return -1;
  return (int)(*n)++;
}

static int find_str(char *const *tab, size_t n, const char *s) {
  if (!s) return -1;
  for (size_t i = 0; i < n; i++)
    if (strcmp(tab[i], s) == 0) return (int)i;
  return -1;
}

sl_market_book *sl_market_book_new(void) { return calloc(1, sizeof(sl_market_book)); }

void sl_market_book_free(sl_market_book *b) {
  if (!b) return;
  for (size_t i = 0; i < b->npools; i++) {
    free(b->pools[i].bk_slot);
    free(b->pools[i].bk_n);
  }
  for (size_t i = 0; i < b->nbuckets; i++) {
    free(b->buckets[i].live);
    free(b->buckets[i].dead);
  }
  for (size_t i = 0; i < b->nregions; i++) free(b->regions[i]);
  for (size_t i = 0; i < b->nmodels; i++) free(b->models[i]);
  free(b->regions);
  free(b->models);
  free(b->rtt);
  free(b->rtt_est);
  for (size_t i = 0; i < b->nnames; i++) {
    free(b->name_keys[i]);
    free(b->name_ids[i]);
  }
  free(b->name_keys);
  free(b->name_ids);
  free(b->pools);
  free(b->ids);
  free(b->buckets);
  hmap_free(&b->by_id);
  hmap_free(&b->by_key);
  free(b);
}

/* Size class: pools of 2^(c-1) .. 2^c - 1 GPUs.  A gang order for G GPUs skips every bucket
 * whose class holds less than G without visiting its pools. */
static uint8_t size_class(int32_t gpus) {
  return gpus <= 0 ? 0 : (uint8_t)(32 - __builtin_clz((unsigned)gpus));
}

static uint64_t bucket_key(const bpool *p) {
  return (1ULL << 63) | ((uint64_t)(size_class(p->gpu_count) & 0x1f) << 57) |
         ((uint64_t)p->region << 40) | ((uint64_t)p->model << 24) |
         ((uint64_t)(p->intra & 0xf) << 20) | ((uint64_t)(p->inter & 0xf) << 16) |
         ((uint64_t)(uint32_t)p->inter_gbps & 0xffff) |
         ((uint64_t)((uint32_t)p->inter_gbps >> 16) << 56);
}

static bool rtt_resize(sl_market_book *b) {
  size_t dim = b->nregions;
  if (dim <= b->rtt_dim) return true;
  int64_t *m = malloc(dim * dim * sizeof *m);
  uint8_t *e = calloc(dim * dim, 1);
  if (!m || !e) {
    free(m);
    free(e);
    return false;
  }
  for (size_t i = 0; i < dim * dim; i++) m[i] = -1;
  for (size_t f = 0; f < b->rtt_dim; f++)
    for (size_t t = 0; t < b->rtt_dim; t++) {
      m[f * dim + t] = b->rtt[f * b->rtt_dim + t];
      e[f * dim + t] = b->rtt_est[f * b->rtt_dim + t];
    }
  free(b->rtt);
  free(b->rtt_est);
  b->rtt = m;
  b->rtt_est = e;
  b->rtt_dim = dim;
  return true;
}

/* lower bound of (price, id) in a bucket's live array */
static size_t live_pos(const bucket *k, int64_t price, int64_t id) {
  size_t lo = 0, hi = k->nlive;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    const bent *e = &k->live[mid];
    if (e->price < price || (e->price == price && e->id < id)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static void bucket_unlink(sl_market_book *b, const bpool *p) {
  bucket *k = &b->buckets[p->bucket];
  if (p->active && !p->down) {
    size_t i = live_pos(k, p->price, p->id);
    if (i < k->nlive && k->live[i].id == p->id) {
      memmove(&k->live[i], &k->live[i + 1], (k->nlive - i - 1) * sizeof *k->live);
      k->nlive--;
    }
  } else {
    for (size_t i = 0; i < k->ndead; i++)
      if (k->dead[i] == p->id) {
        k->dead[i] = k->dead[--k->ndead];
        break;
      }
  }
}

static bool bucket_link(sl_market_book *b, bpool *p) {
  uint64_t key = bucket_key(p);
  uint32_t bi;
  if (!hmap_get(&b->by_key, key, &bi)) {
    if (!grow((void **)&b->buckets, &b->capbuckets, b->nbuckets + 1, sizeof *b->buckets))
      return false;
    bi = (uint32_t)b->nbuckets;
    if (!hmap_put(&b->by_key, key, bi)) return false;
    b->buckets[b->nbuckets++] = (bucket){.region = p->region,
                                         .model = p->model,
                                         .intra = p->intra,
                                         .inter = p->inter,
                                         .size_class = size_class(p->gpu_count),
                                         .inter_gbps = p->inter_gbps};
  }
  bucket *k = &b->buckets[bi];
  if (p->gpu_count > k->max_gpus) k->max_gpus = p->gpu_count;
  if (p->active && !p->down) {
    if (!grow((void **)&k->live, &k->caplive, k->nlive + 1, sizeof *k->live)) return false;
    size_t i = live_pos(k, p->price, p->id);
    memmove(&k->live[i + 1], &k->live[i], (k->nlive - i) * sizeof *k->live);
    k->live[i] = (bent){p->price, p->id, (uint32_t)(p - b->pools)};
    k->nlive++;
  } else {
    if (!grow((void **)&k->dead, &k->capdead, k->ndead + 1, sizeof *k->dead)) return false;
    k->dead[k->ndead++] = p->id;
  }
  p->bucket = bi;
  return true;
}

static bpool *pool_of(const sl_market_book *b, int64_t id) {
  uint32_t i;
  if (id <= 0 || !hmap_get(&b->by_id, (uint64_t)id, &i)) return NULL;
  return &b->pools[i];
}

static size_t ids_pos(const sl_market_book *b, int64_t id) {
  size_t lo = 0, hi = b->npools;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (b->ids[mid] < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

bool sl_market_book_put(sl_market_book *b, const sl_market_book_pool *in) {
  if (!in || in->id <= 0 || !in->region || !in->accelerator) return false;
  int r = intern(&b->regions, &b->nregions, in->region);
  int m = intern(&b->models, &b->nmodels, in->accelerator);
  if (r < 0 || m < 0 || !rtt_resize(b)) return false;
  bpool np = {.id = in->id,
              .owner = in->owner_id,
              .price = in->price_minor,
              .avail_from = in->avail_from,
              .avail_until = in->avail_until,
              .ncu_milli = in->ncu_milli,
              .gpu_count = in->gpu_count,
              .memory_gb = in->memory_gb,
              .inter_gbps = in->inter_gbps,
              .region = (uint16_t)r,
              .model = (uint16_t)m,
              .intra = (uint8_t)in->intra,
              .inter = (uint8_t)in->inter,
              .active = in->active,
              .down = in->down};
  bpool *p = pool_of(b, in->id);
  if (p) {
    bpool old = *p;
    bucket_unlink(b, p);
    np.bk_slot = p->bk_slot;
    np.bk_n = p->bk_n;
    np.nbk = p->nbk;
    np.capbk = p->capbk;
    *p = np;
    if (!bucket_link(b, p)) {
      *p = old;
      bucket_link(b, p); /* back where it was: its entry's room still exists */
      return false;
    }
    return true;
  }
  size_t capids = b->cappools;
  if (!grow((void **)&b->pools, &b->cappools, b->npools + 1, sizeof *b->pools)) return false;
  if (!grow((void **)&b->ids, &capids, b->npools + 1, sizeof *b->ids)) return false;
  if (capids != b->cappools) { /* keep ids as large as pools */
    int64_t *q = realloc(b->ids, b->cappools * sizeof *q);
    if (!q) return false;
    b->ids = q;
  }
  if (!hmap_put(&b->by_id, (uint64_t)in->id, (uint32_t)b->npools)) return false;
  b->pools[b->npools] = np;
  if (!bucket_link(b, &b->pools[b->npools])) {
    hmap_del(&b->by_id, (uint64_t)in->id);
    return false;
  }
  size_t at = ids_pos(b, in->id);
  memmove(&b->ids[at + 1], &b->ids[at], (b->npools - at) * sizeof *b->ids);
  b->ids[at] = in->id;
  b->npools++;
  return true;
}

void sl_market_book_remove(sl_market_book *b, int64_t id) {
  uint32_t i;
  if (id <= 0 || !hmap_get(&b->by_id, (uint64_t)id, &i)) return;
  bpool *p = &b->pools[i];
  bucket_unlink(b, p);
  free(p->bk_slot);
  free(p->bk_n);
  hmap_del(&b->by_id, (uint64_t)id);
  size_t at = ids_pos(b, id);
  memmove(&b->ids[at], &b->ids[at + 1], (b->npools - at - 1) * sizeof *b->ids);
  size_t last = b->npools - 1;
  if (i != last) {
    bpool *q = &b->pools[i];
    *q = b->pools[last];
    hmap_put(&b->by_id, (uint64_t)q->id, i); /* replaces: no allocation */
    if (q->active && !q->down) {             /* its bucket entry follows it */
      bucket *k = &b->buckets[q->bucket];
      size_t at_live = live_pos(k, q->price, q->id);
      if (at_live < k->nlive && k->live[at_live].id == q->id) k->live[at_live].idx = i;
    }
  }
  b->npools--;
}

static size_t bk_lower(const bpool *p, int32_t h) {
  size_t lo = 0, hi = p->nbk;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (p->bk_slot[mid] < h) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static int cmp_pair(const void *pa, const void *pb) {
  const int32_t *a = pa, *b = pb;
  return a[0] < b[0] ? -1 : a[0] > b[0];
}

bool sl_market_book_set_booked(sl_market_book *b, int64_t id, int64_t from, int64_t to,
                               const int64_t *slots, const int32_t *booked, size_t n) {
  bpool *p = pool_of(b, id);
  if (!p || from > to || from < 0) return false;
  if (to / HOUR > INT32_MAX) to = (int64_t)INT32_MAX * HOUR;
  int32_t hf = (int32_t)(from / HOUR), ht = (int32_t)(to / HOUR);
  int32_t *pairs = malloc((n ? n : 1) * 2 * sizeof *pairs);
  if (!pairs) return false;
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    int32_t h = (int32_t)(slots[i] / HOUR);
    if (booked[i] <= 0 || h < hf || h > ht) continue;
    pairs[2 * m] = h;
    pairs[2 * m + 1] = booked[i];
    m++;
  }
  qsort(pairs, m, 2 * sizeof *pairs, cmp_pair);
  size_t lo = bk_lower(p, hf), hi = ht == INT32_MAX ? p->nbk : bk_lower(p, ht + 1);
  size_t nn = p->nbk - (hi - lo) + m;
  if (nn > p->capbk) {
    size_t c = p->capbk ? p->capbk : 4;
    while (c < nn) c *= 2;
    int32_t *s = realloc(p->bk_slot, c * sizeof *s);
    if (s) p->bk_slot = s;
    int32_t *v = s ? realloc(p->bk_n, c * sizeof *v) : NULL;
    if (v) p->bk_n = v;
    if (!s || !v) {
      free(pairs);
      return false;
    }
    p->capbk = (uint32_t)c;
  }
  size_t tail = p->nbk - hi;
  if (tail) { /* (the arrays are still NULL for a pool never booked) */
    memmove(&p->bk_slot[lo + m], &p->bk_slot[hi], tail * sizeof *p->bk_slot);
    memmove(&p->bk_n[lo + m], &p->bk_n[hi], tail * sizeof *p->bk_n);
  }
  for (size_t i = 0; i < m; i++) {
    p->bk_slot[lo + i] = pairs[2 * i];
    p->bk_n[lo + i] = pairs[2 * i + 1];
  }
  p->nbk = (uint32_t)nn;
  free(pairs);
  return true;
}

void sl_market_book_forget_before(sl_market_book *b, int64_t slot) {
  int32_t h = (int32_t)(slot / HOUR);
  for (size_t i = 0; i < b->npools; i++) {
    bpool *p = &b->pools[i];
    size_t k = bk_lower(p, h);
    if (!k) continue;
    memmove(p->bk_slot, p->bk_slot + k, (p->nbk - k) * sizeof *p->bk_slot);
    memmove(p->bk_n, p->bk_n + k, (p->nbk - k) * sizeof *p->bk_n);
    p->nbk -= (uint32_t)k;
  }
}

bool sl_market_book_set_rtt_source(sl_market_book *b, const char *from, const char *to,
                                   int64_t rtt_us, bool estimated) {
  int f = intern(&b->regions, &b->nregions, from), t = intern(&b->regions, &b->nregions, to);
  if (f < 0 || t < 0 || !rtt_resize(b)) return false;
  b->rtt[(size_t)f * b->rtt_dim + (size_t)t] = rtt_us;
  b->rtt_est[(size_t)f * b->rtt_dim + (size_t)t] = estimated;
  return true;
}

bool sl_market_book_set_rtt(sl_market_book *b, const char *from, const char *to, int64_t rtt_us) {
  return sl_market_book_set_rtt_source(b, from, to, rtt_us, false);
}

void sl_market_book_clear_rtt(sl_market_book *b) {
  for (size_t i = 0; i < b->rtt_dim * b->rtt_dim; i++) {
    b->rtt[i] = -1;
    b->rtt_est[i] = 0;
  }
}

bool sl_market_book_add_name(sl_market_book *b, const char *name, const char *accelerator) {
  if (!name || !accelerator || !*name) return false;
  /* the two arrays share one capacity: name_ids follows name_keys */
  if (!grow((void **)&b->name_keys, &b->capnames, b->nnames + 1, sizeof *b->name_keys))
    return false;
  char **ids = realloc(b->name_ids, b->capnames * sizeof *ids);
  if (!ids) return false;
  b->name_ids = ids;
  char *k = strdup(name), *v = strdup(accelerator);
  if (!k || !v) {
    free(k);
    free(v);
    return false;
  }
  for (char *s = k; *s; s++)
    if (*s >= 'A' && *s <= 'Z') *s = (char)(*s - 'A' + 'a');
  b->name_keys[b->nnames] = k;
  b->name_ids[b->nnames++] = v;
  return true;
}

static bool has_str(const char *const *v, size_t n, const char *s) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(v[i], s)) return true;
  return false;
}

const char **sl_market_book_resolve(const sl_market_book *b, const char *const *names, size_t n,
                                    size_t *nout) {
  size_t cap = n + 1, k = 0;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < b->nnames; j++)
      if (!strcasecmp(b->name_keys[j], names[i])) cap++;
  const char **out = malloc(cap * sizeof *out);
  if (!out) return NULL;
  for (size_t i = 0; i < n; i++) {
    if (!has_str(out, k, names[i])) out[k++] = names[i];
    for (size_t j = 0; j < b->nnames; j++)
      if (!strcasecmp(b->name_keys[j], names[i]) && !has_str(out, k, b->name_ids[j]))
        out[k++] = b->name_ids[j];
  }
  *nout = k;
  return out;
}

bool sl_market_book_knows(const sl_market_book *b, bool model, const char *code) {
  if (!code) return false;
  if (model) {
    for (size_t j = 0; j < b->nnames; j++)
      if (!strcasecmp(b->name_keys[j], code)) return true;
    return false;
  }
  for (size_t j = 0; j < b->nregions; j++)
    if (!strcmp(b->regions[j], code)) return true;
  return false;
}

size_t sl_market_book_size(const sl_market_book *b) { return b->npools; }

size_t sl_market_book_memory(const sl_market_book *b) {
  size_t m = sizeof *b + b->cappools * (sizeof(bpool) + sizeof(int64_t)) +
             (b->by_id.cap + b->by_key.cap) * (sizeof(uint64_t) + sizeof(uint32_t)) +
             b->capbuckets * sizeof(bucket) + b->rtt_dim * b->rtt_dim * (sizeof(int64_t) + 1);
  for (size_t i = 0; i < b->npools; i++) m += (size_t)b->pools[i].capbk * 2 * sizeof(int32_t);
  for (size_t i = 0; i < b->nbuckets; i++)
    m += b->buckets[i].caplive * sizeof(bent) + b->buckets[i].capdead * sizeof(int64_t);
  return m;
}

static void to_public(const sl_market_book *b, const bpool *p, sl_market_book_pool *o) {
  *o = (sl_market_book_pool){.id = p->id,
                             .owner_id = p->owner,
                             .region = b->regions[p->region],
                             .accelerator = b->models[p->model],
                             .memory_gb = p->memory_gb,
                             .ncu_milli = p->ncu_milli,
                             .intra = (sl_market_intra)p->intra,
                             .inter = (sl_market_inter)p->inter,
                             .inter_gbps = p->inter_gbps,
                             .gpu_count = p->gpu_count,
                             .price_minor = p->price,
                             .avail_from = p->avail_from,
                             .avail_until = p->avail_until,
                             .active = p->active,
                             .down = p->down};
}

bool sl_market_book_get(const sl_market_book *b, int64_t id, sl_market_book_pool *out) {
  const bpool *p = pool_of(b, id);
  if (!p) return false;
  to_public(b, p, out);
  return true;
}

int32_t sl_market_book_booked_at(const sl_market_book *b, int64_t id, int64_t slot) {
  const bpool *p = pool_of(b, id);
  if (!p) return -1;
  int32_t h = (int32_t)(slot / HOUR);
  size_t k = bk_lower(p, h);
  return k < p->nbk && p->bk_slot[k] == h ? p->bk_n[k] : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Matching                                                                                 */

/* The cell of (origin, region) in the rtt and rtt_est matrices; -1 when either is unknown. */
static ptrdiff_t rtt_cell(const sl_market_book *b, int origin, uint16_t region) {
  if (origin < 0 || (size_t)origin >= b->rtt_dim || region >= b->rtt_dim) return -1;
  return (ptrdiff_t)((size_t)origin * b->rtt_dim + region);
}

static int64_t rtt_of(const sl_market_book *b, int origin, uint16_t region) {
  ptrdiff_t i = rtt_cell(b, origin, region);
  return i < 0 ? -1 : b->rtt[i];
}

static bool rtt_est_of(const sl_market_book *b, int origin, uint16_t region) {
  ptrdiff_t i = rtt_cell(b, origin, region);
  return i >= 0 && b->rtt_est[i] != 0;
}

/* The matcher's view of pool p (free[] left NULL). */
static sl_market_pool mkt_pool(const sl_market_book *b, const bpool *p, int origin) {
  return (sl_market_pool){.id = p->id,
                          .region = b->regions[p->region],
                          .accelerator = b->models[p->model],
                          .memory_gb = p->memory_gb,
                          .ncu_milli = p->ncu_milli,
                          .intra = (sl_market_intra)p->intra,
                          .inter = (sl_market_inter)p->inter,
                          .inter_gbps = p->inter_gbps,
                          .price_minor = p->price,
                          .avail_from = p->avail_from,
                          .avail_until = p->avail_until,
                          .active = p->active,
                          .down = p->down,
                          .rtt_us = rtt_of(b, origin, p->region),
                          .rtt_estimated = rtt_est_of(b, origin, p->region)};
}

static int64_t ceil_slot(int64_t t) {
  int64_t r = t % HOUR;
  if (r < 0) r += HOUR;
  return r ? t + (HOUR - r) : t;
}
static int64_t floor_slot(int64_t t) {
  int64_t r = t % HOUR;
  if (r < 0) r += HOUR;
  return t - r;
}

/* The earliest slot-aligned start s in [first, last] with [s, s + dur h) inside the pool's
 * availability and at least `need` free GPUs in each of its slots; -1 when there is none.
 * Walks only the booked slots that block `need` (O(log n + k)), never every slot. */
static int64_t first_start(const bpool *p, int64_t first, int64_t last, int32_t dur, int32_t need) {
  if (need > p->gpu_count) return -1;
  int64_t s = first > ceil_slot(p->avail_from) ? first : ceil_slot(p->avail_from);
  int64_t lim = floor_slot(p->avail_until - (int64_t)dur * HOUR);
  if (lim < last) last = lim;
  if (s > last) return -1;
  int32_t max_booked = p->gpu_count - need;
  for (size_t k = bk_lower(p, (int32_t)(s / HOUR)); k < p->nbk; k++) {
    if (p->bk_n[k] <= max_booked) continue;
    int64_t t = (int64_t)p->bk_slot[k] * HOUR;
    if (t >= s + (int64_t)dur * HOUR) break; /* [s, s + dur) is clear */
    s = t + HOUR;
    if (s > last) return -1;
  }
  return s <= last ? s : -1;
}

static void fill_free(const bpool *p, int64_t window_start, size_t nslots, int32_t *fr) {
  for (size_t k = 0; k < nslots; k++) fr[k] = p->gpu_count;
  int32_t h0 = (int32_t)(window_start / HOUR);
  for (size_t k = bk_lower(p, h0); k < p->nbk && (size_t)(p->bk_slot[k] - h0) < nslots; k++) {
    int32_t *f = &fr[p->bk_slot[k] - h0];
    *f = *f > p->bk_n[k] ? *f - p->bk_n[k] : 0;
  }
}

typedef struct {
  int64_t key[3], id;
  size_t bucket, pos;
} hent;

static bool hless(const hent *a, const hent *b) {
  for (int i = 0; i < 3; i++)
    if (a->key[i] != b->key[i]) return a->key[i] < b->key[i];
  return a->id < b->id;
}

static void heap_push(hent *h, size_t *n, hent e) {
  size_t i = (*n)++;
  while (i > 0) {
    size_t up = (i - 1) / 2;
    if (!hless(&e, &h[up])) break;
    h[i] = h[up];
    i = up;
  }
  h[i] = e;
}

static hent heap_pop(hent *h, size_t *n) {
  hent top = h[0], last = h[--(*n)];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= *n) break;
    if (c + 1 < *n && hless(&h[c + 1], &h[c])) c++;
    if (!hless(&h[c], &last)) break;
    h[i] = h[c];
    i = c;
  }
  if (*n) h[i] = last;
  return top;
}

typedef struct {
  const bpool **p;
  bool *cand; /* true: examined candidate (verdict counts); false: an example (already counted) */
  size_t n, cap;
} inlist;

static bool in_add(inlist *l, const bpool *p, bool cand) {
  if (l->n == l->cap) {
    size_t c = l->cap ? l->cap * 2 : 32;
    const bpool **q = realloc(l->p, c * sizeof *q);
    if (!q) return false;
    l->p = q;
    bool *d = realloc(l->cand, c * sizeof *d);
    if (!d) return false;
    l->cand = d;
    l->cap = c;
  }
  l->p[l->n] = p;
  l->cand[l->n++] = cand;
  return true;
}

/* Count one pool for reason w; keep it as a named example while there is room. */
static bool note(sl_market_book_match *out, size_t *want_ex, sl_market_why w, const bpool *p,
                 inlist *in, size_t examples) {
  out->counts[w]++;
  if (want_ex[w] >= examples) return true;
  want_ex[w]++;
  return in_add(in, p, false);
}

/* The nearest miss seen so far for one reason (src/market/README.md, "Nearest miss"). */
typedef struct {
  const bpool *p; /* NULL: none yet */
  int64_t gap;    /* -1: no distance */
} nearc;

/* Is (gap, price, id) of p nearer than the nearest so far?  The order of sl_market_nearer. */
static bool near_beats(const nearc *n, const bpool *p, int64_t gap) {
  if (!n->p) return true;
  uint64_t a = gap < 0 ? UINT64_MAX : (uint64_t)gap, b = n->gap < 0 ? UINT64_MAX : (uint64_t)n->gap;
  if (a != b) return a < b;
  if (p->price != n->p->price) return p->price < n->p->price;
  return p->id < n->p->id;
}

/* Could a pool at `price` whose gap is at least `gap` beat the nearest so far?  (The id
 * tie-break is not known: counted as a possible win.) */
static bool near_may_beat(const nearc *n, int64_t price, int64_t gap) {
  if (!n->p) return true;
  uint64_t a = gap < 0 ? UINT64_MAX : (uint64_t)gap, b = n->gap < 0 ? UINT64_MAX : (uint64_t)n->gap;
  return a != b ? a < b : price <= n->p->price;
}

static void near_offer(nearc *n, const bpool *p, int64_t gap) {
  if (near_beats(n, p, gap)) *n = (nearc){p, gap < 0 ? -1 : gap};
}

/* The CAPACITY gap of a gang order for pool p: GPUs short of the most it keeps free over a
 * whole window at any start (-1 when no start lies inside its availability).  scratch holds
 * nslots entries. */
static int64_t capacity_gap(const sl_market_book *b, const bpool *p, int org,
                            const sl_market_order *m, int64_t window_start, size_t nslots,
                            int32_t *scratch) {
  sl_market_pool mp = mkt_pool(b, p, org);
  fill_free(p, window_start, nslots, scratch);
  mp.free = scratch;
  int32_t best = sl_market_best_cap(m, &mp, window_start, nslots);
  return best < 0 ? -1 : (int64_t)sl_market_min_gpus_for(m, &mp) - best;
}

/* The GPUs pool p must give for order m (sl_market_gpus_for over the book's attributes). */
static int32_t need_of(const sl_market_order *m, const bpool *p) {
  if (m->ncu_milli_wanted <= 0) return m->gpus;
  sl_market_pool mp = {.ncu_milli = p->ncu_milli};
  return sl_market_gpus_for(m, &mp);
}

/* The fewest GPUs pool p may give for order m (a partial-fill order: min_gpus, or for an NCU
 * order the GPUs of min_ncu_milli_filled). */
static int32_t min_of(const sl_market_order *m, const bpool *p) {
  if (m->ncu_milli_wanted <= 0) return sl_market_min_gpus_for(m, NULL);
  sl_market_pool mp = {.ncu_milli = p->ncu_milli};
  return sl_market_min_gpus_for(m, &mp);
}

/* A lower bound of capacity_gap that reads no bookings: GPUs short of the whole pool. */
static int64_t gap_bound(const sl_market_order *m, const bpool *p) {
  int32_t need = min_of(m, p);
  return need > p->gpu_count ? (int64_t)need - p->gpu_count : 0;
}

static bool excluded(const sl_market_book_opts *o, int64_t id) {
  for (size_t i = 0; i < o->n_exclude; i++)
    if (o->exclude[i] == id) return true;
  return false;
}

bool sl_market_book_match_order(const sl_market_book *b, const sl_market_order *m,
                                const char *origin, int64_t window_start, size_t nslots,
                                const sl_market_book_opts *opts, sl_market_book_match *out) {
  memset(out, 0, sizeof *out);
  if (!b || !m || !opts || opts->limit < 1 || nslots < 1) return false;
  size_t examples =
      opts->examples > SL_MARKET_BOOK_EXAMPLES ? SL_MARKET_BOOK_EXAMPLES : opts->examples;
  int org = m->has_origin ? find_str(b->regions, b->nregions, origin) : -1;
  out->total = b->npools;
  size_t want_ex[SL_WHY_OUTRANKED + 1] = {0};
  inlist in = {0};
  hent *heap = malloc((b->nbuckets ? b->nbuckets : 1) * sizeof *heap);
  size_t nheap = 0, *okn = calloc(b->nbuckets ? b->nbuckets : 1, sizeof *okn);
  int32_t *scratch = calloc(nslots, sizeof *scratch);
  nearc near[SL_WHY_OUTRANKED + 1];
  memset(near, 0, sizeof near);
  bool rc = false;
  if (!heap || !okn || !scratch) goto cleanup;

  /* 1. Per bucket: the static verdict of its attributes, and how many of its live pools
   * (cheapest first) pass the price checks.  Everything else is counted, not visited. */
  size_t static_ok = 0;
  for (size_t bi = 0; bi < b->nbuckets; bi++) {
    const bucket *k = &b->buckets[bi];
    for (size_t i = 0; i < k->ndead; i++) {
      if (want_ex[SL_WHY_HEALTH] >= examples) { /* the rest, counted, not visited */
        out->counts[SL_WHY_HEALTH] += k->ndead - i;
        break;
      }
      if (!note(out, want_ex, SL_WHY_HEALTH, pool_of(b, k->dead[i]), &in, examples)) goto cleanup;
    }
    if (!k->nlive) continue;
    const bpool *p0 = &b->pools[k->live[0].idx];
    sl_market_pool rep = mkt_pool(b, p0, org);
    sl_market_verdict rv;
    sl_market_why w = sl_market_static_check(m, &rep, &rv);
    size_t nok = 0;
    if (w == SL_WHY_LATENCY) near_offer(&near[w], p0, rv.gap); /* one RTT: live[0] is nearest */
    if (w == SL_WHY_CHOSEN || w == SL_WHY_PRICE) { /* the price checks are monotone in price */
      size_t lo = 0, hi = k->nlive - 1;
      rep.price_minor = k->live[hi].price; /* the dearest passes: all do (one probe, not log n) */
      if (sl_market_static_check(m, &rep, NULL) == SL_WHY_CHOSEN) lo = hi = k->nlive;
      while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        rep.price_minor = k->live[mid].price;
        if (sl_market_static_check(m, &rep, NULL) == SL_WHY_CHOSEN) lo = mid + 1;
        else hi = mid;
      }
      nok = lo;
      w = SL_WHY_PRICE;
      if (nok < k->nlive) { /* the cheapest pool over the limit is this bucket's nearest */
        rep.price_minor = k->live[nok].price;
        sl_market_static_check(m, &rep, &rv);
        near_offer(&near[w], &b->pools[k->live[nok].idx], rv.gap);
      }
    }
    for (size_t i = nok; i < k->nlive; i++) {
      if (want_ex[w] >= examples) { /* the rest, counted, not visited */
        out->counts[w] += k->nlive - i;
        break;
      }
      if (!note(out, want_ex, w, &b->pools[k->live[i].idx], &in, examples)) goto cleanup;
    }
    int64_t class_max = k->size_class >= 31 ? INT32_MAX : ((int64_t)1 << k->size_class) - 1;
    if (nok && !m->split && class_max < min_of(m, p0)) { /* too small, whatever the bookings */
      out->pruned += nok;
      /* the nearest: only pools that could beat it.  Every pool here is short of at least
       * min_of - max_gpus GPUs, and live[] is sorted by price: once a pool cannot beat the
       * nearest by that bound, no later (dearer) one can — O(pools that could) per bucket,
       * not O(pools). */
      int64_t lb = (int64_t)min_of(m, p0) - k->max_gpus;
      for (size_t i = 0; i < nok; i++) {
        if (!near_may_beat(&near[SL_WHY_CAPACITY], k->live[i].price, lb < 0 ? 0 : lb)) break;
        const bpool *q = &b->pools[k->live[i].idx];
        if (near_beats(&near[SL_WHY_CAPACITY], q, gap_bound(m, q)))
          near_offer(&near[SL_WHY_CAPACITY], q,
                     capacity_gap(b, q, org, m, window_start, nslots, scratch));
      }
      for (size_t i = 0; i < nok; i++) {
        if (want_ex[SL_WHY_CAPACITY] >= examples) {
          out->counts[SL_WHY_CAPACITY] += nok - i;
          break;
        }
        if (!note(out, want_ex, SL_WHY_CAPACITY, &b->pools[k->live[i].idx], &in, examples))
          goto cleanup;
      }
      nok = 0;
    }
    okn[bi] = nok;
    if (nok) {
      static_ok += nok;
      hent e = {.id = k->live[0].id, .bucket = bi, .pos = 0};
      sl_market_pool kp = mkt_pool(b, p0, org);
      sl_market_key(m, &kp, e.key);
      heap_push(heap, &nheap, e);
    }
  }

  /* 2. Statically fit pools in ranking-key order (a k-way merge of the buckets), each
   * checked for a feasible start, until enough placements are found. */
  int64_t first = m->earliest_start, last = m->latest_start;
  size_t need = opts->limit, counted = 0;
  int64_t gpus_seen = 0;
  if (m->split) {
    size_t mp = m->max_pieces > 0 ? (size_t)m->max_pieces : 1;
    if (need < mp) need = mp;
    if (static_ok <= SPLIT_EXACT) need = SIZE_MAX;
  }
  int64_t stop_key[3] = {0, 0, 0};
  bool stopping = false;
  size_t max_ex = opts->max_examined ? opts->max_examined : SIZE_MAX;
  while (nheap) {
    hent e = heap_pop(heap, &nheap);
    if (stopping && memcmp(e.key, stop_key, sizeof stop_key) != 0) {
      heap_push(heap, &nheap, e);
      break;
    }
    if (e.pos + 1 < okn[e.bucket]) {
      const bucket *k = &b->buckets[e.bucket];
      hent nx = {.id = k->live[e.pos + 1].id, .bucket = e.bucket, .pos = e.pos + 1};
      sl_market_pool kp = mkt_pool(b, &b->pools[k->live[e.pos + 1].idx], org);
      sl_market_key(m, &kp, nx.key);
      heap_push(heap, &nheap, nx);
    }
    const bpool *p = &b->pools[b->buckets[e.bucket].live[e.pos].idx];
    if (excluded(opts, p->id)) {
      static_ok--;
      continue;
    }
    out->examined++;
    bool feasible, whole = true;
    if (!m->split) {
      /* one model per bucket: >= 1 once statically fit; a partial-fill order is feasible with
       * lo GPUs, but only a pool giving all g within the budgets counts towards the stop */
      const int32_t g = need_of(m, p), lo = min_of(m, p);
      feasible = first_start(p, first, last, m->duration_slots, lo) >= 0;
      whole = feasible && (lo == g || first_start(p, first, last, m->duration_slots, g) >= 0);
      if (!feasible) {
        if (near_beats(&near[SL_WHY_CAPACITY], p, gap_bound(m, p)))
          near_offer(&near[SL_WHY_CAPACITY], p,
                     capacity_gap(b, p, org, m, window_start, nslots, scratch));
        if (!note(out, want_ex, SL_WHY_CAPACITY, p, &in, examples)) goto cleanup;
      }
      if (feasible) {
        __int128 hourly = (__int128)g * p->price, total = hourly * m->duration_slots;
        if ((m->budget_hourly_minor >= 0 && hourly > m->budget_hourly_minor) ||
            (m->budget_total_minor >= 0 && total > m->budget_total_minor))
          whole = false;
        hourly = (__int128)lo * p->price;
        total = hourly * m->duration_slots;
        bool over_hourly = m->budget_hourly_minor >= 0 && hourly > m->budget_hourly_minor;
        if (over_hourly || (m->budget_total_minor >= 0 && total > m->budget_total_minor)) {
          __int128 over =
              over_hourly ? hourly - m->budget_hourly_minor : total - m->budget_total_minor;
          near_offer(&near[SL_WHY_BUDGET], p, over > INT64_MAX ? INT64_MAX : (int64_t)over);
          feasible = false;
          if (!note(out, want_ex, SL_WHY_BUDGET, p, &in, examples)) goto cleanup;
        }
      }
    } else {
      feasible = first_start(p, first, last, m->duration_slots, 1) >= 0;
      if (!feasible) near_offer(&near[SL_WHY_CAPACITY], p, -1); /* never free: no distance */
      if (!feasible && !note(out, want_ex, SL_WHY_CAPACITY, p, &in, examples)) goto cleanup;
    }
    if (feasible) {
      if (!in_add(&in, p, true)) goto cleanup;
      if (!whole) goto next; /* a partial placement: ranked after every whole one */
      counted++;
      /* a split NCU order counts NCU (issue 15): GPUs x the model's NCU per GPU */
      gpus_seen += m->ncu_milli_wanted > 0 ? (int64_t)p->gpu_count * p->ncu_milli : p->gpu_count;
      if (!stopping && counted >= need &&
          (!m->split ||
           gpus_seen >= 2 * (m->ncu_milli_wanted > 0 ? m->ncu_milli_wanted : (int64_t)m->gpus))) {
        stopping = true;
        memcpy(stop_key, e.key, sizeof stop_key);
      }
    }
  next:
    if (out->examined >= max_ex) break;
  }
  out->unexamined = static_ok - out->examined;
  out->counts[SL_WHY_OUTRANKED] += out->unexamined;

  /* The nearest miss of each reason joins the examples when it is not in the list yet. */
  for (int w = SL_WHY_HEALTH; w <= SL_WHY_OUTRANKED; w++) {
    if (!near[w].p) continue;
    bool have = false;
    for (size_t i = 0; i < in.n && !have; i++) have = in.p[i] == near[w].p;
    if (!have && !in_add(&in, near[w].p, false)) goto cleanup;
  }

  /* 3. The matcher over the examined candidates and the examples. */
  out->npools = in.n;
  if (in.n) {
    out->pools = calloc(in.n, sizeof *out->pools);
    out->owner = calloc(in.n, sizeof *out->owner);
    out->free = calloc(in.n * nslots, sizeof *out->free);
    if (!out->pools || !out->owner || !out->free) goto cleanup;
    for (size_t i = 0; i < in.n; i++) {
      out->pools[i] = mkt_pool(b, in.p[i], org);
      out->owner[i] = in.p[i]->owner;
      fill_free(in.p[i], window_start, nslots, out->free + i * nslots);
      out->pools[i].free = out->free + i * nslots;
    }
  }
  if (!sl_market_match(m, out->pools, in.n, window_start, nslots, &out->result)) goto cleanup;
  const sl_market_verdict *vs = out->result.verdicts;
  for (int w = 0; w <= SL_WHY_OUTRANKED; w++) out->nearest[w] = SIZE_MAX;
  for (size_t i = 0; i < in.n; i++) {
    sl_market_why w = vs[i].why;
    if (in.cand[i]) out->counts[w]++;
    size_t *n = &out->nearest[w];
    if (*n == SIZE_MAX || sl_market_nearer(&vs[i], &out->pools[i], &vs[*n], &out->pools[*n]))
      *n = i;
  }
  /* examples: the nearest miss first, then the others in the order they were met */
  for (size_t i = 0; i < in.n; i++) {
    sl_market_why w = vs[i].why;
    size_t *ne = &out->nexamples[w];
    if (*ne == 0 && examples > 0) out->examples[w][(*ne)++] = out->nearest[w];
    if (i != out->nearest[w] && *ne < examples) out->examples[w][(*ne)++] = i;
  }
  rc = true;
cleanup:
  free(heap);
  free(okn);
  free(scratch);
  free(in.p);
  free(in.cand);
  if (!rc) sl_market_book_match_free(out);
  return rc;
}

void sl_market_book_match_free(sl_market_book_match *m) {
  if (!m) return;
  sl_market_result_free(&m->result);
  free(m->pools);
  free(m->owner);
  free(m->free);
  memset(m, 0, sizeof *m);
}

bool sl_market_book_verdicts(const sl_market_book *b, const sl_market_order *m, const char *origin,
                             int64_t window_start, size_t nslots, const int64_t *chosen,
                             size_t nchosen, int64_t after, size_t max,
                             sl_market_book_verdict_row **rows, size_t *n, int64_t *next) {
  *rows = NULL;
  *n = 0;
  *next = 0;
  if (max < 1 || nslots < 1) return false;
  int org = m->has_origin ? find_str(b->regions, b->nregions, origin) : -1;
  sl_market_book_verdict_row *out = calloc(max, sizeof *out);
  int32_t *fr = calloc(nslots, sizeof *fr);
  if (!out || !fr) {
    free(out);
    free(fr);
    return false;
  }
  size_t cnt = 0, i = ids_pos(b, after + 1);
  for (; i < b->npools && cnt < max; i++) {
    const bpool *p = pool_of(b, b->ids[i]);
    bool is_chosen = false;
    for (size_t j = 0; j < nchosen; j++) is_chosen |= chosen[j] == p->id;
    if (is_chosen) continue;
    sl_market_pool mp = mkt_pool(b, p, org);
    sl_market_book_verdict_row *row = &out[cnt];
    *row = (sl_market_book_verdict_row){
        .pool_id = p->id, .region = mp.region, .accelerator = mp.accelerator};
    if (sl_market_static_check(m, &mp, &row->v) == SL_WHY_CHOSEN) {
      fill_free(p, window_start, nslots, fr);
      mp.free = fr;
      sl_market_result r;
      if (!sl_market_match(m, &mp, 1, window_start, nslots, &r)) {
        free(out);
        free(fr);
        return false;
      }
      row->v = r.verdicts[0];
      if (row->v.why == SL_WHY_CHOSEN ||
          (m->split && r.nranked > 0 && row->v.why == SL_WHY_CAPACITY)) {
        row->v.why = SL_WHY_OUTRANKED;
        snprintf(row->v.detail, sizeof row->v.detail,
                 "feasible, ranked below the chosen placement");
      }
      sl_market_result_free(&r);
    }
    cnt++;
  }
  free(fr);
  *rows = out;
  *n = cnt;
  *next = i < b->npools ? b->ids[i - 1] : 0;
  return true;
}

/* ---------------------------------------------------------------------------------------- */
/* Digest: equal books (same pools, attributes, bookings from a slot on, latency) hash equal, */
/* whatever the order of their construction.                                               */

static uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  h ^= h >> 31;
  h *= 0xbf58476d1ce4e5b9ULL;
  return h ^ (h >> 29);
}

static uint64_t mix_str(uint64_t h, const char *s) {
  uint64_t f = 1469598103934665603ULL;
  for (; *s; s++) f = (f ^ (unsigned char)*s) * 1099511628211ULL;
  return mix(h, f);
}

uint64_t sl_market_book_digest(const sl_market_book *b, int64_t from_slot) {
  uint64_t sum = 0;
  int32_t h0 = (int32_t)(from_slot / HOUR);
  for (size_t i = 0; i < b->npools; i++) {
    const bpool *p = &b->pools[i];
    uint64_t h = mix(0, (uint64_t)p->id);
    h = mix(h, (uint64_t)p->owner);
    h = mix_str(h, b->regions[p->region]);
    h = mix_str(h, b->models[p->model]);
    h = mix(h, (uint64_t)p->price);
    h = mix(h, (uint64_t)p->avail_from);
    h = mix(h, (uint64_t)p->avail_until);
    h = mix(h, (uint64_t)p->ncu_milli);
    h = mix(h, ((uint64_t)(uint32_t)p->gpu_count << 32) | (uint32_t)p->memory_gb);
    h = mix(h, ((uint64_t)p->intra << 40) | ((uint64_t)p->inter << 32) | (uint32_t)p->inter_gbps);
    h = mix(h, (uint64_t)p->active << 1 | p->down);
    for (size_t k = bk_lower(p, h0); k < p->nbk; k++)
      h = mix(h, ((uint64_t)(uint32_t)p->bk_slot[k] << 32) | (uint32_t)p->bk_n[k]);
    sum += h; /* order-independent */
  }
  for (size_t f = 0; f < b->rtt_dim; f++)
    for (size_t t = 0; t < b->rtt_dim; t++) {
      int64_t r = b->rtt[f * b->rtt_dim + t];
      if (r >= 0)
        sum += mix(mix_str(mix_str(0, b->regions[f]), b->regions[t]),
                   (uint64_t)r | (uint64_t)b->rtt_est[f * b->rtt_dim + t] << 63);
    }
  for (size_t i = 0; i < b->nnames; i++)
    sum += mix_str(mix_str(0x6e616d65, b->name_keys[i]), b->name_ids[i]);
  return mix(sum, b->npools);
}
