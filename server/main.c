/* main.c — suanlid: configuration from the environment, start-up, signals.
 *
 *   suanlid serve            migrate, rescore the capacity standard, serve until SIGTERM
 *   suanlid migrate          apply schema migrations and exit
 *   suanlid bootstrap-admin  migrate, ensure the admin account, print a new admin token
 *   suanlid routes           print the route table
 *   suanlid audit            re-read the whole ledger and journal; report every inconsistency
 *   suanlid rotate-key [T]   a new signing key signs from time T (default now)
 *   suanlid clock show       the database's business clock (real, or a test clock)
 *   suanlid clock set T|+D   tests only (SUANLI_CLOCK=test): move the test clock to T or on
 *                            by D, [--frozen | --running] (src/core/README.md, "The clock")
 *   suanlid clock run SPEED  the sandbox (SUANLI_CLOCK=test): run the test clock SPEED times
 *                            as fast as real time until SIGTERM (deploy/quickstart.sh --sandbox)
 *
 * Environment: SUANLI_DATABASE_URL (required but for `routes`), SUANLI_LISTEN
 * (host:port, default 127.0.0.1:8080), SUANLI_THREADS (default 4), SUANLI_LOG_LEVEL
 * (debug|info|warn|error), SUANLI_MAX_BODY (bytes, default 65536), SUANLI_CONN_LIMIT
 * (default 1024), SUANLI_PER_IP_LIMIT (default 512), SUANLI_CONN_TIMEOUT (s, default 30),
 * SUANLI_WORKERS (1 = run the book, maintenance and dispatch workers in this process, the
 * default), SUANLI_DISPATCH_THREADS (default 2), SUANLI_MAINTENANCE_MS (default 2000),
 * SUANLI_WEBHOOK_ALLOW (CIDRs webhooks may reach besides public addresses), SUANLI_KEY_DIR
 * (the signing keys' folder, default ./suanli-keys), SUANLI_LEDGER (off = do not sign; for
 * benchmarks only), SUANLI_CLEARING_INTERVAL_S (seconds between two call auctions of a
 * clearing region, default 60, 1..86400) and SUANLI_CLEARING_TIME_LIMIT_MS (the auction
 * solver's limit per phase, default 2000, 10..600000). */
#include "server/workers.h"
#include "suanli/core/clock.h"
#include "suanli/core/log.h"
#include "suanli/core/timeutil.h"
#include "suanli/db/accelerators.h"
#include "suanli/db/accounts.h"
#include "suanli/db/clock.h"
#include "suanli/db/ledger.h"
#include "suanli/db/migrate.h"
#include "suanli/dispatch/dispatch.h"
#include "suanli/http/http.h"
#include "suanli/ledger/ledger.h"
#include "suanli/settlement/settlement.h"
#include "suanli/trading/trading.h"
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* A rate variable (PER_SECOND:BURST or unlimited) into *out when set; false (said on stderr)
 * when it does not parse. */
static bool env_rate(const char *name, sl_rate *out) {
  const char *v = getenv(name);
  if (!v || !*v || sl_rate_parse(v, out)) return true;
  fprintf(stderr, "suanlid: %s must be PER_SECOND:BURST (e.g. 20:60) or unlimited, not '%s'\n",
          name, v);
  return false;
}

/* The server's settings from the SUANLI_* environment over the defaults (every variable in
 * README.md "Configuration" and src/http/README.md); false when one is malformed.  An integer
 * out of its range ends the process (env_long). */
static bool http_settings(sl_http_config *cfg) {
  cfg->threads = (unsigned)env_long("SUANLI_THREADS", cfg->threads, 1, 256);
  cfg->conn_limit = (unsigned)env_long("SUANLI_CONN_LIMIT", cfg->conn_limit, 1, 65536);
  cfg->per_ip_limit = (unsigned)env_long("SUANLI_PER_IP_LIMIT", cfg->per_ip_limit, 1, 65536);
  cfg->conn_timeout_s = (unsigned)env_long("SUANLI_CONN_TIMEOUT", cfg->conn_timeout_s, 1, 3600);
  cfg->max_body = (size_t)env_long("SUANLI_MAX_BODY", (long)cfg->max_body, 1024, 16 << 20);
  cfg->conn_reserve = (unsigned)env_long("SUANLI_CONN_RESERVE", cfg->conn_reserve, 0, 65536);
  cfg->header_deadline_s =
      (unsigned)env_long("SUANLI_HEADER_DEADLINE", cfg->header_deadline_s, 1, 3600);
  cfg->body_deadline_s = (unsigned)env_long("SUANLI_BODY_DEADLINE", cfg->body_deadline_s, 1, 3600);
  cfg->rate_delay_ms = (unsigned)env_long("SUANLI_RATE_DELAY_MS", cfg->rate_delay_ms, 0, 10000);
  cfg->auth_cache_ms = (unsigned)env_long("SUANLI_AUTH_CACHE_MS", cfg->auth_cache_ms, 0, 60000);
  cfg->list_cache_ms = (unsigned)env_long("SUANLI_LIST_CACHE_MS", cfg->list_cache_ms, 0, 60000);
  cfg->token_default_ttl_h =
      (unsigned)env_long("SUANLI_TOKEN_DEFAULT_TTL_H", cfg->token_default_ttl_h, 0, 24 * 3660);
  const char *tp = getenv("SUANLI_TRUSTED_PROXIES");
  cfg->trusted_proxies = tp && *tp ? tp : NULL;
  const char *region = getenv("SUANLI_REGION");
  cfg->region = region && *region ? region : NULL;
  return env_rate("SUANLI_RATE_ADMIN", &cfg->rates.admin) &&
         env_rate("SUANLI_RATE_OPERATOR", &cfg->rates.operator_) &&
         env_rate("SUANLI_RATE_PROVIDER", &cfg->rates.provider) &&
         env_rate("SUANLI_RATE_TENANT", &cfg->rates.tenant) &&
         env_rate("SUANLI_RATE_ANONYMOUS", &cfg->rates.anonymous) &&
         env_rate("SUANLI_RATE_ADDRESS", &cfg->rates.address);
}

static const char *database_url(void) {
  const char *url = getenv("SUANLI_DATABASE_URL");
  if (!url || !*url) {
    fprintf(stderr,
            "suanlid: set SUANLI_DATABASE_URL (e.g. postgresql://user@127.0.0.1:5432/suanli)\n");
    exit(2);
  }
  return url;
}

/* A start-up step failed: log it, say it on stderr, and return the exit status 1. */
static int start_failed(const char *msg, const char *err) {
  sl_log(SL_LOG_ERROR, msg, json_pack("{s:s}", "error", err));
  fprintf(stderr, "suanlid: %s\n", err);
  return 1;
}

static int migrate(const char *url) {
  char err[512];
  if (!sl_db_migrate(url, err, sizeof err)) return start_failed("migration failed", err);
  return 0;
}

/* A database with a test clock: this process's business time comes from it too. */
static int clock_follow(const char *url) {
  char err[256];
  if (!sl_db_clock_follow(url, err, sizeof err)) return start_failed("clock unavailable", err);
  if (sl_clock_is_injected())
    sl_log(SL_LOG_WARN, "test clock: business time is the database's test clock", NULL);
  return 0;
}

static sl_dbrc rescore_body(sl_dbc *c, void *arg) { return sl_db_capacity_rescore(c); }

static const char *key_dir(void) {
  const char *d = getenv("SUANLI_KEY_DIR");
  return d && *d ? d : "suanli-keys";
}

/* Load the signing keys, sign every transaction's trades and money events, sign webhooks. */
static bool webhook_sign(const uint8_t *body, size_t len, uint8_t sig[64], char key_id[17]) {
  return sl_ledger_sign_blob(body, len, sig, key_id, NULL);
}

static int ledger_start(const char *url) {
  const char *mode = getenv("SUANLI_LEDGER");
  bool enabled = !(mode && strcmp(mode, "off") == 0);
  char err[512];
  if (!sl_ledger_init(url, key_dir(), enabled, err, sizeof err))
    return start_failed("signing keys unavailable", err);
  sl_dispatch_set_signer(webhook_sign);
  return 0;
}

/* Print one finding as a JSON line and count it by check in arg (a JSON object). */
static void print_finding(json_t *f, void *arg) {
  char *s = json_dumps(f, JSON_COMPACT | JSON_SORT_KEYS);
  if (s) printf("%s\n", s);
  free(s);
  const char *check = json_string_value(json_object_get(f, "check"));
  json_t *counts = arg;
  if (check && counts) {
    json_int_t n = json_integer_value(json_object_get(counts, check));
    json_object_set_new(counts, check, json_integer(n + 1));
  }
}

/* suanlid audit: recompute the whole ledger; one JSON line per finding; exit 1 if any. */
static int audit(const char *url) {
  sl_db *db = sl_db_open(url, 1);
  bool down;
  sl_dbc *c = db ? sl_db_acquire(db, 5000, &down) : NULL;
  if (!c) {
    fprintf(stderr, "suanlid: cannot reach the database\n");
    sl_db_close(db);
    return 2;
  }
  int64_t started = sl_time_now();
  json_t *by_check = json_object();
  long n = sl_ledger_audit(c, sl_settlement_period_digest, print_finding, by_check);
  /* The run's result is recorded for operators (GET /v1/ledger/audit, the dashboard). */
  char *counts = n >= 0 && by_check ? json_dumps(by_check, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  if (counts && sl_db_audit_run_record(c, started, n, counts) != SL_DB_OK)
    fprintf(stderr, "suanlid: the audit's result could not be recorded\n");
  free(counts);
  json_decref(by_check);
  sl_db_release(db, c);
  sl_db_close(db);
  if (n < 0) {
    fprintf(stderr, "suanlid: the audit could not read the database\n");
    return 2;
  }
  fprintf(stderr, "audit: %ld finding%s\n", n, n == 1 ? "" : "s");
  return n == 0 ? 0 : 1;
}

/* suanlid rotate-key [RFC 3339 time]: a new key signs from that time (default now). */
static int rotate_key(const char *url, const char *when) {
  int64_t at = 0;
  if (when && !sl_time_parse(when, &at)) {
    fprintf(stderr, "suanlid: rotate-key takes an RFC 3339 time, e.g. 2027-01-01T00:00:00Z\n");
    return 2;
  }
  if (migrate(url) || clock_follow(url)) return 1;
  char key_id[17], err[512];
  if (!sl_ledger_rotate(url, key_dir(), at, key_id, err, sizeof err)) {
    fprintf(stderr, "suanlid: %s\n", err);
    sl_db_clock_unfollow();
    return 1;
  }
  printf("%s\n", key_id);
  sl_ledger_fini();
  sl_db_clock_unfollow();
  return 0;
}

static int bootstrap_admin(const char *url) {
  if (migrate(url) || clock_follow(url)) return 1;
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
  sl_db_clock_unfollow();
  return rc;
}

/* Say on stderr why a clock command failed; returns its exit status (2: SPEC is not a time or
 * a duration PostgreSQL reads; 1 otherwise). */
static int clock_failed(sl_dbc *c, sl_dbrc drc, const char *spec) {
  const char *constraint = c ? sl_db_last_constraint(c) : "";
  if (drc == SL_DB_CHECK && !strcmp(constraint, "clock_forward"))
    fprintf(stderr, "suanlid: the clock only moves forward\n");
  else if (drc == SL_DB_CHECK && !strcmp(constraint, "clock_fresh_database"))
    fprintf(stderr, "suanlid: a server has already run on this database: its clock stays real\n");
  else if (drc == SL_DB_CHECK)
    return fprintf(stderr, "suanlid: %s is not a time or +duration PostgreSQL reads\n", spec), 2;
  else fprintf(stderr, "suanlid: cannot reach the database\n");
  return 1;
}

/* The business hour ("YYYY-MM-DDTHH") of a clock JSON from sl_db_clock_show, into out. */
static void clock_hour(const char *clock_json, char *out, size_t len) {
  json_t *j = json_loads(clock_json, 0, NULL);
  const char *now = json_string_value(json_object_get(j, "now"));
  snprintf(out, len, "%.13s", now ? now : "");
  json_decref(j);
}

/* suanlid clock run SPEED — the sandbox clock (deploy/quickstart.sh --sandbox): until SIGINT
 * or SIGTERM, every quarter of a second, move the test clock (frozen between moves) on by
 * SPEED times the real time elapsed since the last move, so that business time runs SPEED
 * times as fast as real time.  Prints the clock as `clock show` does at the start and at each
 * whole business hour it passes.  0 after a signal; 1 (or 2) when a move is refused or the
 * database is lost, with the reason on stderr. */
static int clock_run(sl_dbc *c, long speed, const char *start_json) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  const struct timespec step = {0, 250 * 1000 * 1000};
  struct timespec last, now;
  clock_gettime(CLOCK_MONOTONIC, &last);
  char hour[16], by[64];
  printf("%s\n", start_json);
  fflush(stdout);
  clock_hour(start_json, hour, sizeof hour);
  int rc = -1;
  while (rc < 0) {
    int sig = sigtimedwait(&set, NULL, &step);
    if (sig == SIGTERM || sig == SIGINT) {
      rc = 0;
      break;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long us =
        ((long long)(now.tv_sec - last.tv_sec) * 1000000 + (now.tv_nsec - last.tv_nsec) / 1000) *
        speed;
    last = now;
    snprintf(by, sizeof by, "%lld microseconds", us);
    char *json = NULL;
    sl_dbrc drc = sl_db_clock_move(c, NULL, by, 1);
    if (drc == SL_DB_OK) drc = sl_db_clock_show(c, &json);
    if (drc != SL_DB_OK) rc = clock_failed(c, drc, by);
    char h[16];
    if (json) clock_hour(json, h, sizeof h);
    if (json && strcmp(h, hour)) {
      printf("%s\n", json);
      fflush(stdout);
      snprintf(hour, sizeof hour, "%s", h);
    }
    free(json);
  }
  return rc;
}

/* suanlid clock show | set TIME|+DURATION [--frozen | --running] | run SPEED.  TIME and
 * DURATION are read by PostgreSQL (timestamptz, interval: "2030-01-31T23:59:59.999999Z",
 * "+3h", "+1 day").  Moving the clock is for tests and the sandbox only: it needs
 * SUANLI_CLOCK=test in the environment, and the database refuses to move it back or to switch
 * a database a server has run on. */
static int clock_cmd(const char *url, int argc, char **argv) {
  const char *sub = argc > 2 ? argv[2] : "show";
  bool set = !strcmp(sub, "set"), run = !strcmp(sub, "run");
  int frozen = -1;
  if (set && argc == 5 && !strcmp(argv[4], "--frozen")) frozen = 1;
  else if (set && argc == 5 && !strcmp(argv[4], "--running")) frozen = 0;
  char *end = NULL;
  long speed = run && argc == 4 ? strtol(argv[3], &end, 10) : 0;
  bool bad = set   ? argc < 4 || argc > 5 || (argc == 5 && frozen < 0)
             : run ? argc != 4 || !end || *end || speed < 1 || speed > 3600
                   : strcmp(sub, "show") || argc > 3;
  if (bad) {
    fprintf(stderr, "usage: suanlid clock show | set TIME|+DURATION [--frozen|--running]"
                    " | run SPEED (1..3600)\n");
    return 2;
  }
  const char *mode = getenv("SUANLI_CLOCK");
  if ((set || run) && !(mode && !strcmp(mode, "test"))) {
    fprintf(stderr, "suanlid: the clock is moved only by tests: set SUANLI_CLOCK=test\n");
    return 2;
  }
  if (migrate(url)) return 1;
  sl_db *db = sl_db_open(url, 1);
  bool down;
  sl_dbc *c = db ? sl_db_acquire(db, 5000, &down) : NULL;
  char *json = NULL;
  int rc = 1;
  sl_dbrc drc = SL_DB_DOWN;
  if (c && set) {
    const char *spec = argv[3];
    bool by = spec[0] == '+';
    drc = sl_db_clock_move(c, by ? NULL : spec, by ? spec + 1 : NULL, frozen);
  }
  if (c && (!set || drc == SL_DB_OK)) drc = sl_db_clock_show(c, &json);
  if (drc == SL_DB_OK && run) {
    rc = clock_run(c, speed, json);
  } else if (drc == SL_DB_OK) {
    printf("%s\n", json);
    rc = 0;
  } else {
    rc = clock_failed(c, drc, argc > 3 ? argv[3] : "");
  }
  free(json);
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
  sl_http_config cfg = sl_http_defaults();
  cfg.host = host;
  cfg.port = (uint16_t)port;
  if (!http_settings(&cfg)) return 2;
  sl_adapter_webhook_configure(getenv("SUANLI_WEBHOOK_ALLOW"), getenv("SUANLI_WEBHOOK_CA"));

  if (migrate(url) || clock_follow(url) || ledger_start(url)) return 1;
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
  /* Optional replica for reads of closed periods (deploy/README.md, "Reads from replicas"). */
  const char *read_url = getenv("SUANLI_DATABASE_READ_URL");
  sl_db *read_db = read_url && *read_url ? sl_db_open(read_url, (int)cfg.threads) : NULL;
  cfg.read_db = read_db;
  /* The in-memory capacity book (issue 11): loaded now, kept current from the change feed. */
  if (!sl_trading_book_start(url))
    sl_log(SL_LOG_WARN, "capacity book not loaded yet: the first quote loads it", NULL);
  sl_http *h = sl_http_start(&cfg, db);
  if (!h) {
    sl_trading_book_stop();
    sl_db_close(read_db);
    sl_db_close(db);
    return 1;
  }
  /* SUANLI_WORKERS=0 runs a pure API process (workers elsewhere). */
  bool run_workers = env_long("SUANLI_WORKERS", 1, 0, 1);
  sl_workers_config wcfg = {.conninfo = url,
                            .maintenance_ms = env_long("SUANLI_MAINTENANCE_MS", 2000, 1, 86400000),
                            .sequencer = sl_ledger_enabled(),
                            /* a client may retry for a day: never less */
                            .idempotency_retention_s =
                                env_long("SUANLI_IDEMPOTENCY_RETENTION_H", 24, 24, 24 * 366) * 3600,
                            .attempts_retention_s =
                                env_long("SUANLI_ATTEMPTS_RETENTION_H", 720, 0, 24 * 3660) * 3600};
  wcfg.clearing = sl_trading_clearing_defaults();
  wcfg.clearing.interval_s = env_long("SUANLI_CLEARING_INTERVAL_S", 60, 1, 86400);
  wcfg.clearing.time_limit_ms = (int)env_long("SUANLI_CLEARING_TIME_LIMIT_MS", 2000, 10, 600000);
  sl_workers *workers = run_workers ? sl_workers_start(&wcfg) : NULL;
  sl_dispatcher *dispatcher =
      run_workers ? sl_dispatcher_start(url, (int)env_long("SUANLI_DISPATCH_THREADS", 2, 1, 8))
                  : NULL;
  sl_log(SL_LOG_INFO, "listening",
         json_pack("{s:s,s:i,s:i,s:i}", "host", host, "port", (int)port, "threads",
                   (int)cfg.threads, "schema_version", sl_db_schema_latest()));
  int sig = 0;
  sigwait(&set, &sig);
  sl_log(SL_LOG_INFO, "draining", json_pack("{s:i}", "signal", sig));
  unsigned left = sl_http_drain_and_stop(h);
  sl_dispatcher_stop(dispatcher);
  sl_workers_stop(workers);
  sl_db_close(read_db);
  sl_trading_book_stop();
  sl_db_close(db);
  sl_auth_cache_clear();
  sl_ledger_fini();
  sl_db_clock_unfollow();
  sl_log(left ? SL_LOG_WARN : SL_LOG_INFO, "stopped", json_pack("{s:i}", "unfinished", (int)left));
  return 0;
}

int main(int argc, char **argv) {
  const char *cmd = argc > 1 ? argv[1] : "serve";
  setenv("TZ", "UTC", 1); /* before any thread: adapters' tools (scontrol) read times in TZ */
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
  if (!strcmp(cmd, "audit")) return audit(database_url());
  if (!strcmp(cmd, "rotate-key")) return rotate_key(database_url(), argc > 2 ? argv[2] : NULL);
  if (!strcmp(cmd, "clock")) return clock_cmd(database_url(), argc, argv);
  fprintf(stderr, "usage: suanlid [serve|migrate|bootstrap-admin|routes|audit|rotate-key [TIME]|"
                  "clock show|set ...|run SPEED]\n");
  return 2;
}
