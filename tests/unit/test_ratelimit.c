/* test_ratelimit.c — token buckets and the bounded key table (src/core/ratelimit.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "suanli/core/ratelimit.h"

#define S INT64_C(1000000)

static void burst_then_refusal(void **state) {
  sl_bucket b = {0, 0};
  sl_rate r = {10, 5};
  int64_t t = 1000 * S;
  for (int i = 0; i < 5; i++) {
    sl_take k = sl_bucket_take(&b, r, 1, t);
    assert_true(k.allowed);
    assert_int_equal((int)k.remaining, 4 - i);
  }
  sl_take k = sl_bucket_take(&b, r, 1, t);
  assert_false(k.allowed);
  assert_int_equal(k.retry_after_ms, 100); /* one token at 10/s */
  assert_int_equal(k.reset_ms, 500);
  /* 100 ms later exactly one token is back */
  k = sl_bucket_take(&b, r, 1, t + S / 10);
  assert_true(k.allowed);
  k = sl_bucket_take(&b, r, 1, t + S / 10);
  assert_false(k.allowed);
}

static void refill_is_capped_and_cost_clamped(void **state) {
  sl_bucket b = {0, 0};
  sl_rate r = {1, 3};
  int64_t t = 5 * S;
  assert_true(sl_bucket_take(&b, r, 3, t).allowed);
  /* an hour later the bucket holds the burst, not 3600 tokens */
  sl_take k = sl_bucket_take(&b, r, 1, t + 3600 * S);
  assert_true(k.allowed);
  assert_int_equal((int)k.remaining, 2);
  /* a cost above the burst runs on a full bucket and empties it */
  b.last_us = 0;
  k = sl_bucket_take(&b, r, 50, t);
  assert_true(k.allowed);
  assert_int_equal((int)k.remaining, 0);
  k = sl_bucket_take(&b, r, 50, t);
  assert_false(k.allowed);
  assert_int_equal(k.retry_after_ms, 3000);
}

static void clock_going_back_adds_nothing(void **state) {
  sl_bucket b = {0, 0};
  sl_rate r = {100, 2};
  assert_true(sl_bucket_take(&b, r, 2, 10 * S).allowed);
  assert_false(sl_bucket_take(&b, r, 1, 5 * S).allowed);
  assert_false(sl_bucket_take(&b, r, 1, 10 * S).allowed);
}

static void unlimited_and_zero(void **state) {
  sl_bucket b = {0, 0};
  sl_rate u;
  assert_true(sl_rate_parse("unlimited", &u));
  for (int i = 0; i < 1000; i++) assert_true(sl_bucket_take(&b, u, 5, S).allowed);
  sl_rate z = {0, 0};
  sl_bucket b2 = {0, 0};
  sl_take k = sl_bucket_take(&b2, z, 1, S);
  assert_false(k.allowed);
  assert_true(k.retry_after_ms > 0);
}

static void parse(void **state) {
  sl_rate r = {-7, -7};
  assert_true(sl_rate_parse("20:60", &r));
  assert_true(r.per_s == 20 && r.burst == 60);
  assert_true(sl_rate_parse("0.5:1", &r));
  assert_true(r.per_s == 0.5 && r.burst == 1);
  const char *bad[] = {"",      "20",    "20:",    ":5",     "a:b",   "-1:5", "5:-1",
                       "5:0.5", "1:2:3", "20:60x", "1e10:5", "nan:5", NULL};
  for (const char **p = bad; *p; p++) {
    sl_rate before = r;
    if (sl_rate_parse(*p, &r)) fail_msg("'%s' was accepted", *p);
    assert_true(r.per_s == before.per_s && r.burst == before.burst);
  }
  assert_false(sl_rate_parse(NULL, &r));
}

static void table_keys_and_eviction(void **state) {
  sl_rate_table t;
  assert_true(sl_rate_table_init(&t, 10));
  assert_int_equal(t.n, 64);
  sl_rate_entry *a = sl_rate_table_get(&t, "a:1", 1);
  assert_non_null(a);
  a->bucket.tokens = 42;
  a->bucket.last_us = 1;
  assert_ptr_equal(sl_rate_table_get(&t, "a:1", 2), a);
  assert_ptr_equal(sl_rate_table_find(&t, "a:1"), a);
  assert_null(sl_rate_table_find(&t, "a:2"));
  assert_null(sl_rate_table_get(&t, "", 3));
  /* many more keys than slots: lookups stay bounded, evictions counted, and an entry holding
   * connections is never evicted */
  a->conns = 1;
  char key[32];
  for (int i = 0; i < 5000; i++) {
    snprintf(key, sizeof key, "k:%d", i);
    sl_rate_entry *e = sl_rate_table_get(&t, key, 10 + i);
    if (e) assert_string_equal(e->key, key);
  }
  assert_true(t.evictions > 0);
  sl_rate_entry *again = sl_rate_table_find(&t, "a:1");
  assert_non_null(again);
  assert_int_equal((int)again->bucket.tokens, 42);
  /* a key longer than the limit is truncated consistently */
  char longkey[200];
  memset(longkey, 'x', sizeof longkey - 1);
  longkey[sizeof longkey - 1] = '\0';
  sl_rate_entry *l = sl_rate_table_get(&t, longkey, 99999);
  assert_non_null(l);
  assert_int_equal(strlen(l->key), SL_RATE_KEY_MAX);
  assert_ptr_equal(sl_rate_table_find(&t, longkey), l);
  sl_rate_table_free(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(burst_then_refusal),
      cmocka_unit_test(refill_is_capped_and_cost_clamped),
      cmocka_unit_test(clock_going_back_adds_nothing),
      cmocka_unit_test(unlimited_and_zero),
      cmocka_unit_test(parse),
      cmocka_unit_test(table_keys_and_eviction),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
