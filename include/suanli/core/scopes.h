/* scopes.h — token scopes (issue 16): a token may be limited to reads and/or route groups.
 * Pure; the route -> group table is in src/http/scopes.c. */
#ifndef SUANLI_SCOPES_H
#define SUANLI_SCOPES_H

enum {
  SL_SCOPE_READ = 1u << 0,
  SL_SCOPE_HEARTBEAT = 1u << 1,
  SL_SCOPE_POOLS = 1u << 2,
  SL_SCOPE_MARKET = 1u << 3,
  SL_SCOPE_MONEY = 1u << 4,
  SL_SCOPE_ACCOUNTS = 1u << 5,
  SL_SCOPE_SETTLEMENT = 1u << 6,
  SL_SCOPE_LEDGER = 1u << 7,
  SL_SCOPE_CATALOG = 1u << 8,
  SL_SCOPE_AUDIT = 1u << 9,
  SL_SCOPE_AGENT = 1u << 10,
};
/* The names, in bit order, NULL-terminated. */
extern const char *const sl_scope_names[];
/* Comma-separated names -> bits (unknown names ignored; NULL or "" -> 0 = unrestricted). */
unsigned sl_scopes_parse(const char *csv);

#endif
