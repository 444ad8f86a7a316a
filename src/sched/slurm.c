/* slurm.c — Slurm advance reservations through scontrol (include/suanli/sched/slurm.h).
 *
 * Moved here from src/dispatch/adapter_slurm.c so that the exchange's `slurm` adapter and
 * suanli-agent's slurm mode run the same code.
 *
 * Errors (observed on Slurm 22.05, see deploy/slurm/README.md): Slurm refusing the request —
 * nodes busy, invalid time/partition/user, unknown TRES — is TERMINAL; anything else (the
 * controller down: "Unable to contact", "Unexpected message received", timeouts) is RETRY.
 * Slurm silently creates a reservation with fewer nodes when only some are free: the node
 * count is read back, and a short reservation is deleted and reported as busy. */
#define _GNU_SOURCE
#include "suanli/sched/slurm.h"
#include "suanli/core/timeutil.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define SCONTROL_TIMEOUT_MS 15000

bool sl_sched_slurm_name_ok(const char *s) {
  size_t n = 0;
  for (const char *p = s; *p; p++, n++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '_' || *p == '-' || *p == '.'))
      return false;
  return n >= 1 && n <= 64;
}

void sl_sched_slurm_res_name(int64_t id, char *buf, size_t len) {
  snprintf(buf, len, "suanli-res-%lld", (long long)id);
}

/* Run scontrol with args; collect stdout+stderr into out.  Returns the exit status, or -1
 * when it could not run or timed out. */
static int run_scontrol(const sl_sched_slurm *t, const char *const *args, char *out,
                        size_t outlen) {
  const char *argv[24];
  int n = 0;
  argv[n++] = "scontrol";
  if (t->cluster) {
    argv[n++] = "-M";
    argv[n++] = t->cluster;
  }
  for (int i = 0; args[i] && n < 22; i++) argv[n++] = args[i];
  argv[n] = NULL;
  int fds[2];
  out[0] = '\0';
  if (pipe2(fds, O_CLOEXEC) != 0) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDERR_FILENO);
  pid_t pid;
  int rc = posix_spawnp(&pid, "scontrol", &fa, NULL, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    snprintf(out, outlen, "cannot run scontrol: %s", strerror(rc));
    close(fds[0]);
    return -1;
  }
  size_t used = 0;
  int64_t deadline = sl_time_now_us() + SCONTROL_TIMEOUT_MS * 1000LL;
  bool timed_out = false;
  for (;;) {
    int left = (int)((deadline - sl_time_now_us()) / 1000);
    if (left <= 0) {
      timed_out = true;
      break;
    }
    struct pollfd p = {fds[0], POLLIN, 0};
    if (poll(&p, 1, left) <= 0) continue;
    char buf[512];
    ssize_t k = read(fds[0], buf, sizeof buf);
    if (k <= 0) break;
    size_t take = (size_t)k < outlen - 1 - used ? (size_t)k : outlen - 1 - used;
    memcpy(out + used, buf, take);
    used += take;
    out[used] = '\0';
  }
  close(fds[0]);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  if (timed_out) {
    snprintf(out, outlen, "scontrol timed out");
    return -1;
  }
  for (size_t i = 0; i < used; i++)
    if (out[i] == '\n') out[i] = ' ';
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Slurm's answers that no retry will change. */
static bool refused_for_good(const char *out) {
  static const char *const terminal[] = {"Requested nodes are busy",
                                         "Invalid time",
                                         "Invalid partition",
                                         "Invalid user",
                                         "couldn't identify configured TRES",
                                         "Invalid node count",
                                         "Invalid account"};
  for (size_t i = 0; i < sizeof terminal / sizeof terminal[0]; i++)
    if (strstr(out, terminal[i])) return true;
  return false;
}

static bool absent(const char *out) {
  return strstr(out, "not found") || strstr(out, "Requested reservation is invalid") ||
         strstr(out, "No reservations");
}

/* NodeCnt=N from `scontrol -o show reservation` output, or -1. */
static int node_count(const char *out) {
  const char *p = strstr(out, "NodeCnt=");
  return p ? atoi(p + 8) : -1;
}

/* Key=Value from `scontrol -o show` output into buf ("" when absent). */
static void field(const char *out, const char *key, char *buf, size_t len) {
  const char *p = strstr(out, key);
  buf[0] = '\0';
  if (!p) return;
  p += strlen(key);
  size_t n = strcspn(p, " \n");
  snprintf(buf, len, "%.*s", (int)(n < len ? n : len - 1), p);
}

static void slurm_time(int64_t epoch, char *buf, size_t len) {
  time_t t = (time_t)epoch;
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
}

/* Show the reservation; *nodes = its node count (-1 when absent), *ours = its start time and
 * end are this reservation's (a reservation of the same name left by another exchange
 * database, or a stale one, is not ours). */
static sl_sched_rc show(const sl_sched_slurm *t, const sl_sched_res *r, int *nodes, bool *ours,
                        char *err, size_t errlen) {
  char name[64], out[2048];
  sl_sched_slurm_res_name(r->id, name, sizeof name);
  const char *args[] = {"-o", "show", "reservation", name, NULL};
  int rc = run_scontrol(t, args, out, sizeof out);
  *nodes = -1;
  *ours = false;
  if (rc == 0 && strstr(out, name)) {
    char start[40], when[40], end[40], want_end[40];
    slurm_time(r->start, when, sizeof when);
    slurm_time(r->end, want_end, sizeof want_end);
    field(out, "StartTime=", start, sizeof start);
    field(out, "EndTime=", end, sizeof end);
    *nodes = node_count(out);
    *ours = strcmp(start, when) == 0 && strcmp(end, want_end) == 0;
    return SL_SCHED_OK;
  }
  if (rc > 0 && absent(out)) return SL_SCHED_OK;
  snprintf(err, errlen, "scontrol show: %.200s", out);
  return SL_SCHED_RETRY;
}

sl_sched_rc sl_sched_slurm_status(const sl_sched_slurm *t, const sl_sched_res *r, char *state,
                                  size_t len, char *err, size_t errlen) {
  int nodes;
  bool ours;
  sl_sched_rc rc = show(t, r, &nodes, &ours, err, errlen);
  if (rc == SL_SCHED_OK)
    snprintf(state, len, "%s", nodes < 0 ? "absent" : ours ? "reserved" : "conflict");
  return rc;
}

static sl_sched_rc slurm_delete(const sl_sched_slurm *t, const sl_sched_res *r, char *err,
                                size_t errlen) {
  char name[64], out[2048];
  sl_sched_slurm_res_name(r->id, name, sizeof name);
  const char *args[] = {"delete", "reservation", name, NULL};
  int rc = run_scontrol(t, args, out, sizeof out);
  if (rc == 0 || (rc > 0 && absent(out))) return SL_SCHED_OK;
  snprintf(err, errlen, "scontrol delete: %.200s", out);
  return refused_for_good(out) ? SL_SCHED_TERMINAL : SL_SCHED_RETRY;
}

static sl_sched_rc not_ours(const sl_sched_res *r, char *err, size_t errlen) {
  snprintf(err, errlen, "a different reservation named suanli-res-%lld exists on the cluster",
           (long long)r->id);
  return SL_SCHED_TERMINAL; /* never delete or adopt what is not ours */
}

sl_sched_rc sl_sched_slurm_reserve(const sl_sched_slurm *t, const sl_sched_res *r, char *ref,
                                   size_t reflen, char *err, size_t errlen) {
  int nodes;
  bool ours;
  sl_sched_rc s = show(t, r, &nodes, &ours, err, errlen);
  if (s != SL_SCHED_OK) return s;
  if (nodes >= 0 && !ours) return not_ours(r, err, errlen);
  char name[64];
  sl_sched_slurm_res_name(r->id, name, sizeof name);
  if (nodes < 0) {
    char a_name[96], a_start[64], a_dur[48], a_nodes[48], a_part[96], a_user[96], when[32];
    slurm_time(r->start, when, sizeof when);
    snprintf(a_name, sizeof a_name, "ReservationName=%s", name);
    snprintf(a_start, sizeof a_start, "StartTime=%s", when);
    snprintf(a_dur, sizeof a_dur, "Duration=%lld", (long long)((r->end - r->start) / 60));
    snprintf(a_nodes, sizeof a_nodes, "NodeCnt=%d", r->nodes);
    snprintf(a_part, sizeof a_part, "PartitionName=%s", t->partition ? t->partition : "");
    snprintf(a_user, sizeof a_user, "Users=%s", t->user ? t->user : "root");
    const char *args[] = {"create", "reservation", a_name, a_start, a_dur,
                          a_nodes,  a_part,        a_user, NULL};
    char out[2048];
    int rc = run_scontrol(t, args, out, sizeof out);
    if (rc != 0 && !strstr(out, "Duplicate reservation name")) {
      snprintf(err, errlen, "scontrol create: %.200s", out);
      return refused_for_good(out) ? SL_SCHED_TERMINAL : SL_SCHED_RETRY;
    }
    if ((s = show(t, r, &nodes, &ours, err, errlen)) != SL_SCHED_OK) return s;
    if (nodes >= 0 && !ours) return not_ours(r, err, errlen);
  }
  /* Already there (a retry after a lost reply, or a duplicate): it must be the whole size. */
  if (nodes < r->nodes) {
    char derr[128];
    slurm_delete(t, r, derr, sizeof derr);
    snprintf(err, errlen, "Requested nodes are busy: only %d of %d nodes free",
             nodes < 0 ? 0 : nodes, r->nodes);
    return SL_SCHED_TERMINAL;
  }
  snprintf(ref, reflen, "%s", name);
  return SL_SCHED_OK;
}

/* Delete the reservation only when it is ours: a same-named reservation with another
 * window (left by another exchange database, or made by hand) is never touched. */
sl_sched_rc sl_sched_slurm_cancel(const sl_sched_slurm *t, const sl_sched_res *r, char *err,
                                  size_t errlen) {
  int nodes;
  bool ours;
  sl_sched_rc s = show(t, r, &nodes, &ours, err, errlen);
  if (s != SL_SCHED_OK) return s;
  if (nodes < 0 || !ours) return SL_SCHED_OK;
  return slurm_delete(t, r, err, errlen);
}

/* The GPU count of a node's Gres= ("gpu:8", "gpu:h100:8", "gpu:h100:4(S:0),gpu:a100:2"). */
static int gres_gpus(const char *gres) {
  int n = 0;
  for (const char *p = gres; (p = strstr(p, "gpu:")) != NULL; p += 4) {
    const char *e = p + strcspn(p, ",( ");
    const char *q = e;
    while (q > p && q[-1] != ':') q--;
    n += atoi(q);
  }
  return n;
}

/* Whether a node in State= can take work: none of Slurm's unusable states (a '*' suffix is
 * NOT_RESPONDING). */
static bool node_usable(const char *state) {
  static const char *const bad[] = {"DOWN",  "DRAIN",  "FAIL",    "NOT_RESPONDING", "POWER",
                                    "INVAL", "FUTURE", "UNKNOWN", "REBOOT",         "MAINT"};
  if (!state[0] || strchr(state, '*')) return false;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (strstr(state, bad[i])) return false;
  return true;
}

/* Whether `list` (comma separated) holds `name`. */
static bool in_list(const char *list, const char *name) {
  size_t n = strlen(name);
  for (const char *p = list; *p;) {
    size_t k = strcspn(p, ",");
    if (k == n && strncmp(p, name, n) == 0) return true;
    p += k + (p[k] == ',');
  }
  return false;
}

sl_sched_rc sl_sched_slurm_gpus(const sl_sched_slurm *t, int *usable, int *busy, char *err,
                                size_t errlen) {
  enum { OUT = 256 * 1024 };
  char *out = malloc(OUT);
  *usable = *busy = 0;
  if (!out) {
    snprintf(err, errlen, "out of memory");
    return SL_SCHED_RETRY;
  }
  const char *args[] = {"-o", "show", "node", NULL};
  int rc = run_scontrol(t, args, out, OUT);
  if (rc != 0 || !strstr(out, "NodeName=")) {
    snprintf(err, errlen, "scontrol show node: %.200s", out[0] ? out : "no nodes");
    free(out);
    return SL_SCHED_RETRY;
  }
  /* run_scontrol joined the lines: a record runs from one "NodeName=" to the next */
  for (char *p = strstr(out, "NodeName="); p;) {
    char *next = strstr(p + 9, "NodeName=");
    if (next) next[-1] = '\0';
    char parts[512], state[128], gres[256], alloc[512];
    field(p, "Partitions=", parts, sizeof parts);
    field(p, "State=", state, sizeof state);
    field(p, " Gres=", gres, sizeof gres);
    field(p, "AllocTRES=", alloc, sizeof alloc);
    if ((!t->partition || in_list(parts, t->partition)) && node_usable(state)) {
      *usable += gres_gpus(gres);
      const char *g = strstr(alloc, "gres/gpu=");
      *busy += g ? atoi(g + 9) : 0;
    }
    p = next;
  }
  free(out);
  if (*busy > *usable) *busy = *usable;
  return SL_SCHED_OK;
}
