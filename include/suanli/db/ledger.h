/* db/ledger.h — ledger keys, entries, sequencer, checkpoints (src/db/ledger.c). */
#ifndef SUANLI_DB_LEDGER_H
#define SUANLI_DB_LEDGER_H
#include "suanli/db/db.h"

typedef struct sl_db_key_row {
  char key_id[20], public_hex[68];
  int64_t valid_from, valid_until; /* valid_until 0 = open-ended */
} sl_db_key_row;
sl_dbrc sl_db_keys_json(sl_dbc *c, json_t **out);
sl_dbrc sl_db_keys_rows(sl_dbc *c, sl_db_key_row **rows, size_t *n);
sl_dbrc sl_db_key_insert(sl_dbc *c, const char *key_id, const char *public_hex, int64_t valid_from);
/* Serialise key creation across processes (transaction-scoped advisory lock). */
sl_dbrc sl_db_key_lock(sl_dbc *c);
/* End the validity of every other key still valid at `at` (rotation). */
sl_dbrc sl_db_keys_close_others(sl_dbc *c, const char *key_id, int64_t at);

typedef struct sl_db_trade_row {
  int64_t trade_id, order_id, tenant_id, provider_id, pool_id, start, end, unit_price_minor,
      total_minor, created_at;
  int32_t gpus, fee_bp;
} sl_db_trade_row;
typedef struct sl_db_money_row {
  int64_t txn_id, trade_id, account_id, at, to_tenant_minor, to_provider_minor, fee_minor;
} sl_db_money_row;
/* One item the committing transaction queued for signing (schema/015), with the fields of its
 * record: purpose 1 (TRADE) fills `trade`, from the trade's row; the money events (2-6) fill
 * `money`, from their journal transaction and its postings.  The purpose is the one the
 * journal kind declares in journal_kind_purposes, never derived here. */
typedef struct sl_db_to_sign_row {
  uint32_t purpose;
  sl_db_trade_row trade;
  sl_db_money_row money;
} sl_db_to_sign_row;
/* Take (delete and return) exactly the items the current transaction queued, TRADE records
 * first (by trade), then money events (by journal transaction); a malloc'd array.  Only the
 * signer calls it, inside sl_db_commit. */
sl_dbrc sl_db_to_sign(sl_dbc *c, sl_db_to_sign_row **rows, size_t *n);
/* Waive signing for the open transaction (SUANLI_LEDGER=off only): drops its queued items, and
 * schema/007's deferred constraint then lets its trades and money movements commit without
 * ledger entries. */
sl_dbrc sl_db_ledger_waive(sl_dbc *c);
/* A block of n fresh entry ids from the sequence, ascending, into ids. */
sl_dbrc sl_db_entry_ids(sl_dbc *c, int n, int64_t *ids);
sl_dbrc sl_db_entry_insert(sl_dbc *c, int64_t id, int purpose, int64_t trade_id, int64_t txn_id,
                           const char *record_hex, const char *key_id, const char *sig_hex);

/* A power event (schema/023) the sequencer has not yet signed: the fields of its POWER record
 * (api/SIGNING.md) but the entry id. */
typedef struct sl_db_power_row {
  int64_t event_id, account_id, actor_id, object_id, at;
  int32_t action, role;
  char digest_hex[65];
} sl_db_power_row;
/* Up to limit unsigned power events, oldest first (a malloc'd array). */
sl_dbrc sl_db_power_pending(sl_dbc *c, int limit, sl_db_power_row **rows, size_t *n);
/* Append the POWER entry of power event event_id. */
sl_dbrc sl_db_entry_insert_power(sl_dbc *c, int64_t id, int64_t event_id, const char *record_hex,
                                 const char *key_id, const char *sig_hex);

/* Chain up to `limit` more rows of the audit log (schema/023, sl_audit_chain): the head after
 * it (count of chained rows; chain value as hex, "" when the log is empty), and the count the
 * AUDIT_HEAD entry of the highest id signed (0 when there is none). */
sl_dbrc sl_db_audit_chain(sl_dbc *c, int limit, int64_t *count, char chain_hex[65],
                          int64_t *signed_count);
/* Append an AUDIT_HEAD entry. */
sl_dbrc sl_db_entry_insert_head(sl_dbc *c, int64_t id, const char *record_hex, const char *key_id,
                                const char *sig_hex);

typedef struct sl_db_entry_row {
  int64_t id;
  char record_hex[2 * 104 + 1], key_id[20], sig_hex[129];
} sl_db_entry_row;
/* The sequencer's transaction: an advisory lock (one sequencer at a time), the tree head
 * (size and last chain hash, "" for the empty tree), the next unsequenced entries in id
 * order (locked), and the assignment of positions (arrays as SQL array literals). */
sl_dbrc sl_db_seq_lock(sl_dbc *c, bool *got);
sl_dbrc sl_db_seq_head(sl_dbc *c, int64_t *size, char chain_hex[65], int64_t *signed_size);
sl_dbrc sl_db_seq_pending(sl_dbc *c, int limit, sl_db_entry_row **rows, size_t *n);
sl_dbrc sl_db_seq_assign(sl_dbc *c, const char *ids, const char *indexes, const char *leaf_hexes,
                         const char *chain_hexes);
/* Leaf hashes [from, to) as concatenated hex (64 chars each; malloc'd). */
sl_dbrc sl_db_leaves(sl_dbc *c, int64_t from, int64_t to, char **hexes, size_t *n);
/* prev_size: the tree size of the checkpoint signed before this one (0 for the first: stored
 * as NULL). */
sl_dbrc sl_db_checkpoint_insert(sl_dbc *c, int64_t size, int64_t prev_size, const char *root_hex,
                                int64_t at, const char *key_id, const char *sig_hex,
                                const char *record_hex);
/* The shape of the stored tree (issue 18): `sequenced` = the largest leaf_index + 1,
 * `signed_size` = the largest checkpoint's tree_size (0 when none).  With full (a scan of both
 * tables): `sequenced_rows` = how many entries have a leaf_index, `missing_checkpoint` = the
 * smallest prev_size that is no checkpoint's tree_size (0 when none); -1 and 0 without. */
typedef struct sl_db_ledger_shape_row {
  int64_t sequenced, signed_size, sequenced_rows, missing_checkpoint;
} sl_db_ledger_shape_row;
sl_dbrc sl_db_ledger_shape(sl_dbc *c, bool full, sl_db_ledger_shape_row *out);
/* Checkpoints with tree_size > after, ascending, at most limit (a JSON array). */
sl_dbrc sl_db_checkpoints_list(sl_dbc *c, int64_t after, int limit, json_t **out);
/* Tree positions [from, from + limit) as LedgerLeaf objects (api_ledger_leaf); reader: the
 * account whose entries are shown in full (0 = all, for admins). */
sl_dbrc sl_db_leaves_list(sl_dbc *c, int64_t from, int limit, int64_t reader, json_t **out);
/* A checkpoint by size (-1 = the latest). */
sl_dbrc sl_db_checkpoint_get(sl_dbc *c, int64_t size, json_t **out);
/* Record one run of the auditor (schema/013): when it started (epoch seconds), how many
 * findings, and by_check (JSON text: {"check": count}). */
sl_dbrc sl_db_audit_run_record(sl_dbc *c, int64_t started_at, long findings, const char *by_check);
/* The latest recorded audit run as JSON; SL_DB_NOROWS when none. */
sl_dbrc sl_db_audit_run_latest(sl_dbc *c, json_t **out);
/* The latest checkpoint that covers leaf_index. */
sl_dbrc sl_db_checkpoint_covering(sl_dbc *c, int64_t leaf_index, json_t **out);
sl_dbrc sl_db_entries_of_trade(sl_dbc *c, int64_t trade, json_t **out);
sl_dbrc sl_db_entry_get(sl_dbc *c, int64_t id, json_t **out);

/* Witnesses (schema/024): register one (SL_DB_UNIQUE when the name or key exists; *out the
 * Witness object), list them, and the public key (64 hex) of one by name (SL_DB_NOROWS). */
sl_dbrc sl_db_witness_insert(sl_dbc *c, const char *name, const char *public_hex,
                             const char *key_id, json_t **out);
sl_dbrc sl_db_witnesses_list(sl_dbc *c, json_t **out);
sl_dbrc sl_db_witness_key(sl_dbc *c, const char *name, char public_hex[65]);
/* Store a verified cosignature of the checkpoint of tree size `size`; *inserted is false when
 * this witness had already cosigned that checkpoint (the stored one stays). */
sl_dbrc sl_db_cosignature_insert(sl_dbc *c, int64_t size, const char *witness, int64_t at,
                                 const char *record_hex, const char *sig_hex, bool *inserted);

#endif
