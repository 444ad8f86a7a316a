/* db/offers.h — offers: the market's searchable, sorted view (src/db/offers.c). */
#ifndef SUANLI_DB_OFFERS_H
#define SUANLI_DB_OFFERS_H
#include "suanli/db/db.h"

typedef struct sl_offer_filter {
  int64_t start, end;           /* the window: free GPUs are counted in every hour */
  const char *accelerator_like; /* ILIKE patterns ('%' wildcards, '\\' escapes) or NULL */
  const char *region_like;
  int64_t min_free_gpus;                                         /* -1: at least 1 */
  int64_t min_price_minor, max_price_minor, max_ncu_price_minor; /* -1 = any */
  int64_t min_ncu_milli, min_memory_gb;                          /* -1 = any */
  const char *origin;                                            /* RTT from this region, or NULL */
  int64_t max_rtt_us;                                            /* -1 = any (needs origin) */
  const char *sort; /* price | price_per_ncu | rtt | free */
  int64_t offset;
  int limit;
} sl_offer_filter;

/* A page {"items": [Offer], "window": {start, end}, "next_after": "<offset>"|null} as JSON
 * text, active pools only (the market view: no adapter, no owner). */
sl_dbrc sl_db_offers_page(sl_dbc *c, const sl_offer_filter *f, char **out);

#endif
