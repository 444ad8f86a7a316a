/* merkle.c — leaf data, the hash chain, and the Merkle tree of RFC 9162 section 2.1.
 *
 * MTH({}) = SHA-256(""), MTH({d}) = SHA-256(0x00 || d), and for n > 1 with k the largest
 * power of two below n: MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])).  The code
 * never recurses: subtree roots come from a left-to-right stack of perfect subtrees, and
 * proofs are collected top-down along the same splits, then reversed into the RFC's
 * bottom-up order. */
#include <string.h>

#include <sodium.h>

#include "suanli/ledger/records.h"

/* Stack depth for range_root: one perfect subtree per bit of a size_t, plus the leaf just
 * pushed before it merges. */
#define STACK_MAX (sizeof(size_t) * 8 + 1)

/* ------------------------------------------------------------------------ hashes, chain */

void sl_ledger_leaf_hash(const uint8_t *data, size_t len, sl_ledger_hash *out) {
  static const uint8_t prefix = 0x00;
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, &prefix, 1);
  if (len) crypto_hash_sha256_update(&st, data, len);
  crypto_hash_sha256_final(&st, out->b);
}

void sl_ledger_node_hash(const sl_ledger_hash *left, const sl_ledger_hash *right,
                         sl_ledger_hash *out) {
  uint8_t buf[1 + 2 * SL_LEDGER_HASH_LEN];
  buf[0] = 0x01;
  memcpy(buf + 1, left->b, SL_LEDGER_HASH_LEN);
  memcpy(buf + 1 + SL_LEDGER_HASH_LEN, right->b, SL_LEDGER_HASH_LEN);
  crypto_hash_sha256(out->b, buf, sizeof buf);
}

void sl_ledger_chain_step(const sl_ledger_hash *prev, const sl_ledger_hash *leaf,
                          sl_ledger_hash *out) {
  uint8_t buf[2 * SL_LEDGER_HASH_LEN];
  if (prev) memcpy(buf, prev->b, SL_LEDGER_HASH_LEN);
  else memset(buf, 0, SL_LEDGER_HASH_LEN);
  memcpy(buf + SL_LEDGER_HASH_LEN, leaf->b, SL_LEDGER_HASH_LEN);
  crypto_hash_sha256(out->b, buf, sizeof buf);
}

sl_ledger_rc sl_ledger_leaf_data(const uint8_t *rec, size_t rec_len,
                                 const uint8_t key_id[SL_LEDGER_KEY_ID_LEN],
                                 const uint8_t sig[SL_LEDGER_SIG_LEN], uint8_t *out, size_t cap,
                                 size_t *len) {
  sl_ledger_rc rc = sl_ledger_record_check(rec, rec_len, NULL);
  if (rc != SL_LEDGER_OK) return rc;
  size_t total = rec_len + SL_LEDGER_KEY_ID_LEN + SL_LEDGER_SIG_LEN;
  if (cap < total) return SL_LEDGER_ERANGE;
  memcpy(out, rec, rec_len);
  memcpy(out + rec_len, key_id, SL_LEDGER_KEY_ID_LEN);
  memcpy(out + rec_len + SL_LEDGER_KEY_ID_LEN, sig, SL_LEDGER_SIG_LEN);
  *len = total;
  return SL_LEDGER_OK;
}

sl_ledger_rc sl_ledger_entry_leaf_hash(const uint8_t *rec, size_t rec_len,
                                       const uint8_t key_id[SL_LEDGER_KEY_ID_LEN],
                                       const uint8_t sig[SL_LEDGER_SIG_LEN], sl_ledger_hash *out) {
  uint8_t data[SL_LEDGER_LEAF_DATA_MAX];
  size_t len = 0;
  sl_ledger_rc rc = sl_ledger_leaf_data(rec, rec_len, key_id, sig, data, sizeof data, &len);
  if (rc != SL_LEDGER_OK) return rc;
  sl_ledger_leaf_hash(data, len, out);
  return SL_LEDGER_OK;
}

/* ----------------------------------------------------------------------------- the tree */

/* Largest power of two strictly below n (n >= 2). */
static uint64_t split_point(uint64_t n) {
  uint64_t k = 1;
  while (k < n - k) k <<= 1; /* k < n/2 without overflow: stop at the first k >= n - k */
  return k;
}

/* MTH of leaves[0..n).  After pushing leaf i, merge once per trailing zero bit of i+1: the
 * stack then holds the perfect subtrees of the binary digits of i+1, largest first.  Folding
 * them right to left gives MTH, since each split of MTH takes the largest power of two
 * below the size on the left. */
static void range_root(const sl_ledger_hash *leaves, size_t n, sl_ledger_hash *out) {
  if (n == 0) {
    crypto_hash_sha256(out->b, NULL, 0);
    return;
  }
  sl_ledger_hash stack[STACK_MAX];
  size_t top = 0;
  for (size_t i = 0; i < n; i++) {
    stack[top++] = leaves[i];
    for (size_t c = i + 1; (c & 1) == 0; c >>= 1) {
      sl_ledger_node_hash(&stack[top - 2], &stack[top - 1], &stack[top - 2]);
      top--;
    }
  }
  while (top > 1) {
    sl_ledger_node_hash(&stack[top - 2], &stack[top - 1], &stack[top - 2]);
    top--;
  }
  *out = stack[0];
}

void sl_ledger_merkle_root(const sl_ledger_hash *leaves, size_t n, sl_ledger_hash *root) {
  range_root(leaves, n, root);
}

static void reverse(sl_ledger_hash *p, size_t len) {
  for (size_t i = 0, j = len; i + 1 < j; i++, j--) {
    sl_ledger_hash t = p[i];
    p[i] = p[j - 1];
    p[j - 1] = t;
  }
}

/* PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n]) if m < k, else PATH(m-k, D[k:n]) : MTH(D[0:k]).
 * Walking down from the root, each level contributes the subtree the leaf is not in. */
sl_ledger_rc sl_ledger_inclusion_proof(const sl_ledger_hash *leaves, size_t n, uint64_t index,
                                       sl_ledger_hash proof[SL_LEDGER_PROOF_MAX],
                                       size_t *proof_len) {
  if (index >= n) return SL_LEDGER_ERANGE;
  size_t lo = 0, hi = n, idx = (size_t)index, len = 0;
  while (hi - lo > 1) {
    size_t k = (size_t)split_point(hi - lo);
    if (idx < k) {
      range_root(leaves + lo + k, hi - lo - k, &proof[len++]);
      hi = lo + k;
    } else {
      range_root(leaves + lo, k, &proof[len++]);
      lo += k;
      idx -= k;
    }
  }
  reverse(proof, len);
  *proof_len = len;
  return SL_LEDGER_OK;
}

/* SUBPROOF(m, D[n], b): m == n gives {} when b, else {MTH(D[n])}; otherwise with k the split,
 * m <= k gives SUBPROOF(m, D[0:k], b) : MTH(D[k:n]) and m > k gives
 * SUBPROOF(m-k, D[k:n], false) : MTH(D[0:k]).  PROOF(m, D[n]) = SUBPROOF(m, D[n], true). */
sl_ledger_rc sl_ledger_consistency_proof(const sl_ledger_hash *leaves, size_t n, uint64_t m,
                                         sl_ledger_hash proof[SL_LEDGER_PROOF_MAX],
                                         size_t *proof_len) {
  if (m > n) return SL_LEDGER_ERANGE;
  *proof_len = 0;
  if (m == 0 || m == n) return SL_LEDGER_OK;
  size_t lo = 0, hi = n, mm = (size_t)m, len = 0;
  bool b = true;
  while (hi - lo != mm) {
    size_t k = (size_t)split_point(hi - lo);
    if (mm <= k) {
      range_root(leaves + lo + k, hi - lo - k, &proof[len++]);
      hi = lo + k;
    } else {
      range_root(leaves + lo, k, &proof[len++]);
      lo += k;
      mm -= k;
      b = false;
    }
  }
  if (!b) range_root(leaves + lo, hi - lo, &proof[len++]);
  reverse(proof, len);
  *proof_len = len;
  return SL_LEDGER_OK;
}

/* RFC 9162 2.1.3.2, step by step. */
sl_ledger_rc sl_ledger_inclusion_verify(const sl_ledger_hash *leaf, uint64_t index,
                                        uint64_t tree_size, const sl_ledger_hash *proof,
                                        size_t proof_len, const sl_ledger_hash *root) {
  if (index >= tree_size || proof_len > SL_LEDGER_PROOF_MAX) return SL_LEDGER_ERANGE;
  uint64_t fn = index, sn = tree_size - 1;
  sl_ledger_hash r = *leaf;
  for (size_t i = 0; i < proof_len; i++) {
    if (sn == 0) return SL_LEDGER_EPROOF;
    if ((fn & 1) || fn == sn) {
      sl_ledger_node_hash(&proof[i], &r, &r);
      if (!(fn & 1))
        while (fn != 0 && !(fn & 1)) {
          fn >>= 1;
          sn >>= 1;
        }
    } else {
      sl_ledger_node_hash(&r, &proof[i], &r);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0 || sodium_memcmp(r.b, root->b, SL_LEDGER_HASH_LEN) != 0) return SL_LEDGER_EPROOF;
  return SL_LEDGER_OK;
}

static bool is_pow2(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

static bool hash_eq(const sl_ledger_hash *a, const sl_ledger_hash *b) {
  return sodium_memcmp(a->b, b->b, SL_LEDGER_HASH_LEN) == 0;
}

/* RFC 9162 2.1.4.2.  When m is a power of two the old root is itself a node of the new tree
 * and the RFC prepends it to the path; here it is read in place of proof[-1] instead. */
sl_ledger_rc sl_ledger_consistency_verify(uint64_t m, uint64_t n, const sl_ledger_hash *old_root,
                                          const sl_ledger_hash *new_root,
                                          const sl_ledger_hash *proof, size_t proof_len) {
  if (m > n || proof_len > SL_LEDGER_PROOF_MAX) return SL_LEDGER_ERANGE;
  if (m == 0) {
    sl_ledger_hash empty;
    crypto_hash_sha256(empty.b, NULL, 0);
    return proof_len == 0 && hash_eq(old_root, &empty) ? SL_LEDGER_OK : SL_LEDGER_EPROOF;
  }
  if (m == n)
    return proof_len == 0 && hash_eq(old_root, new_root) ? SL_LEDGER_OK : SL_LEDGER_EPROOF;
  if (proof_len == 0) return SL_LEDGER_EPROOF;

  bool prepend = is_pow2(m);
  size_t total = proof_len + (prepend ? 1 : 0);
#define PATH(i) (prepend ? ((i) == 0 ? old_root : &proof[(i)-1]) : &proof[i])
  uint64_t fn = m - 1, sn = n - 1;
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  sl_ledger_hash fr = *PATH(0), sr = *PATH(0);
  for (size_t i = 1; i < total; i++) {
    const sl_ledger_hash *c = PATH(i);
    if (sn == 0) return SL_LEDGER_EPROOF;
    if ((fn & 1) || fn == sn) {
      sl_ledger_node_hash(c, &fr, &fr);
      sl_ledger_node_hash(c, &sr, &sr);
      if (!(fn & 1))
        while (fn != 0 && !(fn & 1)) {
          fn >>= 1;
          sn >>= 1;
        }
    } else {
      sl_ledger_node_hash(&sr, c, &sr);
    }
    fn >>= 1;
    sn >>= 1;
  }
#undef PATH
  if (sn != 0 || !hash_eq(&fr, old_root) || !hash_eq(&sr, new_root)) return SL_LEDGER_EPROOF;
  return SL_LEDGER_OK;
}

/* ------------------------------------------------------------------- compact frontier */

void sl_ledger_frontier_reset(sl_ledger_frontier *f) {
  f->n = 0;
  f->leaves = 0;
}

void sl_ledger_frontier_push(sl_ledger_frontier *f, const sl_ledger_hash *leaf) {
  f->h[f->n] = *leaf;
  f->size[f->n++] = 1;
  f->leaves++;
  while (f->n >= 2 && f->size[f->n - 1] == f->size[f->n - 2]) {
    sl_ledger_node_hash(&f->h[f->n - 2], &f->h[f->n - 1], &f->h[f->n - 2]);
    f->size[f->n - 2] *= 2;
    f->n--;
  }
}

void sl_ledger_frontier_root(const sl_ledger_frontier *f, sl_ledger_hash *root) {
  if (f->n == 0) {
    sl_ledger_merkle_root(NULL, 0, root);
    return;
  }
  *root = f->h[f->n - 1];
  for (int i = f->n - 2; i >= 0; i--) sl_ledger_node_hash(&f->h[i], root, root);
}
