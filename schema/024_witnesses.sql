-- 024_witnesses: checkpoints that can be checked for gaps, witnesses and their cosignatures,
-- and the chain value served with each entry (issue 18; api/SIGNING.md "Witnesses").

-- Each checkpoint names the size of the checkpoint signed just before it (NULL for the first),
-- so a missing checkpoint row is seen without recomputing anything: a prev_size that is no
-- checkpoint's tree_size.  Existing rows get the size of the checkpoint below them.  (The same
-- column as schema/023_power_ledger.sql of issue 18's other half adds: IF NOT EXISTS, and the
-- backfill only fills what is still NULL, so either may come first.)
ALTER TABLE ledger_checkpoints ADD COLUMN IF NOT EXISTS prev_size bigint
  CHECK (prev_size >= 0 AND prev_size < tree_size);
ALTER TABLE ledger_checkpoints DISABLE TRIGGER ledger_checkpoints_append_only;
UPDATE ledger_checkpoints c SET prev_size = p.prev
  FROM (SELECT tree_size, lag(tree_size) OVER (ORDER BY tree_size) AS prev
          FROM ledger_checkpoints) p
 WHERE p.tree_size = c.tree_size AND p.prev IS NOT NULL AND c.prev_size IS NULL;
ALTER TABLE ledger_checkpoints ENABLE TRIGGER ledger_checkpoints_append_only;

-- Witnesses the exchange accepts cosignatures from: a name and an Ed25519 public key (its key id
-- as for the exchange's keys).  Registered by an admin; anyone may run one.
CREATE TABLE ledger_witnesses (
  name        text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  public_key  bytea NOT NULL UNIQUE CHECK (length(public_key) = 32),
  key_id      text NOT NULL UNIQUE CHECK (key_id ~ '^[0-9a-f]{16}$'),
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- A witness's cosignature of one checkpoint: the 88-byte COSIGNATURE record (purpose 12) it
-- signed and the signature, verified by the exchange before it is stored.  Append-only.
CREATE TABLE ledger_cosignatures (
  tree_size    bigint NOT NULL REFERENCES ledger_checkpoints(tree_size),
  witness      text NOT NULL REFERENCES ledger_witnesses(name),
  cosigned_at  timestamptz NOT NULL,
  record       bytea NOT NULL CHECK (length(record) = 88),
  signature    bytea NOT NULL CHECK (length(signature) = 64),
  received_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tree_size, witness)
);
CREATE TRIGGER ledger_cosignatures_append_only BEFORE UPDATE OR DELETE ON ledger_cosignatures
  FOR EACH ROW EXECUTE FUNCTION sl_append_only();
CREATE TRIGGER ledger_witnesses_append_only BEFORE UPDATE OR DELETE ON ledger_witnesses
  FOR EACH ROW EXECUTE FUNCTION sl_append_only();

-- Witness: a registered witness.
CREATE FUNCTION api_witness(w ledger_witnesses) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('name', w.name, 'key_id', w.key_id,
          'public_key', encode(w.public_key, 'hex'), 'created_at', sl_ts(w.created_at)) $$;

-- Checkpoint: a signed tree head, with the cosignatures of the witnesses (newest definition:
-- schema/022 plus `cosignatures`).
CREATE OR REPLACE FUNCTION api_checkpoint(c ledger_checkpoints) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('tree_size', c.tree_size, 'root_hash', encode(c.root_hash, 'hex'),
          'timestamp', sl_ts(c.signed_at), 'key_id', c.key_id,
          'signature', encode(c.signature, 'hex'), 'record', encode(c.record, 'hex'),
          'cosignatures', (SELECT coalesce(json_agg(json_build_object('witness', w.name,
                              'key_id', w.key_id, 'timestamp', sl_ts(s.cosigned_at),
                              'signature', encode(s.signature, 'hex'),
                              'record', encode(s.record, 'hex')) ORDER BY w.name), '[]')
                           FROM ledger_cosignatures s JOIN ledger_witnesses w ON w.name = s.witness
                           WHERE s.tree_size = c.tree_size)) $$;

-- LedgerEntry (newest definition: schema/022 plus `chain_hash`, the running chain value of
-- api/SIGNING.md "Hash chain"; null until sequenced).
CREATE OR REPLACE FUNCTION api_ledger_entry(e ledger_entries, j journal_txns) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('entry_id', e.id, 'purpose', e.purpose, 'trade_id', e.trade_id,
          'journal_txn_id', e.journal_txn_id, 'account_id', j.account_id,
          'record', encode(e.record, 'hex'), 'key_id', e.key_id,
          'signature', encode(e.signature, 'hex'), 'leaf_index', e.leaf_index,
          'chain_hash', encode(e.chain_hash, 'hex')) $$;

-- Receipt entries (newest definition: schema/022 plus `chain_hash`).
CREATE OR REPLACE FUNCTION api_receipt_entry(e ledger_entries) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('entry_id', e.id, 'purpose', e.purpose,
          'record', encode(e.record, 'hex'), 'key_id', e.key_id,
          'signature', encode(e.signature, 'hex'), 'leaf_index', e.leaf_index,
          'journal_txn_id', e.journal_txn_id, 'chain_hash', encode(e.chain_hash, 'hex')) $$;

-- LedgerLeaf (GET /v1/ledger/entries?from=): one position of the tree for monitors.  Everyone
-- sees the leaf and chain hashes (enough to recompute every root and chain value); the signed
-- record, its key and signature only where `readable` (admins, the parties of the entry).
CREATE FUNCTION api_ledger_leaf(e ledger_entries, readable boolean) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('leaf_index', e.leaf_index,
          'leaf_hash', encode(e.leaf_hash, 'hex'), 'chain_hash', encode(e.chain_hash, 'hex'),
          'entry_id', CASE WHEN readable THEN e.id END,
          'purpose', CASE WHEN readable THEN e.purpose END,
          'record', CASE WHEN readable THEN encode(e.record, 'hex') END,
          'key_id', CASE WHEN readable THEN e.key_id END,
          'signature', CASE WHEN readable THEN encode(e.signature, 'hex') END) $$;
