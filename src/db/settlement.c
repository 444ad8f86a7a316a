/* settlement.c — accounting periods and the reads behind statements and exports. */
#include "suanli/db/settlement.h"
#include "internal.h"
#include "suanli/db/ledger_audit.h"
#include <stdlib.h>
#include <string.h>

/* Periods leave as api_period() of schema/022_api_objects.sql. */

const sl_db_stmt sl_db_stmts_settlement[] = {
    {"period_insert",
     "INSERT INTO periods(starts_at, ends_at, closed_by, export_sha256)"
     " VALUES (to_timestamp($1::bigint), to_timestamp($2::bigint), $3, decode($4, 'hex'))"
     " RETURNING id"},
    {"period_set_entry", "UPDATE periods SET ledger_entry = $2 WHERE id = $1"},
    {"period_get", "SELECT j::text FROM periods p, api_period(p) j WHERE p.id = $1"},
    {"period_bounds",
     "SELECT extract(epoch FROM starts_at)::bigint, extract(epoch FROM ends_at)::bigint"
     " FROM periods WHERE id = $1"},
    {"periods_list", "SELECT coalesce(json_agg(j ORDER BY p.starts_at), '[]')::text"
                     " FROM periods p, api_period(p) j"},
    {"period_lines",
     "SELECT account_id, account_kind, txn_id, sl_ts(at), kind, coalesce(trade_id, 0),"
     " coalesce(pool_id, 0), coalesce(region, ''), coalesce(gpu_hours, 0), available, escrow,"
     " fee, memo FROM sl_period_lines($1, to_timestamp($2::bigint), to_timestamp($3::bigint))"},
    {"balances_at", "SELECT available, escrow FROM sl_balances_at($1, to_timestamp($2::bigint))"},
    /* refunds paid back to tenants on a provider's trades in the period, per pool */
    {"refunds_borne",
     "SELECT t.pool_id, sum(p.amount) FROM journal_txns j JOIN trades t ON t.id = j.trade_id"
     " JOIN postings p ON p.txn_id = j.id JOIN ledger_accounts la ON la.id = p.ledger_account_id"
     " WHERE t.provider_id = $1 AND j.kind IN ('refund', 'cancellation')"
     "   AND la.purpose = 'available' AND la.owner_id = t.tenant_id"
     "   AND j.created_at >= to_timestamp($2::bigint) AND j.created_at < to_timestamp($3::bigint)"
     " GROUP BY t.pool_id ORDER BY t.pool_id"},
    /* per region: every trade sold in the period (what happened later — a cancellation, a
     * failover — shows in the refunds of the period it happened in, so a closed period's
     * summary never changes), its GPU-hours and gross, fees earned and refunds paid */
    {"region_summary",
     "WITH r AS (SELECT code FROM regions WHERE $3::json IS NULL"
     "           OR code IN (SELECT json_array_elements_text($3::json))),"
     " sold AS (SELECT t.region, count(*) AS trades, sum(t.gpus::bigint *"
     "   (extract(epoch FROM t.end_at - t.start_at)::bigint / 3600)) AS gpu_hours,"
     "   sum(t.total_minor) AS gross FROM trades t"
     "   WHERE t.created_at >= to_timestamp($1::bigint) AND t.created_at < to_timestamp($2::bigint)"
     "   GROUP BY t.region),"
     " money AS (SELECT t.region,"
     "   sum(p.amount) FILTER (WHERE la.purpose = 'fees') AS fees,"
     "   sum(p.amount) FILTER (WHERE la.purpose = 'available' AND la.owner_id = t.tenant_id"
     "     AND j.kind IN ('refund', 'cancellation')) AS refunds"
     "   FROM journal_txns j JOIN trades t ON t.id = j.trade_id JOIN postings p ON p.txn_id = j.id"
     "   JOIN ledger_accounts la ON la.id = p.ledger_account_id"
     "   WHERE j.created_at >= to_timestamp($1::bigint) AND j.created_at < to_timestamp($2::bigint)"
     "   GROUP BY t.region)"
     " SELECT r.code, coalesce(s.trades, 0), coalesce(s.gpu_hours, 0), coalesce(s.gross, 0),"
     " coalesce(m.fees, 0), coalesce(m.refunds, 0) FROM r"
     " LEFT JOIN sold s ON s.region = r.code LEFT JOIN money m ON m.region = r.code"
     " WHERE s.region IS NOT NULL OR m.region IS NOT NULL ORDER BY r.code"},
    {NULL, NULL},
};

sl_dbrc sl_db_period_insert(sl_dbc *c, int64_t from, int64_t to, int64_t closed_by,
                            const char *sha_hex, int64_t *id) {
  char b1[24], b2[24], b3[24];
  const char *v[4] = {sl_db_i64(b1, from), sl_db_i64(b2, to), sl_db_i64_opt(b3, closed_by, 0),
                      sha_hex};
  return sl_db_int(c, "period_insert", 4, v, id);
}

sl_dbrc sl_db_period_set_entry(sl_dbc *c, int64_t id, int64_t entry) {
  char b1[24], b2[24];
  const char *v[2] = {sl_db_i64(b1, id), sl_db_i64(b2, entry)};
  return sl_db_exec(c, "period_set_entry", 2, v, NULL);
}

sl_dbrc sl_db_period_get(sl_dbc *c, int64_t id, json_t **out) {
  return sl_db_json_id(c, "period_get", id, out);
}

sl_dbrc sl_db_period_bounds(sl_dbc *c, int64_t id, int64_t *from, int64_t *to) {
  PGresult *r;
  sl_dbrc rc = sl_db_exec_id(c, "period_bounds", id, &r);
  if (rc != SL_DB_OK) return rc;
  if (PQntuples(r) != 1) rc = SL_DB_NOROWS;
  else {
    *from = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    *to = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
  }
  PQclear(r);
  return rc;
}

sl_dbrc sl_db_periods_list(sl_dbc *c, json_t **out) {
  return sl_db_json(c, "periods_list", 0, NULL, out);
}

sl_dbrc sl_db_period_lines(sl_dbc *c, int64_t owner, int64_t from, int64_t to,
                           bool (*row)(int, const char *const *, const bool *, void *), void *arg) {
  char b1[24], b2[24], b3[24];
  const char *v[3] = {owner < 0 ? NULL : sl_db_i64(b1, owner), sl_db_i64(b2, from),
                      sl_db_i64(b3, to)};
  return sl_db_each(c, "period_lines", 3, v, row, arg);
}

sl_dbrc sl_db_balances_at(sl_dbc *c, int64_t owner, int64_t at, int64_t *available,
                          int64_t *escrow) {
  char b1[24], b2[24];
  const char *v[2] = {sl_db_i64(b1, owner), sl_db_i64(b2, at)};
  PGresult *r;
  sl_dbrc rc = sl_db_exec(c, "balances_at", 2, v, &r);
  if (rc != SL_DB_OK) return rc;
  *available = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  *escrow = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
  PQclear(r);
  return SL_DB_OK;
}

sl_dbrc sl_db_refunds_borne(sl_dbc *c, int64_t provider, int64_t from, int64_t to,
                            bool (*row)(int, const char *const *, const bool *, void *),
                            void *arg) {
  char b1[24], b2[24], b3[24];
  const char *v[3] = {sl_db_i64(b1, provider), sl_db_i64(b2, from), sl_db_i64(b3, to)};
  return sl_db_each(c, "refunds_borne", 3, v, row, arg);
}

sl_dbrc sl_db_region_summary(sl_dbc *c, int64_t from, int64_t to, const json_t *regions,
                             bool (*row)(int, const char *const *, const bool *, void *),
                             void *arg) {
  char b1[24], b2[24];
  char *rj = regions ? json_dumps(regions, JSON_COMPACT) : NULL;
  const char *v[3] = {sl_db_i64(b1, from), sl_db_i64(b2, to), rj};
  sl_dbrc rc = sl_db_each(c, "region_summary", 3, v, row, arg);
  free(rj);
  return rc;
}
