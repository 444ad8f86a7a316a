/* adapter.h — the adapter registry (src/dispatch/adapters.c): one entry per kind of pool
 * adapter a provider may choose, holding its name, its configuration validator (run when a
 * provider registers or changes a pool) and its operations (dispatch.h).  The contract every
 * entry keeps is written out in src/dispatch/adapter_template.c. */
#ifndef SUANLI_ADAPTER_H
#define SUANLI_ADAPTER_H
#include "suanli/core/jsonspec.h"
#include "suanli/dispatch/dispatch.h"
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct sl_adapter {
  const char *kind; /* a value of ADAPTER_KIND (api/vocab.def) */
  /* Check a pool's configuration; on failure false with err naming the field as
   * "adapter.config.<name>".  Pure: no I/O. */
  bool (*validate)(const json_t *config, sl_jerr *err);
  const sl_adapter_ops *ops;
} sl_adapter;

/* The registry, in registration order (*n entries). */
const sl_adapter *sl_adapter_registry(size_t *n);
/* The entry of kind, or NULL. */
const sl_adapter *sl_adapter_get(const char *kind);

/* The adapter kinds a pool may name (NULL-terminated), from the registry. */
extern const char *const sl_adapter_kinds[];

/* Validate `config` for adapter `kind` with the registry's validator.  On failure returns
 * false with err naming the field as "adapter.config.<name>". */
bool sl_adapter_validate(const char *kind, const json_t *config, sl_jerr *err);

#endif
