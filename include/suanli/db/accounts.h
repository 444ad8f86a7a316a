/* db/accounts.h — accounts and tokens (src/db/accounts.c). */
#ifndef SUANLI_DB_ACCOUNTS_H
#define SUANLI_DB_ACCOUNTS_H
#include "suanli/db/db.h"

/* Who is calling: filled by sl_db_token_lookup. */
typedef struct sl_principal {
  int64_t account_id;
  int64_t token_id;
  char kind[16]; /* admin | provider | tenant | operator */
  char name[201];
  json_t *regions; /* operator regions (array of strings, owned); NULL for others */
  char token_public[40];
  char token_label[201];
  int64_t token_expires; /* epoch s, 0 = never */
  unsigned scopes;       /* SL_SCOPE_* bits; 0 = everything the role may do (issue 16) */
  bool rate_override;    /* an admin set this account's request rate (schema/018) ... */
  double rate_per_s;     /* ... tokens a second and */
  double rate_burst;     /* ... burst; else the kind's default applies (src/http/limits.c) */
} sl_principal;

void sl_principal_clear(sl_principal *p);

/* Look up a live (not revoked, not expired, account not disabled) token by its hash. */
sl_dbrc sl_db_token_lookup(sl_dbc *c, const uint8_t hash[32], sl_principal *out);

/* Name the account making this transaction's changes of power (accounts, regions, tokens):
 * the actor of their POWER entries (schema/023; 0 when not set).  Inside a transaction. */
sl_dbrc sl_db_power_actor(sl_dbc *c, int64_t account_id);
sl_dbrc sl_db_account_create(sl_dbc *c, const char *kind, const char *name, const json_t *regions,
                             json_t **out);
sl_dbrc sl_db_account_get(sl_dbc *c, int64_t id, json_t **out);
/* GET /v1/me: the account of token token_id and the token. */
sl_dbrc sl_db_me(sl_dbc *c, int64_t token_id, json_t **out);
sl_dbrc sl_db_accounts_list(sl_dbc *c, const char *kind, int64_t after, int limit, json_t **out);
/* Ensure an admin account named `name` exists; its id in *id. */
sl_dbrc sl_db_account_ensure_admin(sl_dbc *c, const char *name, int64_t *id);

sl_dbrc sl_db_token_create(sl_dbc *c, int64_t account_id, const char *public_id,
                           const uint8_t hash[32], const char *label, int64_t expires_at,
                           json_t **out);
sl_dbrc sl_db_tokens_list(sl_dbc *c, int64_t account_id, int64_t after, int limit, json_t **out);
/* Set a token's scopes (a JSON array of names); the token in *out. */
sl_dbrc sl_db_token_set_scopes(sl_dbc *c, int64_t id, const json_t *scopes, json_t **out);
/* Revoke token id; when owner != 0 only if it belongs to that account. */
sl_dbrc sl_db_token_revoke(sl_dbc *c, int64_t id, int64_t owner, json_t **out);
/* A page of the tokens that can authenticate now (not revoked, not expired, account not
 * disabled) and never expire, or (unless never_only) expire after `horizon` (epoch s): each a
 * Token plus "account_kind" and "account_name", by id after `after`. */
sl_dbrc sl_db_tokens_long_lived(sl_dbc *c, bool never_only, int64_t horizon, int64_t after,
                                int limit, json_t **out);

#endif
