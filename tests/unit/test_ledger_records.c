/* test_ledger_records.c — records, keys, signatures, leaf data, hash chain and hex of
 * src/ledger/ (records.c, sign.c, merkle.c, hex.c).
 *
 * The worked example of api/SIGNING.md is frozen here byte for byte: seed 00 01 .. 1f, the
 * TRADE below, its record bytes, signature, key id and leaf hash.  They were produced once by
 * this code and cross-checked with an independent implementation (Python: struct.pack
 * ">IIQQQQQQIqqqqIq", the `cryptography` package's Ed25519, hashlib's BLAKE2b and SHA-256);
 * the offsets were checked by hand against the layout table.  If this test fails, the wire
 * format changed: every receipt ever issued would stop verifying. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "suanli/ledger/records.h"

/* ------------------------------------------------------------------------ worked example */

#define EX_PK     "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
#define EX_KEY_ID "9d24e2eeaf27c2a0"
#define EX_RECORD                                                                                  \
  "00000068"         /*   0 size = 104 */                                                          \
  "00000001"         /*   4 purpose = 1 TRADE */                                                   \
  "000000000000002a" /*   8 entry_id = 42 */                                                       \
  "00000000000003e9" /*  16 trade_id = 1001 */                                                     \
  "00000000000001f5" /*  24 order_id = 501 */                                                      \
  "0000000000000007" /*  32 tenant_id = 7 */                                                       \
  "0000000000000003" /*  40 provider_id = 3 */                                                     \
  "000000000000000c" /*  48 pool_id = 12 */                                                        \
  "00000008"         /*  56 gpus = 8 */                                                            \
  "000000006b0e0e00" /*  60 start = 1796083200 */                                                  \
  "000000006b0e4640" /*  68 end = 1796097600 */                                                    \
  "00000000000000f5" /*  76 unit_price_minor = 245 */                                              \
  "0000000000001ea0" /*  84 total_minor = 7840 */                                                  \
  "000000fa"         /*  92 fee_bp = 250 */                                                        \
  "000000006b0a0477" /*  96 created_at = 1795818615 */
#define EX_SIG                                                                                     \
  "5b91792c1379b59a5b39411e0e9ec076361ff7ded441afd31c8b1fd24f879d34"                               \
  "cce33bbf92ec78de9756fbfdc05cf26b9dbe9af46090be15c946766f3e86ae07"
#define EX_LEAF   "9122bb0ed3d8cc1eae4d63b5b01410c5e65bcea5c5bfa357c61c4931b8555b56"
#define EX_CHAIN0 "5d0d0d0bb5d911b65fae64b993937b4a9d030973f3e447f4adbba552fad767c7"

/* The POWER worked example of api/SIGNING.md (a token issued), cross-checked with Python
 * (struct.pack ">IIQQIIQQQ32sq", the `cryptography` package's Ed25519) and in
 * tests/e2e/test_power_ledger.py. */
#define EX_POWER_DIGEST "ab6f67326f4e337387de9bc593488d9b0866ae5734eb8b7d99c1a671bdb58cf9"
#define EX_POWER_RECORD                                                                            \
  "00000060"          /*   0 size = 96 */                                                          \
  "0000000a"          /*   4 purpose = 10 POWER */                                                 \
  "000000000000002b"  /*   8 entry_id = 43 */                                                      \
  "0000000000000011"  /*  16 event_id = 17 */                                                      \
  "00000005"          /*  24 action = 5 TOKEN_ISSUED */                                            \
  "00000000"          /*  28 role = 0 */                                                           \
  "0000000000000007"  /*  32 account_id = 7 */                                                     \
  "0000000000000001"  /*  40 actor_id = 1 */                                                       \
  "000000000000000c"  /*  48 object_id = 12 (the token) */                                         \
      EX_POWER_DIGEST /*  56 digest = BLAKE2b-256("example token") */                              \
  "000000006b0a0477"  /*  88 at = 1795818615 */
#define EX_POWER_SIG                                                                               \
  "288ae0572eeccdbf844fe0c6496dd0ef157c1e3fd2b24dd1c1754d38c7a38a3b"                               \
  "4bde694b73ea164c9c42e0ff570d8fc72c3d077dd78abddab8ba560562bd1a08"
#define EX_POWER_LEAF "02ad371b6e88002f6d0f6db54836dd7e8583a29c5ca603d9c7ee1b2852b7a9ef"

/* The AUDIT_HEAD worked example of api/SIGNING.md: the first 1000 rows of the audit log chain
 * to SHA-256("example chain"); cross-checked with Python (struct.pack ">IIQQ32sq"). */
#define EX_HEAD_CHAIN "82900e9ff184b708895a39e5ba12491de180ca649e67c6393e64f4e18751cfcd"
#define EX_HEAD_RECORD                                                                             \
  "00000040"         /*   0 size = 64 */                                                           \
  "0000000b"         /*   4 purpose = 11 AUDIT_HEAD */                                             \
  "000000000000002c" /*   8 entry_id = 44 */                                                       \
  "00000000000003e8" /*  16 count = 1000 */                                                        \
      EX_HEAD_CHAIN  /*  24 chain */                                                               \
  "000000006b0a0477" /*  56 at = 1795818615 */
#define EX_HEAD_SIG                                                                                \
  "8f52c3d1b8966c9b4e6ed5c419a98610bbd573c9dfda1983fb4a392c27d55e2d"                               \
  "a513946e97a7c1fdf5a0fac49a4d7edfe3a1e082f899f61ce8d34398f9f88d0f"
#define EX_HEAD_LEAF "fe79816b093812f16fee0b9642bf5e533b2e623a2b88115927283087395ccb4a"

static const sl_ledger_trade EX_TRADE = {
    .entry_id = 42,
    .trade_id = 1001,
    .order_id = 501,
    .tenant_id = 7,
    .provider_id = 3,
    .pool_id = 12,
    .gpus = 8,
    .start = 1796083200,      /* 2026-12-01T00:00:00Z */
    .end = 1796097600,        /* 2026-12-01T04:00:00Z */
    .unit_price_minor = 245,  /* 2.45 per GPU-hour */
    .total_minor = 7840,      /* 8 GPUs * 4 h * 245 */
    .fee_bp = 250,            /* 2.5 % */
    .created_at = 1795818615, /* 2026-11-27T22:30:15Z */
};

static void example_key(sl_ledger_keypair *kp) {
  uint8_t seed[SL_LEDGER_SEED_LEN];
  for (int i = 0; i < SL_LEDGER_SEED_LEN; i++) seed[i] = (uint8_t)i;
  sl_ledger_keypair_from_seed(seed, kp);
}

static void other_key(sl_ledger_keypair *kp) {
  uint8_t seed[SL_LEDGER_SEED_LEN];
  memset(seed, 0xa5, sizeof seed);
  sl_ledger_keypair_from_seed(seed, kp);
}

static void expect_hex(const char *what, const uint8_t *bin, size_t len, const char *want) {
  char got[2 * SL_LEDGER_LEAF_DATA_MAX + 1];
  assert_true(len <= SL_LEDGER_LEAF_DATA_MAX);
  sl_ledger_hex_encode(bin, len, got);
  if (strcmp(got, want) != 0) fail_msg("%s:\n  got  %s\n  want %s", what, got, want);
}

/* Field by field: the structs have padding, so never memcmp them. */
static bool trade_equal(const sl_ledger_trade *x, const sl_ledger_trade *y) {
  return x->entry_id == y->entry_id && x->trade_id == y->trade_id && x->order_id == y->order_id &&
         x->tenant_id == y->tenant_id && x->provider_id == y->provider_id &&
         x->pool_id == y->pool_id && x->gpus == y->gpus && x->start == y->start &&
         x->end == y->end && x->unit_price_minor == y->unit_price_minor &&
         x->total_minor == y->total_minor && x->fee_bp == y->fee_bp &&
         x->created_at == y->created_at;
}

static bool money_equal(const sl_ledger_money *x, const sl_ledger_money *y) {
  return x->purpose == y->purpose && x->entry_id == y->entry_id && x->trade_id == y->trade_id &&
         x->account_id == y->account_id && x->journal_txn_id == y->journal_txn_id &&
         x->to_tenant_minor == y->to_tenant_minor && x->to_provider_minor == y->to_provider_minor &&
         x->fee_minor == y->fee_minor && x->at == y->at;
}

static bool checkpoint_equal(const sl_ledger_checkpoint *x, const sl_ledger_checkpoint *y) {
  return x->tree_size == y->tree_size && x->timestamp == y->timestamp &&
         memcmp(x->root.b, y->root.b, 32) == 0;
}

static void test_worked_example(void **state) {
  (void)state;
  sl_ledger_keypair kp;
  example_key(&kp);
  expect_hex("public key", kp.pk, sizeof kp.pk, EX_PK);
  assert_string_equal(kp.key_id_hex, EX_KEY_ID);
  expect_hex("raw key id", kp.key_id, sizeof kp.key_id, EX_KEY_ID);

  uint8_t rec[SL_LEDGER_TRADE_SIZE], sig[SL_LEDGER_SIG_LEN];
  assert_int_equal(sl_ledger_trade_encode(&EX_TRADE, rec), SL_LEDGER_OK);
  expect_hex("record", rec, sizeof rec, EX_RECORD);
  assert_int_equal(sl_ledger_sign(&kp, rec, sizeof rec, sig), SL_LEDGER_OK);
  expect_hex("signature", sig, sizeof sig, EX_SIG);
  assert_int_equal(sl_ledger_verify(kp.pk, rec, sizeof rec, sig), SL_LEDGER_OK);

  sl_ledger_hash leaf, chain;
  assert_int_equal(sl_ledger_entry_leaf_hash(rec, sizeof rec, kp.key_id, sig, &leaf), SL_LEDGER_OK);
  expect_hex("leaf hash", leaf.b, 32, EX_LEAF);
  sl_ledger_chain_step(NULL, &leaf, &chain);
  expect_hex("chain_0", chain.b, 32, EX_CHAIN0);

  /* and back: the frozen bytes decode to the example and verify */
  uint8_t frozen[SL_LEDGER_TRADE_SIZE], fsig[SL_LEDGER_SIG_LEN], pk[SL_LEDGER_PK_LEN];
  assert_true(sl_ledger_hex_decode(EX_RECORD, frozen, sizeof frozen));
  assert_true(sl_ledger_hex_decode(EX_SIG, fsig, sizeof fsig));
  assert_true(sl_ledger_hex_decode(EX_PK, pk, sizeof pk));
  sl_ledger_trade t;
  assert_int_equal(sl_ledger_trade_decode(frozen, sizeof frozen, &t), SL_LEDGER_OK);
  assert_true(trade_equal(&t, &EX_TRADE));
  assert_int_equal(sl_ledger_verify(pk, frozen, sizeof frozen, fsig), SL_LEDGER_OK);
  char kid[SL_LEDGER_KEY_ID_HEXLEN + 1];
  sl_ledger_key_id_hex(pk, kid);
  assert_string_equal(kid, EX_KEY_ID);
  sl_ledger_keypair_wipe(&kp);
}

/* A worked example's record (its time is the examples' 1795818615): its bytes, signature under
 * the example key and leaf hash are the frozen ones, and it decodes into *r. */
static void check_frozen(const sl_ledger_keypair *kp, const uint8_t *rec, size_t len,
                         const char *rec_hex, const char *sig_hex, const char *leaf_hex,
                         sl_ledger_record *r) {
  uint8_t sig[SL_LEDGER_SIG_LEN];
  expect_hex("record", rec, len, rec_hex);
  assert_int_equal(sl_ledger_sign(kp, rec, len, sig), SL_LEDGER_OK);
  expect_hex("signature", sig, sizeof sig, sig_hex);
  sl_ledger_hash leaf;
  assert_int_equal(sl_ledger_entry_leaf_hash(rec, len, kp->key_id, sig, &leaf), SL_LEDGER_OK);
  expect_hex("leaf hash", leaf.b, 32, leaf_hex);
  assert_int_equal(sl_ledger_record_decode(rec, len, r), SL_LEDGER_OK);
  int64_t t = 0;
  assert_true(sl_ledger_record_time(r, &t));
  assert_int_equal(t, 1795818615);
}

/* The POWER example: record, signature and leaf hash frozen, and the layout's rules. */
static void test_power_example(void **state) {
  (void)state;
  sl_ledger_keypair kp;
  example_key(&kp);
  sl_ledger_power p = {.entry_id = 43,
                       .event_id = 17,
                       .action = SL_POWER_TOKEN_ISSUED,
                       .role = 0,
                       .account_id = 7,
                       .actor_id = 1,
                       .object_id = 12,
                       .at = 1795818615};
  crypto_generichash(p.digest.b, 32, (const uint8_t *)"example token", 13, NULL, 0);
  expect_hex("digest", p.digest.b, 32, EX_POWER_DIGEST);
  uint8_t rec[SL_LEDGER_POWER_SIZE];
  assert_int_equal(sl_ledger_power_encode(&p, rec), SL_LEDGER_OK);
  sl_ledger_record r;
  check_frozen(&kp, rec, sizeof rec, EX_POWER_RECORD, EX_POWER_SIG, EX_POWER_LEAF, &r);
  assert_int_equal(r.purpose, SL_LEDGER_POWER);
  assert_int_equal(sl_ledger_record_entry_id(&r), 43);
  assert_memory_equal(&r.u.power, &p, sizeof p);
  /* the rules: ids never 0, a known action, a role exactly for account and role actions, an
   * object exactly for the token actions; the decoder refuses the same bytes */
  struct {
    uint32_t action, role;
    uint64_t object;
    bool ok;
  } rules[] = {
      {SL_POWER_ACCOUNT_CREATED, 3, 0, true},
      {SL_POWER_ACCOUNT_CREATED, 0, 0, false},
      {SL_POWER_ROLE_CHANGED, 1, 0, true},
      {SL_POWER_ROLE_CHANGED, 5, 0, false},
      {SL_POWER_REGION_GRANTED, 0, 0, true},
      {SL_POWER_REGION_GRANTED, 4, 0, false},
      {SL_POWER_REGION_REVOKED, 0, 9, false},
      {SL_POWER_TOKEN_ISSUED, 0, 0, false},
      {SL_POWER_TOKEN_REVOKED, 0, 9, true},
      {SL_POWER_TOKEN_SCOPES, 0, 9, true},
      {0, 0, 0, false},
      {8, 0, 9, false},
  };
  for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
    sl_ledger_power q = p;
    q.action = rules[i].action;
    q.role = rules[i].role;
    q.object_id = rules[i].object;
    uint8_t b[SL_LEDGER_POWER_SIZE];
    if (sl_ledger_power_encode(&q, b) != (rules[i].ok ? SL_LEDGER_OK : SL_LEDGER_EFIELD))
      fail_msg("power rule %zu", i);
    memcpy(b, rec, sizeof b);
    b[27] = (uint8_t)rules[i].action;
    b[31] = (uint8_t)rules[i].role;
    for (int k = 0; k < 8; k++) b[48 + k] = (uint8_t)(rules[i].object >> (56 - 8 * k));
    sl_ledger_power d;
    if (sl_ledger_power_decode(b, sizeof b, &d) != (rules[i].ok ? SL_LEDGER_OK : SL_LEDGER_EFIELD))
      fail_msg("power rule %zu (decode)", i);
  }
  static const size_t zero_at[] = {8, 16, 32}; /* entry_id, event_id, account_id */
  for (size_t i = 0; i < 3; i++) {
    uint8_t b[SL_LEDGER_POWER_SIZE];
    memcpy(b, rec, sizeof b);
    memset(b + zero_at[i], 0, 8);
    sl_ledger_power d;
    assert_int_equal(sl_ledger_power_decode(b, sizeof b, &d), SL_LEDGER_EFIELD);
  }
  sl_ledger_keypair_wipe(&kp);
}

/* The AUDIT_HEAD example, frozen, and its rules. */
static void test_audit_head_example(void **state) {
  (void)state;
  sl_ledger_keypair kp;
  example_key(&kp);
  sl_ledger_audit_head h = {.entry_id = 44, .count = 1000, .at = 1795818615};
  crypto_hash_sha256(h.chain.b, (const uint8_t *)"example chain", 13);
  expect_hex("chain", h.chain.b, 32, EX_HEAD_CHAIN);
  uint8_t rec[SL_LEDGER_AUDIT_HEAD_SIZE];
  assert_int_equal(sl_ledger_audit_head_encode(&h, rec), SL_LEDGER_OK);
  sl_ledger_record r;
  check_frozen(&kp, rec, sizeof rec, EX_HEAD_RECORD, EX_HEAD_SIG, EX_HEAD_LEAF, &r);
  assert_int_equal(r.purpose, SL_LEDGER_AUDIT_HEAD);
  assert_int_equal(sl_ledger_record_entry_id(&r), 44);
  assert_memory_equal(&r.u.audit_head, &h, sizeof h);
  sl_ledger_audit_head bad = h;
  bad.count = 0;
  assert_int_equal(sl_ledger_audit_head_encode(&bad, rec), SL_LEDGER_EFIELD);
  bad = h;
  bad.entry_id = 0;
  assert_int_equal(sl_ledger_audit_head_encode(&bad, rec), SL_LEDGER_EFIELD);
  sl_ledger_keypair_wipe(&kp);
}

/* ------------------------------------------------------------------------ sample records */

/* One record of every purpose, with values that fill every byte of some fields. */
static size_t sample_records(sl_ledger_record out[16]) {
  size_t n = 0;
  out[n].purpose = SL_LEDGER_TRADE;
  out[n++].u.trade = EX_TRADE;
  out[n].purpose = SL_LEDGER_TRADE;
  out[n++].u.trade = (sl_ledger_trade){
      UINT64_MAX, UINT64_MAX - 1, 1,          2, 3, 4, UINT32_MAX, INT64_MIN, INT64_MAX,
      -1,         INT64_MIN + 1,  UINT32_MAX, -1};
  for (uint32_t p = SL_LEDGER_CANCELLATION; p <= SL_LEDGER_WITHDRAWAL; p++) {
    bool funds = p == SL_LEDGER_DEPOSIT || p == SL_LEDGER_WITHDRAWAL;
    out[n].purpose = p;
    out[n++].u.money = (sl_ledger_money){p,
                                         100 + p,
                                         funds ? 0 : 1001,
                                         7,
                                         0x0102030405060708u,
                                         p == SL_LEDGER_WITHDRAWAL ? -250000 : 3920,
                                         3822,
                                         -98,
                                         1795818615 + (int64_t)p};
  }
  out[n].purpose = SL_LEDGER_DEPOSIT;
  out[n++].u.money =
      (sl_ledger_money){SL_LEDGER_DEPOSIT, UINT64_MAX, 0,         UINT64_MAX, UINT64_MAX,
                        INT64_MAX,         INT64_MIN,  INT64_MIN, INT64_MIN};
  out[n].purpose = SL_LEDGER_CHECKPOINT;
  out[n].u.checkpoint.tree_size = 5000;
  for (int i = 0; i < 32; i++) out[n].u.checkpoint.root.b[i] = (uint8_t)(0xf0 ^ i);
  out[n++].u.checkpoint.timestamp = 1795818700;
  out[n].purpose = SL_LEDGER_CHECKPOINT;
  memset(&out[n].u.checkpoint, 0, sizeof out[n].u.checkpoint); /* the empty tree at epoch 0 */
  n++;
  out[n].purpose = SL_LEDGER_EXPORT;
  crypto_hash_sha256(out[n++].u.export_.sha256.b, (const uint8_t *)"statement", 9);
  return n;
}

static bool record_equal(const sl_ledger_record *a, const sl_ledger_record *b) {
  if (a->purpose != b->purpose) return false;
  switch (a->purpose) {
  case SL_LEDGER_TRADE: return trade_equal(&a->u.trade, &b->u.trade);
  case SL_LEDGER_CHECKPOINT: return checkpoint_equal(&a->u.checkpoint, &b->u.checkpoint);
  case SL_LEDGER_EXPORT: return memcmp(a->u.export_.sha256.b, b->u.export_.sha256.b, 32) == 0;
  default: return money_equal(&a->u.money, &b->u.money);
  }
}

/* ------------------------------------------------------- worked examples of every purpose */
/* The examples of api/SIGNING.md "Worked examples of the other purposes", byte for byte (the
 * same values are recomputed in Python by tests/unit/signing_examples.py). */

#define ABC_SHA256 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

typedef struct {
  const char *name;
  sl_ledger_record rec;
  const char *record, *sig, *leaf; /* leaf NULL: not an entry */
} example;

static void hash_of(const char *hex, sl_ledger_hash *h) {
  assert_true(sl_ledger_hex_decode(hex, h->b, 32));
}

static void test_worked_examples_every_purpose(void **state) {
  (void)state;
  sl_ledger_keypair kp, wk;
  example_key(&kp);
  uint8_t seed[SL_LEDGER_SEED_LEN];
  for (int i = 0; i < SL_LEDGER_SEED_LEN; i++) seed[i] = (uint8_t)(32 + i);
  sl_ledger_keypair_from_seed(seed, &wk);
  char hex[2 * SL_LEDGER_PK_LEN + 1];
  sl_ledger_hex_encode(wk.pk, sizeof wk.pk, hex);
  assert_string_equal(hex, "29acbae141bccaf0b22e1a94d34d0bc7361e526d0bfe12c89794bc9322966dd7");
  assert_string_equal(wk.key_id_hex, "25843b3a196efcef");
  sl_ledger_hash abc, leaf;
  hash_of(ABC_SHA256, &abc);
  hash_of(EX_LEAF, &leaf);
#define MONEY(p, e, t, a, j, tt, tp, f, at)                                                        \
  {                                                                                                \
    .purpose = p, .u.money = { p, e, t, a, j, tt, tp, f, at }                                      \
  }
  example ex[] = {
      {"CANCELLATION", MONEY(2, 43, 1001, 7, 9001, 7056, 764, 20, 1795905015),
       "0000004800000002000000000000002b00000000000003e90000000000000007000000000000232900000000000"
       "01b9000000000000002fc0000000000000014000000006b0b55f7",
       "224ebe2cfc58d9a6c77a922453c6d7c7fb0baa1c6165adeaee55b4a6e41a6465152f949940d61784d73795ed6b5"
       "aa566f33e67d29a62f0b83166b40839301905",
       "e232ba52f4a45732068868c47187ed66367aae07c7d8d6369fedb084472d0b2b"},
      {"SETTLEMENT", MONEY(3, 44, 1002, 7, 9002, 0, 7644, 196, 1796097600),
       "0000004800000003000000000000002c00000000000003ea0000000000000007000000000000232a00000000000"
       "000000000000000001ddc00000000000000c4000000006b0e4640",
       "fab24ddc29e578a81bfccb73205a9c753f48efce68cef996be7299cf4ef8262d59881657f890fcf986afacb14f3"
       "ba2881409031104a27e3a9006bdade1582806",
       "4986a737d429ef996f2468fa1b36aa8b0b38e9eb96ce1320efb591ab15354f3f"},
      {"REFUND", MONEY(4, 45, 1003, 7, 9003, 3920, 0, 0, 1796090400),
       "0000004800000004000000000000002d00000000000003eb0000000000000007000000000000232b00000000000"
       "00f5000000000000000000000000000000000000000006b0e2a20",
       "eefd1e9a0dba38966723b115a840e241976f8a6ae139cb69eb2bd7be34e8f174ab9e4f382594c9f0ac70959639f"
       "298f41c8eea5260265559dcd4f1496ced9504",
       "a2f5866311ee3b8e127379d7c9b2cb926b90073b60ed45fa319c0c5a7751e200"},
      {"DEPOSIT", MONEY(5, 46, 0, 3, 9004, 100000, 0, 0, 1795800000),
       "0000004800000005000000000000002e00000000000000000000000000000003000000000000232c00000000000"
       "186a000000000000000000000000000000000000000006b09bbc0",
       "1365dd05d9eefa58976cc628678cbb6d3a85f2b7a7bacb574b246a8782c5919bcb07ac08b5e4a71008cecbed799"
       "31d6afcca335af06f318e491b74d86ab2860d",
       "711ba8b4de71fef86f112a2da11e20a75162906bac6dd5959fa8625e3acac85f"},
      {"WITHDRAWAL", MONEY(6, 47, 0, 7, 9005, -7770, 0, 0, 1795810000),
       "0000004800000006000000000000002f00000000000000000000000000000007000000000000232dfffffffffff"
       "fe1a600000000000000000000000000000000000000006b09e2d0",
       "062060070fc037a34b6fc7de3a0c183ce3a150ec57bba1c403132edd82f9b558abc353d9053965ef0fce00ce6fc"
       "8e3358691e982443153b9d51f515ba0adaf03",
       "6f7f146a7e1564fb748c5e0c12de572498d4c0b7a68cd7ef03234b526f3fae8a"},
      {"CHECKPOINT",
       {.purpose = 7, .u.checkpoint = {1, leaf, 1795818620}},
       "000000380000000700000000000000019122bb0ed3d8cc1eae4d63b5b01410c5e65bcea5c5bfa357c61c4931b85"
       "55b56000000006b0a047c",
       "223a03dca183497a182a8ff464582e64d3794895165fdce9f8f699aeef4e763e3deeed411433835b6efc3c8087c"
       "3ba89963c5a6b7f62de223e851c7ead599d09",
       NULL},
      {"EXPORT",
       {.purpose = 8, .u.export_ = {abc}},
       "0000002800000008ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
       "9f5b27c5cbda259cfa8cfe8b316e11691ba3efdc1b66d35844a64e82d137ed1415b0d2e8cd5fe7191e7084574be"
       "98596258b6a0d5107e0d81e23c6b63417f008",
       NULL},
      {"PERIOD_CLOSE",
       {.purpose = 9, .u.period = {48, 2, 1793491200, 1796083200, abc, 1796083260}},
       "000000500000000900000000000000300000000000000002000000006ae68100000000006b0e0e00ba7816bf8f0"
       "1cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad000000006b0e0e3c",
       "2f424a66138034233a5bfc12cd9913500d2f6bb1600164039682aded94c5a14d3804b91dda4053a6a4978a5263e"
       "a3998dd55ff15a75cc97b46f0cdd8499af50d",
       "db6ea4310dc9a85d6a7c3b81dc30fc3593dc0cf25b5868828fe6237a78bcfcb8"},
  };
#undef MONEY
  uint8_t cp[SL_LEDGER_CHECKPOINT_SIZE];
  for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
    uint8_t buf[SL_LEDGER_RECORD_MAX], sig[SL_LEDGER_SIG_LEN];
    size_t len = 0;
    assert_int_equal(sl_ledger_record_encode(&ex[i].rec, buf, sizeof buf, &len), SL_LEDGER_OK);
    assert_int_equal(len, sl_ledger_purpose_size(ex[i].rec.purpose));
    expect_hex(ex[i].name, buf, len, ex[i].record);
    assert_int_equal(sl_ledger_sign(&kp, buf, len, sig), SL_LEDGER_OK);
    expect_hex(ex[i].name, sig, sizeof sig, ex[i].sig);
    sl_ledger_record back;
    assert_int_equal(sl_ledger_record_decode(buf, len, &back), SL_LEDGER_OK);
    assert_int_equal(sl_ledger_record_entry_id(&back) != 0, ex[i].leaf != NULL);
    if (ex[i].leaf) {
      sl_ledger_hash lh;
      assert_int_equal(sl_ledger_entry_leaf_hash(buf, len, kp.key_id, sig, &lh), SL_LEDGER_OK);
      expect_hex(ex[i].name, lh.b, 32, ex[i].leaf);
    }
    if (ex[i].rec.purpose == SL_LEDGER_CHECKPOINT) memcpy(cp, buf, sizeof cp);
  }
  /* the witness's cosignature of that checkpoint, and its verification */
  sl_ledger_cosignature cs;
  uint8_t rec[SL_LEDGER_COSIGNATURE_SIZE], rebuilt[SL_LEDGER_COSIGNATURE_SIZE],
      sig[SL_LEDGER_SIG_LEN];
  assert_int_equal(sl_ledger_cosignature_of(cp, sizeof cp, 1795818630, &cs), SL_LEDGER_OK);
  expect_hex("checkpoint sha256", cs.checkpoint_sha256.b, 32,
             "1568db0293194581bc1b49cfd9f183b8d5f2c96b304a2c2de6df75e345304475");
  assert_int_equal(sl_ledger_cosignature_encode(&cs, rec), SL_LEDGER_OK);
  expect_hex(
      "COSIGNATURE", rec, sizeof rec,
      "000000580000000c000000006b0a048600000000000000019122bb0ed3d8cc1eae4d63b5b01410c5e65bcea5"
      "c5bfa357c61c4931b8555b561568db0293194581bc1b49cfd9f183b8d5f2c96b304a2c2de6df75e345304475");
  assert_int_equal(sl_ledger_sign(&wk, rec, sizeof rec, sig), SL_LEDGER_OK);
  expect_hex(
      "COSIGNATURE signature", sig, sizeof sig,
      "a630c321e7cc970b3d16f56f0e1617be42543178ee0d0d8d1ee80b508e1574450d59c53350eb9a466c6cf861bd"
      "8160c291e522e3af6a09988d12af7efa192201");
  assert_int_equal(sl_ledger_cosignature_verify(wk.pk, cp, sizeof cp, 1795818630, sig, rebuilt),
                   SL_LEDGER_OK);
  assert_memory_equal(rebuilt, rec, sizeof rec);
  /* another time, another key, another checkpoint, or not a checkpoint: refused */
  assert_int_equal(sl_ledger_cosignature_verify(wk.pk, cp, sizeof cp, 1795818631, sig, rebuilt),
                   SL_LEDGER_ESIG);
  assert_int_equal(sl_ledger_cosignature_verify(kp.pk, cp, sizeof cp, 1795818630, sig, rebuilt),
                   SL_LEDGER_ESIG);
  cp[20] ^= 1;
  assert_int_equal(sl_ledger_cosignature_verify(wk.pk, cp, sizeof cp, 1795818630, sig, rebuilt),
                   SL_LEDGER_ESIG);
  assert_int_not_equal(
      sl_ledger_cosignature_verify(wk.pk, rec, sizeof rec, 1795818630, sig, rebuilt), SL_LEDGER_OK);
  sl_ledger_keypair_wipe(&kp);
  sl_ledger_keypair_wipe(&wk);
}

/* ----------------------------------------------------------------------------- registry */

static void test_registry(void **state) {
  (void)state;
  static const struct {
    uint32_t p;
    const char *name;
    size_t size;
    bool money;
  } want[] = {
      {1, "trade", 104, false},     {2, "cancellation", 72, true}, {3, "settlement", 72, true},
      {4, "refund", 72, true},      {5, "deposit", 72, true},      {6, "withdrawal", 72, true},
      {7, "checkpoint", 56, false}, {8, "export", 40, false},      {9, "period_close", 80, false},
      {10, "power", 96, false},     {11, "audit_head", 64, false}, {12, "cosignature", 88, false},
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    assert_string_equal(sl_ledger_purpose_name(want[i].p), want[i].name);
    assert_int_equal(sl_ledger_purpose_size(want[i].p), want[i].size);
    assert_int_equal(sl_ledger_purpose_is_money(want[i].p), want[i].money);
  }
  static const uint32_t unknown[] = {0, 13, 14, 255, 256, 0x01000001u, UINT32_MAX};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    assert_null(sl_ledger_purpose_name(unknown[i]));
    assert_int_equal(sl_ledger_purpose_size(unknown[i]), 0);
    assert_false(sl_ledger_purpose_is_money(unknown[i]));
  }
  assert_int_equal(SL_LEDGER_PURPOSE_MAX, 12);
  assert_int_equal(SL_LEDGER_RECORD_MAX, SL_LEDGER_TRADE_SIZE);
  assert_int_equal(SL_LEDGER_LEAF_DATA_MAX, 104 + 8 + 64);
  for (int rc = SL_LEDGER_OK; rc <= SL_LEDGER_ERANGE; rc++) {
    const char *s = sl_ledger_strerror((sl_ledger_rc)rc);
    assert_non_null(s);
    assert_true(strlen(s) > 1);
    assert_string_not_equal(s, "unknown error");
  }
}

/* -------------------------------------------------------------------------- round trips */

static void test_round_trips(void **state) {
  (void)state;
  sl_ledger_record recs[16];
  size_t n = sample_records(recs);
  for (size_t i = 0; i < n; i++) {
    uint8_t buf[SL_LEDGER_RECORD_MAX + 8], again[SL_LEDGER_RECORD_MAX];
    size_t len = 0, len2 = 0;
    assert_int_equal(sl_ledger_record_encode(&recs[i], buf, sizeof buf, &len), SL_LEDGER_OK);
    assert_int_equal(len, sl_ledger_purpose_size(recs[i].purpose));
    /* header: size and purpose, big-endian */
    assert_int_equal(buf[0], 0);
    assert_int_equal(buf[1], 0);
    assert_int_equal(buf[2], 0);
    assert_int_equal(buf[3], len);
    assert_int_equal(buf[7], recs[i].purpose);
    assert_int_equal(buf[4] | buf[5] | buf[6], 0);

    sl_ledger_record back;
    assert_int_equal(sl_ledger_record_decode(buf, len, &back), SL_LEDGER_OK);
    if (!record_equal(&recs[i], &back)) fail_msg("record %zu: decode(encode(x)) != x", i);
    assert_int_equal(sl_ledger_record_encode(&back, again, sizeof again, &len2), SL_LEDGER_OK);
    assert_int_equal(len2, len);
    assert_memory_equal(again, buf, len);

    /* the typed functions agree with the generic ones */
    uint8_t typed[SL_LEDGER_RECORD_MAX];
    switch (recs[i].purpose) {
    case SL_LEDGER_TRADE: {
      sl_ledger_trade t;
      assert_int_equal(sl_ledger_trade_encode(&recs[i].u.trade, typed), SL_LEDGER_OK);
      assert_int_equal(sl_ledger_trade_decode(buf, len, &t), SL_LEDGER_OK);
      assert_true(trade_equal(&t, &recs[i].u.trade));
      break;
    }
    case SL_LEDGER_CHECKPOINT: {
      sl_ledger_checkpoint c;
      assert_int_equal(sl_ledger_checkpoint_encode(&recs[i].u.checkpoint, typed), SL_LEDGER_OK);
      assert_int_equal(sl_ledger_checkpoint_decode(buf, len, &c), SL_LEDGER_OK);
      assert_true(checkpoint_equal(&c, &recs[i].u.checkpoint));
      break;
    }
    case SL_LEDGER_EXPORT: {
      sl_ledger_export e;
      assert_int_equal(sl_ledger_export_encode(&recs[i].u.export_, typed), SL_LEDGER_OK);
      assert_int_equal(sl_ledger_export_decode(buf, len, &e), SL_LEDGER_OK);
      assert_memory_equal(&e, &recs[i].u.export_, sizeof e);
      break;
    }
    default: {
      sl_ledger_money m;
      assert_int_equal(sl_ledger_money_encode(&recs[i].u.money, typed), SL_LEDGER_OK);
      assert_int_equal(sl_ledger_money_decode(buf, len, &m), SL_LEDGER_OK);
      assert_true(money_equal(&m, &recs[i].u.money));
      break;
    }
    }
    assert_memory_equal(typed, buf, len);

    /* time and entry id */
    int64_t t = 0;
    bool has_time = sl_ledger_record_time(&back, &t);
    uint64_t id = sl_ledger_record_entry_id(&back);
    switch (back.purpose) {
    case SL_LEDGER_TRADE:
      assert_true(has_time && t == back.u.trade.created_at && id == back.u.trade.entry_id);
      break;
    case SL_LEDGER_CHECKPOINT:
      assert_true(has_time && t == back.u.checkpoint.timestamp && id == 0);
      break;
    case SL_LEDGER_EXPORT: assert_true(!has_time && id == 0); break;
    default: assert_true(has_time && t == back.u.money.at && id == back.u.money.entry_id);
    }
  }
  /* a too small output buffer */
  uint8_t small[SL_LEDGER_TRADE_SIZE - 1];
  size_t len = 77;
  assert_int_equal(sl_ledger_record_encode(&recs[0], small, sizeof small, &len), SL_LEDGER_ERANGE);
  assert_int_equal(len, 77);
}

/* Big-endian, two's complement, at the documented offsets: spot checks by hand. */
static void test_layout_offsets(void **state) {
  (void)state;
  uint8_t b[SL_LEDGER_MONEY_SIZE];
  sl_ledger_money m = {SL_LEDGER_REFUND, 0x1122334455667788u, 2, 3, 4, -2, 256, INT64_MIN, 1};
  assert_int_equal(sl_ledger_money_encode(&m, b), SL_LEDGER_OK);
  static const uint8_t want[SL_LEDGER_MONEY_SIZE] = {
      0,    0,    0,    72,   0,    0,    0,    4,    /* size, purpose */
      0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, /*  8 entry_id */
      0,    0,    0,    0,    0,    0,    0,    2,    /* 16 trade_id */
      0,    0,    0,    0,    0,    0,    0,    3,    /* 24 account_id */
      0,    0,    0,    0,    0,    0,    0,    4,    /* 32 journal_txn_id */
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, /* 40 to_tenant_minor = -2 */
      0,    0,    0,    0,    0,    0,    1,    0,    /* 48 to_provider_minor = 256 */
      0x80, 0,    0,    0,    0,    0,    0,    0,    /* 56 fee_minor = INT64_MIN */
      0,    0,    0,    0,    0,    0,    0,    1,    /* 64 at = 1 */
  };
  assert_memory_equal(b, want, sizeof want);

  sl_ledger_checkpoint c = {0x0102, {{0}}, -1};
  for (int i = 0; i < 32; i++) c.root.b[i] = (uint8_t)(i + 1);
  uint8_t cb[SL_LEDGER_CHECKPOINT_SIZE];
  assert_int_equal(sl_ledger_checkpoint_encode(&c, cb), SL_LEDGER_OK);
  assert_memory_equal(cb, "\x00\x00\x00\x38\x00\x00\x00\x07\x00\x00\x00\x00\x00\x00\x01\x02", 16);
  assert_memory_equal(cb + 16, c.root.b, 32);
  for (int i = 48; i < 56; i++) assert_int_equal(cb[i], 0xff);

  sl_ledger_export e;
  memset(e.sha256.b, 0x5a, 32);
  uint8_t eb[SL_LEDGER_EXPORT_SIZE];
  assert_int_equal(sl_ledger_export_encode(&e, eb), SL_LEDGER_OK);
  assert_memory_equal(eb, "\x00\x00\x00\x28\x00\x00\x00\x08", 8);
  assert_memory_equal(eb + 8, e.sha256.b, 32);
}

/* ------------------------------------------------------------------------ strict decoding */

static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void wr32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* Decode with the generic and the typed decoder; both must give rc, and leave out alone. */
static void expect_decode(const uint8_t *buf, size_t len, uint32_t typed_as, sl_ledger_rc want,
                          const char *what) {
  sl_ledger_record r;
  memset(&r, 0xcd, sizeof r);
  sl_ledger_rc rc = sl_ledger_record_decode(buf, len, &r);
  if (rc != want) fail_msg("%s: record_decode gave %d, want %d", what, rc, want);
  if (want != SL_LEDGER_OK) {
    sl_ledger_record poison;
    memset(&poison, 0xcd, sizeof poison);
    if (memcmp(&r, &poison, sizeof r) != 0) fail_msg("%s: output written on error", what);
  }
  sl_ledger_rc trc;
  switch (typed_as) {
  case SL_LEDGER_TRADE: trc = sl_ledger_trade_decode(buf, len, &r.u.trade); break;
  case SL_LEDGER_CHECKPOINT: trc = sl_ledger_checkpoint_decode(buf, len, &r.u.checkpoint); break;
  case SL_LEDGER_EXPORT: trc = sl_ledger_export_decode(buf, len, &r.u.export_); break;
  default: trc = sl_ledger_money_decode(buf, len, &r.u.money); break;
  }
  if (trc != want) fail_msg("%s: typed decode gave %d, want %d", what, trc, want);
  uint32_t p = 99;
  if (want == SL_LEDGER_OK || want == SL_LEDGER_EFIELD)
    assert_int_equal(sl_ledger_record_check(buf, len, &p), SL_LEDGER_OK);
  else assert_int_equal(sl_ledger_record_check(buf, len, &p), want);
}

static void test_strict_decode(void **state) {
  (void)state;
  sl_ledger_record recs[16];
  size_t n = sample_records(recs);
  for (size_t i = 0; i < n; i++) {
    uint8_t buf[SL_LEDGER_RECORD_MAX + 16];
    size_t len = 0;
    memset(buf, 0, sizeof buf);
    assert_int_equal(sl_ledger_record_encode(&recs[i], buf, sizeof buf, &len), SL_LEDGER_OK);
    uint32_t p = recs[i].purpose;
    char what[96];

    /* every shorter length, and trailing bytes */
    for (size_t l = 0; l <= len + 16; l++) {
      if (l == len) continue;
      snprintf(what, sizeof what, "purpose %u, length %zu of %zu", p, l, len);
      expect_decode(buf, l, p, SL_LEDGER_ELENGTH, what);
    }
    expect_decode(NULL, 0, p, SL_LEDGER_ELENGTH, "NULL");

    /* every other size field */
    static const uint32_t sizes[] = {0,   1,   8,   39,          40,          41,
                                     55,  56,  57,  71,          72,          73,
                                     103, 104, 105, 0x68000000u, 0x00010068u, UINT32_MAX};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
      if (sizes[k] == len) continue;
      uint8_t c[sizeof buf];
      memcpy(c, buf, sizeof c);
      wr32(c, sizes[k]);
      snprintf(what, sizeof what, "purpose %u, size field %u", p, sizes[k]);
      expect_decode(c, len, p, SL_LEDGER_ESIZE, what);
      /* the size field agreeing with a longer buffer does not help either */
      if (sizes[k] > len && sizes[k] <= sizeof buf) {
        sl_ledger_rc want = SL_LEDGER_ESIZE;
        expect_decode(c, sizes[k], p, want, what);
      }
    }

    /* unknown purposes */
    static const uint32_t unknown[] = {0, 13, 14, 0x100, 0x01000001u, UINT32_MAX};
    for (size_t k = 0; k < sizeof unknown / sizeof unknown[0]; k++) {
      uint8_t c[sizeof buf];
      memcpy(c, buf, sizeof c);
      wr32(c + 4, unknown[k]);
      snprintf(what, sizeof what, "purpose %u rewritten to %u", p, unknown[k]);
      expect_decode(c, len, p, SL_LEDGER_EPURPOSE, what);
    }

    /* every other known purpose: another layout size (ESIZE), or another decoder (EPURPOSE) */
    for (uint32_t q = 1; q <= SL_LEDGER_PURPOSE_MAX; q++) {
      if (q == p || sl_ledger_purpose_size(q) == 0) continue; /* numbers kept for others */
      uint8_t c[sizeof buf];
      memcpy(c, buf, sizeof c);
      wr32(c + 4, q);
      snprintf(what, sizeof what, "purpose %u rewritten to %u", p, q);
      sl_ledger_record r;
      if (sl_ledger_purpose_size(q) != len) {
        assert_int_equal(sl_ledger_record_decode(c, len, &r), SL_LEDGER_ESIZE);
      } else {
        /* money purposes share a layout: the record is another, well-formed event (unless a
         * field rule about trade_id now fails); the signature is what tells them apart */
        sl_ledger_rc rc = sl_ledger_record_decode(c, len, &r);
        assert_true(rc == SL_LEDGER_OK || rc == SL_LEDGER_EFIELD);
        if (rc == SL_LEDGER_OK) assert_int_equal(r.purpose, q);
      }
      /* the typed decoders for another type refuse the original record */
      sl_ledger_trade t;
      sl_ledger_checkpoint ck;
      sl_ledger_export ex;
      sl_ledger_money mo;
      if (p != SL_LEDGER_TRADE) assert_int_not_equal(sl_ledger_trade_decode(buf, len, &t), 0);
      if (p != SL_LEDGER_CHECKPOINT)
        assert_int_not_equal(sl_ledger_checkpoint_decode(buf, len, &ck), 0);
      if (p != SL_LEDGER_EXPORT) assert_int_not_equal(sl_ledger_export_decode(buf, len, &ex), 0);
      if (!sl_ledger_purpose_is_money(p))
        assert_int_not_equal(sl_ledger_money_decode(buf, len, &mo), 0);
    }
    assert_int_equal(rd32(buf), len);
  }
}

static void test_field_rules(void **state) {
  (void)state;
  uint8_t buf[SL_LEDGER_RECORD_MAX], poison[SL_LEDGER_RECORD_MAX];
  memset(poison, 0x77, sizeof poison);

  /* entry_id 0 is never an entry */
  sl_ledger_trade t = EX_TRADE;
  t.entry_id = 0;
  memcpy(buf, poison, sizeof buf);
  assert_int_equal(sl_ledger_trade_encode(&t, buf), SL_LEDGER_EFIELD);
  assert_memory_equal(buf, poison, sizeof buf); /* untouched */

  for (uint32_t p = SL_LEDGER_CANCELLATION; p <= SL_LEDGER_WITHDRAWAL; p++) {
    bool funds = p == SL_LEDGER_DEPOSIT || p == SL_LEDGER_WITHDRAWAL;
    sl_ledger_money m = {p, 1, funds ? 0 : 5, 7, 9, 0, 0, 0, 1795818615};
    assert_int_equal(sl_ledger_money_encode(&m, buf), SL_LEDGER_OK);
    /* trade_id: 0 exactly for deposits and withdrawals */
    m.trade_id = funds ? 5 : 0;
    assert_int_equal(sl_ledger_money_encode(&m, buf), SL_LEDGER_EFIELD);
    m.trade_id = funds ? 0 : 5;
    m.entry_id = 0;
    assert_int_equal(sl_ledger_money_encode(&m, buf), SL_LEDGER_EFIELD);
  }
  /* the decoder enforces the same rules on bytes made by hand */
  sl_ledger_money dep = {SL_LEDGER_DEPOSIT, 1, 0, 7, 9, 100, 0, 0, 1795818615};
  assert_int_equal(sl_ledger_money_encode(&dep, buf), SL_LEDGER_OK);
  buf[23] = 1; /* trade_id = 1 on a deposit */
  expect_decode(buf, SL_LEDGER_MONEY_SIZE, SL_LEDGER_DEPOSIT, SL_LEDGER_EFIELD, "deposit trade_id");
  buf[23] = 0;
  buf[15] = 0; /* entry_id = 0 */
  expect_decode(buf, SL_LEDGER_MONEY_SIZE, SL_LEDGER_DEPOSIT, SL_LEDGER_EFIELD, "entry_id 0");
  assert_int_equal(sl_ledger_trade_encode(&EX_TRADE, buf), SL_LEDGER_OK);
  memset(buf + 8, 0, 8);
  expect_decode(buf, SL_LEDGER_TRADE_SIZE, SL_LEDGER_TRADE, SL_LEDGER_EFIELD, "trade entry_id 0");

  /* money encoders refuse non-money purposes, the generic encoder a purpose mismatch */
  static const uint32_t bad[] = {
      0, SL_LEDGER_TRADE, SL_LEDGER_CHECKPOINT, SL_LEDGER_EXPORT, SL_LEDGER_PERIOD_CLOSE, 13};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    sl_ledger_money m = {bad[i], 1, 0, 7, 9, 0, 0, 0, 0};
    assert_int_equal(sl_ledger_money_encode(&m, buf), SL_LEDGER_EPURPOSE);
  }
  sl_ledger_record r = {.purpose = SL_LEDGER_REFUND};
  r.u.money = (sl_ledger_money){SL_LEDGER_SETTLEMENT, 1, 5, 7, 9, 0, 0, 0, 0};
  size_t len = 0;
  assert_int_equal(sl_ledger_record_encode(&r, buf, sizeof buf, &len), SL_LEDGER_EPURPOSE);
  r.purpose = 0;
  assert_int_equal(sl_ledger_record_encode(&r, buf, sizeof buf, &len), SL_LEDGER_EPURPOSE);
  r.purpose = 13;
  assert_int_equal(sl_ledger_record_encode(&r, buf, sizeof buf, &len), SL_LEDGER_EPURPOSE);
}

/* ----------------------------------------------------------------------- keys, signatures */

static void test_key_id(void **state) {
  (void)state;
  for (int s = 0; s < 32; s++) {
    uint8_t seed[32];
    for (int i = 0; i < 32; i++) seed[i] = (uint8_t)(s * 31 + i * 7);
    sl_ledger_keypair kp;
    sl_ledger_keypair_from_seed(seed, &kp);
    uint8_t h[32], pk2[32], sk2[64];
    crypto_sign_seed_keypair(pk2, sk2, seed);
    assert_memory_equal(kp.pk, pk2, 32);
    assert_memory_equal(kp.sk, sk2, 64);
    crypto_generichash(h, 32, kp.pk, 32, NULL, 0);
    assert_memory_equal(kp.key_id, h, 8);
    char hex[17];
    sl_ledger_hex_encode(h, 8, hex);
    assert_string_equal(kp.key_id_hex, hex);
    assert_int_equal(strlen(kp.key_id_hex), SL_LEDGER_KEY_ID_HEXLEN);
    uint8_t raw[8];
    sl_ledger_key_id(kp.pk, raw);
    assert_memory_equal(raw, h, 8);
    sl_ledger_keypair_wipe(&kp);
    for (size_t i = 0; i < sizeof kp.sk; i++) assert_int_equal(kp.sk[i], 0);
  }
}

static void test_sign_verify_every_type(void **state) {
  (void)state;
  sl_ledger_keypair kp, other;
  example_key(&kp);
  other_key(&other);
  sl_ledger_record recs[16];
  size_t n = sample_records(recs);
  static const uint8_t masks[] = {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff};
  for (size_t i = 0; i < n; i++) {
    uint8_t rec[SL_LEDGER_RECORD_MAX], sig[SL_LEDGER_SIG_LEN], sig2[SL_LEDGER_SIG_LEN];
    size_t len = 0;
    assert_int_equal(sl_ledger_record_encode(&recs[i], rec, sizeof rec, &len), SL_LEDGER_OK);
    assert_int_equal(sl_ledger_sign(&kp, rec, len, sig), SL_LEDGER_OK);
    assert_int_equal(sl_ledger_verify(kp.pk, rec, len, sig), SL_LEDGER_OK);
    /* Ed25519 is deterministic */
    assert_int_equal(sl_ledger_sign(&kp, rec, len, sig2), SL_LEDGER_OK);
    assert_memory_equal(sig, sig2, sizeof sig);
    /* the same bytes under libsodium directly: the signature is over exactly the record */
    assert_int_equal(crypto_sign_verify_detached(sig, rec, len, kp.pk), 0);
    /* another key */
    assert_int_equal(sl_ledger_verify(other.pk, rec, len, sig), SL_LEDGER_ESIG);
    assert_int_equal(sl_ledger_sign(&other, rec, len, sig2), SL_LEDGER_OK);
    assert_int_equal(sl_ledger_verify(kp.pk, rec, len, sig2), SL_LEDGER_ESIG);

    /* every byte of the record, every bit and all bits */
    for (size_t b = 0; b < len; b++)
      for (size_t k = 0; k < sizeof masks; k++) {
        rec[b] ^= masks[k];
        if (sl_ledger_verify(kp.pk, rec, len, sig) == SL_LEDGER_OK)
          fail_msg("purpose %u: verifies with record byte %zu ^ %02x", recs[i].purpose, b,
                   masks[k]);
        rec[b] ^= masks[k];
      }
    /* every byte of the signature */
    for (size_t b = 0; b < sizeof sig; b++)
      for (size_t k = 0; k < sizeof masks; k++) {
        sig[b] ^= masks[k];
        if (sl_ledger_verify(kp.pk, rec, len, sig) != SL_LEDGER_ESIG)
          fail_msg("purpose %u: verifies with signature byte %zu ^ %02x", recs[i].purpose, b,
                   masks[k]);
        sig[b] ^= masks[k];
      }
    /* every byte of the public key */
    for (size_t b = 0; b < sizeof kp.pk; b++) {
      uint8_t pk[32];
      memcpy(pk, kp.pk, 32);
      pk[b] ^= 0x01;
      if (sl_ledger_verify(pk, rec, len, sig) != SL_LEDGER_ESIG)
        fail_msg("purpose %u: verifies with public key byte %zu changed", recs[i].purpose, b);
    }
    /* truncated or extended bytes */
    uint8_t longer[SL_LEDGER_RECORD_MAX + 1];
    memcpy(longer, rec, len);
    longer[len] = 0;
    assert_int_equal(sl_ledger_verify(kp.pk, longer, len + 1, sig), SL_LEDGER_ELENGTH);
    assert_int_equal(sl_ledger_verify(kp.pk, rec, len - 1, sig), SL_LEDGER_ELENGTH);
    assert_int_equal(sl_ledger_verify(kp.pk, rec, sig[0] % len, sig), SL_LEDGER_ELENGTH);
  }
  sl_ledger_keypair_wipe(&kp);
  sl_ledger_keypair_wipe(&other);
}

/* The key signs nothing outside the registry: malformed bytes get no signature. */
static void test_sign_refuses_malformed(void **state) {
  (void)state;
  sl_ledger_keypair kp;
  example_key(&kp);
  uint8_t rec[SL_LEDGER_TRADE_SIZE + 1], sig[SL_LEDGER_SIG_LEN], poison[SL_LEDGER_SIG_LEN];
  memset(poison, 0x3c, sizeof poison);
  assert_int_equal(sl_ledger_trade_encode(&EX_TRADE, rec), SL_LEDGER_OK);
  rec[SL_LEDGER_TRADE_SIZE] = 0;

  struct {
    size_t len;
    size_t at;
    uint32_t val;
    sl_ledger_rc want;
  } cases[] = {
      {SL_LEDGER_TRADE_SIZE + 1, 0, 104, SL_LEDGER_ELENGTH}, /* trailing byte */
      {SL_LEDGER_TRADE_SIZE - 1, 0, 104, SL_LEDGER_ELENGTH}, /* short */
      {0, 0, 104, SL_LEDGER_ELENGTH},
      {SL_LEDGER_TRADE_SIZE, 0, 105, SL_LEDGER_ESIZE},
      {SL_LEDGER_TRADE_SIZE, 4, 0, SL_LEDGER_EPURPOSE},
      {SL_LEDGER_TRADE_SIZE, 4, 13, SL_LEDGER_EPURPOSE},
      {SL_LEDGER_TRADE_SIZE, 4, SL_LEDGER_CHECKPOINT, SL_LEDGER_ESIZE},
      {SL_LEDGER_TRADE_SIZE, 12, 0, SL_LEDGER_EFIELD}, /* entry_id low word 0 -> 0 */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t c[sizeof rec];
    memcpy(c, rec, sizeof c);
    wr32(c + cases[i].at, cases[i].val);
    memcpy(sig, poison, sizeof sig);
    if (sl_ledger_sign(&kp, c, cases[i].len, sig) != cases[i].want)
      fail_msg("case %zu: sign did not refuse with %d", i, cases[i].want);
    assert_memory_equal(sig, poison, sizeof sig);
  }
  sl_ledger_keypair_wipe(&kp);
}

/* --------------------------------------------------------------------- leaf data, chain */

static void test_leaf_data_and_chain(void **state) {
  (void)state;
  sl_ledger_keypair kp;
  example_key(&kp);
  uint8_t rec[SL_LEDGER_TRADE_SIZE], sig[SL_LEDGER_SIG_LEN];
  assert_int_equal(sl_ledger_trade_encode(&EX_TRADE, rec), SL_LEDGER_OK);
  assert_int_equal(sl_ledger_sign(&kp, rec, sizeof rec, sig), SL_LEDGER_OK);

  uint8_t data[SL_LEDGER_LEAF_DATA_MAX];
  size_t len = 0;
  assert_int_equal(sl_ledger_leaf_data(rec, sizeof rec, kp.key_id, sig, data, sizeof data, &len),
                   SL_LEDGER_OK);
  assert_int_equal(len, 104 + 8 + 64);
  assert_memory_equal(data, rec, 104);
  assert_memory_equal(data + 104, kp.key_id, 8);
  assert_memory_equal(data + 112, sig, 64);
  size_t len2 = 5;
  assert_int_equal(sl_ledger_leaf_data(rec, sizeof rec, kp.key_id, sig, data, len - 1, &len2),
                   SL_LEDGER_ERANGE);
  assert_int_equal(len2, 5);
  assert_int_equal(
      sl_ledger_leaf_data(rec, sizeof rec - 1, kp.key_id, sig, data, sizeof data, &len2),
      SL_LEDGER_ELENGTH);

  /* leaf hash = SHA-256(0x00 || data), by hand */
  uint8_t pre[1 + SL_LEDGER_LEAF_DATA_MAX];
  pre[0] = 0;
  memcpy(pre + 1, data, len);
  sl_ledger_hash want, got, via;
  crypto_hash_sha256(want.b, pre, len + 1);
  sl_ledger_leaf_hash(data, len, &got);
  assert_memory_equal(got.b, want.b, 32);
  assert_int_equal(sl_ledger_entry_leaf_hash(rec, sizeof rec, kp.key_id, sig, &via), SL_LEDGER_OK);
  assert_memory_equal(via.b, want.b, 32);
  /* the leaf commits to the key id and to the signature too */
  for (size_t b = 0; b < len; b++) {
    data[b] ^= 1;
    sl_ledger_leaf_hash(data, len, &got);
    assert_memory_not_equal(got.b, want.b, 32);
    data[b] ^= 1;
  }
  /* empty leaf: SHA-256(0x00) */
  sl_ledger_leaf_hash(NULL, 0, &got);
  expect_hex("empty leaf", got.b, 32,
             "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");

  /* node hash by hand, and aliasing */
  sl_ledger_hash l, r, node, alias;
  memset(l.b, 1, 32);
  memset(r.b, 2, 32);
  uint8_t nb[65];
  nb[0] = 1;
  memcpy(nb + 1, l.b, 32);
  memcpy(nb + 33, r.b, 32);
  crypto_hash_sha256(want.b, nb, sizeof nb);
  sl_ledger_node_hash(&l, &r, &node);
  assert_memory_equal(node.b, want.b, 32);
  alias = l;
  sl_ledger_node_hash(&alias, &r, &alias);
  assert_memory_equal(alias.b, want.b, 32);

  /* chain: chain_i = SHA-256(chain_{i-1} || leaf_i), chain_{-1} = 32 zero bytes */
  sl_ledger_hash leaves[5], c, zero, manual;
  memset(zero.b, 0, 32);
  for (int i = 0; i < 5; i++) memset(leaves[i].b, 0x10 + i, 32);
  sl_ledger_hash prev = zero;
  for (int i = 0; i < 5; i++) {
    uint8_t cat[64];
    memcpy(cat, prev.b, 32);
    memcpy(cat + 32, leaves[i].b, 32);
    crypto_hash_sha256(manual.b, cat, 64);
    sl_ledger_chain_step(i == 0 ? NULL : &c, &leaves[i], &c);
    assert_memory_equal(c.b, manual.b, 32);
    if (i == 0) {
      sl_ledger_hash z;
      sl_ledger_chain_step(&zero, &leaves[0], &z); /* NULL means the zero seed */
      assert_memory_equal(z.b, c.b, 32);
    }
    prev = c;
  }
  /* reordering two links changes the head */
  sl_ledger_hash h1, h2;
  sl_ledger_chain_step(NULL, &leaves[0], &h1);
  sl_ledger_chain_step(&h1, &leaves[1], &h1);
  sl_ledger_chain_step(NULL, &leaves[1], &h2);
  sl_ledger_chain_step(&h2, &leaves[0], &h2);
  assert_memory_not_equal(h1.b, h2.b, 32);
  sl_ledger_keypair_wipe(&kp);
}

/* ------------------------------------------------------------------------------------ hex */

static void test_hex(void **state) {
  (void)state;
  uint8_t all[256], back[256];
  for (int i = 0; i < 256; i++) all[i] = (uint8_t)i;
  char hex[513];
  sl_ledger_hex_encode(all, sizeof all, hex);
  assert_int_equal(strlen(hex), 512);
  assert_memory_equal(hex, "000102", 6);
  assert_string_equal(hex + 500, "fafbfcfdfeff");
  assert_true(sl_ledger_hex_decode(hex, back, sizeof back));
  assert_memory_equal(back, all, sizeof all);
  size_t len = 0;
  assert_true(sl_ledger_hex_decode_var(hex, back, sizeof back, &len));
  assert_int_equal(len, 256);
  assert_false(sl_ledger_hex_decode_var(hex, back, 255, &len)); /* too long for cap */

  char empty[1] = "";
  sl_ledger_hex_encode(all, 0, empty);
  assert_string_equal(empty, "");
  assert_true(sl_ledger_hex_decode("", back, 0));
  assert_true(sl_ledger_hex_decode_var("", back, 4, &len));
  assert_int_equal(len, 0);

  static const char *const bad4[] = {
      "0011223",  "001122334", "00112233 ", " 00112233", "0x112233",
      "0011223G", "001122-3",  "AABBCCDD",  "aabbccdD",  "",
      "00",       "0011 2233", "0011\n233", "+0112233",  "0011223300",
  };
  for (size_t i = 0; i < sizeof bad4 / sizeof bad4[0]; i++) {
    uint8_t out[4];
    if (sl_ledger_hex_decode(bad4[i], out, 4)) fail_msg("hex_decode accepted \"%s\"", bad4[i]);
  }
  assert_false(sl_ledger_hex_decode(NULL, back, 1));
  assert_false(sl_ledger_hex_decode_var(NULL, back, 1, &len));
  static const char *const badvar[] = {"0", "abc", "zz", "AB", "a b ", "0g"};
  for (size_t i = 0; i < sizeof badvar / sizeof badvar[0]; i++)
    if (sl_ledger_hex_decode_var(badvar[i], back, 8, &len))
      fail_msg("hex_decode_var accepted \"%s\"", badvar[i]);
  /* a NUL inside: the string ends there, so the length is wrong */
  static const char nul[] = "00\0000112233";
  assert_false(sl_ledger_hex_decode(nul, back, 4));
  /* every single character that is not a lowercase hex digit */
  for (int c = 1; c < 256; c++) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    char s[3] = {'0', (char)c, 0};
    uint8_t o;
    assert_int_equal(sl_ledger_hex_decode(s, &o, 1), ok);
    s[0] = (char)c;
    s[1] = '0';
    assert_int_equal(sl_ledger_hex_decode(s, &o, 1), ok);
    if (ok) assert_int_equal(o, (c <= '9' ? c - '0' : c - 'a' + 10) << 4);
  }
}

int main(void) {
  if (sodium_init() < 0) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_worked_example),
      cmocka_unit_test(test_power_example),
      cmocka_unit_test(test_audit_head_example),
      cmocka_unit_test(test_worked_examples_every_purpose),
      cmocka_unit_test(test_registry),
      cmocka_unit_test(test_round_trips),
      cmocka_unit_test(test_layout_offsets),
      cmocka_unit_test(test_strict_decode),
      cmocka_unit_test(test_field_rules),
      cmocka_unit_test(test_key_id),
      cmocka_unit_test(test_sign_verify_every_type),
      cmocka_unit_test(test_sign_refuses_malformed),
      cmocka_unit_test(test_leaf_data_and_chain),
      cmocka_unit_test(test_hex),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
