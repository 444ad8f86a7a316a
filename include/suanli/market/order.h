/* order.h — decoding and validating an order (or quote) body into a matcher order. Pure.
 *
 * Body fields (see api/openapi.yaml, OrderRequest):
 *   gpus (1..100000) or ncu (an amount of NCU, "0.001".."100000", gang only; m.gpus is then
 *   that amount rounded up, for the records), min_gpus? (1..gpus, not with ncu: partial fills
 *   down to that many GPUs; m.min_gpus is 0 when absent or equal to gpus), duration_hours
 * (1..2160), earliest_start, latest_start? (whole hours; latest - earliest <= 30 days; default
 * latest = earliest), spec? {accelerators?[], min_memory_gb?, min_ncu?, intra_node?,
 * min_inter_node?, min_inter_node_gbps?}, origin_region?, max_rtt_ms? (needs origin_region),
 * regions?[], exclude_regions?[], max_price_per_gpu_hour?, max_price_per_ncu_hour?, placement?
 * gang|split (default gang), max_pieces? (split, 1..64, default 16), starts? same|independent
 * (split only, default same: may the pieces start at different slots of the window), objective?
 * cheapest|lowest_latency|tradeoff|cheapest_per_ncu (default cheapest, or cheapest_per_ncu with
 * max_price_per_ncu_hour; lowest_latency and tradeoff need origin_region), money_per_ms? (tradeoff
 * only, required there), time_in_force? fill_or_kill|good_till (default fill_or_kill), expires_at?
 * (good_till only, required there), latency_tolerance_ms? (lowest_latency only, 0..1000;
 * default 10 without max_rtt_ms, else 0: the RTT band of the ranking key), clearing?
 * continuous|call (default continuous; call needs good_till and gang placement: the order waits
 * for the periodic call auction of its clearing region, src/market/clearing.h).
 */
#ifndef SUANLI_ORDER_H
#define SUANLI_ORDER_H
#include "suanli/core/jsonspec.h"
#include "suanli/market/market.h"
#include <jansson.h>

#define SL_MARKET_CLEARING_ANY "*"

typedef struct sl_market_order_req {
  sl_market_order m;  /* budget fields are -1 here; the exchange fills them */
  const char *origin; /* NULL when none */
  bool good_till;
  int64_t expires_at; /* 0 unless good_till */
  bool call;          /* clearing "call": matched only by the periodic auction */
  /* the auction group of a call order: its origin_region, or SL_MARKET_CLEARING_ANY ("*")
   * when it gives none (src/trading/README.md, "Periodic clearing") */
  const char *clearing_region;
  json_t *doc; /* the body (a reference is held); strings point into it */
  /* set by the trading engine, not the body: the GPUs earlier parts of the order bought (then
   * m.gpus / m.min_gpus describe the rest), and whether this match replaces a failed-over trade
   * (its GPUs are counted already) */
  int32_t filled_before;
  int64_t ncu_filled_before; /* an order for ncu: the NCU (thousandths) earlier parts bought */
  bool replacing;
  json_t *accelerators, *regions, *excluded; /* borrowed arrays or NULL */
  const char **lists;                        /* owned storage for m.accelerators/regions/excluded */
} sl_market_order_req;

/* Decode body into out.  When now > 0 the window is checked against it (latest_start must
 * not be before the next whole hour, earliest_start at most a year ahead, expires_at in the
 * future); pass 0 to re-read a stored order.  On failure returns false with err naming the
 * field; out needs no freeing then. */
bool sl_market_order_parse(json_t *body, int64_t now, sl_market_order_req *out, sl_jerr *err);
void sl_market_order_req_free(sl_market_order_req *o);

/* First slot boundary at or after t. */
int64_t sl_market_order_next_slot(int64_t t);

#endif
