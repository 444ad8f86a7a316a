-- 022_api_objects.sql — the JSON shape of every API object that is a row, in one place.
--
-- One function per object of api/openapi.yaml (components/schemas), named api_<object>: it
-- takes the object's row (and the rows it is shown with) and returns the object exactly as the
-- API sends it — money as decimal strings (sl_money), NCU and milliseconds with three decimals
-- (sl_milli), times RFC 3339 UTC (sl_ts), members in the order of the reply.  The statements of
-- src/db call these functions and nothing reshapes the result afterwards (src/db/README.md has
-- the table object -> function -> routes).  The order of members is part of the reply's bytes
-- (ETags are computed over them): keep it when adding a member, add new ones at the end.
--
-- Numbered after every migration whose tables these functions show (issue 13's 019 and 020
-- among them).  A later migration that adds a member replaces the object's function there
-- (CREATE OR REPLACE, same signature) and says so in src/db/README.md's table.
--
-- How to call them: in FROM, after the row they take, e.g.
--     SELECT j::text FROM trades t, api_trade(t) j WHERE t.id = $1
--     SELECT json_agg(j ORDER BY t.id) FROM trades t, api_trade(t) j WHERE ...
-- Each returns exactly one row, but is declared SETOF so that the planner inlines it into the
-- calling statement (a set-returning SQL function in FROM is inlined whatever its body; a
-- scalar one only without subqueries, and a trade's reservation, an order's trades or an
-- account's regions are subqueries: not inlined, a page of 500 orders took six times as long).
-- Called in FROM they see the rows of a data-modifying WITH (`WITH p AS (UPDATE ... RETURNING
-- *) SELECT j::text FROM p, api_pool(p, ...) j`), which RETURNING itself cannot call them.
--
-- Functions that need the current time take it as a parameter (`at`): the statement passes
-- sl_now() (the business clock, schema/014), so the clock stays where the statement is.

-- ---------------------------------------------------------------- helpers

-- obj with one more member at its end, in the text layout of json_build_object ('{"a" : 1,
-- "b" : 2}'): api_json_append(json_build_object('a', 1), 'b', '2') is byte for byte
-- json_build_object('a', 1, 'b', 2).  obj must have at least one member.  For the views of an
-- object that show more than another view (the owner's pool shows its adapter).
CREATE FUNCTION api_json_append(obj json, key text, value json) RETURNS json
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT (left(obj::text, -1) || ', ' || to_json(key)::text || ' : '
                || coalesce(value::text, 'null') || '}')::json $$;

-- The price per NCU-hour in minor units, rounded half up; NULL for an unrated model.  Pools,
-- offers and the offers' filters and sort order all use it (the matcher computes the same in C,
-- src/trading/engine.c, for quotes).
CREATE FUNCTION sl_ncu_price_minor(price_minor bigint, score_milli bigint) RETURNS bigint
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT CASE WHEN score_milli > 0
                    THEN (price_minor * 1000 + score_milli / 2) / score_milli END $$;

-- ---------------------------------------------------------------- accounts and tokens

-- Account: {"id", "kind", "name", "regions" (an operator's, sorted), "disabled", "created_at"}.
CREATE FUNCTION api_account(a accounts) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('id', a.id, 'kind', a.kind, 'name', a.name,
          'regions', coalesce((SELECT json_agg(o.region ORDER BY o.region) FROM operator_regions o
                               WHERE o.account_id = a.id), '[]'::json),
          'disabled', a.disabled, 'created_at', sl_ts(a.created_at)) $$;

-- Token (never its secret or hash), its state at `at`.  POST /v1/accounts/{id}/tokens adds
-- "token", the secret, in src/http/h_accounts.c: the secret never reaches the database.
CREATE FUNCTION api_token(t api_tokens, at timestamptz) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('id', t.id, 'account_id', t.account_id, 'public_id', t.public_id,
          'label', t.label, 'created_at', sl_ts(t.created_at), 'expires_at', sl_ts(t.expires_at),
          'revoked_at', sl_ts(t.revoked_at), 'scopes', to_json(t.scopes),
          'state', CASE WHEN t.revoked_at IS NOT NULL THEN 'revoked'
                        WHEN t.expires_at <= at THEN 'expired' ELSE 'active' END) $$;

-- A token in the admins' list of long-lived tokens (GET /v1/tokens): the Token with its
-- account's kind and name, members in jsonb's order (shorter keys first), as that list has
-- always had them.
CREATE FUNCTION api_token_listed(t api_tokens, a accounts, at timestamptz) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT (j::jsonb || jsonb_build_object('account_kind', a.kind, 'account_name', a.name))::json
        FROM api_token(t, at) j $$;

-- Me (GET /v1/me): the calling account and the token it used.
CREATE FUNCTION api_me(t api_tokens, a accounts) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('account', acc,
          'token', json_build_object('id', t.id, 'public_id', t.public_id, 'label', t.label,
                                     'expires_at', sl_ts(t.expires_at)))
        FROM api_account(a) acc $$;

-- RateLimits (GET and PUT /v1/accounts/{id}/limits): the account's request rate — the override
-- an admin stored (o, a NULL row when none), the default of its kind and the auth cache's
-- lifetime, both settings of the answering process (src/http/h_limits.c passes them), what is
-- in effect, and where that comes from.
CREATE FUNCTION api_rate_limits(a accounts, o account_rate_limits, kind_default json,
                                cache_ms bigint)
  RETURNS SETOF json LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('account_id', a.id, 'kind', a.kind, 'override', ov,
          'kind_default', kind_default,
          'effective', CASE WHEN o.account_id IS NULL THEN kind_default
                            ELSE json_build_object('per_second', (o.per_second_milli / 1000.0)::float8,
                                                   'burst', o.burst) END,
          'source', CASE WHEN o.account_id IS NULL THEN 'kind' ELSE 'account' END,
          'cache_ms', cache_ms)
        FROM (SELECT CASE WHEN o.account_id IS NULL THEN NULL
                     ELSE json_build_object('per_second', (o.per_second_milli / 1000.0)::float8,
                                            'burst', o.burst, 'updated_at', sl_ts(o.updated_at),
                                            'updated_by', o.updated_by) END AS ov) x $$;

-- AccessKey: a tenant's X25519 public key.
CREATE FUNCTION api_access_key(k access_keys) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('account_id', k.account_id,
          'public_key', encode(k.public_key, 'hex'), 'updated_at', sl_ts(k.updated_at)) $$;

-- AuditRow: one row of the request log (GET /v1/audit).
CREATE FUNCTION api_audit_row(l audit_log) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('id', l.id, 'at', sl_ts(l.at), 'request_id', l.request_id,
          'account_id', l.account_id, 'token_id', l.token_id, 'method', l.method, 'path', l.path,
          'action', l.action, 'object', l.object, 'status', l.status, 'outcome', l.outcome,
          'error', l.error, 'client_addr', l.client_addr) $$;

-- ---------------------------------------------------------------- catalog

-- Region.
CREATE FUNCTION api_region(r regions) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('code', r.code, 'name', r.name, 'tier', r.tier,
          'operator', r.operator, 'location', r.location, 'lat', r.lat, 'lon', r.lon,
          'created_at', sl_ts(r.created_at)) $$;

-- LatencyEntry: one direction of the latency matrix (measured, or estimated from the
-- regions' coordinates), RTT in milliseconds.
CREATE FUNCTION api_latency_entry(l region_rtt) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('from', l.from_region, 'to', l.to_region, 'source', l.source,
          'updated_at', sl_ts(l.updated_at), 'rtt_ms', sl_milli(l.rtt_us)) $$;

-- LatencyModel (GET /v1/latency/model): the fit behind the estimates, and which regions lack
-- coordinates.
CREATE FUNCTION api_latency_model(m latency_model) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('formula', 'rtt_ms = overhead_ms + 2 * fibre_factor * km /'
          ' fibre_km_per_ms, km = great-circle distance between the regions'' coordinates'
          ' (haversine, R = 6371.0088 km); rounded to whole microseconds',
          'overhead_ms', sl_milli(m.overhead_us), 'ms_per_km', (m.ns_per_km / 1e6)::text,
          'fibre_factor', m.fibre_factor::text, 'fibre_km_per_ms', m.fibre_km_per_ms::text,
          'fitted_on', m.fitted_on, 'pairs', m.pairs, 'regions', m.regions,
          'error', json_build_object('median_ms', m.median_error_ms::text,
            'p90_ms', m.p90_error_ms::text, 'max_ms', m.max_error_ms::text,
            'leave_one_region_out', json_build_object('median_ms', m.loo_median_error_ms::text,
              'p90_ms', m.loo_p90_error_ms::text)),
          'located_regions', (SELECT count(*) FROM regions WHERE lat IS NOT NULL),
          'regions_without_location', (SELECT coalesce(json_agg(code ORDER BY code), '[]')
                                       FROM regions WHERE lat IS NULL),
          'updated_at', sl_ts(m.updated_at)) $$;

-- Accelerator: the model's published figures, "missing" naming those it lacks, its NCU.
CREATE FUNCTION api_accelerator(a accelerators) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('id', a.id, 'model', a.model, 'variant', a.variant,
          'vendor', a.vendor, 'memory_gb', a.memory_gb, 'memory_type', a.memory_type,
          'mem_bandwidth_gbps', a.mem_bandwidth_gbps, 'fp16_dense_tflops', a.fp16_dense_tflops,
          'bf16_dense_tflops', a.bf16_dense_tflops, 'fp32_tflops', a.fp32_tflops,
          'interconnect', a.interconnect, 'interconnect_gbps', a.interconnect_gbps,
          'source', a.source, 'notes', a.notes, 'rating', a.rating, 'family', a.family,
          'origin', a.origin,
          'aliases', (SELECT coalesce(json_agg(x.alias ORDER BY x.alias), '[]')
                      FROM accelerator_aliases x WHERE x.accelerator_id = a.id),
          'missing', array_remove(ARRAY[
            CASE WHEN a.memory_gb IS NULL THEN 'memory_gb' END,
            CASE WHEN a.mem_bandwidth_gbps IS NULL THEN 'mem_bandwidth_gbps' END,
            CASE WHEN a.fp16_dense_tflops IS NULL THEN 'fp16_dense_tflops' END,
            CASE WHEN a.bf16_dense_tflops IS NULL THEN 'bf16_dense_tflops' END,
            CASE WHEN a.fp32_tflops IS NULL THEN 'fp32_tflops' END,
            CASE WHEN a.interconnect_gbps IS NULL THEN 'interconnect_gbps' END], NULL),
          'ncu', sl_milli(a.score_milli)) $$;

-- Formula: the capacity standard (weights, the reference model's figures) and its text, which
-- lives in C (sl_capacity_formula_text, src/core/capacity.c) and comes as a parameter.
CREATE FUNCTION api_formula(w capacity_weights, ref accelerators, formula text) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('compute_weight_bp', w.compute_bp, 'memory_weight_bp', w.memory_bp,
          'reference', w.reference_id,
          'reference_tflops', coalesce(ref.bf16_dense_tflops, ref.fp16_dense_tflops),
          'reference_bandwidth_gbps', ref.mem_bandwidth_gbps, 'version', w.version,
          'updated_at', sl_ts(w.updated_at), 'formula', formula) $$;

-- Proposal: a provider's proposal of a model the catalog lacks, and its decision.
CREATE FUNCTION api_proposal(p accelerator_proposals) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('id', p.id, 'state', p.state, 'proposer_id', p.proposer_id,
          'accelerator', p.accelerator_id, 'model', p.model, 'variant', p.variant,
          'vendor', p.vendor, 'family', p.family, 'memory_gb', p.memory_gb,
          'memory_type', p.memory_type, 'mem_bandwidth_gbps', p.mem_bandwidth_gbps,
          'fp16_dense_tflops', p.fp16_dense_tflops, 'bf16_dense_tflops', p.bf16_dense_tflops,
          'fp32_tflops', p.fp32_tflops, 'interconnect', p.interconnect,
          'interconnect_gbps', p.interconnect_gbps, 'source_url', p.source_url,
          'notes', p.notes, 'aliases', to_json(p.aliases), 'reason', p.reason,
          'decided_by', p.decided_by, 'decided_at', sl_ts(p.decided_at),
          'created_at', sl_ts(p.created_at)) $$;

-- ---------------------------------------------------------------- pools and the market

-- Pool with its accelerator's public figures, as tenants and operators see it; owner_view (the
-- provider that owns it, admins) adds "adapter": {"kind", "config"} at the end.
CREATE FUNCTION api_pool(p pools, a accelerators, owner_view boolean) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT CASE WHEN owner_view
                 THEN api_json_append(pub, 'adapter', json_build_object('kind', p.adapter_kind,
                                                                        'config', p.adapter_config))
                 ELSE pub END
        FROM (SELECT json_build_object('id', p.id, 'owner_id', p.owner_id, 'name', p.name,
          'region', p.region, 'accelerator', p.accelerator_id, 'memory_gb', a.memory_gb,
          'ncu_per_gpu', sl_milli(a.score_milli), 'gpu_count', p.gpu_count,
          'gpus_per_node', p.gpus_per_node,
          'nodes', (p.gpu_count + p.gpus_per_node - 1) / p.gpus_per_node,
          'intra_node', p.intra_node, 'inter_node', p.inter_node,
          'inter_node_gbps', p.inter_node_gbps,
          'price_per_gpu_hour', sl_money(p.price_minor),
          'price_per_ncu_hour', sl_money(sl_ncu_price_minor(p.price_minor, a.score_milli)),
          'available_from', sl_ts(p.available_from), 'available_until', sl_ts(p.available_until),
          'status', p.status, 'retire_at', sl_ts(p.retire_at),
          'status_cause', p.status_cause, 'adapter_failures', p.adapter_failures,
          'health', json_build_object('state', p.health, 'healthy_gpus', p.healthy_gpus,
                                      'utilization_bp', p.utilization_bp,
                                      'last_heartbeat_at', sl_ts(p.last_heartbeat_at)),
          'created_at', sl_ts(p.created_at), 'updated_at', sl_ts(p.updated_at)) AS pub) x $$;

-- Offer (GET /v1/offers): an active pool as the market shows it, with the GPUs free in the
-- whole window asked for and the RTT from the origin region and its source (measured or
-- estimated; NULL without an origin or an entry).
CREATE FUNCTION api_offer(p pools, a accelerators, free_gpus bigint, rtt_us bigint,
                          rtt_source text)
  RETURNS SETOF json LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('pool_id', p.id, 'region', p.region,
          'accelerator', p.accelerator_id, 'memory_gb', a.memory_gb,
          'ncu_per_gpu', sl_milli(a.score_milli), 'gpu_count', p.gpu_count,
          'gpus_per_node', p.gpus_per_node, 'intra_node', p.intra_node, 'inter_node', p.inter_node,
          'inter_node_gbps', p.inter_node_gbps, 'free_gpus', free_gpus,
          'price_per_gpu_hour', sl_money(p.price_minor),
          'price_per_ncu_hour', sl_money(sl_ncu_price_minor(p.price_minor, a.score_milli)),
          'rtt_ms', sl_milli(rtt_us), 'rtt_source', rtt_source, 'health', p.health,
          'available_from', sl_ts(p.available_from),
          'available_until', sl_ts(p.available_until)) $$;

-- ---------------------------------------------------------------- orders, trades, money

-- Reservation: the trade's booking on the pool's system and its state changes.
CREATE FUNCTION api_reservation(rv reservations) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('id', rv.id, 'state', rv.state, 'external_ref', rv.external_ref,
          'events', (SELECT coalesce(json_agg(json_build_object('from', e.from_state,
                                       'to', e.to_state, 'cause', e.cause, 'at', sl_ts(e.at))
                                     ORDER BY e.id), '[]')
                     FROM reservation_events e WHERE e.reservation_id = rv.id)) $$;

-- Trade, with its reservation (null before it has one).
CREATE FUNCTION api_trade(t trades) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('id', t.id, 'order_id', t.order_id, 'tenant_id', t.tenant_id,
          'provider_id', t.provider_id, 'pool_id', t.pool_id, 'region', t.region,
          'accelerator', t.accelerator_id, 'gpus', t.gpus, 'start', sl_ts(t.start_at),
          'end', sl_ts(t.end_at), 'hours', extract(epoch FROM t.end_at - t.start_at)::bigint / 3600,
          'fee_bp', t.fee_bp, 'state', t.state,
          'reservation', (SELECT j FROM reservations rv, api_reservation(rv) j
                          WHERE rv.trade_id = t.id),
          'created_at', sl_ts(t.created_at), 'settled_at', sl_ts(t.settled_at),
          'cancelled_at', sl_ts(t.cancelled_at), 'lost_gpus', t.lost_gpus,
          'replaces_trade_id', t.replaces_trade_id, 'unit_price', sl_money(t.unit_price_minor),
          'total', sl_money(t.total_minor), 'fee', sl_money(t.fee_minor),
          'refunded', sl_money(t.refunded_minor)) $$;

-- Order, with its trades (oldest first).
CREATE FUNCTION api_order(o orders) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('id', o.id, 'tenant_id', o.tenant_id, 'state', o.state,
          'reason', o.reason, 'request', o.request, 'created_at', sl_ts(o.created_at),
          'updated_at', sl_ts(o.updated_at), 'filled_at', sl_ts(o.filled_at),
          'trades', coalesce((SELECT json_agg(j ORDER BY t.id) FROM trades t, api_trade(t) j
                              WHERE t.order_id = o.id), '[]'::json)) $$;

-- TradeAccess: the sealed access details of a trade's reservation (sealed is null while there
-- are none; the route answers 404 then).
CREATE FUNCTION api_trade_access(t trades, rv reservations, x reservation_access) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('trade_id', t.id, 'reservation_id', rv.id,
          'public_key', encode(x.recipient_key, 'hex'),
          'sealed', replace(encode(x.sealed, 'base64'), E'\n', ''), 'source', x.source,
          'created_at', sl_ts(x.created_at)) $$;

-- Balances of an account at `at` (spent_this_month: the calendar month of `at`).
CREATE FUNCTION api_balances(a accounts, at timestamptz) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('account_id', a.id,
          'available', sl_money(coalesce((SELECT l.balance FROM ledger_accounts l
                                          WHERE l.owner_id = a.id AND l.purpose = 'available'), 0)),
          'escrow', sl_money(coalesce((SELECT l.balance FROM ledger_accounts l
                                       WHERE l.owner_id = a.id AND l.purpose = 'escrow'), 0)),
          'hourly_cap', sl_money(b.hourly_cap_minor), 'monthly_cap', sl_money(b.monthly_cap_minor),
          'spent_this_month', sl_money(coalesce((SELECT sum(t.total_minor - t.refunded_minor)
                                                 FROM trades t WHERE t.tenant_id = a.id
                                                 AND t.created_at >= date_trunc('month', at)),
                                                0)::bigint),
          'currency', 'USD')
        FROM (SELECT a.id) x LEFT JOIN tenant_budgets b ON b.account_id = x.id $$;

-- Posting: one leg of a journal transaction on one of the account's ledger accounts.
CREATE FUNCTION api_posting(p postings, j journal_txns, l ledger_accounts) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('id', p.id, 'txn_id', p.txn_id, 'kind', j.kind,
          'trade_id', j.trade_id,
          'account', l.purpose, 'memo', j.memo, 'at', sl_ts(j.created_at),
          'amount', sl_money(p.amount), 'balance_after', sl_money(p.balance_after)) $$;

-- ExchangeSettings.
CREATE FUNCTION api_exchange_settings(s exchange_settings) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('fee_bp', s.fee_bp, 'cancel_free_hours', s.cancel_free_hours,
          'cancel_charge_bp', s.cancel_charge_bp, 'heartbeat_timeout_s', s.heartbeat_timeout_s,
          'adapter_failure_limit', s.adapter_failure_limit,
          'updated_at', sl_ts(s.updated_at)) $$;

-- ---------------------------------------------------------------- settlement

-- Period: a closed accounting period.  Statements and region summaries embed it with its
-- members sorted by name (src/settlement/settlement.c), their canonical form.
CREATE FUNCTION api_period(p periods) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('id', p.id, 'start', sl_ts(p.starts_at), 'end', sl_ts(p.ends_at),
          'closed_at', sl_ts(p.closed_at), 'closed_by', p.closed_by,
          'export_sha256', encode(p.export_sha256, 'hex'), 'ledger_entry', p.ledger_entry) $$;

-- ---------------------------------------------------------------- the ledger

-- Key: a signing key of the exchange and its validity (GET /v1/keys lists them).
CREATE FUNCTION api_key(k exchange_keys) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('key_id', k.key_id, 'public_key', encode(k.public_key, 'hex'),
          'valid_from', sl_ts(k.valid_from), 'valid_until', sl_ts(k.valid_until)) $$;

-- Checkpoint: a signed tree head.
CREATE FUNCTION api_checkpoint(c ledger_checkpoints) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('tree_size', c.tree_size, 'root_hash', encode(c.root_hash, 'hex'),
          'timestamp', sl_ts(c.signed_at), 'key_id', c.key_id,
          'signature', encode(c.signature, 'hex'), 'record', encode(c.record, 'hex')) $$;

-- LedgerEntry (GET /v1/ledger/entries/{id}); account_id: a deposit's or withdrawal's account.
-- src/http/h_ledger.c adds its proof (tree_size, inclusion_proof, checkpoint).
CREATE FUNCTION api_ledger_entry(e ledger_entries, j journal_txns) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('entry_id', e.id, 'purpose', e.purpose, 'trade_id', e.trade_id,
          'journal_txn_id', e.journal_txn_id, 'account_id', j.account_id,
          'record', encode(e.record, 'hex'), 'key_id', e.key_id,
          'signature', encode(e.signature, 'hex'), 'leaf_index', e.leaf_index) $$;

-- An entry of a trade in the RECEIPT.json layout of api/SIGNING.md: the Receipt itself (the
-- TRADE entry) and its ReceiptMoneyEvents.  src/http/h_ledger.c adds the proofs, the trade and
-- the money events.
CREATE FUNCTION api_receipt_entry(e ledger_entries) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('entry_id', e.id, 'purpose', e.purpose,
          'record', encode(e.record, 'hex'), 'key_id', e.key_id,
          'signature', encode(e.signature, 'hex'), 'leaf_index', e.leaf_index,
          'journal_txn_id', e.journal_txn_id) $$;

-- AuditRun: a recorded run of `suanlid audit`.
CREATE FUNCTION api_audit_run(r audit_runs) RETURNS SETOF json
  LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
  AS $$ SELECT json_build_object('id', r.id, 'started_at', sl_ts(r.started_at),
          'finished_at', sl_ts(r.finished_at), 'findings', r.findings, 'by_check', r.by_check,
          'tree_size', r.tree_size) $$;
