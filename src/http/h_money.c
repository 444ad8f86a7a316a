/* h_money.c — balances, deposits, withdrawals, postings, budget caps, exchange settings. */
#include "internal.h"
#include "suanli/db/accounts.h"
#include "suanli/db/market.h"
#include <stdio.h>
#include <string.h>

#define AMOUNT_MAX INT64_C(100000000000) /* 1,000,000,000.00 per deposit or withdrawal */

static bool admin_or_self(const sl_req *r, int64_t id) {
  return sl_role_is(r, "admin") || r->who.account_id == id;
}

/* The path's account id, visible to the caller (admin or itself) and existing; when
 * tenant_only, it must be a tenant account (budgets). */
static bool target_account_kind(sl_req *r, int64_t *id, bool tenant_only) {
  if (!sl_req_path_id(r, 0, id)) return false;
  json_t *a = NULL;
  sl_dbrc rc = admin_or_self(r, *id) ? sl_db_account_get(r->db, *id, &a) : SL_DB_NOROWS;
  bool tenant = rc == SL_DB_OK && !strcmp(json_string_value(json_object_get(a, "kind")), "tenant");
  json_decref(a);
  if (rc == SL_DB_OK && tenant_only && !tenant) {
    sl_reply_error(r, SL_E_CONFLICT, "id", "budget caps apply to tenant accounts only");
    return false;
  }
  if (rc == SL_DB_OK) return true;
  if (rc == SL_DB_NOROWS)
    sl_reply_error(r, SL_E_NOT_FOUND, "id", "no account %lld", (long long)*id);
  else sl_reply_db(r, rc);
  return false;
}

static bool target_account(sl_req *r, int64_t *id) { return target_account_kind(r, id, false); }

static json_t *balances(sl_req *r, int64_t id) {
  json_t *b;
  sl_dbrc rc = sl_db_balances(r->db, id, &b);
  if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
    return NULL;
  }
  return b;
}

void h_balances_get(sl_req *r) {
  int64_t id;
  if (!target_account(r, &id)) return;
  json_t *b = balances(r, id);
  if (b) sl_reply_json(r, 200, b);
}

/* Deposits (admin) and withdrawals (admin or the account itself) share one body. */
static void move_money(sl_req *r, bool deposit) {
  int64_t id;
  if (!target_account(r, &id)) return;
  json_t *body = sl_req_body(r);
  if (!body) return;
  int64_t amount = 0;
  const char *memo = "";
  const sl_jfield f[] = {
      {"amount", SL_JT_MONEY, true, &amount, NULL, 1, AMOUNT_MAX, NULL},
      {"memo", SL_JT_STRING, false, &memo, NULL, 0, 200, NULL},
  };
  if (sl_req_decode(r, body, f, 2)) {
    int64_t txn = 0;
    /* the journal transaction names who moved the money and the signed grant of its role
     * (schema/023) */
    sl_dbrc rc = sl_db_power_actor(r->db, r->who.account_id);
    if (rc == SL_DB_OK)
      rc = deposit ? sl_db_deposit(r->db, id, amount, memo, &txn)
                   : sl_db_withdraw(r->db, id, amount, memo, &txn);
    if (rc != SL_DB_OK) {
      sl_reply_db(r, rc);
    } else if (txn == 0) {
      sl_reply_error(r, SL_E_INSUFFICIENT_FUNDS, "amount", "the available balance is smaller");
    } else {
      snprintf(r->audit_object, sizeof r->audit_object, "journal:%lld", (long long)txn);
      json_t *b = balances(r, id);
      if (b)
        sl_reply_json(r, 201, json_pack("{s:I,s:o}", "txn_id", (json_int_t)txn, "balances", b));
    }
  }
  json_decref(body);
}

void h_deposits_create(sl_req *r) { move_money(r, true); }
void h_withdrawals_create(sl_req *r) { move_money(r, false); }

void h_postings_list(sl_req *r) {
  int64_t id, after;
  int limit;
  if (!target_account(r, &id) || !sl_req_page_id(r, &after, &limit)) return;
  json_t *items = NULL;
  sl_dbrc rc = sl_db_postings_list(r->db, id, after, limit, &items);
  sl_reply_page(r, rc, items, limit, "id");
}

/* PUT /v1/accounts/{id}/budget {"hourly_cap"?, "monthly_cap"?}: absent or null = no cap. */
void h_budget_set(sl_req *r) {
  int64_t id;
  if (!target_account_kind(r, &id, true)) return;
  json_t *body = sl_req_body(r);
  if (!body) return;
  int64_t hourly = -1, monthly = -1;
  const sl_jfield f[] = {
      {"hourly_cap", SL_JT_MONEY, false, &hourly, NULL, 1, AMOUNT_MAX, NULL},
      {"monthly_cap", SL_JT_MONEY, false, &monthly, NULL, 1, AMOUNT_MAX, NULL},
  };
  if (sl_req_decode(r, body, f, 2)) {
    snprintf(r->audit_object, sizeof r->audit_object, "budget:%lld", (long long)id);
    sl_dbrc rc = sl_db_budget_set(r->db, id, hourly, monthly);
    if (rc == SL_DB_OK) rc = sl_db_tenant_wake(r->db, id, "budget changed");
    json_t *b = rc == SL_DB_OK ? balances(r, id) : NULL;
    if (rc != SL_DB_OK) sl_reply_db(r, rc);
    else if (b) sl_reply_json(r, 200, b);
  }
  json_decref(body);
}

void h_settings_get(sl_req *r) {
  json_t *s;
  sl_dbrc rc = sl_db_settings_get(r->db, &s);
  if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else sl_reply_json(r, 200, s);
}

void h_settings_set(sl_req *r) {
  json_t *body = sl_req_body(r);
  if (!body) return;
  int64_t fee = -1, free_h = -1, charge = -1, hb = -1, fails = -1;
  bool has[5] = {false, false, false, false, false};
  const sl_jfield f[] = {
      {"fee_bp", SL_JT_INT, false, &fee, &has[0], 0, 5000, NULL},
      {"cancel_free_hours", SL_JT_INT, false, &free_h, &has[1], 0, 8760, NULL},
      {"cancel_charge_bp", SL_JT_INT, false, &charge, &has[2], 0, 10000, NULL},
      {"heartbeat_timeout_s", SL_JT_INT, false, &hb, &has[3], 10, 86400, NULL},
      {"adapter_failure_limit", SL_JT_INT, false, &fails, &has[4], 1, 1000, NULL},
  };
  if (sl_req_decode(r, body, f, 5)) {
    if (!has[0] && !has[1] && !has[2] && !has[3] && !has[4]) {
      sl_reply_error(r, SL_E_MISSING_FIELD, "", "give at least one setting");
    } else {
      snprintf(r->audit_object, sizeof r->audit_object, "exchange_settings");
      sl_dbrc rc = sl_db_settings_set(r->db, fee, free_h, charge, hb, fails);
      json_t *s = NULL;
      if (rc == SL_DB_OK) rc = sl_db_settings_get(r->db, &s);
      if (rc != SL_DB_OK) sl_reply_db(r, rc);
      else sl_reply_json(r, 200, s);
    }
  }
  json_decref(body);
}
