/* cmd_tenant.c — the tenant's commands: offers, quote, buy, orders, trades, cancel, receipt,
 * balance, budget.  Each parses its options, calls the API, and prints a table (or, with
 * --json, the server's JSON). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "suanli/core/money.h"
#include "suanli/core/timeutil.h"
#include "verify_common.h"

#define HELP_OPT                                                                                   \
  { "--help", NULL, &help }
#define END_OPT                                                                                    \
  { NULL, NULL, NULL }

static bool is_int(const char *s, long long lo, long long hi, long long *out) {
  if (!s || !*s || strlen(s) > 12 || strspn(s, "0123456789") != strlen(s)) return false;
  long long v = atoll(s);
  if (v < lo || v > hi) return false;
  *out = v;
  return true;
}

/* The account id of the caller (GET /v1/me). */
static int my_account(cli *c, long long *id) {
  json_t *me;
  int rc = cli_get_json(c, "/v1/me", &me);
  if (rc != EX_OK) return rc;
  *id = jint(json_object_get(me, "account"), "id");
  json_decref(me);
  return EX_OK;
}

/* ------------------------------------------------------------------------------- offers */

int cmd_offers(cli *c, int argc, char **argv) {
  static const char *usage =
      "usage: suanli offers [FILTER...] [--sort price|ncu|rtt|free] [--start S] [--for D]\n"
      "                     [--limit N] [--after CURSOR] [--json]\n"
      "  FILTER terms: model=H100* gpus>=8 price<3 price>1 ncu>=0.9 mem>=80 price_ncu<4\n"
      "                region=eu-* rtt<50@us-east-1\n"
      "  gpus counts the GPUs free in every hour of the window [--start, --start + --for)\n"
      "  (default: the next whole hour, for 1h).\n";
  const char *pos[32], *sort = NULL, *start = NULL, *dur = NULL, *limit = NULL, *after = NULL;
  int np;
  bool help = false;
  const opt o[] = {HELP_OPT,
                   {"--sort", &sort, NULL},
                   {"--start", &start, NULL},
                   {"--for", &dur, NULL},
                   {"--limit", &limit, NULL},
                   {"--after", &after, NULL},
                   END_OPT};
  if (!cli_opts(c, argc, argv, o, pos, 32, &np, usage)) return EX_USAGE;
  if (help) return fputs(usage, stdout), EX_OK;
  if (!cli_need_token(c)) return EX_USAGE;
  char q[4096] = "", why[160];
  for (int i = 0; i < np; i++) {
    /* one argument may hold several space-separated terms: 'model=H100* gpus>=8' */
    char buf[512];
    snprintf(buf, sizeof buf, "%s", pos[i]);
    for (char *save = NULL, *t = strtok_r(buf, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
      if (!filter_term(t, q, sizeof q, why, sizeof why))
        return cli_usage_error(usage, "filter '%s': %s", t, why);
  }
  int64_t tmp;
  if (sort) {
    static const char *sorts[][2] = {{"price", "price"},
                                     {"ncu", "price_per_ncu"},
                                     {"price_ncu", "price_per_ncu"},
                                     {"rtt", "rtt"},
                                     {"free", "free"}};
    const char *v = NULL;
    for (size_t i = 0; i < sizeof sorts / sizeof sorts[0]; i++)
      if (strcmp(sort, sorts[i][0]) == 0) v = sorts[i][1];
    if (!v) return cli_usage_error(usage, "--sort must be price, ncu, rtt or free");
    query_add(q, sizeof q, "sort", v);
  }
  if (start) {
    if (!sl_time_parse_human(start, sl_time_now(), &tmp, NULL))
      return cli_usage_error(usage, "--start must be now, now+2h or an RFC 3339 time");
    query_add(q, sizeof q, "start", start);
  }
  if (dur) {
    if (!sl_duration_parse(dur, &tmp) || tmp % 3600)
      return cli_usage_error(usage, "--for must be whole hours, e.g. 24h or 3d");
    query_add(q, sizeof q, "duration", dur);
  }
  long long n;
  if (limit) {
    if (!is_int(limit, 1, 500, &n)) return cli_usage_error(usage, "--limit must be 1..500");
    query_add(q, sizeof q, "limit", limit);
  }
  if (after) query_add(q, sizeof q, "after", after);
  char path[4200];
  snprintf(path, sizeof path, "/v1/offers%s%s", *q ? "?" : "", q);
  json_t *page;
  int rc = cli_get_json(c, path, &page);
  if (rc != EX_OK) return rc;
  if (c->json) {
    print_json(page);
    json_decref(page);
    return EX_OK;
  }
  static const char *head[] = {"POOL",    "REGION",  "MODEL",  "FREE",  "GPUS",
                               "$/GPU-H", "$/NCU-H", "RTT MS", "HEALTH"};
  table t;
  table_init(&t, 9, head, "lllrrrrrl");
  size_t i;
  json_t *it;
  json_array_foreach(json_object_get(page, "items"), i, it) {
    char b[9][64];
    snprintf(b[0], 64, "%lld", jint(it, "pool_id"));
    table_row(&t, b[0], jstr(it, "region"), jstr(it, "accelerator"),
              fmt_val(json_object_get(it, "free_gpus"), b[1], 64),
              fmt_val(json_object_get(it, "gpu_count"), b[2], 64),
              fmt_val(json_object_get(it, "price_per_gpu_hour"), b[3], 64),
              fmt_val(json_object_get(it, "price_per_ncu_hour"), b[4], 64),
              fmt_val(json_object_get(it, "rtt_ms"), b[5], 64), jstr(it, "health"));
  }
  table_print(&t);
  char w0[64], w1[64];
  json_t *w = json_object_get(page, "window");
  printf("found %d offer%s; free GPUs counted from %s to %s", t.rows, t.rows == 1 ? "" : "s",
         fmt_time(json_object_get(w, "start"), w0, sizeof w0),
         fmt_time(json_object_get(w, "end"), w1, sizeof w1));
  json_t *next = json_object_get(page, "next_after");
  if (json_is_string(next) || json_is_integer(next)) {
    char nb[64];
    printf("; more: --after %s", fmt_val(next, nb, sizeof nb));
  }
  putchar('\n');
  table_free(&t);
  json_decref(page);
  return EX_OK;
}

/* ------------------------------------------------------------------------- quote and buy */

static const char *order_usage =
    "usage: suanli quote|buy --gpus N --for DURATION [--start now|now+2h|TIME] [--within "
    "DURATION]\n"
    "       [--max-price 3.10] [--max-ncu-price 4.00] [--from REGION] [--max-rtt 50ms]\n"
    "       [--model H100-SXM,A100-80G] [--region a,b] [--exclude c,d] [--min-memory GB]\n"
    "       [--split] [--objective cheapest|lowest_latency|tradeoff|cheapest_per_ncu] [--json]\n"
    "  --within: the start may move this much later (whole hours).  buy sends an\n"
    "  Idempotency-Key saved before sending: re-running the same command after a failure\n"
    "  cannot buy twice.\n";

static json_t *csv_array(const char *s) {
  json_t *a = json_array();
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", s);
  for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
    json_array_append_new(a, json_string(t));
  return a;
}

/* Build an OrderRequest from the command line; NULL (usage printed) on a bad option. */
static json_t *order_body(cli *c, int argc, char **argv, bool *help) {
  const char *pos[1], *gpus = NULL, *dur = NULL, *start = "now", *within = NULL, *maxp = NULL,
                      *maxncu = NULL, *from = NULL, *rtt = NULL, *model = NULL, *region = NULL,
                      *exclude = NULL, *mem = NULL, *objective = NULL;
  bool split = false;
  int np;
  const opt o[] = {{"--help", NULL, help},
                   {"--gpus", &gpus, NULL},
                   {"--for", &dur, NULL},
                   {"--start", &start, NULL},
                   {"--within", &within, NULL},
                   {"--max-price", &maxp, NULL},
                   {"--max-ncu-price", &maxncu, NULL},
                   {"--from", &from, NULL},
                   {"--max-rtt", &rtt, NULL},
                   {"--model", &model, NULL},
                   {"--region", &region, NULL},
                   {"--exclude", &exclude, NULL},
                   {"--min-memory", &mem, NULL},
                   {"--objective", &objective, NULL},
                   {"--split", NULL, &split},
                   END_OPT};
  if (!cli_opts(c, argc, argv, o, pos, 0, &np, order_usage) || *help) return NULL;
  long long n;
  int64_t sec, t0, m;
  bool rel = false;
  if (!gpus || !is_int(gpus, 1, 100000, &n))
    return cli_usage_error(order_usage, "--gpus N is required (1..100000)"), NULL;
  json_t *b = json_pack("{s:I}", "gpus", (json_int_t)n);
  if (!dur || !sl_duration_parse(dur, &sec) || sec % 3600) {
    cli_usage_error(order_usage, "--for DURATION is required, in whole hours (24h, 3d)");
    goto bad;
  }
  json_object_set_new(b, "duration_hours",
                      strspn(dur, "0123456789") == strlen(dur) ? json_integer(sec / 3600)
                                                               : json_string(dur));
  if (!sl_time_parse_human(start, sl_time_now(), &t0, &rel)) {
    cli_usage_error(order_usage, "--start must be now, now+<duration> or an RFC 3339 time");
    goto bad;
  }
  json_object_set_new(b, "earliest_start", json_string(start));
  if (within) {
    int64_t w;
    if (!sl_duration_parse(within, &w) || w % 3600) {
      cli_usage_error(order_usage, "--within must be whole hours (6h, 2d)");
      goto bad;
    }
    char ls[64];
    if (rel) {
      int64_t off = 0;
      if (start[3] == '+') sl_duration_parse(start + 4, &off);
      snprintf(ls, sizeof ls, "now+%lldm", (long long)((off + w) / 60));
    } else {
      sl_time_format(t0 + w, ls, sizeof ls);
    }
    json_object_set_new(b, "latest_start", json_string(ls));
  }
  if (maxp) {
    if (sl_money_parse(maxp, &m) != SL_MONEY_OK) {
      cli_usage_error(order_usage, "--max-price must be an amount like 3.10");
      goto bad;
    }
    json_object_set_new(b, "max_price_per_gpu_hour", json_string(maxp));
  }
  if (maxncu) {
    if (sl_money_parse(maxncu, &m) != SL_MONEY_OK) {
      cli_usage_error(order_usage, "--max-ncu-price must be an amount like 4.00");
      goto bad;
    }
    json_object_set_new(b, "max_price_per_ncu_hour", json_string(maxncu));
  }
  if (from) json_object_set_new(b, "origin_region", json_string(from));
  if (rtt) {
    char r[32];
    snprintf(r, sizeof r, "%s", rtt);
    size_t l = strlen(r);
    if (l > 2 && strcmp(r + l - 2, "ms") == 0) r[l - 2] = 0;
    if (!*r || strspn(r, "0123456789.") != strlen(r)) {
      cli_usage_error(order_usage, "--max-rtt must be milliseconds, e.g. 50ms");
      goto bad;
    }
    json_object_set_new(b, "max_rtt_ms", json_string(r));
  }
  json_t *spec = json_object();
  if (model) json_object_set_new(spec, "accelerators", csv_array(model));
  if (mem) {
    if (!is_int(mem, 1, 4096, &n)) {
      json_decref(spec);
      cli_usage_error(order_usage, "--min-memory must be GB, 1..4096");
      goto bad;
    }
    json_object_set_new(spec, "min_memory_gb", json_integer(n));
  }
  if (json_object_size(spec)) json_object_set_new(b, "spec", spec);
  else json_decref(spec);
  if (region) json_object_set_new(b, "regions", csv_array(region));
  if (exclude) json_object_set_new(b, "exclude_regions", csv_array(exclude));
  if (split) json_object_set_new(b, "placement", json_string("split"));
  if (objective) json_object_set_new(b, "objective", json_string(objective));
  return b;
bad:
  json_decref(b);
  return NULL;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void placements_table(json_t *arr) {
  static const char *head[] = {"POOL", "REGION",  "MODEL",  "GPUS", "START",
                               "END",  "$/GPU-H", "RTT MS", "TOTAL"};
  table t;
  table_init(&t, 9, head, "lllrllrrr");
  size_t i;
  json_t *p;
  json_array_foreach(arr, i, p) {
    char b[6][64];
    snprintf(b[0], 64, "%lld", jint(p, "pool_id"));
    table_row(&t, b[0], jstr(p, "region"), jstr(p, "accelerator"),
              fmt_val(json_object_get(p, "gpus"), b[1], 64),
              fmt_time(json_object_get(p, "start"), b[2], 64),
              fmt_time(json_object_get(p, "end"), b[3], 64), jstr(p, "unit_price"),
              fmt_val(json_object_get(p, "rtt_ms"), b[4], 64), jstr(p, "total"));
  }
  table_print(&t);
  table_free(&t);
}

int cmd_quote(cli *c, int argc, char **argv) {
  bool help = false;
  json_t *b = order_body(c, argc, argv, &help);
  if (help) return fputs(order_usage, stdout), EX_OK;
  if (!b) return EX_USAGE;
  if (!cli_need_token(c)) return json_decref(b), EX_USAGE;
  resp r;
  int rc = cli_http(c, "POST", "/v1/quotes", b, NULL, NULL, &r);
  json_decref(b);
  if (rc == EX_OK) rc = cli_expect(c, &r, 200);
  if (rc == EX_OK && c->json) print_json(r.body);
  else if (rc == EX_OK) {
    json_t *q = r.body;
    bool filled = json_is_true(json_object_get(q, "filled"));
    char b1[64];
    printf("%s: %lld GPUs, %s available; total %s USD\n", filled ? "can fill" : "cannot fill",
           jint(q, "gpus"), fmt_val(json_object_get(q, "gpus_available"), b1, sizeof b1),
           *jstr(q, "total") ? jstr(q, "total") : "-");
    if (json_array_size(json_object_get(q, "placements")))
      placements_table(json_object_get(q, "placements"));
    /* why not the others: counts per reason — the bounded reply's "reasons"
     * ([{"reason", "pools": count, "examples"}]), or an older reply's per-pool "rejected" */
    json_t *rej = json_object_get(q, "rejected");
    json_t *reasons = json_object_get(q, "reasons");
    char why[512] = "";
    if (json_is_array(reasons)) {
      json_t *counts = json_object();
      size_t i;
      json_t *x;
      json_array_foreach(reasons, i, x)
          json_object_set_new(counts, jstr(x, "reason"), json_integer(jint(x, "pools")));
      rej = counts;
    } else if (json_is_array(rej)) {
      json_t *counts = json_object();
      size_t i;
      json_t *x;
      json_array_foreach(rej, i, x) {
        const char *k = jstr(x, "reason");
        json_object_set_new(counts, k, json_integer(jint(counts, k) + 1));
      }
      rej = counts;
    } else {
      json_incref(rej);
    }
    /* reasons in alphabetical order, so the line reads the same every time */
    const char *keys[32];
    size_t nk = 0;
    const char *k;
    json_t *v;
    json_object_foreach(rej, k, v) if (nk < 32) keys[nk++] = k;
    qsort(keys, nk, sizeof keys[0], cmp_str);
    for (size_t i = 0; i < nk; i++) {
      size_t l = strlen(why);
      v = json_object_get(rej, keys[i]);
      long long cnt = json_is_integer(v) ? (long long)json_integer_value(v) : jint(v, "count");
      snprintf(why + l, sizeof why - l, "%s%s %lld", l ? ", " : "", keys[i], cnt);
    }
    json_decref(rej);
    if (*why) printf("not chosen: %s\n", why);
  }
  resp_free(&r);
  return rc;
}

static void trades_table(json_t *arr);

int cmd_buy(cli *c, int argc, char **argv) {
  bool help = false;
  json_t *b = order_body(c, argc, argv, &help);
  if (help) return fputs(order_usage, stdout), EX_OK;
  if (!b) return EX_USAGE;
  if (!cli_need_token(c)) return json_decref(b), EX_USAGE;
  resp r;
  int rc = cli_send_once(c, "POST", "/v1/orders", b, &r);
  json_decref(b);
  if (rc == EX_OK) rc = cli_expect(c, &r, 201);
  if (rc == EX_OK && c->json) {
    print_json(r.body);
  } else if (rc == EX_OK) {
    json_t *o = r.body;
    printf("order %lld: %s%s\n", jint(o, "id"), jstr(o, "state"),
           r.replayed ? " (a retry: the server replayed the first answer, nothing bought twice)"
                      : "");
    if (json_array_size(json_object_get(o, "trades"))) trades_table(json_object_get(o, "trades"));
    if (*jstr(o, "reason")) printf("reason: %s\n", jstr(o, "reason"));
  }
  if (rc == EX_OK && strcmp(jstr(r.body, "state"), "filled") != 0 &&
      strcmp(jstr(r.body, "state"), "open") != 0)
    rc = EX_REFUSED; /* killed: nothing was bought */
  resp_free(&r);
  return rc;
}

/* ----------------------------------------------------------------------- orders, trades */

int cmd_orders(cli *c, int argc, char **argv) {
  static const char *usage =
      "usage: suanli orders [--state open|filled|killed|cancelled|expired] [--limit N] [--json]\n";
  const char *pos[1], *state = NULL, *limit = "50";
  int np;
  bool help = false;
  const opt o[] = {HELP_OPT, {"--state", &state, NULL}, {"--limit", &limit, NULL}, END_OPT};
  if (!cli_opts(c, argc, argv, o, pos, 0, &np, usage)) return EX_USAGE;
  if (help) return fputs(usage, stdout), EX_OK;
  long long n;
  if (!is_int(limit, 1, 500, &n)) return cli_usage_error(usage, "--limit must be 1..500");
  if (!cli_need_token(c)) return EX_USAGE;
  char q[256] = "";
  query_add(q, sizeof q, "limit", limit);
  if (state) query_add(q, sizeof q, "state", state);
  char path[300];
  snprintf(path, sizeof path, "/v1/orders?%s", q);
  json_t *page;
  int rc = cli_get_json(c, path, &page);
  if (rc != EX_OK) return rc;
  if (c->json) {
    print_json(page);
    json_decref(page);
    return EX_OK;
  }
  static const char *head[] = {"ORDER", "STATE", "GPUS", "HOURS", "START", "TRADES", "CREATED"};
  table t;
  table_init(&t, 7, head, "llrrlrl");
  size_t i;
  json_t *it;
  json_array_foreach(json_object_get(page, "items"), i, it) {
    char b[6][64];
    json_t *req = json_object_get(it, "request");
    snprintf(b[0], 64, "%lld", jint(it, "id"));
    snprintf(b[4], 64, "%zu", json_array_size(json_object_get(it, "trades")));
    table_row(&t, b[0], jstr(it, "state"), fmt_val(json_object_get(req, "gpus"), b[1], 64),
              fmt_val(json_object_get(req, "duration_hours"), b[2], 64),
              fmt_time(json_object_get(req, "earliest_start"), b[3], 64), b[4],
              fmt_time(json_object_get(it, "created_at"), b[5], 64));
  }
  table_print(&t);
  table_free(&t);
  json_decref(page);
  return EX_OK;
}

static void trades_table(json_t *arr) {
  static const char *head[] = {"TRADE", "POOL",    "REGION", "MODEL", "GPUS",       "START",
                               "END",   "$/GPU-H", "TOTAL",  "STATE", "RESERVATION"};
  table t;
  table_init(&t, 11, head, "rrllrllrrll");
  size_t i;
  json_t *it;
  json_array_foreach(arr, i, it) {
    char b[6][64];
    snprintf(b[0], 64, "%lld", jint(it, "id"));
    snprintf(b[1], 64, "%lld", jint(it, "pool_id"));
    table_row(&t, b[0], b[1], jstr(it, "region"), jstr(it, "accelerator"),
              fmt_val(json_object_get(it, "gpus"), b[2], 64),
              fmt_time(json_object_get(it, "start"), b[3], 64),
              fmt_time(json_object_get(it, "end"), b[4], 64), jstr(it, "unit_price"),
              jstr(it, "total"), jstr(it, "state"),
              jstr(json_object_get(it, "reservation"), "state"));
  }
  table_print(&t);
  table_free(&t);
}

int cmd_trades(cli *c, int argc, char **argv) {
  static const char *usage = "usage: suanli trades [TRADE] [--order ORDER] [--limit N] [--json]\n";
  const char *pos[1], *order = NULL, *limit = "50";
  int np;
  bool help = false;
  const opt o[] = {HELP_OPT, {"--order", &order, NULL}, {"--limit", &limit, NULL}, END_OPT};
  if (!cli_opts(c, argc, argv, o, pos, 1, &np, usage)) return EX_USAGE;
  if (help) return fputs(usage, stdout), EX_OK;
  long long n;
  if (!is_int(limit, 1, 500, &n)) return cli_usage_error(usage, "--limit must be 1..500");
  if (order && !parse_id(order)) return cli_usage_error(usage, "--order must be an order id");
  if (np == 1 && !parse_id(pos[0])) return cli_usage_error(usage, "TRADE must be a trade id");
  if (!cli_need_token(c)) return EX_USAGE;
  char path[300];
  if (np == 1) snprintf(path, sizeof path, "/v1/trades/%lld", parse_id(pos[0]));
  else if (order)
    snprintf(path, sizeof path, "/v1/trades?limit=%lld&order=%lld", n, parse_id(order));
  else snprintf(path, sizeof path, "/v1/trades?limit=%lld", n);
  json_t *j;
  int rc = cli_get_json(c, path, &j);
  if (rc != EX_OK) return rc;
  if (c->json) {
    print_json(j);
  } else if (np == 1) {
    json_t *arr = json_array();
    json_array_append(arr, j);
    trades_table(arr);
    json_decref(arr);
    json_t *res = json_object_get(j, "reservation");
    printf("reservation %lld: %s, external ref %s\n", jint(res, "id"), jstr(res, "state"),
           *jstr(res, "external_ref") ? jstr(res, "external_ref") : "-");
  } else {
    trades_table(json_object_get(j, "items"));
  }
  json_decref(j);
  return EX_OK;
}

/* ------------------------------------------------------------------------------- cancel */

int cmd_cancel(cli *c, int argc, char **argv) {
  static const char *usage =
      "usage: suanli cancel TRADE        cancel a trade before its start (refund per policy)\n"
      "       suanli cancel --order ORDER  cancel a resting (open) order\n";
  const char *pos[1], *order = NULL;
  int np;
  bool help = false;
  const opt o[] = {HELP_OPT, {"--order", &order, NULL}, END_OPT};
  if (!cli_opts(c, argc, argv, o, pos, 1, &np, usage)) return EX_USAGE;
  if (help) return fputs(usage, stdout), EX_OK;
  if ((np == 1) == (order != NULL)) return cli_usage_error(usage, "give a TRADE or --order ORDER");
  long long id = parse_id(order ? order : pos[0]);
  if (!id) return cli_usage_error(usage, "'%s' is not an id", order ? order : pos[0]);
  if (!cli_need_token(c)) return EX_USAGE;
  char path[128];
  resp r;
  int rc;
  if (order) {
    snprintf(path, sizeof path, "/v1/orders/%lld", id);
    rc = cli_http(c, "DELETE", path, NULL, NULL, NULL, &r);
  } else {
    snprintf(path, sizeof path, "/v1/trades/%lld/cancel", id);
    json_t *b = json_object();
    rc = cli_send_once(c, "POST", path, b, &r);
    json_decref(b);
  }
  if (rc == EX_OK) rc = cli_expect(c, &r, 200);
  if (rc == EX_OK && c->json) print_json(r.body);
  else if (rc == EX_OK && order) printf("order %lld: %s\n", id, jstr(r.body, "state"));
  else if (rc == EX_OK)
    printf("trade %lld cancelled: refund %s USD, cancellation charge %s USD%s\n", id,
           jstr(r.body, "refund"), jstr(r.body, "cancellation_charge"),
           r.replayed ? " (replayed)" : "");
  resp_free(&r);
  return rc;
}

/* ------------------------------------------------------------------------------ receipt */

/* Write a JSON document to path; false (message printed) on failure. */
static bool save_json(const char *path, json_t *j) {
  if (json_dump_file(j, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
    fprintf(stderr, "suanli: cannot write %s\n", path);
    return false;
  }
  return true;
}

int cmd_receipt(cli *c, int argc, char **argv) {
  static const char *usage =
      "usage: suanli receipt TRADE [--dir DIR] [--verify]\n"
      "       suanli receipt --verify --file RECEIPT.json --keys KEYS.json   (offline)\n"
      "  Saves DIR/receipt-TRADE.json and DIR/keys.json (the exchange's public keys);\n"
      "  --verify checks the signature, the inclusion proof and the signed checkpoint\n"
      "  offline, with the same code as suanli-verify (exit 1 when a check fails).\n";
  const char *pos[1], *dir = ".", *file = NULL, *keys = NULL;
  int np;
  bool help = false, verify = false;
  const opt o[] = {HELP_OPT,
                   {"--dir", &dir, NULL},
                   {"--file", &file, NULL},
                   {"--keys", &keys, NULL},
                   {"--verify", NULL, &verify},
                   END_OPT};
  if (!cli_opts(c, argc, argv, o, pos, 1, &np, usage)) return EX_USAGE;
  if (help) return fputs(usage, stdout), EX_OK;
  if (file || keys) {
    if (np || !file || !keys || !verify)
      return cli_usage_error(usage, "offline verification takes --verify --file F --keys K");
    return slv_receipt(file, keys);
  }
  if (np != 1 || !parse_id(pos[0])) return cli_usage_error(usage, "give a TRADE id");
  if (!cli_need_token(c)) return EX_USAGE;
  long long id = parse_id(pos[0]);
  char path[128], rfile[700], kfile[700];
  snprintf(path, sizeof path, "/v1/trades/%lld/receipt", id);
  json_t *rj, *kj;
  int rc = cli_get_json(c, path, &rj);
  if (rc != EX_OK) return rc;
  rc = cli_get_json(c, "/v1/keys", &kj);
  if (rc != EX_OK) return json_decref(rj), rc;
  mkdir(dir, 0755);
  snprintf(rfile, sizeof rfile, "%s/receipt-%lld.json", dir, id);
  snprintf(kfile, sizeof kfile, "%s/keys.json", dir);
  bool ok = save_json(rfile, rj) && save_json(kfile, kj);
  if (ok && c->json && !verify) print_json(rj);
  json_decref(rj);
  json_decref(kj);
  if (!ok) return EX_USAGE;
  if (!c->json || verify) printf("saved %s and %s\n", rfile, kfile);
  return verify ? slv_receipt(rfile, kfile) : EX_OK;
}

/* ------------------------------------------------------------------------------ balance */

static void print_balances(json_t *b) {
  printf("available        %s %s\n", jstr(b, "available"), jstr(b, "currency"));
  printf("in escrow        %s %s\n", jstr(b, "escrow"), jstr(b, "currency"));
  printf("spent this month %s %s\n", jstr(b, "spent_this_month"), jstr(b, "currency"));
  printf("hourly cap       %s\n", *jstr(b, "hourly_cap") ? jstr(b, "hourly_cap") : "none");
  printf("monthly cap      %s\n", *jstr(b, "monthly_cap") ? jstr(b, "monthly_cap") : "none");
}

int cmd_balance(cli *c, int argc, char **argv) {
  static const char *usage = "usage: suanli balance [ACCOUNT] [--json]\n";
  const char *pos[1];
  int np;
  bool help = false;
  const opt o[] = {HELP_OPT, END_OPT};
  if (!cli_opts(c, argc, argv, o, pos, 1, &np, usage)) return EX_USAGE;
  if (help) return fputs(usage, stdout), EX_OK;
  if (np && !parse_id(pos[0])) return cli_usage_error(usage, "ACCOUNT must be an account id");
  if (!cli_need_token(c)) return EX_USAGE;
  long long id = np ? parse_id(pos[0]) : 0;
  int rc = id ? EX_OK : my_account(c, &id);
  if (rc != EX_OK) return rc;
  char path[128];
  snprintf(path, sizeof path, "/v1/accounts/%lld/balances", id);
  json_t *b;
  rc = cli_get_json(c, path, &b);
  if (rc != EX_OK) return rc;
  if (c->json) print_json(b);
  else print_balances(b);
  json_decref(b);
  return EX_OK;
}

int cmd_budget(cli *c, int argc, char **argv) {
  static const char *usage =
      "usage: suanli budget                          show the caps\n"
      "       suanli budget [--hourly X] [--monthly Y]  set them (a cap not given is removed)\n"
      "       suanli budget --clear                  remove both\n";
  const char *pos[1], *hourly = NULL, *monthly = NULL;
  int np;
  bool help = false, clear = false;
  const opt o[] = {HELP_OPT,
                   {"--hourly", &hourly, NULL},
                   {"--monthly", &monthly, NULL},
                   {"--clear", NULL, &clear},
                   END_OPT};
  if (!cli_opts(c, argc, argv, o, pos, 0, &np, usage)) return EX_USAGE;
  if (help) return fputs(usage, stdout), EX_OK;
  int64_t m;
  if ((hourly && sl_money_parse(hourly, &m) != SL_MONEY_OK) ||
      (monthly && sl_money_parse(monthly, &m) != SL_MONEY_OK))
    return cli_usage_error(usage, "caps are amounts like 250.00");
  if (clear && (hourly || monthly)) return cli_usage_error(usage, "--clear takes no caps");
  if (!cli_need_token(c)) return EX_USAGE;
  long long id;
  int rc = my_account(c, &id);
  if (rc != EX_OK) return rc;
  if (!hourly && !monthly && !clear) return cmd_balance(c, 0, NULL);
  char path[128];
  snprintf(path, sizeof path, "/v1/accounts/%lld/budget", id);
  json_t *body = json_object();
  if (hourly) json_object_set_new(body, "hourly_cap", json_string(hourly));
  if (monthly) json_object_set_new(body, "monthly_cap", json_string(monthly));
  resp r;
  rc = cli_http(c, "PUT", path, body, NULL, NULL, &r);
  json_decref(body);
  if (rc == EX_OK) rc = cli_expect(c, &r, 200);
  if (rc == EX_OK && c->json) print_json(r.body);
  else if (rc == EX_OK) print_balances(r.body);
  resp_free(&r);
  return rc;
}
