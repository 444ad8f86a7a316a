/* routes.c — the one route table: method, path, handler, roles, audit action, and the
 * query parameters the route accepts (any other is a 400 before the handler runs).
 * Keep api/openapi.yaml and src/http/README.md in step: tests/contract checks that this
 * table and the spec list the same routes with the same roles. */
#include "internal.h"

#define ANY      SL_ROLE_ANY
#define ADMIN    SL_ROLE_ADMIN
#define TENANT   SL_ROLE_TENANT
#define PROVIDER SL_ROLE_PROVIDER
#define PUBLIC   SL_ROLE_PUBLIC
#define SELF     SL_ROLE_ANY /* admin, or the account itself: checked in the handler */

#define Q(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NOQ    ((const char *const[]){NULL})
#define PAGE   "after", "limit"

const sl_route sl_routes[] = {
    {"GET", "/healthz", h_healthz, PUBLIC, NULL, NOQ},
    {"GET", "/readyz", h_readyz, PUBLIC, NULL, NOQ},
    {"GET", "/v1/me", h_me, ANY, NULL, NOQ},
    {"POST", "/v1/accounts", h_accounts_create, ADMIN, "account.create", NOQ},
    {"GET", "/v1/accounts", h_accounts_list, ADMIN, NULL, Q("kind", PAGE)},
    {"GET", "/v1/accounts/{id}", h_accounts_get, SELF, NULL, NOQ},
    {"POST", "/v1/accounts/{id}/tokens", h_tokens_create, SELF, "token.create", NOQ},
    {"GET", "/v1/accounts/{id}/tokens", h_tokens_list, SELF, NULL, Q(PAGE)},
    {"DELETE", "/v1/tokens/{id}", h_tokens_revoke, SELF, "token.revoke", NOQ},
    {"GET", "/v1/tokens", h_tokens_long_lived, ADMIN, NULL, Q("expires_after", "never", PAGE)},
    {"GET", "/v1/accounts/{id}/limits", h_account_limits_get, SELF, NULL, NOQ},
    {"PUT", "/v1/accounts/{id}/limits", h_account_limits_set, ADMIN, "account.limits.set", NOQ},
    {"GET", "/v1/accounts/{id}/balances", h_balances_get, SELF, NULL, NOQ},
    {"GET", "/v1/accounts/{id}/postings", h_postings_list, SELF, NULL, Q(PAGE)},
    {"POST", "/v1/accounts/{id}/deposits", h_deposits_create, ADMIN, "money.deposit", NOQ},
    {"POST", "/v1/accounts/{id}/withdrawals", h_withdrawals_create, SELF, "money.withdraw", NOQ},
    {"PUT", "/v1/accounts/{id}/budget", h_budget_set, SELF, "budget.set", NOQ},
    {"GET", "/v1/regions", h_regions_list, ANY, NULL, Q("tier", PAGE)},
    {"POST", "/v1/regions", h_regions_create, ADMIN, "region.create", NOQ},
    {"GET", "/v1/regions/{code}", h_regions_get, ANY, NULL, NOQ},
    {"PATCH", "/v1/regions/{code}", h_regions_update, ADMIN, "region.update", NOQ},
    {"GET", "/v1/latency", h_latency_list, ANY, NULL, Q("from", "to")},
    {"PUT", "/v1/latency", h_latency_set, ADMIN, "latency.set", NOQ},
    {"GET", "/v1/latency/model", h_latency_model, ANY, NULL, NOQ},
    {"GET", "/v1/accelerators", h_accelerators_list, ANY, NULL, NOQ},
    {"GET", "/v1/accelerators/{id}", h_accelerators_get, ANY, NULL, NOQ},
    {"GET", "/v1/accelerator-aliases", h_aliases_list, ANY, NULL, NOQ},
    {"GET", "/v1/accelerator-proposals", h_proposals_list, PROVIDER | ADMIN, NULL,
     Q("state", PAGE)},
    {"POST", "/v1/accelerator-proposals", h_proposals_create, PROVIDER, "accelerator.propose", NOQ},
    {"GET", "/v1/accelerator-proposals/{id}", h_proposals_get, PROVIDER | ADMIN, NULL, NOQ},
    {"DELETE", "/v1/accelerator-proposals/{id}", h_proposals_withdraw, PROVIDER,
     "accelerator.withdraw", NOQ},
    {"POST", "/v1/accelerator-proposals/{id}/approve", h_proposals_approve, ADMIN,
     "accelerator.approve", NOQ},
    {"POST", "/v1/accelerator-proposals/{id}/reject", h_proposals_reject, ADMIN,
     "accelerator.reject", NOQ},
    {"GET", "/v1/capacity/formula", h_formula_get, ANY, NULL, NOQ},
    {"PUT", "/v1/capacity/weights", h_weights_set, ADMIN, "capacity.weights.set", NOQ},
    {"GET", "/v1/pools", h_pools_list, ANY, NULL,
     Q("region", "accelerator", "min_memory_gb", "min_ncu", "status", "owner", PAGE)},
    {"POST", "/v1/pools", h_pools_create, PROVIDER, "pool.create", NOQ},
    {"GET", "/v1/pools/{id}", h_pools_get, ANY, NULL, NOQ},
    {"PATCH", "/v1/pools/{id}", h_pools_update, PROVIDER, "pool.update", NOQ},
    {"DELETE", "/v1/pools/{id}", h_pools_retire, PROVIDER, "pool.retire", NOQ},
    {"POST", "/v1/pools/{id}/heartbeat", h_pools_heartbeat, PROVIDER, "pool.heartbeat", NOQ},
    {"GET", "/v1/offers", h_offers_list, ANY, NULL,
     Q("accelerator", "region", "min_gpus", "min_price", "max_price", "max_price_per_ncu",
       "min_ncu", "min_memory_gb", "origin", "max_rtt_ms", "start", "duration", "sort", PAGE)},
    {"POST", "/v1/quotes", h_quotes_create, TENANT, NULL, /* a read: no audit row */
     Q("limit", "rejected", "rejected_after", "rejected_limit")},
    {"GET", "/v1/market/book", h_market_book, ADMIN, NULL, Q("verify")},
    {"POST", "/v1/orders", h_orders_create, TENANT, "order.create", NOQ},
    {"GET", "/v1/orders", h_orders_list, TENANT | ADMIN, NULL, Q("state", PAGE)},
    {"GET", "/v1/orders/{id}", h_orders_get, TENANT | ADMIN, NULL, NOQ},
    {"DELETE", "/v1/orders/{id}", h_orders_cancel, TENANT | ADMIN, "order.cancel", NOQ},
    {"GET", "/v1/trades", h_trades_list, ANY, NULL, Q("order", PAGE)},
    {"GET", "/v1/trades/{id}", h_trades_get, ANY, NULL, NOQ},
    {"POST", "/v1/trades/{id}/cancel", h_trades_cancel, TENANT | ADMIN, "trade.cancel", NOQ},
    {"GET", "/v1/trades/{id}/receipt", h_trades_receipt, ANY, NULL, NOQ},
    {"GET", "/v1/trades/{id}/access", h_trade_access, TENANT | ADMIN, NULL, NOQ},
    {"GET", "/v1/trades/{id}/events", h_trade_events, ANY, NULL, NOQ},
    {"PUT", "/v1/me/access-key", h_access_key_set, TENANT, "access_key.set", NOQ},
    {"GET", "/v1/me/access-key", h_access_key_get, TENANT, NULL, NOQ},
    {"GET", "/v1/keys", h_keys_list, PUBLIC, NULL, NOQ},
    {"GET", "/v1/ledger/checkpoint", h_checkpoint_latest, ANY, NULL, NOQ},
    {"GET", "/v1/ledger/checkpoints", h_checkpoints_list, ANY, NULL, Q(PAGE)},
    {"GET", "/v1/ledger/checkpoints/{size}", h_checkpoint_get, ANY, NULL, NOQ},
    {"POST", "/v1/ledger/checkpoints/{size}/cosignatures", h_cosignatures_submit, ANY,
     "ledger.cosign", NOQ},
    {"GET", "/v1/ledger/witnesses", h_witnesses_list, ANY, NULL, NOQ},
    {"POST", "/v1/ledger/witnesses", h_witnesses_create, ADMIN, "ledger.witness.add", NOQ},
    {"GET", "/v1/ledger/audit", h_ledger_audit_latest, ANY, NULL, NOQ},
    {"GET", "/v1/ledger/consistency", h_consistency, ANY, NULL, Q("from", "to")},
    {"GET", "/v1/ledger/entries", h_ledger_entries, ANY, NULL, Q("from", "limit")},
    {"GET", "/v1/ledger/entries/{id}", h_ledger_entry, ANY, NULL, NOQ},
    {"POST", "/v1/periods", h_periods_create, ADMIN, "period.close", NOQ},
    {"GET", "/v1/periods", h_periods_list, ANY, NULL, NOQ},
    {"GET", "/v1/periods/{id}", h_periods_get, ANY, NULL, NOQ},
    {"GET", "/v1/periods/{id}/statements/{account}", h_statement_get, SELF, NULL, Q("format")},
    {"GET", "/v1/periods/{id}/export", h_period_export, ADMIN, NULL, Q("format")},
    {"GET", "/v1/periods/{id}/regions", h_period_regions, ADMIN | SL_ROLE_OPERATOR, NULL,
     Q("format")},
    {"GET", "/v1/exchange/settings", h_settings_get, ANY, NULL, NOQ},
    {"PUT", "/v1/exchange/settings", h_settings_set, ADMIN, "exchange.settings.set", NOQ},
    {"GET", "/v1/audit", h_audit_list, ADMIN, NULL, Q("account", PAGE)},
    /* the agent adapter: providers' agents pull their pools' work (h_agent.c) */
    {"POST", "/v1/agent/work", h_agent_work, PROVIDER, "agent.lease", NOQ},
    {"POST", "/v1/agent/work/{id}/result", h_agent_result, PROVIDER, "agent.result", NOQ},
    {"GET", "/v1/agents", h_agents_list, PROVIDER | ADMIN, NULL, Q(PAGE)},
    /* dashboard, market view and metrics (h_stats.c, h_metrics.c, h_ui.c) */
    {"GET", "/v1/stats/regions", h_stats_regions, ADMIN | SL_ROLE_OPERATOR, NULL, Q("region")},
    {"GET", "/v1/stats/utilization", h_stats_utilization, ADMIN | SL_ROLE_OPERATOR, NULL,
     Q("region", "hours")},
    {"GET", "/v1/stats/health", h_stats_health, ADMIN | SL_ROLE_OPERATOR | PROVIDER, NULL, NOQ},
    {"GET", "/v1/stats/dispatch", h_stats_dispatch, ADMIN | SL_ROLE_OPERATOR, NULL, NOQ},
    {"GET", "/v1/market/offers", h_market_offers, ANY, NULL, Q("accelerator", "region", "limit")},
    {"GET", "/v1/market/prices", h_market_prices, ANY, NULL, Q("accelerator", "region", "days")},
    {"GET", "/v1/market/last", h_market_last, ANY, NULL, NOQ},
    {"GET", "/metrics", h_metrics, ADMIN | SL_ROLE_OPERATOR, NULL, NOQ},
    {"GET", "/ui", h_ui_index, PUBLIC, NULL, NOQ},
    {"GET", "/ui/{asset}", h_ui_asset, PUBLIC, NULL, NOQ},
};
const size_t sl_routes_count = sizeof sl_routes / sizeof sl_routes[0];

static const char *role_names[] = {"public", "admin", "operator", "provider", "tenant"};

void sl_http_print_routes(FILE *out) {
  for (size_t i = 0; i < sl_routes_count; i++) {
    fprintf(out, "%s %s ", sl_routes[i].method, sl_routes[i].path);
    const char *sep = "";
    for (unsigned b = 0; b < 5; b++)
      if (sl_routes[i].roles & (1u << b)) {
        fprintf(out, "%s%s", sep, role_names[b]);
        sep = ",";
      }
    fputc('\n', out);
  }
}
