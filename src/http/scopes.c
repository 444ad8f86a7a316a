/* scopes.c — which route group each route belongs to, and whether a token's scopes allow a
 * request (issue 16).  A token without scopes may do everything its account's role may; one
 * with scopes may use GET routes when it has "read", and any route of a group it names.
 * GET /v1/me is always allowed (a token can always see what it is). */
#include "internal.h"
#include <string.h>

/* The group of a route, from its path (the route table stays as it is). */
static unsigned route_group(const sl_route *rt) {
  const char *p = rt->path;
  if (!strcmp(p, "/v1/pools/{id}/heartbeat")) return SL_SCOPE_HEARTBEAT;
  if (!strncmp(p, "/v1/pools", 9)) return SL_SCOPE_POOLS;
  if (!strcmp(p, "/v1/quotes") || !strncmp(p, "/v1/orders", 10) || !strncmp(p, "/v1/trades", 10))
    return SL_SCOPE_MARKET;
  if (!strncmp(p, "/v1/accounts/{id}/", 18) && strcmp(p, "/v1/accounts/{id}/tokens") != 0 &&
      strcmp(p, "/v1/accounts/{id}/limits") != 0)
    return SL_SCOPE_MONEY; /* balances, postings, deposits, withdrawals, budget */
  if (!strncmp(p, "/v1/accounts", 12) || !strncmp(p, "/v1/tokens", 10)) return SL_SCOPE_ACCOUNTS;
  if (!strncmp(p, "/v1/periods", 11)) return SL_SCOPE_SETTLEMENT;
  if (!strncmp(p, "/v1/ledger", 10) || !strcmp(p, "/v1/keys")) return SL_SCOPE_LEDGER;
  if (!strncmp(p, "/v1/audit", 9)) return SL_SCOPE_AUDIT;
  if (!strncmp(p, "/v1/agent", 9)) return SL_SCOPE_AGENT; /* the agent routes and /v1/agents */
  return SL_SCOPE_CATALOG; /* regions, latency, accelerators, capacity, exchange settings */
}

/* Contract: true when r (authenticated, routed) may run under its token's scopes. */
bool sl_scope_allows(const sl_req *r) {
  unsigned s = r->who.scopes;
  if (s == 0 || !r->route) return true;
  if (!strcmp(r->route->path, "/v1/me")) return true;
  if ((s & SL_SCOPE_READ) && !strcmp(r->route->method, "GET")) return true;
  return (s & route_group(r->route)) != 0;
}
