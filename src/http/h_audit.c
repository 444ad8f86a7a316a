/* h_audit.c — GET /v1/audit (admin): the audit trail, oldest first. */
#include "internal.h"
#include "suanli/db/request_log.h"

void h_audit_list(sl_req *r) {
  int64_t after, account = 0;
  int limit;
  if (!sl_req_page_id(r, &after, &limit) ||
      !sl_req_query_int(r, "account", 1, INT64_C(9007199254740991), &account))
    return;
  json_t *items = NULL;
  sl_dbrc rc = sl_db_request_log_list(r->db, account, after, limit, &items);
  sl_reply_page(r, rc, items, limit, "id");
}
