/* db/access.h — tenants' X25519 keys and reservations' sealed access details (src/db/access.c). */
#ifndef SUANLI_DB_ACCESS_H
#define SUANLI_DB_ACCESS_H
#include "suanli/db/db.h"

/* Register (or replace) an account's X25519 public key (64 hex digits) -> {"account_id",
 * "public_key", "updated_at"}. */
sl_dbrc sl_db_access_key_set(sl_dbc *c, int64_t account, const char *pk_hex, json_t **out);
/* The account's key, NOROWS when it has none. */
sl_dbrc sl_db_access_key_get(sl_dbc *c, int64_t account, json_t **out);
/* Store a reservation's sealed box (base64) sealed to pk_hex; a second store is ignored. */
sl_dbrc sl_db_access_store(sl_dbc *c, int64_t reservation, const char *pk_hex,
                           const char *sealed_b64, const char *source);
/* A trade's TradeAccess {"trade_id", "reservation_id", "public_key", "sealed" (base64 or
 * null), "source", "created_at"} and its reservation's state (tenant 0 = any); NOROWS for no
 * such trade. */
sl_dbrc sl_db_trade_access(sl_dbc *c, int64_t trade, int64_t tenant, json_t **out, char *state,
                           size_t state_len);

#endif
