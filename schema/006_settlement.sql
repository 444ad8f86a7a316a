-- 006_settlement: accounting periods and their statements.  A period is a half-open UTC
-- interval [starts_at, ends_at); activity belongs to the period of its journal transaction's
-- time.  Periods never overlap and are closed once; closing records the SHA-256 of the
-- period's canonical export (all accounts) and signs it into the ledger (purpose 9), so a
-- statement of a closed period can never change unnoticed.

CREATE TABLE periods (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  starts_at     timestamptz NOT NULL,
  ends_at       timestamptz NOT NULL,
  closed_at     timestamptz NOT NULL DEFAULT now(),
  closed_by     bigint REFERENCES accounts(id),
  export_sha256 bytea NOT NULL CHECK (length(export_sha256) = 32),
  ledger_entry  bigint,
  CHECK (starts_at < ends_at),
  CONSTRAINT periods_no_overlap EXCLUDE USING gist (tstzrange(starts_at, ends_at) WITH &&)
);
CREATE TRIGGER periods_append_only BEFORE UPDATE OR DELETE ON periods
  FOR EACH ROW WHEN (OLD.ledger_entry IS NOT NULL) EXECUTE FUNCTION sl_append_only();

ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_purpose_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_purpose_check CHECK (purpose BETWEEN 1 AND 9);
CREATE INDEX postings_txn_account ON postings(txn_id, ledger_account_id);

-- The journal lines of a period [p_from, p_to): one row per (account, journal transaction)
-- with the change to that account's available and escrow balances, the platform fee the
-- transaction credited to the exchange, and the trade it belongs to; p_owner NULL = every
-- account, 0 = the exchange's own accounts (fees, and the outside world's counter-entries).
-- Ordered by account, then transaction: the canonical order of every export.
CREATE FUNCTION sl_period_lines(p_owner bigint, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (account_id bigint, account_kind text, txn_id bigint, at timestamptz, kind text,
               trade_id bigint, pool_id bigint, region text, gpu_hours bigint,
               available bigint, escrow bigint, fee bigint, memo text)
LANGUAGE sql STABLE AS $$
  SELECT coalesce(la.owner_id, 0), coalesce(min(a.kind), 'exchange'), j.id, j.created_at, j.kind,
         j.trade_id, t.pool_id, t.region,
         CASE WHEN j.kind = 'settlement' THEN (t.total_minor - t.refunded_minor) / t.unit_price_minor END,
         coalesce(sum(p.amount) FILTER (WHERE la.purpose <> 'escrow'), 0),
         coalesce(sum(p.amount) FILTER (WHERE la.purpose = 'escrow'), 0),
         coalesce(min(f.fee), 0),
         j.memo
    FROM journal_txns j
    JOIN postings p ON p.txn_id = j.id
    JOIN ledger_accounts la ON la.id = p.ledger_account_id
    LEFT JOIN accounts a ON a.id = la.owner_id
    LEFT JOIN trades t ON t.id = j.trade_id
    LEFT JOIN (SELECT p3.txn_id, sum(p3.amount) AS fee FROM postings p3
               JOIN ledger_accounts l3 ON l3.id = p3.ledger_account_id AND l3.purpose = 'fees'
               GROUP BY p3.txn_id) f ON f.txn_id = j.id
   WHERE j.created_at >= p_from AND j.created_at < p_to
     AND (p_owner IS NULL OR coalesce(la.owner_id, 0) = p_owner)
   GROUP BY coalesce(la.owner_id, 0), j.id, t.pool_id, t.region, t.total_minor,
            t.refunded_minor, t.unit_price_minor
   ORDER BY 1, 3
$$;

-- Balances of an account's available and escrow at an instant (sum of earlier postings).
CREATE FUNCTION sl_balances_at(p_owner bigint, p_at timestamptz,
                               OUT available bigint, OUT escrow bigint)
LANGUAGE sql STABLE AS $$
  SELECT coalesce(sum(p.amount) FILTER (WHERE la.purpose <> 'escrow'), 0),
         coalesce(sum(p.amount) FILTER (WHERE la.purpose = 'escrow'), 0)
    FROM postings p JOIN journal_txns j ON j.id = p.txn_id
    JOIN ledger_accounts la ON la.id = p.ledger_account_id
   WHERE coalesce(la.owner_id, 0) = p_owner AND j.created_at < p_at
$$;
