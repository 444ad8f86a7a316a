/* h_limits.c — an account's request rate: GET (admin, or the account itself) and PUT (admin)
 * /v1/accounts/{id}/limits (issue 16).
 *
 * The rate of every token of an account is its kind's default (SUANLI_RATE_<KIND>, a setting
 * of each process) unless an admin stored an override (schema/018).  The override is read
 * with the token when a request authenticates and cached with it: this process drops the
 * account's cached tokens when the override changes, other processes pick it up when their
 * cache entry expires (SUANLI_AUTH_CACHE_MS, reported as "cache_ms"). */
#include "internal.h"
#include "limits.h"
#include "suanli/core/vocab.h"
#include "suanli/db/limits.h"
#include <math.h>
#include <string.h>

#define PER_SECOND_MAX_MILLI INT64_C(100000000) /* 100000 a second */
#define BURST_MAX            100000

/* A rate figure as JSON: an integer when it is whole. */
static json_t *figure(double v) {
  return v == floor(v) && fabs(v) < 1e15 ? json_integer((json_int_t)v) : json_real(v);
}

static json_t *rate_json(double per_s, double burst) {
  return json_pack("{s:o,s:o}", "per_second", figure(per_s), "burst", figure(burst));
}

/* This process's default rate of every account kind: {"<kind>": {"per_second", "burst"} or
 * null when the kind is not limited}. */
static json_t *kind_defaults(void) {
  json_t *d = json_object();
  for (const char *const *k = sl_vocab_names(SL_VD_ACCOUNT_KIND); *k; k++) {
    sl_rate def;
    json_object_set_new(
        d, *k, sl_limit_kind_rate(*k, &def) ? rate_json(def.per_s, def.burst) : json_null());
  }
  return d;
}

/* The account's RateLimits (api_rate_limits) with this process's settings; NOROWS for an
 * unknown account. */
static sl_dbrc limits_get(sl_req *r, int64_t id, json_t **out) {
  json_t *d = kind_defaults();
  sl_dbrc rc = sl_db_rate_limits_get(r->db, id, d, sl_auth_cache_ms(), out);
  json_decref(d);
  return rc;
}

/* Reply the account's limits; 404 for an unknown account. */
static void reply_limits(sl_req *r, int64_t id) {
  json_t *j;
  sl_dbrc rc = limits_get(r, id, &j);
  sl_reply_found(r, rc, j, "account", id);
}

/* GET /v1/accounts/{id}/limits — admin any account; others only their own (else 404). */
void h_account_limits_get(sl_req *r) {
  int64_t id;
  if (!sl_req_path_id(r, 0, &id)) return;
  if (!sl_role_is(r, "admin") && r->who.account_id != id) {
    sl_reply_error(r, SL_E_NOT_FOUND, "id", "no account %lld", (long long)id);
    return;
  }
  reply_limits(r, id);
}

/* PUT /v1/accounts/{id}/limits {"per_second", "burst"} (admin): both set the override; both
 * absent or null remove it (the kind's default applies again); one alone is a 400. */
void h_account_limits_set(sl_req *r) {
  int64_t id;
  if (!sl_req_object_id(r, "limits", &id)) return;
  json_t *body = sl_req_body(r);
  if (!body) return;
  int64_t per_s_milli = 0, burst = 0;
  bool has_rate = false, has_burst = false;
  const sl_jfield f[] = {
      {"per_second", SL_JT_MILLI, false, &per_s_milli, &has_rate, 1, PER_SECOND_MAX_MILLI, NULL},
      {"burst", SL_JT_INT, false, &burst, &has_burst, 1, BURST_MAX, NULL},
  };
  if (!sl_req_decode(r, body, f, sizeof f / sizeof f[0])) goto cleanup;
  if (has_rate != has_burst) {
    sl_reply_error(r, SL_E_MISSING_FIELD, has_rate ? "burst" : "per_second",
                   "per_second and burst are set together (both null: the kind's default)");
    goto cleanup;
  }
  json_t *acct;
  sl_dbrc rc = limits_get(r, id, &acct);
  if (rc == SL_DB_NOROWS) {
    sl_reply_error(r, SL_E_NOT_FOUND, "id", "no account %lld", (long long)id);
    goto cleanup;
  }
  if (rc == SL_DB_OK) json_decref(acct);
  if (rc == SL_DB_OK)
    rc = has_rate ? sl_db_rate_limits_set(r->db, id, per_s_milli, burst, r->who.account_id)
                  : sl_db_rate_limits_clear(r->db, id);
  if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
    goto cleanup;
  }
  sl_auth_cache_forget_account(id);
  reply_limits(r, id);
cleanup:
  json_decref(body);
}
