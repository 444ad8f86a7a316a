/* ledger/records.h — the pure ledger: signed records, Ed25519 keys, RFC 9162 Merkle trees, hex
 * (src/ledger/).
 *
 * Pure: no I/O, no clock, no globals but libsodium's one-time initialisation; every function
 * is thread-safe.  The byte layouts, purposes, key id, leaf data and tree hashing are specified
 * for verifiers in any language in api/SIGNING.md; this header is the C side of that page.
 *
 * Records.  Every signed message is a fixed binary layout that starts with
 * `u32 size | u32 purpose`, all integers big-endian; the signature (Ed25519, detached) is over
 * exactly those bytes, never over JSON.  Decoding is strict: the buffer length, the size field
 * and the purpose's layout size must all agree, the purpose must be the one asked for, and
 * the few field rules of each layout (below) must hold.
 *
 * Entries.  A ledger entry is a TRADE, money-event or PERIOD_CLOSE record plus the key id and
 * signature that sign it.  Its entry_id (never 0) is unique and signed inside the record; its
 * position in the Merkle tree (the leaf index) is assigned by whoever appends, in append order, and
 * is bound to the entry by inclusion proofs, not by the id.  A checkpoint of tree_size N
 * covers leaves 0..N-1.
 *
 * Hashes.  SHA-256 throughout the tree (RFC 9162 section 2.1); BLAKE2b-256 only for key ids. */
#ifndef SUANLI_LEDGER_H
#define SUANLI_LEDGER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_LEDGER_HASH_LEN      32 /* SHA-256 digest */
#define SL_LEDGER_SIG_LEN       64 /* Ed25519 detached signature */
#define SL_LEDGER_PK_LEN        32 /* Ed25519 public key */
#define SL_LEDGER_SK_LEN        64 /* libsodium Ed25519 secret key (seed || public key) */
#define SL_LEDGER_SEED_LEN      32
#define SL_LEDGER_KEY_ID_LEN    8  /* raw key id: first 8 bytes of BLAKE2b-256(public key) */
#define SL_LEDGER_KEY_ID_HEXLEN 16 /* lowercase hex of the raw key id (a buffer needs +1) */

#define SL_LEDGER_HEADER_SIZE      8 /* u32 size | u32 purpose */
#define SL_LEDGER_TRADE_SIZE       104
#define SL_LEDGER_MONEY_SIZE       72
#define SL_LEDGER_CHECKPOINT_SIZE  56
#define SL_LEDGER_EXPORT_SIZE      40
#define SL_LEDGER_PERIOD_SIZE      80
#define SL_LEDGER_COSIGNATURE_SIZE 88
#define SL_LEDGER_POWER_SIZE       96
#define SL_LEDGER_AUDIT_HEAD_SIZE  64
#define SL_LEDGER_RECORD_MAX       104 /* the largest layout */
/* Leaf data of an entry: record || raw key id || signature. */
#define SL_LEDGER_LEAF_DATA_MAX (SL_LEDGER_RECORD_MAX + SL_LEDGER_KEY_ID_LEN + SL_LEDGER_SIG_LEN)
/* Longest proof any tree size below 2^64 needs (inclusion <= 64, consistency <= 65): a
 * buffer of this many hashes always suffices; verifiers reject longer proofs. */
#define SL_LEDGER_PROOF_MAX 65

/* The one registry of purposes.  Append only; a number is never reused. */
typedef enum {
  SL_LEDGER_TRADE = 1,        /* a trade: signed when the trade is booked */
  SL_LEDGER_CANCELLATION = 2, /* money event: a trade cancelled (refund and fee split) */
  SL_LEDGER_SETTLEMENT = 3,   /* money event: escrow paid out to the provider at delivery */
  SL_LEDGER_REFUND = 4,       /* money event: escrow returned to the tenant (pool failure) */
  SL_LEDGER_DEPOSIT = 5,      /* money event: funds in; trade_id is 0 */
  SL_LEDGER_WITHDRAWAL = 6,   /* money event: funds out; trade_id is 0 */
  SL_LEDGER_CHECKPOINT = 7,   /* signed tree head: size, root, time */
  SL_LEDGER_EXPORT = 8,       /* SHA-256 of an exported file (statement, CSV) */
  SL_LEDGER_PERIOD_CLOSE = 9, /* an accounting period closed: its range and export digest */
  SL_LEDGER_POWER = 10,      /* a change of power: account, role, region, token (sl_ledger_power) */
  SL_LEDGER_AUDIT_HEAD = 11, /* the head of the audit log's hash chain (sl_ledger_audit_head) */
  SL_LEDGER_COSIGNATURE = 12, /* a witness's cosignature of a checkpoint (signed by the witness) */
} sl_ledger_purpose;
#define SL_LEDGER_PURPOSE_MAX 12

/* The actions of a POWER record (api/SIGNING.md "POWER"); append only. */
typedef enum {
  SL_POWER_ACCOUNT_CREATED = 1, /* role: the new account's kind */
  SL_POWER_ROLE_CHANGED = 2,    /* role: the account's new kind */
  SL_POWER_REGION_GRANTED = 3,  /* digest: SHA-256 of the region code */
  SL_POWER_REGION_REVOKED = 4,  /* digest: SHA-256 of the region code */
  SL_POWER_TOKEN_ISSUED = 5,    /* object_id: the token; digest: its stored BLAKE2b-256 hash */
  SL_POWER_TOKEN_REVOKED = 6,   /* object_id: the token */
  SL_POWER_TOKEN_SCOPES =
      7, /* object_id: the token; digest: SHA-256 of its scopes, joined by "," */
} sl_ledger_power_action;
#define SL_POWER_ACTION_MAX 7
/* Roles in a POWER record: the account kinds of api/vocab.def, in its order (0: none). */
#define SL_POWER_ROLE_MAX 4

typedef enum {
  SL_LEDGER_OK = 0,
  SL_LEDGER_ELENGTH,  /* buffer length is not the layout's size (short, or trailing bytes) */
  SL_LEDGER_ESIZE,    /* the size field is not the buffer length / the layout's size */
  SL_LEDGER_EPURPOSE, /* unknown purpose, or not one this function accepts */
  SL_LEDGER_EFIELD,   /* a field rule of the layout is broken (entry_id 0, trade_id on a deposit) */
  SL_LEDGER_ESIG,     /* the signature does not verify (or the public key is invalid) */
  SL_LEDGER_EPROOF,   /* the proof does not lead from the leaf / old root to the root */
  SL_LEDGER_ERANGE,   /* index or size out of range, proof too long, buffer too small */
} sl_ledger_rc;

/* Short English text for a return code, e.g. "signature does not verify". */
const char *sl_ledger_strerror(sl_ledger_rc rc);

typedef struct {
  uint8_t b[SL_LEDGER_HASH_LEN];
} sl_ledger_hash;

/* ------------------------------------------------------------------------------ purposes */

/* The layout size of a purpose (104, 72, 56, 40, 80, 96, 64 or 88), or 0 when the purpose is
 * unknown. */
size_t sl_ledger_purpose_size(uint32_t purpose);
/* "trade", "cancellation", "settlement", "refund", "deposit", "withdrawal", "checkpoint",
 * "export", "period_close", "power", "audit_head", "cosignature"; NULL when unknown. */
const char *sl_ledger_purpose_name(uint32_t purpose);
/* True for CANCELLATION, SETTLEMENT, REFUND, DEPOSIT and WITHDRAWAL. */
bool sl_ledger_purpose_is_money(uint32_t purpose);

/* Check the header of buf[0..len): the purpose is known, the size field equals len and the
 * purpose's layout size.  Writes the purpose (when non-NULL) only on success. */
sl_ledger_rc sl_ledger_record_check(const uint8_t *buf, size_t len, uint32_t *purpose);

/* ------------------------------------------------------------------------------ records */

/* TRADE, 104 bytes.  Rules: entry_id != 0.  Times are epoch seconds, money minor units. */
typedef struct {
  uint64_t entry_id, trade_id, order_id, tenant_id, provider_id, pool_id;
  uint32_t gpus;
  int64_t start, end; /* [start, end) */
  int64_t unit_price_minor, total_minor;
  uint32_t fee_bp;
  int64_t created_at;
} sl_ledger_trade;

/* Money events, 72 bytes, purpose CANCELLATION..WITHDRAWAL.  Rules: entry_id != 0;
 * trade_id == 0 for DEPOSIT and WITHDRAWAL and != 0 for the three trade events.  account_id is
 * the tenant for trade events, the account that moved funds for deposits and withdrawals. */
typedef struct {
  uint32_t purpose;
  uint64_t entry_id, trade_id, account_id, journal_txn_id;
  int64_t to_tenant_minor, to_provider_minor, fee_minor;
  int64_t at;
} sl_ledger_money;

/* CHECKPOINT (signed tree head), 56 bytes.  No field rules (tree_size 0 is the empty tree). */
typedef struct {
  uint64_t tree_size;
  sl_ledger_hash root;
  int64_t timestamp;
} sl_ledger_checkpoint;

/* EXPORT, 40 bytes: the SHA-256 of an exported file. */
typedef struct {
  sl_ledger_hash sha256;
} sl_ledger_export;

/* PERIOD_CLOSE, 80 bytes: a ledger entry.  Rules: entry_id != 0, period_id != 0,
 * start < end.  sha256 is the digest of the period's canonical all-accounts export. */
typedef struct {
  uint64_t entry_id, period_id;
  int64_t start, end; /* [start, end), epoch seconds */
  sl_ledger_hash sha256;
  int64_t at;
} sl_ledger_period;

/* POWER, 96 bytes: a ledger entry recording one change of who may do what.  Rules:
 * entry_id != 0, event_id != 0, account_id != 0, 1 <= action <= SL_POWER_ACTION_MAX,
 * role <= SL_POWER_ROLE_MAX and role != 0 exactly for ACCOUNT_CREATED and ROLE_CHANGED,
 * object_id != 0 exactly for the token actions.  actor_id 0: not made through the API
 * (bootstrap, seed, migration). */
typedef struct {
  uint64_t entry_id, event_id;
  uint32_t action, role;
  uint64_t account_id, actor_id, object_id;
  sl_ledger_hash digest;
  int64_t at;
} sl_ledger_power;

/* AUDIT_HEAD, 64 bytes: a ledger entry signing the head of the audit log's hash chain — the
 * first `count` rows of the log chain to `chain`.  Rules: entry_id != 0, count != 0. */
typedef struct {
  uint64_t entry_id, count;
  sl_ledger_hash chain;
  int64_t at;
} sl_ledger_audit_head;
/* COSIGNATURE, 88 bytes: what a witness signs with its own key when it has checked that a
 * checkpoint is consistent with every checkpoint it cosigned before (api/SIGNING.md
 * "Witnesses").  checkpoint_sha256 is SHA-256 of the exchange's signed CHECKPOINT record.
 * No field rules. */
typedef struct {
  int64_t timestamp; /* when the witness cosigned, epoch s */
  uint64_t tree_size;
  sl_ledger_hash root;
  sl_ledger_hash checkpoint_sha256;
} sl_ledger_cosignature;

/* Any record, tagged by its purpose. */
typedef struct {
  uint32_t purpose;
  union {
    sl_ledger_trade trade;
    sl_ledger_money money; /* money.purpose == purpose */
    sl_ledger_checkpoint checkpoint;
    sl_ledger_export export_;
    sl_ledger_period period;
    sl_ledger_power power;
    sl_ledger_audit_head audit_head;
    sl_ledger_cosignature cosignature;
  } u;
} sl_ledger_record;

/* Encoders write exactly the layout's size into out (which must hold that many bytes) and
 * return SL_LEDGER_OK, or an error with out untouched when a field rule is broken (or, for
 * money events, the purpose is not a money purpose). */
sl_ledger_rc sl_ledger_trade_encode(const sl_ledger_trade *t, uint8_t *out);
sl_ledger_rc sl_ledger_money_encode(const sl_ledger_money *m, uint8_t *out);
sl_ledger_rc sl_ledger_checkpoint_encode(const sl_ledger_checkpoint *c, uint8_t *out);
sl_ledger_rc sl_ledger_export_encode(const sl_ledger_export *e, uint8_t *out);
sl_ledger_rc sl_ledger_period_encode(const sl_ledger_period *p, uint8_t *out);
sl_ledger_rc sl_ledger_power_encode(const sl_ledger_power *p, uint8_t *out);
sl_ledger_rc sl_ledger_audit_head_encode(const sl_ledger_audit_head *h, uint8_t *out);
sl_ledger_rc sl_ledger_cosignature_encode(const sl_ledger_cosignature *c, uint8_t *out);

/* Decoders read buf[0..len) strictly (see the top of this file) into *out, which is written
 * only on success.  sl_ledger_money_decode accepts any of the five money purposes. */
sl_ledger_rc sl_ledger_trade_decode(const uint8_t *buf, size_t len, sl_ledger_trade *out);
sl_ledger_rc sl_ledger_money_decode(const uint8_t *buf, size_t len, sl_ledger_money *out);
sl_ledger_rc sl_ledger_checkpoint_decode(const uint8_t *buf, size_t len, sl_ledger_checkpoint *out);
sl_ledger_rc sl_ledger_export_decode(const uint8_t *buf, size_t len, sl_ledger_export *out);
sl_ledger_rc sl_ledger_period_decode(const uint8_t *buf, size_t len, sl_ledger_period *out);
sl_ledger_rc sl_ledger_power_decode(const uint8_t *buf, size_t len, sl_ledger_power *out);
sl_ledger_rc sl_ledger_audit_head_decode(const uint8_t *buf, size_t len, sl_ledger_audit_head *out);
sl_ledger_rc sl_ledger_cosignature_decode(const uint8_t *buf, size_t len,
                                          sl_ledger_cosignature *out);
/* The COSIGNATURE of the signed CHECKPOINT record cp[0..len) at time t: its size and root,
 * and the SHA-256 of those exact bytes.  The decode error when cp is no CHECKPOINT record. */
sl_ledger_rc sl_ledger_cosignature_of(const uint8_t *cp, size_t len, int64_t t,
                                      sl_ledger_cosignature *out);

/* Encode/decode any record by its purpose.  encode writes *len bytes into out[0..cap); a cap
 * of SL_LEDGER_RECORD_MAX always suffices (ERANGE when cap is too small). */
sl_ledger_rc sl_ledger_record_encode(const sl_ledger_record *r, uint8_t *out, size_t cap,
                                     size_t *len);
sl_ledger_rc sl_ledger_record_decode(const uint8_t *buf, size_t len, sl_ledger_record *out);

/* The time a record states (TRADE created_at, money event, PERIOD_CLOSE, POWER and AUDIT_HEAD
 * at, CHECKPOINT and COSIGNATURE timestamp), used to check a key's validity.  Returns false
 * for EXPORT, which states no time. */
bool sl_ledger_record_time(const sl_ledger_record *r, int64_t *out);
/* The entry id of a TRADE, money event, PERIOD_CLOSE, POWER or AUDIT_HEAD; 0 for CHECKPOINT and
 * EXPORT (not entries). */
uint64_t sl_ledger_record_entry_id(const sl_ledger_record *r);

/* ------------------------------------------------------------------------ keys, signatures */

typedef struct {
  uint8_t pk[SL_LEDGER_PK_LEN];
  uint8_t sk[SL_LEDGER_SK_LEN];
  uint8_t key_id[SL_LEDGER_KEY_ID_LEN];
  char key_id_hex[SL_LEDGER_KEY_ID_HEXLEN + 1];
} sl_ledger_keypair;

/* Derive the Ed25519 key pair of a 32-byte seed (deterministic), with its key id.  The
 * caller generates seeds (randombytes_buf) and wipes the pair with sl_ledger_keypair_wipe. */
void sl_ledger_keypair_from_seed(const uint8_t seed[SL_LEDGER_SEED_LEN], sl_ledger_keypair *kp);
void sl_ledger_keypair_wipe(sl_ledger_keypair *kp);

/* Key id of a public key: the first 8 bytes of BLAKE2b-256(pk) (unkeyed), raw or as 16
 * lowercase hex characters plus a NUL. */
void sl_ledger_key_id(const uint8_t pk[SL_LEDGER_PK_LEN], uint8_t id[SL_LEDGER_KEY_ID_LEN]);
void sl_ledger_key_id_hex(const uint8_t pk[SL_LEDGER_PK_LEN],
                          char out[SL_LEDGER_KEY_ID_HEXLEN + 1]);

/* Sign rec[0..len) with an Ed25519 detached signature.  Refuses (sig untouched) anything that
 * is not a well-formed record of a known purpose (sl_ledger_record_decode must accept it), so
 * the key never signs bytes outside the registry. */
sl_ledger_rc sl_ledger_sign(const sl_ledger_keypair *kp, const uint8_t *rec, size_t len,
                            uint8_t sig[SL_LEDGER_SIG_LEN]);
/* SL_LEDGER_OK when rec is a well-formed record (same check as sign) and sig is pk's
 * signature over exactly those bytes; the decode error, or SL_LEDGER_ESIG, otherwise. */
sl_ledger_rc sl_ledger_verify(const uint8_t pk[SL_LEDGER_PK_LEN], const uint8_t *rec, size_t len,
                              const uint8_t sig[SL_LEDGER_SIG_LEN]);

/* A witness's cosignature: rebuild the COSIGNATURE record of the signed CHECKPOINT record
 * cp[0..cp_len) at time t into rec, and check that sig is pk's signature over it.  The decode
 * error when cp is no CHECKPOINT record, SL_LEDGER_ESIG when the signature does not verify. */
sl_ledger_rc sl_ledger_cosignature_verify(const uint8_t pk[SL_LEDGER_PK_LEN], const uint8_t *cp,
                                          size_t cp_len, int64_t t,
                                          const uint8_t sig[SL_LEDGER_SIG_LEN],
                                          uint8_t rec[SL_LEDGER_COSIGNATURE_SIZE]);

/* ------------------------------------------------------------------------- leaves, chain */

/* Leaf data of an entry: rec || key_id (8 raw bytes) || sig, into out[0..cap) (*len bytes).
 * rec must pass sl_ledger_record_check; cap >= SL_LEDGER_LEAF_DATA_MAX always suffices. */
sl_ledger_rc sl_ledger_leaf_data(const uint8_t *rec, size_t rec_len,
                                 const uint8_t key_id[SL_LEDGER_KEY_ID_LEN],
                                 const uint8_t sig[SL_LEDGER_SIG_LEN], uint8_t *out, size_t cap,
                                 size_t *len);
/* RFC 9162 leaf hash SHA-256(0x00 || data) and node hash SHA-256(0x01 || left || right).
 * out may alias an input. */
void sl_ledger_leaf_hash(const uint8_t *data, size_t len, sl_ledger_hash *out);
void sl_ledger_node_hash(const sl_ledger_hash *left, const sl_ledger_hash *right,
                         sl_ledger_hash *out);
/* Leaf hash of an entry in one call (sl_ledger_leaf_data, then sl_ledger_leaf_hash). */
sl_ledger_rc sl_ledger_entry_leaf_hash(const uint8_t *rec, size_t rec_len,
                                       const uint8_t key_id[SL_LEDGER_KEY_ID_LEN],
                                       const uint8_t sig[SL_LEDGER_SIG_LEN], sl_ledger_hash *out);

/* One step of the hash chain: out = SHA-256(prev || leaf), where prev NULL stands for the
 * seed chain_{-1} = 32 zero bytes.  out may alias prev or leaf. */
void sl_ledger_chain_step(const sl_ledger_hash *prev, const sl_ledger_hash *leaf,
                          sl_ledger_hash *out);

/* ------------------------------------------------------------------ Merkle tree, RFC 9162 */
/* Generation takes the caller's array of n leaf hashes (in tree order) and allocates
 * nothing: it uses about 2 KiB of stack, and O(n) hashing per call.  Proofs are written
 * into the caller's proof[SL_LEDGER_PROOF_MAX], bottom-up (the leaf's sibling first), exactly
 * as RFC 9162 sections 2.1.3.1 and 2.1.4.1 define them. */

/* The compact frontier of a growing tree: the roots of the perfect subtrees that make it up,
 * largest first.  Push leaves in order; the root of the leaves pushed so far (RFC 9162 MTH) is
 * then O(log n) away, so the roots of every prefix size in increasing order cost O(n) in all.
 * Zero-initialise (or sl_ledger_frontier_reset) for the empty tree. */
typedef struct {
  sl_ledger_hash h[64];
  uint64_t size[64];
  int n;
  uint64_t leaves; /* leaves pushed */
} sl_ledger_frontier;
void sl_ledger_frontier_reset(sl_ledger_frontier *f);
void sl_ledger_frontier_push(sl_ledger_frontier *f, const sl_ledger_hash *leaf);
void sl_ledger_frontier_root(const sl_ledger_frontier *f, sl_ledger_hash *root);

/* MTH of leaves[0..n); n == 0 gives SHA-256 of the empty string. */
void sl_ledger_merkle_root(const sl_ledger_hash *leaves, size_t n, sl_ledger_hash *root);

/* Inclusion proof PATH(index, D[0:n]).  ERANGE when index >= n. */
sl_ledger_rc sl_ledger_inclusion_proof(const sl_ledger_hash *leaves, size_t n, uint64_t index,
                                       sl_ledger_hash proof[SL_LEDGER_PROOF_MAX],
                                       size_t *proof_len);
/* RFC 9162 2.1.3.2: does proof lead from leaf (at index, in a tree of tree_size leaves) to
 * root?  SL_LEDGER_OK, ERANGE (index >= tree_size, proof longer than SL_LEDGER_PROOF_MAX) or
 * EPROOF. */
sl_ledger_rc sl_ledger_inclusion_verify(const sl_ledger_hash *leaf, uint64_t index,
                                        uint64_t tree_size, const sl_ledger_hash *proof,
                                        size_t proof_len, const sl_ledger_hash *root);

/* Consistency proof PROOF(m, D[0:n]) between the first m leaves and all n.  m == 0 and
 * m == n give the empty proof; ERANGE when m > n. */
sl_ledger_rc sl_ledger_consistency_proof(const sl_ledger_hash *leaves, size_t n, uint64_t m,
                                         sl_ledger_hash proof[SL_LEDGER_PROOF_MAX],
                                         size_t *proof_len);
/* RFC 9162 2.1.4.2 for 0 < m < n.  Also: m == n holds when the proof is empty and the roots
 * are equal; m == 0 when the proof is empty and old_root is the empty tree's hash.  ERANGE
 * when m > n or the proof is too long; EPROOF otherwise. */
sl_ledger_rc sl_ledger_consistency_verify(uint64_t m, uint64_t n, const sl_ledger_hash *old_root,
                                          const sl_ledger_hash *new_root,
                                          const sl_ledger_hash *proof, size_t proof_len);

/* ------------------------------------------------------------------------------------ hex */

/* Lowercase hex of bin[0..len) into out, which must hold 2*len + 1 bytes (NUL-terminated). */
void sl_ledger_hex_encode(const uint8_t *bin, size_t len, char *out);
/* Strict decode of a NUL-terminated string of lowercase hex digits, exactly 2*want characters
 * (no prefix, spaces or uppercase), into out[0..want).  Returns false (out may be partly
 * written) on anything else. */
bool sl_ledger_hex_decode(const char *hex, uint8_t *out, size_t want);
/* The same for a string of any even length up to 2*cap; *len gets the byte count. */
bool sl_ledger_hex_decode_var(const char *hex, uint8_t *out, size_t cap, size_t *len);

#endif
