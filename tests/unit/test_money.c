/* test_money.c — sl_money_parse / sl_money_format / overflow helpers (src/core/money.c).
 *
 * Money is int64 minor units (cents); JSON carries it as "digits[.digits]" with at most
 * SL_MONEY_SCALE significant fraction digits.  These tests pin the documented grammar, the
 * range limit SL_MONEY_MAX, the formatting of every int64 (including INT64_MIN, which must
 * not be negated as a signed value) and the overflow edges of the arithmetic helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "suanli/core/money.h"

#define SENTINEL INT64_C(0x5a5a5a5a5a5a5a5a)

/* Parse s, expecting success with value want. */
static void expect_parse(const char *s, int64_t want) {
  int64_t got = SENTINEL;
  sl_money_rc rc = sl_money_parse(s, &got);
  if (rc != SL_MONEY_OK || got != want)
    fail_msg("parse(\"%s\"): rc=%d value=%lld, want rc=0 value=%lld", s, (int)rc, (long long)got,
             (long long)want);
}

/* Parse s, expecting failure with rc want and *out untouched. */
static void expect_parse_fail(const char *s, sl_money_rc want) {
  int64_t got = SENTINEL;
  sl_money_rc rc = sl_money_parse(s, &got);
  if (rc != want) fail_msg("parse(\"%s\"): rc=%d, want %d", s ? s : "(null)", (int)rc, (int)want);
  if (got != SENTINEL) fail_msg("parse(\"%s\") wrote *out on error", s ? s : "(null)");
}

static void expect_format(int64_t v, const char *want) {
  char buf[SL_MONEY_STRLEN];
  memset(buf, 'X', sizeof buf);
  int n = sl_money_format(v, buf, sizeof buf);
  if (n != (int)strlen(want) || strcmp(buf, want) != 0)
    fail_msg("format(%lld): n=%d \"%.*s\", want %d \"%s\"", (long long)v, n, (int)sizeof buf, buf,
             (int)strlen(want), want);
}

/* format(v) then parse() must give v back, and the text must be canonical (two decimals). */
static void roundtrip(int64_t v) {
  char buf[SL_MONEY_STRLEN];
  int n = sl_money_format(v, buf, sizeof buf);
  if (n < 4) fail_msg("format(%lld) returned %d", (long long)v, n);
  if (buf[n - 3] != '.') fail_msg("format(%lld) = \"%s\" lacks two decimals", (long long)v, buf);
  int64_t back = SENTINEL;
  sl_money_rc rc = sl_money_parse(buf, &back);
  if (rc != SL_MONEY_OK || back != v)
    fail_msg("round trip %lld -> \"%s\" -> rc=%d %lld", (long long)v, buf, (int)rc,
             (long long)back);
}

static void test_scale_constants(void **state) {
  (void)state;
  assert_int_equal(SL_MONEY_SCALE, 2);
  assert_true(SL_MONEY_MAX == INT64_C(1000000000000000));
  assert_string_equal(SL_MONEY_CURRENCY, "USD");
}

static void test_parse_valid(void **state) {
  (void)state;
  expect_parse("0", 0);
  expect_parse("0.0", 0);
  expect_parse("0.00", 0);
  expect_parse("0.01", 1);
  expect_parse("0.1", 10);
  expect_parse("0.10", 10);
  expect_parse("0.99", 99);
  expect_parse("1", 100);
  expect_parse("1.0", 100);
  expect_parse("1.00", 100);
  expect_parse("1.5", 150);
  expect_parse("1.50", 150);
  expect_parse("12", 1200);
  expect_parse("12.5", 1250);
  expect_parse("12.34", 1234);
  expect_parse("123.45", 12345);
  expect_parse("99", 9900);
  expect_parse("100", 10000);
  expect_parse("10", 1000);
  expect_parse("1000000", 100000000);
}

/* The documented behaviour: "more than SL_MONEY_SCALE fraction digits" is a precision
 * error, except that zeros beyond the scale lose nothing and are accepted. */
static void test_parse_precision(void **state) {
  (void)state;
  expect_parse_fail("1.234", SL_MONEY_PRECISION);
  expect_parse_fail("0.001", SL_MONEY_PRECISION);
  expect_parse_fail("0.009", SL_MONEY_PRECISION);
  expect_parse_fail("12.345", SL_MONEY_PRECISION);
  expect_parse_fail("1.2301", SL_MONEY_PRECISION);
  expect_parse_fail("1.00000000001", SL_MONEY_PRECISION);
  expect_parse("1.230", 123);
  expect_parse("1.2300000000", 123);
  expect_parse("0.000", 0);
  expect_parse("7.000000000000000000000000000000", 700);
}

static void test_parse_syntax(void **state) {
  (void)state;
  static const char *const bad[] = {
      "",     "-1",  "+1",       "1e3",   "1E3", " 1",    "1 ",    ".5",
      "5.",   "01",  "00",       "00.5",  "007", "1.2.3", "abc",   "1,5",
      "1,50", "-0",  "-0.01",    "+0.01", "\t1", "1\n",   "0x10",  "1_000",
      "NaN",  "inf", "Infinity", "1.",    ".",   "..",    "1..2",  "1.-2",
      "1.+2", "12a", "a12",      "1 000", "$1",  "1$",    "1.5e2", "\xef\xbc\x91" /* fullwidth 1 */,
      "1.2 ", " ",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    expect_parse_fail(bad[i], SL_MONEY_SYNTAX);
  expect_parse_fail(NULL, SL_MONEY_SYNTAX);
}

/* A NUL inside the text ends it: "1\0junk" is just "1" (C strings). */
static void test_parse_stops_at_nul(void **state) {
  (void)state;
  static const char s[] = "1\0junk";
  expect_parse(s, 100);
}

static void test_parse_range(void **state) {
  (void)state;
  /* SL_MONEY_MAX = 10^15 minor units = 10^13 major units. */
  expect_parse("10000000000000", SL_MONEY_MAX);
  expect_parse("10000000000000.00", SL_MONEY_MAX);
  expect_parse("10000000000000.000", SL_MONEY_MAX);
  expect_parse("9999999999999.99", SL_MONEY_MAX - 1);
  expect_parse_fail("10000000000000.01", SL_MONEY_RANGE); /* SL_MONEY_MAX + 1 */
  expect_parse_fail("10000000000000.1", SL_MONEY_RANGE);
  expect_parse_fail("10000000000001", SL_MONEY_RANGE);
  expect_parse_fail("99999999999999", SL_MONEY_RANGE);
  expect_parse_fail("100000000000000", SL_MONEY_RANGE);
  expect_parse_fail("999999999999999999", SL_MONEY_RANGE);   /* 18 digits */
  expect_parse_fail("9223372036854775807", SL_MONEY_RANGE);  /* INT64_MAX */
  expect_parse_fail("9223372036854775808", SL_MONEY_RANGE);  /* INT64_MAX + 1 */
  expect_parse_fail("92233720368547758.07", SL_MONEY_RANGE); /* INT64_MAX cents */
  expect_parse_fail("18446744073709551616", SL_MONEY_RANGE); /* 2^64 */
  expect_parse_fail("12345678901234567890", SL_MONEY_RANGE); /* 20 digits */
  expect_parse_fail("99999999999999999999.99", SL_MONEY_RANGE);

  /* A very long run of digits must be rejected without overflowing anything. */
  char big[1001];
  memset(big, '9', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  expect_parse_fail(big, SL_MONEY_RANGE);
  big[0] = '1';
  for (size_t i = 1; i < sizeof big - 1; i++) big[i] = '0';
  expect_parse_fail(big, SL_MONEY_RANGE);
}

static void test_format_values(void **state) {
  (void)state;
  expect_format(0, "0.00");
  expect_format(1, "0.01");
  expect_format(9, "0.09");
  expect_format(10, "0.10");
  expect_format(99, "0.99");
  expect_format(100, "1.00");
  expect_format(101, "1.01");
  expect_format(12345, "123.45");
  expect_format(100000, "1000.00");
  expect_format(SL_MONEY_MAX, "10000000000000.00");
  expect_format(-1, "-0.01");
  expect_format(-99, "-0.99");
  expect_format(-100, "-1.00");
  expect_format(-12345, "-123.45");
  expect_format(INT64_MAX, "92233720368547758.07");
  expect_format(INT64_MIN, "-92233720368547758.08"); /* no signed negation (UBSan) */
  expect_format(INT64_MIN + 1, "-92233720368547758.07");
}

static void test_format_buffer(void **state) {
  (void)state;
  char buf[16];
  /* "123.45" is 6 characters: 7 bytes are enough, 6 are not. */
  memset(buf, 'X', sizeof buf);
  assert_int_equal(sl_money_format(12345, buf, 7), 6);
  assert_string_equal(buf, "123.45");
  for (size_t i = 7; i < sizeof buf; i++) assert_int_equal(buf[i], 'X');

  memset(buf, 'X', sizeof buf);
  assert_int_equal(sl_money_format(12345, buf, 6), -1);
  for (size_t i = 6; i < sizeof buf; i++) assert_int_equal(buf[i], 'X'); /* no overrun */

  assert_int_equal(sl_money_format(12345, buf, 1), -1);
  assert_int_equal(sl_money_format(0, NULL, 0), -1);
  assert_int_equal(sl_money_format(0, buf, 4), -1); /* "0.00" needs 5 */
  assert_int_equal(sl_money_format(0, buf, 5), 4);
  assert_int_equal(sl_money_format(-1, buf, 5), -1); /* "-0.01" needs 6 */
  assert_int_equal(sl_money_format(-1, buf, 6), 5);

  /* SL_MONEY_STRLEN suffices for the longest value of all. */
  char big[SL_MONEY_STRLEN];
  assert_int_equal(sl_money_format(INT64_MIN, big, sizeof big), 21);
  assert_true(strlen("-92233720368547758.08") < SL_MONEY_STRLEN);
}

static void test_roundtrip_many(void **state) {
  (void)state;
  static const int64_t fixed[] = {0,           1,     9,      10,        11,
                                  99,          100,   101,    999,       1000,
                                  12345,       99999, 100000, 123456789, SL_MONEY_MAX - 1,
                                  SL_MONEY_MAX};
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) roundtrip(fixed[i]);
  for (int64_t v = 0; v <= 20000; v++) roundtrip(v);
  /* every power of ten and its neighbours up to SL_MONEY_MAX */
  for (int64_t p = 1; p <= SL_MONEY_MAX; p *= 10) {
    roundtrip(p);
    roundtrip(p - 1);
    if (p + 1 <= SL_MONEY_MAX) roundtrip(p + 1);
  }
  /* pseudo-random values over the whole accepted range (fixed seed: reproducible) */
  uint64_t x = 0x9e3779b97f4a7c15u;
  for (int i = 0; i < 200000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    roundtrip((int64_t)(x % (uint64_t)(SL_MONEY_MAX + 1)));
  }
}

/* parse(text) -> format -> the canonical text. */
static void test_parse_then_format(void **state) {
  (void)state;
  static const struct {
    const char *in, *canon;
  } cases[] = {{"0", "0.00"},         {"0.5", "0.50"},
               {"1", "1.00"},         {"1.5", "1.50"},
               {"1.230", "1.23"},     {"99", "99.00"},
               {"12345", "12345.00"}, {"10000000000000", "10000000000000.00"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int64_t v = SENTINEL;
    assert_int_equal(sl_money_parse(cases[i].in, &v), SL_MONEY_OK);
    char buf[SL_MONEY_STRLEN];
    assert_true(sl_money_format(v, buf, sizeof buf) > 0);
    assert_string_equal(buf, cases[i].canon);
  }
}

/* Negative amounts format with '-', but the parser never accepts a sign. */
static void test_negative_not_parsed_back(void **state) {
  (void)state;
  char buf[SL_MONEY_STRLEN];
  assert_int_equal(sl_money_format(-12345, buf, sizeof buf), 7);
  expect_parse_fail(buf, SL_MONEY_SYNTAX);
}

static void test_add(void **state) {
  (void)state;
  int64_t r = SENTINEL;
  assert_true(sl_money_add(1, 2, &r));
  assert_true(r == 3);
  assert_true(sl_money_add(-5, 3, &r));
  assert_true(r == -2);
  assert_true(sl_money_add(INT64_MAX, 0, &r));
  assert_true(r == INT64_MAX);
  assert_true(sl_money_add(INT64_MAX - 1, 1, &r));
  assert_true(r == INT64_MAX);
  assert_true(sl_money_add(INT64_MIN, 0, &r));
  assert_true(r == INT64_MIN);
  assert_true(sl_money_add(INT64_MIN, INT64_MAX, &r));
  assert_true(r == -1);
  assert_true(sl_money_add(INT64_MIN + 1, -1, &r));
  assert_true(r == INT64_MIN);

  r = SENTINEL;
  assert_false(sl_money_add(INT64_MAX, 1, &r));
  assert_true(r == SENTINEL);
  assert_false(sl_money_add(1, INT64_MAX, &r));
  assert_false(sl_money_add(INT64_MAX, INT64_MAX, &r));
  assert_false(sl_money_add(INT64_MIN, -1, &r));
  assert_false(sl_money_add(-1, INT64_MIN, &r));
  assert_false(sl_money_add(INT64_MIN, INT64_MIN, &r));
  assert_true(r == SENTINEL);
}

static void test_mul(void **state) {
  (void)state;
  int64_t r = SENTINEL;
  assert_true(sl_money_mul(6, 7, &r));
  assert_true(r == 42);
  assert_true(sl_money_mul(-6, 7, &r));
  assert_true(r == -42);
  assert_true(sl_money_mul(0, INT64_MIN, &r));
  assert_true(r == 0);
  assert_true(sl_money_mul(INT64_MIN, 0, &r));
  assert_true(r == 0);
  assert_true(sl_money_mul(INT64_MAX, 1, &r));
  assert_true(r == INT64_MAX);
  assert_true(sl_money_mul(INT64_MIN, 1, &r));
  assert_true(r == INT64_MIN);
  assert_true(sl_money_mul(INT64_MAX, -1, &r));
  assert_true(r == -INT64_MAX);
  /* floor(sqrt(INT64_MAX)) = 3037000499 */
  assert_true(sl_money_mul(INT64_C(3037000499), INT64_C(3037000499), &r));
  assert_true(r == INT64_C(9223372030926249001));
  /* a realistic bound: SL_MONEY_MAX per hour times 9223 hours still fits */
  assert_true(sl_money_mul(SL_MONEY_MAX, 9223, &r));
  assert_true(r == INT64_C(9223000000000000000));

  r = SENTINEL;
  assert_false(sl_money_mul(INT64_C(3037000500), INT64_C(3037000500), &r));
  assert_false(sl_money_mul(INT64_MAX, 2, &r));
  assert_false(sl_money_mul(2, INT64_MAX, &r));
  assert_false(sl_money_mul(INT64_MIN, -1, &r));
  assert_false(sl_money_mul(-1, INT64_MIN, &r));
  assert_false(sl_money_mul(INT64_MIN, 2, &r));
  assert_false(sl_money_mul(INT64_MIN, INT64_MIN, &r));
  assert_false(sl_money_mul(SL_MONEY_MAX, 9224, &r));
  assert_true(r == SENTINEL);
}

static void test_strerror(void **state) {
  (void)state;
  const char *ok = sl_money_strerror(SL_MONEY_OK);
  const char *syn = sl_money_strerror(SL_MONEY_SYNTAX);
  const char *pre = sl_money_strerror(SL_MONEY_PRECISION);
  const char *rng = sl_money_strerror(SL_MONEY_RANGE);
  assert_non_null(ok);
  assert_non_null(syn);
  assert_non_null(pre);
  assert_non_null(rng);
  assert_true(strlen(syn) > 0 && strlen(pre) > 0 && strlen(rng) > 0);
  assert_string_not_equal(syn, pre);
  assert_string_not_equal(pre, rng);
  assert_string_not_equal(syn, rng);
  assert_non_null(strstr(pre, "2")); /* names the number of decimal places */
  /* the range message states the real maximum */
  char max[SL_MONEY_STRLEN];
  assert_true(sl_money_format(SL_MONEY_MAX, max, sizeof max) > 0);
  assert_non_null(strstr(rng, max));
  assert_non_null(sl_money_strerror((sl_money_rc)42));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_scale_constants),
      cmocka_unit_test(test_parse_valid),
      cmocka_unit_test(test_parse_precision),
      cmocka_unit_test(test_parse_syntax),
      cmocka_unit_test(test_parse_stops_at_nul),
      cmocka_unit_test(test_parse_range),
      cmocka_unit_test(test_format_values),
      cmocka_unit_test(test_format_buffer),
      cmocka_unit_test(test_roundtrip_many),
      cmocka_unit_test(test_parse_then_format),
      cmocka_unit_test(test_negative_not_parsed_back),
      cmocka_unit_test(test_add),
      cmocka_unit_test(test_mul),
      cmocka_unit_test(test_strerror),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
