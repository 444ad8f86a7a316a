-- bench/export_gen.sql — a database holding one big closed-able period, for bench/export_bench.sh.
--
-- BENCH DATA ONLY: written as a superuser with session_replication_role = replica (triggers and
-- foreign-key checks off, CHECK constraints still on), straight into the journal, so that a
-- million postings take seconds instead of hours of API calls.  No ledger entry is signed for
-- these rows (`suanlid audit` would list every one of them); the export does not read the
-- ledger.  The data is internally consistent: every journal transaction sums to zero, every
-- trade's total = GPUs x hours x unit price, stored balances = the replay of the postings,
-- balance_after = the running sum per ledger account, no balance below its floor.
--
-- psql variables: trades (number of trades; each = a booking transaction of 2 postings and a
-- settlement of 3, so postings = 5 x trades + 2 x tenants), tenants, providers.
-- The period is the last calendar month (UTC); each tenant's deposit is a day before it.

\set ON_ERROR_STOP 1
BEGIN;
SET LOCAL session_replication_role = replica;

CREATE TEMP TABLE bp ON COMMIT DROP AS
  SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '1 month' AS s,
         date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS e;

INSERT INTO regions(code, name, tier)
  SELECT 'bx-' || g, 'Bench region ' || g, 'cloud' FROM generate_series(1, 4) g;
INSERT INTO accounts(kind, name) SELECT 'provider', 'bench-p' || g FROM generate_series(1, :providers) g;
INSERT INTO accounts(kind, name) SELECT 'tenant', 'bench-t' || g FROM generate_series(1, :tenants) g;
INSERT INTO ledger_accounts(owner_id, purpose)
  SELECT id, 'available' FROM accounts WHERE name LIKE 'bench-%';
INSERT INTO ledger_accounts(owner_id, purpose)
  SELECT id, 'escrow' FROM accounts WHERE name LIKE 'bench-t%';

-- one pool per provider, in 4 regions, prices 2.00 .. 4.99
INSERT INTO pools(owner_id, name, region, accelerator_id, gpu_count, gpus_per_node, intra_node, inter_node,
                  inter_node_gbps, price_minor, available_from, available_until, adapter_kind, adapter_config)
  SELECT a.id, 'bench-pool-' || a.id, 'bx-' || (a.id % 4 + 1), 'H100-SXM', 100000, 8, 'nvlink', 'infiniband', 400,
         200 + (a.id * 37) % 300, (SELECT s FROM bp) - interval '2 days', (SELECT e FROM bp) + interval '365 days',
         'sim', '{}'
    FROM accounts a WHERE a.name LIKE 'bench-p%';

CREATE TEMP TABLE ten ON COMMIT DROP AS
  SELECT row_number() OVER (ORDER BY a.id) - 1 AS rn, a.id,
         (SELECT id FROM ledger_accounts WHERE owner_id = a.id AND purpose = 'available') AS avail,
         (SELECT id FROM ledger_accounts WHERE owner_id = a.id AND purpose = 'escrow') AS escrow
    FROM accounts a WHERE a.name LIKE 'bench-t%';
CREATE TEMP TABLE prv ON COMMIT DROP AS
  SELECT row_number() OVER (ORDER BY p.id) - 1 AS rn, p.id AS pool_id, p.owner_id, p.region, p.price_minor,
         (SELECT id FROM ledger_accounts WHERE owner_id = p.owner_id AND purpose = 'available') AS avail
    FROM pools p WHERE p.name LIKE 'bench-pool-%';

-- one filled order per tenant (the trades' order)
INSERT INTO orders(tenant_id, state, request, gpus, duration_hours, earliest_start, latest_start, time_in_force,
                   created_at, updated_at, filled_at)
  SELECT id, 'filled', '{"bench": true}', 1, 1, (SELECT s FROM bp), (SELECT s FROM bp), 'fill_or_kill',
         (SELECT s FROM bp), (SELECT s FROM bp), (SELECT s FROM bp)
    FROM ten;
CREATE TEMP TABLE ord ON COMMIT DROP AS
  SELECT o.id AS order_id, t.rn FROM orders o JOIN ten t ON t.id = o.tenant_id WHERE o.request ? 'bench';

CREATE TEMP TABLE base ON COMMIT DROP AS
  SELECT (SELECT coalesce(max(id), 0) FROM trades) AS tb, (SELECT coalesce(max(id), 0) FROM journal_txns) AS jb,
         (SELECT coalesce(max(id), 0) FROM postings) AS pb,
         (SELECT id FROM ledger_accounts WHERE owner_id IS NULL AND purpose = 'external') AS ext,
         (SELECT id FROM ledger_accounts WHERE owner_id IS NULL AND purpose = 'fees') AS fees,
         (SELECT count(*) FROM ten) AS nt, (SELECT count(*) FROM prv) AS np;

-- the trades: booked at times spread over the period, each starting on the next whole hour,
-- 1..4 hours, 1..8 GPUs, settled 10 minutes after its end (all inside the period)
CREATE TEMP TABLE gt ON COMMIT DROP AS
  SELECT x.*, x.gpus::bigint * x.hours * x.unit AS total,
         (x.gpus::bigint * x.hours * x.unit * 250 + 5000) / 10000 AS fee
    FROM (SELECT b.tb + g AS trade_id, b.jb + 2 * g - 1 AS txn_book, b.jb + 2 * g AS txn_settle,
                 t.id AS tenant_id, t.avail AS t_avail, t.escrow AS t_escrow, o.order_id,
                 p.pool_id, p.owner_id AS provider_id, p.region, p.avail AS p_avail, p.price_minor AS unit,
                 1 + (g * 7) % 8 AS gpus, 1 + (g * 3) % 4 AS hours,
                 bp.s + (bp.e - bp.s - interval '8 hours') * g / (:trades + 1) AS booked_at
            FROM generate_series(1, :trades) g CROSS JOIN base b CROSS JOIN bp
            JOIN ten t ON t.rn = g % b.nt
            JOIN ord o ON o.rn = t.rn
            JOIN prv p ON p.rn = (g * 13) % b.np) x;

INSERT INTO trades(id, order_id, tenant_id, provider_id, pool_id, region, accelerator_id, gpus, start_at, end_at,
                   unit_price_minor, total_minor, fee_bp, fee_minor, state, created_at, settled_at)
  OVERRIDING SYSTEM VALUE
  SELECT trade_id, order_id, tenant_id, provider_id, pool_id, region, 'H100-SXM', gpus,
         date_trunc('hour', booked_at) + interval '1 hour',
         date_trunc('hour', booked_at) + interval '1 hour' + hours * interval '1 hour',
         unit, total, 250, fee, 'settled', booked_at,
         date_trunc('hour', booked_at) + interval '1 hour' + hours * interval '1 hour' + interval '10 minutes'
    FROM gt;

-- journal: each tenant's deposit (a day before the period), then per trade its booking and its
-- settlement
CREATE TEMP TABLE gj ON COMMIT DROP AS
  SELECT b.jb + 2 * (SELECT count(*) FROM gt) + t.rn + 1 AS id, 'deposit' AS kind, NULL::bigint AS trade_id,
         t.id AS account_id, 'bench deposit' AS memo, bp.s - interval '1 day' AS created_at
    FROM ten t CROSS JOIN base b CROSS JOIN bp
  UNION ALL
  SELECT txn_book, 'trade', trade_id, NULL, 'escrow for trade', booked_at FROM gt
  UNION ALL
  SELECT txn_settle, 'settlement', trade_id, NULL, 'delivered',
         date_trunc('hour', booked_at) + interval '1 hour' + hours * interval '1 hour' + interval '10 minutes' FROM gt;
INSERT INTO journal_txns(id, kind, trade_id, account_id, memo, created_at) OVERRIDING SYSTEM VALUE
  SELECT id, kind, trade_id, account_id, memo, created_at FROM gj;

CREATE TEMP TABLE gp ON COMMIT DROP AS
  SELECT d.id AS txn, t.avail AS la, 1000000000::bigint AS amount, 1 AS leg
    FROM gj d JOIN ten t ON t.id = d.account_id WHERE d.kind = 'deposit'
  UNION ALL SELECT d.id, (SELECT ext FROM base), -1000000000::bigint, 2 FROM gj d WHERE d.kind = 'deposit'
  UNION ALL SELECT txn_book, t_avail, -total, 1 FROM gt
  UNION ALL SELECT txn_book, t_escrow, total, 2 FROM gt
  UNION ALL SELECT txn_settle, t_escrow, -total, 1 FROM gt
  UNION ALL SELECT txn_settle, p_avail, total - fee, 2 FROM gt
  UNION ALL SELECT txn_settle, (SELECT fees FROM base), fee, 3 FROM gt WHERE fee > 0;

-- postings in journal time order (ids follow time, as they would have been written), with
-- balance_after the running sum per ledger account
INSERT INTO postings(id, txn_id, ledger_account_id, amount, balance_after) OVERRIDING SYSTEM VALUE
  SELECT (SELECT pb FROM base) + rn, txn, la, amount,
         coalesce((SELECT balance FROM ledger_accounts l WHERE l.id = la), 0)
           + sum(amount) OVER (PARTITION BY la ORDER BY rn)
    FROM (SELECT gp.*, row_number() OVER (ORDER BY j.created_at, gp.txn, gp.leg) AS rn
            FROM gp JOIN gj j ON j.id = gp.txn) q;

UPDATE ledger_accounts l SET balance = l.balance + s.total
  FROM (SELECT la, sum(amount) AS total FROM gp GROUP BY la) s WHERE s.la = l.id;

SELECT setval(pg_get_serial_sequence('trades', 'id'), (SELECT max(id) FROM trades));
SELECT setval(pg_get_serial_sequence('journal_txns', 'id'), (SELECT max(id) FROM journal_txns));
SELECT setval(pg_get_serial_sequence('postings', 'id'), (SELECT max(id) FROM postings));
COMMIT;
ANALYZE;
