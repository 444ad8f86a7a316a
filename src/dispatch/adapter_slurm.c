/* adapter_slurm.c — Slurm advance reservations through scontrol.
 *
 * A reservation is named "suanli-res-<reservation id>" (the idempotency key: a retry finds
 * it by name instead of creating a second one), covers ceil(gpus / gpus_per_node) whole
 * nodes of the pool's partition (Slurm 22.05 reserves nodes, not typed GPUs), starts at the
 * trade's start (UTC; the controller must run in UTC) and lasts its duration.  Configuration:
 * {"partition", "user"? (default root), "cluster"? (passed as -M)}.  scontrol comes from
 * PATH; SLURM_CONF in suanlid's environment names the cluster's configuration.
 *
 * Errors: the controller unreachable or timing out → RETRY; Slurm refusing the request
 * (not enough nodes, unknown partition, invalid user) → TERMINAL. */
#define _GNU_SOURCE
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
#include "suanli/dispatch.h"
#include "suanli/timeutil.h"

extern char **environ;

#define SCONTROL_TIMEOUT_MS 15000

static const char *cfg_str(const json_t *cfg, const char *key, const char *def) {
  json_t *v = json_object_get(cfg, key);
  return json_is_string(v) ? json_string_value(v) : def;
}

/* Run scontrol with args; collect stdout+stderr into out.  Returns the exit status, or -1
 * when it could not run or timed out. */
static int run_scontrol(const json_t *cfg, const char *const *args, char *out, size_t outlen) {
  const char *argv[24];
  int n = 0;
  argv[n++] = "scontrol";
  const char *cluster = cfg_str(cfg, "cluster", NULL);
  if (cluster) {
    argv[n++] = "-M";
    argv[n++] = cluster;
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

static void res_name(const sl_ad_call *c, char *buf, size_t len) {
  snprintf(buf, len, "suanli-res-%lld", (long long)c->reservation_id);
}

static bool unreachable(const char *out) {
  return strstr(out, "Unable to contact") || strstr(out, "Connection refused") ||
         strstr(out, "timed out") || strstr(out, "Socket timed out") || strstr(out, "cannot run");
}

static sl_ad_rc slurm_status(const sl_ad_call *c, char *state, size_t len, char *err, size_t errlen) {
  char name[64], out[2048];
  res_name(c, name, sizeof name);
  const char *args[] = {"-o", "show", "reservation", name, NULL};
  int rc = run_scontrol(c->config, args, out, sizeof out);
  if (rc == 0 && strstr(out, name)) {
    snprintf(state, len, "reserved");
    return SL_AD_OK;
  }
  if (strstr(out, "not found") || strstr(out, "Invalid reservation") || strstr(out, "No reservations")) {
    snprintf(state, len, "absent");
    return SL_AD_OK;
  }
  snprintf(err, errlen, "scontrol show: %.200s", out);
  return unreachable(out) || rc < 0 ? SL_AD_RETRY : SL_AD_TERMINAL;
}

static sl_ad_rc slurm_reserve(const sl_ad_call *c, char *ref, size_t reflen, char *err, size_t errlen) {
  char state[32];
  sl_ad_rc s = slurm_status(c, state, sizeof state, err, errlen);
  if (s != SL_AD_OK) return s;
  char name[64];
  res_name(c, name, sizeof name);
  if (strcmp(state, "reserved") == 0) { /* a retry after a lost reply: already there */
    snprintf(ref, reflen, "%s", name);
    return SL_AD_OK;
  }
  char a_name[96], a_start[64], a_dur[48], a_nodes[48], a_part[96], a_user[96];
  char when[32];
  time_t t = (time_t)c->start;
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(a_name, sizeof a_name, "ReservationName=%s", name);
  snprintf(a_start, sizeof a_start, "StartTime=%s", when);
  snprintf(a_dur, sizeof a_dur, "Duration=%lld", (long long)((c->end - c->start) / 60));
  snprintf(a_nodes, sizeof a_nodes, "NodeCnt=%d", c->nodes);
  snprintf(a_part, sizeof a_part, "PartitionName=%s", cfg_str(c->config, "partition", ""));
  snprintf(a_user, sizeof a_user, "Users=%s", cfg_str(c->config, "user", "root"));
  const char *args[] = {"create", "reservation", a_name, a_start, a_dur, a_nodes, a_part, a_user, NULL};
  char out[2048];
  int rc = run_scontrol(c->config, args, out, sizeof out);
  if (rc == 0 || strstr(out, "Duplicate reservation name")) {
    snprintf(ref, reflen, "%s", name);
    return SL_AD_OK;
  }
  snprintf(err, errlen, "scontrol create: %.200s", out);
  return unreachable(out) || rc < 0 ? SL_AD_RETRY : SL_AD_TERMINAL;
}

static sl_ad_rc slurm_cancel(const sl_ad_call *c, char *err, size_t errlen) {
  char name[64], out[2048];
  res_name(c, name, sizeof name);
  const char *args[] = {"delete", "reservation", name, NULL};
  int rc = run_scontrol(c->config, args, out, sizeof out);
  if (rc == 0 || strstr(out, "Invalid reservation") || strstr(out, "not found")) return SL_AD_OK;
  snprintf(err, errlen, "scontrol delete: %.200s", out);
  return unreachable(out) || rc < 0 ? SL_AD_RETRY : SL_AD_TERMINAL;
}

const sl_adapter_ops sl_adapter_slurm = {"slurm", slurm_reserve, slurm_cancel, slurm_status};
