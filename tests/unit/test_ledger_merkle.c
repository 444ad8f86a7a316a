/* test_ledger_merkle.c — the RFC 9162 Merkle tree of src/ledger/merkle.c.
 *
 * Three independent references:
 *   1. the published Certificate Transparency test vectors (RFC 6962 hashing: roots of sizes
 *      0..8 of eight fixed leaves, some inclusion and consistency proofs);
 *   2. the recursive definitions of RFC 9162 2.1.1 (MTH), 2.1.3.1 (PATH) and 2.1.4.1
 *      (PROOF/SUBPROOF), written here again naively — the library computes them without
 *      recursion, so agreement on every size 1..64 and on random sizes up to 5000 is a real
 *      check;
 *   3. tampering: any changed byte of a proof, root or leaf, any other index or size, a
 *      shorter or longer proof, must make verification fail (every byte, for small trees). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "suanli/ledger/records.h"

#define MAXN 5000

static sl_ledger_hash LEAVES[MAXN];
static sl_ledger_hash ROOTS[129]; /* MTH of the first n leaves, n <= 128, by the naive MTH */

/* xorshift64*: a fixed, portable sequence, so any failure reproduces. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1du;
}

static int setup_leaves(void **state) {
  (void)state;
  if (sodium_init() < 0) return -1;
  for (uint32_t i = 0; i < MAXN; i++) {
    uint8_t data[4] = {(uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
    sl_ledger_leaf_hash(data, sizeof data, &LEAVES[i]);
  }
  return 0;
}

static sl_ledger_hash naive_mth(const sl_ledger_hash *d, size_t n);

/* Root of the first n leaves: from the table for small n. */
static void root_of(size_t n, sl_ledger_hash *out) {
  if (n < sizeof ROOTS / sizeof ROOTS[0]) *out = ROOTS[n];
  else sl_ledger_merkle_root(LEAVES, n, out);
}

static int setup(void **state) {
  if (setup_leaves(state) != 0) return -1;
  for (size_t n = 0; n < sizeof ROOTS / sizeof ROOTS[0]; n++) ROOTS[n] = naive_mth(LEAVES, n);
  return 0;
}

static void hx(const sl_ledger_hash *h, char out[65]) { sl_ledger_hex_encode(h->b, 32, out); }

static sl_ledger_hash from_hex(const char *s) {
  sl_ledger_hash h;
  if (!sl_ledger_hex_decode(s, h.b, 32)) fail_msg("bad hex in test: %s", s);
  return h;
}

static bool heq(const sl_ledger_hash *a, const sl_ledger_hash *b) {
  return memcmp(a->b, b->b, 32) == 0;
}

/* ------------------------------------------------------------ naive RFC 9162 definitions */

static uint64_t naive_k(uint64_t n) { /* largest power of two < n, n > 1 */
  uint64_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

static void naive_node(const sl_ledger_hash *l, const sl_ledger_hash *r, sl_ledger_hash *out) {
  uint8_t buf[65];
  buf[0] = 1;
  memcpy(buf + 1, l->b, 32);
  memcpy(buf + 33, r->b, 32);
  crypto_hash_sha256(out->b, buf, sizeof buf);
}

static sl_ledger_hash naive_mth(const sl_ledger_hash *d, size_t n) {
  sl_ledger_hash out;
  if (n == 0) {
    crypto_hash_sha256(out.b, (const uint8_t *)"", 0);
  } else if (n == 1) {
    out = d[0];
  } else {
    size_t k = naive_k(n);
    sl_ledger_hash l = naive_mth(d, k), r = naive_mth(d + k, n - k);
    naive_node(&l, &r, &out);
  }
  return out;
}

/* PATH(m, D[n]), appended to out[*len..] in RFC order. */
static void naive_path(size_t m, const sl_ledger_hash *d, size_t n, sl_ledger_hash *out,
                       size_t *len) {
  if (n <= 1) return;
  size_t k = naive_k(n);
  if (m < k) {
    naive_path(m, d, k, out, len);
    out[(*len)++] = naive_mth(d + k, n - k);
  } else {
    naive_path(m - k, d + k, n - k, out, len);
    out[(*len)++] = naive_mth(d, k);
  }
}

static void naive_subproof(size_t m, const sl_ledger_hash *d, size_t n, bool b, sl_ledger_hash *out,
                           size_t *len) {
  if (m == n) {
    if (!b) out[(*len)++] = naive_mth(d, n);
    return;
  }
  size_t k = naive_k(n);
  if (m <= k) {
    naive_subproof(m, d, k, b, out, len);
    out[(*len)++] = naive_mth(d + k, n - k);
  } else {
    naive_subproof(m - k, d + k, n - k, false, out, len);
    out[(*len)++] = naive_mth(d, k);
  }
}

static void naive_consistency(size_t m, const sl_ledger_hash *d, size_t n, sl_ledger_hash *out,
                              size_t *len) {
  *len = 0;
  if (m == 0 || m == n) return;
  naive_subproof(m, d, n, true, out, len);
}

/* ------------------------------------------------------- Certificate Transparency vectors */

static const char *const CT_LEAF_DATA[8] = {
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
};
static const char *const CT_ROOTS[9] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static void ct_leaves(sl_ledger_hash out[8]) {
  for (int i = 0; i < 8; i++) {
    uint8_t data[16];
    size_t len = 0;
    assert_true(sl_ledger_hex_decode_var(CT_LEAF_DATA[i], data, sizeof data, &len));
    sl_ledger_leaf_hash(data, len, &out[i]);
  }
}

static void expect_proof(const char *what, const sl_ledger_hash *got, size_t got_len,
                         const char *const *want, size_t want_len) {
  if (got_len != want_len) fail_msg("%s: %zu hashes, want %zu", what, got_len, want_len);
  for (size_t i = 0; i < want_len; i++) {
    char h[65];
    hx(&got[i], h);
    if (strcmp(h, want[i]) != 0) fail_msg("%s: element %zu is %s, want %s", what, i, h, want[i]);
  }
}

static void test_ct_vectors(void **state) {
  (void)state;
  sl_ledger_hash leaves[8], root, proof[SL_LEDGER_PROOF_MAX];
  ct_leaves(leaves);
  for (size_t n = 0; n <= 8; n++) {
    char h[65];
    sl_ledger_merkle_root(leaves, n, &root);
    hx(&root, h);
    if (strcmp(h, CT_ROOTS[n]) != 0) fail_msg("root of size %zu: %s, want %s", n, h, CT_ROOTS[n]);
  }

  static const struct {
    uint64_t index, size;
    size_t len;
    const char *proof[3];
  } incl[] = {
      {0,
       8,
       3,
       {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
      {5,
       8,
       3,
       {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
      {2, 3, 1, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
      {1,
       5,
       3,
       {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
  };
  for (size_t i = 0; i < sizeof incl / sizeof incl[0]; i++) {
    size_t len = 99;
    assert_int_equal(sl_ledger_inclusion_proof(leaves, incl[i].size, incl[i].index, proof, &len),
                     SL_LEDGER_OK);
    expect_proof("CT inclusion", proof, len, incl[i].proof, incl[i].len);
    root = from_hex(CT_ROOTS[incl[i].size]);
    assert_int_equal(sl_ledger_inclusion_verify(&leaves[incl[i].index], incl[i].index, incl[i].size,
                                                proof, len, &root),
                     SL_LEDGER_OK);
  }

  static const struct {
    uint64_t m, n;
    size_t len;
    const char *proof[3];
  } cons[] = {
      {1, 1, 0, {NULL}},
      {1,
       8,
       3,
       {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
      {6,
       8,
       3,
       {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
      {2,
       5,
       2,
       {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
  };
  for (size_t i = 0; i < sizeof cons / sizeof cons[0]; i++) {
    size_t len = 99;
    assert_int_equal(sl_ledger_consistency_proof(leaves, cons[i].n, cons[i].m, proof, &len),
                     SL_LEDGER_OK);
    expect_proof("CT consistency", proof, len, cons[i].proof, cons[i].len);
    sl_ledger_hash r1 = from_hex(CT_ROOTS[cons[i].m]), r2 = from_hex(CT_ROOTS[cons[i].n]);
    assert_int_equal(sl_ledger_consistency_verify(cons[i].m, cons[i].n, &r1, &r2, proof, len),
                     SL_LEDGER_OK);
  }
}

/* --------------------------------------------------------------------------- the checks */

static void check_root(size_t n) {
  sl_ledger_hash got, want = naive_mth(LEAVES, n);
  sl_ledger_merkle_root(LEAVES, n, &got);
  if (!heq(&got, &want)) fail_msg("root of size %zu differs from the naive MTH", n);
}

static void flip(sl_ledger_hash *h, size_t byte, uint8_t mask) { h->b[byte] ^= mask; }

/* Inclusion of leaf i in a tree of n leaves.  exhaustive: every byte of every proof element,
 * of the root and of the leaf; otherwise one random byte of each. */
static void check_inclusion(size_t n, size_t i, const sl_ledger_hash *root, bool exhaustive) {
  sl_ledger_hash proof[SL_LEDGER_PROOF_MAX], want[SL_LEDGER_PROOF_MAX + 1];
  size_t len = 0, want_len = 0;
  assert_int_equal(sl_ledger_inclusion_proof(LEAVES, n, i, proof, &len), SL_LEDGER_OK);
  naive_path(i, LEAVES, n, want, &want_len);
  if (len != want_len || memcmp(proof, want, len * sizeof proof[0]) != 0)
    fail_msg("inclusion proof (%zu, %zu) differs from the naive PATH (%zu vs %zu hashes)", i, n,
             len, want_len);
  sl_ledger_hash leaf = LEAVES[i], r = *root;
  if (sl_ledger_inclusion_verify(&leaf, i, n, proof, len, &r) != SL_LEDGER_OK)
    fail_msg("inclusion (%zu, %zu) does not verify", i, n);

  /* any changed byte */
  for (size_t e = 0; e <= len + 1; e++) {
    sl_ledger_hash *target = e < len ? &proof[e] : e == len ? &leaf : &r;
    for (size_t b = 0; b < 32; b++) {
      size_t byte = exhaustive ? b : (size_t)(rnd() % 32);
      uint8_t mask = exhaustive ? 0x01 : (uint8_t)(1u << (rnd() % 8));
      flip(target, byte, mask);
      if (sl_ledger_inclusion_verify(&leaf, i, n, proof, len, &r) == SL_LEDGER_OK)
        fail_msg("inclusion (%zu, %zu) verifies with byte %zu of element %zu changed", i, n, byte,
                 e);
      flip(target, byte, mask);
      if (!exhaustive) break;
    }
  }
  /* any other index, under the same root */
  for (size_t k = 0; k < (exhaustive ? n : 16); k++) {
    size_t j = exhaustive ? k : k < 4 ? (i + n + k - 2) % n : (size_t)(rnd() % n);
    if (j != i && sl_ledger_inclusion_verify(&leaf, j, n, proof, len, &r) == SL_LEDGER_OK)
      fail_msg("inclusion (%zu, %zu) verifies as index %zu", i, n, j);
  }
  if (sl_ledger_inclusion_verify(&leaf, n, n, proof, len, &r) != SL_LEDGER_ERANGE)
    fail_msg("index == size accepted");
  /* the leaf of another index */
  if (n > 1) {
    size_t j = (i + 1) % n;
    if (sl_ledger_inclusion_verify(&LEAVES[j], i, n, proof, len, &r) == SL_LEDGER_OK)
      fail_msg("inclusion (%zu, %zu) verifies leaf %zu", i, n, j);
  }
  /* any other size, against the root a checkpoint of that size would sign */
  size_t lo = i + 1 > n / 2 ? i + 1 : n / 2, hi = n * 2 < MAXN ? n * 2 : MAXN;
  for (size_t m = lo; m <= hi; m++) {
    if (m == n) continue;
    if (!exhaustive && m != lo && m != hi && m != n - 1 && m != n + 1) continue;
    sl_ledger_hash rm;
    root_of(m, &rm);
    if (sl_ledger_inclusion_verify(&leaf, i, m, proof, len, &rm) == SL_LEDGER_OK)
      fail_msg("inclusion (%zu, %zu) verifies in a tree of size %zu", i, n, m);
  }
  /* a proof one hash shorter or longer */
  if (len > 0) {
    if (sl_ledger_inclusion_verify(&leaf, i, n, proof, len - 1, &r) == SL_LEDGER_OK)
      fail_msg("inclusion (%zu, %zu) verifies without its last hash", i, n);
    if (sl_ledger_inclusion_verify(&leaf, i, n, proof + 1, len - 1, &r) == SL_LEDGER_OK)
      fail_msg("inclusion (%zu, %zu) verifies without its first hash", i, n);
  }
  if (len < SL_LEDGER_PROOF_MAX) {
    proof[len] = LEAVES[0];
    if (sl_ledger_inclusion_verify(&leaf, i, n, proof, len + 1, &r) == SL_LEDGER_OK)
      fail_msg("inclusion (%zu, %zu) verifies with an extra hash", i, n);
    /* ... even when a lying log signs the root that extra hash leads to */
    sl_ledger_hash forged;
    naive_node(&proof[len], &r, &forged);
    if (sl_ledger_inclusion_verify(&leaf, i, n, proof, len + 1, &forged) == SL_LEDGER_OK)
      fail_msg("inclusion (%zu, %zu) verifies with an extra hash under a forged root", i, n);
  }
  /* a lying log that drops the top of the path and signs the subtree root it leads to */
  if (len > 0) {
    size_t k = naive_k(n);
    sl_ledger_hash sub = i < k ? naive_mth(LEAVES, k) : naive_mth(LEAVES + k, n - k);
    if (sl_ledger_inclusion_verify(&leaf, i, n, proof, len - 1, &sub) == SL_LEDGER_OK)
      fail_msg("inclusion (%zu, %zu) verifies truncated, under the subtree root", i, n);
  }
}

/* The proof of (m, n) must not pass as a proof of (m2, n2) under the true roots of m2 and
 * n2 — unless it is that pair's proof too (the empty proof is right for every (x, x) and
 * (0, x)). */
static void expect_consistency_fails(size_t m, size_t n, size_t m2, size_t n2,
                                     const sl_ledger_hash *proof, size_t len) {
  sl_ledger_hash want[SL_LEDGER_PROOF_MAX + 1], r1, r2;
  size_t want_len = 0;
  naive_consistency(m2, LEAVES, n2, want, &want_len);
  if (want_len == len && memcmp(want, proof, len * sizeof want[0]) == 0) return;
  root_of(m2, &r1);
  root_of(n2, &r2);
  if (sl_ledger_consistency_verify(m2, n2, &r1, &r2, proof, len) == SL_LEDGER_OK)
    fail_msg("consistency (%zu, %zu) verifies as (%zu, %zu)", m, n, m2, n2);
}

static void check_consistency(size_t m, size_t n, const sl_ledger_hash *roots_m,
                              const sl_ledger_hash *root_n, bool exhaustive) {
  sl_ledger_hash proof[SL_LEDGER_PROOF_MAX], want[SL_LEDGER_PROOF_MAX + 1];
  size_t len = 0, want_len = 0;
  assert_int_equal(sl_ledger_consistency_proof(LEAVES, n, m, proof, &len), SL_LEDGER_OK);
  naive_consistency(m, LEAVES, n, want, &want_len);
  if (len != want_len || memcmp(proof, want, len * sizeof proof[0]) != 0)
    fail_msg("consistency proof (%zu, %zu) differs from the naive PROOF", m, n);
  sl_ledger_hash r1 = *roots_m, r2 = *root_n;
  if (sl_ledger_consistency_verify(m, n, &r1, &r2, proof, len) != SL_LEDGER_OK)
    fail_msg("consistency (%zu, %zu) does not verify", m, n);

  for (size_t e = 0; e < len + 2; e++) {
    sl_ledger_hash *target = e < len ? &proof[e] : e == len ? &r1 : &r2;
    if (m == 0 && target == &r2) continue; /* the empty tree is consistent with every tree */
    for (size_t b = 0; b < 32; b++) {
      size_t byte = exhaustive ? b : (size_t)(rnd() % 32);
      uint8_t mask = exhaustive ? 0x80 : (uint8_t)(1u << (rnd() % 8));
      flip(target, byte, mask);
      if (sl_ledger_consistency_verify(m, n, &r1, &r2, proof, len) == SL_LEDGER_OK)
        fail_msg("consistency (%zu, %zu) verifies with byte %zu of element %zu changed", m, n, byte,
                 e);
      flip(target, byte, mask);
      if (!exhaustive) break;
    }
  }
  /* other sizes, each with the roots checkpoints of those sizes would sign */
  for (size_t d = 1; d <= (exhaustive ? 2u : 1u); d++) {
    if (m >= d) expect_consistency_fails(m, n, m - d, n, proof, len);
    if (m + d <= n) expect_consistency_fails(m, n, m + d, n, proof, len);
    if (n + d <= MAXN) expect_consistency_fails(m, n, m, n + d, proof, len);
    if (n >= m + d) expect_consistency_fails(m, n, m, n - d, proof, len);
  }
  if (len > 0) {
    if (sl_ledger_consistency_verify(m, n, &r1, &r2, proof, len - 1) == SL_LEDGER_OK)
      fail_msg("consistency (%zu, %zu) verifies without its last hash", m, n);
    if (sl_ledger_consistency_verify(m, n, &r1, &r2, proof + 1, len - 1) == SL_LEDGER_OK)
      fail_msg("consistency (%zu, %zu) verifies without its first hash", m, n);
  }
  if (len < SL_LEDGER_PROOF_MAX) {
    proof[len] = LEAVES[0];
    if (sl_ledger_consistency_verify(m, n, &r1, &r2, proof, len + 1) == SL_LEDGER_OK)
      fail_msg("consistency (%zu, %zu) verifies with an extra hash", m, n);
  }
  /* a lying log that drops the top hash and signs, as the root of size n, the left subtree
   * root the shorter proof leads to (the size n is then never reached) */
  if (len > 0 && m > 0 && m < n && m <= naive_k(n)) {
    sl_ledger_hash sub = naive_mth(LEAVES, naive_k(n));
    if (sl_ledger_consistency_verify(m, n, &r1, &sub, proof, len - 1) == SL_LEDGER_OK)
      fail_msg("consistency (%zu, %zu) verifies truncated, under the subtree root", m, n);
  }
}

/* --------------------------------------------------------------------------------- tests */

static void test_roots_small(void **state) {
  (void)state;
  for (size_t n = 0; n <= 128; n++) check_root(n);
  /* root of one leaf is the leaf; of two, the node hash */
  sl_ledger_hash r, node;
  sl_ledger_merkle_root(LEAVES, 1, &r);
  assert_true(heq(&r, &LEAVES[0]));
  sl_ledger_merkle_root(LEAVES, 2, &r);
  sl_ledger_node_hash(&LEAVES[0], &LEAVES[1], &node);
  assert_true(heq(&r, &node));
}

/* The compact frontier (the sequencer's tree cache and the auditor's checkpoint roots): after
 * each push, its root is the MTH of the leaves pushed so far; reset gives the empty tree. */
static void test_frontier_every_prefix(void **state) {
  (void)state;
  sl_ledger_frontier f;
  sl_ledger_frontier_reset(&f);
  sl_ledger_hash r, want;
  sl_ledger_frontier_root(&f, &r);
  sl_ledger_merkle_root(LEAVES, 0, &want);
  assert_true(heq(&r, &want));
  for (size_t n = 1; n <= 128; n++) {
    sl_ledger_frontier_push(&f, &LEAVES[n - 1]);
    assert_int_equal(f.leaves, n);
    sl_ledger_frontier_root(&f, &r);
    sl_ledger_merkle_root(LEAVES, n, &want);
    if (!heq(&r, &want)) fail_msg("frontier root of %zu leaves differs from MTH", n);
  }
  sl_ledger_frontier_reset(&f);
  sl_ledger_frontier_root(&f, &r);
  sl_ledger_merkle_root(LEAVES, 0, &want);
  assert_true(heq(&r, &want));
}

static void test_inclusion_every_index_1_to_64(void **state) {
  (void)state;
  for (size_t n = 1; n <= 64; n++) {
    sl_ledger_hash root = naive_mth(LEAVES, n);
    for (size_t i = 0; i < n; i++) check_inclusion(n, i, &root, n <= 32);
  }
}

static void test_consistency_every_pair_1_to_64(void **state) {
  (void)state;
  sl_ledger_hash roots[65];
  for (size_t n = 0; n <= 64; n++) roots[n] = naive_mth(LEAVES, n);
  for (size_t n = 1; n <= 64; n++)
    for (size_t m = 0; m <= n; m++) check_consistency(m, n, &roots[m], &roots[n], n <= 24);
}

static void test_random_large(void **state) {
  (void)state;
  size_t sizes[24];
  size_t ns = 0;
  static const size_t fixed[] = {127,  128,  129,  255,  256,  257, 1023,
                                 1024, 1025, 4095, 4096, 4097, MAXN};
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) sizes[ns++] = fixed[i];
  while (ns < sizeof sizes / sizeof sizes[0]) sizes[ns++] = 65 + (size_t)(rnd() % (MAXN - 65));
  for (size_t s = 0; s < ns; s++) {
    size_t n = sizes[s];
    check_root(n);
    sl_ledger_hash root = naive_mth(LEAVES, n);
    check_inclusion(n, 0, &root, false);
    check_inclusion(n, n - 1, &root, false);
    for (int k = 0; k < 6; k++) check_inclusion(n, (size_t)(rnd() % n), &root, false);
    for (int k = 0; k < 4; k++) {
      size_t m = k == 0 ? n - 1 : k == 1 ? 1 : (size_t)(rnd() % (n + 1));
      sl_ledger_hash rm = naive_mth(LEAVES, m);
      check_consistency(m, n, &rm, &root, false);
    }
  }
}

/* An inclusion proof binds the leaf's position under a root; the tree size is bound to that
 * root only by the signed checkpoint.  Here the proof of leaf 0 in a tree of 3 also passes as
 * "leaf 0 of 4" under the size-3 root, because both trees give leaf 0 the same path shape.
 * That is why every verifier (tools/suanli_verify.c) requires tree_size == the signed
 * checkpoint's tree_size and uses that checkpoint's root. */
static void test_size_is_bound_by_the_checkpoint(void **state) {
  (void)state;
  sl_ledger_hash proof[SL_LEDGER_PROOF_MAX], r3, r4;
  size_t len = 0;
  sl_ledger_merkle_root(LEAVES, 3, &r3);
  sl_ledger_merkle_root(LEAVES, 4, &r4);
  assert_int_equal(sl_ledger_inclusion_proof(LEAVES, 3, 0, proof, &len), SL_LEDGER_OK);
  assert_int_equal(sl_ledger_inclusion_verify(&LEAVES[0], 0, 4, proof, len, &r3), SL_LEDGER_OK);
  assert_int_equal(sl_ledger_inclusion_verify(&LEAVES[0], 0, 4, proof, len, &r4), SL_LEDGER_EPROOF);
}

/* A rewritten entry before an old checkpoint: the rewritten log is consistent with itself,
 * but no proof links the old signed root to its new root. */
static void test_rewritten_history_detected(void **state) {
  (void)state;
  enum { N = 40, M = 17 };
  sl_ledger_hash forged[N], proof[SL_LEDGER_PROOF_MAX], old_root, forged_m, forged_n;
  size_t len = 0;
  sl_ledger_merkle_root(LEAVES, M, &old_root);
  for (size_t victim = 0; victim < M; victim++) {
    memcpy(forged, LEAVES, sizeof forged);
    forged[victim].b[0] ^= 1;
    sl_ledger_merkle_root(forged, M, &forged_m);
    sl_ledger_merkle_root(forged, N, &forged_n);
    assert_int_equal(sl_ledger_consistency_proof(forged, N, M, proof, &len), SL_LEDGER_OK);
    assert_int_equal(sl_ledger_consistency_verify(M, N, &forged_m, &forged_n, proof, len),
                     SL_LEDGER_OK);
    assert_int_equal(sl_ledger_consistency_verify(M, N, &old_root, &forged_n, proof, len),
                     SL_LEDGER_EPROOF);
  }
  /* a removed entry and two swapped entries too */
  memcpy(forged, LEAVES, sizeof forged);
  memmove(&forged[5], &forged[6], (N - 6) * sizeof forged[0]);
  sl_ledger_merkle_root(forged, N - 1, &forged_n);
  assert_int_equal(sl_ledger_consistency_proof(forged, N - 1, M, proof, &len), SL_LEDGER_OK);
  assert_int_equal(sl_ledger_consistency_verify(M, N - 1, &old_root, &forged_n, proof, len),
                   SL_LEDGER_EPROOF);
  memcpy(forged, LEAVES, sizeof forged);
  forged[3] = LEAVES[4];
  forged[4] = LEAVES[3];
  sl_ledger_merkle_root(forged, N, &forged_n);
  assert_int_equal(sl_ledger_consistency_proof(forged, N, M, proof, &len), SL_LEDGER_OK);
  assert_int_equal(sl_ledger_consistency_verify(M, N, &old_root, &forged_n, proof, len),
                   SL_LEDGER_EPROOF);
}

static void test_edges(void **state) {
  (void)state;
  sl_ledger_hash proof[SL_LEDGER_PROOF_MAX], empty, r;
  size_t len = 7;
  crypto_hash_sha256(empty.b, (const uint8_t *)"", 0);
  sl_ledger_merkle_root(NULL, 0, &r);
  assert_true(heq(&r, &empty));

  /* generation out of range */
  assert_int_equal(sl_ledger_inclusion_proof(LEAVES, 0, 0, proof, &len), SL_LEDGER_ERANGE);
  assert_int_equal(sl_ledger_inclusion_proof(LEAVES, 5, 5, proof, &len), SL_LEDGER_ERANGE);
  assert_int_equal(sl_ledger_consistency_proof(LEAVES, 5, 6, proof, &len), SL_LEDGER_ERANGE);
  assert_int_equal(len, 7); /* untouched on error */

  /* size 1: empty proof, root = leaf */
  assert_int_equal(sl_ledger_inclusion_proof(LEAVES, 1, 0, proof, &len), SL_LEDGER_OK);
  assert_int_equal(len, 0);
  assert_int_equal(sl_ledger_inclusion_verify(&LEAVES[0], 0, 1, proof, 0, &LEAVES[0]),
                   SL_LEDGER_OK);
  assert_int_equal(sl_ledger_inclusion_verify(&LEAVES[0], 0, 0, proof, 0, &LEAVES[0]),
                   SL_LEDGER_ERANGE);
  assert_int_equal(
      sl_ledger_inclusion_verify(&LEAVES[0], UINT64_MAX, UINT64_MAX, proof, 0, &LEAVES[0]),
      SL_LEDGER_ERANGE);

  /* m == 0 needs the empty root and an empty proof; m == n equal roots and an empty proof */
  sl_ledger_merkle_root(LEAVES, 9, &r);
  assert_int_equal(sl_ledger_consistency_verify(0, 9, &empty, &r, proof, 0), SL_LEDGER_OK);
  assert_int_equal(sl_ledger_consistency_verify(0, 0, &empty, &empty, proof, 0), SL_LEDGER_OK);
  assert_int_equal(sl_ledger_consistency_verify(0, 9, &r, &r, proof, 0), SL_LEDGER_EPROOF);
  assert_int_equal(sl_ledger_consistency_verify(9, 9, &r, &r, proof, 0), SL_LEDGER_OK);
  assert_int_equal(sl_ledger_consistency_verify(9, 9, &r, &empty, proof, 0), SL_LEDGER_EPROOF);
  proof[0] = r;
  assert_int_equal(sl_ledger_consistency_verify(9, 9, &r, &r, proof, 1), SL_LEDGER_EPROOF);
  assert_int_equal(sl_ledger_consistency_verify(10, 9, &r, &r, proof, 0), SL_LEDGER_ERANGE);
  /* 0 < m < n with an empty proof never verifies, even with equal roots */
  assert_int_equal(sl_ledger_consistency_verify(4, 9, &r, &r, proof, 0), SL_LEDGER_EPROOF);

  /* over-long proofs are refused before any hashing */
  static sl_ledger_hash many[SL_LEDGER_PROOF_MAX + 1];
  assert_int_equal(sl_ledger_inclusion_verify(&LEAVES[0], 0, 2, many, SL_LEDGER_PROOF_MAX + 1, &r),
                   SL_LEDGER_ERANGE);
  assert_int_equal(sl_ledger_consistency_verify(1, 2, &r, &r, many, SL_LEDGER_PROOF_MAX + 1),
                   SL_LEDGER_ERANGE);

  /* a huge claimed size: the proof of a small tree does not verify, and nothing overflows */
  size_t plen = 0;
  sl_ledger_merkle_root(LEAVES, 8, &r);
  assert_int_equal(sl_ledger_inclusion_proof(LEAVES, 8, 3, proof, &plen), SL_LEDGER_OK);
  assert_int_equal(sl_ledger_inclusion_verify(&LEAVES[3], 3, UINT64_MAX, proof, plen, &r),
                   SL_LEDGER_EPROOF);
  assert_int_equal(sl_ledger_consistency_verify(UINT64_MAX - 1, UINT64_MAX, &r, &r, proof, plen),
                   SL_LEDGER_EPROOF);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ct_vectors),
      cmocka_unit_test(test_roots_small),
      cmocka_unit_test(test_frontier_every_prefix),
      cmocka_unit_test(test_inclusion_every_index_1_to_64),
      cmocka_unit_test(test_consistency_every_pair_1_to_64),
      cmocka_unit_test(test_random_large),
      cmocka_unit_test(test_size_is_bound_by_the_checkpoint),
      cmocka_unit_test(test_rewritten_history_detected),
      cmocka_unit_test(test_edges),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
