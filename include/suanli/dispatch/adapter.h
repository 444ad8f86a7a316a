/* adapter.h — pool adapters (src/dispatch/).  For now: each adapter kind's configuration
 * validation, used when a provider registers or changes a pool.  Pure. */
#ifndef SUANLI_ADAPTER_H
#define SUANLI_ADAPTER_H
#include <jansson.h>
#include <stdbool.h>
#include "suanli/core/jsonspec.h"

/* The adapter kinds a pool may name (NULL-terminated). */
extern const char *const sl_adapter_kinds[];

/* Validate `config` for adapter `kind`.  On failure returns false with err naming the
 * field as "adapter.config.<name>". */
bool sl_adapter_validate(const char *kind, const json_t *config, sl_jerr *err);

#endif
