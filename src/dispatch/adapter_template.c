/* adapter_template.c — the adapter contract, written out op by op; start a new adapter here.
 *
 * It does nothing a pool could use: it is compiled (so that it keeps matching the interface)
 * and exercised by tests/unit/test_dispatch_adapters.c, but it is not in the registry of
 * adapters.c, so no pool can name it.  (adapter_sim.c is a simulator, not a template: it
 * keeps its state in the exchange's own database and injects faults for the tests.)
 *
 * An adapter is one registry entry {kind, validate, ops} (include/suanli/dispatch/adapter.h):
 *
 *   validate  runs when a provider registers or changes a pool (src/http, inside the request)
 *   reserve   runs in a dispatcher worker for a "reserve" job, outside any transaction
 *   cancel    likewise for a "cancel" job (the tenant cancelled, or the trade failed over)
 *   status    reads back what the pool's system holds (diagnostics; not called by the
 *             dispatcher today)
 *
 * Rules for every operation:
 *   - Idempotent by reservation id (c->reservation_id).  The dispatcher calls again after a
 *     lost reply, a crash, or a lease that ran out (LEASE_S, 30 s: a second worker may then
 *     call while the first still runs), so a retry must find what an earlier call did and
 *     answer as if it had made it: never a second reservation on the pool.  Name things on
 *     the pool's system after the reservation id (Slurm: "suanli-res-<id>"; webhook:
 *     the Idempotency-Key "reservation-<id>").
 *   - Answer one of three:
 *       SL_ADAPTER_OK        done (or already done);
 *       SL_ADAPTER_RETRY     transient — timeout, connection refused, 408/429/5xx, a lost
 *                            reply, the system busy for a moment: called again with capped
 *                            exponential backoff and jitter until the job's deadline;
 *       SL_ADAPTER_TERMINAL  refused for good — bad configuration, not enough nodes, an
 *                            address the operator's policy forbids: for a reserve the
 *                            reservation fails and the tenant is refunded in full.
 *     When unsure, RETRY: the deadline turns a retry that never succeeds into a failure.
 *   - On RETRY and TERMINAL write a short English reason into err (stored in the job's
 *     last_error and shown to operators): no secrets, no access details.
 *   - Bounded in time: well under LEASE_S (the webhook waits at most 20 s, scontrol 15 s).
 *   - Thread-safe: several workers call at once, for different reservations (and, after a
 *     lease ran out, for the same one).  No unlocked globals.
 *   - Talk to the pool's system only.  Never to the exchange's database: the dispatcher
 *     records every outcome itself, in its own transaction (the simulator is the exception
 *     that proves it: it plays an external system).
 */
#include "internal.h"
#include <stdio.h>
#include <string.h>

/* validate: decode the configuration with sl_json_decode, prefixing field names with
 * SL_ADAPTER_CFG so errors name "adapter.config.<field>".  It must refuse: unknown fields
 * (sl_json_decode does), missing required ones, wrong types, values out of range, and any
 * string that reaches a command line, a URL or a query unescaped but could change its
 * meaning (see the Slurm names, the webhook URL's credentials).  Pure: no I/O, no DNS —
 * what needs the network (the webhook's address guard) is a separate check of the handler.
 * The same configuration arrives, already validated, as c->config in every call. */
bool sl_adapter_template_validate(const json_t *cfg, sl_jerr *err) {
  const char *site = NULL;
  const sl_jfield f[] = {
      /* an example: the name of the site on the pool's system, 1 to 64 bytes */
      {"site", SL_JT_STRING, false, &site, NULL, 1, 64, NULL},
  };
  if (!sl_json_decode(cfg, f, sizeof f / sizeof f[0], SL_ADAPTER_CFG, err)) return false;
  if (site && site[strspn(site, "abcdefghijklmnopqrstuvwxyz0123456789-")])
    return sl_jerr_set(err, SL_E_INVALID_VALUE, SL_ADAPTER_CFG "site",
                       "may contain only lowercase letters, digits and '-'");
  return true;
}

/* reserve: hold c->gpus GPUs (c->nodes whole nodes of c->gpus_per_node) of the pool from
 * c->start to c->end (epoch seconds, [start, end)) for c->reservation_id.  On OK write into
 * ref (reflen bytes, NUL-terminated) the pool system's name for it — the same name on every
 * retry; the exchange shows it as the reservation's external_ref.
 *
 * Access details (api/ACCESS.md): when c->access_key is not NULL (the tenant's X25519 public
 * key, 64 hex digits) and the adapter can give the tenant access (a login node, a user, a
 * one-time password ...), seal them to that key with libsodium's crypto_box_seal, base64
 * (standard, padded) the box into c->access_out (c->access_out_len bytes, at most
 * SL_ACCESS_SEALED_MAX bytes before base64) and zero the plaintext; the dispatcher stores the
 * box with the outcome.  Leave access_out empty when there are none; never write the
 * plaintext anywhere else (not in ref, err or a log).  adapter_sim.c's sim_access() is a
 * worked example. */
static sl_adapter_rc template_reserve(const sl_adapter_call *c, char *ref, size_t reflen, char *err,
                                      size_t errlen) {
  if (c->nodes < 1) {
    snprintf(err, errlen, "no nodes requested"); /* a refusal that no retry can change */
    return SL_ADAPTER_TERMINAL;
  }
  /* Derived from the reservation id alone: a retry gets the same name. */
  snprintf(ref, reflen, "template-%lld", (long long)c->reservation_id);
  if (c->access_out && c->access_out_len) c->access_out[0] = '\0'; /* no access details */
  return SL_ADAPTER_OK;
}

/* cancel: release what reserve made for c->reservation_id.  Cancelling a reservation the
 * pool's system does not know is OK (the reserve may never have arrived, or an earlier
 * cancel did it already).  A cancel never starts while the reservation's reserve runs (with
 * a live lease), and a reserve still queued when its reservation is cancelled is skipped;
 * a reserve can still arrive after the cancel when its lease ran out mid-call, so a system
 * that remembers cancelled ids should refuse that reserve (TERMINAL), as the simulator
 * does. */
static sl_adapter_rc template_cancel(const sl_adapter_call *c, char *err, size_t errlen) {
  return SL_ADAPTER_OK;
}

/* status: the pool system's state of c->reservation_id in state (len bytes): "reserved",
 * "absent", or "unknown" when the system cannot tell.  Reads only. */
static sl_adapter_rc template_status(const sl_adapter_call *c, char *state, size_t len, char *err,
                                     size_t errlen) {
  snprintf(state, len, "unknown");
  return SL_ADAPTER_OK;
}

const sl_adapter_ops sl_adapter_template_ops = {template_reserve, template_cancel, template_status};
