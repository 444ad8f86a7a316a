/* reaper.c — deleting what has outlived its retention: idempotency records (issue 16).
 *
 * A record (an Idempotency-Key's stored reply, or a claim whose request never finished)
 * older than the retention is deleted, at most `limit` rows a statement, skipping rows that
 * another process holds, so any number of processes may reap at once. */
#include "suanli/db/reaper.h"
#include "internal.h"
#include "suanli/core/log.h"
#include <stdlib.h>
#include <time.h>

const sl_db_stmt sl_db_stmts_reaper[] = {
    {"idem_reap", "WITH d AS (DELETE FROM idempotency_keys WHERE (account_id, key) IN ("
                  "  SELECT account_id, key FROM idempotency_keys"
                  "  WHERE created_at < now() - make_interval(secs => $1::bigint)"
                  "  AND claimed_at < now() - make_interval(secs => $1::bigint)"
                  "  ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING 1)"
                  " SELECT count(*) FROM d"},
    {NULL, NULL},
};

sl_dbrc sl_db_idem_reap(sl_dbc *c, int64_t retention_s, int limit, int64_t *deleted) {
  char b1[24], b2[24];
  const char *v[2] = {sl_db_i64(b1, retention_s), sl_db_i64(b2, limit)};
  *deleted = 0;
  return sl_db_int(c, "idem_reap", 2, v, deleted);
}

/* Contract: at most once a minute per process (the first call reaps at once); deletes in
 * batches of 1000 until a batch comes back short or 20 batches ran. */
void sl_db_reap_step(sl_dbc *c, int64_t retention_s) {
  static _Thread_local time_t last;
  time_t now = time(NULL);
  if (last && now - last < 60) return;
  last = now;
  int64_t total = 0, n = 0;
  for (int i = 0; i < 20; i++) {
    if (sl_db_idem_reap(c, retention_s, 1000, &n) != SL_DB_OK) break;
    total += n;
    if (n < 1000) break;
  }
  if (total)
    sl_log(SL_LOG_INFO, "idempotency records reaped",
           json_pack("{s:I}", "count", (json_int_t)total));
}
