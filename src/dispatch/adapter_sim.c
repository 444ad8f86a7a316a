/* adapter_sim.c — the simulated cluster: for the demo market and for tests.
 *
 * Its state lives in sim_cluster_reservations, written through its own autocommit
 * connections so that it behaves like an external system: what it did survives the
 * exchange's rollbacks and crashes.  Fault injection from the pool's configuration:
 *   fail_rate_bp  share of calls that fail before doing anything (RETRY)
 *   drop_rate_bp  share of calls that do the work but lose the reply (RETRY) — the retry
 *                 then finds the reservation by its id and answers OK
 *   delay_ms      added latency per call
 *   silent        the cluster stops sending heartbeats (health sensing takes it offline)
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "suanli/db.h"
#include "suanli/dispatch.h"

static sl_db *store;

bool sl_adapter_sim_init(const char *conninfo) {
  if (!store) store = sl_db_open(conninfo, 4);
  return store != NULL;
}

void sl_adapter_sim_fini(void) {
  sl_db_close(store);
  store = NULL;
}

static int64_t cfg_int(const json_t *cfg, const char *key) {
  json_t *v = json_object_get(cfg, key);
  return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static bool roll(int64_t rate_bp) {
  return rate_bp > 0 && (int64_t)randombytes_uniform(10000) < rate_bp;
}

static void delay(const json_t *cfg) {
  int64_t ms = cfg_int(cfg, "delay_ms");
  if (ms > 0) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
  }
}

static sl_ad_rc sim_reserve(const sl_ad_call *c, char *ref, size_t reflen, char *err, size_t errlen) {
  delay(c->config);
  if (roll(cfg_int(c->config, "fail_rate_bp"))) {
    snprintf(err, errlen, "simulated failure");
    return SL_AD_RETRY;
  }
  bool down;
  sl_dbc *db = store ? sl_db_acquire(store, 2000, &down) : NULL;
  if (!db) {
    snprintf(err, errlen, "simulated cluster unreachable");
    return SL_AD_RETRY;
  }
  bool cancelled = false;
  sl_dbrc rc = sl_db_sim_reserve(db, c->reservation_id, c->pool_id, c->gpus, c->start, c->end,
                                 &cancelled);
  sl_db_release(store, db);
  if (rc != SL_DB_OK) {
    snprintf(err, errlen, "simulated cluster error (%s)", sl_dbrc_name(rc));
    return SL_AD_RETRY;
  }
  if (cancelled) {
    snprintf(err, errlen, "reservation %lld was cancelled on the cluster", (long long)c->reservation_id);
    return SL_AD_TERMINAL;
  }
  if (roll(cfg_int(c->config, "drop_rate_bp"))) {
    snprintf(err, errlen, "simulated lost reply");
    return SL_AD_RETRY;
  }
  snprintf(ref, reflen, "sim-%lld", (long long)c->reservation_id);
  return SL_AD_OK;
}

static sl_ad_rc sim_cancel(const sl_ad_call *c, char *err, size_t errlen) {
  delay(c->config);
  if (roll(cfg_int(c->config, "fail_rate_bp"))) {
    snprintf(err, errlen, "simulated failure");
    return SL_AD_RETRY;
  }
  bool down;
  sl_dbc *db = store ? sl_db_acquire(store, 2000, &down) : NULL;
  if (!db) {
    snprintf(err, errlen, "simulated cluster unreachable");
    return SL_AD_RETRY;
  }
  sl_dbrc rc = sl_db_sim_cancel(db, c->reservation_id);
  sl_db_release(store, db);
  if (rc != SL_DB_OK) {
    snprintf(err, errlen, "simulated cluster error (%s)", sl_dbrc_name(rc));
    return SL_AD_RETRY;
  }
  return SL_AD_OK;
}

static sl_ad_rc sim_status(const sl_ad_call *c, char *state, size_t len, char *err, size_t errlen) {
  snprintf(state, len, "unknown");
  return SL_AD_OK;
}

const sl_adapter_ops sl_adapter_sim = {"sim", sim_reserve, sim_cancel, sim_status};
