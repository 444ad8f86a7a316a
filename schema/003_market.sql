-- 003_market: capacity calendar, orders, trades, reservations, double-entry journal, budgets.
-- Multi-step money logic lives in the functions below and reports outcomes as values; the
-- invariants are constraints, so no code path (and no number of processes) can break them:
--   * slot_not_overbooked: no pool slot is booked beyond its capacity;
--   * ledger_balance_floor: no balance goes below its limit;
--   * postings_balanced: every journal transaction sums to zero (checked at commit);
--   * journal and postings are append-only.

CREATE TABLE exchange_settings (
  singleton          boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  fee_bp             integer NOT NULL DEFAULT 250 CHECK (fee_bp BETWEEN 0 AND 5000),
  -- Cancellation policy: free until cancel_free_hours before the start; later (but before
  -- the start) the tenant pays cancel_charge_bp of the total to the provider (fee applies).
  cancel_free_hours  integer NOT NULL DEFAULT 24 CHECK (cancel_free_hours BETWEEN 0 AND 8760),
  cancel_charge_bp   integer NOT NULL DEFAULT 1000 CHECK (cancel_charge_bp BETWEEN 0 AND 10000),
  updated_at         timestamptz NOT NULL DEFAULT now()
);
INSERT INTO exchange_settings DEFAULT VALUES;

-- Budget caps of a tenant (NULL = no cap).
CREATE TABLE tenant_budgets (
  account_id          bigint PRIMARY KEY REFERENCES accounts(id),
  hourly_cap_minor    bigint CHECK (hourly_cap_minor > 0),
  monthly_cap_minor   bigint CHECK (monthly_cap_minor > 0),
  updated_at          timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------- journal
CREATE TABLE ledger_accounts (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  owner_id    bigint REFERENCES accounts(id),          -- NULL: the exchange itself
  purpose     text NOT NULL CHECK (purpose IN ('available', 'escrow', 'fees', 'external')),
  balance     bigint NOT NULL DEFAULT 0,
  min_balance bigint DEFAULT 0,                         -- NULL: unbounded (the outside world)
  CONSTRAINT ledger_balance_floor CHECK (min_balance IS NULL OR balance >= min_balance)
);
CREATE UNIQUE INDEX ledger_accounts_key ON ledger_accounts ((coalesce(owner_id, 0)), purpose);
INSERT INTO ledger_accounts(owner_id, purpose, min_balance)
  VALUES (NULL, 'external', NULL), (NULL, 'fees', 0);

CREATE TABLE journal_txns (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind        text NOT NULL CHECK (kind IN ('deposit', 'withdrawal', 'trade', 'settlement',
                                            'cancellation', 'refund')),
  trade_id    bigint,
  account_id  bigint REFERENCES accounts(id),           -- deposits and withdrawals
  memo        text NOT NULL DEFAULT '',
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX journal_txns_trade ON journal_txns(trade_id) WHERE trade_id IS NOT NULL;

CREATE TABLE postings (
  id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  txn_id             bigint NOT NULL REFERENCES journal_txns(id),
  ledger_account_id  bigint NOT NULL REFERENCES ledger_accounts(id),
  amount             bigint NOT NULL CHECK (amount <> 0),
  balance_after      bigint NOT NULL
);
CREATE INDEX postings_account ON postings(ledger_account_id, id);
CREATE INDEX postings_txn ON postings(txn_id);

CREATE FUNCTION sl_txn_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT sum(amount) FROM postings WHERE txn_id = NEW.txn_id) <> 0 THEN
    RAISE EXCEPTION 'journal transaction % does not sum to zero', NEW.txn_id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'postings_balanced';
  END IF;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER postings_balanced AFTER INSERT ON postings
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION sl_txn_balanced();

CREATE FUNCTION sl_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER journal_txns_append_only BEFORE UPDATE OR DELETE ON journal_txns
  FOR EACH ROW EXECUTE FUNCTION sl_append_only();
CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON postings
  FOR EACH ROW EXECUTE FUNCTION sl_append_only();

-- The ledger account of (owner, purpose), created on first use.
CREATE FUNCTION sl_ledger_account(p_owner bigint, p_purpose text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE v bigint;
BEGIN
  SELECT id INTO v FROM ledger_accounts
   WHERE coalesce(owner_id, 0) = coalesce(p_owner, 0) AND purpose = p_purpose;
  IF v IS NULL THEN
    INSERT INTO ledger_accounts(owner_id, purpose) VALUES (p_owner, p_purpose)
      ON CONFLICT ((coalesce(owner_id, 0)), purpose) DO NOTHING RETURNING id INTO v;
    IF v IS NULL THEN
      SELECT id INTO v FROM ledger_accounts
       WHERE coalesce(owner_id, 0) = coalesce(p_owner, 0) AND purpose = p_purpose;
    END IF;
  END IF;
  RETURN v;
END $$;

-- Post one leg: move the stored balance and record the posting with the balance after it.
CREATE FUNCTION sl_post(p_txn bigint, p_account bigint, p_amount bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE b bigint;
BEGIN
  IF p_amount = 0 THEN RETURN; END IF;
  UPDATE ledger_accounts SET balance = balance + p_amount WHERE id = p_account
    RETURNING balance INTO b;
  INSERT INTO postings(txn_id, ledger_account_id, amount, balance_after)
    VALUES (p_txn, p_account, p_amount, b);
END $$;

CREATE FUNCTION sl_deposit(p_owner bigint, p_amount bigint, p_memo text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE v_txn bigint;
BEGIN
  INSERT INTO journal_txns(kind, account_id, memo) VALUES ('deposit', p_owner, p_memo)
    RETURNING id INTO v_txn;
  PERFORM sl_post(v_txn, sl_ledger_account(p_owner, 'available'), p_amount);
  PERFORM sl_post(v_txn, sl_ledger_account(NULL, 'external'), -p_amount);
  PERFORM sl_wake_tenant_orders(p_owner, 'deposit');
  RETURN v_txn;
END $$;

-- Withdraw from an account's available balance; NULL when the balance is too small.
CREATE FUNCTION sl_withdraw(p_owner bigint, p_amount bigint, p_memo text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE v_txn bigint; v_acct bigint; v_bal bigint;
BEGIN
  v_acct := sl_ledger_account(p_owner, 'available');
  SELECT balance INTO v_bal FROM ledger_accounts WHERE id = v_acct FOR UPDATE;
  IF v_bal < p_amount THEN RETURN NULL; END IF;
  INSERT INTO journal_txns(kind, account_id, memo) VALUES ('withdrawal', p_owner, p_memo)
    RETURNING id INTO v_txn;
  PERFORM sl_post(v_txn, v_acct, -p_amount);
  PERFORM sl_post(v_txn, sl_ledger_account(NULL, 'external'), p_amount);
  RETURN v_txn;
END $$;

-- ---------------------------------------------------------------- capacity calendar
-- Free GPUs of a pool in a slot = capacity - booked.  A row exists only for slots with
-- bookings (an absent slot is entirely free); capacity follows the pool's gpu_count.
CREATE TABLE pool_slots (
  pool_id   bigint NOT NULL REFERENCES pools(id),
  slot      timestamptz NOT NULL,
  capacity  integer NOT NULL,
  booked    integer NOT NULL,
  PRIMARY KEY (pool_id, slot),
  CONSTRAINT slot_not_overbooked CHECK (booked >= 0 AND booked <= capacity),
  CONSTRAINT slot_on_hour CHECK (extract(epoch FROM slot)::bigint % 3600 = 0)
);
CREATE INDEX pool_slots_slot ON pool_slots(slot);

-- Book p_gpus in every slot of [p_start, p_start + p_hours) of an active pool, inside its
-- availability window.  Returns false (and books nothing) when any slot lacks capacity.
CREATE FUNCTION sl_book(p_pool bigint, p_start timestamptz, p_hours integer, p_gpus integer)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE n integer;
BEGIN
  -- FOR SHARE: a concurrent change of gpu_count or window waits for us, and we for it.
  PERFORM 1 FROM pools WHERE id = p_pool AND status = 'active' FOR SHARE;
  IF NOT FOUND THEN RETURN false; END IF;
  INSERT INTO pool_slots AS ps (pool_id, slot, capacity, booked)
  SELECT p.id, s, p.gpu_count, p_gpus
    FROM pools p,
         generate_series(p_start, p_start + (p_hours - 1) * interval '1 hour', interval '1 hour') s
   WHERE p.id = p_pool AND s >= p.available_from AND s < p.available_until
  ON CONFLICT (pool_id, slot) DO UPDATE SET booked = ps.booked + EXCLUDED.booked;
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n <> p_hours THEN
    RAISE EXCEPTION 'outside the availability window' USING ERRCODE = 'check_violation';
  END IF;
  RETURN true;
EXCEPTION WHEN check_violation THEN
  RETURN false;
END $$;

CREATE FUNCTION sl_unbook(p_pool bigint, p_start timestamptz, p_end timestamptz, p_gpus integer)
RETURNS void LANGUAGE sql AS $$
  UPDATE pool_slots SET booked = booked - p_gpus
   WHERE pool_id = p_pool AND slot >= p_start AND slot < p_end;
$$;

-- ---------------------------------------------------------------- orders and trades
CREATE TABLE orders (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id        bigint NOT NULL REFERENCES accounts(id),
  state            text NOT NULL CHECK (state IN ('open', 'filled', 'killed', 'cancelled', 'expired')),
  request          jsonb NOT NULL,          -- the order as accepted, normalized
  gpus             integer NOT NULL CHECK (gpus > 0),
  duration_hours   integer NOT NULL CHECK (duration_hours > 0),
  earliest_start   timestamptz NOT NULL,
  latest_start     timestamptz NOT NULL,
  time_in_force    text NOT NULL CHECK (time_in_force IN ('fill_or_kill', 'good_till')),
  expires_at       timestamptz,
  -- static constraints, kept as columns so a pool event finds the resting orders it may fill
  accelerators     text[],
  min_memory_gb    integer,
  min_ncu_milli    bigint,
  max_price_minor  bigint,
  regions          text[],
  excluded         text[],
  reason           text NOT NULL DEFAULT '', -- why it has not filled (last attempt)
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  filled_at        timestamptz,
  CHECK (earliest_start <= latest_start),
  CHECK ((time_in_force = 'good_till') = (expires_at IS NOT NULL))
);
CREATE INDEX orders_tenant ON orders(tenant_id, id);
CREATE INDEX orders_open ON orders(id) WHERE state = 'open';

CREATE TABLE trades (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  order_id          bigint NOT NULL REFERENCES orders(id),
  tenant_id         bigint NOT NULL REFERENCES accounts(id),
  provider_id       bigint NOT NULL REFERENCES accounts(id),
  pool_id           bigint NOT NULL REFERENCES pools(id),
  region            text NOT NULL,
  accelerator_id    text NOT NULL,
  gpus              integer NOT NULL CHECK (gpus > 0),
  start_at          timestamptz NOT NULL,
  end_at            timestamptz NOT NULL,
  unit_price_minor  bigint NOT NULL CHECK (unit_price_minor > 0),
  total_minor       bigint NOT NULL CHECK (total_minor > 0),
  fee_bp            integer NOT NULL CHECK (fee_bp BETWEEN 0 AND 5000),
  fee_minor         bigint NOT NULL CHECK (fee_minor >= 0),
  state             text NOT NULL DEFAULT 'booked' CHECK (state IN ('booked', 'settled', 'cancelled')),
  refunded_minor    bigint NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0),
  created_at        timestamptz NOT NULL DEFAULT now(),
  settled_at        timestamptz,
  cancelled_at      timestamptz,
  CHECK (end_at > start_at),
  CHECK (total_minor = gpus::bigint * unit_price_minor
                       * (extract(epoch FROM end_at - start_at)::bigint / 3600)),
  CHECK (refunded_minor <= total_minor)
);
CREATE INDEX trades_tenant ON trades(tenant_id, id);
CREATE INDEX trades_provider ON trades(provider_id, id);
CREATE INDEX trades_order ON trades(order_id);
CREATE INDEX trades_due ON trades(end_at) WHERE state = 'booked';
CREATE INDEX trades_month ON trades(tenant_id, created_at);
ALTER TABLE journal_txns ADD CONSTRAINT journal_txns_trade_fk FOREIGN KEY (trade_id) REFERENCES trades(id);

-- The trade's capacity as carried out on the pool (dispatch issue): written with the trade.
CREATE TABLE reservations (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  trade_id    bigint NOT NULL UNIQUE REFERENCES trades(id),
  pool_id     bigint NOT NULL REFERENCES pools(id),
  state       text NOT NULL DEFAULT 'pending'
              CHECK (state IN ('pending', 'dispatched', 'active', 'completed', 'failed', 'cancelled')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Wake-ups for resting orders.  A pool event names a pool whose capacity may have become
-- usable (new, cheaper, bigger, reactivated, healthy again, or freed by a cancellation): the
-- book worker re-matches only the resting orders such a pool fits.  An order event names one
-- order to re-match after it commits (a new resting order — closing the race with a pool
-- that appears while the order is being written — or its tenant's funds or budget grew).
CREATE TABLE book_events (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  pool_id     bigint REFERENCES pools(id),
  order_id    bigint REFERENCES orders(id),
  cause       text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  CHECK ((pool_id IS NULL) <> (order_id IS NULL))
);

-- Queue a re-match of a tenant's resting orders (after a deposit or a budget change).
CREATE FUNCTION sl_wake_tenant_orders(p_tenant bigint, p_cause text) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO book_events(order_id, cause)
    SELECT id, p_cause FROM orders WHERE tenant_id = p_tenant AND state = 'open';
  SELECT pg_notify('suanli_book', 'tenant');
$$;

CREATE FUNCTION sl_pool_event() RETURNS trigger LANGUAGE plpgsql AS $$
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
       SELECT 1 FROM pool_slots WHERE pool_id = NEW.id AND booked > 0 AND slot >= date_trunc('hour', now())) THEN
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
     WHERE pool_id = NEW.id AND slot >= date_trunc('hour', now());
  END IF;
  IF v_cause IS NOT NULL THEN
    INSERT INTO book_events(pool_id, cause) VALUES (NEW.id, v_cause);
    PERFORM pg_notify('suanli_book', NEW.id::text);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER pools_book_event AFTER INSERT OR UPDATE ON pools
  FOR EACH ROW EXECUTE FUNCTION sl_pool_event();

-- Buy one piece: book the slots, write the trade, move the total into escrow and create
-- the pending reservation, all or nothing.  Outcomes: 'ok', 'no_capacity', 'price_changed',
-- 'insufficient_funds', 'budget'.  The tenant's available account is locked first, which
-- serialises one tenant's purchases (funds and monthly budget are checked under that lock).
CREATE FUNCTION sl_trade(p_order bigint, p_tenant bigint, p_pool bigint, p_start timestamptz,
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
     WHERE tenant_id = p_tenant AND created_at >= date_trunc('month', now());
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

-- Pay out a trade whose window has ended: escrow -> provider (net of the platform fee) and
-- the fee -> the exchange.  Returns false when the trade is not booked or not yet ended.
CREATE FUNCTION sl_settle(p_trade bigint) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE t trades%ROWTYPE; v_net bigint; v_fee bigint; v_txn bigint;
BEGIN
  SELECT * INTO t FROM trades WHERE id = p_trade FOR UPDATE;
  IF NOT FOUND OR t.state <> 'booked' OR t.end_at > now() THEN RETURN false; END IF;
  v_net := t.total_minor - t.refunded_minor;
  v_fee := (v_net * t.fee_bp + 5000) / 10000;
  INSERT INTO journal_txns(kind, trade_id, memo) VALUES ('settlement', t.id, 'delivered')
    RETURNING id INTO v_txn;
  PERFORM sl_post(v_txn, sl_ledger_account(t.tenant_id, 'escrow'), -v_net);
  PERFORM sl_post(v_txn, sl_ledger_account(t.provider_id, 'available'), v_net - v_fee);
  PERFORM sl_post(v_txn, sl_ledger_account(NULL, 'fees'), v_fee);
  UPDATE trades SET state = 'settled', settled_at = now(), fee_minor = v_fee WHERE id = t.id;
  UPDATE reservations SET state = 'completed', updated_at = now()
   WHERE trade_id = t.id AND state NOT IN ('failed', 'cancelled');
  RETURN true;
END $$;

-- Cancel a booked trade before its start (tenant, or admin when p_tenant is NULL).
-- Outcomes: 'ok', 'not_found', 'started', 'not_booked'.  Frees the capacity and refunds
-- per exchange_settings' policy; out_refund / out_charge are the amounts.
CREATE FUNCTION sl_cancel_trade(p_trade bigint, p_tenant bigint,
                                OUT out_outcome text, OUT out_refund bigint, OUT out_charge bigint)
LANGUAGE plpgsql AS $$
DECLARE t trades%ROWTYPE; s exchange_settings%ROWTYPE; v_fee bigint; v_txn bigint;
BEGIN
  SELECT * INTO t FROM trades WHERE id = p_trade AND (p_tenant IS NULL OR tenant_id = p_tenant)
    FOR UPDATE;
  IF NOT FOUND THEN out_outcome := 'not_found'; RETURN; END IF;
  IF t.state <> 'booked' THEN out_outcome := 'not_booked'; RETURN; END IF;
  IF t.start_at <= now() THEN out_outcome := 'started'; RETURN; END IF;
  SELECT * INTO s FROM exchange_settings;
  IF t.start_at - now() >= s.cancel_free_hours * interval '1 hour' THEN
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
  UPDATE trades SET state = 'cancelled', cancelled_at = now(), refunded_minor = out_refund,
                    fee_minor = v_fee
   WHERE id = t.id;
  UPDATE reservations SET state = 'cancelled', updated_at = now() WHERE trade_id = t.id;
  INSERT INTO book_events(pool_id, cause) VALUES (t.pool_id, 'cancellation');
  PERFORM pg_notify('suanli_book', t.pool_id::text);
  out_outcome := 'ok';
END $$;
