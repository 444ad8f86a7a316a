/* sched/slurm.h — Slurm advance reservations through scontrol (src/sched/slurm.c).
 *
 * One implementation for both places that talk to a Slurm controller: the exchange's own
 * `slurm` adapter (src/dispatch/adapter_slurm.c, a cluster the exchange's host can reach)
 * and suanli-agent's slurm mode (tools/suanli-agent/, run by the provider inside its own
 * network).  A reservation is named "suanli-res-<reservation id>" (the idempotency key: a
 * retry finds it by name instead of creating a second one), covers `nodes` whole nodes of
 * the partition (Slurm 22.05 reserves nodes, not typed GPUs), starts at `start` and lasts
 * until `end`.  scontrol comes from PATH and reads SLURM_CONF; it prints times in its own
 * time zone, so the calling process runs with TZ=UTC.
 *
 * Outcomes: OK; RETRY (the controller unreachable, a timeout: try again later); TERMINAL
 * (Slurm refused for good — nodes busy, invalid time/partition/user — or a same-named
 * reservation with another window exists, which is never adopted, changed or deleted).
 * Every call is bounded (scontrol is killed after 15 s) and thread-safe. */
#ifndef SUANLI_SCHED_SLURM_H
#define SUANLI_SCHED_SLURM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { SL_SCHED_OK, SL_SCHED_RETRY, SL_SCHED_TERMINAL } sl_sched_rc;

/* Where to reserve: the partition, the user the reservation is for (NULL: root) and the
 * cluster (NULL: the default one; else passed as -M). */
typedef struct sl_sched_slurm {
  const char *partition, *user, *cluster;
} sl_sched_slurm;

/* What to reserve. */
typedef struct sl_sched_res {
  int64_t id;         /* the exchange's reservation id */
  int64_t start, end; /* epoch seconds, [start, end) */
  int32_t nodes;      /* whole nodes */
} sl_sched_res;

/* Slurm names passed to scontrol: 1..64 letters, digits, '_', '-' and '.' only. */
bool sl_sched_slurm_name_ok(const char *s);
/* "suanli-res-<id>" into buf. */
void sl_sched_slurm_res_name(int64_t id, char *buf, size_t len);

/* Create the reservation (or find ours from an earlier attempt); *ref = its name on OK.
 * A reservation Slurm made smaller than asked is deleted and reported TERMINAL (busy). */
sl_sched_rc sl_sched_slurm_reserve(const sl_sched_slurm *t, const sl_sched_res *r, char *ref,
                                   size_t reflen, char *err, size_t errlen);
/* Delete it when it is ours; OK when it is not there (idempotent). */
sl_sched_rc sl_sched_slurm_cancel(const sl_sched_slurm *t, const sl_sched_res *r, char *err,
                                  size_t errlen);
/* "reserved", "absent" or "conflict" (a same-named reservation that is not ours). */
sl_sched_rc sl_sched_slurm_status(const sl_sched_slurm *t, const sl_sched_res *r, char *state,
                                  size_t len, char *err, size_t errlen);

/* The GPUs of the partition's nodes (all nodes when partition is NULL) that can take work
 * now, from `scontrol -o show node`: nodes in no unusable state (DOWN, DRAIN, FAIL,
 * NOT_RESPONDING or '*', POWER..., INVAL, FUTURE, UNKNOWN, REBOOT, MAINT), each counting the
 * GPUs of its Gres= (gpu:N or gpu:type:N); *busy = those allocated to jobs (AllocTRES
 * gres/gpu=N).  RETRY when scontrol cannot be run or the controller does not answer. */
sl_sched_rc sl_sched_slurm_gpus(const sl_sched_slurm *t, int *usable, int *busy, char *err,
                                size_t errlen);

#endif
