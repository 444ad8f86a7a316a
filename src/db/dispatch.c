/* dispatch.c — the outbox of dispatch jobs, reservation transitions, pool health sensing,
 * failover bookkeeping, and the simulated cluster's own store. */
#include "suanli/db/dispatch.h"
#include "internal.h"
#include "suanli/core/vocab.h"
#include <stdlib.h>
#include <string.h>

const sl_db_stmt sl_db_stmts_dispatch[] = {
    /* Lease the next due job (or one whose worker's lease ran out).  A cancel waits while
     * the reserve of the same reservation is running, so it always runs after it.  The jobs
     * of agent pools are their agent's to lease (src/db/agent.c); the dispatcher takes one
     * only once its deadline has passed, to give up on it. */
    {"job_lease", "WITH j AS (SELECT j.id FROM dispatch_jobs j"
                  "  WHERE ((j.state = 'queued' AND j.next_attempt_at <= now())"
                  "      OR (j.state = 'running' AND j.lease_until < now()))"
                  "    AND (NOT j.via_agent OR j.deadline <= sl_now())"
                  "    AND NOT (j.action = 'cancel' AND EXISTS (SELECT 1 FROM dispatch_jobs r"
                  "      WHERE r.reservation_id = j.reservation_id AND r.action = 'reserve'"
                  "        AND r.state = 'running' AND r.lease_until >= now()))"
                  "  ORDER BY j.next_attempt_at, j.id LIMIT 1 FOR UPDATE SKIP LOCKED)"
                  " UPDATE dispatch_jobs d SET state = 'running', attempts = d.attempts + 1,"
                  "  lease_until = now() + make_interval(secs => $1::int), updated_at = now(),"
                  "  leased_by = 'dispatcher', leased_at = now()"
                  " FROM j WHERE d.id = j.id RETURNING d.id"},
    {"job_claim",
     "SELECT j.id, j.action, j.attempts, extract(epoch FROM j.deadline)::bigint, r.id, r.state,"
     " t.id, t.pool_id, extract(epoch FROM t.start_at)::bigint, extract(epoch FROM "
     "t.end_at)::bigint,"
     " t.gpus, p.gpus_per_node, p.region, p.accelerator_id, p.adapter_kind, p.adapter_config::text,"
     " t.tenant_id, j.last_error"
     " FROM dispatch_jobs j JOIN reservations r ON r.id = j.reservation_id"
     " JOIN trades t ON t.id = r.trade_id JOIN pools p ON p.id = t.pool_id WHERE j.id = $1"},
    {"job_finish",
     "UPDATE dispatch_jobs SET state = $2, attempts = attempts + $3::int, last_error = $4,"
     " updated_at = now(), lease_until = NULL,"
     " done_at = CASE WHEN $2 = 'queued' THEN NULL ELSE now() END,"
     " next_attempt_at = now() + make_interval(secs => $5::double precision)"
     " WHERE id = $1"},
    {"reservation_dispatched",
     "UPDATE reservations SET state = 'dispatched', external_ref = $2, updated_at = sl_now()"
     " WHERE id = $1 AND state = 'pending'"},
    {"reservations_activate",
     "WITH a AS (UPDATE reservations r SET state = 'active', updated_at = sl_now() FROM trades t"
     " WHERE t.id = r.trade_id AND r.state = 'dispatched' AND t.start_at <= sl_now() RETURNING 1)"
     " SELECT count(*) FROM a"},
    {"trade_fail", "SELECT coalesce(sl_fail_trade($1, $2), 0)"},
    {"pools_silent",
     "WITH s AS (UPDATE pools SET status = 'offline', health = 'down', healthy_gpus = 0,"
     " updated_at = sl_now()"
     " WHERE status IN ('active', 'draining') AND coalesce(last_heartbeat_at, created_at)"
     "  < sl_now() - make_interval(secs => (SELECT heartbeat_timeout_s FROM exchange_settings))"
     /* index pools_heartbeat_due (schema/026): only the pools past the timeout are read */
     " RETURNING id) SELECT coalesce(json_agg(id), '[]')::text FROM s"},
    {"pool_shortfall", "SELECT sl_shortfall($1)"},
    /* Booked, not yet started trades on pools that are offline or down: to fail over. */
    {"failover_next",
     "SELECT t.id, t.order_id, t.tenant_id, t.gpus, extract(epoch FROM t.start_at)::bigint,"
     " extract(epoch FROM t.end_at - t.start_at)::bigint / 3600, o.request::text, t.pool_id"
     " FROM trades t JOIN pools p ON p.id = t.pool_id JOIN orders o ON o.id = t.order_id"
     " WHERE t.state = 'booked' AND t.start_at > sl_now()"
     "   AND (p.status IN ('offline', 'retired') OR p.health = 'down')"
     " ORDER BY t.id LIMIT 1 FOR UPDATE OF t SKIP LOCKED"},
    {"trades_mark_replacing",
     "UPDATE trades SET replaces_trade_id = $1"
     " WHERE order_id = $2 AND created_at = sl_now() AND id <> $1 AND replaces_trade_id IS NULL"},
    {"order_note", "UPDATE orders SET reason = $2, updated_at = sl_now() WHERE id = $1"},
    {"sim_heartbeats",
     "WITH h AS (UPDATE pools p SET last_heartbeat_at = sl_now(), healthy_gpus = p.gpu_count,"
     " health = 'healthy', utilization_bp = least(10000, coalesce((SELECT booked FROM pool_slots s"
     "   WHERE s.pool_id = p.id AND s.slot = date_trunc('hour', sl_now())), 0) * 10000 / "
     "p.gpu_count)"
     " WHERE p.adapter_kind = 'sim' AND p.status <> 'retired'"
     "   AND NOT coalesce((p.adapter_config->>'silent')::boolean, false)"
     "   AND coalesce(p.last_heartbeat_at, '-infinity'::timestamptz)"
     "       < sl_now() - interval '10 seconds'" /* index pools_sim_beat_due (schema/026) */
     " RETURNING 1) SELECT count(*) FROM h"},
    {"sim_reserve",
     "INSERT INTO sim_cluster_reservations AS s (reservation_id, pool_id, gpus, start_at, end_at)"
     " VALUES ($1, $2, $3, to_timestamp($4::bigint), to_timestamp($5::bigint))"
     " ON CONFLICT (reservation_id) DO UPDATE SET reserve_calls = s.reserve_calls + 1"
     " RETURNING s.state"},
    {"sim_cancel",
     "UPDATE sim_cluster_reservations SET state = 'cancelled', cancel_calls = cancel_calls + 1"
     " WHERE reservation_id = $1"},
    {"sim_state",
     "SELECT coalesce((SELECT state FROM sim_cluster_reservations WHERE reservation_id = $1),"
     " 'absent')"},
    {NULL, NULL},
};

sl_dbrc sl_db_job_lease(sl_dbc *c, int lease_s, int64_t *id) {
  return sl_db_int_id(c, "job_lease", lease_s, id);
}

sl_dbrc sl_db_job_claim(sl_dbc *c, int64_t id, sl_db_job *j) {
  PGresult *r;
  char b[24];
  const char *v[1] = {sl_db_i64(b, id)};
  memset(j, 0, sizeof *j);
  sl_dbrc rc = sl_db_exec_row(c, "job_claim", 1, v, &r);
  if (rc != SL_DB_OK) return rc;
  j->id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  snprintf(j->action, sizeof j->action, "%s", PQgetvalue(r, 0, 1));
  j->attempts = atoi(PQgetvalue(r, 0, 2));
  j->deadline = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
  j->reservation_id = strtoll(PQgetvalue(r, 0, 4), NULL, 10);
  snprintf(j->reservation_state, sizeof j->reservation_state, "%s", PQgetvalue(r, 0, 5));
  j->trade_id = strtoll(PQgetvalue(r, 0, 6), NULL, 10);
  j->pool_id = strtoll(PQgetvalue(r, 0, 7), NULL, 10);
  j->start = strtoll(PQgetvalue(r, 0, 8), NULL, 10);
  j->end = strtoll(PQgetvalue(r, 0, 9), NULL, 10);
  j->gpus = atoi(PQgetvalue(r, 0, 10));
  j->gpus_per_node = atoi(PQgetvalue(r, 0, 11));
  snprintf(j->region, sizeof j->region, "%s", PQgetvalue(r, 0, 12));
  snprintf(j->accelerator, sizeof j->accelerator, "%s", PQgetvalue(r, 0, 13));
  snprintf(j->adapter_kind, sizeof j->adapter_kind, "%s", PQgetvalue(r, 0, 14));
  j->config = json_loads(PQgetvalue(r, 0, 15), 0, NULL);
  j->tenant_id = strtoll(PQgetvalue(r, 0, 16), NULL, 10);
  snprintf(j->last_error, sizeof j->last_error, "%s", PQgetvalue(r, 0, 17));
  PQclear(r);
  return j->config ? SL_DB_OK : SL_DB_HARD;
}

void sl_db_job_clear(sl_db_job *j) {
  json_decref(j->config);
  j->config = NULL;
}

sl_dbrc sl_db_job_finish(sl_dbc *c, int64_t id, const char *state, bool attempted,
                         const char *error, double retry_in_s) {
  char b1[24], b5[32];
  snprintf(b5, sizeof b5, "%.3f", retry_in_s);
  const char *v[5] = {sl_db_i64(b1, id), state, attempted ? "1" : "0", error ? error : "", b5};
  return sl_db_exec(c, "job_finish", 5, v, NULL);
}

sl_dbrc sl_db_reservation_dispatched(sl_dbc *c, int64_t id, const char *external_ref) {
  char b[24];
  const char *v[2] = {sl_db_i64(b, id), external_ref ? external_ref : ""};
  return sl_db_exec(c, "reservation_dispatched", 2, v, NULL);
}

sl_dbrc sl_db_reservations_activate(sl_dbc *c, int *n) {
  int64_t x = 0;
  sl_dbrc rc = sl_db_int(c, "reservations_activate", 0, NULL, &x);
  *n = (int)x;
  return rc;
}

sl_dbrc sl_db_trade_fail(sl_dbc *c, int64_t trade, const char *cause, int64_t *refund_txn) {
  char b[24];
  const char *v[2] = {sl_db_i64(b, trade), cause};
  return sl_db_int(c, "trade_fail", 2, v, refund_txn);
}

sl_dbrc sl_db_pools_mark_silent(sl_dbc *c, json_t **ids) {
  return sl_db_json(c, "pools_silent", 0, NULL, ids);
}

sl_dbrc sl_db_pool_shortfall(sl_dbc *c, int64_t pool, int64_t *refunded_trades) {
  return sl_db_int_id(c, "pool_shortfall", pool, refunded_trades);
}

sl_dbrc sl_db_failover_next(sl_dbc *c, sl_db_failover *f) {
  PGresult *r;
  memset(f, 0, sizeof *f);
  sl_dbrc rc = sl_db_exec_row(c, "failover_next", 0, NULL, &r);
  if (rc != SL_DB_OK) return rc;
  f->trade_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  f->order_id = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
  f->tenant_id = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
  f->gpus = atoi(PQgetvalue(r, 0, 3));
  f->start = strtoll(PQgetvalue(r, 0, 4), NULL, 10);
  f->hours = atoi(PQgetvalue(r, 0, 5));
  f->request = json_loads(PQgetvalue(r, 0, 6), 0, NULL);
  f->pool_id = strtoll(PQgetvalue(r, 0, 7), NULL, 10);
  PQclear(r);
  return f->request ? SL_DB_OK : SL_DB_HARD;
}

sl_dbrc sl_db_trades_mark_replacing(sl_dbc *c, int64_t old_trade, int64_t order) {
  char b1[24], b2[24];
  const char *v[2] = {sl_db_i64(b1, old_trade), sl_db_i64(b2, order)};
  return sl_db_exec(c, "trades_mark_replacing", 2, v, NULL);
}

sl_dbrc sl_db_order_note(sl_dbc *c, int64_t order, const char *reason) {
  char b[24];
  const char *v[2] = {sl_db_i64(b, order), reason};
  return sl_db_exec(c, "order_note", 2, v, NULL);
}

sl_dbrc sl_db_sim_heartbeats(sl_dbc *c, int *n) {
  int64_t x = 0;
  sl_dbrc rc = sl_db_int(c, "sim_heartbeats", 0, NULL, &x);
  *n = (int)x;
  return rc;
}

sl_dbrc sl_db_sim_reserve(sl_dbc *c, int64_t reservation, int64_t pool, int gpus, int64_t start,
                          int64_t end, bool *was_cancelled) {
  char b[5][24];
  const char *v[5] = {sl_db_i64(b[0], reservation), sl_db_i64(b[1], pool), sl_db_i64(b[2], gpus),
                      sl_db_i64(b[3], start), sl_db_i64(b[4], end)};
  PGresult *r;
  sl_dbrc rc = sl_db_exec(c, "sim_reserve", 5, v, &r);
  if (rc != SL_DB_OK) return rc;
  *was_cancelled =
      PQntuples(r) == 1 && sl_vocab_is(PQgetvalue(r, 0, 0), SL_SIM_RESERVATION_STATE_CANCELLED);
  PQclear(r);
  return SL_DB_OK;
}

sl_dbrc sl_db_sim_state(sl_dbc *c, int64_t reservation, char *state, size_t len) {
  PGresult *r;
  sl_dbrc rc = sl_db_exec_id(c, "sim_state", reservation, &r);
  if (rc != SL_DB_OK) return rc;
  const char *v = PQgetvalue(r, 0, 0);
  snprintf(state, len, "%s", sl_vocab_is(v, SL_SIM_RESERVATION_STATE_CANCELLED) ? "absent" : v);
  PQclear(r);
  return SL_DB_OK;
}

sl_dbrc sl_db_sim_cancel(sl_dbc *c, int64_t reservation) {
  return sl_db_exec_id(c, "sim_cancel", reservation, NULL);
}
