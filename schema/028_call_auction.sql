-- 028_call_auction: periodic clearing (issue 15).  An order may opt in to the call auction
-- (body "clearing": "call", good_till and gang only): it then rests until the periodic auction
-- of its clearing region (its origin_region, or '*' when it names none) assigns the batch of
-- resting call orders to capacity at once (src/trading/clearing.c, src/market/clearing.c).
--
-- orders.clearing          'continuous' (every order so far) or 'call'
-- orders.clearing_region   the auction group of a call order; NULL for continuous orders
-- orders.clearing_rounds   auctions the order took part in without being placed: its
--                          priority is 1 + this (the fairness rule of src/trading/README.md)
-- clearing_runs            one row per clearing region: the lease that lets one process of
--                          any number clear a region at most once per interval (claimed under
--                          pg_try_advisory_xact_lock, in the transaction that books the round)

ALTER TABLE orders
  ADD COLUMN clearing text NOT NULL DEFAULT 'continuous' CHECK (clearing IN ('continuous', 'call')),
  ADD COLUMN clearing_region text,
  ADD COLUMN clearing_rounds integer NOT NULL DEFAULT 0 CHECK (clearing_rounds >= 0),
  ADD CONSTRAINT orders_call_rests
    CHECK (clearing = 'continuous' OR (time_in_force = 'good_till' AND clearing_region IS NOT NULL));

-- the resting call orders of a region, oldest first (the auction's batch)
CREATE INDEX orders_call_open ON orders(clearing_region, id)
  WHERE state = 'open' AND clearing = 'call';

CREATE TABLE clearing_runs (
  region       text PRIMARY KEY,          -- a clearing region: a region code, or '*'
  last_run_at  timestamptz NOT NULL,
  runs         bigint NOT NULL DEFAULT 0, -- rounds run
  last_orders  integer NOT NULL DEFAULT 0, -- call orders in the last round
  last_placed  integer NOT NULL DEFAULT 0  -- of which traded
);

-- Order: the API object (restated from 025_partial_fills.sql, its newest text, with the
-- clearing mode).
CREATE OR REPLACE FUNCTION api_order(o orders) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('id', o.id, 'tenant_id', o.tenant_id, 'state', o.state,
          'reason', o.reason, 'request', o.request, 'gpus', o.gpus,
          'min_gpus', (o.request->>'min_gpus')::integer, 'gpus_filled', o.gpus_filled,
          'clearing', o.clearing, 'clearing_region', o.clearing_region,
          'clearing_rounds', o.clearing_rounds,
          'created_at', sl_ts(o.created_at),
          'updated_at', sl_ts(o.updated_at), 'filled_at', sl_ts(o.filled_at),
          'trades', coalesce((SELECT json_agg(j ORDER BY t.id) FROM trades t, api_trade(t) j
                              WHERE t.order_id = o.id), '[]'::json)) $$;
