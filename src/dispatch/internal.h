/* internal.h — private to src/dispatch: what each adapter file exports to the registry
 * (adapters.c): its configuration validator and its operations. */
#ifndef SUANLI_DISPATCH_INTERNAL_H
#define SUANLI_DISPATCH_INTERNAL_H
#include "suanli/dispatch/adapter.h"

/* The prefix of every configuration field named in a validation error. */
#define SL_ADAPTER_CFG "adapter.config."

bool sl_adapter_sim_validate(const json_t *config, sl_jerr *err);
extern const sl_adapter_ops sl_adapter_sim_ops;
bool sl_adapter_slurm_validate(const json_t *config, sl_jerr *err);
extern const sl_adapter_ops sl_adapter_slurm_ops;
/* The Slurm names of a configuration (partition, cluster, user; NULL when absent) are safe
 * on scontrol's command line; false with err naming the first bad one. */
bool sl_adapter_slurm_names_ok(const char *const names[3], sl_jerr *err);
bool sl_adapter_webhook_validate(const json_t *config, sl_jerr *err);
extern const sl_adapter_ops sl_adapter_webhook_ops;
bool sl_adapter_agent_validate(const json_t *config, sl_jerr *err);
extern const sl_adapter_ops sl_adapter_agent_ops;

/* adapter_template.c: the contract, compiled; not in the registry (not a sellable kind). */
bool sl_adapter_template_validate(const json_t *config, sl_jerr *err);
extern const sl_adapter_ops sl_adapter_template_ops;

#endif
