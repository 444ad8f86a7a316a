/* dispatch.h — carrying reservations out on the owners' systems (src/dispatch/).
 *
 * Every adapter is a table of operations behind one interface.  An operation gets the
 * reservation (its id is the idempotency key: a retry after a lost reply must never create
 * a second reservation on the pool) and answers OK, RETRY (transient: timeout, 5xx,
 * connection refused — tried again with capped exponential backoff and jitter until the
 * job's deadline) or TERMINAL (the pool refused for good: bad configuration, not enough
 * nodes — the reservation fails and the tenant is refunded).
 *
 * Writing a new adapter: start from adapter_template.c (the contract, op by op), give it a
 * line in the registry of adapters.c (adapter.h) and a value of ADAPTER_KIND in
 * api/vocab.def; src/dispatch/README.md lists the rest. */
#ifndef SUANLI_DISPATCH_H
#define SUANLI_DISPATCH_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { SL_ADAPTER_OK, SL_ADAPTER_RETRY, SL_ADAPTER_TERMINAL } sl_adapter_rc;

typedef struct sl_adapter_call {
  int64_t reservation_id, trade_id, pool_id, tenant_id;
  int64_t start, end; /* epoch seconds, [start, end) */
  int32_t gpus, gpus_per_node;
  int32_t nodes; /* ceil(gpus / gpus_per_node) */
  const char *region, *accelerator;
  const json_t *config; /* the pool's adapter configuration (validated) */
  /* Access to what was bought (api/ACCESS.md): the tenant's X25519 public key (64 hex
   * digits) or NULL; reserve may write the access details into access_out, sealed to that
   * key (crypto_box_seal) and base64-encoded, NUL-terminated; left empty when it has none. */
  const char *access_key;
  char *access_out;
  size_t access_out_len;
} sl_adapter_call;

/* Longest sealed box the exchange stores (bytes, before base64), and its base64 size. */
#define SL_ACCESS_SEALED_MAX 16384
#define SL_ACCESS_B64_MAX    (SL_ACCESS_SEALED_MAX / 3 * 4 + 8)

typedef struct sl_adapter_ops {
  /* Set *ref (an identifier on the pool's system) on OK. */
  sl_adapter_rc (*reserve)(const sl_adapter_call *c, char *ref, size_t reflen, char *err,
                           size_t errlen);
  /* Cancelling an unknown reservation is OK (idempotent). */
  sl_adapter_rc (*cancel)(const sl_adapter_call *c, char *err, size_t errlen);
  /* Read back the state on the pool's system ("reserved", "absent", ...). */
  sl_adapter_rc (*status)(const sl_adapter_call *c, char *state, size_t len, char *err,
                          size_t errlen);
} sl_adapter_ops;

/* The operations of kind, from the registry (adapter.h), or NULL. */
const sl_adapter_ops *sl_adapter_find(const char *kind);

/* The simulated cluster keeps its own state in the database through its own connections
 * (an external system from the exchange's point of view); call once before dispatching. */
bool sl_adapter_sim_init(const char *conninfo);
void sl_adapter_sim_fini(void);

/* Webhook signing: the exchange's key signs each webhook body (set once at start-up).
 * Returns false when no key is available. */
typedef bool (*sl_dispatch_signer)(const uint8_t *body, size_t len, uint8_t sig[64],
                                   char key_id[17]);
void sl_dispatch_set_signer(sl_dispatch_signer fn);
/* The webhook adapter's operator policy, set once before the dispatcher starts (the strings
 * must outlive it): allow, comma-separated CIDR ranges a webhook may reach besides public
 * addresses (SUANLI_WEBHOOK_ALLOW; NULL/empty: public only — loopback, private and
 * link-local are refused); ca, a CA bundle file for https webhooks (SUANLI_WEBHOOK_CA; NULL:
 * the system's). */
void sl_adapter_webhook_configure(const char *allow, const char *ca);
/* The webhook address policy (see adapter_webhook.c); family AF_INET or AF_INET6. */
bool sl_webhook_address_allowed(int family, const uint8_t *addr);
/* Registration-time check of a webhook URL: resolve its host, check every address (and the
 * plain-http rule); false with an English reason in why when refused. */
bool sl_webhook_url_allowed(const char *url, char *why, size_t whylen);

/* Dispatcher workers: claim due jobs with FOR UPDATE SKIP LOCKED, call the adapter, record
 * the outcome; woken by NOTIFY suanli_dispatch, polling once a second as a fallback. */
typedef struct sl_dispatcher sl_dispatcher;
sl_dispatcher *sl_dispatcher_start(const char *conninfo, int threads);
void sl_dispatcher_stop(sl_dispatcher *d);

/* Backoff before retry number `attempt` (1-based): min(cap, base * 2^(attempt-1)) scaled by
 * a jitter factor in [0.5, 1.5).  Pure: jitter01 is a uniform number in [0, 1). */
double sl_dispatch_backoff_s(int attempt, double base_s, double cap_s, double jitter01);

#endif
