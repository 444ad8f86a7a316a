-- 021_agent: the `agent` adapter kind (a pull adapter: the provider's suanli-agent leases its
-- pools' dispatch jobs over the API, carries them out inside its own network and reports each
-- outcome), every dispatch attempt recorded for both parties to read, and pools set offline
-- after N terminal adapter failures in a row (issue 13, items 2, 3 and 6).

ALTER TABLE pools DROP CONSTRAINT pools_adapter_kind_check;
ALTER TABLE pools ADD CONSTRAINT pools_adapter_kind_check
  CHECK (adapter_kind IN ('sim', 'slurm', 'webhook', 'agent'));

-- Reserve jobs of this pool that failed for good since its last success (reset by a success,
-- and when its provider sets it active again); why the exchange last changed its status.
ALTER TABLE pools ADD COLUMN adapter_failures integer NOT NULL DEFAULT 0 CHECK (adapter_failures >= 0);
ALTER TABLE pools ADD COLUMN status_cause text NOT NULL DEFAULT '';

-- N: a pool whose adapter fails terminally this many times in a row goes offline.
ALTER TABLE exchange_settings ADD COLUMN adapter_failure_limit integer NOT NULL DEFAULT 3
  CHECK (adapter_failure_limit BETWEEN 1 AND 1000);

ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_scopes_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_scopes_check
  CHECK (scopes <@ ARRAY['read', 'heartbeat', 'pools', 'market', 'money', 'accounts',
                         'settlement', 'ledger', 'catalog', 'audit', 'agent']::text[]);

-- Which pool a job is for, whether its pool's agent pulls it (the dispatcher then leaves it
-- alone until its deadline), and who holds or last held its lease since when.
ALTER TABLE dispatch_jobs ADD COLUMN pool_id bigint REFERENCES pools(id);
ALTER TABLE dispatch_jobs ADD COLUMN via_agent boolean NOT NULL DEFAULT false;
ALTER TABLE dispatch_jobs ADD COLUMN leased_by text NOT NULL DEFAULT '';
ALTER TABLE dispatch_jobs ADD COLUMN leased_at timestamptz;
UPDATE dispatch_jobs j SET pool_id = t.pool_id
  FROM reservations r JOIN trades t ON t.id = r.trade_id WHERE r.id = j.reservation_id;
CREATE INDEX dispatch_jobs_agent_due ON dispatch_jobs(pool_id, next_attempt_at)
  WHERE via_agent AND state IN ('queued', 'running');
CREATE INDEX dispatch_jobs_agent_deadline ON dispatch_jobs(deadline)
  WHERE via_agent AND state IN ('queued', 'running');

CREATE FUNCTION sl_dispatch_job_route() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT t.pool_id, p.adapter_kind = 'agent' INTO NEW.pool_id, NEW.via_agent
    FROM reservations r JOIN trades t ON t.id = r.trade_id JOIN pools p ON p.id = t.pool_id
   WHERE r.id = NEW.reservation_id;
  NEW.via_agent := coalesce(NEW.via_agent, false);
  RETURN NEW;
END $$;
CREATE TRIGGER dispatch_jobs_route BEFORE INSERT ON dispatch_jobs
  FOR EACH ROW EXECUTE FUNCTION sl_dispatch_job_route();

-- Every attempt at a job: one row when its lease ends — with a result (ok, retry, terminal,
-- skipped) or by running out (lease_expired: the work is handed out again).  Written by the
-- trigger below, whoever ended it (the dispatcher, an agent's result, a new lease).
CREATE TABLE dispatch_attempts (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id           bigint NOT NULL REFERENCES dispatch_jobs(id),
  reservation_id   bigint NOT NULL REFERENCES reservations(id),
  action           text NOT NULL,
  attempt          integer NOT NULL,
  outcome          text NOT NULL
                   CHECK (outcome IN ('ok', 'retry', 'terminal', 'lease_expired', 'skipped')),
  error            text NOT NULL DEFAULT '',
  leased_by        text NOT NULL DEFAULT '',
  started_at       timestamptz,
  next_attempt_at  timestamptz,
  at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dispatch_attempts_res ON dispatch_attempts(reservation_id, id);

CREATE FUNCTION sl_dispatch_job_ended() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE v_outcome text; v_limit integer; v_fails integer;
BEGIN
  IF OLD.state = 'running' AND (NEW.state <> 'running' OR NEW.attempts > OLD.attempts) THEN
    v_outcome := CASE WHEN NEW.state = 'running' THEN 'lease_expired'
                      WHEN NEW.state = 'done' THEN 'ok'
                      WHEN NEW.state = 'queued' THEN 'retry'
                      WHEN NEW.state = 'failed' THEN 'terminal'
                      ELSE 'skipped' END;
    INSERT INTO dispatch_attempts(job_id, reservation_id, action, attempt, outcome, error,
                                  leased_by, started_at, next_attempt_at)
      VALUES (OLD.id, OLD.reservation_id, OLD.action, OLD.attempts, v_outcome,
              CASE WHEN v_outcome = 'lease_expired'
                   THEN format('%s held the lease until %s and reported nothing',
                               coalesce(nullif(OLD.leased_by, ''), 'a worker'), sl_ts(OLD.lease_until))
                   ELSE NEW.last_error END,
              OLD.leased_by, OLD.leased_at,
              CASE WHEN NEW.state = 'queued' THEN NEW.next_attempt_at END);
  END IF;
  -- N terminal failures of a pool's reserve jobs in a row set it offline (its future trades
  -- then fail over); one success resets the count.
  IF NEW.action = 'reserve' AND NEW.state IS DISTINCT FROM OLD.state AND NEW.pool_id IS NOT NULL THEN
    IF NEW.state = 'done' THEN
      UPDATE pools SET adapter_failures = 0 WHERE id = NEW.pool_id AND adapter_failures <> 0;
    ELSIF NEW.state = 'failed' THEN
      SELECT adapter_failure_limit INTO v_limit FROM exchange_settings;
      UPDATE pools SET adapter_failures = adapter_failures + 1 WHERE id = NEW.pool_id
        RETURNING adapter_failures INTO v_fails;
      IF v_fails >= v_limit THEN
        UPDATE pools SET status = 'offline', updated_at = sl_now(),
               status_cause = format('set offline by the exchange: its %s adapter failed for good %s times in a row (last: %s)',
                                     adapter_kind, v_fails, left(NEW.last_error, 200))
         WHERE id = NEW.pool_id AND status IN ('active', 'draining');
      END IF;
    END IF;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER dispatch_jobs_ended AFTER UPDATE ON dispatch_jobs
  FOR EACH ROW EXECUTE FUNCTION sl_dispatch_job_ended();

-- Any other change of a pool's status clears the exchange's cause; setting it active again
-- (its provider, after fixing the adapter) also clears the failure count.
CREATE FUNCTION sl_pool_status_cause() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status IS DISTINCT FROM OLD.status AND NEW.status_cause IS NOT DISTINCT FROM OLD.status_cause THEN
    NEW.status_cause := '';
    IF NEW.status = 'active' THEN NEW.adapter_failures := 0; END IF;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER pools_status_cause BEFORE UPDATE OF status ON pools
  FOR EACH ROW EXECUTE FUNCTION sl_pool_status_cause();

-- The provider's agents: who polled last, when, from where, what it last said of itself
-- (problems it had, e.g. the exchange unreachable for a while) and the round-trip time it
-- measured to the exchange.  One row per (provider, agent name); written by every poll.
CREATE TABLE agents (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  owner_id      bigint NOT NULL REFERENCES accounts(id),
  name          text NOT NULL CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
  version       text NOT NULL DEFAULT '',
  address       text NOT NULL DEFAULT '',
  note          text NOT NULL DEFAULT '',
  note_at       timestamptz,
  rtt_us        integer CHECK (rtt_us >= 0),
  polls         bigint NOT NULL DEFAULT 0,
  last_seen_at  timestamptz NOT NULL DEFAULT now(),
  created_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (owner_id, name)
);
