/* test_jsonspec.c — declarative JSON decoding (src/core/jsonspec.c).
 *
 * Each sl_jtype is checked for success, wrong JSON type (SL_E_WRONG_TYPE naming the field)
 * and bad values (SL_E_INVALID_VALUE with a detail); then the decoder's rules: unknown
 * fields, missing required fields, null = missing, `present` flags, path prefixes; then
 * sl_json_parse_body and sl_parse_id. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "suanli/core/jsonspec.h"
#include "suanli/core/money.h"

#define N(a)         (sizeof(a) / sizeof((a)[0]))
#define I64_SENTINEL INT64_C(-31337)

static json_t *load(const char *text) {
  json_error_t je;
  json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &je);
  if (!doc) fail_msg("test JSON does not parse: %s: %s", text, je.text);
  return doc;
}

/* Decode `text` and expect success. The document is returned so borrowed strings stay
 * valid; the caller frees it. */
static json_t *decode_ok(const char *text, const sl_jfield *f, size_t n, const char *path) {
  json_t *doc = load(text);
  sl_jerr err;
  memset(&err, 0x55, sizeof err);
  if (!sl_json_decode(doc, f, n, path, &err))
    fail_msg("decode(%s) failed: code=%s field=\"%s\" detail=\"%s\"", text, sl_err_name(err.code),
             err.field, err.detail);
  assert_int_equal(err.code, SL_E_OK);
  assert_string_equal(err.field, "");
  return doc;
}

/* Decode `text` and expect failure with `code` naming `field`; if `detail` is not NULL the
 * error detail must contain it. */
static void decode_fail(const char *text, const sl_jfield *f, size_t n, const char *path,
                        sl_err code, const char *field, const char *detail) {
  json_t *doc = load(text);
  sl_jerr err;
  memset(&err, 0, sizeof err);
  bool ok = sl_json_decode(doc, f, n, path, &err);
  if (ok) fail_msg("decode(%s) succeeded, want %s on \"%s\"", text, sl_err_name(code), field);
  if (err.code != code || strcmp(err.field, field) != 0)
    fail_msg("decode(%s): code=%s field=\"%s\" detail=\"%s\"; want code=%s field=\"%s\"", text,
             sl_err_name(err.code), err.field, err.detail, sl_err_name(code), field);
  if (detail && !strstr(err.detail, detail))
    fail_msg("decode(%s): detail \"%s\" lacks \"%s\"", text, err.detail, detail);
  assert_true(strlen(err.detail) > 0);
  json_decref(doc);
}

/* ---------------------------------------------------------------- SL_JT_STRING */

static void test_string(void **state) {
  (void)state;
  const char *name = NULL;
  bool present = false;
  sl_jfield f[] = {{"name", SL_JT_STRING, true, &name, &present, 1, 8, NULL}};
  json_t *doc = decode_ok("{\"name\":\"gpu-a\"}", f, N(f), NULL);
  assert_string_equal(name, "gpu-a");
  assert_true(present);
  /* borrowed from the document, not copied */
  assert_ptr_equal(name, json_string_value(json_object_get(doc, "name")));
  json_decref(doc);

  decode_fail("{\"name\":5}", f, N(f), NULL, SL_E_WRONG_TYPE, "name", "string");
  decode_fail("{\"name\":true}", f, N(f), NULL, SL_E_WRONG_TYPE, "name", NULL);
  decode_fail("{\"name\":1.5}", f, N(f), NULL, SL_E_WRONG_TYPE, "name", NULL);
  decode_fail("{\"name\":{}}", f, N(f), NULL, SL_E_WRONG_TYPE, "name", NULL);
  decode_fail("{\"name\":[\"a\"]}", f, N(f), NULL, SL_E_WRONG_TYPE, "name", NULL);
}

static void test_string_length(void **state) {
  (void)state;
  const char *s = NULL;
  sl_jfield f[] = {{"s", SL_JT_STRING, true, &s, NULL, 2, 4, NULL}};
  decode_fail("{\"s\":\"\"}", f, N(f), NULL, SL_E_INVALID_VALUE, "s", "2 to 4");
  decode_fail("{\"s\":\"a\"}", f, N(f), NULL, SL_E_INVALID_VALUE, "s", "2 to 4");
  json_decref(decode_ok("{\"s\":\"ab\"}", f, N(f), NULL));
  json_decref(decode_ok("{\"s\":\"abcd\"}", f, N(f), NULL));
  decode_fail("{\"s\":\"abcde\"}", f, N(f), NULL, SL_E_INVALID_VALUE, "s", "2 to 4");
  /* the length is in bytes: "é" is 2 bytes, so "éé" (4) fits and "ééé" (6) does not */
  json_decref(decode_ok("{\"s\":\"\\u00e9\\u00e9\"}", f, N(f), NULL));
  decode_fail("{\"s\":\"\\u00e9\\u00e9\\u00e9\"}", f, N(f), NULL, SL_E_INVALID_VALUE, "s", NULL);

  /* min 0, max 0 means the default limit of 256 bytes; empty allowed */
  sl_jfield d[] = {{"s", SL_JT_STRING, true, &s, NULL, 0, 0, NULL}};
  json_decref(decode_ok("{\"s\":\"\"}", d, N(d), NULL));
  char text[600];
  char x[300];
  memset(x, 'x', 256);
  x[256] = '\0';
  snprintf(text, sizeof text, "{\"s\":\"%s\"}", x);
  json_t *doc = decode_ok(text, d, N(d), NULL);
  assert_int_equal(strlen(s), 256); /* s is borrowed: check before freeing doc */
  json_decref(doc);
  x[256] = 'x';
  x[257] = '\0';
  snprintf(text, sizeof text, "{\"s\":\"%s\"}", x);
  decode_fail(text, d, N(d), NULL, SL_E_INVALID_VALUE, "s", "256");
}

static void test_string_control_chars(void **state) {
  (void)state;
  const char *s = NULL;
  sl_jfield f[] = {{"s", SL_JT_STRING, true, &s, NULL, 0, 64, NULL}};
  static const char *const bad[] = {
      "{\"s\":\"a\\u0001b\"}",   "{\"s\":\"a\\tb\"}",   "{\"s\":\"line\\n\"}",
      "{\"s\":\"\\r\"}",         "{\"s\":\"\\u001f\"}", "{\"s\":\"del\\u007f\"}",
      "{\"s\":\"\\u001b[31m\"}",
  };
  for (size_t i = 0; i < N(bad); i++)
    decode_fail(bad[i], f, N(f), NULL, SL_E_INVALID_VALUE, "s", "control");
  /* printable ASCII and non-ASCII UTF-8 are fine */
  json_t *doc = decode_ok("{\"s\":\" ~!\\\"\\\\/ \\u4e2d\\u6587 \\ud83d\\ude80\"}", f, N(f), NULL);
  assert_string_equal(s, " ~!\"\\/ \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x9a\x80");
  json_decref(doc);

  /* An embedded NUL (possible when the document is built in C) is rejected. */
  json_t *obj = json_object();
  json_object_set_new(obj, "s", json_stringn("a\0b", 3));
  sl_jerr err;
  assert_false(sl_json_decode(obj, f, N(f), NULL, &err));
  assert_int_equal(err.code, SL_E_INVALID_VALUE);
  assert_string_equal(err.field, "s");
  assert_non_null(strstr(err.detail, "NUL"));
  json_decref(obj);
}

/* ---------------------------------------------------------------- SL_JT_INT */

static void test_int(void **state) {
  (void)state;
  int64_t v = I64_SENTINEL;
  sl_jfield f[] = {{"gpus", SL_JT_INT, true, &v, NULL, 1, 100, NULL}};
  json_decref(decode_ok("{\"gpus\":1}", f, N(f), NULL));
  assert_true(v == 1);
  json_decref(decode_ok("{\"gpus\":100}", f, N(f), NULL));
  assert_true(v == 100);
  json_decref(decode_ok("{\"gpus\":42}", f, N(f), NULL));
  assert_true(v == 42);
  decode_fail("{\"gpus\":0}", f, N(f), NULL, SL_E_INVALID_VALUE, "gpus", "between 1 and 100");
  decode_fail("{\"gpus\":101}", f, N(f), NULL, SL_E_INVALID_VALUE, "gpus", "between 1 and 100");
  decode_fail("{\"gpus\":-1}", f, N(f), NULL, SL_E_INVALID_VALUE, "gpus", NULL);
  decode_fail("{\"gpus\":9223372036854775807}", f, N(f), NULL, SL_E_INVALID_VALUE, "gpus", NULL);
  decode_fail("{\"gpus\":-9223372036854775808}", f, N(f), NULL, SL_E_INVALID_VALUE, "gpus", NULL);
  decode_fail("{\"gpus\":1.0}", f, N(f), NULL, SL_E_WRONG_TYPE, "gpus", "integer");
  decode_fail("{\"gpus\":1.5}", f, N(f), NULL, SL_E_WRONG_TYPE, "gpus", "integer");
  decode_fail("{\"gpus\":1e2}", f, N(f), NULL, SL_E_WRONG_TYPE, "gpus", NULL);
  decode_fail("{\"gpus\":\"5\"}", f, N(f), NULL, SL_E_WRONG_TYPE, "gpus", NULL);
  decode_fail("{\"gpus\":true}", f, N(f), NULL, SL_E_WRONG_TYPE, "gpus", NULL);
  decode_fail("{\"gpus\":[5]}", f, N(f), NULL, SL_E_WRONG_TYPE, "gpus", NULL);

  sl_jfield full[] = {{"x", SL_JT_INT, true, &v, NULL, INT64_MIN, INT64_MAX, NULL}};
  json_decref(decode_ok("{\"x\":9223372036854775807}", full, N(full), NULL));
  assert_true(v == INT64_MAX);
  json_decref(decode_ok("{\"x\":-9223372036854775808}", full, N(full), NULL));
  assert_true(v == INT64_MIN);
}

/* ---------------------------------------------------------------- SL_JT_BOOL */

static void test_bool(void **state) {
  (void)state;
  bool b = false;
  sl_jfield f[] = {{"gang", SL_JT_BOOL, true, &b, NULL, 0, 0, NULL}};
  json_decref(decode_ok("{\"gang\":true}", f, N(f), NULL));
  assert_true(b);
  json_decref(decode_ok("{\"gang\":false}", f, N(f), NULL));
  assert_false(b);
  decode_fail("{\"gang\":1}", f, N(f), NULL, SL_E_WRONG_TYPE, "gang", "boolean");
  decode_fail("{\"gang\":0}", f, N(f), NULL, SL_E_WRONG_TYPE, "gang", "boolean");
  decode_fail("{\"gang\":\"true\"}", f, N(f), NULL, SL_E_WRONG_TYPE, "gang", "boolean");
  decode_fail("{\"gang\":[]}", f, N(f), NULL, SL_E_WRONG_TYPE, "gang", "boolean");
}

/* ---------------------------------------------------------------- SL_JT_MONEY */

static void test_money(void **state) {
  (void)state;
  int64_t m = I64_SENTINEL;
  sl_jfield f[] = {{"price", SL_JT_MONEY, true, &m, NULL, 100, 10000, NULL}};
  json_decref(decode_ok("{\"price\":\"12.34\"}", f, N(f), NULL));
  assert_true(m == 1234);
  json_decref(decode_ok("{\"price\":\"1\"}", f, N(f), NULL));
  assert_true(m == 100);
  json_decref(decode_ok("{\"price\":\"100.00\"}", f, N(f), NULL));
  assert_true(m == 10000);
  json_decref(decode_ok("{\"price\":\"1.230\"}", f, N(f), NULL));
  assert_true(m == 123);
  decode_fail("{\"price\":\"0.99\"}", f, N(f), NULL, SL_E_INVALID_VALUE, "price",
              "between 1.00 and 100.00");
  decode_fail("{\"price\":\"100.01\"}", f, N(f), NULL, SL_E_INVALID_VALUE, "price",
              "between 1.00 and 100.00");
  decode_fail("{\"price\":\"1.234\"}", f, N(f), NULL, SL_E_INVALID_VALUE, "price",
              sl_money_strerror(SL_MONEY_PRECISION));
  decode_fail("{\"price\":\"-1\"}", f, N(f), NULL, SL_E_INVALID_VALUE, "price",
              sl_money_strerror(SL_MONEY_SYNTAX));
  decode_fail("{\"price\":\"1e3\"}", f, N(f), NULL, SL_E_INVALID_VALUE, "price", NULL);
  decode_fail("{\"price\":\"\"}", f, N(f), NULL, SL_E_INVALID_VALUE, "price", NULL);
  decode_fail("{\"price\":\"99999999999999999999\"}", f, N(f), NULL, SL_E_INVALID_VALUE, "price",
              sl_money_strerror(SL_MONEY_RANGE));
  /* a JSON number is the wrong type: money is never a float */
  decode_fail("{\"price\":12.34}", f, N(f), NULL, SL_E_WRONG_TYPE, "price", "decimal string");
  decode_fail("{\"price\":12}", f, N(f), NULL, SL_E_WRONG_TYPE, "price", NULL);
  decode_fail("{\"price\":false}", f, N(f), NULL, SL_E_WRONG_TYPE, "price", NULL);

  sl_jfield any[] = {{"p", SL_JT_MONEY, true, &m, NULL, 0, SL_MONEY_MAX, NULL}};
  json_decref(decode_ok("{\"p\":\"0\"}", any, N(any), NULL));
  assert_true(m == 0);
  json_decref(decode_ok("{\"p\":\"10000000000000.00\"}", any, N(any), NULL));
  assert_true(m == SL_MONEY_MAX);
}

/* ---------------------------------------------------------------- SL_JT_TIME */

static void test_time(void **state) {
  (void)state;
  int64_t t = I64_SENTINEL;
  sl_jfield any[] = {{"at", SL_JT_TIME, true, &t, NULL, 0, 0, NULL}};
  sl_jfield slot[] = {{"start", SL_JT_TIME, true, &t, NULL, 0, 1, NULL}};
  json_decref(decode_ok("{\"at\":\"2026-01-01T00:30:15Z\"}", any, N(any), NULL));
  assert_true(t == INT64_C(1767227415));
  json_decref(decode_ok("{\"at\":\"2026-01-01T08:00:00+08:00\"}", any, N(any), NULL));
  assert_true(t == INT64_C(1767225600));
  json_decref(decode_ok("{\"start\":\"2026-01-01T00:00:00Z\"}", slot, N(slot), NULL));
  assert_true(t == INT64_C(1767225600));
  json_decref(decode_ok("{\"start\":\"2026-01-01T13:00:00.000Z\"}", slot, N(slot), NULL));
  assert_true(t == INT64_C(1767272400));
  decode_fail("{\"start\":\"2026-01-01T00:30:00Z\"}", slot, N(slot), NULL, SL_E_INVALID_VALUE,
              "start", "whole UTC hour");
  decode_fail("{\"start\":\"2026-01-01T00:00:01Z\"}", slot, N(slot), NULL, SL_E_INVALID_VALUE,
              "start", "whole UTC hour");
  /* on the hour in +05:30 is half past in UTC */
  decode_fail("{\"start\":\"2026-01-01T09:00:00+05:30\"}", slot, N(slot), NULL, SL_E_INVALID_VALUE,
              "start", "whole UTC hour");
  decode_fail("{\"at\":\"2026-02-30T00:00:00Z\"}", any, N(any), NULL, SL_E_INVALID_VALUE, "at",
              "RFC 3339");
  decode_fail("{\"at\":\"2026-01-01T00:00:00.5Z\"}", any, N(any), NULL, SL_E_INVALID_VALUE, "at",
              "whole seconds");
  decode_fail("{\"at\":\"1999-12-31T23:59:59Z\"}", any, N(any), NULL, SL_E_INVALID_VALUE, "at",
              NULL);
  decode_fail("{\"at\":\"tomorrow\"}", any, N(any), NULL, SL_E_INVALID_VALUE, "at", NULL);
  decode_fail("{\"at\":1767225600}", any, N(any), NULL, SL_E_WRONG_TYPE, "at", "RFC 3339");
  decode_fail("{\"at\":{}}", any, N(any), NULL, SL_E_WRONG_TYPE, "at", NULL);
}

/* ---------------------------------------------------------------- SL_JT_ENUM */

static void test_enum(void **state) {
  (void)state;
  static const char *const kinds[] = {"slurm", "webhook", "sim", NULL};
  const char *k = NULL;
  sl_jfield f[] = {{"adapter", SL_JT_ENUM, true, &k, NULL, 0, 0, kinds}};
  json_t *doc = decode_ok("{\"adapter\":\"webhook\"}", f, N(f), NULL);
  json_decref(doc);
  /* the destination points at the table entry, so it outlives the document */
  assert_ptr_equal(k, kinds[1]);
  json_decref(decode_ok("{\"adapter\":\"sim\"}", f, N(f), NULL));
  assert_ptr_equal(k, kinds[2]);
  decode_fail("{\"adapter\":\"k8s\"}", f, N(f), NULL, SL_E_INVALID_VALUE, "adapter",
              "must be one of: slurm, webhook, sim");
  decode_fail("{\"adapter\":\"SLURM\"}", f, N(f), NULL, SL_E_INVALID_VALUE, "adapter",
              "slurm, webhook, sim");
  decode_fail("{\"adapter\":\"\"}", f, N(f), NULL, SL_E_INVALID_VALUE, "adapter", NULL);
  decode_fail("{\"adapter\":\"slurm \"}", f, N(f), NULL, SL_E_INVALID_VALUE, "adapter", NULL);
  decode_fail("{\"adapter\":1}", f, N(f), NULL, SL_E_WRONG_TYPE, "adapter", "string");
  decode_fail("{\"adapter\":[\"slurm\"]}", f, N(f), NULL, SL_E_WRONG_TYPE, "adapter", NULL);

  /* a long list of allowed values is cut to fit, never overflowing the detail */
  static const char *const many[] = {"aaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbb",
                                     "cccccccccccccccccccc", "dddddddddddddddddddd",
                                     "eeeeeeeeeeeeeeeeeeee", "ffffffffffffffffffff",
                                     "gggggggggggggggggggg", "hhhhhhhhhhhhhhhhhhhh",
                                     "iiiiiiiiiiiiiiiiiiii", NULL};
  sl_jfield g[] = {{"e", SL_JT_ENUM, true, &k, NULL, 0, 0, many}};
  decode_fail("{\"e\":\"zzz\"}", g, N(g), NULL, SL_E_INVALID_VALUE, "e", "aaaaaaaaaaaaaaaaaaaa");
}

/* ---------------------------------------------------------------- SL_JT_OBJECT / ARRAY */

static void test_object(void **state) {
  (void)state;
  json_t *o = NULL;
  sl_jfield f[] = {{"cfg", SL_JT_OBJECT, true, &o, NULL, 0, 0, NULL}};
  json_t *doc = decode_ok("{\"cfg\":{\"a\":1}}", f, N(f), NULL);
  assert_ptr_equal(o, json_object_get(doc, "cfg"));
  assert_int_equal(doc->refcount, 1); /* borrowed: no reference taken */
  assert_int_equal(o->refcount, 1);
  json_decref(doc);
  json_decref(decode_ok("{\"cfg\":{}}", f, N(f), NULL));
  decode_fail("{\"cfg\":[]}", f, N(f), NULL, SL_E_WRONG_TYPE, "cfg", "object");
  decode_fail("{\"cfg\":\"{}\"}", f, N(f), NULL, SL_E_WRONG_TYPE, "cfg", "object");
  decode_fail("{\"cfg\":1}", f, N(f), NULL, SL_E_WRONG_TYPE, "cfg", "object");
}

static void test_array(void **state) {
  (void)state;
  json_t *a = NULL;
  sl_jfield f[] = {{"models", SL_JT_ARRAY, true, &a, NULL, 1, 3, NULL}};
  json_t *doc = decode_ok("{\"models\":[\"h100\"]}", f, N(f), NULL);
  assert_ptr_equal(a, json_object_get(doc, "models"));
  json_decref(doc);
  json_decref(decode_ok("{\"models\":[1,2,3]}", f, N(f), NULL));
  decode_fail("{\"models\":[]}", f, N(f), NULL, SL_E_INVALID_VALUE, "models", "1 to 3");
  decode_fail("{\"models\":[1,2,3,4]}", f, N(f), NULL, SL_E_INVALID_VALUE, "models", "1 to 3");
  decode_fail("{\"models\":{}}", f, N(f), NULL, SL_E_WRONG_TYPE, "models", "array");
  decode_fail("{\"models\":\"h100\"}", f, N(f), NULL, SL_E_WRONG_TYPE, "models", "array");

  /* max 0: no upper limit */
  sl_jfield u[] = {{"xs", SL_JT_ARRAY, true, &a, NULL, 0, 0, NULL}};
  json_decref(decode_ok("{\"xs\":[]}", u, N(u), NULL));
  json_t *obj = json_object();
  json_t *big = json_array();
  for (int i = 0; i < 5000; i++) json_array_append_new(big, json_integer(i));
  json_object_set_new(obj, "xs", big);
  sl_jerr err;
  assert_true(sl_json_decode(obj, u, N(u), NULL, &err));
  assert_ptr_equal(a, big);
  json_decref(obj);
}

/* An array with a minimum but no maximum (max 0) must not report "must have 1 to 0
 * elements" when it is too short.
 *
 * BUG (src/core/jsonspec.c, decode_one, case SL_JT_ARRAY): the detail always prints
 * "%lld to %lld" with f->max, which is 0 when there is no upper limit.  Input: {"xs":[]}
 * with min 1, max 0.  Expected: a detail such as "must have at least 1 element"; actual:
 * "must have 1 to 0 elements".  Kept enabled. */
static void test_array_min_only_detail(void **state) {
  (void)state;
  json_t *a = NULL;
  sl_jfield f[] = {{"xs", SL_JT_ARRAY, true, &a, NULL, 1, 0, NULL}};
  json_t *doc = load("{\"xs\":[]}");
  sl_jerr err;
  bool ok = sl_json_decode(doc, f, N(f), NULL, &err);
  json_decref(doc); /* before any assertion: a failure must not leak it */
  assert_false(ok);
  assert_int_equal(err.code, SL_E_INVALID_VALUE);
  assert_string_equal(err.field, "xs");
  if (strstr(err.detail, "to 0"))
    fail_msg("detail \"%s\" states an upper limit of 0 for an unlimited array", err.detail);
  assert_non_null(strstr(err.detail, "1"));
}

/* ---------------------------------------------------------------- SL_JT_MILLI */

static void test_milli(void **state) {
  (void)state;
  int64_t m = I64_SENTINEL;
  sl_jfield f[] = {{"ncu", SL_JT_MILLI, true, &m, NULL, 0, INT64_C(1000000000000000), NULL}};
  static const struct {
    const char *text;
    int64_t want;
  } ok[] = {
      {"{\"ncu\":12}", 12000},
      {"{\"ncu\":0}", 0},
      {"{\"ncu\":\"12.345\"}", 12345},
      {"{\"ncu\":12.345}", 12345},
      {"{\"ncu\":\"12\"}", 12000},
      {"{\"ncu\":\"0.5\"}", 500},
      {"{\"ncu\":\"0.05\"}", 50},
      {"{\"ncu\":\"0.001\"}", 1},
      {"{\"ncu\":0.5}", 500},
      {"{\"ncu\":0.1}", 100},
      {"{\"ncu\":0.001}", 1},
      {"{\"ncu\":1e-3}", 1},
      {"{\"ncu\":2.675}", 2675},
      {"{\"ncu\":1.0}", 1000},
      {"{\"ncu\":1.5e2}", 150000},
      {"{\"ncu\":\"999999999999.999\"}", INT64_C(999999999999999)},
      {"{\"ncu\":1000000000000}", INT64_C(1000000000000000)},
  };
  for (size_t i = 0; i < N(ok); i++) {
    m = I64_SENTINEL;
    json_decref(decode_ok(ok[i].text, f, N(f), NULL));
    if (m != ok[i].want)
      fail_msg("%s -> %lld, want %lld", ok[i].text, (long long)m, (long long)ok[i].want);
  }
  static const char *const bad[] = {
      "{\"ncu\":1.2345}",
      "{\"ncu\":\"1.2345\"}",
      "{\"ncu\":0.0001}",
      "{\"ncu\":1e-4}",
      "{\"ncu\":-1}",
      "{\"ncu\":-0.5}",
      "{\"ncu\":\"-1\"}",
      "{\"ncu\":\"\"}",
      "{\"ncu\":\"1.\"}",
      "{\"ncu\":\".5\"}",
      "{\"ncu\":\"1e3\"}",
      "{\"ncu\":\" 1\"}",
      "{\"ncu\":\"1,5\"}",
      "{\"ncu\":\"abc\"}",
      "{\"ncu\":1000000000001}",
      "{\"ncu\":\"1.2.3\"}",
      "{\"ncu\":1e300}",
      "{\"ncu\":9223372036854775807}",
      "{\"ncu\":\"9999999999999\"}", /* 13 integer digits */
  };
  for (size_t i = 0; i < N(bad); i++)
    decode_fail(bad[i], f, N(f), NULL, SL_E_INVALID_VALUE, "ncu", NULL);
  decode_fail("{\"ncu\":1.2345}", f, N(f), NULL, SL_E_INVALID_VALUE, "ncu", "3 decimal places");
  decode_fail("{\"ncu\":true}", f, N(f), NULL, SL_E_WRONG_TYPE, "ncu", "3 decimal places");
  decode_fail("{\"ncu\":[1]}", f, N(f), NULL, SL_E_WRONG_TYPE, "ncu", NULL);
  decode_fail("{\"ncu\":{}}", f, N(f), NULL, SL_E_WRONG_TYPE, "ncu", NULL);

  /* a real that is not exactly representable with 3 decimals: 0.1 + 0.2 */
  json_t *obj = json_object();
  json_object_set_new(obj, "ncu", json_real(0.1 + 0.2));
  sl_jerr err;
  assert_false(sl_json_decode(obj, f, N(f), NULL, &err));
  assert_int_equal(err.code, SL_E_INVALID_VALUE);
  json_decref(obj);

  /* negative values are refused in every form, even when the range would allow them */
  sl_jfield neg[] = {{"x", SL_JT_MILLI, true, &m, NULL, INT64_C(-1000000000), 1000000, NULL}};
  decode_fail("{\"x\":-1}", neg, N(neg), NULL, SL_E_INVALID_VALUE, "x", NULL);
  decode_fail("{\"x\":-0.5}", neg, N(neg), NULL, SL_E_INVALID_VALUE, "x", NULL);
  decode_fail("{\"x\":\"-0.5\"}", neg, N(neg), NULL, SL_E_INVALID_VALUE, "x", "non-negative");

  /* range in thousandths, reported with three decimals */
  sl_jfield r[] = {{"w", SL_JT_MILLI, true, &m, NULL, 500, 2000, NULL}};
  json_decref(decode_ok("{\"w\":\"0.5\"}", r, N(r), NULL));
  assert_true(m == 500);
  json_decref(decode_ok("{\"w\":2}", r, N(r), NULL));
  assert_true(m == 2000);
  decode_fail("{\"w\":\"0.499\"}", r, N(r), NULL, SL_E_INVALID_VALUE, "w",
              "between 0.500 and 2.000");
  decode_fail("{\"w\":2.001}", r, N(r), NULL, SL_E_INVALID_VALUE, "w", "between 0.500 and 2.000");
  decode_fail("{\"w\":3}", r, N(r), NULL, SL_E_INVALID_VALUE, "w", "between 0.500 and 2.000");
}

/* The upper edge of SL_JT_MILLI is the same whatever the JSON form: the integer path accepts
 * up to 10^12 and the real path's range check (`d > 1e12`) admits 1e12 too.
 *
 * BUG (src/core/jsonspec.c, parse_milli_str, `if (++nd > 12) return false;`): a 13-digit
 * whole part is refused, so 1000000000000.0 (a real the range check admits) fails with the
 * false detail "has more than 3 decimal places", and "1000000000000" (string) fails while
 * the integer 1000000000000 is accepted.  Likewise -0.0 passes the `d >= 0` check, prints as
 * "-0.000" and is reported as "more than 3 decimal places".  Expected: 10^12 accepted as
 * 10^15 thousandths in all three forms; -0.0 accepted as 0 or rejected with a true detail.
 * Kept enabled. */
static void test_milli_edges_consistent(void **state) {
  (void)state;
  int64_t m = I64_SENTINEL;
  sl_jfield f[] = {{"ncu", SL_JT_MILLI, true, &m, NULL, 0, INT64_C(1000000000000000), NULL}};
  static const char *const forms[] = {"{\"ncu\":1000000000000}", "{\"ncu\":1000000000000.0}",
                                      "{\"ncu\":\"1000000000000\"}",
                                      "{\"ncu\":\"1000000000000.000\"}"};
  for (size_t i = 0; i < N(forms); i++) {
    json_t *doc = load(forms[i]);
    sl_jerr err;
    m = I64_SENTINEL;
    bool ok = sl_json_decode(doc, f, N(f), NULL, &err);
    json_decref(doc);
    if (!ok || m != INT64_C(1000000000000000))
      fail_msg("%s: code=%s detail=\"%s\" m=%lld, want 10^15 thousandths", forms[i],
               sl_err_name(err.code), err.detail, (long long)m);
  }
  json_t *doc = load("{\"ncu\":-0.0}");
  sl_jerr err;
  m = I64_SENTINEL;
  bool ok = sl_json_decode(doc, f, N(f), NULL, &err);
  json_decref(doc);
  if (ok ? m != 0 : strstr(err.detail, "decimal places") != NULL)
    fail_msg("-0.0: ok=%d m=%lld detail=\"%s\"", ok, (long long)m, ok ? "" : err.detail);
}

/* ---------------------------------------------------------------- decoder rules */

static void test_unknown_field(void **state) {
  (void)state;
  int64_t v = 0;
  sl_jfield f[] = {{"gpus", SL_JT_INT, false, &v, NULL, 0, 10, NULL}};
  decode_fail("{\"gpus\":1,\"zzz\":2}", f, N(f), NULL, SL_E_UNKNOWN_FIELD, "zzz", NULL);
  decode_fail("{\"GPUS\":1}", f, N(f), NULL, SL_E_UNKNOWN_FIELD, "GPUS", NULL);
  decode_fail("{\"gpus \":1}", f, N(f), NULL, SL_E_UNKNOWN_FIELD, "gpus ", NULL);
  decode_fail("{\"\":1}", f, N(f), NULL, SL_E_UNKNOWN_FIELD, "", NULL);
  /* even a null unknown field is rejected */
  decode_fail("{\"extra\":null}", f, N(f), NULL, SL_E_UNKNOWN_FIELD, "extra", NULL);
  /* the unknown field is reported before a missing required one */
  sl_jfield req[] = {{"gpus", SL_JT_INT, true, &v, NULL, 0, 10, NULL}};
  decode_fail("{\"zzz\":1}", req, N(req), NULL, SL_E_UNKNOWN_FIELD, "zzz", NULL);
  /* with no fields at all, any key is unknown and {} is fine */
  decode_fail("{\"a\":1}", NULL, 0, NULL, SL_E_UNKNOWN_FIELD, "a", NULL);
  json_decref(decode_ok("{}", NULL, 0, NULL));
}

static void test_missing_and_null(void **state) {
  (void)state;
  int64_t v = I64_SENTINEL;
  const char *s = "untouched";
  bool pv = true, ps = true;
  sl_jfield f[] = {{"gpus", SL_JT_INT, true, &v, &pv, 1, 10, NULL},
                   {"note", SL_JT_STRING, false, &s, &ps, 0, 10, NULL}};
  decode_fail("{}", f, N(f), NULL, SL_E_MISSING_FIELD, "gpus", "required");
  decode_fail("{\"note\":\"x\"}", f, N(f), NULL, SL_E_MISSING_FIELD, "gpus", "required");
  /* null means absent: a required null is missing */
  decode_fail("{\"gpus\":null}", f, N(f), NULL, SL_E_MISSING_FIELD, "gpus", "required");

  /* optional absent: present is false and dest untouched */
  pv = false;
  ps = true;
  json_decref(decode_ok("{\"gpus\":3}", f, N(f), NULL));
  assert_true(v == 3);
  assert_true(pv);
  assert_false(ps);
  assert_string_equal(s, "untouched");
  /* optional null: same as absent */
  ps = true;
  json_decref(decode_ok("{\"gpus\":4,\"note\":null}", f, N(f), NULL));
  assert_false(ps);
  assert_string_equal(s, "untouched");
  /* optional present */
  json_t *doc = decode_ok("{\"gpus\":5,\"note\":\"hi\"}", f, N(f), NULL);
  assert_true(ps);
  assert_string_equal(s, "hi");
  json_decref(doc);

  /* optional fields of every type, all absent: success, nothing written */
  int64_t i64 = I64_SENTINEL;
  bool b = true;
  const char *str = "x";
  json_t *const marker = json_true(); /* a non-NULL value never stored by decode */
  json_t *j = marker;
  bool p[8];
  memset(p, 1, sizeof p);
  static const char *const en[] = {"a", NULL};
  sl_jfield all[] = {{"a", SL_JT_STRING, false, &str, &p[0], 0, 0, NULL},
                     {"b", SL_JT_INT, false, &i64, &p[1], 0, 9, NULL},
                     {"c", SL_JT_BOOL, false, &b, &p[2], 0, 0, NULL},
                     {"d", SL_JT_MONEY, false, &i64, &p[3], 0, 9, NULL},
                     {"e", SL_JT_TIME, false, &i64, &p[4], 0, 1, NULL},
                     {"f", SL_JT_ENUM, false, &str, &p[5], 0, 0, en},
                     {"g", SL_JT_OBJECT, false, &j, &p[6], 0, 0, NULL},
                     {"h", SL_JT_MILLI, false, &i64, &p[7], 0, 9, NULL}};
  json_decref(decode_ok("{}", all, N(all), NULL));
  for (int i = 0; i < 8; i++) assert_false(p[i]);
  assert_true(i64 == I64_SENTINEL);
  assert_true(b);
  assert_string_equal(str, "x");
  assert_ptr_equal(j, marker);
}

static void test_null_and_non_object(void **state) {
  (void)state;
  int64_t v = 0;
  sl_jfield opt[] = {{"gpus", SL_JT_INT, false, &v, NULL, 0, 10, NULL}};
  sl_jfield req[] = {{"gpus", SL_JT_INT, true, &v, NULL, 0, 10, NULL}};
  sl_jerr err;
  /* NULL obj is an empty object */
  assert_true(sl_json_decode(NULL, opt, N(opt), NULL, &err));
  assert_int_equal(err.code, SL_E_OK);
  assert_false(sl_json_decode(NULL, req, N(req), NULL, &err));
  assert_int_equal(err.code, SL_E_MISSING_FIELD);
  assert_string_equal(err.field, "gpus");
  assert_false(sl_json_decode(NULL, req, N(req), "cfg.", &err));
  assert_string_equal(err.field, "cfg.gpus");

  /* a non-object is WRONG_TYPE naming the path (or "" for the body) */
  json_t *arr = load("[1,2]");
  assert_false(sl_json_decode(arr, opt, N(opt), NULL, &err));
  assert_int_equal(err.code, SL_E_WRONG_TYPE);
  assert_string_equal(err.field, "");
  assert_false(sl_json_decode(arr, opt, N(opt), "adapter_config", &err));
  assert_int_equal(err.code, SL_E_WRONG_TYPE);
  assert_string_equal(err.field, "adapter_config");
  json_decref(arr);
  json_t *num = json_integer(3);
  assert_false(sl_json_decode(num, opt, N(opt), NULL, &err));
  assert_int_equal(err.code, SL_E_WRONG_TYPE);
  json_decref(num);
}

static void test_path_prefix(void **state) {
  (void)state;
  /* decode an outer object, then its nested object with a path, as handlers do */
  json_t *cfg = NULL;
  const char *partition = NULL;
  int64_t nodes = 0;
  sl_jfield outer[] = {{"adapter_config", SL_JT_OBJECT, true, &cfg, NULL, 0, 0, NULL}};
  sl_jfield inner[] = {{"partition", SL_JT_STRING, true, &partition, NULL, 1, 64, NULL},
                       {"nodes", SL_JT_INT, false, &nodes, NULL, 1, 64, NULL}};
  const char *P = "adapter_config.";
  struct {
    const char *text;
    sl_err code;
    const char *field;
  } cases[] = {
      {"{\"adapter_config\":{\"partition\":\"gpu\",\"nodes\":2}}", SL_E_OK, ""},
      {"{\"adapter_config\":{\"nodes\":2}}", SL_E_MISSING_FIELD, "adapter_config.partition"},
      {"{\"adapter_config\":{\"partition\":7}}", SL_E_WRONG_TYPE, "adapter_config.partition"},
      {"{\"adapter_config\":{\"partition\":\"\"}}", SL_E_INVALID_VALUE, "adapter_config.partition"},
      {"{\"adapter_config\":{\"partition\":\"g\",\"nodes\":0}}", SL_E_INVALID_VALUE,
       "adapter_config.nodes"},
      {"{\"adapter_config\":{\"partition\":\"g\",\"x\":0}}", SL_E_UNKNOWN_FIELD,
       "adapter_config.x"},
  };
  for (size_t i = 0; i < N(cases); i++) {
    json_t *doc = decode_ok(cases[i].text, outer, N(outer), NULL);
    sl_jerr err;
    bool ok = sl_json_decode(cfg, inner, N(inner), P, &err);
    if (ok != (cases[i].code == SL_E_OK) || err.code != cases[i].code ||
        strcmp(err.field, cases[i].field) != 0)
      fail_msg("%s: ok=%d code=%s field=\"%s\"; want %s \"%s\"", cases[i].text, ok,
               sl_err_name(err.code), err.field, sl_err_name(cases[i].code), cases[i].field);
    json_decref(doc);
  }
  /* outer errors carry no prefix */
  decode_fail("{\"adapter_config\":[]}", outer, N(outer), NULL, SL_E_WRONG_TYPE, "adapter_config",
              NULL);
}

/* Very long names are truncated to fit sl_jerr.field, always NUL-terminated. */
static void test_long_names(void **state) {
  (void)state;
  char key[200];
  memset(key, 'k', sizeof key - 1);
  key[sizeof key - 1] = '\0';
  json_t *obj = json_object();
  json_object_set_new(obj, key, json_integer(1));
  sl_jerr err;
  memset(&err, 0x7f, sizeof err);
  assert_false(sl_json_decode(obj, NULL, 0, "a.very.long.path.prefix.", &err));
  assert_int_equal(err.code, SL_E_UNKNOWN_FIELD);
  assert_int_equal(strlen(err.field), sizeof err.field - 1);
  assert_memory_equal(err.field, "a.very.long.path.prefix.kkk", 27);
  json_decref(obj);

  /* the same for a declared field with a long name */
  int64_t v;
  sl_jfield f[] = {{key, SL_JT_INT, true, &v, NULL, 0, 1, NULL}};
  memset(&err, 0x7f, sizeof err);
  assert_false(sl_json_decode(NULL, f, N(f), NULL, &err));
  assert_int_equal(err.code, SL_E_MISSING_FIELD);
  assert_int_equal(strlen(err.field), sizeof err.field - 1);
}

/* A successful decode resets an err left over from an earlier failure. */
static void test_err_reset(void **state) {
  (void)state;
  sl_jerr err;
  sl_jerr_set(&err, SL_E_WRONG_TYPE, "old", "old detail %d", 1);
  int64_t v = 0;
  sl_jfield f[] = {{"n", SL_JT_INT, true, &v, NULL, 0, 9, NULL}};
  json_t *doc = load("{\"n\":3}");
  assert_true(sl_json_decode(doc, f, N(f), NULL, &err));
  assert_int_equal(err.code, SL_E_OK);
  assert_string_equal(err.field, "");
  assert_string_equal(err.detail, "");
  json_decref(doc);
}

static void test_jerr_set(void **state) {
  (void)state;
  sl_jerr err;
  assert_false(sl_jerr_set(&err, SL_E_INVALID_VALUE, "gpus", "must be at most %d", 8));
  assert_int_equal(err.code, SL_E_INVALID_VALUE);
  assert_string_equal(err.field, "gpus");
  assert_string_equal(err.detail, "must be at most 8");
  assert_false(sl_jerr_set(&err, SL_E_BODY_REQUIRED, NULL, "%s", "x"));
  assert_string_equal(err.field, "");
  /* a detail longer than the buffer is truncated and terminated */
  char longs[400];
  memset(longs, 'd', sizeof longs - 1);
  longs[sizeof longs - 1] = '\0';
  sl_jerr_set(&err, SL_E_INVALID_VALUE, "f", "%s", longs);
  assert_int_equal(strlen(err.detail), sizeof err.detail - 1);
}

/* ---------------------------------------------------------------- sl_json_parse_body */

static void expect_body_err(const char *body, size_t len, sl_err code) {
  sl_jerr err;
  memset(&err, 0, sizeof err);
  json_t *doc = sl_json_parse_body(body, len, &err);
  if (doc) {
    json_decref(doc);
    fail_msg("body \"%.*s\" accepted, want %s", (int)len, body ? body : "", sl_err_name(code));
  }
  if (err.code != code)
    fail_msg("body \"%.*s\": %s (%s), want %s", (int)len, body ? body : "", sl_err_name(err.code),
             err.detail, sl_err_name(code));
  assert_string_equal(err.field, "");
  assert_true(strlen(err.detail) > 0);
}

static void expect_body_err_s(const char *body, sl_err code) {
  expect_body_err(body, strlen(body), code);
}

static void test_parse_body_ok(void **state) {
  (void)state;
  sl_jerr err;
  const char *b = "{\"a\":1,\"b\":[true,null],\"c\":{\"d\":\"e\"}}";
  json_t *doc = sl_json_parse_body(b, strlen(b), &err);
  assert_non_null(doc);
  assert_true(json_is_object(doc));
  assert_int_equal(json_integer_value(json_object_get(doc, "a")), 1);
  json_decref(doc);
  doc = sl_json_parse_body("{}", 2, &err);
  assert_non_null(doc);
  assert_int_equal(json_object_size(doc), 0);
  json_decref(doc);
  /* the length is honoured: bytes after len are not read */
  doc = sl_json_parse_body("{}trailing garbage", 2, &err);
  assert_non_null(doc);
  json_decref(doc);
  /* surrounding whitespace is fine */
  doc = sl_json_parse_body(" \n{ }\r\n", 7, &err);
  assert_non_null(doc);
  json_decref(doc);
  /* the body need not be NUL-terminated: exact-size heap copy (ASan checks overreads) */
  char *heap = test_malloc(9);
  memcpy(heap, "{\"a\":\"b\"}", 9);
  doc = sl_json_parse_body(heap, 9, &err);
  assert_non_null(doc);
  json_decref(doc);
  test_free(heap);
}

static void test_parse_body_errors(void **state) {
  (void)state;
  expect_body_err(NULL, 0, SL_E_BODY_REQUIRED);
  expect_body_err("", 0, SL_E_BODY_REQUIRED);
  expect_body_err("{}", 0, SL_E_BODY_REQUIRED);

  static const char *const malformed[] = {
      "{",
      "}",
      "{\"a\":}",
      "{'a':1}",
      "{a:1}",
      "{\"a\":1,}",
      "{\"a\" 1}",
      "{} x",
      "{}{}",
      "{\"a\":01}",
      "{\"a\":NaN}",
      "{\"a\":.5}",
      "{\"a\":\"\\x\"}",
      "nul",
      "\"unterminated",
      "{\"a\":1,\"a\":2}",         /* duplicate keys */
      "{\"a\":{\"b\":1,\"b\":1}}", /* duplicate keys, nested */
      "{\"a\":\"\\u0000\"}",       /* NUL inside a string */
      "{\"a\":\"\xff\"}",          /* invalid UTF-8 */
      "{\"a\":\"\xc0\xaf\"}",      /* overlong UTF-8 */
      "{\"a\":\"\\ud800\"}",       /* lone surrogate */
      "   ",
  };
  for (size_t i = 0; i < N(malformed); i++) expect_body_err_s(malformed[i], SL_E_MALFORMED_JSON);

  /* A raw NUL byte within len */
  expect_body_err("{\"a\":1}\0", 8, SL_E_MALFORMED_JSON);

  /* the malformed detail says where */
  sl_jerr err;
  assert_null(sl_json_parse_body("{\n\"a\":}", 7, &err));
  assert_non_null(strstr(err.detail, "line 2"));

  expect_body_err_s("[]", SL_E_BODY_NOT_OBJECT);
  expect_body_err_s("[{\"a\":1}]", SL_E_BODY_NOT_OBJECT);
}

/* Valid JSON texts that are not objects must be reported as body_not_object, not as
 * malformed JSON (RFC 8259 allows any value at the top level; the registry's hint for
 * malformed_json says "The request body is not valid JSON", which is false for these).
 *
 * BUG (src/core/jsonspec.c, sl_json_parse_body, the json_loadb call): without the
 * JSON_DECODE_ANY flag jansson refuses top-level scalars with "'[' or '{' expected", so
 * these come back as SL_E_MALFORMED_JSON.  Expected SL_E_BODY_NOT_OBJECT.  Kept enabled. */
static void test_parse_body_scalars_not_object(void **state) {
  (void)state;
  static const char *const scalars[] = {"42", "\"a string\"", "true", "null", "-1.5"};
  for (size_t i = 0; i < N(scalars); i++) expect_body_err_s(scalars[i], SL_E_BODY_NOT_OBJECT);
}

/* Pathologically deep nesting is refused (or parsed) without crashing. */
static void test_parse_body_deep(void **state) {
  (void)state;
  size_t depth = 100000;
  size_t len = 5 + 2 * depth + 1;
  char *b = malloc(len + 1);
  assert_non_null(b);
  char *p = b;
  memcpy(p, "{\"a\":", 5);
  p += 5;
  memset(p, '[', depth);
  p += depth;
  memset(p, ']', depth);
  p += depth;
  *p++ = '}';
  *p = '\0';
  sl_jerr err;
  json_t *doc = sl_json_parse_body(b, (size_t)(p - b), &err);
  if (doc) {
    assert_true(json_is_object(doc));
    json_decref(doc);
  } else {
    assert_int_equal(err.code, SL_E_MALFORMED_JSON);
  }
  free(b);
}

/* ---------------------------------------------------------------- sl_parse_id */

static void test_parse_id(void **state) {
  (void)state;
  static const struct {
    const char *s;
    int64_t want; /* 0: must be rejected */
  } cases[] = {
      {"1", 1},
      {"9", 9},
      {"10", 10},
      {"42", 42},
      {"123456789", 123456789},
      {"9007199254740991", INT64_C(9007199254740991)}, /* 2^53 - 1 */
      {"9007199254740992", 0},                         /* 2^53 */
      {"9999999999999999", 0},                         /* 16 digits, too big */
      {"10000000000000000", 0},                        /* 17 digits */
      {"99999999999999999999999", 0},
      {"0", 0},
      {"00", 0},
      {"01", 0},
      {"007", 0},
      {"-1", 0},
      {"+1", 0},
      {"", 0},
      {"12a", 0},
      {"a12", 0},
      {" 1", 0},
      {"1 ", 0},
      {"1.0", 0},
      {"1e3", 0},
      {"0x1", 0},
      {"\xef\xbc\x91", 0}, /* fullwidth 1 */
  };
  for (size_t i = 0; i < N(cases); i++) {
    int64_t v = I64_SENTINEL;
    bool ok = sl_parse_id(cases[i].s, &v);
    if (cases[i].want) {
      if (!ok || v != cases[i].want)
        fail_msg("parse_id(\"%s\"): ok=%d %lld, want %lld", cases[i].s, ok, (long long)v,
                 (long long)cases[i].want);
    } else {
      if (ok) fail_msg("parse_id(\"%s\") accepted as %lld", cases[i].s, (long long)v);
      if (v != I64_SENTINEL) fail_msg("parse_id(\"%s\") wrote *out on error", cases[i].s);
    }
  }
  int64_t v;
  assert_false(sl_parse_id(NULL, &v));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_string),
      cmocka_unit_test(test_string_length),
      cmocka_unit_test(test_string_control_chars),
      cmocka_unit_test(test_int),
      cmocka_unit_test(test_bool),
      cmocka_unit_test(test_money),
      cmocka_unit_test(test_time),
      cmocka_unit_test(test_enum),
      cmocka_unit_test(test_object),
      cmocka_unit_test(test_array),
      cmocka_unit_test(test_array_min_only_detail),
      cmocka_unit_test(test_milli),
      cmocka_unit_test(test_milli_edges_consistent),
      cmocka_unit_test(test_unknown_field),
      cmocka_unit_test(test_missing_and_null),
      cmocka_unit_test(test_null_and_non_object),
      cmocka_unit_test(test_path_prefix),
      cmocka_unit_test(test_long_names),
      cmocka_unit_test(test_err_reset),
      cmocka_unit_test(test_jerr_set),
      cmocka_unit_test(test_parse_body_ok),
      cmocka_unit_test(test_parse_body_errors),
      cmocka_unit_test(test_parse_body_scalars_not_object),
      cmocka_unit_test(test_parse_body_deep),
      cmocka_unit_test(test_parse_id),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
