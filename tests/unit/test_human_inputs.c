/* test_human_inputs.c — human inputs of the API and the CLI: durations ("24h", "3d"),
 * relative starts ("now", "now+2h", rounded up to the next whole hour) and the jsonspec
 * field types that accept them (SL_JT_START, SL_JT_HOURS). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "suanli/core/jsonspec.h"
#include "suanli/core/timeutil.h"

/* 2026-12-02T03:12:13Z, a fixed instant: these tests never read the clock for values. */
#define T0 INT64_C(1796181133)
#define H  3600

static void test_duration_units(void **state) {
  (void)state;
  int64_t s;
  assert_true(sl_duration_parse("24h", &s));
  assert_int_equal(s, 24 * H);
  assert_true(sl_duration_parse("3d", &s));
  assert_int_equal(s, 72 * H);
  assert_true(sl_duration_parse("1w", &s));
  assert_int_equal(s, 168 * H);
  assert_true(sl_duration_parse("90m", &s));
  assert_int_equal(s, 5400);
  assert_true(sl_duration_parse("1d12h", &s));
  assert_int_equal(s, 36 * H);
  assert_true(sl_duration_parse("24", &s));
  assert_int_equal(s, 24 * H); /* bare: hours */
}

static void test_duration_rejects(void **state) {
  (void)state;
  int64_t s = 77;
  const char *bad[] = {"",     "h",    "0h",   "0",           "-1h",    "1.5h", "2y",  "1d12",
                       "24 h", " 24h", "24h ", "1234567890h", "99999w", "3D",   "now", NULL};
  for (int i = 0; bad[i]; i++) {
    assert_false(sl_duration_parse(bad[i], &s));
    assert_int_equal(s, 77); /* untouched */
  }
  assert_false(sl_duration_parse(NULL, &s));
}

static void test_relative_start_rounds_up(void **state) {
  (void)state;
  int64_t t;
  bool rel = false;
  int64_t next = T0 - T0 % H + H; /* 04:00 */
  assert_true(sl_time_parse_human("now", T0, &t, &rel));
  assert_true(rel);
  assert_int_equal(t, next);
  assert_true(sl_time_parse_human("now+2h", T0, &t, &rel));
  assert_int_equal(t, next + 2 * H); /* 05:12:13 -> 06:00 */
  assert_true(sl_time_parse_human("now+30m", T0, &t, NULL));
  assert_int_equal(t, next); /* 03:42:13 -> 04:00 */
  assert_true(sl_time_parse_human("now+1d", T0, &t, NULL));
  assert_int_equal(t, next + 24 * H);
  /* an instant already on the hour stays */
  assert_true(sl_time_parse_human("now", next, &t, NULL));
  assert_int_equal(t, next);
  assert_true(sl_time_parse_human("now+1h", next, &t, NULL));
  assert_int_equal(t, next + H);
  assert_int_equal(sl_time_ceil_slot(next + 1), next + H);
  assert_int_equal(sl_time_ceil_slot(next - 1), next);
}

static void test_absolute_and_bad_starts(void **state) {
  (void)state;
  int64_t t = 5;
  bool rel = true;
  assert_true(sl_time_parse_human("2026-12-02T05:00:00Z", T0, &t, &rel));
  assert_false(rel);
  assert_int_equal(t, T0 - T0 % H + 2 * H);
  assert_true(sl_time_parse_human("2026-12-02T05:30:00Z", T0, &t, NULL)); /* not rounded */
  assert_int_equal(t % H, 1800);
  const char *bad[] = {"",       "now+",     "now-2h",    "now+2",      "now +2h", "Now",
                       "nowish", "tomorrow", "now+2h+1h", "2026-12-02", NULL};
  t = 5;
  for (int i = 0; bad[i]; i++) assert_false(sl_time_parse_human(bad[i], T0, &t, NULL));
  assert_int_equal(t, 5);
}

/* The jsonspec types: SL_JT_HOURS takes integers and whole-hour durations; SL_JT_START takes
 * "now"/"now+..." (relative to the clock: only the relation to it is checked) and whole-hour
 * RFC 3339 times. */
static void test_jsonspec_human_fields(void **state) {
  (void)state;
  int64_t hours = 0, start = 0;
  const sl_jfield f[] = {
      {"duration_hours", SL_JT_HOURS, true, &hours, NULL, 1, 2160, NULL},
      {"earliest_start", SL_JT_START, true, &start, NULL, 0, 1, NULL},
  };
  sl_jerr err;
  json_t *b = json_pack("{s:s, s:s}", "duration_hours", "3d", "earliest_start", "now+2h");
  int64_t before = sl_time_now();
  assert_true(sl_json_decode(b, f, 2, NULL, &err));
  int64_t after = sl_time_now();
  assert_int_equal(hours, 72);
  assert_true(sl_time_on_slot(start));
  assert_true(start >= before + 2 * H && start < after + 3 * H);
  json_decref(b);

  b = json_pack("{s:i, s:s}", "duration_hours", 24, "earliest_start", "2030-01-01T00:00:00Z");
  assert_true(sl_json_decode(b, f, 2, NULL, &err));
  assert_int_equal(hours, 24);
  json_decref(b);

  struct {
    const char *dur, *start, *field;
  } bad[] = {
      {"90m", "now", "duration_hours"},  /* not whole hours */
      {"100d", "now", "duration_hours"}, /* 2400 h > 2160 */
      {"1.5h", "now", "duration_hours"},
      {"24h", "now+2", "earliest_start"},
      {"24h", "now-1h", "earliest_start"},
      {"24h", "2030-01-01T00:30:00Z", "earliest_start"}, /* absolute: must be on the hour */
      {"24h", "soon", "earliest_start"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    b = json_pack("{s:s, s:s}", "duration_hours", bad[i].dur, "earliest_start", bad[i].start);
    assert_false(sl_json_decode(b, f, 2, NULL, &err));
    assert_string_equal(err.field, bad[i].field);
    assert_int_equal(err.code, SL_E_INVALID_VALUE);
    json_decref(b);
  }
  b = json_pack("{s:b, s:s}", "duration_hours", 1, "earliest_start", "now");
  assert_false(sl_json_decode(b, f, 2, NULL, &err));
  assert_int_equal(err.code, SL_E_WRONG_TYPE);
  json_decref(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_duration_units),
      cmocka_unit_test(test_duration_rejects),
      cmocka_unit_test(test_relative_start_rounds_up),
      cmocka_unit_test(test_absolute_and_bad_starts),
      cmocka_unit_test(test_jsonspec_human_fields),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
