-- 011_hostile_clients: idempotency records expire (issue 16).
--
-- Stored replies under an Idempotency-Key are kept for a retention period
-- (SUANLI_IDEMPOTENCY_RETENTION_H, default and minimum 24 hours) and then deleted by the
-- maintenance worker in small batches (src/db/reaper.c); this index keeps that scan cheap.
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

-- Token scopes: empty = everything the account's role may do; otherwise "read" (any GET the
-- role may use) and/or route groups (src/http/scopes.c).  An agent's token can be limited to
-- heartbeats, a dashboard's to reads.
ALTER TABLE api_tokens ADD COLUMN scopes text[] NOT NULL DEFAULT '{}'
  CHECK (scopes <@ ARRAY['read', 'heartbeat', 'pools', 'market', 'money', 'accounts',
                         'settlement', 'ledger', 'catalog', 'audit']::text[]);
