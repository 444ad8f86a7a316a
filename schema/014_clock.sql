-- 014_clock: the exchange's business clock, sl_now(), and a test clock that moves only when
-- told to (src/core/README.md, "The clock").
--
-- Business time is every time a party sees or a rule compares: trade windows and their
-- booking, the journal, settlement, cancellation and its free window, periods, order
-- deadlines, token expiry, pool heartbeats and health, reservation history, dispatch
-- deadlines, the times a ledger record signs, and when the market's objects (regions,
-- accounts, tokens, pools, orders, ...) were created or changed.  It is sl_now() in SQL and
-- sl_clock_now() in C.  The machinery keeps the real clock, now(): leases, retries and
-- back-off of the dispatch outbox, the Idempotency-Key claim lease and its retention, the
-- capacity book's change feed, commit markers, the request log (audit_log), audit runs,
-- migrations, and the simulated provider's own store (an outside system with its own clock).
--
-- With the real clock (every database, unless a test switched it) sl_now() is `SELECT now()`:
-- a STABLE SQL function that the planner inlines, so it costs nothing.  `suanlid clock set`
-- (tests only: it needs SUANLI_CLOCK=test in its environment) calls sl_clock_move(), which
-- switches a database on which no server has started yet to the test clock by making sl_now()
-- read the one-row table `clock`: running (logical = now() + offset) or frozen (logical = a
-- set instant), read once per transaction, so every row one transaction writes carries the
-- same time, as with now().  The test clock only moves forward; the switch itself may start
-- it anywhere (a test may begin last month), because nothing has happened yet.

CREATE TABLE clock (
  singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  mode       text NOT NULL DEFAULT 'real' CHECK (mode IN ('real', 'running', 'frozen')),
  offset_us  bigint NOT NULL DEFAULT 0,      -- running: logical = now() + offset_us
  frozen_at  timestamptz,                    -- frozen: logical = frozen_at
  set_at     timestamptz NOT NULL DEFAULT now(),
  CHECK ((mode = 'frozen') = (frozen_at IS NOT NULL)),
  CHECK (mode = 'running' OR offset_us = 0)
);
INSERT INTO clock DEFAULT VALUES;

-- The real clock (replaced by sl_clock_move when a test switches the database).
CREATE FUNCTION sl_now() RETURNS timestamptz LANGUAGE sql STABLE PARALLEL SAFE AS 'SELECT now()';

-- The test clock's reading: logical - now() for this transaction, read once from `clock` and
-- kept in a transaction-local setting, so that a clock moved meanwhile does not split one
-- transaction's rows over two times.
CREATE FUNCTION sl_test_now() RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
DECLARE v text := current_setting('suanli.clock_offset_us', true); o bigint;
BEGIN
  IF v IS NULL OR v = '' THEN
    SELECT CASE mode WHEN 'frozen' THEN (extract(epoch FROM frozen_at - now()) * 1000000)::bigint
                     ELSE offset_us END INTO o FROM clock;
    PERFORM set_config('suanli.clock_offset_us', o::text, true);
  ELSE
    o := v::bigint;
  END IF;
  RETURN now() + o * interval '1 microsecond';
END $$;

-- Set the test clock: to p_at (the new logical now), or on by p_by, frozen there or running
-- from there (p_frozen NULL: keep the mode; running when switching from the real clock).
-- Refused (check_violation, constraint clock_forward) when it would move the clock back, and
-- (constraint clock_fresh_database) when switching a database on which a server has already
-- started (it made a signing key) or that holds a trade or a journal transaction.
-- Returns the new logical now.
CREATE FUNCTION sl_clock_move(p_at timestamptz, p_by interval, p_frozen boolean)
RETURNS timestamptz LANGUAGE plpgsql AS $$
DECLARE c clock%ROWTYPE; v_now timestamptz; v_at timestamptz; v_frozen boolean; v_off bigint;
BEGIN
  SELECT * INTO c FROM clock FOR UPDATE;
  IF c.mode = 'real' THEN
    IF EXISTS (SELECT 1 FROM exchange_keys) OR EXISTS (SELECT 1 FROM trades)
       OR EXISTS (SELECT 1 FROM journal_txns) THEN
      RAISE EXCEPTION 'the test clock is switched on only before any server starts on the database'
        USING ERRCODE = 'check_violation', CONSTRAINT = 'clock_fresh_database';
    END IF;
    EXECUTE 'CREATE OR REPLACE FUNCTION sl_now() RETURNS timestamptz LANGUAGE sql STABLE'
            ' PARALLEL RESTRICTED AS ''SELECT sl_test_now()''';
  END IF;
  v_now := CASE c.mode WHEN 'frozen' THEN c.frozen_at
                       ELSE clock_timestamp() + c.offset_us * interval '1 microsecond' END;
  v_at := coalesce(p_at, v_now + p_by);
  IF v_at < v_now AND c.mode <> 'real' THEN
    RAISE EXCEPTION 'the clock only moves forward: % is before %', v_at, v_now
      USING ERRCODE = 'check_violation', CONSTRAINT = 'clock_forward';
  END IF;
  v_frozen := coalesce(p_frozen, c.mode = 'frozen');
  IF v_frozen THEN
    v_off := 0;
  ELSIF p_at IS NULL AND c.mode <> 'frozen' THEN
    v_off := c.offset_us + (extract(epoch FROM p_by) * 1000000)::bigint;  -- exactly p_by on
  ELSE
    v_off := (extract(epoch FROM v_at - clock_timestamp()) * 1000000)::bigint;
  END IF;
  UPDATE clock SET mode = CASE WHEN v_frozen THEN 'frozen' ELSE 'running' END, offset_us = v_off,
         frozen_at = CASE WHEN v_frozen THEN v_at END, set_at = now();
  PERFORM set_config('suanli.clock_offset_us', '', true);
  RETURN v_at;
END $$;

-- The clock as `suanlid clock show` prints it.
CREATE FUNCTION sl_clock_json() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT json_build_object('clock', CASE mode WHEN 'real' THEN 'real' ELSE 'test' END,
                           'mode', mode, 'now', to_char(sl_now() AT TIME ZONE 'UTC',
                                                        'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                           'real_now', sl_ts(now()))::text FROM clock
$$;

-- ---------------------------------------------------------------- business times on sl_now()
ALTER TABLE regions ALTER COLUMN created_at SET DEFAULT sl_now();
ALTER TABLE region_latency ALTER COLUMN updated_at SET DEFAULT sl_now();
ALTER TABLE accounts ALTER COLUMN created_at SET DEFAULT sl_now();
ALTER TABLE api_tokens ALTER COLUMN created_at SET DEFAULT sl_now();
ALTER TABLE capacity_weights ALTER COLUMN updated_at SET DEFAULT sl_now();
ALTER TABLE pools ALTER COLUMN created_at SET DEFAULT sl_now();
ALTER TABLE pools ALTER COLUMN updated_at SET DEFAULT sl_now();
ALTER TABLE exchange_settings ALTER COLUMN updated_at SET DEFAULT sl_now();
ALTER TABLE tenant_budgets ALTER COLUMN updated_at SET DEFAULT sl_now();
ALTER TABLE journal_txns ALTER COLUMN created_at SET DEFAULT sl_now();
ALTER TABLE orders ALTER COLUMN created_at SET DEFAULT sl_now();
ALTER TABLE orders ALTER COLUMN updated_at SET DEFAULT sl_now();
ALTER TABLE trades ALTER COLUMN created_at SET DEFAULT sl_now();
ALTER TABLE reservations ALTER COLUMN created_at SET DEFAULT sl_now();
ALTER TABLE reservations ALTER COLUMN updated_at SET DEFAULT sl_now();
-- was clock_timestamp(): the same on the real clock, the time within the transaction on a test one
ALTER TABLE reservation_events ALTER COLUMN at SET DEFAULT sl_now() + (clock_timestamp() - now());
ALTER TABLE exchange_keys ALTER COLUMN created_at SET DEFAULT sl_now();
ALTER TABLE ledger_entries ALTER COLUMN created_at SET DEFAULT sl_now();
ALTER TABLE periods ALTER COLUMN closed_at SET DEFAULT sl_now();
ALTER TABLE access_keys ALTER COLUMN updated_at SET DEFAULT sl_now();
ALTER TABLE reservation_access ALTER COLUMN created_at SET DEFAULT sl_now();

-- The procedures of schema/003 and 004 that read the time, as they were, on sl_now() (the
-- outbox's own bookkeeping in sl_reservation_changed stays on now()).

CREATE OR REPLACE FUNCTION sl_pool_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE v_cause text;
BEGIN
  IF TG_OP = 'INSERT' THEN
    v_cause := 'new pool';
  ELSIF NEW.status = 'active' AND OLD.status <> 'active' THEN
    v_cause := 'pool reactivated';
  ELSIF NEW.status = 'active' AND NEW.price_minor < OLD.price_minor THEN
    v_cause := 'price cut';
  ELSIF NEW.status = 'active' AND OLD.health = 'down' AND NEW.health <> 'down' THEN
    v_cause := 'pool healthy again';
  ELSIF NEW.status = 'active' AND (NEW.gpu_count > OLD.gpu_count
        OR NEW.available_from < OLD.available_from OR NEW.available_until > OLD.available_until) THEN
    v_cause := 'more capacity';
  END IF;
  IF NEW.status = 'retired' AND OLD.status IS DISTINCT FROM 'retired' AND EXISTS (
       SELECT 1 FROM pool_slots WHERE pool_id = NEW.id AND booked > 0 AND slot >= date_trunc('hour', sl_now())) THEN
    RAISE EXCEPTION 'pool % has future bookings', NEW.id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'pool_has_bookings';
  END IF;
  IF TG_OP = 'UPDATE' AND (NEW.available_from <> OLD.available_from OR NEW.available_until <> OLD.available_until)
     AND EXISTS (SELECT 1 FROM pool_slots WHERE pool_id = NEW.id AND booked > 0
                 AND (slot < NEW.available_from OR slot >= NEW.available_until)) THEN
    RAISE EXCEPTION 'the new window of pool % strands bookings', NEW.id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'pool_window_strands_bookings';
  END IF;
  IF TG_OP = 'UPDATE' AND NEW.gpu_count <> OLD.gpu_count THEN
    -- raises slot_not_overbooked when a current or future slot already holds more than the
    -- new count (past slots keep the capacity they were sold under)
    UPDATE pool_slots SET capacity = NEW.gpu_count
     WHERE pool_id = NEW.id AND slot >= date_trunc('hour', sl_now());
  END IF;
  IF v_cause IS NOT NULL THEN
    INSERT INTO book_events(pool_id, cause) VALUES (NEW.id, v_cause);
    PERFORM pg_notify('suanli_book', NEW.id::text);
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION sl_trade(p_order bigint, p_tenant bigint, p_pool bigint, p_start timestamptz,
                         p_hours integer, p_gpus integer, p_unit bigint,
                         OUT out_trade bigint, OUT out_outcome text)
LANGUAGE plpgsql AS $$
DECLARE
  v_pool pools%ROWTYPE;
  v_total bigint; v_fee_bp integer; v_avail bigint; v_escrow bigint; v_bal bigint;
  v_txn bigint; v_cap bigint; v_spent bigint;
BEGIN
  v_avail := sl_ledger_account(p_tenant, 'available');
  v_escrow := sl_ledger_account(p_tenant, 'escrow');
  SELECT balance INTO v_bal FROM ledger_accounts WHERE id = v_avail FOR UPDATE;
  SELECT * INTO v_pool FROM pools WHERE id = p_pool;
  IF NOT FOUND OR v_pool.status <> 'active' THEN out_outcome := 'no_capacity'; RETURN; END IF;
  IF v_pool.price_minor <> p_unit THEN out_outcome := 'price_changed'; RETURN; END IF;
  v_total := p_gpus::bigint * p_hours * p_unit;
  IF v_bal < v_total THEN out_outcome := 'insufficient_funds'; RETURN; END IF;
  SELECT monthly_cap_minor INTO v_cap FROM tenant_budgets WHERE account_id = p_tenant;
  IF v_cap IS NOT NULL THEN
    SELECT coalesce(sum(total_minor - refunded_minor), 0) INTO v_spent FROM trades
     WHERE tenant_id = p_tenant AND created_at >= date_trunc('month', sl_now());
    IF v_spent + v_total > v_cap THEN out_outcome := 'budget'; RETURN; END IF;
  END IF;
  IF NOT sl_book(p_pool, p_start, p_hours, p_gpus) THEN
    out_outcome := 'no_capacity';
    RETURN;
  END IF;
  SELECT fee_bp INTO v_fee_bp FROM exchange_settings;
  INSERT INTO trades(order_id, tenant_id, provider_id, pool_id, region, accelerator_id, gpus,
                     start_at, end_at, unit_price_minor, total_minor, fee_bp, fee_minor)
  VALUES (p_order, p_tenant, v_pool.owner_id, p_pool, v_pool.region, v_pool.accelerator_id,
          p_gpus, p_start, p_start + p_hours * interval '1 hour', p_unit, v_total, v_fee_bp,
          (v_total * v_fee_bp + 5000) / 10000)
  RETURNING id INTO out_trade;
  INSERT INTO journal_txns(kind, trade_id, memo) VALUES ('trade', out_trade, 'escrow for trade')
    RETURNING id INTO v_txn;
  PERFORM sl_post(v_txn, v_avail, -v_total);
  PERFORM sl_post(v_txn, v_escrow, v_total);
  INSERT INTO reservations(trade_id, pool_id) VALUES (out_trade, p_pool);
  out_outcome := 'ok';
END $$;

CREATE OR REPLACE FUNCTION sl_settle(p_trade bigint) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE t trades%ROWTYPE; v_net bigint; v_fee bigint; v_txn bigint;
BEGIN
  SELECT * INTO t FROM trades WHERE id = p_trade FOR UPDATE;
  IF NOT FOUND OR t.state <> 'booked' OR t.end_at > sl_now() THEN RETURN false; END IF;
  v_net := t.total_minor - t.refunded_minor;
  v_fee := (v_net * t.fee_bp + 5000) / 10000;
  INSERT INTO journal_txns(kind, trade_id, memo) VALUES ('settlement', t.id, 'delivered')
    RETURNING id INTO v_txn;
  PERFORM sl_post(v_txn, sl_ledger_account(t.tenant_id, 'escrow'), -v_net);
  PERFORM sl_post(v_txn, sl_ledger_account(t.provider_id, 'available'), v_net - v_fee);
  PERFORM sl_post(v_txn, sl_ledger_account(NULL, 'fees'), v_fee);
  UPDATE trades SET state = 'settled', settled_at = sl_now(), fee_minor = v_fee WHERE id = t.id;
  UPDATE reservations SET state = 'completed', updated_at = sl_now()
   WHERE trade_id = t.id AND state NOT IN ('failed', 'cancelled');
  RETURN true;
END $$;

CREATE OR REPLACE FUNCTION sl_cancel_trade(p_trade bigint, p_tenant bigint,
                                OUT out_outcome text, OUT out_refund bigint, OUT out_charge bigint)
LANGUAGE plpgsql AS $$
DECLARE t trades%ROWTYPE; s exchange_settings%ROWTYPE; v_fee bigint; v_txn bigint;
BEGIN
  SELECT * INTO t FROM trades WHERE id = p_trade AND (p_tenant IS NULL OR tenant_id = p_tenant)
    FOR UPDATE;
  IF NOT FOUND THEN out_outcome := 'not_found'; RETURN; END IF;
  IF t.state <> 'booked' THEN out_outcome := 'not_booked'; RETURN; END IF;
  IF t.start_at <= sl_now() THEN out_outcome := 'started'; RETURN; END IF;
  SELECT * INTO s FROM exchange_settings;
  IF t.start_at - sl_now() >= s.cancel_free_hours * interval '1 hour' THEN
    out_charge := 0;
  ELSE
    out_charge := (t.total_minor * s.cancel_charge_bp + 5000) / 10000;
  END IF;
  out_refund := t.total_minor - out_charge;
  v_fee := (out_charge * t.fee_bp + 5000) / 10000;
  PERFORM sl_unbook(t.pool_id, t.start_at, t.end_at, t.gpus);
  INSERT INTO journal_txns(kind, trade_id, memo) VALUES ('cancellation', t.id, 'cancelled before start')
    RETURNING id INTO v_txn;
  PERFORM sl_post(v_txn, sl_ledger_account(t.tenant_id, 'escrow'), -t.total_minor);
  PERFORM sl_post(v_txn, sl_ledger_account(t.tenant_id, 'available'), out_refund);
  PERFORM sl_post(v_txn, sl_ledger_account(t.provider_id, 'available'), out_charge - v_fee);
  PERFORM sl_post(v_txn, sl_ledger_account(NULL, 'fees'), v_fee);
  UPDATE trades SET state = 'cancelled', cancelled_at = sl_now(), refunded_minor = out_refund,
                    fee_minor = v_fee
   WHERE id = t.id;
  UPDATE reservations SET state = 'cancelled', updated_at = sl_now() WHERE trade_id = t.id;
  INSERT INTO book_events(pool_id, cause) VALUES (t.pool_id, 'cancellation');
  PERFORM pg_notify('suanli_book', t.pool_id::text);
  out_outcome := 'ok';
END $$;

CREATE OR REPLACE FUNCTION sl_reservation_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE v_start timestamptz;
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO reservation_events(reservation_id, from_state, to_state, cause)
      VALUES (NEW.id, NULL, NEW.state, 'trade recorded');
    SELECT start_at INTO v_start FROM trades WHERE id = NEW.trade_id;
    -- retry until the reservation's start (and at least ten minutes)
    INSERT INTO dispatch_jobs(reservation_id, action, deadline)
      VALUES (NEW.id, 'reserve', greatest(v_start, sl_now() + interval '10 minutes'));
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
        VALUES (NEW.id, 'cancel', sl_now() + interval '1 day')
        ON CONFLICT (reservation_id, action) DO NOTHING;
      PERFORM pg_notify('suanli_dispatch', NEW.id::text);
    END IF;
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION sl_fail_trade(p_trade bigint, p_cause text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE t trades%ROWTYPE; v_txn bigint;
BEGIN
  SELECT * INTO t FROM trades WHERE id = p_trade FOR UPDATE;
  IF NOT FOUND OR t.state <> 'booked' THEN RETURN NULL; END IF;
  PERFORM sl_unbook(t.pool_id, greatest(t.start_at, date_trunc('hour', sl_now())), t.end_at, t.gpus);
  v_txn := sl_refund(t.id, t.total_minor, p_cause);
  UPDATE trades SET state = 'failed' WHERE id = t.id;
  PERFORM set_config('suanli.cause', p_cause, true);
  UPDATE reservations SET state = 'failed', cause = p_cause, updated_at = sl_now() WHERE trade_id = t.id;
  PERFORM set_config('suanli.cause', '', true);
  RETURN v_txn;
END $$;

CREATE OR REPLACE FUNCTION sl_shortfall(p_pool bigint) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  v_healthy integer; v_booked integer; v_short integer; v_take integer; v_hours bigint;
  v_count integer := 0; t trades%ROWTYPE;
BEGIN
  SELECT healthy_gpus INTO v_healthy FROM pools WHERE id = p_pool;
  IF v_healthy IS NULL THEN RETURN 0; END IF;
  SELECT coalesce(sum(gpus - lost_gpus), 0) INTO v_booked FROM trades
   WHERE pool_id = p_pool AND state = 'booked' AND start_at <= sl_now() AND end_at > sl_now();
  v_short := v_booked - v_healthy;
  FOR t IN SELECT * FROM trades WHERE pool_id = p_pool AND state = 'booked'
             AND start_at <= sl_now() AND end_at > sl_now() ORDER BY id DESC FOR UPDATE LOOP
    EXIT WHEN v_short <= 0;
    v_take := least(v_short, t.gpus - t.lost_gpus);
    CONTINUE WHEN v_take <= 0;
    v_hours := ceil(extract(epoch FROM t.end_at - sl_now()) / 3600.0)::bigint;
    UPDATE trades SET lost_gpus = lost_gpus + v_take WHERE id = t.id;
    PERFORM sl_refund(t.id, v_take * v_hours * t.unit_price_minor,
                      format('lost %s GPUs for %s hours', v_take, v_hours));
    v_short := v_short - v_take;
    v_count := v_count + 1;
  END LOOP;
  RETURN v_count;
END $$;
