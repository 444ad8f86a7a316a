/* scopes.c — token scope names and bits (include/suanli/core/scopes.h). */
#include "suanli/core/scopes.h"
#include <stddef.h>
#include <string.h>

const char *const sl_scope_names[] = {"read",    "heartbeat", "pools",      "market",
                                      "money",   "accounts",  "settlement", "ledger",
                                      "catalog", "audit",     "agent",      NULL};

unsigned sl_scopes_parse(const char *csv) {
  unsigned bits = 0;
  for (const char *p = csv ? csv : ""; *p;) {
    size_t n = strcspn(p, ",");
    for (unsigned i = 0; sl_scope_names[i]; i++)
      if (strlen(sl_scope_names[i]) == n && strncmp(sl_scope_names[i], p, n) == 0) bits |= 1u << i;
    p += n;
    if (*p == ',') p++;
  }
  return bits;
}
