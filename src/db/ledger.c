/* ledger.c — signing keys, ledger entries, the sequencer's batches, checkpoints, and the
 * auditor's reads.  Binary values travel as hex text. */
#include "suanli/db/ledger.h"
#include "internal.h"
#include <stdlib.h>
#include <string.h>

const sl_db_stmt sl_db_stmts_ledger[] = {
    /* keys, checkpoints, entries and audit runs leave as api_key(), api_checkpoint(),
     * api_ledger_entry(), api_receipt_entry() and api_audit_run() of schema/022_api_objects.sql */
    {"keys_json", "SELECT json_build_object('keys',"
                  " coalesce(json_agg(j ORDER BY k.valid_from, k.key_id), '[]'))::text"
                  " FROM exchange_keys k, api_key(k) j"},
    {"keys_rows",
     "SELECT key_id, encode(public_key, 'hex'), extract(epoch FROM valid_from)::bigint,"
     " coalesce(extract(epoch FROM valid_until)::bigint, 0) FROM exchange_keys"
     " ORDER BY valid_from, key_id"},
    {"key_insert", "INSERT INTO exchange_keys(key_id, public_key, valid_from)"
                   " VALUES ($1, decode($2, 'hex'), to_timestamp($3::bigint))"},
    {"key_close",
     "UPDATE exchange_keys SET valid_until = to_timestamp($2::bigint)"
     " WHERE key_id <> $1 AND (valid_until IS NULL OR valid_until > to_timestamp($2::bigint))"
     "   AND valid_from < to_timestamp($2::bigint)"},
    /* the items this transaction queued (schema/015), consumed, with their records' fields */
    {"to_sign",
     "WITH i AS (DELETE FROM ledger_to_sign WHERE txid = txid_current()"
     "           RETURNING purpose, trade_id, journal_txn_id)"
     " SELECT i.purpose, coalesce(i.trade_id, 0), i.journal_txn_id,"
     " t.order_id, t.tenant_id, t.provider_id, t.pool_id, t.gpus,"
     " extract(epoch FROM t.start_at)::bigint, extract(epoch FROM t.end_at)::bigint,"
     " t.unit_price_minor, t.total_minor, t.fee_bp,"
     " floor(extract(epoch FROM t.created_at))::bigint,"
     " coalesce(t.tenant_id, j.account_id), floor(extract(epoch FROM j.created_at))::bigint,"
     " s.to_tenant, s.to_provider, s.fee"
     " FROM i JOIN journal_txns j ON j.id = i.journal_txn_id"
     " LEFT JOIN trades t ON t.id = i.trade_id"
     " CROSS JOIN LATERAL (SELECT count(*) AS n,"
     "  coalesce(sum(p.amount) FILTER (WHERE la.purpose = 'available'"
     "    AND la.owner_id = coalesce(t.tenant_id, j.account_id)), 0) AS to_tenant,"
     "  coalesce(sum(p.amount) FILTER (WHERE la.purpose = 'available'"
     "    AND la.owner_id = t.provider_id), 0) AS to_provider,"
     "  coalesce(sum(p.amount) FILTER (WHERE la.purpose = 'fees'), 0) AS fee"
     "  FROM postings p JOIN ledger_accounts la ON la.id = p.ledger_account_id"
     "  WHERE p.txn_id = j.id AND i.purpose <> 1) s"
     /* a money event without postings stays unsigned: schema/007 refuses its COMMIT */
     " WHERE i.purpose = 1 OR s.n > 0"
     " ORDER BY i.purpose <> 1, CASE WHEN i.purpose = 1 THEN i.trade_id ELSE i.journal_txn_id END"},
    {"entry_ids",
     "SELECT nextval(pg_get_serial_sequence('ledger_entries', 'id')) FROM generate_series(1, $1)"},
    {"entry_insert",
     "INSERT INTO ledger_entries(id, purpose, trade_id, journal_txn_id, record, key_id, signature)"
     " VALUES ($1, $2, $3, $4, decode($5, 'hex'), $6, decode($7, 'hex'))"},
    {"entry_insert_power",
     "INSERT INTO ledger_entries(id, purpose, power_event_id, record, key_id, signature)"
     " VALUES ($1, 10, $2, decode($3, 'hex'), $4, decode($5, 'hex'))"},
    /* power events (schema/023) not yet signed, oldest first; only the sequencer (holding
     * seq_lock) signs them, so no row lock is needed */
    {"power_pending",
     "SELECT pe.id, pe.action, pe.account_id, pe.actor_id, pe.role, pe.object_id,"
     " encode(pe.digest, 'hex'), floor(extract(epoch FROM pe.at))::bigint FROM power_events pe"
     " WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.power_event_id = pe.id)"
     " ORDER BY pe.id LIMIT $1"},
    /* the audit log's chain (schema/023): chain up to $1 more rows; the new head */
    {"audit_chain", "SELECT c.out_count, coalesce(encode(c.out_chain, 'hex'), '')"
                    " FROM sl_audit_chain($1) c"},
    /* the count signed by the AUDIT_HEAD entry of the highest id (0: none) */
    {"audit_head_last",
     "SELECT coalesce((SELECT sl_power_u64(record, 16) FROM ledger_entries WHERE id = m.id), 0)"
     " FROM (SELECT max(id) AS id FROM ledger_entries WHERE purpose = 11) m"},
    {"entry_insert_head", "INSERT INTO ledger_entries(id, purpose, record, key_id, signature)"
                          " VALUES ($1, 11, decode($2, 'hex'), $3, decode($4, 'hex'))"},
    {"seq_lock", "SELECT pg_try_advisory_xact_lock(5817264002)"},
    {"ledger_waive", "WITH d AS (DELETE FROM ledger_to_sign WHERE txid = txid_current())"
                     " SELECT set_config('suanli.unsigned_ok', 'on', true)"},
    {"key_lock", "SELECT pg_advisory_xact_lock(5817264003)"},
    {"seq_head", "SELECT coalesce(max(leaf_index) + 1, 0),"
                 " coalesce((SELECT encode(chain_hash, 'hex') FROM ledger_entries"
                 "           WHERE leaf_index = (SELECT max(leaf_index) FROM ledger_entries)), ''),"
                 " coalesce((SELECT max(tree_size) FROM ledger_checkpoints), 0)"
                 " FROM ledger_entries"},
    /* the shape of the stored tree (issue 18): sequenced leaves, the largest checkpoint, and
     * with $1 the slower checks: the count of sequenced entries and the first checkpoint whose
     * predecessor is missing */
    {"ledger_shape",
     "SELECT coalesce((SELECT max(leaf_index) + 1 FROM ledger_entries), 0),"
     " coalesce((SELECT max(tree_size) FROM ledger_checkpoints), 0),"
     " CASE WHEN $1::boolean THEN (SELECT count(leaf_index) FROM ledger_entries) ELSE -1 END,"
     " CASE WHEN $1::boolean THEN coalesce((SELECT min(c.prev_size) FROM ledger_checkpoints c"
     "   WHERE c.prev_size > 0 AND NOT EXISTS (SELECT 1 FROM ledger_checkpoints p"
     "   WHERE p.tree_size = c.prev_size)), 0) ELSE 0 END"},
    {"checkpoints_list", "SELECT coalesce(json_agg(j ORDER BY s.tree_size), '[]')::text FROM ("
                         " SELECT c.tree_size, j FROM ledger_checkpoints c, api_checkpoint(c) j"
                         " WHERE c.tree_size > $1 ORDER BY c.tree_size LIMIT $2) s"},
    /* positions [$1, $1 + $2) of the tree; $3: the reader's account (NULL = admin) */
    {"leaves_list",
     "SELECT coalesce(json_agg(x ORDER BY e.leaf_index), '[]')::text"
     " FROM ledger_entries e LEFT JOIN journal_txns j ON j.id = e.journal_txn_id"
     " LEFT JOIN trades t ON t.id = e.trade_id,"
     " api_ledger_leaf(e, $3::bigint IS NULL OR t.tenant_id = $3 OR t.provider_id = $3"
     "   OR (e.trade_id IS NULL AND j.account_id = $3)) x"
     " WHERE e.leaf_index >= $1 AND e.leaf_index < $1 + $2"},
    {"seq_pending",
     "SELECT id, encode(record, 'hex'), key_id, encode(signature, 'hex') FROM ledger_entries"
     " WHERE leaf_index IS NULL ORDER BY id LIMIT $1 FOR UPDATE"},
    {"seq_assign",
     "UPDATE ledger_entries e SET leaf_index = u.li, leaf_hash = decode(u.lh, 'hex'),"
     " chain_hash = decode(u.ch, 'hex')"
     " FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) AS u(id, li, lh, ch)"
     " WHERE e.id = u.id"},
    {"leaves_from", "SELECT encode(leaf_hash, 'hex') FROM ledger_entries WHERE leaf_index >= $1"
                    " AND leaf_index < $2 ORDER BY leaf_index"},
    {"checkpoint_insert",
     "INSERT INTO ledger_checkpoints(tree_size, root_hash, signed_at, key_id, signature, record,"
     " prev_size) VALUES ($1, decode($2, 'hex'), to_timestamp($3::bigint), $4, decode($5, 'hex'),"
     " decode($6, 'hex'), $7) ON CONFLICT (tree_size) DO NOTHING"},
    {"checkpoint_get",
     "SELECT j::text FROM ledger_checkpoints c, api_checkpoint(c) j"
     " WHERE c.tree_size = coalesce($1, (SELECT max(tree_size) FROM ledger_checkpoints))"},
    {"audit_run_insert", "INSERT INTO audit_runs(started_at, findings, by_check, tree_size)"
                         " VALUES (to_timestamp($1::bigint), $2, $3::jsonb, (SELECT max(tree_size) "
                         "FROM ledger_checkpoints))"},
    {"audit_run_latest",
     "SELECT j::text FROM audit_runs r, api_audit_run(r) j ORDER BY r.id DESC LIMIT 1"},
    {"checkpoint_covering", "SELECT j::text FROM ledger_checkpoints c, api_checkpoint(c) j"
                            " WHERE c.tree_size > $1 ORDER BY c.tree_size DESC LIMIT 1"},
    {"entries_of_trade", "SELECT coalesce(json_agg(j ORDER BY e.id), '[]')::text"
                         " FROM ledger_entries e, api_receipt_entry(e) j WHERE e.trade_id = $1"},
    {"entry_get",
     "SELECT x::text FROM ledger_entries e LEFT JOIN journal_txns j ON j.id = e.journal_txn_id,"
     " api_ledger_entry(e, j) x WHERE e.id = $1"},
    /* witnesses and cosignatures (schema/024) */
    {"witness_insert",
     "WITH w AS (INSERT INTO ledger_witnesses(name, public_key, key_id)"
     " VALUES ($1, decode($2, 'hex'), $3) RETURNING *) SELECT j::text FROM w, api_witness(w) j"},
    {"witnesses_list", "SELECT coalesce(json_agg(j ORDER BY w.name), '[]')::text"
                       " FROM ledger_witnesses w, api_witness(w) j"},
    {"witness_key", "SELECT encode(public_key, 'hex') FROM ledger_witnesses WHERE name = $1"},
    {"cosignature_insert",
     "INSERT INTO ledger_cosignatures(tree_size, witness, cosigned_at, record, signature)"
     " VALUES ($1, $2, to_timestamp($3::bigint), decode($4, 'hex'), decode($5, 'hex'))"
     " ON CONFLICT (tree_size, witness) DO NOTHING RETURNING 1"},
    {NULL, NULL},
};

sl_dbrc sl_db_keys_json(sl_dbc *c, json_t **out) {
  return sl_db_json(c, "keys_json", 0, NULL, out);
}

sl_dbrc sl_db_keys_rows(sl_dbc *c, sl_db_key_row **rows, size_t *n) {
  PGresult *r;
  *rows = NULL;
  *n = 0;
  sl_db_key_row *out;
  size_t cnt;
  sl_dbrc rc = sl_db_rows(c, "keys_rows", 0, NULL, sizeof *out, &r, (void **)&out, &cnt);
  if (rc != SL_DB_OK) return rc;
  for (size_t i = 0; i < cnt; i++) {
    snprintf(out[i].key_id, sizeof out[i].key_id, "%s", PQgetvalue(r, (int)i, 0));
    snprintf(out[i].public_hex, sizeof out[i].public_hex, "%s", PQgetvalue(r, (int)i, 1));
    out[i].valid_from = strtoll(PQgetvalue(r, (int)i, 2), NULL, 10);
    out[i].valid_until = strtoll(PQgetvalue(r, (int)i, 3), NULL, 10);
  }
  PQclear(r);
  *rows = out;
  *n = cnt;
  return SL_DB_OK;
}

sl_dbrc sl_db_key_insert(sl_dbc *c, const char *key_id, const char *public_hex,
                         int64_t valid_from) {
  char b[24];
  const char *v[3] = {key_id, public_hex, sl_db_i64(b, valid_from)};
  return sl_db_exec(c, "key_insert", 3, v, NULL);
}

sl_dbrc sl_db_keys_close_others(sl_dbc *c, const char *key_id, int64_t at) {
  char b[24];
  const char *v[2] = {key_id, sl_db_i64(b, at)};
  return sl_db_exec(c, "key_close", 2, v, NULL);
}

static bool to_sign_row(PGresult *r, int k, void *row) {
  sl_db_to_sign_row *it = row;
  sl_db_trade_row *t = &it->trade;
  sl_db_money_row *m = &it->money;
  it->purpose = (uint32_t)sl_db_col_i64(r, k, 0);
  t->trade_id = m->trade_id = sl_db_col_i64(r, k, 1);
  m->txn_id = sl_db_col_i64(r, k, 2);
  t->order_id = sl_db_col_i64(r, k, 3);
  t->tenant_id = sl_db_col_i64(r, k, 4);
  t->provider_id = sl_db_col_i64(r, k, 5);
  t->pool_id = sl_db_col_i64(r, k, 6);
  t->gpus = (int32_t)sl_db_col_i64(r, k, 7);
  t->start = sl_db_col_i64(r, k, 8);
  t->end = sl_db_col_i64(r, k, 9);
  t->unit_price_minor = sl_db_col_i64(r, k, 10);
  t->total_minor = sl_db_col_i64(r, k, 11);
  t->fee_bp = (int32_t)sl_db_col_i64(r, k, 12);
  t->created_at = sl_db_col_i64(r, k, 13);
  m->account_id = sl_db_col_i64(r, k, 14);
  m->at = sl_db_col_i64(r, k, 15);
  m->to_tenant_minor = sl_db_col_i64(r, k, 16);
  m->to_provider_minor = sl_db_col_i64(r, k, 17);
  m->fee_minor = sl_db_col_i64(r, k, 18);
  return true;
}

sl_dbrc sl_db_to_sign(sl_dbc *c, sl_db_to_sign_row **rows, size_t *n) {
  return sl_db_rows_map(c, "to_sign", 0, NULL, sizeof **rows, to_sign_row, (void **)rows, n);
}

sl_dbrc sl_db_entry_insert(sl_dbc *c, int64_t id, int purpose, int64_t trade_id, int64_t txn_id,
                           const char *record_hex, const char *key_id, const char *sig_hex) {
  char b1[24], b2[24], b3[24], b4[24];
  const char *v[7] = {sl_db_i64(b1, id),
                      sl_db_i64(b2, purpose),
                      sl_db_i64_opt(b3, trade_id, 0),
                      sl_db_i64_opt(b4, txn_id, 0),
                      record_hex,
                      key_id,
                      sig_hex};
  return sl_db_exec(c, "entry_insert", 7, v, NULL);
}

sl_dbrc sl_db_entry_insert_power(sl_dbc *c, int64_t id, int64_t event_id, const char *record_hex,
                                 const char *key_id, const char *sig_hex) {
  char b1[24], b2[24];
  const char *v[5] = {sl_db_i64(b1, id), sl_db_i64(b2, event_id), record_hex, key_id, sig_hex};
  return sl_db_exec(c, "entry_insert_power", 5, v, NULL);
}

static bool power_row(PGresult *r, int k, void *row) {
  sl_db_power_row *p = row;
  p->event_id = sl_db_col_i64(r, k, 0);
  p->action = (int32_t)sl_db_col_i64(r, k, 1);
  p->account_id = sl_db_col_i64(r, k, 2);
  p->actor_id = sl_db_col_i64(r, k, 3);
  p->role = (int32_t)sl_db_col_i64(r, k, 4);
  p->object_id = sl_db_col_i64(r, k, 5);
  snprintf(p->digest_hex, sizeof p->digest_hex, "%s", PQgetvalue(r, k, 6));
  p->at = sl_db_col_i64(r, k, 7);
  return true;
}

sl_dbrc sl_db_power_pending(sl_dbc *c, int limit, sl_db_power_row **rows, size_t *n) {
  char b[24];
  const char *v[1] = {sl_db_i64(b, limit)};
  return sl_db_rows_map(c, "power_pending", 1, v, sizeof **rows, power_row, (void **)rows, n);
}

sl_dbrc sl_db_audit_chain(sl_dbc *c, int limit, int64_t *count, char chain_hex[65],
                          int64_t *signed_count) {
  char b[24];
  const char *v[1] = {sl_db_i64(b, limit)};
  PGresult *r;
  sl_dbrc rc = sl_db_exec(c, "audit_chain", 1, v, &r);
  if (rc != SL_DB_OK) return rc;
  *count = sl_db_col_i64(r, 0, 0);
  snprintf(chain_hex, 65, "%s", PQgetvalue(r, 0, 1));
  PQclear(r);
  if ((rc = sl_db_exec(c, "audit_head_last", 0, NULL, &r)) != SL_DB_OK) return rc;
  *signed_count = sl_db_col_i64(r, 0, 0);
  PQclear(r);
  return SL_DB_OK;
}

sl_dbrc sl_db_entry_insert_head(sl_dbc *c, int64_t id, const char *record_hex, const char *key_id,
                                const char *sig_hex) {
  char b1[24];
  const char *v[4] = {sl_db_i64(b1, id), record_hex, key_id, sig_hex};
  return sl_db_exec(c, "entry_insert_head", 4, v, NULL);
}

sl_dbrc sl_db_seq_lock(sl_dbc *c, bool *got) {
  PGresult *r;
  sl_dbrc rc = sl_db_exec(c, "seq_lock", 0, NULL, &r);
  if (rc != SL_DB_OK) return rc;
  *got = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
  PQclear(r);
  return SL_DB_OK;
}

sl_dbrc sl_db_seq_head(sl_dbc *c, int64_t *size, char chain_hex[65], int64_t *signed_size) {
  PGresult *r;
  sl_dbrc rc = sl_db_exec(c, "seq_head", 0, NULL, &r);
  if (rc != SL_DB_OK) return rc;
  *size = sl_db_col_i64(r, 0, 0);
  snprintf(chain_hex, 65, "%s", PQgetvalue(r, 0, 1));
  *signed_size = sl_db_col_i64(r, 0, 2);
  PQclear(r);
  return SL_DB_OK;
}

sl_dbrc sl_db_seq_pending(sl_dbc *c, int limit, sl_db_entry_row **rows, size_t *n) {
  char b[24];
  const char *v[1] = {sl_db_i64(b, limit)};
  PGresult *r;
  *rows = NULL;
  *n = 0;
  size_t cnt;
  sl_dbrc rc = sl_db_rows(c, "seq_pending", 1, v, sizeof **rows, &r, (void **)rows, &cnt);
  if (rc != SL_DB_OK) return rc;
  for (size_t i = 0; i < cnt; i++) {
    sl_db_entry_row *e = &(*rows)[i];
    e->id = sl_db_col_i64(r, (int)i, 0);
    snprintf(e->record_hex, sizeof e->record_hex, "%s", PQgetvalue(r, (int)i, 1));
    snprintf(e->key_id, sizeof e->key_id, "%s", PQgetvalue(r, (int)i, 2));
    snprintf(e->sig_hex, sizeof e->sig_hex, "%s", PQgetvalue(r, (int)i, 3));
  }
  *n = cnt;
  PQclear(r);
  return SL_DB_OK;
}

sl_dbrc sl_db_seq_assign(sl_dbc *c, const char *ids, const char *indexes, const char *leaf_hexes,
                         const char *chain_hexes) {
  const char *v[4] = {ids, indexes, leaf_hexes, chain_hexes};
  return sl_db_exec(c, "seq_assign", 4, v, NULL);
}

sl_dbrc sl_db_leaves(sl_dbc *c, int64_t from, int64_t to, char **hexes, size_t *n) {
  char b1[24], b2[24];
  const char *v[2] = {sl_db_i64(b1, from), sl_db_i64(b2, to)};
  PGresult *r;
  *hexes = NULL;
  *n = 0;
  sl_dbrc rc = sl_db_exec(c, "leaves_from", 2, v, &r);
  if (rc != SL_DB_OK) return rc;
  size_t cnt = (size_t)PQntuples(r);
  char *buf = malloc(cnt * 64 + 1);
  if (!buf) {
    PQclear(r);
    return SL_DB_HARD;
  }
  for (size_t i = 0; i < cnt; i++) memcpy(buf + i * 64, PQgetvalue(r, (int)i, 0), 64);
  buf[cnt * 64] = '\0';
  PQclear(r);
  *hexes = buf;
  *n = cnt;
  return SL_DB_OK;
}

sl_dbrc sl_db_checkpoint_insert(sl_dbc *c, int64_t size, int64_t prev_size, const char *root_hex,
                                int64_t at, const char *key_id, const char *sig_hex,
                                const char *record_hex) {
  char b1[24], b3[24], b7[24];
  const char *v[7] = {sl_db_i64(b1, size),
                      root_hex,
                      sl_db_i64(b3, at),
                      key_id,
                      sig_hex,
                      record_hex,
                      sl_db_i64_opt(b7, prev_size, 0)}; /* NULL for the first */
  return sl_db_exec(c, "checkpoint_insert", 7, v, NULL);
}

sl_dbrc sl_db_ledger_shape(sl_dbc *c, bool full, sl_db_ledger_shape_row *out) {
  const char *v[1] = {full ? "true" : "false"};
  PGresult *r;
  sl_dbrc rc = sl_db_exec(c, "ledger_shape", 1, v, &r);
  if (rc != SL_DB_OK) return rc;
  out->sequenced = sl_db_col_i64(r, 0, 0);
  out->signed_size = sl_db_col_i64(r, 0, 1);
  out->sequenced_rows = sl_db_col_i64(r, 0, 2);
  out->missing_checkpoint = sl_db_col_i64(r, 0, 3);
  PQclear(r);
  return SL_DB_OK;
}

sl_dbrc sl_db_checkpoints_list(sl_dbc *c, int64_t after, int limit, json_t **out) {
  char b1[24], b2[24];
  const char *v[2] = {sl_db_i64(b1, after), sl_db_i64(b2, limit)};
  return sl_db_json(c, "checkpoints_list", 2, v, out);
}

sl_dbrc sl_db_leaves_list(sl_dbc *c, int64_t from, int limit, int64_t reader, json_t **out) {
  char b1[24], b2[24], b3[24];
  const char *v[3] = {sl_db_i64(b1, from), sl_db_i64(b2, limit), sl_db_i64_opt(b3, reader, 0)};
  return sl_db_json(c, "leaves_list", 3, v, out);
}

sl_dbrc sl_db_checkpoint_get(sl_dbc *c, int64_t size, json_t **out) {
  char b[24];
  const char *v[1] = {sl_db_i64_opt(b, size, -1)};
  return sl_db_json(c, "checkpoint_get", 1, v, out);
}

sl_dbrc sl_db_audit_run_record(sl_dbc *c, int64_t started_at, long findings, const char *by_check) {
  char b1[24], b2[24];
  const char *v[3] = {sl_db_i64(b1, started_at), sl_db_i64(b2, findings), by_check};
  return sl_db_exec(c, "audit_run_insert", 3, v, NULL);
}

sl_dbrc sl_db_audit_run_latest(sl_dbc *c, json_t **out) {
  return sl_db_json(c, "audit_run_latest", 0, NULL, out);
}

sl_dbrc sl_db_checkpoint_covering(sl_dbc *c, int64_t leaf_index, json_t **out) {
  return sl_db_json_id(c, "checkpoint_covering", leaf_index, out);
}

sl_dbrc sl_db_entries_of_trade(sl_dbc *c, int64_t trade, json_t **out) {
  return sl_db_json_id(c, "entries_of_trade", trade, out);
}

sl_dbrc sl_db_entry_get(sl_dbc *c, int64_t id, json_t **out) {
  return sl_db_json_id(c, "entry_get", id, out);
}

sl_dbrc sl_db_key_lock(sl_dbc *c) { return sl_db_exec(c, "key_lock", 0, NULL, NULL); }

sl_dbrc sl_db_entry_ids(sl_dbc *c, int n, int64_t *ids) {
  PGresult *r;
  sl_dbrc rc = sl_db_exec_id(c, "entry_ids", n, &r);
  if (rc != SL_DB_OK) return rc;
  if (PQntuples(r) != n) rc = SL_DB_HARD;
  for (int i = 0; rc == SL_DB_OK && i < n; i++) ids[i] = strtoll(PQgetvalue(r, i, 0), NULL, 10);
  PQclear(r);
  return rc;
}

sl_dbrc sl_db_ledger_waive(sl_dbc *c) { return sl_db_exec(c, "ledger_waive", 0, NULL, NULL); }

sl_dbrc sl_db_witness_insert(sl_dbc *c, const char *name, const char *public_hex,
                             const char *key_id, json_t **out) {
  const char *v[3] = {name, public_hex, key_id};
  return sl_db_json(c, "witness_insert", 3, v, out);
}

sl_dbrc sl_db_witnesses_list(sl_dbc *c, json_t **out) {
  return sl_db_json(c, "witnesses_list", 0, NULL, out);
}

sl_dbrc sl_db_witness_key(sl_dbc *c, const char *name, char public_hex[65]) {
  const char *v[1] = {name};
  PGresult *r;
  sl_dbrc rc = sl_db_exec(c, "witness_key", 1, v, &r);
  if (rc != SL_DB_OK) return rc;
  if (PQntuples(r) == 0) rc = SL_DB_NOROWS;
  else snprintf(public_hex, 65, "%s", PQgetvalue(r, 0, 0));
  PQclear(r);
  return rc;
}

sl_dbrc sl_db_cosignature_insert(sl_dbc *c, int64_t size, const char *witness, int64_t at,
                                 const char *record_hex, const char *sig_hex, bool *inserted) {
  char b1[24], b3[24];
  const char *v[5] = {sl_db_i64(b1, size), witness, sl_db_i64(b3, at), record_hex, sig_hex};
  PGresult *r;
  sl_dbrc rc = sl_db_exec(c, "cosignature_insert", 5, v, &r);
  if (rc != SL_DB_OK) return rc;
  *inserted = PQntuples(r) == 1;
  PQclear(r);
  return SL_DB_OK;
}
