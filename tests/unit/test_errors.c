/* test_errors.c — the error registry api/errors.def and its lookups (src/core/error.c).
 *
 * The registry is expanded here a second time with the test's own SL_ERROR macro, so the
 * lookups are checked against the file itself, entry by entry. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "suanli/core/error.h"

static const struct entry {
  sl_err id;
  const char *ident;
  int code;
  unsigned status;
  const char *name;
  const char *hint;
} registry[] = {
#define SL_ERROR(ident, code, status, name, hint) {SL_E_##ident, #ident, code, status, name, hint},
#include "api/errors.def"
#undef SL_ERROR
};
#define COUNT (sizeof registry / sizeof registry[0])

static void test_enum_matches_file(void **state) {
  (void)state;
  assert_int_equal(COUNT, SL_E__COUNT);
  assert_int_equal(SL_E_OK, 0);
  for (size_t i = 0; i < COUNT; i++) {
    /* the enum is dense and in file order */
    assert_int_equal(registry[i].id, i);
    assert_int_equal(sl_err_code(registry[i].id), registry[i].code);
    assert_int_equal(sl_err_status(registry[i].id), registry[i].status);
    assert_string_equal(sl_err_name(registry[i].id), registry[i].name);
    assert_string_equal(sl_err_hint(registry[i].id), registry[i].hint);
  }
}

static void test_unique_codes_and_names(void **state) {
  (void)state;
  for (size_t i = 0; i < COUNT; i++)
    for (size_t j = i + 1; j < COUNT; j++) {
      if (registry[i].code == registry[j].code)
        fail_msg("%s and %s share code %d", registry[i].ident, registry[j].ident, registry[i].code);
      if (strcmp(registry[i].name, registry[j].name) == 0)
        fail_msg("%s and %s share name \"%s\"", registry[i].ident, registry[j].ident,
                 registry[i].name);
    }
}

static void test_entry_shapes(void **state) {
  (void)state;
  for (size_t i = 0; i < COUNT; i++) {
    const struct entry *e = &registry[i];
    if (e->status < 200 || e->status > 599)
      fail_msg("%s: HTTP status %u outside 200..599", e->ident, e->status);
    if (!e->hint || !*e->hint) fail_msg("%s: empty hint", e->ident);
    if (!e->name || !*e->name) fail_msg("%s: empty name", e->ident);
    /* names are stable machine strings: lower-case snake_case */
    for (const char *p = e->name; *p; p++)
      if (!(islower((unsigned char)*p) || *p == '_'))
        fail_msg("%s: name \"%s\" is not snake_case", e->ident, e->name);
    /* hints are one short sentence: capitalised, ending with a full stop */
    size_t hl = strlen(e->hint);
    if (!isupper((unsigned char)e->hint[0]) || e->hint[hl - 1] != '.')
      fail_msg("%s: hint \"%s\" is not a sentence", e->ident, e->hint);
    if (hl > 200) fail_msg("%s: hint longer than 200 characters", e->ident);
    if (e->code < 0) fail_msg("%s: negative code", e->ident);
  }
}

/* Only OK is a success; every other entry is an error status, and the 5xxx block (server
 * side, "never caused by input") is exactly the set of 5xx statuses. */
static void test_status_classes(void **state) {
  (void)state;
  for (size_t i = 0; i < COUNT; i++) {
    const struct entry *e = &registry[i];
    if (e->id == SL_E_OK) {
      assert_int_equal(e->code, 0);
      assert_int_equal(e->status, 200);
      assert_string_equal(e->name, "ok");
      continue;
    }
    if (e->status < 400) fail_msg("%s: error with non-error status %u", e->ident, e->status);
    bool server_block = e->code / 1000 == 5;
    bool server_status = e->status >= 500;
    if (server_block != server_status)
      fail_msg("%s: code %d with status %u (5xxx codes must be exactly the 5xx statuses)", e->ident,
               e->code, e->status);
    if (e->code < 1000 || e->code > 5999)
      fail_msg("%s: code %d outside the 1xxx..5xxx blocks", e->ident, e->code);
  }
}

static void test_known_entries(void **state) {
  (void)state;
  /* entries other code relies on by name */
  assert_string_equal(sl_err_name(SL_E_INTERNAL), "internal_error");
  assert_int_equal(sl_err_status(SL_E_INTERNAL), 500);
  assert_string_equal(sl_err_name(SL_E_MALFORMED_JSON), "malformed_json");
  assert_string_equal(sl_err_name(SL_E_UNKNOWN_FIELD), "unknown_field");
  assert_string_equal(sl_err_name(SL_E_MISSING_FIELD), "missing_field");
  assert_string_equal(sl_err_name(SL_E_WRONG_TYPE), "wrong_type");
  assert_string_equal(sl_err_name(SL_E_INVALID_VALUE), "invalid_value");
  assert_int_equal(sl_err_status(SL_E_INVALID_VALUE), 400);
  assert_int_equal(sl_err_status(SL_E_UNAUTHENTICATED), 401);
  assert_int_equal(sl_err_status(SL_E_FORBIDDEN), 403);
  assert_int_equal(sl_err_status(SL_E_NOT_FOUND), 404);
  assert_int_equal(sl_err_status(SL_E_BODY_TOO_LARGE), 413);
  assert_int_equal(sl_err_status(SL_E_DB_UNAVAILABLE), 503);
}

/* Values outside the enum map to internal_error, never out of bounds (ASan checks). */
static void test_unknown_values(void **state) {
  (void)state;
  static const int bad[] = {-1,   -1000,   SL_E__COUNT, SL_E__COUNT + 1,
                            5000, 1000000, INT32_MIN,   INT32_MAX};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    sl_err e = (sl_err)bad[i];
    assert_string_equal(sl_err_name(e), "internal_error");
    assert_int_equal(sl_err_code(e), sl_err_code(SL_E_INTERNAL));
    assert_int_equal(sl_err_status(e), 500);
    assert_string_equal(sl_err_hint(e), sl_err_hint(SL_E_INTERNAL));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_enum_matches_file), cmocka_unit_test(test_unique_codes_and_names),
      cmocka_unit_test(test_entry_shapes),      cmocka_unit_test(test_status_classes),
      cmocka_unit_test(test_known_entries),     cmocka_unit_test(test_unknown_values),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
