/* market.c — the market's queries: book snapshot, orders, trades, journal, budgets and the
 * background work (settlement, expiry, book events).  Money logic is in the stored
 * functions of schema/003_market.sql; this file only calls them. */
#include "suanli/db/market.h"
#include "internal.h"
#include "suanli/core/vocab.h"
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Orders, trades, balances, postings and the settings leave as api_order(), api_trade(),
 * api_balances(), api_posting() and api_exchange_settings() of schema/022_api_objects.sql. */

/* Operator / party scope of trades: $2 party (tenant or provider), $3 regions JSON. */
#define TRADE_SCOPE                                                                                \
  " ($2::bigint IS NULL OR t.tenant_id = $2 OR t.provider_id = $2)"                                \
  " AND ($3::json IS NULL OR t.region IN (SELECT json_array_elements_text($3::json)))"

#define TEXT_ARRAY(n) "(SELECT array_agg(x) FROM json_array_elements_text(" n "::json) x)"

const sl_db_stmt sl_db_stmts_market[] = {
    {"order_insert",
     "INSERT INTO orders(tenant_id, state, request, gpus, duration_hours, earliest_start,"
     " latest_start, time_in_force, expires_at, accelerators, min_memory_gb, min_ncu_milli,"
     " max_price_minor, regions, excluded, clearing, clearing_region)"
     " VALUES ($1, 'open', $2::jsonb, $3, $4, to_timestamp($5::bigint), to_timestamp($6::bigint),"
     " $7, to_timestamp($8::bigint), " TEXT_ARRAY("$9") ", $10, $11, $12, " TEXT_ARRAY(
         "$13") ", " TEXT_ARRAY("$14") ", coalesce($15, 'continuous'), $16) RETURNING id"},
    {"order_lock_open", "SELECT request::text, tenant_id, gpus_filled, ncu_filled_milli FROM orders"
                        " WHERE id = $1 AND state = 'open'"
                        " FOR UPDATE"},
    /* the GPUs and NCU a part of the order bought (partial fills, schema/025 and 029) */
    {"order_add_filled", "UPDATE orders SET gpus_filled = gpus_filled + $2::int,"
                         " ncu_filled_milli = ncu_filled_milli + $3::bigint WHERE id = $1"},
    {"order_set_state",
     "UPDATE orders SET state = $2, reason = $3, updated_at = sl_now(),"
     " filled_at = CASE WHEN $2 = 'filled' THEN sl_now() ELSE filled_at END WHERE id = $1"},
    /* the same, returning the order as its API object (one round trip for an order's reply) */
    {"order_set_state_get",
     "WITH o AS (UPDATE orders SET state = $2, reason = $3, updated_at = sl_now(),"
     " filled_at = CASE WHEN $2 = 'filled' THEN sl_now() ELSE filled_at END WHERE id = $1"
     " RETURNING *) SELECT j::text FROM o, api_order(o) j"},
    {"order_get", "SELECT j::text FROM orders o, api_order(o) j"
                  " WHERE o.id = $1 AND ($2::bigint IS NULL OR o.tenant_id = $2)"},
    {"orders_list",
     "SELECT coalesce(json_agg(j ORDER BY id), '[]')::text FROM ("
     " SELECT o.id, j FROM orders o, api_order(o) j"
     " WHERE ($1::bigint IS NULL OR o.tenant_id = $1) AND ($2::text IS NULL OR o.state = $2)"
     "   AND o.id > $3 ORDER BY o.id LIMIT $4) s"},
    {"order_cancel", "WITH o AS (UPDATE orders SET state = 'cancelled', updated_at = sl_now(),"
                     " reason = CASE WHEN $2::bigint IS NULL THEN 'cancelled by an admin'"
                     "          ELSE 'cancelled by the tenant' END"
                     " WHERE id = $1 AND ($2::bigint IS NULL OR tenant_id = $2)"
                     " AND state = 'open' RETURNING *) SELECT j::text FROM o, api_order(o) j"},
    {"trade_buy",
     "SELECT out_trade, out_outcome FROM sl_trade($1, $2, $3, to_timestamp($4::bigint),"
     " $5::int, $6::int, $7)"},
    {"trade_get", "SELECT j::text FROM trades t, api_trade(t) j WHERE t.id = $1 AND" TRADE_SCOPE},
    {"trades_list", "SELECT coalesce(json_agg(j ORDER BY id), '[]')::text FROM ("
                    " SELECT t.id, j FROM trades t, api_trade(t) j WHERE t.id > $1 AND" TRADE_SCOPE
                    " AND ($4::bigint IS NULL OR t.order_id = $4) ORDER BY t.id LIMIT $5) s"},
    {"trade_cancel", "SELECT out_outcome, out_refund, out_charge FROM sl_cancel_trade($1, $2)"},
    {"deposit", "SELECT sl_deposit($1, $2, $3)"},
    {"withdraw", "SELECT coalesce(sl_withdraw($1, $2, $3), 0)"},
    {"balances", "SELECT j::text FROM accounts a, api_balances(a, sl_now()) j WHERE a.id = $1"},
    {"postings_list", "SELECT coalesce(json_agg(j ORDER BY id), '[]')::text FROM ("
                      " SELECT p.id, x AS j"
                      " FROM postings p JOIN ledger_accounts l ON l.id = p.ledger_account_id"
                      " JOIN journal_txns j ON j.id = p.txn_id, api_posting(p, j, l) x"
                      " WHERE l.owner_id = $1 AND p.id > $2 ORDER BY p.id LIMIT $3) s"},
    {"budget_set", "INSERT INTO tenant_budgets(account_id, hourly_cap_minor, monthly_cap_minor)"
                   " VALUES ($1, $2, $3) ON CONFLICT (account_id) DO UPDATE SET"
                   " hourly_cap_minor = EXCLUDED.hourly_cap_minor,"
                   " monthly_cap_minor = EXCLUDED.monthly_cap_minor, updated_at = sl_now()"},
    {"budget_get",
     "SELECT coalesce(b.hourly_cap_minor, -1), coalesce(b.monthly_cap_minor, -1),"
     /* the month's spending only under a monthly cap: it reads the tenant's month of trades */
     " CASE WHEN b.monthly_cap_minor IS NULL THEN 0 ELSE"
     " coalesce((SELECT sum(total_minor - refunded_minor) FROM trades"
     "   WHERE tenant_id = $1 AND created_at >= date_trunc('month', sl_now())), 0) END"
     " FROM (SELECT $1::bigint AS id) a LEFT JOIN tenant_budgets b ON b.account_id = a.id"},
    {"settings_get", "SELECT j::text FROM exchange_settings s, api_exchange_settings(s) j"},
    {"settings_set",
     "UPDATE exchange_settings SET fee_bp = coalesce($1, fee_bp),"
     " cancel_free_hours = coalesce($2, cancel_free_hours),"
     " cancel_charge_bp = coalesce($3, cancel_charge_bp),"
     " heartbeat_timeout_s = coalesce($4, heartbeat_timeout_s),"
     " adapter_failure_limit = coalesce($5, adapter_failure_limit), updated_at = sl_now()"},
    {"settle_due", "SELECT count(*) FILTER (WHERE sl_settle(id)) FROM ("
                   " SELECT id FROM trades WHERE state = 'booked' AND end_at <= sl_now()"
                   " ORDER BY end_at LIMIT $1 FOR UPDATE SKIP LOCKED) d"},
    {"expire_orders", "WITH e AS (UPDATE orders SET state = 'expired', updated_at = sl_now(),"
                      " reason = CASE WHEN expires_at <= sl_now() THEN 'deadline passed' ELSE "
                      "'latest start passed' END"
                      " WHERE state = 'open' AND (expires_at <= sl_now() OR latest_start < "
                      "date_trunc('hour', sl_now()))"
                      " RETURNING 1) SELECT count(*) FROM e"},
    {"book_events_take",
     "WITH ev AS (DELETE FROM book_events WHERE id IN ("
     "  SELECT id FROM book_events ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)"
     "  RETURNING pool_id, order_id)"
     " SELECT json_build_object('events', (SELECT count(*) FROM ev), 'orders',"
     "  (SELECT coalesce(json_agg(DISTINCT x.id), '[]') FROM ("
     "   SELECT order_id AS id FROM ev WHERE order_id IS NOT NULL"
     "   UNION SELECT o.id"
     "   FROM (SELECT DISTINCT pool_id FROM ev WHERE pool_id IS NOT NULL) e"
     "   JOIN pools p ON p.id = e.pool_id AND p.status = 'active'"
     "   JOIN accelerators a ON a.id = p.accelerator_id"
     "   JOIN orders o ON o.state = 'open' AND o.clearing = 'continuous'"
     "    AND o.latest_start >= date_trunc('hour', sl_now())"
     "    AND (o.accelerators IS NULL OR p.accelerator_id IN (SELECT n.accelerator_id"
     "     FROM accelerator_names n WHERE n.name IN (SELECT lower(x) FROM unnest(o.accelerators) "
     "x)))"
     "    AND (o.min_memory_gb IS NULL OR a.memory_gb >= o.min_memory_gb)"
     "    AND (o.min_ncu_milli IS NULL OR a.score_milli >= o.min_ncu_milli)"
     "    AND (o.max_price_minor IS NULL OR p.price_minor <= o.max_price_minor)"
     "    AND (o.regions IS NULL OR p.region = ANY(o.regions))"
     "    AND (o.excluded IS NULL OR NOT (p.region = ANY(o.excluded)))"
     "    AND p.available_until > o.earliest_start AND p.available_from <= o.latest_start) "
     "x))::text"},
    {"order_wake",
     "WITH i AS (INSERT INTO book_events(order_id, cause) VALUES ($1, $2) RETURNING 1)"
     " SELECT pg_notify('suanli_book', 'order') FROM i"},
    {"tenant_wake", "SELECT sl_wake_tenant_orders($1, $2)"},
    {"region_unknown",
     "SELECT x FROM json_array_elements_text($1::json) WITH ORDINALITY AS t(x, i)"
     " WHERE NOT EXISTS (SELECT 1 FROM regions WHERE code = x) ORDER BY i LIMIT 1"},
    {"accel_unknown", "SELECT x FROM json_array_elements_text($1::json) WITH ORDINALITY AS t(x, i)"
                      " WHERE NOT EXISTS (SELECT 1 FROM accelerator_names WHERE name = lower(x)) "
                      "ORDER BY i LIMIT 1"},
    {"accel_rated",
     "SELECT EXISTS (SELECT 1 FROM accelerator_names n JOIN accelerators a"
     " ON a.id = n.accelerator_id WHERE a.score_milli > 0"
     " AND n.name IN (SELECT lower(x) FROM json_array_elements_text($1::json) AS t(x)))"},
    {"book_pools", "SELECT p.id, p.owner_id, p.region, p.accelerator_id, coalesce(a.memory_gb, -1),"
                   " coalesce(a.score_milli, -1), p.intra_node, p.inter_node, p.inter_node_gbps,"
                   " p.price_minor, extract(epoch FROM p.available_from)::bigint,"
                   " extract(epoch FROM p.available_until)::bigint, p.status, p.health, p.gpu_count"
                   " FROM pools p JOIN accelerators a ON a.id = p.accelerator_id"
                   " WHERE p.status <> 'retired'"},
    {"book_slots", "SELECT pool_id, extract(epoch FROM slot)::bigint, booked FROM pool_slots"
                   " WHERE slot >= to_timestamp($1::bigint) AND slot <= to_timestamp($2::bigint)"
                   " AND booked > 0"},
    {"book_pools_in",
     "SELECT p.id, p.owner_id, p.region, p.accelerator_id, coalesce(a.memory_gb, -1),"
     " coalesce(a.score_milli, -1), p.intra_node, p.inter_node, p.inter_node_gbps,"
     " p.price_minor, extract(epoch FROM p.available_from)::bigint,"
     " extract(epoch FROM p.available_until)::bigint, p.status, p.health, p.gpu_count"
     " FROM pools p JOIN accelerators a ON a.id = p.accelerator_id"
     " WHERE p.id = ANY($1::bigint[]) ORDER BY p.id"},
    {"book_slots_in",
     "SELECT pool_id, extract(epoch FROM slot)::bigint, booked FROM pool_slots"
     " WHERE pool_id = ANY($1::bigint[]) AND slot >= to_timestamp($2::bigint)"
     " AND slot <= to_timestamp($3::bigint) AND booked > 0 ORDER BY pool_id, slot"},
    {"book_latency", "SELECT from_region, to_region, rtt_us, source = 'estimated' FROM region_rtt"},
    {"feed_xmin", "SELECT pg_snapshot_xmin(pg_current_snapshot())::text"},
    {"feed_read", "SELECT pg_snapshot_xmin(pg_current_snapshot())::text,"
                  " (SELECT pruned_xid::text FROM market_feed_state), c.kind, c.pool_id,"
                  " extract(epoch FROM c.slot_from)::bigint, extract(epoch FROM c.slot_to)::bigint"
                  " FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT * FROM market_changes"
                  "  WHERE xid >= $1::text::xid8 ORDER BY seq LIMIT $2) c ON true"},
    {"feed_prune",
     "WITH d AS (DELETE FROM market_changes WHERE at < now() - make_interval(secs => $1::int)"
     "  RETURNING xid),"
     " m AS (SELECT xid FROM d ORDER BY xid DESC LIMIT 1)"
     " UPDATE market_feed_state s SET pruned_xid = m.xid FROM m WHERE m.xid > s.pruned_xid"},
    {NULL, NULL},
};

static char *field_copy(char *dst, size_t n, const char *src) {
  snprintf(dst, n, "%s", src);
  return dst;
}

sl_dbrc sl_db_order_insert(sl_dbc *c, const sl_db_order_new *o, int64_t *id) {
  char b1[24], b3[24], b4[24], b5[24], b6[24], b8[24], b10[24], b11[24], b12[24];
  char *req = json_dumps(o->request, JSON_COMPACT | JSON_SORT_KEYS);
  char *acc = o->accelerators ? json_dumps(o->accelerators, JSON_COMPACT) : NULL;
  char *reg = o->regions ? json_dumps(o->regions, JSON_COMPACT) : NULL;
  char *exc = o->excluded ? json_dumps(o->excluded, JSON_COMPACT) : NULL;
  const char *v[16] = {sl_db_i64(b1, o->tenant_id),
                       req,
                       sl_db_i64(b3, o->gpus),
                       sl_db_i64(b4, o->duration_hours),
                       sl_db_i64(b5, o->earliest_start),
                       sl_db_i64(b6, o->latest_start),
                       o->time_in_force,
                       sl_db_i64_opt(b8, o->expires_at, 0),
                       acc,
                       sl_db_i64_opt(b10, o->min_memory_gb, -1),
                       sl_db_i64_opt(b11, o->min_ncu_milli, -1),
                       sl_db_i64_opt(b12, o->max_price_minor, -1),
                       reg,
                       exc,
                       o->clearing,
                       o->clearing_region};
  sl_dbrc rc = req ? sl_db_int(c, "order_insert", 16, v, id) : SL_DB_HARD;
  free(req);
  free(acc);
  free(reg);
  free(exc);
  return rc;
}

sl_dbrc sl_db_order_lock_open(sl_dbc *c, int64_t id, json_t **request, int64_t *tenant,
                              int32_t *filled, int64_t *ncu_filled) {
  char b[24];
  const char *v[1] = {sl_db_i64(b, id)};
  PGresult *r;
  *request = NULL;
  sl_dbrc rc = sl_db_exec_row(c, "order_lock_open", 1, v, &r);
  if (rc != SL_DB_OK) return rc;
  *request = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
  *tenant = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
  *filled = (int32_t)strtol(PQgetvalue(r, 0, 2), NULL, 10);
  *ncu_filled = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
  PQclear(r);
  return *request ? SL_DB_OK : SL_DB_HARD;
}

sl_dbrc sl_db_order_add_filled(sl_dbc *c, int64_t id, int32_t gpus, int64_t ncu_milli) {
  char b[24], g[24], n[24];
  const char *v[3] = {sl_db_i64(b, id), sl_db_i64(g, gpus), sl_db_i64(n, ncu_milli)};
  return sl_db_exec(c, "order_add_filled", 3, v, NULL);
}

sl_dbrc sl_db_order_set_state(sl_dbc *c, int64_t id, const char *state, const char *reason) {
  char b[24];
  const char *v[3] = {sl_db_i64(b, id), state, reason ? reason : ""};
  return sl_db_exec(c, "order_set_state", 3, v, NULL);
}

sl_dbrc sl_db_order_set_state_get(sl_dbc *c, int64_t id, const char *state, const char *reason,
                                  json_t **order) {
  char b[24];
  const char *v[3] = {sl_db_i64(b, id), state, reason ? reason : ""};
  return sl_db_json(c, "order_set_state_get", 3, v, order);
}

sl_dbrc sl_db_order_get(sl_dbc *c, int64_t id, int64_t tenant, json_t **out) {
  char b1[24], b2[24];
  const char *v[2] = {sl_db_i64(b1, id), sl_db_i64_opt(b2, tenant, 0)};
  return sl_db_json(c, "order_get", 2, v, out);
}

sl_dbrc sl_db_orders_list(sl_dbc *c, int64_t tenant, const char *state, int64_t after, int limit,
                          json_t **out) {
  char b1[24], b3[24], b4[24];
  const char *v[4] = {sl_db_i64_opt(b1, tenant, 0), state, sl_db_i64(b3, after),
                      sl_db_i64(b4, limit)};
  return sl_db_json(c, "orders_list", 4, v, out);
}

sl_dbrc sl_db_order_cancel(sl_dbc *c, int64_t id, int64_t tenant, json_t **out) {
  char b1[24], b2[24];
  const char *v[2] = {sl_db_i64(b1, id), sl_db_i64_opt(b2, tenant, 0)};
  sl_dbrc rc = sl_db_json(c, "order_cancel", 2, v, out);
  if (rc != SL_DB_NOROWS) return rc;
  /* distinguish "not yours / unknown" from "no longer open" */
  json_t *o;
  if (sl_db_order_get(c, id, tenant, &o) == SL_DB_OK) {
    *out = o;
    return SL_DB_CHECK;
  }
  return SL_DB_NOROWS;
}

/* The registry's string for an outcome of sl_trade() or sl_cancel_trade(), or "unknown". */
static const char *intern_outcome(const char *s) {
  sl_vocab v = sl_vocab_parse(SL_VD_TRADE_OUTCOME, s);
  if (v == SL_VOCAB_NONE) v = sl_vocab_parse(SL_VD_CANCEL_OUTCOME, s);
  return v == SL_VOCAB_NONE ? "unknown" : sl_vocab_name(v);
}

sl_dbrc sl_db_trade(sl_dbc *c, int64_t order, int64_t tenant, int64_t pool, int64_t start,
                    int64_t hours, int64_t gpus, int64_t unit_minor, int64_t *trade,
                    const char **outcome) {
  char b[7][24];
  const char *v[7] = {sl_db_i64(b[0], order),     sl_db_i64(b[1], tenant), sl_db_i64(b[2], pool),
                      sl_db_i64(b[3], start),     sl_db_i64(b[4], hours),  sl_db_i64(b[5], gpus),
                      sl_db_i64(b[6], unit_minor)};
  PGresult *r;
  sl_dbrc rc = sl_db_exec(c, "trade_buy", 7, v, &r);
  if (rc != SL_DB_OK) return rc;
  *trade = PQgetisnull(r, 0, 0) ? 0 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  *outcome = intern_outcome(PQgetvalue(r, 0, 1));
  PQclear(r);
  return SL_DB_OK;
}

sl_dbrc sl_db_trade_get(sl_dbc *c, int64_t id, const sl_trade_scope *s, json_t **out) {
  char b1[24], b2[24];
  char *regions;
  const char *v[3];
  v[0] = sl_db_i64(b1, id);
  regions = sl_db_scope_params(v + 1, b2, s ? s->party : 0, s ? s->regions : NULL);
  sl_dbrc rc = sl_db_json(c, "trade_get", 3, v, out);
  free(regions);
  return rc;
}

sl_dbrc sl_db_trades_list(sl_dbc *c, const sl_trade_scope *s, int64_t order, int64_t after,
                          int limit, json_t **out) {
  char b1[24], b2[24], b4[24], b5[24];
  char *regions;
  const char *v[5];
  v[0] = sl_db_i64(b1, after);
  regions = sl_db_scope_params(v + 1, b2, s ? s->party : 0, s ? s->regions : NULL);
  v[3] = sl_db_i64_opt(b4, order, 0);
  v[4] = sl_db_i64(b5, limit);
  sl_dbrc rc = sl_db_json(c, "trades_list", 5, v, out);
  free(regions);
  return rc;
}

sl_dbrc sl_db_trade_cancel(sl_dbc *c, int64_t trade, int64_t tenant, const char **outcome,
                           int64_t *refund, int64_t *charge) {
  char b1[24], b2[24];
  const char *v[2] = {sl_db_i64(b1, trade), sl_db_i64_opt(b2, tenant, 0)};
  PGresult *r;
  sl_dbrc rc = sl_db_exec(c, "trade_cancel", 2, v, &r);
  if (rc != SL_DB_OK) return rc;
  *outcome = intern_outcome(PQgetvalue(r, 0, 0));
  *refund = PQgetisnull(r, 0, 1) ? 0 : strtoll(PQgetvalue(r, 0, 1), NULL, 10);
  *charge = PQgetisnull(r, 0, 2) ? 0 : strtoll(PQgetvalue(r, 0, 2), NULL, 10);
  PQclear(r);
  return SL_DB_OK;
}

sl_dbrc sl_db_deposit(sl_dbc *c, int64_t account, int64_t amount, const char *memo, int64_t *txn) {
  char b1[24], b2[24];
  const char *v[3] = {sl_db_i64(b1, account), sl_db_i64(b2, amount), memo ? memo : ""};
  return sl_db_int(c, "deposit", 3, v, txn);
}

sl_dbrc sl_db_withdraw(sl_dbc *c, int64_t account, int64_t amount, const char *memo, int64_t *txn) {
  char b1[24], b2[24];
  const char *v[3] = {sl_db_i64(b1, account), sl_db_i64(b2, amount), memo ? memo : ""};
  return sl_db_int(c, "withdraw", 3, v, txn);
}

sl_dbrc sl_db_balances(sl_dbc *c, int64_t account, json_t **out) {
  return sl_db_json_id(c, "balances", account, out);
}

sl_dbrc sl_db_postings_list(sl_dbc *c, int64_t account, int64_t after, int limit, json_t **out) {
  char b1[24], b2[24], b3[24];
  const char *v[3] = {sl_db_i64(b1, account), sl_db_i64(b2, after), sl_db_i64(b3, limit)};
  return sl_db_json(c, "postings_list", 3, v, out);
}

sl_dbrc sl_db_budget_set(sl_dbc *c, int64_t account, int64_t hourly, int64_t monthly) {
  char b1[24], b2[24], b3[24];
  const char *v[3] = {sl_db_i64(b1, account), sl_db_i64_opt(b2, hourly, -1),
                      sl_db_i64_opt(b3, monthly, -1)};
  return sl_db_exec(c, "budget_set", 3, v, NULL);
}

sl_dbrc sl_db_budget_get(sl_dbc *c, int64_t account, int64_t *hourly, int64_t *monthly,
                         int64_t *spent_month) {
  PGresult *r;
  sl_dbrc rc = sl_db_exec_id(c, "budget_get", account, &r);
  if (rc != SL_DB_OK) return rc;
  *hourly = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  *monthly = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
  *spent_month = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
  PQclear(r);
  return SL_DB_OK;
}

sl_dbrc sl_db_settings_get(sl_dbc *c, json_t **out) {
  return sl_db_json(c, "settings_get", 0, NULL, out);
}

sl_dbrc sl_db_settings_set(sl_dbc *c, int64_t fee_bp, int64_t free_hours, int64_t charge_bp,
                           int64_t heartbeat_timeout_s, int64_t adapter_failure_limit) {
  char b1[24], b2[24], b3[24], b4[24], b5[24];
  const char *v[5] = {sl_db_i64_opt(b1, fee_bp, -1), sl_db_i64_opt(b2, free_hours, -1),
                      sl_db_i64_opt(b3, charge_bp, -1), sl_db_i64_opt(b4, heartbeat_timeout_s, -1),
                      sl_db_i64_opt(b5, adapter_failure_limit, -1)};
  return sl_db_exec(c, "settings_set", 5, v, NULL);
}

sl_dbrc sl_db_settle_due(sl_dbc *c, int limit, int *done) {
  int64_t n = 0;
  sl_dbrc rc = sl_db_int_id(c, "settle_due", limit, &n);
  *done = (int)n;
  return rc;
}

sl_dbrc sl_db_expire_orders(sl_dbc *c, int *done) {
  int64_t n = 0;
  sl_dbrc rc = sl_db_int(c, "expire_orders", 0, NULL, &n);
  *done = (int)n;
  return rc;
}

sl_dbrc sl_db_book_events_take(sl_dbc *c, int limit, json_t **out) {
  return sl_db_json_id(c, "book_events_take", limit, out);
}

sl_dbrc sl_db_savepoint(sl_dbc *c, const char *name) {
  char q[80];
  snprintf(q, sizeof q, "SAVEPOINT %s", name);
  return sl_db_simple(c, q);
}

void sl_db_rollback_to_savepoint(sl_dbc *c, const char *name) {
  char q[80];
  snprintf(q, sizeof q, "ROLLBACK TO SAVEPOINT %s", name);
  if (sl_db_simple(c, q) == SL_DB_OK) c->failed = SL_DB_OK; /* the transaction is usable again */
}

bool sl_db_wait_notify(sl_dbc *c, const char *channel, int timeout_ms) {
  if (!c->pg) return false;
  if (!c->listening) {
    char *id = PQescapeIdentifier(c->pg, channel, strlen(channel));
    char q[128];
    snprintf(q, sizeof q, "LISTEN %s", id ? id : "suanli");
    PQfreemem(id);
    PGresult *r = PQexec(c->pg, q);
    c->listening = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!c->listening) return false;
  }
  PGnotify *n = NULL;
  PQconsumeInput(c->pg);
  if ((n = PQnotifies(c->pg)) == NULL) {
    int fd = PQsocket(c->pg);
    if (fd < 0) return false;
    /* poll, not select: a descriptor >= FD_SETSIZE would corrupt an fd_set. */
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, timeout_ms) > 0) {
      if (!PQconsumeInput(c->pg)) {
        c->prepared = false; /* the connection broke: reconnect on next acquire */
        c->listening = false;
        return false;
      }
      n = PQnotifies(c->pg);
    }
  }
  bool got = n != NULL;
  while (n) {
    PQfreemem(n);
    n = PQnotifies(c->pg);
  }
  return got;
}

/* The first code of `codes` (a JSON array of strings) that names no region / accelerator. */
static const char *const unknown_sql[] = {"region_unknown", "accel_unknown"};
sl_dbrc sl_db_first_unknown(sl_dbc *c, bool accelerators, const json_t *codes, char **first) {
  *first = NULL;
  char *js = json_dumps(codes, JSON_COMPACT);
  if (!js) return SL_DB_HARD;
  const char *v[1] = {js};
  PGresult *r;
  sl_dbrc rc = sl_db_exec(c, unknown_sql[accelerators ? 1 : 0], 1, v, &r);
  free(js);
  if (rc != SL_DB_OK) return rc;
  if (PQntuples(r) > 0) *first = strdup(PQgetvalue(r, 0, 0));
  PQclear(r);
  return SL_DB_OK;
}

sl_dbrc sl_db_any_rated(sl_dbc *c, const json_t *codes, bool *any) {
  *any = false;
  char *js = json_dumps(codes, JSON_COMPACT);
  if (!js) return SL_DB_HARD;
  const char *v[1] = {js};
  PGresult *r;
  sl_dbrc rc = sl_db_exec(c, "accel_rated", 1, v, &r);
  free(js);
  if (rc != SL_DB_OK) return rc;
  *any = PQntuples(r) > 0 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
  PQclear(r);
  return SL_DB_OK;
}

sl_dbrc sl_db_order_wake(sl_dbc *c, int64_t order, const char *cause) {
  char b[24];
  const char *v[2] = {sl_db_i64(b, order), cause};
  return sl_db_exec(c, "order_wake", 2, v, NULL);
}

sl_dbrc sl_db_tenant_wake(sl_dbc *c, int64_t tenant, const char *cause) {
  char b[24];
  const char *v[2] = {sl_db_i64(b, tenant), cause};
  return sl_db_exec(c, "tenant_wake", 2, v, NULL);
}

/* ---- the capacity book's loads and its change feed (schema/009_market_feed.sql) ---- */

/* One row of book_pools / book_pools_in as an sl_db_pool_row (rtt_us -1). */
static bool pool_row(PGresult *r, int k, void *row) {
  sl_db_pool_row *p = row;
  p->id = sl_db_col_i64(r, k, 0);
  p->owner_id = sl_db_col_i64(r, k, 1);
  field_copy(p->region, sizeof p->region, PQgetvalue(r, k, 2));
  field_copy(p->accelerator, sizeof p->accelerator, PQgetvalue(r, k, 3));
  p->memory_gb = (int32_t)sl_db_col_i64(r, k, 4);
  p->ncu_milli = sl_db_col_i64(r, k, 5);
  field_copy(p->intra, sizeof p->intra, PQgetvalue(r, k, 6));
  field_copy(p->inter, sizeof p->inter, PQgetvalue(r, k, 7));
  p->inter_gbps = (int32_t)sl_db_col_i64(r, k, 8);
  p->price_minor = sl_db_col_i64(r, k, 9);
  p->avail_from = sl_db_col_i64(r, k, 10);
  p->avail_until = sl_db_col_i64(r, k, 11);
  field_copy(p->status, sizeof p->status, PQgetvalue(r, k, 12));
  field_copy(p->health, sizeof p->health, PQgetvalue(r, k, 13));
  p->gpu_count = (int32_t)sl_db_col_i64(r, k, 14);
  p->rtt_us = -1;
  return true;
}

static sl_dbrc book_pool_rows(sl_dbc *c, const char *stmt, const char *param, sl_db_pool_row **rows,
                              size_t *n) {
  const char *v[1] = {param};
  return sl_db_rows_map(c, stmt, 1, v, sizeof **rows, pool_row, (void **)rows, n);
}

struct pool_each {
  sl_db_pool_fn fn;
  void *arg;
};

static bool pool_each(PGresult *r, void *arg) {
  struct pool_each *e = arg;
  sl_db_pool_row row;
  pool_row(r, 0, &row);
  return e->fn(&row, e->arg);
}

sl_dbrc sl_db_book_pools_each(sl_dbc *c, sl_db_pool_fn fn, void *arg) {
  struct pool_each e = {fn, arg};
  return sl_db_rows_each(c, "book_pools", 0, NULL, pool_each, &e);
}

/* ids as a PostgreSQL array literal "{1,2,3}" (malloc'd). */
static char *id_array(const int64_t *ids, size_t n) {
  char *a = malloc(n * 21 + 3), *w = a;
  if (!a) return NULL;
  *w++ = '{';
  for (size_t i = 0; i < n; i++) w += sprintf(w, "%s%lld", i ? "," : "", (long long)ids[i]);
  *w++ = '}';
  *w = '\0';
  return a;
}

sl_dbrc sl_db_book_pools_in(sl_dbc *c, const int64_t *ids, size_t nids, sl_db_pool_row **rows,
                            size_t *n) {
  char *a = id_array(ids, nids);
  if (!a) return SL_DB_HARD;
  sl_dbrc rc = book_pool_rows(c, "book_pools_in", a, rows, n);
  free(a);
  return rc;
}

/* One row of book_slots / book_slots_in. */
static bool slot_row(PGresult *r, int i, void *row) {
  sl_db_booking *b = row;
  b->pool_id = sl_db_col_i64(r, i, 0);
  b->slot = sl_db_col_i64(r, i, 1);
  b->booked = (int32_t)sl_db_col_i64(r, i, 2);
  return true;
}

static sl_dbrc book_slot_rows(sl_dbc *c, const char *stmt, const char *first, int64_t from,
                              int64_t to, sl_db_booking **rows, size_t *n) {
  char b2[24], b3[24];
  const char *v[3] = {first, sl_db_i64(b2, from), sl_db_i64(b3, to)};
  return sl_db_rows_map(c, stmt, 3, v, sizeof **rows, slot_row, (void **)rows, n);
}

sl_dbrc sl_db_book_slots_in(sl_dbc *c, const int64_t *ids, size_t nids, int64_t from, int64_t to,
                            sl_db_booking **rows, size_t *n) {
  char *a = id_array(ids, nids);
  if (!a) return SL_DB_HARD;
  sl_dbrc rc = book_slot_rows(c, "book_slots_in", a, from, to, rows, n);
  free(a);
  return rc;
}

struct slot_acc {
  sl_db_booking *rows;
  size_t n, cap;
};

/* Append one streamed row to the growing array (doubling). */
static bool slot_each(PGresult *r, void *arg) {
  struct slot_acc *a = arg;
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 4096;
    sl_db_booking *g = realloc(a->rows, cap * sizeof *g);
    if (!g) return false;
    a->rows = g;
    a->cap = cap;
  }
  return slot_row(r, 0, &a->rows[a->n++]);
}

sl_dbrc sl_db_book_slots(sl_dbc *c, int64_t from, int64_t to, sl_db_booking **rows, size_t *n) {
  char b1[24], b2[24];
  const char *v[2] = {sl_db_i64(b1, from), sl_db_i64(b2, to)};
  struct slot_acc a = {0};
  sl_dbrc rc = sl_db_rows_each(c, "book_slots", 2, v, slot_each, &a);
  if (rc == SL_DB_OK && !a.rows) a.rows = malloc(sizeof *a.rows); /* never NULL on success */
  if (rc == SL_DB_OK && !a.rows) rc = SL_DB_HARD;
  if (rc != SL_DB_OK) {
    free(a.rows);
    a.rows = NULL;
    a.n = 0;
  }
  *rows = a.rows;
  *n = a.n;
  return rc;
}

static bool rtt_row(PGresult *r, int i, void *row) {
  sl_db_rtt_row *t = row;
  field_copy(t->from, sizeof t->from, PQgetvalue(r, i, 0));
  field_copy(t->to, sizeof t->to, PQgetvalue(r, i, 1));
  t->rtt_us = sl_db_col_i64(r, i, 2);
  t->estimated = PQgetvalue(r, i, 3)[0] == 't';
  return true;
}

sl_dbrc sl_db_book_latency(sl_dbc *c, sl_db_rtt_row **rows, size_t *n) {
  return sl_db_rows_map(c, "book_latency", 0, NULL, sizeof **rows, rtt_row, (void **)rows, n);
}

sl_dbrc sl_db_feed_xmin(sl_dbc *c, uint64_t *xmin) {
  PGresult *r;
  sl_dbrc rc = sl_db_exec(c, "feed_xmin", 0, NULL, &r);
  if (rc != SL_DB_OK) return rc;
  *xmin = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
  PQclear(r);
  return SL_DB_OK;
}

sl_dbrc sl_db_feed_read(sl_dbc *c, uint64_t cursor, int limit, uint64_t *xmin, uint64_t *pruned,
                        sl_db_change **rows, size_t *n) {
  char b1[24], b2[24];
  snprintf(b1, sizeof b1, "%llu", (unsigned long long)cursor);
  const char *v[2] = {b1, sl_db_i64(b2, limit)};
  PGresult *r;
  sl_db_change *out;
  size_t cnt;
  *rows = NULL;
  *n = 0;
  sl_dbrc rc = sl_db_rows(c, "feed_read", 2, v, sizeof *out, &r, (void **)&out, &cnt);
  if (rc != SL_DB_OK) return rc;
  *xmin = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
  *pruned = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
  size_t m = 0;
  for (size_t i = 0; i < cnt; i++) {
    if (PQgetisnull(r, (int)i, 2)) continue; /* the LEFT JOIN's empty row */
    field_copy(out[m].kind, sizeof out[m].kind, PQgetvalue(r, (int)i, 2));
    out[m].pool_id = PQgetisnull(r, (int)i, 3) ? 0 : sl_db_col_i64(r, (int)i, 3);
    out[m].slot_from = PQgetisnull(r, (int)i, 4) ? 0 : sl_db_col_i64(r, (int)i, 4);
    out[m].slot_to = PQgetisnull(r, (int)i, 5) ? 0 : sl_db_col_i64(r, (int)i, 5);
    m++;
  }
  PQclear(r);
  *rows = out;
  *n = m;
  return SL_DB_OK;
}

sl_dbrc sl_db_feed_prune(sl_dbc *c, int older_than_s) {
  return sl_db_exec_id(c, "feed_prune", older_than_s, NULL);
}
