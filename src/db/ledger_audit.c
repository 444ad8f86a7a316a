/* auditor.c — the auditor's reads: every ledger entry with what the database says it
 * records (streamed row by row: constant memory whatever the ledger's size), and the
 * journal's own consistency queries. */
#include "suanli/db/ledger_audit.h"
#include "internal.h"
#include <stdlib.h>
#include <string.h>

const sl_db_stmt sl_db_stmts_auditor[] = {
    /* every entry with what the database says it records: the trade (TRADE), the journal
     * transaction and its postings (money events), the period (PERIOD_CLOSE), the power event
     * (POWER), the audit log's row (AUDIT_HEAD) — each found by the id its signed record names
     * (record bytes at the offsets of api/SIGNING.md), so that an edited id column is reported
     * as that, not as a changed row */
    {"audit_entries",
     "SELECT e.id, e.purpose, coalesce(e.trade_id, 0), coalesce(e.journal_txn_id, 0),"
     " encode(e.record, 'hex'), e.key_id, encode(e.signature, 'hex'), coalesce(e.leaf_index, -1),"
     " coalesce(encode(e.leaf_hash, 'hex'), ''), coalesce(encode(e.chain_hash, 'hex'), ''),"
     " coalesce(t.id, 0), t.order_id, t.tenant_id, t.provider_id, t.pool_id, t.gpus,"
     " floor(extract(epoch FROM t.start_at))::bigint, floor(extract(epoch FROM t.end_at))::bigint,"
     " t.unit_price_minor, t.total_minor, t.fee_bp, floor(extract(epoch FROM "
     "t.created_at))::bigint,"
     " coalesce(m.kind, ''), m.trade_id, m.account_id, m.at, m.to_tenant, m.to_provider, m.fee,"
     " coalesce(pr.id, 0), floor(extract(epoch FROM pr.starts_at))::bigint,"
     " floor(extract(epoch FROM pr.ends_at))::bigint, coalesce(encode(pr.export_sha256, 'hex'), "
     "''),"
     " coalesce(e.power_event_id, 0), coalesce(pe.id, 0), pe.action, pe.account_id, pe.actor_id,"
     " pe.role, pe.object_id, encode(pe.digest, 'hex'), floor(extract(epoch FROM pe.at))::bigint,"
     " ah.chain, ah.id"
     " FROM ledger_entries e LEFT JOIN periods pr ON pr.ledger_entry = e.id"
     " LEFT JOIN trades t ON e.purpose = 1 AND length(e.record) = 104"
     "   AND t.id = sl_power_u64(e.record, 16)"
     " LEFT JOIN power_events pe ON e.purpose = 10 AND length(e.record) = 96"
     "   AND pe.id = sl_power_u64(e.record, 16)"
     " LEFT JOIN LATERAL (SELECT encode(l.chain, 'hex') AS chain, l.id FROM audit_log l"
     "   WHERE e.purpose = 11 AND length(e.record) = 64"
     "   AND l.seq = sl_power_u64(e.record, 16) - 1) ah ON true"
     " LEFT JOIN LATERAL (SELECT j.kind, coalesce(j.trade_id, 0) AS trade_id,"
     "   coalesce(tt.tenant_id, j.account_id) AS account_id,"
     "   floor(extract(epoch FROM j.created_at))::bigint AS at,"
     "   coalesce(sum(p.amount) FILTER (WHERE la.purpose = 'available'"
     "     AND la.owner_id = coalesce(tt.tenant_id, j.account_id)), 0) AS to_tenant,"
     "   coalesce(sum(p.amount) FILTER (WHERE la.purpose = 'available'"
     "     AND la.owner_id = tt.provider_id), 0) AS to_provider,"
     "   coalesce(sum(p.amount) FILTER (WHERE la.purpose = 'fees'), 0) AS fee"
     "   FROM journal_txns j LEFT JOIN trades tt ON tt.id = j.trade_id"
     "   LEFT JOIN postings p ON p.txn_id = j.id"
     "   LEFT JOIN ledger_accounts la ON la.id = p.ledger_account_id"
     "   WHERE e.purpose BETWEEN 2 AND 6 AND length(e.record) = 72"
     "     AND j.id = sl_power_u64(e.record, 32)"
     "   GROUP BY j.id, tt.tenant_id, tt.provider_id) m ON true"
     " ORDER BY e.leaf_index NULLS LAST, e.id"},
    {"audit_periods", "SELECT id, floor(extract(epoch FROM starts_at))::bigint,"
                      " floor(extract(epoch FROM ends_at))::bigint, encode(export_sha256, 'hex'),"
                      " coalesce(ledger_entry, 0) FROM periods ORDER BY id"},
    {"audit_checkpoints",
     "SELECT tree_size, encode(root_hash, 'hex'), floor(extract(epoch FROM signed_at))::bigint,"
     " key_id, encode(signature, 'hex'), encode(record, 'hex'), prev_size"
     " FROM ledger_checkpoints ORDER BY tree_size"},
    /* the audit log in chain order (schema/023): position, id, the row's hash (recomputed
     * from the row as it is now) and its stored chain value */
    {"audit_log_chain",
     "SELECT l.seq, l.id, encode(sl_audit_row_hash(l), 'hex'), encode(l.chain, 'hex')"
     " FROM audit_log l WHERE l.seq IS NOT NULL ORDER BY l.seq"},
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
    /* Each query below returns (table, id, detail, expected, actual): one finding each. */
    /* A trade's state and fee against its journal: a settlement journal transaction makes it
     * settled, a cancellation cancelled, neither booked or failed (a failed trade is refunded
     * in full); the fee is the fee postings of its settlement or cancellation, 0 when it
     * failed, and the fee rate's share of the total while it is booked.  The journal
     * transactions are themselves checked against their signed entries above. */
    {"audit_trade_state",
     "WITH x AS (SELECT t.*, (SELECT count(*) FROM journal_txns j WHERE j.trade_id = t.id"
     "   AND j.kind = 'settlement') AS n_settle, (SELECT count(*) FROM journal_txns j"
     "   WHERE j.trade_id = t.id AND j.kind = 'cancellation') AS n_cancel,"
     "  (SELECT coalesce(sum(p.amount), 0) FROM journal_txns j JOIN postings p ON p.txn_id = j.id"
     "   JOIN ledger_accounts la ON la.id = p.ledger_account_id WHERE j.trade_id = t.id"
     "   AND j.kind IN ('settlement', 'cancellation') AND la.purpose = 'fees') AS fee_posted"
     "  FROM trades t),"
     " y AS (SELECT x.*, CASE WHEN n_settle + n_cancel > 1 THEN 'one settlement or cancellation'"
     "   WHEN n_settle = 1 THEN 'settled' WHEN n_cancel = 1 THEN 'cancelled'"
     "   WHEN state = 'failed' AND refunded_minor = total_minor THEN 'failed'"
     "   ELSE 'booked' END AS want_state,"
     "  CASE state WHEN 'settled' THEN fee_posted WHEN 'cancelled' THEN fee_posted"
     "   WHEN 'failed' THEN 0 ELSE (total_minor * fee_bp + 5000) / 10000 END AS want_fee FROM x),"
     " z AS (SELECT y.*, want_state <> state AS bad_state, (settled_at IS NULL) = (state ="
     "   'settled') OR (cancelled_at IS NULL) = (state = 'cancelled') AS bad_time FROM y)"
     " SELECT 'trades', id, CASE WHEN bad_state THEN 'state ' || state || ' but its journal says '"
     "   || want_state || ' (' || n_settle || ' settlement, ' || n_cancel || ' cancellation,"
     " refunded ' || refunded_minor || ' of ' || total_minor || ')'"
     "  WHEN bad_time THEN 'settled_at or cancelled_at does not match state ' || state"
     "  ELSE 'fee ' || fee_minor || ' but the ' || state || ' trade''s fee is ' || want_fee END,"
     " CASE WHEN bad_state THEN want_state WHEN bad_time THEN NULL ELSE want_fee::text END,"
     " CASE WHEN bad_state THEN state WHEN bad_time THEN NULL ELSE fee_minor::text END"
     " FROM z WHERE bad_state OR bad_time OR fee_minor <> want_fee ORDER BY id"},
    /* A reservation against its trade (booked: pending, dispatched or active; settled:
     * completed; cancelled and failed: the same) and against its own last event. */
    {"audit_reservations",
     "SELECT 'reservations', r.id, CASE WHEN r.pool_id <> t.pool_id THEN 'on pool ' || r.pool_id"
     "   || ' but its trade ' || t.id || ' is on pool ' || t.pool_id"
     "  WHEN ev.to_state IS DISTINCT FROM r.state THEN 'state ' || r.state || ' but its last"
     " event says ' || coalesce(ev.to_state, 'nothing')"
     "  ELSE 'state ' || r.state || ' but its trade ' || t.id || ' is ' || t.state END,"
     " CASE WHEN r.pool_id <> t.pool_id THEN t.pool_id::text"
     "  WHEN ev.to_state IS DISTINCT FROM r.state THEN ev.to_state"
     "  ELSE CASE t.state WHEN 'booked' THEN 'pending, dispatched or active' WHEN 'settled'"
     "   THEN 'completed' ELSE t.state END END,"
     " CASE WHEN r.pool_id <> t.pool_id THEN r.pool_id::text ELSE r.state END"
     " FROM reservations r JOIN trades t ON t.id = r.trade_id"
     " LEFT JOIN LATERAL (SELECT e.to_state FROM reservation_events e"
     "   WHERE e.reservation_id = r.id ORDER BY e.id DESC LIMIT 1) ev ON true"
     " WHERE r.pool_id <> t.pool_id OR ev.to_state IS DISTINCT FROM r.state OR NOT CASE t.state"
     "   WHEN 'booked' THEN r.state IN ('pending', 'dispatched', 'active')"
     "   WHEN 'settled' THEN r.state = 'completed' ELSE r.state = t.state END ORDER BY r.id"},
    /* Power (schema/023): every account's role, token and operator region as its signed
     * history says (power_history: a signed event's fields from its record bytes). */
    {"audit_power_accounts",
     "SELECT 'accounts', a.id, CASE WHEN h.role IS NULL THEN 'no recorded creation: the account"
     " has no power event' ELSE 'kind ' || a.kind || ' but its signed history of power says '"
     "   || h.role END, coalesce(h.role, 'a power event'), a.kind"
     " FROM accounts a CROSS JOIN LATERAL (SELECT sl_power_role(a.id) AS role) h"
     " WHERE h.role IS DISTINCT FROM a.kind ORDER BY a.id"},
    {"audit_power_tokens",
     "WITH x AS (SELECT t.id, t.account_id, t.token_hash, t.revoked_at,"
     "   sha256(convert_to(array_to_string(t.scopes, ','), 'UTF8')) AS scopes_digest,"
     "   array_to_string(t.scopes, ',') AS scopes, i.account_id AS i_account, i.digest AS i_hash,"
     "   rv.id AS rv_id, coalesce(sc.digest, sha256(convert_to('', 'UTF8'))) AS sc_digest"
     "  FROM api_tokens t"
     "  LEFT JOIN LATERAL (SELECT h.* FROM power_history h WHERE h.id IN (SELECT id FROM"
     "   power_events WHERE object_id = t.id AND action = 5) AND h.action = 5"
     "   AND h.object_id = t.id ORDER BY h.id LIMIT 1) i ON true"
     "  LEFT JOIN LATERAL (SELECT h.id FROM power_history h WHERE h.id IN (SELECT id FROM"
     "   power_events WHERE object_id = t.id AND action = 6) AND h.action = 6"
     "   AND h.object_id = t.id ORDER BY h.id LIMIT 1) rv ON true"
     "  LEFT JOIN LATERAL (SELECT h.digest FROM power_history h WHERE h.id IN (SELECT id FROM"
     "   power_events WHERE object_id = t.id AND action = 7) AND h.action = 7"
     "   AND h.object_id = t.id ORDER BY h.id DESC LIMIT 1) sc ON true)"
     " SELECT 'api_tokens', id, CASE WHEN i_account IS NULL THEN 'no signed TOKEN_ISSUED'"
     "  WHEN i_account <> account_id THEN 'account_id: issued to account ' || i_account"
     "  WHEN i_hash <> token_hash THEN 'token_hash: not the hash the token was issued with'"
     "  WHEN (rv_id IS NULL) <> (revoked_at IS NULL) THEN CASE WHEN rv_id IS NULL THEN"
     "   'revoked_at set without a signed TOKEN_REVOKED' ELSE 'revoked by power event '"
     "   || rv_id || ' but the row is live' END"
     "  ELSE 'scopes (' || scopes || ') are not the last signed scopes' END,"
     " CASE WHEN i_account IS NULL THEN 'a TOKEN_ISSUED entry' WHEN i_account <> account_id THEN"
     "  i_account::text WHEN i_hash <> token_hash THEN encode(i_hash, 'hex')"
     "  WHEN (rv_id IS NULL) <> (revoked_at IS NULL) THEN CASE WHEN rv_id IS NULL THEN 'live'"
     "  ELSE 'revoked' END ELSE encode(sc_digest, 'hex') END,"
     " CASE WHEN i_account IS NULL THEN 'none' WHEN i_account <> account_id THEN"
     "  account_id::text WHEN i_hash <> token_hash THEN encode(token_hash, 'hex')"
     "  WHEN (rv_id IS NULL) <> (revoked_at IS NULL) THEN CASE WHEN rv_id IS NULL THEN 'revoked'"
     "  ELSE 'live' END ELSE encode(scopes_digest, 'hex') END"
     " FROM x WHERE i_account IS NULL OR i_account <> account_id OR i_hash <> token_hash"
     "  OR (rv_id IS NULL) <> (revoked_at IS NULL) OR sc_digest <> scopes_digest ORDER BY id"},
    {"audit_power_regions",
     "WITH g AS (SELECT h.account_id, pe.detail AS region, h.action, h.digest,"
     "   row_number() OVER (PARTITION BY h.account_id, pe.detail ORDER BY h.id DESC) AS rn"
     "  FROM power_history h JOIN power_events pe ON pe.id = h.id WHERE h.action IN (3, 4)),"
     " l AS (SELECT account_id, region FROM g WHERE rn = 1 AND action = 3"
     "   AND digest = sha256(convert_to(region, 'UTF8')))"
     " SELECT 'operator_regions', coalesce(o.account_id, l.account_id) || ':'"
     "   || coalesce(o.region, l.region), CASE WHEN o.account_id IS NULL THEN 'granted by the"
     " signed history but the row is missing' ELSE 'no signed REGION_GRANTED for this row' END,"
     " CASE WHEN o.account_id IS NULL THEN 'granted' ELSE 'not granted' END,"
     " CASE WHEN o.account_id IS NULL THEN 'missing' ELSE 'present' END"
     " FROM operator_regions o FULL JOIN l ON l.account_id = o.account_id AND l.region = o.region"
     " WHERE o.account_id IS NULL OR l.account_id IS NULL ORDER BY 2"},
    /* Money moved through the API names its actor and the grant of the actor's role: a
     * movement of another account's money (every deposit) needs a signed grant of the admin
     * role to the actor (schema/023). */
    {"audit_money_grants",
     "SELECT 'journal_txns', j.id, CASE WHEN j.grant_event IS NULL THEN j.kind || ' by account '"
     "   || j.actor_id || ' names no grant' WHEN h.id IS NULL OR h.account_id <> j.actor_id THEN"
     "   j.kind || ' names power event ' || j.grant_event || ', not a grant to its actor '"
     "   || j.actor_id WHEN h.entry_id IS NULL THEN j.kind || ' names the unsigned power event '"
     "   || j.grant_event ELSE j.kind || ' of account ' || j.account_id || ' by account '"
     "   || j.actor_id || ', whose grant makes it ' || coalesce(sl_power_role_kind(h.role), '?')"
     "   END, 'a signed grant of admin to account ' || j.actor_id,"
     " coalesce(j.grant_event::text, 'none')"
     " FROM journal_txns j LEFT JOIN power_history h ON h.id = j.grant_event"
     " WHERE j.actor_id IS NOT NULL AND j.kind IN ('deposit', 'withdrawal')"
     "   AND (j.actor_id <> j.account_id OR j.kind = 'deposit')"
     "   AND (j.grant_event IS NULL OR h.id IS NULL OR h.account_id <> j.actor_id"
     "     OR h.role <> 1 OR h.action NOT IN (1, 2) OR (h.entry_id IS NULL"
     "     AND j.created_at < now() - interval '10 minutes'))"
     " ORDER BY j.id"},
    /* the sequencer signs power events within seconds; one left unsigned is reported after
     * ten minutes (the database's own clock) */
    {"audit_power_unsigned",
     "SELECT 'power_events', pe.id, 'power event not signed after ten minutes', 'a POWER entry',"
     " 'none' FROM power_events pe WHERE pe.at < now() - interval '10 minutes'"
     " AND NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.power_event_id = pe.id)"
     " ORDER BY pe.id"},
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
