/* suanli_verify.c — suanli-verify: check receipts, checkpoints, consistency proofs and signed
 * exports offline, against a keys file; it never talks to the server.
 *
 *   suanli-verify receipt     RECEIPT.json KEYS.json
 *   suanli-verify checkpoint  CHECKPOINT.json KEYS.json
 *   suanli-verify consistency OLD_CHECKPOINT.json NEW_CHECKPOINT.json PROOF.json KEYS.json
 *   suanli-verify file        FILE SIGNATURE.json KEYS.json
 *   suanli-verify --witnesses WITNESSES.json --quorum K MODE ...   (every checkpoint checked
 *                 needs valid cosignatures of K of the named witnesses; api/SIGNING.md)
 *   suanli-verify selftest-sample DIR     (hidden: writes a valid sample set from fixed seeds)
 *
 * Prints one line per check ("ok    ..." or "FAIL  ..."), then a verdict line.  Exit status:
 * 0 when every check passed, 1 when any failed, 2 on usage errors, unreadable files, files
 * that are not JSON, and JSON of the wrong shape (a required field missing or of the wrong
 * type).  Field *contents* — hex, times, signatures, proofs — are checks: a tampered value
 * gives 1, never 2.  The formats are specified in api/SIGNING.md. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <sodium.h>

#include "suanli/core/timeutil.h"
#include "suanli/ledger/records.h"
#include "verify_common.h"

#define EXIT_USAGE 2
/* --------------------------------------------------------------------------- the sample */

/* A small ledger signed with the worked-example key (seed 00 01 .. 1f): 50 entries, entry 42
 * being the TRADE of api/SIGNING.md; checkpoints of sizes 30 and 50; the receipt of entry 42;
 * the consistency proof 30 -> 50; a statement file with its EXPORT signature; and keys files
 * that are right, unknown, mismatched and expired.  Also a forged history (entry 8 changed,
 * re-signed) with its own size-50 checkpoint and proof, which must not verify against the
 * honest old checkpoint. */
#define SAMPLE_N      50
#define SAMPLE_OLD    30
#define SAMPLE_ENTRY  42
#define SAMPLE_T0     INT64_C(1795816095) /* entry i is at T0 + 60 i; entry 42 at 22:30:15Z */
#define SAMPLE_FORGED 8

static const sl_ledger_trade SAMPLE_TRADE = {42,         1001,       501, 7,    3,   12,        8,
                                             1796083200, 1796097600, 245, 7840, 250, 1795818615};

static void sample_record(uint64_t i, bool forged, sl_ledger_record *rec) {
  int64_t t = SAMPLE_T0 + 60 * (int64_t)i;
  memset(rec, 0, sizeof *rec);
  if (i == SAMPLE_ENTRY) {
    rec->purpose = SL_LEDGER_TRADE;
    rec->u.trade = SAMPLE_TRADE;
    return;
  }
  uint64_t trade = 1000 + i - (i % 6) + 1; /* the trade opened at the last i % 6 == 1 */
  int64_t total = 4 * 2 * 245, fee = total * 250 / 10000;
  switch (i % 6) {
  case 1:
    rec->purpose = SL_LEDGER_TRADE;
    rec->u.trade = (sl_ledger_trade){i,
                                     trade,
                                     500 + i,
                                     7,
                                     3,
                                     12,
                                     4,
                                     1796083200 + 3600 * (int64_t)i,
                                     1796083200 + 3600 * (int64_t)i + 7200,
                                     245,
                                     total,
                                     250,
                                     t};
    return;
  case 0:
  case 5: {
    bool dep = i % 6 == 0;
    int64_t amount = forged && i == SAMPLE_FORGED ? 9999999 : 100000;
    rec->purpose = dep ? SL_LEDGER_DEPOSIT : SL_LEDGER_WITHDRAWAL;
    rec->u.money = (sl_ledger_money){
        rec->purpose, i, 0, dep ? 7 : 3, 10 * i, dep ? amount : 0, dep ? 0 : -amount / 10, 0, t};
    return;
  }
  default: {
    static const uint32_t kinds[] = {0, 0, SL_LEDGER_SETTLEMENT, SL_LEDGER_CANCELLATION,
                                     SL_LEDGER_REFUND};
    uint32_t p = kinds[i % 6];
    int64_t to_tenant = p == SL_LEDGER_SETTLEMENT ? 0 : total / 2;
    int64_t to_provider = p == SL_LEDGER_SETTLEMENT ? total - fee : total / 2 - fee;
    if (forged && i == SAMPLE_FORGED) to_tenant += 1;
    rec->purpose = p;
    rec->u.money = (sl_ledger_money){p, i, trade, 7, 10 * i, to_tenant, to_provider, fee, t};
    return;
  }
  }
}

static json_t *hex_json(const uint8_t *b, size_t len) {
  char buf[2 * SL_LEDGER_RECORD_MAX + 1];
  sl_ledger_hex_encode(b, len, buf);
  return json_string(buf);
}

static json_t *hashes_json(const sl_ledger_hash *h, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(a, hex_json(h[i].b, 32));
  return a;
}

static json_t *time_json(int64_t t) {
  char ts[32];
  sl_time_format(t, ts, sizeof ts);
  return json_string(ts);
}

static json_t *checkpoint_json(const sl_ledger_keypair *kp, const sl_ledger_hash *leaves,
                               uint64_t size, int64_t t, sl_ledger_checkpoint *out) {
  sl_ledger_checkpoint c = {size, {{0}}, t};
  sl_ledger_merkle_root(leaves, (size_t)size, &c.root);
  uint8_t rec[SL_LEDGER_CHECKPOINT_SIZE], sig[SL_LEDGER_SIG_LEN];
  sl_ledger_checkpoint_encode(&c, rec);
  if (sl_ledger_sign(kp, rec, sizeof rec, sig) != SL_LEDGER_OK) abort();
  if (out) *out = c;
  return json_pack("{s:I, s:o, s:o, s:s, s:o, s:o}", "tree_size", (json_int_t)size, "root_hash",
                   hex_json(c.root.b, 32), "timestamp", time_json(t), "key_id", kp->key_id_hex,
                   "signature", hex_json(sig, sizeof sig), "record", hex_json(rec, sizeof rec));
}

static json_t *key_json(const sl_ledger_keypair *kp, const char *id, const uint8_t *pk,
                        const char *until) {
  return json_pack("{s:s, s:o, s:s, s:s?}", "key_id", id ? id : kp->key_id_hex, "public_key",
                   hex_json(pk ? pk : kp->pk, SL_LEDGER_PK_LEN), "valid_from",
                   "2026-01-01T00:00:00Z", "valid_until", until);
}

static void write_json(const char *dir, const char *name, json_t *steal) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  if (json_dump_file(steal, path, JSON_INDENT(2)) != 0) {
    fprintf(stderr, "suanli-verify: cannot write %s\n", path);
    exit(EXIT_USAGE);
  }
  json_decref(steal);
}

static void build_ledger(const sl_ledger_keypair *kp, bool forged, sl_ledger_hash *leaves,
                         uint8_t recs[][SL_LEDGER_RECORD_MAX], size_t *lens,
                         uint8_t sigs[][SL_LEDGER_SIG_LEN]) {
  for (uint64_t i = 1; i <= SAMPLE_N; i++) {
    sl_ledger_record r;
    sample_record(i, forged, &r);
    size_t k = (size_t)(i - 1);
    if (sl_ledger_record_encode(&r, recs[k], SL_LEDGER_RECORD_MAX, &lens[k]) != SL_LEDGER_OK ||
        sl_ledger_sign(kp, recs[k], lens[k], sigs[k]) != SL_LEDGER_OK ||
        sl_ledger_entry_leaf_hash(recs[k], lens[k], kp->key_id, sigs[k], &leaves[k]) !=
            SL_LEDGER_OK)
      abort();
  }
}

static int cmd_sample(const char *dir) {
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "suanli-verify: %s: %s\n", dir, strerror(errno));
    return EXIT_USAGE;
  }
  uint8_t seed[SL_LEDGER_SEED_LEN];
  sl_ledger_keypair kp, other;
  for (int i = 0; i < SL_LEDGER_SEED_LEN; i++) seed[i] = (uint8_t)i;
  sl_ledger_keypair_from_seed(seed, &kp);
  memset(seed, 0xa5, sizeof seed);
  sl_ledger_keypair_from_seed(seed, &other);

  static sl_ledger_hash leaves[SAMPLE_N], forged_leaves[SAMPLE_N];
  static uint8_t recs[SAMPLE_N][SL_LEDGER_RECORD_MAX], sigs[SAMPLE_N][SL_LEDGER_SIG_LEN];
  static uint8_t frecs[SAMPLE_N][SL_LEDGER_RECORD_MAX], fsigs[SAMPLE_N][SL_LEDGER_SIG_LEN];
  static size_t lens[SAMPLE_N], flens[SAMPLE_N];
  build_ledger(&kp, false, leaves, recs, lens, sigs);
  build_ledger(&kp, true, forged_leaves, frecs, flens, fsigs);

  int64_t t_old = SAMPLE_T0 + 60 * SAMPLE_OLD + 30, t_new = SAMPLE_T0 + 60 * SAMPLE_N + 30;
  write_json(dir, "checkpoint_old.json", checkpoint_json(&kp, leaves, SAMPLE_OLD, t_old, NULL));
  json_t *cp_new = checkpoint_json(&kp, leaves, SAMPLE_N, t_new, NULL);
  write_json(dir, "checkpoint_new.json", json_deep_copy(cp_new));

  sl_ledger_hash proof[SL_LEDGER_PROOF_MAX];
  size_t plen = 0;
  if (sl_ledger_consistency_proof(leaves, SAMPLE_N, SAMPLE_OLD, proof, &plen) != SL_LEDGER_OK)
    abort();
  write_json(dir, "consistency.json",
             json_pack("{s:i, s:i, s:o}", "from", SAMPLE_OLD, "to", SAMPLE_N, "proof",
                       hashes_json(proof, plen)));

  /* the forged history: same size, entry 8 rewritten and re-signed */
  write_json(dir, "checkpoint_forged.json",
             checkpoint_json(&kp, forged_leaves, SAMPLE_N, t_new, NULL));
  if (sl_ledger_consistency_proof(forged_leaves, SAMPLE_N, SAMPLE_OLD, proof, &plen) !=
      SL_LEDGER_OK)
    abort();
  write_json(dir, "consistency_forged.json",
             json_pack("{s:i, s:i, s:o}", "from", SAMPLE_OLD, "to", SAMPLE_N, "proof",
                       hashes_json(proof, plen)));

  /* the receipt of entry 42 */
  size_t k = SAMPLE_ENTRY - 1;
  if (sl_ledger_inclusion_proof(leaves, SAMPLE_N, k, proof, &plen) != SL_LEDGER_OK) abort();
  write_json(dir, "receipt.json",
             json_pack("{s:i, s:s, s:o, s:s, s:o, s:i, s:i, s:o, s:o}", "entry_id", SAMPLE_ENTRY,
                       "purpose", "trade", "record", hex_json(recs[k], lens[k]), "key_id",
                       kp.key_id_hex, "signature", hex_json(sigs[k], SL_LEDGER_SIG_LEN),
                       "leaf_index", (int)k, "tree_size", SAMPLE_N, "inclusion_proof",
                       hashes_json(proof, plen), "checkpoint", cp_new));
  /* and of entry 43, a money event, with no proof: signature checks only */
  k = SAMPLE_ENTRY;
  write_json(dir, "receipt_unproven.json",
             json_pack("{s:i, s:o, s:s, s:o, s:n, s:n, s:n, s:n}", "entry_id", SAMPLE_ENTRY + 1,
                       "record", hex_json(recs[k], lens[k]), "key_id", kp.key_id_hex, "signature",
                       hex_json(sigs[k], SL_LEDGER_SIG_LEN), "leaf_index", "tree_size",
                       "inclusion_proof", "checkpoint"));

  /* an export: a statement and its signature */
  static const char statement[] = "account_id,period,gpu_hours,charges,fees,refunds,payouts\n"
                                  "7,2026-11,32.00,78.40,1.96,0.00,0.00\n"
                                  "3,2026-11,32.00,0.00,1.96,0.00,76.44\n";
  char path[4096];
  snprintf(path, sizeof path, "%s/statement.csv", dir);
  FILE *fp = fopen(path, "wb");
  if (!fp || fwrite(statement, 1, sizeof statement - 1, fp) != sizeof statement - 1 ||
      fclose(fp) != 0) {
    fprintf(stderr, "suanli-verify: cannot write %s\n", path);
    return EXIT_USAGE;
  }
  sl_ledger_export ex;
  crypto_hash_sha256(ex.sha256.b, (const uint8_t *)statement, sizeof statement - 1);
  uint8_t erec[SL_LEDGER_EXPORT_SIZE], esig[SL_LEDGER_SIG_LEN];
  sl_ledger_export_encode(&ex, erec);
  if (sl_ledger_sign(&kp, erec, sizeof erec, esig) != SL_LEDGER_OK) abort();
  write_json(dir, "statement.csv.sig.json",
             json_pack("{s:s, s:o, s:o}", "key_id", kp.key_id_hex, "signature",
                       hex_json(esig, sizeof esig), "sha256", hex_json(ex.sha256.b, 32)));

  /* keys: right; unknown (only another key); mismatched (right id, another public key);
   * expired (validity ends before every record) */
  write_json(dir, "keys.json",
             json_pack("{s:[o, o]}", "keys", key_json(&kp, NULL, NULL, NULL),
                       key_json(&other, NULL, NULL, "2026-06-01T00:00:00Z")));
  write_json(dir, "keys_unknown.json",
             json_pack("{s:[o]}", "keys", key_json(&other, NULL, NULL, NULL)));
  write_json(dir, "keys_mismatch.json",
             json_pack("{s:[o]}", "keys", key_json(&kp, kp.key_id_hex, other.pk, NULL)));
  write_json(dir, "keys_expired.json",
             json_pack("{s:[o]}", "keys", key_json(&kp, NULL, NULL, "2026-06-01T00:00:00Z")));
  sl_ledger_keypair_wipe(&kp);
  sl_ledger_keypair_wipe(&other);
  printf("wrote a sample ledger of %d entries to %s (key %s)\n", SAMPLE_N, dir, "9d24e2eeaf27c2a0");
  return 0;
}

/* ---------------------------------------------------------------------------------- main */

static int usage(void) {
  fputs("usage:\n"
        "  suanli-verify receipt RECEIPT.json KEYS.json\n"
        "  suanli-verify checkpoint CHECKPOINT.json KEYS.json\n"
        "  suanli-verify consistency OLD_CHECKPOINT.json NEW_CHECKPOINT.json PROOF.json "
        "KEYS.json\n"
        "  suanli-verify file FILE SIGNATURE.json KEYS.json\n"
        "  suanli-verify --witnesses WITNESSES.json --quorum K MODE ...\n"
        "      every checkpoint checked must carry valid cosignatures of K witnesses named in\n"
        "      WITNESSES.json ({\"witnesses\": [{\"name\", \"public_key\"}]})\n"
        "Checks Suanli ledger receipts, signed tree heads, consistency proofs and signed\n"
        "exports offline (api/SIGNING.md).  Exit 0: all checks passed; 1: a check failed;\n"
        "2: usage or input format error.\n",
        stderr);
  return EXIT_USAGE;
}

int main(int argc, char **argv) {
  if (sodium_init() < 0) {
    fputs("suanli-verify: libsodium failed to initialise\n", stderr);
    return EXIT_USAGE;
  }
  /* --witnesses FILE --quorum K, before the mode: every checkpoint needs K named cosigners */
  const char *wfile = NULL;
  long quorum = -1;
  while (argc >= 3 && (strcmp(argv[1], "--witnesses") == 0 || strcmp(argv[1], "--quorum") == 0)) {
    if (strcmp(argv[1], "--witnesses") == 0) wfile = argv[2];
    else {
      char *end;
      quorum = strtol(argv[2], &end, 10);
      if (*end || quorum < 0 || quorum > 1000) return usage();
    }
    argc -= 2;
    argv += 2;
  }
  if ((wfile != NULL) != (quorum >= 0)) return usage();
  if (wfile) slv_require_witnesses(wfile, (int)quorum);
  if (argc < 2) return usage();
  const char *mode = argv[1];
  if (strcmp(mode, "receipt") == 0 && argc == 4) return slv_receipt(argv[2], argv[3]);
  if (strcmp(mode, "checkpoint") == 0 && argc == 4) return slv_checkpoint(argv[2], argv[3]);
  if (strcmp(mode, "consistency") == 0 && argc == 6)
    return slv_consistency(argv[2], argv[3], argv[4], argv[5]);
  if (strcmp(mode, "file") == 0 && argc == 5) return slv_file(argv[2], argv[3], argv[4]);
  if (strcmp(mode, "selftest-sample") == 0 && argc == 3) return cmd_sample(argv[2]);
  return usage();
}
