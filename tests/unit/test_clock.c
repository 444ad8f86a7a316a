/* test_clock.c — the business clock (src/core/clock.c): the real clock by default, an injected
 * source when a test database's clock is followed, the fallback when the source fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "suanli/core/clock.h"
#include "suanli/core/timeutil.h"

/* A source that answers *arg (microseconds), or fails when *arg < 0; counts its calls. */
static int calls;
static int64_t fixed_source(void *arg) {
  calls++;
  return *(int64_t *)arg;
}

static void test_real_by_default(void **state) {
  (void)state;
  assert_false(sl_clock_is_injected());
  int64_t before = (int64_t)time(NULL);
  int64_t s = sl_clock_now();
  int64_t us = sl_clock_now_us();
  int64_t after = (int64_t)time(NULL);
  assert_true(before <= s && s <= after);
  assert_true(before * 1000000 <= us && us < (after + 1) * 1000000);
}

static void test_injected_source(void **state) {
  (void)state;
  /* 2026-10-31T23:59:59.999999Z: the seconds round down */
  int64_t t = INT64_C(1793491199999999);
  calls = 0;
  sl_clock_set_source(fixed_source, &t);
  assert_true(sl_clock_is_injected());
  assert_int_equal(sl_clock_now_us(), t);
  assert_int_equal(sl_clock_now(), INT64_C(1793491199));
  assert_int_equal(calls, 2); /* every reading asks the source: no stale time */
  t += 1;                     /* the source moved on by a microsecond: so does the clock */
  assert_int_equal(sl_clock_now(), INT64_C(1793491200));
  /* the machine's own clock (timeouts, leases, logs) is untouched */
  int64_t real = sl_time_now(), sys = (int64_t)time(NULL);
  assert_true(real >= sys - 1 && real <= sys + 1);
  sl_clock_set_source(NULL, NULL);
  assert_false(sl_clock_is_injected());
  int64_t now = (int64_t)time(NULL);
  assert_true(sl_clock_now() >= now && sl_clock_now() <= now + 1);
}

static void test_failing_source_keeps_the_offset(void **state) {
  (void)state;
  int64_t offset = INT64_C(-30) * 86400 * 1000000; /* a month behind the machine */
  int64_t t = sl_time_now_us() + offset;
  sl_clock_set_source(fixed_source, &t);
  assert_int_equal(sl_clock_now_us(), t); /* a good reading: the offset is learnt */
  t = -1;                                 /* the source fails (database unreachable) */
  int64_t got = sl_clock_now_us();
  int64_t want = sl_time_now_us() + offset;
  assert_true(got <= want && want - got < 5000000); /* real clock + the last offset */
  sl_clock_set_source(NULL, NULL);
}

static void test_failing_source_at_first(void **state) {
  (void)state;
  int64_t t = -1; /* no good reading yet: the real clock */
  sl_clock_set_source(fixed_source, &t);
  int64_t before = sl_time_now_us();
  int64_t got = sl_clock_now_us();
  assert_true(got >= before && got - before < 5000000);
  sl_clock_set_source(NULL, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_real_by_default),
      cmocka_unit_test(test_injected_source),
      cmocka_unit_test(test_failing_source_keeps_the_offset),
      cmocka_unit_test(test_failing_source_at_first),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
