/* fuzz_order.c — request JSON to domain structs: the body parser (src/core/jsonspec.c) and
 * the order decoder every quote and order goes through (src/market/order.c).
 * Invariant: an accepted order has the documented ranges. */
#include "suanli/core/jsonspec.h"
#include "suanli/market/order.h"
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sl_jerr err;
  json_t *doc = sl_json_parse_body((const char *)data, size, &err);
  if (!doc) return 0;
  sl_market_order_req o;
  /* a fixed "now" (2026-12-01T00:00:00Z) keeps runs reproducible */
  if (sl_market_order_parse(doc, INT64_C(1795996800), &o, &err)) {
    if (o.m.gpus < 1 || o.m.gpus > 100000 || o.m.duration_slots < 1 || o.m.duration_slots > 2160)
      abort();
    sl_market_order_req_free(&o);
  }
  sl_market_order_req o2;
  if (sl_market_order_parse(doc, 0, &o2, &err)) sl_market_order_req_free(&o2);
  json_decref(doc);
  return 0;
}
