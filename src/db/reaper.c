/* reaper.c — deleting what has outlived its retention: idempotency records (issue 16) and
 * the dispatch attempts of the trade events (issue 13).
 *
 * A row older than its retention is deleted, at most `limit` rows a statement, skipping rows
 * that another process holds, so any number of processes may reap at once. */
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
    /* attempts are history only (GET /v1/trades/{id}/events): no row refers to them */
    {"attempts_reap", "WITH d AS (DELETE FROM dispatch_attempts WHERE id IN ("
                      "  SELECT id FROM dispatch_attempts"
                      "  WHERE at < now() - make_interval(secs => $1::bigint)"
                      "  ORDER BY at LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING 1)"
                      " SELECT count(*) FROM d"},
    {NULL, NULL},
};

static sl_dbrc reap(sl_dbc *c, const char *stmt, int64_t retention_s, int limit, int64_t *deleted) {
  char b1[24], b2[24];
  const char *v[2] = {sl_db_i64(b1, retention_s), sl_db_i64(b2, limit)};
  *deleted = 0;
  return sl_db_int(c, stmt, 2, v, deleted);
}

sl_dbrc sl_db_idem_reap(sl_dbc *c, int64_t retention_s, int limit, int64_t *deleted) {
  return reap(c, "idem_reap", retention_s, limit, deleted);
}

sl_dbrc sl_db_attempts_reap(sl_dbc *c, int64_t retention_s, int limit, int64_t *deleted) {
  return reap(c, "attempts_reap", retention_s, limit, deleted);
}

/* Batches of 1000 of one statement until a batch comes back short or 20 batches ran; logs
 * the count under `what`. */
static void reap_batches(sl_dbc *c, const char *stmt, int64_t retention_s, const char *what) {
  int64_t total = 0, n = 0;
  for (int i = 0; i < 20; i++) {
    if (reap(c, stmt, retention_s, 1000, &n) != SL_DB_OK) break;
    total += n;
    if (n < 1000) break;
  }
  if (total) sl_log(SL_LOG_INFO, what, json_pack("{s:I}", "count", (json_int_t)total));
}

/* Contract: at most once a minute per thread (the first call reaps at once); idempotency
 * records older than retention_s, then — when attempts_retention_s > 0 — dispatch attempts
 * older than that. */
void sl_db_reap_step(sl_dbc *c, int64_t retention_s, int64_t attempts_retention_s) {
  static _Thread_local time_t last;
  time_t now = time(NULL);
  if (last && now - last < 60) return;
  last = now;
  reap_batches(c, "idem_reap", retention_s, "idempotency records reaped");
  if (attempts_retention_s > 0)
    reap_batches(c, "attempts_reap", attempts_retention_s, "dispatch attempts reaped");
}
