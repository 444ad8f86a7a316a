/* db/dispatch.h — outbox jobs, reservations, health, failover, simulated cluster store
 * (src/db/dispatch.c). */
#ifndef SUANLI_DB_DISPATCH_H
#define SUANLI_DB_DISPATCH_H
#include "suanli/db/db.h"

/* A leased dispatch job with what the adapter needs. */
typedef struct sl_db_job {
  int64_t id, reservation_id, trade_id, pool_id, tenant_id;
  char action[12], reservation_state[16], region[48], accelerator[72], adapter_kind[16];
  char last_error[256];
  int attempts, gpus, gpus_per_node;
  int64_t deadline, start, end;
  json_t *config; /* owned: the pool's adapter configuration */
} sl_db_job;

/* Lease the next due job for lease_s seconds (FOR UPDATE SKIP LOCKED; commit right after,
 * so no lock is held during the adapter call); NOROWS when none is due. */
sl_dbrc sl_db_job_lease(sl_dbc *c, int lease_s, int64_t *id);
/* Read a leased job and what the adapter needs. */
sl_dbrc sl_db_job_claim(sl_dbc *c, int64_t id, sl_db_job *j);
void sl_db_job_clear(sl_db_job *j);
/* End the lease: state "done", "failed", "skipped", or "queued" (retry after retry_in_s). */
sl_dbrc sl_db_job_finish(sl_dbc *c, int64_t id, const char *state, bool attempted,
                         const char *error, double retry_in_s);
sl_dbrc sl_db_reservation_dispatched(sl_dbc *c, int64_t id, const char *external_ref);
/* dispatched reservations whose start has come become active; *n how many. */
sl_dbrc sl_db_reservations_activate(sl_dbc *c, int *n);
/* Fail a booked trade with full refund (sl_fail_trade); *refund_txn 0 when nothing refunded. */
sl_dbrc sl_db_trade_fail(sl_dbc *c, int64_t trade, const char *cause, int64_t *refund_txn);
/* Pools silent past the heartbeat timeout go offline; *ids = JSON array of their ids. */
sl_dbrc sl_db_pools_mark_silent(sl_dbc *c, json_t **ids);
/* Refund running trades of a pool for GPUs it lost (sl_shortfall). */
sl_dbrc sl_db_pool_shortfall(sl_dbc *c, int64_t pool, int64_t *refunded_trades);

typedef struct sl_db_failover {
  int64_t trade_id, order_id, tenant_id, pool_id, start;
  int gpus, hours;
  json_t *request; /* owned: the original order's body */
} sl_db_failover;
/* Lock the next not-yet-started booked trade on an offline/down pool. */
sl_dbrc sl_db_failover_next(sl_dbc *c, sl_db_failover *f);
/* Link the trades this transaction created for `order` to the trade they replace. */
sl_dbrc sl_db_trades_mark_replacing(sl_dbc *c, int64_t old_trade, int64_t order);
sl_dbrc sl_db_order_note(sl_dbc *c, int64_t order, const char *reason);

/* The simulated cluster: heartbeats for sim pools that are not silent, and its own store. */
sl_dbrc sl_db_sim_heartbeats(sl_dbc *c, int *n);
sl_dbrc sl_db_sim_reserve(sl_dbc *c, int64_t reservation, int64_t pool, int gpus, int64_t start,
                          int64_t end, bool *was_cancelled);
sl_dbrc sl_db_sim_cancel(sl_dbc *c, int64_t reservation);
/* The simulated cluster's state of a reservation, as an adapter's status op answers it:
 * "reserved", or "absent" (never reserved, or cancelled). */
sl_dbrc sl_db_sim_state(sl_dbc *c, int64_t reservation, char *state, size_t len);

#endif
