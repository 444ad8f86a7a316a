/* order.c — decode and validate order bodies into sl_market_order; see order.h. */
#include "suanli/market/order.h"
#include "suanli/core/money.h"
#include "suanli/core/timeutil.h"
#include "suanli/core/vocab.h"
#include <stdlib.h>
#include <string.h>

#define MAX_WINDOW_S (30 * 86400LL)
#define MAX_AHEAD_S  (366 * 86400LL)

/* An order's minimum network class, weakest first (INTER_NODE but "none"). */
static const char *const inter_names[] = {"ethernet", "roce", "infiniband", NULL};
/* When a split order's pieces start (issue 15): all at one start, or each at its own. */

sl_market_intra sl_market_intra_of(const char *name) {
  switch (sl_vocab_parse(SL_VD_INTRA_NODE, name)) {
  case SL_INTRA_NODE_NVLINK: return SL_INTRA_NVLINK;
  case SL_INTRA_NODE_PCIE: return SL_INTRA_PCIE;
  case SL_INTRA_NODE_INFINITY_FABRIC: return SL_INTRA_INFINITY_FABRIC;
  case SL_INTRA_NODE_HCCS: return SL_INTRA_HCCS;
  default: return SL_INTRA_OTHER;
  }
}

sl_market_inter sl_market_inter_of(const char *name) {
  switch (sl_vocab_parse(SL_VD_INTER_NODE, name)) {
  case SL_INTER_NODE_INFINIBAND: return SL_INTER_INFINIBAND;
  case SL_INTER_NODE_ROCE: return SL_INTER_ROCE;
  case SL_INTER_NODE_ETHERNET: return SL_INTER_ETHERNET;
  default: return SL_INTER_NONE;
  }
}

int64_t sl_market_order_next_slot(int64_t t) {
  int64_t r = t % SL_SLOT_SECONDS;
  if (r < 0) r += SL_SLOT_SECONDS; /* C's % keeps the sign of t */
  return r == 0 ? t : t + (SL_SLOT_SECONDS - r);
}

/* Check an array of short codes: strings, 1..64 bytes, no duplicates; copy pointers. */
static bool string_list(json_t *arr, const char *field, const char **dst, sl_jerr *err) {
  size_t i, j;
  json_t *v;
  json_array_foreach(arr, i, v) {
    if (!json_is_string(v))
      return sl_jerr_set(err, SL_E_WRONG_TYPE, field, "element %zu must be a string", i);
    const char *str = json_string_value(v);
    if (json_string_length(v) < 1 || json_string_length(v) > 64 ||
        strlen(str) != json_string_length(v))
      return sl_jerr_set(err, SL_E_INVALID_VALUE, field, "element %zu must be 1 to 64 characters",
                         i);
    for (const unsigned char *p = (const unsigned char *)str; *p; p++)
      if (*p < 0x21 || *p == 0x7f)
        return sl_jerr_set(err, SL_E_INVALID_VALUE, field,
                           "element %zu contains a space or control character", i);
    for (j = 0; j < i; j++)
      if (json_equal(v, json_array_get(arr, j)))
        return sl_jerr_set(err, SL_E_INVALID_VALUE, field, "element %zu is a duplicate", i);
    dst[i] = json_string_value(v);
  }
  return true;
}

bool sl_market_order_parse(json_t *body, int64_t now, sl_market_order_req *out, sl_jerr *err) {
  memset(out, 0, sizeof *out);
  int64_t gpus = 0, hours = 0, earliest = 0, latest = 0, expires = 0, max_pieces = 16;
  int64_t max_price = -1, max_ncu_price = -1, mpm = -1, max_rtt = -1, ncu = 0, min_gpus = 0;
  int64_t min_ncu_filled = 0;
  bool has_min_ncu_filled = false;
  int64_t tol = -1;
  bool has_latest = false, has_max_price = false, has_ncu_price = false, has_mpm = false,
       has_rtt = false, has_expires = false, has_pieces = false, has_objective = false,
       has_gpus = false, has_ncu = false, has_min_gpus = false, has_tol = false;
  const char *placement = "gang", *objective = "cheapest", *tif = "fill_or_kill";
  const char *starts = NULL, *clearing = "continuous";
  const char *origin = NULL;
  json_t *spec = NULL, *regions = NULL, *excluded = NULL;
  /* gpus is required unless the body asks for an amount of ncu instead */
  const json_t *ncu_v = json_is_object(body) ? json_object_get(body, "ncu") : NULL;
  const bool gpus_required = ncu_v == NULL || json_is_null(ncu_v);
  const sl_jfield f[] = {
      {"gpus", SL_JT_INT, gpus_required, &gpus, &has_gpus, 1, 100000, NULL},
      {"ncu", SL_JT_MILLI, false, &ncu, &has_ncu, 1, 100000000, NULL},
      {"min_ncu_filled", SL_JT_MILLI, false, &min_ncu_filled, &has_min_ncu_filled, 1, 100000000,
       NULL},
      {"min_gpus", SL_JT_INT, false, &min_gpus, &has_min_gpus, 1, 100000, NULL},
      {"duration_hours", SL_JT_HOURS, true, &hours, NULL, 1, 2160, NULL},
      {"earliest_start", SL_JT_START, true, &earliest, NULL, 0, 1, NULL},
      {"latest_start", SL_JT_START, false, &latest, &has_latest, 0, 1, NULL},
      {"spec", SL_JT_OBJECT, false, &spec, NULL, 0, 0, NULL},
      {"origin_region", SL_JT_STRING, false, &origin, NULL, 2, 40, NULL},
      {"max_rtt_ms", SL_JT_MILLI, false, &max_rtt, &has_rtt, 0, 10000000, NULL},
      {"regions", SL_JT_ARRAY, false, &regions, NULL, 1, 200, NULL},
      {"exclude_regions", SL_JT_ARRAY, false, &excluded, NULL, 1, 200, NULL},
      {"max_price_per_gpu_hour", SL_JT_MONEY, false, &max_price, &has_max_price, 1,
       INT64_C(10000000), NULL},
      {"max_price_per_ncu_hour", SL_JT_MONEY, false, &max_ncu_price, &has_ncu_price, 1,
       INT64_C(10000000), NULL},
      {"placement", SL_JT_ENUM, false, &placement, NULL, 0, 0, sl_vocab_names(SL_VD_PLACEMENT)},
      {"max_pieces", SL_JT_INT, false, &max_pieces, &has_pieces, 1, 64, NULL},
      {"starts", SL_JT_ENUM, false, &starts, NULL, 0, 0, sl_vocab_names(SL_VD_STARTS)},
      {"objective", SL_JT_ENUM, false, &objective, &has_objective, 0, 0,
       sl_vocab_names(SL_VD_OBJECTIVE)},
      {"money_per_ms", SL_JT_MONEY, false, &mpm, &has_mpm, 0, INT64_C(10000000), NULL},
      {"time_in_force", SL_JT_ENUM, false, &tif, NULL, 0, 0, sl_vocab_names(SL_VD_TIME_IN_FORCE)},
      {"expires_at", SL_JT_TIME, false, &expires, &has_expires, 0, 0, NULL},
      {"latency_tolerance_ms", SL_JT_MILLI, false, &tol, &has_tol, 0, 1000000, NULL},
      {"clearing", SL_JT_ENUM, false, &clearing, NULL, 0, 0, sl_vocab_names(SL_VD_CLEARING)},
  };
  if (!sl_json_decode(body, f, sizeof f / sizeof f[0], NULL, err)) return false;

  int64_t min_mem = -1, min_ncu = -1, min_gbps = 0;
  const char *intra = NULL, *min_inter = NULL;
  json_t *accels = NULL;
  const sl_jfield sf[] = {
      {"accelerators", SL_JT_ARRAY, false, &accels, NULL, 1, 64, NULL},
      {"min_memory_gb", SL_JT_INT, false, &min_mem, NULL, 1, 4096, NULL},
      {"min_ncu", SL_JT_MILLI, false, &min_ncu, NULL, 1, 1000000, NULL},
      {"intra_node", SL_JT_ENUM, false, &intra, NULL, 0, 0, sl_vocab_names(SL_VD_INTRA_NODE)},
      {"min_inter_node", SL_JT_ENUM, false, &min_inter, NULL, 0, 0, inter_names},
      {"min_inter_node_gbps", SL_JT_INT, false, &min_gbps, NULL, 1, 100000, NULL},
  };
  if (spec && !sl_json_decode(spec, sf, sizeof sf / sizeof sf[0], "spec.", err)) return false;

  if (has_gpus && has_ncu)
    return sl_jerr_set(err, SL_E_INVALID_VALUE, "ncu", "give gpus or ncu, not both");
  if (has_min_gpus && has_ncu)
    return sl_jerr_set(err, SL_E_INVALID_VALUE, "min_gpus",
                       "only allowed with gpus (an order for ncu has min_ncu_filled)");
  if (has_min_ncu_filled && !has_ncu)
    return sl_jerr_set(err, SL_E_INVALID_VALUE, "min_ncu_filled",
                       "only allowed with ncu (an order for gpus has min_gpus)");
  if (has_min_ncu_filled && min_ncu_filled > ncu)
    return sl_jerr_set(err, SL_E_INVALID_VALUE, "min_ncu_filled", "must not exceed ncu");
  if (has_min_gpus && min_gpus > gpus)
    return sl_jerr_set(err, SL_E_INVALID_VALUE, "min_gpus", "must not exceed gpus (%lld)",
                       (long long)gpus);
  if (!has_latest) latest = earliest;
  if (latest < earliest)
    return sl_jerr_set(err, SL_E_INVALID_VALUE, "latest_start",
                       "must not be before earliest_start");
  if (latest - earliest > MAX_WINDOW_S)
    return sl_jerr_set(err, SL_E_INVALID_VALUE, "latest_start",
                       "may be at most 30 days after earliest_start");
  if (has_rtt && !origin)
    return sl_jerr_set(err, SL_E_MISSING_FIELD, "origin_region", "max_rtt_ms needs origin_region");
  /* an order that limits the price per NCU-hour and names no objective buys the cheapest NCU
   * (issue 15), not the cheapest GPU-hour */
  if (!has_objective && has_ncu_price) objective = sl_vocab_name(SL_OBJECTIVE_CHEAPEST_PER_NCU);
  sl_vocab obj = sl_vocab_parse(SL_VD_OBJECTIVE, objective);
  bool tradeoff = obj == SL_OBJECTIVE_TRADEOFF;
  if (obj != SL_OBJECTIVE_CHEAPEST && obj != SL_OBJECTIVE_CHEAPEST_PER_NCU && !origin)
    return sl_jerr_set(err, SL_E_MISSING_FIELD, "origin_region", "objective %s needs origin_region",
                       objective);
  if (tradeoff && !has_mpm)
    return sl_jerr_set(err, SL_E_MISSING_FIELD, "money_per_ms",
                       "objective tradeoff needs money_per_ms");
  if (!tradeoff && has_mpm)
    return sl_jerr_set(err, SL_E_INVALID_VALUE, "money_per_ms",
                       "only allowed with objective tradeoff");
  if (has_tol && obj != SL_OBJECTIVE_LOWEST_LATENCY)
    return sl_jerr_set(err, SL_E_INVALID_VALUE, "latency_tolerance_ms",
                       "only allowed with objective lowest_latency");
  bool split = sl_vocab_is(placement, SL_PLACEMENT_SPLIT);
  if (!split && has_pieces)
    return sl_jerr_set(err, SL_E_INVALID_VALUE, "max_pieces", "only allowed with placement split");
  if (!split && starts)
    return sl_jerr_set(err, SL_E_INVALID_VALUE, "starts", "only allowed with placement split");
  bool good_till = sl_vocab_is(tif, SL_TIME_IN_FORCE_GOOD_TILL);
  bool call = sl_vocab_is(clearing, SL_CLEARING_CALL);
  if (call && !good_till)
    return sl_jerr_set(err, SL_E_INVALID_VALUE, "clearing",
                       "clearing call needs time_in_force good_till (it waits for the auction)");
  if (call && split)
    return sl_jerr_set(err, SL_E_INVALID_VALUE, "clearing",
                       "clearing call orders are placed gang (one pool)");
  if (call && has_min_ncu_filled)
    return sl_jerr_set(err, SL_E_INVALID_VALUE, "clearing",
                       "clearing call orders are filled whole (no min_ncu_filled)");
  if (call && has_min_gpus)
    return sl_jerr_set(err, SL_E_INVALID_VALUE, "clearing",
                       "clearing call orders are filled whole (no min_gpus)");
  if (good_till && !has_expires)
    return sl_jerr_set(err, SL_E_MISSING_FIELD, "expires_at",
                       "time_in_force good_till needs expires_at");
  if (!good_till && has_expires)
    return sl_jerr_set(err, SL_E_INVALID_VALUE, "expires_at",
                       "only allowed with time_in_force good_till");
  if (now > 0) {
    if (latest < sl_market_order_next_slot(now))
      return sl_jerr_set(
          err, SL_E_INVALID_VALUE, has_latest ? "latest_start" : "earliest_start",
          "the start window is in the past (the next possible start is the next whole hour)");
    if (earliest > now + MAX_AHEAD_S)
      return sl_jerr_set(err, SL_E_INVALID_VALUE, "earliest_start",
                         "may be at most one year ahead");
    if (good_till && expires <= now)
      return sl_jerr_set(err, SL_E_INVALID_VALUE, "expires_at", "must be in the future");
  }

  size_t na = accels ? json_array_size(accels) : 0, nr = regions ? json_array_size(regions) : 0,
         nx = excluded ? json_array_size(excluded) : 0;
  out->lists = calloc(na + nr + nx + 1, sizeof *out->lists);
  if (!out->lists) return sl_jerr_set(err, SL_E_INTERNAL, "", "out of memory");
  if ((accels && !string_list(accels, "spec.accelerators", out->lists, err)) ||
      (regions && !string_list(regions, "regions", out->lists + na, err)) ||
      (excluded && !string_list(excluded, "exclude_regions", out->lists + na + nr, err))) {
    free(out->lists);
    out->lists = NULL;
    return false;
  }
  sl_market_order *m = &out->m;
  /* an NCU order: gpus is its amount in whole NCU rounded up, for the records only (each pool
   * gives sl_market_gpus_for) */
  m->gpus = has_ncu ? (int32_t)((ncu + 999) / 1000) : (int32_t)gpus;
  m->ncu_milli_wanted = has_ncu ? ncu : 0;
  /* == ncu: whole (0) */
  m->min_ncu_milli_filled = has_min_ncu_filled && min_ncu_filled < ncu ? min_ncu_filled : 0;
  m->min_gpus = has_min_gpus && min_gpus < gpus ? (int32_t)min_gpus : 0; /* == gpus: whole */
  m->duration_slots = (int32_t)hours;
  m->earliest_start = earliest;
  m->latest_start = latest;
  m->accelerators = out->lists;
  m->n_accelerators = na;
  m->min_memory_gb = (int32_t)min_mem;
  m->min_ncu_milli = min_ncu;
  m->intra = intra ? sl_market_intra_of(intra) : SL_INTRA_ANY;
  m->min_inter = min_inter ? sl_market_inter_of(min_inter) : SL_INTER_NONE;
  m->min_inter_gbps = (int32_t)min_gbps;
  m->has_origin = origin != NULL;
  m->max_rtt_us = has_rtt ? max_rtt : -1; /* thousandths of a millisecond = microseconds */
  m->regions = out->lists + na;
  m->n_regions = nr;
  m->excluded = out->lists + na + nr;
  m->n_excluded = nx;
  m->max_price_minor = has_max_price ? max_price : -1;
  m->max_ncu_price_minor = has_ncu_price ? max_ncu_price : -1;
  m->budget_hourly_minor = -1;
  m->budget_total_minor = -1;
  m->split = split;
  m->max_pieces = (int32_t)max_pieces;
  m->independent_starts = starts && sl_vocab_is(starts, SL_STARTS_INDEPENDENT);
  m->objective = tradeoff                               ? SL_OBJ_TRADEOFF
                 : obj == SL_OBJECTIVE_LOWEST_LATENCY   ? SL_OBJ_LOWEST_LATENCY
                 : obj == SL_OBJECTIVE_CHEAPEST_PER_NCU ? SL_OBJ_CHEAPEST_PER_NCU
                                                        : SL_OBJ_CHEAPEST;
  m->money_per_ms_minor = has_mpm ? mpm : 0;
  /* scarcity-aware placement (issue 15): an uncapped lowest_latency order ranks RTTs in bands */
  if (m->objective == SL_OBJ_LOWEST_LATENCY)
    m->latency_tol_us = has_tol ? tol : has_rtt ? 0 : SL_MARKET_LATENCY_TOLERANCE_US;
  out->origin = origin;
  out->call = call;
  out->clearing_region = origin ? origin : SL_MARKET_CLEARING_ANY;
  out->good_till = good_till;
  out->expires_at = good_till ? expires : 0;
  /* Human inputs ("now+2h", "24h") are resolved once, here: the stored and echoed request
   * holds the exact times and hours, so a resting order re-read later means the same. */
  char ts[32];
  sl_time_format(earliest, ts, sizeof ts);
  json_object_set_new(body, "earliest_start", json_string(ts));
  if (has_latest) {
    sl_time_format(latest, ts, sizeof ts);
    json_object_set_new(body, "latest_start", json_string(ts));
  }
  json_object_set_new(body, "duration_hours", json_integer(hours));
  out->doc = json_incref(body);
  out->accelerators = accels;
  out->regions = regions;
  out->excluded = excluded;
  return true;
}

void sl_market_order_req_free(sl_market_order_req *o) {
  free(o->lists);
  json_decref(o->doc);
  memset(o, 0, sizeof *o);
}
