-- 029_ncu_partial_fills: partial fills of orders for an amount of NCU (issue 15).  An order for
-- `ncu` may allow a part with `min_ncu_filled` (kept in its request); `ncu_filled_milli` counts
-- the NCU (thousandths) its parts have bought so far, as `gpus_filled` counts their GPUs
-- (schema/025): a fill-or-kill order filled in part is 'filled' with ncu_filled < ncu, a
-- good-till one stays 'open' with ncu_filled > 0 and its rest is matched later
-- (src/market/README.md, "Partial fills of NCU orders").

ALTER TABLE orders ADD COLUMN ncu_filled_milli bigint NOT NULL DEFAULT 0
  CHECK (ncu_filled_milli >= 0);

-- Orders for ncu filled before: the NCU of their first trades (GPUs x the model's rating).
UPDATE orders o SET ncu_filled_milli = coalesce((
    SELECT sum(t.gpus::bigint * coalesce(a.score_milli, 0)) FROM trades t
      JOIN pools p ON p.id = t.pool_id JOIN accelerators a ON a.id = p.accelerator_id
     WHERE t.order_id = o.id AND t.replaces_trade_id IS NULL), 0)
  WHERE o.state = 'filled' AND o.request ? 'ncu';

-- Order: the API object (restated from 028_call_auction.sql, its newest text, with the NCU
-- asked, the least part allowed and the NCU bought — all null for an order for gpus).
CREATE OR REPLACE FUNCTION api_order(o orders) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('id', o.id, 'tenant_id', o.tenant_id, 'state', o.state,
          'reason', o.reason, 'request', o.request, 'gpus', o.gpus,
          'min_gpus', (o.request->>'min_gpus')::integer, 'gpus_filled', o.gpus_filled,
          'ncu_filled', CASE WHEN o.request ? 'ncu' AND o.request->>'ncu' IS NOT NULL
                             THEN sl_milli(o.ncu_filled_milli) END,
          'clearing', o.clearing, 'clearing_region', o.clearing_region,
          'clearing_rounds', o.clearing_rounds,
          'created_at', sl_ts(o.created_at),
          'updated_at', sl_ts(o.updated_at), 'filled_at', sl_ts(o.filled_at),
          'trades', coalesce((SELECT json_agg(j ORDER BY t.id) FROM trades t, api_trade(t) j
                              WHERE t.order_id = o.id), '[]'::json)) $$;
