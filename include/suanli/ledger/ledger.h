/* ledger/ledger.h — the ledger over the database (src/ledger/sequencer.c, src/ledger/auditor.c).
 *
 * Keys: Ed25519 seeds live in SUANLI_KEY_DIR (one file "<key id>.key" per key, 64 hex
 * characters, mode 0600, in a 0700 folder); their public keys and validity periods in the
 * exchange_keys table.  On first start a key is made (under an advisory lock, so several
 * processes agree on one).  A rotation adds a key that signs from a given time and ends the
 * others' validity there; old keys stay published for verification.
 *
 * Recording: sl_ledger_init registers the ledger's signer with the db layer
 * (sl_db_set_signer, include/suanli/db/db.h).  Just before each COMMIT that moved money,
 * sl_db_commit calls it; it signs, inside that transaction, exactly the items the
 * transaction's money-moving statements queued (schema/015: a TRADE record per trade, a money
 * event per other journal transaction, each under the purpose its journal kind declares in
 * journal_kind_purposes) and appends them to ledger_entries — no global lock.  The sequencer
 * later folds entries into the Merkle tree in batches and signs a checkpoint per batch. */
#ifndef SUANLI_LEDGER_LEDGER_H
#define SUANLI_LEDGER_LEDGER_H
#include "suanli/db/db.h"
#include "suanli/ledger/records.h"
#include <jansson.h>
#include <stdbool.h>

/* Load (or create) the signing keys and register the signer with the db layer.  enabled=false
 * turns recording off (benchmarks): the signer then waives each transaction's items. */
bool sl_ledger_init(const char *conninfo, const char *key_dir, bool enabled, char *err,
                    size_t errlen);
void sl_ledger_fini(void);
bool sl_ledger_enabled(void);

/* Make a new key signing from `at` (epoch s; 0 = now); prints nothing.  *key_id gets it. */
bool sl_ledger_rotate(const char *conninfo, const char *key_dir, int64_t at, char key_id[17],
                      char *err, size_t errlen);

/* Sign and append the PERIOD_CLOSE entry of a closed period (in the caller's transaction). */
sl_dbrc sl_ledger_record_period(sl_dbc *c, int64_t period_id, int64_t from, int64_t to,
                                const uint8_t sha256[32], int64_t *entry_id);

/* Sign bytes' SHA-256 as an EXPORT record (files, webhook bodies) with the key valid now. */
bool sl_ledger_sign_blob(const uint8_t *data, size_t len, uint8_t sig[64], char key_id[17],
                         uint8_t sha256[32]);
/* The same for a digest already computed (streamed exports). */
bool sl_ledger_sign_digest(const uint8_t sha256[32], uint8_t sig[64], char key_id[17]);

/* Sequence up to `limit` entries into the tree and sign a checkpoint when any were added;
 * *added = how many.  Runs its own transaction on c. */
sl_dbrc sl_ledger_sequence(sl_dbc *c, int limit, int *added);

/* Whether the stored ledger can be served (issue 18): every sequenced leaf 0..N-1 present,
 * the latest checkpoint of size exactly N, and no checkpoint row missing between them.
 * SL_DB_OK with why = "" when it holds, or a short English reason; a database error
 * otherwise.  The scans behind the last two run at most every 2 s per process. */
sl_dbrc sl_ledger_check(sl_dbc *c, char *why, size_t len);

/* Proofs from the process's cache of leaf hashes (synchronised from the database).
 * SL_DB_NOROWS when the database lacks leaves the tree size needs (inconsistent). */
sl_dbrc sl_ledger_inclusion(sl_dbc *c, int64_t leaf_index, int64_t tree_size, json_t **proof);
sl_dbrc sl_ledger_consistency(sl_dbc *c, int64_t from, int64_t to, json_t **proof);

/* The auditor: re-read the whole ledger and journal, recompute every hash, signature, sum
 * and balance; call report(finding) for each inconsistency (a JSON object naming the table,
 * the row and what is wrong).  Returns the number of findings, or -1 on a database error. */
/* The digest of a closed period's export, recomputed from the journal (settlement owns the
 * export's format: server/main.c passes sl_settlement_period_digest). */
typedef sl_dbrc (*sl_ledger_period_digest)(sl_dbc *c, int64_t from, int64_t to, uint8_t sha256[32]);
long sl_ledger_audit(sl_dbc *c, sl_ledger_period_digest digest,
                     void (*report)(json_t *finding, void *arg), void *arg);

#endif
