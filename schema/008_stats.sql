-- 008_stats: what the dashboard, the market view and /metrics read, kept cheap as the ledger
-- grows.  Bounded-window queries get indexes; all-time counters (Prometheus counters of
-- trades, GPU-hours and money per region and model) come from a rollup kept by a trigger in
-- the trade's own transaction, so they never drift from the trades table.

-- Windows over recent trades per region / per model (region overview, price history).
CREATE INDEX trades_region_created ON trades(region, created_at);
CREATE INDEX trades_accel_created ON trades(accelerator_id, created_at, id);
-- Orders of the live period (filled / killed / resting counts, top non-fill reasons).
CREATE INDEX orders_created ON orders(created_at);
-- Dispatch lag and outcomes over the last day.
CREATE INDEX dispatch_jobs_updated ON dispatch_jobs(updated_at);
CREATE INDEX reservations_updated ON reservations(updated_at);
-- Live reservations (the dashboard's and /metrics' gauges) without reading finished ones.
CREATE INDEX reservations_live ON reservations(pool_id) WHERE state IN ('pending', 'dispatched', 'active');
-- Failovers and refunds of the last day with their causes.
CREATE INDEX reservation_events_at ON reservation_events(at);

-- All-time trade totals per (region, model), sharded so that concurrent trades of one region
-- and model do not queue on one row: readers sum the shards.
CREATE TABLE trade_rollup (
  region          text NOT NULL,
  accelerator_id  text NOT NULL,
  shard           smallint NOT NULL CHECK (shard BETWEEN 0 AND 15),
  trades          bigint NOT NULL DEFAULT 0,
  gpu_hours       bigint NOT NULL DEFAULT 0,
  total_minor     bigint NOT NULL DEFAULT 0,
  fee_minor       bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (region, accelerator_id, shard)
);

CREATE FUNCTION sl_trade_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO trade_rollup AS t (region, accelerator_id, shard, trades, gpu_hours, total_minor, fee_minor)
  VALUES (NEW.region, NEW.accelerator_id, (NEW.id % 16)::smallint, 1,
          NEW.gpus::bigint * (extract(epoch FROM NEW.end_at - NEW.start_at)::bigint / 3600),
          NEW.total_minor, NEW.fee_minor)
  ON CONFLICT (region, accelerator_id, shard) DO UPDATE
    SET trades = t.trades + 1, gpu_hours = t.gpu_hours + EXCLUDED.gpu_hours,
        total_minor = t.total_minor + EXCLUDED.total_minor,
        fee_minor = t.fee_minor + EXCLUDED.fee_minor;
  RETURN NULL;
END $$;
CREATE TRIGGER trades_rollup AFTER INSERT ON trades FOR EACH ROW EXECUTE FUNCTION sl_trade_rollup();

-- Trades recorded before this migration.
INSERT INTO trade_rollup (region, accelerator_id, shard, trades, gpu_hours, total_minor, fee_minor)
SELECT region, accelerator_id, (id % 16)::smallint, count(*),
       sum(gpus::bigint * (extract(epoch FROM end_at - start_at)::bigint / 3600)),
       sum(total_minor), sum(fee_minor)
  FROM trades GROUP BY 1, 2, 3;
