/* auditor.c — the auditor's reads: every ledger entry with what the database says it
 * records (streamed row by row: constant memory whatever the ledger's size), and the
 * journal's own consistency queries. */
#include "suanli/db/ledger_audit.h"
#include "internal.h"
#include <stdlib.h>
#include <string.h>

#define EPOCH(x) "floor(extract(epoch FROM " x "))::bigint"

const sl_db_stmt sl_db_stmts_auditor[] = {
    {"audit_entries",
     "SELECT e.id, e.purpose, coalesce(e.trade_id, 0), coalesce(e.journal_txn_id, 0),"
     " encode(e.record, 'hex'), e.key_id, encode(e.signature, 'hex'), coalesce(e.leaf_index, -1),"
     " coalesce(encode(e.leaf_hash, 'hex'), ''), coalesce(encode(e.chain_hash, 'hex'), ''),"
     " coalesce(t.id, 0), t.order_id, t.tenant_id, t.provider_id, t.pool_id, t.gpus,"
     " " EPOCH("t.start_at") ", " EPOCH(
         "t.end_at") ", t.unit_price_minor, t.total_minor,"
                     " t.fee_bp, " EPOCH(
                         "t.created_at") ","
                                         " coalesce(m.kind, ''), m.trade_id, m.account_id, m.at, "
                                         "m.to_tenant, m.to_provider, m.fee,"
                                         " coalesce(pr.id, 0), " EPOCH("pr.starts_at") ", " EPOCH(
                                             "pr.ends_at") ","
                                                           " coalesce(encode(pr.export_sha256, "
                                                           "'hex'), '')"
                                                           " FROM ledger_entries e LEFT JOIN "
                                                           "periods pr ON pr.ledger_entry = e.id"
                                                           " LEFT JOIN trades t ON e.purpose = 1 "
                                                           "AND t.id = e.trade_id"
                                                           " LEFT JOIN LATERAL (SELECT j.kind, "
                                                           "coalesce(j.trade_id, 0) AS trade_id,"
                                                           "   coalesce(tt.tenant_id, "
                                                           "j.account_id) AS account_id, " EPOCH(
                                                               "j.created_at") " AS at,"
                                                                               "   "
                                                                               "coalesce(sum(p."
                                                                               "amount) FILTER "
                                                                               "(WHERE la.purpose "
                                                                               "= 'available'"
                                                                               "     AND "
                                                                               "la.owner_id = "
                                                                               "coalesce(tt.tenant_"
                                                                               "id, "
                                                                               "j.account_id)), 0) "
                                                                               "AS to_tenant,"
                                                                               "   "
                                                                               "coalesce(sum(p."
                                                                               "amount) FILTER "
                                                                               "(WHERE la.purpose "
                                                                               "= 'available'"
                                                                               "     AND "
                                                                               "la.owner_id = "
                                                                               "tt.provider_id), "
                                                                               "0) AS to_provider,"
                                                                               "   "
                                                                               "coalesce(sum(p."
                                                                               "amount) FILTER "
                                                                               "(WHERE la.purpose "
                                                                               "= 'fees'), 0) AS "
                                                                               "fee"
                                                                               "   FROM "
                                                                               "journal_txns j "
                                                                               "LEFT JOIN trades "
                                                                               "tt ON tt.id = "
                                                                               "j.trade_id"
                                                                               "   LEFT JOIN "
                                                                               "postings p ON "
                                                                               "p.txn_id = j.id"
                                                                               "   LEFT JOIN "
                                                                               "ledger_accounts la "
                                                                               "ON la.id = "
                                                                               "p.ledger_account_id"
                                                                               "   WHERE j.id = "
                                                                               "e.journal_txn_id "
                                                                               "GROUP BY j.id, "
                                                                               "tt.tenant_id, "
                                                                               "tt.provider_id) m "
                                                                               "ON true"
                                                                               " ORDER BY "
                                                                               "e.leaf_index NULLS "
                                                                               "LAST, e.id"},
    {"audit_periods", "SELECT id, " EPOCH("starts_at") ", " EPOCH(
                          "ends_at") ", encode(export_sha256, 'hex'),"
                                     " coalesce(ledger_entry, 0) FROM periods ORDER BY id"},
    {"audit_checkpoints", "SELECT tree_size, encode(root_hash, 'hex'), " EPOCH(
                              "signed_at") ", key_id,"
                                           " encode(signature, 'hex'), encode(record, 'hex') FROM "
                                           "ledger_checkpoints ORDER BY tree_size"},
    /* Each query below returns (table, id, detail) rows: one finding each. */
    {"audit_trades_unsigned",
     "SELECT 'trades', t.id, 'trade has no signed TRADE entry' FROM trades t"
     " WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.purpose = 1 AND e.trade_id = t.id)"
     " ORDER BY t.id"},
    {"audit_txns_unsigned",
     "SELECT 'journal_txns', j.id, 'journal transaction (' || j.kind || ') has no signed entry'"
     " FROM journal_txns j WHERE j.kind <> 'trade'"
     " AND NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.journal_txn_id = j.id) ORDER BY "
     "j.id"},
    {"audit_txns_unbalanced",
     "SELECT 'journal_txns', txn_id, 'postings sum to ' || sum(amount) || ', not 0'"
     " FROM postings GROUP BY txn_id HAVING sum(amount) <> 0 ORDER BY txn_id"},
    {"audit_txns_empty",
     "SELECT 'journal_txns', j.id, 'journal transaction has no postings' FROM journal_txns j"
     " WHERE NOT EXISTS (SELECT 1 FROM postings p WHERE p.txn_id = j.id) ORDER BY j.id"},
    {"audit_balances", "SELECT 'ledger_accounts', la.id, 'stored balance ' || la.balance || ' but "
                       "postings replay to '"
                       " || coalesce(sum(p.amount), 0) FROM ledger_accounts la"
                       " LEFT JOIN postings p ON p.ledger_account_id = la.id GROUP BY la.id"
                       " HAVING la.balance <> coalesce(sum(p.amount), 0) ORDER BY la.id"},
    {"audit_balance_chain",
     "SELECT 'postings', id, 'balance_after ' || balance_after || ' but the running balance is ' "
     "|| running"
     " FROM (SELECT p.id, p.balance_after, sum(p.amount) OVER (PARTITION BY p.ledger_account_id"
     " ORDER BY p.id) AS running FROM postings p) x WHERE running <> balance_after ORDER BY id"},
    {"audit_floors",
     "SELECT 'ledger_accounts', id, 'balance ' || balance || ' below its floor ' || min_balance"
     " FROM ledger_accounts WHERE min_balance IS NOT NULL AND balance < min_balance ORDER BY id"},
    {"audit_trade_totals",
     "SELECT 'trades', id, 'total ' || total_minor || ' is not gpus x hours x unit price'"
     " FROM trades WHERE total_minor <> gpus::bigint * unit_price_minor"
     " * (extract(epoch FROM end_at - start_at)::bigint / 3600) ORDER BY id"},
    {"audit_trade_escrow",
     "SELECT 'trades', t.id, 'escrow postings of the trade move ' || coalesce(x.moved, 0)"
     " || ', not its total ' || t.total_minor FROM trades t LEFT JOIN LATERAL ("
     "  SELECT sum(p.amount) FILTER (WHERE la.purpose = 'escrow') AS moved FROM journal_txns j"
     "  JOIN postings p ON p.txn_id = j.id JOIN ledger_accounts la ON la.id = p.ledger_account_id"
     "  WHERE j.trade_id = t.id AND j.kind = 'trade') x ON true"
     " WHERE coalesce(x.moved, 0) <> t.total_minor ORDER BY t.id"},
    {"audit_refunds",
     "SELECT 'trades', t.id, 'refunded ' || t.refunded_minor || ' but refund postings to the "
     "tenant total '"
     " || coalesce(x.back, 0) FROM trades t LEFT JOIN LATERAL ("
     "  SELECT sum(p.amount) AS back FROM journal_txns j JOIN postings p ON p.txn_id = j.id"
     "  JOIN ledger_accounts la ON la.id = p.ledger_account_id"
     "  WHERE j.trade_id = t.id AND j.kind IN ('refund', 'cancellation') AND la.purpose = "
     "'available'"
     "    AND la.owner_id = t.tenant_id) x ON true"
     " WHERE t.refunded_minor <> coalesce(x.back, 0) ORDER BY t.id"},
    {"audit_posting_parties",
     "SELECT 'postings', p.id, 'posts to account ' || la.owner_id"
     " || ', which is not a party of journal transaction ' || j.id"
     " FROM postings p JOIN journal_txns j ON j.id = p.txn_id"
     " JOIN ledger_accounts la ON la.id = p.ledger_account_id"
     " LEFT JOIN trades t ON t.id = j.trade_id"
     " WHERE la.owner_id IS NOT NULL AND la.owner_id NOT IN (coalesce(t.tenant_id, -1),"
     "   coalesce(t.provider_id, -1), coalesce(j.account_id, -1)) ORDER BY p.id"},
    /* The calendar re-derived from the trades: each pool slot must book exactly the GPUs of
     * the trades that cover it (cancelled trades free their slots; a failed trade frees its
     * slots from the hour it failed, so before the current hour it may or may not count),
     * and no slot may book beyond its capacity. */
    {"audit_calendar",
     "WITH d AS (SELECT t.pool_id, s.slot, sum(t.gpus) FILTER (WHERE t.state <> 'failed') AS live,"
     "   sum(t.gpus) AS upper FROM trades t, generate_series(t.start_at, t.end_at - interval"
     "   '1 hour', interval '1 hour') AS s(slot) WHERE t.state <> 'cancelled'"
     "   GROUP BY t.pool_id, s.slot),"
     " c AS (SELECT coalesce(ps.pool_id, d.pool_id) AS pool_id, coalesce(ps.slot, d.slot) AS slot,"
     "   coalesce(ps.booked, 0) AS booked, coalesce(ps.capacity, p.gpu_count) AS capacity,"
     "   coalesce(d.live, 0) AS live, CASE WHEN coalesce(ps.slot, d.slot) >= date_trunc('hour', "
     "sl_now())"
     "   THEN coalesce(d.live, 0) ELSE coalesce(d.upper, 0) END AS upper"
     "   FROM pool_slots ps FULL JOIN d ON d.pool_id = ps.pool_id AND d.slot = ps.slot"
     "   LEFT JOIN pools p ON p.id = coalesce(ps.pool_id, d.pool_id))"
     " SELECT 'pool_slots', pool_id || '@' || sl_ts(slot), CASE"
     "   WHEN booked > capacity OR live > capacity THEN 'overbooked: the slot books ' || booked"
     "     || ' and its trades ' || live || ' of ' || capacity || ' GPUs'"
     "   ELSE 'the slot books ' || booked || ' GPUs but its trades book ' || live"
     "     || CASE WHEN upper <> live THEN ' (' || upper || ' with failed trades)' ELSE '' END END"
     " FROM c WHERE booked > capacity OR live > capacity OR booked < live OR booked > upper"
     " ORDER BY pool_id, slot"},
    /* Idempotency records against what they point to: a completed record names the request
     * whose reply it stores; that request's audit row (written in the same transaction) must
     * exist for the same account with the same status, and the object a successful reply
     * created or changed must exist and belong to the account. */
    {"audit_idempotency",
     "SELECT 'idempotency_keys', k.account_id || ':' || k.key, CASE"
     "   WHEN a.id IS NULL THEN 'stored reply of request ' || k.request_id || ' has no audit row'"
     "   WHEN a.account_id IS DISTINCT FROM k.account_id THEN 'request ' || k.request_id"
     "     || ' was made by account ' || coalesce(a.account_id::text, 'none')"
     "   WHEN a.status <> k.status THEN 'stored status ' || k.status || ' but request '"
     "     || k.request_id || ' answered ' || a.status"
     "   ELSE 'request ' || k.request_id || ' points to ' || a.object || ', which does not exist"
     " or is not the account''s' END"
     " FROM idempotency_keys k LEFT JOIN LATERAL (SELECT a.id, a.account_id, a.status, a.object"
     "   FROM audit_log a WHERE a.request_id = k.request_id"
     "   AND a.error IS DISTINCT FROM 'idempotent_replay' ORDER BY a.id LIMIT 1) a ON true"
     " WHERE k.state = 'done' AND k.request_id IS NOT NULL AND (a.id IS NULL"
     "   OR a.account_id IS DISTINCT FROM k.account_id OR a.status <> k.status"
     "   OR (k.status < 300 AND a.object ~ '^(order|trade|journal):[0-9]+$' AND NOT EXISTS ("
     "     SELECT 1 WHERE (split_part(a.object, ':', 1) = 'order' AND EXISTS (SELECT 1 FROM orders "
     "o"
     "       WHERE o.id = split_part(a.object, ':', 2)::bigint AND o.tenant_id = k.account_id))"
     "     OR (split_part(a.object, ':', 1) = 'trade' AND EXISTS (SELECT 1 FROM trades t"
     "       WHERE t.id = split_part(a.object, ':', 2)::bigint))"
     "     OR (split_part(a.object, ':', 1) = 'journal' AND EXISTS (SELECT 1 FROM journal_txns j"
     "       WHERE j.id = split_part(a.object, ':', 2)::bigint)))))"
     " ORDER BY k.account_id, k.key"},
    {NULL, NULL},
};

sl_dbrc sl_db_each(sl_dbc *c, const char *name, int n, const char *const *vals,
                   bool (*row)(int ncols, const char *const *cols, const bool *nulls, void *arg),
                   void *arg) {
  if (!c->pg) return SL_DB_DOWN;
  if (!PQsendQueryPrepared(c->pg, name, n, vals, NULL, NULL, 0) || !PQsetSingleRowMode(c->pg)) {
    PQclear(PQgetResult(c->pg));
    return PQstatus(c->pg) == CONNECTION_OK ? SL_DB_HARD : SL_DB_DOWN;
  }
  sl_dbrc rc = SL_DB_OK;
  bool go = true;
  PGresult *r;
  while ((r = PQgetResult(c->pg)) != NULL) {
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_SINGLE_TUPLE && go) {
      int nc = PQnfields(r);
      const char *cols[48];
      bool nulls[48];
      for (int i = 0; i < nc && i < 48; i++) {
        cols[i] = PQgetvalue(r, 0, i);
        nulls[i] = PQgetisnull(r, 0, i);
      }
      go = row(nc < 48 ? nc : 48, cols, nulls, arg);
    } else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && rc == SL_DB_OK) {
      rc = PQstatus(c->pg) == CONNECTION_OK ? SL_DB_HARD : SL_DB_DOWN;
    }
    PQclear(r);
  }
  return rc;
}
