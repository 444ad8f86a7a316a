/* h_pools.c — providers' capacity pools: register, read, list, change, retire, heartbeat. */
#include "internal.h"
#include "suanli/core/clock.h"
#include "suanli/core/timeutil.h"
#include "suanli/db/dispatch.h"
#include "suanli/db/drain.h"
#include "suanli/db/pools.h"
#include "suanli/dispatch/adapter.h"
#include "suanli/dispatch/dispatch.h"
#include "suanli/trading/trading.h"
#include <stdio.h>
#include <string.h>

static const char *const intra[] = {"nvlink", "pcie", "infinity_fabric", "hccs", "other", NULL};
static const char *const inter[] = {"infiniband", "roce", "ethernet", "none", NULL};
static const char *const statuses[] = {"active", "draining", "offline", "retired", NULL};
static const char *const settable[] = {"active", "draining", "offline", NULL};

#define PRICE_MIN    1                   /* 0.01 per GPU-hour */
#define PRICE_MAX    INT64_C(10000000)   /* 100000.00 per GPU-hour */
#define WINDOW_MAX_S (5 * 366 * 86400LL) /* an availability window of at most ~5 years */

/* Who may see what: the scope of pool reads for the caller. */
static sl_pool_filter viewer_scope(const sl_req *r) {
  sl_pool_filter f = {.min_memory_gb = -1, .min_ncu_milli = -1};
  if (sl_role_is(r, "provider")) f.owner = r->who.account_id;
  else if (sl_role_is(r, "operator")) f.regions = r->who.regions;
  else if (sl_role_is(r, "tenant")) f.market_only = true;
  f.public_view = !sl_role_is(r, "admin") && !sl_role_is(r, "provider");
  return f;
}

/* Reply for a write that matched no row: 409 when the caller's pool is retired, else 404. */
static void not_writable(sl_req *r, int64_t id) {
  char *status = NULL;
  sl_dbrc rc = sl_db_pool_status(r->db, id, r->who.account_id, &status);
  if (rc == SL_DB_OK && strcmp(status, "retired") == 0)
    sl_reply_error(r, SL_E_CONFLICT, "id", "pool %lld is retired", (long long)id);
  else if (rc == SL_DB_OK || rc == SL_DB_NOROWS)
    sl_reply_error(r, SL_E_NOT_FOUND, "id", "no pool %lld", (long long)id);
  else sl_reply_db(r, rc);
  free(status);
}

/* " (its last booking ends at 2026-12-01T14:00:00Z)" for a refusal about bookings; until is
 * the end read before the write (0: unknown). */
static const char *until_text(int64_t until, char buf[80]) {
  char ts[32];
  buf[0] = '\0';
  if (until > 0) {
    sl_time_format(until, ts, sizeof ts);
    snprintf(buf, 80, " (its last booking ends at %s)", ts);
  }
  return buf;
}

/* Map a database refusal of a pool write to the field it concerns; until: the end of the
 * pool's last booking, read before the write, for the refusals about bookings. */
static void write_refused_until(sl_req *r, sl_dbrc rc, int64_t until) {
  const char *cn = sl_db_last_constraint(r->db);
  char ub[80];
  until_text(until, ub);
  if (rc == SL_DB_FK && strstr(cn, "region"))
    sl_reply_error(r, SL_E_UNKNOWN_REFERENCE, "region", "no such region");
  else if (rc == SL_DB_FK && strstr(cn, "accelerator"))
    sl_reply_error(r, SL_E_UNKNOWN_REFERENCE, "accelerator", "no such accelerator model");
  else if (rc == SL_DB_CHECK && !strcmp(cn, "pools_window_order"))
    sl_reply_error(r, SL_E_INVALID_VALUE, "available_until", "must be after available_from");
  else if (rc == SL_DB_CHECK && !strcmp(cn, "pools_healthy_le_count"))
    sl_reply_error(r, SL_E_INVALID_VALUE, "healthy_gpus", "exceeds the pool's gpu_count");
  else if (rc == SL_DB_CHECK && !strcmp(cn, "slot_not_overbooked"))
    sl_reply_error(
        r, SL_E_CONFLICT, "gpu_count",
        "GPUs already booked in some future slot exceed the new gpu_count%s; drain instead", ub);
  else if (rc == SL_DB_CHECK && !strcmp(cn, "pool_window_strands_bookings"))
    sl_reply_error(r, SL_E_CONFLICT, "available_until",
                   "the new window would leave booked slots outside it%s", ub);
  else if (rc == SL_DB_CHECK && !strcmp(cn, "pool_has_bookings"))
    sl_reply_error(r, SL_E_CONFLICT, "id", "the pool has bookings from the current hour on%s", ub);
  else if (rc == SL_DB_CHECK && !strcmp(cn, "pools_network_gbps"))
    sl_reply_error(r, SL_E_INVALID_VALUE, "inter_node_gbps",
                   "must be 0 exactly when inter_node is none");
  else sl_reply_db(r, rc);
}

static void write_refused(sl_req *r, sl_dbrc rc) { write_refused_until(r, rc, 0); }

static bool check_window(sl_req *r, int64_t from, int64_t until) {
  if (from >= until) {
    sl_reply_error(r, SL_E_INVALID_VALUE, "available_until", "must be after available_from");
    return false;
  }
  if (until <= sl_clock_now()) {
    sl_reply_error(r, SL_E_INVALID_VALUE, "available_until", "must be in the future");
    return false;
  }
  if (until - from > WINDOW_MAX_S) {
    sl_reply_error(r, SL_E_INVALID_VALUE, "available_until", "the window may span at most 5 years");
    return false;
  }
  return true;
}

void h_pools_create(sl_req *r) {
  json_t *body = sl_req_body(r);
  if (!body) return;
  sl_pool_new p = {.owner_id = r->who.account_id};
  json_t *adapter = NULL, *config = NULL;
  const sl_jfield f[] = {
      {"name", SL_JT_STRING, true, &p.name, NULL, 1, 200, NULL},
      {"region", SL_JT_STRING, true, &p.region, NULL, 1, 40, NULL},
      {"accelerator", SL_JT_STRING, true, &p.accelerator, NULL, 1, 64, NULL},
      {"gpu_count", SL_JT_INT, true, &p.gpu_count, NULL, 1, 1000000, NULL},
      {"gpus_per_node", SL_JT_INT, true, &p.gpus_per_node, NULL, 1, 64, NULL},
      {"intra_node", SL_JT_ENUM, true, &p.intra_node, NULL, 0, 0, intra},
      {"inter_node", SL_JT_ENUM, true, &p.inter_node, NULL, 0, 0, inter},
      {"inter_node_gbps", SL_JT_INT, true, &p.inter_node_gbps, NULL, 0, 100000, NULL},
      {"price_per_gpu_hour", SL_JT_MONEY, true, &p.price_minor, NULL, PRICE_MIN, PRICE_MAX, NULL},
      {"available_from", SL_JT_TIME, true, &p.available_from, NULL, 0, 1, NULL},
      {"available_until", SL_JT_TIME, true, &p.available_until, NULL, 0, 1, NULL},
      {"adapter", SL_JT_OBJECT, true, &adapter, NULL, 0, 0, NULL},
  };
  if (!sl_req_decode(r, body, f, sizeof f / sizeof f[0])) goto cleanup;
  const sl_jfield af[] = {
      {"kind", SL_JT_ENUM, true, &p.adapter_kind, NULL, 0, 0, sl_adapter_kinds},
      {"config", SL_JT_OBJECT, false, &config, NULL, 0, 0, NULL},
  };
  sl_jerr je;
  if (!sl_json_decode(adapter, af, 2, "adapter.", &je) ||
      !sl_adapter_validate(p.adapter_kind, config, &je)) {
    sl_reply_jerr(r, &je);
    goto cleanup;
  }
  if (strcmp(p.adapter_kind, "webhook") == 0) {
    char why[300];
    const char *url = json_string_value(json_object_get(config, "url"));
    if (!sl_webhook_url_allowed(url, why, sizeof why)) {
      sl_reply_error(r, SL_E_ADDRESS_NOT_ALLOWED, "adapter.config.url", "%s", why);
      goto cleanup;
    }
  }
  if ((strcmp(p.inter_node, "none") == 0) != (p.inter_node_gbps == 0)) {
    sl_reply_error(r, SL_E_INVALID_VALUE, "inter_node_gbps",
                   "must be 0 exactly when inter_node is none");
    goto cleanup;
  }
  if (!check_window(r, p.available_from, p.available_until)) goto cleanup;
  json_t *empty = json_object();
  p.adapter_config = config ? config : empty;
  json_t *pool;
  sl_dbrc rc = sl_db_pool_create(r->db, &p, &pool);
  json_decref(empty);
  if (rc != SL_DB_OK) {
    write_refused(r, rc);
    goto cleanup;
  }
  sl_reply_created(r, "pool", pool);
cleanup:
  json_decref(body);
}

void h_pools_list(sl_req *r) {
  sl_pool_filter f = viewer_scope(r);
  int64_t after, owner = 0, mem = -1, ncu = -1;
  int limit;
  if (!sl_req_page_id(r, &after, &limit) ||
      !sl_req_query_int(r, "min_memory_gb", 0, 100000, &mem) ||
      !sl_req_query_int(r, "owner", 1, INT64_C(9007199254740991), &owner) ||
      !sl_req_query_enum(r, "status", statuses, &f.status))
    return;
  const char *ncu_s = sl_req_query(r, "min_ncu");
  if (ncu_s && (!sl_parse_milli(ncu_s, &ncu) || ncu > 1000000)) {
    sl_reply_error(r, SL_E_BAD_QUERY, "min_ncu",
                   "min_ncu must be a decimal like 0.5 (at most 1000)");
    return;
  }
  f.region = sl_req_query(r, "region");
  f.accelerator = sl_req_query(r, "accelerator");
  if ((f.region && strlen(f.region) > 40) || (f.accelerator && strlen(f.accelerator) > 64)) {
    sl_reply_error(r, SL_E_BAD_QUERY, f.region && strlen(f.region) > 40 ? "region" : "accelerator",
                   "value too long");
    return;
  }
  if (owner) {
    if (f.owner && f.owner != owner) f.owner = -1; /* a provider asking for another's pools */
    else f.owner = owner;
  }
  f.min_memory_gb = mem;
  f.min_ncu_milli = ncu;
  f.after = after;
  f.limit = limit;
  /* Served from the reply cache while the capacity book has not moved (cache.c). */
  int64_t asked = sl_time_now_us();
  uint64_t version = 0;
  bool cacheable = sl_trading_book_sync_recent(1000000) == SL_DB_OK &&
                   (version = sl_trading_book_version()) != 0;
  if (cacheable && sl_cache_reply(r, version)) return;
  char *page;
  sl_dbrc rc = sl_db_pools_page(r->db, &f, &page);
  if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
    return;
  }
  if (cacheable) sl_cache_store(r, version, page, asked);
  sl_reply_text(r, 200, page);
}

void h_pools_get(sl_req *r) {
  int64_t id;
  if (!sl_req_path_id(r, 0, &id)) return;
  sl_pool_filter scope = viewer_scope(r);
  json_t *pool;
  sl_dbrc rc = sl_db_pool_get(r->db, id, &scope, &pool);
  sl_reply_found(r, rc, pool, "pool", id);
}

void h_pools_update(sl_req *r) {
  int64_t id;
  if (!sl_req_object_id(r, "pool", &id)) return;
  json_t *body = sl_req_body(r);
  if (!body) return;
  sl_pool_patch p = {
      .price_minor = -1, .gpu_count = -1, .available_from = -1, .available_until = -1};
  bool has_from = false, has_until = false;
  const sl_jfield f[] = {
      {"name", SL_JT_STRING, false, &p.name, NULL, 1, 200, NULL},
      {"status", SL_JT_ENUM, false, &p.status, NULL, 0, 0, settable},
      {"price_per_gpu_hour", SL_JT_MONEY, false, &p.price_minor, NULL, PRICE_MIN, PRICE_MAX, NULL},
      {"gpu_count", SL_JT_INT, false, &p.gpu_count, NULL, 1, 1000000, NULL},
      {"available_from", SL_JT_TIME, false, &p.available_from, &has_from, 0, 1, NULL},
      {"available_until", SL_JT_TIME, false, &p.available_until, &has_until, 0, 1, NULL},
  };
  if (!sl_req_decode(r, body, f, sizeof f / sizeof f[0])) goto cleanup;
  if (json_object_size(body) == 0) {
    sl_reply_error(r, SL_E_MISSING_FIELD, "", "give at least one field to change");
    goto cleanup;
  }
  if (has_from && has_until && !check_window(r, p.available_from, p.available_until)) goto cleanup;
  if (!has_from && has_until && p.available_until <= sl_clock_now()) {
    sl_reply_error(r, SL_E_INVALID_VALUE, "available_until", "must be in the future");
    goto cleanup;
  }
  json_t *pool;
  int64_t until = 0; /* named by a refusal about bookings (read first: a refusal ends the txn) */
  sl_dbrc rc = sl_db_pool_booked_until(r->db, id, &until);
  if (rc == SL_DB_OK) rc = sl_db_pool_update(r->db, id, r->who.account_id, &p, &pool);
  if (rc == SL_DB_NOROWS) {
    not_writable(r, id);
  } else if (rc != SL_DB_OK) {
    write_refused_until(r, rc, until);
  } else {
    sl_reply_json(r, 200, pool);
  }
cleanup:
  json_decref(body);
}

/* DELETE /v1/pools/{id}: retire.  With nothing booked from the current hour on the pool is
 * retired at once (200); with bookings left it drains — no new trades, its bookings honoured
 * — and the maintenance worker retires it when the last one ends: 202 with status draining
 * and retire_at (src/db/drain.c). */
void h_pools_retire(sl_req *r) {
  int64_t id;
  if (!sl_req_object_id(r, "pool", &id)) return;
  json_t *pool;
  char status[16];
  int64_t until = 0;
  sl_dbrc rc = sl_db_pool_retire_or_drain(r->db, id, r->who.account_id, status, &until);
  sl_pool_filter scope = viewer_scope(r);
  if (rc == SL_DB_OK) rc = sl_db_pool_get(r->db, id, &scope, &pool);
  if (rc == SL_DB_NOROWS) {
    not_writable(r, id);
  } else if (rc != SL_DB_OK) {
    write_refused_until(r, rc, until);
  } else {
    sl_reply_json(r, strcmp(status, "retired") ? 202 : 200, pool);
  }
}

void h_pools_heartbeat(sl_req *r) {
  int64_t id;
  if (!sl_req_object_id(r, "pool", &id)) return;
  json_t *body = sl_req_body(r);
  if (!body) return;
  int64_t healthy = 0, util = 0;
  const sl_jfield f[] = {
      {"healthy_gpus", SL_JT_INT, true, &healthy, NULL, 0, 1000000, NULL},
      {"utilization_bp", SL_JT_INT, true, &util, NULL, 0, 10000, NULL},
  };
  if (!sl_req_decode(r, body, f, sizeof f / sizeof f[0])) goto cleanup;
  json_t *pool;
  int64_t refunded = 0;
  sl_dbrc rc = sl_db_pool_heartbeat(r->db, id, r->who.account_id, healthy, util, &pool);
  if (rc == SL_DB_NOROWS) {
    not_writable(r, id);
  } else if (rc != SL_DB_OK) {
    write_refused(r, rc);
  } else if ((rc = sl_db_pool_shortfall(r->db, id, &refunded)) != SL_DB_OK) {
    json_decref(pool); /* running trades are refunded for lost GPUs in the same transaction */
    sl_reply_db(r, rc);
  } else {
    sl_reply_json(r, 200, pool);
  }
cleanup:
  json_decref(body);
}
