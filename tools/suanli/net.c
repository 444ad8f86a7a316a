/* net.c — the client's HTTP layer (libcurl, certificate verification on), its login config
 * and the persisted Idempotency-Keys of money-moving requests.  See cli.h. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "cli.h"

/* ------------------------------------------------------------------------------- config */

/* The config folder: $SUANLI_CONFIG_DIR, else $XDG_CONFIG_HOME/suanli, else ~/.config/suanli. */
static void config_dir(cli *c) {
  const char *d = getenv("SUANLI_CONFIG_DIR"), *x = getenv("XDG_CONFIG_HOME"), *h = getenv("HOME");
  if (d && *d) snprintf(c->config_dir, sizeof c->config_dir, "%s", d);
  else if (x && *x) snprintf(c->config_dir, sizeof c->config_dir, "%s/suanli", x);
  else snprintf(c->config_dir, sizeof c->config_dir, "%s/.config/suanli", h && *h ? h : ".");
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

void cli_config_load(cli *c) {
  config_dir(c);
  char path[600];
  snprintf(path, sizeof path, "%s/config.json", c->config_dir);
  json_t *j = json_load_file(path, 0, NULL);
  static char *url, *token; /* live for the whole run */
  if (j) {
    url = dup_or_null(json_string_value(json_object_get(j, "url")));
    token = dup_or_null(json_string_value(json_object_get(j, "token")));
    json_decref(j);
  }
  const char *eu = getenv("SUANLI_URL"), *et = getenv("SUANLI_TOKEN");
  c->url = eu && *eu ? eu : url ? url : "http://127.0.0.1:8080";
  c->token = et && *et ? et : token;
}

/* mkdir -p with mode 0700 for the last component. */
int cli_mkdirs(const char *dir) {
  char tmp[600];
  snprintf(tmp, sizeof tmp, "%s", dir);
  for (char *p = tmp + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
      *p = '/';
    }
  if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return -1;
  return 0;
}

/* Write text to path atomically (temporary file, fsync, rename) with mode 0600. */
int cli_write_private(const char *path, const char *text) {
  char tmp[700];
  snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return -1;
  size_t n = strlen(text);
  bool ok = fchmod(fd, 0600) == 0 && write(fd, text, n) == (ssize_t)n && fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp, path) != 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

int cli_config_save(const cli *c, const char *url, const char *token) {
  char path[600];
  if (cli_mkdirs(c->config_dir) != 0) {
    fprintf(stderr, "suanli: cannot create %s: %s\n", c->config_dir, strerror(errno));
    return EX_USAGE;
  }
  snprintf(path, sizeof path, "%s/config.json", c->config_dir);
  json_t *j = json_pack("{s:s, s:s}", "url", url, "token", token);
  char *text = json_dumps(j, JSON_INDENT(2));
  json_decref(j);
  int rc = text && cli_write_private(path, text) == 0 ? EX_OK : EX_USAGE;
  if (rc != EX_OK) fprintf(stderr, "suanli: cannot write %s: %s\n", path, strerror(errno));
  free(text);
  return rc;
}

bool cli_need_token(const cli *c) {
  if (c->token && *c->token) return true;
  fprintf(stderr, "suanli: not logged in: run `suanli login --url URL` (or set SUANLI_TOKEN)\n");
  return false;
}

/* --------------------------------------------------------------------------------- HTTP */

typedef struct sink {
  char *buf;
  size_t len, cap;
  FILE *file;
  bool failed;
} sink;

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
  sink *s = ud;
  size_t len = sz * n;
  if (s->file) return fwrite(p, 1, len, s->file);
  if (s->len + len + 1 > s->cap) {
    size_t cap = s->cap ? s->cap : 4096;
    while (cap < s->len + len + 1) cap *= 2;
    char *nb = realloc(s->buf, cap);
    if (!nb) {
      s->failed = true;
      return 0;
    }
    s->buf = nb;
    s->cap = cap;
  }
  memcpy(s->buf + s->len, p, len);
  s->len += len;
  s->buf[s->len] = 0;
  return len;
}

/* Copy the value of header `name` from a raw header line into dst. */
static void header_value(const char *line, size_t len, const char *name, char *dst, size_t dlen) {
  size_t nl = strlen(name);
  if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':') return;
  const char *v = line + nl + 1;
  const char *end = line + len;
  while (v < end && (*v == ' ' || *v == '\t')) v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) end--;
  size_t n = (size_t)(end - v) < dlen - 1 ? (size_t)(end - v) : dlen - 1;
  memcpy(dst, v, n);
  dst[n] = 0;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
  resp *r = ud;
  size_t len = sz * n;
  char replayed[16] = "";
  header_value(p, len, "Idempotent-Replayed", replayed, sizeof replayed);
  if (strcmp(replayed, "true") == 0) r->replayed = true;
  header_value(p, len, "X-Suanli-Sha256", r->sha256, sizeof r->sha256);
  header_value(p, len, "X-Suanli-Key-Id", r->key_id, sizeof r->key_id);
  header_value(p, len, "X-Suanli-Signature", r->signature, sizeof r->signature);
  return len;
}

/* A progress bar on stderr: "[#####     ]  52%  1.2 MB". */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ut,
                       curl_off_t un) {
  (void)ud, (void)ut, (void)un;
  char bar[31];
  int fill = dltotal > 0 ? (int)(30 * dlnow / dltotal) : (int)((dlnow / 65536) % 30);
  for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : ' ';
  bar[30] = 0;
  if (dltotal > 0)
    fprintf(stderr, "\r[%s] %3d%%  %.1f kB", bar, (int)(100 * dlnow / dltotal), dlnow / 1000.0);
  else fprintf(stderr, "\r[%s]  %.1f kB", bar, dlnow / 1000.0);
  return 0;
}

void resp_free(resp *r) {
  json_decref(r->body);
  free(r->raw);
  memset(r, 0, sizeof *r);
}

int cli_http(cli *c, const char *method, const char *path, json_t *body, const char *idem_key,
             const char *download, resp *out) {
  memset(out, 0, sizeof *out);
  int rc = EX_UNREACHABLE;
  char url[4096], hdr[600];
  char *payload = NULL;
  struct curl_slist *h = NULL;
  sink s = {0};
  CURL *cu = curl_easy_init();
  if (!cu) return EX_UNREACHABLE;
  snprintf(url, sizeof url, "%s%s", c->url, path);
  if (download) {
    s.file = fopen(download, "wb");
    if (!s.file) {
      fprintf(stderr, "suanli: cannot write %s: %s\n", download, strerror(errno));
      rc = EX_USAGE;
      goto cleanup;
    }
  }
  curl_easy_setopt(cu, CURLOPT_URL, url);
  curl_easy_setopt(cu, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(cu, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(cu, CURLOPT_SSL_VERIFYHOST, 2L);
  const char *ca = getenv("SUANLI_CA"); /* a CA bundle instead of the system store */
  if (ca && *ca) curl_easy_setopt(cu, CURLOPT_CAINFO, ca);
  char why[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, why);
  curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT, 10L);
  const char *to = getenv("SUANLI_TIMEOUT");
  curl_easy_setopt(cu, CURLOPT_TIMEOUT, to && atol(to) > 0 ? atol(to) : 120L);
  curl_easy_setopt(cu, CURLOPT_USERAGENT, "suanli-cli/1");
  curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(cu, CURLOPT_WRITEDATA, &s);
  curl_easy_setopt(cu, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(cu, CURLOPT_HEADERDATA, out);
  if (download && c->progress) {
    curl_easy_setopt(cu, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(cu, CURLOPT_XFERINFOFUNCTION, on_progress);
  }
  if (c->token) {
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", c->token);
    h = curl_slist_append(h, hdr);
  }
  if (idem_key) {
    snprintf(hdr, sizeof hdr, "Idempotency-Key: %s", idem_key);
    h = curl_slist_append(h, hdr);
  }
  if (body) {
    payload = json_dumps(body, JSON_COMPACT);
    h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(cu, CURLOPT_POSTFIELDS, payload);
  }
  curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);
  CURLcode cc = curl_easy_perform(cu);
  if (download && c->progress) fputc('\n', stderr);
  if (cc != CURLE_OK) {
    fprintf(stderr, "suanli: %s %s: no answer from %s: %s\n", method, path, c->url,
            why[0] ? why : curl_easy_strerror(cc));
    goto cleanup;
  }
  curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &out->status);
  out->raw = s.buf;
  out->len = s.len;
  s.buf = NULL;
  if (out->raw && out->len) out->body = json_loadb(out->raw, out->len, 0, NULL);
  rc = EX_OK;
cleanup:
  if (s.file && fclose(s.file) != 0 && rc == EX_OK) rc = EX_USAGE;
  free(s.buf);
  free(payload);
  curl_slist_free_all(h);
  curl_easy_cleanup(cu);
  return rc;
}

int cli_expect(const cli *c, const resp *r, long want) {
  if (r->status == want) return EX_OK;
  int ex = r->status >= 400 && r->status < 500 ? EX_REFUSED : EX_SERVER;
  if (c->json && r->body) {
    print_json(r->body);
    return ex;
  }
  json_t *b = r->body;
  const char *name = jstr(b, "error"), *field = jstr(b, "field"), *detail = jstr(b, "detail"),
             *hint = jstr(b, "hint");
  if (!*name) {
    fprintf(stderr, "suanli: the server answered HTTP %ld%s\n", r->status,
            r->status == 404 ? " (is the URL that of a Suanli server?)" : "");
    return ex;
  }
  fprintf(stderr, "suanli: %s (HTTP %ld, %s%s%s)%s%s\n",
          ex == EX_REFUSED ? "refused" : "server error", r->status, name, *field ? ", field " : "",
          field, *detail ? ": " : "", detail);
  if (*hint) fprintf(stderr, "  hint: %s\n", hint);
  return ex;
}

int cli_get_json(cli *c, const char *path, json_t **out) {
  resp r;
  int rc = cli_http(c, "GET", path, NULL, NULL, NULL, &r);
  if (rc == EX_OK) rc = cli_expect(c, &r, 200);
  if (rc == EX_OK && !r.body) {
    fprintf(stderr, "suanli: GET %s: the reply is not JSON\n", path);
    rc = EX_SERVER;
  }
  if (rc == EX_OK) {
    *out = r.body;
    r.body = NULL;
  }
  resp_free(&r);
  return rc;
}

/* ---------------------------------------------------------------- exactly-once requests */

/* Pending file of this (server, token, command line): <config>/pending/<blake2b>.json. */
static void pending_path(const cli *c, char *path, size_t len) {
  unsigned char h[16];
  crypto_generichash_state st;
  crypto_generichash_init(&st, NULL, 0, sizeof h);
  const char *parts[] = {c->url, c->token ? c->token : "", c->argv_line ? c->argv_line : ""};
  for (int i = 0; i < 3; i++)
    crypto_generichash_update(&st, (const unsigned char *)parts[i], strlen(parts[i]) + 1);
  crypto_generichash_final(&st, h, sizeof h);
  char hex[33];
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  snprintf(path, len, "%s/pending/%s.json", c->config_dir, hex);
}

int cli_send_once(cli *c, const char *method, const char *path, json_t *body, resp *out) {
  char file[700], dir[600];
  pending_path(c, file, sizeof file);
  snprintf(dir, sizeof dir, "%s/pending", c->config_dir);
  json_t *p = json_load_file(file, 0, NULL);
  const char *key = NULL;
  if (p && json_is_string(json_object_get(p, "key")) &&
      json_is_object(json_object_get(p, "body")) && strcmp(jstr(p, "path"), path) == 0) {
    key = jstr(p, "key");
    body = json_object_get(p, "body");
    fprintf(stderr, "suanli: resuming an unanswered attempt of this command (Idempotency-Key %s)\n",
            key);
  } else {
    json_decref(p);
    unsigned char rnd[16];
    char hex[33], k[40];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
    snprintf(k, sizeof k, "cli-%s", hex);
    p = json_pack("{s:s, s:s, s:s, s:O, s:s}", "key", k, "method", method, "path", path, "body",
                  body ? body : json_null(), "command", c->argv_line ? c->argv_line : "");
    char *text = json_dumps(p, JSON_INDENT(2));
    if (!text || cli_mkdirs(dir) != 0 || cli_write_private(file, text) != 0) {
      fprintf(stderr, "suanli: cannot persist the Idempotency-Key in %s: %s (nothing sent)\n", dir,
              strerror(errno));
      free(text);
      json_decref(p);
      return EX_USAGE;
    }
    free(text);
    key = jstr(p, "key");
  }
  int rc = cli_http(c, method, path, body, key, NULL, out);
  bool in_flight =
      out->status == 409 && strcmp(jstr(out->body, "error"), "idempotency_in_flight") == 0;
  if (rc == EX_OK && out->status < 500 && !in_flight) {
    unlink(file);
  } else if (rc != EX_OK || out->status >= 500 || in_flight) {
    fprintf(stderr,
            "suanli: the outcome is unknown; run the same command again: it resends the same "
            "request with Idempotency-Key %s, so it cannot take effect twice\n",
            key);
  }
  json_decref(p);
  return rc;
}
