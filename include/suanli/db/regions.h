/* db/regions.h — regions and latency (src/db/regions.c). */
#ifndef SUANLI_DB_REGIONS_H
#define SUANLI_DB_REGIONS_H
#include "suanli/db/db.h"

sl_dbrc sl_db_region_create(sl_dbc *c, const char *code, const char *name, const char *tier,
                            const char *op, json_t **out);
sl_dbrc sl_db_region_get(sl_dbc *c, const char *code, json_t **out);
sl_dbrc sl_db_regions_list(sl_dbc *c, const char *tier, const char *after, int limit, json_t **out);
/* Upsert entries: a JSON array of {"from","to","rtt_us"}; *updated = rows written. */
sl_dbrc sl_db_latency_set(sl_dbc *c, const json_t *entries, int64_t *updated);
/* The matrix as read (measured and estimated entries): sl_db_rtt_list, db/locations.h. */

#endif
