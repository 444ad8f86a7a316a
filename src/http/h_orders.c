/* h_orders.c — quotes and orders (tenants); admins may read every order. */
#include "internal.h"
#include "suanli/core/clock.h"
#include "suanli/core/timeutil.h"
#include "suanli/db/clearing.h"
#include "suanli/db/market.h"
#include "suanli/trading/trading.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const order_states[] = {"open",      "filled",  "killed",
                                           "cancelled", "expired", NULL};

/* Parse the body and check that every region and model it names exists (in the book when it
 * knows them all, else in the database).  Replies and returns false on any problem. */
static bool parse_order(sl_req *r, json_t *body, sl_market_order_req *o) {
  sl_jerr je;
  if (!sl_market_order_parse(body, sl_clock_now(), o, &je)) {
    sl_reply_jerr(r, &je);
    return false;
  }
  struct {
    const json_t *codes;
    bool accel;
    const char *field;
  } checks[4] = {{o->accelerators, true, "spec.accelerators"},
                 {o->regions, false, "regions"},
                 {o->excluded, false, "exclude_regions"},
                 {NULL, false, "origin_region"}};
  json_t *origin = o->origin ? json_pack("[s]", o->origin) : NULL;
  checks[3].codes = origin;
  bool ok = true;
  for (int i = 0; i < 4 && ok; i++) {
    if (!checks[i].codes || sl_trading_book_knows(checks[i].accel, checks[i].codes)) continue;
    char *unknown = NULL;
    sl_dbrc rc = sl_db_first_unknown(r->db, checks[i].accel, checks[i].codes, &unknown);
    if (rc != SL_DB_OK) {
      sl_reply_db(r, rc);
      ok = false;
    } else if (unknown) {
      sl_reply_error(r, SL_E_UNKNOWN_REFERENCE, checks[i].field, "'%s' does not exist", unknown);
      free(unknown);
      ok = false;
    }
  }
  json_decref(origin);
  if (ok && o->m.ncu_milli_wanted > 0 && o->accelerators) { /* NCU needs a rated model */
    bool any = false;
    sl_dbrc rc = sl_db_any_rated(r->db, o->accelerators, &any);
    if (rc != SL_DB_OK) {
      sl_reply_db(r, rc);
      ok = false;
    } else if (!any) {
      sl_reply_error(r, SL_E_INVALID_VALUE, "spec.accelerators",
                     "no model named has an NCU rating: none can deliver ncu");
      ok = false;
    }
  }
  if (!ok) sl_market_order_req_free(o);
  return ok;
}

/* POST /v1/quotes: what the exchange would do with this order, booking nothing.  The reply
 * is bounded: ?limit= ranked placements (default 10, at most 100), non-matches aggregated per
 * reason; ?rejected=full adds one page of the per-pool list (?rejected_after=<pool id>,
 * ?rejected_limit=, default 100, at most 1000). */
void h_quotes_create(sl_req *r) {
  static const char *const full[] = {"full", NULL};
  int64_t limit = 0, after = 0, page = 0;
  const char *rej = NULL;
  if (!sl_req_query_int(r, "limit", 1, SL_TRADING_LIMIT_MAX, &limit) ||
      !sl_req_query_enum(r, "rejected", full, &rej) ||
      !sl_req_query_int(r, "rejected_after", 0, INT64_MAX, &after) ||
      !sl_req_query_int(r, "rejected_limit", 1, 1000, &page))
    return;
  json_t *body = sl_req_body(r);
  if (!body) return;
  sl_market_order_req o;
  if (parse_order(r, body, &o)) {
    sl_trading_quote_opts q = {
        .limit = (size_t)limit, .rejected = rej != NULL, .after = after, .page = (size_t)page};
    json_t *out = NULL;
    sl_dbrc rc = sl_trading_quote(r->db, &o, r->who.account_id, sl_clock_now(), &q, &out);
    if (rc != SL_DB_OK) sl_reply_db(r, rc);
    else sl_reply_json(r, 200, out);
    sl_market_order_req_free(&o);
  }
  json_decref(body);
}

/* POST /v1/orders: insert, try to fill now; fill-or-kill orders that cannot fill are killed,
 * good-till orders rest on the book; call orders ("clearing": "call") rest untried until the
 * periodic auction of their clearing region.  An order the tenant cannot pay for is refused whole.
 */
void h_orders_create(sl_req *r) {
  json_t *body = sl_req_body(r);
  if (!body) return;
  sl_market_order_req o;
  if (!parse_order(r, body, &o)) goto cleanup_body;
  const sl_market_order *m = &o.m;
  sl_db_order_new n = {.tenant_id = r->who.account_id,
                       .request = body,
                       .gpus = m->gpus,
                       .duration_hours = m->duration_slots,
                       .earliest_start = m->earliest_start,
                       .latest_start = m->latest_start,
                       .expires_at = o.expires_at,
                       .time_in_force = o.good_till ? "good_till" : "fill_or_kill",
                       .accelerators = o.accelerators,
                       .regions = o.regions,
                       .excluded = o.excluded,
                       .min_memory_gb = m->min_memory_gb,
                       .min_ncu_milli = m->min_ncu_milli,
                       .max_price_minor = m->max_price_minor,
                       .clearing = o.call ? "call" : "continuous",
                       .clearing_region = o.call ? o.clearing_region : NULL};
  int64_t id;
  sl_dbrc rc = sl_db_order_insert(r->db, &n, &id);
  if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
    goto cleanup;
  }
  snprintf(r->audit_object, sizeof r->audit_object, "order:%lld", (long long)id);
  sl_trading_outcome out;
  char reason[512];
  json_t *order = NULL; /* the reply: read with the order's last state change where one is */
  if (o.call) { /* rests until its clearing region's call auction (src/trading/clearing.c) */
    snprintf(reason, sizeof reason, "waiting for the call auction of clearing region %s",
             o.clearing_region);
    rc = sl_db_clearing_touch(r->db, o.clearing_region);
    if (rc == SL_DB_OK) rc = sl_db_order_set_state_get(r->db, id, "open", reason, &order);
    goto reply;
  }
  rc = sl_trading_execute(r->db, id, r->who.account_id, &o, sl_clock_now(), &out, reason,
                          sizeof reason, &order);
  if (rc == SL_DB_OK && out == SL_TRADING_NO_FUNDS) {
    sl_reply_error(r, SL_E_INSUFFICIENT_FUNDS, "", "%s", reason);
    goto cleanup;
  }
  if (rc == SL_DB_OK && out == SL_TRADING_NOT_FILLED && !o.good_till)
    rc = sl_db_order_set_state_get(r->db, id, "killed", reason, &order);
  if (rc == SL_DB_OK && out == SL_TRADING_NOT_FILLED && o.good_till)
    rc = sl_db_order_set_state(r->db, id, "open", reason);
  /* A resting order is matched once more after it commits: capacity that appeared while it
   * was being written raised its event before the order was visible. */
  if (rc == SL_DB_OK && (out == SL_TRADING_NOT_FILLED || out == SL_TRADING_PARTIAL) && o.good_till)
    rc = sl_db_order_wake(r->db, id, "new resting order");
reply:
  if (rc == SL_DB_OK && !order) rc = sl_db_order_get(r->db, id, 0, &order);
  if (rc != SL_DB_OK) {
    json_decref(order);
    sl_reply_db(r, rc);
    goto cleanup;
  }
  sl_reply_json(r, 201, order);
cleanup:
  sl_market_order_req_free(&o);
cleanup_body:
  json_decref(body);
}

static int64_t tenant_scope(const sl_req *r) {
  return sl_role_is(r, "admin") ? 0 : r->who.account_id;
}

void h_orders_list(sl_req *r) {
  int64_t after;
  int limit;
  const char *state;
  if (!sl_req_page_id(r, &after, &limit) || !sl_req_query_enum(r, "state", order_states, &state))
    return;
  json_t *items = NULL;
  sl_dbrc rc = sl_db_orders_list(r->db, tenant_scope(r), state, after, limit, &items);
  sl_reply_page(r, rc, items, limit, "id");
}

void h_orders_get(sl_req *r) {
  int64_t id;
  if (!sl_req_path_id(r, 0, &id)) return;
  json_t *o;
  sl_dbrc rc = sl_db_order_get(r->db, id, tenant_scope(r), &o);
  sl_reply_found(r, rc, o, "order", id);
}

/* DELETE /v1/orders/{id}: take a resting order off the book. */
void h_orders_cancel(sl_req *r) {
  int64_t id;
  if (!sl_req_object_id(r, "order", &id)) return;
  json_t *o = NULL;
  sl_dbrc rc = sl_db_order_cancel(r->db, id, tenant_scope(r), &o);
  if (rc == SL_DB_NOROWS) {
    sl_reply_error(r, SL_E_NOT_FOUND, "id", "no order %lld", (long long)id);
  } else if (rc == SL_DB_CHECK) {
    sl_reply_error(r, SL_E_CONFLICT, "id", "order %lld is %s, not open", (long long)id,
                   json_string_value(json_object_get(o, "state")));
    json_decref(o);
  } else if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
  } else {
    sl_reply_json(r, 200, o);
  }
}
