/* test_vocab.c — the vocabulary registry api/vocab.def and its lookups (src/core/vocab.c).
 *
 * The registry is expanded here a second time with the test's own macros, so the enum and
 * the lookups are checked against the file itself, entry by entry; then the relations between
 * domains, and the core's own enums that spell a domain (token scopes, accelerator ratings).
 * The comparison with api/openapi.yaml and the database is tools/checks/check_vocab.py. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "suanli/core/capacity.h"
#include "suanli/core/scopes.h"
#include "suanli/core/vocab.h"

static const struct domain {
  sl_vocab_domain id;
  const char *ident, *meaning;
} domains[] = {
#define SL_VOCAB_DOMAIN(domain, meaning) {SL_VD_##domain, #domain, meaning},
#define SL_VOCAB(domain, ident, value, meaning)
#include "api/vocab.def"
#undef SL_VOCAB
#undef SL_VOCAB_DOMAIN
};
#define NDOMAINS (sizeof domains / sizeof domains[0])

static const struct entry {
  sl_vocab id;
  sl_vocab_domain domain;
  const char *ident, *value, *meaning;
} values[] = {
#define SL_VOCAB_DOMAIN(domain, meaning)
#define SL_VOCAB(domain, ident, value, meaning)                                                    \
  {SL_##domain##_##ident, SL_VD_##domain, #ident, value, meaning},
#include "api/vocab.def"
#undef SL_VOCAB
#undef SL_VOCAB_DOMAIN
};
#define NVALUES (sizeof values / sizeof values[0])

/* The enums are dense and in file order; each domain's values follow its line. */
static void test_enum_matches_file(void **state) {
  (void)state;
  assert_int_equal(NDOMAINS, SL_VD__COUNT);
  assert_int_equal(NVALUES, SL_VOCAB__COUNT);
  for (size_t d = 0; d < NDOMAINS; d++) {
    assert_int_equal(domains[d].id, d);
    assert_string_equal(sl_vocab_domain_name(domains[d].id), domains[d].ident);
  }
  sl_vocab_domain current = 0;
  for (size_t i = 0; i < NVALUES; i++) {
    const struct entry *e = &values[i];
    assert_int_equal(e->id, i);
    if (e->domain != current && !(e->domain == current + 1 && sl_vocab_first(e->domain) == e->id))
      fail_msg("%s_%s: its domain's values must follow the domain's line, together",
               sl_vocab_domain_name(e->domain), e->ident);
    current = e->domain;
    assert_int_equal(sl_vocab_domain_of(e->id), e->domain);
    assert_string_equal(sl_vocab_name(e->id), e->value);
    assert_string_equal(sl_vocab_meaning(e->id), e->meaning);
    assert_true(e->id >= sl_vocab_first(e->domain));
    assert_true(e->id < sl_vocab_first(e->domain) + sl_vocab_count(e->domain));
  }
  assert_int_equal(current, NDOMAINS - 1);
}

static bool is_sentence(const char *s) {
  size_t n = strlen(s);
  return n > 1 && n <= 200 && isupper((unsigned char)s[0]) && s[n - 1] == '.';
}

/* Every domain has values, distinct, spelt as stable machine strings; meanings are sentences. */
static void test_entry_shapes(void **state) {
  (void)state;
  for (size_t d = 0; d < NDOMAINS; d++) {
    if (sl_vocab_count(domains[d].id) < 1) fail_msg("%s has no values", domains[d].ident);
    if (!is_sentence(domains[d].meaning))
      fail_msg("%s: meaning is not a sentence", domains[d].ident);
  }
  for (size_t i = 0; i < NVALUES; i++) {
    const struct entry *e = &values[i];
    const char *dn = sl_vocab_domain_name(e->domain);
    if (!*e->value) fail_msg("%s_%s: empty value", dn, e->ident);
    /* lower-case snake_case; a space only where PostgreSQL spells it so ("in progress") */
    for (const char *p = e->value; *p; p++)
      if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_' || *p == ' '))
        fail_msg("%s_%s: value \"%s\" is not lower-case snake_case", dn, e->ident, e->value);
    /* the identifier is the value in capitals */
    for (size_t k = 0; k <= strlen(e->value); k++) {
      char want = e->value[k] == ' ' ? '_' : (char)toupper((unsigned char)e->value[k]);
      if (e->ident[k] != want)
        fail_msg("%s_%s: identifier does not spell \"%s\"", dn, e->ident, e->value);
    }
    if (!is_sentence(e->meaning)) fail_msg("%s_%s: meaning is not a sentence", dn, e->ident);
    for (size_t j = i + 1; j < NVALUES; j++)
      if (values[j].domain == e->domain && strcmp(values[j].value, e->value) == 0)
        fail_msg("%s: \"%s\" twice", dn, e->value);
  }
}

static void test_parse(void **state) {
  (void)state;
  for (size_t i = 0; i < NVALUES; i++) {
    const struct entry *e = &values[i];
    assert_int_equal(sl_vocab_parse(e->domain, e->value), e->id);
    assert_true(sl_vocab_is(e->value, e->id));
    /* the same string in another domain is that domain's value, or none */
    for (size_t d = 0; d < NDOMAINS; d++) {
      sl_vocab v = sl_vocab_parse(domains[d].id, e->value);
      if (v != SL_VOCAB_NONE) {
        assert_int_equal(sl_vocab_domain_of(v), domains[d].id);
        assert_string_equal(sl_vocab_name(v), e->value);
      } else {
        assert_int_not_equal(domains[d].id, e->domain);
      }
    }
  }
  assert_int_equal(sl_vocab_parse(SL_VD_INTRA_NODE, NULL), SL_VOCAB_NONE);
  assert_int_equal(sl_vocab_parse(SL_VD_INTRA_NODE, ""), SL_VOCAB_NONE);
  assert_int_equal(sl_vocab_parse(SL_VD_INTRA_NODE, "NVLINK"), SL_VOCAB_NONE);
  assert_int_equal(sl_vocab_parse(SL_VD_INTRA_NODE, "nvlink "), SL_VOCAB_NONE);
  assert_int_equal(sl_vocab_parse(SL_VD_INTER_NODE, "nvlink"), SL_VOCAB_NONE);
  assert_int_equal(sl_vocab_parse(SL_VD_INTER_NODE, "roce"), SL_INTER_NODE_ROCE);
  assert_int_equal(sl_vocab_parse(SL_VD_COMMIT_OUTCOME, "in progress"),
                   SL_COMMIT_OUTCOME_IN_PROGRESS);
  assert_false(sl_vocab_is(NULL, SL_JOB_ACTION_RESERVE));
  assert_false(sl_vocab_is("cancel", SL_JOB_ACTION_RESERVE));
  assert_true(sl_vocab_is("reserve", SL_JOB_ACTION_RESERVE));
  assert_false(sl_vocab_is("ok", SL_VOCAB_NONE));
}

/* sl_vocab_names: each domain's values, in file order, NULL-terminated. */
static void test_names(void **state) {
  (void)state;
  for (size_t d = 0; d < NDOMAINS; d++) {
    const char *const *names = sl_vocab_names(domains[d].id);
    int n = 0;
    for (; names[n]; n++)
      assert_string_equal(names[n], sl_vocab_name(sl_vocab_first(domains[d].id) + n));
    assert_int_equal(n, sl_vocab_count(domains[d].id));
  }
}

/* Values outside the enums give "", never out of bounds (ASan checks). */
static void test_unknown_values(void **state) {
  (void)state;
  static const int bad[] = {-2,        SL_VOCAB_NONE, SL_VOCAB__COUNT, SL_VOCAB__COUNT + 1,
                            INT32_MIN, INT32_MAX};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    sl_vocab v = (sl_vocab)bad[i];
    assert_string_equal(sl_vocab_name(v), "");
    assert_string_equal(sl_vocab_meaning(v), "");
    assert_int_equal(sl_vocab_domain_of(v), SL_VD__COUNT);
    assert_false(sl_vocab_is("", v));
    sl_vocab_domain d = (sl_vocab_domain)bad[i];
    assert_string_equal(sl_vocab_domain_name(d), "");
    assert_int_equal(sl_vocab_first(d), SL_VOCAB_NONE);
    assert_int_equal(sl_vocab_count(d), 0);
    assert_int_equal(sl_vocab_parse(d, "ok"), SL_VOCAB_NONE);
    assert_null(sl_vocab_names(d)[0]);
  }
}

static void assert_subset(sl_vocab_domain small, sl_vocab_domain big) {
  for (const char *const *p = sl_vocab_names(small); *p; p++)
    if (sl_vocab_parse(big, *p) == SL_VOCAB_NONE)
      fail_msg("%s \"%s\" is not in %s", sl_vocab_domain_name(small), *p,
               sl_vocab_domain_name(big));
}

/* Domains that extend others: a statement is an account's or the exchange's; access details
 * are sealed by an adapter's side (the provider's agent is an adapter kind since issue 13). */
static void test_relations(void **state) {
  (void)state;
  assert_subset(SL_VD_ACCOUNT_KIND, SL_VD_STATEMENT_KIND);
  assert_int_equal(sl_vocab_count(SL_VD_STATEMENT_KIND), sl_vocab_count(SL_VD_ACCOUNT_KIND) + 1);
  assert_subset(SL_VD_ADAPTER_KIND, SL_VD_ACCESS_SOURCE);
  assert_subset(SL_VD_ACCESS_SOURCE, SL_VD_ADAPTER_KIND);
}

/* The core's own enums that spell a domain agree with it, in order. */
static void test_core_enums(void **state) {
  (void)state;
  const char *const *scopes = sl_vocab_names(SL_VD_TOKEN_SCOPE);
  size_t i = 0;
  for (; sl_scope_names[i]; i++) {
    assert_non_null(scopes[i]);
    assert_string_equal(sl_scope_names[i], scopes[i]);
  }
  assert_null(scopes[i]);
  assert_int_equal(SL_SCOPE_AGENT, 1u << (sl_vocab_count(SL_VD_TOKEN_SCOPE) - 1));

  /* sl_rating_name reads the domain in the order of sl_rating */
  assert_int_equal(SL_RATING_UNRATED + 1, sl_vocab_count(SL_VD_ACCELERATOR_RATING));
  assert_string_equal(sl_rating_name(SL_RATING_RATED), "rated");
  assert_string_equal(sl_rating_name(SL_RATING_COMPUTE_ONLY), "compute_only");
  assert_string_equal(sl_rating_name(SL_RATING_UNRATED), "unrated");
  assert_string_equal(sl_rating_name((sl_rating)7), "unrated");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_enum_matches_file),
      cmocka_unit_test(test_entry_shapes),
      cmocka_unit_test(test_parse),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_unknown_values),
      cmocka_unit_test(test_relations),
      cmocka_unit_test(test_core_enums),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
