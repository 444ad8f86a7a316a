/* test_rawpath.c — raw request-target checks (src/core/rawpath.c): the cases a security pass
 * found reaching handlers ("%00" truncation, "%2F", dot segments, invalid UTF-8). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "suanli/core/rawpath.h"

static void expect_path(const char *raw, sl_rawpath_rc want, const char *canon) {
  char out[SL_RAWPATH_MAX + 1];
  const char *q = (const char *)1;
  sl_rawpath_rc rc = sl_rawpath_canon(raw, out, sizeof out, &q);
  if (rc != want) fail_msg("'%s': rc %d, want %d", raw, (int)rc, (int)want);
  if (canon && strcmp(out, canon) != 0)
    fail_msg("'%s': canonical '%s', want '%s'", raw, out, canon);
}

static void paths(void **state) {
  expect_path("/v1/pools", SL_RAWPATH_OK, "/v1/pools");
  expect_path("/v1/pools/17", SL_RAWPATH_OK, "/v1/pools/17");
  expect_path("/v1/r%65gions", SL_RAWPATH_OK, "/v1/regions");
  expect_path("/v1/accelerators/H100-SXM", SL_RAWPATH_OK, "/v1/accelerators/H100-SXM");
  expect_path("/v1/pools?status=active", SL_RAWPATH_OK, "/v1/pools");
  expect_path("/v1/tokens/31%00junk", SL_RAWPATH_ENCODED, NULL);
  expect_path("/v1/accounts/1%00", SL_RAWPATH_ENCODED, NULL);
  expect_path("/v1/pools%2f1", SL_RAWPATH_ENCODED, NULL);
  expect_path("/v1/pools%2F1", SL_RAWPATH_ENCODED, NULL);
  expect_path("/%ff", SL_RAWPATH_ENCODED, NULL);
  expect_path("/v1/%c0%af", SL_RAWPATH_ENCODED, NULL);
  expect_path("/v1/pools/%20", SL_RAWPATH_ENCODED, NULL);
  expect_path("/v1/pools/%", SL_RAWPATH_BAD_ESCAPE, NULL);
  expect_path("/v1/pools/%4", SL_RAWPATH_BAD_ESCAPE, NULL);
  expect_path("/v1/pools/%zz", SL_RAWPATH_BAD_ESCAPE, NULL);
  expect_path("/v1/accounts/6/../../audit", SL_RAWPATH_DOT_SEGMENT, NULL);
  expect_path("/v1/./pools", SL_RAWPATH_DOT_SEGMENT, NULL);
  expect_path("/v1/pools/..", SL_RAWPATH_DOT_SEGMENT, NULL);
  expect_path("/v1/%2e%2e/audit", SL_RAWPATH_DOT_SEGMENT, NULL);
  expect_path("/v1/.%2E?x", SL_RAWPATH_DOT_SEGMENT, NULL);
  expect_path("/v1/...", SL_RAWPATH_OK, "/v1/...");
  expect_path("/v1/pools/\xff", SL_RAWPATH_BAD_BYTE, NULL);
  expect_path("/v1/pools/a b", SL_RAWPATH_BAD_BYTE, NULL);
  expect_path("/v1/pools/a\\b", SL_RAWPATH_BAD_BYTE, NULL);
  expect_path("v1/pools", SL_RAWPATH_NOT_ABSOLUTE, NULL);
  expect_path("", SL_RAWPATH_NOT_ABSOLUTE, NULL);
  char big[SL_RAWPATH_MAX + 20];
  big[0] = '/';
  memset(big + 1, 'a', sizeof big - 2);
  big[sizeof big - 1] = '\0';
  expect_path(big, SL_RAWPATH_TOO_LONG, NULL);
  /* the query pointer */
  char out[64];
  const char *q = NULL;
  assert_int_equal(sl_rawpath_canon("/a?b=1&c", out, sizeof out, &q), SL_RAWPATH_OK);
  assert_string_equal(q, "b=1&c");
  /* a small output buffer is a refusal, never an overflow */
  assert_int_equal(sl_rawpath_canon("/abcdefgh", out, 4, &q), SL_RAWPATH_TOO_LONG);
  assert_true(strlen(out) < 4);
}

static void queries(void **state) {
  char why[200];
  assert_true(sl_rawquery_check(NULL, why, sizeof why));
  assert_true(sl_rawquery_check("", why, sizeof why));
  assert_true(sl_rawquery_check("status=active&limit=5", why, sizeof why));
  assert_true(sl_rawquery_check("name=%E7%AE%97%E5%8A%9B&x=a+b", why, sizeof why));
  const char *bad[] = {"%ff=1", "a=%c0%af", "a=%00",  "a=%0a",       "a=%",
                       "a=%g1", "a=b c",    "a=\x80", "a=%ed%a0%80", NULL};
  for (const char **p = bad; *p; p++) {
    why[0] = '\0';
    if (sl_rawquery_check(*p, why, sizeof why)) fail_msg("query '%s' was accepted", *p);
    assert_true(why[0] != '\0');
  }
  char many[4000] = "";
  for (int i = 0; i <= SL_QUERY_MAX_PARAMS; i++) {
    char one[16];
    snprintf(one, sizeof one, "%su%d=1", i ? "&" : "", i);
    strcat(many, one);
  }
  assert_false(sl_rawquery_check(many, why, sizeof why));
  assert_non_null(strstr(why, "more than"));
  *strrchr(many, '&') = '\0';
  assert_true(sl_rawquery_check(many, why, sizeof why));
}

static void utf8_and_escape(void **state) {
  assert_true(sl_utf8_valid("plain", 5));
  assert_true(sl_utf8_valid("\xe7\xae\x97", 3));
  assert_true(sl_utf8_valid("\xf0\x9f\x98\x80", 4));
  assert_false(sl_utf8_valid("\xff", 1));
  assert_false(sl_utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
  assert_false(sl_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
  assert_false(sl_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
  assert_false(sl_utf8_valid("\xe7\xae", 2));         /* truncated */
  char out[64];
  sl_text_escape("/v1/\xff\x01%zz%41", out, sizeof out);
  assert_string_equal(out, "/v1/%FF%01%25zz%41");
  sl_text_escape("abcdef", out, 4);
  assert_string_equal(out, "abc");
  sl_text_escape("\xff\xff", out, 5);
  assert_string_equal(out, "%FF");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(paths),
      cmocka_unit_test(queries),
      cmocka_unit_test(utf8_and_escape),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
