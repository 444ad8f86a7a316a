/* routes.c — the one route table.  Keep api/openapi.yaml and src/http/README.md in step:
 * tests/contract checks that this table and the spec list the same routes. */
#include "internal.h"

#define ANY SL_ROLE_ANY
#define ADMIN SL_ROLE_ADMIN
#define SELF (SL_ROLE_ANY) /* self-or-admin is checked in the handler */

const sl_route sl_routes[] = {
    {"GET", "/healthz", h_healthz, SL_ROLE_PUBLIC, NULL},
    {"GET", "/readyz", h_readyz, SL_ROLE_PUBLIC, NULL},
    {"GET", "/v1/me", h_me, ANY, NULL},
    {"POST", "/v1/accounts", h_accounts_create, ADMIN, "account.create"},
    {"GET", "/v1/accounts", h_accounts_list, ADMIN, NULL},
    {"GET", "/v1/accounts/{id}", h_accounts_get, SELF, NULL},
    {"POST", "/v1/accounts/{id}/tokens", h_tokens_create, SELF, "token.create"},
    {"GET", "/v1/accounts/{id}/tokens", h_tokens_list, SELF, NULL},
    {"DELETE", "/v1/tokens/{id}", h_tokens_revoke, SELF, "token.revoke"},
    {"GET", "/v1/regions", h_regions_list, ANY, NULL},
    {"POST", "/v1/regions", h_regions_create, ADMIN, "region.create"},
    {"GET", "/v1/regions/{code}", h_regions_get, ANY, NULL},
    {"GET", "/v1/latency", h_latency_list, ANY, NULL},
    {"PUT", "/v1/latency", h_latency_set, ADMIN, "latency.set"},
    {"GET", "/v1/accelerators", h_accelerators_list, ANY, NULL},
    {"GET", "/v1/accelerators/{id}", h_accelerators_get, ANY, NULL},
    {"GET", "/v1/capacity/formula", h_formula_get, ANY, NULL},
    {"PUT", "/v1/capacity/weights", h_weights_set, ADMIN, "capacity.weights.set"},
    {"GET", "/v1/pools", h_pools_list, ANY, NULL},
    {"POST", "/v1/pools", h_pools_create, SL_ROLE_PROVIDER, "pool.create"},
    {"GET", "/v1/pools/{id}", h_pools_get, ANY, NULL},
    {"PATCH", "/v1/pools/{id}", h_pools_update, SL_ROLE_PROVIDER, "pool.update"},
    {"DELETE", "/v1/pools/{id}", h_pools_retire, SL_ROLE_PROVIDER, "pool.retire"},
    {"POST", "/v1/pools/{id}/heartbeat", h_pools_heartbeat, SL_ROLE_PROVIDER, "pool.heartbeat"},
    {"GET", "/v1/audit", h_audit_list, ADMIN, NULL},
};
const size_t sl_routes_count = sizeof sl_routes / sizeof sl_routes[0];
