/* stats.c — read-only figures for the dashboard, the market view and /metrics.
 *
 * Every query reads a bounded window (the live calendar month, the next 14 days of slots,
 * the last day of dispatch work, N days of price history) through the indexes of
 * schema/008_stats.sql, or the all-time trade rollup that a trigger keeps in the trade's own
 * transaction; none scans the whole ledger.  Scope: $scope is a JSON array of region codes
 * (an operator's regions) or NULL (everything); money leaves as decimal strings (sl_money),
 * times as RFC 3339 UTC (sl_ts). */
#include "suanli/db/stats.h"
#include "internal.h"
#include <stdlib.h>

/* The regions in scope: $1 JSON array of codes or NULL for all. */
#define IN_SCOPE(col)                                                                              \
  "($1::jsonb IS NULL OR " col " IN (SELECT jsonb_array_elements_text($1::jsonb)))"

const sl_db_stmt sl_db_stmts_stats[] = {
    /* $1 scope, $2 one region or NULL, $3 start of the live period.  One object per region
     * (all regions in scope; without a scope only regions with pools). */
    {"stats_regions",
     "WITH rg AS (SELECT r.code, r.name, r.tier FROM regions r"
     "  WHERE " IN_SCOPE(
         "r.code") " AND ($2::text IS NULL OR r.code = $2)"
                   "    AND ($1::jsonb IS NOT NULL OR $2::text IS NOT NULL"
                   "         OR EXISTS (SELECT 1 FROM pools p WHERE p.region = r.code AND p.status "
                   "<> 'retired'))),"
                   " h AS (SELECT date_trunc('hour', sl_now()) AS h0),"
                   " pl AS (SELECT p.id, p.region, p.accelerator_id, p.health, p.status, "
                   "p.gpu_count,"
                   "   p.healthy_gpus, coalesce(a.score_milli, 0) AS ncu_milli,"
                   "   (p.status = 'active' AND p.available_from <= h.h0 AND p.available_until > "
                   "h.h0) AS open_now,"
                   "   CASE WHEN p.status = 'active' THEN greatest(0, extract(epoch FROM"
                   "     least(p.available_until, h.h0 + interval '336 hours') - "
                   "greatest(p.available_from, h.h0))::bigint / 3600)"
                   "   ELSE 0 END AS hours14"
                   "   FROM pools p JOIN accelerators a ON a.id = p.accelerator_id, h"
                   "  WHERE p.region IN (SELECT code FROM rg) AND p.status <> 'retired'),"
                   " bk AS (SELECT pl.region, sum(x.now_b) AS now_booked, sum(x.b14)::bigint AS "
                   "booked14"
                   "   FROM pl CROSS JOIN h CROSS JOIN LATERAL ("
                   "     SELECT coalesce(sum(s.booked) FILTER (WHERE s.slot = h.h0), 0) AS now_b,"
                   "       coalesce(sum(s.booked), 0) AS b14 FROM pool_slots s"
                   "     WHERE s.pool_id = pl.id AND s.slot >= h.h0 AND s.slot < h.h0 + interval "
                   "'336 hours') x"
                   "  GROUP BY pl.region),"
                   " cap AS (SELECT region, count(*) AS pools, sum(gpu_count) AS gpus,"
                   "   sum(gpu_count::bigint * ncu_milli)::bigint AS ncu_milli,"
                   "   coalesce(sum(gpu_count) FILTER (WHERE open_now), 0) AS gpus_open,"
                   "   sum(gpu_count::bigint * hours14)::bigint AS cap14 FROM pl GROUP BY region),"
                   " md AS (SELECT region, json_agg(json_build_object('accelerator', "
                   "accelerator_id, 'health', health,"
                   "   'pools', n, 'gpus', gpus, 'healthy_gpus', healthy, 'ncu', sl_milli(ncu))"
                   "   ORDER BY accelerator_id, health) AS j FROM ("
                   "   SELECT region, accelerator_id, health, count(*) AS n, sum(gpu_count) AS "
                   "gpus,"
                   "     sum(coalesce(healthy_gpus, 0)) AS healthy, sum(gpu_count::bigint * "
                   "ncu_milli)::bigint AS ncu"
                   "   FROM pl GROUP BY 1, 2, 3) x GROUP BY region),"
                   " tr AS (SELECT t.region, count(*) AS trades, count(DISTINCT t.order_id) AS "
                   "orders,"
                   "   sum(t.gpus::bigint * (extract(epoch FROM t.end_at - t.start_at)::bigint / "
                   "3600))::bigint AS gpu_hours,"
                   "   sum(t.total_minor - t.refunded_minor)::bigint AS revenue, "
                   "sum(t.fee_minor)::bigint AS fees,"
                   "   sum(t.refunded_minor)::bigint AS refunds"
                   "   FROM trades t WHERE t.region IN (SELECT code FROM rg) AND t.created_at >= "
                   "to_timestamp($3::bigint) GROUP BY t.region),"
                   " od AS (SELECT c.code AS region, o.state, o.reason FROM orders o"
                   "   CROSS JOIN LATERAL unnest(o.regions) AS c(code)"
                   "  WHERE o.created_at >= to_timestamp($3::bigint) AND o.state IN ('killed', "
                   "'open', 'expired')"
                   "    AND c.code IN (SELECT code FROM rg)),"
                   " oc AS (SELECT region, count(*) FILTER (WHERE state = 'killed') AS killed,"
                   "   count(*) FILTER (WHERE state = 'open') AS resting,"
                   "   count(*) FILTER (WHERE state = 'expired') AS expired FROM od GROUP BY "
                   "region),"
                   " rs AS (SELECT region, json_agg(json_build_object('reason', reason, 'orders', "
                   "n)"
                   "   ORDER BY n DESC, reason) AS j FROM ("
                   "   SELECT region, reason, count(*) AS n,"
                   "     row_number() OVER (PARTITION BY region ORDER BY count(*) DESC, reason) AS "
                   "k"
                   "   FROM od WHERE reason <> '' GROUP BY region, reason) x WHERE k <= 5 GROUP BY "
                   "region)"
                   " SELECT coalesce(json_agg(json_build_object("
                   "   'region', rg.code, 'name', rg.name, 'tier', rg.tier,"
                   "   'pools', coalesce(cap.pools, 0), 'gpus', coalesce(cap.gpus, 0),"
                   "   'ncu', sl_milli(coalesce(cap.ncu_milli, 0)),"
                   "   'gpus_open_now', coalesce(cap.gpus_open, 0),"
                   "   'gpus_booked_now', coalesce(bk.now_booked, 0),"
                   "   'gpu_hours_capacity_14d', coalesce(cap.cap14, 0),"
                   "   'gpu_hours_booked_14d', coalesce(bk.booked14, 0),"
                   "   'utilization_14d_bp', CASE WHEN coalesce(cap.cap14, 0) = 0 THEN 0"
                   "     ELSE least(10000, coalesce(bk.booked14, 0) * 10000 / cap.cap14) END,"
                   "   'by_model', coalesce(md.j, '[]'),"
                   "   'period', json_build_object('start', sl_ts(to_timestamp($3::bigint)), "
                   "'trades', coalesce(tr.trades, 0),"
                   "     'gpu_hours', coalesce(tr.gpu_hours, 0), 'revenue', "
                   "sl_money(coalesce(tr.revenue, 0)),"
                   "     'fees', sl_money(coalesce(tr.fees, 0)), 'refunds', "
                   "sl_money(coalesce(tr.refunds, 0))),"
                   "   'orders', json_build_object('filled', coalesce(tr.orders, 0), 'killed', "
                   "coalesce(oc.killed, 0),"
                   "     'resting', coalesce(oc.resting, 0), 'expired', coalesce(oc.expired, 0),"
                   "     'top_reasons', coalesce(rs.j, '[]'))"
                   "   ) ORDER BY rg.code), '[]')::text"
                   " FROM rg LEFT JOIN cap ON cap.region = rg.code LEFT JOIN bk ON bk.region = "
                   "rg.code"
                   " LEFT JOIN md ON md.region = rg.code LEFT JOIN tr ON tr.region = rg.code"
                   " LEFT JOIN oc ON oc.region = rg.code LEFT JOIN rs ON rs.region = rg.code"},

    /* $1 region, $2 hours (1..336): pools (first 100 by id) x hourly slots from this hour;
     * booked GPUs per slot, null where the pool is not available. */
    {"stats_utilization",
     "WITH h AS (SELECT date_trunc('hour', sl_now()) AS h0),"
     " pl AS (SELECT p.id, p.name, p.accelerator_id, p.gpu_count, p.available_from, "
     "p.available_until"
     "   FROM pools p WHERE p.region = $1 AND p.status <> 'retired' ORDER BY p.id LIMIT 100)"
     " SELECT json_build_object('region', $1::text, 'start', sl_ts(h.h0), 'hours', $2::int,"
     "  'pools', coalesce((SELECT json_agg(json_build_object('pool_id', pl.id, 'name', pl.name,"
     "     'accelerator', pl.accelerator_id, 'gpus', pl.gpu_count, 'booked', ("
     "       SELECT json_agg(CASE WHEN t >= pl.available_from AND t < pl.available_until"
     "                       THEN coalesce(s.booked, 0) END ORDER BY i)"
     "       FROM generate_series(0, $2::int - 1) i"
     "       CROSS JOIN LATERAL (SELECT h.h0 + i * interval '1 hour' AS t) g"
     "       LEFT JOIN pool_slots s ON s.pool_id = pl.id AND s.slot = g.t)) ORDER BY pl.id)"
     "   FROM pl), '[]'))::text FROM h"},

    /* $1 scope, $2 owner (providers) or NULL: pool health, silent pools, failovers and
     * refunds of the last 24 hours with their causes. */
    {"stats_health",
     "WITH st AS (SELECT heartbeat_timeout_s AS tmo FROM exchange_settings LIMIT 1),"
     " pl AS (SELECT p.* FROM pools p WHERE " IN_SCOPE(
         "p.region") "   AND ($2::bigint IS NULL OR p.owner_id = $2) AND p.status <> 'retired'),"
                     " sil AS (SELECT pl.id, pl.name, pl.region, pl.accelerator_id, pl.health, "
                     "pl.last_heartbeat_at"
                     "   FROM pl, st WHERE pl.status = 'active' AND pl.last_heartbeat_at IS NOT "
                     "NULL"
                     "     AND pl.last_heartbeat_at < sl_now() - st.tmo * interval '1 second'),"
                     " fo AS (SELECT t.region FROM trades t"
                     "   WHERE t.created_at >= sl_now() - interval '24 hours' AND "
                     "t.replaces_trade_id IS NOT NULL"
                     "     AND t.pool_id IN (SELECT id FROM pl)),"
                     " rf AS (SELECT j.memo, count(*) AS n, sum(-p.amount)::bigint AS amount FROM "
                     "journal_txns j"
                     "   JOIN trades t ON t.id = j.trade_id"
                     "   JOIN postings p ON p.txn_id = j.id AND p.amount < 0"
                     "   WHERE j.kind = 'refund' AND j.created_at >= sl_now() - interval '24 hours'"
                     "     AND t.pool_id IN (SELECT id FROM pl) GROUP BY j.memo)"
                     " SELECT json_build_object("
                     "  'heartbeat_timeout_s', (SELECT tmo FROM st),"
                     "  'by_health', coalesce((SELECT json_object_agg(health, n) FROM"
                     "     (SELECT health, count(*) AS n FROM pl GROUP BY health) x), '{}'),"
                     "  'pools', coalesce((SELECT json_agg(json_build_object('pool_id', id, "
                     "'name', name,"
                     "     'region', region, 'accelerator', accelerator_id, 'status', status, "
                     "'health', health,"
                     "     'gpus', gpu_count, 'healthy_gpus', healthy_gpus, 'utilization_bp', "
                     "utilization_bp,"
                     "     'last_heartbeat_at', sl_ts(last_heartbeat_at),"
                     "     'heartbeat_age_s', extract(epoch FROM sl_now() - "
                     "last_heartbeat_at)::bigint)"
                     "     ORDER BY last_heartbeat_at NULLS FIRST, id) FROM (SELECT * FROM pl"
                     "     ORDER BY last_heartbeat_at NULLS FIRST, id LIMIT 200) y), '[]'),"
                     "  'silent', coalesce((SELECT json_agg(json_build_object('pool_id', id, "
                     "'name', name,"
                     "     'region', region, 'accelerator', accelerator_id, 'health', health,"
                     "     'last_heartbeat_at', sl_ts(last_heartbeat_at)) ORDER BY "
                     "last_heartbeat_at, id)"
                     "     FROM (SELECT * FROM sil ORDER BY last_heartbeat_at, id LIMIT 50) z), "
                     "'[]'),"
                     "  'silent_count', (SELECT count(*) FROM sil),"
                     "  'failovers_24h', (SELECT count(*) FROM fo),"
                     "  'refunds_24h', coalesce((SELECT json_agg(json_build_object('cause', memo, "
                     "'refunds', n,"
                     "     'amount', sl_money(amount)) ORDER BY n DESC, memo) FROM (SELECT * FROM "
                     "rf"
                     "     ORDER BY n DESC, memo LIMIT 10) w), '[]'))::text"},

    /* $1 scope: reservations by state per adapter (live ones, and those that ended in the last
     * 24 h), dispatch lag percentiles, retries and terminal failures of the last 24 h. */
    {"stats_dispatch",
     "WITH rv AS (SELECT r.state, p.adapter_kind FROM reservations r JOIN pools p ON p.id = "
     "r.pool_id"
     "   WHERE " IN_SCOPE(
         "p.region") " AND r.state IN ('pending', 'dispatched', 'active')"
                     "  UNION ALL SELECT r.state, p.adapter_kind FROM reservations r JOIN pools p "
                     "ON p.id = r.pool_id"
                     "   WHERE " IN_SCOPE(
                         "p.region") " AND r.state NOT IN ('pending', 'dispatched', 'active')"
                                     "     AND r.updated_at >= sl_now() - interval '24 hours'),"
                                     /* jobs of the window first, then their reservation and pool by
                                      * primary key (OFFSET 0 keeps the planner from hashing the
                                      * whole reservations table instead) */
                                     " jb AS (SELECT j.*, x.adapter_kind, x.region FROM (SELECT * "
                                     "FROM dispatch_jobs"
                                     "   WHERE updated_at >= now() - interval '24 hours' OFFSET 0) "
                                     "j"
                                     "   CROSS JOIN LATERAL (SELECT p.adapter_kind, p.region FROM "
                                     "reservations r"
                                     "     JOIN pools p ON p.id = r.pool_id WHERE r.id = "
                                     "j.reservation_id) x"
                                     "   WHERE " IN_SCOPE(
                                         "x.region") "),"
                                                     " lag AS (SELECT adapter_kind, extract(epoch "
                                                     "FROM done_at - created_at) AS s FROM jb"
                                                     "   WHERE state = 'done' AND action = "
                                                     "'reserve' AND done_at IS NOT NULL)"
                                                     " SELECT json_build_object("
                                                     "  'reservations', coalesce((SELECT "
                                                     "json_agg(json_build_object('adapter', "
                                                     "adapter_kind,"
                                                     "     'state', state, 'count', n) ORDER BY "
                                                     "adapter_kind, state) FROM"
                                                     "     (SELECT adapter_kind, state, count(*) "
                                                     "AS n FROM rv GROUP BY 1, 2) x), '[]'),"
                                                     "  'lag', coalesce((SELECT "
                                                     "json_agg(json_build_object('adapter', "
                                                     "adapter_kind, 'jobs', n,"
                                                     "     'p50_s', round(p50::numeric, 3)::text, "
                                                     "'p90_s', round(p90::numeric, 3)::text,"
                                                     "     'p99_s', round(p99::numeric, 3)::text) "
                                                     "ORDER BY adapter_kind) FROM"
                                                     "     (SELECT adapter_kind, count(*) AS n,"
                                                     "       percentile_cont(0.5) WITHIN GROUP "
                                                     "(ORDER BY s) AS p50,"
                                                     "       percentile_cont(0.9) WITHIN GROUP "
                                                     "(ORDER BY s) AS p90,"
                                                     "       percentile_cont(0.99) WITHIN GROUP "
                                                     "(ORDER BY s) AS p99 FROM lag GROUP BY 1) y), "
                                                     "'[]'),"
                                                     "  'jobs', coalesce((SELECT "
                                                     "json_agg(json_build_object('adapter', "
                                                     "adapter_kind, 'action', action,"
                                                     "     'state', state, 'count', n, 'retries', "
                                                     "retries) ORDER BY adapter_kind, action, "
                                                     "state) FROM"
                                                     "     (SELECT adapter_kind, action, state, "
                                                     "count(*) AS n,"
                                                     "       sum(greatest(attempts - 1, "
                                                     "0))::bigint AS retries FROM jb GROUP BY 1, "
                                                     "2, 3) z), '[]'),"
                                                     "  'failures', coalesce((SELECT "
                                                     "json_agg(json_build_object('job_id', id, "
                                                     "'reservation_id',"
                                                     "     reservation_id, 'adapter', "
                                                     "adapter_kind, 'region', region, 'action', "
                                                     "action,"
                                                     "     'attempts', attempts, 'last_error', "
                                                     "last_error, 'at', sl_ts(updated_at))"
                                                     "     ORDER BY updated_at DESC, id DESC) FROM "
                                                     "(SELECT * FROM jb WHERE state = 'failed'"
                                                     "     ORDER BY updated_at DESC, id DESC LIMIT "
                                                     "20) w), '[]'))::text"},

    /* $1 accelerator or NULL, $2 region or NULL, $3 limit: free GPUs this hour and price
     * bands per (region, model) over active, not-down pools inside their window. */
    {"market_offers",
     "WITH h AS (SELECT date_trunc('hour', sl_now()) AS h0),"
     " pl AS (SELECT p.region, p.accelerator_id, p.price_minor, a.score_milli, a.memory_gb,"
     "   p.gpu_count - coalesce(s.booked, 0) AS free"
     "   FROM pools p JOIN accelerators a ON a.id = p.accelerator_id CROSS JOIN h"
     "   LEFT JOIN pool_slots s ON s.pool_id = p.id AND s.slot = h.h0"
     "  WHERE p.status = 'active' AND p.health <> 'down'"
     "    AND p.available_from <= h.h0 AND p.available_until > h.h0"
     "    AND ($1::text IS NULL OR p.accelerator_id = $1) AND ($2::text IS NULL OR p.region = $2))"
     " SELECT coalesce(json_agg(o ORDER BY min_price_minor, region, accelerator_id), '[]')::text"
     " FROM (SELECT region, accelerator_id, min(price_minor) AS min_price_minor,"
     "   json_build_object('region', region, 'accelerator', accelerator_id,"
     "   'memory_gb', max(memory_gb), 'pools', count(*), 'free_gpus', sum(free)::bigint,"
     "   'min_price', sl_money(min(price_minor)), 'median_price',"
     "   sl_money((percentile_disc(0.5) WITHIN GROUP (ORDER BY price_minor))::bigint),"
     "   'max_price', sl_money(max(price_minor)),"
     "   'min_price_per_ncu_hour', CASE WHEN max(score_milli) > 0 THEN"
     "     sl_money(min(price_minor) * 1000 / max(score_milli)) END) AS o"
     "  FROM pl WHERE free > 0 GROUP BY region, accelerator_id"
     "  ORDER BY min(price_minor), region, accelerator_id LIMIT $3) x"},

    /* $1 accelerator, $2 days, $3 region or NULL, $4 bucket ('hour' | 'day'): volume-weighted
     * price per bucket over the window, and the last trade. */
    {"market_prices",
     "WITH t AS (SELECT date_trunc($4, created_at) AS b, gpus::bigint"
     "   * (extract(epoch FROM end_at - start_at)::bigint / 3600) AS gh, total_minor, "
     "unit_price_minor"
     "   FROM trades WHERE accelerator_id = $1 AND created_at >= sl_now() - $2::int * interval '1 "
     "day'"
     "     AND ($3::text IS NULL OR region = $3)),"
     " last AS (SELECT unit_price_minor, created_at, region FROM trades"
     "   WHERE accelerator_id = $1 AND ($3::text IS NULL OR region = $3)"
     "   ORDER BY created_at DESC, id DESC LIMIT 1)"
     " SELECT json_build_object('accelerator', $1::text, 'region', $3::text, 'days', $2::int,"
     "  'bucket', $4::text,"
     "  'points', coalesce((SELECT json_agg(json_build_object('t', sl_ts(b), 'trades', n,"
     "     'gpu_hours', gh, 'vwap', sl_money(tot / greatest(gh, 1)), 'min', sl_money(lo),"
     "     'max', sl_money(hi)) ORDER BY b) FROM (SELECT b, count(*) AS n, sum(gh)::bigint AS gh,"
     "     sum(total_minor)::bigint AS tot, min(unit_price_minor) AS lo, max(unit_price_minor) AS "
     "hi"
     "     FROM t GROUP BY b) x), '[]'),"
     "  'last', (SELECT json_build_object('unit_price', sl_money(unit_price_minor),"
     "     'at', sl_ts(created_at), 'region', region) FROM last))::text"},

    /* The last trade price of every model that has traded (one index probe per model). */
    {"market_last",
     "SELECT coalesce(json_agg(json_build_object('accelerator', a.id, 'unit_price',"
     "  sl_money(l.unit_price_minor), 'region', l.region, 'at', sl_ts(l.created_at)) ORDER BY "
     "a.id), '[]')::text"
     " FROM accelerators a CROSS JOIN LATERAL (SELECT unit_price_minor, region, created_at"
     "   FROM trades t WHERE t.accelerator_id = a.id ORDER BY created_at DESC, id DESC LIMIT 1) l"},

    /* $1 scope: everything /metrics reads from the database, in one statement. */
    {"stats_metrics",
     "WITH pl AS (SELECT p.region, p.accelerator_id, p.health, p.status, p.gpu_count FROM pools p"
     "   WHERE " IN_SCOPE(
         "p.region") " AND p.status <> 'retired'),"
                     " ck AS (SELECT tree_size, signed_at FROM ledger_checkpoints ORDER BY "
                     "tree_size DESC LIMIT 1)"
                     " SELECT json_build_object("
                     "  'trades', coalesce((SELECT json_agg(json_build_object('region', region, "
                     "'accelerator',"
                     "     accelerator_id, 'trades', n, 'gpu_hours', gh, 'total_minor', tot, "
                     "'fee_minor', fee))"
                     "     FROM (SELECT region, accelerator_id, sum(trades)::bigint AS n, "
                     "sum(gpu_hours)::bigint AS gh,"
                     "       sum(total_minor)::bigint AS tot, sum(fee_minor)::bigint AS fee FROM "
                     "trade_rollup"
                     "       WHERE " IN_SCOPE(
                         "region") " GROUP BY 1, 2) x), '[]'),"
                                   "  'pools', coalesce((SELECT "
                                   "json_agg(json_build_object('region', region, 'health', health,"
                                   "     'pools', n, 'gpus', g)) FROM (SELECT region, health, "
                                   "count(*) AS n, sum(gpu_count)::bigint AS g"
                                   "     FROM pl WHERE status = 'active' GROUP BY 1, 2) y), '[]'),"
                                   "  'resting_orders', (SELECT count(*) FROM orders WHERE state = "
                                   "'open'),"
                                   "  'reservations', coalesce((SELECT "
                                   "json_agg(json_build_object('adapter', adapter_kind,"
                                   "     'state', state, 'count', n)) FROM (SELECT p.adapter_kind, "
                                   "r.state, count(*) AS n"
                                   "     FROM reservations r JOIN pools p ON p.id = r.pool_id"
                                   "     WHERE r.state IN ('pending', 'dispatched', 'active') "
                                   "AND " IN_SCOPE(
                                       "p.region") "     GROUP BY 1, 2) z), '[]'),"
                                                   "  'dispatch', coalesce((SELECT "
                                                   "json_agg(json_build_object('adapter', "
                                                   "adapter_kind,"
                                                   "     'state', state, 'count', n, 'lag_sum_s', "
                                                   "lag_sum, 'lagged', lagged, 'lag_le', "
                                                   "json_build_array(b1, b2, b3, b4, b5,"
                                                   "     b6, b7, b8, b9))) FROM (SELECT "
                                                   "p.adapter_kind, j.state, count(*) AS n,"
                                                   "     coalesce(sum(x.s), 0) AS lag_sum, "
                                                   "count(x.s) AS lagged, count(x.s) FILTER (WHERE "
                                                   "x.s <= 0.1) AS b1,"
                                                   "     count(x.s) FILTER (WHERE x.s <= 0.5) AS "
                                                   "b2, count(x.s) FILTER (WHERE x.s <= 1) AS b3,"
                                                   "     count(x.s) FILTER (WHERE x.s <= 2) AS b4, "
                                                   "count(x.s) FILTER (WHERE x.s <= 5) AS b5,"
                                                   "     count(x.s) FILTER (WHERE x.s <= 10) AS "
                                                   "b6, count(x.s) FILTER (WHERE x.s <= 30) AS b7,"
                                                   "     count(x.s) FILTER (WHERE x.s <= 60) AS "
                                                   "b8, count(x.s) FILTER (WHERE x.s <= 300) AS b9"
                                                   "     FROM (SELECT * FROM dispatch_jobs WHERE "
                                                   "updated_at >= now() - interval '24 hours'"
                                                   "       AND state IN ('done', 'failed') OFFSET "
                                                   "0) j"
                                                   "     JOIN reservations r ON r.id = "
                                                   "j.reservation_id JOIN pools p ON p.id = "
                                                   "r.pool_id"
                                                   "     CROSS JOIN LATERAL (SELECT CASE WHEN "
                                                   "j.state = 'done' AND j.action = 'reserve'"
                                                   "       AND j.done_at IS NOT NULL THEN "
                                                   "extract(epoch FROM j.done_at - "
                                                   "j.created_at)::float8 END AS s) x"
                                                   "     WHERE " IN_SCOPE(
                                                       "p.region") " GROUP BY 1, 2) w), '[]'),"
                                                                   "  'checkpoint', (SELECT "
                                                                   "json_build_object('tree_size', "
                                                                   "tree_size,"
                                                                   "     'age_s', extract(epoch "
                                                                   "FROM sl_now() - signed_at)) "
                                                                   "FROM ck))::text"},
    {NULL, NULL},
};

/* A scope array as text for $1 (NULL = everything); *buf is freed by the caller. */
static const char *scope_text(const json_t *scope, char **buf) {
  *buf = scope ? json_dumps(scope, JSON_COMPACT) : NULL;
  return *buf;
}

sl_dbrc sl_db_stats_regions(sl_dbc *c, const json_t *scope, const char *region, int64_t since,
                            json_t **out) {
  char *s, b[24];
  const char *v[3] = {scope_text(scope, &s), region, sl_db_ts(b, since)};
  if (scope && !s) return SL_DB_HARD;
  sl_dbrc rc = sl_db_json(c, "stats_regions", 3, v, out);
  free(s);
  return rc;
}

sl_dbrc sl_db_stats_utilization(sl_dbc *c, const char *region, int hours, json_t **out) {
  char b[24];
  const char *v[2] = {region, sl_db_i64(b, hours)};
  return sl_db_json(c, "stats_utilization", 2, v, out);
}

sl_dbrc sl_db_stats_health(sl_dbc *c, const json_t *scope, int64_t owner, json_t **out) {
  char *s, b[24];
  const char *v[2] = {scope_text(scope, &s), sl_db_i64_opt(b, owner, 0)};
  if (scope && !s) return SL_DB_HARD;
  sl_dbrc rc = sl_db_json(c, "stats_health", 2, v, out);
  free(s);
  return rc;
}

/* A statement whose only parameter is the scope. */
static sl_dbrc scoped_json(sl_dbc *c, const char *name, const json_t *scope, json_t **out) {
  char *s;
  const char *v[1] = {scope_text(scope, &s)};
  if (scope && !s) return SL_DB_HARD;
  sl_dbrc rc = sl_db_json(c, name, 1, v, out);
  free(s);
  return rc;
}

sl_dbrc sl_db_stats_dispatch(sl_dbc *c, const json_t *scope, json_t **out) {
  return scoped_json(c, "stats_dispatch", scope, out);
}

sl_dbrc sl_db_market_offers(sl_dbc *c, const char *accelerator, const char *region, int limit,
                            json_t **out) {
  char b[24];
  const char *v[3] = {accelerator, region, sl_db_i64(b, limit)};
  return sl_db_json(c, "market_offers", 3, v, out);
}

sl_dbrc sl_db_market_prices(sl_dbc *c, const char *accelerator, int days, const char *region,
                            const char *bucket, json_t **out) {
  char b[24];
  const char *v[4] = {accelerator, sl_db_i64(b, days), region, bucket};
  return sl_db_json(c, "market_prices", 4, v, out);
}

sl_dbrc sl_db_market_last(sl_dbc *c, json_t **out) {
  return sl_db_json(c, "market_last", 0, NULL, out);
}

sl_dbrc sl_db_stats_metrics(sl_dbc *c, const json_t *scope, json_t **out) {
  return scoped_json(c, "stats_metrics", scope, out);
}
