/* work.c — carrying out one leased work item with the local scheduler, as its pool's agent
 * configuration says (config.mode): "slurm" runs the exchange's own Slurm code
 * (src/sched/slurm.c: suanli-res-<reservation id>, found again by name on a retry); "host"
 * keeps the reservation in this host's file (host.c).  Both are idempotent by reservation id,
 * so an item handed out again after a lease ran out is never done twice.  An ok reserve seals
 * the tenant's access details to the tenant's X25519 key (libsodium crypto_box_seal) when the
 * item carries one and this agent was told what to give (--access-host, --login-node): the
 * plaintext exists only inside seal_access(). */
#include "agent.h"
#include "suanli/core/timeutil.h"
#include "suanli/sched/slurm.h"
#include <sodium.h>
#include <stdio.h>
#include <string.h>

static const char *str(const json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

static int64_t num(const json_t *o, const char *k) {
  return json_integer_value(json_object_get(o, k));
}

static void refuse(ax_outcome *o, const char *why) {
  o->outcome = "terminal";
  snprintf(o->error, sizeof o->error, "%s", why);
}

/* Seal details (a JSON object, stolen) to the tenant's key (64 hex) into out. */
static void seal_access(json_t *details, const char *key_hex, ax_outcome *out) {
  uint8_t pk[crypto_box_PUBLICKEYBYTES];
  size_t pkl = 0;
  char *plain = json_dumps(details, JSON_COMPACT);
  json_decref(details);
  if (plain && strlen(key_hex) == 64 &&
      sodium_hex2bin(pk, sizeof pk, key_hex, 64, NULL, &pkl, NULL) == 0 && pkl == sizeof pk) {
    size_t n = strlen(plain), bl = n + crypto_box_SEALBYTES;
    uint8_t *box = malloc(bl);
    if (box && bl <= 16384 && crypto_box_seal(box, (const uint8_t *)plain, n, pk) == 0 &&
        sodium_base64_ENCODED_LEN(bl, sodium_base64_VARIANT_ORIGINAL) <= sizeof out->sealed) {
      sodium_bin2base64(out->sealed, sizeof out->sealed, box, bl, sodium_base64_VARIANT_ORIGINAL);
      snprintf(out->sealed_to, sizeof out->sealed_to, "%s", key_hex);
    }
    free(box);
  }
  if (plain) {
    sodium_memzero(plain, strlen(plain));
    free(plain);
  }
}

/* The access details this agent gives for a reservation, or NULL when it was told none. */
static json_t *details(const ax_site *s, const json_t *item, bool slurm, const json_t *cfg,
                       const char *ref) {
  if (!s->access_host && !(slurm && s->login_node)) return NULL;
  json_t *d = json_pack("{s:s,s:s,s:I,s:s,s:s}", "kind", slurm ? "ssh+slurm" : "ssh", "reservation",
                        ref, "gpus", (json_int_t)num(item, "gpus"), "start",
                        str(item, "start") ?: "", "end", str(item, "end") ?: "");
  const char *host = s->access_host ? s->access_host : s->login_node;
  json_object_set_new(d, "ssh",
                      json_pack("{s:s,s:i,s:s}", "host", host, "port",
                                s->access_port ? s->access_port : 22, "user",
                                s->access_user ? s->access_user : "root"));
  if (slurm)
    json_object_set_new(d, "slurm",
                        json_pack("{s:s,s:s,s:s}", "reservation", ref, "partition",
                                  str(cfg, "partition") ?: "", "login_node",
                                  s->login_node ?: host));
  return d;
}

void ax_work_run(const ax_site *s, const json_t *item, ax_outcome *out) {
  memset(out, 0, sizeof *out);
  const json_t *cfg = json_object_get(item, "config");
  const char *action = str(item, "action") ?: "", *mode = str(cfg, "mode") ?: "host";
  bool reserve = strcmp(action, "reserve") == 0, slurm = strcmp(mode, "slurm") == 0;
  int64_t start = 0, end = 0, id = num(item, "reservation_id");
  if (!sl_time_parse(str(item, "start") ?: "", &start) ||
      !sl_time_parse(str(item, "end") ?: "", &end) || id < 1 ||
      (!reserve && strcmp(action, "cancel") != 0)) {
    refuse(out, "this agent cannot read the work item (bad start, end, id or action)");
    return;
  }
  if (slurm) {
    sl_sched_slurm t = {str(cfg, "partition"), str(cfg, "user"), str(cfg, "cluster")};
    sl_sched_res r = {id, start, end, (int32_t)num(item, "nodes")};
    sl_sched_rc rc = reserve ? sl_sched_slurm_reserve(&t, &r, out->ref, sizeof out->ref, out->error,
                                                      sizeof out->error)
                             : sl_sched_slurm_cancel(&t, &r, out->error, sizeof out->error);
    out->outcome = rc == SL_SCHED_OK ? "ok" : rc == SL_SCHED_RETRY ? "retry" : "terminal";
  } else if (strcmp(mode, "host") == 0) {
    char why[300] = "";
    ax_host_rc rc = reserve ? ax_host_reserve(s->state_dir, id, start, end, (int)num(item, "gpus"),
                                              s->host_gpus, why, sizeof why)
                            : ax_host_cancel(s->state_dir, id, why, sizeof why);
    out->outcome = rc == AX_HOST_OK ? "ok" : rc == AX_HOST_IO ? "retry" : "terminal";
    snprintf(out->error, sizeof out->error, "%s", why);
    if (rc == AX_HOST_OK && reserve)
      snprintf(out->ref, sizeof out->ref, "host-res-%lld", (long long)id);
  } else {
    char why[120];
    snprintf(why, sizeof why, "this agent has no mode '%.40s'", mode);
    refuse(out, why);
    return;
  }
  if (strcmp(out->outcome, "ok") == 0) {
    out->error[0] = '\0';
    const char *key = str(item, "tenant_access_key");
    json_t *d = reserve && key ? details(s, item, slurm, cfg, out->ref) : NULL;
    if (d) seal_access(d, key, out);
  }
}
