/* main.c — suanli-agent: the provider's side of the `agent` adapter (README.md).
 *
 *   suanli-agent discover   read the GPUs (nvidia-smi -q -x), judge their health, map them to
 *                           the exchange's accelerator catalog; print JSON
 *   suanli-agent register   register a pool of this host's GPUs (or update --pool's count)
 *   suanli-agent run        pull the pools' work, carry it out, report it; heartbeats; RTT
 *
 * The token comes from SUANLI_TOKEN or --token-file (never the command line, which other
 * users of the host can read); the exchange from --url or SUANLI_URL. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "agent.h"
#include "nvsmi.h"
#include "suanli/core/log.h"
#include "suanli/core/timeutil.h"
#include "suanli/sched/slurm.h"

extern char **environ;

#define MAX_POOLS        64
#define MAX_PROBES       16
#define NVSMI_TIMEOUT_MS 30000
#define RTT_SAMPLES      5
#define HB_STALE_ROUNDS  3 /* Slurm unreadable: the last count stands for this many heartbeats */

typedef struct cfg {
  const char *url, *token, *name, *status_file, *nvsmi_xml, *nvsmi_cmd, *xid_log;
  int64_t pools[MAX_POOLS];
  int npools;
  /* run: the exchange's regional probe endpoints (--probe REGION=URL) */
  const char *probe_region[MAX_PROBES], *probe_url[MAX_PROBES];
  int nprobes;
  long wait_s, lease_s, max, heartbeat_s, rtt_every_s;
  bool once;
  ax_site site;
  /* register */
  const char *region, *price, *pool_name, *mode, *partition, *cluster, *user, *until;
  const char *propose; /* register: the datasheet URL of an unknown model to propose */
  int64_t pool;
} cfg;

/* ------------------------------------------------------------------------------ helpers */

static void log_kv(sl_log_level lvl, const char *msg, const char *k, const char *v) {
  sl_log(lvl, msg, json_pack("{s:s}", k, v ? v : ""));
}

static char *read_all_fd(int fd, size_t max, int timeout_ms, size_t *len) {
  size_t cap = 65536, used = 0;
  char *b = malloc(cap);
  int64_t deadline = sl_time_now_us() + (int64_t)timeout_ms * 1000;
  while (b) {
    int left = (int)((deadline - sl_time_now_us()) / 1000);
    struct pollfd p = {fd, POLLIN, 0};
    if (left <= 0 || poll(&p, 1, left) <= 0) {
      free(b);
      return NULL;
    }
    if (used + 65536 > cap) {
      char *nb = cap * 2 <= max ? realloc(b, cap * 2) : NULL;
      if (!nb) {
        free(b);
        return NULL;
      }
      b = nb;
      cap *= 2;
    }
    ssize_t k = read(fd, b + used, cap - used - 1);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    used += (size_t)k;
  }
  if (b) b[used] = '\0';
  *len = used;
  return b;
}

static char *read_file(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  char *b = read_all_fd(fd, 64u << 20, 10000, len);
  close(fd);
  return b;
}

/* stdout of `cmd -q -x` (nvidia-smi), bounded in time; NULL with why. */
static char *run_nvsmi(const char *cmd, size_t *len, char *why, size_t whylen) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return NULL;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  char *const argv[] = {(char *)cmd, "-q", "-x", NULL};
  pid_t pid;
  int rc = posix_spawnp(&pid, cmd, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    snprintf(why, whylen, "cannot run %s: %s", cmd, strerror(rc));
    close(fds[0]);
    return NULL;
  }
  char *out = read_all_fd(fds[0], 64u << 20, NVSMI_TIMEOUT_MS, len);
  close(fds[0]);
  if (!out) kill(pid, SIGKILL);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  if (!out || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    snprintf(why, whylen, "%s -q -x %s", cmd, out ? "failed" : "timed out");
    free(out);
    return NULL;
  }
  return out;
}

/* Read the GPUs (from --nvidia-smi-xml, else by running nvidia-smi) and the XIDs of
 * --xid-log.  false with why. */
static bool discover(const cfg *c, nv_report *r, char *why, size_t whylen) {
  size_t len = 0;
  char *xml =
      c->nvsmi_xml ? read_file(c->nvsmi_xml, &len) : run_nvsmi(c->nvsmi_cmd, &len, why, whylen);
  if (!xml) {
    if (c->nvsmi_xml) snprintf(why, whylen, "cannot read %s: %s", c->nvsmi_xml, strerror(errno));
    return false;
  }
  bool ok = nv_parse(xml, len, r, why, whylen);
  free(xml);
  if (ok && c->xid_log) {
    char *log = read_file(c->xid_log, &len);
    if (log) nv_apply_xid(r, log);
    free(log);
  }
  return ok;
}

/* The exchange's catalog as nv_model rows (borrowing from *doc, which the caller frees). */
static nv_model *catalog(ax_http *h, json_t **doc, size_t *n, char *why, size_t whylen) {
  ax_resp r;
  *doc = NULL;
  *n = 0;
  if (!ax_http_call(h, "GET", "/v1/accelerators", NULL, NULL, 30, &r) || r.status != 200) {
    snprintf(why, whylen, "the accelerator catalog: %s", r.error);
    ax_resp_free(&r);
    return NULL;
  }
  json_t *items = json_object_get(r.body, "items");
  nv_model *m = calloc(json_array_size(items) + 1, sizeof *m);
  size_t i;
  json_t *a;
  json_array_foreach(items, i, a) {
    m[*n] = (nv_model){json_string_value(json_object_get(a, "id")),
                       json_string_value(json_object_get(a, "model")),
                       json_string_value(json_object_get(a, "variant")),
                       json_string_value(json_object_get(a, "vendor")),
                       (int)json_integer_value(json_object_get(a, "memory_gb"))};
    (*n)++;
  }
  *doc = r.body;
  return m;
}

static json_t *report_json(const nv_report *r, const nv_model *cat, size_t ncat) {
  json_t *gpus = json_array();
  for (int i = 0; i < r->count; i++) {
    const nv_gpu *g = &r->gpus[i];
    char why[200] = "";
    const char *id = cat ? nv_match(g, cat, ncat, why, sizeof why) : NULL;
    json_t *o = json_pack(
        "{s:s,s:s,s:s,s:s,s:I,s:i,s:I,s:I,s:I,s:I,s:b,s:I,s:b,s:b,s:s,s:s,s:i,s:b,s:s}", "bus_id",
        g->bus_id, "uuid", g->uuid, "product", g->product, "architecture", g->architecture,
        "memory_mib", (json_int_t)g->memory_mib, "utilization_pct", g->util_pct,
        "ecc_volatile_uncorrectable", (json_int_t)g->ecc_volatile_uncorrectable,
        "ecc_volatile_correctable", (json_int_t)g->ecc_volatile_correctable,
        "ecc_aggregate_uncorrectable", (json_int_t)g->ecc_aggregate_uncorrectable, "retired_pages",
        (json_int_t)g->retired_pages, "retirement_pending", g->retirement_pending,
        "remapped_rows_uncorrectable", (json_int_t)g->remapped_rows_unc, "remap_pending",
        g->remap_pending, "remap_failure", g->remap_failure, "recovery_action", g->recovery_action,
        "fabric_health", g->fabric_health, "xid", g->xid, "healthy", g->healthy, "why", g->why);
    if (cat) {
      json_object_set_new(o, "accelerator", id ? json_string(id) : json_null());
      if (!id) json_object_set_new(o, "unknown", json_string(why));
    }
    json_array_append_new(gpus, o);
  }
  return json_pack("{s:s,s:s,s:i,s:i,s:i,s:o}", "driver", r->driver, "cuda", r->cuda, "count",
                   r->count, "healthy", nv_healthy(r), "utilization_bp", nv_utilization_bp(r),
                   "gpus", gpus);
}

/* The median round trip of GET /healthz on a kept-alive connection, µs; -1 when none. */
static int64_t measure_rtt(ax_http *h) {
  int64_t s[RTT_SAMPLES];
  int n = 0;
  for (int i = 0; i < RTT_SAMPLES + 1; i++) {
    ax_resp r;
    bool ok = ax_http_call(h, "GET", "/healthz", NULL, NULL, 10, &r) && r.status == 200;
    ax_resp_free(&r);
    if (ok && i > 0) s[n++] = r.elapsed_us; /* the first opens the connection */
  }
  if (!n) return -1;
  for (int i = 1; i < n; i++)
    for (int k = i; k > 0 && s[k] < s[k - 1]; k--) {
      int64_t t = s[k];
      s[k] = s[k - 1];
      s[k - 1] = t;
    }
  return s[n / 2];
}

/* --------------------------------------------------------------------------- the status */

typedef struct status {
  const char *state;
  char last_error[400], since[32], last_contact[32], down_since[32];
  int64_t rtt_us, polls, done, down_polls;
} status;

/* Write the status file (atomically) and log a change of state. */
static void status_set(const cfg *c, status *st, const char *state, const char *error) {
  char now[32];
  sl_time_format(sl_time_now(), now, sizeof now);
  if (!st->state || strcmp(st->state, state) != 0) {
    snprintf(st->since, sizeof st->since, "%s", now);
    bool fine = !strcmp(state, "polling") || !strcmp(state, "working") ||
                !strcmp(state, "starting") || !strcmp(state, "stopped");
    sl_log(fine ? SL_LOG_INFO : SL_LOG_WARN, "agent state",
           json_pack("{s:s,s:s}", "state", state, "error", error ? error : ""));
  }
  st->state = state;
  if (error) snprintf(st->last_error, sizeof st->last_error, "%s", error);
  if (!c->status_file) return;
  json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I}", "agent", c->name, "exchange", c->url,
                        "state", state, "since", st->since, "last_error", st->last_error,
                        "last_contact_at", st->last_contact, "polls", (json_int_t)st->polls,
                        "work_done", (json_int_t)st->done);
  json_object_set_new(j, "rtt_ms", st->rtt_us >= 0 ? json_real(st->rtt_us / 1000.0) : json_null());
  char tmp[600];
  snprintf(tmp, sizeof tmp, "%s.tmp", c->status_file);
  if (json_dump_file(j, tmp, JSON_INDENT(1)) == 0) rename(tmp, c->status_file);
  json_decref(j);
}

/* ---------------------------------------------------------------------------- the loop */

static volatile sig_atomic_t stopping;

static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
  ax_http_interrupt();
}

static void sleep_ms(long ms) {
  for (long t = 0; t < ms && !stopping; t += 100) {
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
  }
}

/* Report one outcome, with the same Idempotency-Key on every try, until the exchange answers
 * or the lease runs out (the item is then handed out again and redone idempotently). */
static void report(ax_http *h, const json_t *item, const ax_outcome *o) {
  int64_t id = json_integer_value(json_object_get(item, "id"));
  int64_t lease = json_integer_value(json_object_get(item, "lease")), until = 0;
  sl_time_parse(json_string_value(json_object_get(item, "lease_until")) ?: "", &until);
  char path[96], key[96];
  snprintf(path, sizeof path, "/v1/agent/work/%lld/result", (long long)id);
  snprintf(key, sizeof key, "agent-result-%lld-%lld", (long long)id, (long long)lease);
  json_t *body = json_pack("{s:I,s:s}", "lease", (json_int_t)lease, "outcome", o->outcome);
  if (o->error[0]) json_object_set_new(body, "error", json_string(o->error));
  if (o->ref[0]) json_object_set_new(body, "ref", json_string(o->ref));
  if (o->sealed[0]) {
    json_object_set_new(body, "access_sealed", json_string(o->sealed));
    json_object_set_new(body, "sealed_to", json_string(o->sealed_to));
  }
  for (long wait = 500;; wait = wait < 8000 ? wait * 2 : wait) {
    ax_resp r;
    bool answered = ax_http_call(h, "POST", path, body, key, 30, &r);
    json_t *f =
        json_pack("{s:I,s:I,s:s,s:I,s:s}", "work", (json_int_t)id, "lease", (json_int_t)lease,
                  "outcome", o->outcome, "status", (json_int_t)r.status, "error", r.error);
    if (answered && r.status == 422 && json_object_get(body, "access_sealed")) {
      /* the access details were refused (the tenant's key changed since the lease): the
       * outcome still counts; report it without them, under a key of its own */
      sl_log(SL_LOG_WARN, "access details refused: reporting the outcome without them", f);
      ax_resp_free(&r);
      json_object_del(body, "access_sealed");
      json_object_del(body, "sealed_to");
      snprintf(key, sizeof key, "agent-result-%lld-%lld-plain", (long long)id, (long long)lease);
      continue;
    }
    if (answered && r.status < 500) {
      sl_log(r.status == 200 ? SL_LOG_INFO : SL_LOG_WARN,
             r.status == 200 ? "result recorded"
             : r.status == 409
                 ? "result refused: the lease was lost (the work was handed out again)"
                 : "result refused",
             f);
      ax_resp_free(&r);
      break;
    }
    ax_resp_free(&r);
    if (sl_time_now() >= until) {
      sl_log(SL_LOG_WARN, "result not delivered before the lease ran out", f);
      break;
    }
    json_decref(f);
    sleep_ms(wait);
  }
  json_decref(body);
}

/* What the heartbeats say, and since when Slurm could not be read. */
typedef struct hb_state {
  int healthy, util, stale; /* the last count read; heartbeats sent on it since */
  bool known;
  int64_t cap[MAX_POOLS]; /* each pool's gpu_count, 0 when not known */
} hb_state;

/* The healthy GPUs and their utilization: from Slurm (--partition: a cluster's head node,
 * `scontrol -o show node`) or from nvidia-smi.  When Slurm cannot be read the last count
 * stands for HB_STALE_ROUNDS heartbeats, then none is healthy — the heartbeat itself is sent
 * every time either way, so the exchange always hears from the agent. */
static void hb_count(const cfg *c, hb_state *st) {
  char why[300] = "";
  if (c->partition) {
    sl_sched_slurm t = {c->partition, NULL, c->cluster};
    int usable = 0, busy = 0;
    if (sl_sched_slurm_gpus(&t, &usable, &busy, why, sizeof why) == SL_SCHED_OK) {
      *st = (hb_state){usable, usable ? (int)((int64_t)busy * 10000 / usable) : 0, 0, true, {0}};
      return;
    }
    if (st->known && ++st->stale <= HB_STALE_ROUNDS) {
      sl_log(SL_LOG_WARN, "Slurm cannot be read: the heartbeat repeats the last count",
             json_pack("{s:s,s:i,s:i}", "error", why, "healthy_gpus", st->healthy, "round",
                       st->stale));
      return;
    }
    log_kv(SL_LOG_WARN, "Slurm cannot be read: reporting no healthy GPU", "error", why);
  } else {
    nv_report r;
    if (discover(c, &r, why, sizeof why)) {
      st->healthy = nv_healthy(&r);
      st->util = nv_utilization_bp(&r);
      st->known = true;
      return;
    }
    log_kv(SL_LOG_WARN, "GPU discovery failed: reporting no healthy GPU", "error", why);
  }
  st->healthy = st->util = 0;
  st->known = false;
}

/* A pool's gpu_count (GET /v1/pools/{id}; the token needs `read`), 0 when unknown: a
 * partition may hold more GPUs than the pool sells, and a heartbeat may not say more. */
static int64_t pool_cap(ax_http *h, int64_t pool) {
  char path[64];
  snprintf(path, sizeof path, "/v1/pools/%lld", (long long)pool);
  ax_resp r;
  int64_t n = 0;
  if (ax_http_call(h, "GET", path, NULL, NULL, 20, &r) && r.status == 200)
    n = json_integer_value(json_object_get(r.body, "gpu_count"));
  ax_resp_free(&r);
  return n;
}

static void heartbeat(const cfg *c, ax_http *h, hb_state *st) {
  int64_t caps[MAX_POOLS];
  memcpy(caps, st->cap, sizeof caps);
  hb_count(c, st);
  memcpy(st->cap, caps, sizeof caps);
  for (int i = 0; i < c->npools; i++) {
    char path[64];
    if (c->partition && !st->cap[i]) st->cap[i] = pool_cap(h, c->pools[i]);
    int64_t healthy = st->cap[i] && st->healthy > st->cap[i] ? st->cap[i] : st->healthy;
    snprintf(path, sizeof path, "/v1/pools/%lld/heartbeat", (long long)c->pools[i]);
    json_t *b =
        json_pack("{s:I,s:i}", "healthy_gpus", (json_int_t)healthy, "utilization_bp", st->util);
    ax_resp rr;
    if (!ax_http_call(h, "POST", path, b, NULL, 20, &rr) || rr.status != 200)
      log_kv(SL_LOG_WARN, "heartbeat refused", "error", rr.error);
    else st->cap[i] = json_integer_value(json_object_get(rr.body, "gpu_count"));
    ax_resp_free(&rr);
    json_decref(b);
  }
}

/* The round trips to the exchange's regional probe endpoints (--probe REGION=URL) as the
 * poll's `rtts`: [{"region", "rtt_ms"}], leaving out probes that did not answer. */
static json_t *probe_rtts(const cfg *c) {
  json_t *a = json_array();
  for (int i = 0; i < c->nprobes; i++) {
    ax_http p;
    if (!ax_http_init(&p, c->probe_url[i], c->token)) continue;
    int64_t us = measure_rtt(&p);
    ax_http_fini(&p);
    if (us < 0) {
      log_kv(SL_LOG_WARN, "a probe endpoint did not answer", "url", c->probe_url[i]);
      continue;
    }
    char ms[32];
    snprintf(ms, sizeof ms, "%lld.%03lld", (long long)(us / 1000), (long long)(us % 1000));
    json_array_append_new(a, json_pack("{s:s,s:s}", "region", c->probe_region[i], "rtt_ms", ms));
  }
  return a;
}

static int cmd_run(cfg *c) {
  ax_http h;
  if (!ax_http_init(&h, c->url, c->token)) return AX_FAILED;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  status st = {.rtt_us = -1};
  hb_state hb = {0};
  json_t *rtts = NULL; /* the probes' last round trips */
  status_set(c, &st, "starting", NULL);
  char note[600];
  snprintf(note, sizeof note, "started: %s", AGENT_VERSION);
  int64_t next_rtt = 0, next_hb = 0;
  long backoff = 1000;
  int rc = AX_OK;
  while (!stopping) {
    int64_t now = sl_time_now();
    if (c->heartbeat_s > 0 && c->npools && now >= next_hb) {
      heartbeat(c, &h, &hb);
      next_hb = now + c->heartbeat_s;
    }
    if (now >= next_rtt) {
      int64_t rtt = measure_rtt(&h);
      if (rtt >= 0) st.rtt_us = rtt;
      if (c->nprobes) {
        json_decref(rtts);
        rtts = probe_rtts(c);
      }
      next_rtt = now + c->rtt_every_s;
    }
    json_t *body = json_pack(
        "{s:s,s:I,s:I,s:I,s:s}", "agent", c->name, "wait_s", (json_int_t)(c->once ? 0 : c->wait_s),
        "lease_s", (json_int_t)c->lease_s, "max", (json_int_t)c->max, "version", AGENT_VERSION);
    if (c->npools) {
      json_t *p = json_array();
      for (int i = 0; i < c->npools; i++) json_array_append_new(p, json_integer(c->pools[i]));
      json_object_set_new(body, "pools", p);
    }
    if (st.down_since[0]) { /* tell the provider, through the exchange, what it missed */
      char at[32];
      sl_time_format(sl_time_now(), at, sizeof at);
      snprintf(note, sizeof note,
               "the exchange was unreachable from %s to %s (%lld failed polls; last error: %.300s)",
               st.down_since, at, (long long)st.down_polls, st.last_error);
    }
    if (note[0]) json_object_set_new(body, "note", json_string(note));
    if (st.rtt_us >= 0) {
      char ms[32];
      snprintf(ms, sizeof ms, "%lld.%03lld", (long long)(st.rtt_us / 1000),
               (long long)(st.rtt_us % 1000));
      json_object_set_new(body, "rtt_ms", json_string(ms));
    }
    if (json_array_size(rtts)) json_object_set(body, "rtts", rtts);
    if (c->region) json_object_set_new(body, "region", json_string(c->region));
    ax_resp r;
    st.polls++;
    h.interruptible = true; /* a signal ends the long poll, never a report */
    bool answered = ax_http_call(&h, "POST", "/v1/agent/work", body, NULL, c->wait_s + 30, &r);
    h.interruptible = false;
    json_decref(body);
    if (stopping) {
      ax_resp_free(&r);
      break;
    }
    if (!answered || r.status >= 500) {
      if (!st.down_since[0]) sl_time_format(sl_time_now(), st.down_since, sizeof st.down_since);
      st.down_polls++;
      status_set(c, &st, answered ? "exchange_failing" : "unreachable", r.error);
      ax_resp_free(&r);
      if (c->once) {
        rc = AX_UNREACHABLE;
        break;
      }
      sleep_ms(backoff);
      backoff = backoff < 30000 ? backoff * 2 : 30000;
      continue;
    }
    backoff = 1000;
    sl_time_format(sl_time_now(), st.last_contact, sizeof st.last_contact);
    if (r.status == 401 || r.status == 403) {
      status_set(c, &st, r.status == 401 ? "unauthorized" : "forbidden", r.error);
      sl_log(SL_LOG_ERROR,
             r.status == 401 ? "the exchange refused the token (check SUANLI_TOKEN)"
                             : "the token may not pull work (a provider token, "
                               "scopes agent or none)",
             json_pack("{s:s}", "error", r.error));
      ax_resp_free(&r);
      rc = AX_REFUSED;
      break;
    }
    if (r.status != 200) {
      status_set(c, &st, "misconfigured", r.error);
      sl_log(SL_LOG_ERROR, "the exchange refused the poll", json_pack("{s:s}", "error", r.error));
      ax_resp_free(&r);
      rc = AX_USAGE;
      break;
    }
    note[0] = '\0';
    st.down_since[0] = '\0';
    st.down_polls = 0;
    json_t *items = json_object_get(r.body, "items");
    status_set(c, &st, json_array_size(items) ? "working" : "polling", NULL);
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
      sl_stall_point("agent_leased"); /* tests: an agent that stops between lease and work */
      sl_crash_point("agent_leased");
      ax_outcome o;
      ax_work_run(&c->site, item, &o);
      sl_log(SL_LOG_INFO, "work carried out",
             json_pack("{s:O,s:O,s:O,s:s,s:s,s:s}", "work", json_object_get(item, "id"), "action",
                       json_object_get(item, "action"), "reservation_id",
                       json_object_get(item, "reservation_id"), "outcome", o.outcome, "ref", o.ref,
                       "error", o.error));
      sl_stall_point("agent_worked"); /* tests: an agent killed after the work, before its report */
      sl_crash_point("agent_worked");
      report(&h, item, &o);
      st.done++;
    }
    ax_resp_free(&r);
    status_set(c, &st, "polling", NULL);
    if (c->once) break;
  }
  if (rc == AX_OK) status_set(c, &st, "stopped", NULL);
  json_decref(rtts);
  ax_http_fini(&h);
  return rc;
}

/* ------------------------------------------------------------------- discover, register */

static void print_json(const json_t *j) {
  char *s = json_dumps(j, JSON_INDENT(2));
  puts(s ? s : "{}");
  free(s);
}

/* discover(), saying why on stderr when it fails. */
static bool discover_or_say(const cfg *c, nv_report *r) {
  char why[300];
  if (discover(c, r, why, sizeof why)) return true;
  fprintf(stderr, "suanli-agent: %s\n", why);
  return false;
}

static int cmd_discover(cfg *c) {
  nv_report r;
  char why[300];
  if (!discover_or_say(c, &r)) return AX_FAILED;
  ax_http h = {0};
  json_t *doc = NULL;
  size_t n = 0;
  nv_model *cat = NULL;
  if (c->token && ax_http_init(&h, c->url, c->token)) {
    cat = catalog(&h, &doc, &n, why, sizeof why);
    if (!cat) fprintf(stderr, "suanli-agent: %s (GPUs not mapped)\n", why);
  }
  json_t *j = report_json(&r, cat, n);
  print_json(j);
  json_decref(j);
  free(cat);
  json_decref(doc);
  ax_http_fini(&h);
  return AX_OK;
}

/* Propose g's model to the exchange's accelerator registry (issue 13, item 1) with the
 * figures nvidia-smi gives (vendor, memory) and the datasheet the provider names; once an
 * admin approves it, `register` finds it in the catalog. */
static void propose(ax_http *h, const nv_gpu *g, const char *source_url) {
  char model[64], id[64], notes[300];
  int gb = nv_proposal(g, model, sizeof model, id, sizeof id);
  snprintf(notes, sizeof notes, "proposed by %s from nvidia-smi -q -x: %s, %lld MiB%s%s",
           AGENT_VERSION, g->product, (long long)g->memory_mib, g->architecture[0] ? ", " : "",
           g->architecture);
  json_t *b = json_pack("{s:s,s:s,s:s,s:i,s:s,s:s}", "accelerator", id, "model", model, "vendor",
                        "NVIDIA", "memory_gb", gb, "source_url", source_url, "notes", notes);
  ax_resp rr;
  if (ax_http_call(h, "POST", "/v1/accelerator-proposals", b, NULL, 30, &rr) && rr.status == 201) {
    fprintf(stderr,
            "suanli-agent: proposed %s (%s, %d GB) to the exchange's registry as proposal %lld; "
            "register again once an admin approves it\n",
            id, model, gb, (long long)json_integer_value(json_object_get(rr.body, "id")));
    print_json(rr.body);
  } else {
    fprintf(stderr, "suanli-agent: proposing %s: %s\n", id, rr.error);
  }
  ax_resp_free(&rr);
  json_decref(b);
}

static int cmd_register(cfg *c) {
  nv_report r;
  char why[300];
  if (!discover_or_say(c, &r)) return AX_FAILED;
  if (r.count == 0) {
    fprintf(stderr, "suanli-agent: no GPU found\n");
    return AX_FAILED;
  }
  ax_http h;
  if (!ax_http_init(&h, c->url, c->token)) return AX_FAILED;
  json_t *doc = NULL;
  size_t n = 0;
  nv_model *cat = catalog(&h, &doc, &n, why, sizeof why);
  const char *model = NULL;
  int rc = AX_FAILED;
  for (int i = 0; cat && i < r.count; i++) {
    const char *id = nv_match(&r.gpus[i], cat, n, why, sizeof why);
    if (!id) {
      fprintf(stderr, "suanli-agent: GPU %s: unknown model: %s\n", r.gpus[i].bus_id, why);
      if (c->propose) propose(&h, &r.gpus[i], c->propose);
      goto out;
    }
    if (model && strcmp(model, id) != 0) {
      fprintf(stderr, "suanli-agent: this host mixes %s and %s: a pool holds one model\n", model,
              id);
      goto out;
    }
    model = id;
  }
  if (!cat) {
    fprintf(stderr, "suanli-agent: %s\n", why);
    goto out;
  }
  const char *intra = "pcie";
  for (size_t i = 0; i < n; i++)
    if (strcmp(cat[i].id, model) == 0 && cat[i].variant && !strncmp(cat[i].variant, "SXM", 3))
      intra = "nvlink";
  json_t *body;
  char path[64];
  const char *method;
  if (c->pool > 0) {
    method = "PATCH";
    snprintf(path, sizeof path, "/v1/pools/%lld", (long long)c->pool);
    body = json_pack("{s:i}", "gpu_count", r.count);
  } else {
    if (!c->region || !c->price) {
      fprintf(stderr, "suanli-agent: register needs --region and --price (or --pool ID)\n");
      rc = AX_USAGE;
      goto out;
    }
    char from[32], until[32];
    int64_t t0 = sl_time_ceil_slot(sl_time_now()), t1 = t0 + 30 * 86400LL;
    if (c->until && !sl_time_parse(c->until, &t1)) {
      fprintf(stderr, "suanli-agent: --until must be an RFC 3339 time on a whole hour\n");
      rc = AX_USAGE;
      goto out;
    }
    sl_time_format(t0, from, sizeof from);
    sl_time_format(t1, until, sizeof until);
    json_t *cfgj = json_pack("{s:s}", "mode", c->mode ? c->mode : "host");
    if (c->partition) json_object_set_new(cfgj, "partition", json_string(c->partition));
    if (c->cluster) json_object_set_new(cfgj, "cluster", json_string(c->cluster));
    if (c->user) json_object_set_new(cfgj, "user", json_string(c->user));
    char name[200];
    snprintf(name, sizeof name, "%s", c->pool_name ? c->pool_name : c->name);
    body = json_pack("{s:s,s:s,s:s,s:i,s:i,s:s,s:s,s:i,s:s,s:s,s:s,s:{s:s,s:o}}", "name", name,
                     "region", c->region, "accelerator", model, "gpu_count", r.count,
                     "gpus_per_node", r.count, "intra_node", intra, "inter_node", "none",
                     "inter_node_gbps", 0, "price_per_gpu_hour", c->price, "available_from", from,
                     "available_until", until, "adapter", "kind", "agent", "config", cfgj);
    method = "POST";
    snprintf(path, sizeof path, "/v1/pools");
  }
  ax_resp rr;
  bool answered = ax_http_call(&h, method, path, body, NULL, 30, &rr);
  json_decref(body);
  if (!answered || rr.status >= 300) {
    fprintf(stderr, "suanli-agent: %s %s: %s\n", method, path, rr.error);
    rc = answered && (rr.status == 401 || rr.status == 403) ? AX_REFUSED : AX_FAILED;
  } else {
    print_json(rr.body);
    rc = AX_OK;
  }
  ax_resp_free(&rr);
out:
  free(cat);
  json_decref(doc);
  ax_http_fini(&h);
  return rc;
}

/* --------------------------------------------------------------------------- the options */

static const char *usage =
    "usage: suanli-agent run --name NAME [--pool ID]... [--url URL] [--token-file FILE]\n"
    "                        [--wait S] [--lease S] [--max N] [--once] [--status-file FILE]\n"
    "                        [--state-dir DIR] [--gpus N] [--heartbeat S] [--rtt-every S]\n"
    "                        [--access-host H] [--access-port N] [--access-user U]\n"
    "                        [--login-node N] [--region R] [--probe REGION=URL]...\n"
    "                        [--partition P [--cluster C]] [nvidia-smi options]\n"
    "       suanli-agent discover [nvidia-smi options] [--url URL]\n"
    "       suanli-agent register --name NAME (--pool ID | --region R --price P) [--pool-name N]\n"
    "                        [--mode host|slurm] [--partition P] [--cluster C] [--user U]\n"
    "                        [--until TIME] [--propose DATASHEET_URL] [nvidia-smi options]\n"
    "nvidia-smi options: --nvidia-smi PATH (default nvidia-smi) | --nvidia-smi-xml FILE,\n"
    "                    --xid-log FILE (kernel log lines with NVRM Xid errors)\n"
    "The token: SUANLI_TOKEN or --token-file; the exchange: --url or SUANLI_URL.\n";

static bool number_opt(const char *s, long lo, long hi, long *out) {
  char *e;
  long v = strtol(s, &e, 10);
  if (!*s || *e || v < lo || v > hi) return false;
  *out = v;
  return true;
}

static char *token_from_file(const char *path) {
  size_t n = 0;
  char *t = read_file(path, &n);
  if (!t) return NULL;
  while (n && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' ')) t[--n] = '\0';
  return t;
}

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help")) {
    fputs(usage, argc < 2 ? stderr : stdout);
    return argc < 2 ? AX_USAGE : AX_OK;
  }
  if (sodium_init() < 0) return AX_FAILED;
  setenv("TZ", "UTC", 1); /* scontrol reads and prints times in its own time zone */
  tzset();
  const char *cmd = argv[1];
  cfg c = {.url = getenv("SUANLI_URL"),
           .token = getenv("SUANLI_TOKEN"),
           .nvsmi_cmd = "nvidia-smi",
           .wait_s = 20,
           .lease_s = 120,
           .max = 8,
           .rtt_every_s = 300,
           .site = {.state_dir = "."}};
  if (!c.url || !*c.url) c.url = "http://127.0.0.1:8080";
  char *token_buf = NULL;
  long gpus = 0, port = 0;
  /* every option: where its value goes (a string, or a number within [lo, hi]) */
  const struct {
    const char *name;
    const char **str;
    long *num, lo, hi;
  } opts[] = {
      {"name", &c.name, NULL, 0, 0},
      {"url", &c.url, NULL, 0, 0},
      {"wait", NULL, &c.wait_s, 0, 50},
      {"lease", NULL, &c.lease_s, 10, 3600},
      {"max", NULL, &c.max, 1, 32},
      {"status-file", &c.status_file, NULL, 0, 0},
      {"state-dir", &c.site.state_dir, NULL, 0, 0},
      {"gpus", NULL, &gpus, 0, 1000000},
      {"heartbeat", NULL, &c.heartbeat_s, 0, 86400},
      {"rtt-every", NULL, &c.rtt_every_s, 1, 86400},
      {"access-host", &c.site.access_host, NULL, 0, 0},
      {"access-port", NULL, &port, 1, 65535},
      {"access-user", &c.site.access_user, NULL, 0, 0},
      {"login-node", &c.site.login_node, NULL, 0, 0},
      {"nvidia-smi", &c.nvsmi_cmd, NULL, 0, 0},
      {"nvidia-smi-xml", &c.nvsmi_xml, NULL, 0, 0},
      {"xid-log", &c.xid_log, NULL, 0, 0},
      {"region", &c.region, NULL, 0, 0},
      {"price", &c.price, NULL, 0, 0},
      {"pool-name", &c.pool_name, NULL, 0, 0},
      {"mode", &c.mode, NULL, 0, 0},
      {"partition", &c.partition, NULL, 0, 0},
      {"cluster", &c.cluster, NULL, 0, 0},
      {"user", &c.user, NULL, 0, 0},
      {"until", &c.until, NULL, 0, 0},
      {"propose", &c.propose, NULL, 0, 0},
  };
  enum { N_OPTS = sizeof opts / sizeof opts[0], O_POOL = N_OPTS, O_TOKEN_FILE, O_ONCE, O_PROBE };
  struct option longs[N_OPTS + 5];
  for (int i = 0; i < N_OPTS; i++) longs[i] = (struct option){opts[i].name, 1, NULL, i};
  longs[O_POOL] = (struct option){"pool", 1, NULL, O_POOL};
  longs[O_TOKEN_FILE] = (struct option){"token-file", 1, NULL, O_TOKEN_FILE};
  longs[O_ONCE] = (struct option){"once", 0, NULL, O_ONCE};
  longs[O_PROBE] = (struct option){"probe", 1, NULL, O_PROBE};
  longs[N_OPTS + 4] = (struct option){NULL, 0, NULL, 0};
  optind = 2;
  opterr = 0;
  int o;
  long v;
  while ((o = getopt_long(argc, argv, ":", longs, NULL)) != -1) {
    bool ok = true;
    if (o >= 0 && o < N_OPTS && opts[o].str) {
      *opts[o].str = optarg;
    } else if (o >= 0 && o < N_OPTS) {
      ok = number_opt(optarg, opts[o].lo, opts[o].hi, opts[o].num);
    } else if (o == O_POOL) {
      ok = c.npools < MAX_POOLS && number_opt(optarg, 1, 2000000000L, &v);
      if (ok) c.pools[c.npools++] = c.pool = v;
    } else if (o == O_TOKEN_FILE) {
      free(token_buf);
      ok = (c.token = token_buf = token_from_file(optarg)) != NULL;
    } else if (o == O_ONCE) {
      c.once = true;
    } else if (o == O_PROBE) { /* REGION=URL */
      char *eq = strchr(optarg, '=');
      ok = c.nprobes < MAX_PROBES && eq && eq > optarg && eq[1];
      if (ok) {
        *eq = '\0';
        c.probe_region[c.nprobes] = optarg;
        for (size_t n = strlen(eq + 1); n > 1 && eq[n] == '/'; n--) eq[n] = '\0';
        c.probe_url[c.nprobes++] = eq + 1;
      }
    } else {
      ok = false;
    }
    if (!ok) {
      if (o >= 0 && o < N_OPTS + 4)
        fprintf(stderr, "suanli-agent: bad value for --%s: '%s'\n%s", longs[o].name,
                optarg ? optarg : "", usage);
      else
        fprintf(stderr, "suanli-agent: %s %s\n%s",
                o == ':' ? "a value is missing after" : "unknown option", argv[optind - 1], usage);
      free(token_buf);
      return AX_USAGE;
    }
  }
  c.site.host_gpus = (int)gpus;
  c.site.access_port = (int)port;
  if (optind < argc) {
    fprintf(stderr, "suanli-agent: unexpected argument '%s'\n%s", argv[optind], usage);
    free(token_buf);
    return AX_USAGE;
  }
  size_t ul = strlen(c.url);
  char *url = strdup(c.url);
  while (ul > 1 && url[ul - 1] == '/') url[--ul] = '\0';
  c.url = url;
  int rc;
  bool needs_token = strcmp(cmd, "discover") != 0;
  if (strcmp(cmd, "run") && strcmp(cmd, "discover") && strcmp(cmd, "register")) {
    fprintf(stderr, "suanli-agent: unknown command '%s'\n%s", cmd, usage);
    rc = AX_USAGE;
  } else if (needs_token && (!c.token || !*c.token)) {
    fprintf(stderr, "suanli-agent: no token: set SUANLI_TOKEN or --token-file\n");
    rc = AX_USAGE;
  } else if (strcmp(cmd, "discover") && (!c.name || !*c.name)) {
    fprintf(stderr, "suanli-agent: --name is required\n%s", usage);
    rc = AX_USAGE;
  } else if (!strcmp(cmd, "run")) {
    rc = cmd_run(&c);
  } else if (!strcmp(cmd, "register")) {
    rc = cmd_register(&c);
  } else {
    rc = cmd_discover(&c);
  }
  free(url);
  free(token_buf);
  return rc;
}
