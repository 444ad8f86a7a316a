/* adapters.c — the adapter registry: one table of kinds, each with its configuration
 * validator.  Later the table gains reserve/cancel/status operations. */
#include <string.h>
#include "suanli/dispatch/adapter.h"

const char *const sl_adapter_kinds[] = {"sim", "slurm", "webhook", NULL};

#define CFG "adapter.config."

/* sim: in-process simulated cluster; fault injection in basis points and milliseconds. */
static bool validate_sim(const json_t *cfg, sl_jerr *err) {
  int64_t fail = 0, drop = 0, delay = 0;
  bool silent = false;
  const sl_jfield f[] = {
      {"fail_rate_bp", SL_JT_INT, false, &fail, NULL, 0, 10000, NULL},
      {"drop_rate_bp", SL_JT_INT, false, &drop, NULL, 0, 10000, NULL},
      {"delay_ms", SL_JT_INT, false, &delay, NULL, 0, 10000, NULL},
      {"silent", SL_JT_BOOL, false, &silent, NULL, 0, 0, NULL},
  };
  return sl_json_decode(cfg, f, sizeof f / sizeof f[0], CFG, err);
}

/* Slurm names passed to scontrol: letters, digits, '_', '-' and '.' only. */
static bool slurm_name_ok(const char *s) {
  for (const char *p = s; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '_' || *p == '-' || *p == '.'))
      return false;
  return true;
}

/* slurm: the partition to reserve nodes in; optional user (default root) and cluster. */
static bool validate_slurm(const json_t *cfg, sl_jerr *err) {
  const char *partition = NULL, *cluster = NULL, *user = NULL;
  const sl_jfield f[] = {
      {"partition", SL_JT_STRING, true, &partition, NULL, 1, 64, NULL},
      {"cluster", SL_JT_STRING, false, &cluster, NULL, 1, 64, NULL},
      {"user", SL_JT_STRING, false, &user, NULL, 1, 64, NULL},
  };
  if (!sl_json_decode(cfg, f, sizeof f / sizeof f[0], CFG, err)) return false;
  const char *names[] = {partition, cluster, user};
  const char *fields[] = {CFG "partition", CFG "cluster", CFG "user"};
  for (int i = 0; i < 3; i++)
    if (names[i] && !slurm_name_ok(names[i]))
      return sl_jerr_set(err, SL_E_INVALID_VALUE, fields[i],
                         "may contain only letters, digits, '_', '-' and '.'");
  return true;
}

/* webhook: an http(s) URL without credentials; reply timeout in milliseconds. */
static bool validate_webhook(const json_t *cfg, sl_jerr *err) {
  const char *url = NULL;
  int64_t timeout = 0;
  const sl_jfield f[] = {
      {"url", SL_JT_STRING, true, &url, NULL, 8, 2048, NULL},
      {"timeout_ms", SL_JT_INT, false, &timeout, NULL, 100, 20000, NULL},
  };
  if (!sl_json_decode(cfg, f, sizeof f / sizeof f[0], CFG, err)) return false;
  const char *rest = NULL;
  if (strncmp(url, "https://", 8) == 0) rest = url + 8;
  else if (strncmp(url, "http://", 7) == 0) rest = url + 7;
  if (!rest || !*rest || *rest == '/' || *rest == ':')
    return sl_jerr_set(err, SL_E_INVALID_VALUE, CFG "url", "must be an http:// or https:// URL with a host");
  const char *end = rest + strcspn(rest, "/?#");
  if (memchr(rest, '@', (size_t)(end - rest)))
    return sl_jerr_set(err, SL_E_INVALID_VALUE, CFG "url", "must not contain credentials");
  for (const char *p = url; *p; p++)
    if (*p == ' ' || *p == '"' || *p == '<' || *p == '>' || *p == '\\')
      return sl_jerr_set(err, SL_E_INVALID_VALUE, CFG "url", "contains a character not allowed in a URL");
  return true;
}

bool sl_adapter_validate(const char *kind, const json_t *config, sl_jerr *err) {
  if (strcmp(kind, "sim") == 0) return validate_sim(config, err);
  if (strcmp(kind, "slurm") == 0) return validate_slurm(config, err);
  if (strcmp(kind, "webhook") == 0) return validate_webhook(config, err);
  return sl_jerr_set(err, SL_E_INVALID_VALUE, "adapter.kind", "must be one of: sim, slurm, webhook");
}
