-- 011_hostile_clients: idempotency records expire (issue 16).
--
-- Stored replies under an Idempotency-Key are kept for a retention period
-- (SUANLI_IDEMPOTENCY_RETENTION_H, default and minimum 24 hours) and then deleted by the
-- maintenance worker in small batches (src/db/reaper.c); this index keeps that scan cheap.
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
