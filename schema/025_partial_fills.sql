-- 025_partial_fills: partial fills (issue 15, item 1).  An order may allow them with
-- `min_gpus` (kept in its request); `gpus_filled` counts the GPUs its parts have bought so far
-- (each part its own trade, charged by sl_trade; a failed-over trade's replacement is not
-- counted again).  A fill-or-kill order filled in part is 'filled' with gpus_filled < gpus; a
-- good-till order filled in part stays 'open' with gpus_filled > 0 until the rest is bought,
-- it expires or it is cancelled (src/market/README.md, "Partial fills").

ALTER TABLE orders ADD COLUMN gpus_filled integer NOT NULL DEFAULT 0 CHECK (gpus_filled >= 0);

-- Orders filled before: the GPUs of their first trades (replacements left out).
UPDATE orders o SET gpus_filled = coalesce((SELECT sum(t.gpus) FROM trades t
                                           WHERE t.order_id = o.id
                                             AND t.replaces_trade_id IS NULL), 0)
  WHERE o.state = 'filled';

-- Order, with its trades (oldest first); gpus asked (an order for an amount of NCU: that amount
-- rounded up), min_gpus (null: all or nothing) and gpus_filled.
CREATE OR REPLACE FUNCTION api_order(o orders) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('id', o.id, 'tenant_id', o.tenant_id, 'state', o.state,
          'reason', o.reason, 'request', o.request, 'gpus', o.gpus,
          'min_gpus', (o.request->>'min_gpus')::integer, 'gpus_filled', o.gpus_filled,
          'created_at', sl_ts(o.created_at),
          'updated_at', sl_ts(o.updated_at), 'filled_at', sl_ts(o.filled_at),
          'trades', coalesce((SELECT json_agg(j ORDER BY t.id) FROM trades t, api_trade(t) j
                              WHERE t.order_id = o.id), '[]'::json)) $$;
