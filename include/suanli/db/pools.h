/* db/pools.h — pools (src/db/pools.c). */
#ifndef SUANLI_DB_POOLS_H
#define SUANLI_DB_POOLS_H
#include "suanli/db/db.h"

typedef struct sl_pool_new {
  int64_t owner_id;
  const char *name, *region, *accelerator, *intra_node, *inter_node, *adapter_kind;
  int64_t gpu_count, gpus_per_node, inter_node_gbps, price_minor, available_from, available_until;
  const json_t *adapter_config;
} sl_pool_new;

/* Who is reading pools, and how to filter them. */
typedef struct sl_pool_filter {
  const char *region, *accelerator, *status;
  int64_t min_memory_gb; /* -1 = any */
  int64_t min_ncu_milli; /* -1 = any */
  int64_t owner;         /* 0 = any */
  const json_t *regions; /* operator scope: array of codes, NULL = any */
  bool market_only;      /* tenants: active pools only */
  bool public_view;      /* leave out the adapter (tenants and operators) */
  int64_t after;
  int limit;
} sl_pool_filter;

typedef struct sl_pool_patch {
  const char *name, *status;                                       /* NULL = unchanged */
  int64_t price_minor, gpu_count, available_from, available_until; /* -1 = unchanged */
} sl_pool_patch;

sl_dbrc sl_db_pool_create(sl_dbc *c, const sl_pool_new *p, json_t **out);
/* Get one pool; owner != 0 restricts to that owner; regions != NULL to those regions;
 * market_only to active pools. */
sl_dbrc sl_db_pool_get(sl_dbc *c, int64_t id, const sl_pool_filter *scope, json_t **out);
/* A page {"items": [Pool], "next_after": id|null} as JSON text, built by PostgreSQL in
 * its final API shape (the hot read path: no JSON re-parsing in suanlid). */
sl_dbrc sl_db_pools_page(sl_dbc *c, const sl_pool_filter *f, char **out);
/* Update an owner's non-retired pool (owner 0 = any). NOROWS if unknown/foreign/retired. */
sl_dbrc sl_db_pool_update(sl_dbc *c, int64_t id, int64_t owner, const sl_pool_patch *p,
                          json_t **out);
/* Retiring (at once, or after draining): sl_db_pool_retire_or_drain, db/drain.h. */
sl_dbrc sl_db_pool_heartbeat(sl_dbc *c, int64_t id, int64_t owner, int64_t healthy_gpus,
                             int64_t utilization_bp, json_t **out);
/* State of a pool for error messages: "retired", "active", ... or NULL (caller frees). */
sl_dbrc sl_db_pool_status(sl_dbc *c, int64_t id, int64_t owner, char **status);

#endif
