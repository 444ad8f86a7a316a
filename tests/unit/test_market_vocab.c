/* test_market_vocab.c — the market's names agree with api/vocab.def: the reasons a pool was
 * passed over (sl_market_why_name, read from REJECT_REASON) are the enum's, and every INTRA_NODE /
 * INTER_NODE value maps to its own class of the matcher (sl_market_intra_of / _inter_of). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "suanli/core/vocab.h"
#include "suanli/market/market.h"

static void test_reject_reasons(void **state) {
  (void)state;
  assert_string_equal(sl_market_why_name(SL_WHY_CHOSEN), "chosen"); /* not a rejection */
  int n = sl_vocab_count(SL_VD_REJECT_REASON);
  assert_int_equal(n, SL_WHY_OUTRANKED); /* one value per reason, none more */
  assert_string_equal(sl_market_why_name(SL_WHY_HEALTH), "health");
  assert_string_equal(sl_market_why_name(SL_WHY_OUTRANKED), "outranked");
  assert_string_equal(sl_market_why_name((sl_market_why)(SL_WHY_OUTRANKED + 1)), "unknown");
  for (int i = 0; i < n; i++)
    assert_string_equal(sl_market_why_name((sl_market_why)(SL_WHY_HEALTH + i)),
                        sl_vocab_name(sl_vocab_first(SL_VD_REJECT_REASON) + i));
}

static void test_interconnect_classes(void **state) {
  (void)state;
  bool seen_intra[SL_INTRA_OTHER + 1] = {false}, seen_inter[SL_INTER_INFINIBAND + 1] = {false};
  for (const char *const *p = sl_vocab_names(SL_VD_INTRA_NODE); *p; p++) {
    sl_market_intra c = sl_market_intra_of(*p);
    assert_true(c > SL_INTRA_ANY && c <= SL_INTRA_OTHER);
    if (seen_intra[c]) fail_msg("intra_node \"%s\" shares its class", *p);
    seen_intra[c] = true;
  }
  for (const char *const *p = sl_vocab_names(SL_VD_INTER_NODE); *p; p++) {
    sl_market_inter c = sl_market_inter_of(*p);
    assert_true(c <= SL_INTER_INFINIBAND);
    if (seen_inter[c]) fail_msg("inter_node \"%s\" shares its class", *p);
    seen_inter[c] = true;
  }
  assert_int_equal(sl_market_intra_of("other"), SL_INTRA_OTHER);
  assert_int_equal(sl_market_intra_of("unheard-of"), SL_INTRA_OTHER);
  assert_int_equal(sl_market_inter_of("none"), SL_INTER_NONE);
  assert_int_equal(sl_market_inter_of("unheard-of"), SL_INTER_NONE);
  /* the order of the network classes: none < ethernet < roce < infiniband */
  assert_true(sl_market_inter_of("ethernet") < sl_market_inter_of("roce"));
  assert_true(sl_market_inter_of("roce") < sl_market_inter_of("infiniband"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reject_reasons),
      cmocka_unit_test(test_interconnect_classes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
