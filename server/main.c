/* main.c — suanlid: configuration from the environment, start-up, signals.
 *
 *   suanlid serve            migrate, rescore the capacity standard, serve until SIGTERM
 *   suanlid migrate          apply schema migrations and exit
 *   suanlid bootstrap-admin  migrate, ensure the admin account, print a new admin token
 *   suanlid routes           print the route table
 *
 * Environment: SUANLI_DATABASE_URL (required but for `routes`), SUANLI_LISTEN
 * (host:port, default 127.0.0.1:8080), SUANLI_THREADS (default 4), SUANLI_LOG_LEVEL
 * (debug|info|warn|error), SUANLI_MAX_BODY (bytes, default 65536), SUANLI_CONN_LIMIT
 * (default 1024), SUANLI_PER_IP_LIMIT (default 512), SUANLI_CONN_TIMEOUT (s, default 30),
 * SUANLI_WORKERS (1 = run the book, maintenance and dispatch workers in this process, the
 * default), SUANLI_DISPATCH_THREADS (default 2), SUANLI_MAINTENANCE_MS (default 2000),
 * SUANLI_WEBHOOK_ALLOW (CIDRs webhooks may reach besides public addresses). */
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "suanli/db.h"
#include "suanli/dispatch.h"
#include "suanli/exchange.h"
#include "suanli/http.h"
#include "suanli/log.h"

static long env_long(const char *name, long def, long min, long max) {
  const char *v = getenv(name);
  if (!v || !*v) return def;
  char *end;
  long x = strtol(v, &end, 10);
  if (*end || x < min || x > max) {
    fprintf(stderr, "suanlid: %s must be an integer between %ld and %ld\n", name, min, max);
    exit(2);
  }
  return x;
}

static const char *database_url(void) {
  const char *url = getenv("SUANLI_DATABASE_URL");
  if (!url || !*url) {
    fprintf(stderr, "suanlid: set SUANLI_DATABASE_URL (e.g. postgresql://user@127.0.0.1:5432/suanli)\n");
    exit(2);
  }
  return url;
}

static int migrate(const char *url) {
  char err[512];
  if (!sl_db_migrate(url, err, sizeof err)) {
    sl_log(SL_LOG_ERROR, "migration failed", json_pack("{s:s}", "error", err));
    fprintf(stderr, "suanlid: %s\n", err);
    return 1;
  }
  return 0;
}

static sl_dbrc rescore_body(sl_dbc *c, void *arg) { return sl_db_capacity_rescore(c); }

static int bootstrap_admin(const char *url) {
  if (migrate(url)) return 1;
  sl_db *db = sl_db_open(url, 1);
  bool down;
  int rc = 1;
  sl_dbc *c = db ? sl_db_acquire(db, 5000, &down) : NULL;
  int64_t id;
  char token[SL_TOKEN_LEN + 1];
  json_t *tok = NULL;
  if (!c) {
    fprintf(stderr, "suanlid: cannot reach the database\n");
    goto cleanup;
  }
  if (sl_db_account_ensure_admin(c, "admin", &id) != SL_DB_OK ||
      sl_http_issue_token(c, id, "bootstrap", 0, token, &tok) != SL_DB_OK) {
    fprintf(stderr, "suanlid: could not create the admin token\n");
    goto cleanup;
  }
  printf("%s\n", token);
  rc = 0;
cleanup:
  json_decref(tok);
  if (c) sl_db_release(db, c);
  sl_db_close(db);
  return rc;
}

static int serve(const char *url) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  /* Block before any thread starts so only sigwait() below receives them. */
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  const char *listen = getenv("SUANLI_LISTEN");
  char host[64] = "127.0.0.1";
  long port = 8080;
  if (listen && *listen) {
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof host) {
      fprintf(stderr, "suanlid: SUANLI_LISTEN must be host:port\n");
      return 2;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *end;
    port = strtol(colon + 1, &end, 10);
    if (*end || port < 1 || port > 65535) {
      fprintf(stderr, "suanlid: bad port in SUANLI_LISTEN\n");
      return 2;
    }
  }
  sl_http_config cfg = {
      .host = host,
      .port = (uint16_t)port,
      .threads = (unsigned)env_long("SUANLI_THREADS", 4, 1, 256),
      .conn_limit = (unsigned)env_long("SUANLI_CONN_LIMIT", 1024, 1, 65536),
      .per_ip_limit = (unsigned)env_long("SUANLI_PER_IP_LIMIT", 512, 1, 65536),
      .conn_timeout_s = (unsigned)env_long("SUANLI_CONN_TIMEOUT", 30, 1, 3600),
      .max_body = (size_t)env_long("SUANLI_MAX_BODY", 65536, 1024, 16 << 20),
      .drain_timeout_s = 15,
  };
  if (migrate(url)) return 1;
  sl_db *db = sl_db_open(url, (int)cfg.threads + 2);
  if (!db) return 1;
  bool down;
  sl_dbc *c = sl_db_acquire(db, 5000, &down);
  if (!c || sl_db_txn_run(c, rescore_body, NULL, 4) != SL_DB_OK) {
    sl_log(SL_LOG_ERROR, "could not compute capacity scores", NULL);
    sl_db_release(db, c);
    sl_db_close(db);
    return 1;
  }
  sl_db_release(db, c);
  sl_http *h = sl_http_start(&cfg, db);
  if (!h) {
    sl_db_close(db);
    return 1;
  }
  /* SUANLI_WORKERS=0 runs a pure API process (workers elsewhere). */
  bool run_workers = env_long("SUANLI_WORKERS", 1, 0, 1);
  sl_workers *workers = run_workers ? sl_workers_start(url) : NULL;
  sl_dispatcher *dispatcher =
      run_workers ? sl_dispatcher_start(url, (int)env_long("SUANLI_DISPATCH_THREADS", 2, 1, 8)) : NULL;
  sl_log(SL_LOG_INFO, "listening",
         json_pack("{s:s,s:i,s:i,s:i}", "host", host, "port", (int)port, "threads",
                   (int)cfg.threads, "schema_version", sl_db_schema_latest()));
  int sig = 0;
  sigwait(&set, &sig);
  sl_log(SL_LOG_INFO, "draining", json_pack("{s:i}", "signal", sig));
  unsigned left = sl_http_drain_and_stop(h);
  sl_dispatcher_stop(dispatcher);
  sl_workers_stop(workers);
  sl_db_close(db);
  sl_auth_cache_clear();
  sl_log(left ? SL_LOG_WARN : SL_LOG_INFO, "stopped", json_pack("{s:i}", "unfinished", (int)left));
  return 0;
}

int main(int argc, char **argv) {
  const char *cmd = argc > 1 ? argv[1] : "serve";
  const char *lvl = getenv("SUANLI_LOG_LEVEL");
  if (lvl) {
    if (!strcmp(lvl, "debug")) sl_log_set_level(SL_LOG_DEBUG);
    else if (!strcmp(lvl, "warn")) sl_log_set_level(SL_LOG_WARN);
    else if (!strcmp(lvl, "error")) sl_log_set_level(SL_LOG_ERROR);
  }
  if (!strcmp(cmd, "routes")) {
    sl_http_print_routes(stdout);
    return 0;
  }
  if (sodium_init() < 0) {
    fprintf(stderr, "suanlid: libsodium failed to initialise\n");
    return 1;
  }
  if (!strcmp(cmd, "serve")) return serve(database_url());
  if (!strcmp(cmd, "migrate")) return migrate(database_url());
  if (!strcmp(cmd, "bootstrap-admin")) return bootstrap_admin(database_url());
  fprintf(stderr, "usage: suanlid [serve|migrate|bootstrap-admin|routes]\n");
  return 2;
}
