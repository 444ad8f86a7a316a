/* adapters.c — the adapter registry: one entry per sellable kind, holding its name, its
 * configuration validator and its operations (each adapter_<kind>.c exports both).  The
 * kinds a pool may name, sl_adapter_validate() and the dispatcher's lookup all read this one
 * table; adapter_template.c documents what an entry must do and is not in it.  Every name
 * here is a value of ADAPTER_KIND in api/vocab.def (tests/unit/test_dispatch_adapters.c). */
#include "internal.h"
#include <stdio.h>
#include <string.h>

#define SL_ADAPTER_REGISTRY(X)                                                                     \
  X("sim", sl_adapter_sim_validate, sl_adapter_sim_ops)                                            \
  X("slurm", sl_adapter_slurm_validate, sl_adapter_slurm_ops)                                      \
  X("webhook", sl_adapter_webhook_validate, sl_adapter_webhook_ops)                                \
  X("agent", sl_adapter_agent_validate, sl_adapter_agent_ops)

#define SL_ADAPTER_KIND(kind, validate, ops) kind,
const char *const sl_adapter_kinds[] = {SL_ADAPTER_REGISTRY(SL_ADAPTER_KIND) NULL};
#undef SL_ADAPTER_KIND

#define SL_ADAPTER_ENTRY(kind, validate, ops) {kind, validate, &ops},
static const sl_adapter registry[] = {SL_ADAPTER_REGISTRY(SL_ADAPTER_ENTRY)};
#undef SL_ADAPTER_ENTRY

#define COUNT (sizeof registry / sizeof registry[0])

const sl_adapter *sl_adapter_registry(size_t *n) {
  *n = COUNT;
  return registry;
}

const sl_adapter *sl_adapter_get(const char *kind) {
  for (size_t i = 0; kind && i < COUNT; i++)
    if (strcmp(registry[i].kind, kind) == 0) return &registry[i];
  return NULL;
}

const sl_adapter_ops *sl_adapter_find(const char *kind) {
  const sl_adapter *a = sl_adapter_get(kind);
  return a ? a->ops : NULL;
}

bool sl_adapter_validate(const char *kind, const json_t *config, sl_jerr *err) {
  const sl_adapter *a = sl_adapter_get(kind);
  if (a) return a->validate(config, err);
  char list[128] = "";
  for (size_t i = 0; i < COUNT; i++)
    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
             registry[i].kind);
  return sl_jerr_set(err, SL_E_INVALID_VALUE, "adapter.kind", "must be one of: %s", list);
}
