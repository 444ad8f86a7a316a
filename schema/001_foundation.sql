-- 001_foundation: accounts, tokens, audit, idempotency, regions, latency, accelerators,
-- capacity weights, pools.  Applied in one transaction by suanlid (src/db/migrate.c).
-- Money is BIGINT minor units (USD cents); times are timestamptz in UTC.

-- Render a timestamp as RFC 3339 UTC in whole seconds with a trailing Z (used in every
-- JSON the database builds).  Written to be inlined by the planner: about twice as fast as
-- to_char().  Needs DateStyle ISO, which suanlid sets on every session.
CREATE FUNCTION sl_ts(t timestamptz) RETURNS text
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT replace(date_trunc('second', t AT TIME ZONE 'UTC')::text, ' ', 'T') || 'Z' $$;

-- Money in minor units (cents) as the API's decimal string, e.g. 12345 -> '123.45'.
-- Must agree with sl_money_format() in src/core/money.c (tests/db checks both).
CREATE FUNCTION sl_money(v bigint) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT CASE WHEN v < 0 THEN '-' ELSE '' END || (abs(v) / 100)::text || '.'
               || lpad((abs(v) % 100)::text, 2, '0') $$;

-- Thousandths as a decimal string with three places, e.g. 764 -> '0.764'.
CREATE FUNCTION sl_milli(v bigint) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT CASE WHEN v < 0 THEN '-' ELSE '' END || (abs(v) / 1000)::text || '.'
               || lpad((abs(v) % 1000)::text, 3, '0') $$;

CREATE TABLE regions (
  code        text PRIMARY KEY CHECK (code ~ '^[a-z0-9][a-z0-9-]{1,39}$'),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  tier        text NOT NULL CHECK (tier IN ('cloud', 'edge', 'terminal')),
  operator    text NOT NULL DEFAULT '' CHECK (length(operator) <= 200),
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Directional round-trip time, in microseconds, measured from one region to another.
CREATE TABLE region_latency (
  from_region text NOT NULL REFERENCES regions(code),
  to_region   text NOT NULL REFERENCES regions(code),
  rtt_us      bigint NOT NULL CHECK (rtt_us >= 0 AND rtt_us <= 10000000),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (from_region, to_region)
);

CREATE TABLE accounts (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind        text NOT NULL CHECK (kind IN ('admin', 'provider', 'tenant', 'operator')),
  name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
  disabled    boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- An operator account watches a set of regions.
CREATE TABLE operator_regions (
  account_id  bigint NOT NULL REFERENCES accounts(id),
  region      text NOT NULL REFERENCES regions(code),
  PRIMARY KEY (account_id, region)
);

-- API tokens: only the BLAKE2b-256 hash of the whole token is stored.
CREATE TABLE api_tokens (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id  bigint NOT NULL REFERENCES accounts(id),
  public_id   text NOT NULL UNIQUE,              -- the 32 hex chars after "sl_"
  token_hash  bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
  label       text NOT NULL DEFAULT '' CHECK (length(label) <= 200),
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz,
  revoked_at  timestamptz
);
CREATE INDEX api_tokens_account ON api_tokens(account_id);

-- One row per mutating request (successful or not).
CREATE TABLE audit_log (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  request_id  text NOT NULL,
  account_id  bigint REFERENCES accounts(id),
  token_id    bigint REFERENCES api_tokens(id),
  method      text NOT NULL,
  path        text NOT NULL,
  action      text NOT NULL,
  object      text NOT NULL DEFAULT '',
  status      integer NOT NULL,
  outcome     text NOT NULL CHECK (outcome IN ('ok', 'rejected', 'error')),
  error       text,
  client_addr text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_account ON audit_log(account_id, id);

-- Idempotency-Key records: the first response to (account, key) is replayed.
CREATE TABLE idempotency_keys (
  account_id    bigint NOT NULL REFERENCES accounts(id),
  key           text NOT NULL,
  request_hash  bytea NOT NULL,
  state         text NOT NULL CHECK (state IN ('in_flight', 'done')),
  status        integer,
  response      text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  claimed_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, key)
);

-- Accelerator models and their published specifications.  Unknown figures are NULL.
CREATE TABLE accelerators (
  id                  text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  model               text NOT NULL,
  variant             text NOT NULL DEFAULT '',
  vendor              text NOT NULL,
  memory_gb           integer CHECK (memory_gb > 0),
  memory_type         text,
  mem_bandwidth_gbps  numeric CHECK (mem_bandwidth_gbps > 0),
  fp16_dense_tflops   numeric CHECK (fp16_dense_tflops > 0),
  bf16_dense_tflops   numeric CHECK (bf16_dense_tflops > 0),
  fp32_tflops         numeric CHECK (fp32_tflops > 0),
  interconnect        text,
  interconnect_gbps   numeric CHECK (interconnect_gbps > 0),
  source              text NOT NULL DEFAULT '',
  notes               text NOT NULL DEFAULT '',
  -- Written by suanlid from the formula in src/core/capacity.c; NULL when unrated.
  score_milli         bigint CHECK (score_milli >= 0),
  rating              text NOT NULL DEFAULT 'unrated'
                      CHECK (rating IN ('rated', 'compute_only', 'unrated')),
  weights_version     integer NOT NULL DEFAULT 0,
  UNIQUE (model, variant)
);

-- The market's measurement standard: one row.
CREATE TABLE capacity_weights (
  singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  compute_bp    integer NOT NULL CHECK (compute_bp BETWEEN 0 AND 10000),
  memory_bp     integer NOT NULL CHECK (memory_bp BETWEEN 0 AND 10000),
  reference_id  text NOT NULL REFERENCES accelerators(id) DEFERRABLE INITIALLY DEFERRED,
  version       integer NOT NULL DEFAULT 1,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  CHECK (compute_bp + memory_bp BETWEEN 1 AND 10000)
);

CREATE TABLE pools (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  owner_id          bigint NOT NULL REFERENCES accounts(id),
  name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  region            text NOT NULL REFERENCES regions(code),
  accelerator_id    text NOT NULL REFERENCES accelerators(id),
  gpu_count         integer NOT NULL CHECK (gpu_count BETWEEN 1 AND 1000000),
  gpus_per_node     integer NOT NULL CHECK (gpus_per_node BETWEEN 1 AND 64),
  intra_node        text NOT NULL CHECK (intra_node IN ('nvlink', 'pcie', 'infinity_fabric', 'hccs', 'other')),
  inter_node        text NOT NULL CHECK (inter_node IN ('infiniband', 'roce', 'ethernet', 'none')),
  inter_node_gbps   integer NOT NULL CHECK (inter_node_gbps BETWEEN 0 AND 100000),
  price_minor       bigint NOT NULL CHECK (price_minor > 0),
  available_from    timestamptz NOT NULL,
  available_until   timestamptz NOT NULL,
  adapter_kind      text NOT NULL CHECK (adapter_kind IN ('sim', 'slurm', 'webhook')),
  adapter_config    jsonb NOT NULL DEFAULT '{}',
  status            text NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'draining', 'offline', 'retired')),
  health            text NOT NULL DEFAULT 'unknown'
                    CHECK (health IN ('unknown', 'healthy', 'degraded', 'down')),
  healthy_gpus      integer CHECK (healthy_gpus >= 0),
  utilization_bp    integer CHECK (utilization_bp BETWEEN 0 AND 10000),
  last_heartbeat_at timestamptz,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT pools_window_order CHECK (available_from < available_until),
  CONSTRAINT pools_from_on_hour CHECK (extract(epoch FROM available_from)::bigint % 3600 = 0),
  CONSTRAINT pools_until_on_hour CHECK (extract(epoch FROM available_until)::bigint % 3600 = 0),
  CONSTRAINT pools_healthy_le_count CHECK (healthy_gpus IS NULL OR healthy_gpus <= gpu_count),
  CONSTRAINT pools_network_gbps CHECK ((inter_node = 'none') = (inter_node_gbps = 0))
);
CREATE INDEX pools_owner ON pools(owner_id, id);
CREATE INDEX pools_region ON pools(region, id);
CREATE INDEX pools_accel ON pools(accelerator_id, id);
CREATE INDEX pools_status ON pools(status, id);
