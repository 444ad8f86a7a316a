/* cmd_billing.c — finance and operators: statement, export (signed; verified offline with
 * the same code as suanli-verify) and the live figures of a region. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "verify_common.h"

static long long id_of(const char *s) {
  if (!s || !*s || strlen(s) > 15 || strspn(s, "0123456789") != strlen(s)) return -1;
  return atoll(s);
}

/* The period: an id, or "latest" (the most recently closed one). */
static int period_id(cli *c, const char *s, long long *out) {
  if (strcmp(s, "latest") != 0) {
    *out = id_of(s);
    return *out > 0 ? EX_OK : EX_USAGE;
  }
  json_t *ps;
  int rc = cli_get_json(c, "/v1/periods", &ps);
  if (rc != EX_OK) return rc;
  *out = 0;
  size_t i;
  json_t *p;
  json_array_foreach(json_object_get(ps, "items"), i, p) if (jint(p, "id") > *out) *out =
      jint(p, "id");
  json_decref(ps);
  if (!*out) {
    fprintf(stderr, "suanli: no period has been closed yet\n");
    return EX_FAILED;
  }
  return EX_OK;
}

/* Download path into file (a progress bar on a terminal), write FILE.sig.json from the
 * signature headers, and with verify check it offline against the exchange's keys. */
static int signed_download(cli *c, const char *path, const char *file, bool verify) {
  resp r;
  int rc = cli_http(c, "GET", path, NULL, NULL, file, &r);
  if (rc != EX_OK) return rc;
  if (r.status != 200) {
    r.body = json_load_file(file, 0, NULL); /* the error body went to the file */
    rc = cli_expect(c, &r, 200);
    remove(file);
    resp_free(&r);
    return rc;
  }
  char sig[700], keys[700];
  snprintf(sig, sizeof sig, "%s.sig.json", file);
  json_t *s = json_pack("{s:s, s:s, s:s}", "key_id", r.key_id, "signature", r.signature, "sha256",
                        r.sha256);
  int ok = json_dump_file(s, sig, JSON_INDENT(2)) == 0;
  json_decref(s);
  resp_free(&r);
  if (!ok) return fprintf(stderr, "suanli: cannot write %s\n", sig), EX_USAGE;
  printf("saved %s (signature in %s)\n", file, sig);
  if (!verify) return EX_OK;
  json_t *kj;
  rc = cli_get_json(c, "/v1/keys", &kj);
  if (rc != EX_OK) return rc;
  snprintf(keys, sizeof keys, "%s.keys.json", file);
  ok = json_dump_file(kj, keys, JSON_INDENT(2)) == 0;
  json_decref(kj);
  if (!ok) return fprintf(stderr, "suanli: cannot write %s\n", keys), EX_USAGE;
  return slv_file(file, sig, keys);
}

int cmd_statement(cli *c, int argc, char **argv) {
  static const char *usage =
      "usage: suanli statement --period ID|latest [--account ID] [--csv] [--out FILE] [--verify]\n"
      "  Saves the signed statement (JSON, or CSV with --csv) and FILE.sig.json; --verify\n"
      "  checks the exchange's signature offline.\n";
  const char *pos[1], *period = NULL, *account = NULL, *out = NULL;
  int np;
  bool help = false, csv = false, verify = false;
  const opt o[] = {
      {"--help", NULL, &help}, {"--period", &period, NULL}, {"--account", &account, NULL},
      {"--out", &out, NULL},   {"--csv", NULL, &csv},       {"--verify", NULL, &verify},
      {NULL, NULL, NULL}};
  if (!cli_opts(c, argc, argv, o, pos, 0, &np, usage)) return EX_USAGE;
  if (help) return fputs(usage, stdout), EX_OK;
  if (!period) return cli_usage_error(usage, "--period is required");
  if (account && id_of(account) < 0) return cli_usage_error(usage, "--account must be an id");
  if (strcmp(period, "latest") != 0 && id_of(period) <= 0)
    return cli_usage_error(usage, "--period must be an id or latest");
  if (!cli_need_token(c)) return EX_USAGE;
  long long pid, acc = account ? id_of(account) : -1;
  int rc = period_id(c, period, &pid);
  if (rc != EX_OK) return rc;
  if (acc < 0) {
    json_t *me;
    rc = cli_get_json(c, "/v1/me", &me);
    if (rc != EX_OK) return rc;
    acc = jint(json_object_get(me, "account"), "id");
    json_decref(me);
  }
  char path[256], file[512];
  snprintf(path, sizeof path, "/v1/periods/%lld/statements/%lld?format=%s", pid, acc,
           csv ? "csv" : "json");
  if (out) snprintf(file, sizeof file, "%s", out);
  else snprintf(file, sizeof file, "statement-%lld-%lld.%s", pid, acc, csv ? "csv" : "json");
  return signed_download(c, path, file, verify);
}

int cmd_export(cli *c, int argc, char **argv) {
  static const char *usage =
      "usage: suanli export --period ID|latest [--out FILE] [--verify]   (admin)\n"
      "  Every account's journal lines of a closed period, as CSV, with its signature.\n";
  const char *pos[1], *period = NULL, *out = NULL;
  int np;
  bool help = false, verify = false;
  const opt o[] = {{"--help", NULL, &help},
                   {"--period", &period, NULL},
                   {"--out", &out, NULL},
                   {"--verify", NULL, &verify},
                   {NULL, NULL, NULL}};
  if (!cli_opts(c, argc, argv, o, pos, 0, &np, usage)) return EX_USAGE;
  if (help) return fputs(usage, stdout), EX_OK;
  if (!period) return cli_usage_error(usage, "--period is required");
  if (strcmp(period, "latest") != 0 && id_of(period) <= 0)
    return cli_usage_error(usage, "--period must be an id or latest");
  if (!cli_need_token(c)) return EX_USAGE;
  long long pid;
  int rc = period_id(c, period, &pid);
  if (rc != EX_OK) return rc;
  char path[256], file[512];
  snprintf(path, sizeof path, "/v1/periods/%lld/export?format=csv", pid);
  if (out) snprintf(file, sizeof file, "%s", out);
  else snprintf(file, sizeof file, "export-%lld.csv", pid);
  return signed_download(c, path, file, verify);
}

/* The live figures of a region, from what the API serves today: the region and its pools
 * (status, health and GPUs from heartbeats, prices, utilisation).  The one function to
 * switch when a region-figures endpoint exists. */
static int region_figures(cli *c, const char *code, json_t **out) {
  char path[256];
  snprintf(path, sizeof path, "/v1/regions/%s", code);
  json_t *reg, *pools;
  int rc = cli_get_json(c, path, &reg);
  if (rc != EX_OK) return rc;
  snprintf(path, sizeof path, "/v1/pools?region=%s&limit=500", code);
  rc = cli_get_json(c, path, &pools);
  if (rc != EX_OK) return json_decref(reg), rc;
  long long n = 0, gpus = 0, healthy = 0, util_w = 0, util_g = 0, minp = -1, maxp = -1;
  json_t *status = json_object(), *health = json_object();
  size_t i;
  json_t *p;
  json_array_foreach(json_object_get(pools, "items"), i, p) {
    json_t *h = json_object_get(p, "health");
    long long g = jint(p, "gpu_count");
    n++;
    gpus += g;
    healthy += jint(h, "healthy_gpus");
    if (json_is_integer(json_object_get(h, "utilization_bp"))) {
      util_w += g * jint(h, "utilization_bp");
      util_g += g;
    }
    long long cents = (long long)(atof(jstr(p, "price_per_gpu_hour")) * 100 + 0.5);
    if (minp < 0 || cents < minp) minp = cents;
    if (cents > maxp) maxp = cents;
    json_object_set_new(status, jstr(p, "status"),
                        json_integer(jint(status, jstr(p, "status")) + 1));
    json_object_set_new(health, jstr(h, "state"), json_integer(jint(health, jstr(h, "state")) + 1));
  }
  char pmin[32] = "-", pmax[32] = "-", util[32] = "-";
  if (minp >= 0) snprintf(pmin, sizeof pmin, "%lld.%02lld", minp / 100, minp % 100);
  if (maxp >= 0) snprintf(pmax, sizeof pmax, "%lld.%02lld", maxp / 100, maxp % 100);
  if (util_g) snprintf(util, sizeof util, "%.1f", (double)util_w / (double)util_g / 100.0);
  *out = json_pack("{s:O, s:I, s:b, s:I, s:I, s:s, s:s, s:s, s:o, s:o}", "region", reg, "pools",
                   (json_int_t)n, "pools_truncated",
                   !json_is_null(json_object_get(pools, "next_after")), "gpus", (json_int_t)gpus,
                   "healthy_gpus", (json_int_t)healthy, "utilization_pct", util,
                   "min_price_per_gpu_hour", pmin, "max_price_per_gpu_hour", pmax,
                   "pools_by_status", status, "pools_by_health", health);
  json_decref(reg);
  json_decref(pools);
  return EX_OK;
}

int cmd_region(cli *c, int argc, char **argv) {
  static const char *usage = "usage: suanli region CODE [--json]\n";
  const char *pos[1];
  int np;
  bool help = false;
  const opt o[] = {{"--help", NULL, &help}, {NULL, NULL, NULL}};
  if (!cli_opts(c, argc, argv, o, pos, 1, &np, usage)) return EX_USAGE;
  if (help) return fputs(usage, stdout), EX_OK;
  if (np != 1 || !*pos[0] || strlen(pos[0]) > 40 ||
      strspn(pos[0], "abcdefghijklmnopqrstuvwxyz0123456789-_") != strlen(pos[0]))
    return cli_usage_error(usage, "give a region CODE such as us-east-1");
  if (!cli_need_token(c)) return EX_USAGE;
  json_t *f;
  int rc = region_figures(c, pos[0], &f);
  if (rc != EX_OK) return rc;
  if (c->json) {
    print_json(f);
  } else {
    json_t *r = json_object_get(f, "region");
    printf("region    %s  %s  (%s)\n", jstr(r, "code"), jstr(r, "name"), jstr(r, "tier"));
    printf("pools     %lld%s\n", jint(f, "pools"),
           json_is_true(json_object_get(f, "pools_truncated")) ? " (the first 500)" : "");
    printf("GPUs      %lld, %lld healthy by heartbeat\n", jint(f, "gpus"), jint(f, "healthy_gpus"));
    printf("utilised  %s %%\n", jstr(f, "utilization_pct"));
    printf("price     %s .. %s USD per GPU-hour\n", jstr(f, "min_price_per_gpu_hour"),
           jstr(f, "max_price_per_gpu_hour"));
    const char *k;
    json_t *v;
    printf("status   ");
    json_object_foreach(json_object_get(f, "pools_by_status"), k, v)
        printf(" %s %lld", k, (long long)json_integer_value(v));
    printf("\nhealth   ");
    json_object_foreach(json_object_get(f, "pools_by_health"), k, v)
        printf(" %s %lld", k, (long long)json_integer_value(v));
    putchar('\n');
  }
  json_decref(f);
  return EX_OK;
}
