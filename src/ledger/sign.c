/* sign.c — Ed25519 key pairs from seeds, key ids, and signatures over records. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "suanli/ledger/records.h"

/* libsodium picks its fastest implementations in sodium_init(); calling it again is cheap
 * and thread-safe.  Failure means the library cannot work at all: an invariant, so stop. */
static void ensure_sodium(void) {
  if (sodium_init() < 0) abort();
}

void sl_ledger_key_id(const uint8_t pk[SL_LEDGER_PK_LEN], uint8_t id[SL_LEDGER_KEY_ID_LEN]) {
  uint8_t h[32];
  ensure_sodium();
  crypto_generichash(h, sizeof h, pk, SL_LEDGER_PK_LEN, NULL, 0); /* BLAKE2b-256, unkeyed */
  memcpy(id, h, SL_LEDGER_KEY_ID_LEN);
}

void sl_ledger_key_id_hex(const uint8_t pk[SL_LEDGER_PK_LEN],
                          char out[SL_LEDGER_KEY_ID_HEXLEN + 1]) {
  uint8_t id[SL_LEDGER_KEY_ID_LEN];
  sl_ledger_key_id(pk, id);
  sl_ledger_hex_encode(id, sizeof id, out);
}

void sl_ledger_keypair_from_seed(const uint8_t seed[SL_LEDGER_SEED_LEN], sl_ledger_keypair *kp) {
  ensure_sodium();
  crypto_sign_seed_keypair(kp->pk, kp->sk, seed);
  sl_ledger_key_id(kp->pk, kp->key_id);
  sl_ledger_hex_encode(kp->key_id, sizeof kp->key_id, kp->key_id_hex);
}

void sl_ledger_keypair_wipe(sl_ledger_keypair *kp) { sodium_memzero(kp, sizeof *kp); }

/* A record the key may sign / a verifier may accept: every check of the decoder. */
static sl_ledger_rc well_formed(const uint8_t *rec, size_t len) {
  sl_ledger_record r;
  return sl_ledger_record_decode(rec, len, &r);
}

sl_ledger_rc sl_ledger_sign(const sl_ledger_keypair *kp, const uint8_t *rec, size_t len,
                            uint8_t sig[SL_LEDGER_SIG_LEN]) {
  sl_ledger_rc rc = well_formed(rec, len);
  if (rc != SL_LEDGER_OK) return rc;
  ensure_sodium();
  crypto_sign_detached(sig, NULL, rec, len, kp->sk);
  return SL_LEDGER_OK;
}

sl_ledger_rc sl_ledger_verify(const uint8_t pk[SL_LEDGER_PK_LEN], const uint8_t *rec, size_t len,
                              const uint8_t sig[SL_LEDGER_SIG_LEN]) {
  sl_ledger_rc rc = well_formed(rec, len);
  if (rc != SL_LEDGER_OK) return rc;
  ensure_sodium();
  return crypto_sign_verify_detached(sig, rec, len, pk) == 0 ? SL_LEDGER_OK : SL_LEDGER_ESIG;
}

sl_ledger_rc sl_ledger_cosignature_verify(const uint8_t pk[SL_LEDGER_PK_LEN], const uint8_t *cp,
                                          size_t cp_len, int64_t t,
                                          const uint8_t sig[SL_LEDGER_SIG_LEN],
                                          uint8_t rec[SL_LEDGER_COSIGNATURE_SIZE]) {
  sl_ledger_cosignature c;
  sl_ledger_rc rc = sl_ledger_cosignature_of(cp, cp_len, t, &c);
  if (rc == SL_LEDGER_OK) rc = sl_ledger_cosignature_encode(&c, rec);
  if (rc == SL_LEDGER_OK) rc = sl_ledger_verify(pk, rec, SL_LEDGER_COSIGNATURE_SIZE, sig);
  return rc;
}
