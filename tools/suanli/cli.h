/* cli.h — shared by the files of the suanli command-line client (tools/suanli/).
 *
 * The client talks to suanlid over HTTP(S) with libcurl (certificate verification on) and
 * jansson; it keeps a login (server URL and token) in a mode-0600 config file and, for every
 * money-moving request, an Idempotency-Key persisted before the request is sent. */
#ifndef SUANLI_CLI_H
#define SUANLI_CLI_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit statuses (documented in tools/suanli/README.md and `suanli help`). */
enum {
  EX_OK = 0,
  EX_FAILED = 1,      /* a verification failed, or nothing to do */
  EX_USAGE = 2,       /* bad command line, unreadable local file */
  EX_REFUSED = 3,     /* the server refused the request (4xx) */
  EX_UNREACHABLE = 4, /* no answer: connection refused, dropped, timed out, TLS failure */
  EX_SERVER = 5,      /* the server failed (5xx) or answered something unreadable */
};

typedef struct cli {
  const char *url;   /* without a trailing slash */
  const char *token; /* NULL when not logged in */
  bool json;         /* --json: print the server's JSON */
  bool progress;     /* show a progress bar for downloads (stderr is a terminal, or --progress) */
  char config_dir[512];
  char *argv_line; /* the command line, for the persisted Idempotency-Key */
} cli;

/* ---- options (main.c) ---- */
typedef struct opt {
  const char *name; /* "--gpus" */
  const char **val; /* string options: where the value goes (NULL for flags) */
  bool *flag;       /* flags: set to true when given */
} opt;
/* Parse argv[0..argc) against opts (plus the global --json, --url, --token, --progress).
 * Positional arguments are collected into pos (at most maxpos).  On a bad option, a missing
 * value or too many positionals: prints the problem and `usage` to stderr, returns false. */
bool cli_opts(cli *c, int argc, char **argv, const opt *opts, const char **pos, int maxpos,
              int *npos, const char *usage);
int cli_usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- HTTP (net.c) ---- */
typedef struct resp {
  long status;  /* 0: no answer */
  json_t *body; /* parsed JSON body or NULL */
  char *raw;    /* the body bytes (NUL-terminated) */
  size_t len;
  bool replayed;                               /* Idempotent-Replayed: true */
  char sha256[72], key_id[24], signature[136]; /* X-Suanli-* headers of signed exports */
} resp;
void resp_free(resp *r);
/* Send METHOD path (with query) and an optional JSON body; idem_key adds Idempotency-Key.
 * download: write the body to this file instead of memory (then raw is NULL).  Returns EX_OK
 * when an HTTP answer came back (any status; see cli_expect), EX_UNREACHABLE (message
 * printed) when none did. */
int cli_http(cli *c, const char *method, const char *path, json_t *body, const char *idem_key,
             const char *download, resp *out);
/* Check the answer: EX_OK when its status is `want`; otherwise print the server's error
 * (name, field, detail and hint) and return EX_REFUSED (4xx) or EX_SERVER. */
int cli_expect(const cli *c, const resp *r, long want);
/* GET path expecting 200 with a JSON body; on failure returns the exit status. */
int cli_get_json(cli *c, const char *path, json_t **out);
/* A money-moving request sent exactly once: the Idempotency-Key and the body are persisted
 * under the config folder (keyed by the server, token and command line) before sending, and
 * reused when the same command runs again after an unanswered attempt.  The pending entry is
 * removed once the server has answered with a final status.  out as cli_http. */
int cli_send_once(cli *c, const char *method, const char *path, json_t *body, resp *out);
/* Require a login; prints how to log in and returns false when there is none. */
bool cli_need_token(const cli *c);

/* ---- config (net.c) ---- */
/* Load the config file into c (URL and token), then apply SUANLI_URL / SUANLI_TOKEN. */
void cli_config_load(cli *c);
int cli_config_save(const cli *c, const char *url, const char *token);
/* Write text to path atomically (temporary file, fsync, rename) with mode 0600; -1 on error. */
int cli_write_private(const char *path, const char *text);
/* mkdir -p; the last folder with mode 0700.  -1 on error. */
int cli_mkdirs(const char *dir);

/* ---- output (out.c) ---- */
typedef struct table {
  int ncol;
  const char **head;
  const char *align; /* per column: 'l' or 'r' */
  char **cells;      /* rows * ncol, owned */
  int rows, cap;
} table;
void table_init(table *t, int ncol, const char **head, const char *align);
/* Append one row of ncol printf-ed strings (each argument one cell, already formatted). */
void table_row(table *t, ...);
void table_print(table *t);
void table_free(table *t);
/* Times for humans: "2026-12-02 05:00 UTC" in the local time zone ("-" for null). */
const char *fmt_time(json_t *v, char *buf, size_t len);
/* A JSON value as text: strings as they are, integers in decimal, null as "-". */
const char *fmt_val(json_t *v, char *buf, size_t len);
/* Print a JSON document (indented) to stdout. */
void print_json(json_t *j);
/* A JSON string member, "" when missing. */
const char *jstr(json_t *o, const char *key);
long long jint(json_t *o, const char *key);
/* Append "&name=value" (value percent-encoded; '*' kept for wildcards) to the query q. */
void query_add(char *q, size_t len, const char *name, const char *value);
/* A positive decimal id ("12", no sign, no leading zero), else 0. */
long long parse_id(const char *s);

/* ---- commands ---- */
int cmd_login(cli *c, int argc, char **argv);
int cmd_whoami(cli *c, int argc, char **argv);
int cmd_offers(cli *c, int argc, char **argv);
int cmd_quote(cli *c, int argc, char **argv);
int cmd_buy(cli *c, int argc, char **argv);
int cmd_orders(cli *c, int argc, char **argv);
int cmd_trades(cli *c, int argc, char **argv);
int cmd_cancel(cli *c, int argc, char **argv);
int cmd_receipt(cli *c, int argc, char **argv);
int cmd_balance(cli *c, int argc, char **argv);
int cmd_budget(cli *c, int argc, char **argv);
int cmd_pools(cli *c, int argc, char **argv);
int cmd_heartbeat(cli *c, int argc, char **argv);
int cmd_statement(cli *c, int argc, char **argv);
int cmd_export(cli *c, int argc, char **argv);
int cmd_region(cli *c, int argc, char **argv);
int cmd_access(cli *c, int argc, char **argv);
int cmd_keygen(cli *c, int argc, char **argv);
int cmd_seal(cli *c, int argc, char **argv);

/* ---- the offers filter language (filter.c) ---- */
/* Turn one term ("model=H100*", "gpus>=8", "price<3", "region=eu-*", "rtt<50@us-east-1",
 * "ncu>=0.9", "mem>=80", "price_ncu<4") into query parameters appended to q (a URL query
 * being built, "&name=value").  Returns false with a message in why. */
bool filter_term(const char *term, char *q, size_t qlen, char *why, size_t whylen);

#endif
