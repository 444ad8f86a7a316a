-- 023_power_ledger.sql — power on the ledger, checkpoints without gaps, failed trades' fees
-- (issue 18).
--
-- 1. A failed trade was never delivered and never charged: its fee is 0 (the refund entry
--    already signs fee 0).  sl_fail_trade is restated from schema/014 with fee_minor = 0, and
--    the failed trades recorded before this migration are corrected.
-- 2. Each checkpoint names the tree size of the checkpoint before it (prev_size), so the
--    auditor finds a deleted checkpoint in the middle of the list; a deleted latest one is
--    found because the sequencer writes a checkpoint in the transaction that extends the tree.
-- 3. Power is on the ledger (api/SIGNING.md, purpose 10 POWER): every change of who may do
--    what — an account created, its role changed, an operator region granted or revoked, a
--    token issued, revoked or re-scoped — is written by the triggers below as one row of the
--    append-only power_events, and the sequencer signs each such row as a POWER ledger entry
--    (src/ledger/sequencer.c, "power"), leaf of the tree like every other entry.  The server
--    honours an account's role and a token only as the history says (sl_power_role,
--    sl_power_token_ok; src/db/accounts.c "token_lookup"), and `suanlid audit` reconciles
--    accounts, operator_regions and api_tokens with it.

-- ---------------------------------------------------------------- 1. failed trades' fees

CREATE OR REPLACE FUNCTION sl_fail_trade(p_trade bigint, p_cause text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE t trades%ROWTYPE; v_txn bigint;
BEGIN
  SELECT * INTO t FROM trades WHERE id = p_trade FOR UPDATE;
  IF NOT FOUND OR t.state <> 'booked' THEN RETURN NULL; END IF;
  PERFORM sl_unbook(t.pool_id, greatest(t.start_at, date_trunc('hour', sl_now())), t.end_at, t.gpus);
  v_txn := sl_refund(t.id, t.total_minor, p_cause);
  -- never delivered, never charged: no fee (the refund's signed entry says fee 0 too)
  UPDATE trades SET state = 'failed', fee_minor = 0 WHERE id = t.id;
  PERFORM set_config('suanli.cause', p_cause, true);
  UPDATE reservations SET state = 'failed', cause = p_cause, updated_at = sl_now() WHERE trade_id = t.id;
  PERFORM set_config('suanli.cause', '', true);
  RETURN v_txn;
END $$;

UPDATE trades SET fee_minor = 0 WHERE state = 'failed' AND fee_minor <> 0;

-- ---------------------------------------------------------------- 2. checkpoints in a row

ALTER TABLE ledger_checkpoints ADD COLUMN IF NOT EXISTS prev_size bigint
  CHECK (prev_size >= 0 AND prev_size < tree_size);
ALTER TABLE ledger_checkpoints DISABLE TRIGGER ledger_checkpoints_append_only;
UPDATE ledger_checkpoints c SET prev_size = p.prev
  FROM (SELECT tree_size, lag(tree_size) OVER (ORDER BY tree_size) AS prev FROM ledger_checkpoints) p
 WHERE p.tree_size = c.tree_size AND p.prev IS NOT NULL;
ALTER TABLE ledger_checkpoints ENABLE TRIGGER ledger_checkpoints_append_only;

-- ---------------------------------------------------------------- 3. power on the ledger

-- Roles as POWER records carry them: the account kinds of api/vocab.def, in its order.
CREATE FUNCTION sl_power_role_code(p_kind text) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE p_kind WHEN 'admin' THEN 1 WHEN 'provider' THEN 2 WHEN 'tenant' THEN 3
                     WHEN 'operator' THEN 4 END $$;
CREATE FUNCTION sl_power_role_kind(p_code integer) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT (ARRAY['admin', 'provider', 'tenant', 'operator'])[p_code] $$;

-- One change of power.  action: 1 account created, 2 role changed, 3 region granted,
-- 4 region revoked, 5 token issued, 6 token revoked, 7 token scopes set (api/SIGNING.md).
-- actor_id: the account whose request made the change (suanli.actor, set by the server), 0
-- when it was not made through the API (bootstrap, seeds, this migration).  digest: the
-- token's stored hash (5), SHA-256 of the region code (3, 4) or of the scopes joined by ','
-- (7); 32 zero bytes otherwise.  detail: the region or the scopes, in clear.
CREATE TABLE power_events (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  action      integer NOT NULL CHECK (action BETWEEN 1 AND 7),
  account_id  bigint NOT NULL REFERENCES accounts(id),
  actor_id    bigint NOT NULL DEFAULT 0 CHECK (actor_id >= 0),
  role        integer NOT NULL DEFAULT 0 CHECK (role BETWEEN 0 AND 4),
  object_id   bigint NOT NULL DEFAULT 0 CHECK (object_id >= 0),
  digest      bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000'
              CHECK (length(digest) = 32),
  detail      text NOT NULL DEFAULT '',
  at          timestamptz NOT NULL DEFAULT sl_now(),
  CHECK ((role <> 0) = (action IN (1, 2)) AND (object_id <> 0) = (action >= 5))
);
CREATE INDEX power_events_account ON power_events(account_id, id);
CREATE INDEX power_events_token ON power_events(object_id, id) WHERE action >= 5;
CREATE TRIGGER power_events_append_only BEFORE UPDATE OR DELETE ON power_events
  FOR EACH ROW EXECUTE FUNCTION sl_append_only();

ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_purpose_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_purpose_check CHECK (purpose BETWEEN 1 AND 11);
ALTER TABLE ledger_entries ADD COLUMN power_event_id bigint REFERENCES power_events(id);
CREATE UNIQUE INDEX ledger_entries_power ON ledger_entries(power_event_id) WHERE power_event_id IS NOT NULL;
CREATE TRIGGER ledger_entries_power_append_only BEFORE UPDATE ON ledger_entries
  FOR EACH ROW WHEN (NEW.power_event_id IS DISTINCT FROM OLD.power_event_id)
  EXECUTE FUNCTION sl_append_only();

CREATE FUNCTION sl_power_actor() RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('suanli.actor', true), '')::bigint, 0) $$;

CREATE FUNCTION sl_power_record(p_action integer, p_account bigint, p_role integer,
                                p_object bigint, p_digest bytea, p_detail text) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO power_events(action, account_id, actor_id, role, object_id, digest, detail)
  VALUES (p_action, p_account, sl_power_actor(), p_role, p_object,
          coalesce(p_digest, '\x0000000000000000000000000000000000000000000000000000000000000000'),
          coalesce(p_detail, '')) $$;

CREATE FUNCTION sl_power_accounts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM sl_power_record(1, NEW.id, sl_power_role_code(NEW.kind), 0, NULL, NEW.kind);
  ELSIF NEW.kind IS DISTINCT FROM OLD.kind THEN
    PERFORM sl_power_record(2, NEW.id, sl_power_role_code(NEW.kind), 0, NULL, NEW.kind);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER accounts_power AFTER INSERT OR UPDATE OF kind ON accounts
  FOR EACH ROW EXECUTE FUNCTION sl_power_accounts();

CREATE FUNCTION sl_power_regions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM sl_power_record(3, NEW.account_id, 0, 0, sha256(convert_to(NEW.region, 'UTF8')), NEW.region);
  ELSE
    PERFORM sl_power_record(4, OLD.account_id, 0, 0, sha256(convert_to(OLD.region, 'UTF8')), OLD.region);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER operator_regions_power AFTER INSERT OR DELETE ON operator_regions
  FOR EACH ROW EXECUTE FUNCTION sl_power_regions();

CREATE FUNCTION sl_power_tokens() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM sl_power_record(5, NEW.account_id, 0, NEW.id, NEW.token_hash, NEW.public_id);
    IF cardinality(NEW.scopes) > 0 THEN
      PERFORM sl_power_record(7, NEW.account_id, 0, NEW.id,
                              sha256(convert_to(array_to_string(NEW.scopes, ','), 'UTF8')),
                              array_to_string(NEW.scopes, ','));
    END IF;
    RETURN NULL;
  END IF;
  IF OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL THEN
    PERFORM sl_power_record(6, NEW.account_id, 0, NEW.id, NULL, NEW.public_id);
  END IF;
  IF NEW.scopes IS DISTINCT FROM OLD.scopes THEN
    PERFORM sl_power_record(7, NEW.account_id, 0, NEW.id,
                            sha256(convert_to(array_to_string(NEW.scopes, ','), 'UTF8')),
                            array_to_string(NEW.scopes, ','));
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER api_tokens_power AFTER INSERT OR UPDATE OF revoked_at, scopes ON api_tokens
  FOR EACH ROW EXECUTE FUNCTION sl_power_tokens();

-- The history so far: every account, region and token as it stands, recorded by no one.
INSERT INTO power_events(action, account_id, role, detail, at)
  SELECT 1, id, sl_power_role_code(kind), kind, sl_now() FROM accounts ORDER BY id;
INSERT INTO power_events(action, account_id, digest, detail, at)
  SELECT 3, account_id, sha256(convert_to(region, 'UTF8')), region, sl_now()
    FROM operator_regions ORDER BY account_id, region;
INSERT INTO power_events(action, account_id, object_id, digest, detail, at)
  SELECT 5, account_id, id, token_hash, public_id, sl_now() FROM api_tokens ORDER BY id;
INSERT INTO power_events(action, account_id, object_id, detail, at)
  SELECT 6, account_id, id, public_id, sl_now() FROM api_tokens WHERE revoked_at IS NOT NULL ORDER BY id;
INSERT INTO power_events(action, account_id, object_id, digest, detail, at)
  SELECT 7, account_id, id, sha256(convert_to(array_to_string(scopes, ','), 'UTF8')),
         array_to_string(scopes, ','), sl_now()
    FROM api_tokens WHERE cardinality(scopes) > 0 ORDER BY id;

-- The history as signed: a power event's fields, from its POWER entry's record bytes when the
-- sequencer has signed it (api/SIGNING.md offsets), else from the row (signed within seconds).
-- Reading the record, not the row, means an edit of power_events alone changes nothing here.
CREATE FUNCTION sl_power_u32(r bytea, o integer) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
  SELECT (get_byte(r, o)::bigint << 24) | (get_byte(r, o + 1) << 16) | (get_byte(r, o + 2) << 8)
         | get_byte(r, o + 3) $$;
CREATE FUNCTION sl_power_u64(r bytea, o integer) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
  SELECT (sl_power_u32(r, o) << 32) | sl_power_u32(r, o + 4) $$;

CREATE VIEW power_history AS
  SELECT pe.id, e.id AS entry_id,
         CASE WHEN e.id IS NULL THEN pe.action ELSE sl_power_u32(e.record, 24)::integer END AS action,
         CASE WHEN e.id IS NULL THEN pe.account_id ELSE sl_power_u64(e.record, 32) END AS account_id,
         CASE WHEN e.id IS NULL THEN pe.role ELSE sl_power_u32(e.record, 28)::integer END AS role,
         CASE WHEN e.id IS NULL THEN pe.actor_id ELSE sl_power_u64(e.record, 40) END AS actor_id,
         CASE WHEN e.id IS NULL THEN pe.object_id ELSE sl_power_u64(e.record, 48) END AS object_id,
         CASE WHEN e.id IS NULL THEN pe.digest ELSE substring(e.record FROM 57 FOR 32) END AS digest
    FROM power_events pe LEFT JOIN ledger_entries e ON e.power_event_id = pe.id AND e.purpose = 10;

-- The role an account holds by its history (NULL: none recorded — never honoured): its
-- creation, or a later role change made through an API request (actor_id <> 0).  No route
-- changes a role today, so a role edited in place by SQL — recorded, signed and visible as a
-- ROLE_CHANGED by no one when the triggers fire, not recorded at all when they do not — never
-- takes effect.
CREATE FUNCTION sl_power_role(p_account bigint) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT sl_power_role_kind(h.role) FROM power_history h
   WHERE h.id IN (SELECT id FROM power_events WHERE account_id = p_account AND action IN (1, 2))
     AND h.account_id = p_account AND (h.action = 1 OR (h.action = 2 AND h.actor_id <> 0))
   ORDER BY h.id DESC LIMIT 1 $$;

-- The operator regions an account holds by its history: the rows whose last grant or
-- revocation (for that region's digest) is a grant, as a JSON array (NULL: none).
CREATE FUNCTION sl_power_regions(p_account bigint) RETURNS json LANGUAGE sql STABLE AS $$
  SELECT json_agg(o.region ORDER BY o.region) FROM operator_regions o
   WHERE o.account_id = p_account
     AND (SELECT h.action FROM power_history h
           WHERE h.id IN (SELECT id FROM power_events WHERE account_id = p_account
                            AND action IN (3, 4) AND detail = o.region)
             AND h.account_id = p_account AND h.digest = sha256(convert_to(o.region, 'UTF8'))
           ORDER BY h.id DESC LIMIT 1) = 3 $$;

-- Whether a token row is the token its history issued: issued (5) to this account with this
-- hash, and not revoked (6) by the history while the row says it is live; its scopes those of
-- its last scopes event (7), none when there is none.
CREATE FUNCTION sl_power_token_ok(t api_tokens) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT EXISTS (SELECT 1 FROM power_history h WHERE h.id IN (SELECT id FROM power_events
                   WHERE object_id = t.id AND action = 5)
                   AND h.action = 5 AND h.object_id = t.id AND h.account_id = t.account_id
                   AND h.digest = t.token_hash)
     AND (t.revoked_at IS NOT NULL OR NOT EXISTS (SELECT 1 FROM power_history h
                   WHERE h.id IN (SELECT id FROM power_events WHERE object_id = t.id AND action = 6)
                   AND h.action = 6 AND h.object_id = t.id))
     AND coalesce((SELECT h.digest FROM power_history h
                    WHERE h.id IN (SELECT id FROM power_events WHERE object_id = t.id AND action = 7)
                      AND h.action = 7 AND h.object_id = t.id ORDER BY h.id DESC LIMIT 1),
                  sha256(convert_to('', 'UTF8')))
         = sha256(convert_to(array_to_string(t.scopes, ','), 'UTF8')) $$;

-- ---------------------------------------------------------------- 4. the audit log, chained

-- Every row of the audit log gets a position (seq, 0-based, in the order the sequencer finds
-- committed rows: by id) and a chain value chain_k = SHA-256(chain_{k-1} || row_hash_k),
-- chain_{-1} = 32 zero bytes, set once by the sequencer after the row committed; the
-- sequencer then signs the head (count, chain) as an AUDIT_HEAD ledger entry, a leaf covered by
-- the next checkpoint (api/SIGNING.md).  A row deleted or edited afterwards breaks the chain
-- at that row, and a chain recomputed over an edit no longer ends in a signed head.
ALTER TABLE audit_log ADD COLUMN seq bigint UNIQUE CHECK (seq >= 0);
ALTER TABLE audit_log ADD COLUMN chain bytea CHECK (length(chain) = 32);
ALTER TABLE audit_log ADD CHECK ((seq IS NULL) = (chain IS NULL));
CREATE INDEX audit_log_unchained ON audit_log(id) WHERE seq IS NULL;
CREATE INDEX ledger_entries_audit_head ON ledger_entries(id) WHERE purpose = 11;

-- A row's hash: SHA-256 over its fields in this order, each written as its UTF-8 byte length
-- in decimal, ':', and its text (NULL as '~'): id, at (epoch microseconds), request_id,
-- account_id, token_id, method, path, action, object, status, outcome, error, client_addr.
CREATE FUNCTION sl_audit_row_hash(l audit_log) RETURNS bytea LANGUAGE sql STABLE AS $$
  SELECT sha256(convert_to(string_agg(CASE WHEN f IS NULL THEN '~'
                                      ELSE octet_length(f) || ':' || f END, '' ORDER BY o), 'UTF8'))
    FROM unnest(ARRAY[l.id::text, (extract(epoch FROM l.at) * 1000000)::bigint::text,
                      l.request_id, l.account_id::text, l.token_id::text, l.method, l.path,
                      l.action, l.object, l.status::text, l.outcome, l.error, l.client_addr])
         WITH ORDINALITY u(f, o) $$;

-- Chain up to p_limit unchained rows (by id) after the current head; returns the new head
-- (count of chained rows, chain value of the last) — (0, NULL) for an empty log.
CREATE FUNCTION sl_audit_chain(p_limit integer, OUT out_count bigint, OUT out_chain bytea)
LANGUAGE plpgsql AS $$
DECLARE v_seq bigint; v_chain bytea; r record;
BEGIN
  SELECT seq, chain INTO v_seq, v_chain FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1;
  v_seq := coalesce(v_seq, -1);
  v_chain := coalesce(v_chain, '\x0000000000000000000000000000000000000000000000000000000000000000');
  FOR r IN SELECT l.id, sl_audit_row_hash(l) AS h FROM audit_log l WHERE l.seq IS NULL
            ORDER BY l.id LIMIT p_limit LOOP
    v_seq := v_seq + 1;
    v_chain := sha256(v_chain || r.h);
    UPDATE audit_log SET seq = v_seq, chain = v_chain WHERE id = r.id;
  END LOOP;
  out_count := v_seq + 1;
  out_chain := CASE WHEN v_seq >= 0 THEN v_chain END;
END $$;

-- Append-only: a row is never deleted, and changes only once, when it is chained.
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION sl_append_only();
CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
  FOR EACH ROW WHEN (OLD.seq IS NOT NULL
     OR (OLD.id, OLD.at, OLD.request_id, OLD.account_id, OLD.token_id, OLD.method, OLD.path,
         OLD.action, OLD.object, OLD.status, OLD.outcome, OLD.error, OLD.client_addr)
        IS DISTINCT FROM
        (NEW.id, NEW.at, NEW.request_id, NEW.account_id, NEW.token_id, NEW.method, NEW.path,
         NEW.action, NEW.object, NEW.status, NEW.outcome, NEW.error, NEW.client_addr))
  EXECUTE FUNCTION sl_append_only();

-- ---------------------------------------------------------------- 5. money moved by whom

-- A deposit or withdrawal made through the API names the account that made it (actor_id)
-- and the power event that gave that account its role then (grant_event: its
-- ACCOUNT_CREATED or ROLE_CHANGED, signed as a POWER entry).  `suanlid audit` checks that a
-- movement of someone else's money names a signed grant of the admin role to its actor.
ALTER TABLE journal_txns ADD COLUMN actor_id bigint REFERENCES accounts(id);
ALTER TABLE journal_txns ADD COLUMN grant_event bigint REFERENCES power_events(id);

CREATE FUNCTION sl_journal_grant() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE v_actor bigint := sl_power_actor();
BEGIN
  IF v_actor <> 0 AND NEW.kind IN ('deposit', 'withdrawal') THEN
    NEW.actor_id := v_actor;
    SELECT h.id INTO NEW.grant_event FROM power_history h
     WHERE h.id IN (SELECT id FROM power_events WHERE account_id = v_actor AND action IN (1, 2))
       AND h.account_id = v_actor AND (h.action = 1 OR (h.action = 2 AND h.actor_id <> 0))
     ORDER BY h.id DESC LIMIT 1;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER journal_txns_grant BEFORE INSERT ON journal_txns
  FOR EACH ROW EXECUTE FUNCTION sl_journal_grant();
