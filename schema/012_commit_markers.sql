-- 012_commit_markers.sql — knowing whether a transaction whose COMMIT reply was lost is in the
-- database's history, also after a failover.
--
-- txid_status() alone is not enough there: a standby promoted after the primary died goes on
-- from its own transaction counter, so the id of a transaction that committed only on the lost
-- primary (never acknowledged) can be handed out again to someone else's transaction, and
-- txid_status() then says "committed" for it.  So every write transaction of suanlid also
-- records, just before COMMIT, (its session, a nonce) in its session's one row here; the fate
-- of a transaction is "committed" only when its own marker is visible.
CREATE TABLE txn_commits (
  session bigint PRIMARY KEY,          -- random per database session of a suanlid process
  nonce   bigint NOT NULL,             -- the session's commit counter
  at      timestamptz NOT NULL DEFAULT now()
);

-- 'committed' | 'aborted' | 'in progress' for the transaction p_xid of session p_session that
-- carried nonce p_nonce.  Order matters: the transaction must be finished and visible to a
-- snapshot taken before the marker is looked for, so a transaction still waiting for its
-- synchronous standby is "in progress", never "aborted".
CREATE FUNCTION sl_commit_outcome(p_session bigint, p_nonce bigint, p_xid bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  st text;
BEGIN
  BEGIN
    st := txid_status(p_xid);
  EXCEPTION WHEN invalid_parameter_value THEN
    RETURN 'aborted';  -- an id this server never handed out: another history (a failover)
  END;
  IF st IS NULL OR st = 'aborted' THEN
    RETURN 'aborted';
  END IF;
  IF st = 'in progress' OR NOT txid_visible_in_snapshot(p_xid, txid_current_snapshot()) THEN
    RETURN 'in progress';
  END IF;
  IF EXISTS (SELECT 1 FROM txn_commits WHERE session = p_session AND nonce = p_nonce) THEN
    RETURN 'committed';
  END IF;
  RETURN 'aborted';  -- a committed transaction with this id, but not ours
END $$;
