/* test_order.c — decoding and validating order bodies (src/market/order.c).
 *
 * sl_market_order_parse turns a JSON order body into an sl_market_order plus metadata and rejects
 * bad input with an sl_jerr naming the field.  Checked here: the minimal body and its defaults, a
 * full body, every field's wrong type and range, unknown fields, the start-window rules (with and
 * without `now`), the dependencies between fields, the string lists, the enum mappings, milli and
 * money conversions, sl_market_order_next_slot, and ownership (the request holds a reference to the
 * body; sl_market_order_req_free releases everything — the ASan build checks for leaks).  All times
 * are fixed: the clock is never read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "suanli/core/error.h"
#include "suanli/core/jsonspec.h"
#include "suanli/core/timeutil.h"
#include "suanli/market/market.h"
#include "suanli/market/order.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define HOUR INT64_C(3600)
#define DAY  (24 * HOUR)

/* 2030-01-01T00:00:00Z and the fixed "now" of these tests, 2030-01-01T10:20:00Z. */
#define T2030 INT64_C(1893456000)
#define NOW   (T2030 + 10 * HOUR + 20 * 60)

/* The minimal valid body; patches are merged into it (a null value removes a field, since
 * the decoder treats null as absent). */
#define BASE "{\"gpus\":8,\"duration_hours\":4,\"earliest_start\":\"2030-01-01T12:00:00Z\"}"

static json_t *load(const char *text) {
  json_error_t je;
  json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &je);
  if (!doc) fail_msg("test JSON does not parse: %s: %s", text, je.text);
  return doc;
}

/* BASE with the members of `patch` (a JSON object text, or NULL) set over it. */
static json_t *body_with(const char *patch) {
  json_t *b = load(BASE);
  if (patch) {
    json_t *p = load(patch);
    if (!json_is_object(p)) fail_msg("patch is not an object: %s", patch);
    if (json_object_update(b, p) != 0) fail_msg("json_object_update failed");
    json_decref(p);
  }
  return b;
}

static int64_t T(const char *s) {
  int64_t t = 0;
  if (!sl_time_parse(s, &t)) fail_msg("bad test timestamp %s", s);
  return t;
}

static bool all_zero(const void *p, size_t n) {
  const unsigned char *c = p;
  for (size_t i = 0; i < n; i++)
    if (c[i]) return false;
  return true;
}

/* Parse body (taking the caller's reference) and expect success.  The body is released
 * here, so everything the test then reads lives only through out.doc. */
static sl_market_order_req parse_body_ok(json_t *body, int64_t now, const char *what) {
  sl_market_order_req o;
  sl_jerr err;
  memset(&o, 0xa5, sizeof o);
  memset(&err, 0x5a, sizeof err);
  size_t refs = body->refcount;
  if (!sl_market_order_parse(body, now, &o, &err))
    fail_msg("parse(%s, now=%lld) failed: code=%s field=\"%s\" detail=\"%s\"", what, (long long)now,
             sl_err_name(err.code), err.field, err.detail);
  assert_int_equal(err.code, SL_E_OK);
  assert_ptr_equal(o.doc, body);
  assert_int_equal(body->refcount, refs + 1);
  assert_non_null(o.lists);
  json_decref(body);
  return o;
}

static sl_market_order_req parse_ok(const char *patch, int64_t now) {
  return parse_body_ok(body_with(patch), now, patch ? patch : "BASE");
}

/* Parse body and expect failure with `code` naming `field`; out must be left zeroed and
 * the body's reference count unchanged. */
static void expect_fail_body(json_t *body, int64_t now, sl_err code, const char *field,
                             const char *what, int line) {
  sl_market_order_req o;
  sl_jerr err;
  memset(&o, 0xa5, sizeof o);
  memset(&err, 0, sizeof err);
  size_t refs = body ? body->refcount : 0;
  bool ok = sl_market_order_parse(body, now, &o, &err);
  if (ok) {
    sl_market_order_req_free(&o);
    fail_msg("line %d: parse(%s, now=%lld) succeeded; want %s on \"%s\"", line, what,
             (long long)now, sl_err_name(code), field);
  }
  if (err.code != code || strcmp(err.field, field) != 0)
    fail_msg("line %d: parse(%s, now=%lld): code=%s field=\"%s\" detail=\"%s\"; want %s on \"%s\"",
             line, what, (long long)now, sl_err_name(err.code), err.field, err.detail,
             sl_err_name(code), field);
  if (strlen(err.detail) == 0) fail_msg("line %d: parse(%s): empty detail", line, what);
  if (!all_zero(&o, sizeof o))
    fail_msg("line %d: parse(%s) failed but left out non-zero", line, what);
  if (body && body->refcount != refs)
    fail_msg("line %d: parse(%s) failed but changed the body's reference count", line, what);
  sl_market_order_req_free(&o); /* harmless on the zeroed struct */
  json_decref(body);
}

#define FAIL(patch, now, code, field)                                                              \
  expect_fail_body(body_with(patch), (now), (code), (field), (patch), __LINE__)

/* ---------------------------------------------------------------- basics */

static void test_fixed_times(void **state) {
  (void)state;
  assert_int_equal(T("2030-01-01T00:00:00Z"), T2030);
  assert_int_equal(T("2030-01-01T10:20:00Z"), NOW);
}

static void test_minimal_defaults(void **state) {
  (void)state;
  for (int k = 0; k < 2; k++) {
    int64_t now = k ? NOW : 0;
    sl_market_order_req o = parse_ok(NULL, now);
    const sl_market_order *m = &o.m;
    assert_int_equal(m->gpus, 8);
    assert_int_equal(m->duration_slots, 4);
    assert_int_equal(m->earliest_start, T2030 + 12 * HOUR);
    assert_int_equal(m->latest_start, m->earliest_start); /* latest defaults to earliest */
    assert_int_equal(m->n_accelerators, 0);
    assert_int_equal(m->min_memory_gb, -1);
    assert_int_equal(m->min_ncu_milli, -1);
    assert_int_equal(m->intra, SL_INTRA_ANY);
    assert_int_equal(m->min_inter, SL_INTER_NONE);
    assert_int_equal(m->min_inter_gbps, 0);
    assert_false(m->has_origin);
    assert_int_equal(m->max_rtt_us, -1);
    assert_int_equal(m->n_regions, 0);
    assert_int_equal(m->n_excluded, 0);
    assert_int_equal(m->max_price_minor, -1);
    assert_int_equal(m->max_ncu_price_minor, -1);
    assert_int_equal(m->budget_hourly_minor, -1);
    assert_int_equal(m->budget_total_minor, -1);
    assert_false(m->split); /* gang */
    assert_int_equal(m->max_pieces, 16);
    assert_int_equal(m->objective, SL_OBJ_CHEAPEST);
    assert_int_equal(m->money_per_ms_minor, 0);
    assert_null(o.origin);
    assert_false(o.good_till); /* fill_or_kill */
    assert_int_equal(o.expires_at, 0);
    assert_null(o.accelerators);
    assert_null(o.regions);
    assert_null(o.excluded);
    sl_market_order_req_free(&o);
    assert_true(all_zero(&o, sizeof o));
  }
}

static void test_explicit_defaults_same(void **state) {
  (void)state;
  sl_market_order_req o = parse_ok("{\"latest_start\":\"2030-01-01T12:00:00Z\",\"spec\":{},"
                                   "\"placement\":\"gang\",\"objective\":\"cheapest\","
                                   "\"time_in_force\":\"fill_or_kill\"}",
                                   NOW);
  assert_int_equal(o.m.latest_start, T2030 + 12 * HOUR);
  assert_false(o.m.split);
  assert_int_equal(o.m.max_pieces, 16);
  assert_int_equal(o.m.objective, SL_OBJ_CHEAPEST);
  assert_false(o.good_till);
  assert_int_equal(o.m.min_memory_gb, -1);
  assert_int_equal(o.m.intra, SL_INTRA_ANY);
  sl_market_order_req_free(&o);

  /* a price limit per NCU-hour without an objective buys the cheapest NCU (issue 15); an
   * explicit objective stays */
  o = parse_ok("{\"max_price_per_ncu_hour\":\"2.00\"}", NOW);
  assert_int_equal(o.m.objective, SL_OBJ_CHEAPEST_PER_NCU);
  assert_int_equal(o.m.max_ncu_price_minor, 200);
  sl_market_order_req_free(&o);
  o = parse_ok("{\"max_price_per_ncu_hour\":\"2.00\",\"objective\":\"cheapest\"}", NOW);
  assert_int_equal(o.m.objective, SL_OBJ_CHEAPEST);
  sl_market_order_req_free(&o);
  o = parse_ok("{\"objective\":\"cheapest_per_ncu\"}", NOW); /* needs no origin */
  assert_int_equal(o.m.objective, SL_OBJ_CHEAPEST_PER_NCU);
  sl_market_order_req_free(&o);

  /* an amount of NCU instead of gpus (gpus records it rounded up) */
  o = parse_ok("{\"gpus\":null,\"ncu\":\"7.5\"}", NOW);
  assert_int_equal(o.m.ncu_milli_wanted, 7500);
  assert_int_equal(o.m.gpus, 8);
  sl_market_order_req_free(&o);
  /* split too (issue 15): pieces on any rated models */
  o = parse_ok("{\"gpus\":null,\"ncu\":\"24\",\"placement\":\"split\",\"max_pieces\":3,"
               "\"starts\":\"independent\"}",
               NOW);
  assert_int_equal(o.m.ncu_milli_wanted, 24000);
  assert_true(o.m.split && o.m.independent_starts);
  assert_int_equal(o.m.max_pieces, 3);
  sl_market_order_req_free(&o);
  FAIL("{\"gpus\":null,\"ncu\":\"-1\",\"placement\":\"split\"}", NOW, SL_E_INVALID_VALUE, "ncu");
  FAIL("{\"gpus\":null,\"ncu\":\"100001\",\"placement\":\"split\"}", NOW, SL_E_INVALID_VALUE,
       "ncu");
  FAIL("{\"gpus\":null,\"ncu\":\"0\"}", NOW, SL_E_INVALID_VALUE, "ncu");
  /* a least part of an NCU order (issue 15): only with ncu, at most ncu; equal is whole */
  o = parse_ok("{\"gpus\":null,\"ncu\":\"24\",\"min_ncu_filled\":\"12.5\"}", NOW);
  assert_int_equal(o.m.min_ncu_milli_filled, 12500);
  sl_market_order_req_free(&o);
  o = parse_ok("{\"gpus\":null,\"ncu\":\"24\",\"min_ncu_filled\":\"24\"}", NOW);
  assert_int_equal(o.m.min_ncu_milli_filled, 0);
  sl_market_order_req_free(&o);
  FAIL("{\"gpus\":null,\"ncu\":\"24\",\"min_ncu_filled\":\"24.001\"}", NOW, SL_E_INVALID_VALUE,
       "min_ncu_filled");
  FAIL("{\"gpus\":null,\"ncu\":\"24\",\"min_ncu_filled\":\"0\"}", NOW, SL_E_INVALID_VALUE,
       "min_ncu_filled");
  FAIL("{\"min_ncu_filled\":\"2\"}", NOW, SL_E_INVALID_VALUE, "min_ncu_filled");
  FAIL("{\"ncu\":\"8\"}", NOW, SL_E_INVALID_VALUE, "ncu"); /* and gpus: not both */

  /* partial fills (issue 15): min_gpus 1..gpus; equal to gpus is whole (0 in the order) */
  o = parse_ok("{\"gpus\":8,\"min_gpus\":3}", NOW);
  assert_int_equal(o.m.min_gpus, 3);
  sl_market_order_req_free(&o);
  o = parse_ok("{\"gpus\":8,\"min_gpus\":8,\"placement\":\"split\"}", NOW);
  assert_int_equal(o.m.min_gpus, 0);
  sl_market_order_req_free(&o);
  o = parse_ok("{\"min_gpus\":null}", NOW);
  assert_int_equal(o.m.min_gpus, 0);
  sl_market_order_req_free(&o);
  FAIL("{\"gpus\":8,\"min_gpus\":9}", NOW, SL_E_INVALID_VALUE, "min_gpus");
  FAIL("{\"gpus\":8,\"min_gpus\":0}", NOW, SL_E_INVALID_VALUE, "min_gpus");
  FAIL("{\"gpus\":8,\"min_gpus\":-2}", NOW, SL_E_INVALID_VALUE, "min_gpus");
  FAIL("{\"gpus\":8,\"min_gpus\":\"4\"}", NOW, SL_E_WRONG_TYPE, "min_gpus");
  FAIL("{\"gpus\":8,\"min_gpus\":2.5}", NOW, SL_E_WRONG_TYPE, "min_gpus");
  FAIL("{\"gpus\":null,\"ncu\":\"8\",\"min_gpus\":2}", NOW, SL_E_INVALID_VALUE, "min_gpus");

  /* split pieces may start independently (issue 15): split only */
  o = parse_ok("{\"placement\":\"split\",\"starts\":\"independent\"}", NOW);
  assert_true(o.m.independent_starts);
  sl_market_order_req_free(&o);
  o = parse_ok("{\"placement\":\"split\",\"starts\":\"same\"}", NOW);
  assert_false(o.m.independent_starts);
  sl_market_order_req_free(&o);
  FAIL("{\"starts\":\"independent\"}", NOW, SL_E_INVALID_VALUE, "starts");
  FAIL("{\"placement\":\"split\",\"starts\":\"whenever\"}", NOW, SL_E_INVALID_VALUE, "starts");
  FAIL("{\"placement\":\"split\",\"starts\":1}", NOW, SL_E_WRONG_TYPE, "starts");

  /* null is the same as absent, for optional fields and for spec */
  o = parse_ok("{\"latest_start\":null,\"spec\":null,\"origin_region\":null,\"max_rtt_ms\":null,"
               "\"regions\":null,\"max_pieces\":null,\"money_per_ms\":null,\"expires_at\":null}",
               NOW);
  assert_int_equal(o.m.latest_start, o.m.earliest_start);
  assert_int_equal(o.m.max_rtt_us, -1);
  assert_int_equal(o.m.max_pieces, 16);
  assert_null(o.origin);
  sl_market_order_req_free(&o);
}

static void test_full_body(void **state) {
  (void)state;
  sl_market_order_req o = parse_ok(
      "{\"gpus\":100000,\"duration_hours\":2160,"
      "\"earliest_start\":\"2030-01-02T00:00:00Z\",\"latest_start\":\"2030-01-03T05:00:00+02:00\","
      "\"spec\":{\"accelerators\":[\"H100-SXM\",\"A100-80G\"],\"min_memory_gb\":80,"
      "\"min_ncu\":\"0.9\",\"intra_node\":\"nvlink\",\"min_inter_node\":\"infiniband\","
      "\"min_inter_node_gbps\":400},"
      "\"origin_region\":\"eu-west-1\",\"max_rtt_ms\":25,"
      "\"regions\":[\"eu-west-1\",\"eu-central-1\"],\"exclude_regions\":[\"eu-north-1\"],"
      "\"max_price_per_gpu_hour\":\"3.75\",\"max_price_per_ncu_hour\":\"4.10\","
      "\"placement\":\"split\",\"max_pieces\":64,\"objective\":\"tradeoff\","
      "\"money_per_ms\":\"0.05\",\"time_in_force\":\"good_till\","
      "\"expires_at\":\"2030-01-01T23:59:59Z\"}",
      NOW);
  const sl_market_order *m = &o.m;
  assert_int_equal(m->gpus, 100000);
  assert_int_equal(m->duration_slots, 2160);
  assert_int_equal(m->earliest_start, T2030 + DAY);
  assert_int_equal(m->latest_start, T2030 + 2 * DAY + 3 * HOUR); /* offset applied */
  assert_int_equal(m->n_accelerators, 2);
  assert_string_equal(m->accelerators[0], "H100-SXM");
  assert_string_equal(m->accelerators[1], "A100-80G");
  assert_int_equal(m->min_memory_gb, 80);
  assert_int_equal(m->min_ncu_milli, 900);
  assert_int_equal(m->intra, SL_INTRA_NVLINK);
  assert_int_equal(m->min_inter, SL_INTER_INFINIBAND);
  assert_int_equal(m->min_inter_gbps, 400);
  assert_true(m->has_origin);
  assert_string_equal(o.origin, "eu-west-1");
  assert_int_equal(m->max_rtt_us, 25000);
  assert_int_equal(m->n_regions, 2);
  assert_string_equal(m->regions[0], "eu-west-1");
  assert_string_equal(m->regions[1], "eu-central-1");
  assert_int_equal(m->n_excluded, 1);
  assert_string_equal(m->excluded[0], "eu-north-1");
  assert_int_equal(m->max_price_minor, 375);
  assert_int_equal(m->max_ncu_price_minor, 410);
  assert_int_equal(m->budget_hourly_minor, -1); /* the exchange fills budgets */
  assert_int_equal(m->budget_total_minor, -1);
  assert_true(m->split);
  assert_int_equal(m->max_pieces, 64);
  assert_int_equal(m->objective, SL_OBJ_TRADEOFF);
  assert_int_equal(m->money_per_ms_minor, 5);
  assert_true(o.good_till);
  assert_int_equal(o.expires_at, T2030 + DAY - 1);
  sl_market_order_req_free(&o);
}

static void test_body_not_object(void **state) {
  (void)state;
  expect_fail_body(load("[]"), NOW, SL_E_WRONG_TYPE, "", "[]", __LINE__);
  expect_fail_body(load("[{\"gpus\":1}]"), NOW, SL_E_WRONG_TYPE, "", "[...]", __LINE__);
  expect_fail_body(json_string("x"), NOW, SL_E_WRONG_TYPE, "", "\"x\"", __LINE__);
  expect_fail_body(json_integer(5), NOW, SL_E_WRONG_TYPE, "", "5", __LINE__);
  /* NULL and {} have no required fields */
  expect_fail_body(NULL, NOW, SL_E_MISSING_FIELD, "gpus", "NULL", __LINE__);
  expect_fail_body(load("{}"), NOW, SL_E_MISSING_FIELD, "gpus", "{}", __LINE__);
}

static void test_missing_required(void **state) {
  (void)state;
  FAIL("{\"gpus\":null}", NOW, SL_E_MISSING_FIELD, "gpus");
  FAIL("{\"duration_hours\":null}", NOW, SL_E_MISSING_FIELD, "duration_hours");
  FAIL("{\"earliest_start\":null}", NOW, SL_E_MISSING_FIELD, "earliest_start");
  FAIL("{\"earliest_start\":null,\"latest_start\":\"2030-01-01T12:00:00Z\"}", NOW,
       SL_E_MISSING_FIELD, "earliest_start");
  expect_fail_body(load("{\"gpus\":1,\"earliest_start\":\"2030-01-01T12:00:00Z\"}"), NOW,
                   SL_E_MISSING_FIELD, "duration_hours", "no duration", __LINE__);
}

/* ---------------------------------------------------------------- types */

static void test_wrong_types(void **state) {
  (void)state;
  static const struct {
    const char *patch, *field;
  } cases[] = {
      {"{\"gpus\":\"8\"}", "gpus"},
      {"{\"gpus\":8.0}", "gpus"},
      {"{\"gpus\":true}", "gpus"},
      {"{\"gpus\":[8]}", "gpus"},
      {"{\"duration_hours\":\"4\"}", "duration_hours"},
      {"{\"duration_hours\":4.5}", "duration_hours"},
      {"{\"duration_hours\":false}", "duration_hours"},
      {"{\"earliest_start\":1893499200}", "earliest_start"},
      {"{\"earliest_start\":{}}", "earliest_start"},
      {"{\"latest_start\":1893499200}", "latest_start"},
      {"{\"latest_start\":true}", "latest_start"},
      {"{\"spec\":[]}", "spec"},
      {"{\"spec\":\"H100\"}", "spec"},
      {"{\"spec\":1}", "spec"},
      {"{\"origin_region\":5}", "origin_region"},
      {"{\"origin_region\":[\"eu-west-1\"]}", "origin_region"},
      {"{\"origin_region\":\"eu-west-1\",\"max_rtt_ms\":true}", "max_rtt_ms"},
      {"{\"origin_region\":\"eu-west-1\",\"max_rtt_ms\":[80]}", "max_rtt_ms"},
      {"{\"origin_region\":\"eu-west-1\",\"max_rtt_ms\":{}}", "max_rtt_ms"},
      {"{\"regions\":\"eu-west-1\"}", "regions"},
      {"{\"regions\":{}}", "regions"},
      {"{\"exclude_regions\":\"eu-west-1\"}", "exclude_regions"},
      {"{\"exclude_regions\":7}", "exclude_regions"},
      {"{\"max_price_per_gpu_hour\":2.5}", "max_price_per_gpu_hour"},
      {"{\"max_price_per_gpu_hour\":3}", "max_price_per_gpu_hour"},
      {"{\"max_price_per_ncu_hour\":1}", "max_price_per_ncu_hour"},
      {"{\"max_price_per_ncu_hour\":true}", "max_price_per_ncu_hour"},
      {"{\"placement\":1}", "placement"},
      {"{\"placement\":[\"split\"]}", "placement"},
      {"{\"max_pieces\":\"4\"}", "max_pieces"},
      {"{\"placement\":\"split\",\"max_pieces\":4.5}", "max_pieces"},
      {"{\"objective\":false}", "objective"},
      {"{\"origin_region\":\"eu-west-1\",\"objective\":\"tradeoff\",\"money_per_ms\":1}",
       "money_per_ms"},
      {"{\"money_per_ms\":0.5}", "money_per_ms"},
      {"{\"time_in_force\":0}", "time_in_force"},
      {"{\"expires_at\":0}", "expires_at"},
      {"{\"time_in_force\":\"good_till\",\"expires_at\":1893500000}", "expires_at"},
      {"{\"spec\":{\"accelerators\":\"H100-SXM\"}}", "spec.accelerators"},
      {"{\"spec\":{\"accelerators\":{}}}", "spec.accelerators"},
      {"{\"spec\":{\"min_memory_gb\":\"80\"}}", "spec.min_memory_gb"},
      {"{\"spec\":{\"min_memory_gb\":80.5}}", "spec.min_memory_gb"},
      {"{\"spec\":{\"min_ncu\":true}}", "spec.min_ncu"},
      {"{\"spec\":{\"min_ncu\":[1]}}", "spec.min_ncu"},
      {"{\"spec\":{\"intra_node\":1}}", "spec.intra_node"},
      {"{\"spec\":{\"intra_node\":[\"nvlink\"]}}", "spec.intra_node"},
      {"{\"spec\":{\"min_inter_node\":[]}}", "spec.min_inter_node"},
      {"{\"spec\":{\"min_inter_node\":3}}", "spec.min_inter_node"},
      {"{\"spec\":{\"min_inter_node_gbps\":\"100\"}}", "spec.min_inter_node_gbps"},
      {"{\"spec\":{\"min_inter_node_gbps\":100.5}}", "spec.min_inter_node_gbps"},
  };
  for (size_t i = 0; i < N(cases); i++) FAIL(cases[i].patch, NOW, SL_E_WRONG_TYPE, cases[i].field);
}

static void test_bad_enum_and_time_values(void **state) {
  (void)state;
  static const struct {
    const char *patch, *field;
  } cases[] = {
      {"{\"placement\":\"both\"}", "placement"},
      {"{\"placement\":\"Gang\"}", "placement"},
      {"{\"placement\":\"\"}", "placement"},
      {"{\"objective\":\"fastest\"}", "objective"},
      {"{\"time_in_force\":\"gtc\"}", "time_in_force"},
      {"{\"spec\":{\"intra_node\":\"NVLINK\"}}", "spec.intra_node"},
      {"{\"spec\":{\"intra_node\":\"any\"}}", "spec.intra_node"},
      {"{\"spec\":{\"min_inter_node\":\"none\"}}", "spec.min_inter_node"},
      {"{\"spec\":{\"min_inter_node\":\"infiniband \"}}", "spec.min_inter_node"},
      {"{\"earliest_start\":\"tomorrow\"}", "earliest_start"},
      {"{\"earliest_start\":\"2030-01-01T12:00:00.5Z\"}", "earliest_start"},
      {"{\"earliest_start\":\"2101-01-01T00:00:00Z\"}", "earliest_start"},
      {"{\"latest_start\":\"2030-02-30T12:00:00Z\"}", "latest_start"},
      {"{\"time_in_force\":\"good_till\",\"expires_at\":\"soon\"}", "expires_at"},
  };
  for (size_t i = 0; i < N(cases); i++)
    FAIL(cases[i].patch, NOW, SL_E_INVALID_VALUE, cases[i].field);
}

/* ---------------------------------------------------------------- ranges */

static void test_ranges(void **state) {
  (void)state;
  static const struct {
    const char *patch, *field;
  } bad[] = {
      {"{\"gpus\":0}", "gpus"},
      {"{\"gpus\":-1}", "gpus"},
      {"{\"gpus\":100001}", "gpus"},
      {"{\"gpus\":4294967304}", "gpus"}, /* 2^32 + 8: no truncation to int32 */
      {"{\"duration_hours\":0}", "duration_hours"},
      {"{\"duration_hours\":2161}", "duration_hours"},
      {"{\"duration_hours\":-4}", "duration_hours"},
      {"{\"spec\":{\"min_memory_gb\":0}}", "spec.min_memory_gb"},
      {"{\"spec\":{\"min_memory_gb\":4097}}", "spec.min_memory_gb"},
      {"{\"spec\":{\"min_ncu\":0}}", "spec.min_ncu"},
      {"{\"spec\":{\"min_ncu\":\"0\"}}", "spec.min_ncu"},
      {"{\"spec\":{\"min_ncu\":\"0.0001\"}}", "spec.min_ncu"},
      {"{\"spec\":{\"min_ncu\":\"1000.001\"}}", "spec.min_ncu"},
      {"{\"spec\":{\"min_ncu\":1001}}", "spec.min_ncu"},
      {"{\"spec\":{\"min_ncu\":-1}}", "spec.min_ncu"},
      {"{\"spec\":{\"min_inter_node_gbps\":0}}", "spec.min_inter_node_gbps"},
      {"{\"spec\":{\"min_inter_node_gbps\":100001}}", "spec.min_inter_node_gbps"},
      {"{\"placement\":\"split\",\"max_pieces\":0}", "max_pieces"},
      {"{\"placement\":\"split\",\"max_pieces\":65}", "max_pieces"},
      {"{\"placement\":\"split\",\"max_pieces\":-1}", "max_pieces"},
      {"{\"origin_region\":\"e\"}", "origin_region"},
      {"{\"origin_region\":\"\"}", "origin_region"},
      {"{\"origin_region\":\"abcdefghijabcdefghijabcdefghijabcdefghijk\"}", "origin_region"},
      {"{\"origin_region\":\"eu\\nwest\"}", "origin_region"},
      {"{\"origin_region\":\"eu-west-1\",\"max_rtt_ms\":10000.001}", "max_rtt_ms"},
      {"{\"origin_region\":\"eu-west-1\",\"max_rtt_ms\":\"10001\"}", "max_rtt_ms"},
      {"{\"origin_region\":\"eu-west-1\",\"max_rtt_ms\":-1}", "max_rtt_ms"},
      {"{\"origin_region\":\"eu-west-1\",\"max_rtt_ms\":\"-1\"}", "max_rtt_ms"},
      {"{\"origin_region\":\"eu-west-1\",\"max_rtt_ms\":\"80.0005\"}", "max_rtt_ms"},
      {"{\"origin_region\":\"eu-west-1\",\"max_rtt_ms\":80.0005}", "max_rtt_ms"},
      {"{\"origin_region\":\"eu-west-1\",\"max_rtt_ms\":\"abc\"}", "max_rtt_ms"},
      {"{\"origin_region\":\"eu-west-1\",\"max_rtt_ms\":\"\"}", "max_rtt_ms"},
      {"{\"max_price_per_gpu_hour\":\"0\"}", "max_price_per_gpu_hour"},
      {"{\"max_price_per_gpu_hour\":\"0.00\"}", "max_price_per_gpu_hour"},
      {"{\"max_price_per_gpu_hour\":\"100000.01\"}", "max_price_per_gpu_hour"},
      {"{\"max_price_per_gpu_hour\":\"2.505\"}", "max_price_per_gpu_hour"},
      {"{\"max_price_per_gpu_hour\":\"-1\"}", "max_price_per_gpu_hour"},
      {"{\"max_price_per_gpu_hour\":\"\"}", "max_price_per_gpu_hour"},
      {"{\"max_price_per_gpu_hour\":\"1e2\"}", "max_price_per_gpu_hour"},
      {"{\"max_price_per_gpu_hour\":\" 2.50\"}", "max_price_per_gpu_hour"},
      {"{\"max_price_per_ncu_hour\":\"0\"}", "max_price_per_ncu_hour"},
      {"{\"max_price_per_ncu_hour\":\"100000.01\"}", "max_price_per_ncu_hour"},
      {"{\"max_price_per_ncu_hour\":\"1.001\"}", "max_price_per_ncu_hour"},
      {"{\"origin_region\":\"eu-west-1\",\"objective\":\"tradeoff\",\"money_per_ms\":\"100000."
       "01\"}",
       "money_per_ms"},
      {"{\"origin_region\":\"eu-west-1\",\"objective\":\"tradeoff\",\"money_per_ms\":\"0.001\"}",
       "money_per_ms"},
      {"{\"origin_region\":\"eu-west-1\",\"objective\":\"tradeoff\",\"money_per_ms\":\"-0.01\"}",
       "money_per_ms"},
  };
  for (size_t i = 0; i < N(bad); i++) FAIL(bad[i].patch, NOW, SL_E_INVALID_VALUE, bad[i].field);

  /* the inclusive bounds are accepted */
  sl_market_order_req o = parse_ok("{\"gpus\":1,\"duration_hours\":1}", NOW);
  assert_int_equal(o.m.gpus, 1);
  assert_int_equal(o.m.duration_slots, 1);
  sl_market_order_req_free(&o);
  o = parse_ok("{\"gpus\":100000,\"duration_hours\":2160}", NOW);
  assert_int_equal(o.m.gpus, 100000);
  assert_int_equal(o.m.duration_slots, 2160);
  sl_market_order_req_free(&o);
  o = parse_ok("{\"spec\":{\"min_memory_gb\":1,\"min_ncu\":\"0.001\",\"min_inter_node_gbps\":1}}",
               NOW);
  assert_int_equal(o.m.min_memory_gb, 1);
  assert_int_equal(o.m.min_ncu_milli, 1);
  assert_int_equal(o.m.min_inter_gbps, 1);
  sl_market_order_req_free(&o);
  o = parse_ok(
      "{\"spec\":{\"min_memory_gb\":4096,\"min_ncu\":1000,\"min_inter_node_gbps\":100000}}", NOW);
  assert_int_equal(o.m.min_memory_gb, 4096);
  assert_int_equal(o.m.min_ncu_milli, 1000000);
  assert_int_equal(o.m.min_inter_gbps, 100000);
  sl_market_order_req_free(&o);
  o = parse_ok("{\"spec\":{\"min_ncu\":1.25}}", NOW);
  assert_int_equal(o.m.min_ncu_milli, 1250);
  sl_market_order_req_free(&o);
  o = parse_ok("{\"placement\":\"split\",\"max_pieces\":1}", NOW);
  assert_true(o.m.split);
  assert_int_equal(o.m.max_pieces, 1);
  sl_market_order_req_free(&o);
  o = parse_ok("{\"placement\":\"split\",\"max_pieces\":64}", NOW);
  assert_int_equal(o.m.max_pieces, 64);
  sl_market_order_req_free(&o);
  o = parse_ok("{\"placement\":\"split\"}", NOW);
  assert_true(o.m.split);
  assert_int_equal(o.m.max_pieces, 16); /* split default */
  sl_market_order_req_free(&o);
  o = parse_ok("{\"origin_region\":\"eu\"}", NOW);
  assert_string_equal(o.origin, "eu");
  sl_market_order_req_free(&o);
  o = parse_ok("{\"origin_region\":\"abcdefghijabcdefghijabcdefghijabcdefghij\"}", NOW);
  assert_int_equal(strlen(o.origin), 40);
  sl_market_order_req_free(&o);
  o = parse_ok("{\"origin_region\":\"eu-west-1\",\"max_rtt_ms\":10000}", NOW);
  assert_int_equal(o.m.max_rtt_us, 10000000);
  sl_market_order_req_free(&o);
  o = parse_ok("{\"max_price_per_gpu_hour\":\"0.01\",\"max_price_per_ncu_hour\":\"100000\"}", NOW);
  assert_int_equal(o.m.max_price_minor, 1);
  assert_int_equal(o.m.max_ncu_price_minor, 10000000);
  sl_market_order_req_free(&o);
}

/* ---------------------------------------------------------------- unknown fields */

static void test_unknown_fields(void **state) {
  (void)state;
  FAIL("{\"foo\":1}", NOW, SL_E_UNKNOWN_FIELD, "foo");
  FAIL("{\"Gpus\":8}", NOW, SL_E_UNKNOWN_FIELD, "Gpus");
  FAIL("{\"budget_total\":\"10\"}", NOW, SL_E_UNKNOWN_FIELD, "budget_total");
  FAIL("{\"accelerators\":[\"H100-SXM\"]}", NOW, SL_E_UNKNOWN_FIELD, "accelerators");
  FAIL("{\"min_memory_gb\":80}", NOW, SL_E_UNKNOWN_FIELD, "min_memory_gb");
  FAIL("{\"foo\":null}", NOW, SL_E_UNKNOWN_FIELD, "foo"); /* unknown even when null */
  FAIL("{\"spec\":{\"foo\":1}}", NOW, SL_E_UNKNOWN_FIELD, "spec.foo");
  FAIL("{\"spec\":{\"gpus\":8}}", NOW, SL_E_UNKNOWN_FIELD, "spec.gpus");
  FAIL("{\"spec\":{\"regions\":[\"eu\"]}}", NOW, SL_E_UNKNOWN_FIELD, "spec.regions");
  FAIL("{\"spec\":{\"min_memory_gb\":80,\"Accelerators\":[\"x\"]}}", NOW, SL_E_UNKNOWN_FIELD,
       "spec.Accelerators");
  /* an unknown top-level field is reported before any problem in spec */
  FAIL("{\"spec\":{\"foo\":1},\"bar\":2}", NOW, SL_E_UNKNOWN_FIELD, "bar");
}

/* ---------------------------------------------------------------- window */

static void test_window_rules(void **state) {
  (void)state;
  /* not on a whole hour */
  FAIL("{\"earliest_start\":\"2030-01-01T12:30:00Z\"}", NOW, SL_E_INVALID_VALUE, "earliest_start");
  FAIL("{\"earliest_start\":\"2030-01-01T12:00:01Z\"}", 0, SL_E_INVALID_VALUE, "earliest_start");
  FAIL("{\"earliest_start\":\"2030-01-01T12:00:00+05:30\"}", 0, SL_E_INVALID_VALUE,
       "earliest_start");
  FAIL("{\"latest_start\":\"2030-01-01T13:00:59Z\"}", NOW, SL_E_INVALID_VALUE, "latest_start");
  /* latest before earliest */
  FAIL("{\"latest_start\":\"2030-01-01T11:00:00Z\"}", NOW, SL_E_INVALID_VALUE, "latest_start");
  FAIL("{\"latest_start\":\"2030-01-01T11:00:00Z\"}", 0, SL_E_INVALID_VALUE, "latest_start");
  /* at most 30 days long */
  sl_market_order_req o = parse_ok("{\"latest_start\":\"2030-01-31T12:00:00Z\"}", NOW);
  assert_int_equal(o.m.latest_start - o.m.earliest_start, 30 * DAY);
  sl_market_order_req_free(&o);
  FAIL("{\"latest_start\":\"2030-01-31T13:00:00Z\"}", NOW, SL_E_INVALID_VALUE, "latest_start");
  FAIL("{\"latest_start\":\"2030-01-31T13:00:00Z\"}", 0, SL_E_INVALID_VALUE, "latest_start");
  FAIL("{\"latest_start\":\"2031-01-01T12:00:00Z\"}", 0, SL_E_INVALID_VALUE, "latest_start");
  /* equal is fine; offsets are converted before the slot check */
  o = parse_ok("{\"latest_start\":\"2030-01-01T14:00:00+02:00\"}", NOW);
  assert_int_equal(o.m.latest_start, o.m.earliest_start);
  sl_market_order_req_free(&o);
  o = parse_ok("{\"earliest_start\":\"2030-01-01T17:30:00+05:30\","
               "\"latest_start\":\"2030-01-01T15:00:00Z\"}",
               NOW);
  assert_int_equal(o.m.earliest_start, T2030 + 12 * HOUR);
  assert_int_equal(o.m.latest_start, T2030 + 15 * HOUR);
  sl_market_order_req_free(&o);
}

static void test_window_against_now(void **state) {
  (void)state;
  /* now = 10:20, so the next whole hour is 11:00.  A window that ends before it is named
   * by latest_start when the body has one, else by earliest_start (the field it sent). */
  FAIL("{\"earliest_start\":\"2030-01-01T09:00:00Z\",\"latest_start\":\"2030-01-01T10:00:00Z\"}",
       NOW, SL_E_INVALID_VALUE, "latest_start");
  FAIL("{\"earliest_start\":\"2030-01-01T10:00:00Z\",\"latest_start\":\"2030-01-01T10:00:00Z\"}",
       NOW, SL_E_INVALID_VALUE, "latest_start");
  FAIL("{\"earliest_start\":\"2029-12-01T00:00:00Z\",\"latest_start\":\"2029-12-02T00:00:00Z\"}",
       NOW, SL_E_INVALID_VALUE, "latest_start");
  FAIL("{\"earliest_start\":\"2030-01-01T10:00:00Z\"}", NOW, SL_E_INVALID_VALUE, "earliest_start");
  FAIL("{\"earliest_start\":\"2029-12-01T00:00:00Z\"}", NOW, SL_E_INVALID_VALUE, "earliest_start");
  FAIL("{\"earliest_start\":\"2030-01-01T10:00:00Z\",\"latest_start\":null}", NOW,
       SL_E_INVALID_VALUE, "earliest_start"); /* null = absent */
  /* exactly the next whole hour is accepted, as latest_start or as the default */
  sl_market_order_req o0 = parse_ok("{\"earliest_start\":\"2030-01-01T08:00:00Z\","
                                    "\"latest_start\":\"2030-01-01T11:00:00Z\"}",
                                    NOW);
  assert_int_equal(o0.m.latest_start, sl_market_order_next_slot(NOW));
  sl_market_order_req_free(&o0);
  sl_market_order_req o = parse_ok("{\"earliest_start\":\"2030-01-01T11:00:00Z\"}", NOW);
  assert_int_equal(o.m.earliest_start, T2030 + 11 * HOUR);
  assert_int_equal(o.m.latest_start, sl_market_order_next_slot(NOW));
  sl_market_order_req_free(&o);
  /* an earliest_start in the past is fine while the window reaches the next hour */
  o = parse_ok(
      "{\"earliest_start\":\"2030-01-01T09:00:00Z\",\"latest_start\":\"2030-01-01T11:00:00Z\"}",
      NOW);
  assert_int_equal(o.m.earliest_start, T2030 + 9 * HOUR);
  assert_int_equal(o.m.latest_start, T2030 + 11 * HOUR);
  sl_market_order_req_free(&o);

  /* now exactly on an hour: that hour itself is the next start */
  int64_t on = T2030 + 10 * HOUR;
  o = parse_ok("{\"earliest_start\":\"2030-01-01T10:00:00Z\"}", on);
  assert_int_equal(o.m.latest_start, on);
  sl_market_order_req_free(&o);
  FAIL("{\"earliest_start\":\"2030-01-01T09:00:00Z\"}", on, SL_E_INVALID_VALUE, "earliest_start");
  /* one second past the hour: the next hour */
  FAIL("{\"earliest_start\":\"2030-01-01T10:00:00Z\"}", on + 1, SL_E_INVALID_VALUE,
       "earliest_start");
  o = parse_ok("{\"earliest_start\":\"2030-01-01T11:00:00Z\"}", on + 1);
  sl_market_order_req_free(&o);
  /* one second before the hour */
  o = parse_ok("{\"earliest_start\":\"2030-01-01T10:00:00Z\"}", on - 1);
  sl_market_order_req_free(&o);

  /* earliest at most 366 days ahead of now: now + 366 days = 2031-01-02T10:20:00Z */
  o = parse_ok("{\"earliest_start\":\"2031-01-02T10:00:00Z\"}", NOW);
  assert_int_equal(o.m.earliest_start, T2030 + 366 * DAY + 10 * HOUR);
  sl_market_order_req_free(&o);
  FAIL("{\"earliest_start\":\"2031-01-02T11:00:00Z\"}", NOW, SL_E_INVALID_VALUE, "earliest_start");
  FAIL("{\"earliest_start\":\"2035-06-01T00:00:00Z\"}", NOW, SL_E_INVALID_VALUE, "earliest_start");
  /* exactly now + 366 days when now is on the hour */
  o = parse_ok("{\"earliest_start\":\"2031-01-02T10:00:00Z\"}", on);
  sl_market_order_req_free(&o);
  FAIL("{\"earliest_start\":\"2031-01-02T11:00:00Z\"}", on, SL_E_INVALID_VALUE, "earliest_start");

  /* now = 0 (re-reading a stored order): no time checks at all */
  o = parse_ok("{\"earliest_start\":\"2000-01-01T00:00:00Z\"}", 0);
  assert_int_equal(o.m.earliest_start, SL_TIME_MIN);
  sl_market_order_req_free(&o);
  o = parse_ok("{\"earliest_start\":\"2030-01-01T10:00:00Z\"}", 0);
  sl_market_order_req_free(&o);
  o = parse_ok("{\"earliest_start\":\"2035-06-01T00:00:00Z\"}", 0);
  sl_market_order_req_free(&o);
  o = parse_ok("{\"earliest_start\":\"2099-12-31T23:00:00Z\"}", 0);
  sl_market_order_req_free(&o);
  /* the non-clock window rules still hold at now = 0 */
  FAIL("{\"earliest_start\":\"2020-01-01T12:00:00Z\",\"latest_start\":\"2020-01-01T11:00:00Z\"}", 0,
       SL_E_INVALID_VALUE, "latest_start");
}

/* ---------------------------------------------------------------- dependencies */

/* Issue 15: clearing (continuous | call; call needs good_till and gang) and the RTT band of
 * lowest_latency (default 10 ms without max_rtt_ms, 0 with it; latency_tolerance_ms only with
 * lowest_latency). */
static void test_clearing_and_latency_tolerance(void **state) {
  (void)state;
  sl_market_order_req o = parse_ok(NULL, NOW);
  assert_false(o.call);
  assert_string_equal(o.clearing_region, "*");
  assert_int_equal(o.m.latency_tol_us, 0);
  sl_market_order_req_free(&o);
  o = parse_ok("{\"clearing\":\"call\",\"time_in_force\":\"good_till\","
               "\"expires_at\":\"2030-01-02T00:00:00Z\",\"origin_region\":\"eu-west-1\"}",
               NOW);
  assert_true(o.call);
  assert_true(o.good_till);
  assert_string_equal(o.clearing_region, "eu-west-1");
  sl_market_order_req_free(&o);
  o = parse_ok("{\"clearing\":\"continuous\"}", NOW);
  assert_false(o.call);
  sl_market_order_req_free(&o);
  FAIL("{\"clearing\":\"call\"}", NOW, SL_E_INVALID_VALUE, "clearing");
  FAIL("{\"clearing\":\"call\",\"time_in_force\":\"fill_or_kill\"}", NOW, SL_E_INVALID_VALUE,
       "clearing");
  FAIL("{\"clearing\":\"call\",\"time_in_force\":\"good_till\",\"expires_at\":\"2030-01-02T00:"
       "00:00Z\",\"placement\":\"split\"}",
       NOW, SL_E_INVALID_VALUE, "clearing");
  FAIL("{\"clearing\":\"auction\"}", NOW, SL_E_INVALID_VALUE, "clearing");
  FAIL("{\"clearing\":3}", NOW, SL_E_WRONG_TYPE, "clearing");

  o = parse_ok("{\"origin_region\":\"eu-west-1\",\"objective\":\"lowest_latency\"}", NOW);
  assert_int_equal(o.m.latency_tol_us, SL_MARKET_LATENCY_TOLERANCE_US);
  sl_market_order_req_free(&o);
  o = parse_ok("{\"origin_region\":\"eu-west-1\",\"objective\":\"lowest_latency\","
               "\"max_rtt_ms\":50}",
               NOW);
  assert_int_equal(o.m.latency_tol_us, 0);
  sl_market_order_req_free(&o);
  o = parse_ok("{\"origin_region\":\"eu-west-1\",\"objective\":\"lowest_latency\","
               "\"latency_tolerance_ms\":\"2.5\"}",
               NOW);
  assert_int_equal(o.m.latency_tol_us, 2500);
  sl_market_order_req_free(&o);
  FAIL("{\"latency_tolerance_ms\":5}", NOW, SL_E_INVALID_VALUE, "latency_tolerance_ms");
  FAIL("{\"origin_region\":\"eu-west-1\",\"objective\":\"lowest_latency\","
       "\"latency_tolerance_ms\":1001}",
       NOW, SL_E_INVALID_VALUE, "latency_tolerance_ms");
}

static void test_dependencies(void **state) {
  (void)state;
  /* max_rtt_ms needs origin_region */
  FAIL("{\"max_rtt_ms\":80}", NOW, SL_E_MISSING_FIELD, "origin_region");
  FAIL("{\"max_rtt_ms\":\"80.5\"}", 0, SL_E_MISSING_FIELD, "origin_region");
  FAIL("{\"max_rtt_ms\":0}", NOW, SL_E_MISSING_FIELD, "origin_region");
  /* lowest_latency and tradeoff need origin_region */
  FAIL("{\"objective\":\"lowest_latency\"}", NOW, SL_E_MISSING_FIELD, "origin_region");
  FAIL("{\"objective\":\"tradeoff\",\"money_per_ms\":\"0.10\"}", NOW, SL_E_MISSING_FIELD,
       "origin_region");
  FAIL("{\"objective\":\"tradeoff\"}", NOW, SL_E_MISSING_FIELD, "origin_region");
  /* tradeoff needs money_per_ms, which only tradeoff allows */
  FAIL("{\"origin_region\":\"eu-west-1\",\"objective\":\"tradeoff\"}", NOW, SL_E_MISSING_FIELD,
       "money_per_ms");
  FAIL("{\"money_per_ms\":\"0.10\"}", NOW, SL_E_INVALID_VALUE, "money_per_ms");
  FAIL("{\"origin_region\":\"eu-west-1\",\"objective\":\"lowest_latency\",\"money_per_ms\":\"0."
       "10\"}",
       NOW, SL_E_INVALID_VALUE, "money_per_ms");
  FAIL("{\"objective\":\"cheapest\",\"money_per_ms\":\"0\"}", NOW, SL_E_INVALID_VALUE,
       "money_per_ms");
  /* max_pieces only with split */
  FAIL("{\"max_pieces\":4}", NOW, SL_E_INVALID_VALUE, "max_pieces");
  FAIL("{\"placement\":\"gang\",\"max_pieces\":16}", NOW, SL_E_INVALID_VALUE, "max_pieces");
  /* good_till needs expires_at, which only good_till allows */
  FAIL("{\"time_in_force\":\"good_till\"}", NOW, SL_E_MISSING_FIELD, "expires_at");
  FAIL("{\"time_in_force\":\"good_till\"}", 0, SL_E_MISSING_FIELD, "expires_at");
  FAIL("{\"expires_at\":\"2030-01-02T00:00:00Z\"}", NOW, SL_E_INVALID_VALUE, "expires_at");
  FAIL("{\"time_in_force\":\"fill_or_kill\",\"expires_at\":\"2030-01-02T00:00:00Z\"}", NOW,
       SL_E_INVALID_VALUE, "expires_at");
  /* expires_at must be in the future when now is given */
  FAIL("{\"time_in_force\":\"good_till\",\"expires_at\":\"2030-01-01T10:00:00Z\"}", NOW,
       SL_E_INVALID_VALUE, "expires_at");
  FAIL("{\"time_in_force\":\"good_till\",\"expires_at\":\"2030-01-01T10:20:00Z\"}", NOW,
       SL_E_INVALID_VALUE, "expires_at"); /* == now */
  FAIL("{\"time_in_force\":\"good_till\",\"expires_at\":\"2020-01-01T00:00:00Z\"}", NOW,
       SL_E_INVALID_VALUE, "expires_at");

  /* the satisfied forms */
  sl_market_order_req o =
      parse_ok("{\"origin_region\":\"eu-west-1\",\"max_rtt_ms\":\"80.5\"}", NOW);
  assert_true(o.m.has_origin);
  assert_string_equal(o.origin, "eu-west-1");
  assert_int_equal(o.m.max_rtt_us, 80500);
  assert_int_equal(o.m.objective, SL_OBJ_CHEAPEST);
  sl_market_order_req_free(&o);
  o = parse_ok("{\"origin_region\":\"eu-west-1\"}", NOW); /* origin alone is fine */
  assert_true(o.m.has_origin);
  assert_int_equal(o.m.max_rtt_us, -1);
  sl_market_order_req_free(&o);
  o = parse_ok("{\"origin_region\":\"eu-west-1\",\"objective\":\"lowest_latency\"}", NOW);
  assert_int_equal(o.m.objective, SL_OBJ_LOWEST_LATENCY);
  assert_int_equal(o.m.money_per_ms_minor, 0);
  sl_market_order_req_free(&o);
  o = parse_ok(
      "{\"origin_region\":\"eu-west-1\",\"objective\":\"tradeoff\",\"money_per_ms\":\"0.10\"}",
      NOW);
  assert_int_equal(o.m.objective, SL_OBJ_TRADEOFF);
  assert_int_equal(o.m.money_per_ms_minor, 10);
  sl_market_order_req_free(&o);
  o = parse_ok(
      "{\"origin_region\":\"eu-west-1\",\"objective\":\"tradeoff\",\"money_per_ms\":\"0\"}", NOW);
  assert_int_equal(o.m.objective, SL_OBJ_TRADEOFF);
  assert_int_equal(o.m.money_per_ms_minor, 0); /* zero is allowed for money_per_ms */
  sl_market_order_req_free(&o);
  o = parse_ok("{\"origin_region\":\"eu-west-1\",\"objective\":\"tradeoff\","
               "\"money_per_ms\":\"100000.00\"}",
               NOW);
  assert_int_equal(o.m.money_per_ms_minor, 10000000);
  sl_market_order_req_free(&o);
  o = parse_ok("{\"time_in_force\":\"good_till\",\"expires_at\":\"2030-01-01T10:20:01Z\"}", NOW);
  assert_true(o.good_till);
  assert_int_equal(o.expires_at, NOW + 1); /* not required on a whole hour */
  sl_market_order_req_free(&o);
  o = parse_ok("{\"time_in_force\":\"good_till\",\"expires_at\":\"2030-01-01T13:45:30+01:00\"}",
               NOW);
  assert_int_equal(o.expires_at, T2030 + 12 * HOUR + 45 * 60 + 30);
  sl_market_order_req_free(&o);
  /* now = 0: a past expires_at is accepted (stored orders are re-read) */
  o = parse_ok("{\"time_in_force\":\"good_till\",\"expires_at\":\"2020-01-01T00:00:00Z\"}", 0);
  assert_true(o.good_till);
  assert_int_equal(o.expires_at, T("2020-01-01T00:00:00Z"));
  sl_market_order_req_free(&o);
}

/* ---------------------------------------------------------------- lists */

static void test_lists_map_into_order(void **state) {
  (void)state;
  json_t *body = body_with("{\"spec\":{\"accelerators\":[\"H100-SXM\",\"A100-80G\",\"MI300X\"]},"
                           "\"regions\":[\"eu-west-1\",\"us-east-1\"],"
                           "\"exclude_regions\":[\"ap-south-1\",\"ap-east-1\",\"sa-east-1\","
                           "\"me-central-1\"]}");
  json_t *accels = json_object_get(json_object_get(body, "spec"), "accelerators");
  json_t *regions = json_object_get(body, "regions");
  json_t *excluded = json_object_get(body, "exclude_regions");
  sl_market_order_req o = parse_body_ok(body, NOW, "lists"); /* body now lives only in o.doc */
  const sl_market_order *m = &o.m;
  assert_ptr_equal(o.accelerators, accels);
  assert_ptr_equal(o.regions, regions);
  assert_ptr_equal(o.excluded, excluded);
  assert_int_equal(m->n_accelerators, 3);
  assert_int_equal(m->n_regions, 2);
  assert_int_equal(m->n_excluded, 4);
  /* one owned block, in order accelerators | regions | excluded */
  assert_ptr_equal(m->accelerators, o.lists);
  assert_ptr_equal(m->regions, o.lists + 3);
  assert_ptr_equal(m->excluded, o.lists + 5);
  assert_null(o.lists[9]); /* terminating slot */
  static const char *const want_a[] = {"H100-SXM", "A100-80G", "MI300X"};
  static const char *const want_r[] = {"eu-west-1", "us-east-1"};
  static const char *const want_x[] = {"ap-south-1", "ap-east-1", "sa-east-1", "me-central-1"};
  for (size_t i = 0; i < 3; i++) {
    assert_string_equal(m->accelerators[i], want_a[i]);
    assert_ptr_equal(m->accelerators[i], json_string_value(json_array_get(accels, i)));
  }
  for (size_t i = 0; i < 2; i++) {
    assert_string_equal(m->regions[i], want_r[i]);
    assert_ptr_equal(m->regions[i], json_string_value(json_array_get(regions, i)));
  }
  for (size_t i = 0; i < 4; i++) {
    assert_string_equal(m->excluded[i], want_x[i]);
    assert_ptr_equal(m->excluded[i], json_string_value(json_array_get(excluded, i)));
  }
  sl_market_order_req_free(&o);
}

static void test_lists_partial(void **state) {
  (void)state;
  /* only regions */
  sl_market_order_req o = parse_ok("{\"regions\":[\"eu-west-1\"]}", NOW);
  assert_int_equal(o.m.n_accelerators, 0);
  assert_int_equal(o.m.n_regions, 1);
  assert_int_equal(o.m.n_excluded, 0);
  assert_string_equal(o.m.regions[0], "eu-west-1");
  assert_null(o.accelerators);
  assert_non_null(o.regions);
  assert_null(o.excluded);
  sl_market_order_req_free(&o);
  /* only exclude_regions */
  o = parse_ok("{\"exclude_regions\":[\"us-east-1\",\"us-west-2\"]}", NOW);
  assert_int_equal(o.m.n_accelerators, 0);
  assert_int_equal(o.m.n_regions, 0);
  assert_int_equal(o.m.n_excluded, 2);
  assert_string_equal(o.m.excluded[0], "us-east-1");
  assert_string_equal(o.m.excluded[1], "us-west-2");
  sl_market_order_req_free(&o);
  /* only accelerators, plus exclude_regions (regions in between empty) */
  o = parse_ok("{\"spec\":{\"accelerators\":[\"H100-SXM\"]},\"exclude_regions\":[\"eu-west-1\"]}",
               NOW);
  assert_int_equal(o.m.n_accelerators, 1);
  assert_int_equal(o.m.n_regions, 0);
  assert_int_equal(o.m.n_excluded, 1);
  assert_string_equal(o.m.accelerators[0], "H100-SXM");
  assert_string_equal(o.m.excluded[0], "eu-west-1");
  sl_market_order_req_free(&o);
  /* the same code may be both allowed and excluded, and in several lists: not a decoder rule */
  o = parse_ok("{\"regions\":[\"eu-west-1\"],\"exclude_regions\":[\"eu-west-1\"]}", NOW);
  assert_int_equal(o.m.n_regions, 1);
  assert_int_equal(o.m.n_excluded, 1);
  sl_market_order_req_free(&o);
}

static void test_list_sizes(void **state) {
  (void)state;
  /* 64-byte elements are fine, 65 are not; 200 regions fine, 201 not; 64 models, not 65 */
  char s64[65], s65[66];
  memset(s64, 'r', 64);
  s64[64] = '\0';
  memset(s65, 'r', 65);
  s65[65] = '\0';
  static const char *const lists[] = {"regions", "exclude_regions", "spec.accelerators"};
  for (size_t l = 0; l < N(lists); l++) {
    bool in_spec = strncmp(lists[l], "spec.", 5) == 0;
    const char *key = in_spec ? lists[l] + 5 : lists[l];
    json_t *b = body_with(NULL);
    json_t *arr = json_array();
    json_array_append_new(arr, json_string(s64));
    json_t *holder = b;
    if (in_spec) {
      holder = json_object();
      json_object_set_new(b, "spec", holder);
    }
    json_object_set_new(holder, key, arr);
    sl_market_order_req o = parse_body_ok(b, NOW, lists[l]);
    size_t n = in_spec ? o.m.n_accelerators : (l == 0 ? o.m.n_regions : o.m.n_excluded);
    assert_int_equal(n, 1);
    sl_market_order_req_free(&o);

    b = body_with(NULL);
    arr = json_array();
    json_array_append_new(arr, json_string("ok"));
    json_array_append_new(arr, json_string(s65));
    holder = b;
    if (in_spec) {
      holder = json_object();
      json_object_set_new(b, "spec", holder);
    }
    json_object_set_new(holder, key, arr);
    expect_fail_body(b, NOW, SL_E_INVALID_VALUE, lists[l], "65-byte element", __LINE__);

    size_t max = in_spec ? 64 : 200;
    for (size_t extra = 0; extra < 2; extra++) {
      b = body_with(NULL);
      arr = json_array();
      for (size_t i = 0; i < max + extra; i++) {
        char code[32];
        snprintf(code, sizeof code, "c-%zu", i);
        json_array_append_new(arr, json_string(code));
      }
      holder = b;
      if (in_spec) {
        holder = json_object();
        json_object_set_new(b, "spec", holder);
      }
      json_object_set_new(holder, key, arr);
      if (extra) {
        expect_fail_body(b, NOW, SL_E_INVALID_VALUE, lists[l], "too many elements", __LINE__);
      } else {
        o = parse_body_ok(b, NOW, "max elements");
        n = in_spec ? o.m.n_accelerators : (l == 0 ? o.m.n_regions : o.m.n_excluded);
        assert_int_equal(n, max);
        const char *const *p = in_spec ? o.m.accelerators : (l == 0 ? o.m.regions : o.m.excluded);
        assert_string_equal(p[0], "c-0");
        char last[32];
        snprintf(last, sizeof last, "c-%zu", max - 1);
        assert_string_equal(p[max - 1], last);
        sl_market_order_req_free(&o);
      }
    }
  }
}

static void test_list_errors(void **state) {
  (void)state;
  static const struct {
    const char *pre, *post, *field;
  } lists[] = {
      {"{\"regions\":", "}", "regions"},
      {"{\"exclude_regions\":", "}", "exclude_regions"},
      {"{\"spec\":{\"accelerators\":", "}}", "spec.accelerators"},
  };
  static const struct {
    const char *arr;
    sl_err code;
  } bad[] = {
      {"[]", SL_E_INVALID_VALUE},       /* empty array */
      {"[1]", SL_E_WRONG_TYPE},         /* non-string element */
      {"[\"a-1\",2]", SL_E_WRONG_TYPE}, /* ... not first */
      {"[null]", SL_E_WRONG_TYPE},
      {"[[\"a\"]]", SL_E_WRONG_TYPE},
      {"[{}]", SL_E_WRONG_TYPE},
      {"[true]", SL_E_WRONG_TYPE},
      {"[\"\"]", SL_E_INVALID_VALUE}, /* empty string */
      {"[\"a-1\",\"\"]", SL_E_INVALID_VALUE},
      {"[\"a 1\"]", SL_E_INVALID_VALUE},         /* space */
      {"[\"a\\u00011\"]", SL_E_INVALID_VALUE},   /* control character */
      {"[\"a-1\",\"a-1\"]", SL_E_INVALID_VALUE}, /* duplicate */
      {"[\"a-1\",\"b-2\",\"a-1\"]", SL_E_INVALID_VALUE},
      {"[\"a-1\",\"b-2\",\"b-2\"]", SL_E_INVALID_VALUE},
  };
  for (size_t l = 0; l < N(lists); l++)
    for (size_t i = 0; i < N(bad); i++) {
      char patch[256];
      snprintf(patch, sizeof patch, "%s%s%s", lists[l].pre, bad[i].arr, lists[l].post);
      FAIL(patch, NOW, bad[i].code, lists[l].field);
    }
  /* case matters: not duplicates */
  sl_market_order_req o = parse_ok("{\"regions\":[\"eu-west-1\",\"EU-WEST-1\"]}", NOW);
  assert_int_equal(o.m.n_regions, 2);
  sl_market_order_req_free(&o);

  /* an error in a later list after earlier ones decoded: the owned storage is freed (ASan) */
  FAIL("{\"spec\":{\"accelerators\":[\"H100-SXM\"]},\"regions\":[\"eu-west-1\"],"
       "\"exclude_regions\":[\"x-1\",\"x-1\"]}",
       NOW, SL_E_INVALID_VALUE, "exclude_regions");
  FAIL("{\"spec\":{\"accelerators\":[\"H100-SXM\"]},\"regions\":[\"eu-west-1\",5]}", NOW,
       SL_E_WRONG_TYPE, "regions");
  /* the first list's error is reported first */
  FAIL("{\"spec\":{\"accelerators\":[\"\"]},\"regions\":[5]}", NOW, SL_E_INVALID_VALUE,
       "spec.accelerators");
}

/* ---------------------------------------------------------------- enums and numbers */

static void test_enum_mapping(void **state) {
  (void)state;
  static const struct {
    const char *name;
    sl_market_intra v;
  } intra[] = {
      {"nvlink", SL_INTRA_NVLINK},
      {"pcie", SL_INTRA_PCIE},
      {"infinity_fabric", SL_INTRA_INFINITY_FABRIC},
      {"hccs", SL_INTRA_HCCS},
      {"other", SL_INTRA_OTHER},
  };
  for (size_t i = 0; i < N(intra); i++) {
    char patch[128];
    snprintf(patch, sizeof patch, "{\"spec\":{\"intra_node\":\"%s\"}}", intra[i].name);
    sl_market_order_req o = parse_ok(patch, NOW);
    assert_int_equal(o.m.intra, intra[i].v);
    assert_int_equal(o.m.min_inter, SL_INTER_NONE);
    sl_market_order_req_free(&o);
  }
  static const struct {
    const char *name;
    sl_market_inter v;
  } inter[] = {
      {"ethernet", SL_INTER_ETHERNET},
      {"roce", SL_INTER_ROCE},
      {"infiniband", SL_INTER_INFINIBAND},
  };
  for (size_t i = 0; i < N(inter); i++) {
    char patch[128];
    snprintf(patch, sizeof patch, "{\"spec\":{\"min_inter_node\":\"%s\"}}", inter[i].name);
    sl_market_order_req o = parse_ok(patch, NOW);
    assert_int_equal(o.m.min_inter, inter[i].v);
    assert_int_equal(o.m.intra, SL_INTRA_ANY);
    sl_market_order_req_free(&o);
  }
  static const struct {
    const char *patch;
    sl_market_objective v;
  } obj[] = {
      {"{\"objective\":\"cheapest\"}", SL_OBJ_CHEAPEST},
      {"{\"objective\":\"cheapest\",\"origin_region\":\"eu-west-1\"}", SL_OBJ_CHEAPEST},
      {"{\"objective\":\"lowest_latency\",\"origin_region\":\"eu-west-1\"}", SL_OBJ_LOWEST_LATENCY},
      {"{\"objective\":\"tradeoff\",\"origin_region\":\"eu-west-1\",\"money_per_ms\":\"1\"}",
       SL_OBJ_TRADEOFF},
  };
  for (size_t i = 0; i < N(obj); i++) {
    sl_market_order_req o = parse_ok(obj[i].patch, NOW);
    assert_int_equal(o.m.objective, obj[i].v);
    sl_market_order_req_free(&o);
  }
}

static void test_rtt_milli(void **state) {
  (void)state;
  static const struct {
    const char *val;
    int64_t us;
  } cases[] = {
      {"\"80.5\"", 80500},
      {"80.5", 80500},
      {"80", 80000},
      {"\"80\"", 80000},
      {"0", 0},
      {"\"0\"", 0},
      {"\"0.001\"", 1},
      {"0.125", 125},
      {"\"9999.999\"", 9999999},
      {"\"10000.000\"", 10000000},
  };
  for (size_t i = 0; i < N(cases); i++) {
    char patch[128];
    snprintf(patch, sizeof patch, "{\"origin_region\":\"eu-west-1\",\"max_rtt_ms\":%s}",
             cases[i].val);
    sl_market_order_req o = parse_ok(patch, NOW);
    if (o.m.max_rtt_us != cases[i].us)
      fail_msg("max_rtt_ms %s -> %lld, want %lld", cases[i].val, (long long)o.m.max_rtt_us,
               (long long)cases[i].us);
    sl_market_order_req_free(&o);
  }
}

static void test_money_fields(void **state) {
  (void)state;
  static const struct {
    const char *val;
    int64_t minor;
  } cases[] = {
      {"2.50", 250},  {"2.5", 250},    {"2", 200},           {"0.01", 1},
      {"2.500", 250}, {"12.34", 1234}, {"100000", 10000000}, {"100000.00", 10000000},
  };
  for (size_t i = 0; i < N(cases); i++) {
    char patch[160];
    snprintf(patch, sizeof patch,
             "{\"max_price_per_gpu_hour\":\"%s\",\"max_price_per_ncu_hour\":\"%s\"}", cases[i].val,
             cases[i].val);
    sl_market_order_req o = parse_ok(patch, NOW);
    if (o.m.max_price_minor != cases[i].minor || o.m.max_ncu_price_minor != cases[i].minor)
      fail_msg("price %s -> %lld / %lld, want %lld", cases[i].val, (long long)o.m.max_price_minor,
               (long long)o.m.max_ncu_price_minor, (long long)cases[i].minor);
    sl_market_order_req_free(&o);
  }
  /* independent: one without the other */
  sl_market_order_req o = parse_ok("{\"max_price_per_gpu_hour\":\"2.50\"}", NOW);
  assert_int_equal(o.m.max_price_minor, 250);
  assert_int_equal(o.m.max_ncu_price_minor, -1);
  sl_market_order_req_free(&o);
  o = parse_ok("{\"max_price_per_ncu_hour\":\"2.50\"}", NOW);
  assert_int_equal(o.m.max_price_minor, -1);
  assert_int_equal(o.m.max_ncu_price_minor, 250);
  sl_market_order_req_free(&o);
  FAIL("{\"max_price_per_gpu_hour\":\"2.505\"}", NOW, SL_E_INVALID_VALUE, "max_price_per_gpu_hour");
  FAIL("{\"max_price_per_ncu_hour\":\"2.505\"}", NOW, SL_E_INVALID_VALUE, "max_price_per_ncu_hour");
  FAIL("{\"origin_region\":\"eu-west-1\",\"objective\":\"tradeoff\",\"money_per_ms\":\"2.505\"}",
       NOW, SL_E_INVALID_VALUE, "money_per_ms");
}

/* ---------------------------------------------------------------- next slot */

static void test_next_slot(void **state) {
  (void)state;
  assert_int_equal(sl_market_order_next_slot(0), 0);
  assert_int_equal(sl_market_order_next_slot(1), HOUR);
  assert_int_equal(sl_market_order_next_slot(HOUR - 1), HOUR);
  assert_int_equal(sl_market_order_next_slot(HOUR), HOUR);
  assert_int_equal(sl_market_order_next_slot(HOUR + 1), 2 * HOUR);
  int64_t h10 = T("2030-01-01T10:00:00Z");
  assert_int_equal(sl_market_order_next_slot(h10), h10);                       /* x:00:00 stays */
  assert_int_equal(sl_market_order_next_slot(h10 + 1), h10 + HOUR);            /* x:00:01 -> next */
  assert_int_equal(sl_market_order_next_slot(h10 - 1), h10);                   /* x-1:59:59 -> x */
  assert_int_equal(sl_market_order_next_slot(h10 + 59 * 60 + 59), h10 + HOUR); /* x:59:59 -> next */
  assert_int_equal(sl_market_order_next_slot(NOW), T("2030-01-01T11:00:00Z"));
  /* across a day and a year */
  assert_int_equal(sl_market_order_next_slot(T("2029-12-31T23:00:01Z")), T2030);
  assert_int_equal(sl_market_order_next_slot(T("2028-02-28T23:30:00Z")), T("2028-02-29T00:00:00Z"));
  assert_int_equal(sl_market_order_next_slot(SL_TIME_MIN), SL_TIME_MIN);
  assert_int_equal(sl_market_order_next_slot(SL_TIME_MAX), SL_TIME_MAX);
  assert_int_equal(sl_market_order_next_slot(SL_TIME_MAX - 1), SL_TIME_MAX);
  /* idempotent and always on a slot */
  for (int64_t t = T2030 - 2 * HOUR; t < T2030 + 2 * HOUR; t += 97) {
    int64_t s = sl_market_order_next_slot(t);
    assert_true(s >= t && s - t < HOUR);
    assert_true(sl_time_on_slot(s));
    assert_int_equal(sl_market_order_next_slot(s), s);
  }
}

/* ---------------------------------------------------------------- ownership */

static void test_ownership(void **state) {
  (void)state;
  /* the request keeps the body alive: strings stay readable after the caller lets go */
  json_t *body = body_with("{\"origin_region\":\"eu-west-1\",\"regions\":[\"us-east-1\"],"
                           "\"spec\":{\"accelerators\":[\"H100-SXM\"]}}");
  json_incref(body); /* keep one reference to watch the count */
  sl_market_order_req o = parse_body_ok(body, NOW, "ownership"); /* drops one */
  assert_int_equal(body->refcount, 2);
  json_decref(body); /* the caller is done: only o.doc holds it */
  assert_int_equal(o.doc->refcount, 1);
  assert_string_equal(o.origin, "eu-west-1");
  assert_string_equal(o.m.regions[0], "us-east-1");
  assert_string_equal(o.m.accelerators[0], "H100-SXM");
  sl_market_order_req_free(&o); /* releases the body and the lists (LeakSanitizer checks) */
  assert_true(all_zero(&o, sizeof o));

  /* parsing the same body twice gives two independent requests */
  body = body_with("{\"regions\":[\"us-east-1\",\"us-west-2\"]}");
  sl_market_order_req a, b;
  sl_jerr err;
  assert_true(sl_market_order_parse(body, NOW, &a, &err));
  assert_true(sl_market_order_parse(body, 0, &b, &err));
  assert_int_equal(body->refcount, 3);
  assert_ptr_not_equal(a.lists, b.lists);
  assert_ptr_equal(a.m.regions[1], b.m.regions[1]); /* same borrowed string */
  sl_market_order_req_free(&a);
  assert_int_equal(body->refcount, 2);
  assert_string_equal(b.m.regions[1], "us-west-2");
  sl_market_order_req_free(&b);
  assert_int_equal(body->refcount, 1);
  json_decref(body);

  /* a failed parse takes no reference and needs no free; freeing the zeroed struct is safe */
  body = body_with("{\"regions\":[\"a-1\",\"a-1\"]}");
  memset(&a, 0x77, sizeof a);
  assert_false(sl_market_order_parse(body, NOW, &a, &err));
  assert_int_equal(body->refcount, 1);
  assert_true(all_zero(&a, sizeof a));
  sl_market_order_req_free(&a);
  json_decref(body);

  /* err is reset by a successful parse after a failed one */
  body = body_with(NULL);
  sl_jerr_set(&err, SL_E_INVALID_VALUE, "gpus", "stale");
  assert_true(sl_market_order_parse(body, NOW, &a, &err));
  assert_int_equal(err.code, SL_E_OK);
  assert_string_equal(err.field, "");
  sl_market_order_req_free(&a);
  json_decref(body);
}

/* The body of an order as the HTTP layer sees it: parsed by sl_json_parse_body. */
static void test_via_parse_body(void **state) {
  (void)state;
  static const char text[] =
      "{\"gpus\":16,\"duration_hours\":24,\"earliest_start\":\"2030-01-01T11:00:00Z\","
      "\"latest_start\":\"2030-01-02T11:00:00Z\",\"origin_region\":\"us-east-1\","
      "\"max_rtt_ms\":\"80.5\",\"spec\":{\"accelerators\":[\"H100-SXM\"],\"intra_node\":\"pcie\","
      "\"min_inter_node\":\"roce\"},\"placement\":\"split\",\"max_pieces\":4}";
  sl_jerr err;
  json_t *doc = sl_json_parse_body(text, sizeof text - 1, &err);
  assert_non_null(doc);
  sl_market_order_req o = parse_body_ok(doc, NOW, "parse_body");
  assert_int_equal(o.m.gpus, 16);
  assert_int_equal(o.m.duration_slots, 24);
  assert_int_equal(o.m.latest_start - o.m.earliest_start, DAY);
  assert_int_equal(o.m.max_rtt_us, 80500);
  assert_int_equal(o.m.intra, SL_INTRA_PCIE);
  assert_int_equal(o.m.min_inter, SL_INTER_ROCE);
  assert_true(o.m.split);
  assert_int_equal(o.m.max_pieces, 4);
  assert_int_equal(o.m.n_accelerators, 1);
  sl_market_order_req_free(&o);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixed_times),
      cmocka_unit_test(test_minimal_defaults),
      cmocka_unit_test(test_clearing_and_latency_tolerance),
      cmocka_unit_test(test_explicit_defaults_same),
      cmocka_unit_test(test_full_body),
      cmocka_unit_test(test_body_not_object),
      cmocka_unit_test(test_missing_required),
      cmocka_unit_test(test_wrong_types),
      cmocka_unit_test(test_bad_enum_and_time_values),
      cmocka_unit_test(test_ranges),
      cmocka_unit_test(test_unknown_fields),
      cmocka_unit_test(test_window_rules),
      cmocka_unit_test(test_window_against_now),
      cmocka_unit_test(test_dependencies),
      cmocka_unit_test(test_lists_map_into_order),
      cmocka_unit_test(test_lists_partial),
      cmocka_unit_test(test_list_sizes),
      cmocka_unit_test(test_list_errors),
      cmocka_unit_test(test_enum_mapping),
      cmocka_unit_test(test_rtt_milli),
      cmocka_unit_test(test_money_fields),
      cmocka_unit_test(test_next_slot),
      cmocka_unit_test(test_ownership),
      cmocka_unit_test(test_via_parse_body),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
