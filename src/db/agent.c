/* agent.c — the agent adapter's side of the outbox (schema/021_agent.sql): providers' agents
 * lease their agent pools' dispatch jobs (the dispatcher leaves those alone until their
 * deadline, dispatch.c's job_lease), and report outcomes through the same job and reservation
 * transitions as the dispatcher (dispatch.c, access.c).  Leases are fenced by the job's
 * attempt number, which every new lease increments. */
#include "suanli/db/agent.h"
#include "internal.h"
#include <stdlib.h>
#include <string.h>

/* A job an agent may lease now: due (or its lease ran out), before its deadline, and not a
 * cancel whose reservation's reserve is still held by a live lease. */
#define AGENT_DUE(j)                                                                               \
  " ((" j ".state = 'queued' AND " j ".next_attempt_at <= now())"                                  \
  "  OR (" j ".state = 'running' AND " j ".lease_until < now()))"                                  \
  " AND " j ".deadline > sl_now()"                                                                 \
  " AND NOT (" j ".action = 'cancel' AND EXISTS (SELECT 1 FROM dispatch_jobs rj"                   \
  "   WHERE rj.reservation_id = " j ".reservation_id AND rj.action = 'reserve'"                    \
  "     AND rj.state = 'running' AND rj.lease_until >= now()))"

/* $n: a JSON array of ids, or NULL for all. */
#define IN_IDS(col, n)                                                                             \
  " (" n "::json IS NULL OR " col " IN (SELECT json_array_elements_text(" n "::json)::bigint))"

const sl_db_stmt sl_db_stmts_agent[] = {
    {"agent_seen",
     "INSERT INTO agents AS a (owner_id, name, version, address, note, note_at, rtt_us, polls)"
     " VALUES ($1, $2, $3, $4, coalesce($5, ''), CASE WHEN $5 IS NOT NULL THEN now() END, $6, 1)"
     " ON CONFLICT (owner_id, name) DO UPDATE SET version = EXCLUDED.version,"
     "  address = EXCLUDED.address, note = coalesce($5, a.note),"
     "  note_at = CASE WHEN $5 IS NOT NULL THEN now() ELSE a.note_at END,"
     "  rtt_us = coalesce($6, a.rtt_us), polls = a.polls + 1, last_seen_at = now()"},
    /* The region an agent measures from: $2 when one of owner's agent pools is there ('' when
     * none is), else the one region of its agent pools ($3: those ids, NULL: all); NULL when
     * there is none or more than one. */
    {"agent_region",
     "SELECT CASE WHEN $2::text IS NOT NULL THEN CASE WHEN EXISTS (SELECT 1 FROM pools p"
     "   WHERE p.owner_id = $1 AND p.adapter_kind = 'agent' AND p.region = $2) THEN $2 ELSE '' END"
     " ELSE (SELECT min(p.region) FROM pools p WHERE p.owner_id = $1 AND p.adapter_kind = 'agent'"
     "   AND" IN_IDS("p.id", "$3") " HAVING count(DISTINCT p.region) = 1) END"},
    /* Owner's agent $2 measured $4 ([{"region", "rtt_us"}]) from region $3: a round trip is
     * one path both ways, so each one to a region that exists is offered to sl_agent_rtt
     * (schema/027) for both directions; the number of entries written. */
    {"agent_rtts",
     "SELECT coalesce(sum(sl_agent_rtt(a.id, $3, e.t, e.us)::int"
     "   + CASE WHEN e.t <> $3 THEN sl_agent_rtt(a.id, e.t, $3, e.us)::int ELSE 0 END),"
     "   0) FROM agents a"
     " CROSS JOIN (SELECT x->>'region' AS t, (x->>'rtt_us')::bigint AS us"
     "   FROM json_array_elements($4::json) x) e"
     " JOIN regions r ON r.code = e.t WHERE a.owner_id = $1 AND a.name = $2"},
    {"agent_pools_check",
     "SELECT coalesce(min(i.n - 1), -1) FROM json_array_elements_text($2::json) WITH ORDINALITY"
     " AS i(v, n) WHERE NOT EXISTS (SELECT 1 FROM pools p WHERE p.id = i.v::bigint"
     "  AND p.owner_id = $1 AND p.adapter_kind = 'agent')"},
    {"agent_skip_stale",
     "UPDATE dispatch_jobs d SET state = 'skipped', lease_until = NULL, updated_at = now(),"
     " done_at = now(), last_error = 'the reservation is no longer pending'"
     " FROM reservations r, pools p WHERE r.id = d.reservation_id AND p.id = d.pool_id"
     " AND d.via_agent AND d.action = 'reserve' AND r.state <> 'pending' AND p.owner_id = $1"
     " AND (d.state = 'queued' OR (d.state = 'running' AND d.lease_until < now()))"
     " AND" IN_IDS("d.pool_id", "$2")},
    {"agent_lease",
     "WITH due AS (SELECT j.id FROM dispatch_jobs j JOIN pools p ON p.id = j.pool_id"
     "  WHERE j.via_agent AND j.state IN ('queued', 'running') AND p.owner_id = $1"
     "    AND" IN_IDS("j.pool_id", "$2") " AND" AGENT_DUE(
         "j") "  ORDER BY j.next_attempt_at, j.id LIMIT $3 FOR UPDATE OF j SKIP LOCKED),"
              " l AS (UPDATE dispatch_jobs d SET state = 'running', attempts = d.attempts + 1,"
              "  lease_until = now() + make_interval(secs => $4::int), leased_by = $5, leased_at = "
              "now(),"
              "  updated_at = now() FROM due WHERE d.id = due.id RETURNING d.*)"
              " SELECT coalesce(json_agg(json_build_object('id', l.id, 'lease', l.attempts,"
              "  'lease_until', sl_ts(l.lease_until), 'action', l.action, 'reservation_id', r.id,"
              "  'trade_id', t.id, 'pool_id', p.id, 'region', p.region, 'accelerator', "
              "p.accelerator_id,"
              "  'gpus', t.gpus, 'gpus_per_node', p.gpus_per_node,"
              "  'nodes', (t.gpus + p.gpus_per_node - 1) / p.gpus_per_node, 'start', "
              "sl_ts(t.start_at),"
              "  'end', sl_ts(t.end_at), 'deadline', sl_ts(l.deadline), 'config', p.adapter_config,"
              "  'tenant_access_key', CASE WHEN l.action = 'reserve' THEN (SELECT "
              "encode(k.public_key,"
              "   'hex') FROM access_keys k WHERE k.account_id = t.tenant_id) END,"
              "  'last_error', l.last_error) ORDER BY l.id), '[]')::text"
              " FROM l JOIN reservations r ON r.id = l.reservation_id JOIN trades t ON t.id = "
              "r.trade_id"
              " JOIN pools p ON p.id = t.pool_id"},
    {"agent_due",
     "SELECT coalesce(json_agg(json_build_array(s.owner_id, s.pool_id)), '[]')::text FROM ("
     " SELECT DISTINCT p.owner_id, j.pool_id FROM dispatch_jobs j JOIN pools p ON p.id = j.pool_id"
     " WHERE j.via_agent AND j.state IN ('queued', 'running') AND" AGENT_DUE(
         "j") "   AND p.owner_id IN (SELECT json_array_elements_text($1::json)::bigint)) s"},
    {"agent_job_lock",
     "SELECT j.id, j.state, j.attempts, j.action, j.reservation_id, r.state, t.id, t.tenant_id,"
     " j.leased_by FROM dispatch_jobs j JOIN reservations r ON r.id = j.reservation_id"
     " JOIN trades t ON t.id = r.trade_id JOIN pools p ON p.id = j.pool_id"
     " WHERE j.id = $1 AND j.via_agent AND p.owner_id = $2 FOR UPDATE OF j"},
    {"agents_page",
     "SELECT json_build_object('items', coalesce(json_agg(j ORDER BY id), '[]'),"
     " 'next_after', CASE WHEN count(*) = $3 THEN max(id) END)::text FROM ("
     " SELECT a.id, json_build_object('id', a.id, 'owner_id', a.owner_id, 'name', a.name,"
     "  'version', a.version, 'address', a.address, 'note', a.note, 'note_at', sl_ts(a.note_at),"
     "  'rtt_ms', sl_milli(a.rtt_us), 'polls', a.polls, 'last_seen_at', sl_ts(a.last_seen_at),"
     "  'created_at', sl_ts(a.created_at), 'leases', (SELECT count(*) FROM dispatch_jobs j"
     "   JOIN pools p ON p.id = j.pool_id WHERE j.via_agent AND j.state = 'running'"
     "   AND j.lease_until >= now() AND p.owner_id = a.owner_id"
     "   AND j.leased_by = 'agent ' || a.name)) AS j"
     " FROM agents a WHERE a.id > $2 AND ($1::bigint IS NULL OR a.owner_id = $1)"
     " ORDER BY a.id LIMIT $3) s"},
    {NULL, NULL},
};

sl_dbrc sl_db_agent_seen(sl_dbc *c, const sl_db_agent_poll *p) {
  char b1[24], b6[24];
  const char *v[6] = {sl_db_i64(b1, p->owner),      p->name, p->version ? p->version : "",
                      p->address ? p->address : "", p->note, sl_db_i64_opt(b6, p->rtt_us, -1)};
  return sl_db_exec(c, "agent_seen", 6, v, NULL);
}

/* A JSON value as a parameter (malloc'd text), or NULL for NULL. */
static char *json_param(const json_t *j) {
  return j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
}

sl_dbrc sl_db_agent_region(sl_dbc *c, int64_t owner, const char *region, const json_t *pools,
                           char **out) {
  char b1[24], *ids = json_param(pools);
  const char *v[3] = {sl_db_i64(b1, owner), region, ids};
  sl_dbrc rc = sl_db_text(c, "agent_region", 3, v, out);
  free(ids);
  return rc;
}

sl_dbrc sl_db_agent_rtts(sl_dbc *c, int64_t owner, const char *agent, const char *from,
                         const json_t *rtts, int64_t *written) {
  char b1[24], *js = json_param(rtts);
  const char *v[4] = {sl_db_i64(b1, owner), agent, from, js ? js : "[]"};
  *written = 0;
  sl_dbrc rc = sl_db_int(c, "agent_rtts", 4, v, written);
  free(js);
  return rc;
}

sl_dbrc sl_db_agent_pools_check(sl_dbc *c, int64_t owner, const json_t *pools, int64_t *bad) {
  char b1[24], *ids = json_param(pools);
  const char *v[2] = {sl_db_i64(b1, owner), ids ? ids : "[]"};
  sl_dbrc rc = sl_db_int(c, "agent_pools_check", 2, v, bad);
  free(ids);
  return rc;
}

sl_dbrc sl_db_agent_lease(sl_dbc *c, int64_t owner, const json_t *pools, int max, int lease_s,
                          const char *by, json_t **items) {
  char b1[24], b3[24], b4[24], *ids = json_param(pools);
  const char *v[5] = {sl_db_i64(b1, owner), ids, sl_db_i64(b3, max), sl_db_i64(b4, lease_s), by};
  sl_dbrc rc = sl_db_exec(c, "agent_skip_stale", 2, v, NULL);
  if (rc == SL_DB_OK) rc = sl_db_json(c, "agent_lease", 5, v, items);
  free(ids);
  return rc;
}

sl_dbrc sl_db_agent_due(sl_dbc *c, const json_t *owners, json_t **due) {
  char *ids = json_param(owners);
  const char *v[1] = {ids ? ids : "[]"};
  sl_dbrc rc = sl_db_json(c, "agent_due", 1, v, due);
  free(ids);
  return rc;
}

sl_dbrc sl_db_agent_job_lock(sl_dbc *c, int64_t job, int64_t owner, sl_db_agent_job *j) {
  char b1[24], b2[24];
  const char *v[2] = {sl_db_i64(b1, job), sl_db_i64(b2, owner)};
  PGresult *r;
  memset(j, 0, sizeof *j);
  sl_dbrc rc = sl_db_exec_row(c, "agent_job_lock", 2, v, &r);
  if (rc != SL_DB_OK) return rc;
  j->id = sl_db_col_i64(r, 0, 0);
  snprintf(j->state, sizeof j->state, "%s", PQgetvalue(r, 0, 1));
  j->attempts = (int)sl_db_col_i64(r, 0, 2);
  snprintf(j->action, sizeof j->action, "%s", PQgetvalue(r, 0, 3));
  j->reservation_id = sl_db_col_i64(r, 0, 4);
  snprintf(j->reservation_state, sizeof j->reservation_state, "%s", PQgetvalue(r, 0, 5));
  j->trade_id = sl_db_col_i64(r, 0, 6);
  j->tenant_id = sl_db_col_i64(r, 0, 7);
  snprintf(j->leased_by, sizeof j->leased_by, "%s", PQgetvalue(r, 0, 8));
  PQclear(r);
  return SL_DB_OK;
}

sl_dbrc sl_db_agents_page(sl_dbc *c, int64_t owner, int64_t after, int limit, json_t **out) {
  char b1[24], b2[24], b3[24];
  const char *v[3] = {sl_db_i64_opt(b1, owner, 0), sl_db_i64(b2, after), sl_db_i64(b3, limit)};
  return sl_db_json(c, "agents_page", 3, v, out);
}
