-- 009_market_feed.sql — the change feed of the in-memory capacity book (issue 11).
--
-- Every change that can alter a quote appends one row to market_changes in the same
-- transaction: a pool's market attributes (price, count, window, status, health, ...), the
-- booked GPUs of a pool's slots (one row per pool and statement, with the slot range), the
-- latency matrix, the accelerator ratings.  Each suanlid process reads the rows of
-- transactions it may not have seen (xid >= its cursor) and re-reads the named state from the
-- tables, so applying a row twice is harmless and the tables stay the only truth.
--
-- The cursor is the xmin of the snapshot of the last read: every transaction below it had
-- finished, so all of its rows were visible then.  Sequence order is not commit order, so a
-- plain "seq > last" cursor could skip a slower transaction's row; the xid cursor cannot.
-- NOTIFY suanli_market is only a wake-up.  Rows are pruned after a while; a process whose
-- cursor is below the pruned mark reloads the whole book.

CREATE TABLE market_changes (
  seq       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  xid       xid8 NOT NULL DEFAULT pg_current_xact_id(),
  kind      text NOT NULL CHECK (kind IN ('pool', 'slots', 'latency', 'accelerators')),
  pool_id   bigint,
  slot_from timestamptz,
  slot_to   timestamptz,          -- inclusive: the last slot the statement touched
  at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX market_changes_xid ON market_changes(xid);
CREATE INDEX market_changes_at ON market_changes(at);  -- pruning

CREATE TABLE market_feed_state (
  singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  pruned_xid xid8 NOT NULL DEFAULT '0'   -- every row with a smaller xid may be gone
);
INSERT INTO market_feed_state DEFAULT VALUES;

-- Pools: only columns a quote or a listing reads (heartbeats and utilisation are not news).
CREATE FUNCTION sl_feed_pool() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO market_changes(kind, pool_id) VALUES ('pool', NEW.id);
  PERFORM pg_notify('suanli_market', '');
  RETURN NULL;
END $$;
CREATE TRIGGER pools_feed_insert AFTER INSERT ON pools FOR EACH ROW EXECUTE FUNCTION sl_feed_pool();
CREATE TRIGGER pools_feed_update AFTER UPDATE ON pools FOR EACH ROW
  WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.health IS DISTINCT FROM NEW.health
        OR OLD.price_minor IS DISTINCT FROM NEW.price_minor
        OR OLD.gpu_count IS DISTINCT FROM NEW.gpu_count
        OR OLD.available_from IS DISTINCT FROM NEW.available_from
        OR OLD.available_until IS DISTINCT FROM NEW.available_until
        OR OLD.region IS DISTINCT FROM NEW.region
        OR OLD.accelerator_id IS DISTINCT FROM NEW.accelerator_id
        OR OLD.intra_node IS DISTINCT FROM NEW.intra_node
        OR OLD.inter_node IS DISTINCT FROM NEW.inter_node
        OR OLD.inter_node_gbps IS DISTINCT FROM NEW.inter_node_gbps
        OR OLD.owner_id IS DISTINCT FROM NEW.owner_id
        OR OLD.name IS DISTINCT FROM NEW.name
        OR OLD.gpus_per_node IS DISTINCT FROM NEW.gpus_per_node
        OR OLD.adapter_kind IS DISTINCT FROM NEW.adapter_kind)
  EXECUTE FUNCTION sl_feed_pool();

-- Booked slots: one row per pool and statement (a 48-hour booking is one row, not 48).
CREATE FUNCTION sl_feed_slots() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO market_changes(kind, pool_id, slot_from, slot_to)
  SELECT 'slots', pool_id, min(slot), max(slot) FROM changed GROUP BY pool_id;
  IF FOUND THEN PERFORM pg_notify('suanli_market', ''); END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER pool_slots_feed_insert AFTER INSERT ON pool_slots
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION sl_feed_slots();
CREATE TRIGGER pool_slots_feed_update AFTER UPDATE ON pool_slots
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION sl_feed_slots();
CREATE TRIGGER pool_slots_feed_delete AFTER DELETE ON pool_slots
  REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION sl_feed_slots();

-- The latency matrix and the ratings: one row per statement that really changed something
-- (the ratings are rewritten with the same values at every start).
CREATE FUNCTION sl_feed_whole() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO market_changes(kind) VALUES (TG_ARGV[0]);
  PERFORM pg_notify('suanli_market', '');
  RETURN NULL;
END $$;
CREATE TRIGGER region_latency_feed_insert AFTER INSERT OR DELETE ON region_latency
  FOR EACH STATEMENT EXECUTE FUNCTION sl_feed_whole('latency');
CREATE TRIGGER region_latency_feed_update AFTER UPDATE ON region_latency FOR EACH ROW
  WHEN (OLD.rtt_us IS DISTINCT FROM NEW.rtt_us OR OLD.from_region IS DISTINCT FROM NEW.from_region
        OR OLD.to_region IS DISTINCT FROM NEW.to_region)
  EXECUTE FUNCTION sl_feed_whole('latency');
CREATE TRIGGER accelerators_feed_insert AFTER INSERT OR DELETE ON accelerators
  FOR EACH STATEMENT EXECUTE FUNCTION sl_feed_whole('accelerators');
CREATE TRIGGER accelerators_feed_update AFTER UPDATE ON accelerators FOR EACH ROW
  WHEN (OLD.score_milli IS DISTINCT FROM NEW.score_milli
        OR OLD.memory_gb IS DISTINCT FROM NEW.memory_gb OR OLD.id IS DISTINCT FROM NEW.id)
  EXECUTE FUNCTION sl_feed_whole('accelerators');
