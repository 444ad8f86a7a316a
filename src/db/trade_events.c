/* trade_events.c — a trade's reservation as its parties see it on the pool's system: the
 * state changes (reservation_events), the dispatch jobs with their next attempt, lease and
 * last error, and the attempts of schema/021 (dispatch_attempts), newest 50. */
#include "suanli/db/trade_events.h"
#include "internal.h"
#include <stdlib.h>

#define ATTEMPTS_SHOWN "50"

const sl_db_stmt sl_db_stmts_trade_events[] = {
    {"trade_events",
     "SELECT json_build_object('trade_id', t.id, 'reservation_id', r.id,"
     " 'reservation_state', r.state, 'external_ref', r.external_ref,"
     " 'events', (SELECT coalesce(json_agg(json_build_object('from', e.from_state,"
     "   'to', e.to_state, 'cause', e.cause, 'at', sl_ts(e.at)) ORDER BY e.id), '[]')"
     "   FROM reservation_events e WHERE e.reservation_id = r.id),"
     " 'jobs', (SELECT coalesce(json_agg(json_build_object('action', j.action, 'state', j.state,"
     "   'attempts', j.attempts, 'last_error', j.last_error,"
     "   'next_attempt_at', CASE WHEN j.state = 'queued' THEN sl_ts(j.next_attempt_at) END,"
     "   'lease_until', CASE WHEN j.state = 'running' THEN sl_ts(j.lease_until) END,"
     "   'leased_by', j.leased_by, 'deadline', sl_ts(j.deadline), 'created_at', "
     "sl_ts(j.created_at),"
     "   'done_at', sl_ts(j.done_at)) ORDER BY j.id), '[]')"
     "   FROM dispatch_jobs j WHERE j.reservation_id = r.id),"
     " 'attempts', (SELECT coalesce(json_agg(json_build_object('action', a.action,"
     "   'attempt', a.attempt, 'outcome', a.outcome, 'error', a.error, 'by', a.leased_by,"
     "   'started_at', sl_ts(a.started_at), 'at', sl_ts(a.at),"
     "   'next_attempt_at', sl_ts(a.next_attempt_at)) ORDER BY a.id), '[]') FROM ("
     "   SELECT * FROM dispatch_attempts WHERE reservation_id = r.id ORDER BY id DESC"
     "   LIMIT " ATTEMPTS_SHOWN ") a),"
     " 'attempts_total', (SELECT count(*) FROM dispatch_attempts WHERE reservation_id = r.id)"
     ")::text FROM trades t JOIN reservations r ON r.trade_id = t.id WHERE t.id = $1"
     " AND ($2::bigint IS NULL OR t.tenant_id = $2 OR t.provider_id = $2)"
     " AND ($3::json IS NULL OR t.region IN (SELECT json_array_elements_text($3::json)))"},
    {NULL, NULL},
};

sl_dbrc sl_db_trade_events(sl_dbc *c, int64_t id, int64_t party, const json_t *regions,
                           json_t **out) {
  char b1[24], b2[24], *reg = regions ? json_dumps(regions, JSON_COMPACT) : NULL;
  const char *v[3] = {sl_db_i64(b1, id), sl_db_i64_opt(b2, party, 0), reg};
  sl_dbrc rc = sl_db_json(c, "trade_events", 3, v, out);
  free(reg);
  return rc;
}
