/* audit.c — the audit log: one row per mutating request. */
#include "suanli/db/request_log.h"
#include "internal.h"

const sl_db_stmt sl_db_stmts_audit[] = {
    {"audit_insert",
     "INSERT INTO audit_log(request_id, account_id, token_id, method, path, action, object,"
     " status, outcome, error, client_addr)"
     " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"},
    {"audit_list", "SELECT coalesce(json_agg(j ORDER BY id), '[]')::text FROM ("
                   " SELECT l.id, j FROM audit_log l, api_audit_row(l) j"
                   " WHERE ($1::bigint IS NULL OR l.account_id = $1) AND l.id > $2"
                   " ORDER BY l.id LIMIT $3) s"},
    {NULL, NULL},
};

sl_dbrc sl_db_request_log_insert(sl_dbc *c, const sl_request_log_row *a) {
  char b1[24], b2[24], b3[24];
  const char *v[11] = {a->request_id,
                       sl_db_i64_opt(b1, a->account_id, 0),
                       sl_db_i64_opt(b2, a->token_id, 0),
                       a->method,
                       a->path,
                       a->action,
                       a->object ? a->object : "",
                       sl_db_i64(b3, a->status),
                       a->outcome,
                       a->error,
                       a->client_addr ? a->client_addr : ""};
  return sl_db_exec(c, "audit_insert", 11, v, NULL);
}

sl_dbrc sl_db_request_log_list(sl_dbc *c, int64_t account, int64_t after, int limit, json_t **out) {
  char b1[24], b2[24], b3[24];
  const char *v[3] = {sl_db_i64_opt(b1, account, 0), sl_db_i64(b2, after), sl_db_i64(b3, limit)};
  return sl_db_json(c, "audit_list", 3, v, out);
}
