/* test_dispatch_adapters.c — the adapter registry (src/dispatch/adapters.c) and the template
 * adapter (src/dispatch/adapter_template.c).
 *
 * The registry's kinds are the ADAPTER_KIND values of api/vocab.def, no more and no fewer; the
 * kinds list, the validator lookup and the operations lookup all answer from the registry;
 * each entry is complete and its validator refuses what the contract says it must.  The
 * template is compiled but cannot be named by a pool, and keeps the contract it documents.
 * No adapter is called here that would reach a network, a database or scontrol. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "src/dispatch/internal.h"
#include "suanli/core/vocab.h"

static json_t *load(const char *text) {
  json_t *doc = json_loads(text, 0, NULL);
  if (!doc) fail_msg("test JSON does not parse: %s", text);
  return doc;
}

/* Validate text for kind through v (NULL: sl_adapter_validate); the error's field or "". */
static const char *check(bool (*v)(const json_t *, sl_jerr *), const char *kind, const char *text,
                         sl_jerr *err) {
  json_t *cfg = load(text);
  memset(err, 0, sizeof *err);
  bool ok = v ? v(cfg, err) : sl_adapter_validate(kind, cfg, err);
  json_decref(cfg);
  if (ok) assert_int_equal(err->code, SL_E_OK);
  return ok ? "" : err->field;
}

static void test_registry_is_the_vocabulary(void **state) {
  (void)state;
  size_t n = 0;
  const sl_adapter *reg = sl_adapter_registry(&n);
  assert_int_equal(n, sl_vocab_count(SL_VD_ADAPTER_KIND));
  for (size_t i = 0; i < n; i++)
    if (sl_vocab_parse(SL_VD_ADAPTER_KIND, reg[i].kind) == SL_VOCAB_NONE)
      fail_msg("registry kind \"%s\" is not an ADAPTER_KIND of api/vocab.def", reg[i].kind);
  for (const char *const *k = sl_vocab_names(SL_VD_ADAPTER_KIND); *k; k++)
    if (!sl_adapter_get(*k)) fail_msg("ADAPTER_KIND \"%s\" has no registry entry", *k);
}

static void test_lookups_derive_from_registry(void **state) {
  (void)state;
  size_t n = 0;
  const sl_adapter *reg = sl_adapter_registry(&n);
  for (size_t i = 0; i < n; i++) {
    assert_non_null(reg[i].validate);
    assert_non_null(reg[i].ops);
    assert_non_null(reg[i].ops->reserve);
    assert_non_null(reg[i].ops->cancel);
    assert_non_null(reg[i].ops->status);
    assert_non_null(sl_adapter_kinds[i]);
    assert_string_equal(sl_adapter_kinds[i], reg[i].kind);
    assert_ptr_equal(sl_adapter_get(reg[i].kind), &reg[i]);
    assert_ptr_equal(sl_adapter_find(reg[i].kind), reg[i].ops);
    for (size_t j = i + 1; j < n; j++) assert_string_not_equal(reg[i].kind, reg[j].kind);
  }
  assert_null(sl_adapter_kinds[n]);
  assert_null(sl_adapter_get("template"));
  assert_null(sl_adapter_get(NULL));
  assert_non_null(sl_adapter_find("agent")); /* the pull adapter (issue 13) */
  sl_jerr err;
  assert_string_equal(check(NULL, "nosuch", "{}", &err), "adapter.kind");
  assert_int_equal(err.code, SL_E_INVALID_VALUE);
  assert_string_equal(err.detail, "must be one of: sim, slurm, webhook, agent");
}

/* Each registered validator: a good configuration passes, through sl_adapter_validate too;
 * an unknown field, a wrong type and a value that would change meaning downstream do not. */
static void test_validators(void **state) {
  (void)state;
  static const struct {
    const char *kind, *good, *bad, *field;
  } cases[] = {
      {"sim", "{}", "{\"bogus\":1}", "adapter.config.bogus"},
      {"sim", "{\"fail_rate_bp\":100,\"silent\":true}", "{\"fail_rate_bp\":10001}",
       "adapter.config.fail_rate_bp"},
      {"slurm", "{\"partition\":\"gpu\"}", "{}", "adapter.config.partition"},
      {"slurm", "{\"partition\":\"gpu\",\"user\":\"svc_1\"}", "{\"partition\":\"gpu;reboot\"}",
       "adapter.config.partition"},
      {"webhook", "{\"url\":\"https://example.com/hook\"}",
       "{\"url\":\"https://u:p@example.com/\"}", "adapter.config.url"},
      {"webhook", "{\"url\":\"http://h/x\",\"timeout_ms\":100}", "{\"url\":\"ftp://example.com/\"}",
       "adapter.config.url"},
      {"agent", "{}", "{\"mode\":\"slurm\"}", "adapter.config.partition"},
      {"agent", "{\"mode\":\"host\"}", "{\"mode\":\"k8s\"}", "adapter.config.mode"},
      {"agent", "{\"mode\":\"slurm\",\"partition\":\"gpu\",\"user\":\"svc\"}",
       "{\"mode\":\"host\",\"user\":\"svc\"}", "adapter.config.user"},
      {"agent", "{\"mode\":\"slurm\",\"partition\":\"gpu\",\"cluster\":\"c1\"}",
       "{\"mode\":\"slurm\",\"partition\":\"gpu\",\"cluster\":\"a b\"}", "adapter.config.cluster"},
  };
  sl_jerr err;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const sl_adapter *a = sl_adapter_get(cases[i].kind);
    assert_non_null(a);
    assert_string_equal(check(a->validate, NULL, cases[i].good, &err), "");
    assert_string_equal(check(NULL, cases[i].kind, cases[i].good, &err), "");
    assert_string_equal(check(a->validate, NULL, cases[i].bad, &err), cases[i].field);
    assert_string_equal(check(NULL, cases[i].kind, cases[i].bad, &err), cases[i].field);
  }
}

/* The template is no sellable kind: neither its name nor its operations are registered. */
static void test_template_not_registered(void **state) {
  (void)state;
  size_t n = 0;
  const sl_adapter *reg = sl_adapter_registry(&n);
  for (size_t i = 0; i < n; i++) {
    assert_ptr_not_equal(reg[i].ops, &sl_adapter_template_ops);
    assert_ptr_not_equal(reg[i].validate, sl_adapter_template_validate);
  }
  assert_int_equal(sl_vocab_parse(SL_VD_ADAPTER_KIND, "template"), SL_VOCAB_NONE);
}

static void test_template_contract(void **state) {
  (void)state;
  sl_jerr err;
  assert_string_equal(check(sl_adapter_template_validate, NULL, "{}", &err), "");
  assert_string_equal(check(sl_adapter_template_validate, NULL, "{\"site\":\"eu-1\"}", &err), "");
  assert_string_equal(check(sl_adapter_template_validate, NULL, "{\"other\":1}", &err),
                      "adapter.config.other");
  assert_int_equal(err.code, SL_E_UNKNOWN_FIELD);
  assert_string_equal(check(sl_adapter_template_validate, NULL, "{\"site\":7}", &err),
                      "adapter.config.site");
  assert_int_equal(err.code, SL_E_WRONG_TYPE);
  assert_string_equal(check(sl_adapter_template_validate, NULL, "{\"site\":\"eu 1; rm\"}", &err),
                      "adapter.config.site");
  assert_int_equal(err.code, SL_E_INVALID_VALUE);

  const sl_adapter_ops *ops = &sl_adapter_template_ops;
  char access[64] = "stale", ref1[64] = "", ref2[64] = "", state_s[32] = "", e[128] = "";
  sl_adapter_call c = {.reservation_id = 42,
                       .gpus = 8,
                       .gpus_per_node = 8,
                       .nodes = 1,
                       .access_out = access,
                       .access_out_len = sizeof access};
  /* idempotent by reservation id: a retry answers OK with the same reference */
  assert_int_equal(ops->reserve(&c, ref1, sizeof ref1, e, sizeof e), SL_ADAPTER_OK);
  assert_int_equal(ops->reserve(&c, ref2, sizeof ref2, e, sizeof e), SL_ADAPTER_OK);
  assert_string_equal(ref1, "template-42");
  assert_string_equal(ref1, ref2);
  assert_string_equal(access, ""); /* no access details: left empty */
  /* cancelling, twice or never reserved, is OK */
  assert_int_equal(ops->cancel(&c, e, sizeof e), SL_ADAPTER_OK);
  assert_int_equal(ops->cancel(&c, e, sizeof e), SL_ADAPTER_OK);
  c.reservation_id = 43;
  assert_int_equal(ops->cancel(&c, e, sizeof e), SL_ADAPTER_OK);
  assert_int_equal(ops->status(&c, state_s, sizeof state_s, e, sizeof e), SL_ADAPTER_OK);
  assert_string_equal(state_s, "unknown");
  /* a refusal no retry can change is TERMINAL, with a reason */
  c.nodes = 0;
  assert_int_equal(ops->reserve(&c, ref1, sizeof ref1, e, sizeof e), SL_ADAPTER_TERMINAL);
  assert_true(e[0] != '\0');
}

/* The agent adapter is a pull adapter: the dispatcher never calls it before a job's deadline
 * (the job waits for the provider's agent); called anyway, it says so and asks to be retried. */
static void test_agent_never_calls_out(void **state) {
  (void)state;
  const sl_adapter_ops *ops = sl_adapter_find("agent");
  char ref[64] = "", st[32] = "", e[128] = "";
  sl_adapter_call c = {.reservation_id = 7, .gpus = 8, .gpus_per_node = 8, .nodes = 1};
  assert_int_equal(ops->reserve(&c, ref, sizeof ref, e, sizeof e), SL_ADAPTER_RETRY);
  assert_string_equal(e, "waiting for the provider's agent to take the work");
  assert_string_equal(ref, "");
  assert_int_equal(ops->cancel(&c, e, sizeof e), SL_ADAPTER_RETRY);
  assert_int_equal(ops->status(&c, st, sizeof st, e, sizeof e), SL_ADAPTER_OK);
  assert_string_equal(st, "unknown");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_registry_is_the_vocabulary),
      cmocka_unit_test(test_lookups_derive_from_registry),
      cmocka_unit_test(test_validators),
      cmocka_unit_test(test_template_not_registered),
      cmocka_unit_test(test_template_contract),
      cmocka_unit_test(test_agent_never_calls_out),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
