/* main.c — suanli, the command-line client of a Suanli exchange: option parsing, the command
 * table, help, bash completion, login and whoami.  Commands live in cmd_*.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "cli.h"
#include "verify_common.h"

typedef struct command {
  const char *name;
  int (*fn)(cli *c, int argc, char **argv);
  const char *summary;
} command;

static int cmd_help(cli *c, int argc, char **argv);
static int cmd_completion(cli *c, int argc, char **argv);

static const command commands[] = {
    {"login", cmd_login, "store the server URL and a token (config file, mode 0600)"},
    {"whoami", cmd_whoami, "the account and token in use"},
    {"offers", cmd_offers,
     "search capacity: suanli offers 'model=H100* gpus>=8 price<3' --sort price"},
    {"quote", cmd_quote, "what an order would get, booking nothing"},
    {"buy", cmd_buy, "place an order (exactly once, even when retried)"},
    {"orders", cmd_orders, "your orders"},
    {"trades", cmd_trades, "your trades"},
    {"cancel", cmd_cancel, "cancel a trade before its start (or a resting order: --order)"},
    {"receipt", cmd_receipt, "download a trade's signed receipt; --verify checks it offline"},
    {"balance", cmd_balance, "available, escrow, caps and this month's spend"},
    {"budget", cmd_budget, "show or set the hourly and monthly spending caps"},
    {"access", cmd_access, "open a trade's sealed access details with your private key"},
    {"keygen", cmd_keygen, "make an X25519 key pair for access details and register it"},
    {"seal", cmd_seal, "providers: seal access details to a tenant's public key"},
    {"pools", cmd_pools, "providers: pools add|list|set-price|drain|retire"},
    {"heartbeat", cmd_heartbeat, "providers: report a pool's healthy GPUs and utilisation"},
    {"statement", cmd_statement, "billing: a period's statement (--csv), signed"},
    {"export", cmd_export, "billing: a period's journal export; --verify checks its signature"},
    {"region", cmd_region, "operators: live figures of a region"},
    {"completion", cmd_completion, "print the bash completion script"},
    {"help", cmd_help, "this list"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const char *main_usage =
    "usage: suanli [--json] [--url URL] [--token TOKEN] COMMAND [ARGS]\n"
    "       suanli help | suanli COMMAND --help\n";

int cli_usage_error(const char *usage, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("suanli: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  if (usage) fputs(usage, stderr);
  return EX_USAGE;
}

bool cli_opts(cli *c, int argc, char **argv, const opt *opts, const char **pos, int maxpos,
              int *npos, const char *usage) {
  *npos = 0;
  bool rest = false;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (rest || a[0] != '-' || a[1] == 0 || (a[1] >= '0' && a[1] <= '9')) {
      if (*npos >= maxpos) {
        cli_usage_error(usage, "unexpected argument '%s'", a);
        return false;
      }
      pos[(*npos)++] = a;
      continue;
    }
    if (strcmp(a, "--") == 0) {
      rest = true;
      continue;
    }
    char name[64];
    const char *eq = strchr(a, '=');
    size_t nl = eq ? (size_t)(eq - a) : strlen(a);
    if (nl >= sizeof name) nl = sizeof name - 1;
    memcpy(name, a, nl);
    name[nl] = 0;
    if (strcmp(name, "--json") == 0 && !eq) {
      c->json = true;
      continue;
    }
    if (strcmp(name, "--progress") == 0 && !eq) {
      c->progress = true;
      continue;
    }
    const char *val = NULL;
    bool is_url = strcmp(name, "--url") == 0, is_token = strcmp(name, "--token") == 0;
    const opt *o = NULL;
    for (const opt *p = opts; p && p->name; p++)
      if (strcmp(p->name, name) == 0) o = p;
    if (!o && !is_url && !is_token) {
      cli_usage_error(usage, "unknown option '%s'", name);
      return false;
    }
    if (o && o->flag) {
      if (eq) {
        cli_usage_error(usage, "option %s takes no value", name);
        return false;
      }
      *o->flag = true;
      continue;
    }
    if (eq) val = eq + 1;
    else if (i + 1 < argc) val = argv[++i];
    else {
      cli_usage_error(usage, "option %s needs a value", name);
      return false;
    }
    if (is_url) c->url = val;
    else if (is_token) c->token = val;
    else *o->val = val;
  }
  return true;
}

static int cmd_help(cli *c, int argc, char **argv) {
  (void)c, (void)argc, (void)argv;
  fputs(main_usage, stdout);
  fputs("\ncommands:\n", stdout);
  for (size_t i = 0; i < NCOMMANDS; i++)
    printf("  %-11s %s\n", commands[i].name, commands[i].summary);
  fputs("\nglobal options: --json (the server's JSON), --url URL, --token TOKEN, --progress\n"
        "environment: SUANLI_URL, SUANLI_TOKEN (override the login), SUANLI_CONFIG_DIR\n"
        "  (default ~/.config/suanli), SUANLI_TIMEOUT (seconds)\n"
        "times: 'now', 'now+2h' (rounded up to the next whole hour) or RFC 3339;\n"
        "  durations: '24h', '3d', '1w'; shown in the local time zone (TZ)\n"
        "exit status: 0 ok, 1 verification failed, 2 usage error, 3 refused by the server,\n"
        "  4 server unreachable (or the connection dropped), 5 server error\n",
        stdout);
  return EX_OK;
}

static int cmd_completion(cli *c, int argc, char **argv) {
  (void)c;
  if (argc != 1 || strcmp(argv[0], "bash") != 0)
    return cli_usage_error("usage: suanli completion bash\n", "only bash completion is provided");
  printf("# bash completion for suanli: eval \"$(suanli completion bash)\"\n"
         "_suanli() {\n"
         "  local cur=${COMP_WORDS[COMP_CWORD]} cmd=${COMP_WORDS[1]}\n"
         "  if (( COMP_CWORD == 1 )); then\n"
         "    COMPREPLY=($(compgen -W \"");
  for (size_t i = 0; i < NCOMMANDS; i++) printf("%s%s", i ? " " : "", commands[i].name);
  printf("\" -- \"$cur\")); return\n"
         "  fi\n"
         "  local opts='--json --url --token --help'\n"
         "  case $cmd in\n"
         "    offers) opts+=' --sort --start --for --limit --after' ;;\n"
         "    quote|buy) opts+=' --gpus --for --start --within --max-price --max-ncu-price --from "
         "--max-rtt --model --region --exclude --split --objective --min-memory' ;;\n"
         "    orders) opts+=' --state --limit' ;;\n"
         "    trades) opts+=' --order --limit' ;;\n"
         "    cancel) opts+=' --order' ;;\n"
         "    receipt) opts+=' --verify --dir --file --keys' ;;\n"
         "    budget) opts+=' --hourly --monthly --clear' ;;\n"
         "    access) opts+=' --key' ;;\n"
         "    keygen) opts+=' --key --no-register' ;;\n"
         "    seal) opts+=' --to --in' ;;\n"
         "    pools) opts+=' add list set-price drain retire --name --region --model --gpus "
         "--per-node --intra --inter --gbps --price --from --until --adapter --config' ;;\n"
         "    heartbeat) opts+=' --healthy --util' ;;\n"
         "    statement) opts+=' --period --account --csv --out --verify' ;;\n"
         "    export) opts+=' --period --out --verify' ;;\n"
         "    login) opts+=' --url --token' ;;\n"
         "    completion) opts='bash' ;;\n"
         "  esac\n"
         "  COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
         "}\n"
         "complete -F _suanli suanli\n");
  return EX_OK;
}

/* ------------------------------------------------------------------------ login, whoami */

int cmd_login(cli *c, int argc, char **argv) {
  static const char *usage =
      "usage: suanli login [--url URL] [--token TOKEN]\n"
      "  Checks the token with GET /v1/me, then stores URL and token in the config file\n"
      "  (mode 0600).  Without --token the token is read from standard input.\n";
  const char *pos[1];
  int np;
  bool help = false;
  const opt o[] = {{"--help", NULL, &help}, {NULL, NULL, NULL}};
  c->token = getenv("SUANLI_TOKEN"); /* not the stored login: a new one comes from here */
  if (!cli_opts(c, argc, argv, o, pos, 0, &np, usage)) return EX_USAGE;
  if (help) return fputs(usage, stdout), EX_OK;
  char line[512];
  if (!c->token || !*c->token) {
    if (isatty(0)) fputs("token: ", stderr);
    if (!fgets(line, sizeof line, stdin)) return cli_usage_error(usage, "no token given");
    line[strcspn(line, "\r\n")] = 0;
    c->token = line;
  }
  if (!*c->token) return cli_usage_error(usage, "empty token");
  size_t ul = strlen(c->url);
  static char url[1024];
  snprintf(url, sizeof url, "%.*s", (int)(ul && c->url[ul - 1] == '/' ? ul - 1 : ul), c->url);
  c->url = url;
  json_t *me;
  int rc = cli_get_json(c, "/v1/me", &me);
  if (rc != EX_OK) return rc;
  rc = cli_config_save(c, c->url, c->token);
  if (rc == EX_OK) {
    json_t *a = json_object_get(me, "account");
    printf("logged in to %s as %s (%s, account %lld); saved in %s/config.json\n", c->url,
           jstr(a, "name"), jstr(a, "kind"), jint(a, "id"), c->config_dir);
  }
  json_decref(me);
  return rc;
}

int cmd_whoami(cli *c, int argc, char **argv) {
  static const char *usage = "usage: suanli whoami [--json]\n";
  const char *pos[1];
  int np;
  bool help = false;
  const opt o[] = {{"--help", NULL, &help}, {NULL, NULL, NULL}};
  if (!cli_opts(c, argc, argv, o, pos, 0, &np, usage)) return EX_USAGE;
  if (help) return fputs(usage, stdout), EX_OK;
  if (!cli_need_token(c)) return EX_USAGE;
  json_t *me;
  int rc = cli_get_json(c, "/v1/me", &me);
  if (rc != EX_OK) return rc;
  if (c->json) {
    print_json(me);
  } else {
    json_t *a = json_object_get(me, "account"), *t = json_object_get(me, "token");
    char b1[64], b2[64];
    printf("server   %s\n", c->url);
    printf("account  %lld  %s  (%s)\n", jint(a, "id"), jstr(a, "name"), jstr(a, "kind"));
    json_t *regs = json_object_get(a, "regions");
    if (json_array_size(regs)) {
      printf("regions ");
      size_t i;
      json_t *v;
      json_array_foreach(regs, i, v) printf(" %s", json_string_value(v));
      putchar('\n');
    }
    printf("token    %s  label %s  expires %s\n",
           fmt_val(json_object_get(t, "public_id"), b1, sizeof b1),
           *jstr(t, "label") ? jstr(t, "label") : "-",
           fmt_time(json_object_get(t, "expires_at"), b2, sizeof b2));
  }
  json_decref(me);
  return EX_OK;
}

/* ---------------------------------------------------------------------------------- main */

int main(int argc, char **argv) {
  if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
    fputs("suanli: cannot initialise libsodium or libcurl\n", stderr);
    return EX_USAGE;
  }
  slv_prog = "suanli";
  cli c;
  memset(&c, 0, sizeof c);
  cli_config_load(&c);
  c.progress = isatty(2);
  /* global options before the command */
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (strcmp(argv[i], "--json") == 0) c.json = true;
    else if (strcmp(argv[i], "--progress") == 0) c.progress = true;
    else if ((strcmp(argv[i], "--url") == 0 || strcmp(argv[i], "--token") == 0) && i + 1 < argc) {
      if (argv[i][2] == 'u') c.url = argv[i + 1];
      else c.token = argv[i + 1];
      i++;
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      return cmd_help(&c, 0, NULL);
    } else {
      return cli_usage_error(main_usage, "unknown option '%s'", argv[i]);
    }
  }
  if (i >= argc) return cli_usage_error(main_usage, "no command given (try `suanli help`)");
  /* the command line, for the persisted Idempotency-Keys */
  size_t len = 1;
  for (int k = i; k < argc; k++) len += strlen(argv[k]) + 1;
  c.argv_line = calloc(1, len);
  for (int k = i; k < argc; k++) {
    if (k > i) strcat(c.argv_line, "\x1f");
    strcat(c.argv_line, argv[k]);
  }
  int rc = -1;
  for (size_t k = 0; k < NCOMMANDS; k++)
    if (strcmp(commands[k].name, argv[i]) == 0) rc = commands[k].fn(&c, argc - i - 1, argv + i + 1);
  if (rc < 0) rc = cli_usage_error(main_usage, "unknown command '%s' (try `suanli help`)", argv[i]);
  free(c.argv_line);
  curl_global_cleanup();
  return rc;
}
