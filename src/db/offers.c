/* offers.c — the market's offers (GET /v1/offers): active pools with the GPUs free in every
 * hour of a window, filtered and sorted by PostgreSQL, one bounded page at a time. */
#include "suanli/db/offers.h"
#include "internal.h"
#include <stdlib.h>
#include <string.h>

/* $1 window start, $2 window end (epoch s), $3 accelerator pattern (ILIKE), $4 region
 * pattern, $5 min free GPUs, $6 min price, $7 max price, $8 max price per NCU, $9 min NCU
 * (milli), $10 min memory GB, $11 origin region, $12 max RTT (us), $13 sort, $14 offset,
 * $15 limit.  Free GPUs: gpu_count less the most booked hour of the window; 0 when the window
 * is not inside the pool's availability.  RTT from the origin: the latency matrix, as the
 * matcher reads it (unknown RTTs never pass a max_rtt filter and sort last).  The page's offers
 * leave as api_offer() of schema/022_api_objects.sql (the pools of the page read again by
 * primary key, in the statement's snapshot). */
const sl_db_stmt sl_db_stmts_offers[] = {
    {"offers_page",
     "WITH o AS ("
     " SELECT p.id, p.price_minor,"
     "  CASE WHEN p.available_from <= to_timestamp($1::bigint)"
     "        AND p.available_until >= to_timestamp($2::bigint)"
     "   THEN p.gpu_count - coalesce((SELECT max(ps.booked) FROM pool_slots ps"
     "     WHERE ps.pool_id = p.id AND ps.slot >= to_timestamp($1::bigint)"
     "       AND ps.slot < to_timestamp($2::bigint)), 0)"
     "   ELSE 0 END AS free,"
     "  sl_ncu_price_minor(p.price_minor, a.score_milli) AS ncu_price,"
     "  CASE WHEN $11::text IS NULL THEN NULL ELSE l.rtt_us END AS rtt_us, l.source AS rtt_source"
     " FROM pools p JOIN accelerators a ON a.id = p.accelerator_id"
     " LEFT JOIN region_rtt l ON l.from_region = $11 AND l.to_region = p.region"
     " WHERE p.status = 'active'"
     "  AND ($3::text IS NULL OR p.accelerator_id ILIKE $3 OR p.accelerator_id IN"
     "   (SELECT n.accelerator_id FROM accelerator_names n WHERE n.name ILIKE $3))"
     "  AND ($4::text IS NULL OR p.region ILIKE $4)"
     "  AND ($6::bigint IS NULL OR p.price_minor >= $6)"
     "  AND ($7::bigint IS NULL OR p.price_minor <= $7)"
     "  AND ($9::bigint IS NULL OR a.score_milli >= $9)"
     "  AND ($10::int IS NULL OR a.memory_gb >= $10)),"
     " f AS (SELECT o.*, row_number() OVER (ORDER BY"
     "   CASE WHEN $13 = 'price' THEN price_minor END,"
     "   CASE WHEN $13 = 'price_per_ncu' THEN ncu_price END NULLS LAST,"
     "   CASE WHEN $13 = 'rtt' THEN rtt_us END NULLS LAST,"
     "   CASE WHEN $13 = 'free' THEN free END DESC,"
     "   price_minor, id) AS n"
     "  FROM o WHERE free >= coalesce($5::int, 1)"
     "  AND ($8::bigint IS NULL OR ncu_price <= $8)"
     "  AND ($12::bigint IS NULL OR rtt_us <= $12)),"
     " s AS (SELECT * FROM f WHERE n > $14 ORDER BY n LIMIT $15)"
     " SELECT json_build_object('items', coalesce(json_agg(j ORDER BY s.n), '[]'),"
     " 'window', json_build_object('start', sl_ts(to_timestamp($1::bigint)),"
     "  'end', sl_ts(to_timestamp($2::bigint))),"
     " 'next_after', CASE WHEN count(*) = $15 THEN ($14 + $15)::text END)::text"
     " FROM s JOIN pools p ON p.id = s.id JOIN accelerators a ON a.id = p.accelerator_id,"
     " api_offer(p, a, s.free, s.rtt_us, s.rtt_source) j"},
    {NULL, NULL},
};

sl_dbrc sl_db_offers_page(sl_dbc *c, const sl_offer_filter *f, char **out) {
  char b[15][24];
  const char *v[15] = {
      sl_db_ts(b[0], f->start),
      sl_db_ts(b[1], f->end),
      f->accelerator_like,
      f->region_like,
      sl_db_i64_opt(b[4], f->min_free_gpus, -1),
      sl_db_i64_opt(b[5], f->min_price_minor, -1),
      sl_db_i64_opt(b[6], f->max_price_minor, -1),
      sl_db_i64_opt(b[7], f->max_ncu_price_minor, -1),
      sl_db_i64_opt(b[8], f->min_ncu_milli, -1),
      sl_db_i64_opt(b[9], f->min_memory_gb, -1),
      f->origin,
      sl_db_i64_opt(b[11], f->max_rtt_us, -1),
      f->sort,
      sl_db_i64(b[13], f->offset),
      sl_db_i64(b[14], f->limit),
  };
  return sl_db_text(c, "offers_page", 15, v, out);
}
