-- 019_registry: any accelerator, any region (issue 13).
--
--  * An open accelerator registry: providers propose a model with its published figures, an
--    admin approves (the model joins the catalog, rated by the same formula) or rejects it
--    with a reason.  Families and aliases ("H100" = every H100 variant) name sets of models in
--    order specs, quotes, offers and listings.  The catalog shipped with a release reaches
--    existing databases through generated data migrations that upsert (020_catalog.sql).
--  * Drain, then retire: a draining pool takes no new trades and honours its bookings; a
--    retire asked while bookings remain is recorded (retire_at) and carried out by the
--    maintenance worker once the last booking has ended.
--  * Latency for every region: regions carry coordinates; a great-circle estimate (a fitted
--    fibre factor and fixed overhead, latency_model) fills every pair the measured matrix
--    lacks; region_rtt is the one matrix everything reads, each entry marked measured or
--    estimated.  Measured entries (PUT /v1/latency) always win.

-- ---------------------------------------------------------------- accelerators
ALTER TABLE accelerators
  ADD COLUMN family text NOT NULL DEFAULT '' CHECK (length(family) <= 64),
  ADD COLUMN origin text NOT NULL DEFAULT 'catalog' CHECK (origin IN ('catalog', 'registry'));
-- Names are matched case-insensitively, so two ids may not differ by case alone.
CREATE UNIQUE INDEX accelerators_id_ci ON accelerators (lower(id));

-- Extra names of models: the model and family names of every variant (spaces written as
-- '-': "Ascend 910B" is "Ascend-910B"), and names clouds use ("RTXA6000").  One alias may
-- name several models (a family).  Names have the form of ids (no spaces), so that order
-- specs may carry them.
CREATE TABLE accelerator_aliases (
  alias           text NOT NULL CHECK (alias ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  accelerator_id  text NOT NULL REFERENCES accelerators(id),
  origin          text NOT NULL DEFAULT 'catalog' CHECK (origin IN ('catalog', 'registry')),
  PRIMARY KEY (alias, accelerator_id)
);
CREATE INDEX accelerator_aliases_ci ON accelerator_aliases (lower(alias));
CREATE INDEX accelerator_aliases_model ON accelerator_aliases (accelerator_id);

-- Every name an order spec, a quote or a filter may use, lowercased: each model's id, and
-- each alias.  A name resolves to the union of the models it names.
CREATE VIEW accelerator_names AS
  SELECT lower(id) AS name, id AS accelerator_id FROM accelerators
  UNION
  SELECT lower(alias), accelerator_id FROM accelerator_aliases;

-- The capacity book reloads its catalog (names included) on an 'accelerators' change.
CREATE TRIGGER accelerator_aliases_feed AFTER INSERT OR UPDATE OR DELETE ON accelerator_aliases
  FOR EACH STATEMENT EXECUTE FUNCTION sl_feed_whole('accelerators');

-- A provider's proposal of a model the catalog lacks.  Figures as published (NULL unknown),
-- with the URL they come from; an admin decides.
CREATE TABLE accelerator_proposals (
  id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  proposer_id         bigint NOT NULL REFERENCES accounts(id),
  state               text NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'approved', 'rejected', 'withdrawn')),
  accelerator_id      text NOT NULL CHECK (accelerator_id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  model               text NOT NULL CHECK (length(model) BETWEEN 1 AND 64),
  variant             text NOT NULL DEFAULT '' CHECK (length(variant) <= 64),
  vendor              text NOT NULL CHECK (length(vendor) BETWEEN 1 AND 64),
  family              text NOT NULL DEFAULT '' CHECK (length(family) <= 64),
  memory_gb           integer CHECK (memory_gb > 0),
  memory_type         text CHECK (length(memory_type) <= 64),
  mem_bandwidth_gbps  numeric CHECK (mem_bandwidth_gbps > 0),
  fp16_dense_tflops   numeric CHECK (fp16_dense_tflops > 0),
  bf16_dense_tflops   numeric CHECK (bf16_dense_tflops > 0),
  fp32_tflops         numeric CHECK (fp32_tflops > 0),
  interconnect        text CHECK (length(interconnect) <= 200),
  interconnect_gbps   numeric CHECK (interconnect_gbps > 0),
  source_url          text NOT NULL CHECK (source_url ~ '^https?://[^[:space:]]+$'
                                       AND length(source_url) <= 2048),
  notes               text NOT NULL DEFAULT '' CHECK (length(notes) <= 2000),
  aliases             text[] NOT NULL DEFAULT '{}',
  reason              text NOT NULL DEFAULT '' CHECK (length(reason) <= 2000),
  decided_by          bigint REFERENCES accounts(id),
  decided_at          timestamptz,
  created_at          timestamptz NOT NULL DEFAULT sl_now(),
  CONSTRAINT accelerator_proposals_decided CHECK ((state = 'pending') = (decided_at IS NULL)),
  CONSTRAINT accelerator_proposals_reason CHECK (state <> 'rejected' OR length(reason) > 0)
);
CREATE INDEX accelerator_proposals_proposer ON accelerator_proposals (proposer_id, id);
CREATE INDEX accelerator_proposals_pending ON accelerator_proposals (id) WHERE state = 'pending';
-- One open proposal per model id at a time.
CREATE UNIQUE INDEX accelerator_proposals_one_pending ON accelerator_proposals (lower(accelerator_id))
  WHERE state = 'pending';

-- Approve a pending proposal: the model joins the catalog (origin 'registry') with its model,
-- family and extra names as aliases, in one statement.  Outcomes: 'ok', 'not_pending' (with
-- the state), 'exists' (the id is taken, case-insensitively), 'duplicate' (the model and
-- variant are already in the catalog, as out_existing), 'alias_is_model' (an alias is another
-- model's id).  The caller rescores the catalog in the same transaction.
CREATE FUNCTION sl_accelerator_approve(p_proposal bigint, p_admin bigint,
                                       OUT out_outcome text, OUT out_existing text)
LANGUAGE plpgsql AS $$
DECLARE
  v accelerator_proposals%ROWTYPE;
  v_family text;
BEGIN
  SELECT * INTO v FROM accelerator_proposals WHERE id = p_proposal FOR UPDATE;
  IF NOT FOUND THEN out_outcome := 'not_found'; RETURN; END IF;
  IF v.state <> 'pending' THEN out_outcome := 'not_pending'; out_existing := v.state; RETURN; END IF;
  SELECT id INTO out_existing FROM accelerators WHERE lower(id) = lower(v.accelerator_id);
  IF FOUND THEN out_outcome := 'exists'; RETURN; END IF;
  SELECT id INTO out_existing FROM accelerators WHERE model = v.model AND variant = v.variant;
  IF FOUND THEN out_outcome := 'duplicate'; RETURN; END IF;
  SELECT a.id INTO out_existing FROM accelerators a
   WHERE lower(a.id) IN (SELECT lower(x) FROM unnest(v.aliases) x) LIMIT 1;
  IF FOUND THEN out_outcome := 'alias_is_model'; RETURN; END IF;
  v_family := CASE WHEN v.family = '' THEN v.model ELSE v.family END;
  INSERT INTO accelerators (id, model, variant, vendor, memory_gb, memory_type,
                            mem_bandwidth_gbps, fp16_dense_tflops, bf16_dense_tflops, fp32_tflops,
                            interconnect, interconnect_gbps, source, notes, family, origin)
  VALUES (v.accelerator_id, v.model, v.variant, v.vendor, v.memory_gb, v.memory_type,
          v.mem_bandwidth_gbps, v.fp16_dense_tflops, v.bf16_dense_tflops, v.fp32_tflops,
          v.interconnect, v.interconnect_gbps, v.source_url,
          concat_ws('; ', nullif(v.notes, ''), 'proposed by account ' || v.proposer_id
                    || ', approved by account ' || p_admin || ' (proposal ' || v.id || ')'),
          v_family, 'registry');
  INSERT INTO accelerator_aliases (alias, accelerator_id, origin)
    SELECT DISTINCT n, v.accelerator_id, 'registry'
      FROM unnest(ARRAY[v.model, v_family] || v.aliases) m,
           regexp_replace(trim(m), '\s+', '-', 'g') n
     WHERE lower(n) <> lower(v.accelerator_id) AND n ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'
    ON CONFLICT DO NOTHING;
  UPDATE accelerator_proposals SET state = 'approved', decided_by = p_admin, decided_at = sl_now()
   WHERE id = p_proposal;
  out_outcome := 'ok';
END $$;

-- ---------------------------------------------------------------- drain, then retire
-- A retire asked while bookings remain: the pool drains until retire_at (the end of its last
-- booking), then the maintenance worker retires it.
ALTER TABLE pools ADD COLUMN retire_at timestamptz;
CREATE INDEX pools_retiring ON pools (id) WHERE retire_at IS NOT NULL;
ALTER TABLE pools ADD CONSTRAINT pools_retire_only_draining
  CHECK (retire_at IS NULL OR status = 'draining');

-- Leaving the draining state (back to active, offline, or retired) cancels a pending retire.
CREATE FUNCTION sl_pool_retire_clear() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status <> 'draining' THEN NEW.retire_at := NULL; END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER pools_retire_clear BEFORE UPDATE OF status ON pools
  FOR EACH ROW EXECUTE FUNCTION sl_pool_retire_clear();

-- The end of a pool's last booking in the current hour or later (NULL: none).
CREATE FUNCTION sl_pool_booked_until(p_pool bigint) RETURNS timestamptz
  LANGUAGE sql STABLE AS $$
  SELECT max(slot) + interval '1 hour' FROM pool_slots
   WHERE pool_id = p_pool AND booked > 0 AND slot >= date_trunc('hour', sl_now())
$$;

-- Retire pool p_pool (of owner p_owner; NULL = any): at once when nothing is booked from the
-- current hour on, else drain it until its last booking ends (retire_at).  The pool row is
-- locked first and the bookings read after, so a trade committing meanwhile is seen (and no
-- new one can start: sl_book wants an active pool).  out_status: the new status, NULL when
-- the pool is unknown, not the owner's or already retired; out_until: the last booking's end.
CREATE FUNCTION sl_pool_retire(p_pool bigint, p_owner bigint,
                               OUT out_status text, OUT out_until timestamptz)
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM pools WHERE id = p_pool AND (p_owner IS NULL OR owner_id = p_owner)
     AND status <> 'retired' FOR UPDATE;
  IF NOT FOUND THEN RETURN; END IF;
  out_until := sl_pool_booked_until(p_pool);
  out_status := CASE WHEN out_until IS NULL THEN 'retired' ELSE 'draining' END;
  UPDATE pools SET status = out_status, retire_at = out_until, updated_at = sl_now()
   WHERE id = p_pool;
END $$;

-- The maintenance worker's step: retire every pool drained for retirement that holds no
-- booking from the current hour on any more (its last booking ended, or was cancelled); keep
-- retire_at at the end of the last booking for the others.  Returns the pools retired.
CREATE FUNCTION sl_pools_retire_due() RETURNS SETOF bigint LANGUAGE plpgsql AS $$
DECLARE v_id bigint; v_at timestamptz; v_until timestamptz;
BEGIN
  FOR v_id, v_at IN SELECT id, retire_at FROM pools
                     WHERE status = 'draining' AND retire_at IS NOT NULL
                     ORDER BY id FOR UPDATE SKIP LOCKED LOOP
    v_until := sl_pool_booked_until(v_id);
    IF v_until IS NULL THEN
      UPDATE pools SET status = 'retired', updated_at = sl_now() WHERE id = v_id;
      RETURN NEXT v_id;
    ELSIF v_until IS DISTINCT FROM v_at THEN
      UPDATE pools SET retire_at = v_until WHERE id = v_id;
    END IF;
  END LOOP;
END $$;

-- ---------------------------------------------------------------- coordinates and RTT estimates
ALTER TABLE regions
  ADD COLUMN lat double precision CHECK (lat BETWEEN -90 AND 90),
  ADD COLUMN lon double precision CHECK (lon BETWEEN -180 AND 180),
  ADD COLUMN location text NOT NULL DEFAULT '' CHECK (length(location) <= 200),
  ADD CONSTRAINT regions_coordinates CHECK ((lat IS NULL) = (lon IS NULL));

-- The estimate, one row: rtt_us = overhead_us + ns_per_km * great_circle_km / 1000, fitted to
-- the measured AWS matrix by tools/latency/fit_rtt.py (data migrations write it, with the
-- fit's error).  No row: no estimates.
CREATE TABLE latency_model (
  singleton          boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  overhead_us        bigint NOT NULL CHECK (overhead_us BETWEEN 0 AND 1000000),
  ns_per_km          bigint NOT NULL CHECK (ns_per_km BETWEEN 1 AND 1000000),
  fibre_factor       numeric NOT NULL,
  fibre_km_per_ms    numeric NOT NULL,
  pairs              integer NOT NULL,
  regions            integer NOT NULL,
  median_error_ms    numeric NOT NULL,
  p90_error_ms       numeric NOT NULL,
  max_error_ms       numeric NOT NULL,
  loo_median_error_ms numeric NOT NULL,
  loo_p90_error_ms   numeric NOT NULL,
  fitted_on          text NOT NULL,
  updated_at         timestamptz NOT NULL DEFAULT now()
);

-- Great-circle distance in km (haversine, mean Earth radius 6371.0088 km).
CREATE FUNCTION sl_gc_km(lat1 double precision, lon1 double precision,
                         lat2 double precision, lon2 double precision) RETURNS double precision
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT 2 * 6371.0088 * asin(least(1.0, sqrt(
           sin(radians(lat2 - lat1) / 2) ^ 2
           + cos(radians(lat1)) * cos(radians(lat2)) * sin(radians(lon2 - lon1) / 2) ^ 2)))
$$;

-- The one latency matrix: every measured entry, and an estimate for every other ordered pair
-- of regions that both have coordinates.
CREATE VIEW region_rtt AS
  SELECT l.from_region, l.to_region, l.rtt_us, 'measured'::text AS source, l.updated_at
    FROM region_latency l
  UNION ALL
  SELECT f.code, t.code,
         m.overhead_us + round(m.ns_per_km * sl_gc_km(f.lat, f.lon, t.lat, t.lon) / 1000.0)::bigint,
         'estimated', m.updated_at
    FROM regions f
    JOIN regions t ON t.lat IS NOT NULL
    CROSS JOIN latency_model m
   WHERE f.lat IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM region_latency x
                      WHERE x.from_region = f.code AND x.to_region = t.code);

-- New coordinates or a new fit change estimates: the book re-reads the matrix.
CREATE TRIGGER regions_feed_coordinates AFTER UPDATE ON regions FOR EACH ROW
  WHEN (OLD.lat IS DISTINCT FROM NEW.lat OR OLD.lon IS DISTINCT FROM NEW.lon)
  EXECUTE FUNCTION sl_feed_whole('latency');
CREATE TRIGGER regions_feed_insert AFTER INSERT ON regions FOR EACH ROW
  WHEN (NEW.lat IS NOT NULL)
  EXECUTE FUNCTION sl_feed_whole('latency');
CREATE TRIGGER latency_model_feed AFTER INSERT OR UPDATE OR DELETE ON latency_model
  FOR EACH STATEMENT EXECUTE FUNCTION sl_feed_whole('latency');
