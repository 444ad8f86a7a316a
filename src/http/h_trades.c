/* h_trades.c — trades for their two parties, admins and the operators of their regions;
 * cancellation of a booked trade before it starts (tenant or admin). */
#include "internal.h"
#include "suanli/core/money.h"
#include "suanli/db/market.h"
#include <stdio.h>
#include <string.h>

static sl_trade_scope scope_of(const sl_req *r) {
  sl_trade_scope s = {0, NULL};
  if (sl_role_is(r, "tenant") || sl_role_is(r, "provider")) s.party = r->who.account_id;
  else if (sl_role_is(r, "operator")) s.regions = r->who.regions;
  return s;
}

void h_trades_list(sl_req *r) {
  int64_t after, order = 0;
  int limit;
  if (!sl_req_page_id(r, &after, &limit) ||
      !sl_req_query_int(r, "order", 1, INT64_C(9007199254740991), &order))
    return;
  sl_trade_scope s = scope_of(r);
  json_t *items = NULL;
  sl_dbrc rc = sl_db_trades_list(r->db, &s, order, after, limit, &items);
  sl_reply_page(r, rc, items, limit, "id");
}

void h_trades_get(sl_req *r) {
  int64_t id;
  if (!sl_req_path_id(r, 0, &id)) return;
  sl_trade_scope s = scope_of(r);
  json_t *t;
  sl_dbrc rc = sl_db_trade_get(r->db, id, &s, &t);
  sl_reply_found(r, rc, t, "trade", id);
}

/* POST /v1/trades/{id}/cancel: free the capacity and refund per the exchange's policy. */
void h_trades_cancel(sl_req *r) {
  int64_t id;
  if (!sl_req_object_id(r, "trade", &id)) return;
  if (r->body_len) {
    json_t *body = sl_req_body(r);
    if (!body) return;
    bool ok = sl_req_decode(r, body, NULL, 0);
    json_decref(body);
    if (!ok) return;
  }
  const char *what;
  int64_t refund = 0, charge = 0;
  sl_dbrc rc = sl_db_trade_cancel(r->db, id, sl_role_is(r, "admin") ? 0 : r->who.account_id, &what,
                                  &refund, &charge);
  if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
    return;
  }
  if (!strcmp(what, "not_found")) {
    sl_reply_error(r, SL_E_NOT_FOUND, "id", "no trade %lld", (long long)id);
    return;
  }
  if (!strcmp(what, "started")) {
    sl_reply_error(r, SL_E_CONFLICT, "id", "trade %lld has already started", (long long)id);
    return;
  }
  if (strcmp(what, "ok") != 0) {
    sl_reply_error(r, SL_E_CONFLICT, "id", "trade %lld is no longer booked", (long long)id);
    return;
  }
  json_t *t;
  sl_trade_scope all = {0, NULL};
  rc = sl_db_trade_get(r->db, id, &all, &t);
  if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
    return;
  }
  char rb[SL_MONEY_STRLEN], cb[SL_MONEY_STRLEN];
  sl_money_format(refund, rb, sizeof rb);
  sl_money_format(charge, cb, sizeof cb);
  sl_reply_json(r, 200,
                json_pack("{s:o,s:s,s:s}", "trade", t, "refund", rb, "cancellation_charge", cb));
}
