/* h_market.c — GET /v1/market/book: this process's capacity book (admin diagnostics). */
#include "internal.h"
#include "suanli/trading/trading.h"

/* The book's size, memory and digest after a sync; ?verify=true also loads a second book
 * from the same database snapshot and says whether the two agree (costs a full load). */
void h_market_book(sl_req *r) {
  static const char *const yes_no[] = {"true", "false", NULL};
  const char *verify = NULL;
  if (!sl_req_query_enum(r, "verify", yes_no, &verify)) return;
  json_t *out = NULL;
  sl_dbrc rc = sl_trading_book_check(verify && verify[0] == 't', &out);
  if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else sl_reply_json(r, 200, out);
}
