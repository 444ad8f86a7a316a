/* h_metrics.c — GET /metrics in the Prometheus text exposition format (0.0.4).
 *
 * Two sources:
 *  - this process's counters, fed by sl_metrics_observe() from the request-completed
 *    callback: requests per (method, route pattern, status) and a latency histogram per
 *    route, database errors seen by requests; the connection pool's own counters;
 *    process memory and open file descriptors;
 *  - the database (sl_db_stats_metrics): trades, GPU-hours and money per region and model
 *    (an all-time rollup kept by a trigger), resting orders, live reservations per adapter
 *    and state, dispatch outcomes and lag of the last 24 hours per adapter, pools per region
 *    and health, the latest ledger checkpoint's age and size.
 * Labels are bounded: route patterns from the route table (never raw paths), a fixed list
 * of statuses, regions, models, adapters and states — never pool, account or tenant ids.
 * Operators see the region-labelled series of their regions only. */
#include "internal.h"
#include "suanli/core/timeutil.h"
#include "suanli/db/stats.h"
#include "suanli/trading/clearing.h"
#include <dirent.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ROUTES 128 /* route table entries + 1 for "unmatched" */
static const unsigned statuses[] = {200, 201, 204, 304, 400, 401, 403, 404, 405,
                                    409, 413, 415, 422, 429, 500, 502, 503, 0 /* other */};
#define NSTATUS (sizeof statuses / sizeof statuses[0])
static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25,  0.5,    1,     2.5,  5,     10};
#define NBUCKET (sizeof buckets / sizeof buckets[0])

static atomic_ullong req_count[MAX_ROUTES][NSTATUS];
static atomic_ullong req_hist[MAX_ROUTES][NBUCKET]; /* not cumulative: one bucket per request */
static atomic_ullong req_sum_us[MAX_ROUTES];
static atomic_ullong db_errors[3]; /* busy, unavailable, retried */

static size_t status_slot(unsigned s) {
  for (size_t i = 0; i + 1 < NSTATUS; i++)
    if (statuses[i] == s) return i;
  return NSTATUS - 1;
}

void sl_metrics_observe(const sl_req *r) {
  size_t ri = r->route ? (size_t)(r->route - sl_routes) + 1 : 0;
  if (ri >= MAX_ROUTES) return;
  int64_t us = sl_time_now_us() - r->t0_us;
  if (us < 0) us = 0;
  atomic_fetch_add_explicit(&req_count[ri][status_slot(r->status)], 1, memory_order_relaxed);
  size_t b = 0;
  while (b < NBUCKET && (double)us / 1e6 > buckets[b]) b++;
  if (b < NBUCKET) atomic_fetch_add_explicit(&req_hist[ri][b], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&req_sum_us[ri], (unsigned long long)us, memory_order_relaxed);
  if (r->err == SL_E_BUSY) atomic_fetch_add_explicit(&db_errors[0], 1, memory_order_relaxed);
  if (r->err == SL_E_DB_UNAVAILABLE)
    atomic_fetch_add_explicit(&db_errors[1], 1, memory_order_relaxed);
  if (r->db_soft) atomic_fetch_add_explicit(&db_errors[2], 1, memory_order_relaxed);
}

/* A label value as Prometheus wants it: backslash, double quote and newline escaped. */
static void label(FILE *f, const char *v) {
  for (; v && *v; v++) {
    if (*v == '\\' || *v == '"') fputc('\\', f);
    if (*v == '\n') {
      fputs("\\n", f);
      continue;
    }
    fputc(*v, f);
  }
}

static const char *jstr(const json_t *o, const char *k) {
  const char *s = json_string_value(json_object_get(o, k));
  return s ? s : "";
}
static long long jint(const json_t *o, const char *k) {
  return (long long)json_integer_value(json_object_get(o, k));
}

/* The gauge `name` with one sample per element of m.pools: labels region and health, value
 * the element's `key`. */
static void by_region_health(FILE *f, const json_t *m, const char *name, const char *help,
                             const char *key) {
  size_t i;
  const json_t *o;
  fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
  json_array_foreach(json_object_get(m, "pools"), i, o) {
    fprintf(f, "%s{region=\"", name);
    label(f, jstr(o, "region"));
    fprintf(f, "\",health=\"%s\"} %lld\n", jstr(o, "health"), jint(o, key));
  }
}

static void write_requests(FILE *f) {
  fputs("# HELP suanli_http_requests_total HTTP requests by method, route pattern and status.\n"
        "# TYPE suanli_http_requests_total counter\n",
        f);
  for (size_t ri = 0; ri <= sl_routes_count && ri < MAX_ROUTES; ri++) {
    const char *m = ri ? sl_routes[ri - 1].method : "any";
    const char *p = ri ? sl_routes[ri - 1].path : "unmatched";
    for (size_t s = 0; s < NSTATUS; s++) {
      unsigned long long n = atomic_load_explicit(&req_count[ri][s], memory_order_relaxed);
      if (!n) continue;
      char st[16];
      if (statuses[s]) snprintf(st, sizeof st, "%u", statuses[s]);
      else snprintf(st, sizeof st, "other");
      fprintf(f, "suanli_http_requests_total{method=\"%s\",route=\"%s\",status=\"%s\"} %llu\n", m,
              p, st, n);
    }
  }
  fputs("# HELP suanli_http_request_duration_seconds Time from the first byte of a request to the "
        "end of its reply.\n"
        "# TYPE suanli_http_request_duration_seconds histogram\n",
        f);
  for (size_t ri = 0; ri <= sl_routes_count && ri < MAX_ROUTES; ri++) {
    unsigned long long total = 0;
    for (size_t s = 0; s < NSTATUS; s++)
      total += atomic_load_explicit(&req_count[ri][s], memory_order_relaxed);
    if (!total) continue;
    const char *m = ri ? sl_routes[ri - 1].method : "any";
    const char *p = ri ? sl_routes[ri - 1].path : "unmatched";
    unsigned long long cum = 0;
    for (size_t b = 0; b < NBUCKET; b++) {
      cum += atomic_load_explicit(&req_hist[ri][b], memory_order_relaxed);
      fprintf(f,
              "suanli_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"%g\"} "
              "%llu\n",
              m, p, buckets[b], cum);
    }
    fprintf(f,
            "suanli_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"+Inf\"} "
            "%llu\n",
            m, p, total);
    fprintf(f, "suanli_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"} %.6f\n", m, p,
            (double)atomic_load_explicit(&req_sum_us[ri], memory_order_relaxed) / 1e6);
    fprintf(f, "suanli_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"} %llu\n", m,
            p, total);
  }
}

static void write_pool(FILE *f, sl_db *db) {
  sl_db_pool_stats ps;
  sl_db_pool_stats_get(db, &ps);
  fprintf(f,
          "# HELP suanli_db_pool_acquires_total Database connections taken from the pool.\n"
          "# TYPE suanli_db_pool_acquires_total counter\nsuanli_db_pool_acquires_total %llu\n"
          "# HELP suanli_db_pool_waits_total Takes that found no free connection and waited.\n"
          "# TYPE suanli_db_pool_waits_total counter\nsuanli_db_pool_waits_total %llu\n"
          "# HELP suanli_db_pool_timeouts_total Takes that gave up waiting (503 busy).\n"
          "# TYPE suanli_db_pool_timeouts_total counter\nsuanli_db_pool_timeouts_total %llu\n"
          "# HELP suanli_db_connect_failures_total Connections that could not be (re)established.\n"
          "# TYPE suanli_db_connect_failures_total counter\nsuanli_db_connect_failures_total %llu\n"
          "# HELP suanli_db_pool_connections Connections of the pool by use.\n"
          "# TYPE suanli_db_pool_connections gauge\n"
          "suanli_db_pool_connections{state=\"in_use\"} "
          "%d\nsuanli_db_pool_connections{state=\"idle\"} %d\n",
          (unsigned long long)ps.acquires, (unsigned long long)ps.waits,
          (unsigned long long)ps.timeouts, (unsigned long long)ps.connect_failures, ps.in_use,
          ps.size - ps.in_use);
  fprintf(
      f,
      "# HELP suanli_db_request_errors_total Requests answered with a database error, by kind.\n"
      "# TYPE suanli_db_request_errors_total counter\n"
      "suanli_db_request_errors_total{kind=\"busy\"} %llu\n"
      "suanli_db_request_errors_total{kind=\"unavailable\"} %llu\n"
      "suanli_db_request_errors_total{kind=\"serialization\"} %llu\n",
      atomic_load(&db_errors[0]), atomic_load(&db_errors[1]), atomic_load(&db_errors[2]));
}

/* This process's call auction rounds (src/trading/clearing.c). */
static void write_clearing(FILE *f) {
  sl_trading_clearing_stats st;
  sl_trading_clearing_stats_get(&st);
  fprintf(f,
          "# HELP suanli_clearing_rounds_total Call auction rounds this process ran.\n"
          "# TYPE suanli_clearing_rounds_total counter\nsuanli_clearing_rounds_total %lu\n"
          "# HELP suanli_clearing_greedy_total Rounds answered by the greedy fallback (time "
          "limit).\n"
          "# TYPE suanli_clearing_greedy_total counter\nsuanli_clearing_greedy_total %lu\n"
          "# HELP suanli_clearing_orders_total Call orders in this process's rounds, by outcome.\n"
          "# TYPE suanli_clearing_orders_total counter\n"
          "suanli_clearing_orders_total{outcome=\"placed\"} %lu\n"
          "suanli_clearing_orders_total{outcome=\"refused\"} %lu\n"
          "suanli_clearing_orders_total{outcome=\"resting\"} %lu\n",
          st.rounds, st.greedy, st.placed, st.refused, st.orders - st.placed - st.refused);
}

static void money(FILE *f, long long minor) {
  fprintf(f, "%s%lld.%02lld", minor < 0 ? "-" : "", llabs(minor) / 100, llabs(minor) % 100);
}

static void write_market(FILE *f, const json_t *m) {
  static const struct {
    const char *name, *key, *help;
    bool is_money;
  } tr[] = {
      {"suanli_trades_total", "trades", "Trades recorded, by region and accelerator model.", false},
      {"suanli_trade_gpu_hours_total", "gpu_hours", "GPU-hours sold (at trade time).", false},
      {"suanli_trade_value_usd_total", "total_minor", "Money of the trades (USD, at trade time).",
       true},
      {"suanli_trade_fees_usd_total", "fee_minor", "Platform fees of the trades (USD).", true},
  };
  size_t i;
  json_t *o;
  for (size_t k = 0; k < sizeof tr / sizeof tr[0]; k++) {
    fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", tr[k].name, tr[k].help, tr[k].name);
    json_array_foreach(json_object_get(m, "trades"), i, o) {
      fprintf(f, "%s{region=\"", tr[k].name);
      label(f, jstr(o, "region"));
      fputs("\",accelerator=\"", f);
      label(f, jstr(o, "accelerator"));
      fputs("\"} ", f);
      if (tr[k].is_money) money(f, jint(o, tr[k].key));
      else fprintf(f, "%lld", jint(o, tr[k].key));
      fputc('\n', f);
    }
  }
  fprintf(f,
          "# HELP suanli_resting_orders Good-till orders resting on the book.\n"
          "# TYPE suanli_resting_orders gauge\nsuanli_resting_orders %lld\n",
          jint(m, "resting_orders"));
  by_region_health(f, m, "suanli_pools", "Active pools by region and health.", "pools");
  by_region_health(f, m, "suanli_pool_gpus", "GPUs of active pools by region and health.", "gpus");
  fputs("# HELP suanli_reservations Live reservations by adapter and state.\n# TYPE "
        "suanli_reservations gauge\n",
        f);
  json_array_foreach(json_object_get(m, "reservations"), i, o)
      fprintf(f, "suanli_reservations{adapter=\"%s\",state=\"%s\"} %lld\n", jstr(o, "adapter"),
              jstr(o, "state"), jint(o, "count"));
  fputs("# HELP suanli_dispatch_jobs_24h Dispatch jobs that ended in the last 24 hours, by adapter "
        "and outcome.\n"
        "# TYPE suanli_dispatch_jobs_24h gauge\n",
        f);
  json_array_foreach(json_object_get(m, "dispatch"), i, o)
      fprintf(f, "suanli_dispatch_jobs_24h{adapter=\"%s\",outcome=\"%s\"} %lld\n",
              jstr(o, "adapter"), jstr(o, "state"), jint(o, "count"));
  static const char *const le[] = {"0.1", "0.5", "1", "2", "5", "10", "30", "60", "300"};
  fputs("# HELP suanli_dispatch_lag_24h_seconds From a reservation's trade to its pool confirming "
        "it, over the last 24 hours.\n"
        "# TYPE suanli_dispatch_lag_24h_seconds histogram\n",
        f);
  json_array_foreach(json_object_get(m, "dispatch"), i, o) {
    if (strcmp(jstr(o, "state"), "done") != 0) continue;
    json_t *bs = json_object_get(o, "lag_le");
    for (size_t b = 0; b < sizeof le / sizeof le[0]; b++) {
      fprintf(f, "suanli_dispatch_lag_24h_seconds_bucket{adapter=\"%s\",le=\"%s\"} %lld\n",
              jstr(o, "adapter"), le[b], (long long)json_integer_value(json_array_get(bs, b)));
    }
    /* "lagged": reserve jobs that ended done ("count" counts cancel jobs too) */
    json_t *sum = json_object_get(o, "lag_sum_s");
    fprintf(f, "suanli_dispatch_lag_24h_seconds_sum{adapter=\"%s\"} %.3f\n", jstr(o, "adapter"),
            json_number_value(sum));
    fprintf(f, "suanli_dispatch_lag_24h_seconds_bucket{adapter=\"%s\",le=\"+Inf\"} %lld\n",
            jstr(o, "adapter"), jint(o, "lagged"));
    fprintf(f, "suanli_dispatch_lag_24h_seconds_count{adapter=\"%s\"} %lld\n", jstr(o, "adapter"),
            jint(o, "lagged"));
  }
  json_t *ck = json_object_get(m, "checkpoint");
  if (json_is_object(ck)) {
    fprintf(
        f,
        "# HELP suanli_ledger_checkpoint_tree_size Entries covered by the latest signed "
        "checkpoint.\n"
        "# TYPE suanli_ledger_checkpoint_tree_size gauge\nsuanli_ledger_checkpoint_tree_size %lld\n"
        "# HELP suanli_ledger_checkpoint_age_seconds Age of the latest signed checkpoint.\n"
        "# TYPE suanli_ledger_checkpoint_age_seconds gauge\nsuanli_ledger_checkpoint_age_seconds "
        "%.3f\n",
        jint(ck, "tree_size"), json_number_value(json_object_get(ck, "age_s")));
  }
}

static void write_process(FILE *f) {
  long pages = 0, rss = 0;
  FILE *sm = fopen("/proc/self/statm", "r");
  if (sm) {
    if (fscanf(sm, "%ld %ld", &pages, &rss) != 2) rss = 0;
    fclose(sm);
  }
  long fds = 0;
  DIR *d = opendir("/proc/self/fd");
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
      if (e->d_name[0] != '.') fds++;
    closedir(d);
    fds--; /* the directory's own descriptor */
  }
  fprintf(f,
          "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
          "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %lld\n"
          "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
          "# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes %lld\n"
          "# HELP process_open_fds Number of open file descriptors.\n"
          "# TYPE process_open_fds gauge\nprocess_open_fds %ld\n",
          (long long)rss * sysconf(_SC_PAGESIZE), (long long)pages * sysconf(_SC_PAGESIZE), fds);
}

/* GET /metrics (admins; operators: region-labelled series of their regions). */
void h_metrics(sl_req *r) {
  json_t *m = NULL;
  sl_dbrc rc = sl_db_stats_metrics(r->db, sl_role_is(r, "operator") ? r->who.regions : NULL, &m);
  if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
    return;
  }
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) {
    json_decref(m);
    sl_reply_error(r, SL_E_INTERNAL, NULL, "out of memory");
    return;
  }
  write_requests(f);
  write_pool(f, r->dbpool);
  write_clearing(f);
  write_market(f, m);
  write_process(f);
  fclose(f);
  json_decref(m);
  sl_reply_text(r, 200, text);
  r->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
