-- 026_heartbeat_deadlines: health sensing proportional to what is due, not to the market
-- (issue 11, item 4).  The maintenance step's two pool scans become index range scans:
--
--  * silent pools: `coalesce(last_heartbeat_at, created_at)` of the pools that can go silent
--    (active or draining), so "silent past the timeout" reads only the pools past it;
--  * simulated heartbeats: the beat time of the simulated pools that beat (not retired, not
--    configured silent), so a tick touches only the pools whose last beat is 10 s old.
--
-- The statements that use them are `pools_silent` and `sim_heartbeats` in src/db/dispatch.c;
-- their WHERE clauses repeat these predicates and expressions word for word (PostgreSQL
-- matches a partial index only when the query implies its predicate).

CREATE INDEX pools_heartbeat_due ON pools ((coalesce(last_heartbeat_at, created_at)))
  WHERE status IN ('active', 'draining');

CREATE INDEX pools_sim_beat_due ON pools ((coalesce(last_heartbeat_at, '-infinity'::timestamptz)))
  WHERE adapter_kind = 'sim' AND status <> 'retired'
    AND NOT coalesce((adapter_config->>'silent')::boolean, false);
