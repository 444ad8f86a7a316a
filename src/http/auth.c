/* auth.c — bearer tokens: format, hashing, issuing, and authenticating a request.
 *
 * A token is "sl_" + 32 lowercase hex (a public id, 128 random bits) + "_" + 43 base64url
 * characters (the secret, 256 random bits).  Only BLAKE2b-256 of the whole token is
 * stored; a lookup by that hash authenticates (the secret's entropy makes a slow hash
 * unnecessary, and the comparison happens on a hash, never on the secret). */
#include <sodium.h>
#include <string.h>
#include <strings.h>
#include "internal.h"

#define PUB_HEX 32
#define SECRET_B64 43

static bool well_formed(const char *t) {
  if (strncmp(t, "sl_", 3) != 0) return false;
  for (int i = 0; i < PUB_HEX; i++) {
    char ch = t[3 + i];
    if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) return false;
  }
  if (t[3 + PUB_HEX] != '_') return false;
  const char *s = t + 4 + PUB_HEX;
  if (strlen(s) != SECRET_B64) return false;
  for (; *s; s++)
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
          *s == '-' || *s == '_'))
      return false;
  return true;
}

static void token_hash(const char *token, uint8_t out[32]) {
  crypto_generichash(out, 32, (const unsigned char *)token, strlen(token), NULL, 0);
}

unsigned sl_role_bit(const char *kind) {
  if (!strcmp(kind, "admin")) return SL_ROLE_ADMIN;
  if (!strcmp(kind, "operator")) return SL_ROLE_OPERATOR;
  if (!strcmp(kind, "provider")) return SL_ROLE_PROVIDER;
  if (!strcmp(kind, "tenant")) return SL_ROLE_TENANT;
  return 0;
}

bool sl_auth_request(sl_req *r) {
  const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
  if (!h || !*h) {
    sl_reply_error(r, SL_E_UNAUTHENTICATED, "Authorization", "no Authorization header");
    return false;
  }
  if (strncasecmp(h, "Bearer ", 7) != 0) {
    sl_reply_error(r, SL_E_UNAUTHENTICATED, "Authorization", "the scheme must be Bearer");
    return false;
  }
  const char *t = h + 7;
  while (*t == ' ') t++;
  if (!well_formed(t)) {
    sl_reply_error(r, SL_E_TOKEN_MALFORMED, "Authorization", "the token is malformed");
    return false;
  }
  uint8_t hash[32];
  token_hash(t, hash);
  sl_dbrc rc = sl_db_token_lookup(r->db, hash, &r->who);
  if (rc == SL_DB_NOROWS) {
    sl_reply_error(r, SL_E_TOKEN_INVALID, "Authorization", "the token is unknown, expired or revoked");
    return false;
  }
  if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
    return false;
  }
  r->authed = true;
  return true;
}

sl_dbrc sl_http_issue_token(sl_dbc *c, int64_t account_id, const char *label, int64_t expires,
                            char *buf, json_t **out) {
  uint8_t pub[PUB_HEX / 2], secret[32], hash[32];
  char pub_hex[PUB_HEX + 1], sec_b64[SECRET_B64 + 2];
  randombytes_buf(pub, sizeof pub);
  randombytes_buf(secret, sizeof secret);
  sodium_bin2hex(pub_hex, sizeof pub_hex, pub, sizeof pub);
  sodium_bin2base64(sec_b64, sizeof sec_b64, secret, sizeof secret,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  snprintf(buf, SL_TOKEN_LEN + 1, "sl_%s_%s", pub_hex, sec_b64);
  token_hash(buf, hash);
  sodium_memzero(secret, sizeof secret);
  return sl_db_token_create(c, account_id, pub_hex, hash, label ? label : "", expires, out);
}
