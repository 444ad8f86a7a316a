/* db/audit.h — the request log: one row per mutating request (src/db/audit.c). */
#ifndef SUANLI_DB_AUDIT_H
#define SUANLI_DB_AUDIT_H
#include "suanli/db/db.h"

typedef struct sl_audit {
  const char *request_id, *method, *path, *action, *object, *outcome, *error, *client_addr;
  int64_t account_id, token_id; /* 0 = none */
  int status;
} sl_audit;
sl_dbrc sl_db_audit_insert(sl_dbc *c, const sl_audit *a);
sl_dbrc sl_db_audit_list(sl_dbc *c, int64_t account, int64_t after, int limit, json_t **out);

#endif
