/* accounts.c — accounts, operator regions and API tokens. */
#include "suanli/db/accounts.h"
#include "internal.h"
#include "suanli/core/vocab.h"
#include <stdlib.h>
#include <string.h>

/* Accounts and tokens leave as api_account(), api_token() and api_me() of
 * schema/022_api_objects.sql. */

/* The token t a write returned. */
#define WRITTEN_TOKEN " SELECT j::text FROM t, api_token(t, sl_now()) j"

const sl_db_stmt sl_db_stmts_accounts[] = {
    /* the new account's id; its regions are not visible to this statement's own reads, so
     * sl_db_account_create reads the account back with account_get */
    {"account_create",
     "WITH a AS (INSERT INTO accounts(kind, name) VALUES ($1, $2) RETURNING *),"
     " r AS (INSERT INTO operator_regions(account_id, region)"
     "       SELECT a.id, x FROM a, json_array_elements_text(coalesce($3::json, '[]')) x)"
     " SELECT id FROM a"},
    {"account_get", "SELECT j::text FROM accounts a, api_account(a) j WHERE a.id = $1"},
    {"me", "SELECT j::text FROM api_tokens t JOIN accounts a ON a.id = t.account_id, api_me(t, a) j"
           " WHERE t.id = $1"},
    {"accounts_list",
     "SELECT coalesce(json_agg(j ORDER BY id), '[]')::text FROM ("
     " SELECT a.id, j FROM accounts a, api_account(a) j"
     " WHERE ($1::text IS NULL OR a.kind = $1) AND a.id > $2 ORDER BY a.id LIMIT $3) s"},
    {"account_ensure_admin", "WITH i AS (INSERT INTO accounts(kind, name) VALUES ('admin', $1)"
                             "           ON CONFLICT (name) DO NOTHING RETURNING id)"
                             " SELECT id FROM i UNION ALL"
                             " SELECT id FROM accounts WHERE name = $1 AND kind = 'admin'"},
    /* who makes the power changes of this transaction (schema/023's power events) */
    {"power_actor", "SELECT set_config('suanli.actor', $1, true)"},
    /* the account's role and the token as the signed history of power says (schema/023): an
     * account with no recorded role, or a token row its history did not issue (hash, account,
     * revocation, scopes), authenticates nobody, and a role edited in place is not honoured */
    {"token_lookup", "SELECT t.id, a.id, h.role, a.name, t.public_id, t.label,"
                     "  coalesce(extract(epoch FROM t.expires_at)::bigint, 0),"
                     "  sl_power_regions(a.id)::text,"
                     "  array_to_string(t.scopes, ','), rl.per_second_milli, rl.burst"
                     " FROM api_tokens t JOIN accounts a ON a.id = t.account_id"
                     " CROSS JOIN LATERAL (SELECT sl_power_role(a.id) AS role) h"
                     " LEFT JOIN account_rate_limits rl ON rl.account_id = a.id"
                     " WHERE t.token_hash = $1::bytea AND t.revoked_at IS NULL"
                     "   AND (t.expires_at IS NULL OR t.expires_at > sl_now()) AND NOT a.disabled"
                     "   AND h.role IS NOT NULL AND sl_power_token_ok(t)"},
    {"token_create",
     "WITH t AS (INSERT INTO api_tokens(account_id, public_id, token_hash, label, expires_at)"
     " VALUES ($1, $2, $3::bytea, $4, to_timestamp($5::bigint)) RETURNING *)" WRITTEN_TOKEN},
    {"token_set_scopes",
     "WITH t AS (UPDATE api_tokens SET scopes = ARRAY(SELECT json_array_elements_text($2::json))"
     " WHERE id = $1 RETURNING *)" WRITTEN_TOKEN},
    {"tokens_list", "SELECT coalesce(json_agg(j ORDER BY id), '[]')::text FROM ("
                    " SELECT t.id, j FROM api_tokens t, api_token(t, sl_now()) j"
                    " WHERE t.account_id = $1 AND t.id > $2 ORDER BY t.id LIMIT $3) s"},
    {"token_revoke",
     "WITH t AS (UPDATE api_tokens SET revoked_at = coalesce(revoked_at, sl_now())"
     " WHERE id = $1 AND ($2::bigint IS NULL OR account_id = $2) RETURNING *)" WRITTEN_TOKEN},
    /* tokens that can authenticate now and never expire ($1) or expire after $2 */
    {"tokens_long_lived",
     "SELECT coalesce(json_agg(j ORDER BY id), '[]')::text FROM ("
     " SELECT t.id, x AS j FROM api_tokens t JOIN accounts a ON a.id = t.account_id,"
     "  api_token_listed(t, a, sl_now()) x"
     " WHERE t.revoked_at IS NULL AND NOT a.disabled"
     "   AND (t.expires_at IS NULL OR (NOT $1::boolean AND t.expires_at > to_timestamp($2::bigint)"
     "        AND t.expires_at > sl_now()))"
     "   AND t.id > $3 ORDER BY t.id LIMIT $4) s"},
    {NULL, NULL},
};

void sl_principal_clear(sl_principal *p) {
  json_decref(p->regions);
  memset(p, 0, sizeof *p);
}

sl_dbrc sl_db_token_lookup(sl_dbc *c, const uint8_t hash[32], sl_principal *out) {
  char hb[67];
  const char *v[1] = {sl_db_bytea32(hb, hash)};
  PGresult *r;
  sl_dbrc rc = sl_db_exec_row(c, "token_lookup", 1, v, &r);
  if (rc != SL_DB_OK) return rc;
  memset(out, 0, sizeof *out);
  out->token_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  out->account_id = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
  snprintf(out->kind, sizeof out->kind, "%s", PQgetvalue(r, 0, 2));
  snprintf(out->name, sizeof out->name, "%s", PQgetvalue(r, 0, 3));
  snprintf(out->token_public, sizeof out->token_public, "%s", PQgetvalue(r, 0, 4));
  snprintf(out->token_label, sizeof out->token_label, "%s", PQgetvalue(r, 0, 5));
  out->token_expires = strtoll(PQgetvalue(r, 0, 6), NULL, 10);
  if (!PQgetisnull(r, 0, 7)) out->regions = json_loads(PQgetvalue(r, 0, 7), 0, NULL);
  if (!out->regions && sl_vocab_is(out->kind, SL_ACCOUNT_KIND_OPERATOR))
    out->regions = json_array();
  out->scopes = sl_scopes_parse(PQgetvalue(r, 0, 8));
  if (!PQgetisnull(r, 0, 9)) {
    out->rate_override = true;
    out->rate_per_s = (double)strtoll(PQgetvalue(r, 0, 9), NULL, 10) / 1000.0;
    out->rate_burst = (double)strtoll(PQgetvalue(r, 0, 10), NULL, 10);
  }
  PQclear(r);
  return SL_DB_OK;
}

sl_dbrc sl_db_power_actor(sl_dbc *c, int64_t account_id) {
  char b[24];
  const char *v[1] = {sl_db_i64(b, account_id)};
  return sl_db_exec(c, "power_actor", 1, v, NULL);
}

sl_dbrc sl_db_account_create(sl_dbc *c, const char *kind, const char *name, const json_t *regions,
                             json_t **out) {
  char *rj = regions ? json_dumps(regions, JSON_COMPACT) : NULL;
  const char *v[3] = {kind, name, rj};
  int64_t id = 0;
  sl_dbrc rc = sl_db_int(c, "account_create", 3, v, &id);
  free(rj);
  return rc == SL_DB_OK ? sl_db_account_get(c, id, out) : rc;
}

sl_dbrc sl_db_account_get(sl_dbc *c, int64_t id, json_t **out) {
  return sl_db_json_id(c, "account_get", id, out);
}

sl_dbrc sl_db_me(sl_dbc *c, int64_t token_id, json_t **out) {
  return sl_db_json_id(c, "me", token_id, out);
}

sl_dbrc sl_db_accounts_list(sl_dbc *c, const char *kind, int64_t after, int limit, json_t **out) {
  char b1[24], b2[24];
  const char *v[3] = {kind, sl_db_i64(b1, after), sl_db_i64(b2, limit)};
  return sl_db_json(c, "accounts_list", 3, v, out);
}

sl_dbrc sl_db_account_ensure_admin(sl_dbc *c, const char *name, int64_t *id) {
  const char *v[1] = {name};
  return sl_db_int(c, "account_ensure_admin", 1, v, id);
}

sl_dbrc sl_db_token_create(sl_dbc *c, int64_t account_id, const char *public_id,
                           const uint8_t hash[32], const char *label, int64_t expires_at,
                           json_t **out) {
  char b1[24], b2[24], hb[67];
  const char *v[5] = {sl_db_i64(b1, account_id), public_id, sl_db_bytea32(hb, hash), label,
                      sl_db_i64_opt(b2, expires_at, 0)};
  return sl_db_json(c, "token_create", 5, v, out);
}

sl_dbrc sl_db_token_set_scopes(sl_dbc *c, int64_t id, const json_t *scopes, json_t **out) {
  return sl_db_json_doc(c, "token_set_scopes", id, scopes, out);
}

sl_dbrc sl_db_tokens_list(sl_dbc *c, int64_t account_id, int64_t after, int limit, json_t **out) {
  char b1[24], b2[24], b3[24];
  const char *v[3] = {sl_db_i64(b1, account_id), sl_db_i64(b2, after), sl_db_i64(b3, limit)};
  return sl_db_json(c, "tokens_list", 3, v, out);
}

sl_dbrc sl_db_token_revoke(sl_dbc *c, int64_t id, int64_t owner, json_t **out) {
  char b1[24], b2[24];
  const char *v[2] = {sl_db_i64(b1, id), sl_db_i64_opt(b2, owner, 0)};
  return sl_db_json(c, "token_revoke", 2, v, out);
}

sl_dbrc sl_db_tokens_long_lived(sl_dbc *c, bool never_only, int64_t horizon, int64_t after,
                                int limit, json_t **out) {
  char b1[24], b2[24], b3[24];
  const char *v[4] = {never_only ? "true" : "false", sl_db_i64(b1, horizon), sl_db_i64(b2, after),
                      sl_db_i64(b3, limit)};
  return sl_db_json(c, "tokens_long_lived", 4, v, out);
}
