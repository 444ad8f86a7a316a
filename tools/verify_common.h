/* verify_common.h — offline verification of Suanli's signed documents (api/SIGNING.md),
 * shared by tools/suanli_verify.c (suanli-verify) and tools/suanli/ (suanli receipt --verify,
 * suanli export --verify).  Pure: reads local files only, never talks to a server.
 *
 * Each function prints one line per check to stdout ("ok    ...", "FAIL  ...", "note  ..."),
 * then a verdict line, and returns 0 when every check passed and 1 when any failed.  A file
 * that cannot be read, is not JSON, or has a required field missing or of the wrong type is
 * reported on stderr (prefixed with slv_prog) and the process exits with status 2.
 * Call sodium_init() first. */
#ifndef SUANLI_TOOLS_VERIFY_COMMON_H
#define SUANLI_TOOLS_VERIFY_COMMON_H

/* Program name used in error messages (default "suanli-verify"). */
extern const char *slv_prog;

/* Require every checkpoint checked from now on (alone, in a receipt, or either side of a
 * consistency proof) to carry valid cosignatures of at least `quorum` of the witnesses named in
 * witnesses_file ({"witnesses": [{"name", "public_key"}]}, the shape of GET
 * /v1/ledger/witnesses).  A quorum of 0 only reports the cosignatures. */
void slv_require_witnesses(const char *witnesses_file, int quorum);

int slv_receipt(const char *receipt_file, const char *keys_file);
int slv_checkpoint(const char *checkpoint_file, const char *keys_file);
int slv_consistency(const char *old_file, const char *new_file, const char *proof_file,
                    const char *keys_file);
/* A signed export: FILE's SHA-256 against SIGNATURE.json {"key_id","signature","sha256"}. */
int slv_file(const char *path, const char *sig_file, const char *keys_file);

#endif
