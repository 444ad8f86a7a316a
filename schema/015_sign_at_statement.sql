-- 015_sign_at_statement.sql — what a transaction signs is declared in SQL, and the signer reads
-- exactly that.
--
-- Money moves only through journal transactions (journal_txns and their postings), and each
-- money-moving procedure names the kind of its journal transaction in its INSERT: sl_trade
-- 'trade', sl_settle 'settlement', sl_cancel_trade 'cancellation', sl_refund 'refund',
-- sl_deposit 'deposit', sl_withdraw 'withdrawal'.  Each kind's ledger purpose (api/SIGNING.md,
-- include/suanli/ledger/records.h) is declared once, in journal_kind_purposes below; the
-- insert trigger reads it and queues one item to sign in ledger_to_sign, in the same
-- transaction.  Just before COMMIT the transaction runner (src/db/conn.c) sees that items are
-- queued and calls the signer the ledger registered (src/ledger/sequencer.c), which deletes
-- and signs exactly this transaction's items (src/db/ledger.c, "to_sign").
--
-- A journal kind with no declared purpose cannot be written at all (never skipped), and the
-- deferred constraints of schema/007 still refuse to commit a trade or money movement without
-- its signed ledger entry.  Replaces 007's transaction-local flags (suanli.sign_trades,
-- suanli.sign_money) and the signer's lookup by created_at = now().

-- The signed purpose of every journal kind (the registry names each purpose after its kind).
-- 'trade' is a trade's escrow: it is signed as the TRADE record of its trade (the trades row),
-- the other kinds as money events of their own.  A new kind needs its row here (and its purpose
-- in the registry) before it can be written.
CREATE TABLE journal_kind_purposes (
  kind     text PRIMARY KEY,
  purpose  integer NOT NULL UNIQUE CHECK (purpose BETWEEN 1 AND 6)  -- as ledger_entries
);
INSERT INTO journal_kind_purposes(kind, purpose) VALUES
  ('trade', 1), ('cancellation', 2), ('settlement', 3), ('refund', 4), ('deposit', 5),
  ('withdrawal', 6);

-- Items to sign, written and deleted by the same transaction: the signer takes them, or suanlid
-- with SUANLI_LEDGER=off drops them as it waives signing (src/db/ledger.c, "ledger_waive"), and a
-- rolled-back transaction never wrote them; so the table holds only the open transactions'
-- items.  (Whoever sets suanli.unsigned_ok by hand deletes the transaction's items too.)
CREATE TABLE ledger_to_sign (
  txid            bigint NOT NULL DEFAULT txid_current(),
  purpose         integer NOT NULL,  -- from journal_kind_purposes (no foreign key: no row locks)
  trade_id        bigint,   -- TRADE: the trade; money events: their trade (NULL: none)
  journal_txn_id  bigint NOT NULL
);
CREATE INDEX ledger_to_sign_txid ON ledger_to_sign(txid);

CREATE FUNCTION sl_queue_to_sign() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE v_purpose integer;
BEGIN
  SELECT purpose INTO v_purpose FROM journal_kind_purposes WHERE kind = NEW.kind;
  IF v_purpose IS NULL THEN
    RAISE EXCEPTION 'journal kind % has no ledger purpose (declare it in journal_kind_purposes)',
      NEW.kind USING ERRCODE = 'integrity_constraint_violation',
                     CONSTRAINT = 'ledger_purpose_required';
  END IF;
  INSERT INTO ledger_to_sign(purpose, trade_id, journal_txn_id)
    VALUES (v_purpose, NEW.trade_id, NEW.id);
  RETURN NULL;
END $$;
CREATE TRIGGER journal_txns_queue_to_sign AFTER INSERT ON journal_txns
  FOR EACH ROW EXECUTE FUNCTION sl_queue_to_sign();

-- 007's flags are no longer read.
DROP TRIGGER trades_to_sign ON trades;
DROP TRIGGER journal_txns_to_sign ON journal_txns;
DROP FUNCTION sl_mark_to_sign();
