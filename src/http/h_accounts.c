/* h_accounts.c — accounts and their API tokens. */
#include "internal.h"
#include "suanli/core/clock.h"
#include "suanli/core/timeutil.h"
#include "suanli/db/accounts.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kinds[] = {"admin", "provider", "tenant", "operator", NULL};

/* True when the caller is an admin or the account `id` itself. */
static bool admin_or_self(const sl_req *r, int64_t id) {
  return sl_role_is(r, "admin") || r->who.account_id == id;
}

/* POST /v1/accounts {"kind", "name", "regions"?} */
void h_accounts_create(sl_req *r) {
  json_t *body = sl_req_body(r);
  if (!body) return;
  const char *kind = NULL, *name = NULL;
  json_t *regions = NULL;
  const sl_jfield f[] = {
      {"kind", SL_JT_ENUM, true, &kind, NULL, 0, 0, kinds},
      {"name", SL_JT_STRING, true, &name, NULL, 1, 200, NULL},
      {"regions", SL_JT_ARRAY, false, &regions, NULL, 1, 200, NULL},
  };
  if (!sl_req_decode(r, body, f, sizeof f / sizeof f[0])) goto cleanup;
  bool op = strcmp(kind, "operator") == 0;
  if (op && !regions) {
    sl_reply_error(r, SL_E_MISSING_FIELD, "regions", "regions is required for an operator");
    goto cleanup;
  }
  if (!op && regions) {
    sl_reply_error(r, SL_E_UNKNOWN_FIELD, "regions", "only operator accounts have regions");
    goto cleanup;
  }
  size_t i, j;
  json_t *v;
  json_array_foreach(regions, i, v) {
    if (!json_is_string(v) || json_string_length(v) < 1 || json_string_length(v) > 40) {
      sl_reply_error(r, SL_E_WRONG_TYPE, "regions", "regions[%zu] must be a region code", i);
      goto cleanup;
    }
    for (j = 0; j < i; j++)
      if (json_equal(v, json_array_get(regions, j))) {
        sl_reply_error(r, SL_E_INVALID_VALUE, "regions", "regions[%zu] is a duplicate", i);
        goto cleanup;
      }
  }
  json_t *acct = NULL;
  sl_dbrc rc = sl_db_power_actor(r->db, r->who.account_id);
  if (rc == SL_DB_OK) rc = sl_db_account_create(r->db, kind, name, regions, &acct);
  if (rc == SL_DB_UNIQUE)
    sl_reply_error(r, SL_E_ALREADY_EXISTS, "name", "an account named '%s' exists", name);
  else if (rc == SL_DB_FK)
    sl_reply_error(r, SL_E_UNKNOWN_REFERENCE, "regions", "a region in regions does not exist");
  else if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else { sl_reply_created(r, "account", acct); }
cleanup:
  json_decref(body);
}

void h_accounts_list(sl_req *r) {
  int64_t after;
  int limit;
  const char *kind;
  if (!sl_req_page_id(r, &after, &limit) || !sl_req_query_enum(r, "kind", kinds, &kind)) return;
  json_t *items = NULL;
  sl_dbrc rc = sl_db_accounts_list(r->db, kind, after, limit, &items);
  sl_reply_page(r, rc, items, limit, "id");
}

void h_accounts_get(sl_req *r) {
  int64_t id;
  if (!sl_req_path_id(r, 0, &id)) return;
  if (!admin_or_self(r, id)) {
    sl_reply_error(r, SL_E_NOT_FOUND, "id", "no account %lld", (long long)id);
    return;
  }
  json_t *acct = NULL;
  sl_dbrc rc = sl_db_account_get(r->db, id, &acct);
  sl_reply_found(r, rc, acct, "account", id);
}

/* POST /v1/accounts/{id}/tokens {"label"?, "expires_at"?} — the secret is in this reply only. */
/* The lifetime of a token created without expires_at: the server's token_default_ttl_h
 * (SUANLI_TOKEN_DEFAULT_TTL_H, default 2160 h = 90 days; 0 = such tokens never expire).  Issue
 * 16: 40 of 43 tokens in a security pass never expired because nobody set an expiry. */
static int64_t default_ttl_s(const sl_req *r) {
  return (int64_t)sl_req_config(r)->token_default_ttl_h * 3600;
}

void h_tokens_create(sl_req *r) {
  int64_t id;
  if (!sl_req_path_id(r, 0, &id)) return;
  if (!admin_or_self(r, id)) {
    sl_reply_error(r, SL_E_NOT_FOUND, "id", "no account %lld", (long long)id);
    return;
  }
  json_t *body = sl_req_body(r);
  if (!body) return;
  const char *label = "";
  int64_t expires = 0;
  json_t *scopes = NULL;
  const sl_jfield f[] = {
      {"label", SL_JT_STRING, false, &label, NULL, 0, 200, NULL},
      {"expires_at", SL_JT_TIME, false, &expires, NULL, 0, 0, NULL},
      {"scopes", SL_JT_ARRAY, false, &scopes, NULL, 0, 11, NULL},
  };
  if (!sl_req_decode(r, body, f, sizeof f / sizeof f[0])) goto cleanup;
  size_t si;
  json_t *sv;
  json_array_foreach(scopes, si, sv) {
    const char *name = json_string_value(sv);
    bool known = false;
    for (unsigned k = 0; name && sl_scope_names[k]; k++)
      known = known || !strcmp(name, sl_scope_names[k]);
    if (!known) {
      sl_reply_error(r, SL_E_INVALID_VALUE, "scopes",
                     "scopes[%zu] must be one of: read, heartbeat, pools, market, money, accounts, "
                     "settlement, ledger, catalog, audit, agent",
                     si);
      goto cleanup;
    }
  }
  if (expires && expires <= sl_clock_now()) {
    sl_reply_error(r, SL_E_INVALID_VALUE, "expires_at", "expires_at must be in the future");
    goto cleanup;
  }
  if (!expires && default_ttl_s(r) > 0) expires = sl_clock_now() + default_ttl_s(r);
  char token[SL_TOKEN_LEN + 1];
  json_t *tok = NULL;
  sl_dbrc rc = sl_db_power_actor(r->db, r->who.account_id);
  if (rc == SL_DB_OK) rc = sl_http_issue_token(r->db, id, label, expires, token, &tok);
  if (rc == SL_DB_OK && json_array_size(scopes) > 0) {
    json_t *scoped = NULL;
    rc = sl_db_token_set_scopes(r->db, json_integer_value(json_object_get(tok, "id")), scopes,
                                &scoped);
    json_decref(tok);
    tok = rc == SL_DB_OK ? scoped : NULL;
  }
  if (rc == SL_DB_FK) {
    sl_reply_error(r, SL_E_NOT_FOUND, "id", "no account %lld", (long long)id);
  } else if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
  } else {
    /* A replay of this request must not reveal the secret again: store a copy without it. */
    json_object_set_new(tok, "token", json_null());
    json_object_set_new(tok, "token_note", json_string("shown only in the first reply"));
    r->idem_text = json_dumps(tok, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_object_del(tok, "token_note");
    json_object_set_new(tok, "token", json_string(token));
    sl_reply_created(r, "token", tok);
  }
  explicit_bzero(token, sizeof token);
cleanup:
  json_decref(body);
}

void h_tokens_list(sl_req *r) {
  int64_t id, after;
  int limit;
  if (!sl_req_path_id(r, 0, &id) || !sl_req_page_id(r, &after, &limit)) return;
  json_t *acct = NULL;
  if (!admin_or_self(r, id) || sl_db_account_get(r->db, id, &acct) != SL_DB_OK) {
    sl_reply_error(r, SL_E_NOT_FOUND, "id", "no account %lld", (long long)id);
    return;
  }
  json_decref(acct);
  json_t *items = NULL;
  sl_dbrc rc = sl_db_tokens_list(r->db, id, after, limit, &items);
  sl_reply_page(r, rc, items, limit, "id");
}

void h_tokens_revoke(sl_req *r) {
  int64_t id;
  if (!sl_req_object_id(r, "token", &id)) return;
  json_t *tok = NULL;
  sl_dbrc rc = sl_db_power_actor(r->db, r->who.account_id);
  if (rc == SL_DB_OK)
    rc = sl_db_token_revoke(r->db, id, sl_role_is(r, "admin") ? 0 : r->who.account_id, &tok);
  if (rc == SL_DB_NOROWS) {
    sl_reply_error(r, SL_E_NOT_FOUND, "id", "no token %lld", (long long)id);
  } else if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
  } else {
    sl_auth_cache_forget(id);
    sl_reply_json(r, 200, tok);
  }
}

/* GET /v1/tokens (admin): the long-lived tokens that can authenticate now — without an
 * expiry, or expiring after ?expires_after= (default: now + the default token lifetime, so
 * every token that outlives what a token created today gets); ?never=true: only those
 * without an expiry.  Last use is not tracked (recording it would write on every request). */
void h_tokens_long_lived(sl_req *r) {
  int64_t after, horizon = sl_clock_now() + default_ttl_s(r);
  int limit;
  const char *never = NULL, *when = sl_req_query(r, "expires_after");
  static const char *const booleans[] = {"true", "false", NULL};
  if (!sl_req_page_id(r, &after, &limit) || !sl_req_query_enum(r, "never", booleans, &never))
    return;
  bool never_only = never && !strcmp(never, "true");
  if (when && !sl_time_parse(when, &horizon)) {
    sl_reply_error(r, SL_E_BAD_QUERY, "expires_after",
                   "expires_after must be an RFC 3339 timestamp, e.g. 2027-01-01T00:00:00Z");
    return;
  }
  if (when && never_only) {
    sl_reply_error(r, SL_E_BAD_QUERY, "never",
                   "never=true lists tokens without an expiry: "
                   "it cannot be combined with expires_after");
    return;
  }
  json_t *items = NULL;
  sl_dbrc rc = sl_db_tokens_long_lived(r->db, never_only, horizon, after, limit, &items);
  sl_reply_page(r, rc, items, limit, "id");
}
