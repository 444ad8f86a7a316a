/* dispatcher.c — the outbox workers.
 *
 * Each worker leases the next due job in a short transaction (FOR UPDATE SKIP LOCKED: any
 * number of processes never lease the same job), calls the pool's adapter outside any
 * transaction — no row stays locked while a provider's system answers, so a tenant's
 * cancellation never waits for it — with the reservation id as idempotency key, then records
 * the outcome: done (the reservation becomes dispatched), a retry with capped exponential
 * backoff and jitter, or — on a terminal error or past the job's deadline — a failed
 * reservation whose trade is refunded.  If the process dies during the call, the lease runs
 * out and another worker retries the job; the adapter's idempotency makes that safe.  A
 * cancel job waits while the reserve of its reservation is running.  Workers sleep on
 * LISTEN suanli_dispatch (a hint only) and poll every second. */
#include "suanli/core/clock.h"
#include "suanli/core/log.h"
#include "suanli/core/timeutil.h"
#include "suanli/core/vocab.h"
#include "suanli/db/access.h"
#include "suanli/db/dispatch.h"
#include "suanli/db/market.h"
#include "suanli/dispatch/dispatch.h"
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKOFF_BASE_S 0.5
#define BACKOFF_CAP_S  60.0
#define MAX_THREADS    8

double sl_dispatch_backoff_s(int attempt, double base_s, double cap_s, double jitter01) {
  if (attempt < 1) attempt = 1;
  double d = attempt > 30 ? cap_s : base_s * pow(2.0, attempt - 1);
  if (d > cap_s) d = cap_s;
  return d * (0.5 + jitter01);
}

struct sl_dispatcher {
  sl_db *db;
  atomic_bool stop;
  int nthreads;
  pthread_t threads[MAX_THREADS];
};

#define LEASE_S                                                                                    \
  30 /* longer than any adapter call (webhook <= 20 s, scontrol 15 s, sim <= 10 s)                 \
      */

typedef struct {
  int64_t job; /* the leased job, 0 when none was due */
  sl_db_job j;
  bool call;           /* the adapter must be called */
  char access_key[65]; /* reserve: the tenant's X25519 key (hex), "" when none */
} lease_result;

/* Transaction 1: lease the next job (committed at once: no lock is held during the call). */
static sl_dbrc lease_step(sl_dbc *c, void *arg) {
  lease_result *l = arg;
  l->job = 0;
  l->call = false;
  sl_dbrc rc = sl_db_job_lease(c, LEASE_S, &l->job);
  if (rc == SL_DB_NOROWS) {
    l->job = 0;
    return SL_DB_OK;
  }
  if (rc != SL_DB_OK) return rc;
  rc = sl_db_job_claim(c, l->job, &l->j);
  if (rc != SL_DB_OK) return rc;
  if (sl_vocab_is(l->j.action, SL_JOB_ACTION_RESERVE) &&
      !sl_vocab_is(l->j.reservation_state, SL_RESERVATION_STATE_PENDING)) {
    sl_db_job_clear(&l->j);
    l->job = 0;
    return sl_db_job_finish(c, l->j.id, sl_vocab_name(SL_JOB_STATE_SKIPPED), false,
                            "reservation no longer pending", 0);
  }
  l->call = true;
  l->access_key[0] = '\0';
  if (sl_vocab_is(l->j.action, SL_JOB_ACTION_RESERVE)) { /* access details are sealed to this key */
    json_t *k = NULL;
    rc = sl_db_access_key_get(c, l->j.tenant_id, &k);
    if (rc == SL_DB_OK)
      snprintf(l->access_key, sizeof l->access_key, "%s",
               json_string_value(json_object_get(k, "public_key")));
    json_decref(k);
    if (rc != SL_DB_OK && rc != SL_DB_NOROWS) {
      sl_db_job_clear(&l->j);
      l->call = false;
      return rc;
    }
  }
  return SL_DB_OK;
}

typedef struct {
  const sl_db_job *j;
  sl_adapter_rc ar;
  const char *err, *ref;
  const char *access_key, *access; /* sealed access details (base64) to store, or "" */
} finish_args;

/* Transaction 3: record the outcome.  A reserve that succeeded while the tenant cancelled
 * leaves the reservation cancelled; its queued cancel job runs next and removes it. */
static sl_dbrc finish_step(sl_dbc *c, void *arg) {
  finish_args *f = arg;
  const sl_db_job *j = f->j;
  bool reserve = sl_vocab_is(j->action, SL_JOB_ACTION_RESERVE);
  sl_dbrc rc;
  if (f->ar == SL_ADAPTER_OK) {
    rc = sl_db_job_finish(c, j->id, sl_vocab_name(SL_JOB_STATE_DONE), false, "", 0);
    if (rc == SL_DB_OK && reserve) rc = sl_db_reservation_dispatched(c, j->reservation_id, f->ref);
    if (rc == SL_DB_OK && reserve && f->access[0] && f->access_key[0])
      rc = sl_db_access_store(c, j->reservation_id, f->access_key, f->access, j->adapter_kind);
  } else if (f->ar == SL_ADAPTER_RETRY) {
    double wait = sl_dispatch_backoff_s(j->attempts, BACKOFF_BASE_S, BACKOFF_CAP_S,
                                        randombytes_uniform(1000000) / 1e6);
    rc = sl_db_job_finish(c, j->id, sl_vocab_name(SL_JOB_STATE_QUEUED), false, f->err, wait);
  } else {
    rc = sl_db_job_finish(c, j->id, sl_vocab_name(SL_JOB_STATE_FAILED), false, f->err, 0);
    if (rc == SL_DB_OK && reserve) {
      char cause[320];
      int64_t txn = 0;
      snprintf(cause, sizeof cause, "dispatch failed: %s", f->err);
      sl_crash_point("dispatch_failed"); /* job failed, refund not yet: one transaction */
      rc = sl_db_trade_fail(c, j->trade_id, cause, &txn);
    }
  }
  return rc;
}

/* One job: lease, call the adapter outside any transaction, record.  *worked = a job ran. */
static sl_dbrc step(sl_dbc *c, bool *worked) {
  lease_result l;
  memset(&l, 0, sizeof l);
  sl_dbrc rc = sl_db_txn_run(c, lease_step, &l, 3);
  *worked = l.job != 0 || rc != SL_DB_OK;
  if (rc != SL_DB_OK || !l.call) {
    if (l.call) sl_db_job_clear(&l.j);
    return rc;
  }
  sl_db_job *j = &l.j;
  bool reserve = sl_vocab_is(j->action, SL_JOB_ACTION_RESERVE);
  const sl_adapter_ops *ops = sl_adapter_find(j->adapter_kind);
  char err[256] = "", ref[128] = "";
  char *access = calloc(1, SL_ACCESS_B64_MAX);
  if (!access) {
    sl_db_job_clear(&l.j);
    return SL_DB_HARD;
  }
  sl_adapter_rc ar;
  if (sl_clock_now() >= j->deadline && sl_vocab_is(j->adapter_kind, SL_ADAPTER_KIND_AGENT)) {
    ar = SL_ADAPTER_TERMINAL; /* an agent pool's job: its agent never finished it in time */
    snprintf(err, sizeof err,
             "the provider's agent did not carry it out before the deadline (%d leases; last "
             "error: %.150s)",
             j->attempts - 1, j->last_error[0] ? j->last_error : "none");
  } else if (sl_clock_now() >= j->deadline) {
    ar = SL_ADAPTER_TERMINAL;
    snprintf(err, sizeof err, "gave up at the deadline after %d attempts (last error: %.150s)",
             j->attempts - 1, j->last_error);
  } else if (!ops) {
    ar = SL_ADAPTER_TERMINAL;
    snprintf(err, sizeof err, "no adapter '%s'", j->adapter_kind);
  } else {
    sl_adapter_call call = {.reservation_id = j->reservation_id,
                            .trade_id = j->trade_id,
                            .pool_id = j->pool_id,
                            .tenant_id = j->tenant_id,
                            .start = j->start,
                            .end = j->end,
                            .gpus = j->gpus,
                            .gpus_per_node = j->gpus_per_node,
                            .nodes = (j->gpus + j->gpus_per_node - 1) / j->gpus_per_node,
                            .region = j->region,
                            .accelerator = j->accelerator,
                            .config = j->config,
                            .access_key = l.access_key[0] ? l.access_key : NULL,
                            .access_out = access,
                            .access_out_len = SL_ACCESS_B64_MAX};
    int64_t t0 = sl_time_now_us();
    ar = reserve ? ops->reserve(&call, ref, sizeof ref, err, sizeof err)
                 : ops->cancel(&call, err, sizeof err);
    sl_log(SL_LOG_INFO, "adapter call",
           json_pack("{s:s,s:s,s:I,s:I,s:s,s:I,s:s}", "adapter", j->adapter_kind, "action",
                     j->action, "reservation_id", (json_int_t)j->reservation_id, "job_id",
                     (json_int_t)j->id, "outcome",
                     ar == SL_ADAPTER_OK      ? "ok"
                     : ar == SL_ADAPTER_RETRY ? "retry"
                                              : "terminal",
                     "duration_us", (json_int_t)(sl_time_now_us() - t0), "error", err));
  }
  finish_args f = {j, ar, err, ref, l.access_key, access};
  rc = sl_db_txn_run(c, finish_step, &f, 3);
  sl_db_job_clear(j);
  free(access);
  return rc;
}

static void *worker_main(void *arg) {
  sl_dispatcher *d = arg;
  int attempt = 0;
  while (!atomic_load(&d->stop)) {
    bool down;
    sl_dbc *c = sl_db_acquire(d->db, 1000, &down);
    if (!c) {
      /* the database is away: back off (50 ms doubling to 5 s, jittered) instead of
       * reconnecting in a tight loop */
      sl_db_backoff(&attempt);
      continue;
    }
    attempt = 0;
    while (!atomic_load(&d->stop)) {
      bool worked = false;
      sl_dbrc rc = step(c, &worked);
      if (rc == SL_DB_DOWN) break;
      if (rc != SL_DB_OK)
        sl_log(SL_LOG_WARN, "dispatch step failed", json_pack("{s:s}", "rc", sl_dbrc_name(rc)));
      if (!worked) sl_db_wait_notify(c, "suanli_dispatch", 1000);
    }
    sl_db_release(d->db, c);
  }
  return NULL;
}

sl_dispatcher *sl_dispatcher_start(const char *conninfo, int threads) {
  if (threads < 1) threads = 1;
  if (threads > MAX_THREADS) threads = MAX_THREADS;
  sl_dispatcher *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->db = sl_db_open(conninfo, threads);
  if (!d->db || !sl_adapter_sim_init(conninfo)) {
    sl_db_close(d->db);
    free(d);
    return NULL;
  }
  for (int i = 0; i < threads; i++)
    if (pthread_create(&d->threads[d->nthreads], NULL, worker_main, d) == 0) d->nthreads++;
  return d;
}

void sl_dispatcher_stop(sl_dispatcher *d) {
  if (!d) return;
  atomic_store(&d->stop, true);
  for (int i = 0; i < d->nthreads; i++) pthread_join(d->threads[i], NULL);
  sl_db_close(d->db);
  sl_adapter_sim_fini();
  free(d);
}
