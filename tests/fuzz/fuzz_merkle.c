/* fuzz_merkle.c — Merkle proof verification (src/ledger/merkle.c, RFC 9162).
 * Input: [1 byte mode][8 index or m][8 tree size or n][32 leaf or old root][32 root][proof
 * hashes...].  Invariants: a proof the generator makes for a small tree built from the input
 * verifies; verification never reads past the proof it is given (ASan). */
#include "suanli/ledger/records.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 81) return 0;
  uint8_t mode = data[0];
  uint64_t a = u64(data + 1), b = u64(data + 9);
  sl_ledger_hash h1, h2;
  memcpy(h1.b, data + 17, 32);
  memcpy(h2.b, data + 49, 32);
  size_t np = (size - 81) / 32;
  sl_ledger_hash *proof = malloc((np ? np : 1) * sizeof *proof);
  if (!proof) return 0;
  for (size_t i = 0; i < np; i++) memcpy(proof[i].b, data + 81 + 32 * i, 32);
  if (mode & 1) (void)sl_ledger_consistency_verify(a, b, &h1, &h2, proof, np);
  else (void)sl_ledger_inclusion_verify(&h1, a, b, proof, np, &h2);
  /* round trip on a small tree made of the proof hashes */
  if (np >= 1 && np <= 40) {
    sl_ledger_hash root, root2, gen[SL_LEDGER_PROOF_MAX];
    size_t glen = 0;
    sl_ledger_merkle_root(proof, np, &root);
    uint64_t idx = a % np;
    if (sl_ledger_inclusion_proof(proof, np, idx, gen, &glen) != SL_LEDGER_OK) abort();
    if (sl_ledger_inclusion_verify(&proof[idx], idx, np, gen, glen, &root) != SL_LEDGER_OK) abort();
    uint64_t m = 1 + b % np;
    sl_ledger_merkle_root(proof, m, &root2);
    if (sl_ledger_consistency_proof(proof, np, m, gen, &glen) != SL_LEDGER_OK) abort();
    if (sl_ledger_consistency_verify(m, np, &root2, &root, gen, glen) != SL_LEDGER_OK) abort();
  }
  free(proof);
  return 0;
}
