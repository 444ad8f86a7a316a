/* db/locations.h — where regions are and the RTT estimate (src/db/locations.c, schema/019). */
#ifndef SUANLI_DB_LOCATIONS_H
#define SUANLI_DB_LOCATIONS_H
#include "suanli/db/db.h"
#include <stdbool.h>

/* Change a region: any of name, operator, location (NULL = unchanged); coordinates when
 * set_coords (clear when !has_coords).  NOROWS when the region is unknown.  *out: Region. */
typedef struct sl_region_patch {
  const char *name, *operator_name, *location;
  bool set_coords, has_coords;
  double lat, lon;
} sl_region_patch;
sl_dbrc sl_db_region_patch(sl_dbc *c, const char *code, const sl_region_patch *p, json_t **out);
/* The estimate's constants and the fit's error (NOROWS when no model is installed). */
sl_dbrc sl_db_latency_model_get(sl_dbc *c, json_t **out);
/* Entries of the one latency matrix (measured, or estimated where none is measured), from
 * and/or to a region (NULL = any): [{"from","to","rtt_us","source","updated_at"}].  Without
 * from and to, measured entries only (the estimated ones are a function of the regions). */
sl_dbrc sl_db_rtt_list(sl_dbc *c, const char *from, const char *to, json_t **out);

#endif
