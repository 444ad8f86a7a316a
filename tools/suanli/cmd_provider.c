/* cmd_provider.c — providers' commands: pools add|list|set-price|drain|activate|retire,
 * heartbeat. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "suanli/core/money.h"
#include "suanli/core/timeutil.h"

static const char *pools_usage =
    "usage: suanli pools list [--region R] [--status S] [--limit N] [--json]\n"
    "       suanli pools add --name N --region R --model M --gpus N --price P [--per-node 8]\n"
    "             [--intra nvlink] [--inter infiniband] [--gbps 400] [--from now] [--until 30d]\n"
    "             [--adapter sim|slurm|webhook|agent] [--config JSON]\n"
    "       suanli pools set-price POOL PRICE | drain POOL | activate POOL | retire POOL\n";

static bool is_count(const char *s) {
  return s && *s && strlen(s) <= 9 && strspn(s, "0123456789") == strlen(s);
}

static void pools_table(json_t *arr) {
  static const char *head[] = {"POOL",    "NAME",   "REGION", "MODEL", "GPUS",
                               "$/GPU-H", "STATUS", "HEALTH", "UNTIL"};
  table t;
  table_init(&t, 9, head, "rlllrrlll");
  size_t i;
  json_t *p;
  json_array_foreach(arr, i, p) {
    char b[3][64];
    snprintf(b[0], 64, "%lld", jint(p, "id"));
    table_row(&t, b[0], jstr(p, "name"), jstr(p, "region"), jstr(p, "accelerator"),
              fmt_val(json_object_get(p, "gpu_count"), b[1], 64), jstr(p, "price_per_gpu_hour"),
              jstr(p, "status"), jstr(json_object_get(p, "health"), "state"),
              fmt_time(json_object_get(p, "available_until"), b[2], 64));
  }
  table_print(&t);
  table_free(&t);
}

/* Send a pool write and print the pool. */
static int pool_write(cli *c, const char *method, const char *path, json_t *body, long want) {
  resp r;
  int rc = cli_http(c, method, path, body, NULL, NULL, &r);
  /* a retire with bookings left is accepted (202): the pool drains until they end */
  if (rc == EX_OK)
    rc = cli_expect(c, &r, !strcmp(method, "DELETE") && r.status == 202 ? 202 : want);
  if (rc == EX_OK && c->json) {
    print_json(r.body);
  } else if (rc == EX_OK) {
    json_t *arr = json_array();
    json_array_append(arr, r.body);
    pools_table(arr);
    json_decref(arr);
  }
  resp_free(&r);
  return rc;
}

/* A time option: now / now+2h / RFC 3339, or (for --until) a duration from now ("30d");
 * always on a whole hour. */
static bool time_opt(const char *s, bool duration_ok, char *out, size_t len) {
  int64_t t, d;
  if (duration_ok && sl_duration_parse(s, &d)) {
    sl_time_format(sl_time_ceil_slot(sl_time_now() + d), out, len);
    return true;
  }
  if (!sl_time_parse_human(s, sl_time_now(), &t, NULL)) return false;
  sl_time_format(sl_time_ceil_slot(t), out, len);
  return true;
}

int cmd_pools(cli *c, int argc, char **argv) {
  if (argc < 1 || !strcmp(argv[0], "--help")) {
    fputs(pools_usage, argc < 1 ? stderr : stdout);
    return argc < 1 ? EX_USAGE : EX_OK;
  }
  const char *sub = argv[0];
  const char *pos[2], *name = NULL, *region = NULL, *model = NULL, *gpus = NULL, *price = NULL,
                      *per = "8", *intra = "nvlink", *inter = "infiniband", *gbps = "400",
                      *from = "now", *until = "30d", *adapter = "sim", *config = NULL,
                      *status = NULL, *limit = "100";
  int np;
  bool help = false;
  const opt o[] = {
      {"--help", NULL, &help},       {"--name", &name, NULL},     {"--region", &region, NULL},
      {"--model", &model, NULL},     {"--gpus", &gpus, NULL},     {"--price", &price, NULL},
      {"--per-node", &per, NULL},    {"--intra", &intra, NULL},   {"--inter", &inter, NULL},
      {"--gbps", &gbps, NULL},       {"--from", &from, NULL},     {"--until", &until, NULL},
      {"--adapter", &adapter, NULL}, {"--config", &config, NULL}, {"--status", &status, NULL},
      {"--limit", &limit, NULL},     {NULL, NULL, NULL}};
  if (!cli_opts(c, argc - 1, argv + 1, o, pos, 2, &np, pools_usage)) return EX_USAGE;
  if (help) return fputs(pools_usage, stdout), EX_OK;
  char path[256];
  if (!strcmp(sub, "list")) {
    if (np) return cli_usage_error(pools_usage, "pools list takes no arguments");
    if (!is_count(limit) || atoi(limit) < 1 || atoi(limit) > 500)
      return cli_usage_error(pools_usage, "--limit must be 1..500");
    if ((region && strspn(region, "abcdefghijklmnopqrstuvwxyz0123456789-_") != strlen(region)) ||
        (status && strspn(status, "abcdefghijklmnopqrstuvwxyz") != strlen(status)))
      return cli_usage_error(pools_usage,
                             "--region and --status take codes such as us-east-1, active");
    if (!cli_need_token(c)) return EX_USAGE;
    snprintf(path, sizeof path, "/v1/pools?limit=%d%s%s%s%s", atoi(limit), region ? "&region=" : "",
             region ? region : "", status ? "&status=" : "", status ? status : "");
    json_t *page;
    int rc = cli_get_json(c, path, &page);
    if (rc != EX_OK) return rc;
    if (c->json) print_json(page);
    else pools_table(json_object_get(page, "items"));
    json_decref(page);
    return EX_OK;
  }
  if (!strcmp(sub, "add")) {
    if (np) return cli_usage_error(pools_usage, "pools add takes options only");
    if (!name || !region || !model || !gpus || !price)
      return cli_usage_error(pools_usage,
                             "pools add needs --name, --region, --model, --gpus and --price");
    if (!is_count(gpus) || !is_count(per) || !is_count(gbps))
      return cli_usage_error(pools_usage, "--gpus, --per-node and --gbps are whole numbers");
    int64_t m;
    char f[32], u[32];
    if (sl_money_parse(price, &m) != SL_MONEY_OK)
      return cli_usage_error(pools_usage, "--price must be an amount like 2.50");
    if (!time_opt(from, false, f, sizeof f) || !time_opt(until, true, u, sizeof u))
      return cli_usage_error(pools_usage,
                             "--from/--until: now, now+2h, an RFC 3339 time (--until also 30d)");
    json_t *cfg = config ? json_loads(config, 0, NULL) : json_object();
    if (!json_is_object(cfg)) {
      json_decref(cfg);
      return cli_usage_error(pools_usage, "--config must be a JSON object");
    }
    json_t *b = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:I, s:s, s:s, s:s, s:{s:s, s:o}}",
                          "name", name, "region", region, "accelerator", model, "gpu_count",
                          (json_int_t)atoll(gpus), "gpus_per_node", (json_int_t)atoll(per),
                          "intra_node", intra, "inter_node", inter, "inter_node_gbps",
                          (json_int_t)atoll(gbps), "price_per_gpu_hour", price, "available_from", f,
                          "available_until", u, "adapter", "kind", adapter, "config", cfg);
    if (!cli_need_token(c)) return json_decref(b), EX_USAGE;
    int rc = pool_write(c, "POST", "/v1/pools", b, 201);
    json_decref(b);
    return rc;
  }
  bool set_price = !strcmp(sub, "set-price"), drain = !strcmp(sub, "drain"),
       activate = !strcmp(sub, "activate"), retire = !strcmp(sub, "retire");
  if (!(set_price || drain || activate || retire))
    return cli_usage_error(pools_usage, "unknown pools command '%s'", sub);
  if (np != (set_price ? 2 : 1) || !parse_id(pos[0]))
    return cli_usage_error(pools_usage, "pools %s takes POOL%s", sub, set_price ? " PRICE" : "");
  int64_t m;
  if (set_price && sl_money_parse(pos[1], &m) != SL_MONEY_OK)
    return cli_usage_error(pools_usage, "PRICE must be an amount like 2.50");
  if (!cli_need_token(c)) return EX_USAGE;
  snprintf(path, sizeof path, "/v1/pools/%lld", parse_id(pos[0]));
  if (retire) return pool_write(c, "DELETE", path, NULL, 200);
  json_t *b = set_price ? json_pack("{s:s}", "price_per_gpu_hour", pos[1])
                        : json_pack("{s:s}", "status", drain ? "draining" : "active");
  int rc = pool_write(c, "PATCH", path, b, 200);
  json_decref(b);
  return rc;
}

int cmd_heartbeat(cli *c, int argc, char **argv) {
  static const char *usage = "usage: suanli heartbeat POOL --healthy N [--util PERCENT]\n";
  const char *pos[1], *healthy = NULL, *util = "0";
  int np;
  bool help = false;
  const opt o[] = {{"--help", NULL, &help},
                   {"--healthy", &healthy, NULL},
                   {"--util", &util, NULL},
                   {NULL, NULL, NULL}};
  if (!cli_opts(c, argc, argv, o, pos, 1, &np, usage)) return EX_USAGE;
  if (help) return fputs(usage, stdout), EX_OK;
  if (np != 1 || !parse_id(pos[0]) || !is_count(healthy))
    return cli_usage_error(usage, "give POOL and --healthy N");
  if (!*util || strlen(util) > 6 || strspn(util, "0123456789.") != strlen(util) || atof(util) > 100)
    return cli_usage_error(usage, "--util is a percentage 0..100");
  int64_t bp = (int64_t)(atof(util) * 100 + 0.5);
  if (!cli_need_token(c)) return EX_USAGE;
  char path[128];
  snprintf(path, sizeof path, "/v1/pools/%lld/heartbeat", parse_id(pos[0]));
  json_t *b = json_pack("{s:I, s:I}", "healthy_gpus", (json_int_t)atoll(healthy), "utilization_bp",
                        (json_int_t)bp);
  resp r;
  int rc = cli_http(c, "POST", path, b, NULL, NULL, &r);
  json_decref(b);
  if (rc == EX_OK) rc = cli_expect(c, &r, 200);
  if (rc == EX_OK && c->json) {
    print_json(r.body);
  } else if (rc == EX_OK) {
    json_t *h = json_object_get(r.body, "health");
    printf("pool %lld: %s, %lld of %lld GPUs healthy\n", jint(r.body, "id"), jstr(h, "state"),
           jint(h, "healthy_gpus"), jint(r.body, "gpu_count"));
  }
  resp_free(&r);
  return rc;
}
