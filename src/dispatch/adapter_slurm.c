/* adapter_slurm.c — Slurm advance reservations through scontrol, run on the exchange's own
 * host: the pool's cluster must be reachable from it (api/PROVIDERS.md).  A provider whose
 * cluster the exchange cannot reach uses the `agent` adapter instead, whose suanli-agent runs
 * the same code (src/sched/slurm.c) inside the provider's network.
 *
 * Configuration: {"partition", "user"? (default root), "cluster"? (passed as -M)}.  scontrol
 * comes from PATH; SLURM_CONF in suanlid's environment names the cluster's configuration;
 * suanlid runs with TZ=UTC.  What is reserved, and which answers are TERMINAL or RETRY:
 * include/suanli/sched/slurm.h. */
#include "internal.h"
#include "suanli/sched/slurm.h"
#include <stdio.h>

/* The Slurm names of an adapter configuration (slurm, and agent in slurm mode): partition,
 * cluster and user, each NULL when absent; false with err naming the first bad one. */
bool sl_adapter_slurm_names_ok(const char *const names[3], sl_jerr *err) {
  static const char *const fields[] = {SL_ADAPTER_CFG "partition", SL_ADAPTER_CFG "cluster",
                                       SL_ADAPTER_CFG "user"};
  for (int i = 0; i < 3; i++)
    if (names[i] && !sl_sched_slurm_name_ok(names[i]))
      return sl_jerr_set(err, SL_E_INVALID_VALUE, fields[i],
                         "may contain only letters, digits, '_', '-' and '.'");
  return true;
}

/* The partition to reserve nodes in; optional user (default root) and cluster. */
bool sl_adapter_slurm_validate(const json_t *cfg, sl_jerr *err) {
  const char *names[3] = {NULL, NULL, NULL};
  const sl_jfield f[] = {
      {"partition", SL_JT_STRING, true, &names[0], NULL, 1, 64, NULL},
      {"cluster", SL_JT_STRING, false, &names[1], NULL, 1, 64, NULL},
      {"user", SL_JT_STRING, false, &names[2], NULL, 1, 64, NULL},
  };
  if (!sl_json_decode(cfg, f, sizeof f / sizeof f[0], SL_ADAPTER_CFG, err)) return false;
  return sl_adapter_slurm_names_ok(names, err);
}

static const char *cfg_str(const json_t *cfg, const char *key) {
  json_t *v = json_object_get(cfg, key);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

static sl_adapter_rc rc_of(sl_sched_rc rc) {
  return rc == SL_SCHED_OK      ? SL_ADAPTER_OK
         : rc == SL_SCHED_RETRY ? SL_ADAPTER_RETRY
                                : SL_ADAPTER_TERMINAL;
}

#define TARGET(c)                                                                                  \
  {                                                                                                \
    cfg_str((c)->config, "partition"), cfg_str((c)->config, "user"),                               \
        cfg_str((c)->config, "cluster")                                                            \
  }
#define RES(c)                                                                                     \
  { (c)->reservation_id, (c)->start, (c)->end, (c)->nodes }

static sl_adapter_rc slurm_reserve(const sl_adapter_call *c, char *ref, size_t reflen, char *err,
                                   size_t errlen) {
  const sl_sched_slurm t = TARGET(c);
  const sl_sched_res r = RES(c);
  return rc_of(sl_sched_slurm_reserve(&t, &r, ref, reflen, err, errlen));
}

static sl_adapter_rc slurm_cancel(const sl_adapter_call *c, char *err, size_t errlen) {
  const sl_sched_slurm t = TARGET(c);
  const sl_sched_res r = RES(c);
  return rc_of(sl_sched_slurm_cancel(&t, &r, err, errlen));
}

static sl_adapter_rc slurm_status(const sl_adapter_call *c, char *state, size_t len, char *err,
                                  size_t errlen) {
  const sl_sched_slurm t = TARGET(c);
  const sl_sched_res r = RES(c);
  return rc_of(sl_sched_slurm_status(&t, &r, state, len, err, errlen));
}

const sl_adapter_ops sl_adapter_slurm_ops = {slurm_reserve, slurm_cancel, slurm_status};
