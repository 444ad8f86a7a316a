/* db/accelerators.h — accelerators and the capacity standard (src/db/accelerators.c). */
#ifndef SUANLI_DB_ACCELERATORS_H
#define SUANLI_DB_ACCELERATORS_H
#include "suanli/db/db.h"

sl_dbrc sl_db_accelerators_list(sl_dbc *c, json_t **out);
sl_dbrc sl_db_accelerator_get(sl_dbc *c, const char *id, json_t **out);
sl_dbrc sl_db_formula_get(sl_dbc *c, json_t **out);
/* Set weights (and optionally the reference model, NULL = keep), bump the version and
 * rescore every model, in the caller's transaction. */
sl_dbrc sl_db_weights_set(sl_dbc *c, int compute_bp, int memory_bp, const char *reference);
/* Recompute every model's score from the current weights (idempotent). */
sl_dbrc sl_db_capacity_rescore(sl_dbc *c);

#endif
