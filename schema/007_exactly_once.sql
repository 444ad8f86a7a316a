-- 007_exactly_once: fenced idempotency claims, and signing enforced by the journal itself.
--
-- Idempotency claims.  A claim carries a random token; the request that holds it locks its
-- row (FOR UPDATE) for the whole of its business transaction and completes it only while the
-- token is still its own, so a claim can be taken over only while nobody executes under it
-- (see src/http/README.md, "Idempotency").  request_id names the request whose committed
-- reply the record stores; the auditor checks it against that request's audit row.
ALTER TABLE idempotency_keys ADD COLUMN claim_token text;
ALTER TABLE idempotency_keys ADD COLUMN request_id text;
CREATE INDEX audit_log_request ON audit_log(request_id);

-- Signing.  Every trade and every journal transaction other than a trade's own escrow marks
-- its transaction as holding something to sign (transaction-local settings, read by the
-- transaction runner just before COMMIT: src/db/conn.c), and a deferred constraint refuses to
-- commit the transaction unless each of them has its signed ledger entry.  No list of
-- statement names decides what is signed: a new money-moving statement or procedure cannot
-- commit unsigned.  The only way round it is the explicit, transaction-local
-- suanli.unsigned_ok = 'on', set by suanlid when it runs with SUANLI_LEDGER=off (a benchmark
-- mode); bench/export_gen.sql writes as session_replication_role = replica (no triggers).
CREATE FUNCTION sl_mark_to_sign() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'trades' THEN
    PERFORM set_config('suanli.sign_trades', '1', true);
  ELSE
    PERFORM set_config('suanli.sign_money', '1', true);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER trades_to_sign AFTER INSERT ON trades
  FOR EACH ROW EXECUTE FUNCTION sl_mark_to_sign();
CREATE TRIGGER journal_txns_to_sign AFTER INSERT ON journal_txns
  FOR EACH ROW WHEN (NEW.kind <> 'trade') EXECUTE FUNCTION sl_mark_to_sign();

CREATE FUNCTION sl_require_signed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF coalesce(current_setting('suanli.unsigned_ok', true), '') = 'on' THEN RETURN NULL; END IF;
  IF TG_TABLE_NAME = 'trades' THEN
    IF NOT EXISTS (SELECT 1 FROM ledger_entries WHERE purpose = 1 AND trade_id = NEW.id) THEN
      RAISE EXCEPTION 'trade % has no signed ledger entry', NEW.id
        USING ERRCODE = 'integrity_constraint_violation', CONSTRAINT = 'ledger_entry_required';
    END IF;
  ELSIF NOT EXISTS (SELECT 1 FROM ledger_entries WHERE journal_txn_id = NEW.id) THEN
    RAISE EXCEPTION 'journal transaction % (%) has no signed ledger entry', NEW.id, NEW.kind
      USING ERRCODE = 'integrity_constraint_violation', CONSTRAINT = 'ledger_entry_required';
  END IF;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER trades_signed AFTER INSERT ON trades
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION sl_require_signed();
CREATE CONSTRAINT TRIGGER journal_txns_signed AFTER INSERT ON journal_txns
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.kind <> 'trade')
  EXECUTE FUNCTION sl_require_signed();
