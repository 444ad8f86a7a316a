/* db/request_log.h — the request log: one row per mutating request (src/db/request_log.c). */
#ifndef SUANLI_DB_REQUEST_LOG_H
#define SUANLI_DB_REQUEST_LOG_H
#include "suanli/db/db.h"

typedef struct sl_request_log_row {
  const char *request_id, *method, *path, *action, *object, *outcome, *error, *client_addr;
  int64_t account_id, token_id; /* 0 = none */
  int status;
} sl_request_log_row;
sl_dbrc sl_db_request_log_insert(sl_dbc *c, const sl_request_log_row *a);
sl_dbrc sl_db_request_log_list(sl_dbc *c, int64_t account, int64_t after, int limit, json_t **out);

#endif
