/* h_trade_events.c — GET /v1/trades/{id}/events: what happened to a trade's reservation on
 * the pool's system, for everyone who may see the trade (its tenant and provider, the
 * operators of its region, admins): the state changes, the dispatch jobs (attempts, last
 * error, next attempt, lease, deadline) and every attempt with its outcome (schema/021). */
#include "internal.h"
#include "suanli/db/trade_events.h"

void h_trade_events(sl_req *r) {
  int64_t id;
  if (!sl_req_path_id(r, 0, &id)) return;
  int64_t party = sl_role_is(r, "tenant") || sl_role_is(r, "provider") ? r->who.account_id : 0;
  const json_t *regions = sl_role_is(r, "operator") ? r->who.regions : NULL;
  json_t *ev;
  sl_dbrc rc = sl_db_trade_events(r->db, id, party, regions, &ev);
  sl_reply_found(r, rc, ev, "trade", id);
}
