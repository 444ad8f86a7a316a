/* adapter_agent.c — the `agent` adapter: a pull adapter.  The exchange never calls out for an
 * agent pool: the provider's suanli-agent (tools/suanli-agent/), running inside the
 * provider's own network with the provider's token, leases the pool's dispatch jobs over the
 * API (POST /v1/agent/work, src/http/h_agent.c), carries each out with its local scheduler
 * and reports the outcome (POST /v1/agent/work/{id}/result).  The dispatcher leaves these
 * jobs to the agent (src/db/dispatch.c's job_lease) and takes one only once its deadline has
 * passed, to fail it (dispatcher.c), so no operation below runs in the normal course; they
 * answer RETRY ("waiting for the agent") should one be called before the deadline.
 *
 * Configuration, passed to the agent with every work item: {"mode"?: "host" (default) |
 * "slurm", "partition" (slurm: required), "cluster"?, "user"? (slurm only)} — AGENT_MODE of
 * api/vocab.def.  The exchange needs no address, credential or secret of the provider. */
#include "internal.h"
#include "suanli/core/vocab.h"
#include <stdio.h>
#include <string.h>

bool sl_adapter_agent_validate(const json_t *cfg, sl_jerr *err) {
  const char *mode = NULL, *names[3] = {NULL, NULL, NULL};
  const sl_jfield f[] = {
      {"mode", SL_JT_ENUM, false, &mode, NULL, 0, 0, sl_vocab_names(SL_VD_AGENT_MODE)},
      {"partition", SL_JT_STRING, false, &names[0], NULL, 1, 64, NULL},
      {"cluster", SL_JT_STRING, false, &names[1], NULL, 1, 64, NULL},
      {"user", SL_JT_STRING, false, &names[2], NULL, 1, 64, NULL},
  };
  if (!sl_json_decode(cfg, f, sizeof f / sizeof f[0], SL_ADAPTER_CFG, err)) return false;
  bool slurm = sl_vocab_is(mode, SL_AGENT_MODE_SLURM);
  if (slurm && !names[0])
    return sl_jerr_set(err, SL_E_MISSING_FIELD, SL_ADAPTER_CFG "partition",
                       "the slurm mode needs the partition to reserve nodes in");
  static const char *const fields[] = {"partition", "cluster", "user"};
  for (int i = 0; !slurm && i < 3; i++)
    if (names[i])
      return sl_jerr_set(err, SL_E_INVALID_VALUE,
                         i == 0   ? SL_ADAPTER_CFG "partition"
                         : i == 1 ? SL_ADAPTER_CFG "cluster"
                                  : SL_ADAPTER_CFG "user",
                         "%s is a setting of the slurm mode only", fields[i]);
  return sl_adapter_slurm_names_ok(names, err);
}

static sl_adapter_rc waiting(char *err, size_t errlen) {
  snprintf(err, errlen, "waiting for the provider's agent to take the work");
  return SL_ADAPTER_RETRY;
}

static sl_adapter_rc agent_reserve(const sl_adapter_call *c, char *ref, size_t reflen, char *err,
                                   size_t errlen) {
  return waiting(err, errlen);
}

static sl_adapter_rc agent_cancel(const sl_adapter_call *c, char *err, size_t errlen) {
  return waiting(err, errlen);
}

static sl_adapter_rc agent_status(const sl_adapter_call *c, char *state, size_t len, char *err,
                                  size_t errlen) {
  snprintf(state, len, "unknown"); /* only the agent can tell */
  return SL_ADAPTER_OK;
}

const sl_adapter_ops sl_adapter_agent_ops = {agent_reserve, agent_cancel, agent_status};
