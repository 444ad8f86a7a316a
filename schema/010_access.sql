-- 010_access.sql — access to what was bought (api/ACCESS.md).
--
-- A tenant registers an X25519 public key; when a pool's adapter (or the provider's
-- webhook receiver) reserves the capacity, it seals the access details (SSH endpoint and
-- user, Slurm reservation and login node, ...) to that key with a libsodium sealed box, and
-- the exchange stores only the ciphertext.  No column here can hold the plaintext, and the
-- exchange has no private key to open it.

CREATE TABLE access_keys (
  account_id  bigint PRIMARY KEY REFERENCES accounts(id),
  public_key  bytea NOT NULL CHECK (length(public_key) = 32),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE reservation_access (
  reservation_id bigint PRIMARY KEY REFERENCES reservations(id),
  -- the key the box was sealed to (the tenant's key when the reservation was made)
  recipient_key  bytea NOT NULL CHECK (length(recipient_key) = 32),
  -- crypto_box_seal output: 48 bytes of overhead plus at least 1 byte of message
  sealed         bytea NOT NULL CHECK (length(sealed) BETWEEN 49 AND 16384),
  source         text NOT NULL CHECK (source IN ('sim', 'webhook', 'slurm', 'agent')),
  created_at     timestamptz NOT NULL DEFAULT now()
);
