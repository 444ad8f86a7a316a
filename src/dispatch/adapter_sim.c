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
 * Access details: when the tenant has registered an X25519 key, a successful reserve hands
 * back test access details (an SSH login node and user with a one-time password, the Slurm
 * reservation) sealed to that key — as a provider's system would; the plaintext never
 * leaves this function (api/ACCESS.md).
 */
#include "internal.h"
#include "suanli/core/timeutil.h"
#include "suanli/db/dispatch.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static sl_db *store;

bool sl_adapter_sim_init(const char *conninfo) {
  if (!store) store = sl_db_open(conninfo, 4);
  return store != NULL;
}

void sl_adapter_sim_fini(void) {
  sl_db_close(store);
  store = NULL;
}

/* Fault injection in basis points and milliseconds. */
bool sl_adapter_sim_validate(const json_t *cfg, sl_jerr *err) {
  int64_t fail = 0, drop = 0, delay = 0;
  bool silent = false;
  const sl_jfield f[] = {
      {"fail_rate_bp", SL_JT_INT, false, &fail, NULL, 0, 10000, NULL},
      {"drop_rate_bp", SL_JT_INT, false, &drop, NULL, 0, 10000, NULL},
      {"delay_ms", SL_JT_INT, false, &delay, NULL, 0, 10000, NULL},
      {"silent", SL_JT_BOOL, false, &silent, NULL, 0, 0, NULL},
  };
  return sl_json_decode(cfg, f, sizeof f / sizeof f[0], SL_ADAPTER_CFG, err);
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

/* Seal the simulated cluster's access details for c's reservation to c->access_key into
 * c->access_out (base64).  Leaves it empty when there is no key or it does not fit. */
static void sim_access(const sl_adapter_call *c) {
  uint8_t pk[crypto_box_PUBLICKEYBYTES], pw[12];
  size_t pklen = 0;
  if (!c->access_key || !c->access_out || c->access_out_len == 0) return;
  c->access_out[0] = '\0';
  if (sodium_hex2bin(pk, sizeof pk, c->access_key, strlen(c->access_key), NULL, &pklen, NULL) !=
          0 ||
      pklen != sizeof pk)
    return;
  char pw_hex[2 * sizeof pw + 1], host[128], user[64], start[32], end[32], resv[64];
  randombytes_buf(pw, sizeof pw);
  sodium_bin2hex(pw_hex, sizeof pw_hex, pw, sizeof pw);
  snprintf(host, sizeof host, "login.%s.sim.suanli.test", c->region);
  snprintf(user, sizeof user, "r%lld", (long long)c->reservation_id);
  snprintf(resv, sizeof resv, "sim-%lld", (long long)c->reservation_id);
  sl_time_format(c->start, start, sizeof start);
  sl_time_format(c->end, end, sizeof end);
  json_t *d = json_pack("{s:s, s:{s:s, s:i, s:s, s:s}, s:{s:s, s:s, s:s}, s:i, s:s, s:s, s:s}",
                        "kind", "ssh+slurm", "ssh", "host", host, "port", 22, "user", user,
                        "password", pw_hex, "slurm", "reservation", resv, "login_node", host,
                        "partition", "sim", "gpus", (int)c->gpus, "start", start, "end", end,
                        "note", "test access details from the simulated cluster");
  char *plain = json_dumps(d, JSON_COMPACT);
  json_decref(d);
  if (!plain) return;
  size_t mlen = strlen(plain), clen = mlen + crypto_box_SEALBYTES;
  uint8_t *box = malloc(clen);
  if (box && clen <= SL_ACCESS_SEALED_MAX &&
      sodium_base64_ENCODED_LEN(clen, sodium_base64_VARIANT_ORIGINAL) <= c->access_out_len &&
      crypto_box_seal(box, (const uint8_t *)plain, mlen, pk) == 0)
    sodium_bin2base64(c->access_out, c->access_out_len, box, clen, sodium_base64_VARIANT_ORIGINAL);
  sodium_memzero(plain, mlen);
  sodium_memzero(pw_hex, sizeof pw_hex);
  free(plain);
  free(box);
}

/* Every call: the configured latency, an injected failure, then a connection to the
 * cluster's store; NULL (err set: retry) when the call fails before doing anything. */
static sl_dbc *sim_enter(const sl_adapter_call *c, char *err, size_t errlen) {
  delay(c->config);
  if (roll(cfg_int(c->config, "fail_rate_bp"))) {
    snprintf(err, errlen, "simulated failure");
    return NULL;
  }
  bool down;
  sl_dbc *db = store ? sl_db_acquire(store, 2000, &down) : NULL;
  if (!db) snprintf(err, errlen, "simulated cluster unreachable");
  return db;
}

/* Give the store's connection back; false (err set: retry) when the store call failed. */
static bool sim_leave(sl_dbc *db, sl_dbrc rc, char *err, size_t errlen) {
  sl_db_release(store, db);
  if (rc == SL_DB_OK) return true;
  snprintf(err, errlen, "simulated cluster error (%s)", sl_dbrc_name(rc));
  return false;
}

static sl_adapter_rc sim_reserve(const sl_adapter_call *c, char *ref, size_t reflen, char *err,
                                 size_t errlen) {
  sl_dbc *db = sim_enter(c, err, errlen);
  if (!db) return SL_ADAPTER_RETRY;
  bool cancelled = false;
  sl_dbrc rc =
      sl_db_sim_reserve(db, c->reservation_id, c->pool_id, c->gpus, c->start, c->end, &cancelled);
  if (!sim_leave(db, rc, err, errlen)) return SL_ADAPTER_RETRY;
  if (cancelled) {
    snprintf(err, errlen, "reservation %lld was cancelled on the cluster",
             (long long)c->reservation_id);
    return SL_ADAPTER_TERMINAL;
  }
  if (roll(cfg_int(c->config, "drop_rate_bp"))) {
    snprintf(err, errlen, "simulated lost reply");
    return SL_ADAPTER_RETRY;
  }
  snprintf(ref, reflen, "sim-%lld", (long long)c->reservation_id);
  sim_access(c);
  return SL_ADAPTER_OK;
}

static sl_adapter_rc sim_cancel(const sl_adapter_call *c, char *err, size_t errlen) {
  sl_dbc *db = sim_enter(c, err, errlen);
  if (!db) return SL_ADAPTER_RETRY;
  sl_dbrc rc = sl_db_sim_cancel(db, c->reservation_id);
  return sim_leave(db, rc, err, errlen) ? SL_ADAPTER_OK : SL_ADAPTER_RETRY;
}

/* The cluster's own record of the reservation: "reserved" or "absent". */
static sl_adapter_rc sim_status(const sl_adapter_call *c, char *state, size_t len, char *err,
                                size_t errlen) {
  sl_dbc *db = sim_enter(c, err, errlen);
  if (!db) return SL_ADAPTER_RETRY;
  sl_dbrc rc = sl_db_sim_state(db, c->reservation_id, state, len);
  return sim_leave(db, rc, err, errlen) ? SL_ADAPTER_OK : SL_ADAPTER_RETRY;
}

const sl_adapter_ops sl_adapter_sim_ops = {sim_reserve, sim_cancel, sim_status};
