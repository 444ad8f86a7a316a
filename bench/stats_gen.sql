-- bench/stats_gen.sql — a month of market activity on the demo seed, for bench/stats_bench.sh.
--
-- BENCH DATA ONLY: written as a superuser with session_replication_role = replica (triggers and
-- foreign-key checks off, CHECK constraints still on) so that a month takes seconds: no journal
-- postings and no signed ledger entries for these trades (the dashboard's queries do not read
-- them); the rollup of schema/008 is filled the way its backfill does.  Per trade: its filled
-- order, a reservation (completed when its window has ended, else active or pending) and a
-- done `reserve` dispatch job with a lag of 0.2..30 s.  Plus killed orders naming a region with
-- a reason, and bookings of the next 14 days (pool_slots) for the utilization grid.
--
-- psql variables: trades (spread evenly over the last 30 days and over the seeded pools).
\set ON_ERROR_STOP 1
BEGIN;
SET LOCAL session_replication_role = replica;

INSERT INTO accounts(kind, name) SELECT 'tenant', 'bench-st' || g FROM generate_series(1, 500) g;
CREATE TEMP TABLE ten ON COMMIT DROP AS
  SELECT row_number() OVER (ORDER BY id) - 1 AS rn, id FROM accounts WHERE name LIKE 'bench-st%';
CREATE TEMP TABLE pl ON COMMIT DROP AS
  SELECT row_number() OVER (ORDER BY id) - 1 AS rn, id, owner_id, region, accelerator_id, price_minor, gpu_count
    FROM pools WHERE status = 'active';
CREATE TEMP TABLE g ON COMMIT DROP AS
  SELECT i, date_trunc('second', now() - interval '30 days' + (i::float8 / :trades) * interval '30 days') AS at,
         (i % (SELECT count(*) FROM ten)) AS t, (i * 7919 % (SELECT count(*) FROM pl)) AS p,
         1 + i % 4 AS gpus, 1 + i % 6 AS hours
    FROM generate_series(0, :trades - 1) i;

CREATE TEMP TABLE base ON COMMIT DROP AS
  SELECT (SELECT coalesce(max(id), 0) FROM orders) AS ob, (SELECT coalesce(max(id), 0) FROM trades) AS tb,
         (SELECT coalesce(max(id), 0) FROM reservations) AS rb;

INSERT INTO orders(id, tenant_id, state, request, gpus, duration_hours, earliest_start, latest_start,
                   time_in_force, regions, created_at, updated_at, filled_at)
  OVERRIDING SYSTEM VALUE
  SELECT b.ob + 1 + g.i, ten.id, 'filled', '{"bench": true}', g.gpus, g.hours,
         date_trunc('hour', g.at) + interval '1 hour', date_trunc('hour', g.at) + interval '1 hour', 'fill_or_kill',
         ARRAY[pl.region], g.at, g.at, g.at
    FROM g CROSS JOIN base b JOIN ten ON ten.rn = g.t JOIN pl ON pl.rn = g.p;

INSERT INTO trades(id, order_id, tenant_id, provider_id, pool_id, region, accelerator_id, gpus, start_at, end_at,
                   unit_price_minor, total_minor, fee_bp, fee_minor, state, created_at, settled_at)
  OVERRIDING SYSTEM VALUE
  SELECT b.tb + 1 + g.i, b.ob + 1 + g.i, ten.id, pl.owner_id, pl.id, pl.region, pl.accelerator_id, g.gpus,
         date_trunc('hour', g.at) + interval '1 hour', date_trunc('hour', g.at) + (1 + g.hours) * interval '1 hour',
         pl.price_minor, g.gpus * pl.price_minor * g.hours, 250, g.gpus * pl.price_minor * g.hours * 250 / 10000,
         CASE WHEN date_trunc('hour', g.at) + (1 + g.hours) * interval '1 hour' < now() THEN 'settled' ELSE 'booked' END,
         g.at, CASE WHEN date_trunc('hour', g.at) + (1 + g.hours) * interval '1 hour' < now()
                    THEN date_trunc('hour', g.at) + (1 + g.hours) * interval '1 hour' END
    FROM g CROSS JOIN base b JOIN ten ON ten.rn = g.t JOIN pl ON pl.rn = g.p;

INSERT INTO reservations(id, trade_id, pool_id, state, created_at, updated_at)
  OVERRIDING SYSTEM VALUE
  SELECT b.rb + 1 + g.i, b.tb + 1 + g.i, pl.id,
         CASE WHEN date_trunc('hour', g.at) + (1 + g.hours) * interval '1 hour' < now() THEN 'completed'
              WHEN date_trunc('hour', g.at) + interval '1 hour' <= now() THEN 'active' ELSE 'dispatched' END,
         g.at, least(now(), date_trunc('hour', g.at) + (1 + g.hours) * interval '1 hour')
    FROM g CROSS JOIN base b JOIN pl ON pl.rn = g.p;

SELECT setval(pg_get_serial_sequence('orders', 'id'), (SELECT max(id) FROM orders)),
       setval(pg_get_serial_sequence('trades', 'id'), (SELECT max(id) FROM trades)),
       setval(pg_get_serial_sequence('reservations', 'id'), (SELECT max(id) FROM reservations)) \g /dev/null

INSERT INTO dispatch_jobs(reservation_id, action, state, attempts, next_attempt_at, deadline, created_at,
                          updated_at, done_at)
  SELECT b.rb + 1 + g.i, 'reserve', 'done', 1 + (g.i % 10 = 0)::int, g.at, g.at + interval '1 hour', g.at,
         g.at + (0.2 + (g.i % 300) / 10.0) * interval '1 second', g.at + (0.2 + (g.i % 300) / 10.0) * interval '1 second'
    FROM g CROSS JOIN base b;

INSERT INTO trade_rollup AS t (region, accelerator_id, shard, trades, gpu_hours, total_minor, fee_minor)
  SELECT region, accelerator_id, (id % 16)::smallint, count(*),
         sum(gpus::bigint * (extract(epoch FROM end_at - start_at)::bigint / 3600)), sum(total_minor), sum(fee_minor)
    FROM trades WHERE id > (SELECT tb FROM base) GROUP BY 1, 2, 3
  ON CONFLICT (region, accelerator_id, shard) DO UPDATE
    SET trades = t.trades + EXCLUDED.trades, gpu_hours = t.gpu_hours + EXCLUDED.gpu_hours,
        total_minor = t.total_minor + EXCLUDED.total_minor, fee_minor = t.fee_minor + EXCLUDED.fee_minor;

-- killed orders naming a region (one in ten trades), with the matcher's kind of reason
INSERT INTO orders(tenant_id, state, request, gpus, duration_hours, earliest_start, latest_start, time_in_force,
                   regions, reason, created_at, updated_at)
  SELECT ten.id, 'killed', '{"bench": true}', 64, 4, date_trunc('hour', g.at) + interval '1 hour',
         date_trunc('hour', g.at) + interval '1 hour', 'fill_or_kill', ARRAY[pl.region],
         (ARRAY['no placement for the whole order: capacity', 'no placement for the whole order: price',
                'the available balance does not cover the total'])[1 + g.i % 3], g.at, g.at
    FROM g JOIN ten ON ten.rn = g.t JOIN pl ON pl.rn = g.p WHERE g.i % 10 = 0;

-- bookings of the next 14 days: every pool about a third booked in a pattern
INSERT INTO pool_slots(pool_id, slot, capacity, booked)
  SELECT pl.id, s, pl.gpu_count, (pl.gpu_count * ((pl.rn + extract(hour FROM s)::int) % 3)) / 3
    FROM pl CROSS JOIN generate_series(date_trunc('hour', now()), date_trunc('hour', now()) + interval '335 hours',
                                       interval '1 hour') s
  ON CONFLICT (pool_id, slot) DO NOTHING;
COMMIT;
ANALYZE;
