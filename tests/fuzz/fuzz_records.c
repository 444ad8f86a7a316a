/* fuzz_records.c — the signed-record decoders (src/ledger/records.c).
 * Invariant: every record that decodes re-encodes to exactly the same bytes (a strict,
 * canonical layout: no two byte strings mean the same record). */
#include "suanli/ledger/records.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sl_ledger_record r;
  uint32_t purpose;
  (void)sl_ledger_record_check(data, size, &purpose);
  if (sl_ledger_record_decode(data, size, &r) == SL_LEDGER_OK) {
    uint8_t out[SL_LEDGER_RECORD_MAX];
    size_t len = 0;
    if (sl_ledger_record_encode(&r, out, sizeof out, &len) != SL_LEDGER_OK) abort();
    if (len != size || memcmp(out, data, size) != 0) abort();
    int64_t t;
    (void)sl_ledger_record_time(&r, &t);
    (void)sl_ledger_record_entry_id(&r);
  }
  sl_ledger_trade t;
  sl_ledger_money m;
  sl_ledger_checkpoint c;
  sl_ledger_export e;
  sl_ledger_period p;
  (void)sl_ledger_trade_decode(data, size, &t);
  (void)sl_ledger_money_decode(data, size, &m);
  (void)sl_ledger_checkpoint_decode(data, size, &c);
  (void)sl_ledger_export_decode(data, size, &e);
  (void)sl_ledger_period_decode(data, size, &p);
  return 0;
}
