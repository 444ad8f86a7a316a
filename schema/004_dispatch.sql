-- 004_dispatch: reservation lifecycle with history, the transactional outbox of dispatch
-- jobs, heartbeat sensing settings, failover and pro-rata refunds.

ALTER TABLE exchange_settings
  ADD COLUMN heartbeat_timeout_s integer NOT NULL DEFAULT 300 CHECK (heartbeat_timeout_s BETWEEN 10 AND 86400);

ALTER TABLE trades DROP CONSTRAINT trades_state_check;
ALTER TABLE trades ADD CONSTRAINT trades_state_check
  CHECK (state IN ('booked', 'settled', 'cancelled', 'failed'));
-- GPUs of a running trade that the pool lost (refunded pro rata); only ever grows.
ALTER TABLE trades ADD COLUMN lost_gpus integer NOT NULL DEFAULT 0 CHECK (lost_gpus >= 0);
ALTER TABLE trades ADD COLUMN replaces_trade_id bigint REFERENCES trades(id);
ALTER TABLE trades ADD CONSTRAINT trades_lost_le_gpus CHECK (lost_gpus <= gpus);

ALTER TABLE reservations ADD COLUMN external_ref text NOT NULL DEFAULT '';
ALTER TABLE reservations ADD COLUMN cause text NOT NULL DEFAULT '';

-- Every state change of a reservation, with its cause (visible to both parties).
CREATE TABLE reservation_events (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  reservation_id  bigint NOT NULL REFERENCES reservations(id),
  from_state      text,
  to_state        text NOT NULL,
  cause           text NOT NULL DEFAULT '',
  at              timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX reservation_events_res ON reservation_events(reservation_id, id);

-- The outbox: a job per (reservation, action), written by the trigger below in the same
-- transaction as the reservation change, so a trade never exists without its dispatch and a
-- rolled-back trade never dispatches.
CREATE TABLE dispatch_jobs (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  reservation_id   bigint NOT NULL REFERENCES reservations(id),
  action           text NOT NULL CHECK (action IN ('reserve', 'cancel')),
  state            text NOT NULL DEFAULT 'queued'
                   CHECK (state IN ('queued', 'running', 'done', 'failed', 'skipped')),
  -- a running job belongs to its worker until then; a worker that died loses it after that
  lease_until      timestamptz,
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  deadline         timestamptz NOT NULL,
  last_error       text NOT NULL DEFAULT '',
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  done_at          timestamptz,
  UNIQUE (reservation_id, action)
);
CREATE INDEX dispatch_jobs_due ON dispatch_jobs(next_attempt_at) WHERE state IN ('queued', 'running');

CREATE FUNCTION sl_reservation_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE v_start timestamptz;
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO reservation_events(reservation_id, from_state, to_state, cause)
      VALUES (NEW.id, NULL, NEW.state, 'trade recorded');
    SELECT start_at INTO v_start FROM trades WHERE id = NEW.trade_id;
    -- retry until the reservation's start (and at least ten minutes)
    INSERT INTO dispatch_jobs(reservation_id, action, deadline)
      VALUES (NEW.id, 'reserve', greatest(v_start, now() + interval '10 minutes'));
    PERFORM pg_notify('suanli_dispatch', NEW.id::text);
    RETURN NULL;
  END IF;
  IF NEW.state IS DISTINCT FROM OLD.state THEN
    INSERT INTO reservation_events(reservation_id, from_state, to_state, cause)
      VALUES (NEW.id, OLD.state, NEW.state, coalesce(
        nullif(current_setting('suanli.cause', true), ''),
        CASE WHEN NEW.cause IS DISTINCT FROM OLD.cause THEN NEW.cause END,
        CASE NEW.state
          WHEN 'dispatched' THEN 'accepted by the pool as ' || NEW.external_ref
          WHEN 'active' THEN 'start time reached'
          WHEN 'completed' THEN 'window ended; provider paid'
          WHEN 'cancelled' THEN 'cancelled before the start'
          ELSE '' END));
    IF NEW.state IN ('cancelled', 'failed') AND OLD.state IN ('pending', 'dispatched', 'active') THEN
      -- a reserve that never ran need not run; the cancel always runs (the adapter may have
      -- acted on an attempt whose reply was lost), and adapters treat it idempotently
      UPDATE dispatch_jobs SET state = 'skipped', updated_at = now(), done_at = now()
       WHERE reservation_id = NEW.id AND action = 'reserve' AND state = 'queued';
      INSERT INTO dispatch_jobs(reservation_id, action, deadline)
        VALUES (NEW.id, 'cancel', now() + interval '1 day')
        ON CONFLICT (reservation_id, action) DO NOTHING;
      PERFORM pg_notify('suanli_dispatch', NEW.id::text);
    END IF;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER reservations_changed AFTER INSERT OR UPDATE ON reservations
  FOR EACH ROW EXECUTE FUNCTION sl_reservation_changed();

-- Refund part of a booked trade to its tenant (escrow -> available): failover, lost GPUs,
-- failed dispatch.  Returns the journal transaction id, or NULL when nothing is left.
CREATE FUNCTION sl_refund(p_trade bigint, p_amount bigint, p_memo text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE t trades%ROWTYPE; v_amt bigint; v_txn bigint;
BEGIN
  SELECT * INTO t FROM trades WHERE id = p_trade FOR UPDATE;
  v_amt := least(p_amount, t.total_minor - t.refunded_minor);
  IF v_amt <= 0 THEN RETURN NULL; END IF;
  INSERT INTO journal_txns(kind, trade_id, memo) VALUES ('refund', t.id, p_memo)
    RETURNING id INTO v_txn;
  PERFORM sl_post(v_txn, sl_ledger_account(t.tenant_id, 'escrow'), -v_amt);
  PERFORM sl_post(v_txn, sl_ledger_account(t.tenant_id, 'available'), v_amt);
  UPDATE trades SET refunded_minor = refunded_minor + v_amt WHERE id = t.id;
  RETURN v_txn;
END $$;

-- A booked trade that will not be delivered (its pool failed before the start, or dispatch
-- gave up): free its capacity, refund everything not yet refunded, mark trade and
-- reservation failed with the cause.  Returns the refund's journal txn (NULL if none).
CREATE FUNCTION sl_fail_trade(p_trade bigint, p_cause text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE t trades%ROWTYPE; v_txn bigint;
BEGIN
  SELECT * INTO t FROM trades WHERE id = p_trade FOR UPDATE;
  IF NOT FOUND OR t.state <> 'booked' THEN RETURN NULL; END IF;
  PERFORM sl_unbook(t.pool_id, greatest(t.start_at, date_trunc('hour', now())), t.end_at, t.gpus);
  v_txn := sl_refund(t.id, t.total_minor, p_cause);
  UPDATE trades SET state = 'failed' WHERE id = t.id;
  PERFORM set_config('suanli.cause', p_cause, true);
  UPDATE reservations SET state = 'failed', cause = p_cause, updated_at = now() WHERE trade_id = t.id;
  PERFORM set_config('suanli.cause', '', true);
  RETURN v_txn;
END $$;

-- Pro rata refunds when a pool reports fewer healthy GPUs than are booked in the current
-- slot: the shortfall is charged to the running trades newest first; each trade's
-- lost_gpus only grows, and the refund covers the lost GPUs for the remaining whole hours.
CREATE FUNCTION sl_shortfall(p_pool bigint) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  v_healthy integer; v_booked integer; v_short integer; v_take integer; v_hours bigint;
  v_count integer := 0; t trades%ROWTYPE;
BEGIN
  SELECT healthy_gpus INTO v_healthy FROM pools WHERE id = p_pool;
  IF v_healthy IS NULL THEN RETURN 0; END IF;
  SELECT coalesce(sum(gpus - lost_gpus), 0) INTO v_booked FROM trades
   WHERE pool_id = p_pool AND state = 'booked' AND start_at <= now() AND end_at > now();
  v_short := v_booked - v_healthy;
  FOR t IN SELECT * FROM trades WHERE pool_id = p_pool AND state = 'booked'
             AND start_at <= now() AND end_at > now() ORDER BY id DESC FOR UPDATE LOOP
    EXIT WHEN v_short <= 0;
    v_take := least(v_short, t.gpus - t.lost_gpus);
    CONTINUE WHEN v_take <= 0;
    v_hours := ceil(extract(epoch FROM t.end_at - now()) / 3600.0)::bigint;
    UPDATE trades SET lost_gpus = lost_gpus + v_take WHERE id = t.id;
    PERFORM sl_refund(t.id, v_take * v_hours * t.unit_price_minor,
                      format('lost %s GPUs for %s hours', v_take, v_hours));
    v_short := v_short - v_take;
    v_count := v_count + 1;
  END LOOP;
  RETURN v_count;
END $$;

-- The simulated provider cluster's own state (adapter "sim"): what it has been asked to
-- reserve, written through a separate autocommit connection so that it behaves like an
-- external system (it survives the exchange's rollbacks and crashes).
CREATE TABLE sim_cluster_reservations (
  reservation_id  bigint PRIMARY KEY,
  pool_id         bigint NOT NULL,
  gpus            integer NOT NULL,
  start_at        timestamptz NOT NULL,
  end_at          timestamptz NOT NULL,
  state           text NOT NULL DEFAULT 'reserved' CHECK (state IN ('reserved', 'cancelled')),
  reserve_calls   integer NOT NULL DEFAULT 1,
  cancel_calls    integer NOT NULL DEFAULT 0,
  created_at      timestamptz NOT NULL DEFAULT now()
);
