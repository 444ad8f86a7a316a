-- deploy/seed_demo.sql — the demo market: regions, latency matrix, provider accounts and
-- several hundred pools built from the real data in data/ (see data/SOURCES.md,
-- "How Suanli uses these files", which describes every transformation made here).
--
-- Run from the project root, on a database that suanlid has migrated (`suanlid migrate`):
--
--   psql -v ON_ERROR_STOP=1 -d "$SUANLI_DATABASE_URL" -f deploy/seed_demo.sql
--
-- deploy/quickstart.sh runs it only when the pools table is empty.  Running it twice is
-- harmless: existing regions, latencies, accounts and operator regions are kept
-- (ON CONFLICT DO NOTHING) and a pool is not added again when its owner already has a pool
-- of the same name.  Everything happens in one transaction.

\set ON_ERROR_STOP 1
\set QUIET 1
BEGIN;
-- Whole-hour availability windows must be whole hours in UTC (see the CHECKs on pools).
SET LOCAL TimeZone = 'UTC';

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM accelerators) THEN
    RAISE EXCEPTION 'the accelerators table is empty: run `suanlid migrate` before seeding';
  END IF;
END $$;

-- ---------------------------------------------------------------- staging (raw CSV text)
CREATE TEMP TABLE stage_latency (
  from_region text, to_region text, rtt_ms numeric, cloud text, statistic text
) ON COMMIT DROP;
\copy stage_latency FROM 'data/region_latency.csv' WITH (FORMAT csv, HEADER true)

CREATE TEMP TABLE stage_catalog (
  cloud text, region text, zone text, instance_type text, accelerator text,
  accelerator_count text, vcpus text, memory_gib text, price_per_hour text,
  spot_price_per_hour text
) ON COMMIT DROP;
\copy stage_catalog FROM 'data/catalog_gpu_prices.csv' WITH (FORMAT csv, HEADER true)

-- ---------------------------------------------------------------- regions
-- Latency-matrix regions are AWS regions: code = name = the AWS code, operator 'aws'.
CREATE TEMP TABLE seed_latency_regions ON COMMIT DROP AS
  SELECT from_region AS code FROM stage_latency
  UNION
  SELECT to_region FROM stage_latency;

-- Catalog regions: code = the region lowercased, every run of characters outside [a-z0-9-]
-- turned into one '-', leading/trailing '-' removed; RunPod's country codes get 'runpod-'.
-- When two clouds use the same code, AWS keeps it (it is the latency matrix's region) and
-- every other cloud's region gets '<cloud>-' in front (lambda-us-east-1, gcp-us-central1,
-- nebius-us-central1).
CREATE TEMP TABLE seed_catalog_regions ON COMMIT DROP AS
  WITH base AS (
    SELECT DISTINCT cloud, region,
           CASE WHEN cloud = 'runpod' THEN 'runpod-' ELSE '' END ||
           trim(BOTH '-' FROM regexp_replace(lower(region), '[^a-z0-9-]+', '-', 'g')) AS bare
    FROM stage_catalog
  ), users AS (
    SELECT bare, cloud FROM base
    UNION
    SELECT code, 'aws' FROM seed_latency_regions
  ), shared AS (
    SELECT bare FROM users GROUP BY bare HAVING count(DISTINCT cloud) > 1
  )
  SELECT b.cloud, b.region,
         CASE WHEN b.cloud <> 'aws' AND b.bare IN (SELECT bare FROM shared)
              THEN b.cloud || '-' || b.bare ELSE b.bare END AS code,
         CASE WHEN b.cloud = 'aws' THEN b.bare ELSE b.cloud || ' ' || b.region END AS name
  FROM base b;

DO $$
DECLARE dup text;
BEGIN
  SELECT string_agg(code, ', ') INTO dup FROM (
    SELECT code FROM seed_catalog_regions GROUP BY code HAVING count(*) > 1
    UNION ALL
    SELECT c.code FROM seed_catalog_regions c JOIN seed_latency_regions l USING (code)
    WHERE c.cloud <> 'aws') d;
  IF dup IS NOT NULL THEN
    RAISE EXCEPTION 'region codes are not unique across clouds: %', dup;
  END IF;
END $$;

INSERT INTO regions (code, name, tier, operator)
  SELECT code, code, 'cloud', 'aws' FROM seed_latency_regions
  UNION
  SELECT code, name, 'cloud', cloud FROM seed_catalog_regions
  ON CONFLICT (code) DO NOTHING;

-- Coordinates (data/region_locations.csv) of regions that have none: the RTT estimate
-- (schema/019, region_rtt) covers every pair of located regions the matrix lacks.
CREATE TEMP TABLE stage_locations (
  code text, cloud text, region text, location text, lat text, lon text, "precision" text,
  source text
) ON COMMIT DROP;
\copy stage_locations FROM 'data/region_locations.csv' WITH (FORMAT csv, HEADER true)
UPDATE regions r SET lat = l.lat::double precision, lon = l.lon::double precision,
       location = CASE WHEN r.location = '' THEN l.location ELSE r.location END
  FROM stage_locations l
 WHERE r.code = l.code AND l.lat <> '' AND r.lat IS NULL;

-- ---------------------------------------------------------------- latency matrix
INSERT INTO region_latency (from_region, to_region, rtt_us)
  SELECT from_region, to_region, round(rtt_ms * 1000)::bigint FROM stage_latency
  ON CONFLICT (from_region, to_region) DO NOTHING;

-- ---------------------------------------------------------------- accounts
INSERT INTO accounts (kind, name)
  SELECT DISTINCT 'provider', cloud FROM stage_catalog
  ON CONFLICT (name) DO NOTHING;
INSERT INTO accounts (kind, name)
  VALUES ('tenant', 'demo-tenant'), ('operator', 'demo-operator')
  ON CONFLICT (name) DO NOTHING;
INSERT INTO operator_regions (account_id, region)
  SELECT a.id, r.code
  FROM accounts a
  JOIN regions r ON r.code IN ('us-east-1', 'us-west-2', 'eu-west-1', 'ap-northeast-1')
  WHERE a.name = 'demo-operator' AND a.kind = 'operator'
  ON CONFLICT DO NOTHING;

-- ---------------------------------------------------------------- accelerator mapping
-- Catalog accelerator name (optionally narrowed to one cloud and an instance-type pattern)
-- -> accelerators.id.  The most specific matching row wins.  Every name of the catalog has a
-- row (data/accelerators.csv and data/accelerators_extra.csv hold the models; data/SOURCES.md
-- says where each figure comes from); a catalog row whose name is not listed here would be
-- reported as skipped below.
CREATE TEMP TABLE seed_accel_map (
  catalog_name   text NOT NULL,
  cloud          text,            -- NULL: any cloud
  instance_re    text,            -- NULL: any instance type (POSIX regular expression)
  accelerator_id text NOT NULL
) ON COMMIT DROP;
INSERT INTO seed_accel_map VALUES
  ('H100',                 NULL,     NULL,               'H100-SXM'),
  ('H100',                 'lambda', '_pcie$',           'H100-PCIe'),  -- gpu_1x_h100_pcie
  ('H100',                 'runpod', NULL,               'H100-PCIe'),  -- RunPod's "H100" is the PCIe card
  ('H100-SXM',             NULL,     NULL,               'H100-SXM'),
  ('H100-MEGA',            NULL,     NULL,               'H100-SXM'),   -- GCP a3-mega
  ('H100-80G-SXM5',        NULL,     NULL,               'H100-SXM'),
  ('H100-80G-PCIe',        NULL,     NULL,               'H100-PCIe'),
  ('H100-80G-PCIe-NVLink', NULL,     NULL,               'H100-PCIe'),
  ('H200',                 NULL,     NULL,               'H200-SXM'),
  ('H200-SXM',             NULL,     NULL,               'H200-SXM'),
  ('GH200',                NULL,     NULL,               'GH200'),      -- Lambda gpu_1x_gh200
  ('B200',                 NULL,     NULL,               'B200-SXM'),
  ('B200 Blackwell',       NULL,     NULL,               'B200-SXM'),
  ('B300',                 NULL,     NULL,               'B300-SXM'),
  ('B300 Blackwell',       NULL,     NULL,               'B300-SXM'),
  ('A100',                 NULL,     NULL,               'A100-40GB-SXM4'),
  ('A100',                 'aws',    '^p4de\.',          'A100-80GB-SXM'),  -- p4de = 8x A100 80GB
  ('A100',                 'lambda', '^gpu_[124]x_a100$', 'A100-40GB-PCIe'), -- 40 GB PCIe
  ('A100-80GB',            NULL,     NULL,               'A100-80GB-SXM'),
  ('A100-80GB',            'runpod', NULL,               'A100-80GB-PCIe'), -- RunPod's "A100-80GB" is PCIe
  ('A100-80GB-SXM',        NULL,     NULL,               'A100-80GB-SXM'),
  ('A100-80G-PCIe',        NULL,     NULL,               'A100-80GB-PCIe'),
  ('A100-80G-PCIe-NVLink', NULL,     NULL,               'A100-80GB-PCIe'),
  ('A40',                  NULL,     NULL,               'A40-PCIe'),
  ('A30',                  NULL,     NULL,               'A30-PCIe'),
  ('A10',                  NULL,     NULL,               'A10-PCIe'),
  ('A10G',                 NULL,     NULL,               'A10G-PCIe'),
  ('L40S',                 NULL,     NULL,               'L40S-PCIe'),
  ('L40',                  NULL,     NULL,               'L40-PCIe'),
  ('L4',                   NULL,     NULL,               'L4-PCIe'),
  ('T4',                   NULL,     NULL,               'T4-PCIe'),
  -- The source labels g5g "ARM Mali-G78MP12"; its own instance notes (tsaol/aws-gpu gpu.md)
  -- say G5g carries NVIDIA T4G GPUs, 16 GB: the label, not the instance, is wrong.
  ('ARM Mali-G78MP12',     'aws',    '^g5g\.',           'T4G'),
  -- V100: SkyPilot's catalogs name the 16 GB card "V100" and the 32 GB one "V100-32GB"; AWS
  -- p3 carries 16 GB V100s, p3dn 32 GB ones (tsaol/aws-gpu gpu.md).
  ('V100',                 NULL,     NULL,               'V100-16GB-SXM2'),
  ('V100',                 'aws',    '^p3dn\.',          'V100-SXM2'),
  ('V100-32GB',            NULL,     NULL,               'V100-SXM2'),
  ('P100',                 NULL,     NULL,               'P100-PCIe'),
  ('P4',                   NULL,     NULL,               'P4-PCIe'),
  ('K80',                  NULL,     NULL,               'K80'),
  ('M60',                  NULL,     NULL,               'M60'),
  ('GRID K520',            NULL,     NULL,               'GRID-K520'),
  ('M4000',                NULL,     NULL,               'Quadro-M4000'),
  ('P4000',                NULL,     NULL,               'Quadro-P4000'),
  ('A4000',                NULL,     NULL,               'RTX-A4000'),
  ('RTX-A4000',            NULL,     NULL,               'RTX-A4000'),
  ('RTXA4000',             NULL,     NULL,               'RTX-A4000'),
  ('RTXA4500',             NULL,     NULL,               'RTX-A4500'),
  ('RTXA5000',             NULL,     NULL,               'RTX-A5000'),
  ('A6000',                NULL,     NULL,               'RTX-A6000'),
  ('RTX-A6000',            NULL,     NULL,               'RTX-A6000'),
  ('RTXA6000',             NULL,     NULL,               'RTX-A6000'),
  ('RTX6000',              NULL,     NULL,               'Quadro-RTX-6000'), -- SkyPilot: the Turing card
  ('RTX4000-Ada',          NULL,     NULL,               'RTX-4000-Ada'),
  ('RTX6000-Ada',          NULL,     NULL,               'RTX-6000-Ada'),
  ('RTX-6000-Ada',         NULL,     NULL,               'RTX-6000-Ada'),
  ('RTX PRO 6000 Blackwell', NULL,   NULL,               'RTX-PRO-6000-Blackwell'),
  ('RTX-PRO-6000',         NULL,     NULL,               'RTX-PRO-6000-Blackwell'),
  ('RTX3090',              NULL,     NULL,               'RTX-3090'),
  ('RTX4090',              NULL,     NULL,               'RTX-4090'),
  ('AMD Radeon Pro V520',  NULL,     NULL,               'Radeon-Pro-V520'),
  ('AWS Inferentia',       NULL,     NULL,               'Inferentia'),
  ('AWS Inferentia2',      NULL,     NULL,               'Inferentia2'),
  ('AWS Trainium',         NULL,     NULL,               'Trainium'),
  ('Qualcomm AI 100',      NULL,     NULL,               'Cloud-AI-100'),
  ('MI300X',               NULL,     NULL,               'MI300X');

DO $$
DECLARE bad text;
BEGIN
  SELECT string_agg(DISTINCT m.accelerator_id, ', ') INTO bad
  FROM seed_accel_map m LEFT JOIN accelerators a ON a.id = m.accelerator_id
  WHERE a.id IS NULL;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'seed_demo.sql maps to unknown accelerators: %', bad;
  END IF;
END $$;

-- Every catalog row with its mapped accelerator (NULL when unmapped), its region code, and
-- its usable per-GPU price (NULL when the on-demand price is empty or the count is not an
-- integer >= 1).
CREATE TEMP TABLE seed_rows ON COMMIT DROP AS
  SELECT s.*, r.code AS region_code,
         (SELECT m.accelerator_id FROM seed_accel_map m
          WHERE m.catalog_name = s.accelerator
            AND (m.cloud IS NULL OR m.cloud = s.cloud)
            AND (m.instance_re IS NULL OR s.instance_type ~ m.instance_re)
          ORDER BY (m.instance_re IS NOT NULL) DESC, (m.cloud IS NOT NULL) DESC
          LIMIT 1) AS accelerator_id,
         CASE WHEN s.accelerator_count ~ '^[1-9][0-9]*$' THEN s.accelerator_count::integer END
           AS gpus,
         CASE WHEN s.price_per_hour ~ '^[0-9]+(\.[0-9]+)?$'
                   AND s.accelerator_count ~ '^[1-9][0-9]*$'
                   AND s.price_per_hour::numeric > 0
              THEN s.price_per_hour::numeric / s.accelerator_count::integer END
           AS per_gpu
  FROM stage_catalog s
  JOIN seed_catalog_regions r ON r.cloud = s.cloud AND r.region = s.region;

-- One pool per (cloud, region, accelerator): the row with the cheapest on-demand price per
-- GPU (ties: more GPUs per node, then instance type) gives price and GPUs per node.
CREATE TEMP TABLE seed_pools ON COMMIT DROP AS
  SELECT DISTINCT ON (cloud, region_code, accelerator_id)
         cloud, region_code, accelerator_id, accelerator AS catalog_name, instance_type,
         gpus, per_gpu
  FROM seed_rows
  WHERE accelerator_id IS NOT NULL AND per_gpu IS NOT NULL
  ORDER BY cloud, region_code, accelerator_id, per_gpu, gpus DESC, instance_type;

-- The report: every catalog row is mapped to a model (a row whose name has no mapping is
-- "skipped"); a mapped row prices a pool unless it cannot price a whole GPU (a fractional
-- GPU share such as AWS g6f's 1/8 L40, or no on-demand price), which is said with the
-- instance types concerned.
DO $$
DECLARE
  n_rows int; n_unmapped int; names text; n_frac int; frac text; n_unpriced int; unpriced text;
  n_groups_lost int;
BEGIN
  SELECT count(*) INTO n_rows FROM seed_rows;
  SELECT count(*), coalesce(string_agg(DISTINCT accelerator, ', ' ORDER BY accelerator), '')
    INTO n_unmapped, names FROM seed_rows WHERE accelerator_id IS NULL;
  SELECT count(*), string_agg(DISTINCT cloud || ' ' || instance_type || ' (' || accelerator_count || ' GPU)', ', ')
    INTO n_frac, frac FROM seed_rows
   WHERE accelerator_id IS NOT NULL AND accelerator_count !~ '^[1-9][0-9]*$';
  SELECT count(*), string_agg(DISTINCT cloud || ' ' || coalesce(nullif(instance_type, ''), accelerator), ', ')
    INTO n_unpriced, unpriced FROM seed_rows
   WHERE accelerator_id IS NOT NULL AND accelerator_count ~ '^[1-9][0-9]*$' AND per_gpu IS NULL;
  SELECT count(*) INTO n_groups_lost FROM (
    SELECT 1 FROM seed_rows WHERE accelerator_id IS NOT NULL
    GROUP BY cloud, region_code, accelerator_id HAVING count(per_gpu) = 0) g;
  RAISE NOTICE 'catalog: % rows; % rows mapped to a model; % rows skipped because their accelerator is not mapped%',
    n_rows, n_rows - n_unmapped, n_unmapped, CASE WHEN n_unmapped > 0 THEN ' (' || names || ')' ELSE '' END;
  RAISE NOTICE 'catalog: % mapped rows cannot price a whole-GPU pool: % sell a fraction of a GPU (%); % have no on-demand price (%); % (cloud, region, model) groups have no other row, so no pool',
    n_frac + n_unpriced, n_frac, coalesce(frac, 'none'), n_unpriced, coalesce(unpriced, 'none'), n_groups_lost;
END $$;

-- ---------------------------------------------------------------- pools
INSERT INTO pools (owner_id, name, region, accelerator_id, gpu_count, gpus_per_node,
                   intra_node, inter_node, inter_node_gbps, price_minor,
                   available_from, available_until, adapter_kind, adapter_config,
                   status, health)
  SELECT o.id,
         p.cloud || ' ' || p.region_code || ' ' || p.accelerator_id || ' x' || p.gpus ||
           coalesce(' (' || nullif(p.instance_type, '') || ')', ''),
         p.region_code, p.accelerator_id,
         4 * p.gpus, p.gpus,
         CASE WHEN a.interconnect ILIKE 'infinity fabric%' THEN 'infinity_fabric'
              WHEN a.vendor = 'Huawei' THEN 'hccs'
              WHEN a.variant LIKE 'SXM%' OR a.interconnect ILIKE 'nvlink%'
                   OR p.catalog_name ILIKE '%nvlink%' THEN 'nvlink'
              WHEN a.vendor IN ('NVIDIA', 'AMD') THEN 'pcie'
              ELSE 'other' END,
         CASE WHEN a.family IN ('H100', 'H200', 'B200', 'B300', 'A100') AND p.gpus = 8
              THEN 'infiniband' ELSE 'ethernet' END,
         CASE WHEN a.family IN ('H100', 'H200', 'B200', 'B300', 'A100') AND p.gpus = 8
              THEN 400 ELSE 100 END,
         greatest(1, round(p.per_gpu * 100))::bigint,
         date_trunc('hour', now()),
         date_trunc('hour', now()) + interval '90 days',
         'sim', '{}'::jsonb, 'active', 'unknown'
  FROM seed_pools p
  JOIN accelerators a ON a.id = p.accelerator_id
  JOIN accounts o ON o.name = p.cloud AND o.kind = 'provider'
  WHERE NOT EXISTS (
    SELECT 1 FROM pools x
    WHERE x.owner_id = o.id
      AND x.name = p.cloud || ' ' || p.region_code || ' ' || p.accelerator_id || ' x' || p.gpus ||
                   coalesce(' (' || nullif(p.instance_type, '') || ')', ''));

COMMIT;

-- ---------------------------------------------------------------- counts
\unset QUIET
\pset footer off
SELECT (SELECT count(*) FROM regions)                              AS regions,
       (SELECT count(*) FROM region_latency)                       AS latency_entries,
       (SELECT count(*) FROM regions WHERE lat IS NOT NULL)        AS located_regions,
       (SELECT count(*) FROM accounts WHERE kind = 'provider')     AS providers,
       (SELECT count(*) FROM pools)                                AS pools,
       (SELECT count(DISTINCT region) FROM pools)                  AS regions_with_pools,
       (SELECT count(DISTINCT accelerator_id) FROM pools)          AS accelerator_models,
       (SELECT sum(gpu_count) FROM pools)                          AS gpus;
SELECT a.name AS provider, count(p.id) AS pools, count(DISTINCT p.region) AS regions,
       sum(p.gpu_count) AS gpus
FROM accounts a LEFT JOIN pools p ON p.owner_id = a.id
WHERE a.kind = 'provider'
GROUP BY a.name ORDER BY pools DESC, a.name;
